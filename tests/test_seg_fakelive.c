/*
 * test_seg_fakelive - a peer that may only read a segment cannot make a
 * dead attachee look alive.
 *
 * Liveness of fd-backed segments is an OFD lock per attach slot, held
 * exclusively by the slot's owner.  Read locks need only read access, so a
 * read-only peer can put one on a dead writer's slot byte.  Before the
 * check looked at the lock's type, that kept the writer "alive" forever:
 * a reader waiting with no timeout never learned that the writer was gone.
 *
 * For a queue and a reliable bus: a writer sends one message and is
 * SIGKILLed; an impostor opens the channel read-only (no slot of its own)
 * and read-locks every attach slot byte it can, the dead writer's
 * included; then the reader must still drain the message and get
 * SHMKIT_E_PEER_GONE within a few seconds, and shmkit_segment_stat() must
 * list the writer as dead.  (Checked to fail with the old check, which
 * counted any lock.)
 */
#include "chan_util.h"

#include <fcntl.h>

/* segment.h: the gate byte, then attach slot i at SK_LOCK_SLOT0 + i */
#define LOCK_GATE 0x7fffffff00000000LL
#define LOCK_SLOT0 (LOCK_GATE + 1)

static char chan[128];
static int to_parent[2], to_impostor[2];

static int writer_child(void *arg)
{
    (void)arg;
    shmkit_writer_t *w;
    shmkit_endpoint_opts_t eo;
    cu_eo(&eo, SHMKIT_WAIT_ADAPTIVE);
    CHECK_OK(shmkit_writer_open(chan, &eo, &w));
    for (int i = 0; i < 5000 && shmkit_writer_readers(w) < 1; i++)
        cu_sleep_ns(1000000);
    uint64_t v = 42;
    CHECK_OK(shmkit_writer_send(w, &v, sizeof v, 1000000000ll));
    cu_signal_fd(to_parent[1]);
    for (;;)
        pause(); /* killed here */
}

static int lock_rd(int fd, int64_t byte)
{
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_RDLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = byte;
    fl.l_len = 1;
    return fcntl(fd, F_OFD_SETLK, &fl) == 0 ? 0 : -errno;
}

static int impostor_child(void *arg)
{
    (void)arg;
    shmkit_segment_opts_t o;
    shmkit_segment_t *s;
    shmkit_segment_opts_init(&o);
    o.readonly = 1;
    CHECK_OK(shmkit_segment_open(chan, &o, &s));
    int fd = shmkit_segment_fd(s);
    CHECK(fd >= 0);
    /* every slot byte not held by a live attachee (only the reader's and
     * the parent's are): the dead writer's among them */
    int held = 0;
    for (int i = 0; i < SHMKIT_MAX_ATTACH; i++)
        held += lock_rd(fd, LOCK_SLOT0 + i) == 0;
    CHECKF(held >= SHMKIT_MAX_ATTACH - 2, "the impostor read-locked only %d "
           "slot bytes", held);
    cu_signal_fd(to_parent[1]);
    CHECK(cu_wait_fd(to_impostor[0], 1, 60000) == 0);
    CHECK_OK(shmkit_segment_close(s));
    return SKT_PASS;
}

static void one(shmkit_kind_t kind, int reliable, const char *what)
{
    skt_name(chan, sizeof chan);
    cu_create(chan, kind, 65536, reliable, 0, 0);
    cu_pipe(to_parent);
    cu_pipe(to_impostor);
    shmkit_reader_t *r;
    shmkit_endpoint_opts_t eo;
    cu_eo(&eo, SHMKIT_WAIT_ADAPTIVE);
    CHECK_OK(shmkit_reader_open(chan, &eo, &r));
    pid_t w = cu_spawn(writer_child, NULL);
    CHECK(cu_wait_fd(to_parent[0], 1, 10000) == 0);

    shmkit_segment_t *seg;
    shmkit_segment_info_t info;
    CHECK_OK(shmkit_segment_open(chan, NULL, &seg));
    int st = cu_kill(w);
    CHECKF(WIFSIGNALED(st), "%s: the writer exited (0x%x) before it was killed", what, st);
    pid_t imp = cu_spawn(impostor_child, NULL);
    CHECK(cu_wait_fd(to_parent[0], 1, 10000) == 0);

    /* the impostor's read lock is there, and the writer is still dead */
    CHECK_OK(shmkit_segment_stat(seg, &info));
    int listed = 0;
    for (int i = 0; i < info.nattached_listed; i++)
        if (info.attached[i].pid == w) {
            listed = 1;
            CHECKF(info.attached[i].alive == 0,
                   "%s: a read lock on its slot byte makes the dead writer "
                   "look alive", what);
        }
    CHECKF(listed, "%s: the dead writer (pid %d) is not listed", what, (int)w);
    uint64_t v = 0, t0 = skt_now_ns();
    size_t n;
    CHECK_OK(shmkit_reader_recv(r, &v, sizeof v, &n, 5000000000ll));
    CHECK(v == 42);
    int rc = shmkit_reader_recv(r, &v, sizeof v, &n, 10000000000ll);
    CHECKF(rc == SHMKIT_E_PEER_GONE,
           "%s: the reader got %d (%s) after %.1f s, not PEER_GONE: a read "
           "lock on the dead writer's slot byte kept it alive", what, rc,
           shmkit_strerror(rc), (double)(skt_now_ns() - t0) / 1e9);
    cu_signal_fd(to_impostor[1]);
    CHECK(cu_reap(imp, "impostor") == 0);
    CHECK_OK(shmkit_segment_close(seg));
    CHECK_OK(shmkit_reader_close(r));
    CHECK_OK(shmkit_segment_unlink(chan));
    for (int i = 0; i < 2; i++) {
        close(to_parent[i]);
        close(to_impostor[i]);
    }
    printf("%s: a read-locked slot of a dead writer is dead (PEER_GONE in "
           "%.2f s): ok\n", what, (double)(skt_now_ns() - t0) / 1e9);
}

int main(void)
{
    cu_init("test_seg_fakelive", 120);
    one(SHMKIT_KIND_QUEUE, 0, "queue");
    one(SHMKIT_KIND_BUS, 1, "bus/reliable");
    return cu_result();
}
