/* A fast UDP sender and counter for the overload tests (flood_test.py).
 *
 *   flood send ADDR PORT DADDR DPORT SECONDS SIZE [esp SPI]
 *   flood recv ADDR PORT SECONDS
 *
 * send: sendmmsg() bursts from ADDR:PORT to DADDR:DPORT for SECONDS, each
 * datagram SIZE bytes starting with "FLOOD-MARKER-" and a sequence number
 * (with `esp SPI`: an ESP header with that SPI and a sequence number from
 * 2^30 up, then garbage, i.e. forged ESP-in-UDP). The send buffer is made large
 * (SO_SNDBUFFORCE, root) so that datagrams held in an NFQUEUE do not throttle
 * the sender before the kernel queue is full. Prints
 * `sent N errors E seconds S` on stdout.
 *
 * recv: counts the datagrams arriving on ADDR:PORT for SECONDS (recvmmsg),
 * prints `received N`.
 *
 * IPv4 only; both bind with SO_REUSEPORT so that several can share a port. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define BURST 256

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int usage(void)
{
	fprintf(stderr, "usage: flood send ADDR PORT DADDR DPORT SECONDS SIZE [esp SPI]\n"
			"       flood recv ADDR PORT SECONDS\n");
	return 2;
}

static int addr(const char *a, const char *p, struct sockaddr_in *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)atoi(p));
	return inet_pton(AF_INET, a, &sa->sin_addr) == 1 ? 0 : -1;
}

static int bound_socket(const char *a, const char *p)
{
	struct sockaddr_in sa;
	int one = 1;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0 || addr(a, p, &sa)) {
		perror("socket");
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("bind");
		return -1;
	}
	return fd;
}

static int do_send(int argc, char **argv)
{
	if (argc != 6 && argc != 8)
		return usage();
	struct sockaddr_in to;
	int fd = bound_socket(argv[0], argv[1]);
	double seconds = atof(argv[4]);
	size_t size = (size_t)atoi(argv[5]);
	uint32_t spi = argc == 8 ? (uint32_t)strtoul(argv[7], NULL, 0) : 0;

	if (fd < 0 || addr(argv[2], argv[3], &to) || size < 24 || size > 1400)
		return usage();
	int sndbuf = 64 << 20;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	/* a send blocked on a full buffer wakes up to look at the clock */
	struct timeval tv = { .tv_usec = 100000 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0) {
		perror("connect");
		return 1;
	}

	static uint8_t bufs[BURST][1400];
	struct mmsghdr msgs[BURST];
	struct iovec iov[BURST];
	unsigned long long sent = 0, errors = 0, seq = 0;
	double start = now(), end = start + seconds;

	srandom((unsigned)getpid());
	for (int i = 0; i < BURST; i++) {
		for (size_t k = 0; k < size; k++)
			bufs[i][k] = (uint8_t)random();
		iov[i] = (struct iovec){ .iov_base = bufs[i], .iov_len = size };
		memset(&msgs[i], 0, sizeof(msgs[i]));
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	while (now() < end) {
		for (int i = 0; i < BURST; i++) {
			seq++;
			if (spi) {
				/* above any window the real traffic moves: each
				 * forged packet costs the receiver its ICV check */
				uint32_t h[2] = { htonl(spi), htonl(0x40000000u + (uint32_t)seq) };
				memcpy(bufs[i], h, sizeof(h));
			} else {
				char head[32];
				int n = snprintf(head, sizeof(head), "FLOOD-MARKER-%llu ", seq);
				memcpy(bufs[i], head, (size_t)n);
			}
		}
		int n = sendmmsg(fd, msgs, BURST, 0);
		if (n > 0) {
			sent += (unsigned long long)n;
		} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			errors++;
			if (errno == EPERM || errno == ENOBUFS || errno == ECONNREFUSED)
				continue;
			perror("sendmmsg");
			return 1;
		}
	}
	printf("sent %llu errors %llu seconds %.2f\n", sent, errors, now() - start);
	return 0;
}

static int do_recv(int argc, char **argv)
{
	if (argc != 3)
		return usage();
	int fd = bound_socket(argv[0], argv[1]);
	double end = now() + atof(argv[2]);
	static uint8_t bufs[BURST][2048];
	struct mmsghdr msgs[BURST];
	struct iovec iov[BURST];
	unsigned long long received = 0;
	int rcvbuf = 32 << 20;

	if (fd < 0)
		return 1;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	struct timeval tv = { .tv_usec = 100000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (int i = 0; i < BURST; i++) {
		iov[i] = (struct iovec){ .iov_base = bufs[i], .iov_len = sizeof(bufs[i]) };
		memset(&msgs[i], 0, sizeof(msgs[i]));
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	while (now() < end) {
		int n = recvmmsg(fd, msgs, BURST, MSG_WAITFORONE, NULL);
		if (n > 0)
			received += (unsigned long long)n;
	}
	printf("received %llu\n", received);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2 && strcmp(argv[1], "send") == 0)
		return do_send(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "recv") == 0)
		return do_recv(argc - 2, argv + 2);
	return usage();
}
