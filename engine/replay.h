/* The receiver's anti-replay window (RFC 4303 3.4.3): a bitmap ring that
 * slides with the highest sequence number seen. Checking is split from
 * updating so that the window moves only after the ICV verified. */
#ifndef ESPNAT_REPLAY_H
#define ESPNAT_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#define ESP_REPLAY_DEFAULT 64
#define ESP_REPLAY_MAX 65536

struct esp_replay {
	uint32_t size;		/* window in packets; 0 disables the check */
	uint32_t top;		/* highest sequence number accepted so far */
	uint32_t words;		/* bitmap words, a power of two */
	uint64_t *bits;		/* bit (seq % (64 * words)) set = seq seen */
	uint64_t inline_bits[2];	/* storage for windows up to 64 */
};

/* Sets up a window of @size packets (0 .. ESP_REPLAY_MAX). Returns 0, or
 * -EINVAL / -ENOMEM. */
int esp_replay_init(struct esp_replay *r, uint32_t size);

void esp_replay_free(struct esp_replay *r);

enum esp_replay_result {
	ESP_REPLAY_OK,
	ESP_REPLAY_DUPLICATE,	/* inside the window, already seen */
	ESP_REPLAY_TOO_OLD,	/* left of the window */
	ESP_REPLAY_ZERO,	/* sequence number 0 is never sent */
};

/* Whether @seq may be accepted; changes nothing. */
enum esp_replay_result esp_replay_check(const struct esp_replay *r,
					uint32_t seq);

/* After a restart: as if every number up to @top had been received, so
 * that none of them is accepted again. */
void esp_replay_restore(struct esp_replay *r, uint32_t top);

static inline uint32_t esp_replay_top(const struct esp_replay *r)
{
	return __atomic_load_n(&r->top, __ATOMIC_RELAXED);
}

/* Records @seq as received, sliding the window when it is the new top.
 * Only call after esp_replay_check() passed and the ICV verified. The cost
 * is bounded by the bitmap size however far the window jumps. */
void esp_replay_update(struct esp_replay *r, uint32_t seq);

#endif
