/* espnatd's state, shared by its main loop and the control socket. */
#ifndef ESPNAT_DAEMON_H
#define ESPNAT_DAEMON_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/engine.h"
#include "nat/keepalive.h"
#include "tools/daemon/config.h"
#include "tools/daemon/state.h"
#include "tools/daemon/eventq.h"
#include "tools/io/inject.h"
#include "tools/io/rules.h"

#define DAEMON_MAX_WORKERS 64

/* An SA that came from the config file, so that a reload knows what it
 * may replace; the keys stay in the SA. */
struct config_sa {
	uint32_t spi;
	struct esp_addr dst;
};

struct daemon {
	struct daemon_config cfg;
	const char *config_path;	/* NULL: none */
	struct esp_engine *engine;
	struct state *state;		/* durable state; NULL without */
	uint64_t state_synced_ms;
	bool state_failing;
	struct eventq *events;
	struct nat_keepalive *keepalive;	/* UE role with keepalives on */
	uint64_t keepalives_sent;		/* main thread only */
	struct injector inject;
	int stop_fd;			/* tells the workers to stop */
	pthread_t threads[DAEMON_MAX_WORKERS];
	void *workers[DAEMON_MAX_WORKERS];
	unsigned nworkers;
	enum rules_backend rules;
	struct config_sa *config_sas;
	size_t nconfig_sas;
	uint32_t next_reqid;
	uint64_t started_ms;
	bool stopping;
	bool reload;
	/* --decrypted-pcap */
	pthread_mutex_t tap_lock;
	void *tap_pcap;
	void *tap_dumper;
};

/* Every SA the daemon adds or removes goes through these, so that durable
 * state (when configured) knows of it before the engine does: @n SAs, all
 * or none; @failed gets the index of the one refused, @why the reason. */
int daemon_add_sas(struct daemon *d, const struct esp_sa_params *ps, size_t n,
		   bool from_config, size_t *failed, const char **why);
int daemon_del_sa(struct daemon *d, uint32_t spi, const struct esp_addr *dst);
void daemon_flush_sas(struct daemon *d, size_t *removed);

/* Adds the config file's SAs, or on reload reconciles them with what is
 * installed: unchanged SAs keep their counters and windows. Returns 0, or
 * -1 with "line N: reason" in @err (and then changes nothing). */
int daemon_apply_config_sas(struct daemon *d, char *err, size_t errlen);

#endif
