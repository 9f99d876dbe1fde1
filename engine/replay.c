#include "engine/replay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int esp_replay_init(struct esp_replay *r, uint32_t size)
{
	memset(r, 0, sizeof(*r));
	if (size > ESP_REPLAY_MAX)
		return -EINVAL;
	r->size = size;

	/* One spare word so that the words holding the oldest in-window bits
	 * are never the ones being cleared for the newest. */
	uint32_t need = size / 64 + 2, words = 2;
	while (words < need)
		words <<= 1;
	r->words = words;
	if (words <= 2) {
		r->bits = r->inline_bits;
		return 0;
	}
	r->bits = calloc(words, sizeof(uint64_t));
	return r->bits ? 0 : -ENOMEM;
}

void esp_replay_free(struct esp_replay *r)
{
	if (r->bits && r->bits != r->inline_bits)
		free(r->bits);
	r->bits = NULL;
}

static inline uint32_t word_of(const struct esp_replay *r, uint32_t seq)
{
	return (seq >> 6) & (r->words - 1);
}

static inline uint64_t bit_of(uint32_t seq)
{
	return (uint64_t)1 << (seq & 63);
}

/* The window is read without the SA lock for an early, advisory check and
 * written under it: relaxed atomics make those reads well-defined, and the
 * check is repeated under the lock before anything counts. */
static inline uint32_t load_top(const struct esp_replay *r)
{
	return __atomic_load_n(&r->top, __ATOMIC_RELAXED);
}

static inline uint64_t load_word(const struct esp_replay *r, uint32_t i)
{
	return __atomic_load_n(&r->bits[i], __ATOMIC_RELAXED);
}

static inline void store_word(struct esp_replay *r, uint32_t i, uint64_t v)
{
	__atomic_store_n(&r->bits[i], v, __ATOMIC_RELAXED);
}

enum esp_replay_result esp_replay_check(const struct esp_replay *r,
					uint32_t seq)
{
	uint32_t top = load_top(r);

	if (r->size == 0)
		return ESP_REPLAY_OK;
	if (seq == 0)
		return ESP_REPLAY_ZERO;
	if (seq > top)
		return ESP_REPLAY_OK;
	if (top - seq >= r->size)
		return ESP_REPLAY_TOO_OLD;
	if (load_word(r, word_of(r, seq)) & bit_of(seq))
		return ESP_REPLAY_DUPLICATE;
	return ESP_REPLAY_OK;
}

void esp_replay_update(struct esp_replay *r, uint32_t seq)
{
	uint32_t top = load_top(r);

	if (r->size == 0) {
		if (seq > top)
			__atomic_store_n(&r->top, seq, __ATOMIC_RELAXED);
		return;
	}
	if (seq > top) {
		uint32_t from = top >> 6, to = seq >> 6;
		uint32_t steps = to - from;

		if (steps > r->words)
			steps = r->words;
		for (uint32_t i = 1; i <= steps; i++)
			store_word(r, (from + i) & (r->words - 1), 0);
		__atomic_store_n(&r->top, seq, __ATOMIC_RELAXED);
	}
	uint32_t w = word_of(r, seq);
	store_word(r, w, load_word(r, w) | bit_of(seq));
}

void esp_replay_restore(struct esp_replay *r, uint32_t top)
{
	for (uint32_t i = 0; i < r->words; i++)
		store_word(r, i, ~0ull);
	__atomic_store_n(&r->top, top, __ATOMIC_RELAXED);
}
