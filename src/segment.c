/*
 * segment.c - names, the self-describing header, and what every backend
 * shares: creating, opening, validating, closing, memory options.
 *
 * Validation rule: nothing in the header is trusted.  An opener maps the
 * object at its real size (from fstat or IPC_STAT), acquire-loads `ready`,
 * and only then checks each field against that size, each failure with its
 * own code.  Offsets are recomputed from checked values, never used raw.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/ipc.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "error.h"
#include "segment.h"

const char *shmkit_backend_name(shmkit_backend_t b)
{
    switch (b) {
    case SHMKIT_BACKEND_POSIX: return "posix";
    case SHMKIT_BACKEND_SYSV: return "sysv";
    case SHMKIT_BACKEND_FILE: return "file";
    case SHMKIT_BACKEND_MEMFD: return "memfd";
    case SHMKIT_BACKEND_ANON: return "anon";
    }
    return "?";
}

const char *shmkit_kind_name(shmkit_kind_t k)
{
    switch (k) {
    case SHMKIT_KIND_RAW: return "raw";
    case SHMKIT_KIND_QUEUE: return "queue";
    case SHMKIT_KIND_BUS: return "bus";
    case SHMKIT_KIND_LATEST: return "latest";
    case SHMKIT_KIND_NONE: break;
    }
    return "-";
}

void shmkit_segment_opts_init(shmkit_segment_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->mode = 0600;
    o->gid = -1;
    o->reserve = 1;
    o->numa_node = -1;
    o->timeout_ms = 1000;
}

/* ---- names ---------------------------------------------------------------- */

static int bad_name(const char *name, const char *why)
{
    return sk_err(SHMKIT_E_BAD_NAME, "parse name", name,
                  "%s; names are NAME or /NAME (posix), sysv:KEY, "
                  "sysv:id=SHMID, sysv:ftok=PATH:ID, sysv:private, file:PATH, "
                  "memfd:LABEL, anon:LABEL",
                  why);
}

static int parse_i64(const char *s, long long min, long long max,
                     long long *out)
{
    if (!*s)
        return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 0);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int sk_parse_name(const char *name, struct sk_name *nm)
{
    memset(nm, 0, sizeof *nm);
    if (!name || !*name)
        return bad_name(name ? name : "(null)", "empty name");
    if (strlen(name) >= sizeof nm->canon - 16)
        return bad_name(name, "name too long (at most 239 bytes; remove a "
                              "longer one in /dev/shm with rm(1))");

    if (!strncmp(name, "sysv:", 5)) {
        const char *r = name + 5;
        long long v;
        nm->backend = SHMKIT_BACKEND_SYSV;
        if (!strcmp(r, "private")) {
            nm->sysv_private = 1;
            snprintf(nm->canon, sizeof nm->canon, "sysv:private");
        } else if (!strncmp(r, "id=", 3)) {
            if (parse_i64(r + 3, 0, INT_MAX, &v))
                return bad_name(name, "sysv:id= needs a shmid (decimal)");
            nm->sysv_by_id = 1;
            nm->sysv_id = (int)v;
            snprintf(nm->canon, sizeof nm->canon, "sysv:id=%d", nm->sysv_id);
        } else if (!strncmp(r, "ftok=", 5)) {
            const char *colon = strrchr(r + 5, ':');
            char path[4096];
            if (!colon || colon == r + 5 ||
                parse_i64(colon + 1, 1, 255, &v))
                return bad_name(name, "sysv:ftok= needs PATH:ID with ID 1..255");
            size_t n = (size_t)(colon - (r + 5));
            if (n >= sizeof path)
                return bad_name(name, "path too long");
            memcpy(path, r + 5, n);
            path[n] = 0;
            key_t k = ftok(path, (int)v);
            if (k == -1)
                return sk_err(-errno, "ftok", path,
                              "ftok() needs an existing file the caller can stat");
            nm->sysv_key = (int32_t)k;
            snprintf(nm->canon, sizeof nm->canon, "sysv:0x%08x",
                     (unsigned)nm->sysv_key);
        } else {
            if (parse_i64(r, INT_MIN, UINT32_MAX, &v))
                return bad_name(name, "sysv:KEY needs a decimal or 0x hex key");
            nm->sysv_key = (int32_t)(uint32_t)(long long)v;
            if (nm->sysv_key == IPC_PRIVATE) {
                nm->sysv_private = 1;
                snprintf(nm->canon, sizeof nm->canon, "sysv:private");
            } else
                snprintf(nm->canon, sizeof nm->canon, "sysv:0x%08x",
                         (unsigned)nm->sysv_key);
        }
        return 0;
    }
    if (!strncmp(name, "file:", 5)) {
        if (!name[5])
            return bad_name(name, "file: needs a path");
        nm->backend = SHMKIT_BACKEND_FILE;
        snprintf(nm->path, sizeof nm->path, "%s", name + 5);
        snprintf(nm->canon, sizeof nm->canon, "%s", name);
        return 0;
    }
    if (!strncmp(name, "memfd:", 6)) {
        nm->backend = SHMKIT_BACKEND_MEMFD;
        snprintf(nm->canon, sizeof nm->canon, "%s", name);
        return 0;
    }
    if (!strncmp(name, "anon:", 5) || !strcmp(name, "anon")) {
        nm->backend = SHMKIT_BACKEND_ANON;
        snprintf(nm->canon, sizeof nm->canon, "%s",
                 strcmp(name, "anon") ? name : "anon:");
        return 0;
    }
    if (!strncmp(name, "posix:", 6))
        name += 6;
    const char *p = name[0] == '/' ? name + 1 : name;
    if (!*p)
        return bad_name(name, "empty POSIX name");
    if (strchr(p, '/'))
        return bad_name(name, "a POSIX name has no '/' after the first "
                              "character (use file:PATH for paths)");
    if (!strcmp(p, ".") || !strcmp(p, ".."))
        return bad_name(name, "'.' and '..' are not names");
    if (strlen(p) > NAME_MAX)
        return bad_name(name, "POSIX names are at most 255 bytes");
    nm->backend = SHMKIT_BACKEND_POSIX;
    snprintf(nm->canon, sizeof nm->canon, "/%s", p);
    snprintf(nm->path, sizeof nm->path, "/dev/shm/%s", p);
    return 0;
}

/* ---- header ----------------------------------------------------------------- */

void sk_header_init(struct sk_header *h, uint64_t total, uint32_t kind,
                    uint32_t flags)
{
    /* The creator owns the object exclusively until `ready`; openers that
     * look early see ready == 0 and wait. */
    h->magic = SK_MAGIC;
    h->format_version = SK_FORMAT_VERSION;
    h->abi = SK_ABI_WORD;
    h->kind = kind;
    h->flags = flags;
    h->total_size = total;
    h->data_offset = SK_HEADER_SIZE;
    h->data_size = total - SK_HEADER_SIZE;
    h->max_attach = SHMKIT_MAX_ATTACH;
    h->creator_pid = getpid();
    uint64_t st = 0;
    sk_proc_start_time(getpid(), &st);
    h->creator_start = st;
    h->creator_pidns = sk_pidns_self();
    h->created_unix_ns = sk_now_ns(CLOCK_REALTIME);
}

void sk_header_publish(struct sk_header *h)
{
    /* pairs with the acquire load in sk_header_ready() */
    atomic_store_explicit(&h->ready, SK_READY_VALUE, memory_order_release);
}

int sk_header_ready(const struct sk_header *h)
{
    /* pairs with the release store in sk_header_publish() */
    return atomic_load_explicit(&((struct sk_header *)h)->ready,
                                memory_order_acquire) == SK_READY_VALUE;
}

int sk_header_validate(const struct sk_header *hp, uint64_t mapped,
                       const char *name, struct sk_header_snap *snap)
{
    struct sk_header_snap local;
    if (!snap)
        snap = &local;
    memset(snap, 0, sizeof *snap);
    if (mapped < SK_HEADER_SIZE)
        return sk_err(SHMKIT_E_TRUNCATED, "open", name,
                      "the object is %llu bytes, smaller than a shmkit header; "
                      "it is not a shmkit segment, or something shrank it",
                      (unsigned long long)mapped);
    /* one read of each field (volatile: the compiler may not read again);
     * from here on only the copy is used */
    const volatile struct sk_header *vh = hp;
    snap->magic = vh->magic;
    snap->format_version = vh->format_version;
    snap->abi = vh->abi;
    snap->kind = vh->kind;
    snap->flags = vh->flags;
    snap->total_size = vh->total_size;
    snap->data_offset = vh->data_offset;
    snap->data_size = vh->data_size;
    snap->max_attach = vh->max_attach;
    snap->creator_pid = vh->creator_pid;
    snap->creator_start = vh->creator_start;
    snap->creator_pidns = vh->creator_pidns;
    snap->created_unix_ns = vh->created_unix_ns;
    const struct sk_header_snap *h = snap;
    if (h->magic != SK_MAGIC)
        return sk_err(SHMKIT_E_NOT_SHMKIT, "open", name,
                      "it was not created by shmkit; 'shmkit ls' shows its "
                      "size and owner");
    if (h->format_version != SK_FORMAT_VERSION)
        return sk_err(SHMKIT_E_VERSION, "open", name,
                      "it has format version %u, this library reads %u; use "
                      "the shmkit release that created it",
                      h->format_version, SK_FORMAT_VERSION);
    if (h->abi != SK_ABI_WORD)
        return sk_err(SHMKIT_E_ABI, "open", name,
                      "ABI word 0x%08x, expected 0x%08x: created by a build "
                      "for another architecture or layout",
                      h->abi, SK_ABI_WORD);
    uint64_t total = h->total_size;
    if (total > mapped)
        return sk_err(SHMKIT_E_TRUNCATED, "open", name,
                      "the header says %llu bytes but the object has %llu; "
                      "something shrank it (ftruncate) after creation",
                      (unsigned long long)total, (unsigned long long)mapped);
    if (h->data_offset != SK_HEADER_SIZE || total < SK_HEADER_SIZE ||
        h->data_size != total - SK_HEADER_SIZE)
        return sk_err(SHMKIT_E_CORRUPT, "open", name,
                      "data_offset %llu / data_size %llu do not fit the size "
                      "%llu; the header was overwritten",
                      (unsigned long long)h->data_offset,
                      (unsigned long long)h->data_size,
                      (unsigned long long)total);
    if (h->max_attach == 0 || h->max_attach > SHMKIT_MAX_ATTACH)
        return sk_err(SHMKIT_E_CORRUPT, "open", name,
                      "attach table size %u out of range; the header was "
                      "overwritten", h->max_attach);
    if (h->kind < SHMKIT_KIND_RAW || h->kind > SHMKIT_KIND_LATEST)
        return sk_err(SHMKIT_E_CORRUPT, "open", name,
                      "unknown kind %u; the header was overwritten", h->kind);
    if (total % 4096)
        return sk_err(SHMKIT_E_CORRUPT, "open", name,
                      "size %llu is not a multiple of 4 KiB; the header was "
                      "overwritten", (unsigned long long)total);
    return 0;
}

/* ---- memory options ------------------------------------------------------ */

int sk_numa_bind(void *addr, uint64_t len, int node, const char *name)
{
    if (node < 0)
        return 0;
    if (node >= 1024)
        return sk_err(-EINVAL, "mbind", name, "NUMA node %d out of range", node);
    unsigned long mask[1024 / (8 * sizeof(unsigned long))] = {0};
    mask[node / (8 * sizeof(unsigned long))] |=
        1ul << (node % (8 * sizeof(unsigned long)));
    /* MPOL_BIND == 2; the kernel wants maxnode one past the highest bit */
    if (syscall(SYS_mbind, addr, (unsigned long)len, 2, mask,
                (unsigned long)node + 2, 0) != 0)
        return sk_err(-errno, "mbind", name,
                      "NUMA node %d is not usable here; "
                      "ls /sys/devices/system/node shows the nodes", node);
    return 0;
}

/*
 * Prefault: map every page now, so the first lap of a ring pays no page
 * faults.  MADV_POPULATE_* fills the page tables but leaves each entry
 * unaccessed, and the first access to each page afterwards is still slow
 * under a hypervisor: ~4 us a page on our KVM guests (first-touch of the
 * translation), which a ping-pong pays on every 4 KiB of its first lap, four
 * times (two rings, two ends) and made every 1 MiB ring's p99.9 ~27 us.  So
 * each page is also read once here, where the cost is expected.
 *
 * A read is enough (the write fault was taken by the populate), and it is
 * the only safe access: the segment may be in use, and a plain write of a
 * byte read a moment ago could undo another process's store.  Kernels
 * before 5.14 lack MADV_POPULATE_*; there a writable mapping gets an atomic
 * add of 0 to the first word of each page, a write that cannot lose one.
 */
int sk_prefault(void *addr, uint64_t len, int writable)
{
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif
    int populated = 1;
    if (madvise(addr, len, writable ? MADV_POPULATE_WRITE : MADV_POPULATE_READ) != 0) {
        if (errno != EINVAL)
            return -errno;
        populated = 0;
    }
    if (SK_SHARE_MAPPINGS)
        return 0; /* TSan builds: another thread may be writing these bytes
                     through the same mapping; the touch only saves time */
    uint64_t ps = sk_page_size();
    unsigned char *p = addr;
    for (uint64_t off = 0; off < len; off += ps) {
        if (writable && !populated)
            atomic_fetch_add_explicit((_Atomic uint64_t *)(void *)(p + off), 0,
                                      memory_order_relaxed);
        else
            (void)*(volatile unsigned char *)(p + off);
    }
    return 0;
}

int sk_mlock(void *addr, uint64_t len, const char *name)
{
    if (mlock(addr, len) == 0)
        return 0;
    int e = errno;
    if (e == EPERM || e == ENOMEM || e == EAGAIN)
        return sk_err(-e, "mlock", name,
                      "locking %llu bytes exceeds RLIMIT_MEMLOCK; raise it "
                      "with 'ulimit -l unlimited', a memlock line in "
                      "/etc/security/limits.conf, LimitMEMLOCK=infinity for "
                      "a systemd service, or grant CAP_IPC_LOCK",
                      (unsigned long long)len);
    return sk_err(-e, "mlock", name, NULL);
}

/* Common tail of create and open once the object is mapped. */
int sk_apply_mem_opts(shmkit_segment_t *s, const shmkit_segment_opts_t *o,
                      int creating)
{
    (void)creating;
    int r;
    if (o->prefault && (r = sk_prefault(s->base, s->map_size, !s->readonly)) < 0)
        return sk_err(r, "prefault", s->name, NULL);
    if (o->lock) {
        if ((r = sk_mlock(s->base, s->map_size, s->name)) < 0)
            return r;
        s->locked = 1;
    }
    return 0;
}

/* ---- handles ---------------------------------------------------------------- */

/*
 * fork(): a child inherits our fds, and with them our open file
 * descriptions and their OFD locks.  A child that kept them would look
 * attached on our behalf, and would stop the last real closer from taking
 * the gate exclusively.  So the child closes every inherited segment fd
 * (its mappings stay usable); it opens its own handles to be an attachee.
 */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static shmkit_segment_t *reg_head;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;

static void atfork_child(void)
{
    /* single-threaded here; the mutex may be held by a vanished thread */
    pthread_mutex_init(&reg_lock, NULL);
    for (shmkit_segment_t *s = reg_head; s; s = s->reg_next)
        if (s->fd >= 0 && s->owner_pid != getpid()) {
            close(s->fd);
            s->fd = -1;
        }
}

static void reg_init(void)
{
    pthread_atfork(NULL, NULL, atfork_child);
}

static void reg_add(shmkit_segment_t *s)
{
    pthread_once(&reg_once, reg_init);
    pthread_mutex_lock(&reg_lock);
    s->reg_next = reg_head;
    reg_head = s;
    pthread_mutex_unlock(&reg_lock);
}

/*
 * ThreadSanitizer builds only: endpoints of one process that open the same
 * object share one mapping.  TSan tracks addresses, so with a mapping per
 * endpoint it could not see a race on a ring between two threads; with one
 * shared mapping the threaded stress tests let it check the rings.  Shared
 * mappings are never unmapped (test processes are short-lived).
 */
void sk_share_mapping(shmkit_segment_t *s)
{
#if SK_SHARE_MAPPINGS
    pthread_mutex_lock(&reg_lock);
    for (shmkit_segment_t *o = reg_head; o; o = o->reg_next)
        if (o != s && o->shareable && o->dev == s->dev && o->ino == s->ino &&
            o->map_size == s->map_size && o->readonly == s->readonly &&
            o->owner_pid == getpid()) {
            munmap(s->base, s->map_size);
            s->base = o->base;
            s->shared_map = 1;
            break;
        }
    /* published under the lock: others read our fields only after this */
    s->shareable = 1;
    pthread_mutex_unlock(&reg_lock);
#else
    (void)s;
#endif
}

static void reg_remove(shmkit_segment_t *s)
{
    pthread_mutex_lock(&reg_lock);
    for (shmkit_segment_t **pp = &reg_head; *pp; pp = &(*pp)->reg_next)
        if (*pp == s) {
            *pp = s->reg_next;
            break;
        }
    pthread_mutex_unlock(&reg_lock);
}

shmkit_segment_t *sk_handle_new(const struct sk_name *nm)
{
    shmkit_segment_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->backend = nm->backend;
    snprintf(s->name, sizeof s->name, "%s", nm->canon);
    snprintf(s->path, sizeof s->path, "%s", nm->path);
    s->fd = -1;
    s->shmid = -1;
    s->slot = -1;
    s->owner_pid = getpid();
    /* registered complete: a fork in another thread runs atfork_child()
     * over it (calloc's fd 0 and owner 0 had it close the child's stdin) */
    reg_add(s);
    return s;
}

void sk_handle_free(shmkit_segment_t *s)
{
    if (!s)
        return;
    reg_remove(s);
#if SK_SHARE_MAPPINGS
    /* see sk_share_mapping(): mappings live until the process exits */
    if (s->base && s->backend == SHMKIT_BACKEND_SYSV && !s->shared_map)
        shmdt(s->base);
#else
    if (s->base && s->backend == SHMKIT_BACKEND_SYSV)
        shmdt(s->base);
    else if (s->base && (s->owner_pid == getpid() ||
                         s->backend == SHMKIT_BACKEND_MEMFD ||
                         s->backend == SHMKIT_BACKEND_ANON))
        munmap(s->base, s->map_size);
    /* else a named segment's handle inherited across fork: its mapping was
     * not (MADV_DONTFORK, backend_fd.c), and whatever the child mapped
     * since at that address is not ours to unmap */
#endif
    if (s->fd >= 0)
        close(s->fd);
    free(s);
}

static const struct sk_backend *backend_of(shmkit_backend_t b)
{
    switch (b) {
    case SHMKIT_BACKEND_POSIX:
    case SHMKIT_BACKEND_FILE:
    case SHMKIT_BACKEND_MEMFD:
        return &sk_backend_fd;
    case SHMKIT_BACKEND_SYSV:
        return &sk_backend_sysv;
    case SHMKIT_BACKEND_ANON:
        return &sk_backend_anon;
    }
    return NULL;
}

/* What create and open share: the out pointer, the name, the options. */
static int prepare(const char *what, const char *name,
                   const shmkit_segment_opts_t *opts, shmkit_segment_t **out,
                   struct sk_name *nm, shmkit_segment_opts_t *o)
{
    if (!out)
        return sk_err(-EINVAL, what, name, "out must not be NULL");
    *out = NULL;
    int r = sk_parse_name(name, nm);
    if (r < 0)
        return r;
    if (opts)
        *o = *opts;
    else
        shmkit_segment_opts_init(o);
    return 0;
}

int shmkit_segment_create(const char *name, const shmkit_segment_opts_t *opts,
                          shmkit_segment_t **out)
{
    struct sk_name nm;
    shmkit_segment_opts_t o;
    int r = prepare("create", name, opts, out, &nm, &o);
    if (r < 0)
        return r;
    if (o.size == 0)
        return sk_err(-EINVAL, "create", nm.canon,
                      "size must be at least 1 byte");
    if (o.size > (1ull << 46))
        return sk_err(-EINVAL, "create", nm.canon,
                      "size %llu is beyond what any machine can map",
                      (unsigned long long)o.size);
    if (o.mode & ~07777u)
        return sk_err(-EINVAL, "create", nm.canon,
                      "mode %o is not a permission mode (use e.g. 0600, 0660)",
                      o.mode);
    if (o.kind == SHMKIT_KIND_NONE)
        o.kind = SHMKIT_KIND_RAW;
    if (o.kind > SHMKIT_KIND_LATEST)
        return sk_err(-EINVAL, "create", nm.canon, "unknown kind %u", o.kind);
    if (o.readonly)
        return sk_err(-EINVAL, "create", nm.canon,
                      "readonly applies to open, not create");
    return backend_of(nm.backend)->create(&nm, &o, out);
}

int shmkit_segment_open(const char *name, const shmkit_segment_opts_t *opts,
                        shmkit_segment_t **out)
{
    struct sk_name nm;
    shmkit_segment_opts_t o;
    int r = prepare("open", name, opts, out, &nm, &o);
    if (r < 0)
        return r;
    if (o.timeout_ms < 0)
        o.timeout_ms = 0;
    r = backend_of(nm.backend)->open(&nm, &o, out);
    if (r == 0 && o.kind && (*out)->kind != o.kind) {
        r = sk_err(SHMKIT_E_KIND, "open", nm.canon,
                   "it is a %s segment, not a %s",
                   shmkit_kind_name((shmkit_kind_t)(*out)->kind),
                   shmkit_kind_name((shmkit_kind_t)o.kind));
        shmkit_segment_close(*out);
        *out = NULL;
    }
    return r;
}

static _Thread_local int tl_observe;

int sk_observing(void)
{
    return tl_observe;
}

int sk_segment_observe(const char *name, shmkit_segment_t **out)
{
    shmkit_segment_opts_t o;
    shmkit_segment_opts_init(&o);
    o.readonly = 1;
    o.timeout_ms = 0;
    tl_observe = 1;
    int r = shmkit_segment_open(name, &o, out);
    tl_observe = 0;
    if (r == 0)
        (*out)->observer = 1;
    return r;
}

int shmkit_segment_close(shmkit_segment_t *s)
{
    if (!s)
        return 0;
    if (s->owner_pid != getpid()) {
        /* inherited across fork: the parent's attachment is not ours */
        sk_handle_free(s);
        return 0;
    }
    return backend_of(s->backend)->close(s);
}

int shmkit_segment_unlink(const char *name)
{
    struct sk_name nm;
    int r;
    if ((r = sk_parse_name(name, &nm)) < 0)
        return r;
    return backend_of(nm.backend)->unlink(&nm);
}

int shmkit_segment_sync(shmkit_segment_t *s)
{
    if (!s || !s->base)
        return sk_err(-EINVAL, "sync", NULL, "no segment");
    if (s->backend != SHMKIT_BACKEND_FILE)
        return 0;
    if (msync(s->base, s->map_size, MS_SYNC) != 0)
        return sk_err(-errno, "msync", s->name, NULL);
    return 0;
}

void *shmkit_segment_data(const shmkit_segment_t *s)
{
    return s && s->base ? (char *)s->base + SK_HEADER_SIZE : NULL;
}

uint64_t shmkit_segment_data_size(const shmkit_segment_t *s)
{
    return s && s->base ? s->map_size - SK_HEADER_SIZE : 0;
}

int shmkit_segment_fd(const shmkit_segment_t *s)
{
    return s ? s->fd : -1;
}

const char *shmkit_segment_name(const shmkit_segment_t *s)
{
    return s ? s->name : "";
}

shmkit_kind_t shmkit_segment_kind(const shmkit_segment_t *s)
{
    return s ? (shmkit_kind_t)s->kind : SHMKIT_KIND_NONE;
}

/* Fills the header part of info from a validated header. */
void sk_info_from_header(const struct sk_header_snap *h, shmkit_segment_info_t *info)
{
    info->is_shmkit = 1;
    info->check = 0;
    info->kind = (shmkit_kind_t)h->kind;
    info->format_version = h->format_version;
    info->data_offset = h->data_offset;
    info->data_size = h->data_size;
    info->creator_pid = h->creator_pid;
    info->creator_alive =
        sk_proc_alive(h->creator_pid, h->creator_start, h->creator_pidns);
    info->created_unix_ns = h->created_unix_ns;
    info->persistent = (h->flags & SK_F_PERSISTENT) != 0;
    info->hugepages = (h->flags & SK_F_HUGEPAGES) != 0;
}

int shmkit_segment_stat(shmkit_segment_t *s, shmkit_segment_info_t *info)
{
    if (!s || !info)
        return sk_err(-EINVAL, "stat", NULL, "NULL argument");
    return backend_of(s->backend)->stat(s, info);
}

int shmkit_segment_inspect(const char *name, shmkit_segment_info_t *info)
{
    struct sk_name nm;
    int r;
    if (!info)
        return sk_err(-EINVAL, "inspect", name, "info must not be NULL");
    memset(info, 0, sizeof *info);
    if ((r = sk_parse_name(name, &nm)) < 0)
        return r;
    return backend_of(nm.backend)->inspect(&nm, info);
}

int shmkit_segment_stale(const char *name)
{
    shmkit_segment_info_t info;
    int r = shmkit_segment_inspect(name, &info);
    if (r < 0)
        return r;
    return info.stale;
}

/* ---- hooks for the channel layer --------------------------------------- */

#include "channel.h"

static _Thread_local sk_create_hook_fn tl_hook;
static _Thread_local void *tl_hook_ctx;

void sk_set_create_hook(sk_create_hook_fn fn, void *ctx)
{
    tl_hook = fn;
    tl_hook_ctx = ctx;
}

/* Called by every backend's create right before `ready` is published, so
 * the channel's control block is complete when openers first see it. */
int sk_run_create_hook(shmkit_segment_t *s)
{
    if (!tl_hook)
        return 0;
    return tl_hook(shmkit_segment_data(s), shmkit_segment_data_size(s),
                   tl_hook_ctx);
}

int sk_seg_slot_alive(shmkit_segment_t *s, int slot)
{
    if (slot < 0 || slot >= SHMKIT_MAX_ATTACH)
        return 0;
    if (slot == s->slot)
        return 1;
    struct sk_header *h = sk_hdr(s);
    struct sk_slot *sl = &h->slots[slot];
    int64_t pid = atomic_load_explicit(&sl->pid, memory_order_acquire);
    if (s->fd >= 0)
        return sk_slot_lock_held(s->fd, slot) > 0;
    pid = sk_slot_pid(pid);
    if (pid == 0)
        return 0;
    return sk_proc_alive(pid, sl->start_time, sl->pidns);
}

void sk_seg_set_role(shmkit_segment_t *s, uint32_t role)
{
    if (s->slot >= 0)
        sk_hdr(s)->slots[s->slot].role = role;
}
