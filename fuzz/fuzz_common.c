/*
 * fuzz_common.c - helpers shared by the harnesses (see fuzz_common.h).
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"

/* ---- guard pages (linked with --wrap=mmap,--wrap=munmap) ---------------- */

void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd,
                  off_t off);
int __real_munmap(void *addr, size_t len);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd,
                  off_t off);
int __wrap_munmap(void *addr, size_t len);

#define FZ_MAX_GUARDED 64

/* Guard sizes: far enough that an index or offset gone wrong by a slot or
 * a ring's length still lands in a guard, not in a neighbour. */
#define FZ_GUARD_BEFORE ((size_t)64 << 10)
#define FZ_GUARD_AFTER ((size_t)1 << 20)

struct guarded {
    char *base;      /* the mapping handed out                         */
    size_t len;      /* its length, rounded up to a page               */
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct guarded g_maps[FZ_MAX_GUARDED];
static int g_on = 1;

void fz_guard_enable(int on)
{
    g_on = on;
}

static size_t page_size(void)
{
    static size_t ps;
    if (!ps)
        ps = (size_t)sysconf(_SC_PAGESIZE);
    return ps;
}

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd,
                  off_t off)
{
    if (!g_on || addr || fd < 0 || !(flags & MAP_SHARED) || len == 0 ||
        (flags & MAP_FIXED))
        return __real_mmap(addr, len, prot, flags, fd, off);
    size_t ps = page_size();
    size_t rounded = (len + ps - 1) & ~(ps - 1);
    size_t span = FZ_GUARD_BEFORE + rounded + FZ_GUARD_AFTER;
    char *res = __real_mmap(NULL, span, PROT_NONE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (res == MAP_FAILED)
        return __real_mmap(addr, len, prot, flags, fd, off);
    void *p = __real_mmap(res + FZ_GUARD_BEFORE, len, prot, flags | MAP_FIXED,
                          fd, off);
    if (p == MAP_FAILED) {
        int e = errno;
        __real_munmap(res, span);
        errno = e;
        return MAP_FAILED;
    }
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < FZ_MAX_GUARDED; i++)
        if (!g_maps[i].base) {
            g_maps[i].base = p;
            g_maps[i].len = rounded;
            pthread_mutex_unlock(&g_lock);
            return p;
        }
    pthread_mutex_unlock(&g_lock);
    /* table full: keep the guards for good rather than lose track */
    return p;
}

int __wrap_munmap(void *addr, size_t len)
{
    char *a = addr;
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < FZ_MAX_GUARDED; i++) {
        struct guarded *g = &g_maps[i];
        if (!g->base)
            continue;
        char *lo = g->base, *hi = g->base + g->len;
        if (a == lo) {
            /* the whole mapping goes, and its guards with it */
            char *res = g->base - FZ_GUARD_BEFORE;
            size_t span = FZ_GUARD_BEFORE + g->len + FZ_GUARD_AFTER;
            g->base = NULL;
            pthread_mutex_unlock(&g_lock);
            return __real_munmap(res, span);
        }
        if (a > lo && a < hi) {
            /* a trim (the part beyond the header's size): the trimmed part
             * becomes guard too, so nothing else is mapped there */
            pthread_mutex_unlock(&g_lock);
            size_t n = (size_t)(hi - a);
            void *p = __real_mmap(a, n, PROT_NONE,
                                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
                                      MAP_FIXED,
                                  -1, 0);
            return p == MAP_FAILED ? -1 : 0;
        }
    }
    pthread_mutex_unlock(&g_lock);
    return __real_munmap(addr, len);
}

/* ---- names and cleanup -------------------------------------------------- */

#define FZ_MAX_NAMES 32
static char fz_names[FZ_MAX_NAMES][64];
static int fz_nnames;

void fz_name(char *buf, size_t len, const char *tag, int n)
{
    snprintf(buf, len, "/skfz-%s-%d-%d", tag, (int)getpid(), n);
}

void fz_cleanup_add(const char *name)
{
    if (fz_nnames < FZ_MAX_NAMES)
        snprintf(fz_names[fz_nnames++], sizeof fz_names[0], "%s", name);
}

static void cleanup_at_exit(void)
{
    for (int i = 0; i < fz_nnames; i++)
        shm_unlink(fz_names[i]);
}

void fz_init_once(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    DIR *d = opendir("/dev/shm");
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            int pid;
            char tag[32];
            if (strncmp(e->d_name, "skfz-", 5) != 0 ||
                sscanf(e->d_name, "skfz-%31[^-]-%d-", tag, &pid) != 2)
                continue;
            if (pid > 0 && kill(pid, 0) != 0 && errno == ESRCH) {
                char n[300];
                snprintf(n, sizeof n, "/%s", e->d_name);
                shm_unlink(n);
            }
        }
        closedir(d);
    }
    atexit(cleanup_at_exit);
}

uint64_t fz_touch(const void *p, size_t len)
{
    const volatile unsigned char *b = p;
    uint64_t s = 0;
    for (size_t i = 0; i < len; i++)
        s += b[i];
    return s;
}

int fz_next_patch(const uint8_t **p, const uint8_t *end, size_t area,
                  struct fz_patch *out)
{
    const uint8_t *q = *p;
    if (area == 0 || end - q < 3) {
        *p = end;
        return 0;
    }
    unsigned raw = (unsigned)q[0] | (unsigned)q[1] << 8;
    size_t take = q[2] % 17u;
    q += 3;
    if ((size_t)(end - q) < take)
        take = (size_t)(end - q);
    out->off = (uint32_t)((raw & 0x7fffu) % area);
    out->race = (raw & 0x8000u) != 0;
    out->bytes = q;
    out->len = (uint32_t)(out->off + take > area ? area - out->off : take);
    *p = q + take;
    return 1;
}
