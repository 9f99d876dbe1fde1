/* espnat: the command-line tool. Each subcommand lives in its own file. */
#include <stdio.h>
#include <string.h>

#include "tools/commands.h"

#ifndef ESPNAT_VERSION
#define ESPNAT_VERSION "unknown"
#endif

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "pcap", cmd_pcap, "protect/unprotect the packets of a capture with an SA file" },
	{ "sa", cmd_ctl, "add, delete, list or flush espnatd's SAs" },
	{ "reg", cmd_ctl, "add, delete or list registrations (four SAs from sec-agree)" },
	{ "table", cmd_ctl, "espnatd's UDP encapsulation table" },
	{ "stats", cmd_ctl, "espnatd's counters and drop reasons" },
	{ "events", cmd_ctl, "follow espnatd's events" },
	{ "ping", cmd_ctl, "ask whether espnatd runs" },
	{ "reload", cmd_ctl, "have espnatd re-read its config file" },
	{ "cleanup", cmd_cleanup, "remove the rules a crashed espnatd left" },
	{ "bench", cmd_bench, "the engine's packet rate beside the crypto bound" },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: espnat COMMAND [OPTIONS]\n"
		   "       espnat COMMAND --help\n\n"
		   "Userspace IPsec ESP with RFC 3948 UDP encapsulation and NAT traversal.\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n  --help     this text\n  --version  the version\n");
}

/* `espnat --json --socket S stats` means `espnat stats --json --socket S`:
 * the control options may come before the command too. */
static void move_leading_options(int argc, char **argv)
{
	int n = 0;

	while (1 + n < argc && (strcmp(argv[1 + n], "--json") == 0 ||
				strncmp(argv[1 + n], "--socket=", 9) == 0 ||
				(strcmp(argv[1 + n], "--socket") == 0 && 2 + n < argc)))
		n += strcmp(argv[1 + n], "--socket") == 0 ? 2 : 1;
	if (n == 0 || 1 + n >= argc)
		return;
	for (int k = 0; k < n; k++) {
		char *first = argv[1];
		memmove(argv + 1, argv + 2, (size_t)(argc - 2) * sizeof(char *));
		argv[argc - 1] = first;
	}
}

int main(int argc, char **argv)
{
	move_leading_options(argc, argv);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
	    strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
		printf("espnat %s\n", ESPNAT_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(cmd, commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "espnat: unknown command '%s' (try 'espnat --help')\n", cmd);
	return 2;
}
