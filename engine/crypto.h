/* The ESP transforms: a CBC (or NULL) cipher and an HMAC-96 integrity
 * check, each keyed once per SA and reused for every packet. */
#ifndef ESPNAT_CRYPTO_H
#define ESPNAT_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/md5.h>
#include <openssl/sha.h>

enum esp_enc {
	ESP_ENC_NULL,		/* RFC 2410 */
	ESP_ENC_AES_CBC,	/* RFC 3602, 128/192/256-bit keys */
	ESP_ENC_3DES_CBC,	/* RFC 2451 */
	ESP_ENC__COUNT
};

enum esp_auth {
	ESP_AUTH_NONE,		/* confidentiality only (RFC 4303 3.2) */
	ESP_AUTH_HMAC_MD5_96,	/* RFC 2403 */
	ESP_AUTH_HMAC_SHA1_96,	/* RFC 2404 */
	ESP_AUTH__COUNT
};

#define ESP_MAX_ENC_KEY 32
#define ESP_MAX_AUTH_KEY 64
#define ESP_MAX_IV 16
#define ESP_MAX_BLOCK 16
#define ESP_ICV_LEN 12
#define ESP_MAX_DIGEST 20

struct esp_enc_info {
	const char *xfrm_name;	/* as `ip xfrm` names it */
	const char *name;	/* for people */
	uint8_t block;		/* padding alignment (RFC 4303 2.4: at least 4) */
	uint8_t iv_len;
	uint8_t key_lens[3];	/* accepted key lengths in bytes, 0-terminated */
};

struct esp_auth_info {
	const char *xfrm_name;
	const char *name;
	uint8_t key_len;	/* RFC 2403/2404 key length */
	uint8_t icv_len;
	uint8_t digest_len;
};

/* Inline: every packet looks its SA's algorithms up. */
extern const struct esp_enc_info esp_enc_table[ESP_ENC__COUNT];
extern const struct esp_auth_info esp_auth_table[ESP_AUTH__COUNT];

static inline const struct esp_enc_info *esp_enc_info(enum esp_enc alg)
{
	return &esp_enc_table[alg];
}

static inline const struct esp_auth_info *esp_auth_info(enum esp_auth alg)
{
	return &esp_auth_table[alg];
}

/* Finds an algorithm by its `ip xfrm` name; -1 when unknown. */
int esp_enc_by_xfrm_name(const char *name);
int esp_auth_by_xfrm_name(const char *name);

/* True when @len is a valid key length for @alg. */
bool esp_enc_key_len_ok(enum esp_enc alg, size_t len);

struct esp_cipher {
	/* NULL for the NULL cipher, and for a deferred one until its first
	 * packet (esp_cipher_defer): read without the owner's lock only to
	 * prefetch, so stored atomically */
	EVP_CIPHER_CTX *ctx;
	enum esp_enc alg;
	/* What the context's CBC chain holds now (its last ciphertext block,
	 * zero after init), so that a packet can start from any chain value
	 * without OpenSSL being told a new IV; kept for encryption only. */
	uint8_t chain[ESP_MAX_BLOCK];
};

/* Keys @c for encryption (@encrypt) or decryption. The context is set up
 * here once; per packet only the IV changes. Returns 0 or -EINVAL/-ENOMEM. */
int esp_cipher_init(struct esp_cipher *c, enum esp_enc alg,
		    const uint8_t *key, size_t key_len, bool encrypt);

/* Records @alg for @c without keying a context: the owner keys it with
 * esp_cipher_make() when a packet first needs it. An SA whose packets all
 * go through another backend (batch_ipsecmb.c) then never holds OpenSSL's
 * context, about 650 bytes. Until made, every call but esp_cipher_make()
 * and esp_cipher_free() fails (-ENOKEY): a deferred cipher is never taken
 * for the NULL cipher. */
void esp_cipher_defer(struct esp_cipher *c, enum esp_enc alg);

/* Keys a deferred @c's context; the caller serialises calls on one @c.
 * Returns 0 (also when already made, or for the NULL cipher) or -ENOMEM. */
int esp_cipher_make(struct esp_cipher *c, const uint8_t *key, size_t key_len,
		    bool encrypt);

/* En- or decrypts @len bytes (a multiple of the block size) in place with
 * @iv. Returns 0, or -EIO if the library refused. */
int esp_cipher_run(struct esp_cipher *c, const uint8_t *iv, uint8_t *buf,
		   size_t len);

/* ESP's way, without setting an IV per packet. @buf holds an IV-sized
 * block of random bytes R followed by @len bytes of plaintext; in place,
 * R becomes the packet's IV, E_K(R) (the encryption of a fresh random
 * block: unpredictable, as RFC 3602 asks; cf. NIST SP 800-38A appendix C),
 * and the plaintext its CBC encryption under that IV. That is the CBC
 * encryption of R || plaintext under a zero IV: it depends on nothing but
 * the key, R and the plaintext, so packets of one SA need not wait for
 * each other (engine/batch.h). The context's chain is cancelled out by
 * XORing it into R first. */
int esp_cipher_encrypt_chained(struct esp_cipher *c, uint8_t *buf, size_t len);

/* @buf holds the IV and @len bytes of ciphertext: decrypts those in place
 * under that IV; the IV's bytes are overwritten with noise. */
int esp_cipher_decrypt_chained(struct esp_cipher *c, uint8_t *buf, size_t len);

/* Frees the context; OpenSSL wipes the key schedule. */
void esp_cipher_free(struct esp_cipher *c);

/* HMAC with the inner and outer hash states precomputed from the key
 * (RFC 2104 section 4), so a packet costs no allocation. OpenSSL 3.0's
 * EVP_MAC and EVP_MD_CTX_copy_ex allocate a provider context on every
 * reuse; the low-level state structs do not. After one 64-byte block
 * (K^ipad or K^opad) a state is its chaining value and nothing else (the
 * length is one block, no bytes wait), so only the chaining values are
 * kept: 40 bytes instead of two 96-byte SHA_CTX, read by every packet and
 * held by every SA. A packet rebuilds the state around them on its stack.
 * Read-only after setup, which lets worker threads share them. */
#define ESP_HMAC_WORDS 5		/* SHA-1's five; MD5 uses four */

struct esp_hmac {
	enum esp_auth alg;
	uint32_t inner[ESP_HMAC_WORDS];	/* after K^ipad */
	uint32_t outer[ESP_HMAC_WORDS];	/* after K^opad */
};

/* Keys @h; keys longer than the hash block are hashed first (RFC 2104). */
int esp_hmac_init(struct esp_hmac *h, enum esp_auth alg, const uint8_t *key,
		  size_t key_len);

/* The full HMAC of @data into @out (digest_len bytes). */
void esp_hmac_compute(const struct esp_hmac *h, const uint8_t *data,
		      size_t len, uint8_t *out);

/* Writes the ICV of @data's @len bytes right after them: the HMAC
 * truncated to 96 bits, as both integrity algorithms are (RFC 2403/2404).
 * The copy has a constant length, so it is two moves; at the length read
 * from the algorithm's table it was a call into libc reading the digest
 * just stored, up to 16 ns of a 128-byte packet. */
static inline void esp_hmac_append(const struct esp_hmac *h, uint8_t *data, size_t len)
{
	uint8_t mac[ESP_MAX_DIGEST];

	esp_hmac_compute(h, data, len, mac);
	memcpy(data + len, mac, ESP_ICV_LEN);
}

/* True when the truncated HMAC of @data equals @icv; compared in constant
 * time (esp_icv_equal). */
bool esp_hmac_verify(const struct esp_hmac *h, const uint8_t *data,
		     size_t len, const uint8_t *icv, size_t icv_len);

/* Wipes the key-derived states. */
void esp_hmac_wipe(struct esp_hmac *h);

/* Whether the @len-byte ICVs @a and @b agree, in a time that does not
 * depend on where they differ: every byte is read, the differences are
 * ORed together, and only the total is tested. The 96-bit ICVs of both
 * HMACs take two loads each (CRYPTO_memcmp's call and byte loop cost 6 ns
 * a packet); other lengths go to CRYPTO_memcmp. The empty asm hides the
 * total from the optimiser, so that it cannot test the parts one after
 * the other. */
static inline bool esp_icv_equal(const uint8_t *a, const uint8_t *b, size_t len)
{
	if (len != ESP_ICV_LEN)
		return CRYPTO_memcmp(a, b, len) == 0;
	uint64_t a0, b0;
	uint32_t a1, b1;
	memcpy(&a0, a, 8);
	memcpy(&b0, b, 8);
	memcpy(&a1, a + 8, 4);
	memcpy(&b1, b + 8, 4);
	uint64_t diff = (a0 ^ b0) | (uint64_t)(a1 ^ b1);
	__asm__("" : "+r"(diff));
	return diff == 0;
}

#endif
