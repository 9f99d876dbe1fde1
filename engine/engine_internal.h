/* Shared between the engine's dispatch, encapsulation and decapsulation. */
#ifndef ESPNAT_ENGINE_INTERNAL_H
#define ESPNAT_ENGINE_INTERNAL_H

#include <pthread.h>

#include "engine/atomic.h"
#include "engine/batch.h"
#include "engine/engine.h"
#include "engine/ip.h"

struct esp_worker {
	struct esp_engine *engine;
	struct esp_worker *next;
	struct esp_rng rng;
	struct esp_counters counters;
	uint16_t ip_id;		/* identification field of outer IPv4 headers */
	struct esp_sad_cache last_out;
	struct esp_sad_in_cache last_in;
	uint64_t now_ms;
	struct esp_batch *batch;	/* crypto backend of bursts; NULL: OpenSSL */
	/* the last chunk's packets mostly went to SAs other than the one
	 * before (outbound: the cached one): the next is warmed, engine.c */
	bool cold;
	bool cold_in;
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

/* An outbound packet between framing and finishing (the burst path):
 * where its parts are and what the finish needs to know. */
struct esp_encap_plan {
	struct esp_sa *sa;
	struct pkt *p;
	uint8_t *esp;		/* ESP header; R, then plaintext, follow */
	uint8_t *udp;		/* UDP header, when encapsulated */
	uint32_t ct_len;	/* padded plaintext */
	uint32_t plen;		/* what it protects */
	uint32_t total;		/* the packet's final length */
	uint32_t seq;
	uint16_t dport;
	uint8_t family, outer_family, tclass;
	uint32_t ins_proto_off;
};

/* The burst path's encapsulation, in two halves around the backend: the
 * first frames, draws R and takes the sequence number (ESP_VERDICT_ENCAP:
 * ready to seal; otherwise dropped, r->reason set); the second, given
 * the backend's status for it, finishes or drops. Together they do what
 * esp_encap() does, byte for byte, with the same drops. */
enum esp_verdict esp_encap_begin(struct esp_worker *w, struct esp_sa *sa,
				 struct pkt *p, const struct ip_view *v,
				 struct esp_result *r, struct esp_encap_plan *pl);
enum esp_verdict esp_encap_end(struct esp_worker *w, const struct esp_encap_plan *pl,
			       int status, struct esp_result *r);

/* An inbound packet of the burst path, between its checks and its
 * delivery. */
struct esp_decap_plan {
	struct esp_sa *sa;
	struct pkt *p;
	struct ip_view v;	/* the outer packet's */
	uint8_t *esp;
	uint32_t ct_len;
	uint32_t seq;
	bool udp;
	uint8_t mac[ESP_MAX_DIGEST];	/* the ICV computed, to compare */
};

/* The burst path's decapsulation, in three steps around the backend:
 * begin checks what esp_decap() checks before the ICV (ESP_VERDICT_DECAP:
 * go on); after the backend computed pl->mac, accept compares it with the
 * ICV in constant time and only then moves the replay window; after the
 * backend decrypted the accepted ones, end checks the trailer and
 * delivers. The same drops, in the same order, as esp_decap(). */
enum esp_verdict esp_decap_begin(struct esp_worker *w, struct pkt *p,
				 const struct ip_view *v, uint32_t esp_off,
				 uint32_t esp_len, bool udp, struct esp_result *r,
				 struct esp_decap_plan *pl);
enum esp_verdict esp_decap_accept(struct esp_worker *w, struct esp_decap_plan *pl,
				  int status, struct esp_result *r);
enum esp_verdict esp_decap_end(struct esp_worker *w, const struct esp_decap_plan *pl,
			       int status, struct esp_result *r);

/* Records a drop on the worker and, when known, on the SA. */
enum esp_verdict esp_drop(struct esp_worker *w, struct esp_result *r,
			  struct esp_sa *sa, enum esp_drop reason);

#endif
