/* The control socket: a Unix stream socket, mode 0600, whose peers must be
 * root (SO_PEERCRED). One request per line, one JSON object per line back;
 * `events` turns a connection into a stream of events. */
#ifndef ESPNAT_DAEMON_CONTROL_H
#define ESPNAT_DAEMON_CONTROL_H

#include <poll.h>
#include <stddef.h>

#include "tools/daemon/daemon.h"

#define CONTROL_MAX_CLIENTS 64
#define CONTROL_MAX_REQUEST 65536

struct control;

/* Listens on the configured path, refusing to start when another daemon
 * answers there. Returns NULL with a message in @err. */
struct control *control_open(struct daemon *d, char *err, size_t errlen);
void control_close(struct control *c);

/* Fills up to @max poll entries (the listener and the clients); returns
 * how many. */
int control_pollfds(struct control *c, struct pollfd *pfd, int max);

/* Handles what poll reported for the entries control_pollfds() gave. */
void control_handle(struct control *c, const struct pollfd *pfd, int n);

/* Sends @ev to the clients following events. */
void control_broadcast(struct control *c, const struct esp_event *ev);

/* Runs one request line as the control socket would and returns the JSON
 * answer (the caller frees it). For tests and fuzzing. */
char *control_request(struct daemon *d, const char *line);

#endif
