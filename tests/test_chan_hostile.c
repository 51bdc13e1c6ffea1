/*
 * test_chan_hostile - a peer that scribbles over a channel costs messages
 * or earns errors; never a crash, an out-of-bounds access or a hang.
 *
 * 1000*scale rounds, 50 per child process (a crash shows as a signal, an
 * ASan report as a non-zero exit, a hang as SIGALRM after 10 s).  Each round creates
 * a small channel of a random kind, opens a writer and one or two readers,
 * moves some messages, then a "hostile" handle (the channel opened as a
 * plain segment, written through shmkit_segment_data()) overwrites one of:
 * a control-block field (capacity, max_msg, ring_offset, nslots, kind, ...),
 * a position or word of the writer's line (tail, seq, horizon, slots), the
 * queue head, an endpoint line, ring words (random, or with a valid tag and
 * a bad length), the latest slots, or random bytes anywhere in the control
 * area.  Half of the rounds corrupt before the endpoints are opened (so
 * that opening must validate), half after (so that every call must).  Then
 * every call runs with a bounded timeout and must return within 1.5 s;
 * every message handed out must lie inside the channel's mapping (latest:
 * it is a private copy) and is read to its last byte.
 *
 * The offsets come from src/channel.h: this test is white-box on purpose.
 * SHMKIT_TEST_SEED=N replays a run, and SHMKIT_TEST_ROUND=R only its round R.
 */
#include "chan_util.h"

#include "../src/channel.h"

#define PER_CHILD 50
#define CALL_LIMIT_NS 1500000000ull

static uint64_t base_seed;
static char name[128];
static uint64_t rs; /* the round's random state */
static int round_no;
static const char *round_what = "";

static uint64_t rnd(void) { return cu_splitmix(&rs); }

/* interesting values for a field */
static uint64_t evil(void)
{
    switch (rnd() % 10) {
    case 0: return 0;
    case 1: return UINT64_MAX;
    case 2: return 1ull << (rnd() % 64);
    case 3: return (1ull << (rnd() % 64)) - 1;
    case 4: return rnd() % 4096;
    case 5: return rnd() % 256;
    case 6: return (uint64_t)-(int64_t)(rnd() % 4096);
    case 7: return 0x80000000u + rnd() % 16;
    default: return rnd();
    }
}

static void poke(void *base, size_t off, size_t width, uint64_t v)
{
    memcpy((char *)base + off, &v, width); /* little-endian low bytes */
}

/* Times one call; a call that outlives its timeout by far is a hang. */
#define TIMED(expr)                                                          \
    ({                                                                       \
        uint64_t t0_ = skt_now_ns();                                         \
        int rc_ = (expr);                                                    \
        uint64_t el_ = skt_now_ns() - t0_;                                   \
        if (el_ > CALL_LIMIT_NS)                                             \
            skt_fail(__FILE__, __LINE__,                                     \
                     "round %d (%s): %s took %.0f ms (rc %d): a hang",       \
                     round_no, round_what, #expr, (double)el_ / 1e6, rc_);  \
        rc_;                                                                 \
    })

/* Every code a call may return here: success or a negative code. */
static void check_rc(int rc, const char *what)
{
    if (rc > 0)
        skt_fail(__FILE__, __LINE__, "round %d (%s): %s returned %d", round_no,
                 round_what, what, rc);
}

static void corrupt(shmkit_kind_t kind, uint64_t cap)
{
    shmkit_segment_opts_t o;
    shmkit_segment_t *h;
    shmkit_segment_opts_init(&o);
    CHECK_OK(shmkit_segment_open(name, &o, &h));
    unsigned char *d = shmkit_segment_data(h);
    uint64_t dsz = shmkit_segment_data_size(h);
    struct sk_chan *ch = (struct sk_chan *)d;
    unsigned char *ring = d + SK_RING_OFFSET;
    int what = (int)(rnd() % 10);
    switch (what) {
    case 0: { /* configuration line */
        static const struct { size_t off, w; } f[] = {
            {offsetof(struct sk_chan, capacity), 8},
            {offsetof(struct sk_chan, ring_offset), 8},
            {offsetof(struct sk_chan, max_msg), 4},
            {offsetof(struct sk_chan, max_readers), 4},
            {offsetof(struct sk_chan, nslots), 4},
            {offsetof(struct sk_chan, kind), 4},
            {offsetof(struct sk_chan, flags), 4},
            {offsetof(struct sk_chan, magic), 8},
        };
        size_t i = rnd() % (sizeof f / sizeof f[0]);
        poke(d, f[i].off, f[i].w, evil());
        round_what = "config field";
        break;
    }
    case 1: { /* writer line */
        static const struct { size_t off, w; } f[] = {
            {offsetof(struct sk_chan, tail), 8},
            {offsetof(struct sk_chan, tailv), 8},
            {offsetof(struct sk_chan, pair[0].tail), 8},
            {offsetof(struct sk_chan, pair[0].seq), 8},
            {offsetof(struct sk_chan, pair[1].tail), 8},
            {offsetof(struct sk_chan, pair[1].seq), 8},
            {offsetof(struct sk_chan, horizon), 8},
            {offsetof(struct sk_chan, writer_slot), 4},
            {offsetof(struct sk_chan, closed), 4},
            {offsetof(struct sk_chan, writer_seen), 4},
            {offsetof(struct sk_chan, latest_cur), 8},
            {offsetof(struct sk_chan, qhead), 8},
            {offsetof(struct sk_chan, consumer_slot), 4},
            {offsetof(struct sk_chan, data_ev), 8},
            {offsetof(struct sk_chan, space_ev), 8},
            {offsetof(struct sk_chan, data_posted), 8},
            {offsetof(struct sk_chan, space_posted), 8},
        };
        size_t i = rnd() % (sizeof f / sizeof f[0]);
        uint64_t v = evil();
        if (rnd() % 2 && f[i].w == 8) { /* near the real value */
            uint64_t cur;
            memcpy(&cur, d + f[i].off, 8);
            v = cur + (uint64_t)((int64_t)(rnd() % (4 * cap)) - (int64_t)(2 * cap));
        }
        poke(d, f[i].off, f[i].w, v);
        round_what = "writer/queue line";
        break;
    }
    case 2: { /* an endpoint line */
        struct sk_ep *ep = (struct sk_ep *)(d + SK_EP_OFFSET) + rnd() % 8;
        size_t off = (rnd() % 8) * 8;
        poke(ep, off, 8, evil());
        round_what = "endpoint line";
        break;
    }
    case 3:
    case 4: { /* ring words with valid tags and bad lengths */
        if (kind == SHMKIT_KIND_LATEST)
            goto latest_slots;
        uint64_t pos = atomic_load(&ch->qhead);
        if (kind == SHMKIT_KIND_BUS || rnd() % 2)
            pos = atomic_load(&ch->tail) - (rnd() % 4) * 8 * (rnd() % 64);
        pos &= ~7ull;
        uint32_t len = (uint32_t)evil() & SK_W_LEN;
        uint32_t fl = rnd() % 3 == 0 ? SK_W_PAD : 0;
        uint64_t wv = sk_word(pos, fl, len);
        memcpy(ring + (pos & (cap - 1)), &wv, 8);
        if (rnd() % 2 && (pos & (cap - 1)) + 16 <= cap) {
            uint64_t sq = evil();
            memcpy(ring + (pos & (cap - 1)) + 8, &sq, 8);
        }
        round_what = "ring word with a valid tag";
        break;
    }
    case 5: { /* random words in the ring */
        if (kind == SHMKIT_KIND_LATEST)
            goto latest_slots;
        int n = 1 + (int)(rnd() % 16);
        for (int i = 0; i < n; i++)
            poke(ring, (rnd() % (cap / 8)) * 8, 8, evil());
        round_what = "random ring words";
        break;
    }
    case 6: { /* random bytes in the ring */
        if (kind == SHMKIT_KIND_LATEST)
            goto latest_slots;
        uint64_t off = rnd() % cap, n = 1 + rnd() % 512;
        for (uint64_t i = 0; i < n && off + i < cap; i++)
            ring[off + i] = (unsigned char)rnd();
        round_what = "random ring bytes";
        break;
    }
    case 7:
    latest_slots: { /* latest: slot words, lengths, versions, current */
        if (kind != SHMKIT_KIND_LATEST) {
            poke(d, offsetof(struct sk_chan, horizon), 8, evil());
            round_what = "horizon";
            break;
        }
        uint64_t slot = sizeof(struct sk_latest_slot) + cap;
        uint64_t i = rnd() % 3;
        size_t off = (size_t)(SK_RING_OFFSET + i * slot + (rnd() % 3) * 8);
        if (rnd() % 4 == 0)
            off = offsetof(struct sk_chan, latest_cur);
        if (off + 8 <= dsz)
            poke(d, off, 8, evil());
        round_what = "latest slots";
        break;
    }
    case 8: { /* random bytes over the first lines of the control block */
        int n = 1 + (int)(rnd() % 64);
        for (int i = 0; i < n; i++)
            d[rnd() % 384] = (unsigned char)rnd();
        round_what = "random control bytes";
        break;
    }
    default: { /* random bytes anywhere before the ring */
        int n = 1 + (int)(rnd() % 64);
        for (int i = 0; i < n; i++)
            d[rnd() % SK_RING_OFFSET] = (unsigned char)rnd();
        round_what = "random bytes before the ring";
        break;
    }
    }
    CHECK_OK(shmkit_segment_close(h));
}

static volatile uint64_t sink;

/* Reads to the last byte what a peek handed out, after checking bounds: a
 * ring message must lie inside the channel's mapping; a latest value is
 * the reader's private copy (ASan checks that one). */
static void touch(const void *p, size_t len, shmkit_kind_t kind)
{
    if (kind != SHMKIT_KIND_LATEST && !cu_in_shm_mapping(p, len, name))
        skt_fail(__FILE__, __LINE__, "round %d (%s): peek handed out %zu bytes "
                 "at %p, outside the channel's mapping", round_no, round_what,
                 len, p);
    if (len > (1u << 30))
        skt_fail(__FILE__, __LINE__, "round %d (%s): peek of %zu bytes",
                 round_no, round_what, len);
    const unsigned char *b = p;
    uint64_t s = 0;
    for (size_t i = 0; i < len; i++)
        s += b[i];
    sink += s;
}

static void exercise_reader(shmkit_reader_t *r, shmkit_kind_t kind,
                            uint8_t *buf, size_t cap_buf)
{
    for (int i = 0; i < 8; i++) {
        const void *p;
        size_t len = 0;
        int64_t tmo = rnd() % 4 ? 0 : 200000;
        int rc;
        if (rnd() % 2) {
            rc = TIMED(shmkit_reader_peek(r, &p, &len, tmo));
            check_rc(rc, "peek");
            if (rc == 0) {
                touch(p, len, kind);
                check_rc(TIMED(shmkit_reader_release(r)), "release");
            }
        } else {
            rc = TIMED(shmkit_reader_recv(r, buf, cap_buf, &len, tmo));
            check_rc(rc, "recv");
            if (rc == 0 && len > cap_buf)
                skt_fail(__FILE__, __LINE__, "round %d (%s): recv of %zu bytes "
                         "into %zu", round_no, round_what, len, cap_buf);
        }
        (void)shmkit_reader_lost(r);
    }
}

static void exercise_writer(shmkit_writer_t *w, uint8_t *buf)
{
    size_t max = shmkit_writer_max_msg(w);
    for (int i = 0; i < 8; i++) {
        size_t len = max ? rnd() % (max + 1) : 0;
        int64_t tmo = rnd() % 4 ? 0 : 200000;
        if (rnd() % 2) {
            check_rc(TIMED(shmkit_writer_send(w, buf, len, tmo)), "send");
        } else {
            void *p;
            int rc = TIMED(shmkit_writer_reserve(w, len, &p, tmo));
            check_rc(rc, "reserve");
            if (rc == 0) {
                memset(p, 0x5a, len);
                check_rc(TIMED(shmkit_writer_commit(w, len)), "commit");
            }
        }
    }
    int nr = TIMED(shmkit_writer_readers(w));
    if (nr > SHMKIT_MAX_ATTACH)
        skt_fail(__FILE__, __LINE__, "round %d (%s): %d readers", round_no,
                 round_what, nr);
}

static void one_round(void)
{
    static const struct { shmkit_kind_t k; int rel, multi; } kinds[] = {
        {SHMKIT_KIND_QUEUE, 0, 0}, {SHMKIT_KIND_QUEUE, 0, 1},
        {SHMKIT_KIND_BUS, 0, 0},   {SHMKIT_KIND_BUS, 1, 0},
        {SHMKIT_KIND_LATEST, 0, 0},
    };
    int ki = (int)(rnd() % 5);
    shmkit_kind_t kind = kinds[ki].k;
    uint64_t cap = kind == SHMKIT_KIND_LATEST ? 64u * (1 + rnd() % 64)
                                              : 4096u << (rnd() % 2);
    cu_create(name, kind, cap, kinds[ki].rel, kinds[ki].multi, 0);
    int early = rnd() % 2; /* corrupt before opening the endpoints */
    static uint8_t buf[1 << 16];
    memset(buf, 0x33, sizeof buf);
    shmkit_endpoint_opts_t eo;
    shmkit_endpoint_opts_init(&eo);
    eo.open_timeout_ms = 0;
    eo.wait = (shmkit_wait_t)(rnd() % 4);
    eo.spin_us = 20;
    shmkit_writer_t *w = NULL;
    shmkit_reader_t *r[2] = {NULL, NULL};
    round_what = "setup";
    if (early) {
        /* some traffic first, so positions and words are not all zero */
        CHECK_OK(shmkit_writer_open(name, &eo, &w));
        CHECK_OK(shmkit_reader_open(name, &eo, &r[0]));
        int n = (int)(rnd() % 40);
        for (int i = 0; i < n; i++)
            shmkit_writer_send(w, buf, rnd() % 300, 0);
        size_t l;
        for (int i = 0; i < n / 2; i++)
            shmkit_reader_recv(r[0], buf, sizeof buf, &l, 0);
        CHECK_OK(shmkit_reader_close(r[0]));
        CHECK_OK(shmkit_writer_detach(w));
        r[0] = NULL;
        w = NULL;
        corrupt(kind, cap);
    }
    int rc = TIMED(shmkit_writer_open(name, &eo, &w));
    check_rc(rc, "writer_open");
    if (rc != 0)
        w = NULL;
    for (int i = 0; i < 2; i++) {
        rc = TIMED(shmkit_reader_open(name, &eo, &r[i]));
        check_rc(rc, "reader_open");
        if (rc != 0)
            r[i] = NULL;
    }
    if (!early && w) {
        int n = (int)(rnd() % 40);
        for (int i = 0; i < n; i++)
            shmkit_writer_send(w, buf, rnd() % 300, 0);
        for (int i = 0; i < 2; i++)
            if (r[i]) {
                size_t l;
                for (int j = 0; j < n / 2; j++)
                    shmkit_reader_recv(r[i], buf, sizeof buf, &l, 0);
            }
        corrupt(kind, cap);
    }
    for (int rep = 0; rep < 2; rep++) {
        for (int i = 0; i < 2; i++)
            if (r[i])
                exercise_reader(r[i], kind, buf, sizeof buf);
        if (w)
            exercise_writer(w, buf);
    }
    shmkit_channel_stat_t st;
    check_rc(TIMED(shmkit_channel_stat(name, &st)), "channel_stat");
    shmkit_writer_t *w2 = NULL;
    rc = TIMED(shmkit_writer_open(name, &eo, &w2));
    check_rc(rc, "second writer_open");
    if (rc == 0)
        shmkit_writer_detach(w2);
    for (int i = 0; i < 2; i++)
        if (r[i])
            check_rc(TIMED(shmkit_reader_close(r[i])), "reader_close");
    if (w)
        check_rc(TIMED(rnd() % 2 ? shmkit_writer_close(w) : shmkit_writer_detach(w)),
                 "writer_close");
    CHECK_OK(shmkit_segment_unlink(name));
}

static void on_hang(int sig)
{
    char m[256];
    int n = snprintf(m, sizeof m, "round %d (%s): a call never returned\n",
                     round_no, round_what);
    if (write(2, m, (size_t)n) < 0) {
        /* nothing to do */
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static int only_round = -1; /* SHMKIT_TEST_ROUND=N replays one round */

static int batch_child(void *arg)
{
    int first = (int)(intptr_t)arg;
    /* a hang dies by SIGALRM, a crash by its signal: both reach the parent */
    signal(SIGALRM, on_hang);
    skt_default_signal(SIGSEGV);
    skt_default_signal(SIGBUS);
    skt_name(name, sizeof name);
    for (int i = first; i < first + PER_CHILD; i++) {
        if (only_round >= 0 && i != only_round)
            continue;
        round_no = i;
        alarm(10); /* a round takes milliseconds */
        rs = base_seed ^ ((uint64_t)i * 0x9e3779b97f4a7c15ull);
        one_round();
    }
    return SKT_PASS;
}

int main(void)
{
    cu_init("test_chan_hostile", 280);
    const char *s = getenv("SHMKIT_TEST_SEED");
    base_seed = s ? strtoull(s, NULL, 0) : skt_rand64();
    int rounds = 1000 * skt_scale(), fails = 0, ran = 0;
    const char *one = getenv("SHMKIT_TEST_ROUND");
    if (one) {
        only_round = atoi(one);
        rounds = only_round + 1;
    }
    printf("seed %llu (SHMKIT_TEST_SEED), %d rounds\n",
           (unsigned long long)base_seed, rounds);
    uint64_t t0 = skt_now_ns();
    for (int first = 0; first < rounds; first += PER_CHILD) {
        if (only_round >= first + PER_CHILD)
            continue;
        if (fails >= 3) { /* each hang costs 10 s: enough evidence */
            printf("3 batches failed: rounds %d.. skipped\n", first);
            break;
        }
        pid_t kid = cu_spawn(batch_child, (void *)(intptr_t)first);
        ran += PER_CHILD;
        int st = cu_reap_status(kid);
        /* a child that crashed could not remove its channel */
        char kp[64];
        snprintf(kp, sizeof kp, "skt-test_chan_hostile-%d-", (int)kid);
        DIR *dir = opendir("/dev/shm");
        struct dirent *e;
        while (dir && (e = readdir(dir)))
            if (!strncmp(e->d_name, kp, strlen(kp))) {
                char p[300];
                snprintf(p, sizeof p, "/%s", e->d_name);
                shm_unlink(p);
            }
        if (dir)
            closedir(dir);
        if (WIFSIGNALED(st)) {
            fprintf(stderr, "FAIL: rounds %d..%d: the process died by signal %d "
                    "(%s)%s\n", first, first + PER_CHILD - 1, WTERMSIG(st),
                    strsignal(WTERMSIG(st)),
                    WTERMSIG(st) == SIGALRM ? ": a hang" : ": a crash");
            fails++;
        } else if (WEXITSTATUS(st) != 0) {
            fprintf(stderr, "FAIL: rounds %d..%d: exit %d\n", first,
                    first + PER_CHILD - 1, WEXITSTATUS(st));
            fails++;
        }
    }
    printf("%d rounds in %.1f s, %d batch(es) failed\n", ran,
           (double)(skt_now_ns() - t0) / 1e9, fails);
    return fails ? SKT_FAIL : SKT_PASS;
}
