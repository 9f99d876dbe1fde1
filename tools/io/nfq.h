/* The NFQUEUE data path: the kernel queues packets to a netlink socket,
 * the engine processes a batch, and all the batch's verdicts, each with
 * its rewritten packet, go back in one sendmsg (PLATFORM.md: ~1.0x the
 * plain path's rate, against ~0.6x with a sendmsg per verdict). */
#ifndef ESPNAT_IO_NFQ_H
#define ESPNAT_IO_NFQ_H

#include <stddef.h>
#include <stdint.h>

#include "tools/io/backend.h"

struct nfqueue_worker;

/* Binds queue @queue. Returns NULL with a message in @err. */
struct nfqueue_worker *nfqueue_open(const struct backend_ctx *ctx, uint16_t queue,
			    char *err, size_t errlen);

/* The worker's loop, until the stop fd fires: a pthread start routine. */
void *nfqueue_run(void *worker);

void nfqueue_close(struct nfqueue_worker *w);

/* The kernel's drop counters for @queue from /proc/net/netfilter/
 * nfnetlink_queue: the queue full, and the socket buffer full. */
int nfqueue_kernel_drops(uint16_t queue, uint64_t *queue_dropped,
		     uint64_t *user_dropped);

#endif
