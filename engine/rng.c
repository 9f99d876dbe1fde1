#include "engine/rng.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

void esp_rng_init(struct esp_rng *r)
{
	r->pos = ESP_RNG_POOL;	/* empty: the first use refills */
	r->source = NULL;
	r->source_arg = NULL;
}

void esp_rng_set_source(struct esp_rng *r, esp_rng_source fn, void *arg)
{
	esp_rng_wipe(r);	/* what the old source gave is not used */
	r->source = fn;
	r->source_arg = arg;
}

static int refill(struct esp_rng *r)
{
	if (r->source)
		return r->source(r->source_arg, r->pool, ESP_RNG_POOL) ? -EIO : 0;
	return RAND_bytes(r->pool, ESP_RNG_POOL) == 1 ? 0 : -EIO;
}

int esp_rng_bytes(struct esp_rng *r, uint8_t *out, size_t n)
{
	if (n > ESP_RNG_POOL)
		return -EINVAL;
	if (ESP_RNG_POOL - r->pos < n) {
		if (refill(r))
			return -EIO;
		r->pos = 0;
	}
	uint8_t *src = r->pool + r->pos;
	/* IVs are 16 or 8 bytes: copies of a known size, not library calls */
	if (n == 16) {
		memcpy(out, src, 16);
		memset(src, 0, 16);	/* a byte is handed out once, then forgotten */
	} else if (n == 8) {
		memcpy(out, src, 8);
		memset(src, 0, 8);
	} else {
		memcpy(out, src, n);
		memset(src, 0, n);
	}
	r->pos += n;
	return 0;
}

void esp_rng_wipe(struct esp_rng *r)
{
	OPENSSL_cleanse(r->pool, sizeof(r->pool));
	r->pos = ESP_RNG_POOL;
}
