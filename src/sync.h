/* sync.h - private: futex, barriers and the eventcount used by channels. */
#ifndef SK_SYNC_H
#define SK_SYNC_H

#include <stdatomic.h>
#include <stdint.h>

/* The eventcount as it lies in shared memory (== shmkit_event_t).
 *
 * Channels use it with a "sleepers" flag rather than a count: a waiter sets
 * SK_EV_SLEEPERS before it sleeps, and the first notifier that sees it
 * clears it and wakes everybody.  Later notifies, until somebody sleeps
 * again, cost one load: a writer that commits a burst while its readers are
 * being woken makes one futex call, not one per message.  (The public
 * shmkit_event_t keeps a count, so that it can wake just one waiter.) */
struct sk_event {
    _Atomic uint32_t seq;     /* futex word: bumped by a notify with waiters */
    _Atomic uint32_t waiters; /* SK_EV_SLEEPERS | SK_EV_FENCE (channels), or
                                 count | SK_EV_FENCE (public event)          */
};
#define SK_EV_FENCE 0x80000000u
#define SK_EV_SLEEPERS 0x1u

int sk_futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t timeout_ns);
int sk_futex_wake(_Atomic uint32_t *addr, int n);

/* Announces a sleeper and runs the waiter's half of the barrier.  fenced:
 * this waiter sleeps on every message (block mode); it asks notifiers to
 * fence for real from now on, so that its later sleeps skip the membarrier
 * (several microseconds on a VM, per sleep). */
uint32_t sk_event_prepare(struct sk_event *e, int fenced);
void sk_event_cancel(struct sk_event *e);
/* 0 (woken, or a signal), -ETIMEDOUT, or -EAGAIN: seq had moved already,
 * so it did not sleep */
int sk_event_wait(struct sk_event *e, uint32_t key, int64_t timeout_ns);
/* posted (may be NULL): where a notifier that wakes sleepers stamps the
 * time (CLOCK_MONOTONIC) just before it does, for adaptive waiters to learn
 * what their sleep cost (channel.c, sk_spin_window) */
int sk_event_notify_slow(struct sk_event *e, _Atomic uint64_t *posted, int all);

/*
 * The notifier's half of the "is anybody waiting?" handshake, inlined on the
 * hot path.  This is a Dekker pattern: the notifier stores its data then
 * loads `waiters`; the waiter stores `waiters` then loads the data.  Each
 * side needs a full barrier between its store and its load, or a wake-up is
 * lost.  shmkit makes the barrier asymmetric: the waiter (already on its way
 * to sleep) pays for it with membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED),
 * which runs a full barrier on every CPU running a registered process, so
 * the notifier needs only a compiler barrier.  A process that cannot use
 * membarrier sets SK_EV_FENCE in `waiters` for good, and notifiers then pay
 * a real seq_cst fence (the textbook form).
 */
static inline int sk_event_waiters(struct sk_event *e)
{
    atomic_signal_fence(memory_order_seq_cst);
    return atomic_load_explicit(&e->waiters, memory_order_relaxed) != 0;
}

/* The look alone (above) serves a hot path that leaves the notify itself
 * to a function it calls only when somebody may wait (which looks again). */
static inline int sk_event_notify(struct sk_event *e, _Atomic uint64_t *posted,
                                  int all)
{
    if (__builtin_expect(!sk_event_waiters(e), 1))
        return 0;
    return sk_event_notify_slow(e, posted, all);
}

/* One polite step of a busy wait. */
static inline void sk_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* A prefetch for writing: the line comes exclusive, as a store would take
 * it, not shared, as a load or a read prefetch would.  Before a load and
 * stores to a line another CPU is reading, it makes one transfer of two
 * (ring.c's reserve_fast() and reserve_multi(), latest.c's reserve). */
static inline void sk_prefetch_w(const void *p)
{
#if defined(__x86_64__)
    /* a no-op on the few x86-64 CPUs without it */
    __asm__ volatile("prefetchw %0" : : "m"(*(const char *)p));
#else
    __builtin_prefetch(p, 1, 3);
#endif
}

/* Registers this process for asymmetric barriers; 1 ok, 0 unavailable. */
int sk_membarrier_init(void);

#endif
