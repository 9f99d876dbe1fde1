/* Liveness, P-CSCF role: a registration whose NAT binding was learned but
 * from which nothing authenticated and no keepalive arrived for longer than
 * a limit has likely lost its binding (TR 33.803 B.3.6): say so, once. */
#ifndef ESPNAT_NAT_LIVENESS_H
#define ESPNAT_NAT_LIVENESS_H

#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"

/* Raises a SILENT event for each such registration of @e not reported
 * since it was last heard. Returns how many were raised. */
size_t nat_liveness_sweep(struct esp_engine *e, uint64_t now_ms,
			  uint64_t limit_ms);

#endif
