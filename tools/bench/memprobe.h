#ifndef ESPNAT_TOOLS_BENCH_MEMPROBE_H
#define ESPNAT_TOOLS_BENCH_MEMPROBE_H

#include <stddef.h>

/* Nanoseconds per cache line read at random from a fresh region of
 * @bytes, IN_FLIGHT lines requested at a time (prefetched, then read):
 * the best of a few passes, i.e. as much overlap of misses as this core
 * and its memory give. -1 when @bytes is too small or cannot be mapped. */
double bench_random_line_ns(size_t bytes);

#endif
