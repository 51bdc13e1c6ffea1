/*
 * test_sync_event - the futex eventcount, and "no syscall when nobody waits".
 *
 *  1. A wait with nobody notifying returns -ETIMEDOUT after about the
 *     timeout; a wait on a stale key (a notify came after prepare) returns 0
 *     at once; notify with nobody waiting returns 0.
 *  2. notify(all) wakes three sleeping processes.
 *  3. Ping-pong: 50000*scale rounds (100000 in CI) between two processes
 *     over two events and two counters; every wait has a 2 s timeout and any
 *     timeout is a lost wake-up (FAIL).
 *  4. A child installs a seccomp filter that kills it (SIGSYS) on any system
 *     call but write/exit (sanitizer builds: on futex and membarrier only),
 *     then makes 1M shmkit_event_notify with nobody waiting and 1M
 *     shmkit_writer_send on: a lossy bus (one reader attached, not waiting),
 *     a reliable bus without readers, an SP and an MP queue without a
 *     consumer, and a latest.  Exit 0 = pass; SIGSYS = a syscall was made.
 *     A control child with a waiter registered must die by SIGSYS, which
 *     proves the filter works.
 *  5. Channel ping-pong over two channels with sleeping waiters: block mode
 *     (after its first sleep a block waiter asks notifiers to fence, and
 *     skips the membarrier), adaptive mode with no spin (a membarrier per
 *     sleep), and block mode with membarrier denied by seccomp (ENOSYS: the
 *     fallback).  2000*scale rounds each; every message is checked, and a
 *     round trip over 300 ms (800 ms under sanitizers or valgrind) is a lost
 *     wake-up (a sleep is sliced at 1 s, so a lost wake-up costs up to a
 *     second instead of hanging).
 */
#include "chan_util.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/syscall.h>

struct pingpong {
    shmkit_event_t ev[2];
    uint8_t pad0[56];
    _Atomic uint64_t cnt[2];
    uint8_t pad1[48];
    _Atomic uint64_t sleeps[2];
    _Atomic uint32_t flag;
};

static char seg_name[128];
static uint64_t rounds;

static struct pingpong *open_pp(shmkit_segment_t **seg)
{
    CHECK_OK(shmkit_segment_open(seg_name, NULL, seg));
    return shmkit_segment_data(*seg);
}

/* ---- 1. timeouts and stale keys -------------------------------------------- */

static void timeouts(struct pingpong *pp)
{
    shmkit_event_t *e = &pp->ev[0];
    static const int64_t tmo[] = {1000000, 100000000, 300000000};
    for (size_t i = 0; i < sizeof tmo / sizeof tmo[0]; i++) {
        uint32_t key = shmkit_event_prepare(e);
        uint64_t t0 = skt_now_ns();
        CHECK_RC(shmkit_event_wait(e, key, tmo[i]), -ETIMEDOUT);
        uint64_t el = skt_now_ns() - t0;
        CHECKF(el >= (uint64_t)tmo[i] && el < (uint64_t)tmo[i] + 300000000ull,
               "wait(%lld ns) took %llu ns", (long long)tmo[i],
               (unsigned long long)el);
    }
    /* nobody waits (every wait above took itself off): no wake-up */
    CHECK_RC(shmkit_event_notify(e, 0), 0);
    CHECK_RC(shmkit_event_notify(e, 1), 0);
    /* a notify between prepare and wait makes the key stale */
    uint32_t key = shmkit_event_prepare(e);
    CHECK(shmkit_event_notify(e, 0) >= 0);
    uint64_t t0 = skt_now_ns();
    CHECK_RC(shmkit_event_wait(e, key, 2000000000ll), 0);
    CHECKF(skt_now_ns() - t0 < 100000000ull, "stale key slept %llu ms",
           (unsigned long long)((skt_now_ns() - t0) / 1000000));
    /* prepare + cancel leaves nobody waiting */
    key = shmkit_event_prepare(e);
    shmkit_event_cancel(e);
    CHECK_RC(shmkit_event_notify(e, 1), 0);
    printf("timeouts, stale key, cancel: ok\n");
}

/* ---- 2. notify all ------------------------------------------------------------ */

static int sleeper_child(void *arg)
{
    (void)arg;
    shmkit_segment_t *seg;
    struct pingpong *pp = open_pp(&seg);
    uint64_t t0 = skt_now_ns();
    while (!atomic_load(&pp->flag)) {
        uint32_t key = shmkit_event_prepare(&pp->ev[1]);
        if (atomic_load(&pp->flag)) {
            shmkit_event_cancel(&pp->ev[1]);
            break;
        }
        int rc = shmkit_event_wait(&pp->ev[1], key, 5000000000ll);
        CHECKF(rc == 0, "sleeper: wait returned %d", rc);
    }
    CHECKF(skt_now_ns() - t0 < 4000000000ull, "sleeper woke too late");
    CHECK_OK(shmkit_segment_close(seg));
    return SKT_PASS;
}

static void notify_all(struct pingpong *pp)
{
    pid_t kids[3];
    atomic_store(&pp->flag, 0);
    for (int i = 0; i < 3; i++)
        kids[i] = cu_spawn(sleeper_child, NULL);
    cu_sleep_ns(200000000); /* let them fall asleep */
    atomic_store_explicit(&pp->flag, 1, memory_order_release);
    uint64_t t0 = skt_now_ns();
    int woken = shmkit_event_notify(&pp->ev[1], 1);
    CHECK(woken >= 0 && woken <= 3);
    for (int i = 0; i < 3; i++)
        CHECK_RC(cu_reap(kids[i], "sleeper"), 0);
    printf("notify(all): woke %d sleeping processes directly, all 3 done "
           "in %.1f ms: ok\n", woken, (double)(skt_now_ns() - t0) / 1e6);
    /* 200 ms is ample for all three to be asleep in the futex */
    CHECKF(woken >= 1, "notify(all) woke %d of 3 sleepers", woken);
}

/* ---- 3. ping-pong ------------------------------------------------------------- */

static void wait_for(struct pingpong *pp, int side, uint64_t want, int who)
{
    shmkit_event_t *e = &pp->ev[side];
    _Atomic uint64_t *c = &pp->cnt[side];
    for (;;) {
        /* acquire: pairs with the other side's release store */
        if (atomic_load_explicit(c, memory_order_acquire) >= want)
            return;
        uint32_t key = shmkit_event_prepare(e);
        if (atomic_load_explicit(c, memory_order_acquire) >= want) {
            shmkit_event_cancel(e);
            return;
        }
        atomic_fetch_add_explicit(&pp->sleeps[who], 1, memory_order_relaxed);
        int rc = shmkit_event_wait(e, key, 2000000000ll);
        if (rc == -ETIMEDOUT &&
            atomic_load_explicit(c, memory_order_acquire) < want)
            skt_fail(__FILE__, __LINE__,
                     "lost wake-up: side %d waited 2 s for count %llu of "
                     "event %d, which is %llu",
                     who, (unsigned long long)want, side,
                     (unsigned long long)atomic_load(c));
        CHECKF(rc == 0 || rc == -ETIMEDOUT, "wait returned %d", rc);
    }
}

static void publish(struct pingpong *pp, int side, uint64_t v)
{
    /* release: pairs with the acquire in wait_for() */
    atomic_store_explicit(&pp->cnt[side], v, memory_order_release);
    shmkit_event_notify(&pp->ev[side], 0);
}

static int ping_child(void *arg)
{
    int who = (int)(intptr_t)arg;
    shmkit_segment_t *seg;
    struct pingpong *pp = open_pp(&seg);
    for (uint64_t i = 1; i <= rounds; i++) {
        if (who == 0) {
            publish(pp, 0, i);
            wait_for(pp, 1, i, 0);
        } else {
            wait_for(pp, 0, i, 1);
            publish(pp, 1, i);
        }
    }
    CHECK_OK(shmkit_segment_close(seg));
    return SKT_PASS;
}

static void pingpong(struct pingpong *pp)
{
    rounds = 50000ull * (uint64_t)skt_scale(); /* CI (scale 2): 100000 */
    memset(pp, 0, sizeof *pp);
    uint64_t t0 = skt_now_ns();
    pid_t b = cu_spawn(ping_child, (void *)(intptr_t)1);
    pid_t a = cu_spawn(ping_child, (void *)(intptr_t)0);
    int ra = cu_reap(a, "ping"), rb = cu_reap(b, "pong");
    CHECK(ra == 0 && rb == 0);
    CHECK(atomic_load(&pp->cnt[0]) == rounds && atomic_load(&pp->cnt[1]) == rounds);
    uint64_t s0 = atomic_load(&pp->sleeps[0]), s1 = atomic_load(&pp->sleeps[1]);
    printf("ping-pong: %llu rounds, %llu + %llu sleeps, no lost wake-up "
           "(%.0f ms): ok\n", (unsigned long long)rounds, (unsigned long long)s0,
           (unsigned long long)s1, (double)(skt_now_ns() - t0) / 1e6);
    /* the sleeping path must have been exercised, or nothing was tested */
    CHECKF(s0 + s1 > 0, "no side ever went to sleep");
}

/* ---- 4. no syscall on the notify side --------------------------------------- */

#if defined(__x86_64__)
#define CU_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define CU_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#ifndef SECCOMP_RET_KILL_PROCESS
#define SECCOMP_RET_KILL_PROCESS 0x80000000u
#endif

#ifdef CU_AUDIT_ARCH
/* strict: only write, exit, exit_group; else only futex and membarrier are
 * fatal (sanitizer runtimes make calls of their own) */
static int install_filter(int strict)
{
    struct sock_filter strict_f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, CU_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_write, 3, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_exit, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_exit_group, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_filter loose_f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, CU_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_futex, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_membarrier, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
    };
    struct sock_fprog prog;
    if (strict) {
        prog.len = (unsigned short)(sizeof strict_f / sizeof strict_f[0]);
        prog.filter = strict_f;
    } else {
        prog.len = (unsigned short)(sizeof loose_f / sizeof loose_f[0]);
        prog.filter = loose_f;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -errno;
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
        return -errno;
    return 0;
}
#endif

enum { NCHAN = 5 };
static char chan_names[NCHAN][128];
static const char *chan_what[NCHAN] = {"bus/lossy (reader attached)",
                                       "bus/reliable (no reader)",
                                       "queue/sp (no consumer)",
                                       "queue/mp (no consumer)", "latest"};
#define NOTIFIES 1000000u

static void say(const char *s)
{
    if (write(2, s, strlen(s)) < 0) {
        /* nothing to do */
    }
}

/* which: -1 = control (must die), 0 = bare events, 1..NCHAN = a channel */
static int nosyscall_child(void *arg)
{
#ifdef CU_AUDIT_ARCH
    int which = (int)(intptr_t)arg;
    shmkit_segment_t *seg = NULL;
    shmkit_writer_t *w = NULL;
    struct pingpong *pp = NULL;
    if (which <= 0) {
        pp = open_pp(&seg);
        memset(pp, 0, sizeof *pp);
        if (which < 0)
            (void)shmkit_event_prepare(&pp->ev[0]); /* a waiter, never waits */
    } else {
        shmkit_endpoint_opts_t eo;
        shmkit_endpoint_opts_init(&eo);
        CHECK_OK(shmkit_writer_open(chan_names[which - 1], &eo, &w));
    }
    static uint8_t msg[64];
    memset(msg, 0xab, sizeof msg);
    int strict = !skt_sanitized();
    if (install_filter(strict) != 0)
        _exit(SKT_SKIP);
    if (which < 0) {
        shmkit_event_notify(&pp->ev[0], 0); /* futex wake: must be killed */
        say("control child survived a futex call\n");
        _exit(SKT_FAIL);
    }
    if (which == 0) {
        for (uint32_t i = 0; i < NOTIFIES; i++)
            if (shmkit_event_notify(&pp->ev[i & 1], (int)(i & 2)) != 0) {
                say("notify with nobody waiting returned non-zero\n");
                _exit(SKT_FAIL);
            }
        _exit(SKT_PASS);
    }
    /* queues without a consumer: zero-length messages fill 16 B each */
    int queue = which == 3 || which == 4;
    for (uint32_t i = 0; i < NOTIFIES; i++) {
        size_t len = queue ? 0 : (i * 7u) % sizeof msg;
        int rc = shmkit_writer_send(w, msg, len, 0);
        if (rc != 0) {
            say("send failed\n");
            _exit(SKT_FAIL);
        }
    }
    _exit(SKT_PASS);
#else
    (void)arg;
    return SKT_SKIP;
#endif
}

static void nosyscall(void)
{
    /* the filter works: a call that must make a futex syscall dies */
    int st = cu_reap_status(cu_spawn(nosyscall_child, (void *)(intptr_t)-1));
    if (WIFEXITED(st) && WEXITSTATUS(st) == SKT_SKIP)
        skip("seccomp filters are not available here");
    CHECKF(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS,
           "control child: status 0x%x, expected death by SIGSYS", st);

    int rc = skt_status_rc(cu_reap_status(cu_spawn(nosyscall_child, NULL)),
                           "1M notifies under seccomp");
    CHECKF(rc == 0, "1M notifies with nobody waiting made a system call");
    printf("1M shmkit_event_notify, nobody waiting: no syscall (%s filter): ok\n",
           skt_sanitized() ? "futex+membarrier" : "strict");

    /* channels: created persistent here, written by the filtered child */
    static const struct {
        shmkit_kind_t k;
        int reliable, multi;
        uint64_t cap;
    } cfg[NCHAN] = {{SHMKIT_KIND_BUS, 0, 0, 65536},
                    {SHMKIT_KIND_BUS, 1, 0, 65536},
                    {SHMKIT_KIND_QUEUE, 0, 0, 16u << 20},
                    {SHMKIT_KIND_QUEUE, 0, 1, 16u << 20},
                    {SHMKIT_KIND_LATEST, 0, 0, 4096}};
    for (int i = 0; i < NCHAN; i++) {
        skt_name(chan_names[i], sizeof chan_names[i]);
        cu_create(chan_names[i], cfg[i].k, cfg[i].cap, cfg[i].reliable,
                  cfg[i].multi, 0);
        shmkit_reader_t *r = NULL;
        if (i == 0) /* a reader that is attached but does not wait */
            CHECK_OK(shmkit_reader_open(chan_names[i], NULL, &r));
        uint64_t t0 = skt_now_ns();
        int st2 = cu_reap_status(cu_spawn(nosyscall_child, (void *)(intptr_t)(i + 1)));
        if (WIFSIGNALED(st2) && WTERMSIG(st2) == SIGSYS)
            skt_fail(__FILE__, __LINE__,
                     "%s: 1M sends with nobody waiting made a system call "
                     "(killed by SIGSYS)", chan_what[i]);
        CHECKF(WIFEXITED(st2) && WEXITSTATUS(st2) == 0,
               "%s: child status 0x%x", chan_what[i], st2);
        shmkit_channel_stat_t cs;
        CHECK_OK(shmkit_channel_stat(chan_names[i], &cs));
        CHECKF(cs.messages == NOTIFIES, "%s: %llu messages counted",
               chan_what[i], (unsigned long long)cs.messages);
        if (r)
            CHECK_OK(shmkit_reader_close(r));
        CHECK_OK(shmkit_segment_unlink(chan_names[i]));
        printf("1M sends on %s: no syscall (%.0f ms): ok\n", chan_what[i],
               (double)(skt_now_ns() - t0) / 1e6);
    }
}

/* ---- 5. channel wake-ups: block, adaptive, no membarrier --------------------- */

struct cpp_cfg {
    const char *what;
    shmkit_kind_t kind;
    int reliable;
    shmkit_wait_t wait;
    uint32_t spin_us;
    int deny_membarrier;
};
static const struct cpp_cfg *cpp_cur;
static char cpp_names[2][128];
static uint64_t cpp_rounds;

#ifdef CU_AUDIT_ARCH
/* membarrier fails with ENOSYS, everything else is allowed */
static int deny_membarrier(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, CU_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_membarrier, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof f[0]), f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
        return -errno;
    return 0;
}
#endif

/* side 0 sends i on channel 0 and expects i back on channel 1 */
static int cpp_child(void *arg)
{
    int side = (int)(intptr_t)arg;
    const struct cpp_cfg *c = cpp_cur;
    if (c->deny_membarrier) {
#ifdef CU_AUDIT_ARCH
        if (deny_membarrier() != 0)
            return SKT_SKIP;
        if (syscall(SYS_membarrier, 0, 0, 0) != -1 || errno != ENOSYS) {
            fprintf(stderr, "the seccomp filter did not deny membarrier\n");
            return SKT_FAIL;
        }
#else
        return SKT_SKIP;
#endif
    }
    shmkit_endpoint_opts_t eo;
    cu_eo(&eo, c->wait);
    eo.spin_us = c->spin_us;
    shmkit_writer_t *w;
    shmkit_reader_t *r;
    CHECK_OK(shmkit_writer_open(cpp_names[side], &eo, &w));
    CHECK_OK(shmkit_reader_open(cpp_names[!side], &eo, &r));
    /* both readers have joined before the first message (a bus reader
     * sees only what is written after it joined) */
    for (int i = 0; i < 5000 && shmkit_writer_readers(w) < 1; i++)
        cu_sleep_ns(1000000);
    CHECKF(shmkit_writer_readers(w) == 1, "%s: the other side never joined",
           c->what);
    uint64_t worst = 0;
    for (uint64_t i = 0; i < cpp_rounds; i++) {
        uint64_t t0 = skt_now_ns(), got = ~i;
        size_t n = 0;
        if (side == 0)
            CHECK_OK(shmkit_writer_send(w, &i, sizeof i, 5000000000ll));
        int rc = shmkit_reader_recv(r, &got, sizeof got, &n, 5000000000ll);
        CHECKF(rc == 0, "%s: side %d, round %llu: recv %d (%s)", c->what, side,
               (unsigned long long)i, rc, shmkit_strerror(rc));
        CHECKF(n == sizeof got && got == i, "%s: side %d, round %llu: got %llu",
               c->what, side, (unsigned long long)i, (unsigned long long)got);
        if (side == 1)
            CHECK_OK(shmkit_writer_send(w, &i, sizeof i, 5000000000ll));
        uint64_t dt = skt_now_ns() - t0;
        if (dt > worst)
            worst = dt;
        /* under sanitizers and valgrind everything is slower; a lost
         * wake-up still costs a whole 1 s slice */
        CHECKF(dt < (skt_sanitized() ? 800000000ull : 300000000ull),
               "%s: side %d, round %llu: the round trip took %.0f ms: a "
               "wake-up was lost", c->what, side, (unsigned long long)i,
               (double)dt / 1e6);
    }
    /* the other side must not see a closed channel before its last read */
    shmkit_channel_stat_t cs;
    for (int i = 0; i < 5000; i++) {
        CHECK_OK(shmkit_channel_stat(cpp_names[side], &cs));
        if (cs.messages == cpp_rounds && (side == 1 || i > 0))
            break;
        cu_sleep_ns(1000000);
    }
    CHECK_OK(shmkit_reader_close(r));
    CHECK_OK(shmkit_writer_detach(w));
    printf("  %s, side %d: worst round trip %.2f ms\n", c->what, side,
           (double)worst / 1e6);
    return SKT_PASS;
}

static void chan_wakeups(void)
{
    static const struct cpp_cfg cfgs[] = {
        {"queue, block", SHMKIT_KIND_QUEUE, 0, SHMKIT_WAIT_BLOCK, 0, 0},
        {"bus/reliable, block", SHMKIT_KIND_BUS, 1, SHMKIT_WAIT_BLOCK, 0, 0},
        {"queue, adaptive without spin", SHMKIT_KIND_QUEUE, 0,
         SHMKIT_WAIT_ADAPTIVE, 0, 0},
        {"bus/lossy, adaptive without spin", SHMKIT_KIND_BUS, 0,
         SHMKIT_WAIT_ADAPTIVE, 0, 0},
        {"queue, block, membarrier denied", SHMKIT_KIND_QUEUE, 0,
         SHMKIT_WAIT_BLOCK, 0, 1},
        {"queue, adaptive, membarrier denied", SHMKIT_KIND_QUEUE, 0,
         SHMKIT_WAIT_ADAPTIVE, 0, 1},
    };
    cpp_rounds = 2000ull * (uint64_t)skt_scale();
    for (size_t k = 0; k < sizeof cfgs / sizeof cfgs[0]; k++) {
        cpp_cur = &cfgs[k];
        for (int i = 0; i < 2; i++) {
            skt_name(cpp_names[i], sizeof cpp_names[i]);
            cu_create(cpp_names[i], cfgs[k].kind, 65536, cfgs[k].reliable, 0, 0);
        }
        uint64_t t0 = skt_now_ns();
        pid_t b = cu_spawn(cpp_child, (void *)(intptr_t)1);
        pid_t a = cu_spawn(cpp_child, (void *)(intptr_t)0);
        int sa = cu_reap_status(a), sb = cu_reap_status(b);
        if (WIFEXITED(sa) && WEXITSTATUS(sa) == SKT_SKIP) {
            printf("%s: skipped (seccomp filters are not available)\n",
                   cfgs[k].what);
        } else {
            CHECKF(WIFEXITED(sa) && WEXITSTATUS(sa) == 0 && WIFEXITED(sb) &&
                       WEXITSTATUS(sb) == 0,
                   "%s: children exited 0x%x / 0x%x", cfgs[k].what, sa, sb);
            printf("%s: %llu round trips, every wake-up arrived (%.0f ms): ok\n",
                   cfgs[k].what, (unsigned long long)cpp_rounds,
                   (double)(skt_now_ns() - t0) / 1e6);
        }
        for (int i = 0; i < 2; i++)
            CHECK_OK(shmkit_segment_unlink(cpp_names[i]));
    }
}

int main(void)
{
    cu_init("test_sync_event", 120);
    shmkit_segment_opts_t o;
    shmkit_segment_t *seg;
    shmkit_segment_opts_init(&o);
    o.size = 4096;
    o.exclusive = 1;
    CHECK_OK(shmkit_segment_create(skt_name(seg_name, sizeof seg_name), &o, &seg));
    struct pingpong *pp = shmkit_segment_data(seg);

    timeouts(pp);
    notify_all(pp);
    pingpong(pp);
    nosyscall();
    chan_wakeups();

    CHECK_OK(shmkit_segment_close(seg));
    return SKT_PASS;
}
