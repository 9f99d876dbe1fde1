#include "engine/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void esp_addr_set(struct esp_addr *a, int family, const uint8_t *raw)
{
	typedef uint32_t quad __attribute__((vector_size(16)));
	esp_addr_block b;

	/* built in a register: element 0 of a vector is its lowest address */
	if (family == AF_INET) {
		uint32_t v4;
		memcpy(&v4, raw, 4);
		b = (esp_addr_block)(quad){ v4, 0, 0, 0 };
	} else {
		memcpy(&b, raw, 16);
	}
	a->family = (uint8_t)family;
	esp_addr_put_block(a, b);
}

bool esp_addr_in_prefix(const struct esp_addr *a, const struct esp_addr *net,
			unsigned plen)
{
	unsigned whole = plen / 8, rest = plen % 8;

	if (a->family != net->family)
		return false;
	if (plen >= esp_addr_bits(a))	/* host selectors, the common case */
		return esp_addr_equal(a, net);
	if (memcmp(a->bytes, net->bytes, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t m = (uint8_t)(0xff << (8 - rest));
	return (a->bytes[whole] & m) == (net->bytes[whole] & m);
}

void esp_addr_mask(struct esp_addr *a, unsigned plen)
{
	unsigned bits = esp_addr_bits(a);

	if (plen >= bits)
		return;
	unsigned whole = plen / 8, rest = plen % 8;
	if (rest) {
		a->bytes[whole] &= (uint8_t)(0xff << (8 - rest));
		whole++;
	}
	memset(a->bytes + whole, 0, sizeof(a->bytes) - whole);
}

int esp_addr_parse(const char *s, struct esp_addr *a)
{
	uint8_t raw[16];

	if (inet_pton(AF_INET, s, raw) == 1) {
		esp_addr_set(a, AF_INET, raw);
		return 0;
	}
	if (inet_pton(AF_INET6, s, raw) == 1) {
		esp_addr_set(a, AF_INET6, raw);
		return 0;
	}
	return -EINVAL;
}

int esp_prefix_parse(const char *s, struct esp_addr *a, unsigned *plen)
{
	char buf[ESP_ADDRSTRLEN + 8];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);

	if (n == 0 || n >= ESP_ADDRSTRLEN)
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (esp_addr_parse(buf, a) < 0)
		return -EINVAL;
	*plen = esp_addr_bits(a);
	if (!slash)
		return 0;

	char *end;
	errno = 0;
	unsigned long v = strtoul(slash + 1, &end, 10);
	if (errno || end == slash + 1 || *end != '\0' || v > esp_addr_bits(a))
		return -EINVAL;
	*plen = (unsigned)v;
	return 0;
}

const char *esp_addr_str(const struct esp_addr *a, char *buf)
{
	if (!inet_ntop(a->family, a->bytes, buf, ESP_ADDRSTRLEN))
		strcpy(buf, "?");
	return buf;
}
