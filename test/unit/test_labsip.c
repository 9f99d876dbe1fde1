/* The lab simulators' SIP codec and Digest AKA pieces (tools/lab/sip.c,
 * akadigest.c): well-formed messages, hostile ones, the Digest parameters
 * the UE and the registrar read from each other. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/unit/check.h"
#include "tools/lab/akadigest.h"
#include "tools/lab/sip.h"

static struct sip_msg m;
static char err[128];

static void *must_alloc(void *p)
{
	if (!p) {
		fprintf(stderr, "test_labsip: out of memory\n");
		exit(1);
	}
	return p;
}

static int parse(const char *s)
{
	return sip_parse(s, strlen(s), &m, err, sizeof(err));
}

static void test_register(void)
{
	const char *reg =
		"REGISTER sip:ims.lab SIP/2.0\r\n"
		"v: SIP/2.0/UDP 10.77.1.11:5060;branch=z9hG4bK1;rport\r\n"
		"From: <sip:alice@ims.lab>;tag=1\r\n"
		"Security-Client: ipsec-3gpp;alg=hmac-sha-1-96;spi-c=1;\r\n"
		"\tspi-s=2;port-c=5062;port-s=5064\r\n"
		"Content-Length : 5\r\n"
		"\r\n"
		"hello";
	char buf[SIP_MAX_MSG], out[64];

	CHECK_EQ(parse(reg), 0);
	CHECK(m.request);
	CHECK(strcmp(m.method, "REGISTER") == 0 && strcmp(m.uri, "sip:ims.lab") == 0);
	/* compact form, folded line, space before the colon */
	CHECK(sip_get(&m, "Via") && strstr(sip_get(&m, "via"), "10.77.1.11:5060"));
	CHECK(sip_get(&m, "Security-Client") &&
	      strstr(sip_get(&m, "Security-Client"), "spi-c=1; spi-s=2;port-c=5062"));
	CHECK(sip_get(&m, "Content-Length") != NULL);
	CHECK_EQ(m.body_len, 5);
	CHECK(strcmp(m.body, "hello") == 0);
	CHECK(sip_param(sip_get(&m, "Via"), "rport", out, sizeof(out)) && out[0] == '\0');
	CHECK(sip_param(sip_get(&m, "Via"), "branch", out, sizeof(out)) &&
	      strcmp(out, "z9hG4bK1") == 0);
	CHECK(!sip_param(sip_get(&m, "Via"), "received", out, sizeof(out)));
	CHECK(!sip_param(sip_get(&m, "Via"), "rpo", out, sizeof(out)));

	/* a response copies what RFC 3261 8.2.6.2 says and formats with the
	 * right Content-Length */
	struct sip_msg r;
	sip_response(&r, &m, 401, "Unauthorized");
	sip_set(&r, "Via", "SIP/2.0/UDP 10.77.1.11:5060;branch=z9hG4bK1;received=203.0.113.7;"
		"rport=40000");
	int n = sip_format(&r, buf, sizeof(buf));
	CHECK(n > 0);
	CHECK_EQ(sip_parse(buf, (size_t)n, &m, err, sizeof(err)), 0);
	CHECK(!m.request && m.status == 401 && strcmp(m.reason, "Unauthorized") == 0);
	CHECK(sip_param(sip_get(&m, "Via"), "received", out, sizeof(out)) &&
	      strcmp(out, "203.0.113.7") == 0);
	CHECK(sip_param(sip_get(&m, "Via"), "rport", out, sizeof(out)) && strcmp(out, "40000") == 0);
	CHECK(strstr(buf, "Content-Length: 0\r\n\r\n") != NULL);
	CHECK(sip_get(&m, "Security-Client") == NULL);
	/* too small a buffer: refused, not cut */
	CHECK_EQ(sip_format(&r, buf, 40), -1);
}

static void test_hostile(void)
{
	static const char *const bad[] = {
		"",
		"\r\n",
		"SIP/2.0 99 Too Low\r\n\r\n",
		"SIP/2.0 700 Too High\r\n\r\n",
		"SIP/2.0 200\r\n\r\n",
		"REGISTER\r\n\r\n",
		"REGISTER sip:x SIP/2.0\r\nno colon here\r\n\r\n",
		"REGISTER sip:x SIP/2.0\r\n: empty name\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ(parse(bad[i]), -1);
		CHECK(err[0] != '\0');
	}

	/* a line longer than a header may be */
	size_t big = SIP_MAX_VALUE + 200;
	char *s = must_alloc(malloc(big + 64));
	int n = sprintf(s, "MESSAGE sip:x SIP/2.0\r\nX: ");
	memset(s + n, 'a', big);
	memcpy(s + n + big, "\r\n\r\n", 5);
	CHECK_EQ(parse(s), -1);
	CHECK(strstr(err, "too long") != NULL);

	/* more headers than there is room for */
	char *many = must_alloc(malloc(SIP_MAX_HEADERS * 16 + 64));
	int k = sprintf(many, "MESSAGE sip:x SIP/2.0\r\n");
	for (int i = 0; i <= SIP_MAX_HEADERS; i++)
		k += sprintf(many + k, "X%d: y\r\n", i);
	sprintf(many + k, "\r\n");
	CHECK_EQ(parse(many), -1);
	CHECK(strstr(err, "too many headers") != NULL);
	free(many);

	/* bodies: the longest that fits stays a C string, one more is refused */
	size_t room = sizeof(m.body) - 1;
	n = sprintf(s, "MESSAGE sip:x SIP/2.0\r\n\r\n");
	s = must_alloc(realloc(s, (size_t)n + room + 2));
	memset(s + n, 'b', room + 1);
	CHECK_EQ(sip_parse(s, (size_t)n + room, &m, err, sizeof(err)), 0);
	CHECK_EQ(m.body_len, room);
	CHECK_EQ(strlen(m.body), room);
	CHECK_EQ(sip_parse(s, (size_t)n + room + 1, &m, err, sizeof(err)), -1);
	CHECK(strstr(err, "body longer") != NULL);

	/* every prefix of a real message parses or fails cleanly (the
	 * sanitizers see any read past the given length) */
	const char *reg = "REGISTER sip:ims.lab SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=b\r\n"
			  "CSeq: 1 REGISTER\r\n\r\nbody";
	for (size_t len = 0; len <= strlen(reg); len++) {
		char *copy = must_alloc(malloc(len ? len : 1));
		memcpy(copy, reg, len);
		int r = sip_parse(copy, len, &m, err, sizeof(err));
		CHECK(r == 0 || r == -1);
		free(copy);
	}
	free(s);
}

static void test_digest_params(void)
{
	const char *www = "Digest realm=\"ims.lab\", nonce=\"abc,def\",algorithm=AKAv1-MD5, "
			  "cnonce=\"zzz\"";
	char out[64];

	CHECK(aka_digest_param(www, "realm", out, sizeof(out)) && strcmp(out, "ims.lab") == 0);
	/* a comma inside quotes is the value's; nonce is not cnonce */
	CHECK(aka_digest_param(www, "nonce", out, sizeof(out)) && strcmp(out, "abc,def") == 0);
	CHECK(aka_digest_param(www, "cnonce", out, sizeof(out)) && strcmp(out, "zzz") == 0);
	CHECK(aka_digest_param(www, "ALGORITHM", out, sizeof(out)) &&
	      strcmp(out, "AKAv1-MD5") == 0);
	CHECK(!aka_digest_param(www, "opaque", out, sizeof(out)));
	CHECK(!aka_digest_param(www, "nonce", out, 4));		/* does not fit */
	CHECK(!aka_digest_param("Basic realm=\"x\"", "realm", out, sizeof(out)));
	CHECK(!aka_digest_param("Digest realm=\"open", "realm", out, sizeof(out)));
	CHECK(!aka_digest_param("Digest realm", "realm", out, sizeof(out)));
	CHECK(!aka_digest_param("Digest a=b c=d, realm=x", "realm", out, sizeof(out)));
	CHECK(!aka_digest_param("Digest", "realm", out, sizeof(out)));
}

static void test_nonce_and_response(void)
{
	uint8_t rand[16], autn[16], r2[16], a2[16];
	char nonce[64], resp[33];

	for (int i = 0; i < 16; i++) {
		rand[i] = (uint8_t)(0xf0 + i);
		autn[i] = (uint8_t)i;
	}
	CHECK_EQ(aka_nonce_encode(rand, autn, nonce, sizeof(nonce)), 0);
	CHECK_EQ(strlen(nonce), 44);
	CHECK_EQ(aka_nonce_decode(nonce, r2, a2), 0);
	CHECK_MEM(r2, rand, 16);
	CHECK_MEM(a2, autn, 16);
	CHECK_EQ(aka_nonce_encode(rand, autn, nonce, 44), -1);	/* no room for the NUL */
	CHECK_EQ(aka_nonce_decode("", r2, a2), -1);
	CHECK_EQ(aka_nonce_decode("AAAA", r2, a2), -1);
	CHECK_EQ(aka_nonce_decode("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!=", r2, a2), -1);

	/* RFC 2617 3.2.2.1 without qop, on RFC 2069 2.4's example inputs;
	 * expected value computed independently with Python's hashlib */
	aka_digest_response("Mufasa", "testrealm@host.com", (const uint8_t *)"CircleOfLife", 12,
			    "GET", "/dir/index.html", "dcd98b7102dd2f0e8b11d0f600bfb0c093", resp);
	CHECK(strcmp(resp, "1949323746fe6a43ef61f9606e7febea") == 0);
	/* RES is binary (RFC 3310 3.4): zero bytes count, the same way */
	static const uint8_t res[8] = { 0xa5, 0x42, 0x11, 0xd5, 0xe3, 0xba, 0x50, 0x00 };
	aka_digest_response("alice@ims.lab", "ims.lab", res, sizeof(res), "REGISTER",
			    "sip:ims.lab", "nonce", resp);
	CHECK(strcmp(resp, "0af11c961bcf8a49f4f8d7af9d489e27") == 0);
}

int main(void)
{
	test_register();
	test_hostile();
	test_digest_params();
	test_nonce_and_response();
	return check_done("test_labsip");
}
