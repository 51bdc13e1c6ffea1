/*
 * test_seg_mlock - resource errors that name their fix.
 *
 *  - lock=1 beyond RLIMIT_MEMLOCK (in a child without CAP_IPC_LOCK, limit
 *    64 KiB): create fails with -EPERM/-ENOMEM/-EAGAIN, the hint names
 *    RLIMIT_MEMLOCK or "ulimit -l", and nothing is left behind; a lock=1
 *    segment under the limit works.
 *  - hugepages=1 with no free huge pages: memfd and anon fail with
 *    SHMKIT_E_NO_HUGEPAGES and a hint naming nr_hugepages (skipped when huge
 *    pages are free); posix with hugepages=1 is SHMKIT_E_UNSUPPORTED.
 *  - with huge pages free instead: looking at a memfd segment on huge pages
 *    (shmkit_segment_stat, which `shmkit top` calls every second) maps its
 *    header and unmaps all of it: it used to unmap 8 KiB of a 2 MiB huge
 *    page mapping, which fails, and leaked one mapping per look.
 */
#include "test_util.h"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

static int drop_ipc_lock(void)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    /* the bounding set needs CAP_SETPCAP; without it we hold no
     * CAP_IPC_LOCK to lose anyway */
    if (prctl(PR_CAPBSET_DROP, CAP_IPC_LOCK, 0, 0, 0) != 0 && errno != EINVAL &&
        errno != EPERM)
        return -errno;
    if (syscall(SYS_capget, &hdr, data) != 0)
        return -errno;
    data[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
    data[CAP_IPC_LOCK / 32].permitted &= ~(1u << (CAP_IPC_LOCK % 32));
    data[CAP_IPC_LOCK / 32].inheritable &= ~(1u << (CAP_IPC_LOCK % 32));
    if (syscall(SYS_capset, &hdr, data) != 0)
        return -errno;
    memset(data, 0, sizeof data);
    if (syscall(SYS_capget, &hdr, data) != 0)
        return -errno;
    if (data[CAP_IPC_LOCK / 32].effective & (1u << (CAP_IPC_LOCK % 32)))
        return -EPERM;
    return 0;
}

static int mlock_child(void *p)
{
    (void)p;
    int rc = drop_ipc_lock();
    CHECKF(rc == 0, "dropping CAP_IPC_LOCK: %s", strerror(-rc));
    struct rlimit rl = {64 << 10, 64 << 10};
    CHECK(setrlimit(RLIMIT_MEMLOCK, &rl) == 0);

    /* AddressSanitizer turns mlock() into a no-op; SysV's SHM_LOCK it
     * leaves alone, so a sanitized build checks only that one */
    const char *names[3];
    char n1[128], n2[128];
    int nn = 0;
    names[nn++] = skt_sysv_name(n2, sizeof n2, NULL);
    if (!skt_sanitized()) {
        names[nn++] = skt_name(n1, sizeof n1);
        names[nn++] = "memfd:mlock";
    }
    for (int i = 0; i < nn; i++) {
        shmkit_segment_opts_t o;
        shmkit_segment_t *s = NULL;
        shmkit_segment_opts_init(&o);
        o.size = 16u << 20;
        o.lock = 1;
        shmkit_clear_error();
        rc = shmkit_segment_create(names[i], &o, &s);
        CHECKF(rc == -EPERM || rc == -ENOMEM || rc == -EAGAIN,
               "%s: lock=1 16 MiB over a 64 KiB RLIMIT_MEMLOCK: %d (%s)",
               names[i], rc, shmkit_strerror(rc));
        const char *h = shmkit_last_error_hint();
        CHECKF(skt_contains(h, "RLIMIT_MEMLOCK") || skt_contains(h, "ulimit -l"),
               "%s: hint does not name RLIMIT_MEMLOCK / ulimit -l: \"%s\"",
               names[i], h);
        if (strncmp(names[i], "memfd:", 6) != 0) {
            shmkit_segment_info_t info;
            CHECKF(shmkit_segment_inspect(names[i], &info) == -ENOENT,
                   "%s: a failed lock=1 create left the segment behind",
                   names[i]);
        }
        /* under the limit it works */
        o.size = 16u << 10;
        rc = shmkit_segment_create(names[i], &o, &s);
        CHECKF(rc == 0, "%s: lock=1 16 KiB under a 64 KiB limit: %d (%s)",
               names[i], rc, shmkit_strerror(rc));
        memset(shmkit_segment_data(s), 1, shmkit_segment_data_size(s));
        CHECK_OK(shmkit_segment_close(s));
    }
    return SKT_PASS;
}

static long huge_free(void)
{
    FILE *f = fopen("/proc/meminfo", "re");
    char line[256];
    long v = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "HugePages_Free: %ld", &v) == 1)
            break;
    fclose(f);
    return v;
}

static int body(void *arg)
{
    (void)arg;
    int rc = skt_run_child(mlock_child, NULL);
    CHECKF(rc == 0, "RLIMIT_MEMLOCK part failed");
    printf("mlock over RLIMIT_MEMLOCK: ok\n");

    shmkit_segment_opts_t o;
    shmkit_segment_t *s = NULL;
    char n[128];
    shmkit_segment_opts_init(&o);
    o.size = 1u << 20;
    o.hugepages = 1;
    skt_name(n, sizeof n);
    rc = shmkit_segment_create(n, &o, &s);
    CHECKF(rc == SHMKIT_E_UNSUPPORTED, "posix hugepages=1: %d (%s)", rc,
           shmkit_strerror(rc));
    shmkit_segment_info_t info;
    CHECK_RC(shmkit_segment_inspect(n, &info), -ENOENT);
    printf("posix hugepages: ok (unsupported)\n");

    long hf = huge_free();
    if (hf > 0) {
        shmkit_segment_opts_t ho;
        shmkit_segment_opts_init(&ho);
        ho.size = 4096;
        ho.hugepages = 1;
        CHECK_OK(shmkit_segment_create("memfd:hp", &ho, &s));
        CHECK_OK(shmkit_segment_stat(s, &info));
        int maps = skt_count_maps();
        for (int i = 0; i < 20; i++)
            CHECK_OK(shmkit_segment_stat(s, &info));
        int after = skt_count_maps();
        CHECKF(after == maps, "20 looks at a huge page segment: %d mappings "
               "before, %d after", maps, after);
        CHECK_OK(shmkit_segment_close(s));
        printf("looks at a huge page segment leave no mapping behind: ok\n");
    }
    if (hf != 0) {
        printf("HugePages_Free = %ld: NO_HUGEPAGES part skipped\n", hf);
        return SKT_PASS;
    }
    const char *names[] = {"memfd:h", "anon:"};
    for (int i = 0; i < 2; i++) {
        shmkit_clear_error();
        rc = shmkit_segment_create(names[i], &o, &s);
        CHECKF(rc == SHMKIT_E_NO_HUGEPAGES, "%s hugepages=1 with none free: %d (%s)",
               names[i], rc, shmkit_strerror(rc));
        CHECKF(skt_contains(shmkit_last_error_hint(), "nr_hugepages"),
               "%s: hint does not mention nr_hugepages: \"%s\"", names[i],
               shmkit_last_error_hint());
    }
    printf("memfd/anon hugepages with none free: ok\n");
    return SKT_PASS;
}

int main(void)
{
    skt_init("mlock");
    return skt_run_isolated(body, NULL);
}
