/* Counters and a spinlock shared between packet workers and the control
 * thread. Counters are relaxed atomics: exact totals, no ordering. */
#ifndef ESPNAT_ATOMIC_H
#define ESPNAT_ATOMIC_H

#include <sched.h>
#include <stdint.h>

/* A counter only one thread writes (a worker's, or an SA's under its lock):
 * a plain load and store, still readable by others without a data race. */
static inline void counter_inc(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n,
			 __ATOMIC_RELAXED);
}

/* A counter several threads write. */
static inline void counter_add_shared(uint64_t *c, uint64_t n)
{
	__atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

static inline uint64_t counter_read(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

/* Held for a few hundred nanoseconds (one packet's cipher call and window
 * update); a waiter spins briefly, then yields its CPU to the holder. */
struct spinlock {
	int held;
};

static inline void spin_lock(struct spinlock *l)
{
	unsigned spins = 0;

	while (__atomic_exchange_n(&l->held, 1, __ATOMIC_ACQUIRE)) {
		while (__atomic_load_n(&l->held, __ATOMIC_RELAXED)) {
			if (++spins % 256 == 0)
				sched_yield();
#if defined(__x86_64__) || defined(__i386__)
			__builtin_ia32_pause();
#endif
		}
	}
}

static inline void spin_unlock(struct spinlock *l)
{
	__atomic_store_n(&l->held, 0, __ATOMIC_RELEASE);
}

#endif
