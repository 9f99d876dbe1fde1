/* The UDP encapsulation table against TR 33.803 Annex D A.7.2: the table
 * before and after SM7, learning only from authenticated packets, NAT
 * rebinding, several UEs behind one NAT, clashes refused. The NAT is
 * played by rewriting the outer address and port, as a NAPT does. */
#include <stdio.h>
#include <string.h>

#include "encap/table.h"
#include "engine/csum.h"
#include "engine/engine.h"
#include "engine/ip.h"
#include "engine/safile.h"
#include "test/unit/check.h"
#include "test/unit/testutil.h"

#define PCSCF "203.0.113.5"
#define UE_PUB "198.51.100.7"
#define UE_PRIV "10.0.0.7"
#define KEYS "auth-trunc 'hmac(sha1)' 0x000102030405060708090a0b0c0d0e0f10111213 96 " \
	     "enc 'cbc(aes)' 0x2b7e151628aed2a6abf7158809cf4f3c"

/* protected ports (seed: port_uc, port_us, port_pc, port_ps) and SPIs */
enum { PORT_UC = 5062, PORT_US = 5064, PORT_PC = 5066, PORT_PS = 5068 };
enum { SPI_UC = 1111, SPI_US = 2222, SPI_PC = 3333, SPI_PS = 4444 };

static struct test_pkt t;

/* The P-CSCF's four SAs in the seed's column order SA1..SA4. */
static void pcscf_sas(struct esp_engine *e, const char *ue, unsigned reqid,
		      unsigned uc, unsigned us, unsigned spi_uc, unsigned spi_us,
		      unsigned spi_pc, unsigned spi_ps)
{
	char l[1024];

	snprintf(l, sizeof(l), "src %s dst %s proto esp spi %u reqid %u mode tunnel %s "
		 "encap espinudp 4500 0 0.0.0.0 sel src %s dst %s proto udp sport %u dport %u dir out",
		 PCSCF, ue, spi_us, reqid, KEYS, PCSCF, ue, PORT_PC, us);
	add_sa(e, l);
	snprintf(l, sizeof(l), "src %s dst %s proto esp spi %u reqid %u mode tunnel %s "
		 "encap espinudp 0 4500 0.0.0.0 sel src %s dst %s proto udp sport %u dport %u dir in",
		 ue, PCSCF, spi_ps, reqid, KEYS, ue, PCSCF, uc, PORT_PS);
	add_sa(e, l);
	snprintf(l, sizeof(l), "src %s dst %s proto esp spi %u reqid %u mode tunnel %s "
		 "encap espinudp 4500 0 0.0.0.0 sel src %s dst %s proto udp sport %u dport %u dir out",
		 PCSCF, ue, spi_uc, reqid, KEYS, PCSCF, ue, PORT_PS, uc);
	add_sa(e, l);
	snprintf(l, sizeof(l), "src %s dst %s proto esp spi %u reqid %u mode tunnel %s "
		 "encap espinudp 0 4500 0.0.0.0 sel src %s dst %s proto udp sport %u dport %u dir in",
		 ue, PCSCF, spi_pc, reqid, KEYS, ue, PCSCF, us, PORT_PC);
	add_sa(e, l);
}

/* The UE's SAs (A.7.1: outer source its private address, inner its public
 * one learned from `received`; always 4500 to 4500). */
static void ue_sas(struct esp_engine *e, const char *priv, unsigned uc,
		   unsigned us, unsigned spi_uc, unsigned spi_us, unsigned spi_pc,
		   unsigned spi_ps)
{
	char l[1024];

	snprintf(l, sizeof(l), "src %s dst %s proto esp spi %u reqid 1 mode tunnel %s "
		 "encap espinudp 4500 4500 0.0.0.0 sel src %s dst %s proto udp sport %u dport %u dir out",
		 priv, PCSCF, spi_ps, KEYS, UE_PUB, PCSCF, uc, PORT_PS);
	add_sa(e, l);
	snprintf(l, sizeof(l), "src %s dst %s proto esp spi %u reqid 1 mode tunnel %s "
		 "encap espinudp 4500 4500 0.0.0.0 sel src %s dst %s proto udp sport %u dport %u dir out",
		 priv, PCSCF, spi_pc, KEYS, UE_PUB, PCSCF, us, PORT_PC);
	add_sa(e, l);
	snprintf(l, sizeof(l), "src %s dst %s proto esp spi %u reqid 1 mode tunnel %s "
		 "encap espinudp 4500 4500 0.0.0.0 sel src %s dst %s proto udp sport %u dport %u dir in",
		 PCSCF, priv, spi_uc, KEYS, PCSCF, UE_PUB, PORT_PS, uc);
	add_sa(e, l);
	snprintf(l, sizeof(l), "src %s dst %s proto esp spi %u reqid 1 mode tunnel %s "
		 "encap espinudp 4500 4500 0.0.0.0 sel src %s dst %s proto udp sport %u dport %u dir in",
		 PCSCF, priv, spi_us, KEYS, PCSCF, UE_PUB, PORT_PC, us);
	add_sa(e, l);
}

/* A NAPT on the path: rewrites the outer source (uplink) or destination
 * (downlink) address and UDP port of an IPv4 ESP-in-UDP packet. */
static void nat(uint8_t *ip, int uplink, const char *addr, uint16_t port)
{
	struct esp_addr a;

	esp_addr_parse(addr, &a);
	memcpy(ip + (uplink ? 12 : 16), a.bytes, 4);
	put_be16(ip + 20 + (uplink ? 0 : 2), port);
	csum_ipv4_header(ip);	/* the UDP checksum is 0 (RFC 3948): none to fix */
}

static size_t sip(uint8_t *buf, const char *src, const char *dst,
		  unsigned sport, unsigned dport, const char *text)
{
	return build_udp(buf, src, dst, (uint16_t)sport, (uint16_t)dport,
			 (const uint8_t *)text, strlen(text));
}

#define MAX_EVENTS 16
static struct esp_event events[MAX_EVENTS];
static int nevents;

static void record(void *arg, const struct esp_event *ev)
{
	(void)arg;
	if (ev->type == ESP_EVENT_GROUP_ADDED || ev->type == ESP_EVENT_GROUP_REMOVED)
		return;
	if (nevents < MAX_EVENTS)
		events[nevents++] = *ev;
}

/* The table as printed, cell by cell: rows are split on two or more
 * spaces, since the row names hold one. */
static int cells(const char *text, char out[6][5][48])
{
	char line[512];
	int row = 0;

	memset(out, 0, sizeof(char) * 6 * 5 * 48);
	while (*text && row < 6) {
		size_t n = strcspn(text, "\n");
		snprintf(line, sizeof(line), "%.*s", (int)n, text);
		text += n + (text[n] == '\n');
		int col = 0;
		char *s = line;
		if (row == 0) {
			while (*s == ' ')
				s++;
			col = 1;
		}
		while (*s && col < 5) {
			char *e = strstr(s, "  ");
			size_t len = e ? (size_t)(e - s) : strlen(s);
			snprintf(out[row][col], 48, "%.*s", (int)len, s);
			s += len;
			while (*s == ' ')
				s++;
			col++;
		}
		row++;
	}
	return row;
}

/* The seed's table, symbol for symbol, with the symbols resolved. */
static void check_seed_table(const struct encap_group *g, const char *port_uenc)
{
	static const char *const seed[5][5] = {
		{ "", "SA1", "SA2", "SA3", "SA4" },
		{ "Src Addr", "PCSCF", "UE_pub", "PCSCF", "UE_pub" },
		{ "Dest Addr", "UE_pub", "PCSCF", "UE_pub", "PCSCF" },
		{ "Src Port", "4500", "Port Uenc", "4500", "Port Uenc" },
		{ "Dest Port", "Port Uenc", "4500", "Port Uenc", "4500" },
	};
	static const char *const spis[5] = { "SPI", "0x000008ae", "0x0000115c",
					      "0x00000457", "0x00000d05" };
	char text[2048], got[6][5][48];

	encap_table_format_group(g, text, sizeof(text));
	CHECK_EQ(cells(text, got), 6);
	for (int r = 0; r < 5; r++)
		for (int c = 0; c < 5; c++) {
			const char *want = seed[r][c];
			if (strcmp(want, "PCSCF") == 0)
				want = PCSCF;
			else if (strcmp(want, "UE_pub") == 0)
				want = UE_PUB;
			else if (strcmp(want, "Port Uenc") == 0)
				want = port_uenc;
			CHECK_STR(got[r][c], want);
		}
	for (int c = 0; c < 5; c++)
		CHECK_STR(got[5][c], spis[c]);
}

static struct esp_engine *pc, *ue, *ue2;
static struct esp_worker *wpc, *wue, *wue2;

/* SM7 (or any UE request) leaves the UE, crosses the NAT from @port. */
static size_t uplink(struct esp_worker *w, const char *priv, unsigned uc,
		     uint16_t nat_port, uint8_t *out)
{
	uint8_t plain[512];
	struct esp_result r;
	size_t len = sip(plain, UE_PUB, PCSCF, uc, PORT_PS, "REGISTER sip:ims SIP/2.0\r\n\r\n");

	test_pkt_set(&t, plain, len);
	if (run(w, &t, &r) != ESP_VERDICT_ENCAP)
		return 0;
	CHECK_EQ(get_be16(pkt_data(&t.p) + 20), 4500);	/* UE: 4500 -> 4500 */
	memcpy(out, pkt_data(&t.p), t.p.len);
	(void)priv;
	nat(out, 1, UE_PUB, nat_port);
	return t.p.len;
}

static enum esp_verdict at_pcscf(const uint8_t *pkt, size_t len, struct esp_result *r)
{
	test_pkt_set(&t, pkt, len);
	return run(wpc, &t, r);
}

static void test_sm7_learning(void)
{
	uint8_t pkt[1024];
	struct esp_result r;
	struct encap_table *tab = esp_engine_table(pc);

	pcscf_sas(pc, UE_PUB, 1, PORT_UC, PORT_US, SPI_UC, SPI_US, SPI_PC, SPI_PS);
	ue_sas(ue, UE_PRIV, PORT_UC, PORT_US, SPI_UC, SPI_US, SPI_PC, SPI_PS);
	struct encap_group *g = encap_table_group(tab, 1);
	CHECK(g != NULL);
	check_seed_table(g, "undef");

	/* before SM7 the P-CSCF cannot reach the UE: dropped, not sent */
	size_t len = sip(pkt, PCSCF, UE_PUB, PORT_PC, PORT_US, "MESSAGE");
	test_pkt_set(&t, pkt, len);
	CHECK_EQ(run(wpc, &t, &r), ESP_VERDICT_DROP);
	CHECK_EQ(r.reason, ESP_DROP_NO_PORT);

	/* a forged SM7 (bad ICV) teaches nothing */
	len = uplink(wue, UE_PRIV, PORT_UC, 40123, pkt);
	pkt[len - 1] ^= 1;
	CHECK_EQ(at_pcscf(pkt, len, &r), ESP_VERDICT_DROP);
	CHECK_EQ(r.reason, ESP_DROP_AUTH);
	check_seed_table(g, "undef");
	CHECK_EQ(nevents, 0);

	/* the genuine SM7 through the NAT */
	len = uplink(wue, UE_PRIV, PORT_UC, 40123, pkt);
	CHECK_EQ(at_pcscf(pkt, len, &r), ESP_VERDICT_DECAP);
	check_seed_table(g, "40123");
	CHECK_EQ(nevents, 1);
	CHECK_EQ(events[0].type, ESP_EVENT_LEARNED);
	CHECK_EQ(events[0].new_port, 40123);
	CHECK_EQ(events[0].reqid, 1);

	/* SM12 goes back from 4500 to port_Uenc, through the NAT, to the UE */
	len = sip(pkt, PCSCF, UE_PUB, PORT_PS, PORT_UC, "SIP/2.0 200 OK\r\n\r\n");
	test_pkt_set(&t, pkt, len);
	CHECK_EQ(run(wpc, &t, &r), ESP_VERDICT_ENCAP);
	CHECK_EQ(get_be16(pkt_data(&t.p) + 20), 4500);
	CHECK_EQ(get_be16(pkt_data(&t.p) + 22), 40123);
	memcpy(pkt, pkt_data(&t.p), t.p.len);
	len = t.p.len;
	nat(pkt, 0, UE_PRIV, 4500);
	test_pkt_set(&t, pkt, len);
	CHECK_EQ(run(wue, &t, &r), ESP_VERDICT_DECAP);
	uint8_t want[512];
	size_t wlen = sip(want, PCSCF, UE_PUB, PORT_PS, PORT_UC, "SIP/2.0 200 OK\r\n\r\n");
	CHECK_EQ(t.p.len, wlen);
	CHECK_MEM(pkt_data(&t.p), want, wlen);
	/* and a P-CSCF-initiated request reaches the UE's server port */
	len = sip(pkt, PCSCF, UE_PUB, PORT_PC, PORT_US, "MESSAGE sip:ue SIP/2.0\r\n\r\n");
	test_pkt_set(&t, pkt, len);
	CHECK_EQ(run(wpc, &t, &r), ESP_VERDICT_ENCAP);
	CHECK_EQ(get_be16(pkt_data(&t.p) + 22), 40123);
}

static void test_rebinding(void)
{
	uint8_t pkt[1024], old[1024];
	struct esp_result r;
	struct encap_group *g = encap_table_group(esp_engine_table(pc), 1);

	nevents = 0;
	/* keep an accepted packet to replay later from another port */
	size_t olen = uplink(wue, UE_PRIV, PORT_UC, 40123, old);
	CHECK_EQ(at_pcscf(old, olen, &r), ESP_VERDICT_DECAP);

	/* forged from a new port: dropped, port stays */
	size_t len = uplink(wue, UE_PRIV, PORT_UC, 40999, pkt);
	pkt[len - 5] ^= 0x10;
	CHECK_EQ(at_pcscf(pkt, len, &r), ESP_VERDICT_DROP);
	CHECK_EQ(g->port, 40123);
	/* a replay from a new port: dropped, port stays */
	nat(old, 1, UE_PUB, 40999);
	CHECK_EQ(at_pcscf(old, olen, &r), ESP_VERDICT_DROP);
	CHECK_EQ(r.reason, ESP_DROP_REPLAY);
	CHECK_EQ(g->port, 40123);
	/* authentic, but from another address: delivered, port stays */
	len = uplink(wue, UE_PRIV, PORT_UC, 40999, pkt);
	nat(pkt, 1, "198.51.100.99", 40999);
	CHECK_EQ(at_pcscf(pkt, len, &r), ESP_VERDICT_DECAP);
	CHECK_EQ(g->port, 40123);
	CHECK_EQ(nevents, 0);

	/* authentic from the same address and a new port: the NAT rebound */
	len = uplink(wue, UE_PRIV, PORT_UC, 40999, pkt);
	CHECK_EQ(at_pcscf(pkt, len, &r), ESP_VERDICT_DECAP);
	CHECK_EQ(g->port, 40999);
	CHECK_EQ(nevents, 1);
	CHECK_EQ(events[0].type, ESP_EVENT_MOVED);
	CHECK_EQ(events[0].old_port, 40123);
	CHECK_EQ(events[0].new_port, 40999);
	check_seed_table(g, "40999");
	len = sip(pkt, PCSCF, UE_PUB, PORT_PS, PORT_UC, "SIP/2.0 200 OK\r\n\r\n");
	test_pkt_set(&t, pkt, len);
	CHECK_EQ(run(wpc, &t, &r), ESP_VERDICT_ENCAP);
	CHECK_EQ(get_be16(pkt_data(&t.p) + 22), 40999);
	/* a keepalive from the binding is heard; from elsewhere it is not */
	CHECK(encap_table_keepalive(esp_engine_table(pc), &events[0].src, 40999, 777) == g);
	CHECK_EQ(g->last_seen_ms, 777);
	CHECK(encap_table_keepalive(esp_engine_table(pc), &events[0].src, 40123, 778) == NULL);
	CHECK_EQ(g->port, 40999);
}

/* Seed B.5: a second UE behind the same NAT, other ports, its own port_Uenc;
 * a third that picked the first one's ports is refused. */
static void test_two_ues(void)
{
	uint8_t pkt[1024];
	struct esp_result r;
	struct encap_table *tab = esp_engine_table(pc);

	pcscf_sas(pc, UE_PUB, 2, 6062, 6064, 5111, 5222, 5333, 5444);
	ue_sas(ue2, "10.0.0.8", 6062, 6064, 5111, 5222, 5333, 5444);
	nevents = 0;
	uint8_t plain[256];
	size_t len = sip(plain, UE_PUB, PCSCF, 6062, PORT_PS, "REGISTER");
	test_pkt_set(&t, plain, len);
	CHECK_EQ(run(wue2, &t, &r), ESP_VERDICT_ENCAP);
	memcpy(pkt, pkt_data(&t.p), t.p.len);
	len = t.p.len;
	nat(pkt, 1, UE_PUB, 41000);
	CHECK_EQ(at_pcscf(pkt, len, &r), ESP_VERDICT_DECAP);
	CHECK_EQ(encap_table_group(tab, 2)->port, 41000);
	CHECK_EQ(encap_table_group(tab, 1)->port, 40999);
	len = sip(pkt, PCSCF, UE_PUB, PORT_PC, 6064, "MESSAGE");
	test_pkt_set(&t, pkt, len);
	CHECK_EQ(run(wpc, &t, &r), ESP_VERDICT_ENCAP);
	CHECK_EQ(get_be16(pkt_data(&t.p) + 22), 41000);
	len = sip(pkt, PCSCF, UE_PUB, PORT_PC, PORT_US, "MESSAGE");
	test_pkt_set(&t, pkt, len);
	CHECK_EQ(run(wpc, &t, &r), ESP_VERDICT_ENCAP);
	CHECK_EQ(get_be16(pkt_data(&t.p) + 22), 40999);

	/* UE 3 picked UE 1's ports (and the P-CSCF its usual ones) */
	struct esp_sa_params p;
	char err[256], l[1024];
	const char *why;
	nevents = 0;
	snprintf(l, sizeof(l), "src " UE_PUB " dst " PCSCF " proto esp spi 7444 reqid 3 mode tunnel "
		 KEYS " encap espinudp 0 4500 0.0.0.0 sel src " UE_PUB " dst " PCSCF
		 " proto udp sport 5062 dport 5068 dir in");
	esp_safile_parse_line(l, &p, err, sizeof(err));
	CHECK_EQ(esp_engine_add_sa(pc, &p, &why), 0);	/* one port alone: no clash yet */
	snprintf(l, sizeof(l), "src " UE_PUB " dst " PCSCF " proto esp spi 7333 reqid 3 mode tunnel "
		 KEYS " encap espinudp 0 4500 0.0.0.0 sel src " UE_PUB " dst " PCSCF
		 " proto udp sport 5064 dport 5066 dir in");
	esp_safile_parse_line(l, &p, err, sizeof(err));
	CHECK_EQ(esp_engine_add_sa(pc, &p, &why), -17);
	CHECK(strstr(why, "B.5") != NULL);
	CHECK_EQ(nevents, 1);
	CHECK_EQ(events[0].type, ESP_EVENT_REFUSED);
	CHECK_EQ(events[0].spi, 7333);
	/* an SPI clash toward the same public address is refused as well */
	snprintf(l, sizeof(l), "src " PCSCF " dst " UE_PUB " proto esp spi 2222 reqid 3 mode tunnel "
		 KEYS " encap espinudp 4500 0 0.0.0.0 sel src " PCSCF " dst " UE_PUB
		 " proto udp sport 5066 dport 7064 dir out");
	esp_safile_parse_line(l, &p, err, sizeof(err));
	CHECK_EQ(esp_engine_add_sa(pc, &p, &why), -17);
	CHECK(strstr(why, "SPI") != NULL);
	/* more than two far-end ports in one registration */
	snprintf(l, sizeof(l), "src " PCSCF " dst " UE_PUB " proto esp spi 7222 reqid 1 mode tunnel "
		 KEYS " encap espinudp 4500 0 0.0.0.0 sel src " PCSCF " dst " UE_PUB
		 " proto udp sport 5066 dport 7064 dir out");
	esp_safile_parse_line(l, &p, err, sizeof(err));
	CHECK_EQ(esp_engine_add_sa(pc, &p, &why), -22);
	esp_sa_params_wipe(&p);
}

/* The registration goes when its SAs go, and so does its binding. */
static void test_group_removed(void)
{
	struct encap_table *tab = esp_engine_table(pc);
	struct esp_addr pub, pcscf;
	size_t before = encap_table_count(tab);

	esp_addr_parse(UE_PUB, &pub);
	esp_addr_parse(PCSCF, &pcscf);
	CHECK_EQ(esp_engine_del_sa(pc, SPI_US, &pub), 0);
	CHECK_EQ(esp_engine_del_sa(pc, SPI_PS, &pcscf), 0);
	CHECK_EQ(esp_engine_del_sa(pc, SPI_UC, &pub), 0);
	CHECK(encap_table_group(tab, 1) != NULL);
	CHECK_EQ(esp_engine_del_sa(pc, SPI_PC, &pcscf), 0);
	CHECK(encap_table_group(tab, 1) == NULL);
	CHECK_EQ(encap_table_count(tab), before - 1);
	CHECK(encap_table_keepalive(tab, &pub, 40999, 1) == NULL);
	CHECK(encap_table_keepalive(tab, &pub, 41000, 1) == encap_table_group(tab, 2));
}

/* UDP-encapsulated transport mode (RFC 3948 3.1.2): the NAT changed the
 * outer source the inner checksums were computed over; after decap they
 * verify again, for UDP and TCP. */
static void test_transport_checksums(void)
{
	struct esp_engine *a = esp_engine_new(), *b = esp_engine_new();
	struct esp_worker *wa = esp_worker_new(a), *wb = esp_worker_new(b);
	struct esp_result r;
	uint8_t pkt[512];

	add_sa(a, "src " UE_PRIV " dst " PCSCF " proto esp spi 9001 reqid 5 " KEYS
		  " encap espinudp 4500 4500 0.0.0.0 dir out");
	add_sa(b, "src " UE_PUB " dst " PCSCF " proto esp spi 9001 reqid 5 " KEYS
		  " encap espinudp 0 4500 " UE_PRIV " dir in");
	for (int tcp = 0; tcp <= 1; tcp++) {
		size_t len = sip(pkt, UE_PRIV, PCSCF, PORT_UC, PORT_PS, "REGISTER sip:x SIP/2.0\r\n\r\n");
		if (tcp) {
			/* the same bytes as a TCP segment: 20-byte header, PSH|ACK */
			uint8_t seg[256] = { 0x13, 0xc6, 0x13, 0xcc, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0x10, 0 };
			size_t dlen = len - 28;
			memcpy(seg + 20, pkt + 28, dlen);
			memcpy(pkt + 20, seg, 20 + dlen);
			pkt[9] = IPPROTO_NUM_TCP;
			len = 40 + dlen;
			put_be16(pkt + 2, (uint16_t)len);
			csum_ipv4_header(pkt);
			uint16_t c = csum_l4(pkt + 12, pkt + 16, 4, IPPROTO_NUM_TCP, pkt + 20, len - 20);
			put_be16(pkt + 36, c);
		}
		CHECK(l4_checksum_ok(pkt, len));
		test_pkt_set(&t, pkt, len);
		CHECK_EQ(run(wa, &t, &r), ESP_VERDICT_ENCAP);
		memcpy(pkt, pkt_data(&t.p), t.p.len);
		len = t.p.len;
		nat(pkt, 1, UE_PUB, 40500);
		test_pkt_set(&t, pkt, len);
		CHECK_EQ(run(wb, &t, &r), ESP_VERDICT_DECAP);
		CHECK_EQ(pkt_data(&t.p)[9], tcp ? IPPROTO_NUM_TCP : IPPROTO_NUM_UDP);
		CHECK_MEM(pkt_data(&t.p) + 12, "\xc6\x33\x64\x07", 4);	/* UE_pub now */
		CHECK(l4_checksum_ok(pkt_data(&t.p), t.p.len));
	}
	CHECK_EQ(encap_table_group(esp_engine_table(b), 5)->port, 40500);
	esp_engine_free(a);
	esp_engine_free(b);
}

/* A learned port needs a reqid to be shared through; without, refused. */
static void test_learning_needs_group(void)
{
	struct esp_engine *e = esp_engine_new();
	struct esp_sa_params p;
	char err[256];
	const char *why;

	esp_safile_parse_line("src 10.0.0.1 dst 10.0.0.2 proto esp spi 9100 " KEYS
			      " encap espinudp 0 4500 0.0.0.0 dir in", &p, err, sizeof(err));
	CHECK_EQ(esp_engine_add_sa(e, &p, &why), -22);
	CHECK(strstr(why, "reqid") != NULL);
	esp_sa_params_wipe(&p);
	esp_engine_free(e);
}

int main(void)
{
	pc = esp_engine_new();
	ue = esp_engine_new();
	ue2 = esp_engine_new();
	wpc = esp_worker_new(pc);
	wue = esp_worker_new(ue);
	wue2 = esp_worker_new(ue2);
	esp_engine_on_event(pc, record, NULL);

	test_sm7_learning();
	test_rebinding();
	test_two_ues();
	test_group_removed();
	test_transport_checksums();
	test_learning_needs_group();
	esp_engine_free(pc);
	esp_engine_free(ue);
	esp_engine_free(ue2);
	return check_done("test_table");
}
