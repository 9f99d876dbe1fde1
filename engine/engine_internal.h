/* Shared between the engine's dispatch, encapsulation and decapsulation. */
#ifndef ESPNAT_ENGINE_INTERNAL_H
#define ESPNAT_ENGINE_INTERNAL_H

#include <pthread.h>

#include "engine/atomic.h"
#include "engine/engine.h"
#include "engine/ip.h"

struct esp_worker {
	struct esp_engine *engine;
	struct esp_worker *next;
	struct esp_rng rng;
	struct esp_counters counters;
	uint16_t ip_id;		/* identification field of outer IPv4 headers */
	struct esp_sad_cache last_out;
	uint64_t now_ms;
};

struct esp_engine {
	pthread_rwlock_t lock;		/* SAD and table membership */
	struct esp_sad *sad;
	struct encap_table *table;
	uint64_t now_ms;		/* control side's time */
	uint32_t path_mtu;		/* MSS clamping; 0 = off */
	struct esp_worker *workers;
	esp_event_fn on_event;
	void *event_arg;
};

/* An event about @sa (its SPI, addresses and reqid filled in). */
void esp_emit_sa(struct esp_engine *e, enum esp_event_type type,
		 const struct esp_sa *sa);

/* Both return the verdict; on a drop they have set r->reason. */
enum esp_verdict esp_encap(struct esp_worker *w, struct esp_sa *sa,
			   struct pkt *p, const struct ip_view *v,
			   struct esp_result *r);
enum esp_verdict esp_decap(struct esp_worker *w, struct pkt *p,
			   const struct ip_view *v, uint32_t esp_off,
			   uint32_t esp_len, bool udp, struct esp_result *r);

/* Records a drop on the worker and, when known, on the SA. */
enum esp_verdict esp_drop(struct esp_worker *w, struct esp_result *r,
			  struct esp_sa *sa, enum esp_drop reason);

#endif
