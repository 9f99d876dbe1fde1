/* rules_test: installs and removes espnatd's diversion rules through
 * tools/io/rules.c and checks them by reading back what nft, iptables-save,
 * ip6tables-save and ip report, plus that the fail-closed drops really drop.
 * Run by rules_test.sh inside a network namespace of its own:
 *   ip netns exec OWN_NETNS rules_test OWN_NETNS PEER_NETNS TUN_IFNAME
 * PEER_NETNS holds the other end of a veth pair (10.77.0.2, fd77::2; this
 * side is 10.77.0.1, fd77::1); TUN_IFNAME is an up link standing in for the
 * daemon's TUN device. It refuses to run anywhere but in OWN_NETNS. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* setns */
#endif
#include "tools/io/rules.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SELF4 "10.77.0.1"
#define PEER4 "10.77.0.2"
#define SELF6 "fd77::1"
#define PEER6 "fd77::2"

static int passed, failed;
static const char *peer_ns, *tun_if;
static int self_fd = -1, peer_fd = -1;
static char stub_dir[64];
static char *saved_path;

static void check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(bool ok, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		passed++;
		return;
	}
	failed++;
	fprintf(stderr, "FAIL: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- shell helpers (the test may use a shell; the module may not) ---- */

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int st = system(cmd);
	return st == -1 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

/* The stdout of a command (stderr discarded); never NULL. */
static char *capture(const char *fmt, ...) __attribute__((format(printf, 1, 2), returns_nonnull));
static char *capture(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);

	if (!buf)
		abort();
	strcpy(cmd, "{ ");
	va_start(ap, fmt);
	vsnprintf(cmd + 2, sizeof(cmd) - 24, fmt, ap);
	va_end(ap);
	strcat(cmd, "; } 2>/dev/null");
	FILE *f = popen(cmd, "r");
	if (f) {
		size_t got;
		while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
			len += got;
			if (len + 1 == cap) {
				cap *= 2;
				buf = realloc(buf, cap);
				if (!buf)
					abort();
			}
		}
		pclose(f);
	}
	buf[len] = '\0';
	return buf;
}

static size_t count_lines(const char *text, const char *line)
{
	size_t n = 0, len = strlen(line);

	for (const char *s = text; s && *s; ) {
		const char *e = strchr(s, '\n');
		size_t l = e ? (size_t)(e - s) : strlen(s);
		if (l == len && memcmp(s, line, len) == 0)
			n++;
		s = e ? e + 1 : NULL;
	}
	return n;
}

static size_t count_prefix(const char *text, const char *prefix)
{
	size_t n = 0, len = strlen(prefix);

	for (const char *s = text; s && *s; ) {
		if (strncmp(s, prefix, len) == 0)
			n++;
		s = strchr(s, '\n');
		s = s ? s + 1 : NULL;
	}
	return n;
}

/* The first line of @text that starts with @prefix, or "" */
static void first_line(const char *text, const char *prefix, char *out, size_t len)
{
	const char *s = text;

	out[0] = '\0';
	while (s && *s) {
		const char *e = strchr(s, '\n');
		if (strncmp(s, prefix, strlen(prefix)) == 0) {
			size_t l = e ? (size_t)(e - s) : strlen(s);
			snprintf(out, len, "%.*s", (int)l, s);
			return;
		}
		s = e ? e + 1 : NULL;
	}
}

static void expect_line(const char *text, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void expect_line(const char *text, const char *what, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	size_t n = count_lines(text, line);
	check(n == 1, "%s: expected exactly one line \"%s\", found %zu", what, line, n);
}

static const char *const families[] = { "iptables", "ip6tables" };
static const char *const ipfam[] = { "ip", "ip -6" };

/* ---- datagrams across the veth pair ---- */

static int socket_in(int nsfd, int family)
{
	if (setns(nsfd, CLONE_NEWNET) < 0) {
		perror("setns");
		exit(2);
	}
	int s = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (setns(self_fd, CLONE_NEWNET) < 0) {
		perror("setns back");
		exit(2);
	}
	return s;
}

static void sockaddr_of(int family, const char *addr, uint16_t port,
			struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		inet_pton(AF_INET, addr, &a->sin_addr);
		*len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		inet_pton(AF_INET6, addr, &a->sin6_addr);
		*len = sizeof(*a);
	}
}

static int bind_port(int s, int family, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1;

	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6)
		setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	sockaddr_of(family, family == AF_INET ? "0.0.0.0" : "::", port, &ss, &len);
	return bind(s, (struct sockaddr *)&ss, len);
}

/* Sends a few datagrams from @sport (0: any) to @dport, from the peer to this
 * namespace when @inbound, else the other way; true when one arrived within
 * @wait_ms. */
static bool udp_delivered(bool inbound, int family, uint16_t sport, uint16_t dport,
			  int wait_ms)
{
	int rx = inbound ? socket_in(self_fd, family) : socket_in(peer_fd, family);
	int tx = inbound ? socket_in(peer_fd, family) : socket_in(self_fd, family);
	const char *dst = family == AF_INET ? (inbound ? SELF4 : PEER4) :
					      (inbound ? SELF6 : PEER6);
	struct sockaddr_storage ss;
	socklen_t len;
	char token[32], buf[64];
	bool got = false;

	if (rx < 0 || tx < 0 || bind_port(rx, family, dport) ||
	    (sport && bind_port(tx, family, sport))) {
		check(false, "datagram sockets (%s): %s", dst, strerror(errno));
		goto out;
	}
	snprintf(token, sizeof(token), "rules_test %d %u", getpid(), dport);
	sockaddr_of(family, dst, dport, &ss, &len);
	for (int waited = 0; waited < wait_ms && !got; ) {
		if (waited % 300 == 0)	/* a few tries: the first may wait on ARP/ND */
			sendto(tx, token, strlen(token), MSG_DONTWAIT, (struct sockaddr *)&ss, len);
		struct pollfd pf = { .fd = rx, .events = POLLIN };
		if (poll(&pf, 1, 50) > 0) {
			ssize_t n = recv(rx, buf, sizeof(buf) - 1, MSG_DONTWAIT);
			got = n == (ssize_t)strlen(token) && memcmp(buf, token, (size_t)n) == 0;
		}
		waited += 50;
	}
out:
	if (rx >= 0)
		close(rx);
	if (tx >= 0)
		close(tx);
	return got;
}

static void expect_udp(bool inbound, uint16_t sport, uint16_t dport, bool arrives,
		       const char *why)
{
	static const int fams[] = { AF_INET, AF_INET6 };

	if (!peer_ns)
		return;
	for (int i = 0; i < 2; i++) {
		bool got = udp_delivered(inbound, fams[i], sport, dport, arrives ? 2000 : 600);
		check(got == arrives, "%s: udp %s %s sport %u dport %u %s",
		      why, fams[i] == AF_INET ? "v4" : "v6", inbound ? "in" : "out",
		      sport, dport, arrives ? "did not arrive" : "arrived");
	}
}

/* ---- what is installed ---- */

static void expect_clean(const char *why)
{
	for (int f = 0; f < 2; f++) {
		char *save = capture("%s-save -t raw", families[f]);
		check(!strstr(save, "ESPNATD"), "%s: %s-save still has ESPNATD:\n%s",
		      why, families[f], save);
		free(save);
		char *rules = capture("%s rule list", ipfam[f]);
		check(!count_prefix(rules, "10500:"), "%s: %s rule still has pref 10500:\n%s",
		      why, ipfam[f], rules);
		free(rules);
		char *routes = capture("%s route show table 4500", ipfam[f]);
		check(!*routes, "%s: %s table 4500 not empty: %s", why, ipfam[f], routes);
		free(routes);
	}
	char *nft = capture("nft list ruleset");
	check(!strcasestr(nft, "espnatd"), "%s: nft ruleset still has espnatd:\n%s", why, nft);
	free(nft);
}

static void add_foreign(void)
{
	int rc = sh("iptables -t raw -A PREROUTING -p icmp -j ACCEPT && "
		    "ip6tables -t raw -A PREROUTING -p ipv6-icmp -j ACCEPT && "
		    "nft add table inet other && "
		    "nft add chain inet other c '{ type filter hook input priority 0; }' && "
		    "nft add rule inet other c udp dport 9999 counter && "
		    "ip rule add pref 10400 from 192.0.2.1 lookup 4501 && "
		    "ip route add blackhole 198.51.100.0/24 table 4501");
	check(rc == 0, "adding the foreign rules");
}

static void expect_foreign(const char *why)
{
	char *s = capture("iptables-save -t raw");
	expect_line(s, why, "-A PREROUTING -p icmp -j ACCEPT");
	free(s);
	s = capture("ip6tables-save -t raw");
	expect_line(s, why, "-A PREROUTING -p ipv6-icmp -j ACCEPT");
	free(s);
	s = capture("nft list table inet other");
	check(strstr(s, "udp dport 9999 counter") != NULL, "%s: nft table inet other lost", why);
	free(s);
	s = capture("ip rule list");
	check(count_prefix(s, "10400:") == 1, "%s: foreign ip rule lost", why);
	free(s);
	s = capture("ip route show table 4501");
	check(strstr(s, "blackhole 198.51.100.0/24") != NULL, "%s: foreign route lost", why);
	free(s);
}

static void port_csv(char *buf, size_t len, const uint16_t *p, size_t n)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%u", i ? "," : "", p[i]);
}

/* Checks the xt NFQUEUE rules of both families; @sorted: the expected
 * ports, ascending. */
static void expect_xt_nfqueue(const char *why, const char *q, const uint16_t *sorted,
			      size_t n)
{
	static const char *const protos[] = { "udp", "tcp" };
	char list[128], first[128];

	for (int f = 0; f < 2; f++) {
		char *s = capture("%s-save -t raw", families[f]);
		char what[96];
		snprintf(what, sizeof(what), "%s (%s)", why, families[f]);
		expect_line(s, what, "-A PREROUTING -j ESPNATD_PRE");
		expect_line(s, what, "-A OUTPUT -j ESPNATD_OUT");
		first_line(s, "-A PREROUTING ", first, sizeof(first));
		check(strcmp(first, "-A PREROUTING -j ESPNATD_PRE") == 0,
		      "%s: the jump is not first in PREROUTING: %s", what, first);
		first_line(s, "-A OUTPUT ", first, sizeof(first));
		check(strcmp(first, "-A OUTPUT -j ESPNATD_OUT") == 0,
		      "%s: the jump is not first in OUTPUT: %s", what, first);
		expect_line(s, what, "-A ESPNATD_PRE -p esp -j NFQUEUE %s", q);
		expect_line(s, what, "-A ESPNATD_PRE -p udp -m udp --dport 4500 -j NFQUEUE %s", q);
		for (int p = 0; p < 2; p++) {
			for (size_t at = 0; at < n; at += 15) {
				port_csv(list, sizeof(list), sorted + at, n - at < 15 ? n - at : 15);
				expect_line(s, what, "-A ESPNATD_PRE ! -i lo -p %s -m multiport --dports %s -j DROP",
					    protos[p], list);
				expect_line(s, what, "-A ESPNATD_OUT ! -o lo -p %s -m multiport --sports %s -j NFQUEUE %s",
					    protos[p], list, q);
			}
		}
		/* the conntrack match that makes the kernel defragment first */
		expect_line(s, what, "-A ESPNATD_PRE -m conntrack --ctstate INVALID -j RETURN");
		size_t chunks = (n + 14) / 15;
		check(count_prefix(s, "-A ESPNATD_PRE ") == 3 + 2 * chunks,
		      "%s: %zu rules in ESPNATD_PRE, expected %zu", what,
		      count_prefix(s, "-A ESPNATD_PRE "), 3 + 2 * chunks);
		check(count_prefix(s, "-A ESPNATD_OUT ") == 2 * chunks,
		      "%s: %zu rules in ESPNATD_OUT, expected %zu", what,
		      count_prefix(s, "-A ESPNATD_OUT "), 2 * chunks);
		check(!strstr(s, "bypass"), "%s: a queue bypass is set", what);
		free(s);
	}
	char *nft = capture("nft list tables");
	check(!strstr(nft, "table inet espnatd\n"), "%s: backend xt but nft table inet espnatd exists", why);
	/* the ICMP guard: nft drop rules work on this kernel */
	check(strstr(nft, "table inet espnatd_guard\n") != NULL, "%s: no ICMP guard table", why);
	free(nft);
}

static void expect_nft_nfqueue(const char *why, const char *q)
{
	char *s = capture("nft list table inet espnatd");
	bool chains = strstr(s, "hook prerouting") && strstr(s, "hook output");

	check(chains, "%s: nft chains missing:\n%s", why, s);
	check(strstr(s, "esp") && strstr(s, "4500") && strstr(s, "5066") &&
	      strstr(s, "drop") && strstr(s, q), "%s: nft rules missing:\n%s", why, s);
	check(!strstr(s, "bypass"), "%s: a queue bypass is set", why);
	free(s);
	for (int f = 0; f < 2; f++) {
		s = capture("%s-save -t raw", families[f]);
		check(!strstr(s, "ESPNATD"), "%s: backend nft but %s has ESPNATD", why, families[f]);
		free(s);
	}
}

static int install_nfqueue(const uint16_t *ports, size_t n, unsigned queues,
			   enum rules_backend *used, const char *why)
{
	struct rules_config c = { .queue = 0, .queues = queues, .ports = ports, .nports = n };
	char err[8192];

	int rc = rules_install_nfqueue(&c, used, err, sizeof(err));
	check(rc == 0, "%s: rules_install_nfqueue: %s", why, err);
	if (rc == 0 && *used == RULES_XT) {
		check(err[0] != '\0', "%s: fell back to xt without saying why", why);
		/* the kernel, not nft's parser, must be what refused the ruleset */
		check(!strstr(err, "syntax error") && !strstr(err, "unexpected"),
		      "%s: the nft ruleset does not parse: %s", why, err);
		if (strcmp(why, "nfqueue") == 0)
			printf("rules_test: %s\n", err);
	}
	return rc;
}

static void expect_removed(const char *why)
{
	char err[8192];

	int rc = rules_remove_all(0, err, sizeof(err));
	check(rc == 0, "%s: rules_remove_all: %s", why, err);
	expect_clean(why);
	expect_foreign(why);
}

/* ---- the tests ---- */

static void test_empty(void)
{
	char err[4096], desc[512];
	char *before = capture("nft list ruleset");

	int rc = rules_remove_all(0, err, sizeof(err));
	check(rc == 0, "remove_all with nothing installed: %s", err);
	char *after = capture("nft list ruleset");
	check(strcmp(before, after) == 0, "remove_all with nothing installed changed the "
	      "ruleset:\n%s\n---\n%s", before, after);
	free(before);
	free(after);
	rc = rules_describe(desc, sizeof(desc));
	check(rc == 0 && strcmp(desc, "no espnatd rules") == 0, "describe empty: %d \"%s\"",
	      rc, desc);
}

static void test_nfqueue(void)
{
	static const uint16_t ports[] = { 5068, 5066 };
	static const uint16_t sorted[] = { 5066, 5068 };
	enum rules_backend used = RULES_NONE;
	char desc[512];

	expect_udp(true, 0, 5066, true, "before any rules");
	expect_udp(false, 5066, 5099, true, "before any rules");
	if (install_nfqueue(ports, 2, 1, &used, "nfqueue"))
		return;
	printf("rules_test: nfqueue backend %s\n", rules_backend_name(used));
	check(used == RULES_XT || used == RULES_NFT, "nfqueue: backend %d", used);
	if (used == RULES_XT)
		expect_xt_nfqueue("nfqueue", "--queue-num 0", sorted, 2);
	else
		expect_nft_nfqueue("nfqueue", "queue");
	rules_describe(desc, sizeof(desc));
	printf("rules_test: describe: %s\n", desc);
	check(strstr(desc, used == RULES_XT ? "iptables raw ESPNATD_PRE ESPNATD_OUT" :
			   "nft table inet espnatd") != NULL, "describe nfqueue: %s", desc);

	/* the drops of the fail-closed design, with no queue reader */
	expect_udp(true, 0, 5066, false, "plaintext to a protected port");
	expect_udp(true, 0, 5068, false, "plaintext to a protected port");
	expect_udp(true, 0, 4500, false, "NAT-T with no queue reader");
	expect_udp(true, 0, 5070, true, "an unprotected port");
	expect_udp(false, 5066, 5099, false, "from a protected port with no queue reader");
	expect_udp(false, 5071, 5099, true, "from an unprotected port");

	/* twice: one copy */
	if (install_nfqueue(ports, 2, 1, &used, "nfqueue twice"))
		return;
	if (used == RULES_XT)
		expect_xt_nfqueue("nfqueue twice", "--queue-num 0", sorted, 2);
	else
		expect_nft_nfqueue("nfqueue twice", "queue");
}

static void test_fanout(void)
{
	static const uint16_t ports[] = { 5066, 5068 };
	enum rules_backend used;

	if (install_nfqueue(ports, 2, 2, &used, "fanout"))
		return;
	if (used == RULES_XT)
		expect_xt_nfqueue("fanout", "--queue-balance 0:1 --queue-cpu-fanout", ports, 2);
	else
		expect_nft_nfqueue("fanout", "fanout");
}

static void test_many_ports(void)
{
	uint16_t ports[22], sorted[20];
	enum rules_backend used;

	/* 20 ports, given backwards with two repeated */
	for (int i = 0; i < 20; i++) {
		ports[i] = (uint16_t)(5120 - i);
		sorted[i] = (uint16_t)(5101 + i);
	}
	ports[20] = 5110;
	ports[21] = 5101;
	if (install_nfqueue(ports, 22, 1, &used, "20 ports"))
		return;
	if (used == RULES_XT)
		expect_xt_nfqueue("20 ports", "--queue-num 0", sorted, 20);
	else
		expect_nft_nfqueue("20 ports", "queue");
	expect_udp(true, 0, 5117, false, "plaintext to the 17th protected port");
}

/* What a crashed daemon (or an older one) may have left: doubled jumps,
 * chains of both paths, the nft tables, pref 10500 rules into another table. */
static void test_stale(void)
{
	char desc[512];

	int rc = sh("for t in iptables ip6tables; do "
		    "$t -t raw -N ESPNATD_PRE && $t -t raw -A ESPNATD_PRE -p udp -j DROP && "
		    "$t -t raw -I PREROUTING 1 -j ESPNATD_PRE && "
		    "$t -t raw -A PREROUTING -j ESPNATD_PRE && "
		    "$t -t raw -N ESPNATD_TUN && $t -t raw -I PREROUTING 1 -j ESPNATD_TUN || exit 1; "
		    "done && nft add table inet espnatd && nft add table inet espnatd_tun && "
		    "ip rule add pref 10500 ipproto udp sport 7000 lookup 4600 && "
		    "ip -6 rule add pref 10500 ipproto tcp sport 7000 lookup 4600 && "
		    "ip route add blackhole 203.0.113.0/24 table 4600 && "
		    "ip -6 route add blackhole 2001:db8::/32 table 4600");
	check(rc == 0, "making stale rules");
	rules_describe(desc, sizeof(desc));
	printf("rules_test: stale: %s\n", desc);
	check(strstr(desc, "nft table inet espnatd") && strstr(desc, "nft table inet espnatd_tun") &&
	      strstr(desc, "ip rules pref 10500 (2)") && strstr(desc, "routes in table 4600 (2)") &&
	      strstr(desc, "ip6tables raw ESPNATD_PRE ESPNATD_TUN"),
	      "describe stale: %s", desc);
	expect_removed("stale");
	char *s = capture("ip route show table 4600; ip -6 route show table 4600");
	check(!*s, "stale table 4600 was not flushed: %s", s);
	free(s);
}

static void expect_tun_common(const char *why, unsigned table)
{
	static const char *const protos[] = { "udp", "tcp" };
	static const uint16_t ports[] = { 5066, 5068 };

	for (int f = 0; f < 2; f++) {
		char what[96];
		snprintf(what, sizeof(what), "%s (%s)", why, ipfam[f]);
		char *s = capture("%s rule list", ipfam[f]);
		for (int p = 0; p < 2; p++)
			for (int i = 0; i < 2; i++)
				expect_line(s, what, "10500:\tfrom all ipproto %s sport %u lookup %u",
					    protos[p], ports[i], table);
		check(count_prefix(s, "10500:") == 4, "%s: %zu pref 10500 rules:\n%s",
		      what, count_prefix(s, "10500:"), s);
		free(s);
		s = capture("%s route show table %u", ipfam[f], table);
		char want[64];
		snprintf(want, sizeof(want), "default dev %s ", tun_if);
		/* the route through the device, and behind it the unreachable
		 * one that keeps traffic from leaking when the device is gone */
		check(strncmp(s, want, strlen(want)) == 0 && count_prefix(s, "default") == 1 &&
		      count_prefix(s, "unreachable default") == 1 &&
		      strstr(s, "metric 4294967295"),
		      "%s: table %u: %s", what, table, s);
		free(s);
	}
}

static void expect_tun_nft(const char *why)
{
	char *s = capture("nft list table inet espnatd_tun");
	char want[128];

	check(strstr(s, "hook prerouting priority raw") != NULL, "%s: no raw prerouting chain:\n%s",
	      why, s);
	for (int p = 0; p < 2; p++) {
		snprintf(want, sizeof(want), "iifname != \"%s\" %s dport { 5066, 5068 } drop",
			 tun_if, p ? "tcp" : "udp");
		check(strstr(s, want) != NULL, "%s: no \"%s\" in\n%s", why, want, s);
	}
	free(s);
}

static void expect_tun_xt(const char *why)
{
	for (int f = 0; f < 2; f++) {
		char *s = capture("%s-save -t raw", families[f]);
		char what[96];
		snprintf(what, sizeof(what), "%s (%s)", why, families[f]);
		expect_line(s, what, "-A PREROUTING -j ESPNATD_TUN");
		expect_line(s, what, "-A ESPNATD_TUN ! -i %s -p udp -m multiport --dports 5066,5068 -j DROP",
			    tun_if);
		expect_line(s, what, "-A ESPNATD_TUN ! -i %s -p tcp -m multiport --dports 5066,5068 -j DROP",
			    tun_if);
		free(s);
	}
}

static int install_tun(unsigned table, enum rules_backend *used, const char *why)
{
	static const uint16_t ports[] = { 5068, 5066, 5068 };
	struct rules_config c = { .ports = ports, .nports = 3, .tun_ifname = tun_if,
				  .tun_table = table };
	char err[8192];

	int rc = rules_install_tun(&c, used, err, sizeof(err));
	check(rc == 0, "%s: rules_install_tun: %s", why, err);
	return rc;
}

static void test_tun(void)
{
	static const uint16_t ports[] = { 5066 };
	struct rules_config c = { .ports = ports, .nports = 1, .tun_ifname = tun_if };
	enum rules_backend used;
	char desc[512], err[4096];

	/* a route into a link that is down is refused: nothing may stay */
	sh("ip link set %s down", tun_if);
	int rc = rules_install_tun(&c, &used, err, sizeof(err));
	check(rc == -1 && used == RULES_NONE && err[0], "tun with the link down: rc %d %s",
	      rc, err);
	printf("rules_test: tun with the link down: %s\n", err);
	expect_clean("failed tun install");
	sh("ip link set %s up", tun_if);

	if (install_tun(0, &used, "tun"))
		return;
	printf("rules_test: tun drop-rule backend %s\n", rules_backend_name(used));
	expect_tun_common("tun", 4500);
	if (used == RULES_NFT)
		expect_tun_nft("tun");
	else
		expect_tun_xt("tun");
	rules_describe(desc, sizeof(desc));
	printf("rules_test: describe: %s\n", desc);
	check(strstr(desc, "ip rules pref 10500 (8)") && strstr(desc, "routes in table 4500 (4)"),
	      "describe tun: %s", desc);
	expect_udp(true, 0, 5066, false, "plaintext to a protected port, not via the TUN");
	expect_udp(true, 0, 5070, true, "an unprotected port (TUN path)");
	if (install_tun(0, &used, "tun twice"))
		return;
	expect_tun_common("tun twice", 4500);
	expect_removed("tun removed");
}

/* The xt drop rules of the TUN path, with an nft that refuses everything. */
static void test_tun_xt(void)
{
	char path[4200];
	enum rules_backend used = RULES_NONE;

	sh("printf '#!/bin/sh\\n[ \"$1\" = list ] && exit 0\\necho nft-stub-refused >&2\\nexit 1\\n' "
	   "> %s/nft && chmod +x %s/nft", stub_dir, stub_dir);
	snprintf(path, sizeof(path), "%s:%s", stub_dir, saved_path);
	setenv("PATH", path, 1);
	int rc = install_tun(4600, &used, "tun xt");
	setenv("PATH", saved_path, 1);
	unlink(strcat(strcpy(path, stub_dir), "/nft"));
	if (rc)
		return;
	check(used == RULES_XT, "tun xt: backend %s", rules_backend_name(used));
	expect_tun_common("tun xt", 4600);
	expect_tun_xt("tun xt");
	expect_udp(true, 0, 5068, false, "plaintext to a protected port, not via the TUN (xt)");
	expect_udp(true, 0, 5070, true, "an unprotected port (TUN path, xt)");
	/* cleanup without being told the table: the rules name it */
	expect_removed("tun xt removed");
	char *s = capture("ip route show table 4600; ip -6 route show table 4600");
	check(!*s, "table 4600 was not flushed: %s", s);
	free(s);
}

static void write_stub(const char *name, const char *body)
{
	char p[128];

	snprintf(p, sizeof(p), "%s/%s", stub_dir, name);
	FILE *f = fopen(p, "w");
	if (!f) {
		perror(p);
		exit(2);
	}
	fprintf(f, "#!/bin/sh\necho \"$0 $*\" >> %s/ran\n%s\n", stub_dir, body);
	fclose(f);
	chmod(p, 0755);
}

static bool stubs_ran(void)
{
	char p[128];

	snprintf(p, sizeof(p), "%s/ran", stub_dir);
	bool ran = access(p, F_OK) == 0;
	unlink(p);
	return ran;
}

static void expect_refused(int rc, const char *err, const char *why)
{
	check(rc == -1 && err[0], "%s: not refused (rc %d, \"%s\")", why, rc, err);
	check(!stubs_ran(), "%s: a tool was run", why);
	if (rc == -1)
		printf("rules_test: refused %s: %s\n", why, err);
}

static void test_bad_input(void)
{
	static const uint16_t zero[] = { 5066, 0 };
	uint16_t many[257];
	enum rules_backend used;
	char err[1024];
	struct rules_config c;

	for (int i = 0; i < 257; i++)
		many[i] = (uint16_t)(6000 + i);
	for (size_t i = 0; i < 4; i++)
		write_stub(i == 0 ? "nft" : i == 1 ? "iptables" : i == 2 ? "ip6tables" : "ip",
			   "exit 0");
	setenv("PATH", stub_dir, 1);

	c = (struct rules_config){ .ports = zero, .nports = 2 };
	expect_refused(rules_install_nfqueue(&c, &used, err, sizeof(err)), err, "port 0");
	c = (struct rules_config){ .ports = many, .nports = 257 };
	expect_refused(rules_install_nfqueue(&c, &used, err, sizeof(err)), err, "257 ports");
	c = (struct rules_config){ .ports = NULL, .nports = 2 };
	expect_refused(rules_install_nfqueue(&c, &used, err, sizeof(err)), err, "no port list");
	c = (struct rules_config){ .queue = 65535, .queues = 2, .ports = many, .nports = 1 };
	expect_refused(rules_install_nfqueue(&c, &used, err, sizeof(err)), err, "queues past 65535");
	static const char *const names[] = { "bad name", "eth0;reboot", "a234567890123456",
					     "", "-6", "..", "t\xc3\xbcn", "tun0\n" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		c = (struct rules_config){ .ports = many, .nports = 1, .tun_ifname = names[i] };
		expect_refused(rules_install_tun(&c, &used, err, sizeof(err)), err, "bad ifname");
	}
	c = (struct rules_config){ .ports = many, .nports = 1, .tun_ifname = NULL };
	expect_refused(rules_install_tun(&c, &used, err, sizeof(err)), err, "no ifname");
	c = (struct rules_config){ .ports = many, .nports = 0, .tun_ifname = "tun0" };
	expect_refused(rules_install_tun(&c, &used, err, sizeof(err)), err, "TUN without ports");
	c = (struct rules_config){ .ports = many, .nports = 1, .tun_ifname = "tun0", .tun_table = 254 };
	expect_refused(rules_install_tun(&c, &used, err, sizeof(err)), err, "table main");
	expect_refused(rules_remove_all(255, err, sizeof(err)), err, "remove_all table local");

	/* a good one runs the stubs: the check above is not vacuous */
	c = (struct rules_config){ .ports = many, .nports = 1, .tun_ifname = "tun_0.a-b" };
	int rc = rules_install_tun(&c, &used, err, sizeof(err));
	check(rc == 0 && stubs_ran(), "valid input with stub tools: rc %d %s", rc, err);
	setenv("PATH", saved_path, 1);
}

/* Neither backend works: the error carries both tools' stderr. */
static void test_both_fail(void)
{
	static const uint16_t ports[] = { 5066 };
	struct rules_config c = { .ports = ports, .nports = 1 };
	enum rules_backend used = RULES_XT;
	char err[8192];

	write_stub("nft", "[ \"$1\" = list ] && exit 0\necho nft-stub-refused >&2\nexit 1");
	write_stub("iptables", "for a; do [ \"$a\" = -S ] && exit 0; done\n"
		   "echo xt-stub-refused >&2\nexit 1");
	write_stub("ip6tables", "exit 0");
	write_stub("ip", "exit 0");
	setenv("PATH", stub_dir, 1);
	int rc = rules_install_nfqueue(&c, &used, err, sizeof(err));
	check(rc == -1 && used == RULES_NONE && strstr(err, "nft-stub-refused") &&
	      strstr(err, "xt-stub-refused"), "both backends refused: rc %d used %d: %s",
	      rc, used, err);
	printf("rules_test: both refused: %s\n", err);

	/* no tools at all: nothing can exist, so removal is fine; install is not */
	setenv("PATH", "/nonexistent", 1);
	rc = rules_remove_all(0, err, sizeof(err));
	check(rc == 0, "remove_all without the tools: %s", err);
	rc = rules_install_nfqueue(&c, &used, err, sizeof(err));
	check(rc == -1 && strstr(err, "not found in PATH"), "install without the tools: %s", err);
	setenv("PATH", saved_path, 1);
	stubs_ran();
}

/* A tool that hangs is killed after the timeout. */
static void test_timeout(void)
{
	char err[4096], p[128], body[160];
	struct timespec a, b;

	/* exec: the pid written is the sleeping process itself */
	snprintf(body, sizeof(body), "echo $$ > %s/pid\nexec /bin/sleep 60", stub_dir);
	write_stub("nft", body);
	write_stub("iptables", "exit 0");
	write_stub("ip6tables", "exit 0");
	write_stub("ip", "exit 0");
	setenv("PATH", stub_dir, 1);
	clock_gettime(CLOCK_MONOTONIC, &a);
	int rc = rules_remove_all(0, err, sizeof(err));
	clock_gettime(CLOCK_MONOTONIC, &b);
	setenv("PATH", saved_path, 1);
	double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	check(rc == -1 && strstr(err, "timed out"), "hanging nft: rc %d: %s", rc, err);
	check(secs > 8 && secs < 20, "hanging nft took %.1f s", secs);
	snprintf(p, sizeof(p), "%s/pid", stub_dir);
	FILE *f = fopen(p, "r");
	int pid = 0;
	if (f) {
		if (fscanf(f, "%d", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	check(pid > 0 && kill(pid, 0) < 0 && errno == ESRCH, "the hanging nft (pid %d) is still there",
	      pid);
	stubs_ran();
}

/* True only when this process is in the namespace /run/netns/@name and,
 * where PID 1's namespace can be seen, not in that one. */
static bool in_test_netns(const char *name)
{
	struct stat self, named, init;
	char p[256];

	snprintf(p, sizeof(p), "/run/netns/%s", name);
	if (stat("/proc/self/ns/net", &self) || stat(p, &named))
		return false;
	if (self.st_ino != named.st_ino || self.st_dev != named.st_dev)
		return false;
	if (stat("/proc/1/ns/net", &init) == 0 &&
	    self.st_ino == init.st_ino && self.st_dev == init.st_dev)
		return false;
	return true;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: rules_test OWN_NETNS PEER_NETNS TUN_IFNAME "
			"(run by rules_test.sh)\n");
		return 2;
	}
	if (!in_test_netns(argv[1])) {
		fprintf(stderr, "rules_test: not inside network namespace %s; refusing to "
			"touch this namespace's rules\n", argv[1]);
		return 2;
	}
	argv++;
	peer_ns = *argv[1] ? argv[1] : NULL;
	tun_if = argv[2];
	self_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (peer_ns) {
		char p[256];
		snprintf(p, sizeof(p), "/run/netns/%s", peer_ns);
		peer_fd = open(p, O_RDONLY | O_CLOEXEC);
		if (self_fd < 0 || peer_fd < 0) {
			perror(p);
			return 2;
		}
	}
	saved_path = strdup(getenv("PATH") ? getenv("PATH") : "/usr/sbin:/usr/bin:/sbin:/bin");
	const char *tmpdir = getenv("TMPDIR");
	snprintf(stub_dir, sizeof(stub_dir), "%s/rules_test.XXXXXX",
		 tmpdir && *tmpdir && strlen(tmpdir) < 40 ? tmpdir : "/tmp");
	if (!saved_path || !mkdtemp(stub_dir)) {
		perror("mkdtemp");
		return 2;
	}

	test_empty();
	add_foreign();
	test_nfqueue();
	test_fanout();
	test_many_ports();
	expect_removed("nfqueue removed");
	test_empty();
	test_stale();
	test_tun();
	test_tun_xt();
	test_bad_input();
	test_both_fail();
	test_timeout();
	expect_clean("at the end");
	expect_foreign("at the end");

	sh("rm -rf %s", stub_dir);
	printf("rules_test: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
