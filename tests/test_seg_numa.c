/*
 * test_seg_numa - numa_node binds the mapping with mbind before the
 * reservation: a node that exists works (node 0 always does), one that does
 * not is a clean -EINVAL whose hint says where the nodes are listed, and the
 * failed create leaves nothing behind.
 */
#include "test_util.h"

static int body(void *arg)
{
    (void)arg;
    char n[128];
    shmkit_segment_opts_t o;
    shmkit_segment_t *s = NULL;
    shmkit_segment_opts_init(&o);
    o.size = 1u << 20;
    o.numa_node = 0;
    skt_name(n, sizeof n);
    int rc = shmkit_segment_create(n, &o, &s);
    if (rc == -EPERM || rc == -ENOSYS)
        return SKT_SKIP; /* mbind filtered out (seccomp) */
    CHECKF(rc == 0, "numa_node 0: %d (%s)", rc, shmkit_last_error());
    memset(shmkit_segment_data(s), 1, shmkit_segment_data_size(s));
    CHECK_OK(shmkit_segment_close(s));

    /* a node beyond those present */
    int nodes = 0;
    for (int i = 0; i < 1024; i++) {
        char p[64];
        snprintf(p, sizeof p, "/sys/devices/system/node/node%d", i);
        if (access(p, F_OK) == 0)
            nodes = i + 1;
    }
    if (nodes == 0)
        nodes = 1;
    o.numa_node = nodes + 3;
    skt_name(n, sizeof n);
    rc = shmkit_segment_create(n, &o, &s);
    CHECKF(rc == -EINVAL, "numa_node %d of %d: %d (%s)", o.numa_node, nodes, rc,
           shmkit_strerror(rc));
    CHECKF(skt_contains(shmkit_last_error_hint(), "/sys/devices/system/node"),
           "hint: \"%s\"", shmkit_last_error_hint());
    shmkit_segment_info_t info;
    CHECK_RC(shmkit_segment_inspect(n, &info), -ENOENT);
    /* out of any range */
    o.numa_node = 5000;
    CHECK_RC(shmkit_segment_create(n, &o, &s), -EINVAL);
    return SKT_PASS;
}

int main(void)
{
    skt_init("numa");
    return skt_run_in_ns(body, NULL, "16m");
}
