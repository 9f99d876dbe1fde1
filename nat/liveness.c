#include "nat/liveness.h"

#include "encap/table.h"

size_t nat_liveness_sweep(struct esp_engine *e, uint64_t now_ms,
			  uint64_t limit_ms)
{
	struct encap_table *t = esp_engine_table(e);
	size_t raised = 0;

	for (struct encap_group *g = encap_table_first(t); g; g = encap_table_next(g)) {
		if (!g->port || g->silent || now_ms < g->last_seen_ms ||
		    now_ms - g->last_seen_ms <= limit_ms)
			continue;
		g->silent = true;
		struct esp_event ev = {
			.type = ESP_EVENT_SILENT,
			.reqid = g->reqid,
			.src = g->peer,
			.new_port = g->port,
			.quiet_ms = now_ms - g->last_seen_ms,
		};
		esp_engine_emit(e, &ev);
		raised++;
	}
	return raised;
}
