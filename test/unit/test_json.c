/* tools/json: the control socket's reader and writer. Every value type,
 * escapes both ways, the number rules, what must be refused, input that is
 * not NUL-terminated, and a bounded fuzz loop the ASan build runs. */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/unit/check.h"
#include "test/unit/testutil.h"
#include "tools/json.h"

#define LIT(s) (s), sizeof(s) - 1

static struct json_value *parse_lit(const char *text)
{
	char err[JSON_ERRLEN];
	struct json_value *v = json_parse(text, strlen(text), err, sizeof(err));

	if (!v)
		fprintf(stderr, "parse \"%s\": %s\n", text, err);
	return v;
}

/* Parses a copy in a buffer of exactly @len bytes, so that ASan sees any
 * read past the end. */
static struct json_value *parse_exact(const char *text, size_t len)
{
	char *copy = malloc(len ? len : 1);
	struct json_value *v;

	if (!copy)
		abort();
	memcpy(copy, text, len);
	v = json_parse(copy, len, NULL, 0);
	free(copy);
	return v;
}

static void test_scalars(void)
{
	struct json_value *v;

	v = parse_lit("null");
	CHECK(v && json_type(v) == JSON_NULL);
	CHECK_STR(json_str(v, "def"), "def");
	CHECK_EQ(json_int(v, -7), -7);
	CHECK_EQ(json_len(v), 0);
	json_free(v);

	v = parse_lit(" true ");
	CHECK(v && json_type(v) == JSON_BOOL);
	CHECK(json_bool(v, false));
	CHECK(json_num(v, 2.5) == 2.5);
	json_free(v);

	v = parse_lit("\r\n\tfalse");
	CHECK(v && json_type(v) == JSON_BOOL);
	CHECK(!json_bool(v, true));
	json_free(v);

	v = parse_lit("42");
	CHECK(v && json_type(v) == JSON_NUMBER);
	CHECK_EQ(json_int(v, 0), 42);
	CHECK(json_num(v, 0) == 42.0);
	CHECK(json_bool(v, true));
	CHECK_STR(json_str(v, "def"), "def");
	json_free(v);

	v = parse_lit("\"hello\"");
	CHECK(v && json_type(v) == JSON_STRING);
	CHECK_STR(json_str(v, NULL), "hello");
	CHECK_EQ(json_int(v, 3), 3);
	CHECK(json_get(v, "hello") == NULL);
	CHECK(json_at(v, 0) == NULL);
	json_free(v);

	v = parse_lit("\"\"");
	CHECK_STR(json_str(v, NULL), "");
	json_free(v);

	/* a NULL value reads as null with every default */
	CHECK(json_type(NULL) == JSON_NULL);
	CHECK_STR(json_str(NULL, "d"), "d");
	CHECK(json_num(NULL, 1.25) == 1.25);
	CHECK_EQ(json_int(NULL, 9), 9);
	CHECK(json_bool(NULL, true));
	CHECK_EQ(json_len(NULL), 0);
	CHECK(json_at(NULL, 0) == NULL);
	CHECK(json_key_at(NULL, 0) == NULL);
	CHECK(json_get(NULL, "a") == NULL);
	json_free(NULL);
}

static void test_nested(void)
{
	static const char doc[] =
		" {\"sa\": [ {\"spi\": 4096, \"dir\": \"in\", \"up\": true},\n"
		"           {\"spi\": 8192, \"dir\": \"out\", \"up\": false} ],\n"
		"  \"stats\": {\"rx\": 10, \"tx\": [], \"e\": {}},\n"
		"  \"n\": null, \"sa\": \"second\" } ";
	static const char *const keys[] = { "sa", "stats", "n", "sa" };
	struct json_value *v = parse_lit(doc);
	const struct json_value *sa, *st;

	CHECK(v && json_type(v) == JSON_OBJECT);
	CHECK_EQ(json_len(v), 4);
	for (size_t i = 0; i < json_len(v); i++)
		CHECK_STR(json_key_at(v, i), keys[i]);
	CHECK(json_key_at(v, 4) == NULL);
	CHECK(json_at(v, 4) == NULL);
	CHECK(json_type(json_at(v, 2)) == JSON_NULL && json_at(v, 2) != NULL);
	CHECK_STR(json_str(json_at(v, 3), NULL), "second");

	/* duplicates are kept; json_get finds the first */
	sa = json_get(v, "sa");
	CHECK(json_type(sa) == JSON_ARRAY);
	CHECK(sa == json_at(v, 0));
	CHECK_EQ(json_len(sa), 2);
	CHECK(json_key_at(sa, 0) == NULL);
	CHECK_EQ(json_int(json_get(json_at(sa, 0), "spi"), 0), 4096);
	CHECK_STR(json_str(json_get(json_at(sa, 1), "dir"), NULL), "out");
	CHECK(json_bool(json_get(json_at(sa, 0), "up"), false));
	CHECK(!json_bool(json_get(json_at(sa, 1), "up"), true));
	CHECK(json_at(sa, 2) == NULL);
	CHECK(json_get(sa, "spi") == NULL);

	st = json_get(v, "stats");
	CHECK_EQ(json_int(json_get(st, "rx"), -1), 10);
	CHECK(json_type(json_get(st, "tx")) == JSON_ARRAY);
	CHECK_EQ(json_len(json_get(st, "tx")), 0);
	CHECK(json_type(json_get(st, "e")) == JSON_OBJECT);
	CHECK_EQ(json_len(json_get(st, "e")), 0);
	CHECK(json_get(st, "missing") == NULL);
	CHECK(json_get(st, NULL) == NULL);
	/* a missing member reads as its default */
	CHECK_EQ(json_int(json_get(st, "missing"), 77), 77);
	json_free(v);

	/* empty key, and a key that needs decoding */
	v = parse_lit("{\"\":1,\"a\\u0062\":2}");
	CHECK_EQ(json_int(json_get(v, ""), 0), 1);
	CHECK_EQ(json_int(json_get(v, "ab"), 0), 2);
	json_free(v);

	v = parse_lit("[[],[[]],{}]");
	CHECK_EQ(json_len(v), 3);
	CHECK_EQ(json_len(json_at(json_at(v, 1), 0)), 0);
	json_free(v);
}

static void test_escapes(void)
{
	struct json_value *v;

	v = parse_lit("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"");
	CHECK_STR(json_str(v, NULL), "\"\\/\b\f\n\r\t");
	json_free(v);

	v = parse_lit("\"\\u0041\\u00e9\\u20AC\\uffff\"");
	CHECK_STR(json_str(v, NULL), "A\xc3\xa9\xe2\x82\xac\xef\xbf\xbf");
	json_free(v);

	/* a surrogate pair is one code point, four bytes */
	v = parse_lit("\"\\ud83d\\ude00\"");
	CHECK_EQ(strlen(json_str(v, "")), 4);
	CHECK_STR(json_str(v, NULL), "\xf0\x9f\x98\x80");
	json_free(v);
	v = parse_lit("\"x\\uDBFF\\uDFFFy\"");
	CHECK_STR(json_str(v, NULL), "x\xf4\x8f\xbf\xbfy");
	json_free(v);

	/* raw UTF-8 passes as is, up to U+10FFFF */
	v = parse_lit("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\"");
	CHECK_STR(json_str(v, NULL),
		  "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf");
	json_free(v);
	v = parse_lit("\"\x7f\"");	/* DEL is not a control character here */
	CHECK_STR(json_str(v, NULL), "\x7f");
	json_free(v);
}

static void test_numbers(void)
{
	static const struct {
		const char *text;
		double d;
		bool is_int;
		long long i;
	} t[] = {
		{ "0", 0.0, true, 0 },
		{ "-0", -0.0, true, 0 },
		{ "1e3", 1000.0, true, 1000 },
		{ "1E+2", 100.0, true, 100 },
		{ "1.5", 1.5, false, 0 },
		{ "-12", -12.0, true, -12 },
		{ "2.0", 2.0, true, 2 },
		{ "1.50e1", 15.0, true, 15 },
		{ "0.0001e4", 1.0, true, 1 },
		{ "1e-1", 0.1, false, 0 },
		{ "120e-1", 12.0, true, 12 },
		{ "0e99999999999", 0.0, true, 0 },
		{ "-0.0e-5", -0.0, true, 0 },
		{ "1e-400", 0.0, false, 0 },	/* underflows to 0, not integral */
		{ "1.0000000000000001", 1.0, false, 0 },
		/* integer literals stay exact beyond 2^53; the double rounds */
		{ "9007199254740993", 9007199254740992.0, true, 9007199254740993LL },
		{ "9223372036854775807", 9223372036854775807.0, true, LLONG_MAX },
		{ "-9223372036854775808", -9223372036854775808.0, true, LLONG_MIN },
		{ "9223372036854775808", 9223372036854775808.0, false, 0 },
		{ "-9223372036854775809", -9223372036854775809.0, false, 0 },
		{ "92233720368547758070e-1", 9223372036854775807.0, true, LLONG_MAX },
		{ "1e19", 1e19, false, 0 },
		{ "1e300", 1e300, false, 0 },
	};

	for (size_t k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
		struct json_value *v = parse_lit(t[k].text);

		CHECK(v && json_type(v) == JSON_NUMBER);
		CHECK(json_num(v, NAN) == t[k].d);
		CHECK(!signbit(json_num(v, NAN)) == !signbit(t[k].d));
		if (t[k].is_int) {
			CHECK_EQ(json_int(v, -1), t[k].i);
			CHECK_EQ(json_int(v, -2), t[k].i);
		} else {
			/* both defaults come back: it is not an integer */
			CHECK_EQ(json_int(v, -1), -1);
			CHECK_EQ(json_int(v, -2), -2);
		}
		if (!v)
			fprintf(stderr, "  number %s\n", t[k].text);
		json_free(v);
	}

	/* the longest literal taken, and one byte more */
	char num[JSON_MAX_NUMBER + 2];
	memset(num, '0', sizeof(num));
	num[0] = '1';
	struct json_value *v = json_parse(num, JSON_MAX_NUMBER, NULL, 0);
	CHECK(v && json_num(v, 0) == 1e255);
	CHECK_EQ(json_int(v, 5), 5);
	json_free(v);
	num[1] = '.';
	v = json_parse(num, JSON_MAX_NUMBER, NULL, 0);
	CHECK_EQ(json_int(v, 5), 1);
	json_free(v);
	CHECK(json_parse(num, JSON_MAX_NUMBER + 1, NULL, 0) == NULL);
}

static void test_rejections(void)
{
	static const struct {
		const char *text;
		size_t len;
	} bad[] = {
		{ LIT("") },
		{ LIT("   \n") },
		{ LIT("{") },
		{ LIT("[") },
		{ LIT("]") },
		{ LIT("}") },
		{ LIT("[1,]") },
		{ LIT("[,1]") },
		{ LIT("[1 2]") },
		{ LIT("{\"a\":1,}") },
		{ LIT("{\"a\" 1}") },
		{ LIT("{\"a\":}") },
		{ LIT("{1:2}") },
		{ LIT("{'a':1}") },
		{ LIT("{\"a\":1") },
		{ LIT("01") },
		{ LIT("-01") },
		{ LIT("+1") },
		{ LIT("1.") },
		{ LIT(".5") },
		{ LIT("-") },
		{ LIT("1e") },
		{ LIT("1e+") },
		{ LIT("0x10") },
		{ LIT("1e400") },
		{ LIT("-1e400") },
		{ LIT("NaN") },
		{ LIT("Infinity") },
		{ LIT("-Infinity") },
		{ LIT("tru") },
		{ LIT("nul") },
		{ LIT("nulll") },
		{ LIT("True") },
		{ LIT("true false") },
		{ LIT("{} x") },
		{ LIT("1 2") },
		{ LIT("\"abc") },
		{ LIT("\"\\") },
		{ LIT("\"\\\"") },
		{ LIT("\"\\x\"") },
		{ LIT("\"\\u\"") },
		{ LIT("\"\\u12\"") },
		{ LIT("\"\\u12g4\"") },
		{ LIT("\"\\ud800\"") },
		{ LIT("\"\\ud800x\"") },
		{ LIT("\"\\ud800\\u0041\"") },
		{ LIT("\"\\ud800\\ud800\"") },
		{ LIT("\"\\udc00\"") },
		{ LIT("\"\\ude00\\ud83d\"") },
		{ LIT("\"\\u0000\"") },
		{ LIT("\"a\\u0000b\"") },
		{ LIT("{\"\\u0000\":1}") },
		{ LIT("\"a\x01" "b\"") },
		{ LIT("\"a\nb\"") },
		{ LIT("\"a\tb\"") },
		{ LIT("\"a\0b\"") },
		{ LIT("\0") },
		{ LIT("1\0") },
		{ LIT("\"\xff\"") },
		{ LIT("\"\x80\"") },
		{ LIT("\"\xc0\x80\"") },		/* overlong NUL */
		{ LIT("\"\xc1\xbf\"") },		/* overlong */
		{ LIT("\"\xe0\x80\xaf\"") },	/* overlong */
		{ LIT("\"\xed\xa0\x80\"") },	/* a surrogate in UTF-8 */
		{ LIT("\"\xf4\x90\x80\x80\"") },	/* beyond U+10FFFF */
		{ LIT("\"\xe2\x82\"") },		/* cut short by the quote */
		{ LIT("\"\xc3\"") },
		{ LIT("\xef\xbb\xbf{}") },		/* no byte order mark */
		{ LIT("[1]\xff") },
		{ LIT("/* c */ 1") },
	};
	char err[JSON_ERRLEN];

	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		struct json_value *v = parse_exact(bad[k].text, bad[k].len);

		CHECK(v == NULL);
		if (v)
			fprintf(stderr, "  accepted bad input #%zu\n", k);
		json_free(v);
	}

	/* the reason says what and where */
	CHECK(json_parse(LIT("[1,]"), err, sizeof(err)) == NULL);
	CHECK_STR(err, "invalid value at byte 3");
	CHECK(json_parse(LIT("{} x"), err, sizeof(err)) == NULL);
	CHECK_STR(err, "trailing characters at byte 3");
	CHECK(json_parse(LIT("\"\\ud800\""), err, sizeof(err)) == NULL);
	CHECK_STR(err, "unpaired surrogate at byte 1");
	CHECK(json_parse(LIT(""), err, sizeof(err)) == NULL);
	CHECK_STR(err, "unexpected end at byte 0");
	CHECK(json_parse(LIT("\"\\u0000\""), err, 4) == NULL);
	CHECK_STR(err, "\\u0");	/* cut to the room given */
	CHECK(json_parse(NULL, 0, err, sizeof(err)) == NULL);
	struct json_value *v = json_parse(LIT("1"), err, sizeof(err));
	CHECK(v && err[0] == '\0');
	json_free(v);
}

/* @depth arrays, or objects when @objects, one inside the other. */
static struct json_value *parse_nested(int depth, bool objects)
{
	char buf[1024];
	size_t n = 0;

	for (int i = 0; i < depth; i++) {
		if (objects) {
			memcpy(buf + n, "{\"k\":", 5);
			n += 5;
		} else {
			buf[n++] = '[';
		}
	}
	buf[n++] = '1';
	for (int i = 0; i < depth; i++)
		buf[n++] = objects ? '}' : ']';
	return parse_exact(buf, n);
}

static void test_depth(void)
{
	struct json_value *v;
	char *deep;

	v = parse_nested(JSON_MAX_DEPTH, false);
	CHECK(v != NULL);
	json_free(v);
	v = parse_nested(JSON_MAX_DEPTH, true);
	CHECK(v != NULL);
	json_free(v);
	CHECK(parse_nested(JSON_MAX_DEPTH + 1, false) == NULL);
	CHECK(parse_nested(JSON_MAX_DEPTH + 1, true) == NULL);

	/* far deeper than the stack would take without the limit */
	deep = malloc(1000000);
	if (!deep)
		abort();
	memset(deep, '[', 1000000);
	CHECK(json_parse(deep, 1000000, NULL, 0) == NULL);
	free(deep);
}

static void test_not_terminated(void)
{
	static const char longer[] = "[1,2] trailing text that is not looked at";
	struct json_value *v;

	v = json_parse(longer, 5, NULL, 0);
	CHECK_EQ(json_len(v), 2);
	CHECK_EQ(json_int(json_at(v, 1), 0), 2);
	json_free(v);

	/* a prefix of a number is that number */
	v = json_parse("123456", 3, NULL, 0);
	CHECK_EQ(json_int(v, 0), 123);
	json_free(v);
	v = json_parse("truex", 4, NULL, 0);
	CHECK(json_bool(v, false));
	json_free(v);
	v = json_parse("\"ab\"cd", 4, NULL, 0);
	CHECK_STR(json_str(v, NULL), "ab");
	json_free(v);

	/* and exact-size heap buffers, for ASan */
	v = parse_exact(LIT("{\"k\":[true,null,-1.5e2,\"\\ud83d\\ude00\"]}"));
	CHECK(json_num(json_at(json_get(v, "k"), 2), 0) == -150.0);
	json_free(v);
	v = parse_exact(LIT("9"));
	CHECK_EQ(json_int(v, 0), 9);
	json_free(v);
	CHECK(parse_exact(LIT("\"\\u12")) == NULL);
	CHECK(parse_exact(LIT("\"\\ud83d\\ude0")) == NULL);
	CHECK(parse_exact(LIT("\"\xf0\x9f\x98")) == NULL);
	CHECK(parse_exact(LIT("fals")) == NULL);
	CHECK(parse_exact(LIT("-")) == NULL);
	CHECK(parse_exact(LIT("1e")) == NULL);
}

static uint32_t rnd_state = 0x2545f491;

/* xorshift32: fixed seed, the same run every time */
static uint32_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state;
}

/* Touches every accessor on every node; returns the node count. */
static size_t walk(const struct json_value *v)
{
	size_t n = 1;

	switch (json_type(v)) {
	case JSON_STRING:
		n += strlen(json_str(v, "")) > 0;
		break;
	case JSON_NUMBER:
		(void)json_int(v, 0);
		(void)json_num(v, 0);
		break;
	case JSON_BOOL:
		(void)json_bool(v, false);
		break;
	case JSON_OBJECT:
		for (size_t i = 0; i < json_len(v); i++)
			if (json_get(v, json_key_at(v, i)) == NULL)
				n += 1000000;	/* cannot be */
		/* fall through */
	case JSON_ARRAY:
		for (size_t i = 0; i < json_len(v); i++)
			n += walk(json_at(v, i));
		break;
	case JSON_NULL:
		break;
	}
	return n;
}

static const char fuzz_doc[] =
	"{\"ok\":true,\"sas\":[{\"spi\":4096,\"src\":\"10.0.0.7\",\"encap\":null,"
	"\"bytes\":18446744073709551615,\"rate\":-1.25e-3,\"n\":[0,-0,1e3]},"
	"{\"name\":\"caf\xc3\xa9 \\\"q\\\" \\\\ \\n\\t\\u00e9\\ud83d\\ude00\","
	"\"x\":{\"y\":{\"z\":[[],{}]}}}],\"err\":\"\",\"f\":false}";

static void test_fuzz(void)
{
	static const char interesting[] = "{}[],:\"\\u0123456789eE-+.tfn \x80\xff";
	size_t len = sizeof(fuzz_doc) - 1, accepted_prefix = 0;
	size_t accepted = 0, refused = 0;
	struct json_value *v;
	char buf[sizeof(fuzz_doc) * 2];

	v = parse_exact(fuzz_doc, len);
	CHECK(v != NULL);
	CHECK_STR(json_str(json_get(json_at(json_get(v, "sas"), 1), "name"), NULL),
		  "caf\xc3\xa9 \"q\" \\ \n\t\xc3\xa9\xf0\x9f\x98\x80");
	CHECK(walk(v) > 20);
	json_free(v);

	/* every proper prefix of an object is incomplete */
	for (size_t n = 0; n < len; n++) {
		v = parse_exact(fuzz_doc, n);
		if (v)
			accepted_prefix++;
		json_free(v);
	}
	CHECK_EQ(accepted_prefix, 0);

	/* random mutations: must parse or be refused, nothing else */
	for (int iter = 0; iter < 50000; iter++) {
		size_t n = len;
		int edits = 1 + (int)(rnd() % 4);

		memcpy(buf, fuzz_doc, len);
		for (int e = 0; e < edits && n > 1; e++) {
			size_t at = rnd() % n;

			switch (rnd() % 4) {
			case 0:		/* any byte */
				buf[at] = (char)rnd();
				break;
			case 1:		/* a byte the grammar cares about */
				buf[at] = interesting[rnd() % (sizeof(interesting) - 1)];
				break;
			case 2:		/* drop one */
				memmove(buf + at, buf + at + 1, n - at - 1);
				n--;
				break;
			case 3:		/* repeat a short run */
				if (n + 8 <= sizeof(buf)) {
					size_t run = 1 + rnd() % 8;
					if (at + run > n)
						run = n - at;
					memmove(buf + at + run, buf + at, n - at);
					n += run;
				}
				break;
			}
		}
		v = parse_exact(buf, n);
		if (v) {
			accepted++;
			(void)walk(v);
		} else {
			refused++;
		}
		json_free(v);
	}
	/* the loop saw both outcomes, so it tested something */
	CHECK(accepted > 100);
	CHECK(refused > 100);
	CHECK_EQ(accepted + refused, 50000);
}

static void test_writer(void)
{
	struct json_writer w = { 0 };

	CHECK_STR(json_w_text(&w), "");

	json_w_begin_object(&w);
	json_w_kv_bool(&w, "ok", true);
	json_w_key(&w, "sas");
	json_w_begin_array(&w);
	json_w_begin_object(&w);
	json_w_kv_uint(&w, "spi", 4096);
	json_w_kv_string(&w, "dir", "in");
	json_w_key(&w, "encap");
	json_w_null(&w);
	json_w_end_object(&w);
	json_w_int(&w, -1);
	json_w_uint(&w, ULLONG_MAX);
	json_w_begin_array(&w);
	json_w_end_array(&w);
	json_w_begin_object(&w);
	json_w_end_object(&w);
	json_w_string(&w, NULL);
	json_w_bool(&w, false);
	json_w_end_array(&w);
	json_w_kv_int(&w, "min", LLONG_MIN);
	json_w_kv_string(&w, "esc", "a\"b\\c\n\t\r\b\f\x01\x1f/\x7f");
	json_w_end_object(&w);
	CHECK(!w.failed);
	CHECK_STR(json_w_text(&w),
		  "{\"ok\":true,\"sas\":[{\"spi\":4096,\"dir\":\"in\",\"encap\":null},"
		  "-1,18446744073709551615,[],{},null,false],"
		  "\"min\":-9223372036854775808,"
		  "\"esc\":\"a\\\"b\\\\c\\n\\t\\r\\b\\f\\u0001\\u001f/\x7f\"}");
	CHECK_EQ(w.len, strlen(json_w_text(&w)));

	/* what it wrote reads back */
	struct json_value *v = parse_lit(json_w_text(&w));
	CHECK_EQ(json_int(json_at(json_get(v, "sas"), 1), 0), -1);
	CHECK_EQ(json_int(json_get(v, "min"), 0), LLONG_MIN);
	CHECK_STR(json_str(json_get(v, "esc"), NULL),
		  "a\"b\\c\n\t\r\b\f\x01\x1f/\x7f");
	json_free(v);

	json_w_free(&w);
	CHECK(w.buf == NULL && w.len == 0 && w.cap == 0 && !w.failed);

	/* numbers with fractions; what JSON cannot hold becomes null */
	json_w_begin_array(&w);
	json_w_double(&w, 1.5);
	json_w_double(&w, -0.000125);
	json_w_double(&w, 1234567.0);
	json_w_double(&w, NAN);
	json_w_double(&w, INFINITY);
	json_w_begin_object(&w);
	json_w_kv_double(&w, "pps", 4.1e6);
	json_w_end_object(&w);
	json_w_end_array(&w);
	CHECK(!w.failed);
	CHECK_STR(json_w_text(&w), "[1.5,-0.000125,1.23457e+06,null,null,{\"pps\":4.1e+06}]");
	v = parse_lit(json_w_text(&w));
	CHECK(json_num(json_at(v, 0), 0) == 1.5);
	CHECK(json_num(json_get(json_at(v, 5), "pps"), 0) == 4.1e6);
	CHECK_EQ(json_type(json_at(v, 3)), JSON_NULL);
	json_free(v);
	json_w_free(&w);
	CHECK_STR(json_w_text(&w), "");

	/* a top-level scalar, then nothing more */
	json_w_string(&w, "x");
	CHECK_STR(json_w_text(&w), "\"x\"");
	json_w_int(&w, 1);
	CHECK(w.failed);
	CHECK_STR(json_w_text(&w), "\"x\"");	/* ignored once failed */
	json_w_free(&w);

	/* bytes that are not UTF-8 come out as U+FFFD, valid ones as is */
	json_w_string(&w, "\xff\xc3\xa9\xc3(\xed\xa0\x80\xf0\x9f\x98\x80");
	CHECK_STR(json_w_text(&w),
		  "\"\\ufffd\xc3\xa9\\ufffd(\\ufffd\\ufffd\\ufffd\xf0\x9f\x98\x80\"");
	v = parse_lit(json_w_text(&w));
	CHECK(v != NULL);
	json_free(v);
	json_w_free(&w);

	/* the depth limit */
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		json_w_begin_array(&w);
	CHECK(!w.failed);
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		json_w_end_array(&w);
	CHECK(!w.failed);
	CHECK_EQ(w.len, 2 * JSON_MAX_DEPTH);
	json_w_free(&w);
	for (int i = 0; i <= JSON_MAX_DEPTH; i++) {
		json_w_begin_object(&w);
		json_w_key(&w, "k");
	}
	CHECK(w.failed);
	json_w_free(&w);
}

/* Mistakes in building fail the writer rather than emit bad JSON. */
static void test_writer_misuse(void)
{
	struct json_writer w = { 0 };

	json_w_begin_object(&w);
	json_w_int(&w, 1);			/* no key */
	CHECK(w.failed);
	json_w_free(&w);

	json_w_begin_array(&w);
	json_w_key(&w, "k");			/* key in an array */
	CHECK(w.failed);
	json_w_free(&w);

	json_w_key(&w, "k");			/* key at top level */
	CHECK(w.failed);
	json_w_free(&w);

	json_w_begin_object(&w);
	json_w_key(&w, "a");
	json_w_key(&w, "b");			/* two keys */
	CHECK(w.failed);
	json_w_free(&w);

	json_w_begin_object(&w);
	json_w_key(&w, "a");
	json_w_end_object(&w);			/* key without value */
	CHECK(w.failed);
	json_w_free(&w);

	json_w_begin_object(&w);
	json_w_end_array(&w);			/* mismatched end */
	CHECK(w.failed);
	json_w_free(&w);

	json_w_end_array(&w);			/* end of nothing */
	CHECK(w.failed);
	json_w_free(&w);

	json_w_begin_object(&w);
	json_w_kv_string(&w, NULL, "v");	/* NULL key */
	CHECK(w.failed);
	json_w_free(&w);
}

/* A valid UTF-8 string of tricky pieces, at most @max bytes with NUL. */
static void tricky_string(char *out, size_t max)
{
	static const char *const piece[] = {
		"\"", "\\", "\\u0041", "/", "\n", "\t", "\r", "\b", "\f", "\x01",
		"\x1f", " ", "a", "Z", "\x7f", "\xc3\xa9", "\xe2\x82\xac",
		"\xef\xbb\xbf", "\xef\xbf\xbd", "\xf0\x9f\x98\x80",
		"\xf4\x8f\xbf\xbf", "\xe2\x80\xa8", "{", "]", ",", ":",
	};
	size_t n = 0, want = rnd() % 24;

	for (size_t k = 0; k < want; k++) {
		const char *p = piece[rnd() % (sizeof(piece) / sizeof(piece[0]))];
		size_t l = strlen(p);
		if (n + l + 1 > max)
			break;
		memcpy(out + n, p, l);
		n += l;
	}
	out[n] = '\0';
}

static void test_roundtrip(void)
{
	size_t same = 0, parsed = 0;

	for (int iter = 0; iter < 2000; iter++) {
		struct json_writer w = { 0 };
		struct json_value *v;
		char key[128], val[128];

		tricky_string(key, sizeof(key));
		tricky_string(val, sizeof(val));
		json_w_begin_object(&w);
		json_w_kv_string(&w, key, val);
		json_w_key(&w, "arr");
		json_w_begin_array(&w);
		json_w_string(&w, val);
		json_w_string(&w, key);
		json_w_end_array(&w);
		json_w_end_object(&w);
		v = w.failed ? NULL : json_parse(w.buf, w.len, NULL, 0);
		if (v && strcmp(json_key_at(v, 0), key) == 0 &&
		    strcmp(json_str(json_at(v, 0), ""), val) == 0 &&
		    strcmp(json_str(json_at(json_get(v, "arr"), 0), ""), val) == 0 &&
		    strcmp(json_str(json_at(json_get(v, "arr"), 1), ""), key) == 0)
			same++;
		else
			fprintf(stderr, "round trip failed: %s\n", json_w_text(&w));
		json_free(v);
		json_w_free(&w);
	}
	CHECK_EQ(same, 2000);

	/* any bytes at all: the writer's output always parses */
	for (int iter = 0; iter < 2000; iter++) {
		struct json_writer w = { 0 };
		struct json_value *v;
		char s[64];
		size_t n = rnd() % sizeof(s);

		for (size_t k = 0; k < n; k++)
			s[k] = (char)(1 + rnd() % 255);
		s[n] = '\0';
		json_w_begin_array(&w);
		json_w_string(&w, s);
		json_w_end_array(&w);
		v = json_parse(json_w_text(&w), w.len, NULL, 0);
		if (v && json_type(json_at(v, 0)) == JSON_STRING)
			parsed++;
		else
			fprintf(stderr, "writer output refused: %s\n", json_w_text(&w));
		json_free(v);
		json_w_free(&w);
	}
	CHECK_EQ(parsed, 2000);
}

int main(void)
{
	test_scalars();
	test_nested();
	test_escapes();
	test_numbers();
	test_rejections();
	test_depth();
	test_not_terminated();
	test_fuzz();
	test_writer();
	test_writer_misuse();
	test_roundtrip();
	return check_done("test_json");
}
