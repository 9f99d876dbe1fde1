/* libFuzzer: the engine's one entry point, esp_process() and
 * esp_process_burst(), against an engine ("A") holding SAs of every
 * cipher/MAC combination (NULL, AES-128-CBC, 3DES-CBC x HMAC-MD5-96,
 * HMAC-SHA-1-96) in every mode (transport, tunnel, UDP-encapsulated tunnel
 * with fixed ports, with a port still to learn and with one learned,
 * UDP-encapsulated transport with a learned port), IPv4 and IPv6 (and IPv4
 * inside IPv6), each way; plus the bundled P-CSCF's SAs (examples/nat), so
 * that the captured ESP of the seeds decapsulates for real.
 *
 * A second engine ("B") holds the mirror image, the peer's side with the
 * same keys: it encapsulates what A is to decapsulate, and decapsulates
 * what A encapsulated. Input layout, byte 0: bits 0-1 the hint, bits 2-4
 * the shape, bits 5-7 how far the clock moves. The shapes:
 *
 *   raw       the rest is the packet
 *   jumbo     a packet up to 70,000 bytes from a head, a repeated pattern
 *             and a tail (reaches the lengths past 65,535 a small input
 *             cannot)
 *   esp       an outer header to us and ESP with an SPI of ours (or any),
 *             the rest as its body: lookup, replay and ICV checks
 *   udp4500   UDP to port 4500: keepalive, IKE marker, ESP, anything
 *   out       a plaintext packet (UDP, TCP with options, ICMP, any
 *             protocol; IPv4 options, IPv6 extension headers; up to the
 *             largest size) for one of A's outbound SAs
 *   peer      a plaintext packet B encapsulates, then byte flips,
 *             truncation, a NAT's port rewrite and appended bytes
 *   sealed    ESP the harness seals itself with the SA's keys around a
 *             plaintext of the fuzzer's choosing (padding, next header and
 *             inner packet included), with the sequence number, source
 *             address and framing it picks: everything behind the ICV
 *   burst     up to 8 packets of the shapes above in one
 *             esp_process_burst() call
 *
 * What must hold, besides no sanitizer report:
 *   - every packet handed back (pass, decap, encap) is one IP packet of
 *     exactly its length, inside its buffer; the counters add up;
 *   - a packet inside an outbound selector never passes in clear, and
 *     what A encapsulates B decapsulates to the same packet;
 *   - an untouched packet from B, or a sealed one that is valid and new
 *     to the replay window, decapsulates to what went in (with RFC 6040's
 *     congestion mark where the outer header had one), its UDP or TCP
 *     checksum still right when it was (MSS clamping, RFC 3948 3.1.2).
 *
 * Packets sit in heap blocks of exactly PKT_HEADROOM + length +
 * PKT_TAILROOM bytes, so that AddressSanitizer sees any read past them;
 * under the inbound hint, which never encapsulates, head- and tailroom are
 * poisoned too: decapsulation must stay inside the packet. The engines
 * live across inputs (as a daemon's do), so the replay windows and learned
 * ports move on; what an oracle asserts never depends on that history.
 * FUZZ_VERBOSE=1 prints each verdict. */
#include <errno.h>
#include <sys/socket.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#define HAVE_ASAN 1
#endif
#endif

#include "engine/csum.h"
#include "engine/engine.h"
#include "engine/ip.h"
#include "engine/safile.h"
#include "test/fuzz/fuzz.h"

#define MAX_PACKET 70000	/* above IPv6's 65,575 */
#define BURST_MAX 8
#define PATH_MTU 1280
#define PORT_US 5066		/* our protected port */
#define PORT_PEER 5062		/* the peer's */

enum shape {
	SH_RAW, SH_JUMBO, SH_ESP, SH_UDP4500, SH_OUT, SH_PEER, SH_SEALED, SH_BURST,
};

/* ---- the SAs ---- */

struct combo {
	enum esp_enc enc;
	enum esp_auth auth;
	const char *words;	/* SA-file words for both */
	uint32_t window;
};

#define AES "enc 'cbc(aes)' 0x2b7e151628aed2a6abf7158809cf4f3c"
#define DES3 "enc 'cbc(des3_ede)' 0x0123456789abcdef23456789abcdef01456789abcdef0123"
#define NULLENC "enc 'ecb(cipher_null)' \"\""
#define MD5 "auth-trunc 'hmac(md5)' 0x000102030405060708090a0b0c0d0e0f 96"
#define SHA1 "auth-trunc 'hmac(sha1)' 0x000102030405060708090a0b0c0d0e0f10111213 96"

/* the replay windows differ too: none, small, the default, large */
static const struct combo combos[] = {
	{ ESP_ENC_NULL, ESP_AUTH_HMAC_MD5_96, NULLENC " " MD5, 0 },
	{ ESP_ENC_NULL, ESP_AUTH_HMAC_SHA1_96, NULLENC " " SHA1, 64 },
	{ ESP_ENC_AES_CBC, ESP_AUTH_HMAC_MD5_96, AES " " MD5, 32 },
	{ ESP_ENC_AES_CBC, ESP_AUTH_HMAC_SHA1_96, AES " " SHA1, 64 },
	{ ESP_ENC_3DES_CBC, ESP_AUTH_HMAC_MD5_96, DES3 " " MD5, 1024 },
	{ ESP_ENC_3DES_CBC, ESP_AUTH_HMAC_SHA1_96, DES3 " " SHA1, 64 },
};
#define NCOMBOS (sizeof(combos) / sizeof(combos[0]))

static const uint8_t aes_key[16] = {
	0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6,
	0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c,
};
static const uint8_t des3_key[24] = {
	0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
	0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01,
	0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23,
};
static const uint8_t auth_key[20] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
	0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13,
};

enum mode {
	M_TRANS,		/* transport, any protocol between the two */
	M_TUN,			/* tunnel, UDP/TCP between the ports */
	M_UDP_TUN,		/* ESP-in-UDP tunnel, fixed ports, no reqid;
				 * over IPv6 it carries IPv4 */
	M_UDP_TUN_LEARN,	/* ESP-in-UDP tunnel, reqid, port to learn */
	M_UDP_TUN_LEARNED,	/* the same, the port learned at start */
	M_UDP_TRANS_LEARNED,	/* ESP-in-UDP transport, port learned */
	M_COUNT
};

#define NSLOTS (2 * NCOMBOS * M_COUNT)

struct slot {
	const struct combo *c;
	enum mode mode;
	int k;				/* index within its family */
	bool tunnel, udp, learn, ports;
	struct esp_addr us, peer;	/* outer */
	struct esp_addr us_in, peer_in;	/* what the selectors name */
	uint32_t spi_in;		/* A's inbound SA, fed by B */
	uint32_t spi_seal;		/* A's inbound SA, fed by the harness */
	uint32_t spi_out;		/* A's outbound SA */
	uint32_t reqid;
	uint16_t nat_port;		/* where the peer's NAT maps its 4500 */
	uint32_t seal_top;		/* highest sequence number sealed so far */
	struct esp_cipher seal_cipher;
	struct esp_hmac seal_hmac;
};

static struct slot slots[NSLOTS];
static struct esp_engine *ea, *eb;
static struct esp_worker *wa, *wb;
static uint64_t now_ms = 1000000;
static uint64_t events_seen;

static void addr(struct esp_addr *a, const char *text)
{
	if (esp_addr_parse(text, a))
		abort();
}

static void slot_addresses(struct slot *s, bool v6)
{
	char b[64];

	if (!v6) {
		addr(&s->us, "192.0.2.1");
		snprintf(b, sizeof(b), "198.51.100.%d", 100 + s->k);
		addr(&s->peer, b);
	} else {
		addr(&s->us, "2001:db8::1");
		snprintf(b, sizeof(b), "2001:db8:1::%x", s->k + 1);
		addr(&s->peer, b);
	}
	if (!s->tunnel) {
		s->us_in = s->us;
		s->peer_in = s->peer;
	} else if (!v6 || s->mode == M_UDP_TUN) {
		addr(&s->us_in, "10.0.0.1");
		snprintf(b, sizeof(b), "10.%d.%d.2", v6 ? 2 : 1, s->k);
		addr(&s->peer_in, b);
	} else {
		addr(&s->us_in, "2001:db8:a::1");
		snprintf(b, sizeof(b), "2001:db8:b:%x::2", s->k);
		addr(&s->peer_in, b);
	}
}

/* The SA-file line of one SA of @s: @flow_in for peer -> us; @side_a for
 * the engine under test, else its peer B. */
static void sa_line(char *buf, size_t len, const struct slot *s, bool side_a,
		    bool flow_in, uint32_t spi)
{
	char us[ESP_ADDRSTRLEN], peer[ESP_ADDRSTRLEN], ui[ESP_ADDRSTRLEN], pi[ESP_ADDRSTRLEN];
	char encap[96] = "", ports[48] = "", reqid[24] = "";
	const char *oa = s->us.family == AF_INET ? "0.0.0.0" : "::";

	esp_addr_str(&s->us, us);
	esp_addr_str(&s->peer, peer);
	esp_addr_str(&s->us_in, ui);
	esp_addr_str(&s->peer_in, pi);
	if (s->udp) {
		/* A learns the peer's NAT port; B, behind the NAT, sends
		 * from 4500 to 4500 */
		const char *pp = side_a && s->learn ? (flow_in ? "0 4500" : "4500 0") : "4500 4500";
		snprintf(encap, sizeof(encap), " encap espinudp %s %s", pp, oa);
	}
	if (s->ports)
		snprintf(ports, sizeof(ports), " sport %d dport %d",
			 flow_in ? PORT_PEER : PORT_US, flow_in ? PORT_US : PORT_PEER);
	if (side_a && s->learn)
		snprintf(reqid, sizeof(reqid), " reqid %u", s->reqid);
	snprintf(buf, len, "src %s dst %s proto esp spi %u%s mode %s replay-window %u %s%s "
		 "sel src %s dst %s%s dir %s",
		 flow_in ? peer : us, flow_in ? us : peer, spi, reqid,
		 s->tunnel ? "tunnel" : "transport", s->c->window, s->c->words, encap,
		 flow_in ? pi : ui, flow_in ? ui : pi, ports,
		 flow_in == side_a ? "in" : "out");
}

static void add_line(struct esp_engine *e, const char *line)
{
	struct esp_sa_params p;
	char err[ESP_SAFILE_ERRLEN];
	const char *why;

	if (esp_safile_parse_line(line, &p, err, sizeof(err)) != 1) {
		fprintf(stderr, "fuzz_engine: %s\n  %s\n", err, line);
		abort();
	}
	if (esp_engine_add_sa(e, &p, &why)) {
		fprintf(stderr, "fuzz_engine: refused: %s\n  %s\n", why, line);
		abort();
	}
	esp_sa_params_wipe(&p);
}

static void add_seal_sa(struct slot *s)
{
	char line[1024];

	sa_line(line, sizeof(line), s, true, true, s->spi_seal);
	add_line(ea, line);
	s->seal_top = 0;
}

static void on_event(void *arg, const struct esp_event *ev)
{
	char text[512];

	(void)arg;
	FUZZ_ASSERT(ev->type < ESP_EVENT__COUNT, "event type %d", ev->type);
	int n = esp_event_format(ev, text, sizeof(text));
	FUZZ_ASSERT(n > 0 && strlen(text) == ((size_t)n < sizeof(text) ? (size_t)n :
					      sizeof(text) - 1),
		    "event format: %d for \"%s\"", n, text);
	FUZZ_ASSERT(strncmp(text, esp_event_name(ev->type), strlen(esp_event_name(ev->type))) == 0,
		    "event \"%s\" is not named %s", text, esp_event_name(ev->type));
	events_seen++;
}

static void load_example(void)
{
	char file[512], err[ESP_SAFILE_ERRLEN];
	static char text[65536];

	snprintf(file, sizeof(file), "%s/examples/nat/pcscf.sa", ESPNAT_SOURCE_ROOT);
	FILE *f = fopen(file, "r");
	if (!f) {
		fprintf(stderr, "fuzz_engine: cannot read %s\n", file);
		abort();
	}
	size_t len = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	if (esp_safile_load(ea, text, len, err, sizeof(err)) <= 0) {
		fprintf(stderr, "fuzz_engine: %s: %s\n", file, err);
		abort();
	}
}

/* ---- packets ---- */

struct fpkt {
	uint8_t *mem;
	uint32_t cap;
	struct pkt p;
	bool poisoned;
	/* what the result must be, when the harness knows */
	enum { OR_NONE, OR_DECAP, OR_NOT_CLEAR, OR_ROUND_TRIP } oracle;
	uint8_t *want;		/* the plaintext expected back */
	uint32_t want_len;
	bool want_transport;	/* compare from the upper-layer header on */
	uint8_t want_proto;
	bool looks_inbound;	/* ESP, or UDP that may go to 4500: the ANY
				 * hint classifies it as arriving */
	bool want_csum;		/* its UDP/TCP checksum was right: so must
				 * the result's be (MSS clamping, RFC 3948) */
};

static void fpkt_set(struct fpkt *f, const uint8_t *data, uint32_t len)
{
	memset(f, 0, sizeof(*f));
	f->cap = PKT_HEADROOM + len + PKT_TAILROOM;
	f->mem = malloc(f->cap);
	if (!f->mem)
		abort();
	memset(f->mem, 0xa5, f->cap);
	pkt_init(&f->p, f->mem, f->cap);
	memcpy(pkt_data(&f->p), data, len);
	f->p.len = len;
}

static void fpkt_want(struct fpkt *f, const uint8_t *data, uint32_t len)
{
	f->want = malloc(len ? len : 1);
	if (!f->want)
		abort();
	memcpy(f->want, data, len);
	f->want_len = len;
}

/* Inbound processing never encapsulates: nothing outside the packet may
 * be touched. */
static void fpkt_poison(struct fpkt *f)
{
#ifdef HAVE_ASAN
	ASAN_POISON_MEMORY_REGION(f->mem, f->p.off);
	ASAN_POISON_MEMORY_REGION(f->mem + f->p.off + f->p.len,
				  f->cap - f->p.off - f->p.len);
	f->poisoned = true;
#else
	(void)f;
#endif
}

static void fpkt_free(struct fpkt *f)
{
#ifdef HAVE_ASAN
	if (f->poisoned)
		ASAN_UNPOISON_MEMORY_REGION(f->mem, f->cap);
#endif
	free(f->mem);
	free(f->want);
	f->mem = f->want = NULL;
}

static const struct slot *pick_slot(struct fuzz_in *in)
{
	return &slots[fuzz_u8(in) % NSLOTS];
}

/* The options of a plaintext packet: what the fuzzer may vary. */
struct plain_opts {
	uint8_t l4;		/* 0 UDP, 1 TCP, 2 ICMP, 3 the raw protocol */
	uint8_t raw_proto;
	bool syn_mss;		/* TCP SYN with an MSS option */
	uint16_t mss;
	bool ip_opts;		/* IPv4 options / an IPv6 extension header */
	uint8_t opt_len;
	uint8_t ext_type;
	bool fragment;
	bool bad_csum;
	bool own_ports;		/* ports of the fuzzer's choosing */
	uint16_t sport, dport;
	uint8_t tclass;
	uint8_t ttl;
	size_t fill_to;		/* grow the payload to this (repeating it) */
};

static void take_opts(struct fuzz_in *in, struct plain_opts *o)
{
	uint8_t f = fuzz_u8(in);

	memset(o, 0, sizeof(*o));
	o->l4 = f & 3;
	o->syn_mss = f & 4;
	o->ip_opts = f & 8;
	o->fragment = f & 16;
	o->bad_csum = f & 32;
	o->own_ports = f & 64;
	o->raw_proto = fuzz_u8(in);
	o->mss = fuzz_u16(in);
	o->opt_len = fuzz_u8(in);
	o->ext_type = fuzz_u8(in);
	o->tclass = fuzz_u8(in);
	if (o->own_ports) {
		o->sport = fuzz_u16(in);
		o->dport = fuzz_u16(in);
	}
	o->ttl = 64;
}

static const uint8_t ext_types[4] = { 0, 43, 60, 44 };	/* hop, routing, dst, frag */

/* Whether the packet @o describes is a fragment (IPv4 MF, or an IPv6
 * fragment header), which no SA carries. */
static bool plain_fragment(const struct plain_opts *o, uint8_t family)
{
	return o->fragment ||
	       (family == AF_INET6 && o->ip_opts && ext_types[o->ext_type & 3] == 44);
}

/* Protocols the raw choice may name and still promise a packet that
 * parses and is delivered: not TCP or UDP without their headers, not an
 * IPv6 extension header without its body, not ESP's dummy (59). */
static bool raw_proto_ok(uint8_t proto)
{
	return proto != 0 && proto != IPPROTO_NUM_TCP && proto != IPPROTO_NUM_UDP &&
	       proto != 43 && proto != 44 && proto != IPPROTO_NUM_NONE && proto != 60;
}

static size_t ip_header_len(uint8_t family, const struct plain_opts *o)
{
	if (family == AF_INET)
		return IPV4_HDR_LEN + (o->ip_opts ? (size_t)(o->opt_len % 11) * 4 : 0);
	if (!o->ip_opts && !o->fragment)
		return IPV6_HDR_LEN;
	if (o->fragment || ext_types[o->ext_type & 3] == 44)
		return IPV6_HDR_LEN + 8;
	return IPV6_HDR_LEN + (size_t)(o->opt_len % 4 + 1) * 8;
}

/* Writes an IPv4 or IPv6 header for @l4_len bytes of @proto after it, with
 * the options @o asks for (IPv4 option bytes from @opt); returns its
 * length. */
static size_t put_ip(uint8_t *b, const struct esp_addr *src, const struct esp_addr *dst,
		     uint8_t proto, size_t l4_len, const struct plain_opts *o,
		     const uint8_t *opt)
{
	size_t hl = ip_header_len(src->family, o);

	memset(b, 0, hl);
	if (src->family == AF_INET) {
		b[0] = (uint8_t)(0x40 | hl / 4);
		b[1] = o->tclass;
		put_be16(b + 2, (uint16_t)(hl + l4_len));
		put_be16(b + 4, 0x4242);
		put_be16(b + 6, o->fragment ? (uint16_t)(0x2000 | (o->opt_len & 7)) : 0x4000);
		b[8] = o->ttl;
		b[9] = proto;
		memcpy(b + 12, src->bytes, 4);
		memcpy(b + 16, dst->bytes, 4);
		if (hl > IPV4_HDR_LEN)
			memcpy(b + IPV4_HDR_LEN, opt, hl - IPV4_HDR_LEN);
		csum_ipv4_header(b);
		return hl;
	}
	uint8_t type = o->fragment ? 44 : ext_types[o->ext_type & 3];
	size_t ext = hl - IPV6_HDR_LEN;
	b[0] = (uint8_t)(0x60 | o->tclass >> 4);
	b[1] = (uint8_t)(o->tclass << 4);
	put_be16(b + 4, (uint16_t)(ext + l4_len));
	b[6] = ext ? type : proto;
	b[7] = o->ttl;
	memcpy(b + 8, src->bytes, 16);
	memcpy(b + 24, dst->bytes, 16);
	if (ext) {
		uint8_t *e = b + IPV6_HDR_LEN;
		e[0] = proto;
		if (type == 44) {
			/* MF set, the offset from the fuzzer */
			put_be16(e + 2, (uint16_t)((o->opt_len & 0xf8) << 5 | 1));
			put_be32(e + 4, 0x01020304);
		} else {
			e[1] = (uint8_t)(ext / 8 - 1);	/* Pad1 options after */
		}
	}
	return hl;
}

/* The protocol a plaintext of @o carries over @family. */
static uint8_t plain_proto(const struct plain_opts *o, uint8_t family)
{
	static const uint8_t protos[3] = { IPPROTO_NUM_UDP, IPPROTO_NUM_TCP, 1 };

	if (o->l4 == 3)
		return o->raw_proto;
	if (o->l4 == 2 && family == AF_INET6)
		return 58;
	return protos[o->l4];
}

/* A plaintext packet from @src to @dst with the payload the rest of @in
 * gives (at most @max bytes in all); ports default to the selector's.
 * Returns its length; *@l4_off where the upper layer starts. */
static size_t build_plain(uint8_t *b, size_t max, const struct esp_addr *src,
			  const struct esp_addr *dst, uint16_t sport, uint16_t dport,
			  const struct plain_opts *o, struct fuzz_in *in, size_t *l4_off)
{
	uint8_t proto = plain_proto(o, src->family);
	uint8_t l4[40], opt[40];
	size_t l4h = 0, plen;

	if (o->own_ports) {
		sport = o->sport;
		dport = o->dport;
	}
	memset(l4, 0, sizeof(l4));
	if (o->l4 == 0) {
		put_be16(l4, sport);
		put_be16(l4 + 2, dport);
		l4h = UDP_HDR_LEN;
	} else if (o->l4 == 1) {
		put_be16(l4, sport);
		put_be16(l4 + 2, dport);
		put_be32(l4 + 4, 0x11223344);
		l4h = 20;
		/* up to 7 option bytes of the fuzzer's before the MSS, which
		 * NOPs can move to an odd offset */
		for (size_t i = 0; i < (size_t)(o->opt_len >> 4 & 7); i++)
			l4[l4h++] = fuzz_u8(in);
		if (o->syn_mss) {
			l4[l4h] = 2;
			l4[l4h + 1] = 4;
			put_be16(l4 + l4h + 2, o->mss);
			l4h += 4;
		}
		while (l4h % 4)
			l4[l4h++] = 0;	/* end of options */
		l4[12] = (uint8_t)(l4h / 4 << 4);
		l4[13] = o->syn_mss ? 0x02 : 0x18;	/* SYN, or PSH ACK */
		put_be16(l4 + 14, 65535);
	} else if (o->l4 == 2) {
		l4[0] = src->family == AF_INET ? 8 : 128;	/* echo request */
		l4h = 8;
	}
	size_t hl = ip_header_len(src->family, o);
	for (size_t i = IPV4_HDR_LEN; src->family == AF_INET && i < hl; i++)
		opt[i - IPV4_HDR_LEN] = fuzz_u8(in);
	/* what the length fields can say: 65,535 in all for IPv4, after
	 * the fixed header for IPv6 */
	size_t room = (src->family == AF_INET ? 65535 : 65535 + IPV6_HDR_LEN) - hl - l4h;
	if (max - hl - l4h < room)
		room = max - hl - l4h;
	const uint8_t *payload = fuzz_take(in, room, &plen);
	uint8_t *seg = b + hl;
	memcpy(seg, l4, l4h);
	if (plen)
		memcpy(seg + l4h, payload, plen);
	for (size_t fill = o->fill_to < room ? o->fill_to : room; plen < fill; plen++)
		seg[l4h + plen] = plen >= 64 ? seg[l4h + plen % 64] : 0x5a;
	/* IPv6 with a payload length of 0 would be a jumbogram: one byte */
	if (src->family == AF_INET6 && l4h + plen == 0)
		seg[plen++] = 0;
	size_t l4_len = l4h + plen;

	put_ip(b, src, dst, proto, l4_len, o, opt);
	if (o->l4 == 0)
		put_be16(seg + 4, (uint16_t)l4_len);
	if ((o->l4 == 0 || o->l4 == 1) && !o->bad_csum) {
		size_t at = o->l4 == 0 ? 6 : 16;
		uint16_t c = csum_l4(src->bytes, dst->bytes, esp_addr_len(src), proto,
				     seg, l4_len);
		put_be16(seg + at, o->l4 == 0 && c == 0 ? 0xffff : c);
	}
	*l4_off = hl;
	return hl + l4_len;
}

/* Whether a packet of @o, sent between the selector's addresses with its
 * ports, is one the SA must carry and deliver. */
static bool plain_inside(const struct slot *s, const struct plain_opts *o, uint8_t family)
{
	if (o->own_ports || plain_fragment(o, family))
		return false;
	if (s->ports)
		return o->l4 <= 1;
	return o->l4 != 3 || raw_proto_ok(o->raw_proto);
}

/* An outer header to @dst and, when @udp, a UDP header from @sport to
 * 4500, around @body; returns the packet length. */
static size_t frame_outer(uint8_t *b, const struct esp_addr *src, const struct esp_addr *dst,
			  bool udp, uint16_t sport, uint8_t tclass, const uint8_t *body,
			  size_t blen, bool fragment, int csum_mode)
{
	struct plain_opts o;

	memset(&o, 0, sizeof(o));
	o.tclass = tclass;
	o.fragment = fragment;
	o.ttl = 64;
	size_t l4_len = blen + (udp ? UDP_HDR_LEN : 0);
	size_t hl = put_ip(b, src, dst, udp ? IPPROTO_NUM_UDP : IPPROTO_NUM_ESP, l4_len, &o,
			   NULL);
	uint8_t *p = b + hl;
	if (udp) {
		put_be16(p, sport);
		put_be16(p + 2, ESP_ENCAP_PORT);
		put_be16(p + 4, (uint16_t)l4_len);
		put_be16(p + 6, 0);
		p += UDP_HDR_LEN;
	}
	if (blen)
		memcpy(p, body, blen);
	if (udp && src->family == AF_INET6 && csum_mode != 1) {
		uint16_t c = csum_l4(src->bytes, dst->bytes, 16, IPPROTO_NUM_UDP, b + hl, l4_len);
		put_be16(b + hl + 6, csum_mode == 2 ? (uint16_t)~c : c ? c : 0xffff);
	}
	return hl + l4_len;
}

static uint8_t scratch[MAX_PACKET + 256];
static uint8_t scratch2[2 * (MAX_PACKET + 256)];

/* ---- shapes ---- */

static bool shape_raw(struct fuzz_in *in, struct fpkt *f)
{
	size_t len;
	const uint8_t *data = fuzz_take(in, MAX_PACKET, &len);

	fpkt_set(f, data, (uint32_t)len);
	return true;
}

/* [total:24][n][pattern:n][head_len:16][head][tail = the rest] */
static bool shape_jumbo(struct fuzz_in *in, struct fpkt *f)
{
	uint32_t total = (uint32_t)fuzz_u8(in) << 16;
	total |= fuzz_u16(in);
	total %= MAX_PACKET + 1;
	uint8_t pat[4] = { 0, 0, 0, 0 };
	size_t np = fuzz_u8(in) % 4 + 1, nh, nt;
	for (size_t i = 0; i < np; i++)
		pat[i] = fuzz_u8(in);
	const uint8_t *head = fuzz_take(in, fuzz_u16(in), &nh);
	const uint8_t *tail = fuzz_take(in, MAX_PACKET, &nt);
	if (total < nh + nt)
		total = (uint32_t)(nh + nt);
	if (total > MAX_PACKET)
		return false;
	for (uint32_t i = 0; i < total; i++)
		scratch[i] = pat[i % np];
	memcpy(scratch, head, nh);
	memcpy(scratch + total - nt, tail, nt);
	fpkt_set(f, scratch, total);
	return true;
}

static uint32_t pick_spi(struct fuzz_in *in, const struct slot *s, uint8_t how)
{
	switch (how & 3) {
	case 0:
		return s->spi_in;
	case 1:
		return s->spi_seal;
	case 2:
		return s->spi_out;
	default:
		return fuzz_u32(in);
	}
}

/* [slot][flags][seq:32][sport:16][tclass] then the ESP body */
static bool shape_esp(struct fuzz_in *in, struct fpkt *f)
{
	const struct slot *s = pick_slot(in);
	uint8_t fl = fuzz_u8(in);
	uint8_t esp[2048];
	size_t n;

	put_be32(esp, pick_spi(in, s, fl >> 1));
	put_be32(esp + 4, fuzz_u32(in));
	uint16_t sport = fuzz_u16(in);
	uint8_t tclass = fuzz_u8(in);
	const uint8_t *body = fuzz_take(in, sizeof(esp) - 8, &n);
	memcpy(esp + 8, body, n);
	size_t len = frame_outer(scratch, fl & 8 ? &s->us : &s->peer, fl & 8 ? &s->peer : &s->us,
				 fl & 1, sport, tclass, esp, 8 + n, fl & 16, fl >> 5 & 3);
	fpkt_set(f, scratch, (uint32_t)len);
	return true;
}

/* [slot][kind][flags][sport:16][ulen:16] then the payload */
static bool shape_udp4500(struct fuzz_in *in, struct fpkt *f)
{
	const struct slot *s = pick_slot(in);
	uint8_t kind = fuzz_u8(in), fl = fuzz_u8(in);
	uint16_t sport = fuzz_u16(in), ulen = fuzz_u16(in);
	uint8_t body[2048];
	size_t n = 0, got;
	const uint8_t *rest;

	switch (kind % 5) {
	case 0:		/* NAT keepalive */
		body[n++] = 0xff;
		break;
	case 1:		/* IKE behind the non-ESP marker */
		memset(body, 0, 4);
		n = 4;
		break;
	case 3:		/* ESP with one of our SPIs */
		put_be32(body, pick_spi(in, s, fl >> 4));
		n = 4;
		break;
	default:
		break;
	}
	if (kind % 5 != 4) {	/* 4: an empty datagram */
		rest = fuzz_take(in, sizeof(body) - n, &got);
		if (got)
			memcpy(body + n, rest, got);
		n += got;
	}
	const struct esp_addr *src = fl & 2 ? &slots[(s - slots + 1) % NSLOTS].peer : &s->peer;
	if (src->family != s->us.family)
		src = &s->peer;
	if (!(fl & 1))
		sport = s->nat_port;
	size_t len = frame_outer(scratch, src, &s->us, true, sport, 0, body, n, false,
				 fl >> 2 & 3);
	if (fl & 64) {
		/* a UDP length that lies */
		size_t hl = s->us.family == AF_INET ? IPV4_HDR_LEN : IPV6_HDR_LEN;
		put_be16(scratch + hl + 4, ulen);
	}
	fpkt_set(f, scratch, (uint32_t)len);
	return true;
}

/* [slot][opts...] then the payload: a packet for one of A's outbound SAs */
static bool shape_out(struct fuzz_in *in, struct fpkt *f)
{
	const struct slot *s = pick_slot(in);
	struct plain_opts o;
	size_t l4_off;

	take_opts(in, &o);
	/* up to the largest packet, to reach the limits of encapsulation */
	o.fill_to = fuzz_u16(in);
	size_t len = build_plain(scratch, MAX_PACKET, &s->us_in, &s->peer_in,
				 s->ports ? PORT_US : 40000, s->ports ? PORT_PEER : 40001,
				 &o, in, &l4_off);
	fpkt_set(f, scratch, (uint32_t)len);
	if (plain_inside(s, &o, s->us_in.family)) {
		f->oracle = OR_ROUND_TRIP;
		f->want_transport = !s->tunnel;
		f->want_proto = plain_proto(&o, s->us_in.family);
		f->looks_inbound = o.l4 == 3 && (o.raw_proto == IPPROTO_NUM_UDP ||
						 o.raw_proto == IPPROTO_NUM_ESP);
		f->want_csum = o.l4 <= 1 && !o.bad_csum;
		fpkt_want(f, scratch, (uint32_t)len);
	}
	return true;
}

/* Runs @len bytes at @data through B; the ESP it made is copied to @out.
 * Returns its length, or 0 when B did not encapsulate. */
static size_t peer_encap(const uint8_t *data, size_t len, uint8_t *out, bool must)
{
	struct fpkt b;
	struct esp_result r;

	fpkt_set(&b, data, (uint32_t)len);
	enum esp_verdict v = esp_process(wb, &b.p, ESP_HINT_OUTBOUND, &r);
	FUZZ_ASSERT(!must || v == ESP_VERDICT_ENCAP,
		    "the peer did not protect a packet inside its selector: verdict %d reason %s",
		    v, v == ESP_VERDICT_DROP ? esp_drop_name(r.reason) : "-");
	size_t n = v == ESP_VERDICT_ENCAP ? b.p.len : 0;
	memcpy(out, pkt_data(&b.p), n);
	fpkt_free(&b);
	return n;
}

/* Rewrites the outer UDP ports of @pkt (ESP-in-UDP) as the peer's NAT
 * would, keeping an IPv6 checksum right; 0 leaves a port as it is. */
static void nat_rewrite(uint8_t *pkt, size_t len, uint16_t sport, uint16_t dport)
{
	struct ip_view v;

	if (ip_parse(pkt, len, &v) || v.proto != IPPROTO_NUM_UDP)
		return;
	uint8_t *udp = pkt + v.l4_off;
	if (sport)
		put_be16(udp, sport);
	if (dport)
		put_be16(udp + 2, dport);
	if (v.family == AF_INET6) {
		put_be16(udp + 6, 0);
		uint16_t c = csum_l4(pkt + 8, pkt + 24, 16, IPPROTO_NUM_UDP, udp, v.len - v.l4_off);
		put_be16(udp + 6, c ? c : 0xffff);
	}
}

/* [slot][nflips]([pos:16][xor])*[trunc][fl][nappend][append...][opts...]
 * then the payload: B protects it, then the damage is done. */
static bool shape_peer(struct fuzz_in *in, struct fpkt *f)
{
	const struct slot *s = pick_slot(in);
	uint16_t pos[8];
	uint8_t xr[8], app[16];
	size_t nflips = fuzz_u8(in) % 9;
	struct plain_opts o;
	size_t l4_off;

	for (size_t i = 0; i < nflips; i++) {
		pos[i] = fuzz_u16(in);
		xr[i] = fuzz_u8(in);
	}
	uint8_t trunc = fuzz_u8(in), fl = fuzz_u8(in);
	size_t napp = fuzz_u8(in) % 17;
	for (size_t i = 0; i < napp; i++)
		app[i] = fuzz_u8(in);
	take_opts(in, &o);
	size_t plain = build_plain(scratch2, 1400, &s->peer_in, &s->us_in,
				   s->ports ? PORT_PEER : 40001, s->ports ? PORT_US : 40000,
				   &o, in, &l4_off);
	bool inside = plain_inside(s, &o, s->peer_in.family);
	size_t len = peer_encap(scratch2, plain, scratch, inside);
	if (!len)
		return false;
	if (s->udp && (fl & 1))
		nat_rewrite(scratch, len, s->nat_port, 0);
	for (size_t i = 0; i < nflips; i++)
		scratch[pos[i] % len] ^= xr[i];
	if (trunc) {
		len -= trunc % len;
		/* keep the IP header's length true, so that the cut reaches
		 * ESP's own checks */
		if ((fl & 4) && scratch[0] >> 4 == 4 && len >= IPV4_HDR_LEN) {
			put_be16(scratch + 2, (uint16_t)len);
			csum_ipv4_header(scratch);
		} else if ((fl & 4) && scratch[0] >> 4 == 6 && len > IPV6_HDR_LEN) {
			put_be16(scratch + 4, (uint16_t)(len - IPV6_HDR_LEN));
		}
	}
	if (fl & 2) {
		/* link-layer padding: bytes behind the IP packet */
		memcpy(scratch + len, app, napp);
		len += napp;
	}
	fpkt_set(f, scratch, (uint32_t)len);
	/* flipped bits may all have cancelled out; the oracle only trusts
	 * an untouched packet */
	if (inside && !nflips && !trunc && !(fl & 2)) {
		f->oracle = OR_DECAP;
		f->want_transport = !s->tunnel;
		f->want_proto = plain_proto(&o, s->peer_in.family);
		f->want_csum = o.l4 <= 1 && !o.bad_csum;
		fpkt_want(f, scratch2, (uint32_t)plain);
	}
	return true;
}

/* RFC 6040 normal mode, what decapsulation must do to the inner packet:
 * congestion experienced outside reaches an ECN-capable inside. */
static void expect_ecn(uint8_t *inner, uint8_t outer_tclass)
{
	if ((outer_tclass & 3) != 3)
		return;
	if (inner[0] >> 4 == 4 && (inner[1] & 3)) {
		inner[1] |= 3;
		csum_ipv4_header(inner);
	} else if (inner[0] >> 4 == 6 && (inner[1] >> 4 & 3)) {
		inner[1] |= 3 << 4;
	}
}

/* [slot][flags][seq:32][sport:16][tclass][next header][extra pad]
 * [opts...] then the plaintext (or the inner packet's payload). Flags:
 * 1 a valid inner packet (else raw bytes), 2 a valid trailer, 4 the other
 * framing (plain ESP for a UDP SA and back), 8 another source address,
 * 0xc0 how the sequence number is chosen. */
static bool shape_sealed(struct fuzz_in *in, struct fpkt *f)
{
	struct slot *s = &slots[fuzz_u8(in) % NSLOTS];
	const struct esp_enc_info *ei = esp_enc_info(s->c->enc);
	uint8_t fl = fuzz_u8(in);
	uint32_t seqarg = fuzz_u32(in);
	uint16_t sport = fuzz_u16(in);
	uint8_t tclass = fuzz_u8(in), nh = fuzz_u8(in), extra = fuzz_u8(in);
	bool inner = fl & 1, trailer = fl & 2, udp = s->udp != !!(fl & 4);
	uint8_t *esp = scratch2, *ct;
	size_t plen, want_len = 0;
	uint32_t seq;

	switch (fl >> 6) {
	case 0:
		seq = s->seal_top + 1;
		break;
	case 1:
		seq = s->seal_top + 1 + (seqarg & 0xffff);
		break;
	case 2:
		seq = s->seal_top - (seqarg & 0xff);
		break;
	default:
		seq = seqarg;
		break;
	}
	/* a promise only for what is sure to be new to the window, whatever
	 * happened to the packets sealed before */
	bool sure = seq > s->seal_top && inner && trailer && udp == s->udp;
	if (seq > s->seal_top)
		s->seal_top = seq;

	put_be32(esp, s->spi_seal);
	put_be32(esp + 4, seq);
	uint8_t *iv = esp + 8;
	for (size_t i = 0; i < ei->iv_len; i++)
		iv[i] = (uint8_t)(seqarg >> (i % 4 * 8) ^ i);
	ct = iv + ei->iv_len;
	if (inner) {
		struct plain_opts o;
		size_t hl;

		take_opts(in, &o);
		const struct esp_addr *src = s->tunnel ? &s->peer_in : &s->peer;
		const struct esp_addr *dst = s->tunnel ? &s->us_in : &s->us;
		want_len = build_plain(scratch, 1400, src, dst,
				       s->ports ? PORT_PEER : 40001, s->ports ? PORT_US : 40000,
				       &o, in, &hl);
		if (s->tunnel) {
			/* the whole inner packet */
			memcpy(ct, scratch, want_len);
			plen = want_len;
			nh = src->family == AF_INET ? IPPROTO_NUM_IPV4 : IPPROTO_NUM_IPV6;
			expect_ecn(scratch, tclass);
		} else {
			/* the upper layer alone; the outer header will be
			 * the one around it */
			plen = want_len - hl;
			memcpy(ct, scratch + hl, plen);
			nh = plain_proto(&o, src->family);
		}
		if (!plain_inside(s, &o, src->family))
			sure = false;
		f->want_csum = o.l4 <= 1 && !o.bad_csum;
		memcpy(scratch2 + sizeof(scratch2) / 2, scratch, want_len);
	} else {
		const uint8_t *raw = fuzz_take(in, 1400, &plen);
		if (plen)
			memcpy(ct, raw, plen);
	}
	if (trailer) {
		/* RFC 4303 2.4: align, plus whole blocks the fuzzer asks for */
		size_t pad = (ei->block - (plen + 2) % ei->block) % ei->block;
		pad += (size_t)(extra % 8) * ei->block;
		for (size_t i = 0; i < pad; i++)
			ct[plen + i] = (uint8_t)(i + 1);
		ct[plen + pad] = (uint8_t)pad;
		ct[plen + pad + 1] = nh;
		plen += pad + 2;
	} else {
		/* whatever trails; whole blocks, unless the fuzzer cuts one */
		while (plen % ei->block && !(extra & 0x80))
			ct[plen++] = extra;
	}
	if (plen && plen % ei->block == 0 && esp_cipher_run(&s->seal_cipher, iv, ct, plen))
		abort();
	size_t covered = 8 + ei->iv_len + plen;
	uint8_t mac[ESP_MAX_DIGEST];
	esp_hmac_compute(&s->seal_hmac, esp, covered, mac);
	memcpy(esp + covered, mac, ESP_ICV_LEN);

	const struct esp_addr *src = &s->peer;
	if (fl & 8) {
		src = &slots[(s - slots + 2) % NSLOTS].peer;
		if (src->family != s->peer.family)
			src = &s->us;
		if (!s->tunnel)
			sure = false;	/* the selector names the source */
	}
	if (!sport)
		sport = s->learn ? s->nat_port : ESP_ENCAP_PORT;
	size_t len = frame_outer(scratch, src, &s->us, udp, sport, tclass, esp,
				 covered + ESP_ICV_LEN, false, 0);
	bool want_csum = f->want_csum;
	fpkt_set(f, scratch, (uint32_t)len);
	if (sure) {
		f->want_csum = want_csum;
		f->oracle = OR_DECAP;
		f->want_transport = !s->tunnel;
		f->want_proto = nh;
		fpkt_want(f, scratch2 + sizeof(scratch2) / 2, (uint32_t)want_len);
	}
	return true;
}

static bool build(struct fuzz_in *in, enum shape sh, struct fpkt *f)
{
	/* the shapes set only what they know; the rest must read as "no
	 * promise", not as what the stack held (a campaign found that) */
	memset(f, 0, sizeof(*f));
	switch (sh) {
	case SH_RAW:
		return shape_raw(in, f);
	case SH_JUMBO:
		return shape_jumbo(in, f);
	case SH_ESP:
		return shape_esp(in, f);
	case SH_UDP4500:
		return shape_udp4500(in, f);
	case SH_OUT:
		return shape_out(in, f);
	case SH_PEER:
		return shape_peer(in, f);
	case SH_SEALED:
		return shape_sealed(in, f);
	default:
		return false;
	}
}

/* ---- what must hold afterwards ---- */

static void touch(const uint8_t *p, uint32_t len)
{
	volatile uint8_t sum = 0;

	for (uint32_t i = 0; i < len; i++)
		sum ^= p[i];
	(void)sum;
}

/* The packet A handed back must be one IP packet of exactly its length. */
static void check_shape(const struct fpkt *f, enum esp_verdict v)
{
	struct ip_view iv;
	const uint8_t *d = pkt_data(&f->p);

	FUZZ_ASSERT((uint64_t)f->p.off + f->p.len <= f->cap, "verdict %d: %u+%u past %u",
		    v, f->p.off, f->p.len, f->cap);
	touch(d, f->p.len);
	if (v != ESP_VERDICT_PASS && v != ESP_VERDICT_DECAP && v != ESP_VERDICT_ENCAP)
		return;
	FUZZ_ASSERT(ip_parse(d, f->p.len, &iv) == 0, "verdict %d: the result does not parse", v);
	FUZZ_ASSERT(iv.len == f->p.len, "verdict %d: a %u-byte packet whose header says %u",
		    v, f->p.len, iv.len);
	if (v == ESP_VERDICT_ENCAP)
		FUZZ_ASSERT(iv.proto == IPPROTO_NUM_ESP || iv.proto == IPPROTO_NUM_UDP,
			    "encapsulated into protocol %d", iv.proto);
}

/* Whether the UDP or TCP checksum of the IP packet at @p verifies. */
static bool l4_csum_ok(const uint8_t *p, uint32_t len)
{
	struct ip_view v;

	if (ip_parse(p, len, &v))
		return false;
	size_t alen = v.family == AF_INET ? 4 : 16;
	uint16_t c = csum_l4(p + (alen == 4 ? 12 : 8), p + (alen == 4 ? 16 : 24), alen,
			     v.proto, p + v.l4_off, v.len - v.l4_off);
	/* a segment summed with its right checksum folds to nothing */
	return c == 0 || c == 0xffff;
}

/* The plaintext that came out against the one that went in. TCP is
 * compared by length only: the MSS of a SYN may have been clamped; but a
 * checksum that was right must still be. */
static void compare_plain(const char *what, const uint8_t *got, uint32_t got_len,
			  const struct fpkt *f)
{
	struct ip_view g, w;

	FUZZ_ASSERT(ip_parse(got, got_len, &g) == 0 && ip_parse(f->want, f->want_len, &w) == 0,
		    "%s: unparsable", what);
	if (f->want_csum && (w.proto == IPPROTO_NUM_UDP || w.proto == IPPROTO_NUM_TCP))
		FUZZ_ASSERT(l4_csum_ok(got, got_len), "%s: the %s checksum broke", what,
			    w.proto == IPPROTO_NUM_TCP ? "TCP" : "UDP");
	if (!f->want_transport) {
		FUZZ_ASSERT(got_len == f->want_len, "%s: %u bytes for %u", what, got_len,
			    f->want_len);
		if (w.proto != IPPROTO_NUM_TCP)
			FUZZ_ASSERT(memcmp(got, f->want, got_len) == 0,
				    "%s: the inner packet changed", what);
		return;
	}
	/* transport: the IP header is remade (DF cleared, lengths); the
	 * upper layer must be the same */
	uint32_t gl = got_len - g.l4_off, wl = f->want_len - w.l4_off;
	FUZZ_ASSERT(gl == wl, "%s: %u upper-layer bytes for %u", what, gl, wl);
	FUZZ_ASSERT(g.proto == w.proto, "%s: protocol %d for %d", what, g.proto, w.proto);
	uint32_t skip = w.proto == IPPROTO_NUM_UDP ? UDP_HDR_LEN : 0;
	if (w.proto != IPPROTO_NUM_TCP && wl >= skip)
		FUZZ_ASSERT(memcmp(got + g.l4_off + skip, f->want + w.l4_off + skip,
				   wl - skip) == 0, "%s: the payload changed", what);
}

/* A's ESP must come back out of B as the packet A was given. */
static void round_trip(struct fpkt *f)
{
	struct fpkt b;
	struct esp_result r;

	fpkt_set(&b, pkt_data(&f->p), f->p.len);
	/* to the learned port, which the peer's NAT maps back to 4500 */
	nat_rewrite(pkt_data(&b.p), b.p.len, 0, ESP_ENCAP_PORT);
	fpkt_poison(&b);
	enum esp_verdict v = esp_process(wb, &b.p, ESP_HINT_INBOUND, &r);
	{
		FUZZ_ASSERT(v == ESP_VERDICT_DECAP,
			    "the peer cannot unprotect what we protected: verdict %d reason %s",
			    v, v == ESP_VERDICT_DROP ? esp_drop_name(r.reason) : "-");
		compare_plain("round trip", pkt_data(&b.p), b.p.len, f);
	}
	fpkt_free(&b);
}

static void check_oracle(struct fpkt *f, enum esp_hint hint, enum esp_verdict v,
			 const struct esp_result *r)
{
	bool inbound = hint == ESP_HINT_ANY || hint == ESP_HINT_INBOUND;

	switch (f->oracle) {
	case OR_ROUND_TRIP:
		/* fail closed: a packet inside an outbound selector never
		 * leaves in clear */
		if (hint != ESP_HINT_INBOUND && !(hint == ESP_HINT_ANY && f->looks_inbound))
			FUZZ_ASSERT(v != ESP_VERDICT_PASS,
				    "a packet inside an outbound selector passed in clear");
		if (v == ESP_VERDICT_ENCAP)
			round_trip(f);
		break;
	case OR_DECAP:
		if (!inbound)
			break;
		FUZZ_ASSERT(v == ESP_VERDICT_DECAP,
			    "valid fresh ESP not unprotected: verdict %d reason %s spi 0x%x",
			    v, v == ESP_VERDICT_DROP ? esp_drop_name(r->reason) : "-",
			    r->sa ? r->sa->p.spi : 0);
		compare_plain("decapsulation", pkt_data(&f->p), f->p.len, f);
		break;
	default:
		break;
	}
}

static void check_counters(void)
{
	struct esp_counters c;
	uint64_t drops = 0;

	esp_engine_counters(ea, &c);
	for (int i = 0; i < ESP_DROP__COUNT; i++)
		drops += c.drops[i];
	FUZZ_ASSERT(drops == c.dropped, "drops add up to %llu, dropped says %llu",
		    (unsigned long long)drops, (unsigned long long)c.dropped);
	FUZZ_ASSERT(c.encap + c.decap + c.keepalive + c.bypass + c.dropped == c.packets,
		    "%llu packets, but %llu encap %llu decap %llu keepalive %llu bypass "
		    "%llu dropped", (unsigned long long)c.packets,
		    (unsigned long long)c.encap, (unsigned long long)c.decap,
		    (unsigned long long)c.keepalive, (unsigned long long)c.bypass,
		    (unsigned long long)c.dropped);
}

/* FUZZ_VERBOSE=1 prints each verdict: to see where an input goes. */
static void trace(enum esp_hint hint, enum esp_verdict v, const struct esp_result *r)
{
	static int verbose = -1;

	if (verbose < 0)
		verbose = getenv("FUZZ_VERBOSE") != NULL;
	if (!verbose)
		return;
	fprintf(stderr, "hint %d verdict %d%s%s spi 0x%08x\n", hint, v,
		v == ESP_VERDICT_DROP ? " " : "",
		v == ESP_VERDICT_DROP ? esp_drop_name(r->reason) : "",
		r->sa ? r->sa->p.spi : 0);
}

static void finish(struct fpkt *f, enum esp_hint hint, enum esp_verdict v,
		   const struct esp_result *r)
{
	trace(hint, v, r);
	FUZZ_ASSERT(v == r->verdict, "returned %d, result says %d", v, r->verdict);
	FUZZ_ASSERT(v <= ESP_VERDICT_DECAP, "verdict %d", v);
	if (v == ESP_VERDICT_DROP)
		FUZZ_ASSERT(r->reason < ESP_DROP__COUNT, "drop reason %d", r->reason);
	check_shape(f, v);
	check_oracle(f, hint, v, r);
}

/* ---- setup ---- */

static void learn_port(struct slot *s)
{
	struct plain_opts o;
	struct fuzz_in none = { NULL, 0 };
	struct esp_result r;
	struct fpkt f;
	size_t l4_off;

	memset(&o, 0, sizeof(o));
	o.ttl = 64;
	size_t plain = build_plain(scratch2, 200, &s->peer_in, &s->us_in, PORT_PEER, PORT_US,
				   &o, &none, &l4_off);
	size_t len = peer_encap(scratch2, plain, scratch, true);
	nat_rewrite(scratch, len, s->nat_port, 0);
	fpkt_set(&f, scratch, (uint32_t)len);
	uint64_t before = events_seen;
	enum esp_verdict v = esp_process(wa, &f.p, ESP_HINT_INBOUND, &r);
	if (v != ESP_VERDICT_DECAP || events_seen == before) {
		fprintf(stderr, "fuzz_engine: slot %d did not learn its port (verdict %d, %s)\n",
			(int)(s - slots), v, esp_drop_name(r.reason));
		abort();
	}
	fpkt_free(&f);
}

static void setup_slot(struct slot *s, int index)
{
	char line[1024];
	int per_family = (int)(NCOMBOS * M_COUNT);
	bool v6 = index >= per_family;

	s->k = index % per_family;
	s->c = &combos[s->k / M_COUNT];
	s->mode = (enum mode)(s->k % M_COUNT);
	s->tunnel = s->mode != M_TRANS && s->mode != M_UDP_TRANS_LEARNED;
	s->udp = s->mode >= M_UDP_TUN;
	s->learn = s->mode >= M_UDP_TUN_LEARN;
	s->ports = s->mode != M_TRANS && s->mode != M_UDP_TUN;
	s->spi_in = 0x1000u + (uint32_t)index * 4;
	s->spi_seal = s->spi_in + 1;
	s->spi_out = s->spi_in + 2;
	s->reqid = 100 + (uint32_t)index;
	s->nat_port = (uint16_t)(40000 + index);
	slot_addresses(s, v6);

	sa_line(line, sizeof(line), s, true, true, s->spi_in);
	add_line(ea, line);
	add_seal_sa(s);
	sa_line(line, sizeof(line), s, true, false, s->spi_out);
	add_line(ea, line);
	sa_line(line, sizeof(line), s, false, true, s->spi_in);
	add_line(eb, line);
	sa_line(line, sizeof(line), s, false, false, s->spi_out);
	add_line(eb, line);

	const struct esp_enc_info *ei = esp_enc_info(s->c->enc);
	const uint8_t *key = s->c->enc == ESP_ENC_AES_CBC ? aes_key : des3_key;
	size_t key_len = s->c->enc == ESP_ENC_NULL ? 0 : ei->key_lens[0];
	if (esp_cipher_init(&s->seal_cipher, s->c->enc, key, key_len, true) ||
	    esp_hmac_init(&s->seal_hmac, s->c->auth, auth_key,
			  esp_auth_info(s->c->auth)->key_len))
		abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	ea = esp_engine_new();
	eb = esp_engine_new();
	if (!ea || !eb)
		abort();
	wa = esp_worker_new(ea);
	wb = esp_worker_new(eb);
	if (!wa || !wb)
		abort();
	esp_engine_on_event(ea, on_event, NULL);
	esp_engine_set_path_mtu(ea, PATH_MTU);
	esp_worker_set_time(wa, now_ms);
	for (int i = 0; i < (int)NSLOTS; i++)
		setup_slot(&slots[i], i);
	load_example();
	for (int i = 0; i < (int)NSLOTS; i++)
		if (slots[i].mode == M_UDP_TUN_LEARNED || slots[i].mode == M_UDP_TRANS_LEARNED)
			learn_port(&slots[i]);
	return 0;
}

/* ---- one input ---- */

static void run_one(struct fuzz_in *in, enum esp_hint hint, enum shape sh)
{
	struct fpkt f;
	struct esp_result r;

	if (!build(in, sh, &f))
		return;
	if (hint == ESP_HINT_INBOUND)
		fpkt_poison(&f);
	enum esp_verdict v = esp_process(wa, &f.p, hint, &r);
	finish(&f, hint, v, &r);
	fpkt_free(&f);
}

/* [n] then n times [len:16][shape byte][its fields] */
static void run_burst(struct fuzz_in *in, enum esp_hint hint)
{
	struct fpkt f[BURST_MAX];
	struct pkt *pkts[BURST_MAX];
	struct esp_result r[BURST_MAX];
	unsigned n = 0, want = fuzz_u8(in) % BURST_MAX + 1;

	while (n < want && in->n) {
		size_t len;
		const uint8_t *sub = fuzz_take(in, fuzz_u16(in), &len);
		struct fuzz_in s = { sub, len };
		enum shape sh = (enum shape)(fuzz_u8(&s) >> 2 & 7);

		if (sh == SH_BURST || !build(&s, sh, &f[n]))
			continue;
		if (hint == ESP_HINT_INBOUND)
			fpkt_poison(&f[n]);
		pkts[n] = &f[n].p;
		n++;
	}
	if (!n)
		return;
	esp_process_burst(wa, pkts, n, hint, r);
	for (unsigned i = 0; i < n; i++) {
		finish(&f[i], hint, r[i].verdict, &r[i]);
		fpkt_free(&f[i]);
	}
}

/* Sequence numbers near the end would starve a seal SA: it starts over,
 * between inputs (within a burst, a packet sealed before the new SA came
 * would reach it first, and make a later one look replayed). */
static void renew_seal_sas(void)
{
	for (size_t i = 0; i < NSLOTS; i++) {
		struct slot *s = &slots[i];
		if (s->seal_top <= 0xf0000000u)
			continue;
		FUZZ_ASSERT(esp_engine_del_sa(ea, s->spi_seal, &s->us) == 0, "seal SA gone");
		add_seal_sa(s);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t b0 = fuzz_u8(&in);
	enum esp_hint hint = (enum esp_hint)(b0 & 3);
	enum shape sh = (enum shape)(b0 >> 2 & 7);

	renew_seal_sas();
	now_ms += (uint64_t)(b0 >> 5) * 5000;
	esp_worker_set_time(wa, now_ms);
	esp_worker_set_time(wb, now_ms);
	if (sh == SH_BURST)
		run_burst(&in, hint);
	else
		run_one(&in, hint, sh);
	check_counters();
	return 0;
}
