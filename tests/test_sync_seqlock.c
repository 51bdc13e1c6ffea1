/*
 * test_sync_seqlock - one writer process, reader processes, never a torn read.
 *
 *  1. A writer process updates a struct of 64 uint64_t, all equal to a
 *     counter, as fast as it can; two reader processes read it for ~1 s:
 *     every successful read has all 64 fields equal, and values never go
 *     backwards.
 *  2. Writers are SIGKILLed at random moments (often in the middle of a
 *     write), each replaced by a new writer that continues from the last
 *     value; the readers keep reading throughout: a read returns a
 *     consistent value or -ETIMEDOUT, never a torn one, and after each new
 *     writer starts, reads succeed again.  Right after a kill, a read either
 *     succeeds or times out (the kill landed mid-write); the latter must be
 *     seen at least once, or the kills never tested anything (more kills
 *     follow the planned ones until it is).  A read with
 *     timeout < 0 on a dead writer's odd sequence times out, never hangs.
 */
#include "chan_util.h"

#define NV 64
#define NREADERS 2

struct shared {
    shmkit_seqlock_t sl;
    uint8_t pad0[56];
    uint64_t val[NV];        /* protected by sl */
    _Atomic uint64_t next;   /* last value completely written */
    _Atomic uint32_t stop;
    uint8_t pad1[52];
    struct {
        _Atomic uint64_t reads, timeouts, distinct, last;
        uint8_t pad[32];
    } rd[NREADERS];
};

static char seg_name[128];

static struct shared *open_shared(shmkit_segment_t **seg)
{
    CHECK_OK(shmkit_segment_open(seg_name, NULL, seg));
    return shmkit_segment_data(*seg);
}

static int writer_child(void *arg)
{
    (void)arg;
    shmkit_segment_t *seg;
    struct shared *sh = open_shared(&seg);
    uint64_t v = atomic_load(&sh->next), buf[NV];
    while (!atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
        v++;
        for (int i = 0; i < NV; i++)
            buf[i] = v;
        shmkit_seqlock_write(&sh->sl, sh->val, buf, sizeof buf);
        atomic_store_explicit(&sh->next, v, memory_order_relaxed);
    }
    CHECK_OK(shmkit_segment_close(seg));
    return SKT_PASS;
}

/* Checks one read; returns its value. */
static uint64_t check_read(const uint64_t *buf, uint64_t last, const char *who)
{
    for (int i = 1; i < NV; i++)
        if (buf[i] != buf[0])
            skt_fail(__FILE__, __LINE__,
                     "%s: torn read: field 0 = %llu, field %d = %llu", who,
                     (unsigned long long)buf[0], i, (unsigned long long)buf[i]);
    CHECKF(buf[0] >= last, "%s: value went backwards: %llu after %llu", who,
           (unsigned long long)buf[0], (unsigned long long)last);
    return buf[0];
}

static int reader_child(void *arg)
{
    int id = (int)(intptr_t)arg;
    shmkit_segment_t *seg;
    struct shared *sh = open_shared(&seg);
    uint64_t buf[NV], last = 0;
    while (!atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
        int rc = shmkit_seqlock_read(&sh->sl, buf, sh->val, sizeof buf, 50000000);
        if (rc == -ETIMEDOUT) {
            atomic_fetch_add(&sh->rd[id].timeouts, 1);
            continue;
        }
        CHECKF(rc == 0, "reader %d: read returned %d", id, rc);
        uint64_t v = check_read(buf, last, "reader");
        if (v != last)
            atomic_fetch_add(&sh->rd[id].distinct, 1);
        last = v;
        atomic_fetch_add(&sh->rd[id].reads, 1);
        atomic_store(&sh->rd[id].last, last);
    }
    CHECK_OK(shmkit_segment_close(seg));
    return SKT_PASS;
}

int main(void)
{
    cu_init("test_sync_seqlock", 120);
    shmkit_segment_opts_t o;
    shmkit_segment_t *seg;
    shmkit_segment_opts_init(&o);
    o.size = 4096;
    o.exclusive = 1;
    CHECK_OK(shmkit_segment_create(skt_name(seg_name, sizeof seg_name), &o, &seg));
    struct shared *sh = shmkit_segment_data(seg);
    memset(sh, 0, sizeof *sh);

    /* ---- 1: live writer, ~1 s ---- */
    pid_t readers[NREADERS];
    for (int i = 0; i < NREADERS; i++)
        readers[i] = cu_spawn(reader_child, (void *)(intptr_t)i);
    pid_t w = cu_spawn(writer_child, NULL);
    cu_sleep_ns(1000000000ull);
    uint64_t reads1[NREADERS], dist1[NREADERS];
    for (int i = 0; i < NREADERS; i++) {
        reads1[i] = atomic_load(&sh->rd[i].reads);
        dist1[i] = atomic_load(&sh->rd[i].distinct);
        CHECKF(reads1[i] > 0 && dist1[i] > 1,
               "reader %d made no progress in 1 s (%llu reads, %llu values)", i,
               (unsigned long long)reads1[i], (unsigned long long)dist1[i]);
    }
    printf("live writer, 1 s: %llu writes; readers %llu/%llu reads, %llu/%llu "
           "distinct values, %llu/%llu timeouts, none torn: ok\n",
           (unsigned long long)atomic_load(&sh->next),
           (unsigned long long)reads1[0], (unsigned long long)reads1[1],
           (unsigned long long)dist1[0], (unsigned long long)dist1[1],
           (unsigned long long)atomic_load(&sh->rd[0].timeouts),
           (unsigned long long)atomic_load(&sh->rd[1].timeouts));

    /* ---- 2: writers killed at random moments ---- */
    /* A kill lands mid-write only a few times in a hundred here (the odd
     * phase is one 512-byte copy): after the planned trials, go on killing
     * (with shorter delays) until one has, up to 20 times as many. */
    int trials = 30 * skt_scale(), midwrite = 0, t;
    uint64_t rng = skt_rand64(), buf[NV], last = 0;
    int hang_checked = 0;
    for (t = 0; t < trials || (midwrite == 0 && t < 20 * trials); t++) {
        if (t > 0) {
            uint64_t n0 = atomic_load(&sh->next);
            w = cu_spawn(writer_child, NULL);
            /* the new writer gets the seqlock going again */
            int rc = shmkit_seqlock_read(&sh->sl, buf, sh->val, sizeof buf,
                                         2000000000ll);
            CHECKF(rc == 0, "trial %d: no consistent read within 2 s of a new "
                   "writer starting (%d)", t, rc);
            last = check_read(buf, last, "parent");
            /* kill it in its loop, not while it starts up (which takes
             * milliseconds under valgrind) */
            uint64_t t0 = skt_now_ns();
            while (atomic_load(&sh->next) == n0) {
                CHECKF(skt_now_ns() - t0 < 2000000000ull,
                       "trial %d: the new writer wrote nothing in 2 s", t);
                cu_sleep_ns(100000);
            }
        }
        cu_sleep_ns(cu_splitmix(&rng) % (t < trials ? 20000000u : 2000000u));
        int st = cu_kill(w);
        CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        int rc = shmkit_seqlock_read(&sh->sl, buf, sh->val, sizeof buf, 1000000);
        if (rc == -ETIMEDOUT) {
            midwrite++;
            if (!hang_checked) {
                /* a dead writer: even "wait forever" must time out */
                uint64_t t0 = skt_now_ns();
                CHECK_RC(shmkit_seqlock_read(&sh->sl, buf, sh->val, sizeof buf, -1),
                         -ETIMEDOUT);
                CHECKF(skt_now_ns() - t0 < 5000000000ull,
                       "read(-1) on a dead writer took %llu ms",
                       (unsigned long long)((skt_now_ns() - t0) / 1000000));
                hang_checked = 1;
            }
        } else {
            CHECKF(rc == 0, "read after kill returned %d", rc);
            last = check_read(buf, last, "parent");
        }
    }
    atomic_store(&sh->stop, 1);
    for (int i = 0; i < NREADERS; i++)
        CHECK_RC(cu_reap(readers[i], "reader"), 0);
    printf("%d writers killed at random, %d of them mid-write; readers %llu/%llu "
           "reads, %llu/%llu timeouts, none torn: ok\n", t, midwrite,
           (unsigned long long)atomic_load(&sh->rd[0].reads),
           (unsigned long long)atomic_load(&sh->rd[1].reads),
           (unsigned long long)atomic_load(&sh->rd[0].timeouts),
           (unsigned long long)atomic_load(&sh->rd[1].timeouts));
    CHECKF(midwrite > 0, "no kill of %d landed in the middle of a write", t);
    for (int i = 0; i < NREADERS; i++)
        CHECKF(atomic_load(&sh->rd[i].reads) > reads1[i],
               "reader %d made no progress while writers were replaced", i);
    CHECK_OK(shmkit_segment_close(seg));
    return SKT_PASS;
}
