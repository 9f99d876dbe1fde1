#include "tools/wireshark.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

/* The UAT's names for the algorithms (Wireshark 4.0, packet-ipsec.c): one
 * AES-CBC entry whose key length picks AES-128/192/256. */
static const char *enc_name(enum esp_enc e)
{
	switch (e) {
	case ESP_ENC_AES_CBC:
		return "AES-CBC [RFC3602]";
	case ESP_ENC_3DES_CBC:
		return "TripleDES-CBC [RFC2451]";
	default:
		return "NULL";
	}
}

static const char *auth_name(enum esp_auth a)
{
	switch (a) {
	case ESP_AUTH_HMAC_MD5_96:
		return "HMAC-MD5-96 [RFC2403]";
	case ESP_AUTH_HMAC_SHA1_96:
		return "HMAC-SHA-1-96 [RFC2404]";
	default:
		return "NULL";
	}
}

static void put_key(FILE *f, const uint8_t *key, size_t len)
{
	fputc('"', f);
	if (len) {
		fputs("0x", f);
		for (size_t i = 0; i < len; i++)
			fprintf(f, "%02x", key[i]);
	}
	fputc('"', f);
}

int wireshark_write_esp_sa(const char *path, const struct esp_sad *sad)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	FILE *f = fdopen(fd, "w");
	if (!f) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	fputs("# Wireshark ESP SAs written by espnat: holds keys, keep private\n", f);
	for (const struct esp_sa *sa = esp_sad_first(sad); sa; sa = esp_sad_next(sa)) {
		const struct esp_sa_params *p = &sa->p;
		char a[ESP_ADDRSTRLEN], b[ESP_ADDRSTRLEN];

		fprintf(f, "\"%s\",\"%s\",\"%s\",\"0x%08x\",\"%s\",",
			p->src.family == AF_INET ? "IPv4" : "IPv6",
			esp_addr_str(&p->src, a), esp_addr_str(&p->dst, b), p->spi,
			enc_name(p->enc));
		put_key(f, p->enc_key, p->enc_key_len);
		fprintf(f, ",\"%s\",", auth_name(p->auth));
		put_key(f, p->auth_key, p->auth_key_len);
		fputc('\n', f);
	}
	if (fclose(f) != 0)
		return -1;
	return 0;
}
