/* Sending IP packets we built whole (ESP on the TUN path, NAT keepalives
 * on both paths) through raw sockets, with the source address and port the
 * SA names. */
#ifndef ESPNAT_IO_INJECT_H
#define ESPNAT_IO_INJECT_H

#include <stddef.h>
#include <stdint.h>

#include "engine/addr.h"

struct injector {
	int fd4;	/* AF_INET, IPPROTO_RAW: the header is ours */
	int fd6;	/* AF_INET6, IPPROTO_RAW; -1 when the kernel refuses */
};

/* Returns 0, or -1 with a message in @err. */
int injector_open(struct injector *in, char *err, size_t errlen);
void injector_close(struct injector *in);

/* Sends the complete IPv4 or IPv6 packet @ip. Returns 0 or -errno. */
int inject_packet(const struct injector *in, const uint8_t *ip, size_t len);

/* Sends one RFC 3948 NAT keepalive (a UDP datagram of the byte 0xFF). */
int inject_keepalive(const struct injector *in, const struct esp_addr *src,
		     const struct esp_addr *dst, uint16_t sport, uint16_t dport);

#endif
