/* The daemon's one way to add and remove SAs: through durable state when
 * there is some, straight into the engine when not. */
#include "tools/daemon/daemon.h"

#include <errno.h>

int daemon_add_sas(struct daemon *d, const struct esp_sa_params *ps, size_t n,
		   bool from_config, size_t *failed, const char **why)
{
	size_t added = 0;

	*failed = 0;
	if (d->state)
		return state_add_sas(d->state, d->engine, ps, n,
				     from_config ? STATE_FROM_CONFIG : STATE_FROM_CONTROL,
				     failed, why);
	for (; added < n; added++)
		if (esp_engine_add_sa(d->engine, &ps[added], why))
			break;
	if (added == n)
		return 0;
	*failed = added;
	for (size_t k = 0; k < added; k++)
		esp_engine_del_sa(d->engine, ps[k].spi, &ps[k].dst);
	return -EINVAL;
}

int daemon_del_sa(struct daemon *d, uint32_t spi, const struct esp_addr *dst)
{
	if (d->state)
		return state_del_sa(d->state, d->engine, spi, dst);
	return esp_engine_del_sa(d->engine, spi, dst);
}

void daemon_flush_sas(struct daemon *d, size_t *removed)
{
	*removed = esp_engine_flush(d->engine);
	if (d->state)
		state_clear(d->state);
}
