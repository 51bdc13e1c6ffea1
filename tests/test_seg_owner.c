/*
 * test_seg_owner - opts.owner_only against a name squatter (needs root:
 * children drop to two unprivileged uids).
 *
 * A squatter (uid 65534) creates a segment with mode 0666 under the name
 * the victim (uid 65533) means to use.  For the posix, sysv and file
 * backends, and for a channel:
 *  - a plain open by the victim succeeds (the mode lets it in: this is the
 *    attack the option exists for);
 *  - an open with owner_only fails with -EPERM, and the error names the
 *    squatter's uid;
 *  - a non-exclusive create with owner_only fails the same way;
 *  - a writer_open(create) with owner_only on a squatted channel name fails;
 *  - the squatter itself opens its own segment with owner_only.
 */
#include "test_util.h"

#define SQUATTER 65534
#define VICTIM 65533

static char names[4][200];
static const char *what[4] = {"posix", "sysv", "file", "channel"};

static int squat(void *arg)
{
    (void)arg;
    CHECK_OK(skt_drop_privs(SQUATTER, SQUATTER, NULL, 0));
    umask(0);
    shmkit_segment_opts_t o;
    for (int i = 0; i < 3; i++) {
        shmkit_segment_t *s;
        shmkit_segment_opts_init(&o);
        o.size = 4096;
        o.mode = 0666;
        o.persistent = 1;
        o.exclusive = 1;
        CHECK_OK(shmkit_segment_create(names[i], &o, &s));
        CHECK_OK(shmkit_segment_close(s));
        /* the owner may use owner_only on its own segment */
        shmkit_segment_opts_init(&o);
        o.owner_only = 1;
        CHECK_OK(shmkit_segment_open(names[i], &o, &s));
        CHECK_OK(shmkit_segment_close(s));
    }
    shmkit_channel_opts_t co;
    shmkit_channel_opts_init(&co, SHMKIT_KIND_QUEUE);
    co.capacity = 65536;
    co.seg.mode = 0666;
    co.seg.persistent = 1;
    CHECK_OK(shmkit_channel_create(names[3], &co));
    return SKT_PASS;
}

static void expect_eperm(int rc, const char *what_, const char *how)
{
    CHECKF(rc == -EPERM, "%s: %s with owner_only on a squatted name: %d (%s), "
           "expected -EPERM", what_, how, rc, shmkit_strerror(rc));
    char uid[32];
    snprintf(uid, sizeof uid, "uid %d", SQUATTER);
    const char *hint = shmkit_last_error_hint();
    CHECKF(hint && skt_contains(hint, uid),
           "%s: %s: the error does not name the owner: %s", what_, how,
           shmkit_last_error_message());
}

static int victim(void *arg)
{
    (void)arg;
    CHECK_OK(skt_drop_privs(VICTIM, VICTIM, NULL, 0));
    shmkit_segment_opts_t o;
    shmkit_segment_t *s;
    for (int i = 0; i < 3; i++) {
        /* without the option, the squatter's segment is accepted */
        shmkit_segment_opts_init(&o);
        CHECKF(shmkit_segment_open(names[i], &o, &s) == 0,
               "%s: a plain open of a 0666 segment failed: %s", what[i],
               shmkit_last_error_message());
        CHECK_OK(shmkit_segment_close(s));
        shmkit_segment_opts_init(&o);
        o.owner_only = 1;
        s = NULL;
        expect_eperm(shmkit_segment_open(names[i], &o, &s), what[i], "open");
        CHECK(s == NULL);
        o.size = 4096;
        expect_eperm(shmkit_segment_create(names[i], &o, &s), what[i],
                     "non-exclusive create");
        CHECK(s == NULL);
    }
    shmkit_endpoint_opts_t eo;
    shmkit_channel_opts_t co;
    shmkit_channel_opts_init(&co, SHMKIT_KIND_QUEUE);
    shmkit_endpoint_opts_init(&eo);
    eo.create = &co;
    eo.owner_only = 1;
    shmkit_writer_t *w = NULL;
    shmkit_reader_t *r = NULL;
    expect_eperm(shmkit_writer_open(names[3], &eo, &w), what[3], "writer_open");
    expect_eperm(shmkit_reader_open(names[3], &eo, &r), what[3], "reader_open");
    CHECK(w == NULL && r == NULL);
    /* and without it the victim would have written into it */
    eo.owner_only = 0;
    CHECK_OK(shmkit_writer_open(names[3], &eo, &w));
    CHECK_OK(shmkit_writer_detach(w));
    return SKT_PASS;
}

static int body(void *arg)
{
    (void)arg;
    skt_name(names[0], sizeof names[0]);
    skt_sysv_name(names[1], sizeof names[1], NULL);
    char dir[128];
    snprintf(dir, sizeof dir, "/tmp/skt-owner-%d", (int)getpid());
    skt_track_path(dir);
    CHECK(mkdir(dir, 01777) == 0 || errno == EEXIST);
    CHECK(chmod(dir, 01777) == 0);
    snprintf(names[2], sizeof names[2], "file:%s/seg", dir);
    skt_track(names[2]);
    skt_name(names[3], sizeof names[3]);
    skt_track(names[3]);
    CHECKF(skt_run_child(squat, NULL) == 0, "the squatter failed");
    CHECKF(skt_run_child(victim, NULL) == 0, "the victim's checks failed");
    for (int i = 0; i < 4; i++)
        CHECK_OK(shmkit_segment_unlink(names[i]));
    rmdir(dir);
    printf("owner_only refuses a squatted posix, sysv, file and channel name: ok\n");
    return SKT_PASS;
}

int main(void)
{
    skt_init("owner");
    if (geteuid() != 0)
        skip("needs root (children drop to uids %d and %d)", SQUATTER, VICTIM);
    return skt_run_isolated(body, NULL);
}
