/*
 * test_chan_batch - shmkit_writer_send_more / commit_more / flush: a batch
 * of messages published with one commit.
 *
 *  1. Unpublished until a plain send, a plain commit or flush, then all of
 *     them in order: queue, reliable bus, lossy bus.  A refused message
 *     (EMSGSIZE) leaves the batch as it was.
 *  2. Published by itself at 64 messages, at an eighth of the ring, and
 *     at 16 KiB.
 *  3. A full ring (timeout 0) publishes the batch before it says EAGAIN:
 *     the reader can drain it, and the writer goes on.  Batches also run
 *     across the ring's end where records fit it exactly (no pad).
 *  4. Close and detach publish the batch; a successor continues after it.
 *  5. A writer killed with a batch open: nothing of the batch is ever seen,
 *     not even by a reader walking the successor's records over the same
 *     bytes (a batch whose later records were committed early would show
 *     them at a record boundary the successor happens to share).
 *  6. latest and the multi-producer queue publish every message at once.
 *
 * Every part can be run alone: test_chan_batch N.
 */
#include "chan_util.h"

static char name[128];
static int ready[2];

#define QUICK 0
#define WAIT_1S 1000000000ll

static void open_pair(shmkit_kind_t kind, int reliable, uint64_t cap,
                      shmkit_writer_t **w, shmkit_reader_t **r)
{
    skt_name(name, sizeof name);
    cu_create(name, kind, cap, reliable, 0, 0);
    shmkit_endpoint_opts_t eo;
    cu_eo(&eo, SHMKIT_WAIT_ADAPTIVE);
    CHECK_OK(shmkit_writer_open(name, &eo, w));
    CHECK_OK(shmkit_reader_open(name, &eo, r));
}

static void finish(shmkit_reader_t *r)
{
    CHECK_OK(shmkit_reader_close(r));
    CHECK_OK(shmkit_segment_unlink(name));
}

/* message i of generation gen: cu_msg of a length that varies with i */
static uint32_t mlen(uint32_t gen, uint64_t i)
{
    return cu_msg_len(0, gen, i) % 200 + CU_HDR + CU_MIN_PAYLOAD;
}

static void send_one(shmkit_writer_t *w, uint32_t gen, uint64_t i, int more,
                     int zero_copy)
{
    uint8_t buf[CU_MAX_MSG];
    uint32_t len = mlen(gen, i);
    if (zero_copy) {
        void *p;
        CHECK_OK(shmkit_writer_reserve(w, len, &p, 0));
        cu_msg_make(p, len, 0, gen, i);
        CHECK_OK(more ? shmkit_writer_commit_more(w, len) : shmkit_writer_commit(w, len));
        return;
    }
    cu_msg_make(buf, len, 0, gen, i);
    CHECK_OK(more ? shmkit_writer_send_more(w, buf, len, 0)
                  : shmkit_writer_send(w, buf, len, 0));
}

/* The next message is (gen, i), intact. */
static void expect_msg(shmkit_reader_t *r, uint32_t gen, uint64_t i, int64_t tmo)
{
    uint8_t buf[CU_MAX_MSG];
    size_t n = 0;
    int rc = shmkit_reader_recv(r, buf, sizeof buf, &n, tmo);
    CHECKF(rc == 0, "recv of message %u/%llu: %d (%s)", gen, (unsigned long long)i,
           rc, shmkit_strerror(rc));
    struct cu_msg m;
    const char *bad = cu_msg_check(buf, n, &m);
    CHECKF(!bad, "message %u/%llu: %s", gen, (unsigned long long)i, bad);
    CHECKF(m.gen == gen && m.seq == i, "got message %u/%llu, expected %u/%llu",
           m.gen, (unsigned long long)m.seq, gen, (unsigned long long)i);
}

static void expect_none(shmkit_reader_t *r, const char *why)
{
    uint8_t buf[CU_MAX_MSG];
    size_t n = 0;
    int rc = shmkit_reader_recv(r, buf, sizeof buf, &n, QUICK);
    CHECKF(rc == -EAGAIN, "%s: recv %d (%s), expected EAGAIN", why, rc,
           shmkit_strerror(rc));
}

/* ---- 1 ------------------------------------------------------------------ */

static void unpublished_until_plain(void)
{
    static const struct { shmkit_kind_t kind; int reliable; } k[] = {
        {SHMKIT_KIND_QUEUE, 0}, {SHMKIT_KIND_BUS, 1}, {SHMKIT_KIND_BUS, 0}};
    for (int c = 0; c < 3; c++) {
        shmkit_writer_t *w;
        shmkit_reader_t *r;
        open_pair(k[c].kind, k[c].reliable, 65536, &w, &r);
        uint64_t i = 0;
        for (int round = 0; round < 3; round++) {
            uint64_t first = i;
            for (int j = 0; j < 5; j++, i++)
                send_one(w, 0, i, 1, j & 1);
            expect_none(r, "a batch of 5 before it is published");
            if (round == 0) {
                /* refused: nothing changes */
                static uint8_t big[70000];
                CHECK_RC(shmkit_writer_send_more(w, big, sizeof big, 0), -EMSGSIZE);
                expect_none(r, "after a refused send_more");
                shmkit_channel_stat_t st;
                CHECK_OK(shmkit_channel_stat(name, &st));
                CHECKF(st.messages == 0, "stat counts %llu messages of an "
                       "unpublished batch", (unsigned long long)st.messages);
                CHECK_OK(shmkit_writer_flush(w));
            } else {
                send_one(w, 0, i++, 0, round == 2); /* plain send / commit */
            }
            for (uint64_t m = first; m < i; m++)
                expect_msg(r, 0, m, QUICK);
            expect_none(r, "after the batch");
        }
        CHECK_OK(shmkit_writer_flush(w)); /* nothing open: a no-op */
        expect_none(r, "after an empty flush");
        CHECK_OK(shmkit_writer_close(w));
        finish(r);
        printf("%s: a batch is published by flush, a plain send or a plain "
               "commit, in order: ok\n", cu_kind_label(k[c].kind, k[c].reliable, 0));
    }
}

/* ---- 2 ------------------------------------------------------------------ */

/* n - 1 messages of len bytes sent with send_more into a fresh queue of
 * capacity cap stay unpublished; the n-th publishes all n. */
static void published_at(uint64_t cap, size_t len, int n, const char *limit)
{
    shmkit_writer_t *w;
    shmkit_reader_t *r;
    static uint8_t buf[4096];
    open_pair(SHMKIT_KIND_QUEUE, 0, cap, &w, &r);
    memset(buf, 0x11, len);
    for (int i = 0; i < n - 1; i++)
        CHECK_OK(shmkit_writer_send_more(w, buf, len, 0));
    char why[160];
    snprintf(why, sizeof why, "%d messages of %zu bytes sent with send_more "
             "into a %llu-byte ring (published at %s)", n - 1, len,
             (unsigned long long)cap, limit);
    expect_none(r, why);
    CHECK_OK(shmkit_writer_send_more(w, buf, len, 0));
    for (int i = 0; i < n; i++) {
        size_t got;
        int rc = shmkit_reader_recv(r, buf, sizeof buf, &got, QUICK);
        CHECKF(rc == 0 && got == len, "message %d of %d, published at %s: %d (%s)",
               i + 1, n, limit, rc, shmkit_strerror(rc));
    }
    expect_none(r, "after the batch");
    CHECK_OK(shmkit_writer_close(w));
    finish(r);
}

static void published_at_the_limits(void)
{
    published_at(1 << 20, 8, 64, "64 messages");
    /* an eighth of 4 KiB is 512 bytes: 5 records of 120 bytes */
    published_at(4096, 104, 5, "an eighth of the ring");
    /* 16 KiB: 5 records of 4016 bytes */
    published_at(1 << 20, 4000, 5, "16 KiB");
    printf("queue: a batch is published at 64 messages, at an eighth of "
           "the ring, and at 16 KiB: ok\n");
}

/* ---- 3 ------------------------------------------------------------------ */

static void full_ring_publishes(void)
{
    shmkit_writer_t *w;
    shmkit_reader_t *r;
    open_pair(SHMKIT_KIND_QUEUE, 0, 4096, &w, &r);
    /* small messages (48-byte records: about 11 to an eighth of the ring,
     * so batches are published on the way too) until full */
    uint64_t i = 0, next = 0;
    for (int lap = 0; lap < 20; lap++) {
        int rc;
        uint8_t buf[CU_MAX_MSG];
        for (;;) {
            uint32_t len = CU_HDR + CU_MIN_PAYLOAD;
            cu_msg_make(buf, len, 0, 0, i);
            rc = shmkit_writer_send_more(w, buf, len, 0);
            if (rc != 0)
                break;
            i++;
        }
        CHECKF(rc == -EAGAIN, "send_more into a full ring: %d (%s)", rc,
               shmkit_strerror(rc));
        /* everything accepted is readable now, without a flush */
        for (; next < i; next++) {
            size_t n;
            CHECK_OK(shmkit_reader_recv(r, buf, sizeof buf, &n, QUICK));
            struct cu_msg mm;
            CHECKF(!cu_msg_check(buf, n, &mm) && mm.seq == next,
                   "lap %d: message %llu wrong", lap, (unsigned long long)next);
        }
        expect_none(r, "after draining");
    }
    CHECK_OK(shmkit_writer_close(w));
    finish(r);
    printf("queue: a full ring publishes the batch before EAGAIN (%llu messages, "
           "20 laps): ok\n", (unsigned long long)i);

    /* 128-byte records fill the ring exactly: no pad, so batches of three
     * run across the ring's end (32 records a lap) */
    open_pair(SHMKIT_KIND_QUEUE, 0, 4096, &w, &r);
    uint8_t m[112];
    next = 0;
    for (uint64_t k = 0; k < 300; k++) {
        memset(m, (int)(k & 0xff), sizeof m);
        if (k % 3 != 2) {
            CHECK_OK(shmkit_writer_send_more(w, m, sizeof m, 0));
            continue;
        }
        CHECK_OK(shmkit_writer_send(w, m, sizeof m, 0));
        for (; next <= k; next++) {
            size_t n;
            CHECK_OK(shmkit_reader_recv(r, m, sizeof m, &n, QUICK));
            CHECKF(n == sizeof m && m[0] == (uint8_t)next && m[111] == (uint8_t)next,
                   "exact-fit lap: message %llu wrong", (unsigned long long)next);
        }
        expect_none(r, "after a batch of three");
    }
    CHECK_OK(shmkit_writer_close(w));
    finish(r);
    printf("queue: batches run across the ring's end where records fit it "
           "exactly: ok\n");
}

/* ---- 4 ------------------------------------------------------------------ */

static void close_and_detach_publish(void)
{
    shmkit_writer_t *w;
    shmkit_reader_t *r;
    open_pair(SHMKIT_KIND_QUEUE, 0, 65536, &w, &r);
    for (uint64_t i = 0; i < 3; i++)
        send_one(w, 0, i, 1, 0);
    CHECK_OK(shmkit_writer_detach(w));
    shmkit_endpoint_opts_t eo;
    cu_eo(&eo, SHMKIT_WAIT_ADAPTIVE);
    CHECK_OK(shmkit_writer_open(name, &eo, &w));
    send_one(w, 1, 0, 1, 1);
    send_one(w, 1, 1, 1, 0);
    /* an open reservation is dropped; the batch before it is not */
    void *p;
    CHECK_OK(shmkit_writer_reserve(w, 100, &p, 0));
    memset(p, 0xee, 100);
    CHECK_OK(shmkit_writer_close(w));
    for (uint64_t i = 0; i < 3; i++)
        expect_msg(r, 0, i, QUICK);
    expect_msg(r, 1, 0, QUICK);
    expect_msg(r, 1, 1, QUICK);
    uint8_t buf[CU_MAX_MSG];
    size_t n;
    int rc = shmkit_reader_recv(r, buf, sizeof buf, &n, QUICK);
    CHECKF(rc == SHMKIT_E_CLOSED, "after the last batch: %d (%s), expected CLOSED",
           rc, shmkit_strerror(rc));
    finish(r);
    printf("queue: detach and close publish the batch; the successor "
           "continues after it: ok\n");
}

/* ---- 5 ------------------------------------------------------------------ */

static int die_with_a_batch(void *arg)
{
    (void)arg;
    shmkit_writer_t *w;
    if (shmkit_writer_open(name, NULL, &w) != 0)
        _exit(2);
    uint8_t buf[CU_MAX_MSG];
    for (uint64_t i = 0; i < 13; i++) {
        uint32_t len = mlen(0, i);
        cu_msg_make(buf, len, 0, 0, i);
        int rc = i < 3 ? shmkit_writer_send(w, buf, len, 0)
                       : shmkit_writer_send_more(w, buf, len, 0);
        if (rc != 0)
            _exit(3);
    }
    cu_signal_fd(ready[1]);
    pause();
    _exit(4);
}

static void killed_with_a_batch(void)
{
    static const struct { shmkit_kind_t kind; int reliable; } k[] = {
        {SHMKIT_KIND_QUEUE, 0}, {SHMKIT_KIND_BUS, 1}, {SHMKIT_KIND_BUS, 0}};
    for (int c = 0; c < 3; c++) {
        skt_name(name, sizeof name);
        cu_create(name, k[c].kind, 65536, k[c].reliable, 0, 0);
        cu_pipe(ready);
        shmkit_endpoint_opts_t eo;
        cu_eo(&eo, SHMKIT_WAIT_ADAPTIVE);
        shmkit_reader_t *r;
        CHECK_OK(shmkit_reader_open(name, &eo, &r));
        pid_t pid = cu_spawn(die_with_a_batch, NULL);
        CHECK(cu_wait_fd(ready[0], 1, 10000) == 0);
        cu_kill(pid);
        for (uint64_t i = 0; i < 3; i++)
            expect_msg(r, 0, i, WAIT_1S);
        uint8_t buf[CU_MAX_MSG];
        size_t n;
        int rc = shmkit_reader_recv(r, buf, sizeof buf, &n, WAIT_1S);
        CHECKF(rc == SHMKIT_E_PEER_GONE, "%s: after the dead writer's 3 published "
               "messages: %d (%s), expected PEER_GONE",
               cu_kind_label(k[c].kind, k[c].reliable, 0), rc, shmkit_strerror(rc));
        /* the successor writes over the same bytes, its first record as
         * long as the dead batch's first: its second starts where the dead
         * batch's second did */
        shmkit_writer_t *w;
        CHECK_OK(shmkit_writer_open(name, &eo, &w));
        uint32_t len = mlen(0, 3);
        cu_msg_make(buf, len, 0, 1, 0);
        CHECK_OK(shmkit_writer_send(w, buf, len, 0));
        expect_msg(r, 1, 0, WAIT_1S);
        expect_none(r, "after the successor's first message, where the dead "
                       "batch's second one was written");
        for (uint64_t i = 1; i < 40; i++)
            send_one(w, 1, i, (i % 3) != 0, 0);
        CHECK_OK(shmkit_writer_close(w));
        for (uint64_t i = 1; i < 40; i++)
            expect_msg(r, 1, i, WAIT_1S);
        rc = shmkit_reader_recv(r, buf, sizeof buf, &n, WAIT_1S);
        CHECKF(rc == SHMKIT_E_CLOSED, "after the successor: %d (%s)", rc,
               shmkit_strerror(rc));
        close(ready[0]);
        close(ready[1]);
        finish(r);
        printf("%s: a writer killed with a batch open leaves nothing of it "
               "visible: ok\n", cu_kind_label(k[c].kind, k[c].reliable, 0));
    }
}

/* ---- 6 ------------------------------------------------------------------ */

static void latest_and_mp_publish_at_once(void)
{
    shmkit_writer_t *w;
    shmkit_reader_t *r;
    skt_name(name, sizeof name);
    cu_create(name, SHMKIT_KIND_QUEUE, 65536, 0, 1, 0);
    shmkit_endpoint_opts_t eo;
    cu_eo(&eo, SHMKIT_WAIT_ADAPTIVE);
    CHECK_OK(shmkit_writer_open(name, &eo, &w));
    CHECK_OK(shmkit_reader_open(name, &eo, &r));
    send_one(w, 0, 0, 1, 0);
    expect_msg(r, 0, 0, QUICK);
    send_one(w, 0, 1, 1, 1);
    expect_msg(r, 0, 1, QUICK);
    CHECK_OK(shmkit_writer_close(w));
    finish(r);

    open_pair(SHMKIT_KIND_LATEST, 0, 4096, &w, &r);
    send_one(w, 0, 7, 1, 0);
    const void *p;
    size_t n;
    CHECK_OK(shmkit_reader_peek(r, &p, &n, QUICK));
    struct cu_msg m;
    CHECKF(!cu_msg_check(p, n, &m) && m.seq == 7, "latest: not the value sent");
    CHECK_OK(shmkit_reader_release(r));
    CHECK_OK(shmkit_writer_close(w));
    finish(r);
    CHECK_RC(shmkit_writer_flush(NULL), -EINVAL);
    printf("latest and multi-producer queue: send_more publishes at once: ok\n");
}

int main(int argc, char **argv)
{
    static void (*const part[])(void) = {
        unpublished_until_plain, published_at_the_limits, full_ring_publishes,
        close_and_detach_publish, killed_with_a_batch, latest_and_mp_publish_at_once,
    };
    int only = argc > 1 ? atoi(argv[1]) : 0; /* 1..6: that part alone */
    cu_init("test_chan_batch", 120);
    for (int i = 0; i < (int)(sizeof part / sizeof part[0]); i++)
        if (!only || only == i + 1)
            part[i]();
    return cu_result();
}
