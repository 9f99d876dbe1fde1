#include "engine/ip.h"

#include <errno.h>
#include <string.h>

#define IPV6_EXT_HOP 0
#define IPV6_EXT_ROUTING 43
#define IPV6_EXT_FRAGMENT 44
#define IPV6_EXT_DSTOPTS 60

static void read_ports(const uint8_t *data, struct ip_view *v)
{
	v->sport = v->dport = 0;
	if (v->later_fragment)
		return;
	if (v->proto != IPPROTO_NUM_UDP && v->proto != IPPROTO_NUM_TCP)
		return;
	v->sport = get_be16(data + v->l4_off);
	v->dport = get_be16(data + v->l4_off + 2);
}

/* A first fragment or an unfragmented packet must hold the whole UDP header
 * or the TCP ports; anything shorter is malformed, not "portless". */
static int check_l4(const struct ip_view *v)
{
	uint32_t need = 0;

	if (v->later_fragment)
		return 0;
	if (v->proto == IPPROTO_NUM_UDP)
		need = UDP_HDR_LEN;
	else if (v->proto == IPPROTO_NUM_TCP)
		need = 4;
	return (uint32_t)v->l4_off + need <= v->len ? 0 : -EBADMSG;
}

static int parse_ipv4(const uint8_t *d, size_t caplen, struct ip_view *v)
{
	if (caplen < IPV4_HDR_LEN)
		return -EBADMSG;
	uint32_t ihl = (uint32_t)(d[0] & 0x0f) * 4;
	uint32_t tot = get_be16(d + 2);
	if (ihl < IPV4_HDR_LEN || tot < ihl || tot > caplen)
		return -EBADMSG;

	uint16_t frag = get_be16(d + 6);
	v->family = AF_INET;
	v->tclass = d[1];
	v->proto = d[9];
	v->len = tot;
	v->l4_off = v->ins_off = (uint16_t)ihl;
	v->proto_off = v->ins_proto_off = 9;
	v->fragment = (frag & 0x3fff) != 0;	/* MF or offset */
	v->later_fragment = (frag & 0x1fff) != 0;
	esp_addr_set(&v->src, AF_INET, d + 12);
	esp_addr_set(&v->dst, AF_INET, d + 16);
	return 0;
}

/* Walks the extension headers. Transport-mode ESP goes after the headers
 * routers act on (hop-by-hop, routing, and destination options that precede
 * a routing header); later destination options end up inside ESP. */
static int parse_ipv6(const uint8_t *d, size_t caplen, struct ip_view *v)
{
	if (caplen < IPV6_HDR_LEN || (d[0] >> 4) != 6)
		return -EBADMSG;
	uint32_t plen = get_be16(d + 4);
	if (plen == 0 || IPV6_HDR_LEN + plen > caplen)
		return -EBADMSG;	/* jumbograms are not supported */

	v->family = AF_INET6;
	v->tclass = (uint8_t)(((d[0] & 0x0f) << 4) | (d[1] >> 4));
	v->len = IPV6_HDR_LEN + plen;
	v->fragment = v->later_fragment = false;
	esp_addr_set(&v->src, AF_INET6, d + 8);
	esp_addr_set(&v->dst, AF_INET6, d + 24);

	uint32_t off = IPV6_HDR_LEN, nh_off = 6;
	uint8_t nh = d[6];
	bool ins_fixed = false;
	v->ins_off = (uint16_t)off;
	v->ins_proto_off = (uint16_t)nh_off;

	for (;;) {
		uint32_t hlen;

		if (nh != IPV6_EXT_HOP && nh != IPV6_EXT_ROUTING &&
		    nh != IPV6_EXT_DSTOPTS && nh != IPV6_EXT_FRAGMENT)
			break;
		if (off + 8 > v->len)
			return -EBADMSG;
		if (nh == IPV6_EXT_FRAGMENT) {
			uint16_t fo = get_be16(d + off + 2);
			v->fragment = true;
			v->later_fragment = (fo & 0xfff8) != 0;
			hlen = 8;
		} else {
			hlen = ((uint32_t)d[off + 1] + 1) * 8;
		}
		if (off + hlen > v->len)
			return -EBADMSG;
		if (!ins_fixed) {
			bool before = nh == IPV6_EXT_HOP || nh == IPV6_EXT_ROUTING ||
				      (nh == IPV6_EXT_DSTOPTS &&
				       d[off] == IPV6_EXT_ROUTING);
			if (before) {
				v->ins_off = (uint16_t)(off + hlen);
				v->ins_proto_off = (uint16_t)off;
			} else {
				ins_fixed = true;
			}
		}
		nh_off = off;
		nh = d[off];
		off += hlen;
		if (v->later_fragment)
			break;
	}
	v->proto = nh;
	v->l4_off = (uint16_t)off;
	v->proto_off = (uint16_t)nh_off;
	return 0;
}

int ip_parse(const uint8_t *data, size_t caplen, struct ip_view *v)
{
	int err;

	memset(v, 0, sizeof(*v));
	if (caplen < 1)
		return -EBADMSG;
	switch (data[0] >> 4) {
	case 4:
		err = parse_ipv4(data, caplen, v);
		break;
	case 6:
		err = parse_ipv6(data, caplen, v);
		break;
	default:
		return -EBADMSG;
	}
	if (err)
		return err;
	if (check_l4(v))
		return -EBADMSG;
	read_ports(data, v);
	return 0;
}

void ip_flow(const struct ip_view *v, struct esp_flow *f)
{
	esp_addr_copy(&f->src, &v->src);
	esp_addr_copy(&f->dst, &v->dst);
	f->proto = v->proto;
	f->sport = v->sport;
	f->dport = v->dport;
}

void ip_flow_key(const uint8_t *data, const struct ip_view *v, struct esp_flow_key *k)
{
	if (v->family == AF_INET) {
		memcpy(&k->w[0], data + 12, 8);		/* source, destination */
		k->w[1] = k->w[2] = k->w[3] = 0;
	} else {
		memcpy(k->w, data + 8, 32);
	}
	k->w[4] = (uint64_t)v->family << 40 | (uint64_t)v->proto << 32 |
		  (uint32_t)v->sport << 16 | v->dport;
}

void ip_set_len(uint8_t *ip, uint8_t family, uint32_t total)
{
	if (family == AF_INET)
		put_be16(ip + 2, (uint16_t)total);
	else
		put_be16(ip + 4, (uint16_t)(total - IPV6_HDR_LEN));
}
