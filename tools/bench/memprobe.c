/* How fast this machine hands out random cache lines: the floor under
 * `espnat bench --sas N` at large N, where each packet's SA, keys and
 * buckets are lines nobody has touched for N packets. */
#include "tools/bench/memprobe.h"

#include "tools/clock.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define LINE 64
#define IN_FLIGHT 32		/* requested before the first is read: as
				 * the engine warms a chunk (engine.c) */
#define SAMPLES (1u << 20)
#define PASSES 3

/* xorshift64: cheap, and no pattern a hardware prefetcher follows */
static uint64_t next_rand(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

double bench_random_line_ns(size_t bytes)
{
	size_t lines = bytes / LINE;
	if (lines < IN_FLIGHT)
		return -1;
	/* the region and the line numbers, both written before timing */
	uint8_t *mem = mmap(NULL, lines * LINE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint32_t *idx = mmap(NULL, SAMPLES * sizeof(uint32_t), PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	double best = -1;

	if (mem == MAP_FAILED || idx == MAP_FAILED)
		goto out;
	memset(mem, 1, lines * LINE);
	uint64_t x = 0x9e3779b97f4a7c15u;
	for (uint32_t i = 0; i < SAMPLES; i++)
		idx[i] = (uint32_t)(next_rand(&x) % lines);
	volatile uint8_t sink;
	for (int pass = 0; pass < PASSES; pass++) {
		unsigned sum = 0;
		uint64_t t0 = monotonic_ns();
		for (uint32_t i = 0; i < SAMPLES; i += IN_FLIGHT) {
			for (uint32_t k = 0; k < IN_FLIGHT; k++)
				__builtin_prefetch(mem + (size_t)idx[i + k] * LINE);
			for (uint32_t k = 0; k < IN_FLIGHT; k++)
				sum += mem[(size_t)idx[i + k] * LINE];
		}
		double ns = (double)(monotonic_ns() - t0) / SAMPLES;
		sink = (uint8_t)sum;
		if (best < 0 || ns < best)
			best = ns;
	}
	(void)sink;
out:
	if (mem != MAP_FAILED)
		munmap(mem, lines * LINE);
	if (idx != MAP_FAILED)
		munmap(idx, SAMPLES * sizeof(uint32_t));
	return best;
}
