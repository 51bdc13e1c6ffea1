/*
 * backend_fd.c - segments backed by a file descriptor: posix (shm_open under
 * /dev/shm), file (any path, hugetlbfs included) and memfd.
 *
 * Create: open O_EXCL -> take the gate read lock -> exact mode and group ->
 * ftruncate -> mmap -> mbind -> magic -> posix_fallocate (reserve) ->
 * prefault/mlock -> header -> slot -> ready (release).  A creator that dies
 * before `ready` leaves an object that openers reject after their timeout
 * and gc removes once nobody holds its gate.
 *
 * Open: open -> gate read lock (retried: gc or a last closer may hold it
 * exclusively for a moment) -> check the name still leads to the object we
 * opened (else it was just removed: retry) -> wait for ready -> validate.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "error.h"
#include "segment.h"
#include "channel.h"

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif
#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif

#define SK_FRESH_NS (2ull * 1000000000ull) /* creator may still be working */
#define SK_ABANDONED_NS (5ull * 1000000000ull)

static const char *shm_name_of(const char *path)
{
    return path + strlen("/dev/shm"); /* "/name" */
}

/* The page size of the hugetlbfs mount that path's directory is on (its
 * pagesize= option: 2 MiB, 1 GiB, ...), or 0 when it is not on one. */
static uint64_t hugetlbfs_page(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = 0;
    else if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof dir, ".");
    struct statfs sf;
    if (statfs(dir, &sf) != 0 || (unsigned long)sf.f_type != HUGETLBFS_MAGIC)
        return 0;
    return sf.f_bsize > 0 ? (uint64_t)sf.f_bsize : sk_hugepage_size();
}

static int is_hugetlbfs(const char *path)
{
    return hugetlbfs_page(path) != 0;
}

int sk_check_owner(const char *name, unsigned owner, unsigned creator)
{
    unsigned me = (unsigned)geteuid();
    if (owner == me && creator == me)
        return 0;
    return sk_err(-EPERM, "open", name,
                  "owner_only: the object is owned by uid %u (created by uid "
                  "%u), not by you (uid %u); names are first come, first "
                  "served, so another user may have taken this one first: "
                  "remove it (as its owner or root) or pick another name",
                  owner, creator, me);
}

int sk_err_open(int code, const char *what, const char *name, const char *path)
{
    struct stat st;
    switch (-code) {
    case EACCES:
    case EPERM:
        if (what && strstr(what, "unlink") && path && path[0] &&
            stat(path, &st) == 0)
            return sk_err(code, what, name,
                          "only its owner (uid %u) or root may remove it: "
                          "the directory is sticky (as /dev/shm is), so its "
                          "mode and group do not matter",
                          (unsigned)st.st_uid);
        if (path && path[0] && stat(path, &st) == 0)
            return sk_err(code, what, name,
                          "the segment is mode %04o, owned by uid %u gid %u, "
                          "and you are uid %u; run as its owner, or have it "
                          "created with --mode 0660 --group GROUP (opts.mode, "
                          "opts.gid) and join that group",
                          (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
                          (unsigned)st.st_gid, (unsigned)geteuid());
        return sk_err(code, what, name,
                      "check the owner and mode of the segment (shmkit ls); "
                      "share it with --mode 0660 --group GROUP");
    case ENOENT:
        if (path && path[0] && strncmp(path, "/dev/shm/", 9) != 0) {
            char dir[4096];
            snprintf(dir, sizeof dir, "%s", path);
            char *sl = strrchr(dir, '/');
            if (sl && sl != dir) {
                *sl = 0;
                if (stat(dir, &st) != 0)
                    return sk_err(code, what, name,
                                  "the directory %s does not exist; a "
                                  "file: segment is made in a directory "
                                  "that is there", dir);
            }
        }
        return sk_err(code, what, name,
                      "no such segment; 'shmkit ls' lists them (a POSIX name "
                      "is not a sysv: key); an owned segment is removed when "
                      "its last user closes it");
    case EROFS:
        return sk_err(code, what, name,
                      "the filesystem is mounted read-only; 'shmkit doctor' "
                      "checks /dev/shm (as root: mount -o remount,rw DIR)");
    case EEXIST:
        return sk_err(code, what, name,
                      "a segment with this name exists; open it instead, "
                      "pick another name, or remove it with 'shmkit rm %s'",
                      name);
    case ENOSPC:
    case ENOMEM: {
        struct statvfs sv;
        char dir[4096] = "/dev/shm";
        if (path && path[0] && strncmp(path, "/dev/shm/", 9)) {
            snprintf(dir, sizeof dir, "%s", path);
            char *sl = strrchr(dir, '/');
            if (sl && sl != dir)
                *sl = 0;
        }
        if (statvfs(dir, &sv) == 0) {
            unsigned long long total = (unsigned long long)sv.f_blocks * sv.f_frsize >> 20;
            /* a size that grows it (never one that would shrink it) */
            unsigned long long grow = total < 512 ? 1024 : total * 2;
            return sk_err(code, what, name,
                          "%s has %llu MiB free of %llu MiB; free space "
                          "('shmkit gc', 'shmkit rm') or, if the segment fits "
                          "in memory, grow it: mount -o remount,size=%lluM %s "
                          "(Docker: --shm-size)",
                          dir,
                          (unsigned long long)sv.f_bavail * sv.f_frsize >> 20,
                          total, grow, dir);
        }
        return sk_err(code, what, name, "not enough memory for the segment");
    }
    case EINVAL:
        return sk_err(code, what, name,
                      "the size or an option is invalid (sizes are rounded "
                      "up to the page size; huge pages need multiples of the "
                      "huge page size)");
    case EMFILE:
    case ENFILE:
        return sk_err(code, what, name,
                      "too many open files; raise 'ulimit -n' or close "
                      "segments you no longer use");
    case ELOOP:
        return sk_err(code, what, name,
                      "the path is a symbolic link; shmkit does not follow "
                      "links to segments");
    default:
        return sk_err(code, what, name, NULL);
    }
}

static int no_hugepages(const char *name)
{
    return sk_err(SHMKIT_E_NO_HUGEPAGES, "create", name,
                  "no free huge pages of %llu KiB; reserve some with "
                  "'sysctl vm.nr_hugepages=N' (or echo N > "
                  "/proc/sys/vm/nr_hugepages), see HugePages_Free in "
                  "/proc/meminfo",
                  (unsigned long long)sk_hugepage_size() >> 10);
}

static uint64_t ctime_age_ns(const struct stat *st)
{
    uint64_t now = sk_now_ns(CLOCK_REALTIME);
    uint64_t c = (uint64_t)st->st_ctim.tv_sec * 1000000000ull +
                 (uint64_t)st->st_ctim.tv_nsec;
    return now > c ? now - c : 0;
}

/*
 * A mapping holds a reference to its open file description, and with it the
 * description's OFD locks.  A child inheriting the mapping of a named
 * segment would keep its parent "attached" after the parent left, and stop
 * the last closer from removing the name.  Named segments are therefore not
 * inherited (MADV_DONTFORK): a child opens its own handle.  memfd mappings
 * are inherited on purpose: fork is how they are shared.
 */
static void sk_dontfork(shmkit_segment_t *s)
{
    if (s->backend != SHMKIT_BACKEND_MEMFD)
        madvise(s->base, s->map_size, MADV_DONTFORK);
}

static int fd_open_flags(int readonly)
{
    return (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOFOLLOW;
}

static int unlink_path(shmkit_backend_t b, const char *path)
{
    int r = b == SHMKIT_BACKEND_POSIX ? shm_unlink(shm_name_of(path))
                                      : unlink(path);
    return r == 0 ? 0 : -errno;
}

/* Unlinks path only if it still names the object (dev, ino). */
static int unlink_if_same(shmkit_backend_t b, const char *path, uint64_t dev,
                          uint64_t ino)
{
    struct stat st;
    if (stat(path, &st) != 0 || (uint64_t)st.st_dev != dev ||
        (uint64_t)st.st_ino != ino)
        return 0;
    return unlink_path(b, path);
}

static int fd_create(const struct sk_name *nm, const shmkit_segment_opts_t *o,
                     shmkit_segment_t **out);
static int fd_open(const struct sk_name *nm, const shmkit_segment_opts_t *o,
                   shmkit_segment_t **out);

/* Takes the gate's shared lock (we are attached), waiting until deadline
 * while somebody holds it exclusively for a moment: gc looking at the
 * object (a new and empty one too), or its last user removing it.  op
 * names the call in errors; lock_hint explains a lock that fails for
 * another reason. */
static int gate_lock_until(shmkit_segment_t *s, uint64_t deadline,
                           const char *op, const char *lock_hint)
{
    if (sk_observing())
        return 0; /* an observer is not an attachee */
    for (;;) {
        int r = sk_lock(s->fd, SK_LOCK_GATE, F_RDLCK);
        if (r == 0)
            return 0;
        if (r != -EAGAIN && r != -EACCES)
            return sk_err(r, "lock", s->name, lock_hint);
        if (sk_now_ns(CLOCK_MONOTONIC) >= deadline)
            return sk_err(SHMKIT_E_NOT_READY, op, s->name,
                          "the segment stayed locked exclusively (by gc, "
                          "by its last user removing it, or by a peer that "
                          "does not follow shmkit's locking)");
        sk_sleep_ns(100000);
    }
}

static int fd_create(const struct sk_name *nm, const shmkit_segment_opts_t *o,
                     shmkit_segment_t **out)
{
    int r, fd;
    int huge = o->hugepages != 0;
    if (huge && nm->backend == SHMKIT_BACKEND_POSIX)
        return sk_err(SHMKIT_E_UNSUPPORTED, "create", nm->canon,
                      "POSIX shared memory lives on tmpfs, which has no huge "
                      "pages; use a memfd:, anon: or sysv: name, or "
                      "file:/dev/hugepages/NAME on a hugetlbfs mount");
    if (huge && nm->backend == SHMKIT_BACKEND_FILE && !is_hugetlbfs(nm->path))
        return sk_err(SHMKIT_E_UNSUPPORTED, "create", nm->canon,
                      "huge pages for file: need a path on a hugetlbfs mount "
                      "(mount -t hugetlbfs none /dev/hugepages)");
    /* a file on hugetlbfs: the mount's page size, which need not be the
     * system's default (a pagesize=1G mount refused 2 MiB multiples) */
    uint64_t fpage = nm->backend == SHMKIT_BACKEND_FILE
                         ? hugetlbfs_page(nm->path)
                         : 0;
    uint64_t page = fpage ? fpage : huge ? sk_hugepage_size() : sk_page_size();
    uint64_t total = sk_round_up(SK_HEADER_SIZE + o->size, page);

    if (nm->backend == SHMKIT_BACKEND_MEMFD) {
        const char *label = nm->canon + 6;
        fd = memfd_create(*label ? label : "shmkit",
                          MFD_CLOEXEC | MFD_ALLOW_SEALING |
                              (huge ? MFD_HUGETLB : 0));
        if (fd < 0) {
            if (huge && (errno == EINVAL || errno == ENOENT))
                return no_hugepages(nm->canon);
            return sk_err_open(-errno, "memfd_create", nm->canon, NULL);
        }
        if ((fd = sk_fd_above_stdio(fd)) < 0)
            return sk_err(fd, "create", nm->canon, "fcntl(F_DUPFD_CLOEXEC)");
    } else {
        /* create, or open what exists; a name that the last closer (or gc)
         * removes between the two is created again (found by review: the
         * create-or-open of a shared name failed with ENOENT) */
        for (int tries = 0;; tries++) {
            fd = nm->backend == SHMKIT_BACKEND_POSIX
                     ? shm_open(shm_name_of(nm->path),
                                O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, o->mode)
                     : open(nm->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC |
                                          O_NOFOLLOW, o->mode);
            if (fd >= 0 || errno != EEXIST || o->exclusive)
                break;
            int ro = fd_open(nm, o, out);
            if (ro != -ENOENT || tries >= 100)
                return ro;
        }
        if (fd < 0) {
            return sk_err_open(-errno,
                               nm->backend == SHMKIT_BACKEND_POSIX ? "shm_open"
                                                                   : "open",
                               nm->canon, nm->path);
        }
        if ((fd = sk_fd_above_stdio(fd)) < 0) {
            unlink_path(nm->backend, nm->path);
            return sk_err(fd, "create", nm->canon, "fcntl(F_DUPFD_CLOEXEC)");
        }
    }

    shmkit_segment_t *s = sk_handle_new(nm);
    if (!s) {
        close(fd);
        if (nm->path[0])
            unlink_path(nm->backend, nm->path);
        return sk_err(-ENOMEM, "create", nm->canon, NULL);
    }
    s->fd = fd;
    int created_name = nm->backend != SHMKIT_BACKEND_MEMFD;
    struct stat st;

    /* Attached from the first instant: gc skips objects whose gate is held.
     * gc holds each object's gate exclusively for a moment while it looks
     * at it, a new and empty one too (and leaves that one alone): that is
     * waited out, not a failure that removes the name. */
    if ((r = gate_lock_until(s, sk_now_ns(CLOCK_MONOTONIC) +
                                    (uint64_t)o->timeout_ms * 1000000ull,
                             "create",
                             "the filesystem must support open file "
                             "description locks")) < 0)
        goto fail;
    if (fchmod(fd, o->mode) != 0) {
        r = sk_err_open(-errno, "fchmod", nm->canon, nm->path);
        goto fail;
    }
    if (o->gid >= 0 && fchown(fd, (uid_t)-1, (gid_t)o->gid) != 0) {
        r = sk_err(-errno, "fchown", nm->canon,
                   "only root, or an owner who is a member of group %lld, "
                   "can hand the segment to that group",
                   (long long)o->gid);
        goto fail;
    }
    if (fstat(fd, &st) != 0) {
        r = sk_err(-errno, "fstat", nm->canon, NULL);
        goto fail;
    }
    s->dev = (uint64_t)st.st_dev;
    s->ino = (uint64_t)st.st_ino;
    if (ftruncate(fd, (off_t)total) != 0) {
        r = -errno;
        if (huge)
            r = no_hugepages(nm->canon);
        else
            sk_err_open(r, "ftruncate", nm->canon, nm->path);
        goto fail;
    }
    s->base = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (s->base == MAP_FAILED) {
        s->base = NULL;
        r = -errno;
        if (huge || (nm->backend == SHMKIT_BACKEND_FILE && is_hugetlbfs(nm->path)))
            r = no_hugepages(nm->canon);
        else
            sk_err_open(r, "mmap", nm->canon, nm->path);
        goto fail;
    }
    s->map_size = total;
    sk_dontfork(s);
    if ((r = sk_numa_bind(s->base, total, o->numa_node, nm->canon)) < 0)
        goto fail;
    /* Magic first, so openers can tell "being created" from "foreign":
     * before the reservation below, which for a segment of tens of GiB can
     * take longer than an opener gives a file without it (SK_FRESH_NS). */
    struct sk_header *h = sk_hdr(s);
    h->magic = SK_MAGIC;
    if (o->reserve) {
        int e = posix_fallocate(fd, 0, (off_t)total);
        if (e == ENOSPC && (huge || is_hugetlbfs(nm->path[0] ? nm->path : "/")))
            r = no_hugepages(nm->canon);
        else if (e && e != EOPNOTSUPP && e != EINVAL)
            r = sk_err_open(-e, "posix_fallocate", nm->canon, nm->path);
        if (e && e != EOPNOTSUPP && e != EINVAL)
            goto fail;
    }
    if ((r = sk_apply_mem_opts(s, o, 1)) < 0)
        goto fail;
    uint32_t flags = (o->persistent ? SK_F_PERSISTENT : 0) |
                     (huge ? SK_F_HUGEPAGES : 0);
    sk_header_init(h, total, o->kind, flags);
    s->kind = o->kind;
    s->persistent = o->persistent != 0;
    if ((r = sk_slot_claim(s, 0)) < 0)
        goto fail;
    if ((r = sk_run_create_hook(s)) < 0)
        goto fail;
    sk_header_publish(h);
    sk_share_mapping(s);
    *out = s;
    return 0;
fail:
    if (created_name)
        unlink_path(nm->backend, nm->path);
    sk_handle_free(s);
    return r;
}

/* Waits for ready, maps, validates.  fd holds the gate read lock already. */
static int attach_fd(shmkit_segment_t *s, const shmkit_segment_opts_t *o,
                     uint64_t deadline)
{
    struct stat st;
    int prot = s->readonly ? PROT_READ : PROT_READ | PROT_WRITE;
    uint64_t mapped = 0;
    int spins = 0;
    for (;;) {
        if (fstat(s->fd, &st) != 0)
            return sk_err(-errno, "fstat", s->name, NULL);
        uint64_t size = (uint64_t)st.st_size;
        if (size > (1ull << 47))
            return sk_err(SHMKIT_E_CORRUPT, "open", s->name,
                          "the object claims %llu bytes", (unsigned long long)size);
        if (size >= SK_HEADER_SIZE && size != mapped) {
            if (s->base)
                munmap(s->base, mapped);
            s->base = mmap(NULL, size, prot, MAP_SHARED, s->fd, 0);
            if (s->base == MAP_FAILED) {
                s->base = NULL;
                mapped = 0;
                return sk_err_open(-errno, "mmap", s->name, s->path);
            }
            mapped = size;
            s->map_size = size;
        }
        if (mapped) {
            const struct sk_header *h = sk_hdr(s);
            if (sk_header_ready(h))
                break;
            if (h->magic != SK_MAGIC && ctime_age_ns(&st) > SK_FRESH_NS)
                return sk_header_validate(h, mapped, s->name, NULL);
        }
        if (sk_now_ns(CLOCK_MONOTONIC) >= deadline) {
            if (mapped && sk_hdr(s)->magic != SK_MAGIC)
                return sk_header_validate(sk_hdr(s), mapped, s->name, NULL);
            if (size > 0 && size < SK_HEADER_SIZE)
                return sk_header_validate(NULL, size, s->name, NULL);
            return sk_err(SHMKIT_E_NOT_READY, "open", s->name,
                          "its creator did not finish within %d ms; it may "
                          "have died while creating it (shmkit gc removes "
                          "such leftovers)", o->timeout_ms);
        }
        if (++spins < 50)
            sk_sleep_ns(20000);
        else
            sk_sleep_ns(1000000);
    }
    struct sk_header_snap h;
    int r = sk_header_validate(sk_hdr(s), mapped, s->name, &h);
    if (r < 0)
        return r;
    uint64_t total = h.total_size;
    if (total % sk_page_size())
        return sk_err(SHMKIT_E_CORRUPT, "open", s->name,
                      "size %llu is not a multiple of the page size",
                      (unsigned long long)total);
    if (total < mapped) {
        /* grown by someone else: only the part the header describes is ours */
        munmap((char *)s->base + total, mapped - total);
        s->map_size = total;
    }
    s->dev = (uint64_t)st.st_dev;
    s->ino = (uint64_t)st.st_ino;
    sk_share_mapping(s);
    sk_dontfork(s);
    s->kind = h.kind;
    s->persistent = (h.flags & SK_F_PERSISTENT) != 0;
    if ((r = sk_apply_mem_opts(s, o, 0)) < 0)
        return r;
    return sk_slot_claim(s, 0);
}

int sk_fd_attach(const struct sk_name *nm, int fd, const shmkit_segment_opts_t *o,
                 shmkit_segment_t **out)
{
    shmkit_segment_t *s = sk_handle_new(nm);
    if (!s) {
        close(fd);
        return sk_err(-ENOMEM, "open", nm->canon, NULL);
    }
    s->fd = fd;
    s->readonly = o->readonly != 0;
    uint64_t deadline = sk_now_ns(CLOCK_MONOTONIC) +
                        (uint64_t)o->timeout_ms * 1000000ull;
    int r = gate_lock_until(s, deadline, "open", NULL);
    if (r == 0)
        r = attach_fd(s, o, deadline);
    if (r < 0) {
        sk_handle_free(s);
        return r;
    }
    *out = s;
    return 0;
}

static int fd_open(const struct sk_name *nm, const shmkit_segment_opts_t *o,
                   shmkit_segment_t **out)
{
    if (nm->backend == SHMKIT_BACKEND_MEMFD)
        return sk_err(SHMKIT_E_UNSUPPORTED, "open", nm->canon,
                      "a memfd has no name to open: share it by fork, or "
                      "pass it with shmkit_memfd_send()/shmkit_memfd_recv()");
    uint64_t deadline = sk_now_ns(CLOCK_MONOTONIC) +
                        (uint64_t)o->timeout_ms * 1000000ull;
    for (;;) {
        /* O_NONBLOCK: the name may lead to a FIFO (any user can make one
         * in /dev/shm), whose read-only open would wait for a writer for
         * ever; refused below */
        int fd = nm->backend == SHMKIT_BACKEND_POSIX
                     ? shm_open(shm_name_of(nm->path),
                                (fd_open_flags(o->readonly) & ~O_CLOEXEC) |
                                    O_NONBLOCK,
                                0)
                     : open(nm->path, fd_open_flags(o->readonly) | O_NONBLOCK);
        if (fd < 0)
            return sk_err_open(-errno,
                               nm->backend == SHMKIT_BACKEND_POSIX ? "shm_open"
                                                                   : "open",
                               nm->canon, nm->path);
        if ((fd = sk_fd_above_stdio(fd)) < 0)
            return sk_err(fd, "open", nm->canon, "fcntl(F_DUPFD_CLOEXEC)");
        struct stat reg;
        if (fstat(fd, &reg) != 0 || !S_ISREG(reg.st_mode)) {
            close(fd);
            return sk_err(-EINVAL, "open", nm->canon,
                          "not a regular file: a file: segment is a file "
                          "that 'shmkit create file:PATH' made");
        }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        shmkit_segment_t *s = sk_handle_new(nm);
        if (!s) {
            close(fd);
            return sk_err(-ENOMEM, "open", nm->canon, NULL);
        }
        s->fd = fd;
        s->readonly = o->readonly != 0;
        int r = gate_lock_until(s, deadline, "open", NULL);
        if (r < 0) {
            sk_handle_free(s);
            return r;
        }
        /* Did gc or a last closer remove the name while we were locking? */
        struct stat a, b;
        if (fstat(fd, &a) != 0 || stat(nm->path, &b) != 0 ||
            a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
            sk_handle_free(s);
            if (sk_now_ns(CLOCK_MONOTONIC) >= deadline)
                return sk_err_open(-ENOENT, "open", nm->canon, nm->path);
            continue;
        }
        /* a file has no separate creator: its owner is the one who made it
         * (only root can give a file away) */
        if (o->owner_only &&
            (r = sk_check_owner(nm->canon, (unsigned)a.st_uid,
                                (unsigned)a.st_uid)) < 0) {
            sk_handle_free(s);
            return r;
        }
        r = attach_fd(s, o, deadline);
        if (r < 0) {
            sk_handle_free(s);
            return r;
        }
        *out = s;
        return 0;
    }
}

static int fd_close(shmkit_segment_t *s)
{
    int r = 0;
    sk_slot_release(s);
    if (s->locked && s->base)
        munlock(s->base, s->map_size);
    /* The last attachee of an owned segment removes its name.  A write lock
     * on the gate succeeds only when no other open file description holds
     * it, i.e. nobody else is attached; while we hold it, openers wait and
     * then find the name gone.  We let go of our read lock first: two last
     * closers that each kept theirs while trying for the write lock would
     * both fail, and nobody would unlink.  A read-only handle cannot take a
     * write lock on its fd, so it tries through a fresh read-write one (and
     * leaves the segment to gc when it may not write it). */
    if (!s->persistent && !s->observer && s->path[0] &&
        sk_lock(s->fd, SK_LOCK_GATE, F_UNLCK) == 0) {
        int lfd = s->readonly ? open(s->path, O_RDWR | O_CLOEXEC |
                                                  O_NOFOLLOW | O_NONBLOCK)
                              : s->fd;
        if (lfd >= 0 && lfd != s->fd)
            lfd = sk_fd_above_stdio(lfd);
        if (lfd >= 0 && sk_lock(lfd, SK_LOCK_GATE, F_WRLCK) == 0) {
            int e = unlink_if_same(s->backend, s->path, s->dev, s->ino);
            if (e < 0 && e != -ENOENT)
                r = sk_err_open(e, "unlink", s->name, s->path);
        }
        if (lfd >= 0 && lfd != s->fd)
            close(lfd);
    }
    sk_handle_free(s);
    return r;
}

static int fd_unlink(const struct sk_name *nm)
{
    if (nm->backend == SHMKIT_BACKEND_MEMFD)
        return sk_err(SHMKIT_E_UNSUPPORTED, "unlink", nm->canon,
                      "a memfd has no name; it is freed with its last fd "
                      "and mapping");
    int r = unlink_path(nm->backend, nm->path);
    if (r < 0)
        return sk_err_open(r, nm->backend == SHMKIT_BACKEND_POSIX ? "shm_unlink"
                                                                  : "unlink",
                           nm->canon, nm->path);
    return 0;
}

/* Reads the header of an fd-backed object without attaching.  own_slot is
 * the caller's slot when it is attached (stat), else -1. */
/* How much to map to read a file's header: on hugetlbfs a mapping (and the
 * length munmap needs) comes in whole huge pages, and munmap of the
 * header's size alone would fail, leaking a huge page's mapping per look
 * (`shmkit top` looks every second). */
static size_t header_map_len(int fd)
{
    struct statfs sf;
    if (fstatfs(fd, &sf) == 0 && (unsigned long)sf.f_type == HUGETLBFS_MAGIC &&
        sf.f_bsize > SK_HEADER_SIZE)
        return (size_t)sf.f_bsize;
    return SK_HEADER_SIZE;
}

/* Lets go of a header read by fill_from_fd(): mapped (hlen) or copied. */
static void hdr_done(struct sk_header *h, size_t hlen)
{
    if (hlen)
        munmap(h, hlen);
    else
        free(h);
}

static int fill_from_fd(int fd, const struct stat *st, int own_slot,
                        int own_gate, shmkit_segment_info_t *info)
{
    uint64_t size = (uint64_t)st->st_size;
    sk_info_from_stat(info, st);
    if (size < SK_HEADER_SIZE) {
        /* too small for a header: truncated only if it starts like one */
        uint64_t magic = 0;
        info->check = SHMKIT_E_NOT_SHMKIT;
        if (size >= sizeof magic &&
            pread(fd, &magic, sizeof magic, 0) == (ssize_t)sizeof magic &&
            magic == SK_MAGIC)
            info->check = SHMKIT_E_TRUNCATED;
        return 0;
    }
    /* The header is read into a copy, not mapped: a foreign file in
     * /dev/shm that its owner shrinks under us would make a read through
     * a mapping SIGBUS, and ls, gc and inspect look at every file there
     * (found by review).  hugetlbfs, where read() may not work, is mapped
     * (only root can shrink a file there that is not its own). */
    size_t hlen = 0;
    struct sk_header *h = malloc(SK_HEADER_SIZE);
    if (!h)
        return sk_err(-ENOMEM, "inspect", info->name, NULL);
    ssize_t got = pread(fd, h, SK_HEADER_SIZE, 0);
    if (got >= 0 && got < (ssize_t)SK_HEADER_SIZE) { /* it shrank */
        info->check = got >= (ssize_t)sizeof h->magic && h->magic == SK_MAGIC
                          ? SHMKIT_E_TRUNCATED
                          : SHMKIT_E_NOT_SHMKIT;
        free(h);
        return 0;
    }
    if (got < 0) {
        free(h);
        hlen = header_map_len(fd);
        h = mmap(NULL, hlen, PROT_READ, MAP_SHARED, fd, 0);
        if (h == MAP_FAILED)
            return sk_err(-errno, "mmap", info->name, NULL);
    }
    int gate = sk_lock_held(fd, SK_LOCK_GATE);
    int attached = gate > 0 || own_gate;
    if (!sk_header_ready(h)) {
        info->check = h->magic == SK_MAGIC ? SHMKIT_E_NOT_READY
                                           : SHMKIT_E_NOT_SHMKIT;
        /* a creator that died before ready leaves only our magic */
        info->stale = h->magic == SK_MAGIC && !attached &&
                      ctime_age_ns(st) > SK_ABANDONED_NS;
        if (info->stale)
            info->is_shmkit = 1;
        hdr_done(h, hlen);
        return 0;
    }
    /* The check reports into the thread's last error; keep the caller's. */
    struct sk_header_snap snap;
    int chk = sk_header_validate(h, size, info->name, &snap);
    if (chk < 0) {
        info->check = chk;
        hdr_done(h, hlen);
        return 0;
    }
    sk_info_from_header(&snap, info);
    sk_liveness_fill(h, fd, own_slot, info);
    if (attached && info->nattach == 0)
        info->nattach = 1; /* read-only attachees hold the gate, no slot */
    info->stale = !info->persistent && !attached;
    hdr_done(h, hlen);
    return 0;
}

static int fd_inspect(const struct sk_name *nm, shmkit_segment_info_t *info)
{
    snprintf(info->name, sizeof info->name, "%s", nm->canon);
    info->backend = nm->backend;
    if (nm->backend == SHMKIT_BACKEND_MEMFD)
        return sk_err(SHMKIT_E_UNSUPPORTED, "inspect", nm->canon,
                      "a memfd has no name; inspect an open handle with "
                      "shmkit_segment_stat()");
    int fd = open(nm->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    struct stat st;
    if (fd >= 0 && (fd = sk_fd_above_stdio(fd)) < 0)
        return sk_err(fd, "inspect", nm->canon, "fcntl(F_DUPFD_CLOEXEC)");
    if (fd < 0) {
        int e = -errno;
        if (e == -EACCES && stat(nm->path, &st) == 0) {
            sk_info_from_stat(info, &st);
            info->check = e;
            return 0;
        }
        return sk_err_open(e, "open", nm->canon, nm->path);
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int e = S_ISREG(st.st_mode) ? -errno : -EINVAL;
        close(fd);
        return sk_err(e, "inspect", nm->canon, "not a regular file");
    }
    int r = fill_from_fd(fd, &st, -1, 0, info);
    close(fd);
    return r;
}

static int fd_stat(shmkit_segment_t *s, shmkit_segment_info_t *info)
{
    struct stat st;
    memset(info, 0, sizeof *info);
    snprintf(info->name, sizeof info->name, "%s", s->name);
    info->backend = s->backend;
    if (fstat(s->fd, &st) != 0)
        return sk_err(-errno, "fstat", s->name, NULL);
    return fill_from_fd(s->fd, &st, s->slot, 1, info);
}

int sk_fd_gc_one(const char *canon, const char *path, int dry_run,
                 shmkit_segment_info_t *info)
{
    struct sk_name nm;
    if (sk_parse_name(canon, &nm) < 0)
        return 0;
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd >= 0)
        fd = sk_fd_above_stdio(fd);
    if (fd < 0)
        return 0; /* not ours to judge (permissions) or already gone */
    struct stat st;
    int removed = 0;
    /* Exclusive gate: nobody is attached, and nobody can attach until we
     * let go; openers that were waiting re-check the name afterwards. */
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
        sk_lock(fd, SK_LOCK_GATE, F_WRLCK) == 0) {
        memset(info, 0, sizeof *info);
        snprintf(info->name, sizeof info->name, "%s", canon);
        info->backend = nm.backend;
        /* own_gate=0: our write lock is not someone else's attachment */
        if (fill_from_fd(fd, &st, -1, 0, info) == 0 && info->stale &&
            info->is_shmkit) {
            removed = 1;
            if (!dry_run &&
                unlink_if_same(nm.backend, path, (uint64_t)st.st_dev,
                               (uint64_t)st.st_ino) < 0)
                removed = 0;
        }
    }
    close(fd);
    return removed;
}

const struct sk_backend sk_backend_fd = {
    .create = fd_create,
    .open = fd_open,
    .close = fd_close,
    .unlink = fd_unlink,
    .inspect = fd_inspect,
    .stat = fd_stat,
};
