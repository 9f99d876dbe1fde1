/* The SA file: what it accepts, what it refuses (with the line and the
 * reason), and that a printed SA reads back as the same SA. */
#include <stdio.h>
#include <string.h>

#include "encap/table.h"
#include "engine/engine.h"
#include "engine/safile.h"
#include "test/unit/check.h"
#include "test/unit/testutil.h"

static int parse(const char *line, struct esp_sa_params *p, char *err)
{
	return esp_safile_parse_line(line, p, err, ESP_SAFILE_ERRLEN);
}

static void test_accepts(void)
{
	struct esp_sa_params p;
	char err[ESP_SAFILE_ERRLEN];

	CHECK_EQ(parse("", &p, err), 0);
	CHECK_EQ(parse("   # only a comment", &p, err), 0);

	CHECK_EQ(parse("src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 reqid 7 "
		       "mode tunnel replay-window 128 "
		       "auth-trunc 'hmac(sha1)' 0x0102030405060708090a0b0c0d0e0f1011121314 96 "
		       "enc 'cbc(aes)' 0x00112233445566778899aabbccddeeff "
		       "encap espinudp 4500 0 0.0.0.0 "
		       "sel src 10.0.0.0/24 dst 10.0.0.2 proto udp sport 5062 dport 5064 "
		       "limit time-hard 600 dir out # trailing comment", &p, err), 1);
	CHECK_EQ(p.lifetime_s, 600);
	CHECK_EQ(p.spi, 0x1000);
	CHECK_EQ(p.reqid, 7);
	CHECK_EQ(p.mode, ESP_MODE_TUNNEL);
	CHECK_EQ(p.replay_window, 128);
	CHECK_EQ(p.auth, ESP_AUTH_HMAC_SHA1_96);
	CHECK_EQ(p.auth_key_len, 20);
	CHECK_EQ(p.auth_key[19], 0x14);
	CHECK_EQ(p.enc, ESP_ENC_AES_CBC);
	CHECK_EQ(p.enc_key_len, 16);
	CHECK(p.encap);
	CHECK_EQ(p.encap_sport, 4500);
	CHECK_EQ(p.encap_dport, 0);
	CHECK_EQ(p.encap_oa.family, 0);
	CHECK_EQ(p.sel.src_plen, 24);
	CHECK_EQ(p.sel.dst_plen, 32);
	CHECK_EQ(p.sel.proto, 17);
	CHECK_EQ(p.sel.sport, 5062);
	CHECK_EQ(p.sel.dport, 5064);
	CHECK_EQ(p.dir, ESP_DIR_OUT);

	/* defaults: transport, both directions, window 64, selector = SA */
	CHECK_EQ(parse("src 2001:db8::1 dst 2001:db8::2 proto esp spi 4096 "
		       "auth hmac(md5) \"1234567890123456\" "
		       "enc cbc(des3_ede) \"abcdefghijklmnopqrstuvwx\"", &p, err), 1);
	CHECK_EQ(p.mode, ESP_MODE_TRANSPORT);
	CHECK_EQ(p.dir, ESP_DIR_BOTH);
	CHECK_EQ(p.replay_window, 64);
	CHECK_EQ(p.auth_key_len, 16);
	CHECK_MEM(p.auth_key, "1234567890123456", 16);	/* quoted: the bytes */
	CHECK_EQ(p.enc_key_len, 24);
	CHECK_EQ(p.sel.src_plen, 128);
	CHECK(esp_addr_equal(&p.sel.dst, &p.dst));
	CHECK_EQ(p.sel.proto, 0);

	CHECK_EQ(parse("src 10.0.0.1 dst 10.0.0.2 proto esp spi 300 "
		       "auth hmac(sha1) 0x0102030405060708090a0b0c0d0e0f1011121314 "
		       "enc 'ecb(cipher_null)' \"\" replay-window 0", &p, err), 1);
	CHECK_EQ(p.enc, ESP_ENC_NULL);
	CHECK_EQ(p.replay_window, 0);
	esp_sa_params_wipe(&p);
}

struct refusal {
	const char *line;
	const char *reason;	/* a part of the message */
};

static const struct refusal refusals[] = {
	{ "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 bogus 1", "unknown word 'bogus'" },
	{ "src 10.0.0.1 dst 10.0.0.2 proto esp enc cbc(aes) 0x00112233445566778899aabbccddeeff", "missing spi" },
	{ "src 10.0.0.1 proto esp spi 0x1000", "missing dst" },
	{ "src 10.0.0.1 dst 10.0.0.2 spi 0x1000", "missing 'proto esp'" },
	{ "src 10.0.0.1 dst 10.0.0.2 proto ah spi 0x1000", "only 'proto esp'" },
	{ "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 spi 0x1001", "given twice" },
	{ "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x10000000000", "not an SPI" },
	{ "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 enc cbc(aes) 0x0011", NULL },
	{ "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 enc cbc(aes) 0x0g", "non-hex" },
	{ "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 enc cbc(aes) 0x001", "odd number" },
	{ "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 enc cbc(aes) plainword", "neither 0x-hex" },
	{ "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 enc cbc(blowfish) 0x00", "unknown cipher" },
	{ "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 auth hmac(sha256) 0x00", "unknown integrity" },
	{ "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 auth-trunc hmac(sha1) 0x0102030405060708090a0b0c0d0e0f1011121314 128", "96-bit" },
	{ "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 mode beet", "mode 'beet'" },
	{ "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 dir sideways", "neither in nor out" },
	{ "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 encap espinudp-nonike 4500 4500 0.0.0.0", "espinudp" },
	{ "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 encap espinudp 4500", "needs a value" },
	{ "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 replay-window 70000", "replay-window" },
	{ "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 sel src 10.0.0.0/33", "not an address or prefix" },
	{ "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 sel proto gre", "unknown selector protocol" },
	{ "src 10.0.0.300 dst 10.0.0.2 proto esp spi 0x1000", "not an IP address" },
	{ "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 enc cbc(aes) '0011", "unterminated quote" },
	{ "src 10.0.0.1 dst 10.0.0.2 proto esp spi", "'spi' needs a value" },
	{ "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 limit byte-soft 10", "time-hard" },
	{ "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 limit time-hard 0", "lifetime" },
};

static void test_refusals(void)
{
	struct esp_sa_params p;
	char err[ESP_SAFILE_ERRLEN];

	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		err[0] = '\0';
		int r = parse(refusals[i].line, &p, err);
		CHECK_EQ(r, refusals[i].reason ? -1 : 1);
		if (refusals[i].reason && !strstr(err, refusals[i].reason)) {
			fprintf(stderr, "line %zu: \"%s\" lacks \"%s\"\n", i, err,
				refusals[i].reason);
			CHECK(0);
		}
	}
}

/* Refusals that need the whole SA: key lengths, families, duplicates. */
static void test_load_errors(void)
{
	static const struct refusal files[] = {
		{ "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 enc cbc(aes) 0x0011 auth hmac(md5) 0x00112233445566778899aabbccddeeff",
		  "line 1: wrong key length for cbc(aes)" },
		{ "# two fine lines first\n"
		  "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 auth hmac(md5) 0x00112233445566778899aabbccddeeff\n"
		  "\n"
		  "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 auth hmac(md5) 0x00112233445566778899aabbccddeeff\n",
		  "line 4: an SA with this SPI and dst exists" },
		{ "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 auth hmac(sha1) 0x00112233445566778899aabbccddeeff",
		  "line 1: wrong key length for hmac(sha1)" },
		{ "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 enc cbc(des3_ede) 0x001122334455667700112233445566778899aabbccddeeff auth hmac(md5) 0x00112233445566778899aabbccddeeff",
		  "degenerate" },
		{ "src 10.0.0.1 dst 2001:db8::2 proto esp spi 0x1000 auth hmac(md5) 0x00112233445566778899aabbccddeeff",
		  "different families" },
		{ "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 enc 'ecb(cipher_null)' \"\"",
		  "neither encryption nor integrity" },
		{ "src 10.0.0.1 dst 10.0.0.2 proto esp spi 200 auth hmac(md5) 0x00112233445566778899aabbccddeeff",
		  "reserved" },
		{ "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 auth hmac(md5) 0x00112233445566778899aabbccddeeff sel src 10.0.0.1 dst 10.0.0.2 proto icmp sport 5060",
		  "ports need proto" },
		{ "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 auth hmac(md5) 0x00112233445566778899aabbccddeeff sel src 2001:db8::1 dst 2001:db8::2",
		  "transport mode cannot change" },
		{ "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 auth hmac(md5) 0x00112233445566778899aabbccddeeff dir out\n"
		  "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1001 auth hmac(md5) 0x00112233445566778899aabbccddeeff dir out\n",
		  "line 2: an outbound SA with the same selector exists" },
		{ "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 \\\n"
		  "   auth hmac(md5) 0x00112233445566778899aabbccddeeff\n"
		  "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1001 oops\n",
		  "line 3: unknown word 'oops'" },
	};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct esp_engine *e = esp_engine_new();
		char err[ESP_SAFILE_ERRLEN] = "";
		int n = esp_safile_load(e, files[i].line, strlen(files[i].line), err,
					sizeof(err));
		CHECK_EQ(n, -1);
		if (!strstr(err, files[i].reason)) {
			fprintf(stderr, "file %zu: \"%s\" lacks \"%s\"\n", i, err,
				files[i].reason);
			CHECK(0);
		}
		/* all or nothing */
		CHECK_EQ(esp_sad_count(esp_engine_sad(e)), 0);
		esp_engine_free(e);
	}
}

static void test_load_and_format(void)
{
	const char *text =
		"# UE side of one registration\n"
		"src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 reqid 1 mode tunnel \\\n"
		"    auth-trunc 'hmac(sha1)' 0x0102030405060708090a0b0c0d0e0f1011121314 96 \\\n"
		"    enc 'cbc(aes)' 0x00112233445566778899aabbccddeeff \\\n"
		"    encap espinudp 4500 4500 0.0.0.0 sel src 198.51.100.7 dst 10.0.0.2 proto udp sport 5062 \\\n"
		"    limit time-hard 3600 dir out\n"
		"src 10.0.0.2 dst 10.0.0.1 proto esp spi 0x2000 reqid 1 replay-window 4096 "
		"auth hmac(md5) 0x00112233445566778899aabbccddeeff enc cbc(des3_ede) "
		"0x0123456789abcdef23456789abcdef01456789abcdef0123 dir in\n";
	struct esp_engine *e = esp_engine_new();
	char err[ESP_SAFILE_ERRLEN], line[1024], again[1024];

	CHECK_EQ(esp_safile_load(e, text, strlen(text), err, sizeof(err)), 2);
	for (struct esp_sa *sa = esp_sad_first(esp_engine_sad(e)); sa; sa = esp_sad_next(sa)) {
		/* without keys: none of the key bytes show */
		esp_sa_format(sa, line, sizeof(line), false);
		CHECK(strstr(line, "<hidden>") != NULL);
		CHECK(strstr(line, "0102030405") == NULL);
		CHECK(strstr(line, "00112233445566778899") == NULL);
		/* with keys: reads back as the same SA and prints the same */
		esp_sa_format(sa, line, sizeof(line), true);
		struct esp_sa_params p;
		CHECK_EQ(esp_safile_parse_line(line, &p, err, sizeof(err)), 1);
		CHECK_EQ(p.spi, sa->p.spi);
		CHECK_EQ(p.enc_key_len, sa->p.enc_key_len);
		CHECK_MEM(p.enc_key, sa->p.enc_key, p.enc_key_len);
		CHECK_MEM(p.auth_key, sa->p.auth_key, p.auth_key_len);
		CHECK(memcmp(&p.sel, &sa->p.sel, sizeof(p.sel)) == 0);
		/* all of it: espnatd tells an SA it restored from durable state
		 * from a changed one by comparing the parameters whole */
		struct esp_sa_params q = sa->p;
		q.lifetime_s = p.lifetime_s;
		CHECK(memcmp(&p, &q, sizeof(p)) == 0);
		esp_sa_params_wipe(&q);
		struct esp_engine *e2 = esp_engine_new();
		const char *why;
		CHECK_EQ(esp_engine_add_sa(e2, &p, &why), 0);
		esp_sa_format(esp_sad_first(esp_engine_sad(e2)), again, sizeof(again), true);
		CHECK_STR(again, line);
		esp_engine_free(e2);
		esp_sa_params_wipe(&p);
	}
	/* a second load adds to the first; a failing one takes back only its own */
	const char *more = "src 10.0.0.2 dst 10.0.0.1 proto esp spi 0x3000 auth hmac(md5) 0x00112233445566778899aabbccddeeff\n"
			   "src 10.0.0.2 dst 10.0.0.1 proto esp spi 0x2000 auth hmac(md5) 0x00112233445566778899aabbccddeeff\n";
	CHECK_EQ(esp_safile_load(e, more, strlen(more), err, sizeof(err)), -1);
	CHECK_EQ(esp_sad_count(esp_engine_sad(e)), 2);
	esp_engine_free(e);
}

/* A refused file takes its SAs out of their registrations too: a group
 * left holding a freed SA was used after free by the next SA of that
 * reqid (found by test/fuzz/fuzz_safile). */
static void test_load_undo_groups(void)
{
	static const char bad[] =
		"src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 reqid 1 dir in "
		"auth hmac(md5) 0x00112233445566778899aabbccddeeff\n"
		"oops\n";
	static const char good[] =
		"src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1001 reqid 1 dir in "
		"auth hmac(md5) 0x00112233445566778899aabbccddeeff\n";
	struct esp_engine *e = esp_engine_new();
	char err[ESP_SAFILE_ERRLEN];

	CHECK_EQ(esp_safile_load(e, bad, strlen(bad), err, sizeof(err)), -1);
	CHECK_EQ(esp_sad_count(esp_engine_sad(e)), 0);
	CHECK_EQ(encap_table_count(esp_engine_table(e)), 0);
	CHECK_EQ(esp_safile_load(e, good, strlen(good), err, sizeof(err)), 1);
	struct encap_group *g = encap_table_group(esp_engine_table(e), 1);
	CHECK(g && g->nmembers == 1 && g->members && g->members->p.spi == 0x1001);
	CHECK_EQ(esp_engine_flush(e), 1);
	CHECK_EQ(encap_table_count(esp_engine_table(e)), 0);
	esp_engine_free(e);
}

int main(void)
{
	test_accepts();
	test_refusals();
	test_load_errors();
	test_load_and_format();
	test_load_undo_groups();
	return check_done("test_safile");
}
