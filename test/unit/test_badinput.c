/* Hostile and broken input: truncated and lying headers, forged ICVs,
 * replays, bad padding, wrong next headers, unknown SPIs, empty packets.
 * Each is dropped with its reason and counted, and nothing crashes. */
#include <stdlib.h>
#include <string.h>

#include "engine/csum.h"
#include "engine/engine.h"
#include "engine/ip.h"
#include "test/unit/check.h"
#include "test/unit/testutil.h"

#define AUTH_KEY "000102030405060708090a0b0c0d0e0f10111213"
#define ENC_KEY "2b7e151628aed2a6abf7158809cf4f3c"
#define KEYS "auth hmac(sha1) 0x" AUTH_KEY " enc cbc(aes) 0x" ENC_KEY

static struct test_pkt t;
static struct esp_engine *tx, *rx;
static struct esp_worker *wt, *wr;

static void setup(void)
{
	tx = esp_engine_new();
	rx = esp_engine_new();
	wt = esp_worker_new(tx);
	wr = esp_worker_new(rx);
	add_sa(tx, "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x100 " KEYS
		   " sel src 10.0.0.1 dst 10.0.0.2 proto udp dport 5062 dir out");
	add_sa(rx, "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x100 " KEYS " dir in");
	add_sa(rx, "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x200 mode tunnel " KEYS
		   " sel src 10.9.0.0/16 dst 10.8.0.0/16 dir in");
}

/* A fresh, valid ESP packet from the sender, with sequence number @seq
 * (the sender's counter is set just before). */
static size_t valid_esp(uint8_t *out, uint32_t seq)
{
	uint8_t plain[256];
	struct esp_result r;
	size_t len = build_udp(plain, "10.0.0.1", "10.0.0.2", 5060, 5062,
			       (const uint8_t *)"SIP/2.0 200 OK", 14);

	esp_sad_first(esp_engine_sad(tx))->seq_out = seq - 1;
	test_pkt_set(&t, plain, len);
	if (run(wt, &t, &r) != ESP_VERDICT_ENCAP)
		abort();
	memcpy(out, pkt_data(&t.p), t.p.len);
	return t.p.len;
}

static enum esp_drop expect_drop(const uint8_t *pkt, size_t len)
{
	struct esp_result r;

	test_pkt_set(&t, pkt, len);
	if (run(wr, &t, &r) != ESP_VERDICT_DROP)
		return ESP_DROP__COUNT;
	return r.reason;
}

/* Builds an IPv4 ESP packet whose payload the test chooses byte for byte:
 * @plain (block-aligned, trailer included) is encrypted and authenticated
 * with the receiver's keys, so only what the test broke is wrong. */
static size_t forge(uint8_t *out, uint32_t spi, uint32_t seq,
		    const uint8_t *plain, size_t plen)
{
	uint8_t ek[16], ak[20], iv[16] = { 7, 7, 7 }, mac[20];
	struct esp_cipher c;
	struct esp_hmac h;

	unhex(ENC_KEY, ek, sizeof(ek));
	unhex(AUTH_KEY, ak, sizeof(ak));
	size_t total = 20 + 8 + 16 + plen + 12;
	memset(out, 0, 20);
	out[0] = 0x45;
	put_be16(out + 2, (uint16_t)total);
	out[8] = 64;
	out[9] = IPPROTO_NUM_ESP;
	out[12] = 10, out[15] = 1;
	out[16] = 10, out[19] = 2;
	csum_ipv4_header(out);
	put_be32(out + 20, spi);
	put_be32(out + 24, seq);
	memcpy(out + 28, iv, 16);
	memcpy(out + 44, plain, plen);
	esp_cipher_init(&c, ESP_ENC_AES_CBC, ek, 16, true);
	esp_cipher_run(&c, iv, out + 44, plen);
	esp_cipher_free(&c);
	esp_hmac_init(&h, ESP_AUTH_HMAC_SHA1_96, ak, 20);
	esp_hmac_compute(&h, out + 20, 8 + 16 + plen, mac);
	memcpy(out + 44 + plen, mac, 12);
	return total;
}

static void test_truncated_and_lying_headers(void)
{
	uint8_t pkt[512];
	size_t len = valid_esp(pkt, 1);

	CHECK_EQ(expect_drop(pkt, 0), ESP_DROP_MALFORMED);
	CHECK_EQ(expect_drop(pkt, 1), ESP_DROP_MALFORMED);
	CHECK_EQ(expect_drop(pkt, 19), ESP_DROP_MALFORMED);
	/* IPv4 total length longer than what is there */
	CHECK_EQ(expect_drop(pkt, len - 1), ESP_DROP_MALFORMED);
	uint8_t bad[512];
	memcpy(bad, pkt, len);
	put_be16(bad + 2, 10);			/* shorter than its own header */
	CHECK_EQ(expect_drop(bad, len), ESP_DROP_MALFORMED);
	memcpy(bad, pkt, len);
	bad[0] = 0x44;				/* IHL 4 */
	CHECK_EQ(expect_drop(bad, len), ESP_DROP_MALFORMED);
	memcpy(bad, pkt, len);
	bad[0] = 0x4f;				/* IHL 15: options past the end */
	put_be16(bad + 2, 40);
	CHECK_EQ(expect_drop(bad, 40), ESP_DROP_MALFORMED);
	memcpy(bad, pkt, len);
	bad[0] = 0x55;				/* IP version 5 */
	CHECK_EQ(expect_drop(bad, len), ESP_DROP_MALFORMED);
	/* ESP header cut after the SPI */
	memcpy(bad, pkt, 26);
	put_be16(bad + 2, 26);
	csum_ipv4_header(bad);
	CHECK_EQ(expect_drop(bad, 26), ESP_DROP_MALFORMED);

	/* IPv6: payload length beyond the bytes, extension header cut off */
	uint8_t v6[128] = { 0x60 };
	put_be16(v6 + 4, 100);
	v6[6] = IPPROTO_NUM_ESP;
	CHECK_EQ(expect_drop(v6, 60), ESP_DROP_MALFORMED);
	put_be16(v6 + 4, 4);
	v6[6] = 0;				/* hop-by-hop, 4 bytes of it */
	CHECK_EQ(expect_drop(v6, 44), ESP_DROP_MALFORMED);
	put_be16(v6 + 4, 0);			/* jumbogram marker */
	CHECK_EQ(expect_drop(v6, 40), ESP_DROP_MALFORMED);
}

static void test_lengths(void)
{
	uint8_t pkt[512];
	size_t len = valid_esp(pkt, 2);

	/* one byte less: the ciphertext is no longer whole blocks */
	put_be16(pkt + 2, (uint16_t)(len - 1));
	csum_ipv4_header(pkt);
	CHECK_EQ(expect_drop(pkt, len - 1), ESP_DROP_BAD_LENGTH);
	/* header, IV and ICV but no ciphertext at all */
	len = 20 + 8 + 16 + 12;
	put_be16(pkt + 2, (uint16_t)len);
	csum_ipv4_header(pkt);
	CHECK_EQ(expect_drop(pkt, len), ESP_DROP_BAD_LENGTH);
}

static void test_unknown_spi_and_forged_icv(void)
{
	uint8_t pkt[512], bad[512];
	size_t len = valid_esp(pkt, 3);

	memcpy(bad, pkt, len);
	bad[23] ^= 0x01;			/* SPI 0x101 */
	CHECK_EQ(expect_drop(bad, len), ESP_DROP_NO_SA);
	memcpy(bad, pkt, len);
	bad[19] = 3;				/* right SPI, other destination */
	csum_ipv4_header(bad);
	CHECK_EQ(expect_drop(bad, len), ESP_DROP_NO_SA);

	size_t positions[] = { len - 1, len - 12, 44, 30, 27 /* seq */ };
	for (size_t i = 0; i < sizeof(positions) / sizeof(positions[0]); i++) {
		memcpy(bad, pkt, len);
		bad[positions[i]] ^= 0x80;
		CHECK_EQ(expect_drop(bad, len), ESP_DROP_AUTH);
	}
	/* and the genuine one still goes through: nothing above moved state */
	struct esp_result r;
	test_pkt_set(&t, pkt, len);
	CHECK_EQ(run(wr, &t, &r), ESP_VERDICT_DECAP);

	/* The SA replaced under the same SPI and destination with another
	 * key, as a rekey does: the worker, which just used the old one,
	 * finds the new one; packets under the old key fail its ICV. */
	struct esp_addr dst = { AF_INET, { 10, 0, 0, 2 } };
	len = valid_esp(pkt, 4);
	CHECK_EQ(esp_engine_del_sa(rx, 0x100, &dst), 0);
	CHECK_EQ(expect_drop(pkt, len), ESP_DROP_NO_SA);
	add_sa(rx, "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x100 auth hmac(sha1) "
		   "0xffeeddccbbaa99887766554433221100ffeeddcc enc cbc(aes) 0x" ENC_KEY " dir in");
	CHECK_EQ(expect_drop(pkt, len), ESP_DROP_AUTH);
	CHECK_EQ(esp_engine_del_sa(rx, 0x100, &dst), 0);
	add_sa(rx, "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x100 " KEYS " dir in");
	len = valid_esp(pkt, 5);
	test_pkt_set(&t, pkt, len);
	CHECK_EQ(run(wr, &t, &r), ESP_VERDICT_DECAP);
}

static void test_replay(void)
{
	uint8_t p10[512], p11[512], p12[512], p100[512], forged[512];
	size_t l10 = valid_esp(p10, 10), l11 = valid_esp(p11, 11);
	size_t l12 = valid_esp(p12, 12), l100 = valid_esp(p100, 100);
	struct esp_result r;

	test_pkt_set(&t, p11, l11);
	CHECK_EQ(run(wr, &t, &r), ESP_VERDICT_DECAP);
	CHECK_EQ(expect_drop(p11, l11), ESP_DROP_REPLAY);	/* duplicate */
	test_pkt_set(&t, p10, l10);				/* late, in window */
	CHECK_EQ(run(wr, &t, &r), ESP_VERDICT_DECAP);
	CHECK_EQ(expect_drop(p10, l10), ESP_DROP_REPLAY);	/* only once */

	/* a forged packet far ahead must not slide the window */
	memcpy(forged, p100, l100);
	forged[l100 - 1] ^= 1;
	CHECK_EQ(expect_drop(forged, l100), ESP_DROP_AUTH);
	test_pkt_set(&t, p12, l12);
	CHECK_EQ(run(wr, &t, &r), ESP_VERDICT_DECAP);

	test_pkt_set(&t, p100, l100);
	CHECK_EQ(run(wr, &t, &r), ESP_VERDICT_DECAP);
	CHECK_EQ(expect_drop(p12, l12), ESP_DROP_REPLAY);	/* now too old */
	const struct esp_sa *sa = esp_sad_lookup_in(esp_engine_sad(rx), 0x100,
						    &(struct esp_addr){ AF_INET, { 10, 0, 0, 2 } });
	CHECK(sa != NULL);
	CHECK_EQ(sa->stats.drops[ESP_DROP_REPLAY], 3);
}

static void test_padding_and_next_header(void)
{
	uint8_t plain[64], pkt[256];
	/* a transport-mode UDP payload of 8 bytes + 6 padding + trailer */
	uint8_t udp[8] = { 0x13, 0xc4, 0x13, 0xc6, 0, 8, 0, 0 };

	memset(plain, 0, sizeof(plain));
	memcpy(plain, udp, 8);
	for (int i = 0; i < 6; i++)
		plain[8 + i] = (uint8_t)(i + 1);
	plain[14] = 6;
	plain[15] = IPPROTO_NUM_UDP;

	struct esp_result r;
	size_t len = forge(pkt, 0x100, 500, plain, 16);
	test_pkt_set(&t, pkt, len);
	CHECK_EQ(run(wr, &t, &r), ESP_VERDICT_DECAP);	/* the control case */

	plain[10] = 9;					/* 1 2 9 4 5 6 */
	len = forge(pkt, 0x100, 501, plain, 16);
	CHECK_EQ(expect_drop(pkt, len), ESP_DROP_BAD_PADDING);
	plain[10] = 3;
	plain[14] = 15;					/* more padding than data */
	len = forge(pkt, 0x100, 502, plain, 16);
	CHECK_EQ(expect_drop(pkt, len), ESP_DROP_BAD_PADDING);
	plain[14] = 6;
	plain[15] = IPPROTO_NUM_NONE;			/* dummy packet */
	len = forge(pkt, 0x100, 503, plain, 16);
	CHECK_EQ(expect_drop(pkt, len), ESP_DROP_DUMMY);
	/* tunnel SA, but the trailer says UDP rather than an IP header */
	plain[15] = IPPROTO_NUM_UDP;
	len = forge(pkt, 0x200, 1, plain, 16);
	CHECK_EQ(expect_drop(pkt, len), ESP_DROP_BAD_NEXT_HEADER);
	/* says IPv4, but what follows is not a valid IPv4 packet */
	plain[15] = IPPROTO_NUM_IPV4;
	len = forge(pkt, 0x200, 2, plain, 16);
	CHECK_EQ(expect_drop(pkt, len), ESP_DROP_MALFORMED);
}

/* A transport-mode UDP payload followed by @padlen bytes of padding and
 * the trailer, the data sized so that the whole is block-aligned; returns
 * where the padding starts in @plain (*@plen: the whole length). */
static size_t padded_udp(uint8_t *plain, unsigned padlen, size_t *plen)
{
	size_t data = (16 - (8 + padlen + 2) % 16) % 16;
	size_t at = 8 + data;

	memset(plain, 0, at);
	put_be16(plain, 5060);
	put_be16(plain + 2, 5062);
	put_be16(plain + 4, (uint16_t)at);	/* UDP checksum 0: none */
	for (unsigned i = 0; i < padlen; i++)
		plain[at + i] = (uint8_t)(i + 1);
	plain[at + padlen] = (uint8_t)padlen;
	plain[at + padlen + 1] = IPPROTO_NUM_UDP;
	*plen = at + padlen + 2;
	return at;
}

/* RFC 4303 2.4 allows up to 255 bytes of padding: every length's check
 * (byte by byte below 8, then in words, the last overlapping) takes a
 * correct padding and refuses one wrong byte wherever it is. */
static void test_padding_lengths(void)
{
	static const unsigned lens[] = { 0, 1, 6, 7, 8, 9, 14, 15, 16, 17, 23, 24, 25,
					 31, 32, 100, 247, 248, 254, 255 };
	uint8_t plain[320], pkt[400];
	uint32_t seq = 1000;

	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		unsigned padlen = lens[k], refused = 0;
		size_t plen, at = padded_udp(plain, padlen, &plen);
		struct esp_result r;

		size_t len = forge(pkt, 0x100, seq++, plain, plen);
		test_pkt_set(&t, pkt, len);
		CHECK_EQ(run(wr, &t, &r), ESP_VERDICT_DECAP);
		CHECK_EQ(t.p.len, 20 + at);
		for (unsigned i = 0; i < padlen; i++) {
			/* one bit, then all bits, of one byte */
			for (unsigned flip = 0x01; flip <= 0xff; flip = flip == 1 ? 0xff : 0x100) {
				plain[at + i] ^= (uint8_t)flip;
				len = forge(pkt, 0x100, seq++, plain, plen);
				refused += expect_drop(pkt, len) == ESP_DROP_BAD_PADDING;
				plain[at + i] ^= (uint8_t)flip;
			}
		}
		CHECK_EQ(refused, 2 * padlen);
	}
}

static void test_tunnel_policy(void)
{
	uint8_t inner[128], plain[160], pkt[256];
	size_t ilen = build_udp(inner, "10.9.1.1", "10.7.1.1", 1, 2,
				(const uint8_t *)"x", 1);	/* dst outside 10.8/16 */
	size_t padded = (ilen + 2 + 15) / 16 * 16;
	size_t pad = padded - ilen - 2;

	memcpy(plain, inner, ilen);
	for (size_t i = 0; i < pad; i++)
		plain[ilen + i] = (uint8_t)(i + 1);
	plain[padded - 2] = (uint8_t)pad;
	plain[padded - 1] = IPPROTO_NUM_IPV4;
	size_t len = forge(pkt, 0x200, 3, plain, padded);
	CHECK_EQ(expect_drop(pkt, len), ESP_DROP_POLICY);

	ilen = build_udp(inner, "10.9.1.1", "10.8.1.1", 1, 2, (const uint8_t *)"x", 1);
	memcpy(plain, inner, ilen);
	len = forge(pkt, 0x200, 4, plain, padded);
	struct esp_result r;
	test_pkt_set(&t, pkt, len);
	CHECK_EQ(run(wr, &t, &r), ESP_VERDICT_DECAP);
	CHECK_MEM(pkt_data(&t.p), inner, ilen);
}

static size_t udp_4500(uint8_t *buf, const uint8_t *payload, size_t plen)
{
	return build_udp(buf, "10.0.0.1", "10.0.0.2", 4500, 4500, payload, plen);
}

static void test_port_4500(void)
{
	uint8_t pkt[256];
	struct esp_result r;
	const uint8_t ka[] = { 0xff }, not_ka[] = { 0xfe }, short3[] = { 1, 2, 3 };
	const uint8_t ike[] = { 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8 };

	size_t len = udp_4500(pkt, ka, 1);
	test_pkt_set(&t, pkt, len);
	CHECK_EQ(run(wr, &t, &r), ESP_VERDICT_CONSUME);
	len = udp_4500(pkt, ike, sizeof(ike));
	test_pkt_set(&t, pkt, len);
	CHECK_EQ(run(wr, &t, &r), ESP_VERDICT_PASS);
	CHECK_MEM(pkt_data(&t.p), pkt, len);	/* IKE passes untouched */
	len = udp_4500(pkt, not_ka, 1);
	CHECK_EQ(expect_drop(pkt, len), ESP_DROP_MALFORMED);
	len = udp_4500(pkt, short3, 3);
	CHECK_EQ(expect_drop(pkt, len), ESP_DROP_MALFORMED);
	len = udp_4500(pkt, NULL, 0);
	CHECK_EQ(expect_drop(pkt, len), ESP_DROP_MALFORMED);
	/* UDP length beyond the packet, and below the header */
	len = udp_4500(pkt, ike, sizeof(ike));
	put_be16(pkt + 24, 200);
	CHECK_EQ(expect_drop(pkt, len), ESP_DROP_MALFORMED);
	put_be16(pkt + 24, 7);
	CHECK_EQ(expect_drop(pkt, len), ESP_DROP_MALFORMED);
	/* ESP in UDP whose SPI nobody has */
	const uint8_t esp[] = { 0, 0, 9, 9, 0, 0, 0, 1, 1, 2, 3, 4 };
	len = udp_4500(pkt, esp, sizeof(esp));
	CHECK_EQ(expect_drop(pkt, len), ESP_DROP_NO_SA);
}

static void test_fragments(void)
{
	uint8_t pkt[512], plain[128];
	struct esp_result r;
	size_t len = valid_esp(pkt, 600);

	put_be16(pkt + 6, 0x2000);			/* MF */
	csum_ipv4_header(pkt);
	CHECK_EQ(expect_drop(pkt, len), ESP_DROP_FRAGMENT);
	/* outbound: a fragment of protected traffic is not sent in clear */
	len = build_udp(plain, "10.0.0.1", "10.0.0.2", 5060, 5062, (const uint8_t *)"a", 1);
	put_be16(plain + 6, 0x2000);
	csum_ipv4_header(plain);
	test_pkt_set(&t, plain, len);
	CHECK_EQ(run(wt, &t, &r), ESP_VERDICT_DROP);
	CHECK_EQ(r.reason, ESP_DROP_FRAGMENT);
}

static int events_seen;
static void count_event(void *arg, const struct esp_event *ev)
{
	(void)arg;
	if (ev->type == ESP_EVENT_EXHAUSTED)
		events_seen++;
}

static void test_sequence_exhaustion(void)
{
	uint8_t plain[128];
	struct esp_result r;
	struct esp_sa *sa = esp_sad_first(esp_engine_sad(tx));
	size_t len = build_udp(plain, "10.0.0.1", "10.0.0.2", 5060, 5062, (const uint8_t *)"a", 1);

	esp_engine_on_event(tx, count_event, NULL);
	sa->seq_out = 0xfffffffdu;
	test_pkt_set(&t, plain, len);
	CHECK_EQ(run(wt, &t, &r), ESP_VERDICT_ENCAP);
	CHECK_EQ(get_be32(pkt_data(&t.p) + 24), 0xfffffffeu);
	CHECK_EQ(events_seen, 0);
	test_pkt_set(&t, plain, len);
	CHECK_EQ(run(wt, &t, &r), ESP_VERDICT_ENCAP);
	CHECK_EQ(get_be32(pkt_data(&t.p) + 24), 0xffffffffu);
	CHECK_EQ(events_seen, 1);
	for (int i = 0; i < 3; i++) {
		test_pkt_set(&t, plain, len);
		CHECK_EQ(run(wt, &t, &r), ESP_VERDICT_DROP);
		CHECK_EQ(r.reason, ESP_DROP_SEQ_EXHAUSTED);
	}
	CHECK_EQ(events_seen, 1);
	CHECK_EQ(sa->stats.drops[ESP_DROP_SEQ_EXHAUSTED], 3);
	esp_engine_on_event(tx, NULL, NULL);
	sa->seq_out = 0;
}

static void test_too_big_and_no_port(void)
{
	static uint8_t big[65535];
	struct esp_result r;
	size_t len = build_udp(big, "10.0.0.1", "10.0.0.2", 5060, 5062, big + 28,
			       65535 - 28);

	test_pkt_set(&t, big, len);
	CHECK_EQ(run(wt, &t, &r), ESP_VERDICT_DROP);
	CHECK_EQ(r.reason, ESP_DROP_TOO_BIG);

	/* no headroom at all */
	len = build_udp(big, "10.0.0.1", "10.0.0.2", 5060, 5062, (const uint8_t *)"a", 1);
	t.p.buf = t.buf;
	t.p.cap = (uint32_t)len + 64;
	t.p.off = 0;
	memcpy(t.buf, big, len);
	t.p.len = (uint32_t)len;
	CHECK_EQ(run(wt, &t, &r), ESP_VERDICT_DROP);
	CHECK_EQ(r.reason, ESP_DROP_TOO_BIG);

	/* ESP-in-UDP toward a port not known yet: fail closed */
	struct esp_engine *e = esp_engine_new();
	struct esp_worker *w = esp_worker_new(e);
	add_sa(e, "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x300 " KEYS
		  " reqid 9 encap espinudp 4500 0 0.0.0.0 dir out");
	test_pkt_set(&t, big, len);
	CHECK_EQ(run(w, &t, &r), ESP_VERDICT_DROP);
	CHECK_EQ(r.reason, ESP_DROP_NO_PORT);
	esp_engine_free(e);
}

/* Random bytes, some behind a plausible IPv4/ESP header: whatever comes
 * out, the counters add up and nothing reads out of bounds (the sanitizer
 * build runs this too). */
static void test_garbage(void)
{
	unsigned seed = 42;
	uint8_t pkt[2048];
	struct esp_result r;
	struct esp_counters before, after;

	esp_engine_counters(rx, &before);
	for (int i = 0; i < 20000; i++) {
		size_t len = (size_t)(rand_r(&seed) % 200);
		for (size_t k = 0; k < len; k++)
			pkt[k] = (uint8_t)rand_r(&seed);
		if (i % 2 && len >= 28) {
			pkt[0] = 0x45;
			put_be16(pkt + 2, (uint16_t)len);
			put_be16(pkt + 6, 0);
			pkt[9] = (i % 4 == 1) ? IPPROTO_NUM_ESP : IPPROTO_NUM_UDP;
			pkt[16] = 10, pkt[17] = 0, pkt[18] = 0, pkt[19] = 2;
			put_be32(pkt + 20, 0x100);
			if (pkt[9] == IPPROTO_NUM_UDP) {
				put_be16(pkt + 22, 4500);
				put_be16(pkt + 24, (uint16_t)(len - 20));
				put_be32(pkt + 28, 0x100);
			}
		}
		test_pkt_set(&t, pkt, len);
		enum esp_verdict v = run(wr, &t, &r);
		CHECK(v == ESP_VERDICT_DROP || v == ESP_VERDICT_PASS ||
		      v == ESP_VERDICT_CONSUME);
	}
	esp_engine_counters(rx, &after);
	uint64_t n = after.packets - before.packets;
	uint64_t sum = (after.dropped - before.dropped) + (after.bypass - before.bypass) +
		       (after.keepalive - before.keepalive) + (after.decap - before.decap);
	CHECK_EQ(n, 20000);
	CHECK_EQ(sum, n);
	uint64_t reasons = 0;
	for (int i = 0; i < ESP_DROP__COUNT; i++)
		reasons += after.drops[i];
	CHECK_EQ(reasons, after.dropped);
}

int main(void)
{
	setup();
	test_truncated_and_lying_headers();
	test_lengths();
	test_unknown_spi_and_forged_icv();
	test_replay();
	test_padding_and_next_header();
	test_padding_lengths();
	test_tunnel_policy();
	test_port_4500();
	test_fragments();
	test_sequence_exhaustion();
	test_too_big_and_no_port();
	test_garbage();
	esp_engine_free(tx);
	esp_engine_free(rx);
	return check_done("test_badinput");
}
