/* Published test vectors for the transforms, each cited where it comes
 * from. */
#include <errno.h>
#include <string.h>

#include "engine/crypto.h"
#include "test/unit/check.h"
#include "test/unit/testutil.h"

struct hmac_case {
	const char *key_hex;	/* or NULL with key_byte/key_len */
	uint8_t key_byte;
	size_t key_len;
	const char *data;	/* text, or NULL with data_byte/data_len */
	uint8_t data_byte;
	size_t data_len;
	const char *digest_hex;
};

/* RFC 2202 section 2, test cases 1-7 for HMAC-MD5. */
static const struct hmac_case md5_cases[] = {
	{ NULL, 0x0b, 16, "Hi There", 0, 0, "9294727a3638bb1c13f48ef8158bfc9d" },
	{ "4a656665", 0, 0, "what do ya want for nothing?", 0, 0,
	  "750c783e6ab0b503eaa86e310a5db738" },
	{ NULL, 0xaa, 16, NULL, 0xdd, 50, "56be34521d144c88dbb8c733f0e8b3f6" },
	{ "0102030405060708090a0b0c0d0e0f10111213141516171819", 0, 0, NULL, 0xcd, 50,
	  "697eaf0aca3a3aea3a75164746ffaa79" },
	{ NULL, 0x0c, 16, "Test With Truncation", 0, 0, "56461ef2342edc00f9bab995690efd4c" },
	{ NULL, 0xaa, 80, "Test Using Larger Than Block-Size Key - Hash Key First", 0, 0,
	  "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd" },
	{ NULL, 0xaa, 80,
	  "Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data", 0, 0,
	  "6f630fad67cda0ee1fb1f562db3aa53e" },
};

/* RFC 2202 section 3, test cases 1-7 for HMAC-SHA-1. */
static const struct hmac_case sha1_cases[] = {
	{ NULL, 0x0b, 20, "Hi There", 0, 0, "b617318655057264e28bc0b6fb378c8ef146be00" },
	{ "4a656665", 0, 0, "what do ya want for nothing?", 0, 0,
	  "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79" },
	{ NULL, 0xaa, 20, NULL, 0xdd, 50, "125d7342b9ac11cd91a39af48aa17b4f63f175d3" },
	{ "0102030405060708090a0b0c0d0e0f10111213141516171819", 0, 0, NULL, 0xcd, 50,
	  "4c9007f4026250c6bc8414f9bf50c86c2d7235da" },
	{ NULL, 0x0c, 20, "Test With Truncation", 0, 0,
	  "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04" },
	{ NULL, 0xaa, 80, "Test Using Larger Than Block-Size Key - Hash Key First", 0, 0,
	  "aa4ae5e15272d00e95705637ce8a3b55ed402112" },
	{ NULL, 0xaa, 80,
	  "Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data", 0, 0,
	  "e8e99d0f45237d786d6bbaa7965c7808bbff1a91" },
};

static void run_hmac_case(enum esp_auth alg, const struct hmac_case *c)
{
	uint8_t key[128], data[128], want[20], got[20];
	size_t klen, dlen, wlen;
	struct esp_hmac h;

	if (c->key_hex) {
		klen = unhex(c->key_hex, key, sizeof(key));
	} else {
		klen = c->key_len;
		memset(key, c->key_byte, klen);
	}
	if (c->data) {
		dlen = strlen(c->data);
		memcpy(data, c->data, dlen);
	} else {
		dlen = c->data_len;
		memset(data, c->data_byte, dlen);
	}
	wlen = unhex(c->digest_hex, want, sizeof(want));
	CHECK_EQ(esp_hmac_init(&h, alg, key, klen), 0);
	esp_hmac_compute(&h, data, dlen, got);
	CHECK_MEM(got, want, wlen);
	/* the -96 variants are the first 12 bytes (RFC 2403/2404 2) */
	CHECK(esp_hmac_verify(&h, data, dlen, want, ESP_ICV_LEN));
	want[ESP_ICV_LEN - 1] ^= 0x01;
	CHECK(!esp_hmac_verify(&h, data, dlen, want, ESP_ICV_LEN));
	esp_hmac_wipe(&h);
}

static void test_hmac(void)
{
	for (size_t i = 0; i < sizeof(md5_cases) / sizeof(md5_cases[0]); i++)
		run_hmac_case(ESP_AUTH_HMAC_MD5_96, &md5_cases[i]);
	for (size_t i = 0; i < sizeof(sha1_cases) / sizeof(sha1_cases[0]); i++)
		run_hmac_case(ESP_AUTH_HMAC_SHA1_96, &sha1_cases[i]);
}

struct cbc_case {
	const char *key, *iv, *plain, *cipher;
};

/* RFC 3602 section 4, cases 1-4 (AES-128-CBC). */
static const struct cbc_case aes_cases[] = {
	{ "06a9214036b8a15b512e03d534120006", "3dafba429d9eb430b422da802c9fac41",
	  "53696e676c6520626c6f636b206d7367", /* "Single block msg" */
	  "e353779c1079aeb82708942dbe77181a" },
	{ "c286696d887c9aa0611bbb3e2025a45a", "562e17996d093d28ddb3ba695a2e6f58",
	  "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
	  "d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1" },
	{ "6c3ea0477630ce21a2ce334aa746c2cd", "c782dc4c098c66cbd9cd27d825682c81",
	  "5468697320697320612034382d62797465206d657373616765202865786163746c7920332041455320626c6f636b7329",
	  "d0a02b3836451753d493665d33f0e8862dea54cdb293abc7506939276772f8d5021c19216bad525c8579695d83ba2684" },
	{ "56e47a38c5598974bc46903dba290349", "8ce82eefbea0da3c44699ed7db51b7d9",
	  "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf",
	  "c30e32ffedc0774e6aff6af0869f71aa0f3af07a9a31a9c684db207eb0ef8e4e35907aa632c3ffdf868bb7b29d3d46ad83ce9f9a102ee99d49a53e87f4c3da55" },
};

static void run_cbc_case(enum esp_enc alg, const struct cbc_case *c)
{
	uint8_t key[32], iv[16], plain[128], want[128], buf[128];
	size_t klen = unhex(c->key, key, sizeof(key));
	size_t plen = unhex(c->plain, plain, sizeof(plain));
	size_t wlen = unhex(c->cipher, want, sizeof(want));
	struct esp_cipher enc, dec;

	unhex(c->iv, iv, sizeof(iv));
	CHECK_EQ(plen, wlen);
	CHECK_EQ(esp_cipher_init(&enc, alg, key, klen, true), 0);
	CHECK_EQ(esp_cipher_init(&dec, alg, key, klen, false), 0);
	memcpy(buf, plain, plen);
	CHECK_EQ(esp_cipher_run(&enc, iv, buf, plen), 0);
	CHECK_MEM(buf, want, wlen);
	/* the same context again with the same IV: nothing carried over */
	memcpy(buf, plain, plen);
	CHECK_EQ(esp_cipher_run(&enc, iv, buf, plen), 0);
	CHECK_MEM(buf, want, wlen);
	CHECK_EQ(esp_cipher_run(&dec, iv, buf, plen), 0);
	CHECK_MEM(buf, plain, plen);

	/* the engine's way: the published IV and ciphertext decrypt through a
	 * context whatever its chain holds (twice: the state moved) */
	size_t ivl = esp_enc_info(alg)->iv_len;
	uint8_t chained[16 + 128];
	for (int round = 0; round < 2; round++) {
		memcpy(chained, iv, ivl);
		memcpy(chained + ivl, want, wlen);
		CHECK_EQ(esp_cipher_decrypt_chained(&dec, chained, wlen), 0);
		CHECK_MEM(chained + ivl, plain, plen);
	}
	/* encryption: the random block R becomes the IV E_K(R), under which
	 * the rest is plain CBC, whatever the context's chain held before
	 * (rounds 1 and 2 follow other packets, round 2 one whose IV was
	 * set explicitly) */
	uint8_t r[16], zero[16] = { 0 }, want_iv[16];
	memset(r, 0x3c, sizeof(r));
	memcpy(want_iv, r, ivl);
	CHECK_EQ(esp_cipher_run(&enc, zero, want_iv, ivl), 0);
	CHECK(memcmp(want_iv, r, ivl) != 0);
	for (int round = 0; round < 3; round++) {
		memcpy(chained, r, ivl);
		memcpy(chained + ivl, plain, plen);
		CHECK_EQ(esp_cipher_encrypt_chained(&enc, chained, plen), 0);
		CHECK_MEM(chained, want_iv, ivl);
		memcpy(buf, chained + ivl, plen);
		CHECK_EQ(esp_cipher_run(&dec, chained, buf, plen), 0);
		CHECK_MEM(buf, plain, plen);
		if (round == 1) {
			memcpy(buf, plain, plen);
			CHECK_EQ(esp_cipher_run(&enc, iv, buf, plen), 0);
			CHECK_MEM(buf, want, wlen);
		}
	}
	esp_cipher_free(&enc);
	esp_cipher_free(&dec);
}

static void test_aes_cbc(void)
{
	for (size_t i = 0; i < sizeof(aes_cases) / sizeof(aes_cases[0]); i++)
		run_cbc_case(ESP_ENC_AES_CBC, &aes_cases[i]);
}

/* NIST SP 800-67 Rev. 1, Appendix B: TDEA with three distinct keys on
 * "The qufck brown fox jump". The example is ECB; CBC with a zero IV on
 * one block is the same computation, so each block is checked alone. */
static void test_3des(void)
{
	static const struct cbc_case blocks[] = {
		{ "0123456789abcdef23456789abcdef01456789abcdef0123", "0000000000000000",
		  "5468652071756663", "a826fd8ce53b855f" },
		{ "0123456789abcdef23456789abcdef01456789abcdef0123", "0000000000000000",
		  "6b2062726f776e20", "cce21c8112256fe6" },
		{ "0123456789abcdef23456789abcdef01456789abcdef0123", "0000000000000000",
		  "666f78206a756d70", "68d5c05dd9b6b900" },
	};
	for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++)
		run_cbc_case(ESP_ENC_3DES_CBC, &blocks[i]);
}

static void test_key_lengths(void)
{
	struct esp_cipher c;
	uint8_t key[32] = { 1 };

	CHECK(esp_enc_key_len_ok(ESP_ENC_AES_CBC, 16));
	CHECK(esp_enc_key_len_ok(ESP_ENC_AES_CBC, 24));
	CHECK(esp_enc_key_len_ok(ESP_ENC_AES_CBC, 32));
	CHECK(!esp_enc_key_len_ok(ESP_ENC_AES_CBC, 15));
	CHECK(!esp_enc_key_len_ok(ESP_ENC_3DES_CBC, 16));
	CHECK(esp_enc_key_len_ok(ESP_ENC_NULL, 0));
	CHECK(!esp_enc_key_len_ok(ESP_ENC_NULL, 1));
	CHECK_EQ(esp_cipher_init(&c, ESP_ENC_AES_CBC, key, 17, true), -22);
	CHECK(c.ctx == NULL);
}

/* A deferred cipher refuses every packet until keyed (it must never pass
 * plaintext as the NULL cipher would), then gives the bytes an eagerly
 * keyed one gives; making it twice keeps the first context. */
static void test_deferred(void)
{
	uint8_t key[16], a[16 + 64], b[16 + 64], untouched[16 + 64];
	struct esp_cipher eager, lazy, none;

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(0xa0 + i);
	for (size_t i = 0; i < sizeof(a); i++)
		a[i] = (uint8_t)i;
	memcpy(untouched, a, sizeof(a));
	memcpy(b, a, sizeof(a));

	esp_cipher_defer(&lazy, ESP_ENC_AES_CBC);
	CHECK(lazy.ctx == NULL);
	CHECK_EQ(esp_cipher_encrypt_chained(&lazy, b, 64), -ENOKEY);
	CHECK_EQ(esp_cipher_decrypt_chained(&lazy, b, 64), -ENOKEY);
	CHECK_EQ(esp_cipher_run(&lazy, key, b, 64), -ENOKEY);
	CHECK_MEM(b, untouched, sizeof(b));

	CHECK_EQ(esp_cipher_make(&lazy, key, sizeof(key), true), 0);
	EVP_CIPHER_CTX *first = lazy.ctx;
	CHECK(first != NULL);
	CHECK_EQ(esp_cipher_make(&lazy, key, sizeof(key), true), 0);
	CHECK(lazy.ctx == first);
	CHECK_EQ(esp_cipher_init(&eager, ESP_ENC_AES_CBC, key, sizeof(key), true), 0);
	for (int round = 0; round < 2; round++) {
		CHECK_EQ(esp_cipher_encrypt_chained(&eager, a, 64), 0);
		CHECK_EQ(esp_cipher_encrypt_chained(&lazy, b, 64), 0);
		CHECK_MEM(a, b, sizeof(a));
	}
	CHECK(memcmp(a, untouched, sizeof(a)) != 0);
	esp_cipher_free(&lazy);
	CHECK(lazy.ctx == NULL);
	esp_cipher_free(&eager);

	/* the NULL cipher has nothing to key and passes data as it is */
	esp_cipher_defer(&none, ESP_ENC_NULL);
	memcpy(b, untouched, sizeof(b));
	CHECK_EQ(esp_cipher_encrypt_chained(&none, b, 64), 0);
	CHECK_EQ(esp_cipher_make(&none, NULL, 0, true), 0);
	CHECK(none.ctx == NULL);
	CHECK_MEM(b, untouched, sizeof(b));
}

/* Every byte of an ICV counts, at both lengths esp_icv_equal() takes
 * (the 12-byte way and CRYPTO_memcmp's): one flipped bit anywhere, or a
 * byte changed whole, is a mismatch. */
static void test_icv_equal(void)
{
	uint8_t a[ESP_MAX_DIGEST], b[ESP_MAX_DIGEST];

	for (size_t i = 0; i < sizeof(a); i++)
		a[i] = (uint8_t)(0xa0 + i * 7);
	for (size_t len = ESP_ICV_LEN; len <= ESP_MAX_DIGEST; len += ESP_MAX_DIGEST - ESP_ICV_LEN) {
		unsigned missed = 0;
		memcpy(b, a, sizeof(b));
		CHECK(esp_icv_equal(a, b, len));
		b[len - 1] ^= 0x80;
		CHECK(!esp_icv_equal(a, b, len));
		b[len - 1] ^= 0x80;
		for (size_t i = 0; i < len; i++) {
			for (unsigned bit = 0; bit < 8; bit++) {
				b[i] ^= (uint8_t)(1u << bit);
				missed += esp_icv_equal(a, b, len);
				b[i] ^= (uint8_t)(1u << bit);
			}
			b[i] = (uint8_t)~a[i];
			missed += esp_icv_equal(a, b, len);
			b[i] = a[i];
		}
		CHECK_EQ(missed, 0);
		/* what lies past the ICV is not compared */
		b[len - 1] = a[len - 1];
		if (len < sizeof(b)) {
			b[len] ^= 0xff;
			CHECK(esp_icv_equal(a, b, len));
		}
	}
}

int main(void)
{
	test_hmac();
	test_aes_cbc();
	test_3des();
	test_key_lengths();
	test_deferred();
	test_icv_equal();
	return check_done("test_crypto");
}
