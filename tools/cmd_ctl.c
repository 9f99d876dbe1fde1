/* espnat sa|reg|table|stats|events|ping|reload: the control socket's
 * client. Sends one request line, prints the answer for people (its "text")
 * or, with --json, as it came. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "tools/commands.h"
#include "tools/daemon/config.h"
#include "tools/ctlclient.h"
#include "tools/json.h"

#define LINE_MAX_BYTES (64u << 20)

struct ctl_opts {
	const char *socket;
	int json;
};

static void usage(FILE *f, const char *cmd)
{
	fprintf(f,
		"Usage: espnat %s ... [--json] [--socket PATH]\n\n"
		"  espnat sa add SA-LINE          add an SA (SA-file syntax; keys as 0x-hex)\n"
		"  espnat sa del spi SPI dst ADDR remove one\n"
		"  espnat sa list [keys]          list SAs (keys only when asked)\n"
		"  espnat sa flush                remove all\n"
		"  espnat reg add WORDS           the four SAs of a registration from sec-agree:\n"
		"       ue ADDR [ue-local ADDR] pcscf ADDR ue-spi-c N ue-spi-s N ue-port-c P\n"
		"       ue-port-s P pcscf-spi-c N pcscf-spi-s N pcscf-port-c P pcscf-port-s P\n"
		"       alg hmac-md5-96|hmac-sha-1-96 ealg des-ede3-cbc|aes-cbc|null\n"
		"       ik HEX ck HEX mod trans|UDP-enc-tun [lifetime SEC] [reqid N] [role pcscf|ue]\n"
		"  espnat reg del reqid N         remove a registration's SAs\n"
		"  espnat reg list                registrations and their NAT bindings\n"
		"  espnat table [reqid N]         the UDP encapsulation table(s)\n"
		"  espnat stats                   counters, drop reasons, kernel queue drops\n"
		"  espnat events                  follow events (learned, moved, silent, ...)\n"
		"  espnat ping                    is espnatd there\n"
		"  espnat reload                  re-read espnatd's config file\n\n"
		"  --json          print the daemon's JSON answer as it is\n"
		"  --socket PATH   control socket (default %s)\n", cmd, CONTROL_DEFAULT);
}

/* Words back into one line; a word the shell unquoted that holds blanks is
 * quoted again for the SA-file parser. */
static char *join(int argc, char **argv)
{
	size_t len = 1;
	char *line, *p;

	for (int i = 0; i < argc; i++)
		len += strlen(argv[i]) + 3;
	line = p = malloc(len);
	if (!line)
		return NULL;
	for (int i = 0; i < argc; i++) {
		bool quote = argv[i][0] == '\0' || strpbrk(argv[i], " \t");
		char q = strchr(argv[i], '"') ? '\'' : '"';
		if (quote && strchr(argv[i], q)) {
			fprintf(stderr, "espnat: '%s' holds both kinds of quote\n", argv[i]);
			free(line);
			return NULL;
		}
		p += sprintf(p, "%s%s%s%s", i ? " " : "", quote ? (q == '"' ? "\"" : "'") : "",
			     argv[i], quote ? (q == '"' ? "\"" : "'") : "");
		if (strchr(argv[i], '\n')) {
			fprintf(stderr, "espnat: a request is one line\n");
			free(line);
			return NULL;
		}
	}
	return line;
}

/* Reads one line (without its newline) into a growing buffer. */
static char *read_line(FILE *f)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, f);

	if (n <= 0 || (size_t)n > LINE_MAX_BYTES) {
		free(line);
		return NULL;
	}
	if (line[n - 1] == '\n')
		line[n - 1] = '\0';
	return line;
}

static void print_text(const char *text)
{
	size_t n = strlen(text);

	fputs(text, stdout);
	if (n && text[n - 1] != '\n')
		fputc('\n', stdout);
}

/* Prints one answer; returns 0 for ok, 1 for an error answer. */
static int show(const char *line, const struct ctl_opts *o, bool event)
{
	char err[JSON_ERRLEN];
	struct json_value *v = json_parse(line, strlen(line), err, sizeof(err));

	if (!v) {
		fprintf(stderr, "espnat: unreadable answer from espnatd (%s)\n", err);
		return 1;
	}
	int ret = event || json_bool(json_get(v, "ok"), false) ? 0 : 1;
	if (o->json) {
		puts(line);
	} else if (ret) {
		fprintf(stderr, "espnat: %s\n", json_str(json_get(v, "error"), "failed"));
	} else if (event) {
		char stamp[32];
		time_t t = time(NULL);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", localtime(&t));
		printf("%s %s\n", stamp, json_str(json_get(v, "text"), line));
	} else {
		print_text(json_str(json_get(v, "text"), "ok"));
	}
	fflush(stdout);
	json_free(v);
	return ret;
}

static int parse_opts(int *argc, char **argv, struct ctl_opts *o)
{
	int out = 0;

	o->socket = CONTROL_DEFAULT;
	o->json = 0;
	for (int i = 0; i < *argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			o->json = 1;
		} else if (strcmp(argv[i], "--socket") == 0 && i + 1 < *argc) {
			o->socket = argv[++i];
		} else if (strncmp(argv[i], "--socket=", 9) == 0) {
			o->socket = argv[i] + 9;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			return 1;
		} else {
			argv[out++] = argv[i];
		}
	}
	*argc = out;
	return 0;
}

int cmd_ctl(int argc, char **argv)
{
	struct ctl_opts o;
	const char *cmd = argv[0];

	if (parse_opts(&argc, argv, &o)) {
		usage(stdout, cmd);
		return 0;
	}
	if ((strcmp(cmd, "sa") == 0 || strcmp(cmd, "reg") == 0) && argc < 2) {
		usage(stderr, cmd);
		return 2;
	}
	char *line = join(argc, argv);
	if (!line)
		return 2;
	int fd = ctl_connect(o.socket);
	if (fd < 0) {
		fprintf(stderr, "espnat: %s: %s (is espnatd running? as root?)\n", o.socket,
			strerror(errno));
		OPENSSL_cleanse(line, strlen(line));
		free(line);
		return 1;
	}
	ctl_send_line(fd, line);
	OPENSSL_cleanse(line, strlen(line));
	free(line);
	FILE *f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return 1;
	}

	char *answer = read_line(f);
	int ret = 1;
	if (!answer) {
		fprintf(stderr, "espnat: espnatd closed the connection\n");
	} else {
		ret = show(answer, &o, false);
		OPENSSL_cleanse(answer, strlen(answer));
		free(answer);
	}
	if (ret == 0 && strcmp(cmd, "events") == 0) {
		char *ev;
		while ((ev = read_line(f)) != NULL) {
			show(ev, &o, true);
			free(ev);
		}
	}
	fclose(f);
	return ret;
}
