/*
 * test_seg_leak - open/close cycles leak neither fds nor mappings.
 *
 * 2000 * SHMKIT_TEST_SCALE open/close cycles on a posix and a sysv
 * segment (plus create/close cycles of owned segments, failed opens and
 * inspects); afterwards /proc/self/fd and /proc/self/maps have exactly as
 * many entries as before, and the sysv segment has one attachment (ours).
 */
#include "test_util.h"

static void cycles(const char *name, int n, int readonly)
{
    shmkit_segment_opts_t o;
    shmkit_segment_opts_init(&o);
    o.readonly = readonly;
    for (int i = 0; i < n; i++) {
        shmkit_segment_t *s = NULL;
        int rc = shmkit_segment_open(name, &o, &s);
        CHECKF(rc == 0, "cycle %d: open %s: %d (%s)", i, name, rc,
               shmkit_strerror(rc));
        volatile uint8_t *d = shmkit_segment_data(s);
        CHECK(d[0] == 0x11);
        CHECK_OK(shmkit_segment_close(s));
    }
}

static void create_cycles(const char *name, int n)
{
    shmkit_segment_opts_t o;
    shmkit_segment_opts_init(&o);
    o.size = 4096;
    o.exclusive = 1;
    for (int i = 0; i < n; i++) {
        shmkit_segment_t *s = NULL;
        int rc = shmkit_segment_create(name, &o, &s);
        CHECKF(rc == 0, "cycle %d: create %s: %d (%s)", i, name, rc,
               shmkit_strerror(rc));
        CHECK_OK(shmkit_segment_close(s)); /* owned: unlinks */
    }
}

static void other_calls(const char *name, const char *missing, int n)
{
    shmkit_segment_opts_t o;
    shmkit_segment_opts_init(&o);
    o.timeout_ms = 10;
    shmkit_segment_info_t info;
    for (int i = 0; i < n; i++) {
        shmkit_segment_t *s = NULL;
        CHECK_OK(shmkit_segment_inspect(name, &info));
        CHECK(shmkit_segment_stale(name) == 0);
        CHECK_RC(shmkit_segment_open(missing, &o, &s), -ENOENT);
        CHECK_RC(shmkit_segment_inspect(missing, &info), -ENOENT);
    }
}

static int body(void *arg)
{
    (void)arg;
    int n = 2000 * skt_scale();
    char pn[128], sn[64], on[128], osn[64], miss[128];
    key_t key;
    shmkit_segment_opts_t o;
    shmkit_segment_t *p = NULL, *s = NULL;

    shmkit_segment_opts_init(&o);
    o.size = 65536;
    o.persistent = 1;
    o.exclusive = 1;
    CHECK_OK(shmkit_segment_create(skt_name(pn, sizeof pn), &o, &p));
    memset(shmkit_segment_data(p), 0x11, 65536);
    CHECK_OK(shmkit_segment_close(p));
    CHECK_OK(shmkit_segment_create(skt_sysv_name(sn, sizeof sn, &key), &o, &s));
    memset(shmkit_segment_data(s), 0x11, 65536);
    CHECK_OK(shmkit_segment_close(s));
    skt_name(on, sizeof on);
    skt_sysv_name(osn, sizeof osn, NULL);
    skt_name(miss, sizeof miss);

    /* warm up anything that is set up once per process */
    cycles(pn, 2, 0);
    cycles(sn, 2, 0);
    create_cycles(on, 2);
    create_cycles(osn, 2);
    other_calls(pn, miss, 2);

    int fds0 = skt_count_fds(), maps0 = skt_count_maps();
    int shm0 = skt_count_shm_maps();
    uint64_t t0 = skt_now_ns();
    cycles(pn, n, 0);
    cycles(pn, n / 4, 1);
    cycles(sn, n, 0);
    cycles(sn, n / 4, 1);
    create_cycles(on, n / 4);
    create_cycles(osn, n / 4);
    other_calls(pn, miss, n / 4);
    other_calls(sn, miss, n / 4);
    int fds1 = skt_count_fds(), maps1 = skt_count_maps();
    int shm1 = skt_count_shm_maps();
    printf("%d cycles in %.2f s: fds %d -> %d, maps %d -> %d, shared-memory "
           "maps %d -> %d\n", n, (double)(skt_now_ns() - t0) / 1e9, fds0, fds1,
           maps0, maps1, shm0, shm1);
    CHECKF(fds1 == fds0, "fd leak: %d -> %d", fds0, fds1);
    CHECKF(shm1 == shm0, "shared-memory mapping leak: %d -> %d", shm0, shm1);
    /* a sanitizer's allocator maps memory as it goes: count only ours then */
    if (!skt_sanitized())
        CHECKF(maps1 == maps0, "mapping leak: %d -> %d", maps0, maps1);

    /* the sysv segment is not left attached */
    struct shmid_ds ds;
    int id = shmget(key, 0, 0);
    CHECK(id >= 0);
    CHECK(shmctl(id, IPC_STAT, &ds) == 0);
    CHECKF(ds.shm_nattch == 0, "sysv nattch %lu after all closes",
           (unsigned long)ds.shm_nattch);
    shmkit_segment_info_t info;
    CHECK_OK(shmkit_segment_inspect(pn, &info));
    for (int i = 0; i < info.nattached_listed && i < SHMKIT_MAX_ATTACH; i++)
        CHECKF(info.attached[i].pid != getpid(),
               "posix: our pid still holds attach slot %d after all closes", i);
    CHECK_OK(shmkit_segment_inspect(sn, &info));
    for (int i = 0; i < info.nattached_listed && i < SHMKIT_MAX_ATTACH; i++)
        CHECKF(info.attached[i].pid != getpid(),
               "sysv: our pid still holds attach slot %d after all closes", i);

    CHECK_OK(shmkit_segment_unlink(pn));
    CHECK_OK(shmkit_segment_unlink(sn));
    return SKT_PASS;
}

int main(void)
{
    skt_init("leak");
    return skt_run_isolated(body, NULL);
}
