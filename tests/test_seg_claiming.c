/*
 * test_seg_claiming - a SysV attach slot that another process is claiming
 * is not taken from it.
 *
 * A SysV segment has no file to lock, so its attach table is claimed with
 * a CAS on the slot's pid word: 0 (or a dead owner's pid) -> -pid, then the
 * slot's start time and pid namespace are filled in, then +pid.  In between
 * the slot still holds the previous owner's start time, and another
 * attacher used to ask whether "-pid" was alive: no pid is negative, so it
 * called the slot dead, took it over, and two processes shared one slot
 * (one endpoint line: two writers of one channel, and each one's close
 * clearing the other's liveness).
 *
 * Forged here: slot 1 "being claimed" by a live child (it sleeps), with a
 * stale start time; slot 2 "being claimed" by a child that died there.  A
 * new attacher must skip slot 1 and may take slot 2.  (Checked to fail
 * with the old check: the attacher took slot 1.)
 */
#include "test_util.h"

#include <sys/prctl.h>

#include "../src/segment.h"

static pid_t sleeper(void)
{
    fflush(NULL);
    pid_t parent = getpid(), c = fork();
    CHECK(c >= 0);
    if (c == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        for (;;)
            pause();
    }
    return c;
}

int main(void)
{
    skt_init("test_seg_claiming");
    char name[64];
    skt_sysv_name(name, sizeof name, NULL);
    shmkit_segment_opts_t o;
    shmkit_segment_opts_init(&o);
    o.size = 4096;
    shmkit_segment_t *s0, *s1, *s2;
    CHECK_OK(shmkit_segment_create(name, &o, &s0));
    CHECKF(s0->slot == 0, "the creator took slot %d", s0->slot);
    struct sk_header *h = sk_hdr(s0);

    pid_t live = sleeper();
    pid_t dead = sleeper();
    kill(dead, SIGKILL);
    int st;
    skt_wait(dead, &st);
    atomic_store(&h->slots[1].pid, -(int64_t)live);
    h->slots[1].start_time = 12345; /* the previous owner's */
    atomic_store(&h->slots[2].pid, -(int64_t)dead);
    h->slots[2].start_time = 12345;

    CHECK_OK(shmkit_segment_open(name, NULL, &s1));
    CHECKF(s1->slot != 1, "a new attacher took slot 1, which a live process "
           "(pid %d) is claiming", (int)live);
    CHECKF(s1->slot == 2, "a new attacher took slot %d; slot 2, whose claimer "
           "died, was free", s1->slot);
    CHECKF(atomic_load(&h->slots[1].pid) == -(int64_t)live,
           "the claimer's pid word changed to %lld",
           (long long)atomic_load(&h->slots[1].pid));

    /* the claimer dies too: its slot is free again */
    kill(live, SIGKILL);
    skt_wait(live, &st);
    CHECK_OK(shmkit_segment_open(name, NULL, &s2));
    CHECKF(s2->slot == 1, "after the claimer died, a new attacher took slot "
           "%d, not 1", s2->slot);

    CHECK_OK(shmkit_segment_close(s2));
    CHECK_OK(shmkit_segment_close(s1));
    CHECK_OK(shmkit_segment_close(s0)); /* owned: the last close removes it */
    printf("sysv: a slot being claimed by a live process is skipped, one "
           "whose claimer died is taken: ok\n");
    return SKT_PASS;
}
