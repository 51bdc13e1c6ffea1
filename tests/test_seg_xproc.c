/*
 * test_seg_xproc - what one process writes, another sees, on every backend.
 *
 *  posix, sysv, file: the parent creates and writes a pattern; a child
 *    started by fork+exec opens the segment by name, checks the pattern,
 *    writes a reply pattern and exits; the parent checks the reply.
 *  memfd: shared by fork (the child uses the inherited mapping), and by fd
 *    passing (shmkit_memfd_send/recv) to an exec'd child.
 *  anon: shared by fork.
 *  sysv: shared by fork too.
 *  posix and file by fork: the mapping is not inherited; the child opens
 *    its own handle, and closing the inherited one leaves the parent's
 *    attachment (and the owned segment) alone.
 *
 *   test_seg_xproc child NAME SEED        (exec'd: open by name)
 *   test_seg_xproc memfd-child FD SEED    (exec'd: receive over socket FD)
 */
#include "test_util.h"

#include <sys/socket.h>

#define REQ 65536u

/* The exec'd child: verify seed, write seed+1. */
static int child_common(shmkit_segment_t *s, uint64_t seed)
{
    CHECK(s != NULL);
    uint64_t n = shmkit_segment_data_size(s);
    CHECK(n >= REQ);
    int64_t bad = skt_verify(shmkit_segment_data(s), REQ, seed);
    CHECKF(bad == -1, "child sees a wrong byte at %lld", (long long)bad);
    skt_fill(shmkit_segment_data(s), REQ, seed + 1);
    CHECK_OK(shmkit_segment_close(s));
    return SKT_PASS;
}

static int child_main(int argc, char **argv)
{
    CHECK(argc == 4);
    uint64_t seed = strtoull(argv[3], NULL, 0);
    shmkit_segment_t *s = NULL;
    if (!strcmp(argv[1], "child")) {
        CHECK_OK(shmkit_segment_open(argv[2], NULL, &s));
        CHECK(shmkit_segment_kind(s) == SHMKIT_KIND_RAW);
        return child_common(s, seed);
    }
    int sock = atoi(argv[2]);
    CHECKF(fcntl(sock, F_GETFD) >= 0, "socket fd %d not inherited", sock);
    shmkit_peer_allow_t allow;
    shmkit_peer_allow_init(&allow);
    CHECK_OK(shmkit_memfd_recv(sock, &allow, NULL, &s));
    int rc = child_common(s, seed);
    close(sock);
    return rc;
}

static char self_exe[PATH_MAX];

/* fork + exec "self MODE ARG SEED"; returns the child's exit code. */
static int spawn(const char *mode, const char *arg, uint64_t seed, int keep_fd,
                 pid_t *pid_out)
{
    char seedstr[32];
    snprintf(seedstr, sizeof seedstr, "%llu", (unsigned long long)seed);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        if (keep_fd >= 0) {
            int fl = fcntl(keep_fd, F_GETFD);
            fcntl(keep_fd, F_SETFD, fl & ~FD_CLOEXEC);
        }
        execl(self_exe, self_exe, mode, arg, seedstr, (char *)NULL);
        fprintf(stderr, "exec %s: %s\n", self_exe, strerror(errno));
        _exit(127);
    }
    if (pid_out) {
        *pid_out = pid;
        return 0;
    }
    int st;
    skt_wait(pid, &st);
    return skt_status_rc(st, mode);
}

static void by_name(const char *name, const char *what)
{
    shmkit_segment_opts_t o;
    shmkit_segment_t *s = NULL;
    shmkit_segment_opts_init(&o);
    o.size = REQ;
    o.exclusive = 1;
    CHECK_OK(shmkit_segment_create(name, &o, &s));
    uint64_t seed = skt_rand64() >> 1;
    skt_fill(shmkit_segment_data(s), REQ, seed);
    int rc = spawn("child", shmkit_segment_name(s), seed, -1, NULL);
    CHECKF(rc == 0, "%s: exec'd child failed (exit %d)", what, rc);
    int64_t bad = skt_verify(shmkit_segment_data(s), REQ, seed + 1);
    CHECKF(bad == -1, "%s: parent does not see the child's reply (byte %lld)",
           what, (long long)bad);
    /* the child's close did not take the owned segment away from us */
    shmkit_segment_info_t info;
    CHECK_OK(shmkit_segment_inspect(shmkit_segment_name(s), &info));
    CHECK_OK(shmkit_segment_close(s));
    printf("%s: ok\n", what);
}

struct fork_arg {
    shmkit_segment_t *s;
    const char *name;
    int inherit; /* the mapping is inherited (memfd, anon, sysv) */
    uint64_t seed;
};

static int fork_child(void *p)
{
    struct fork_arg *a = p;
    shmkit_segment_t *own = NULL;
    uint8_t *d;
    if (a->inherit) {
        d = shmkit_segment_data(a->s);
    } else {
        /* posix and file mappings are not inherited (MADV_DONTFORK, see
         * shmkit.h): the child opens its own handle */
        CHECK_OK(shmkit_segment_open(a->name, NULL, &own));
        d = shmkit_segment_data(own);
    }
    int64_t bad = skt_verify(d, REQ, a->seed);
    CHECKF(bad == -1, "forked child sees a wrong byte at %lld", (long long)bad);
    skt_fill(d, REQ, a->seed + 1);
    if (own)
        CHECK_OK(shmkit_segment_close(own));
    /* closing the inherited handle only drops our copy */
    CHECK_OK(shmkit_segment_close(a->s));
    return SKT_PASS;
}

static void by_fork(const char *name, int inherit, const char *what)
{
    shmkit_segment_opts_t o;
    struct fork_arg a;
    shmkit_segment_opts_init(&o);
    o.size = REQ;
    CHECK_OK(shmkit_segment_create(name, &o, &a.s));
    a.name = shmkit_segment_name(a.s);
    a.inherit = inherit;
    a.seed = skt_rand64() >> 1;
    skt_fill(shmkit_segment_data(a.s), REQ, a.seed);
    int rc = skt_run_child(fork_child, &a);
    CHECKF(rc == 0, "%s: forked child failed (exit %d)", what, rc);
    int64_t bad = skt_verify(shmkit_segment_data(a.s), REQ, a.seed + 1);
    CHECKF(bad == -1, "%s: parent does not see the child's reply (byte %lld)",
           what, (long long)bad);
    /* the parent's handle still works after the child closed its copy */
    shmkit_segment_info_t info;
    CHECK_OK(shmkit_segment_stat(a.s, &info));
    CHECK(info.is_shmkit == 1);
    int named = strncmp(name, "memfd:", 6) && strncmp(name, "anon:", 5);
    if (named) {
        CHECKF(shmkit_segment_inspect(name, &info) == 0,
               "%s: a child's close removed the parent's owned segment", what);
        CHECK(info.stale == 0);
        int listed = 0;
        for (int i = 0; i < info.nattached_listed && i < SHMKIT_MAX_ATTACH; i++)
            if (info.attached[i].pid == getpid() && info.attached[i].alive == 1)
                listed = 1;
        CHECKF(listed, "%s: parent no longer listed as attached after the "
               "child closed its copy", what);
        shmkit_segment_t *again = NULL;
        CHECK_OK(shmkit_segment_open(name, NULL, &again));
        CHECK(skt_verify(shmkit_segment_data(again), REQ, a.seed + 1) == -1);
        CHECK_OK(shmkit_segment_close(again));
    }
    CHECK_OK(shmkit_segment_close(a.s));
    if (named)
        CHECKF(shmkit_segment_inspect(name, &info) == -ENOENT,
               "%s: owned segment survives the parent's last close (does the "
               "exited child still count as attached?)", what);
    printf("%s: ok\n", what);
}

static void memfd_pass(void)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    shmkit_segment_opts_t o;
    shmkit_segment_t *s = NULL;
    shmkit_segment_opts_init(&o);
    o.size = REQ;
    CHECK_OK(shmkit_segment_create("memfd:xproc", &o, &s));
    uint64_t seed = skt_rand64() >> 1;
    skt_fill(shmkit_segment_data(s), REQ, seed);
    char fdstr[16];
    snprintf(fdstr, sizeof fdstr, "%d", sv[1]);
    pid_t pid;
    spawn("memfd-child", fdstr, seed, sv[1], &pid);
    close(sv[1]);
    int rc = shmkit_memfd_send(sv[0], s);
    int st;
    skt_wait(pid, &st);
    CHECK_OK(rc);
    rc = skt_status_rc(st, "memfd-child");
    CHECKF(rc == 0, "memfd fd passing: exec'd child failed (exit %d)", rc);
    int64_t bad = skt_verify(shmkit_segment_data(s), REQ, seed + 1);
    CHECKF(bad == -1, "memfd-pass: parent does not see the reply (byte %lld)",
           (long long)bad);
    close(sv[0]);
    CHECK_OK(shmkit_segment_close(s));
    printf("memfd fd passing to an exec'd child: ok\n");
}

static int body(void *arg)
{
    (void)arg;
    char n[200];
    by_name(skt_name(n, sizeof n), "posix exec");
    by_name(skt_sysv_name(n, sizeof n, NULL), "sysv exec");
    by_name(skt_file_name(n, sizeof n), "file exec");
    by_fork("memfd:xproc", 1, "memfd fork");
    by_fork("anon:", 1, "anon fork");
    by_fork(skt_sysv_name(n, sizeof n, NULL), 1, "sysv fork");
    by_fork(skt_name(n, sizeof n), 0, "posix fork");
    by_fork(skt_file_name(n, sizeof n), 0, "file fork");
    memfd_pass();
    return SKT_PASS;
}

int main(int argc, char **argv)
{
    skt_init("xproc");
    if (argc > 1)
        return child_main(argc, argv);
    CHECK(skt_self_exe(self_exe, sizeof self_exe) == 0);
    return skt_run_isolated(body, NULL);
}
