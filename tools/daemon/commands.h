/* The control requests (see control.h for the socket that carries them). */
#ifndef ESPNAT_DAEMON_COMMANDS_H
#define ESPNAT_DAEMON_COMMANDS_H

#include <stdbool.h>

#include "tools/daemon/daemon.h"
#include "tools/json.h"

#define CONTROL_LINE_MAX 65536

/* Runs one request @line (modified) and returns its JSON answer, which the
 * caller frees. Sets *@follow_events for `events`. */
char *commands_run(struct daemon *d, char *line, bool *follow_events);

/* An event as the `events` stream sends it. */
void commands_event_json(const struct esp_event *ev, struct json_writer *w);

#endif
