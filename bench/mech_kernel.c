/*
 * mech_kernel.c - the kernel's own IPC as baselines: pipe, UNIX stream
 * socket, POSIX message queue.  Each message is one write() / send() /
 * mq_send() of the whole payload and one read of it (looped for partial
 * reads on byte streams), blocking, as a program would use them.
 *
 * Every descriptor is created in the parent and inherited by the two
 * children; POSIX queues are unlinked right after they are opened, so a
 * killed run leaves nothing behind.  Pipes are grown to 1 MiB
 * (F_SETPIPE_SZ) where the system allows it.  A 64 KiB or 1 MiB message
 * does not fit POSIX mq's default limits (msgsize_max 8 KiB,
 * RLIMIT_MSGQUEUE 800 KiB): as root the bench raises them for the run and
 * restores msgsize_max afterwards; otherwise those sizes are skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

struct kep {
    int rfd, wfd;
};

static int write_full(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int read_full(int fd, void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len) {
        ssize_t n = read(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return 1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int fd_send(void *ep, const void *buf, size_t len, int pay, uint64_t seq)
{
    (void)pay;
    (void)seq;
    return write_full(((struct kep *)ep)->wfd, buf, len);
}

static int fd_recv(void *ep, void *buf, size_t len, int pay, uint64_t *seq)
{
    (void)pay;
    int r = read_full(((struct kep *)ep)->rfd, buf, len);
    if (r == 0)
        *seq = load64(buf);
    return r;
}

static void fd_close(void *ep, int side)
{
    (void)side;
    free(ep);
}

static void fd_teardown(point_t *p)
{
    for (int i = 0; i < 4; i++)
        if (p->h[i] > 0)
            close((int)p->h[i]);
}

/* ---- pipe -------------------------------------------------------------------- */

static int pipe_setup(point_t *p, char *why, size_t n)
{
    int a[2], b[2] = {-1, -1};
    if (pipe2(a, O_CLOEXEC) < 0 || (!p->tput && pipe2(b, O_CLOEXEC) < 0)) {
        snprintf(why, n, "pipe: %s", strerror(errno));
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        fcntl(a[i], F_SETPIPE_SZ, 1 << 20);
        if (b[i] >= 0)
            fcntl(b[i], F_SETPIPE_SZ, 1 << 20);
    }
    p->h[0] = a[0];
    p->h[1] = a[1];
    p->h[2] = b[0];
    p->h[3] = b[1];
    return 0;
}

static int pipe_open(point_t *p, int side, void **out)
{
    struct kep *e = malloc(sizeof *e);
    if (!e)
        return -1;
    if (side == 0) {
        e->wfd = (int)p->h[1];
        e->rfd = (int)p->h[2];
    } else {
        e->rfd = (int)p->h[0];
        e->wfd = (int)p->h[3];
    }
    *out = e;
    return 0;
}

const mech_t mech_pipe = {"kernel", "pipe", 0, 0, 0, pipe_setup, pipe_open,
                          fd_send, fd_recv, fd_close, fd_teardown};

/* ---- UNIX stream socket ------------------------------------------------------ */

static int unix_setup(point_t *p, char *why, size_t n)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        snprintf(why, n, "socketpair: %s", strerror(errno));
        return -1;
    }
    p->h[0] = sv[0];
    p->h[1] = sv[1];
    p->h[2] = p->h[3] = -1;
    return 0;
}

static int unix_open(point_t *p, int side, void **out)
{
    struct kep *e = malloc(sizeof *e);
    if (!e)
        return -1;
    e->rfd = e->wfd = (int)p->h[side ? 1 : 0];
    *out = e;
    return 0;
}

const mech_t mech_unix = {"kernel", "UNIX stream socket", 0, 0, 0, unix_setup,
                          unix_open, fd_send, fd_recv, fd_close, fd_teardown};

/* ---- POSIX message queue ------------------------------------------------------- */

static long mq_old_msgsize = -1;

static long read_long(const char *path)
{
    FILE *f = fopen(path, "r");
    long v = -1;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

static int write_long(const char *path, long v)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "%ld\n", v);
    return fclose(f) == 0 ? 0 : -1;
}

#define MSGSIZE_MAX "/proc/sys/fs/mqueue/msgsize_max"

void mq_restore_limits(void)
{
    if (mq_old_msgsize > 0) {
        write_long(MSGSIZE_MAX, mq_old_msgsize);
        mq_old_msgsize = -1;
    }
}

static int mq_setup(point_t *p, char *why, size_t n)
{
    long msgsize_max = read_long(MSGSIZE_MAX);
    long msg_max = read_long("/proc/sys/fs/mqueue/msg_max");
    long maxmsg = p->tput ? (msg_max > 0 && msg_max < 10 ? msg_max : 10) : 1;
    int nq = p->tput ? 1 : 2;
    if (msgsize_max > 0 && (long)p->size > msgsize_max) {
        if (geteuid() != 0 || write_long(MSGSIZE_MAX, (long)p->size) < 0) {
            snprintf(why, n, "%zu-byte messages need %s >= %zu (run as root to "
                             "raise it for the run)",
                     p->size, MSGSIZE_MAX, p->size);
            return 1;
        }
        if (mq_old_msgsize < 0) {
            mq_old_msgsize = msgsize_max;
            register_cleanup(mq_restore_limits);
        }
    }
    struct rlimit rl;
    rlim_t need = (rlim_t)nq * (rlim_t)maxmsg * ((rlim_t)p->size + 256) + 65536;
    if (getrlimit(RLIMIT_MSGQUEUE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < need) {
        struct rlimit nr = {need, rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need
                                      ? rl.rlim_max : need};
        if (setrlimit(RLIMIT_MSGQUEUE, &nr) < 0) {
            snprintf(why, n, "%zu-byte messages need RLIMIT_MSGQUEUE >= %llu "
                             "(ulimit -q)",
                     p->size, (unsigned long long)need);
            return 1;
        }
    }
    struct mq_attr a;
    memset(&a, 0, sizeof a);
    a.mq_maxmsg = maxmsg;
    a.mq_msgsize = (long)p->size;
    p->h[0] = p->h[1] = p->h[2] = p->h[3] = -1;
    for (int q = 0; q < nq; q++) {
        char name[96];
        snprintf(name, sizeof name, "/skb-%d-%d-mq%d", (int)getpid(), p->id, q);
        mqd_t d = mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &a);
        if (d == (mqd_t)-1) {
            int e = errno;
            fd_teardown(p);
            if (e == EINVAL || e == EMFILE || e == ENOMEM || e == ENOSPC) {
                snprintf(why, n, "mq_open(%zu-byte messages): %s", p->size, strerror(e));
                return 1;
            }
            snprintf(why, n, "mq_open: %s", strerror(e));
            return -1;
        }
        mq_unlink(name);
        p->h[q] = (intptr_t)d;
    }
    return 0;
}

static int mq_open_ep(point_t *p, int side, void **out)
{
    struct kep *e = malloc(sizeof *e);
    if (!e)
        return -1;
    /* queue 0: A -> B, queue 1: B -> A */
    e->wfd = (int)p->h[side ? 1 : 0];
    e->rfd = (int)p->h[side ? 0 : 1];
    *out = e;
    return 0;
}

static int mq_send_msg(void *ep, const void *buf, size_t len, int pay, uint64_t seq)
{
    (void)pay;
    (void)seq;
    while (mq_send((mqd_t)((struct kep *)ep)->wfd, buf, len, 0) < 0)
        if (errno != EINTR)
            return -errno;
    return 0;
}

static int mq_recv_msg(void *ep, void *buf, size_t len, int pay, uint64_t *seq)
{
    (void)pay;
    ssize_t n;
    while ((n = mq_receive((mqd_t)((struct kep *)ep)->rfd, buf, len, NULL)) < 0)
        if (errno != EINTR)
            return -errno;
    if ((size_t)n != len)
        return -EBADMSG;
    *seq = load64(buf);
    return 0;
}

const mech_t mech_mq = {"kernel", "POSIX mq", 0, 0, 0, mq_setup, mq_open_ep,
                        mq_send_msg, mq_recv_msg, fd_close, fd_teardown};
