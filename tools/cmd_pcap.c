/* espnat pcap: runs every packet of a capture through the engine, as the
 * daemon would, and writes what comes out as a raw-IP capture. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encap/table.h"
#include "engine/engine.h"
#include "engine/ip.h"
#include "engine/safile.h"
#include "nat/liveness.h"
#include "tools/commands.h"
#include "tools/io/pcapfile.h"
#include "tools/util.h"
#include "tools/wireshark.h"

#define SA_FILE_MAX (16u << 20)
#define PACKET_MAX 65535

struct pcap_run {
	const char *sa_path;
	const char *in_path;
	const char *out_path;
	const char *stats_path;
	const char *wireshark_path;
	int verbose;
	int quiet;
	int show_table;
	uint64_t silent_after_ms;	/* 0: no liveness sweeps */
	struct esp_engine *engine;
	unsigned long skipped;	/* frames without IP */
	unsigned long written;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: espnat pcap --sa FILE --in IN.pcap --out OUT.pcap [OPTIONS]\n\n"
		"Runs each packet of IN.pcap through the ESP engine with the SAs of FILE\n"
		"and writes the result, in order, to OUT.pcap (raw IP, LINKTYPE_RAW).\n"
		"Keepalives are consumed, IKE and unprotected traffic pass unchanged,\n"
		"ESP is unprotected, plaintext matching an outbound SA is protected.\n\n"
		"Options:\n"
		"  --sa FILE          SA file: one `ip xfrm state` description per line\n"
		"  --in FILE          input capture (Ethernet, raw IP, Linux cooked, loopback)\n"
		"  --out FILE         output capture\n"
		"  --stats-json FILE  write the counters as JSON (\"-\" for stdout)\n"
		"  --show-table       print the UDP encapsulation table of each registration\n"
		"                     (TR 33.803 A.7.2 layout) after loading and on every\n"
		"                     change of a learned port\n"
		"  --silent-after SEC report a registration whose NAT binding was not heard\n"
		"                     for SEC seconds of capture time\n"
		"  --wireshark-sa FILE  write the SAs, keys included, as Wireshark's esp_sa\n"
		"                     table (mode 0600), to decrypt OUT or IN in Wireshark\n"
		"  -v, --verbose      one line per packet: what happened to it\n"
		"  -q, --quiet        no summary\n"
		"  -h, --help         this text\n\n"
		"Exit status: 0 when the run completed (dropped packets are not errors),\n"
		"1 when a file could not be read or written, 2 on wrong usage.\n");
}

static void print_group(const struct encap_group *g)
{
	char text[4096];

	encap_table_format_group(g, text, sizeof(text));
	printf("UDP encapsulation table, reqid %u:\n%s", g->reqid, text);
}

static void print_tables(struct esp_engine *e)
{
	struct encap_table *t = esp_engine_table(e);

	for (struct encap_group *g = encap_table_first(t); g; g = encap_table_next(g))
		print_group(g);
}

static void print_event(void *arg, const struct esp_event *ev)
{
	struct pcap_run *run = arg;
	char line[512];

	/* group bookkeeping is for wiring timers, not for people */
	if (ev->type == ESP_EVENT_GROUP_ADDED || ev->type == ESP_EVENT_GROUP_REMOVED)
		return;
	esp_event_format(ev, line, sizeof(line));
	printf("event %s\n", line);
	if (run->show_table && (ev->type == ESP_EVENT_LEARNED || ev->type == ESP_EVENT_MOVED))
		print_group(encap_table_group(esp_engine_table(run->engine), ev->reqid));
}

static const char *verdict_name(enum esp_verdict v)
{
	switch (v) {
	case ESP_VERDICT_PASS:
		return "bypass";
	case ESP_VERDICT_CONSUME:
		return "keepalive";
	case ESP_VERDICT_DROP:
		return "drop";
	case ESP_VERDICT_ENCAP:
		return "encap";
	case ESP_VERDICT_DECAP:
		return "decap";
	}
	return "?";
}

static void print_verdict(unsigned long n, const struct esp_result *r)
{
	printf("%lu %s", n, verdict_name(r->verdict));
	if (r->verdict == ESP_VERDICT_DROP)
		printf(" %s", esp_drop_name(r->reason));
	if (r->sa)
		printf(" spi 0x%08x", r->sa->p.spi);
	printf("\n");
}

static void write_stats(FILE *f, struct esp_engine *e, const struct pcap_run *run)
{
	struct esp_counters c;
	char a[ESP_ADDRSTRLEN], b[ESP_ADDRSTRLEN];

	esp_engine_counters(e, &c);
	fprintf(f, "{\"packets\":%lu,\"encap\":%lu,\"decap\":%lu,\"keepalive\":%lu,"
		   "\"bypass\":%lu,\"dropped\":%lu",
		(unsigned long)c.packets, (unsigned long)c.encap,
		(unsigned long)c.decap, (unsigned long)c.keepalive,
		(unsigned long)c.bypass, (unsigned long)c.dropped);
	for (int i = 0; i < ESP_DROP__COUNT; i++)
		fprintf(f, ",\"%s\":%lu", esp_drop_name(i), (unsigned long)c.drops[i]);
	fprintf(f, ",\"skipped_non_ip\":%lu,\"written\":%lu,\"sas\":[",
		run->skipped, run->written);
	int first = 1;
	for (struct esp_sa *sa = esp_sad_first(esp_engine_sad(e)); sa;
	     sa = esp_sad_next(sa)) {
		struct esp_sa_stats st;
		esp_sa_stats_read(sa, &st);
		fprintf(f, "%s{\"spi\":\"0x%08x\",\"src\":", first ? "" : ",", sa->p.spi);
		json_string(f, esp_addr_str(&sa->p.src, a));
		fprintf(f, ",\"dst\":");
		json_string(f, esp_addr_str(&sa->p.dst, b));
		fprintf(f, ",\"packets\":%lu,\"bytes\":%lu,\"seq_out\":%lu,\"drops\":{",
			(unsigned long)st.packets, (unsigned long)st.bytes,
			(unsigned long)esp_sa_seq_out(sa));
		int f2 = 1;
		for (int i = 0; i < ESP_DROP__COUNT; i++) {
			if (!st.drops[i])
				continue;
			fprintf(f, "%s\"%s\":%lu", f2 ? "" : ",", esp_drop_name(i),
				(unsigned long)st.drops[i]);
			f2 = 0;
		}
		fprintf(f, "}}");
		first = 0;
	}
	fprintf(f, "]}\n");
}

static void print_summary(struct esp_engine *e, const struct pcap_run *run)
{
	struct esp_counters c;

	esp_engine_counters(e, &c);
	printf("%lu packets: %lu encap, %lu decap, %lu keepalive, %lu bypass, "
	       "%lu dropped", (unsigned long)c.packets, (unsigned long)c.encap,
	       (unsigned long)c.decap, (unsigned long)c.keepalive,
	       (unsigned long)c.bypass, (unsigned long)c.dropped);
	const char *sep = " (";
	for (int i = 0; i < ESP_DROP__COUNT; i++) {
		if (!c.drops[i])
			continue;
		printf("%s%s %lu", sep, esp_drop_name(i), (unsigned long)c.drops[i]);
		sep = ", ";
	}
	printf("%s\n", *sep == ',' ? ")" : "");
	if (run->skipped)
		printf("%lu frames without IP skipped\n", run->skipped);
}

static int load_sas(struct esp_engine *e, const char *path)
{
	size_t len;
	char err[ESP_SAFILE_ERRLEN];
	char *text = read_file(path, SA_FILE_MAX, &len);

	if (!text) {
		fprintf(stderr, "espnat pcap: %s: %s\n", path, strerror(errno));
		return -1;
	}
	int n = esp_safile_load(e, text, len, err, sizeof(err));
	free_secret(text, len);
	if (n < 0) {
		fprintf(stderr, "espnat pcap: %s: %s\n", path, err);
		return -1;
	}
	return 0;
}

/* Feeds every IP packet through the engine and writes what survives. */
static int run_packets(struct esp_worker *w, struct pcap_reader *in,
		       struct pcap_writer *out, struct pcap_run *run)
{
	static uint8_t buf[PKT_HEADROOM + PACKET_MAX + PKT_TAILROOM];
	unsigned long n = 0;

	for (;;) {
		const uint8_t *ip;
		uint32_t len;
		struct timeval ts;
		struct esp_result r;
		struct pkt p;

		enum pcap_next_result nr = pcap_reader_next(in, &ip, &len, &ts);
		if (nr == PCAP_NEXT_END)
			return 0;
		if (nr == PCAP_NEXT_ERROR) {
			fprintf(stderr, "espnat pcap: %s: %s\n", run->in_path,
				pcap_reader_error(in));
			return -1;
		}
		n++;
		if (nr == PCAP_NEXT_OTHER) {
			run->skipped++;
			if (run->verbose)
				printf("%lu skipped (not IP)\n", n);
			continue;
		}
		if (len > PACKET_MAX)
			len = PACKET_MAX;
		pkt_init(&p, buf, sizeof(buf));
		memcpy(pkt_data(&p), ip, len);
		p.len = len;
		/* capture time is the engine's time: liveness follows the capture */
		uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_usec / 1000;
		esp_worker_set_time(w, now);
		if (run->silent_after_ms)
			nat_liveness_sweep(run->engine, now, run->silent_after_ms);

		enum esp_verdict v = esp_process(w, &p, ESP_HINT_ANY, &r);
		if (run->verbose)
			print_verdict(n, &r);
		if (v == ESP_VERDICT_DROP || v == ESP_VERDICT_CONSUME)
			continue;
		if (pcap_writer_write(out, pkt_data(&p), p.len, &ts)) {
			fprintf(stderr, "espnat pcap: %s: write failed\n", run->out_path);
			return -1;
		}
		run->written++;
	}
}

static int write_stats_file(struct esp_engine *e, const struct pcap_run *run)
{
	if (strcmp(run->stats_path, "-") == 0) {
		write_stats(stdout, e, run);
		return 0;
	}
	FILE *f = fopen(run->stats_path, "w");
	if (!f) {
		fprintf(stderr, "espnat pcap: %s: %s\n", run->stats_path, strerror(errno));
		return -1;
	}
	write_stats(f, e, run);
	if (fclose(f) != 0) {
		fprintf(stderr, "espnat pcap: %s: %s\n", run->stats_path, strerror(errno));
		return -1;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct pcap_run *run)
{
	static const struct option opts[] = {
		{ "sa", required_argument, NULL, 's' },
		{ "in", required_argument, NULL, 'i' },
		{ "out", required_argument, NULL, 'o' },
		{ "stats-json", required_argument, NULL, 'j' },
		{ "show-table", no_argument, NULL, 't' },
		{ "wireshark-sa", required_argument, NULL, 'w' },
		{ "silent-after", required_argument, NULL, 'S' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "vqh", opts, NULL)) != -1) {
		switch (c) {
		case 's': run->sa_path = optarg; break;
		case 'i': run->in_path = optarg; break;
		case 'o': run->out_path = optarg; break;
		case 'j': run->stats_path = optarg; break;
		case 't': run->show_table = 1; break;
		case 'w': run->wireshark_path = optarg; break;
		case 'S': {
			char *end;
			unsigned long sec = strtoul(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || sec == 0 || sec > 86400 * 365) {
				fprintf(stderr, "espnat pcap: --silent-after takes seconds, not '%s'\n", optarg);
				return 2;
			}
			run->silent_after_ms = (uint64_t)sec * 1000;
			break;
		}
		case 'v': run->verbose = 1; break;
		case 'q': run->quiet = 1; break;
		case 'h': usage(stdout); return 1;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "espnat pcap: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!run->sa_path || !run->in_path || !run->out_path) {
		fprintf(stderr, "espnat pcap: --sa, --in and --out are required\n");
		usage(stderr);
		return 2;
	}
	return 0;
}

int cmd_pcap(int argc, char **argv)
{
	struct pcap_run run = { 0 };
	char err[512];
	int ret = 1;

	int a = parse_args(argc, argv, &run);
	if (a)
		return a == 1 ? 0 : 2;

	struct esp_engine *e = esp_engine_new();
	struct esp_worker *w = e ? esp_worker_new(e) : NULL;
	struct pcap_reader *in = NULL;
	struct pcap_writer *out = NULL;
	if (!w) {
		fprintf(stderr, "espnat pcap: out of memory\n");
		goto done;
	}
	run.engine = e;
	esp_engine_on_event(e, print_event, &run);
	if (load_sas(e, run.sa_path))
		goto done;
	if (run.show_table)
		print_tables(e);
	if (run.wireshark_path &&
	    wireshark_write_esp_sa(run.wireshark_path, esp_engine_sad(e))) {
		fprintf(stderr, "espnat pcap: %s: %s\n", run.wireshark_path, strerror(errno));
		goto done;
	}
	in = pcap_reader_open(run.in_path, err, sizeof(err));
	if (!in) {
		fprintf(stderr, "espnat pcap: %s: %s\n", run.in_path, err);
		goto done;
	}
	out = pcap_writer_open(run.out_path, err, sizeof(err));
	if (!out) {
		fprintf(stderr, "espnat pcap: %s: %s\n", run.out_path, err);
		goto done;
	}
	if (run_packets(w, in, out, &run))
		goto done;
	int closed = pcap_writer_close(out);
	out = NULL;
	if (closed) {
		fprintf(stderr, "espnat pcap: %s: write failed\n", run.out_path);
		goto done;
	}
	if (!run.quiet)
		print_summary(e, &run);
	if (run.stats_path && write_stats_file(e, &run))
		goto done;
	ret = 0;
done:
	if (out)
		pcap_writer_close(out);
	pcap_reader_close(in);
	esp_engine_free(e);
	return ret;
}
