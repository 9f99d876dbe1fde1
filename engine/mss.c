#include "engine/mss.h"

#include "engine/csum.h"

#define TCP_HDR_LEN 20
#define TCP_SYN 0x02
#define TCPOPT_EOL 0
#define TCPOPT_NOP 1
#define TCPOPT_MSS 2

uint16_t mss_for(const struct esp_sa *sa, uint8_t inner_family, uint32_t path_mtu)
{
	const struct esp_enc_info *ei = esp_enc_info(sa->p.enc);
	const struct esp_auth_info *ai = esp_auth_info(sa->p.auth);
	uint32_t inner_ip = inner_family == AF_INET ? IPV4_HDR_LEN : IPV6_HDR_LEN;
	uint32_t outer_ip = sa->p.src.family == AF_INET ? IPV4_HDR_LEN : IPV6_HDR_LEN;
	uint32_t esp = 8 + ei->iv_len + (ei->block - 1u) + 2 + ai->icv_len +
		       (sa->p.encap ? UDP_HDR_LEN : 0);
	uint32_t need = inner_ip + TCP_HDR_LEN + esp +
			(sa->p.mode == ESP_MODE_TUNNEL ? outer_ip : 0);

	if (path_mtu <= need + 536)
		return 536;	/* RFC 879's floor */
	return (uint16_t)(path_mtu - need > 65535 ? 65535 : path_mtu - need);
}

/* RFC 1624: HC' = ~(~HC + ~m + m') for a changed 16-bit word. */
static void checksum_replace(uint8_t *csum, uint16_t old, uint16_t new)
{
	uint32_t sum = (uint16_t)~get_be16(csum);

	sum += (uint16_t)~old;
	sum += new;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	put_be16(csum, (uint16_t)~sum);
}

int mss_clamp(uint8_t *ip, const struct ip_view *v, uint16_t max)
{
	if (v->proto != IPPROTO_NUM_TCP || v->later_fragment ||
	    (uint32_t)v->l4_off + TCP_HDR_LEN > v->len)
		return 0;
	uint8_t *tcp = ip + v->l4_off;
	uint32_t hlen = (uint32_t)(tcp[12] >> 4) * 4;
	if (!(tcp[13] & TCP_SYN) || hlen < TCP_HDR_LEN || (uint32_t)v->l4_off + hlen > v->len)
		return 0;
	for (uint32_t off = TCP_HDR_LEN; off < hlen;) {
		uint8_t kind = tcp[off];
		if (kind == TCPOPT_EOL)
			break;
		if (kind == TCPOPT_NOP) {
			off++;
			continue;
		}
		if (off + 1 >= hlen || tcp[off + 1] < 2 || off + tcp[off + 1] > hlen)
			break;
		if (kind == TCPOPT_MSS && tcp[off + 1] == 4) {
			uint16_t mss = get_be16(tcp + off + 2);
			if (mss <= max)
				return 0;
			put_be16(tcp + off + 2, max);
			/* the MSS value is 16-bit aligned only when its option
			 * is; otherwise both words it touches change */
			if ((off & 1) == 0) {
				checksum_replace(tcp + 16, mss, max);
			} else {
				/* recompute: rare (no stack puts MSS at an odd offset) */
				size_t alen = v->family == AF_INET ? 4 : 16;
				put_be16(tcp + 16, 0);
				put_be16(tcp + 16, csum_l4(ip + (alen == 4 ? 12 : 8),
							   ip + (alen == 4 ? 16 : 24), alen,
							   IPPROTO_NUM_TCP, tcp, v->len - v->l4_off));
			}
			return 1;
		}
		off += tcp[off + 1];
	}
	return 0;
}
