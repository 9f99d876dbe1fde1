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
#define AES_SCHED_MAX (15 * 16)	/* 15 round keys for AES-256 */
#define DES_SCHED_WORDS 16

/* 3DES's schedules: the same for both directions; jobs take an array of
 * pointers to the three. */
struct des3_sched {
	const void *ptrs[3];
	uint64_t sched[3][DES_SCHED_WORDS];
};

/* An SA's keys in the library's form, what every job reads first: the
 * parameters, the HMAC states, and then only the schedules the SA's
 * directions use (an outbound AES-128 SA: 48 + 176 bytes, where both
 * whole schedules and 32-byte pads took 576; `espnat bench --sas` holds a
 * million). A packet reads four or five cache lines of it
 * (esp_mb_keys_prefetch). */
struct mb_keys {
	uint8_t cipher;			/* IMB_CIPHER_MODE */
	uint8_t hash;			/* IMB_HASH_ALG */
	uint8_t key_len;
	uint8_t iv_len;
	uint8_t dirs;			/* KEYS_ENCRYPT | KEYS_DECRYPT */
	uint8_t dec_off;		/* AES: where in sched[] decryption's is */
	uint16_t size;			/* of the whole allocation */
	uint8_t ipad[ESP_MAX_DIGEST];	/* hash state after K xor ipad */
	uint8_t opad[ESP_MAX_DIGEST];
	/* AES: encryption's schedule first (outbound), then decryption's
	 * (inbound); an SA of one direction has only its own. 3DES: a
	 * struct des3_sched. */
	uint8_t sched[] __attribute__((aligned(16)));
};

#define KEYS_ENCRYPT 1
#define KEYS_DECRYPT 2

_Static_assert(AES_SCHED_MAX <= UINT8_MAX, "dec_off holds an AES schedule's length");
_Static_assert(sizeof(struct mb_keys) == 48, "the header the comment above counts");

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
	OPENSSL_cleanse(keys, ((struct mb_keys *)keys)->size);
	free(keys);
}

void esp_mb_keys_prefetch(const void *keys, bool outbound)
{
	const struct mb_keys *k = keys;
	const char *sched = (const char *)k->sched + (outbound ? 0 : k->dec_off);

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

/* One AES schedule's bytes: Nr + 1 round keys. */
static size_t aes_sched_len(size_t key_len)
{
	return (key_len / 4 + 7) * 16;
}

/* The AES schedules @k's directions use, copied out of the library's
 * expansion (which always makes both). */
static void aes_schedules(IMB_MGR *m, struct mb_keys *k, const uint8_t *key)
{
	uint8_t enc[AES_SCHED_MAX] __attribute__((aligned(16)));
	uint8_t dec[AES_SCHED_MAX] __attribute__((aligned(16)));
	size_t len = aes_sched_len(k->key_len);

	if (k->key_len == 16)
		IMB_AES_KEYEXP_128(m, key, enc, dec);
	else if (k->key_len == 24)
		IMB_AES_KEYEXP_192(m, key, enc, dec);
	else
		IMB_AES_KEYEXP_256(m, key, enc, dec);
	if (k->dirs & KEYS_ENCRYPT)
		memcpy(k->sched, enc, len);
	if (k->dirs & KEYS_DECRYPT)
		memcpy(k->sched + k->dec_off, dec, len);
	OPENSSL_cleanse(enc, sizeof(enc));
	OPENSSL_cleanse(dec, sizeof(dec));
}

static void des3_schedules(IMB_MGR *m, struct mb_keys *k, const uint8_t *key)
{
	struct des3_sched *d = (struct des3_sched *)k->sched;

	for (int i = 0; i < 3; i++) {
		IMB_DES_KEYSCHED(m, d->sched[i], key + 8 * i);
		d->ptrs[i] = d->sched[i];
	}
}

static struct mb_keys *keys_new(IMB_MGR *m, const struct esp_sa *sa)
{
	const struct esp_sa_params *p = &sa->p;
	bool aes = p->enc == ESP_ENC_AES_CBC;
	uint8_t dirs = (esp_sa_is_outbound(sa) ? KEYS_ENCRYPT : 0) |
		       (esp_sa_is_inbound(sa) ? KEYS_DECRYPT : 0);
	size_t one = aes ? aes_sched_len(p->enc_key_len) : sizeof(struct des3_sched);
	size_t size = sizeof(struct mb_keys) +
		      (aes && dirs == (KEYS_ENCRYPT | KEYS_DECRYPT) ? 2 * one : one);
	/* malloc's 16-byte alignment is what the schedules need */
	struct mb_keys *k = malloc(size);

	if (!k)
		return NULL;
	memset(k, 0, size);
	k->size = (uint16_t)size;
	k->dirs = dirs;
	k->key_len = p->enc_key_len;
	k->iv_len = esp_enc_info(p->enc)->iv_len;
	if (aes) {
		k->cipher = IMB_CIPHER_CBC;
		k->dec_off = dirs & KEYS_ENCRYPT ? (uint8_t)one : 0;
		aes_schedules(m, k, p->enc_key);
	} else {
		k->cipher = IMB_CIPHER_DES3;
		des3_schedules(m, k, p->enc_key);
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
	if (!k && (k = keys_new(m, sa)))
		__atomic_store_n(&sa->batch_keys, k, __ATOMIC_RELEASE);
	spin_unlock(&sa->lock);
	return k;
}

/* The SA's key schedules, as the job's cipher wants them. */
static void set_cipher_keys(IMB_JOB *job, const struct mb_keys *k)
{
	job->key_len_in_bytes = k->key_len;
	if (k->cipher == IMB_CIPHER_DES3) {
		const struct des3_sched *d = (const struct des3_sched *)k->sched;
		job->enc_keys = d->ptrs;
		job->dec_keys = d->ptrs;
	} else {
		job->enc_keys = k->sched;
		job->dec_keys = k->sched + k->dec_off;
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

/* What the library would refuse (whole blocks, at least one), and a
 * direction the SA has no schedule for (@need). The engine never hands
 * either; should it, OpenSSL's way takes the op, and refuses the second
 * (esp_sa_encrypt_locked). */
static bool job_ok(const struct mb_keys *k, uint32_t ct_len, uint8_t need)
{
	uint32_t block = k->iv_len;	/* CBC: IV and block are one size */

	/* blocks are 8 or 16 bytes: a mask, not a division per packet */
	return ct_len && (ct_len & (block - 1u)) == 0 && (k->dirs & need) == need;
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
		if (!k || !job_ok(k, op->ct_len, KEYS_ENCRYPT)) {
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
		if (!k || !job_ok(k, op->ct_len, 0)) {
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
		if (!k || !job_ok(k, op->ct_len, KEYS_DECRYPT)) {
			op->status = esp_decrypt_openssl(op->sa, op->esp, op->ct_len);
			continue;
		}
		op->status = -EIO;
		fill_decrypt_job(IMB_GET_NEXT_JOB(m), k, op);
		submit(m);
	}
	flush(m);
}
