/* A minimal assertion harness: every CHECK counts, failures say where and
 * what, and the binary ends with "name: N passed, N failed". */
#ifndef ESPNAT_TEST_CHECK_H
#define ESPNAT_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

extern int check_passed;
extern int check_failed;

#define CHECK(cond)							\
	do {								\
		if (cond) {						\
			check_passed++;					\
		} else {						\
			check_failed++;					\
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n",	\
				__FILE__, __LINE__, #cond);		\
		}							\
	} while (0)

#define CHECK_EQ(a, b)							\
	do {								\
		long long va_ = (long long)(a), vb_ = (long long)(b);	\
		if (va_ == vb_) {					\
			check_passed++;					\
		} else {						\
			check_failed++;					\
			fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", \
				__FILE__, __LINE__, #a, #b, va_, vb_);	\
		}							\
	} while (0)

#define CHECK_MEM(a, b, n)						\
	do {								\
		if (memcmp((a), (b), (n)) == 0) {			\
			check_passed++;					\
		} else {						\
			check_failed++;					\
			fprintf(stderr, "%s:%d: memory %s != %s (%zu bytes)\n", \
				__FILE__, __LINE__, #a, #b, (size_t)(n)); \
		}							\
	} while (0)

#define CHECK_STR(a, b)							\
	do {								\
		const char *sa_ = (a), *sb_ = (b);			\
		if (sa_ && sb_ && strcmp(sa_, sb_) == 0) {		\
			check_passed++;					\
		} else {						\
			check_failed++;					\
			fprintf(stderr, "%s:%d: \"%s\" != \"%s\"\n",	\
				__FILE__, __LINE__, sa_ ? sa_ : "(null)", \
				sb_ ? sb_ : "(null)");			\
		}							\
	} while (0)

/* Prints the closing line and gives the exit status. */
int check_done(const char *name);

#endif
