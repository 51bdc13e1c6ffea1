/*
 * segment.h - private: the shared segment header and the backend interface.
 *
 * Layout of every shmkit segment:
 *
 *   offset 0      struct sk_header (8192 bytes: two 4 KiB pages)
 *   offset 8192   data area (data_size bytes); channels put their control
 *                 block at its start.
 *
 * The header is a contract between builds: fixed-width fields only, explicit
 * padding, and _Static_asserts on size and offsets.  A creator fills every
 * field, then stores `ready` last with release semantics; an opener
 * acquire-loads `ready` before it reads anything else, then checks every
 * field against the real size of the object it mapped.
 *
 * Liveness (fd backends: posix, file, memfd) is kept by the kernel with OFD
 * locks on the segment's fd.  Byte SK_LOCK_GATE is the "attached" gate: every
 * attachee holds a shared (read) lock on it for as long as it is attached.
 * Byte SK_LOCK_SLOT0 + i is attach slot i: the attachee that owns slot i
 * holds an exclusive lock on it, which is how a slot is claimed (the kernel
 * arbitrates) and how anyone can tell whether its owner is still alive
 * (F_OFD_GETLK).  The kernel drops both locks when the process dies, in any
 * pid namespace.  gc and the last closer take an exclusive lock on the gate:
 * it succeeds only when nobody else is attached, and while they hold it a
 * new attachee cannot get in; the attachee re-checks after locking that the
 * name still leads to the object it opened.  The lock bytes lie beyond the
 * header, possibly beyond EOF, which is allowed for locks.
 *
 * SysV has no fd: liveness is the kernel's shm_nattch, and pid + start time
 * (from /proc/PID/stat) + pid namespace for each attach slot.
 */
#ifndef SK_SEGMENT_H
#define SK_SEGMENT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "shmkit.h"

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics must be lock-free");

#define SK_CACHELINE 64
#define SK_HEADER_SIZE 8192u
#define SK_MAGIC 0x31544b4d48535f5fULL /* "__SHMKT1" little-endian */
#define SK_FORMAT_VERSION 2u /* 2: a queue record's header is 8 bytes (was 16) */
#define SK_READY_VALUE 0x52454459u /* "READY" */
#define SK_LOCK_GATE 0x7fffffff00000000LL
#define SK_LOCK_SLOT0 (SK_LOCK_GATE + 1)

/* header flags */
#define SK_F_PERSISTENT 0x1u
#define SK_F_HUGEPAGES 0x2u

/* One attach slot.  pid == 0 means free. */
struct sk_slot {
    _Atomic int64_t pid;  /* written by the slot's owner                    */
    uint64_t start_time;  /* /proc/PID/stat field 22 (clock ticks)         */
    uint64_t pidns;       /* inode of /proc/PID/ns/pid                      */
    uint32_t role;
    uint32_t pad;
};
_Static_assert(sizeof(struct sk_slot) == 32, "slot layout");

struct sk_header {
    /* identity: line 0 */
    uint64_t magic;
    uint32_t format_version;
    uint32_t abi;
    uint32_t kind;
    uint32_t flags;
    uint64_t total_size;  /* size of the whole object                       */
    uint64_t data_offset; /* == SK_HEADER_SIZE                              */
    uint64_t data_size;   /* total_size - data_offset                       */
    uint32_t max_attach;  /* <= SHMKIT_MAX_ATTACH                           */
    uint32_t pad0[3];
    /* creator: line 1 */
    int64_t creator_pid;
    uint64_t creator_start;
    uint64_t creator_pidns;
    uint64_t created_unix_ns;
    uint8_t pad1[32];
    /* ready: line 2, stored last (release), loaded first (acquire) */
    _Atomic uint32_t ready;
    /* sysv: a remover (gc, last closer) is between its shm_nattch check and
     * IPC_RMID: attachers back off (backend_sysv.c).  0 in older segments. */
    _Atomic uint32_t removing;
    uint32_t pad2[14];
    uint8_t pad3[SK_CACHELINE * 5];
    /* attach table: offset 512 */
    struct sk_slot slots[SHMKIT_MAX_ATTACH];
    uint8_t tail[SK_HEADER_SIZE - 512 - 32 * SHMKIT_MAX_ATTACH];
};
_Static_assert(sizeof(struct sk_header) == SK_HEADER_SIZE, "header size");
_Static_assert(offsetof(struct sk_header, creator_pid) == 64, "header layout");
_Static_assert(offsetof(struct sk_header, ready) == 128, "header layout");
_Static_assert(offsetof(struct sk_header, slots) == 512, "header layout");

/* ABI word: cache line, header size, slot size, pointer-free layout rev. */
#define SK_ABI_WORD                                                          \
    ((uint32_t)((SK_CACHELINE << 24) | ((SK_HEADER_SIZE >> 8) << 12) |       \
                ((uint32_t)sizeof(struct sk_slot) << 4) | 1u))

struct shmkit_segment {
    shmkit_backend_t backend;
    char name[256];     /* canonical name                                  */
    char path[4096];    /* posix: "/name"; file: path; else ""             */
    int fd;             /* -1 for sysv/anon                                */
    int shmid;          /* sysv, else -1                                   */
    int sysv_by_id;     /* sysv: opened as sysv:id=N, not by key           */
    int32_t sysv_key;   /* sysv: the key it was opened by                   */
    uint64_t removing_since; /* sysv open: first saw a remover's flag     */
    void *base;         /* mapping start (the header)                      */
    uint64_t map_size;
    int readonly;
    int slot;           /* our attach slot, -1 none                        */
    pid_t owner_pid;    /* process that opened the handle (fork check)     */
    int locked;         /* mlock'ed                                        */
    int persistent;
    uint32_t kind;
    uint64_t dev, ino;  /* identity of the opened object                  */
    shmkit_segment_t *reg_next; /* registry of open handles (fork)      */
    int observer;       /* looks only: no gate lock, no slot, no unlink   */
    int shared_map;     /* TSan builds: base belongs to another handle    */
    int shareable;      /* TSan builds: fields published to the registry  */
};

#if defined(__SANITIZE_THREAD__)
#define SK_SHARE_MAPPINGS 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SK_SHARE_MAPPINGS 1
#endif
#endif
#ifndef SK_SHARE_MAPPINGS
#define SK_SHARE_MAPPINGS 0
#endif
void sk_share_mapping(shmkit_segment_t *s);

static inline struct sk_header *sk_hdr(const shmkit_segment_t *s)
{
    return (struct sk_header *)s->base;
}

/* A slot's pid word as a pid: negative while being claimed; anything out
 * of range (a stranger wrote it) is 0. */
static inline int64_t sk_slot_pid(int64_t raw)
{
    if (raw < 0)
        raw = raw == INT64_MIN ? 0 : -raw;
    return raw > 0x7fffffff ? 0 : raw;
}

/* ---- parsed names ---- */
struct sk_name {
    shmkit_backend_t backend;
    char canon[256];   /* canonical name                                  */
    char path[4096];   /* posix: "/name"; file: absolute or given path   */
    int sysv_by_id;    /* "sysv:id=N"                                      */
    int sysv_private;  /* "sysv:private"                                   */
    int32_t sysv_key;
    int sysv_id;
};
int sk_parse_name(const char *name, struct sk_name *out);

/* ---- header helpers (segment.c) ---- */

/* The header's fixed fields, copied out of shared memory once: validation
 * and everything after it use the copy, so a peer rewriting the header
 * between the check and the use (a double fetch) changes nothing. */
struct sk_header_snap {
    uint64_t magic;
    uint32_t format_version, abi, kind, flags;
    uint64_t total_size, data_offset, data_size;
    uint32_t max_attach;
    int64_t creator_pid;
    uint64_t creator_start, creator_pidns, created_unix_ns;
};
/* Copies h into snap (may be NULL: a local copy), then checks the copy
 * against the real size: 0 or a SHMKIT_E_* code with the last error set.
 * h may be NULL when mapped < SK_HEADER_SIZE. */
int sk_header_validate(const struct sk_header *h, uint64_t mapped,
                       const char *name, struct sk_header_snap *snap);
void sk_header_init(struct sk_header *h, uint64_t total, uint32_t kind,
                    uint32_t flags);

/* ---- process helpers (util.c) ---- */
/* What a stat of a segment's object tells: size, mode, owner; attachees
 * unknown until a look at the header */
static inline void sk_info_from_stat(shmkit_segment_info_t *info,
                                     const struct stat *st)
{
    info->size = (uint64_t)st->st_size;
    info->mode = st->st_mode & 07777;
    info->uid = st->st_uid;
    info->gid = st->st_gid;
    info->nattach = -1;
}

int sk_proc_start_time(pid_t pid, uint64_t *out); /* 0, -ENOENT, ...       */
uint64_t sk_pidns_self(void);
/* 1 alive, 0 dead, -1 unknown; checks start time and pid namespace */
int sk_proc_alive(int64_t pid, uint64_t start_time, uint64_t pidns);
uint64_t sk_now_ns(int clock);
uint64_t sk_page_size(void);
uint64_t sk_hugepage_size(void);
uint64_t sk_round_up(uint64_t v, uint64_t to);
void sk_sleep_ns(uint64_t ns);
/* fd, moved above 2 (see util.c); closes it and returns -errno on failure */
int sk_fd_above_stdio(int fd);

/* ---- OFD locks (liveness.c) ---- */
int sk_lock(int fd, int64_t byte, int type); /* F_RDLCK/F_WRLCK/F_UNLCK; 0/-errno */
/* 1 when attach slot `slot` is held exclusively (by its owner), else 0 */
int sk_slot_lock_held(int fd, int slot);
int sk_lock_held(int fd, int64_t byte);      /* 1 held by another, 0 free, <0 */
int sk_slot_claim(shmkit_segment_t *s, uint32_t role); /* fd backends & sysv */
void sk_slot_release(shmkit_segment_t *s);
/* Fills attached[], nattach, stale, creator_alive for an open mapping. */
void sk_liveness_fill(const struct sk_header *h, int fd, int own_slot,
                      shmkit_segment_info_t *info);

/* Opens read-only as an observer (stat, top): not an attachee, never the
 * one to unlink.  Not exported. */
int sk_segment_observe(const char *name, shmkit_segment_t **out);
int sk_observing(void);

/* ---- mapping helpers (segment.c) ---- */
int sk_apply_mem_opts(shmkit_segment_t *s, const shmkit_segment_opts_t *o,
                      int creating);

#endif
