/*
 * test_seg_errors - the last-error record and bad input.
 *
 *  - shmkit_last_error() is never NULL, "" after shmkit_clear_error();
 *  - after a failed open it names the object and the errno (ENOENT), and
 *    last_error_code/message/hint agree with it;
 *  - the record is per thread;
 *  - shmkit_strerror() of anything (unknown codes too) is non-NULL;
 *  - invalid options and bad names give errors, never crashes;
 *  - a SysV id that no longer exists is ENOENT for unlink, inspect, open;
 *  - a file: or POSIX name that leads to a FIFO is -EINVAL at once, not a
 *    hang.
 */
#include "test_util.h"

#include <pthread.h>
#include <sys/shm.h>
#include <sys/stat.h>

static void *thread_fn(void *p)
{
    (void)p;
    /* a fresh thread has no error, even though main has one */
    const char *e = shmkit_last_error();
    if (!e || e[0] != 0 || shmkit_last_error_code() != 0)
        return (void *)1;
    shmkit_segment_t *s = NULL;
    if (shmkit_segment_open("skt-errors-thread-missing", NULL, &s) != -ENOENT)
        return (void *)2;
    if (!skt_contains(shmkit_last_error(), "skt-errors-thread-missing"))
        return (void *)3;
    return NULL;
}

static void bad_create(const char *name, int want1, int want2)
{
    shmkit_segment_opts_t o;
    shmkit_segment_t *s = NULL;
    shmkit_segment_opts_init(&o);
    o.size = 4096;
    shmkit_clear_error();
    int rc = shmkit_segment_create(name, &o, &s);
    if (rc == 0)
        shmkit_segment_close(s);
    CHECKF(rc == want1 || rc == want2, "create(\"%s\"): %d (%s)", name, rc,
           shmkit_strerror(rc));
    CHECKF(shmkit_last_error()[0] != 0, "create(\"%s\") failed silently", name);
    CHECK(shmkit_last_error_code() == rc);
    rc = shmkit_segment_open(name, NULL, &s);
    if (rc == 0)
        shmkit_segment_close(s);
    CHECKF(rc < 0, "open(\"%s\") succeeded", name);
    shmkit_segment_info_t info;
    CHECKF(shmkit_segment_inspect(name, &info) < 0, "inspect(\"%s\")", name);
    CHECKF(shmkit_segment_unlink(name) < 0, "unlink(\"%s\")", name);
}

static int body(void *arg)
{
    (void)arg;
    char miss[128], n[128];
    shmkit_segment_t *s = NULL;
    shmkit_segment_opts_t o;

    shmkit_clear_error();
    CHECK(shmkit_last_error() != NULL && shmkit_last_error()[0] == 0);
    CHECK(shmkit_last_error_message() != NULL &&
          shmkit_last_error_message()[0] == 0);
    CHECK(shmkit_last_error_hint() != NULL && shmkit_last_error_hint()[0] == 0);
    CHECK(shmkit_last_error_code() == 0);

    skt_name(miss, sizeof miss);
    CHECK_RC(shmkit_segment_open(miss, NULL, &s), -ENOENT);
    const char *e = shmkit_last_error();
    CHECK(e != NULL);
    CHECKF(strstr(e, miss) != NULL, "\"%s\" lacks the name %s", e, miss);
    CHECKF(strstr(e, "ENOENT") != NULL, "\"%s\" lacks ENOENT", e);
    CHECK(shmkit_last_error_code() == -ENOENT);
    CHECK(strstr(shmkit_last_error_message(), miss) != NULL);
    CHECK(strncmp(e, shmkit_last_error_message(),
                  strlen(shmkit_last_error_message())) == 0);
    const char *h = shmkit_last_error_hint();
    CHECK(h != NULL);
    if (h[0])
        CHECKF(strstr(e, h) != NULL, "hint \"%s\" not in \"%s\"", h, e);

    /* per thread */
    pthread_t t;
    void *tr = (void *)99;
    CHECK(pthread_create(&t, NULL, thread_fn, NULL) == 0);
    CHECK(pthread_join(t, &tr) == 0);
    CHECKF(tr == NULL, "thread check %ld failed", (long)(intptr_t)tr);
    CHECK(strstr(shmkit_last_error(), miss) != NULL);

    shmkit_clear_error();
    CHECK(shmkit_last_error()[0] == 0);

    /* strerror never NULL */
    const int codes[] = {0, 1, -1, -EINVAL, -4095, -4096, -30000,
                         SHMKIT_E_FIRST - 1, SHMKIT_E_LAST + 1, INT_MIN, INT_MAX,
                         -123456789};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *se = shmkit_strerror(codes[i]);
        CHECKF(se != NULL && se[0] != 0, "strerror(%d)", codes[i]);
    }
    CHECK(strcmp(shmkit_strerror(SHMKIT_E_LAST + 1), shmkit_strerror(SHMKIT_E_LAST)));
    CHECK(shmkit_backend_name(SHMKIT_BACKEND_POSIX) != NULL);
    CHECK(shmkit_backend_name((shmkit_backend_t)99) != NULL);
    CHECK(shmkit_kind_name((shmkit_kind_t)99) != NULL);
    CHECK(strcmp(shmkit_kind_name(SHMKIT_KIND_RAW), "raw") == 0);
    CHECK(strcmp(shmkit_kind_name(SHMKIT_KIND_NONE), "-") == 0);
    CHECK(strcmp(shmkit_version(), SHMKIT_VERSION_STRING) == 0);

    /* size 0 */
    shmkit_segment_opts_init(&o);
    o.size = 0;
    skt_name(n, sizeof n);
    shmkit_clear_error();
    CHECK_RC(shmkit_segment_create(n, &o, &s), -EINVAL);
    CHECK(shmkit_last_error()[0] != 0);
    shmkit_segment_info_t info;
    CHECKF(shmkit_segment_inspect(n, &info) == -ENOENT,
           "size-0 create left %s behind", n);
    CHECK_RC(shmkit_segment_create("memfd:zero", &o, &s), -EINVAL);
    CHECK_RC(shmkit_segment_create("anon:", &o, &s), -EINVAL);

    /* a SysV id that is gone: unlink, inspect and open say ENOENT (they
     * said EINVAL, with a hint about kernel.shmmax) */
    {
        int id = shmget(IPC_PRIVATE, 8192, IPC_CREAT | 0600);
        CHECK(id >= 0);
        CHECK(shmctl(id, IPC_RMID, NULL) == 0);
        char byid[64];
        snprintf(byid, sizeof byid, "sysv:id=%d", id);
        CHECK_RC(shmkit_segment_unlink(byid), -ENOENT);
        CHECK_RC(shmkit_segment_inspect(byid, &info), -ENOENT);
        shmkit_segment_opts_t oo;
        shmkit_segment_opts_init(&oo);
        oo.timeout_ms = 10;
        CHECK_RC(shmkit_segment_open(byid, &oo, &s), -ENOENT);
    }

    /* file: naming a FIFO: refused at once, read-only too (that open
     * waited for a writer for ever) */
    {
        char fname[170];
        skt_file_name(fname, sizeof fname);
        const char *fifo = fname + 5; /* after "file:" */
        CHECK(mkfifo(fifo, 0600) == 0);
        shmkit_segment_opts_t oo;
        shmkit_segment_opts_init(&oo);
        oo.timeout_ms = 100;
        for (int ro = 0; ro < 2; ro++) {
            oo.readonly = ro;
            alarm(10); /* a hang fails the test */
            CHECK_RC(shmkit_segment_open(fname, &oo, &s), -EINVAL);
            alarm(0);
        }
        CHECK(unlink(fifo) == 0);
        /* the same in /dev/shm, where any user may make one */
        char pn[96], ppath[128];
        skt_name(pn, sizeof pn);
        snprintf(ppath, sizeof ppath, "/dev/shm/%s", pn[0] == '/' ? pn + 1 : pn);
        CHECK(mkfifo(ppath, 0600) == 0);
        for (int ro = 0; ro < 2; ro++) {
            oo.readonly = ro;
            alarm(10);
            CHECK_RC(shmkit_segment_open(pn, &oo, &s), -EINVAL);
            alarm(0);
        }
        CHECK(unlink(ppath) == 0);
    }

    /* absurd sizes */
    o.size = UINT64_MAX - 100;
    int rc = shmkit_segment_create(n, &o, &s);
    CHECKF(rc < 0, "create of %llu bytes: %d", (unsigned long long)o.size, rc);
    CHECKF(shmkit_segment_inspect(n, &info) == -ENOENT,
           "huge create left %s behind", n);
    rc = shmkit_segment_create("anon:", &o, &s);
    CHECKF(rc < 0, "anon create of ~2^64 bytes: %d", rc);

    /* bad option values */
    shmkit_segment_opts_init(&o);
    o.size = 4096;
    o.mode = 010000 | 0600;
    rc = shmkit_segment_create(n, &o, &s);
    if (rc == 0)
        shmkit_segment_close(s);
    CHECKF(rc == -EINVAL, "mode 010600: %d (%s)", rc, shmkit_strerror(rc));
    o.mode = 0600;
    o.kind = 99;
    rc = shmkit_segment_create(n, &o, &s);
    if (rc == 0)
        shmkit_segment_close(s);
    CHECKF(rc == -EINVAL, "kind 99: %d (%s)", rc, shmkit_strerror(rc));
    CHECK(shmkit_segment_inspect(n, &info) == -ENOENT);

    /* bad names */
    const int BN = SHMKIT_E_BAD_NAME;
    bad_create("sysv:zzz", BN, -EINVAL);
    bad_create("sysv:", BN, -EINVAL);
    bad_create("sysv:0x", BN, -EINVAL);
    bad_create("sysv:12abc", BN, -EINVAL);
    bad_create("sysv:0x1ffffffff", BN, -EINVAL);
    bad_create("sysv:id=", BN, -EINVAL);
    bad_create("sysv:id=x", BN, -EINVAL);
    bad_create("sysv:ftok=", BN, -EINVAL);
    bad_create("sysv:ftok=/tmp", BN, -EINVAL);
    bad_create("file:", BN, -EINVAL);
    bad_create("", BN, -EINVAL);
    bad_create("/", BN, -EINVAL);
    bad_create("a/b", BN, -EINVAL);
    bad_create("..", BN, -EINVAL);
    {
        char longname[400];
        memset(longname, 'x', sizeof longname - 1);
        longname[sizeof longname - 1] = 0;
        bad_create(longname, BN, -ENAMETOOLONG);
        char longfile[5000];
        memcpy(longfile, "file:/tmp/", 10);
        memset(longfile + 10, 'y', sizeof longfile - 11);
        longfile[sizeof longfile - 1] = 0;
        bad_create(longfile, BN, -ENAMETOOLONG);
    }
    /* sysv:ftok on a missing path: ENOENT, and it says which path */
    shmkit_segment_opts_init(&o);
    o.size = 4096;
    rc = shmkit_segment_create("sysv:ftok=/nonexistent-skt-errors:7", &o, &s);
    CHECKF(rc == -ENOENT || rc == BN, "ftok of a missing path: %d (%s)", rc,
           shmkit_strerror(rc));
    CHECK(skt_contains(shmkit_last_error(), "nonexistent-skt-errors"));
    /* file: in a missing directory */
    rc = shmkit_segment_create("file:/nonexistent-skt-dir/x", &o, &s);
    CHECKF(rc == -ENOENT, "file in a missing dir: %d (%s)", rc, shmkit_strerror(rc));
    CHECK(skt_contains(shmkit_last_error(), "/nonexistent-skt-dir/x"));
    /* names that only make sense for create */
    CHECKF(shmkit_segment_open("sysv:private", NULL, &s) < 0,
           "open(sysv:private) succeeded");
    CHECKF(shmkit_segment_open("anon:", NULL, &s) < 0, "open(anon:) succeeded");
    CHECKF(shmkit_segment_open("memfd:x", NULL, &s) < 0, "open(memfd:x) succeeded");
    /* a close of NULL is harmless */
    shmkit_segment_close(NULL);
    return SKT_PASS;
}

int main(void)
{
    skt_init("errors");
    return skt_run_isolated(body, NULL);
}
