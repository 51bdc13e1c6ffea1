/*
 * test_seg_hiddenproc - a live process that /proc does not show is not dead.
 *
 * /proc mounted with hidepid=1 or 2 hides other users' processes, and a
 * container may have no /proc at all.  A pid missing from /proc used to
 * count as dead: a SysV opener took over a live attachee's slot (its
 * liveness is the pid and start time in the slot), and the segment looked
 * stale.  Here (root, in a private mount + IPC namespace) a child creates
 * an owned SysV segment and stays; then /proc is hidden under an empty
 * tmpfs, and the parent opens the segment: the child's slot must stay
 * listed, its creator must be "unknown" (-1), not dead, and the segment
 * must not be stale.  Skips where it cannot mount.
 */
#include <sys/mount.h>
#include <sys/prctl.h>

#include "test_util.h"

static int ready[2];
static char seg_name[64];

static int creator(void *arg)
{
    (void)arg;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    shmkit_segment_opts_t o;
    shmkit_segment_opts_init(&o);
    o.size = 4096;
    shmkit_segment_t *s;
    if (shmkit_segment_create(seg_name, &o, &s) != 0)
        return SKT_FAIL;
    if (write(ready[1], "r", 1) != 1)
        return SKT_FAIL;
    for (;;)
        pause(); /* killed here */
}

static int body(void *arg)
{
    (void)arg;
    if (!skt_in_ns)
        skip("needs a private mount namespace to hide /proc");
    snprintf(seg_name, sizeof seg_name, "sysv:0x%08x",
             (unsigned)(0x5b000000u | (getpid() & 0xffffff)));
    skt_track(seg_name);
    CHECK(pipe(ready) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        _exit(creator(NULL));
    char c;
    CHECK(read(ready[0], &c, 1) == 1);
    if (mount("none", "/proc", "tmpfs", 0, "size=4k") != 0) {
        kill(pid, SIGKILL);
        skt_wait(pid, NULL);
        skip("cannot mount a tmpfs over /proc: %s", strerror(errno));
    }
    shmkit_segment_t *s;
    int rc = shmkit_segment_open(seg_name, NULL, &s);
    CHECKF(rc == 0, "open %s: %s", seg_name, shmkit_last_error());
    shmkit_segment_info_t *in = malloc(sizeof *in);
    CHECK(in != NULL);
    CHECK_OK(shmkit_segment_stat(s, in));
    int listed = 0;
    for (int i = 0; i < in->nattached_listed; i++)
        if (in->attached[i].pid == pid) {
            listed = 1;
            CHECKF(in->attached[i].alive != 0,
                   "the live creator (pid %d) is listed as dead", (int)pid);
        }
    CHECKF(listed, "the live creator (pid %d) lost its slot to the opener",
           (int)pid);
    CHECKF(in->creator_alive != 0, "the live creator counts as dead");
    CHECK_OK(shmkit_segment_close(s));
    CHECK_OK(shmkit_segment_inspect(seg_name, in));
    CHECKF(!in->stale, "a segment whose creator lives is called stale");
    free(in);
    CHECK(umount("/proc") == 0);
    kill(pid, SIGKILL);
    skt_wait(pid, NULL);
    CHECK_OK(shmkit_segment_unlink(seg_name));
    return SKT_PASS;
}

int main(void)
{
    skt_init("hiddenproc");
    return skt_run_in_ns(body, NULL, NULL);
}
