/* The lab's SIP simulators: a UE, a P-CSCF (with a registrar inside) and
 * an S-CSCF (the registrar behind a real P-CSCF such as Kamailio), each
 * driven by commands on stdin and reporting events as JSON lines on
 * stdout; the UE and the P-CSCF each beside its own espnatd. */
#ifndef ESPNAT_LAB_LABSIM_H
#define ESPNAT_LAB_LABSIM_H

#include <stdbool.h>
#include <stdint.h>

#include "tools/json.h"

#define LAB_REALM "ims.lab"
#define LAB_DOMAIN_URI "sip:ims.lab"
#define LAB_SIP_PORT 5060

/* One event line on stdout: {"event":NAME, ...}. The writer is begun with
 * "event" set; the caller adds members, then calls lab_emit_end(). */
void lab_emit_begin(struct json_writer *w, const char *event);
void lab_emit_end(struct json_writer *w);
/* The common case: an event with one message. */
void lab_say(const char *event, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The end of a command: {"event":"done","cmd":..,"ok":..,"error":..}. */
void lab_done(const char *cmd, bool ok, const char *error);

int lab_hex(const char *s, uint8_t *out, size_t n);
void lab_random(void *buf, size_t n);

int lab_ue_main(int argc, char **argv);
int lab_pcscf_main(int argc, char **argv);
int lab_scscf_main(int argc, char **argv);

#endif
