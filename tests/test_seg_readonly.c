/*
 * test_seg_readonly - opts.readonly maps the segment PROT_READ: reading
 * works, and a write to the data kills the writer with SIGSEGV.  Checked on
 * the posix, sysv and file backends, with a handle the child opened itself
 * and with one it inherited.
 */
#include "test_util.h"

#define REQ 8192u

struct arg {
    const char *name;
    shmkit_segment_t *inherited;
    uint64_t seed;
};

static volatile uint8_t sink;

/* Opens readonly, reads, then writes: must die with SIGSEGV. */
static int writer_own(void *p)
{
    struct arg *a = p;
    shmkit_segment_opts_t o;
    shmkit_segment_t *s = NULL;
    skt_no_core();
    skt_default_signal(SIGSEGV);
    shmkit_segment_opts_init(&o);
    o.readonly = 1;
    CHECK_OK(shmkit_segment_open(a->name, &o, &s));
    volatile uint8_t *d = shmkit_segment_data(s);
    CHECK(skt_verify((const void *)d, REQ, a->seed) == -1);
    sink = d[0];
    d[REQ / 2] = (uint8_t)(d[REQ / 2] + 1); /* SIGSEGV here */
    fprintf(stderr, "write to a readonly mapping of %s succeeded\n", a->name);
    return 3;
}

static int writer_inherited(void *p)
{
    struct arg *a = p;
    skt_no_core();
    skt_default_signal(SIGSEGV);
    volatile uint8_t *d = shmkit_segment_data(a->inherited);
    CHECK(skt_verify((const void *)d, REQ, a->seed) == -1);
    d[0] = (uint8_t)(d[0] + 1); /* SIGSEGV here */
    fprintf(stderr, "write through an inherited readonly handle succeeded\n");
    return 3;
}

/* Reads through its own readonly handle and exits 0. */
static int reader_own(void *p)
{
    struct arg *a = p;
    shmkit_segment_opts_t o;
    shmkit_segment_t *s = NULL;
    shmkit_segment_opts_init(&o);
    o.readonly = 1;
    CHECK_OK(shmkit_segment_open(a->name, &o, &s));
    CHECK(shmkit_segment_data_size(s) >= REQ);
    CHECK(skt_verify(shmkit_segment_data(s), REQ, a->seed) == -1);
    CHECK_OK(shmkit_segment_close(s));
    return SKT_PASS;
}

static void expect_segv(int st, const char *what)
{
    CHECKF(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV,
           "%s: expected death by SIGSEGV, got %s %d", what,
           WIFSIGNALED(st) ? "signal" : "exit code",
           WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
}

static void one(const char *name, const char *what)
{
    shmkit_segment_opts_t o;
    shmkit_segment_t *rw = NULL, *ro = NULL;
    struct arg a = {name, NULL, skt_rand64() >> 1};

    shmkit_segment_opts_init(&o);
    o.size = REQ;
    CHECK_OK(shmkit_segment_create(name, &o, &rw));
    skt_fill(shmkit_segment_data(rw), REQ, a.seed);

    o.readonly = 1;
    CHECK_OK(shmkit_segment_open(name, &o, &ro));
    CHECK(skt_verify(shmkit_segment_data(ro), REQ, a.seed) == -1);
    /* writes through rw show up in ro */
    ((uint8_t *)shmkit_segment_data(rw))[100] ^= 0xff;
    uint8_t want = (uint8_t)(skt_pat(a.seed, 100) ^ 0xffu);
    CHECK(((uint8_t *)shmkit_segment_data(ro))[100] == want);
    ((uint8_t *)shmkit_segment_data(rw))[100] ^= 0xff;
    a.inherited = ro;

    CHECKF(skt_run_child(reader_own, &a) == 0, "%s: readonly reader failed", what);
    expect_segv(skt_child_status(writer_own, &a), what);
    expect_segv(skt_child_status(writer_inherited, &a), what);

    /* nothing was changed by the dead writers */
    CHECK(skt_verify(shmkit_segment_data(rw), REQ, a.seed) == -1);
    CHECK_OK(shmkit_segment_close(ro));
    CHECK_OK(shmkit_segment_close(rw));
    shmkit_segment_info_t info;
    /* the dead readonly child does not keep the owned segment alive */
    CHECKF(shmkit_segment_inspect(name, &info) == -ENOENT,
           "%s: owned segment left behind after the last close", what);
    printf("%s: ok\n", what);
}

static int body(void *arg)
{
    (void)arg;
    char n[200];
    one(skt_name(n, sizeof n), "posix");
    one(skt_sysv_name(n, sizeof n, NULL), "sysv");
    one(skt_file_name(n, sizeof n), "file");
    return SKT_PASS;
}

int main(void)
{
    skt_init("readonly");
    return skt_run_isolated(body, NULL);
}
