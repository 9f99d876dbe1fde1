/* The anti-replay window (RFC 4303 3.4.3) on its own: every edge case. */
#include <stdlib.h>

#include "engine/replay.h"
#include "test/unit/check.h"

/* check-then-update, as the engine does once the ICV verified */
static int accept(struct esp_replay *r, uint32_t seq)
{
	if (esp_replay_check(r, seq) != ESP_REPLAY_OK)
		return 0;
	esp_replay_update(r, seq);
	return 1;
}

static void test_basic(void)
{
	struct esp_replay r;

	CHECK_EQ(esp_replay_init(&r, 64), 0);
	CHECK_EQ(esp_replay_check(&r, 0), ESP_REPLAY_ZERO);
	CHECK(accept(&r, 1));
	CHECK_EQ(esp_replay_check(&r, 1), ESP_REPLAY_DUPLICATE);
	CHECK(accept(&r, 2));
	CHECK(accept(&r, 5));		/* 3 and 4 late */
	CHECK(accept(&r, 4));		/* reordered inside the window: once */
	CHECK_EQ(esp_replay_check(&r, 4), ESP_REPLAY_DUPLICATE);
	CHECK(accept(&r, 3));
	CHECK(accept(&r, 100));
	/* window is [37, 100] */
	CHECK_EQ(esp_replay_check(&r, 36), ESP_REPLAY_TOO_OLD);
	CHECK_EQ(esp_replay_check(&r, 37), ESP_REPLAY_OK);
	CHECK_EQ(esp_replay_check(&r, 5), ESP_REPLAY_TOO_OLD);
	CHECK_EQ(esp_replay_check(&r, 100), ESP_REPLAY_DUPLICATE);
	esp_replay_free(&r);
}

/* Checking alone must never move the window: a forged packet is checked
 * and then fails its ICV. */
static void test_check_does_not_move(void)
{
	struct esp_replay r;

	esp_replay_init(&r, 64);
	CHECK(accept(&r, 10));
	CHECK_EQ(esp_replay_check(&r, 1000000), ESP_REPLAY_OK);
	CHECK_EQ(r.top, 10);
	CHECK(accept(&r, 9));
	esp_replay_free(&r);
}

static void test_big_window(uint32_t size)
{
	struct esp_replay r;

	CHECK_EQ(esp_replay_init(&r, size), 0);
	/* fill a window's worth, in reverse inside the window */
	CHECK(accept(&r, size));
	for (uint32_t s = size - 1; s >= 1; s--)
		if (!accept(&r, s)) {
			CHECK(0);
			break;
		}
	for (uint32_t s = 1; s <= size; s++)
		if (esp_replay_check(&r, s) != ESP_REPLAY_DUPLICATE) {
			CHECK(0);
			break;
		}
	/* slide by one: 1 falls out, size+1 is new */
	CHECK(accept(&r, size + 1));
	CHECK_EQ(esp_replay_check(&r, 1), ESP_REPLAY_TOO_OLD);
	CHECK_EQ(esp_replay_check(&r, 2), ESP_REPLAY_DUPLICATE);
	/* a jump beyond the whole bitmap clears it */
	CHECK(accept(&r, 10 * size + 7));
	CHECK_EQ(esp_replay_check(&r, 10 * size + 6), ESP_REPLAY_OK);
	CHECK_EQ(esp_replay_check(&r, 9 * size + 7), ESP_REPLAY_TOO_OLD);
	CHECK_EQ(esp_replay_check(&r, 9 * size + 8), ESP_REPLAY_OK);
	esp_replay_free(&r);
}

/* Randomised against a plain model: a set of seen numbers and a top. */
static void test_against_model(uint32_t size)
{
	struct esp_replay r;
	uint8_t *seen = calloc(1 << 20, 1);
	uint32_t top = 0;
	unsigned seed = 12345 + size;
	int mismatches = 0;

	esp_replay_init(&r, size);
	for (int i = 0; i < 200000; i++) {
		uint32_t base = top > 200 ? top - 200 : 1;
		uint32_t seq = base + (uint32_t)(rand_r(&seed) % (size + 400));
		if (seq >= (1u << 20))
			break;
		int want = !(seq + size <= top) && !seen[seq];
		int got = accept(&r, seq);
		if (want != got)
			mismatches++;
		if (want) {
			seen[seq] = 1;
			if (seq > top)
				top = seq;
		}
	}
	CHECK_EQ(mismatches, 0);
	free(seen);
	esp_replay_free(&r);
}

static void test_disabled(void)
{
	struct esp_replay r;

	CHECK_EQ(esp_replay_init(&r, 0), 0);
	CHECK(accept(&r, 5));
	CHECK(accept(&r, 5));
	CHECK(accept(&r, 1));
	esp_replay_free(&r);
	CHECK_EQ(esp_replay_init(&r, ESP_REPLAY_MAX + 1), -22);
}

int main(void)
{
	test_basic();
	test_check_does_not_move();
	test_big_window(64);
	test_big_window(100);
	test_big_window(4096);
	test_big_window(65536);
	test_against_model(64);
	test_against_model(128);
	test_against_model(1000);
	test_disabled();
	return check_done("test_replay");
}
