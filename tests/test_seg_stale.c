/*
 * test_seg_stale - stale detection and gc.
 *
 * posix (and the same for sysv with an explicit key):
 *  - an owned segment whose creator was SIGKILLed: stale, creator_alive 0,
 *    and gc removes it;
 *  - an owned segment whose creator is alive and holds it: not stale, gc
 *    leaves it;
 *  - an owned segment whose creator died while another process is still
 *    attached: not stale, gc leaves it;
 *  - a persistent segment whose creator died: not stale, survives gc;
 *  - an owned segment closed cleanly by its only user: gone without gc.
 * gc runs only inside a private mount+IPC namespace, where it cannot touch
 * the rest of the machine; without one, the gc parts are skipped.
 */
#include "test_util.h"

#define REQ 4096u

struct spec {
    const char *name;
    int persistent;
    int clean_close; /* close and exit normally instead of being killed */
};

/* Child: create, report through the pipe, then wait to be killed. */
static pid_t creator(const struct spec *sp)
{
    int pfd[2];
    CHECK(pipe2(pfd, O_CLOEXEC) == 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        shmkit_segment_opts_t o;
        shmkit_segment_t *s = NULL;
        shmkit_segment_opts_init(&o);
        o.size = REQ;
        o.exclusive = 1;
        o.persistent = sp->persistent;
        int rc = shmkit_segment_create(sp->name, &o, &s);
        if (rc == 0)
            skt_fill(shmkit_segment_data(s), REQ, 42);
        if (rc == 0 && sp->clean_close)
            rc = shmkit_segment_close(s);
        if (rc != 0)
            fprintf(stderr, "creator of %s: %d %s\n", sp->name, rc,
                    shmkit_last_error());
        if (write(pfd[1], &rc, sizeof rc) != sizeof rc)
            _exit(2);
        if (sp->clean_close || rc != 0)
            _exit(rc ? 1 : 0);
        for (;;)
            pause();
    }
    close(pfd[1]);
    int rc = -1;
    CHECK(read(pfd[0], &rc, sizeof rc) == sizeof rc);
    close(pfd[0]);
    CHECKF(rc == 0, "creator of %s failed: %d (%s)", sp->name, rc,
           shmkit_strerror(rc));
    return pid;
}

static void kill_reap(pid_t pid)
{
    int st;
    CHECK(kill(pid, SIGKILL) == 0);
    CHECK(skt_wait(pid, &st) == pid);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

static void expect_state(const char *name, int stale, int creator_alive,
                         const char *what)
{
    shmkit_segment_info_t info;
    int rc = shmkit_segment_stale(name);
    CHECKF(rc == stale, "%s: shmkit_segment_stale(%s) = %d (%s), expected %d",
           what, name, rc, rc < 0 ? shmkit_strerror(rc) : "", stale);
    CHECK_OK(shmkit_segment_inspect(name, &info));
    CHECKF(info.is_shmkit == 1, "%s: is_shmkit %d", what, info.is_shmkit);
    CHECKF(info.stale == stale, "%s: inspect stale = %d, expected %d", what,
           info.stale, stale);
    CHECKF(info.creator_alive == creator_alive,
           "%s: creator_alive = %d, expected %d", what, info.creator_alive,
           creator_alive);
    CHECK(info.creator_pid > 0);
}

struct seen {
    char names[16][256];
    int n;
};

static void on_gc(const shmkit_segment_info_t *info, void *ctx)
{
    struct seen *s = ctx;
    if (s->n < 16)
        snprintf(s->names[s->n++], 256, "%s", info->name);
}

static int seen_has(const struct seen *s, const char *canon_part)
{
    for (int i = 0; i < s->n; i++)
        if (strstr(s->names[i], canon_part))
            return 1;
    return 0;
}

static int exists(const char *name)
{
    shmkit_segment_info_t info;
    int rc = shmkit_segment_inspect(name, &info);
    CHECKF(rc == 0 || rc == -ENOENT, "inspect(%s): %d (%s)", name, rc,
           shmkit_strerror(rc));
    return rc == 0;
}

static int body(void *arg)
{
    (void)arg;
    char dead[128], live[128], held[128], pers[128], clean[128];
    char sdead[64], slive[64];
    key_t kdead, klive;
    shmkit_segment_t *hl = NULL, *hh = NULL, *hs = NULL;
    pid_t pid;

    /* posix: creator killed */
    struct spec sp = {skt_name(dead, sizeof dead), 0, 0};
    pid = creator(&sp);
    expect_state(dead, 0, 1, "posix owned, creator alive");
    kill_reap(pid);
    expect_state(dead, 1, 0, "posix owned, creator killed");

    /* posix: creator (us) alive and attached */
    shmkit_segment_opts_t o;
    shmkit_segment_opts_init(&o);
    o.size = REQ;
    CHECK_OK(shmkit_segment_create(skt_name(live, sizeof live), &o, &hl));
    expect_state(live, 0, 1, "posix owned, held by its creator");

    /* posix: creator killed, but we are attached */
    sp.name = skt_name(held, sizeof held);
    pid = creator(&sp);
    CHECK_OK(shmkit_segment_open(held, NULL, &hh));
    kill_reap(pid);
    expect_state(held, 0, 0, "posix owned, creator dead, another attached");

    /* posix: persistent, creator killed */
    struct spec pp = {skt_name(pers, sizeof pers), 1, 0};
    pid = creator(&pp);
    kill_reap(pid);
    expect_state(pers, 0, 0, "posix persistent, creator dead");

    /* posix: clean close by the only user */
    struct spec cp = {skt_name(clean, sizeof clean), 0, 1};
    pid = creator(&cp);
    int st;
    CHECK(skt_wait(pid, &st) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECKF(!exists(clean), "cleanly closed owned segment %s still exists", clean);

    /* sysv: creator killed */
    struct spec sv = {skt_sysv_name(sdead, sizeof sdead, &kdead), 0, 0};
    pid = creator(&sv);
    expect_state(sdead, 0, 1, "sysv owned, creator alive");
    kill_reap(pid);
    expect_state(sdead, 1, 0, "sysv owned, creator killed");

    /* sysv: creator alive and attached */
    CHECK_OK(shmkit_segment_create(skt_sysv_name(slive, sizeof slive, &klive),
                                   &o, &hs));
    expect_state(slive, 0, 1, "sysv owned, held by its creator");
    printf("stale detection: ok\n");

    if (!skt_in_ns) {
        printf("no private namespace: gc not run\n");
        CHECK_OK(shmkit_segment_unlink(dead));
        CHECK_OK(shmkit_segment_unlink(pers));
        CHECK_OK(shmkit_segment_unlink(sdead));
    } else {
        struct seen seen = {.n = 0};
        /* dry run: reports both, removes nothing */
        int rc = shmkit_gc(1, on_gc, &seen);
        CHECKF(rc == 2, "gc dry run found %d, expected 2", rc);
        CHECK(seen_has(&seen, dead));
        CHECK(exists(dead) && exists(sdead));

        seen.n = 0;
        rc = shmkit_gc(0, on_gc, &seen);
        CHECKF(rc == 2, "gc removed %d, expected 2 (the two stale ones)", rc);
        CHECK(seen.n == 2);
        CHECK(seen_has(&seen, dead));
        CHECK(!seen_has(&seen, live) && !seen_has(&seen, held) &&
              !seen_has(&seen, pers));
        CHECKF(!exists(dead), "gc left stale %s", dead);
        CHECKF(!exists(sdead), "gc left stale %s", sdead);
        errno = 0;
        CHECKF(shmget(kdead, 0, 0) < 0 && errno == ENOENT,
               "sysv key 0x%08x still exists after gc", (unsigned)kdead);
        CHECKF(exists(live), "gc removed %s, held by its live creator", live);
        CHECKF(exists(held), "gc removed %s, attached by a live process", held);
        CHECKF(exists(pers), "gc removed persistent %s", pers);
        CHECKF(exists(slive), "gc removed sysv %s, held by its live creator",
               slive);
        /* nothing more to do */
        CHECK_RC(shmkit_gc(0, NULL, NULL), 0);
        CHECK_OK(shmkit_segment_unlink(pers));
    }
    printf("gc: %s\n", skt_in_ns ? "ok" : "skipped");

    /* last closers remove what they own */
    CHECK_OK(shmkit_segment_close(hl));
    CHECK_OK(shmkit_segment_close(hh));
    CHECK_OK(shmkit_segment_close(hs));
    CHECKF(!exists(live), "%s survives its last close", live);
    CHECKF(!exists(held), "%s survives its last close (creator died earlier)",
           held);
    CHECKF(!exists(slive), "%s survives its last close", slive);
    errno = 0;
    CHECK(shmget(klive, 0, 0) < 0 && errno == ENOENT);
    if (skt_in_ns) {
        CHECKF(skt_count_dir("/dev/shm") == 0, "/dev/shm not empty at the end");
    }
    return SKT_PASS;
}

int main(void)
{
    skt_init("stale");
    return skt_run_isolated(body, NULL);
}
