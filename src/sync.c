/*
 * sync.c - robust mutex, futex eventcount, seqlock.
 *
 * Every wait is bounded: the mutex uses pthread_mutex_clocklock, the event a
 * futex timeout, the seqlock a deadline.  All futexes are shared (not
 * FUTEX_PRIVATE): they live in memory mapped by several processes.
 */
#include <errno.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "segment.h"
#include "shmkit.h"
#include "sync.h"

_Static_assert(sizeof(pthread_mutex_t) <= sizeof(shmkit_mutex_t),
               "pthread_mutex_t fits shmkit_mutex_t");
_Static_assert(sizeof(struct sk_event) == sizeof(shmkit_event_t),
               "event layout");

/* ---- futex --------------------------------------------------------------- */

int sk_futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t timeout_ns)
{
    struct timespec ts, *tp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = (time_t)(timeout_ns / 1000000000);
        ts.tv_nsec = (long)(timeout_ns % 1000000000);
        tp = &ts;
    }
    if (syscall(SYS_futex, addr, FUTEX_WAIT, val, tp, NULL, 0) == 0)
        return 0;
    if (errno == ETIMEDOUT)
        return -ETIMEDOUT;
    if (errno == EINTR)
        return -EINTR;
    return -EAGAIN; /* the value changed already: no sleep */
}

int sk_futex_wake(_Atomic uint32_t *addr, int n)
{
    long r = syscall(SYS_futex, addr, FUTEX_WAKE, n, NULL, NULL, 0);
    return r < 0 ? -errno : (int)r;
}

/* ---- asymmetric barrier ---------------------------------------------------- */

static _Atomic int mb_state; /* 0 unknown, 1 usable, -1 not usable */

int sk_membarrier_init(void)
{
    int st = atomic_load_explicit(&mb_state, memory_order_acquire);
    if (st)
        return st > 0;
    long q = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    st = -1;
    if (q > 0 && (q & MEMBARRIER_CMD_GLOBAL_EXPEDITED) &&
        syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0) == 0)
        st = 1;
    atomic_store_explicit(&mb_state, st, memory_order_release);
    return st > 0;
}

/* set when this thread just turned SK_EV_FENCE on without a membarrier */
static _Thread_local int fence_transition;

static void heavy_barrier(struct sk_event *e)
{
    if (sk_membarrier_init() &&
        syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) == 0)
        return;
    /* No membarrier here: make every notifier use a real fence from now on.
     * The fetch_or is itself a full barrier on our side.  A notifier that
     * loaded `waiters` just before the flag appeared may have missed us
     * this once: the next sleep is kept short (sk_event_wait). */
    uint32_t prev = atomic_fetch_or_explicit(&e->waiters, SK_EV_FENCE,
                                             memory_order_seq_cst);
    atomic_thread_fence(memory_order_seq_cst);
    if (!(prev & SK_EV_FENCE))
        fence_transition = 1;
}

/* ---- eventcount: channels (sleepers flag) ------------------------------- */

uint32_t sk_event_prepare(struct sk_event *e, int fenced)
{
    /* acquire: pairs with the release increment in sk_event_notify_slow() */
    uint32_t key = atomic_load_explicit(&e->seq, memory_order_acquire);
    uint32_t prev = atomic_fetch_or_explicit(
        &e->waiters, SK_EV_SLEEPERS | (fenced ? SK_EV_FENCE : 0),
        memory_order_seq_cst);
    /* Dekker: our flag store before the caller's re-check of its condition
     * (see sync.h).  Once SK_EV_FENCE is in the word (and was before this
     * call, so every notifier can see it), notifiers fence for real and our
     * seq_cst RMW plus a fence is our half: no membarrier needed.  The call
     * that sets it pays the membarrier once, which also covers a notifier
     * that loaded `waiters` just before the flag appeared. */
    if (prev & SK_EV_FENCE)
        atomic_thread_fence(memory_order_seq_cst);
    else
        heavy_barrier(e);
    return key;
}

void sk_event_cancel(struct sk_event *e)
{
    (void)e; /* the flag stays: at worst one notify makes a needless call */
}

int sk_event_wait(struct sk_event *e, uint32_t key, int64_t timeout_ns)
{
    if (fence_transition) {
        fence_transition = 0;
        if (timeout_ns < 0 || timeout_ns > 1000000)
            timeout_ns = 1000000;
    }
    int r = sk_futex_wait(&e->seq, key, timeout_ns);
    return r == -EINTR ? 0 : r;
}

int sk_event_notify_slow(struct sk_event *e, _Atomic uint64_t *posted, int all)
{
    (void)all; /* a channel's sleepers are all woken: they re-check */
    uint32_t w = atomic_load_explicit(&e->waiters, memory_order_relaxed);
    if (w & SK_EV_FENCE) {
        /* a waiter could not use membarrier: the textbook full fence */
        atomic_thread_fence(memory_order_seq_cst);
        w = atomic_load_explicit(&e->waiters, memory_order_relaxed);
    }
    if (!(w & SK_EV_SLEEPERS))
        return 0;
    /* only one notifier per round of sleepers makes the call */
    uint32_t prev = atomic_fetch_and_explicit(&e->waiters, ~SK_EV_SLEEPERS,
                                              memory_order_relaxed);
    if (!(prev & SK_EV_SLEEPERS))
        return 0;
    if (posted) /* read by the woken sleepers: the release below, and their
                   acquire of seq in sk_event_prepare(), make it visible */
        atomic_store_explicit(posted, sk_now_ns(CLOCK_MONOTONIC),
                              memory_order_relaxed);
    /* release: pairs with the acquire load in sk_event_prepare() */
    atomic_fetch_add_explicit(&e->seq, 1, memory_order_release);
    return sk_futex_wake(&e->seq, 0x7fffffff);
}

/* ---- eventcount: public (counted, can wake one) ---------------------------- */

uint32_t shmkit_event_prepare(shmkit_event_t *pe)
{
    struct sk_event *e = (struct sk_event *)pe;
    uint32_t key = atomic_load_explicit(&e->seq, memory_order_acquire);
    /* seq_cst RMW, then a full fence: Dekker with shmkit_event_notify() */
    atomic_fetch_add_explicit(&e->waiters, 1, memory_order_seq_cst);
    atomic_thread_fence(memory_order_seq_cst);
    return key;
}

void shmkit_event_cancel(shmkit_event_t *pe)
{
    struct sk_event *e = (struct sk_event *)pe;
    atomic_fetch_sub_explicit(&e->waiters, 1, memory_order_relaxed);
}

int shmkit_event_wait(shmkit_event_t *pe, uint32_t key, int64_t timeout_ns)
{
    struct sk_event *e = (struct sk_event *)pe;
    int r = sk_futex_wait(&e->seq, key, timeout_ns);
    atomic_fetch_sub_explicit(&e->waiters, 1, memory_order_relaxed);
    return r == -EINTR || r == -EAGAIN ? 0 : r;
}

int shmkit_event_notify(shmkit_event_t *pe, int all)
{
    /* The public event may be notified by any process, registered for
     * membarrier or not, so both sides use the textbook full fence (no
     * syscall).  Channels, whose endpoints all register, use the asymmetric
     * form. */
    struct sk_event *e = (struct sk_event *)pe;
    atomic_thread_fence(memory_order_seq_cst);
    if ((atomic_load_explicit(&e->waiters, memory_order_relaxed) & ~SK_EV_FENCE) == 0)
        return 0;
    /* release: pairs with the acquire load in shmkit_event_prepare() */
    atomic_fetch_add_explicit(&e->seq, 1, memory_order_release);
    return sk_futex_wake(&e->seq, all ? 0x7fffffff : 1);
}

/* ---- robust mutex -------------------------------------------------------- */

int shmkit_mutex_init(shmkit_mutex_t *m)
{
    pthread_mutexattr_t a;
    int r;
    memset(m, 0, sizeof *m);
    if ((r = pthread_mutexattr_init(&a)))
        return sk_err(-r, "pthread_mutexattr_init", NULL, NULL);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    r = pthread_mutex_init((pthread_mutex_t *)(void *)m, &a);
    pthread_mutexattr_destroy(&a);
    return r ? sk_err(-r, "pthread_mutex_init", NULL, NULL) : 0;
}

int shmkit_mutex_lock(shmkit_mutex_t *m, int64_t timeout_ns)
{
    pthread_mutex_t *pm = (pthread_mutex_t *)(void *)m;
    int r;
    if (timeout_ns == 0)
        r = pthread_mutex_trylock(pm);
    else if (timeout_ns < 0)
        r = pthread_mutex_lock(pm);
    else {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += (time_t)(timeout_ns / 1000000000);
        ts.tv_nsec += (long)(timeout_ns % 1000000000);
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        r = pthread_mutex_clocklock(pm, CLOCK_MONOTONIC, &ts);
    }
    switch (r) {
    case 0: return 0;
    case EOWNERDEAD:
        return sk_err(SHMKIT_E_OWNER_DEAD, "mutex_lock", NULL,
                      "the previous owner died holding the lock; you hold it "
                      "now: repair the data, then shmkit_mutex_consistent()");
    case EBUSY: return -EAGAIN;
    case ETIMEDOUT: return -ETIMEDOUT;
    case ENOTRECOVERABLE:
        return sk_err(-ENOTRECOVERABLE, "mutex_lock", NULL,
                      "an owner died and the next one unlocked without "
                      "shmkit_mutex_consistent(); re-initialise the mutex");
    default:
        return sk_err(-r, "mutex_lock", NULL, NULL);
    }
}

int shmkit_mutex_unlock(shmkit_mutex_t *m)
{
    int r = pthread_mutex_unlock((pthread_mutex_t *)(void *)m);
    return r ? sk_err(-r, "mutex_unlock", NULL, "unlock by a non-owner") : 0;
}

int shmkit_mutex_consistent(shmkit_mutex_t *m)
{
    int r = pthread_mutex_consistent((pthread_mutex_t *)(void *)m);
    return r ? sk_err(-r, "mutex_consistent", NULL,
                      "only the owner, after SHMKIT_E_OWNER_DEAD") : 0;
}

/* ---- seqlock -------------------------------------------------------------- */

struct sk_seqlock {
    _Atomic uint32_t seq;
    uint32_t pad;
};
_Static_assert(sizeof(struct sk_seqlock) == sizeof(shmkit_seqlock_t),
               "seqlock layout");

void shmkit_seqlock_write(shmkit_seqlock_t *s, void *dst, const void *src,
                          size_t len)
{
    struct sk_seqlock *l = (struct sk_seqlock *)s;
    /* The sequence word's line for writing before the load: readers poll
     * it, so a load alone would fetch it shared and the store take it
     * again.  shmkit-ab's k points (a value read back through a second
     * seqlock, the value right after its lock), against the load alone,
     * close together: 8 B 0.77-0.81x, 64 B 0.37-0.45x (300 -> 110-130 ns),
     * 1 KiB 0.79-0.80x. */
    sk_prefetch_w(l);
    uint32_t v = atomic_load_explicit(&l->seq, memory_order_relaxed);
    atomic_store_explicit(&l->seq, v | 1u, memory_order_relaxed);
    /* orders the odd mark before the data stores; pairs with the acquire
     * fence in shmkit_seqlock_read() */
    atomic_thread_fence(memory_order_release);
    memcpy(dst, src, len);
    /* pairs with the acquire load that starts a read */
    atomic_store_explicit(&l->seq, (v | 1u) + 1, memory_order_release);
}

int shmkit_seqlock_read(shmkit_seqlock_t *s, void *dst, const void *src,
                        size_t len, int64_t timeout_ns)
{
    struct sk_seqlock *l = (struct sk_seqlock *)s;
    uint64_t deadline = 0;
    for (unsigned spins = 0;; spins++) {
        /* pairs with the release store that ends a write */
        uint32_t a = atomic_load_explicit(&l->seq, memory_order_acquire);
        if (!(a & 1u)) {
            memcpy(dst, src, len);
            /* pairs with the release fence in shmkit_seqlock_write() */
            atomic_thread_fence(memory_order_acquire);
            if (atomic_load_explicit(&l->seq, memory_order_relaxed) == a)
                return 0;
        }
        if ((spins & 255) == 255) {
            uint64_t now = sk_now_ns(CLOCK_MONOTONIC);
            if (!deadline)
                deadline = now + (uint64_t)(timeout_ns < 0 ? 1000000000 : timeout_ns);
            if (now >= deadline)
                return -ETIMEDOUT;
            sched_yield();
        }
    }
}
