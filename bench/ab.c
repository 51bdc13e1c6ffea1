/*
 * ab.c - shmkit-ab: two builds of libshmkit compared in one run.
 *
 * On the VMs we measure on, the hypervisor moves the two vCPUs between
 * placements (a line floor of ~60, ~120, ~240 or ~400 ns) from one process
 * start to the next, and sometimes within a second.  Two builds measured
 * one after the other therefore often compare two placements, not two
 * builds.  This tool loads both builds into the same two processes
 * (dlopen, RTLD_LOCAL: each keeps its own symbols) and runs every point
 * for A and then for B (B first in odd rounds), round after round, with
 * the one-line floor measured at the start and the end of each round.  A
 * round whose two floors differ by more than 1.5x changed placement and is
 * left out of the summary, which gives per point the median of B / A over
 * the remaining rounds.
 *
 * Points, for N in 8, 64, 1k: rN a round trip of N bytes (copied in and
 * out) over queues, mN over multi-producer queues, lN over latest
 * channels, kN through two seqlock-protected values (shmkit_seqlock_write
 * and _read); sN a stream of N-byte messages sent one by one, pN the same
 * through a multi-producer queue (one producer), bN a stream sent with
 * send_more, hN a hand-off stream (reserve, the first 8 bytes written,
 * commit; peek, those 8 read, release).  s and h also take N = 64k.
 * Readers and writers spin; other options are the defaults.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <shmkit.h>

#define MAX_POINTS 16
#define MAX_ROUNDS 1000
#define RTT_N 20000              /* round trips per point and build */
#define WAIT_NS 10000000000ll    /* no single wait takes 10 s */

typedef struct lib {
    const char *path;
    void (*copts)(shmkit_channel_opts_t *, shmkit_kind_t);
    int (*create)(const char *, const shmkit_channel_opts_t *);
    void (*eopts)(shmkit_endpoint_opts_t *);
    int (*wopen)(const char *, const shmkit_endpoint_opts_t *, shmkit_writer_t **);
    int (*ropen)(const char *, const shmkit_endpoint_opts_t *, shmkit_reader_t **);
    int (*send)(shmkit_writer_t *, const void *, size_t, int64_t);
    int (*send_more)(shmkit_writer_t *, const void *, size_t, int64_t);
    int (*recv)(shmkit_reader_t *, void *, size_t, size_t *, int64_t);
    int (*wclose)(shmkit_writer_t *);
    int (*rclose)(shmkit_reader_t *);
    int (*unlink)(const char *);
    const char *(*err)(void);
    void (*sl_write)(shmkit_seqlock_t *, void *, const void *, size_t);
    int (*sl_read)(shmkit_seqlock_t *, void *, const void *, size_t, int64_t);
    int (*reserve)(shmkit_writer_t *, size_t, void **, int64_t);
    int (*commit)(shmkit_writer_t *, size_t);
    int (*peek)(shmkit_reader_t *, const void **, size_t *, int64_t);
    int (*release)(shmkit_reader_t *);
} lib_t;

typedef struct point {
    char name[8];
    char kind;   /* 'r' round trip, 's' stream, 'b' batched stream, ... */
    size_t size;
} point_t;

/* shared by the two processes */
struct shared {
    _Alignas(64) _Atomic uint64_t line; /* the one-line floor */
    /* the seqlock points' two values: [direction], a seqlock and then
     * the value, as a user would lay them out */
    struct {
        _Alignas(64) shmkit_seqlock_t lock;
        unsigned char value[1024];
    } sl[2];
    _Alignas(64) _Atomic uint32_t arrived;
    _Atomic int failed;
    /* results, written by side A: [round][point][build] and floors */
    double val[MAX_ROUNDS][MAX_POINTS][2];
    double floor_ns[MAX_ROUNDS][2];
};

static lib_t L[2];
static point_t P[MAX_POINTS];
static int npoints, rounds = 8, cpu[2] = {-1, -1};
static double seconds = 0.3;
static struct shared *SH;
/* [build][channel]: channel 2c + d is direction d (0: A writes) of a
 * single-producer queue (c = 0), a multi-producer queue (c = 1) or a
 * latest channel (c = 2) */
#define NCHAN 6
static char names[2][NCHAN][64];
static double tsc_ns = 1;     /* ns per clock tick */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: shmkit-ab [OPTIONS] LIB_A LIB_B\n"
            "\n"
            "Compares two builds of libshmkit (two libshmkit.so files) in one pair\n"
            "of processes pinned to two CPUs.  Both builds are loaded side by side\n"
            "and every point runs for A, then for B (B first in odd rounds), round\n"
            "after round, so that both see the same placement of the two CPUs;\n"
            "the one-line floor is measured at each round's start and end, and a\n"
            "round whose two floors differ by more than 1.5x is left out of the\n"
            "summary: per point, the median of B / A over the rounds kept.\n"
            "\n"
            "options:\n"
            "  --points LIST   comma-separated, from r8 r64 r1k (round trip p50,\n"
            "                  ns), m8 m64 m1k (the same over multi-producer\n"
            "                  queues), l8 l64 l1k (over latest channels),\n"
            "                  k8 k64 k1k (through two seqlock-protected values),\n"
            "                  s8 s64 s1k (stream sent one by one,\n"
            "                  M msg/s), p8 p64 p1k (the same over a multi-\n"
            "                  producer queue), b8 b64 b1k (stream with\n"
            "                  send_more), h8 h64 h1k (hand-off stream: reserve,\n"
            "                  8 bytes written, commit; peek, 8 read, release);\n"
            "                  s and h also at 64k\n"
            "                  (default r8,r64,s8,s64,s1k,b64)\n"
            "  --rounds N      rounds (default 8, at most %d)\n"
            "  --seconds S     duration of each stream point (default 0.3)\n"
            "  --cpus A,B      the two CPUs (default: the first two allowed)\n"
            "  -h, --help      this help\n"
            "\n"
            "Build B from a copy of the tree, e.g.\n"
            "  cmake -S . -B /tmp/b && cmake --build /tmp/b --target shmkit\n"
            "  shmkit-ab build/libshmkit.so /tmp/b/libshmkit.so\n"
            "\n"
            "Exit status: 0; 1 when a build could not be loaded or a point failed;\n"
            "2 bad usage; 77 fewer than two CPUs.\n",
            MAX_ROUNDS);
}

static int load(lib_t *l, const char *path)
{
    l->path = path;
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "shmkit-ab: cannot load %s: %s\n", path, dlerror());
        return -1;
    }
#define SYM(f, n)                                                                  \
    do {                                                                           \
        *(void **)&l->f = dlsym(h, n);                                             \
        if (!l->f) {                                                               \
            fprintf(stderr, "shmkit-ab: %s has no %s: not a libshmkit build?\n",   \
                    path, n);                                                      \
            return -1;                                                             \
        }                                                                          \
    } while (0)
    SYM(copts, "shmkit_channel_opts_init");
    SYM(create, "shmkit_channel_create");
    SYM(eopts, "shmkit_endpoint_opts_init");
    SYM(wopen, "shmkit_writer_open");
    SYM(ropen, "shmkit_reader_open");
    SYM(send, "shmkit_writer_send");
    SYM(send_more, "shmkit_writer_send_more");
    SYM(recv, "shmkit_reader_recv");
    SYM(wclose, "shmkit_writer_close");
    SYM(rclose, "shmkit_reader_close");
    SYM(unlink, "shmkit_segment_unlink");
    SYM(err, "shmkit_last_error");
    SYM(sl_write, "shmkit_seqlock_write");
    SYM(sl_read, "shmkit_seqlock_read");
    SYM(reserve, "shmkit_writer_reserve");
    SYM(commit, "shmkit_writer_commit");
    SYM(peek, "shmkit_reader_peek");
    SYM(release, "shmkit_reader_release");
#undef SYM
    return 0;
}

static int parse_points(const char *list)
{
    char buf[256];
    if (strlen(list) >= sizeof buf)
        return -1;
    strcpy(buf, list);
    npoints = 0;
    for (char *t = strtok(buf, ","); t; t = strtok(NULL, ",")) {
        point_t *p = &P[npoints];
        if (npoints == MAX_POINTS || !strchr("rmlksbph", t[0]) || !t[0])
            return -1;
        if (!strcmp(t + 1, "8"))
            p->size = 8;
        else if (!strcmp(t + 1, "64"))
            p->size = 64;
        else if (!strcmp(t + 1, "1k"))
            p->size = 1024;
        else if (!strcmp(t + 1, "64k") && strchr("sh", t[0]))
            p->size = 65536;
        else
            return -1;
        p->kind = t[0];
        snprintf(p->name, sizeof p->name, "%s", t);
        npoints++;
    }
    return npoints ? 0 : -1;
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static inline uint64_t ticks(void)
{
#if defined(__x86_64__)
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
#else
    return now_ns();
#endif
}

static inline void relax(void)
{
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
}

static void calibrate(void)
{
#if defined(__x86_64__)
    uint64_t n0 = now_ns(), t0 = ticks();
    while (now_ns() - n0 < 20000000u)
        ;
    tsc_ns = (double)(now_ns() - n0) / (double)(ticks() - t0);
#endif
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void fail(const char *what, const lib_t *l)
{
    fprintf(stderr, "shmkit-ab: %s%s%s%s\n", what, l ? " (" : "", l ? l->path : "",
            l ? ")" : "");
    if (l)
        fprintf(stderr, "shmkit-ab: %s\n", l->err());
    atomic_store(&SH->failed, 1);
}

/* Both sides meet here; 0, or -1 once the other side failed. */
static int barrier(uint32_t *gen)
{
    ++*gen;
    atomic_fetch_add(&SH->arrived, 1);
    uint64_t t0 = now_ns();
    while (atomic_load(&SH->arrived) < 2 * *gen) {
        if (atomic_load(&SH->failed))
            return -1;
        if (now_ns() - t0 > (uint64_t)WAIT_NS) {
            fail("the other side did not come to the barrier within 10 s", NULL);
            return -1;
        }
        relax();
    }
    /* the other side may have given up after coming here */
    return atomic_load(&SH->failed) ? -1 : 0;
}

/* Waits for the line to hold v; 0, or -1 once the other side failed or
 * nothing came for 10 s (looked at every 4096 polls). */
static int line_wait(uint64_t v)
{
    uint64_t t0 = 0;
    for (uint32_t n = 1; atomic_load_explicit(&SH->line, memory_order_acquire) != v; n++) {
        relax();
        if (n % 4096)
            continue;
        if (!t0)
            t0 = now_ns();
        if (atomic_load(&SH->failed))
            return -1;
        if (now_ns() - t0 > (uint64_t)WAIT_NS) {
            fail("the other side stopped answering the line floor for 10 s", NULL);
            return -1;
        }
    }
    return 0;
}

/* The one-line floor: p50 of RTT_N round trips, ns (side A's result; side
 * B's 0); -1 on failure. */
static double line_floor(int side, uint64_t *base, uint64_t *lat)
{
    uint64_t b = *base;
    for (uint64_t j = 0; j < RTT_N; j++) {
        if (side == 0) {
            uint64_t t0 = ticks();
            atomic_store_explicit(&SH->line, 2 * (b + j) + 1, memory_order_release);
            if (line_wait(2 * (b + j) + 2) < 0)
                return -1;
            lat[j] = ticks() - t0;
        } else {
            if (line_wait(2 * (b + j) + 1) < 0)
                return -1;
            atomic_store_explicit(&SH->line, 2 * (b + j) + 2, memory_order_release);
        }
    }
    *base += RTT_N;
    if (side)
        return 0;
    qsort(lat, RTT_N, sizeof *lat, cmp_u64);
    return (double)lat[RTT_N / 2] * tsc_ns;
}

/* One point for one build; side A returns its value (ns or M msg/s), side
 * B 0; -1 on failure. */
static double run_point(int side, const point_t *p, const lib_t *l, shmkit_writer_t *w,
                        shmkit_reader_t *r, unsigned char *buf, uint64_t *lat)
{
    size_t len;
    if (p->kind == 'k') {
        /* the sequence numbers go on from point to point, so that a value
         * left from the last point never passes for this one's */
        static uint64_t next = 1;
        uint64_t t0 = 0;
        for (uint64_t j = 0; j < RTT_N; j++, next++) {
            int in = side == 0; /* the value this side waits for */
            if (side == 0) {
                t0 = ticks();
                memcpy(buf, &next, 8);
                l->sl_write(&SH->sl[0].lock, SH->sl[0].value, buf, p->size);
            }
            uint64_t got = 0, w0 = 0;
            for (uint32_t n = 1;; n++) {
                if (l->sl_read(&SH->sl[in].lock, buf, SH->sl[in].value, p->size,
                               WAIT_NS) < 0)
                    return fail("seqlock read", l), -1;
                memcpy(&got, buf, 8);
                if (got == next)
                    break;
                relax();
                if (n % 4096)
                    continue;
                if (!w0)
                    w0 = now_ns();
                if (atomic_load(&SH->failed) || now_ns() - w0 > (uint64_t)WAIT_NS)
                    return fail("no seqlock value came for 10 s", NULL), -1;
            }
            if (side == 0)
                lat[j] = ticks() - t0;
            else
                l->sl_write(&SH->sl[1].lock, SH->sl[1].value, buf, p->size);
        }
        if (side)
            return 0;
        qsort(lat, RTT_N, sizeof *lat, cmp_u64);
        return (double)lat[RTT_N / 2] * tsc_ns;
    }
    if (p->kind == 'r' || p->kind == 'm' || p->kind == 'l') {
        for (uint64_t j = 0; j < RTT_N; j++) {
            if (side == 0) {
                uint64_t t0 = ticks();
                memcpy(buf, &j, 8);
                if (l->send(w, buf, p->size, WAIT_NS) < 0 ||
                    l->recv(r, buf, 65536, &len, WAIT_NS) < 0)
                    return fail("round trip", l), -1;
                lat[j] = ticks() - t0;
                uint64_t back;
                memcpy(&back, buf, 8);
                if (back != j || len != p->size)
                    return fail("a round trip came back wrong", NULL), -1;
            } else if (l->recv(r, buf, 65536, &len, WAIT_NS) < 0 ||
                       l->send(w, buf, len, WAIT_NS) < 0) {
                return fail("round trip", l), -1;
            }
        }
        if (side)
            return 0;
        qsort(lat, RTT_N, sizeof *lat, cmp_u64);
        return (double)lat[RTT_N / 2] * tsc_ns;
    }
    /* a stream, A -> B; the end marker is a message starting with ~0 */
    if (side == 0) {
        uint64_t n = 0, t0 = now_ns(), dur = (uint64_t)(seconds * 1e9);
        memset(buf, 0x5a, p->size);
        while (now_ns() - t0 < dur)
            for (int k = 0; k < 256; k++, n++) {
                int rc;
                if (p->kind == 'h') { /* written in place: the 8 bytes only */
                    void *d;
                    rc = l->reserve(w, p->size, &d, WAIT_NS);
                    if (rc == 0) {
                        memcpy(d, &n, 8);
                        rc = l->commit(w, p->size);
                    }
                } else {
                    memcpy(buf, &n, 8);
                    rc = p->kind == 'b' ? l->send_more(w, buf, p->size, WAIT_NS)
                                        : l->send(w, buf, p->size, WAIT_NS);
                }
                if (rc < 0)
                    return fail("stream send", l), -1;
            }
        uint64_t end = UINT64_MAX;
        memcpy(buf, &end, 8);
        /* the reader's reply says it has taken everything */
        if (l->send(w, buf, p->size, WAIT_NS) < 0 || l->recv(r, buf, 65536, &len, WAIT_NS) < 0)
            return fail("stream end", l), -1;
        return (double)n * 1e3 / (double)(now_ns() - t0);
    }
    for (uint64_t want = 0;; want++) {
        uint64_t s;
        if (p->kind == 'h') { /* read in place: the 8 bytes only */
            const void *d;
            if (l->peek(r, &d, &len, WAIT_NS) < 0)
                return fail("stream peek", l), -1;
            memcpy(&s, d, 8);
            if (l->release(r) < 0)
                return fail("stream release", l), -1;
        } else if (l->recv(r, buf, 65536, &len, WAIT_NS) < 0) {
            return fail("stream receive", l), -1;
        } else {
            memcpy(&s, buf, 8);
        }
        if (s == UINT64_MAX)
            break;
        if (s != want || len != p->size)
            return fail("a stream message arrived out of order", NULL), -1;
    }
    return l->send(w, buf, 8, WAIT_NS) < 0 ? (fail("stream reply", l), -1) : 0;
}

static int made; /* channels created: names[made / NCHAN][made % NCHAN] */

/* Removes the channels' names (the open channels stay usable); 0, or -1
 * when one is still there afterwards. */
static int unlink_all(void)
{
    int rc = 0;
    for (int i = 0; i < made; i++) {
        char path[96];
        const char *n = names[i / NCHAN][i % NCHAN];
        L[i / NCHAN].unlink(n);
        snprintf(path, sizeof path, "/dev/shm/%s", n);
        if (access(path, F_OK) == 0) {
            fprintf(stderr, "shmkit-ab: %s is still there after its unlink\n", path);
            rc = -1;
        }
    }
    made = 0;
    return rc;
}

static int side_main(int side)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu[side], &set);
    if (sched_setaffinity(0, sizeof set, &set) < 0) {
        fail("cannot pin to its CPU", NULL);
        return 1;
    }
    shmkit_writer_t *w[2][NCHAN / 2] = {{NULL}}; /* [build][c] */
    shmkit_reader_t *r[2][NCHAN / 2] = {{NULL}};
    unsigned char *buf = malloc(65536);
    uint64_t *lat = malloc(RTT_N * sizeof *lat);
    int rc = 1;
    uint32_t gen = 0;
    uint64_t base = 0;
    if (!buf || !lat) {
        fail("out of memory", NULL);
        goto out;
    }
    for (int b = 0; b < 2; b++) {
        shmkit_endpoint_opts_t eo;
        L[b].eopts(&eo);
        eo.wait = SHMKIT_WAIT_SPIN;
        eo.open_timeout_ms = 5000;
        for (int c = 0; c < NCHAN / 2; c++)
            if (L[b].wopen(names[b][2 * c + side], &eo, &w[b][c]) < 0 ||
                L[b].ropen(names[b][2 * c + !side], &eo, &r[b][c]) < 0) {
                fail("cannot open the channels", &L[b]);
                goto out;
            }
    }
    /* both sides have opened every channel: the names can go, so that a
     * run killed from here on leaves nothing behind */
    if (barrier(&gen) < 0)
        goto out;
    if (side == 0)
        unlink_all();
    for (int k = 0; k < rounds; k++) {
        if (barrier(&gen) < 0)
            goto out;
        double f = line_floor(side, &base, lat);
        if (f < 0)
            goto out;
        if (side == 0)
            SH->floor_ns[k][0] = f;
        for (int i = 0; i < npoints; i++)
            for (int o = 0; o < 2; o++) {
                int b = (k & 1) ? 1 - o : o;
                if (barrier(&gen) < 0)
                    goto out;
                int c = P[i].kind == 'l' ? 2 : P[i].kind == 'm' || P[i].kind == 'p';
                double v = run_point(side, &P[i], &L[b], w[b][c], r[b][c], buf, lat);
                if (v < 0)
                    goto out;
                if (side == 0)
                    SH->val[k][i][b] = v;
            }
        if (barrier(&gen) < 0)
            goto out;
        if ((f = line_floor(side, &base, lat)) < 0)
            goto out;
        if (side == 0) {
            SH->floor_ns[k][1] = f;
            printf("round %2d: line %4.0f-%-4.0f", k, SH->floor_ns[k][0], f);
            for (int i = 0; i < npoints; i++)
                printf(" | %s %.5g %.5g", P[i].name, SH->val[k][i][0], SH->val[k][i][1]);
            printf("\n");
            fflush(stdout);
        }
    }
    rc = barrier(&gen) < 0;
out:
    for (int b = 0; b < 2; b++) {
        for (int c = 0; c < NCHAN / 2; c++) {
            if (w[b][c])
                L[b].wclose(w[b][c]);
            if (r[b][c])
                L[b].rclose(r[b][c]);
        }
    }
    free(buf);
    free(lat);
    return rc;
}

static void summary(void)
{
    printf("\nB / A, median over the rounds whose floors stayed within 1.5x "
           "(round trips: < 1 is faster; streams: > 1 is faster)\n");
    double ratio[MAX_ROUNDS], lo = 0, hi = 0;
    int kept = 0;
    for (int k = 0; k < rounds; k++) {
        double a = SH->floor_ns[k][0], b = SH->floor_ns[k][1];
        if (a <= 0 || b <= 0 || a > 1.5 * b || b > 1.5 * a)
            continue;
        kept++;
        double m = a < b ? a : b, x = a < b ? b : a;
        if (!lo || m < lo)
            lo = m;
        if (x > hi)
            hi = x;
    }
    printf("%d of %d rounds kept; their line floors %.0f-%.0f ns%s\n", kept, rounds, lo, hi,
           hi > 1.5 * lo ? " (several placements: compare with care)" : "");
    for (int i = 0; i < npoints; i++) {
        int n = 0;
        for (int k = 0; k < rounds; k++) {
            double a = SH->floor_ns[k][0], b = SH->floor_ns[k][1];
            if (a <= 0 || b <= 0 || a > 1.5 * b || b > 1.5 * a)
                continue;
            if (SH->val[k][i][0] > 0 && SH->val[k][i][1] > 0)
                ratio[n++] = SH->val[k][i][1] / SH->val[k][i][0];
        }
        if (!n) {
            printf("  %-4s n/a\n", P[i].name);
            continue;
        }
        qsort(ratio, (size_t)n, sizeof *ratio, cmp_d);
        double med = n & 1 ? ratio[n / 2] : (ratio[n / 2 - 1] + ratio[n / 2]) / 2;
        printf("  %-4s %.3f  (%.3f-%.3f, %d rounds)\n", P[i].name, med, ratio[0],
               ratio[n - 1], n);
    }
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {{"points", 1, 0, 'p'}, {"rounds", 1, 0, 'r'},
                                       {"seconds", 1, 0, 's'}, {"cpus", 1, 0, 'c'},
                                       {"help", 0, 0, 'h'},    {0, 0, 0, 0}};
    const char *points = "r8,r64,s8,s64,s1k,b64";
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'p':
            points = optarg;
            break;
        case 'r':
            rounds = (int)strtol(optarg, &end, 10);
            if (*end || rounds < 1 || rounds > MAX_ROUNDS) {
                fprintf(stderr, "shmkit-ab: --rounds: 1 to %d, not '%s'\n", MAX_ROUNDS,
                        optarg);
                return 2;
            }
            break;
        case 's':
            seconds = strtod(optarg, &end);
            if (*end || !(seconds > 0 && seconds <= 60)) {
                fprintf(stderr, "shmkit-ab: --seconds: more than 0, at most 60, not '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case 'c':
            if (sscanf(optarg, "%d,%d", &cpu[0], &cpu[1]) != 2 || cpu[0] < 0 || cpu[1] < 0 ||
                cpu[0] == cpu[1]) {
                fprintf(stderr, "shmkit-ab: --cpus: two different CPU numbers, A,B\n");
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return fflush(stdout) || ferror(stdout) ? 1 : 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (argc - optind != 2) {
        usage(stderr);
        return 2;
    }
    if (parse_points(points) < 0) {
        fprintf(stderr, "shmkit-ab: --points: '%s' is not a list of r8 r64 r1k m8 m64 m1k l8 l64 l1k k8 k64 k1k "
                        "s8 s64 s1k s64k p8 p64 p1k b8 b64 b1k h8 h64 h1k h64k\n", points);
        return 2;
    }
    if (cpu[0] < 0) {
        cpu_set_t set;
        if (sched_getaffinity(0, sizeof set, &set) < 0)
            return perror("shmkit-ab: sched_getaffinity"), 1;
        for (int i = 0, n = 0; i < CPU_SETSIZE && n < 2; i++)
            if (CPU_ISSET(i, &set))
                cpu[n++] = i;
        if (cpu[1] < 0) {
            fprintf(stderr, "shmkit-ab: needs two CPUs to pin to; this process may use one\n");
            return 77;
        }
    }
    if (load(&L[0], argv[optind]) < 0 || load(&L[1], argv[optind + 1]) < 0)
        return 1;
    SH = mmap(NULL, sizeof *SH, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (SH == MAP_FAILED)
        return perror("shmkit-ab: mmap"), 1;
    calibrate();
    printf("A: %s\nB: %s\nCPUs %d and %d; %d rounds; values: round trips p50 ns, "
           "streams M msg/s (A then B)\n",
           L[0].path, L[1].path, cpu[0], cpu[1], rounds);
    fflush(stdout);
    int rc = 1;
    for (int b = 0; b < 2; b++)
        for (int d = 0; d < NCHAN; d++, made++) {
            shmkit_channel_opts_t co;
            L[b].copts(&co, d >= 4 ? SHMKIT_KIND_LATEST : SHMKIT_KIND_QUEUE);
            co.multi_producer = d == 2 || d == 3;
            co.seg.persistent = 1; /* both sides open it; we remove it at the end */
            snprintf(names[b][d], sizeof names[b][d], "shmkit-ab-%d-%d-%d", (int)getpid(),
                     b, d);
            if (L[b].create(names[b][d], &co) < 0) {
                fail("cannot create a channel", &L[b]);
                goto out;
            }
        }
    pid_t pid = fork();
    if (pid < 0) {
        perror("shmkit-ab: fork");
        goto out;
    }
    if (pid == 0)
        _exit(side_main(1));
    rc = side_main(0);
    int st = 0;
    pid_t got;
    while ((got = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
        ;
    if (got != pid || !WIFEXITED(st) || WEXITSTATUS(st))
        rc = 1;
    if (!rc)
        summary();
out:
    if (unlink_all() < 0)
        rc = 1;
    return rc;
}
