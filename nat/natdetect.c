#include "nat/natdetect.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "engine/strbuf.h"

struct cursor {
	const char *s;
};

static void skip_lws(struct cursor *c)
{
	while (*c->s == ' ' || *c->s == '\t' || *c->s == '\r' || *c->s == '\n')
		c->s++;
}

static bool token_char(char ch)
{
	return isalnum((unsigned char)ch) || strchr("-.!%*_+`'~", ch);
}

static size_t token(struct cursor *c)
{
	const char *start = c->s;

	while (*c->s && token_char(*c->s))
		c->s++;
	return (size_t)(c->s - start);
}

/* sent-protocol = name / version / transport, LWS allowed around "/" */
static int sent_protocol(struct cursor *c)
{
	for (int i = 0; i < 3; i++) {
		skip_lws(c);
		if (token(c) == 0)
			return -EINVAL;
		skip_lws(c);
		if (i < 2) {
			if (*c->s != '/')
				return -EINVAL;
			c->s++;
		}
	}
	return 0;
}

/* sent-by = host [ ":" port ]; host = hostname / IPv4 / "[" IPv6 "]" */
static int sent_by(struct cursor *c, struct nat_via_result *res)
{
	const char *h = c->s;
	size_t n;

	if (*c->s == '[') {
		const char *close = strchr(c->s, ']');
		if (!close)
			return -EINVAL;
		h = c->s + 1;
		n = (size_t)(close - h);
		c->s = close + 1;
	} else {
		while (*c->s && (isalnum((unsigned char)*c->s) || *c->s == '.' || *c->s == '-'))
			c->s++;
		n = (size_t)(c->s - h);
	}
	if (n == 0 || n >= sizeof(res->sent_by))
		return -EINVAL;
	memcpy(res->sent_by, h, n);
	res->sent_by[n] = '\0';
	res->sent_by_port = 0;
	skip_lws(c);
	if (*c->s == ':') {
		c->s++;
		skip_lws(c);
		unsigned long port = 0;
		const char *d = c->s;
		while (isdigit((unsigned char)*c->s) && port <= 65535)
			port = port * 10 + (unsigned long)(*c->s++ - '0');
		if (c->s == d || port == 0 || port > 65535)
			return -EINVAL;
		res->sent_by_port = (uint16_t)port;
	}
	return 0;
}

static enum nat_presence compare(const struct nat_via_result *res,
				 const struct esp_addr *src)
{
	struct esp_addr a;

	if (esp_addr_parse(res->sent_by, &a) != 0)
		return NAT_UNKNOWN;
	return esp_addr_equal(&a, src) ? NAT_ABSENT : NAT_PRESENT;
}

/* Copies the via-params, dropping any `received` (ours replaces it) and
 * filling `rport`. Stops at the end or at the comma that starts the next
 * via-parm. */
static int params(struct cursor *c, struct strbuf *o, uint16_t sport,
		  struct nat_via_result *res)
{
	for (;;) {
		skip_lws(c);
		if (*c->s != ';')
			return 0;
		c->s++;
		skip_lws(c);
		const char *name = c->s;
		size_t nlen = token(c);
		if (nlen == 0)
			return -EINVAL;
		skip_lws(c);
		const char *value = NULL;
		size_t vlen = 0;
		if (*c->s == '=') {
			c->s++;
			skip_lws(c);
			value = c->s;
			if (*c->s == '"') {
				const char *q = strchr(c->s + 1, '"');
				if (!q)
					return -EINVAL;
				c->s = q + 1;
			} else {
				while (*c->s && (token_char(*c->s) || *c->s == ':' ||
						 *c->s == '[' || *c->s == ']'))
					c->s++;
			}
			vlen = (size_t)(c->s - value);
			if (vlen == 0)
				return -EINVAL;
		}
		if (nlen == 8 && strncasecmp(name, "received", 8) == 0)
			continue;
		if (nlen == 5 && strncasecmp(name, "rport", 5) == 0) {
			res->rport = true;
			strbuf_printf(o, ";rport=%u", sport);
			continue;
		}
		strbuf_printf(o, ";%.*s", (int)nlen, name);
		if (value)
			strbuf_printf(o, "=%.*s", (int)vlen, value);
	}
}

int nat_via_process(const char *via, const struct esp_addr *src, uint16_t sport,
		    char *out, size_t outlen, struct nat_via_result *res)
{
	struct cursor c = { via };
	struct strbuf o;
	char addr[ESP_ADDRSTRLEN];

	memset(res, 0, sizeof(*res));
	if (outlen == 0)
		return -ENOSPC;
	strbuf_init(&o, out, outlen);
	skip_lws(&c);
	const char *start = c.s;
	if (sent_protocol(&c))
		return -EINVAL;
	skip_lws(&c);
	if (sent_by(&c, res))
		return -EINVAL;
	/* the protocol and sent-by stay as the UE wrote them */
	const char *end = c.s;
	while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	strbuf_put(&o, start, (size_t)(end - start));

	if (params(&c, &o, sport, res))
		return -EINVAL;
	skip_lws(&c);
	if (*c.s != '\0' && *c.s != ',')
		return -EINVAL;

	res->nat = compare(res, src);
	res->port_differs = (res->sent_by_port ? res->sent_by_port : 5060) != sport;
	if (res->nat != NAT_ABSENT || res->rport)
		strbuf_printf(&o, ";received=%s", esp_addr_str(src, addr));
	/* further via-parms (", SIP/2.0/UDP ...") are copied untouched */
	strbuf_printf(&o, "%s", c.s);
	if (strbuf_truncated(&o))
		return -ENOSPC;
	return (int)o.need;
}
