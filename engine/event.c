#include <stdio.h>

#include "engine/engine.h"

static const char *const event_names[ESP_EVENT__COUNT] = {
	[ESP_EVENT_LEARNED] = "learned",
	[ESP_EVENT_MOVED] = "moved",
	[ESP_EVENT_SILENT] = "silent",
	[ESP_EVENT_REFUSED] = "refused",
	[ESP_EVENT_EXHAUSTED] = "exhausted",
	[ESP_EVENT_EXPIRED] = "expired",
	[ESP_EVENT_GROUP_ADDED] = "group-added",
	[ESP_EVENT_GROUP_REMOVED] = "group-removed",
};

const char *esp_event_name(enum esp_event_type type)
{
	return type < ESP_EVENT__COUNT ? event_names[type] : "?";
}

int esp_event_format(const struct esp_event *ev, char *buf, size_t len)
{
	char a[ESP_ADDRSTRLEN], b[ESP_ADDRSTRLEN];
	const char *name = esp_event_name(ev->type);

	switch (ev->type) {
	case ESP_EVENT_LEARNED:
		return snprintf(buf, len, "%s reqid=%u peer=%s port=%u spi=0x%08x",
				name, ev->reqid, esp_addr_str(&ev->src, a),
				ev->new_port, ev->spi);
	case ESP_EVENT_MOVED:
		return snprintf(buf, len,
				"%s reqid=%u peer=%s port=%u old_port=%u spi=0x%08x",
				name, ev->reqid, esp_addr_str(&ev->src, a),
				ev->new_port, ev->old_port, ev->spi);
	case ESP_EVENT_SILENT:
		return snprintf(buf, len, "%s reqid=%u peer=%s port=%u quiet=%llus",
				name, ev->reqid, esp_addr_str(&ev->src, a),
				ev->new_port, (unsigned long long)(ev->quiet_ms / 1000));
	case ESP_EVENT_REFUSED:
		return snprintf(buf, len,
				"%s spi=0x%08x src=%s dst=%s reqid=%u reason=\"%s\"",
				name, ev->spi, esp_addr_str(&ev->src, a),
				esp_addr_str(&ev->dst, b), ev->reqid,
				ev->reason ? ev->reason : "");
	case ESP_EVENT_EXHAUSTED:
	case ESP_EVENT_EXPIRED:
		return snprintf(buf, len, "%s spi=0x%08x src=%s dst=%s", name,
				ev->spi, esp_addr_str(&ev->src, a),
				esp_addr_str(&ev->dst, b));
	default:
		return snprintf(buf, len, "%s reqid=%u", name, ev->reqid);
	}
}
