/* The lab's S-CSCF: the registrar behind a real P-CSCF (Kamailio, in
 * `espnat-lab --pcscf kamailio`). It authenticates with IMS AKA the way an
 * S-CSCF answers a P-CSCF (TS 24.229 5.4.1.2.1, TS 33.203 6.1): the 401's
 * WWW-Authenticate carries RAND || AUTN in the nonce (RFC 3310) and the
 * keys as ck="..." and ik="...", which the P-CSCF takes out, and uses for
 * the SAs, before it relays the 401 to the UE. It checks RES in the
 * second REGISTER (and that the P-CSCF marked it integrity-protected="yes",
 * TR 33.803 A.7.2 SM8), answers 200 OK with the binding's expiry, the Path
 * the P-CSCF inserted (RFC 3327), a Service-Route and P-Associated-URI,
 * de-registers (Expires: 0), and sends a MESSAGE toward a registered UE
 * along that Path, that is through the P-CSCF.
 * Commands on stdin:
 *   message IMPI        a MESSAGE to the UE's registered contact
 *   expires N           grant at most N seconds to the next registrations
 *   quit */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "tools/lab/akadigest.h"
#include "tools/lab/labsim.h"
#include "tools/lab/registrar.h"
#include "tools/lab/sip.h"

#define AGENT "scscf.ims.lab"
#define MESSAGE_WAIT_MS 10000
#define NCACHE 8

struct binding {
	/* the challenge in progress */
	bool challenged;
	struct aka_vector av;
	char nonce[64];
	/* the registration */
	bool registered;
	char contact[256];	/* the UE's Contact URI */
	char path[256];		/* the Path URI: where requests for the UE go */
	time_t expires;
};

/* The last answers, for retransmitted requests: a REGISTER sent again by
 * the P-CSCF (UDP, T1) must get the same challenge, not a new one. */
struct cached {
	bool used;
	char branch[96], method[16];
	struct sip_msg resp;
	struct esp_addr to;
	uint16_t port;
};

struct scscf {
	struct esp_addr addr;
	uint16_t port;
	int fd;
	struct lab_subs subs;
	struct binding b[LAB_MAX_SUBS];
	unsigned max_expires;
	struct cached cache[NCACHE];
	unsigned next_cache, cseq;
};

static struct binding *binding_of(struct scscf *c, const struct lab_sub *s)
{
	return &c->b[s - c->subs.s];
}

static bool top_branch(const struct sip_msg *m, char *out, size_t len)
{
	const char *via = sip_get(m, "Via");

	return via && sip_param(via, "branch", out, len) && out[0];
}

static void respond(struct scscf *c, const struct sip_msg *req, struct sip_msg *r,
		    const struct esp_addr *to, uint16_t port, const char *warning)
{
	const char *t = sip_get(req, "To");
	char tag[16];
	uint32_t x;

	if (t && !strstr(t, ";tag=")) {
		lab_random(&x, sizeof(x));
		snprintf(tag, sizeof(tag), "%08x", x);
		sip_set(r, "To", "%s;tag=%s", t, tag);
	}
	if (warning)
		sip_set(r, "Warning", "399 %s \"%s\"", AGENT, warning);
	sip_send(c->fd, r, to, port);
	struct cached *k = &c->cache[c->next_cache++ % NCACHE];
	if (top_branch(req, k->branch, sizeof(k->branch))) {
		k->used = true;
		snprintf(k->method, sizeof(k->method), "%s", req->method);
		k->resp = *r;
		k->to = *to;
		k->port = port;
	} else {
		k->used = false;
	}
	struct json_writer w;
	lab_emit_begin(&w, "sent");
	json_w_kv_uint(&w, "status", (unsigned)r->status);
	json_w_kv_string(&w, "msg", r->reason);
	if (warning)
		json_w_kv_string(&w, "warning", warning);
	lab_emit_end(&w);
}

static void simple(struct scscf *c, const struct sip_msg *req, int status, const char *reason,
		   const char *warning, const struct esp_addr *to, uint16_t port)
{
	struct sip_msg r;

	sip_response(&r, req, status, reason);
	respond(c, req, &r, to, port, warning);
}

/* A retransmission of a request already answered: the same answer again. */
static bool retransmitted(struct scscf *c, const struct sip_msg *m)
{
	char branch[96];

	if (!top_branch(m, branch, sizeof(branch)))
		return false;
	for (int i = 0; i < NCACHE; i++) {
		struct cached *k = &c->cache[i];
		if (k->used && strcmp(k->branch, branch) == 0 && strcmp(k->method, m->method) == 0) {
			sip_send(c->fd, &k->resp, &k->to, k->port);
			lab_say("retransmission", "%s retransmitted: the same %d again", m->method,
				k->resp.status);
			return true;
		}
	}
	return false;
}

/* The user@host of the SIP URI in header @name (the lab's IMPU is
 * sip:IMPI), or NULL. */
static const char *uri_user(const struct sip_msg *m, const char *name, char *buf, size_t len)
{
	char uri[256];
	const char *v = sip_get(m, name);

	if (!v)
		return NULL;
	sip_uri_of(v, uri, sizeof(uri));
	if (strncasecmp(uri, "sip:", 4) != 0)
		return NULL;
	snprintf(buf, len, "%.*s", (int)strcspn(uri + 4, ";>"), uri + 4);
	return buf[0] ? buf : NULL;
}

/* The IMPI: the Authorization's username, else the To URI. */
static const char *impi_of(const struct sip_msg *m, char *buf, size_t len)
{
	return lab_impi_of(m, buf, len) ? buf : uri_user(m, "To", buf, len);
}

/* The expiry the UE asked for: the Contact's expires, else Expires, else
 * an hour; 0 for a de-registration ("Contact: *" with Expires: 0). */
static long requested_expires(const struct sip_msg *m)
{
	const char *contact = sip_get(m, "Contact"), *exp = sip_get(m, "Expires");
	char v[32];

	if (contact && sip_param(contact, "expires", v, sizeof(v)))
		return strtol(v, NULL, 10);
	if (exp)
		return strtol(exp, NULL, 10);
	return 3600;
}

static void hex16(const uint8_t *b, char out[33])
{
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static void on_register(struct scscf *c, const struct sip_msg *m, const struct esp_addr *from,
			uint16_t port)
{
	char impi[64], nonce[64], response[64], ip[16], ck[33], ik[33];
	const char *auth = sip_get(m, "Authorization");
	struct lab_sub *s = impi_of(m, impi, sizeof(impi)) ? lab_sub_find(&c->subs, impi) : NULL;

	if (!s) {
		simple(c, m, 403, "Forbidden", "unknown subscriber", from, port);
		return;
	}
	struct binding *b = binding_of(c, s);
	long expires = requested_expires(m);
	if (expires <= 0) {
		if (b->registered)
			lab_say("deregistered", "%s de-registered (Expires: 0)", s->impi);
		b->registered = false;
		simple(c, m, 200, "OK", NULL, from, port);
		return;
	}
	bool answered = auth && aka_digest_param(auth, "response", response, sizeof(response)) &&
			response[0];
	if (answered && b->challenged && aka_digest_param(auth, "nonce", nonce, sizeof(nonce)) &&
	    strcmp(nonce, b->nonce) == 0) {
		b->challenged = false;
		bool ok = lab_res_ok(s, &b->av, b->nonce, m);
		OPENSSL_cleanse(&b->av, sizeof(b->av));
		if (!ok) {
			simple(c, m, 403, "Forbidden", "RES does not match XRES", from, port);
			return;
		}
		/* SM8: the P-CSCF vouches that SM7 came over the new SAs */
		if (!aka_digest_param(auth, "integrity-protected", ip, sizeof(ip)) ||
		    strcasecmp(ip, "yes") != 0) {
			simple(c, m, 403, "Forbidden",
			       "SM7 not marked integrity-protected=\"yes\" by the P-CSCF", from, port);
			return;
		}
		const char *contact = sip_get(m, "Contact"), *path = sip_get(m, "Path");
		if (!contact || !path) {
			simple(c, m, 400, "Bad Request", contact ? "no Path: the P-CSCF must add one" :
				"no Contact", from, port);
			return;
		}
		if (expires > (long)c->max_expires)
			expires = c->max_expires;
		sip_uri_of(contact, b->contact, sizeof(b->contact));
		sip_uri_of(path, b->path, sizeof(b->path));
		b->expires = time(NULL) + expires;
		b->registered = true;
		struct sip_msg r;
		char a[ESP_ADDRSTRLEN];
		sip_response(&r, m, 200, "OK");
		sip_set(&r, "Contact", "<%s>;expires=%ld", b->contact, expires);
		sip_set(&r, "Path", "%s", path);
		sip_set(&r, "Service-Route", "<sip:orig@%s:%u;lr>", esp_addr_str(&c->addr, a), c->port);
		sip_set(&r, "P-Associated-URI", "<sip:%s>", s->impi);
		lab_say("registered", "RES = XRES, integrity-protected=yes: %s registered at %s for %ld s,"
			" reached through %s", s->impi, b->contact, expires, b->path);
		respond(c, m, &r, from, port, NULL);
		return;
	}
	/* anything else is answered with a challenge: a fresh vector */
	OPENSSL_cleanse(&b->av, sizeof(b->av));
	if (lab_challenge(s, &b->av, b->nonce, sizeof(b->nonce))) {
		b->challenged = false;
		simple(c, m, 500, "Server Internal Error", "AKA failed", from, port);
		return;
	}
	b->challenged = true;
	hex16(b->av.ck, ck);
	hex16(b->av.ik, ik);
	struct sip_msg r;
	sip_response(&r, m, 401, "Unauthorized");
	sip_set(&r, "WWW-Authenticate",
		"Digest realm=\"%s\",nonce=\"%s\",algorithm=AKAv1-MD5,ck=\"%s\",ik=\"%s\"",
		LAB_REALM, b->nonce, ck, ik);
	lab_say("challenge", "401 for %s: RAND and AUTN in the nonce, CK and IK for the P-CSCF",
		s->impi);
	respond(c, m, &r, from, port, NULL);
	OPENSSL_cleanse(&r, sizeof(r));
	OPENSSL_cleanse(ck, sizeof(ck));
	OPENSSL_cleanse(ik, sizeof(ik));
}

static bool registered(struct scscf *c, const struct lab_sub *s)
{
	struct binding *b = binding_of(c, s);

	if (b->registered && time(NULL) >= b->expires) {
		lab_say("expired", "the registration of %s expired", s->impi);
		b->registered = false;
	}
	return b->registered;
}

static void on_request(struct scscf *c, const struct sip_msg *m, const struct esp_addr *from,
		       uint16_t port)
{
	char impi[64];

	if (retransmitted(c, m))
		return;
	lab_say("received", "%s from the P-CSCF", m->method);
	if (strcmp(m->method, "REGISTER") == 0) {
		on_register(c, m, from, port);
		return;
	}
	if (strcmp(m->method, "OPTIONS") == 0) {
		struct lab_sub *s = uri_user(m, "From", impi, sizeof(impi)) ?
				    lab_sub_find(&c->subs, impi) : NULL;
		if (s && registered(c, s))
			simple(c, m, 200, "OK", NULL, from, port);
		else
			simple(c, m, 403, "Forbidden", "not registered", from, port);
		return;
	}
	if (strcmp(m->method, "ACK") != 0)
		simple(c, m, 405, "Method Not Allowed", NULL, from, port);
}

static void receive_one(struct scscf *c, int timeout_ms, struct sip_msg *resp_out, bool *got_resp)
{
	struct sip_msg m;
	struct esp_addr from;
	uint16_t port;

	if (sip_recv(c->fd, &m, &from, &port, timeout_ms) != 1)
		return;
	if (m.request) {
		on_request(c, &m, &from, port);
	} else if (resp_out) {
		*resp_out = m;
		*got_resp = true;
	}
}

/* "sip:[user@]host[:port][;params]" -> host, port (5060 when absent) */
static int uri_target(const char *uri, struct esp_addr *host, uint16_t *port)
{
	char h[64];
	const char *p = uri;

	if (strncasecmp(p, "sip:", 4) != 0)
		return -1;
	p += 4;
	const char *at = strchr(p, '@');
	if (at && at < p + strcspn(p, ";>"))
		p = at + 1;
	size_t hl = strcspn(p, ":;>");
	if (hl == 0 || hl >= sizeof(h))
		return -1;
	memcpy(h, p, hl);
	h[hl] = '\0';
	*port = 5060;
	if (p[hl] == ':') {
		long v = strtol(p + hl + 1, NULL, 10);
		if (v <= 0 || v > 65535)
			return -1;
		*port = (uint16_t)v;
	}
	return esp_addr_parse(h, host);
}

/* A MESSAGE to the UE's contact, through the P-CSCF of its Path. */
static int do_message(struct scscf *c, const char *impi, char *err, size_t errlen)
{
	struct lab_sub *s = lab_sub_find(&c->subs, impi);
	struct sip_msg m, resp;
	struct esp_addr next;
	uint16_t next_port;
	char a[ESP_ADDRSTRLEN], call_id[64];
	uint32_t branch;

	if (!s || !registered(c, s)) {
		snprintf(err, errlen, "%s is not registered", impi);
		return -1;
	}
	struct binding *b = binding_of(c, s);
	if (uri_target(b->path, &next, &next_port)) {
		snprintf(err, errlen, "cannot route to the Path %s", b->path);
		return -1;
	}
	lab_random(&branch, sizeof(branch));
	snprintf(call_id, sizeof(call_id), "msg-%08x@scscf.ims.lab", branch);
	sip_request(&m, "MESSAGE", b->contact);
	sip_set(&m, "Via", "SIP/2.0/UDP %s:%u;branch=z9hG4bK%08x", esp_addr_str(&c->addr, a),
		c->port, branch);
	sip_set(&m, "Route", "<%s>", b->path);
	sip_set(&m, "Max-Forwards", "70");
	sip_set(&m, "From", "<sip:announcer@ims.lab>;tag=%08x", branch ^ 1);
	sip_set(&m, "To", "<sip:%s>", s->impi);
	sip_set(&m, "Call-ID", "%s", call_id);
	sip_set(&m, "CSeq", "%u MESSAGE", ++c->cseq);
	sip_set(&m, "Content-Type", "text/plain");
	m.body_len = (size_t)snprintf(m.body, sizeof(m.body), "hello %s", s->impi);
	if (sip_send(c->fd, &m, &next, next_port)) {
		snprintf(err, errlen, "not sent: %s", strerror(errno));
		return -1;
	}
	lab_say("sent", "MESSAGE to %s through the P-CSCF (%s)", b->contact, b->path);
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int rounds = 0; rounds < 1000; rounds++) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		long left = MESSAGE_WAIT_MS - ((t.tv_sec - t0.tv_sec) * 1000 +
					       (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0)
			break;
		bool got = false;
		receive_one(c, (int)left, &resp, &got);
		const char *ci = got ? sip_get(&resp, "Call-ID") : NULL;
		if (!ci || strcmp(ci, call_id) != 0 || resp.status < 200)
			continue;
		if (resp.status == 200) {
			lab_say("received", "200 OK to the MESSAGE, relayed by the P-CSCF");
			return 0;
		}
		snprintf(err, errlen, "the MESSAGE failed: %d %s", resp.status, resp.reason);
		return -1;
	}
	snprintf(err, errlen, "no final answer to the MESSAGE in %d s", MESSAGE_WAIT_MS / 1000);
	return -1;
}

static void command(struct scscf *c, char *line)
{
	char err[512] = "", impi[64];
	unsigned n;
	int rc = -1;

	line[strcspn(line, "\r\n")] = '\0';
	if (sscanf(line, "message %63s", impi) == 1) {
		rc = do_message(c, impi, err, sizeof(err));
	} else if (sscanf(line, "expires %u", &n) == 1 && n > 0) {
		c->max_expires = n;
		lab_say("expires", "registrations granted at most %u s from now on", n);
		rc = 0;
	} else
		snprintf(err, sizeof(err), "unknown command '%s'", line);
	lab_done(line, rc == 0, rc ? err : NULL);
}

int lab_scscf_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "addr", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'p' },
		{ "subscriber", required_argument, NULL, 's' },
		{ "max-expires", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	static struct scscf c;
	char line[256];
	int opt;
	long v;

	c.port = LAB_SIP_PORT;
	c.max_expires = 3600;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'a' && esp_addr_parse(optarg, &c.addr) == 0)
			continue;
		if (opt == 's' && lab_sub_add(&c.subs, optarg) == 0)
			continue;
		if ((opt == 'p' || opt == 'e') && (v = strtol(optarg, NULL, 10)) > 0 &&
		    v <= (opt == 'p' ? 65535 : 86400 * 365)) {
			if (opt == 'p')
				c.port = (uint16_t)v;
			else
				c.max_expires = (unsigned)v;
			continue;
		}
		fprintf(stderr, "usage: espnat-lab-sim scscf --addr ADDR [--port N] "
				"[--max-expires SEC] --subscriber IMPI:K:OPC ...\n");
		return 2;
	}
	if (!c.addr.family || !c.subs.n) {
		fprintf(stderr, "espnat-lab-sim scscf: --addr and --subscriber are needed\n");
		return 2;
	}
	c.fd = sip_socket(&c.addr, c.port);
	if (c.fd < 0) {
		perror("espnat-lab-sim scscf");
		return 1;
	}
	lab_say("ready", "S-CSCF with %zu subscriber(s)", c.subs.n);
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = STDIN_FILENO, .events = POLLIN },
			{ .fd = c.fd, .events = POLLIN },
		};
		if (poll(pfd, 2, -1) < 0)
			continue;
		if (pfd[1].revents & POLLIN)
			receive_one(&c, 0, NULL, NULL);
		if (pfd[0].revents & (POLLIN | POLLHUP)) {
			if (!fgets(line, sizeof(line), stdin) || strncmp(line, "quit", 4) == 0)
				break;
			command(&c, line);
		}
	}
	lab_subs_wipe(&c.subs);
	OPENSSL_cleanse(&c, sizeof(c));
	return 0;
}
