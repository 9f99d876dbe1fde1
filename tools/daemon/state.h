/* espnatd's durable state: every SA with what it needs to resume after a
 * restart or a crash (its sequence-number reservation, its inbound replay
 * mark, its remaining lifetime) and every registration's learned NAT port,
 * in an SQLite database (WAL, synchronous commits), mode 0600.
 *
 * Outbound sequence numbers are reserved in blocks and made durable before
 * they are used: the engine refuses to pass the reservation (drop reason
 * `unreserved`), and a restart resumes above it, so no number is ever sent
 * twice. Inbound marks are saved every second: after a crash, packets at
 * or below the saved mark are refused. */
#ifndef ESPNAT_DAEMON_STATE_H
#define ESPNAT_DAEMON_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"
#include "engine/sa.h"

/* Sequence numbers reserved at a time (the default); a new block is
 * reserved when half of one is left. A restart skips what was left of the
 * block: 2^20 lets an SA restart 4000 times, and lasts half a second at
 * a million packets a second on one SA, twice the time between saves. */
#define STATE_SEQ_BLOCK (1u << 20)

enum state_origin { STATE_FROM_CONTROL, STATE_FROM_CONFIG };

struct state;

/* Opens or creates the database at @path, reserving sequence numbers
 * @block at a time (0: STATE_SEQ_BLOCK). NULL with a reason in @err. */
struct state *state_open(const char *path, uint32_t block, char *err, size_t errlen);
void state_close(struct state *st);

struct state_restored {
	size_t sas, expired, refused, ports;
};

/* Puts back what the database holds into @e: each SA resumes one block
 * above its last reservation (made durable first), inbound SAs refuse
 * what they had seen, registrations get their NAT ports. Expired SAs are
 * dropped. @now_ms is the engine's clock. Returns 0, or -1 with @err. */
int state_restore(struct state *st, struct esp_engine *e, uint64_t now_ms,
		  struct state_restored *out, char *err, size_t errlen);

/* Adds @n SAs to @e, each first made durable with its first reservation:
 * all or none. @why gets the engine's reason when it refused one (and
 * *@failed its index). Returns 0 or a negative errno. */
int state_add_sas(struct state *st, struct esp_engine *e, const struct esp_sa_params *ps,
		  size_t n, enum state_origin origin, size_t *failed, const char **why);

/* Removes the SA from @e and from the database. -ENOENT when @e has none. */
int state_del_sa(struct state *st, struct esp_engine *e, uint32_t spi,
		 const struct esp_addr *dst);

/* Forgets every SA and port. */
void state_clear(struct state *st);

/* A registration learned or moved its port, or went away (port 0). */
void state_port(struct state *st, uint32_t reqid, uint16_t port);

/* The periodic work: reserves the next block for outbound SAs that used
 * half of theirs, saves inbound marks that moved, forgets SAs that
 * expired. Cheap when nothing changed. Returns 0, or -1 with @err (the
 * engine keeps refusing to pass an unsaved reservation). */
int state_sync(struct state *st, struct esp_engine *e, char *err, size_t errlen);

/* The SAs of @origin in the database that are not in @e any more (the
 * config file lost them while the daemon was down): removed from both. */
size_t state_prune(struct state *st, struct esp_engine *e, enum state_origin origin,
		   bool (*keep)(void *arg, uint32_t spi, const struct esp_addr *dst),
		   void *arg);

#endif
