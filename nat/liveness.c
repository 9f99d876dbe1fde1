#include "nat/liveness.h"

#include "encap/table.h"

size_t nat_liveness_sweep(struct esp_engine *e, uint64_t now_ms,
			  uint64_t limit_ms)
{
	struct encap_table *t = esp_engine_table(e);
	size_t raised = 0;

	esp_engine_read_lock(e);
	for (struct encap_group *g = encap_table_first(t); g; g = encap_table_next(g)) {
		uint16_t port = __atomic_load_n(&g->port, __ATOMIC_RELAXED);
		uint64_t seen = __atomic_load_n(&g->last_seen_ms, __ATOMIC_RELAXED);
		if (!port || __atomic_load_n(&g->silent, __ATOMIC_RELAXED) ||
		    now_ms < seen || now_ms - seen <= limit_ms)
			continue;
		__atomic_store_n(&g->silent, true, __ATOMIC_RELAXED);
		struct esp_event ev = {
			.type = ESP_EVENT_SILENT,
			.reqid = g->reqid,
			.src = g->peer,
			.new_port = port,
			.quiet_ms = now_ms - seen,
		};
		esp_engine_emit(e, &ev);
		raised++;
	}
	esp_engine_read_unlock(e);
	return raised;
}
