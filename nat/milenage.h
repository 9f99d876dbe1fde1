/* MILENAGE, the 3GPP example algorithm set for AKA (TS 35.206: f1, f1*,
 * f2, f3, f4, f5, f5* over AES-128), and the IMS AKA operations built on
 * it (TS 33.102 6.3): the authentication vector the registrar hands out,
 * the UE's check of AUTN, and the resynchronisation token AUTS. What the
 * lab's registrar and UE simulator share to agree on IK and CK (which
 * nat_registration then turns into the four SAs).
 *
 * Every function returns 0 or a negative errno: -EINVAL for a NULL input,
 * -ENOMEM or -EIO when OpenSSL fails. Outputs are written only on success,
 * and may alias the inputs. Key material on the stack is wiped. */
#ifndef ESPNAT_NAT_MILENAGE_H
#define ESPNAT_NAT_MILENAGE_H

#include <stdint.h>

/* OPc = OP xor E_K(OP) (TS 35.206 4.1): what a USIM stores instead of the
 * operator's OP. */
int milenage_opc(const uint8_t k[16], const uint8_t op[16], uint8_t opc[16]);

/* f1 (network authentication code MAC-A) and f1* (resynchronisation
 * authentication code MAC-S) of @sqn and @amf; either output may be NULL. */
int milenage_f1(const uint8_t k[16], const uint8_t opc[16],
		const uint8_t rand[16], const uint8_t sqn[6],
		const uint8_t amf[2], uint8_t mac_a[8], uint8_t mac_s[8]);

/* f2 (RES), f3 (CK), f4 (IK), f5 (AK) and f5* (AK for resynchronisation)
 * of @rand; any output pointer may be NULL. */
int milenage_f2345(const uint8_t k[16], const uint8_t opc[16],
		   const uint8_t rand[16], uint8_t res[8], uint8_t ck[16],
		   uint8_t ik[16], uint8_t ak[6], uint8_t ak_star[6]);

/* One authentication vector (TS 33.102 6.3.2). XRES is the full 64-bit
 * f2 output: IMS AKA (RFC 3310) uses it as the digest password. */
struct aka_vector {
	uint8_t rand[16];
	uint8_t autn[16];	/* SQN xor AK || AMF || MAC-A */
	uint8_t xres[8];
	uint8_t ck[16];
	uint8_t ik[16];
};

/* Network side: the vector for @rand and @sqn, written to @v (which holds
 * keys: wipe it). Choosing a fresh RAND and SQN is the caller's. */
int aka_make_vector(const uint8_t k[16], const uint8_t opc[16],
		    const uint8_t rand[16], const uint8_t sqn[6],
		    const uint8_t amf[2], struct aka_vector *v);

/* UE side: checks MAC-A of @autn and gives RES, CK, IK and the SQN it
 * carried. Returns 0; -EBADMSG when MAC-A does not verify (a network
 * authentication failure: the UE must not answer) and then writes
 * nothing; -EINVAL when an argument is NULL. Whether SQN is fresh is the
 * caller's to judge: if not, it answers with aka_make_auts(). The MAC is
 * compared in constant time. */
int aka_respond(const uint8_t k[16], const uint8_t opc[16],
		const uint8_t rand[16], const uint8_t autn[16],
		uint8_t res[8], uint8_t ck[16], uint8_t ik[16], uint8_t sqn[6]);

/* UE side: AUTS = (SQN_MS xor AK*) || MAC-S for @rand (TS 33.102 6.3.3),
 * MAC-S computed with AMF 0x0000 as that clause prescribes. */
int aka_make_auts(const uint8_t k[16], const uint8_t opc[16],
		  const uint8_t rand[16], const uint8_t sqn_ms[6],
		  uint8_t auts[14]);

/* Network side: checks MAC-S of @auts (sent against @rand) and gives the
 * UE's SQN_MS. Returns 0; -EBADMSG when MAC-S does not verify, writing
 * nothing; -EINVAL when an argument is NULL. Constant-time compare. */
int aka_check_auts(const uint8_t k[16], const uint8_t opc[16],
		   const uint8_t rand[16], const uint8_t auts[14],
		   uint8_t sqn_ms[6]);

#endif
