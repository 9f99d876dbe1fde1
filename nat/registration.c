#include "nat/registration.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

void nat_expand_ik(enum esp_auth alg, const uint8_t ik[16], uint8_t *out,
		   uint8_t *len)
{
	*len = 0;
	if (alg == ESP_AUTH_NONE)
		return;
	memcpy(out, ik, 16);
	*len = 16;
	if (alg == ESP_AUTH_HMAC_SHA1_96) {
		memset(out + 16, 0, 4);
		*len = 20;
	}
}

void nat_expand_ck(enum esp_enc ealg, const uint8_t ck[16], uint8_t *out,
		   uint8_t *len)
{
	*len = 0;
	if (ealg == ESP_ENC_AES_CBC) {
		memcpy(out, ck, 16);
		*len = 16;
	} else if (ealg == ESP_ENC_3DES_CBC) {
		memcpy(out, ck, 16);
		memcpy(out + 16, ck, 8);
		*len = 24;
	}
}

/* One SA from a source (address, port) to a destination. */
struct leg {
	const struct esp_addr *outer_src, *outer_dst;
	const struct esp_addr *inner_src, *inner_dst;
	uint16_t sport, dport;
	uint32_t spi;
	enum esp_dir dir;
	uint16_t encap_sport, encap_dport;
};

static void build_leg(const struct nat_registration *r, const struct leg *l,
		      struct esp_sa_params *p)
{
	esp_sa_params_init(p);
	p->src = *l->outer_src;
	p->dst = *l->outer_dst;
	p->spi = l->spi;
	p->reqid = r->reqid;
	p->dir = l->dir;
	p->lifetime_s = r->lifetime_s;
	p->auth = r->alg;
	p->enc = r->ealg;
	nat_expand_ik(r->alg, r->ik, p->auth_key, &p->auth_key_len);
	nat_expand_ck(r->ealg, r->ck, p->enc_key, &p->enc_key_len);
	/* TS 33.203 7.1: UDP and TCP share an SA */
	p->sel.src = *l->inner_src;
	p->sel.dst = *l->inner_dst;
	p->sel.src_plen = (uint8_t)esp_addr_bits(l->inner_src);
	p->sel.dst_plen = (uint8_t)esp_addr_bits(l->inner_dst);
	p->sel.sport = l->sport;
	p->sel.dport = l->dport;
	if (r->mode == NAT_MODE_UDP_ENC_TUN) {
		p->mode = ESP_MODE_TUNNEL;
		p->encap = true;
		p->encap_sport = l->encap_sport;
		p->encap_dport = l->encap_dport;
	}
}

static const char *check(const struct nat_registration *r)
{
	if (r->ue.family == 0 || r->pcscf.family == 0)
		return "the UE's and the P-CSCF's addresses are needed";
	if (r->ue.family != r->pcscf.family ||
	    (r->ue_local.family && r->ue_local.family != r->ue.family))
		return "the addresses are of different families";
	if (!r->spi_uc || !r->spi_us || !r->spi_pc || !r->spi_ps)
		return "four SPIs are needed (spi-c and spi-s of both sides)";
	uint32_t s[4] = { r->spi_uc, r->spi_us, r->spi_pc, r->spi_ps };
	for (int i = 0; i < 4; i++)
		for (int j = i + 1; j < 4; j++)
			if (s[i] == s[j])
				return "the four SPIs must differ (TS 33.203 7.1)";
	if (!r->port_uc || !r->port_us || !r->port_pc || !r->port_ps)
		return "four protected ports are needed (port-c and port-s of both sides)";
	if (r->port_uc == r->port_us || r->port_pc == r->port_ps)
		return "a side's protected client and server ports must differ";
	if (r->alg == ESP_AUTH_NONE)
		return "an integrity algorithm is needed (hmac-md5-96 or hmac-sha-1-96)";
	if (r->mode == NAT_MODE_UDP_ENC_TUN && r->reqid == 0)
		return "UDP-enc-tun needs a reqid: the NAT port is learned per registration";
	return NULL;
}

int nat_registration_build(const struct nat_registration *r,
			   struct esp_sa_params sa[4], const char **why)
{
	const char *reason = check(r);

	if (reason) {
		*why = reason;
		return -EINVAL;
	}
	const struct esp_addr *ue = &r->ue, *pc = &r->pcscf;
	const struct esp_addr *local = r->ue_local.family ? &r->ue_local : ue;
	bool nat = r->mode == NAT_MODE_UDP_ENC_TUN;
	/* 0 leaves the P-CSCF's view of the UE's NAT port to be learned;
	 * the UE always uses 4500 on both ends (A.7.1) */
	uint16_t learn = nat ? 0 : ESP_ENCAP_PORT;
	const uint16_t e = ESP_ENCAP_PORT;
	struct leg legs[4];

	if (r->role == NAT_ROLE_PCSCF) {
		legs[0] = (struct leg){ pc, ue, pc, ue, r->port_pc, r->port_us, r->spi_us, ESP_DIR_OUT, e, learn };
		legs[1] = (struct leg){ ue, pc, ue, pc, r->port_uc, r->port_ps, r->spi_ps, ESP_DIR_IN, learn, e };
		legs[2] = (struct leg){ pc, ue, pc, ue, r->port_ps, r->port_uc, r->spi_uc, ESP_DIR_OUT, e, learn };
		legs[3] = (struct leg){ ue, pc, ue, pc, r->port_us, r->port_pc, r->spi_pc, ESP_DIR_IN, learn, e };
	} else {
		legs[0] = (struct leg){ local, pc, ue, pc, r->port_uc, r->port_ps, r->spi_ps, ESP_DIR_OUT, e, e };
		legs[1] = (struct leg){ local, pc, ue, pc, r->port_us, r->port_pc, r->spi_pc, ESP_DIR_OUT, e, e };
		legs[2] = (struct leg){ pc, local, pc, ue, r->port_ps, r->port_uc, r->spi_uc, ESP_DIR_IN, e, e };
		legs[3] = (struct leg){ pc, local, pc, ue, r->port_pc, r->port_us, r->spi_us, ESP_DIR_IN, e, e };
	}
	for (int i = 0; i < 4; i++)
		build_leg(r, &legs[i], &sa[i]);
	return 0;
}

int nat_alg_by_name(const char *name)
{
	if (strcasecmp(name, "hmac-md5-96") == 0)
		return ESP_AUTH_HMAC_MD5_96;
	if (strcasecmp(name, "hmac-sha-1-96") == 0)
		return ESP_AUTH_HMAC_SHA1_96;
	return -1;
}

int nat_ealg_by_name(const char *name)
{
	if (strcasecmp(name, "des-ede3-cbc") == 0)
		return ESP_ENC_3DES_CBC;
	if (strcasecmp(name, "aes-cbc") == 0)
		return ESP_ENC_AES_CBC;
	if (strcasecmp(name, "null") == 0)
		return ESP_ENC_NULL;
	return -1;
}

const char *nat_alg_name(enum esp_auth alg)
{
	return alg == ESP_AUTH_HMAC_MD5_96 ? "hmac-md5-96" :
	       alg == ESP_AUTH_HMAC_SHA1_96 ? "hmac-sha-1-96" : "none";
}

const char *nat_ealg_name(enum esp_enc ealg)
{
	return ealg == ESP_ENC_3DES_CBC ? "des-ede3-cbc" :
	       ealg == ESP_ENC_AES_CBC ? "aes-cbc" : "null";
}
