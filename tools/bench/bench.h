/* espnat bench: the engine's packet rate without I/O, beside the crypto
 * bound (the same cipher and HMAC work on the same lengths, with nothing
 * else), measured in the same run. */
#ifndef ESPNAT_TOOLS_BENCH_H
#define ESPNAT_TOOLS_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/batch.h"
#include "engine/crypto.h"
#include "engine/sa.h"

#define BENCH_MAX_SIZES 16
#define BENCH_MAX_ALGS 10
#define BENCH_MAX_THREADS 64
#define BENCH_IMIX 0		/* a size of 0 stands for IMIX */
#define BENCH_MAX_BURST 256

enum bench_op { BENCH_ENCAP, BENCH_DECAP };

enum bench_mode { BENCH_TRANSPORT, BENCH_TUNNEL, BENCH_UDP_ENC_TUN };

struct bench_alg {
	enum esp_enc enc;
	uint8_t enc_key_len;
	enum esp_auth auth;
};

/* "aes128-sha1", as strongSwan names ESP proposals; 0 or -1. */
int bench_alg_parse(const char *s, struct bench_alg *out);
void bench_alg_name(const struct bench_alg *a, char *buf, size_t len);
/* The ten combinations: {null, aes128, aes192, aes256, 3des} x {md5, sha1}. */
size_t bench_all_algs(struct bench_alg out[BENCH_MAX_ALGS]);

/* IP packet sizes of IMIX (7:4:1 of 64, 576 and 1400 bytes), in the order
 * packets cycle through them, and its mean. */
#define BENCH_IMIX_LEN 12
extern const uint16_t bench_imix[BENCH_IMIX_LEN];
double bench_mean_size(uint32_t size);

/* Traffic spread over @nsas SAs: an engine with that many outbound SAs of
 * one algorithm and mode and, with @inbound (decap), one with the same SAs
 * inbound. */
struct bench_fixture;
struct bench_fixture *bench_fixture_new(const struct bench_alg *alg, enum bench_mode mode,
					uint32_t nsas, bool inbound, char *err, size_t errlen);
void bench_fixture_free(struct bench_fixture *f);
/* How long adding the SAs took (both engines), and what they grew the
 * process by (resident, bytes). */
double bench_fixture_install_s(const struct bench_fixture *f);
long bench_fixture_rss_bytes(const struct bench_fixture *f);

/* One measurement: @threads threads for @duration_s seconds. Rates are
 * packets per second of time spent inside the measured calls, summed
 * over the threads. */
struct bench_measure {
	enum bench_op op;
	uint32_t size;			/* IP packet bytes, or BENCH_IMIX */
	unsigned threads;
	double duration_s;
	enum esp_backend backend;	/* the engine's crypto backend */
	unsigned burst;			/* packets per esp_process_burst() */
};

/* The engine: esp_process_burst() on bursts of m->burst with m->backend
 * (the packets are set up, and for decap made, outside the measured
 * time). 0 or -1 when the engine refused a packet (a bug: the message
 * says which drop) or the backend could not be set up. */
int bench_engine(struct bench_fixture *f, const struct bench_measure *m, double *pps,
		 char *err, size_t errlen);
/* The bound: the cipher and the HMAC alone, on ESP's lengths for that
 * packet size and mode, contexts reused (crypto.c's own way, which is the
 * fastest OpenSSL usage we found), one packet after another: OpenSSL's
 * per-packet bound, whatever backend the engine uses. */
int bench_bound(struct bench_fixture *f, const struct bench_measure *m, double *pps,
		char *err, size_t errlen);

/* The backend alone (m->backend): its burst calls on one SA's ops, laid
 * out as the engine hands them over for that size, with none of the
 * engine's own work. */
int bench_backend(struct bench_fixture *f, const struct bench_measure *m, double *pps,
		  char *err, size_t errlen);

/* One figure of the report: medians. */
struct bench_row {
	struct bench_alg alg;
	enum bench_op op;
	uint32_t size;
	double engine_pps, bound_pps;
	double backend_pps;		/* the backend alone; 0: not measured */
	double gbps, bound_gbps;	/* of the packets as they came in */
};

struct bench_scale {
	uint32_t count;			/* SAs per engine */
	double install_per_s;
	double rss_per_sa;		/* once added */
	double rss_per_sa_run;		/* after the runs: with what a backend
					 * keyed on an SA's first packet */
	double random_line_ns;		/* a random line of as much memory as
					 * the SAs took once added
					 * (memprobe.c); <= 0: not measured */
};

/* The ESP payload a packet of @size becomes in @mode (what is encrypted)
 * and what the ICV covers. */
void bench_esp_lengths(const struct bench_alg *alg, enum bench_mode mode, uint32_t size,
		       uint32_t *enc_len, uint32_t *auth_len);

/* Resident set size of this process, bytes (from /proc/self/statm). */
long bench_rss_bytes(void);

#endif
