/* Talking to espnatd's control socket from C: the espnat command and the
 * lab's simulators. */
#ifndef ESPNAT_TOOLS_CTLCLIENT_H
#define ESPNAT_TOOLS_CTLCLIENT_H

#include <stddef.h>

/* Connects to the socket at @path; returns the fd or -1 (errno set). */
int ctl_connect(const char *path);

/* Sends @request and a newline on @fd, whole or until the socket fails,
 * without SIGPIPE, and wipes its copy (a request may hold keys). A daemon
 * that refuses a peer answers and closes at once, perhaps before the
 * request is out: its answer is still there to read, so a failed send is
 * not an error; reading tells. */
void ctl_send_line(int fd, const char *request);

/* Sends the request line @request and returns espnatd's answer line in a
 * new buffer (*@answer, freed by the caller); 0, or -1 with a reason in
 * @err. The answer may still say {"ok":false,...}. */
int ctl_call(const char *path, const char *request, char **answer, char *err,
	     size_t errlen);

/* ctl_call for requests whose answer only matters as ok or not: 0 when
 * espnatd said ok, else -1 with its error (or the failure) in @err. */
int ctl_ok(const char *path, const char *request, char *err, size_t errlen);

#endif
