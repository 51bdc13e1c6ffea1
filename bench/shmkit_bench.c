/*
 * shmkit_bench.c - the benchmark suite: shmkit next to the machine's
 * physical floors, the kernel's IPC, and the peers users would pick instead,
 * in one run, as ratios.
 *
 *   shmkit-bench [--quick] [--json FILE] [--svg FILE] [--rounds N]
 *                [--seconds S] [--cpus A,B] [--only PAT[,PAT...]] ...
 *
 * Method (docs/BENCHMARKS.md has the long form):
 *  - Every measurement runs in forked children pinned to two different CPUs
 *    (A: pinger / writer, B: ponger / reader); the parent only coordinates.
 *  - Round trips: a warm-up, then N timed round trips, each timed on A with
 *    the TSC (when invariant); p50 / p90 / p99 / p99.9 / max and mean.
 *  - One-way throughput: A sends as fast as it can for S seconds, then a
 *    terminator; rate = messages B received / (B's last receipt - A's
 *    start).  B checks every sequence number, so a lost or reordered
 *    message is a failure (except on lossy channels, where it is counted).
 *  - Exit status: 0, or 1 on a functional failure (a child failed, a
 *    message was wrong, a segment was left behind).  Never on a slow number.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "shmkit.h"

bench_cfg_t cfg;
struct ctrl *ctl;
static size_t ctl_size;
volatile uint64_t bench_sink;
int bench_use_tsc;
double bench_ns_per_tick = 1.0;
static int failures;
int child_exit_clean;

/* ---- small helpers -------------------------------------------------------- */

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The zero-copy reader's pass over the payload.  Built for the best vector
 * unit this CPU has, picked at run time as glibc picks its memcpy: the
 * copying points read with that memcpy, so a pass limited to SSE2 would
 * handicap zero-copy, not measure it. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&      \
    !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
uint64_t bench_sum64(const void *p, size_t len)
{
    typedef uint64_t v8u64 __attribute__((vector_size(64)));
    const unsigned char *b = p;
    v8u64 acc0 = {0}, acc1 = {0};
    size_t i = 0;
    for (; i + 128 <= len; i += 128) {
        v8u64 x, y;
        memcpy(&x, b + i, 64);
        memcpy(&y, b + i + 64, 64);
        acc0 += x;
        acc1 += y;
    }
    acc0 += acc1;
    uint64_t s = 0;
    for (int k = 0; k < 8; k++)
        s += acc0[k];
    for (; i + 8 <= len; i += 8) {
        uint64_t v;
        memcpy(&v, b + i, 8);
        s += v;
    }
    for (; i < len; i++)
        s += b[i];
    return s;
}

void pin_cpu(int cpu)
{
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    sched_setaffinity(0, sizeof s, &s);
}

void child_fail(const char *fmt, ...)
{
    va_list ap;
    if (!ctl || ctl->why[0])
        return;
    va_start(ap, fmt);
    vsnprintf(ctl->why, sizeof ctl->why, fmt, ap);
    va_end(ap);
}

static void calibrate_timer(void)
{
#if defined(__x86_64__) || defined(__i386__)
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[4096];
    int c = 0, n = 0;
    if (f) {
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "flags", 5)) {
                c = strstr(line, " constant_tsc") != NULL;
                n = strstr(line, " nonstop_tsc") != NULL;
                break;
            }
        fclose(f);
    }
    if (c && n) {
        struct timespec d = {0, 50000000};
        uint64_t t0 = now_ns(), k0 = __builtin_ia32_rdtsc();
        nanosleep(&d, NULL);
        uint64_t t1 = now_ns(), k1 = __builtin_ia32_rdtsc();
        if (k1 > k0 && t1 > t0) {
            bench_ns_per_tick = (double)(t1 - t0) / (double)(k1 - k0);
            bench_use_tsc = 1;
        }
    }
#endif
}

/* ---- cleanup: segments, helpers, limits ------------------------------------ */

#define MAX_NAMES 64
static char shm_names[MAX_NAMES][128];
static void (*cleanups[8])(void);
static int ncleanups;
static pid_t main_pid;

void register_shm_name(const char *name)
{
    for (int i = 0; i < MAX_NAMES; i++)
        if (!shm_names[i][0]) {
            snprintf(shm_names[i], sizeof shm_names[i], "%s", name);
            return;
        }
}

void unregister_shm_name(const char *name)
{
    for (int i = 0; i < MAX_NAMES; i++)
        if (!strcmp(shm_names[i], name)) {
            if (name[0] == '/')
                unlink(name); /* a file (register_file) */
            else
                shmkit_segment_unlink(name);
            shm_names[i][0] = 0;
        }
}

void register_cleanup(void (*fn)(void))
{
    for (int i = 0; i < ncleanups; i++)
        if (cleanups[i] == fn)
            return;
    if (ncleanups < 8)
        cleanups[ncleanups++] = fn;
}

static void cleanup_all(void)
{
    if (getpid() != main_pid)
        return;
    for (int i = 0; i < MAX_NAMES; i++)
        if (shm_names[i][0])
            unregister_shm_name(shm_names[i]);
    for (int i = ncleanups - 1; i >= 0; i--)
        cleanups[i]();
    ncleanups = 0;
}

static volatile pid_t kids[MAX_READERS_FANOUT + 2];
static volatile int nkids;

static void on_signal(int sig)
{
    for (int i = 0; i < nkids; i++)
        if (kids[i] > 0)
            kill(kids[i], SIGKILL);
    cleanup_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* ---- running children -------------------------------------------------------- */

void ctl_reset(int nparties)
{
    memset(ctl, 0, sizeof *ctl);
    ctl->nparties = nparties;
}

void bench_barrier(int nparties)
{
    atomic_fetch_add(&ctl->ready, 1);
    uint64_t deadline = now_ns() + 30000000000ull;
    for (unsigned k = 0; atomic_load(&ctl->ready) < nparties; k++) {
        cpu_pause();
        if ((k & 1023) == 1023) {
            sched_yield();
            if (now_ns() > deadline) {
                child_fail("barrier: the other side never arrived");
                _exit(1);
            }
        }
    }
}

int run_children(int n, int pin, int (*fn)(int i, void *arg), void *arg,
                 int timeout_s)
{
    fflush(stdout);
    fflush(stderr);
    nkids = 0;
    for (int i = 0; i < n; i++) {
        pid_t c = fork();
        if (c < 0) {
            child_fail("fork: %s", strerror(errno));
            for (int k = 0; k < i; k++)
                kill(kids[k], SIGKILL);
            while (wait(NULL) > 0)
                ;
            nkids = 0;
            return -1;
        }
        if (c == 0) {
            signal(SIGINT, SIG_DFL);
            signal(SIGTERM, SIG_DFL);
            signal(SIGHUP, SIG_DFL);
            if (pin)
                pin_cpu(cfg.cpu[i ? 1 : 0]);
            alarm((unsigned)timeout_s);
            int rc = fn(i, arg);
            if (child_exit_clean)
                exit(rc);
            _exit(rc);
        }
        kids[nkids++] = c;
    }
    int bad = 0, left = n;
    while (left > 0) {
        int st;
        pid_t c = waitpid(-1, &st, 0);
        if (c < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        int mine = 0;
        for (int i = 0; i < nkids; i++)
            if (kids[i] == c) {
                kids[i] = -1;
                mine = 1;
            }
        if (!mine)
            continue;
        left--;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            if (!bad) {
                if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
                    child_fail("timed out after %d s", timeout_s);
                else if (WIFSIGNALED(st))
                    child_fail("a child died of signal %d", WTERMSIG(st));
                else
                    child_fail("a child exited with status %d", WEXITSTATUS(st));
            }
            bad = 1;
            for (int i = 0; i < nkids; i++)
                if (kids[i] > 0)
                    kill(kids[i], SIGKILL);
        }
    }
    nkids = 0;
    return bad ? -1 : 0;
}

/* ---- results --------------------------------------------------------------- */

static result_t *results;
static size_t nresults, cap_results;
static char skips[64][256];
static int nskips;
static double line_p50, line_p999;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static lat_stats_t stats_k(uint64_t *v, long n, double k)
{
    lat_stats_t s = {0};
    if (n <= 0)
        return s;
    qsort(v, (size_t)n, sizeof *v, cmp_u64);
    double sum = 0;
    for (long i = 0; i < n; i++)
        sum += (double)v[i];
    s.n = n;
    s.mean = sum / (double)n * k;
    s.p50 = (double)v[n / 2] * k;
    s.p90 = (double)v[(long)((double)n * 0.90)] * k;
    s.p99 = (double)v[(long)((double)n * 0.99)] * k;
    s.p999 = (double)v[(long)((double)n * 0.999)] * k;
    s.max = (double)v[n - 1] * k;
    return s;
}

static lat_stats_t stats_from(uint64_t *v, long n)
{
    return stats_k(v, n, bench_use_tsc ? bench_ns_per_tick : 1.0);
}

void bench_stats(uint64_t *v, long n, lat_stats_t *out)
{
    *out = stats_from(v, n);
}

void bench_stats_ns(uint64_t *v, long n, lat_stats_t *out)
{
    *out = stats_k(v, n, 1.0);
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_dbl);
    return v[n / 2];
}

static const char *fmt_size(size_t n, char *b, size_t len)
{
    if (n >= (1u << 20) && n % (1u << 20) == 0)
        snprintf(b, len, "%zu MiB", n >> 20);
    else if (n >= 1024 && n % 1024 == 0)
        snprintf(b, len, "%zu KiB", n >> 10);
    else
        snprintf(b, len, "%zu B", n);
    return b;
}

static int last_header = -1;

void section(const char *title)
{
    printf("\n== %s ==\n", title);
    last_header = -1;
}

static void print_header(int type)
{
    if (type == last_header)
        return;
    last_header = type;
    switch (type) {
    case R_RTT:
        printf("%-34s %-8s %-9s %7s %8s %8s %8s %8s %9s %8s %7s\n", "round trip",
               "wait", "payload", "size", "p50 ns", "p90", "p99", "p99.9",
               "max", "mean", "x line");
        break;
    case R_TPUT:
        printf("%-34s %-8s %-9s %7s %10s %9s %8s  %s\n", "one-way", "wait",
               "payload", "size", "M msg/s", "GB/s", "x ref", "notes");
        break;
    case R_BW:
        printf("%-34s %-8s %-9s %7s %10s %9s\n", "bandwidth", "", "", "size", "",
               "GB/s");
        break;
    case R_FANOUT:
        printf("%-34s %-8s %7s %10s %10s %10s %10s  %s\n", "bus fan-out, 64 B",
               "readers", "size", "writer M/s", "rd min M/s", "rd avg M/s",
               "rd max M/s", "notes");
        break;
    case R_SLOW:
        printf("%-34s %10s %10s %10s %12s %12s\n", "one slow reader, 64 B",
               "writer M/s", "fast M/s", "slow M/s", "fast lost", "slow lost");
        break;
    case R_IDLE:
        printf("%-34s %-8s %8s %10s %8s\n", "idle blocked reader", "wait",
               "seconds", "CPU ms", "CPU %");
        break;
    case R_BURST:
        printf("%-34s %-8s %-9s %7s %8s %8s %8s %8s %9s %8s\n",
               "one way, in bursts of 128", "wait", "payload", "size", "p50 ns",
               "p90", "p99", "p99.9", "max", "mean");
        break;
    case R_PACED:
        printf("%-34s %-8s %7s %7s %8s %8s %8s %8s %9s %8s\n",
               "paced stream, 64 B", "wait", "gap us", "size", "p50 us", "p90",
               "p99", "p99.9", "max", "CPU %");
        break;
    case R_STALL:
        printf("%-34s %-8s %8s %9s %8s %8s %9s %8s\n", "the machine's own stalls",
               "cpu", "seconds", "stalls/s", "p50 us", "p99 us", "max us",
               "CPU %");
        break;
    }
}

static double ref64_rate, ref64k_rate, ref64k_handoff_rate;

static void print_result(const result_t *r)
{
    char sz[32], label[64];
    print_header(r->type);
    snprintf(label, sizeof label, "%s%s%s", r->group[0] && strcmp(r->group, "shmkit")
                                                ? r->group : "",
             r->group[0] && strcmp(r->group, "shmkit") ? ": " : "", r->mech);
    fmt_size(r->size, sz, sizeof sz);
    switch (r->type) {
    case R_BURST:
    case R_RTT:
        printf("%-34s %-8s %-9s %7s %8.0f %8.0f %8.0f %8.0f %9.0f %8.0f", label,
               r->mode, r->variant, sz, r->lat.p50, r->lat.p90, r->lat.p99,
               r->lat.p999, r->lat.max, r->lat.mean);
        if (r->line_p50 > 0)
            printf(" %6.2fx", r->lat.p50 / r->line_p50);
        if (r->note[0])
            printf("  %s", r->note);
        printf("\n");
        if (r->pair.n > 0 && r->pair.p50 > 0) {
            char pl[64];
            snprintf(pl, sizeof pl, "  %s, alongside", r->pair_mech);
            printf("%-34s %-8s %-9s %7s %8.0f %8.0f %8.0f %8.0f %9.0f %8.0f  "
                   "%s%s%s / %s%s%s: p50 %.2fx, p99.9 %.2fx\n",
                   pl, r->pair_mode, r->variant, sz, r->pair.p50, r->pair.p90, r->pair.p99,
                   r->pair.p999, r->pair.max, r->pair.mean, r->mech,
                   strcmp(r->mode, "-") ? " " : "", strcmp(r->mode, "-") ? r->mode : "",
                   r->pair_mech, strcmp(r->pair_mode, "-") ? " " : "",
                   strcmp(r->pair_mode, "-") ? r->pair_mode : "",
                   r->lat.p50 / r->pair.p50,
                   r->pair.p999 > 0 ? r->lat.p999 / r->pair.p999 : 0);
        }
        break;
    case R_TPUT: {
        double ref = 0;
        if (r->size == 64 && ref64_rate > 0)
            ref = r->msgs_s / ref64_rate;
        if (r->size == 65536 && ref64k_rate > 0)
            ref = r->msgs_s / ref64k_rate;
        if (r->size == 65536 && !strcmp(r->variant, "hand-off"))
            ref = ref64k_handoff_rate > 0 ? r->msgs_s / ref64k_handoff_rate : 0;
        if (r->ref_adj > 0)
            ref = r->msgs_s / r->ref_adj;
        printf("%-34s %-8s %-9s %7s %10.3f %9.3f ", label, r->mode, r->variant, sz,
               r->msgs_s / 1e6, r->gb_s);
        if (ref > 0)
            printf("%7.2fx", ref);
        else
            printf("%8s", "");
        if (r->lost)
            printf("  lost %llu", (unsigned long long)r->lost);
        if (r->note[0])
            printf("  %s", r->note);
        printf("\n");
        if (r->pair_msgs_s > 0)
            printf("%-34s %-8s %-9s %7s %10.3f %9.3f           %s / %s: %.2fx (side by "
                   "side)\n",
                   "  queue, alongside", r->pair_mode, r->variant, sz, r->pair_msgs_s / 1e6,
                   r->pair_msgs_s * (double)r->size / 1e9, r->pair_mech, r->mech, r->pair_x);
        break;
    }
    case R_BW:
        printf("%-34s %-8s %-9s %7s %10s %9.2f\n", label, "", "", sz, "", r->gb_s);
        break;
    case R_FANOUT:
        printf("%-34s %-8d %7s %10.3f %10.3f %10.3f %10.3f  %s\n", label, r->readers,
               sz, r->w_msgs_s / 1e6, r->rd_min / 1e6, r->rd_avg / 1e6,
               r->rd_max / 1e6, r->note);
        break;
    case R_SLOW:
        printf("%-34s %10.3f %10.3f %10.3f %12llu %12llu  %s\n", label,
               r->w_msgs_s / 1e6, r->rd_rates[0] / 1e6, r->rd_rates[1] / 1e6,
               (unsigned long long)r->rd_lost[0], (unsigned long long)r->rd_lost[1],
               r->note);
        break;
    case R_IDLE:
        printf("%-34s %-8s %8.1f %10.2f %8.3f  %s\n", label, r->mode, r->seconds,
               r->cpu_ms, r->cpu_pct, r->note);
        break;
    case R_PACED:
        printf("%-34s %-8s %7u %7s %8.1f %8.1f %8.1f %8.1f %9.1f %8.1f\n", label,
               r->mode, r->gap_us, sz, r->lat.p50 / 1e3, r->lat.p90 / 1e3,
               r->lat.p99 / 1e3, r->lat.p999 / 1e3, r->lat.max / 1e3, r->cpu_pct);
        break;
    case R_STALL:
        printf("%-34s %-8s %8.2f %9.0f %8.1f %8.1f %9.1f %8.2f  %s\n", label, r->mode,
               r->seconds, r->msgs_s, r->lat.p50 / 1e3, r->lat.p99 / 1e3,
               r->lat.max / 1e3, r->cpu_pct, r->note);
        break;
    }
    fflush(stdout);
}

void add_result(const result_t *r)
{
    if (nresults == cap_results) {
        cap_results = cap_results ? cap_results * 2 : 64;
        results = realloc(results, cap_results * sizeof *results);
        if (!results) {
            perror("realloc");
            exit(1);
        }
    }
    results[nresults++] = *r;
    r = &results[nresults - 1];
    if (r->type == R_RTT && !strcmp(r->group, "floor") &&
        !strcmp(r->mech, "cache line") && line_p50 == 0) {
        line_p50 = r->lat.p50;
        line_p999 = r->lat.p999;
    }
    if (r->type == R_RTT && !strcmp(r->group, "floor") && results[nresults - 1].line_p50 == 0)
        results[nresults - 1].line_p50 = line_p50;
    if (r->type == R_TPUT && !strcmp(r->group, "floor")) {
        if (r->size == 64)
            ref64_rate = r->msgs_s;
        if (r->size == 65536 && !strcmp(r->variant, "hand-off"))
            ref64k_handoff_rate = r->msgs_s;
        else if (r->size == 65536)
            ref64k_rate = r->msgs_s;
    }
    print_result(r);
}

double floor_line_p50(void) { return line_p50; }
double floor_line_p999(void) { return line_p999; }

void add_skip(const char *what, const char *why)
{
    for (int i = 0; i < nskips; i++)
        if (!strncmp(skips[i], what, strlen(what)))
            return; /* one line per mechanism is enough */
    if (nskips < 64)
        snprintf(skips[nskips++], sizeof skips[0], "%s: %s", what, why);
    printf("skipped: %s: %s\n", what, why);
    fflush(stdout);
}

void add_failure(const char *what, const char *why)
{
    failures++;
    printf("FAILED: %s: %s\n", what, why && *why ? why : "(no reason given)");
    fflush(stdout);
}

static const result_t *find_result(int type, const char *group, const char *mech,
                                   const char *mode, const char *variant,
                                   size_t size)
{
    for (size_t i = 0; i < nresults; i++) {
        const result_t *r = &results[i];
        if (r->type == type && !strcmp(r->group, group) && !strcmp(r->mech, mech) &&
            (!mode || !strcmp(r->mode, mode)) &&
            (!variant || !strcmp(r->variant, variant)) && r->size == size)
            return r;
    }
    return NULL;
}

int want(const char *label)
{
    if (!cfg.only || !*cfg.only)
        return 1;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", cfg.only);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t;
         t = strtok_r(NULL, ",", &save))
        if (strstr(label, t))
            return 1;
    return 0;
}

/* ---- the generic round trip ------------------------------------------------ */

static const char *pay_name(int pay)
{
    return pay == PAY_ZC ? "zero-copy" : pay == PAY_HANDOFF ? "hand-off" : "copy";
}

static long point_rounds(size_t size)
{
    /* a 1 MiB round trip is four 1 MiB copies (0.1-0.4 ms): --big-rounds
     * can cut these points short, at the price of a p99.9 that is only
     * the 10th worst of 10,000 */
    return size >= (1u << 20) ? cfg.big_rounds : cfg.rounds;
}

/* A child's start: its end of the point's mechanism, and a message buffer
 * of the point's size (64-byte aligned, filled).  0, or -1 (reported). */
static int child_open(point_t *p, int side, void **ep, unsigned char **buf)
{
    *ep = NULL;
    if (p->m->open(p, side, ep) < 0) {
        child_fail("%s: open failed", p->m->name);
        return -1;
    }
    *buf = aligned_alloc(64, (p->size + 63) & ~(size_t)63);
    if (!*buf) {
        child_fail("out of memory for a %zu-byte buffer", p->size);
        return -1;
    }
    memset(*buf, 0x5a, p->size);
    return 0;
}

/* Round trips first .. first + count - 1 over one end of a point (the
 * pinger, side 0, times each into lat[i - first] when lat is set).  0, or
 * 1 (reported). */
static int rtt_rounds(const point_t *p, void *ep, unsigned char *buf, int side, long first,
                      long count, uint64_t *lat)
{
    const mech_t *m = p->m;
    size_t size = p->size;
    uint64_t s = 0;
    for (long i = first; i < first + count; i++) {
        if (side == 0) {
            uint64_t t0 = bench_ticks();
            if (p->pay == PAY_COPY)
                memcpy(buf, &i, 8);
            if (m->send(ep, buf, size, p->pay, (uint64_t)i) < 0) {
                child_fail("%s: send failed at round trip %ld", m->name, i);
                return 1;
            }
            if (m->recv(ep, buf, size, p->pay, &s) != 0) {
                child_fail("%s: receive failed at round trip %ld", m->name, i);
                return 1;
            }
            uint64_t t1 = bench_ticks();
            if (s != (uint64_t)i) {
                child_fail("%s: round trip %ld came back as %llu", m->name, i,
                           (unsigned long long)s);
                return 1;
            }
            if (lat)
                lat[i - first] = t1 - t0;
        } else {
            if (m->recv(ep, buf, size, p->pay, &s) != 0) {
                child_fail("%s: receive failed at ping %ld", m->name, i);
                return 1;
            }
            if (s != (uint64_t)i) {
                child_fail("%s: ping %ld arrived as %llu", m->name, i,
                           (unsigned long long)s);
                return 1;
            }
            if (m->send(ep, buf, size, p->pay, s) < 0) {
                child_fail("%s: send failed at pong %ld", m->name, i);
                return 1;
            }
        }
    }
    return 0;
}

static long point_warmup(size_t size)
{
    return size >= (1u << 20) ? cfg.warmup / 10 : cfg.warmup;
}

static int rtt_child(int side, void *arg)
{
    point_t *p = arg;
    void *ep;
    unsigned char *buf;
    if (child_open(p, side, &ep, &buf) < 0)
        return 1;
    long n = point_rounds(p->size), warm = point_warmup(p->size);
    bench_barrier(2);
    line_floor_in_point(side);
    if (rtt_rounds(p, ep, buf, side, 0, warm, NULL) ||
        rtt_rounds(p, ep, buf, side, warm, n, ctl->lat))
        return 1;
    p->m->close(ep, side);
    free(buf);
    return 0;
}

/* A point's round trips side by side with another's (a peer's with
 * shmkit's queue, the queue's blocking ones with the futex floor), in the
 * same two processes: PAIR_BLOCKS blocks, each a share of the warm-up and
 * of the timed round trips of one and then of the other (the order
 * alternates).  Two points measured one after the other, each in
 * processes of its own, often ran on different placements of the two
 * vCPUs (line floors from 70 to 360 ns within one run), and no floor
 * normalises a 1 MiB copy or a wake-up.  The partner's samples go to
 * ctl->lat[0 .. n), the point's to [n .. 2n). */
#define PAIR_BLOCKS 8

struct pair_arg {
    point_t *p[2]; /* [0] the partner, [1] the point */
    long n;        /* timed round trips of each: a multiple of the blocks */
};

static long pair_blocks(long n)
{
    return n >= PAIR_BLOCKS ? PAIR_BLOCKS : 1;
}

/* Both ends of a pair's two mechanisms in a child; 0, or 1 (reported). */
static int pair_open(struct pair_arg *a, int side, void *ep[2], unsigned char *buf[2])
{
    for (int j = 0; j < 2; j++)
        if (child_open(a->p[j], side, &ep[j], &buf[j]) < 0)
            return 1;
    return 0;
}

static void pair_close(struct pair_arg *a, int side, void *ep[2], unsigned char *buf[2])
{
    for (int j = 0; j < 2; j++) {
        a->p[j]->m->close(ep[j], side);
        free(buf[j]);
    }
}

static int pair_child(int side, void *arg)
{
    struct pair_arg *a = arg;
    void *ep[2];
    unsigned char *buf[2];
    if (pair_open(a, side, ep, buf))
        return 1;
    long n = a->n, nb = pair_blocks(n);
    long per = n / nb, warm = point_warmup(a->p[0]->size) / nb, next[2] = {0, 0};
    bench_barrier(2);
    line_floor_in_point(side);
    for (long b = 0; b < nb; b++)
        for (int k = 0; k < 2; k++) {
            int j = k ^ (int)(b & 1);
            const point_t *p = a->p[j];
            if (rtt_rounds(p, ep[j], buf[j], side, next[j], warm, NULL) ||
                rtt_rounds(p, ep[j], buf[j], side, next[j] + warm, per,
                           ctl->lat + (size_t)j * (size_t)n + (size_t)(b * per)))
                return 1;
            next[j] += warm + per;
        }
    pair_close(a, side, ep, buf);
    return 0;
}

static int next_point_id;

static void make_label(char *b, size_t n, const mech_t *m, const char *mode,
                       int pay, size_t size, const char *what)
{
    snprintf(b, n, "%s:%s:%s:%s:%s:%zu", what, m->group, m->name, mode,
             pay_name(pay), size);
}

static int setup_point(point_t *p, const mech_t *m, size_t size, int pay, int wait,
                       int tput, const char *label)
{
    char why[256] = "";
    memset(p, 0, sizeof *p);
    p->m = m;
    p->size = size;
    p->pay = pay;
    p->wait = wait;
    p->tput = tput;
    p->id = next_point_id++;
    if (m->max_size && size > m->max_size) {
        return 1;
    }
    int r = m->setup ? m->setup(p, why, sizeof why) : 0;
    if (r == 1) {
        char w[96];
        snprintf(w, sizeof w, "%s%s%s", strcmp(m->group, "shmkit") ? m->group : "shmkit",
                 ": ", m->name);
        add_skip(w, why);
        return 1;
    }
    if (r < 0) {
        add_failure(label, why);
        return -1;
    }
    return 0;
}

/* A result of a channel point, named as its label is. */
static void point_result(result_t *res, int type, const mech_t *m, const char *mode,
                         int pay, size_t size)
{
    memset(res, 0, sizeof *res);
    res->type = type;
    snprintf(res->group, sizeof res->group, "%s", m->group);
    snprintf(res->mech, sizeof res->mech, "%s", m->name);
    snprintf(res->mode, sizeof res->mode, "%s", mode);
    snprintf(res->variant, sizeof res->variant, "%s", pay_name(pay));
    res->size = size;
}

/* The point's p50 .. mean of each repetition, into v[0..5][k]. */
static void keep_rep(double v[6][16], int k, lat_stats_t st)
{
    v[0][k] = st.p50;
    v[1][k] = st.p90;
    v[2][k] = st.p99;
    v[3][k] = st.p999;
    v[4][k] = st.max;
    v[5][k] = st.mean;
}

/* their medians, for a point run --repeat times */
static lat_stats_t median_reps(double v[6][16], int reps, lat_stats_t last)
{
    if (reps <= 1)
        return last;
    last.p50 = median(v[0], reps);
    last.p90 = median(v[1], reps);
    last.p99 = median(v[2], reps);
    last.p999 = median(v[3], reps);
    last.max = median(v[4], reps);
    last.mean = median(v[5], reps);
    return last;
}

/* A round-trip point, or with a partner pm (wait mode pwait, named pmode)
 * the point side by side with it at the same size and payload: see
 * pair_child. */
static int rtt_point(const mech_t *m, size_t size, int pay, int wait, const char *mode,
                     const mech_t *pm, int pwait, const char *pmode)
{
    int paired = pm != NULL;
    char label[256];
    make_label(label, sizeof label, m, mode, pay, size, "rtt");
    if (!want(label))
        return 0;
    point_t p, q;
    long n = point_rounds(size);
    if (paired)
        n = n / pair_blocks(n) * pair_blocks(n);
    struct pair_arg pa = {{&q, &p}, n};
    int reps = cfg.repeat > 0 ? (cfg.repeat < 16 ? cfg.repeat : 16) : 1;
    int block = !strcmp(mode, "block");
    double v[6][16], vq[6][16], line[16], line999[16], fut[16];
    lat_stats_t st = {0}, sq = {0};
    for (int k = 0; k < reps; k++) {
        /* each repetition on fresh channels, as a separate run would be (a
         * latest channel keeps the last run's value) */
        int r = setup_point(&p, m, size, pay, wait, 0, label);
        if (r == 0 && paired) {
            r = setup_point(&q, pm, size, pay, pwait, 0, label);
            if (r != 0 && m->teardown)
                m->teardown(&p);
            if (r > 0) /* setup_point() said why, of the partner */
                add_skip(label, "its partner (run side by side with it) was skipped");
        }
        if (r) {
            if (k > 0)
                add_failure(label, "setting up a repetition failed");
            return r > 0 && k == 0 ? 0 : -1;
        }
        /* a futex floor run right before it, unless one runs beside it */
        fut[k] = block && pm != &mech_futex ? futex_floor_now() : 0;
        ctl_reset(2);
        int timeout = (60 + (int)(n / 2000)) * (paired ? 2 : 1);
        child_exit_clean = ((m->flags | (paired ? pm->flags : 0)) & MECH_EXIT) != 0;
        int rc = paired ? run_children(2, 1, pair_child, &pa, timeout)
                        : run_children(2, 1, rtt_child, &p, timeout);
        child_exit_clean = 0;
        if (paired && pm->teardown)
            pm->teardown(&q);
        if (m->teardown)
            m->teardown(&p);
        if (rc < 0) {
            add_failure(label, ctl->why);
            return -1;
        }
        line[k] = ctl->line_ns; /* measured in the point's processes */
        line999[k] = ctl->line_p999_ns;
        st = stats_from(ctl->lat + (paired ? n : 0), n);
        keep_rep(v, k, st);
        if (paired) {
            sq = stats_from(ctl->lat, n);
            keep_rep(vq, k, sq);
        }
    }
    result_t res;
    point_result(&res, R_RTT, m, mode, pay, size);
    res.lat = median_reps(v, reps, st);
    if (paired) {
        res.pair = median_reps(vq, reps, sq);
        snprintf(res.pair_mech, sizeof res.pair_mech, "%s", pm->name);
        snprintf(res.pair_mode, sizeof res.pair_mode, "%s", pmode);
    }
    res.line_p50 = reps > 1 ? median(line, reps) : line[0];
    res.line_p999 = reps > 1 ? median(line999, reps) : line999[0];
    res.futex_p50 = reps > 1 ? median(fut, reps) : fut[0];
    if (size >= (1u << 20))
        snprintf(res.note, sizeof res.note, "(%ld + %ld round trips)", point_warmup(size), n);
    add_result(&res);
    return 0;
}

int run_rtt(const mech_t *m, size_t size, int pay, int wait, const char *mode)
{
    return rtt_point(m, size, pay, wait, mode, NULL, 0, NULL);
}

int run_peer_rtt(const mech_t *m, size_t size, int pay, const char *mode)
{
    return rtt_point(m, size, pay, 0, mode, &mech_sk_queue, SHMKIT_WAIT_SPIN, "spin");
}

int run_rtt_beside(const mech_t *m, size_t size, int pay, int wait, const char *mode,
                   const mech_t *pm, int pwait, const char *pmode)
{
    return rtt_point(m, size, pay, wait, mode, pm, pwait, pmode);
}

/* ---- the generic one-way throughput ------------------------------------------ */

/* One stream, A -> B, of messages first, first + 1, ... for `seconds`,
 * then the terminator.  Side A: 0 with *sent and its start and end
 * times, or 1 (reported). */
static int tput_send(const point_t *p, void *ep, unsigned char *buf, uint64_t first,
                     double seconds, uint64_t *sent, uint64_t *t_start, uint64_t *w_end)
{
    const mech_t *m = p->m;
    size_t size = p->size;
    uint64_t t0 = now_ns();
    uint64_t end = t0 + (uint64_t)(seconds * 1e9);
    /* The clock is read every `every` messages, a power of two that
     * doubles while reads come less than 20 us apart, up to 256 (the
     * reference ring's cadence).  Until 2026-12-03 it was every message
     * from 4 KiB up: a clock read takes 24 ns on the Zen 4 guest, and a
     * 64 KiB hand-off ~80 ns, so the writer spent 27% of its time in
     * clock_gettime (perf) and the queue's hand-off measured against a
     * ring that reads it once per 256. */
    uint64_t every = 1, i = first, last = t0;
    *t_start = t0;
    for (;;) {
        if (p->pay == PAY_COPY)
            memcpy(buf, &i, 8);
        if (m->send(ep, buf, size, p->pay, i) < 0) {
            child_fail("%s: send failed at message %llu", m->name, (unsigned long long)i);
            return 1;
        }
        i++;
        if (!((i - first) & (every - 1))) {
            uint64_t t = now_ns();
            if (t >= end)
                break;
            if (t - last < 20000 && every < 256)
                every <<= 1;
            last = t;
        }
    }
    *w_end = now_ns();
    *sent = i - first;
    uint64_t e = SEQ_END;
    memcpy(buf, &e, 8);
    if (m->send(ep, buf, size, p->pay, SEQ_END) < 0) {
        child_fail("%s: send failed (terminator)", m->name);
        return 1;
    }
    return 0;
}

/* Side B of tput_send()'s stream: every sequence number checked (gaps
 * counted on a lossy mechanism).  0 with *got and *lost, or 1 (reported). */
static int tput_recv(const point_t *p, void *ep, unsigned char *buf, uint64_t first,
                     uint64_t *got, uint64_t *lost)
{
    const mech_t *m = p->m;
    uint64_t expect = first, s = 0;
    *got = 0;
    *lost = 0;
    for (;;) {
        int r = m->recv(ep, buf, p->size, p->pay, &s);
        if (r == 1)
            break;
        if (r < 0) {
            child_fail("%s: receive failed after %llu messages", m->name,
                       (unsigned long long)*got);
            return 1;
        }
        if (s == SEQ_END)
            break;
        if (s != expect) {
            if (!(m->flags & MECH_LOSSY) || s < expect) {
                child_fail("%s: message %llu arrived as %llu", m->name,
                           (unsigned long long)expect, (unsigned long long)s);
                return 1;
            }
            *lost += s - expect;
        }
        expect = s + 1;
        ++*got;
    }
    return 0;
}

static int tput_child(int side, void *arg)
{
    point_t *p = arg;
    void *ep;
    unsigned char *buf;
    if (child_open(p, side, &ep, &buf) < 0)
        return 1;
    bench_barrier(2);
    if (side == 0) {
        uint64_t sent, t0, w_end;
        if (tput_send(p, ep, buf, 0, cfg.seconds, &sent, &t0, &w_end))
            return 1;
        atomic_store(&ctl->t_start, t0);
        atomic_store(&ctl->w_end, w_end);
        atomic_store(&ctl->sent, sent);
    } else {
        uint64_t got, lost;
        if (tput_recv(p, ep, buf, 0, &got, &lost))
            return 1;
        atomic_store(&ctl->t_end, now_ns());
        atomic_store(&ctl->received, got);
        atomic_store(&ctl->lost, lost);
    }
    p->m->close(ep, side);
    free(buf);
    return 0;
}

/* A one-way point side by side with a partner (a peer's with shmkit's
 * queue), in the same two processes, as pair_child does for round trips:
 * PAIR_TPUT_BLOCKS streams of each, a quarter of --seconds each, the order
 * alternating.  A stream starts only once B has taken the last one's
 * terminator (ctl->pair_step), so the two never overlap.  B sums, per
 * mechanism, the messages received and the time from A's start of each
 * stream (ctl->pair_t0) to its terminator, in ctl->rd[j] (msgs, lost, and
 * t_end as the summed ns); A sums what it sent, and its own sending time,
 * in ctl->rd[2 + j].  This relies on a mechanism's recv returning 1 (end
 * of stream) only once its writer has closed: one that returned it before
 * a stream's terminator would let B run ahead of A. */
#define PAIR_TPUT_BLOCKS 4

static int pair_step_wait(uint64_t step)
{
    uint64_t deadline = now_ns() + 60000000000ull;
    for (unsigned k = 0; atomic_load(&ctl->pair_step) < step; k++) {
        cpu_pause();
        if ((k & 1023) == 1023 && now_ns() > deadline) {
            child_fail("the reader did not finish a stream within 60 s");
            return 1;
        }
    }
    return 0;
}

static int pair_tput_child(int side, void *arg)
{
    struct pair_arg *a = arg;
    void *ep[2];
    unsigned char *buf[2];
    if (pair_open(a, side, ep, buf))
        return 1;
    uint64_t next[2] = {0, 0};
    bench_barrier(2);
    for (int b = 0; b < 2 * PAIR_TPUT_BLOCKS; b++) {
        int j = (b & 1) ^ ((b >> 1) & 1); /* 0 1, 1 0, 0 1, ... */
        const point_t *p = a->p[j];
        if (side == 0) {
            uint64_t sent, t0, w_end;
            if (pair_step_wait((uint64_t)b))
                return 1;
            atomic_store(&ctl->pair_t0, now_ns());
            if (tput_send(p, ep[j], buf[j], next[j], cfg.seconds / PAIR_TPUT_BLOCKS, &sent,
                          &t0, &w_end))
                return 1;
            ctl->rd[2 + j].msgs += sent;
            ctl->rd[2 + j].t_end += w_end - t0; /* A's own sending time */
            next[j] += sent;
        } else {
            uint64_t got, lost;
            if (tput_recv(p, ep[j], buf[j], next[j], &got, &lost))
                return 1;
            uint64_t t1 = now_ns();
            ctl->rd[j].msgs += got;
            ctl->rd[j].lost += lost;
            ctl->rd[j].t_end += t1 - atomic_load(&ctl->pair_t0);
            next[j] += got + lost;
            atomic_store(&ctl->pair_step, (uint64_t)b + 1);
        }
    }
    pair_close(a, side, ep, buf);
    return 0;
}

/* One run of a throughput point on fresh channels, beside partner pm when
 * it is set; 0, 1 (skipped), or -1 (failure recorded).  Leaves the counts
 * in ctl. */
static int tput_once(point_t *p, const mech_t *m, size_t size, int pay, int wait,
                     const char *label, point_t *q, const mech_t *pm, int pwait)
{
    int r = setup_point(p, m, size, pay, wait, 1, label);
    if (r)
        return r > 0 ? 1 : -1;
    if (pm) {
        r = setup_point(q, pm, size, pay, pwait, 1, label);
        if (r) {
            if (m->teardown)
                m->teardown(p);
            if (r > 0)
                add_skip(label, "its partner (run side by side with it) was skipped");
            return r > 0 ? 1 : -1;
        }
    }
    ctl_reset(2);
    child_exit_clean = ((m->flags | (pm ? pm->flags : 0)) & MECH_EXIT) != 0;
    struct pair_arg pa = {{q, p}, 0};
    int timeout = (60 + (int)(cfg.seconds * 4)) * (pm ? 2 : 1);
    int rc = pm ? run_children(2, 1, pair_tput_child, &pa, timeout)
                : run_children(2, 1, tput_child, p, timeout);
    child_exit_clean = 0;
    if (pm && pm->teardown)
        pm->teardown(q);
    if (m->teardown)
        m->teardown(p);
    if (rc < 0) {
        add_failure(label, ctl->why);
        return -1;
    }
    return 0;
}

/* Sizes with a reference ring (64 B, 64 KiB) run --repeat times, each time
 * right after a short run of the ring: the vCPUs' placement changes from
 * one second to the next, so x ref is the median of the per-run ratios and
 * the rate the median of the rates.  With a partner pm (a peer's point,
 * beside shmkit's queue) each run is pair_tput_child's, and the result
 * carries the partner's rate too (pair_msgs_s, the median over the runs,
 * and pair_x, the median of the per-run ratios partner / point). */
static int tput_point(const mech_t *m, size_t size, int pay, int wait, const char *mode,
                      const mech_t *pm, int pwait, const char *pmode)
{
    char label[256];
    make_label(label, sizeof label, m, mode, pay, size, "tput");
    if (!want(label))
        return 0;
    int has_ref = size == 64 || size == 65536;
    int reps = has_ref && cfg.repeat > 1 ? (cfg.repeat < 16 ? cfg.repeat : 16) : 1;
    double rate[16], wrate[16], ratio[16], secs[16], floor[16], prate[16], px[16];
    uint64_t lost = 0;
    point_t p, q;
    int nratio = 0;
    for (int k = 0; k < reps; k++) {
        /* the reference ring, and the line floor that tells the vCPUs'
         * placement, on the placement of this run */
        double ref = has_ref ? ref_ring_now(size, pay == PAY_HANDOFF) : 0;
        floor[k] = has_ref ? line_floor_now() : 0;
        int r = tput_once(&p, m, size, pay, wait, label, &q, pm, pwait);
        if (r)
            return r > 0 ? 0 : -1;
        if (pm) {
            double dt = (double)ctl->rd[1].t_end / 1e9, pdt = (double)ctl->rd[0].t_end / 1e9;
            double wdt = (double)ctl->rd[3].t_end / 1e9;
            rate[k] = dt > 0 ? (double)ctl->rd[1].msgs / dt : 0;
            wrate[k] = wdt > 0 ? (double)ctl->rd[3].msgs / wdt : 0;
            prate[k] = pdt > 0 ? (double)ctl->rd[0].msgs / pdt : 0;
            px[k] = rate[k] > 0 ? prate[k] / rate[k] : 0;
            secs[k] = dt;
            lost += ctl->rd[1].lost;
        } else {
            double dt = (double)(ctl->t_end - ctl->t_start) / 1e9;
            double wdt = (double)(ctl->w_end - ctl->t_start) / 1e9;
            rate[k] = dt > 0 ? (double)ctl->received / dt : 0;
            wrate[k] = wdt > 0 ? (double)ctl->sent / wdt : 0;
            secs[k] = dt;
            lost += ctl->lost;
        }
        if (ref > 0)
            ratio[nratio++] = rate[k] / ref;
    }
    result_t res;
    point_result(&res, R_TPUT, m, mode, pay, size);
    res.msgs_s = median(rate, reps);
    res.w_msgs_s = median(wrate, reps);
    res.gb_s = res.msgs_s * (double)size / 1e9;
    res.lost = lost;
    res.seconds = median(secs, reps);
    /* x ref = msgs_s / ref_adj = the median ratio */
    double mr = nratio ? median(ratio, nratio) : 0;
    res.ref_adj = mr > 0 ? res.msgs_s / mr : 0;
    res.line_p50 = has_ref ? median(floor, reps) : 0;
    if (pm) {
        res.pair_msgs_s = median(prate, reps);
        res.pair_x = median(px, reps);
        snprintf(res.pair_mech, sizeof res.pair_mech, "%s", pm->name);
        snprintf(res.pair_mode, sizeof res.pair_mode, "%s", pmode);
    }
    char fl[32] = "";
    if (res.line_p50 > 0)
        snprintf(fl, sizeof fl, "floor %.0f ns", res.line_p50);
    if (m->flags & MECH_LOSSY)
        snprintf(res.note, sizeof res.note, "writer %.3f M/s%s%s", res.w_msgs_s / 1e6,
                 fl[0] ? "; " : "", fl);
    else if (reps > 1)
        snprintf(res.note, sizeof res.note, "median of %d runs%s%s", reps,
                 fl[0] ? "; " : "", fl);
    else
        snprintf(res.note, sizeof res.note, "%s", fl);
    add_result(&res);
    return 0;
}

int run_tput(const mech_t *m, size_t size, int pay, int wait, const char *mode)
{
    return tput_point(m, size, pay, wait, mode, NULL, 0, NULL);
}

int run_peer_tput(const mech_t *m, size_t size, int pay, const char *mode)
{
    return tput_point(m, size, pay, 0, mode, &mech_sk_queue, SHMKIT_WAIT_SPIN, "spin");
}

/* ---- one-way latency inside bursts ---------------------------------------------- */

/*
 * The writer sends bursts of BURST_N messages back to back, each stamped
 * with the time it was sent, and waits BURST_GAP_NS between bursts; the
 * reader notes when each one arrives.  A reader that holds (hold_ns) in a
 * stream trades this latency for rate: the point shows what it costs, next
 * to the same reader with hold_ns = 0.  The timestamps are TSC ticks taken
 * on two CPUs (an invariant TSC is one clock for all of them), or
 * CLOCK_MONOTONIC.
 */
#define BURST_N 128
#define BURST_GAP_NS 20000

/* timed messages: whole bursts, no more than ctl->lat holds */
static long burst_msgs(void) { return cfg.rounds / BURST_N * BURST_N; }

static int burst_child(int side, void *arg)
{
    point_t *p = arg;
    const mech_t *m = p->m;
    void *ep;
    unsigned char *buf;
    if (child_open(p, side, &ep, &buf) < 0)
        return 1;
    size_t size = p->size;
    long warm = 10 * BURST_N, n = burst_msgs();
    bench_barrier(2);
    if (side == 0) {
        for (long i = 0; i < warm + n;) {
            for (int k = 0; k < BURST_N; k++, i++) {
                uint64_t t = bench_ticks();
                memcpy(buf, &i, 8);
                memcpy(buf + 8, &t, 8);
                if (m->send(ep, buf, size, p->pay, (uint64_t)i) < 0) {
                    child_fail("send failed at message %ld", i);
                    return 1;
                }
            }
            uint64_t t0 = now_ns();
            while (now_ns() - t0 < BURST_GAP_NS)
                ;
        }
    } else {
        uint64_t s = 0;
        for (long i = 0; i < warm + n; i++) {
            if (m->recv(ep, buf, size, p->pay, &s) != 0) {
                child_fail("receive failed at message %ld", i);
                return 1;
            }
            uint64_t t1 = bench_ticks(), t0;
            if (s != (uint64_t)i) {
                child_fail("message %ld arrived as %llu", i, (unsigned long long)s);
                return 1;
            }
            memcpy(&t0, buf + 8, 8);
            if (i >= warm)
                ctl->lat[i - warm] = t1 > t0 ? t1 - t0 : 0;
        }
    }
    m->close(ep, side);
    free(buf);
    return 0;
}

int run_burst(const mech_t *m, size_t size, int wait, const char *mode)
{
    char label[256];
    make_label(label, sizeof label, m, mode, PAY_COPY, size, "burst");
    if (!want(label) || size < 16 || burst_msgs() == 0)
        return 0;
    point_t p;
    int r = setup_point(&p, m, size, PAY_COPY, wait, 1, label);
    if (r)
        return r > 0 ? 0 : -1;
    long n = burst_msgs();
    ctl_reset(2);
    int rc = run_children(2, 1, burst_child, &p, 60 + (int)(n / 2000));
    if (m->teardown)
        m->teardown(&p);
    if (rc < 0) {
        add_failure(label, ctl->why);
        return -1;
    }
    result_t res;
    point_result(&res, R_BURST, m, mode, PAY_COPY, size);
    res.lat = stats_from(ctl->lat, n);
    const result_t *base = NULL;
    for (size_t i = 0; i < nresults; i++)
        if (results[i].type == R_BURST && !strcmp(results[i].mech, "queue hold 0") &&
            results[i].size == size && !strcmp(results[i].mode, mode))
            base = &results[i];
    if (base && base->lat.p50 > 0 && strcmp(m->name, "queue hold 0"))
        snprintf(res.note, sizeof res.note, "p50 %.2fx, p99 %.2fx hold 0's",
                 res.lat.p50 / base->lat.p50,
                 base->lat.p99 > 0 ? res.lat.p99 / base->lat.p99 : 0);
    add_result(&res);
    return 0;
}

/* ---- JSON ------------------------------------------------------------------------ */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static char host_model[128], host_kernel[128], run_date[64];

static void host_info(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    snprintf(host_model, sizeof host_model, "unknown");
    if (f) {
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "model name", 10)) {
                char *c = strchr(line, ':');
                if (c) {
                    c++;
                    while (*c == ' ')
                        c++;
                    c[strcspn(c, "\n")] = 0;
                    snprintf(host_model, sizeof host_model, "%s", c);
                }
                break;
            }
        fclose(f);
    }
    struct utsname u;
    if (uname(&u) == 0)
        snprintf(host_kernel, sizeof host_kernel, "%s %s", u.sysname, u.release);
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(run_date, sizeof run_date, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int write_json(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "shmkit-bench: %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "{\n  \"shmkit_version\": ");
    json_str(f, shmkit_version());
    fprintf(f, ",\n  \"date\": ");
    json_str(f, run_date);
    fprintf(f, ",\n  \"host\": {\"cpu_model\": ");
    json_str(f, host_model);
    fprintf(f, ", \"kernel\": ");
    json_str(f, host_kernel);
    fprintf(f, ", \"online_cpus\": %ld, \"usable_cpus\": %d},\n",
            sysconf(_SC_NPROCESSORS_ONLN), cfg.ncpu);
    fprintf(f, "  \"cpus\": {\"a\": %d, \"b\": %d},\n", cfg.cpu[0], cfg.cpu[1]);
    fprintf(f, "  \"quick\": %s, \"rounds\": %ld, \"big_rounds\": %ld, \"warmup\": %ld, "
               "\"seconds\": %.3f, \"repeat\": %d, \"timer\": \"%s\",\n",
            cfg.quick ? "true" : "false", cfg.rounds, cfg.big_rounds, cfg.warmup, cfg.seconds,
            cfg.repeat, bench_use_tsc ? "tsc" : "clock_monotonic");
    fprintf(f, "  \"results\": [");
    static const char *types[] = {"rtt", "throughput", "bandwidth", "fanout",
                                  "slow_reader", "idle_cpu", "cpu_stalls",
                                  "burst_latency", "paced"};
    for (size_t i = 0; i < nresults; i++) {
        const result_t *r = &results[i];
        fprintf(f, "%s\n    {\"type\": \"%s\", \"group\": ", i ? "," : "", types[r->type]);
        json_str(f, r->group);
        fprintf(f, ", \"mechanism\": ");
        json_str(f, r->mech);
        fprintf(f, ", \"wait\": ");
        json_str(f, r->mode);
        fprintf(f, ", \"payload\": ");
        json_str(f, r->variant);
        fprintf(f, ", \"size\": %zu", r->size);
        switch (r->type) {
        case R_BURST:
        case R_RTT:
            fprintf(f, ", \"n\": %ld, \"p50_ns\": %.1f, \"p90_ns\": %.1f, "
                       "\"p99_ns\": %.1f, \"p999_ns\": %.1f, \"max_ns\": %.1f, "
                       "\"mean_ns\": %.1f",
                    r->lat.n, r->lat.p50, r->lat.p90, r->lat.p99, r->lat.p999,
                    r->lat.max, r->lat.mean);
            if (r->line_p50 > 0)
                fprintf(f, ", \"line_floor_p50_ns\": %.1f, \"x_line_floor\": %.3f",
                        r->line_p50, r->lat.p50 / r->line_p50);
            if (r->line_p999 > 0)
                fprintf(f, ", \"line_floor_p999_ns\": %.1f", r->line_p999);
            if (r->futex_p50 > 0)
                fprintf(f, ", \"futex_floor_p50_ns\": %.1f, \"x_futex_floor\": %.3f",
                        r->futex_p50, r->lat.p50 / r->futex_p50);
            if (r->pair.n > 0) {
                fprintf(f, ", \"alongside\": {\"mechanism\": ");
                json_str(f, r->pair_mech);
                fprintf(f, ", \"wait\": ");
                json_str(f, r->pair_mode);
                fprintf(f, ", \"n\": %ld, \"p50_ns\": %.1f, \"p90_ns\": %.1f, "
                           "\"p99_ns\": %.1f, \"p999_ns\": %.1f, \"max_ns\": %.1f, "
                           "\"mean_ns\": %.1f}",
                        r->pair.n, r->pair.p50, r->pair.p90, r->pair.p99, r->pair.p999,
                        r->pair.max, r->pair.mean);
            }
            break;
        case R_TPUT:
            fprintf(f, ", \"msgs_per_s\": %.0f, \"gb_per_s\": %.4f, "
                       "\"writer_msgs_per_s\": %.0f, \"lost\": %llu, \"seconds\": %.3f",
                    r->msgs_s, r->gb_s, r->w_msgs_s, (unsigned long long)r->lost,
                    r->seconds);
            if (r->ref_adj > 0)
                fprintf(f, ", \"ref_ring_adjacent_msgs_per_s\": %.0f, \"x_ref\": %.3f",
                        r->ref_adj, r->msgs_s / r->ref_adj);
            if (r->line_p50 > 0)
                fprintf(f, ", \"line_floor_p50_ns\": %.1f", r->line_p50);
            if (r->pair_msgs_s > 0) {
                fprintf(f, ", \"alongside\": {\"mechanism\": ");
                json_str(f, r->pair_mech);
                fprintf(f, ", \"wait\": ");
                json_str(f, r->pair_mode);
                fprintf(f, ", \"msgs_per_s\": %.0f, \"x_this\": %.3f}", r->pair_msgs_s,
                        r->pair_x);
            }
            break;
        case R_BW:
            fprintf(f, ", \"gb_per_s\": %.3f", r->gb_s);
            break;
        case R_FANOUT:
        case R_SLOW:
            fprintf(f, ", \"readers\": %d, \"oversubscribed\": %s, "
                       "\"writer_msgs_per_s\": %.0f, \"reader_msgs_per_s\": [",
                    r->readers, r->oversub ? "true" : "false", r->w_msgs_s);
            for (int k = 0; k < r->readers && k < MAX_READERS_FANOUT; k++)
                fprintf(f, "%s%.0f", k ? ", " : "", r->rd_rates[k]);
            fprintf(f, "], \"reader_lost\": [");
            for (int k = 0; k < r->readers && k < MAX_READERS_FANOUT; k++)
                fprintf(f, "%s%llu", k ? ", " : "", (unsigned long long)r->rd_lost[k]);
            fprintf(f, "]");
            break;
        case R_IDLE:
            fprintf(f, ", \"seconds\": %.2f, \"cpu_ms\": %.3f, \"cpu_percent\": %.4f",
                    r->seconds, r->cpu_ms, r->cpu_pct);
            break;
        case R_PACED:
            fprintf(f, ", \"gap_us\": %u, \"n\": %ld, \"p50_ns\": %.1f, "
                       "\"p90_ns\": %.1f, \"p99_ns\": %.1f, \"p999_ns\": %.1f, "
                       "\"max_ns\": %.1f, \"mean_ns\": %.1f, \"seconds\": %.3f, "
                       "\"reader_cpu_percent\": %.2f",
                    r->gap_us, r->lat.n, r->lat.p50, r->lat.p90, r->lat.p99,
                    r->lat.p999, r->lat.max, r->lat.mean, r->seconds, r->cpu_pct);
            break;
        case R_STALL:
            fprintf(f, ", \"seconds\": %.3f, \"stalls\": %ld, \"stalls_per_s\": %.1f, "
                       "\"p50_ns\": %.1f, \"p99_ns\": %.1f, \"max_ns\": %.1f, "
                       "\"cpu_percent_lost\": %.3f",
                    r->seconds, r->lat.n, r->msgs_s, r->lat.p50, r->lat.p99,
                    r->lat.max, r->cpu_pct);
            break;
        }
        if (r->note[0]) {
            fprintf(f, ", \"note\": ");
            json_str(f, r->note);
        }
        fprintf(f, "}");
    }
    fprintf(f, "\n  ],\n  \"skipped\": [");
    for (int i = 0; i < nskips; i++) {
        fprintf(f, "%s\n    ", i ? "," : "");
        json_str(f, skips[i]);
    }
    fprintf(f, "\n  ],\n  \"failures\": %d\n}\n", failures);
    if (fclose(f) != 0) {
        fprintf(stderr, "shmkit-bench: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- SVG ---------------------------------------------------------------------------- */

static const char *palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                                "#bcbd22", "#17becf", "#000000", "#aec7e8"};

static void svg_text(FILE *f, double x, double y, const char *anchor, int size,
                     const char *s)
{
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\">",
            x, y, anchor, size);
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else
            fputc(*s, f);
    }
    fputs("</text>\n", f);
}

static double lg(double v) { return log10(v > 0 ? v : 1e-9); }

static int write_svg(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "shmkit-bench: %s: %s\n", path, strerror(errno));
        return -1;
    }
    /* panel 1: 64 B round trips, one row per mechanism/wait/payload */
    const result_t *rows[64];
    int nrows = 0;
    for (size_t i = 0; i < nresults && nrows < 64; i++)
        if (results[i].type == R_RTT && results[i].size == 64)
            rows[nrows++] = &results[i];
    /* panel 2: throughput series (group+mech+mode+payload), by size */
    struct series {
        char key[128];
        const result_t *pt[8];
        int n;
    } ser[24];
    int nser = 0;
    for (size_t i = 0; i < nresults; i++) {
        const result_t *r = &results[i];
        if (r->type != R_TPUT)
            continue;
        char key[128];
        snprintf(key, sizeof key, "%s%s%s%s%s %s", strcmp(r->group, "shmkit") ? r->group : "shmkit",
                 ": ", r->mech, strcmp(r->mode, "-") ? " " : "",
                 strcmp(r->mode, "-") ? r->mode : "", r->variant);
        int k;
        for (k = 0; k < nser; k++)
            if (!strcmp(ser[k].key, key))
                break;
        if (k == nser) {
            if (nser == 24)
                continue;
            snprintf(ser[nser].key, sizeof ser[nser].key, "%s", key);
            ser[nser].n = 0;
            nser++;
        }
        if (ser[k].n < 8)
            ser[k].pt[ser[k].n++] = r;
    }
    double W = 1000, rowh = 18, top1 = 60;
    double h1 = nrows * rowh + 60;
    double top2 = top1 + h1 + 60, h2 = 360;
    double H = top2 + h2 + 60 + (nser / 2 + 1) * 16;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "font-family=\"sans-serif\">\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            W, H);
    char t[512];
    snprintf(t, sizeof t, "shmkit %s bench, %s, %s, CPUs %d and %d, %s%s",
             shmkit_version(), host_model, host_kernel, cfg.cpu[0], cfg.cpu[1],
             run_date, cfg.quick ? " (--quick)" : "");
    svg_text(f, W / 2, 22, "middle", 13, t);
    /* panel 1 */
    double x0 = 330, x1 = W - 30, lo = 1, hi = 6; /* 10 ns .. 1 ms */
    for (size_t i = 0; i < (size_t)nrows; i++) {
        double v = rows[i]->lat.p999;
        if (v > 0 && lg(v) > hi)
            hi = ceil(lg(v));
    }
    svg_text(f, W / 2, top1 - 16, "middle", 14,
             "Round-trip latency, 64 B (bar: p50; whisker: p90 to p99.9; dot: p99)");
#define XS(v) (x0 + (lg(v) - lo) / (hi - lo) * (x1 - x0))
    for (double e = lo; e <= hi + 1e-9; e += 1) {
        double x = x0 + (e - lo) / (hi - lo) * (x1 - x0);
        static const char *lab[] = {"1 ns", "10 ns", "100 ns", "1 µs", "10 µs",
                                    "100 µs", "1 ms", "10 ms", "100 ms", "1 s"};
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                   "stroke=\"#ddd\"/>\n",
                x, top1, x, top1 + nrows * rowh);
        svg_text(f, x, top1 + nrows * rowh + 16, "middle", 11,
                 e >= 0 && e < 10 ? lab[(int)e] : "");
    }
    for (int i = 0; i < nrows; i++) {
        const result_t *r = rows[i];
        double y = top1 + i * rowh;
        char name[160];
        snprintf(name, sizeof name, "%s%s%s, %s, %s", strcmp(r->group, "shmkit") ? r->group : "shmkit",
                 ": ", r->mech, r->mode, r->variant);
        svg_text(f, x0 - 6, y + rowh * 0.7, "end", 11, name);
        const char *col = !strcmp(r->group, "shmkit") ? "#1f77b4"
                          : !strcmp(r->group, "floor") ? "#7f7f7f"
                          : !strcmp(r->group, "kernel") ? "#ff7f0e" : "#d62728";
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                   "fill=\"%s\" opacity=\"0.8\"/>\n",
                x0, y + 3, XS(r->lat.p50) - x0 > 0 ? XS(r->lat.p50) - x0 : 0,
                rowh - 6, col);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                   "stroke=\"black\"/>\n",
                XS(r->lat.p90), y + rowh / 2, XS(r->lat.p999), y + rowh / 2);
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\"/>\n", XS(r->lat.p99),
                y + rowh / 2);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                   "stroke=\"black\"/>\n",
                XS(r->lat.p999), y + 4, XS(r->lat.p999), y + rowh - 4);
    }
#undef XS
    /* panel 2 */
    double px0 = 90, px1 = W - 40, py0 = top2 + h2, py1 = top2;
    double xlo = lg(8), xhi = lg(1 << 20), ylo = -4, yhi = 2; /* 0.0001 .. 100 GB/s */
    svg_text(f, W / 2, top2 - 16, "middle", 14,
             "One-way throughput by message size (GB/s, log-log)");
    for (double e = ylo; e <= yhi + 1e-9; e += 1) {
        double y = py0 - (e - ylo) / (yhi - ylo) * (py0 - py1);
        char lab[32];
        snprintf(lab, sizeof lab, "%g", pow(10, e));
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
                px0, y, px1, y);
        svg_text(f, px0 - 6, y + 4, "end", 11, lab);
    }
    static const size_t sizes[] = {8, 64, 1024, 65536, 1 << 20};
    for (int k = 0; k < 5; k++) {
        double x = px0 + (lg((double)sizes[k]) - xlo) / (xhi - xlo) * (px1 - px0);
        char lab[32];
        fmt_size(sizes[k], lab, sizeof lab);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
                x, py0, x, py1);
        svg_text(f, x, py0 + 16, "middle", 11, lab);
    }
    for (int s = 0; s < nser; s++) {
        const char *col = palette[s % 12];
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\"%s points=\"",
                col, s >= 12 ? " stroke-dasharray=\"5,3\"" : "");
        for (int k = 0; k < ser[s].n; k++) {
            const result_t *r = ser[s].pt[k];
            double x = px0 + (lg((double)r->size) - xlo) / (xhi - xlo) * (px1 - px0);
            double yv = lg(r->gb_s);
            if (yv < ylo)
                yv = ylo;
            if (yv > yhi)
                yv = yhi;
            double y = py0 - (yv - ylo) / (yhi - ylo) * (py0 - py1);
            fprintf(f, "%.1f,%.1f ", x, y);
        }
        fputs("\"/>\n", f);
        for (int k = 0; k < ser[s].n; k++) {
            const result_t *r = ser[s].pt[k];
            double x = px0 + (lg((double)r->size) - xlo) / (xhi - xlo) * (px1 - px0);
            double yv = lg(r->gb_s);
            yv = yv < ylo ? ylo : yv > yhi ? yhi : yv;
            double y = py0 - (yv - ylo) / (yhi - ylo) * (py0 - py1);
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n", x, y,
                    col);
        }
        double lx = 60 + (s % 2) * (W / 2), ly = py0 + 40 + (s / 2) * 16;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                   "stroke-width=\"3\"%s/>\n",
                lx, ly - 4, lx + 24, ly - 4, col,
                s >= 12 ? " stroke-dasharray=\"5,3\"" : "");
        svg_text(f, lx + 30, ly, "start", 11, ser[s].key);
    }
    fputs("</svg>\n", f);
    if (fclose(f) != 0) {
        fprintf(stderr, "shmkit-bench: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- targets (informational: never an exit status) --------------------------- */

/* the sizes of the suite */
static const size_t all_sizes[] = {8, 64, 1024, 65536, 1 << 20};
#define NSIZES 5

static void target_line(const char *what, double got, double goal, int le,
                        const char *unit)
{
    if (got <= 0 || isnan(got)) {
        printf("  %-62s %10s\n", what, "n/a");
        return;
    }
    int ok = le ? got <= goal : got >= goal;
    printf("  %-62s %9.2f%s  (target %s %.2f%s)  %s\n", what, got, unit,
           le ? "<=" : ">=", goal, unit, ok ? "met" : "MISSED");
}

/* A rate over the reference ring run right before it (the median ratio of
 * the runs of a repeated point: see run_tput), or
 * else over the ring of the floors section (fallback). */
static double xref(const result_t *r, double fallback)
{
    if (r->ref_adj > 0)
        return r->msgs_s / r->ref_adj;
    return fallback > 0 ? r->msgs_s / fallback : 0;
}

/* Two line floors (p50 ns) from different placements of the two vCPUs:
 * this host moves them between ~100 ns ("close together", one cache) and
 * ~400 ns ("far apart") within minutes, and the rates of every mechanism
 * move with it, so ratios across the two compare nothing. */
static int placement_differs(double a, double b)
{
    return a > 0 && b > 0 && (a > 1.5 * b || b > 1.5 * a);
}

/* The run's lowest and highest line floor, measured next to its points. */
static void floor_range(double *lo, double *hi)
{
    *lo = 0;
    *hi = 0;
    for (size_t i = 0; i < nresults; i++) {
        double f = results[i].line_p50;
        if ((results[i].type != R_RTT && results[i].type != R_TPUT) || f <= 0)
            continue;
        if (*lo == 0 || f < *lo)
            *lo = f;
        if (f > *hi)
            *hi = f;
    }
}

static void print_targets(void)
{
    section("targets of issue 4 (ratios within this run; informational)");
    const result_t *q = find_result(R_RTT, "shmkit", "queue", "spin", "copy", 64);
    const result_t *fut = find_result(R_RTT, "floor", "futex wait/wake", "block", NULL, 64);
    if (q && q->line_p50 > 0) {
        target_line("queue spin 64 B RTT p50 / cache-line floor p50 (adjacent)",
                    q->lat.p50 / q->line_p50, 1.25, 1, "x");
        /* the floor's p99.9 from the queue point's own processes (20,000
         * round trips right before it), else the floors section's */
        if (q->line_p999 > 0)
            target_line("queue spin 64 B RTT p99.9 / cache-line floor p99.9 (adjacent)",
                        q->lat.p999 / q->line_p999, 3, 1, "x");
        else if (line_p999 > 0)
            target_line("queue spin 64 B RTT p99.9 / cache-line floor p99.9 (start)",
                        q->lat.p999 / line_p999, 3, 1, "x");
    }
    /* no target: how much of the 1.25x a round trip over two channels
     * spends before it carries anything (floors.c, "line per direction") */
    const result_t *l1 = find_result(R_RTT, "floor", "cache line", "spin", NULL, 64);
    const result_t *l2 = find_result(R_RTT, "floor", "line per direction", "spin", NULL, 64);
    if (l1 && l2 && l1->lat.p50 > 0)
        printf("  %-62s %9.2fx  (no target: a line each way, nothing carried)\n",
               "line-per-direction floor p50 / cache-line floor p50 (start)",
               l2->lat.p50 / l1->lat.p50);
    double flo, fhi;
    floor_range(&flo, &fhi);
    if (placement_differs(flo, fhi))
        printf("  note: the line floor moved between %.0f and %.0f ns during this run:\n"
               "        the vCPUs changed placement; compare points (and peers) only at\n"
               "        like floors (the notes and the JSON give each point's)\n",
               flo, fhi);
    /* what decides a p99.9 on this machine: see run_stalls() in floors.c */
    double stall_rate = 0, stall_p50 = 0;
    for (size_t i = 0; i < nresults; i++)
        if (results[i].type == R_STALL) {
            stall_rate += results[i].msgs_s;
            if (results[i].lat.p50 > stall_p50)
                stall_p50 = results[i].lat.p50;
        }
    if (stall_rate > 0)
        printf("  note: the two CPUs stall %.0f times a second (p50 %.1f us): a round "
               "trip\n        longer than ~%.0f ns is hit more than 0.1%% of the time, "
               "and its p99.9 is such a stall\n",
               stall_rate, stall_p50 / 1e3, 0.001 / stall_rate * 1e9);
    const result_t *t64 = find_result(R_TPUT, "shmkit", "queue", "spin", "copy", 64);
    if (t64)
        target_line("queue one-way 64 B / reference ring (adjacent)", xref(t64, ref64_rate),
                    0.5, 0, "x");
    /* send_more: one commit per batch, as the reference ring publishes */
    const result_t *b64 = find_result(R_TPUT, "shmkit", "queue batched", "spin", "copy", 64);
    if (b64)
        target_line("queue batched one-way 64 B / reference ring (adjacent)",
                    xref(b64, ref64_rate), 0.5, 0, "x");
    const result_t *ice = find_result(R_TPUT, "peer", "iceoryx", NULL, "copy", 64);
    /* side by side: the queue one by one and iceoryx alternating in the
     * same processes (run_peer_tput) */
    if (ice && ice->pair_x > 0)
        target_line("queue one-way 64 B / iceoryx (side by side)", ice->pair_x, 100, 0, "x");
    /* no target: what the machine allows (the ring run right before) */
    if (ice && ice->ref_adj > 0 && ice->msgs_s > 0)
        printf("  %-62s %9.2fx  (no target: the ceiling of the ratio above)\n",
               "reference ring one-way 64 B / iceoryx (adjacent)", ice->ref_adj / ice->msgs_s);
    for (int k = 0; k < 2; k++) {
        const result_t *t = k ? b64 : t64;
        if (!t || !ice || ice->msgs_s <= 0)
            continue;
        const char *what = k ? "queue batched one-way 64 B / iceoryx (ring-normalised)"
                             : "queue one-way 64 B / iceoryx (ring-normalised)";
        /* each over the ring next to it */
        double x = t->ref_adj > 0 && ice->ref_adj > 0 ? xref(t, 0) / xref(ice, 0)
                                                      : t->msgs_s / ice->msgs_s;
        if (placement_differs(t->line_p50, ice->line_p50))
            printf("  %-62s %9.2fx  not comparable: line floor %.0f ns there, "
                   "%.0f ns at iceoryx's\n", what, x, t->line_p50, ice->line_p50);
        else
            target_line(what, x, 100, 0, "x");
    }
    const result_t *c64k = find_result(R_TPUT, "shmkit", "queue", "spin", "copy", 65536);
    const result_t *z64k = find_result(R_TPUT, "shmkit", "queue", "spin", "zero-copy", 65536);
    const result_t *h64k = find_result(R_TPUT, "shmkit", "queue", "spin", "hand-off", 65536);
    if (c64k)
        target_line("queue 64 KiB copy GB/s / reference ring (adjacent)",
                    xref(c64k, ref64k_rate), 0.9, 0, "x");
    if (z64k)
        target_line("queue 64 KiB zero-copy GB/s / reference ring (adjacent)",
                    xref(z64k, ref64k_rate), 0.9, 0, "x");
    if (h64k && t64)
        target_line("queue 64 KiB hand-off msg/s / queue 64 B msg/s",
                    h64k->msgs_s / t64->msgs_s, 1.0, 0, "x");
    if (h64k) /* context: what the hardware allows */
        target_line("queue 64 KiB hand-off msg/s / ring hand-off (adjacent)",
                    xref(h64k, ref64k_handoff_rate), 0.9, 0, "x");
    /* block and adaptive: against their partners, side by side in the
     * same processes (run_rtt_beside); else against the futex floor run
     * right before, or the spin point through each one's line floor */
    const result_t *qb = find_result(R_RTT, "shmkit", "queue", "block", "copy", 64);
    if (qb && qb->pair.n > 0 && qb->pair.p50 > 0)
        target_line("queue block 64 B RTT p50 / futex floor p50 (side by side)",
                    qb->lat.p50 / qb->pair.p50, 1.1, 1, "x");
    else if (qb && (qb->futex_p50 > 0 || fut))
        target_line("queue block 64 B RTT p50 / futex floor p50 (adjacent)",
                    qb->lat.p50 / (qb->futex_p50 > 0 ? qb->futex_p50 : fut->lat.p50), 1.1,
                    1, "x");
    const result_t *qa = find_result(R_RTT, "shmkit", "queue", "adaptive", "copy", 64);
    for (int i = 0; i < NSIZES; i++) {
        const result_t *a = find_result(R_RTT, "shmkit", "queue", "adaptive", "copy",
                                        all_sizes[i]);
        char w[96], sz[32];
        if (!a || a->pair.n <= 0 || a->pair.p50 <= 0)
            continue;
        fmt_size(all_sizes[i], sz, sizeof sz);
        snprintf(w, sizeof w, "queue adaptive %s RTT p50 / queue spin p50 (side by side)", sz);
        target_line(w, a->lat.p50 / a->pair.p50, 1.3, 1, "x");
    }
    if (qa && qa->pair.n <= 0 && q) /* each over the line floor next to it */
        target_line("queue adaptive 64 B RTT p50 / queue spin p50 (floor-normalised)",
                    qa->line_p50 > 0 && q->line_p50 > 0
                        ? (qa->lat.p50 / qa->line_p50) / (q->lat.p50 / q->line_p50)
                        : qa->lat.p50 / q->lat.p50,
                    1.3, 1, "x");
    for (size_t i = 0; i < nresults; i++)
        if (results[i].type == R_IDLE) {
            char w[96];
            snprintf(w, sizeof w, "idle %s reader CPU", results[i].mode);
            target_line(w, results[i].cpu_pct, 0.1, 1, "%");
        }
    const result_t *f1 = NULL;
    for (size_t i = 0; i < nresults; i++) {
        const result_t *r = &results[i];
        if (r->type != R_FANOUT || strcmp(r->mech, "bus lossy"))
            continue;
        if (r->readers == 1)
            f1 = r;
        else if (f1 && !r->oversub) {
            char w[96];
            snprintf(w, sizeof w, "bus lossy writer rate, %d readers / 1 reader", r->readers);
            target_line(w, r->w_msgs_s / f1->w_msgs_s, 0.8, 0, "x");
        }
    }
    /* faster than every peer at every size (p50 and p99.9), spin vs spin.
     * A peer's point carries shmkit's queue measured alongside it, in the
     * same two processes (run_peer_rtt): compared as they are.  Otherwise
     * (an older caller) each point is divided by the cache-line floor
     * measured right before it, which follows the placement of the vCPUs
     * only roughly, and not at all for copies of 64 KiB and more. */
    int cmp = 0, won50 = 0, won999 = 0, side = 0;
    char lost_to[512] = "";
    for (size_t i = 0; i < nresults; i++) {
        const result_t *r = &results[i];
        if (r->type != R_RTT || strcmp(r->group, "peer"))
            continue;
        double m50, m999, p50 = r->lat.p50, p999 = r->lat.p999;
        if (r->pair.n > 0) {
            m50 = r->pair.p50;
            m999 = r->pair.p999;
            side++;
        } else {
            const result_t *me = strcmp(r->variant, "copy")
                                     ? NULL
                                     : find_result(R_RTT, "shmkit", "queue", "spin", "copy",
                                                   r->size);
            if (!me)
                continue;
            int norm = me->line_p50 > 0 && r->line_p50 > 0;
            m50 = me->lat.p50 / (norm ? me->line_p50 : 1);
            m999 = me->lat.p999 / (norm ? me->line_p50 : 1);
            p50 /= norm ? r->line_p50 : 1;
            p999 /= norm ? r->line_p50 : 1;
        }
        cmp++;
        int w50 = m50 < p50, w999 = m999 < p999;
        won50 += w50;
        won999 += w999;
        if (!w50 || !w999) {
            size_t l = strlen(lost_to);
            snprintf(lost_to + l, sizeof lost_to - l, " %s%s@%zu%s", r->mech,
                     strcmp(r->variant, "copy") ? " zero-copy" : "", r->size,
                     w50 ? "(p99.9)" : w999 ? "(p50)" : "");
        }
    }
    if (cmp)
        printf("  %-62s %d/%d p50, %d/%d p99.9%s%s\n",
               side == cmp ? "queue spin RTT below the peers' (side by side; points won)"
                           : "queue spin RTT below the peers' (points won)",
               won50, cmp, won999, cmp, lost_to[0] ? "; not faster:" : "", lost_to);
}

/* ---- main ----------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs("usage: shmkit-bench [OPTIONS]\n"
          "\n"
          "The shmkit benchmark suite: round-trip latency and one-way throughput of\n"
          "shmkit's channels next to the machine's floors (cache-line ping-pong,\n"
          "futex, memcpy, a minimal SPSC ring), the kernel's IPC (pipe, UNIX socket,\n"
          "POSIX mq) and the installed peers (iceoryx, ZeroMQ, Boost.Interprocess).\n"
          "Two processes pinned to two CPUs; ratios are within one run.  A peer's\n"
          "points, and the block and adaptive round trips, run side by side with\n"
          "what their targets compare them with (the queue, the futex floor, spin),\n"
          "interleaved in the same two processes: a row \"..., alongside\" under\n"
          "the point gives the partner's figures.  A paced stream (64 B every 20\n"
          "to 1000 us) gives each waiting mode's latency against its reader's CPU.\n"
          "\n"
          "options:\n"
          "  --quick            a few seconds: floors, shmkit queue 64 B, pipe\n"
          "  --json FILE        also write the results as JSON\n"
          "  --svg FILE         also draw them (latency at 64 B, throughput by size)\n"
          "  --rounds N         timed round trips per point (default 100000;\n"
          "                     --quick 20000)\n"
          "  --big-rounds N     ... per 1 MiB point (default: as --rounds; each\n"
          "                     is 0.1-0.4 ms, so 100000 take 10-40 s a point)\n"
          "  --warmup N         untimed round trips first (default 10000)\n"
          "  --seconds S        one-way throughput duration, and a paced stream's\n"
          "                     (default 2; --quick 0.3)\n"
          "  --idle-seconds S   idle blocked reader duration (default 5; --quick 1)\n"
          "  --repeat N         run each latency point, and each one-way point\n"
          "                     with a reference ring (64 B, 64 KiB), N times;\n"
          "                     report medians\n"
          "  --cpus A,B         pin the two sides to CPUs A and B (default: the\n"
          "                     first two CPUs this process may use)\n"
          "  --only PAT[,PAT]   only points whose label contains a PAT; labels look\n"
          "                     like rtt:shmkit:queue:spin:copy:64, tput:kernel:pipe:-:copy:65536,\n"
          "                     fanout:bus lossy:4, slow:bus reliable, idle:block,\n"
          "                     paced:queue:adaptive:100us, stall:floor:cpu\n"
          "  --no-peers         skip iceoryx, ZeroMQ and Boost\n"
          "  -h, --help         this help\n"
          "\n"
          "Exit status: 0, or 1 when something did not work (a message arrived wrong,\n"
          "a child failed, a segment was left behind), 2 bad usage, 77 fewer than two\n"
          "CPUs to pin to (nothing measured).  Slow numbers never fail.\n",
          f);
}

static int parse_cpus(const char *s)
{
    int a, b;
    if (sscanf(s, "%d,%d", &a, &b) != 2 || a < 0 || b < 0 || a >= CPU_SETSIZE ||
        b >= CPU_SETSIZE)
        return -1;
    cfg.cpu[0] = a;
    cfg.cpu[1] = b;
    return 0;
}

static int check_dev_shm(void)
{
    char prefix[64];
    int left = 0;
    snprintf(prefix, sizeof prefix, "skb-%d-", (int)main_pid);
    DIR *d = opendir("/dev/shm");
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, prefix, strlen(prefix))) {
            char p[512];
            printf("FAILED: left behind in /dev/shm: %s\n", e->d_name);
            snprintf(p, sizeof p, "/dev/shm/%s", e->d_name);
            unlink(p);
            left++;
        }
    closedir(d);
    return left;
}


/* a kernel baseline's points; peer: a peer's, its round trips side by side
 * with shmkit's queue */
static void run_kernel(const mech_t *m, int peer)
{
    for (int i = 0; i < NSIZES; i++) {
        if (peer)
            run_peer_rtt(m, all_sizes[i], PAY_COPY, "-");
        else
            run_rtt(m, all_sizes[i], PAY_COPY, 0, "-");
    }
    for (int i = 0; i < NSIZES; i++) {
        if (peer)
            run_peer_tput(m, all_sizes[i], PAY_COPY, "-");
        else
            run_tput(m, all_sizes[i], PAY_COPY, 0, "-");
    }
}

int main(int argc, char **argv)
{
    const char *json = NULL, *svg = NULL;
    int no_peers = 0;
    long rounds = -1, warmup = -1, big_rounds = -1;
    double seconds = -1, idle = -1;
    int cpus_given = 0;
    static const struct option opts[] = {
        {"quick", no_argument, NULL, 'q'},     {"json", required_argument, NULL, 'j'},
        {"svg", required_argument, NULL, 's'}, {"rounds", required_argument, NULL, 'r'},
        {"big-rounds", required_argument, NULL, 'B'},
        {"warmup", required_argument, NULL, 'w'},
        {"seconds", required_argument, NULL, 'S'},
        {"idle-seconds", required_argument, NULL, 'I'},
        {"repeat", required_argument, NULL, 'R'},
        {"cpus", required_argument, NULL, 'c'}, {"only", required_argument, NULL, 'o'},
        {"no-peers", no_argument, NULL, 'P'},  {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},      {NULL, 0, NULL, 0}};
    int c;
    cfg.repeat = 1;
    while ((c = getopt_long(argc, argv, "hqv", opts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'q': cfg.quick = 1; break;
        case 'j': json = optarg; break;
        case 's': svg = optarg; break;
        case 'r': rounds = strtol(optarg, &end, 10); break;
        case 'B': big_rounds = strtol(optarg, &end, 10); break;
        case 'w': warmup = strtol(optarg, &end, 10); break;
        case 'S': seconds = strtod(optarg, &end); break;
        case 'I': idle = strtod(optarg, &end); break;
        case 'R': cfg.repeat = (int)strtol(optarg, &end, 10); break;
        case 'c':
            if (parse_cpus(optarg) < 0) {
                fprintf(stderr, "shmkit-bench: --cpus wants A,B (two CPU numbers)\n");
                return 2;
            }
            cpus_given = 1;
            break;
        case 'o': cfg.only = optarg; break;
        case 'P': no_peers = 1; break;
        case 'v': cfg.verbose = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (end && *end) {
            fprintf(stderr, "shmkit-bench: bad number '%s'\n", optarg);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "shmkit-bench: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if ((rounds != -1 && rounds < 100) || (big_rounds != -1 && big_rounds < 100) ||
        (warmup != -1 && warmup < 0) ||
        (seconds != -1 && seconds <= 0) || (idle != -1 && idle <= 0) ||
        cfg.repeat < 1 || cfg.repeat > 15) {
        fprintf(stderr, "shmkit-bench: --rounds and --big-rounds >= 100, --seconds > 0, "
                        "--repeat 1..15\n");
        return 2;
    }
    cfg.rounds = rounds > 0 ? rounds : cfg.quick ? 20000 : 100000;
    cfg.big_rounds = big_rounds > 0 ? big_rounds : cfg.rounds;
    cfg.warmup = warmup >= 0 ? warmup : cfg.quick ? 2000 : 10000;
    cfg.seconds = seconds > 0 ? seconds : cfg.quick ? 0.3 : 2.0;
    cfg.idle_seconds = idle > 0 ? idle : cfg.quick ? 1.0 : 5.0;

    cpu_set_t set;
    CPU_ZERO(&set);
    sched_getaffinity(0, sizeof set, &set);
    for (int i = 0; i < CPU_SETSIZE && cfg.ncpu < 64; i++)
        if (CPU_ISSET(i, &set))
            cfg.cpus[cfg.ncpu++] = i;
    if (!cpus_given) {
        cfg.cpu[0] = cfg.cpus[0];
        cfg.cpu[1] = cfg.ncpu > 1 ? cfg.cpus[1] : cfg.cpus[0];
    } else if (!CPU_ISSET(cfg.cpu[0], &set) || !CPU_ISSET(cfg.cpu[1], &set)) {
        fprintf(stderr, "shmkit-bench: --cpus %d,%d: this process may not run on "
                        "CPU %d\n", cfg.cpu[0], cfg.cpu[1],
                !CPU_ISSET(cfg.cpu[0], &set) ? cfg.cpu[0] : cfg.cpu[1]);
        return 2;
    }

    if (cfg.cpu[0] == cfg.cpu[1]) {
        /* two spinning sides on one CPU only meet once per time slice */
        printf("shmkit-bench: needs two CPUs (this process may use %d%s); "
               "nothing measured\n",
               cfg.ncpu, cpus_given ? ", and --cpus named one twice" : "");
        return 77;
    }
    main_pid = getpid();
    atexit(cleanup_all);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    signal(SIGPIPE, SIG_IGN);

    long most = cfg.big_rounds > cfg.rounds ? cfg.big_rounds : cfg.rounds;
    /* two points' samples: a peer's round trips side by side with shmkit's */
    ctl_size = sizeof(struct ctrl) + (size_t)(2 * most + 16) * sizeof(uint64_t);
    ctl = mmap(NULL, ctl_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (ctl == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    calibrate_timer();
    host_info();
    printf("shmkit-bench %s%s: %s, %s\n", shmkit_version(), cfg.quick ? " --quick" : "",
           host_model, host_kernel);
    printf("CPUs: A (pinger, writer) on CPU %d, B (ponger, reader) on CPU %d; "
           "%d usable of %ld online%s\n",
           cfg.cpu[0], cfg.cpu[1], cfg.ncpu, sysconf(_SC_NPROCESSORS_ONLN),
           cfg.cpu[0] == cfg.cpu[1] ? " (ONE CPU: both sides share it)" : "");
    printf("round trips: %ld warm-up + %ld timed per point; one-way: %.2f s per point; "
           "timer: %s\n",
           cfg.warmup, cfg.rounds, cfg.seconds,
           bench_use_tsc ? "TSC (invariant)" : "CLOCK_MONOTONIC");
    printf("times in ns; x line = p50 / the p50 of a short cache-line floor run in the "
           "point's processes\nright before it (the hypervisor may move vCPUs mid-run); "
           "x ref = rate / the reference\nring's at that size (hand-off: the ring's "
           "hand-off), run right before it\n");

    uint64_t t_begin = now_ns();

    /* floors */
    run_floors();

    /* shmkit */
    static const mech_t *kinds[] = {&mech_sk_queue, &mech_sk_bus_lossy,
                                    &mech_sk_bus_reliable, &mech_sk_latest};
    section("shmkit");
    if (cfg.quick) {
        run_rtt(&mech_sk_queue, 64, PAY_COPY, SHMKIT_WAIT_SPIN, "spin");
        run_tput(&mech_sk_queue, 64, PAY_COPY, SHMKIT_WAIT_SPIN, "spin");
        run_tput(&mech_sk_queue_batched, 64, PAY_COPY, SHMKIT_WAIT_SPIN, "spin");
        run_burst(&mech_sk_queue_hold0, 64, SHMKIT_WAIT_SPIN, "spin");
        run_burst(&mech_sk_queue, 64, SHMKIT_WAIT_SPIN, "spin");
        run_paced(SHMKIT_WAIT_ADAPTIVE, 0, 100, 2 * most);
    } else {
        for (int k = 0; k < 4; k++)
            for (int i = 0; i < NSIZES; i++) {
                run_rtt(kinds[k], all_sizes[i], PAY_COPY, SHMKIT_WAIT_SPIN, "spin");
                run_rtt(kinds[k], all_sizes[i], PAY_ZC, SHMKIT_WAIT_SPIN, "spin");
            }
        /* side by side with what their targets compare them with */
        for (int k = 0; k < 4; k++)
            run_rtt_beside(kinds[k], 64, PAY_COPY, SHMKIT_WAIT_ADAPTIVE, "adaptive",
                           kinds[k], SHMKIT_WAIT_SPIN, "spin");
        for (int k = 0; k < 4; k++)
            run_rtt_beside(kinds[k], 64, PAY_COPY, SHMKIT_WAIT_BLOCK, "block", &mech_futex,
                           0, "block");
        /* the queue's other sizes in both waiting modes (the futex floor
         * carries no payload: block alone there) */
        for (int i = 0; i < NSIZES; i++) {
            if (all_sizes[i] == 64)
                continue;
            run_rtt_beside(&mech_sk_queue, all_sizes[i], PAY_COPY, SHMKIT_WAIT_ADAPTIVE,
                           "adaptive", &mech_sk_queue, SHMKIT_WAIT_SPIN, "spin");
            run_rtt(&mech_sk_queue, all_sizes[i], PAY_COPY, SHMKIT_WAIT_BLOCK, "block");
        }
        for (int k = 0; k < 4; k++)
            for (int i = 0; i < NSIZES; i++) {
                run_tput(kinds[k], all_sizes[i], PAY_COPY, SHMKIT_WAIT_SPIN, "spin");
                run_tput(kinds[k], all_sizes[i], PAY_ZC, SHMKIT_WAIT_SPIN, "spin");
            }
        for (int i = 0; i < NSIZES; i++) {
            run_tput(&mech_sk_queue_batched, all_sizes[i], PAY_COPY, SHMKIT_WAIT_SPIN,
                     "spin");
            run_tput(&mech_sk_queue_batched, all_sizes[i], PAY_ZC, SHMKIT_WAIT_SPIN,
                     "spin");
        }
        run_tput(&mech_sk_queue, 65536, PAY_HANDOFF, SHMKIT_WAIT_SPIN, "spin");
        run_tput(&mech_sk_queue_batched, 65536, PAY_HANDOFF, SHMKIT_WAIT_SPIN, "spin");
        run_tput(&mech_sk_queue, 1 << 20, PAY_HANDOFF, SHMKIT_WAIT_SPIN, "spin");
        for (int i = 0; i < NSIZES; i++) {
            run_tput(&mech_sk_queue, all_sizes[i], PAY_COPY, SHMKIT_WAIT_ADAPTIVE, "adaptive");
            run_tput(&mech_sk_queue, all_sizes[i], PAY_COPY, SHMKIT_WAIT_BLOCK, "block");
        }
        /* the reader's hold: the rate it buys, the latency it costs */
        run_tput(&mech_sk_queue_hold0, 64, PAY_COPY, SHMKIT_WAIT_SPIN, "spin");
        run_tput(&mech_sk_queue_hold0, 8, PAY_COPY, SHMKIT_WAIT_SPIN, "spin");
        run_burst(&mech_sk_queue_hold0, 64, SHMKIT_WAIT_SPIN, "spin");
        run_burst(&mech_sk_queue, 64, SHMKIT_WAIT_SPIN, "spin");
        section("shmkit bus: fan-out, slow reader; idle reader CPU");
        for (int rel = 0; rel < 2; rel++)
            for (int n = 1; n <= 8; n *= 2)
                run_fanout(rel, n);
        run_slow_reader(0);
        run_slow_reader(1);
        run_idle(SHMKIT_WAIT_BLOCK);
        run_idle(SHMKIT_WAIT_ADAPTIVE);
        section("shmkit: a paced stream, latency against the reader's CPU");
        static const unsigned gaps[] = {20, 100, 200, 1000};
        for (int i = 0; i < 4; i++) {
            run_paced(SHMKIT_WAIT_SPIN, 0, gaps[i], 2 * most);
            run_paced(SHMKIT_WAIT_ADAPTIVE, 0, gaps[i], 2 * most);
            run_paced(SHMKIT_WAIT_ADAPTIVE, 1, gaps[i], 2 * most);
            run_paced(SHMKIT_WAIT_BLOCK, 0, gaps[i], 2 * most);
        }
    }

    /* kernel */
    section("kernel");
    if (cfg.quick) {
        /* side by side with the queue, as the peers' points run (and so
         * that CTest's quick run, which has no peers, runs that path) */
        run_peer_rtt(&mech_pipe, 64, PAY_COPY, "-");
        run_peer_tput(&mech_pipe, 64, PAY_COPY, "-");
    } else {
        run_kernel(&mech_pipe, 0);
        run_kernel(&mech_unix, 0);
        run_kernel(&mech_mq, 0);
        mq_restore_limits();
    }

    /* peers */
    if (!cfg.quick && !no_peers) {
        section("peers (spin / busy-poll where the peer has it)");
#ifdef HAVE_ICEORYX
        for (int i = 0; i < NSIZES; i++) {
            run_peer_rtt(&mech_iceoryx, all_sizes[i], PAY_COPY, "spin");
            run_peer_rtt(&mech_iceoryx, all_sizes[i], PAY_ZC, "spin");
        }
        for (int i = 0; i < NSIZES; i++) {
            run_peer_tput(&mech_iceoryx, all_sizes[i], PAY_COPY, "spin");
            run_peer_tput(&mech_iceoryx, all_sizes[i], PAY_ZC, "spin");
        }
        iceoryx_stop_roudi();
#else
        add_skip("peer: iceoryx", "not built in; install libiceoryx-binding-c-dev "
                                  "(and iceoryx's iox-roudi), then re-run cmake");
#endif
#ifdef HAVE_ZMQ
        run_kernel(&mech_zmq, 1);
#else
        add_skip("peer: zeromq", "not built in; install libzmq3-dev, then re-run cmake");
#endif
#ifdef HAVE_BOOST
        for (int i = 0; i < NSIZES; i++)
            run_peer_rtt(&mech_boost, all_sizes[i], PAY_COPY, "spin");
        for (int i = 0; i < NSIZES; i++)
            run_peer_tput(&mech_boost, all_sizes[i], PAY_COPY, "spin");
#else
        add_skip("peer: boost", "not built in; install libboost-dev and a C++ "
                                "compiler, then re-run cmake");
#endif
    }

    if (!cfg.quick)
        print_targets();
    cleanup_all();
    if (check_dev_shm())
        failures++;
    printf("\ntotal %.1f s; %zu results, %d skipped, %d failed\n",
           (double)(now_ns() - t_begin) / 1e9, nresults, nskips, failures);
    if (json && write_json(json) < 0)
        failures++;
    if (svg && write_svg(svg) < 0)
        failures++;
    return failures ? 1 : 0;
}
