/* Just enough SIP (RFC 3261) for the lab's simulators: messages parsed
 * into a start line and headers, built back, sent over UDP. */
#ifndef ESPNAT_LAB_SIP_H
#define ESPNAT_LAB_SIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/addr.h"

#define SIP_MAX_HEADERS 40
#define SIP_MAX_NAME 40
#define SIP_MAX_VALUE 1024
#define SIP_MAX_MSG 8192

struct sip_header {
	char name[SIP_MAX_NAME];
	char value[SIP_MAX_VALUE];
};

struct sip_msg {
	bool request;
	char method[16];	/* requests */
	char uri[256];
	int status;		/* responses */
	char reason[64];
	struct sip_header h[SIP_MAX_HEADERS];
	size_t n;
	char body[1024];
	size_t body_len;
};

/* Parses one message (@len bytes, no NUL needed); the body is kept as a
 * C string. Returns 0, or -1 with a reason in @err. */
int sip_parse(const char *buf, size_t len, struct sip_msg *m, char *err,
	      size_t errlen);

/* The first header called @name (case-insensitively; compact forms such
 * as "v" for Via are understood), or NULL. */
const char *sip_get(const struct sip_msg *m, const char *name);

/* Replaces the first @name header, or appends it. Returns 0 or -1. */
int sip_set(struct sip_msg *m, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Appends a header even when one of that name exists. */
int sip_add(struct sip_msg *m, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

void sip_request(struct sip_msg *m, const char *method, const char *uri);
/* A response to @req: its Via, From, To, Call-ID and CSeq copied. */
void sip_response(struct sip_msg *m, const struct sip_msg *req, int status,
		  const char *reason);

/* Writes the message with a correct Content-Length. Returns its length or
 * -1 when it does not fit. */
int sip_format(const struct sip_msg *m, char *buf, size_t len);

/* A parameter of a header value ("...;received=1.2.3.4;rport"), copied to
 * @out; returns false when absent. A parameter without value gives "". */
bool sip_param(const char *value, const char *name, char *out, size_t len);

/* The text between the first '<' and '>', or the whole value. */
void sip_uri_of(const char *value, char *out, size_t len);

/* UDP. */
int sip_socket(const struct esp_addr *addr, uint16_t port);
int sip_send(int fd, const struct sip_msg *m, const struct esp_addr *to,
	     uint16_t port);
/* Waits up to @timeout_ms for a message; returns 1 with it (and where it
 * came from), 0 on timeout, -1 on error or garbage. */
int sip_recv(int fd, struct sip_msg *m, struct esp_addr *from, uint16_t *port,
	     int timeout_ms);

#endif
