#include "encap/table.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "engine/strbuf.h"

struct encap_table {
	/* Group membership changes under the engine's write lock. Workers
	 * (under its read lock) learn ports and hear keepalives concurrently:
	 * the binding index they share takes this mutex, and a group's port,
	 * last_seen_ms and silent flag are atomics. */
	pthread_mutex_t binding_lock;
	uint64_t seed;
	struct htable by_reqid;
	struct htable by_binding;	/* (peer, learned port) */
	struct htable by_ports;		/* (peer, both far-end protected ports) */
	struct encap_group *first;
	struct encap_group *last;
	size_t count;
};

static uint32_t reqid_hash(const struct encap_table *t, uint32_t reqid)
{
	return hash_finish(hash_mix(t->seed, reqid));
}

static uint32_t binding_hash(const struct encap_table *t,
			     const struct esp_addr *peer, uint16_t port)
{
	return hash_finish(hash_mix(hash_mix_addr(t->seed ^ 1, peer), port));
}

static uint32_t ports_hash(const struct encap_table *t,
			   const struct esp_addr *peer, uint16_t lo, uint16_t hi)
{
	return hash_finish(hash_mix(hash_mix_addr(t->seed ^ 2, peer),
				    (uint32_t)lo << 16 | hi));
}

struct encap_table *encap_table_new(void)
{
	struct encap_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	pthread_mutex_init(&t->binding_lock, NULL);
	if (RAND_bytes((unsigned char *)&t->seed, sizeof(t->seed)) != 1 ||
	    htable_init(&t->by_reqid) || htable_init(&t->by_binding) ||
	    htable_init(&t->by_ports)) {
		encap_table_free(t);
		return NULL;
	}
	return t;
}

void encap_table_free(struct encap_table *t)
{
	if (!t)
		return;
	struct encap_group *g = t->first;
	while (g) {
		struct encap_group *next = g->next;
		free(g);
		g = next;
	}
	htable_free(&t->by_reqid);
	htable_free(&t->by_binding);
	htable_free(&t->by_ports);
	pthread_mutex_destroy(&t->binding_lock);
	free(t);
}

struct encap_group *encap_table_group(const struct encap_table *t,
				      uint32_t reqid)
{
	uint32_t h = reqid_hash(t, reqid);

	for (struct hnode *n = htable_chain(&t->by_reqid, h); n; n = n->next) {
		struct encap_group *g = container_of(n, struct encap_group, reqid_node);
		if (n->hash == h && g->reqid == reqid)
			return g;
	}
	return NULL;
}

/* The far end as an SA names it: the source of what it receives, the
 * destination of what it sends, with that end's protected port. SAs that
 * serve both directions say nothing about which end is far. */
static bool far_end(const struct esp_sa *sa, struct esp_addr *addr,
		    uint16_t *port)
{
	switch (sa->p.dir) {
	case ESP_DIR_IN:
		*addr = sa->p.src;
		*port = sa->p.sel.sport;
		return true;
	case ESP_DIR_OUT:
		*addr = sa->p.dst;
		*port = sa->p.sel.dport;
		return true;
	default:
		return false;
	}
}

/* The far-end ports the group would have with @port added. */
static int ports_with(const struct encap_group *g, uint16_t port,
		      uint16_t out[2])
{
	int n = g ? g->npeer_ports : 0;

	if (g)
		memcpy(out, g->peer_ports, sizeof(g->peer_ports));
	if (port == 0)
		return n;
	for (int i = 0; i < n; i++)
		if (out[i] == port)
			return n;
	if (n == 2)
		return 3;
	out[n] = port;
	return n + 1;
}

static const struct encap_group *find_ports(const struct encap_table *t,
					    const struct esp_addr *peer,
					    const uint16_t ports[2])
{
	uint16_t lo = ports[0] < ports[1] ? ports[0] : ports[1];
	uint16_t hi = ports[0] < ports[1] ? ports[1] : ports[0];
	uint32_t h = ports_hash(t, peer, lo, hi);

	for (struct hnode *n = htable_chain(&t->by_ports, h); n; n = n->next) {
		const struct encap_group *g = container_of(n, struct encap_group, clash_node);
		uint16_t glo = g->peer_ports[0] < g->peer_ports[1] ? g->peer_ports[0] : g->peer_ports[1];
		uint16_t ghi = g->peer_ports[0] < g->peer_ports[1] ? g->peer_ports[1] : g->peer_ports[0];
		if (n->hash == h && glo == lo && ghi == hi && esp_addr_equal(&g->peer, peer))
			return g;
	}
	return NULL;
}

int encap_table_check(const struct encap_table *t, const struct esp_sa *sa,
		      const char **why)
{
	struct esp_addr peer;
	uint16_t port, ports[2] = { 0, 0 };

	if (sa->p.reqid == 0) {
		if (sa->p.encap && ((esp_sa_is_outbound(sa) && sa->p.encap_dport == 0) ||
				    (esp_sa_is_inbound(sa) && sa->p.encap_sport == 0))) {
			*why = "an encap port to learn (0) needs a reqid: the port is learned per registration";
			return -EINVAL;
		}
		return 0;
	}
	if (!far_end(sa, &peer, &port))
		return 0;
	const struct encap_group *g = encap_table_group(t, sa->p.reqid);
	if (g && g->has_peer && !esp_addr_equal(&g->peer, &peer)) {
		*why = "the SAs of one registration (reqid) disagree on the far end's address";
		return -EINVAL;
	}
	int n = ports_with(g, port, ports);
	if (n > 2) {
		*why = "a registration (reqid) has two protected ports at the far end, not more";
		return -EINVAL;
	}
	if (n == 2 && !(g && g->in_clash_index)) {
		const struct encap_group *other = find_ports(t, &peer, ports);
		if (other && other != g) {
			*why = "another registration already uses this far-end address with the same "
			       "protected client and server ports (several UEs behind one NAT, TR 33.803 B.5)";
			return -EEXIST;
		}
	}
	return 0;
}

static void index_ports(struct encap_table *t, struct encap_group *g)
{
	uint16_t lo = g->peer_ports[0] < g->peer_ports[1] ? g->peer_ports[0] : g->peer_ports[1];
	uint16_t hi = g->peer_ports[0] < g->peer_ports[1] ? g->peer_ports[1] : g->peer_ports[0];

	htable_insert(&t->by_ports, &g->clash_node, ports_hash(t, &g->peer, lo, hi));
	g->in_clash_index = true;
}

int encap_table_attach(struct encap_table *t, struct esp_sa *sa, bool *created)
{
	struct esp_addr peer;
	uint16_t port;

	*created = false;
	sa->group = NULL;
	if (sa->p.reqid == 0)
		return 0;
	struct encap_group *g = encap_table_group(t, sa->p.reqid);
	if (!g) {
		g = calloc(1, sizeof(*g));
		if (!g)
			return -ENOMEM;
		g->reqid = sa->p.reqid;
		htable_insert(&t->by_reqid, &g->reqid_node, reqid_hash(t, g->reqid));
		g->prev = t->last;
		if (t->last)
			t->last->next = g;
		else
			t->first = g;
		t->last = g;
		t->count++;
		*created = true;
	}
	sa->group = g;
	/* members keep the order they were added: the table's columns */
	struct esp_sa **pp = &g->members;
	while (*pp)
		pp = &(*pp)->group_next;
	*pp = sa;
	sa->group_next = NULL;
	g->nmembers++;

	if (far_end(sa, &peer, &port)) {
		g->peer = peer;
		g->has_peer = true;
		g->npeer_ports = (uint8_t)ports_with(g, port, g->peer_ports);
		if (g->npeer_ports == 2 && !g->in_clash_index)
			index_ports(t, g);
	}
	return 0;
}

bool encap_table_detach(struct encap_table *t, struct esp_sa *sa,
			uint32_t *reqid)
{
	struct encap_group *g = sa->group;

	if (!g)
		return false;
	for (struct esp_sa **pp = &g->members; *pp; pp = &(*pp)->group_next) {
		if (*pp == sa) {
			*pp = sa->group_next;
			break;
		}
	}
	sa->group = NULL;
	sa->group_next = NULL;
	if (--g->nmembers > 0)
		return false;

	*reqid = g->reqid;
	htable_remove(&t->by_reqid, &g->reqid_node);
	if (g->port)
		htable_remove(&t->by_binding, &g->binding_node);
	if (g->in_clash_index)
		htable_remove(&t->by_ports, &g->clash_node);
	if (g->prev)
		g->prev->next = g->next;
	else
		t->first = g->next;
	if (g->next)
		g->next->prev = g->prev;
	else
		t->last = g->prev;
	t->count--;
	free(g);
	return true;
}

enum encap_learn encap_table_learn(struct encap_table *t, struct esp_sa *sa,
				   const struct esp_addr *src, uint16_t sport,
				   uint64_t now_ms, uint16_t *old)
{
	struct encap_group *g = sa->group;

	*old = 0;
	if (!g || !sa->p.encap)
		return ENCAP_LEARN_NONE;
	if (!esp_addr_equal(src, &sa->p.src))
		return ENCAP_LEARN_REFUSED;
	__atomic_store_n(&g->last_seen_ms, now_ms, __ATOMIC_RELAXED);
	__atomic_store_n(&g->silent, false, __ATOMIC_RELAXED);
	/* the common case, every packet: nothing moved, no lock */
	if (__atomic_load_n(&g->port, __ATOMIC_RELAXED) == sport)
		return ENCAP_LEARN_NONE;

	pthread_mutex_lock(&t->binding_lock);
	*old = g->port;
	if (*old == sport) {
		pthread_mutex_unlock(&t->binding_lock);
		return ENCAP_LEARN_NONE;
	}
	if (*old)
		htable_remove(&t->by_binding, &g->binding_node);
	__atomic_store_n(&g->port, sport, __ATOMIC_RELAXED);
	htable_insert(&t->by_binding, &g->binding_node, binding_hash(t, src, sport));
	pthread_mutex_unlock(&t->binding_lock);
	return *old ? ENCAP_LEARN_MOVED : ENCAP_LEARN_LEARNED;
}

uint16_t encap_table_dport(const struct esp_sa *sa)
{
	const struct encap_group *g = sa->group;

	uint16_t port = g ? __atomic_load_n(&g->port, __ATOMIC_RELAXED) : 0;

	return port ? port : sa->p.encap_dport;
}

struct encap_group *encap_table_keepalive(struct encap_table *t,
					  const struct esp_addr *src,
					  uint16_t sport, uint64_t now_ms)
{
	uint32_t h = binding_hash(t, src, sport);
	struct encap_group *found = NULL;

	/* during a re-registration old and new SAs share the binding */
	pthread_mutex_lock(&t->binding_lock);
	for (struct hnode *n = htable_chain(&t->by_binding, h); n; n = n->next) {
		struct encap_group *g = container_of(n, struct encap_group, binding_node);
		if (n->hash != h || g->port != sport || !g->members ||
		    !esp_addr_equal(&g->peer, src))
			continue;
		__atomic_store_n(&g->last_seen_ms, now_ms, __ATOMIC_RELAXED);
		__atomic_store_n(&g->silent, false, __ATOMIC_RELAXED);
		found = g;
	}
	pthread_mutex_unlock(&t->binding_lock);
	return found;
}

bool encap_group_keepalive_target(const struct encap_group *g,
				  struct esp_addr *src, struct esp_addr *dst,
				  uint16_t *sport, uint16_t *dport)
{
	if (!g)
		return false;
	for (const struct esp_sa *sa = g->members; sa; sa = sa->group_next) {
		if (!sa->p.encap || !esp_sa_is_outbound(sa))
			continue;
		*src = sa->p.src;
		*dst = sa->p.dst;
		*sport = sa->p.encap_sport;
		*dport = encap_table_dport(sa);
		return *dport != 0;
	}
	return false;
}

struct encap_group *encap_table_first(const struct encap_table *t)
{
	return t->first;
}

size_t encap_table_count(const struct encap_table *t)
{
	return t->count;
}

/* ---- the seed's layout ---- */

#define CELL 48

static void port_cell(char *cell, uint16_t port, bool encap)
{
	if (!encap)
		snprintf(cell, CELL, "-");
	else if (port)
		snprintf(cell, CELL, "%u", port);
	else
		snprintf(cell, CELL, "undef");
}

static void row_cells(const struct encap_group *g, const struct esp_sa *sa,
		      int row, char *cell)
{
	bool in = sa->p.dir == ESP_DIR_IN;
	uint16_t learned = __atomic_load_n(&g->port, __ATOMIC_RELAXED);

	switch (row) {
	case 0:
		esp_addr_str(&sa->p.src, cell);
		break;
	case 1:
		esp_addr_str(&sa->p.dst, cell);
		break;
	case 2:
		port_cell(cell, in && learned ? learned : sa->p.encap_sport, sa->p.encap);
		break;
	case 3:
		port_cell(cell, !in && learned ? learned : sa->p.encap_dport, sa->p.encap);
		break;
	default:
		snprintf(cell, CELL, "0x%08x", sa->p.spi);
	}
}

int encap_table_format_group(const struct encap_group *g, char *buf,
			     size_t len)
{
	static const char *const rows[] = { "Src Addr", "Dest Addr", "Src Port",
					    "Dest Port", "SPI" };
	struct strbuf o;
	char cell[CELL];
	int width = 6;

	strbuf_init(&o, buf, len);
	for (const struct esp_sa *sa = g->members; sa; sa = sa->group_next)
		for (int r = 0; r < 5; r++) {
			row_cells(g, sa, r, cell);
			if ((int)strlen(cell) + 2 > width)
				width = (int)strlen(cell) + 2;
		}
	strbuf_printf(&o, "%-11s", "");
	int i = 1;
	for (const struct esp_sa *sa = g->members; sa; sa = sa->group_next, i++) {
		char name[16];
		snprintf(name, sizeof(name), "SA%d", i);
		if (sa->group_next)
			strbuf_printf(&o, "%-*s", width, name);
		else
			strbuf_printf(&o, "%s", name);
	}
	strbuf_printf(&o, "\n");
	for (int r = 0; r < 5; r++) {
		strbuf_printf(&o, "%-11s", rows[r]);
		for (const struct esp_sa *sa = g->members; sa; sa = sa->group_next) {
			row_cells(g, sa, r, cell);
			if (sa->group_next)
				strbuf_printf(&o, "%-*s", width, cell);
			else
				strbuf_printf(&o, "%s", cell);
		}
		strbuf_printf(&o, "\n");
	}
	return (int)o.need;
}
