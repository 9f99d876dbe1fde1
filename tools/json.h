/* A tiny JSON reader and writer for the control socket: one object per
 * line between `espnat` and `espnatd`. The reader takes any bytes (it is
 * fuzzed) and never reads past the length it is given; the writer builds
 * compact text in a growing buffer and inserts commas itself. */
#ifndef ESPNAT_TOOLS_JSON_H
#define ESPNAT_TOOLS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Arrays and objects nest at most this deep, in the reader and the writer. */
#define JSON_MAX_DEPTH 32

/* Longest number literal the reader takes, in bytes. */
#define JSON_MAX_NUMBER 256

/* Enough for any reason json_parse() gives. */
#define JSON_ERRLEN 96

enum json_type {
	JSON_NULL,
	JSON_BOOL,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
};

struct json_value;

/* Parses exactly one JSON value from @text[0..@len): whitespace around it
 * is allowed, anything else is not. @text need not be NUL-terminated.
 * Strict RFC 8259: no trailing commas, comments, NaN, leading zeros or
 * invalid UTF-8; strings holding U+0000 are refused so that every string
 * is a C string. Numbers whose magnitude overflows a double, and number
 * literals longer than JSON_MAX_NUMBER bytes, are refused too. Duplicate
 * keys are kept (json_get() finds the first).
 * Returns a tree the caller frees with json_free(), or NULL with a short
 * reason and byte offset in @err (which may be NULL). */
struct json_value *json_parse(const char *text, size_t len,
			      char *err, size_t errlen);

/* Frees @v and everything under it; NULL is fine. */
void json_free(struct json_value *v);

/* The type of @v; JSON_NULL when @v is NULL, so a missing member reads as
 * null. */
enum json_type json_type(const struct json_value *v);

/* The value of the first member of object @v called @key, or NULL (also
 * when @v is NULL or not an object). Borrowed from @v. */
const struct json_value *json_get(const struct json_value *v, const char *key);

/* The number of elements of an array or members of an object; 0 for
 * anything else. */
size_t json_len(const struct json_value *v);

/* Element @i of an array, or the value of member @i of an object (so that
 * objects can be walked with json_key_at()); NULL when out of range or @v
 * is neither. Borrowed from @v. */
const struct json_value *json_at(const struct json_value *v, size_t i);

/* The key of member @i of an object; NULL when out of range or @v is not
 * an object. Borrowed from @v. */
const char *json_key_at(const struct json_value *v, size_t i);

/* The decoded UTF-8 string, NUL-terminated and borrowed from @v, or @def
 * when @v is NULL or not a string. */
const char *json_str(const struct json_value *v, const char *def);

/* The number as a double (integers beyond 2^53 round), or @def when @v is
 * NULL or not a number. */
double json_num(const struct json_value *v, double def);

/* The number as an exact integer, or @def. Decided on the literal, not on
 * the double: "12", "-0", "1e3", "1.50e1" and "2.0" are integers (12, 0,
 * 1000, 15, 2); "1.5" and "1e-1" are not. 9007199254740993 comes back
 * exactly, though json_num() rounds it. Values outside long long, and
 * non-numbers, give @def. */
long long json_int(const struct json_value *v, long long def);

/* true or false, or @def when @v is NULL or not a boolean. */
bool json_bool(const struct json_value *v, bool def);

/* A growable output buffer; zero-initialise before use. One top-level
 * value per writer: json_w_free() it and start again for the next line. */
struct json_writer {
	char *buf;
	size_t len;
	size_t cap;
	/* Out of memory, nesting beyond JSON_MAX_DEPTH, or misuse (a value in
	 * an object without a key, a key outside an object, an end that does
	 * not match its begin): further writes are ignored, and the text so
	 * far must not be sent. */
	bool failed;
	/* private: nesting state so commas are inserted automatically */
	unsigned int depth;
	bool after_key;		/* a key was written, its value comes next */
	uint32_t is_object;	/* bit d - 1: level d is an object */
	uint32_t has_items;	/* bit d - 1: level d holds an element already */
};

void json_w_begin_object(struct json_writer *w);
void json_w_end_object(struct json_writer *w);
void json_w_begin_array(struct json_writer *w);
void json_w_end_array(struct json_writer *w);

/* Inside an object, before each value. */
void json_w_key(struct json_writer *w, const char *key);

/* Writes @s as a string literal: '"', '\' and control characters are
 * escaped (\n, \t, ... or \u00XX), and bytes that are not valid UTF-8
 * become U+FFFD, so the output always parses. NULL writes null. */
void json_w_string(struct json_writer *w, const char *s);
void json_w_int(struct json_writer *w, long long v);
void json_w_uint(struct json_writer *w, unsigned long long v);
void json_w_bool(struct json_writer *w, bool v);
void json_w_null(struct json_writer *w);
/* Six significant digits; NaN and infinities, which JSON lacks, as null. */
void json_w_double(struct json_writer *w, double v);

/* Key and value in one call. */
void json_w_kv_string(struct json_writer *w, const char *key, const char *s);
void json_w_kv_int(struct json_writer *w, const char *key, long long v);
void json_w_kv_uint(struct json_writer *w, const char *key,
		    unsigned long long v);
void json_w_kv_bool(struct json_writer *w, const char *key, bool v);
void json_w_kv_double(struct json_writer *w, const char *key, double v);

/* The text so far, NUL-terminated and borrowed from @w; "" when nothing
 * was written. Check w->failed before sending it. */
const char *json_w_text(const struct json_writer *w);

/* Frees the buffer and resets @w to zero, ready for reuse. */
void json_w_free(struct json_writer *w);

#endif
