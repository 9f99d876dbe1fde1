/* A security association: who it protects, how, and its running state.
 * Keys live here and nowhere else, and are wiped when the SA is freed. */
#ifndef ESPNAT_SA_H
#define ESPNAT_SA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/addr.h"
#include "engine/atomic.h"
#include "engine/crypto.h"
#include "engine/drop.h"
#include "engine/htable.h"
#include "engine/replay.h"

enum esp_dir {
	ESP_DIR_BOTH,	/* no `dir`: found by both lookups, as a kernel state */
	ESP_DIR_IN,
	ESP_DIR_OUT,
};

enum esp_mode {
	ESP_MODE_TRANSPORT,
	ESP_MODE_TUNNEL,
};

/* What traffic an SA carries: prefixes, and protocol/ports where nonzero. */
struct esp_selector {
	struct esp_addr src;
	struct esp_addr dst;
	uint8_t src_plen;
	uint8_t dst_plen;
	uint8_t proto;		/* 0 = any */
	uint16_t sport;		/* 0 = any */
	uint16_t dport;		/* 0 = any */
};

#define ESP_ENCAP_PORT 4500	/* RFC 3948 */

/* Everything an SA is made from, as plain data (an SA-file line, a control
 * request). Holds keys: wipe with esp_sa_params_wipe() when done. */
struct esp_sa_params {
	struct esp_addr src;		/* outer addresses */
	struct esp_addr dst;
	uint32_t spi;
	uint32_t reqid;			/* registration group; 0 = none */
	enum esp_dir dir;
	enum esp_mode mode;
	uint32_t replay_window;
	enum esp_enc enc;
	enum esp_auth auth;
	uint8_t enc_key_len;
	uint8_t auth_key_len;
	uint8_t enc_key[ESP_MAX_ENC_KEY];
	uint8_t auth_key[ESP_MAX_AUTH_KEY];
	bool encap;			/* ESP-in-UDP (RFC 3948) */
	uint16_t encap_sport;
	uint16_t encap_dport;		/* 0 = learn from the peer */
	struct esp_addr encap_oa;	/* NAT-OA; family 0 when unset */
	struct esp_selector sel;	/* defaults to src/dst, any protocol */
	uint32_t lifetime_s;		/* hard lifetime; 0 = none */
};

/* Sets the documented defaults: transport, both directions, window 64. */
void esp_sa_params_init(struct esp_sa_params *p);
void esp_sa_params_wipe(struct esp_sa_params *p);

struct esp_sa_stats {
	uint64_t packets;		/* protected or unprotected */
	uint64_t bytes;			/* of plaintext */
	uint64_t drops[ESP_DROP__COUNT];
};

struct encap_group;

/* Laid out for a packet's cache misses: after the parameters (whose
 * first line and third hold what framing reads), everything a packet of
 * either direction touches comes in the next lines, the HMAC states (not
 * read by the multi-buffer backend) after them, the statistics and the
 * bookkeeping of control operations last. esp_sa_prefetch() asks for
 * those hot lines only. */
struct esp_sa {
	struct esp_sa_params p;
	/* Workers share an SA: the lock covers the cipher contexts (whose
	 * chain changes per packet), the replay window, seq_out and the sent_
	 * counters; the inbound stats are atomic counters. All are read
	 * without it (relaxed loads). */
	struct spinlock lock;
	uint32_t sel_sig;		/* selector class, see sad.c */
	struct hnode sel_node;		/* outbound selector index */
	struct hnode id_node;		/* (SPI, dst) index */
	uint64_t seq_out;		/* last sequence number sent */
	uint64_t seq_limit;		/* the last it may send: ESP_SEQ_MAX, or
					 * as far as durable state reserved */
	uint64_t sent_packets, sent_bytes;
	struct encap_group *group;	/* registration, from p.reqid; NULL without */
	/* Key schedules a batch backend made for this SA on first use
	 * (batch_ipsecmb.c); set once under the lock, NULL until then. */
	void *batch_keys;
	struct esp_cipher encrypt;	/* outbound use; keyed on first use */
	struct esp_cipher decrypt;	/* inbound use; keyed on first use */
	struct esp_replay replay;
	uint64_t expires_ms;		/* engine time; 0 = never */
	struct esp_hmac hmac;		/* read-only once keyed */
	struct esp_sa_stats stats;
	uint32_t saved_top;		/* durable state's bookkeeping: the
					 * inbound mark it last saved */

	/* SAD bookkeeping */
	struct esp_sa *all_prev;	/* every SA, in the order added */
	struct esp_sa *all_next;
	struct esp_sa *group_next;	/* members of the same group */
};

#define ESP_SEQ_MAX 0xffffffffu

/* Validates @p and builds an SA with its cipher and HMAC keyed. On error
 * returns a negative errno and points @why at a sentence for people. */
int esp_sa_create(const struct esp_sa_params *p, struct esp_sa **out,
		  const char **why);

/* Wipes every key and key-derived state, then frees. NULL is fine. */
void esp_sa_free(struct esp_sa *sa);

static inline bool esp_sa_is_inbound(const struct esp_sa *sa)
{
	return sa->p.dir != ESP_DIR_OUT;
}

static inline bool esp_sa_is_outbound(const struct esp_sa *sa)
{
	return sa->p.dir != ESP_DIR_IN;
}

/* Requests the lines of @sa a packet reads (a burst over many SAs asks
 * for all of its SAs before touching any, engine.c): the parameters'
 * first line (addresses, SPI, algorithms) and third (encapsulation), the
 * running state up to the replay window, and with OpenSSL's way the HMAC
 * states. */
static inline void esp_sa_prefetch(const struct esp_sa *sa, bool hmac)
{
	const char *base = (const char *)sa;

	__builtin_prefetch(base);
	for (size_t off = offsetof(struct esp_sa, p.encap);
	     off < offsetof(struct esp_sa, expires_ms) + sizeof(sa->expires_ms); off += 64)
		__builtin_prefetch(base + off);
	if (hmac)
		for (size_t off = 0; off < sizeof(sa->hmac); off += 64)
			__builtin_prefetch((const char *)&sa->hmac + off);
}

/* With @sa's lock held: esp_cipher_encrypt_chained() (decrypt_chained)
 * with the SA's context, keyed here when this is its first packet that
 * direction. Fails closed: -ENOKEY for a direction the SA does not have,
 * -ENOMEM when no context could be made; the packet is then dropped. */
int esp_sa_encrypt_locked(struct esp_sa *sa, uint8_t *buf, size_t len);
int esp_sa_decrypt_locked(struct esp_sa *sa, uint8_t *buf, size_t len);

/* A consistent-enough copy of @sa's counters for display. */
void esp_sa_stats_read(const struct esp_sa *sa, struct esp_sa_stats *out);

static inline uint64_t esp_sa_seq_limit(const struct esp_sa *sa)
{
	return counter_read(&sa->seq_limit);
}

static inline uint64_t esp_sa_seq_out(const struct esp_sa *sa)
{
	return counter_read(&sa->seq_out);
}

/* Whether @f lies inside @sel. */
bool esp_selector_match(const struct esp_selector *sel,
			const struct esp_flow *f);

#endif
