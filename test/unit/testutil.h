/* Test-only helpers: hex, packet builders, an engine with SAs from lines. */
#ifndef ESPNAT_TEST_UTIL_H
#define ESPNAT_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"

/* Decodes hex (spaces allowed) into @out; returns the byte count. */
size_t unhex(const char *hex, uint8_t *out, size_t max);

/* A UDP packet of the family of @src with @payload, checksums valid.
 * Returns its length. */
size_t build_udp(uint8_t *buf, const char *src, const char *dst,
		 uint16_t sport, uint16_t dport, const uint8_t *payload,
		 size_t plen);

/* Adds the SA described by the SA-file line; aborts the test on failure. */
void add_sa(struct esp_engine *e, const char *line);

/* A packet buffer with headroom, holding a copy of @data. */
struct test_pkt {
	uint8_t buf[PKT_HEADROOM + 65536 + PKT_TAILROOM];
	struct pkt p;
};
void test_pkt_set(struct test_pkt *t, const uint8_t *data, size_t len);

/* Runs @t through the engine. */
enum esp_verdict run(struct esp_worker *w, struct test_pkt *t,
		     struct esp_result *r);

/* True when the UDP (or TCP) checksum of the IP packet verifies. */
int l4_checksum_ok(const uint8_t *ip, size_t len);

#endif
