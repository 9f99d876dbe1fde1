/* nat/: keepalive cadence on a fake clock, following a registration's SAs;
 * liveness of learned bindings; NAT detection from the Via header. */
#include <stdio.h>
#include <string.h>

#include "encap/table.h"
#include "engine/engine.h"
#include "nat/clock.h"
#include "nat/keepalive.h"
#include "nat/liveness.h"
#include "nat/natdetect.h"
#include "test/unit/check.h"
#include "test/unit/testutil.h"

#define KEYS "auth hmac(sha1) 0x000102030405060708090a0b0c0d0e0f10111213 " \
	     "enc cbc(aes) 0x2b7e151628aed2a6abf7158809cf4f3c"

static struct nat_keepalive *ka_for_events;

static void to_keepalive(void *arg, const struct esp_event *ev)
{
	(void)arg;
	nat_keepalive_on_event(ka_for_events, ev);
}

/* UE role: keepalives start with the registration's SAs, come every 20 s
 * +/- 10 %, and stop when the SAs go. One step is 100 ms of fake time. */
static void test_keepalive_cadence(void)
{
	struct nat_fake_clock clk;
	struct esp_engine *e = esp_engine_new();
	uint32_t due[8];

	nat_fake_clock_init(&clk, 1000000);
	struct nat_keepalive *ka = nat_keepalive_new(&clk.clock, NAT_KEEPALIVE_INTERVAL_MS,
						     NAT_KEEPALIVE_JITTER_PCT, 42);
	ka_for_events = ka;
	esp_engine_on_event(e, to_keepalive, NULL);
	CHECK_EQ(nat_keepalive_next(ka), UINT64_MAX);

	add_sa(e, "src 10.0.0.7 dst 203.0.113.5 proto esp spi 4444 reqid 1 mode tunnel " KEYS
		  " encap espinudp 4500 4500 0.0.0.0 sel src 198.51.100.7 dst 203.0.113.5 dir out");
	add_sa(e, "src 203.0.113.5 dst 10.0.0.7 proto esp spi 1111 reqid 1 mode tunnel " KEYS
		  " encap espinudp 4500 4500 0.0.0.0 sel src 203.0.113.5 dst 198.51.100.7 dir in");
	CHECK_EQ(nat_keepalive_count(ka), 1);

	/* the target is the outbound SA: 4500 -> the P-CSCF's 4500 */
	struct esp_addr src, dst;
	uint16_t sport, dport;
	CHECK(encap_group_keepalive_target(encap_table_group(esp_engine_table(e), 1),
					   &src, &dst, &sport, &dport));
	CHECK_EQ(sport, 4500);
	CHECK_EQ(dport, 4500);
	CHECK_EQ(dst.bytes[3], 5);

	uint64_t last = clk.now, min_gap = UINT64_MAX, max_gap = 0;
	int sent = 0;
	for (int step = 0; step < 10 * 60 * 10; step++) {	/* ten minutes */
		clk.now += 100;
		size_t n = nat_keepalive_due(ka, due, 8);
		for (size_t i = 0; i < n; i++) {
			CHECK_EQ(due[i], 1);
			uint64_t gap = clk.now - last;
			if (gap < min_gap)
				min_gap = gap;
			if (gap > max_gap)
				max_gap = gap;
			last = clk.now;
			sent++;
		}
		CHECK(nat_keepalive_next(ka) > clk.now);
	}
	/* 600 s at 20 s +/- 2 s: between 27 and 33 keepalives */
	CHECK(sent >= 27 && sent <= 33);
	CHECK(min_gap >= 18000);
	CHECK(max_gap <= 22100);	/* + one 100 ms step of the loop */
	CHECK(max_gap - min_gap >= 1000);	/* jittered, not in lockstep */

	/* the registration's SAs go: keepalives stop */
	struct esp_addr a;
	esp_addr_parse("203.0.113.5", &a);
	CHECK_EQ(esp_engine_del_sa(e, 4444, &a), 0);
	CHECK_EQ(nat_keepalive_count(ka), 1);		/* one SA still there */
	esp_addr_parse("10.0.0.7", &a);
	CHECK_EQ(esp_engine_del_sa(e, 1111, &a), 0);
	CHECK_EQ(nat_keepalive_count(ka), 0);
	CHECK_EQ(nat_keepalive_next(ka), UINT64_MAX);
	int after = 0;
	for (int step = 0; step < 1000; step++) {
		clk.now += 100;
		after += (int)nat_keepalive_due(ka, due, 8);
	}
	CHECK_EQ(after, 0);

	/* a loop asleep for five minutes sends one, not fifteen */
	nat_keepalive_track(ka, 7);
	clk.now += 300000;
	CHECK_EQ(nat_keepalive_due(ka, due, 8), 1);
	CHECK_EQ(nat_keepalive_due(ka, due, 8), 0);
	CHECK(nat_keepalive_next(ka) >= clk.now + 18000);

	CHECK(nat_keepalive_new(&clk.clock, 0, 10, 1) == NULL);
	CHECK(nat_keepalive_new(&clk.clock, 1000, 60, 1) == NULL);
	nat_keepalive_free(ka);
	esp_engine_free(e);
}

static int silent_events;
static struct esp_event last_silent;

static void count_silent(void *arg, const struct esp_event *ev)
{
	(void)arg;
	if (ev->type == ESP_EVENT_SILENT) {
		silent_events++;
		last_silent = *ev;
	}
}

/* P-CSCF role: a learned binding that goes quiet is reported once; a
 * keepalive or packet makes it heard again. */
static void test_liveness(void)
{
	struct esp_engine *pc = esp_engine_new(), *ue = esp_engine_new();
	struct esp_worker *wpc = esp_worker_new(pc), *wue = esp_worker_new(ue);
	static struct test_pkt t;
	struct esp_result r;
	uint8_t pkt[512];

	esp_engine_on_event(pc, count_silent, NULL);
	add_sa(ue, "src 198.51.100.7 dst 203.0.113.5 proto esp spi 4444 reqid 1 " KEYS
		   " encap espinudp 4500 4500 0.0.0.0 dir out");
	add_sa(pc, "src 198.51.100.7 dst 203.0.113.5 proto esp spi 4444 reqid 1 " KEYS
		   " encap espinudp 0 4500 0.0.0.0 dir in");
	CHECK_EQ(nat_liveness_sweep(pc, 100000, 60000), 0);	/* nothing learned yet */

	size_t len = build_udp(pkt, "198.51.100.7", "203.0.113.5", 5062, 5068,
			       (const uint8_t *)"REGISTER", 8);
	test_pkt_set(&t, pkt, len);
	CHECK_EQ(run(wue, &t, &r), ESP_VERDICT_ENCAP);
	esp_worker_set_time(wpc, 1000);
	CHECK_EQ(run(wpc, &t, &r), ESP_VERDICT_DECAP);	/* learned 4500 at t=1 s */

	CHECK_EQ(nat_liveness_sweep(pc, 61000, 60000), 0);
	CHECK_EQ(nat_liveness_sweep(pc, 61001, 60000), 1);
	CHECK_EQ(silent_events, 1);
	CHECK_EQ(last_silent.reqid, 1);
	CHECK_EQ(last_silent.quiet_ms, 60001);
	CHECK_EQ(nat_liveness_sweep(pc, 90000, 60000), 0);	/* once */

	/* a keepalive from the binding: heard again, silent again later */
	len = build_udp(pkt, "198.51.100.7", "203.0.113.5", 4500, 4500,
			(const uint8_t *)"\xff", 1);
	test_pkt_set(&t, pkt, len);
	esp_worker_set_time(wpc, 95000);
	CHECK_EQ(run(wpc, &t, &r), ESP_VERDICT_CONSUME);
	CHECK_EQ(nat_liveness_sweep(pc, 150000, 60000), 0);
	CHECK_EQ(nat_liveness_sweep(pc, 155001, 60000), 1);
	CHECK_EQ(silent_events, 2);
	esp_engine_free(pc);
	esp_engine_free(ue);
}

struct via_case {
	const char *via, *src;
	uint16_t sport;
	enum nat_presence nat;
	const char *want;	/* the rewritten value */
};

static const struct via_case vias[] = {
	/* no NAT, no rport: unchanged */
	{ "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1", "192.0.2.10", 5060, NAT_ABSENT,
	  "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1" },
	/* behind a NAT (seed A.7.2): received added */
	{ "SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bK2", "198.51.100.7", 40001, NAT_PRESENT,
	  "SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bK2;received=198.51.100.7" },
	/* RFC 3581: rport filled, received even without a NAT */
	{ "SIP/2.0/UDP 192.0.2.10:5060;rport;branch=z9hG4bK3", "192.0.2.10", 5060, NAT_ABSENT,
	  "SIP/2.0/UDP 192.0.2.10:5060;rport=5060;branch=z9hG4bK3;received=192.0.2.10" },
	{ "SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bK4;rport", "198.51.100.7", 40002, NAT_PRESENT,
	  "SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bK4;rport=40002;received=198.51.100.7" },
	/* a stale received from the UE is replaced, not trusted */
	{ "SIP/2.0/UDP 10.0.0.7;received=1.2.3.4;branch=z9hG4bK5", "198.51.100.7", 5060, NAT_PRESENT,
	  "SIP/2.0/UDP 10.0.0.7;branch=z9hG4bK5;received=198.51.100.7" },
	/* IPv6, written differently but the same address: no NAT */
	{ "SIP/2.0/UDP [2001:db8:0:0::10]:5060;branch=z9hG4bK6", "2001:db8::10", 5060, NAT_ABSENT,
	  "SIP/2.0/UDP [2001:db8:0:0::10]:5060;branch=z9hG4bK6" },
	{ "SIP/2.0/UDP [fd00::7]:5060;branch=z9hG4bK7;rport", "2001:db8::99", 40003, NAT_PRESENT,
	  "SIP/2.0/UDP [fd00::7]:5060;branch=z9hG4bK7;rport=40003;received=2001:db8::99" },
	/* a host name cannot be compared without resolving it */
	{ "SIP/2.0/UDP ue.example.net:5060;branch=z9hG4bK8", "192.0.2.10", 5060, NAT_UNKNOWN,
	  "SIP/2.0/UDP ue.example.net:5060;branch=z9hG4bK8;received=192.0.2.10" },
	/* LWS around the slashes, and a second via-parm left alone */
	{ "SIP / 2.0 / TCP 10.0.0.7:5064 ;branch=z9hG4bK9 , SIP/2.0/UDP 10.9.9.9",
	  "198.51.100.7", 40004, NAT_PRESENT,
	  "SIP / 2.0 / TCP 10.0.0.7:5064;branch=z9hG4bK9;received=198.51.100.7, SIP/2.0/UDP 10.9.9.9" },
};

static void test_via(void)
{
	char out[256];
	struct nat_via_result res;

	for (size_t i = 0; i < sizeof(vias) / sizeof(vias[0]); i++) {
		struct esp_addr src;
		esp_addr_parse(vias[i].src, &src);
		int n = nat_via_process(vias[i].via, &src, vias[i].sport, out, sizeof(out), &res);
		CHECK_EQ(n, (long long)strlen(vias[i].want));
		CHECK_STR(out, vias[i].want);
		CHECK_EQ(res.nat, vias[i].nat);
	}
	struct esp_addr src;
	esp_addr_parse("198.51.100.7", &src);
	nat_via_process("SIP/2.0/UDP 10.0.0.7:5060;rport", &src, 40001, out, sizeof(out), &res);
	CHECK(res.port_differs);
	CHECK(res.rport);
	CHECK_STR(res.sent_by, "10.0.0.7");
	CHECK_EQ(res.sent_by_port, 5060);

	static const char *const bad[] = {
		"", "SIP/2.0", "SIP/2.0/UDP", "SIP/2.0/UDP :5060", "SIP/2.0/UDP 10.0.0.1:99999",
		"SIP/2.0/UDP 10.0.0.1:", "SIP/2.0/UDP [2001:db8::1", "SIP/2.0/UDP 10.0.0.1;",
		"SIP/2.0/UDP 10.0.0.1;branch=", "SIP/2.0/UDP 10.0.0.1;x=\"open", "SIP/2.0/UDP 10.0.0.1 junk",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ(nat_via_process(bad[i], &src, 5060, out, sizeof(out), &res), -22);
	CHECK_EQ(nat_via_process("SIP/2.0/UDP 10.0.0.7;branch=z9hG4bK1", &src, 5060, out, 20, &res), -28);
}

int main(void)
{
	test_keepalive_cadence();
	test_liveness();
	test_via();
	return check_done("test_nat");
}
