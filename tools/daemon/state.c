#include "tools/daemon/state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <sqlite3.h>

#include "encap/table.h"
#include "engine/sad.h"
#include "engine/safile.h"

#define SCHEMA_VERSION "1"
#define LINE_MAX_BYTES 2048

/* One SA row: (spi, dst) names it, `line` is the SA in SA-file syntax with
 * its keys, `seq_limit` the last outbound number reserved, `in_mark` the
 * highest inbound number seen when last saved, `expires_at` wall-clock
 * seconds (0: never). */
static const char schema[] =
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=FULL;"
	"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS sa ("
	" spi INTEGER NOT NULL, dst TEXT NOT NULL, line TEXT NOT NULL,"
	" origin INTEGER NOT NULL, seq_limit INTEGER NOT NULL, in_mark INTEGER NOT NULL,"
	" expires_at INTEGER NOT NULL, PRIMARY KEY (spi, dst));"
	"CREATE INDEX IF NOT EXISTS sa_expiry ON sa (expires_at) WHERE expires_at != 0;"
	"CREATE TABLE IF NOT EXISTS port (reqid INTEGER PRIMARY KEY, port INTEGER NOT NULL);"
	"INSERT OR IGNORE INTO meta VALUES ('schema', '" SCHEMA_VERSION "');";

enum stmt {
	ST_INSERT, ST_DELETE, ST_LIMIT, ST_MARK, ST_SELECT, ST_EXPIRE, ST_PORT_SET,
	ST_PORT_DEL, ST_PORTS, ST_ORIGIN, ST__COUNT
};

static const char *const sql[ST__COUNT] = {
	/* never OR REPLACE: the row of a live SA holds its reservation */
	[ST_INSERT] = "INSERT INTO sa VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6)",
	[ST_DELETE] = "DELETE FROM sa WHERE spi = ?1 AND dst = ?2",
	[ST_LIMIT] = "UPDATE sa SET seq_limit = ?3 WHERE spi = ?1 AND dst = ?2",
	[ST_MARK] = "UPDATE sa SET in_mark = ?3 WHERE spi = ?1 AND dst = ?2",
	[ST_SELECT] = "SELECT spi, dst, line, seq_limit, in_mark, expires_at FROM sa",
	[ST_EXPIRE] = "DELETE FROM sa WHERE expires_at != 0 AND expires_at <= ?1",
	[ST_PORT_SET] = "INSERT OR REPLACE INTO port VALUES (?1, ?2)",
	[ST_PORT_DEL] = "DELETE FROM port WHERE reqid = ?1",
	[ST_PORTS] = "SELECT reqid, port FROM port",
	[ST_ORIGIN] = "SELECT spi, dst FROM sa WHERE origin = ?1",
};

struct state {
	sqlite3 *db;
	sqlite3_stmt *st[ST__COUNT];
	uint64_t block;
};

static int64_t wall_s(void)
{
	return (int64_t)time(NULL);
}

static void reason(struct state *st, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: %s", what, st && st->db ? sqlite3_errmsg(st->db) : "no database");
}

/* Created 0600 before SQLite sees it: it holds keys. A missing directory
 * (no systemd StateDirectory) is made, 0700. */
static int create_private(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0 && errno == ENOENT) {
		char dir[512];
		snprintf(dir, sizeof(dir), "%s", path);
		char *slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = '\0';
			if (mkdir(dir, 0700) == 0 || errno == EEXIST)
				fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
			else
				errno = ENOENT;
		}
	}

	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	struct stat sb;
	if (fstat(fd, &sb) == 0 && (sb.st_mode & 077) && fchmod(fd, 0600) < 0) {
		snprintf(err, errlen, "%s: chmod: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

struct state *state_open(const char *path, uint32_t block, char *err, size_t errlen)
{
	struct state *st = calloc(1, sizeof(*st));

	if (!st) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	st->block = block ? block : STATE_SEQ_BLOCK;
	if (create_private(path, err, errlen))
		goto fail_quiet;
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		reason(st, path, err, errlen);
		goto fail_quiet;
	}
	sqlite3_busy_timeout(st->db, 2000);
	if (sqlite3_exec(st->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
		reason(st, path, err, errlen);
		goto fail_quiet;
	}
	for (int i = 0; i < ST__COUNT; i++)
		if (sqlite3_prepare_v3(st->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &st->st[i],
				       NULL) != SQLITE_OK) {
			reason(st, path, err, errlen);
			goto fail_quiet;
		}
	return st;
fail_quiet:
	state_close(st);
	return NULL;
}

void state_close(struct state *st)
{
	if (!st)
		return;
	for (int i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(st->st[i]);
	sqlite3_close(st->db);
	free(st);
}

static sqlite3_stmt *stmt(struct state *st, enum stmt which)
{
	sqlite3_stmt *s = st->st[which];

	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return s;
}

static void bind_id(sqlite3_stmt *s, uint32_t spi, const struct esp_addr *dst)
{
	char a[ESP_ADDRSTRLEN];

	sqlite3_bind_int64(s, 1, spi);
	sqlite3_bind_text(s, 2, esp_addr_str(dst, a), -1, SQLITE_TRANSIENT);
}

static int run(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int exec(struct state *st, const char *what)
{
	return sqlite3_exec(st->db, what, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* Reservations and marks are what keeps a sequence number from being used
 * twice: their commits reach the disk (FULL). The rest (an SA added or
 * removed) survives the daemon's crash once written to the WAL, and is
 * synced with the next FULL commit; a power cut may forget an SA added in
 * the last moments, which then has to be added again, but it cannot bring
 * back a number already used. */
static int begin(struct state *st, bool to_disk)
{
	if (exec(st, to_disk ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"))
		return -1;
	return exec(st, "BEGIN IMMEDIATE");
}

static uint64_t next_limit(const struct state *st, uint64_t from)
{
	uint64_t l = from + st->block;

	return l < ESP_SEQ_MAX ? l : ESP_SEQ_MAX;
}

/* ---- restore ---- */

struct restored_sa {
	struct esp_sa_params p;
	struct esp_sa_resume rs;
};

static int load_rows(struct state *st, uint64_t now_ms, struct restored_sa **out, size_t *n,
		     struct state_restored *counts, char *err, size_t errlen)
{
	sqlite3_stmt *s = stmt(st, ST_SELECT);
	struct restored_sa *v = NULL;
	size_t cap = 0;
	int64_t now = wall_s();
	int rc;

	(void)now_ms;
	*n = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *line = (const char *)sqlite3_column_text(s, 2);
		int64_t expires = sqlite3_column_int64(s, 5);
		char perr[ESP_SAFILE_ERRLEN];
		if (expires && expires <= now) {
			counts->expired++;
			continue;
		}
		if (*n == cap) {
			size_t ncap = cap ? 2 * cap : 64;
			struct restored_sa *nv = realloc(v, ncap * sizeof(*v));
			if (!nv) {
				snprintf(err, errlen, "out of memory");
				goto fail;
			}
			v = nv;
			cap = ncap;
		}
		struct restored_sa *r = &v[*n];
		if (!line || esp_safile_parse_line(line, &r->p, perr, sizeof(perr)) != 1) {
			/* a row we cannot read is counted and left alone */
			esp_sa_params_wipe(&r->p);
			counts->refused++;
			continue;
		}
		if (expires)
			r->p.lifetime_s = (uint32_t)(expires - now);
		uint64_t limit = (uint64_t)sqlite3_column_int64(s, 3);
		r->rs = (struct esp_sa_resume){ .replay_top = (uint32_t)sqlite3_column_int64(s, 4) };
		if (r->p.dir != ESP_DIR_IN) {
			r->rs.seq_out = limit;
			r->rs.seq_limit = next_limit(st, limit);
		}
		(*n)++;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		reason(st, "reading the state", err, errlen);
		goto fail;
	}
	*out = v;
	return 0;
fail:
	for (size_t i = 0; i < *n; i++)
		esp_sa_params_wipe(&v[i].p);
	free(v);
	sqlite3_reset(s);
	return -1;
}

/* The new reservations are durable before any SA is back in the engine. */
/* Ends a transaction of the periodic kind: rows of expired SAs go with
 * it, so that a restart never brings one back. */
static int commit_pruned(struct state *st)
{
	sqlite3_stmt *s = stmt(st, ST_EXPIRE);
	sqlite3_bind_int64(s, 1, wall_s());
	if (run(s) || exec(st, "COMMIT")) {
		exec(st, "ROLLBACK");
		return -1;
	}
	return 0;
}

static int save_resumed_limits(struct state *st, const struct restored_sa *v, size_t n)
{
	if (begin(st, true))
		return -1;
	for (size_t i = 0; i < n; i++) {
		sqlite3_stmt *s = stmt(st, ST_LIMIT);
		bind_id(s, v[i].p.spi, &v[i].p.dst);
		sqlite3_bind_int64(s, 3, (int64_t)v[i].rs.seq_limit);
		if (run(s)) {
			exec(st, "ROLLBACK");
			return -1;
		}
	}
	return commit_pruned(st);
}

static void mark_saved_top(struct esp_engine *e, const struct esp_sa_params *p, uint32_t top)
{
	esp_engine_read_lock(e);
	struct esp_sa *sa = esp_sad_find(esp_engine_sad(e), p->spi, &p->dst);
	if (sa)
		sa->saved_top = top;
	esp_engine_read_unlock(e);
}

static size_t restore_ports(struct state *st, struct esp_engine *e)
{
	sqlite3_stmt *s = stmt(st, ST_PORTS);
	size_t n = 0;

	while (sqlite3_step(s) == SQLITE_ROW) {
		uint32_t reqid = (uint32_t)sqlite3_column_int64(s, 0);
		int64_t port = sqlite3_column_int64(s, 1);
		if (port > 0 && port <= 65535 &&
		    esp_engine_restore_port(e, reqid, (uint16_t)port) == 0)
			n++;
	}
	sqlite3_reset(s);
	return n;
}

int state_restore(struct state *st, struct esp_engine *e, uint64_t now_ms,
		  struct state_restored *out, char *err, size_t errlen)
{
	struct restored_sa *v = NULL;
	size_t n = 0;

	memset(out, 0, sizeof(*out));
	if (load_rows(st, now_ms, &v, &n, out, err, errlen))
		return -1;
	if (save_resumed_limits(st, v, n)) {
		reason(st, "saving the resumed reservations", err, errlen);
		for (size_t i = 0; i < n; i++)
			esp_sa_params_wipe(&v[i].p);
		free(v);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const char *why;
		if (esp_engine_add_sa_resumed(e, &v[i].p, &v[i].rs, &why) == 0) {
			mark_saved_top(e, &v[i].p, v[i].rs.replay_top);
			out->sas++;
		} else {
			out->refused++;
		}
		esp_sa_params_wipe(&v[i].p);
	}
	free(v);
	out->ports = restore_ports(st, e);
	return 0;
}

/* ---- changes ---- */

static int insert(struct state *st, const struct esp_sa_params *p, enum state_origin origin)
{
	char line[LINE_MAX_BYTES];
	struct esp_sa_params q = *p;
	int len;

	/* the lifetime is kept as a date: a restart resumes what is left */
	q.lifetime_s = 0;
	len = esp_sa_params_format(&q, line, sizeof(line), true);
	OPENSSL_cleanse(&q, sizeof(q));
	if (len < 0 || (size_t)len >= sizeof(line)) {
		OPENSSL_cleanse(line, sizeof(line));
		return -1;
	}
	sqlite3_stmt *s = stmt(st, ST_INSERT);
	bind_id(s, p->spi, &p->dst);
	sqlite3_bind_text(s, 3, line, len, SQLITE_TRANSIENT);
	sqlite3_bind_int(s, 4, origin);
	sqlite3_bind_int64(s, 5, (int64_t)next_limit(st, 0));
	sqlite3_bind_int64(s, 6, p->lifetime_s ? wall_s() + p->lifetime_s : 0);
	int rc = run(s);
	sqlite3_clear_bindings(s);
	OPENSSL_cleanse(line, sizeof(line));
	return rc;
}

static void forget(struct state *st, uint32_t spi, const struct esp_addr *dst)
{
	sqlite3_stmt *s = stmt(st, ST_DELETE);

	bind_id(s, spi, dst);
	run(s);
}

int state_add_sas(struct state *st, struct esp_engine *e, const struct esp_sa_params *ps,
		  size_t n, enum state_origin origin, size_t *failed, const char **why)
{
	struct esp_sa_resume rs = { .seq_out = 0, .seq_limit = next_limit(st, 0) };
	size_t added = 0;

	*failed = 0;
	if (begin(st, false)) {
		*why = "the state database refused a transaction";
		return -EIO;
	}
	for (size_t i = 0; i < n; i++)
		if (insert(st, &ps[i], origin)) {
			bool exists = sqlite3_extended_errcode(st->db) ==
				      SQLITE_CONSTRAINT_PRIMARYKEY;
			exec(st, "ROLLBACK");
			*failed = i;
			*why = exists ? "an SA with this SPI and dst exists" :
					"the state database refused the SA";
			return exists ? -EEXIST : -EIO;
		}
	if (exec(st, "COMMIT")) {
		exec(st, "ROLLBACK");
		*why = "the state database refused to commit";
		return -EIO;
	}
	for (; added < n; added++)
		if (esp_engine_add_sa_resumed(e, &ps[added], ps[added].dir == ESP_DIR_IN ? NULL : &rs,
					      why))
			break;
	if (added == n)
		return 0;
	*failed = added;
	int err = -EINVAL;
	for (size_t k = 0; k < added; k++)
		esp_engine_del_sa(e, ps[k].spi, &ps[k].dst);
	begin(st, false);
	for (size_t k = 0; k < n; k++)
		forget(st, ps[k].spi, &ps[k].dst);
	exec(st, "COMMIT");
	return err;
}

int state_del_sa(struct state *st, struct esp_engine *e, uint32_t spi,
		 const struct esp_addr *dst)
{
	int rc = esp_engine_del_sa(e, spi, dst);

	forget(st, spi, dst);
	return rc;
}

void state_clear(struct state *st)
{
	if (begin(st, false) == 0)
		exec(st, "DELETE FROM sa; DELETE FROM port; COMMIT");
}

void state_port(struct state *st, uint32_t reqid, uint16_t port)
{
	sqlite3_stmt *s = stmt(st, port ? ST_PORT_SET : ST_PORT_DEL);

	sqlite3_bind_int64(s, 1, reqid);
	if (port)
		sqlite3_bind_int(s, 2, port);
	run(s);
}

/* ---- the periodic work ---- */

struct change {
	uint32_t spi;
	struct esp_addr dst;
	uint64_t value;
	bool limit;		/* else an inbound mark */
};

struct changes {
	struct change *v;
	size_t n, cap;
};

static int push(struct changes *c, const struct esp_sa *sa, uint64_t value, bool limit)
{
	if (c->n == c->cap) {
		size_t ncap = c->cap ? 2 * c->cap : 64;
		struct change *nv = realloc(c->v, ncap * sizeof(*nv));
		if (!nv)
			return -1;
		c->v = nv;
		c->cap = ncap;
	}
	c->v[c->n++] = (struct change){ sa->p.spi, sa->p.dst, value, limit };
	return 0;
}

/* What moved since the last sync: outbound SAs past half their block, and
 * inbound SAs whose window top is not the saved one. */
static int collect(const struct state *st, struct esp_engine *e, struct changes *c)
{
	int rc = 0;

	esp_engine_read_lock(e);
	for (struct esp_sa *sa = esp_sad_first(esp_engine_sad(e)); sa && !rc;
	     sa = esp_sad_next(sa)) {
		uint64_t limit = esp_sa_seq_limit(sa);
		if (esp_sa_is_outbound(sa) && limit < ESP_SEQ_MAX &&
		    esp_sa_seq_out(sa) + st->block / 2 >= limit)
			rc = push(c, sa, next_limit(st, esp_sa_seq_out(sa)), true);
		uint32_t top = esp_replay_top(&sa->replay);
		if (!rc && esp_sa_is_inbound(sa) && top != sa->saved_top)
			rc = push(c, sa, top, false);
	}
	esp_engine_read_unlock(e);
	return rc;
}

static int save(struct state *st, const struct changes *c)
{
	if (begin(st, true))
		return -1;
	for (size_t i = 0; i < c->n; i++) {
		sqlite3_stmt *s = stmt(st, c->v[i].limit ? ST_LIMIT : ST_MARK);
		bind_id(s, c->v[i].spi, &c->v[i].dst);
		sqlite3_bind_int64(s, 3, (int64_t)c->v[i].value);
		if (run(s)) {
			exec(st, "ROLLBACK");
			return -1;
		}
	}
	return commit_pruned(st);
}

/* Only once durable: the engine may use the new block, and the mark counts
 * as saved. */
static void apply(struct esp_engine *e, const struct changes *c)
{
	for (size_t i = 0; i < c->n; i++) {
		if (c->v[i].limit) {
			esp_engine_set_seq_limit(e, c->v[i].spi, &c->v[i].dst, c->v[i].value);
			continue;
		}
		esp_engine_read_lock(e);
		struct esp_sa *sa = esp_sad_find(esp_engine_sad(e), c->v[i].spi, &c->v[i].dst);
		if (sa)
			sa->saved_top = (uint32_t)c->v[i].value;
		esp_engine_read_unlock(e);
	}
}

int state_sync(struct state *st, struct esp_engine *e, char *err, size_t errlen)
{
	struct changes c = { 0 };
	int rc = 0;

	if (collect(st, e, &c)) {
		snprintf(err, errlen, "out of memory");
		rc = -1;
	} else if (save(st, &c)) {
		reason(st, "saving the state", err, errlen);
		rc = -1;
	} else {
		apply(e, &c);
	}
	free(c.v);
	return rc;
}

size_t state_prune(struct state *st, struct esp_engine *e, enum state_origin origin,
		   bool (*keep)(void *arg, uint32_t spi, const struct esp_addr *dst),
		   void *arg)
{
	struct changes gone = { 0 };
	sqlite3_stmt *s = stmt(st, ST_ORIGIN);
	size_t n = 0;

	sqlite3_bind_int(s, 1, origin);
	while (sqlite3_step(s) == SQLITE_ROW) {
		struct change ch = { .spi = (uint32_t)sqlite3_column_int64(s, 0) };
		const char *dst = (const char *)sqlite3_column_text(s, 1);
		if (!dst || esp_addr_parse(dst, &ch.dst) || keep(arg, ch.spi, &ch.dst))
			continue;
		if (gone.n == gone.cap) {
			size_t ncap = gone.cap ? 2 * gone.cap : 16;
			struct change *nv = realloc(gone.v, ncap * sizeof(*nv));
			if (!nv)
				break;
			gone.v = nv;
			gone.cap = ncap;
		}
		gone.v[gone.n++] = ch;
	}
	sqlite3_reset(s);
	for (size_t i = 0; i < gone.n; i++) {
		state_del_sa(st, e, gone.v[i].spi, &gone.v[i].dst);
		n++;
	}
	free(gone.v);
	return n;
}
