#include "engine/safile.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "engine/hex.h"
#include "engine/ip.h"
#include "engine/strbuf.h"

#define MAX_WORDS 64
#define MAX_WORD 256

struct word {
	char text[MAX_WORD];
	bool quoted;
};

struct parser {
	struct word w[MAX_WORDS];
	int n;
	int i;
	char *err;
	size_t errlen;
	unsigned seen;		/* SEEN_* bits: each top-level word once */
};

enum {
	SEEN_SRC = 1 << 0,
	SEEN_DST = 1 << 1,
	SEEN_PROTO = 1 << 2,
	SEEN_SPI = 1 << 3,
	SEEN_REQID = 1 << 4,
	SEEN_MODE = 1 << 5,
	SEEN_REPLAY = 1 << 6,
	SEEN_AUTH = 1 << 7,
	SEEN_ENC = 1 << 8,
	SEEN_ENCAP = 1 << 9,
	SEEN_SEL = 1 << 10,
	SEEN_DIR = 1 << 11,
	SEEN_LIMIT = 1 << 12,
};

static int fail(struct parser *ps, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ps->err, ps->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Splits @line into words; quotes group and are removed, `#` outside
 * quotes ends the line. */
static int tokenize(struct parser *ps, const char *line)
{
	const char *s = line;

	ps->n = 0;
	for (;;) {
		while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
			s++;
		if (*s == '\0' || *s == '#')
			return 0;
		if (ps->n == MAX_WORDS)
			return fail(ps, "too many words");
		struct word *w = &ps->w[ps->n++];
		size_t len = 0;
		w->quoted = false;
		while (*s && *s != ' ' && *s != '\t' && *s != '\r' && *s != '\n') {
			if (*s == '\'' || *s == '"') {
				char q = *s++;
				w->quoted = true;
				while (*s && *s != q) {
					if (len + 1 >= MAX_WORD)
						return fail(ps, "word too long");
					w->text[len++] = *s++;
				}
				if (*s != q)
					return fail(ps, "unterminated quote");
				s++;
				continue;
			}
			if (len + 1 >= MAX_WORD)
				return fail(ps, "word too long");
			w->text[len++] = *s++;
		}
		w->text[len] = '\0';
	}
}

static const char *next_word(struct parser *ps)
{
	return ps->i < ps->n ? ps->w[ps->i++].text : NULL;
}

static const char *need_word(struct parser *ps, const char *after)
{
	const char *w = next_word(ps);

	if (!w)
		fail(ps, "'%s' needs a value", after);
	return w;
}

static int once(struct parser *ps, unsigned bit, const char *word)
{
	if (ps->seen & bit)
		return fail(ps, "'%s' given twice", word);
	ps->seen |= bit;
	return 0;
}

static int parse_u32(const char *s, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long long v;

	if (*s == '-' || *s == '+' || *s == '\0')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end != '\0' || v > max)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* KEY: 0x-hex, or a quoted string taken byte for byte (as setkey does). */
static int parse_key(struct parser *ps, const struct word *w, uint8_t *key,
		     size_t max, uint8_t *len)
{
	const char *s = w->text;
	size_t n = strlen(s);

	if (w->quoted) {
		if (n > max)
			return fail(ps, "key too long");
		memcpy(key, s, n);
		*len = (uint8_t)n;
		return 0;
	}
	if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
		return fail(ps, "key '%s' is neither 0x-hex nor a quoted string", s);
	s += 2;
	n -= 2;
	if (n % 2)
		return fail(ps, "hex key has an odd number of digits");
	if (n / 2 > max)
		return fail(ps, "key too long");
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return fail(ps, "hex key has a non-hex digit");
		key[i] = (uint8_t)(hi << 4 | lo);
	}
	*len = (uint8_t)(n / 2);
	return 0;
}

static int parse_addr_word(struct parser *ps, const char *what,
			   struct esp_addr *a)
{
	const char *s = need_word(ps, what);

	if (!s)
		return -1;
	if (esp_addr_parse(s, a))
		return fail(ps, "'%s' is not an IP address", s);
	return 0;
}

static int parse_auth(struct parser *ps, struct esp_sa_params *p, bool trunc)
{
	const char *kw = trunc ? "auth-trunc" : "auth";

	if (once(ps, SEEN_AUTH, "auth"))
		return -1;
	const char *name = need_word(ps, kw);
	if (!name)
		return -1;
	int alg = esp_auth_by_xfrm_name(name);
	if (alg < 0)
		return fail(ps, "unknown integrity algorithm '%s' (hmac(md5) or hmac(sha1))", name);
	if (ps->i >= ps->n)
		return fail(ps, "'%s' needs a key", kw);
	if (parse_key(ps, &ps->w[ps->i++], p->auth_key, sizeof(p->auth_key),
		      &p->auth_key_len))
		return -1;
	p->auth = (enum esp_auth)alg;
	if (trunc) {
		const char *bits = need_word(ps, kw);
		uint32_t b;
		if (!bits)
			return -1;
		if (parse_u32(bits, 1024, &b) || b != 96)
			return fail(ps, "only 96-bit truncation is supported, not '%s'", bits);
	}
	return 0;
}

static int parse_enc(struct parser *ps, struct esp_sa_params *p)
{
	if (once(ps, SEEN_ENC, "enc"))
		return -1;
	const char *name = need_word(ps, "enc");
	if (!name)
		return -1;
	int alg = esp_enc_by_xfrm_name(name);
	if (alg < 0)
		return fail(ps, "unknown cipher '%s' (cbc(aes), cbc(des3_ede) or ecb(cipher_null))", name);
	if (ps->i >= ps->n)
		return fail(ps, "'enc' needs a key");
	struct word *w = &ps->w[ps->i++];
	p->enc = (enum esp_enc)alg;
	/* the null cipher's key is written "" (or 0x) */
	if (alg == ESP_ENC_NULL && (w->quoted || strcmp(w->text, "0x") == 0) &&
	    w->text[w->quoted ? 0 : 2] == '\0') {
		p->enc_key_len = 0;
		return 0;
	}
	return parse_key(ps, w, p->enc_key, sizeof(p->enc_key), &p->enc_key_len);
}

static int parse_port(struct parser *ps, const char *what, uint16_t *port,
		      bool zero_ok)
{
	const char *s = need_word(ps, what);
	uint32_t v;

	if (!s)
		return -1;
	if (parse_u32(s, 65535, &v) || (v == 0 && !zero_ok))
		return fail(ps, "'%s' is not a port number", s);
	*port = (uint16_t)v;
	return 0;
}

static int parse_encap(struct parser *ps, struct esp_sa_params *p)
{
	if (once(ps, SEEN_ENCAP, "encap"))
		return -1;
	const char *type = need_word(ps, "encap");
	if (!type)
		return -1;
	if (strcmp(type, "espinudp") != 0)
		return fail(ps, "encap type '%s' is not supported (espinudp)", type);
	if (parse_port(ps, "encap", &p->encap_sport, true) ||
	    parse_port(ps, "encap", &p->encap_dport, true))
		return -1;
	struct esp_addr oa;
	if (parse_addr_word(ps, "encap", &oa))
		return -1;
	/* an all-zero original address means "none given" */
	static const uint8_t zero[16];
	if (memcmp(oa.bytes, zero, sizeof(zero)) != 0)
		p->encap_oa = oa;
	p->encap = true;
	return 0;
}

static int parse_proto_name(const char *s, uint8_t *proto)
{
	uint32_t v;

	if (strcmp(s, "any") == 0)
		*proto = 0;
	else if (strcmp(s, "udp") == 0)
		*proto = IPPROTO_NUM_UDP;
	else if (strcmp(s, "tcp") == 0)
		*proto = IPPROTO_NUM_TCP;
	else if (strcmp(s, "icmp") == 0)
		*proto = 1;
	else if (strcmp(s, "ipv6-icmp") == 0)
		*proto = 58;
	else if (parse_u32(s, 255, &v) == 0)
		*proto = (uint8_t)v;
	else
		return -1;
	return 0;
}

struct sel_seen {
	bool src, dst;
};

static int parse_sel(struct parser *ps, struct esp_sa_params *p,
		     struct sel_seen *seen)
{
	struct esp_selector *s = &p->sel;

	if (once(ps, SEEN_SEL, "sel"))
		return -1;
	while (ps->i < ps->n) {
		const char *kw = ps->w[ps->i].text;
		unsigned plen;

		if (strcmp(kw, "src") == 0 || strcmp(kw, "dst") == 0) {
			bool is_src = kw[0] == 's';
			ps->i++;
			const char *a = need_word(ps, kw);
			if (!a)
				return -1;
			struct esp_addr *addr = is_src ? &s->src : &s->dst;
			if (esp_prefix_parse(a, addr, &plen))
				return fail(ps, "'%s' is not an address or prefix", a);
			*(is_src ? &s->src_plen : &s->dst_plen) = (uint8_t)plen;
			*(is_src ? &seen->src : &seen->dst) = true;
		} else if (strcmp(kw, "proto") == 0) {
			ps->i++;
			const char *pr = need_word(ps, "proto");
			if (!pr)
				return -1;
			if (parse_proto_name(pr, &s->proto))
				return fail(ps, "unknown selector protocol '%s'", pr);
		} else if (strcmp(kw, "sport") == 0 || strcmp(kw, "dport") == 0) {
			ps->i++;
			if (parse_port(ps, kw, kw[0] == 's' ? &s->sport : &s->dport,
				       true))
				return -1;
		} else {
			break;	/* a top-level word ends the selector */
		}
	}
	return 0;
}

static int parse_words(struct parser *ps, struct esp_sa_params *p,
		       struct sel_seen *sel)
{
	while (ps->i < ps->n) {
		const char *kw = next_word(ps);
		const char *v;
		uint32_t u;

		if (strcmp(kw, "src") == 0) {
			if (once(ps, SEEN_SRC, kw) || parse_addr_word(ps, kw, &p->src))
				return -1;
		} else if (strcmp(kw, "dst") == 0) {
			if (once(ps, SEEN_DST, kw) || parse_addr_word(ps, kw, &p->dst))
				return -1;
		} else if (strcmp(kw, "proto") == 0) {
			if (once(ps, SEEN_PROTO, kw) || !(v = need_word(ps, kw)))
				return -1;
			if (strcmp(v, "esp") != 0)
				return fail(ps, "only 'proto esp' is supported, not '%s'", v);
		} else if (strcmp(kw, "spi") == 0) {
			if (once(ps, SEEN_SPI, kw) || !(v = need_word(ps, kw)))
				return -1;
			if (parse_u32(v, UINT32_MAX, &p->spi))
				return fail(ps, "'%s' is not an SPI", v);
		} else if (strcmp(kw, "reqid") == 0) {
			if (once(ps, SEEN_REQID, kw) || !(v = need_word(ps, kw)))
				return -1;
			if (parse_u32(v, UINT32_MAX, &p->reqid))
				return fail(ps, "'%s' is not a reqid", v);
		} else if (strcmp(kw, "mode") == 0) {
			if (once(ps, SEEN_MODE, kw) || !(v = need_word(ps, kw)))
				return -1;
			if (strcmp(v, "transport") == 0)
				p->mode = ESP_MODE_TRANSPORT;
			else if (strcmp(v, "tunnel") == 0)
				p->mode = ESP_MODE_TUNNEL;
			else
				return fail(ps, "mode '%s' is not supported (transport or tunnel)", v);
		} else if (strcmp(kw, "replay-window") == 0) {
			if (once(ps, SEEN_REPLAY, kw) || !(v = need_word(ps, kw)))
				return -1;
			if (parse_u32(v, ESP_REPLAY_MAX, &u))
				return fail(ps, "replay-window '%s' is not 0..%u", v, ESP_REPLAY_MAX);
			p->replay_window = u;
		} else if (strcmp(kw, "auth-trunc") == 0 || strcmp(kw, "auth") == 0) {
			if (parse_auth(ps, p, kw[4] == '-'))
				return -1;
		} else if (strcmp(kw, "enc") == 0) {
			if (parse_enc(ps, p))
				return -1;
		} else if (strcmp(kw, "encap") == 0) {
			if (parse_encap(ps, p))
				return -1;
		} else if (strcmp(kw, "sel") == 0) {
			if (parse_sel(ps, p, sel))
				return -1;
		} else if (strcmp(kw, "limit") == 0) {
			/* of iproute2's limits, the hard time one: a lifetime */
			if (once(ps, SEEN_LIMIT, kw) || !(v = need_word(ps, kw)))
				return -1;
			if (strcmp(v, "time-hard") != 0)
				return fail(ps, "only 'limit time-hard SECONDS' is supported, not '%s'", v);
			if (!(v = need_word(ps, "time-hard")))
				return -1;
			if (parse_u32(v, UINT32_MAX, &p->lifetime_s) || p->lifetime_s == 0)
				return fail(ps, "'%s' is not a lifetime in seconds", v);
		} else if (strcmp(kw, "dir") == 0) {
			if (once(ps, SEEN_DIR, kw) || !(v = need_word(ps, kw)))
				return -1;
			if (strcmp(v, "in") == 0)
				p->dir = ESP_DIR_IN;
			else if (strcmp(v, "out") == 0)
				p->dir = ESP_DIR_OUT;
			else
				return fail(ps, "dir '%s' is neither in nor out", v);
		} else {
			return fail(ps, "unknown word '%s'", kw);
		}
	}
	return 0;
}

/* What the SA protects when no `sel` says: its own two addresses. */
static void default_selector(struct esp_sa_params *p, const struct sel_seen *sel)
{
	if (!sel->src) {
		p->sel.src = p->src;
		p->sel.src_plen = (uint8_t)esp_addr_bits(&p->src);
	}
	if (!sel->dst) {
		p->sel.dst = p->dst;
		p->sel.dst_plen = (uint8_t)esp_addr_bits(&p->dst);
	}
}

int esp_safile_parse_line(const char *line, struct esp_sa_params *p,
			  char *err, size_t errlen)
{
	struct parser *ps = calloc(1, sizeof(*ps));
	struct sel_seen sel = { false, false };
	int ret = -1;

	if (!ps) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	ps->err = err;
	ps->errlen = errlen;
	esp_sa_params_init(p);
	if (tokenize(ps, line))
		goto out;
	if (ps->n == 0) {
		ret = 0;
		goto out;
	}
	if (parse_words(ps, p, &sel))
		goto out;
	if (!(ps->seen & SEEN_SRC) || !(ps->seen & SEEN_DST)) {
		fail(ps, "missing %s", ps->seen & SEEN_SRC ? "dst" : "src");
		goto out;
	}
	if (!(ps->seen & SEEN_PROTO)) {
		fail(ps, "missing 'proto esp'");
		goto out;
	}
	if (!(ps->seen & SEEN_SPI)) {
		fail(ps, "missing spi");
		goto out;
	}
	default_selector(p, &sel);
	ret = 1;
out:
	/* the words held the keys too */
	OPENSSL_cleanse(ps, sizeof(*ps));
	free(ps);
	if (ret < 0)
		esp_sa_params_wipe(p);
	return ret;
}

/* Copies the next logical line (joining lines that end in a backslash)
 * into @buf; returns its length or -1 at the end of the text. */
static long next_line(const char *text, size_t len, size_t *pos, char *buf,
		      size_t cap, unsigned *lines)
{
	size_t n = 0;

	if (*pos >= len)
		return -1;
	while (*pos < len) {
		const char *start = text + *pos;
		const char *nl = memchr(start, '\n', len - *pos);
		size_t l = nl ? (size_t)(nl - start) : len - *pos;
		*pos += l + (nl ? 1 : 0);
		(*lines)++;
		bool cont = l > 0 && start[l - 1] == '\\';
		if (cont)
			l--;
		if (n + l + 2 > cap)
			return -2;
		memcpy(buf + n, start, l);
		n += l;
		buf[n++] = ' ';
		if (!cont)
			break;
	}
	buf[n] = '\0';
	return (long)n;
}

#define LINE_MAX_BYTES 8192

int esp_safile_load(struct esp_engine *e, const char *text, size_t len,
		    char *err, size_t errlen)
{
	struct esp_sad *sad = esp_engine_sad(e);
	struct esp_sa *before = NULL;
	char *buf = malloc(LINE_MAX_BYTES);
	size_t pos = 0;
	unsigned lines = 0;
	int added = 0;

	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* SAs added by this load come after the current last one */
	for (struct esp_sa *sa = esp_sad_first(sad); sa; sa = esp_sad_next(sa))
		before = sa;

	for (;;) {
		unsigned first = lines + 1;
		long n = next_line(text, len, &pos, buf, LINE_MAX_BYTES, &lines);
		struct esp_sa_params p;
		char why[ESP_SAFILE_ERRLEN];
		const char *reason;

		if (n == -1)
			break;
		if (n == -2) {
			snprintf(err, errlen, "line %u: line too long", first);
			goto undo;
		}
		int r = esp_safile_parse_line(buf, &p, why, sizeof(why));
		if (r < 0) {
			snprintf(err, errlen, "line %u: %s", first, why);
			goto undo;
		}
		if (r == 0)
			continue;
		int rc = esp_engine_add_sa(e, &p, &reason);
		esp_sa_params_wipe(&p);
		if (rc) {
			snprintf(err, errlen, "line %u: %s", first, reason);
			goto undo;
		}
		added++;
	}
	OPENSSL_cleanse(buf, LINE_MAX_BYTES);
	free(buf);
	return added;

undo:
	OPENSSL_cleanse(buf, LINE_MAX_BYTES);
	free(buf);
	/* through the engine: an SA must leave its registration group too
	 * (a group left pointing at a freed SA is used after free by the
	 * next SA of that reqid), and the SAD changes under the lock */
	for (;;) {
		struct esp_sa *sa = before ? esp_sad_next(before) : esp_sad_first(sad);
		if (!sa)
			break;
		struct esp_addr dst = sa->p.dst;
		if (esp_engine_del_sa(e, sa->p.spi, &dst))
			break;
	}
	return -1;
}

static void put_key(struct strbuf *o, const uint8_t *key, size_t n, bool show)
{
	if (!show) {
		strbuf_printf(o, "<hidden>");
		return;
	}
	strbuf_printf(o, "0x");
	for (size_t i = 0; i < n; i++)
		strbuf_printf(o, "%02x", key[i]);
}

static const char *proto_name(uint8_t proto)
{
	switch (proto) {
	case 0:
		return "any";
	case IPPROTO_NUM_UDP:
		return "udp";
	case IPPROTO_NUM_TCP:
		return "tcp";
	default:
		return NULL;
	}
}

int esp_sa_format(const struct esp_sa *sa, char *buf, size_t len,
		  bool show_keys)
{
	return esp_sa_params_format(&sa->p, buf, len, show_keys);
}

int esp_sa_params_format(const struct esp_sa_params *p, char *buf, size_t len,
			 bool show_keys)
{
	struct strbuf o;
	char a[ESP_ADDRSTRLEN], b[ESP_ADDRSTRLEN];

	strbuf_init(&o, buf, len);
	strbuf_printf(&o, "src %s dst %s proto esp spi 0x%08x", esp_addr_str(&p->src, a),
	     esp_addr_str(&p->dst, b), p->spi);
	if (p->reqid)
		strbuf_printf(&o, " reqid %u", p->reqid);
	strbuf_printf(&o, " mode %s", p->mode == ESP_MODE_TUNNEL ? "tunnel" : "transport");
	strbuf_printf(&o, " replay-window %u", p->replay_window);
	if (p->auth != ESP_AUTH_NONE) {
		strbuf_printf(&o, " auth-trunc '%s' ", esp_auth_info(p->auth)->xfrm_name);
		put_key(&o, p->auth_key, p->auth_key_len, show_keys);
		strbuf_printf(&o, " 96");
	}
	strbuf_printf(&o, " enc '%s' ", esp_enc_info(p->enc)->xfrm_name);
	if (p->enc == ESP_ENC_NULL)
		strbuf_printf(&o, "\"\"");
	else
		put_key(&o, p->enc_key, p->enc_key_len, show_keys);
	if (p->encap) {
		struct esp_addr none = { .family = p->src.family };
		strbuf_printf(&o, " encap espinudp %u %u %s", p->encap_sport, p->encap_dport,
		     esp_addr_str(p->encap_oa.family ? &p->encap_oa : &none, a));
	}
	strbuf_printf(&o, " sel src %s/%u dst %s/%u", esp_addr_str(&p->sel.src, a),
	     p->sel.src_plen, esp_addr_str(&p->sel.dst, b), p->sel.dst_plen);
	if (p->sel.proto) {
		const char *pn = proto_name(p->sel.proto);
		if (pn)
			strbuf_printf(&o, " proto %s", pn);
		else
			strbuf_printf(&o, " proto %u", p->sel.proto);
	}
	if (p->sel.sport)
		strbuf_printf(&o, " sport %u", p->sel.sport);
	if (p->sel.dport)
		strbuf_printf(&o, " dport %u", p->sel.dport);
	if (p->lifetime_s)
		strbuf_printf(&o, " limit time-hard %u", p->lifetime_s);
	if (p->dir != ESP_DIR_BOTH)
		strbuf_printf(&o, " dir %s", p->dir == ESP_DIR_IN ? "in" : "out");
	return (int)o.need;
}
