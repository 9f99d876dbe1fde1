/* Engine events cross from the packet workers to the daemon's main loop
 * through a bounded ring: a worker never blocks on a slow log or client,
 * and an overflow is counted, not waited for. */
#ifndef ESPNAT_DAEMON_EVENTQ_H
#define ESPNAT_DAEMON_EVENTQ_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/engine.h"

struct eventq;

/* @capacity events at most; the fd becomes readable when one is queued. */
struct eventq *eventq_new(unsigned capacity);
void eventq_free(struct eventq *q);

/* An esp_event_fn: queues a copy (the reason string of REFUSED is copied). */
void eventq_push(void *q, const struct esp_event *ev);

/* Takes the oldest event; false when empty. Clears the fd's readiness when
 * it empties. */
bool eventq_pop(struct eventq *q, struct esp_event *ev, char *reason,
		size_t reason_len);

int eventq_fd(const struct eventq *q);
uint64_t eventq_overflows(struct eventq *q);

#endif
