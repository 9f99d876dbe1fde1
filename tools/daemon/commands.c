/* The control requests: each builds one JSON answer. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "encap/table.h"
#include "engine/hex.h"
#include "engine/safile.h"
#include "engine/strbuf.h"
#include "nat/registration.h"
#include "tools/clock.h"
#include "tools/daemon/commands.h"
#include "tools/io/nfq.h"

#ifndef ESPNAT_VERSION
#define ESPNAT_VERSION "unknown"
#endif

#define MAX_ARGS 128

struct args {
	char *v[MAX_ARGS];
	int n;
};

/* Text for people, grown as needed; may hold keys (sa list keys). */
struct text {
	char *buf;
	size_t len;
	size_t cap;
};

static void text_add(struct text *t, const char *s)
{
	size_t n = strlen(s);

	if (t->len + n + 1 > t->cap) {
		size_t cap = (t->cap + n + 1) * 2;
		char *nb = malloc(cap);
		if (!nb)
			return;
		if (t->buf) {
			memcpy(nb, t->buf, t->len + 1);
			OPENSSL_cleanse(t->buf, t->cap);
			free(t->buf);
		}
		t->buf = nb;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, s, n + 1);
	t->len += n;
}

static void text_free(struct text *t)
{
	if (t->buf) {
		OPENSSL_cleanse(t->buf, t->cap);
		free(t->buf);
	}
}

/* Splits on blanks; the line is modified. */
static int split(char *line, struct args *a)
{
	char *save;

	a->n = 0;
	for (char *t = strtok_r(line, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
		if (a->n == MAX_ARGS)
			return -1;
		a->v[a->n++] = t;
	}
	return 0;
}

static void fail(struct json_writer *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fail(struct json_writer *w, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_w_begin_object(w);
	json_w_kv_bool(w, "ok", false);
	json_w_kv_string(w, "error", msg);
	json_w_end_object(w);
}

static void ok_begin(struct json_writer *w)
{
	json_w_begin_object(w);
	json_w_kv_bool(w, "ok", true);
}

static const char *dir_name(enum esp_dir d)
{
	return d == ESP_DIR_IN ? "in" : d == ESP_DIR_OUT ? "out" : "both";
}

static void set_now(struct daemon *d)
{
	esp_engine_set_time(d->engine, monotonic_ms());
}

/* ---- ping ---- */

static void cmd_ping(struct daemon *d, struct json_writer *w)
{
	char text[256];

	esp_engine_read_lock(d->engine);
	size_t sas = esp_sad_count(esp_engine_sad(d->engine));
	esp_engine_read_unlock(d->engine);
	snprintf(text, sizeof(text), "espnatd %s: %s role, %s data path, %zu SAs, up %llus",
		 ESPNAT_VERSION, d->cfg.role == NAT_ROLE_UE ? "UE" : "P-CSCF",
		 d->cfg.datapath == DATAPATH_TUN ? "TUN" : "NFQUEUE", sas,
		 (unsigned long long)((monotonic_ms() - d->started_ms) / 1000));
	ok_begin(w);
	json_w_kv_string(w, "version", ESPNAT_VERSION);
	json_w_kv_string(w, "role", d->cfg.role == NAT_ROLE_UE ? "ue" : "pcscf");
	json_w_kv_string(w, "datapath", d->cfg.datapath == DATAPATH_TUN ? "tun" : "nfqueue");
	json_w_kv_uint(w, "sas", sas);
	json_w_kv_string(w, "text", text);
	json_w_end_object(w);
}

/* ---- sa ---- */

static void cmd_sa_add(struct daemon *d, const char *rest, struct json_writer *w)
{
	struct esp_sa_params p;
	char err[ESP_SAFILE_ERRLEN], spi[16];
	const char *why;

	int r = esp_safile_parse_line(rest, &p, err, sizeof(err));
	if (r <= 0) {
		fail(w, "%s", r == 0 ? "sa add needs an SA: src ... dst ... proto esp spi ..." : err);
		return;
	}
	set_now(d);
	size_t failed;
	int rc = daemon_add_sas(d, &p, 1, false, &failed, &why);
	snprintf(spi, sizeof(spi), "0x%08x", p.spi);
	esp_sa_params_wipe(&p);
	if (rc) {
		fail(w, "%s", why);
		return;
	}
	ok_begin(w);
	json_w_kv_string(w, "spi", spi);
	json_w_end_object(w);
}

/* "spi S dst D", or ip xfrm's "src S dst D proto esp spi N". */
static int parse_sa_id(struct args *a, int from, uint32_t *spi,
		       struct esp_addr *dst, char *err, size_t errlen)
{
	bool have_spi = false, have_dst = false;

	for (int i = from; i < a->n; i += 2) {
		const char *k = a->v[i], *v = i + 1 < a->n ? a->v[i + 1] : NULL;
		if (!v) {
			snprintf(err, errlen, "'%s' needs a value", k);
			return -1;
		}
		if (strcmp(k, "spi") == 0) {
			char *end;
			errno = 0;
			unsigned long long s = strtoull(v, &end, 0);
			if (errno || *end || s > UINT32_MAX || *v == '-') {
				snprintf(err, errlen, "'%s' is not an SPI", v);
				return -1;
			}
			*spi = (uint32_t)s;
			have_spi = true;
		} else if (strcmp(k, "dst") == 0) {
			if (esp_addr_parse(v, dst)) {
				snprintf(err, errlen, "'%s' is not an IP address", v);
				return -1;
			}
			have_dst = true;
		} else if (strcmp(k, "src") != 0 && strcmp(k, "proto") != 0) {
			snprintf(err, errlen, "unknown word '%s'", k);
			return -1;
		}
	}
	if (!have_spi || !have_dst) {
		snprintf(err, errlen, "an SA is named by spi and dst");
		return -1;
	}
	return 0;
}

static void cmd_sa_del(struct daemon *d, struct args *a, struct json_writer *w)
{
	uint32_t spi = 0;
	struct esp_addr dst;
	char err[256], b[ESP_ADDRSTRLEN];

	if (parse_sa_id(a, 2, &spi, &dst, err, sizeof(err))) {
		fail(w, "%s", err);
		return;
	}
	if (daemon_del_sa(d, spi, &dst)) {
		fail(w, "no SA with spi 0x%08x and dst %s", spi, esp_addr_str(&dst, b));
		return;
	}
	ok_begin(w);
	json_w_end_object(w);
}

static void write_drops(struct json_writer *w, const uint64_t *drops)
{
	json_w_key(w, "drops");
	json_w_begin_object(w);
	for (int i = 0; i < ESP_DROP__COUNT; i++)
		if (drops[i])
			json_w_kv_uint(w, esp_drop_name(i), drops[i]);
	json_w_end_object(w);
}

static void cmd_sa_list(struct daemon *d, bool keys, struct json_writer *w)
{
	struct text text = { NULL, 0, 0 };
	char line[1024], more[160], a[ESP_ADDRSTRLEN], b[ESP_ADDRSTRLEN], spi[16];
	uint64_t t = monotonic_ms();

	ok_begin(w);
	json_w_key(w, "sas");
	json_w_begin_array(w);
	esp_engine_read_lock(d->engine);
	for (struct esp_sa *sa = esp_sad_first(esp_engine_sad(d->engine)); sa;
	     sa = esp_sad_next(sa)) {
		struct esp_sa_stats st;
		uint64_t seq = esp_sa_seq_out(sa);
		if (seq > ESP_SEQ_MAX)
			seq = ESP_SEQ_MAX;
		esp_sa_stats_read(sa, &st);
		esp_sa_format(sa, line, sizeof(line), keys);
		snprintf(spi, sizeof(spi), "0x%08x", sa->p.spi);
		json_w_begin_object(w);
		json_w_kv_string(w, "spi", spi);
		json_w_kv_string(w, "src", esp_addr_str(&sa->p.src, a));
		json_w_kv_string(w, "dst", esp_addr_str(&sa->p.dst, b));
		json_w_kv_string(w, "dir", dir_name(sa->p.dir));
		json_w_kv_uint(w, "reqid", sa->p.reqid);
		json_w_kv_uint(w, "packets", st.packets);
		json_w_kv_uint(w, "bytes", st.bytes);
		json_w_kv_uint(w, "seq_out", seq);
		if (sa->expires_ms)
			json_w_kv_uint(w, "expires_in", sa->expires_ms > t ?
				       (sa->expires_ms - t + 999) / 1000 : 0);
		write_drops(w, st.drops);
		json_w_kv_string(w, "sa", line);
		json_w_end_object(w);
		text_add(&text, line);
		snprintf(more, sizeof(more), "\n    # %llu packets, %llu bytes, seq %llu\n",
			 (unsigned long long)st.packets, (unsigned long long)st.bytes,
			 (unsigned long long)seq);
		text_add(&text, more);
	}
	esp_engine_read_unlock(d->engine);
	json_w_end_array(w);
	json_w_kv_string(w, "text", text.buf ? text.buf : "");
	json_w_end_object(w);
	text_free(&text);
	OPENSSL_cleanse(line, sizeof(line));
}

static void cmd_sa_flush(struct daemon *d, struct json_writer *w)
{
	size_t n;
	char text[64];

	daemon_flush_sas(d, &n);

	snprintf(text, sizeof(text), "%zu SAs removed", n);
	ok_begin(w);
	json_w_kv_uint(w, "removed", n);
	json_w_kv_string(w, "text", text);
	json_w_end_object(w);
}

/* ---- reg ---- */

enum reg_kind { REG_ADDR, REG_SPI, REG_PORT, REG_KEY };

struct reg_word {
	const char *key;
	enum reg_kind kind;
	size_t off;
};

#define R(f) offsetof(struct nat_registration, f)
static const struct reg_word reg_words[] = {
	{ "ue", REG_ADDR, R(ue) }, { "ue-local", REG_ADDR, R(ue_local) },
	{ "pcscf", REG_ADDR, R(pcscf) },
	{ "ue-spi-c", REG_SPI, R(spi_uc) }, { "ue-spi-s", REG_SPI, R(spi_us) },
	{ "pcscf-spi-c", REG_SPI, R(spi_pc) }, { "pcscf-spi-s", REG_SPI, R(spi_ps) },
	{ "ue-port-c", REG_PORT, R(port_uc) }, { "ue-port-s", REG_PORT, R(port_us) },
	{ "pcscf-port-c", REG_PORT, R(port_pc) }, { "pcscf-port-s", REG_PORT, R(port_ps) },
	{ "ik", REG_KEY, R(ik) }, { "ck", REG_KEY, R(ck) },
};
#undef R

/* IK and CK: 128 bits in hex, with or without 0x. */
static int hex16(const char *s, uint8_t out[16])
{
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	if (strlen(s) != 32)
		return -1;
	for (int i = 0; i < 16; i++) {
		int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static int parse_number(const char *v, unsigned long long max, unsigned long long *n)
{
	char *end;

	if (*v < '0' || *v > '9')
		return -1;
	errno = 0;
	*n = strtoull(v, &end, 0);
	return errno || *end || *n == 0 || *n > max ? -1 : 0;
}

static int reg_field(struct nat_registration *r, const struct reg_word *rw,
		     const char *v)
{
	void *field = (char *)r + rw->off;
	unsigned long long n;

	switch (rw->kind) {
	case REG_ADDR:
		return esp_addr_parse(v, field);
	case REG_SPI:
		if (parse_number(v, UINT32_MAX, &n))
			return -1;
		*(uint32_t *)field = (uint32_t)n;
		return 0;
	case REG_PORT:
		if (parse_number(v, 65535, &n))
			return -1;
		*(uint16_t *)field = (uint16_t)n;
		return 0;
	default:
		return hex16(v, field);
	}
}

static int reg_word(struct nat_registration *r, const char *k, const char *v,
		    char *err, size_t errlen)
{
	unsigned long long n;

	for (size_t i = 0; i < sizeof(reg_words) / sizeof(reg_words[0]); i++) {
		if (strcmp(k, reg_words[i].key) != 0)
			continue;
		if (reg_field(r, &reg_words[i], v) == 0)
			return 0;
		snprintf(err, errlen, "%s: '%s' is not valid", k,
			 reg_words[i].kind == REG_KEY ? "(key)" : v);
		return -1;
	}
	if (strcmp(k, "alg") == 0) {
		int a = nat_alg_by_name(v);
		if (a >= 0) {
			r->alg = (enum esp_auth)a;
			return 0;
		}
		snprintf(err, errlen, "alg '%s': hmac-md5-96 or hmac-sha-1-96", v);
	} else if (strcmp(k, "ealg") == 0) {
		int e = nat_ealg_by_name(v);
		if (e >= 0) {
			r->ealg = (enum esp_enc)e;
			return 0;
		}
		snprintf(err, errlen, "ealg '%s': des-ede3-cbc, aes-cbc or null", v);
	} else if (strcmp(k, "mod") == 0) {
		if (strcmp(v, "trans") == 0 || strcmp(v, "UDP-enc-tun") == 0) {
			r->mode = v[0] == 't' ? NAT_MODE_TRANS : NAT_MODE_UDP_ENC_TUN;
			return 0;
		}
		snprintf(err, errlen, "mod '%s': trans or UDP-enc-tun", v);
	} else if (strcmp(k, "role") == 0) {
		if (strcmp(v, "pcscf") == 0 || strcmp(v, "ue") == 0) {
			r->role = v[0] == 'u' ? NAT_ROLE_UE : NAT_ROLE_PCSCF;
			return 0;
		}
		snprintf(err, errlen, "role '%s': pcscf or ue", v);
	} else if (strcmp(k, "lifetime") == 0 || strcmp(k, "reqid") == 0) {
		if (parse_number(v, UINT32_MAX, &n) == 0) {
			*(k[0] == 'l' ? &r->lifetime_s : &r->reqid) = (uint32_t)n;
			return 0;
		}
		snprintf(err, errlen, "%s: '%s' is not valid", k, v);
	} else {
		snprintf(err, errlen, "unknown word '%s'", k);
	}
	return -1;
}

static uint32_t free_reqid(struct daemon *d)
{
	struct encap_table *t = esp_engine_table(d->engine);
	uint32_t id;

	esp_engine_read_lock(d->engine);
	do {
		id = d->next_reqid++;
		if (d->next_reqid == 0)
			d->next_reqid = 1;
	} while (id == 0 || encap_table_group(t, id));
	esp_engine_read_unlock(d->engine);
	return id;
}

static void reg_ok(struct json_writer *w, uint32_t reqid, const struct esp_sa_params *sa)
{
	char spi[16], text[96];

	ok_begin(w);
	json_w_kv_uint(w, "reqid", reqid);
	json_w_key(w, "spis");
	json_w_begin_array(w);
	for (int k = 0; k < 4; k++) {
		snprintf(spi, sizeof(spi), "0x%08x", sa[k].spi);
		json_w_string(w, spi);
	}
	json_w_end_array(w);
	snprintf(text, sizeof(text), "registration reqid %u: 4 SAs", reqid);
	json_w_kv_string(w, "text", text);
	json_w_end_object(w);
}

static void cmd_reg_add(struct daemon *d, struct args *a, struct json_writer *w)
{
	struct nat_registration r;
	struct esp_sa_params sa[4];
	char err[256];
	const char *why;

	memset(&r, 0, sizeof(r));
	r.role = d->cfg.role;
	r.mode = NAT_MODE_UDP_ENC_TUN;
	r.alg = ESP_AUTH_NONE;
	r.ealg = ESP_ENC_NULL;
	for (int i = 2; i < a->n; i += 2) {
		if (i + 1 >= a->n) {
			fail(w, "'%s' needs a value", a->v[i]);
			goto out;
		}
		if (reg_word(&r, a->v[i], a->v[i + 1], err, sizeof(err))) {
			fail(w, "%s", err);
			goto out;
		}
	}
	if (!r.reqid)
		r.reqid = free_reqid(d);
	if (nat_registration_build(&r, sa, &why)) {
		fail(w, "%s", why);
		goto out;
	}
	set_now(d);
	size_t failed;
	if (daemon_add_sas(d, sa, 4, false, &failed, &why) == 0)
		reg_ok(w, r.reqid, sa);
	else	/* all four or none */
		fail(w, "SA %zu of 4 (spi 0x%08x): %s", failed + 1, sa[failed].spi, why);
	for (int k = 0; k < 4; k++)
		esp_sa_params_wipe(&sa[k]);
out:
	OPENSSL_cleanse(&r, sizeof(r));
}

#define REG_MAX_SAS 64

static void cmd_reg_del(struct daemon *d, struct args *a, struct json_writer *w)
{
	struct { uint32_t spi; struct esp_addr dst; } ids[REG_MAX_SAS];
	unsigned long long reqid;
	size_t n = 0;

	if (a->n != 4 || strcmp(a->v[2], "reqid") != 0 ||
	    parse_number(a->v[3], UINT32_MAX, &reqid)) {
		fail(w, "usage: reg del reqid N");
		return;
	}
	esp_engine_read_lock(d->engine);
	struct encap_group *g = encap_table_group(esp_engine_table(d->engine), (uint32_t)reqid);
	for (struct esp_sa *sa = g ? g->members : NULL; sa && n < REG_MAX_SAS; sa = sa->group_next) {
		ids[n].spi = sa->p.spi;
		ids[n].dst = sa->p.dst;
		n++;
	}
	esp_engine_read_unlock(d->engine);
	if (n == 0) {
		fail(w, "no registration with reqid %llu", reqid);
		return;
	}
	for (size_t i = 0; i < n; i++)
		daemon_del_sa(d, ids[i].spi, &ids[i].dst);
	ok_begin(w);
	json_w_kv_uint(w, "removed", n);
	json_w_end_object(w);
}

static void cmd_reg_list(struct daemon *d, struct json_writer *w)
{
	char a[ESP_ADDRSTRLEN], p[16], line[256];
	uint64_t t = monotonic_ms();
	struct text text = { NULL, 0, 0 };

	ok_begin(w);
	json_w_key(w, "registrations");
	json_w_begin_array(w);
	esp_engine_read_lock(d->engine);
	for (struct encap_group *g = encap_table_first(esp_engine_table(d->engine)); g;
	     g = encap_table_next(g)) {
		uint16_t port = __atomic_load_n(&g->port, __ATOMIC_RELAXED);
		uint64_t seen = __atomic_load_n(&g->last_seen_ms, __ATOMIC_RELAXED);
		bool silent = __atomic_load_n(&g->silent, __ATOMIC_RELAXED);
		const char *peer = g->has_peer ? esp_addr_str(&g->peer, a) : "-";
		json_w_begin_object(w);
		json_w_kv_uint(w, "reqid", g->reqid);
		json_w_kv_string(w, "peer", peer);
		json_w_kv_uint(w, "port", port);
		json_w_kv_uint(w, "sas", g->nmembers);
		if (seen)
			json_w_kv_uint(w, "heard_ago", t > seen ? (t - seen) / 1000 : 0);
		json_w_kv_bool(w, "silent", silent);
		json_w_end_object(w);
		if (port)
			snprintf(p, sizeof(p), "%u", port);
		else
			snprintf(p, sizeof(p), "undef");
		snprintf(line, sizeof(line), "reqid %u peer %s port %s sas %u%s\n", g->reqid,
			 peer, p, g->nmembers, silent ? " silent" : "");
		text_add(&text, line);
	}
	esp_engine_read_unlock(d->engine);
	json_w_end_array(w);
	json_w_kv_string(w, "text", text.buf ? text.buf : "");
	json_w_end_object(w);
	text_free(&text);
}

/* ---- table ---- */

static void cmd_table(struct daemon *d, struct args *a, struct json_writer *w)
{
	unsigned long long only = 0;
	struct text text = { NULL, 0, 0 };
	char part[8192];

	if (a->n == 3 && strcmp(a->v[1], "reqid") == 0) {
		if (parse_number(a->v[2], UINT32_MAX, &only)) {
			fail(w, "'%s' is not a reqid", a->v[2]);
			return;
		}
	} else if (a->n != 1) {
		fail(w, "usage: table [reqid N]");
		return;
	}
	ok_begin(w);
	json_w_key(w, "tables");
	json_w_begin_array(w);
	esp_engine_read_lock(d->engine);
	for (struct encap_group *g = encap_table_first(esp_engine_table(d->engine)); g;
	     g = encap_table_next(g)) {
		if (only && g->reqid != only)
			continue;
		int n = snprintf(part, sizeof(part), "UDP encapsulation table, reqid %u:\n", g->reqid);
		encap_table_format_group(g, part + n, sizeof(part) - (size_t)n);
		json_w_begin_object(w);
		json_w_kv_uint(w, "reqid", g->reqid);
		json_w_kv_uint(w, "port", __atomic_load_n(&g->port, __ATOMIC_RELAXED));
		json_w_kv_string(w, "text", part);
		json_w_end_object(w);
		text_add(&text, part);
	}
	esp_engine_read_unlock(d->engine);
	json_w_end_array(w);
	json_w_kv_string(w, "text", text.buf ? text.buf : "");
	json_w_end_object(w);
	text_free(&text);
}

/* ---- stats ---- */

static void cmd_stats(struct daemon *d, struct json_writer *w)
{
	struct esp_counters c;
	struct strbuf sb;
	char text[2048];
	uint64_t qd = 0, ud = 0;

	esp_engine_counters(d->engine, &c);
	strbuf_init(&sb, text, sizeof(text));
	strbuf_printf(&sb, "%llu packets: %llu encap, %llu decap, %llu keepalive, "
		      "%llu bypass, %llu dropped\n",
		      (unsigned long long)c.packets, (unsigned long long)c.encap,
		      (unsigned long long)c.decap, (unsigned long long)c.keepalive,
		      (unsigned long long)c.bypass, (unsigned long long)c.dropped);
	if (d->cfg.role == NAT_ROLE_UE)
		strbuf_printf(&sb, "%llu NAT keepalives sent\n",
			      (unsigned long long)d->keepalives_sent);
	ok_begin(w);
	json_w_kv_uint(w, "packets", c.packets);
	json_w_kv_uint(w, "encap", c.encap);
	json_w_kv_uint(w, "decap", c.decap);
	json_w_kv_uint(w, "keepalive", c.keepalive);
	json_w_kv_uint(w, "keepalives_sent", d->keepalives_sent);
	json_w_kv_uint(w, "bypass", c.bypass);
	json_w_kv_uint(w, "dropped", c.dropped);
	write_drops(w, c.drops);
	for (int i = 0; i < ESP_DROP__COUNT; i++)
		if (c.drops[i])
			strbuf_printf(&sb, "  drop %-16s %llu\n", esp_drop_name(i),
				      (unsigned long long)c.drops[i]);
	if (d->cfg.datapath == DATAPATH_NFQUEUE) {
		for (unsigned q = 0; q < d->cfg.workers; q++) {
			uint64_t qa = 0, ua = 0;
			if (nfqueue_kernel_drops((uint16_t)(d->cfg.queue + q), &qa, &ua) == 0) {
				qd += qa;
				ud += ua;
			}
		}
		json_w_kv_uint(w, "queue_dropped", qd);
		json_w_kv_uint(w, "queue_user_dropped", ud);
		strbuf_printf(&sb, "kernel queue: %llu dropped (queue full), %llu (socket full)\n",
			      (unsigned long long)qd, (unsigned long long)ud);
	}
	json_w_kv_uint(w, "events_lost", eventq_overflows(d->events));
	esp_engine_read_lock(d->engine);
	json_w_kv_uint(w, "sas", esp_sad_count(esp_engine_sad(d->engine)));
	json_w_kv_uint(w, "registrations", encap_table_count(esp_engine_table(d->engine)));
	esp_engine_read_unlock(d->engine);
	json_w_kv_string(w, "text", text);
	json_w_end_object(w);
}

/* ---- dispatch ---- */

static void dispatch(struct daemon *d, char *line, struct json_writer *w,
		     bool *follow_events)
{
	struct args a;

	while (*line == ' ' || *line == '\t')
		line++;
	/* sa add hands its words, quotes and all, to the SA-file parser */
	if (strncmp(line, "sa add", 6) == 0 && (line[6] == ' ' || line[6] == '\t' || !line[6])) {
		cmd_sa_add(d, line + 6, w);
		return;
	}
	if (split(line, &a)) {
		fail(w, "too many words");
		return;
	}
	if (a.n == 0) {
		fail(w, "empty request");
		return;
	}
	const char *v = a.v[0], *sub = a.n > 1 ? a.v[1] : "";
	if (strcmp(v, "ping") == 0 && a.n == 1) {
		cmd_ping(d, w);
	} else if (strcmp(v, "sa") == 0 && strcmp(sub, "del") == 0) {
		cmd_sa_del(d, &a, w);
	} else if (strcmp(v, "sa") == 0 && strcmp(sub, "list") == 0 &&
		   (a.n == 2 || (a.n == 3 && strcmp(a.v[2], "keys") == 0))) {
		cmd_sa_list(d, a.n == 3, w);
	} else if (strcmp(v, "sa") == 0 && strcmp(sub, "flush") == 0 && a.n == 2) {
		cmd_sa_flush(d, w);
	} else if (strcmp(v, "reg") == 0 && strcmp(sub, "add") == 0) {
		cmd_reg_add(d, &a, w);
	} else if (strcmp(v, "reg") == 0 && strcmp(sub, "del") == 0) {
		cmd_reg_del(d, &a, w);
	} else if (strcmp(v, "reg") == 0 && strcmp(sub, "list") == 0 && a.n == 2) {
		cmd_reg_list(d, w);
	} else if (strcmp(v, "table") == 0) {
		cmd_table(d, &a, w);
	} else if (strcmp(v, "stats") == 0 && a.n == 1) {
		cmd_stats(d, w);
	} else if (strcmp(v, "events") == 0 && a.n == 1) {
		ok_begin(w);
		json_w_kv_string(w, "text", "following events");
		json_w_end_object(w);
		*follow_events = true;
	} else if (strcmp(v, "reload") == 0 && a.n == 1) {
		d->reload = true;
		ok_begin(w);
		json_w_kv_string(w, "text", "reloading the configuration");
		json_w_end_object(w);
	} else {
		fail(w, "unknown request (ping, sa add|del|list|flush, reg add|del|list, "
		     "table, stats, events, reload)");
	}
}

char *commands_run(struct daemon *d, char *line, bool *follow_events)
{
	struct json_writer w;

	memset(&w, 0, sizeof(w));
	*follow_events = false;
	dispatch(d, line, &w, follow_events);
	char *out = w.failed ? strdup("{\"ok\":false,\"error\":\"out of memory\"}") :
			       strdup(json_w_text(&w));
	if (w.buf)
		OPENSSL_cleanse(w.buf, w.cap);
	json_w_free(&w);
	return out;
}

void commands_event_json(const struct esp_event *ev, struct json_writer *w)
{
	char text[512], a[ESP_ADDRSTRLEN], b[ESP_ADDRSTRLEN], spi[16];

	esp_event_format(ev, text, sizeof(text));
	json_w_begin_object(w);
	json_w_kv_string(w, "event", esp_event_name(ev->type));
	if (ev->reqid)
		json_w_kv_uint(w, "reqid", ev->reqid);
	if (ev->spi) {
		snprintf(spi, sizeof(spi), "0x%08x", ev->spi);
		json_w_kv_string(w, "spi", spi);
	}
	if (ev->src.family)
		json_w_kv_string(w, "src", esp_addr_str(&ev->src, a));
	if (ev->dst.family)
		json_w_kv_string(w, "dst", esp_addr_str(&ev->dst, b));
	if (ev->new_port)
		json_w_kv_uint(w, "port", ev->new_port);
	if (ev->old_port)
		json_w_kv_uint(w, "old_port", ev->old_port);
	if (ev->quiet_ms)
		json_w_kv_uint(w, "quiet", ev->quiet_ms / 1000);
	if (ev->reason)
		json_w_kv_string(w, "reason", ev->reason);
	json_w_kv_string(w, "text", text);
	json_w_end_object(w);
}
