/*
 * test_seg_stdio - a process started with stdin, stdout and stderr closed.
 *
 * The next fd a process opens is the lowest free one, so with 0-2 closed a
 * segment's fd would be 0, 1 or 2, and the program's own printf() would
 * write into the segment (`shmkit sub C >&-` overwrote a queue's header).
 * With 0 and 1 closed (2 stays open to report failures; the library treats
 * it as it does 0 and 1):
 *  - create and open on the posix, file and memfd backends, a channel's
 *    writer and reader, memfd_recv, inspect and gc all leave fds 0 and 1
 *    free and give segments fds of 3 or more;
 *  - bytes written to fd 1 then (here: EBADF) never reach a segment: its
 *    data are as they were;
 *  - nothing leaks: after closing, the open fds are the ones before.
 * Fails on the old code: the first create got fd 0.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include "test_util.h"

static int count_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            n++;
    return n;
}

static void stdio_free(const char *when)
{
    for (int fd = 0; fd < 2; fd++)
        CHECKF(fcntl(fd, F_GETFD) < 0 && errno == EBADF,
               "%s: fd %d was taken", when, fd);
}

static void seg_cycle(const char *name)
{
    shmkit_segment_opts_t o;
    shmkit_segment_opts_init(&o);
    o.size = 4096;
    shmkit_segment_t *s = NULL, *t = NULL;
    CHECKF(shmkit_segment_create(name, &o, &s) == 0, "create %s: %s", name,
           shmkit_last_error());
    CHECKF(shmkit_segment_fd(s) > 2, "%s: fd %d", name, shmkit_segment_fd(s));
    stdio_free("create");
    memset(shmkit_segment_data(s), 0x11, 4096);
    if (strncmp(name, "memfd:", 6) != 0) {
        CHECKF(shmkit_segment_open(name, &o, &t) == 0, "open %s: %s", name,
               shmkit_last_error());
        CHECK(shmkit_segment_fd(t) > 2);
        stdio_free("open");
        shmkit_segment_info_t info;
        CHECK_OK(shmkit_segment_inspect(name, &info));
        stdio_free("inspect");
    }
    /* what a program's printf would do now: it must reach no segment */
    static const char junk[] = "JUNK-WRITTEN-TO-STDOUT";
    CHECK(write(1, junk, sizeof junk) < 0 && errno == EBADF);
    const unsigned char *d = shmkit_segment_data(s);
    for (int i = 0; i < 4096; i++)
        CHECKF(d[i] == 0x11, "%s: data byte %d is 0x%02x", name, i, d[i]);
    if (t)
        CHECK_OK(shmkit_segment_close(t));
    CHECK_OK(shmkit_segment_close(s)); /* owned: the last close unlinks */
    stdio_free("close");
}

static void chan_cycle(const char *name)
{
    shmkit_channel_opts_t co;
    shmkit_channel_opts_init(&co, SHMKIT_KIND_QUEUE);
    co.capacity = 4096;
    co.max_msg = 64;
    shmkit_endpoint_opts_t eo;
    shmkit_endpoint_opts_init(&eo);
    eo.create = &co;
    shmkit_writer_t *w = NULL;
    shmkit_reader_t *r = NULL;
    CHECKF(shmkit_writer_open(name, &eo, &w) == 0, "writer_open %s: %s",
           name, shmkit_last_error());
    eo.create = NULL;
    CHECKF(shmkit_reader_open(name, &eo, &r) == 0, "reader_open %s: %s",
           name, shmkit_last_error());
    stdio_free("channel open");
    CHECK_OK(shmkit_writer_send(w, "hello", 5, 0));
    char buf[64];
    size_t len = 0;
    CHECK_OK(shmkit_reader_recv(r, buf, sizeof buf, &len, 0));
    CHECK(len == 5 && memcmp(buf, "hello", 5) == 0);
    CHECK_OK(shmkit_reader_close(r));
    CHECK_OK(shmkit_writer_close(w));
    stdio_free("channel close");
    shmkit_segment_unlink(name);
}

static void memfd_pass(void)
{
    /* a socketpair of our own would take 0 and 1: keep them busy meanwhile */
    int a = open("/dev/null", O_RDONLY), b = open("/dev/null", O_RDONLY);
    int sv[2];
    CHECK(a == 0 && b == 1);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    close(a);
    close(b);
    shmkit_segment_opts_t o;
    shmkit_segment_opts_init(&o);
    o.size = 4096;
    shmkit_segment_t *s = NULL, *t = NULL;
    CHECK_OK(shmkit_segment_create("memfd:stdio", &o, &s));
    CHECK_OK(shmkit_memfd_send(sv[0], s));
    CHECK_OK(shmkit_memfd_recv(sv[1], NULL, &o, &t));
    CHECKF(shmkit_segment_fd(t) > 2, "memfd_recv: fd %d", shmkit_segment_fd(t));
    stdio_free("memfd_recv");
    CHECK_OK(shmkit_segment_close(t));
    CHECK_OK(shmkit_segment_close(s));
    close(sv[0]);
    close(sv[1]);
}

static int body(void *arg)
{
    (void)arg;
    char pn[96], fn[160], cn[96];
    skt_name(pn, sizeof pn);
    skt_file_name(fn, sizeof fn);
    skt_name(cn, sizeof cn);
    /* stdin and stdout closed; stderr stays, so that a failure can say
     * what failed (fd 2 takes the same path in the library as 0 and 1) */
    close(0);
    close(1);
    int before = count_fds();
    seg_cycle(pn);
    seg_cycle(fn);
    seg_cycle("memfd:stdio");
    chan_cycle(cn);
    memfd_pass();
    CHECK(shmkit_gc(1, NULL, NULL) >= 0); /* opens what it looks at */
    stdio_free("gc");
    CHECKF(count_fds() == before, "fds before %d, after %d", before,
           count_fds());
    return SKT_PASS;
}

int main(void)
{
    skt_init("stdio");
    return skt_run_isolated(body, NULL);
}
