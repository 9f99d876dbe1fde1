/* The OpenSSL backend: each packet as the per-packet path seals it. */
#include "engine/batch.h"

#include <string.h>

#include "engine/sa.h"

#define ESP_HDR_LEN 8

/* Consecutive packets of one SA are sealed under one hold of its lock:
 * taken and released per packet, the lock made a 128-byte packet's
 * sealing about 20 ns slower (683 cycles against 629, rdtsc around the
 * burst's sealing). A run ends at this many packets, or with the packet
 * that takes it to this many bytes of plaintext, so that a worker waiting
 * for the SA waits for about 2 KiB of sealing (3 us) and one packet at
 * most; large packets, whose sealing dwarfs the lock, go in runs of one
 * or two. */
#define SEAL_RUN_MAX 8
#define SEAL_RUN_BYTES 2048

/* With the SA's lock held (the context's chain is shared by every worker
 * using the SA); the HMAC needs no lock, but running it here, right after
 * the cipher, lets the core overlap the two. */
static int seal_locked(struct esp_sa *sa, uint8_t *esp, uint32_t ct_len)
{
	int rc = esp_sa_encrypt_locked(sa, esp + ESP_HDR_LEN, ct_len);

	if (rc == 0 && sa->p.auth != ESP_AUTH_NONE)
		esp_hmac_append(&sa->hmac, esp,
				ESP_HDR_LEN + esp_enc_info(sa->p.enc)->iv_len + ct_len);
	return rc;
}

int esp_seal_openssl(struct esp_sa *sa, uint8_t *esp, uint32_t ct_len)
{
	spin_lock(&sa->lock);
	int rc = seal_locked(sa, esp, ct_len);
	spin_unlock(&sa->lock);
	return rc;
}

void esp_seal_openssl_burst(struct esp_seal_op *ops, unsigned n)
{
	for (unsigned i = 0; i < n;) {
		struct esp_sa *sa = ops[i].sa;
		uint32_t bytes = ops[i].ct_len;
		unsigned end = i + 1;
		while (end < n && end - i < SEAL_RUN_MAX && bytes < SEAL_RUN_BYTES &&
		       ops[end].sa == sa)
			bytes += ops[end++].ct_len;
		spin_lock(&sa->lock);
		for (; i < end; i++)
			ops[i].status = seal_locked(sa, ops[i].esp, ops[i].ct_len);
		spin_unlock(&sa->lock);
	}
}

int esp_mac_openssl(struct esp_sa *sa, const uint8_t *esp, uint32_t ct_len,
		    uint8_t *mac)
{
	uint32_t iv_len = esp_enc_info(sa->p.enc)->iv_len;

	esp_hmac_compute(&sa->hmac, esp, ESP_HDR_LEN + iv_len + ct_len, mac);
	return 0;
}

int esp_decrypt_openssl(struct esp_sa *sa, uint8_t *esp, uint32_t ct_len)
{
	spin_lock(&sa->lock);
	int rc = esp_sa_decrypt_locked(sa, esp + ESP_HDR_LEN, ct_len);
	spin_unlock(&sa->lock);
	return rc;
}
