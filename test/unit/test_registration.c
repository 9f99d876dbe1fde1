/* nat/registration: TS 33.203 Annex I key expansion, and the four SAs of
 * each side, which must talk to each other through a NAT. */
#include <string.h>

#include "encap/table.h"
#include "engine/csum.h"
#include "engine/engine.h"
#include "engine/ip.h"
#include "nat/registration.h"
#include "test/unit/check.h"
#include "test/unit/testutil.h"

static void test_key_expansion(void)
{
	uint8_t ik[16], ck[16], out[32], len;

	for (int i = 0; i < 16; i++) {
		ik[i] = (uint8_t)(0x10 + i);
		ck[i] = (uint8_t)(0xa0 + i);
	}
	nat_expand_ik(ESP_AUTH_HMAC_MD5_96, ik, out, &len);
	CHECK_EQ(len, 16);
	CHECK_MEM(out, ik, 16);
	nat_expand_ik(ESP_AUTH_HMAC_SHA1_96, ik, out, &len);
	CHECK_EQ(len, 20);
	CHECK_MEM(out, ik, 16);
	CHECK_MEM(out + 16, "\0\0\0\0", 4);
	nat_expand_ck(ESP_ENC_AES_CBC, ck, out, &len);
	CHECK_EQ(len, 16);
	CHECK_MEM(out, ck, 16);
	nat_expand_ck(ESP_ENC_3DES_CBC, ck, out, &len);
	CHECK_EQ(len, 24);
	CHECK_MEM(out, ck, 16);
	CHECK_MEM(out + 16, ck, 8);
	nat_expand_ck(ESP_ENC_NULL, ck, out, &len);
	CHECK_EQ(len, 0);

	CHECK_EQ(nat_alg_by_name("hmac-sha-1-96"), ESP_AUTH_HMAC_SHA1_96);
	CHECK_EQ(nat_alg_by_name("HMAC-MD5-96"), ESP_AUTH_HMAC_MD5_96);
	CHECK_EQ(nat_alg_by_name("hmac-sha-256"), -1);
	CHECK_EQ(nat_ealg_by_name("des-ede3-cbc"), ESP_ENC_3DES_CBC);
	CHECK_EQ(nat_ealg_by_name("null"), ESP_ENC_NULL);
	CHECK_EQ(nat_ealg_by_name("aes-gcm"), -1);
}

static void base(struct nat_registration *r, enum nat_role role, enum nat_mode mode)
{
	memset(r, 0, sizeof(*r));
	r->role = role;
	r->mode = mode;
	esp_addr_parse("198.51.100.7", &r->ue);
	esp_addr_parse("203.0.113.5", &r->pcscf);
	if (role == NAT_ROLE_UE && mode == NAT_MODE_UDP_ENC_TUN)
		esp_addr_parse("10.0.0.7", &r->ue_local);
	r->spi_uc = 1111, r->spi_us = 2222, r->spi_pc = 3333, r->spi_ps = 4444;
	r->port_uc = 5062, r->port_us = 5064, r->port_pc = 5066, r->port_ps = 5068;
	r->alg = ESP_AUTH_HMAC_SHA1_96;
	r->ealg = ESP_ENC_3DES_CBC;
	for (int i = 0; i < 16; i++) {
		r->ik[i] = (uint8_t)(i * 7 + 1);
		r->ck[i] = (uint8_t)(i * 13 + 5);
	}
	r->reqid = 1;
	r->lifetime_s = 600;
}

static void add_all(struct esp_engine *e, const struct nat_registration *r)
{
	struct esp_sa_params sa[4];
	const char *why;

	CHECK_EQ(nat_registration_build(r, sa, &why), 0);
	for (int i = 0; i < 4; i++) {
		CHECK_EQ(esp_engine_add_sa(e, &sa[i], &why), 0);
		esp_sa_params_wipe(&sa[i]);
	}
}

/* Both sides built from the same negotiation, a NAT between them: SM7 up,
 * SM12 down, a request to the UE's server port, in UDP-enc-tun; and the
 * same without the NAT in transport mode. */
static void test_sides_talk(enum nat_mode mode)
{
	static struct test_pkt t;
	struct nat_registration r;
	struct esp_engine *pc = esp_engine_new(), *ue = esp_engine_new();
	struct esp_worker *wpc = esp_worker_new(pc), *wue = esp_worker_new(ue);
	struct esp_result res;
	uint8_t plain[512], want[512];
	bool nat = mode == NAT_MODE_UDP_ENC_TUN;

	base(&r, NAT_ROLE_PCSCF, mode);
	add_all(pc, &r);
	base(&r, NAT_ROLE_UE, mode);
	add_all(ue, &r);

	/* SM7: UE client port -> P-CSCF server port */
	size_t len = build_udp(plain, "198.51.100.7", "203.0.113.5", 5062, 5068,
			       (const uint8_t *)"REGISTER", 8);
	memcpy(want, plain, len);
	test_pkt_set(&t, plain, len);
	CHECK_EQ(esp_process(wue, &t.p, ESP_HINT_PROTECT, &res), ESP_VERDICT_ENCAP);
	if (nat) {
		uint8_t *ip = pkt_data(&t.p);
		CHECK_MEM(ip + 12, "\x0a\x00\x00\x07", 4);	/* from UE_priv */
		memcpy(ip + 12, "\xc6\x33\x64\x07", 4);		/* the NAT */
		put_be16(ip + 20, 40123);
		csum_ipv4_header(ip);
	}
	CHECK_EQ(esp_process(wpc, &t.p, ESP_HINT_INBOUND, &res), ESP_VERDICT_DECAP);
	CHECK_EQ(t.p.len, len);
	CHECK_MEM(pkt_data(&t.p), want, len);
	if (nat)
		CHECK_EQ(encap_table_group(esp_engine_table(pc), 1)->port, 40123);

	/* SM12 back, and a MESSAGE to the UE's server port */
	const uint16_t ports[2][2] = { { 5068, 5062 }, { 5066, 5064 } };
	for (int k = 0; k < 2; k++) {
		len = build_udp(plain, "203.0.113.5", "198.51.100.7", ports[k][0],
				ports[k][1], (const uint8_t *)"SIP/2.0 200 OK", 14);
		memcpy(want, plain, len);
		test_pkt_set(&t, plain, len);
		CHECK_EQ(esp_process(wpc, &t.p, ESP_HINT_PROTECT, &res), ESP_VERDICT_ENCAP);
		if (nat) {
			uint8_t *ip = pkt_data(&t.p);
			CHECK_EQ(get_be16(ip + 22), 40123);
			memcpy(ip + 16, "\x0a\x00\x00\x07", 4);	/* the NAT back */
			put_be16(ip + 22, 4500);
			csum_ipv4_header(ip);
		} else {
			CHECK_EQ(pkt_data(&t.p)[9], IPPROTO_NUM_ESP);
		}
		CHECK_EQ(esp_process(wue, &t.p, ESP_HINT_INBOUND, &res), ESP_VERDICT_DECAP);
		CHECK_MEM(pkt_data(&t.p), want, len);
	}
	/* a port no SA covers is not sent in clear */
	len = build_udp(plain, "203.0.113.5", "198.51.100.7", 5068, 5070,
			(const uint8_t *)"x", 1);
	test_pkt_set(&t, plain, len);
	CHECK_EQ(esp_process(wpc, &t.p, ESP_HINT_PROTECT, &res), ESP_VERDICT_DROP);
	CHECK_EQ(res.reason, ESP_DROP_UNPROTECTED);
	esp_engine_free(pc);
	esp_engine_free(ue);
}

static void test_refusals(void)
{
	struct nat_registration r;
	struct esp_sa_params sa[4];
	const char *why;

	base(&r, NAT_ROLE_PCSCF, NAT_MODE_UDP_ENC_TUN);
	r.spi_pc = r.spi_uc;
	CHECK_EQ(nat_registration_build(&r, sa, &why), -22);
	CHECK(strstr(why, "SPIs must differ") != NULL);
	base(&r, NAT_ROLE_PCSCF, NAT_MODE_UDP_ENC_TUN);
	r.port_us = r.port_uc;
	CHECK_EQ(nat_registration_build(&r, sa, &why), -22);
	base(&r, NAT_ROLE_PCSCF, NAT_MODE_UDP_ENC_TUN);
	r.reqid = 0;
	CHECK_EQ(nat_registration_build(&r, sa, &why), -22);
	base(&r, NAT_ROLE_PCSCF, NAT_MODE_TRANS);
	r.alg = ESP_AUTH_NONE;
	CHECK_EQ(nat_registration_build(&r, sa, &why), -22);
	base(&r, NAT_ROLE_PCSCF, NAT_MODE_TRANS);
	esp_addr_parse("2001:db8::1", &r.pcscf);
	CHECK_EQ(nat_registration_build(&r, sa, &why), -22);
}

int main(void)
{
	test_key_expansion();
	test_sides_talk(NAT_MODE_UDP_ENC_TUN);
	test_sides_talk(NAT_MODE_TRANS);
	test_refusals();
	return check_done("test_registration");
}
