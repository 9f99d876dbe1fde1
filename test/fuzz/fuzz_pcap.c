/* libFuzzer: the capture reader (tools/io/pcapfile.c) over classic pcap
 * files held in memory (a memfd, since the reader opens a path), and what
 * it yields run through two engines holding the bundled examples' SAs, as
 * `espnat pcap` would.
 *
 * The first byte picks the form of the rest: below 0x80 the rest is a
 * whole file as is (the seeds hold the bundled captures so); from 0x80 on
 * the harness writes the file header itself, with a link type from
 * link_types[] (bits 0-3), byte-swapped (0x40) or with nanosecond stamps
 * (0x20), the snapshot length from the next byte, and turns the rest into
 * records of [caplen:16][extra:8][bytes], the claimed caplen honoured as far
 * as bytes remain (a truncated file). Then the harness knows each record's
 * length and checks what the reader says against it. */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "engine/ip.h"
#include "engine/safile.h"
#include "test/fuzz/fuzz.h"
#include "tools/io/pcapfile.h"

#define MAX_RECORDS 256
#define MAX_FILE (1u << 20)

/* LINKTYPE_ values as files carry them; the last four are not supported */
static const uint32_t link_types[16] = {
	1,	/* Ethernet */
	101,	/* raw IP */
	228,	/* IPv4 */
	229,	/* IPv6 */
	113,	/* Linux cooked */
	276,	/* Linux cooked v2 */
	0,	/* BSD loopback (host-order family) */
	108,	/* OpenBSD loopback */
	1, 101, 113, 0,
	105,	/* 802.11 */
	9,	/* PPP */
	147,	/* user 0 */
	12,	/* DLT_RAW's number where it is not 101 */
};

static int memfd = -1;
static char path[64];
static struct esp_engine *engines[2];
static struct esp_worker *workers[2];

static char *read_text(const char *name, size_t *len)
{
	char file[512];
	FILE *f;

	snprintf(file, sizeof(file), "%s/%s", ESPNAT_SOURCE_ROOT, name);
	f = fopen(file, "r");
	if (!f) {
		fprintf(stderr, "fuzz_pcap: cannot read %s\n", file);
		abort();
	}
	char *text = calloc(1, 65536);
	if (!text)
		abort();
	*len = fread(text, 1, 65535, f);
	fclose(f);
	return text;
}

static void load_sas(int i, const char *name)
{
	char err[ESP_SAFILE_ERRLEN];
	size_t len;
	char *text = read_text(name, &len);

	engines[i] = esp_engine_new();
	if (!engines[i] || esp_safile_load(engines[i], text, len, err, sizeof(err)) <= 0) {
		fprintf(stderr, "fuzz_pcap: %s: %s\n", name, err);
		abort();
	}
	workers[i] = esp_worker_new(engines[i]);
	if (!workers[i])
		abort();
	free(text);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	memfd = memfd_create("fuzz_pcap", MFD_CLOEXEC);
	if (memfd < 0) {
		perror("memfd_create");
		abort();
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	/* the two bundled examples: plain registration, and the P-CSCF
	 * behind whose NAT the UE sits (learning its port) */
	load_sas(0, "examples/register/registration.sa");
	load_sas(1, "examples/nat/pcscf.sa");
	return 0;
}

struct file {
	uint8_t *buf;
	size_t len;
	uint32_t caplen[MAX_RECORDS];	/* what each record holds */
	size_t nrec;
	bool known;			/* the harness wrote the records */
};

static void put32(uint8_t *p, uint32_t v, bool swap)
{
	if (swap)
		v = __builtin_bswap32(v);
	memcpy(p, &v, 4);
}

static void put16(uint8_t *p, uint16_t v, bool swap)
{
	if (swap)
		v = __builtin_bswap16(v);
	memcpy(p, &v, 2);
}

static void build_file(struct fuzz_in *in, uint8_t form, struct file *f)
{
	bool swap = form & 0x40;
	uint8_t snap = fuzz_u8(in);
	uint32_t snaplen = snap ? (uint32_t)snap << 8 : 65535;
	uint8_t *p = f->buf;

	put32(p, form & 0x20 ? 0xa1b23c4d : 0xa1b2c3d4, swap);
	put16(p + 4, 2, swap);
	put16(p + 6, 4, swap);
	put32(p + 8, 0, swap);
	put32(p + 12, 0, swap);
	put32(p + 16, snaplen, swap);
	put32(p + 20, link_types[form & 0x0f], swap);
	f->len = 24;
	f->known = true;
	while (in->n && f->nrec < MAX_RECORDS) {
		uint16_t claimed = fuzz_u16(in);
		uint8_t extra = fuzz_u8(in);
		size_t got;
		const uint8_t *bytes = fuzz_take(in, claimed, &got);

		p = f->buf + f->len;
		put32(p, (uint32_t)f->nrec, swap);
		put32(p + 4, (uint32_t)extra * 1000, swap);
		put32(p + 8, claimed, swap);
		put32(p + 12, (uint32_t)claimed + extra, swap);
		memcpy(p + 16, bytes, got);
		f->len += 16 + got;
		if (got < claimed || claimed > snaplen)
			f->known = false;	/* libpcap may cut or refuse it */
		f->caplen[f->nrec++] = claimed;
	}
}

/* Each IP packet the reader gives: an exact-size copy (ASan then sees a
 * length that runs past the frame) through both engines. */
static void run_packet(const uint8_t *ip, uint32_t len, const struct timeval *ts)
{
	for (int i = 0; i < 2; i++) {
		uint8_t *mem = malloc(PKT_HEADROOM + len + PKT_TAILROOM);
		struct esp_result r;
		struct pkt p;

		if (!mem)
			abort();
		pkt_init(&p, mem, PKT_HEADROOM + len + PKT_TAILROOM);
		memcpy(pkt_data(&p), ip, len);
		p.len = len;
		esp_worker_set_time(workers[i], (uint64_t)ts->tv_sec * 1000);
		enum esp_verdict v = esp_process(workers[i], &p, ESP_HINT_ANY, &r);
		FUZZ_ASSERT(p.off + p.len <= p.cap, "verdict %d left %u+%u of %u", v, p.off,
			    p.len, p.cap);
		free(mem);
	}
}

static void read_file(const struct file *f)
{
	char err[256];
	struct pcap_reader *r;
	const uint8_t *ip;
	uint32_t len;
	struct timeval ts;
	size_t n = 0;

	if (ftruncate(memfd, 0) || pwrite(memfd, f->buf, f->len, 0) != (ssize_t)f->len)
		abort();
	err[0] = '\0';
	r = pcap_reader_open(path, err, sizeof(err));
	if (!r) {
		FUZZ_ASSERT(err[0], "open failed without a reason");
		return;
	}
	FUZZ_ASSERT(pcap_reader_linktype(r)[0], "no link type name");
	for (;;) {
		enum pcap_next_result res = pcap_reader_next(r, &ip, &len, &ts);

		if (res == PCAP_NEXT_END)
			break;
		if (res == PCAP_NEXT_ERROR) {
			FUZZ_ASSERT(pcap_reader_error(r)[0], "error without a message");
			break;
		}
		FUZZ_ASSERT(res == PCAP_NEXT_IP || res == PCAP_NEXT_OTHER, "result %d", res);
		if (f->known)
			FUZZ_ASSERT(n < f->nrec, "more frames than the %zu records", f->nrec);
		if (res == PCAP_NEXT_IP) {
			FUZZ_ASSERT(len > 0 && (ip[0] >> 4 == 4 || ip[0] >> 4 == 6),
				    "frame %zu: %u bytes of version %d", n, len, ip[0] >> 4);
			if (f->known)
				FUZZ_ASSERT(len <= f->caplen[n], "frame %zu: %u bytes of IP in %u",
					    n, len, f->caplen[n]);
			run_packet(ip, len, &ts);
		}
		n++;
	}
	pcap_reader_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct file f;
	struct fuzz_in in = { data, size };
	uint8_t form = fuzz_u8(&in);

	if (size > MAX_FILE / 2)
		return 0;
	if (!f.buf) {
		f.buf = malloc(MAX_FILE);
		if (!f.buf)
			abort();
	}
	f.len = 0;
	f.nrec = 0;
	f.known = false;
	if (form < 0x80) {
		memcpy(f.buf, in.p, in.n);
		f.len = in.n;
	} else {
		build_file(&in, form, &f);
	}
	read_file(&f);
	return 0;
}
