#include "tools/io/tun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/csum.h"
#include "engine/ip.h"
#include "tools/clock.h"

/* Room in front of a received datagram for the IP and UDP headers the
 * engine expects, which the socket API stripped. */
#define REBUILD (IPV6_HDR_LEN + UDP_HDR_LEN)

enum { SRC_TUN, SRC_UDP4, SRC_UDP6, SRC_ESP4, SRC_ESP6, SRC_STOP, NSRC };

struct tun_worker {
	struct backend_ctx ctx;
	struct esp_worker *ew;
	const struct injector *out;
	int fd[NSRC];
	uint8_t *slots;
	struct pkt pkts[BACKEND_BATCH];
	struct pkt *ptrs[BACKEND_BATCH];
	struct esp_result res[BACKEND_BATCH];
};

static int tun_device(const char *ifname, bool multi_queue, char *err,
		      size_t errlen)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0) {
		snprintf(err, errlen, "/dev/net/tun: %s", strerror(errno));
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (multi_queue ? IFF_MULTI_QUEUE : 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		snprintf(err, errlen, "TUNSETIFF %s: %s", ifname, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* The queue length also sizes the ring the TUN driver keeps per queue
 * (it follows changes), where outbound packets wait for our read(). */
static int link_up(const char *ifname, unsigned mtu, unsigned txqueuelen, char *err,
		   size_t errlen)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int ret = -1;

	if (s < 0)
		goto out;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_mtu = (int)mtu;
	if (ioctl(s, SIOCSIFMTU, &ifr) < 0)
		goto out;
	ifr.ifr_qlen = (int)txqueuelen;
	if (ioctl(s, SIOCSIFTXQLEN, &ifr) < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		goto out;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		goto out;
	ret = 0;
out:
	if (ret)
		snprintf(err, errlen, "bringing %s up: %s", ifname, strerror(errno));
	if (s >= 0)
		close(s);
	return ret;
}

/* Decapsulated packets come in through the TUN device from sources whose
 * route points elsewhere: strict reverse-path filtering would drop them. */
static void loose_rp_filter(const char *ifname)
{
	char path[128];

	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/rp_filter", ifname);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, "2", 1) != 1) {
		/* left as it was; strict filtering shows as missing packets */
	}
	close(fd);
}

/* What leaves through these sockets is already protected: bigger than the
 * link, it is fragmented, as the kernel's own IPsec fragments after ESP. */
static void allow_fragments(int fd, int family)
{
	int dont = family == AF_INET ? IP_PMTUDISC_DONT : IPV6_PMTUDISC_DONT;

	if (family == AF_INET)
		setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &dont, sizeof(dont));
	else
		setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &dont, sizeof(dont));
}

/* Room for a burst of arriving ESP while the worker is busy with the TUN
 * side: with the default (about 200 KB) a sender's burst overflows the
 * socket long before the worker is the bottleneck. FORCE needs
 * CAP_NET_ADMIN, which espnatd has; otherwise the sysctl's cap applies. */
static void large_receive_buffer(int fd)
{
	int size = 16 << 20;

	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
}

static int udp_socket(int family, char *err, size_t errlen)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;

	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	allow_fragments(fd, family);
	large_receive_buffer(fd);
	if (family == AF_INET) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(4500) };
		setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
			goto fail;
	} else {
		struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(4500) };
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
			goto fail;
	}
	return fd;
fail:
	snprintf(err, errlen, "UDP port 4500 (%s): %s",
		 family == AF_INET ? "IPv4" : "IPv6", strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

static int esp_socket(int family)
{
	int fd = socket(family, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_ESP);
	int one = 1;

	if (fd < 0)
		return -1;
	allow_fragments(fd, family);
	large_receive_buffer(fd);
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
	return fd;
}

struct tun_worker *tun_open(const struct backend_ctx *ctx, const char *ifname,
			    unsigned mtu, unsigned txqueuelen, bool multi_queue,
			    const struct injector *out, char *err, size_t errlen)
{
	struct tun_worker *w = calloc(1, sizeof(*w));

	if (!w || !(w->slots = malloc((size_t)BACKEND_BATCH * BACKEND_SLOT))) {
		snprintf(err, errlen, "out of memory");
		free(w);
		return NULL;
	}
	for (int i = 0; i < NSRC; i++)
		w->fd[i] = -1;
	w->ctx = *ctx;
	w->out = out;
	w->ew = esp_worker_new(ctx->engine);
	if (!w->ew) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	const char *why;
	if (esp_worker_set_backend(w->ew, ctx->crypto, &why)) {
		snprintf(err, errlen, "%s", why);
		goto fail;
	}
	if ((w->fd[SRC_TUN] = tun_device(ifname, multi_queue, err, errlen)) < 0 ||
	    link_up(ifname, mtu, txqueuelen, err, errlen) ||
	    (w->fd[SRC_UDP4] = udp_socket(AF_INET, err, errlen)) < 0)
		goto fail;
	loose_rp_filter(ifname);
	/* IPv6 and plain ESP are there when the kernel allows them */
	w->fd[SRC_UDP6] = udp_socket(AF_INET6, err, errlen);
	w->fd[SRC_ESP4] = esp_socket(AF_INET);
	w->fd[SRC_ESP6] = esp_socket(AF_INET6);
	w->fd[SRC_STOP] = ctx->stop_fd;
	err[0] = '\0';
	return w;
fail:
	tun_close(w);
	return NULL;
}

void tun_close(struct tun_worker *w)
{
	if (!w)
		return;
	for (int i = 0; i < SRC_STOP; i++)
		if (w->fd[i] >= 0)
			close(w->fd[i]);
	free(w->slots);
	free(w);
}

static uint8_t *slot(struct tun_worker *w, unsigned i)
{
	return w->slots + (size_t)i * BACKEND_SLOT;
}

/* The kernel's own chatter on the device (IPv6 router solicitations,
 * multicast listener reports) is no traffic of ours to protect. */
static bool multicast(const uint8_t *ip, size_t len)
{
	if (len >= IPV6_HDR_LEN && ip[0] >> 4 == 6)
		return ip[24] == 0xff;
	return len >= IPV4_HDR_LEN && (ip[16] & 0xf0) == 0xe0;
}

/* One protected packet as a socket message: the outer header becomes
 * the destination, IP_PKTINFO (our source) and the TOS. */
struct out_msg {
	struct sockaddr_storage to;
	socklen_t namelen;
	size_t controllen;
	struct iovec iov;
	/* last: to clang, CMSG_SPACE() does not make a constant size */
	union {
		struct cmsghdr align;
		uint8_t buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(int))];
	} cbuf;
};

/* What the engine protected goes out as ESP-in-UDP from our port 4500
 * through the UDP socket, or plain ESP through the raw ESP socket, each
 * with the engine's outer source address and TOS, so that the kernel
 * builds the outer header and fragments it when it exceeds the link MTU.
 * Fills @o and returns the socket; -1 (@o untouched) for anything
 * else (an IPv6 outer header with extension headers), which the caller
 * sends whole through the raw injector. */
static int prepare_send(struct tun_worker *w, const uint8_t *ip, uint32_t len,
			struct out_msg *o)
{
	struct msghdr h, *mh = &h;	/* for the CMSG_ macros */

	bool v4 = len >= IPV4_HDR_LEN && ip[0] >> 4 == 4;
	uint32_t hl = v4 ? (uint32_t)(ip[0] & 0x0f) * 4 : IPV6_HDR_LEN;
	uint8_t proto = v4 ? ip[9] : len >= IPV6_HDR_LEN ? ip[6] : 0;
	int tos = v4 ? ip[1] : (ip[0] & 0x0f) << 4 | ip[1] >> 4;
	int fd = -1;
	uint32_t skip = hl;
	uint16_t port = 0;

	if (proto == IPPROTO_NUM_UDP && len >= hl + UDP_HDR_LEN && get_be16(ip + hl) == 4500) {
		fd = w->fd[v4 ? SRC_UDP4 : SRC_UDP6];
		port = get_be16(ip + hl + 2);
		skip = hl + UDP_HDR_LEN;
	} else if (proto == IPPROTO_NUM_ESP && len > hl) {
		fd = w->fd[v4 ? SRC_ESP4 : SRC_ESP6];
	}
	if (fd < 0 || len < hl)
		return -1;
	memset(o, 0, sizeof(*o));
	*mh = (struct msghdr){ .msg_name = &o->to, .msg_control = o->cbuf.buf,
			       .msg_controllen = sizeof(o->cbuf.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(mh);
	if (v4) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&o->to;
		struct in_pktinfo pi = { 0 };
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		memcpy(&s4->sin_addr, ip + 16, 4);
		mh->msg_namelen = sizeof(*s4);
		memcpy(&pi.ipi_spec_dst, ip + 12, 4);
		*c = (struct cmsghdr){ .cmsg_level = IPPROTO_IP, .cmsg_type = IP_PKTINFO,
				       .cmsg_len = CMSG_LEN(sizeof(pi)) };
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		c = CMSG_NXTHDR(mh, c);
		*c = (struct cmsghdr){ .cmsg_level = IPPROTO_IP, .cmsg_type = IP_TOS,
				       .cmsg_len = CMSG_LEN(sizeof(int)) };
		mh->msg_controllen = CMSG_SPACE(sizeof(pi)) + CMSG_SPACE(sizeof(int));
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&o->to;
		struct in6_pktinfo pi = { 0 };
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		memcpy(&s6->sin6_addr, ip + 24, 16);
		mh->msg_namelen = sizeof(*s6);
		memcpy(&pi.ipi6_addr, ip + 8, 16);
		*c = (struct cmsghdr){ .cmsg_level = IPPROTO_IPV6, .cmsg_type = IPV6_PKTINFO,
				       .cmsg_len = CMSG_LEN(sizeof(pi)) };
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		c = CMSG_NXTHDR(mh, c);
		*c = (struct cmsghdr){ .cmsg_level = IPPROTO_IPV6, .cmsg_type = IPV6_TCLASS,
				       .cmsg_len = CMSG_LEN(sizeof(int)) };
		mh->msg_controllen = CMSG_SPACE(sizeof(pi)) + CMSG_SPACE(sizeof(int));
	}
	memcpy(CMSG_DATA(c), &tos, sizeof(tos));
	o->iov = (struct iovec){ (void *)(ip + skip), len - skip };
	o->namelen = mh->msg_namelen;
	o->controllen = mh->msg_controllen;
	return fd;
}

/* @n messages for one socket in as few calls as it takes. A message the
 * socket refuses (a full buffer) is dropped, as a full device queue would
 * drop it, and the rest still go; every call moves at least one on. */
static void send_run(int fd, struct out_msg *o, unsigned n)
{
	struct mmsghdr m[BACKEND_BATCH];
	unsigned done = 0;

	for (unsigned i = 0; i < n; i++)
		m[i] = (struct mmsghdr){ .msg_hdr = {
			.msg_name = &o[i].to, .msg_namelen = o[i].namelen,
			.msg_iov = &o[i].iov, .msg_iovlen = 1,
			.msg_control = o[i].cbuf.buf, .msg_controllen = o[i].controllen } };
	while (done < n) {
		int r = sendmmsg(fd, m + done, n - done, MSG_DONTWAIT);
		if (r > 0)
			done += (unsigned)r;	/* a short count: the next call says why */
		else
			done++;		/* m[done] refused: dropped */
	}
}

/* Sends a burst's protected packets: the ones for one socket in a row go
 * in one sendmmsg() call (a burst is usually a single row), so that the
 * system call is paid per burst rather than per packet. */
static void send_protected(struct tun_worker *w, unsigned n)
{
	struct out_msg o[BACKEND_BATCH];
	unsigned run = 0;
	int run_fd = -1;

	for (unsigned i = 0; i < n; i++) {
		if (w->res[i].verdict != ESP_VERDICT_ENCAP)
			continue;
		const uint8_t *ip = pkt_data(&w->pkts[i]);
		uint32_t len = w->pkts[i].len;
		int fd = prepare_send(w, ip, len, &o[run]);
		if (run && fd != run_fd) {
			send_run(run_fd, o, run);
			if (fd >= 0)
				o[0] = o[run];	/* starts the next row */
			run = 0;
		}
		if (fd < 0) {
			inject_packet(w->out, ip, len);
			continue;
		}
		run_fd = fd;
		run++;
	}
	if (run)
		send_run(run_fd, o, run);
}

/* Outbound: what the routes sent into the device is protected and sent. */
static void from_tun(struct tun_worker *w)
{
	unsigned n = 0;

	while (n < BACKEND_BATCH) {
		uint8_t *data = slot(w, n) + PKT_HEADROOM;
		ssize_t r = read(w->fd[SRC_TUN], data, 65535);
		if (r <= 0)
			break;
		if (multicast(data, (size_t)r))
			continue;
		w->pkts[n] = (struct pkt){ slot(w, n), BACKEND_SLOT, PKT_HEADROOM, (uint32_t)r };
		w->ptrs[n] = &w->pkts[n];
		n++;
	}
	if (n == 0)
		return;
	esp_worker_set_time(w->ew, monotonic_ms());
	esp_process_burst(w->ew, w->ptrs, n, ESP_HINT_PROTECT, w->res);
	send_protected(w, n);
}

/* Writes the IP (and UDP) header the socket took off, in front of @payload,
 * from the addresses recvmsg reported. Returns the header length. */
static uint32_t rebuild(uint8_t *payload, uint32_t len, int family,
			const void *src, const void *dst, uint16_t sport,
			uint16_t dport, uint8_t proto)
{
	uint32_t l4 = proto == IPPROTO_NUM_UDP ? UDP_HDR_LEN : 0;
	uint32_t hl = (family == AF_INET ? IPV4_HDR_LEN : IPV6_HDR_LEN) + l4;
	uint8_t *ip = payload - hl;

	memset(ip, 0, hl);
	if (family == AF_INET) {
		ip[0] = 0x45;
		put_be16(ip + 2, (uint16_t)(hl + len));
		ip[8] = 64;
		ip[9] = proto;
		memcpy(ip + 12, src, 4);
		memcpy(ip + 16, dst, 4);
		csum_ipv4_header(ip);
	} else {
		ip[0] = 0x60;
		put_be16(ip + 4, (uint16_t)(l4 + len));
		ip[6] = proto;
		ip[7] = 64;
		memcpy(ip + 8, src, 16);
		memcpy(ip + 24, dst, 16);
	}
	if (l4) {
		uint8_t *udp = payload - UDP_HDR_LEN;
		put_be16(udp, sport);
		put_be16(udp + 2, dport);
		put_be16(udp + 4, (uint16_t)(UDP_HDR_LEN + len));
	}
	return hl;
}

/* The destination address from IP_PKTINFO / IPV6_PKTINFO. */
static bool local_address(struct msghdr *mh, int family, void *dst)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (family == AF_INET && c->cmsg_level == IPPROTO_IP &&
		    c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			memcpy(dst, &pi.ipi_addr, 4);
			return true;
		}
		if (family == AF_INET6 && c->cmsg_level == IPPROTO_IPV6 &&
		    c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			memcpy(dst, &pi.ipi6_addr, 16);
			return true;
		}
	}
	return false;
}

/* Inbound: ESP-in-UDP or ESP from a socket, unprotected into the device. */
static void from_socket(struct tun_worker *w, int src)
{
	struct mmsghdr msgs[BACKEND_BATCH];
	struct iovec iov[BACKEND_BATCH];
	struct sockaddr_storage from[BACKEND_BATCH];
	uint8_t cbuf[BACKEND_BATCH][64];
	int family = src == SRC_UDP4 || src == SRC_ESP4 ? AF_INET : AF_INET6;
	bool udp = src == SRC_UDP4 || src == SRC_UDP6;
	/* IPv4 raw sockets hand over the IP header; the others do not */
	bool whole = src == SRC_ESP4;
	uint32_t at = PKT_HEADROOM + (whole ? 0 : REBUILD);

	for (unsigned i = 0; i < BACKEND_BATCH; i++) {
		iov[i] = (struct iovec){ slot(w, i) + at, 65535 };
		msgs[i] = (struct mmsghdr){ .msg_hdr = {
			.msg_name = &from[i], .msg_namelen = sizeof(from[i]),
			.msg_iov = &iov[i], .msg_iovlen = 1,
			.msg_control = cbuf[i], .msg_controllen = sizeof(cbuf[i]) } };
	}
	int got = recvmmsg(w->fd[src], msgs, BACKEND_BATCH, MSG_DONTWAIT, NULL);
	if (got <= 0)
		return;
	unsigned n = 0;
	for (int i = 0; i < got; i++) {
		uint8_t *payload = slot(w, (unsigned)i) + at;
		uint32_t len = msgs[i].msg_len, hl = 0;
		if (!whole) {
			uint8_t dst[16];
			if (!local_address(&msgs[i].msg_hdr, family, dst))
				continue;
			const void *sa = family == AF_INET ?
				(const void *)&((struct sockaddr_in *)&from[i])->sin_addr :
				(const void *)&((struct sockaddr_in6 *)&from[i])->sin6_addr;
			uint16_t sport = family == AF_INET ?
				ntohs(((struct sockaddr_in *)&from[i])->sin_port) :
				ntohs(((struct sockaddr_in6 *)&from[i])->sin6_port);
			hl = rebuild(payload, len, family, sa, dst, sport, 4500,
				     udp ? IPPROTO_NUM_UDP : IPPROTO_NUM_ESP);
		}
		w->pkts[n] = (struct pkt){ slot(w, (unsigned)i), BACKEND_SLOT, at - hl, len + hl };
		w->ptrs[n] = &w->pkts[n];
		n++;
	}
	if (n == 0)
		return;
	esp_worker_set_time(w->ew, monotonic_ms());
	esp_process_burst(w->ew, w->ptrs, n, ESP_HINT_INBOUND, w->res);
	for (unsigned i = 0; i < n; i++) {
		if (w->res[i].verdict != ESP_VERDICT_DECAP)
			continue;
		if (w->ctx.tap)
			w->ctx.tap(w->ctx.tap_arg, pkt_data(&w->pkts[i]), w->pkts[i].len);
		if (write(w->fd[SRC_TUN], pkt_data(&w->pkts[i]), w->pkts[i].len) < 0) {
			/* a full device queue drops, as the kernel would */
		}
	}
}

void *tun_run(void *arg)
{
	struct tun_worker *w = arg;
	struct pollfd pfd[NSRC];

	for (int i = 0; i < NSRC; i++)
		pfd[i] = (struct pollfd){ .fd = w->fd[i], .events = POLLIN };
	for (;;) {
		if (poll(pfd, NSRC, -1) < 0 && errno != EINTR)
			break;
		if (pfd[SRC_STOP].revents)
			break;
		if (pfd[SRC_TUN].revents & POLLIN)
			from_tun(w);
		for (int s = SRC_UDP4; s <= SRC_ESP6; s++)
			if (pfd[s].revents & POLLIN)
				from_socket(w, s);
	}
	return NULL;
}
