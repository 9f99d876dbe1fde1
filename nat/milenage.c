#include "nat/milenage.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

/* TS 35.206 4.1 leaves r1..r5 and c1..c5 to the operator and gives these
 * defaults, which TS 35.207/35.208 test with: rotations in whole bytes,
 * constants that set one bit of the last byte. */
enum {
	R1 = 8, R2 = 0, R3 = 4, R4 = 8, R5 = 12,	/* in bytes: 64, 0, 32, 64, 96 bits */
	C1 = 0x00, C2 = 0x01, C3 = 0x02, C4 = 0x04, C5 = 0x08,
};

/* The kernel function E_K (AES-128), and TEMP = E_K(RAND xor OPc), which
 * every f starts from: one context per call, not a per-packet path. */
struct milenage {
	EVP_CIPHER_CTX *ctx;
	uint8_t opc[16];
	uint8_t temp[16];
};

/* The f2..f5 outputs, kept together so that callers copy out only what
 * they want and wipe the rest. */
struct f2345 {
	uint8_t res[8];
	uint8_t ck[16];
	uint8_t ik[16];
	uint8_t ak[6];
	uint8_t ak_star[6];
};

static int encrypt_block(struct milenage *m, const uint8_t in[16], uint8_t out[16])
{
	int len = 0;

	if (EVP_EncryptUpdate(m->ctx, out, &len, in, 16) != 1 || len != 16)
		return -EIO;
	return 0;
}

static void xor_block(uint8_t *dst, const uint8_t *a, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = a[i] ^ b[i];
}

static void session_close(struct milenage *m)
{
	EVP_CIPHER_CTX_free(m->ctx);	/* cleanses the key schedule */
	m->ctx = NULL;
	OPENSSL_cleanse(m->opc, sizeof(m->opc));
	OPENSSL_cleanse(m->temp, sizeof(m->temp));
}

static int kernel_open(struct milenage *m, const uint8_t k[16])
{
	EVP_CIPHER *aes = EVP_CIPHER_fetch(NULL, "AES-128-ECB", NULL);

	memset(m, 0, sizeof(*m));
	if (!aes)
		return -ENOMEM;
	m->ctx = EVP_CIPHER_CTX_new();
	int ok = m->ctx &&
		 EVP_EncryptInit_ex(m->ctx, aes, NULL, k, NULL) == 1 &&
		 EVP_CIPHER_CTX_set_padding(m->ctx, 0) == 1;
	EVP_CIPHER_free(aes);	/* the context holds its own reference */
	if (!m->ctx)
		return -ENOMEM;
	if (!ok) {
		session_close(m);
		return -EIO;
	}
	return 0;
}

/* Keys the kernel with @k and computes TEMP for @rand. On failure nothing
 * is left to close. */
static int session_open(struct milenage *m, const uint8_t k[16],
			const uint8_t opc[16], const uint8_t rand[16])
{
	uint8_t in[16];
	int ret = kernel_open(m, k);

	if (ret)
		return ret;
	memcpy(m->opc, opc, 16);
	xor_block(in, rand, opc, 16);
	ret = encrypt_block(m, in, m->temp);
	OPENSSL_cleanse(in, sizeof(in));
	if (ret)
		session_close(m);
	return ret;
}

/* OUT = E_K(rot(@x xor OPc, @r) xor c xor @mask) xor OPc with c the
 * constant @c in the last byte: the shape of every output block of TS
 * 35.206 4.1. f1 rotates IN1 and masks with TEMP; f2..f5 rotate TEMP
 * itself and take no mask (NULL). rot() moves @r bytes towards the most
 * significant end, which is the front in this byte order. */
static int out_block(struct milenage *m, const uint8_t x[16], const uint8_t *mask,
		     unsigned r, uint8_t c, uint8_t out[16])
{
	uint8_t in[16], enc[16];
	int ret;

	for (unsigned i = 0; i < 16; i++) {
		unsigned j = (i + r) % 16;
		in[i] = x[j] ^ m->opc[j];
		if (mask)
			in[i] ^= mask[i];
	}
	in[15] ^= c;
	ret = encrypt_block(m, in, enc);
	if (!ret)
		xor_block(out, enc, m->opc, 16);
	OPENSSL_cleanse(in, sizeof(in));
	OPENSSL_cleanse(enc, sizeof(enc));
	return ret;
}

/* OUT1 of f1/f1*: MAC-A is its first half, MAC-S its second. */
static int session_f1(struct milenage *m, const uint8_t sqn[6],
		      const uint8_t amf[2], uint8_t out1[16])
{
	uint8_t in1[16];
	int ret;

	memcpy(in1, sqn, 6);
	memcpy(in1 + 6, amf, 2);
	memcpy(in1 + 8, in1, 8);
	ret = out_block(m, in1, m->temp, R1, C1, out1);
	OPENSSL_cleanse(in1, sizeof(in1));
	return ret;
}

static int session_f2345(struct milenage *m, struct f2345 *o)
{
	uint8_t out[16];
	int ret;

	/* OUT2 carries both f5 (AK, the front) and f2 (RES, the back) */
	ret = out_block(m, m->temp, NULL, R2, C2, out);
	if (ret)
		goto done;
	memcpy(o->ak, out, 6);
	memcpy(o->res, out + 8, 8);
	ret = out_block(m, m->temp, NULL, R3, C3, o->ck);
	if (ret)
		goto done;
	ret = out_block(m, m->temp, NULL, R4, C4, o->ik);
	if (ret)
		goto done;
	ret = out_block(m, m->temp, NULL, R5, C5, out);
	if (ret)
		goto done;
	memcpy(o->ak_star, out, 6);
done:
	OPENSSL_cleanse(out, sizeof(out));
	return ret;
}

static void copy_out(uint8_t *dst, const uint8_t *src, size_t n)
{
	if (dst)
		memcpy(dst, src, n);
}

int milenage_opc(const uint8_t k[16], const uint8_t op[16], uint8_t opc[16])
{
	struct milenage m;
	uint8_t enc[16];
	int ret;

	if (!k || !op || !opc)
		return -EINVAL;
	ret = kernel_open(&m, k);
	if (ret)
		return ret;
	ret = encrypt_block(&m, op, enc);
	if (!ret)
		xor_block(opc, enc, op, 16);
	session_close(&m);
	OPENSSL_cleanse(enc, sizeof(enc));
	return ret;
}

int milenage_f1(const uint8_t k[16], const uint8_t opc[16],
		const uint8_t rand[16], const uint8_t sqn[6],
		const uint8_t amf[2], uint8_t mac_a[8], uint8_t mac_s[8])
{
	struct milenage m;
	uint8_t out1[16];
	int ret;

	if (!k || !opc || !rand || !sqn || !amf)
		return -EINVAL;
	ret = session_open(&m, k, opc, rand);
	if (ret)
		return ret;
	ret = session_f1(&m, sqn, amf, out1);
	session_close(&m);
	if (!ret) {
		copy_out(mac_a, out1, 8);
		copy_out(mac_s, out1 + 8, 8);
	}
	OPENSSL_cleanse(out1, sizeof(out1));
	return ret;
}

int milenage_f2345(const uint8_t k[16], const uint8_t opc[16],
		   const uint8_t rand[16], uint8_t res[8], uint8_t ck[16],
		   uint8_t ik[16], uint8_t ak[6], uint8_t ak_star[6])
{
	struct milenage m;
	struct f2345 o;
	int ret;

	if (!k || !opc || !rand)
		return -EINVAL;
	ret = session_open(&m, k, opc, rand);
	if (ret)
		return ret;
	ret = session_f2345(&m, &o);
	session_close(&m);
	if (!ret) {
		copy_out(res, o.res, sizeof(o.res));
		copy_out(ck, o.ck, sizeof(o.ck));
		copy_out(ik, o.ik, sizeof(o.ik));
		copy_out(ak, o.ak, sizeof(o.ak));
		copy_out(ak_star, o.ak_star, sizeof(o.ak_star));
	}
	OPENSSL_cleanse(&o, sizeof(o));
	return ret;
}

int aka_make_vector(const uint8_t k[16], const uint8_t opc[16],
		    const uint8_t rand[16], const uint8_t sqn[6],
		    const uint8_t amf[2], struct aka_vector *v)
{
	struct milenage m;
	struct f2345 o;
	struct aka_vector nv;
	uint8_t out1[16];
	int ret;

	if (!k || !opc || !rand || !sqn || !amf || !v)
		return -EINVAL;
	ret = session_open(&m, k, opc, rand);
	if (ret)
		return ret;
	ret = session_f2345(&m, &o);
	if (!ret)
		ret = session_f1(&m, sqn, amf, out1);
	session_close(&m);
	if (!ret) {
		memcpy(nv.rand, rand, 16);
		xor_block(nv.autn, sqn, o.ak, 6);
		memcpy(nv.autn + 6, amf, 2);
		memcpy(nv.autn + 8, out1, 8);
		memcpy(nv.xres, o.res, 8);
		memcpy(nv.ck, o.ck, 16);
		memcpy(nv.ik, o.ik, 16);
		*v = nv;
	}
	OPENSSL_cleanse(&o, sizeof(o));
	OPENSSL_cleanse(&nv, sizeof(nv));
	OPENSSL_cleanse(out1, sizeof(out1));
	return ret;
}

int aka_respond(const uint8_t k[16], const uint8_t opc[16],
		const uint8_t rand[16], const uint8_t autn[16],
		uint8_t res[8], uint8_t ck[16], uint8_t ik[16], uint8_t sqn[6])
{
	struct milenage m;
	struct f2345 o;
	uint8_t got_sqn[6], xmac[16];
	int ret;

	if (!k || !opc || !rand || !autn || !res || !ck || !ik || !sqn)
		return -EINVAL;
	ret = session_open(&m, k, opc, rand);
	if (ret)
		return ret;
	ret = session_f2345(&m, &o);
	if (!ret) {
		xor_block(got_sqn, autn, o.ak, 6);
		ret = session_f1(&m, got_sqn, autn + 6, xmac);
	}
	session_close(&m);
	if (!ret && CRYPTO_memcmp(xmac, autn + 8, 8) != 0)
		ret = -EBADMSG;
	if (!ret) {
		memcpy(res, o.res, 8);
		memcpy(ck, o.ck, 16);
		memcpy(ik, o.ik, 16);
		memcpy(sqn, got_sqn, 6);
	}
	OPENSSL_cleanse(&o, sizeof(o));
	OPENSSL_cleanse(got_sqn, sizeof(got_sqn));
	OPENSSL_cleanse(xmac, sizeof(xmac));
	return ret;
}

/* TS 33.102 6.3.3: MAC-S takes a dummy AMF of all zeros, so that the
 * resynchronisation message need not carry one. */
static const uint8_t resync_amf[2] = { 0x00, 0x00 };

int aka_make_auts(const uint8_t k[16], const uint8_t opc[16],
		  const uint8_t rand[16], const uint8_t sqn_ms[6],
		  uint8_t auts[14])
{
	struct milenage m;
	struct f2345 o;
	uint8_t out1[16];
	int ret;

	if (!k || !opc || !rand || !sqn_ms || !auts)
		return -EINVAL;
	ret = session_open(&m, k, opc, rand);
	if (ret)
		return ret;
	ret = session_f2345(&m, &o);
	if (!ret)
		ret = session_f1(&m, sqn_ms, resync_amf, out1);
	session_close(&m);
	if (!ret) {
		/* sqn_ms may be auts itself: conceal it before MAC-S lands */
		xor_block(auts, sqn_ms, o.ak_star, 6);
		memcpy(auts + 6, out1 + 8, 8);
	}
	OPENSSL_cleanse(&o, sizeof(o));
	OPENSSL_cleanse(out1, sizeof(out1));
	return ret;
}

int aka_check_auts(const uint8_t k[16], const uint8_t opc[16],
		   const uint8_t rand[16], const uint8_t auts[14],
		   uint8_t sqn_ms[6])
{
	struct milenage m;
	struct f2345 o;
	uint8_t got_sqn[6], xmac[16];
	int ret;

	if (!k || !opc || !rand || !auts || !sqn_ms)
		return -EINVAL;
	ret = session_open(&m, k, opc, rand);
	if (ret)
		return ret;
	ret = session_f2345(&m, &o);
	if (!ret) {
		xor_block(got_sqn, auts, o.ak_star, 6);
		ret = session_f1(&m, got_sqn, resync_amf, xmac);
	}
	session_close(&m);
	if (!ret && CRYPTO_memcmp(xmac + 8, auts + 6, 8) != 0)
		ret = -EBADMSG;
	if (!ret)
		memcpy(sqn_ms, got_sqn, 6);
	OPENSSL_cleanse(&o, sizeof(o));
	OPENSSL_cleanse(got_sqn, sizeof(got_sqn));
	OPENSSL_cleanse(xmac, sizeof(xmac));
	return ret;
}
