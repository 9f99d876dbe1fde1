/* NAT detection for the SIP side (TR 33.803 B.3.3, Annex D A.7.2): the
 * P-CSCF compares the sent-by host of the topmost Via with the source
 * address of the packet. If they differ a NAT is in between; the Via then
 * gets `received` (RFC 3261 18.2.1) and, when the UE asked with a bare
 * `rport`, the source port (RFC 3581 4). */
#ifndef ESPNAT_NAT_NATDETECT_H
#define ESPNAT_NAT_NATDETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/addr.h"

enum nat_presence {
	NAT_ABSENT,	/* sent-by is the packet's source address */
	NAT_PRESENT,	/* sent-by is another address */
	NAT_UNKNOWN,	/* sent-by is a host name; resolve it to decide */
};

struct nat_via_result {
	enum nat_presence nat;
	bool port_differs;	/* sent-by port (default 5060) != source port */
	bool rport;		/* the UE asked for rport */
	char sent_by[80];	/* the host as written, without brackets */
	uint16_t sent_by_port;	/* 0 when the Via gives none */
};

/* Processes the value of a Via header field (what follows "Via:") for a
 * request that arrived from @src:@sport. Only the first via-parm is
 * changed; the rest is copied. Writes the rewritten value to @out and
 * returns its length; -EINVAL when the Via is malformed, -ENOSPC when
 * @out is too small. */
int nat_via_process(const char *via, const struct esp_addr *src, uint16_t sport,
		    char *out, size_t outlen, struct nat_via_result *res);

#endif
