#include "tools/lab/registrar.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "tools/lab/akadigest.h"
#include "tools/lab/labsim.h"

int lab_sub_add(struct lab_subs *subs, char *spec)
{
	char *k = strchr(spec, ':'), *opc = k ? strchr(k + 1, ':') : NULL;

	if (!k || !opc || subs->n == LAB_MAX_SUBS)
		return -1;
	*k++ = '\0';
	*opc++ = '\0';
	struct lab_sub *s = &subs->s[subs->n];
	if (!spec[0] || strlen(spec) >= sizeof(s->impi))
		return -1;
	snprintf(s->impi, sizeof(s->impi), "%s", spec);
	if (lab_hex(k, s->k, 16) || lab_hex(opc, s->opc, 16))
		return -1;
	s->sqn = 0x100;
	subs->n++;
	return 0;
}

struct lab_sub *lab_sub_find(struct lab_subs *subs, const char *impi)
{
	for (size_t i = 0; i < subs->n; i++)
		if (strcasecmp(subs->s[i].impi, impi) == 0)
			return &subs->s[i];
	return NULL;
}

void lab_subs_wipe(struct lab_subs *subs)
{
	OPENSSL_cleanse(subs, sizeof(*subs));
}

const char *lab_impi_of(const struct sip_msg *m, char *buf, size_t len)
{
	const char *auth = sip_get(m, "Authorization");

	return auth && aka_digest_param(auth, "username", buf, len) && buf[0] ? buf : NULL;
}

int lab_challenge(struct lab_sub *s, struct aka_vector *av, char *nonce, size_t len)
{
	uint8_t rand[16], sqn[6], amf[2] = { 0x80, 0x00 };

	lab_random(rand, sizeof(rand));
	s->sqn += 32;
	for (int i = 0; i < 6; i++)
		sqn[i] = (uint8_t)(s->sqn >> (8 * (5 - i)));
	if (aka_make_vector(s->k, s->opc, rand, sqn, amf, av) ||
	    aka_nonce_encode(av->rand, av->autn, nonce, len)) {
		OPENSSL_cleanse(av, sizeof(*av));
		return -1;
	}
	return 0;
}

bool lab_res_ok(const struct lab_sub *s, const struct aka_vector *av, const char *nonce,
		const struct sip_msg *m)
{
	const char *auth = sip_get(m, "Authorization");
	char got[64], want[33], uri[256];

	if (!auth || !aka_digest_param(auth, "response", got, sizeof(got)) || strlen(got) != 32)
		return false;
	if (!aka_digest_param(auth, "uri", uri, sizeof(uri)))
		snprintf(uri, sizeof(uri), "%s", LAB_DOMAIN_URI);
	aka_digest_response(s->impi, LAB_REALM, av->xres, sizeof(av->xres), "REGISTER", uri,
			    nonce, want);
	bool ok = CRYPTO_memcmp(got, want, 32) == 0;
	OPENSSL_cleanse(want, sizeof(want));
	return ok;
}

void lab_reply(int fd, const struct sip_msg *req, int status, const char *reason,
	       const char *agent, const char *warning, const char *to_tag,
	       const struct esp_addr *to, uint16_t port)
{
	struct sip_msg r;
	struct json_writer w;
	const char *t = sip_get(req, "To");

	sip_response(&r, req, status, reason);
	if (to_tag && t && !strstr(t, ";tag="))
		sip_set(&r, "To", "%s;tag=%s", t, to_tag);
	if (warning)
		sip_set(&r, "Warning", "399 %s \"%s\"", agent, warning);
	sip_send(fd, &r, to, port);
	lab_emit_begin(&w, "sent");
	json_w_kv_uint(&w, "status", (unsigned)status);
	json_w_kv_string(&w, "msg", reason);
	if (warning)
		json_w_kv_string(&w, "warning", warning);
	lab_emit_end(&w);
}
