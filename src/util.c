/* util.c - process identity, clocks and sizes. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "segment.h"

/*
 * A process started with stdin, stdout or stderr closed gets its next fd
 * there, and then its own printf() writes into whatever we opened: a
 * segment opened as fd 1 had its header overwritten by `shmkit sub C >&-`.
 * So every fd that outlives a call, or that maps a segment read-write, is
 * moved to 3 or above (close-on-exec, as all of ours are).  Takes fd (>= 0)
 * and returns the fd to use, or -errno with fd closed.
 */
int sk_fd_above_stdio(int fd)
{
    if (fd > 2)
        return fd;
    int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    int e = errno;
    close(fd);
    return nfd >= 0 ? nfd : -e;
}

/* Field 22 of /proc/PID/stat: start time in clock ticks since boot.  The
 * comm field (2) may contain spaces and parentheses, so parse after the last
 * ')'. */
int sk_proc_start_time(pid_t pid, uint64_t *out)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    int e = errno;
    close(fd);
    if (n <= 0)
        return n < 0 ? -e : -EIO;
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p)
        return -EIO;
    p++;
    /* after ')' come fields 3.. ; we want field 22, i.e. the 20th token */
    for (int field = 3; field < 22; field++) {
        p = strchr(p + 1, ' ');
        if (!p)
            return -EIO;
    }
    char *end;
    unsigned long long v = strtoull(p + 1, &end, 10);
    if (end == p + 1)
        return -EIO;
    *out = v;
    return 0;
}

static uint64_t pidns_of(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    return (uint64_t)st.st_ino;
}

uint64_t sk_pidns_self(void)
{
    static _Atomic uint64_t cached;
    uint64_t v = atomic_load_explicit(&cached, memory_order_relaxed);
    if (!v) {
        v = pidns_of("/proc/self/ns/pid");
        atomic_store_explicit(&cached, v, memory_order_relaxed);
    }
    return v;
}

/* A pid in another pid namespace than ours cannot be looked up: unknown.
 * A pid that /proc shows with another start time was reused: dead.  One
 * that exists but that /proc hides (hidepid, no /proc): unknown. */
int sk_proc_alive(int64_t pid, uint64_t start_time, uint64_t pidns)
{
    if (pid <= 0 || pid > 0x7fffffff)
        return 0;
    uint64_t self = sk_pidns_self();
    if (pidns && self && pidns != self)
        return -1;
    uint64_t st;
    int r = sk_proc_start_time((pid_t)pid, &st);
    if (r == -ENOENT || r == -ESRCH) {
        /* /proc may hide a live process (hidepid=1/2 hides other users',
         * and no /proc at all hides every one): ask the kernel.  One that
         * exists but that /proc does not show is unknown, never dead (its
         * start time cannot be checked against a reused pid). */
        if (kill((pid_t)pid, 0) == 0 || errno == EPERM)
            return -1;
        return 0;
    }
    if (r < 0)
        return -1;
    if (start_time && st != start_time)
        return 0;
    /* a zombie is dead for our purposes */
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%lld/stat", (long long)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n > 0) {
            buf[n] = 0;
            char *p = strrchr(buf, ')');
            if (p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'))
                return 0;
        }
    }
    return 1;
}

uint64_t sk_now_ns(int clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t sk_page_size(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (uint64_t)p : 4096;
}

uint64_t sk_hugepage_size(void)
{
    FILE *f = fopen("/proc/meminfo", "re");
    uint64_t kb = 0;
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "Hugepagesize: %lu kB", &kb) == 1)
                break;
        fclose(f);
    }
    return kb ? kb * 1024 : 2u * 1024 * 1024;
}

uint64_t sk_round_up(uint64_t v, uint64_t to)
{
    return (v + to - 1) / to * to;
}

void sk_sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000ull),
                          (long)(ns % 1000000000ull)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}
