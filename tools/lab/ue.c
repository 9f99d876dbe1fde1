/* The lab's UE: registers with IMS AKA and sec-agree (TS 33.203 7.2, TR
 * 33.803 A.7.2), installs its four SAs in its own espnatd, and answers
 * requests that reach its protected server port. Commands on stdin:
 *   register            initial registration (SM1 unprotected)
 *   sm1, sm7            the same in two halves: SM1 up to the SAs, then SM7
 *   sm7 tamper          SM7 with a Security-Verify that is not the
 *                       Security-Server received (the P-CSCF must refuse it)
 *   offer trans|all     the modes the next Security-Client offers: trans
 *                       only, or trans and UDP-enc-tun (the default)
 *   ports UC US         protected ports for the next registration
 *   options             a protected request to the P-CSCF (refreshes the NAT)
 *   reregister          authenticated re-registration over the current SAs:
 *                       new client port and SPIs, same server port
 *   deregister          Expires: 0, then the SAs go
 *   quit */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "nat/milenage.h"
#include "nat/registration.h"
#include "nat/secagree.h"
#include "tools/ctlclient.h"
#include "tools/lab/akadigest.h"
#include "tools/lab/labsim.h"
#include "tools/lab/sip.h"

#define WAIT_MS 3000

/* What the 401 says: NAT, the challenge, the P-CSCF's offer. */
struct challenge {
	uint8_t rand[16], autn[16], res[8], ck[16], ik[16];
	char nonce[64];
	struct secagree_header server;
	enum esp_auth alg;
	enum esp_enc ealg;
	enum nat_mode mode;
	uint32_t spi_pc, spi_ps;
	uint16_t port_pc, port_ps;
};

struct ue {
	char impi[64];
	char user[64];
	uint8_t k[16], opc[16];
	const char *ctl;		/* its espnatd */
	struct esp_addr local;		/* on the LAN, behind the NAT */
	struct esp_addr pub;		/* learned from `received` */
	struct esp_addr pcscf;
	bool nat;
	int plain_fd, client_fd, server_fd;
	uint16_t port_uc, port_us;	/* the next registration's */
	uint32_t spi_uc, spi_us;
	/* the registration in force */
	bool registered;
	uint32_t reqid;
	uint16_t cur_uc, cur_us, port_pc, port_ps;
	struct secagree_header client_hdr;
	char call_id[96], tag[16];
	/* between SM1's 401 and SM7 */
	bool pending_active, pending_reauth;
	struct challenge pending;
	uint32_t pending_reqid;
	int pending_old_client;
	unsigned cseq;
	uint32_t next_reqid;
	unsigned offer_mods;		/* SECAGREE_MOD_* in Security-Client */
	bool tamper_verify;
};

static void new_branch(char *buf, size_t len)
{
	uint32_t r;

	lab_random(&r, sizeof(r));
	snprintf(buf, len, "z9hG4bK%08x", r);
}

/* SPIs the UE has not used yet (TS 33.203 7.1: unique among its SAs). */
static void pick_spis(struct ue *u)
{
	uint32_t r;

	lab_random(&r, sizeof(r));
	u->spi_uc = 0x10000 + (r & 0xfffff) * 2;
	u->spi_us = u->spi_uc + 1;
}

static const struct secagree_pref offered[] = {
	{ ESP_AUTH_HMAC_SHA1_96, ESP_ENC_AES_CBC },
	{ ESP_AUTH_HMAC_MD5_96, ESP_ENC_3DES_CBC },
	{ ESP_AUTH_HMAC_SHA1_96, ESP_ENC_NULL },
};

/* One ipsec-3gpp mechanism per algorithm pair, each offering transport
 * and UDP-encapsulated tunnel mode (TR 33.803 B.3.3). */
static void build_client(struct ue *u, struct secagree_header *h)
{
	memset(h, 0, sizeof(*h));
	for (size_t i = 0; i < sizeof(offered) / sizeof(offered[0]); i++) {
		struct secagree_mech *m = &h->mech[h->n++];
		snprintf(m->name, sizeof(m->name), "ipsec-3gpp");
		m->ipsec_3gpp = true;
		m->q_milli = -1;
		m->alg = offered[i].alg;
		m->ealg = offered[i].ealg;
		m->prot = 0;
		m->mods = u->offer_mods;
		m->spi_c = u->spi_uc;
		m->spi_s = u->spi_us;
		m->port_c = u->port_uc;
		m->port_s = u->port_us;
	}
}

static void common_headers(struct ue *u, struct sip_msg *m, const struct esp_addr *via,
			   uint16_t via_port, bool rport)
{
	char a[ESP_ADDRSTRLEN], branch[32];

	new_branch(branch, sizeof(branch));
	sip_set(m, "Via", "SIP/2.0/UDP %s:%u;branch=%s%s", esp_addr_str(via, a), via_port,
		branch, rport ? ";rport" : "");
	sip_set(m, "Max-Forwards", "70");
	sip_set(m, "From", "<sip:%s>;tag=%s", u->impi, u->tag);
	sip_set(m, "To", "<sip:%s>", u->impi);
	sip_set(m, "Call-ID", "%s", u->call_id);
}

static void register_request(struct ue *u, struct sip_msg *m, bool protected_,
			     const char *auth, const struct secagree_header *verify,
			     int expires)
{
	char a[ESP_ADDRSTRLEN], sec[1024];
	const struct esp_addr *at = protected_ ? &u->pub : &u->local;
	uint16_t port = protected_ ? u->port_us : LAB_SIP_PORT;

	sip_request(m, "REGISTER", LAB_DOMAIN_URI);
	common_headers(u, m, at, port, !protected_);
	sip_set(m, "CSeq", "%u REGISTER", ++u->cseq);
	sip_set(m, "Contact", "<sip:%s@%s:%u>", u->user, esp_addr_str(at, a), port);
	sip_set(m, "Expires", "%d", expires);
	secagree_format(&u->client_hdr, sec, sizeof(sec));
	sip_set(m, "Security-Client", "%s", sec);
	if (verify) {
		secagree_format(verify, sec, sizeof(sec));
		sip_set(m, "Security-Verify", "%s", sec);
	}
	sip_set(m, "Require", "sec-agree");
	sip_set(m, "Proxy-Require", "sec-agree");
	sip_set(m, "Authorization", "%s", auth);
}

static void report_sent(const struct sip_msg *m, const char *label, bool protected_)
{
	struct json_writer w;

	lab_emit_begin(&w, "sent");
	json_w_kv_string(&w, "label", label);
	json_w_kv_string(&w, "msg", m->request ? m->method : m->reason);
	json_w_kv_bool(&w, "protected", protected_);
	lab_emit_end(&w);
}

/* Waits for the final response to the request with CSeq @cseq. */
static int wait_response(int fd, unsigned cseq, struct sip_msg *resp)
{
	struct esp_addr from;
	uint16_t port;

	for (int tries = 0; tries < 10; tries++) {
		int r = sip_recv(fd, resp, &from, &port, WAIT_MS);
		if (r <= 0)
			return -1;
		const char *cs = sip_get(resp, "CSeq");
		if (!resp->request && cs && (unsigned)atoi(cs) == cseq && resp->status >= 200)
			return 0;
	}
	return -1;
}


static int read_nat(struct ue *u, const struct sip_msg *r, char *err, size_t errlen)
{
	char received[64];
	const char *via = sip_get(r, "Via");

	/* B.3.3: `received` in the answer to an unprotected request says a
	 * NAT changed our address; what it holds is our public address */
	if (!u->registered && via && sip_param(via, "received", received, sizeof(received))) {
		struct esp_addr pub;
		if (esp_addr_parse(received, &pub)) {
			snprintf(err, errlen, "received '%s' is no address", received);
			return -1;
		}
		u->nat = !esp_addr_equal(&pub, &u->local);
		u->pub = pub;
	} else if (!u->registered) {
		u->nat = false;
		u->pub = u->local;
	}
	if (!u->registered)
		lab_say("nat", u->nat ? "behind a NAT: public address from received" :
				       "no NAT on the path");
	return 0;
}

/* The UE takes the first pair on the P-CSCF's list that it supports
 * (A.7.2), in the mode the P-CSCF indicated. */
static int read_offer(const struct sip_msg *r, struct challenge *c, char *err, size_t errlen)
{
	const char *ss = sip_get(r, "Security-Server");
	char perr[160];

	if (!ss || secagree_parse(ss, &c->server, perr, sizeof(perr))) {
		snprintf(err, errlen, "Security-Server: %s", ss ? perr : "missing");
		return -1;
	}
	for (size_t i = 0; i < c->server.n; i++) {
		const struct secagree_mech *m = &c->server.mech[i];
		if (!m->ipsec_3gpp || m->alg < 0 || m->ealg == SECAGREE_UNSUPPORTED)
			continue;
		int ealg = m->ealg == -1 ? ESP_ENC_NULL : m->ealg;
		for (size_t k = 0; k < sizeof(offered) / sizeof(offered[0]); k++) {
			if (offered[k].alg != (enum esp_auth)m->alg || offered[k].ealg != (enum esp_enc)ealg)
				continue;
			c->alg = (enum esp_auth)m->alg;
			c->ealg = (enum esp_enc)ealg;
			c->mode = m->mods & SECAGREE_MOD_UDP_ENC_TUN ? NAT_MODE_UDP_ENC_TUN : NAT_MODE_TRANS;
			c->spi_pc = m->spi_c;
			c->spi_ps = m->spi_s;
			c->port_pc = m->port_c;
			c->port_ps = m->port_s;
			return 0;
		}
	}
	snprintf(err, errlen, "the P-CSCF offered nothing this UE supports");
	return -1;
}

static int read_challenge(struct ue *u, const struct sip_msg *r, struct challenge *c,
			  char *err, size_t errlen)
{
	const char *www = sip_get(r, "WWW-Authenticate");
	uint8_t sqn[6];

	if (!www || !aka_digest_param(www, "nonce", c->nonce, sizeof(c->nonce)) ||
	    aka_nonce_decode(c->nonce, c->rand, c->autn)) {
		snprintf(err, errlen, "401 without an AKA nonce");
		return -1;
	}
	int rc = aka_respond(u->k, u->opc, c->rand, c->autn, c->res, c->ck, c->ik, sqn);
	if (rc) {
		snprintf(err, errlen, rc == -EBADMSG ? "AUTN did not verify: not our network" :
						       "AKA failed");
		return -1;
	}
	lab_say("aka", "AUTN verified (MAC-A), RES, CK and IK derived");
	return 0;
}

static int install_sas(struct ue *u, const struct challenge *c, uint32_t reqid,
		       char *err, size_t errlen)
{
	char req[1024], a[ESP_ADDRSTRLEN], b[ESP_ADDRSTRLEN], l[ESP_ADDRSTRLEN];
	char ik[33], ck[33];

	for (int i = 0; i < 16; i++) {
		snprintf(ik + 2 * i, 3, "%02x", c->ik[i]);
		snprintf(ck + 2 * i, 3, "%02x", c->ck[i]);
	}
	int n = snprintf(req, sizeof(req),
			 "reg add role ue ue %s pcscf %s ue-spi-c %u ue-spi-s %u ue-port-c %u "
			 "ue-port-s %u pcscf-spi-c %u pcscf-spi-s %u pcscf-port-c %u pcscf-port-s %u "
			 "alg %s ealg %s ik %s ck %s mod %s reqid %u lifetime 3600",
			 esp_addr_str(&u->pub, a), esp_addr_str(&u->pcscf, b), u->spi_uc, u->spi_us,
			 u->port_uc, u->port_us, c->spi_pc, c->spi_ps, c->port_pc, c->port_ps,
			 nat_alg_name(c->alg), nat_ealg_name(c->ealg), ik, ck,
			 c->mode == NAT_MODE_UDP_ENC_TUN ? "UDP-enc-tun" : "trans", reqid);
	if (c->mode == NAT_MODE_UDP_ENC_TUN)
		snprintf(req + n, sizeof(req) - (size_t)n, " ue-local %s", esp_addr_str(&u->local, l));
	int rc = ctl_ok(u->ctl, req, err, errlen);
	OPENSSL_cleanse(req, sizeof(req));
	OPENSSL_cleanse(ik, sizeof(ik));
	OPENSSL_cleanse(ck, sizeof(ck));
	if (rc == 0) {
		struct json_writer w;
		lab_emit_begin(&w, "sas");
		json_w_kv_uint(&w, "reqid", reqid);
		json_w_kv_string(&w, "mode", c->mode == NAT_MODE_UDP_ENC_TUN ? "UDP-enc-tun" : "trans");
		json_w_kv_string(&w, "alg", nat_alg_name(c->alg));
		json_w_kv_string(&w, "ealg", nat_ealg_name(c->ealg));
		lab_emit_end(&w);
	}
	return rc;
}

static int open_protected(struct ue *u, char *err, size_t errlen)
{
	char a[ESP_ADDRSTRLEN];

	if (u->client_fd >= 0)
		close(u->client_fd);
	u->client_fd = sip_socket(&u->pub, u->port_uc);
	if (u->client_fd < 0) {
		snprintf(err, errlen, "binding %s:%u: %s (is the public address on this host?)",
			 esp_addr_str(&u->pub, a), u->port_uc, strerror(errno));
		return -1;
	}
	if (u->server_fd < 0 || u->cur_us != u->port_us) {
		if (u->server_fd >= 0)
			close(u->server_fd);
		u->server_fd = sip_socket(&u->pub, u->port_us);
		if (u->server_fd < 0) {
			snprintf(err, errlen, "binding %s:%u: %s", esp_addr_str(&u->pub, a),
				 u->port_us, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int drop_reqid(struct ue *u, uint32_t reqid)
{
	char req[64], err[256];

	snprintf(req, sizeof(req), "reg del reqid %u", reqid);
	if (ctl_ok(u->ctl, req, err, sizeof(err)) == 0)
		return 0;
	lab_say("warning", "removing the SAs of reqid %u: %s", reqid, err);
	return -1;
}

/* SM1 (unprotected, or over the SAs in force), the 401, the new SAs. The
 * registration stays pending until finish_register() sends SM7. */
static int start_register(struct ue *u, bool reauth, char *err, size_t errlen)
{
	struct sip_msg m, r;
	struct challenge *c = &u->pending;
	char auth[512];
	int fd = reauth ? u->client_fd : u->plain_fd;

	if (u->pending_active) {
		snprintf(err, errlen, "a registration is pending: send sm7 first");
		return -1;
	}
	memset(c, 0, sizeof(*c));
	if (!reauth) {
		uint32_t r1;
		lab_random(&r1, sizeof(r1));
		snprintf(u->tag, sizeof(u->tag), "%08x", r1);
		snprintf(u->call_id, sizeof(u->call_id), "reg-%08x@%s", r1 ^ 0x5a5a5a5a, u->user);
	}
	pick_spis(u);
	build_client(u, &u->client_hdr);
	snprintf(auth, sizeof(auth), "Digest username=\"%s\",realm=\"%s\",nonce=\"\",uri=\"%s\",response=\"\"",
		 u->impi, LAB_REALM, LAB_DOMAIN_URI);
	/* a re-registration goes over the SAs in force: from their client
	 * port to the P-CSCF's server port (7.3.3) */
	register_request(u, &m, reauth, auth, NULL, 600000);
	report_sent(&m, "SM1", reauth);
	if (sip_send(fd, &m, &u->pcscf, reauth ? u->port_ps : LAB_SIP_PORT)) {
		snprintf(err, errlen, "sending SM1: %s", strerror(errno));
		return -1;
	}
	if (wait_response(fd, u->cseq, &r)) {
		snprintf(err, errlen, "no answer to SM1");
		return -1;
	}
	if (r.status != 401) {
		const char *warn = sip_get(&r, "Warning");
		snprintf(err, errlen, "SM1 refused: %d %s%s%s", r.status, r.reason,
			 warn ? ": " : "", warn ? warn : "");
		return -1;
	}
	lab_say("received", "401 Unauthorized (SM6) with Security-Server and the AKA challenge");
	if (read_nat(u, &r, err, errlen) || read_challenge(u, &r, c, err, errlen) ||
	    read_offer(&r, c, err, errlen))
		goto fail;
	u->pending_reqid = u->next_reqid++;
	if (install_sas(u, c, u->pending_reqid, err, errlen))
		goto fail;
	u->pending_old_client = u->client_fd;
	u->client_fd = -1;
	if (open_protected(u, err, errlen)) {
		drop_reqid(u, u->pending_reqid);
		u->client_fd = u->pending_old_client;
		goto fail;
	}
	u->pending_active = true;
	u->pending_reauth = reauth;
	return 0;
fail:
	OPENSSL_cleanse(c, sizeof(*c));
	return -1;
}

/* SM7 over the new SAs, the 200 OK; a re-registration then lets the old
 * SAs go (7.3.3: once the new ones carried a message). */
static int finish_register(struct ue *u, char *err, size_t errlen)
{
	struct sip_msg m, r;
	struct challenge *c = &u->pending;
	char auth[512], response[33];
	int rc = -1;

	if (!u->pending_active) {
		snprintf(err, errlen, "no registration pending: send sm1 first");
		return -1;
	}
	u->pending_active = false;
	aka_digest_response(u->impi, LAB_REALM, c->res, sizeof(c->res), "REGISTER", LAB_DOMAIN_URI,
			    c->nonce, response);
	snprintf(auth, sizeof(auth),
		 "Digest username=\"%s\",realm=\"%s\",nonce=\"%s\",uri=\"%s\",response=\"%s\",algorithm=AKAv1-MD5",
		 u->impi, LAB_REALM, c->nonce, LAB_DOMAIN_URI, response);
	u->port_ps = c->port_ps;
	struct secagree_header verify = c->server;
	if (u->tamper_verify)
		verify.mech[0].spi_c ^= 1;	/* not what the P-CSCF offered */
	register_request(u, &m, true, auth, &verify, 600000);
	report_sent(&m, "SM7", true);
	if (sip_send(u->client_fd, &m, &u->pcscf, c->port_ps)) {
		snprintf(err, errlen, "sending SM7: %s", strerror(errno));
		goto out;
	}
	if (wait_response(u->client_fd, u->cseq, &r)) {
		snprintf(err, errlen, "no answer to SM7");
		goto out;
	}
	if (r.status != 200) {
		const char *warn = sip_get(&r, "Warning");
		snprintf(err, errlen, "SM7 not accepted: %d %s%s%s", r.status, r.reason,
			 warn ? ": " : "", warn ? warn : "");
		goto out;
	}
	lab_say("received", "200 OK (SM12), protected: registered");
	if (u->pending_reauth && drop_reqid(u, u->reqid) == 0)
		lab_say("sas", "old SAs of reqid %u removed (client port %u)", u->reqid, u->cur_uc);
	if (u->pending_old_client >= 0)
		close(u->pending_old_client);
	u->pending_old_client = -1;
	u->registered = true;
	u->reqid = u->pending_reqid;
	u->cur_uc = u->port_uc;
	u->cur_us = u->port_us;
	u->port_pc = c->port_pc;
	rc = 0;
out:
	if (rc) {
		/* the new SAs never carried a message: back to the old ones */
		drop_reqid(u, u->pending_reqid);
		close(u->client_fd);
		u->client_fd = u->pending_old_client;
		u->pending_old_client = -1;
	}
	OPENSSL_cleanse(c, sizeof(*c));
	return rc;
}

static int do_register(struct ue *u, bool reauth, char *err, size_t errlen)
{
	if (start_register(u, reauth, err, errlen))
		return -1;
	return finish_register(u, err, errlen);
}

static int do_options(struct ue *u, char *err, size_t errlen)
{
	struct sip_msg m, r;

	if (!u->registered) {
		snprintf(err, errlen, "not registered");
		return -1;
	}
	sip_request(&m, "OPTIONS", LAB_DOMAIN_URI);
	common_headers(u, &m, &u->pub, u->cur_us, false);
	sip_set(&m, "CSeq", "%u OPTIONS", ++u->cseq);
	report_sent(&m, "OPTIONS", true);
	if (sip_send(u->client_fd, &m, &u->pcscf, u->port_ps)) {
		snprintf(err, errlen, "sending OPTIONS: %s", strerror(errno));
		return -1;
	}
	if (wait_response(u->client_fd, u->cseq, &r) || r.status != 200) {
		snprintf(err, errlen, "no 200 to OPTIONS");
		return -1;
	}
	lab_say("received", "200 OK to OPTIONS, protected");
	return 0;
}

static int do_deregister(struct ue *u, char *err, size_t errlen)
{
	struct sip_msg m, r;

	if (!u->registered) {
		snprintf(err, errlen, "not registered");
		return -1;
	}
	sip_request(&m, "REGISTER", LAB_DOMAIN_URI);
	common_headers(u, &m, &u->pub, u->cur_us, false);
	sip_set(&m, "CSeq", "%u REGISTER", ++u->cseq);
	sip_set(&m, "Expires", "0");
	sip_set(&m, "Contact", "*");
	report_sent(&m, "de-REGISTER", true);
	if (sip_send(u->client_fd, &m, &u->pcscf, u->port_ps)) {
		snprintf(err, errlen, "sending the de-REGISTER: %s", strerror(errno));
		return -1;
	}
	if (wait_response(u->client_fd, u->cseq, &r) || r.status != 200) {
		snprintf(err, errlen, "de-registration not accepted");
		return -1;
	}
	if (drop_reqid(u, u->reqid)) {
		snprintf(err, errlen, "the SAs of reqid %u stay", u->reqid);
		return -1;
	}
	lab_say("sas", "de-registered: the SAs of reqid %u removed", u->reqid);
	u->registered = false;
	return 0;
}

/* A request on the protected server port: answered, reported. */
static void serve(struct ue *u)
{
	struct sip_msg m, r;
	struct esp_addr from;
	uint16_t port;
	char a[ESP_ADDRSTRLEN];

	if (sip_recv(u->server_fd, &m, &from, &port, 0) != 1 || !m.request)
		return;
	/* reported before it is answered: whoever sees the answer can count
	 * on the report */
	struct json_writer w;
	lab_emit_begin(&w, "request");
	json_w_kv_string(&w, "method", m.method);
	json_w_kv_string(&w, "from", esp_addr_str(&from, a));
	json_w_kv_uint(&w, "port", port);
	json_w_kv_string(&w, "body", m.body_len ? m.body : "");
	lab_emit_end(&w);
	sip_response(&r, &m, 200, "OK");
	sip_send(u->server_fd, &r, &from, port);
}

static void command(struct ue *u, char *line)
{
	char err[512] = "";
	int rc = -1;
	unsigned a, b;

	line[strcspn(line, "\r\n")] = '\0';
	if (strcmp(line, "register") == 0) {
		rc = do_register(u, false, err, sizeof(err));
	} else if (strcmp(line, "sm1") == 0) {
		rc = start_register(u, false, err, sizeof(err));
	} else if (strcmp(line, "sm7") == 0) {
		rc = finish_register(u, err, sizeof(err));
	} else if (strcmp(line, "sm7 tamper") == 0) {
		u->tamper_verify = true;
		rc = finish_register(u, err, sizeof(err));
		u->tamper_verify = false;
	} else if (strcmp(line, "offer trans") == 0 || strcmp(line, "offer all") == 0) {
		u->offer_mods = SECAGREE_MOD_TRANS | (line[6] == 'a' ? SECAGREE_MOD_UDP_ENC_TUN : 0);
		rc = 0;
	} else if (strcmp(line, "reregister") == 0) {
		if (!u->registered) {
			snprintf(err, sizeof(err), "not registered");
		} else {
			/* 7.3.3: the client port changes, the server port stays */
			u->port_uc = (uint16_t)(u->cur_uc + 1);
			u->port_us = u->cur_us;
			rc = do_register(u, true, err, sizeof(err));
		}
	} else if (sscanf(line, "ports %u %u", &a, &b) == 2 && a && b && a < 65536 && b < 65536) {
		u->port_uc = (uint16_t)a;
		u->port_us = (uint16_t)b;
		rc = 0;
	} else if (strcmp(line, "options") == 0) {
		rc = do_options(u, err, sizeof(err));
	} else if (strcmp(line, "deregister") == 0) {
		rc = do_deregister(u, err, sizeof(err));
	} else {
		snprintf(err, sizeof(err), "unknown command '%s'", line);
	}
	lab_done(line, rc == 0, rc ? err : NULL);
}

static int parse_options(int argc, char **argv, struct ue *u)
{
	static const struct option opts[] = {
		{ "impi", required_argument, NULL, 'i' }, { "k", required_argument, NULL, 'k' },
		{ "opc", required_argument, NULL, 'o' }, { "local", required_argument, NULL, 'l' },
		{ "pcscf", required_argument, NULL, 'p' }, { "ports", required_argument, NULL, 'P' },
		{ "espnatd", required_argument, NULL, 'c' }, { "reqid", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	unsigned a, b;

	u->next_reqid = 1;
	u->offer_mods = SECAGREE_MOD_TRANS | SECAGREE_MOD_UDP_ENC_TUN;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			snprintf(u->impi, sizeof(u->impi), "%s", optarg);
			snprintf(u->user, sizeof(u->user), "%.*s", (int)strcspn(optarg, "@"), optarg);
			break;
		case 'k':
			if (lab_hex(optarg, u->k, 16))
				return -1;
			break;
		case 'o':
			if (lab_hex(optarg, u->opc, 16))
				return -1;
			break;
		case 'l':
			if (esp_addr_parse(optarg, &u->local))
				return -1;
			break;
		case 'p':
			if (esp_addr_parse(optarg, &u->pcscf))
				return -1;
			break;
		case 'P':
			if (sscanf(optarg, "%u,%u", &a, &b) != 2 || !a || !b || a > 65535 || b > 65535)
				return -1;
			u->port_uc = (uint16_t)a;
			u->port_us = (uint16_t)b;
			break;
		case 'c':
			u->ctl = optarg;
			break;
		case 'r':
			u->next_reqid = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		default:
			return -1;
		}
	}
	return u->impi[0] && u->local.family && u->pcscf.family && u->port_uc && u->ctl ? 0 : -1;
}

int lab_ue_main(int argc, char **argv)
{
	static struct ue u;
	char line[256];

	u.client_fd = u.server_fd = u.pending_old_client = -1;
	if (parse_options(argc, argv, &u)) {
		fprintf(stderr, "usage: espnat-lab-sim ue --impi USER@REALM --k HEX --opc HEX "
				"--local ADDR --pcscf ADDR --ports UC,US --espnatd SOCKET [--reqid N]\n");
		return 2;
	}
	u.plain_fd = sip_socket(&u.local, LAB_SIP_PORT);
	if (u.plain_fd < 0) {
		perror("espnat-lab-sim ue: port 5060");
		return 1;
	}
	lab_say("ready", "UE %s at %s", u.impi, "its LAN address");
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = STDIN_FILENO, .events = POLLIN },
			{ .fd = u.server_fd, .events = POLLIN },
		};
		if (poll(pfd, 2, -1) < 0)
			continue;
		if (pfd[1].revents & POLLIN)
			serve(&u);
		if (pfd[0].revents & (POLLIN | POLLHUP)) {
			if (!fgets(line, sizeof(line), stdin) || strncmp(line, "quit", 4) == 0)
				break;
			command(&u, line);
		}
	}
	OPENSSL_cleanse(u.k, sizeof(u.k));
	OPENSSL_cleanse(u.opc, sizeof(u.opc));
	return 0;
}
