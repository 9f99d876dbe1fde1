/* Inbound ESP (RFC 4303 3.4): SA lookup, replay check, ICV, decryption,
 * trailer checks, then the plaintext packet rebuilt for delivery. */
#include <string.h>

#include "encap/table.h"
#include "engine/csum.h"
#include "engine/engine_internal.h"
#include "engine/mss.h"

#define ESP_HDR_LEN 8
#define ECN_MASK 0x03
#define ECN_CE 0x03

/* RFC 4303 2.4: padding is 1, 2, 3 ... up to at most 255 bytes. */
static const uint8_t pad_pattern[256] = {
#define P4(n) n + 1, n + 2, n + 3, n + 4
#define P16(n) P4(n), P4(n + 4), P4(n + 8), P4(n + 12)
	P16(0), P16(16), P16(32), P16(48), P16(64), P16(80), P16(96), P16(112),
	P16(128), P16(144), P16(160), P16(176), P16(192), P16(208), P16(224),
	P4(240), P4(244), P4(248), 253, 254, 255,
#undef P16
#undef P4
};

/* Compared eight bytes at a time, the last eight overlapping the ones
 * before when @padlen is no multiple of 8: a byte loop cost 8 ns of a
 * 128-byte packet (14 bytes of padding). */
static bool padding_ok(const uint8_t *pad, uint32_t padlen)
{
	uint64_t diff = 0, x, y;

	if (padlen < 8) {
		for (uint32_t i = 0; i < padlen; i++)
			diff |= (uint8_t)(pad[i] ^ pad_pattern[i]);
		return diff == 0;
	}
	for (uint32_t i = 0; i + 8 <= padlen; i += 8) {
		memcpy(&x, pad + i, 8);
		memcpy(&y, pad_pattern + i, 8);
		diff |= x ^ y;
	}
	memcpy(&x, pad + padlen - 8, 8);
	memcpy(&y, pad_pattern + padlen - 8, 8);
	return (diff | (x ^ y)) == 0;
}

/* RFC 6040 normal mode: congestion marked on the outer header reaches an
 * ECN-capable inner packet. */
static void propagate_ecn(uint8_t outer_tclass, uint8_t *inner, uint8_t family)
{
	if ((outer_tclass & ECN_MASK) != ECN_CE)
		return;
	if (family == AF_INET) {
		if ((inner[1] & ECN_MASK) == 0)
			return;
		inner[1] |= ECN_CE;
		csum_ipv4_header(inner);
	} else {
		uint8_t tc = (uint8_t)((inner[0] & 0x0f) << 4 | inner[1] >> 4);
		if ((tc & ECN_MASK) == 0)
			return;
		inner[1] |= ECN_CE << 4;
	}
}

/* A SYN from the peer announces the MSS our side may send: lowered so
 * that our segments fit once protected (see mss.h). */
static void clamp(struct esp_worker *w, const struct esp_sa *sa, uint8_t *ip,
		  const struct ip_view *v)
{
	uint32_t mtu = __atomic_load_n(&w->engine->path_mtu, __ATOMIC_RELAXED);

	if (mtu)
		mss_clamp(ip, v, mss_for(sa, v->family, mtu));
}

static enum esp_verdict deliver_tunnel(struct esp_worker *w, struct esp_sa *sa,
				       struct pkt *p, const struct ip_view *outer,
				       uint8_t *inner, uint32_t len,
				       uint8_t next_header, struct esp_result *r)
{
	struct ip_view v;
	struct esp_flow f;

	if (next_header != IPPROTO_NUM_IPV4 && next_header != IPPROTO_NUM_IPV6)
		return esp_drop(w, r, sa, ESP_DROP_BAD_NEXT_HEADER);
	if (ip_parse(inner, len, &v) ||
	    v.family != (next_header == IPPROTO_NUM_IPV4 ? AF_INET : AF_INET6))
		return esp_drop(w, r, sa, ESP_DROP_MALFORMED);
	ip_flow(&v, &f);
	if (!esp_selector_match(&sa->p.sel, &f))
		return esp_drop(w, r, sa, ESP_DROP_POLICY);
	propagate_ecn(outer->tclass, inner, v.family);
	clamp(w, sa, inner, &v);
	/* tunnel-mode TFC padding may follow the inner packet: its own
	 * length says where it ends */
	p->off = (uint32_t)(inner - p->buf);
	p->len = v.len;
	return ESP_VERDICT_DECAP;
}

/* RFC 3948 3.1.2: in transport mode a NAT changed the addresses the
 * inner TCP/UDP checksum was computed over. The segment was just
 * authenticated, so recomputing it is as safe as the incremental fix with
 * NAT-OA, and also right when the NAT-OA is not known. A UDP checksum of
 * 0 over IPv4 means none and stays so. */
static void fix_l4_checksum(uint8_t *ip, const struct ip_view *v)
{
	uint8_t *seg = ip + v->l4_off;
	uint32_t len = v->len - v->l4_off;
	size_t alen = v->family == AF_INET ? 4 : 16;
	const uint8_t *src = ip + (alen == 4 ? 12 : 8);
	const uint8_t *dst = ip + (alen == 4 ? 16 : 24);
	uint32_t at;

	if (v->later_fragment)
		return;
	if (v->proto == IPPROTO_NUM_UDP)
		at = 6;
	else if (v->proto == IPPROTO_NUM_TCP && len >= 18)
		at = 16;
	else
		return;
	if (v->proto == IPPROTO_NUM_UDP && v->family == AF_INET &&
	    get_be16(seg + at) == 0)
		return;
	put_be16(seg + at, 0);
	uint16_t c = csum_l4(src, dst, alen, v->proto, seg, len);
	if (c == 0 && v->proto == IPPROTO_NUM_UDP)
		c = 0xffff;
	put_be16(seg + at, c);
}

/* The kept IP headers slide up against the payload; the header that named
 * ESP (or UDP) now names what ESP carried. */
static enum esp_verdict deliver_transport(struct esp_worker *w,
					  struct esp_sa *sa, struct pkt *p,
					  const struct ip_view *outer,
					  uint8_t *payload, uint32_t len,
					  uint8_t next_header, bool udp,
					  struct esp_result *r)
{
	uint32_t keep = outer->l4_off;
	uint8_t *ip = payload - keep;
	struct ip_view v;
	struct esp_flow f;

	memmove(ip, pkt_data(p), keep);
	p->off = (uint32_t)(ip - p->buf);
	p->len = keep + len;
	ip[outer->proto_off] = next_header;
	ip_set_len(ip, outer->family, p->len);
	if (outer->family == AF_INET)
		csum_ipv4_header(ip);

	if (ip_parse(ip, p->len, &v))
		return esp_drop(w, r, sa, ESP_DROP_MALFORMED);
	if (udp)
		fix_l4_checksum(ip, &v);
	ip_flow(&v, &f);
	if (!esp_selector_match(&sa->p.sel, &f))
		return esp_drop(w, r, sa, ESP_DROP_POLICY);
	clamp(w, sa, ip, &v);
	return ESP_VERDICT_DECAP;
}

/* The packet is authenticated and fresh: only now may it teach the
 * registration its NAT binding (TR 33.803 A.7.2, RFC 3947 section 7).
 * An SA without integrity never teaches: its packets prove nothing. */
static void learn_port(struct esp_worker *w, struct esp_sa *sa,
		       const struct ip_view *outer)
{
	uint16_t old;
	enum encap_learn l = encap_table_learn(w->engine->table, sa, &outer->src,
					       outer->sport, w->now_ms, &old);

	if (l != ENCAP_LEARN_LEARNED && l != ENCAP_LEARN_MOVED)
		return;
	struct esp_event ev = {
		.type = l == ENCAP_LEARN_LEARNED ? ESP_EVENT_LEARNED : ESP_EVENT_MOVED,
		.spi = sa->p.spi,
		.reqid = sa->p.reqid,
		.src = outer->src,
		.dst = outer->dst,
		.old_port = old,
		.new_port = outer->sport,
	};
	esp_engine_emit(w->engine, &ev);
}

/* Up to the ICV: the SA, a first replay look and the lengths. */
static enum esp_verdict decap_check(struct esp_worker *w, struct pkt *p,
				    const struct ip_view *v, uint32_t esp_off,
				    uint32_t esp_len, bool udp, struct esp_result *r,
				    struct esp_decap_plan *pl)
{
	uint8_t *esp = pkt_data(p) + esp_off;

	if (esp_len < ESP_HDR_LEN)
		return esp_drop(w, r, NULL, ESP_DROP_MALFORMED);
	uint32_t spi = get_be32(esp), seq = get_be32(esp + 4);
	struct esp_sa *sa = esp_sad_lookup_in_cached(w->engine->sad, &w->last_in, spi, &v->dst);
	if (!sa)
		return esp_drop(w, r, NULL, ESP_DROP_NO_SA);
	r->sa = sa;

	if (esp_replay_check(&sa->replay, seq) != ESP_REPLAY_OK)
		return esp_drop(w, r, sa, ESP_DROP_REPLAY);

	const struct esp_enc_info *ei = esp_enc_info(sa->p.enc);
	const struct esp_auth_info *ai = esp_auth_info(sa->p.auth);
	uint32_t overhead = ESP_HDR_LEN + ei->iv_len + ai->icv_len;
	if (esp_len < overhead + ei->block)
		return esp_drop(w, r, sa, ESP_DROP_BAD_LENGTH);
	uint32_t ct_len = esp_len - overhead;
	if (ct_len & (ei->block - 1u))	/* blocks are powers of two: no division */
		return esp_drop(w, r, sa, ESP_DROP_BAD_LENGTH);
	pl->sa = sa;
	pl->p = p;
	pl->v = *v;
	pl->esp = esp;
	pl->ct_len = ct_len;
	pl->seq = seq;
	pl->udp = udp;
	return ESP_VERDICT_DECAP;
}

/* Only with the packet authenticated may the window move. The check is
 * repeated under the lock: another worker may have taken the same number
 * since the unlocked look, or an earlier packet of the same burst. */
static bool replay_take(struct esp_sa *sa, uint32_t seq)
{
	bool ok;

	spin_lock(&sa->lock);
	ok = esp_replay_check(&sa->replay, seq) == ESP_REPLAY_OK;
	if (ok)
		esp_replay_update(&sa->replay, seq);
	spin_unlock(&sa->lock);
	return ok;
}

/* After decryption: trailer, delivery, learning, counters. */
static enum esp_verdict decap_finish(struct esp_worker *w,
				     const struct esp_decap_plan *pl,
				     struct esp_result *r)
{
	struct esp_sa *sa = pl->sa;
	uint32_t ct_len = pl->ct_len;
	uint8_t *ct = pl->esp + ESP_HDR_LEN + esp_enc_info(sa->p.enc)->iv_len;
	uint32_t padlen = ct[ct_len - 2];
	uint8_t next_header = ct[ct_len - 1];

	if (padlen + 2 > ct_len || !padding_ok(ct + ct_len - 2 - padlen, padlen))
		return esp_drop(w, r, sa, ESP_DROP_BAD_PADDING);
	if (next_header == IPPROTO_NUM_NONE)
		return esp_drop(w, r, sa, ESP_DROP_DUMMY);
	uint32_t len = ct_len - 2 - padlen;

	enum esp_verdict verdict = sa->p.mode == ESP_MODE_TUNNEL ?
		deliver_tunnel(w, sa, pl->p, &pl->v, ct, len, next_header, r) :
		deliver_transport(w, sa, pl->p, &pl->v, ct, len, next_header, pl->udp, r);
	if (verdict != ESP_VERDICT_DECAP)
		return verdict;
	if (pl->udp && sa->p.auth != ESP_AUTH_NONE)
		learn_port(w, sa, &pl->v);
	counter_add_shared(&sa->stats.packets, 1);
	counter_add_shared(&sa->stats.bytes, len);
	counter_inc(&w->counters.decap, 1);
	r->verdict = ESP_VERDICT_DECAP;
	return ESP_VERDICT_DECAP;
}

enum esp_verdict esp_decap(struct esp_worker *w, struct pkt *p,
			   const struct ip_view *v, uint32_t esp_off,
			   uint32_t esp_len, bool udp, struct esp_result *r)
{
	struct esp_decap_plan pl;

	if (decap_check(w, p, v, esp_off, esp_len, udp, r, &pl) != ESP_VERDICT_DECAP)
		return ESP_VERDICT_DROP;
	struct esp_sa *sa = pl.sa;
	uint32_t icv_len = esp_auth_info(sa->p.auth)->icv_len;
	uint32_t covered = esp_len - icv_len;
	if (icv_len &&
	    !esp_hmac_verify(&sa->hmac, pl.esp, covered, pl.esp + covered, icv_len))
		return esp_drop(w, r, sa, ESP_DROP_AUTH);

	/* as replay_take(), with the decryption under the same lock hold */
	uint8_t *iv = pl.esp + ESP_HDR_LEN;
	spin_lock(&sa->lock);
	if (esp_replay_check(&sa->replay, pl.seq) != ESP_REPLAY_OK) {
		spin_unlock(&sa->lock);
		return esp_drop(w, r, sa, ESP_DROP_REPLAY);
	}
	esp_replay_update(&sa->replay, pl.seq);
	int failed = esp_sa_decrypt_locked(sa, iv, pl.ct_len);
	spin_unlock(&sa->lock);
	if (failed)
		return esp_drop(w, r, sa, ESP_DROP_INTERNAL);
	return decap_finish(w, &pl, r);
}

enum esp_verdict esp_decap_begin(struct esp_worker *w, struct pkt *p,
				 const struct ip_view *v, uint32_t esp_off,
				 uint32_t esp_len, bool udp, struct esp_result *r,
				 struct esp_decap_plan *pl)
{
	return decap_check(w, p, v, esp_off, esp_len, udp, r, pl);
}

enum esp_verdict esp_decap_accept(struct esp_worker *w, struct esp_decap_plan *pl,
				  int status, struct esp_result *r)
{
	struct esp_sa *sa = pl->sa;
	uint32_t icv_len = esp_auth_info(sa->p.auth)->icv_len;
	uint32_t covered = ESP_HDR_LEN + esp_enc_info(sa->p.enc)->iv_len + pl->ct_len;

	if (status)
		return esp_drop(w, r, sa, ESP_DROP_INTERNAL);
	/* esp_decap()'s first look again: an earlier packet of this burst
	 * may have taken the number since begin looked */
	if (esp_replay_check(&sa->replay, pl->seq) != ESP_REPLAY_OK)
		return esp_drop(w, r, sa, ESP_DROP_REPLAY);
	if (icv_len && !esp_icv_equal(pl->mac, pl->esp + covered, icv_len))
		return esp_drop(w, r, sa, ESP_DROP_AUTH);
	if (!replay_take(sa, pl->seq))
		return esp_drop(w, r, sa, ESP_DROP_REPLAY);
	return ESP_VERDICT_DECAP;
}

enum esp_verdict esp_decap_end(struct esp_worker *w, const struct esp_decap_plan *pl,
			       int status, struct esp_result *r)
{
	if (status)
		return esp_drop(w, r, pl->sa, ESP_DROP_INTERNAL);
	return decap_finish(w, pl, r);
}
