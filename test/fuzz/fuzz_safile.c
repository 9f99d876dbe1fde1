/* libFuzzer: the SA file (engine/safile.c). One line through
 * esp_safile_parse_line(), the whole input through esp_safile_load() (with
 * its continuation lines, comments and all-or-nothing undo); every SA that
 * is built is formatted back (esp_sa_format, keys shown), and that line
 * must parse to the same SA and format to the same text again. */
#include <string.h>

#include <openssl/crypto.h>

#include "encap/table.h"
#include "engine/engine.h"
#include "engine/safile.h"
#include "test/fuzz/fuzz.h"

static struct esp_engine *engine;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	engine = esp_engine_new();
	if (!engine)
		abort();
	return 0;
}

static bool addr_same(const struct esp_addr *a, const struct esp_addr *b)
{
	return a->family == b->family && memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}

/* Field by field: the structs have padding that memcmp would compare. */
static const char *params_differ(const struct esp_sa_params *a,
				 const struct esp_sa_params *b)
{
	const struct esp_selector *s = &a->sel, *t = &b->sel;

	if (!addr_same(&a->src, &b->src) || !addr_same(&a->dst, &b->dst))
		return "addresses";
	if (a->spi != b->spi || a->reqid != b->reqid)
		return "spi or reqid";
	if (a->dir != b->dir || a->mode != b->mode || a->replay_window != b->replay_window)
		return "dir, mode or replay window";
	if (a->enc != b->enc || a->enc_key_len != b->enc_key_len ||
	    memcmp(a->enc_key, b->enc_key, a->enc_key_len) != 0)
		return "cipher or its key";
	if (a->auth != b->auth || a->auth_key_len != b->auth_key_len ||
	    memcmp(a->auth_key, b->auth_key, a->auth_key_len) != 0)
		return "integrity algorithm or its key";
	if (a->encap != b->encap || a->encap_sport != b->encap_sport ||
	    a->encap_dport != b->encap_dport || !addr_same(&a->encap_oa, &b->encap_oa))
		return "encapsulation";
	if (!addr_same(&s->src, &t->src) || !addr_same(&s->dst, &t->dst) ||
	    s->src_plen != t->src_plen || s->dst_plen != t->dst_plen)
		return "selector addresses";
	if (s->proto != t->proto || s->sport != t->sport || s->dport != t->dport)
		return "selector protocol or ports";
	if (a->lifetime_s != b->lifetime_s)
		return "lifetime";
	return NULL;
}

/* @sa's line with keys, in a heap block of exactly its size; a buffer cut
 * short must get a prefix of it and the same count. */
static char *format_exact(const struct esp_sa *sa)
{
	char tiny[8];
	int need = esp_sa_format(sa, tiny, sizeof(tiny), true);

	FUZZ_ASSERT(need > 0 && strlen(tiny) == ((size_t)need < sizeof(tiny) ?
						 (size_t)need : sizeof(tiny) - 1),
		    "esp_sa_format needs %d, wrote \"%s\"", need, tiny);
	char *line = malloc((size_t)need + 1);
	if (!line)
		abort();
	int n = esp_sa_format(sa, line, (size_t)need + 1, true);
	FUZZ_ASSERT(n == need && strlen(line) == (size_t)need &&
		    strncmp(line, tiny, strlen(tiny)) == 0,
		    "esp_sa_format: %d then %d bytes: \"%s\"", need, n, line);
	return line;
}

/* What esp_sa_format printed must describe the same SA. */
static void check_format_round_trip(const struct esp_sa *sa)
{
	struct esp_sa_params p;
	struct esp_sa *again;
	char err[ESP_SAFILE_ERRLEN];
	const char *why, *diff;
	char *line = format_exact(sa);

	int r = esp_safile_parse_line(line, &p, err, sizeof(err));
	FUZZ_ASSERT(r == 1, "formatted SA \"%s\" does not parse (%d): %s", line, r, err);
	int rc = esp_sa_create(&p, &again, &why);
	FUZZ_ASSERT(rc == 0, "formatted SA \"%s\" is refused: %s", line, why);
	diff = params_differ(&sa->p, &again->p);
	FUZZ_ASSERT(!diff, "formatted SA \"%s\" parses back with other %s", line, diff);
	char *line2 = format_exact(again);
	FUZZ_ASSERT(strcmp(line, line2) == 0, "format not stable: \"%s\" then \"%s\"",
		    line, line2);

	/* without keys: the same line but for them */
	char hidden[1024];
	esp_sa_format(sa, hidden, sizeof(hidden), false);
	FUZZ_ASSERT(sa->p.auth == ESP_AUTH_NONE || strstr(hidden, "<hidden>"),
		    "keys not hidden: \"%s\"", hidden);
	OPENSSL_cleanse(line2, strlen(line2));
	OPENSSL_cleanse(line, strlen(line));
	free(line2);
	free(line);
	esp_sa_free(again);
	esp_sa_params_wipe(&p);
}

static void check_line(const uint8_t *data, size_t size)
{
	struct esp_sa_params p;
	struct esp_sa *sa;
	char err[ESP_SAFILE_ERRLEN];
	const char *why;
	char *line = fuzz_cstr(data, size);

	memset(err, 'x', sizeof(err));
	int r = esp_safile_parse_line(line, &p, err, sizeof(err));
	FUZZ_ASSERT(r >= -1 && r <= 1, "esp_safile_parse_line returned %d", r);
	if (r < 0)
		FUZZ_ASSERT(memchr(err, '\0', sizeof(err)) && err[0], "refused without a reason");
	if (r == 1 && esp_sa_create(&p, &sa, &why) == 0) {
		check_format_round_trip(sa);
		esp_sa_free(sa);
	}
	if (r == 1)
		esp_sa_params_wipe(&p);
	free(line);
}

static void check_load(const uint8_t *data, size_t size)
{
	char err[ESP_SAFILE_ERRLEN];
	/* no NUL behind the text: the loader must keep to @size */
	char *text = malloc(size ? size : 1);

	if (!text)
		abort();
	memcpy(text, data, size);
	int n = esp_safile_load(engine, text, size, err, sizeof(err));
	struct esp_sad *sad = esp_engine_sad(engine);
	size_t count = esp_sad_count(sad);
	if (n < 0) {
		FUZZ_ASSERT(count == 0, "a refused file left %zu SAs (%s)", count, err);
		FUZZ_ASSERT(strncmp(err, "line ", 5) == 0, "reason without a line: %s", err);
	} else {
		FUZZ_ASSERT((size_t)n == count, "load said %d SAs, the SAD holds %zu", n, count);
		for (struct esp_sa *sa = esp_sad_first(sad); sa; sa = esp_sad_next(sa))
			check_format_round_trip(sa);
	}
	FUZZ_ASSERT(esp_engine_flush(engine) == count, "flush removed another count");
	/* no SA left, so no registration either: a group that outlived its
	 * SAs points at freed memory */
	size_t groups = encap_table_count(esp_engine_table(engine));
	FUZZ_ASSERT(groups == 0, "%zu registrations left without SAs (load %s)", groups,
		    n < 0 ? "refused" : "accepted");
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_line(data, size);
	check_load(data, size);
	return 0;
}
