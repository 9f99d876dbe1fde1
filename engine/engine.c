#include "engine/engine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "encap/table.h"
#include "encap/udpencap.h"
#include "engine/engine_internal.h"

static const char *const drop_names[ESP_DROP__COUNT] = {
#define X(id, name) [ESP_DROP_##id] = name,
	ESP_DROP_REASONS(X)
#undef X
};

const char *esp_drop_name(enum esp_drop reason)
{
	return reason < ESP_DROP__COUNT ? drop_names[reason] : "?";
}

struct esp_engine *esp_engine_new(void)
{
	struct esp_engine *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->sad = esp_sad_new();
	e->table = encap_table_new();
	if (!e->sad || !e->table || pthread_rwlock_init(&e->lock, NULL)) {
		esp_sad_free(e->sad);
		encap_table_free(e->table);
		free(e);
		return NULL;
	}
	return e;
}

void esp_engine_free(struct esp_engine *e)
{
	if (!e)
		return;
	struct esp_worker *w = e->workers;
	while (w) {
		struct esp_worker *next = w->next;
		esp_rng_wipe(&w->rng);
		esp_batch_free(w->batch);
		free(w);
		w = next;
	}
	/* groups first: freeing the SAD frees the SAs they point at */
	encap_table_free(e->table);
	esp_sad_free(e->sad);
	pthread_rwlock_destroy(&e->lock);
	free(e);
}

void esp_engine_on_event(struct esp_engine *e, esp_event_fn fn, void *arg)
{
	e->on_event = fn;
	e->event_arg = arg;
}

struct esp_sad *esp_engine_sad(struct esp_engine *e)
{
	return e->sad;
}

struct encap_table *esp_engine_table(struct esp_engine *e)
{
	return e->table;
}

void esp_engine_read_lock(struct esp_engine *e)
{
	pthread_rwlock_rdlock(&e->lock);
}

void esp_engine_read_unlock(struct esp_engine *e)
{
	pthread_rwlock_unlock(&e->lock);
}

void esp_engine_set_time(struct esp_engine *e, uint64_t now_ms)
{
	__atomic_store_n(&e->now_ms, now_ms, __ATOMIC_RELAXED);
}

void esp_engine_set_path_mtu(struct esp_engine *e, uint32_t path_mtu)
{
	__atomic_store_n(&e->path_mtu, path_mtu, __ATOMIC_RELAXED);
}

void esp_engine_emit(struct esp_engine *e, const struct esp_event *ev)
{
	if (e->on_event)
		e->on_event(e->event_arg, ev);
}

static struct esp_event sa_event(enum esp_event_type type,
				 const struct esp_sa_params *p)
{
	struct esp_event ev = {
		.type = type,
		.spi = p->spi,
		.reqid = p->reqid,
		.src = p->src,
		.dst = p->dst,
	};
	return ev;
}

void esp_emit_sa(struct esp_engine *e, enum esp_event_type type,
		 const struct esp_sa *sa)
{
	struct esp_event ev = sa_event(type, &sa->p);

	esp_engine_emit(e, &ev);
}

/* Control-side changes collect their events and raise them once the write
 * lock is released, so that a handler may look at the SAD. */
#define PENDING_MAX 4

struct pending {
	struct esp_event ev[PENDING_MAX];
	unsigned n;
};

static void pend(struct pending *pe, struct esp_event ev)
{
	if (pe->n < PENDING_MAX)
		pe->ev[pe->n++] = ev;
}

static void flush_pending(struct esp_engine *e, const struct pending *pe)
{
	for (unsigned i = 0; i < pe->n; i++)
		esp_engine_emit(e, &pe->ev[i]);
}

static int add_locked(struct esp_engine *e, const struct esp_sa_params *p,
		      const struct esp_sa_resume *rs, const char **why,
		      struct pending *pe)
{
	struct esp_sa *sa;
	bool created;
	int err = esp_sa_create(p, &sa, why);

	if (err)
		return err;
	err = encap_table_check(e->table, sa, why);
	if (!err)
		err = esp_sad_add(e->sad, sa, why);
	if (err) {
		esp_sa_free(sa);
		return err;
	}
	err = encap_table_attach(e->table, sa, &created);
	if (err) {
		esp_sad_remove(e->sad, sa);
		esp_sa_free(sa);
		*why = "out of memory";
		return err;
	}
	if (p->lifetime_s)
		sa->expires_ms = __atomic_load_n(&e->now_ms, __ATOMIC_RELAXED) +
				 (uint64_t)p->lifetime_s * 1000;
	if (rs) {
		/* not yet visible to workers: no lock needed */
		sa->seq_out = rs->seq_out < ESP_SEQ_MAX ? rs->seq_out : ESP_SEQ_MAX;
		sa->seq_limit = rs->seq_limit && rs->seq_limit < ESP_SEQ_MAX ? rs->seq_limit :
										ESP_SEQ_MAX;
		if (rs->replay_top)
			esp_replay_restore(&sa->replay, rs->replay_top);
	}
	if (created)
		pend(pe, (struct esp_event){ .type = ESP_EVENT_GROUP_ADDED,
					     .reqid = p->reqid });
	return 0;
}

int esp_engine_add_sa(struct esp_engine *e, const struct esp_sa_params *p,
		      const char **why)
{
	return esp_engine_add_sa_resumed(e, p, NULL, why);
}

int esp_engine_set_seq_limit(struct esp_engine *e, uint32_t spi,
			     const struct esp_addr *dst, uint64_t limit)
{
	pthread_rwlock_rdlock(&e->lock);
	struct esp_sa *sa = esp_sad_find(e->sad, spi, dst);
	if (sa) {
		spin_lock(&sa->lock);
		if (limit > ESP_SEQ_MAX)
			limit = ESP_SEQ_MAX;
		if (limit > sa->seq_limit)
			__atomic_store_n(&sa->seq_limit, limit, __ATOMIC_RELAXED);
		spin_unlock(&sa->lock);
	}
	pthread_rwlock_unlock(&e->lock);
	return sa ? 0 : -ENOENT;
}

int esp_engine_restore_port(struct esp_engine *e, uint32_t reqid, uint16_t port)
{
	int rc = -ENOENT;
	uint16_t old;

	pthread_rwlock_wrlock(&e->lock);
	struct encap_group *g = encap_table_group(e->table, reqid);
	for (struct esp_sa *sa = g ? g->members : NULL; sa && port; sa = sa->group_next) {
		if (!sa->p.encap || !esp_sa_is_inbound(sa))
			continue;
		encap_table_learn(e->table, sa, &sa->p.src, port,
				  __atomic_load_n(&e->now_ms, __ATOMIC_RELAXED), &old);
		rc = 0;
		break;
	}
	pthread_rwlock_unlock(&e->lock);
	return rc;
}

int esp_engine_add_sa_resumed(struct esp_engine *e, const struct esp_sa_params *p,
			      const struct esp_sa_resume *rs, const char **why)
{
	struct pending pe = { .n = 0 };

	pthread_rwlock_wrlock(&e->lock);
	int err = add_locked(e, p, rs, why, &pe);
	pthread_rwlock_unlock(&e->lock);
	if (err) {
		struct esp_event ev = sa_event(ESP_EVENT_REFUSED, p);
		ev.reason = *why;
		pend(&pe, ev);
	}
	flush_pending(e, &pe);
	return err;
}

/* Unlinks and frees @sa; the events go to @pe. */
static void remove_locked(struct esp_engine *e, struct esp_sa *sa,
			  struct pending *pe)
{
	uint32_t reqid;
	bool last = encap_table_detach(e->table, sa, &reqid);

	esp_sad_remove(e->sad, sa);
	esp_sa_free(sa);
	if (last)
		pend(pe, (struct esp_event){ .type = ESP_EVENT_GROUP_REMOVED,
					     .reqid = reqid });
}

int esp_engine_del_sa(struct esp_engine *e, uint32_t spi,
		      const struct esp_addr *dst)
{
	struct pending pe = { .n = 0 };

	pthread_rwlock_wrlock(&e->lock);
	struct esp_sa *sa = esp_sad_find(e->sad, spi, dst);
	if (sa)
		remove_locked(e, sa, &pe);
	pthread_rwlock_unlock(&e->lock);
	flush_pending(e, &pe);
	return sa ? 0 : -ENOENT;
}

/* Removes SAs chosen by @pick, raising their events after each batch of
 * removals so that the pending list never overflows. */
static size_t remove_where(struct esp_engine *e,
			   bool (*pick)(const struct esp_sa *, uint64_t),
			   uint64_t arg, enum esp_event_type each)
{
	size_t removed = 0;

	for (;;) {
		struct pending pe = { .n = 0 };
		struct esp_sa *sa;

		pthread_rwlock_wrlock(&e->lock);
		for (sa = esp_sad_first(e->sad); sa; sa = esp_sad_next(sa))
			if (pick(sa, arg))
				break;
		if (sa) {
			if (each != ESP_EVENT__COUNT)
				pend(&pe, sa_event(each, &sa->p));
			remove_locked(e, sa, &pe);
			removed++;
		}
		pthread_rwlock_unlock(&e->lock);
		flush_pending(e, &pe);
		if (!sa)
			return removed;
	}
}

static bool pick_any(const struct esp_sa *sa, uint64_t unused)
{
	(void)sa;
	(void)unused;
	return true;
}

static bool pick_expired(const struct esp_sa *sa, uint64_t now)
{
	return sa->expires_ms && sa->expires_ms <= now;
}

size_t esp_engine_flush(struct esp_engine *e)
{
	return remove_where(e, pick_any, 0, ESP_EVENT__COUNT);
}

size_t esp_engine_expire(struct esp_engine *e, uint64_t now_ms)
{
	return remove_where(e, pick_expired, now_ms, ESP_EVENT_EXPIRED);
}

struct esp_worker *esp_worker_new(struct esp_engine *e)
{
	struct esp_worker *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->engine = e;
	esp_rng_init(&w->rng);
	/* a random start keeps outer IPv4 IDs of restarts apart */
	if (RAND_bytes((unsigned char *)&w->ip_id, sizeof(w->ip_id)) != 1)
		w->ip_id = 1;
	pthread_rwlock_wrlock(&e->lock);
	w->next = e->workers;
	e->workers = w;
	pthread_rwlock_unlock(&e->lock);
	return w;
}

void esp_worker_set_time(struct esp_worker *w, uint64_t now_ms)
{
	w->now_ms = now_ms;
}

void esp_engine_counters(const struct esp_engine *e, struct esp_counters *out)
{
	memset(out, 0, sizeof(*out));
	pthread_rwlock_rdlock((pthread_rwlock_t *)&e->lock);
	for (const struct esp_worker *w = e->workers; w; w = w->next) {
		const struct esp_counters *c = &w->counters;
		out->packets += counter_read(&c->packets);
		out->encap += counter_read(&c->encap);
		out->decap += counter_read(&c->decap);
		out->keepalive += counter_read(&c->keepalive);
		out->bypass += counter_read(&c->bypass);
		out->dropped += counter_read(&c->dropped);
		for (int i = 0; i < ESP_DROP__COUNT; i++)
			out->drops[i] += counter_read(&c->drops[i]);
	}
	pthread_rwlock_unlock((pthread_rwlock_t *)&e->lock);
}

enum esp_verdict esp_drop(struct esp_worker *w, struct esp_result *r,
			  struct esp_sa *sa, enum esp_drop reason)
{
	counter_inc(&w->counters.dropped, 1);
	counter_inc(&w->counters.drops[reason], 1);
	if (sa)
		counter_add_shared(&sa->stats.drops[reason], 1);
	r->reason = reason;
	r->verdict = ESP_VERDICT_DROP;
	return ESP_VERDICT_DROP;
}

static enum esp_verdict pass(struct esp_worker *w, struct esp_result *r)
{
	counter_inc(&w->counters.bypass, 1);
	r->verdict = ESP_VERDICT_PASS;
	return ESP_VERDICT_PASS;
}

/* What became of a packet the burst path looked at: handled (verdict
 * set), or waiting for its sealing or its opening. */
enum routed { ROUTED_DONE, ROUTED_ENCAP, ROUTED_DECAP };

/* ESP at @esp_off: decapsulated now, or, when @dp is given (inbound
 * bursts), checked and left for the backend. */
static enum routed to_decap(struct esp_worker *w, struct pkt *p, const struct ip_view *v,
			    uint32_t esp_off, uint32_t esp_len, bool udp,
			    struct esp_result *r, struct esp_decap_plan *dp,
			    enum esp_verdict *verdict)
{
	if (!dp) {
		*verdict = esp_decap(w, p, v, esp_off, esp_len, udp, r);
		return ROUTED_DONE;
	}
	*verdict = esp_decap_begin(w, p, v, esp_off, esp_len, udp, r, dp);
	return *verdict == ESP_VERDICT_DECAP ? ROUTED_DECAP : ROUTED_DONE;
}

/* Everything to UDP port 4500: keepalives, IKE behind its marker, ESP. */
static enum routed from_port_4500(struct esp_worker *w, struct pkt *p,
				  const struct ip_view *v, struct esp_result *r,
				  struct esp_decap_plan *dp, enum esp_verdict *verdict)
{
	const uint8_t *udp = pkt_data(p) + v->l4_off;
	uint32_t held = v->len - v->l4_off;
	uint32_t ulen = get_be16(udp + 4);

	*verdict = ESP_VERDICT_DROP;
	if (v->fragment) {
		esp_drop(w, r, NULL, ESP_DROP_FRAGMENT);
		return ROUTED_DONE;
	}
	if (ulen < UDP_HDR_LEN || ulen > held) {
		esp_drop(w, r, NULL, ESP_DROP_MALFORMED);
		return ROUTED_DONE;
	}

	const uint8_t *payload = udp + UDP_HDR_LEN;
	uint32_t plen = ulen - UDP_HDR_LEN;
	switch (udpencap_classify(payload, plen)) {
	case UDPENCAP_KEEPALIVE:
		encap_table_keepalive(w->engine->table, &v->src, v->sport, w->now_ms);
		counter_inc(&w->counters.keepalive, 1);
		r->verdict = ESP_VERDICT_CONSUME;
		*verdict = ESP_VERDICT_CONSUME;
		return ROUTED_DONE;
	case UDPENCAP_IKE:
		*verdict = pass(w, r);
		return ROUTED_DONE;
	case UDPENCAP_ESP:
		return to_decap(w, p, v, v->l4_off + UDP_HDR_LEN, plen, true, r, dp, verdict);
	default:
		esp_drop(w, r, NULL, ESP_DROP_MALFORMED);
		return ROUTED_DONE;
	}
}

/* Everything up to the crypto: returns ROUTED_ENCAP with the outbound
 * SA in *@out (@v filled in) when the packet is to be encapsulated,
 * ROUTED_DECAP when @dp (inbound bursts only) holds an inbound packet
 * ready for its ICV, otherwise ROUTED_DONE with the packet handled and
 * *@verdict set. */
static enum routed route(struct esp_worker *w, struct pkt *p, enum esp_hint hint,
			 struct esp_result *r, struct ip_view *v,
			 struct esp_decap_plan *dp, struct esp_sa **out,
			 enum esp_verdict *verdict)
{
	struct esp_flow f;

	r->sa = NULL;
	r->reason = 0;
	counter_inc(&w->counters.packets, 1);
	if (ip_parse(pkt_data(p), p->len, v)) {
		*verdict = esp_drop(w, r, NULL, ESP_DROP_MALFORMED);
		return ROUTED_DONE;
	}
	p->len = v->len;	/* link-layer padding is not ours to carry */

	if (hint == ESP_HINT_ANY || hint == ESP_HINT_INBOUND) {
		if (v->proto == IPPROTO_NUM_UDP && !v->later_fragment &&
		    v->dport == ESP_ENCAP_PORT)
			return from_port_4500(w, p, v, r, dp, verdict);
		if (v->proto == IPPROTO_NUM_ESP) {
			if (v->fragment) {
				*verdict = esp_drop(w, r, NULL, ESP_DROP_FRAGMENT);
				return ROUTED_DONE;
			}
			return to_decap(w, p, v, v->l4_off, v->len - v->l4_off, false, r,
					dp, verdict);
		}
	}
	if (hint == ESP_HINT_INBOUND) {
		*verdict = pass(w, r);
		return ROUTED_DONE;
	}

	struct esp_flow_key key;
	struct esp_sa *sa;
	ip_flow_key(pkt_data(p), v, &key);
	if (!esp_sad_cache_get(w->engine->sad, &w->last_out, &key, &sa)) {
		ip_flow(v, &f);
		sa = esp_sad_lookup_out_cached(w->engine->sad, &w->last_out, &key, &f);
	}
	if (!sa && hint == ESP_HINT_PROTECT)
		*verdict = esp_drop(w, r, NULL, ESP_DROP_UNPROTECTED);
	else if (!sa)
		*verdict = pass(w, r);
	else if (v->fragment)
		*verdict = esp_drop(w, r, sa, ESP_DROP_FRAGMENT);
	else {
		*out = sa;
		return ROUTED_ENCAP;
	}
	return ROUTED_DONE;
}

static enum esp_verdict process_one(struct esp_worker *w, struct pkt *p,
				    enum esp_hint hint, struct esp_result *r)
{
	struct ip_view v;
	enum esp_verdict verdict;
	struct esp_sa *sa;

	if (route(w, p, hint, r, &v, NULL, &sa, &verdict) == ROUTED_ENCAP)
		return esp_encap(w, sa, p, &v, r);
	return verdict;
}

enum esp_verdict esp_process(struct esp_worker *w, struct pkt *p,
			     enum esp_hint hint, struct esp_result *r)
{
	pthread_rwlock_rdlock(&w->engine->lock);
	enum esp_verdict v = process_one(w, p, hint, r);
	pthread_rwlock_unlock(&w->engine->lock);
	return v;
}

/* Up to this many packets are sealed in one backend call. */
#define BURST_CHUNK 128
/* Below this many packets a chunk has too few misses to overlap; up to
 * this many SAs (about 3 MB of them) they mostly stay in cache, and
 * warming only adds work (espnat bench --sizes 128: at 1,000 SAs 9 %
 * slower with it, at 10,000 4 % faster, at 100,000 28 %). */
#define WARM_MIN 4
#define WARM_SAS 2048

/* Spread over many SAs, every packet of a burst finds its SA, and the
 * SA's keys, out of cache; found one after the other, each waits for
 * several misses in a row (bucket, SA, keys). So when the last chunk's
 * lookups mostly missed the worker's one-entry cache, the memory of the
 * whole chunk is requested first, stage by stage, each stage reading
 * only what the one before asked for: the chunk's misses overlap. It
 * only prefetches: what the packets become is decided afterwards, as
 * without it. */
static void warm_chunk(struct esp_worker *w, struct esp_sad_probe *pr, unsigned n,
		       bool outbound)
{
	const struct esp_sad *sad = w->engine->sad;
	struct esp_sa *sa[BURST_CHUNK];

	/* to the first node, then past one with another hash: most chains
	 * hold one or two */
	for (int step = 0; step < 3; step++)
		for (unsigned i = 0; i < n; i++)
			sa[i] = esp_sad_probe_step(sad, &pr[i]);
	bool hmac = esp_batch_kind(w->batch) == ESP_BACKEND_OPENSSL;
	for (unsigned i = 0; i < n; i++)
		if (sa[i])
			esp_sa_prefetch(sa[i], hmac);
	for (unsigned i = 0; i < n; i++)
		if (sa[i])
			esp_batch_prefetch(w->batch, sa[i], outbound);
}

static void warm_out(struct esp_worker *w, struct pkt *const *pkts, unsigned n)
{
	struct esp_sad_probe pr[BURST_CHUNK];

	for (unsigned i = 0; i < n; i++) {
		struct ip_view v;
		struct esp_flow f;
		pr[i].live = false;
		if (ip_parse(pkt_data(pkts[i]), pkts[i]->len, &v) == 0) {
			ip_flow(&v, &f);
			esp_sad_probe_out(w->engine->sad, &f, &pr[i]);
		}
	}
	warm_chunk(w, pr, n, true);
}

/* The same for arriving ESP, by (SPI, destination); what is not ESP (or
 * is malformed) is left to route() to judge. */
static void warm_in(struct esp_worker *w, struct pkt *const *pkts, unsigned n)
{
	struct esp_sad_probe pr[BURST_CHUNK];

	for (unsigned i = 0; i < n; i++) {
		const uint8_t *d = pkt_data(pkts[i]);
		struct ip_view v;
		uint32_t esp = 0;
		pr[i].live = false;
		if (ip_parse(d, pkts[i]->len, &v) || v.fragment)
			continue;
		if (v.proto == IPPROTO_NUM_ESP)
			esp = v.l4_off;
		else if (v.proto == IPPROTO_NUM_UDP && v.dport == ESP_ENCAP_PORT)
			esp = v.l4_off + UDP_HDR_LEN;
		if (!esp || esp + 8 > v.len)
			continue;
		uint32_t spi = get_be32(d + esp);
		if (spi)	/* 0: the non-ESP marker (IKE) */
			esp_sad_probe_in(w->engine->sad, spi, &v.dst, &pr[i]);
	}
	warm_chunk(w, pr, n, false);
}

/* Outbound (or mixed) bursts: every packet in order up to its sealing
 * (lookups, drops, inbound packets and their side effects as esp_process()
 * would have them), then all the sealing at once, then the packets
 * finished in order. */
static void seal_chunk(struct esp_worker *w, struct pkt *const *pkts,
		       unsigned n, enum esp_hint hint, struct esp_result *r)
{
	struct esp_encap_plan plans[BURST_CHUNK];
	struct esp_seal_op ops[BURST_CHUNK];
	unsigned which[BURST_CHUNK], nops = 0;
	uint64_t misses = w->last_out.misses;

	if (w->cold)
		warm_out(w, pkts, n);
	for (unsigned i = 0; i < n; i++) {
		struct ip_view v;
		enum esp_verdict verdict;
		struct esp_sa *sa;
		if (route(w, pkts[i], hint, &r[i], &v, NULL, &sa, &verdict) != ROUTED_ENCAP ||
		    esp_encap_begin(w, sa, pkts[i], &v, &r[i], &plans[nops]) != ESP_VERDICT_ENCAP)
			continue;
		ops[nops] = (struct esp_seal_op){ .sa = sa, .esp = plans[nops].esp,
						  .ct_len = plans[nops].ct_len };
		which[nops++] = i;
	}
	w->cold = n >= WARM_MIN && esp_sad_count(w->engine->sad) > (size_t)WARM_SAS &&
		  (w->last_out.misses - misses) * 2 > n;
	if (!nops)
		return;
	esp_batch_seal(w->batch, ops, nops);
	for (unsigned k = 0; k < nops; k++)
		esp_encap_end(w, &plans[k], ops[k].status, &r[which[k]]);
}

/* Keeps, in order, the packets esp_decap_accept() lets through (their
 * plans, ops and indexes moved to the front); returns how many. */
static unsigned open_survivors(struct esp_worker *w, struct esp_decap_plan *plans,
			       struct esp_open_op *ops, unsigned *which, unsigned n,
			       struct esp_result *r)
{
	unsigned kept = 0;

	for (unsigned k = 0; k < n; k++) {
		if (esp_decap_accept(w, &plans[k], ops[k].status, &r[which[k]]) !=
		    ESP_VERDICT_DECAP)
			continue;
		if (kept != k) {	/* a plan is ~100 bytes: copied only to close a gap */
			plans[kept] = plans[k];
			which[kept] = which[k];
			ops[kept] = ops[k];
			ops[kept].mac = plans[kept].mac;
		}
		kept++;
	}
	return kept;
}

/* Inbound bursts: every packet checked in order up to its ICV, the MACs
 * computed at once, each compared in constant time and only then its
 * replay window moved (in order), the accepted ones decrypted at once,
 * then delivered in order. Nothing is decrypted before its ICV is
 * verified. Inbound bursts carry no packets to protect, so deferring the
 * delivery (and the port learning) changes nothing a later packet of the
 * burst sees. */
static void open_chunk(struct esp_worker *w, struct pkt *const *pkts,
		       unsigned n, struct esp_result *r)
{
	struct esp_decap_plan plans[BURST_CHUNK];
	struct esp_open_op ops[BURST_CHUNK], macs[BURST_CHUNK];
	unsigned which[BURST_CHUNK], nops = 0, nmacs = 0;
	uint64_t misses = w->last_in.misses;

	if (w->cold_in)
		warm_in(w, pkts, n);
	for (unsigned i = 0; i < n; i++) {
		struct ip_view v;
		enum esp_verdict verdict;
		struct esp_sa *sa;
		if (route(w, pkts[i], ESP_HINT_INBOUND, &r[i], &v, &plans[nops], &sa,
			  &verdict) != ROUTED_DECAP)
			continue;
		struct esp_decap_plan *pl = &plans[nops];
		/* both copies from registers: copying ops[nops] itself would
		 * load wide what was just stored narrow, a stall that cost 5 ns
		 * a packet */
		const struct esp_open_op op = { .sa = pl->sa, .esp = pl->esp,
						.ct_len = pl->ct_len, .mac = pl->mac };
		ops[nops] = op;
		if (pl->sa->p.auth != ESP_AUTH_NONE)
			macs[nmacs++] = op;
		which[nops++] = i;
	}
	w->cold_in = n >= WARM_MIN && esp_sad_count(w->engine->sad) > (size_t)WARM_SAS &&
		     (w->last_in.misses - misses) * 2 > n;
	if (!nops)
		return;
	esp_batch_mac(w->batch, macs, nmacs);
	/* the MAC ops' statuses back onto their packets, in order */
	for (unsigned k = 0, m = 0; k < nops; k++)
		if (plans[k].sa->p.auth != ESP_AUTH_NONE)
			ops[k].status = macs[m++].status;
	nops = open_survivors(w, plans, ops, which, nops, r);
	if (!nops)
		return;
	esp_batch_decrypt(w->batch, ops, nops);
	for (unsigned k = 0; k < nops; k++)
		esp_decap_end(w, &plans[k], ops[k].status, &r[which[k]]);
}

void esp_process_burst(struct esp_worker *w, struct pkt *const *pkts,
		       unsigned n, enum esp_hint hint, struct esp_result *r)
{
	pthread_rwlock_rdlock(&w->engine->lock);
	for (unsigned i = 0; i < n; i += BURST_CHUNK) {
		unsigned k = n - i < BURST_CHUNK ? n - i : BURST_CHUNK;
		if (hint == ESP_HINT_INBOUND)
			open_chunk(w, pkts + i, k, r + i);
		else
			seal_chunk(w, pkts + i, k, hint, r + i);
	}
	pthread_rwlock_unlock(&w->engine->lock);
}

int esp_worker_set_backend(struct esp_worker *w, enum esp_backend b,
			   const char **why)
{
	int err = esp_backend_check(b, why);

	if (err)
		return err;
	struct esp_batch *bt = NULL;
	if (b != ESP_BACKEND_OPENSSL && !(bt = esp_batch_new(b))) {
		*why = "out of memory";
		return -ENOMEM;
	}
	esp_batch_free(w->batch);
	w->batch = bt;
	return 0;
}

enum esp_backend esp_worker_backend(const struct esp_worker *w)
{
	return esp_batch_kind(w->batch);
}
