/* nat/secagree: the Security-Client/Server/Verify headers of RFC 3329 and
 * TS 33.203 Annex H (with TR 33.803's UDP-enc-tun), their canonical form
 * and comparison, the P-CSCF's choice and its Security-Server; bad input
 * refused with a reason, and mutated input never crashing the parser. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nat/secagree.h"
#include "test/unit/check.h"

static struct secagree_header ha;
static char err[256];
static char out[16384];

/* Parses @s into @h; fails the check (and says why) if it is refused. */
static int parse_ok(const char *s, struct secagree_header *h)
{
	int r = secagree_parse(s, h, err, sizeof(err));

	if (r)
		fprintf(stderr, "parse of \"%s\" failed: %s\n", s, err);
	CHECK_EQ(r, 0);
	return r;
}

/* The canonical form of @s. */
static const char *canon(const char *s)
{
	static struct secagree_header h;

	out[0] = '\0';
	if (parse_ok(s, &h) == 0)
		secagree_format(&h, out, sizeof(out));
	return out;
}

/* Whether @a and @b (both valid) parse to equal headers. */
static bool same(const char *a, const char *b)
{
	static struct secagree_header x, y;

	if (parse_ok(a, &x) || parse_ok(b, &y))
		return false;
	return secagree_equal(&x, &y);
}

/* The seed's Mercuro client (004): SM1's Security-Client, the P-CSCF's
 * Security-Server, and SM5 (= SM7) with the Verify and the Client again. */
#define SEED_CLIENT "ipsec-3gpp; alg=hmac-md5-96; spi-c=1111; spi-s=2222; port-c=5062; port-s=5064"
#define SEED_SERVER "ipsec-3gpp; q=0.1; alg=hmac-md5-96; spi-c=3333; spi-s=4444; port-c=5066; port-s=5068"

static void test_seed_examples(void)
{
	static struct secagree_header client, server, verify, client2;
	const struct secagree_mech *m;

	if (parse_ok(SEED_CLIENT, &client))
		return;
	CHECK_EQ(client.n, 1);
	m = &client.mech[0];
	CHECK_STR(m->name, "ipsec-3gpp");
	CHECK(m->ipsec_3gpp);
	CHECK_EQ(m->q_milli, -1);
	CHECK_EQ(m->alg, ESP_AUTH_HMAC_MD5_96);
	CHECK_EQ(m->ealg, -1);		/* a Rel-5 client: no ealg */
	CHECK_EQ(m->prot, -1);
	CHECK_EQ(m->mods, 0);
	CHECK_EQ(m->spi_c, 1111);
	CHECK_EQ(m->spi_s, 2222);
	CHECK_EQ(m->port_c, 5062);
	CHECK_EQ(m->port_s, 5064);
	CHECK_EQ(m->nextra, 0);
	CHECK_STR(err, "");
	CHECK_EQ(secagree_format(&client, out, sizeof(out)),
		 (long long)strlen("ipsec-3gpp;alg=hmac-md5-96;spi-c=1111;spi-s=2222;port-c=5062;port-s=5064"));
	CHECK_STR(out, "ipsec-3gpp;alg=hmac-md5-96;spi-c=1111;spi-s=2222;port-c=5062;port-s=5064");

	if (parse_ok(SEED_SERVER, &server))
		return;
	CHECK_EQ(server.mech[0].q_milli, 100);
	CHECK_EQ(server.mech[0].spi_c, 3333);
	CHECK_EQ(server.mech[0].spi_s, 4444);
	CHECK_EQ(server.mech[0].port_c, 5066);
	CHECK_EQ(server.mech[0].port_s, 5068);
	CHECK_STR(canon(SEED_SERVER),
		  "ipsec-3gpp;q=0.1;alg=hmac-md5-96;spi-c=3333;spi-s=4444;port-c=5066;port-s=5068");

	/* SM5: the Verify copies the Server, the Client is SM1's again */
	parse_ok(SEED_SERVER, &verify);
	parse_ok(SEED_CLIENT, &client2);
	CHECK(secagree_equal(&verify, &server));
	CHECK(secagree_equal(&client2, &client));
	CHECK(!secagree_equal(&verify, &client));

	/* the seed's SAs are HMAC-MD5 in transport mode; a P-CSCF preferring
	 * SHA-1 + AES still falls back to what this client can do */
	static const struct secagree_pref prefs[] = {
		{ ESP_AUTH_HMAC_SHA1_96, ESP_ENC_AES_CBC },
		{ ESP_AUTH_HMAC_MD5_96, ESP_ENC_3DES_CBC },
		{ ESP_AUTH_HMAC_MD5_96, ESP_ENC_NULL },
	};
	enum esp_auth alg = ESP_AUTH_NONE;
	enum esp_enc ealg = ESP_ENC_AES_CBC;
	enum nat_mode mode = NAT_MODE_UDP_ENC_TUN;
	CHECK_EQ(secagree_choose(&client, prefs, 3, false, &alg, &ealg, &mode), 0);
	CHECK_EQ(alg, ESP_AUTH_HMAC_MD5_96);
	CHECK_EQ(ealg, ESP_ENC_NULL);
	CHECK_EQ(mode, NAT_MODE_TRANS);
	/* behind a NAT this client (no UDP-enc-tun) is discarded */
	CHECK_EQ(secagree_choose(&client, prefs, 3, true, &alg, &ealg, &mode), -EPROTONOSUPPORT);
}

/* A Rel-7 UE's offer: three algorithm combinations, two of them in both
 * transport and UDP-encapsulated tunnel mode. */
#define REL7_CLIENT \
	"ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;prot=esp;mod=trans;mod=UDP-enc-tun;" \
	"spi-c=3929102;spi-s=3929103;port-c=50001;port-s=50002, " \
	"ipsec-3gpp;alg=hmac-md5-96;ealg=des-ede3-cbc;prot=esp;mod=trans;" \
	"spi-c=3929102;spi-s=3929103;port-c=50001;port-s=50002, " \
	"ipsec-3gpp;alg=hmac-sha-1-96;ealg=null;prot=esp;mod=UDP-enc-tun;mod=trans;" \
	"spi-c=3929102;spi-s=3929103;port-c=50001;port-s=50002"

static void test_several_mechs(void)
{
	if (parse_ok(REL7_CLIENT, &ha))
		return;
	CHECK_EQ(ha.n, 3);
	CHECK_EQ(ha.mech[0].alg, ESP_AUTH_HMAC_SHA1_96);
	CHECK_EQ(ha.mech[0].ealg, ESP_ENC_AES_CBC);
	CHECK_EQ(ha.mech[0].prot, 0);
	CHECK_EQ(ha.mech[0].mods, SECAGREE_MOD_TRANS | SECAGREE_MOD_UDP_ENC_TUN);
	CHECK_EQ(ha.mech[1].alg, ESP_AUTH_HMAC_MD5_96);
	CHECK_EQ(ha.mech[1].ealg, ESP_ENC_3DES_CBC);
	CHECK_EQ(ha.mech[1].mods, SECAGREE_MOD_TRANS);
	CHECK_EQ(ha.mech[2].ealg, ESP_ENC_NULL);
	CHECK_EQ(ha.mech[2].mods, SECAGREE_MOD_TRANS | SECAGREE_MOD_UDP_ENC_TUN);
	for (size_t i = 0; i < ha.n; i++) {
		CHECK_EQ(ha.mech[i].spi_c, 3929102);
		CHECK_EQ(ha.mech[i].spi_s, 3929103);
		CHECK_EQ(ha.mech[i].port_c, 50001);
		CHECK_EQ(ha.mech[i].port_s, 50002);
	}
	/* the mods come out in a fixed order whatever order they came in */
	secagree_format(&ha, out, sizeof(out));
	CHECK(strstr(out, ", ipsec-3gpp;alg=hmac-sha-1-96;ealg=null;prot=esp;mod=trans;mod=UDP-enc-tun;"
		     "spi-c=3929102;") != NULL);

	/* the extreme values of the ranges */
	if (parse_ok("ipsec-3gpp;spi-c=1;spi-s=4294967295;port-c=1;port-s=65535;spi-x=0", &ha))
		return;
	CHECK_EQ(ha.mech[0].spi_c, 1);
	CHECK_EQ(ha.mech[0].spi_s, 4294967295u);
	CHECK_EQ(ha.mech[0].port_c, 1);
	CHECK_EQ(ha.mech[0].port_s, 65535);
	CHECK_EQ(ha.mech[0].nextra, 1);	/* spi-x is no spi */
	/* leading zeros are the same number */
	CHECK_STR(canon("ipsec-3gpp;spi-c=0000001111;port-c=05062"),
		  "ipsec-3gpp;spi-c=1111;port-c=5062");
	/* exactly eight mechanisms fit */
	if (parse_ok("a,b,c,d,e,f,g,h", &ha) == 0)
		CHECK_EQ(ha.n, 8);
}

static void test_case_and_lws(void)
{
	const char *messy =
		"  IPSEC-3gpp ;\tALG = HMAC-SHA-1-96 ;\r\n Ealg=\r\n\tAES-CBC ; Mod=udp-ENC-tun\t;"
		" MOD = Trans ; PROT=ESP; SPI-C = 1 ; Spi-S=2;PORT-c=3;port-S=4 ,\r\n"
		"\tipsec-3gpp;alg=hmac-md5-96  \t";

	if (parse_ok(messy, &ha))
		return;
	CHECK_EQ(ha.n, 2);
	CHECK_STR(ha.mech[0].name, "IPSEC-3gpp");	/* kept as written */
	CHECK(ha.mech[0].ipsec_3gpp);
	CHECK_EQ(ha.mech[0].alg, ESP_AUTH_HMAC_SHA1_96);
	CHECK_EQ(ha.mech[0].ealg, ESP_ENC_AES_CBC);
	CHECK_EQ(ha.mech[0].mods, SECAGREE_MOD_TRANS | SECAGREE_MOD_UDP_ENC_TUN);
	CHECK_EQ(ha.mech[0].prot, 0);
	CHECK_EQ(ha.mech[0].spi_c, 1);
	CHECK_EQ(ha.mech[0].port_s, 4);
	CHECK_STR(ha.mech[1].name, "ipsec-3gpp");
	CHECK_STR(canon(messy),
		  "IPSEC-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;prot=esp;mod=trans;mod=UDP-enc-tun;"
		  "spi-c=1;spi-s=2;port-c=3;port-s=4, ipsec-3gpp;alg=hmac-md5-96");
	CHECK(same(messy, "ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;prot=esp;mod=trans;"
			  "mod=UDP-enc-tun;spi-c=1;spi-s=2;port-c=3;port-s=4, ipsec-3gpp;alg=hmac-md5-96"));
	/* a fold may stand wherever LWS may, even right after the colon */
	CHECK(same("\r\n ipsec-3gpp\r\n ;\r\n alg\r\n =\r\n hmac-md5-96\r\n ,\r\n tls",
		   "ipsec-3gpp;alg=hmac-md5-96, tls"));
}

static void test_unknown_kept(void)
{
	/* RFC 3329's digest and tls, and unknown parameters of ipsec-3gpp */
	const char *s = "digest;d-alg=MD5;D-QOP=auth;d-ver=\"0ba550ff\";q=0.2, tls ; q=0.3,"
			"ipsec-3gpp;alg=hmac-md5-96;X-Foo=Bar;flag;host=[2001:db8::1];"
			"note=\"a, b;\r\n c\"";

	if (parse_ok(s, &ha))
		return;
	CHECK_EQ(ha.n, 3);
	CHECK_STR(ha.mech[0].name, "digest");
	CHECK(!ha.mech[0].ipsec_3gpp);
	CHECK_EQ(ha.mech[0].q_milli, 200);
	CHECK_EQ(ha.mech[0].nextra, 3);
	CHECK_STR(ha.mech[0].extra[0].name, "d-alg");
	CHECK_STR(ha.mech[0].extra[0].value, "MD5");
	CHECK_STR(ha.mech[0].extra[1].name, "D-QOP");
	CHECK_STR(ha.mech[0].extra[2].value, "\"0ba550ff\"");
	CHECK(ha.mech[0].extra[2].has_value);
	CHECK_STR(ha.mech[1].name, "tls");
	CHECK_EQ(ha.mech[1].q_milli, 300);
	CHECK_EQ(ha.mech[2].nextra, 4);
	CHECK_STR(ha.mech[2].extra[1].name, "flag");
	CHECK(!ha.mech[2].extra[1].has_value);
	CHECK_STR(ha.mech[2].extra[2].value, "[2001:db8::1]");
	CHECK_STR(ha.mech[2].extra[3].value, "\"a, b; c\"");	/* unfolded */
	CHECK_STR(canon(s),
		  "digest;q=0.2;d-alg=MD5;d-qop=auth;d-ver=\"0ba550ff\", tls;q=0.3, "
		  "ipsec-3gpp;alg=hmac-md5-96;x-foo=Bar;flag;host=[2001:db8::1];note=\"a, b; c\"");

	/* Annex H's names mean nothing outside ipsec-3gpp: kept, not checked */
	if (parse_ok("ipsec-man;alg=hmac-sha-256;spi-c=0;mod=bogus", &ha) == 0) {
		CHECK_EQ(ha.mech[0].alg, -1);
		CHECK_EQ(ha.mech[0].spi_c, 0);
		CHECK_EQ(ha.mech[0].nextra, 3);
		CHECK_STR(ha.mech[0].extra[1].value, "0");
	}
	/* eight unknown parameters fit */
	if (parse_ok("ipsec-3gpp;a;b;c;d;e;f;g;h=1;q=1;alg=hmac-md5-96", &ha) == 0)
		CHECK_EQ(ha.mech[0].nextra, 8);
	/* names of 31 and values of 95 characters fit */
	char longest[256];
	snprintf(longest, sizeof(longest), "%.31s;%.31s=%.95s",
		 "mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm", "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn",
		 "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
		 "vvvvvvvvvvvvvvvvvvvvvvvvv");
	if (parse_ok(longest, &ha) == 0) {
		CHECK_EQ(strlen(ha.mech[0].name), 31);
		CHECK_EQ(strlen(ha.mech[0].extra[0].name), 31);
		CHECK_EQ(strlen(ha.mech[0].extra[0].value), 95);
	}
}

static void test_mods(void)
{
	if (parse_ok("ipsec-3gpp;alg=hmac-md5-96;mod=UDP-enc-trans;mod=tun;mod=UDP-enc-tun;mod=trans", &ha))
		return;
	CHECK_EQ(ha.mech[0].mods, 15);
	secagree_format(&ha, out, sizeof(out));
	CHECK_STR(out, "ipsec-3gpp;alg=hmac-md5-96;mod=trans;mod=tun;mod=UDP-enc-tun;mod=UDP-enc-trans");
	CHECK_EQ(ha.mech[0].nextra, 0);
	/* a repeated mode is one mode */
	CHECK(same("ipsec-3gpp;mod=trans;mod=TRANS", "ipsec-3gpp;mod=trans"));
	CHECK(same("ipsec-3gpp;mod=trans;mod=UDP-enc-tun", "ipsec-3gpp;mod=udp-enc-tun;mod=trans"));
	CHECK(!same("ipsec-3gpp;mod=trans;mod=UDP-enc-tun", "ipsec-3gpp;mod=trans"));
	CHECK(!same("ipsec-3gpp;mod=trans", "ipsec-3gpp"));	/* copies, not defaults */
}

static void test_q(void)
{
	static const struct {
		const char *q;
		int milli;
		const char *canon;
	} good[] = {
		{ "0", 0, "0" }, { "0.", 0, "0" }, { "0.0", 0, "0" }, { "0.1", 100, "0.1" },
		{ "0.100", 100, "0.1" }, { "0.25", 250, "0.25" }, { "0.125", 125, "0.125" },
		{ "0.001", 1, "0.001" }, { "0.010", 10, "0.01" }, { "0.999", 999, "0.999" },
		{ "1", 1000, "1" }, { "1.", 1000, "1" }, { "1.000", 1000, "1" },
	};
	static const char *const bad[] = {
		"2", "1.5", "1.001", "1.0000", "0.1234", "01", ".5", "-0", "0.a", "\"0.5\"", "0x1", "q",
	};
	char s[64], want[64];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(s, sizeof(s), "tls;q=%s", good[i].q);
		if (parse_ok(s, &ha))
			continue;
		CHECK_EQ(ha.mech[0].q_milli, good[i].milli);
		snprintf(want, sizeof(want), "tls;q=%s", good[i].canon);
		secagree_format(&ha, out, sizeof(out));
		CHECK_STR(out, want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(s, sizeof(s), "ipsec-3gpp;q=%s", bad[i]);
		CHECK_EQ(secagree_parse(s, &ha, err, sizeof(err)), -EINVAL);
		CHECK(strstr(err, "is not a qvalue") != NULL);
	}
	CHECK(same("tls;q=0.5", "tls;Q=0.500"));
	CHECK(!same("tls;q=0.5", "tls;q=0.501"));
	CHECK(!same("tls;q=0", "tls"));
}

/* format -> parse -> equal, and the canonical form is a fixed point */
static void test_round_trips(void)
{
	static const char *const hdrs[] = {
		SEED_CLIENT, SEED_SERVER, REL7_CLIENT,
		"digest;d-alg=md5;d-qop=auth;d-ver=\"0ba550ff\\\"x\";q=0.1, tls;q=0.2",
		"IPSEC-3GPP;Alg=HMAC-MD5-96;EALG=NULL;MOD=UDP-ENC-TUN;Foo=\"Bar\";baz",
		"ipsec-3gpp;prot=ah;mod=tun;q=1;x=[::1];y=a.b.c;z=\"\"",
		"a;q=0.007, b, c, d, e, f, g, h;x=1;y=2;z=3;w=4;v=5;u=6;t=7;s=8",
	};
	static struct secagree_header x, y;
	static char first[4096], second[4096];

	for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
		if (parse_ok(hdrs[i], &x))
			continue;
		int n = secagree_format(&x, first, sizeof(first));
		CHECK_EQ(n, (long long)strlen(first));
		if (parse_ok(first, &y))
			continue;
		CHECK(secagree_equal(&x, &y));
		CHECK(secagree_equal(&y, &x));
		secagree_format(&y, second, sizeof(second));
		CHECK_STR(second, first);
	}

	/* snprintf's contract: the full length, the buffer cut and terminated */
	parse_ok(SEED_CLIENT, &x);
	int full = secagree_format(&x, first, sizeof(first));
	CHECK_EQ(secagree_format(&x, second, 10), full);
	CHECK_EQ(strlen(second), 9);
	CHECK_MEM(second, first, 9);
	CHECK_EQ(secagree_format(&x, NULL, 0), full);
	memset(&y, 0, sizeof(y));
	CHECK_EQ(secagree_format(&y, first, sizeof(first)), 0);
	CHECK_STR(first, "");
}

static void test_equal(void)
{
	const char *base = "ipsec-3gpp;q=0.5;alg=hmac-sha-1-96;ealg=aes-cbc;mod=trans;spi-c=1;spi-s=2;"
			   "port-c=5062;port-s=5064;x=Tok;y=\"Quoted\", tls;q=0.1";

	CHECK(same(base, base));
	CHECK(same(base, "  IPSEC-3GPP ; Q = 0.500 ; ALG=HMAC-SHA-1-96;EALG=AES-CBC ; MOD=TRANS;"
			 "SPI-C=1;SPI-S=2;PORT-C=5062;PORT-S=5064;X=tok;Y=\"Quoted\" ,\r\n TLS;Q=0.1"));
	/* the parameters' order carries no meaning, extras included */
	CHECK(same(base, "ipsec-3gpp;y=\"Quoted\";port-s=5064;x=Tok;spi-s=2;port-c=5062;spi-c=1;"
			 "mod=trans;ealg=aes-cbc;alg=hmac-sha-1-96;q=0.5, tls;q=0.1"));

	static const char *const differ[] = {
		/* spi, port, alg, ealg, mod, q */
		"ipsec-3gpp;q=0.5;alg=hmac-sha-1-96;ealg=aes-cbc;mod=trans;spi-c=1;spi-s=3;"
		"port-c=5062;port-s=5064;x=Tok;y=\"Quoted\", tls;q=0.1",
		"ipsec-3gpp;q=0.5;alg=hmac-sha-1-96;ealg=aes-cbc;mod=trans;spi-c=1;spi-s=2;"
		"port-c=5063;port-s=5064;x=Tok;y=\"Quoted\", tls;q=0.1",
		"ipsec-3gpp;q=0.5;alg=hmac-md5-96;ealg=aes-cbc;mod=trans;spi-c=1;spi-s=2;"
		"port-c=5062;port-s=5064;x=Tok;y=\"Quoted\", tls;q=0.1",
		"ipsec-3gpp;q=0.5;alg=hmac-sha-1-96;ealg=null;mod=trans;spi-c=1;spi-s=2;"
		"port-c=5062;port-s=5064;x=Tok;y=\"Quoted\", tls;q=0.1",
		"ipsec-3gpp;q=0.5;alg=hmac-sha-1-96;mod=trans;spi-c=1;spi-s=2;"
		"port-c=5062;port-s=5064;x=Tok;y=\"Quoted\", tls;q=0.1",
		"ipsec-3gpp;q=0.5;alg=hmac-sha-1-96;ealg=aes-cbc;mod=UDP-enc-tun;spi-c=1;spi-s=2;"
		"port-c=5062;port-s=5064;x=Tok;y=\"Quoted\", tls;q=0.1",
		"ipsec-3gpp;q=0.4;alg=hmac-sha-1-96;ealg=aes-cbc;mod=trans;spi-c=1;spi-s=2;"
		"port-c=5062;port-s=5064;x=Tok;y=\"Quoted\", tls;q=0.1",
		/* an extra's value, a quoted string's case, an extra more or less */
		"ipsec-3gpp;q=0.5;alg=hmac-sha-1-96;ealg=aes-cbc;mod=trans;spi-c=1;spi-s=2;"
		"port-c=5062;port-s=5064;x=Tak;y=\"Quoted\", tls;q=0.1",
		"ipsec-3gpp;q=0.5;alg=hmac-sha-1-96;ealg=aes-cbc;mod=trans;spi-c=1;spi-s=2;"
		"port-c=5062;port-s=5064;x=Tok;y=\"quoted\", tls;q=0.1",
		"ipsec-3gpp;q=0.5;alg=hmac-sha-1-96;ealg=aes-cbc;mod=trans;spi-c=1;spi-s=2;"
		"port-c=5062;port-s=5064;x=Tok, tls;q=0.1",
		"ipsec-3gpp;q=0.5;alg=hmac-sha-1-96;ealg=aes-cbc;mod=trans;spi-c=1;spi-s=2;"
		"port-c=5062;port-s=5064;x=Tok;y=\"Quoted\";z, tls;q=0.1",
		"ipsec-3gpp;q=0.5;alg=hmac-sha-1-96;ealg=aes-cbc;mod=trans;spi-c=1;spi-s=2;"
		"port-c=5062;port-s=5064;x;y=\"Quoted\", tls;q=0.1",
		/* the order of the mechanisms, one more or less, another name */
		"tls;q=0.1, ipsec-3gpp;q=0.5;alg=hmac-sha-1-96;ealg=aes-cbc;mod=trans;spi-c=1;spi-s=2;"
		"port-c=5062;port-s=5064;x=Tok;y=\"Quoted\"",
		"ipsec-3gpp;q=0.5;alg=hmac-sha-1-96;ealg=aes-cbc;mod=trans;spi-c=1;spi-s=2;"
		"port-c=5062;port-s=5064;x=Tok;y=\"Quoted\"",
		"ipsec-3gpp;q=0.5;alg=hmac-sha-1-96;ealg=aes-cbc;mod=trans;spi-c=1;spi-s=2;"
		"port-c=5062;port-s=5064;x=Tok;y=\"Quoted\", tls;q=0.1, digest",
		"ipsec-3gpp;q=0.5;alg=hmac-sha-1-96;ealg=aes-cbc;mod=trans;spi-c=1;spi-s=2;"
		"port-c=5062;port-s=5064;x=Tok;y=\"Quoted\", tlsx;q=0.1",
	};
	for (size_t i = 0; i < sizeof(differ) / sizeof(differ[0]); i++) {
		CHECK(!same(base, differ[i]));
		CHECK(!same(differ[i], base));
	}
	/* the same extra twice must be matched twice */
	CHECK(!same("tls;a;a", "tls;a;b"));
	CHECK(same("tls;a;b;a", "tls;a;a;b"));
	CHECK(!secagree_equal(NULL, &ha));
}

static const struct secagree_pref pcscf_prefs[] = {
	{ ESP_AUTH_HMAC_SHA1_96, ESP_ENC_AES_CBC },
	{ ESP_AUTH_HMAC_SHA1_96, ESP_ENC_3DES_CBC },
	{ ESP_AUTH_HMAC_MD5_96, ESP_ENC_AES_CBC },
	{ ESP_AUTH_HMAC_SHA1_96, ESP_ENC_NULL },
	{ ESP_AUTH_HMAC_MD5_96, ESP_ENC_NULL },
};
#define NPREFS (sizeof(pcscf_prefs) / sizeof(pcscf_prefs[0]))

/* Runs the choice on @client; the outputs when it succeeds. */
static int choose(const char *client, bool nat, enum esp_auth *alg, enum esp_enc *ealg,
		  enum nat_mode *mode)
{
	static struct secagree_header h;

	if (parse_ok(client, &h))
		return -9999;
	return secagree_choose(&h, pcscf_prefs, NPREFS, nat, alg, ealg, mode);
}

static void test_choose(void)
{
	enum esp_auth alg;
	enum esp_enc ealg;
	enum nat_mode mode;

	/* the P-CSCF's first preference wins, not the UE's first or its q */
	CHECK_EQ(choose("ipsec-3gpp;q=0.9;alg=hmac-md5-96;ealg=null, ipsec-3gpp;q=0.1;alg=hmac-md5-96;"
			"ealg=aes-cbc, ipsec-3gpp;q=0.5;alg=hmac-sha-1-96;ealg=des-ede3-cbc",
			false, &alg, &ealg, &mode), 2);
	CHECK_EQ(alg, ESP_AUTH_HMAC_SHA1_96);
	CHECK_EQ(ealg, ESP_ENC_3DES_CBC);
	CHECK_EQ(mode, NAT_MODE_TRANS);
	CHECK_EQ(choose(REL7_CLIENT, false, &alg, &ealg, &mode), 0);
	CHECK_EQ(alg, ESP_AUTH_HMAC_SHA1_96);
	CHECK_EQ(ealg, ESP_ENC_AES_CBC);

	/* an absent ealg offers null, and only null */
	CHECK_EQ(choose("ipsec-3gpp;alg=hmac-md5-96, ipsec-3gpp;alg=hmac-sha-1-96", false,
			&alg, &ealg, &mode), 1);
	CHECK_EQ(alg, ESP_AUTH_HMAC_SHA1_96);
	CHECK_EQ(ealg, ESP_ENC_NULL);
	CHECK_EQ(choose("ipsec-3gpp;alg=hmac-md5-96", false, &alg, &ealg, &mode), 0);
	CHECK_EQ(ealg, ESP_ENC_NULL);

	/* behind a NAT only UDP-enc-tun will do */
	CHECK_EQ(choose("ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;mod=trans, "
			"ipsec-3gpp;alg=hmac-md5-96;ealg=null;mod=tun;mod=UDP-enc-trans",
			true, &alg, &ealg, &mode), -EPROTONOSUPPORT);
	CHECK_EQ(choose("ipsec-3gpp;alg=hmac-sha-1-96", true, &alg, &ealg, &mode), -EPROTONOSUPPORT);
	CHECK_EQ(choose("digest, tls", true, &alg, &ealg, &mode), -EPROTONOSUPPORT);
	/* UDP-enc-tun named by something that is no ipsec-3gpp offers nothing */
	CHECK_EQ(choose("ipsec-man;alg=hmac-md5-96;mod=UDP-enc-tun", true, &alg, &ealg, &mode),
		 -EPROTONOSUPPORT);
	mode = NAT_MODE_TRANS;
	CHECK_EQ(choose("ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;mod=trans, "
			"ipsec-3gpp;alg=hmac-md5-96;ealg=null;mod=UDP-enc-tun",
			true, &alg, &ealg, &mode), 1);
	CHECK_EQ(alg, ESP_AUTH_HMAC_MD5_96);
	CHECK_EQ(ealg, ESP_ENC_NULL);
	CHECK_EQ(mode, NAT_MODE_UDP_ENC_TUN);
	CHECK_EQ(choose(REL7_CLIENT, true, &alg, &ealg, &mode), 0);
	CHECK_EQ(mode, NAT_MODE_UDP_ENC_TUN);
	/* ... and without one, trans: the same offers choose the other way */
	CHECK_EQ(choose("ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;mod=UDP-enc-tun, "
			"ipsec-3gpp;alg=hmac-md5-96;ealg=null",
			false, &alg, &ealg, &mode), 1);
	CHECK_EQ(mode, NAT_MODE_TRANS);
	/* a NAT, UDP-enc-tun offered, but not with anything on the list */
	CHECK_EQ(choose("ipsec-3gpp;alg=hmac-md5-96;ealg=des-ede3-cbc;mod=UDP-enc-tun", true,
			&alg, &ealg, &mode), -ENOENT);

	/* nothing on the list offered */
	CHECK_EQ(choose("ipsec-3gpp;alg=hmac-md5-96;ealg=des-ede3-cbc", false, &alg, &ealg, &mode),
		 -ENOENT);
	CHECK_EQ(choose("digest;q=0.1, tls;q=0.2", false, &alg, &ealg, &mode), -ENOENT);
	CHECK_EQ(choose("ipsec-3gpp;ealg=aes-cbc", false, &alg, &ealg, &mode), -ENOENT);
	CHECK_EQ(choose("ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;mod=tun", false,
			&alg, &ealg, &mode), -ENOENT);
	/* AH is not for IMS (TS 33.203 6): skipped, ESP taken */
	CHECK_EQ(choose("ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;prot=ah, "
			"ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;prot=esp", false, NULL, NULL, NULL), 1);
	/* no list, no choice */
	if (parse_ok(REL7_CLIENT, &ha) == 0) {
		CHECK_EQ(secagree_choose(&ha, pcscf_prefs, 0, false, NULL, NULL, NULL), -ENOENT);
		CHECK_EQ(secagree_choose(&ha, NULL, 3, false, NULL, NULL, NULL), -ENOENT);
	}
	CHECK_EQ(secagree_choose(NULL, pcscf_prefs, NPREFS, false, NULL, NULL, NULL), -ENOENT);
}

static void test_server(void)
{
	static const struct secagree_pref two[] = {
		{ ESP_AUTH_HMAC_SHA1_96, ESP_ENC_AES_CBC },
		{ ESP_AUTH_HMAC_MD5_96, ESP_ENC_NULL },
	};
	static struct secagree_header srv, verify;

	CHECK_EQ(secagree_server(two, 2, 3333, 4444, 5066, 5068, NAT_MODE_TRANS, &srv), 0);
	CHECK_EQ(srv.n, 2);
	secagree_format(&srv, out, sizeof(out));
	CHECK_STR(out, "ipsec-3gpp;q=0.667;alg=hmac-sha-1-96;ealg=aes-cbc;prot=esp;mod=trans;"
		       "spi-c=3333;spi-s=4444;port-c=5066;port-s=5068, "
		       "ipsec-3gpp;q=0.333;alg=hmac-md5-96;ealg=null;prot=esp;mod=trans;"
		       "spi-c=3333;spi-s=4444;port-c=5066;port-s=5068");
	/* the UE copies it into its Security-Verify: the same header */
	if (parse_ok(out, &verify) == 0)
		CHECK(secagree_equal(&verify, &srv));

	CHECK_EQ(secagree_server(two, 1, 1, 2, 3, 4, NAT_MODE_UDP_ENC_TUN, &srv), 0);
	CHECK_EQ(srv.mech[0].q_milli, 500);
	secagree_format(&srv, out, sizeof(out));
	CHECK_STR(out, "ipsec-3gpp;q=0.5;alg=hmac-sha-1-96;ealg=aes-cbc;prot=esp;mod=UDP-enc-tun;"
		       "spi-c=1;spi-s=2;port-c=3;port-s=4");

	/* q falls strictly inside (0, 1) for every list length */
	struct secagree_pref many[SECAGREE_MAX_MECHS + 1];
	for (size_t i = 0; i < SECAGREE_MAX_MECHS + 1; i++)
		many[i] = two[i % 2];
	for (size_t n = 1; n <= SECAGREE_MAX_MECHS; n++) {
		CHECK_EQ(secagree_server(many, n, 1, 2, 3, 4, NAT_MODE_TRANS, &srv), 0);
		bool falling = true;
		for (size_t i = 0; i < n; i++) {
			if (srv.mech[i].q_milli <= 0 || srv.mech[i].q_milli >= 1000)
				falling = false;
			if (i && srv.mech[i].q_milli >= srv.mech[i - 1].q_milli)
				falling = false;
		}
		CHECK(falling);
	}
	CHECK_EQ(secagree_server(many, 3, 1, 2, 3, 4, NAT_MODE_TRANS, &srv), 0);
	CHECK_EQ(srv.mech[0].q_milli, 750);
	CHECK_EQ(srv.mech[1].q_milli, 500);
	CHECK_EQ(srv.mech[2].q_milli, 250);

	/* refusals */
	static const struct secagree_pref no_alg[] = { { ESP_AUTH_NONE, ESP_ENC_AES_CBC } };
	static const struct secagree_pref bad_enc[] = { { ESP_AUTH_HMAC_MD5_96, ESP_ENC__COUNT } };
	CHECK_EQ(secagree_server(two, 0, 1, 2, 3, 4, NAT_MODE_TRANS, &srv), -EINVAL);
	CHECK_EQ(secagree_server(many, SECAGREE_MAX_MECHS + 1, 1, 2, 3, 4, NAT_MODE_TRANS, &srv), -EINVAL);
	CHECK_EQ(secagree_server(NULL, 1, 1, 2, 3, 4, NAT_MODE_TRANS, &srv), -EINVAL);
	CHECK_EQ(secagree_server(two, 2, 0, 2, 3, 4, NAT_MODE_TRANS, &srv), -EINVAL);
	CHECK_EQ(secagree_server(two, 2, 1, 0, 3, 4, NAT_MODE_TRANS, &srv), -EINVAL);
	CHECK_EQ(secagree_server(two, 2, 1, 2, 0, 4, NAT_MODE_TRANS, &srv), -EINVAL);
	CHECK_EQ(secagree_server(two, 2, 1, 2, 3, 0, NAT_MODE_TRANS, &srv), -EINVAL);
	CHECK_EQ(secagree_server(two, 2, 1, 2, 3, 4, (enum nat_mode)7, &srv), -EINVAL);
	CHECK_EQ(secagree_server(no_alg, 1, 1, 2, 3, 4, NAT_MODE_TRANS, &srv), -EINVAL);
	CHECK_EQ(secagree_server(bad_enc, 1, 1, 2, 3, 4, NAT_MODE_TRANS, &srv), -EINVAL);
	CHECK_EQ(srv.n, 0);
	CHECK_EQ(secagree_server(two, 2, 1, 2, 3, 4, NAT_MODE_TRANS, NULL), -EINVAL);
}

/* TR 33.803 A.7.2 end to end: SM1's Security-Client behind a NAT, the
 * P-CSCF's choice and SM6's Security-Server, the UE's SM7 with the Verify
 * and the Client repeated; a tampered copy is caught. */
static void test_flow(void)
{
	static struct secagree_header sm1, sm6, sm7_client, sm7_verify, tampered;
	static char sm6_text[2048];
	enum esp_auth alg;
	enum esp_enc ealg;
	enum nat_mode mode;

	if (parse_ok(REL7_CLIENT, &sm1))
		return;
	int idx = secagree_choose(&sm1, pcscf_prefs, NPREFS, true, &alg, &ealg, &mode);
	CHECK_EQ(idx, 0);
	CHECK_EQ(mode, NAT_MODE_UDP_ENC_TUN);
	struct secagree_pref chosen = { alg, ealg };
	CHECK_EQ(secagree_server(&chosen, 1, 7001, 7002, 5066, 5068, mode, &sm6), 0);
	secagree_format(&sm6, sm6_text, sizeof(sm6_text));
	CHECK(strstr(sm6_text, ";mod=UDP-enc-tun;") != NULL);

	/* the UE's copies, spelled its own way */
	if (parse_ok(sm6_text, &sm7_verify) == 0)
		CHECK(secagree_equal(&sm7_verify, &sm6));
	if (parse_ok(REL7_CLIENT, &sm7_client) == 0)
		CHECK(secagree_equal(&sm7_client, &sm1));
	/* a bidding-down attacker who struck the strong offer from SM1 */
	if (parse_ok(strchr(REL7_CLIENT, ',') + 1, &tampered) == 0)
		CHECK(!secagree_equal(&tampered, &sm1));
}

struct bad_case {
	const char *in;
	const char *why;	/* must appear in the message */
};

#define V16 "vvvvvvvvvvvvvvvv"

static const struct bad_case bad[] = {
	{ "", "empty header value" },
	{ " \t\r\n ", "empty header value" },
	{ "ipsec-3gpp;alg=hmac-md5-96,,tls", "mechanism 2: empty mechanism" },
	{ ",tls", "mechanism 1: empty mechanism" },
	{ "tls,", "mechanism 2: empty mechanism" },
	{ "tls, ", "mechanism 2: empty mechanism" },
	{ "ipsec-3gpp;alg=hmac-sha-256;alg=hmac-md5-96", "mechanism 1: alg given twice" },
	{ "ipsec-3gpp;alg=hmac-md5-96;alg=hmac-sha-256", "alg given twice" },
	{ "tls, ipsec-3gpp;alg=hmac-md5-96;spi-c=0", "mechanism 2: spi-c '0' is not 1..4294967295" },
	{ "ipsec-3gpp;spi-c=4294967296", "mechanism 1: spi-c '4294967296' is not 1..4294967295" },
	{ "ipsec-3gpp;spi-s=184467440737095516161", "spi-s '184467440737095516161' is not 1..4294967295" },
	{ "ipsec-3gpp;spi-s=-1", "spi-s '-1' is not" },
	{ "ipsec-3gpp;port-s=70000", "port-s '70000' is not 1..65535" },
	{ "ipsec-3gpp;port-s=65536", "port-s '65536' is not 1..65535" },
	{ "ipsec-3gpp;port-c=x", "port-c 'x' is not 1..65535" },
	{ "ipsec-3gpp;port-c=0", "port-c '0' is not 1..65535" },
	{ "ipsec-3gpp;q=2", "mechanism 1: q '2' is not a qvalue" },
	{ "tls;q=1.5", "q '1.5' is not a qvalue" },
	{ "ipsec-3gpp;mod=bogus", "mod 'bogus' is not trans, tun, UDP-enc-tun or UDP-enc-trans" },
	{ "ipsec-3gpp;ealg=", "mechanism 1: ealg has an empty value" },
	{ "ipsec-3gpp;ealg= ;alg=hmac-md5-96", "ealg has an empty value" },
	{ "tls;x=", "x has an empty value" },
	{ "ipsec-3gpp;ealg=aes-gcm;ealg=null", "ealg given twice" },
	{ "ipsec-3gpp;prot=udp", "prot 'udp' is not esp or ah" },
	{ "ipsec-3gpp;alg", "alg has no value" },
	{ "ipsec-3gpp;SPI-C", "spi-c has no value" },
	{ "ipsec-3gpp;alg=hmac-md5-96;ALG=hmac-sha-1-96", "alg given twice" },
	{ "ipsec-3gpp;spi-c=1;spi-c=1", "spi-c given twice" },
	{ "ipsec-3gpp;port-s=1;port-s=2", "port-s given twice" },
	{ "ipsec-3gpp;ealg=null;ealg=null", "ealg given twice" },
	{ "ipsec-3gpp;prot=esp;prot=esp", "prot given twice" },
	{ "tls;q=0.1;q=0.2", "q given twice" },
	{ "digest;d-ver=\"0ba5", "mechanism 1: unterminated quoted string" },
	{ "tls, digest;d-ver=\"abc\\", "mechanism 2: unterminated quoted string" },
	{ "digest;d-ver=\"abc\\\"", "unterminated quoted string" },
	{ "a,b,c,d,e,f,g,h,i", "too many mechanisms (more than 8)" },
	{ "ipsec-3gpp;a;b;c;d;e;f;g;h;i", "too many unknown parameters (more than 8)" },
	{ "ipsec-3gpp-with-a-very-long-name-x", "mechanism name 'ipsec-3gpp-with-a-very-long-nam...' "
						"is longer than 31 characters" },
	{ "tls;a-parameter-name-of-32-characters=1", "parameter name 'a-parameter-name-of-32-characte...' "
						     "is longer than 31 characters" },
	{ "tls;v=" V16 V16 V16 V16 V16 V16,
	  "the value of v is longer than 95 characters" },
	{ "tls;v=\"" V16 V16 V16 V16 V16 "vvvvvvvvvvvvvv\"",
	  "the value of v is longer than 95 characters" },
	{ "ipsec-3gpp;spi-c=00000000000000000000000000000000000000000000000000000000000000000000000000"
	  "000000000000000000000001", "the value of spi-c is longer than 95 characters" },
	{ "ipsec-3gpp;alg=hmac-md5-96\x01", "mechanism 1: expected ';', ',' or the end at offset 26, "
					   "found control character 0x01" },
	{ "ipsec\x7f-3gpp", "control character 0x7f" },
	{ "\x1b[31mipsec-3gpp", "expected a mechanism name at offset 0, found control character 0x1b" },
	{ "tls;x=\"a\x01z\"", "expected a quoted-string character at offset 8, found control character 0x01" },
	{ "tls;x=\"a\\\x01\"", "found control character 0x01" },
	{ "tls;x=\"a\r\nb\"", "found control character 0x0d" },
	{ "ipsec-3gpp;alg=hmac-md5-96\r\n", "found control character 0x0d" },
	{ "ipsec-3gpp\r\nVia: SIP/2.0/UDP x", "found control character 0x0d" },
	{ "ipsec-3gpp\n alg", "found control character 0x0a" },
	{ "ipsec-3gpp;alg=hmac-md5-96 tls", "expected ';', ',' or the end at offset 27, found 't'" },
	{ "ipsec-3gpp;", "expected a parameter name after ';' at offset 11, found the end" },
	{ "ipsec-3gpp;;alg=hmac-md5-96", "expected a parameter name after ';'" },
	{ ";alg=x", "expected a mechanism name at offset 0, found ';'" },
	{ "tls;x=[zz]", "expected an IPv6 address ending in ']'" },
	{ "tls;x=[]", "expected an IPv6 address ending in ']'" },
	{ "tls;x=[::1", "found the end" },
	{ "tls;x==y", "expected a value at offset 6, found '='" },
	{ "tls;x=\xc3\xa9", "found byte 0xc3" },
	{ "tls;x=\"a\"b", "found 'b'" },
	{ "tls x", "found 'x'" },
	{ "Security-Client: tls", "found ':'" },
};

/* A mechanism with an algorithm unknown here stays in the header as
 * written, is never chosen, and does not hide the ones after it. */
static void test_unknown_algorithms(void)
{
	const char *in = "ipsec-3gpp;alg=hmac-sha-256;ealg=aes-cbc;mod=UDP-enc-tun;spi-c=1;"
			 "spi-s=2;port-c=3;port-s=4, ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-gcm;"
			 "mod=UDP-enc-tun;spi-c=1;spi-s=2;port-c=3;port-s=4, ipsec-3gpp;"
			 "alg=\"hmac-md5-96\";mod=trans, ipsec-3gpp;alg=hmac-md5-96;ealg=null;"
			 "mod=UDP-enc-tun;spi-c=1;spi-s=2;port-c=3;port-s=4";
	static const struct secagree_pref prefs[] = {
		{ ESP_AUTH_HMAC_SHA1_96, ESP_ENC_AES_CBC },
		{ ESP_AUTH_HMAC_MD5_96, ESP_ENC_AES_CBC },
		{ ESP_AUTH_HMAC_MD5_96, ESP_ENC_NULL },
	};
	enum esp_auth alg;
	enum esp_enc ealg;
	enum nat_mode mode;
	struct secagree_header again;

	if (parse_ok(in, &ha))
		return;
	CHECK_EQ(ha.n, 4);
	CHECK_EQ(ha.mech[0].alg, SECAGREE_UNSUPPORTED);
	CHECK_EQ(ha.mech[0].ealg, ESP_ENC_AES_CBC);
	CHECK_EQ(ha.mech[1].alg, ESP_AUTH_HMAC_SHA1_96);
	CHECK_EQ(ha.mech[1].ealg, SECAGREE_UNSUPPORTED);
	CHECK_EQ(ha.mech[2].alg, SECAGREE_UNSUPPORTED);	/* quoted: not the token */
	/* only the fourth is one we know, behind a NAT or not */
	CHECK_EQ(secagree_choose(&ha, prefs, 3, true, &alg, &ealg, &mode), 3);
	CHECK_EQ(alg, ESP_AUTH_HMAC_MD5_96);
	CHECK_EQ(ealg, ESP_ENC_NULL);
	CHECK_EQ(secagree_choose(&ha, prefs, 2, true, &alg, &ealg, &mode), -ENOENT);
	/* regenerated with the unknown values as written, and equal */
	CHECK(secagree_format(&ha, out, sizeof(out)) > 0);
	CHECK(strstr(out, "ipsec-3gpp;ealg=aes-cbc;mod=UDP-enc-tun;spi-c=1;spi-s=2;port-c=3;"
			  "port-s=4;alg=hmac-sha-256") != NULL);
	CHECK(strstr(out, "ealg=aes-gcm") != NULL);
	CHECK(strstr(out, "alg=\"hmac-md5-96\"") != NULL);
	if (parse_ok(out, &again) == 0)
		CHECK(secagree_equal(&again, &ha));
	/* a different unknown value is a different header */
	if (parse_ok("ipsec-3gpp;alg=hmac-sha-384;ealg=aes-cbc;mod=UDP-enc-tun;spi-c=1;spi-s=2;"
		     "port-c=3;port-s=4", &again) == 0) {
		struct secagree_header first;
		if (parse_ok("ipsec-3gpp;alg=hmac-sha-256;ealg=aes-cbc;mod=UDP-enc-tun;spi-c=1;"
			     "spi-s=2;port-c=3;port-s=4", &first) == 0)
			CHECK(!secagree_equal(&again, &first));
	}
}

static void test_rejections(void)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&ha, 0xa5, sizeof(ha));
		int r = secagree_parse(bad[i].in, &ha, err, sizeof(err));
		CHECK_EQ(r, -EINVAL);
		CHECK_EQ(ha.n, 0);
		if (!strstr(err, bad[i].why)) {
			fprintf(stderr, "bad[%zu]: \"%s\" lacks \"%s\"\n", i, err, bad[i].why);
			CHECK(strstr(err, bad[i].why) != NULL);
		}
	}
	/* no value, no header, no room for the reason, little room */
	CHECK_EQ(secagree_parse(NULL, &ha, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "no header value");
	CHECK_EQ(secagree_parse("tls", NULL, err, sizeof(err)), -EINVAL);
	CHECK_EQ(secagree_parse("tls;q=2", &ha, NULL, 0), -EINVAL);
	char tiny[8];
	CHECK_EQ(secagree_parse("tls;q=2", &ha, tiny, sizeof(tiny)), -EINVAL);
	CHECK_STR(tiny, "mechani");
	/* a success clears an earlier reason */
	CHECK_EQ(secagree_parse("tls", &ha, err, sizeof(err)), 0);
	CHECK_STR(err, "");
}

/* xorshift32: the same mutations on every run */
static uint32_t rng_state = 0x5ec0a9e3;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state % n;
}

static int robust_bad;	/* round trips that did not hold */
static int robust_ok, robust_refused;

/* Parses exactly @len bytes in a heap block of @len + 1, so that the
 * sanitizer sees any read past the NUL; what parses must survive a
 * format -> parse round trip unchanged. */
static void try_input(const char *s, size_t len)
{
	static struct secagree_header x, y;
	static char text[16384], e[128];
	char *in = malloc(len + 1);

	if (!in)
		return;
	memcpy(in, s, len);
	in[len] = '\0';
	if (secagree_parse(in, &x, e, sizeof(e)) != 0) {
		robust_refused++;
		if (e[0] == '\0' || x.n != 0)
			robust_bad++;
		free(in);
		return;
	}
	robust_ok++;
	int n = secagree_format(&x, text, sizeof(text));
	if (n < 0 || (size_t)n >= sizeof(text) || strlen(text) != (size_t)n ||
	    secagree_parse(text, &y, e, sizeof(e)) != 0 || !secagree_equal(&x, &y)) {
		if (robust_bad++ < 5)
			fprintf(stderr, "round trip failed: \"%s\" -> \"%s\" (%s)\n", in, text, e);
	}
	/* the choice must cope with anything parsed */
	secagree_choose(&x, pcscf_prefs, NPREFS, rnd(2), NULL, NULL, NULL);
	free(in);
}

static void test_robustness(void)
{
	static const char *const seeds[] = {
		SEED_CLIENT, SEED_SERVER, REL7_CLIENT,
		("digest;d-alg=md5;d-ver=\"0ba5\\\"50ff\";q=0.2,\r\n tls;q=0.3, "
		 "IPSEC-3GPP ; alg = hmac-sha-1-96 ; ealg=aes-cbc ; mod=UDP-enc-tun; host=[2001:db8::1]"),
	};
	/* bytes that steer the parser somewhere interesting */
	static const char alphabet[] = ";,=\"\\[] \t\r\n.:0123456789qQ-abeiptcsx\x01\x7f\x80\xff";
	char buf[1024];

	for (size_t k = 0; k < sizeof(seeds) / sizeof(seeds[0]); k++) {
		size_t len = strlen(seeds[k]);

		for (size_t cut = 0; cut <= len; cut++)
			try_input(seeds[k], cut);
	}
	for (int iter = 0; iter < 30000; iter++) {
		const char *seed = seeds[rnd(sizeof(seeds) / sizeof(seeds[0]))];
		size_t len = strlen(seed);
		int edits = 1 + (int)rnd(4);

		memcpy(buf, seed, len);
		for (int j = 0; j < edits; j++) {
			size_t at = len ? rnd((uint32_t)len) : 0;
			char ch = rnd(3) ? alphabet[rnd(sizeof(alphabet) - 1)] : (char)(1 + rnd(255));

			switch (rnd(4)) {
			case 0:		/* replace */
				if (len)
					buf[at] = ch;
				break;
			case 1:		/* insert */
				if (len + 1 < sizeof(buf)) {
					memmove(buf + at + 1, buf + at, len - at);
					buf[at] = ch;
					len++;
				}
				break;
			case 2:		/* delete */
				if (len) {
					memmove(buf + at, buf + at + 1, len - at - 1);
					len--;
				}
				break;
			default:	/* cut */
				len = at;
				break;
			}
		}
		try_input(buf, len);
	}
	CHECK_EQ(robust_bad, 0);
	/* the mutations reached both sides of the parser */
	CHECK(robust_ok > 1000);
	CHECK(robust_refused > 1000);
}

int main(void)
{
	test_seed_examples();
	test_several_mechs();
	test_case_and_lws();
	test_unknown_kept();
	test_mods();
	test_q();
	test_round_trips();
	test_equal();
	test_choose();
	test_server();
	test_flow();
	test_unknown_algorithms();
	test_rejections();
	test_robustness();
	return check_done("test_secagree");
}
