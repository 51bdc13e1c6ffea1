/*
 * test_seg_gc_race - gc never removes a segment that somebody attached.
 *
 * Each round: a child creates an owned segment and is SIGKILLed, so
 * the segment is stale.  Then, released together, one process attaches
 * (shmkit_segment_open) and the parent runs shmkit_gc().  Exactly one may
 * win:
 *  - the attach won: gc removed nothing, and the name still leads to the
 *    very object the opener holds (a token written through its handle is
 *    read back through a fresh open by name);
 *  - gc won: gc removed one segment and the open got -ENOENT.
 * At the end of each round nothing is left.  1000*scale rounds on posix
 * (OFD gate lock), then as many on sysv (the remover's flag in the header,
 * checked by attachers after shmat).  Runs in a private mount + IPC
 * namespace.
 *
 * Then (found by review) create-or-open racing the last closer: two
 * processes each create (not exclusive) and close one owned name, 5000 *
 * scale times, posix and sysv.  The close of one may remove the name
 * between the other's failed exclusive create and its open; that open's
 * ENOENT must not be the create's answer (it was, ~2% of the time).
 *
 * And (found by review) a read-only handle that is the last closer of an
 * owned SysV segment raises the remover's flag too: an opener that
 * attaches while it removes (the test hook holds the window open 20 ms,
 * under the flag's 100 ms staleness) either gets ENOENT or a segment whose
 * key still leads to it; it was left on a removed segment.
 */
#include "test_util.h"

#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/shm.h>

struct shared {
    _Atomic int round;        /* the parent starts round N by storing N */
    _Atomic int ready;        /* the opener is waiting for go */
    _Atomic int go;
    _Atomic int open_started; /* the opener is about to call open */
    _Atomic int gc_started;   /* the parent is about to call gc */
    _Atomic int gc_done;
    _Atomic int open_rc;
    _Atomic int finished;     /* the opener finished the round */
    _Atomic int failed;       /* the opener found a violation */
    int mode;                 /* 0 together, 1 opener first, 2 gc first */
    uint32_t delay_open, delay_gc; /* ns */
    char name[128];
};

static struct shared *sh;

/* Busy-waits ns nanoseconds. */
static void spin_ns(uint32_t ns)
{
    uint64_t end = skt_now_ns() + ns;
    while (skt_now_ns() < end)
        ;
}

/* 0 .. 2^18 ns (a quarter of a millisecond, about twice what a gc pass
 * over a near-empty /dev/shm takes), log-uniform, so that both tiny and
 * large offsets between the two calls are common. */
static uint32_t log_uniform(uint64_t r)
{
    unsigned bits = (unsigned)(r % 19);
    return (uint32_t)((r >> 5) & ((1u << bits) - 1));
}

/* Waits for *flag == want; yields now and then so a loaded machine works. */
static void await_eq(_Atomic int *flag, int want)
{
    for (unsigned i = 0; atomic_load(flag) != want; i++)
        if ((i & 63) == 63)
            sched_yield();
}

/* One round on the opener's side; returns 0 or 1 (violation). */
static int open_round(void)
{
    shmkit_segment_opts_t o;
    shmkit_segment_t *s = NULL, *f = NULL;
    shmkit_segment_opts_init(&o);
    o.timeout_ms = 1000;
    atomic_store(&sh->ready, 1);
    await_eq(&sh->go, 1);
    if (sh->mode == 2)
        await_eq(&sh->gc_started, 1);
    spin_ns(sh->delay_open);
    atomic_store(&sh->open_started, 1);
    int rc = shmkit_segment_open(sh->name, &o, &s);
    atomic_store(&sh->open_rc, rc);
    if (rc != 0)
        return 0;
    uint64_t token = skt_rand64();
    memcpy(shmkit_segment_data(s), &token, sizeof token);
    await_eq(&sh->gc_done, 1);
    rc = shmkit_segment_open(sh->name, &o, &f);
    if (rc != 0) {
        fprintf(stderr, "attached, but after gc the name %s is gone: open %d "
                "(%s)\n", sh->name, rc, shmkit_strerror(rc));
        return 1;
    }
    uint64_t got;
    memcpy(&got, shmkit_segment_data(f), sizeof got);
    if (got != token) {
        fprintf(stderr, "the name %s now leads to another object than the "
                "one attached (token %016llx vs %016llx)\n", sh->name,
                (unsigned long long)got, (unsigned long long)token);
        return 1;
    }
    if (shmkit_segment_close(f) != 0 || shmkit_segment_close(s) != 0) {
        fprintf(stderr, "close: %s\n", shmkit_last_error());
        return 1;
    }
    return 0;
}

/* The opener process: one round per value of sh->round, until -1. */
static int opener(void *p)
{
    (void)p;
    for (int r = 0;; r++) {
        await_eq(&sh->round, r);
        if (open_round())
            atomic_store(&sh->failed, 1);
        atomic_store(&sh->finished, 1);
        if (atomic_load(&sh->failed))
            return SKT_FAIL;
    }
}

static int sysv; /* this pass uses sysv: names */

/* libshmkit (linked statically): called by a sysv remover between its
 * nattch check and IPC_RMID.  Widened to 200 us here, so that attaches land
 * inside the window the remover's flag has to close. */
extern void (*sk_test_remove_window)(void);
static void remove_window(void)
{
    spin_ns(200000);
}

static void next_name(void)
{
    if (sysv)
        skt_sysv_name(sh->name, sizeof sh->name, NULL);
    else
        skt_name(sh->name, sizeof sh->name);
}

static int pass(const char *what)
{
    int rounds = 1000 * skt_scale();
    int attach_won = 0, gc_won = 0;
    int modes[3] = {0, 0, 0};
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(sh != MAP_FAILED);
    atomic_store(&sh->round, -1);

    pid_t parent = getpid();
    fflush(NULL);
    pid_t op = fork();
    CHECK(op >= 0);
    if (op == 0) {
        /* never outlive a parent that failed half-way */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(SKT_FAIL);
        _exit(opener(NULL));
    }

    for (int r = 0; r < rounds; r++) {
        next_name();
        fflush(NULL);
        pid_t c = fork();
        CHECK(c >= 0);
        if (c == 0) {
            shmkit_segment_opts_t o;
            shmkit_segment_t *s = NULL;
            shmkit_segment_opts_init(&o);
            o.size = 4096;
            o.exclusive = 1;
            if (shmkit_segment_create(sh->name, &o, &s) != 0)
                _exit(1);
            raise(SIGKILL);
            _exit(2);
        }
        int st;
        skt_wait(c, &st);
        CHECKF(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
               "round %d: creator did not die by SIGKILL (create failed?)", r);
        CHECK_RC(shmkit_segment_stale(sh->name), 1);

        atomic_store(&sh->go, 0);
        atomic_store(&sh->ready, 0);
        atomic_store(&sh->open_started, 0);
        atomic_store(&sh->gc_started, 0);
        atomic_store(&sh->gc_done, 0);
        atomic_store(&sh->finished, 0);
        atomic_store(&sh->open_rc, 1);
        /* who starts first, and a little jitter on top, so that the two
         * calls overlap in every possible way */
        uint64_t rnd = skt_rand64();
        sh->mode = (int)(rnd % 3);
        sh->delay_open = log_uniform(rnd >> 8);
        sh->delay_gc = log_uniform(rnd >> 32);
        modes[sh->mode]++;
        atomic_store(&sh->round, r);

        await_eq(&sh->ready, 1);
        atomic_store(&sh->go, 1);
        if (sh->mode == 1)
            await_eq(&sh->open_started, 1);
        spin_ns(sh->delay_gc);
        atomic_store(&sh->gc_started, 1);
        int removed = shmkit_gc(0, NULL, NULL);
        atomic_store(&sh->gc_done, 1);
        await_eq(&sh->finished, 1);
        CHECKF(!atomic_load(&sh->failed), "round %d: opener found a violation", r);
        int open_rc = atomic_load(&sh->open_rc);
        CHECKF(removed == 0 || removed == 1, "round %d: gc returned %d (%s)", r,
               removed, shmkit_strerror(removed));
        if (open_rc == 0) {
            CHECKF(removed == 0, "round %d: attach succeeded but gc says it "
                   "removed %d segment(s)", r, removed);
            attach_won++;
        } else {
            CHECKF(open_rc == -ENOENT, "round %d: open returned %d (%s); "
                   "expected success or -ENOENT", r, open_rc,
                   shmkit_strerror(open_rc));
            CHECKF(removed == 1, "round %d: open got -ENOENT but gc removed %d",
                   r, removed);
            gc_won++;
        }
        shmkit_segment_info_t info;
        int rc = shmkit_segment_inspect(sh->name, &info);
        CHECKF(rc == -ENOENT, "round %d: %s left behind (inspect %d)", r,
               sh->name, rc);
    }
    atomic_store(&sh->round, -2);
    kill(op, SIGKILL);
    int st;
    skt_wait(op, &st);
    printf("%s: rounds %d (together %d, opener first %d, gc first %d): "
           "attach won %d, gc won %d\n", what, rounds, modes[0], modes[1],
           modes[2], attach_won, gc_won);
    CHECK(attach_won + gc_won == rounds);
    if (skt_count_dir("/dev/shm") != 0) {
        skt_dump_dir("/dev/shm");
        CHECKF(0, "/dev/shm not empty");
    }
    munmap(sh, sizeof *sh);
    return SKT_PASS;
}

static int create_close_loop(void *arg)
{
    const char *name = arg;
    shmkit_segment_opts_t o;
    shmkit_segment_opts_init(&o);
    o.size = 4096;
    int n = 5000 * skt_scale();
    for (int i = 0; i < n; i++) {
        shmkit_segment_t *s = NULL;
        int rc = shmkit_segment_create(name, &o, &s);
        CHECKF(rc == 0, "create-or-open %s, round %d: %d (%s)", name, i, rc,
               shmkit_last_error());
        CHECK_OK(shmkit_segment_close(s));
    }
    return SKT_PASS;
}

static void create_or_open_race(const char *name)
{
    skt_track(name);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        _exit(create_close_loop((void *)name));
    }
    int mine = create_close_loop((void *)name);
    int st = 0;
    skt_wait(pid, &st);
    CHECK(mine == SKT_PASS);
    CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the other creator failed");
    shmkit_segment_info_t info;
    CHECKF(shmkit_segment_inspect(name, &info) == -ENOENT,
           "%s is left after its last close", name);
    printf("create-or-open racing the last closer (%s): ok\n", name);
}

static int ro_go[2], ro_done[2];
static char ro_name[64];

static void ro_window(void)
{
    char c = 1;
    if (write(ro_go[1], &c, 1) != 1)
        _exit(SKT_FAIL);
    spin_ns(20000000); /* the opener tries meanwhile */
}

static int ro_opener(void *arg)
{
    (void)arg;
    char c;
    if (read(ro_go[0], &c, 1) != 1)
        return SKT_FAIL;
    shmkit_segment_t *s = NULL;
    int rc = shmkit_segment_open(ro_name, NULL, &s);
    if (read(ro_done[0], &c, 1) != 1) /* the closer is done */
        return SKT_FAIL;
    if (rc == 0) {
        key_t key = (key_t)strtoul(ro_name + 5, NULL, 0);
        CHECKF(shmget(key, 0, 0) >= 0,
               "the opener is attached to a segment whose key is gone");
        CHECK_OK(shmkit_segment_close(s));
    } else {
        CHECKF(rc == -ENOENT, "open during the removal: %d (%s)", rc,
               shmkit_last_error());
    }
    return SKT_PASS;
}

static void ro_last_closer(void)
{
    snprintf(ro_name, sizeof ro_name, "sysv:0x%08x",
             (unsigned)(0x5c000000u | (getpid() & 0xffffff)));
    skt_track(ro_name);
    CHECK(pipe(ro_go) == 0 && pipe(ro_done) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        _exit(ro_opener(NULL));
    }
    shmkit_segment_opts_t o;
    shmkit_segment_opts_init(&o);
    o.size = 4096;
    o.exclusive = 1;
    shmkit_segment_t *w, *ro;
    CHECK_OK(shmkit_segment_create(ro_name, &o, &w));
    shmkit_segment_opts_init(&o);
    o.readonly = 1;
    CHECK_OK(shmkit_segment_open(ro_name, &o, &ro));
    CHECK_OK(shmkit_segment_close(w)); /* ro is the only attachee now */
    sk_test_remove_window = ro_window;
    CHECK_OK(shmkit_segment_close(ro));
    sk_test_remove_window = NULL;
    char c = 1;
    CHECK(write(ro_done[1], &c, 1) == 1);
    int st = 0;
    skt_wait(pid, &st);
    CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the opener failed");
    shmkit_segment_unlink(ro_name); /* when the opener's close left it */
    printf("a read-only last closer raises the remover's flag: ok\n");
}

static int body(void *arg)
{
    (void)arg;
    char n[128];
    ro_last_closer();
    create_or_open_race(skt_name(n, sizeof n));
    snprintf(n, sizeof n, "sysv:0x%08x", (unsigned)(0x5a000000u | (getpid() & 0xffffff)));
    create_or_open_race(n);
    sysv = 0;
    pass("posix");
    sysv = 1;
    sk_test_remove_window = remove_window;
    pass("sysv");
    sk_test_remove_window = NULL;
    return SKT_PASS;
}

int main(void)
{
    skt_init("gcrace");
    return skt_run_in_ns(body, NULL, NULL);
}
