#include "tools/lab/sip.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static const struct {
	const char *compact, *full;
} compact_forms[] = {
	{ "v", "Via" }, { "f", "From" }, { "t", "To" }, { "i", "Call-ID" },
	{ "m", "Contact" }, { "l", "Content-Length" }, { "c", "Content-Type" },
};

static const char *full_name(const char *name)
{
	for (size_t i = 0; i < sizeof(compact_forms) / sizeof(compact_forms[0]); i++)
		if (strcasecmp(name, compact_forms[i].compact) == 0)
			return compact_forms[i].full;
	return name;
}

static int parse_start(const char *line, struct sip_msg *m, char *err, size_t errlen)
{
	if (strncmp(line, "SIP/2.0 ", 8) == 0) {
		char *end;
		long st = strtol(line + 8, &end, 10);
		if (st < 100 || st > 699 || *end != ' ') {
			snprintf(err, errlen, "bad status line");
			return -1;
		}
		m->request = false;
		m->status = (int)st;
		snprintf(m->reason, sizeof(m->reason), "%s", end + 1);
		return 0;
	}
	char uri[sizeof(m->uri)];
	if (sscanf(line, "%15s %255s SIP/2.0", m->method, uri) != 2) {
		snprintf(err, errlen, "bad request line");
		return -1;
	}
	m->request = true;
	snprintf(m->uri, sizeof(m->uri), "%s", uri);
	return 0;
}

int sip_parse(const char *buf, size_t len, struct sip_msg *m, char *err,
	      size_t errlen)
{
	char line[SIP_MAX_VALUE + SIP_MAX_NAME + 8];
	size_t at = 0;
	bool first = true;

	memset(m, 0, sizeof(*m));
	while (at < len) {
		const char *nl = memchr(buf + at, '\n', len - at);
		size_t l = nl ? (size_t)(nl - (buf + at)) : len - at;
		if (l && buf[at + l - 1] == '\r')
			l--;
		size_t next = nl ? (size_t)(nl - buf) + 1 : len;
		if (l >= sizeof(line)) {
			snprintf(err, errlen, "line too long");
			return -1;
		}
		memcpy(line, buf + at, l);
		line[l] = '\0';
		at = next;
		if (first) {
			if (parse_start(line, m, err, errlen))
				return -1;
			first = false;
			continue;
		}
		if (l == 0)
			break;
		if ((line[0] == ' ' || line[0] == '\t') && m->n) {
			/* a folded line continues the previous header */
			struct sip_header *h = &m->h[m->n - 1];
			size_t have = strlen(h->value);
			snprintf(h->value + have, sizeof(h->value) - have, " %s", line + 1);
			continue;
		}
		char *colon = strchr(line, ':');
		if (!colon || colon == line || m->n == SIP_MAX_HEADERS) {
			snprintf(err, errlen, colon ? "too many headers" : "header without a colon");
			return -1;
		}
		*colon = '\0';
		char *v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		char *name_end = colon;
		while (name_end > line && (name_end[-1] == ' ' || name_end[-1] == '\t'))
			*--name_end = '\0';
		struct sip_header *h = &m->h[m->n++];
		snprintf(h->name, sizeof(h->name), "%s", full_name(line));
		snprintf(h->value, sizeof(h->value), "%s", v);
	}
	if (first) {
		snprintf(err, errlen, "empty message");
		return -1;
	}
	/* the body stays a C string: the simulators print it */
	if (len - at >= sizeof(m->body)) {
		snprintf(err, errlen, "body longer than %zu bytes", sizeof(m->body) - 1);
		return -1;
	}
	m->body_len = len - at;
	memcpy(m->body, buf + at, m->body_len);
	m->body[m->body_len] = '\0';
	return 0;
}

const char *sip_get(const struct sip_msg *m, const char *name)
{
	const char *want = full_name(name);

	for (size_t i = 0; i < m->n; i++)
		if (strcasecmp(m->h[i].name, want) == 0)
			return m->h[i].value;
	return NULL;
}

static int put(struct sip_msg *m, bool replace, const char *name,
	       const char *fmt, va_list ap)
{
	struct sip_header *h = NULL;

	if (replace)
		for (size_t i = 0; i < m->n && !h; i++)
			if (strcasecmp(m->h[i].name, name) == 0)
				h = &m->h[i];
	if (!h) {
		if (m->n == SIP_MAX_HEADERS)
			return -1;
		h = &m->h[m->n++];
	}
	snprintf(h->name, sizeof(h->name), "%s", name);
	vsnprintf(h->value, sizeof(h->value), fmt, ap);
	return 0;
}

int sip_set(struct sip_msg *m, const char *name, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int r = put(m, true, name, fmt, ap);
	va_end(ap);
	return r;
}

int sip_add(struct sip_msg *m, const char *name, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int r = put(m, false, name, fmt, ap);
	va_end(ap);
	return r;
}

void sip_request(struct sip_msg *m, const char *method, const char *uri)
{
	memset(m, 0, sizeof(*m));
	m->request = true;
	snprintf(m->method, sizeof(m->method), "%s", method);
	snprintf(m->uri, sizeof(m->uri), "%s", uri);
}

void sip_response(struct sip_msg *m, const struct sip_msg *req, int status,
		  const char *reason)
{
	static const char *const copied[] = { "Via", "From", "To", "Call-ID", "CSeq" };

	memset(m, 0, sizeof(*m));
	m->status = status;
	snprintf(m->reason, sizeof(m->reason), "%s", reason);
	for (size_t k = 0; k < sizeof(copied) / sizeof(copied[0]); k++)
		for (size_t i = 0; i < req->n; i++)
			if (strcasecmp(req->h[i].name, copied[k]) == 0 && m->n < SIP_MAX_HEADERS)
				m->h[m->n++] = req->h[i];
}

int sip_format(const struct sip_msg *m, char *buf, size_t len)
{
	size_t at = 0;
	int n;

#define OUT(...) do {							\
		n = snprintf(buf + at, len > at ? len - at : 0, __VA_ARGS__); \
		if (n < 0 || at + (size_t)n >= len)			\
			return -1;					\
		at += (size_t)n;					\
	} while (0)

	if (m->request)
		OUT("%s %s SIP/2.0\r\n", m->method, m->uri);
	else
		OUT("SIP/2.0 %d %s\r\n", m->status, m->reason);
	for (size_t i = 0; i < m->n; i++)
		if (strcasecmp(m->h[i].name, "Content-Length") != 0)
			OUT("%s: %s\r\n", m->h[i].name, m->h[i].value);
	OUT("Content-Length: %zu\r\n\r\n", m->body_len);
#undef OUT
	if (at + m->body_len >= len)
		return -1;
	memcpy(buf + at, m->body, m->body_len);
	return (int)(at + m->body_len);
}

bool sip_param(const char *value, const char *name, char *out, size_t len)
{
	size_t nl = strlen(name);

	for (const char *s = strchr(value, ';'); s; s = strchr(s + 1, ';')) {
		const char *p = s + 1;
		while (*p == ' ')
			p++;
		if (strncasecmp(p, name, nl) != 0 || (p[nl] && !strchr("=;, >", p[nl])))
			continue;
		if (p[nl] != '=') {
			snprintf(out, len, "%s", "");
			return true;
		}
		const char *v = p + nl + 1;
		size_t vl = strcspn(v, ";, >");
		if (*v == '"') {
			v++;
			vl = strcspn(v, "\"");
		}
		snprintf(out, len, "%.*s", (int)vl, v);
		return true;
	}
	return false;
}

void sip_uri_of(const char *value, char *out, size_t len)
{
	const char *lt = strchr(value, '<'), *gt = lt ? strchr(lt, '>') : NULL;

	if (lt && gt)
		snprintf(out, len, "%.*s", (int)(gt - lt - 1), lt + 1);
	else
		snprintf(out, len, "%s", value);
}

static socklen_t sockaddr_of(const struct esp_addr *a, uint16_t port,
			     struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;
		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		memcpy(&s->sin_addr, a->bytes, 4);
		return sizeof(*s);
	}
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
	s->sin6_family = AF_INET6;
	s->sin6_port = htons(port);
	memcpy(&s->sin6_addr, a->bytes, 16);
	return sizeof(*s);
}

int sip_socket(const struct esp_addr *addr, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sockaddr_of(addr, port, &ss);
	int fd = socket(addr->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int sip_send(int fd, const struct sip_msg *m, const struct esp_addr *to,
	     uint16_t port)
{
	char buf[SIP_MAX_MSG];
	struct sockaddr_storage ss;
	socklen_t sl = sockaddr_of(to, port, &ss);
	int n = sip_format(m, buf, sizeof(buf));

	if (n < 0)
		return -1;
	return sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&ss, sl) == n ? 0 : -1;
}

int sip_recv(int fd, struct sip_msg *m, struct esp_addr *from, uint16_t *port,
	     int timeout_ms)
{
	char buf[SIP_MAX_MSG], err[64];
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	int r = poll(&pfd, 1, timeout_ms);
	if (r <= 0)
		return r;
	/* MSG_TRUNC: a datagram bigger than the buffer is refused, not cut */
	ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_TRUNC, (struct sockaddr *)&ss, &sl);
	if (n <= 0 || (size_t)n > sizeof(buf))
		return -1;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;
		esp_addr_set(from, AF_INET, (const uint8_t *)&s->sin_addr);
		*port = ntohs(s->sin_port);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
		esp_addr_set(from, AF_INET6, (const uint8_t *)&s->sin6_addr);
		*port = ntohs(s->sin6_port);
	}
	return sip_parse(buf, (size_t)n, m, err, sizeof(err)) ? -1 : 1;
}
