/* Time for the timers in nat/: read through an interface, so that tests
 * advance a fake clock instead of sleeping. The real clock lives in tools/
 * (CLOCK_MONOTONIC); these libraries never read one themselves. */
#ifndef ESPNAT_NAT_CLOCK_H
#define ESPNAT_NAT_CLOCK_H

#include <stdint.h>

struct nat_clock {
	uint64_t (*now_ms)(const struct nat_clock *c);
};

static inline uint64_t nat_now(const struct nat_clock *c)
{
	return c->now_ms(c);
}

/* A clock that moves only when told to. */
struct nat_fake_clock {
	struct nat_clock clock;
	uint64_t now;
};

static inline uint64_t nat_fake_now(const struct nat_clock *c)
{
	return ((const struct nat_fake_clock *)c)->now;
}

static inline void nat_fake_clock_init(struct nat_fake_clock *c, uint64_t start)
{
	c->clock.now_ms = nat_fake_now;
	c->now = start;
}

#endif
