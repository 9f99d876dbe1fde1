/* What the benchmark's measuring loops share with its set-up. */
#ifndef ESPNAT_TOOLS_BENCH_FIXTURE_H
#define ESPNAT_TOOLS_BENCH_FIXTURE_H

#include "tools/bench/bench.h"

struct esp_engine;

struct bench_fixture {
	struct bench_alg alg;
	enum bench_mode mode;
	uint32_t nsas;
	struct esp_engine *e_out;	/* outbound SAs: encapsulates */
	struct esp_engine *e_in;	/* the same SAs inbound, or NULL */
	double install_s;
	long rss_bytes;
	unsigned warmed;		/* which warm-ups ran (measure.c) */
};

#define BENCH_INNER_SRC 0xac100001u	/* 172.16.0.1 */

/* The inner destination of SA @i's traffic. */
uint32_t bench_inner_dst(uint32_t i);

/* An SA outside the engines, with the keys and parameters of the
 * fixture's first (esp_sa_free() it). */
struct esp_sa *bench_sa_new(const struct bench_fixture *f, bool inbound, char *err,
			    size_t errlen);

/* Writes an IPv4/UDP packet of @size bytes (headers only; the payload is
 * whatever the buffer holds) that SA @sa's selector covers. */
void bench_packet(uint8_t *ip, uint32_t size, uint32_t sa);

#endif
