/*
 * list.c - enumerate every POSIX segment in /dev/shm and every SysV segment,
 * shmkit or not, and remove stale shmkit ones (gc).
 *
 * For foreign segments the attached processes come from /proc/PID/maps
 * (readable for our own processes, or all of them as root).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backend.h"
#include "error.h"
#include "segment.h"

struct maprec {
    char key[272]; /* "/dev/shm/NAME" or "SYSV:<shmid>" */
    int64_t pid;
};

struct mapscan {
    struct maprec *v;
    size_t n, cap;
};

static void scan_add(struct mapscan *m, const char *key, int64_t pid)
{
    for (size_t i = m->n; i > 0; i--)
        if (m->v[i - 1].pid == pid && !strcmp(m->v[i - 1].key, key))
            return;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        struct maprec *nv = realloc(m->v, cap * sizeof *nv);
        if (!nv)
            return;
        m->v = nv;
        m->cap = cap;
    }
    snprintf(m->v[m->n].key, sizeof m->v[m->n].key, "%s", key);
    m->v[m->n].pid = pid;
    m->n++;
}

static void scan_proc(struct mapscan *m)
{
    DIR *d = opendir("/proc");
    if (!d)
        return;
    struct dirent *e;
    char path[64], line[4352];
    while ((e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        int64_t pid = strtoll(e->d_name, NULL, 10);
        snprintf(path, sizeof path, "/proc/%s/maps", e->d_name);
        FILE *f = fopen(path, "re");
        if (!f)
            continue;
        while (fgets(line, sizeof line, f)) {
            unsigned long long ino;
            int off = 0;
            if (sscanf(line, "%*s %*s %*s %*s %llu %n", &ino, &off) < 1 || !off)
                continue;
            char *p = line + off;
            p[strcspn(p, "\n")] = 0;
            char *del = strstr(p, " (deleted)");
            if (!strncmp(p, "/dev/shm/", 9)) {
                if (del)
                    continue; /* removed already */
                scan_add(m, p, pid);
            } else if (!strncmp(p, "/SYSV", 5)) {
                char key[32];
                snprintf(key, sizeof key, "SYSV:%llu", ino);
                scan_add(m, key, pid);
            }
        }
        fclose(f);
    }
    closedir(d);
}

static void fill_foreign(const struct mapscan *m, const char *key,
                         shmkit_segment_info_t *info)
{
    int n = 0;
    for (size_t i = 0; i < m->n && n < SHMKIT_MAX_ATTACH; i++)
        if (!strcmp(m->v[i].key, key)) {
            info->attached[n].pid = m->v[i].pid;
            info->attached[n].alive = 1;
            info->attached[n].role = 0;
            n++;
        }
    info->nattached_listed = n;
    if (info->backend == SHMKIT_BACKEND_POSIX && info->nattach < 0)
        info->nattach = n; /* lower bound: processes we could see */
}

/* Is this /dev/shm entry a segment (not a POSIX semaphore or a dir)? */
static int is_segment_entry(const char *dir, const char *name, struct stat *st)
{
    char path[4096];
    if (name[0] == '.' || !strncmp(name, "sem.", 4))
        return 0;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return lstat(path, st) == 0 && S_ISREG(st->st_mode);
}

static int read_shmids(int **ids_out, size_t *n_out)
{
    FILE *f = fopen("/proc/sysvipc/shm", "re");
    *ids_out = NULL;
    *n_out = 0;
    if (!f)
        return 0;
    char line[512];
    size_t n = 0, cap = 0;
    int *ids = NULL;
    if (!fgets(line, sizeof line, f)) { /* header */
        fclose(f);
        return 0;
    }
    while (fgets(line, sizeof line, f)) {
        long long key;
        int id;
        if (sscanf(line, "%lld %d", &key, &id) != 2)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            int *nv = realloc(ids, cap * sizeof *nv);
            if (!nv)
                break;
            ids = nv;
        }
        ids[n++] = id;
    }
    fclose(f);
    *ids_out = ids;
    *n_out = n;
    return 0;
}

int shmkit_segment_list(int (*fn)(const shmkit_segment_info_t *, void *),
                        void *ctx)
{
    if (!fn)
        return sk_err(-EINVAL, "list", NULL, "fn must not be NULL");
    struct mapscan m = {0};
    scan_proc(&m);
    shmkit_segment_info_t *info = malloc(sizeof *info);
    if (!info) {
        free(m.v);
        return sk_err(-ENOMEM, "list", NULL, NULL);
    }
    int ret = 0;
    DIR *d = opendir("/dev/shm");
    if (d) {
        struct dirent *e;
        struct stat st;
        while (!ret && (e = readdir(d))) {
            if (!is_segment_entry("/dev/shm", e->d_name, &st))
                continue;
            char name[300];
            snprintf(name, sizeof name, "/%s", e->d_name);
            if (strlen(name) >= 240) {
                /* longer than a name shmkit takes: listed all the same, by
                 * its start, as a segment shmkit cannot open (it is there,
                 * and uses memory) */
                memset(info, 0, sizeof *info);
                snprintf(info->name, sizeof info->name, "%.236s...", name);
                info->backend = SHMKIT_BACKEND_POSIX;
                sk_info_from_stat(info, &st);
                info->check = SHMKIT_E_BAD_NAME;
                ret = fn(info, ctx);
                continue;
            }
            if (shmkit_segment_inspect(name, info) < 0)
                continue; /* vanished meanwhile */
            if (!info->is_shmkit || info->check) {
                char key[300];
                snprintf(key, sizeof key, "/dev/shm/%s", e->d_name);
                fill_foreign(&m, key, info);
            }
            ret = fn(info, ctx);
        }
        closedir(d);
    }
    int *ids;
    size_t n;
    read_shmids(&ids, &n);
    for (size_t i = 0; !ret && i < n; i++) {
        memset(info, 0, sizeof *info);
        if (sk_sysv_inspect_id(ids[i], info) < 0)
            continue;
        if (!info->is_shmkit || info->check) {
            char key[32];
            snprintf(key, sizeof key, "SYSV:%d", ids[i]);
            int kernel_count = info->nattach;
            fill_foreign(&m, key, info);
            info->nattach = kernel_count;
        }
        ret = fn(info, ctx);
    }
    free(ids);
    free(info);
    free(m.v);
    shmkit_clear_error(); /* per-entry checks are reported in info->check */
    return ret;
}

int shmkit_gc(int dry_run, void (*fn)(const shmkit_segment_info_t *, void *),
              void *ctx)
{
    int removed = 0;
    shmkit_segment_info_t *info = malloc(sizeof *info);
    if (!info)
        return sk_err(-ENOMEM, "gc", NULL, NULL);
    DIR *d = opendir("/dev/shm");
    if (d) {
        struct dirent *e;
        struct stat st;
        while ((e = readdir(d))) {
            if (!is_segment_entry("/dev/shm", e->d_name, &st))
                continue;
            char name[300], path[300];
            snprintf(name, sizeof name, "/%s", e->d_name);
            snprintf(path, sizeof path, "/dev/shm/%s", e->d_name);
            if (sk_fd_gc_one(name, path, dry_run, info) == 1) {
                removed++;
                if (fn)
                    fn(info, ctx);
            }
        }
        closedir(d);
    }
    int *ids;
    size_t n;
    read_shmids(&ids, &n);
    for (size_t i = 0; i < n; i++)
        if (sk_sysv_gc_one(ids[i], dry_run, info) == 1) {
            removed++;
            if (fn)
                fn(info, ctx);
        }
    free(ids);
    free(info);
    shmkit_clear_error();
    return removed;
}
