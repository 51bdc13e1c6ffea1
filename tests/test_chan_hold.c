/*
 * test_chan_hold - the reader's hold (shmkit_endpoint_opts_t.hold_ns): a
 * reader in a stream that finds no next message waits hold_ns before it
 * looks again; a reader that waits for every message never holds.
 *
 * The test's hold, hold_ns, is 300 ms (2 s under a sanitizer or valgrind),
 * so that it shows through any noise: a message sent DELAY (20 ms) after the
 * reader began to wait arrives after at least hold_ns when the reader held,
 * and well before it (under quick_ns) when it did not.
 *
 *  1. In a stream (two or more messages taken without waiting) the next
 *     message is seen only after the hold: queue (recv, spin), reliable
 *     bus (peek/release, adaptive).  Nothing is lost or reordered.
 *  2. Round trips (one message per wait) never hold.
 *  3. After a stream: a poll (timeout 0) and a timeout shorter than the
 *     hold return at once; block mode, hold_ns = 0, records over 4 KiB and
 *     an adaptive reader with spin_us 0 do not hold.
 *  4. The hold counts towards the timeout: a timeout a little longer than
 *     the hold ends on time, not a hold later.
 *  5. SHMKIT_HOLD_NS_DEFAULT is what shmkit_endpoint_opts_init() sets.
 *
 * Every part can be run alone: test_chan_hold N.
 */
#include "chan_util.h"

static uint32_t hold_ns = 300000000u;   /* main: 2 s when sanitized   */
static uint64_t quick_ns = 250000000ull; /* "at once": under hold_ns,
                                            far above DELAY            */
#define DELAY 20000000ull                /* 20 ms                      */
#define WAIT_5S 5000000000ll

static char name[128];

struct late {
    shmkit_writer_t *w;
    uint64_t delay_ns, value;
    size_t len;
    int rc;
};

static void *late_send(void *arg)
{
    struct late *l = arg;
    static uint8_t big[8192];
    cu_sleep_ns(l->delay_ns);
    memcpy(big, &l->value, sizeof l->value);
    l->rc = shmkit_writer_send(l->w, big, l->len, -1);
    return NULL;
}

/* spin_us of an adaptive reader: long enough not to cut the hold short */
static uint32_t spin_us = 10000000;

static void open_pair(shmkit_kind_t kind, shmkit_wait_t wait, uint32_t hold,
                      shmkit_writer_t **w, shmkit_reader_t **r)
{
    skt_name(name, sizeof name);
    cu_create(name, kind, 1 << 18, kind == SHMKIT_KIND_BUS, 0, 0);
    shmkit_endpoint_opts_t eo;
    cu_eo(&eo, SHMKIT_WAIT_SPIN);
    CHECK_OK(shmkit_writer_open(name, &eo, w));
    cu_eo(&eo, wait);
    eo.hold_ns = hold;
    eo.spin_us = spin_us;
    CHECK_OK(shmkit_reader_open(name, &eo, r));
}

static void close_pair(shmkit_writer_t *w, shmkit_reader_t *r)
{
    CHECK_OK(shmkit_writer_close(w));
    CHECK_OK(shmkit_reader_close(r));
    CHECK_OK(shmkit_segment_unlink(name));
}

/* message length: 8 bytes, or (big) over the hold's 4 KiB */
static size_t msg_len = 8;

/* Takes the next message (recv, or peek and release) and checks it. */
static void take(shmkit_reader_t *r, uint64_t want, int peek, int64_t timeout)
{
    static uint8_t buf[8192];
    uint64_t v = 0;
    size_t n = 0;
    if (peek) {
        const void *p;
        CHECK_OK(shmkit_reader_peek(r, &p, &n, timeout));
        CHECK(n == msg_len);
        memcpy(&v, p, sizeof v);
        CHECK_OK(shmkit_reader_release(r));
    } else {
        CHECK_OK(shmkit_reader_recv(r, buf, sizeof buf, &n, timeout));
        CHECK(n == msg_len);
        memcpy(&v, buf, sizeof v);
    }
    CHECK(v == want);
}

static void send_now(shmkit_writer_t *w, uint64_t v)
{
    static uint8_t buf[8192];
    memcpy(buf, &v, sizeof v);
    CHECK_OK(shmkit_writer_send(w, buf, msg_len, 0));
}

/* Sends `value` DELAY from now on another thread, takes it, and returns
 * how long the take waited. */
static uint64_t take_late(shmkit_writer_t *w, shmkit_reader_t *r,
                          uint64_t value, int peek)
{
    struct late l = {w, DELAY, value, msg_len, -1};
    pthread_t t;
    uint64_t t0 = skt_now_ns();
    CHECK(pthread_create(&t, NULL, late_send, &l) == 0);
    take(r, value, peek, WAIT_5S);
    uint64_t dt = skt_now_ns() - t0;
    CHECK(pthread_join(t, NULL) == 0);
    CHECK_OK(l.rc);
    return dt;
}

/* A stream of three, taken without waiting. */
static void stream(shmkit_writer_t *w, shmkit_reader_t *r, uint64_t first,
                   int peek)
{
    for (uint64_t i = 0; i < 3; i++)
        send_now(w, first + i);
    for (uint64_t i = 0; i < 3; i++)
        take(r, first + i, peek, 0);
}

static void part1(void)
{
    for (int k = 0; k < 2; k++) {
        shmkit_kind_t kind = k ? SHMKIT_KIND_BUS : SHMKIT_KIND_QUEUE;
        shmkit_writer_t *w;
        shmkit_reader_t *r;
        open_pair(kind, k ? SHMKIT_WAIT_ADAPTIVE : SHMKIT_WAIT_SPIN, hold_ns, &w,
                  &r);
        stream(w, r, 1, k);
        uint64_t dt = take_late(w, r, 4, k);
        if (dt < hold_ns)
            skt_fail(__FILE__, __LINE__,
                     "%s: the message after a stream came after %.1f ms, "
                     "within the hold of %.0f ms",
                     kind == SHMKIT_KIND_BUS ? "bus" : "queue", dt / 1e6,
                     hold_ns / 1e6);
        /* and again: a second stream holds again */
        stream(w, r, 5, k);
        CHECK(take_late(w, r, 8, k) >= hold_ns);
        close_pair(w, r);
    }
}

static void part2(void)
{
    shmkit_writer_t *w;
    shmkit_reader_t *r;
    open_pair(SHMKIT_KIND_QUEUE, SHMKIT_WAIT_SPIN, hold_ns, &w, &r);
    for (uint64_t i = 1; i <= 5; i++) {
        uint64_t dt = take_late(w, r, i, 0);
        if (dt >= quick_ns)
            skt_fail(__FILE__, __LINE__,
                     "round trip %llu: the reader waited %.1f ms for a "
                     "message sent after %.0f ms (it held)",
                     (unsigned long long)i, dt / 1e6, DELAY / 1e6);
    }
    close_pair(w, r);
}

static void part3(void)
{
    shmkit_writer_t *w;
    shmkit_reader_t *r;
    uint64_t v, t0;
    size_t n;

    /* a poll, then a short timeout, each right after a stream */
    open_pair(SHMKIT_KIND_QUEUE, SHMKIT_WAIT_SPIN, hold_ns, &w, &r);
    stream(w, r, 1, 0);
    t0 = skt_now_ns();
    CHECK_RC(shmkit_reader_recv(r, &v, sizeof v, &n, 0), -EAGAIN);
    CHECK(skt_now_ns() - t0 < quick_ns);
    stream(w, r, 4, 0);
    t0 = skt_now_ns();
    CHECK_RC(shmkit_reader_recv(r, &v, sizeof v, &n, 50000000), -ETIMEDOUT);
    CHECK(skt_now_ns() - t0 < quick_ns);
    close_pair(w, r);

    /* block mode sleeps instead; hold_ns = 0 looks again at once; records
     * over 4 KiB are lines enough each; adaptive mode holds no longer than
     * it spins */
    static const char *what[] = {"block mode", "hold_ns 0", "5000-byte records",
                                 "adaptive, spin_us 0"};
    for (int k = 0; k < 4; k++) {
        spin_us = k == 3 ? 0 : 10000000;
        open_pair(SHMKIT_KIND_QUEUE,
                  k == 0 ? SHMKIT_WAIT_BLOCK
                         : k == 3 ? SHMKIT_WAIT_ADAPTIVE : SHMKIT_WAIT_SPIN,
                  k == 1 ? 0 : hold_ns, &w, &r);
        msg_len = k == 2 ? 5000 : 8;
        stream(w, r, 1, 0);
        spin_us = 10000000;
        uint64_t dt = take_late(w, r, 4, 0);
        msg_len = 8;
        if (dt >= quick_ns)
            skt_fail(__FILE__, __LINE__, "%s: the reader held (%.1f ms)", what[k],
                     dt / 1e6);
        close_pair(w, r);
    }
}

static void part4(void)
{
    shmkit_writer_t *w;
    shmkit_reader_t *r;
    uint64_t v;
    size_t n;
    open_pair(SHMKIT_KIND_QUEUE, SHMKIT_WAIT_SPIN, hold_ns, &w, &r);
    stream(w, r, 1, 0);
    uint64_t t0 = skt_now_ns();
    uint64_t timeout = hold_ns + DELAY;
    CHECK_RC(shmkit_reader_recv(r, &v, sizeof v, &n, (int64_t)timeout),
             -ETIMEDOUT);
    uint64_t dt = skt_now_ns() - t0;
    CHECK(dt >= timeout);
    if (dt >= timeout + quick_ns)
        skt_fail(__FILE__, __LINE__,
                 "a timeout of %.0f ms ended after %.1f ms: the hold was "
                 "added to it", timeout / 1e6, dt / 1e6);
    close_pair(w, r);
}

static void part5(void)
{
    shmkit_endpoint_opts_t eo;
    memset(&eo, 0xa5, sizeof eo);
    shmkit_endpoint_opts_init(&eo);
    CHECK(eo.hold_ns == SHMKIT_HOLD_NS_DEFAULT);
}

int main(int argc, char **argv)
{
    cu_init("test_chan_hold", 60);
    if (skt_sanitized()) {
        hold_ns = 2000000000u;
        quick_ns = 1500000000ull;
    }
    int only = argc > 1 ? atoi(argv[1]) : 0;
    void (*parts[])(void) = {part1, part2, part3, part4, part5};
    for (int i = 0; i < 5; i++)
        if (!only || only == i + 1)
            parts[i]();
    return cu_result();
}
