#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* pipe2, F_SETPIPE_SZ, posix_spawn_file_actions_addclosefrom_np */
#endif
#include "tools/io/rules.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tools/clock.h"

extern char **environ;

#define RUN_TIMEOUT_MS 10000
#define STDERR_MAX 4096
#define STDOUT_MAX (1u << 20)
#define CMD_MAX 640
#define ARGS_MAX 48
#define MULTIPORT_MAX 15	/* xt_multiport's limit per rule */
#define NATT_PORT 4500
#define MAX_TABLES 8

#define NFT_TABLE "espnatd"
#define NFT_TUN_TABLE "espnatd_tun"
#define XT_PRE "ESPNATD_PRE"
#define XT_OUT "ESPNATD_OUT"
#define XT_TUN "ESPNATD_TUN"
#define NFT_GUARD_TABLE "espnatd_guard"
#define XT_GUARD "ESPNATD_GUARD"

static const char *const xt_chains[] = { XT_PRE, XT_OUT, XT_TUN, XT_GUARD };
static const char *const xt_hooks[] = { "PREROUTING", "OUTPUT" };
static const char *const nft_tables[] = { NFT_TABLE, NFT_TUN_TABLE, NFT_GUARD_TABLE };
static const char *const l4protos[] = { "udp", "tcp" };

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- growing text ---- */

struct text {
	char *p;
	size_t len, cap;
	bool oom;
};

static bool text_grow(struct text *t, size_t need)
{
	size_t ncap = t->cap ? t->cap : 1024;

	while (ncap < need)
		ncap *= 2;
	if (ncap == t->cap)
		return true;
	char *np = realloc(t->p, ncap);
	if (!np) {
		t->oom = true;
		return false;
	}
	t->p = np;
	t->cap = ncap;
	return true;
}

static void text_put(struct text *t, const char *s, size_t n)
{
	if (t->oom || !text_grow(t, t->len + n + 1))
		return;
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

static void text_printf(struct text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void text_printf(struct text *t, const char *fmt, ...)
{
	va_list ap;

	for (int tries = 0; tries < 2 && !t->oom; tries++) {
		size_t left = t->cap - t->len;
		va_start(ap, fmt);
		int n = vsnprintf(left ? t->p + t->len : NULL, left, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->oom = true;
			return;
		}
		if ((size_t)n < left) {
			t->len += (size_t)n;
			return;
		}
		text_grow(t, t->len + (size_t)n + 1);
	}
}

static void text_free(struct text *t)
{
	free(t->p);
	memset(t, 0, sizeof(*t));
}

/* ---- a message built from parts, "; " between them ---- */

struct msg {
	char *buf;
	size_t len, used;
	bool any;
};

static void msg_init(struct msg *m, char *buf, size_t len)
{
	m->buf = buf;
	m->len = len;
	m->used = 0;
	m->any = false;
	if (len)
		buf[0] = '\0';
}

static void msg_add(struct msg *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void msg_add(struct msg *m, const char *fmt, ...)
{
	va_list ap;

	if (m->any && m->used + 1 < m->len) {
		int n = snprintf(m->buf + m->used, m->len - m->used, "; ");
		m->used += (size_t)n < m->len - m->used ? (size_t)n : m->len - m->used - 1;
	}
	m->any = true;
	if (m->used + 1 >= m->len)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(m->buf + m->used, m->len - m->used, fmt, ap);
	va_end(ap);
	if (n > 0)
		m->used += (size_t)n < m->len - m->used ? (size_t)n : m->len - m->used - 1;
}

/* ---- running a tool ---- */

struct run {
	char cmd[CMD_MAX];	/* the command line, for messages */
	struct text out;	/* stdout, when kept */
	bool out_cut;		/* stdout was longer than STDOUT_MAX */
	char err[STDERR_MAX + 1];
	size_t errlen;
	int status;		/* exit status, -1 when it did not run or end */
	bool missing;		/* the program is not in PATH */
	char why[160];		/* why status is -1 */
};

/* Moves @fd above 0-2: were the daemon started with a standard descriptor
 * closed, a pipe could land there and the child's dup2s would clobber each
 * other. */
static int fd_above_stdio(int fd)
{
	if (fd < 0 || fd > 2)
		return fd;
	int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return nfd;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int make_pipe(int p[2])
{
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	p[0] = fd_above_stdio(p[0]);
	p[1] = fd_above_stdio(p[1]);
	if (p[0] >= 0 && p[1] >= 0)
		return 0;
	int saved = errno;
	close_fd(&p[0]);
	close_fd(&p[1]);
	errno = saved;
	return -1;
}

/* Puts all of @input into the pipe before the child starts, so that there is
 * no writer to block or to take a SIGPIPE; inputs are a few KiB at most and
 * the pipe is grown to fit when they are not. */
static int feed(int fd, const char *input, struct run *r)
{
	size_t len = strlen(input), off = 0;
	int cap = fcntl(fd, F_GETPIPE_SZ);

	if (cap >= 0 && len >= (size_t)cap &&
	    fcntl(fd, F_SETPIPE_SZ, (int)(len + 1)) < 0) {
		snprintf(r->why, sizeof(r->why), "input of %zu bytes does not fit a pipe", len);
		return -1;
	}
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
		goto fail;
	while (off < len) {
		ssize_t n = write(fd, input + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		off += (size_t)n;
	}
	return 0;
fail:
	snprintf(r->why, sizeof(r->why), "cannot pass input: %s", strerror(errno));
	return -1;
}

/* Starts @argv with the given standard descriptors. Returns 0 or an errno. */
static int start(char *const argv[], int in, int out, int err, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, dfl;
	int e;

	e = posix_spawn_file_actions_init(&fa);
	if (e)
		return e;
	e = posix_spawnattr_init(&at);
	if (e) {
		posix_spawn_file_actions_destroy(&fa);
		return e;
	}
	/* the daemon may block signals (signalfd) or ignore SIGPIPE; the tool
	 * should start as from a shell */
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	e = posix_spawn_file_actions_adddup2(&fa, in, 0);
	if (!e)
		e = posix_spawn_file_actions_adddup2(&fa, out, 1);
	if (!e)
		e = posix_spawn_file_actions_adddup2(&fa, err, 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
	/* keep the daemon's sockets and TUN descriptor out of the tools */
	if (!e)
		e = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
	if (!e)
		e = posix_spawnattr_setsigmask(&at, &none);
	if (!e)
		e = posix_spawnattr_setsigdefault(&at, &dfl);
	if (!e)
		e = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK |
					     POSIX_SPAWN_SETSIGDEF);
	if (!e)
		e = posix_spawnp(pid, argv[0], &fa, &at, argv, environ);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	return e;
}

static void keep(struct run *r, int which, const char *buf, size_t n)
{
	if (which == 0) {
		if (r->out.len + n > STDOUT_MAX) {
			r->out_cut = true;
			n = r->out.len < STDOUT_MAX ? STDOUT_MAX - r->out.len : 0;
		}
		if (n)
			text_put(&r->out, buf, n);
		return;
	}
	size_t room = STDERR_MAX - r->errlen;
	if (n > room)
		n = room;
	memcpy(r->err + r->errlen, buf, n);
	r->errlen += n;
	r->err[r->errlen] = '\0';
}

/* Waits for @pid until @deadline, then kills it: a tool stuck on a lock
 * must not hang the daemon's start or exit. */
static void reap(struct run *r, pid_t pid, uint64_t deadline)
{
	int st = 0;

	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			snprintf(r->why, sizeof(r->why), "waitpid: %s", strerror(errno));
			return;
		}
		if (monotonic_ms() >= deadline) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
				;
			snprintf(r->why, sizeof(r->why), "timed out after %d s, killed",
				 RUN_TIMEOUT_MS / 1000);
			return;
		}
		struct timespec ts = { 0, 2 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	if (WIFEXITED(st))
		r->status = WEXITSTATUS(st);
	else
		snprintf(r->why, sizeof(r->why), "killed by signal %d", WTERMSIG(st));
}

/* Reads stdout and stderr until both end or the time is up. */
static void collect(struct run *r, pid_t pid, int outfd, int errfd, bool keep_out)
{
	struct pollfd pf[2] = { { .fd = outfd, .events = POLLIN },
				{ .fd = errfd, .events = POLLIN } };
	uint64_t deadline = monotonic_ms() + RUN_TIMEOUT_MS;
	int open = 2;
	char buf[4096];

	while (open > 0) {
		uint64_t now = monotonic_ms();
		if (now >= deadline)
			break;
		int n = poll(pf, 2, (int)(deadline - now));
		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; n > 0 && i < 2; i++) {
			if (pf[i].fd < 0 || !pf[i].revents)
				continue;
			ssize_t got = read(pf[i].fd, buf, sizeof(buf));
			if (got < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (got <= 0) {
				pf[i].fd = -1;
				open--;
				continue;
			}
			if (i == 1 || keep_out)
				keep(r, i, buf, (size_t)got);
		}
	}
	reap(r, pid, deadline);
}

static int spawn_and_wait(struct run *r, char *const argv[], bool keep_out,
			  const char *input)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, errp[2] = { -1, -1 };
	pid_t pid;

	if (make_pipe(in) || make_pipe(out) || make_pipe(errp)) {
		snprintf(r->why, sizeof(r->why), "pipe: %s", strerror(errno));
		goto done;
	}
	if (input && feed(in[1], input, r))
		goto done;
	/* stdin ends after the input (at once without input) */
	close_fd(&in[1]);
	int e = start(argv, in[0], out[1], errp[1], &pid);
	close_fd(&in[0]);
	close_fd(&out[1]);
	close_fd(&errp[1]);
	if (e) {
		r->missing = e == ENOENT;
		snprintf(r->why, sizeof(r->why), "cannot run %s: %s", argv[0],
			 e == ENOENT ? "not found in PATH" : strerror(e));
		goto done;
	}
	collect(r, pid, out[0], errp[0], keep_out);
done:
	for (int i = 0; i < 2; i++) {
		close_fd(&in[i]);
		close_fd(&out[i]);
		close_fd(&errp[i]);
	}
	if (keep_out && r->out.oom && r->status >= 0) {
		r->status = -1;
		snprintf(r->why, sizeof(r->why), "out of memory");
	}
	return r->status;
}

/* Runs the command line @fmt, split at spaces (every value put into it was
 * validated to hold none, so the split is exact and nothing is interpreted),
 * with @input (or nothing) on stdin; stdout is kept in r->out when @keep_out.
 * Returns the exit status, or -1 when the tool could not be run or did not
 * end (r->why says why); free r->out with run_free. */
static int run(struct run *r, bool keep_out, const char *input, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int run(struct run *r, bool keep_out, const char *input, const char *fmt, ...)
{
	char line[CMD_MAX], *argv[ARGS_MAX + 1], *save = NULL;
	int argc = 0;
	va_list ap;

	memset(r, 0, sizeof(*r));
	r->status = -1;
	va_start(ap, fmt);
	int n = vsnprintf(r->cmd, sizeof(r->cmd), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(r->cmd)) {
		snprintf(r->why, sizeof(r->why), "command line too long");
		return -1;
	}
	memcpy(line, r->cmd, (size_t)n + 1);
	for (char *tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		if (argc == ARGS_MAX) {
			snprintf(r->why, sizeof(r->why), "too many arguments");
			return -1;
		}
		argv[argc++] = tok;
	}
	argv[argc] = NULL;
	if (!argc) {
		snprintf(r->why, sizeof(r->why), "empty command");
		return -1;
	}
	return spawn_and_wait(r, argv, keep_out, input);
}

static void run_free(struct run *r)
{
	text_free(&r->out);
}

/* The useful part of a tool's stderr on one line: iptables' "Try `iptables
 * -h'" hint and nft's caret lines are left out. */
static void flat_stderr(const struct run *r, char *buf, size_t len)
{
	struct msg m;
	const char *s = r->err;

	msg_init(&m, buf, len);
	while (*s) {
		const char *e = strchr(s, '\n');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		bool useful = strncmp(s, "Try `", 5) != 0 &&
			      strspn(s, " \t^~") < n;
		while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
			n--;
		size_t lead = strspn(s, " \t");
		if (useful && n > lead)
			msg_add(&m, "%.*s", (int)(n - lead), s + lead);
		s += e ? (size_t)(e - s) + 1 : strlen(s);
	}
	if (!m.any && len)
		snprintf(buf, len, "no message");
}

/* Adds "`cmd`: what went wrong" to @m. */
static void msg_add_run(struct msg *m, const struct run *r)
{
	char why[STDERR_MAX + 64];

	if (r->status < 0) {
		msg_add(m, "%s: %s", r->cmd, r->why);
		return;
	}
	flat_stderr(r, why, sizeof(why));
	msg_add(m, "%s: exit %d: %s", r->cmd, r->status, why);
}

/* ---- reading the tools' listings ---- */

/* How many lines of @text are exactly @line. */
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

static bool have_ipv6(void)
{
	/* a kernel booted with ipv6.disable=1 has no IPv6 to protect, and
	 * ip6tables and `ip -6` fail there */
	return access("/proc/sys/net/ipv6", F_OK) == 0;
}

static const char *ip_family(bool v6)
{
	return v6 ? " -6" : "";
}

/* The main, default and local tables (and 0) must never be flushed. */
static bool table_reserved(unsigned long long t)
{
	return t == 0 || (t >= 253 && t <= 255) || t > UINT_MAX;
}

static void add_table(unsigned *tables, size_t *n, unsigned t)
{
	for (size_t i = 0; i < *n; i++)
		if (tables[i] == t)
			return;
	if (*n < MAX_TABLES)
		tables[(*n)++] = t;
}

/* Counts the `ip rule list` lines with our preference and notes the
 * (numeric) tables they look up. */
static size_t count_pref_rules(const char *text, unsigned *tables, size_t *ntables)
{
	char pref[16];
	size_t n = 0;

	snprintf(pref, sizeof(pref), "%u:", RULES_TUN_PREF);
	for (const char *s = text; s && *s; ) {
		const char *e = strchr(s, '\n');
		if (strncmp(s, pref, strlen(pref)) == 0) {
			n++;
			const char *l = strstr(s, " lookup ");
			if (l && (!e || l < e) && tables) {
				char *end;
				unsigned long long t = strtoull(l + 8, &end, 10);
				if (end != l + 8 && (*end == ' ' || *end == '\n' || !*end) &&
				    !table_reserved(t))
					add_table(tables, ntables, (unsigned)t);
			}
		}
		s = e ? e + 1 : NULL;
	}
	return n;
}

/* ---- validation ---- */

struct plan {
	uint16_t ports[RULES_MAX_PORTS];	/* sorted, no duplicates */
	size_t nports;
	unsigned qfirst, qlast;
	char ifname[IFNAMSIZ];
	unsigned table;
	bool ipv6;
};

static int cmp_port(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

static int plan_ports(struct plan *p, const struct rules_config *c,
		      char *err, size_t errlen)
{
	if (c->nports > RULES_MAX_PORTS) {
		snprintf(err, errlen, "%zu protected ports, at most %d are supported",
			 c->nports, RULES_MAX_PORTS);
		return -1;
	}
	if (c->nports && !c->ports) {
		snprintf(err, errlen, "no port list");
		return -1;
	}
	for (size_t i = 0; i < c->nports; i++) {
		if (c->ports[i] == 0) {
			snprintf(err, errlen, "port 0 is not a valid protected port (1-65535)");
			return -1;
		}
		p->ports[i] = c->ports[i];
	}
	qsort(p->ports, c->nports, sizeof(p->ports[0]), cmp_port);
	p->nports = 0;
	/* a port listed twice would make `ip rule add` fail with EEXIST */
	for (size_t i = 0; i < c->nports; i++)
		if (!p->nports || p->ports[p->nports - 1] != p->ports[i])
			p->ports[p->nports++] = p->ports[i];
	return 0;
}

static int check_table(unsigned t, unsigned *out, char *err, size_t errlen)
{
	if (!t)
		t = RULES_DEFAULT_TABLE;
	if (table_reserved(t)) {
		snprintf(err, errlen, "routing table %u is reserved (local, main or default)", t);
		return -1;
	}
	*out = t;
	return 0;
}

static int check_ifname(const char *n, char *err, size_t errlen)
{
	if (!n || !*n) {
		snprintf(err, errlen, "no TUN interface name");
		return -1;
	}
	size_t len = strlen(n);
	if (len >= IFNAMSIZ || strspn(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				      "0123456789._-") != len ||
	    n[0] == '-' || strcmp(n, ".") == 0 || strcmp(n, "..") == 0) {
		snprintf(err, errlen, "bad interface name (1-%d characters of "
			 "A-Z a-z 0-9 . _ -, not starting with -)", IFNAMSIZ - 1);
		return -1;
	}
	return 0;
}

static int plan_init(struct plan *p, const struct rules_config *c, bool tun,
		     char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	if (!c) {
		snprintf(err, errlen, "no configuration");
		return -1;
	}
	if (plan_ports(p, c, err, errlen))
		return -1;
	unsigned queues = c->queues ? c->queues : 1;
	if (c->queue > 65535 || queues > 65536 - c->queue) {
		snprintf(err, errlen, "queues %u-%u do not fit in 0-65535",
			 c->queue, c->queue + queues - 1);
		return -1;
	}
	p->qfirst = c->queue;
	p->qlast = c->queue + queues - 1;
	if (check_table(c->tun_table, &p->table, err, errlen))
		return -1;
	if (tun) {
		if (check_ifname(c->tun_ifname, err, errlen))
			return -1;
		snprintf(p->ifname, sizeof(p->ifname), "%s", c->tun_ifname);
		if (!p->nports) {
			snprintf(err, errlen, "the TUN path needs at least one protected port");
			return -1;
		}
	}
	p->ipv6 = have_ipv6();
	return 0;
}

/* ports[from, to) as "5066,5068" (xt) or "5066, 5068" (nft). */
static void port_list(struct text *t, const struct plan *p, size_t from, size_t to,
		      const char *sep)
{
	for (size_t i = from; i < to; i++)
		text_printf(t, "%s%u", i > from ? sep : "", p->ports[i]);
}

/* ---- nftables ---- */

static int nft_apply(struct text *rs, char *err, size_t errlen)
{
	struct run r;
	struct msg m;

	if (rs->oom) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (run(&r, false, rs->p, "nft -f -") == 0)
		return 0;
	msg_init(&m, err, errlen);
	msg_add_run(&m, &r);
	return -1;
}

/* Opens the transaction for table inet @name: creating the table before
 * deleting it makes the delete succeed whether or not a stale one exists,
 * and the whole file applies atomically or not at all. */
static void nft_begin(struct text *t, const char *name)
{
	text_printf(t, "table inet %s {}\ndelete table inet %s\ntable inet %s {\n",
		    name, name, name);
}

static void nft_chain(struct text *t, const char *name, const char *hook)
{
	text_printf(t, "\tchain %s {\n\t\ttype filter hook %s priority -300; policy accept;\n",
		    name, hook);
}

static void nft_port_rule(struct text *t, const struct plan *p, const char *match,
			  const char *proto, const char *dir, const char *verdict)
{
	text_printf(t, "\t\t%s%s %s { ", match, proto, dir);
	port_list(t, p, 0, p->nports, ", ");
	text_printf(t, " } %s\n", verdict);
}

/* No `bypass` flag: with no reader the kernel drops queued packets. */
static void nft_queue_stmt(char *buf, size_t len, const struct plan *p)
{
	if (p->qfirst == p->qlast)
		snprintf(buf, len, "queue num %u", p->qfirst);
	else
		snprintf(buf, len, "queue num %u-%u fanout", p->qfirst, p->qlast);
}

static int nft_install_nfqueue(const struct plan *p, char *err, size_t errlen)
{
	struct text t = { 0 };
	char q[48];

	nft_queue_stmt(q, sizeof(q), p);
	nft_begin(&t, NFT_TABLE);
	nft_chain(&t, "prerouting", "prerouting");
	text_printf(&t, "\t\tmeta l4proto esp %s\n", q);
	text_printf(&t, "\t\tudp dport %d %s\n", NATT_PORT, q);
	for (size_t i = 0; p->nports && i < ARRAY_LEN(l4protos); i++)
		nft_port_rule(&t, p, "iifname != \"lo\" ", l4protos[i], "dport", "drop");
	/* Its only purpose: a conntrack expression makes the kernel register
	 * conntrack, and with it defragmentation (priority -400), in this
	 * namespace, so that fragmented ESP reaches the queue whole. It sits
	 * last and decides nothing. */
	text_printf(&t, "\t\tct state invalid counter\n");
	text_printf(&t, "\t}\n");
	nft_chain(&t, "output", "output");
	for (size_t i = 0; p->nports && i < ARRAY_LEN(l4protos); i++)
		nft_port_rule(&t, p, "oifname != \"lo\" ", l4protos[i], "sport", q);
	text_printf(&t, "\t}\n}\n");
	int rc = nft_apply(&t, err, errlen);
	text_free(&t);
	return rc;
}

static int nft_install_tun(const struct plan *p, char *err, size_t errlen)
{
	struct text t = { 0 };
	char match[48];

	snprintf(match, sizeof(match), "iifname != \"%s\" ", p->ifname);
	nft_begin(&t, NFT_TUN_TABLE);
	nft_chain(&t, "prerouting", "prerouting");
	for (size_t i = 0; i < ARRAY_LEN(l4protos); i++)
		nft_port_rule(&t, p, match, l4protos[i], "dport", "drop");
	text_printf(&t, "\t}\n}\n");
	int rc = nft_apply(&t, err, errlen);
	text_free(&t);
	return rc;
}

/* ---- xt through iptables/ip6tables ---- */

/* Runs `@tool -w 5 -t raw <rule>`; -w matters for iptables-legacy's lock
 * and is accepted (and ignored) by iptables-nft. */
static int xt_rule(const char *tool, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int xt_rule(const char *tool, char *err, size_t errlen, const char *fmt, ...)
{
	char rule[CMD_MAX];
	struct run r;
	struct msg m;
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(rule, sizeof(rule), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(rule)) {
		snprintf(err, errlen, "%s rule too long", tool);
		return -1;
	}
	if (run(&r, false, NULL, "%s -w 5 -t raw %s", tool, rule) == 0)
		return 0;
	msg_init(&m, err, errlen);
	msg_add_run(&m, &r);
	return -1;
}

/* One rule per protocol and per MULTIPORT_MAX ports:
 * -A @chain @match-p udp -m multiport @opt P1,P2,... @target */
static int xt_multiport(const char *tool, const struct plan *p, const char *chain,
			const char *match, const char *opt, const char *target,
			char *err, size_t errlen)
{
	for (size_t i = 0; i < ARRAY_LEN(l4protos); i++) {
		for (size_t at = 0; at < p->nports; at += MULTIPORT_MAX) {
			size_t to = at + MULTIPORT_MAX < p->nports ? at + MULTIPORT_MAX : p->nports;
			struct text list = { 0 };
			port_list(&list, p, at, to, ",");
			int rc = list.oom ? -1 :
				 xt_rule(tool, err, errlen, "-A %s %s-p %s -m multiport %s %s %s",
					 chain, match, l4protos[i], opt, list.p, target);
			if (list.oom)
				snprintf(err, errlen, "out of memory");
			text_free(&list);
			if (rc)
				return -1;
		}
	}
	return 0;
}

/* The chains are filled before the jumps into them are added, so each
 * family's rules take effect at once. */
static int xt_nfqueue(const char *tool, const struct plan *p, char *err, size_t errlen)
{
	char q[80];

	/* no --queue-bypass: with no reader the kernel drops (fail closed).
	 * The conntrack match after the drops decides nothing (RETURN); it is
	 * there so that the kernel defragments before this chain: fragmented
	 * ESP must reach the queue whole. Loopback never leaves the host. */
	if (p->qfirst == p->qlast)
		snprintf(q, sizeof(q), "-j NFQUEUE --queue-num %u", p->qfirst);
	else
		snprintf(q, sizeof(q), "-j NFQUEUE --queue-balance %u:%u --queue-cpu-fanout",
			 p->qfirst, p->qlast);
	if (xt_rule(tool, err, errlen, "-N %s", XT_PRE) ||
	    xt_rule(tool, err, errlen, "-N %s", XT_OUT) ||
	    xt_rule(tool, err, errlen, "-A %s -p esp %s", XT_PRE, q) ||
	    xt_rule(tool, err, errlen, "-A %s -p udp --dport %d %s", XT_PRE, NATT_PORT, q) ||
	    xt_multiport(tool, p, XT_PRE, "! -i lo ", "--dports", "-j DROP", err, errlen) ||
	    xt_rule(tool, err, errlen, "-A %s -m conntrack --ctstate INVALID -j RETURN", XT_PRE) ||
	    xt_multiport(tool, p, XT_OUT, "! -o lo ", "--sports", q, err, errlen) ||
	    xt_rule(tool, err, errlen, "-I PREROUTING 1 -j %s", XT_PRE) ||
	    xt_rule(tool, err, errlen, "-I OUTPUT 1 -j %s", XT_OUT))
		return -1;
	return 0;
}

static int xt_tun(const char *tool, const struct plan *p, char *err, size_t errlen)
{
	char match[48];

	snprintf(match, sizeof(match), "! -i %s ", p->ifname);
	if (xt_rule(tool, err, errlen, "-N %s", XT_TUN) ||
	    xt_multiport(tool, p, XT_TUN, match, "--dports", "-j DROP", err, errlen) ||
	    xt_rule(tool, err, errlen, "-I PREROUTING 1 -j %s", XT_TUN))
		return -1;
	return 0;
}

static int xt_install(const struct plan *p, bool tun, char *err, size_t errlen)
{
	if (tun ? xt_tun("iptables", p, err, errlen) : xt_nfqueue("iptables", p, err, errlen))
		return -1;
	if (!p->ipv6)
		return 0;
	return tun ? xt_tun("ip6tables", p, err, errlen) :
		     xt_nfqueue("ip6tables", p, err, errlen);
}

/* ---- removal ---- */

static void nft_remove(struct msg *m)
{
	struct run r;
	char line[64];

	if (run(&r, true, NULL, "nft list tables") != 0) {
		if (!r.missing)
			msg_add_run(m, &r);
		run_free(&r);
		return;
	}
	for (size_t i = 0; i < ARRAY_LEN(nft_tables); i++) {
		struct run d;
		snprintf(line, sizeof(line), "table inet %s", nft_tables[i]);
		if (!count_lines(r.out.p, line))
			continue;
		if (run(&d, false, NULL, "nft delete table inet %s", nft_tables[i]) != 0)
			msg_add_run(m, &d);
	}
	run_free(&r);
}

/* Lists @tool's raw table; returns -1 (with the error added to @m unless the
 * tool is missing) when that fails. */
static int xt_list(const char *tool, struct run *r, struct msg *m)
{
	if (run(r, true, NULL, "%s -w 5 -t raw -S", tool) == 0 && !r->out_cut)
		return 0;
	if (r->out_cut)
		msg_add(m, "%s: listing too long", r->cmd);
	else if (!r->missing)
		msg_add_run(m, r);
	run_free(r);
	return -1;
}

/* Deletes the jumps into our chains (each as often as it appears: a crashed
 * daemon may have left several), then the chains. */
static void xt_remove(const char *tool, struct msg *m)
{
	char line[64], err[STDERR_MAX + 256];
	struct run r;

	if (xt_list(tool, &r, m))
		return;
	for (size_t c = 0; c < ARRAY_LEN(xt_chains); c++) {
		for (size_t h = 0; h < ARRAY_LEN(xt_hooks); h++) {
			snprintf(line, sizeof(line), "-A %s -j %s", xt_hooks[h], xt_chains[c]);
			size_t n = count_lines(r.out.p, line);
			for (size_t i = 0; i < n; i++) {
				if (xt_rule(tool, err, sizeof(err), "-D %s -j %s",
					    xt_hooks[h], xt_chains[c])) {
					msg_add(m, "%s", err);
					break;
				}
			}
		}
	}
	for (size_t c = 0; c < ARRAY_LEN(xt_chains); c++) {
		snprintf(line, sizeof(line), "-N %s", xt_chains[c]);
		if (!count_lines(r.out.p, line))
			continue;
		if (xt_rule(tool, err, sizeof(err), "-F %s", xt_chains[c]) ||
		    xt_rule(tool, err, sizeof(err), "-X %s", xt_chains[c]))
			msg_add(m, "%s", err);
	}
	run_free(&r);
}

/* Deletes every rule with our preference, noting the tables they used. */
static void ip_rules_remove(bool v6, unsigned *tables, size_t *ntables, struct msg *m)
{
	struct run r;

	if (run(&r, true, NULL, "ip%s rule list", ip_family(v6)) != 0) {
		if (!r.missing)
			msg_add_run(m, &r);
		run_free(&r);
		return;
	}
	size_t n = count_pref_rules(r.out.p, tables, ntables);
	run_free(&r);
	if (!n)
		return;
	/* one `ip rule del pref` per rule, in one process */
	struct text batch = { 0 };
	for (size_t i = 0; i < n; i++)
		text_printf(&batch, "rule del pref %u\n", RULES_TUN_PREF);
	if (batch.oom)
		msg_add(m, "out of memory");
	else if (run(&r, false, batch.p, "ip%s -batch -", ip_family(v6)) != 0)
		msg_add_run(m, &r);
	text_free(&batch);
}

static bool table_missing(const struct run *r)
{
	return r->status > 0 && strstr(r->err, "does not exist");
}

static void ip_routes_flush(bool v6, unsigned table, struct msg *m)
{
	struct run r;

	if (run(&r, true, NULL, "ip%s route show table %u", ip_family(v6), table) != 0) {
		if (!r.missing && !table_missing(&r))
			msg_add_run(m, &r);
		run_free(&r);
		return;
	}
	bool empty = !r.out.len;
	bool unreachable = r.out.len && strstr(r.out.p, "unreachable default");
	run_free(&r);
	if (empty)
		return;
	/* `ip -6 route flush` leaves unreachable routes: that one by name */
	if (unreachable &&
	    run(&r, false, NULL, "ip%s route del unreachable default metric 4294967295 table %u",
		ip_family(v6), table) != 0)
		msg_add_run(m, &r);
	if (run(&r, false, NULL, "ip%s route flush table %u", ip_family(v6), table) != 0 &&
	    !table_missing(&r))
		msg_add_run(m, &r);
}

int rules_remove_all(unsigned tun_table, char *err, size_t errlen)
{
	unsigned tables[MAX_TABLES];
	size_t ntables = 0;
	bool v6 = have_ipv6();
	struct msg m;

	if (check_table(tun_table, &tables[0], err, errlen))
		return -1;
	ntables = 1;
	msg_init(&m, err, errlen);
	/* the policy rules go first so nothing is routed to a table while it
	 * is being emptied */
	ip_rules_remove(false, tables, &ntables, &m);
	if (v6)
		ip_rules_remove(true, tables, &ntables, &m);
	for (size_t i = 0; i < ntables; i++) {
		ip_routes_flush(false, tables[i], &m);
		if (v6)
			ip_routes_flush(true, tables[i], &m);
	}
	nft_remove(&m);
	xt_remove("iptables", &m);
	if (v6)
		xt_remove("ip6tables", &m);
	return m.any ? -1 : 0;
}

/* ---- installation ---- */

/* Undoes a failed installation, keeping the first error in @err. */
static void undo(const struct plan *p, char *err, size_t errlen)
{
	char rerr[1024];

	if (rules_remove_all(p->table, rerr, sizeof(rerr)) == 0)
		return;
	size_t used = strlen(err);
	if (used + 1 < errlen)
		snprintf(err + used, errlen - used, "; cleaning up: %s", rerr);
}

/* ---- the ICMP guard, both paths ----
 * An ICMP error quotes the packet it is about. When that packet was
 * decapsulated here (a port nobody listens on, a TTL run out), the error
 * would carry protected plaintext out in clear, since ICMP has no ports for
 * the diversion to catch. Outgoing ICMP errors that quote a protected port,
 * as source or destination, are dropped. The quoted IPv4 header is taken to
 * be 20 bytes; errors quoting one with options are dropped too. */

static const char nft_icmp4_errors[] =
	"icmp type { destination-unreachable, source-quench, redirect, time-exceeded, parameter-problem }";
static const char nft_icmp6_errors[] =
	"icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem }";

static int nft_install_guard(const struct plan *p, char *err, size_t errlen)
{
	struct text t = { 0 };

	nft_begin(&t, NFT_GUARD_TABLE);
	nft_chain(&t, "output", "output");
	text_printf(&t, "\t\t%s @th,64,8 != 0x45 drop\n", nft_icmp4_errors);
	/* bits: ICMP header 8 bytes, quoted IPv4 20 or IPv6 40, then ports */
	static const unsigned offsets[4] = { 224, 240, 384, 400 };
	for (int i = 0; i < 4; i++) {
		text_printf(&t, "\t\t%s @th,%u,16 { ", i < 2 ? nft_icmp4_errors : nft_icmp6_errors,
			    offsets[i]);
		port_list(&t, p, 0, p->nports, ", ");
		text_printf(&t, " } drop\n");
	}
	text_printf(&t, "\t}\n}\n");
	int rc = nft_apply(&t, err, errlen);
	text_free(&t);
	return rc;
}

#define U32_VALUES 10	/* xt_u32's limit on alternatives in one test */

/* The same with xt's u32 match: @type_test picks ICMP errors, @port_at is
 * where the quoted ports are, >>16 the source and &0xFFFF the destination. */
static int xt_guard_family(const char *tool, const struct plan *p, const char *proto,
			   const char *type_test, const char *port_at, char *err, size_t errlen)
{
	static const char *const halves[] = { ">>16", "&0xFFFF" };

	for (int h = 0; h < 2; h++) {
		for (size_t at = 0; at < p->nports; at += U32_VALUES) {
			size_t to = at + U32_VALUES < p->nports ? at + U32_VALUES : p->nports;
			struct text list = { 0 };
			port_list(&list, p, at, to, ",");
			int rc = list.oom ? -1 :
				 xt_rule(tool, err, errlen,
					 "-A %s -p %s -m u32 --u32 %s&&%s%s=%s -j DROP",
					 XT_GUARD, proto, type_test, port_at, halves[h], list.p);
			text_free(&list);
			if (rc)
				return -1;
		}
	}
	return 0;
}

static int xt_install_guard(const struct plan *p, char *err, size_t errlen)
{
	/* IPv4: the ICMP header sits after the outer header's IHL words */
	static const char v4_type[] = "0>>22&0x3C@0>>24=3:5,11:12";
	static const char v4_ports[] = "0>>22&0x3C@28";
	static const char v6_type[] = "40>>24=1:4";

	if (xt_rule("iptables", err, errlen, "-N %s", XT_GUARD) ||
	    xt_rule("iptables", err, errlen,
		    "-A %s -p icmp -m u32 --u32 %s -m u32 ! --u32 0>>22&0x3C@8>>24=0x45 -j DROP",
		    XT_GUARD, v4_type) ||
	    xt_guard_family("iptables", p, "icmp", v4_type, v4_ports, err, errlen) ||
	    xt_rule("iptables", err, errlen, "-I OUTPUT 1 -j %s", XT_GUARD))
		return -1;
	if (!p->ipv6)
		return 0;
	if (xt_rule("ip6tables", err, errlen, "-N %s", XT_GUARD) ||
	    xt_guard_family("ip6tables", p, "ipv6-icmp", v6_type, "88", err, errlen) ||
	    xt_rule("ip6tables", err, errlen, "-I OUTPUT 1 -j %s", XT_GUARD))
		return -1;
	return 0;
}

static int install_guard(const struct plan *p, char *err, size_t errlen)
{
	char nerr[STDERR_MAX + 256];

	if (!p->nports || nft_install_guard(p, nerr, sizeof(nerr)) == 0)
		return 0;
	if (xt_install_guard(p, err, errlen) == 0)
		return 0;
	size_t n = strlen(err);
	snprintf(err + n, errlen > n ? errlen - n : 0, " (nft: %s)", nerr);
	return -1;
}

int rules_install_nfqueue(const struct rules_config *c, enum rules_backend *used,
			  char *err, size_t errlen)
{
	char nerr[STDERR_MAX + 256], xerr[STDERR_MAX + 256];
	struct plan p;

	*used = RULES_NONE;
	if (plan_init(&p, c, false, err, errlen) ||
	    rules_remove_all(p.table, err, errlen))
		return -1;
	if (nft_install_nfqueue(&p, nerr, sizeof(nerr)) == 0) {
		*used = RULES_NFT;
		if (errlen)
			err[0] = '\0';
	} else if (xt_install(&p, false, xerr, sizeof(xerr)) == 0) {
		/* kernels without CONFIG_NFT_QUEUE refuse the nft queue
		 * statement; the xt NFQUEUE target (nft_compat) does the same */
		*used = RULES_XT;
		snprintf(err, errlen, "nft refused, using xt: %s", nerr);
	}
	if (*used != RULES_NONE) {
		if (install_guard(&p, xerr, sizeof(xerr)) == 0)
			return 0;
		snprintf(err, errlen, "ICMP guard: %s", xerr);
		*used = RULES_NONE;
		undo(&p, err, errlen);
		return -1;
	}
	snprintf(err, errlen, "nft: %s; xt: %s", nerr, xerr);
	undo(&p, err, errlen);
	return -1;
}

static int ip_routes_add(const struct plan *p, char *err, size_t errlen)
{
	struct run r;
	struct msg m;

	/* Behind the route through the device, an unreachable one: when the
	 * daemon dies its TUN device goes, and with it the route through it,
	 * and protected traffic must then fail rather than take the main
	 * table's route in clear. */
	for (int v6 = 0; v6 <= (int)p->ipv6; v6++) {
		if (run(&r, false, NULL, "ip%s route replace unreachable default metric 4294967295 table %u",
			ip_family(v6), p->table) != 0 ||
		    run(&r, false, NULL, "ip%s route replace default dev %s table %u",
			ip_family(v6), p->ifname, p->table) != 0) {
			msg_init(&m, err, errlen);
			msg_add_run(&m, &r);
			return -1;
		}
	}
	return 0;
}

/* All of a family's `ip rule add`s in one `ip -batch -`, which stops at the
 * first failure with a non-zero exit. */
static int ip_rules_add(const struct plan *p, char *err, size_t errlen)
{
	for (int v6 = 0; v6 <= (int)p->ipv6; v6++) {
		struct text batch = { 0 };
		struct run r;
		struct msg m;
		for (size_t i = 0; i < ARRAY_LEN(l4protos); i++)
			for (size_t j = 0; j < p->nports; j++)
				text_printf(&batch, "rule add pref %u ipproto %s sport %u lookup %u\n",
					    RULES_TUN_PREF, l4protos[i], p->ports[j], p->table);
		bool oom = batch.oom;
		int rc = oom ? -1 : run(&r, false, batch.p, "ip%s -batch -", ip_family(v6));
		text_free(&batch);
		if (rc != 0) {
			msg_init(&m, err, errlen);
			if (oom)
				msg_add(&m, "out of memory");
			else
				msg_add_run(&m, &r);
			return -1;
		}
	}
	return 0;
}

int rules_install_tun(const struct rules_config *c, enum rules_backend *used,
		      char *err, size_t errlen)
{
	char nerr[STDERR_MAX + 256], xerr[STDERR_MAX + 256];
	enum rules_backend b;
	struct plan p;

	*used = RULES_NONE;
	if (plan_init(&p, c, true, err, errlen) ||
	    rules_remove_all(p.table, err, errlen))
		return -1;
	if (nft_install_tun(&p, nerr, sizeof(nerr)) == 0) {
		b = RULES_NFT;
	} else if (xt_install(&p, true, xerr, sizeof(xerr)) == 0) {
		b = RULES_XT;
	} else {
		snprintf(err, errlen, "nft: %s; xt: %s", nerr, xerr);
		undo(&p, err, errlen);
		return -1;
	}
	/* the route before the rules: a rule pointing at an empty table
	 * would let the packets fall through to the main table in plaintext */
	if (install_guard(&p, err, errlen) || ip_routes_add(&p, err, errlen) ||
	    ip_rules_add(&p, err, errlen)) {
		undo(&p, err, errlen);
		return -1;
	}
	*used = b;
	if (b == RULES_XT)
		snprintf(err, errlen, "nft refused, using xt: %s", nerr);
	else if (errlen)
		err[0] = '\0';
	return 0;
}

/* ---- description ---- */

static size_t count_nonempty_lines(const char *text)
{
	size_t n = 0;

	for (const char *s = text; s && *s; ) {
		const char *e = strchr(s, '\n');
		if (e != s)
			n++;
		s = e ? e + 1 : NULL;
	}
	return n;
}

static void describe_xt(const char *tool, struct msg *m, int *rc)
{
	char err[256], line[64];
	struct text chains = { 0 };
	struct msg scratch;
	struct run r;

	msg_init(&scratch, err, sizeof(err));
	if (xt_list(tool, &r, &scratch)) {
		if (scratch.any) {
			msg_add(m, "%s: cannot list (%s)", tool, err);
			*rc = -1;
		}
		return;
	}
	for (size_t c = 0; c < ARRAY_LEN(xt_chains); c++) {
		snprintf(line, sizeof(line), "-N %s", xt_chains[c]);
		if (count_lines(r.out.p, line))
			text_printf(&chains, " %s", xt_chains[c]);
	}
	if (chains.len)
		msg_add(m, "%s raw%s", tool, chains.p);
	text_free(&chains);
	run_free(&r);
}

static void describe_routes(bool v6, unsigned table, size_t *n, struct msg *m, int *rc)
{
	struct run r;

	if (run(&r, true, NULL, "ip%s route show table %u", ip_family(v6), table) == 0)
		*n += count_nonempty_lines(r.out.p);
	else if (!r.missing && !table_missing(&r)) {
		msg_add(m, "ip%s route: cannot list table %u", ip_family(v6), table);
		*rc = -1;
	}
	run_free(&r);
}

int rules_describe(char *buf, size_t len)
{
	unsigned tables[MAX_TABLES] = { RULES_DEFAULT_TABLE };
	size_t ntables = 1, nrules = 0;
	bool v6 = have_ipv6();
	struct msg m;
	struct run r;
	int rc = 0;

	msg_init(&m, buf, len);
	if (run(&r, true, NULL, "nft list tables") == 0) {
		char line[64];
		for (size_t i = 0; i < ARRAY_LEN(nft_tables); i++) {
			snprintf(line, sizeof(line), "table inet %s", nft_tables[i]);
			if (count_lines(r.out.p, line))
				msg_add(&m, "nft %s", line);
		}
	} else if (!r.missing) {
		msg_add(&m, "nft: cannot list tables");
		rc = -1;
	}
	run_free(&r);
	describe_xt("iptables", &m, &rc);
	if (v6)
		describe_xt("ip6tables", &m, &rc);
	for (int f = 0; f <= (int)v6; f++) {
		if (run(&r, true, NULL, "ip%s rule list", ip_family(f)) == 0) {
			nrules += count_pref_rules(r.out.p, tables, &ntables);
		} else if (!r.missing) {
			msg_add(&m, "ip%s rule: cannot list", ip_family(f));
			rc = -1;
		}
		run_free(&r);
	}
	if (nrules)
		msg_add(&m, "ip rules pref %u (%zu)", RULES_TUN_PREF, nrules);
	for (size_t i = 0; i < ntables; i++) {
		size_t n = 0;
		describe_routes(false, tables[i], &n, &m, &rc);
		if (v6)
			describe_routes(true, tables[i], &n, &m, &rc);
		if (n)
			msg_add(&m, "routes in table %u (%zu)", tables[i], n);
	}
	if (!m.any)
		msg_add(&m, "no espnatd rules");
	return rc;
}

const char *rules_backend_name(enum rules_backend b)
{
	switch (b) {
	case RULES_NFT:
		return "nft";
	case RULES_XT:
		return "xt";
	default:
		return "none";
	}
}
