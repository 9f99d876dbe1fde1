#include "tools/json.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/hex.h"

struct json_value {
	enum json_type type;
	union {
		bool b;
		struct {
			double d;
			long long i;
			bool is_int;	/* i holds the exact value */
		} num;
		char *s;
		struct {
			struct json_value **items;
			char **keys;	/* objects only, parallel to items */
			size_t n;
			size_t cap;
		} c;
	} u;
};

/* The length of the well-formed UTF-8 sequence at @s, of which @n bytes
 * may be read, or 0. Overlong forms, UTF-16 surrogates and code points
 * beyond U+10FFFF are ill-formed too (RFC 3629). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t len;

	if (c < 0x80)
		return 1;
	if (c < 0xc2 || c > 0xf4)
		return 0;
	if (c < 0xe0) {
		len = 2;
	} else if (c < 0xf0) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

/* Encodes @cp (not a surrogate, at most U+10FFFF) at @out; returns the
 * byte count. */
static size_t utf8_put(char *out, unsigned long cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Not isdigit(): that one follows the locale. */
static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* ---- reader ---- */

struct parser {
	const unsigned char *s;
	size_t len;
	size_t pos;
	unsigned int depth;
	const char *why;	/* the first error; NULL while all is well */
	size_t at;		/* where it was found */
};

/* Records the first error only: later ones are its consequences. */
static bool fail(struct parser *p, size_t at, const char *why)
{
	if (!p->why) {
		p->why = why;
		p->at = at;
	}
	return false;
}

/* The byte at the cursor, or -1 at the end of the input. */
static int peek(const struct parser *p)
{
	return p->pos < p->len ? p->s[p->pos] : -1;
}

static void skip_ws(struct parser *p)
{
	while (p->pos < p->len) {
		unsigned char c = p->s[p->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		p->pos++;
	}
}

static struct json_value *new_value(struct parser *p, enum json_type type)
{
	struct json_value *v = calloc(1, sizeof(*v));

	if (!v) {
		fail(p, p->pos, "out of memory");
		return NULL;
	}
	v->type = type;
	return v;
}

static struct json_value *parse_value(struct parser *p);

static struct json_value *parse_literal(struct parser *p, const char *word,
					enum json_type type, bool b)
{
	size_t n = strlen(word);
	struct json_value *v;

	if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0) {
		fail(p, p->pos, "invalid literal");
		return NULL;
	}
	v = new_value(p, type);
	if (!v)
		return NULL;
	v->u.b = b;
	p->pos += n;
	return v;
}

static bool scan_digits(struct parser *p)
{
	size_t start = p->pos;

	while (is_digit(peek(p)))
		p->pos++;
	return p->pos > start;
}

/* Whether the number literal @s (already held to the grammar) is an
 * integer that fits a long long, and which. Worked out on the decimal
 * digits rather than on the double so that integers beyond 2^53 stay
 * exact and 1.0000000000000001 is not taken for 1. */
static bool literal_to_ll(const char *s, long long *out)
{
	char d[JSON_MAX_NUMBER];
	size_t m = 0, first = 0;
	long point, exp = 0;	/* digits before the decimal point; exponent */
	unsigned long long u = 0;
	bool neg = *s == '-';

	if (neg)
		s++;
	for (; is_digit(*s); s++)
		d[m++] = *s;
	point = (long)m;
	if (*s == '.')
		for (s++; is_digit(*s); s++)
			d[m++] = *s;
	if (*s == 'e' || *s == 'E') {
		bool eneg = false;

		s++;
		if (*s == '+' || *s == '-')
			eneg = *s++ == '-';
		/* anything this large has gone out of range or to zero */
		for (; is_digit(*s); s++)
			if (exp < 100000)
				exp = exp * 10 + (*s - '0');
		point += eneg ? -exp : exp;
	}

	/* leading zeros only shift the point, trailing ones only scale */
	while (first < m && d[first] == '0')
		first++;
	while (m > first && d[m - 1] == '0')
		m--;
	if (m == first) {
		*out = 0;
		return true;
	}
	point -= (long)first;
	if ((long)(m - first) > point)
		return false;	/* non-zero digits after the point */
	if (point > 19)
		return false;	/* at least 10^19, past LLONG_MAX */

	/* at most 19 digits: below 10^19, so no unsigned overflow */
	for (long k = 0; k < point; k++) {
		size_t at = first + (size_t)k;
		u = u * 10 + (at < m ? (unsigned)(d[at] - '0') : 0);
	}
	if (neg) {
		if (u > (unsigned long long)LLONG_MAX + 1)
			return false;
		*out = u ? -(long long)(u - 1) - 1 : 0;
		return true;
	}
	if (u > LLONG_MAX)
		return false;
	*out = (long long)u;
	return true;
}

static struct json_value *parse_number(struct parser *p)
{
	char tmp[JSON_MAX_NUMBER + 1], *end;
	size_t start = p->pos, n;
	struct json_value *v;
	double d;

	if (peek(p) == '-')
		p->pos++;
	if (peek(p) == '0') {
		p->pos++;
	} else if (!scan_digits(p)) {
		fail(p, start, "invalid value");
		return NULL;
	}
	if (peek(p) == '.') {
		p->pos++;
		if (!scan_digits(p)) {
			fail(p, p->pos, "digit expected");
			return NULL;
		}
	}
	if (peek(p) == 'e' || peek(p) == 'E') {
		p->pos++;
		if (peek(p) == '+' || peek(p) == '-')
			p->pos++;
		if (!scan_digits(p)) {
			fail(p, p->pos, "digit expected");
			return NULL;
		}
	}

	n = p->pos - start;
	if (n > JSON_MAX_NUMBER) {
		fail(p, start, "number too long");
		return NULL;
	}
	/* strtod needs a terminator the input may not have */
	memcpy(tmp, p->s + start, n);
	tmp[n] = '\0';
	d = strtod(tmp, &end);
	if (end != tmp + n) {
		/* only when LC_NUMERIC's decimal point is not '.' */
		fail(p, start, "invalid number");
		return NULL;
	}
	if (isinf(d)) {
		fail(p, start, "number out of range");
		return NULL;
	}

	v = new_value(p, JSON_NUMBER);
	if (!v)
		return NULL;
	v->u.num.d = d;
	v->u.num.is_int = literal_to_ll(tmp, &v->u.num.i);
	return v;
}

/* Reads the four hex digits at @at (before @end) into @cp. */
static bool read_hex4(const struct parser *p, size_t at, size_t end,
		      unsigned long *cp)
{
	*cp = 0;
	if (end - at < 4)
		return false;
	for (size_t i = at; i < at + 4; i++) {
		int h = hex_value(p->s[i]);
		if (h < 0)
			return false;
		*cp = *cp << 4 | (unsigned long)h;
	}
	return true;
}

/* Decodes the escape at *@i (a backslash before @end) into @out + *@n,
 * advancing both. */
static bool decode_escape(struct parser *p, size_t *i, size_t end,
			  char *out, size_t *n)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	size_t at = *i;
	unsigned char e = p->s[at + 1];	/* the scan for the quote skipped it */
	const char *hit = e ? strchr(from, e) : NULL;
	unsigned long cp, lo;

	if (hit) {
		out[(*n)++] = to[hit - from];
		*i += 2;
		return true;
	}
	if (e != 'u')
		return fail(p, at, "invalid escape");
	if (!read_hex4(p, at + 2, end, &cp))
		return fail(p, at, "invalid \\u escape");
	*i += 6;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return fail(p, at, "unpaired surrogate");
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (end - *i < 6 || p->s[*i] != '\\' || p->s[*i + 1] != 'u' ||
		    !read_hex4(p, *i + 2, end, &lo) ||
		    lo < 0xdc00 || lo > 0xdfff)
			return fail(p, at, "unpaired surrogate");
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		*i += 6;
	}
	/* every decoded string must be usable as a C string */
	if (cp == 0)
		return fail(p, at, "\\u0000 in string");
	*n += utf8_put(out + *n, cp);
	return true;
}

/* Decodes the string literal at the cursor into a new NUL-terminated
 * buffer the caller frees. */
static char *parse_string(struct parser *p)
{
	size_t start = p->pos + 1, end = start, i, n = 0;
	char *out;

	/* Find the closing quote first: the decoded text is never longer
	 * than the literal, so one allocation does. */
	while (end < p->len && p->s[end] != '"')
		end += p->s[end] == '\\' ? 2 : 1;
	if (end >= p->len) {
		fail(p, p->pos, "unterminated string");
		return NULL;
	}
	out = malloc(end - start + 1);
	if (!out) {
		fail(p, p->pos, "out of memory");
		return NULL;
	}

	for (i = start; i < end;) {
		unsigned char c = p->s[i];
		size_t l;

		if (c == '\\') {
			if (!decode_escape(p, &i, end, out, &n))
				goto bad;
			continue;
		}
		if (c < 0x20) {
			fail(p, i, "control character in string");
			goto bad;
		}
		l = utf8_len(p->s + i, end - i);
		if (!l) {
			fail(p, i, "invalid UTF-8");
			goto bad;
		}
		memcpy(out + n, p->s + i, l);
		n += l;
		i += l;
	}
	out[n] = '\0';
	p->pos = end + 1;
	return out;

bad:
	free(out);
	return NULL;
}

static struct json_value *parse_string_value(struct parser *p)
{
	struct json_value *v;
	char *s = parse_string(p);

	if (!s)
		return NULL;
	v = new_value(p, JSON_STRING);
	if (!v) {
		free(s);
		return NULL;
	}
	v->u.s = s;
	return v;
}

/* The key of an object member and its colon. */
static char *parse_key(struct parser *p)
{
	char *key;

	skip_ws(p);
	if (peek(p) != '"') {
		fail(p, p->pos, "key expected");
		return NULL;
	}
	key = parse_string(p);
	if (!key)
		return NULL;
	skip_ws(p);
	if (peek(p) != ':') {
		fail(p, p->pos, "':' expected");
		free(key);
		return NULL;
	}
	p->pos++;
	return key;
}

/* Appends @item (and for objects @key) to @c, which then owns them. */
static bool push(struct parser *p, struct json_value *c, char *key,
		 struct json_value *item)
{
	if (c->u.c.n == c->u.c.cap) {
		size_t cap = c->u.c.cap ? c->u.c.cap * 2 : 4;
		struct json_value **items;

		if (cap > SIZE_MAX / sizeof(*items))
			return fail(p, p->pos, "out of memory");
		items = realloc(c->u.c.items, cap * sizeof(*items));
		if (!items)
			return fail(p, p->pos, "out of memory");
		c->u.c.items = items;
		if (c->type == JSON_OBJECT) {
			char **keys = realloc(c->u.c.keys, cap * sizeof(*keys));
			if (!keys)
				return fail(p, p->pos, "out of memory");
			c->u.c.keys = keys;
		}
		c->u.c.cap = cap;
	}
	c->u.c.items[c->u.c.n] = item;
	if (c->type == JSON_OBJECT)
		c->u.c.keys[c->u.c.n] = key;
	c->u.c.n++;
	return true;
}

/* An array or object, the cursor on its opening bracket. Recursion goes
 * through here only, and stops at JSON_MAX_DEPTH. */
static struct json_value *parse_container(struct parser *p,
					  enum json_type type)
{
	int close = type == JSON_OBJECT ? '}' : ']';
	struct json_value *c;

	if (p->depth == JSON_MAX_DEPTH) {
		fail(p, p->pos, "nested too deep");
		return NULL;
	}
	c = new_value(p, type);
	if (!c)
		return NULL;
	p->depth++;
	p->pos++;
	skip_ws(p);
	if (peek(p) == close) {
		p->pos++;
		goto done;
	}
	for (;;) {
		struct json_value *item;
		char *key = NULL;
		int next;

		if (type == JSON_OBJECT) {
			key = parse_key(p);
			if (!key)
				goto bad;
		}
		item = parse_value(p);
		if (!item || !push(p, c, key, item)) {
			free(key);
			json_free(item);
			goto bad;
		}
		skip_ws(p);
		next = peek(p);
		if (next == close) {
			p->pos++;
			break;
		}
		if (next != ',') {
			fail(p, p->pos, type == JSON_OBJECT ?
			     "',' or '}' expected" : "',' or ']' expected");
			goto bad;
		}
		p->pos++;
	}
done:
	p->depth--;
	return c;

bad:
	p->depth--;
	json_free(c);
	return NULL;
}

static struct json_value *parse_value(struct parser *p)
{
	skip_ws(p);
	switch (peek(p)) {
	case -1:
		fail(p, p->pos, "unexpected end");
		return NULL;
	case '{':
		return parse_container(p, JSON_OBJECT);
	case '[':
		return parse_container(p, JSON_ARRAY);
	case '"':
		return parse_string_value(p);
	case 't':
		return parse_literal(p, "true", JSON_BOOL, true);
	case 'f':
		return parse_literal(p, "false", JSON_BOOL, false);
	case 'n':
		return parse_literal(p, "null", JSON_NULL, false);
	default:
		return parse_number(p);
	}
}

struct json_value *json_parse(const char *text, size_t len,
			      char *err, size_t errlen)
{
	struct parser p = {
		.s = (const unsigned char *)text,
		.len = text ? len : 0,
	};
	struct json_value *v = parse_value(&p);

	if (v) {
		skip_ws(&p);
		if (p.pos < p.len) {
			fail(&p, p.pos, "trailing characters");
			json_free(v);
			v = NULL;
		}
	}
	if (err && errlen) {
		if (v)
			err[0] = '\0';
		else
			snprintf(err, errlen, "%s at byte %zu",
				 p.why ? p.why : "invalid", p.at);
	}
	return v;
}

void json_free(struct json_value *v)
{
	if (!v)
		return;
	if (v->type == JSON_STRING) {
		free(v->u.s);
	} else if (v->type == JSON_ARRAY || v->type == JSON_OBJECT) {
		/* as deep as the parser let it be, no deeper */
		for (size_t i = 0; i < v->u.c.n; i++) {
			json_free(v->u.c.items[i]);
			if (v->u.c.keys)
				free(v->u.c.keys[i]);
		}
		free(v->u.c.items);
		free(v->u.c.keys);
	}
	free(v);
}

enum json_type json_type(const struct json_value *v)
{
	return v ? v->type : JSON_NULL;
}

static bool is_container(const struct json_value *v)
{
	return v && (v->type == JSON_ARRAY || v->type == JSON_OBJECT);
}

const struct json_value *json_get(const struct json_value *v, const char *key)
{
	if (!v || v->type != JSON_OBJECT || !key)
		return NULL;
	for (size_t i = 0; i < v->u.c.n; i++)
		if (strcmp(v->u.c.keys[i], key) == 0)
			return v->u.c.items[i];
	return NULL;
}

size_t json_len(const struct json_value *v)
{
	return is_container(v) ? v->u.c.n : 0;
}

const struct json_value *json_at(const struct json_value *v, size_t i)
{
	if (!is_container(v) || i >= v->u.c.n)
		return NULL;
	return v->u.c.items[i];
}

const char *json_key_at(const struct json_value *v, size_t i)
{
	if (!v || v->type != JSON_OBJECT || i >= v->u.c.n)
		return NULL;
	return v->u.c.keys[i];
}

const char *json_str(const struct json_value *v, const char *def)
{
	return v && v->type == JSON_STRING ? v->u.s : def;
}

double json_num(const struct json_value *v, double def)
{
	return v && v->type == JSON_NUMBER ? v->u.num.d : def;
}

long long json_int(const struct json_value *v, long long def)
{
	if (!v || v->type != JSON_NUMBER || !v->u.num.is_int)
		return def;
	return v->u.num.i;
}

bool json_bool(const struct json_value *v, bool def)
{
	return v && v->type == JSON_BOOL ? v->u.b : def;
}

/* ---- writer ---- */

/* Makes room for @n more bytes and the NUL. */
static bool w_reserve(struct json_writer *w, size_t n)
{
	size_t cap;
	char *buf;

	if (w->failed)
		return false;
	if (w->cap - w->len > n)
		return true;
	if (n > SIZE_MAX / 2 - w->len)
		goto fail;
	cap = w->cap ? w->cap : 64;
	while (cap < w->len + n + 1)
		cap *= 2;
	buf = realloc(w->buf, cap);
	if (!buf)
		goto fail;
	w->buf = buf;
	w->cap = cap;
	return true;

fail:
	w->failed = true;
	return false;
}

static void w_put(struct json_writer *w, const char *s, size_t n)
{
	if (!w_reserve(w, n))
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

static void w_puts(struct json_writer *w, const char *s)
{
	w_put(w, s, strlen(s));
}

static void w_escape(struct json_writer *w, unsigned char c)
{
	char tmp[8];

	switch (c) {
	case '"':
		w_put(w, "\\\"", 2);
		break;
	case '\\':
		w_put(w, "\\\\", 2);
		break;
	case '\b':
		w_put(w, "\\b", 2);
		break;
	case '\f':
		w_put(w, "\\f", 2);
		break;
	case '\n':
		w_put(w, "\\n", 2);
		break;
	case '\r':
		w_put(w, "\\r", 2);
		break;
	case '\t':
		w_put(w, "\\t", 2);
		break;
	default:
		snprintf(tmp, sizeof(tmp), "\\u%04x", (unsigned int)c);
		w_put(w, tmp, 6);
		break;
	}
}

/* @s as a string literal. Invalid UTF-8 becomes U+FFFD byte by byte: the
 * reader refuses it, and a daemon answer must always parse. */
static void w_string_literal(struct json_writer *w, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = strlen(s), i = 0;

	w_put(w, "\"", 1);
	while (i < n) {
		size_t run = i, l;

		/* plain ASCII goes out in one piece */
		while (run < n && u[run] >= 0x20 && u[run] < 0x80 &&
		       u[run] != '"' && u[run] != '\\')
			run++;
		w_put(w, s + i, run - i);
		i = run;
		if (i == n)
			break;
		if (u[i] < 0x80) {
			w_escape(w, u[i++]);
			continue;
		}
		l = utf8_len(u + i, n - i);
		if (l) {
			w_put(w, s + i, l);
			i += l;
		} else {
			w_put(w, "\\ufffd", 6);
			i++;
		}
	}
	w_put(w, "\"", 1);
}

static uint32_t w_level(const struct json_writer *w)
{
	return (uint32_t)1 << (w->depth - 1);
}

/* The comma between elements, if one is due. */
static void w_separate(struct json_writer *w)
{
	uint32_t bit = w_level(w);

	if (w->has_items & bit)
		w_put(w, ",", 1);
	w->has_items |= bit;
}

/* Whatever goes before a value; false when no value may come here: a
 * second top-level value, or a member value without its key. */
static bool w_before_value(struct json_writer *w)
{
	if (w->failed)
		return false;
	if (w->depth == 0) {
		if (w->len)
			w->failed = true;
		return !w->failed;
	}
	if (w->is_object & w_level(w)) {
		if (!w->after_key)
			w->failed = true;
		w->after_key = false;
		return !w->failed;
	}
	w_separate(w);
	return !w->failed;
}

static void w_begin(struct json_writer *w, bool object)
{
	uint32_t bit;

	if (!w_before_value(w))
		return;
	if (w->depth == JSON_MAX_DEPTH) {
		w->failed = true;
		return;
	}
	w_put(w, object ? "{" : "[", 1);
	w->depth++;
	bit = w_level(w);
	w->has_items &= ~bit;
	if (object)
		w->is_object |= bit;
	else
		w->is_object &= ~bit;
}

static void w_end(struct json_writer *w, bool object)
{
	if (w->failed)
		return;
	if (w->depth == 0 || w->after_key ||
	    !(w->is_object & w_level(w)) != !object) {
		w->failed = true;
		return;
	}
	w_put(w, object ? "}" : "]", 1);
	w->depth--;
}

void json_w_begin_object(struct json_writer *w)
{
	w_begin(w, true);
}

void json_w_end_object(struct json_writer *w)
{
	w_end(w, true);
}

void json_w_begin_array(struct json_writer *w)
{
	w_begin(w, false);
}

void json_w_end_array(struct json_writer *w)
{
	w_end(w, false);
}

void json_w_key(struct json_writer *w, const char *key)
{
	if (w->failed)
		return;
	if (!key || w->depth == 0 || !(w->is_object & w_level(w)) ||
	    w->after_key) {
		w->failed = true;
		return;
	}
	w_separate(w);
	w_string_literal(w, key);
	w_put(w, ":", 1);
	w->after_key = true;
}

void json_w_string(struct json_writer *w, const char *s)
{
	if (!w_before_value(w))
		return;
	if (s)
		w_string_literal(w, s);
	else
		w_puts(w, "null");
}

void json_w_int(struct json_writer *w, long long v)
{
	char tmp[24];

	if (!w_before_value(w))
		return;
	snprintf(tmp, sizeof(tmp), "%lld", v);
	w_puts(w, tmp);
}

void json_w_uint(struct json_writer *w, unsigned long long v)
{
	char tmp[24];

	if (!w_before_value(w))
		return;
	snprintf(tmp, sizeof(tmp), "%llu", v);
	w_puts(w, tmp);
}

void json_w_bool(struct json_writer *w, bool v)
{
	if (w_before_value(w))
		w_puts(w, v ? "true" : "false");
}

void json_w_null(struct json_writer *w)
{
	if (w_before_value(w))
		w_puts(w, "null");
}

void json_w_kv_string(struct json_writer *w, const char *key, const char *s)
{
	json_w_key(w, key);
	json_w_string(w, s);
}

void json_w_double(struct json_writer *w, double v)
{
	char tmp[32];

	if (!isfinite(v)) {
		json_w_null(w);
		return;
	}
	if (!w_before_value(w))
		return;
	snprintf(tmp, sizeof(tmp), "%.6g", v);
	w_puts(w, tmp);
}

void json_w_kv_double(struct json_writer *w, const char *key, double v)
{
	json_w_key(w, key);
	json_w_double(w, v);
}

void json_w_kv_int(struct json_writer *w, const char *key, long long v)
{
	json_w_key(w, key);
	json_w_int(w, v);
}

void json_w_kv_uint(struct json_writer *w, const char *key,
		    unsigned long long v)
{
	json_w_key(w, key);
	json_w_uint(w, v);
}

void json_w_kv_bool(struct json_writer *w, const char *key, bool v)
{
	json_w_key(w, key);
	json_w_bool(w, v);
}

const char *json_w_text(const struct json_writer *w)
{
	return w->buf ? w->buf : "";
}

void json_w_free(struct json_writer *w)
{
	free(w->buf);
	memset(w, 0, sizeof(*w));
}
