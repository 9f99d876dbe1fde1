/* What the lab's two registrars share: the built-in P-CSCF simulator
 * (pcscf.c, a registrar inside) and the S-CSCF simulator that stands
 * behind a real P-CSCF (scscf.c). Subscribers with their Milenage keys,
 * the AKA challenge (RFC 3310 nonce from a fresh authentication vector),
 * the check of RES in the Digest response, and answering a request with
 * an event on stdout. */
#ifndef ESPNAT_LAB_REGISTRAR_H
#define ESPNAT_LAB_REGISTRAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/addr.h"
#include "nat/milenage.h"
#include "tools/lab/sip.h"

#define LAB_MAX_SUBS 8

struct lab_sub {
	char impi[64];
	uint8_t k[16], opc[16];
	uint64_t sqn;
};

struct lab_subs {
	struct lab_sub s[LAB_MAX_SUBS];
	size_t n;
};

/* Adds "IMPI:K:OPC" (K and OPc as 32 hex digits); 0 or -1. @spec is
 * modified. */
int lab_sub_add(struct lab_subs *subs, char *spec);
struct lab_sub *lab_sub_find(struct lab_subs *subs, const char *impi);
/* Wipes the keys. */
void lab_subs_wipe(struct lab_subs *subs);

/* The username of the request's Authorization header (the IMPI), or NULL. */
const char *lab_impi_of(const struct sip_msg *m, char *buf, size_t len);

/* The S-CSCF's part of SM1: a fresh RAND, the next SQN, the vector (which
 * holds keys: wipe it) and its nonce (base64 of RAND || AUTN, 45 bytes
 * with the NUL). 0 or -1. */
int lab_challenge(struct lab_sub *s, struct aka_vector *av, char *nonce, size_t len);

/* Whether the Digest response of the request's Authorization header is
 * the one RES = XRES gives for @nonce (RFC 3310 3.4, no qop), compared in
 * constant time. The digest-uri is the header's `uri`. */
bool lab_res_ok(const struct lab_sub *s, const struct aka_vector *av, const char *nonce,
		const struct sip_msg *m);

/* Answers @req with @status (its Via, From, To, Call-ID and CSeq copied;
 * @to_tag, when given, added to To), a Warning from @agent when @warning
 * is given, and reports it as a "sent" event. */
void lab_reply(int fd, const struct sip_msg *req, int status, const char *reason,
	       const char *agent, const char *warning, const char *to_tag,
	       const struct esp_addr *to, uint16_t port);

#endif
