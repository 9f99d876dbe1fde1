/* Intrusive chained hash tables: a node lives inside the object it indexes,
 * so an insert allocates nothing (beyond growing the bucket array). */
#ifndef ESPNAT_HTABLE_H
#define ESPNAT_HTABLE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/addr.h"

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

struct hnode {
	struct hnode *next;
	uint32_t hash;
};

struct htable {
	struct hnode **b;
	uint32_t mask;
	uint32_t count;
};

/* Returns 0 or -ENOMEM. */
int htable_init(struct htable *t);
void htable_free(struct htable *t);

/* Links @n under @hash; doubles the buckets once the load passes 1 (a
 * failed resize only leaves chains longer). */
void htable_insert(struct htable *t, struct hnode *n, uint32_t hash);
void htable_remove(struct htable *t, struct hnode *n);

/* The chain @hash falls in; callers compare n->hash and their key. */
static inline struct hnode *htable_chain(const struct htable *t, uint32_t hash)
{
	return t->b[hash & t->mask];
}

/* Seeded hashing of fixed-size keys. The seed is random per table owner so
 * that peers choosing SPIs and ports cannot aim at one chain. */
static inline uint64_t hash_mix(uint64_t h, uint64_t v)
{
	h ^= v;
	h *= 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 29);
}

static inline uint64_t hash_mix_addr(uint64_t h, const struct esp_addr *a)
{
	esp_addr_block w = esp_addr_get_block(a);

	return hash_mix(hash_mix(h, w[0] ^ a->family), w[1]);
}

static inline uint32_t hash_finish(uint64_t h)
{
	h = hash_mix(h, 0x5bd1e995);
	return (uint32_t)(h ^ (h >> 32));
}

#endif
