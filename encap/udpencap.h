/* RFC 3948 framing: what arrives on UDP port 4500, and the UDP header that
 * carries ESP. */
#ifndef ESPNAT_UDPENCAP_H
#define ESPNAT_UDPENCAP_H

#include <stddef.h>
#include <stdint.h>

enum udpencap_kind {
	UDPENCAP_KEEPALIVE,	/* one 0xFF byte (RFC 3948 2.3) */
	UDPENCAP_IKE,		/* non-ESP marker: four zero bytes (2.2) */
	UDPENCAP_ESP,		/* a non-zero SPI and room for a sequence number */
	UDPENCAP_INVALID,
};

/* Classifies the @len payload bytes of a datagram to port 4500. */
enum udpencap_kind udpencap_classify(const uint8_t *payload, size_t len);

/* Writes a UDP header for @len bytes including itself. The checksum is
 * left 0, as RFC 3948 3.1.1 has senders do over IPv4; IPv6 callers fill it
 * in afterwards (RFC 8200 8.1). */
void udpencap_write_header(uint8_t *udp, uint16_t sport, uint16_t dport,
			   uint16_t len);

#define UDPENCAP_KEEPALIVE_BYTE 0xff

#endif
