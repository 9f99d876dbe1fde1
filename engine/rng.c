#include "engine/rng.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

void esp_rng_init(struct esp_rng *r)
{
	r->pos = ESP_RNG_POOL;	/* empty: the first use refills */
}

int esp_rng_bytes(struct esp_rng *r, uint8_t *out, size_t n)
{
	if (n > ESP_RNG_POOL)
		return -EINVAL;
	if (ESP_RNG_POOL - r->pos < n) {
		if (RAND_bytes(r->pool, ESP_RNG_POOL) != 1)
			return -EIO;
		r->pos = 0;
	}
	memcpy(out, r->pool + r->pos, n);
	/* a byte is handed out once, then forgotten */
	memset(r->pool + r->pos, 0, n);
	r->pos += n;
	return 0;
}

void esp_rng_wipe(struct esp_rng *r)
{
	OPENSSL_cleanse(r->pool, sizeof(r->pool));
	r->pos = ESP_RNG_POOL;
}
