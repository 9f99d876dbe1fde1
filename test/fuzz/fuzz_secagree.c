/* libFuzzer: the sec-agree header parser (nat/secagree.c). Whatever parses
 * must come back the same through its canonical form: format, parse
 * again, compare equal, and format to the same text. The P-CSCF's choice
 * and its Security-Server run on what parsed, and the Security-Server it
 * builds must round-trip too. */
#include <errno.h>
#include <string.h>

#include "nat/secagree.h"
#include "test/fuzz/fuzz.h"

/* The P-CSCF's priority list: every combination Annex H has. */
static const struct secagree_pref prefs[] = {
	{ ESP_AUTH_HMAC_SHA1_96, ESP_ENC_AES_CBC },
	{ ESP_AUTH_HMAC_MD5_96, ESP_ENC_AES_CBC },
	{ ESP_AUTH_HMAC_SHA1_96, ESP_ENC_3DES_CBC },
	{ ESP_AUTH_HMAC_MD5_96, ESP_ENC_3DES_CBC },
	{ ESP_AUTH_HMAC_SHA1_96, ESP_ENC_NULL },
	{ ESP_AUTH_HMAC_MD5_96, ESP_ENC_NULL },
};
#define NPREFS (sizeof(prefs) / sizeof(prefs[0]))

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

/* The canonical text of @h in a heap block of exactly its size, after
 * checking that cut-short buffers get the same prefix and the same count. */
static char *canonical(const struct secagree_header *h)
{
	int need = secagree_format(h, NULL, 0);

	FUZZ_ASSERT(need >= 0, "secagree_format returned %d", need);
	char *s = malloc((size_t)need + 1);
	if (!s)
		abort();
	int n = secagree_format(h, s, (size_t)need + 1);
	FUZZ_ASSERT(n == need && strlen(s) == (size_t)need,
		    "format: %d then %d bytes, strlen %zu", need, n, strlen(s));

	size_t cut = (size_t)need / 2 + 1;
	char *part = malloc(cut);
	if (!part)
		abort();
	n = secagree_format(h, part, cut);
	FUZZ_ASSERT(n == need && strlen(part) == cut - 1 &&
		    memcmp(part, s, cut - 1) == 0,
		    "format into %zu bytes: \"%s\" (%d) against \"%s\"", cut, part, n, s);
	free(part);
	return s;
}

static void parse_canonical(const char *text, struct secagree_header *h)
{
	char err[256];
	int r = secagree_parse(text, h, err, sizeof(err));

	FUZZ_ASSERT(r == 0, "canonical form \"%s\" refused: %s", text, err);
}

static void check_round_trip(const struct secagree_header *h)
{
	static struct secagree_header again, third;
	char *text = canonical(h);

	FUZZ_ASSERT(secagree_equal(h, h), "a header differs from itself: \"%s\"", text);
	parse_canonical(text, &again);
	FUZZ_ASSERT(again.n == h->n, "\"%s\": %zu mechanisms, then %zu", text, h->n, again.n);
	FUZZ_ASSERT(secagree_equal(h, &again) && secagree_equal(&again, h),
		    "\"%s\" parses to a different header", text);
	char *text2 = canonical(&again);
	FUZZ_ASSERT(strcmp(text, text2) == 0, "canonical form not stable: \"%s\" -> \"%s\"",
		    text, text2);
	parse_canonical(text2, &third);
	FUZZ_ASSERT(secagree_equal(&again, &third), "\"%s\" unstable", text2);
	free(text2);
	free(text);
}

/* The choice must name an ipsec-3gpp mechanism that offers the pair. */
static void check_choice(const struct secagree_header *h, bool nat)
{
	enum esp_auth alg;
	enum esp_enc ealg;
	enum nat_mode mode;
	int i = secagree_choose(h, prefs, NPREFS, nat, &alg, &ealg, &mode);

	if (i < 0) {
		FUZZ_ASSERT(i == -ENOENT || i == -EPROTONOSUPPORT, "choose: %d", i);
		return;
	}
	FUZZ_ASSERT((size_t)i < h->n, "choose picked %d of %zu", i, h->n);
	const struct secagree_mech *m = &h->mech[i];
	FUZZ_ASSERT(m->ipsec_3gpp && m->alg == (int)alg && m->prot != 1,
		    "choose picked mechanism %d (%s, alg %d) for alg %d", i, m->name,
		    m->alg, alg);
	FUZZ_ASSERT(m->ealg == (int)ealg || (m->ealg == -1 && ealg == ESP_ENC_NULL),
		    "choose: ealg %d for an offer of %d", ealg, m->ealg);
	(void)secagree_choose(h, prefs, NPREFS, nat, NULL, NULL, NULL);

	/* answer with the offer's own SPIs and ports, as a P-CSCF echoing them
	 * would; zeros are refused, everything else must round-trip */
	static struct secagree_header server;
	int r = secagree_server(prefs, 1 + (size_t)i % NPREFS, m->spi_c, m->spi_s,
				m->port_c, m->port_s, mode, &server);
	if (r) {
		FUZZ_ASSERT(!m->spi_c || !m->spi_s || !m->port_c || !m->port_s,
			    "server refused spis %u/%u ports %u/%u", m->spi_c, m->spi_s,
			    m->port_c, m->port_s);
		return;
	}
	check_round_trip(&server);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct secagree_header h;
	char err[256];
	char *value = fuzz_cstr(data, size);

	memset(err, 'x', sizeof(err));
	int r = secagree_parse(value, &h, err, sizeof(err));
	if (r == 0) {
		FUZZ_ASSERT(h.n >= 1 && h.n <= SECAGREE_MAX_MECHS, "%zu mechanisms", h.n);
		for (size_t i = 0; i < h.n; i++)
			FUZZ_ASSERT(h.mech[i].nextra <= SECAGREE_MAX_EXTRA, "%zu extras",
				    h.mech[i].nextra);
		check_round_trip(&h);
		check_choice(&h, false);
		check_choice(&h, true);
	} else {
		FUZZ_ASSERT(r == -EINVAL && h.n == 0, "parse returned %d with %zu mechanisms",
			    r, h.n);
		FUZZ_ASSERT(memchr(err, '\0', sizeof(err)) && err[0],
			    "refused without a reason");
	}
	/* a NULL err is allowed */
	(void)secagree_parse(value, &h, NULL, 0);
	free(value);
	return 0;
}
