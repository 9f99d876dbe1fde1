/* What the libFuzzer harnesses share: taking fields off the front of an
 * input, exact-size heap copies (so that AddressSanitizer sees a read one
 * byte past what the code was given), and invariants that abort, which
 * libFuzzer reports as a crash with the input that broke them. */
#ifndef ESPNAT_TEST_FUZZ_H
#define ESPNAT_TEST_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "%s:%d: invariant broken: %s\n",	\
				__FILE__, __LINE__, #cond);		\
			fprintf(stderr, __VA_ARGS__);			\
			fputc('\n', stderr);				\
			abort();					\
		}							\
	} while (0)

/* The input not yet consumed. Taking from an empty input gives zeros, so
 * that every byte string decodes to something. */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static inline uint16_t fuzz_u16(struct fuzz_in *in)
{
	uint16_t hi = fuzz_u8(in);

	return (uint16_t)(hi << 8 | fuzz_u8(in));
}

static inline uint32_t fuzz_u32(struct fuzz_in *in)
{
	uint32_t hi = fuzz_u16(in);

	return hi << 16 | fuzz_u16(in);
}

/* Up to @max bytes of the input, in place; their count in *@len. */
static inline const uint8_t *fuzz_take(struct fuzz_in *in, size_t max,
				       size_t *len)
{
	static const uint8_t none[1];
	const uint8_t *p = in->p ? in->p : none;

	*len = in->n < max ? in->n : max;
	if (*len) {
		in->p += *len;
		in->n -= *len;
	}
	return p;
}

/* @data as a C string in a heap block of exactly @size + 1 bytes. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

#endif
