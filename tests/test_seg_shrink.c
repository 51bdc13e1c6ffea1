/*
 * test_seg_shrink - looking at a file that its owner shrinks meanwhile.
 *
 * ls, gc and inspect read the header of every file in /dev/shm, foreign
 * ones too.  A file that shrinks between the look's fstat and its read of
 * the header made that read SIGBUS (the header was mapped): any user could
 * crash a root `shmkit gc`.  Here a child flips a file between 8 KiB
 * (filled with shmkit's magic first, so the look goes on to read it all)
 * and 0 bytes, while this process inspects it and runs gc (dry run) for
 * 1.5 s * scale: it must survive, and each inspect must succeed or fail
 * with a code, and never call the file shmkit's and stale.
 */
#include <sys/prctl.h>

#include "test_util.h"

static int flipper(void *arg)
{
    int fd = *(int *)arg;
    static unsigned char page[8192];
    uint64_t magic = SKT_MAGIC;
    memcpy(page, &magic, sizeof magic);
    for (;;) {
        if (pwrite(fd, page, sizeof page, 0) != (ssize_t)sizeof page ||
            ftruncate(fd, 0) != 0)
            return SKT_FAIL;
    }
}

static int body(void *arg)
{
    (void)arg;
    char name[96], path[160];
    skt_name(name, sizeof name);
    snprintf(path, sizeof path, "/dev/shm%s%s", name[0] == '/' ? "" : "/", name);
    skt_track(name);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    CHECKF(fd >= 0, "create %s: %s", path, strerror(errno));
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        _exit(flipper(&fd));
    }
    shmkit_segment_info_t *info = malloc(sizeof *info);
    CHECK(info != NULL);
    uint64_t end = skt_now_ns() + 1500000000ull * (uint64_t)skt_scale();
    long looks = 0, ok = 0;
    while (skt_now_ns() < end) {
        int rc = shmkit_segment_inspect(name, info);
        if (rc == 0) {
            ok++;
            CHECKF(!(info->stale && info->is_shmkit),
                   "a foreign file that shrinks was called a stale segment");
        }
        if (++looks % 8 == 0)
            CHECK(shmkit_gc(1, NULL, NULL) >= 0);
    }
    kill(pid, SIGKILL);
    int st = 0;
    skt_wait(pid, &st);
    CHECKF(WIFSIGNALED(st), "the flipper stopped on its own (status 0x%x)", st);
    close(fd);
    CHECK(unlink(path) == 0);
    free(info);
    printf("%ld looks at a file that shrinks (%ld succeeded): no SIGBUS\n",
           looks, ok);
    return SKT_PASS;
}

int main(void)
{
    skt_init("shrink");
    return skt_run_isolated(body, NULL);
}
