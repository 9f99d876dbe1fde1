/* HTTP Digest with IMS AKA (RFC 3310): the nonce carries RAND and AUTN,
 * the password is RES. What the registrar and the UE of the lab compute. */
#ifndef ESPNAT_LAB_AKADIGEST_H
#define ESPNAT_LAB_AKADIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The value of parameter @name in a Digest challenge or credentials
 * (`Digest a="x", b=y`), unquoted, into @out; false when absent, malformed
 * or too long. */
bool aka_digest_param(const char *header, const char *name, char *out, size_t len);

/* nonce = base64(RAND || AUTN) (RFC 3310 3.2). Returns 0 or -1. */
int aka_nonce_encode(const uint8_t rand[16], const uint8_t autn[16], char *out,
		     size_t len);
int aka_nonce_decode(const char *nonce, uint8_t rand[16], uint8_t autn[16]);

/* The RFC 2617 response (no qop) with RES as the password (RFC 3310 3.4),
 * as 32 lower-case hex digits in @out. */
void aka_digest_response(const char *user, const char *realm,
			 const uint8_t *res, size_t res_len, const char *method,
			 const char *uri, const char *nonce, char out[33]);

#endif
