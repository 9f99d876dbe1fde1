/* espnatd: the ESP sidecar. It diverts the protected traffic of a P-CSCF
 * (or a UE) through the engine, with NFQUEUE or a TUN device, and is
 * driven over its control socket by `espnat`. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <pcap/pcap.h>

#include "encap/table.h"
#include "engine/safile.h"
#include "nat/liveness.h"
#include "tools/clock.h"
#include "tools/daemon/control.h"
#include "tools/daemon/daemon.h"
#include "tools/io/nfq.h"
#include "tools/io/tun.h"

#ifndef ESPNAT_VERSION
#define ESPNAT_VERSION "unknown"
#endif

#define TICK_MS 250
#define STATE_SYNC_MS 1000
#define EVENTS_QUEUED 4096

static int verbose;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* stderr, one line each: the journal keeps it under systemd */
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("espnatd: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: espnatd [OPTIONS]\n\n"
		"The espnat ESP sidecar: protects and unprotects the traffic of the\n"
		"protected ports with the SAs it is given (config file or control socket).\n\n"
		"Options (each overrides the config file's setting of the same name):\n"
		"  -c, --config FILE         settings and `sa` lines (see README)\n"
		"      --datapath nfqueue|tun  how packets are diverted (default nfqueue)\n"
		"      --role pcscf|ue       P-CSCF learns NAT ports; UE sends keepalives\n"
		"      --protected-ports LIST  e.g. 5066,5068 or 5060-5069\n"
		"      --queue N             first NFQUEUE number (default 0)\n"
		"      --workers N           packet threads (default 1)\n"
		"      --control PATH        control socket (default %s)\n"
		"      --control-group GROUP  let this group use it too (a SIP server's user)\n"
		"      --tun NAME            TUN device (default espnat0)\n"
		"      --tun-mtu BYTES       its MTU (default 65535: whole datagrams)\n"
		"      --tun-txqueuelen N    its queue of packets for espnatd (default 4096)\n"
		"      --tun-table N         routing table for the protected ports (default 4500)\n"
		"      --keepalive SEC       UE role: NAT keepalive interval, 0 off (default 20)\n"
		"      --silent-after SEC    P-CSCF role: report bindings silent this long,\n"
		"                            0 off (default 120)\n"
		"      --path-mtu BYTES      lower the MSS of TCP SYNs so that protected segments\n"
		"                            fit this MTU, 0 off (default 1500)\n"
		"      --decrypted-pcap FILE write what was decapsulated (plaintext!) to FILE\n"
		"      --state FILE          durable state (SQLite): SAs, sequence numbers and\n"
		"                            NAT ports survive a restart (default: none)\n"
		"      --state-block N       sequence numbers reserved at a time (default %u)\n"
		"      --crypto-backend openssl|ipsec-mb  who seals and opens each burst of\n"
		"                            packets (default openssl; ipsec-mb when built in)\n"
		"  -v, --verbose             log every event and more\n"
		"  -h, --help                this text\n"
		"      --version             the version\n\n"
		"Signals: SIGTERM/SIGINT stop cleanly (rules removed); SIGHUP reloads the\n"
		"config file.\n", CONTROL_DEFAULT, STATE_SEQ_BLOCK);
}

static int parse_args(int argc, char **argv, struct daemon *d)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "datapath", required_argument, NULL, 1 },
		{ "role", required_argument, NULL, 1 },
		{ "protected-ports", required_argument, NULL, 1 },
		{ "queue", required_argument, NULL, 1 },
		{ "workers", required_argument, NULL, 1 },
		{ "control", required_argument, NULL, 1 },
		{ "control-group", required_argument, NULL, 1 },
		{ "tun", required_argument, NULL, 1 },
		{ "tun-mtu", required_argument, NULL, 1 },
		{ "tun-txqueuelen", required_argument, NULL, 1 },
		{ "tun-table", required_argument, NULL, 1 },
		{ "keepalive", required_argument, NULL, 1 },
		{ "silent-after", required_argument, NULL, 1 },
		{ "path-mtu", required_argument, NULL, 1 },
		{ "decrypted-pcap", required_argument, NULL, 1 },
		{ "state", required_argument, NULL, 1 },
		{ "state-block", required_argument, NULL, 1 },
		{ "crypto-backend", required_argument, NULL, 1 },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 2 },
		{ NULL, 0, NULL, 0 },
	};
	/* options win over the file: read the file first, then apply them */
	int c, idx;
	char err[256];

	for (int i = 1; i < argc; i++) {
		if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc)
			d->config_path = argv[i + 1];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			d->config_path = argv[i] + 9;
	}
	if (d->config_path && config_load(&d->cfg, d->config_path, err, sizeof(err))) {
		say("%s: %s", d->config_path, err);
		return 1;
	}
	while ((c = getopt_long(argc, argv, "c:vh", opts, &idx)) != -1) {
		switch (c) {
		case 'c':
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 2:
			printf("espnatd %s\n", ESPNAT_VERSION);
			exit(0);
		case 1:
			if (config_set(&d->cfg, opts[idx].name, optarg, err, sizeof(err))) {
				say("--%s", err);
				return 2;
			}
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		say("unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if (d->cfg.nports == 0) {
		say("no protected ports: set protected-ports (the P-CSCF's or UE's port-c and port-s)");
		return 2;
	}
	return 0;
}

/* ---- SAs from the config file ---- */

/* The lifetime aside: an SA restored from durable state has what was
 * left of it, and stays. */
static bool same_params(const struct esp_sa_params *a, const struct esp_sa_params *b)
{
	struct esp_sa_params x = *a, y = *b;
	bool same;

	x.lifetime_s = y.lifetime_s = 0;
	same = memcmp(&x, &y, sizeof(x)) == 0;
	OPENSSL_cleanse(&x, sizeof(x));
	OPENSSL_cleanse(&y, sizeof(y));
	return same;
}

/* Parses every `sa` line; nothing is installed until all of them parse. */
static int parse_config_sas(struct daemon *d, struct esp_sa_params **out,
			    size_t *n, char *err, size_t errlen)
{
	struct esp_sa_params *ps = calloc(d->cfg.nsa ? d->cfg.nsa : 1, sizeof(*ps));
	const char *text = d->cfg.sa_text;
	char why[ESP_SAFILE_ERRLEN];

	*n = 0;
	if (!ps) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < d->cfg.nsa; i++) {
		const char *nl = strchr(text, '\n');
		size_t len = nl ? (size_t)(nl - text) : strlen(text);
		char *line = strndup(text, len);
		int r = line ? esp_safile_parse_line(line, &ps[*n], why, sizeof(why)) : -1;
		if (line) {
			OPENSSL_cleanse(line, len);
			free(line);
		}
		if (r < 0) {
			snprintf(err, errlen, "line %u: %s", d->cfg.sa_lines[i], line ? why : "out of memory");
			for (size_t k = 0; k < *n; k++)
				esp_sa_params_wipe(&ps[k]);
			free(ps);
			return -1;
		}
		if (r > 0)
			(*n)++;
		text += len + (nl ? 1 : 0);
	}
	*out = ps;
	return 0;
}

static bool wanted(const struct esp_sa_params *ps, size_t n, uint32_t spi,
		   const struct esp_addr *dst)
{
	for (size_t i = 0; i < n; i++)
		if (ps[i].spi == spi && esp_addr_equal(&ps[i].dst, dst))
			return true;
	return false;
}

int daemon_apply_config_sas(struct daemon *d, char *err, size_t errlen)
{
	struct esp_sa_params *ps;
	size_t n;
	const char *why;

	if (parse_config_sas(d, &ps, &n, err, errlen))
		return -1;
	esp_engine_set_time(d->engine, monotonic_ms());
	/* gone from the file: removed */
	for (size_t i = 0; i < d->nconfig_sas; i++)
		if (!wanted(ps, n, d->config_sas[i].spi, &d->config_sas[i].dst))
			daemon_del_sa(d, d->config_sas[i].spi, &d->config_sas[i].dst);
	struct config_sa *now = calloc(n ? n : 1, sizeof(*now));
	size_t kept = 0;
	for (size_t i = 0; i < n && now; i++) {
		/* unchanged: left alone, counters and replay window intact */
		esp_engine_read_lock(d->engine);
		struct esp_sa *sa = esp_sad_find(esp_engine_sad(d->engine), ps[i].spi, &ps[i].dst);
		bool same = sa && same_params(&sa->p, &ps[i]);
		esp_engine_read_unlock(d->engine);
		if (sa && !same)
			daemon_del_sa(d, ps[i].spi, &ps[i].dst);
		size_t failed;
		if (!same && daemon_add_sas(d, &ps[i], 1, true, &failed, &why)) {
			char b[ESP_ADDRSTRLEN];
			say("config SA spi 0x%08x dst %s not added: %s", ps[i].spi,
			    esp_addr_str(&ps[i].dst, b), why);
			continue;
		}
		now[kept].spi = ps[i].spi;
		now[kept].dst = ps[i].dst;
		kept++;
	}
	for (size_t i = 0; i < n; i++)
		esp_sa_params_wipe(&ps[i]);
	free(ps);
	free(d->config_sas);
	d->config_sas = now;
	d->nconfig_sas = now ? kept : 0;
	return 0;
}

/* ---- decrypted capture ---- */

static void tap(void *arg, const uint8_t *ip, uint32_t len)
{
	struct daemon *d = arg;
	struct pcap_pkthdr h = { .caplen = len, .len = len };

	gettimeofday(&h.ts, NULL);
	pthread_mutex_lock(&d->tap_lock);
	pcap_dump(d->tap_dumper, &h, ip);
	pthread_mutex_unlock(&d->tap_lock);
}

static int open_tap(struct daemon *d)
{
	pthread_mutex_init(&d->tap_lock, NULL);
	if (!d->cfg.decrypted_pcap[0])
		return 0;
	d->tap_pcap = pcap_open_dead(DLT_RAW, 65535);
	mode_t old = umask(0077);
	d->tap_dumper = d->tap_pcap ? pcap_dump_open(d->tap_pcap, d->cfg.decrypted_pcap) : NULL;
	umask(old);
	if (!d->tap_dumper) {
		say("%s: %s", d->cfg.decrypted_pcap,
		    d->tap_pcap ? pcap_geterr(d->tap_pcap) : "out of memory");
		return -1;
	}
	say("writing decrypted traffic to %s", d->cfg.decrypted_pcap);
	return 0;
}

static void close_tap(struct daemon *d)
{
	if (d->tap_dumper)
		pcap_dump_close(d->tap_dumper);
	if (d->tap_pcap)
		pcap_close(d->tap_pcap);
	pthread_mutex_destroy(&d->tap_lock);
}

/* ---- data path ---- */

static int start_workers(struct daemon *d)
{
	struct backend_ctx ctx = {
		.engine = d->engine,
		.stop_fd = d->stop_fd,
		.tap = d->tap_dumper ? tap : NULL,
		.tap_arg = d,
		.crypto = d->cfg.crypto_backend,
	};
	char err[512];

	for (unsigned i = 0; i < d->cfg.workers; i++) {
		void *w;
		void *(*run)(void *);
		if (d->cfg.datapath == DATAPATH_NFQUEUE) {
			w = nfqueue_open(&ctx, (uint16_t)(d->cfg.queue + i), err, sizeof(err));
			run = nfqueue_run;
		} else {
			w = tun_open(&ctx, d->cfg.tun_name, d->cfg.tun_mtu, d->cfg.tun_txqueuelen,
				     d->cfg.workers > 1,
				     &d->inject, err, sizeof(err));
			run = tun_run;
		}
		if (!w) {
			say("worker %u: %s", i, err);
			return -1;
		}
		d->workers[i] = w;
		d->nworkers++;
		if (pthread_create(&d->threads[i], NULL, run, w)) {
			say("worker %u: cannot start a thread", i);
			return -1;
		}
	}
	return 0;
}

static void stop_workers(struct daemon *d)
{
	uint64_t one = 1;

	if (write(d->stop_fd, &one, sizeof(one)) < 0)
		say("stopping workers: %s", strerror(errno));
	for (unsigned i = 0; i < d->nworkers; i++) {
		pthread_join(d->threads[i], NULL);
		if (d->cfg.datapath == DATAPATH_NFQUEUE)
			nfqueue_close(d->workers[i]);
		else
			tun_close(d->workers[i]);
	}
	d->nworkers = 0;
}

static int install_rules(struct daemon *d)
{
	struct rules_config rc = {
		.queue = d->cfg.queue,
		.queues = d->cfg.workers,
		.ports = d->cfg.ports,
		.nports = d->cfg.nports,
		.tun_ifname = d->cfg.tun_name,
		.tun_table = d->cfg.tun_table,
	};
	char err[1024];
	int r = d->cfg.datapath == DATAPATH_NFQUEUE ?
		rules_install_nfqueue(&rc, &d->rules, err, sizeof(err)) :
		rules_install_tun(&rc, &d->rules, err, sizeof(err));

	if (r) {
		say("installing the diversion rules: %s", err);
		return -1;
	}
	say("diversion rules installed (%s)", rules_backend_name(d->rules));
	return 0;
}

static void remove_rules(struct daemon *d)
{
	char err[1024];

	if (rules_remove_all(d->cfg.tun_table, err, sizeof(err)))
		say("removing the diversion rules: %s", err);
}

/* ---- the main loop's periodic work ---- */

static void send_keepalives(struct daemon *d)
{
	uint32_t due[64];
	size_t n;

	if (!d->keepalive)
		return;
	while ((n = nat_keepalive_due(d->keepalive, due, 64)) > 0) {
		for (size_t i = 0; i < n; i++) {
			struct esp_addr src, dst;
			uint16_t sport, dport;
			esp_engine_read_lock(d->engine);
			bool ok = encap_group_keepalive_target(
				encap_table_group(esp_engine_table(d->engine), due[i]),
				&src, &dst, &sport, &dport);
			esp_engine_read_unlock(d->engine);
			if (!ok)
				continue;
			if (inject_keepalive(&d->inject, &src, &dst, sport, dport) == 0)
				d->keepalives_sent++;
			else if (verbose)
				say("keepalive for reqid %u not sent", due[i]);
		}
		if (n < 64)
			break;
	}
}

/* Reservations and inbound marks made durable; said once when it starts
 * failing and once when it works again. */
static void sync_state(struct daemon *d, uint64_t now)
{
	char err[256];

	if (!d->state || now - d->state_synced_ms < STATE_SYNC_MS)
		return;
	d->state_synced_ms = now;
	if (state_sync(d->state, d->engine, err, sizeof(err)) == 0) {
		if (d->state_failing)
			say("%s: saving works again", d->cfg.state);
		d->state_failing = false;
	} else if (!d->state_failing) {
		say("%s: %s (outbound SAs stop at their reservation)", d->cfg.state, err);
		d->state_failing = true;
	}
}

static void tick(struct daemon *d)
{
	uint64_t now = monotonic_ms();

	esp_engine_set_time(d->engine, now);
	esp_engine_expire(d->engine, now);
	sync_state(d, now);
	if (d->cfg.role == NAT_ROLE_PCSCF && d->cfg.silent_after_s)
		nat_liveness_sweep(d->engine, now, (uint64_t)d->cfg.silent_after_s * 1000);
	send_keepalives(d);
	if (d->tap_dumper) {
		pthread_mutex_lock(&d->tap_lock);
		pcap_dump_flush(d->tap_dumper);
		pthread_mutex_unlock(&d->tap_lock);
	}
}

static void drain_events(struct daemon *d, struct control *ctl)
{
	struct esp_event ev;
	char reason[192], line[512];

	while (eventq_pop(d->events, &ev, reason, sizeof(reason))) {
		if (d->keepalive)
			nat_keepalive_on_event(d->keepalive, &ev);
		if (d->state && (ev.type == ESP_EVENT_LEARNED || ev.type == ESP_EVENT_MOVED))
			state_port(d->state, ev.reqid, ev.new_port);
		if (d->state && ev.type == ESP_EVENT_GROUP_REMOVED)
			state_port(d->state, ev.reqid, 0);
		bool bookkeeping = ev.type == ESP_EVENT_GROUP_ADDED ||
				   ev.type == ESP_EVENT_GROUP_REMOVED;
		if (!bookkeeping || verbose) {
			esp_event_format(&ev, line, sizeof(line));
			say("%s", line);
		}
		if (!bookkeeping)
			control_broadcast(ctl, &ev);
	}
}

/* Keepalives follow registrations from their group events; a scheduler
 * made later (a reload turning them on) picks up those that exist. */
static void start_keepalives(struct daemon *d)
{
	uint64_t seed;

	nat_keepalive_free(d->keepalive);
	d->keepalive = NULL;
	if (d->cfg.role != NAT_ROLE_UE || !d->cfg.keepalive_s)
		return;
	arc4random_buf(&seed, sizeof(seed));
	d->keepalive = nat_keepalive_new(&monotonic_clock, d->cfg.keepalive_s * 1000,
					 NAT_KEEPALIVE_JITTER_PCT, seed);
	if (!d->keepalive)
		return;
	esp_engine_read_lock(d->engine);
	for (struct encap_group *g = encap_table_first(esp_engine_table(d->engine)); g;
	     g = encap_table_next(g))
		nat_keepalive_track(d->keepalive, g->reqid);
	esp_engine_read_unlock(d->engine);
}

static void reload(struct daemon *d)
{
	struct daemon_config fresh;
	char err[512];

	d->reload = false;
	if (!d->config_path) {
		say("reload: no config file");
		return;
	}
	config_defaults(&fresh);
	if (config_load(&fresh, d->config_path, err, sizeof(err))) {
		say("reload: %s: %s (nothing changed)", d->config_path, err);
		config_free(&fresh);
		return;
	}
	if (fresh.datapath != d->cfg.datapath || fresh.role != d->cfg.role ||
	    fresh.workers != d->cfg.workers || fresh.queue != d->cfg.queue ||
	    strcmp(fresh.tun_name, d->cfg.tun_name) || strcmp(fresh.control, d->cfg.control))
		say("reload: datapath, role, workers, queue, tun and control need a restart; "
		    "keeping the running ones");
	bool ports = fresh.nports != d->cfg.nports ||
		     memcmp(fresh.ports, d->cfg.ports, fresh.nports * sizeof(fresh.ports[0]));
	config_free(&d->cfg);
	struct daemon_config keep = d->cfg;
	d->cfg = fresh;
	d->cfg.datapath = keep.datapath;
	d->cfg.role = keep.role;
	d->cfg.workers = keep.workers;
	d->cfg.queue = keep.queue;
	memcpy(d->cfg.tun_name, keep.tun_name, sizeof(keep.tun_name));
	memcpy(d->cfg.control, keep.control, sizeof(keep.control));
	if (ports)
		install_rules(d);
	esp_engine_set_path_mtu(d->engine, d->cfg.path_mtu);
	if (keep.keepalive_s != d->cfg.keepalive_s) {
		start_keepalives(d);
		say("keepalives %s", d->keepalive ? "on" : "off");
	}
	if (daemon_apply_config_sas(d, err, sizeof(err)))
		say("reload: %s: %s (SAs unchanged)", d->config_path, err);
	else
		say("reloaded %s", d->config_path);
}

static int main_loop(struct daemon *d, struct control *ctl, int sig_fd, int timer_fd)
{
	struct pollfd pfd[3 + 1 + CONTROL_MAX_CLIENTS];

	while (!d->stopping) {
		pfd[0] = (struct pollfd){ .fd = sig_fd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = timer_fd, .events = POLLIN };
		pfd[2] = (struct pollfd){ .fd = eventq_fd(d->events), .events = POLLIN };
		int n = control_pollfds(ctl, pfd + 3, 1 + CONTROL_MAX_CLIENTS);
		if (poll(pfd, (nfds_t)(3 + n), -1) < 0) {
			if (errno == EINTR)
				continue;
			say("poll: %s", strerror(errno));
			return -1;
		}
		if (pfd[0].revents) {
			struct signalfd_siginfo si;
			if (read(sig_fd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGHUP)
					d->reload = true;
				else
					d->stopping = true;
			}
		}
		if (pfd[1].revents) {
			uint64_t expirations;
			if (read(timer_fd, &expirations, sizeof(expirations)) > 0)
				tick(d);
		}
		control_handle(ctl, pfd + 3, n);
		if (d->reload)
			reload(d);
		drain_events(d, ctl);
	}
	return 0;
}

static int signal_fd(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGPIPE);
	/* blocked before any thread starts, so that all inherit it */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sigdelset(&set, SIGPIPE);
	return signalfd(-1, &set, SFD_CLOEXEC);
}

static int timer_fd(void)
{
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	struct itimerspec its = {
		.it_interval = { 0, TICK_MS * 1000000L },
		.it_value = { 0, TICK_MS * 1000000L },
	};

	if (fd >= 0)
		timerfd_settime(fd, 0, &its, NULL);
	return fd;
}

static bool is_config_sa(void *arg, uint32_t spi, const struct esp_addr *dst)
{
	const struct daemon *d = arg;

	for (size_t i = 0; i < d->nconfig_sas; i++)
		if (d->config_sas[i].spi == spi && esp_addr_equal(&d->config_sas[i].dst, dst))
			return true;
	return false;
}

/* Before any packet can flow: what the last run left is back in the
 * engine, its reservations moved on and durable. */
static int open_state(struct daemon *d)
{
	struct state_restored r;
	char err[512];

	if (!d->cfg.state[0])
		return 0;
	d->state = state_open(d->cfg.state, d->cfg.state_block, err, sizeof(err));
	if (!d->state) {
		say("%s", err);
		return -1;
	}
	esp_engine_set_time(d->engine, monotonic_ms());
	if (state_restore(d->state, d->engine, monotonic_ms(), &r, err, sizeof(err))) {
		say("%s: %s", d->cfg.state, err);
		return -1;
	}
	say("%s: %zu SA(s) and %zu NAT port(s) restored, %zu expired%s", d->cfg.state, r.sas,
	    r.ports, r.expired, r.refused ? ", some unreadable or refused" : "");
	return 0;
}

int main(int argc, char **argv)
{
	static struct daemon d;
	struct control *ctl = NULL;
	char err[1024];
	int ret = 1, sig = -1, tmr = -1;
	bool rules = false;

	/* keys live in this process: no core dumps, no ptrace by others */
	prctl(PR_SET_DUMPABLE, 0);
	config_defaults(&d.cfg);
	d.next_reqid = 1;
	d.inject.fd4 = d.inject.fd6 = -1;
	d.started_ms = monotonic_ms();
	int a = parse_args(argc, argv, &d);
	if (a)
		return a;

	sig = signal_fd();
	tmr = timer_fd();
	d.stop_fd = eventfd(0, EFD_CLOEXEC);
	d.engine = esp_engine_new();
	d.events = eventq_new(EVENTS_QUEUED);
	if (sig < 0 || tmr < 0 || d.stop_fd < 0 || !d.engine || !d.events) {
		say("setting up: %s", strerror(errno));
		goto out;
	}
	esp_engine_on_event(d.engine, eventq_push, d.events);
	esp_engine_set_path_mtu(d.engine, d.cfg.path_mtu);
	start_keepalives(&d);
	if (injector_open(&d.inject, err, sizeof(err))) {
		say("%s", err);
		goto out;
	}
	if (open_state(&d))
		goto out;
	if (daemon_apply_config_sas(&d, err, sizeof(err))) {
		say("%s: %s", d.config_path, err);
		goto out;
	}
	if (d.state) {
		size_t pruned = state_prune(d.state, d.engine, STATE_FROM_CONFIG, is_config_sa, &d);
		if (pruned)
			say("%s: %zu SA(s) gone from the config file removed", d.cfg.state, pruned);
	}
	ctl = control_open(&d, err, sizeof(err));
	if (!ctl) {
		say("%s", err);
		goto out;
	}
	if (open_tap(&d))
		goto out;
	/* the TUN device must exist before routes can point at it */
	if (d.cfg.datapath == DATAPATH_TUN && start_workers(&d))
		goto out;
	if (install_rules(&d))
		goto out;
	rules = true;
	if (d.cfg.datapath == DATAPATH_NFQUEUE && start_workers(&d))
		goto out;
	say("running: %s role, %s, %u worker(s), protected ports %zu, control %s",
	    d.cfg.role == NAT_ROLE_UE ? "UE" : "P-CSCF",
	    d.cfg.datapath == DATAPATH_TUN ? "TUN" : "NFQUEUE", d.cfg.workers,
	    d.cfg.nports, d.cfg.control);
	ret = main_loop(&d, ctl, sig, tmr) ? 1 : 0;
	say("stopping");
out:
	if (d.nworkers)
		stop_workers(&d);
	if (rules)
		remove_rules(&d);
	control_close(ctl);
	close_tap(&d);
	if (d.state) {
		d.state_synced_ms = 0;
		sync_state(&d, monotonic_ms() + STATE_SYNC_MS);
		state_close(d.state);
	}
	injector_close(&d.inject);
	nat_keepalive_free(d.keepalive);
	esp_engine_free(d.engine);
	eventq_free(d.events);
	free(d.config_sas);
	config_free(&d.cfg);
	if (sig >= 0)
		close(sig);
	if (tmr >= 0)
		close(tmr);
	if (d.stop_fd > 0)
		close(d.stop_fd);
	return ret;
}
