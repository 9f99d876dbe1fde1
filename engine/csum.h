/* Internet checksums (RFC 1071) over IPv4 headers and upper-layer data. */
#ifndef ESPNAT_CSUM_H
#define ESPNAT_CSUM_H

#include <stddef.h>
#include <stdint.h>

/* Adds @len bytes to a running 32-bit one's-complement sum. */
uint32_t csum_add(uint32_t sum, const uint8_t *data, size_t len);

/* Folds a running sum into the 16-bit one's complement checksum. */
uint16_t csum_fold(uint32_t sum);

/* Recomputes the header checksum of the IPv4 header at @ip in place. */
void csum_ipv4_header(uint8_t *ip);

/* Checksum of an upper-layer segment with the IPv4/IPv6 pseudo-header
 * (RFC 768, RFC 8200 8.1); @src/@dst are 4 or 16 bytes per @alen. The
 * segment's own checksum field must be zero or excluded by the caller. */
uint16_t csum_l4(const uint8_t *src, const uint8_t *dst, size_t alen,
		 uint8_t proto, const uint8_t *seg, size_t len);

#endif
