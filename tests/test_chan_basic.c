/*
 * test_chan_basic - the channel API, one behaviour at a time, for every kind
 * (queue SP, queue MP, lossy bus, reliable bus, latest).
 *
 *  sizes      send/recv and reserve/commit/peek/release of 0, 1, 7, 8, 64,
 *             1000 and max_msg bytes arrive intact; max_msg + 1 is -EMSGSIZE;
 *             a short commit delivers the shorter message; a too-small recv
 *             buffer is -EMSGSIZE and keeps the message; misuse is -EINVAL
 *  empty      timeout 0 is -EAGAIN and leaves shmkit_last_error() alone; a
 *             bounded timeout is -ETIMEDOUT after about that long
 *  full       queue (SP, MP) and reliable bus: -EAGAIN with timeout 0,
 *             -ETIMEDOUT with a small timeout, room again after a read; a
 *             lossy bus never refuses
 *             an MP producer waiting for room gets it once the queue moved
 *             on, however far (it is stopped meanwhile with SIGSTOP)
 *  busy       a second bus/latest writer, SP producer or queue consumer is
 *             SHMKIT_E_BUSY (same process and another process) while the
 *             first lives, and welcome after it detached, closed or died;
 *             a second MP producer is welcome
 *  close      writer_close: readers drain, then SHMKIT_E_CLOSED (also with
 *             timeout < 0); an owned channel vanishes with its last user
 *  bus        every reader sees every message; a reader joins at the next
 *             message written after reader_open returns
 *  lossy      a lapped reader gets SHMKIT_E_LOST once and goes on; at the
 *             end received + lost == sent, also when the reader was lapped
 *             before its first message or just before the stream ended
 *  latest     the newest value, never an older one; -EAGAIN until a newer
 *  zerocopy   a 1 MiB message reserved, written and peeked in place: both
 *             pointers lie in the channel's /dev/shm mapping
 *  misc       raw segment as a channel is SHMKIT_E_KIND; stat counters;
 *             max_readers over 120 on a queue or latest is ignored
 */
#include "chan_util.h"

struct kcfg {
    shmkit_kind_t kind;
    int reliable, multi;
};
static const struct kcfg kinds[] = {
    {SHMKIT_KIND_QUEUE, 0, 0}, {SHMKIT_KIND_QUEUE, 0, 1},
    {SHMKIT_KIND_BUS, 0, 0},   {SHMKIT_KIND_BUS, 1, 0},
    {SHMKIT_KIND_LATEST, 0, 0},
};
#define NKINDS (sizeof kinds / sizeof kinds[0])

static const char *label(const struct kcfg *k)
{
    return cu_kind_label(k->kind, k->reliable, k->multi);
}

/* Opens a writer that creates an owned channel. */
static shmkit_writer_t *open_writer_create(const char *name, const struct kcfg *k,
                                           uint64_t cap, uint32_t max_msg)
{
    shmkit_channel_opts_t co;
    shmkit_endpoint_opts_t eo;
    shmkit_writer_t *w = NULL;
    shmkit_channel_opts_init(&co, k->kind);
    if (cap)
        co.capacity = cap;
    co.reliable = k->reliable;
    co.multi_producer = k->multi;
    co.max_msg = max_msg;
    shmkit_endpoint_opts_init(&eo);
    eo.create = &co;
    int rc = shmkit_writer_open(name, &eo, &w);
    if (rc != 0)
        skt_fail(__FILE__, __LINE__, "%s: writer_open(create %s): %d (%s)",
                 label(k), name, rc, shmkit_strerror(rc));
    return w;
}

static shmkit_reader_t *open_reader(const char *name)
{
    shmkit_reader_t *r = NULL;
    int rc = shmkit_reader_open(name, NULL, &r);
    if (rc != 0)
        skt_fail(__FILE__, __LINE__, "reader_open(%s): %d (%s)", name, rc,
                 shmkit_strerror(rc));
    return r;
}

static uint8_t *big_buf(size_t n)
{
    uint8_t *b = malloc(n);
    CHECK(b != NULL);
    return b;
}

/* ---- sizes --------------------------------------------------------------- */

static void sizes(const struct kcfg *k)
{
    char name[128];
    skt_name(name, sizeof name);
    shmkit_writer_t *w = open_writer_create(name, k, 65536, 0);
    shmkit_reader_t *r = open_reader(name);
    size_t max = shmkit_writer_max_msg(w);
    CHECK(max >= 1000);
    /* around the word-by-word copy of small sends (9-256 bytes), from
     * sources at every offset mod 4 */
    size_t sz[] = {0, 1, 7, 8, 9, 15, 16, 17, 64, 71, 255, 256, 257, 1000, max};
    uint8_t *src = big_buf(max + 64), *dst = big_buf(max + 64);
    for (size_t i = 0; i < sizeof sz / sizeof sz[0]; i++) {
        size_t n = sz[i], got = 12345;
        uint8_t *s = src + (n == max ? 0 : i % 4);
        /* copy in, copy out */
        skt_fill(s, n, 1000 + i);
        int rc = shmkit_writer_send(w, s, n, 0);
        EXPECT(rc == 0, "%s: send(%zu) = %d", label(k), n, rc);
        memset(dst, 0, n + 1);
        rc = shmkit_reader_recv(r, dst, max + 64, &got, 0);
        EXPECT(rc == 0 && got == n && skt_verify(dst, n, 1000 + i) < 0,
               "%s: recv of %zu bytes: rc %d, len %zu", label(k), n, rc, got);
        /* in place both ways */
        void *wp = NULL;
        rc = shmkit_writer_reserve(w, n, &wp, 0);
        EXPECT(rc == 0 && wp, "%s: reserve(%zu) = %d", label(k), n, rc);
        if (rc != 0)
            continue;
        /* the alignment shmkit_channel(3) promises */
        uintptr_t walign = k->kind == SHMKIT_KIND_LATEST ? 64 : 8;
        EXPECT(((uintptr_t)wp & (walign - 1)) == 0, "%s: reserve(%zu) gave "
               "%p, not %u-byte aligned", label(k), n, wp, (unsigned)walign);
        skt_fill(wp, n, 2000 + i);
        CHECK_OK(shmkit_writer_commit(w, n));
        const void *rp = NULL;
        got = 12345;
        rc = shmkit_reader_peek(r, &rp, &got, 0);
        EXPECT(rc == 0 && got == n && skt_verify(rp, n, 2000 + i) < 0,
               "%s: peek of %zu bytes: rc %d, len %zu", label(k), n, rc, got);
        EXPECT(rc != 0 || ((uintptr_t)rp & 7) == 0,
               "%s: peek of %zu bytes gave %p, not 8-byte aligned", label(k), n, rp);
        if (rc == 0)
            EXPECT(shmkit_reader_release(r) == 0, "%s: release", label(k));
    }
    /* one byte too many */
    void *wp;
    CHECK_RC(shmkit_writer_send(w, src, max + 1, 0), -EMSGSIZE);
    CHECK(shmkit_last_error_code() == -EMSGSIZE);
    CHECK_RC(shmkit_writer_reserve(w, max + 1, &wp, 0), -EMSGSIZE);
    CHECK_RC(shmkit_writer_reserve(w, max + 1, &wp, -1), -EMSGSIZE);

    /* a short commit publishes the shorter message */
    CHECK_OK(shmkit_writer_reserve(w, 100, &wp, 0));
    skt_fill(wp, 100, 77);
    /* misuse: a second reserve while one is open */
    EXPECT(shmkit_writer_reserve(w, 10, &wp, 0) == -EINVAL,
           "%s: double reserve accepted", label(k));
    int crc = shmkit_writer_commit(w, 101);
    EXPECT(crc == -EINVAL,
           "%s: commit of 101 bytes after a reserve of 100 returned %d",
           label(k), crc);
    if (crc == 0) { /* published anyway: take it out, reserve again */
        size_t l;
        CHECK_OK(shmkit_reader_recv(r, dst, max, &l, 0));
        CHECK_OK(shmkit_writer_reserve(w, 100, &wp, 0));
        skt_fill(wp, 100, 77);
    }
    CHECK_OK(shmkit_writer_commit(w, 40));
    EXPECT(shmkit_writer_commit(w, 0) == -EINVAL,
           "%s: commit without reserve accepted", label(k));
    size_t got = 0;
    int rc = shmkit_reader_recv(r, dst, max, &got, 0);
    EXPECT(rc == 0 && got == 40 && skt_verify(dst, 40, 77) < 0,
           "%s: short commit: rc %d len %zu", label(k), rc, got);

    /* a too-small buffer: -EMSGSIZE, the message is kept */
    skt_fill(src, 300, 55);
    CHECK_OK(shmkit_writer_send(w, src, 300, 0));
    got = 0;
    EXPECT(shmkit_reader_recv(r, dst, 10, &got, 0) == -EMSGSIZE && got == 300,
           "%s: small buffer: len %zu", label(k), got);
    got = 0;
    rc = shmkit_reader_recv(r, dst, max, &got, 0);
    EXPECT(rc == 0 && got == 300 && skt_verify(dst, 300, 55) < 0,
           "%s: the message was not kept after -EMSGSIZE (rc %d = %s, len %zu)",
           label(k), rc, shmkit_strerror(rc), got);
    if (k->kind != SHMKIT_KIND_LATEST)
        EXPECT(shmkit_reader_release(r) == -EINVAL,
               "%s: release without peek accepted", label(k));
    CHECK_OK(shmkit_reader_close(r));
    CHECK_OK(shmkit_writer_close(w));
    free(src);
    free(dst);
    printf("sizes %s: done\n", label(k));
}

/* ---- empty --------------------------------------------------------------- */

static void empty(const struct kcfg *k)
{
    char name[128], missing[160], saved[1024];
    skt_name(name, sizeof name);
    shmkit_writer_t *w = open_writer_create(name, k, 65536, 0);
    shmkit_reader_t *r = open_reader(name);
    /* leave a known error behind */
    snprintf(missing, sizeof missing, "%s-missing", name);
    shmkit_segment_t *seg;
    CHECK_RC(shmkit_segment_open(missing, NULL, &seg), -ENOENT);
    snprintf(saved, sizeof saved, "%s", shmkit_last_error());
    CHECK(saved[0] != 0 && shmkit_last_error_code() == -ENOENT);

    uint8_t buf[64];
    const void *p;
    size_t n;
    EXPECT(shmkit_reader_recv(r, buf, sizeof buf, &n, 0) == -EAGAIN,
           "%s: recv on empty", label(k));
    EXPECT(shmkit_reader_peek(r, &p, &n, 0) == -EAGAIN, "%s: peek on empty",
           label(k));
    EXPECT(strcmp(saved, shmkit_last_error()) == 0 &&
               shmkit_last_error_code() == -ENOENT,
           "%s: -EAGAIN changed the last error from \"%s\"", label(k), saved);
    if (k->kind != SHMKIT_KIND_LATEST) {
        /* a lossy bus never refuses; the others have room here */
        CHECK_OK(shmkit_writer_send(w, buf, 8, 0));
        CHECK_OK(shmkit_reader_recv(r, buf, sizeof buf, &n, 0));
        EXPECT(shmkit_reader_recv(r, buf, sizeof buf, &n, 0) == -EAGAIN,
               "%s: recv on empty after a message", label(k));
        EXPECT(strcmp(saved, shmkit_last_error()) == 0,
               "%s: -EAGAIN after traffic changed the last error", label(k));
    }
    static const int64_t tmo[] = {1000000, 30000000};
    for (size_t i = 0; i < 2; i++) {
        uint64_t t0 = skt_now_ns();
        int rc = shmkit_reader_recv(r, buf, sizeof buf, &n, tmo[i]);
        uint64_t el = skt_now_ns() - t0;
        EXPECT(rc == -ETIMEDOUT, "%s: recv(timeout %lld) = %d", label(k),
               (long long)tmo[i], rc);
        EXPECT(el >= (uint64_t)tmo[i] && el < (uint64_t)tmo[i] + 500000000ull,
               "%s: recv(timeout %lld ns) took %llu ns", label(k),
               (long long)tmo[i], (unsigned long long)el);
    }
    CHECK_OK(shmkit_reader_close(r));
    CHECK_OK(shmkit_writer_close(w));
    printf("empty %s: done\n", label(k));
}

/* ---- full ---------------------------------------------------------------- */

static void full(const struct kcfg *k)
{
    char name[128];
    skt_name(name, sizeof name);
    shmkit_writer_t *w = open_writer_create(name, k, 4096, 0);
    shmkit_reader_t *r = NULL;
    if (k->kind == SHMKIT_KIND_BUS)
        r = open_reader(name); /* a bus keeps nothing for absent readers */
    uint8_t msg[112], buf[256];
    int sent = 0, rc = 0;
    if (k->kind == SHMKIT_KIND_LATEST) {
        for (; sent < 1000; sent++)
            if ((rc = shmkit_writer_send(w, msg, sizeof msg, 0)) != 0)
                break;
        EXPECT(sent == 1000, "latest refused value %d: %d", sent, rc);
        CHECK_OK(shmkit_writer_close(w));
        printf("full %s: never refuses: done\n", label(k));
        return;
    }
    for (; sent < 1000; sent++) {
        skt_fill(msg, sizeof msg, (uint64_t)sent);
        if ((rc = shmkit_writer_send(w, msg, sizeof msg, 0)) != 0)
            break;
    }
    if (k->kind == SHMKIT_KIND_BUS && !k->reliable) {
        EXPECT(sent == 1000, "lossy bus refused message %d: %d", sent, rc);
        CHECK_OK(shmkit_reader_close(r));
        CHECK_OK(shmkit_writer_close(w));
        printf("full %s: never refuses: done\n", label(k));
        return;
    }
    /* 120-byte records (queue: an 8-byte header) or 128-byte (bus: 16) in a
     * 4 KiB ring */
    int rec = (int)cu_rec_size(k->kind, sizeof msg);
    EXPECT(rc == -EAGAIN && sent >= 4096 / rec - 1 && sent <= 4096 / rec,
           "%s: full after %d messages with %d", label(k), sent, rc);
    uint64_t t0 = skt_now_ns();
    rc = shmkit_writer_send(w, msg, sizeof msg, 20000000);
    uint64_t el = skt_now_ns() - t0;
    EXPECT(rc == -ETIMEDOUT && el >= 20000000 && el < 520000000,
           "%s: send(20 ms) on full: %d after %llu ns", label(k), rc,
           (unsigned long long)el);
    if (!r)
        r = open_reader(name); /* the queue kept everything for its consumer */
    size_t n;
    rc = shmkit_reader_recv(r, buf, sizeof buf, &n, 0);
    EXPECT(rc == 0 && n == sizeof msg && skt_verify(buf, n, 0) < 0,
           "%s: first message after full: %d", label(k), rc);
    rc = shmkit_writer_send(w, msg, sizeof msg, 0);
    EXPECT(rc == 0, "%s: no room after a read: %d", label(k), rc);
    int got = 1;
    while (shmkit_reader_recv(r, buf, sizeof buf, &n, 0) == 0) {
        EXPECT(n == sizeof msg, "len %zu", n);
        if (got < sent)
            EXPECT(skt_verify(buf, n, (uint64_t)got) < 0, "%s: message %d",
                   label(k), got);
        got++;
    }
    EXPECT(got == sent + 1, "%s: read %d of %d", label(k), got, sent + 1);
    CHECK_OK(shmkit_reader_close(r));
    CHECK_OK(shmkit_writer_close(w));
    printf("full %s: %d messages, then -EAGAIN / -ETIMEDOUT: done\n", label(k),
           sent);
}

/* ---- an MP producer waiting for room ---------------------------------------- */

/* A producer that waits for room while the consumer and another producer
 * move the queue on must get its room once there is some, not time out. */
static char mpw_name[128];
static int mpw_fd[2];

static int mp_waiter_child(void *arg)
{
    (void)arg;
    shmkit_endpoint_opts_t eo;
    shmkit_writer_t *w;
    shmkit_endpoint_opts_init(&eo);
    eo.wait = SHMKIT_WAIT_BLOCK;
    CHECK_OK(shmkit_writer_open(mpw_name, &eo, &w));
    uint8_t msg[112];
    memset(msg, 0xaa, sizeof msg);
    cu_signal_fd(mpw_fd[1]);
    int rc = shmkit_writer_send(w, msg, sizeof msg, 3000000000ll);
    if (rc != 0) {
        fprintf(stderr, "MP producer: send after waiting for room: %d (%s)\n",
                rc, shmkit_strerror(rc));
        return SKT_FAIL;
    }
    CHECK_OK(shmkit_writer_detach(w));
    return SKT_PASS;
}

static void mp_wait_room(void)
{
    skt_name(mpw_name, sizeof mpw_name);
    cu_create(mpw_name, SHMKIT_KIND_QUEUE, 4096, 0, 1, 0);
    /* static: the child forked below inherits them and ends by _exit, where
     * a local could already be dead, and valgrind would call them leaked */
    static shmkit_writer_t *b;
    static shmkit_reader_t *c;
    CHECK_OK(shmkit_writer_open(mpw_name, NULL, &b));
    c = open_reader(mpw_name);
    uint8_t msg[112], buf[256];
    size_t n;
    memset(msg, 0xbb, sizeof msg);
    while (shmkit_writer_send(b, msg, sizeof msg, 0) == 0)
        ;
    cu_pipe(mpw_fd);
    pid_t a = cu_spawn(mp_waiter_child, NULL);
    CHECK(cu_wait_fd(mpw_fd[0], 1, 10000) == 0);
    cu_sleep_ns(100000000); /* A computed where its claim would end; sleeps */
    kill(a, SIGSTOP);
    /* the queue moves on by more than a lap while A is stopped */
    int moved = 0;
    while (shmkit_reader_recv(c, buf, sizeof buf, &n, 0) == 0)
        moved++;
    for (int i = 0; i < 100; i++) {
        CHECK_OK(shmkit_writer_send(b, msg, sizeof msg, 0));
        CHECK_OK(shmkit_reader_recv(c, buf, sizeof buf, &n, 0));
        moved++;
    }
    kill(a, SIGCONT);
    uint64_t t0 = skt_now_ns();
    int rc = cu_reap(a, "MP producer");
    EXPECT(rc == 0, "queue/mp: a producer that waited for room while the "
           "queue moved on by %d messages never got it (%.0f ms)", moved,
           (double)(skt_now_ns() - t0) / 1e6);
    close(mpw_fd[0]);
    close(mpw_fd[1]);
    CHECK_OK(shmkit_reader_close(c));
    CHECK_OK(shmkit_writer_close(b));
    CHECK_OK(shmkit_segment_unlink(mpw_name));
    printf("queue/mp: a waiting producer gets room: done\n");
}

/* ---- busy ---------------------------------------------------------------- */

static char busy_name[128];
static int busy_fd[2];
static int busy_reader; /* child opens a reader (1) or a writer (0) */

/* What busy_child opened.  It exits holding it on purpose (the next opener
 * must get past a dead holder), so the handle stays reachable, not leaked. */
static shmkit_reader_t *busy_child_r;
static shmkit_writer_t *busy_child_w;

/* Opens the role; exit 0 if it worked, 2 if BUSY, 1 otherwise. */
static int busy_child(void *arg)
{
    int hold = (int)(intptr_t)arg; /* 1: keep it and wait to be killed */
    shmkit_endpoint_opts_t eo;
    shmkit_endpoint_opts_init(&eo);
    int rc;
    if (busy_reader)
        rc = shmkit_reader_open(busy_name, &eo, &busy_child_r);
    else
        rc = shmkit_writer_open(busy_name, &eo, &busy_child_w);
    if (rc == SHMKIT_E_BUSY) {
        if (!skt_contains(shmkit_last_error(), "pid"))
            fprintf(stderr, "BUSY without the holder's pid: %s\n",
                    shmkit_last_error());
        return 2;
    }
    if (rc != 0) {
        fprintf(stderr, "busy child: %d (%s): %s\n", rc, shmkit_strerror(rc),
                shmkit_last_error());
        return 1;
    }
    if (hold) {
        cu_signal_fd(busy_fd[1]);
        sleep(30);
    }
    return 0;
}

static int busy_try(int reader)
{
    busy_reader = reader;
    return cu_reap(cu_spawn(busy_child, NULL), "busy child");
}

static void busy(const struct kcfg *k)
{
    skt_name(busy_name, sizeof busy_name);
    /* persistent: it must outlive the detaches and deaths below */
    cu_create(busy_name, k->kind, 65536, k->reliable, k->multi, 0);
    shmkit_writer_t *w = NULL, *w2 = NULL;
    CHECK_OK(shmkit_writer_open(busy_name, NULL, &w));
    int single = !(k->kind == SHMKIT_KIND_QUEUE && k->multi);
    int rc = shmkit_writer_open(busy_name, NULL, &w2);
    if (single) {
        EXPECT(rc == SHMKIT_E_BUSY, "%s: second writer (same process): %d",
               label(k), rc);
        EXPECT(busy_try(0) == 2, "%s: second writer (other process) not BUSY",
               label(k));
        /* after a detach, another writer is welcome */
        CHECK_OK(shmkit_writer_detach(w));
        EXPECT(busy_try(0) == 0, "%s: writer after detach refused", label(k));
        CHECK_OK(shmkit_writer_open(busy_name, NULL, &w));
        /* after the holder died, too */
        CHECK_OK(shmkit_writer_detach(w));
        cu_pipe(busy_fd);
        busy_reader = 0;
        pid_t holder = cu_spawn(busy_child, (void *)(intptr_t)1);
        CHECK(cu_wait_fd(busy_fd[0], 1, 10000) == 0);
        EXPECT(shmkit_writer_open(busy_name, NULL, &w2) == SHMKIT_E_BUSY,
               "%s: writer while another process holds it", label(k));
        cu_kill(holder);
        close(busy_fd[0]);
        close(busy_fd[1]);
        rc = shmkit_writer_open(busy_name, NULL, &w);
        EXPECT(rc == 0, "%s: writer after the holder died: %d", label(k), rc);
        if (rc != 0)
            w = NULL;
    } else {
        EXPECT(rc == 0, "%s: second producer refused: %d", label(k), rc);
        EXPECT(busy_try(0) == 0, "%s: producer in another process refused",
               label(k));
        if (rc == 0)
            CHECK_OK(shmkit_writer_detach(w2));
    }
    if (k->kind == SHMKIT_KIND_QUEUE) {
        shmkit_reader_t *r = open_reader(busy_name), *r2 = NULL;
        EXPECT(shmkit_reader_open(busy_name, NULL, &r2) == SHMKIT_E_BUSY,
               "%s: second consumer (same process) not BUSY", label(k));
        EXPECT(busy_try(1) == 2, "%s: second consumer (other process) not BUSY",
               label(k));
        CHECK_OK(shmkit_reader_close(r));
        EXPECT(busy_try(1) == 0, "%s: consumer after close refused", label(k));
        cu_pipe(busy_fd);
        busy_reader = 1;
        pid_t holder = cu_spawn(busy_child, (void *)(intptr_t)1);
        CHECK(cu_wait_fd(busy_fd[0], 1, 10000) == 0);
        EXPECT(shmkit_reader_open(busy_name, NULL, &r2) == SHMKIT_E_BUSY,
               "%s: consumer while another process holds it", label(k));
        cu_kill(holder);
        close(busy_fd[0]);
        close(busy_fd[1]);
        rc = shmkit_reader_open(busy_name, NULL, &r);
        EXPECT(rc == 0, "%s: consumer after the holder died: %d", label(k), rc);
        if (rc == 0)
            CHECK_OK(shmkit_reader_close(r));
    } else {
        /* many readers */
        shmkit_reader_t *r[3];
        for (int i = 0; i < 3; i++)
            r[i] = open_reader(busy_name);
        EXPECT(busy_try(1) == 0, "%s: reader in another process refused",
               label(k));
        for (int i = 0; i < 3; i++)
            CHECK_OK(shmkit_reader_close(r[i]));
    }
    if (w)
        CHECK_OK(shmkit_writer_close(w));
    CHECK_OK(shmkit_segment_unlink(busy_name));
    printf("busy %s: done\n", label(k));
}

/* ---- close ----------------------------------------------------------------- */

/* A new channel with a reader, three messages (100-102 bytes) sent, and
 * the writer gone by `leave` (close or abort); then the reader drains what
 * its kind keeps (latest: the last value) and checks stat's `closed`.
 * Returns the reader; the name in name. */
static shmkit_reader_t *three_then_leave(const struct kcfg *k, char *name,
                                         size_t namesz,
                                         int (*leave)(shmkit_writer_t *),
                                         int closed, const char *what)
{
    skt_name(name, namesz);
    shmkit_writer_t *w = open_writer_create(name, k, 65536, 0);
    shmkit_reader_t *r = open_reader(name);
    uint8_t buf[256];
    size_t n;
    int nmsg = k->kind == SHMKIT_KIND_LATEST ? 1 : 3;
    for (int i = 0; i < 3; i++) {
        skt_fill(buf, 100 + (size_t)i, (uint64_t)i);
        CHECK_OK(shmkit_writer_send(w, buf, 100 + (size_t)i, 0));
    }
    CHECK_OK(leave(w));
    shmkit_channel_stat_t st;
    CHECK_OK(shmkit_channel_stat(name, &st));
    EXPECT(st.closed == closed, "%s: stat says closed = %d after %s",
           label(k), st.closed, what);
    for (int i = 3 - nmsg; i < 3; i++) {
        int rc = shmkit_reader_recv(r, buf, sizeof buf, &n, 0);
        EXPECT(rc == 0 && n == 100 + (size_t)i &&
                   skt_verify(buf, n, (uint64_t)i) < 0,
               "%s: drain message %d after %s: %d (%s)", label(k), i, what,
               rc, shmkit_strerror(rc));
    }
    return r;
}

static void end_of_stream(const struct kcfg *k)
{
    char name[128];
    uint8_t buf[256];
    size_t n;
    shmkit_reader_t *r = three_then_leave(k, name, sizeof name,
                                          shmkit_writer_close, 1, "close");
    EXPECT(shmkit_reader_recv(r, buf, sizeof buf, &n, 0) == SHMKIT_E_CLOSED,
           "%s: no CLOSED after the drain", label(k));
    uint64_t t0 = skt_now_ns();
    const void *p;
    EXPECT(shmkit_reader_peek(r, &p, &n, -1) == SHMKIT_E_CLOSED &&
               skt_now_ns() - t0 < 500000000ull,
           "%s: peek(-1) after close", label(k));
    EXPECT(shmkit_reader_recv(r, buf, sizeof buf, &n, 50000000) == SHMKIT_E_CLOSED,
           "%s: recv(50ms) after close", label(k));
    CHECK_OK(shmkit_reader_close(r));
    /* owned: gone with its last user */
    shmkit_segment_t *seg;
    EXPECT(shmkit_segment_open(name, NULL, &seg) == -ENOENT,
           "%s: owned channel left behind", label(k));
    printf("close %s: done\n", label(k));
}

/* shmkit_writer_abort: readers drain what was sent, then learn that the
 * writer is gone (not CLOSED); a new writer may take over.  On a
 * multi-producer queue abort is detach: no PEER_GONE while nobody died. */
static void aborted_stream(const struct kcfg *k)
{
    char name[128];
    uint8_t buf[256];
    size_t n;
    shmkit_reader_t *r = three_then_leave(k, name, sizeof name,
                                          shmkit_writer_abort, 0, "abort");
    uint64_t t0 = skt_now_ns();
    int rc = shmkit_reader_recv(r, buf, sizeof buf, &n, 300000000);
    int want = k->multi ? -ETIMEDOUT : SHMKIT_E_PEER_GONE;
    EXPECT(rc == want, "%s: after the drain of an aborted stream: %d (%s) "
           "after %.0f ms, expected %s", label(k), rc, shmkit_strerror(rc),
           (double)(skt_now_ns() - t0) / 1e6, shmkit_strerror(want));
    /* another writer takes over; then a clean end */
    shmkit_writer_t *w = open_writer_create(name, k, 65536, 0);
    skt_fill(buf, 50, 7);
    CHECK_OK(shmkit_writer_send(w, buf, 50, 0));
    rc = shmkit_reader_recv(r, buf, sizeof buf, &n, 1000000000);
    EXPECT(rc == 0 && n == 50 && skt_verify(buf, n, 7) < 0,
           "%s: the next writer's message: %d (%s)", label(k), rc,
           shmkit_strerror(rc));
    CHECK_OK(shmkit_writer_close(w));
    EXPECT(shmkit_reader_recv(r, buf, sizeof buf, &n, 1000000000) ==
               SHMKIT_E_CLOSED,
           "%s: no CLOSED after the next writer closed", label(k));
    CHECK_OK(shmkit_reader_close(r));
    printf("abort %s: done\n", label(k));
}

/* ---- bus fan-out and join -------------------------------------------------- */

static void bus_fanout(int reliable)
{
    struct kcfg k = {SHMKIT_KIND_BUS, reliable, 0};
    char name[128];
    skt_name(name, sizeof name);
    shmkit_writer_t *w = open_writer_create(name, &k, 65536, 0);
    shmkit_reader_t *r[3];
    r[0] = open_reader(name);
    r[1] = open_reader(name);
    uint8_t buf[256];
    size_t n;
    EXPECT(shmkit_writer_readers(w) == 2, "%s: writer counts %d readers",
           label(&k), shmkit_writer_readers(w));
    for (int i = 0; i < 10; i++) {
        skt_fill(buf, 50, (uint64_t)i);
        CHECK_OK(shmkit_writer_send(w, buf, 50, 0));
    }
    r[2] = open_reader(name); /* joins at message 10 */
    for (int i = 10; i < 20; i++) {
        skt_fill(buf, 50, (uint64_t)i);
        CHECK_OK(shmkit_writer_send(w, buf, 50, 0));
    }
    for (int j = 0; j < 3; j++) {
        for (int i = j == 2 ? 10 : 0; i < 20; i++) {
            int rc = shmkit_reader_recv(r[j], buf, sizeof buf, &n, 0);
            EXPECT(rc == 0 && n == 50 && skt_verify(buf, 50, (uint64_t)i) < 0,
                   "%s: reader %d, message %d: %d", label(&k), j, i, rc);
        }
        EXPECT(shmkit_reader_recv(r[j], buf, sizeof buf, &n, 0) == -EAGAIN,
               "%s: reader %d has extra messages", label(&k), j);
    }
    shmkit_channel_stat_t st;
    CHECK_OK(shmkit_channel_stat(name, &st));
    EXPECT(st.kind == SHMKIT_KIND_BUS && st.reliable == reliable &&
               st.messages == 20 && st.nreaders == 3 &&
               st.writer_pid == getpid() && st.writer_alive == 1,
           "%s: stat: messages %llu readers %d writer %lld", label(&k),
           (unsigned long long)st.messages, st.nreaders, (long long)st.writer_pid);
    /* the writer publishes its position and counters only every 4 KiB:
     * stat counts what was committed since (1 KiB here) from the ring */
    EXPECT(st.bytes == 20 * 50 && st.position == 20 * cu_rec_size(k.kind, 50),
           "%s: stat: %llu bytes at position %llu", label(&k),
           (unsigned long long)st.bytes, (unsigned long long)st.position);
    uint64_t total = 0;
    for (int j = 0; j < st.nreaders && j < 3; j++)
        total += st.readers[j].messages;
    EXPECT(total == 50, "stat: readers read %llu messages in all, not 50",
           (unsigned long long)total);
    for (int j = 0; j < 3; j++)
        CHECK_OK(shmkit_reader_close(r[j]));
    CHECK_OK(shmkit_writer_close(w));
    printf("bus fan-out + join %s: done\n", label(&k));
}

/* ---- lossy accounting ------------------------------------------------------- */

/* Reads until CLOSED; checks the order and that every gap was reported
 * (first_expected: the sequence number due next, losses so far included).
 * Returns received + what was lost during the drain. */
static uint64_t drain_lossy(shmkit_reader_t *r, uint64_t first_expected,
                            const char *what, int *saw_lost)
{
    uint8_t buf[256];
    size_t n;
    uint64_t next = first_expected, rcvd = 0, lost0 = shmkit_reader_lost(r);
    uint64_t lost_before = lost0;
    *saw_lost = 0;
    for (int guard = 0; guard < 100000; guard++) {
        int rc = shmkit_reader_recv(r, buf, sizeof buf, &n, 0);
        if (rc == SHMKIT_E_LOST) {
            (*saw_lost)++;
            continue;
        }
        if (rc == SHMKIT_E_CLOSED)
            break;
        if (rc == SHMKIT_E_OVERRUN)
            continue;
        EXPECT(rc == 0, "%s: recv %d (%s)", what, rc, shmkit_strerror(rc));
        if (rc != 0)
            break;
        uint64_t seq;
        memcpy(&seq, buf, 8);
        uint64_t lost_now = shmkit_reader_lost(r);
        EXPECT(seq >= next && seq - next == lost_now - lost_before,
               "%s: message %llu after %llu; the lost count grew by %llu",
               what, (unsigned long long)seq, (unsigned long long)next,
               (unsigned long long)(lost_now - lost_before));
        next = seq + 1;
        lost_before = lost_now;
        rcvd++;
    }
    return rcvd + (shmkit_reader_lost(r) - lost0);
}

static void lossy(void)
{
    struct kcfg k = {SHMKIT_KIND_BUS, 0, 0};
    char name[128];
    uint8_t msg[112];
    size_t n;
    static const char *what[] = {
        "lossy: lapped after reading, more messages later",
        "lossy: lapped before its first message, more messages later",
        "lossy: lapped after reading, then the stream ended"};
    for (int scen = 0; scen < 3; scen++) {
        skt_name(name, sizeof name);
        shmkit_writer_t *w = open_writer_create(name, &k, 4096, 0);
        shmkit_reader_t *r = open_reader(name);
        uint64_t seq = 0, first = 0;
        memset(msg, 0, sizeof msg);
        if (scen != 1) {
            memcpy(msg, &seq, 8);
            CHECK_OK(shmkit_writer_send(w, msg, sizeof msg, 0));
            seq++;
            CHECK_OK(shmkit_reader_recv(r, msg, sizeof msg, &n, 0));
            first = 1;
        }
        for (int i = 0; i < 200; i++, seq++) { /* 6 laps of 4 KiB */
            memcpy(msg, &seq, 8);
            CHECK_OK(shmkit_writer_send(w, msg, sizeof msg, 0));
        }
        int saw_lost = 0, rc;
        if (scen != 2) {
            /* the reader looks while the writer pauses */
            rc = shmkit_reader_recv(r, msg, sizeof msg, &n, 0);
            EXPECT(rc == SHMKIT_E_LOST,
                   "%s: the first recv after the lap returned %d (%s), not "
                   "SHMKIT_E_LOST (lost() = %llu)", what[scen], rc,
                   shmkit_strerror(rc), (unsigned long long)shmkit_reader_lost(r));
            saw_lost += rc == SHMKIT_E_LOST;
            for (int i = 0; i < 5; i++, seq++) {
                memcpy(msg, &seq, 8);
                CHECK_OK(shmkit_writer_send(w, msg, sizeof msg, 0));
            }
        }
        CHECK_OK(shmkit_writer_close(w));
        int saw2 = 0;
        uint64_t lost0 = shmkit_reader_lost(r);
        uint64_t acc = first + lost0 +
                       drain_lossy(r, first + lost0, what[scen], &saw2);
        saw_lost += saw2;
        EXPECT(saw_lost >= 1, "%s: never returned SHMKIT_E_LOST (lost() = %llu)",
               what[scen], (unsigned long long)shmkit_reader_lost(r));
        EXPECT(acc == seq,
               "%s: received + lost = %llu, but %llu were sent (lost() = %llu)",
               what[scen], (unsigned long long)acc, (unsigned long long)seq,
               (unsigned long long)shmkit_reader_lost(r));
        shmkit_channel_stat_t st;
        CHECK_OK(shmkit_channel_stat(name, &st));
        EXPECT(st.nreaders == 1 && st.readers[0].lost == shmkit_reader_lost(r),
               "%s: stat lost %llu vs reader_lost %llu", what[scen],
               (unsigned long long)(st.nreaders ? st.readers[0].lost : 0),
               (unsigned long long)shmkit_reader_lost(r));
        CHECK_OK(shmkit_reader_close(r));
        printf("%s: done\n", what[scen]);
    }
}

/* ---- latest ------------------------------------------------------------------ */

static void latest(void)
{
    struct kcfg k = {SHMKIT_KIND_LATEST, 0, 0};
    char name[128];
    skt_name(name, sizeof name);
    shmkit_writer_t *w = open_writer_create(name, &k, 4096, 0);
    uint8_t buf[4096];
    size_t n;
    for (uint64_t v = 1; v <= 3; v++) {
        skt_fill(buf, 100 + v, v);
        CHECK_OK(shmkit_writer_send(w, buf, 100 + v, 0));
    }
    shmkit_reader_t *r = open_reader(name);
    int rc = shmkit_reader_recv(r, buf, sizeof buf, &n, 0);
    EXPECT(rc == 0 && n == 103 && skt_verify(buf, n, 3) < 0,
           "latest: a new reader gets the current value: %d len %zu", rc, n);
    EXPECT(shmkit_reader_recv(r, buf, sizeof buf, &n, 0) == -EAGAIN,
           "latest: -EAGAIN until a newer value");
    uint64_t last = 3;
    uint64_t rng = 42;
    for (uint64_t v = 4; v <= 2000; v++) {
        size_t len = 8 + (size_t)(cu_splitmix(&rng) % 4000);
        skt_fill(buf, len, v);
        memcpy(buf, &v, 8);
        CHECK_OK(shmkit_writer_send(w, buf, len, 0));
        if (cu_splitmix(&rng) % 3)
            continue;
        rc = shmkit_reader_recv(r, buf, sizeof buf, &n, 0);
        uint64_t got = 0;
        if (rc == 0)
            memcpy(&got, buf, 8);
        EXPECT(rc == 0 && got == v, "latest: read %llu after writing %llu (rc %d)",
               (unsigned long long)got, (unsigned long long)v, rc);
        EXPECT(got > last, "latest: went backwards %llu -> %llu",
               (unsigned long long)last, (unsigned long long)got);
        last = got;
    }
    CHECK_OK(shmkit_reader_close(r));
    CHECK_OK(shmkit_writer_close(w));
    printf("latest: newest, never older: done\n");
}

/* ---- zero-copy ------------------------------------------------------------ */

static void zerocopy(const struct kcfg *k)
{
    char name[128];
    skt_name(name, sizeof name);
    const size_t MB = 1u << 20;
    shmkit_writer_t *w = open_writer_create(name, k, 4u << 20, (uint32_t)MB);
    shmkit_reader_t *r = open_reader(name);
    EXPECT(shmkit_writer_max_msg(w) >= MB, "%s: max_msg %zu", label(k),
           shmkit_writer_max_msg(w));
    for (int round = 0; round < 6; round++) { /* wraps the 4 MiB ring */
        void *wp;
        CHECK_OK(shmkit_writer_reserve(w, MB, &wp, 1000000000ll));
        EXPECT(cu_in_shm_mapping(wp, MB, name),
               "%s: reserved buffer %p is not in /dev/shm/%s", label(k), wp, name);
        skt_fill(wp, MB, 9000 + (uint64_t)round);
        CHECK_OK(shmkit_writer_commit(w, MB));
        const void *rp;
        size_t n = 0;
        int rc = shmkit_reader_peek(r, &rp, &n, 1000000000ll);
        EXPECT(rc == 0 && n == MB, "%s: peek 1 MiB: %d len %zu", label(k), rc, n);
        if (rc != 0)
            continue;
        if (k->kind != SHMKIT_KIND_LATEST)
            EXPECT(cu_in_shm_mapping(rp, MB, name),
                   "%s: peeked message %p is not in /dev/shm/%s", label(k), rp,
                   name);
        EXPECT(skt_verify(rp, MB, 9000 + (uint64_t)round) < 0,
               "%s: 1 MiB message damaged", label(k));
        EXPECT(shmkit_reader_release(r) == 0, "%s: release", label(k));
    }
    CHECK_OK(shmkit_reader_close(r));
    CHECK_OK(shmkit_writer_close(w));
    printf("zero-copy 1 MiB %s: done\n", label(k));
}

/* ---- misc ----------------------------------------------------------------- */

static void misc(void)
{
    char name[128];
    shmkit_segment_opts_t o;
    shmkit_segment_t *seg;
    shmkit_segment_opts_init(&o);
    o.size = 65536;
    CHECK_OK(shmkit_segment_create(skt_name(name, sizeof name), &o, &seg));
    shmkit_reader_t *r = NULL;
    shmkit_writer_t *w = NULL;
    int rc = shmkit_reader_open(name, NULL, &r);
    EXPECT(rc == SHMKIT_E_KIND, "reader_open on a raw segment: %d (%s)", rc,
           shmkit_strerror(rc));
    rc = shmkit_writer_open(name, NULL, &w);
    EXPECT(rc == SHMKIT_E_KIND, "writer_open on a raw segment: %d (%s)", rc,
           shmkit_strerror(rc));
    shmkit_channel_stat_t st;
    EXPECT(shmkit_channel_stat(name, &st) == SHMKIT_E_KIND,
           "channel_stat on a raw segment");
    CHECK_OK(shmkit_segment_close(seg));

    shmkit_endpoint_opts_t eo;
    shmkit_endpoint_opts_init(&eo);
    eo.open_timeout_ms = 0;
    snprintf(name, sizeof name, "skt-test_chan_basic-%d-nonexistent", (int)getpid());
    EXPECT(shmkit_reader_open(name, &eo, &r) == -ENOENT, "reader_open missing");
    EXPECT(shmkit_writer_open(name, &eo, &w) == -ENOENT,
           "writer_open missing without create");

    /* max_readers is a bus's: on a queue or latest any value is ignored
     * (one over 120 made a channel that every open called corrupt) */
    for (int k = 0; k < 2; k++) {
        shmkit_channel_opts_t co;
        shmkit_channel_opts_init(&co, k ? SHMKIT_KIND_LATEST : SHMKIT_KIND_QUEUE);
        co.max_readers = 200;
        co.seg.persistent = 1;
        skt_name(name, sizeof name);
        skt_track(name);
        CHECK_OK(shmkit_channel_create(name, &co));
        rc = shmkit_writer_open(name, NULL, &w);
        EXPECT(rc == 0, "%s with max_readers 200: writer_open %d (%s)",
               k ? "latest" : "queue", rc, shmkit_strerror(rc));
        rc = shmkit_reader_open(name, NULL, &r);
        EXPECT(rc == 0, "%s with max_readers 200: reader_open %d (%s)",
               k ? "latest" : "queue", rc, shmkit_strerror(rc));
        if (w)
            CHECK_OK(shmkit_writer_close(w));
        if (r)
            CHECK_OK(shmkit_reader_close(r));
        w = NULL;
        r = NULL;
        CHECK_OK(shmkit_segment_unlink(name));
    }
    /* a latest's slots hold max_msg when it is below the capacity (they
     * held the capacity: 1 MiB values reserved for 1 KiB ones) */
    {
        shmkit_channel_opts_t co;
        shmkit_channel_opts_init(&co, SHMKIT_KIND_LATEST);
        co.capacity = 1 << 20;
        co.max_msg = 1024;
        co.seg.persistent = 1;
        skt_name(name, sizeof name);
        skt_track(name);
        CHECK_OK(shmkit_channel_create(name, &co));
        shmkit_segment_info_t *in = malloc(sizeof *in);
        CHECK(in != NULL);
        CHECK_OK(shmkit_segment_inspect(name, in));
        EXPECT(in->size < (1u << 17), "latest of 1 KiB values: a %llu-byte "
               "segment", (unsigned long long)in->size);
        free(in);
        CHECK_OK(shmkit_segment_unlink(name));
    }
    printf("misc: done\n");
}

int main(void)
{
    cu_init("test_chan_basic", 120);
    for (size_t i = 0; i < NKINDS; i++) {
        sizes(&kinds[i]);
        empty(&kinds[i]);
        full(&kinds[i]);
        busy(&kinds[i]);
        end_of_stream(&kinds[i]);
        aborted_stream(&kinds[i]);
    }
    mp_wait_room();
    bus_fanout(0);
    bus_fanout(1);
    lossy();
    latest();
    for (size_t i = 0; i < NKINDS; i++)
        zerocopy(&kinds[i]);
    misc();
    char prefix[64];
    snprintf(prefix, sizeof prefix, "skt-test_chan_basic-%d-", (int)getpid());
    EXPECT(cu_count_shm_prefix(prefix, 1) == 0, "channels left in /dev/shm");
    return cu_result();
}
