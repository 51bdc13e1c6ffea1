/*
 * test_chan_adaptive - the adaptive wait's spin window (channel.c,
 * sk_spin_window): it grows where sleeping proved costly and goes back to
 * spin_us otherwise.
 *
 *  1. The rule, on made-up numbers: growth to 1.5x the wait when the
 *     wake-up's cost is over 30% of it, at most spin_max; spin_us
 *     otherwise; spin_us 0 never spins.  The estimate of the wake-up's
 *     cost: the smaller of the first two samples, then a moving average
 *     of samples held within half and twice it.
 *  2. A notifier that wakes sleepers stamps the time: a writer waking a
 *     sleeping reader (data_posted), a reader waking a writer that waits
 *     for room (space_posted).
 *  3. The window in a real wait: a long one is spun through (no sleep;
 *     the window kept where wake-ups are costly, spin_us where they are
 *     cheap); a long wait slept through where wake-ups are cheap, and a
 *     timeout (asleep, or in the spin, which it cuts short), set it back to
 *     spin_us; two late wake-ups give a first estimate; a wake-up made late
 *     on purpose grows the window by the rule's numbers, and a stamp from
 *     the future sets spin_us and teaches nothing; spin_max_us = spin_us
 *     (or below) keeps the window fixed, and spin_us 0 never spins.
 *  4. Idle after a stream: a reader whose window had grown to spin_max
 *     spins it once, then sleeps (its CPU time over a 500 ms wait stays
 *     far under it), and its window is spin_us again.
 *
 * Every part can be run alone: test_chan_adaptive N.
 */
#include "chan_util.h"

#include <sys/syscall.h>

#include "../src/channel.h"
#include "../src/sync.h"

#define US 1000ull
#define MS 1000000ull
#define WAIT_5S 5000000000ll

static char name[128];

/* ---- 1. the rule ---------------------------------------------------------- */

static void part1(void)
{
    const uint64_t b = 50 * US, max = 400 * US;
    /* sk_spin_window(spin_us, spin_max, window, wake-up cost, wait) */
    EXPECT(sk_spin_window(b, max, b, 40 * US, 30 * US) == b,
           "a wait within spin_us teaches nothing");
    EXPECT(sk_spin_window(b, max, 300 * US, 40 * US, 30 * US) == 300 * US,
           "... nor shrinks a grown window");
    /* cost 40 us: over 30% of a wait up to 133 us */
    EXPECT(sk_spin_window(b, max, b, 40 * US, 100 * US) == 150 * US,
           "a costly wake-up grows the window to 1.5x the wait");
    EXPECT(sk_spin_window(b, max, b, 30 * US, 100 * US) == b,
           "a wake-up costing 30%% of the wait does not grow it");
    EXPECT(sk_spin_window(b, max, b, 30 * US + 1, 100 * US) == 150 * US,
           "one costing a little over 30%% does");
    EXPECT(sk_spin_window(b, max, 200 * US, 40 * US, 100 * US) == 200 * US,
           "a grown window stays while its waits are costly to sleep through");
    EXPECT(sk_spin_window(b, max, 200 * US, 40 * US, 140 * US) == b,
           "a wait the wake-up costs under 30%% of sets spin_us again");
    /* 1.5 x 266 us = 399 us <= 400; 1.5 x 268 = 402 > 400 */
    EXPECT(sk_spin_window(b, max, b, 100 * US, 266 * US) == 399 * US,
           "the window grows up to spin_max");
    EXPECT(sk_spin_window(b, max, b, 100 * US, 268 * US) == b,
           "a wait that would need more than spin_max sets spin_us again");
    EXPECT(sk_spin_window(b, b, b, 100 * US, 60 * US) == b,
           "spin_max = spin_us: the window never grows");
    EXPECT(sk_spin_window(0, 0, 0, 100 * US, 1 * US) == 0,
           "spin_us 0 never spins");
    EXPECT(sk_spin_window(b, max, b, 0, 60 * US) == b,
           "a wake-up cost not known yet grows nothing");

    /* sk_wake_late(estimate, first sample, sample) */
    uint64_t first = 0;
    EXPECT(sk_wake_late(0, &first, 5000 * US) == 0 && first == 5000 * US,
           "the first sample is kept, not yet an estimate");
    EXPECT(sk_wake_late(0, &first, 60 * US) == 60 * US,
           "the estimate starts as the smaller of the first two");
    first = 0;
    EXPECT(sk_wake_late(0, &first, 0) == 0 && first == 1,
           "a sample of 0 counts as 1 (0: not known)");
    EXPECT(sk_wake_late(0, &first, 70 * US) == 1, "... and is the smaller");
    EXPECT(sk_wake_late(40 * US, &first, 48 * US) == 41 * US,
           "up by 1/8 of the step");
    EXPECT(sk_wake_late(40 * US, &first, 32 * US) == 39 * US,
           "down by 1/8 of the step");
    EXPECT(sk_wake_late(40 * US, &first, 10000 * US) == 45 * US,
           "a host stall counts as twice the estimate");
    EXPECT(sk_wake_late(40 * US, &first, 0) == 37500, "a wake-up that cost "
           "nothing counts as half the estimate");
    uint64_t e = 0;
    first = 0;
    for (int i = 0; i < 100; i++)
        e = sk_wake_late(e, &first, 50 * US);
    EXPECT(e > 49 * US && e <= 50 * US, "steady samples: the estimate "
           "settles on them (%llu)", (unsigned long long)e);
}

/* ---- helpers -------------------------------------------------------------- */

static void open_pair(shmkit_kind_t kind, uint64_t cap, shmkit_wait_t wwait,
                      uint32_t spin_us, uint32_t spin_max_us,
                      shmkit_writer_t **w, shmkit_reader_t **r)
{
    skt_name(name, sizeof name);
    cu_create(name, kind, cap, kind == SHMKIT_KIND_BUS, 0, 0);
    shmkit_endpoint_opts_t eo;
    cu_eo(&eo, wwait);
    eo.spin_us = spin_us;
    CHECK_OK(shmkit_writer_open(name, &eo, w));
    cu_eo(&eo, SHMKIT_WAIT_ADAPTIVE);
    eo.spin_us = spin_us;
    eo.spin_max_us = spin_max_us;
    CHECK_OK(shmkit_reader_open(name, &eo, r));
}

static void close_pair(shmkit_writer_t *w, shmkit_reader_t *r)
{
    CHECK_OK(shmkit_writer_close(w));
    CHECK_OK(shmkit_reader_close(r));
    CHECK_OK(shmkit_segment_unlink(name));
}

static int asleep(struct sk_event *e)
{
    return (atomic_load(&e->waiters) & SK_EV_SLEEPERS) != 0;
}

/* Waits (up to 5 s) until somebody announced a sleep on e. */
static void until_asleep(struct sk_event *e)
{
    uint64_t t = skt_now_ns();
    while (!asleep(e)) {
        CHECKF(skt_now_ns() - t < 5000 * MS, "nobody went to sleep");
        cu_sleep_ns(100 * US);
    }
}

struct take {
    shmkit_reader_t *r;
    int64_t timeout;
    int rc;
    uint64_t value, t_call, t_ret;
    _Atomic long tid;
};

static void *take_thread(void *arg)
{
    struct take *t = arg;
    size_t n = 0;
    atomic_store(&t->tid, (long)syscall(SYS_gettid));
    t->t_call = skt_now_ns();
    t->rc = shmkit_reader_recv(t->r, &t->value, sizeof t->value, &n, t->timeout);
    t->t_ret = skt_now_ns();
    if (t->rc == 0 && n != sizeof t->value)
        t->rc = -EMSGSIZE;
    return NULL;
}

/* 1: thread tid of this process is blocked in futex(); 0: it is not; -1:
 * cannot tell (/proc/PID/task/TID/syscall unreadable). */
static int in_futex(long tid)
{
    char path[64], buf[64];
    snprintf(path, sizeof path, "/proc/self/task/%ld/syscall", tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int ok = fgets(buf, sizeof buf, f) != NULL;
    fclose(f);
    if (!ok)
        return -1;
    long nr = strtol(buf, NULL, 10); /* "running" reads as 0: not futex */
#ifdef SYS_futex_time64
    if (nr == SYS_futex_time64)
        return 1;
#endif
    return nr == SYS_futex;
}

/* Waits (up to 5 s) until the reader thread of t sleeps in the futex: its
 * flag on e first, then the thread itself (or, where /proc cannot tell,
 * 20 ms more: the flag is set just before the last look and the sleep). */
static void until_sleeping(struct sk_event *e, struct take *t)
{
    until_asleep(e);
    uint64_t t0 = skt_now_ns();
    long tid;
    while ((tid = atomic_load(&t->tid)) == 0)
        cu_sleep_ns(100 * US);
    int st;
    while ((st = in_futex(tid)) == 0) {
        CHECKF(skt_now_ns() - t0 < 5000 * MS, "the reader never slept");
        cu_sleep_ns(100 * US);
    }
    if (st < 0)
        cu_sleep_ns(20 * MS);
}

static void send_value(shmkit_writer_t *w, uint64_t v)
{
    CHECK_OK(shmkit_writer_send(w, &v, sizeof v, 0));
}

/* ---- 2. the stamps ------------------------------------------------------- */

struct give {
    shmkit_writer_t *w;
    int rc;
};

static void *give_thread(void *arg)
{
    struct give *g = arg;
    uint64_t v = 7;
    g->rc = shmkit_writer_send(g->w, &v, sizeof v, WAIT_5S);
    return NULL;
}

static void part2(void)
{
    shmkit_writer_t *w;
    shmkit_reader_t *r;
    /* data: a writer wakes a sleeping reader */
    open_pair(SHMKIT_KIND_QUEUE, 1 << 16, SHMKIT_WAIT_ADAPTIVE, 100, 0, &w, &r);
    struct sk_chan *ch = r->v.ch;
    struct take t = {r, WAIT_5S, -1, 0, 0, 0, 0};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, take_thread, &t) == 0);
    until_asleep(&ch->data_ev);
    uint64_t a = skt_now_ns();
    send_value(w, 42);
    uint64_t b = skt_now_ns();
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_OK(t.rc);
    EXPECT(t.value == 42, "the message: %llu", (unsigned long long)t.value);
    uint64_t p = atomic_load(&ch->data_posted);
    EXPECT(p >= a && p <= b, "the writer stamped its wake-up: %llu not in "
           "[%llu, %llu]", (unsigned long long)p, (unsigned long long)a,
           (unsigned long long)b);
    close_pair(w, r);

    /* space: a reader wakes a writer waiting for room (a 4 KiB queue of
     * 8-byte messages: 16-byte records, 256 of them) */
    open_pair(SHMKIT_KIND_QUEUE, 4096, SHMKIT_WAIT_ADAPTIVE, 100, 0, &w, &r);
    ch = r->v.ch;
    int sent = 0;
    for (uint64_t v = 0; shmkit_writer_send(w, &v, sizeof v, 0) == 0; v++)
        sent++;
    EXPECT(sent > 100, "the queue took %d messages before it was full", sent);
    struct give g = {w, -1};
    CHECK(pthread_create(&th, NULL, give_thread, &g) == 0);
    until_asleep(&ch->space_ev);
    a = skt_now_ns();
    uint64_t v = 0;
    size_t n;
    CHECK_OK(shmkit_reader_recv(r, &v, sizeof v, &n, 0));
    b = skt_now_ns();
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_OK(g.rc);
    p = atomic_load(&ch->space_posted);
    EXPECT(p >= a && p <= b, "the reader stamped the writer's wake-up: %llu "
           "not in [%llu, %llu]", (unsigned long long)p,
           (unsigned long long)a, (unsigned long long)b);
    close_pair(w, r);
}

/* ---- 3. the window in real waits ------------------------------------------ */

/* Sends value `delay` ns from now on another thread. */
struct late {
    shmkit_writer_t *w;
    uint64_t delay;
    int rc;
};

static void *late_thread(void *arg)
{
    struct late *l = arg;
    cu_sleep_ns(l->delay);
    uint64_t v = 9;
    l->rc = shmkit_writer_send(l->w, &v, sizeof v, 0);
    return NULL;
}

/* A wake-up made late on purpose.  The reader (in a thread) sleeps after
 * its window; the message goes in with no wake-up (the sleepers flag taken
 * away first); the stamp says it came then (or, with future, a minute
 * later); LATE later we wake it.  Gives the stamp, when the reader was
 * seen asleep, and when its call began and ended. */
#define LATE (100 * MS)

static void late_wake(shmkit_writer_t *w, shmkit_reader_t *r, int future,
                      uint64_t *stamp, uint64_t *seen, uint64_t *t_call,
                      uint64_t *t_ret)
{
    struct sk_chan *ch = r->v.ch;
    struct take t = {r, WAIT_5S, -1, 0, 0, 0, 0};
    pthread_t th;
    /* the flag stays after a wait (sk_event_cancel): take it away, so that
     * it shows this wait's sleep */
    atomic_fetch_and(&ch->data_ev.waiters, ~SK_EV_SLEEPERS);
    CHECK(pthread_create(&th, NULL, take_thread, &t) == 0);
    until_sleeping(&ch->data_ev, &t);
    *seen = skt_now_ns();
    atomic_fetch_and(&ch->data_ev.waiters, ~SK_EV_SLEEPERS);
    *stamp = skt_now_ns() + (future ? 60000 * MS : 0);
    atomic_store(&ch->data_posted, *stamp);
    send_value(w, 10);
    EXPECT(atomic_load(&ch->data_posted) == *stamp,
           "with no sleeper the writer stamps nothing");
    cu_sleep_ns(LATE);
    atomic_fetch_or(&ch->data_ev.waiters, SK_EV_SLEEPERS);
    sk_event_notify_slow(&ch->data_ev, NULL, 1);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_OK(t.rc);
    CHECK(t.value == 10);
    *t_call = t.t_call;
    *t_ret = t.t_ret;
}

/* A wait for a message sent `delay` after the call, in this thread. */
static struct take wait_for_late(shmkit_writer_t *w, shmkit_reader_t *r,
                                 uint64_t delay, uint64_t *t_before)
{
    pthread_t th;
    struct late l = {w, delay, -1};
    struct take t = {r, WAIT_5S, -1, 0, 0, 0, 0};
    *t_before = skt_now_ns();
    CHECK(pthread_create(&th, NULL, late_thread, &l) == 0);
    take_thread(&t);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_OK(l.rc);
    CHECK_OK(t.rc);
    return t;
}

static void part3(void)
{
    /* spin_us 20 ms; spin_max 100x that, far above any wait here (the cap
     * is part 1's) */
    const uint32_t spin_us = 20000;
    const uint64_t base = spin_us * US, max = 100 * base;
    shmkit_writer_t *w;
    shmkit_reader_t *r;
    open_pair(SHMKIT_KIND_BUS, 1 << 16, SHMKIT_WAIT_SPIN, spin_us, 100 * spin_us,
              &w, &r);
    struct sk_chan *ch = r->v.ch;
    EXPECT(r->v.spin_win_ns == base, "the window starts at spin_us: %llu",
           (unsigned long long)r->v.spin_win_ns);
    EXPECT(r->v.spin_max_ns == max, "spin_max_us: %llu",
           (unsigned long long)r->v.spin_max_ns);
    EXPECT(r->v.wake_late_ns == 0, "the wake-up cost is not known yet");
    uint64_t t_before;

    /* a window longer than the wait: spun through, no sleep; costly
     * wake-ups (as if learnt) keep the window, cheap ones set spin_us.  The
     * message comes 100 ms after: five times spin_us, whatever delays the
     * start of our wait */
    for (int cheap = 0; cheap < 2; cheap++) {
        r->v.spin_win_ns = 1000 * MS;
        r->v.wake_late_ns = cheap ? 16 : 100 * MS;
        atomic_fetch_and(&ch->data_ev.waiters, ~SK_EV_SLEEPERS);
        struct take t = wait_for_late(w, r, 100 * MS, &t_before);
        EXPECT(t.t_ret - t_before >= 100 * MS, "the wait took %llu ns",
               (unsigned long long)(t.t_ret - t_before));
        EXPECT(!asleep(&ch->data_ev), "a wait inside the window does not "
               "sleep");
        if (cheap)
            EXPECT(r->v.spin_win_ns == base, "where wake-ups are cheap a "
                   "spun-through wait sets spin_us: %llu",
                   (unsigned long long)r->v.spin_win_ns);
        else
            EXPECT(r->v.spin_win_ns == 1000 * MS, "where they are costly "
                   "the window stays: %llu",
                   (unsigned long long)r->v.spin_win_ns);
    }

    /* a long wait, slept through, where wake-ups cost little: spin_us,
     * and the real wake-up was learnt from */
    r->v.spin_win_ns = 4 * base;
    r->v.wake_late_ns = 16;
    wait_for_late(w, r, 200 * MS, &t_before);
    EXPECT(r->v.spin_win_ns == base, "a wait the wake-up costs little of "
           "sets spin_us: %llu", (unsigned long long)r->v.spin_win_ns);
    EXPECT(r->v.wake_late_ns > 16, "a real wake-up was learnt from: "
           "%llu", (unsigned long long)r->v.wake_late_ns);

    /* timeouts: in the sleep, and in the spin (a timeout shorter than the
     * window ends the spin on time) */
    for (int in_spin = 0; in_spin < 2; in_spin++) {
        r->v.spin_win_ns = in_spin ? 4000 * MS : 4 * base;
        struct take t = {r, 4 * (int64_t)base + 20 * (int64_t)MS, -1, 0, 0, 0, 0};
        take_thread(&t);
        CHECK_RC(t.rc, -ETIMEDOUT);
        EXPECT(t.t_ret - t.t_call < 2000 * MS, "the timeout ended the wait: "
               "%llu ns", (unsigned long long)(t.t_ret - t.t_call));
        EXPECT(r->v.spin_win_ns == base, "a timeout sets spin_us again "
               "(%s): %llu", in_spin ? "in the spin" : "asleep",
               (unsigned long long)r->v.spin_win_ns);
    }

    /* The cost not known before: the first late wake-up is kept, the
     * second gives the estimate, the smaller of the two (each at least
     * LATE, at most the time from stamp to the call's end). */
    uint64_t stamp, seen, t_call, t_ret, most = 0;
    r->v.wake_late_ns = 0;
    r->v.wake_first_ns = 0;
    for (int i = 0; i < 2; i++) {
        late_wake(w, r, 0, &stamp, &seen, &t_call, &t_ret);
        if (t_ret - stamp > most)
            most = t_ret - stamp;
        if (i == 0)
            EXPECT(r->v.wake_late_ns == 0 && r->v.wake_first_ns >= LATE,
                   "one sample is not an estimate: %llu, first %llu",
                   (unsigned long long)r->v.wake_late_ns,
                   (unsigned long long)r->v.wake_first_ns);
    }
    EXPECT(r->v.wake_late_ns >= LATE && r->v.wake_late_ns <= most,
           "the estimate from two: %llu", (unsigned long long)r->v.wake_late_ns);

    /* A late wake-up where wake-ups are known to cost LATE: 100 ms late on
     * a wait of about 120 (20 ms spin, 100 late), over 30% (up to a wait
     * of 333 ms: room for a slow machine).  The window
     * becomes 1.5x that wait, from the reader's start (between t_call and
     * asleep - spin_us) to its return (between stamp + LATE and t_ret). */
    r->v.wake_late_ns = LATE;
    r->v.spin_win_ns = base;
    late_wake(w, r, 0, &stamp, &seen, &t_call, &t_ret);
    uint64_t win = r->v.spin_win_ns;
    uint64_t lo = (stamp + LATE - (seen - base)) * 3 / 2;
    uint64_t hi = (t_ret - t_call) * 3 / 2;
    EXPECT(win >= lo && win <= hi && win > base && win <= max,
           "a costly wake-up grows the window: %llu not in [%llu, %llu]",
           (unsigned long long)win, (unsigned long long)lo,
           (unsigned long long)hi);
    EXPECT(r->v.wake_late_ns > LATE, "the cost learnt: %llu",
           (unsigned long long)r->v.wake_late_ns);

    /* a stamp from the future: spin_us, nothing learnt */
    uint64_t known = r->v.wake_late_ns;
    late_wake(w, r, 1, &stamp, &seen, &t_call, &t_ret);
    EXPECT(r->v.spin_win_ns == base, "a stamp from the future sets "
           "spin_us: %llu", (unsigned long long)r->v.spin_win_ns);
    EXPECT(r->v.wake_late_ns == known, "and teaches nothing");
    close_pair(w, r);

    /* spin_max_us = spin_us: fixed; below spin_us: fixed too; spin_us 0
     * with a spin_max_us: never spins */
    for (int k = 0; k < 3; k++) {
        uint32_t su = k == 2 ? 0 : spin_us, sm = k == 0 ? spin_us : 3;
        open_pair(SHMKIT_KIND_BUS, 1 << 16, SHMKIT_WAIT_SPIN, su, sm, &w, &r);
        EXPECT(r->v.spin_max_ns == su * US, "spin_us %u, spin_max_us %u: "
               "%llu", su, sm, (unsigned long long)r->v.spin_max_ns);
        r->v.wake_late_ns = LATE;
        late_wake(w, r, 0, &stamp, &seen, &t_call, &t_ret);
        EXPECT(r->v.spin_win_ns == su * US, "a fixed window does not grow: "
               "%llu", (unsigned long long)r->v.spin_win_ns);
        if (su) /* a sample of over spin_max counts as spin_max */
            EXPECT(r->v.wake_late_ns < LATE, "yet the wake-up was learnt "
                   "from: %llu", (unsigned long long)r->v.wake_late_ns);
        close_pair(w, r);
    }
}

/* ---- 4. idle after a stream ------------------------------------------------ */

/* The CPU time of the calling thread, ns. */
static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void part4(void)
{
    /* spin_us 1 ms, spin_max the default 8 ms; the window grown to it, as
     * after a stream whose wake-ups were costly; then nothing for 500 ms */
    shmkit_writer_t *w;
    shmkit_reader_t *r;
    open_pair(SHMKIT_KIND_QUEUE, 1 << 16, SHMKIT_WAIT_SPIN, 1000, 0, &w, &r);
    EXPECT(r->v.spin_max_ns == 8 * MS, "the default spin_max: 8x spin_us "
           "(%llu)", (unsigned long long)r->v.spin_max_ns);
    r->v.spin_win_ns = 8 * MS;
    r->v.wake_late_ns = 2 * MS;
    uint64_t t_before, c0 = thread_cpu_ns();
    struct take t = wait_for_late(w, r, 500 * MS, &t_before);
    uint64_t cpu = thread_cpu_ns() - c0, wall = t.t_ret - t_before;
    EXPECT(wall >= 500 * MS, "the wait took %llu ns", (unsigned long long)wall);
    /* the window once (8 ms), then asleep: far under the 500 ms it waited */
    EXPECT(cpu < 100 * MS, "an idle reader spins its window once, then "
           "sleeps: %llu ns of CPU in %llu", (unsigned long long)cpu,
           (unsigned long long)wall);
    EXPECT(r->v.spin_win_ns == 1 * MS, "and its window is spin_us again: "
           "%llu", (unsigned long long)r->v.spin_win_ns);
    close_pair(w, r);
}

int main(int argc, char **argv)
{
    cu_init("test_chan_adaptive", 60);
    int only = argc > 1 ? atoi(argv[1]) : 0;
    void (*parts[])(void) = {part1, part2, part3, part4};
    for (int i = 0; i < 4; i++)
        if (!only || only == i + 1)
            parts[i]();
    return cu_result();
}
