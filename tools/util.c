#include "tools/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

char *read_file(const char *path, size_t max, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			size_t ncap = cap ? cap * 2 : 8192;
			char *nb = malloc(ncap);
			if (!nb)
				goto fail;
			if (buf) {
				memcpy(nb, buf, n);
				OPENSSL_cleanse(buf, cap);
				free(buf);
			}
			buf = nb;
			cap = ncap;
		}
		size_t r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
		if (n > max) {
			errno = EFBIG;
			goto fail;
		}
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		errno = EIO;
		goto fail;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
fail:
	if (buf) {
		OPENSSL_cleanse(buf, cap);
		free(buf);
	}
	int saved = errno;
	fclose(f);
	errno = saved;
	return NULL;
}

void free_secret(char *buf, size_t len)
{
	if (!buf)
		return;
	OPENSSL_cleanse(buf, len);
	free(buf);
}

void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}
