/*
 * test_seg_sysv_limits - SysV limits reached give clean errors with a hint
 * naming the limit: kernel.shmmni (number of segments) and kernel.shmmax
 * (size of one).  Runs in a private IPC namespace, whose limits are its own,
 * so the rest of the machine is untouched.
 */
#include "test_util.h"

static int write_sysctl(const char *path, const char *val)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int r = fputs(val, f) < 0 ? -1 : 0;
    if (fclose(f) != 0)
        r = -1;
    return r;
}

static int body(void *arg)
{
    (void)arg;
    /* shmmni: at most 4 segments in this namespace */
    if (write_sysctl("/proc/sys/kernel/shmmni", "4") != 0)
        return SKT_SKIP;
    shmkit_segment_t *s[8] = {0};
    shmkit_segment_opts_t o;
    shmkit_segment_opts_init(&o);
    o.size = 4096;
    int made = 0, rc = 0;
    for (int i = 0; i < 8; i++) {
        rc = shmkit_segment_create("sysv:private", &o, &s[i]);
        if (rc < 0)
            break;
        made++;
    }
    CHECKF(made == 4, "created %d segments under shmmni=4", made);
    CHECKF(rc == -ENOSPC, "5th create: %d (%s)", rc, shmkit_strerror(rc));
    CHECKF(skt_contains(shmkit_last_error_hint(), "shmmni"),
           "hint does not name shmmni: \"%s\"", shmkit_last_error_hint());
    for (int i = 0; i < made; i++)
        CHECK_OK(shmkit_segment_close(s[i])); /* owned: removed */

    /* shmmax: one segment may not exceed 64 KiB */
    if (write_sysctl("/proc/sys/kernel/shmmax", "65536") != 0)
        return SKT_SKIP;
    shmkit_segment_t *big = NULL;
    o.size = 1u << 20;
    shmkit_clear_error();
    rc = shmkit_segment_create("sysv:private", &o, &big);
    CHECKF(rc == -EINVAL, "1 MiB create under shmmax=64K: %d (%s)", rc,
           shmkit_strerror(rc));
    CHECKF(skt_contains(shmkit_last_error_hint(), "shmmax"),
           "hint does not name shmmax: \"%s\"", shmkit_last_error_hint());
    /* a small one still works */
    o.size = 16384;
    CHECK_OK(shmkit_segment_create("sysv:private", &o, &big));
    CHECK_OK(shmkit_segment_close(big));
    return SKT_PASS;
}

int main(void)
{
    skt_init("sysv_limits");
    return skt_run_in_ns(body, NULL, "8m");
}
