/* The measuring loops. Only the call being measured is inside the timed
 * region: packets are written (and, for decap, encapsulated by the other
 * engine) before it, so every figure is the cost of that call alone. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/pkt.h"
#include "tools/bench/fixture.h"
#include "tools/clock.h"

#define MAX_PACKET 9000
#define SLOT (PKT_HEADROOM + MAX_PACKET + PKT_TAILROOM + 64)

struct thread {
	struct bench_fixture *f;
	const struct bench_measure *m;
	unsigned index;
	pthread_barrier_t *start;
	struct esp_worker *w_out, *w_in;
	uint8_t *slots;
	uint64_t packets, ns;
	char err[160];
};

static uint32_t size_at(uint32_t size, uint64_t n)
{
	return size == BENCH_IMIX ? bench_imix[n % BENCH_IMIX_LEN] : size;
}

/* This thread's SAs: index, index + threads, ... (its own when there are
 * at least as many SAs as threads). */
static uint32_t next_sa(struct thread *t, uint32_t sa)
{
	uint32_t n = t->f->nsas, step = t->m->threads;

	sa += step;
	return sa < n ? sa : t->index % n;
}

static bool all(const struct esp_result *r, enum esp_verdict v, struct thread *t)
{
	for (unsigned i = 0; i < t->m->burst; i++) {
		if (r[i].verdict != v) {
			snprintf(t->err, sizeof(t->err), "the engine dropped a packet: %s",
				 esp_drop_name(r[i].reason));
			return false;
		}
	}
	return true;
}

/* Fills the burst with the next packets, their SAs in this thread's
 * order; returns the SA after them. */
static uint32_t fill(struct thread *t, struct pkt *pkts, uint64_t n, uint32_t sa)
{
	for (unsigned i = 0; i < t->m->burst; i++) {
		pkt_init(&pkts[i], t->slots + (size_t)i * SLOT, SLOT);
		pkts[i].len = size_at(t->m->size, n + i);
		bench_packet(pkt_data(&pkts[i]), pkts[i].len, sa);
		sa = next_sa(t, sa);
	}
	return sa;
}

/* Which warm() a run needs: per backend, outbound SAs only or both. */
static unsigned warm_bit(const struct bench_measure *m)
{
	return 1u << (m->backend * 2 + (m->op == BENCH_DECAP));
}

/* One packet through each of this thread's SAs, untimed, before a
 * backend's first run: what a backend sets up on an SA's first packet
 * (ipsec-mb's key schedules) is then measured once, not in every run
 * that reaches new SAs (at a million SAs, all of them). */
static bool warm(struct thread *t, struct pkt *pkts, struct pkt **ptrs,
		 struct esp_result *res)
{
	uint32_t n = t->f->nsas, mine = (n + t->m->threads - 1) / t->m->threads;
	uint32_t sa = t->index % n;

	for (uint64_t done = 0; done < mine; done += t->m->burst) {
		sa = fill(t, pkts, done, sa);
		esp_process_burst(t->w_out, ptrs, t->m->burst, ESP_HINT_OUTBOUND, res);
		if (!all(res, ESP_VERDICT_ENCAP, t))
			return false;
		if (t->m->op != BENCH_DECAP)
			continue;
		esp_process_burst(t->w_in, ptrs, t->m->burst, ESP_HINT_INBOUND, res);
		if (!all(res, ESP_VERDICT_DECAP, t))
			return false;
	}
	return true;
}

static void *engine_thread(void *arg)
{
	struct thread *t = arg;
	struct pkt pkts[BENCH_MAX_BURST], *ptrs[BENCH_MAX_BURST];
	struct esp_result res[BENCH_MAX_BURST];
	const unsigned burst = t->m->burst;
	uint64_t n = 0;
	uint32_t sa = t->index % t->f->nsas;
	bool decap = t->m->op == BENCH_DECAP;

	for (unsigned i = 0; i < burst; i++)
		ptrs[i] = &pkts[i];
	bool ok = (t->f->warmed & warm_bit(t->m)) || warm(t, pkts, ptrs, res);
	pthread_barrier_wait(t->start);
	if (!ok)
		return NULL;
	uint64_t deadline = monotonic_ns() + (uint64_t)(t->m->duration_s * 1e9);
	for (;;) {
		sa = fill(t, pkts, n, sa);
		n += burst;
		if (decap) {
			esp_process_burst(t->w_out, ptrs, burst, ESP_HINT_OUTBOUND, res);
			if (!all(res, ESP_VERDICT_ENCAP, t))
				return NULL;
		}
		uint64_t t0 = monotonic_ns();
		esp_process_burst(decap ? t->w_in : t->w_out, ptrs, burst,
				  decap ? ESP_HINT_INBOUND : ESP_HINT_OUTBOUND, res);
		uint64_t t1 = monotonic_ns();
		if (!all(res, decap ? ESP_VERDICT_DECAP : ESP_VERDICT_ENCAP, t))
			return NULL;
		t->ns += t1 - t0;
		t->packets += burst;
		if (t1 >= deadline)
			return NULL;
	}
}

/* The bound: the cipher and the HMAC of one SA's worth of keys, per packet
 * exactly the lengths ESP would process, in bursts like the engine's, the
 * cipher chained as the engine does (no IV set per packet, the fastest
 * OpenSSL 3.0 usage we know); no IV drawn, no lookup, no framing. */
static void *bound_thread(void *arg)
{
	struct thread *t = arg;
	const struct bench_alg *alg = &t->f->alg;
	bool decap = t->m->op == BENCH_DECAP;
	struct esp_cipher c;
	struct esp_hmac h;
	uint8_t key[ESP_MAX_ENC_KEY], akey[ESP_MAX_AUTH_KEY], icv[ESP_MAX_DIGEST];
	uint32_t enc_len[BENCH_IMIX_LEN], auth_len[BENCH_IMIX_LEN];
	uint64_t n = 0;

	memset(key, 0x5c, sizeof(key));
	memset(akey, 0x36, sizeof(akey));
	if (esp_cipher_init(&c, alg->enc, key, alg->enc_key_len, !decap) ||
	    esp_hmac_init(&h, alg->auth, akey, esp_auth_info(alg->auth)->key_len)) {
		snprintf(t->err, sizeof(t->err), "OpenSSL refused the keys");
		pthread_barrier_wait(t->start);
		return NULL;
	}
	for (unsigned k = 0; k < BENCH_IMIX_LEN; k++)
		bench_esp_lengths(alg, t->f->mode, size_at(t->m->size, k), &enc_len[k],
				  &auth_len[k]);
	pthread_barrier_wait(t->start);
	uint64_t deadline = monotonic_ns() + (uint64_t)(t->m->duration_s * 1e9);
	for (;;) {
		uint64_t t0 = monotonic_ns();
		for (unsigned i = 0; i < t->m->burst; i++, n++) {
			uint8_t *esp = t->slots + (size_t)i * SLOT + PKT_HEADROOM;
			unsigned k = (unsigned)(n % BENCH_IMIX_LEN);
			if (decap) {
				esp_hmac_verify(&h, esp, auth_len[k], esp + auth_len[k], ESP_ICV_LEN);
				esp_cipher_decrypt_chained(&c, esp + 8, enc_len[k]);
			} else {
				esp_cipher_encrypt_chained(&c, esp + 8, enc_len[k]);
				esp_hmac_compute(&h, esp, auth_len[k], icv);
				memcpy(esp + auth_len[k], icv, ESP_ICV_LEN);
			}
		}
		uint64_t t1 = monotonic_ns();
		t->ns += t1 - t0;
		t->packets += t->m->burst;
		if (t1 >= deadline)
			break;
	}
	esp_cipher_free(&c);
	esp_hmac_wipe(&h);
	return NULL;
}

/* The backend alone: esp_batch_seal() (decap: esp_batch_mac(), then
 * esp_batch_decrypt()) on bursts of one SA's ops, laid out as the
 * engine hands them over for packets of that size; no lookup, framing,
 * IV, checks or finishing. What the engine's burst path would reach if
 * its own work per packet were free. */
static void *backend_thread(void *arg)
{
	struct thread *t = arg;
	const struct bench_alg *alg = &t->f->alg;
	bool decap = t->m->op == BENCH_DECAP;
	struct esp_batch *bt = esp_batch_new(t->m->backend);
	struct esp_sa *sa = bench_sa_new(t->f, decap, t->err, sizeof(t->err));
	struct esp_seal_op seal_ops[BENCH_MAX_BURST];
	struct esp_open_op open_ops[BENCH_MAX_BURST];
	uint8_t mac[BENCH_MAX_BURST][ESP_MAX_DIGEST];
	uint32_t enc_len[BENCH_IMIX_LEN], auth_len[BENCH_IMIX_LEN];
	bool integrity = alg->auth != ESP_AUTH_NONE;
	uint64_t n = 0;

	if (!bt && !t->err[0])
		snprintf(t->err, sizeof(t->err), "the %s backend could not be set up",
			 esp_backend_name(t->m->backend));
	pthread_barrier_wait(t->start);
	if (t->err[0])
		goto out;
	for (unsigned k = 0; k < BENCH_IMIX_LEN; k++)
		bench_esp_lengths(alg, t->f->mode, size_at(t->m->size, k), &enc_len[k],
				  &auth_len[k]);
	uint64_t deadline = monotonic_ns() + (uint64_t)(t->m->duration_s * 1e9);
	for (;;) {
		unsigned burst = t->m->burst;
		for (unsigned i = 0; i < burst; i++) {
			uint8_t *esp = t->slots + (size_t)i * SLOT + PKT_HEADROOM;
			uint32_t ct_len = enc_len[(n + i) % BENCH_IMIX_LEN];
			seal_ops[i] = (struct esp_seal_op){ .sa = sa, .esp = esp, .ct_len = ct_len };
			open_ops[i] = (struct esp_open_op){ .sa = sa, .esp = esp, .ct_len = ct_len,
							    .mac = mac[i] };
		}
		uint64_t t0 = monotonic_ns();
		if (!decap) {
			esp_batch_seal(bt, seal_ops, burst);
		} else {
			if (integrity)
				esp_batch_mac(bt, open_ops, burst);
			esp_batch_decrypt(bt, open_ops, burst);
		}
		uint64_t t1 = monotonic_ns();
		for (unsigned i = 0; i < burst; i++) {
			if ((decap ? open_ops[i].status : seal_ops[i].status) != 0) {
				snprintf(t->err, sizeof(t->err), "the %s backend failed an op",
					 esp_backend_name(t->m->backend));
				goto out;
			}
		}
		n += burst;
		t->ns += t1 - t0;
		t->packets += burst;
		if (t1 >= deadline)
			break;
	}
out:
	esp_sa_free(sa);
	esp_batch_free(bt);
	return NULL;
}

static int run(struct bench_fixture *f, const struct bench_measure *m, void *(*fn)(void *),
	       double *pps, char *err, size_t errlen)
{
	struct thread *ts = calloc(m->threads, sizeof(*ts));
	pthread_t *ids = calloc(m->threads, sizeof(*ids));
	pthread_barrier_t start;
	unsigned started = 0;
	int rc = -1;

	if (!ts || !ids) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (m->op == BENCH_DECAP && !f->e_in) {
		snprintf(err, errlen, "no inbound SAs set up");
		goto out;
	}
	pthread_barrier_init(&start, NULL, m->threads);
	for (unsigned i = 0; i < m->threads; i++) {
		ts[i] = (struct thread){ .f = f, .m = m, .index = i, .start = &start };
		ts[i].slots = calloc(m->burst, SLOT);
		/* workers are made here: the engine owns them until it is freed */
		ts[i].w_out = esp_worker_new(f->e_out);
		ts[i].w_in = f->e_in ? esp_worker_new(f->e_in) : NULL;
		if (!ts[i].slots || !ts[i].w_out || (f->e_in && !ts[i].w_in)) {
			snprintf(err, errlen, "out of memory");
			goto out_threads;
		}
		const char *why;
		if (fn == engine_thread &&
		    (esp_worker_set_backend(ts[i].w_out, m->backend, &why) ||
		     (ts[i].w_in && esp_worker_set_backend(ts[i].w_in, m->backend, &why)))) {
			snprintf(err, errlen, "%s", why);
			goto out_threads;
		}
	}
	for (; started < m->threads; started++)
		if (pthread_create(&ids[started], NULL, fn, &ts[started])) {
			snprintf(err, errlen, "pthread_create: %s", strerror(errno));
			break;
		}
	if (started < m->threads) {
		/* the barrier waits for all: nothing can be measured */
		fprintf(stderr, "espnat bench: %s\n", err);
		exit(1);
	}
	for (unsigned i = 0; i < m->threads; i++)
		pthread_join(ids[i], NULL);
	if (fn == engine_thread)
		f->warmed |= warm_bit(m);
	*pps = 0;
	rc = 0;
	for (unsigned i = 0; i < m->threads; i++) {
		if (ts[i].err[0]) {
			snprintf(err, errlen, "%s", ts[i].err);
			rc = -1;
		}
		if (ts[i].ns)
			*pps += (double)ts[i].packets * 1e9 / (double)ts[i].ns;
	}
out_threads:
	for (unsigned i = 0; i < m->threads; i++)
		free(ts[i].slots);
	pthread_barrier_destroy(&start);
out:
	free(ts);
	free(ids);
	return rc;
}

int bench_engine(struct bench_fixture *f, const struct bench_measure *m, double *pps,
		 char *err, size_t errlen)
{
	return run(f, m, engine_thread, pps, err, errlen);
}

int bench_bound(struct bench_fixture *f, const struct bench_measure *m, double *pps,
		char *err, size_t errlen)
{
	return run(f, m, bound_thread, pps, err, errlen);
}

int bench_backend(struct bench_fixture *f, const struct bench_measure *m, double *pps,
		  char *err, size_t errlen)
{
	return run(f, m, backend_thread, pps, err, errlen);
}
