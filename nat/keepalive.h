/* NAT keepalives, UE role (RFC 3948 2.3, TR 33.803 B.3.6): per
 * registration with UDP encapsulation, one 0xFF byte from 4500 to the
 * P-CSCF's 4500 every interval, jittered so that many UEs behind one NAT
 * do not beat in step. This decides when; the caller sends. */
#ifndef ESPNAT_NAT_KEEPALIVE_H
#define ESPNAT_NAT_KEEPALIVE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"
#include "nat/clock.h"

#define NAT_KEEPALIVE_INTERVAL_MS 20000	/* RFC 3948 4: default 20 seconds */
#define NAT_KEEPALIVE_JITTER_PCT 10

struct nat_keepalive;

/* Keepalives every @interval_ms, each spacing drawn uniformly from
 * interval +/- @jitter_pct percent. @seed feeds the jitter. NULL when out
 * of memory or @interval_ms is 0 or @jitter_pct above 50. */
struct nat_keepalive *nat_keepalive_new(const struct nat_clock *clock,
					uint32_t interval_ms,
					uint32_t jitter_pct, uint64_t seed);
void nat_keepalive_free(struct nat_keepalive *ka);

/* Starts keepalives for registration @reqid (the first one interval from
 * now); tracking twice is harmless. Returns 0 or -ENOMEM. */
int nat_keepalive_track(struct nat_keepalive *ka, uint32_t reqid);
void nat_keepalive_untrack(struct nat_keepalive *ka, uint32_t reqid);

/* Follows the engine's registrations: started when one gets its first SA,
 * stopped when its last SA goes. Pass it engine events. */
void nat_keepalive_on_event(struct nat_keepalive *ka, const struct esp_event *ev);

/* The registrations whose keepalive is due now, at most @max of them, each
 * rescheduled. Returns how many were written to @reqids. */
size_t nat_keepalive_due(struct nat_keepalive *ka, uint32_t *reqids, size_t max);

/* When the next keepalive is due (UINT64_MAX when none is tracked): what a
 * poll loop waits for. */
uint64_t nat_keepalive_next(const struct nat_keepalive *ka);

size_t nat_keepalive_count(const struct nat_keepalive *ka);

#endif
