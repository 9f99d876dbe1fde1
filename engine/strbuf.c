#include "engine/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static size_t room(const struct strbuf *s, size_t *at)
{
	*at = s->need < s->len ? s->need : s->len;
	return s->len - *at;
}

void strbuf_printf(struct strbuf *s, const char *fmt, ...)
{
	size_t at, left = room(s, &at);
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(left ? s->buf + at : NULL, left, fmt, ap);
	va_end(ap);
	if (n > 0)
		s->need += (size_t)n;
}

void strbuf_put(struct strbuf *s, const char *text, size_t n)
{
	size_t at, left = room(s, &at);

	if (left) {
		size_t c = n < left - 1 ? n : left - 1;
		memcpy(s->buf + at, text, c);
		s->buf[at + c] = '\0';
	}
	s->need += n;
}
