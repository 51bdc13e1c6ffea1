/*
 * liveness.c - who is attached, kept by the kernel.
 *
 * fd backends: OFD locks (see segment.h).  A lock belongs to an open file
 * description, so two handles in one process are two attachees, a lock
 * survives exec of nothing (fds are O_CLOEXEC) and dies with the process,
 * and F_OFD_GETLK answers from any pid namespace.  F_OFD_GETLK never
 * reports the caller's own description, which stat() accounts for.
 *
 * sysv: slots are claimed with a CAS on the pid word; a slot whose pid is
 * dead (pid + start time + pid namespace) may be taken over.  The kernel's
 * shm_nattch is the authority on whether anyone is attached at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "error.h"
#include "segment.h"

int sk_lock(int fd, int64_t byte, int type)
{
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = (short)type;
    fl.l_whence = SEEK_SET;
    fl.l_start = byte;
    fl.l_len = 1;
    if (fcntl(fd, F_OFD_SETLK, &fl) != 0)
        return -errno;
    return 0;
}

int sk_lock_held(int fd, int64_t byte)
{
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = byte;
    fl.l_len = 1;
    if (fcntl(fd, F_OFD_GETLK, &fl) != 0)
        return -errno;
    return fl.l_type != F_UNLCK;
}

/* An attach slot's owner holds its byte exclusively.  A shared lock there
 * is not an attachee: anyone who may only read the segment can take one
 * (read locks need only read access), and would otherwise keep a dead
 * writer "alive" forever.  Two locks cannot be both: a slot held shared
 * cannot be claimed. */
int sk_slot_lock_held(int fd, int slot)
{
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = SK_LOCK_SLOT0 + slot;
    fl.l_len = 1;
    if (fcntl(fd, F_OFD_GETLK, &fl) != 0)
        return -errno;
    return fl.l_type == F_WRLCK;
}

static void slot_fill(struct sk_slot *sl, uint32_t role)
{
    uint64_t st = 0;
    sk_proc_start_time(getpid(), &st);
    sl->start_time = st;
    sl->pidns = sk_pidns_self();
    sl->role = role;
}

int sk_slot_claim(shmkit_segment_t *s, uint32_t role)
{
    struct sk_header *h = sk_hdr(s);
    uint32_t max = h->max_attach; /* validated at open, but read again: */
    if (max > SHMKIT_MAX_ATTACH)
        max = SHMKIT_MAX_ATTACH;
    if (s->readonly)
        return 0; /* a read-only mapping cannot write the table */
    for (uint32_t i = 0; i < max; i++) {
        struct sk_slot *sl = &h->slots[i];
        if (s->fd >= 0) {
            if (sk_lock(s->fd, SK_LOCK_SLOT0 + i, F_WRLCK) != 0)
                continue; /* owned by a live attachee */
        } else {
            int64_t cur = atomic_load_explicit(&sl->pid, memory_order_relaxed);
            /* Negative: a process is claiming the slot (between its CAS and
             * its final store below), and the slot's start time and pid
             * namespace are still the previous owner's: busy while that
             * pid lives at all.  (A claimer that died there frees it.) */
            if (cur < 0 ? sk_proc_alive(sk_slot_pid(cur), 0, 0) != 0
                        : cur != 0 &&
                              sk_proc_alive(cur, sl->start_time, sl->pidns) != 0)
                continue;
            /* relaxed: the slot's other fields are published by the
             * release store below */
            if (!atomic_compare_exchange_strong_explicit(
                    &sl->pid, &cur, -(int64_t)getpid(), memory_order_relaxed,
                    memory_order_relaxed))
                continue;
        }
        slot_fill(sl, role);
        /* pairs with the acquire load in sk_liveness_fill() */
        atomic_store_explicit(&sl->pid, (int64_t)getpid(), memory_order_release);
        s->slot = (int)i;
        return 0;
    }
    return sk_err(SHMKIT_E_TABLE_FULL, "attach", s->name,
                  "all %u attach slots are held by live processes", max);
}

void sk_slot_release(shmkit_segment_t *s)
{
    if (s->slot < 0)
        return;
    struct sk_header *h = sk_hdr(s);
    atomic_store_explicit(&h->slots[s->slot].pid, 0, memory_order_release);
    if (s->fd >= 0)
        sk_lock(s->fd, SK_LOCK_SLOT0 + s->slot, F_UNLCK);
    s->slot = -1;
}

void sk_liveness_fill(const struct sk_header *h, int fd, int own_slot,
                      shmkit_segment_info_t *info)
{
    uint32_t max = h->max_attach;
    if (max > SHMKIT_MAX_ATTACH)
        max = SHMKIT_MAX_ATTACH;
    int n = 0, alive_count = 0;
    for (uint32_t i = 0; i < max; i++) {
        const struct sk_slot *sl = &h->slots[i];
        /* pairs with the release store in sk_slot_claim() */
        int64_t pid = atomic_load_explicit(&((struct sk_slot *)sl)->pid,
                                           memory_order_acquire);
        if (pid == 0)
            continue;
        pid = sk_slot_pid(pid); /* negative: being claimed */
        if (pid == 0)
            continue;
        int alive;
        if ((int)i == own_slot)
            alive = 1;
        else if (fd >= 0)
            alive = sk_slot_lock_held(fd, (int)i) > 0;
        else
            alive = sk_proc_alive(pid, sl->start_time, sl->pidns);
        /* fd backends: a slot whose pid was not cleared but whose lock is
         * gone belonged to a process that died attached: listed, dead. */
        info->attached[n].pid = pid;
        info->attached[n].alive = alive;
        info->attached[n].role = sl->role;
        n++;
        if (alive != 0)
            alive_count++;
    }
    info->nattached_listed = n;
    if (fd >= 0)
        info->nattach = alive_count;
}
