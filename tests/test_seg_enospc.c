/*
 * test_seg_enospc - a full /dev/shm is a clean -ENOSPC at create time
 * (reserve is the default), never a SIGBUS later, and leaves nothing
 * behind.  Runs in a private namespace with a 1 MiB tmpfs on /dev/shm.
 */
#include "test_util.h"

static int body(void *arg)
{
    (void)arg;
    char n[128];
    shmkit_segment_opts_t o;
    shmkit_segment_t *s = NULL;

    CHECKF(skt_count_dir("/dev/shm") == 0, "private /dev/shm not empty");

    /* 16 MiB on a 1 MiB tmpfs */
    skt_name(n, sizeof n);
    shmkit_segment_opts_init(&o);
    o.size = 16u << 20;
    shmkit_clear_error();
    int rc = shmkit_segment_create(n, &o, &s);
    CHECKF(rc == -ENOSPC, "create of 16 MiB on a 1 MiB /dev/shm: %d (%s)", rc,
           shmkit_strerror(rc));
    const char *h = shmkit_last_error_hint();
    CHECKF(skt_contains(h, "/dev/shm") || skt_contains(h, "size"),
           "ENOSPC hint mentions neither /dev/shm nor size: \"%s\"", h);
    CHECK(skt_contains(shmkit_last_error(), "ENOSPC"));
    if (skt_count_dir("/dev/shm") != 0) {
        skt_dump_dir("/dev/shm");
        CHECKF(0, "a failed create left something in /dev/shm");
    }

    /* same with exclusive and persistent */
    o.exclusive = 1;
    o.persistent = 1;
    CHECK_RC(shmkit_segment_create(n, &o, &s), -ENOSPC);
    CHECK(skt_count_dir("/dev/shm") == 0);

    /* 512 KiB fits and can be written in full without SIGBUS */
    skt_name(n, sizeof n);
    shmkit_segment_opts_init(&o);
    o.size = 512u << 10;
    CHECK_OK(shmkit_segment_create(n, &o, &s));
    CHECK(shmkit_segment_data_size(s) >= o.size);
    memset(shmkit_segment_data(s), 0xab, shmkit_segment_data_size(s));
    CHECK(((uint8_t *)shmkit_segment_data(s))[shmkit_segment_data_size(s) - 1] ==
          0xab);

    /* while it holds the space, a second 768 KiB one cannot fit */
    char n2[128];
    skt_name(n2, sizeof n2);
    shmkit_segment_t *s2 = NULL;
    o.size = 768u << 10;
    CHECK_RC(shmkit_segment_create(n2, &o, &s2), -ENOSPC);
    CHECKF(skt_count_dir("/dev/shm") == 1, "%d entries in /dev/shm",
           skt_count_dir("/dev/shm"));

    CHECK_OK(shmkit_segment_close(s));
    if (skt_count_dir("/dev/shm") != 0) {
        skt_dump_dir("/dev/shm");
        CHECKF(0, "owned segment left in /dev/shm after its last close");
    }

    /* the space is back */
    o.size = 768u << 10;
    CHECK_OK(shmkit_segment_create(n2, &o, &s2));
    memset(shmkit_segment_data(s2), 0xcd, shmkit_segment_data_size(s2));
    CHECK_OK(shmkit_segment_close(s2));
    CHECK(skt_count_dir("/dev/shm") == 0);
    return SKT_PASS;
}

int main(void)
{
    skt_init("enospc");
    return skt_run_in_ns(body, NULL, "1m");
}
