#include "tools/lab/akadigest.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

static const char *skip_space(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

bool aka_digest_param(const char *header, const char *name, char *out, size_t len)
{
	size_t nl = strlen(name);
	const char *p = skip_space(header);

	if (strncasecmp(p, "Digest", 6) != 0 || (p[6] != ' ' && p[6] != '\t'))
		return false;
	p = skip_space(p + 6);
	while (*p) {
		const char *key = p;
		size_t kl = strcspn(p, "= \t,");
		p = skip_space(p + kl);
		if (*p != '=')
			return false;
		p = skip_space(p + 1);
		const char *val = p;
		size_t vl;
		if (*p == '"') {
			val = ++p;
			while (*p && *p != '"')
				p += p[0] == '\\' && p[1] ? 2 : 1;
			if (*p != '"')
				return false;
			vl = (size_t)(p - val);
			p++;
		} else {
			vl = strcspn(p, " \t,");
			p += vl;
		}
		if (kl == nl && strncasecmp(key, name, nl) == 0) {
			if (vl >= len)
				return false;
			memcpy(out, val, vl);
			out[vl] = '\0';
			return true;
		}
		p = skip_space(p);
		if (*p == ',')
			p = skip_space(p + 1);
		else if (*p)
			return false;
	}
	return false;
}

int aka_nonce_encode(const uint8_t rand[16], const uint8_t autn[16], char *out,
		     size_t len)
{
	uint8_t raw[32];

	if (len < 45)
		return -1;
	memcpy(raw, rand, 16);
	memcpy(raw + 16, autn, 16);
	EVP_EncodeBlock((unsigned char *)out, raw, sizeof(raw));
	return 0;
}

int aka_nonce_decode(const char *nonce, uint8_t rand[16], uint8_t autn[16])
{
	uint8_t raw[64];
	size_t n = strlen(nonce);

	if (n != 44)
		return -1;
	if (EVP_DecodeBlock(raw, (const unsigned char *)nonce, (int)n) != 33)
		return -1;	/* 32 bytes and the padding's zero */
	memcpy(rand, raw, 16);
	memcpy(autn, raw + 16, 16);
	return 0;
}

static void md5_hex(const void *data, size_t len, char out[33])
{
	uint8_t d[16];
	unsigned int dl = 0;

	EVP_Digest(data, len, d, &dl, EVP_md5(), NULL);
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

void aka_digest_response(const char *user, const char *realm,
			 const uint8_t *res, size_t res_len, const char *method,
			 const char *uri, const char *nonce, char out[33])
{
	char buf[1024], ha1[33], ha2[33];
	int n = snprintf(buf, sizeof(buf), "%s:%s:", user, realm);

	if (n < 0 || (size_t)n + res_len >= sizeof(buf)) {
		out[0] = '\0';
		return;
	}
	memcpy(buf + n, res, res_len);
	md5_hex(buf, (size_t)n + res_len, ha1);
	n = snprintf(buf, sizeof(buf), "%s:%s", method, uri);
	md5_hex(buf, (size_t)n, ha2);
	n = snprintf(buf, sizeof(buf), "%s:%s:%s", ha1, nonce, ha2);
	md5_hex(buf, (size_t)n, out);
}
