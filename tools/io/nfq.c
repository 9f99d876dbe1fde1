#include "tools/io/nfq.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink_queue.h>

#include "tools/clock.h"

#define QUEUE_MAXLEN 8192
#define RCVBUF (16 << 20)

struct nfqueue_worker {
	struct backend_ctx ctx;
	struct esp_worker *ew;
	struct mnl_socket *nl;
	unsigned portid;
	uint16_t queue;
	uint8_t *slots;			/* BACKEND_BATCH receive slots */
	struct pkt pkts[BACKEND_BATCH];
	struct pkt *ptrs[BACKEND_BATCH];
	struct esp_result res[BACKEND_BATCH];
	uint32_t ids[BACKEND_BATCH];
	uint8_t hooks[BACKEND_BATCH];
	uint8_t in_version[BACKEND_BATCH];
	/* verdict headers: nlmsghdr, nfgenmsg, verdict, payload attr */
	uint8_t vhdr[BACKEND_BATCH][MNL_ALIGN(sizeof(struct nlmsghdr)) + 64];
};

/* Sends one configuration message and waits for the kernel's answer. */
static int config_msg(struct nfqueue_worker *w, struct nlmsghdr *nlh, char *err,
		      size_t errlen, const char *what)
{
	char buf[8192];

	nlh->nlmsg_flags |= NLM_F_ACK;
	if (mnl_socket_sendto(w->nl, nlh, nlh->nlmsg_len) < 0) {
		snprintf(err, errlen, "%s: %s", what, strerror(errno));
		return -1;
	}
	ssize_t n = mnl_socket_recvfrom(w->nl, buf, sizeof(buf));
	if (n < 0 || mnl_cb_run(buf, (size_t)n, 0, w->portid, NULL, NULL) < 0) {
		snprintf(err, errlen, "%s: %s", what, strerror(errno));
		return -1;
	}
	return 0;
}

struct nfqueue_worker *nfqueue_open(const struct backend_ctx *ctx, uint16_t queue,
			    char *err, size_t errlen)
{
	/* zeroed: attributes are padded to 4 bytes and libmnl leaves the
	 * padding as it finds it, which would go to the kernel */
	char buf[8192] = { 0 };
	struct nfqueue_worker *w = calloc(1, sizeof(*w));

	if (!w || !(w->slots = malloc((size_t)BACKEND_BATCH * BACKEND_SLOT))) {
		snprintf(err, errlen, "out of memory");
		free(w);
		return NULL;
	}
	w->ctx = *ctx;
	w->queue = queue;
	w->ew = esp_worker_new(ctx->engine);
	const char *why;
	if (w->ew && esp_worker_set_backend(w->ew, ctx->crypto, &why)) {
		snprintf(err, errlen, "%s", why);
		nfqueue_close(w);
		return NULL;
	}
	w->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!w->ew || !w->nl || mnl_socket_bind(w->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		snprintf(err, errlen, "netlink: %s", strerror(errno));
		nfqueue_close(w);
		return NULL;
	}
	w->portid = mnl_socket_get_portid(w->nl);

	/* Overload must show as the kernel queue's drops (counted), never
	 * as the socket failing: a large buffer and no ENOBUFS. */
	int one = 1, rcvbuf = RCVBUF;
	setsockopt(mnl_socket_get_fd(w->nl), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
		   sizeof(rcvbuf));
	mnl_socket_setsockopt(w->nl, NETLINK_NO_ENOBUFS, &one, sizeof(one));

	struct nlmsghdr *nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, queue);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
	if (config_msg(w, nlh, err, errlen, "binding the queue"))
		goto fail;
	/* Whole packets. No NFQA_CFG_F_GSO: locally made packets then come
	 * with their checksums computed (and segmented), which ESP needs
	 * before it encrypts them. No fail-open: a full queue drops. */
	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, queue);
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, 0xffff);
	nfq_nlmsg_cfg_put_qmaxlen(nlh, QUEUE_MAXLEN);
	if (config_msg(w, nlh, err, errlen, "configuring the queue"))
		goto fail;
	return w;
fail:
	nfqueue_close(w);
	return NULL;
}

void nfqueue_close(struct nfqueue_worker *w)
{
	if (!w)
		return;
	if (w->nl)
		mnl_socket_close(w->nl);
	free(w->slots);
	free(w);
}

static uint8_t *slot(struct nfqueue_worker *w, unsigned i)
{
	return w->slots + (size_t)i * BACKEND_SLOT;
}

/* Finds the packet in a queue message received into slot @i. The netlink
 * headers in front of the payload were read already: the packet may grow
 * into them (and the slot's reserve), so no copy is made. */
static int parse_packet(struct nfqueue_worker *w, unsigned i, size_t len)
{
	uint8_t *base = slot(w, i) + PKT_HEADROOM;
	struct nlmsghdr *nlh = (struct nlmsghdr *)base;
	struct nlattr *attr[NFQA_MAX + 1] = { NULL };

	if (!mnl_nlmsg_ok(nlh, (int)len) ||
	    NFNL_MSG_TYPE(nlh->nlmsg_type) != NFQNL_MSG_PACKET ||
	    nfq_nlmsg_parse(nlh, attr) < 0 || !attr[NFQA_PACKET_HDR] ||
	    !attr[NFQA_PAYLOAD])
		return -1;
	struct nfqnl_msg_packet_hdr *ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	uint8_t *data = mnl_attr_get_payload(attr[NFQA_PAYLOAD]);
	uint16_t plen = mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]);

	w->ids[i] = ntohl(ph->packet_id);
	w->hooks[i] = ph->hook;
	w->in_version[i] = plen ? data[0] >> 4 : 0;
	w->pkts[i].buf = slot(w, i);
	w->pkts[i].cap = BACKEND_SLOT;
	w->pkts[i].off = (uint32_t)(data - slot(w, i));
	w->pkts[i].len = plen;
	return 0;
}

/* One verdict message; its payload, when there is one, is a separate iovec
 * pointing at the packet itself. Returns the iovecs used. */
static int put_verdict(struct nfqueue_worker *w, unsigned i, struct iovec *iov)
{
	static const uint8_t pad[4];
	struct nlmsghdr *nlh = nfq_nlmsg_put((char *)w->vhdr[i], NFQNL_MSG_VERDICT,
					     w->queue);
	enum esp_verdict v = w->res[i].verdict;
	const struct pkt *p = &w->pkts[i];
	bool rewritten = v == ESP_VERDICT_ENCAP || v == ESP_VERDICT_DECAP;

	/* the kernel keeps the packet's protocol: a tunnel that changed the
	 * IP version cannot be re-injected here */
	if (rewritten && p->len && (pkt_data(p)[0] >> 4) != w->in_version[i]) {
		rewritten = false;
		v = ESP_VERDICT_DROP;
	}
	bool accept = v == ESP_VERDICT_PASS || rewritten;
	nfq_nlmsg_verdict_put(nlh, (int)w->ids[i], accept ? NF_ACCEPT : NF_DROP);
	if (!rewritten) {
		iov[0] = (struct iovec){ nlh, nlh->nlmsg_len };
		return 1;
	}
	struct nlattr *a = (struct nlattr *)((uint8_t *)nlh + MNL_ALIGN(nlh->nlmsg_len));
	a->nla_type = NFQA_PAYLOAD;
	a->nla_len = (uint16_t)(MNL_ATTR_HDRLEN + p->len);
	nlh->nlmsg_len = MNL_ALIGN(nlh->nlmsg_len) + MNL_ATTR_HDRLEN;
	uint32_t padded = MNL_ALIGN(p->len);
	iov[0] = (struct iovec){ nlh, nlh->nlmsg_len };
	iov[1] = (struct iovec){ pkt_data(p), p->len };
	iov[2] = (struct iovec){ (void *)pad, padded - p->len };
	nlh->nlmsg_len += padded;
	return 3;
}

static int send_verdicts(struct nfqueue_worker *w, unsigned n)
{
	struct iovec iov[3 * BACKEND_BATCH];
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	int niov = 0;

	for (unsigned i = 0; i < n; i++)
		niov += put_verdict(w, i, &iov[niov]);
	struct msghdr msg = {
		.msg_name = &kernel,
		.msg_namelen = sizeof(kernel),
		.msg_iov = iov,
		.msg_iovlen = (size_t)niov,
	};
	return sendmsg(mnl_socket_get_fd(w->nl), &msg, 0) < 0 ? -1 : 0;
}

static void tap_decrypted(struct nfqueue_worker *w, unsigned n)
{
	if (!w->ctx.tap)
		return;
	for (unsigned i = 0; i < n; i++)
		if (w->res[i].verdict == ESP_VERDICT_DECAP)
			w->ctx.tap(w->ctx.tap_arg, pkt_data(&w->pkts[i]), w->pkts[i].len);
}

/* Packets from the inbound hook are unprotected; from the outbound hook
 * they come from a protected port and must be protected. */
static void process(struct nfqueue_worker *w, unsigned n)
{
	unsigned in = 0, out = 0;
	struct pkt *inb[BACKEND_BATCH], *outb[BACKEND_BATCH];
	unsigned in_idx[BACKEND_BATCH], out_idx[BACKEND_BATCH];
	struct esp_result r[BACKEND_BATCH];

	for (unsigned i = 0; i < n; i++) {
		if (w->hooks[i] == NF_INET_PRE_ROUTING || w->hooks[i] == NF_INET_LOCAL_IN) {
			in_idx[in] = i;
			inb[in++] = &w->pkts[i];
		} else {
			out_idx[out] = i;
			outb[out++] = &w->pkts[i];
		}
	}
	esp_worker_set_time(w->ew, monotonic_ms());
	if (in) {
		esp_process_burst(w->ew, inb, in, ESP_HINT_INBOUND, r);
		for (unsigned k = 0; k < in; k++)
			w->res[in_idx[k]] = r[k];
	}
	if (out) {
		esp_process_burst(w->ew, outb, out, ESP_HINT_PROTECT, r);
		for (unsigned k = 0; k < out; k++)
			w->res[out_idx[k]] = r[k];
	}
}

void *nfqueue_run(void *arg)
{
	struct nfqueue_worker *w = arg;
	int fd = mnl_socket_get_fd(w->nl);
	struct mmsghdr msgs[BACKEND_BATCH];
	struct iovec iov[BACKEND_BATCH];
	struct pollfd pfd[2] = {
		{ .fd = fd, .events = POLLIN },
		{ .fd = w->ctx.stop_fd, .events = POLLIN },
	};

	for (;;) {
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		if (!(pfd[0].revents & POLLIN))
			continue;
		for (unsigned i = 0; i < BACKEND_BATCH; i++) {
			iov[i] = (struct iovec){ slot(w, i) + PKT_HEADROOM,
						 BACKEND_SLOT - PKT_HEADROOM - PKT_TAILROOM };
			msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
		}
		int got = recvmmsg(fd, msgs, BACKEND_BATCH, MSG_DONTWAIT, NULL);
		if (got <= 0)
			continue;
		/* keep the packets in slot order; a message that is not a packet
		 * gets no verdict (there is nothing to decide) */
		unsigned n = 0;
		for (int i = 0; i < got; i++) {
			if (i != (int)n)
				memmove(slot(w, n) + PKT_HEADROOM, slot(w, (unsigned)i) + PKT_HEADROOM,
					msgs[i].msg_len);
			if (parse_packet(w, n, msgs[i].msg_len) == 0)
				n++;
		}
		if (n == 0)
			continue;
		process(w, n);
		tap_decrypted(w, n);
		send_verdicts(w, n);
	}
	return NULL;
}

int nfqueue_kernel_drops(uint16_t queue, uint64_t *queue_dropped,
		     uint64_t *user_dropped)
{
	FILE *f = fopen("/proc/net/netfilter/nfnetlink_queue", "r");
	unsigned q, portid, total, mode, range;
	unsigned long long qd, ud, seq;
	int found = -1;

	if (!f)
		return -1;
	while (fscanf(f, "%u %u %u %u %u %llu %llu %llu %*u", &q, &portid, &total,
		      &mode, &range, &qd, &ud, &seq) == 8) {
		if (q == queue) {
			*queue_dropped = qd;
			*user_dropped = ud;
			found = 0;
		}
	}
	fclose(f);
	return found;
}
