/* The lab's P-CSCF, with a registrar inside that plays the S-CSCF's part
 * (the AKA challenge). It follows TS 33.203 7.2 and TR 33.803 Annex D:
 * NAT detection from the Via (A.7.2), the algorithm choice, the SA_table
 * rules (A.7.1), the four SAs installed in its espnatd with the UE's NAT
 * port left to learn, SM7's checks, re-registration and de-registration.
 * The registrar's pieces (subscribers, the AKA vector, RES) are shared with
 * the S-CSCF simulator (scscf.c) through registrar.c.
 * Commands on stdin:
 *   message IMPI        a MESSAGE to the UE's protected server port
 *   quit */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "nat/milenage.h"
#include "nat/natdetect.h"
#include "nat/registration.h"
#include "nat/secagree.h"
#include "tools/ctlclient.h"
#include "tools/lab/labsim.h"
#include "tools/lab/registrar.h"
#include "tools/lab/sip.h"

#define MAX_REGS 32
#define PORT_PS 5068
#define NPC 4
static const uint16_t pc_pool[NPC] = { 5066, 5070, 5072, 5074 };
#define MAX_SAS_PER_DIRECTION 6		/* A.7.1 rule 3 */
#define WAIT_MS 3000

enum reg_state { REG_FREE, REG_CHALLENGED, REG_REGISTERED };

struct reg {
	enum reg_state state;
	struct lab_sub *sub;
	struct esp_addr ue;		/* source of SM1: the UE's (public) address */
	bool nat;
	struct secagree_header client, server;
	uint32_t spi_uc, spi_us, spi_pc, spi_ps;
	uint16_t port_uc, port_us, port_pc;
	struct aka_vector av;
	char nonce[64];
	uint32_t reqid;
	struct reg *replaces;		/* re-registration: the one in force */
};

struct pcscf {
	struct esp_addr addr;
	const char *ctl;
	int plain_fd, ps_fd;
	int pc_fd[NPC];
	struct lab_subs subs;
	struct reg regs[MAX_REGS];
	uint32_t next_reqid, next_spi;
};

/* The P-CSCF's own priority list (A.7.2: its first pair the UE offered). */
static const struct secagree_pref prefs[] = {
	{ ESP_AUTH_HMAC_SHA1_96, ESP_ENC_AES_CBC },
	{ ESP_AUTH_HMAC_SHA1_96, ESP_ENC_3DES_CBC },
	{ ESP_AUTH_HMAC_MD5_96, ESP_ENC_3DES_CBC },
	{ ESP_AUTH_HMAC_MD5_96, ESP_ENC_NULL },
};
#define NPREFS (sizeof(prefs) / sizeof(prefs[0]))

static struct reg *find_reg(struct pcscf *p, const struct lab_sub *s, enum reg_state st)
{
	for (int i = 0; i < MAX_REGS; i++)
		if (p->regs[i].state == st && p->regs[i].sub == s)
			return &p->regs[i];
	return NULL;
}

static struct reg *free_reg(struct pcscf *p)
{
	for (int i = 0; i < MAX_REGS; i++)
		if (p->regs[i].state == REG_FREE)
			return &p->regs[i];
	return NULL;
}

static void drop_sas(struct pcscf *p, struct reg *r)
{
	char req[64], err[256];

	snprintf(req, sizeof(req), "reg del reqid %u", r->reqid);
	if (ctl_ok(p->ctl, req, err, sizeof(err)))
		lab_say("warning", "removing reqid %u: %s", r->reqid, err);
	OPENSSL_cleanse(r, sizeof(*r));
	r->state = REG_FREE;
}

static void reply(struct pcscf *p, int fd, const struct sip_msg *req, int status,
		  const char *reason, const char *warning, const struct esp_addr *to,
		  uint16_t port)
{
	(void)p;
	lab_reply(fd, req, status, reason, "pcscf.ims.lab", warning, NULL, to, port);
}

/* A.7.1 rule 3: (UE address, protected client port) must be free, and
 * with a NAT the UE's protected server port too (several UEs share the
 * address); at most six SAs per direction for one IMPI. */
static const char *check_rules(struct pcscf *p, const struct lab_sub *s,
			       const struct esp_addr *ue, uint16_t uc, uint16_t us, bool nat)
{
	int mine = 0;

	for (int i = 0; i < MAX_REGS; i++) {
		const struct reg *r = &p->regs[i];
		if (r->state == REG_FREE)
			continue;
		if (r->sub == s) {
			mine += 2;
			continue;
		}
		if (!esp_addr_equal(&r->ue, ue))
			continue;
		if (r->port_uc == uc)
			return "the UE address and protected client port are in use (TS 33.203 7.1)";
		if (nat && r->port_us == us)
			return "behind this NAT another UE uses these protected ports (TR 33.803 A.7.1)";
	}
	if (mine + 2 > MAX_SAS_PER_DIRECTION)
		return "more than six SAs per direction for this IMPI (TR 33.803 A.7.1)";
	return NULL;
}

static uint16_t pick_pc(struct pcscf *p, const struct lab_sub *s)
{
	for (int k = 0; k < NPC; k++) {
		bool used = false;
		for (int i = 0; i < MAX_REGS; i++)
			if (p->regs[i].state != REG_FREE && p->regs[i].sub == s &&
			    p->regs[i].port_pc == pc_pool[k])
				used = true;
		if (!used)
			return pc_pool[k];
	}
	return 0;
}

static int install(struct pcscf *p, struct reg *r, enum esp_auth alg, enum esp_enc ealg,
		   enum nat_mode mode, char *err, size_t errlen)
{
	char req[1024], a[ESP_ADDRSTRLEN], b[ESP_ADDRSTRLEN], ik[33], ck[33];

	for (int i = 0; i < 16; i++) {
		snprintf(ik + 2 * i, 3, "%02x", r->av.ik[i]);
		snprintf(ck + 2 * i, 3, "%02x", r->av.ck[i]);
	}
	snprintf(req, sizeof(req),
		 "reg add role pcscf ue %s pcscf %s ue-spi-c %u ue-spi-s %u ue-port-c %u "
		 "ue-port-s %u pcscf-spi-c %u pcscf-spi-s %u pcscf-port-c %u pcscf-port-s %u "
		 "alg %s ealg %s ik %s ck %s mod %s reqid %u lifetime 3600",
		 esp_addr_str(&r->ue, a), esp_addr_str(&p->addr, b), r->spi_uc, r->spi_us,
		 r->port_uc, r->port_us, r->spi_pc, r->spi_ps, r->port_pc, PORT_PS,
		 nat_alg_name(alg), nat_ealg_name(ealg), ik, ck,
		 mode == NAT_MODE_UDP_ENC_TUN ? "UDP-enc-tun" : "trans", r->reqid);
	int rc = ctl_ok(p->ctl, req, err, errlen);
	OPENSSL_cleanse(req, sizeof(req));
	OPENSSL_cleanse(ik, sizeof(ik));
	OPENSSL_cleanse(ck, sizeof(ck));
	return rc;
}

/* SM1: NAT detection, the choice, the rules, the challenge, the SAs, SM6. */
static void on_register_challenge(struct pcscf *p, int fd, struct sip_msg *m,
				  const struct esp_addr *from, uint16_t port, bool protected_)
{
	char impi[64], perr[256], via[SIP_MAX_VALUE], a[ESP_ADDRSTRLEN];
	struct nat_via_result vr;
	struct reg *in_force = NULL;

	if (!lab_impi_of(m, impi, sizeof(impi))) {
		reply(p, fd, m, 400, "Bad Request", "no Authorization username", from, port);
		return;
	}
	struct lab_sub *s = lab_sub_find(&p->subs, impi);
	if (!s) {
		reply(p, fd, m, 403, "Forbidden", "unknown subscriber", from, port);
		return;
	}
	const char *v = sip_get(m, "Via");
	if (!v || nat_via_process(v, from, port, via, sizeof(via), &vr) < 0) {
		reply(p, fd, m, 400, "Bad Request", "malformed Via", from, port);
		return;
	}
	bool nat = vr.nat != NAT_ABSENT;
	if (protected_) {
		/* over SAs in force: the new ones take their mode (A.7.4.2a) */
		in_force = find_reg(p, s, REG_REGISTERED);
		nat = in_force && in_force->nat;
	} else {
		lab_say("nat", nat ? "Via %s, packet from %s: behind a NAT, received added" :
				     "Via %s matches the source %s: no NAT", vr.sent_by,
			esp_addr_str(from, a));
	}
	struct secagree_header client;
	const char *sc = sip_get(m, "Security-Client");
	if (!sc || secagree_parse(sc, &client, perr, sizeof(perr))) {
		reply(p, fd, m, 400, "Bad Request", sc ? perr : "no Security-Client", from, port);
		return;
	}
	enum esp_auth alg;
	enum esp_enc ealg;
	enum nat_mode mode;
	int pick = secagree_choose(&client, prefs, NPREFS, nat, &alg, &ealg, &mode);
	if (pick == -EPROTONOSUPPORT) {
		/* A.7.2: behind a NAT without UDP-enc-tun: silently discarded */
		lab_say("discarded", "behind a NAT but no UDP-enc-tun offered: discarded silently");
		return;
	}
	if (pick < 0) {
		reply(p, fd, m, 494, "Security Agreement Required", "no acceptable mechanism", from, port);
		return;
	}
	const struct secagree_mech *cm = &client.mech[pick];
	const char *why = check_rules(p, s, from, cm->port_c, cm->port_s, nat);
	if (why) {
		reply(p, fd, m, 403, "Forbidden", why, from, port);
		return;
	}
	struct reg *old = find_reg(p, s, REG_CHALLENGED);
	if (old)
		drop_sas(p, old);	/* an unfinished one is superseded (7.3.1.4) */
	struct reg *r = free_reg(p);
	if (!r) {
		reply(p, fd, m, 503, "Service Unavailable", "registration table full", from, port);
		return;
	}
	memset(r, 0, sizeof(*r));
	r->sub = s;
	r->ue = *from;
	r->nat = nat;
	r->client = client;
	r->spi_uc = cm->spi_c;
	r->spi_us = cm->spi_s;
	r->port_uc = cm->port_c;
	r->port_us = cm->port_s;
	r->port_pc = pick_pc(p, s);
	r->reqid = p->next_reqid++;
	r->replaces = in_force;
	/* SPIs of its own, different from the UE's (A.7.2) */
	do {
		r->spi_pc = p->next_spi++;
		r->spi_ps = p->next_spi++;
	} while (r->spi_pc == r->spi_uc || r->spi_pc == r->spi_us ||
		 r->spi_ps == r->spi_uc || r->spi_ps == r->spi_us);

	/* the S-CSCF's part: an authentication vector */
	if (lab_challenge(s, &r->av, r->nonce, sizeof(r->nonce))) {
		r->state = REG_FREE;
		reply(p, fd, m, 500, "Server Internal Error", "AKA failed", from, port);
		return;
	}
	secagree_server(prefs, NPREFS, r->spi_pc, r->spi_ps, r->port_pc, PORT_PS, mode, &r->server);
	if (install(p, r, alg, ealg, mode, perr, sizeof(perr))) {
		r->state = REG_FREE;
		reply(p, fd, m, 403, "Forbidden", perr, from, port);
		return;
	}
	r->state = REG_CHALLENGED;
	struct json_writer w;
	lab_emit_begin(&w, "sas");
	json_w_kv_uint(&w, "reqid", r->reqid);
	json_w_kv_string(&w, "impi", s->impi);
	json_w_kv_string(&w, "mode", mode == NAT_MODE_UDP_ENC_TUN ? "UDP-enc-tun" : "trans");
	json_w_kv_string(&w, "alg", nat_alg_name(alg));
	json_w_kv_string(&w, "ealg", nat_ealg_name(ealg));
	lab_emit_end(&w);

	struct sip_msg resp;
	char sec[1024];
	sip_response(&resp, m, 401, "Unauthorized");
	sip_set(&resp, "Via", "%s", via);
	sip_set(&resp, "WWW-Authenticate", "Digest realm=\"%s\",nonce=\"%s\",algorithm=AKAv1-MD5",
		LAB_REALM, r->nonce);
	secagree_format(&r->server, sec, sizeof(sec));
	sip_set(&resp, "Security-Server", "%s", sec);
	sip_send(fd, &resp, from, port);
	lab_say("sent", "401 Unauthorized (SM6) to %s:%u, %s", esp_addr_str(from, a), port,
		protected_ ? "protected by the SAs in force" : "unprotected");
}

/* SM7, over the new SAs: the checks of A.7.2 and 7.2, then SM12. */
static void on_register_auth(struct pcscf *p, int fd, struct sip_msg *m,
			     const struct esp_addr *from, uint16_t port, struct reg *r)
{
	char perr[256], sent_by[80];
	struct secagree_header verify, client;
	const char *sv = sip_get(m, "Security-Verify"), *sc = sip_get(m, "Security-Client");
	const char *v = sip_get(m, "Via");
	struct nat_via_result vr;
	char via[SIP_MAX_VALUE];

	/* A.7.1 rule 2: the Via names the address the packet came from */
	if (!v || nat_via_process(v, from, port, via, sizeof(via), &vr) < 0 ||
	    vr.nat != NAT_ABSENT) {
		reply(p, fd, m, 403, "Forbidden", "Via does not name the source address", from, port);
		return;
	}
	snprintf(sent_by, sizeof(sent_by), "%s", vr.sent_by);
	if (!sv || secagree_parse(sv, &verify, perr, sizeof(perr)) ||
	    !secagree_equal(&verify, &r->server)) {
		reply(p, fd, m, 403, "Forbidden", "Security-Verify differs from the Security-Server sent",
		      from, port);
		return;
	}
	if (!sc || secagree_parse(sc, &client, perr, sizeof(perr)) ||
	    !secagree_equal(&client, &r->client)) {
		reply(p, fd, m, 403, "Forbidden", "Security-Client differs from SM1's", from, port);
		return;
	}
	if (!lab_res_ok(r->sub, &r->av, r->nonce, m)) {
		reply(p, fd, m, 403, "Forbidden", "RES does not match XRES", from, port);
		return;
	}
	lab_say("verified", "SM7: Security-Verify, Security-Client and RES check out");
	struct sip_msg resp;
	sip_response(&resp, m, 200, "OK");
	const char *contact = sip_get(m, "Contact");
	if (contact)
		sip_set(&resp, "Contact", "%s;expires=600000", contact);
	sip_send(fd, &resp, from, port);
	lab_say("sent", "200 OK (SM12), protected by the new SAs");
	r->state = REG_REGISTERED;
	if (r->replaces && r->replaces->state == REG_REGISTERED) {
		lab_say("sas", "the new SAs carried a message: the old ones (reqid %u) go",
			r->replaces->reqid);
		drop_sas(p, r->replaces);
	}
	r->replaces = NULL;
}

static struct reg *reg_of_source(struct pcscf *p, const struct esp_addr *from, uint16_t port,
				 enum reg_state st)
{
	for (int i = 0; i < MAX_REGS; i++) {
		struct reg *r = &p->regs[i];
		if (r->state == st && esp_addr_equal(&r->ue, from) && r->port_uc == port)
			return r;
	}
	return NULL;
}

/* Everything that arrives on the protected server port came through an
 * inbound SA (espnatd drops plaintext on protected ports). */
static void on_protected(struct pcscf *p)
{
	struct sip_msg m;
	struct esp_addr from;
	uint16_t port;

	if (sip_recv(p->ps_fd, &m, &from, &port, 0) != 1 || !m.request)
		return;
	lab_say("received", "%s on the protected server port (SA from client port %u)", m.method, port);
	struct reg *chal = reg_of_source(p, &from, port, REG_CHALLENGED);
	struct reg *reg = reg_of_source(p, &from, port, REG_REGISTERED);
	const char *expires = sip_get(&m, "Expires");
	if (strcmp(m.method, "REGISTER") == 0) {
		if (chal) {
			on_register_auth(p, p->ps_fd, &m, &from, port, chal);
		} else if (reg && expires && atoi(expires) == 0) {
			reply(p, p->ps_fd, &m, 200, "OK", NULL, &from, port);
			lab_say("deregistered", "de-registration: the SAs of reqid %u go", reg->reqid);
			drop_sas(p, reg);
		} else if (reg) {
			on_register_challenge(p, p->ps_fd, &m, &from, port, true);
		} else {
			reply(p, p->ps_fd, &m, 403, "Forbidden", "no SA for this client port", &from, port);
		}
		return;
	}
	reply(p, p->ps_fd, &m, reg ? 200 : 403, reg ? "OK" : "Forbidden", NULL, &from, port);
}

static void on_plain(struct pcscf *p)
{
	struct sip_msg m;
	struct esp_addr from;
	uint16_t port;

	if (sip_recv(p->plain_fd, &m, &from, &port, 0) != 1 || !m.request)
		return;
	lab_say("received", "%s, unprotected, on port 5060", m.method);
	if (strcmp(m.method, "REGISTER") == 0)
		on_register_challenge(p, p->plain_fd, &m, &from, port, false);
	else
		reply(p, p->plain_fd, &m, 403, "Forbidden", "only REGISTER is accepted unprotected",
		      &from, port);
}

static int pc_socket(struct pcscf *p, uint16_t port)
{
	for (int k = 0; k < NPC; k++)
		if (pc_pool[k] == port)
			return p->pc_fd[k];
	return -1;
}

/* A request toward the UE: from the P-CSCF's protected client port to the
 * UE's protected server port; espnatd sends it to the learned port_Uenc. */
static int do_message(struct pcscf *p, const char *impi, char *err, size_t errlen)
{
	struct lab_sub *s = lab_sub_find(&p->subs, impi);
	struct reg *r = s ? find_reg(p, s, REG_REGISTERED) : NULL;
	struct sip_msg m, resp;
	char a[ESP_ADDRSTRLEN], b[ESP_ADDRSTRLEN];
	static unsigned cseq;
	uint32_t branch;

	if (!r) {
		snprintf(err, errlen, "%s is not registered", impi);
		return -1;
	}
	int fd = pc_socket(p, r->port_pc);
	lab_random(&branch, sizeof(branch));
	sip_request(&m, "MESSAGE", "sip:ue");
	snprintf(m.uri, sizeof(m.uri), "sip:%s@%s:%u", s->impi, esp_addr_str(&r->ue, a), r->port_us);
	sip_set(&m, "Via", "SIP/2.0/UDP %s:%u;branch=z9hG4bK%08x", esp_addr_str(&p->addr, b),
		r->port_pc, branch);
	sip_set(&m, "Max-Forwards", "70");
	sip_set(&m, "From", "<sip:announcer@ims.lab>;tag=%08x", branch ^ 1);
	sip_set(&m, "To", "<sip:%s>", s->impi);
	sip_set(&m, "Call-ID", "msg-%08x@pcscf.ims.lab", branch);
	sip_set(&m, "CSeq", "%u MESSAGE", ++cseq);
	sip_set(&m, "Content-Type", "text/plain");
	m.body_len = (size_t)snprintf(m.body, sizeof(m.body), "hello %s", s->impi);
	if (sip_send(fd, &m, &r->ue, r->port_us)) {
		snprintf(err, errlen, "not sent: %s", strerror(errno));
		return -1;
	}
	lab_say("sent", "MESSAGE to %s:%u from protected client port %u", a, r->port_us, r->port_pc);
	struct esp_addr from;
	uint16_t port;
	for (int tries = 0; tries < 5; tries++) {
		if (sip_recv(fd, &resp, &from, &port, WAIT_MS) != 1)
			break;
		if (!resp.request && resp.status == 200) {
			lab_say("received", "200 OK to the MESSAGE, protected");
			return 0;
		}
	}
	snprintf(err, errlen, "no answer from the UE");
	return -1;
}

static void command(struct pcscf *p, char *line)
{
	char err[512] = "", impi[64];
	int rc = -1;

	line[strcspn(line, "\r\n")] = '\0';
	if (sscanf(line, "message %63s", impi) == 1)
		rc = do_message(p, impi, err, sizeof(err));
	else
		snprintf(err, sizeof(err), "unknown command '%s'", line);
	lab_done(line, rc == 0, rc ? err : NULL);
}

int lab_pcscf_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "addr", required_argument, NULL, 'a' },
		{ "espnatd", required_argument, NULL, 'c' },
		{ "subscriber", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	static struct pcscf p;
	char line[256];
	int c;

	p.next_reqid = 100;
	lab_random(&p.next_spi, sizeof(p.next_spi));
	p.next_spi = 0x20000 + (p.next_spi & 0xffff) * 4;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'a' && esp_addr_parse(optarg, &p.addr) == 0)
			continue;
		if (c == 'c') {
			p.ctl = optarg;
			continue;
		}
		if (c == 's' && lab_sub_add(&p.subs, optarg) == 0)
			continue;
		fprintf(stderr, "usage: espnat-lab-sim pcscf --addr ADDR --espnatd SOCKET "
				"--subscriber IMPI:K:OPC ...\n");
		return 2;
	}
	if (!p.addr.family || !p.ctl || !p.subs.n) {
		fprintf(stderr, "espnat-lab-sim pcscf: --addr, --espnatd and --subscriber are needed\n");
		return 2;
	}
	p.plain_fd = sip_socket(&p.addr, LAB_SIP_PORT);
	p.ps_fd = sip_socket(&p.addr, PORT_PS);
	for (int k = 0; k < NPC; k++)
		p.pc_fd[k] = sip_socket(&p.addr, pc_pool[k]);
	if (p.plain_fd < 0 || p.ps_fd < 0) {
		perror("espnat-lab-sim pcscf");
		return 1;
	}
	lab_say("ready", "P-CSCF with %zu subscriber(s)", p.subs.n);
	for (;;) {
		struct pollfd pfd[3] = {
			{ .fd = STDIN_FILENO, .events = POLLIN },
			{ .fd = p.plain_fd, .events = POLLIN },
			{ .fd = p.ps_fd, .events = POLLIN },
		};
		if (poll(pfd, 3, -1) < 0)
			continue;
		if (pfd[1].revents & POLLIN)
			on_plain(&p);
		if (pfd[2].revents & POLLIN)
			on_protected(&p);
		if (pfd[0].revents & (POLLIN | POLLHUP)) {
			if (!fgets(line, sizeof(line), stdin) || strncmp(line, "quit", 4) == 0)
				break;
			command(&p, line);
		}
	}
	OPENSSL_cleanse(&p, sizeof(p));
	return 0;
}
