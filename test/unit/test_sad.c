/* The SA database: inbound and outbound lookups, specificity, refusals,
 * removal, and many SAs; an SA's cipher keyed by its first packet. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/safile.h"
#include "engine/sad.h"
#include "test/unit/check.h"
#include "test/unit/testutil.h"

#define KEY "auth hmac(md5) 0x00112233445566778899aabbccddeeff"

static struct esp_flow flow(const char *src, const char *dst, uint8_t proto,
			    uint16_t sport, uint16_t dport)
{
	struct esp_flow f;

	esp_addr_parse(src, &f.src);
	esp_addr_parse(dst, &f.dst);
	f.proto = proto;
	f.sport = sport;
	f.dport = dport;
	return f;
}

static uint32_t out_spi(struct esp_sad *sad, struct esp_flow f)
{
	struct esp_sa *sa = esp_sad_lookup_out(sad, &f);
	return sa ? sa->p.spi : 0;
}

static void test_specificity(void)
{
	struct esp_engine *e = esp_engine_new();
	struct esp_sad *sad = esp_engine_sad(e);

	add_sa(e, "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x100 " KEY " sel src 10.0.0.0/8 dst 10.0.0.0/8 dir out");
	add_sa(e, "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x101 " KEY " sel src 10.0.0.1 dst 10.0.0.2 dir out");
	add_sa(e, "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x102 " KEY " sel src 10.0.0.1 dst 10.0.0.2 proto udp dir out");
	add_sa(e, "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x103 " KEY " sel src 10.0.0.1 dst 10.0.0.2 proto udp sport 5062 dport 5064 dir out");
	add_sa(e, "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x104 " KEY " dir in");
	/* ports with any protocol: UDP and TCP share it, ICMP does not */
	add_sa(e, "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x105 " KEY " sel src 10.0.0.1 dst 10.0.0.3 sport 5066 dport 5064 dir out");
	CHECK_EQ(out_spi(sad, flow("10.0.0.1", "10.0.0.3", 17, 5066, 5064)), 0x105);
	CHECK_EQ(out_spi(sad, flow("10.0.0.1", "10.0.0.3", 6, 5066, 5064)), 0x105);
	CHECK_EQ(out_spi(sad, flow("10.0.0.1", "10.0.0.3", 1, 0, 0)), 0x100);	/* the /8 one */
	CHECK_EQ(esp_engine_del_sa(e, 0x105, &(struct esp_addr){ AF_INET, { 10, 0, 0, 2 } }), 0);

	CHECK_EQ(out_spi(sad, flow("10.0.0.1", "10.0.0.2", 17, 5062, 5064)), 0x103);
	CHECK_EQ(out_spi(sad, flow("10.0.0.1", "10.0.0.2", 17, 5062, 5065)), 0x102);
	CHECK_EQ(out_spi(sad, flow("10.0.0.1", "10.0.0.2", 6, 5062, 5064)), 0x101);
	CHECK_EQ(out_spi(sad, flow("10.9.9.9", "10.1.1.1", 6, 1, 2)), 0x100);
	CHECK_EQ(out_spi(sad, flow("11.0.0.1", "10.0.0.2", 17, 5062, 5064)), 0);
	CHECK_EQ(out_spi(sad, flow("::1", "::2", 17, 5062, 5064)), 0);

	struct esp_addr dst;
	esp_addr_parse("10.0.0.2", &dst);
	CHECK(esp_sad_lookup_in(sad, 0x104, &dst) != NULL);
	CHECK(esp_sad_lookup_in(sad, 0x103, &dst) == NULL);	/* outbound only */
	CHECK(esp_sad_find(sad, 0x103, &dst) != NULL);

	/* removing the most specific exposes the next */
	CHECK_EQ(esp_engine_del_sa(e, 0x103, &dst), 0);
	CHECK_EQ(esp_engine_del_sa(e, 0x103, &dst), -2);
	CHECK_EQ(out_spi(sad, flow("10.0.0.1", "10.0.0.2", 17, 5062, 5064)), 0x102);
	CHECK_EQ(esp_sad_count(sad), 4);
	esp_engine_free(e);
}

static void test_ipv6_prefixes(void)
{
	struct esp_engine *e = esp_engine_new();
	struct esp_sad *sad = esp_engine_sad(e);

	add_sa(e, "src 2001:db8::1 dst 2001:db8::2 proto esp spi 0x200 " KEY
		  " sel src 2001:db8:1::/48 dst 2001:db8:2::/47 proto udp dir out");
	CHECK_EQ(out_spi(sad, flow("2001:db8:1:ffff::9", "2001:db8:3::1", 17, 1, 2)), 0x200);
	CHECK_EQ(out_spi(sad, flow("2001:db8:1:ffff::9", "2001:db8:4::1", 17, 1, 2)), 0);
	CHECK_EQ(out_spi(sad, flow("2001:db8:1:ffff::9", "2001:db8:3::1", 6, 1, 2)), 0);
	esp_engine_free(e);
}

/* Many SAs, every one found by both lookups, none found by a wrong key. */
static void test_many(void)
{
	struct esp_engine *e = esp_engine_new();
	struct esp_sad *sad = esp_engine_sad(e);
	char line[512];
	const int n = 20000;

	for (int i = 0; i < n; i++) {
		snprintf(line, sizeof(line),
			 "src 10.0.0.1 dst 10.%d.%d.2 proto esp spi %d " KEY
			 " sel src 10.0.0.1 dst 10.%d.%d.2 proto udp sport %d dport 5064",
			 i / 250, i % 250, 1000 + i, i / 250, i % 250, 1024 + i % 30000);
		add_sa(e, line);
	}
	CHECK_EQ(esp_sad_count(sad), n);
	int found_in = 0, found_out = 0, wrong = 0;
	for (int i = 0; i < n; i++) {
		char dst[32];
		struct esp_addr a;
		snprintf(dst, sizeof(dst), "10.%d.%d.2", i / 250, i % 250);
		esp_addr_parse(dst, &a);
		struct esp_sa *sa = esp_sad_lookup_in(sad, (uint32_t)(1000 + i), &a);
		found_in += sa && sa->p.spi == (uint32_t)(1000 + i);
		wrong += esp_sad_lookup_in(sad, (uint32_t)(1000 + i + 1), &a) != NULL &&
			 i + 1 < n && (i + 1) / 250 == i / 250 && (i + 1) % 250 == i % 250;
		found_out += out_spi(sad, flow("10.0.0.1", dst, 17, (uint16_t)(1024 + i % 30000),
					       5064)) == (uint32_t)(1000 + i);
	}
	CHECK_EQ(found_in, n);
	CHECK_EQ(found_out, n);
	CHECK_EQ(wrong, 0);
	esp_engine_free(e);
}

/* Steps a probe until its node's hash matches or its chain ends (no
 * more than the chain is long). */
static struct esp_sa *probe_to_end(struct esp_sad *sad, struct esp_sad_probe *pr)
{
	struct esp_sa *sa = NULL;

	for (int step = 0; step < 64 && pr->live; step++) {
		sa = esp_sad_probe_step(sad, pr);
		if (pr->node && pr->node->hash == pr->hash)
			break;
	}
	return pr->live ? sa : NULL;
}

/* Whether a probe ended on @want, or on another SA whose 32-bit hash is
 * @want's: a probe stops at the first node of its chain with the hash it
 * asks for, and the keys (seeded at random per SAD) collide in about one
 * run of 300 at 5,000 SAs. Warming that other SA is harmless; the lookup
 * compares keys. */
static bool probe_reached(const struct esp_sa *got, const struct esp_sa *want,
			  bool inbound)
{
	if (got == want)
		return got != NULL;
	if (!got || !want)
		return false;
	return inbound ? got->id_node.hash == want->id_node.hash
		       : got->sel_node.hash == want->sel_node.hash;
}

/* The burst path's probes (engine.c warms its chunks with them) reach
 * the SA the lookup returns, in and out, for every one of many SAs (so
 * over chains of several nodes), and change nothing: they only read. */
static void test_probes(void)
{
	struct esp_engine *e = esp_engine_new();
	struct esp_sad *sad = esp_engine_sad(e);
	char line[512], dst[32];
	const int n = 5000;
	int in_same = 0, out_same = 0, absent_null = 0, live_steps = 0;

	for (int i = 0; i < n; i++) {
		snprintf(line, sizeof(line),
			 "src 10.0.0.1 dst 10.%d.%d.2 proto esp spi %d " KEY
			 " sel src 172.16.0.1 dst 10.%d.%d.9 proto udp dir out",
			 i / 250, i % 250, 7000 + i, i / 250, i % 250);
		add_sa(e, line);
	}
	size_t count = esp_sad_count(sad);
	for (int i = 0; i < n; i++) {
		struct esp_sad_probe pr;
		struct esp_addr a;
		snprintf(dst, sizeof(dst), "10.%d.%d.2", i / 250, i % 250);
		esp_addr_parse(dst, &a);
		esp_sad_probe_in(sad, (uint32_t)(7000 + i), &a, &pr);
		struct esp_sa *want = esp_sad_find(sad, (uint32_t)(7000 + i), &a);
		in_same += probe_reached(probe_to_end(sad, &pr), want, true);

		snprintf(dst, sizeof(dst), "10.%d.%d.9", i / 250, i % 250);
		struct esp_flow f = flow("172.16.0.1", dst, 17, 5060, 5060);
		esp_sad_probe_out(sad, &f, &pr);
		live_steps += pr.live;
		want = esp_sad_lookup_out(sad, &f);
		out_same += want && want->p.spi == (uint32_t)(7000 + i) &&
			    probe_reached(probe_to_end(sad, &pr), want, false);

		/* a flow no selector holds: the probe ends on nothing or on
		 * another key's SA, never the cause of a lookup result */
		f = flow("172.16.0.2", dst, 17, 5060, 5060);
		esp_sad_probe_out(sad, &f, &pr);
		struct esp_sa *got = probe_to_end(sad, &pr);
		absent_null += esp_sad_lookup_out(sad, &f) == NULL &&
			       (!got || esp_selector_match(&got->p.sel, &f) == false);
	}
	CHECK_EQ(in_same, n);
	CHECK_EQ(out_same, n);
	CHECK_EQ(live_steps, n);
	CHECK_EQ(absent_null, n);
	CHECK_EQ(esp_sad_count(sad), count);

	/* an IPv6 flow with only IPv4 selectors: no class applies */
	struct esp_sad_probe pr;
	struct esp_flow f6 = flow("2001:db8::1", "2001:db8::2", 17, 5060, 5060);
	esp_sad_probe_out(sad, &f6, &pr);
	CHECK(!pr.live);
	CHECK(esp_sad_probe_step(sad, &pr) == NULL);
	esp_engine_free(e);
}

static struct esp_sa *sa_of(const char *dir, const char *enc)
{
	char line[256], err[ESP_SAFILE_ERRLEN];
	struct esp_sa_params p;
	struct esp_sa *sa = NULL;
	const char *why;

	snprintf(line, sizeof(line), "src 10.0.0.1 dst 10.0.0.2 proto esp spi 7700 " KEY " %s %s",
		 enc, dir);
	CHECK_EQ(esp_safile_parse_line(line, &p, err, sizeof(err)), 1);
	int rc = esp_sa_create(&p, &sa, &why);
	if (rc)
		fprintf(stderr, "%s: %s\n", line, why);
	CHECK_EQ(rc, 0);
	esp_sa_params_wipe(&p);
	return sa;
}

/* What esp_sa_{en,de}crypt_locked() does with @sa, its lock held; @buf
 * holds the IV's block and 32 bytes. */
static int sa_crypt(struct esp_sa *sa, bool encrypt, uint8_t *buf)
{
	spin_lock(&sa->lock);
	int rc = encrypt ? esp_sa_encrypt_locked(sa, buf, 32) : esp_sa_decrypt_locked(sa, buf, 32);
	spin_unlock(&sa->lock);
	return rc;
}

/* An SA holds no cipher context until a packet needs one, then one for
 * that direction only; a direction it does not have is refused (never
 * passed through as the NULL cipher would), and the NULL cipher needs
 * none. */
static void test_cipher_on_first_use(void)
{
	static const char aes[] = "enc 'cbc(aes)' 0x2b7e151628aed2a6abf7158809cf4f3c";
	uint8_t buf[48], orig[48];

	for (size_t i = 0; i < sizeof(buf); i++)
		orig[i] = (uint8_t)(i * 7);
	struct esp_sa *out = sa_of("dir out", aes);
	if (!out)
		return;
	CHECK(out->encrypt.ctx == NULL && out->decrypt.ctx == NULL);
	memcpy(buf, orig, sizeof(buf));
	CHECK_EQ(sa_crypt(out, false, buf), -ENOKEY);
	CHECK_MEM(buf, orig, sizeof(buf));
	CHECK(out->decrypt.ctx == NULL);
	CHECK_EQ(sa_crypt(out, true, buf), 0);
	CHECK(memcmp(buf, orig, sizeof(buf)) != 0);
	CHECK(out->encrypt.ctx != NULL && out->decrypt.ctx == NULL);
	esp_sa_free(out);

	struct esp_sa *in = sa_of("dir in", aes);
	if (!in)
		return;
	memcpy(buf, orig, sizeof(buf));
	CHECK_EQ(sa_crypt(in, true, buf), -ENOKEY);
	CHECK_MEM(buf, orig, sizeof(buf));
	CHECK_EQ(sa_crypt(in, false, buf), 0);
	CHECK(in->decrypt.ctx != NULL && in->encrypt.ctx == NULL);
	esp_sa_free(in);

	/* without `dir` both directions, each keyed when first used */
	struct esp_sa *both = sa_of("", aes);
	if (!both)
		return;
	CHECK_EQ(sa_crypt(both, false, buf), 0);
	CHECK(both->decrypt.ctx != NULL && both->encrypt.ctx == NULL);
	CHECK_EQ(sa_crypt(both, true, buf), 0);
	CHECK(both->encrypt.ctx != NULL);
	esp_sa_free(both);

	struct esp_sa *null = sa_of("dir out", "enc 'ecb(cipher_null)' \"\"");
	if (!null)
		return;
	memcpy(buf, orig, sizeof(buf));
	CHECK_EQ(sa_crypt(null, true, buf), 0);
	CHECK_MEM(buf, orig, sizeof(buf));
	CHECK(null->encrypt.ctx == NULL);
	esp_sa_free(null);
}

/* The worker's one-entry inbound cache answers what esp_sad_lookup_in()
 * would: the SA for (SPI, dst) now, never one removed since, never an
 * outbound one; a lookup that finds nothing leaves it as it was. */
static void test_in_cache(void)
{
	struct esp_engine *e = esp_engine_new();
	struct esp_sad *sad = esp_engine_sad(e);
	struct esp_sad_in_cache c = { 0 };
	struct esp_addr d2, d3;

	esp_addr_parse("10.0.0.2", &d2);
	esp_addr_parse("10.0.0.3", &d3);
	add_sa(e, "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x300 " KEY " dir in");
	add_sa(e, "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x301 " KEY " dir in");
	add_sa(e, "src 10.0.0.1 dst 10.0.0.3 proto esp spi 0x300 " KEY " dir in");
	add_sa(e, "src 10.0.0.2 dst 10.0.0.1 proto esp spi 0x302 " KEY " dir out");
	struct esp_sa *a = esp_sad_lookup_in(sad, 0x300, &d2);
	struct esp_sa *b = esp_sad_lookup_in(sad, 0x301, &d2);
	struct esp_sa *a3 = esp_sad_lookup_in(sad, 0x300, &d3);
	CHECK(a && b && a3 && a != a3);

	CHECK(esp_sad_lookup_in_cached(sad, &c, 0x300, &d2) == a);
	CHECK(c.sa == a);
	CHECK_EQ(c.misses, 1);
	CHECK(esp_sad_lookup_in_cached(sad, &c, 0x300, &d2) == a);
	CHECK_EQ(c.misses, 1);			/* a hit: nothing hashed */
	CHECK(esp_sad_lookup_in_cached(sad, &c, 0x300, &d3) == a3);	/* same SPI */
	CHECK(esp_sad_lookup_in_cached(sad, &c, 0x301, &d2) == b);
	CHECK(esp_sad_lookup_in_cached(sad, &c, 0x300, &d2) == a);
	/* misses: unknown, outbound only, another family */
	struct esp_addr v6;
	esp_addr_parse("::2", &v6);
	CHECK(esp_sad_lookup_in_cached(sad, &c, 0x399, &d2) == NULL);
	CHECK(esp_sad_lookup_in_cached(sad, &c, 0x302, &d2) == NULL);
	struct esp_addr d1;
	esp_addr_parse("10.0.0.1", &d1);
	CHECK(esp_sad_lookup_in_cached(sad, &c, 0x302, &d1) == NULL);
	CHECK(esp_sad_lookup_in_cached(sad, &c, 0x300, &v6) == NULL);
	CHECK(c.sa == a);
	CHECK_EQ(c.misses, 8);			/* each lookup after the hit */

	/* removed: not answered from the cache; re-added: the new SA */
	CHECK_EQ(esp_engine_del_sa(e, 0x300, &d2), 0);
	CHECK(esp_sad_lookup_in_cached(sad, &c, 0x300, &d2) == NULL);
	add_sa(e, "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x300 " KEY " dir in");
	struct esp_sa *again = esp_sad_lookup_in(sad, 0x300, &d2);
	CHECK(esp_sad_lookup_in_cached(sad, &c, 0x300, &d2) == again);
	/* another SA added: the cache looks again and finds the same */
	add_sa(e, "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x303 " KEY " dir in");
	CHECK(esp_sad_lookup_in_cached(sad, &c, 0x300, &d2) == again);
	esp_engine_free(e);
}

int main(void)
{
	test_in_cache();
	test_cipher_on_first_use();
	test_specificity();
	test_ipv6_prefixes();
	test_many();
	test_probes();
	return check_done("test_sad");
}
