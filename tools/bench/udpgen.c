/* espnat-udpgen: the UDP sender and counter of the end-to-end benchmark
 * (tools/bench/espnat-e2e).
 *
 * iperf3 sends one datagram per system call; on a 2-vCPU machine that
 * shares its cores with both ESP daemons and the NAT, it ran out of CPU
 * before espnatd did. This sender hands the kernel up to --batch datagrams
 * per sendmmsg(), paced to --rate or flat out, and the counter takes them
 * with recvmmsg(). Every datagram carries a run tag, a sequence number and
 * its own length, and a payload derived from the sequence number, so that
 * the counter tells delivered datagrams from duplicated, reordered,
 * corrupted (a decryption or framing fault on the way) and foreign ones.
 *
 *   espnat-udpgen send DST:PORT --from ADDR[:PORT] --length N [--rate PPS] ...
 *   espnat-udpgen recv ADDR:PORT --tag HEX [--timeout S] ...
 *
 * Both print one JSON object on stdout when they end: the sender after
 * --duration seconds, the counter on SIGTERM/SIGINT or after --timeout. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tools/clock.h"

#define MAGIC 0x45554450u		/* "EUDP" */
#define HDR_LEN 24			/* magic, tag, sequence, length */
#define MAX_LEN 8972			/* a 9000-byte MTU's UDP payload over IPv4 */
#define SLOT_LEN 9216			/* > MAX_LEN: a longer datagram shows as truncated */
#define MAX_BATCH 256
#define MAX_SEQ (1u << 28)		/* bitmap bound: 32 MiB, ~25 min at 180 kpps */

/* byte i of datagram seq is (seq + i) mod 256: pattern[(seq & 255) + i] */
static uint8_t pattern[256 + MAX_LEN];

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: blocking calls return EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

static void sleep_until(uint64_t t_ns)
{
	struct timespec ts = { .tv_sec = (time_t)(t_ns / 1000000000u),
			       .tv_nsec = (long)(t_ns % 1000000000u) };

	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* ---------------------------------------------------------------- options */

/* "ADDR", "ADDR:PORT", "[V6]:PORT" or a bare IPv6 address (no port). */
static int parse_endpoint(const char *s, bool need_port, struct sockaddr_storage *ss,
			  socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port = NULL;
	size_t hl;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (!end || (end[1] != '\0' && end[1] != ':'))
			return -1;
		hl = (size_t)(end - s - 1);
		s++;
		if (end[1] == ':')
			port = end + 2;
	} else {
		const char *colon = strrchr(s, ':');

		/* one colon: v4 with a port; more: a bare IPv6 address */
		if (colon && strchr(s, ':') == colon) {
			hl = (size_t)(colon - s);
			port = colon + 1;
		} else {
			hl = strlen(s);
		}
	}
	if (hl == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';

	unsigned long p = 0;

	if (port) {
		char *end;

		errno = 0;
		p = strtoul(port, &end, 10);
		if (errno || end == port || *end || p > 65535)
			return -1;
	}
	if (need_port && p == 0)
		return -1;
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;

	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)p);
		*len = sizeof(*v4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)p);
		*len = sizeof(*v6);
		return 0;
	}
	return -1;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* "4M", "512K", "65536": a socket buffer size. */
static int parse_size(const char *s, int *out)
{
	char *end;
	unsigned long long v;
	unsigned long long mul = 1;

	if (*s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	if (*end == 'K' || *end == 'k')
		mul = 1024, end++;
	else if (*end == 'M' || *end == 'm')
		mul = 1024 * 1024, end++;
	if (*end || v == 0 || v > INT_MAX / mul)
		return -1;
	*out = (int)(v * mul);
	return 0;
}

static int parse_tag(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 16);
	return (errno || end == s || *end || strlen(s) > 16) ? -1 : 0;
}

/* Root gets the size asked for (FORCE); others what the kernel allows. */
static void set_buffer(int fd, int opt_force, int opt, int bytes)
{
	if (bytes <= 0)
		return;
	if (setsockopt(fd, SOL_SOCKET, opt_force, &bytes, sizeof(bytes)) < 0)
		setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof(bytes));
}

static double secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

/* ---------------------------------------------------------------- send */

struct send_opts {
	struct sockaddr_storage dst, src;
	socklen_t dst_len, src_len;
	bool have_src;
	uint64_t length, rate, duration_ms, batch, tag;
	int sndbuf;
};

struct send_result {
	uint64_t sent, batches, refused, errors;
	uint64_t elapsed_ns;
	uint64_t blocked_ns;		/* waiting for room in the send buffer */
};

static void fill_datagram(uint8_t *p, size_t len, uint64_t tag, uint64_t seq)
{
	put_be32(p, MAGIC);
	put_be64(p + 4, tag);
	put_be64(p + 12, seq);
	put_be32(p + 20, (uint32_t)len);
	memcpy(p + HDR_LEN, pattern + (seq & 255) + HDR_LEN, len - HDR_LEN);
}

/* How many datagrams the schedule allows by @t (ns since the start). */
static uint64_t allowed_by(const struct send_opts *o, uint64_t t)
{
	if (o->rate == 0)
		return UINT64_MAX;
	return (uint64_t)((double)t * (double)o->rate / 1e9) + 1;
}

/* The send buffer is full: datagrams sent earlier are still held on the
 * way (an NFQUEUE, a qdisc), so the path, not this sender, sets the pace.
 * The time spent so is reported, to tell the two apart. */
static void wait_for_room(int fd, uint64_t t_end, struct send_result *r)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	uint64_t t = monotonic_ns();

	if (t < t_end)
		poll(&pfd, 1, (int)((t_end - t) / 1000000u) + 1);
	r->blocked_ns += monotonic_ns() - t;
}

static int send_loop(int fd, const struct send_opts *o, struct send_result *r)
{
	static uint8_t bufs[MAX_BATCH][MAX_LEN];
	struct mmsghdr msgs[MAX_BATCH];
	struct iovec iov[MAX_BATCH];
	const uint64_t t0 = monotonic_ns();
	const uint64_t t_end = t0 + o->duration_ms * 1000000u;

	memset(msgs, 0, sizeof(msgs));
	for (size_t i = 0; i < o->batch; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = o->length;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	memset(r, 0, sizeof(*r));
	while (!stop_requested) {
		uint64_t t = monotonic_ns();

		if (t >= t_end)
			break;
		uint64_t due = allowed_by(o, t - t0);

		if (due <= r->sent) {
			/* the next datagram's time, but no later than the end */
			uint64_t next = t0 + (uint64_t)((double)r->sent * 1e9 / (double)o->rate);

			sleep_until(next < t_end ? next : t_end);
			continue;
		}
		uint64_t n = due - r->sent;

		if (n > o->batch)
			n = o->batch;
		for (uint64_t i = 0; i < n; i++)
			fill_datagram(bufs[i], o->length, o->tag, r->sent + i);
		int k = sendmmsg(fd, msgs, (unsigned int)n, MSG_DONTWAIT);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				wait_for_room(fd, t_end, r);
				continue;
			}
			/* an ICMP error from an earlier datagram, reported once on
			 * a connected socket: the batch goes again */
			if (errno == ECONNREFUSED) {
				r->refused++;
				continue;
			}
			if (errno == ENOBUFS) {
				r->errors++;
				sched_yield();
				continue;
			}
			fprintf(stderr, "espnat-udpgen: sendmmsg: %s\n", strerror(errno));
			return -1;
		}
		r->sent += (uint64_t)k;
		r->batches++;
	}
	r->elapsed_ns = monotonic_ns() - t0;
	return 0;
}

static int send_usage(FILE *f)
{
	fprintf(f,
		"usage: espnat-udpgen send DST:PORT --from ADDR[:PORT] --length BYTES\n"
		"                          [--rate PPS] [--duration SECONDS] [--batch N]\n"
		"                          [--tag HEX] [--sndbuf SIZE]\n"
		"Sends tagged, numbered UDP datagrams of BYTES (%d-%d) to DST:PORT from ADDR,\n"
		"paced to PPS (0, the default: as fast as the kernel takes them) for SECONDS\n"
		"(10), up to N (64, at most %d) per sendmmsg(). SIZE like 4M or 512K.\n"
		"Prints {\"sent\": ..., \"seconds\": ..., \"blocked_seconds\": ..., \"tag\": ...}\n"
		"as JSON; blocked_seconds: time spent waiting for room in the send buffer,\n"
		"i.e. the path, not the sender, setting the pace.\n",
		HDR_LEN, MAX_LEN, MAX_BATCH);
	return f == stdout ? 0 : 2;
}

static int cmd_send(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "length", required_argument, NULL, 'l' },
		{ "rate", required_argument, NULL, 'r' },
		{ "duration", required_argument, NULL, 'd' },
		{ "batch", required_argument, NULL, 'b' },
		{ "tag", required_argument, NULL, 't' },
		{ "sndbuf", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct send_opts o = { .rate = 0, .duration_ms = 10000, .batch = 64 };
	bool have_len = false, have_tag = false;
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "f:l:r:d:b:t:s:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (parse_endpoint(optarg, false, &o.src, &o.src_len) < 0) {
				fprintf(stderr, "espnat-udpgen: bad --from %s\n", optarg);
				return 2;
			}
			o.have_src = true;
			break;
		case 'l':
			if (parse_u64(optarg, HDR_LEN, MAX_LEN, &o.length) < 0) {
				fprintf(stderr, "espnat-udpgen: --length must be %d-%d\n",
					HDR_LEN, MAX_LEN);
				return 2;
			}
			have_len = true;
			break;
		case 'r':
			if (parse_u64(optarg, 0, 100000000, &o.rate) < 0) {
				fprintf(stderr, "espnat-udpgen: bad --rate %s\n", optarg);
				return 2;
			}
			break;
		case 'd': {
			char *end;
			double d;

			errno = 0;
			d = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(d > 0 && d <= 86400)) {
				fprintf(stderr, "espnat-udpgen: bad --duration %s\n", optarg);
				return 2;
			}
			o.duration_ms = (uint64_t)(d * 1000);
			break;
		}
		case 'b':
			if (parse_u64(optarg, 1, MAX_BATCH, &v) < 0) {
				fprintf(stderr, "espnat-udpgen: --batch must be 1-%d\n", MAX_BATCH);
				return 2;
			}
			o.batch = v;
			break;
		case 't':
			if (parse_tag(optarg, &o.tag) < 0) {
				fprintf(stderr, "espnat-udpgen: --tag takes up to 16 hex digits\n");
				return 2;
			}
			have_tag = true;
			break;
		case 's':
			if (parse_size(optarg, &o.sndbuf) < 0) {
				fprintf(stderr, "espnat-udpgen: bad --sndbuf %s\n", optarg);
				return 2;
			}
			break;
		case 'h':
			return send_usage(stdout);
		default:
			return send_usage(stderr);
		}
	}
	if (optind + 1 != argc || !have_len || !o.have_src)
		return send_usage(stderr);
	if (parse_endpoint(argv[optind], true, &o.dst, &o.dst_len) < 0) {
		fprintf(stderr, "espnat-udpgen: bad destination %s (ADDR:PORT)\n", argv[optind]);
		return 2;
	}
	if (o.src.ss_family != o.dst.ss_family) {
		fprintf(stderr, "espnat-udpgen: --from and the destination differ in family\n");
		return 2;
	}
	if (!have_tag && getrandom(&o.tag, sizeof(o.tag), 0) != sizeof(o.tag)) {
		fprintf(stderr, "espnat-udpgen: getrandom: %s\n", strerror(errno));
		return 1;
	}

	int fd = socket(o.dst.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&o.src, o.src_len) < 0 ||
	    connect(fd, (struct sockaddr *)&o.dst, o.dst_len) < 0) {
		fprintf(stderr, "espnat-udpgen: socket: %s\n", strerror(errno));
		return 1;
	}
	set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, o.sndbuf);

	struct send_result r;

	if (send_loop(fd, &o, &r) < 0)
		return 1;
	close(fd);
	printf("{\"tag\": \"%016" PRIx64 "\", \"length\": %" PRIu64 ", \"rate\": %" PRIu64
	       ", \"sent\": %" PRIu64 ", \"seconds\": %.6f, \"pps\": %.1f, \"batches\": %"
	       PRIu64 ", \"blocked_seconds\": %.6f, \"refused\": %" PRIu64 ", \"errors\": %" PRIu64
	       "}\n",
	       o.tag, o.length, o.rate, r.sent, secs(r.elapsed_ns),
	       r.elapsed_ns ? (double)r.sent / secs(r.elapsed_ns) : 0.0, r.batches,
	       secs(r.blocked_ns), r.refused, r.errors);
	return 0;
}

/* ---------------------------------------------------------------- recv */

struct recv_count {
	uint64_t received, bytes, duplicates, reordered, corrupt, truncated, foreign;
	uint64_t seq_max;		/* highest sequence number seen + 1 */
	uint64_t first_ns, last_ns;
	uint64_t *seen;			/* bitmap over sequence numbers */
	size_t seen_words;
};

static int mark_seen(struct recv_count *rc, uint64_t seq, bool *dup)
{
	size_t w = (size_t)(seq / 64);

	if (w >= rc->seen_words) {
		size_t n = rc->seen_words ? rc->seen_words : 4096;

		while (n <= w)
			n *= 2;
		uint64_t *p = realloc(rc->seen, n * sizeof(*p));

		if (!p)
			return -1;
		memset(p + rc->seen_words, 0, (n - rc->seen_words) * sizeof(*p));
		rc->seen = p;
		rc->seen_words = n;
	}
	uint64_t bit = 1ull << (seq % 64);

	*dup = rc->seen[w] & bit;
	rc->seen[w] |= bit;
	return 0;
}

/* Classifies one datagram of @len bytes (@trunc: longer than the slot). */
static int count_datagram(struct recv_count *rc, uint64_t tag, const uint8_t *p, size_t len,
			  bool trunc, uint64_t t)
{
	if (trunc) {
		rc->truncated++;
		return 0;
	}
	if (len < HDR_LEN || get_be32(p) != MAGIC || get_be64(p + 4) != tag) {
		rc->foreign++;
		return 0;
	}
	uint64_t seq = get_be64(p + 12);

	if (get_be32(p + 20) != len || seq >= MAX_SEQ ||
	    memcmp(p + HDR_LEN, pattern + (seq & 255) + HDR_LEN, len - HDR_LEN) != 0) {
		rc->corrupt++;
		return 0;
	}
	bool dup;

	if (mark_seen(rc, seq, &dup) < 0)
		return -1;
	if (dup) {
		rc->duplicates++;
		return 0;
	}
	if (seq + 1 < rc->seq_max)
		rc->reordered++;
	else
		rc->seq_max = seq + 1;
	if (rc->received == 0)
		rc->first_ns = t;
	rc->last_ns = t;
	rc->received++;
	rc->bytes += len;
	return 0;
}

static int recv_loop(int fd, uint64_t tag, uint64_t timeout_ms, struct recv_count *rc)
{
	static uint8_t bufs[64][SLOT_LEN];
	struct mmsghdr msgs[64];
	struct iovec iov[64];
	const uint64_t t_end = monotonic_ns() + timeout_ms * 1000000u;

	memset(msgs, 0, sizeof(msgs));
	for (size_t i = 0; i < 64; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = SLOT_LEN;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	while (!stop_requested && monotonic_ns() < t_end) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		if (poll(&pfd, 1, 100) <= 0)
			continue;	/* timeout or a signal: check the flags */
		int n = recvmmsg(fd, msgs, 64, MSG_DONTWAIT, NULL);

		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			fprintf(stderr, "espnat-udpgen: recvmmsg: %s\n", strerror(errno));
			return -1;
		}
		uint64_t t = monotonic_ns();

		for (int i = 0; i < n; i++) {
			bool trunc = msgs[i].msg_hdr.msg_flags & MSG_TRUNC;

			if (count_datagram(rc, tag, bufs[i], msgs[i].msg_len, trunc, t) < 0) {
				fprintf(stderr, "espnat-udpgen: out of memory\n");
				return -1;
			}
		}
	}
	return 0;
}

static int recv_usage(FILE *f)
{
	fprintf(f,
		"usage: espnat-udpgen recv ADDR:PORT --tag HEX [--timeout SECONDS] [--rcvbuf SIZE]\n"
		"Counts the datagrams of the sender's run HEX arriving on ADDR:PORT until\n"
		"SIGTERM/SIGINT or SECONDS (3600). Prints {\"received\": ..., \"duplicates\": ...,\n"
		"\"reordered\": ..., \"corrupt\": ..., \"foreign\": ...} as JSON.\n");
	return f == stdout ? 0 : 2;
}

static int cmd_recv(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "tag", required_argument, NULL, 't' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "rcvbuf", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sockaddr_storage addr;
	socklen_t addr_len;
	uint64_t tag = 0, timeout_s = 3600;
	bool have_tag = false;
	int rcvbuf = 0, c;

	while ((c = getopt_long(argc, argv, "t:T:r:h", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (parse_tag(optarg, &tag) < 0) {
				fprintf(stderr, "espnat-udpgen: --tag takes up to 16 hex digits\n");
				return 2;
			}
			have_tag = true;
			break;
		case 'T':
			if (parse_u64(optarg, 1, 86400, &timeout_s) < 0) {
				fprintf(stderr, "espnat-udpgen: bad --timeout %s\n", optarg);
				return 2;
			}
			break;
		case 'r':
			if (parse_size(optarg, &rcvbuf) < 0) {
				fprintf(stderr, "espnat-udpgen: bad --rcvbuf %s\n", optarg);
				return 2;
			}
			break;
		case 'h':
			return recv_usage(stdout);
		default:
			return recv_usage(stderr);
		}
	}
	if (optind + 1 != argc || !have_tag)
		return recv_usage(stderr);
	if (parse_endpoint(argv[optind], true, &addr, &addr_len) < 0) {
		fprintf(stderr, "espnat-udpgen: bad address %s (ADDR:PORT)\n", argv[optind]);
		return 2;
	}
	int fd = socket(addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		fprintf(stderr, "espnat-udpgen: socket: %s\n", strerror(errno));
		return 1;
	}
	set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, rcvbuf);
	if (bind(fd, (struct sockaddr *)&addr, addr_len) < 0) {
		fprintf(stderr, "espnat-udpgen: bind %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}

	struct recv_count rc;

	memset(&rc, 0, sizeof(rc));
	int err = recv_loop(fd, tag, timeout_s * 1000, &rc);

	close(fd);
	free(rc.seen);
	if (err < 0)
		return 1;
	uint64_t span = rc.last_ns - rc.first_ns;

	printf("{\"tag\": \"%016" PRIx64 "\", \"received\": %" PRIu64 ", \"bytes\": %" PRIu64
	       ", \"duplicates\": %" PRIu64 ", \"reordered\": %" PRIu64 ", \"corrupt\": %" PRIu64
	       ", \"truncated\": %" PRIu64 ", \"foreign\": %" PRIu64 ", \"seq_max\": %" PRIu64
	       ", \"seconds\": %.6f}\n",
	       tag, rc.received, rc.bytes, rc.duplicates, rc.reordered, rc.corrupt,
	       rc.truncated, rc.foreign, rc.seq_max, secs(span));
	return 0;
}

/* ---------------------------------------------------------------- main */

static int usage(FILE *f)
{
	fprintf(f, "usage: espnat-udpgen send DST:PORT --from ADDR --length BYTES [options]\n"
		   "       espnat-udpgen recv ADDR:PORT --tag HEX [options]\n"
		   "       espnat-udpgen {send|recv} --help\n");
	return f == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)i;
	if (argc < 2)
		return usage(stderr);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
		return usage(stdout);
	catch_signals();
	if (!strcmp(argv[1], "send"))
		return cmd_send(argc - 1, argv + 1);
	if (!strcmp(argv[1], "recv"))
		return cmd_recv(argc - 1, argv + 1);
	return usage(stderr);
}
