#include "tools/daemon/control.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "tools/daemon/commands.h"
#include "tools/json.h"

struct client {
	int fd;
	bool events;		/* following the event stream */
	size_t len;
	char buf[CONTROL_MAX_REQUEST];
};

struct control {
	struct daemon *d;
	int listen_fd;
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
	free(cl);
	c->clients[i] = NULL;
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

/* Writes all of @s and a newline, or gives up on a client that does not
 * read within the socket's send timeout. */
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

/* Root, or whoever runs the daemon. The socket's mode says so too; this
 * holds if the file's mode is ever changed. */
static bool peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	return cred.uid == 0 || cred.uid == geteuid();
}

static void accept_clients(struct control *c)
{
	for (;;) {
		int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (!peer_allowed(fd)) {
			refuse(fd, "permission denied: the control socket is for root");
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
		/* answers are written blocking, but never for long */
		struct timeval tv = { .tv_sec = 5 };
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		cl->fd = fd;
		c->clients[slot] = cl;
	}
}

/* Answers of one read, sent together: a client that pipelines requests
 * wakes once per batch, not once per line. */
struct replies {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void reply(struct replies *r, const char *line)
{
	size_t n = strlen(line) + 1;

	if (r->failed)
		return;
	if (r->len + n > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		while (cap < r->len + n)
			cap *= 2;
		char *nb = malloc(cap);
		if (!nb) {
			r->failed = true;
			return;
		}
		if (r->len)
			memcpy(nb, r->buf, r->len);
		OPENSSL_cleanse(r->buf, r->len);
		free(r->buf);
		r->buf = nb;
		r->cap = cap;
	}
	memcpy(r->buf + r->len, line, n - 1);
	r->buf[r->len + n - 1] = '\n';
	r->len += n;
}

/* Sends them; false when the client is to be dropped. */
static bool send_replies(int fd, struct replies *r)
{
	size_t off = 0;
	bool ok = !r->failed;

	while (ok && off < r->len) {
		ssize_t n = send(fd, r->buf + off, r->len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		ok = n > 0;
		off += n > 0 ? (size_t)n : 0;
	}
	OPENSSL_cleanse(r->buf, r->len);
	free(r->buf);
	*r = (struct replies){ 0 };
	return ok;
}

static bool answer(struct control *c, int i, char *line, struct replies *r)
{
	bool follow;
	char *out = commands_run(c->d, line, &follow);

	if (!out)
		return false;
	reply(r, out);
	OPENSSL_cleanse(out, strlen(out));
	free(out);
	if (follow)
		c->clients[i]->events = true;
	return true;
}

/* Reads what arrived and answers every complete line. */
static void read_client(struct control *c, int i)
{
	struct client *cl = c->clients[i];
	struct replies r = { 0 };
	ssize_t n = recv(cl->fd, cl->buf + cl->len, sizeof(cl->buf) - 1 - cl->len,
			 MSG_DONTWAIT);
	size_t at = 0;
	bool alive = true;

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		drop_client(c, i);
		return;
	}
	if (n < 0)
		return;
	cl->len += (size_t)n;
	for (;;) {
		char *start = cl->buf + at, *nl = memchr(start, '\n', cl->len - at);
		if (!nl)
			break;
		*nl = '\0';
		size_t used = (size_t)(nl - start) + 1;
		if (memchr(start, '\0', used - 1))
			reply(&r, "{\"ok\":false,\"error\":\"a request may not hold NUL bytes\"}");
		else if (!answer(c, i, start, &r))
			alive = false;
		at += used;
		if (!alive)
			break;
	}
	/* requests may hold keys: what was read is wiped as it is dropped */
	OPENSSL_cleanse(cl->buf, at);
	memmove(cl->buf, cl->buf + at, cl->len - at);
	cl->len -= at;
	if (!send_replies(cl->fd, &r) || !alive) {
		drop_client(c, i);
		return;
	}
	if (cl->len == sizeof(cl->buf) - 1) {
		/* a line longer than any request: not worth waiting for */
		refuse(cl->fd, "request too long");
		cl->fd = -1;
		OPENSSL_cleanse(cl->buf, cl->len);
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
	for (int i = 0; i < CONTROL_MAX_CLIENTS && n < max; i++)
		pfd[n++] = (struct pollfd){ .fd = c->clients[i] ? c->clients[i]->fd : -1,
					    .events = POLLIN };
	return n;
}

void control_handle(struct control *c, const struct pollfd *pfd, int n)
{
	if (n > 0 && pfd[0].revents)
		accept_clients(c);
	for (int i = 0; i + 1 < n && i < CONTROL_MAX_CLIENTS; i++)
		if (c->clients[i] && pfd[i + 1].fd == c->clients[i]->fd && pfd[i + 1].revents)
			read_client(c, i);
}

void control_broadcast(struct control *c, const struct esp_event *ev)
{
	struct json_writer w;

	memset(&w, 0, sizeof(w));
	commands_event_json(ev, &w);
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		struct client *cl = c->clients[i];
		if (cl && cl->events && send_line(cl->fd, json_w_text(&w)) < 0)
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
