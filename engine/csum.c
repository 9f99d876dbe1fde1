#include "engine/csum.h"

uint32_t csum_add(uint32_t sum, const uint8_t *data, size_t len)
{
	uint64_t s = sum;

	while (len >= 2) {
		s += (uint32_t)data[0] << 8 | data[1];
		data += 2;
		len -= 2;
	}
	if (len)
		s += (uint32_t)data[0] << 8;
	while (s >> 32)
		s = (s & 0xffffffff) + (s >> 32);
	return (uint32_t)s;
}

uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

void csum_ipv4_header(uint8_t *ip)
{
	size_t ihl = (size_t)(ip[0] & 0x0f) * 4;

	ip[10] = ip[11] = 0;
	uint16_t c = csum_fold(csum_add(0, ip, ihl));
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
}

uint16_t csum_l4(const uint8_t *src, const uint8_t *dst, size_t alen,
		 uint8_t proto, const uint8_t *seg, size_t len)
{
	uint8_t tail[8] = { 0 };
	uint32_t sum = csum_add(0, src, alen);

	sum = csum_add(sum, dst, alen);
	if (alen == 4) {
		tail[1] = proto;
		tail[2] = (uint8_t)(len >> 8);
		tail[3] = (uint8_t)len;
		sum = csum_add(sum, tail, 4);
	} else {
		tail[0] = (uint8_t)(len >> 24);
		tail[1] = (uint8_t)(len >> 16);
		tail[2] = (uint8_t)(len >> 8);
		tail[3] = (uint8_t)len;
		tail[7] = proto;
		sum = csum_add(sum, tail, 8);
	}
	return csum_fold(csum_add(sum, seg, len));
}
