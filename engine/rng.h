/* IVs from the CSPRNG, drawn from a per-worker pool so that a packet does
 * not pay for a RAND_bytes call (about 0.6 us each; a 4 KiB refill costs
 * about 5 ns per 16-byte IV). */
#ifndef ESPNAT_RNG_H
#define ESPNAT_RNG_H

#include <stddef.h>
#include <stdint.h>

#define ESP_RNG_POOL 4096

/* Where a pool refill comes from: the CSPRNG, or a test's own source. */
typedef int (*esp_rng_source)(void *arg, uint8_t *out, size_t n);

struct esp_rng {
	size_t pos;
	esp_rng_source source;	/* NULL: RAND_bytes */
	void *source_arg;
	uint8_t pool[ESP_RNG_POOL];
};

void esp_rng_init(struct esp_rng *r);

/* For tests only, which compare two data paths packet for packet and need
 * both to draw the same IVs: refills come from @fn (returning 0 on
 * success) instead of the CSPRNG. Nothing outside test/ calls it. */
void esp_rng_set_source(struct esp_rng *r, esp_rng_source fn, void *arg);

/* Copies @n (<= ESP_RNG_POOL) unpredictable bytes to @out. Returns 0, or
 * -EIO when the CSPRNG failed; callers must then not send. */
int esp_rng_bytes(struct esp_rng *r, uint8_t *out, size_t n);

/* Wipes the unused pool. */
void esp_rng_wipe(struct esp_rng *r);

#endif
