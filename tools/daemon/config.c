#include "tools/daemon/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "tools/util.h"

#define CONFIG_FILE_MAX (64u << 20)

void config_defaults(struct daemon_config *c)
{
	memset(c, 0, sizeof(*c));
	c->datapath = DATAPATH_NFQUEUE;
	c->role = NAT_ROLE_PCSCF;
	c->workers = 1;
	snprintf(c->control, sizeof(c->control), "%s", CONTROL_DEFAULT);
	snprintf(c->tun_name, sizeof(c->tun_name), "espnat0");
	/* whole datagrams into the device; ESP output is fragmented after
	 * protection (tools/io/tun.c) */
	c->tun_mtu = 65535;
	/* the device's queue is where packets wait for the daemon's read():
	 * as deep as the NFQUEUE's (tools/io/nfq.c), so that a few ms off
	 * the CPU do not drop a burst (Linux's default is 500) */
	c->tun_txqueuelen = 4096;
	c->tun_table = 4500;
	c->keepalive_s = 20;
	c->silent_after_s = 120;
	c->path_mtu = 1500;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

/* "5066,5068" or "5066 5068" or ranges "5060-5069". */
static int parse_ports(struct daemon_config *c, const char *value, char *err,
		       size_t errlen)
{
	char buf[1024];
	size_t n = 0;

	snprintf(buf, sizeof(buf), "%s", value);
	for (char *tok = strtok(buf, ", \t"); tok; tok = strtok(NULL, ", \t")) {
		unsigned long lo, hi;
		char *dash = strchr(tok, '-');
		if (dash)
			*dash = '\0';
		if (parse_uint(tok, 65535, &lo) || lo == 0 ||
		    (dash && (parse_uint(dash + 1, 65535, &hi) || hi < lo))) {
			snprintf(err, errlen, "'%s' is not a port or port range", value);
			return -1;
		}
		if (!dash)
			hi = lo;
		for (unsigned long p = lo; p <= hi; p++) {
			if (n == CONFIG_MAX_PORTS) {
				snprintf(err, errlen, "more than %d protected ports", CONFIG_MAX_PORTS);
				return -1;
			}
			c->ports[n++] = (uint16_t)p;
		}
	}
	if (n == 0) {
		snprintf(err, errlen, "no protected port given");
		return -1;
	}
	c->nports = n;
	return 0;
}

static int set_string(char *dst, size_t cap, const char *value, const char *key,
		      char *err, size_t errlen)
{
	if (strlen(value) >= cap) {
		snprintf(err, errlen, "%s: too long", key);
		return -1;
	}
	snprintf(dst, cap, "%s", value);
	return 0;
}

struct uint_setting {
	const char *key;
	size_t offset;
	unsigned long min, max;
};

static const struct uint_setting uints[] = {
	{ "queue", offsetof(struct daemon_config, queue), 0, 65535 },
	{ "workers", offsetof(struct daemon_config, workers), 1, 64 },
	{ "tun-mtu", offsetof(struct daemon_config, tun_mtu), 576, 65535 },
	{ "tun-txqueuelen", offsetof(struct daemon_config, tun_txqueuelen), 1, 1000000 },
	{ "tun-table", offsetof(struct daemon_config, tun_table), 1, 0xfffffffe },
	{ "keepalive", offsetof(struct daemon_config, keepalive_s), 0, 86400 },
	{ "silent-after", offsetof(struct daemon_config, silent_after_s), 0, 86400 * 365 },
	{ "path-mtu", offsetof(struct daemon_config, path_mtu), 0, 65535 },
	{ "state-block", offsetof(struct daemon_config, state_block), 16, 1u << 30 },
};

int config_set(struct daemon_config *c, const char *key, const char *value,
	       char *err, size_t errlen)
{
	unsigned long v;

	for (size_t i = 0; i < sizeof(uints) / sizeof(uints[0]); i++) {
		if (strcmp(key, uints[i].key) != 0)
			continue;
		if (parse_uint(value, uints[i].max, &v) || v < uints[i].min) {
			snprintf(err, errlen, "%s: '%s' is not %lu..%lu", key, value,
				 uints[i].min, uints[i].max);
			return -1;
		}
		*(unsigned *)((char *)c + uints[i].offset) = (unsigned)v;
		return 0;
	}
	if (strcmp(key, "datapath") == 0) {
		if (strcmp(value, "nfqueue") == 0)
			c->datapath = DATAPATH_NFQUEUE;
		else if (strcmp(value, "tun") == 0)
			c->datapath = DATAPATH_TUN;
		else {
			snprintf(err, errlen, "datapath: '%s' is neither nfqueue nor tun", value);
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "role") == 0) {
		if (strcmp(value, "pcscf") == 0)
			c->role = NAT_ROLE_PCSCF;
		else if (strcmp(value, "ue") == 0)
			c->role = NAT_ROLE_UE;
		else {
			snprintf(err, errlen, "role: '%s' is neither pcscf nor ue", value);
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "protected-ports") == 0)
		return parse_ports(c, value, err, errlen);
	if (strcmp(key, "control-group") == 0)
		return set_string(c->control_group, sizeof(c->control_group), value, key, err,
				  errlen);
	if (strcmp(key, "control") == 0)
		return set_string(c->control, sizeof(c->control), value, key, err, errlen);
	if (strcmp(key, "tun") == 0) {
		for (const char *p = value; *p; p++)
			if (!isalnum((unsigned char)*p) && !strchr("._-", *p)) {
				snprintf(err, errlen, "tun: '%s' is not a device name", value);
				return -1;
			}
		return set_string(c->tun_name, sizeof(c->tun_name), value, key, err, errlen);
	}
	if (strcmp(key, "crypto-backend") == 0) {
		int b = esp_backend_by_name(value);
		const char *why;
		if (b < 0) {
			snprintf(err, errlen, "crypto-backend: '%s' is neither openssl nor ipsec-mb",
				 value);
			return -1;
		}
		if (esp_backend_check((enum esp_backend)b, &why)) {
			snprintf(err, errlen, "crypto-backend: %s", why);
			return -1;
		}
		c->crypto_backend = (enum esp_backend)b;
		return 0;
	}
	if (strcmp(key, "state") == 0)
		return set_string(c->state, sizeof(c->state), value, key, err, errlen);
	if (strcmp(key, "decrypted-pcap") == 0)
		return set_string(c->decrypted_pcap, sizeof(c->decrypted_pcap), value,
				  key, err, errlen);
	snprintf(err, errlen, "unknown setting '%s'", key);
	return -1;
}

static int append_sa(struct daemon_config *c, const char *line, size_t len,
		     unsigned lineno)
{
	char *t = malloc(c->sa_len + len + 2);
	unsigned *lines = realloc(c->sa_lines, (c->nsa + 1) * sizeof(*lines));

	if (!t || !lines) {
		free(t);
		if (lines)
			c->sa_lines = lines;
		return -1;
	}
	c->sa_lines = lines;
	if (c->sa_text) {
		memcpy(t, c->sa_text, c->sa_len);
		OPENSSL_cleanse(c->sa_text, c->sa_len);
		free(c->sa_text);
	}
	memcpy(t + c->sa_len, line, len);
	t[c->sa_len + len] = '\n';
	t[c->sa_len + len + 1] = '\0';
	c->sa_text = t;
	c->sa_len += len + 1;
	c->sa_lines[c->nsa++] = lineno;
	return 0;
}

/* A logical line: `\` at the end continues it, as in SA files. */
static int handle_line(struct daemon_config *c, char *line, unsigned lineno,
		       char *err, size_t errlen)
{
	char *s = line;
	char msg[256];

	while (isspace((unsigned char)*s))
		s++;
	if (*s == '\0' || *s == '#')
		return 0;
	if (strncmp(s, "sa", 2) == 0 && isspace((unsigned char)s[2])) {
		if (append_sa(c, s + 3, strlen(s + 3), lineno)) {
			snprintf(err, errlen, "line %u: out of memory", lineno);
			return -1;
		}
		return 0;
	}
	char *key = s;
	while (*s && !isspace((unsigned char)*s))
		s++;
	if (*s)
		*s++ = '\0';
	while (isspace((unsigned char)*s))
		s++;
	char *end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	char *hash = strstr(s, " #");
	if (hash) {
		*hash = '\0';
		end = hash;
		while (end > s && isspace((unsigned char)end[-1]))
			*--end = '\0';
	}
	if (config_set(c, key, s, msg, sizeof(msg))) {
		snprintf(err, errlen, "line %u: %s", lineno, msg);
		return -1;
	}
	return 0;
}

int config_load(struct daemon_config *c, const char *path, char *err,
		size_t errlen)
{
	size_t len;
	char *text = read_file(path, CONFIG_FILE_MAX, &len);
	int ret = 0;

	if (!text) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	char *line = malloc(len + 1);
	if (!line) {
		free_secret(text, len);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	unsigned lineno = 0, first = 0;
	size_t n = 0;
	for (size_t i = 0; i <= len && ret == 0; i++) {
		char ch = i < len ? text[i] : '\n';
		if (ch != '\n') {
			line[n++] = ch;
			continue;
		}
		lineno++;
		if (n == 0 || line[n - 1] != '\\' || i == len) {
			if (!first)
				first = lineno;
			if (n && line[n - 1] == '\\')
				n--;
			line[n] = '\0';
			ret = handle_line(c, line, first, err, errlen);
			n = 0;
			first = 0;
		} else {
			if (!first)
				first = lineno;
			line[n - 1] = ' ';	/* the backslash joins lines */
		}
	}
	OPENSSL_cleanse(line, len + 1);
	free(line);
	free_secret(text, len);
	return ret;
}

void config_free(struct daemon_config *c)
{
	if (c->sa_text) {
		OPENSSL_cleanse(c->sa_text, c->sa_len);
		free(c->sa_text);
	}
	free(c->sa_lines);
	c->sa_text = NULL;
	c->sa_lines = NULL;
	c->sa_len = c->nsa = 0;
}
