/* The Internet checksum (engine/csum.c) against RFC 1071's worked example
 * and against the definition itself (big-endian 16-bit words, end-around
 * carry), over every length and alignment a packet can have. */
#include <stdlib.h>

#include "engine/csum.h"
#include "test/unit/check.h"

/* RFC 1071 as written: one 16-bit word at a time, in network order. */
static uint32_t model_add(uint32_t sum, const uint8_t *d, size_t len)
{
	uint64_t s = sum;

	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)d[i] << 8 | d[i + 1];
	if (len % 2)
		s += (uint32_t)d[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint32_t)s;
}

static uint16_t model_checksum(const uint8_t *d, size_t len)
{
	return (uint16_t)~model_add(0, d, len);
}

/* RFC 1071 section 3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2 (folded),
 * so their checksum is 220d. */
static void test_rfc1071_example(void)
{
	static const uint8_t d[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };

	CHECK_EQ(csum_fold(csum_add(0, d, sizeof(d))), 0x220d);
	/* any split at an even offset gives the same */
	CHECK_EQ(csum_fold(csum_add(csum_add(0, d, 2), d + 2, 6)), 0x220d);
	CHECK_EQ(csum_fold(csum_add(csum_add(0, d, 4), d + 4, 4)), 0x220d);
}

/* A checksummed IPv4 header sums to 0xffff, so its checksum field checks. */
static void test_ipv4_header(void)
{
	uint8_t ip[24] = { 0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
			   0xaa, 0xbb, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7 };

	csum_ipv4_header(ip);
	/* the classic example header (192.168.0.1 -> 192.168.0.199, UDP,
	 * length 0x73): its checksum is b861 */
	CHECK_EQ(ip[10], 0xb8);
	CHECK_EQ(ip[11], 0x61);
	CHECK_EQ(csum_fold(csum_add(0, ip, 20)), 0);

	ip[0] = 0x46;		/* with 4 bytes of options, covered too */
	ip[20] = 0x94;
	ip[21] = 0x04;
	csum_ipv4_header(ip);
	uint16_t got = (uint16_t)(ip[10] << 8 | ip[11]);
	ip[10] = ip[11] = 0;
	CHECK_EQ(got, model_checksum(ip, 24));
	ip[10] = (uint8_t)(got >> 8);
	ip[11] = (uint8_t)got;
	CHECK_EQ(csum_fold(csum_add(0, ip, 24)), 0);
}

/* Every length 0-1500 at every alignment 0-7, random data, against the
 * model: the fast path's words, its 2-byte and odd-byte tails. */
static void test_against_model(void)
{
	static uint8_t buf[1600];
	int bad = 0;

	srand(1071);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rand();
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len <= 1500; len++)
			if (csum_fold(csum_add(0, buf + off, len)) !=
			    model_checksum(buf + off, len))
				bad++;
	CHECK_EQ(bad, 0);
}

/* Extremes: all zero, all 0xff (a sum that is 0xffff's multiple), and a
 * running sum carried in from earlier pieces (as the pseudo-header is). */
static void test_edges(void)
{
	static uint8_t zero[64], ones[64];
	int bad = 0;

	memset(ones, 0xff, sizeof(ones));
	for (size_t len = 0; len <= sizeof(zero); len++) {
		bad += csum_fold(csum_add(0, zero, len)) != model_checksum(zero, len);
		bad += csum_fold(csum_add(0, ones, len)) != model_checksum(ones, len);
		for (uint32_t start = 0; start < 0x30000; start += 0x7fff) {
			bad += csum_fold(csum_add(start, ones, len)) !=
			       (uint16_t)~model_add(start, ones, len);
			bad += csum_fold(csum_add(start, zero, len)) !=
			       (uint16_t)~model_add(start, zero, len);
		}
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(csum_fold(csum_add(0, zero, 20)), 0xffff);	/* zero sums to 0 */
	CHECK_EQ(csum_fold(csum_add(0, ones, 20)), 0x0000);
}

/* The UDP checksum of a known IPv6 datagram, pseudo-header included:
 * recomputing it over the datagram with its checksum in place gives 0. */
static void test_l4_self_check(void)
{
	uint8_t src[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	uint8_t dst[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };
	uint8_t udp[13] = { 0x13, 0xc4, 0x11, 0x94, 0x00, 0x0d, 0, 0, 'h', 'e', 'l', 'l', 'o' };

	uint16_t c = csum_l4(src, dst, 16, 17, udp, sizeof(udp));
	udp[6] = (uint8_t)(c >> 8);
	udp[7] = (uint8_t)c;
	CHECK_EQ(csum_l4(src, dst, 16, 17, udp, sizeof(udp)), 0);
	udp[12] ^= 1;		/* one bit off: no longer checks */
	CHECK(csum_l4(src, dst, 16, 17, udp, sizeof(udp)) != 0);
}

int main(void)
{
	test_rfc1071_example();
	test_ipv4_header();
	test_against_model();
	test_edges();
	test_l4_self_check();
	return check_done("test_csum");
}
