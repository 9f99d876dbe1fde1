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
	if (!e->sad || !e->table) {
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
		free(w);
		w = next;
	}
	/* groups first: freeing the SAD frees the SAs they point at */
	encap_table_free(e->table);
	esp_sad_free(e->sad);
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

void esp_engine_emit(struct esp_engine *e, const struct esp_event *ev)
{
	if (e->on_event)
		e->on_event(e->event_arg, ev);
}

void esp_emit_sa(struct esp_engine *e, enum esp_event_type type,
		 const struct esp_sa *sa)
{
	struct esp_event ev = {
		.type = type,
		.spi = sa->p.spi,
		.reqid = sa->p.reqid,
		.src = sa->p.src,
		.dst = sa->p.dst,
	};
	esp_engine_emit(e, &ev);
}

static void emit_group(struct esp_engine *e, enum esp_event_type type,
		       uint32_t reqid)
{
	struct esp_event ev = { .type = type, .reqid = reqid };

	esp_engine_emit(e, &ev);
}

static int refuse(struct esp_engine *e, const struct esp_sa_params *p,
		  const char *why, int err)
{
	struct esp_event ev = {
		.type = ESP_EVENT_REFUSED,
		.spi = p->spi,
		.reqid = p->reqid,
		.src = p->src,
		.dst = p->dst,
		.reason = why,
	};
	esp_engine_emit(e, &ev);
	return err;
}

int esp_engine_add_sa(struct esp_engine *e, const struct esp_sa_params *p,
		      const char **why)
{
	struct esp_sa *sa;
	bool created;
	int err = esp_sa_create(p, &sa, why);

	if (err)
		return refuse(e, p, *why, err);
	err = encap_table_check(e->table, sa, why);
	if (!err)
		err = esp_sad_add(e->sad, sa, why);
	if (err) {
		esp_sa_free(sa);
		return refuse(e, p, *why, err);
	}
	err = encap_table_attach(e->table, sa, &created);
	if (err) {
		esp_sad_remove(e->sad, sa);
		esp_sa_free(sa);
		*why = "out of memory";
		return refuse(e, p, *why, err);
	}
	if (created)
		emit_group(e, ESP_EVENT_GROUP_ADDED, p->reqid);
	return 0;
}

int esp_engine_del_sa(struct esp_engine *e, uint32_t spi,
		      const struct esp_addr *dst)
{
	struct esp_sa *sa = esp_sad_find(e->sad, spi, dst);
	uint32_t reqid;

	if (!sa)
		return -ENOENT;
	bool last = encap_table_detach(e->table, sa, &reqid);
	esp_sad_remove(e->sad, sa);
	esp_sa_free(sa);
	if (last)
		emit_group(e, ESP_EVENT_GROUP_REMOVED, reqid);
	return 0;
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
	w->next = e->workers;
	e->workers = w;
	return w;
}

void esp_worker_set_time(struct esp_worker *w, uint64_t now_ms)
{
	w->now_ms = now_ms;
}

void esp_engine_counters(const struct esp_engine *e, struct esp_counters *out)
{
	memset(out, 0, sizeof(*out));
	for (const struct esp_worker *w = e->workers; w; w = w->next) {
		const struct esp_counters *c = &w->counters;
		out->packets += c->packets;
		out->encap += c->encap;
		out->decap += c->decap;
		out->keepalive += c->keepalive;
		out->bypass += c->bypass;
		out->dropped += c->dropped;
		for (int i = 0; i < ESP_DROP__COUNT; i++)
			out->drops[i] += c->drops[i];
	}
}

enum esp_verdict esp_drop(struct esp_worker *w, struct esp_result *r,
			  struct esp_sa *sa, enum esp_drop reason)
{
	w->counters.dropped++;
	w->counters.drops[reason]++;
	if (sa)
		sa->stats.drops[reason]++;
	r->reason = reason;
	r->verdict = ESP_VERDICT_DROP;
	return ESP_VERDICT_DROP;
}

static enum esp_verdict pass(struct esp_worker *w, struct esp_result *r)
{
	w->counters.bypass++;
	r->verdict = ESP_VERDICT_PASS;
	return ESP_VERDICT_PASS;
}

/* Everything to UDP port 4500: keepalives, IKE behind its marker, ESP. */
static enum esp_verdict from_port_4500(struct esp_worker *w, struct pkt *p,
				       const struct ip_view *v,
				       struct esp_result *r)
{
	const uint8_t *udp = pkt_data(p) + v->l4_off;
	uint32_t held = v->len - v->l4_off;
	uint32_t ulen = get_be16(udp + 4);

	if (v->fragment)
		return esp_drop(w, r, NULL, ESP_DROP_FRAGMENT);
	if (ulen < UDP_HDR_LEN || ulen > held)
		return esp_drop(w, r, NULL, ESP_DROP_MALFORMED);

	const uint8_t *payload = udp + UDP_HDR_LEN;
	uint32_t plen = ulen - UDP_HDR_LEN;
	switch (udpencap_classify(payload, plen)) {
	case UDPENCAP_KEEPALIVE:
		encap_table_keepalive(w->engine->table, &v->src, v->sport, w->now_ms);
		w->counters.keepalive++;
		r->verdict = ESP_VERDICT_CONSUME;
		return ESP_VERDICT_CONSUME;
	case UDPENCAP_IKE:
		return pass(w, r);
	case UDPENCAP_ESP:
		return esp_decap(w, p, v, v->l4_off + UDP_HDR_LEN, plen, true, r);
	default:
		return esp_drop(w, r, NULL, ESP_DROP_MALFORMED);
	}
}

enum esp_verdict esp_process(struct esp_worker *w, struct pkt *p,
			     enum esp_hint hint, struct esp_result *r)
{
	struct ip_view v;
	struct esp_flow f;

	r->sa = NULL;
	r->reason = 0;
	w->counters.packets++;
	if (ip_parse(pkt_data(p), p->len, &v))
		return esp_drop(w, r, NULL, ESP_DROP_MALFORMED);
	p->len = v.len;		/* link-layer padding is not ours to carry */

	if (hint != ESP_HINT_OUTBOUND) {
		if (v.proto == IPPROTO_NUM_UDP && !v.later_fragment &&
		    v.dport == ESP_ENCAP_PORT)
			return from_port_4500(w, p, &v, r);
		if (v.proto == IPPROTO_NUM_ESP) {
			if (v.fragment)
				return esp_drop(w, r, NULL, ESP_DROP_FRAGMENT);
			return esp_decap(w, p, &v, v.l4_off, v.len - v.l4_off,
					 false, r);
		}
	}
	if (hint == ESP_HINT_INBOUND)
		return pass(w, r);

	ip_flow(&v, &f);
	struct esp_sa *sa = esp_sad_lookup_out(w->engine->sad, &f);
	if (!sa)
		return pass(w, r);
	if (v.fragment)
		return esp_drop(w, r, sa, ESP_DROP_FRAGMENT);
	return esp_encap(w, sa, p, &v, r);
}
