/*
 * test_seg_memfd_pass - memfd fd passing checks seals and peer credentials.
 *
 *  - shmkit_memfd_send seals F_SEAL_SHRINK; a receiver with the default
 *    allow-list (same uid) accepts and sees the data;
 *  - a raw memfd without F_SEAL_SHRINK (SCM_RIGHTS by hand) is refused with
 *    SHMKIT_E_UNSEALED, also when it carries a valid shmkit header;
 *  - allow_same_uid = 0 with empty lists refuses with SHMKIT_E_PEER_DENIED;
 *  - an allow-list naming our uid (or our gid) accepts;
 *  - (root) a sender running as uid 65534 is refused by the default list;
 *  - refusals leave no fd behind;
 *  - a receiver attached while the sender still holds the segment gets an
 *    attach slot of its own (SCM_RIGHTS passes the sender's open file
 *    description, whose slot lock it used to share), and each side's close
 *    leaves the other alive.
 */
#include "test_util.h"

#include <sys/socket.h>
#include <sys/un.h>

#define REQ 8192u

static int g_seed_ok;

/* Sends fd over sock with SCM_RIGHTS. */
static int send_raw_fd(int sock, int fd)
{
    char byte = 'm';
    struct iovec iov = {&byte, 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = u.buf;
    mh.msg_controllen = sizeof u.buf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    return sendmsg(sock, &mh, MSG_NOSIGNAL) == 1 ? 0 : -errno;
}

struct sender {
    int sock;
    uint64_t seed;
    int mode; /* 0 shmkit_memfd_send, 1 raw unsealed memfd, 2 raw unsealed
                 memfd with a real header, 3 sealed only against growing */
};

static int sender(void *p)
{
    struct sender *a = p;
    shmkit_segment_opts_t o;
    shmkit_segment_t *s = NULL;
    shmkit_segment_opts_init(&o);
    o.size = REQ;
    if (a->mode == 0) {
        CHECK_OK(shmkit_segment_create("memfd:pass", &o, &s));
        skt_fill(shmkit_segment_data(s), REQ, a->seed);
        CHECK_OK(shmkit_memfd_send(a->sock, s));
        int seals = fcntl(shmkit_segment_fd(s), F_GET_SEALS);
        CHECKF(seals >= 0 && (seals & F_SEAL_SHRINK),
               "sent memfd not sealed against shrinking (seals %#x)", seals);
        CHECK_OK(shmkit_segment_close(s));
        return SKT_PASS;
    }
    unsigned flags = MFD_CLOEXEC | (a->mode == 3 ? MFD_ALLOW_SEALING : 0);
    int fd = memfd_create("raw", flags);
    CHECK(fd >= 0);
    CHECK(ftruncate(fd, SKT_HDR_SIZE + REQ) == 0);
    if (a->mode >= 2) {
        /* copy a real header so only the seal is wrong */
        CHECK_OK(shmkit_segment_create("memfd:src", &o, &s));
        CHECK(pwrite(fd, (uint8_t *)shmkit_segment_data(s) - SKT_HDR_SIZE,
                     SKT_HDR_SIZE, 0) == (ssize_t)SKT_HDR_SIZE);
        CHECK_OK(shmkit_segment_close(s));
    }
    if (a->mode == 3)
        CHECK(fcntl(fd, F_ADD_SEALS, F_SEAL_GROW) == 0);
    CHECK(send_raw_fd(a->sock, fd) == 0);
    close(fd);
    return SKT_PASS;
}

/* Runs a sender child on a fresh socketpair; returns recv's result. */
static int exchange(int mode, const shmkit_peer_allow_t *allow,
                    shmkit_segment_t **out, uint64_t *seed)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    struct sender a = {sv[1], skt_rand64() >> 1, mode};
    *seed = a.seed;
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        exit(sender(&a));
    }
    close(sv[1]);
    int st;
    skt_wait(pid, &st);
    CHECKF(skt_status_rc(st, "sender") == 0, "sender mode %d failed", mode);
    int before = skt_count_fds();
    shmkit_clear_error();
    int rc = shmkit_memfd_recv(sv[0], allow, NULL, out);
    int after = skt_count_fds();
    close(sv[0]);
    if (rc != 0)
        CHECKF(after == before, "refused recv leaked %d fd(s)", after - before);
    else
        CHECKF(after == before + 1, "accepted recv: %d new fds", after - before);
    return rc;
}

static void accept_ok(int rc, shmkit_segment_t *s, uint64_t seed, const char *what)
{
    CHECKF(rc == 0, "%s: recv %d (%s)", what, rc, shmkit_strerror(rc));
    CHECK(shmkit_segment_data_size(s) >= REQ);
    CHECK(skt_verify(shmkit_segment_data(s), REQ, seed) == -1);
    int seals = fcntl(shmkit_segment_fd(s), F_GET_SEALS);
    CHECK(seals >= 0 && (seals & F_SEAL_SHRINK));
    CHECK(shmkit_segment_kind(s) == SHMKIT_KIND_RAW);
    CHECK_OK(shmkit_segment_close(s));
    g_seed_ok++;
    printf("%s: ok\n", what);
}

static void refused(int rc, int want, const char *what)
{
    CHECKF(rc == want, "%s: recv %d (%s), expected %d (%s)", what, rc,
           shmkit_strerror(rc), want, shmkit_strerror(want));
    CHECK(shmkit_last_error()[0] != 0);
    printf("%s: refused (%s): ok\n", what, shmkit_strerror(rc));
}

/* root: a sender that connects as uid 65534 to an abstract socket. */
static int other_uid_sender(void *p)
{
    const struct sockaddr_un *addr = p;
    CHECK(skt_drop_privs(65534, 65534, NULL, 0) == 0);
    int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(sock >= 0);
    CHECK(connect(sock, (const struct sockaddr *)addr,
                  offsetof(struct sockaddr_un, sun_path) + 1 +
                      strlen(addr->sun_path + 1)) == 0);
    shmkit_segment_opts_t o;
    shmkit_segment_t *s = NULL;
    shmkit_segment_opts_init(&o);
    o.size = REQ;
    CHECK_OK(shmkit_segment_create("memfd:nobody", &o, &s));
    CHECK_OK(shmkit_memfd_send(sock, s));
    char c;
    (void)!read(sock, &c, 1); /* wait until the receiver is done */
    CHECK_OK(shmkit_segment_close(s));
    close(sock);
    return SKT_PASS;
}

static void other_uid(void)
{
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path + 1, sizeof addr.sun_path - 1, "skt-memfd-%d-%llx",
             (int)getpid(), (unsigned long long)skt_rand64());
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
                                strlen(addr.sun_path + 1));
    int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(ls >= 0);
    CHECK(bind(ls, (struct sockaddr *)&addr, len) == 0);
    CHECK(listen(ls, 1) == 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        exit(other_uid_sender(&addr));
    int cs = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
    CHECK(cs >= 0);
    shmkit_peer_allow_t allow;
    shmkit_peer_allow_init(&allow);
    shmkit_segment_t *s = NULL;
    int before = skt_count_fds();
    int rc = shmkit_memfd_recv(cs, &allow, NULL, &s);
    CHECK(skt_count_fds() == before);
    close(cs);
    close(ls);
    int st;
    skt_wait(pid, &st);
    CHECKF(skt_status_rc(st, "uid 65534 sender") == 0, "sender failed");
    refused(rc, SHMKIT_E_PEER_DENIED, "sender uid 65534, default allow-list");
}

/* The number of attach slots with a process in them, and how many of those
 * are alive. */
static int attached(shmkit_segment_t *s, int *alive)
{
    shmkit_segment_info_t info;
    CHECK_OK(shmkit_segment_stat(s, &info));
    *alive = 0;
    for (int i = 0; i < info.nattached_listed; i++)
        if (info.attached[i].alive == 1)
            (*alive)++;
    return info.nattached_listed;
}

static void own_slot(void)
{
    shmkit_segment_opts_t o;
    shmkit_segment_opts_init(&o);
    o.size = REQ;
    shmkit_segment_t *s, *r;
    CHECK_OK(shmkit_segment_create("memfd:own-slot", &o, &s));
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    CHECK_OK(shmkit_memfd_send(sv[1], s));
    CHECK_OK(shmkit_memfd_recv(sv[0], NULL, NULL, &r));
    close(sv[0]);
    close(sv[1]);
    int alive, n = attached(r, &alive);
    CHECKF(n == 2 && alive == 2, "sender and receiver attached: %d slots in "
           "use, %d alive; expected 2 and 2 (one slot shared?)", n, alive);
    CHECK_OK(shmkit_segment_close(s)); /* the sender leaves */
    n = attached(r, &alive);
    CHECKF(n == 1 && alive == 1, "after the sender closed: %d slots in use, "
           "%d alive; expected the receiver's, alive", n, alive);
    CHECK_OK(shmkit_segment_close(r));
    printf("memfd received while the sender holds it: a slot of its own: ok\n");
}

static int body(void *arg)
{
    (void)arg;
    shmkit_peer_allow_t allow;
    shmkit_segment_t *s = NULL;
    uint64_t seed;
    int rc;

    shmkit_peer_allow_init(&allow);
    CHECK(allow.allow_same_uid == 1);
    CHECK(allow.nuids == 0 && allow.ngids == 0);

    rc = exchange(0, &allow, &s, &seed);
    accept_ok(rc, s, seed, "sealed, default allow-list");

    rc = exchange(1, &allow, &s, &seed);
    refused(rc, SHMKIT_E_UNSEALED, "raw memfd without seals");
    rc = exchange(2, &allow, &s, &seed);
    refused(rc, SHMKIT_E_UNSEALED, "raw memfd with a real header, no seals");
    rc = exchange(3, &allow, &s, &seed);
    refused(rc, SHMKIT_E_UNSEALED, "raw memfd sealed only against growing");

    shmkit_peer_allow_t none;
    shmkit_peer_allow_init(&none);
    none.allow_same_uid = 0;
    rc = exchange(0, &none, &s, &seed);
    refused(rc, SHMKIT_E_PEER_DENIED, "allow_same_uid=0, empty lists");

    uid_t me = geteuid();
    shmkit_peer_allow_t byuid = none;
    byuid.uids = &me;
    byuid.nuids = 1;
    rc = exchange(0, &byuid, &s, &seed);
    accept_ok(rc, s, seed, "allow-list naming our uid");

    uid_t other = me + 4242;
    shmkit_peer_allow_t wronguid = none;
    wronguid.uids = &other;
    wronguid.nuids = 1;
    rc = exchange(0, &wronguid, &s, &seed);
    refused(rc, SHMKIT_E_PEER_DENIED, "allow-list naming another uid");

    gid_t mg = getegid();
    shmkit_peer_allow_t bygid = none;
    bygid.gids = &mg;
    bygid.ngids = 1;
    rc = exchange(0, &bygid, &s, &seed);
    accept_ok(rc, s, seed, "allow-list naming our gid");

    own_slot();

    if (geteuid() == 0)
        other_uid();
    else
        printf("not root: other-uid sender part skipped\n");
    CHECK(g_seed_ok == 3);
    return SKT_PASS;
}

int main(void)
{
    skt_init("memfdpass");
    return skt_run_isolated(body, NULL);
}
