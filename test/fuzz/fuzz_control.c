/* libFuzzer: espnatd's control requests (tools/daemon/commands.c). The
 * input is a session, one request per line, run by commands_run() against
 * a daemon that has a real engine and nothing else: no sockets, no
 * diversion rules, no durable state, no config file, so nothing leaves
 * the process. `reload` and `events` only set flags there (the main loop
 * would act on them), so every request is fuzzed. The kernel's NFQUEUE
 * counters, which `stats` reads from /proc, come from a stub instead. Two
 * lines are the harness's, not requests: "#ue" turns the daemon into a UE,
 * "#nfq" puts it on the NFQUEUE data path (TUN before), for the lines
 * after them.
 *
 * Every answer must be one line of valid JSON (tools/json.c reads it back)
 * with "ok" true or false, and an "error" string when false; so must every
 * event the requests raised, as `events` would stream it. A fresh engine
 * per session keeps inputs reproducible one at a time.
 *
 * Each line also goes to the JSON reader as it is (the client reads what
 * comes back from the socket with it): whatever it takes, the writer must
 * write again and the reader read back the same. */
#include <limits.h>
#include <string.h>

#include "engine/engine.h"
#include "test/fuzz/fuzz.h"
#include "tools/clock.h"
#include "tools/daemon/commands.h"
#include "tools/daemon/daemon.h"
#include "tools/io/nfq.h"
#include "tools/json.h"

#define MAX_LINES 64

/* The kernel's counters live in /proc; these are made up. */
int nfqueue_kernel_drops(uint16_t queue, uint64_t *queue_dropped,
			 uint64_t *user_dropped)
{
	*queue_dropped = queue;
	*user_dropped = 2;
	return queue == 3 ? -1 : 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static void check_json(const char *what, const char *text)
{
	char err[JSON_ERRLEN];
	size_t len = strlen(text);

	FUZZ_ASSERT(!memchr(text, '\n', len), "%s spans lines: %s", what, text);
	struct json_value *v = json_parse(text, len, err, sizeof(err));
	FUZZ_ASSERT(v, "%s is not JSON (%s): %s", what, err, text);
	FUZZ_ASSERT(json_type(v) == JSON_OBJECT, "%s is not an object: %s", what, text);
	if (strcmp(what, "answer") == 0) {
		const struct json_value *ok = json_get(v, "ok");
		FUZZ_ASSERT(json_type(ok) == JSON_BOOL, "answer without ok: %s", text);
		if (!json_bool(ok, true))
			FUZZ_ASSERT(json_type(json_get(v, "error")) == JSON_STRING,
				    "failure without an error: %s", text);
	} else {
		FUZZ_ASSERT(json_type(json_get(v, "event")) == JSON_STRING,
			    "event without a name: %s", text);
	}
	json_free(v);
}

/* Says @v again with the writer. */
static void rewrite(const struct json_value *v, struct json_writer *w)
{
	long long i;

	switch (json_type(v)) {
	case JSON_NULL:
		json_w_null(w);
		break;
	case JSON_BOOL:
		json_w_bool(w, json_bool(v, false));
		break;
	case JSON_NUMBER:
		i = json_int(v, LLONG_MIN);
		if (i != LLONG_MIN)
			json_w_int(w, i);
		else
			json_w_double(w, json_num(v, 0));
		break;
	case JSON_STRING:
		json_w_string(w, json_str(v, NULL));
		break;
	case JSON_ARRAY:
		json_w_begin_array(w);
		for (size_t k = 0; k < json_len(v); k++)
			rewrite(json_at(v, k), w);
		json_w_end_array(w);
		break;
	case JSON_OBJECT:
		json_w_begin_object(w);
		for (size_t k = 0; k < json_len(v); k++) {
			json_w_key(w, json_key_at(v, k));
			rewrite(json_at(v, k), w);
		}
		json_w_end_object(w);
		break;
	}
}

/* The same tree; numbers that are not integers only approximately (the
 * writer keeps six digits), so they are not compared. */
static bool same_tree(const struct json_value *a, const struct json_value *b)
{
	enum json_type t = json_type(a);

	if (t != json_type(b))
		return false;
	switch (t) {
	case JSON_BOOL:
		return json_bool(a, false) == json_bool(b, false);
	case JSON_NUMBER:
		return json_int(a, LLONG_MIN) == LLONG_MIN ||
		       json_int(a, LLONG_MIN) == json_int(b, LLONG_MAX);
	case JSON_STRING:
		return strcmp(json_str(a, ""), json_str(b, "")) == 0;
	case JSON_ARRAY:
	case JSON_OBJECT:
		if (json_len(a) != json_len(b))
			return false;
		for (size_t k = 0; k < json_len(a); k++) {
			if (t == JSON_OBJECT && strcmp(json_key_at(a, k), json_key_at(b, k)))
				return false;
			if (!same_tree(json_at(a, k), json_at(b, k)))
				return false;
		}
		return true;
	default:
		return true;
	}
}

static void check_json_input(const uint8_t *line, size_t len)
{
	char err[JSON_ERRLEN];
	/* exactly the line, no NUL behind it: the reader keeps to @len */
	char *text = malloc(len ? len : 1);

	if (!text)
		abort();
	memcpy(text, line, len);
	struct json_value *v = json_parse(text, len, err, sizeof(err));
	if (!v) {
		FUZZ_ASSERT(err[0], "refused without a reason");
		free(text);
		return;
	}
	struct json_writer w;
	memset(&w, 0, sizeof(w));
	rewrite(v, &w);
	FUZZ_ASSERT(!w.failed, "the writer cannot say what the reader read");
	const char *again = json_w_text(&w);
	struct json_value *v2 = json_parse(again, strlen(again), err, sizeof(err));
	FUZZ_ASSERT(v2, "the writer's text is refused (%s): %s", err, again);
	FUZZ_ASSERT(same_tree(v, v2), "read back differently: %s", again);
	json_free(v2);
	json_w_free(&w);
	json_free(v);
	free(text);
}

/* What `events` would have streamed. */
static void drain_events(struct daemon *d)
{
	struct esp_event ev;
	char reason[256];

	while (eventq_pop(d->events, &ev, reason, sizeof(reason))) {
		struct json_writer w;

		memset(&w, 0, sizeof(w));
		commands_event_json(&ev, &w);
		FUZZ_ASSERT(!w.failed, "event %d: writer failed", ev.type);
		check_json("event", json_w_text(&w));
		json_w_free(&w);
	}
}

static void run_line(struct daemon *d, const uint8_t *line, size_t len)
{
	bool follow = true;

	if (len >= 3 && memcmp(line, "#ue", 3) == 0) {
		d->cfg.role = NAT_ROLE_UE;
		return;
	}
	if (len >= 4 && memcmp(line, "#nfq", 4) == 0) {
		d->cfg.datapath = DATAPATH_NFQUEUE;
		d->cfg.workers = 4;
		return;
	}
	check_json_input(line, len);
	char *req = fuzz_cstr(line, len);
	char *answer = commands_run(d, req, &follow);
	FUZZ_ASSERT(answer, "no answer");
	check_json("answer", answer);
	free(answer);
	free(req);
	drain_events(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct daemon d;
	size_t lines = 0;

	memset(&d, 0, sizeof(d));
	d.cfg.datapath = DATAPATH_TUN;
	d.cfg.role = NAT_ROLE_PCSCF;
	d.cfg.workers = 1;
	d.cfg.keepalive_s = 20;
	d.cfg.silent_after_s = 120;
	d.next_reqid = 1;
	d.started_ms = monotonic_ms();
	d.engine = esp_engine_new();
	d.events = eventq_new(64);
	if (!d.engine || !d.events)
		abort();
	esp_engine_on_event(d.engine, eventq_push, d.events);

	/* lines as the control socket frames them: up to '\n' */
	while (size && lines++ < MAX_LINES) {
		const uint8_t *nl = memchr(data, '\n', size);
		size_t len = nl ? (size_t)(nl - data) : size;

		if (len < CONTROL_LINE_MAX)
			run_line(&d, data, len);
		data += len + (nl ? 1 : 0);
		size -= len + (nl ? 1 : 0);
	}
	esp_engine_free(d.engine);
	eventq_free(d.events);
	return 0;
}
