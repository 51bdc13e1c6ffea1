/*
 * quick.c - a quick ping-pong and throughput check, next to the floors.
 *
 *   shmkit-quick [--rounds N] [--seconds S]
 *
 * Two processes pinned to CPU 0 and CPU 1 (when there are two).  Reports,
 * in one run: the cache-line ping-pong floor (one 64-byte line in a
 * MAP_SHARED mapping, store-release / load-acquire), shmkit queue round trip
 * with a 64-byte payload copied in and out (busy-poll), and one-way 64-byte
 * throughput of shmkit's queue next to a minimal SPSC ring of 64-byte slots.
 * The full suite (peers, sizes, bus, latest, plots) is bench/shmkit_bench.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shmkit.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void pin(int cpu)
{
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu % (int)sysconf(_SC_NPROCESSORS_ONLN), &s);
    sched_setaffinity(0, sizeof s, &s);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, uint64_t *v, size_t n, double floor_p50)
{
    qsort(v, n, sizeof *v, cmp_u64);
    double mean = 0;
    for (size_t i = 0; i < n; i++)
        mean += (double)v[i];
    mean /= (double)n;
    double p50 = (double)v[n / 2];
    printf("%-34s p50 %7.0f  p90 %7llu  p99 %7llu  p99.9 %7llu  max %8llu  mean %7.0f ns",
           what, p50, (unsigned long long)v[n * 90 / 100],
           (unsigned long long)v[n * 99 / 100],
           (unsigned long long)v[n * 999 / 1000], (unsigned long long)v[n - 1], mean);
    if (floor_p50 > 0)
        printf("  (%.2fx floor)", p50 / floor_p50);
    printf("\n");
}

/* ---- floor: one cache line ---- */
struct line {
    _Alignas(64) _Atomic uint64_t ping;
    _Alignas(64) _Atomic uint64_t pong;
};

static double floor_pingpong(long rounds, uint64_t *lat)
{
    struct line *l = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pid_t c = fork();
    if (c == 0) {
        pin(1);
        for (uint64_t i = 1; i <= (uint64_t)rounds + 10000; i++) {
            while (atomic_load_explicit(&l->ping, memory_order_acquire) != i)
                ;
            atomic_store_explicit(&l->pong, i, memory_order_release);
        }
        _exit(0);
    }
    pin(0);
    for (uint64_t i = 1; i <= (uint64_t)rounds + 10000; i++) {
        uint64_t t0 = now_ns();
        atomic_store_explicit(&l->ping, i, memory_order_release);
        while (atomic_load_explicit(&l->pong, memory_order_acquire) != i)
            ;
        if (i > 10000)
            lat[i - 10001] = now_ns() - t0;
    }
    waitpid(c, NULL, 0);
    munmap(l, 4096);
    report("floor: one cache line", lat, (size_t)rounds, 0);
    return (double)lat[rounds / 2];
}

/* ---- shmkit queue round trip ---- */
static void shmkit_pingpong(long rounds, uint64_t *lat, double floor)
{
    char a[64], b[64];
    snprintf(a, sizeof a, "shmkit-quick-a-%d", getpid());
    snprintf(b, sizeof b, "shmkit-quick-b-%d", getpid());
    shmkit_channel_opts_t co;
    shmkit_channel_opts_init(&co, SHMKIT_KIND_QUEUE);
    co.capacity = 1 << 20;
    co.seg.persistent = 1;
    if (shmkit_channel_create(a, &co) < 0 || shmkit_channel_create(b, &co) < 0) {
        fprintf(stderr, "create: %s\n", shmkit_last_error());
        exit(1);
    }
    shmkit_endpoint_opts_t eo;
    shmkit_endpoint_opts_init(&eo);
    eo.wait = SHMKIT_WAIT_SPIN;
    pid_t c = fork();
    if (c == 0) {
        pin(1);
        shmkit_reader_t *r;
        shmkit_writer_t *w;
        if (shmkit_reader_open(a, &eo, &r) || shmkit_writer_open(b, &eo, &w))
            _exit(1);
        char buf[64];
        size_t n;
        for (long i = 0; i < rounds + 10000; i++) {
            if (shmkit_reader_recv(r, buf, sizeof buf, &n, -1))
                _exit(2);
            shmkit_writer_send(w, buf, n, -1);
        }
        shmkit_writer_close(w);
        shmkit_reader_close(r);
        _exit(0);
    }
    pin(0);
    shmkit_reader_t *r;
    shmkit_writer_t *w;
    if (shmkit_writer_open(a, &eo, &w) || shmkit_reader_open(b, &eo, &r)) {
        fprintf(stderr, "open: %s\n", shmkit_last_error());
        exit(1);
    }
    char msg[64], buf[64];
    memset(msg, 7, sizeof msg);
    size_t n;
    for (long i = 0; i < rounds + 10000; i++) {
        uint64_t t0 = now_ns();
        shmkit_writer_send(w, msg, sizeof msg, -1);
        shmkit_reader_recv(r, buf, sizeof buf, &n, -1);
        if (i >= 10000)
            lat[i - 10000] = now_ns() - t0;
    }
    waitpid(c, NULL, 0);
    shmkit_writer_close(w);
    shmkit_reader_close(r);
    shmkit_segment_unlink(a);
    shmkit_segment_unlink(b);
    report("shmkit queue, 64 B copied, spin", lat, (size_t)rounds, floor);
}

/* ---- one-way throughput: reference ring and shmkit queue ---- */
#define RING_SLOTS 16384
struct ref_ring {
    _Alignas(64) _Atomic uint64_t head;
    _Alignas(64) _Atomic uint64_t tail;
    _Alignas(64) unsigned char slot[RING_SLOTS][64];
};

static double ref_ring_rate(double seconds)
{
    struct ref_ring *q = mmap(NULL, sizeof *q, PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    _Atomic uint64_t *stop = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pid_t c = fork();
    if (c == 0) { /* consumer, batched */
        pin(1);
        uint64_t head = 0, sum = 0;
        unsigned char buf[64];
        for (;;) {
            uint64_t tail = atomic_load_explicit(&q->tail, memory_order_acquire);
            if (tail == head) {
                if (atomic_load(stop))
                    break;
                continue;
            }
            for (; head < tail; head++) {
                memcpy(buf, q->slot[head % RING_SLOTS], 64);
                sum += buf[0];
            }
            atomic_store_explicit(&q->head, head, memory_order_release);
        }
        _exit(sum == 12345 ? 3 : 0);
    }
    pin(0);
    unsigned char msg[64];
    memset(msg, 1, sizeof msg);
    uint64_t tail = 0, head_cache = 0, t0 = now_ns(), end = t0 + (uint64_t)(seconds * 1e9);
    for (;;) {
        for (int k = 0; k < 1024; k++) {
            while (tail - head_cache >= RING_SLOTS)
                head_cache = atomic_load_explicit(&q->head, memory_order_acquire);
            memcpy(q->slot[tail % RING_SLOTS], msg, 64);
            tail++;
            atomic_store_explicit(&q->tail, tail, memory_order_release);
        }
        if (now_ns() >= end)
            break;
    }
    uint64_t t1 = now_ns();
    atomic_store(stop, 1);
    waitpid(c, NULL, 0);
    double rate = (double)tail / ((double)(t1 - t0) / 1e9);
    printf("%-34s %8.1f M msg/s\n", "reference SPSC ring, 64 B slots", rate / 1e6);
    munmap(q, sizeof *q);
    return rate;
}

static void shmkit_rate(double seconds, double ref)
{
    char a[64];
    snprintf(a, sizeof a, "shmkit-quick-t-%d", getpid());
    shmkit_channel_opts_t co;
    shmkit_channel_opts_init(&co, SHMKIT_KIND_QUEUE);
    co.capacity = 1 << 20;
    co.seg.persistent = 1;
    if (shmkit_channel_create(a, &co) < 0)
        exit(1);
    shmkit_endpoint_opts_t eo;
    shmkit_endpoint_opts_init(&eo);
    eo.wait = SHMKIT_WAIT_SPIN;
    pid_t c = fork();
    if (c == 0) {
        pin(1);
        shmkit_reader_t *r;
        if (shmkit_reader_open(a, &eo, &r))
            _exit(1);
        unsigned char buf[64];
        size_t n;
        while (shmkit_reader_recv(r, buf, sizeof buf, &n, -1) == 0)
            ;
        shmkit_reader_close(r);
        _exit(0);
    }
    pin(0);
    shmkit_writer_t *w;
    if (shmkit_writer_open(a, &eo, &w))
        exit(1);
    unsigned char msg[64];
    memset(msg, 1, sizeof msg);
    uint64_t sent = 0, t0 = now_ns(), end = t0 + (uint64_t)(seconds * 1e9);
    for (;;) {
        for (int k = 0; k < 1024; k++)
            shmkit_writer_send(w, msg, 64, -1);
        sent += 1024;
        if (now_ns() >= end)
            break;
    }
    uint64_t t1 = now_ns();
    shmkit_writer_close(w);
    waitpid(c, NULL, 0);
    shmkit_segment_unlink(a);
    double rate = (double)sent / ((double)(t1 - t0) / 1e9);
    printf("%-34s %8.1f M msg/s  (%.2fx reference ring)\n",
           "shmkit queue, 64 B, spin", rate / 1e6, rate / ref);
}

int main(int argc, char **argv)
{
    long rounds = 100000;
    double seconds = 2;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--rounds"))
            rounds = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds"))
            seconds = atof(argv[i + 1]);
    }
    if (rounds < 1000)
        rounds = 1000;
    uint64_t *lat = calloc((size_t)rounds, sizeof *lat);
    printf("CPUs: writer 0, reader 1 (of %ld online)\n", sysconf(_SC_NPROCESSORS_ONLN));
    double floor = floor_pingpong(rounds, lat);
    shmkit_pingpong(rounds, lat, floor);
    double ref = ref_ring_rate(seconds);
    shmkit_rate(seconds, ref);
    free(lat);
    return 0;
}
