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
 * fork(): every fd shmkit opens is O_CLOEXEC, and a child closes the segment
 * fds it inherited (a pthread_atfork handler).  Mappings of named posix and
 * file segments are not inherited at all (MADV_DONTFORK), because a mapping
 * keeps its parent's liveness locks alive: the child opens its own handle
 * with shmkit_segment_open().  memfd, anon and sysv mappings are inherited
 * (fork is how anon and memfd segments are shared): the child may read and
 * write the data area and call shmkit_segment_close() on the inherited
 * handle, which in the child only unmaps.  A memfd child keeps the parent's
 * attachment alive until it unmaps.  Channel endpoints are never inherited:
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
    int owner_only;       /**< open (and create of an existing name): refuse an
                               object another uid owns or created, with
                               -EPERM; names are first come, first served     */
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

/* ------------------------------------------------------------------------ */
/* Sync primitives (place them inside a segment's data area)                */
/* ------------------------------------------------------------------------ */

/** Robust process-shared mutex (PTHREAD_PROCESS_SHARED + ROBUST). */
typedef struct shmkit_mutex {
    _Alignas(64) unsigned char opaque_[64];
} shmkit_mutex_t;

/** Initialises a mutex in shared memory (once, by the segment's creator). */
SHMKIT_API int shmkit_mutex_init(shmkit_mutex_t *m);
/**
 * Locks, waiting up to timeout_ns (< 0: forever, 0: try).  Returns 0,
 * SHMKIT_E_OWNER_DEAD (the previous owner died: the lock IS held; repair the
 * data, then call shmkit_mutex_consistent()), -ETIMEDOUT, -EAGAIN (try), or
 * -ENOTRECOVERABLE (an earlier owner-dead was unlocked without repair).
 */
SHMKIT_API int shmkit_mutex_lock(shmkit_mutex_t *m, int64_t timeout_ns);
SHMKIT_API int shmkit_mutex_unlock(shmkit_mutex_t *m);
/** Marks the data repaired after SHMKIT_E_OWNER_DEAD. */
SHMKIT_API int shmkit_mutex_consistent(shmkit_mutex_t *m);

/**
 * Futex eventcount.  Waiter:  key = prepare(); if (condition) cancel();
 * else wait(key, timeout).  Notifier: publish the data, then notify().
 * notify() makes no syscall when nobody waits.  Zero-initialised = ready.
 */
typedef struct shmkit_event {
    uint32_t opaque_[2];
} shmkit_event_t;

SHMKIT_API uint32_t shmkit_event_prepare(shmkit_event_t *e);
SHMKIT_API void shmkit_event_cancel(shmkit_event_t *e);
/** 0 when woken (or the key is stale, or a signal came: look at your
 *  condition again), or -ETIMEDOUT. */
SHMKIT_API int shmkit_event_wait(shmkit_event_t *e, uint32_t key,
                                 int64_t timeout_ns);
/** Wakes one waiter (all = 0) or all of them; returns how many were woken
 *  (0 without a syscall when nobody waits). */
SHMKIT_API int shmkit_event_notify(shmkit_event_t *e, int all);

/**
 * Seqlock for a value written by one process and read by many.
 * Zero-initialised = ready.  A reader never returns a torn value; a writer
 * killed mid-write makes readers time out (-ETIMEDOUT), never hang.
 */
typedef struct shmkit_seqlock {
    uint32_t opaque_[2];
} shmkit_seqlock_t;

SHMKIT_API void shmkit_seqlock_write(shmkit_seqlock_t *s, void *dst,
                                     const void *src, size_t len);
SHMKIT_API int shmkit_seqlock_read(shmkit_seqlock_t *s, void *dst,
                                   const void *src, size_t len,
                                   int64_t timeout_ns);

/* ------------------------------------------------------------------------ */
/* Channels: queue, bus, latest                                             */
/* ------------------------------------------------------------------------ */

/*
 * A channel is a segment whose kind says which it is:
 *   queue   FIFO, one consumer; one producer, or many (multi_producer).
 *   bus     one writer, many readers, each sees every message in order;
 *           lossy (writer never waits; lapped readers get SHMKIT_E_LOST) or
 *           reliable (writer waits for the slowest live reader).
 *   latest  one value; readers always get the newest complete value.
 * Writers are shmkit_writer_t (queue producers too), readers shmkit_reader_t.
 * Endpoint handles are used by one thread at a time; the counters in the
 * segment can be read by anyone with shmkit_channel_stat().
 *
 * Timeouts (int64_t timeout_ns): 0 = do not wait (-EAGAIN), > 0 = wait at
 * most that long (-ETIMEDOUT), < 0 = wait until something happens; even then
 * a dead peer is noticed (SHMKIT_E_PEER_GONE), so no wait hangs forever
 * because of another process.  -EAGAIN on the fast path records no error
 * message.
 */

typedef enum shmkit_wait {
    SHMKIT_WAIT_ADAPTIVE = 0, /**< spin a bounded time, then block (default) */
    SHMKIT_WAIT_SPIN = 1,     /**< busy-poll                                 */
    SHMKIT_WAIT_YIELD = 2,    /**< poll with sched_yield()                   */
    SHMKIT_WAIT_BLOCK = 3     /**< futex wait right away (no CPU while idle) */
} shmkit_wait_t;

typedef struct shmkit_channel_opts {
    shmkit_kind_t kind;      /**< QUEUE, BUS or LATEST                       */
    uint64_t capacity;       /**< ring bytes (rounded up to a power of two);
                                  latest: the largest value (max_msg when
                                  that is smaller)                         */
    uint32_t max_msg;        /**< largest message; default capacity / 4      */
    uint32_t max_readers;    /**< bus: default 64, at most 120; ignored for
                                  a queue or latest                         */
    int reliable;            /**< bus: writer waits for the slowest reader   */
    int multi_producer;      /**< queue: many producers (CAS on the tail)    */
    shmkit_segment_opts_t seg; /**< mode, gid, persistent, prefault, ...   */
} shmkit_channel_opts_t;

/** Defaults: capacity 1 MiB (latest: 4 KiB), 64 readers, lossy, prefault,
 *  mode 0600. */
SHMKIT_API void shmkit_channel_opts_init(shmkit_channel_opts_t *o,
                                         shmkit_kind_t kind);

/** Creates a channel (exclusive).  With o->seg.persistent it outlives its
 *  users (what `shmkit create` does); otherwise it is owned and this call is
 *  only useful together with an endpoint: use shmkit_writer_open(create). */
SHMKIT_API int shmkit_channel_create(const char *name,
                                     const shmkit_channel_opts_t *o);

typedef struct shmkit_endpoint_opts {
    shmkit_wait_t wait;      /**< how to wait; default ADAPTIVE              */
    uint32_t spin_us;        /**< adaptive: spin at least this long before
                                  sleeping (default 50); longer (at most
                                  spin_max_us) where this side's wake-ups
                                  proved to cost over 30% of its waits
                                  (shmkit_channel(3), "Timeouts and
                                  waiting"); 0: never spin               */
    int open_timeout_ms;     /**< wait this long for the channel to appear
                                  and be ready (default 1000)                */
    const shmkit_channel_opts_t *create; /**< writer: create if missing;
                                  with create->seg.exclusive, create or
                                  fail with -EEXIST (never open one that
                                  exists)                                  */
    int owner_only;          /**< refuse a channel another uid owns or
                                  created (-EPERM); see
                                  shmkit_segment_opts_t.owner_only         */
    int prefault;            /**< map every page of the channel at open
                                  and read each once (default 1): otherwise
                                  the first lap of the ring pays a page
                                  fault and a first touch every 4 KiB, tens
                                  of microseconds each on a VM             */
    uint32_t hold_ns;        /**< queue and bus reader, spin and adaptive
                                  (at most spin_us): after taking two or
                                  more messages (up to 4 KiB on average)
                                  without waiting, a reader that finds no
                                  next one waits this long before it looks
                                  again, so that its looks do not slow down
                                  a writer still filling that line; part of
                                  the call's timeout (default
                                  SHMKIT_HOLD_NS_DEFAULT; 0: look again at
                                  once)                                    */
    uint32_t spin_max_us;    /**< adaptive: the longest the spin may grow
                                  to (0, the default: 8 x spin_us; from
                                  1 to spin_us: it never grows)            */
    int manual_ack;          /**< queue and reliable bus reader: released
                                  messages keep their room (the writer
                                  cannot reuse it) until
                                  shmkit_reader_ack(); what is released but
                                  not acknowledged when the reader closes
                                  or dies stays in a queue for its next
                                  reader (at least once).  Default 0: each
                                  release hands the room back.  A lossy bus
                                  or latest keeps nothing for its readers:
                                  there it changes nothing                */
} shmkit_endpoint_opts_t;

#define SHMKIT_HOLD_NS_DEFAULT 500

SHMKIT_API void shmkit_endpoint_opts_init(shmkit_endpoint_opts_t *o);

typedef struct shmkit_writer shmkit_writer_t;
typedef struct shmkit_reader shmkit_reader_t;

/**
 * Opens the writing end (a queue producer, the bus or latest writer).
 * SHMKIT_E_BUSY when a live writer holds a bus or latest channel (or a
 * single-producer queue).  A writer re-opening a channel whose previous
 * writer died continues where it stopped.
 */
SHMKIT_API int shmkit_writer_open(const char *name,
                                  const shmkit_endpoint_opts_t *o,
                                  shmkit_writer_t **out);
/**
 * Reserves len bytes in place; *buf points at them until commit.  Returns
 * 0, -EAGAIN / -ETIMEDOUT when full, -EMSGSIZE when len > max_msg.
 */
SHMKIT_API int shmkit_writer_reserve(shmkit_writer_t *w, size_t len,
                                     void **buf, int64_t timeout_ns);
/** Publishes the reserved message with len <= the reserved length bytes
 *  (one release store). */
SHMKIT_API int shmkit_writer_commit(shmkit_writer_t *w, size_t len);
/** Copies buf in as one message (reserve + memcpy + commit). */
SHMKIT_API int shmkit_writer_send(shmkit_writer_t *w, const void *buf,
                                  size_t len, int64_t timeout_ns);
/**
 * Batching, like send(2)'s MSG_MORE: the message is written, but readers
 * see it only with a later plain send or commit, shmkit_writer_flush(),
 * close or detach, or once the batch holds 64 messages or spans 16 KiB
 * (an eighth of the ring if that is less), and before the writer waits for
 * space or pads the ring's end (a reserve alone publishes nothing; its
 * commit does).  Messages still appear one by one, in order; a writer
 * that dies loses what it had not yet published (whole messages), never
 * part of one.  Publishing many messages with one commit keeps the reader
 * from pulling each cache line while the writer still writes it
 * (docs/BENCHMARKS.md has the gain).  On latest and multi-producer queues
 * these are the plain calls.
 */
SHMKIT_API int shmkit_writer_send_more(shmkit_writer_t *w, const void *buf,
                                       size_t len, int64_t timeout_ns);
SHMKIT_API int shmkit_writer_commit_more(shmkit_writer_t *w, size_t len);
/** Publishes what send_more / commit_more left unpublished.  Returns 0
 *  (-EINVAL for a NULL writer). */
SHMKIT_API int shmkit_writer_flush(shmkit_writer_t *w);
/** Number of live readers (bus: joined readers; queue: 1 if the consumer is
 *  attached; latest: attached readers). */
SHMKIT_API int shmkit_writer_readers(shmkit_writer_t *w);
/** Largest message this channel takes. */
SHMKIT_API size_t shmkit_writer_max_msg(const shmkit_writer_t *w);
/** Ends the stream (readers drain, then get SHMKIT_E_CLOSED) and frees w.
 *  For a multi-producer queue the stream ends with the last producer that
 *  closes. */
SHMKIT_API int shmkit_writer_close(shmkit_writer_t *w);
/** Frees w without ending the stream: another writer may take over. */
SHMKIT_API int shmkit_writer_detach(shmkit_writer_t *w);
/** Frees w and leaves the stream as a writer that died would: readers
 *  drain what was committed, then get SHMKIT_E_PEER_GONE (until another
 *  writer takes over).  For a writer that gives up part way (its input
 *  failed), so that readers can tell a stream cut short from a finished
 *  one.  On a multi-producer queue the same as shmkit_writer_detach(). */
SHMKIT_API int shmkit_writer_abort(shmkit_writer_t *w);

/** Joins as a reader (the queue's one consumer: SHMKIT_E_BUSY if a live one
 *  exists; a bus reader starts at the next message written). */
SHMKIT_API int shmkit_reader_open(const char *name,
                                  const shmkit_endpoint_opts_t *o,
                                  shmkit_reader_t **out);
/**
 * Next message in place: *buf, *len valid until release.  Returns 0;
 * -EAGAIN / -ETIMEDOUT; SHMKIT_E_LOST when the reader was lapped (the count
 * is in shmkit_reader_lost(); call again to continue); SHMKIT_E_CLOSED when
 * the writer closed and everything was read; SHMKIT_E_PEER_GONE when the
 * writer died without closing and everything committed was read;
 * SHMKIT_E_CORRUPT when the ring holds impossible values.
 * latest: the newest value, copied into the reader's own buffer; -EAGAIN
 * until a value newer than the last one read exists.
 */
SHMKIT_API int shmkit_reader_peek(shmkit_reader_t *r, const void **buf,
                                  size_t *len, int64_t timeout_ns);
/** Ends a peek.  Lossy bus: SHMKIT_E_OVERRUN when the writer overwrote the
 *  message while it was read (discard what was read). */
SHMKIT_API int shmkit_reader_release(shmkit_reader_t *r);
/** Copies the next message into buf (cap bytes); *len = its length.
 *  -EMSGSIZE (message kept) when cap is too small. */
SHMKIT_API int shmkit_reader_recv(shmkit_reader_t *r, void *buf, size_t cap,
                                  size_t *len, int64_t timeout_ns);
/** With shmkit_endpoint_opts_t.manual_ack: hands the room of every
 *  message released so far back to the writer (on a queue they are then
 *  consumed for good).  Acknowledge before waiting for more: a writer may
 *  be waiting for that room.  0 (also without manual_ack, where every
 *  release acknowledges), or -EINVAL for NULL. */
SHMKIT_API int shmkit_reader_ack(shmkit_reader_t *r);
/** Messages this reader lost so far (lossy bus). */
SHMKIT_API uint64_t shmkit_reader_lost(const shmkit_reader_t *r);
SHMKIT_API int shmkit_reader_close(shmkit_reader_t *r);

#define SHMKIT_MAX_READERS 120

typedef struct shmkit_reader_stat {
    int64_t pid;
    int alive;             /**< 1 / 0 / -1 unknown                       */
    uint64_t position;     /**< bytes consumed (published in batches)    */
    uint64_t lag;          /**< bytes behind the writer                  */
    uint64_t messages;     /**< messages read                            */
    uint64_t lost;         /**< messages lost                            */
} shmkit_reader_stat_t;

typedef struct shmkit_channel_stat {
    shmkit_kind_t kind;
    int reliable, multi_producer;
    uint64_t capacity;
    uint32_t max_msg, max_readers;
    uint64_t messages;       /**< messages written                        */
    uint64_t bytes;          /**< payload bytes written                   */
    uint64_t position;       /**< writer position in the ring (bytes)     */
    int64_t writer_pid;      /**< 0 when no writer ever attached          */
    int writer_alive;        /**< 1 / 0 / -1                              */
    int closed;              /**< end of stream                           */
    uint64_t evictions;      /**< dead readers evicted (reliable bus)     */
    uint64_t producer_deaths;/**< dead producers' claims padded (queue)   */
    int nreaders;
    shmkit_reader_stat_t readers[SHMKIT_MAX_READERS];
} shmkit_channel_stat_t;

/** Reads a channel's counters without joining it. */
SHMKIT_API int shmkit_channel_stat(const char *name, shmkit_channel_stat_t *st);

#ifdef __cplusplus
}
#endif
#endif /* SHMKIT_H */
