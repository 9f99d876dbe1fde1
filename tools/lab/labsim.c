/* espnat-lab-sim ue|pcscf|scscf OPTIONS: the lab's simulators. */
#include "tools/lab/labsim.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "engine/hex.h"

void lab_emit_begin(struct json_writer *w, const char *event)
{
	memset(w, 0, sizeof(*w));
	json_w_begin_object(w);
	json_w_kv_string(w, "event", event);
}

void lab_emit_end(struct json_writer *w)
{
	json_w_end_object(w);
	if (!w->failed)
		printf("%s\n", json_w_text(w));
	fflush(stdout);
	json_w_free(w);
}

void lab_say(const char *event, const char *fmt, ...)
{
	struct json_writer w;
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	lab_emit_begin(&w, event);
	json_w_kv_string(&w, "text", msg);
	lab_emit_end(&w);
}

void lab_done(const char *cmd, bool ok, const char *error)
{
	struct json_writer w;

	lab_emit_begin(&w, "done");
	json_w_kv_string(&w, "cmd", cmd);
	json_w_kv_bool(&w, "ok", ok);
	if (error)
		json_w_kv_string(&w, "error", error);
	lab_emit_end(&w);
}

int lab_hex(const char *s, uint8_t *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void lab_random(void *buf, size_t n)
{
	/* SPIs, tags and AKA's RAND: nothing predictable, so no fallback */
	if (RAND_bytes(buf, (int)n) != 1) {
		fprintf(stderr, "espnat-lab-sim: no random numbers from OpenSSL\n");
		exit(1);
	}
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "ue") == 0)
		return lab_ue_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "pcscf") == 0)
		return lab_pcscf_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "scscf") == 0)
		return lab_scscf_main(argc - 1, argv + 1);
	fprintf(stderr, "usage: espnat-lab-sim ue|pcscf|scscf OPTIONS "
			"(see tools/lab/ue.c, pcscf.c, scscf.c)\n");
	return 2;
}
