/*
 * backend_sysv.c - System V shared memory (shmget/shmat).
 *
 * There is no fd, so no OFD locks: whether anyone is attached is the
 * kernel's shm_nattch, which drops when a process dies, in any namespace.
 * Attach slots carry pid + start time + pid namespace, so a reused pid is
 * never mistaken for the creator, and a pid from another namespace is
 * "unknown", never dead.  A segment marked for removal (SHM_DEST) is treated
 * as gone by openers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "error.h"
#include "segment.h"
#include "channel.h"

#ifndef SHM_HUGETLB
#define SHM_HUGETLB 04000
#endif

static int sysv_err(int code, const char *what, const char *name)
{
    switch (-code) {
    case EINVAL:
        return sk_err(code, what, name,
                      "the size is outside kernel.shmmin..kernel.shmmax, or "
                      "an existing segment with this key is smaller; see "
                      "'ipcs -l' and raise it with 'sysctl -w "
                      "kernel.shmmax=BYTES'");
    case ENOSPC:
        return sk_err(code, what, name,
                      "a SysV limit is reached: kernel.shmmni (number of "
                      "segments) or kernel.shmall (total pages); see 'ipcs "
                      "-l', remove unused segments ('shmkit gc', 'ipcrm') or "
                      "raise them with sysctl -w kernel.shmmni=N / "
                      "kernel.shmall=PAGES");
    case ENOMEM:
        return sk_err(code, what, name,
                      "not enough memory for the segment (or kernel.shmall "
                      "is reached); see 'ipcs -l' and free memory");
    case EACCES:
    case EPERM:
        return sk_err(code, what, name,
                      "the segment's owner or mode does not let you in; "
                      "'ipcs -m' shows both; have it created with --mode "
                      "0660 --group GROUP and join that group");
    default:
        return sk_err_open(code, what, name, NULL);
    }
}

/* No segment has this id (any more): IPC_STAT says EINVAL or EIDRM.  (A
 * failure with EINVAL elsewhere may mean a size outside the limits, or,
 * under valgrind, EACCES; IPC_STAT on a segment we may not read says
 * EACCES.) */
static int id_gone(int id)
{
    struct shmid_ds ds;
    return shmctl(id, IPC_STAT, &ds) != 0 && (errno == EINVAL || errno == EIDRM);
}

static int no_huge(const char *name)
{
    return sk_err(SHMKIT_E_NO_HUGEPAGES, "shmget", name,
                  "no free huge pages; reserve some with 'sysctl "
                  "vm.nr_hugepages=N' (see HugePages_Free in /proc/meminfo); "
                  "a non-root user also needs to be in vm.hugetlb_shm_group");
}

/*
 * Removal without a lock.  SysV has no fd to lock, so a remover (gc, or the
 * last closer of an owned segment) and an attacher meet in the header:
 *
 *   remover:  removing = 1; fence; IPC_STAT: nattch == itself? IPC_RMID
 *                                               : removing = 0
 *   attacher: shmat (nattch + 1); fence; removing? shmdt, wait, retry
 *
 * If the attach counts in the remover's nattch, the remover gives up;
 * otherwise the shmat came after that IPC_STAT, so after the remover's
 * store, and the attacher sees the flag and backs off.  Either way nobody
 * ends up on a segment whose key is gone.  A remover that died holding the
 * flag is outwaited: the flag is ignored once it has stood for
 * SK_REMOVING_STALE_NS.
 */
#define SK_REMOVING_STALE_NS 100000000ull
#define SK_E_REMOVING 1 /* sysv_attach: a remover holds the flag, retry */

/* Tests only: called between the remover's nattch check and IPC_RMID, to
 * widen the window the flag closes (tests/test_seg_gc_race.c). */
void (*sk_test_remove_window)(void);

/* The remover's half; s is attached (counted once in shm_nattch).  Returns
 * 1 when the segment was removed. */
static int remove_if_alone(int shmid, struct sk_header *h, int readonly)
{
    struct shmid_ds ds;
    if (!h) { /* not attached (no header to flag): the bare check */
        if (shmctl(shmid, IPC_STAT, &ds) != 0 || ds.shm_nattch > 0)
            return 0;
        if (sk_test_remove_window)
            sk_test_remove_window();
        return shmctl(shmid, IPC_RMID, NULL) == 0;
    }
    /* A read-only handle raises the flag through a read-write attach of
     * its own (counted too); one that may not write leaves the removal to
     * gc.  Removing without the flag let an opener attach in the window
     * and stay on a segment whose key was gone (found by review). */
    unsigned self = 1;
    void *rw = NULL;
    if (readonly) {
        rw = shmat(shmid, NULL, 0);
        if (rw == (void *)-1)
            return 0;
        h = rw;
        self = 2;
    }
    int removed = 0;
    atomic_store_explicit(&h->removing, 1, memory_order_seq_cst);
    atomic_thread_fence(memory_order_seq_cst);
    if (shmctl(shmid, IPC_STAT, &ds) == 0 && ds.shm_nattch <= self) {
        if (sk_test_remove_window)
            sk_test_remove_window();
        removed = shmctl(shmid, IPC_RMID, NULL) == 0;
    }
    if (!removed)
        atomic_store_explicit(&h->removing, 0, memory_order_release);
    if (rw)
        shmdt(rw);
    return removed;
}

/* Attaches shmid and validates; s->shmid set, s->base mapped. */
static int sysv_attach(shmkit_segment_t *s, const shmkit_segment_opts_t *o,
                       uint64_t deadline)
{
    struct shmid_ds ds;
    void *p = shmat(s->shmid, NULL, s->readonly ? SHM_RDONLY : 0);
    if (p == (void *)-1) {
        int e = errno;
        /* by key: removed between shmget and shmat?  Only if the key no
         * longer leads to this id (valgrind's shmat reports EACCES as
         * EINVAL, for one) */
        if ((e == EINVAL || e == EIDRM) &&
            (s->sysv_by_id ? id_gone(s->shmid)
                           : shmget((key_t)s->sysv_key, 0, 0) != s->shmid))
            return sk_err_open(-ENOENT, "shmat", s->name, NULL);
        return sysv_err(-e, "shmat", s->name);
    }
    s->base = p;
    if (shmctl(s->shmid, IPC_STAT, &ds) != 0)
        return sysv_err(-errno, "shmctl(IPC_STAT)", s->name);
    if (ds.shm_perm.mode & SHM_DEST)
        return sk_err_open(-ENOENT, "shmat", s->name, NULL);
    if (ds.shm_segsz >= SK_HEADER_SIZE) {
        atomic_thread_fence(memory_order_seq_cst); /* after our shmat */
        if (atomic_load_explicit(&sk_hdr(s)->removing, memory_order_relaxed)) {
            if (!s->removing_since)
                s->removing_since = sk_now_ns(CLOCK_MONOTONIC);
            if (sk_now_ns(CLOCK_MONOTONIC) - s->removing_since <
                SK_REMOVING_STALE_NS)
                return SK_E_REMOVING;
        }
    }
    int r;
    if (o->owner_only &&
        (r = sk_check_owner(s->name, (unsigned)ds.shm_perm.uid,
                            (unsigned)ds.shm_perm.cuid)) < 0)
        return r;
    uint64_t size = sk_round_up((uint64_t)ds.shm_segsz, sk_page_size());
    s->map_size = size;
    if (size < SK_HEADER_SIZE)
        return sk_header_validate(NULL, size, s->name, NULL);
    struct sk_header *h = sk_hdr(s);
    while (!sk_header_ready(h)) {
        if (sk_now_ns(CLOCK_MONOTONIC) >= deadline) {
            if (h->magic != SK_MAGIC)
                return sk_header_validate(h, size, s->name, NULL);
            return sk_err(SHMKIT_E_NOT_READY, "open", s->name,
                          "its creator did not finish within %d ms",
                          o->timeout_ms);
        }
        if (h->magic != SK_MAGIC &&
            (uint64_t)time(NULL) > (uint64_t)ds.shm_ctime + 2)
            return sk_header_validate(h, size, s->name, NULL);
        sk_sleep_ns(1000000);
    }
    struct sk_header_snap snap;
    r = sk_header_validate(h, size, s->name, &snap);
    if (r < 0)
        return r;
    s->map_size = snap.total_size;
    s->kind = snap.kind;
    s->persistent = (snap.flags & SK_F_PERSISTENT) != 0;
    if ((r = sk_apply_mem_opts(s, o, 0)) < 0)
        return r;
    return sk_slot_claim(s, 0);
}

static int sysv_open(const struct sk_name *nm, const shmkit_segment_opts_t *o,
                     shmkit_segment_t **out)
{
    int id;
    if (nm->sysv_private && !nm->sysv_by_id)
        return sk_err(SHMKIT_E_BAD_NAME, "open", nm->canon,
                      "an IPC_PRIVATE segment has no key; open it as "
                      "sysv:id=SHMID");
    if (nm->sysv_by_id)
        id = nm->sysv_id;
    else if ((id = shmget(nm->sysv_key, 0, 0)) < 0)
        return sysv_err(-errno, "shmget", nm->canon);
    shmkit_segment_t *s = sk_handle_new(nm);
    if (!s)
        return sk_err(-ENOMEM, "open", nm->canon, NULL);
    s->shmid = id;
    s->readonly = o->readonly != 0;
    s->sysv_by_id = nm->sysv_by_id;
    s->sysv_key = nm->sysv_key;
    uint64_t deadline = sk_now_ns(CLOCK_MONOTONIC) +
                        (uint64_t)o->timeout_ms * 1000000ull;
    for (;;) {
        int r = sysv_attach(s, o, deadline);
        if (r == SK_E_REMOVING) {
            /* a remover is deciding: let it finish, then look up the key
             * again (it may be gone, or the remover may have given up) */
            uint64_t since = s->removing_since;
            shmdt(s->base);
            s->base = NULL;
            sk_sleep_ns(200000);
            if (!nm->sysv_by_id && (id = shmget(nm->sysv_key, 0, 0)) < 0) {
                r = sysv_err(-errno, "shmget", nm->canon);
                sk_handle_free(s);
                return r;
            }
            s->shmid = id;
            s->removing_since = since;
            continue;
        }
        if (r < 0) {
            sk_handle_free(s);
            return r;
        }
        *out = s;
        return 0;
    }
}

static int sysv_create(const struct sk_name *nm, const shmkit_segment_opts_t *o,
                       shmkit_segment_t **out)
{
    if (nm->sysv_by_id)
        return sk_err(SHMKIT_E_BAD_NAME, "create", nm->canon,
                      "create takes sysv:KEY, sysv:ftok=PATH:ID or "
                      "sysv:private, not an id");
    int huge = o->hugepages != 0;
    uint64_t page = huge ? sk_hugepage_size() : sk_page_size();
    uint64_t total = sk_round_up(SK_HEADER_SIZE + o->size, page);
    key_t key = nm->sysv_private ? IPC_PRIVATE : (key_t)nm->sysv_key;
    int id;
    /* create, or open what exists; a key removed in between (the last
     * closer, gc) is created again */
    for (int tries = 0;; tries++) {
        id = shmget(key, total,
                    IPC_CREAT | IPC_EXCL | (int)(o->mode & 0777) |
                        (huge ? SHM_HUGETLB : 0));
        if (id >= 0 || errno != EEXIST || o->exclusive)
            break;
        int ro = sysv_open(nm, o, out);
        if (ro != -ENOENT || tries >= 100)
            return ro;
    }
    if (id < 0) {
        int e = -errno;
        if (huge && (e == -ENOMEM || e == -EINVAL || e == -ENOSPC))
            return no_huge(nm->canon);
        if (huge && e == -EPERM)
            return sk_err(e, "shmget", nm->canon,
                          "SHM_HUGETLB needs CAP_IPC_LOCK or membership of "
                          "the group in /proc/sys/vm/hugetlb_shm_group");
        return sysv_err(e, "shmget", nm->canon);
    }
    struct sk_name named = *nm;
    if (nm->sysv_private)
        snprintf(named.canon, sizeof named.canon, "sysv:id=%d", id);
    shmkit_segment_t *s = sk_handle_new(&named);
    int r;
    if (!s) {
        shmctl(id, IPC_RMID, NULL);
        return sk_err(-ENOMEM, "create", nm->canon, NULL);
    }
    s->shmid = id;
    struct shmid_ds ds;
    if (o->gid >= 0) {
        if (shmctl(id, IPC_STAT, &ds) != 0 ||
            (ds.shm_perm.gid = (gid_t)o->gid, shmctl(id, IPC_SET, &ds) != 0)) {
            r = sk_err(-errno, "shmctl(IPC_SET)", s->name,
                       "only root or the owner can change the group");
            goto fail;
        }
    }
    s->base = shmat(id, NULL, 0);
    if (s->base == (void *)-1) {
        s->base = NULL;
        r = sysv_err(-errno, "shmat", s->name);
        goto fail;
    }
    s->map_size = total;
    if ((r = sk_numa_bind(s->base, total, o->numa_node, s->name)) < 0)
        goto fail;
    struct sk_header *h = sk_hdr(s);
    h->magic = SK_MAGIC;
    if ((r = sk_apply_mem_opts(s, o, 1)) < 0)
        goto fail;
    if (o->lock && shmctl(id, SHM_LOCK, NULL) != 0) {
        r = sk_err(-errno, "shmctl(SHM_LOCK)", s->name,
                   "SHM_LOCK needs CAP_IPC_LOCK or a RLIMIT_MEMLOCK that "
                   "covers the segment; raise it with 'ulimit -l', a memlock "
                   "line in /etc/security/limits.conf, or "
                   "LimitMEMLOCK=infinity for a systemd service");
        goto fail;
    }
    sk_header_init(h, total, o->kind,
                   (o->persistent ? SK_F_PERSISTENT : 0) |
                       (huge ? SK_F_HUGEPAGES : 0));
    s->kind = o->kind;
    s->persistent = o->persistent != 0;
    if ((r = sk_slot_claim(s, 0)) < 0)
        goto fail;
    if ((r = sk_run_create_hook(s)) < 0)
        goto fail;
    sk_header_publish(h);
    *out = s;
    return 0;
fail:
    shmctl(id, IPC_RMID, NULL);
    sk_handle_free(s);
    return r;
}

static int sysv_close(shmkit_segment_t *s)
{
    struct shmid_ds ds;
    sk_slot_release(s);
    if (s->locked && s->base)
        munlock(s->base, s->map_size);
    /* Last attachee of an owned segment: nattch counts us too. */
    if (!s->persistent && !s->observer && shmctl(s->shmid, IPC_STAT, &ds) == 0 &&
        ds.shm_nattch <= 1 && s->base)
        remove_if_alone(s->shmid, sk_hdr(s), s->readonly);
    sk_handle_free(s);
    return 0;
}

static int resolve_id(const struct sk_name *nm, const char *what)
{
    if (nm->sysv_by_id)
        return nm->sysv_id;
    if (nm->sysv_private)
        return sk_err(SHMKIT_E_BAD_NAME, what, nm->canon,
                      "an IPC_PRIVATE segment has no key; use sysv:id=SHMID");
    int id = shmget(nm->sysv_key, 0, 0);
    if (id < 0)
        return sysv_err(-errno, "shmget", nm->canon);
    return id;
}

static int sysv_unlink(const struct sk_name *nm)
{
    int id = resolve_id(nm, "unlink");
    if (id < 0)
        return id;
    if (shmctl(id, IPC_RMID, NULL) != 0) {
        int e = errno;
        if ((e == EINVAL || e == EIDRM) && id_gone(id)) /* removed already */
            return sk_err_open(-ENOENT, "shmctl(IPC_RMID)", nm->canon, NULL);
        return sysv_err(-e, "shmctl(IPC_RMID)", nm->canon);
    }
    return 0;
}

/* Fills info for shmid from IPC_STAT and, when readable, the header. */
static int inspect_id(int id, shmkit_segment_info_t *info, int own_slot,
                      void *own_base)
{
    struct shmid_ds ds;
    if (shmctl(id, IPC_STAT, &ds) != 0) {
        if (errno == EINVAL || errno == EIDRM) /* no segment has this id */
            return sk_err_open(-ENOENT, "shmctl(IPC_STAT)", info->name, NULL);
        return sysv_err(-errno, "shmctl(IPC_STAT)", info->name);
    }
    info->backend = SHMKIT_BACKEND_SYSV;
    info->size = (uint64_t)ds.shm_segsz;
    info->mode = ds.shm_perm.mode & 0777;
    info->uid = ds.shm_perm.uid;
    info->gid = ds.shm_perm.gid;
    info->nattach = (int)ds.shm_nattch;
    if (!info->name[0] || !strncmp(info->name, "sysv:id=", 8)) {
        if (ds.shm_perm.__key != IPC_PRIVATE)
            snprintf(info->name, sizeof info->name, "sysv:0x%08x",
                     (unsigned)ds.shm_perm.__key);
        else
            snprintf(info->name, sizeof info->name, "sysv:id=%d", id);
    }
    if (ds.shm_segsz < SK_HEADER_SIZE) {
        info->check = SHMKIT_E_NOT_SHMKIT;
        return 0;
    }
    void *p = own_base ? own_base : shmat(id, NULL, SHM_RDONLY);
    if (p == (void *)-1) {
        info->check = -errno;
        return 0;
    }
    const struct sk_header *h = p;
    if (!sk_header_ready(h)) {
        info->check = h->magic == SK_MAGIC ? SHMKIT_E_NOT_READY
                                           : SHMKIT_E_NOT_SHMKIT;
        info->stale = h->magic == SK_MAGIC && ds.shm_nattch == 0 &&
                      (uint64_t)time(NULL) > (uint64_t)ds.shm_ctime + 5;
        info->is_shmkit = info->stale;
    } else {
        struct sk_header_snap snap;
        int chk = sk_header_validate(
            h, sk_round_up((uint64_t)ds.shm_segsz, sk_page_size()), info->name,
            &snap);
        if (chk < 0)
            info->check = chk;
        else {
            sk_info_from_header(&snap, info);
            sk_liveness_fill(h, -1, own_slot, info);
            /* our own inspection attach is not an attachee */
            info->stale = !info->persistent && ds.shm_nattch == 0;
        }
    }
    info->nattach = (int)ds.shm_nattch;
    if (!own_base)
        shmdt(p);
    return 0;
}

int sk_sysv_inspect_id(int shmid, shmkit_segment_info_t *info)
{
    return inspect_id(shmid, info, -1, NULL);
}

static int sysv_inspect(const struct sk_name *nm, shmkit_segment_info_t *info)
{
    snprintf(info->name, sizeof info->name, "%s", nm->canon);
    int id = resolve_id(nm, "inspect");
    if (id < 0)
        return id;
    return inspect_id(id, info, -1, NULL);
}

static int sysv_stat(shmkit_segment_t *s, shmkit_segment_info_t *info)
{
    memset(info, 0, sizeof *info);
    snprintf(info->name, sizeof info->name, "%s", s->name);
    int r = inspect_id(s->shmid, info, s->slot, s->base);
    if (r == 0 && info->nattach > 0)
        info->stale = 0;
    return r;
}

int sk_sysv_gc_one(int shmid, int dry_run, shmkit_segment_info_t *info)
{
    memset(info, 0, sizeof *info);
    snprintf(info->name, sizeof info->name, "sysv:id=%d", shmid);
    if (inspect_id(shmid, info, -1, NULL) < 0 || !info->stale ||
        !info->is_shmkit)
        return 0;
    if (dry_run)
        return 1;
    /* Attach to raise the remover's flag (see remove_if_alone); where we
     * may not, the bare re-check: an attach since the first look shows in
     * shm_nattch, one after IPC_RMID sees SHM_DEST. */
    void *p = shmat(shmid, NULL, 0);
    if (p == (void *)-1)
        return remove_if_alone(shmid, NULL, 1);
    struct shmid_ds ds;
    int removed = 0;
    if (shmctl(shmid, IPC_STAT, &ds) == 0 && ds.shm_segsz >= SK_HEADER_SIZE)
        removed = remove_if_alone(shmid, p, 0);
    shmdt(p);
    return removed;
}

const struct sk_backend sk_backend_sysv = {
    .create = sysv_create,
    .open = sysv_open,
    .close = sysv_close,
    .unlink = sysv_unlink,
    .inspect = sysv_inspect,
    .stat = sysv_stat,
};
