/* The OpenSSL backend: each packet as the per-packet path seals it. */
#include "engine/batch.h"

#include <string.h>

#include "engine/sa.h"

#define ESP_HDR_LEN 8

int esp_seal_openssl(struct esp_sa *sa, uint8_t *esp, uint32_t ct_len)
{
	const struct esp_auth_info *ai = esp_auth_info(sa->p.auth);
	uint32_t iv_len = esp_enc_info(sa->p.enc)->iv_len;
	uint32_t covered = ESP_HDR_LEN + iv_len + ct_len;

	/* the context's chain is shared by every worker using the SA */
	spin_lock(&sa->lock);
	int rc = esp_sa_encrypt_locked(sa, esp + ESP_HDR_LEN, ct_len);
	spin_unlock(&sa->lock);
	if (rc)
		return rc;
	if (ai->icv_len) {
		uint8_t mac[ESP_MAX_DIGEST];
		esp_hmac_compute(&sa->hmac, esp, covered, mac);
		memcpy(esp + covered, mac, ai->icv_len);
	}
	return 0;
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
