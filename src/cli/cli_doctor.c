/*
 * cli_doctor.c - `shmkit doctor`: checks the host for what shared memory
 * needs and prints a fix for each problem.
 *
 * One line per check: "ok   ...", "warn ...  fix: ..." or "fail ...  fix:
 * ...".  A warn is something that limits what works (no huge pages, a low
 * memlock limit); a fail is something that breaks the default path.  Exit 1
 * if any check failed.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "cli.h"

#define SHM_DIR "/dev/shm"
#define MIB (1024ull * 1024ull)
#define CAP_IPC_LOCK_BIT 14 /* <linux/capability.h> CAP_IPC_LOCK */

enum { LVL_OK, LVL_WARN, LVL_FAIL };

struct doctor {
    int nwarn, nfail;
};

static void report(struct doctor *d, int level, const char *fix,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void report(struct doctor *d, int level, const char *fix,
                   const char *fmt, ...)
{
    static const char *tag[] = {"ok   ", "warn ", "fail "};
    va_list ap;

    fputs(tag[level], stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    if (level != LVL_OK && fix)
        printf("  fix: %s", fix);
    putchar('\n');
    if (level == LVL_WARN)
        d->nwarn++;
    else if (level == LVL_FAIL)
        d->nfail++;
}

/* Reads one unsigned number from a /proc or /sys file. */
static int read_u64_file(const char *path, uint64_t *out)
{
    FILE *f = fopen(path, "re");
    unsigned long long v;
    int ok;

    if (f == NULL)
        return -errno;
    ok = fscanf(f, "%llu", &v) == 1;
    fclose(f);
    if (!ok)
        return -EINVAL;
    *out = v;
    return 0;
}

/* Undoes mountinfo's octal escapes (\040 for a space) in place. */
static void unescape_mount(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' &&
            r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 3;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

/* Does the comma-separated list contain opt exactly? */
static int has_opt(const char *list, const char *opt)
{
    size_t n = strlen(opt);
    const char *p = list;
    while ((p = strstr(p, opt)) != NULL) {
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return 1;
        p += n;
    }
    return 0;
}

struct mounts {
    int shm_found;
    char shm_opts[512];    /* per-mount options of /dev/shm */
    char shm_fstype[64];
    char huge_at[256];     /* first hugetlbfs mount point, "" if none */
};

static void read_mounts(struct mounts *m)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[4096];

    memset(m, 0, sizeof *m);
    if (f == NULL)
        return;
    while (fgets(line, sizeof line, f)) {
        /* id parent major:minor root mountpoint options [optional...] -
         * fstype source superoptions */
        char *fields[6] = {0}, *save = NULL, *tok, *dash, *fstype;
        int n = 0;
        dash = strstr(line, " - ");
        if (dash == NULL)
            continue;
        *dash = '\0';
        fstype = strtok_r(dash + 3, " \n", &save);
        save = NULL;
        for (tok = strtok_r(line, " ", &save); tok && n < 6;
             tok = strtok_r(NULL, " ", &save))
            fields[n++] = tok;
        if (n < 6 || fstype == NULL)
            continue;
        unescape_mount(fields[4]);
        if (strcmp(fields[4], SHM_DIR) == 0) { /* the last one is on top */
            m->shm_found = 1;
            snprintf(m->shm_opts, sizeof m->shm_opts, "%s", fields[5]);
            snprintf(m->shm_fstype, sizeof m->shm_fstype, "%s", fstype);
        }
        if (strcmp(fstype, "hugetlbfs") == 0 && m->huge_at[0] == '\0')
            snprintf(m->huge_at, sizeof m->huge_at, "%s", fields[4]);
    }
    fclose(f);
}

static const char fix_mount[] =
    "mount -t tmpfs -o rw,nosuid,nodev,mode=1777 tmpfs /dev/shm (as root)";

static void check_dev_shm(struct doctor *d, const struct mounts *m)
{
    struct statfs sfs;
    struct stat st;
    char tot[16], fr[16];
    uint64_t total, avail;

    if (statfs(SHM_DIR, &sfs) < 0) {
        report(d, LVL_FAIL, fix_mount,
               "%s: %s: POSIX shared memory (the default backend) cannot "
               "work", SHM_DIR, strerror(errno));
        return;
    }
    if ((unsigned long)sfs.f_type == (unsigned long)TMPFS_MAGIC)
        report(d, LVL_OK, NULL, "%s is tmpfs", SHM_DIR);
    else
        report(d, LVL_WARN, fix_mount,
               "%s is not tmpfs (filesystem type 0x%lx%s%s): segments may be "
               "written to disk", SHM_DIR, (unsigned long)sfs.f_type,
               m->shm_found ? ", " : ", not a mount of its own",
               m->shm_found ? m->shm_fstype : "");

    /* permissions: everyone creates here; the sticky bit stops users from
     * removing each other's segments */
    if (stat(SHM_DIR, &st) == 0) {
        unsigned mode = (unsigned)(st.st_mode & 07777);
        if (access(SHM_DIR, W_OK | X_OK) < 0 && errno == EROFS)
            ; /* a read-only mount, not a mode: reported with the options */
        else if (access(SHM_DIR, W_OK | X_OK) < 0)
            report(d, LVL_FAIL, "chmod 1777 /dev/shm (as root)",
                   "%s (mode %04o, uid %lu) is not writable by this user: "
                   "cannot create POSIX segments", SHM_DIR, mode,
                   (unsigned long)st.st_uid);
        else if ((mode & 0002) && !(mode & 01000))
            report(d, LVL_WARN, "chmod +t /dev/shm (as root)",
                   "%s is mode %04o: world-writable without the sticky bit, "
                   "so any user can remove others' segments", SHM_DIR, mode);
        else
            report(d, LVL_OK, NULL, "%s is writable (mode %04o)", SHM_DIR,
                   mode);
    }

    /* space */
    total = (uint64_t)sfs.f_blocks * (uint64_t)sfs.f_frsize;
    avail = (uint64_t)sfs.f_bavail * (uint64_t)sfs.f_frsize;
    cli_format_size(total, tot, sizeof tot);
    cli_format_size(avail, fr, sizeof fr);
    if (total == 0)
        report(d, LVL_OK, NULL, "%s has no size limit", SHM_DIR);
    else if (avail < 64 * MIB || avail < total / 10)
        report(d, LVL_WARN,
               "remove unused segments ('shmkit ls', 'shmkit gc', 'shmkit "
               "rm'), or enlarge it: mount -o remount,size=2G /dev/shm (as "
               "root); in Docker: --shm-size=1g",
               "%s has %s free of %s: creating a large segment will fail "
               "with ENOSPC", SHM_DIR, fr, tot);
    else
        report(d, LVL_OK, NULL, "%s has %s free of %s", SHM_DIR, fr, tot);

    /* mount options */
    if (!m->shm_found)
        return;
    if (has_opt(m->shm_opts, "ro")) {
        report(d, LVL_FAIL, "mount -o remount,rw /dev/shm (as root)",
               "%s is mounted read-only (%s)", SHM_DIR, m->shm_opts);
        return;
    }
    report(d, LVL_OK, NULL, "%s is mounted %s%s", SHM_DIR, m->shm_opts,
           has_opt(m->shm_opts, "noexec")
               ? " (noexec is fine: shmkit never executes from it)"
               : "");
}

/* Is CAP_IPC_LOCK in our effective set?  (/proc/self/status, no libcap) */
static int has_cap_ipc_lock(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    unsigned long long caps = 0;
    int found = 0;

    if (f == NULL)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "CapEff: %llx", &caps) == 1) {
            found = 1;
            break;
        }
    fclose(f);
    return found && (caps >> CAP_IPC_LOCK_BIT) & 1;
}

static void check_memlock(struct doctor *d)
{
    struct rlimit rl;
    char cur[16], max[16];

    if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0) {
        report(d, LVL_WARN, "none: run doctor again",
               "RLIMIT_MEMLOCK: getrlimit failed: %s", strerror(errno));
        return;
    }
    if (rl.rlim_cur == RLIM_INFINITY) {
        report(d, LVL_OK, NULL, "RLIMIT_MEMLOCK is unlimited");
        return;
    }
    cli_format_size((uint64_t)rl.rlim_cur, cur, sizeof cur);
    if (rl.rlim_max == RLIM_INFINITY)
        snprintf(max, sizeof max, "unlimited");
    else
        cli_format_size((uint64_t)rl.rlim_max, max, sizeof max);
    if (has_cap_ipc_lock())
        report(d, LVL_OK, NULL,
               "RLIMIT_MEMLOCK is %s, but this process has CAP_IPC_LOCK, so "
               "no limit applies", cur);
    else if ((uint64_t)rl.rlim_cur < 64 * MIB)
        report(d, LVL_WARN,
               "ulimit -l unlimited (in the shell that starts the program; "
               "the hard limit is in /etc/security/limits.conf: "
               "'@GROUP - memlock unlimited'; for a systemd service: "
               "LimitMEMLOCK=infinity)",
               "RLIMIT_MEMLOCK is %s (hard limit %s): --lock and "
               "opts.lock can pin no more than that", cur, max);
    else
        report(d, LVL_OK, NULL, "RLIMIT_MEMLOCK is %s (hard limit %s)", cur,
               max);
}

static void check_hugepages(struct doctor *d, const struct mounts *m)
{
    FILE *f = fopen("/proc/meminfo", "re");
    char line[256], sz[16], mnt[300];
    unsigned long long total = 0, nfree = 0, size_kb = 0, v;
    int have = 0;

    if (f) {
        while (fgets(line, sizeof line, f)) {
            if (sscanf(line, "HugePages_Total: %llu", &v) == 1)
                total = v, have |= 1;
            else if (sscanf(line, "HugePages_Free: %llu", &v) == 1)
                nfree = v, have |= 2;
            else if (sscanf(line, "Hugepagesize: %llu kB", &v) == 1)
                size_kb = v, have |= 4;
        }
        fclose(f);
    }
    if (have != 7) {
        report(d, LVL_WARN,
               "none needed unless you use --huge; it needs a kernel with "
               "CONFIG_HUGETLBFS",
               "huge pages: this kernel reports none (/proc/meminfo has no "
               "HugePages_Total)");
        return;
    }
    cli_format_size(size_kb * 1024, sz, sizeof sz);
    if (m->huge_at[0])
        snprintf(mnt, sizeof mnt, "hugetlbfs at %s", m->huge_at);
    else
        snprintf(mnt, sizeof mnt,
                 "no hugetlbfs mount, so only sysv: names can use them");
    if (total == 0)
        report(d, LVL_WARN,
               "echo 64 > /proc/sys/vm/nr_hugepages (as root), or sysctl -w "
               "vm.nr_hugepages=64; keep it in /etc/sysctl.d/",
               "huge pages: none reserved (%s each): --huge will fail",
               sz);
    else if (nfree == 0)
        report(d, LVL_WARN,
               "raise vm.nr_hugepages (sysctl -w vm.nr_hugepages=N, as root)",
               "huge pages: all %llu (%s each) are in use: --huge will fail",
               total, sz);
    else
        report(d, LVL_OK, NULL, "huge pages: %llu of %llu free, %s each (%s)",
               nfree, total, sz, mnt);
}

static void check_sysv(struct doctor *d)
{
    uint64_t shmmax = 0, shmall = 0, shmmni = 0, used = 0;
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    char a[16], b[16], line[512];
    int counted = 0;
    FILE *f;

    if (read_u64_file("/proc/sys/kernel/shmmax", &shmmax) < 0 ||
        read_u64_file("/proc/sys/kernel/shmall", &shmall) < 0 ||
        read_u64_file("/proc/sys/kernel/shmmni", &shmmni) < 0) {
        report(d, LVL_WARN,
               "none needed unless you use sysv: names; they need a kernel "
               "with CONFIG_SYSVIPC and a readable /proc/sys/kernel",
               "SysV shared memory: /proc/sys/kernel/shm* is not readable");
        return;
    }

    if (shmmax < 64 * MIB)
        report(d, LVL_WARN,
               "sysctl -w kernel.shmmax=68719476736 (as root); keep it in "
               "/etc/sysctl.d/",
               "kernel.shmmax is %s: no sysv: segment can be larger",
               cli_format_size(shmmax, a, sizeof a));
    else
        report(d, LVL_OK, NULL, "kernel.shmmax is %s",
               cli_format_size(shmmax, a, sizeof a));

    if (shmall <= UINT64_MAX / page && shmall * page < 64 * MIB)
        report(d, LVL_WARN,
               "sysctl -w kernel.shmall=16777216 (pages; as root); keep it in "
               "/etc/sysctl.d/",
               "kernel.shmall is %" PRIu64 " pages (%s): all sysv: segments "
               "together cannot be larger", shmall,
               cli_format_size(shmall * page, a, sizeof a));
    else
        report(d, LVL_OK, NULL, "kernel.shmall is %" PRIu64 " pages (%s)",
               shmall,
               shmall <= UINT64_MAX / page
                   ? cli_format_size(shmall * page, a, sizeof a)
                   : "unlimited");

    f = fopen("/proc/sysvipc/shm", "re");
    if (f) {
        int first = 1;
        while (fgets(line, sizeof line, f)) {
            if (first) { /* header line */
                first = 0;
                continue;
            }
            used++;
        }
        fclose(f);
        counted = 1;
    }
    snprintf(b, sizeof b, "%" PRIu64, used);
    if (counted && shmmni > 0 && used >= shmmni - shmmni / 10)
        report(d, LVL_WARN,
               "remove unused ones ('shmkit ls', 'shmkit gc', 'ipcrm'), or "
               "sysctl -w kernel.shmmni=8192 (as root)",
               "kernel.shmmni is %" PRIu64 " and %s SysV segments exist: "
               "new sysv: segments will soon fail with ENOSPC", shmmni, b);
    else
        report(d, LVL_OK, NULL, "kernel.shmmni is %" PRIu64 " (%s in use)",
               shmmni, counted ? b : "?");
}

struct stale_ctx {
    int n;
    char names[800];
};

static void stale_cb(const shmkit_segment_info_t *in, void *ctx)
{
    struct stale_ctx *s = ctx;
    if (s->n < 3) {
        size_t off = strlen(s->names);
        size_t room = sizeof s->names - 1 - off;
        size_t len = strlen(in->name);
        if (s->n && room >= 2) {
            memcpy(s->names + off, ", ", 2);
            off += 2;
            room -= 2;
        }
        if (len > room)
            len = room;
        memcpy(s->names + off, in->name, len);
        s->names[off + len] = '\0';
    }
    s->n++;
}

static void check_stale(struct doctor *d)
{
    struct stale_ctx s;
    int rc;

    memset(&s, 0, sizeof s);
    shmkit_clear_error();
    rc = shmkit_gc(1, stale_cb, &s);
    if (rc < 0) {
        const char *hint = shmkit_last_error_hint();
        report(d, LVL_WARN, hint[0] ? hint : "run 'shmkit gc --dry-run'",
               "stale segments: could not look: %s",
               shmkit_last_error_code() == rc ? shmkit_last_error_message()
                                              : shmkit_strerror(rc));
    } else if (rc == 0) {
        report(d, LVL_OK, NULL, "no stale shmkit segments");
    } else {
        report(d, LVL_WARN, "shmkit gc",
               "%d stale shmkit segment%s (%s%s): every process attached "
               "to them is gone", rc, rc == 1 ? "" : "s", s.names,
               rc > 3 ? ", ..." : "");
    }
}

static const char doctor_usage[] = "shmkit doctor";

static void doctor_help(void)
{
    fputs("usage: shmkit doctor\n"
          "\n"
          "Checks what shared memory needs on this host and prints one line\n"
          "per check: 'ok', 'warn' (something that limits what works) or\n"
          "'fail' (something that breaks the default path), with a fix for\n"
          "each problem:\n"
          "  - /dev/shm: mounted, tmpfs, writable, free space, mount options\n"
          "  - RLIMIT_MEMLOCK (for --lock), unless CAP_IPC_LOCK\n"
          "  - huge pages reserved and free (for --huge)\n"
          "  - SysV limits kernel.shmmax, shmall, shmmni (for sysv: names)\n"
          "  - stale shmkit segments ('shmkit gc' removes them)\n"
          "Limits are those of this process: run it as the user, and in the\n"
          "container or service, that will use shared memory.\n"
          "\n"
          "options:\n"
          "  -h, --help   show this help\n"
          "\n"
          "examples:\n"
          "  shmkit doctor\n"
          "  shmkit doctor | grep -v '^ok'\n"
          "\n"
          "exit status:\n"
          "  0 no check failed (warnings allowed), 1 a check failed,\n"
          "  2 bad usage\n", stdout);
}

int cli_cmd_doctor(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct doctor d = {0, 0};
    struct mounts m;
    int c;

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":h", lopts, NULL)) != -1) {
        switch (c) {
        case 'h': doctor_help(); return CLI_EXIT_OK;
        default: return cli_bad_option("doctor", doctor_usage, argv, c);
        }
    }
    if (optind < argc)
        return cli_usage_error("doctor", doctor_usage, NULL,
                               "unexpected argument '%s'", argv[optind]);

    read_mounts(&m);
    check_dev_shm(&d, &m);
    check_memlock(&d);
    check_hugepages(&d, &m);
    check_sysv(&d);
    check_stale(&d);
    fflush(stdout);
    if (d.nfail)
        fprintf(stderr, "shmkit: %d check%s failed, %d warning%s\n", d.nfail,
                d.nfail == 1 ? "" : "s", d.nwarn, d.nwarn == 1 ? "" : "s");
    return d.nfail ? CLI_EXIT_ERROR : CLI_EXIT_OK;
}
