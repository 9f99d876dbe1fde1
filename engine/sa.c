#include "engine/sa.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "engine/batch.h"
#include "engine/ip.h"

void esp_sa_params_init(struct esp_sa_params *p)
{
	memset(p, 0, sizeof(*p));
	p->dir = ESP_DIR_BOTH;
	p->mode = ESP_MODE_TRANSPORT;
	p->replay_window = ESP_REPLAY_DEFAULT;
	p->enc = ESP_ENC_NULL;
	p->auth = ESP_AUTH_NONE;
}

void esp_sa_params_wipe(struct esp_sa_params *p)
{
	OPENSSL_cleanse(p->enc_key, sizeof(p->enc_key));
	OPENSSL_cleanse(p->auth_key, sizeof(p->auth_key));
	p->enc_key_len = p->auth_key_len = 0;
}

/* Keying option 1 of SP 800-67: K1 == K2 or K2 == K3 collapses 3DES into
 * single DES, which RFC 2451 2.3 tells implementations to refuse. */
static bool des3_key_degenerate(const uint8_t *k)
{
	return CRYPTO_memcmp(k, k + 8, 8) == 0 ||
	       CRYPTO_memcmp(k + 8, k + 16, 8) == 0;
}

static const char *check_keys(const struct esp_sa_params *p)
{
	if (p->enc == ESP_ENC_NULL && p->auth == ESP_AUTH_NONE)
		return "ESP with neither encryption nor integrity protects nothing";
	if (!esp_enc_key_len_ok(p->enc, p->enc_key_len)) {
		switch (p->enc) {
		case ESP_ENC_AES_CBC:
			return "wrong key length for cbc(aes): need 16, 24 or 32 bytes";
		case ESP_ENC_3DES_CBC:
			return "wrong key length for cbc(des3_ede): need 24 bytes";
		default:
			return "ecb(cipher_null) takes an empty key";
		}
	}
	if (p->enc == ESP_ENC_3DES_CBC && des3_key_degenerate(p->enc_key))
		return "3DES key is degenerate (K1 == K2 or K2 == K3)";
	if (p->auth != ESP_AUTH_NONE &&
	    p->auth_key_len != esp_auth_info(p->auth)->key_len) {
		return p->auth == ESP_AUTH_HMAC_MD5_96 ?
		       "wrong key length for hmac(md5): need 16 bytes" :
		       "wrong key length for hmac(sha1): need 20 bytes";
	}
	return NULL;
}

static const char *check_selector(const struct esp_sa_params *p)
{
	const struct esp_selector *s = &p->sel;

	if (s->src.family != s->dst.family)
		return "selector src and dst are of different families";
	if (s->src_plen > esp_addr_bits(&s->src) ||
	    s->dst_plen > esp_addr_bits(&s->dst))
		return "selector prefix length too long";
	/* ports with "any" protocol: UDP and TCP alike, as TS 33.203 7.1
	 * has one SA carry both */
	if ((s->sport || s->dport) && s->proto != 0 &&
	    s->proto != IPPROTO_NUM_UDP && s->proto != IPPROTO_NUM_TCP)
		return "selector ports need proto udp, tcp or any";
	if (p->mode == ESP_MODE_TRANSPORT && s->src.family != p->src.family)
		return "transport mode cannot change the address family";
	return NULL;
}

static const char *check_params(const struct esp_sa_params *p)
{
	if (p->src.family == 0 || p->dst.family == 0)
		return "src and dst are required";
	if (p->src.family != p->dst.family)
		return "src and dst are of different families";
	if (p->spi < 256)
		return "SPI values 0-255 are reserved (RFC 4303 2.1)";
	if (p->replay_window > ESP_REPLAY_MAX)
		return "replay-window too large (at most 65536)";
	if (p->encap && p->encap_sport == 0 && p->encap_dport == 0)
		return "encap needs at least one known port (4500 on our side)";
	if (p->encap && p->dir == ESP_DIR_OUT && p->encap_sport == 0)
		return "an outbound SA's encap source port is ours and must not be 0";
	if (p->encap && p->dir == ESP_DIR_IN && p->encap_dport == 0)
		return "an inbound SA's encap destination port is ours and must not be 0";
	if (p->encap_oa.family && p->encap_oa.family != p->src.family)
		return "encap original address is of another family";
	const char *why = check_keys(p);
	return why ? why : check_selector(p);
}

int esp_sa_create(const struct esp_sa_params *p, struct esp_sa **out,
		  const char **why)
{
	const char *reason = check_params(p);

	*out = NULL;
	if (reason) {
		*why = reason;
		return -EINVAL;
	}
	struct esp_sa *sa = calloc(1, sizeof(*sa));
	if (!sa) {
		*why = "out of memory";
		return -ENOMEM;
	}
	sa->p = *p;
	/* selectors are kept masked so that lookups compare whole bytes */
	esp_addr_mask(&sa->p.sel.src, sa->p.sel.src_plen);
	esp_addr_mask(&sa->p.sel.dst, sa->p.sel.dst_plen);
	/* CBC decryption needs its own key schedule, so an SA found by both
	 * lookups may key two contexts; each is keyed by the first packet
	 * that needs it (esp_sa_encrypt_locked): with the multi-buffer
	 * backend, none ever is */
	esp_cipher_defer(&sa->encrypt, p->enc);
	esp_cipher_defer(&sa->decrypt, p->enc);
	int err = esp_hmac_init(&sa->hmac, p->auth, p->auth_key, p->auth_key_len);
	if (!err)
		err = esp_replay_init(&sa->replay, p->replay_window);
	if (err) {
		*why = err == -ENOMEM ? "out of memory" : "integrity or replay window setup failed";
		esp_sa_free(sa);
		return err;
	}
	sa->seq_limit = ESP_SEQ_MAX;
	*out = sa;
	return 0;
}

void esp_sa_free(struct esp_sa *sa)
{
	if (!sa)
		return;
	esp_batch_sa_release(sa);
	esp_cipher_free(&sa->encrypt);
	esp_cipher_free(&sa->decrypt);
	esp_hmac_wipe(&sa->hmac);
	esp_replay_free(&sa->replay);
	esp_sa_params_wipe(&sa->p);
	free(sa);
}

/* @c keyed for @encrypt, the first time a packet needs it. Only a
 * direction the SA has: a packet of the other never gets a context. */
static int cipher_ready(struct esp_sa *sa, struct esp_cipher *c, bool encrypt)
{
	if (__builtin_expect(c->ctx != NULL, 1))
		return 0;
	if (encrypt ? !esp_sa_is_outbound(sa) : !esp_sa_is_inbound(sa))
		return -ENOKEY;
	return esp_cipher_make(c, sa->p.enc_key, sa->p.enc_key_len, encrypt);
}

int esp_sa_encrypt_locked(struct esp_sa *sa, uint8_t *buf, size_t len)
{
	int rc = cipher_ready(sa, &sa->encrypt, true);
	return rc ? rc : esp_cipher_encrypt_chained(&sa->encrypt, buf, len);
}

int esp_sa_decrypt_locked(struct esp_sa *sa, uint8_t *buf, size_t len)
{
	int rc = cipher_ready(sa, &sa->decrypt, false);
	return rc ? rc : esp_cipher_decrypt_chained(&sa->decrypt, buf, len);
}

void esp_sa_stats_read(const struct esp_sa *sa, struct esp_sa_stats *out)
{
	out->packets = counter_read(&sa->stats.packets) + counter_read(&sa->sent_packets);
	out->bytes = counter_read(&sa->stats.bytes) + counter_read(&sa->sent_bytes);
	for (int i = 0; i < ESP_DROP__COUNT; i++)
		out->drops[i] = counter_read(&sa->stats.drops[i]);
}

bool esp_selector_match(const struct esp_selector *sel,
			const struct esp_flow *f)
{
	if (!esp_addr_in_prefix(&f->src, &sel->src, sel->src_plen) ||
	    !esp_addr_in_prefix(&f->dst, &sel->dst, sel->dst_plen))
		return false;
	if (sel->proto && sel->proto != f->proto)
		return false;
	if (sel->sport && sel->sport != f->sport)
		return false;
	return !sel->dport || sel->dport == f->dport;
}
