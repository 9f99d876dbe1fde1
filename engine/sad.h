/* The SA database: inbound lookup by (SPI, outer destination), outbound
 * lookup by selector. Both are hash lookups, O(1) expected however many SAs
 * there are; nothing scans the SAs per packet. */
#ifndef ESPNAT_SAD_H
#define ESPNAT_SAD_H

#include <stddef.h>
#include <stdint.h>

#include "engine/sa.h"

struct esp_sad;

struct esp_sad *esp_sad_new(void);

/* Frees the database and every SA still in it. */
void esp_sad_free(struct esp_sad *sad);

/* Adds @sa; the SAD owns it from then on. Refuses (-EEXIST, with @why) an
 * SA whose (SPI, dst) is taken, or an outbound SA whose selector equals an
 * existing one's: either would make a lookup ambiguous. */
int esp_sad_add(struct esp_sad *sad, struct esp_sa *sa, const char **why);

/* Unlinks @sa; the caller frees it. */
void esp_sad_remove(struct esp_sad *sad, struct esp_sa *sa);

/* The SA with this (SPI, dst) in either direction, or NULL. */
struct esp_sa *esp_sad_find(const struct esp_sad *sad, uint32_t spi,
			    const struct esp_addr *dst);

/* The inbound SA for an arriving ESP packet, or NULL. */
struct esp_sa *esp_sad_lookup_in(const struct esp_sad *sad, uint32_t spi,
				 const struct esp_addr *dst);

/* The outbound SA whose selector holds @f; when several do, the most
 * specific (longest prefixes, then protocol, then ports). NULL if none. */
struct esp_sa *esp_sad_lookup_out(const struct esp_sad *sad,
				  const struct esp_flow *f);

/* The last outbound lookup of one worker: a packet of the same flow as
 * the one before, with the SAD unchanged since, takes the same SA (or the
 * same absence of one) without a lookup. Zero-initialise. */
struct esp_sad_cache {
	bool valid;
	uint64_t generation;
	struct esp_flow_key key;
	struct esp_sa *sa;
	uint64_t misses;	/* lookups it could not spare */
};

/* Whether @c holds the answer for the flow keyed @k (ip_flow_key()), the
 * SAD unchanged since; if so, it is in *@sa. */
bool esp_sad_cache_get(const struct esp_sad *sad, const struct esp_sad_cache *c,
		       const struct esp_flow_key *k, struct esp_sa **sa);

/* esp_sad_lookup_out() of @f, remembered in @c under @f's key @k; the
 * caller holds the SAD (as workers do, shared) for as long as it uses the
 * SA. */
struct esp_sa *esp_sad_lookup_out_cached(const struct esp_sad *sad, struct esp_sad_cache *c,
					 const struct esp_flow_key *k,
					 const struct esp_flow *f);

/* The last SA one worker's inbound lookups found: the next packet of the
 * same SA, the SAD unchanged since, takes it without hashing (about 11 ns
 * of a packet's framing). Zero-initialise. */
struct esp_sad_in_cache {
	struct esp_sa *sa;	/* NULL: empty */
	uint64_t generation;
	uint32_t spi;
	struct esp_addr dst;
	uint64_t misses;	/* lookups it could not spare */
};

/* esp_sad_lookup_in(), answered from @c when it can be and remembered in
 * it when an SA is found; the caller holds the SAD as for
 * esp_sad_lookup_out_cached(). */
struct esp_sa *esp_sad_lookup_in_cached(const struct esp_sad *sad,
					struct esp_sad_in_cache *c, uint32_t spi,
					const struct esp_addr *dst);

/* A burst over many SAs finds each packet's SA cold: a lookup waits for
 * the bucket, then for the SA, one miss after the other, packet after
 * packet. These two steps only request that memory (prefetches, no
 * effect on results), so that a caller can issue them for a whole burst
 * first and let the misses of all its lookups overlap; the lookups then
 * find the memory in cache. */
struct esp_sad_probe {
	uint32_t hash;		/* of the key in the index it probes */
	bool live;		/* false: nothing (more) to follow */
	bool inbound;		/* the (SPI, dst) index, not the selectors' */
	const struct hnode *node;	/* how far along its chain */
};

/* Hashes (@spi, @dst) and prefetches the bucket of the inbound index. */
void esp_sad_probe_in(const struct esp_sad *sad, uint32_t spi,
		      const struct esp_addr *dst, struct esp_sad_probe *pr);

/* Hashes @f for the most specific selector class that could hold it and
 * prefetches that hash's bucket. */
void esp_sad_probe_out(const struct esp_sad *sad, const struct esp_flow *f,
		       struct esp_sad_probe *pr);

/* One step along the chain: from the bucket (which the last step asked
 * for) to its first node, or, while the node in hand has another hash,
 * to the next; prefetches the node reached and its SA's key (selector, or
 * SPI and destination). Returns
 * that SA, the likely result of the lookup, or NULL. */
struct esp_sa *esp_sad_probe_step(const struct esp_sad *sad, struct esp_sad_probe *pr);

size_t esp_sad_count(const struct esp_sad *sad);

/* The SAs in the order they were added: first, then next until NULL. */
struct esp_sa *esp_sad_first(const struct esp_sad *sad);
static inline struct esp_sa *esp_sad_next(const struct esp_sa *sa)
{
	return sa->all_next;
}

#endif
