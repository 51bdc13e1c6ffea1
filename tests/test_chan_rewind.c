/*
 * test_chan_rewind - a large message (at least an eighth of the ring) into
 * an empty ring, with the writer past half the ring, starts again at the
 * ring's start, so that round trips of large messages stay in its first
 * half instead of walking the whole ring.
 *
 *  1. Queue and reliable bus, one message at a time, each read before the
 *     next: the records (an eighth of the ring each) sit at the first four
 *     offsets, never further; every message arrives intact and in order.
 *  2. A ring that is not empty is not rewound: with one message unread,
 *     the next one goes past half the ring, and both arrive.
 *  3. Not on a lossy bus, and not for small messages: the writer walks on.
 *  4. The bound is exact: a record of exactly an eighth of the ring is
 *     rewound, one 8 bytes shorter is not (the writer's fast path takes
 *     only records under an eighth: sk_writer_fast_init()).
 */
#include "chan_util.h"

#define CAP (1u << 20)
#define BIG (128u * 1024u) /* a record of 131080 (queue) or 131088 bytes
                              (bus) >= CAP / 8 */
#define QUICK 0

static char name[128];

static void open_pair(shmkit_kind_t kind, int reliable, shmkit_writer_t **w,
                      shmkit_reader_t **r)
{
    skt_name(name, sizeof name);
    cu_create(name, kind, CAP, reliable, 0, BIG);
    shmkit_endpoint_opts_t eo;
    cu_eo(&eo, SHMKIT_WAIT_ADAPTIVE);
    CHECK_OK(shmkit_writer_open(name, &eo, w));
    CHECK_OK(shmkit_reader_open(name, &eo, r));
}

static void finish(shmkit_writer_t *w, shmkit_reader_t *r)
{
    CHECK_OK(shmkit_writer_close(w));
    CHECK_OK(shmkit_reader_close(r));
    CHECK_OK(shmkit_segment_unlink(name));
}

static uint64_t writer_position(void)
{
    shmkit_channel_stat_t st;
    CHECK_OK(shmkit_channel_stat(name, &st));
    return st.position;
}

/* Sends message k of len bytes (zero-copy) and returns the offset in the
 * ring where its record starts (the writer's end position minus its size). */
static uint64_t send_k(shmkit_writer_t *w, shmkit_kind_t kind, uint32_t len,
                       uint64_t k)
{
    void *p;
    CHECK_OK(shmkit_writer_reserve(w, len, &p, QUICK));
    skt_fill(p, len, k);
    CHECK_OK(shmkit_writer_commit(w, len));
    uint64_t rec = cu_rec_size(kind, len);
    return (writer_position() - rec) & (CAP - 1);
}

static void recv_k(shmkit_reader_t *r, uint32_t len, uint64_t k)
{
    const void *p;
    size_t n;
    int rc = shmkit_reader_peek(r, &p, &n, QUICK);
    CHECKF(rc == 0, "message %llu: peek %d (%s)", (unsigned long long)k, rc,
           shmkit_strerror(rc));
    CHECKF(n == len, "message %llu: %zu bytes, expected %u", (unsigned long long)k,
           n, len);
    int64_t bad = skt_verify(p, n, k);
    CHECKF(bad < 0, "message %llu: byte %lld differs", (unsigned long long)k,
           (long long)bad);
    CHECK_OK(shmkit_reader_release(r));
}

/* ---- 1 ------------------------------------------------------------------ */

static void takes_turns(shmkit_kind_t kind, int reliable, uint32_t len)
{
    shmkit_writer_t *w;
    shmkit_reader_t *r;
    open_pair(kind, reliable, &w, &r);
    uint64_t seen[4] = {0, 0, 0, 0}, rec = cu_rec_size(kind, len);
    for (uint64_t k = 0; k < 40; k++) {
        uint64_t off = send_k(w, kind, len, k);
        CHECKF(off % rec == 0 && off / rec < 4, "%s, %u-byte messages: message "
               "%llu at offset %llu, expected one of the first four records "
               "(the ring is empty before each)", cu_kind_label(kind, reliable, 0),
               len, (unsigned long long)k, (unsigned long long)off);
        if (off % rec == 0 && off / rec < 4)
            seen[off / rec]++;
        recv_k(r, len, k);
    }
    for (int i = 0; i < 4; i++)
        CHECKF(seen[i] == 10, "offset %llu used %llu times of 40",
               (unsigned long long)(i * rec), (unsigned long long)seen[i]);
    finish(w, r);
    printf("%s, %u-byte messages into an empty ring stay in its first half: ok\n",
           cu_kind_label(kind, reliable, 0), len);
}

/* ---- 2 ------------------------------------------------------------------ */

static void not_when_full(void)
{
    shmkit_writer_t *w;
    shmkit_reader_t *r;
    open_pair(SHMKIT_KIND_QUEUE, 0, &w, &r);
    for (uint64_t k = 0; k < 3; k++) {
        send_k(w, SHMKIT_KIND_QUEUE, BIG, k);
        recv_k(r, BIG, k);
    }
    send_k(w, SHMKIT_KIND_QUEUE, BIG, 3); /* unread */
    uint64_t off = send_k(w, SHMKIT_KIND_QUEUE, BIG, 4);
    CHECKF(off == 4 * cu_rec_size(SHMKIT_KIND_QUEUE, BIG), "with a message unread, the next "
           "one went to offset %llu, not on to %llu", (unsigned long long)off,
           (unsigned long long)(4 * cu_rec_size(SHMKIT_KIND_QUEUE, BIG)));
    recv_k(r, BIG, 3);
    recv_k(r, BIG, 4);
    finish(w, r);
    printf("queue: a ring that holds an unread message is not rewound: ok\n");
}

/* ---- 3 ------------------------------------------------------------------ */

static void walks_on(shmkit_kind_t kind, int reliable, uint32_t len)
{
    shmkit_writer_t *w;
    shmkit_reader_t *r;
    open_pair(kind, reliable, &w, &r);
    uint64_t rec = cu_rec_size(kind, len), expect = 0;
    for (uint64_t k = 0; k < 20; k++) {
        if (expect + rec > CAP)
            expect = 0; /* the ordinary wrap */
        uint64_t off = send_k(w, kind, len, k);
        CHECKF(off == expect, "%s, %u-byte messages: message %llu at offset %llu, "
               "expected %llu", cu_kind_label(kind, reliable, 0), len,
               (unsigned long long)k, (unsigned long long)off,
               (unsigned long long)expect);
        expect += rec;
        recv_k(r, len, k);
    }
    finish(w, r);
    printf("%s, %u-byte messages: the writer walks on: ok\n",
           cu_kind_label(kind, reliable, 0), len);
}

int main(void)
{
    cu_init("test_chan_rewind", 120);
    takes_turns(SHMKIT_KIND_QUEUE, 0, BIG);
    takes_turns(SHMKIT_KIND_BUS, 1, BIG);
    not_when_full();
    walks_on(SHMKIT_KIND_BUS, 0, BIG);
    walks_on(SHMKIT_KIND_QUEUE, 0, BIG / 2);
    /* 4: records of exactly CAP / 8 (hdr + len + 7 == CAP / 8), and 8 less */
    takes_turns(SHMKIT_KIND_QUEUE, 0, CAP / 8 - 8 - 7);
    takes_turns(SHMKIT_KIND_BUS, 1, CAP / 8 - 16 - 7);
    walks_on(SHMKIT_KIND_QUEUE, 0, CAP / 8 - 8 - 8);
    walks_on(SHMKIT_KIND_BUS, 1, CAP / 8 - 16 - 8);
    return cu_result();
}
