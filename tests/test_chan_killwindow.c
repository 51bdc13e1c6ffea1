/*
 * test_chan_killwindow - a writer killed between the stores of one commit.
 *
 * A ring commit is several stores: the record's word (the commit proper),
 * then the pair (tail, sequence number) into the spare one of two slots,
 * then the version word tailv that makes it current.  A SIGKILL can land
 * between any two of them.  Random kills (test_chan_crash) hit those windows too
 * rarely, so this test puts a writer in each window on purpose: the writer
 * process sends 10 messages, flushing before the last and after it (a flush
 * publishes the tail), and waits; the parent steps tailv back to the
 * version before the last commit (the state a kill between the word and the
 * publication leaves), and for the "seq" cases also half-fills the spare
 * slot (a kill inside the publication), then SIGKILLs the writer.
 * A new writer then opens the channel and sends 5 messages.  Every
 * committed message must reach the reader once, in order, and so must every
 * message of the new writer; the new writer must be able to open.
 *
 *   queue/unread  SP queue, the consumer had read nothing; tail rewound
 *   queue/read    SP queue, the consumer had read all 10; tail rewound
 *   bus/tail      reliable bus, the reader had read all 10; tail rewound
 *   bus/seq       reliable bus, killed inside the (tail, seq) update
 *   lossy/seq     lossy bus, killed inside the (tail, seq) update
 *   queue/lazy, bus/lazy, lossy/lazy
 *                 the writer publishes its (tail, seq) only every
 *                 SK_PUB_EVERY bytes: killed with all 10 commits beyond
 *                 the tail it published at open (no rewind needed)
 *
 * Then the "late" cases: an end dies, and only then another process
 * attaches (and may be given the dead one's attach slot, which the segment
 * layer reuses).  The dead end must stay dead:
 *
 *   late/bus      the bus writer dies, a reader attaches: the reader sees
 *                 SHMKIT_E_PEER_GONE, stat says the writer is dead, and a
 *                 new writer opens (no BUSY)
 *   late/latest   the same for latest
 *   late/queue    the consumer dies, a producer attaches: a new consumer
 *                 opens (no BUSY)
 *   late/mp       a producer dies holding a reservation, another producer
 *                 attaches: the consumer gets past the dead claim (and
 *                 counts a producer death)
 *
 * White-box: the offsets come from src/channel.h.
 */
#include "chan_util.h"

#include "../src/channel.h"

#define L0 100u  /* the killed writer's messages */
#define L1 60u   /* the new writer's */
#define N0 10
#define N1 5

static char name[128];
static int ready[2];

/* lazy: leave the tail as the writer publishes it by itself, every
 * SK_PUB_EVERY bytes, so all N0 records lie beyond it; otherwise flush
 * before the last message and after it, so the pair's other slot holds
 * the tail before the last commit */
static int writer0(void *arg)
{
    int lazy = arg != NULL;
    shmkit_writer_t *w;
    CHECK_OK(shmkit_writer_open(name, NULL, &w));
    uint8_t buf[L0];
    for (uint64_t i = 0; i < N0; i++) {
        if (!lazy && i == N0 - 1)
            CHECK_OK(shmkit_writer_flush(w));
        cu_msg_make(buf, L0, 0, 0, i);
        CHECK_OK(shmkit_writer_send(w, buf, L0, 0));
    }
    if (!lazy)
        CHECK_OK(shmkit_writer_flush(w));
    cu_signal_fd(ready[1]);
    sleep(30);
    return SKT_FAIL;
}

struct kcase {
    const char *what;
    shmkit_kind_t kind;
    int reliable;
    int read_first; /* the reader read the N0 messages before the kill */
    int rewind_seq;
    int lazy; /* no rewind: the tail as the writer left it, behind them all */
};

static void run(const struct kcase *c)
{
    skt_name(name, sizeof name);
    cu_create(name, c->kind, 65536, c->reliable, 0, 0);
    shmkit_reader_t *r = NULL;
    shmkit_endpoint_opts_t eo;
    shmkit_endpoint_opts_init(&eo);
    CHECK_OK(shmkit_reader_open(name, &eo, &r));
    cu_pipe(ready);
    pid_t w0 = cu_spawn(writer0, c->lazy ? (void *)1 : NULL);
    CHECK(cu_wait_fd(ready[0], 1, 10000) == 0);

    uint8_t buf[4096];
    size_t n;
    uint64_t got0 = 0, got1 = 0;
    int bad = 0;
    if (c->read_first)
        for (; got0 < N0; got0++) {
            CHECK_OK(shmkit_reader_recv(r, buf, sizeof buf, &n, 1000000000ll));
            struct cu_msg m;
            CHECK(cu_msg_check(buf, n, &m) == NULL && m.seq == got0);
        }
    /* the state a kill between the stores of the last commit leaves */
    shmkit_segment_t *h;
    CHECK_OK(shmkit_segment_open(name, NULL, &h));
    struct sk_chan *ch = shmkit_segment_data(h);
    uint64_t v = atomic_load(&ch->tailv);
    uint64_t tail = atomic_load(&ch->pair[v & 1].tail);
    uint64_t seq = atomic_load(&ch->pair[v & 1].seq);
    uint64_t rec0 = cu_rec_size(c->kind, L0);
    if (c->lazy) {
        CHECKF(tail == 0 && seq == 0 && N0 * rec0 < SK_PUB_EVERY,
               "the writer published its tail (%llu, seq %llu) early",
               (unsigned long long)tail, (unsigned long long)seq);
    } else {
        CHECK(tail == N0 * rec0 && seq == N0);
        /* killed after the word, before publishing: the previous version
         * (the other slot still holds it) is the current one */
        atomic_store(&ch->tailv, v - 1);
        CHECK(atomic_load(&ch->pair[(v - 1) & 1].tail) == tail - rec0);
        if (c->rewind_seq) /* killed while filling the next slot */
            atomic_store(&ch->pair[v & 1].seq, seq - 1);
    }
    CHECK_OK(shmkit_segment_close(h));
    cu_kill(w0);
    close(ready[0]);
    close(ready[1]);

    /* a new writer takes over */
    shmkit_writer_t *w1 = NULL;
    int rc = shmkit_writer_open(name, NULL, &w1);
    EXPECT(rc == 0, "%s: the new writer cannot open: %d (%s)", c->what, rc,
           shmkit_strerror(rc));
    if (rc == 0) {
        for (uint64_t i = 0; i < N1; i++) {
            cu_msg_make(buf, L1, 1, 1, i);
            CHECK_OK(shmkit_writer_send(w1, buf, L1, 1000000000ll));
        }
        CHECK_OK(shmkit_writer_close(w1));
    }
    /* the reader: the rest of the killed writer's, then the new one's */
    for (int guard = 0; guard < 100; guard++) {
        rc = shmkit_reader_recv(r, buf, sizeof buf, &n, 1000000000ll);
        if (rc == SHMKIT_E_LOST || rc == SHMKIT_E_OVERRUN)
            continue; /* counted in lost(), checked below */
        if (rc != 0)
            break; /* the new writer closed: CLOSED is the only good end */
        struct cu_msg m;
        const char *why = cu_msg_check(buf, n, &m);
        if (why) {
            EXPECT(0, "%s: a message of %zu bytes: %s", c->what, n, why);
            bad++;
            continue;
        }
        uint64_t *got = m.gen ? &got1 : &got0;
        if (m.seq != *got && !bad) {
            EXPECT(0, "%s: writer %u message %llu, expected %llu", c->what,
                   m.gen, (unsigned long long)m.seq, (unsigned long long)*got);
            bad++;
        }
        *got = m.seq + 1;
    }
    EXPECT(got0 == N0 && got1 == N1 && rc == SHMKIT_E_CLOSED,
           "%s: the reader got %llu of %d committed messages of the killed "
           "writer and %llu of %d of the new one, then %d (%s); lost() = %llu",
           c->what, (unsigned long long)got0, N0, (unsigned long long)got1, N1,
           rc, shmkit_strerror(rc), (unsigned long long)shmkit_reader_lost(r));
    CHECK_OK(shmkit_reader_close(r));
    CHECK_OK(shmkit_segment_unlink(name));
    printf("%s: done\n", c->what);
}

/* ---- late attach --------------------------------------------------------- */

static int holder(void *arg)
{
    int what = (int)(intptr_t)arg; /* 0 writer, 1 reader, 2 reserve */
    shmkit_writer_t *w;
    shmkit_reader_t *r;
    if (what == 1) {
        CHECK_OK(shmkit_reader_open(name, NULL, &r));
    } else {
        CHECK_OK(shmkit_writer_open(name, NULL, &w));
        if (what == 2) {
            uint8_t buf[L0];
            for (uint64_t i = 0; i < 3; i++) {
                cu_msg_make(buf, L0, 0, 0, i);
                CHECK_OK(shmkit_writer_send(w, buf, L0, 0));
            }
            void *p;
            CHECK_OK(shmkit_writer_reserve(w, L0, &p, 0));
        }
    }
    cu_signal_fd(ready[1]);
    sleep(30);
    return SKT_FAIL;
}

static void kill_holder(int what)
{
    cu_pipe(ready);
    pid_t h = cu_spawn(holder, (void *)(intptr_t)what);
    CHECK(cu_wait_fd(ready[0], 1, 10000) == 0);
    cu_kill(h);
    close(ready[0]);
    close(ready[1]);
}

static void late_single_writer(shmkit_kind_t kind)
{
    const char *what = kind == SHMKIT_KIND_BUS ? "late/bus" : "late/latest";
    skt_name(name, sizeof name);
    cu_create(name, kind, 65536, 1, 0, 0);
    kill_holder(0);
    shmkit_reader_t *r;
    CHECK_OK(shmkit_reader_open(name, NULL, &r)); /* may get the dead slot */
    uint8_t buf[256];
    size_t n;
    int rc = shmkit_reader_recv(r, buf, sizeof buf, &n, 200000000);
    EXPECT(rc == SHMKIT_E_PEER_GONE, "%s: a reader that attached after the "
           "writer died gets %d (%s), not PEER_GONE", what, rc,
           shmkit_strerror(rc));
    shmkit_channel_stat_t st;
    CHECK_OK(shmkit_channel_stat(name, &st));
    EXPECT(st.writer_alive == 0, "%s: stat says writer pid %lld is alive (the "
           "reader is pid %d)", what, (long long)st.writer_pid, (int)getpid());
    shmkit_writer_t *w;
    rc = shmkit_writer_open(name, NULL, &w);
    EXPECT(rc == 0, "%s: a new writer after the old one died: %d (%s): %s", what,
           rc, shmkit_strerror(rc), shmkit_last_error());
    if (rc == 0) {
        cu_msg_make(buf, L1, 1, 1, 0);
        CHECK_OK(shmkit_writer_send(w, buf, L1, 0));
        CHECK_OK(shmkit_writer_close(w));
        rc = shmkit_reader_recv(r, buf, sizeof buf, &n, 200000000);
        EXPECT(rc == 0 && cu_msg_check(buf, n, NULL) == NULL,
               "%s: the new writer's message: %d", what, rc);
    }
    CHECK_OK(shmkit_reader_close(r));
    CHECK_OK(shmkit_segment_unlink(name));
    printf("%s: done\n", what);
}

static void late_queue_consumer(void)
{
    skt_name(name, sizeof name);
    cu_create(name, SHMKIT_KIND_QUEUE, 65536, 0, 0, 0);
    kill_holder(1);
    shmkit_writer_t *w;
    CHECK_OK(shmkit_writer_open(name, NULL, &w)); /* may get the dead slot */
    shmkit_reader_t *r;
    int rc = shmkit_reader_open(name, NULL, &r);
    EXPECT(rc == 0, "late/queue: a new consumer after the old one died: %d "
           "(%s): %s", rc, shmkit_strerror(rc), shmkit_last_error());
    if (rc == 0)
        CHECK_OK(shmkit_reader_close(r));
    CHECK_OK(shmkit_writer_close(w));
    CHECK_OK(shmkit_segment_unlink(name));
    printf("late/queue: done\n");
}

static void late_mp_claim(void)
{
    skt_name(name, sizeof name);
    cu_create(name, SHMKIT_KIND_QUEUE, 65536, 0, 1, 0);
    shmkit_reader_t *r;
    CHECK_OK(shmkit_reader_open(name, NULL, &r));
    kill_holder(2); /* 3 messages, then dies holding a claim */
    shmkit_writer_t *w;
    CHECK_OK(shmkit_writer_open(name, NULL, &w)); /* may get the dead slot */
    uint8_t buf[256];
    size_t n;
    cu_msg_make(buf, L1, 1, 1, 0);
    CHECK_OK(shmkit_writer_send(w, buf, L1, 0));
    int got = 0, rc;
    while ((rc = shmkit_reader_recv(r, buf, sizeof buf, &n, 1000000000ll)) == 0) {
        struct cu_msg m;
        CHECK(cu_msg_check(buf, n, &m) == NULL);
        if (++got == 4)
            break;
    }
    EXPECT(got == 4, "late/mp: the consumer got %d of 4 messages, then %d (%s): "
           "stuck behind the dead producer's claim", got, rc,
           shmkit_strerror(rc));
    shmkit_channel_stat_t st;
    CHECK_OK(shmkit_channel_stat(name, &st));
    EXPECT(st.producer_deaths == 1, "late/mp: %llu producer deaths counted",
           (unsigned long long)st.producer_deaths);
    CHECK_OK(shmkit_writer_close(w));
    CHECK_OK(shmkit_reader_close(r));
    CHECK_OK(shmkit_segment_unlink(name));
    printf("late/mp: done\n");
}

int main(void)
{
    cu_init("test_chan_killwindow", 120);
    static const struct kcase cases[] = {
        {"queue/unread: killed between the word and the tail", SHMKIT_KIND_QUEUE,
         0, 0, 0, 0},
        {"queue/read: killed between the word and the tail", SHMKIT_KIND_QUEUE,
         0, 1, 0, 0},
        {"bus/tail: killed between the word and the tail", SHMKIT_KIND_BUS, 1,
         1, 0, 0},
        {"bus/seq: killed inside the (tail, seq) update", SHMKIT_KIND_BUS, 1,
         1, 1, 0},
        {"lossy/seq: killed inside the (tail, seq) update", SHMKIT_KIND_BUS, 0,
         1, 1, 0},
        {"queue/lazy: killed with all its commits beyond the tail",
         SHMKIT_KIND_QUEUE, 0, 0, 0, 1},
        {"bus/lazy: killed with all its commits beyond the tail", SHMKIT_KIND_BUS,
         1, 1, 0, 1},
        {"lossy/lazy: killed with all its commits beyond the tail",
         SHMKIT_KIND_BUS, 0, 0, 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run(&cases[i]);
    late_single_writer(SHMKIT_KIND_BUS);
    late_single_writer(SHMKIT_KIND_LATEST);
    late_queue_consumer();
    late_mp_claim();
    return cu_result();
}
