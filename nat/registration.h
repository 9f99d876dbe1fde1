/* One IMS registration's four SAs (TS 33.203 7.1; TR 33.803 Annex D
 * A.7.1), built from what sec-agree negotiated and the keys IMS AKA gave:
 * the UE's and the P-CSCF's SPIs and protected ports, the algorithms, IK
 * and CK, and the mode (transport, or UDP-encapsulated tunnel behind a
 * NAT). What `espnat reg add` and the lab's simulators share. */
#ifndef ESPNAT_NAT_REGISTRATION_H
#define ESPNAT_NAT_REGISTRATION_H

#include <stdint.h>

#include "engine/sa.h"

enum nat_role {
	NAT_ROLE_PCSCF,
	NAT_ROLE_UE,
};

enum nat_mode {
	NAT_MODE_TRANS,		/* "trans": no NAT on the path */
	NAT_MODE_UDP_ENC_TUN,	/* "UDP-enc-tun": TR 33.803 B.4.1 */
};

struct nat_registration {
	enum nat_role role;	/* whose four SAs to build */
	enum nat_mode mode;
	/* The UE's address as the P-CSCF sees it (its public one behind a
	 * NAT). At the UE, in UDP-enc-tun, ue_local is its own (private)
	 * address, the outer source; ue stays the inner one. */
	struct esp_addr ue;
	struct esp_addr ue_local;	/* family 0: same as ue */
	struct esp_addr pcscf;
	uint32_t spi_uc, spi_us;	/* the UE's inbound SPIs (spi-c, spi-s) */
	uint32_t spi_pc, spi_ps;	/* the P-CSCF's */
	uint16_t port_uc, port_us;	/* the UE's protected ports */
	uint16_t port_pc, port_ps;	/* the P-CSCF's */
	enum esp_auth alg;
	enum esp_enc ealg;
	uint8_t ik[16];			/* IK_IM and CK_IM from IMS AKA */
	uint8_t ck[16];
	uint32_t reqid;
	uint32_t lifetime_s;		/* 0: none */
};

/* Keys an SA from IK_IM/CK_IM (TS 33.203 Annex I): HMAC-MD5-96 takes IK as
 * it is, HMAC-SHA-1-96 IK followed by 32 zero bits; AES-CBC takes CK as it
 * is, DES-EDE3-CBC CK1 || CK2 || CK1 where CK = CK1 || CK2. */
void nat_expand_ik(enum esp_auth alg, const uint8_t ik[16], uint8_t *out,
		   uint8_t *len);
void nat_expand_ck(enum esp_enc ealg, const uint8_t ck[16], uint8_t *out,
		   uint8_t *len);

/* Builds the four SAs into @sa: at the P-CSCF in the column order of the
 * seed's table (to the UE's server port, from its client port, to its
 * client port, from its server port); at the UE the mirror image. Returns
 * 0, or -EINVAL with @why. The params hold keys: wipe them. */
int nat_registration_build(const struct nat_registration *r,
			   struct esp_sa_params sa[4], const char **why);

/* sec-agree's names for the algorithms (TS 33.203 Annex H): -1 if unknown. */
int nat_alg_by_name(const char *name);		/* hmac-md5-96, hmac-sha-1-96 */
int nat_ealg_by_name(const char *name);		/* des-ede3-cbc, aes-cbc, null */
const char *nat_alg_name(enum esp_auth alg);
const char *nat_ealg_name(enum esp_enc ealg);

#endif
