/*
 * bench.h - private: what the files of shmkit-bench share.
 *
 * The harness (shmkit_bench.c) runs every measurement in two (or more)
 * forked child processes pinned to two different CPUs; the parent only
 * coordinates and collects results through a MAP_SHARED control block, so
 * no peer library (iceoryx's runtime, a ZeroMQ context) ever lives in a
 * process that forks again.
 *
 * A mechanism (pipe, shmkit queue, iceoryx, ...) is a mech_t: setup in the
 * parent, open/send/recv/close in each child, teardown in the parent.  The
 * same four calls serve the round trip (two directions: A->B "ping" and
 * B->A "pong") and one-way throughput (A writes, B reads).
 */
#ifndef SHMKIT_BENCH_H
#define SHMKIT_BENCH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- payload modes ------------------------------------------------------- */

enum {
    PAY_COPY = 0,    /* payload in a private buffer, copied in and out       */
    PAY_ZC = 1,      /* written once in place, read once in place           */
    PAY_HANDOFF = 2  /* only the 8-byte sequence number is written and read  */
};

extern volatile uint64_t bench_sink; /* defeats dead-code elimination */

/* Zero-copy writer side: produce the payload in place. */
static inline void pay_fill(void *dst, size_t len, int pay, uint64_t seq)
{
    if (pay == PAY_ZC && len > 8)
        memset((unsigned char *)dst + 8, (int)(seq & 0xff), len - 8);
    memcpy(dst, &seq, 8);
}

uint64_t bench_sum64(const void *p, size_t len);

/* Zero-copy reader side: read the payload in place once; returns the seq. */
static inline uint64_t pay_touch(const void *src, size_t len, int pay)
{
    uint64_t s;
    memcpy(&s, src, 8);
    if (pay == PAY_ZC && len > 8)
        bench_sink += bench_sum64((const unsigned char *)src + 8, len - 8);
    return s;
}

static inline uint64_t load64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

#define SEQ_END UINT64_MAX /* the throughput stream's terminator */

/* ---- configuration -------------------------------------------------------- */

typedef struct bench_cfg {
    int cpu[2];          /* A (pinger / writer), B (ponger / reader)         */
    int ncpu;            /* CPUs this process may run on                     */
    int cpus[64];        /* their numbers                                    */
    long rounds;         /* timed round trips per point                      */
    long big_rounds;     /* ... per 1 MiB point (--big-rounds)               */
    long warmup;         /* untimed round trips first                        */
    double seconds;      /* throughput duration per point                    */
    double idle_seconds; /* idle-reader CPU measurement                      */
    int quick;
    int repeat;          /* repetitions per latency point (median taken)     */
    const char *only;    /* run only points whose label contains this        */
    int verbose;
} bench_cfg_t;

extern bench_cfg_t cfg;

/* ---- the shared control block --------------------------------------------- */

#define MAX_READERS_FANOUT 16

struct reader_res {
    uint64_t msgs;
    uint64_t lost;
    uint64_t t_end;
};

struct ctrl {
    _Alignas(64) _Atomic int ready;
    _Atomic int go;
    _Alignas(64) _Atomic int stop;
    _Alignas(64) _Atomic uint64_t t_start; /* ns, CLOCK_MONOTONIC           */
    _Atomic uint64_t t_end;
    _Atomic uint64_t sent;
    _Atomic uint64_t w_end;               /* writer's end time              */
    _Atomic uint64_t received;
    _Atomic uint64_t lost;
    struct reader_res rd[MAX_READERS_FANOUT];
    int nparties;
    _Alignas(64) _Atomic uint64_t pair_step; /* pair_tput_child(): streams B
                                             has finished                  */
    _Atomic uint64_t pair_t0;             /* ... and A's start of the next  */
    _Alignas(64) _Atomic uint64_t line;   /* line_floor_in_point()'s line   */
    _Alignas(64) double line_ns;          /* ... and its p50, ns            */
    double line_p999_ns;                  /* ... and its p99.9, ns          */
    char why[512];                        /* a child's failure              */
    uint64_t lat[];                       /* round-trip samples (ticks)     */
};

extern struct ctrl *ctl;

/* ---- mechanisms ------------------------------------------------------------ */

typedef struct point point_t;

/* MECH_EXIT: the children end with exit(), not _exit(), so the peer's
 * static destructors run (iceoryx unregisters from RouDi in one). */
/* MECH_HOLD0: a shmkit reader opened with hold_ns = 0 (never holds). */
enum { MECH_ZC = 1, MECH_LOSSY = 2, MECH_WAIT = 4, MECH_EXIT = 8, MECH_HOLD0 = 16 };

extern int child_exit_clean; /* run_children: exit() instead of _exit() */

typedef struct mech {
    const char *group;   /* "floor", "kernel", "shmkit", "peer"               */
    const char *name;
    int flags;
    int arg;             /* mechanism-specific                                */
    size_t max_size;     /* 0: any                                            */
    /* Parent.  0 ok, 1 skip (why says so), < 0 error (why says so). */
    int (*setup)(point_t *p, char *why, size_t n);
    /* Child.  side 0 = A, 1 = B.  0 or < 0 (why in ctl->why). */
    int (*open)(point_t *p, int side, void **ep);
    /* 0, or < 0 (fatal). */
    int (*send)(void *ep, const void *buf, size_t len, int pay, uint64_t seq);
    /* 0 with *seq set, 1 at the end of the stream, < 0 fatal. */
    int (*recv)(void *ep, void *buf, size_t len, int pay, uint64_t *seq);
    void (*close)(void *ep, int side);
    void (*teardown)(point_t *p);
} mech_t;

struct point {
    const mech_t *m;
    size_t size;
    int pay;       /* PAY_* */
    int wait;      /* shmkit_wait_t (shmkit mechanisms) */
    int tput;      /* 1: one-way throughput, 0: round trip */
    int id;        /* unique per point (names) */
    char name[2][96]; /* resources (shm names, paths) */
    intptr_t h[4];    /* parent-side handles (fds) */
};

/* helpers (shmkit_bench.c) */
uint64_t now_ns(void);
/* Fine-grained timestamps for round trips: the TSC where it is invariant
 * (constant_tsc and nonstop_tsc), else CLOCK_MONOTONIC. */
extern int bench_use_tsc;
extern double bench_ns_per_tick;
static inline uint64_t bench_ticks(void)
{
#if defined(__x86_64__) || defined(__i386__)
    if (bench_use_tsc) {
        __builtin_ia32_lfence();
        return __builtin_ia32_rdtsc();
    }
#endif
    return now_ns();
}
static inline void cpu_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}
/* All nparties children arrive, then all go. */
void bench_barrier(int nparties);
/* Runs fn(i, arg) in n children (i = 0..n-1); child i is pinned by fn or,
 * when pin is set, to cfg.cpu[i ? 1 : 0].  Returns 0 when all exit 0, else
 * -1 with the reason in ctl->why.  Kills everything after timeout_s. */
int run_children(int n, int pin, int (*fn)(int i, void *arg), void *arg,
                 int timeout_s);
void ctl_reset(int nparties);
void pin_cpu(int cpu);
void child_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Names removed on exit or a signal: a shm name ("skb-..."), or a file
 * when it starts with '/'.  unregister removes it now. */
void register_shm_name(const char *name);
void unregister_shm_name(const char *name);
void register_cleanup(void (*fn)(void));

/* ---- results ----------------------------------------------------------------- */

enum { R_RTT, R_TPUT, R_BW, R_FANOUT, R_SLOW, R_IDLE, R_STALL, R_BURST, R_PACED };

typedef struct lat_stats {
    double p50, p90, p99, p999, max, mean;
    long n;
} lat_stats_t;

typedef struct result {
    int type;
    char group[16];
    char mech[48];
    char mode[16];     /* spin / adaptive / block / -                       */
    char variant[16];  /* copy / zero-copy / hand-off / -                   */
    size_t size;
    lat_stats_t lat;
    lat_stats_t pair;          /* round trip: the partner's, in the same two
                                  processes, interleaved with it (a peer's:
                                  shmkit's queue, spin, same payload; the
                                  queue's block: the futex floor); n 0:
                                  none */
    double pair_msgs_s;        /* throughput: the partner's rate, side by
                                  side (pair_tput_child), and the median
                                  of the per-run ratios partner / point  */
    double pair_x;
    char pair_mech[48];        /* the partner's name and wait mode         */
    char pair_mode[16];
    double line_p50;           /* cache-line floor measured next to it     */
    double line_p999;          /* ... its p99.9 (round trips, in the
                                  point's processes: line_floor_in_point) */
    double futex_p50;          /* block: futex floor measured next to it   */
    double ref_adj;            /* throughput: msgs_s / ref_adj = x ref, the
                                  median of the ratios to the reference
                                  ring run right before each run        */
    double msgs_s, gb_s;       /* throughput (reader side)                  */
    double w_msgs_s;           /* writer's rate                             */
    uint64_t lost;
    int readers, oversub;
    double rd_min, rd_max, rd_avg; /* per-reader rates (fan-out)           */
    double rd_rates[MAX_READERS_FANOUT];
    uint64_t rd_lost[MAX_READERS_FANOUT];
    double cpu_ms, cpu_pct, seconds;
    unsigned gap_us;           /* paced: a message every gap_us             */
    char note[128];
} result_t;

void add_result(const result_t *r);
void add_skip(const char *what, const char *why);
void add_failure(const char *what, const char *why); /* counts toward exit 1 */
void bench_stats(uint64_t *v, long n, lat_stats_t *out); /* sorts v (ticks) */
void bench_stats_ns(uint64_t *v, long n, lat_stats_t *out); /* ... (ns)       */
int want(const char *label);
void section(const char *title);

/* the generic harness */
int run_rtt(const mech_t *m, size_t size, int pay, int wait, const char *mode);
/* a peer's round trips, side by side with shmkit's queue (result_t.pair) */
int run_peer_rtt(const mech_t *m, size_t size, int pay, const char *mode);
/* a peer's one-way streams, alternating with shmkit's queue's */
int run_peer_tput(const mech_t *m, size_t size, int pay, const char *mode);
/* a point's round trips, side by side with partner pm's */
int run_rtt_beside(const mech_t *m, size_t size, int pay, int wait, const char *mode,
                   const mech_t *pm, int pwait, const char *pmode);
int run_tput(const mech_t *m, size_t size, int pay, int wait, const char *mode);
int run_burst(const mech_t *m, size_t size, int wait, const char *mode);

/* floors.c */
int run_floors(void);
extern const mech_t mech_futex; /* the futex floor as a mechanism */
double floor_line_p50(void);
double line_floor_now(void); /* a short cache-line floor, p50 ns */
/* the same in a running point's two processes (ctl->line_ns, side A) */
void line_floor_in_point(int side);
double floor_line_p999(void);
double ref_ring_rate(size_t slot, int handoff);
double ref_ring_now(size_t slot, int handoff); /* short, not a result   */
double futex_floor_now(void);                  /* short, p50 ns          */

/* mech_kernel.c */
extern const mech_t mech_pipe, mech_unix, mech_mq;
void mq_restore_limits(void);

/* mech_shmkit.c */
extern const mech_t mech_sk_queue_hold0;
extern const mech_t mech_sk_queue, mech_sk_queue_batched, mech_sk_bus_lossy, mech_sk_bus_reliable,
    mech_sk_latest;
int run_fanout(int reliable, int nreaders);
int run_slow_reader(int reliable);
int run_idle(int wait);
/* a 64 B message every gap_us: latency and the reader's CPU; fixed: an
 * adaptive window that never grows (spin_max_us = spin_us) */
int run_paced(int wait, int fixed, unsigned gap_us, long max_samples);

/* peers */
#ifdef HAVE_ICEORYX
extern const mech_t mech_iceoryx;
void iceoryx_stop_roudi(void);
#endif
#ifdef HAVE_ZMQ
extern const mech_t mech_zmq;
#endif
#ifdef HAVE_BOOST
extern const mech_t mech_boost;
#endif

#endif
