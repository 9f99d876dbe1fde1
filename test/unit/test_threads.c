/* Workers sharing SAs, and a control thread changing the SAD under them:
 * sequence numbers stay unique, every packet is accepted exactly once,
 * lifetimes expire. Run under the sanitizers too. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/ip.h"
#include "engine/safile.h"
#include "test/unit/check.h"
#include "test/unit/testutil.h"

#define KEYS "auth hmac(sha1) 0x000102030405060708090a0b0c0d0e0f10111213 " \
	     "enc cbc(aes) 0x2b7e151628aed2a6abf7158809cf4f3c"
#define THREADS 4
#define PER_THREAD 3000
#define TOTAL (THREADS * PER_THREAD)

static struct esp_engine *tx, *rx;
static uint8_t *wire[TOTAL];
static size_t wire_len[TOTAL];
static uint8_t seen_seq[TOTAL + 1];

struct job {
	int id;
	struct esp_worker *w;
	int ok;
	int bad;
};

/* 0: esp_process() one packet at a time; otherwise esp_process_burst()
 * on bursts of this many, odd workers on the ipsec-mb backend when it is
 * built (its keys for the shared SA are made by whichever comes first). */
static unsigned burst;
#define MAX_BURST 16

static struct esp_worker *new_worker(struct esp_engine *e, int id)
{
	struct esp_worker *w = esp_worker_new(e);
	const char *why;

	if (burst && id % 2 && esp_backend_check(ESP_BACKEND_IPSEC_MB, &why) == 0)
		CHECK_EQ(esp_worker_set_backend(w, ESP_BACKEND_IPSEC_MB, &why), 0);
	return w;
}

/* esp_process() or a burst's worth of it, as the test runs. */
static void process(struct esp_worker *w, struct test_pkt **t, unsigned n,
		    enum esp_hint hint, struct esp_result *r)
{
	struct pkt *ptrs[MAX_BURST];

	if (!burst) {
		for (unsigned k = 0; k < n; k++)
			esp_process(w, &t[k]->p, hint, &r[k]);
		return;
	}
	for (unsigned k = 0; k < n; k++)
		ptrs[k] = &t[k]->p;
	esp_process_burst(w, ptrs, n, hint, r);
}

static unsigned burst_len(int left)
{
	unsigned n = burst ? burst : 1;

	return (unsigned)left < n ? (unsigned)left : n;
}

/* Each thread encapsulates on the one shared outbound SA. */
static void *encap_thread(void *arg)
{
	struct job *j = arg;
	struct test_pkt *t[MAX_BURST];
	uint8_t plain[128];
	size_t len = build_udp(plain, "10.0.0.1", "10.0.0.2", 5062, 5068,
			       (const uint8_t *)"REGISTER", 8);
	struct esp_result r[MAX_BURST];

	for (unsigned k = 0; k < MAX_BURST; k++)
		t[k] = malloc(sizeof(*t[k]));
	for (int i = 0; i < PER_THREAD;) {
		unsigned n = burst_len(PER_THREAD - i);
		for (unsigned k = 0; k < n; k++)
			test_pkt_set(t[k], plain, len);
		process(j->w, t, n, ESP_HINT_PROTECT, r);
		for (unsigned k = 0; k < n; k++, i++) {
			if (r[k].verdict != ESP_VERDICT_ENCAP) {
				j->bad++;
				continue;
			}
			uint32_t seq = get_be32(pkt_data(&t[k]->p) + 24);
			int slot = j->id * PER_THREAD + i;
			wire[slot] = malloc(t[k]->p.len);
			memcpy(wire[slot], pkt_data(&t[k]->p), t[k]->p.len);
			wire_len[slot] = t[k]->p.len;
			if (seq >= 1 && seq <= TOTAL)
				__atomic_fetch_add(&seen_seq[seq], 1, __ATOMIC_RELAXED);
			j->ok++;
		}
	}
	for (unsigned k = 0; k < MAX_BURST; k++)
		free(t[k]);
	return NULL;
}

/* Each thread offers every packet: all of them are delivered once in
 * total, the rest are replays, whichever thread got there first. */
static void *decap_thread(void *arg)
{
	struct job *j = arg;
	struct test_pkt *t[MAX_BURST];
	struct esp_result r[MAX_BURST];

	for (unsigned m = 0; m < MAX_BURST; m++)
		t[m] = malloc(sizeof(*t[m]));
	for (int k = 0; k < TOTAL;) {
		unsigned n = burst_len(TOTAL - k);
		for (unsigned m = 0; m < n; m++) {
			int i = (k + (int)m + j->id * 997) % TOTAL;
			test_pkt_set(t[m], wire[i], wire_len[i]);
		}
		process(j->w, t, n, ESP_HINT_INBOUND, r);
		for (unsigned m = 0; m < n; m++) {
			if (r[m].verdict == ESP_VERDICT_DECAP)
				j->ok++;
			else if (r[m].verdict == ESP_VERDICT_DROP &&
				 r[m].reason == ESP_DROP_REPLAY)
				j->bad++;
		}
		k += (int)n;
	}
	for (unsigned m = 0; m < MAX_BURST; m++)
		free(t[m]);
	return NULL;
}

static int churn_stop;

/* The control side adds and removes unrelated SAs all the while. */
static void *churn_thread(void *arg)
{
	struct esp_engine *e = arg;
	char line[256];
	int n = 0;

	while (!__atomic_load_n(&churn_stop, __ATOMIC_RELAXED)) {
		unsigned spi = 0x10000 + (unsigned)(n % 50);
		snprintf(line, sizeof(line), "src 10.9.0.1 dst 10.9.0.2 proto esp spi %u "
			 KEYS " sel src 10.9.0.1 dst 10.9.0.%u dir out", spi, n % 50 + 10);
		struct esp_sa_params p;
		char err[256];
		const char *why;
		esp_safile_parse_line(line, &p, err, sizeof(err));
		esp_engine_add_sa(e, &p, &why);
		esp_sa_params_wipe(&p);
		struct esp_addr dst;
		esp_addr_parse("10.9.0.2", &dst);
		esp_engine_del_sa(e, 0x10000 + (unsigned)((n + 25) % 50), &dst);
		n++;
	}
	return NULL;
}

static void test_shared_sa(void)
{
	pthread_t th[THREADS], churn;
	struct job jobs[THREADS];

	__atomic_store_n(&churn_stop, 0, __ATOMIC_RELAXED);
	tx = esp_engine_new();
	rx = esp_engine_new();
	add_sa(tx, "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x700 " KEYS
		   " replay-window 4096 dir out");
	add_sa(rx, "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x700 " KEYS
		   " replay-window 65536 dir in");

	pthread_create(&churn, NULL, churn_thread, tx);
	for (int i = 0; i < THREADS; i++) {
		jobs[i] = (struct job){ .id = i, .w = new_worker(tx, i) };
		pthread_create(&th[i], NULL, encap_thread, &jobs[i]);
	}
	int ok = 0;
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		ok += jobs[i].ok;
		CHECK_EQ(jobs[i].bad, 0);
	}
	__atomic_store_n(&churn_stop, 1, __ATOMIC_RELAXED);
	pthread_join(churn, NULL);
	CHECK_EQ(ok, TOTAL);
	int once = 0;
	for (int s = 1; s <= TOTAL; s++)
		once += seen_seq[s] == 1;
	CHECK_EQ(once, TOTAL);		/* 1..TOTAL, each exactly once */

	__atomic_store_n(&churn_stop, 0, __ATOMIC_RELAXED);
	pthread_create(&churn, NULL, churn_thread, rx);
	for (int i = 0; i < THREADS; i++) {
		jobs[i] = (struct job){ .id = i, .w = new_worker(rx, i) };
		pthread_create(&th[i], NULL, decap_thread, &jobs[i]);
	}
	int delivered = 0, replays = 0;
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		delivered += jobs[i].ok;
		replays += jobs[i].bad;
	}
	__atomic_store_n(&churn_stop, 1, __ATOMIC_RELAXED);
	pthread_join(churn, NULL);
	CHECK_EQ(delivered, TOTAL);
	CHECK_EQ(replays, (THREADS - 1) * TOTAL);

	struct esp_counters c;
	esp_engine_counters(rx, &c);
	CHECK_EQ(c.decap, TOTAL);
	CHECK_EQ(c.drops[ESP_DROP_REPLAY], (THREADS - 1) * TOTAL);
	for (int i = 0; i < TOTAL; i++)
		free(wire[i]);
	esp_engine_free(tx);
	esp_engine_free(rx);
}

static int expired;
static void count_expired(void *arg, const struct esp_event *ev)
{
	(void)arg;
	if (ev->type == ESP_EVENT_EXPIRED)
		expired++;
}

static void test_lifetimes(void)
{
	struct esp_engine *e = esp_engine_new();
	struct esp_addr dst;

	esp_engine_on_event(e, count_expired, NULL);
	esp_engine_set_time(e, 1000000);
	add_sa(e, "src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x801 " KEYS " limit time-hard 10");
	add_sa(e, "src 10.0.0.1 dst 10.0.0.3 proto esp spi 0x802 " KEYS " limit time-hard 20");
	add_sa(e, "src 10.0.0.1 dst 10.0.0.4 proto esp spi 0x803 " KEYS);
	CHECK_EQ(esp_engine_expire(e, 1009999), 0);
	CHECK_EQ(esp_engine_expire(e, 1010000), 1);
	CHECK_EQ(expired, 1);
	esp_addr_parse("10.0.0.2", &dst);
	CHECK(esp_sad_find(esp_engine_sad(e), 0x801, &dst) == NULL);
	CHECK_EQ(esp_engine_expire(e, 9999999999ull), 1);
	CHECK_EQ(esp_sad_count(esp_engine_sad(e)), 1);	/* no lifetime: stays */
	CHECK_EQ(esp_engine_flush(e), 1);
	CHECK_EQ(esp_sad_count(esp_engine_sad(e)), 0);
	CHECK_EQ(expired, 2);
	esp_engine_free(e);
}

int main(void)
{
	test_shared_sa();
	/* again in bursts, through the crypto backends */
	burst = MAX_BURST;
	memset(seen_seq, 0, sizeof(seen_seq));
	test_shared_sa();
	test_lifetimes();
	return check_done("test_threads");
}
