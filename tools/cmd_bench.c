/* espnat bench: the engine's packet rate without I/O, each figure beside
 * the crypto bound measured in the same run (tools/bench/). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/opensslv.h>

#include "tools/bench/bench.h"
#include "tools/bench/chart.h"
#include "tools/bench/memprobe.h"
#include "tools/commands.h"
#include "tools/json.h"

#define MAX_ROWS (BENCH_MAX_ALGS * BENCH_MAX_SIZES * 2)
#define MAX_REPEAT 31

struct options {
	bool encap, decap;
	struct bench_alg algs[BENCH_MAX_ALGS];
	size_t nalgs;
	uint32_t sizes[BENCH_MAX_SIZES];
	size_t nsizes;
	enum bench_mode mode;
	unsigned threads;
	uint32_t sas;
	double duration_s;
	unsigned repeat;
	const char *json_path;
	const char *svg_path;
	bool quiet;
	enum esp_backend backend;
	unsigned burst;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: espnat bench [OPTIONS]\n\n"
		"The engine's packet rate without I/O, each figure beside the crypto bound:\n"
		"the same cipher and HMAC work on the same lengths, nothing else, measured\n"
		"in the same run. Figures are medians of --repeat runs.\n\n"
		"  --op encap|decap|both     what to measure (default both)\n"
		"  --alg LIST|all            ENC-AUTH, comma-separated: ENC null, aes128, aes192,\n"
		"                            aes256 or 3des, AUTH md5 or sha1 (default aes128-sha1)\n"
		"  --sizes LIST              IP packet sizes, 40-9000, and imix (7:4:1 of 64, 576,\n"
		"                            1400) (default 64,128,256,512,1024,1400,imix)\n"
		"  --mode transport|tunnel|udp-enc-tun   (default udp-enc-tun)\n"
		"  --threads N               worker threads, each with its own SAs (default 1)\n"
		"  --sas N                   SAs the traffic is spread over (default 1); prints\n"
		"                            how long adding them took and the memory per SA\n"
		"  --backend openssl|ipsec-mb  the engine's crypto backend for bursts (default\n"
		"                            openssl; ipsec-mb when built in); the bound is\n"
		"                            always OpenSSL's, one packet after another;\n"
		"                            another backend is also measured alone (its\n"
		"                            burst calls on ready ops: 'backend Mpps')\n"
		"  --burst N                 packets per esp_process_burst() call, 1-%d\n"
		"                            (default 32)\n"
		"  --duration SEC            each run (default 0.5)\n"
		"  --repeat N                runs per figure, the median is shown (default 3)\n"
		"  --json FILE               the results as JSON (- for stdout)\n"
		"  --svg FILE                a chart: Gbit/s against packet size, with the bound\n"
		"  -q, --quiet               no progress on stderr\n", BENCH_MAX_BURST);
}

static int parse_algs(char *s, struct options *o)
{
	o->nalgs = 0;
	if (strcmp(s, "all") == 0) {
		o->nalgs = bench_all_algs(o->algs);
		return 0;
	}
	for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
		if (o->nalgs == BENCH_MAX_ALGS || bench_alg_parse(tok, &o->algs[o->nalgs])) {
			fprintf(stderr, "espnat bench: '%s' is no ENC-AUTH (e.g. aes128-sha1)\n", tok);
			return -1;
		}
		o->nalgs++;
	}
	return o->nalgs ? 0 : -1;
}

static int parse_sizes(char *s, struct options *o)
{
	o->nsizes = 0;
	for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
		char *end;
		unsigned long v = strcmp(tok, "imix") == 0 ? BENCH_IMIX : strtoul(tok, &end, 10);
		if (o->nsizes == BENCH_MAX_SIZES ||
		    (strcmp(tok, "imix") != 0 && (*end || v < 40 || v > 9000))) {
			fprintf(stderr, "espnat bench: size '%s' is not 40-9000 or imix\n", tok);
			return -1;
		}
		o->sizes[o->nsizes++] = (uint32_t)v;
	}
	return o->nsizes ? 0 : -1;
}

static int parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno || *end || *s == '-' || *out < lo || *out > hi ? -1 : 0;
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option opts[] = {
		{ "op", required_argument, NULL, 'o' }, { "alg", required_argument, NULL, 'a' },
		{ "sizes", required_argument, NULL, 's' }, { "mode", required_argument, NULL, 'm' },
		{ "threads", required_argument, NULL, 't' }, { "sas", required_argument, NULL, 'n' },
		{ "duration", required_argument, NULL, 'd' }, { "repeat", required_argument, NULL, 'r' },
		{ "json", required_argument, NULL, 'j' }, { "svg", required_argument, NULL, 'g' },
		{ "quiet", no_argument, NULL, 'q' }, { "help", no_argument, NULL, 'h' },
		{ "backend", required_argument, NULL, 'b' }, { "burst", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	char sizes[] = "64,128,256,512,1024,1400,imix", alg[] = "aes128-sha1";
	unsigned long v;
	int c;

	*o = (struct options){ .encap = true, .decap = true, .mode = BENCH_UDP_ENC_TUN,
			       .threads = 1, .sas = 1, .duration_s = 0.5, .repeat = 3,
			       .backend = ESP_BACKEND_OPENSSL, .burst = 32 };
	parse_sizes(sizes, o);
	parse_algs(alg, o);
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			o->encap = strcmp(optarg, "encap") == 0 || strcmp(optarg, "both") == 0;
			o->decap = strcmp(optarg, "decap") == 0 || strcmp(optarg, "both") == 0;
			if (!o->encap && !o->decap) {
				fprintf(stderr, "espnat bench: --op is encap, decap or both\n");
				return 2;
			}
			break;
		case 'a':
			if (parse_algs(optarg, o))
				return 2;
			break;
		case 's':
			if (parse_sizes(optarg, o))
				return 2;
			break;
		case 'm':
			if (strcmp(optarg, "transport") == 0)
				o->mode = BENCH_TRANSPORT;
			else if (strcmp(optarg, "tunnel") == 0)
				o->mode = BENCH_TUNNEL;
			else if (strcmp(optarg, "udp-enc-tun") == 0 || strcmp(optarg, "UDP-enc-tun") == 0)
				o->mode = BENCH_UDP_ENC_TUN;
			else {
				fprintf(stderr, "espnat bench: --mode is transport, tunnel or udp-enc-tun\n");
				return 2;
			}
			break;
		case 't':
			if (parse_uint(optarg, 1, BENCH_MAX_THREADS, &v)) {
				fprintf(stderr, "espnat bench: --threads is 1-%d\n", BENCH_MAX_THREADS);
				return 2;
			}
			o->threads = (unsigned)v;
			break;
		case 'n':
			if (parse_uint(optarg, 1, 16000000, &v)) {
				fprintf(stderr, "espnat bench: --sas is 1-16000000\n");
				return 2;
			}
			o->sas = (uint32_t)v;
			break;
		case 'd': {
			char *end;
			o->duration_s = strtod(optarg, &end);
			if (*end || !(o->duration_s >= 0.01 && o->duration_s <= 600)) {
				fprintf(stderr, "espnat bench: --duration is 0.01-600 seconds\n");
				return 2;
			}
			break;
		}
		case 'r':
			if (parse_uint(optarg, 1, MAX_REPEAT, &v)) {
				fprintf(stderr, "espnat bench: --repeat is 1-%d\n", MAX_REPEAT);
				return 2;
			}
			o->repeat = (unsigned)v;
			break;
		case 'b': {
			int b = esp_backend_by_name(optarg);
			const char *why;
			if (b < 0) {
				fprintf(stderr, "espnat bench: --backend is openssl or ipsec-mb\n");
				return 2;
			}
			if (esp_backend_check((enum esp_backend)b, &why)) {
				fprintf(stderr, "espnat bench: --backend %s: %s\n", optarg, why);
				return 2;
			}
			o->backend = (enum esp_backend)b;
			break;
		}
		case 'u':
			if (parse_uint(optarg, 1, BENCH_MAX_BURST, &v)) {
				fprintf(stderr, "espnat bench: --burst is 1-%d\n", BENCH_MAX_BURST);
				return 2;
			}
			o->burst = (unsigned)v;
			break;
		case 'j':
			o->json_path = optarg;
			break;
		case 'g':
			o->svg_path = optarg;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "espnat bench: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (o->decap && o->sas < o->threads) {
		/* threads sharing an inbound SA would reorder past its window */
		fprintf(stderr, "espnat bench: decap needs --sas >= --threads\n");
		return 2;
	}
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static const char *mode_name(enum bench_mode m)
{
	return m == BENCH_TRANSPORT ? "transport" : m == BENCH_TUNNEL ? "tunnel" : "UDP-enc-tun";
}

static void size_name(uint32_t size, char *buf, size_t len)
{
	if (size == BENCH_IMIX)
		snprintf(buf, len, "imix");
	else
		snprintf(buf, len, "%u", size);
}

static void cpu_model(char *buf, size_t len)
{
	char line[256];
	FILE *f = fopen("/proc/cpuinfo", "r");

	snprintf(buf, len, "unknown CPU");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');
		if (strncmp(line, "model name", 10) == 0 && colon) {
			colon += strspn(colon + 1, " ") + 1;
			colon[strcspn(colon, "\n")] = '\0';
			snprintf(buf, len, "%s", colon);
			break;
		}
	}
	fclose(f);
}

/* A batch backend other than OpenSSL is also measured alone: OpenSSL's
 * bound is per packet, and the engine's share of a burst's time shows
 * only beside what the backend itself does. */
static bool backend_row(const struct options *o)
{
	return o->backend != ESP_BACKEND_OPENSSL;
}

/* Engine, bound (and backend) alternate, so that all see the same noise. */
static int measure_row(struct bench_fixture *f, const struct options *o, enum bench_op op,
		       uint32_t size, struct bench_row *row, char *err, size_t errlen)
{
	double eng[MAX_REPEAT], bound[MAX_REPEAT], backend[MAX_REPEAT];
	struct bench_measure m = { op, size, o->threads, o->duration_s, o->backend, o->burst };

	for (unsigned r = 0; r < o->repeat; r++)
		if (bench_engine(f, &m, &eng[r], err, errlen) ||
		    bench_bound(f, &m, &bound[r], err, errlen) ||
		    (backend_row(o) && bench_backend(f, &m, &backend[r], err, errlen)))
			return -1;
	row->op = op;
	row->size = size;
	row->engine_pps = median(eng, o->repeat);
	row->bound_pps = median(bound, o->repeat);
	row->backend_pps = backend_row(o) ? median(backend, o->repeat) : 0;
	row->gbps = row->engine_pps * bench_mean_size(size) * 8 / 1e9;
	row->bound_gbps = row->bound_pps * bench_mean_size(size) * 8 / 1e9;
	return 0;
}

static void print_row(const struct bench_row *r)
{
	char name[32], size[16];

	bench_alg_name(&r->alg, name, sizeof(name));
	size_name(r->size, size, sizeof(size));
	printf("%-14s %-6s %5s %11.3f %8.3f %11.3f %8.2f", name,
	       r->op == BENCH_ENCAP ? "encap" : "decap", size, r->engine_pps / 1e6, r->gbps,
	       r->bound_pps / 1e6, r->engine_pps / r->bound_pps);
	if (r->backend_pps)
		printf(" %13.3f %8.2f", r->backend_pps / 1e6, r->engine_pps / r->backend_pps);
	printf("\n");
	fflush(stdout);
}

static void write_json(FILE *out, const struct options *o, const char *cpu,
		       const struct bench_row *rows, size_t n, const struct bench_scale *scale)
{
	struct json_writer w = { 0 };
	char name[32], size[16];

	json_w_begin_object(&w);
	json_w_key(&w, "machine");
	json_w_begin_object(&w);
	json_w_kv_string(&w, "cpu", cpu);
	json_w_kv_int(&w, "cpus", sysconf(_SC_NPROCESSORS_ONLN));
	json_w_kv_string(&w, "openssl", OpenSSL_version(OPENSSL_VERSION));
	json_w_end_object(&w);
	json_w_key(&w, "config");
	json_w_begin_object(&w);
	json_w_kv_string(&w, "mode", mode_name(o->mode));
	json_w_kv_uint(&w, "threads", o->threads);
	json_w_kv_uint(&w, "sas", o->sas);
	json_w_kv_double(&w, "duration_s", o->duration_s);
	json_w_kv_uint(&w, "repeat", o->repeat);
	json_w_kv_string(&w, "backend", esp_backend_name(o->backend));
	json_w_kv_uint(&w, "burst", o->burst);
	json_w_end_object(&w);
	if (scale) {
		json_w_key(&w, "sas");
		json_w_begin_object(&w);
		json_w_kv_uint(&w, "count", scale->count);
		json_w_kv_double(&w, "install_per_s", scale->install_per_s);
		json_w_kv_double(&w, "rss_bytes_per_sa", scale->rss_per_sa);
		json_w_kv_double(&w, "rss_bytes_per_sa_after_runs", scale->rss_per_sa_run);
		if (scale->random_line_ns > 0)
			json_w_kv_double(&w, "random_line_ns", scale->random_line_ns);
		json_w_end_object(&w);
	}
	json_w_key(&w, "rows");
	json_w_begin_array(&w);
	for (size_t i = 0; i < n; i++) {
		bench_alg_name(&rows[i].alg, name, sizeof(name));
		size_name(rows[i].size, size, sizeof(size));
		json_w_begin_object(&w);
		json_w_kv_string(&w, "alg", name);
		json_w_kv_string(&w, "op", rows[i].op == BENCH_ENCAP ? "encap" : "decap");
		json_w_kv_string(&w, "size", size);
		json_w_kv_double(&w, "mean_bytes", bench_mean_size(rows[i].size));
		json_w_kv_double(&w, "engine_pps", rows[i].engine_pps);
		json_w_kv_double(&w, "engine_gbps", rows[i].gbps);
		json_w_kv_double(&w, "bound_pps", rows[i].bound_pps);
		json_w_kv_double(&w, "bound_gbps", rows[i].bound_gbps);
		json_w_kv_double(&w, "engine_over_bound", rows[i].engine_pps / rows[i].bound_pps);
		if (rows[i].backend_pps) {
			json_w_kv_double(&w, "backend_pps", rows[i].backend_pps);
			json_w_kv_double(&w, "engine_over_backend",
					 rows[i].engine_pps / rows[i].backend_pps);
		}
		json_w_end_object(&w);
	}
	json_w_end_array(&w);
	json_w_end_object(&w);
	if (!w.failed)
		fprintf(out, "%s\n", json_w_text(&w));
	json_w_free(&w);
}

static int write_outputs(const struct options *o, const char *cpu, const struct bench_row *rows,
			 size_t n, const struct bench_scale *scale)
{
	int rc = 0;

	if (o->json_path) {
		FILE *f = strcmp(o->json_path, "-") == 0 ? stdout : fopen(o->json_path, "w");
		if (!f) {
			fprintf(stderr, "espnat bench: %s: %s\n", o->json_path, strerror(errno));
			rc = 1;
		} else {
			write_json(f, o, cpu, rows, n, scale);
			if (f != stdout && fclose(f)) {
				fprintf(stderr, "espnat bench: %s: %s\n", o->json_path, strerror(errno));
				rc = 1;
			}
		}
	}
	if (o->svg_path) {
		char title[320];
		snprintf(title, sizeof(title), "espnat bench: %s, %u thread(s), %u SA(s); %s",
			 mode_name(o->mode), o->threads, o->sas, cpu);
		if (bench_chart_svg(o->svg_path, title, rows, n)) {
			fprintf(stderr, "espnat bench: %s: %s\n", o->svg_path, strerror(errno));
			rc = 1;
		}
	}
	return rc;
}

int cmd_bench(int argc, char **argv)
{
	static struct bench_row rows[MAX_ROWS];
	struct options o;
	struct bench_scale scale = { 0 };
	char cpu[128], err[256];
	size_t nrows = 0, total, done = 0;
	int rc = parse_options(argc, argv, &o);
	/* with --json - stdout is the JSON's alone: no table */
	bool table = !(o.json_path && strcmp(o.json_path, "-") == 0);

	if (rc)
		return rc;
	cpu_model(cpu, sizeof(cpu));
	total = o.nalgs * o.nsizes * ((size_t)o.encap + o.decap);
	if (table) {
		printf("espnat bench: %s, %u thread(s), %u SA(s), medians of %u x %.2g s, "
		       "backend %s, bursts of %u\n",
		       mode_name(o.mode), o.threads, o.sas, o.repeat, o.duration_s,
		       esp_backend_name(o.backend), o.burst);
		printf("%s, %ld CPU(s), %s\n\n", cpu, sysconf(_SC_NPROCESSORS_ONLN),
		       OpenSSL_version(OPENSSL_VERSION));
		printf("%-14s %-6s %5s %11s %8s %11s %8s", "alg", "op", "size", "engine Mpps",
		       "Gbit/s", "bound Mpps", "eng/bnd");
		if (backend_row(&o))
			printf(" %13s %8s", "backend Mpps", "eng/bkd");
		printf("\n");
	}
	for (size_t a = 0; a < o.nalgs; a++) {
		long rss_start = bench_rss_bytes();
		struct bench_fixture *f = bench_fixture_new(&o.algs[a], o.mode, o.sas, o.decap, err,
							    sizeof(err));
		if (!f) {
			fprintf(stderr, "espnat bench: %s\n", err);
			return 1;
		}
		if (a == 0 && o.sas > 1) {
			unsigned engines = o.decap ? 2 : 1;
			scale.count = o.sas;
			scale.install_per_s = (double)o.sas * engines / bench_fixture_install_s(f);
			scale.rss_per_sa = (double)bench_fixture_rss_bytes(f) / ((double)o.sas * engines);
			if (table)
				printf("(%u SAs x %u engine(s) added at %.0f SAs/s; %.0f bytes resident per SA)\n",
				       o.sas, engines, scale.install_per_s, scale.rss_per_sa);
			/* what a line of them costs when it is not in cache */
			long footprint = bench_fixture_rss_bytes(f);
			scale.random_line_ns = footprint > 0 ?
					       bench_random_line_ns((size_t)footprint) : -1;
			if (table && scale.random_line_ns > 0)
				printf("(a random cache line of as much memory, %.0f MiB: %.1f ns, "
				       "32 requested at a time)\n",
				       (double)footprint / (1 << 20), scale.random_line_ns);
		}
		for (int op = 0; op < 2; op++) {
			if ((op == BENCH_ENCAP && !o.encap) || (op == BENCH_DECAP && !o.decap))
				continue;
			for (size_t s = 0; s < o.nsizes; s++) {
				struct bench_row *row = &rows[nrows];
				char name[32], size[16];
				bench_alg_name(&o.algs[a], name, sizeof(name));
				size_name(o.sizes[s], size, sizeof(size));
				if (!o.quiet && isatty(STDERR_FILENO))
					fprintf(stderr, "\r[%zu/%zu] %s %s %s B   ", ++done, total, name,
						op == BENCH_ENCAP ? "encap" : "decap", size);
				row->alg = o.algs[a];
				if (measure_row(f, &o, (enum bench_op)op, o.sizes[s], row, err,
						sizeof(err))) {
					fprintf(stderr, "\nespnat bench: %s %s: %s\n", name, size, err);
					bench_fixture_free(f);
					return 1;
				}
				if (!o.quiet && isatty(STDERR_FILENO))
					fprintf(stderr, "\r%40s\r", "");
				if (table)
					print_row(row);
				nrows++;
			}
		}
		if (a == 0 && o.sas > 1) {
			/* both backends key an SA on its first packet (OpenSSL's
			 * context, the ipsec-mb schedules); the untimed warm-up
			 * reached every SA by now */
			unsigned engines = o.decap ? 2 : 1;
			scale.rss_per_sa_run = (double)(bench_rss_bytes() - rss_start) /
					       ((double)o.sas * engines);
			if (table)
				printf("(after the runs, with what the backend keyed on first use: "
				       "%.0f bytes resident per SA)\n", scale.rss_per_sa_run);
		}
		bench_fixture_free(f);
	}
	return write_outputs(&o, cpu, rows, nrows, o.sas > 1 ? &scale : NULL);
}
