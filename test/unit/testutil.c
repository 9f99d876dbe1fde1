#include "test/unit/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/csum.h"
#include "engine/ip.h"
#include "engine/safile.h"
#include "test/unit/check.h"

int check_passed;
int check_failed;

int check_done(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
	return check_failed ? 1 : 0;
}

size_t unhex(const char *hex, uint8_t *out, size_t max)
{
	size_t n = 0;
	int hi = -1;

	for (; *hex; hex++) {
		int v;
		char c = *hex;
		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v = c - 'A' + 10;
		else
			continue;
		if (hi < 0) {
			hi = v;
		} else {
			if (n == max)
				abort();
			out[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	return n;
}

size_t build_udp(uint8_t *buf, const char *src, const char *dst,
		 uint16_t sport, uint16_t dport, const uint8_t *payload,
		 size_t plen)
{
	struct esp_addr s, d;
	size_t hl;

	if (esp_addr_parse(src, &s) || esp_addr_parse(dst, &d))
		abort();
	if (s.family == AF_INET) {
		hl = IPV4_HDR_LEN;
		memset(buf, 0, hl);
		buf[0] = 0x45;
		put_be16(buf + 2, (uint16_t)(hl + 8 + plen));
		put_be16(buf + 4, 0x1234);
		buf[8] = 64;
		buf[9] = IPPROTO_NUM_UDP;
		memcpy(buf + 12, s.bytes, 4);
		memcpy(buf + 16, d.bytes, 4);
		csum_ipv4_header(buf);
	} else {
		hl = IPV6_HDR_LEN;
		memset(buf, 0, hl);
		buf[0] = 0x60;
		put_be16(buf + 4, (uint16_t)(8 + plen));
		buf[6] = IPPROTO_NUM_UDP;
		buf[7] = 64;
		memcpy(buf + 8, s.bytes, 16);
		memcpy(buf + 24, d.bytes, 16);
	}
	uint8_t *udp = buf + hl;
	put_be16(udp, sport);
	put_be16(udp + 2, dport);
	put_be16(udp + 4, (uint16_t)(8 + plen));
	put_be16(udp + 6, 0);
	if (plen)
		memcpy(udp + 8, payload, plen);
	uint16_t c = csum_l4(buf + (hl == 20 ? 12 : 8), buf + (hl == 20 ? 16 : 24),
			     esp_addr_len(&s), IPPROTO_NUM_UDP, udp, 8 + plen);
	put_be16(udp + 6, c ? c : 0xffff);
	return hl + 8 + plen;
}

void add_sa(struct esp_engine *e, const char *line)
{
	struct esp_sa_params p;
	char err[ESP_SAFILE_ERRLEN];
	const char *why;

	if (esp_safile_parse_line(line, &p, err, sizeof(err)) != 1) {
		fprintf(stderr, "bad test SA line: %s\n  %s\n", err, line);
		abort();
	}
	if (esp_engine_add_sa(e, &p, &why)) {
		fprintf(stderr, "test SA refused: %s\n  %s\n", why, line);
		abort();
	}
	esp_sa_params_wipe(&p);
}

void test_pkt_set(struct test_pkt *t, const uint8_t *data, size_t len)
{
	pkt_init(&t->p, t->buf, sizeof(t->buf));
	memcpy(pkt_data(&t->p), data, len);
	t->p.len = (uint32_t)len;
}

enum esp_verdict run(struct esp_worker *w, struct test_pkt *t,
		     struct esp_result *r)
{
	return esp_process(w, &t->p, ESP_HINT_ANY, r);
}

int l4_checksum_ok(const uint8_t *ip, size_t len)
{
	struct ip_view v;

	if (ip_parse(ip, len, &v))
		return 0;
	size_t alen = v.family == AF_INET ? 4 : 16;
	const uint8_t *src = ip + (alen == 4 ? 12 : 8);
	const uint8_t *dst = ip + (alen == 4 ? 16 : 24);
	/* summing over a segment whose checksum is right gives 0 (or 0xffff) */
	uint16_t c = csum_l4(src, dst, alen, v.proto, ip + v.l4_off, v.len - v.l4_off);
	return c == 0 || c == 0xffff;
}
