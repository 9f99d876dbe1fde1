/* Which crypto backend a worker's bursts use. */
#include "engine/batch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/sa.h"

struct esp_batch {
	enum esp_backend kind;
	void *impl;		/* the backend's own state */
};

static const char *const backend_names[ESP_BACKEND__COUNT] = {
	[ESP_BACKEND_OPENSSL] = "openssl",
	[ESP_BACKEND_IPSEC_MB] = "ipsec-mb",
};

const char *esp_backend_name(enum esp_backend b)
{
	return b < ESP_BACKEND__COUNT ? backend_names[b] : "?";
}

int esp_backend_by_name(const char *name)
{
	for (int i = 0; i < ESP_BACKEND__COUNT; i++)
		if (strcmp(name, backend_names[i]) == 0)
			return i;
	return -1;
}

int esp_backend_check(enum esp_backend b, const char **why)
{
	switch (b) {
	case ESP_BACKEND_OPENSSL:
		return 0;
	case ESP_BACKEND_IPSEC_MB:
#ifdef ESPNAT_HAVE_IPSEC_MB
		return esp_mb_check(why);
#else
		*why = "the ipsec-mb backend is not built in (meson option ipsec_mb; "
		       "Debian package libipsec-mb-dev)";
		return -ENOTSUP;
#endif
	default:
		*why = "unknown crypto backend";
		return -EINVAL;
	}
}

struct esp_batch *esp_batch_new(enum esp_backend b)
{
	const char *why;

	if (esp_backend_check(b, &why))
		return NULL;
	struct esp_batch *bt = calloc(1, sizeof(*bt));
	if (!bt)
		return NULL;
	bt->kind = b;
#ifdef ESPNAT_HAVE_IPSEC_MB
	if (b == ESP_BACKEND_IPSEC_MB && !(bt->impl = esp_mb_new())) {
		free(bt);
		return NULL;
	}
#endif
	return bt;
}

void esp_batch_free(struct esp_batch *bt)
{
	if (!bt)
		return;
#ifdef ESPNAT_HAVE_IPSEC_MB
	if (bt->kind == ESP_BACKEND_IPSEC_MB)
		esp_mb_free(bt->impl);
#endif
	free(bt);
}

enum esp_backend esp_batch_kind(const struct esp_batch *bt)
{
	return bt ? bt->kind : ESP_BACKEND_OPENSSL;
}

void esp_batch_seal(struct esp_batch *bt, struct esp_seal_op *ops, unsigned n)
{
#ifdef ESPNAT_HAVE_IPSEC_MB
	if (bt && bt->kind == ESP_BACKEND_IPSEC_MB) {
		esp_mb_seal(bt->impl, ops, n);
		return;
	}
#else
	(void)bt;
#endif
	esp_seal_openssl_burst(ops, n);
}

void esp_batch_mac(struct esp_batch *bt, struct esp_open_op *ops, unsigned n)
{
#ifdef ESPNAT_HAVE_IPSEC_MB
	if (bt && bt->kind == ESP_BACKEND_IPSEC_MB) {
		esp_mb_mac(bt->impl, ops, n);
		return;
	}
#else
	(void)bt;
#endif
	for (unsigned i = 0; i < n; i++)
		ops[i].status = esp_mac_openssl(ops[i].sa, ops[i].esp, ops[i].ct_len,
						ops[i].mac);
}

void esp_batch_decrypt(struct esp_batch *bt, struct esp_open_op *ops, unsigned n)
{
#ifdef ESPNAT_HAVE_IPSEC_MB
	if (bt && bt->kind == ESP_BACKEND_IPSEC_MB) {
		esp_mb_decrypt(bt->impl, ops, n);
		return;
	}
#else
	(void)bt;
#endif
	for (unsigned i = 0; i < n; i++)
		ops[i].status = esp_decrypt_openssl(ops[i].sa, ops[i].esp, ops[i].ct_len);
}

void esp_batch_prefetch(const struct esp_batch *bt, const struct esp_sa *sa,
			bool outbound)
{
#ifdef ESPNAT_HAVE_IPSEC_MB
	if (bt && bt->kind == ESP_BACKEND_IPSEC_MB) {
		const void *k = __atomic_load_n(&sa->batch_keys, __ATOMIC_ACQUIRE);
		if (k) {
			esp_mb_keys_prefetch(k, outbound);
			return;
		}
	}
#else
	(void)bt;
#endif
	/* OpenSSL's context is opaque: its first lines at least (made on
	 * a first packet under the SA's lock, which is not held here) */
	const EVP_CIPHER_CTX *ctx = __atomic_load_n(outbound ? &sa->encrypt.ctx : &sa->decrypt.ctx,
						    __ATOMIC_RELAXED);
	if (ctx) {
		__builtin_prefetch(ctx);
		__builtin_prefetch((const char *)ctx + 64);
	}
}

void esp_batch_sa_release(struct esp_sa *sa)
{
#ifdef ESPNAT_HAVE_IPSEC_MB
	esp_mb_keys_free(sa->batch_keys);
#endif
	sa->batch_keys = NULL;
}
