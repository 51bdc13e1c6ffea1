/*
 * test_chan_spoof - a payload that looks like commit words never becomes a
 * message.
 *
 * A reader waits for the commit word at the next record's position.  Until
 * the writer gets there, those 8 bytes hold whatever an earlier lap left:
 * often the payload of an old message, which any sender controls.  A
 * sender that fills a message with the commit words of the next lap's
 * positions (tag, valid bit, a small length) must not make a reader take
 * old bytes for a message, and must not shift the reader off the writer's
 * records.  The writer clears the next record's word before it commits
 * (DESIGN: ring records), so a reader sees zero there or the real word.
 *
 * For each kind (queue, multi-producer queue, reliable bus, lossy bus): one
 * 1 KiB message at the ring's start sprayed with such words, read; then
 * 8-byte messages, each read at once, until the writer has passed the
 * sprayed region in the next lap.  After each message the reader must find
 * nothing more (EAGAIN), and each message must be the one sent.  Also with
 * the 8-byte messages in batches (send_more), whose words the writer stores
 * only at the flush, and as 8-byte commits of 16-byte reservations (the
 * next record then starts sooner than the reservation said; between
 * reservation and commit, with a multi-producer queue's claim already in
 * the tail, the reader must find nothing either); and a multi-producer
 * queue with two producers whose claims interleave, and with claims left
 * open at close (they become pads).
 */
#include "chan_util.h"

#include "../src/channel.h"

enum { CAP = 4096, SPRAY = 1024 };

/* The record header of a kind: the payload starts this far in. */
static unsigned hdr_of(shmkit_kind_t kind)
{
    return (unsigned)cu_rec_size(kind, 0);
}

/* The first record, at 0, holds the payload at [hdr, hdr + SPRAY): each 8
 * bytes there look like the commit word of the next lap's record at the
 * same place, 8 bytes long.  Sent and read. */
static void spray(shmkit_writer_t *w, shmkit_reader_t *r, unsigned hdr)
{
    uint64_t big[SPRAY / 8];
    for (unsigned i = 0; i < SPRAY / 8; i++)
        big[i] = sk_word(CAP + hdr + 8ull * i, 0, 8);
    CHECK_OK(shmkit_writer_send(w, big, SPRAY, 0));
    uint8_t buf[SPRAY];
    size_t n;
    CHECK_OK(shmkit_reader_recv(r, buf, sizeof buf, &n, 0));
    CHECK(n == SPRAY && memcmp(buf, big, SPRAY) == 0);
}

enum { PLAIN, BATCHED, SHORT };
static const char *mode_name[] = {"", ", batched", ", short commits"};

static void spray_run(const char *label, shmkit_kind_t kind, int reliable,
                      int multi, int mode)
{
    int batched = mode == BATCHED;
    char name[128];
    skt_name(name, sizeof name);
    cu_create(name, kind, CAP, reliable, multi, 0);
    shmkit_writer_t *w;
    shmkit_reader_t *r;
    CHECK_OK(shmkit_writer_open(name, NULL, &w));
    CHECK_OK(shmkit_reader_open(name, NULL, &r));
    CHECKF(shmkit_writer_max_msg(w) >= SPRAY, "%s: max message %zu", label,
           shmkit_writer_max_msg(w));

    unsigned hdr = hdr_of(kind);
    spray(w, r, hdr);
    size_t n;

    /* 8-byte messages (16-byte records on a queue, 24 on a bus) through the
     * rest of this lap and past the sprayed region of the next */
    uint64_t sent = 0, bytes = hdr + SPRAY;
    while (bytes < 2 * CAP) {
        uint64_t v = 0x5eed000000000000ull | sent;
        int rc;
        if (mode == SHORT) {
            void *p;
            rc = shmkit_writer_reserve(w, 16, &p, 0);
            if (rc == 0) {
                /* reserved (on a multi-producer queue: claimed, the tail
                 * moved on), not committed: still nothing to read */
                const void *q;
                size_t qn;
                int prc = shmkit_reader_peek(r, &q, &qn, 0);
                CHECKF(prc == -EAGAIN, "%s: during reservation %llu the reader "
                       "found %d (%s)", label, (unsigned long long)sent, prc,
                       shmkit_strerror(prc));
                memcpy(p, &v, 8);
                rc = shmkit_writer_commit(w, 8);
            }
        } else {
            rc = batched && sent % 4 != 3 ? shmkit_writer_send_more(w, &v, 8, 0)
                                          : shmkit_writer_send(w, &v, 8, 0);
        }
        CHECKF(rc == 0, "%s: send %llu: %d", label, (unsigned long long)sent, rc);
        sent++;
        /* (a pad fills the rest of a claim) */
        bytes += cu_rec_size(kind, mode == SHORT && multi ? 16 : 8);
        if (batched && sent % 4 != 0)
            continue; /* read the batch once it is published */
        for (uint64_t k = batched ? sent - 4 : sent - 1; k < sent; k++) {
            uint64_t got = 0;
            rc = shmkit_reader_recv(r, &got, sizeof got, &n, 0);
            CHECKF(rc == 0 && n == 8 && got == (0x5eed000000000000ull | k),
                   "%s: message %llu: rc %d (%s), %zu bytes, 0x%llx", label,
                   (unsigned long long)k, rc, shmkit_strerror(rc), n,
                   (unsigned long long)got);
        }
        const void *p;
        rc = shmkit_reader_peek(r, &p, &n, 0);
        CHECKF(rc == -EAGAIN,
               "%s: after message %llu the reader found %d (%s), %zu bytes: "
               "old payload taken for a commit word", label,
               (unsigned long long)(sent - 1), rc, shmkit_strerror(rc),
               rc == 0 ? n : 0);
    }
    CHECK(shmkit_reader_lost(r) == 0);
    CHECK_OK(shmkit_reader_close(r));
    CHECK_OK(shmkit_writer_close(w));
    CHECK_OK(shmkit_segment_unlink(name));
    printf("%s%s: %llu messages past a sprayed lap, no false record: ok\n",
           label, mode_name[mode], (unsigned long long)sent);
}

/* A multi-producer queue with two producers whose claims interleave: A
 * claims, B claims the place after A's, A commits.  A's commit cannot clear
 * the word after its claim (B owns it now); B must have cleared it before
 * it claimed, or the reader takes the sprayed word there for a record. */
static void spray_two_producers(void)
{
    const char *label = "multi-producer queue, two producers interleaved";
    char name[128];
    skt_name(name, sizeof name);
    cu_create(name, SHMKIT_KIND_QUEUE, CAP, 0, 1, 0);
    shmkit_writer_t *a, *b;
    shmkit_reader_t *r;
    CHECK_OK(shmkit_writer_open(name, NULL, &a));
    CHECK_OK(shmkit_writer_open(name, NULL, &b));
    CHECK_OK(shmkit_reader_open(name, NULL, &r));
    spray(a, r, hdr_of(SHMKIT_KIND_QUEUE));
    size_t n;
    uint64_t sent = 0, bytes = hdr_of(SHMKIT_KIND_QUEUE) + SPRAY;
    while (bytes < 2 * CAP) {
        void *pa, *pb;
        uint64_t va = 0xaaaa000000000000ull | sent, vb = 0xbbbb000000000000ull | sent;
        CHECK_OK(shmkit_writer_reserve(a, 8, &pa, 0));
        CHECK_OK(shmkit_writer_reserve(b, 8, &pb, 0));
        memcpy(pa, &va, 8);
        memcpy(pb, &vb, 8);
        CHECK_OK(shmkit_writer_commit(a, 8));
        uint64_t got = 0;
        int rc = shmkit_reader_recv(r, &got, sizeof got, &n, 0);
        CHECKF(rc == 0 && got == va, "%s: A's message %llu: rc %d, 0x%llx", label,
               (unsigned long long)sent, rc, (unsigned long long)got);
        const void *p;
        rc = shmkit_reader_peek(r, &p, &n, 0);
        CHECKF(rc == -EAGAIN, "%s: before B's commit %llu the reader found %d "
               "(%s), %zu bytes", label, (unsigned long long)sent, rc,
               shmkit_strerror(rc), rc == 0 ? n : 0);
        CHECK_OK(shmkit_writer_commit(b, 8));
        rc = shmkit_reader_recv(r, &got, sizeof got, &n, 0);
        CHECKF(rc == 0 && got == vb, "%s: B's message %llu: rc %d, 0x%llx", label,
               (unsigned long long)sent, rc, (unsigned long long)got);
        sent++;
        bytes += 2 * cu_rec_size(SHMKIT_KIND_QUEUE, 8);
    }
    CHECK_OK(shmkit_reader_close(r));
    CHECK_OK(shmkit_writer_close(a));
    CHECK_OK(shmkit_writer_close(b));
    CHECK_OK(shmkit_segment_unlink(name));
    printf("%s: %llu pairs past a sprayed lap, no false record: ok\n", label,
           (unsigned long long)sent);
}

/* A multi-producer queue whose producer closes with a claim open: the
 * claim becomes a pad, which leads the reader to the word after it, never
 * committed by anyone: it must be cleared there too. */
static void spray_abandoned_claims(void)
{
    const char *label = "multi-producer queue, abandoned claims";
    char name[128];
    skt_name(name, sizeof name);
    cu_create(name, SHMKIT_KIND_QUEUE, CAP, 0, 1, 0);
    shmkit_writer_t *b;
    shmkit_reader_t *r;
    CHECK_OK(shmkit_writer_open(name, NULL, &b));
    CHECK_OK(shmkit_reader_open(name, NULL, &r));
    spray(b, r, hdr_of(SHMKIT_KIND_QUEUE));
    size_t n;
    uint64_t sent = 0, bytes = hdr_of(SHMKIT_KIND_QUEUE) + SPRAY;
    while (bytes < 2 * CAP) {
        shmkit_writer_t *a;
        void *pa;
        CHECK_OK(shmkit_writer_open(name, NULL, &a));
        CHECK_OK(shmkit_writer_reserve(a, 8, &pa, 0));
        CHECK_OK(shmkit_writer_close(a)); /* the claim becomes a pad */
        const void *p;
        int rc = shmkit_reader_peek(r, &p, &n, 0);
        CHECKF(rc == -EAGAIN, "%s: after abandoned claim %llu the reader found "
               "%d (%s), %zu bytes", label, (unsigned long long)sent, rc,
               shmkit_strerror(rc), rc == 0 ? n : 0);
        uint64_t v = 0xcccc000000000000ull | sent, got = 0;
        CHECK_OK(shmkit_writer_send(b, &v, 8, 0));
        rc = shmkit_reader_recv(r, &got, sizeof got, &n, 0);
        CHECKF(rc == 0 && got == v, "%s: message %llu: rc %d, 0x%llx", label,
               (unsigned long long)sent, rc, (unsigned long long)got);
        sent++;
        bytes += 2 * cu_rec_size(SHMKIT_KIND_QUEUE, 8); /* the pad, the message */
    }
    CHECK_OK(shmkit_reader_close(r));
    CHECK_OK(shmkit_writer_close(b));
    CHECK_OK(shmkit_segment_unlink(name));
    printf("%s: %llu past a sprayed lap, no false record: ok\n", label,
           (unsigned long long)sent);
}

int main(void)
{
    cu_init("test_chan_spoof", 60);
    for (int mode = PLAIN; mode <= SHORT; mode++) {
        spray_run("queue", SHMKIT_KIND_QUEUE, 0, 0, mode);
        spray_run("multi-producer queue", SHMKIT_KIND_QUEUE, 0, 1, mode);
        spray_run("reliable bus", SHMKIT_KIND_BUS, 1, 0, mode);
        spray_run("lossy bus", SHMKIT_KIND_BUS, 0, 0, mode);
    }
    spray_two_producers();
    spray_abandoned_claims();
    return cu_result();
}
