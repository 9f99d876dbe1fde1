/* The one entry point every packet goes through, whatever brought it
 * (NFQUEUE, TUN, a UDP socket, a pcap file): classify, then keepalive,
 * IKE pass-through, ESP decapsulation or ESP encapsulation. No I/O here. */
#ifndef ESPNAT_ENGINE_H
#define ESPNAT_ENGINE_H

#include <stdint.h>

#include "engine/batch.h"
#include "engine/drop.h"
#include "engine/pkt.h"
#include "engine/rng.h"
#include "engine/sa.h"
#include "engine/sad.h"

struct encap_table;

enum esp_event_type {
	ESP_EVENT_LEARNED,	/* a registration's port_Uenc became known */
	ESP_EVENT_MOVED,	/* an authenticated packet moved it (NAT rebinding) */
	ESP_EVENT_SILENT,	/* a registration was not heard for too long */
	ESP_EVENT_REFUSED,	/* an SA was not added; reason says why */
	ESP_EVENT_EXHAUSTED,	/* an outbound SA sent sequence number 2^32-1 */
	ESP_EVENT_EXPIRED,	/* an SA reached its lifetime and was removed */
	ESP_EVENT_GROUP_ADDED,	/* the first SA of a registration arrived */
	ESP_EVENT_GROUP_REMOVED,	/* the last SA of a registration went */
	ESP_EVENT__COUNT
};

/* Plain values, so that a handler may keep or print them after the SA is
 * gone. Fields that do not apply to a type are zero. */
struct esp_event {
	enum esp_event_type type;
	uint32_t spi;
	uint32_t reqid;
	struct esp_addr src;		/* the SA's, or the group's far end */
	struct esp_addr dst;
	uint16_t old_port;
	uint16_t new_port;
	uint64_t quiet_ms;		/* SILENT: how long nothing was heard */
	const char *reason;		/* REFUSED */
};

/* Called synchronously from the thread that saw the change: a worker (with
 * the SAD read-locked) or the control thread. A handler must be
 * thread-safe and must not add or remove SAs. */
typedef void (*esp_event_fn)(void *arg, const struct esp_event *ev);

const char *esp_event_name(enum esp_event_type type);

/* One line, no newline, key=value after the name, e.g.
 * "learned reqid=1 peer=198.51.100.7 port=40123 spi=0x0000115c". */
int esp_event_format(const struct esp_event *ev, char *buf, size_t len);

struct esp_counters {
	uint64_t packets;	/* everything offered to esp_process */
	uint64_t encap;
	uint64_t decap;
	uint64_t keepalive;
	uint64_t bypass;	/* passed unchanged: IKE, unprotected traffic */
	uint64_t dropped;	/* the sum of drops[] */
	uint64_t drops[ESP_DROP__COUNT];
};

struct esp_engine;
struct esp_worker;

/* The engine owns the SAD. Returns NULL when out of memory. */
struct esp_engine *esp_engine_new(void);

/* Frees the engine, its workers and every SA. */
void esp_engine_free(struct esp_engine *e);

void esp_engine_on_event(struct esp_engine *e, esp_event_fn fn, void *arg);

struct esp_sad *esp_engine_sad(struct esp_engine *e);
struct encap_table *esp_engine_table(struct esp_engine *e);

/* Hands @ev to the event handler, if any (for events raised outside the
 * packet path, such as a liveness sweep). */
void esp_engine_emit(struct esp_engine *e, const struct esp_event *ev);

/* Builds an SA from @p and adds it to the SAD and its registration group.
 * On failure returns a negative errno and sets @why, raises a REFUSED
 * event, and adds nothing. */
int esp_engine_add_sa(struct esp_engine *e, const struct esp_sa_params *p,
		      const char **why);

/* Where an SA resumes after a restart, from durable state (tools/daemon/
 * state.c): sequence numbers up to @seq_out count as used and the SA may
 * send up to @seq_limit (0: ESP_SEQ_MAX); an inbound SA accepts nothing
 * at or below @replay_top again. */
struct esp_sa_resume {
	uint64_t seq_out;
	uint64_t seq_limit;
	uint32_t replay_top;
};

/* esp_engine_add_sa() for an SA that existed before; @rs may be NULL. */
int esp_engine_add_sa_resumed(struct esp_engine *e, const struct esp_sa_params *p,
			      const struct esp_sa_resume *rs, const char **why);

/* Lets the outbound SA (@spi, @dst) send up to @limit (never lowers it);
 * -ENOENT when there is none. */
int esp_engine_set_seq_limit(struct esp_engine *e, uint32_t spi,
			     const struct esp_addr *dst, uint64_t limit);

/* Gives registration @reqid the NAT port it had learned before a restart,
 * as if an authenticated packet had just come from it; -ENOENT when the
 * registration has no inbound UDP-encapsulated SA. */
int esp_engine_restore_port(struct esp_engine *e, uint32_t reqid, uint16_t port);

/* Removes and frees the SA with (@spi, @dst); -ENOENT when there is none. */
int esp_engine_del_sa(struct esp_engine *e, uint32_t spi,
		      const struct esp_addr *dst);

/* Lowers the MSS of TCP SYNs ESP carries, both ways, so that segments
 * still fit @path_mtu once ESP is added; 0 (the default) leaves TCP alone. */
void esp_engine_set_path_mtu(struct esp_engine *e, uint32_t path_mtu);

/* Removes every SA; returns how many. */
size_t esp_engine_flush(struct esp_engine *e);

/* The control side's time (for SA lifetimes), in the milliseconds of the
 * clock the workers are given. */
void esp_engine_set_time(struct esp_engine *e, uint64_t now_ms);

/* Removes the SAs whose lifetime has run out by @now_ms, each with an
 * EXPIRED event; returns how many. */
size_t esp_engine_expire(struct esp_engine *e, uint64_t now_ms);

/* Readers of the SAD and the encapsulation table outside the packet path
 * (listing, statistics) hold this while they look. Adding and removing SAs
 * takes it exclusively; workers take it shared once per burst. */
void esp_engine_read_lock(struct esp_engine *e);
void esp_engine_read_unlock(struct esp_engine *e);

/* Per-thread state: the IV pool and counters. One per packet thread. */
struct esp_worker *esp_worker_new(struct esp_engine *e);

/* The time packets handled next arrived at, in milliseconds of any
 * monotonic clock (a capture's timestamps, or CLOCK_MONOTONIC): the engine
 * never reads a clock itself. It dates the liveness of registrations. */
void esp_worker_set_time(struct esp_worker *w, uint64_t now_ms);

/* The engine-wide counters: the sum over all workers. */
void esp_engine_counters(const struct esp_engine *e, struct esp_counters *out);

/* Where a packet was taken from, when the backend knows: an inbound hook
 * sees only ESP/keepalives/IKE to unprotect, an outbound hook only
 * plaintext to protect. ANY classifies by content alone. */
enum esp_hint {
	ESP_HINT_ANY,
	ESP_HINT_INBOUND,
	ESP_HINT_OUTBOUND,
	ESP_HINT_PROTECT,	/* outbound, taken from a protected port: a
				 * packet no SA protects is dropped
				 * (unprotected), never passed in clear */
};

enum esp_verdict {
	ESP_VERDICT_PASS,	/* deliver unchanged */
	ESP_VERDICT_CONSUME,	/* handled here (NAT keepalive): deliver nothing */
	ESP_VERDICT_DROP,	/* see esp_result.reason */
	ESP_VERDICT_ENCAP,	/* the packet is now ESP / ESP-in-UDP */
	ESP_VERDICT_DECAP,	/* the packet is now the plaintext packet */
};

struct esp_result {
	enum esp_verdict verdict;
	enum esp_drop reason;		/* when dropped */
	const struct esp_sa *sa;	/* the SA used or blamed, if any */
};

/* Processes the IP packet in @p in place. @p needs PKT_HEADROOM in front
 * and PKT_TAILROOM behind its data for encapsulation to fit. */
enum esp_verdict esp_process(struct esp_worker *w, struct pkt *p,
			     enum esp_hint hint, struct esp_result *r);

/* The same for @n packets, taking the SAD lock once: what backends that
 * receive in batches call. @r gets one result per packet. Outbound
 * packets are framed first and sealed together by the worker's crypto
 * backend (engine/batch.h); with ESP_HINT_INBOUND the ICVs are computed
 * together, each verified, and the accepted packets decrypted together.
 * Verdicts, drops, counters, events and delivered bytes are those
 * esp_process() gives one packet after another. */
void esp_process_burst(struct esp_worker *w, struct pkt *const *pkts,
		       unsigned n, enum esp_hint hint, struct esp_result *r);

/* The crypto backend this worker's bursts use (OpenSSL until set). On
 * failure (-ENOTSUP: not built in, -ENODEV: not for this CPU, -ENOMEM)
 * @why says why and the worker keeps its backend. */
int esp_worker_set_backend(struct esp_worker *w, enum esp_backend b,
			   const char **why);
enum esp_backend esp_worker_backend(const struct esp_worker *w);

#endif
