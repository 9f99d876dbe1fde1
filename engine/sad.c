#include "engine/sad.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

/* Outbound selectors are grouped by shape (family, prefix lengths, which of
 * protocol/ports are given): a lookup hashes the packet once per shape in
 * use, most specific first. Deployments have a handful of shapes, so this
 * stays O(1) in the number of SAs. */
struct sel_class {
	uint32_t sig;
	uint32_t rank;
	uint32_t nsas;
};

struct esp_sad {
	uint64_t seed;
	struct htable id;
	struct htable sel;
	struct sel_class *classes;
	size_t nclasses;
	size_t cap_classes;
	struct esp_sa *first;
	struct esp_sa *last;
	size_t count;
	uint64_t generation;		/* moves on every add and remove */
};

#define SIG_PROTO (1u << 16)
#define SIG_SPORT (1u << 17)
#define SIG_DPORT (1u << 18)
#define SIG_V6 (1u << 19)

static uint32_t id_hash(const struct esp_sad *sad, uint32_t spi,
			const struct esp_addr *dst)
{
	return hash_finish(hash_mix_addr(hash_mix(sad->seed, (uint64_t)spi << 8 | dst->family),
				    dst));
}

static uint32_t sel_hash(const struct esp_sad *sad, uint32_t sig,
			 const struct esp_addr *src, const struct esp_addr *dst,
			 uint8_t proto, uint16_t sport, uint16_t dport)
{
	uint64_t h = hash_mix(sad->seed ^ 0xa5a5a5a5, sig);

	h = hash_mix_addr(hash_mix_addr(h, src), dst);
	h = hash_mix(h, (uint64_t)proto << 32 | (uint64_t)sport << 16 | dport);
	return hash_finish(h);
}

struct esp_sad *esp_sad_new(void)
{
	struct esp_sad *sad = calloc(1, sizeof(*sad));

	if (!sad)
		return NULL;
	if (RAND_bytes((unsigned char *)&sad->seed, sizeof(sad->seed)) != 1 ||
	    htable_init(&sad->id) || htable_init(&sad->sel)) {
		esp_sad_free(sad);
		return NULL;
	}
	return sad;
}

void esp_sad_free(struct esp_sad *sad)
{
	if (!sad)
		return;
	struct esp_sa *sa = sad->first;
	while (sa) {
		struct esp_sa *next = sa->all_next;
		esp_sa_free(sa);
		sa = next;
	}
	htable_free(&sad->id);
	htable_free(&sad->sel);
	free(sad->classes);
	free(sad);
}

static uint32_t selector_sig(const struct esp_selector *s)
{
	uint32_t sig = s->src_plen | (uint32_t)s->dst_plen << 8;

	if (s->proto)
		sig |= SIG_PROTO;
	if (s->sport)
		sig |= SIG_SPORT;
	if (s->dport)
		sig |= SIG_DPORT;
	if (s->src.family == AF_INET6)
		sig |= SIG_V6;
	return sig;
}

static uint32_t selector_rank(const struct esp_selector *s)
{
	return ((uint32_t)s->src_plen + s->dst_plen) * 8 +
	       (s->proto ? 4u : 0u) + (s->sport ? 1u : 0u) + (s->dport ? 1u : 0u);
}

static struct sel_class *class_find(struct esp_sad *sad, uint32_t sig)
{
	for (size_t i = 0; i < sad->nclasses; i++)
		if (sad->classes[i].sig == sig)
			return &sad->classes[i];
	return NULL;
}

/* Keeps the classes sorted by rank, most specific first. */
static struct sel_class *class_add(struct esp_sad *sad, uint32_t sig,
				   uint32_t rank)
{
	if (sad->nclasses == sad->cap_classes) {
		size_t n = sad->cap_classes ? sad->cap_classes * 2 : 8;
		struct sel_class *c = realloc(sad->classes, n * sizeof(*c));
		if (!c)
			return NULL;
		sad->classes = c;
		sad->cap_classes = n;
	}
	size_t i = sad->nclasses;
	while (i > 0 && sad->classes[i - 1].rank < rank) {
		sad->classes[i] = sad->classes[i - 1];
		i--;
	}
	sad->classes[i] = (struct sel_class){ .sig = sig, .rank = rank };
	sad->nclasses++;
	return &sad->classes[i];
}

static void class_put(struct esp_sad *sad, uint32_t sig)
{
	struct sel_class *c = class_find(sad, sig);

	if (!c || --c->nsas > 0)
		return;
	size_t i = (size_t)(c - sad->classes);
	memmove(c, c + 1, (sad->nclasses - i - 1) * sizeof(*c));
	sad->nclasses--;
}

static uint32_t sa_sel_hash(const struct esp_sad *sad, const struct esp_sa *sa)
{
	const struct esp_selector *s = &sa->p.sel;

	return sel_hash(sad, sa->sel_sig, &s->src, &s->dst, s->proto, s->sport,
			s->dport);
}

static bool same_selector(const struct esp_sa *a, const struct esp_sa *b)
{
	const struct esp_selector *x = &a->p.sel, *y = &b->p.sel;

	return a->sel_sig == b->sel_sig && esp_addr_equal(&x->src, &y->src) &&
	       esp_addr_equal(&x->dst, &y->dst) && x->proto == y->proto &&
	       x->sport == y->sport && x->dport == y->dport;
}

static struct esp_sa *find_same_selector(const struct esp_sad *sad,
					 const struct esp_sa *sa, uint32_t h)
{
	for (struct hnode *n = htable_chain(&sad->sel, h); n; n = n->next) {
		struct esp_sa *o = container_of(n, struct esp_sa, sel_node);
		if (n->hash == h && same_selector(o, sa))
			return o;
	}
	return NULL;
}

int esp_sad_add(struct esp_sad *sad, struct esp_sa *sa, const char **why)
{
	if (esp_sad_find(sad, sa->p.spi, &sa->p.dst)) {
		*why = "an SA with this SPI and dst exists";
		return -EEXIST;
	}
	uint32_t hsel = 0;
	if (esp_sa_is_outbound(sa)) {
		sa->sel_sig = selector_sig(&sa->p.sel);
		hsel = sa_sel_hash(sad, sa);
		if (find_same_selector(sad, sa, hsel)) {
			*why = "an outbound SA with the same selector exists";
			return -EEXIST;
		}
		struct sel_class *c = class_find(sad, sa->sel_sig);
		if (!c)
			c = class_add(sad, sa->sel_sig, selector_rank(&sa->p.sel));
		if (!c) {
			*why = "out of memory";
			return -ENOMEM;
		}
		c->nsas++;
		htable_insert(&sad->sel, &sa->sel_node, hsel);
	}
	htable_insert(&sad->id, &sa->id_node, id_hash(sad, sa->p.spi, &sa->p.dst));

	sa->all_prev = sad->last;
	sa->all_next = NULL;
	if (sad->last)
		sad->last->all_next = sa;
	else
		sad->first = sa;
	sad->last = sa;
	sad->count++;
	sad->generation++;
	return 0;
}

void esp_sad_remove(struct esp_sad *sad, struct esp_sa *sa)
{
	htable_remove(&sad->id, &sa->id_node);
	if (esp_sa_is_outbound(sa)) {
		htable_remove(&sad->sel, &sa->sel_node);
		class_put(sad, sa->sel_sig);
	}
	if (sa->all_prev)
		sa->all_prev->all_next = sa->all_next;
	else
		sad->first = sa->all_next;
	if (sa->all_next)
		sa->all_next->all_prev = sa->all_prev;
	else
		sad->last = sa->all_prev;
	sa->all_prev = sa->all_next = NULL;
	sad->count--;
	sad->generation++;
}

struct esp_sa *esp_sad_find(const struct esp_sad *sad, uint32_t spi,
			    const struct esp_addr *dst)
{
	uint32_t h = id_hash(sad, spi, dst);

	for (struct hnode *n = htable_chain(&sad->id, h); n; n = n->next) {
		struct esp_sa *sa = container_of(n, struct esp_sa, id_node);
		if (n->hash == h && sa->p.spi == spi && esp_addr_equal(&sa->p.dst, dst))
			return sa;
	}
	return NULL;
}

struct esp_sa *esp_sad_lookup_in(const struct esp_sad *sad, uint32_t spi,
				 const struct esp_addr *dst)
{
	struct esp_sa *sa = esp_sad_find(sad, spi, dst);

	return sa && esp_sa_is_inbound(sa) ? sa : NULL;
}

/* @f's key in class @sig: its fields masked to what the class selects. */
struct class_key {
	struct esp_addr src, dst;
	uint8_t proto;
	uint16_t sport, dport;
	uint32_t hash;
};

static void class_key(const struct esp_sad *sad, uint32_t sig,
		      const struct esp_flow *f, struct class_key *k)
{
	k->src = f->src;
	k->dst = f->dst;
	k->proto = sig & SIG_PROTO ? f->proto : 0;
	k->sport = sig & SIG_SPORT ? f->sport : 0;
	k->dport = sig & SIG_DPORT ? f->dport : 0;
	esp_addr_mask(&k->src, sig & 0xff);
	esp_addr_mask(&k->dst, (sig >> 8) & 0xff);
	k->hash = sel_hash(sad, sig, &k->src, &k->dst, k->proto, k->sport, k->dport);
}

static struct esp_sa *lookup_class(const struct esp_sad *sad, uint32_t sig,
				   const struct esp_flow *f)
{
	struct class_key k;

	class_key(sad, sig, f, &k);
	for (struct hnode *n = htable_chain(&sad->sel, k.hash); n; n = n->next) {
		struct esp_sa *sa = container_of(n, struct esp_sa, sel_node);
		const struct esp_selector *s = &sa->p.sel;
		if (n->hash == k.hash && sa->sel_sig == sig &&
		    esp_addr_equal(&s->src, &k.src) && esp_addr_equal(&s->dst, &k.dst) &&
		    s->proto == k.proto && s->sport == k.sport && s->dport == k.dport)
			return sa;
	}
	return NULL;
}

/* Whether class @sig can hold a packet of flow @f. */
static bool class_applies(uint32_t sig, const struct esp_flow *f)
{
	uint32_t fam = f->src.family == AF_INET6 ? SIG_V6 : 0;

	if ((sig & SIG_V6) != fam)
		return false;
	/* a later fragment shows no ports: only port-free selectors can
	 * claim it (the engine refuses protected fragments) */
	return !((sig & (SIG_SPORT | SIG_DPORT)) && f->sport == 0 && f->dport == 0);
}

struct esp_sa *esp_sad_lookup_out(const struct esp_sad *sad,
				  const struct esp_flow *f)
{
	for (size_t i = 0; i < sad->nclasses; i++) {
		uint32_t sig = sad->classes[i].sig;
		if (!class_applies(sig, f))
			continue;
		struct esp_sa *sa = lookup_class(sad, sig, f);
		if (sa)
			return sa;
	}
	return NULL;
}

void esp_sad_probe_out(const struct esp_sad *sad, const struct esp_flow *f,
		       struct esp_sad_probe *pr)
{
	struct class_key k;

	pr->live = false;
	pr->inbound = false;
	pr->node = NULL;
	for (size_t i = 0; i < sad->nclasses; i++) {
		uint32_t sig = sad->classes[i].sig;
		if (!class_applies(sig, f))
			continue;
		class_key(sad, sig, f, &k);
		pr->hash = k.hash;
		pr->live = true;
		__builtin_prefetch(&sad->sel.b[k.hash & sad->sel.mask]);
		return;
	}
}

void esp_sad_probe_in(const struct esp_sad *sad, uint32_t spi,
		      const struct esp_addr *dst, struct esp_sad_probe *pr)
{
	pr->hash = id_hash(sad, spi, dst);
	pr->live = true;
	pr->inbound = true;
	pr->node = NULL;
	__builtin_prefetch(&sad->id.b[pr->hash & sad->id.mask]);
}

struct esp_sa *esp_sad_probe_step(const struct esp_sad *sad, struct esp_sad_probe *pr)
{
	if (!pr->live)
		return NULL;
	const struct hnode *n = pr->node;
	if (!n)
		n = htable_chain(pr->inbound ? &sad->id : &sad->sel, pr->hash);
	else if (n->hash != pr->hash)
		n = n->next;
	pr->node = n;
	if (!n) {
		pr->live = false;
		return NULL;
	}
	__builtin_prefetch(n);
	if (pr->inbound) {
		struct esp_sa *sa = container_of(n, struct esp_sa, id_node);
		__builtin_prefetch(sa);		/* SPI and dst */
		return sa;
	}
	struct esp_sa *sa = container_of(n, struct esp_sa, sel_node);
	__builtin_prefetch(&sa->p.sel);
	__builtin_prefetch((const char *)&sa->p.sel + sizeof(sa->p.sel) - 1);
	return sa;
}

bool esp_sad_cache_get(const struct esp_sad *sad, const struct esp_sad_cache *c,
		       const struct esp_flow_key *k, struct esp_sa **sa)
{
	if (!c->valid || c->generation != sad->generation || !esp_flow_key_equal(&c->key, k))
		return false;
	*sa = c->sa;
	return true;
}

struct esp_sa *esp_sad_lookup_out_cached(const struct esp_sad *sad, struct esp_sad_cache *c,
					 const struct esp_flow_key *k,
					 const struct esp_flow *f)
{
	c->sa = esp_sad_lookup_out(sad, f);
	c->misses++;
	c->key = *k;
	c->generation = sad->generation;
	c->valid = true;
	return c->sa;
}

struct esp_sa *esp_sad_lookup_in_cached(const struct esp_sad *sad,
					struct esp_sad_in_cache *c, uint32_t spi,
					const struct esp_addr *dst)
{
	if (c->sa && c->generation == sad->generation && c->spi == spi &&
	    esp_addr_equal(&c->dst, dst))
		return c->sa;
	c->misses++;
	struct esp_sa *sa = esp_sad_lookup_in(sad, spi, dst);
	if (sa) {
		c->sa = sa;
		c->generation = sad->generation;
		c->spi = spi;
		c->dst = *dst;
	}
	return sa;
}

size_t esp_sad_count(const struct esp_sad *sad)
{
	return sad->count;
}

struct esp_sa *esp_sad_first(const struct esp_sad *sad)
{
	return sad->first;
}
