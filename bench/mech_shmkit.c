/*
 * mech_shmkit.c - shmkit's channels under the harness, plus the bus-only
 * measurements: fan-out, one slow reader, the CPU an idle blocked reader
 * burns, and a paced stream's latency against its reader's CPU.
 *
 * Channels are created persistent by the parent (so neither child races
 * the other to create them) under names "skb-PID-POINT-a" (A -> B) and
 * "-b" (B -> A), and unlinked by the parent afterwards (or by the signal
 * handler).  Ring capacity: 1 MiB, or 4 records of the message size when
 * that is more; max_msg = the message size.  latest: capacity = the size.
 *
 *  copy       shmkit_writer_send / shmkit_reader_recv
 *  zero-copy  shmkit_writer_reserve, payload written in place once,
 *             commit; shmkit_reader_peek, payload read in place once,
 *             release (latest's peek always copies into the reader's
 *             private buffer: that is its design)
 *  hand-off   as zero-copy, but only the 8-byte sequence number is
 *             written and read
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "shmkit.h"

struct skep {
    shmkit_writer_t *w;
    shmkit_reader_t *r;
};

static uint64_t pow2ceil(uint64_t v)
{
    uint64_t p = 4096;
    while (p < v)
        p <<= 1;
    return p;
}

static int sk_create(point_t *p, int kind, int reliable, int nchan, char *why,
                     size_t n)
{
    shmkit_channel_opts_t co;
    shmkit_channel_opts_init(&co, (shmkit_kind_t)kind);
    if (kind == SHMKIT_KIND_LATEST) {
        co.capacity = p->size;
    } else {
        uint64_t rec = (p->size + 16 + 7) & ~7ull;
        co.capacity = pow2ceil(rec) * 4;
        if (co.capacity < (1u << 20))
            co.capacity = 1u << 20;
        co.max_msg = (uint32_t)p->size;
    }
    co.reliable = reliable;
    co.seg.persistent = 1;
    for (int i = 0; i < nchan; i++) {
        snprintf(p->name[i], sizeof p->name[i], "skb-%d-%d-%c", (int)getpid(), p->id,
                 'a' + i);
        register_shm_name(p->name[i]);
        int r = shmkit_channel_create(p->name[i], &co);
        if (r < 0) {
            snprintf(why, n, "shmkit_channel_create: %s", shmkit_last_error());
            return -1;
        }
    }
    return 0;
}

static int sk_setup(point_t *p, char *why, size_t n)
{
    int kind = p->m->arg & 0xff, reliable = (p->m->arg >> 8) & 1;
    return sk_create(p, kind, reliable, p->tput ? 1 : 2, why, n);
}

static void sk_teardown(point_t *p)
{
    for (int i = 0; i < 2; i++)
        if (p->name[i][0])
            unregister_shm_name(p->name[i]);
}

static int sk_open_w(const char *name, int wait, shmkit_writer_t **w)
{
    shmkit_endpoint_opts_t eo;
    shmkit_endpoint_opts_init(&eo);
    eo.wait = (shmkit_wait_t)wait;
    eo.open_timeout_ms = 5000;
    int r = shmkit_writer_open(name, &eo, w);
    if (r < 0)
        child_fail("shmkit_writer_open: %s", shmkit_last_error());
    return r;
}

static int sk_open_r(const char *name, int wait, int hold0, shmkit_reader_t **rd)
{
    shmkit_endpoint_opts_t eo;
    shmkit_endpoint_opts_init(&eo);
    eo.wait = (shmkit_wait_t)wait;
    if (hold0)
        eo.hold_ns = 0;
    eo.open_timeout_ms = 5000;
    int r = shmkit_reader_open(name, &eo, rd);
    if (r < 0)
        child_fail("shmkit_reader_open: %s", shmkit_last_error());
    return r;
}

static int sk_open(point_t *p, int side, void **out)
{
    struct skep *e = calloc(1, sizeof *e);
    int hold0 = (p->m->flags & MECH_HOLD0) != 0;
    if (!e)
        return -1;
    if (side == 0) {
        if (sk_open_w(p->name[0], p->wait, &e->w) < 0 ||
            (!p->tput && sk_open_r(p->name[1], p->wait, hold0, &e->r) < 0))
            return -1;
    } else {
        if (sk_open_r(p->name[0], p->wait, hold0, &e->r) < 0 ||
            (!p->tput && sk_open_w(p->name[1], p->wait, &e->w) < 0))
            return -1;
    }
    *out = e;
    return 0;
}

static int sk_send_more(void *ep, const void *buf, size_t len, int pay,
                        uint64_t seq, int more)
{
    shmkit_writer_t *w = ((struct skep *)ep)->w;
    int r;
    if (pay == PAY_COPY) {
        r = more ? shmkit_writer_send_more(w, buf, len, -1)
                 : shmkit_writer_send(w, buf, len, -1);
    } else {
        void *d;
        r = shmkit_writer_reserve(w, len, &d, -1);
        if (r == 0) {
            pay_fill(d, len, pay, seq);
            r = more ? shmkit_writer_commit_more(w, len)
                     : shmkit_writer_commit(w, len);
        }
    }
    if (r < 0)
        child_fail("shmkit send: %s", shmkit_last_error());
    return r;
}

static int sk_send(void *ep, const void *buf, size_t len, int pay, uint64_t seq)
{
    return sk_send_more(ep, buf, len, pay, seq, 0);
}

/* "queue batched": a stream sent with send_more / commit_more; the
 * terminator (a plain send) publishes what is left */
static int sk_send_batched(void *ep, const void *buf, size_t len, int pay,
                           uint64_t seq)
{
    return sk_send_more(ep, buf, len, pay, seq, seq != SEQ_END);
}

static int sk_recv(void *ep, void *buf, size_t len, int pay, uint64_t *seq)
{
    shmkit_reader_t *rd = ((struct skep *)ep)->r;
    for (;;) {
        int r;
        if (pay == PAY_COPY) {
            size_t n;
            r = shmkit_reader_recv(rd, buf, len, &n, -1);
            if (r == SHMKIT_E_LOST || r == SHMKIT_E_OVERRUN)
                continue; /* lossy: counted from the sequence numbers */
            if (r == SHMKIT_E_CLOSED)
                return 1;
            if (r < 0) {
                child_fail("shmkit_reader_recv: %s (%s)", shmkit_strerror(r),
                           shmkit_last_error());
                return r;
            }
            *seq = load64(buf);
            return 0;
        }
        const void *d;
        size_t n;
        r = shmkit_reader_peek(rd, &d, &n, -1);
        if (r == SHMKIT_E_LOST)
            continue;
        if (r == SHMKIT_E_CLOSED)
            return 1;
        if (r < 0) {
            child_fail("shmkit_reader_peek: %s (%s)", shmkit_strerror(r),
                       shmkit_last_error());
            return r;
        }
        uint64_t s = pay_touch(d, n, pay);
        r = shmkit_reader_release(rd);
        if (r == SHMKIT_E_OVERRUN)
            continue; /* what we read was overwritten: discard it */
        if (r < 0) {
            child_fail("shmkit_reader_release: %s", shmkit_strerror(r));
            return r;
        }
        *seq = s;
        return 0;
    }
}

static void sk_close(void *ep, int side)
{
    (void)side;
    struct skep *e = ep;
    if (e->w)
        shmkit_writer_close(e->w);
    if (e->r)
        shmkit_reader_close(e->r);
    free(e);
}

#define SK_MECH(var, label, flags, arg)                                           \
    const mech_t var = {"shmkit", label, flags, arg, 0, sk_setup, sk_open, sk_send, \
                        sk_recv, sk_close, sk_teardown}

SK_MECH(mech_sk_queue, "queue", MECH_ZC | MECH_WAIT, SHMKIT_KIND_QUEUE);
/* the queue with a reader that never holds (hold_ns = 0) */
SK_MECH(mech_sk_queue_hold0, "queue hold 0", MECH_ZC | MECH_WAIT | MECH_HOLD0,
        SHMKIT_KIND_QUEUE);
/* one-way only: a round trip never flushes */
const mech_t mech_sk_queue_batched = {"shmkit", "queue batched", MECH_ZC | MECH_WAIT,
                                      SHMKIT_KIND_QUEUE, 0, sk_setup, sk_open,
                                      sk_send_batched, sk_recv, sk_close, sk_teardown};
SK_MECH(mech_sk_bus_lossy, "bus lossy", MECH_ZC | MECH_WAIT | MECH_LOSSY,
        SHMKIT_KIND_BUS);
SK_MECH(mech_sk_bus_reliable, "bus reliable", MECH_ZC | MECH_WAIT,
        SHMKIT_KIND_BUS | 0x100);
SK_MECH(mech_sk_latest, "latest", MECH_ZC | MECH_WAIT | MECH_LOSSY,
        SHMKIT_KIND_LATEST);

/* ---- bus: fan-out and one slow reader ------------------------------------------- */

struct fan {
    point_t p;
    int nreaders;
    int reliable;
    int oversub;
    int slow;       /* reader 1 is slow */
    int order[64];  /* reader k runs on order[k % ncpu] */
};

static int fan_child(int i, void *arg)
{
    struct fan *f = arg;
    int oversub = f->oversub;
    if (i == 0) {
        pin_cpu(cfg.cpu[0]);
        shmkit_writer_t *w;
        int wait = oversub || (f->slow && f->reliable) ? SHMKIT_WAIT_ADAPTIVE
                                                       : SHMKIT_WAIT_SPIN;
        if (sk_open_w(f->p.name[0], wait, &w) < 0)
            return 1;
        bench_barrier(f->nreaders + 1);
        unsigned char msg[64];
        memset(msg, 0x5a, sizeof msg);
        uint64_t t0 = now_ns(), end = t0 + (uint64_t)(cfg.seconds * 1e9), k = 0;
        atomic_store(&ctl->t_start, t0);
        for (;;) {
            memcpy(msg, &k, 8);
            if (shmkit_writer_send(w, msg, sizeof msg, -1) < 0) {
                child_fail("bus send: %s", shmkit_last_error());
                return 1;
            }
            k++;
            if ((k & 255) == 0 && now_ns() >= end)
                break;
        }
        atomic_store(&ctl->w_end, now_ns());
        atomic_store(&ctl->sent, k);
        shmkit_writer_close(w);
        return 0;
    }
    int k = i - 1;
    pin_cpu(f->order[k % cfg.ncpu]);
    int is_slow = f->slow && k == 1;
    int wait = oversub || is_slow ? SHMKIT_WAIT_ADAPTIVE : SHMKIT_WAIT_SPIN;
    shmkit_reader_t *rd;
    if (sk_open_r(f->p.name[0], wait, 0, &rd) < 0)
        return 1;
    bench_barrier(f->nreaders + 1);
    unsigned char buf[64];
    uint64_t expect = 0, got = 0, lost = 0, s;
    for (;;) {
        int r = sk_recv(&(struct skep){NULL, rd}, buf, sizeof buf, PAY_COPY, &s);
        if (r == 1)
            break;
        if (r < 0)
            return 1;
        if (s < expect || (s != expect && f->reliable)) {
            child_fail("reader %d: message %llu arrived as %llu", k,
                       (unsigned long long)expect, (unsigned long long)s);
            return 1;
        }
        lost += s - expect;
        expect = s + 1;
        got++;
        if (is_slow && got % 100 == 0) {
            struct timespec d = {0, 1000000};
            nanosleep(&d, NULL);
        }
    }
    ctl->rd[k].t_end = now_ns();
    ctl->rd[k].msgs = got;
    ctl->rd[k].lost = lost;
    shmkit_reader_close(rd);
    return 0;
}

static int run_bus(int reliable, int nreaders, int slow)
{
    char label[96];
    const char *mech = reliable ? "bus reliable" : "bus lossy";
    if (slow)
        snprintf(label, sizeof label, "slow:%s", mech);
    else
        snprintf(label, sizeof label, "fanout:%s:%d", mech, nreaders);
    if (!want(label))
        return 0;
    struct fan *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    char why[256];
    f->p.size = 64;
    f->p.id = 1000 + nreaders + (reliable ? 100 : 0) + (slow ? 200 : 0);
    f->nreaders = nreaders;
    f->reliable = reliable;
    f->slow = slow;
    f->oversub = !slow && nreaders + 1 > cfg.ncpu;
    /* readers: B's CPU first, then the others, A's last */
    int no = 0;
    f->order[no++] = cfg.cpu[1];
    for (int i = 0; i < cfg.ncpu && no < 64; i++)
        if (cfg.cpus[i] != cfg.cpu[0] && cfg.cpus[i] != cfg.cpu[1])
            f->order[no++] = cfg.cpus[i];
    if (cfg.cpu[0] != cfg.cpu[1] && no < 64)
        f->order[no++] = cfg.cpu[0];
    if (sk_create(&f->p, SHMKIT_KIND_BUS, reliable, 1, why, sizeof why) < 0) {
        add_failure(label, why);
        sk_teardown(&f->p);
        free(f);
        return -1;
    }
    ctl_reset(nreaders + 1);
    int rc = run_children(nreaders + 1, 0, fan_child, f, 60 + (int)(cfg.seconds * 10));
    sk_teardown(&f->p);
    if (rc < 0) {
        add_failure(label, ctl->why);
        free(f);
        return -1;
    }
    result_t r;
    memset(&r, 0, sizeof r);
    r.type = slow ? R_SLOW : R_FANOUT;
    snprintf(r.group, sizeof r.group, "shmkit");
    snprintf(r.mech, sizeof r.mech, "%s", mech);
    snprintf(r.mode, sizeof r.mode, "%s", f->oversub ? "adaptive" : "spin");
    snprintf(r.variant, sizeof r.variant, "copy");
    r.size = 64;
    r.readers = nreaders;
    r.oversub = f->oversub;
    r.w_msgs_s = (double)ctl->sent / ((double)(ctl->w_end - ctl->t_start) / 1e9);
    r.rd_min = 1e300;
    for (int k = 0; k < nreaders; k++) {
        double dt = (double)(ctl->rd[k].t_end - ctl->t_start) / 1e9;
        r.rd_rates[k] = dt > 0 ? (double)ctl->rd[k].msgs / dt : 0;
        r.rd_lost[k] = ctl->rd[k].lost;
        r.lost += ctl->rd[k].lost;
        r.rd_avg += r.rd_rates[k] / nreaders;
        if (r.rd_rates[k] < r.rd_min)
            r.rd_min = r.rd_rates[k];
        if (r.rd_rates[k] > r.rd_max)
            r.rd_max = r.rd_rates[k];
    }
    if (slow)
        snprintf(r.note, sizeof r.note,
                 "slow reader sleeps 1 ms per 100 messages%s",
                 reliable ? "; the writer waits for it" : "");
    else
        snprintf(r.note, sizeof r.note, "%s%s",
                 f->oversub ? "OVERSUBSCRIBED (readers+1 > CPUs), adaptive readers"
                            : "spin readers",
                 r.lost ? "; readers lost messages" : "");
    if (!slow && reliable && r.lost) {
        add_failure(label, "a reliable bus reader lost messages");
    }
    add_result(&r);
    free(f);
    return 0;
}

int run_fanout(int reliable, int nreaders)
{
    return run_bus(reliable, nreaders, 0);
}

int run_slow_reader(int reliable)
{
    return run_bus(reliable, 2, 1);
}

/* ---- idle blocked reader --------------------------------------------------------- */

static int idle_wait;
static point_t idle_p;

static double cpu_ms_self(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec * 1e3 + (double)ru.ru_utime.tv_usec / 1e3 +
           (double)ru.ru_stime.tv_sec * 1e3 + (double)ru.ru_stime.tv_usec / 1e3;
}

static int idle_child(int side, void *arg)
{
    (void)arg;
    if (side == 0) { /* A: the writer, mostly asleep */
        shmkit_writer_t *w;
        if (sk_open_w(idle_p.name[0], SHMKIT_WAIT_BLOCK, &w) < 0)
            return 1;
        bench_barrier(2);
        struct timespec d = {(time_t)cfg.idle_seconds,
                             (long)((cfg.idle_seconds - (double)(time_t)cfg.idle_seconds) *
                                    1e9)};
        nanosleep(&d, NULL);
        uint64_t one = 1;
        if (shmkit_writer_send(w, &one, 8, -1) < 0)
            return 1;
        shmkit_writer_close(w);
        return 0;
    }
    shmkit_reader_t *rd;
    if (sk_open_r(idle_p.name[0], idle_wait, 0, &rd) < 0)
        return 1;
    bench_barrier(2);
    double c0 = cpu_ms_self();
    uint64_t t0 = now_ns(), v = 0;
    size_t n;
    int r = shmkit_reader_recv(rd, &v, sizeof v, &n, -1);
    uint64_t t1 = now_ns();
    double c1 = cpu_ms_self();
    if (r < 0 || v != 1) {
        child_fail("idle reader: recv returned %d (%s)", r, shmkit_strerror(r));
        return 1;
    }
    ctl->t_start = t0;
    ctl->t_end = t1;
    ctl->sent = (uint64_t)((c1 - c0) * 1000.0); /* microseconds of CPU */
    shmkit_reader_close(rd);
    return 0;
}

int run_idle(int wait)
{
    const char *mode = wait == SHMKIT_WAIT_BLOCK ? "block" : "adaptive";
    char label[64], why[256];
    snprintf(label, sizeof label, "idle:%s", mode);
    if (!want(label))
        return 0;
    memset(&idle_p, 0, sizeof idle_p);
    idle_p.size = 8;
    idle_p.id = 2000 + wait;
    if (sk_create(&idle_p, SHMKIT_KIND_QUEUE, 0, 1, why, sizeof why) < 0) {
        add_failure(label, why);
        sk_teardown(&idle_p);
        return -1;
    }
    idle_wait = wait;
    ctl_reset(2);
    int rc = run_children(2, 1, idle_child, NULL, 60 + (int)cfg.idle_seconds);
    sk_teardown(&idle_p);
    if (rc < 0) {
        add_failure(label, ctl->why);
        return -1;
    }
    result_t r;
    memset(&r, 0, sizeof r);
    r.type = R_IDLE;
    snprintf(r.group, sizeof r.group, "shmkit");
    snprintf(r.mech, sizeof r.mech, "queue reader");
    snprintf(r.mode, sizeof r.mode, "%s", mode);
    snprintf(r.variant, sizeof r.variant, "-");
    r.size = 8;
    r.seconds = (double)(ctl->t_end - ctl->t_start) / 1e9;
    r.cpu_ms = (double)ctl->sent / 1000.0;
    r.cpu_pct = r.seconds > 0 ? r.cpu_ms / (r.seconds * 1e3) * 100.0 : 0;
    snprintf(r.note, sizeof r.note, "getrusage of the reader, from its recv call to "
                                    "the message");
    add_result(&r);
    return 0;
}

/* ---- a paced stream: latency against the reader's CPU ---------------------- */

/*
 * The writer sends a 64-byte message every `gap` microseconds (it spins
 * until each one is due, so the pace is exact), stamped with
 * CLOCK_MONOTONIC; the reader, in the point's wait mode, takes each one
 * and records how long after the stamp it had it.  Its CPU time over the
 * stream (getrusage) against the stream's wall time is what that latency
 * cost.  After a stall of the writer's own, the pace starts again from
 * then, not with a burst.  "adaptive, fixed" is adaptive waiting with spin_max_us = spin_us
 * (a window that never grows): what adaptive was before it learnt.
 */
static point_t paced_p;
static int paced_wait, paced_fixed;
static uint64_t paced_gap_ns;
static long paced_n;

static int paced_child(int side, void *arg)
{
    (void)arg;
    uint64_t m[8] = {0};
    size_t n;
    if (side == 0) {
        shmkit_writer_t *w;
        if (sk_open_w(paced_p.name[0], SHMKIT_WAIT_SPIN, &w) < 0)
            return 1;
        bench_barrier(2);
        uint64_t due = now_ns();
        for (long i = 0; i <= paced_n; i++) {
            due += paced_gap_ns;
            uint64_t t;
            while ((t = now_ns()) < due)
                cpu_pause();
            if (t - due > paced_gap_ns)
                due = t; /* after a stall of ours: no burst to catch up */
            m[0] = t;
            m[1] = i == paced_n ? SEQ_END : (uint64_t)i;
            int r = shmkit_writer_send(w, m, sizeof m, -1);
            if (r < 0) {
                child_fail("paced writer: send: %s", shmkit_last_error());
                return 1;
            }
        }
        shmkit_writer_close(w);
        return 0;
    }
    shmkit_endpoint_opts_t eo;
    shmkit_endpoint_opts_init(&eo);
    eo.wait = (shmkit_wait_t)paced_wait;
    eo.open_timeout_ms = 5000;
    if (paced_fixed)
        eo.spin_max_us = eo.spin_us;
    shmkit_reader_t *rd;
    if (shmkit_reader_open(paced_p.name[0], &eo, &rd) < 0) {
        child_fail("shmkit_reader_open: %s", shmkit_last_error());
        return 1;
    }
    bench_barrier(2);
    double c0 = cpu_ms_self();
    uint64_t t0 = now_ns();
    long k = 0;
    for (;;) {
        int r = shmkit_reader_recv(rd, m, sizeof m, &n, -1);
        uint64_t t = now_ns();
        if (r < 0 || n != sizeof m) {
            child_fail("paced reader: recv returned %d (%s)", r, shmkit_strerror(r));
            return 1;
        }
        if (m[1] == SEQ_END)
            break;
        if (m[1] != (uint64_t)k || k >= paced_n) {
            child_fail("paced reader: message %llu where %ld was due",
                       (unsigned long long)m[1], k);
            return 1;
        }
        ctl->lat[k++] = t > m[0] ? t - m[0] : 0;
    }
    uint64_t t1 = now_ns();
    double c1 = cpu_ms_self();
    ctl->t_start = t0;
    ctl->t_end = t1;
    ctl->received = (uint64_t)k;
    ctl->sent = (uint64_t)((c1 - c0) * 1000.0); /* microseconds of CPU */
    shmkit_reader_close(rd);
    return 0;
}

int run_paced(int wait, int fixed, unsigned gap_us, long max_samples)
{
    const char *mode = wait == SHMKIT_WAIT_SPIN ? "spin"
                       : wait == SHMKIT_WAIT_BLOCK ? "block" : "adaptive";
    char label[96], why[256];
    snprintf(label, sizeof label, "paced:queue%s:%s:%uus", fixed ? " fixed" : "",
             mode, gap_us);
    if (!want(label))
        return 0;
    memset(&paced_p, 0, sizeof paced_p);
    paced_p.size = 64;
    paced_p.id = 3000 + (int)gap_us * 8 + wait * 2 + fixed;
    if (sk_create(&paced_p, SHMKIT_KIND_QUEUE, 0, 1, why, sizeof why) < 0) {
        add_failure(label, why);
        sk_teardown(&paced_p);
        return -1;
    }
    paced_wait = wait;
    paced_fixed = fixed;
    paced_gap_ns = (uint64_t)gap_us * 1000;
    paced_n = (long)(cfg.seconds * 1e6 / gap_us);
    if (paced_n < 100)
        paced_n = 100;
    if (paced_n > max_samples) /* what ctl->lat holds */
        paced_n = max_samples;
    ctl_reset(2);
    int rc = run_children(2, 1, paced_child, NULL,
                          60 + (int)((double)paced_n * gap_us / 1e6));
    sk_teardown(&paced_p);
    if (rc < 0) {
        add_failure(label, ctl->why);
        return -1;
    }
    result_t r;
    memset(&r, 0, sizeof r);
    r.type = R_PACED;
    snprintf(r.group, sizeof r.group, "shmkit");
    snprintf(r.mech, sizeof r.mech, "queue%s", fixed ? ", window fixed" : "");
    snprintf(r.mode, sizeof r.mode, "%s", mode);
    snprintf(r.variant, sizeof r.variant, "copy");
    r.size = 64;
    r.gap_us = gap_us;
    bench_stats_ns(ctl->lat, (long)ctl->received, &r.lat);
    r.seconds = (double)(ctl->t_end - ctl->t_start) / 1e9;
    r.cpu_ms = (double)ctl->sent / 1000.0;
    r.cpu_pct = r.seconds > 0 ? r.cpu_ms / (r.seconds * 1e3) * 100.0 : 0;
    add_result(&r);
    return 0;
}
