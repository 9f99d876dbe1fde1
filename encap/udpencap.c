#include "encap/udpencap.h"

#include "engine/ip.h"

enum udpencap_kind udpencap_classify(const uint8_t *payload, size_t len)
{
	if (len == 1)
		return payload[0] == UDPENCAP_KEEPALIVE_BYTE ? UDPENCAP_KEEPALIVE :
							       UDPENCAP_INVALID;
	if (len < 4)
		return UDPENCAP_INVALID;
	if (get_be32(payload) == 0)
		return UDPENCAP_IKE;
	/* SPI and sequence number at least; the ESP layer checks the rest */
	return len >= 8 ? UDPENCAP_ESP : UDPENCAP_INVALID;
}

void udpencap_write_header(uint8_t *udp, uint16_t sport, uint16_t dport,
			   uint16_t len)
{
	put_be16(udp, sport);
	put_be16(udp + 2, dport);
	put_be16(udp + 4, len);
	put_be16(udp + 6, 0);
}
