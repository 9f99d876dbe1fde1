/* What a packet backend (NFQUEUE, TUN) needs from the daemon: the engine
 * worker it feeds, a stop signal, and where to copy decrypted traffic. */
#ifndef ESPNAT_IO_BACKEND_H
#define ESPNAT_IO_BACKEND_H

#include <stdint.h>

#include "engine/engine.h"

/* Called by a backend for each packet the engine decapsulated, when the
 * operator asked for a decrypted capture. Must be thread-safe. */
typedef void (*backend_tap_fn)(void *arg, const uint8_t *ip, uint32_t len);

struct backend_ctx {
	struct esp_engine *engine;
	int stop_fd;			/* readable when the worker must stop */
	backend_tap_fn tap;		/* NULL: off */
	void *tap_arg;
	enum esp_backend crypto;	/* the engine worker's crypto backend */
};

/* Packets taken per system call; the engine handles them under one lock. */
#define BACKEND_BATCH 32

/* Room for any IP packet with ESP's headroom and tailroom around it. */
#define BACKEND_SLOT (PKT_HEADROOM + 65536 + 1024 + PKT_TAILROOM)

#endif
