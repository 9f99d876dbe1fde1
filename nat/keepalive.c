#include "nat/keepalive.h"

#include <errno.h>
#include <stdlib.h>

/* A UE holds one or two registrations (old and new during re-keying), so a
 * small array scanned per tick is all this needs. */
struct entry {
	uint32_t reqid;
	uint64_t due;
};

struct nat_keepalive {
	const struct nat_clock *clock;
	uint32_t interval;
	uint32_t jitter;	/* in ms, each way */
	uint64_t rng;
	struct entry *e;
	size_t n;
	size_t cap;
};

/* xorshift64*: jitter needs to be spread, not secret */
static uint64_t next_random(struct nat_keepalive *ka)
{
	ka->rng ^= ka->rng >> 12;
	ka->rng ^= ka->rng << 25;
	ka->rng ^= ka->rng >> 27;
	return ka->rng * 0x2545f4914f6cdd1dull;
}

static uint64_t spacing(struct nat_keepalive *ka)
{
	if (ka->jitter == 0)
		return ka->interval;
	uint64_t span = 2 * (uint64_t)ka->jitter + 1;
	return ka->interval - ka->jitter + next_random(ka) % span;
}

struct nat_keepalive *nat_keepalive_new(const struct nat_clock *clock,
					uint32_t interval_ms,
					uint32_t jitter_pct, uint64_t seed)
{
	if (interval_ms == 0 || jitter_pct > 50)
		return NULL;
	struct nat_keepalive *ka = calloc(1, sizeof(*ka));
	if (!ka)
		return NULL;
	ka->clock = clock;
	ka->interval = interval_ms;
	ka->jitter = (uint32_t)((uint64_t)interval_ms * jitter_pct / 100);
	ka->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
	return ka;
}

void nat_keepalive_free(struct nat_keepalive *ka)
{
	if (!ka)
		return;
	free(ka->e);
	free(ka);
}

static struct entry *find(struct nat_keepalive *ka, uint32_t reqid)
{
	for (size_t i = 0; i < ka->n; i++)
		if (ka->e[i].reqid == reqid)
			return &ka->e[i];
	return NULL;
}

int nat_keepalive_track(struct nat_keepalive *ka, uint32_t reqid)
{
	if (find(ka, reqid))
		return 0;
	if (ka->n == ka->cap) {
		size_t cap = ka->cap ? ka->cap * 2 : 4;
		struct entry *e = realloc(ka->e, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		ka->e = e;
		ka->cap = cap;
	}
	ka->e[ka->n].reqid = reqid;
	ka->e[ka->n].due = nat_now(ka->clock) + spacing(ka);
	ka->n++;
	return 0;
}

void nat_keepalive_untrack(struct nat_keepalive *ka, uint32_t reqid)
{
	struct entry *e = find(ka, reqid);

	if (e)
		*e = ka->e[--ka->n];
}

void nat_keepalive_on_event(struct nat_keepalive *ka, const struct esp_event *ev)
{
	if (ev->type == ESP_EVENT_GROUP_ADDED)
		nat_keepalive_track(ka, ev->reqid);
	else if (ev->type == ESP_EVENT_GROUP_REMOVED)
		nat_keepalive_untrack(ka, ev->reqid);
}

size_t nat_keepalive_due(struct nat_keepalive *ka, uint32_t *reqids, size_t max)
{
	uint64_t now = nat_now(ka->clock);
	size_t n = 0;

	for (size_t i = 0; i < ka->n && n < max; i++) {
		struct entry *e = &ka->e[i];
		if (e->due > now)
			continue;
		reqids[n++] = e->reqid;
		/* from the due time, so the cadence does not drift with a
		 * late loop; a loop very late starts afresh from now */
		e->due += spacing(ka);
		if (e->due <= now)
			e->due = now + spacing(ka);
	}
	return n;
}

uint64_t nat_keepalive_next(const struct nat_keepalive *ka)
{
	uint64_t next = UINT64_MAX;

	for (size_t i = 0; i < ka->n; i++)
		if (ka->e[i].due < next)
			next = ka->e[i].due;
	return next;
}

size_t nat_keepalive_count(const struct nat_keepalive *ka)
{
	return ka->n;
}
