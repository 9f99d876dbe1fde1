/* The low-level MD5_/SHA1_ calls are deprecated in OpenSSL 3 but are the only
 * allocation-free way to resume from precomputed HMAC states (see crypto.h). */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "engine/crypto.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>

const struct esp_enc_info esp_enc_table[ESP_ENC__COUNT] = {
	[ESP_ENC_NULL] = { "ecb(cipher_null)", "NULL", 4, 0, { 0 } },
	[ESP_ENC_AES_CBC] = { "cbc(aes)", "AES-CBC", 16, 16, { 16, 24, 32 } },
	[ESP_ENC_3DES_CBC] = { "cbc(des3_ede)", "3DES-CBC", 8, 8, { 24 } },
};

const struct esp_auth_info esp_auth_table[ESP_AUTH__COUNT] = {
	[ESP_AUTH_NONE] = { "none", "none", 0, 0, 0 },
	[ESP_AUTH_HMAC_MD5_96] = { "hmac(md5)", "HMAC-MD5-96", 16, 12, 16 },
	[ESP_AUTH_HMAC_SHA1_96] = { "hmac(sha1)", "HMAC-SHA-1-96", 20, 12, 20 },
};

int esp_enc_by_xfrm_name(const char *name)
{
	for (int i = 0; i < ESP_ENC__COUNT; i++)
		if (strcmp(name, esp_enc_table[i].xfrm_name) == 0)
			return i;
	/* iproute2 also takes the short names */
	if (strcmp(name, "aes") == 0)
		return ESP_ENC_AES_CBC;
	if (strcmp(name, "des3_ede") == 0)
		return ESP_ENC_3DES_CBC;
	if (strcmp(name, "cipher_null") == 0)
		return ESP_ENC_NULL;
	return -1;
}

int esp_auth_by_xfrm_name(const char *name)
{
	for (int i = ESP_AUTH_HMAC_MD5_96; i < ESP_AUTH__COUNT; i++)
		if (strcmp(name, esp_auth_table[i].xfrm_name) == 0)
			return i;
	if (strcmp(name, "md5") == 0)
		return ESP_AUTH_HMAC_MD5_96;
	if (strcmp(name, "sha1") == 0)
		return ESP_AUTH_HMAC_SHA1_96;
	return -1;
}

bool esp_enc_key_len_ok(enum esp_enc alg, size_t len)
{
	const struct esp_enc_info *i = &esp_enc_table[alg];

	if (alg == ESP_ENC_NULL)
		return len == 0;
	for (size_t k = 0; k < sizeof(i->key_lens) && i->key_lens[k]; k++)
		if (i->key_lens[k] == len)
			return true;
	return false;
}

static const char *evp_cipher_name(enum esp_enc alg, size_t key_len)
{
	if (alg == ESP_ENC_3DES_CBC)
		return "DES-EDE3-CBC";
	switch (key_len) {
	case 16:
		return "AES-128-CBC";
	case 24:
		return "AES-192-CBC";
	default:
		return "AES-256-CBC";
	}
}

/* A keyed context for @alg, or NULL when OpenSSL refused. */
static EVP_CIPHER_CTX *context_new(enum esp_enc alg, const uint8_t *key,
				   size_t key_len, bool encrypt)
{
	/* CBC's chain starts at zero: see esp_cipher_encrypt_chained() */
	static const uint8_t zero_iv[ESP_MAX_IV];
	EVP_CIPHER *cipher = EVP_CIPHER_fetch(NULL, evp_cipher_name(alg, key_len), NULL);
	EVP_CIPHER_CTX *ctx = cipher ? EVP_CIPHER_CTX_new() : NULL;
	int ok = ctx &&
		 EVP_CipherInit_ex(ctx, cipher, NULL, key, zero_iv, encrypt ? 1 : 0) &&
		 EVP_CIPHER_CTX_set_padding(ctx, 0);

	EVP_CIPHER_free(cipher);	/* the context holds its own reference */
	if (!ok) {
		EVP_CIPHER_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

int esp_cipher_init(struct esp_cipher *c, enum esp_enc alg,
		    const uint8_t *key, size_t key_len, bool encrypt)
{
	esp_cipher_defer(c, alg);
	if (!esp_enc_key_len_ok(alg, key_len))
		return -EINVAL;
	return esp_cipher_make(c, key, key_len, encrypt);
}

void esp_cipher_defer(struct esp_cipher *c, enum esp_enc alg)
{
	c->alg = alg;
	c->ctx = NULL;
	memset(c->chain, 0, sizeof(c->chain));
}

int esp_cipher_make(struct esp_cipher *c, const uint8_t *key, size_t key_len,
		    bool encrypt)
{
	if (c->ctx || c->alg == ESP_ENC_NULL)
		return 0;
	EVP_CIPHER_CTX *ctx = context_new(c->alg, key, key_len, encrypt);
	if (!ctx)
		return -ENOMEM;
	memset(c->chain, 0, sizeof(c->chain));
	__atomic_store_n(&c->ctx, ctx, __ATOMIC_RELEASE);
	return 0;
}

/* What a call on @c without a context returns: nothing to do for the NULL
 * cipher; a deferred cipher not yet made must not pass data through. */
static int without_context(const struct esp_cipher *c)
{
	return c->alg == ESP_ENC_NULL ? 0 : -ENOKEY;
}

int esp_cipher_run(struct esp_cipher *c, const uint8_t *iv, uint8_t *buf,
		   size_t len)
{
	if (__builtin_expect(!c->ctx, 0))
		return without_context(c);
	/* only the IV changes: no key schedule, no allocation */
	if (!EVP_CipherInit_ex(c->ctx, NULL, NULL, NULL, iv, -1))
		return -EIO;
	if (EVP_Cipher(c->ctx, buf, buf, (unsigned int)len) <= 0)
		return -EIO;
	size_t block = esp_enc_info(c->alg)->block;
	if (len >= block)
		memcpy(c->chain, buf + len - block, block);
	return 0;
}

/* @dst ^= @src for one cipher block (8 or 16 bytes), written back in one
 * store of the block's size: the cipher loads the block whole at once,
 * and a load that several smaller stores must feed stalls the pipeline
 * (at 128-byte packets, byte by byte cost 15 % of the OpenSSL path). */
static void xor_block(uint8_t *dst, const uint8_t *src, size_t len)
{
	typedef uint8_t block16 __attribute__((vector_size(16)));
	typedef uint8_t block8 __attribute__((vector_size(8)));

	if (len == 16) {
		block16 a, b;
		memcpy(&a, dst, 16);
		memcpy(&b, src, 16);
		a ^= b;
		memcpy(dst, &a, 16);
	} else {
		block8 a, b;
		memcpy(&a, dst, 8);
		memcpy(&b, src, 8);
		a ^= b;
		memcpy(dst, &a, 8);
	}
}

/* Setting the IV costs more than encrypting a small packet with OpenSSL
 * 3.0 (EVP_CipherInit_ex looks parameters up by name). So the context's
 * CBC chain is never reset: one more block goes through it in front, and
 * the chain's value, XORed into that block beforehand, drops out. */
int esp_cipher_encrypt_chained(struct esp_cipher *c, uint8_t *buf, size_t len)
{
	size_t iv_len = esp_enc_info(c->alg)->iv_len;

	if (__builtin_expect(!c->ctx, 0))
		return without_context(c);
	xor_block(buf, c->chain, iv_len);
	if (EVP_Cipher(c->ctx, buf, buf, (unsigned int)(iv_len + len)) <= 0)
		return -EIO;
	memcpy(c->chain, buf + len, iv_len);	/* the last block out */
	return 0;
}

int esp_cipher_decrypt_chained(struct esp_cipher *c, uint8_t *buf, size_t len)
{
	size_t iv_len = esp_enc_info(c->alg)->iv_len;

	if (__builtin_expect(!c->ctx, 0))
		return without_context(c);
	/* block 0 comes out as noise; block 1 on is D(C_i) xor C_(i-1) with
	 * C_0 the IV, which is CBC decryption under that IV */
	if (EVP_Cipher(c->ctx, buf, buf, (unsigned int)(iv_len + len)) <= 0)
		return -EIO;
	return 0;
}

void esp_cipher_free(struct esp_cipher *c)
{
	EVP_CIPHER_CTX_free(c->ctx);	/* cleanses the key schedule */
	c->ctx = NULL;
	OPENSSL_cleanse(c->chain, sizeof(c->chain));
}

#define HMAC_BLOCK 64

static void hmac_pads(const uint8_t *key, size_t key_len, enum esp_auth alg,
		      uint8_t ipad[HMAC_BLOCK], uint8_t opad[HMAC_BLOCK])
{
	uint8_t k[HMAC_BLOCK] = { 0 };

	if (key_len > HMAC_BLOCK) {
		if (alg == ESP_AUTH_HMAC_MD5_96)
			MD5(key, key_len, k);
		else
			SHA1(key, key_len, k);
	} else if (key_len) {
		memcpy(k, key, key_len);
	}
	for (int i = 0; i < HMAC_BLOCK; i++) {
		ipad[i] = k[i] ^ 0x36;
		opad[i] = k[i] ^ 0x5c;
	}
	OPENSSL_cleanse(k, sizeof(k));
}

/* The chaining value after one block of @pad. */
static void md5_block_state(const uint8_t pad[HMAC_BLOCK], uint32_t cv[ESP_HMAC_WORDS])
{
	MD5_CTX c;

	MD5_Init(&c);
	MD5_Update(&c, pad, HMAC_BLOCK);
	cv[0] = c.A, cv[1] = c.B, cv[2] = c.C, cv[3] = c.D, cv[4] = 0;
	OPENSSL_cleanse(&c, sizeof(c));
}

static void sha1_block_state(const uint8_t pad[HMAC_BLOCK], uint32_t cv[ESP_HMAC_WORDS])
{
	SHA_CTX c;

	SHA1_Init(&c);
	SHA1_Update(&c, pad, HMAC_BLOCK);
	cv[0] = c.h0, cv[1] = c.h1, cv[2] = c.h2, cv[3] = c.h3, cv[4] = c.h4;
	OPENSSL_cleanse(&c, sizeof(c));
}

/* A hash state that has taken exactly one block and ends in @cv: the
 * message length is 512 bits, nothing is buffered. data[] is left as it
 * is: the hash writes it before it reads it. */
static inline void md5_resume(MD5_CTX *c, const uint32_t cv[ESP_HMAC_WORDS])
{
	c->A = cv[0], c->B = cv[1], c->C = cv[2], c->D = cv[3];
	c->Nl = HMAC_BLOCK * 8, c->Nh = 0, c->num = 0;
}

static inline void sha1_resume(SHA_CTX *c, const uint32_t cv[ESP_HMAC_WORDS])
{
	c->h0 = cv[0], c->h1 = cv[1], c->h2 = cv[2], c->h3 = cv[3], c->h4 = cv[4];
	c->Nl = HMAC_BLOCK * 8, c->Nh = 0, c->num = 0;
}

int esp_hmac_init(struct esp_hmac *h, enum esp_auth alg, const uint8_t *key,
		  size_t key_len)
{
	uint8_t ipad[HMAC_BLOCK], opad[HMAC_BLOCK];

	memset(h, 0, sizeof(*h));
	h->alg = alg;
	if (alg == ESP_AUTH_NONE)
		return key_len == 0 ? 0 : -EINVAL;
	hmac_pads(key, key_len, alg, ipad, opad);
	if (alg == ESP_AUTH_HMAC_MD5_96) {
		md5_block_state(ipad, h->inner);
		md5_block_state(opad, h->outer);
	} else {
		sha1_block_state(ipad, h->inner);
		sha1_block_state(opad, h->outer);
	}
	OPENSSL_cleanse(ipad, sizeof(ipad));
	OPENSSL_cleanse(opad, sizeof(opad));
	return 0;
}

void esp_hmac_compute(const struct esp_hmac *h, const uint8_t *data,
		      size_t len, uint8_t *out)
{
	if (h->alg == ESP_AUTH_HMAC_MD5_96) {
		MD5_CTX c;

		md5_resume(&c, h->inner);
		MD5_Update(&c, data, len);
		MD5_Final(out, &c);
		md5_resume(&c, h->outer);
		MD5_Update(&c, out, MD5_DIGEST_LENGTH);
		MD5_Final(out, &c);
	} else if (h->alg == ESP_AUTH_HMAC_SHA1_96) {
		SHA_CTX c;

		sha1_resume(&c, h->inner);
		SHA1_Update(&c, data, len);
		SHA1_Final(out, &c);
		sha1_resume(&c, h->outer);
		SHA1_Update(&c, out, SHA_DIGEST_LENGTH);
		SHA1_Final(out, &c);
	}
	/* The stack state is not wiped: once data has been hashed into it, it
	 * no longer equals the key-derived state and reveals nothing of it. */
}

bool esp_hmac_verify(const struct esp_hmac *h, const uint8_t *data,
		     size_t len, const uint8_t *icv, size_t icv_len)
{
	uint8_t mac[ESP_MAX_DIGEST];

	esp_hmac_compute(h, data, len, mac);
	return esp_icv_equal(mac, icv, icv_len);
}

void esp_hmac_wipe(struct esp_hmac *h)
{
	OPENSSL_cleanse(h, sizeof(*h));
}
