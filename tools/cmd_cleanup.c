/* espnat cleanup: removes the diversion rules a crashed espnatd left. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/commands.h"
#include "tools/io/rules.h"

int cmd_cleanup(int argc, char **argv)
{
	char before[512], after[512], err[1024];
	unsigned table = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--tun-table") == 0 && i + 1 < argc) {
			table = (unsigned)strtoul(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("Usage: espnat cleanup [--tun-table N]\n\n"
			       "Removes every rule espnatd installs (its nftables tables, its\n"
			       "iptables chains, its policy routing) left by a daemon that did not\n"
			       "stop cleanly. While they stay, protected traffic is dropped.\n");
			return 0;
		} else {
			fprintf(stderr, "espnat cleanup: unexpected argument '%s'\n", argv[i]);
			return 2;
		}
	}
	rules_describe(before, sizeof(before));
	int r = rules_remove_all(table, err, sizeof(err));
	rules_describe(after, sizeof(after));
	printf("before: %s\nafter:  %s\n", before, after);
	if (r) {
		fprintf(stderr, "espnat cleanup: %s\n", err);
		return 1;
	}
	return 0;
}
