/* Outbound ESP (RFC 4303 3.3): pad, encrypt, authenticate, and frame in
 * transport or tunnel mode, optionally inside UDP (RFC 3948). */
#include <string.h>

#include "encap/table.h"
#include "encap/udpencap.h"
#include "engine/csum.h"
#include "engine/engine_internal.h"
#include "engine/mss.h"

#define ESP_HDR_LEN 8
#define IP_MAXPACKET 65535
#define OUTER_TTL 64

#define SEAL_EXHAUSTED 0
#define SEAL_CIPHER (-1)
#define SEAL_UNRESERVED (-2)

/* Under the SA's lock: the sequence number, the cipher's chain and the
 * SA's counters, so that a packet costs one atomic operation (the lock)
 * however many workers share the SA. Sequence numbers start at 1 and never
 * wrap (RFC 4303 3.3.3): after 2^32-1 the SA refuses to send; nor does it
 * pass the limit durable state reserved (a restart resumes above it).
 * Returns the number used, or one of SEAL_*. */
/* The SA's next sequence number, or SEAL_EXHAUSTED / SEAL_UNRESERVED when
 * it has none to give; with the SA's lock held. */
static int64_t next_seq_locked(const struct esp_sa *sa)
{
	if (sa->seq_out >= sa->seq_limit)
		return sa->seq_out >= ESP_SEQ_MAX ? SEAL_EXHAUSTED : SEAL_UNRESERVED;
	return (int64_t)sa->seq_out + 1;
}

/* That number used, and the packet counted; with the lock held. */
static void count_sent_locked(struct esp_sa *sa, uint32_t plen)
{
	counter_inc(&sa->seq_out, 1);
	counter_inc(&sa->sent_packets, 1);
	counter_inc(&sa->sent_bytes, plen);
}

static int64_t seal(struct esp_sa *sa, uint8_t *esp, uint32_t ct_len, uint32_t plen)
{
	spin_lock(&sa->lock);
	int64_t seq = next_seq_locked(sa);
	if (seq > 0) {
		put_be32(esp + 4, (uint32_t)seq);
		if (esp_sa_encrypt_locked(sa, esp + ESP_HDR_LEN, ct_len))
			seq = SEAL_CIPHER;	/* nothing went out: the number stays */
		else
			count_sent_locked(sa, plen);
	}
	spin_unlock(&sa->lock);
	return seq;
}

/* RFC 4303 2.4: pad to the cipher block (at least 4 bytes) with 1, 2, 3 ...
 * The least padding that aligns is less than a block (at most 16 bytes). */
static void write_trailer(uint8_t *end, uint32_t padlen, uint8_t next_header)
{
	static const uint8_t pattern[ESP_MAX_BLOCK] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
							11, 12, 13, 14, 15, 16 };

	memcpy(end, pattern, padlen);
	end[padlen] = (uint8_t)padlen;
	end[padlen + 1] = next_header;
}

static void write_outer_ipv4(uint8_t *ip, const struct esp_sa *sa,
			     uint8_t tclass, uint16_t id, uint8_t proto,
			     uint32_t total)
{
	ip[0] = 0x45;
	ip[1] = tclass;		/* DSCP and ECN copied (RFC 6040 normal mode) */
	put_be16(ip + 2, (uint16_t)total);
	put_be16(ip + 4, id);
	put_be16(ip + 6, 0);	/* no DF: a large result may be fragmented */
	ip[8] = OUTER_TTL;
	ip[9] = proto;
	memcpy(ip + 12, sa->p.src.bytes, 4);
	memcpy(ip + 16, sa->p.dst.bytes, 4);
	/* summed from the values, not read back: a load of what these narrow
	 * stores just wrote cannot be forwarded and stalls (it cost as much
	 * as the rest of the framing) */
	uint32_t src = get_be32(sa->p.src.bytes), dst = get_be32(sa->p.dst.bytes);
	uint32_t sum = (0x45u << 8 | tclass) + total + id +
		       ((uint32_t)OUTER_TTL << 8 | proto) +
		       (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff);
	put_be16(ip + 10, csum_fold(sum));
}

static void write_outer_ipv6(uint8_t *ip, const struct esp_sa *sa,
			     uint8_t tclass, uint8_t proto, uint32_t total)
{
	ip[0] = (uint8_t)(0x60 | tclass >> 4);
	ip[1] = (uint8_t)(tclass << 4);
	ip[2] = ip[3] = 0;
	put_be16(ip + 4, (uint16_t)(total - IPV6_HDR_LEN));
	ip[6] = proto;
	ip[7] = OUTER_TTL;
	memcpy(ip + 8, sa->p.src.bytes, 16);
	memcpy(ip + 24, sa->p.dst.bytes, 16);
}

/* The IPv6 UDP checksum may not be 0 (RFC 8200 8.1); over IPv4 it is
 * left 0 (RFC 3948 3.1.1). */
static void finish_udp(uint8_t *ip, uint8_t family, uint8_t *udp, uint32_t len)
{
	if (family != AF_INET6)
		return;
	uint16_t c = csum_l4(ip + 8, ip + 24, 16, IPPROTO_NUM_UDP, udp, len);
	put_be16(udp + 6, c ? c : 0xffff);
}

/* Framing and sealing, step by step: both the per-packet path (esp_encap)
 * and the burst path (engine.c) go through encap_prepare() and
 * encap_finish(), and differ only in how the cipher and MAC are run. */
static enum esp_verdict encap_prepare(struct esp_worker *w, struct esp_sa *sa,
				      struct pkt *p, const struct ip_view *v,
				      struct esp_result *r, struct esp_encap_plan *pl)
{
	const struct esp_enc_info *ei = esp_enc_info(sa->p.enc);
	const struct esp_auth_info *ai = esp_auth_info(sa->p.auth);
	bool tunnel = sa->p.mode == ESP_MODE_TUNNEL;
	uint32_t udp_len = sa->p.encap ? UDP_HDR_LEN : 0;
	uint32_t esp_hdr = ESP_HDR_LEN + ei->iv_len;
	uint8_t outer_family = tunnel ? sa->p.src.family : v->family;
	uint32_t outer_ip = 0, keep, plen;
	uint8_t next_header;
	uint16_t dport = 0;

	r->sa = sa;
	if (sa->p.encap && (dport = encap_table_dport(sa)) == 0)
		return esp_drop(w, r, sa, ESP_DROP_NO_PORT);
	if (tunnel) {
		outer_ip = outer_family == AF_INET ? IPV4_HDR_LEN : IPV6_HDR_LEN;
		keep = 0;
		next_header = v->family == AF_INET ? IPPROTO_NUM_IPV4 : IPPROTO_NUM_IPV6;
	} else {
		keep = v->ins_off;	/* the headers that stay in front */
		next_header = pkt_data(p)[v->ins_proto_off];
	}
	plen = v->len - keep;

	/* blocks are powers of two (4, 8, 16): a mask, not two divisions */
	uint32_t padlen = (0u - (plen + 2)) & (ei->block - 1u);
	uint32_t ct_len = plen + padlen + 2;
	uint32_t front = outer_ip + udp_len + esp_hdr;
	uint32_t total = keep + front + ct_len + ai->icv_len;
	uint32_t max_total = IP_MAXPACKET +
			     (outer_family == AF_INET6 ? IPV6_HDR_LEN : 0);
	if (pkt_headroom(p) < front ||
	    pkt_tailroom(p) < padlen + 2 + ai->icv_len || total > max_total)
		return esp_drop(w, r, sa, ESP_DROP_TOO_BIG);

	if (__atomic_load_n(&sa->seq_out, __ATOMIC_RELAXED) >= ESP_SEQ_MAX)
		return esp_drop(w, r, sa, ESP_DROP_SEQ_EXHAUSTED);
	uint32_t mtu = __atomic_load_n(&w->engine->path_mtu, __ATOMIC_RELAXED);
	if (mtu)
		mss_clamp(pkt_data(p), v, mss_for(sa, v->family, mtu));

	write_trailer(pkt_data(p) + v->len, padlen, next_header);

	/* Make room: transport mode slides the kept headers forward into the
	 * headroom; tunnel mode adds a whole outer header. */
	uint8_t *old = pkt_data(p);
	p->off -= front;
	p->len += front;
	uint8_t *ip = pkt_data(p);
	if (keep)
		memmove(ip, old, keep);
	uint8_t *udp = ip + keep + outer_ip;
	uint8_t *esp = udp + udp_len;
	uint8_t *iv = esp + ESP_HDR_LEN;

	put_be32(esp, sa->p.spi);
	if (ei->iv_len && esp_rng_bytes(&w->rng, iv, ei->iv_len))
		return esp_drop(w, r, sa, ESP_DROP_INTERNAL);
	*pl = (struct esp_encap_plan){
		.sa = sa, .p = p, .esp = esp, .udp = udp, .ct_len = ct_len,
		.plen = plen, .total = total, .dport = dport,
		.family = v->family, .outer_family = outer_family,
		.tclass = v->tclass, .ins_proto_off = v->ins_proto_off,
	};
	return ESP_VERDICT_ENCAP;
}

/* After sealing: lengths, outer headers, UDP, counters. */
static enum esp_verdict encap_finish(struct esp_worker *w,
				     const struct esp_encap_plan *pl,
				     struct esp_result *r)
{
	struct esp_sa *sa = pl->sa;
	struct pkt *p = pl->p;
	uint8_t *ip = pkt_data(p);
	uint32_t total = pl->total;

	p->len = total;
	uint8_t proto = sa->p.encap ? IPPROTO_NUM_UDP : IPPROTO_NUM_ESP;
	if (sa->p.mode == ESP_MODE_TUNNEL) {
		if (pl->outer_family == AF_INET)
			write_outer_ipv4(ip, sa, pl->tclass, w->ip_id++, proto, total);
		else
			write_outer_ipv6(ip, sa, pl->tclass, proto, total);
	} else {
		ip[pl->ins_proto_off] = proto;
		ip_set_len(ip, pl->family, total);
		if (pl->family == AF_INET) {
			/* the packet grew: let it be fragmented rather than lost */
			ip[6] &= (uint8_t)~0x40;
			csum_ipv4_header(ip);
		}
	}
	if (sa->p.encap) {
		uint32_t ulen = total - (uint32_t)(pl->udp - ip);
		udpencap_write_header(pl->udp, sa->p.encap_sport, pl->dport, (uint16_t)ulen);
		finish_udp(ip, pl->outer_family, pl->udp, ulen);
	}
	counter_inc(&w->counters.encap, 1);
	r->verdict = ESP_VERDICT_ENCAP;
	return ESP_VERDICT_ENCAP;
}

static enum esp_verdict seal_failed(struct esp_worker *w, struct esp_sa *sa,
				    int64_t seq, struct esp_result *r)
{
	if (seq == SEAL_EXHAUSTED)
		return esp_drop(w, r, sa, ESP_DROP_SEQ_EXHAUSTED);
	if (seq == SEAL_UNRESERVED)
		return esp_drop(w, r, sa, ESP_DROP_UNRESERVED);
	return esp_drop(w, r, sa, ESP_DROP_INTERNAL);
}

enum esp_verdict esp_encap(struct esp_worker *w, struct esp_sa *sa,
			   struct pkt *p, const struct ip_view *v,
			   struct esp_result *r)
{
	const struct esp_auth_info *ai = esp_auth_info(sa->p.auth);
	struct esp_encap_plan pl;

	if (encap_prepare(w, sa, p, v, r, &pl) != ESP_VERDICT_ENCAP)
		return ESP_VERDICT_DROP;
	int64_t seq = seal(sa, pl.esp, pl.ct_len, pl.plen);
	if (seq <= 0)
		return seal_failed(w, sa, seq, r);
	if (seq == ESP_SEQ_MAX)
		esp_emit_sa(w->engine, ESP_EVENT_EXHAUSTED, sa);
	if (ai->icv_len)
		esp_hmac_append(&sa->hmac, pl.esp,
				pl.total - (uint32_t)(pl.esp - pkt_data(p)) - ai->icv_len);
	return encap_finish(w, &pl, r);
}

/* The sequence number, under the SA's lock, with seal()'s checks; the
 * cipher runs later, for the whole burst. Counted as sent now: a packet
 * whose sealing then fails (the library refused) has used its number. */
static int64_t reserve(struct esp_sa *sa, uint8_t *esp, uint32_t plen)
{
	spin_lock(&sa->lock);
	int64_t seq = next_seq_locked(sa);
	if (seq > 0) {
		put_be32(esp + 4, (uint32_t)seq);
		count_sent_locked(sa, plen);
	}
	spin_unlock(&sa->lock);
	return seq;
}

enum esp_verdict esp_encap_begin(struct esp_worker *w, struct esp_sa *sa,
				 struct pkt *p, const struct ip_view *v,
				 struct esp_result *r, struct esp_encap_plan *pl)
{
	if (encap_prepare(w, sa, p, v, r, pl) != ESP_VERDICT_ENCAP)
		return ESP_VERDICT_DROP;
	int64_t seq = reserve(sa, pl->esp, pl->plen);
	if (seq <= 0)
		return seal_failed(w, sa, seq, r);
	pl->seq = (uint32_t)seq;
	return ESP_VERDICT_ENCAP;
}

enum esp_verdict esp_encap_end(struct esp_worker *w, const struct esp_encap_plan *pl,
			       int status, struct esp_result *r)
{
	if (status)
		return esp_drop(w, r, pl->sa, ESP_DROP_INTERNAL);
	if (pl->seq == ESP_SEQ_MAX)
		esp_emit_sa(w->engine, ESP_EVENT_EXHAUSTED, pl->sa);
	return encap_finish(w, pl, r);
}
