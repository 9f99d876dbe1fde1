/* The TUN data path (the shape of strongSwan's kernel-libipsec): packets
 * routed into a TUN device are protected and leave through raw sockets;
 * ESP-in-UDP arriving on port 4500 (and plain ESP) is unprotected and
 * written to the TUN device, whence the kernel delivers it. */
#ifndef ESPNAT_IO_TUN_H
#define ESPNAT_IO_TUN_H

#include <stdbool.h>
#include <stddef.h>

#include "tools/io/backend.h"
#include "tools/io/inject.h"

struct tun_worker;

/* Opens (creating on the first call) the TUN device @ifname, up, with
 * @mtu; @multi_queue when several workers share it. Each worker gets its
 * own device queue and its own port-4500 sockets (SO_REUSEPORT). */
struct tun_worker *tun_open(const struct backend_ctx *ctx, const char *ifname,
			    unsigned mtu, unsigned txqueuelen, bool multi_queue,
			    const struct injector *out, char *err, size_t errlen);

void *tun_run(void *worker);
void tun_close(struct tun_worker *w);

#endif
