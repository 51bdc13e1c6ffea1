/*
 * shmkit.h - zero-copy shared-memory IPC for Linux.
 *
 * The one public header of libshmkit.  Conventions:
 *  - Every function that can fail returns int: >= 0 on success, a negative
 *    code on failure: -errno, or a SHMKIT_E_* code from the reserved range
 *    [-30999, -30900].  shmkit_strerror() names every code.
 *  - After a failure, shmkit_last_error() (thread-local) says what was tried,
 *    on which object, the system's words and a hint that fixes the common
 *    cause.  Hot-path calls that fail with -EAGAIN do not touch it.
 *  - Anything with a lifecycle is an opaque handle; options are plain structs
 *    filled by shmkit_<x>_opts_init() so fields can be added later.
 *
 * Threads: the error functions, shmkit_strerror(), shmkit_segment_unlink(),
 * shmkit_segment_inspect(), shmkit_segment_list(), shmkit_segment_stale(),
 * shmkit_gc() and the memfd helpers are thread-safe.  A handle
 * (shmkit_segment_t) is used by one thread at a time.
 *
 * fork(): every fd shmkit opens is O_CLOEXEC.  After fork() the child may use
 * the mapping it inherited (that is how anon and memfd segments are shared):
 * read and write the data area, and call shmkit_segment_close() on the
 * inherited handle, which in the child only unmaps and closes its copy of the
 * fd (the parent's attachment is untouched).  A child that wants to be an
 * attachee of its own (counted for liveness and ownership) opens its own
 * handle with shmkit_segment_open().  Channel endpoints are never inherited:
 * the child opens its own.
 */
#ifndef SHMKIT_H
#define SHMKIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SHMKIT_BUILDING)
#define SHMKIT_API __attribute__((visibility("default")))
#else
#define SHMKIT_API
#endif

#define SHMKIT_VERSION_MAJOR 0
#define SHMKIT_VERSION_MINOR 1
#define SHMKIT_VERSION_PATCH 0
#define SHMKIT_VERSION_STRING "0.1.0"

/** Library version string, e.g. "0.1.0". */
SHMKIT_API const char *shmkit_version(void);

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/** shmkit's own error codes (a reserved range outside errno). */
enum shmkit_error_code {
    SHMKIT_E_FIRST = -30999,
    SHMKIT_E_NOT_SHMKIT = -30999,  /**< no shmkit magic: a foreign segment   */
    SHMKIT_E_VERSION = -30998,     /**< format version mismatch              */
    SHMKIT_E_ABI = -30997,         /**< ABI word mismatch (other build/arch)  */
    SHMKIT_E_TRUNCATED = -30996,   /**< object smaller than its header says   */
    SHMKIT_E_NOT_READY = -30995,   /**< creator did not finish in time        */
    SHMKIT_E_CORRUPT = -30994,     /**< a header/control field is invalid     */
    SHMKIT_E_PEER_GONE = -30993,   /**< the other end's process is dead       */
    SHMKIT_E_OWNER_DEAD = -30992,  /**< mutex owner died; lock held, repair   */
    SHMKIT_E_BUSY = -30991,        /**< a live writer already holds the role  */
    SHMKIT_E_LOST = -30990,        /**< messages were lost (lapped reader)    */
    SHMKIT_E_OVERRUN = -30989,     /**< message overwritten while read        */
    SHMKIT_E_CLOSED = -30988,      /**< the writer closed the channel         */
    SHMKIT_E_KIND = -30987,        /**< segment is of another kind            */
    SHMKIT_E_TABLE_FULL = -30986,  /**< attach table / reader table full      */
    SHMKIT_E_NO_HUGEPAGES = -30985,/**< huge pages requested, none available  */
    SHMKIT_E_UNSUPPORTED = -30984, /**< option not supported by this backend  */
    SHMKIT_E_UNSEALED = -30983,    /**< received memfd is not sealed          */
    SHMKIT_E_PEER_DENIED = -30982, /**< peer credentials not in allow-list    */
    SHMKIT_E_BAD_NAME = -30981,    /**< segment name cannot be parsed         */
    SHMKIT_E_LAST = -30981
};

/** Human-readable name of any code (errno or SHMKIT_E_*). Never NULL. */
SHMKIT_API const char *shmkit_strerror(int code);

/**
 * The calling thread's last error, formatted:
 * "what("object"): system words (ENAME); hint: how to fix".
 * Never NULL, never allocates; "" when there was none.
 */
SHMKIT_API const char *shmkit_last_error(void);
/** The last error without its hint: "what("object"): words (ENAME)". */
SHMKIT_API const char *shmkit_last_error_message(void);
/** Just the hint part of the last error ("" when none). */
SHMKIT_API const char *shmkit_last_error_hint(void);
/** The code of the last error (0 when none). */
SHMKIT_API int shmkit_last_error_code(void);
/** Clears the calling thread's last error. */
SHMKIT_API void shmkit_clear_error(void);

/* ------------------------------------------------------------------------ */
/* Segments                                                                 */
/* ------------------------------------------------------------------------ */

/*
 * Names pick the backend:
 *   "NAME" or "/NAME"      posix, shm_open() under /dev/shm   (default)
 *   "sysv:KEY"             SysV, KEY decimal or 0x hex
 *   "sysv:id=SHMID"        SysV by id (open, inspect, unlink)
 *   "sysv:ftok=PATH:ID"    SysV, key = ftok(PATH, ID)
 *   "sysv:private"         SysV IPC_PRIVATE (create only; share by fork or id)
 *   "file:PATH"            a mapped file at any path (hugetlbfs too)
 *   "memfd:LABEL"          memfd_create(); share by fork or fd passing
 *   "anon:" / "anon:LABEL" MAP_SHARED|MAP_ANONYMOUS; share by fork only
 */

typedef struct shmkit_segment shmkit_segment_t;

typedef enum shmkit_backend {
    SHMKIT_BACKEND_POSIX = 0,
    SHMKIT_BACKEND_SYSV = 1,
    SHMKIT_BACKEND_FILE = 2,
    SHMKIT_BACKEND_MEMFD = 3,
    SHMKIT_BACKEND_ANON = 4
} shmkit_backend_t;

typedef enum shmkit_kind {
    SHMKIT_KIND_NONE = 0, /**< not a shmkit segment (foreign)  */
    SHMKIT_KIND_RAW = 1,
    SHMKIT_KIND_QUEUE = 2,
    SHMKIT_KIND_BUS = 3,
    SHMKIT_KIND_LATEST = 4
} shmkit_kind_t;

/** "posix", "sysv", ... */
SHMKIT_API const char *shmkit_backend_name(shmkit_backend_t b);
/** "raw", "queue", "bus", "latest", or "-" for NONE. */
SHMKIT_API const char *shmkit_kind_name(shmkit_kind_t k);

typedef struct shmkit_segment_opts {
    uint64_t size;        /**< data bytes wanted; rounded up to a page (create) */
    uint32_t mode;        /**< permission bits, default 0600 (create)           */
    int64_t gid;          /**< group to hand the segment to, -1 = keep (create) */
    int exclusive;        /**< fail with -EEXIST if it exists (create)          */
    int readonly;         /**< map read-only (open)                             */
    int hugepages;        /**< back with huge pages; error if none (create)     */
    int lock;             /**< mlock this mapping; sysv also SHM_LOCKs          */
    int prefault;         /**< touch every page now                             */
    int reserve;          /**< posix_fallocate the backing store, default 1     */
    int numa_node;        /**< mbind to this node, -1 = no policy (default)     */
    int persistent;       /**< belongs to nobody: never stale, never gc'd       */
    int timeout_ms;       /**< open: wait this long for ready (default 1000)    */
    uint32_t kind;        /**< shmkit_kind_t to stamp (create) / expect (open,
                               0 = any)                                          */
} shmkit_segment_opts_t;

/** Fills defaults: mode 0600, gid -1, reserve 1, numa_node -1, timeout 1000. */
SHMKIT_API void shmkit_segment_opts_init(shmkit_segment_opts_t *o);

/**
 * Creates a segment (or opens it when it exists and !exclusive, in which case
 * the existing segment's size wins).  Returns 0, or -EEXIST, -EACCES,
 * -ENOSPC, -ENOMEM, -EINVAL, SHMKIT_E_NO_HUGEPAGES, SHMKIT_E_UNSUPPORTED, ...
 */
SHMKIT_API int shmkit_segment_create(const char *name,
                                     const shmkit_segment_opts_t *opts,
                                     shmkit_segment_t **out);

/**
 * Opens an existing segment and attaches to it (opts may be NULL).  Waits up
 * to opts->timeout_ms for its creator to finish.  Validates every header
 * field against the real size: SHMKIT_E_NOT_SHMKIT, _VERSION, _ABI,
 * _TRUNCATED, _CORRUPT, _NOT_READY, _KIND, or -errno.
 */
SHMKIT_API int shmkit_segment_open(const char *name,
                                   const shmkit_segment_opts_t *opts,
                                   shmkit_segment_t **out);

/**
 * Detaches and frees the handle.  For an owned (non-persistent) segment the
 * last attachee to close it unlinks it.  Returns 0 or -errno.
 */
SHMKIT_API int shmkit_segment_close(shmkit_segment_t *seg);

/** Removes a named segment (any backend with a name; shmkit or not). */
SHMKIT_API int shmkit_segment_unlink(const char *name);

/** msync() the data (file backend; a no-op elsewhere). */
SHMKIT_API int shmkit_segment_sync(shmkit_segment_t *seg);

/** Start of the data area (after the 8 KiB header). */
SHMKIT_API void *shmkit_segment_data(const shmkit_segment_t *seg);
/** Size of the data area in bytes. */
SHMKIT_API uint64_t shmkit_segment_data_size(const shmkit_segment_t *seg);
/** The segment's fd (posix/file/memfd), -1 otherwise. Owned by the handle. */
SHMKIT_API int shmkit_segment_fd(const shmkit_segment_t *seg);
/** The canonical name (the form `shmkit ls` prints). */
SHMKIT_API const char *shmkit_segment_name(const shmkit_segment_t *seg);
/** The kind stamped at creation. */
SHMKIT_API shmkit_kind_t shmkit_segment_kind(const shmkit_segment_t *seg);

/** Alive state of a process: 1 alive, 0 dead, -1 unknown. */
typedef struct shmkit_attachee {
    int64_t pid;
    int alive;        /**< 1 alive, 0 dead, -1 unknown (pid not visible)   */
    uint32_t role;    /**< 0 plain; channels use their own role numbers    */
} shmkit_attachee_t;

#define SHMKIT_MAX_ATTACH 128

/** What `shmkit ls` and `shmkit info` show about one segment. */
typedef struct shmkit_segment_info {
    char name[256];            /**< canonical name                            */
    shmkit_backend_t backend;
    uint64_t size;             /**< size of the object in bytes               */
    uint32_t mode;             /**< permission bits                           */
    uint32_t uid, gid;
    int is_shmkit;             /**< header valid                              */
    int check;                 /**< 0, or the SHMKIT_E_* that rejected it     */
    shmkit_kind_t kind;
    uint32_t format_version;
    uint64_t data_offset, data_size;
    int64_t creator_pid;
    int creator_alive;         /**< 1 / 0 / -1 unknown                        */
    uint64_t created_unix_ns;
    int persistent;
    int hugepages;
    int stale;                 /**< owned and every owner/attachee is dead     */
    int nattach;               /**< attached processes (kernel's count where
                                    there is one), -1 unknown                  */
    int nattached_listed;      /**< entries used in attached[]                 */
    shmkit_attachee_t attached[SHMKIT_MAX_ATTACH];
} shmkit_segment_info_t;

/** Looks at a segment without attaching (works on foreign ones). */
SHMKIT_API int shmkit_segment_inspect(const char *name,
                                      shmkit_segment_info_t *info);

/** Info about an open handle (same fields). */
SHMKIT_API int shmkit_segment_stat(shmkit_segment_t *seg,
                                   shmkit_segment_info_t *info);

/** 1 if the named segment is stale, 0 if not, or a negative code. */
SHMKIT_API int shmkit_segment_stale(const char *name);

/**
 * Calls fn for every POSIX segment in /dev/shm and every SysV segment,
 * shmkit or not.  Stops early (returning fn's value) when fn returns != 0.
 */
SHMKIT_API int shmkit_segment_list(int (*fn)(const shmkit_segment_info_t *,
                                             void *),
                                   void *ctx);

/**
 * Removes stale shmkit segments, and only those: takes an exclusive lock and
 * re-checks before unlinking, so it never races with an attach.  fn (may be
 * NULL) is told of each removed (or, with dry_run, removable) segment.
 * Returns how many were (or would be) removed, or a negative code.
 */
SHMKIT_API int shmkit_gc(int dry_run,
                         void (*fn)(const shmkit_segment_info_t *, void *),
                         void *ctx);

/* ---- memfd fd passing -------------------------------------------------- */

/** Who may send us a memfd (SO_PEERCRED checked). Empty lists allow none,
 *  except that allow_same_uid (default 1 via init) admits our own euid. */
typedef struct shmkit_peer_allow {
    const uid_t *uids;
    size_t nuids;
    const gid_t *gids;
    size_t ngids;
    int allow_same_uid;
} shmkit_peer_allow_t;

SHMKIT_API void shmkit_peer_allow_init(shmkit_peer_allow_t *a);

/**
 * Sends a memfd segment's fd over a connected AF_UNIX socket (SCM_RIGHTS),
 * after sealing it against shrinking (F_SEAL_SHRINK).
 */
SHMKIT_API int shmkit_memfd_send(int sock, shmkit_segment_t *seg);

/**
 * Receives a memfd over a connected AF_UNIX socket and attaches to it.
 * Refuses (SHMKIT_E_PEER_DENIED) a sender whose SO_PEERCRED uid/gid is not
 * allowed, and (SHMKIT_E_UNSEALED) an fd not sealed with F_SEAL_SHRINK.
 * opts may be NULL.
 */
SHMKIT_API int shmkit_memfd_recv(int sock, const shmkit_peer_allow_t *allow,
                                 const shmkit_segment_opts_t *opts,
                                 shmkit_segment_t **out);

#ifdef __cplusplus
}
#endif
#endif /* SHMKIT_H */
