/*
 * memfd_pass.c - hand a memfd segment to another process over a UNIX socket.
 *
 * The sender seals the memfd against shrinking first (F_SEAL_SHRINK), so no
 * holder of the fd can ever make the receiver's mapping SIGBUS.  The
 * receiver checks the sender's credentials (SO_PEERCRED, filled by the
 * kernel at connect time) against an allow-list, and refuses an fd that is
 * not a sealed memfd.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "backend.h"
#include "error.h"
#include "segment.h"

#define SK_PASS_MAGIC 0x534b4644u /* "SKFD" */

void shmkit_peer_allow_init(shmkit_peer_allow_t *a)
{
    memset(a, 0, sizeof *a);
    a->allow_same_uid = 1;
}

int shmkit_memfd_send(int sock, shmkit_segment_t *seg)
{
    if (!seg || seg->backend != SHMKIT_BACKEND_MEMFD || seg->fd < 0)
        return sk_err(-EINVAL, "memfd_send", seg ? seg->name : NULL,
                      "only memfd: segments can be passed");
    int seals = fcntl(seg->fd, F_GET_SEALS);
    if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
        if (fcntl(seg->fd, F_ADD_SEALS, F_SEAL_SHRINK) != 0)
            return sk_err(-errno, "fcntl(F_ADD_SEALS)", seg->name,
                          "the memfd must be created with MFD_ALLOW_SEALING");
    }
    uint32_t magic = SK_PASS_MAGIC;
    struct iovec iov = {&magic, sizeof magic};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = u.buf;
    msg.msg_controllen = sizeof u.buf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &seg->fd, sizeof(int));
    ssize_t n;
    do
        n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return sk_err(-errno, "sendmsg", seg->name,
                      "the socket must be a connected AF_UNIX socket");
    return 0;
}

static int cred_allowed(const struct ucred *cr, const shmkit_peer_allow_t *a)
{
    if (a->allow_same_uid && cr->uid == geteuid())
        return 1;
    for (size_t i = 0; i < a->nuids; i++)
        if (a->uids && a->uids[i] == cr->uid)
            return 1;
    for (size_t i = 0; i < a->ngids; i++)
        if (a->gids && a->gids[i] == cr->gid)
            return 1;
    return 0;
}

int shmkit_memfd_recv(int sock, const shmkit_peer_allow_t *allow,
                      const shmkit_segment_opts_t *opts, shmkit_segment_t **out)
{
    shmkit_peer_allow_t def;
    shmkit_segment_opts_t o;
    if (!out)
        return sk_err(-EINVAL, "memfd_recv", NULL, "out must not be NULL");
    *out = NULL;
    if (!allow) {
        shmkit_peer_allow_init(&def);
        allow = &def;
    }
    if (opts)
        o = *opts;
    else
        shmkit_segment_opts_init(&o);

    struct ucred cr;
    socklen_t len = sizeof cr;
    if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0)
        return sk_err(-errno, "getsockopt(SO_PEERCRED)", NULL,
                      "the socket must be a connected AF_UNIX socket");

    uint32_t magic = 0;
    struct iovec iov = {&magic, sizeof magic};
    union {
        char buf[CMSG_SPACE(sizeof(int) * 4)];
        struct cmsghdr align;
    } u;
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = u.buf;
    msg.msg_controllen = sizeof u.buf;
    ssize_t n;
    do
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return sk_err(-errno, "recvmsg", NULL, NULL);
    int fd = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < nfd; i++) {
            int f;
            memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof f);
            if (fd < 0)
                fd = f;
            else
                close(f); /* only one fd is expected */
        }
    }
    if (fd < 0)
        return sk_err(n == 0 ? -ECONNRESET : -EBADMSG, "memfd_recv", NULL,
                      "the peer sent no file descriptor");
    if (!cred_allowed(&cr, allow)) {
        close(fd);
        return sk_err(SHMKIT_E_PEER_DENIED, "memfd_recv", NULL,
                      "sender pid %d uid %u gid %u is not in the allow-list "
                      "(shmkit_peer_allow_t)",
                      (int)cr.pid, (unsigned)cr.uid, (unsigned)cr.gid);
    }
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
        close(fd);
        return sk_err(SHMKIT_E_UNSEALED, "memfd_recv", NULL,
                      "the fd is not a memfd sealed with F_SEAL_SHRINK; a "
                      "peer could shrink it and crash us with SIGBUS");
    }
    /* SCM_RIGHTS hands over the sender's open file description, and the
     * attach table's locks belong to open file descriptions: attaching
     * through it, we would take the sender's own slot (its lock is "ours"
     * too), and either side's close would release the other's.  A fresh
     * open of the same memfd is a description of our own. */
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int own = open(path, (o.readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (own < 0) {
        int e = errno;
        close(fd);
        return sk_err(-e, "memfd_recv", NULL,
                      "cannot reopen the received memfd through %s (is /proc "
                      "mounted?); attaching through the sender's own open "
                      "file would share its attach slot",
                      path);
    }
    close(fd);
    if ((fd = sk_fd_above_stdio(own)) < 0)
        return sk_err(fd, "memfd_recv", NULL, "fcntl(F_DUPFD_CLOEXEC)");
    struct sk_name nm;
    memset(&nm, 0, sizeof nm);
    nm.backend = SHMKIT_BACKEND_MEMFD;
    snprintf(nm.canon, sizeof nm.canon, "memfd:from-pid-%d", (int)cr.pid);
    return sk_fd_attach(&nm, fd, &o, out);
}
