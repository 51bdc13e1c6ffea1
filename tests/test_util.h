/*
 * test_util.h - shared helpers for the C tests (header-only).
 *
 * Every test is a small program: exit 0 pass, 1 fail, 77 skip.
 *
 *  - skt_init("name") once at the top of main(): names, cleanup at exit.
 *  - CHECK(cond) / CHECK_RC(expr, want): on failure print file:line, the
 *    expression and shmkit_last_error(), then exit(1) (cleanup still runs).
 *  - skt_name() makes unique names "skt-<test>-<pid>-<counter>"; skt_track()
 *    remembers a name so that it is removed at exit even when the test fails
 *    (with raw shm_unlink/shmctl/unlink, not through the library under test).
 *  - skt_run_in_ns() runs a function in a child inside private mount + IPC
 *    namespaces with a private tmpfs on /dev/shm: whatever the test leaves
 *    behind vanishes with the namespace, and gc cannot touch the machine.
 *    skt_run_isolated() does the same, or falls back to a plain child (with
 *    skt_in_ns == 0) where namespaces are impossible (or where the
 *    environment sets SHMKIT_TEST_NO_NS=1, to try that path).
 */
#ifndef SKT_TEST_UTIL_H
#define SKT_TEST_UTIL_H

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shmkit.h"

#define SKT_PASS 0
#define SKT_FAIL 1
#define SKT_SKIP 77
#define SKT_NS_UNAVAILABLE 78 /* internal: namespace setup impossible */

/* The on-memory header contract (src/segment.h), for forging objects. */
#define SKT_HDR_SIZE 8192u /* SK_HEADER_SIZE */
#define SKT_MAGIC 0x31544b4d48535f5fULL
#define SKT_READY_VALUE 0x52454459u
#define SKT_OFF_MAGIC 0
#define SKT_OFF_VERSION 8
#define SKT_OFF_ABI 12
#define SKT_OFF_KIND 16
#define SKT_OFF_FLAGS 20
#define SKT_OFF_TOTAL 24
#define SKT_OFF_DATA_OFFSET 32
#define SKT_OFF_DATA_SIZE 40
#define SKT_OFF_MAX_ATTACH 48
#define SKT_OFF_CREATOR_PID 64
#define SKT_OFF_READY 128
#define SKT_OFF_SLOTS 512
#define SKT_SLOT_SIZE 32

static const char *skt_test = "test";
static int skt_in_ns; /* 1 inside skt_run_in_ns() */

/* ---- failing, skipping ------------------------------------------------- */

__attribute__((noreturn, format(printf, 3, 4))) static inline void
skt_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d: [%s pid %d] FAIL: ", file, line, skt_test,
            (int)getpid());
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n    shmkit_last_error: \"%s\"\n", shmkit_last_error());
    fflush(NULL);
    exit(SKT_FAIL);
}

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond))                                                         \
            skt_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                \
    } while (0)

/* CHECKF(cond, "fmt", ...) adds a formatted explanation. */
#define CHECKF(cond, ...)                                                    \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, \
                    #cond);                                                  \
            fprintf(stderr, __VA_ARGS__);                                    \
            fprintf(stderr, "\n");                                           \
            skt_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                \
        }                                                                    \
    } while (0)

/* CHECK_RC(expr, want): expr must return exactly want. */
#define CHECK_RC(expr, want)                                                 \
    do {                                                                     \
        int skt_rc_ = (expr), skt_want_ = (want);                            \
        if (skt_rc_ != skt_want_)                                            \
            skt_fail(__FILE__, __LINE__, "%s returned %d (%s), expected %d (%s)", \
                     #expr, skt_rc_, shmkit_strerror(skt_rc_), skt_want_,     \
                     shmkit_strerror(skt_want_));                             \
    } while (0)

#define CHECK_OK(expr) CHECK_RC(expr, 0)

__attribute__((noreturn, format(printf, 1, 2))) static inline void
skt_skip(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "[%s] SKIP: ", skt_test);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    fflush(NULL);
    exit(SKT_SKIP);
}
#define skip skt_skip

/* Case-insensitive substring test; NULL-safe. */
static inline int skt_contains(const char *hay, const char *needle)
{
    return hay && needle && strcasestr(hay, needle) != NULL;
}

/* ---- cleanup of everything a test may leave behind --------------------- */

#define SKT_MAX_TRACK 512
static struct skt_tracked {
    pid_t pid;    /* only the process that tracked it removes it */
    int kind;     /* 0 shmkit name, 1 plain path, 2 sysv shmid */
    int shmid;
    char name[300];
} skt_tracked[SKT_MAX_TRACK];
static int skt_ntracked;

static inline void skt_track_entry(int kind, const char *name, int shmid)
{
    if (skt_ntracked >= SKT_MAX_TRACK)
        return;
    struct skt_tracked *t = &skt_tracked[skt_ntracked++];
    t->pid = getpid();
    t->kind = kind;
    t->shmid = shmid;
    snprintf(t->name, sizeof t->name, "%s", name ? name : "");
}
/* A shmkit name ("x", "/x", "sysv:0x..", "sysv:ftok=P:I", "sysv:id=N",
 * "file:P"; memfd/anon need nothing). */
static inline void skt_track(const char *name) { skt_track_entry(0, name, -1); }
static inline void skt_track_path(const char *path) { skt_track_entry(1, path, -1); }
static inline void skt_track_shmid(int id) { skt_track_entry(2, NULL, id); }

static inline void skt_sysv_rm_key(key_t key)
{
    if (key == IPC_PRIVATE)
        return;
    int id = shmget(key, 0, 0);
    if (id >= 0)
        shmctl(id, IPC_RMID, NULL);
}

/* Removes one name with raw system calls. */
static inline void skt_raw_remove(const char *name)
{
    if (!strncmp(name, "sysv:", 5)) {
        const char *k = name + 5;
        if (!strncmp(k, "id=", 3)) {
            shmctl(atoi(k + 3), IPC_RMID, NULL);
        } else if (!strncmp(k, "ftok=", 5)) {
            char path[300];
            snprintf(path, sizeof path, "%s", k + 5);
            char *colon = strrchr(path, ':');
            if (colon) {
                *colon = 0;
                key_t key = ftok(path, atoi(colon + 1));
                if (key != -1)
                    skt_sysv_rm_key(key);
            }
        } else if (strcmp(k, "private") != 0) {
            char *end = NULL;
            long long v = strtoll(k, &end, 0);
            if (end && end != k && !*end)
                skt_sysv_rm_key((key_t)(int32_t)(uint32_t)v);
        }
    } else if (!strncmp(name, "file:", 5)) {
        unlink(name + 5);
    } else if (!strncmp(name, "memfd:", 6) || !strncmp(name, "anon:", 5)) {
        /* nothing named */
    } else if (name[0]) {
        char p[300];
        snprintf(p, sizeof p, "%s%s", name[0] == '/' ? "" : "/", name);
        shm_unlink(p);
    }
}

static inline void skt_cleanup(void)
{
    pid_t me = getpid();
    for (int i = skt_ntracked - 1; i >= 0; i--) {
        struct skt_tracked *t = &skt_tracked[i];
        if (t->pid != me)
            continue;
        if (t->kind == 0)
            skt_raw_remove(t->name);
        else if (t->kind == 1 && unlink(t->name) != 0)
            rmdir(t->name);
        else if (t->kind == 2 && t->shmid >= 0)
            shmctl(t->shmid, IPC_RMID, NULL);
        t->pid = 0;
    }
}

static inline void skt_init(const char *test)
{
    skt_test = test;
    setvbuf(stdout, NULL, _IOLBF, 0);
    setvbuf(stderr, NULL, _IONBF, 0);
    atexit(skt_cleanup);
}

/* ---- names ------------------------------------------------------------- */

static unsigned skt_counter;

/* "skt-<test>-<pid>-<counter>", tracked for cleanup. */
static inline char *skt_name(char *buf, size_t n)
{
    snprintf(buf, n, "skt-%s-%d-%u", skt_test, (int)getpid(), skt_counter++);
    skt_track(buf);
    return buf;
}

/* "file:/tmp/skt-<test>-<pid>-<counter>", tracked. */
static inline char *skt_file_name(char *buf, size_t n)
{
    snprintf(buf, n, "file:/tmp/skt-%s-%d-%u", skt_test, (int)getpid(),
             skt_counter++);
    skt_track(buf);
    return buf;
}

static inline uint64_t skt_rand64(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        v = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)getpid() ^
            ((uint64_t)skt_counter << 40);
    }
    return v;
}

/* "sysv:0x%08x" with a random key that is not in use; tracked. */
static inline char *skt_sysv_name(char *buf, size_t n, key_t *key_out)
{
    key_t key;
    for (;;) {
        key = (key_t)(uint32_t)((skt_rand64() & 0x0fffffffu) | 0x50000000u);
        if (shmget(key, 0, 0) < 0 && errno == ENOENT)
            break;
    }
    snprintf(buf, n, "sysv:0x%08x", (unsigned)key);
    skt_track(buf);
    if (key_out)
        *key_out = key;
    return buf;
}

/* ---- environment ------------------------------------------------------- */

static inline int skt_scale(void)
{
    const char *s = getenv("SHMKIT_TEST_SCALE");
    int v = s ? atoi(s) : 1;
    return v < 1 ? 1 : v;
}

static inline uint64_t skt_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline int skt_count_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

/* Open fds of this process (the DIR's own fd is counted both times). */
static inline int skt_count_fds(void) { return skt_count_dir("/proc/self/fd"); }

/* Lines of /proc/self/maps. */
static inline int skt_count_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return -1;
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        if (c == '\n')
            n++;
    fclose(f);
    return n;
}

/* Lines of /proc/self/maps that map shared memory objects: /dev/shm
 * files, SysV segments, memfds, deleted files.  Unlike the total, this is
 * not disturbed by what malloc or a sanitizer maps. */
static inline int skt_count_shm_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return -1;
    int n = 0;
    char line[4096];
    while (fgets(line, sizeof line, f))
        if (strstr(line, "/dev/shm/") || strstr(line, "SYSV") ||
            strstr(line, "/memfd:") || strstr(line, "/tmp/skt-"))
            n++;
    fclose(f);
    return n;
}

/* 1 when running under valgrind (its preload library is in LD_PRELOAD). */
static inline int skt_under_valgrind(void)
{
    const char *p = getenv("LD_PRELOAD");
    return p && strstr(p, "vgpreload") != NULL;
}

/* 1 when built with a sanitizer (its allocator maps memory as it goes) or
 * running under valgrind (which also serialises threads, slows everything
 * 10-50 times and makes system calls of its own). */
static inline int skt_sanitized(void)
{
    if (skt_under_valgrind())
        return 1;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return 1;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
    return 1;
#else
    return 0;
#endif
#else
    return 0;
#endif
}

/* Restores the default action of sig, so that a child meant to die by it
 * does (sanitizers install their own SIGSEGV/SIGBUS handlers). */
static inline void skt_default_signal(int sig)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

/* Prints the entries of /dev/shm to stderr (for diagnosing leftovers). */
static inline void skt_dump_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            fprintf(stderr, "    %s/%s\n", dir, e->d_name);
    closedir(d);
}

/* ---- data patterns ----------------------------------------------------- */

static inline uint8_t skt_pat(uint64_t seed, uint64_t i)
{
    uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ull ^ seed;
    x ^= x >> 29;
    return (uint8_t)(x ^ (x >> 17));
}

static inline void skt_fill(void *p, uint64_t n, uint64_t seed)
{
    uint8_t *b = p;
    for (uint64_t i = 0; i < n; i++)
        b[i] = skt_pat(seed, i);
}

/* Index of the first mismatch, or -1 when p holds the pattern. */
static inline int64_t skt_verify(const void *p, uint64_t n, uint64_t seed)
{
    const uint8_t *b = p;
    for (uint64_t i = 0; i < n; i++)
        if (b[i] != skt_pat(seed, i))
            return (int64_t)i;
    return -1;
}

/* ---- children ---------------------------------------------------------- */

typedef int (*skt_fn)(void *arg);

/* Runs fn(arg) in a forked child; returns the raw wait status. */
static inline int skt_child_status(skt_fn fn, void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        skt_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
    if (pid == 0)
        exit(fn(arg));
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return st;
}

/* Exit code of a wait status; a death by signal is reported and gives 1. */
static inline int skt_status_rc(int st, const char *what)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) {
        fprintf(stderr, "[%s] %s: child killed by signal %d (%s)\n", skt_test,
                what ? what : "child", WTERMSIG(st), strsignal(WTERMSIG(st)));
        return SKT_FAIL;
    }
    return SKT_FAIL;
}

/* Runs fn(arg) in a child; returns its exit code (1 if it died by signal). */
static inline int skt_run_child(skt_fn fn, void *arg)
{
    return skt_status_rc(skt_child_status(fn, arg), "child");
}

static inline pid_t skt_wait(pid_t pid, int *st)
{
    pid_t r;
    while ((r = waitpid(pid, st, 0)) < 0 && errno == EINTR)
        ;
    return r;
}

/* Child side of skt_run_in_ns(): returns 0 or a reason it is impossible. */
static inline const char *skt_enter_ns(const char *shm_size)
{
    char opts[64];
    if (unshare(CLONE_NEWNS | CLONE_NEWIPC) != 0)
        return "unshare(CLONE_NEWNS|CLONE_NEWIPC)";
    if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0)
        return "mount(/, MS_REC|MS_PRIVATE)";
    snprintf(opts, sizeof opts, "size=%s,mode=1777",
             shm_size && *shm_size ? shm_size : "64m");
    if (mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0)
        return "mount(tmpfs, /dev/shm)";
    return NULL;
}

/*
 * Runs fn(arg) in a child inside private mount + IPC namespaces, with a
 * fresh tmpfs of size shm_size ("1m", "64m"; NULL = 64m) on /dev/shm.
 * Returns fn's exit code, 1 if the child died by a signal, or 77 (after
 * saying why) where the namespaces cannot be made.
 */
static inline int skt_run_in_ns_raw(skt_fn fn, void *arg, const char *shm_size)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        skt_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* SHMKIT_TEST_NO_NS=1 tries the path taken where namespaces fail */
        const char *nons = getenv("SHMKIT_TEST_NO_NS");
        const char *why = nons && *nons && strcmp(nons, "0")
                              ? "SHMKIT_TEST_NO_NS is set"
                              : skt_enter_ns(shm_size);
        if (why) {
            fprintf(stderr, "[%s] no private namespace: %s: %s\n", skt_test,
                    why, strerror(errno));
            _exit(SKT_NS_UNAVAILABLE);
        }
        skt_in_ns = 1;
        exit(fn(arg));
    }
    int st = 0;
    skt_wait(pid, &st);
    return skt_status_rc(st, "namespace child");
}

static inline int skt_run_in_ns(skt_fn fn, void *arg, const char *shm_size)
{
    int rc = skt_run_in_ns_raw(fn, arg, shm_size);
    if (rc == SKT_NS_UNAVAILABLE) {
        fprintf(stderr, "[%s] SKIP: needs private mount+IPC namespaces\n",
                skt_test);
        return SKT_SKIP;
    }
    return rc;
}

/* Like skt_run_in_ns(), but falls back to a plain child (skt_in_ns == 0,
 * unique names and tracked cleanup only) where namespaces are impossible. */
static inline int skt_run_isolated(skt_fn fn, void *arg)
{
    int rc = skt_run_in_ns_raw(fn, arg, NULL);
    if (rc != SKT_NS_UNAVAILABLE)
        return rc;
    fprintf(stderr, "[%s] running without namespaces\n", skt_test);
    skt_in_ns = 0;
    return skt_run_child(fn, arg);
}

/* ---- privileges -------------------------------------------------------- */

/* setgroups(groups) + setgid + setuid; 0 or -errno. */
static inline int skt_drop_privs(uid_t uid, gid_t gid, const gid_t *groups,
                                 size_t ngroups)
{
    if (setgroups(ngroups, groups) != 0)
        return -errno;
    if (setgid(gid) != 0)
        return -errno;
    if (setuid(uid) != 0)
        return -errno;
    if (geteuid() != uid || getegid() != gid)
        return -EPERM;
    return 0;
}

static inline void skt_no_core(void)
{
    struct rlimit r = {0, 0};
    setrlimit(RLIMIT_CORE, &r);
}

/* ---- raw access to posix objects (forging headers) --------------------- */

static inline void skt_posix_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s%s", name[0] == '/' ? "" : "/", name);
}

/* Maps the whole posix object read-write (raw, not through shmkit). */
static inline void *skt_raw_map(const char *name, size_t *size_out)
{
    char p[300];
    skt_posix_path(p, sizeof p, name);
    int fd = shm_open(p, O_RDWR, 0);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size == 0) {
        close(fd);
        return NULL;
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
                   MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return NULL;
    *size_out = (size_t)st.st_size;
    return m;
}

/* Writes width (4 or 8) bytes of value at offset of a posix object. */
static inline int skt_poke(const char *name, size_t off, uint64_t value,
                           int width)
{
    size_t sz = 0;
    uint8_t *m = skt_raw_map(name, &sz);
    if (!m || off + (size_t)width > sz) {
        if (m)
            munmap(m, sz);
        return -1;
    }
    if (width == 8) {
        memcpy(m + off, &value, 8);
    } else {
        uint32_t v = (uint32_t)value;
        memcpy(m + off, &v, 4);
    }
    munmap(m, sz);
    return 0;
}

/* Reads width bytes at off of a posix object into *out. */
static inline int skt_peek(const char *name, size_t off, uint64_t *out,
                           int width)
{
    size_t sz = 0;
    uint8_t *m = skt_raw_map(name, &sz);
    if (!m || off + (size_t)width > sz) {
        if (m)
            munmap(m, sz);
        return -1;
    }
    *out = 0;
    if (width == 8) {
        memcpy(out, m + off, 8);
    } else {
        uint32_t v;
        memcpy(&v, m + off, 4);
        *out = v;
    }
    munmap(m, sz);
    return 0;
}

/* Creates (or replaces) a posix object of size bytes; data may be NULL. */
static inline int skt_forge(const char *name, const void *data, size_t size)
{
    char p[300];
    skt_posix_path(p, sizeof p, name);
    int fd = shm_open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -errno;
    if (ftruncate(fd, (off_t)size) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    if (data && size) {
        size_t off = 0;
        while (off < size) {
            ssize_t w = pwrite(fd, (const char *)data + off, size - off,
                               (off_t)off);
            if (w <= 0) {
                int e = w < 0 ? -errno : -EIO;
                close(fd);
                return e;
            }
            off += (size_t)w;
        }
    }
    close(fd);
    return 0;
}

static inline int skt_self_exe(char *buf, size_t n)
{
    ssize_t r = readlink("/proc/self/exe", buf, n - 1);
    if (r <= 0)
        return -1;
    buf[r] = 0;
    return 0;
}

#endif /* SKT_TEST_UTIL_H */
