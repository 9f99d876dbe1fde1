/* IPv4/IPv6 addresses, prefixes and the flow key a selector matches. */
#ifndef ESPNAT_ADDR_H
#define ESPNAT_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

/* An address of either family, network byte order; IPv4 uses bytes[0..3]
 * and keeps the rest zero so that whole-struct compares work. */
struct esp_addr {
	uint8_t family;		/* AF_INET or AF_INET6 */
	uint8_t bytes[16];
};

#define ESP_ADDRSTRLEN 46	/* INET6_ADDRSTRLEN */

static inline size_t esp_addr_len(const struct esp_addr *a)
{
	return a->family == AF_INET ? 4 : 16;
}

static inline unsigned esp_addr_bits(const struct esp_addr *a)
{
	return a->family == AF_INET ? 32 : 128;
}

/* An address's 16 bytes are written and read as one 16-byte block, never
 * in parts: a packet's addresses are written (ip_parse) just before they
 * are read (lookups, selector checks), and a load that does not match a
 * store still in flight, in address and size, cannot take its bytes from
 * it and waits for the store to reach the cache. A struct copy of a
 * just-parsed address stalled so, as did 8-byte compares of it, about
 * 7 ns each. */
typedef uint64_t esp_addr_block __attribute__((vector_size(16), aligned(1)));

static inline esp_addr_block esp_addr_get_block(const struct esp_addr *a)
{
	esp_addr_block b;

	memcpy(&b, a->bytes, sizeof(b));
	return b;
}

static inline void esp_addr_put_block(struct esp_addr *a, esp_addr_block b)
{
	memcpy(a->bytes, &b, sizeof(b));
}

static inline void esp_addr_copy(struct esp_addr *to, const struct esp_addr *from)
{
	to->family = from->family;
	esp_addr_put_block(to, esp_addr_get_block(from));
}

/* Fills @a with the 4 (AF_INET) or 16 bytes at @raw. */
void esp_addr_set(struct esp_addr *a, int family, const uint8_t *raw);

/* Compares all 16 bytes, as the hash tables hash them: an IPv4 address's
 * unused bytes are zero (above). Inline and branch-light: the outbound
 * lookup cache compares two addresses per packet. */
static inline bool esp_addr_equal(const struct esp_addr *a, const struct esp_addr *b)
{
	esp_addr_block d = esp_addr_get_block(a) ^ esp_addr_get_block(b);

	return a->family == b->family && (d[0] | d[1]) == 0;
}

/* True when the first @plen bits of @a and @net agree (same family). */
bool esp_addr_in_prefix(const struct esp_addr *a, const struct esp_addr *net,
			unsigned plen);

/* Zeroes every bit after the first @plen. */
void esp_addr_mask(struct esp_addr *a, unsigned plen);

/* Parses a literal IPv4 or IPv6 address; 0 on success, -EINVAL otherwise. */
int esp_addr_parse(const char *s, struct esp_addr *a);

/* Parses ADDR or ADDR/PLEN; @plen defaults to the full length. */
int esp_prefix_parse(const char *s, struct esp_addr *a, unsigned *plen);

/* Formats @a into @buf (at least ESP_ADDRSTRLEN bytes); returns @buf. */
const char *esp_addr_str(const struct esp_addr *a, char *buf);

/* The header fields a packet offers to selector matching. Ports are host
 * order and zero when the protocol has none or the packet does not show
 * them (a later fragment). */
struct esp_flow {
	struct esp_addr src;
	struct esp_addr dst;
	uint8_t proto;
	uint16_t sport;
	uint16_t dport;
};

/* The same fields as fixed words, for equality only (ip_flow_key()). */
struct esp_flow_key {
	uint64_t w[5];
};

static inline bool esp_flow_key_equal(const struct esp_flow_key *a,
				      const struct esp_flow_key *b)
{
	return ((a->w[0] ^ b->w[0]) | (a->w[1] ^ b->w[1]) | (a->w[2] ^ b->w[2]) |
		(a->w[3] ^ b->w[3]) | (a->w[4] ^ b->w[4])) == 0;
}

#endif
