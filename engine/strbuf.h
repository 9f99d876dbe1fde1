/* Appending formatted text to a caller's fixed buffer, snprintf-style:
 * output is cut at the end of the buffer (always NUL-terminated) while the
 * count keeps the length that was needed. */
#ifndef ESPNAT_STRBUF_H
#define ESPNAT_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct strbuf {
	char *buf;
	size_t len;
	size_t need;	/* bytes the text needed, NUL excluded */
};

static inline void strbuf_init(struct strbuf *s, char *buf, size_t len)
{
	s->buf = buf;
	s->len = len;
	s->need = 0;
	if (len)
		buf[0] = '\0';
}

void strbuf_printf(struct strbuf *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void strbuf_put(struct strbuf *s, const char *text, size_t n);

static inline bool strbuf_truncated(const struct strbuf *s)
{
	return s->need >= s->len;
}

#endif
