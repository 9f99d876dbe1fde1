/* The benchmark's engines and SAs, and the names of what it measures. */
#include "tools/bench/fixture.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "engine/csum.h"
#include "engine/engine.h"
#include "engine/ip.h"
#include "tools/clock.h"

const uint16_t bench_imix[BENCH_IMIX_LEN] = {
	64, 576, 64, 64, 576, 64, 1400, 64, 576, 64, 576, 64,
};

double bench_mean_size(uint32_t size)
{
	double sum = 0;

	if (size != BENCH_IMIX)
		return size;
	for (int i = 0; i < BENCH_IMIX_LEN; i++)
		sum += bench_imix[i];
	return sum / BENCH_IMIX_LEN;
}

static const struct {
	const char *name;
	enum esp_enc enc;
	uint8_t key_len;
} encs[] = {
	{ "null", ESP_ENC_NULL, 0 },
	{ "aes128", ESP_ENC_AES_CBC, 16 },
	{ "aes192", ESP_ENC_AES_CBC, 24 },
	{ "aes256", ESP_ENC_AES_CBC, 32 },
	{ "3des", ESP_ENC_3DES_CBC, 24 },
};

static const struct {
	const char *name;
	enum esp_auth auth;
} auths[] = {
	{ "md5", ESP_AUTH_HMAC_MD5_96 },
	{ "sha1", ESP_AUTH_HMAC_SHA1_96 },
};

#define N_ENCS (sizeof(encs) / sizeof(encs[0]))
#define N_AUTHS (sizeof(auths) / sizeof(auths[0]))

int bench_alg_parse(const char *s, struct bench_alg *out)
{
	const char *dash = strchr(s, '-');

	if (!dash)
		return -1;
	for (size_t i = 0; i < N_ENCS; i++) {
		if (strlen(encs[i].name) != (size_t)(dash - s) ||
		    strncasecmp(s, encs[i].name, (size_t)(dash - s)) != 0)
			continue;
		for (size_t k = 0; k < N_AUTHS; k++) {
			if (strcasecmp(dash + 1, auths[k].name) == 0) {
				*out = (struct bench_alg){ encs[i].enc, encs[i].key_len,
							   auths[k].auth };
				return 0;
			}
		}
	}
	return -1;
}

void bench_alg_name(const struct bench_alg *a, char *buf, size_t len)
{
	const char *e = "?", *h = "?";

	for (size_t i = 0; i < N_ENCS; i++)
		if (encs[i].enc == a->enc && encs[i].key_len == a->enc_key_len)
			e = encs[i].name;
	for (size_t k = 0; k < N_AUTHS; k++)
		if (auths[k].auth == a->auth)
			h = auths[k].name;
	snprintf(buf, len, "%s-%s", e, h);
}

size_t bench_all_algs(struct bench_alg out[BENCH_MAX_ALGS])
{
	size_t n = 0;

	for (size_t i = 0; i < N_ENCS; i++)
		for (size_t k = 0; k < N_AUTHS && n < BENCH_MAX_ALGS; k++)
			out[n++] = (struct bench_alg){ encs[i].enc, encs[i].key_len, auths[k].auth };
	return n;
}

void bench_esp_lengths(const struct bench_alg *alg, enum bench_mode mode, uint32_t size,
		       uint32_t *enc_len, uint32_t *auth_len)
{
	const struct esp_enc_info *ei = esp_enc_info(alg->enc);
	/* transport mode encrypts what follows the IP header, tunnel mode the
	 * whole packet; then padding to the block and the 2-byte trailer */
	uint32_t payload = mode == BENCH_TRANSPORT ? size - IPV4_HDR_LEN : size;
	uint32_t block = ei->block;

	*enc_len = (payload + 2 + block - 1) / block * block;
	*auth_len = 8 + ei->iv_len + *enc_len;
}

long bench_rss_bytes(void)
{
	long pages_total, pages_resident;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return -1;
	int n = fscanf(f, "%ld %ld", &pages_total, &pages_resident);
	fclose(f);
	return n == 2 ? pages_resident * sysconf(_SC_PAGESIZE) : -1;
}

/* Addresses of SA @i: the inner flow 172.16.0.1 -> 10.0.0.0 + 1 + i, and
 * in tunnel mode outer 192.0.2.1 -> 100.64.0.0 + 1 + i. */
static void addr4(struct esp_addr *a, uint32_t v)
{
	uint8_t raw[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

	esp_addr_set(a, AF_INET, raw);
}

uint32_t bench_inner_dst(uint32_t i)
{
	return 0x0a000001u + i;
}

static void sa_params(const struct bench_fixture *f, uint32_t i, enum esp_dir dir,
		      struct esp_sa_params *p)
{
	esp_sa_params_init(p);
	p->spi = 0x100 + i;
	p->dir = dir;
	p->enc = f->alg.enc;
	p->enc_key_len = f->alg.enc_key_len;
	p->auth = f->alg.auth;
	p->auth_key_len = esp_auth_info(f->alg.auth)->key_len;
	/* the keys of a benchmark: any bytes, different per SA */
	for (unsigned k = 0; k < p->enc_key_len; k++)
		p->enc_key[k] = (uint8_t)(i * 7 + k * 13 + 1);
	for (unsigned k = 0; k < p->auth_key_len; k++)
		p->auth_key[k] = (uint8_t)(i * 11 + k * 17 + 3);
	addr4(&p->sel.src, BENCH_INNER_SRC);
	addr4(&p->sel.dst, bench_inner_dst(i));
	p->sel.src_plen = p->sel.dst_plen = 32;
	p->sel.proto = IPPROTO_NUM_UDP;
	if (f->mode == BENCH_TRANSPORT) {
		p->mode = ESP_MODE_TRANSPORT;
		p->src = p->sel.src;
		p->dst = p->sel.dst;
	} else {
		p->mode = ESP_MODE_TUNNEL;
		addr4(&p->src, 0xc0000201u);
		addr4(&p->dst, 0x64400001u + i);
	}
	if (f->mode == BENCH_UDP_ENC_TUN) {
		p->encap = true;
		p->encap_sport = ESP_ENCAP_PORT;
		p->encap_dport = ESP_ENCAP_PORT;
	}
}

static int install(struct bench_fixture *f, struct esp_engine *e, enum esp_dir dir,
		   char *err, size_t errlen)
{
	struct esp_sa_params p;

	for (uint32_t i = 0; i < f->nsas; i++) {
		const char *why = NULL;
		sa_params(f, i, dir, &p);
		int r = esp_engine_add_sa(e, &p, &why);
		esp_sa_params_wipe(&p);
		if (r) {
			snprintf(err, errlen, "adding SA %u of %u: %s", i + 1, f->nsas,
				 why ? why : strerror(-r));
			return -1;
		}
	}
	return 0;
}

struct bench_fixture *bench_fixture_new(const struct bench_alg *alg, enum bench_mode mode,
					uint32_t nsas, bool inbound, char *err, size_t errlen)
{
	struct bench_fixture *f = calloc(1, sizeof(*f));

	if (!f) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	f->alg = *alg;
	f->mode = mode;
	f->nsas = nsas;
	f->e_out = esp_engine_new();
	f->e_in = inbound ? esp_engine_new() : NULL;
	if (!f->e_out || (inbound && !f->e_in)) {
		snprintf(err, errlen, "out of memory");
		bench_fixture_free(f);
		return NULL;
	}
	long rss0 = bench_rss_bytes();
	uint64_t t0 = monotonic_ns();
	if (install(f, f->e_out, ESP_DIR_OUT, err, errlen) ||
	    (inbound && install(f, f->e_in, ESP_DIR_IN, err, errlen))) {
		bench_fixture_free(f);
		return NULL;
	}
	f->install_s = (double)(monotonic_ns() - t0) / 1e9;
	f->rss_bytes = bench_rss_bytes() - rss0;
	return f;
}

struct esp_sa *bench_sa_new(const struct bench_fixture *f, bool inbound, char *err,
			    size_t errlen)
{
	struct esp_sa_params p;
	struct esp_sa *sa = NULL;
	const char *why = NULL;

	sa_params(f, 0, inbound ? ESP_DIR_IN : ESP_DIR_OUT, &p);
	int r = esp_sa_create(&p, &sa, &why);
	esp_sa_params_wipe(&p);
	if (r) {
		snprintf(err, errlen, "making an SA: %s", why ? why : strerror(-r));
		return NULL;
	}
	return sa;
}

double bench_fixture_install_s(const struct bench_fixture *f)
{
	return f->install_s;
}

long bench_fixture_rss_bytes(const struct bench_fixture *f)
{
	return f->rss_bytes;
}

void bench_fixture_free(struct bench_fixture *f)
{
	if (!f)
		return;
	esp_engine_free(f->e_out);
	esp_engine_free(f->e_in);
	free(f);
}

void bench_packet(uint8_t *ip, uint32_t size, uint32_t sa)
{
	uint32_t dst = bench_inner_dst(sa);

	memset(ip, 0, IPV4_HDR_LEN + UDP_HDR_LEN);
	ip[0] = 0x45;
	put_be16(ip + 2, (uint16_t)size);
	ip[8] = 64;
	ip[9] = IPPROTO_NUM_UDP;
	put_be32(ip + 12, BENCH_INNER_SRC);
	put_be32(ip + 16, dst);
	csum_ipv4_header(ip);
	put_be16(ip + IPV4_HDR_LEN, 5060);
	put_be16(ip + IPV4_HDR_LEN + 2, 5060);
	put_be16(ip + IPV4_HDR_LEN + 4, (uint16_t)(size - IPV4_HDR_LEN));
	/* payload bytes are left as they are: the cipher does not care */
}
