/* The real clock: CLOCK_MONOTONIC in milliseconds, for the engine (which
 * is told the time, never reads it) and nat/'s timers; in nanoseconds for
 * the benchmarks. */
#ifndef ESPNAT_TOOLS_CLOCK_H
#define ESPNAT_TOOLS_CLOCK_H

#include <stdint.h>
#include <time.h>

#include "nat/clock.h"

static inline uint64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t monotonic_clock_now(const struct nat_clock *c)
{
	(void)c;
	return monotonic_ms();
}

static const struct nat_clock monotonic_clock = { monotonic_clock_now };

#endif
