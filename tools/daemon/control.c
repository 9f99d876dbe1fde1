#include "tools/daemon/control.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "tools/clock.h"
#include "tools/daemon/commands.h"
#include "tools/json.h"

/* Answers wait in a client's queue and leave as fast as it reads them: the
 * main loop (timers, keepalives, other clients) never waits for a client.
 * A client with OUT_HIGH bytes waiting gets no more requests answered until
 * it reads; one that reads nothing for STALL_MS, or follows events so far
 * behind that OUT_MAX would be passed, is dropped. */
#define OUT_HIGH (1u << 20)
#define OUT_MAX (16u << 20)
#define STALL_MS 10000
#define OUT_KEEP (64u << 10)

struct client {
	int fd;			/* non-blocking */
	bool events;		/* following the event stream */
	bool eof;		/* sent all it will: answer what it sent, then close */
	size_t len;		/* request bytes held */
	char buf[CONTROL_MAX_REQUEST];
	char *out;		/* answers not taken yet: out[off .. len) */
	size_t out_len, out_off, out_cap;
	uint64_t stalled_ms;	/* since when nothing was taken; 0: not */
};

struct control {
	struct daemon *d;
	int listen_fd;
	bool group_set;
	gid_t group;		/* control-group: its members may connect */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct client *clients[CONTROL_MAX_CLIENTS];
};

static int unix_address(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -1;
	memcpy(sa->sun_path, path, strlen(path));
	return 0;
}

/* A socket file nobody answers on is left over from a crash: reuse it.
 * One somebody answers on belongs to a running daemon: do not. */
static int claim_path(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || unix_address(path, &sa)) {
		snprintf(err, errlen, "control socket path '%s' unusable", path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	int live = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	if (live) {
		snprintf(err, errlen, "another espnatd answers on %s", path);
		return -1;
	}
	unlink(path);
	return 0;
}

/* The socket becomes the group's too (0660): a SIP server that runs as
 * its own user (Debian's Kamailio) may then drive espnatd. */
static int open_to_group(struct control *c, const char *name, char *err, size_t errlen)
{
	struct group gr, *found = NULL;
	char buf[4096];

	if (getgrnam_r(name, &gr, buf, sizeof(buf), &found) != 0 || !found) {
		snprintf(err, errlen, "control-group: no group '%s'", name);
		return -1;
	}
	if (chown(c->path, (uid_t)-1, found->gr_gid) < 0 || chmod(c->path, 0660) < 0) {
		snprintf(err, errlen, "control socket %s: %s", c->path, strerror(errno));
		return -1;
	}
	c->group = found->gr_gid;
	c->group_set = true;
	return 0;
}

struct control *control_open(struct daemon *d, char *err, size_t errlen)
{
	struct control *c = calloc(1, sizeof(*c));
	struct sockaddr_un sa;

	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->d = d;
	c->listen_fd = -1;
	snprintf(c->path, sizeof(c->path), "%s", d->cfg.control);
	if (claim_path(c->path, err, errlen))
		goto fail;
	unix_address(c->path, &sa);
	c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	/* created owner-only: nobody else may even connect */
	mode_t old = umask(0177);
	int rc = c->listen_fd < 0 ? -1 :
		 bind(c->listen_fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || chmod(c->path, 0600) < 0 || listen(c->listen_fd, 16) < 0) {
		snprintf(err, errlen, "control socket %s: %s", c->path, strerror(errno));
		goto fail;
	}
	if (d->cfg.control_group[0] && open_to_group(c, d->cfg.control_group, err, errlen))
		goto fail;
	return c;
fail:
	control_close(c);
	return NULL;
}

static void drop_client(struct control *c, int i)
{
	struct client *cl = c->clients[i];

	close(cl->fd);
	OPENSSL_cleanse(cl->buf, cl->len);
	/* answers may hold keys (sa list keys) */
	if (cl->out)
		OPENSSL_cleanse(cl->out, cl->out_len);
	free(cl->out);
	free(cl);
	c->clients[i] = NULL;
	/* a client's buffers are large (64 KiB in, up to an answer out): give
	 * them back, or churning clients leave the heap fragmented and big */
	malloc_trim(0);
}

void control_close(struct control *c)
{
	if (!c)
		return;
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (c->clients[i])
			drop_client(c, i);
	if (c->listen_fd >= 0) {
		close(c->listen_fd);
		unlink(c->path);
	}
	free(c);
}

/* Writes all of @s and a newline, or gives up when the socket (non-blocking)
 * takes no more: for one short line to a client about to be closed. */
static int send_line(int fd, const char *s)
{
	size_t len = strlen(s), off = 0;

	while (off < len) {
		ssize_t n = send(fd, s + off, len - off, MSG_NOSIGNAL);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			return -1;
		}
		off += (size_t)n;
	}
	return send(fd, "\n", 1, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

/* The answer, then the close. A client usually wrote its request before
 * we accepted it; closing with that unread would reset the connection
 * (AF_UNIX) and lose the answer on its side, so it is read away first. */
static void refuse(int fd, const char *why)
{
	char line[256], sink[4096];

	snprintf(line, sizeof(line), "{\"ok\":false,\"error\":\"%s\"}", why);
	send_line(fd, line);
	shutdown(fd, SHUT_WR);
	for (int i = 0; i < 16 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
		;
	close(fd);
}

/* The peer's credentials as the kernel holds them for the connecting
 * process (SO_PEERGROUPS: its supplementary groups now, not what
 * /etc/group says the user could have). */
static bool peer_in_group(int fd, gid_t primary, gid_t want)
{
	gid_t small[64], *groups = small;
	socklen_t len = sizeof(small);
	bool found = primary == want;

	if (found)
		return true;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0) {
		if (errno != ERANGE || !(groups = malloc(len)))
			return false;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
			len = 0;
	}
	for (size_t i = 0; i < len / sizeof(gid_t) && !found; i++)
		found = groups[i] == want;
	if (groups != small)
		free(groups);
	return found;
}

/* Root, whoever runs the daemon, and members of control-group. The
 * socket's mode says so too; this holds if the file's mode is ever
 * changed. */
static bool peer_allowed(const struct control *c, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	if (cred.uid == 0 || cred.uid == geteuid())
		return true;
	return c->group_set && peer_in_group(fd, cred.gid, c->group);
}

static void accept_clients(struct control *c)
{
	for (;;) {
		int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		if (!peer_allowed(c, fd)) {
			refuse(fd, c->group_set ?
				   "permission denied: the control socket is for root and its group" :
				   "permission denied: the control socket is for root");
			continue;
		}
		int slot = -1;
		for (int i = 0; i < CONTROL_MAX_CLIENTS && slot < 0; i++)
			if (!c->clients[i])
				slot = i;
		struct client *cl = slot >= 0 ? calloc(1, sizeof(*cl)) : NULL;
		if (!cl) {
			refuse(fd, "too many control connections");
			continue;
		}
		cl->fd = fd;
		c->clients[slot] = cl;
	}
}

static size_t waiting(const struct client *cl)
{
	return cl->out_len - cl->out_off;
}

/* Queues @line and a newline. Refused (false) past OUT_MAX, unless nothing
 * waits: one answer may be as big as it must. */
static bool queue_line(struct client *cl, const char *line)
{
	size_t n = strlen(line) + 1;

	if (waiting(cl) && waiting(cl) + n > OUT_MAX)
		return false;
	if (cl->out_off && cl->out_len + n > cl->out_cap) {
		/* what was taken makes room at the front */
		memmove(cl->out, cl->out + cl->out_off, waiting(cl));
		OPENSSL_cleanse(cl->out + waiting(cl), cl->out_off);
		cl->out_len -= cl->out_off;
		cl->out_off = 0;
	}
	if (cl->out_len + n > cl->out_cap) {
		size_t cap = cl->out_cap ? cl->out_cap : 4096;
		while (cap < cl->out_len + n)
			cap *= 2;
		char *nb = malloc(cap);
		if (!nb)
			return false;
		if (cl->out_len)
			memcpy(nb, cl->out, cl->out_len);
		if (cl->out)
			OPENSSL_cleanse(cl->out, cl->out_len);
		free(cl->out);
		cl->out = nb;
		cl->out_cap = cap;
	}
	memcpy(cl->out + cl->out_len, line, n - 1);
	cl->out[cl->out_len + n - 1] = '\n';
	cl->out_len += n;
	return true;
}

/* Sends what the socket takes now; false when the client is gone. */
static bool flush_client(struct client *cl, uint64_t now)
{
	bool moved = false;

	while (waiting(cl)) {
		ssize_t n = send(cl->fd, cl->out + cl->out_off, waiting(cl),
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0)
			return false;
		cl->out_off += (size_t)n;
		moved = true;
	}
	if (!waiting(cl)) {
		OPENSSL_cleanse(cl->out, cl->out_len);
		cl->out_len = cl->out_off = 0;
		cl->stalled_ms = 0;
		if (cl->out_cap > OUT_KEEP) {
			/* a big answer's room is not kept for the next small one */
			free(cl->out);
			cl->out = NULL;
			cl->out_cap = 0;
		}
	} else if (moved || !cl->stalled_ms) {
		cl->stalled_ms = now;
	}
	return true;
}

static bool answer(struct control *c, int i, char *line)
{
	bool follow;
	char *out = commands_run(c->d, line, &follow);

	if (!out)
		return false;
	bool queued = queue_line(c->clients[i], out);
	OPENSSL_cleanse(out, strlen(out));
	free(out);
	if (follow)
		c->clients[i]->events = true;
	return queued;
}

/* Answers the complete lines held, as long as the client keeps up; false
 * when it is to be dropped. */
static bool answer_lines(struct control *c, int i)
{
	struct client *cl = c->clients[i];
	size_t at = 0;
	bool alive = true;

	while (alive && waiting(cl) < OUT_HIGH) {
		char *start = cl->buf + at, *nl = memchr(start, '\n', cl->len - at);
		if (!nl)
			break;
		*nl = '\0';
		size_t used = (size_t)(nl - start) + 1;
		if (memchr(start, '\0', used - 1))
			alive = queue_line(cl, "{\"ok\":false,\"error\":\"a request may not hold NUL bytes\"}");
		else
			alive = answer(c, i, start);
		at += used;
	}
	/* requests may hold keys: what was read is wiped as it is dropped */
	OPENSSL_cleanse(cl->buf, at);
	memmove(cl->buf, cl->buf + at, cl->len - at);
	cl->len -= at;
	return alive;
}

static bool has_line(const struct client *cl)
{
	return memchr(cl->buf, '\n', cl->len) != NULL;
}

/* Answers held requests and sends, until the client's socket is full or
 * nothing is left to answer; false when the client is to be dropped. */
static bool serve(struct control *c, int i, uint64_t now)
{
	struct client *cl = c->clients[i];

	/* each round answers at least one line, or returns */
	for (;;) {
		if (!flush_client(cl, now))
			return false;
		if (waiting(cl) >= OUT_HIGH || !has_line(cl))
			return true;
		if (!answer_lines(c, i))
			return false;
	}
}

/* A client that said all it will, and took all its answers. */
static bool finished(const struct client *cl)
{
	return cl->eof && !waiting(cl) && !memchr(cl->buf, '\n', cl->len);
}

/* Reads what arrived, answers what it can, sends what the client takes. */
static void read_client(struct control *c, int i, uint64_t now)
{
	struct client *cl = c->clients[i];
	ssize_t n = recv(cl->fd, cl->buf + cl->len, sizeof(cl->buf) - 1 - cl->len,
			 MSG_DONTWAIT);

	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		drop_client(c, i);
		return;
	}
	if (n == 0)
		cl->eof = true;
	if (n > 0)
		cl->len += (size_t)n;
	if (!serve(c, i, now) || finished(cl)) {
		drop_client(c, i);
		return;
	}
	if (cl->len == sizeof(cl->buf) - 1 && !memchr(cl->buf, '\n', cl->len)) {
		/* a line longer than any request: not worth waiting for */
		refuse(cl->fd, "request too long");
		cl->fd = -1;
		OPENSSL_cleanse(cl->buf, cl->len);
		if (cl->out)
			OPENSSL_cleanse(cl->out, cl->out_len);
		free(cl->out);
		free(cl);
		c->clients[i] = NULL;
	}
}

int control_pollfds(struct control *c, struct pollfd *pfd, int max)
{
	int n = 0;

	if (max < 1)
		return 0;
	pfd[n++] = (struct pollfd){ .fd = c->listen_fd, .events = POLLIN };
	for (int i = 0; i < CONTROL_MAX_CLIENTS && n < max; i++) {
		const struct client *cl = c->clients[i];
		short ev = 0;
		if (cl) {
			/* a client behind on its answers sends no more requests in */
			ev = waiting(cl) < OUT_HIGH && !cl->eof ? POLLIN : 0;
			ev |= waiting(cl) ? POLLOUT : 0;
		}
		pfd[n++] = (struct pollfd){ .fd = cl ? cl->fd : -1, .events = ev };
	}
	return n;
}

void control_handle(struct control *c, const struct pollfd *pfd, int n)
{
	uint64_t now = monotonic_ms();

	/* The clients first, then the newcomers: a client that hung up gives
	 * its slot back before the queue of connections is taken, or at the
	 * limit a newcomer is refused for a slot already free. */
	for (int i = 0; i + 1 < n && i < CONTROL_MAX_CLIENTS; i++) {
		struct client *cl = c->clients[i];
		short re = pfd[i + 1].revents;
		if (!cl || pfd[i + 1].fd != cl->fd)
			continue;
		if (re & (POLLOUT | POLLERR | POLLHUP)) {
			/* taken what waited: its held requests may go on */
			if (!serve(c, i, now) || finished(cl)) {
				drop_client(c, i);
				continue;
			}
		}
		if (re & POLLIN)
			read_client(c, i, now);
		else if ((re & (POLLERR | POLLHUP)) && c->clients[i] && !waiting(c->clients[i]))
			drop_client(c, i);
	}
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (c->clients[i] && c->clients[i]->stalled_ms &&
		    now - c->clients[i]->stalled_ms > STALL_MS)
			drop_client(c, i);
	if (n > 0 && pfd[0].revents)
		accept_clients(c);
}

void control_broadcast(struct control *c, const struct esp_event *ev)
{
	struct json_writer w;
	uint64_t now = monotonic_ms();

	memset(&w, 0, sizeof(w));
	commands_event_json(ev, &w);
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		struct client *cl = c->clients[i];
		if (cl && cl->events && (!queue_line(cl, json_w_text(&w)) || !flush_client(cl, now)))
			drop_client(c, i);
	}
	json_w_free(&w);
}

char *control_request(struct daemon *d, const char *line)
{
	bool follow;
	char *copy = strdup(line);

	if (!copy)
		return NULL;
	char *out = commands_run(d, copy, &follow);
	OPENSSL_cleanse(copy, strlen(copy));
	free(copy);
	return out;
}
