/* TCP MSS clamping for what ESP carries. A full-size TCP segment no longer
 * fits the path once ESP's overhead is added: IPv4 can fragment it (the
 * engine clears DF), IPv6 cannot, since only the sender's stack may and it
 * never sees the grown packet. So the MSS that SYNs announce, in both
 * directions, is lowered to what fits (as `TCPMSS --clamp-mss-to-pmtu` does
 * for tunnels), and the TCP checksum adjusted (RFC 1624). */
#ifndef ESPNAT_MSS_H
#define ESPNAT_MSS_H

#include <stdint.h>

#include "engine/ip.h"
#include "engine/sa.h"

/* The largest MSS whose segments, as @sa carries a packet of @inner_family
 * (plus its outer header, UDP, ESP, IV, worst-case padding and ICV), fit
 * @path_mtu. */
uint16_t mss_for(const struct esp_sa *sa, uint8_t inner_family, uint32_t path_mtu);

/* Lowers the MSS option of the TCP SYN in @ip (parsed as @v) to @max when
 * it is larger. Returns 1 when it changed the packet, 0 otherwise. */
int mss_clamp(uint8_t *ip, const struct ip_view *v, uint16_t max);

#endif
