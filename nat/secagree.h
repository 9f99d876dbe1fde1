/* Security mechanism agreement for SIP (RFC 3329) as IMS uses it for its
 * manually keyed IPsec (TS 33.203 7.2 and Annex H, with the UDP-enc-tun
 * and UDP-enc-trans modes of TR 33.803 B.3.3 / Annex D A.7.2): parsing
 * and regenerating the value of a Security-Client, Security-Server or
 * Security-Verify header field, comparing two of them, and the P-CSCF's
 * side of the agreement (its choice among what the UE offers, and the
 * Security-Server it answers with).
 *
 * Only "ipsec-3gpp" mechanisms get their Annex H parameters interpreted;
 * other mechanisms (digest, tls, ipsec-ike, ...) keep every parameter but
 * q as an extra, so that the header can be regenerated and compared. */
#ifndef ESPNAT_NAT_SECAGREE_H
#define ESPNAT_NAT_SECAGREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/crypto.h"
#include "nat/registration.h"

#define SECAGREE_MAX_MECHS 8
#define SECAGREE_MAX_EXTRA 8

/* A parameter this module does not interpret. */
struct secagree_extra {
	char name[32];		/* as written */
	char value[96];		/* as written, quotes included; folds removed */
	bool has_value;		/* false for a bare ";name" */
};

/* The values of "mod" (Annex H; TR 33.803 B.3.3 adds the UDP ones). */
enum secagree_mode_bits {
	SECAGREE_MOD_TRANS = 1,
	SECAGREE_MOD_TUN = 2,
	SECAGREE_MOD_UDP_ENC_TUN = 4,
	SECAGREE_MOD_UDP_ENC_TRANS = 8,
};

/* alg or ealg named an algorithm that TS 33.203 Annex H (as known here)
 * does not list. */
#define SECAGREE_UNSUPPORTED (-2)

struct secagree_mech {
	char name[32];		/* e.g. "ipsec-3gpp", as written */
	bool ipsec_3gpp;	/* name is ipsec-3gpp (case-insensitively) */
	int q_milli;		/* q=0.1 -> 100; -1 when absent */
	int alg;		/* enum esp_auth, -1 absent, or
				 * SECAGREE_UNSUPPORTED (kept as an extra) */
	int ealg;		/* enum esp_enc, -1 absent (for ipsec-3gpp
				 * that means null: TS 33.203 Rel-5 UEs), or
				 * SECAGREE_UNSUPPORTED (kept as an extra) */
	int prot;		/* 0 esp, 1 ah, -1 absent (= esp) */
	unsigned mods;		/* SECAGREE_MOD_* bits offered; 0 absent (= trans) */
	uint32_t spi_c, spi_s;	/* 0 absent */
	uint16_t port_c, port_s;	/* 0 absent */
	struct secagree_extra extra[SECAGREE_MAX_EXTRA];
	size_t nextra;
};

struct secagree_header {
	struct secagree_mech mech[SECAGREE_MAX_MECHS];
	size_t n;
};

/* Parses a header value (what follows "Security-Client:" and the like;
 * several header lines are joined with commas first, RFC 3261 7.3.1).
 * LWS, folded lines included, may surround ";", "," and "="; the value
 * must not carry the line's own CRLF. Names of mechanisms and parameters
 * compare case-insensitively. For ipsec-3gpp the Annex H parameters are
 * range-checked (alg, ealg, prot, mod, spi-c, spi-s, port-c, port-s) and
 * each but mod may appear once; their absence is not an error here (a
 * mechanism without alg is simply never chosen), nor is an alg or ealg
 * this library does not know (SECAGREE_UNSUPPORTED, never chosen either). Returns 0, or -EINVAL
 * with a reason in @err (may be NULL) and @h->n set to 0. Reads @value
 * up to its NUL and no further. */
int secagree_parse(const char *value, struct secagree_header *h, char *err,
		   size_t errlen);

/* Writes @h in a canonical form: mechanisms in order, separated by ", ";
 * parameters after ";" without spaces, in the order q, alg, ealg, prot,
 * mod (trans, tun, UDP-enc-tun, UDP-enc-trans), spi-c, spi-s, port-c,
 * port-s, then the extras as they came. Parameter names are lower-cased;
 * mechanism names and the extras' values keep their spelling; q has no
 * trailing zeros (0.500 -> 0.5, 1.000 -> 1). Returns what snprintf would:
 * the length needed, NUL excluded; @buf is always terminated when @len
 * is not 0. */
int secagree_format(const struct secagree_header *h, char *buf, size_t len);

/* Whether @a and @b say the same thing (Security-Verify against the
 * Security-Server sent, SM7's Security-Client against SM1's: TS 33.203
 * 7.2, TR 33.803 A.7.2): the same mechanisms in the same order, each with
 * the same parameters. Names and token values compare case-insensitively,
 * quoted strings exactly, q numerically; extras may come in any order. A
 * parameter left out differs from one given with its default value
 * ("ealg=null", "mod=trans"): the headers are meant to be copies. */
bool secagree_equal(const struct secagree_header *a,
		    const struct secagree_header *b);

/* One entry of the P-CSCF's priority list of algorithm combinations. */
struct secagree_pref {
	enum esp_auth alg;
	enum esp_enc ealg;
};

/* The P-CSCF's choice (TS 33.203 7.2, TR 33.803 A.7.2): the first entry of
 * its own priority list @prefs that the UE offered in an ipsec-3gpp
 * mechanism of @client (an absent ealg offers null; prot=ah is never
 * taken, IMS uses ESP), in the mode the path needs: UDP-enc-tun when
 * @nat, trans otherwise (a mechanism without mod offers trans). The UE's
 * order and q values do not matter. Returns the index of the chosen
 * mechanism of @client and fills the outputs (each may be NULL);
 * -ENOENT when nothing on the list was offered; -EPROTONOSUPPORT when
 * @nat and no ipsec-3gpp mechanism offers UDP-enc-tun (the P-CSCF then
 * silently discards the request, TR 33.803 A.7.2). */
int secagree_choose(const struct secagree_header *client,
		    const struct secagree_pref *prefs, size_t nprefs, bool nat,
		    enum esp_auth *alg, enum esp_enc *ealg, enum nat_mode *mode);

/* The P-CSCF's Security-Server: one ipsec-3gpp mechanism per entry of
 * @prefs, in order, each with the same SPIs and ports (TR 33.803 A.7.2:
 * one SPI for all alternatives), prot=esp, mod for @mode and an explicit
 * ealg (null included). Entry i of n gets q = (n - i) / (n + 1) rounded
 * to 3 decimals, so q falls strictly and stays inside (0, 1): one entry
 * 0.5; two 0.667, 0.333; three 0.75, 0.5, 0.25. Returns 0, or -EINVAL
 * for no entries or more than SECAGREE_MAX_MECHS, a zero SPI or port, an
 * entry without an Annex H integrity algorithm, or an unknown mode. */
int secagree_server(const struct secagree_pref *prefs, size_t nprefs,
		    uint32_t spi_c, uint32_t spi_s, uint16_t port_c,
		    uint16_t port_s, enum nat_mode mode,
		    struct secagree_header *out);

#endif
