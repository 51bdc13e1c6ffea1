/*
 * test_chan_crash - kill -9 at random moments; the survivors go on.
 *
 * 50*scale trials (100 in CI), cycling through six scenarios; each kill is
 * a SIGKILL after a random delay once the victim is under way:
 *
 *  bus-writer     the bus writer (reliable or lossy, alternately) dies; two
 *                 readers drain what it committed (reliable: exactly that,
 *                 intact, in order) and may see SHMKIT_E_PEER_GONE; a new
 *                 writer opens (no BUSY) and continues; the readers get all
 *                 of its messages, then SHMKIT_E_CLOSED
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
 * Channels are owned (created by writer_open); where the last user was
 * killed, the channel is stale.  All of it runs in private mount + IPC
 * namespaces where possible: at the end shmkit_gc() must leave /dev/shm
 * empty (elsewhere: every channel name left is stale and is unlinked).
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
    /* the survivor: everything (lossy: at least its last message) */
    int surv = T.multi ? 1 : (T.scen == 2 || a->consumer1) ? 0 : 2;
    if (!a->consumer1) {
        if ((queue || T.reliable) && cnt[surv] != T.n1)
            RFAIL("%llu of the survivor's %llu messages received",
                  (unsigned long long)cnt[surv], (unsigned long long)T.n1);
        if ((lossy || latest) && next[surv] != T.n1)
            RFAIL("the survivor's last message %llu was not received (last %llu)",
                  (unsigned long long)(T.n1 - 1),
                  (unsigned long long)(next[surv] - 1));
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
        pid_t victim = cu_spawn(writer_child, &w0);
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

static int body(void *arg)
{
    (void)arg;
    uint64_t t0 = skt_now_ns();
    shmkit_segment_opts_t o;
    shmkit_segment_t *seg;
    shmkit_segment_opts_init(&o);
    o.size = 4096;
    CHECK_OK(shmkit_segment_create(skt_name(log_name, sizeof log_name), &o, &seg));
    lg = shmkit_segment_data(seg);
    const char *s = getenv("SHMKIT_TEST_SEED");
    rng = s ? strtoull(s, NULL, 0) : skt_rand64();
    printf("seed %llu (SHMKIT_TEST_SEED), %s\n", (unsigned long long)rng,
           skt_in_ns ? "private namespaces" : "no namespaces");
    int trials = 50 * skt_scale(), fails = 0;
    int per[NSCEN] = {0}, perfail[NSCEN] = {0};
    for (int t = 0; t < trials; t++) {
        /* a scenario that failed once is not run again: a stuck one costs
         * seconds per trial */
        if (perfail[t % NSCEN])
            continue;
        per[t % NSCEN]++;
        perfail[t % NSCEN] += trial(t, &fails) != 0;
    }
    for (int i = 0; i < NSCEN; i++)
        printf("%-15s %2d trials%s\n", scen_name[i], per[i],
               perfail[i] ? ", FAILED (the rest skipped)" : ", ok");
    CHECK_OK(shmkit_segment_close(seg));

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
    printf("%d trials in %.1f s\n", trials, (double)(skt_now_ns() - t0) / 1e9);
    return cu_result();
}

int main(void)
{
    cu_init("test_chan_crash", 0);
    return skt_run_isolated(body, NULL);
}
