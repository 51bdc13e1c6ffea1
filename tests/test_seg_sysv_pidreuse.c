/*
 * test_seg_sysv_pidreuse - a reused pid is not mistaken for a dead creator.
 *
 * In a private pid + mount + IPC namespace (we are pid 1 there, with a fresh
 * /proc): a child creates an owned sysv segment and is SIGKILLed; then
 * ns_last_pid is set so the next fork gets the dead creator's pid number.
 * With that unrelated process alive under the same pid, inspect must say
 * creator_alive == 0 (the start time differs) and the segment is stale.
 * Needs root; skips where a namespace step is not permitted.
 */
#include "test_util.h"

static int skip_if_eperm(int err, const char *what)
{
    if (err == EPERM || err == EACCES || err == EINVAL || err == ENOSYS) {
        fprintf(stderr, "SKIP: %s: %s\n", what, strerror(err));
        return 1;
    }
    return 0;
}

static int in_pidns(void)
{
    /* we are pid 1 of the new namespace */
    CHECKF(getpid() == 1, "expected pid 1, got %d", (int)getpid());
    if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0)
        return skip_if_eperm(errno, "mount / private") ? SKT_SKIP : SKT_FAIL;
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
        return skip_if_eperm(errno, "mount proc") ? SKT_SKIP : SKT_FAIL;
    if (mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=16m") != 0)
        return skip_if_eperm(errno, "mount tmpfs") ? SKT_SKIP : SKT_FAIL;
    skt_in_ns = 1;

    char name[64];
    key_t key;
    skt_sysv_name(name, sizeof name, &key);

    int pfd[2];
    CHECK(pipe2(pfd, O_CLOEXEC) == 0);
    pid_t c = fork();
    CHECK(c > 0 || c == 0);
    if (c == 0) {
        shmkit_segment_opts_t o;
        shmkit_segment_t *s = NULL;
        shmkit_segment_opts_init(&o);
        o.size = 4096;
        o.exclusive = 1;
        int rc = shmkit_segment_create(name, &o, &s);
        if (rc)
            fprintf(stderr, "create %s: %s\n", name, shmkit_last_error());
        if (write(pfd[1], &rc, sizeof rc) != sizeof rc)
            _exit(2);
        for (;;)
            pause();
    }
    close(pfd[1]);
    int rc = -1;
    CHECK(read(pfd[0], &rc, sizeof rc) == sizeof rc);
    CHECKF(rc == 0, "child create failed: %d (%s)", rc, shmkit_strerror(rc));

    shmkit_segment_info_t info;
    CHECK_OK(shmkit_segment_inspect(name, &info));
    CHECK(info.creator_pid == c);
    CHECK(info.creator_alive == 1);
    CHECK(info.stale == 0);

    int st;
    CHECK(kill(c, SIGKILL) == 0);
    CHECK(skt_wait(c, &st) == c);
    /* start times are in clock ticks: make sure the next process starts
     * at least a few ticks later */
    usleep(100 * 1000);

    int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return skip_if_eperm(errno, "open ns_last_pid") ? SKT_SKIP : SKT_FAIL;
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%d", (int)c - 1);
    if (write(fd, buf, (size_t)len) != len) {
        int e = errno;
        close(fd);
        return skip_if_eperm(e, "write ns_last_pid") ? SKT_SKIP : SKT_FAIL;
    }
    close(fd);
    pid_t r = fork();
    CHECK(r >= 0);
    if (r == 0) {
        for (;;)
            pause();
    }
    CHECKF(r == c, "pid not reused: dead creator was %d, new child is %d",
           (int)c, (int)r);

    memset(&info, 0, sizeof info);
    CHECK_OK(shmkit_segment_inspect(name, &info));
    CHECK(info.creator_pid == c);
    CHECKF(info.creator_alive == 0, "creator_alive = %d for a reused pid %d",
           info.creator_alive, (int)c);
    CHECKF(info.stale == 1, "stale = %d with the creator's pid reused",
           info.stale);
    CHECK_RC(shmkit_segment_stale(name), 1);

    kill(r, SIGKILL);
    skt_wait(r, &st);
    CHECK_OK(shmkit_segment_unlink(name));
    errno = 0;
    CHECK(shmget(key, 0, 0) < 0 && errno == ENOENT);
    printf("pid %d reused: creator_alive 0, stale 1: ok\n", (int)c);
    return SKT_PASS;
}

int main(void)
{
    skt_init("pidreuse");
    if (geteuid() != 0)
        skip("needs root");
    fflush(NULL);
    pid_t outer = fork();
    CHECK(outer >= 0);
    if (outer == 0) {
        if (unshare(CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC) != 0)
            _exit(skip_if_eperm(errno, "unshare") ? SKT_SKIP : SKT_FAIL);
        fflush(NULL);
        pid_t init = fork();
        if (init < 0)
            _exit(skip_if_eperm(errno, "fork into pid ns") ? SKT_SKIP : SKT_FAIL);
        if (init == 0)
            exit(in_pidns());
        int st;
        skt_wait(init, &st);
        _exit(skt_status_rc(st, "pid 1"));
    }
    int st;
    skt_wait(outer, &st);
    return skt_status_rc(st, "namespace child");
}
