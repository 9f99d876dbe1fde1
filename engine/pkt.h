/* A caller-owned packet buffer with room before and after the data, so that
 * ESP can prepend and append headers and trailers without copying. */
#ifndef ESPNAT_PKT_H
#define ESPNAT_PKT_H

#include <stddef.h>
#include <stdint.h>

/* Enough in front for an outer IPv6 header, UDP, ESP and a 16-byte IV, and
 * behind for the largest padding, the trailer and a 96-bit ICV. */
#define PKT_HEADROOM 128
#define PKT_TAILROOM 64

struct pkt {
	uint8_t *buf;		/* storage, owned by the caller */
	uint32_t cap;		/* bytes of storage */
	uint32_t off;		/* where the packet starts in buf */
	uint32_t len;		/* bytes of packet */
};

static inline uint8_t *pkt_data(const struct pkt *p)
{
	return p->buf + p->off;
}

static inline uint32_t pkt_headroom(const struct pkt *p)
{
	return p->off;
}

static inline uint32_t pkt_tailroom(const struct pkt *p)
{
	return p->cap - p->off - p->len;
}

/* Points @p at @buf with PKT_HEADROOM free in front and no data yet. */
static inline void pkt_init(struct pkt *p, uint8_t *buf, uint32_t cap)
{
	p->buf = buf;
	p->cap = cap;
	p->off = cap < PKT_HEADROOM ? cap : PKT_HEADROOM;
	p->len = 0;
}

#endif
