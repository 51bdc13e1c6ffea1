/*
 * test_seg_create_gate - a create that meets gc looking at its new object
 * waits for gc instead of failing.
 *
 * gc holds each object's gate byte exclusively for a moment while it looks
 * at it, a brand-new (still empty) one too.  A create that tried to take
 * its shared gate lock in that moment used to fail at once ("the
 * filesystem must support open file description locks"), and removed its
 * name.  Here a thread plays gc: it waits for the name to appear and locks
 * the gate byte exclusively for 20 ms whenever it gets there before the
 * creator.  Every create must succeed.  The race is won by the thread in a
 * share of the rounds only (it prints how many); with the old code each of
 * those rounds failed.
 */
#include "test_util.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>

#define LOCK_GATE 0x7fffffff00000000LL /* segment.h: SK_LOCK_GATE */
#define ROUNDS 300

static char path[ROUNDS][128];
static _Atomic int cur = -1, stop;
static int won;

static void *fake_gc(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        int i = atomic_load(&cur);
        if (i < 0)
            continue;
        int fd = open(path[i], O_RDWR | O_CLOEXEC);
        if (fd < 0)
            continue;
        struct flock fl = {0};
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        fl.l_start = LOCK_GATE;
        fl.l_len = 1;
        if (fcntl(fd, F_OFD_SETLK, &fl) == 0) {
            won++;
            usleep(20000);
        }
        close(fd);
        /* this round is done for us */
        atomic_compare_exchange_strong(&cur, &i, -1);
    }
    return NULL;
}

static int body(void *arg)
{
    (void)arg;
    char name[ROUNDS][64];
    pthread_t th;
    CHECK(pthread_create(&th, NULL, fake_gc, NULL) == 0);
    shmkit_segment_opts_t o;
    shmkit_segment_opts_init(&o);
    o.size = 4096;
    for (int i = 0; i < ROUNDS; i++) {
        skt_name(name[i], sizeof name[i]);
        snprintf(path[i], sizeof path[i], "/dev/shm/%s", name[i]);
        atomic_store(&cur, i);
        shmkit_segment_t *s;
        int rc = shmkit_segment_create(name[i], &o, &s);
        CHECKF(rc == 0, "round %d: create: %d (%s): %s", i, rc,
               shmkit_strerror(rc), shmkit_last_error());
        int want = i; /* the thread is done with this name, or is now */
        atomic_compare_exchange_strong(&cur, &want, -1);
        CHECK_OK(shmkit_segment_close(s)); /* owned: removed */
    }
    atomic_store(&stop, 1);
    CHECK(pthread_join(th, NULL) == 0);
    printf("%d creates, %d of them met a fake gc's exclusive lock on the new "
           "object: all succeeded: ok\n", ROUNDS, won);
    return SKT_PASS;
}

int main(void)
{
    skt_init("test_seg_create_gate");
    return skt_run_isolated(body, NULL);
}
