#include "tools/io/inject.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "encap/udpencap.h"
#include "engine/csum.h"
#include "engine/ip.h"

int injector_open(struct injector *in, char *err, size_t errlen)
{
	int off = IP_PMTUDISC_DONT;

	in->fd4 = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (in->fd4 < 0) {
		snprintf(err, errlen, "raw IPv4 socket: %s", strerror(errno));
		return -1;
	}
	/* the engine clears DF where a packet grew: let the kernel fragment */
	setsockopt(in->fd4, IPPROTO_IP, IP_MTU_DISCOVER, &off, sizeof(off));
	in->fd6 = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	return 0;
}

void injector_close(struct injector *in)
{
	if (in->fd4 >= 0)
		close(in->fd4);
	if (in->fd6 >= 0)
		close(in->fd6);
	in->fd4 = in->fd6 = -1;
}

int inject_packet(const struct injector *in, const uint8_t *ip, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd;

	memset(&ss, 0, sizeof(ss));
	if (len >= IPV4_HDR_LEN && ip[0] >> 4 == 4) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, ip + 16, 4);
		sl = sizeof(*s4);
		fd = in->fd4;
	} else if (len >= IPV6_HDR_LEN && ip[0] >> 4 == 6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, ip + 24, 16);
		sl = sizeof(*s6);
		fd = in->fd6;
	} else {
		return -EINVAL;
	}
	if (fd < 0)
		return -EAFNOSUPPORT;
	if (sendto(fd, ip, len, 0, (struct sockaddr *)&ss, sl) < 0)
		return -errno;
	return 0;
}

int inject_keepalive(const struct injector *in, const struct esp_addr *src,
		     const struct esp_addr *dst, uint16_t sport, uint16_t dport)
{
	uint8_t pkt[IPV6_HDR_LEN + UDP_HDR_LEN + 1];
	size_t hl = src->family == AF_INET ? IPV4_HDR_LEN : IPV6_HDR_LEN;
	size_t len = hl + UDP_HDR_LEN + 1;

	memset(pkt, 0, sizeof(pkt));
	if (src->family == AF_INET) {
		pkt[0] = 0x45;
		put_be16(pkt + 2, (uint16_t)len);
		pkt[8] = 64;
		pkt[9] = IPPROTO_NUM_UDP;
		memcpy(pkt + 12, src->bytes, 4);
		memcpy(pkt + 16, dst->bytes, 4);
		csum_ipv4_header(pkt);
	} else {
		pkt[0] = 0x60;
		put_be16(pkt + 4, (uint16_t)(UDP_HDR_LEN + 1));
		pkt[6] = IPPROTO_NUM_UDP;
		pkt[7] = 64;
		memcpy(pkt + 8, src->bytes, 16);
		memcpy(pkt + 24, dst->bytes, 16);
	}
	uint8_t *udp = pkt + hl;
	udpencap_write_header(udp, sport, dport, UDP_HDR_LEN + 1);
	udp[UDP_HDR_LEN] = UDPENCAP_KEEPALIVE_BYTE;
	if (src->family == AF_INET6) {
		uint16_t c = csum_l4(pkt + 8, pkt + 24, 16, IPPROTO_NUM_UDP, udp,
				     UDP_HDR_LEN + 1);
		put_be16(udp + 6, c ? c : 0xffff);
	}
	return inject_packet(in, pkt, len);
}
