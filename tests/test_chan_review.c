/*
 * test_chan_review - bugs a code review of the ring found (2026-12-02).
 * Each part fails on the code before the fix.
 *
 *  1. Pads in a row: on a multi-producer queue a short commit leaves a pad,
 *     and a producer that dies holding a claim across the ring's end leaves
 *     its own wrap pad and its claim (padded by the consumer): three pads in
 *     a row are legitimate, and the consumer used to call them CORRUPT.
 *  2. A dead producer's claim not yet behind the tail (it lost the race for
 *     it, or died between announcing it and taking it) is not its space:
 *     when the winner of that space died too, the consumer used to pad the
 *     loser's longer claim, jump past the tail, and miss later messages.
 *  3. A producer that reuses the attach slot of a dead one must not pad the
 *     dead one's stale claim while a live producer owns that space.
 *  4. Closing or detaching with an open reservation publishes nothing:
 *     latest used to replace the value with an empty one, and a queue
 *     delivered a 0-byte message nobody sent.
 *  5. A writer_open that fails after taking the writer role (a queue whose
 *     positions are inconsistent) gives the role back, so readers do not
 *     report the death of a writer that never ran; and when the writer
 *     before it died, gives back exactly that, so its readers still learn
 *     it (they used to wait for a writer that might come, for ever), and
 *     writes nothing into the channel first.
 *  6. A producer that loses the race for a claim withdraws it before it
 *     waits or gives up: two producers fill a small ring with timeout 0 over
 *     and over; each time, no producer's endpoint may still announce one.
 *  7. A timeout is a deadline: a producer waiting for room that another
 *     producer keeps taking first (a small sender that keeps the ring full
 *     while the consumer frees a little at a time) gives up when its
 *     timeout ends; it used to start the timeout again after every wake-up
 *     and wait for as long as the other producer sent.
 *  8. A producer that reuses the slot of one that lost the race for a
 *     claim and died pads nothing of that claim when another producer's
 *     claim starts inside it: that space was the others'.  The new owner
 *     used to pad from the dead loser's start to its end, over a live
 *     producer's claim behind the dead winner's, and the consumer skipped
 *     that producer's message.
 *  9. ... but pads all of a dead winner's claim when a shorter dead claim
 *     (a loser's, never withdrawn) starts at the same place: the first
 *     version of 8's fix padded only as far as the shorter claim, cleared
 *     the winner's, and left the consumer stuck behind it.
 */
#include "chan_util.h"

#include "../src/channel.h"

static char name[128];
static int ready[2];

/* Maps the channel's segment to look at (or, in 2 and 3, to forge) what a
 * producer announces. */
static struct sk_chan *map_chan(shmkit_segment_t **h)
{
    shmkit_segment_opts_t o;
    shmkit_segment_opts_init(&o);
    CHECK_OK(shmkit_segment_open(name, &o, h));
    return (struct sk_chan *)shmkit_segment_data(*h);
}

static uint64_t word_at(struct sk_chan *ch, uint64_t pos)
{
    unsigned char *ring = (unsigned char *)ch + SK_RING_OFFSET;
    return atomic_load((_Atomic uint64_t *)(void *)(ring + (pos & (ch->capacity - 1))));
}

static void open_mp(shmkit_writer_t **w, shmkit_reader_t **r)
{
    skt_name(name, sizeof name);
    cu_create(name, SHMKIT_KIND_QUEUE, 4096, 0, 1, 0);
    shmkit_endpoint_opts_t eo;
    cu_eo(&eo, SHMKIT_WAIT_ADAPTIVE);
    CHECK_OK(shmkit_writer_open(name, &eo, w));
    if (r)
        CHECK_OK(shmkit_reader_open(name, &eo, r));
}

static void recv_expect(shmkit_reader_t *r, size_t len, char fill, int64_t timeout_ns)
{
    char buf[2048];
    size_t n = 0;
    int rc = shmkit_reader_recv(r, buf, sizeof buf, &n, timeout_ns);
    CHECKF(rc == 0, "recv: %d (%s), expected a %zu-byte message", rc,
           shmkit_strerror(rc), len);
    CHECKF(n == len, "recv: %zu bytes, expected %zu", n, len);
    for (size_t i = 0; i < n; i++)
        CHECKF(buf[i] == fill, "byte %zu is %#x, expected %#x", i,
               (unsigned)(unsigned char)buf[i], (unsigned)(unsigned char)fill);
}

static void send_fill(shmkit_writer_t *w, size_t len, char fill)
{
    char buf[2048];
    memset(buf, fill, len);
    CHECK_OK(shmkit_writer_send(w, buf, len, 0));
}

/* Closes what a part opened (h may be NULL), removes the channel and the
 * part's pipe. */
static void finish(shmkit_segment_t *h, shmkit_reader_t *r, int had_pipe)
{
    if (h)
        CHECK_OK(shmkit_segment_close(h));
    CHECK_OK(shmkit_reader_close(r));
    CHECK_OK(shmkit_segment_unlink(name));
    if (had_pipe) {
        close(ready[0]);
        close(ready[1]);
    }
}

/* ---- 1 ------------------------------------------------------------------ */

static int die_with_wrapping_claim(void *arg)
{
    (void)arg;
    shmkit_writer_t *w;
    void *p;
    if (shmkit_writer_open(name, NULL, &w) != 0 ||
        shmkit_writer_reserve(w, 100, &p, 0) != 0)
        _exit(2);
    _exit(0); /* dies holding the claim */
}

static void pads_in_a_row(void)
{
    shmkit_writer_t *w;
    shmkit_reader_t *r;
    open_mp(&w, &r);
    for (int i = 0; i < 3; i++)
        send_fill(w, 1000, (char)('a' + i));
    void *p;
    CHECK_OK(shmkit_writer_reserve(w, 1000, &p, 0));
    memset(p, 'z', 8);
    CHECK_OK(shmkit_writer_commit(w, 8)); /* a short commit: a pad behind it */
    for (int i = 0; i < 3; i++)
        recv_expect(r, 1000, (char)('a' + i), 0);
    recv_expect(r, 8, 'z', 0);
    CHECK(cu_reap(cu_spawn(die_with_wrapping_claim, NULL), "producer") == 0);
    char buf[64];
    size_t n;
    int rc = shmkit_reader_recv(r, buf, sizeof buf, &n, 300000000);
    CHECKF(rc == -ETIMEDOUT, "recv after the producer died: %d (%s), expected "
           "a timeout (three pads in a row are legitimate)", rc, shmkit_strerror(rc));
    send_fill(w, 50, 'm');
    recv_expect(r, 50, 'm', 1000000000);
    shmkit_channel_stat_t cs;
    CHECK_OK(shmkit_channel_stat(name, &cs));
    CHECKF(cs.producer_deaths == 1, "%llu producer deaths counted",
           (unsigned long long)cs.producer_deaths);
    CHECK_OK(shmkit_writer_close(w));
    finish(NULL, r, 0);
    printf("mp queue: a short commit's pad, a dead producer's wrap pad and "
           "claim in a row are stepped over: ok\n");
}

/* ---- 2 and 3 ------------------------------------------------------------ */

struct forged {
    uint64_t pos, end;
};

/* A producer that announces a claim and dies before taking it (or after
 * losing the CAS for it): the state reserve_multi leaves at that moment. */
static int die_announcing(void *arg)
{
    struct forged *f = arg;
    shmkit_writer_t *w;
    if (shmkit_writer_open(name, NULL, &w) != 0)
        _exit(2);
    atomic_store(&w->v.ep->claim_end, f->end);
    atomic_store(&w->v.ep->claim_pos, f->pos);
    int32_t slot = w->v.slot;
    if (write(ready[1], &slot, sizeof slot) != sizeof slot)
        _exit(3);
    _exit(0);
}

/* A producer that takes a claim for real and hangs until it is killed. */
static int claim_and_hang(void *arg)
{
    (void)arg;
    shmkit_writer_t *w;
    void *p;
    if (shmkit_writer_open(name, NULL, &w) != 0 ||
        shmkit_writer_reserve(w, 50, &p, 0) != 0)
        _exit(2);
    int32_t slot = w->v.slot;
    if (write(ready[1], &slot, sizeof slot) != sizeof slot)
        _exit(3);
    for (;;)
        pause();
}

/* A multi-producer queue (w, r, its control block ch through h) whose
 * consumer has read everything, and two dead producers at its tail t0: a
 * winner that claimed [t0, t0 + 64) (a 50-byte message) and was killed
 * before committing, and a loser, in a later attach slot, that announced
 * [t0, t0 + loser_bytes), lost the race for it and died before it withdrew
 * it.  Their slots in *ws and *ls; returns t0. */
static uint64_t dead_winner_and_loser(uint64_t loser_bytes, shmkit_writer_t **w,
                                      shmkit_reader_t **r, shmkit_segment_t **h,
                                      struct sk_chan **ch, int32_t *ws,
                                      int32_t *ls)
{
    open_mp(w, r);
    send_fill(*w, 40, 'a');
    recv_expect(*r, 40, 'a', 0);
    *ch = map_chan(h);
    uint64_t t0 = atomic_load(&(*ch)->tail);
    cu_pipe(ready);
    pid_t winner = cu_spawn(claim_and_hang, NULL);
    CHECK(read(ready[0], ws, sizeof *ws) == sizeof *ws);
    struct forged f = {t0, t0 + loser_bytes};
    CHECK(cu_reap(cu_spawn(die_announcing, &f), "producer") == 0);
    CHECK(read(ready[0], ls, sizeof *ls) == sizeof *ls);
    CHECKF(*ls > *ws, "the loser took slot %d, the winner %d: the test did "
           "not set up what it checks", *ls, *ws);
    cu_kill(winner);
    CHECK(atomic_load(&(*ch)->tail) == t0 + cu_rec_size(SHMKIT_KIND_QUEUE, 50));
    return t0;
}

static void unwon_claim_is_not_padded(void)
{
    shmkit_writer_t *w;
    shmkit_reader_t *r;
    shmkit_segment_t *h;
    struct sk_chan *ch;
    int32_t ws = -1, ls = -1;
    /* the loser's claim is the longer one, and ends past the tail */
    dead_winner_and_loser(216, &w, &r, &h, &ch, &ws, &ls);
    char buf[64];
    size_t n;
    /* the consumer waits at the dead winner's claim and pads it */
    int rc = shmkit_reader_recv(r, buf, sizeof buf, &n, 300000000);
    CHECKF(rc == -ETIMEDOUT, "recv: %d (%s), expected a timeout", rc,
           shmkit_strerror(rc));
    send_fill(w, 50, 'm');
    recv_expect(r, 50, 'm', 1000000000);
    send_fill(w, 300, 'n');
    recv_expect(r, 300, 'n', 1000000000);
    shmkit_channel_stat_t cs;
    CHECK_OK(shmkit_channel_stat(name, &cs));
    CHECKF(cs.producer_deaths == 1, "%llu producer deaths counted",
           (unsigned long long)cs.producer_deaths);
    CHECK_OK(shmkit_writer_close(w));
    finish(h, r, 1);
    printf("mp queue: of two dead claims at the consumer, the one never won "
           "is not padded past the tail: ok\n");
}

static void reused_slot_spares_a_live_claim(void)
{
    shmkit_writer_t *q, *s, *rw;
    shmkit_reader_t *r;
    open_mp(&q, &r);
    CHECK_OK(shmkit_writer_open(name, NULL, &s));
    shmkit_segment_t *h;
    struct sk_chan *ch = map_chan(&h);
    uint64_t pos1 = atomic_load(&ch->tail);
    void *p;
    CHECK_OK(shmkit_writer_reserve(q, 100, &p, 0)); /* q is still writing */
    send_fill(s, 200, 's');
    /* a producer that lost the race for pos1 (wanting 200 bytes) and died */
    struct forged f = {pos1, pos1 + 216};
    cu_pipe(ready);
    CHECK(cu_reap(cu_spawn(die_announcing, &f), "producer") == 0);
    int32_t dead_slot = -1;
    CHECK(read(ready[0], &dead_slot, sizeof dead_slot) == sizeof dead_slot);
    CHECK_OK(shmkit_writer_open(name, NULL, &rw));
    CHECKF(rw->v.slot == dead_slot, "the new producer took slot %d, not the "
           "dead one's %d: the test did not set up what it checks",
           rw->v.slot, dead_slot);
    uint64_t wd = word_at(ch, pos1);
    CHECKF(!(sk_word_tag_ok(wd, pos1) && (wd & SK_W_PAD)),
           "the live producer's claim at %llu was padded (word %#llx)",
           (unsigned long long)pos1, (unsigned long long)wd);
    memset(p, 'q', 100);
    CHECK_OK(shmkit_writer_commit(q, 100));
    recv_expect(r, 100, 'q', 1000000000);
    recv_expect(r, 200, 's', 1000000000);
    send_fill(rw, 10, 'r');
    recv_expect(r, 10, 'r', 1000000000);
    CHECK_OK(shmkit_writer_close(q));
    CHECK_OK(shmkit_writer_close(s));
    CHECK_OK(shmkit_writer_close(rw));
    finish(h, r, 1);
    printf("mp queue: a producer reusing a dead one's slot leaves a live "
           "producer's claim alone: ok\n");
}

/* ---- 4 ------------------------------------------------------------------ */

static void abandoned_reservations(void)
{
    shmkit_endpoint_opts_t eo;
    cu_eo(&eo, SHMKIT_WAIT_ADAPTIVE);
    shmkit_writer_t *w;
    shmkit_reader_t *r;
    void *p;
    char buf[4096];
    size_t n;

    /* latest: the value stays the last one committed */
    for (int detach = 0; detach < 2; detach++) {
        skt_name(name, sizeof name);
        cu_create(name, SHMKIT_KIND_LATEST, 64, 0, 0, 0);
        CHECK_OK(shmkit_writer_open(name, &eo, &w));
        CHECK_OK(shmkit_reader_open(name, &eo, &r));
        CHECK_OK(shmkit_writer_send(w, "hello", 5, 0));
        CHECK_OK(shmkit_writer_reserve(w, 5, &p, 0));
        memcpy(p, "XXXXX", 5);
        CHECK_OK(detach ? shmkit_writer_detach(w) : shmkit_writer_close(w));
        int rc = shmkit_reader_recv(r, buf, sizeof buf, &n, 0);
        CHECKF(rc == 0 && n == 5 && !memcmp(buf, "hello", 5),
               "latest after %s with a reservation open: rc %d, %zu bytes",
               detach ? "detach" : "close", rc, n);
        CHECK_OK(shmkit_reader_close(r));
        CHECK_OK(shmkit_segment_unlink(name));
    }

    /* single-producer queue and bus: no empty message; a wrap pad written
     * by the reservation is stepped over by the next writer */
    for (int kind = 0; kind < 2; kind++) {
        skt_name(name, sizeof name);
        cu_create(name, kind ? SHMKIT_KIND_BUS : SHMKIT_KIND_QUEUE, 4096, kind, 0, 2000);
        CHECK_OK(shmkit_writer_open(name, &eo, &w));
        CHECK_OK(shmkit_reader_open(name, &eo, &r));
        send_fill(w, 1000, 'a');
        send_fill(w, 1000, 'b');
        send_fill(w, 1000, 'c');
        recv_expect(r, 1000, 'a', 0);
        recv_expect(r, 1000, 'b', 0);
        recv_expect(r, 1000, 'c', 0);
        CHECK_OK(shmkit_writer_reserve(w, 1500, &p, 0)); /* wraps: a pad */
        memset(p, 'X', 1500);
        CHECK_OK(shmkit_writer_detach(w));
        int rc = shmkit_reader_recv(r, buf, sizeof buf, &n, 0);
        CHECKF(rc == -EAGAIN, "%s after detach with a reservation open: rc %d "
               "(%s), %zu bytes; expected nothing", kind ? "bus" : "queue", rc,
               shmkit_strerror(rc), rc == 0 ? n : 0);
        CHECK_OK(shmkit_writer_open(name, &eo, &w));
        send_fill(w, 700, 'd');
        recv_expect(r, 700, 'd', 1000000000);
        CHECK_OK(shmkit_writer_reserve(w, 10, &p, 0));
        CHECK_OK(shmkit_writer_close(w));
        rc = shmkit_reader_recv(r, buf, sizeof buf, &n, 1000000000);
        CHECKF(rc == SHMKIT_E_CLOSED, "%s after close with a reservation "
               "open: rc %d (%s); expected CLOSED", kind ? "bus" : "queue", rc,
               shmkit_strerror(rc));
        CHECK_OK(shmkit_reader_close(r));
        CHECK_OK(shmkit_segment_unlink(name));
    }

    /* multi-producer queue: the claim becomes a pad */
    shmkit_writer_t *w2;
    open_mp(&w, &r);
    CHECK_OK(shmkit_writer_open(name, &eo, &w2));
    send_fill(w, 30, 'a');
    CHECK_OK(shmkit_writer_reserve(w2, 100, &p, 0));
    send_fill(w, 30, 'b'); /* behind w2's claim */
    CHECK_OK(shmkit_writer_close(w2));
    recv_expect(r, 30, 'a', 0);
    recv_expect(r, 30, 'b', 1000000000);
    shmkit_channel_stat_t cs;
    CHECK_OK(shmkit_channel_stat(name, &cs));
    CHECKF(cs.producer_deaths == 0, "a clean close counted as %llu deaths",
           (unsigned long long)cs.producer_deaths);
    CHECK_OK(shmkit_writer_close(w));
    finish(NULL, r, 0);
    printf("close/detach with a reservation open publishes nothing (latest, "
           "queue, bus, mp queue): ok\n");
}

/* ---- 5 ------------------------------------------------------------------ */

/* A writer that sends one message of 100 'a' and dies with the channel open */
static int send_and_die(void *arg)
{
    (void)arg;
    shmkit_writer_t *w;
    char buf[100];
    memset(buf, 'a', sizeof buf);
    if (shmkit_writer_open(name, NULL, &w) != 0 ||
        shmkit_writer_send(w, buf, sizeof buf, 0) != 0)
        _exit(2);
    _exit(0); /* dies with the writer open (w still on the stack) */
}

static void failed_open_gives_the_role_back(void)
{
    skt_name(name, sizeof name);
    cu_create(name, SHMKIT_KIND_QUEUE, 4096, 0, 0, 0);
    shmkit_writer_t *w;
    CHECK_OK(shmkit_writer_open(name, NULL, &w));
    send_fill(w, 100, 'a');
    CHECK_OK(shmkit_writer_close(w));
    shmkit_segment_t *h;
    struct sk_chan *ch = map_chan(&h);
    /* a consumer ahead of the writer: positions no writer can work with */
    uint64_t v = atomic_load(&ch->tailv);
    atomic_store(&ch->qhead, atomic_load(&ch->pair[v & 1].tail) + 4096 * 4);
    int rc = shmkit_writer_open(name, NULL, &w);
    CHECKF(rc == SHMKIT_E_CORRUPT, "writer_open on inconsistent positions: %d "
           "(%s)", rc, shmkit_strerror(rc));
    int32_t ws = atomic_load(&ch->writer_slot);
    CHECKF(ws == -1, "the failed open left writer_slot = %d, not -1", ws);
    CHECK_OK(shmkit_segment_close(h));
    CHECK_OK(shmkit_segment_unlink(name));

    /* the writer before died: its readers must still learn it */
    skt_name(name, sizeof name);
    cu_create(name, SHMKIT_KIND_QUEUE, 4096, 0, 0, 0);
    /* mapped first: an attach made after the child died could take the
     * dead writer's slot, and the writer would look alive again */
    ch = map_chan(&h);
    pid_t kid = cu_spawn(send_and_die, NULL);
    CHECKF(cu_reap(kid, "writer") == 0, "the writer child failed");
    int32_t dead = atomic_load(&ch->writer_slot);
    CHECKF(dead >= 0, "the dead writer left writer_slot = %d", dead);
    uint64_t qh = atomic_load(&ch->qhead), tv = atomic_load(&ch->tailv);
    atomic_store(&ch->qhead, atomic_load(&ch->pair[tv & 1].tail) + 4096 * 4);
    rc = shmkit_writer_open(name, NULL, &w);
    CHECKF(rc == SHMKIT_E_CORRUPT, "writer_open on inconsistent positions "
           "after a dead writer: %d (%s)", rc, shmkit_strerror(rc));
    ws = atomic_load(&ch->writer_slot);
    CHECKF(ws == dead || ws == -2, "the failed open turned the dead writer's "
           "writer_slot %d into %d", dead, ws);
    CHECKF(atomic_load(&ch->tailv) == tv, "the failed open published a tail "
           "(tailv %llu -> %llu)", (unsigned long long)tv,
           (unsigned long long)atomic_load(&ch->tailv));
    atomic_store(&ch->qhead, qh);
    shmkit_reader_t *r;
    CHECK_OK(shmkit_reader_open(name, NULL, &r));
    recv_expect(r, 100, 'a', 1000000000);
    char buf[256];
    size_t n;
    uint64_t t0 = skt_now_ns();
    rc = shmkit_reader_recv(r, buf, sizeof buf, &n, 2000000000);
    CHECKF(rc == SHMKIT_E_PEER_GONE, "after the dead writer's message and a "
           "failed writer_open: %d (%s) after %.0f ms, expected PEER_GONE", rc,
           shmkit_strerror(rc), (double)(skt_now_ns() - t0) / 1e6);
    finish(h, r, 0);
    printf("queue: a writer_open that fails after taking the role gives it "
           "back (none before it, or a dead one that its readers still "
           "see): ok\n");
}

/* ---- 6 ------------------------------------------------------------------ */

static _Atomic int *round_go, *round_done;

static int filler(void *arg)
{
    int id = (int)(intptr_t)arg;
    shmkit_writer_t *w;
    if (shmkit_writer_open(name, NULL, &w) != 0)
        _exit(2);
    char buf[256];
    memset(buf, 'a' + id, sizeof buf);
    for (int round = 1;; round++) {
        while (atomic_load(round_go) < round)
            if (atomic_load(round_go) < 0)
                _exit(0);
        int rc;
        while ((rc = shmkit_writer_send(w, buf, 8 + (size_t)(round % 200), 0)) == 0)
            ;
        if (rc != -EAGAIN)
            _exit(3);
        atomic_fetch_add(round_done, 1);
    }
}

static void lost_claims_are_withdrawn(void)
{
    round_go = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                    -1, 0);
    CHECK(round_go != MAP_FAILED);
    round_done = round_go + 16;
    shmkit_writer_t *w;
    shmkit_reader_t *r;
    open_mp(&w, &r);
    CHECK_OK(shmkit_writer_close(w));
    pid_t kid[2];
    for (int i = 0; i < 2; i++)
        kid[i] = cu_spawn(filler, (void *)(intptr_t)i);
    shmkit_segment_t *h;
    struct sk_chan *ch = map_chan(&h);
    struct sk_ep *eps = (struct sk_ep *)(void *)((unsigned char *)ch + SK_EP_OFFSET);
    char buf[4096];
    size_t n;
    int rounds = 2000 * skt_scale();
    for (int round = 1; round <= rounds; round++) {
        atomic_store(round_go, round);
        uint64_t t0 = skt_now_ns();
        /* sleep, not spin: the two producers need both CPUs to race */
        while (atomic_load(round_done) < 2 * round) {
            CHECKF(skt_now_ns() - t0 < 10000000000ull, "round %d: the "
                   "producers did not finish", round);
            cu_sleep_ns(20000);
        }
        for (int i = 0; i < SHMKIT_MAX_ATTACH; i++)
            CHECKF(atomic_load(&eps[i].claim_pos) == SK_CLAIM_IDLE,
                   "round %d: slot %d still announces a claim at %llu after "
                   "its send gave up", round, i,
                   (unsigned long long)atomic_load(&eps[i].claim_pos));
        while (shmkit_reader_recv(r, buf, sizeof buf, &n, 0) == 0)
            ;
    }
    atomic_store(round_go, -1);
    for (int i = 0; i < 2; i++)
        CHECK(cu_reap(kid[i], "filler") == 0);
    finish(h, r, 0);
    munmap(round_go, 4096);
    printf("mp queue: %d rounds of two producers filling the ring: no claim "
           "left announced: ok\n", rounds);
}

/* ---- 7 ------------------------------------------------------------------ */

static _Atomic int *hog_stop;

/* keeps the ring full of 100-byte messages until told to stop, or for
 * 3 s at most (so that a reserve that never times out ends too) */
static int room_hog(void *arg)
{
    (void)arg;
    shmkit_writer_t *w;
    if (shmkit_writer_open(name, NULL, &w) != 0)
        return 2;
    char buf[100];
    memset(buf, 'h', sizeof buf);
    uint64_t t0 = skt_now_ns();
    while (!atomic_load(hog_stop) && skt_now_ns() - t0 < 3000000000ull) {
        int rc = shmkit_writer_send(w, buf, sizeof buf, 0);
        if (rc != 0 && rc != -EAGAIN)
            return 3;
    }
    return shmkit_writer_close(w) == 0 ? 0 : 4;
}

struct drip {
    shmkit_reader_t *r;
    _Atomic int stop;
    int bad;
};

/* the consumer: one message every 2 ms */
static void *dripper(void *arg)
{
    struct drip *d = arg;
    char buf[2048];
    size_t n;
    while (!atomic_load(&d->stop)) {
        int rc = shmkit_reader_recv(d->r, buf, sizeof buf, &n, 0);
        if (rc != 0 && rc != -EAGAIN)
            d->bad = rc;
        cu_sleep_ns(2000000);
    }
    return NULL;
}

static void timeout_is_a_deadline(void)
{
    hog_stop = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                    -1, 0);
    CHECK(hog_stop != MAP_FAILED);
    shmkit_writer_t *w;
    struct drip d = {0};
    open_mp(&w, &d.r);
    pid_t kid = cu_spawn(room_hog, NULL);
    /* the hog fills the ring before the consumer starts (otherwise the
     * reserve below could find room at once and test nothing) */
    shmkit_segment_t *h;
    struct sk_chan *ch = map_chan(&h);
    uint64_t t1 = skt_now_ns();
    while (atomic_load(&ch->tail) - atomic_load(&ch->qhead) <
           ch->capacity - cu_rec_size(SHMKIT_KIND_QUEUE, 100)) {
        CHECKF(skt_now_ns() - t1 < 10000000000ull, "the hog did not fill "
               "the ring in 10 s");
        cu_sleep_ns(1000000);
    }
    pthread_t th;
    CHECK(pthread_create(&th, NULL, dripper, &d) == 0);
    void *p;
    uint64_t t0 = skt_now_ns();
    /* 1000 bytes need ten of the hog's messages read at once: never, while
     * it takes each 100 bytes as soon as they are free; but each ten
     * read (20 ms) wake the waiting producer, which finds the tail moved */
    int rc = shmkit_writer_reserve(w, 1000, &p, 100000000);
    uint64_t el = skt_now_ns() - t0;
    atomic_store(hog_stop, 1);
    atomic_store(&d.stop, 1);
    CHECK(pthread_join(th, NULL) == 0);
    CHECKF(cu_reap(kid, "hog") == 0, "the producer keeping the ring full failed");
    CHECKF(d.bad == 0, "the consumer got %d (%s)", d.bad, shmkit_strerror(d.bad));
    /* Natively the hog always wins (the old code returned 0 after the
     * hog's 3 s); a sanitizer or valgrind may slow it enough for us to win
     * a race for the room, which is no bug: what matters is when the call
     * returns. */
    uint64_t limit = skt_sanitized() ? 2500000000ull : 1000000000ull;
    CHECKF((rc == -ETIMEDOUT || rc == 0) && el < limit,
           "a reserve with a 100 ms timeout, against a producer that keeps "
           "taking the room: rc %d (%s) after %.0f ms", rc, shmkit_strerror(rc),
           (double)el / 1e6);
    if (rc == 0)
        CHECK_OK(shmkit_writer_commit(w, 0));
    CHECK_OK(shmkit_writer_close(w));
    finish(h, d.r, 0);
    munmap((void *)hog_stop, 4096);
    printf("mp queue: a producer that keeps losing the room it waits for "
           "returns after %.0f ms (timeout 100 ms, rc %d): ok\n",
           (double)el / 1e6, rc);
}

/* ---- 8 ------------------------------------------------------------------ */

static void loser_slot_spares_later_claims(void)
{
    shmkit_writer_t *x, *y, *rw[2];
    shmkit_reader_t *r;
    open_mp(&x, &r);
    CHECK_OK(shmkit_writer_open(name, NULL, &y));
    shmkit_segment_t *h;
    struct sk_chan *ch = map_chan(&h);
    uint64_t t0 = atomic_load(&ch->tail);
    cu_pipe(ready);
    /* W wins [t0, t0 + 64) and dies before committing */
    pid_t winner = cu_spawn(claim_and_hang, NULL);
    int32_t ws = -1, ls = -1;
    CHECK(read(ready[0], &ws, sizeof ws) == sizeof ws);
    uint64_t ew = t0 + cu_rec_size(SHMKIT_KIND_QUEUE, 50);
    CHECK(atomic_load(&ch->tail) == ew);
    /* X (live) claims the space after it; Y commits a message after that */
    void *p;
    CHECK_OK(shmkit_writer_reserve(x, 100, &p, 0));
    send_fill(y, 100, 'y');
    uint64_t tail = atomic_load(&ch->tail);
    /* P announced [t0, t0 + 216), lost the race for it and died: its claim
     * covers X's and part of Y's record, and ends before the tail */
    struct forged f = {t0, t0 + 216};
    CHECK(f.end > ew + cu_rec_size(SHMKIT_KIND_QUEUE, 100) && f.end < tail);
    CHECK(cu_reap(cu_spawn(die_announcing, &f), "producer") == 0);
    CHECK(read(ready[0], &ls, sizeof ls) == sizeof ls);
    cu_kill(winner);
    /* two new producers take the dead slots (W's and P's) and settle them */
    for (int i = 0; i < 2; i++)
        CHECK_OK(shmkit_writer_open(name, NULL, &rw[i]));
    CHECKF((rw[0]->v.slot == ws || rw[1]->v.slot == ws) &&
               (rw[0]->v.slot == ls || rw[1]->v.slot == ls),
           "the new producers took slots %d and %d, not the dead ones (%d, "
           "%d): the test did not set up what it checks", rw[0]->v.slot,
           rw[1]->v.slot, ws, ls);
    uint64_t wd = word_at(ch, ew);
    CHECKF(!(sk_word_tag_ok(wd, ew) && (wd & SK_W_PAD)),
           "the live producer's claim at %llu was padded (word %#llx) by the "
           "dead loser's slot's new owner", (unsigned long long)ew,
           (unsigned long long)wd);
    memset(p, 'x', 100);
    CHECK_OK(shmkit_writer_commit(x, 100));
    /* the consumer steps over the dead winner's claim (padded by its slot's
     * new owner, or by the consumer) and gets both messages */
    recv_expect(r, 100, 'x', 1000000000);
    recv_expect(r, 100, 'y', 1000000000);
    send_fill(rw[1], 10, 'r');
    recv_expect(r, 10, 'r', 1000000000);
    CHECK_OK(shmkit_writer_close(x));
    CHECK_OK(shmkit_writer_close(y));
    for (int i = 0; i < 2; i++)
        CHECK_OK(shmkit_writer_close(rw[i]));
    finish(h, r, 1);
    printf("mp queue: the new owner of a dead loser's slot pads nothing over "
           "the claims after the dead winner's: ok\n");
}

/* ---- 9 ------------------------------------------------------------------ */

static void winner_slot_pads_past_a_shorter_loser(void)
{
    shmkit_writer_t *w, *rw;
    shmkit_reader_t *r;
    shmkit_segment_t *h;
    struct sk_chan *ch;
    int32_t ws = -1, ls = -1;
    /* the loser's claim is the shorter one: [t0, t0 + 24) */
    dead_winner_and_loser(24, &w, &r, &h, &ch, &ws, &ls);
    /* a new producer takes the winner's slot (the lower one) and settles it */
    CHECK_OK(shmkit_writer_open(name, NULL, &rw));
    CHECKF(rw->v.slot == ws && ls > ws, "the new producer took slot %d, the "
           "dead winner had %d and the loser %d: the test did not set up what "
           "it checks", rw->v.slot, ws, ls);
    send_fill(w, 30, 'm');
    recv_expect(r, 30, 'm', 1000000000);
    send_fill(rw, 20, 'n');
    recv_expect(r, 20, 'n', 1000000000);
    CHECK_OK(shmkit_writer_close(w));
    CHECK_OK(shmkit_writer_close(rw));
    finish(h, r, 1);
    printf("mp queue: the new owner of a dead winner's slot pads all of its "
           "claim, past a shorter dead loser's: ok\n");
}

int main(int argc, char **argv)
{
    static void (*const part[])(void) = {
        pads_in_a_row, unwon_claim_is_not_padded, reused_slot_spares_a_live_claim,
        abandoned_reservations, failed_open_gives_the_role_back,
        lost_claims_are_withdrawn, timeout_is_a_deadline,
        loser_slot_spares_later_claims, winner_slot_pads_past_a_shorter_loser,
    };
    int only = argc > 1 ? atoi(argv[1]) : 0; /* 1..9: that part alone */
    cu_init("test_chan_review", 120);
    for (int i = 0; i < (int)(sizeof part / sizeof part[0]); i++)
        if (!only || only == i + 1)
            part[i]();
    return cu_result();
}
