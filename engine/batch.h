/* Crypto backends for bursts. CBC encryption is serial within a packet,
 * so a core encrypting one packet at a time leaves most of its AES units
 * idle; a backend that takes a burst's cipher and MAC work at once can
 * interleave the packets (Intel's multi-buffer library does). The engine
 * frames every packet of a burst first, hands the backend all the sealing,
 * then finishes the packets in order (engine.c, esp_out.c).
 *
 * Every backend computes the same bytes as crypto.c's per-packet way
 * (esp_cipher_encrypt_chained, then the HMAC): the IV is E_K(R) for the
 * packet's random block R, which depends on no other packet. */
#ifndef ESPNAT_BATCH_H
#define ESPNAT_BATCH_H

#include <stdbool.h>
#include <stdint.h>

struct esp_sa;

enum esp_backend {
	ESP_BACKEND_OPENSSL,	/* the default and the reference */
	ESP_BACKEND_IPSEC_MB,	/* Intel's multi-buffer library, when built */
	ESP_BACKEND__COUNT
};

/* "openssl", "ipsec-mb". */
const char *esp_backend_name(enum esp_backend b);

/* The backend named @name, or -1. */
int esp_backend_by_name(const char *name);

/* 0 when @b can run in this build on this CPU; otherwise a negative errno
 * (-ENOTSUP: not built in; -ENODEV: the CPU lacks what it needs) and @why
 * says so in a sentence. */
int esp_backend_check(enum esp_backend b, const char **why);

/* One outbound packet's sealing. @esp points at its ESP header (SPI and
 * sequence number written), followed by R in the IV's place, then @ct_len
 * bytes of padded plaintext, then room for the ICV. Afterwards the IV is
 * E_K(R), the plaintext its CBC encryption, and the ICV follows. */
struct esp_seal_op {
	struct esp_sa *sa;
	uint8_t *esp;
	uint32_t ct_len;
	int status;		/* set by the backend: 0, or -EIO */
};

/* One inbound packet: @esp as it arrived, @ct_len bytes of ciphertext
 * after the IV. esp_batch_mac() writes the full HMAC of header, IV and
 * ciphertext to @mac (the caller compares it with the ICV: backends never
 * decide); esp_batch_decrypt() decrypts the ciphertext in place under the
 * packet's IV. */
struct esp_open_op {
	struct esp_sa *sa;
	uint8_t *esp;
	uint32_t ct_len;
	uint8_t *mac;		/* ESP_MAX_DIGEST bytes */
	int status;		/* set by the backend: 0, or -EIO */
};

/* A worker's backend state (one per thread: not shareable). */
struct esp_batch;

/* NULL when out of memory or when esp_backend_check() refuses @b. */
struct esp_batch *esp_batch_new(enum esp_backend b);
void esp_batch_free(struct esp_batch *bt);
enum esp_backend esp_batch_kind(const struct esp_batch *bt);

/* Seals the @n ops; @bt NULL means OpenSSL. Ops may be of any SAs, in any
 * mix; each gets its status. Takes each SA's lock only where a shared
 * cipher context is used (OpenSSL's). */
void esp_batch_seal(struct esp_batch *bt, struct esp_seal_op *ops, unsigned n);

/* The inbound halves; ops of SAs without integrity must not be given to
 * esp_batch_mac(). */
void esp_batch_mac(struct esp_batch *bt, struct esp_open_op *ops, unsigned n);
void esp_batch_decrypt(struct esp_batch *bt, struct esp_open_op *ops, unsigned n);

/* OpenSSL's way for one inbound op. */
int esp_mac_openssl(struct esp_sa *sa, const uint8_t *esp, uint32_t ct_len,
		    uint8_t *mac);
int esp_decrypt_openssl(struct esp_sa *sa, uint8_t *esp, uint32_t ct_len);

/* OpenSSL's way for one op (batch_openssl.c): what the per-packet path
 * does, and the fallback for what another backend does not cover. */
int esp_seal_openssl(struct esp_sa *sa, uint8_t *esp, uint32_t ct_len);

/* OpenSSL's way for a burst: each op as esp_seal_openssl() seals it, runs
 * of one SA's ops under one hold of its lock. */
void esp_seal_openssl_burst(struct esp_seal_op *ops, unsigned n);

/* Prefetches the key state sealing (@outbound) or opening a packet of
 * @sa will read: the cipher context, or the backend's key schedules. */
void esp_batch_prefetch(const struct esp_batch *bt, const struct esp_sa *sa,
			bool outbound);

/* Wipes and frees the key schedules a backend attached to @sa. */
void esp_batch_sa_release(struct esp_sa *sa);

#ifdef ESPNAT_HAVE_IPSEC_MB
/* batch_ipsecmb.c */
int esp_mb_check(const char **why);
void *esp_mb_new(void);
void esp_mb_free(void *mb);
void esp_mb_seal(void *mb, struct esp_seal_op *ops, unsigned n);
void esp_mb_mac(void *mb, struct esp_open_op *ops, unsigned n);
void esp_mb_decrypt(void *mb, struct esp_open_op *ops, unsigned n);
void esp_mb_keys_free(void *keys);
void esp_mb_keys_prefetch(const void *keys, bool outbound);
#endif

#endif
