/*
 * test_chan_crash - kill -9 at random moments; the survivors go on.
 *
 * Two parts, 50*scale kills each (SHMKIT_TEST_SCALE; CI uses 2: 100 each).
 * `test_chan_crash scenarios` or `test_chan_crash soak` runs one of them.
 * The long mode, 1000 kills each (about 3 minutes on 2 CPUs):
 *
 *     SHMKIT_TEST_SCALE=20 ctest --test-dir build -R test_chan_crash --output-on-failure
 *
 * SHMKIT_TEST_SEED=N repeats a run's random choices (not its timing).
 *
 * Part 1, scenarios: each trial is a fresh channel and one kill, cycling
 * through six scenarios; each kill is a SIGKILL after a random delay once
 * the victim is under way:
 *
 *  bus-writer     the bus writer (reliable or lossy, alternately) dies; two
 *                 readers drain what it committed (reliable: exactly that,
 *                 intact, in order) and may see SHMKIT_E_PEER_GONE; a new
 *                 writer opens (no BUSY) and continues; the readers get all
 *                 of its messages, then SHMKIT_E_CLOSED (lossy: every
 *                 message of both is received or counted lost, exactly)
 *  mp-producer    one of two producers of an MP queue dies (every other
 *                 trial while it holds an uncommitted reservation: the
 *                 consumer must pad it and count a producer death); the
 *                 consumer gets all of the survivor's messages, and the dead
 *                 one's as a gap-free prefix
 *  bus-reader     a slow reader of a reliable bus dies; the writer, held
 *                 back by it, goes on within 1.5 s (eviction); the other
 *                 reader gets everything
 *  queue-consumer the consumer dies; a new consumer opens (no BUSY) and
 *                 continues where the dead one stopped: nothing lost, no
 *                 released message delivered twice
 *  latest-writer  the latest writer dies; readers never see a torn or older
 *                 value; a new writer continues; the last value is read
 *  queue-producer the SP producer dies; the consumer drains what it
 *                 committed; a new producer opens and continues
 *  all-killed     writer and reader (a bus, or a queue) both die: the
 *                 channel is left stale (and only stale)
 *
 * Part 2, the rolling soak: one long-lived channel per kind (queue/sp,
 * queue/mp, reliable bus, lossy bus, latest), each with its writer (two
 * producers for queue/mp) and three readers running all the time (a queue's
 * three would-be consumers: one holds the role, two retry on SHMKIT_E_BUSY
 * and take over when it dies).  The kills are spread over the five
 * channels; each picks a random process, SIGKILLs it 0-20 ms later, and
 * starts a new one in its place, which opens the same channel by name.
 * Every message carries its producer, writer generation, sequence number
 * and a checksum of a payload derived from them; the readers prove:
 *  - nothing torn or foreign (checksum and payload), ever;
 *  - queue and reliable bus: no message lost, duplicated or reordered, also
 *    across a writer's or consumer's death.  The one duplicate allowed is
 *    the documented at-least-once case: a consumer killed between peek and
 *    release leaves that message to its successor (counted, not failed);
 *  - lossy bus: in order, no duplicate, every gap exactly the growth of
 *    shmkit_reader_lost();
 *  - latest: every value newer than the one before, and no older than the
 *    newest one written before the reader opened;
 *  - a bus reader joins at the next message written after it opened;
 *  - a new writer continues where the dead one stopped: it learns that from
 *    the readers, which drain what the dead one committed, get
 *    SHMKIT_E_PEER_GONE and must agree on what comes next (see the essay
 *    at part 2);
 *  - no deadlock: every wait has a timeout; every 10 kills every process
 *    must make progress within 10 s, and so must (mostly: 3 in 4; the rest
 *    may die while still opening) each new process before the next kill;
 *    a quarter of the dead readers are replaced only after the writer has
 *    gone on without them (a reliable bus must evict them);
 *  - at the end the writers close and every reader has received everything
 *    (queue: the consumers took all that was sent); then the readers close
 *    (the channel must be gone) or are killed (it must be stale).
 *
 * Channels are owned (created by writer_open); where the last user was
 * killed, the channel is stale.  All of it runs in private mount + IPC
 * namespaces where possible: at the end shmkit_gc() must remove exactly the
 * stale channels of both parts and leave /dev/shm empty (elsewhere: every
 * channel name left is stale and is unlinked).
 */
#include "chan_util.h"

#define WAIT_MS 10000
#define RECV_TMO 3000000000ll

struct crashlog {
    _Atomic uint64_t committed[2]; /* messages committed, per generation/producer */
    _Atomic int64_t last_seen;     /* queue-consumer: last seq C0 received */
    _Atomic uint64_t max_stall_ns; /* bus-reader: the writer's longest send */
    _Atomic uint64_t evictions;
    _Atomic uint64_t deaths;
};

static char log_name[128];
static struct crashlog *lg;

/* what one trial does */
struct trial {
    char name[128];
    int scen, reliable, holdres;
    shmkit_kind_t kind;
    int multi;
    uint64_t n1;      /* messages of the survivor / second generation */
    int ready[2];     /* readers -> writer: joined */
    int started[2];   /* victim -> parent: under way */
};
static struct trial T;

static struct crashlog *open_log(shmkit_segment_t **seg)
{
    CHECK_OK(shmkit_segment_open(log_name, NULL, seg));
    return shmkit_segment_data(*seg);
}

static void channel_opts(shmkit_channel_opts_t *co)
{
    shmkit_channel_opts_init(co, T.kind);
    co->capacity = T.kind == SHMKIT_KIND_LATEST ? 4096 : 256 * 1024;
    co->reliable = T.reliable;
    co->multi_producer = T.multi;
}

/* ---- writers ------------------------------------------------------------- */

/* gen 0: creates, waits for nready readers, says "started", writes until
 * killed (or forever = 10^9).  gen 1 (or a second producer): writes n1 and
 * closes. */
struct wargs {
    int gen, prod, nready, forever;
    int announce; /* say "attached" on T.ready once open */
};

static int writer_child(void *arg)
{
    struct wargs *a = arg;
    shmkit_segment_t *ls;
    struct crashlog *l = open_log(&ls);
    shmkit_channel_opts_t co;
    shmkit_endpoint_opts_t eo;
    channel_opts(&co);
    shmkit_endpoint_opts_init(&eo);
    eo.create = &co;
    eo.open_timeout_ms = 5000;
    shmkit_writer_t *w;
    int rc = shmkit_writer_open(T.name, &eo, &w);
    CHECKF(rc == 0, "writer gen %d prod %d: open %d (%s)", a->gen, a->prod, rc,
           shmkit_strerror(rc));
    if (a->announce)
        cu_signal_fd(T.ready[1]);
    if (a->nready)
        CHECKF(cu_wait_fd(T.ready[0], a->nready, WAIT_MS) == 0,
               "readers never joined");
    /* the victims (and the writer whose reader is the victim) say when
     * they are under way; one that dies holding a reservation says so then */
    if ((a->forever && !T.holdres) || a->nready)
        cu_signal_fd(T.started[1]);
    uint64_t n = a->forever ? 1000000000ull : T.n1;
    uint32_t id = (uint32_t)(a->prod + 2 * a->gen);
    uint8_t buf[CU_MAX_MSG];
    uint64_t max_stall = 0;
    for (uint64_t seq = 0; seq < n; seq++) {
        uint32_t len = cu_msg_len(id, (uint32_t)a->gen, seq);
        uint64_t t0 = skt_now_ns();
        if (T.holdres && a->forever && seq == 20) {
            /* die holding a claim: reserve, say so, wait to be killed */
            void *p;
            CHECK_OK(shmkit_writer_reserve(w, len, &p, RECV_TMO));
            memset(p, 0xee, len);
            cu_signal_fd(T.started[1]);
            sleep(30);
            return SKT_FAIL;
        }
        cu_msg_make(buf, len, id, (uint32_t)a->gen, seq);
        rc = shmkit_writer_send(w, buf, len, RECV_TMO);
        CHECKF(rc == 0, "writer gen %d prod %d: message %llu: %d (%s)", a->gen,
               a->prod, (unsigned long long)seq, rc, shmkit_strerror(rc));
        uint64_t el = skt_now_ns() - t0;
        if (el > max_stall)
            max_stall = el;
        atomic_store(&l->committed[a->prod + a->gen], seq + 1);
    }
    atomic_store(&l->max_stall_ns, max_stall);
    shmkit_channel_stat_t st;
    if (shmkit_channel_stat(T.name, &st) == 0) {
        atomic_store(&l->evictions, st.evictions);
    }
    CHECK_OK(shmkit_writer_close(w));
    return SKT_PASS;
}

/* ---- readers ----------------------------------------------------------------- */

/* slow: sleeps now and then (the victim of bus-reader and queue-consumer);
 * consumer0: logs its last sequence number (queue-consumer) */
struct rargs {
    int slow, consumer0, consumer1;
};

#define RFAIL(...)                                                          \
    do {                                                                    \
        fprintf(stderr, "[test_chan_crash] scenario %d reader: ", T.scen);  \
        fprintf(stderr, __VA_ARGS__);                                       \
        fprintf(stderr, "\n");                                              \
        return SKT_FAIL;                                                    \
    } while (0)

static int reader_child(void *arg)
{
    struct rargs *a = arg;
    shmkit_segment_t *ls;
    struct crashlog *l = open_log(&ls);
    shmkit_endpoint_opts_t eo;
    shmkit_endpoint_opts_init(&eo);
    eo.open_timeout_ms = 5000;
    shmkit_reader_t *r;
    int rc = shmkit_reader_open(T.name, &eo, &r);
    if (rc != 0)
        RFAIL("open %d (%s): %s", rc, shmkit_strerror(rc), shmkit_last_error());
    cu_signal_fd(T.ready[1]);
    int lossy = T.kind == SHMKIT_KIND_BUS && !T.reliable;
    int latest = T.kind == SHMKIT_KIND_LATEST;
    int queue = T.kind == SHMKIT_KIND_QUEUE;
    uint64_t cnt[4] = {0}, next[4] = {0};
    int64_t first = -1;
    uint64_t last_key = 0; /* (gen << 40 | seq) + 1 of the last message */
    int peer_gone = 0;
    uint64_t deadline = skt_now_ns() + 10000000000ull;
    uint8_t buf[CU_MAX_MSG];
    for (;;) {
        size_t len;
        rc = shmkit_reader_recv(r, buf, sizeof buf, &len, RECV_TMO);
        if (rc == SHMKIT_E_CLOSED)
            break;
        if (skt_now_ns() > deadline)
            RFAIL("no end of stream after 10 s");
        if (rc == SHMKIT_E_PEER_GONE) {
            peer_gone++;
            /* mp-producer: the stream may end with the dead producer */
            if (T.multi && cnt[1] == T.n1)
                break;
            cu_sleep_ns(1000000);
            continue;
        }
        if (lossy && (rc == SHMKIT_E_LOST || rc == SHMKIT_E_OVERRUN))
            continue;
        if (rc != 0)
            RFAIL("recv after %llu+%llu messages: %d (%s): %s",
                  (unsigned long long)cnt[0], (unsigned long long)cnt[2], rc,
                  shmkit_strerror(rc), shmkit_last_error());
        struct cu_msg m;
        const char *bad = cu_msg_check(buf, len, &m);
        if (bad)
            RFAIL("message of %zu bytes: %s", len, bad);
        uint32_t id = m.magic & 0xff; /* prod + 2 * gen */
        if (id > 3 || m.gen != id / 2)
            RFAIL("unknown producer %u gen %u", id, m.gen);
        if (T.multi) {
            /* two producers interleave; each in order */
            if (m.seq != next[id])
                RFAIL("producer %u: message %llu, expected %llu", id,
                      (unsigned long long)m.seq, (unsigned long long)next[id]);
        } else {
            uint64_t key = (((uint64_t)m.gen << 40) | m.seq) + 1;
            if (key <= last_key)
                RFAIL("gen %u message %llu after gen %llu message %llu: "
                      "order broken", m.gen, (unsigned long long)m.seq,
                      (unsigned long long)((last_key - 1) >> 40),
                      (unsigned long long)((last_key - 1) & 0xffffffffffull));
            last_key = key;
            if (!lossy && !latest && m.seq != next[id]) {
                if (!(a->consumer1 && first < 0))
                    RFAIL("gen %u: message %llu, expected %llu (%s)", m.gen,
                          (unsigned long long)m.seq, (unsigned long long)next[id],
                          m.seq < next[id] ? "duplicate" : "lost");
            }
        }
        if (first < 0)
            first = (int64_t)m.seq;
        next[id] = m.seq + 1;
        cnt[id]++;
        if (a->consumer0)
            atomic_store(&l->last_seen, (int64_t)m.seq);
        if (a->slow && (cnt[id] & 7) == 0)
            cu_sleep_ns(1000000);
    }
    /* the dead generation / producer: what it committed, no more, no less
     * (one more when it died between commit and logging it) */
    if (queue || (T.kind == SHMKIT_KIND_BUS && T.reliable)) {
        uint64_t c = atomic_load(&l->committed[0]);
        if (!a->consumer0 && !a->consumer1 && T.scen != 2 &&
            !(cnt[0] == c || cnt[0] == c + 1))
            RFAIL("%llu messages of the killed writer received, it committed "
                  "%llu", (unsigned long long)cnt[0], (unsigned long long)c);
    }
    if (a->consumer1) {
        int64_t m0 = atomic_load(&l->last_seen);
        if (first != m0 + 1 && first != m0 + 2)
            RFAIL("the new consumer started at %lld; the dead one had "
                  "received up to %lld", (long long)first, (long long)m0);
        if (next[0] != T.n1)
            RFAIL("the new consumer ended at %llu of %llu",
                  (unsigned long long)next[0], (unsigned long long)T.n1);
    }
    /* the survivor: everything (lossy: see below) */
    int surv = T.multi ? 1 : (T.scen == 2 || a->consumer1) ? 0 : 2;
    if (!a->consumer1) {
        if ((queue || T.reliable) && cnt[surv] != T.n1)
            RFAIL("%llu of the survivor's %llu messages received",
                  (unsigned long long)cnt[surv], (unsigned long long)T.n1);
        /* a lossy reader lapped by the dead writer, that looks again only
         * after the new one closed, resumes at the writer's final position
         * (shmkit(7)): the survivor's messages are then counted lost, not
         * received.  Every message is one or the other. */
        uint64_t lost = lossy ? shmkit_reader_lost(r) : 0;
        if ((latest || (lossy && lost == 0)) && next[surv] != T.n1)
            RFAIL("the survivor's last message %llu was not received (last %llu)",
                  (unsigned long long)(T.n1 - 1),
                  (unsigned long long)(next[surv] - 1));
        if (lossy) {
            uint64_t c = atomic_load(&l->committed[0]);
            uint64_t all = cnt[0] + cnt[2] + lost;
            if (all != c + T.n1 && all != c + 1 + T.n1)
                RFAIL("%llu + %llu received, %llu lost: the writers committed "
                      "%llu (+1) and %llu", (unsigned long long)cnt[0],
                      (unsigned long long)cnt[2], (unsigned long long)lost,
                      (unsigned long long)c, (unsigned long long)T.n1);
        }
    }
    if (T.multi) { /* the consumer knows when it passed the dead claim */
        shmkit_channel_stat_t st;
        if (shmkit_channel_stat(T.name, &st) == 0)
            atomic_store(&l->deaths, st.producer_deaths);
    }
    shmkit_reader_close(r);
    shmkit_segment_close(ls);
    return SKT_PASS;
}

/* ---- one trial ------------------------------------------------------------- */

static uint64_t rng;
static const char *scen_name[] = {"bus-writer",     "mp-producer",
                                  "bus-reader",     "queue-consumer",
                                  "latest-writer",  "queue-producer",
                                  "all-killed"};
#define NSCEN 7
static int stale_left;

/* 0, or 1 when the victim never got under way or ended on its own */
static int kill_after_start(pid_t victim, unsigned max_delay_ms)
{
    int bad = 0;
    if (cu_wait_fd(T.started[0], 1, WAIT_MS) != 0) {
        fprintf(stderr, "%s: the victim never got under way\n",
                scen_name[T.scen]);
        bad = 1;
    }
    cu_sleep_ns(cu_splitmix(&rng) % ((uint64_t)max_delay_ms * 1000000u + 1));
    int st = cu_kill(victim);
    if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)) {
        fprintf(stderr, "%s: the victim ended on its own (status 0x%x)\n",
                scen_name[T.scen], st);
        bad = 1;
    }
    return bad;
}


static int trial(int t, int *fails)
{
    memset(lg, 0, sizeof *lg);
    atomic_store(&lg->last_seen, -1);
    memset(&T, 0, sizeof T);
    skt_name(T.name, sizeof T.name);
    T.scen = t % NSCEN;
    T.n1 = 300;
    cu_pipe(T.ready);
    cu_pipe(T.started);
    struct wargs w0 = {0, 0, 0, 1, 0}, w1 = {1, 0, 0, 0, 0};
    struct rargs rn = {0, 0, 0};
    pid_t kids[4] = {0};
    int nk = 0, bad = 0;
    switch (T.scen) {
    case 0: /* bus writer */
    case 4: /* latest writer */
        T.kind = T.scen == 0 ? SHMKIT_KIND_BUS : SHMKIT_KIND_LATEST;
        T.reliable = T.scen == 0 && (t / NSCEN) % 2 == 0;
        if (T.scen == 0 && !T.reliable)
            T.n1 = 100; /* < capacity: the readers cannot be lapped by it */
        w0.nready = 2;
        {
            pid_t victim = cu_spawn(writer_child, &w0);
            kids[nk++] = cu_spawn(reader_child, &rn);
            kids[nk++] = cu_spawn(reader_child, &rn);
            bad += kill_after_start(victim, 20);
        }
        kids[nk++] = cu_spawn(writer_child, &w1);
        break;
    case 1: { /* MP producer */
        static struct wargs p1 = {0, 1, 0, 0, 1};
        T.kind = SHMKIT_KIND_QUEUE;
        T.multi = 1;
        T.holdres = (t / NSCEN) % 2;
        /* the victim is attached before the survivor starts: else the
         * survivor may send everything and close, ending the stream, before
         * the victim joins, and the consumer is gone before it writes */
        w0.announce = 1;
        pid_t victim = cu_spawn(writer_child, &w0);
        if (cu_wait_fd(T.ready[0], 1, WAIT_MS) != 0) {
            fprintf(stderr, "mp-producer: the victim never opened\n");
            bad++;
        }
        kids[nk++] = cu_spawn(writer_child, &p1);
        kids[nk++] = cu_spawn(reader_child, &rn);
        /* the consumer and the other producer are attached before the kill
         * (attaching after it is test_chan_killwindow's "late" cases) */
        if (cu_wait_fd(T.ready[0], 2, WAIT_MS) != 0) {
            fprintf(stderr, "mp-producer: the others never opened\n");
            bad++;
        }
        bad += kill_after_start(victim, T.holdres ? 0 : 20);
        break;
    }
    case 2: { /* reliable bus: a slow reader dies */
        static struct rargs slow = {1, 0, 0};
        T.kind = SHMKIT_KIND_BUS;
        T.reliable = 1;
        T.n1 = 1500;
        static struct wargs wb = {0, 0, 2, 0, 0};
        kids[nk++] = cu_spawn(writer_child, &wb);
        pid_t victim = cu_spawn(reader_child, &slow);
        kids[nk++] = cu_spawn(reader_child, &rn);
        /* the writer starts once both readers joined */
        bad += kill_after_start(victim, 30);
        break;
    }
    case 3: { /* queue consumer dies, a new one continues */
        static struct rargs c0 = {1, 1, 0}, c1 = {0, 0, 1};
        T.kind = SHMKIT_KIND_QUEUE;
        T.n1 = 2000;
        static struct wargs wq = {0, 0, 0, 0, 0};
        kids[nk++] = cu_spawn(writer_child, &wq);
        pid_t victim = cu_spawn(reader_child, &c0);
        CHECKF(cu_wait_fd(T.ready[0], 1, WAIT_MS) == 0, "consumer never opened");
        cu_sleep_ns(cu_splitmix(&rng) % 20000000);
        cu_kill(victim);
        kids[nk++] = cu_spawn(reader_child, &c1);
        break;
    }
    case 6: { /* everybody dies: the channel is stale */
        T.kind = (t / NSCEN) % 2 ? SHMKIT_KIND_QUEUE : SHMKIT_KIND_BUS;
        T.reliable = 1;
        w0.nready = T.kind == SHMKIT_KIND_BUS ? 1 : 0;
        pid_t victim = cu_spawn(writer_child, &w0);
        pid_t reader = cu_spawn(reader_child, &rn);
        bad += kill_after_start(victim, 10);
        cu_sleep_ns(cu_splitmix(&rng) % 5000000);
        int st = cu_kill(reader);
        if (!WIFSIGNALED(st)) {
            fprintf(stderr, "all-killed: the reader ended on its own\n");
            bad++;
        }
        if (shmkit_segment_stale(T.name) != 1) {
            fprintf(stderr, "all-killed: the channel is not stale (%d)\n",
                    shmkit_segment_stale(T.name));
            bad++;
        }
        break;
    }
    case 5: { /* SP producer dies, a new one continues */
        T.kind = SHMKIT_KIND_QUEUE;
        pid_t victim = cu_spawn(writer_child, &w0);
        kids[nk++] = cu_spawn(reader_child, &rn);
        bad += kill_after_start(victim, 20);
        kids[nk++] = cu_spawn(writer_child, &w1);
        break;
    }
    }
    for (int i = 0; i < nk; i++)
        bad += cu_reap(kids[i], scen_name[T.scen]) != 0;
    if (T.scen == 2) {
        uint64_t stall = atomic_load(&lg->max_stall_ns);
        if (stall > 1500000000ull) {
            fprintf(stderr, "bus-reader: the writer stalled %.0f ms behind the "
                    "dead reader\n", (double)stall / 1e6);
            bad++;
        }
        if (atomic_load(&lg->evictions) != 1) {
            fprintf(stderr, "bus-reader: %llu evictions counted, expected 1\n",
                    (unsigned long long)atomic_load(&lg->evictions));
            bad++;
        }
    }
    if (T.scen == 1 && T.holdres && atomic_load(&lg->deaths) != 1) {
        fprintf(stderr, "mp-producer: %llu producer deaths counted, expected 1\n",
                (unsigned long long)atomic_load(&lg->deaths));
        bad++;
    }
    close(T.ready[0]);
    close(T.ready[1]);
    close(T.started[0]);
    close(T.started[1]);
    /* everyone is gone: the owned channel was removed by its last user,
     * or (when the last user was killed) it is stale */
    int stale = shmkit_segment_stale(T.name);
    if (stale == 1)
        stale_left++;
    else if (stale != -ENOENT) {
        fprintf(stderr, "%s: the channel is left and not stale (%d)\n",
                scen_name[T.scen], stale);
        bad++;
    }
    if (bad) {
        fprintf(stderr, "trial %d (%s%s%s): FAIL\n", t, scen_name[T.scen],
                T.kind == SHMKIT_KIND_BUS ? (T.reliable ? ", reliable" : ", lossy")
                                          : "",
                T.holdres ? ", dies holding a reservation" : "");
        (*fails)++;
    }
    return bad;
}

/* ======================================================================== */
/* Part 2: the rolling soak                                                  */
/* ======================================================================== */

/*
 * One long-lived channel per kind, its writer (two producers for queue/mp)
 * and three readers (a queue's three would-be consumers: one holds the role,
 * two retry on SHMKIT_E_BUSY and take over when it dies) all running; the
 * parent SIGKILLs one of them at a random moment, starts a new process in
 * its place (it opens the same channel by name) and goes on.  Every kill is
 * a trial.
 *
 * How a new writer knows where to continue: the writers log, per producer,
 * `attempt` (seq + 1 of the message being sent, stored before reserve) and
 * `done` (stored once the send returned).  A writer killed in between leaves
 * one message in doubt (committed or not); the readers settle it:
 *  - bus, queue/sp: the parent bumps `epoch`; every reader calls recv after
 *    reading the epoch, drains what the dead writer committed, gets
 *    SHMKIT_E_PEER_GONE and reports the next sequence number it expects
 *    (lossy: counting shmkit_reader_lost()).  The reports must agree and be
 *    `done` or `attempt`; anything else is a lost or an invented message.
 *    If no reader can tell (each joined after the last commit), the writer
 *    continues at `attempt` and the one number in doubt is a permitted gap.
 *  - queue/mp: the other producer goes on; once the consumer has taken one
 *    of its messages claimed after the death, everything the dead one
 *    committed is behind the consumer: it continues after the last of its
 *    messages that a consumer took.
 *  - latest: it continues at `attempt` (newer than anything committed).
 * The queue's consumers log the last message of each producer they peeked,
 * before releasing it, so the at-least-once case of a consumer killed
 * between peek and release is told exactly: only the first message of a new
 * consumer may be the logged one again.
 */
enum { SK_QSP, SK_QMP, SK_BREL, SK_BLOSSY, SK_LATEST, SOAK_NKINDS };
static const char *soak_kname[SOAK_NKINDS] = {"queue/sp", "queue/mp",
                                              "bus/reliable", "bus/lossy",
                                              "latest"};

#define SOAK_ROLES 5     /* 1 or 2 writers + 3 readers */
#define SOAK_NREAD 3
#define SOAK_MAXGAPS 256
#define SOAK_RECV_TMO 20000000ll  /* a reader learns of a dead writer within one */
/* Shorter than the ~100 ms a reliable bus writer waits before it evicts a
 * dead reader: a writer whose every call gives up sooner must still evict
 * it (it once stayed stuck: test_chan_regress). */
#define SOAK_SEND_TMO 50000000ll
#define SOAK_STUCK_NS 10000000000ull /* 10 s without progress: a deadlock */
#define SOAK_WAIT_MS 10000

struct soak_log {
    /* the writers, per producer */
    _Atomic uint64_t attempt[2], done[2];
    _Atomic uint32_t gen[2];        /* incarnation (the parent, before spawning) */
    /* the queue's consumers: last message peeked, per producer (-1 none) */
    _Atomic int64_t q_last[2];
    _Atomic uint32_t q_lastgen[2];
    _Atomic uint32_t q_closed;
    _Atomic uint64_t consumed;
    /* a writer was killed: readers report what they expect next */
    _Atomic uint64_t epoch;
    _Atomic uint64_t rep_epoch[SOAK_ROLES];
    _Atomic int64_t rep_next[SOAK_ROLES];
    /* per role (all incarnations) */
    _Atomic uint32_t up[SOAK_ROLES];     /* incarnation that is under way */
    _Atomic uint64_t beat[SOAK_ROLES];   /* loops: grows unless stuck */
    _Atomic uint64_t rcvd[SOAK_ROLES];   /* messages taken */
    _Atomic uint32_t fin[SOAK_ROLES];    /* incarnation that saw the end */
    _Atomic int64_t fin_next[SOAK_ROLES]; /* bus: next expected; latest: last */
    _Atomic uint32_t stop, end_go, end_close, failed;
    /* sequence numbers a writer may have skipped (see above) */
    _Atomic uint32_t ngaps;
    _Atomic uint64_t gaps[SOAK_MAXGAPS];
    /* for the summary */
    _Atomic uint64_t redelivered, overruns, lost, gaps_crossed;
};

static struct {
    char name[128];
    int k, nprod, nroles, lossy, latest, queue;
    shmkit_kind_t kind;
    struct soak_log *log;
} S;

struct soak_arg {
    int role;
    uint32_t inc, gen;
    uint64_t start, seed;
};

/* Says why in one write (the others are saying things too). */
__attribute__((format(printf, 2, 3))) static void
soak_say(const struct soak_arg *a, const char *fmt, ...)
{
    char m[1024];
    int n = snprintf(m, sizeof m, "[test_chan_crash] soak %s, role %d "
                     "(incarnation %u, pid %d): ", soak_kname[S.k], a->role,
                     a->inc, (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m + n, sizeof m - (size_t)n - 1, fmt, ap);
    va_end(ap);
    n = (int)strlen(m);
    m[n++] = '\n';
    if (write(2, m, (size_t)n) < 0) {
        /* nothing to do */
    }
}

/* A child's check failed: say why, make everybody stop. */
#define SFAIL(...)                                                           \
    do {                                                                     \
        soak_say(a, __VA_ARGS__);                                            \
        atomic_store(&S.log->failed, 1);                                     \
        return SKT_FAIL;                                                     \
    } while (0)

static shmkit_wait_t soak_wait_mode(const struct soak_arg *a)
{
    return cu_wait_for(a->role + (int)a->inc);
}

static void soak_channel_opts(shmkit_channel_opts_t *co)
{
    shmkit_channel_opts_init(co, S.kind);
    co->capacity = S.latest ? 4096 : S.lossy ? 32768 : 65536;
    co->reliable = S.k == SK_BREL;
    co->multi_producer = S.k == SK_QMP;
}

/* a skipped sequence number in [lo, hi) that the parent permitted */
static int soak_gap_ok(uint64_t lo, uint64_t hi)
{
    uint32_t n = atomic_load(&S.log->ngaps);
    for (uint32_t i = 0; i < n && i < SOAK_MAXGAPS; i++) {
        uint64_t g = atomic_load(&S.log->gaps[i]);
        if (g >= lo && g < hi)
            return 1;
    }
    return 0;
}

static int soak_writer(void *arg)
{
    struct soak_arg *a = arg;
    struct soak_log *L = S.log;
    int p = a->role;
    shmkit_channel_opts_t co;
    shmkit_endpoint_opts_t eo;
    soak_channel_opts(&co);
    shmkit_endpoint_opts_init(&eo);
    eo.create = &co;
    eo.open_timeout_ms = 5000;
    eo.wait = soak_wait_mode(a);
    shmkit_writer_t *w;
    int rc = shmkit_writer_open(S.name, &eo, &w);
    if (rc != 0)
        SFAIL("writer_open: %d (%s): %s", rc, shmkit_strerror(rc),
              shmkit_last_error());
    uint64_t rs = a->seed, seq = a->start, stall = 0;
    uint8_t buf[CU_MAX_MSG];
    int burst = 0;
    while (!atomic_load(&L->stop)) {
        if (atomic_load(&L->failed))
            return SKT_FAIL;
        atomic_fetch_add(&L->beat[p], 1);
        uint32_t len = cu_msg_len((uint32_t)p, a->gen, seq);
        atomic_store(&L->attempt[p], seq + 1);
        uint64_t t0 = skt_now_ns();
        if (cu_splitmix(&rs) & 1) {
            cu_msg_make(buf, len, (uint32_t)p, a->gen, seq);
            rc = shmkit_writer_send(w, buf, len, SOAK_SEND_TMO);
        } else {
            void *m;
            rc = shmkit_writer_reserve(w, len, &m, SOAK_SEND_TMO);
            if (rc == 0) {
                cu_msg_make(m, len, (uint32_t)p, a->gen, seq);
                if (cu_splitmix(&rs) % 8 == 0) /* a kill may find it here */
                    cu_sleep_ns(cu_splitmix(&rs) % 1000000);
                rc = shmkit_writer_commit(w, len);
            }
        }
        if (rc == -ETIMEDOUT || rc == -EAGAIN) {
            stall += skt_now_ns() - t0;
            if (stall > SOAK_STUCK_NS)
                SFAIL("message %llu: no room for %.1f s",
                      (unsigned long long)seq, (double)stall / 1e9);
            continue;
        }
        if (rc != 0)
            SFAIL("message %llu: %d (%s): %s", (unsigned long long)seq, rc,
                  shmkit_strerror(rc), shmkit_last_error());
        stall = 0;
        atomic_store(&L->done[p], seq + 1);
        seq++;
        if (atomic_load(&L->up[p]) != a->inc)
            atomic_store(&L->up[p], a->inc);
        /* bursts and pauses: the readers fall behind now and then (lossy:
         * they get lapped), and 2 CPUs are not drowned.  A lossless
         * channel's writer is held back by its readers: it goes faster,
         * so that it waits for room (behind dead readers too) */
        if (--burst <= 0) {
            int lossless = !S.lossy && !S.latest;
            burst = 1 + (int)(cu_splitmix(&rs) % (lossless ? 64 : 16));
            cu_sleep_ns(cu_splitmix(&rs) % (lossless ? 200000 : 1000000));
        }
    }
    rc = shmkit_writer_close(w);
    if (rc != 0)
        SFAIL("writer_close: %d (%s)", rc, shmkit_strerror(rc));
    return SKT_PASS;
}

/* After the end of the stream: close, or wait to be killed (the parent
 * wants the channel left stale). */
static int soak_end(struct soak_arg *a, shmkit_reader_t *r)
{
    struct soak_log *L = S.log;
    uint64_t end = skt_now_ns() + 30000000000ull;
    while (!atomic_load(&L->end_go)) {
        if (atomic_load(&L->failed) || skt_now_ns() > end)
            SFAIL("never told how to end");
        cu_sleep_ns(1000000);
    }
    if (!atomic_load(&L->end_close)) {
        cu_sleep_ns(30000000000ull);
        SFAIL("was to be killed, was not");
    }
    int rc = shmkit_reader_close(r);
    if (rc != 0)
        SFAIL("reader_close: %d (%s)", rc, shmkit_strerror(rc));
    return SKT_PASS;
}

/* A bus or latest reader. */
static int soak_reader(void *arg)
{
    struct soak_arg *a = arg;
    struct soak_log *L = S.log;
    int role = a->role;
    shmkit_endpoint_opts_t eo;
    shmkit_endpoint_opts_init(&eo);
    eo.open_timeout_ms = 5000;
    eo.wait = soak_wait_mode(a);
    uint64_t done_before = atomic_load(&L->done[0]);
    shmkit_reader_t *r;
    int rc = shmkit_reader_open(S.name, &eo, &r);
    if (rc != 0)
        SFAIL("reader_open: %d (%s): %s", rc, shmkit_strerror(rc),
              shmkit_last_error());
    uint64_t attempt_after = atomic_load(&L->attempt[0]);
    /* a new reader has lost nothing, whoever had its attach slot before
     * (it once inherited that reader's count: test_chan_regress) */
    uint64_t lost_prev = shmkit_reader_lost(r);
    if (lost_prev)
        SFAIL("a new reader reports %llu lost", (unsigned long long)lost_prev);
    uint64_t rs = a->seed;
    int64_t expect = -1; /* bus: the next seq; latest: the last value */
    uint32_t last_gen = 0;
    uint8_t buf[CU_MAX_MSG];
    for (;;) {
        if (atomic_load(&L->failed))
            return SKT_FAIL;
        atomic_fetch_add(&L->beat[role], 1);
        /* read before the call: a PEER_GONE it returns is newer */
        uint64_t epoch = atomic_load(&L->epoch);
        size_t len = 0;
        if (cu_splitmix(&rs) & 1) {
            const void *p;
            rc = shmkit_reader_peek(r, &p, &len, SOAK_RECV_TMO);
            if (rc == 0) {
                if (len > sizeof buf)
                    SFAIL("message of %zu bytes", len);
                /* dawdle: a lossy writer may overwrite it meanwhile, and
                 * then release must say OVERRUN */
                if (cu_splitmix(&rs) % 8 == 0)
                    cu_sleep_ns(cu_splitmix(&rs) % 1000000);
                memcpy(buf, p, len);
                rc = shmkit_reader_release(r);
            }
        } else {
            rc = shmkit_reader_recv(r, buf, sizeof buf, &len, SOAK_RECV_TMO);
        }
        if (rc == -ETIMEDOUT || rc == -EAGAIN)
            continue;
        if (S.lossy && rc == SHMKIT_E_OVERRUN)
            atomic_fetch_add(&L->overruns, 1);
        if (S.lossy && (rc == SHMKIT_E_LOST || rc == SHMKIT_E_OVERRUN))
            continue; /* counted in shmkit_reader_lost() */
        if (rc == SHMKIT_E_PEER_GONE || rc == SHMKIT_E_CLOSED) {
            if (!S.latest && expect >= 0) {
                uint64_t ln = shmkit_reader_lost(r);
                expect += (int64_t)(ln - lost_prev);
                lost_prev = ln;
            }
            if (rc == SHMKIT_E_PEER_GONE) {
                atomic_store(&L->rep_next[role], expect);
                atomic_store(&L->rep_epoch[role], epoch);
                cu_sleep_ns(1000000);
                continue;
            }
            atomic_store(&L->fin_next[role], expect);
            atomic_store(&L->fin[role], a->inc);
            return soak_end(a, r);
        }
        if (rc != 0)
            SFAIL("recv: %d (%s): %s", rc, shmkit_strerror(rc),
                  shmkit_last_error());
        struct cu_msg m;
        const char *bad = cu_msg_check(buf, len, &m);
        if (bad)
            SFAIL("message of %zu bytes: %s", len, bad);
        if ((m.magic & 0xff) != 0)
            SFAIL("message from producer %u", m.magic & 0xff);
        if (m.gen < last_gen || m.gen > atomic_load(&L->gen[0]))
            SFAIL("message %llu of writer generation %u after one of %u "
                  "(current %u)", (unsigned long long)m.seq, m.gen, last_gen,
                  atomic_load(&L->gen[0]));
        last_gen = m.gen;
        uint64_t ln = shmkit_reader_lost(r), d = ln - lost_prev;
        lost_prev = ln;
        atomic_fetch_add(&L->lost, d);
        if (!S.lossy && d)
            SFAIL("shmkit_reader_lost() grew by %llu on a lossless channel",
                  (unsigned long long)d);
        if (S.latest) {
            if (expect >= 0 && (int64_t)m.seq <= expect)
                SFAIL("value %llu after value %lld: not newer",
                      (unsigned long long)m.seq, (long long)expect);
            if (expect < 0 && m.seq + 1 < done_before)
                SFAIL("first value %llu, but %llu was written before the "
                      "reader opened", (unsigned long long)m.seq,
                      (unsigned long long)(done_before - 1));
            expect = (int64_t)m.seq;
        } else if (expect < 0) {
            /* joins at the next message written after reader_open */
            uint64_t slack = S.lossy ? d + atomic_load(&L->ngaps) : 0;
            if (m.seq < done_before)
                SFAIL("first message %llu, but %llu were sent before the "
                      "reader opened", (unsigned long long)m.seq,
                      (unsigned long long)done_before);
            if (m.seq > attempt_after + slack)
                SFAIL("first message %llu, but only %llu had been tried when "
                      "the reader had joined: messages skipped",
                      (unsigned long long)m.seq,
                      (unsigned long long)attempt_after);
            expect = (int64_t)m.seq + 1;
        } else {
            uint64_t want = (uint64_t)expect + d;
            if (m.seq != want) {
                if (m.seq == want + 1 && soak_gap_ok((uint64_t)expect, m.seq))
                    atomic_fetch_add(&L->gaps_crossed, 1);
                else
                    SFAIL("message %llu, expected %llu (lost counter grew by "
                          "%llu): %s", (unsigned long long)m.seq,
                          (unsigned long long)want, (unsigned long long)d,
                          m.seq < want ? "duplicate or reordered"
                                       : "lost and not counted");
            }
            expect = (int64_t)m.seq + 1;
        }
        atomic_fetch_add(&L->rcvd[role], 1);
        if (atomic_load(&L->up[role]) != a->inc)
            atomic_store(&L->up[role], a->inc);
    }
}

/* One of the queue's would-be consumers. */
static int soak_consumer(void *arg)
{
    struct soak_arg *a = arg;
    struct soak_log *L = S.log;
    int role = a->role;
    shmkit_endpoint_opts_t eo;
    shmkit_endpoint_opts_init(&eo);
    eo.open_timeout_ms = 5000;
    eo.wait = soak_wait_mode(a);
    uint64_t rs = a->seed;
    shmkit_reader_t *r = NULL;
    for (;;) {
        if (atomic_load(&L->failed))
            return SKT_FAIL;
        atomic_fetch_add(&L->beat[role], 1);
        int rc = shmkit_reader_open(S.name, &eo, &r);
        if (atomic_load(&L->up[role]) != a->inc)
            atomic_store(&L->up[role], a->inc);
        if (rc == 0)
            break;
        if (rc != SHMKIT_E_BUSY)
            SFAIL("reader_open: %d (%s): %s", rc, shmkit_strerror(rc),
                  shmkit_last_error());
        if (atomic_load(&L->q_closed))
            return SKT_PASS; /* the stream ended with another consumer */
        cu_sleep_ns(500000 + cu_splitmix(&rs) % 2000000);
    }
    int first = 1;
    uint8_t buf[CU_MAX_MSG];
    for (;;) {
        if (atomic_load(&L->failed))
            return SKT_FAIL;
        atomic_fetch_add(&L->beat[role], 1);
        uint64_t epoch = atomic_load(&L->epoch);
        const void *p;
        size_t len;
        int rc = shmkit_reader_peek(r, &p, &len, SOAK_RECV_TMO);
        if (rc == -ETIMEDOUT || rc == -EAGAIN)
            continue;
        if (rc == SHMKIT_E_PEER_GONE) {
            if (S.nprod == 1) {
                atomic_store(&L->rep_next[role], atomic_load(&L->q_last[0]) + 1);
                atomic_store(&L->rep_epoch[role], epoch);
            }
            cu_sleep_ns(1000000);
            continue;
        }
        if (rc == SHMKIT_E_CLOSED) {
            atomic_store(&L->q_closed, 1);
            atomic_store(&L->fin[role], a->inc);
            return soak_end(a, r);
        }
        if (rc != 0)
            SFAIL("peek: %d (%s): %s", rc, shmkit_strerror(rc),
                  shmkit_last_error());
        if (len > sizeof buf)
            SFAIL("message of %zu bytes", len);
        memcpy(buf, p, len);
        struct cu_msg m;
        const char *bad = cu_msg_check(buf, len, &m);
        if (bad)
            SFAIL("message of %zu bytes: %s", len, bad);
        uint32_t pr = m.magic & 0xff;
        if ((int)pr >= S.nprod)
            SFAIL("message from producer %u", pr);
        int64_t last = atomic_load(&L->q_last[pr]);
        if ((int64_t)m.seq == last + 1) {
            /* in order */
        } else if (first && (int64_t)m.seq == last) {
            /* the dead consumer's message in flight: at-least-once */
            atomic_fetch_add(&L->redelivered, 1);
        } else {
            SFAIL("producer %u: message %llu after %lld (%s)", pr,
                  (unsigned long long)m.seq, (long long)last,
                  (int64_t)m.seq <= last ? "duplicate or reordered" : "lost");
        }
        uint32_t lgen = atomic_load(&L->q_lastgen[pr]);
        if (m.gen < lgen || m.gen > atomic_load(&L->gen[pr]))
            SFAIL("producer %u: message %llu of generation %u after one of %u",
                  pr, (unsigned long long)m.seq, m.gen, lgen);
        /* logged before the release: a consumer killed in between leaves
         * exactly this message to be delivered again */
        atomic_store(&L->q_lastgen[pr], m.gen);
        atomic_store(&L->q_last[pr], (int64_t)m.seq);
        first = 0;
        if (cu_splitmix(&rs) % 8 == 0) /* work on it in place */
            cu_sleep_ns(cu_splitmix(&rs) % 1000000);
        rc = shmkit_reader_release(r);
        if (rc != 0)
            SFAIL("release: %d (%s): %s", rc, shmkit_strerror(rc),
                  shmkit_last_error());
        atomic_fetch_add(&L->consumed, 1);
        atomic_fetch_add(&L->rcvd[role], 1);
    }
}

/* ---- the parent ------------------------------------------------------------ */

struct soak_sum {
    int trials, kills_w, kills_r, drains, gaps, unwaited, late_restarts;
    int doubts, doubts_committed; /* a writer died in the middle of a send */
    uint64_t msgs, redelivered, lost, overruns, gaps_crossed;
    uint64_t evictions, deaths;
    int stale;
    double secs;
};

static pid_t soak_pid[SOAK_ROLES];
static uint32_t soak_inc[SOAK_ROLES];
static uint64_t soak_seed;

static const char *soak_role_name(int role)
{
    if (role < S.nprod)
        return S.queue ? "producer" : "writer";
    return S.queue ? "consumer" : "reader";
}

static void soak_spawn(int role, uint64_t start)
{
    static struct soak_arg arg; /* copied by fork */
    arg.role = role;
    arg.inc = ++soak_inc[role];
    arg.gen = role < S.nprod ? atomic_load(&S.log->gen[role]) : 0;
    arg.start = start;
    arg.seed = cu_mix(soak_seed, ((uint64_t)S.k << 40) ^ ((uint64_t)role << 32) ^
                                     arg.inc);
    skt_fn fn = role < S.nprod ? soak_writer
                : S.queue      ? soak_consumer
                               : soak_reader;
    soak_pid[role] = cu_spawn(fn, &arg);
}

/* 1 (after saying so) when a process ended that should not have */
static int soak_reaped_early(void)
{
    for (int i = 0; i < S.nroles; i++) {
        int st;
        if (soak_pid[i] > 0 && waitpid(soak_pid[i], &st, WNOHANG) == soak_pid[i]) {
            cu_forget_kid(soak_pid[i]);
            soak_pid[i] = 0;
            fprintf(stderr, "[test_chan_crash] soak %s: %s %d ended on its own "
                    "(status 0x%x)\n", soak_kname[S.k], soak_role_name(i), i, st);
            atomic_store(&S.log->failed, 1);
            return 1;
        }
    }
    return 0;
}

typedef int (*soak_pred)(void *ctx);

/* Polls pred for up to SOAK_WAIT_MS; 0, or -1 (said why) on a timeout, a
 * failed child or one that ended. */
static int soak_until(soak_pred pred, void *ctx, const char *what)
{
    uint64_t end = skt_now_ns() + (uint64_t)SOAK_WAIT_MS * 1000000ull;
    for (;;) {
        if (pred(ctx))
            return 0;
        if (atomic_load(&S.log->failed) || soak_reaped_early())
            return -1;
        if (skt_now_ns() > end) {
            fprintf(stderr, "[test_chan_crash] soak %s: %s: not within %d ms "
                    "(a wait that never ends?)\n", soak_kname[S.k], what,
                    SOAK_WAIT_MS);
            atomic_store(&S.log->failed, 1);
            return -1;
        }
        cu_sleep_ns(500000);
    }
}

static int p_up(void *ctx)
{
    int role = *(int *)ctx;
    return atomic_load(&S.log->up[role]) == soak_inc[role];
}

static int p_all_up(void *ctx)
{
    (void)ctx;
    for (int i = 0; i < S.nroles; i++)
        if (!p_up(&i))
            return 0;
    return !S.queue || atomic_load(&S.log->consumed) > 0;
}

struct drain_ctx {
    uint64_t epoch;
};

static int p_drained(void *ctx)
{
    struct drain_ctx *c = ctx;
    int n = 0;
    for (int i = S.nprod; i < S.nroles; i++)
        n += atomic_load(&S.log->rep_epoch[i]) >= c->epoch;
    /* the queue: its one consumer; the bus: every reader */
    return S.queue ? n >= 1 : n == SOAK_NREAD;
}

struct mp_ctx {
    int q;
    int64_t want;
};

static int p_mp_passed(void *ctx)
{
    struct mp_ctx *c = ctx;
    return atomic_load(&S.log->q_last[c->q]) >= c->want;
}

static uint64_t soak_sent(void)
{
    uint64_t n = 0;
    for (int p = 0; p < S.nprod; p++)
        n += atomic_load(&S.log->done[p]);
    return n;
}

struct sent_ctx {
    uint64_t want;
};

static int p_sent(void *ctx)
{
    return soak_sent() >= ((struct sent_ctx *)ctx)->want;
}

struct ckpt {
    uint64_t beat[SOAK_ROLES], rcvd[SOAK_ROLES], done[2], consumed;
};

static void ckpt_take(struct ckpt *c)
{
    for (int i = 0; i < S.nroles; i++) {
        c->beat[i] = atomic_load(&S.log->beat[i]);
        c->rcvd[i] = atomic_load(&S.log->rcvd[i]);
    }
    for (int p = 0; p < S.nprod; p++)
        c->done[p] = atomic_load(&S.log->done[p]);
    c->consumed = atomic_load(&S.log->consumed);
}

static int p_moved(void *ctx)
{
    struct ckpt *c = ctx, n;
    ckpt_take(&n);
    for (int i = 0; i < S.nroles; i++) {
        if (n.beat[i] == c->beat[i])
            return 0;
        if (i >= S.nprod && !S.queue && n.rcvd[i] == c->rcvd[i])
            return 0;
    }
    for (int p = 0; p < S.nprod; p++)
        if (n.done[p] == c->done[p])
            return 0;
    return !S.queue || n.consumed > c->consumed;
}

/* Everyone moves: every process loops, every writer sends, every reader
 * (the queue: its consumer) receives. */
static int soak_checkpoint(void)
{
    struct ckpt c;
    ckpt_take(&c);
    if (soak_until(p_moved, &c, "progress of every process") == 0)
        return 0;
    struct ckpt n;
    ckpt_take(&n);
    for (int i = 0; i < S.nroles; i++)
        fprintf(stderr, "    %s %d: %llu loops, %llu messages since the "
                "checkpoint\n", soak_role_name(i), i,
                (unsigned long long)(n.beat[i] - c.beat[i]),
                (unsigned long long)(i < S.nprod ? n.done[i] - c.done[i]
                                                 : n.rcvd[i] - c.rcvd[i]));
    return -1;
}

/* A writer was killed: where does the next one continue? */
static int soak_restart_writer(int p, struct soak_sum *sum)
{
    struct soak_log *L = S.log;
    uint64_t done = atomic_load(&L->done[p]), att = atomic_load(&L->attempt[p]);
    uint64_t start = att;
    if (S.k == SK_QMP) {
        /* the survivor's next message is claimed after the death: once the
         * consumer took it, it took everything the dead one committed */
        struct mp_ctx c = {1 - p, (int64_t)atomic_load(&L->attempt[1 - p])};
        if (soak_until(p_mp_passed, &c, "the consumer passing the dead "
                                        "producer's messages") != 0)
            return -1;
        start = (uint64_t)(atomic_load(&L->q_last[p]) + 1);
        sum->drains++;
    } else if (!S.latest) {
        struct drain_ctx c = {atomic_fetch_add(&L->epoch, 1) + 1};
        if (soak_until(p_drained, &c, "the readers draining the dead writer") != 0)
            return -1;
        int64_t next = -1;
        for (int i = S.nprod; i < S.nroles; i++) {
            if (atomic_load(&L->rep_epoch[i]) < c.epoch)
                continue;
            int64_t v = atomic_load(&L->rep_next[i]);
            if (v < 0)
                continue;
            if (next >= 0 && v != next) {
                fprintf(stderr, "[test_chan_crash] soak %s: after the writer "
                        "died, one reader expects message %lld next, another "
                        "%lld\n", soak_kname[S.k], (long long)next, (long long)v);
                return -1;
            }
            next = v;
        }
        if (next >= 0) {
            start = (uint64_t)next;
            sum->drains++;
        } else if (att != done) {
            /* nobody can tell whether message `done` was committed */
            uint32_t g = atomic_load(&L->ngaps);
            if (g < SOAK_MAXGAPS) {
                atomic_store(&L->gaps[g], done);
                atomic_store(&L->ngaps, g + 1);
            }
            sum->gaps++;
        }
    }
    if (att != done && (start == done || start == att)) {
        sum->doubts++;
        sum->doubts_committed += start == att;
    }
    if (start != done && start != att) {
        fprintf(stderr, "[test_chan_crash] soak %s: the dead %s %d had sent "
                "%llu messages (and was sending one more); the readers have "
                "%llu: %s\n", soak_kname[S.k], soak_role_name(p), p,
                (unsigned long long)done, (unsigned long long)start,
                start < done ? "committed messages were lost"
                             : "messages nobody sent were received");
        return -1;
    }
    atomic_fetch_add(&L->gen[p], 1);
    soak_spawn(p, start);
    return 0;
}

static int p_final(void *ctx)
{
    (void)ctx;
    if (S.queue)
        return atomic_load(&S.log->q_closed) != 0;
    for (int i = S.nprod; i < S.nroles; i++)
        if (atomic_load(&S.log->fin[i]) != soak_inc[i])
            return 0;
    return 1;
}

/* Waits up to SOAK_WAIT_MS for pid to exit; its exit code, or -1. */
static int soak_reap(int role)
{
    uint64_t end = skt_now_ns() + (uint64_t)SOAK_WAIT_MS * 1000000ull;
    int st;
    for (;;) {
        pid_t r = waitpid(soak_pid[role], &st, WNOHANG);
        if (r == soak_pid[role])
            break;
        if (skt_now_ns() > end) {
            fprintf(stderr, "[test_chan_crash] soak %s: %s %d did not end\n",
                    soak_kname[S.k], soak_role_name(role), role);
            cu_kill(soak_pid[role]);
            soak_pid[role] = 0;
            return -1;
        }
        cu_sleep_ns(1000000);
    }
    cu_forget_kid(soak_pid[role]);
    soak_pid[role] = 0;
    return skt_status_rc(st, soak_role_name(role));
}

/* The end: writers close, readers drain, everything sent was received;
 * then the readers close (the channel goes with the last of them) or are
 * killed (it is left stale, for gc). */
static int soak_finish(uint64_t *rs, struct soak_sum *sum)
{
    struct soak_log *L = S.log;
    int bad = 0;
    atomic_store(&L->stop, 1);
    for (int p = 0; p < S.nprod; p++)
        bad += soak_reap(p) != 0;
    if (bad || soak_until(p_final, NULL, "the end of the stream") != 0)
        return -1;
    int holder = -1;
    if (S.queue) {
        /* the would-be consumers leave; the one holding the role stays */
        for (int i = S.nprod; i < S.nroles; i++) {
            if (atomic_load(&L->fin[i]) == soak_inc[i])
                holder = i;
            else
                bad += soak_reap(i) != 0;
        }
        if (holder < 0) {
            fprintf(stderr, "[test_chan_crash] soak %s: no consumer saw the "
                    "end\n", soak_kname[S.k]);
            return -1;
        }
        for (int p = 0; p < S.nprod; p++) {
            int64_t last = atomic_load(&L->q_last[p]);
            uint64_t done = atomic_load(&L->done[p]);
            if (last + 1 != (int64_t)done) {
                fprintf(stderr, "[test_chan_crash] soak %s: producer %d sent "
                        "%llu messages, the consumers took %lld\n",
                        soak_kname[S.k], p, (unsigned long long)done,
                        (long long)(last + 1));
                bad++;
            }
        }
    } else {
        uint64_t done = atomic_load(&L->done[0]);
        for (int i = S.nprod; i < S.nroles; i++) {
            int64_t v = atomic_load(&L->fin_next[i]);
            int64_t want = S.latest ? (int64_t)done - 1 : (int64_t)done;
            if (v != want && !(v < 0 && !S.latest)) {
                fprintf(stderr, "[test_chan_crash] soak %s: reader %d ended at "
                        "%lld, the writer's %s was %lld\n", soak_kname[S.k], i,
                        (long long)v, S.latest ? "last value" : "message count",
                        (long long)want);
                bad++;
            }
        }
    }
    shmkit_channel_stat_t st;
    int rc = shmkit_channel_stat(S.name, &st);
    if (rc != 0 || !st.closed) {
        fprintf(stderr, "[test_chan_crash] soak %s: channel_stat %d, closed "
                "%d after the writers closed\n", soak_kname[S.k], rc,
                rc ? -1 : st.closed);
        bad++;
    } else {
        sum->evictions = st.evictions;
        sum->deaths = st.producer_deaths;
        /* a dead reader is evicted once, a dead producer's claim padded once */
        if (st.evictions > (uint64_t)sum->kills_r ||
            st.producer_deaths > (uint64_t)sum->kills_w) {
            fprintf(stderr, "[test_chan_crash] soak %s: %llu evictions and "
                    "%llu producer deaths counted for %d reader and %d writer "
                    "kills\n", soak_kname[S.k],
                    (unsigned long long)st.evictions,
                    (unsigned long long)st.producer_deaths, sum->kills_r,
                    sum->kills_w);
            bad++;
        }
    }
    if (bad)
        return -1;
    int close_them = (int)(cu_splitmix(rs) & 1);
    atomic_store(&L->end_close, (uint32_t)close_them);
    atomic_store(&L->end_go, 1);
    for (int i = S.nprod; i < S.nroles; i++) {
        if (!soak_pid[i])
            continue;
        if (close_them) {
            bad += soak_reap(i) != 0;
        } else {
            cu_kill(soak_pid[i]);
            soak_pid[i] = 0;
        }
    }
    int stale = shmkit_segment_stale(S.name);
    if (close_them && stale != -ENOENT) {
        fprintf(stderr, "[test_chan_crash] soak %s: everyone closed, but the "
                "channel is still there (stale: %d)\n", soak_kname[S.k], stale);
        bad++;
    } else if (!close_them && stale != 1) {
        fprintf(stderr, "[test_chan_crash] soak %s: the last users were "
                "killed, but the channel is not stale (%d)\n",
                soak_kname[S.k], stale);
        bad++;
    }
    sum->stale = !close_them && stale == 1;
    return bad ? -1 : 0;
}

/* One kind: trials kills.  0 or -1. */
static int soak_kind(int k, int trials, uint64_t *rs, struct soak_log *L,
                     struct soak_sum *sum)
{
    uint64_t t0 = skt_now_ns();
    memset(L, 0, sizeof *L);
    memset(&S, 0, sizeof S);
    memset(soak_pid, 0, sizeof soak_pid);
    memset(soak_inc, 0, sizeof soak_inc);
    memset(sum, 0, sizeof *sum);
    S.k = k;
    S.log = L;
    S.queue = k == SK_QSP || k == SK_QMP;
    S.lossy = k == SK_BLOSSY;
    S.latest = k == SK_LATEST;
    S.kind = S.queue ? SHMKIT_KIND_QUEUE : S.latest ? SHMKIT_KIND_LATEST
                                                    : SHMKIT_KIND_BUS;
    S.nprod = k == SK_QMP ? 2 : 1;
    S.nroles = S.nprod + SOAK_NREAD;
    for (int i = 0; i < 2; i++)
        atomic_store(&L->q_last[i], -1);
    for (int i = 0; i < SOAK_ROLES; i++)
        atomic_store(&L->rep_next[i], -1);
    skt_name(S.name, sizeof S.name);
    soak_seed = cu_splitmix(rs);

    int rc = -1;
    /* the writers create the channel; the readers wait for it to appear */
    for (int i = 0; i < S.nroles; i++)
        soak_spawn(i, 0);
    if (soak_until(p_all_up, NULL, "everyone under way") != 0)
        goto out;
    for (int t = 0; t < trials; t++) {
        int role = (int)(cu_splitmix(rs) % (uint64_t)S.nroles);
        cu_sleep_ns(cu_splitmix(rs) % 20000001ull); /* 0-20 ms */
        if (atomic_load(&L->failed) || soak_reaped_early())
            goto out;
        int st = cu_kill(soak_pid[role]);
        soak_pid[role] = 0;
        if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)) {
            fprintf(stderr, "[test_chan_crash] soak %s: %s %d ended on its "
                    "own (status 0x%x)\n", soak_kname[k], soak_role_name(role),
                    role, st);
            goto out;
        }
        sum->trials++;
        if (role < S.nprod) {
            sum->kills_w++;
            if (soak_restart_writer(role, sum) != 0)
                goto out;
        } else {
            sum->kills_r++;
            if (cu_splitmix(rs) % 4 == 0) {
                /* the others go on without it: two rings' worth of
                 * messages (a reliable bus must evict the dead reader) */
                struct sent_ctx c = {soak_sent() + 128};
                if (soak_until(p_sent, &c, "the writer going on without the "
                                           "dead reader") != 0)
                    goto out;
                sum->late_restarts++;
            }
            soak_spawn(role, 0);
        }
        /* mostly the next kill waits until the new process is under way;
         * now and then it may catch one still opening */
        if (cu_splitmix(rs) % 4) {
            if (soak_until(p_up, &role, "the new process under way") != 0)
                goto out;
        } else {
            sum->unwaited++;
        }
        if (t % 10 == 9 && soak_checkpoint() != 0)
            goto out;
    }
    if (soak_checkpoint() != 0 || soak_finish(rs, sum) != 0)
        goto out;
    rc = 0;
out:
    for (int i = 0; i < S.nroles; i++)
        if (soak_pid[i] > 0) {
            cu_kill(soak_pid[i]);
            soak_pid[i] = 0;
        }
    if (rc != 0) {
        fprintf(stderr, "[test_chan_crash] soak %s: FAIL after %d kills "
                "(SHMKIT_TEST_SEED repeats the choices, not the timing)\n",
                soak_kname[k], sum->trials);
        /* the channel is somebody's business no more: remove it */
        shmkit_segment_unlink(S.name);
    }
    for (int p = 0; p < S.nprod; p++)
        sum->msgs += atomic_load(&L->done[p]);
    sum->redelivered = atomic_load(&L->redelivered);
    sum->overruns = atomic_load(&L->overruns);
    sum->lost = atomic_load(&L->lost);
    sum->gaps_crossed = atomic_load(&L->gaps_crossed);
    sum->secs = (double)(skt_now_ns() - t0) / 1e9;
    return rc;
}

/* 50*scale kills, spread over the five kinds.  Returns the failures and
 * adds the channels it left stale to *stale. */
static int soak(uint64_t *rs, int trials, int *stale)
{
    struct soak_log *L = mmap(NULL, sizeof *L, PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(L != MAP_FAILED);
    int fails = 0;
    printf("soak: %d kills over %d channels, each with %d readers\n", trials,
           SOAK_NKINDS, SOAK_NREAD);
    for (int k = 0; k < SOAK_NKINDS; k++) {
        struct soak_sum s;
        int n = trials / SOAK_NKINDS + (k < trials % SOAK_NKINDS);
        /* every wait is bounded (SOAK_WAIT_MS); this is the last resort */
        cu_watchdog(60 + (unsigned)n);
        int r = soak_kind(k, n, rs, L, &s);
        cu_watchdog(0);
        fails += r != 0;
        *stale += s.stale;
        printf("%-13s %3d kills (%d writer, %d reader), %llu messages, "
               "%llu redelivered, %llu lost (%llu overruns), %.1f s: %s\n",
               soak_kname[k], s.trials, s.kills_w, s.kills_r,
               (unsigned long long)s.msgs, (unsigned long long)s.redelivered,
               (unsigned long long)s.lost, (unsigned long long)s.overruns,
               s.secs, r ? "FAIL" : "ok");
        if (!S.latest)
            printf("%-13s %d writers replaced after a drain; %d died in the "
                   "middle of a send (%d of those messages were committed), "
                   "%d gaps in doubt\n", "", s.drains, s.doubts,
                   s.doubts_committed, s.gaps);
        if (k == SK_QMP || k == SK_BREL)
            printf("%-13s %llu %s\n", "",
                   (unsigned long long)(k == SK_QMP ? s.deaths : s.evictions),
                   k == SK_QMP ? "dead producers' claims padded"
                               : "dead readers evicted");
        printf("%-13s %d kills caught the new process before it was under "
               "way; %d readers were restarted only after the writer went on\n",
               "", s.unwaited, s.late_restarts);
    }
    munmap(L, sizeof *L);
    return fails;
}

static const char *part; /* NULL: both; "scenarios" or "soak" */

static int body(void *arg)
{
    (void)arg;
    uint64_t t0 = skt_now_ns();
    const char *s = getenv("SHMKIT_TEST_SEED");
    rng = s ? strtoull(s, NULL, 0) : skt_rand64();
    printf("seed %llu (SHMKIT_TEST_SEED), %s\n", (unsigned long long)rng,
           skt_in_ns ? "private namespaces" : "no namespaces");
    int trials = 50 * skt_scale(), fails = 0;
    if (!part || !strcmp(part, "scenarios")) {
        shmkit_segment_opts_t o;
        shmkit_segment_t *seg;
        shmkit_segment_opts_init(&o);
        o.size = 4096;
        CHECK_OK(shmkit_segment_create(skt_name(log_name, sizeof log_name), &o,
                                       &seg));
        lg = shmkit_segment_data(seg);
        int per[NSCEN] = {0}, perfail[NSCEN] = {0};
        for (int t = 0; t < trials; t++) {
            /* a scenario that failed once is not run again: a stuck one
             * costs seconds per trial */
            if (perfail[t % NSCEN])
                continue;
            per[t % NSCEN]++;
            perfail[t % NSCEN] += trial(t, &fails) != 0;
        }
        for (int i = 0; i < NSCEN; i++)
            printf("%-15s %2d trials%s\n", scen_name[i], per[i],
                   perfail[i] ? ", FAILED (the rest skipped)" : ", ok");
        CHECK_OK(shmkit_segment_close(seg));
        printf("%d trials in %.1f s\n", trials, (double)(skt_now_ns() - t0) / 1e9);
    }
    int soak_fails = 0;
    if (!part || !strcmp(part, "soak")) {
        uint64_t t1 = skt_now_ns();
        soak_fails = soak(&rng, trials, &stale_left);
        printf("soak: %d kills in %.1f s\n", trials,
               (double)(skt_now_ns() - t1) / 1e9);
    }

    char prefix[64];
    snprintf(prefix, sizeof prefix, "skt-test_chan_crash-%d-", (int)getpid());
    printf("%d channels were left stale by killed last users\n", stale_left);
    if (skt_in_ns) {
        int removed = shmkit_gc(0, NULL, NULL);
        EXPECT(removed == stale_left, "gc removed %d, %d were stale", removed,
               stale_left);
        EXPECT(skt_count_dir("/dev/shm") == 0, "/dev/shm is not empty after gc");
        if (skt_count_dir("/dev/shm") != 0)
            skt_dump_dir("/dev/shm");
    } else {
        /* not ours to gc the machine: unlink our stale names */
        DIR *d = opendir("/dev/shm");
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (strncmp(e->d_name, prefix, strlen(prefix)))
                continue;
            EXPECT(shmkit_segment_stale(e->d_name) == 1, "%s left and not stale",
                   e->d_name);
            shmkit_segment_unlink(e->d_name);
        }
        if (d)
            closedir(d);
        EXPECT(cu_count_shm_prefix(prefix, 1) == 0, "leftovers in /dev/shm");
    }
    EXPECT(fails == 0, "%d of %d trials failed", fails, trials);
    EXPECT(soak_fails == 0, "the soak failed on %d of %d channels", soak_fails,
           SOAK_NKINDS);
    printf("done in %.1f s\n", (double)(skt_now_ns() - t0) / 1e9);
    return cu_result();
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        part = argv[1];
        if (strcmp(part, "scenarios") && strcmp(part, "soak")) {
            fprintf(stderr, "usage: %s [scenarios|soak]\n", argv[0]);
            return 2;
        }
    }
    cu_init("test_chan_crash", 0);
    return skt_run_isolated(body, NULL);
}
