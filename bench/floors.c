/*
 * floors.c - what the machine itself can do: the numbers nothing built on
 * shared memory can beat, measured in the same run so every other number
 * can be read as a ratio.
 *
 * Layouts (each in a fresh MAP_SHARED|MAP_ANONYMOUS mapping, 64-byte
 * aligned, pre-touched):
 *  - cache line: ONE 64-byte line holding one 64-bit word.  A stores 2i+1
 *    (release), B waits for it (acquire) and stores 2i+2, A waits for that.
 *    The line moves twice per round trip; nothing else is touched.
 *  - line per direction: the flags of the layouts below without their
 *    payloads, a line each way.  What any round trip over two channels
 *    pays at least: the one-line floor hands its line over with each
 *    reply, while here each side must also take back the line the other
 *    side polls before it can store to it (1.4-2x the one-line floor on
 *    the AMD guests of December 2026).
 *  - Every spin loop has a pause instruction: with a payload, polling
 *    without one steals the line back from the writer between its payload
 *    and flag stores (on the AMD guests we use the payload floors take
 *    ~1.6x the line floor without pause, ~1.1-1.2x with it; one extra row,
 *    "no pause", shows it).  For the bare line it makes no difference.
 *  - flag + payload, 2 lines: per direction a flag line and, in the next
 *    line, the 64-byte payload.  The sender copies its payload in, stores
 *    the flag (release); the receiver waits for the flag (acquire) and
 *    copies the payload out.  Two lines move per direction.
 *  - flag + payload inline: the 8-byte flag at offset 0, the payload at
 *    offsets 8..71, as a ring record does (header, then payload): the flag
 *    shares its line with the first 56 payload bytes.
 *  - futex wait/wake: a 32-bit word per direction on its own line; the
 *    sender stores, then always calls FUTEX_WAKE; the receiver calls
 *    FUTEX_WAIT while the word is not what it expects.  The blocking floor.
 *  - futex spin, then block: the receiver polls up to 2000 pause
 *    instructions, then announces itself and sleeps; the sender wakes only
 *    when somebody announced (a seq_cst fence on each side: Dekker).
 *  - memcpy: one process copies a buffer of 64 KiB, 1 MiB, 64 MiB.
 *  - SPSC ring: fixed slots (64 B or 64 KiB), 1 MiB in all, batched on
 *    both sides: the producer copies messages in and release-stores its
 *    tail once per 64 messages (64 KiB slots: once per 4), and whenever it
 *    finds the ring full; the consumer reads the tail, copies every message
 *    up to it out and release-stores its head once per batch.  The
 *    reference for one-way throughput, at its best: publishing the tail per
 *    message made it 2-4x slower on our VMs (the consumer keeps up and the
 *    tail's line moves twice per message).  At 64 KiB also as a hand-off:
 *    only the sequence number in each slot is written and read.
 */
#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"

static void *shared_map(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    memset(p, 0, len);
    return p;
}

static long fl_warm, fl_n; /* this floor's warm-up and timed round trips */

static long total_rounds(void) { return fl_warm + fl_n; }

static void record(long i, uint64_t t0, uint64_t t1)
{
    if (i >= fl_warm)
        ctl->lat[i - fl_warm] = t1 - t0;
}

static int finish_rtt(const char *mech, const char *mode, const char *variant,
                      size_t size, const char *note)
{
    long n = fl_n;
    result_t r;
    memset(&r, 0, sizeof r);
    r.type = R_RTT;
    snprintf(r.group, sizeof r.group, "floor");
    snprintf(r.mech, sizeof r.mech, "%s", mech);
    snprintf(r.mode, sizeof r.mode, "%s", mode);
    snprintf(r.variant, sizeof r.variant, "%s", variant);
    snprintf(r.note, sizeof r.note, "%s", note ? note : "");
    r.size = size;
    /* reuse the harness's statistics */
    uint64_t *v = ctl->lat;
    bench_stats(v, n, &r.lat);
    add_result(&r);
    return 0;
}

/* ---- one cache line ------------------------------------------------------- */

struct line1 {
    _Alignas(64) _Atomic uint64_t w;
    unsigned char pad[56];
};

static struct line1 *L1;
static int fp_pause; /* a pause instruction in the spin loops */

/* One side of the one-line ping-pong on w, n round trips: A stores 2i+1
 * and waits for 2i+2, B waits for 2i+1 and stores 2i+2.  Side A times
 * round trip i into lat[i - skip] from i = skip on (lat may be NULL). */
static void line_rounds(_Atomic uint64_t *w, int side, long n, int pause, uint64_t *lat,
                        long skip)
{
    for (long i = 0; i < n; i++) {
        uint64_t odd = 2 * (uint64_t)i + 1;
        if (side == 0) {
            uint64_t t0 = bench_ticks();
            atomic_store_explicit(w, odd, memory_order_release);
            while (atomic_load_explicit(w, memory_order_acquire) != odd + 1)
                if (pause)
                    cpu_pause();
            uint64_t t1 = bench_ticks();
            if (lat && i >= skip)
                lat[i - skip] = t1 - t0;
        } else {
            while (atomic_load_explicit(w, memory_order_acquire) != odd)
                if (pause)
                    cpu_pause();
            atomic_store_explicit(w, odd + 1, memory_order_release);
        }
    }
}

static int line_child(int side, void *arg)
{
    (void)arg;
    bench_barrier(2);
    line_rounds(&L1->w, side, total_rounds(), fp_pause, ctl->lat, fl_warm);
    return 0;
}

/* The line floor inside a point's own two processes, right before its
 * round trips (1000 + 20000 round trips on ctl->line, which ctl_reset()
 * zeroed): the floor in fresh processes of its own, as line_floor_now()
 * measures it, may run on another placement of the vCPUs than the point
 * (on the Zen 4 guest the placement often changes at each process start).
 * Side A leaves the p50 and p99.9 (ns) in ctl->line_ns and line_p999_ns;
 * 0 when out of memory. */
void line_floor_in_point(int side)
{
    enum { WARM = 1000, N = 20000 };
    uint64_t *lat = side == 0 ? malloc(N * sizeof *lat) : NULL;
    line_rounds(&ctl->line, side, WARM + N, 1, lat, WARM);
    if (side == 0 && lat) {
        lat_stats_t st;
        bench_stats(lat, N, &st);
        ctl->line_ns = st.p50;
        ctl->line_p999_ns = st.p999;
    }
    free(lat);
}

/* ---- flag + payload ----------------------------------------------------------- */

struct fp_slot {
    _Alignas(64) unsigned char bytes[128];
};
static struct fp_slot *FP; /* [0] ping, [1] pong */
static size_t fp_off;      /* payload offset: 64 (own line) or 8 (inline) */
static size_t fp_len = 64; /* payload bytes: 64, or 0 (the flags alone) */


static inline _Atomic uint64_t *fp_flag(int d)
{
    return (_Atomic uint64_t *)(void *)FP[d].bytes;
}

static int fp_child(int side, void *arg)
{
    (void)arg;
    unsigned char buf[64];
    memset(buf, 0x5a, sizeof buf);
    long n = total_rounds();
    bench_barrier(2);
    if (side == 0) {
        for (long i = 0; i < n; i++) {
            uint64_t t0 = bench_ticks();
            memcpy(buf, &i, 8);
            memcpy(FP[0].bytes + fp_off, buf, fp_len);
            atomic_store_explicit(fp_flag(0), (uint64_t)i + 1, memory_order_release);
            while (atomic_load_explicit(fp_flag(1), memory_order_acquire) != (uint64_t)i + 1)
                if (fp_pause)
                    cpu_pause();
            memcpy(buf, FP[1].bytes + fp_off, fp_len);
            uint64_t t1 = bench_ticks();
            if (fp_len && load64(buf) != (uint64_t)i) {
                child_fail("flag+payload: round trip %ld came back as %llu", i,
                           (unsigned long long)load64(buf));
                return 1;
            }
            record(i, t0, t1);
        }
    } else {
        for (long i = 0; i < n; i++) {
            while (atomic_load_explicit(fp_flag(0), memory_order_acquire) != (uint64_t)i + 1)
                if (fp_pause)
                    cpu_pause();
            memcpy(buf, FP[0].bytes + fp_off, fp_len);
            memcpy(FP[1].bytes + fp_off, buf, fp_len);
            atomic_store_explicit(fp_flag(1), (uint64_t)i + 1, memory_order_release);
        }
    }
    return 0;
}

/* ---- futex ------------------------------------------------------------------ */

struct fx_dir {
    _Alignas(64) _Atomic uint32_t val;
    _Atomic uint32_t waiting;
};
static struct fx_dir *FX; /* [0] ping, [1] pong */
static int fx_spin;        /* fx_child's: pauses before blocking */

/* spin: pauses before blocking; 0 = block right away */
static void fx_wait(struct fx_dir *d, uint32_t want, int spin)
{
    for (int k = 0; k < spin; k++) {
        if (atomic_load_explicit(&d->val, memory_order_acquire) == want)
            return;
        cpu_pause();
    }
    for (;;) {
        uint32_t v = atomic_load_explicit(&d->val, memory_order_acquire);
        if (v == want)
            return;
        if (spin) {
            atomic_store_explicit(&d->waiting, 1, memory_order_relaxed);
            /* Dekker with the waker: announce, then re-check */
            atomic_thread_fence(memory_order_seq_cst);
            v = atomic_load_explicit(&d->val, memory_order_acquire);
            if (v == want) {
                atomic_store_explicit(&d->waiting, 0, memory_order_relaxed);
                return;
            }
        }
        syscall(SYS_futex, &d->val, FUTEX_WAIT, v, NULL, NULL, 0);
        if (spin)
            atomic_store_explicit(&d->waiting, 0, memory_order_relaxed);
    }
}

static void fx_post(struct fx_dir *d, uint32_t v, int spin)
{
    atomic_store_explicit(&d->val, v, memory_order_release);
    if (spin) {
        /* Dekker with the waiter: publish, then look for a sleeper */
        atomic_thread_fence(memory_order_seq_cst);
        if (!atomic_load_explicit(&d->waiting, memory_order_relaxed))
            return;
    }
    syscall(SYS_futex, &d->val, FUTEX_WAKE, 1, NULL, NULL, 0);
}

static int fx_child(int side, void *arg)
{
    (void)arg;
    long n = total_rounds();
    bench_barrier(2);
    if (side == 0) {
        for (long i = 0; i < n; i++) {
            uint64_t t0 = bench_ticks();
            fx_post(&FX[0], (uint32_t)i + 1, fx_spin);
            fx_wait(&FX[1], (uint32_t)i + 1, fx_spin);
            record(i, t0, bench_ticks());
        }
    } else {
        for (long i = 0; i < n; i++) {
            fx_wait(&FX[0], (uint32_t)i + 1, fx_spin);
            fx_post(&FX[1], (uint32_t)i + 1, fx_spin);
        }
    }
    return 0;
}

/* ---- memcpy bandwidth -------------------------------------------------------- */

static size_t bw_size;

static int bw_child(int side, void *arg)
{
    (void)side;
    (void)arg;
    unsigned char *src = aligned_alloc(4096, bw_size), *dst = aligned_alloc(4096, bw_size);
    if (!src || !dst) {
        child_fail("memcpy: out of memory");
        return 1;
    }
    memset(src, 1, bw_size);
    memset(dst, 2, bw_size);
    double secs = cfg.quick ? 0.05 : 0.3;
    for (int k = 0; k < 3; k++) /* warm */
        memcpy(dst, src, bw_size);
    uint64_t t0 = now_ns(), end = t0 + (uint64_t)(secs * 1e9), bytes = 0;
    do {
        for (int k = 0; k < 8; k++) {
            memcpy(dst, src, bw_size);
            __asm__ __volatile__("" ::"r"(dst) : "memory");
            bytes += bw_size;
        }
    } while (now_ns() < end);
    atomic_store(&ctl->t_start, t0);
    atomic_store(&ctl->t_end, now_ns());
    atomic_store(&ctl->sent, bytes);
    return 0;
}

/* ---- CPU stalls ------------------------------------------------------------------ */

/*
 * How much of each CPU the machine itself takes away: both children spin
 * reading the timer, each on its own CPU, and record every gap of more
 * than 2 us between two reads (an interrupt, the hypervisor running
 * something else on this vCPU).  A round trip that such a gap falls into
 * takes that long, so once round trips x stalls per second exceeds 0.1%,
 * the stalls are the p99.9.  On our KVM guests every vCPU loses ~40 us
 * every millisecond: a 1 KiB round trip (0.9 us) is hit 0.18% of the time.
 */
#define STALL_MIN_NS 2000

static int stall_child(int side, void *arg)
{
    (void)arg;
    long cap = (cfg.rounds + 16) / 2;
    uint64_t *gaps = ctl->lat + (side ? cap : 0);
    uint64_t min_ticks = (uint64_t)(STALL_MIN_NS / bench_ns_per_tick);
    double secs = cfg.seconds < 1.0 ? cfg.seconds : 1.0;
    bench_barrier(2);
    uint64_t t0 = bench_ticks(), prev = t0, lost = 0;
    uint64_t end = t0 + (uint64_t)(secs * 1e9 / bench_ns_per_tick);
    long n = 0;
    for (;;) {
        uint64_t t = bench_ticks();
        if (t - prev > min_ticks) {
            if (n < cap)
                gaps[n] = t - prev;
            n++;
            lost += t - prev;
        }
        prev = t;
        if (t >= end)
            break;
    }
    ctl->rd[side].msgs = (uint64_t)(n < cap ? n : cap);
    ctl->rd[side].lost = lost;
    ctl->rd[side].t_end = prev - t0;
    return 0;
}

static int run_stalls(void)
{
    if (!want("stall:floor:cpu"))
        return 0;
    if (!bench_use_tsc) {
        add_skip("floor: CPU stalls", "needs an invariant TSC (clock_gettime is "
                                      "too coarse for 2 us gaps)");
        return 0;
    }
    ctl_reset(2);
    if (run_children(2, 1, stall_child, NULL, 30) < 0) {
        add_failure("stall:floor:cpu", ctl->why);
        return -1;
    }
    long cap = (cfg.rounds + 16) / 2;
    for (int side = 0; side < 2; side++) {
        result_t r;
        memset(&r, 0, sizeof r);
        r.type = R_STALL;
        snprintf(r.group, sizeof r.group, "floor");
        snprintf(r.mech, sizeof r.mech, "CPU stalls");
        snprintf(r.mode, sizeof r.mode, "cpu %d", cfg.cpu[side]);
        snprintf(r.variant, sizeof r.variant, "-");
        long n = (long)ctl->rd[side].msgs;
        double secs = (double)ctl->rd[side].t_end * bench_ns_per_tick / 1e9;
        r.seconds = secs;
        if (n > 0)
            bench_stats(ctl->lat + (side ? cap : 0), n, &r.lat);
        r.lat.n = n;
        r.msgs_s = secs > 0 ? (double)n / secs : 0;
        r.cpu_pct = secs > 0 ? (double)ctl->rd[side].lost * bench_ns_per_tick /
                                   (secs * 1e9) * 100.0
                             : 0;
        snprintf(r.note, sizeof r.note, "gaps > %d us between two timer reads",
                 STALL_MIN_NS / 1000);
        add_result(&r);
    }
    return 0;
}

/* ---- the reference SPSC ring ---------------------------------------------------- */

#define RING_BYTES (1u << 20)

struct ref_ring {
    _Alignas(64) _Atomic uint64_t head;
    _Alignas(64) _Atomic uint64_t tail;
    _Alignas(64) _Atomic int stop;
    _Alignas(64) unsigned char slot[];
};
static struct ref_ring *RR;
static size_t rr_slot;
static int rr_handoff;
static double rr_seconds;

/* Inlined with a constant slot size, so the copies are the compiler's best
 * (a 64-byte copy is a few vector moves, not a call).  handoff: only the
 * 8-byte sequence number is written and read, the rest of the slot is left
 * as it is (the floor of passing a buffer of that size). */
static inline __attribute__((always_inline)) int ring_run(int side, size_t slot,
                                                          int handoff)
{
    const uint64_t nslots = RING_BYTES / slot;
    unsigned char *msg = aligned_alloc(64, slot);
    if (!msg)
        return 1;
    memset(msg, 1, slot);
    bench_barrier(2);
    if (side == 0) {
        uint64_t tail = 0, head_cache = 0, t0 = now_ns();
        uint64_t end = t0 + (uint64_t)(rr_seconds * 1e9);
        /* messages per tail store; a power of two well below nslots */
        const uint64_t batch = slot >= 4096 ? 4 : 64;
        atomic_store(&ctl->t_start, t0);
        for (;;) {
            for (unsigned k = 0; k < 256; k++) {
                if (tail - head_cache >= nslots) {
                    /* full: publish what is pending, then wait for room */
                    atomic_store_explicit(&RR->tail, tail, memory_order_release);
                    while (tail - head_cache >= nslots)
                        head_cache =
                            atomic_load_explicit(&RR->head, memory_order_acquire);
                }
                memcpy(msg, &tail, 8);
                memcpy(RR->slot + (tail % nslots) * slot, msg, handoff ? 8 : slot);
                tail++;
                if (!(tail & (batch - 1)))
                    atomic_store_explicit(&RR->tail, tail, memory_order_release);
            }
            if (now_ns() >= end)
                break;
        }
        atomic_store_explicit(&RR->tail, tail, memory_order_release);
        atomic_store(&ctl->w_end, now_ns());
        atomic_store(&ctl->sent, tail);
        atomic_store(&RR->stop, 1);
    } else { /* consumer, batched */
        uint64_t head = 0;
        for (;;) {
            uint64_t tail = atomic_load_explicit(&RR->tail, memory_order_acquire);
            if (tail == head) {
                if (atomic_load(&RR->stop) &&
                    atomic_load_explicit(&RR->tail, memory_order_acquire) == head)
                    break;
                continue;
            }
            for (; head < tail; head++) {
                memcpy(msg, RR->slot + (head % nslots) * slot, handoff ? 8 : slot);
                if (load64(msg) != head) {
                    child_fail("ring: slot %llu holds %llu", (unsigned long long)head,
                               (unsigned long long)load64(msg));
                    return 1;
                }
            }
            atomic_store_explicit(&RR->head, head, memory_order_release);
        }
        atomic_store(&ctl->t_end, now_ns());
        atomic_store(&ctl->received, head);
    }
    free(msg);
    return 0;
}

static int ring_child(int side, void *arg)
{
    (void)arg;
    if (rr_slot == 64)
        return ring_run(side, 64, 0);
    return rr_handoff ? ring_run(side, 65536, 1) : ring_run(side, 65536, 0);
}

/* Runs the ring for `seconds`; its reader's rate, or -1 (ctl->why says
 * why).  *w_rate: the writer's. */
static double ring_measure(size_t slot, int handoff, double seconds, double *w_rate)
{
    RR = shared_map(sizeof *RR + RING_BYTES);
    if (!RR) {
        snprintf(ctl->why, sizeof ctl->why, "mmap: %s", strerror(errno));
        return -1;
    }
    rr_slot = slot;
    rr_handoff = handoff;
    rr_seconds = seconds;
    ctl_reset(2);
    int rc = run_children(2, 1, ring_child, NULL, 60 + (int)(seconds * 4));
    munmap(RR, sizeof *RR + RING_BYTES);
    if (rc < 0)
        return -1;
    double dt = (double)(ctl->t_end - ctl->t_start) / 1e9;
    if (w_rate)
        *w_rate = (double)ctl->sent / ((double)(ctl->w_end - ctl->t_start) / 1e9);
    return dt > 0 ? (double)ctl->received / dt : 0;
}

double ref_ring_rate(size_t slot, int handoff)
{
    if (slot != 64 && slot != 65536)
        return 0;
    char label[96];
    snprintf(label, sizeof label, "tput:floor:SPSC ring:spin:%s:%zu",
             handoff ? "hand-off" : "copy", slot);
    if (!want(label))
        return 0;
    double w = 0, rate = ring_measure(slot, handoff, cfg.seconds, &w);
    if (rate < 0) {
        add_failure(label, ctl->why);
        return -1;
    }
    result_t r;
    memset(&r, 0, sizeof r);
    r.type = R_TPUT;
    snprintf(r.group, sizeof r.group, "floor");
    snprintf(r.mech, sizeof r.mech, "SPSC ring");
    snprintf(r.mode, sizeof r.mode, "spin");
    snprintf(r.variant, sizeof r.variant, "%s", handoff ? "hand-off" : "copy");
    r.size = slot;
    r.msgs_s = rate;
    r.gb_s = r.msgs_s * (double)slot / 1e9;
    r.w_msgs_s = w;
    r.seconds = (double)(ctl->t_end - ctl->t_start) / 1e9;
    snprintf(r.note, sizeof r.note, "%u slots of %zu B", (unsigned)(RING_BYTES / slot),
             slot);
    add_result(&r);
    return r.msgs_s;
}

/* The reference ring again, briefly (0.3 s), right before a throughput
 * point of 64 B or 64 KiB, for the same reason as line_floor_now(): a
 * rate is compared with the ring on the same placement of the vCPUs.
 * hand-off: the ring's 64 KiB hand-off.  Returns msgs/s, or 0. */
double ref_ring_now(size_t slot, int handoff)
{
    if (slot != 64 && slot != 65536)
        return 0;
    double secs = cfg.seconds < 0.3 ? cfg.seconds : 0.3;
    double rate = ring_measure(slot, slot == 64 ? 0 : handoff, secs, NULL);
    return rate > 0 ? rate : 0;
}

/* A short floor run (warm + at most n round trips; ctl->lat holds
 * cfg.rounds): its p50 in ns, or 0 when it failed. */
static double short_floor_p50(int (*fn)(int, void *), long warm, long n)
{
    fl_warm = warm;
    fl_n = cfg.rounds < n ? cfg.rounds : n;
    ctl_reset(2);
    if (run_children(2, 1, fn, NULL, 30) < 0)
        return 0;
    lat_stats_t st;
    bench_stats(ctl->lat, fl_n, &st);
    return st.p50;
}

/* The futex floor as a mechanism, to run side by side with a blocking
 * point (run_rtt_beside): the same wait and wake as fx_child, with no
 * payload; each end counts what it received, and the k-th message it
 * receives carries k (the harness's sequence numbers start at 0 for each
 * mechanism and alternate ping and pong). */
struct fx_ep {
    struct fx_dir *in, *out;
    uint64_t received;
};

static int fxm_setup(point_t *p, char *why, size_t n)
{
    void *m = shared_map(4096);
    if (!m) {
        snprintf(why, n, "mmap: %s", strerror(errno));
        return -1;
    }
    p->h[0] = (intptr_t)m; /* the children inherit the mapping */
    return 0;
}

static int fxm_open(point_t *p, int side, void **ep)
{
    struct fx_dir *d = (struct fx_dir *)p->h[0];
    struct fx_ep *e = calloc(1, sizeof *e);
    if (!e)
        return -1;
    e->out = &d[side];
    e->in = &d[!side];
    *ep = e;
    return 0;
}

static int fxm_send(void *ep, const void *buf, size_t len, int pay, uint64_t seq)
{
    (void)buf, (void)len, (void)pay;
    struct fx_ep *e = ep;
    fx_post(e->out, (uint32_t)seq + 1, 0);
    return 0;
}

static int fxm_recv(void *ep, void *buf, size_t len, int pay, uint64_t *seq)
{
    (void)buf, (void)len, (void)pay;
    struct fx_ep *e = ep;
    fx_wait(e->in, (uint32_t)e->received + 1, 0);
    *seq = e->received++;
    return 0;
}

static void fxm_close(void *ep, int side)
{
    (void)side;
    free(ep);
}

static void fxm_teardown(point_t *p)
{
    if (p->h[0])
        munmap((void *)p->h[0], 4096);
    p->h[0] = 0;
}

const mech_t mech_futex = {"floor", "futex wait/wake", 0, 0, 64, fxm_setup, fxm_open,
                           fxm_send, fxm_recv, fxm_close, fxm_teardown};

/* The futex floor again, briefly (200 + 2000 round trips, 40-120 ms),
 * right before a blocking round-trip point.  Returns its p50 in ns, or 0. */
double futex_floor_now(void)
{
    struct fx_dir *f = shared_map(4096);
    if (!f)
        return 0;
    FX = f;
    fx_spin = 0;
    double p50 = short_floor_p50(fx_child, 200, 2000);
    munmap(f, 4096);
    FX = NULL;
    return p50;
}

/*
 * The cache-line floor again, briefly (1000 + 10000 round trips, a few
 * milliseconds), right before a round-trip point: on a VM the hypervisor
 * may move the two vCPUs to other cores during a run (same core: ~150 ns,
 * another CCD: ~450 ns on the machines we use), so a ratio is only honest
 * against a floor measured next to it.  Returns its p50 in ns, or 0.
 */
double line_floor_now(void)
{
    struct line1 *l = shared_map(4096);
    if (!l)
        return 0;
    L1 = l;
    double p50 = short_floor_p50(line_child, 1000, 10000);
    munmap(l, 4096);
    return p50;
}

/* ---- all floors ------------------------------------------------------------------ */

static int rtt_floor(const char *label, int (*fn)(int, void *), const char *mech,
                     const char *mode, const char *variant, size_t size,
                     const char *note)
{
    if (!want(label))
        return 0;
    fl_warm = cfg.warmup;
    fl_n = cfg.rounds;
    ctl_reset(2);
    if (run_children(2, 1, fn, NULL, 60 + (int)(total_rounds() / 1000)) < 0) {
        add_failure(label, ctl->why);
        return -1;
    }
    return finish_rtt(mech, mode, variant, size, note);
}

int run_floors(void)
{
    int bad = 0;
    section("floors");

    L1 = shared_map(4096);
    FP = shared_map(4096);
    FX = shared_map(4096);
    if (!L1 || !FP || !FX) {
        add_failure("floors", strerror(errno));
        return -1;
    }
    fp_pause = 1;
    bad |= rtt_floor("rtt:floor:cache line:spin:-:64", line_child, "cache line",
                     "spin", "-", 64, "(one line, no payload)");
    memset(FP, 0, 4096);
    fp_len = 0;
    bad |= rtt_floor("rtt:floor:line per direction:spin:-:64", fp_child,
                     "line per direction", "spin", "-", 64,
                     "(a flag line each way, no payload)");
    fp_len = 64;
    memset(FP, 0, 4096);
    fp_off = 64;
    bad |= rtt_floor("rtt:floor:flag line + payload line:spin:copy:64", fp_child,
                     "flag line + payload line", "spin", "copy", 64, NULL);
    memset(FP, 0, 4096);
    fp_off = 8;
    bad |= rtt_floor("rtt:floor:flag + payload inline:spin:copy:64", fp_child,
                     "flag + payload inline", "spin", "copy", 64, NULL);
    if (!cfg.quick) {
        memset(FP, 0, 4096);
        fp_pause = 0;
        bad |= rtt_floor("rtt:floor:flag + payload inline, no pause:spin:copy:64", fp_child,
                         "flag + payload inline, no pause", "spin", "copy", 64,
                         "(spin loops without pause)");
        fp_pause = 1;
    }
    fx_spin = 0;
    bad |= rtt_floor("rtt:floor:futex wait/wake:block:-:64", fx_child, "futex wait/wake",
                     "block", "-", 64, "(no payload)");
    memset(FX, 0, 4096);
    fx_spin = 2000;
    bad |= rtt_floor("rtt:floor:futex spin, then block:adaptive:-:64", fx_child,
                     "futex spin, then block", "adaptive", "-", 64,
                     "(2000 pauses, then futex)");
    munmap(L1, 4096);
    munmap(FP, 4096);
    munmap(FX, 4096);

    static const size_t bw[] = {64 << 10, 1 << 20, 64 << 20};
    for (int i = 0; i < 3; i++) {
        if (cfg.quick && bw[i] > (1u << 20))
            continue;
        char label[64];
        snprintf(label, sizeof label, "bw:floor:memcpy:%zu", bw[i]);
        if (!want(label))
            continue;
        bw_size = bw[i];
        ctl_reset(1);
        if (run_children(1, 1, bw_child, NULL, 60) < 0) {
            add_failure(label, ctl->why);
            bad = 1;
            continue;
        }
        result_t r;
        memset(&r, 0, sizeof r);
        r.type = R_BW;
        snprintf(r.group, sizeof r.group, "floor");
        snprintf(r.mech, sizeof r.mech, "memcpy");
        snprintf(r.mode, sizeof r.mode, "-");
        snprintf(r.variant, sizeof r.variant, "-");
        r.size = bw[i];
        r.gb_s = (double)ctl->sent / (double)(ctl->t_end - ctl->t_start);
        add_result(&r);
    }
    if (run_stalls() < 0)
        bad = 1;
    if (ref_ring_rate(64, 0) < 0)
        bad = 1;
    if (!cfg.quick && ref_ring_rate(65536, 0) < 0)
        bad = 1;
    if (!cfg.quick && ref_ring_rate(65536, 1) < 0)
        bad = 1;
    return bad ? -1 : 0;
}
