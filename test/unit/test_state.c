/* espnatd's durable state (tools/daemon/state.c) against a real engine and
 * a peer engine: reservations made durable before use and never passed,
 * a "crash" (the engine dropped without a last save) and a restore, after
 * which no sequence number is sent twice, nothing at or below the saved
 * inbound mark is accepted, the learned NAT port is back; expiry, pruning,
 * duplicates, the file's mode. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "encap/table.h"
#include "engine/engine.h"
#include "engine/safile.h"
#include "engine/sad.h"
#include "test/unit/check.h"
#include "test/unit/testutil.h"
#include "tools/daemon/state.h"

#define BLOCK 64
#define KEYS "auth-trunc 'hmac(sha1)' 0x0102030405060708090a0b0c0d0e0f1011121314 96 " \
	     "enc 'cbc(aes)' 0x00112233445566778899aabbccddeeff"

/* Our side (a P-CSCF at 10.0.0.1) and the UE's (10.0.0.2), UDP-enc-tun. */
static const char *const ours[] = {
	"src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x100 reqid 7 mode tunnel " KEYS
	" encap espinudp 4500 0 0.0.0.0 sel src 10.0.0.1 dst 10.0.0.2 proto udp sport 5066 dport 5064 dir out",
	"src 10.0.0.2 dst 10.0.0.1 proto esp spi 0x200 reqid 7 mode tunnel " KEYS
	" encap espinudp 0 4500 0.0.0.0 sel src 10.0.0.2 dst 10.0.0.1 proto udp sport 5062 dport 5068 dir in",
};
static const char *const peer[] = {
	"src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x100 reqid 7 mode tunnel " KEYS
	" encap espinudp 4500 4500 0.0.0.0 sel src 10.0.0.1 dst 10.0.0.2 proto udp sport 5066 dport 5064 dir in",
	"src 10.0.0.2 dst 10.0.0.1 proto esp spi 0x200 reqid 7 mode tunnel " KEYS
	" encap espinudp 4500 4500 0.0.0.0 sel src 10.0.0.2 dst 10.0.0.1 proto udp sport 5062 dport 5068 dir out",
};

static char path[64];
static struct test_pkt t;

static void parse(const char *line, struct esp_sa_params *p)
{
	char err[ESP_SAFILE_ERRLEN];

	if (esp_safile_parse_line(line, p, err, sizeof(err)) != 1) {
		fprintf(stderr, "test_state: %s: %s\n", line, err);
		exit(1);
	}
}

static struct esp_sa *find(struct esp_engine *e, uint32_t spi, const char *dst)
{
	struct esp_addr a;

	esp_addr_parse(dst, &a);
	return esp_sad_find(esp_engine_sad(e), spi, &a);
}

/* One packet from our P-CSCF's client port to the UE: encapsulated by
 * @us, then (unless NULL) decapsulated by @them. */
static enum esp_verdict send_down(struct esp_worker *us, struct esp_worker *them,
				  enum esp_drop *why)
{
	uint8_t pkt[256], payload[40] = "MESSAGE sip:ue SIP/2.0";
	struct esp_result r;

	test_pkt_set(&t, pkt, build_udp(pkt, "10.0.0.1", "10.0.0.2", 5066, 5064, payload,
					sizeof(payload)));
	enum esp_verdict v = run(us, &t, &r);
	*why = r.reason;
	if (v != ESP_VERDICT_ENCAP || !them)
		return v;
	/* the NAT in between: back to the UE's port 4500 */
	uint8_t *ip = pkt_data(&t.p);
	ip[22] = 4500 >> 8;
	ip[23] = 4500 & 0xff;
	ip[26] = ip[27] = 0;
	v = run(them, &t, &r);
	*why = r.reason;
	return v;
}

/* One packet from the UE up to us, from UDP source port @sport: made by
 * @them, kept in @keep (for a replay later) when not NULL. */
static enum esp_verdict send_up(struct esp_worker *them, struct esp_worker *us,
				uint16_t sport, struct test_pkt *keep, enum esp_drop *why)
{
	uint8_t pkt[256], payload[40] = "REGISTER sip:ims SIP/2.0";
	struct esp_result r;

	test_pkt_set(&t, pkt, build_udp(pkt, "10.0.0.2", "10.0.0.1", 5062, 5068, payload,
					sizeof(payload)));
	if (run(them, &t, &r) != ESP_VERDICT_ENCAP)
		return ESP_VERDICT_DROP;
	/* the NAT in between: another source port */
	uint8_t *ip = pkt_data(&t.p);
	ip[20] = (uint8_t)(sport >> 8);
	ip[21] = (uint8_t)sport;
	ip[26] = ip[27] = 0;	/* no UDP checksum over IPv4 */
	if (keep)
		test_pkt_set(keep, pkt_data(&t.p), t.p.len);
	enum esp_verdict v = run(us, &t, &r);
	*why = r.reason;
	return v;
}

static bool keep_none(void *arg, uint32_t spi, const struct esp_addr *dst)
{
	(void)arg;
	(void)spi;
	(void)dst;
	return false;
}

static void test_crash_and_restore(void)
{
	struct esp_sa_params ps[2];
	struct state *st;
	char err[256];
	const char *why = NULL;
	size_t failed;
	enum esp_drop drop;
	static struct test_pkt old;

	snprintf(path, sizeof(path), "/tmp/espnat-state-%d.db", (int)getpid());
	unlink(path);
	st = state_open(path, BLOCK, err, sizeof(err));
	CHECK(st != NULL);
	if (!st) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	struct stat sb;
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);

	struct esp_engine *e = esp_engine_new(), *ue = esp_engine_new();
	struct esp_worker *w = esp_worker_new(e), *wu = esp_worker_new(ue);
	for (int i = 0; i < 2; i++) {
		parse(ours[i], &ps[i]);
		add_sa(ue, peer[i]);
	}
	CHECK_EQ(state_add_sas(st, e, ps, 2, STATE_FROM_CONTROL, &failed, &why), 0);
	CHECK_EQ(esp_sad_count(esp_engine_sad(e)), 2);
	CHECK_EQ(esp_sa_seq_limit(find(e, 0x100, "10.0.0.2")), BLOCK);
	/* the same SA again: refused, the first one's reservation untouched */
	CHECK_EQ(state_add_sas(st, e, ps, 1, STATE_FROM_CONTROL, &failed, &why), -EEXIST);
	CHECK(why && strstr(why, "exists"));

	/* the UE speaks first (SM7): the port is learned, and saved */
	CHECK_EQ(send_up(wu, w, 40000, NULL, &drop), ESP_VERDICT_DECAP);
	CHECK_EQ(encap_table_dport(find(e, 0x100, "10.0.0.2")), 40000);
	state_port(st, 7, 40000);

	/* a whole block goes out; one more is refused until the next is saved */
	int sent = 0;
	for (int i = 0; i < BLOCK; i++)
		sent += send_down(w, wu, &drop) == ESP_VERDICT_DECAP;
	CHECK_EQ(sent, BLOCK);
	CHECK_EQ(send_down(w, NULL, &drop), ESP_VERDICT_DROP);
	CHECK_EQ(drop, ESP_DROP_UNRESERVED);
	CHECK_EQ(state_sync(st, e, err, sizeof(err)), 0);
	CHECK_EQ(esp_sa_seq_limit(find(e, 0x100, "10.0.0.2")), BLOCK + BLOCK);
	for (int i = 0; i < 10; i++)
		CHECK_EQ(send_down(w, wu, &drop), ESP_VERDICT_DECAP);
	CHECK_EQ(esp_sa_seq_out(find(e, 0x100, "10.0.0.2")), BLOCK + 10);

	/* inbound: 20 more from the UE, the mark saved, then 5 unsaved */
	for (int i = 0; i < 20; i++)
		CHECK_EQ(send_up(wu, w, 40000, i == 19 ? &old : NULL, &drop), ESP_VERDICT_DECAP);
	CHECK_EQ(state_sync(st, e, err, sizeof(err)), 0);
	for (int i = 0; i < 5; i++)
		CHECK_EQ(send_up(wu, w, 40000, NULL, &drop), ESP_VERDICT_DECAP);

	/* the crash: no last save */
	esp_engine_free(e);
	state_close(st);

	st = state_open(path, BLOCK, err, sizeof(err));
	CHECK(st != NULL);
	if (!st)
		return;
	e = esp_engine_new();
	w = esp_worker_new(e);
	struct state_restored rs;
	CHECK_EQ(state_restore(st, e, 0, &rs, err, sizeof(err)), 0);
	CHECK_EQ(rs.sas, 2);
	CHECK_EQ(rs.ports, 1);
	CHECK_EQ(rs.expired, 0);
	struct esp_sa *out = find(e, 0x100, "10.0.0.2");
	CHECK(out != NULL);
	if (!out)
		return;
	/* resumed at the last durable reservation, the next one durable too */
	CHECK_EQ(esp_sa_seq_out(out), BLOCK + BLOCK);
	CHECK_EQ(esp_sa_seq_limit(out), 3 * BLOCK);
	CHECK_EQ(encap_table_dport(out), 40000);
	/* the peer accepts what follows: nothing it saw is sent again */
	for (int i = 0; i < 5; i++)
		CHECK_EQ(send_down(w, wu, &drop), ESP_VERDICT_DECAP);
	struct esp_sa_stats us;
	esp_sa_stats_read(find(ue, 0x100, "10.0.0.2"), &us);
	CHECK_EQ(us.drops[ESP_DROP_REPLAY], 0);
	/* inbound: a packet from before the saved mark is refused... */
	struct esp_result r;
	CHECK_EQ(run(w, &old, &r), ESP_VERDICT_DROP);
	CHECK_EQ(r.reason, ESP_DROP_REPLAY);
	/* ...what the UE sends next is taken */
	CHECK_EQ(send_up(wu, w, 40000, NULL, &drop), ESP_VERDICT_DECAP);

	/* the restore itself was made durable: a second crash right now
	 * resumes higher still */
	esp_engine_free(e);
	state_close(st);
	st = state_open(path, BLOCK, err, sizeof(err));
	e = esp_engine_new();
	CHECK_EQ(state_restore(st, e, 0, &rs, err, sizeof(err)), 0);
	CHECK_EQ(esp_sa_seq_out(find(e, 0x100, "10.0.0.2")), 3 * BLOCK);

	/* pruning: SAs of the config file that it lost */
	struct esp_sa_params cfg;
	parse("src 10.0.0.1 dst 10.0.0.9 proto esp spi 0x300 " KEYS " dir out", &cfg);
	CHECK_EQ(state_add_sas(st, e, &cfg, 1, STATE_FROM_CONFIG, &failed, &why), 0);
	CHECK_EQ(state_prune(st, e, STATE_FROM_CONFIG, keep_none, NULL), 1);
	CHECK(find(e, 0x300, "10.0.0.9") == NULL);
	CHECK(find(e, 0x100, "10.0.0.2") != NULL);	/* from control: kept */
	esp_sa_params_wipe(&cfg);

	/* deletion is durable */
	struct esp_addr dst;
	esp_addr_parse("10.0.0.1", &dst);
	CHECK_EQ(state_del_sa(st, e, 0x200, &dst), 0);
	esp_engine_free(e);
	state_close(st);
	st = state_open(path, BLOCK, err, sizeof(err));
	e = esp_engine_new();
	CHECK_EQ(state_restore(st, e, 0, &rs, err, sizeof(err)), 0);
	CHECK_EQ(rs.sas, 1);
	CHECK(find(e, 0x200, "10.0.0.1") == NULL);

	/* a lifetime runs on across the restart and ends in it */
	parse("src 10.0.0.1 dst 10.0.0.8 proto esp spi 0x400 " KEYS " limit time-hard 1 dir out",
	      &cfg);
	CHECK_EQ(state_add_sas(st, e, &cfg, 1, STATE_FROM_CONTROL, &failed, &why), 0);
	esp_sa_params_wipe(&cfg);
	esp_engine_free(e);
	state_close(st);
	sleep(2);
	st = state_open(path, BLOCK, err, sizeof(err));
	e = esp_engine_new();
	CHECK_EQ(state_restore(st, e, 0, &rs, err, sizeof(err)), 0);
	CHECK_EQ(rs.expired, 1);
	CHECK(find(e, 0x400, "10.0.0.8") == NULL);

	/* flush */
	state_clear(st);
	esp_engine_free(e);
	state_close(st);
	st = state_open(path, BLOCK, err, sizeof(err));
	e = esp_engine_new();
	CHECK_EQ(state_restore(st, e, 0, &rs, err, sizeof(err)), 0);
	CHECK_EQ(rs.sas + rs.ports, 0);

	esp_engine_free(e);
	esp_engine_free(ue);
	state_close(st);
	for (int i = 0; i < 2; i++)
		esp_sa_params_wipe(&ps[i]);
}

static void test_bad_files(void)
{
	char err[256];
	char junk[64];

	/* a file that is no database: refused with a reason, not crashed */
	snprintf(junk, sizeof(junk), "/tmp/espnat-state-junk-%d.db", (int)getpid());
	FILE *f = fopen(junk, "w");
	if (f) {
		fputs("this is not SQLite, just text that is long enough to look at\n", f);
		fclose(f);
	}
	CHECK(state_open(junk, BLOCK, err, sizeof(err)) == NULL);
	CHECK(err[0] != '\0');
	unlink(junk);
	CHECK(state_open("/nonexistent-dir/sub/x.db", BLOCK, err, sizeof(err)) == NULL);
	/* one missing directory is made, for root alone */
	char dir[64], db[80];
	struct stat sb;
	snprintf(dir, sizeof(dir), "/tmp/espnat-state-dir-%d", (int)getpid());
	snprintf(db, sizeof(db), "%s/state.db", dir);
	struct state *st = state_open(db, BLOCK, err, sizeof(err));
	CHECK(st != NULL);
	CHECK(stat(dir, &sb) == 0 && (sb.st_mode & 0777) == 0700);
	CHECK(stat(db, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	state_close(st);
	char cleanup[160];
	snprintf(cleanup, sizeof(cleanup), "rm -rf %s", dir);
	if (system(cleanup) != 0)
		fprintf(stderr, "test_state: could not remove %s\n", dir);
	CHECK(strstr(err, "/nonexistent-dir/sub/x.db") != NULL);
}

int main(void)
{
	test_crash_and_restore();
	test_bad_files();
	unlink(path);
	char side[80];
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
	return check_done("test_state");
}
