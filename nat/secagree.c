#include "nat/secagree.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "engine/strbuf.h"

/* The parser only ever looks at the current character, and at the next
 * ones only after the current one proved not to be the NUL: the input is
 * never read past its end, whatever it holds. */
struct parser {
	const char *s;		/* the next character */
	const char *start;	/* for offsets in messages */
	char *err;
	size_t errlen;
	size_t mech;		/* 1-based number of the mechanism being read */
};

/* A stretch of the input. */
struct span {
	const char *s;
	size_t len;
};

static int fail(struct parser *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Writes "mechanism N: " and the reason into the caller's buffer. */
static int fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	int k = 0;

	if (!p->err || p->errlen == 0)
		return -EINVAL;
	if (p->mech)
		k = snprintf(p->err, p->errlen, "mechanism %zu: ", p->mech);
	if (k >= 0 && (size_t)k < p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err + k, p->errlen - (size_t)k, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Names the character at @s for a message: control characters and
 * non-ASCII bytes are shown as numbers, never printed raw. */
static const char *describe(const char *s, char *buf, size_t len)
{
	unsigned char u = (unsigned char)*s;

	if (u == '\0')
		return "the end";
	if (u < 0x20 || u == 0x7f)
		snprintf(buf, len, "control character 0x%02x", u);
	else if (u >= 0x80)
		snprintf(buf, len, "byte 0x%02x", u);
	else
		snprintf(buf, len, "'%c'", u);
	return buf;
}

static int unexpected(struct parser *p, const char *what)
{
	char d[32];

	return fail(p, "expected %s at offset %td, found %s", what,
		    p->s - p->start, describe(p->s, d, sizeof(d)));
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* token characters (RFC 3261 25.1), in ASCII whatever the locale */
static bool is_token_char(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("-.!%*_+`'~", c) != NULL;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A line fold is CRLF followed by SP or HTAB (RFC 3261 7.3.1); a CRLF
 * without it ends the header, which a value must not contain. Returns the
 * length of the CRLF, 0 when @s does not start a fold. */
static size_t fold_at(const char *s)
{
	if (s[0] == '\r' && s[1] == '\n' && is_wsp(s[2]))
		return 2;
	return 0;
}

/* SWS: what may surround SEMI, COMMA and EQUAL */
static void skip_sws(struct parser *p)
{
	for (;;) {
		if (is_wsp(*p->s))
			p->s++;
		else if (fold_at(p->s))
			p->s += 2;
		else
			return;
	}
}

static struct span scan_token(struct parser *p)
{
	struct span t = { p->s, 0 };

	while (is_token_char(*p->s))
		p->s++;
	t.len = (size_t)(p->s - t.s);
	return t;
}

/* quoted-string = DQUOTE *(qdtext / quoted-pair) DQUOTE. Folds and UTF-8
 * bytes are qdtext; control characters are refused even escaped, nothing
 * in sec-agree needs them and they have no business in a regenerated
 * header. */
static int scan_quoted(struct parser *p, struct span *v)
{
	const char *q = p->s + 1;

	for (;;) {
		unsigned char u = (unsigned char)*q;

		if (u == '\0')
			return fail(p, "unterminated quoted string at offset %td",
				    p->s - p->start);
		if (u == '"')
			break;
		if (u == '\\') {
			unsigned char e = (unsigned char)q[1];

			if (e == '\0')
				return fail(p, "unterminated quoted string at offset %td",
					    p->s - p->start);
			if ((e < 0x20 && e != '\t') || e >= 0x7f) {
				p->s = q + 1;
				return unexpected(p, "a printable character after '\\'");
			}
			q += 2;
			continue;
		}
		if (fold_at(q)) {
			q += 2;
			continue;
		}
		if ((u < 0x20 && u != '\t') || u == 0x7f) {
			p->s = q;
			return unexpected(p, "a quoted-string character");
		}
		q++;
	}
	v->s = p->s;
	v->len = (size_t)(q + 1 - p->s);
	p->s = q + 1;
	return 0;
}

/* IPv6reference = "[" IPv6address "]"; the address is not checked
 * further, it is only kept */
static int scan_ipv6ref(struct parser *p, struct span *v)
{
	const char *q = p->s + 1;

	while (is_hex(*q) || *q == ':' || *q == '.')
		q++;
	if (*q != ']' || q == p->s + 1) {
		p->s = q;
		return unexpected(p, "an IPv6 address ending in ']'");
	}
	v->s = p->s;
	v->len = (size_t)(q + 1 - p->s);
	p->s = q + 1;
	return 0;
}

/* gen-value = token / host / quoted-string; an empty span when none */
static int scan_value(struct parser *p, struct span *v)
{
	if (*p->s == '"')
		return scan_quoted(p, v);
	if (*p->s == '[')
		return scan_ipv6ref(p, v);
	*v = scan_token(p);
	return 0;
}

/* Copies @v into @dst of @cap bytes, NUL included, unfolding it (the CRLF
 * of a fold goes, its whitespace stays). False when it does not fit. */
static bool copy_span(char *dst, size_t cap, struct span v)
{
	size_t n = 0;

	for (size_t i = 0; i < v.len; i++) {
		if (v.s[i] == '\r' && i + 1 < v.len && v.s[i + 1] == '\n') {
			i++;
			continue;
		}
		if (n + 1 >= cap)
			return false;
		dst[n++] = v.s[i];
	}
	dst[n] = '\0';
	return true;
}

static void mech_init(struct secagree_mech *m)
{
	memset(m, 0, sizeof(*m));
	m->q_milli = -1;
	m->alg = -1;
	m->ealg = -1;
	m->prot = -1;
}

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) */
static bool parse_qvalue(const char *v, int *milli)
{
	int whole, frac = 0, digits = 0;
	const char *s = v + 1;

	if (v[0] != '0' && v[0] != '1')
		return false;
	whole = v[0] - '0';
	if (*s == '.') {
		s++;
		while (*s >= '0' && *s <= '9' && digits < 3) {
			frac = frac * 10 + (*s++ - '0');
			digits++;
		}
	}
	if (*s != '\0')
		return false;
	for (; digits < 3; digits++)
		frac *= 10;
	if (whole == 1 && frac != 0)
		return false;
	*milli = whole * 1000 + frac;
	return true;
}

/* A decimal in 1..@max; leading zeros are harmless, overflow is not. */
static bool parse_decimal(const char *v, uint32_t max, uint32_t *out)
{
	uint64_t n = 0;

	if (*v == '\0')
		return false;
	for (; *v; v++) {
		if (*v < '0' || *v > '9')
			return false;
		n = n * 10 + (uint64_t)(*v - '0');
		if (n > max)
			return false;
	}
	if (n == 0)
		return false;
	*out = (uint32_t)n;
	return true;
}

static const struct {
	const char *name;
	unsigned bit;
} mod_names[] = {
	{ "trans", SECAGREE_MOD_TRANS },
	{ "tun", SECAGREE_MOD_TUN },
	{ "UDP-enc-tun", SECAGREE_MOD_UDP_ENC_TUN },
	{ "UDP-enc-trans", SECAGREE_MOD_UDP_ENC_TRANS },
};

#define N_MODS (sizeof(mod_names) / sizeof(mod_names[0]))

static int set_q(struct parser *p, struct secagree_mech *m, const char *v)
{
	if (m->q_milli >= 0)
		return fail(p, "q given twice");
	if (!parse_qvalue(v, &m->q_milli))
		return fail(p, "q '%s' is not a qvalue (0 to 1, at most 3 decimals)", v);
	return 0;
}

static int add_extra(struct parser *p, struct secagree_mech *m, const char *name,
		     const char *v);

/* An algorithm we do not know (a later release's, say) leaves the
 * mechanism in the header, kept as written, but never to be chosen: the
 * other side may well offer one we know after it. */
static int set_alg(struct parser *p, struct secagree_mech *m, const char *v)
{
	if (m->alg != -1)
		return fail(p, "alg given twice");
	m->alg = nat_alg_by_name(v);
	if (m->alg >= 0)
		return 0;
	m->alg = SECAGREE_UNSUPPORTED;
	return add_extra(p, m, "alg", v);
}

static int set_ealg(struct parser *p, struct secagree_mech *m, const char *v)
{
	if (m->ealg != -1)
		return fail(p, "ealg given twice");
	m->ealg = nat_ealg_by_name(v);
	if (m->ealg >= 0)
		return 0;
	m->ealg = SECAGREE_UNSUPPORTED;
	return add_extra(p, m, "ealg", v);
}

static int set_prot(struct parser *p, struct secagree_mech *m, const char *v)
{
	if (m->prot >= 0)
		return fail(p, "prot given twice");
	if (strcasecmp(v, "esp") == 0)
		m->prot = 0;
	else if (strcasecmp(v, "ah") == 0)
		m->prot = 1;
	else
		return fail(p, "prot '%s' is not esp or ah", v);
	return 0;
}

/* several mod parameters are a list of modes (TR 33.803 B.3.3) */
static int set_mod(struct parser *p, struct secagree_mech *m, const char *v)
{
	for (size_t i = 0; i < N_MODS; i++) {
		if (strcasecmp(v, mod_names[i].name) == 0) {
			m->mods |= mod_names[i].bit;
			return 0;
		}
	}
	return fail(p, "mod '%s' is not trans, tun, UDP-enc-tun or UDP-enc-trans", v);
}

static int set_spi(struct parser *p, const char *name, uint32_t *spi, const char *v)
{
	if (*spi)
		return fail(p, "%s given twice", name);
	if (!parse_decimal(v, UINT32_MAX, spi))
		return fail(p, "%s '%s' is not 1..4294967295", name, v);
	return 0;
}

static int set_port(struct parser *p, const char *name, uint16_t *port, const char *v)
{
	uint32_t n;

	if (*port)
		return fail(p, "%s given twice", name);
	if (!parse_decimal(v, UINT16_MAX, &n))
		return fail(p, "%s '%s' is not 1..65535", name, v);
	*port = (uint16_t)n;
	return 0;
}

static int add_extra(struct parser *p, struct secagree_mech *m, const char *name,
		     const char *v)
{
	struct secagree_extra *e;

	if (m->nextra >= SECAGREE_MAX_EXTRA)
		return fail(p, "too many unknown parameters (more than %d), at '%s'",
			    SECAGREE_MAX_EXTRA, name);
	e = &m->extra[m->nextra++];
	snprintf(e->name, sizeof(e->name), "%s", name);
	snprintf(e->value, sizeof(e->value), "%s", v ? v : "");
	e->has_value = v != NULL;
	return 0;
}

/* Annex H's parameters mean something only in an ipsec-3gpp mechanism;
 * elsewhere they are extras like any other. @v is NULL for ";name". */
static int apply_param(struct parser *p, struct secagree_mech *m, const char *name,
		       const char *v)
{
	static const char *const known[] = {
		"q", "alg", "ealg", "prot", "mod", "spi-c", "spi-s", "port-c", "port-s",
	};
	size_t k;

	for (k = 0; k < sizeof(known) / sizeof(known[0]); k++)
		if (strcasecmp(name, known[k]) == 0)
			break;
	if (k == sizeof(known) / sizeof(known[0]) || (k > 0 && !m->ipsec_3gpp))
		return add_extra(p, m, name, v);
	if (!v)
		return fail(p, "%s has no value", known[k]);
	switch (k) {
	case 0:
		return set_q(p, m, v);
	case 1:
		return set_alg(p, m, v);
	case 2:
		return set_ealg(p, m, v);
	case 3:
		return set_prot(p, m, v);
	case 4:
		return set_mod(p, m, v);
	case 5:
		return set_spi(p, known[k], &m->spi_c, v);
	case 6:
		return set_spi(p, known[k], &m->spi_s, v);
	case 7:
		return set_port(p, known[k], &m->port_c, v);
	default:
		return set_port(p, known[k], &m->port_s, v);
	}
}

/* mech-parameters, after its SEMI */
static int parse_param(struct parser *p, struct secagree_mech *m)
{
	char name[sizeof(m->extra[0].name)], value[sizeof(m->extra[0].value)];
	struct span n, v;
	int r;

	skip_sws(p);
	n = scan_token(p);
	if (n.len == 0)
		return unexpected(p, "a parameter name after ';'");
	if (!copy_span(name, sizeof(name), n))
		return fail(p, "parameter name '%.*s...' is longer than %zu characters",
			    (int)(sizeof(name) - 1), n.s, sizeof(name) - 1);
	skip_sws(p);
	if (*p->s != '=')
		return apply_param(p, m, name, NULL);
	p->s++;
	skip_sws(p);
	r = scan_value(p, &v);
	if (r)
		return r;
	if (v.len == 0) {
		if (*p->s == '\0' || *p->s == ';' || *p->s == ',')
			return fail(p, "%s has an empty value", name);
		return unexpected(p, "a value");
	}
	if (!copy_span(value, sizeof(value), v))
		return fail(p, "the value of %s is longer than %zu characters", name,
			    sizeof(value) - 1);
	return apply_param(p, m, name, value);
}

/* sec-mechanism = mechanism-name *(SEMI mech-parameters) */
static int parse_mech(struct parser *p, struct secagree_mech *m)
{
	struct span name;
	int r;

	mech_init(m);
	skip_sws(p);
	name = scan_token(p);
	if (name.len == 0) {
		if (*p->s == ',' || *p->s == '\0')
			return fail(p, "empty mechanism");
		return unexpected(p, "a mechanism name");
	}
	if (!copy_span(m->name, sizeof(m->name), name))
		return fail(p, "mechanism name '%.*s...' is longer than %zu characters",
			    (int)(sizeof(m->name) - 1), name.s, sizeof(m->name) - 1);
	m->ipsec_3gpp = strcasecmp(m->name, "ipsec-3gpp") == 0;
	for (;;) {
		skip_sws(p);
		if (*p->s != ';')
			return 0;
		p->s++;
		r = parse_param(p, m);
		if (r)
			return r;
	}
}

static int parse_list(struct parser *p, struct secagree_header *h)
{
	int r;

	skip_sws(p);
	if (*p->s == '\0')
		return fail(p, "empty header value");
	for (;;) {
		if (h->n == SECAGREE_MAX_MECHS) {
			p->mech = 0;
			return fail(p, "too many mechanisms (more than %d)", SECAGREE_MAX_MECHS);
		}
		p->mech = h->n + 1;
		r = parse_mech(p, &h->mech[h->n]);
		if (r)
			return r;
		h->n++;
		skip_sws(p);
		if (*p->s == '\0')
			return 0;
		if (*p->s != ',')
			return unexpected(p, "';', ',' or the end");
		p->s++;
	}
}

int secagree_parse(const char *value, struct secagree_header *h, char *err,
		   size_t errlen)
{
	struct parser p = { value, value, err, errlen, 0 };
	int r;

	if (err && errlen)
		err[0] = '\0';
	if (!h)
		return fail(&p, "no header to fill");
	memset(h, 0, sizeof(*h));
	if (!value)
		return fail(&p, "no header value");
	r = parse_list(&p, h);
	if (r)
		h->n = 0;	/* half a header must not be mistaken for one */
	return r;
}

/* 0.500 -> "0.5", 1.000 -> "1": one spelling per value */
static void format_q(struct strbuf *o, int milli)
{
	int whole = milli / 1000, frac = milli % 1000, digits = 3;

	if (frac == 0) {
		strbuf_printf(o, ";q=%d", whole);
		return;
	}
	while (frac % 10 == 0) {
		frac /= 10;
		digits--;
	}
	strbuf_printf(o, ";q=%d.%0*d", whole, digits, frac);
}

/* Parameter names are case-insensitive: the canonical form lower-cases
 * them. The field may lack its NUL when the caller built the struct. */
static void put_lower(struct strbuf *o, const char *s, size_t cap)
{
	char low[sizeof(((struct secagree_extra *)0)->name)];
	size_t n = strnlen(s, cap < sizeof(low) ? cap : sizeof(low));

	for (size_t i = 0; i < n; i++)
		low[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
	strbuf_put(o, low, n);
}

static void format_mech(struct strbuf *o, const struct secagree_mech *m)
{
	size_t nextra = m->nextra < SECAGREE_MAX_EXTRA ? m->nextra : SECAGREE_MAX_EXTRA;

	strbuf_put(o, m->name, strnlen(m->name, sizeof(m->name)));
	if (m->q_milli >= 0)
		format_q(o, m->q_milli);
	if (m->alg >= 0)
		strbuf_printf(o, ";alg=%s", nat_alg_name((enum esp_auth)m->alg));
	if (m->ealg >= 0)
		strbuf_printf(o, ";ealg=%s", nat_ealg_name((enum esp_enc)m->ealg));
	if (m->prot >= 0)
		strbuf_printf(o, ";prot=%s", m->prot == 1 ? "ah" : "esp");
	for (size_t i = 0; i < N_MODS; i++)
		if (m->mods & mod_names[i].bit)
			strbuf_printf(o, ";mod=%s", mod_names[i].name);
	if (m->spi_c)
		strbuf_printf(o, ";spi-c=%" PRIu32, m->spi_c);
	if (m->spi_s)
		strbuf_printf(o, ";spi-s=%" PRIu32, m->spi_s);
	if (m->port_c)
		strbuf_printf(o, ";port-c=%u", (unsigned)m->port_c);
	if (m->port_s)
		strbuf_printf(o, ";port-s=%u", (unsigned)m->port_s);
	for (size_t i = 0; i < nextra; i++) {
		const struct secagree_extra *e = &m->extra[i];

		strbuf_put(o, ";", 1);
		put_lower(o, e->name, sizeof(e->name));
		if (e->has_value) {
			strbuf_put(o, "=", 1);
			strbuf_put(o, e->value, strnlen(e->value, sizeof(e->value)));
		}
	}
}

int secagree_format(const struct secagree_header *h, char *buf, size_t len)
{
	struct strbuf o;
	size_t n;

	strbuf_init(&o, buf, len);
	if (!h)
		return 0;
	n = h->n < SECAGREE_MAX_MECHS ? h->n : SECAGREE_MAX_MECHS;
	for (size_t i = 0; i < n; i++) {
		if (i)
			strbuf_put(&o, ", ", 2);
		format_mech(&o, &h->mech[i]);
	}
	return (int)o.need;
}

/* Quoted strings are case-sensitive, tokens and hosts are not (RFC 3261
 * 7.3.1). */
static bool extra_equal(const struct secagree_extra *a, const struct secagree_extra *b)
{
	if (strncasecmp(a->name, b->name, sizeof(a->name)) != 0)
		return false;
	if (a->has_value != b->has_value)
		return false;
	if (!a->has_value)
		return true;
	if (a->value[0] == '"' || b->value[0] == '"')
		return strncmp(a->value, b->value, sizeof(a->value)) == 0;
	return strncasecmp(a->value, b->value, sizeof(a->value)) == 0;
}

/* The same extras, each matched once, in whatever order: a generic
 * parameter's position carries no meaning. */
static bool extras_equal(const struct secagree_mech *a, const struct secagree_mech *b)
{
	bool used[SECAGREE_MAX_EXTRA] = { false };

	if (a->nextra != b->nextra || a->nextra > SECAGREE_MAX_EXTRA)
		return false;
	for (size_t i = 0; i < a->nextra; i++) {
		size_t j;

		for (j = 0; j < b->nextra; j++)
			if (!used[j] && extra_equal(&a->extra[i], &b->extra[j]))
				break;
		if (j == b->nextra)
			return false;
		used[j] = true;
	}
	return true;
}

static bool mech_equal(const struct secagree_mech *a, const struct secagree_mech *b)
{
	return strncasecmp(a->name, b->name, sizeof(a->name)) == 0 &&
	       a->q_milli == b->q_milli && a->alg == b->alg && a->ealg == b->ealg &&
	       a->prot == b->prot && a->mods == b->mods &&
	       a->spi_c == b->spi_c && a->spi_s == b->spi_s &&
	       a->port_c == b->port_c && a->port_s == b->port_s &&
	       extras_equal(a, b);
}

bool secagree_equal(const struct secagree_header *a, const struct secagree_header *b)
{
	if (!a || !b || a->n != b->n || a->n > SECAGREE_MAX_MECHS)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (!mech_equal(&a->mech[i], &b->mech[i]))
			return false;
	return true;
}

/* Annex H: a mechanism without mod offers trans */
static bool offers_mode(const struct secagree_mech *m, unsigned bit)
{
	return ((m->mods ? m->mods : (unsigned)SECAGREE_MOD_TRANS) & bit) != 0;
}

/* An ipsec-3gpp ESP mechanism with @pf's algorithms in the mode @bit. An
 * absent ealg is null: Rel-5 UEs do not know ealg (TS 33.203 Annex H). */
static bool offers(const struct secagree_mech *m, const struct secagree_pref *pf,
		   unsigned bit)
{
	int ealg = m->ealg == -1 ? (int)ESP_ENC_NULL : m->ealg;

	return m->ipsec_3gpp && m->prot != 1 && m->alg == (int)pf->alg &&
	       ealg == (int)pf->ealg && offers_mode(m, bit);
}

int secagree_choose(const struct secagree_header *client,
		    const struct secagree_pref *prefs, size_t nprefs, bool nat,
		    enum esp_auth *alg, enum esp_enc *ealg, enum nat_mode *mode)
{
	unsigned bit = nat ? SECAGREE_MOD_UDP_ENC_TUN : SECAGREE_MOD_TRANS;
	size_t n, i, j;
	bool udp_offered = false;

	if (!client)
		return -ENOENT;
	n = client->n < SECAGREE_MAX_MECHS ? client->n : SECAGREE_MAX_MECHS;
	for (j = 0; j < n; j++)
		if (client->mech[j].ipsec_3gpp && (client->mech[j].mods & SECAGREE_MOD_UDP_ENC_TUN))
			udp_offered = true;
	if (nat && !udp_offered)
		return -EPROTONOSUPPORT;
	/* the P-CSCF's order decides, not the UE's */
	for (i = 0; prefs && i < nprefs; i++) {
		for (j = 0; j < n; j++) {
			if (!offers(&client->mech[j], &prefs[i], bit))
				continue;
			if (alg)
				*alg = prefs[i].alg;
			if (ealg)
				*ealg = prefs[i].ealg;
			if (mode)
				*mode = nat ? NAT_MODE_UDP_ENC_TUN : NAT_MODE_TRANS;
			return (int)j;
		}
	}
	return -ENOENT;
}

/* (n - i) / (n + 1) in thousandths, rounded half up */
static int server_q(size_t i, size_t n)
{
	return (int)(((n - i) * 1000 + (n + 1) / 2) / (n + 1));
}

int secagree_server(const struct secagree_pref *prefs, size_t nprefs, uint32_t spi_c,
		    uint32_t spi_s, uint16_t port_c, uint16_t port_s, enum nat_mode mode,
		    struct secagree_header *out)
{
	unsigned bit;

	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (!prefs || nprefs == 0 || nprefs > SECAGREE_MAX_MECHS)
		return -EINVAL;
	if (!spi_c || !spi_s || !port_c || !port_s)
		return -EINVAL;
	if (mode == NAT_MODE_TRANS)
		bit = SECAGREE_MOD_TRANS;
	else if (mode == NAT_MODE_UDP_ENC_TUN)
		bit = SECAGREE_MOD_UDP_ENC_TUN;
	else
		return -EINVAL;
	for (size_t i = 0; i < nprefs; i++) {
		struct secagree_mech *m = &out->mech[i];

		/* Annex H makes alg mandatory, and it has no "none" */
		if ((prefs[i].alg != ESP_AUTH_HMAC_MD5_96 && prefs[i].alg != ESP_AUTH_HMAC_SHA1_96) ||
		    (unsigned)prefs[i].ealg >= ESP_ENC__COUNT)
			return -EINVAL;
		mech_init(m);
		snprintf(m->name, sizeof(m->name), "ipsec-3gpp");
		m->ipsec_3gpp = true;
		m->q_milli = server_q(i, nprefs);
		m->alg = (int)prefs[i].alg;
		m->ealg = (int)prefs[i].ealg;
		m->prot = 0;
		m->mods = bit;
		m->spi_c = spi_c;
		m->spi_s = spi_s;
		m->port_c = port_c;
		m->port_s = port_s;
	}
	out->n = nprefs;
	return 0;
}
