/* espnatd's settings: from the config file, then the command line. The
 * config file holds `key value` settings and `sa ...` lines in SA-file
 * syntax; `#` comments. */
#ifndef ESPNAT_DAEMON_CONFIG_H
#define ESPNAT_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/batch.h"
#include "nat/registration.h"

enum datapath {
	DATAPATH_NFQUEUE,
	DATAPATH_TUN,
};

#define CONFIG_MAX_PORTS 256
#define CONTROL_DEFAULT "/run/espnatd.sock"

struct daemon_config {
	enum datapath datapath;
	enum nat_role role;
	uint16_t ports[CONFIG_MAX_PORTS];	/* protected ports */
	size_t nports;
	unsigned queue;			/* first NFQUEUE number */
	unsigned workers;
	char control[108];		/* control socket path */
	char control_group[64];		/* also let this group in; "" = root only */
	char tun_name[16];
	unsigned tun_mtu;
	unsigned tun_txqueuelen;
	unsigned tun_table;		/* policy routing table */
	unsigned keepalive_s;		/* UE role; 0 = off */
	unsigned silent_after_s;	/* P-CSCF role; 0 = off */
	unsigned path_mtu;		/* TCP MSS clamping; 0 = off */
	char decrypted_pcap[256];	/* "" = off */
	char state[256];		/* durable state file; "" = none */
	unsigned state_block;		/* sequence numbers reserved at a time */
	enum esp_backend crypto_backend;	/* of the workers' bursts */
	char *sa_text;			/* the `sa` lines, SA-file syntax */
	size_t sa_len;
	unsigned *sa_lines;		/* their line numbers in the file */
	size_t nsa;
};

/* The defaults: NFQUEUE, P-CSCF, queue 0, one worker, keepalives every
 * 20 s (UE role), silence reported after 120 s (P-CSCF role). */
void config_defaults(struct daemon_config *c);

/* Reads @path into @c (on top of what it holds). Returns 0, or -1 with
 * "line N: reason" in @err. */
int config_load(struct daemon_config *c, const char *path, char *err,
		size_t errlen);

/* Applies one setting ("key", "value"), as from a file line or an option.
 * Returns 0, or -1 with a reason in @err. */
int config_set(struct daemon_config *c, const char *key, const char *value,
	       char *err, size_t errlen);

/* Frees the SA text, wiping it (it holds keys). */
void config_free(struct daemon_config *c);

#endif
