/*
 * test_chan_ack - shmkit_endpoint_opts_t.manual_ack and shmkit_reader_ack().
 *
 * A reader with manual_ack keeps the room of what it released until it
 * acknowledges; what it released but did not acknowledge stays in a queue
 * for the next reader (at least once).  Checked on a 4 KiB ring of 64-byte
 * messages (72- or 80-byte records):
 *
 *  1. Room (queue, single- and multi-producer; reliable bus): the writer
 *     fills the ring, the reader takes and releases every message without
 *     acknowledging, and the writer still finds no room (-EAGAIN); after
 *     shmkit_reader_ack() it does.  Without manual_ack a release is enough.
 *  2. At least once (queue): a reader releases 10 messages, acknowledges
 *     the first 4 and closes; the next reader gets 4..9 again, in order,
 *     then the rest.  A message still peeked at ack time is not
 *     acknowledged.
 *  3. A reader killed with messages released but not acknowledged (a
 *     child, SIGKILL, after a wait for more): the next reader gets them.
 *  4. A lossy bus keeps nothing for its readers: manual_ack changes
 *     nothing there (the writer never waits, the reader's position is
 *     published as it goes).  shmkit_reader_ack(NULL) is -EINVAL; ack
 *     without manual_ack is 0.
 *
 * Fails when releases and waits publish how far the reader got rather
 * than what it acknowledged (each of parts 1-3 does).
 */
#include "chan_util.h"

#define CAP 4096u
#define LEN 64u

static void msg(uint8_t *b, uint64_t k)
{
    memset(b, (int)(k & 0xff), LEN);
    memcpy(b, &k, sizeof k);
}

static uint64_t take(shmkit_reader_t *r, int peek_only)
{
    const void *p;
    size_t len = 0;
    int rc = shmkit_reader_peek(r, &p, &len, 1000000000ll);
    CHECKF(rc == 0, "peek: %d (%s)", rc, shmkit_strerror(rc));
    CHECK(len == LEN);
    uint64_t k;
    memcpy(&k, p, sizeof k);
    uint8_t want[LEN];
    msg(want, k);
    CHECKF(memcmp(p, want, LEN) == 0, "message %llu is torn",
           (unsigned long long)k);
    if (!peek_only)
        CHECK_OK(shmkit_reader_release(r));
    return k;
}

static void open_r(const char *name, int manual, shmkit_reader_t **r)
{
    shmkit_endpoint_opts_t eo;
    cu_eo(&eo, SHMKIT_WAIT_SPIN);
    eo.manual_ack = manual;
    CHECK_OK(shmkit_reader_open(name, &eo, r));
}

static void open_w(const char *name, shmkit_writer_t **w)
{
    shmkit_endpoint_opts_t eo;
    cu_eo(&eo, SHMKIT_WAIT_SPIN);
    CHECK_OK(shmkit_writer_open(name, &eo, w));
}

/* sends until the ring is full; returns how many went */
static uint64_t fill(shmkit_writer_t *w, uint64_t first)
{
    uint8_t b[LEN];
    uint64_t k = first;
    for (;;) {
        msg(b, k);
        int rc = shmkit_writer_send(w, b, LEN, 0);
        if (rc == -EAGAIN)
            break;
        CHECKF(rc == 0, "send %llu: %d (%s)", (unsigned long long)k, rc,
               shmkit_strerror(rc));
        k++;
        CHECK(k - first < CAP); /* a 4 KiB ring holds fewer than that */
    }
    CHECK(k - first >= CAP / 128);
    return k - first;
}

static void part1_room(shmkit_kind_t kind, int reliable, int multi,
                       int manual)
{
    char name[128];
    skt_name(name, sizeof name);
    cu_create(name, kind, CAP, reliable, multi, LEN);
    shmkit_writer_t *w;
    shmkit_reader_t *r;
    open_r(name, manual, &r);
    open_w(name, &w);
    uint64_t n = fill(w, 0);
    for (uint64_t i = 0; i < n; i++)
        CHECK(take(r, 0) == i);
    uint8_t b[LEN];
    msg(b, n);
    int rc = shmkit_writer_send(w, b, LEN, 0);
    if (manual) {
        CHECKF(rc == -EAGAIN, "%s: sent into room released but not "
               "acknowledged: %d", cu_kind_label(kind, reliable, multi), rc);
        CHECK_OK(shmkit_reader_ack(r));
        rc = shmkit_writer_send(w, b, LEN, 0);
    }
    CHECKF(rc == 0, "%s manual %d: no room after the %s: %d (%s)",
           cu_kind_label(kind, reliable, multi), manual,
           manual ? "ack" : "releases", rc, shmkit_strerror(rc));
    CHECK(take(r, 0) == n);
    CHECK_OK(shmkit_reader_ack(r));
    CHECK_OK(shmkit_writer_close(w));
    CHECK_OK(shmkit_reader_close(r));
    CHECK_OK(shmkit_segment_unlink(name));
}

static void send_range(shmkit_writer_t *w, uint64_t a, uint64_t b)
{
    uint8_t m[LEN];
    for (uint64_t k = a; k < b; k++) {
        msg(m, k);
        CHECK_OK(shmkit_writer_send(w, m, LEN, 0));
    }
}

static void part2_again(void)
{
    char name[128];
    skt_name(name, sizeof name);
    cu_create(name, SHMKIT_KIND_QUEUE, CAP, 0, 0, LEN);
    shmkit_writer_t *w;
    shmkit_reader_t *r;
    open_w(name, &w);
    send_range(w, 0, 12);
    open_r(name, 1, &r);
    for (uint64_t i = 0; i < 4; i++)
        CHECK(take(r, 0) == i);
    CHECK_OK(shmkit_reader_ack(r));
    for (uint64_t i = 4; i < 10; i++)
        CHECK(take(r, 0) == i);
    CHECK(take(r, 1) == 10); /* peeked, not released */
    CHECK_OK(shmkit_reader_close(r));
    /* the next reader: 4..11 */
    open_r(name, 1, &r);
    for (uint64_t i = 4; i < 10; i++)
        CHECK(take(r, 0) == i);
    CHECK(take(r, 1) == 10);
    CHECK_OK(shmkit_reader_ack(r)); /* 4..9; 10 is still peeked */
    CHECK_OK(shmkit_reader_release(r));
    CHECK_OK(shmkit_reader_close(r));
    open_r(name, 0, &r); /* a plain reader: 10, 11 */
    CHECK(take(r, 0) == 10);
    CHECK(take(r, 0) == 11);
    const void *p;
    size_t len;
    CHECK_RC(shmkit_reader_peek(r, &p, &len, 0), -EAGAIN);
    CHECK_OK(shmkit_reader_close(r));
    CHECK_OK(shmkit_writer_close(w));
    CHECK_OK(shmkit_segment_unlink(name));
}

static char kill_name[128];

static int killed_reader(void *arg)
{
    (void)arg;
    shmkit_reader_t *r;
    open_r(kill_name, 1, &r);
    for (uint64_t i = 0; i < 3; i++)
        CHECK(take(r, 0) == i);
    CHECK_OK(shmkit_reader_ack(r));
    for (uint64_t i = 3; i < 8; i++)
        CHECK(take(r, 0) == i);
    /* a wait for more (the reader then tells a waiting writer where it is:
     * where it acknowledged, not where it got to) */
    const void *p;
    size_t len;
    int rc = shmkit_reader_peek(r, &p, &len, 20000000ll);
    CHECKF(rc == -ETIMEDOUT, "peek on an empty queue: %d", rc);
    kill(getpid(), SIGKILL);
    return SKT_FAIL;
}

static void part3_killed(void)
{
    skt_name(kill_name, sizeof kill_name);
    cu_create(kill_name, SHMKIT_KIND_QUEUE, CAP, 0, 0, LEN);
    shmkit_writer_t *w;
    open_w(kill_name, &w);
    send_range(w, 0, 8);
    pid_t pid = cu_spawn(killed_reader, NULL);
    int st = cu_reap_status(pid);
    CHECKF(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
           "the reader was to die by SIGKILL (status 0x%x)", st);
    shmkit_reader_t *r;
    shmkit_endpoint_opts_t eo;
    cu_eo(&eo, SHMKIT_WAIT_SPIN);
    eo.open_timeout_ms = 5000;
    /* the dead consumer's role is taken over at open */
    CHECK_OK(shmkit_reader_open(kill_name, &eo, &r));
    for (uint64_t i = 3; i < 8; i++)
        CHECK(take(r, 0) == i);
    CHECK_OK(shmkit_reader_close(r));
    CHECK_OK(shmkit_writer_close(w));
    CHECK_OK(shmkit_segment_unlink(kill_name));
}

static void part4_lossy(void)
{
    char name[128];
    skt_name(name, sizeof name);
    cu_create(name, SHMKIT_KIND_BUS, CAP, 0, 0, LEN);
    shmkit_writer_t *w;
    shmkit_reader_t *r;
    open_r(name, 1, &r);
    open_w(name, &w);
    /* three rings' worth: the writer never waits, the reader is lapped */
    uint8_t b[LEN];
    for (uint64_t k = 0; k < 3 * CAP / 64; k++) {
        msg(b, k);
        CHECK_OK(shmkit_writer_send(w, b, LEN, 0));
    }
    const void *p;
    size_t len;
    int rc = shmkit_reader_peek(r, &p, &len, 0);
    CHECKF(rc == SHMKIT_E_LOST, "lapped lossy reader: %d (%s)", rc,
           shmkit_strerror(rc));
    /* it starts again at the tail: one more message, and its position is
     * published as it goes, not held where it started */
    msg(b, 3 * CAP / 64);
    CHECK_OK(shmkit_writer_send(w, b, LEN, 0));
    CHECK(take(r, 0) == 3 * CAP / 64);
    shmkit_channel_stat_t *st = calloc(1, sizeof *st);
    CHECK(st != NULL);
    CHECK_OK(shmkit_channel_stat(name, st));
    CHECKF(st->nreaders == 1 && st->readers[0].lag < CAP,
           "lossy bus reader with manual_ack: lag %llu",
           (unsigned long long)st->readers[0].lag);
    free(st);
    CHECK_OK(shmkit_reader_ack(r));
    CHECK_OK(shmkit_writer_close(w));
    CHECK_OK(shmkit_reader_close(r));
    CHECK_OK(shmkit_segment_unlink(name));

    CHECK_RC(shmkit_reader_ack(NULL), -EINVAL);
}

int main(int argc, char **argv)
{
    cu_init("chan_ack", 60);
    int only = argc > 1 ? atoi(argv[1]) : 0;
    if (!only || only == 1) {
        for (int manual = 0; manual < 2; manual++) {
            part1_room(SHMKIT_KIND_QUEUE, 0, 0, manual);
            part1_room(SHMKIT_KIND_QUEUE, 0, 1, manual);
            part1_room(SHMKIT_KIND_BUS, 1, 0, manual);
        }
    }
    if (!only || only == 2)
        part2_again();
    if (!only || only == 3)
        part3_killed();
    if (!only || only == 4)
        part4_lossy();
    return SKT_PASS;
}
