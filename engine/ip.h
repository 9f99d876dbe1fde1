/* Bounds-checked views of IPv4 and IPv6 headers. Nothing here trusts a
 * length field: every offset is checked against the bytes actually held. */
#ifndef ESPNAT_IP_H
#define ESPNAT_IP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/addr.h"

#define IPPROTO_NUM_IPV4 4
#define IPPROTO_NUM_TCP 6
#define IPPROTO_NUM_UDP 17
#define IPPROTO_NUM_IPV6 41
#define IPPROTO_NUM_ESP 50
#define IPPROTO_NUM_NONE 59	/* IPv6 "no next header"; ESP dummy packet */

#define IPV4_HDR_LEN 20
#define IPV6_HDR_LEN 40
#define UDP_HDR_LEN 8

struct ip_view {
	uint8_t family;		/* AF_INET or AF_INET6 */
	uint8_t proto;		/* upper-layer protocol after IPv6 extension headers */
	uint8_t tclass;		/* IPv4 TOS / IPv6 traffic class */
	bool fragment;		/* any fragment (IPv4 MF/offset, IPv6 fragment header) */
	bool later_fragment;	/* fragment offset != 0: no upper-layer header here */
	uint16_t l4_off;	/* offset of the upper-layer header */
	uint16_t proto_off;	/* offset of the byte naming @proto */
	uint16_t ins_off;	/* where transport-mode ESP is inserted (RFC 4303 3.1.1) */
	uint16_t ins_proto_off;	/* the byte naming the header at @ins_off */
	uint32_t len;		/* packet length per the header, <= bytes held */
	uint16_t sport;		/* UDP/TCP ports, host order; 0 when absent */
	uint16_t dport;
	struct esp_addr src;
	struct esp_addr dst;
};

/* Parses the IP packet in @data (@caplen bytes held). Bytes beyond the
 * header's length (link-layer padding) are ignored. Returns 0, or -EBADMSG
 * when the header is truncated, inconsistent or lies about its length. */
int ip_parse(const uint8_t *data, size_t caplen, struct ip_view *v);

/* The selector-matching key of a parsed packet. */
void ip_flow(const struct ip_view *v, struct esp_flow *f);

/* The same key as words for comparing, read from the packet @data that
 * @v describes: equal keys, equal flows. Read from the packet rather than
 * from @v because a wide load of what ip_parse()'s narrow stores just
 * wrote cannot be forwarded and stalls. */
void ip_flow_key(const uint8_t *data, const struct ip_view *v, struct esp_flow_key *k);

/* Writes the total/payload length field of the header at @ip. */
void ip_set_len(uint8_t *ip, uint8_t family, uint32_t total);

static inline uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

#endif
