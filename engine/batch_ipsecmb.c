/* The multi-buffer backend: Intel's intel-ipsec-mb library (Debian's
 * libipsec-mb-dev) interleaves the CBC and HMAC work of many packets on
 * one core. It covers AES-CBC (128/192/256) and 3DES-CBC, each with
 * HMAC-SHA-1-96, HMAC-MD5-96 or no integrity; the NULL cipher goes the
 * OpenSSL way.
 *
 * A packet is one job: CBC over R || plaintext under a zero IV (so the
 * first block out is the IV E_K(R), as crypto.c makes it), then the HMAC
 * over header, IV and ciphertext. Jobs share nothing mutable, so no SA
 * lock is taken while they run; their keys are read-only once made. */
#include "engine/batch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "engine/sa.h"

/* without the library's pre-1.0 short names (MD5, SHA1, ...), which
 * would clash with OpenSSL's functions of those names */
#define NO_COMPAT_IMB_API_053
#include <intel-ipsec-mb.h>

#define ESP_HDR_LEN 8
#define HMAC_BLOCK 64
#define AES_SCHED_WORDS (4 * 15)	/* 15 round keys for AES-256 */
#define DES_SCHED_WORDS 16

/* An SA's keys in the library's form: what every job reads first, so
 * that a packet of an AES-128 SA needs four cache lines of it (three and
 * a bit for the schedule of its direction, esp_mb_keys_prefetch). */
struct mb_keys {
	IMB_CIPHER_MODE cipher;
	IMB_HASH_ALG hash;
	uint32_t key_len;
	uint32_t iv_len;
	uint8_t ipad[32];		/* hash state after K xor ipad */
	uint8_t opad[32];
	union {				/* one cipher per SA */
		struct {
			uint32_t aes_enc[AES_SCHED_WORDS];
			uint32_t aes_dec[AES_SCHED_WORDS];
		};
		struct {
			uint64_t des[3][DES_SCHED_WORDS];
			const void *des_ptrs[3];	/* 3DES jobs take an array of three */
		};
	} __attribute__((aligned(16)));
};

/* A zero IV, which the first block (R) turns into E_K(R). */
static const uint8_t zero_iv[16] __attribute__((aligned(16)));

static size_t mgr_size(void)
{
	/* said to be 64-aligned, but 1.3's is not: aligned_alloc needs it */
	return (imb_get_mb_mgr_size() + 63) / 64 * 64;
}

/* The manager lives in memory of ours, so that it can be wiped when
 * freed: its lanes keep copies of what jobs carried (HMAC states derived
 * from keys among them). */
static void mgr_free(IMB_MGR *m)
{
	if (!m)
		return;
	OPENSSL_cleanse(m, mgr_size());
	free(m);
}

static IMB_MGR *mgr_new(void)
{
	void *mem = aligned_alloc(64, mgr_size());
	IMB_ARCH arch = IMB_ARCH_NONE;

	if (!mem)
		return NULL;
	IMB_MGR *m = imb_set_pointers_mb_mgr(mem, 0, 1);
	if (m != mem) {		/* mgr_free() frees what it is given */
		free(mem);
		return NULL;
	}
	init_mb_mgr_auto(m, &arch);
	/* the no-AES-NI fallback would be slower than OpenSSL's */
	if (imb_get_errno(m) || arch < IMB_ARCH_SSE) {
		mgr_free(m);
		return NULL;
	}
	return m;
}

int esp_mb_check(const char **why)
{
	IMB_MGR *m = mgr_new();

	if (!m) {
		*why = "the ipsec-mb backend needs a CPU with AES-NI (or out of memory)";
		return -ENODEV;
	}
	mgr_free(m);
	return 0;
}

void *esp_mb_new(void)
{
	return mgr_new();
}

void esp_mb_free(void *mb)
{
	mgr_free(mb);
}

void esp_mb_keys_free(void *keys)
{
	if (!keys)
		return;
	OPENSSL_cleanse(keys, sizeof(struct mb_keys));
	free(keys);
}

void esp_mb_keys_prefetch(const void *keys, bool outbound)
{
	const struct mb_keys *k = keys;
	const char *sched = outbound ? (const char *)k->aes_enc : (const char *)k->aes_dec;

	/* the parameters and HMAC states, then an AES-128 schedule (11
	 * round keys; longer ones and 3DES's only in part) */
	__builtin_prefetch(k);
	for (size_t off = 0; off < 11 * 16; off += 64)
		__builtin_prefetch(sched + off);
	__builtin_prefetch(sched + 11 * 16 - 1);
}

/* RFC 2104's inner and outer states, as the library wants them: one
 * compression of K xor ipad (opad), no padding. */
static void hmac_states(IMB_MGR *m, struct mb_keys *k, enum esp_auth alg,
			const uint8_t *key, size_t key_len)
{
	uint8_t pad[HMAC_BLOCK];

	for (int which = 0; which < 2; which++) {
		uint8_t x = which ? 0x5c : 0x36;
		uint8_t *out = which ? k->opad : k->ipad;
		memset(pad, x, sizeof(pad));
		for (size_t i = 0; i < key_len; i++)	/* keys are 16 or 20 bytes */
			pad[i] ^= key[i];
		if (alg == ESP_AUTH_HMAC_SHA1_96)
			IMB_SHA1_ONE_BLOCK(m, pad, out);
		else
			IMB_MD5_ONE_BLOCK(m, pad, out);
	}
	OPENSSL_cleanse(pad, sizeof(pad));
}

static bool covered(const struct esp_sa_params *p)
{
	return p->enc == ESP_ENC_AES_CBC || p->enc == ESP_ENC_3DES_CBC;
}

static struct mb_keys *keys_new(IMB_MGR *m, const struct esp_sa_params *p)
{
	struct mb_keys *k = aligned_alloc(64, (sizeof(*k) + 63) / 64 * 64);

	if (!k)
		return NULL;
	memset(k, 0, sizeof(*k));
	k->key_len = p->enc_key_len;
	k->iv_len = esp_enc_info(p->enc)->iv_len;
	if (p->enc == ESP_ENC_AES_CBC) {
		k->cipher = IMB_CIPHER_CBC;
		if (p->enc_key_len == 16)
			IMB_AES_KEYEXP_128(m, p->enc_key, k->aes_enc, k->aes_dec);
		else if (p->enc_key_len == 24)
			IMB_AES_KEYEXP_192(m, p->enc_key, k->aes_enc, k->aes_dec);
		else
			IMB_AES_KEYEXP_256(m, p->enc_key, k->aes_enc, k->aes_dec);
	} else {
		k->cipher = IMB_CIPHER_DES3;
		for (int i = 0; i < 3; i++) {
			IMB_DES_KEYSCHED(m, k->des[i], p->enc_key + 8 * i);
			k->des_ptrs[i] = k->des[i];
		}
	}
	switch (p->auth) {
	case ESP_AUTH_HMAC_SHA1_96:
		k->hash = IMB_AUTH_HMAC_SHA_1;
		break;
	case ESP_AUTH_HMAC_MD5_96:
		k->hash = IMB_AUTH_MD5;
		break;
	default:
		k->hash = IMB_AUTH_NULL;
		return k;
	}
	hmac_states(m, k, p->auth, p->auth_key, p->auth_key_len);
	return k;
}

/* The SA's keys, made on first use; NULL when the library does not cover
 * its algorithms or memory ran out (the OpenSSL way then). */
static const struct mb_keys *sa_keys(IMB_MGR *m, struct esp_sa *sa)
{
	struct mb_keys *k = __atomic_load_n(&sa->batch_keys, __ATOMIC_ACQUIRE);

	if (k || !covered(&sa->p))
		return k;
	spin_lock(&sa->lock);
	k = sa->batch_keys;
	if (!k && (k = keys_new(m, &sa->p)))
		__atomic_store_n(&sa->batch_keys, k, __ATOMIC_RELEASE);
	spin_unlock(&sa->lock);
	return k;
}

/* The SA's key schedules, as the job's cipher wants them. */
static void set_cipher_keys(IMB_JOB *job, const struct mb_keys *k)
{
	job->key_len_in_bytes = k->key_len;
	if (k->cipher == IMB_CIPHER_DES3) {
		job->enc_keys = k->des_ptrs;
		job->dec_keys = k->des_ptrs;
	} else {
		job->enc_keys = k->aes_enc;
		job->dec_keys = k->aes_dec;
	}
}

static void fill_job(IMB_JOB *job, const struct mb_keys *k, struct esp_seal_op *op)
{
	uint32_t covered_len = ESP_HDR_LEN + k->iv_len + op->ct_len;

	job->cipher_mode = k->cipher;
	job->cipher_direction = IMB_DIR_ENCRYPT;
	job->chain_order = IMB_ORDER_CIPHER_HASH;
	set_cipher_keys(job, k);
	job->src = op->esp;
	job->dst = op->esp + ESP_HDR_LEN;
	job->cipher_start_src_offset_in_bytes = ESP_HDR_LEN;
	job->msg_len_to_cipher_in_bytes = k->iv_len + op->ct_len;
	job->iv = zero_iv;
	job->iv_len_in_bytes = k->iv_len;
	job->hash_alg = k->hash;
	job->hash_start_src_offset_in_bytes = 0;
	job->msg_len_to_hash_in_bytes = covered_len;
	if (k->hash == IMB_AUTH_NULL) {
		job->auth_tag_output = NULL;
		job->auth_tag_output_len_in_bytes = 0;
	} else {
		job->auth_tag_output = op->esp + covered_len;
		job->auth_tag_output_len_in_bytes = ESP_ICV_LEN;
		job->u.HMAC._hashed_auth_key_xor_ipad = k->ipad;
		job->u.HMAC._hashed_auth_key_xor_opad = k->opad;
	}
	job->user_data = &op->status;
}

/* What the library would refuse: whole blocks, at least one. The engine
 * never hands anything else; should it, OpenSSL's way takes the op. */
static bool job_ok(const struct mb_keys *k, uint32_t ct_len)
{
	uint32_t block = k->iv_len;	/* CBC: IV and block are one size */

	return ct_len && ct_len % block == 0;
}

/* Jobs come back in any order: user_data points at the status of the op
 * each one is for.
 *
 * Without the library's per-job validation (about a tenth of the time
 * of a small packet): every field comes from a validated SA and lengths
 * that job_ok() checked. */
static void submit(IMB_MGR *m)
{
	IMB_JOB *job;

	for (job = IMB_SUBMIT_JOB_NOCHECK(m); job; job = IMB_GET_COMPLETED_JOB(m))
		*(int *)job->user_data = job->status == IMB_STATUS_COMPLETED ? 0 : -EIO;
}

static void flush(IMB_MGR *m)
{
	IMB_JOB *job;

	while ((job = IMB_FLUSH_JOB(m)) != NULL)
		*(int *)job->user_data = job->status == IMB_STATUS_COMPLETED ? 0 : -EIO;
}

void esp_mb_seal(void *mb, struct esp_seal_op *ops, unsigned n)
{
	IMB_MGR *m = mb;

	for (unsigned i = 0; i < n; i++) {
		struct esp_seal_op *op = &ops[i];
		const struct mb_keys *k = sa_keys(m, op->sa);
		if (!k || !job_ok(k, op->ct_len)) {
			op->status = esp_seal_openssl(op->sa, op->esp, op->ct_len);
			continue;
		}
		op->status = -EIO;	/* until its job says otherwise */
		fill_job(IMB_GET_NEXT_JOB(m), k, op);
		submit(m);
	}
	flush(m);
}

/* HMAC alone, into op->mac: the NULL cipher leaves the packet as it is. */
static void fill_mac_job(IMB_JOB *job, const struct mb_keys *k, struct esp_open_op *op)
{
	job->cipher_mode = IMB_CIPHER_NULL;
	job->cipher_direction = IMB_DIR_DECRYPT;
	job->chain_order = IMB_ORDER_HASH_CIPHER;
	job->src = op->esp;
	job->dst = op->esp + ESP_HDR_LEN;
	job->cipher_start_src_offset_in_bytes = ESP_HDR_LEN;
	job->msg_len_to_cipher_in_bytes = 0;
	job->hash_alg = k->hash;
	job->hash_start_src_offset_in_bytes = 0;
	job->msg_len_to_hash_in_bytes = ESP_HDR_LEN + k->iv_len + op->ct_len;
	job->auth_tag_output = op->mac;
	job->auth_tag_output_len_in_bytes = ESP_ICV_LEN;
	job->u.HMAC._hashed_auth_key_xor_ipad = k->ipad;
	job->u.HMAC._hashed_auth_key_xor_opad = k->opad;
	job->user_data = &op->status;
}

/* CBC decryption alone, under the IV the packet carries. */
static void fill_decrypt_job(IMB_JOB *job, const struct mb_keys *k, struct esp_open_op *op)
{
	job->cipher_mode = k->cipher;
	job->cipher_direction = IMB_DIR_DECRYPT;
	job->chain_order = IMB_ORDER_HASH_CIPHER;
	set_cipher_keys(job, k);
	job->src = op->esp;
	job->dst = op->esp + ESP_HDR_LEN + k->iv_len;
	job->cipher_start_src_offset_in_bytes = ESP_HDR_LEN + k->iv_len;
	job->msg_len_to_cipher_in_bytes = op->ct_len;
	job->iv = op->esp + ESP_HDR_LEN;
	job->iv_len_in_bytes = k->iv_len;
	job->hash_alg = IMB_AUTH_NULL;
	job->auth_tag_output = NULL;
	job->auth_tag_output_len_in_bytes = 0;
	job->user_data = &op->status;
}

void esp_mb_mac(void *mb, struct esp_open_op *ops, unsigned n)
{
	IMB_MGR *m = mb;

	for (unsigned i = 0; i < n; i++) {
		struct esp_open_op *op = &ops[i];
		const struct mb_keys *k = sa_keys(m, op->sa);
		if (!k || !job_ok(k, op->ct_len)) {
			op->status = esp_mac_openssl(op->sa, op->esp, op->ct_len, op->mac);
			continue;
		}
		op->status = -EIO;
		fill_mac_job(IMB_GET_NEXT_JOB(m), k, op);
		submit(m);
	}
	flush(m);
}

void esp_mb_decrypt(void *mb, struct esp_open_op *ops, unsigned n)
{
	IMB_MGR *m = mb;

	for (unsigned i = 0; i < n; i++) {
		struct esp_open_op *op = &ops[i];
		const struct mb_keys *k = sa_keys(m, op->sa);
		if (!k || !job_ok(k, op->ct_len)) {
			op->status = esp_decrypt_openssl(op->sa, op->esp, op->ct_len);
			continue;
		}
		op->status = -EIO;
		fill_decrypt_job(IMB_GET_NEXT_JOB(m), k, op);
		submit(m);
	}
	flush(m);
}
