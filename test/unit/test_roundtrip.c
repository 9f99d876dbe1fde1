/* Every algorithm combination x transport/tunnel x IPv4/IPv6 x plain ESP or
 * ESP-in-UDP: encapsulate on one engine, check the wire format, decapsulate
 * on another, and get the original packet back. */
#include <stdio.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/csum.h"
#include "engine/ip.h"
#include "test/unit/check.h"
#include "test/unit/testutil.h"

struct combo {
	const char *enc;	/* SA-file words */
	const char *auth;
	unsigned block, iv, icv;
};

/* The ten combinations: five ciphers (NULL, AES-CBC with 128/192/256-bit
 * keys, 3DES-CBC) times two integrity algorithms. */
static const struct combo combos[] = {
	{ "enc 'ecb(cipher_null)' \"\"", "auth-trunc 'hmac(md5)' 0x000102030405060708090a0b0c0d0e0f 96", 4, 0, 12 },
	{ "enc 'ecb(cipher_null)' \"\"", "auth-trunc 'hmac(sha1)' 0x000102030405060708090a0b0c0d0e0f10111213 96", 4, 0, 12 },
	{ "enc 'cbc(aes)' 0x2b7e151628aed2a6abf7158809cf4f3c", "auth hmac(md5) 0x000102030405060708090a0b0c0d0e0f", 16, 16, 12 },
	{ "enc 'cbc(aes)' 0x2b7e151628aed2a6abf7158809cf4f3c", "auth hmac(sha1) 0x000102030405060708090a0b0c0d0e0f10111213", 16, 16, 12 },
	{ "enc 'cbc(aes)' 0x8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b", "auth hmac(md5) 0x000102030405060708090a0b0c0d0e0f", 16, 16, 12 },
	{ "enc 'cbc(aes)' 0x8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b", "auth hmac(sha1) 0x000102030405060708090a0b0c0d0e0f10111213", 16, 16, 12 },
	{ "enc 'cbc(aes)' 0x603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", "auth hmac(md5) 0x000102030405060708090a0b0c0d0e0f", 16, 16, 12 },
	{ "enc 'cbc(aes)' 0x603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", "auth hmac(sha1) 0x000102030405060708090a0b0c0d0e0f10111213", 16, 16, 12 },
	{ "enc 'cbc(des3_ede)' 0x0123456789abcdef23456789abcdef01456789abcdef0123", "auth hmac(md5) 0x000102030405060708090a0b0c0d0e0f", 8, 8, 12 },
	{ "enc 'cbc(des3_ede)' 0x0123456789abcdef23456789abcdef01456789abcdef0123", "auth hmac(sha1) 0x000102030405060708090a0b0c0d0e0f10111213", 8, 8, 12 },
};

struct shape {
	const char *outer_src, *outer_dst;	/* SA addresses */
	const char *inner_src, *inner_dst;	/* the packet's */
	int tunnel;
	int udp;
};

static const struct shape shapes[] = {
	{ "10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.2", 0, 0 },
	{ "10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.2", 0, 1 },
	{ "192.0.2.1", "192.0.2.2", "10.1.1.1", "10.2.2.2", 1, 0 },
	{ "192.0.2.1", "192.0.2.2", "10.1.1.1", "10.2.2.2", 1, 1 },
	{ "2001:db8::1", "2001:db8::2", "2001:db8::1", "2001:db8::2", 0, 0 },
	{ "2001:db8::1", "2001:db8::2", "2001:db8::1", "2001:db8::2", 0, 1 },
	{ "2001:db8::1", "2001:db8::2", "2001:db8:a::1", "2001:db8:b::2", 1, 0 },
	{ "2001:db8::1", "2001:db8::2", "2001:db8:a::1", "2001:db8:b::2", 1, 1 },
	/* IPv4 carried over IPv6 */
	{ "2001:db8::1", "2001:db8::2", "10.1.1.1", "10.2.2.2", 1, 1 },
};

static void sa_line(char *buf, size_t len, const struct combo *c,
		    const struct shape *s, const char *dir)
{
	snprintf(buf, len,
		 "src %s dst %s proto esp spi 0x1234abcd mode %s %s %s %s "
		 "sel src %s dst %s proto udp dport 5062 dir %s",
		 s->outer_src, s->outer_dst, s->tunnel ? "tunnel" : "transport",
		 c->auth, c->enc,
		 s->udp ? (strchr(s->outer_src, ':') ? "encap espinudp 4500 4500 ::" :
						     "encap espinudp 4500 4500 0.0.0.0") : "",
		 s->inner_src, s->inner_dst, dir);
}

/* Checks what the sender produced against RFC 4303 2 and RFC 3948 2.1. */
static void check_wire(const struct combo *c, const struct shape *s,
		       const uint8_t *pkt, uint32_t len, uint32_t plain_len,
		       uint32_t seq, const uint8_t *payload, size_t plen)
{
	struct ip_view v;

	CHECK_EQ(ip_parse(pkt, len, &v), 0);
	CHECK_EQ(v.len, len);
	CHECK_EQ(v.proto, s->udp ? IPPROTO_NUM_UDP : IPPROTO_NUM_ESP);
	uint32_t esp = v.l4_off;
	if (s->udp) {
		CHECK_EQ(v.sport, 4500);
		CHECK_EQ(v.dport, 4500);
		CHECK_EQ(get_be16(pkt + esp + 4), len - esp);
		if (v.family == AF_INET)
			CHECK_EQ(get_be16(pkt + esp + 6), 0);	/* RFC 3948 3.1.1 */
		else
			CHECK(l4_checksum_ok(pkt, len));
		esp += 8;
	}
	CHECK_EQ(get_be32(pkt + esp), 0x1234abcd);
	CHECK_EQ(get_be32(pkt + esp + 4), seq);
	uint32_t ct = len - esp - 8 - c->iv - c->icv;
	CHECK_EQ(ct % c->block, 0);
	/* the smallest padding that aligns: fewer than one block of it */
	uint32_t inner = s->tunnel ? plain_len : plain_len - (v.family == AF_INET ? 20 : 40);
	CHECK(ct >= inner + 2 && ct < inner + 2 + c->block);
	if (c->iv) {
		/* the plaintext must not show through */
		int found = 0;
		for (uint32_t i = 0; i + plen <= len; i++)
			if (memcmp(pkt + i, payload, plen) == 0)
				found = 1;
		CHECK(!found);
	}
}

static void round_trip(const struct combo *c, const struct shape *s)
{
	static struct test_pkt t;
	static uint8_t plain[2048], first_iv[16];
	char out_line[512], in_line[512];
	const uint8_t payload[] = "REGISTER sip:ims.example SIP/2.0\r\nVia: SIP/2.0/UDP x\r\n\r\n";
	struct esp_engine *tx = esp_engine_new(), *rx = esp_engine_new();
	struct esp_worker *wt = esp_worker_new(tx), *wr = esp_worker_new(rx);
	struct esp_result r;

	sa_line(out_line, sizeof(out_line), c, s, "out");
	sa_line(in_line, sizeof(in_line), c, s, "in");
	add_sa(tx, out_line);
	add_sa(rx, in_line);

	for (uint32_t seq = 1; seq <= 3; seq++) {
		/* payload lengths 0..(block) cover every padding length */
		size_t plen = sizeof(payload) - 1 - seq * 3;
		size_t len = build_udp(plain, s->inner_src, s->inner_dst, 5060, 5062,
				       payload, plen);
		test_pkt_set(&t, plain, len);
		CHECK_EQ(run(wt, &t, &r), ESP_VERDICT_ENCAP);
		check_wire(c, s, pkt_data(&t.p), t.p.len, (uint32_t)len, seq, payload, plen);

		/* IVs come from the CSPRNG: never the same twice */
		struct ip_view ov;
		ip_parse(pkt_data(&t.p), t.p.len, &ov);
		uint32_t iv_off = ov.l4_off + (s->udp ? 8 : 0) + 8;
		if (c->iv && seq == 1)
			memcpy(first_iv, pkt_data(&t.p) + iv_off, c->iv);
		else if (c->iv)
			CHECK(memcmp(first_iv, pkt_data(&t.p) + iv_off, c->iv) != 0);

		CHECK_EQ(run(wr, &t, &r), ESP_VERDICT_DECAP);
		CHECK_EQ(t.p.len, len);
		CHECK_MEM(pkt_data(&t.p), plain, len);
		CHECK(l4_checksum_ok(pkt_data(&t.p), t.p.len));
	}
	esp_engine_free(tx);
	esp_engine_free(rx);
}

/* A packet with IPv6 extension headers: hop-by-hop stays in front of ESP
 * in transport mode (RFC 4303 3.1.1), and comes back unchanged. */
static void ipv6_extension_headers(void)
{
	static struct test_pkt t;
	uint8_t pkt[256], orig[256];
	const uint8_t payload[] = "hello";
	struct esp_engine *tx = esp_engine_new(), *rx = esp_engine_new();
	struct esp_worker *wt = esp_worker_new(tx), *wr = esp_worker_new(rx);
	struct esp_result r;
	const char *line = "src 2001:db8::1 dst 2001:db8::2 proto esp spi 0x500 "
			   "auth hmac(sha1) 0x000102030405060708090a0b0c0d0e0f10111213 "
			   "enc cbc(aes) 0x2b7e151628aed2a6abf7158809cf4f3c dir ";
	char l[400];

	snprintf(l, sizeof(l), "%sout", line);
	add_sa(tx, l);
	snprintf(l, sizeof(l), "%sin", line);
	add_sa(rx, l);

	size_t ulen = build_udp(pkt, "2001:db8::1", "2001:db8::2", 1, 2, payload, 5);
	/* insert an 8-byte hop-by-hop header (PadN) after the fixed header */
	memcpy(orig, pkt, 40);
	orig[6] = 0;				/* next: hop-by-hop */
	uint8_t hbh[8] = { IPPROTO_NUM_UDP, 0, 1, 4, 0, 0, 0, 0 };
	memcpy(orig + 40, hbh, 8);
	memcpy(orig + 48, pkt + 40, ulen - 40);
	put_be16(orig + 4, (uint16_t)(ulen - 40 + 8));
	size_t len = ulen + 8;

	test_pkt_set(&t, orig, len);
	CHECK_EQ(run(wt, &t, &r), ESP_VERDICT_ENCAP);
	CHECK_EQ(pkt_data(&t.p)[6], 0);		/* still hop-by-hop first */
	CHECK_EQ(pkt_data(&t.p)[40], IPPROTO_NUM_ESP);	/* which now names ESP */
	CHECK_EQ(get_be32(pkt_data(&t.p) + 48), 0x500);
	CHECK_EQ(run(wr, &t, &r), ESP_VERDICT_DECAP);
	CHECK_EQ(t.p.len, len);
	CHECK_MEM(pkt_data(&t.p), orig, len);
	esp_engine_free(tx);
	esp_engine_free(rx);
}

/* A SYN announcing MSS 1460 leaves (and arrives) announcing what fits the
 * path once protected; its checksum stays right; other segments are not
 * touched. Without a path MTU nothing is. */
static void mss_clamping(void)
{
	static struct test_pkt t;
	uint8_t pkt[128];
	struct esp_engine *tx = esp_engine_new(), *rx = esp_engine_new();
	struct esp_worker *wt = esp_worker_new(tx), *wr = esp_worker_new(rx);
	struct esp_result r;
	const char *line = "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x600 mode tunnel "
			   "auth hmac(sha1) 0x000102030405060708090a0b0c0d0e0f10111213 "
			   "enc cbc(aes) 0x2b7e151628aed2a6abf7158809cf4f3c "
			   "encap espinudp 4500 4500 0.0.0.0 dir ";
	char l[400];

	snprintf(l, sizeof(l), "%sout", line);
	add_sa(tx, l);
	snprintf(l, sizeof(l), "%sin", line);
	add_sa(rx, l);
	/* a SYN: 20-byte IPv4 header, TCP with NOP NOP MSS 1460 */
	memset(pkt, 0, sizeof(pkt));
	pkt[0] = 0x45;
	put_be16(pkt + 2, 48);
	pkt[8] = 64;
	pkt[9] = IPPROTO_NUM_TCP;
	memcpy(pkt + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
	uint8_t *tcp = pkt + 20;
	put_be16(tcp, 5062);
	put_be16(tcp + 2, 5068);
	tcp[12] = 7 << 4;		/* 28-byte header */
	tcp[13] = 0x02;			/* SYN */
	put_be16(tcp + 14, 65535);
	memcpy(tcp + 20, "\x01\x01\x02\x04\x05\xb4\x00\x00", 8);
	csum_ipv4_header(pkt);
	put_be16(tcp + 16, csum_l4(pkt + 12, pkt + 16, 4, IPPROTO_NUM_TCP, tcp, 28));
	CHECK(l4_checksum_ok(pkt, 48));

	for (int on = 0; on <= 1; on++) {
		esp_engine_set_path_mtu(tx, on ? 1500 : 0);
		test_pkt_set(&t, pkt, 48);
		CHECK_EQ(run(wt, &t, &r), ESP_VERDICT_ENCAP);
		CHECK_EQ(run(wr, &t, &r), ESP_VERDICT_DECAP);
		uint16_t mss = get_be16(pkt_data(&t.p) + 20 + 24);
		/* 1500 - 20 (IP) - 20 (TCP) - (8 UDP + 8 ESP + 16 IV + 15 pad + 2 + 12 ICV)
		 * - 20 (outer IP) = 1379 */
		CHECK_EQ(mss, on ? 1379 : 1460);
		CHECK(l4_checksum_ok(pkt_data(&t.p), t.p.len));
	}
	/* the receiving side clamps what arrives too */
	esp_engine_set_path_mtu(tx, 0);
	esp_engine_set_path_mtu(rx, 1400);
	test_pkt_set(&t, pkt, 48);
	run(wt, &t, &r);
	CHECK_EQ(run(wr, &t, &r), ESP_VERDICT_DECAP);
	CHECK_EQ(get_be16(pkt_data(&t.p) + 44), 1279);
	CHECK(l4_checksum_ok(pkt_data(&t.p), t.p.len));
	/* not a SYN: left alone */
	tcp[13] = 0x10;
	put_be16(tcp + 16, 0);
	put_be16(tcp + 16, csum_l4(pkt + 12, pkt + 16, 4, IPPROTO_NUM_TCP, tcp, 28));
	test_pkt_set(&t, pkt, 48);
	run(wt, &t, &r);
	CHECK_EQ(run(wr, &t, &r), ESP_VERDICT_DECAP);
	CHECK_MEM(pkt_data(&t.p), pkt, 48);
	esp_engine_free(tx);
	esp_engine_free(rx);
}

int main(void)
{
	mss_clamping();
	for (size_t i = 0; i < sizeof(combos) / sizeof(combos[0]); i++)
		for (size_t j = 0; j < sizeof(shapes) / sizeof(shapes[0]); j++)
			round_trip(&combos[i], &shapes[j]);
	ipv6_extension_headers();
	return check_done("test_roundtrip");
}
