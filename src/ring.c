/*
 * ring.c - the record ring under queue and bus.
 *
 * Fast path, writer: compute the record size, compare against a cached
 * slowest-reader position (refreshed only when it says "full"), write in
 * place, commit with one release store of the record's word, bump our own
 * counters, and look at the readers' `waiters` word (one load, one branch).
 * Fast path, reader: acquire-load the word at our position; when its tag
 * matches, the record is complete; hand out a pointer; on release, store our
 * new head (release) to our own cache line.  No lock, no syscall, no
 * allocation.  While a reader lags, the writer also fetches the lines
 * ahead of it for writing (write_ahead()).
 *
 * Lossy bus: the writer never waits.  Before it overwrites a region it
 * publishes `horizon` (its claim end plus some slack, so the store is rare)
 * followed by a release fence; a reader checks, after an acquire fence,
 * that horizon has not passed its position plus the capacity (seqlock-style)
 * before it trusts a commit word (an earlier lap's may survive half
 * overwritten, see overtaken()) and again after it read the message, else
 * the message may be torn: SHMKIT_E_OVERRUN.
 * A reader that finds its position overwritten resynchronises at the
 * writer's tail and counts what it lost from the sequence numbers.
 *
 * Multi-producer queue: producers claim [pos, end) with a CAS on `tail`,
 * after announcing the claim in their endpoint line.  A consumer stuck on a
 * claimed but uncommitted record looks for the claimant: if it is dead, the
 * claim becomes padding (Aeron's "unblock"), with a CAS on the word so a
 * late commit can never be overwritten.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <emmintrin.h>
#endif

#include "channel.h"
#include "error.h"
#include "segment.h"

static inline _Atomic uint64_t *word_at(struct sk_chan_view *v, uint64_t pos)
{
    return (_Atomic uint64_t *)(void *)(v->ring + (pos & v->mask));
}

static inline int is_lossy(const struct sk_chan_view *v)
{
    return v->kind == SHMKIT_KIND_BUS && !(v->flags & SK_CF_RELIABLE);
}

static inline int is_multi(const struct sk_chan_view *v)
{
    return v->kind == SHMKIT_KIND_QUEUE && (v->flags & SK_CF_MULTI);
}

/* Lossy bus: has the writer reached pos again (a lap later) since what we
 * read there was written?  Call after reading; the acquire fence pairs with
 * the release fence in publish_horizon(): if any byte we read is the new
 * lap's, we see its horizon.  A word that passed its tag check may still be
 * an earlier lap's half overwritten (a message that does not end on an
 * 8-byte boundary rewrites only the low bytes of the next 8, keeping the
 * old tag with a length made of payload bytes), and the sequence number
 * after it the earlier lap's too: neither is trusted before this says no. */
static inline int overtaken(const struct sk_chan_view *v, uint64_t pos)
{
    atomic_thread_fence(memory_order_acquire);
    return atomic_load_explicit(&v->ch->horizon, memory_order_relaxed) >
           pos + v->cap;
}

/* ---- writer ---------------------------------------------------------------- */

struct space_ctx {
    shmkit_writer_t *w;
    uint64_t need_end; /* position the claim would end at */
};

static int space_cond(void *vctx)
{
    struct space_ctx *c = vctx;
    shmkit_writer_t *w = c->w;
    w->head_cache = sk_min_head(w, 0);
    return (int64_t)(c->need_end - w->head_cache) <= (int64_t)w->v.cap;
}

static int space_slow(void *vctx)
{
    struct space_ctx *c = vctx;
    shmkit_writer_t *w = c->w;
    /* A dead reader must not hold the writer: look for dead ones (a
     * syscall per reader, so only while we are stuck, at most every
     * 100 ms).  The time is the writer's, not the call's: a writer that
     * polls with short timeouts must evict as surely as one that waits. */
    if (w->v.kind != SHMKIT_KIND_BUS)
        return 0; /* a queue keeps its messages for the next consumer */
    uint64_t now = sk_now_ns(CLOCK_MONOTONIC);
    if (now - w->last_evict_ns <= 100000000ull)
        return 0; /* nothing new since space_cond() */
    w->last_evict_ns = now;
    w->head_cache = sk_min_head(w, 1);
    return (int64_t)(c->need_end - w->head_cache) <= (int64_t)w->v.cap;
}

static int wait_space(shmkit_writer_t *w, uint64_t end, int64_t timeout_ns)
{
    struct space_ctx c = {w, end};
    if (timeout_ns == 0) {
        if (space_cond(&c) || space_slow(&c))
            return 0;
        return -EAGAIN;
    }
    return sk_chan_wait(&w->v, &w->v.ch->space_ev, &w->v.ch->space_posted,
                        space_cond, space_slow, &c, timeout_ns);
}

/*
 * Until the writer gets to a position, the 8 bytes there hold what an
 * earlier lap left, often payload, which any sender controls: a message
 * made of the next lap's commit words would be read as messages by a
 * reader waiting there (test_chan_spoof).  So before a record is published
 * the writer looks at the word where the next one will start, and clears
 * it if it would pass for a commit word there.  That is rare (only a
 * crafted or unlucky payload does it), so the common cost is one load of
 * a line the writer is about to write anyway, issued before the payload
 * copy.  The place is free space: unread data there would be the oldest
 * record's word, whose tag is a lap older.  Once checked, nobody but this
 * writer changes it before the next record's commit.  On a lossy bus the
 * horizon covers these 8 bytes too (SK_NEXT_WORD).
 */
#define SK_NEXT_WORD 8u

static inline void guard_next(struct sk_chan_view *v, uint64_t pos)
{
    _Atomic uint64_t *p = word_at(v, pos);
    if (__builtin_expect(
            sk_word_tag_ok(atomic_load_explicit(p, memory_order_relaxed), pos), 0))
        /* relaxed: the commit's release store publishes it */
        atomic_store_explicit(p, 0, memory_order_relaxed);
}

/*
 * guard_next() for a multi-producer queue, whose producers do not know who
 * claims next: the word at `at` (a claim's start: the tail once was, or
 * will be, there), cleared if it would pass for a commit word, but only
 * while nobody has claimed it (the tail is still `tail_now`), with a CAS
 * that loses against a commit that raced us.  Each producer does it for
 * its own word before its claim (-1: the tail moved meanwhile, the claim
 * will fail anyway) and for the word after its claim before its commit,
 * and a claim turned into padding (sk_pad_claim) for the word after it:
 * once a word is claimed, its producer has cleared it, and only a real
 * commit can pass there.  Not covered: a commit that lands between our
 * look at the tail and the CAS (a few instructions, or longer if we are
 * preempted there) with a word bit for bit the old bytes: a crafted
 * payload can hold such a word (a wrap pad's is easy to predict), and the
 * message would then be cleared and the consumer would wait for it.  A
 * producer that can send can stall the queue anyway, by never committing.
 * Normally `at` is a word slot; a producer stalled for a lap before its
 * claim may read payload there, which it only compares.
 */
/* guard_multi()'s first look: a producer that read the tail a lap late
 * may read another producer's payload here, while it is being written.
 * It only compares it (a tail that moved on stops it before any store),
 * but ThreadSanitizer reports a plain write against an atomic read as a
 * race, so under TSan this one read is not instrumented. */
#if defined(__SANITIZE_THREAD__)
__attribute__((no_sanitize("thread"), noinline)) static uint64_t
first_look(_Atomic uint64_t *p)
#else
static inline uint64_t first_look(_Atomic uint64_t *p)
#endif
{
    return atomic_load_explicit(p, memory_order_relaxed);
}

static inline int guard_multi(struct sk_chan_view *v, uint64_t at, uint64_t tail_now)
{
    _Atomic uint64_t *p = word_at(v, at);
    uint64_t old = first_look(p);
    if (__builtin_expect(!sk_word_tag_ok(old, at), 1))
        return 0;
    /* the word was read before the tail (an acquire load alone would let
     * a weakly ordered CPU read the tail first, and then a commit that a
     * claim after that tail made) */
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&v->ch->tail, memory_order_relaxed) != tail_now)
        return -1;
    atomic_compare_exchange_strong(p, &old, 0);
    return 0;
}

/* Writes a pad record at pos covering the rest of the ring. */
static inline void put_pad(struct sk_chan_view *v, uint64_t pos)
{
    uint64_t off = pos & v->mask;
    /* release: pairs with the reader's acquire of the word */
    atomic_store_explicit(word_at(v, pos),
                          sk_word(pos, SK_W_PAD, (uint32_t)(v->cap - off)),
                          memory_order_release);
}

/*
 * Large messages into an empty ring start again at the ring's start.  A
 * ring walks its whole capacity before it reuses a byte, so with messages
 * of a MiB a round trip touches 8-16 MiB of cold memory where a pool (as
 * iceoryx's) reuses a few warm chunks.  When every reader has released
 * everything (a fresh look at their heads, so only for records of at least
 * an eighth of the ring) and the writer is past half the ring, it pads to
 * the ring's end: large messages then stay in the first half.  Not sooner:
 * until the readers pass the pad, the writer has only the bytes before it
 * (so a burst right after a rewind still finds half the ring), and a
 * region the reader has just read is still in its cache (writing it again
 * at once, one region in turn, made zero-copy round trips slower than no
 * rewind at all).  Not on a lossy bus, whose writer does not track its
 * readers.
 */
static inline int rewind_candidate(const struct sk_chan_view *v, uint64_t size,
                                   uint64_t off)
{
    return size >= v->cap / 8 && off >= v->cap / 2 && off >= size && !is_lossy(v);
}

static inline void publish_horizon(shmkit_writer_t *w, uint64_t end)
{
    if (end <= w->horizon_pub)
        return;
    w->horizon_pub = end + w->v.cap / 16;
    atomic_store_explicit(&w->v.ch->horizon, w->horizon_pub,
                          memory_order_relaxed);
    /* Order the horizon before the overwriting stores that follow; pairs
     * with the acquire fence in the reader's overrun check. */
    atomic_thread_fence(memory_order_release);
}

static int reserve_multi(shmkit_writer_t *w, uint64_t size, size_t len,
                         void **buf, int64_t timeout_ns)
{
    struct sk_chan_view *v = &w->v;
    struct sk_chan *ch = v->ch;
    uint64_t deadline = 0;
    for (;;) {
        uint64_t pos = atomic_load_explicit(&ch->tail, memory_order_acquire);
        if (pos & 7)
            return sk_err(SHMKIT_E_CORRUPT, "reserve", shmkit_segment_name(v->seg),
                          "queue tail %llu is not 8-byte aligned",
                          (unsigned long long)pos);
        uint64_t off = pos & v->mask;
        uint64_t pad = off + size > v->cap ? v->cap - off : 0;
        uint64_t end = pos + pad + size;
        if ((int64_t)(end - w->head_cache) > (int64_t)v->cap) {
            w->head_cache = sk_min_head(w, 0);
            if ((int64_t)(end - w->head_cache) > (int64_t)v->cap) {
                /* other producers may take the room we waited for, again
                 * and again: the timeout runs from the first wait */
                int r = wait_space(w, end, sk_time_left(timeout_ns, &deadline));
                if (r < 0)
                    return r;
                continue; /* the tail moved meanwhile */
            }
        }
        /* our own word first (see guard_multi()), unless our last commit
         * checked it: only a claim of it could have written it since */
        if (pos != w->guarded && guard_multi(v, pos, pos) < 0)
            continue; /* the tail moved: another producer took it */
        /* announce the claim before taking it; the CAS (release) publishes
         * it to a consumer that acquire-loads tail */
        atomic_store_explicit(&v->ep->claim_pos, pos, memory_order_relaxed);
        atomic_store_explicit(&v->ep->claim_end, end, memory_order_relaxed);
        if (atomic_compare_exchange_weak_explicit(&ch->tail, &pos, end,
                                                  memory_order_acq_rel,
                                                  memory_order_relaxed)) {
            /* The commit looks at the word after the claim: fetch it now.
             * When it lies on the claim's own line, the line the consumer
             * polls, fetch it for writing: read, it would come shared and
             * the stores would take it again, two transfers before the
             * commit can be seen (reserve_fast()).  shmkit-ab, against the
             * read prefetch: 8 B round trips 0.78x (690 -> 530 ns at a
             * 250 ns line floor) and 0.83x (180 -> 155 ns at 60 ns); 64 B
             * round trips and streams 0.98-1.04x.  Taking both lines for
             * writing made 64 B round trips 1.05-1.09x; the claim's line
             * for writing and the next one read, 1.05x. */
            if (((pos + pad) ^ end) & ~(uint64_t)63)
                __builtin_prefetch(v->ring + (end & v->mask), 0, 3);
            else
                sk_prefetch_w(v->ring + (end & v->mask));
            if (pad) {
                guard_next(v, pos + pad); /* the pad leads a reader there */
                put_pad(v, pos);
            }
            w->res_pos = pos + pad;
            w->res_end = end;
            w->res_len = size;
            w->res_bytes = len;
            *buf = v->ring + ((pos + pad) & v->mask) + v->hdr;
            return 0;
        }
        /* lost the race: withdraw the claim at once, or a reaper could
         * take the winner's space for ours */
        atomic_store_explicit(&v->ep->claim_pos, SK_CLAIM_IDLE,
                              memory_order_release);
    }
}

/* Drops an open reservation without publishing anything (close, detach).
 * A single writer's reservation is private until its commit (a wrap pad it
 * wrote is complete and a successor's recovery steps over it); latest's
 * half-written slot is one nobody points to.  A producer's claim on a
 * multi-producer queue already lies in the tail's order, so it becomes a
 * pad the consumer steps over. */
void sk_writer_abandon(shmkit_writer_t *w)
{
    struct sk_chan_view *v = &w->v;
    if (is_multi(v)) {
        sk_pad_claim(v, w->res_pos, w->res_end);
        /* release: the pad is in place before the claim is withdrawn */
        atomic_store_explicit(&v->ep->claim_pos, SK_CLAIM_IDLE,
                              memory_order_release);
    }
    w->res_pos = UINT64_MAX;
}

int sk_ring_reserve(shmkit_writer_t *w, size_t len, void **buf,
                    int64_t timeout_ns)
{
    struct sk_chan_view *v = &w->v;
    uint64_t size = sk_rec_size(v->hdr, len);
    if (w->res_pos != UINT64_MAX)
        return sk_err(-EINVAL, "reserve", shmkit_segment_name(v->seg),
                      "a reservation is already open; commit it first");
    if (is_multi(v))
        return reserve_multi(w, size, len, buf, timeout_ns);
    /* a wrap pad or a wait for space: what the batch holds goes out first
     * (a reader must be able to drain it, and a pad is never batched) */
    sk_flush_batch(w);
    uint64_t pos = w->pos;
    uint64_t off = pos & v->mask;
    uint64_t pad = off + size > v->cap ? v->cap - off : 0;
    if (!pad && rewind_candidate(v, size, off)) {
        uint64_t head = sk_min_head(w, 0);
        if (head == pos) {
            w->head_cache = head;
            pad = v->cap - off; /* off >= size: the record fits */
        }
    }
    uint64_t end = pos + pad + size;
    if (is_lossy(v)) {
        publish_horizon(w, end + SK_NEXT_WORD);
    } else if ((int64_t)(end - w->head_cache) > (int64_t)v->cap) {
        int r = wait_space(w, end, timeout_ns);
        if (r < 0)
            return r;
    }
    if (pad) {
        guard_next(v, pos + pad); /* the pad leads a reader there */
        put_pad(v, pos);
        pos += pad;
        w->pos = pos;
    }
    guard_next(v, end);
    w->res_pos = pos;
    w->res_len = size;
    w->res_bytes = len;
    *buf = v->ring + (pos & v->mask) + v->hdr;
    return 0;
}

/* The position where a commit has more to do than store its word: publish
 * the (tail, seq) pair (pub_next) or fetch lines ahead (wa_mark).  One
 * comparison in commit_sp() instead of two. */
static inline void set_due(shmkit_writer_t *w)
{
    w->due = w->pub_next < w->wa_mark ? w->pub_next : w->wa_mark;
}

/*
 * A single writer's (tail, seq) pair and counters, published only once per
 * SK_PUB_EVERY bytes (a sixteenth of a smaller ring), not with every
 * commit.  Nobody needs them per message: a reader finds records by their
 * commit words.  They tell where a joining bus reader starts, where a new
 * writer goes on, and what `shmkit stat` shows, and each of those steps
 * from the pair over the records committed since (sk_ring_walk), as a new
 * writer always has after a crash.  The five stores per message were not
 * free although they hit the writer's own lines: stores leave the store
 * buffer in order, behind the ring stores that wait for lines a reader
 * holds, and a full store buffer stops the writer (64 B sent one by one,
 * paired runs: 37-43 -> 61-65 M msg/s; zero-copy 19-20 -> 27-28 M,
 * docs/BENCHMARKS.md).  Published too before every look
 * at the readers' heads (sk_min_head: the reliable bus's join handshake
 * needs a tail at least that new), on flush, close and detach.
 */
static void publish_now(shmkit_writer_t *w)
{
    struct sk_chan_view *v = &w->v;
    w->pub_pos = w->pos;
    w->pub_next = w->pos + sk_pub_every(v->cap); /* cached for the hot path */
    set_due(w);
    sk_publish_tail(v->ch, w->pos, w->seq);
    atomic_store_explicit(&v->ep->w_msgs, w->msgs, memory_order_relaxed);
    atomic_store_explicit(&v->ep->w_bytes, w->bytes, memory_order_relaxed);
}

void sk_writer_publish(shmkit_writer_t *w)
{
    if (w->pos != w->pub_pos) /* else nothing new (a pad moves pos too) */
        publish_now(w);
}

/* The bookkeeping after records are published: the (tail, seq) pair and
 * our counters when due, and a look at whether a reader sleeps. */
static inline void published(shmkit_writer_t *w)
{
    struct sk_chan_view *v = &w->v;
    if (__builtin_expect(w->pos >= w->pub_next, 0))
        sk_writer_publish(w);
    sk_event_notify(&v->ch->data_ev, &v->ch->data_posted,
                    v->kind == SHMKIT_KIND_BUS);
}

/* Stores the words of a send_more batch in ring order (release each, so a
 * reader that sees one sees every byte before it), then publishes the tail
 * once.  The words are our own, kept in the handle: nothing is read back
 * from the ring. */
void sk_flush_batch(shmkit_writer_t *w)
{
    struct sk_chan_view *v = &w->v;
    uint32_t n = w->nbatch;
    if (n == 0)
        return;
    uint64_t pos = w->batch_pos;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t wd = w->batch_word[i];
        atomic_store_explicit(word_at(v, pos), wd, memory_order_release);
        pos += sk_rec_size(v->hdr, wd & SK_W_LEN);
    }
    w->nbatch = 0;
    published(w);
}

/*
 * Write-ahead.  A line the writer is about to fill was last read by a
 * reader a lap ago, so it sits in the reader's cache, and every store into
 * it waits for the line to be taken back: the writer alone sent 150 M
 * msg/s of 64 B, with a reader behind it 12-20 M when the two CPUs share
 * no cache.  Stores retire in order, so those misses come one after
 * another.  While a reader lags, the writer therefore asks for the lines
 * up to SK_WA_DIST ahead of its position for writing (prefetchw), a few at
 * a time after each commit, so the transfers overlap.  Not while the
 * readers keep up: then they (and their hardware prefetchers) are reading
 * those very lines, and taking them early only makes them move twice
 * (round trips were 5-15% slower, and a caught-up stream 10-40% slower
 * with the CPUs close, when it was always on).  Where the two CPUs share
 * a cache the lines are at hand anyway and even this costs up to ~10%
 * (docs/BENCHMARKS.md, "write-ahead"), more with a reader that holds: the
 * writer therefore fetches ahead only while its reader's caches are far
 * (SK_WA_FAR_NS).  The lag is looked at once
 * per SK_WA_CHECK bytes written (a queue: its consumer's head, one line;
 * a bus: every reader's, so four times less often), after a commit, off
 * the message's own path.  Seldom, because that look is dear: the head's
 * line is one the reader stores to with every message, so the load waits
 * for it, and the reader's next store waits to take it back.  Looked at
 * every 4 KiB (57 messages of 64 B), a one-by-one 64 B stream ran at
 * 41-47 M msg/s; every 64 KiB, 66-77 M (round trips unchanged, since a
 * round trip never lags).  Everything read here is a hint: it only
 * decides which lines of the ring to prefetch.
 */
#define SK_WA_DIST 1024u
#define SK_WA_LAG 256u
/* Write-ahead pays only when the reader's caches are far from the writer's.
 * When both CPUs share a cache (the vCPUs close together here), a line
 * comes from it in 40-50 ns and the prefetches only add work: with the
 * hold a fast reader lags by a hold's worth of records, which turned
 * write-ahead on, and a queue's 64 B stream ran at 92-93 against 105 M
 * msg/s without it, zero-copy 75-79 against 108-114.  So the writer times
 * its look at a reader's head (clock reads around one load, once per
 * 64 KiB, a bus's per 256 KiB: look_ns()) and fetches ahead only while the
 * slower of its last two looks took this long or more: far apart here they
 * take 140-220 ns. */
#define SK_WA_FAR_NS 100u

/* The position of the reader furthest ahead: the one whose lag matters.
 * With no reader, the writer's own (nobody else holds the lines).  A bus's
 * lead reader's slot goes to w->wa_lead (-1: none), for the next timed
 * look (look_ns()). */
static uint64_t lead_head(shmkit_writer_t *w)
{
    struct sk_chan_view *v = &w->v;
    if (v->kind == SHMKIT_KIND_QUEUE)
        return atomic_load_explicit(&v->ch->qhead, memory_order_relaxed);
    uint64_t lead = w->pos;
    w->wa_lead = -1;
    for (int i = 0; i < SHMKIT_MAX_ATTACH; i++) {
        struct sk_ep *ep = &v->eps[i];
        if (!atomic_load_explicit(&ep->active, memory_order_relaxed))
            continue;
        uint64_t h = atomic_load_explicit(&ep->head, memory_order_relaxed);
        if (h <= w->pos && w->pos - h <= v->cap && (w->wa_lead < 0 || h > lead)) {
            lead = h;
            w->wa_lead = i;
        }
    }
    return lead;
}

/* How far the reader's caches are: the nanoseconds one load of a line it
 * stores to with every message takes (a queue: its head; a bus: the head
 * of the reader that led at the last look, its slot index our own), or 0
 * with nothing to time yet.  A bus times one reader, not the scan of every
 * slot, whose length says more about the slots than about the reader. */
static uint32_t look_ns(shmkit_writer_t *w)
{
    struct sk_chan_view *v = &w->v;
    _Atomic uint64_t *p;
    if (v->kind == SHMKIT_KIND_QUEUE)
        p = &v->ch->qhead;
    else if (w->wa_lead >= 0 && w->wa_lead < SHMKIT_MAX_ATTACH)
        p = &v->eps[w->wa_lead].head;
    else
        return 0;
    uint64_t t0 = sk_now_ns(CLOCK_MONOTONIC);
    (void)atomic_load_explicit(p, memory_order_relaxed);
    uint64_t t = sk_now_ns(CLOCK_MONOTONIC) - t0;
    return t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
}

/* Called from a commit once the writer's position reaches wa_mark: the
 * next look at the lag (wa_next) while off, every other line while on, so
 * a writer with nothing to fetch pays one comparison per message (with
 * pub_next folded in: `due`, see set_due()). */
static __attribute__((noinline)) void write_ahead(shmkit_writer_t *w,
                                                  uint64_t size)
{
    struct sk_chan_view *v = &w->v;
    uint64_t pos = w->pos;
    if (pos >= w->wa_next) {
        w->wa_next = pos + (v->kind == SHMKIT_KIND_QUEUE ? SK_WA_CHECK
                                                         : 4 * SK_WA_CHECK);
        /* a large record: the lines ahead are the next message's payload,
         * which a hand-off never writes and a copy streams through anyway
         * (a look at the lag per 64 KiB message cost hand-offs 20%;
         * fetching a record's length ahead halved 4000 B streams) */
        w->wa_on = 0;
        if (size <= SK_WA_DIST) {
            /* the slower of the last two looks: one may have found the
             * line still in our cache (a holding reader stores nothing) */
            uint32_t t = look_ns(w);
            int far = (t > w->wa_lat ? t : w->wa_lat) >= SK_WA_FAR_NS;
            w->wa_lat = t;
            w->wa_on = pos - lead_head(w) > SK_WA_LAG && far;
        }
    }
    if (!w->wa_on || size > SK_WA_DIST) {
        w->wa_mark = w->wa_next;
        set_due(w);
        return;
    }
    /* from the line after the one the next record starts in (a reader
     * that caught up polls that one), never into unread records */
    uint64_t p = w->wa_pos, stop = pos + SK_WA_DIST;
    if (p < pos + 64)
        p = (pos + 64) & ~(uint64_t)63;
    /* a queue's head comes from shared memory as it is: the bound may only
     * lower stop (test_chan_regress part 6) */
    if (!is_lossy(v) && w->head_cache + v->cap < stop)
        stop = w->head_cache + v->cap;
    /* counted too: positions near 2^64 (a forged tail) wrap p past stop */
    for (unsigned n = 0; p < stop && n < SK_WA_DIST / 64 + 1; n++, p += 64)
        sk_prefetch_w(v->ring + (p & v->mask));
    w->wa_pos = p;
    w->wa_mark = (pos & ~(uint64_t)63) + 128;
    if (w->wa_mark > w->wa_next)
        w->wa_mark = w->wa_next;
    set_due(w);
}

/*
 * After a commit, the line of the word after the next message, which that
 * message's guard_next() will load (guessing the next message is as long
 * as this one): without this prefetch that load holds up the commit behind
 * it (a round trip measured 10-25% slower).  For records (header
 * included) of up to 1 KiB a read prefetch: the line may be the one a
 * caught-up reader polls, or the one after it, which its data_cond()
 * prefetches.  For longer records it is neither (the reader polls the
 * next record's first line), and the writer will store into it two
 * messages from now, so it takes it for writing: the reader's copy from
 * the last lap is invalidated now rather than when that message's stores
 * wait for it (a prefetch only: if a lagging reader has yet to read that
 * line, it fetches it again).  shmkit-ab against the
 * read prefetch (2026-12-03, 13-14 rounds): 64 KiB hand-offs (8 bytes
 * written and read per message) +19% (1.07-1.25x), 1 KiB hand-offs +6%,
 * 1 KiB round trips and streams unchanged (1.005x, 1.01x), 64 KiB copy
 * streams 0.97x within their noise (0.67-1.07x at one placement).
 */
#define SK_WP_MIN 1024u

static inline void prefetch_guard(const struct sk_chan_view *v, uint64_t at,
                                  uint64_t size)
{
    unsigned char *p = v->ring + (at & v->mask);
    if (size > SK_WP_MIN)
        sk_prefetch_w(p);
    else
        __builtin_prefetch(p, 0, 3);
}

/* What a commit_sp() that was not batched does after its word: the
 * (tail, seq) pair and counters when due, a sleeping reader, the next
 * line, write-ahead.  Inline for send; for reserve and commit out of line
 * in commit_due(), reached by a tail call only when `due` or a sleeper says
 * there is more than the prefetch to do, so that their common commit makes
 * no call at all and saves no registers (see commit_sp()). */
static inline __attribute__((always_inline)) void
commit_rest(shmkit_writer_t *w, uint64_t size)
{
    struct sk_chan_view *v = &w->v;
    published(w);
    prefetch_guard(v, w->pos + size, size);
    if (__builtin_expect(w->pos >= w->wa_mark, 0))
        write_ahead(w, size);
}

static __attribute__((noinline)) int commit_due(shmkit_writer_t *w,
                                                uint64_t size)
{
    commit_rest(w, size);
    return 0;
}

/* commit_sp() for a record that joins a send_more batch, or ends one */
static inline __attribute__((always_inline)) void
batch_add(shmkit_writer_t *w, uint64_t pos, uint64_t word, uint64_t size,
          int more)
{
    if (w->nbatch == 0)
        w->batch_pos = pos;
    w->batch_word[w->nbatch++] = word;
    if (!more || w->nbatch == SK_BATCH_MAX ||
        w->pos - w->batch_pos >= w->batch_limit)
        sk_flush_batch(w);
    if (__builtin_expect(w->pos >= w->wa_mark, 0))
        write_ahead(w, size);
}

/* ... out of line, for commit_sp()'s tail calls */
static __attribute__((noinline)) int commit_batch(shmkit_writer_t *w,
                                                  uint64_t pos, uint64_t word,
                                                  uint64_t size, int more)
{
    batch_add(w, pos, word, size, more);
    return 0;
}

/* Publishes the record at res_pos (single writer) and does the bookkeeping
 * every commit shares; inlined into the send fast path.  more: keep the
 * record in the batch (send_more), published later in order.  A batch
 * never holds a pad: a record that does not fit before the ring's end
 * takes the general way, which flushes first (one that ends exactly there
 * does not, and the batch goes on at the ring's start).  Returns 0.
 *
 * tail (a constant): everything rare goes behind a tail call (commit_due(),
 * commit_batch()), so that the caller's fast path makes no call and saves
 * no registers: every register pushed is one more store in the store
 * buffer, where it waits behind the ring's stores for lines a reader holds
 * (see sk_writer_publish()).  For reserve and commit, the zero-copy calls:
 * reserve now saves one register where it saved three, commit none where
 * it saved two, and zero-copy 64 B streams ran 16-29% faster (queue, vCPUs
 * far apart; docs/BENCHMARKS.md).  Not for send: it saves registers for
 * its copy anyway, and it ran no faster (batched sends 4-5% slower). */
static inline int commit_sp(shmkit_writer_t *w, uint64_t pos, size_t len,
                            uint64_t size, int more, const int tail)
{
    struct sk_chan_view *v = &w->v;
    unsigned char *rec = v->ring + (pos & v->mask);
    uint64_t seq = w->seq++;
    if (v->kind == SHMKIT_KIND_BUS) /* a queue's header is the word alone */
        memcpy(rec + 8, &seq, 8);
    uint64_t word = sk_word(pos, 0, (uint32_t)len);
    w->pos = pos + size;
    w->res_pos = UINT64_MAX;
    w->msgs++;
    w->bytes += len;
    if (__builtin_expect(more | w->nbatch, 0)) {
        if (tail)
            return commit_batch(w, pos, word, size, more);
        batch_add(w, pos, word, size, more);
        return 0;
    }
    /* the commit: one release store; pairs with the reader's acquire */
    atomic_store_explicit((_Atomic uint64_t *)(void *)rec, word,
                          memory_order_release);
    if (!tail) {
        commit_rest(w, size);
        return 0;
    }
    if (__builtin_expect((w->pos >= w->due) | sk_event_waiters(&v->ch->data_ev),
                         0))
        return commit_due(w, size);
    /* commit_rest()'s prefetch, when there is nothing else to do */
    prefetch_guard(v, w->pos + size, size);
    return 0;
}

int sk_ring_commit(shmkit_writer_t *w, size_t len, int more)
{
    struct sk_chan_view *v = &w->v;
    struct sk_chan *ch = v->ch;
    uint64_t pos = w->res_pos;
    if (pos == UINT64_MAX)
        return sk_err(-EINVAL, "commit", shmkit_segment_name(v->seg),
                      "nothing reserved");
    uint64_t size = sk_rec_size(v->hdr, len);
    if (len > w->res_bytes)
        return sk_err(-EINVAL, "commit", shmkit_segment_name(v->seg),
                      "commit of %zu bytes is more than the %llu reserved", len,
                      (unsigned long long)w->res_bytes);
    if (!is_multi(v)) {
        if (size != w->res_len)
            guard_next(v, pos + size);
        return commit_sp(w, pos, len, size, more, 1);
    }
    unsigned char *rec = v->ring + (pos & v->mask);
    /* the whole claim must be accounted for: a shorter message leaves a pad
     * record behind it */
    uint64_t end = w->res_end, next = pos + size;
    guard_multi(v, end, end); /* the word after our claim, if unclaimed */
    w->guarded = end;
    if (next < end)
        atomic_store_explicit(word_at(v, next),
                              sk_word(next, SK_W_PAD, (uint32_t)(end - next)),
                              memory_order_release);
    /* release: the payload is complete */
    atomic_store_explicit((_Atomic uint64_t *)(void *)rec,
                          sk_word(pos, 0, (uint32_t)len), memory_order_release);
    /* release: pairs with the reaper's acquire of claim_pos */
    atomic_store_explicit(&v->ep->claim_pos, SK_CLAIM_IDLE, memory_order_release);
    w->res_pos = UINT64_MAX;
    w->msgs++;
    w->bytes += len;
    atomic_store_explicit(&v->ep->w_msgs, w->msgs, memory_order_relaxed);
    atomic_store_explicit(&v->ep->w_bytes, w->bytes, memory_order_relaxed);
    sk_event_notify(&ch->data_ev, &ch->data_posted, 0);
    return 0;
}

void sk_publish_tail(struct sk_chan *ch, uint64_t tail, uint64_t seq)
{
    uint64_t v = atomic_load_explicit(&ch->tailv, memory_order_relaxed) + 1;
    /* The slot was last published as v - 2: our last tailv store (v - 1)
     * must be visible before the slot's new contents, so a reader that
     * reads them sees tailv moved and tries again (pairs with the acquire
     * fence in sk_read_tail; free on x86, where stores stay in order). */
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&ch->pair[v & 1].tail, tail, memory_order_relaxed);
    atomic_store_explicit(&ch->pair[v & 1].seq, seq, memory_order_relaxed);
    /* release: the slot is complete; pairs with sk_read_tail's acquire */
    atomic_store_explicit(&ch->tailv, v, memory_order_release);
}

/* From a published (tail, seq), steps over the records committed after it
 * (see sk_writer_publish): moves *pos and *seq to the end of what the
 * writer has committed, adds their payload bytes to *bytes (if given), and
 * returns how many there were.  Stops at the first word that is not a
 * record of this lap or a pad to the ring's end, after at most a lap: all
 * of it comes from shared memory.  On a lossy bus the writer may be
 * overwriting as we go; a torn record fails a check and ends the walk.
 *
 * And stops once it has stepped over more record bytes than a writer can
 * have left unpublished (twice over: one killed inside a publication
 * leaves the pair before it current): SK_PUB_EVERY, a batch, and the
 * record that crossed the mark.  Everything committed when the pair was
 * read lies within that; a live writer goes on committing while we walk,
 * and the walk, one dependent load per record, need not outrun it.  (It
 * did here: a lapped reader of a 1-64 MiB bus that a writer streamed
 * 8-byte messages into resumed in 0.01-0.03 ms, with or without the
 * bound.)  Pads do not count: one may cover half the ring (a rewind). */
static uint64_t walk_span(const struct sk_chan_view *v)
{
    return 2 * (sk_pub_every(v->cap) + sk_batch_bytes(v->cap) +
                sk_rec_size(v->hdr, v->max_msg));
}

uint64_t sk_ring_walk(struct sk_chan_view *v, uint64_t *pos, uint64_t *seq,
                      uint64_t *bytes)
{
    uint64_t p = *pos, s = *seq, recs = 0, span = walk_span(v), walked = 0;
    for (uint64_t n = 0; p - *pos < v->cap && n < v->cap / 8 && walked < span;
         n++) {
        uint64_t wd = atomic_load_explicit(word_at(v, p), memory_order_acquire);
        if (!sk_word_tag_ok(wd, p))
            break;
        uint64_t off = p & v->mask;
        uint32_t l = (uint32_t)(wd & SK_W_LEN);
        if (wd & SK_W_PAD) {
            if (l != v->cap - off)
                break;
            p += l;
            continue;
        }
        if (l > v->max_msg || off + v->hdr + l > v->cap)
            break;
        if (v->kind == SHMKIT_KIND_BUS) {
            uint64_t rs;
            memcpy(&rs, v->ring + off + 8, 8);
            if (rs != s)
                break;
        }
        s++;
        recs++;
        if (bytes)
            *bytes += l;
        walked += sk_rec_size(v->hdr, l);
        p += sk_rec_size(v->hdr, l);
    }
    *pos = p;
    *seq = s;
    return recs;
}

/* A writer that died after commits it had not published yet (or between
 * its commit store and the (tail, seq) update) left committed records
 * beyond tail: a new writer starts after them, or it would overwrite
 * them. */
void sk_writer_recover(shmkit_writer_t *w)
{
    struct sk_chan_view *v = &w->v;
    uint64_t pos = w->pos, seq = w->seq, bytes = 0;
    /* counted as ours: nobody else will count them (stat adds what lies
     * beyond the published tail) */
    w->msgs += sk_ring_walk(v, &pos, &seq, &bytes);
    w->bytes += bytes;
    /* The walk may stop at a word that passes the tag check but not the
     * others: clear it, or a reader joining here takes it (see
     * guard_next(); a tag of pos is never unread data). */
    if (is_lossy(v))
        publish_horizon(w, pos + SK_NEXT_WORD);
    guard_next(v, pos);
    w->pos = pos;
    w->seq = seq;
    publish_now(w);
}

/* The calls on the message path start on a cache line of their own.  Where
 * they land otherwise depends on the size of everything linked before them,
 * and a streaming reader's speed with it: a change to one function moved
 * the reader's, and a reliable bus's zero-copy 64 B stream went from 37-41
 * to 23-24 M msg/s with the same code for every call it made (paired;
 * both builds aligned: 38-43 alike). */
#define SK_HOT __attribute__((aligned(64)))

/* The writer's fast path, shared by reserve and send: a single writer, no
 * open reservation, a record under an eighth of the ring (larger ones may
 * rewind, on a queue or reliable bus), no wrap, and room known from the
 * cached head (a lossy bus never waits).  Returns 1 with the record's
 * offset in the ring and its size, or 0 for the general way.  Everything
 * here is process-private except the horizon. */
static inline int reserve_fast(shmkit_writer_t *w, size_t len, uint64_t *off,
                               uint64_t *size)
{
    struct sk_chan_view *v = &w->v;
    if (__builtin_expect(len >= w->fast_end || w->res_pos != UINT64_MAX, 0))
        return 0;
    uint64_t pos = w->pos, sz = sk_rec_size(v->hdr, len);
    uint64_t o = pos & v->mask, end = pos + sz;
    if (__builtin_expect(o + sz > v->cap, 0))
        return 0;
    if (is_lossy(v))
        publish_horizon(w, end + SK_NEXT_WORD);
    else if ((int64_t)(end - w->head_cache) > (int64_t)v->cap)
        return 0;
    /* Take the record's first line for writing before guard_next() loads
     * the word after the record.  A reader that has caught up polls that
     * line, and with short records the word after it lies on it too: the
     * load alone would fetch the line shared (one transfer) and the stores
     * that follow would take it again (a second), both before the commit
     * can be seen.  The write prefetch makes that one transfer.  Measured
     * with both builds loaded in one process and alternating (so both see
     * the same vCPU placement), medians of 24 pairs: 8 B round trips
     * 0.76-0.80x (640-700 -> 500-530 ns with a 240 ns line floor, 200-210
     * -> 160 ns with a 60 ns one); 64 B round trips, whose payload's second
     * line costs more, 1.00-1.01x; 8 B, 64 B and 1 KiB streams 0.99-1.05x,
     * batched 64 B 1.09-1.16x.  Also taking the line of that word did no
     * better. */
    sk_prefetch_w(v->ring + o);
    guard_next(v, end);
    *off = o;
    *size = sz;
    return 1;
}

/* Which messages reserve_fast() takes: those of a single writer's queue or
 * bus no longer than max_msg whose record is under an eighth of the ring
 * (rewind_candidate()); none on latest and multi-producer queues. */
void sk_writer_fast_init(shmkit_writer_t *w)
{
    struct sk_chan_view *v = &w->v;
    uint64_t eighth = v->cap / 8; /* a multiple of 8: a record is under it
                                     when hdr + len + 7 is */
    w->fast_end = 0;
    /* (view_geometry() takes rings of 4 KiB or more: the size test is a
     * guard for the subtraction, never false in practice) */
    if (v->kind != SHMKIT_KIND_LATEST && !is_multi(v) && eighth > v->hdr + 7) {
        uint64_t lim = eighth - v->hdr - 8;
        w->fast_end = (lim < v->max_msg ? lim : v->max_msg) + 1;
    }
}

/* reserve() the general way, out of line (see commit_sp()) */
static __attribute__((noinline)) int reserve_slow(shmkit_writer_t *w,
                                                  size_t len, void **buf,
                                                  int64_t timeout_ns)
{
    struct sk_chan_view *v = &w->v;
    if (len > v->max_msg)
        return sk_err(-EMSGSIZE, "reserve", shmkit_segment_name(v->seg),
                      "message of %zu bytes; this channel takes at most %u",
                      len, v->max_msg);
    if (v->kind == SHMKIT_KIND_LATEST)
        return sk_latest_reserve(w, len, buf);
    return sk_ring_reserve(w, len, buf, timeout_ns);
}

SK_HOT int shmkit_writer_reserve(shmkit_writer_t *w, size_t len, void **buf,
                                 int64_t timeout_ns)
{
    uint64_t off, size;
    if (__builtin_expect(!reserve_fast(w, len, &off, &size), 0))
        return reserve_slow(w, len, buf, timeout_ns);
    w->res_pos = w->pos;
    w->res_len = size;
    w->res_bytes = len;
    *buf = w->v.ring + off + w->v.hdr;
    return 0;
}

static inline int commit(shmkit_writer_t *w, size_t len, int more)
{
    struct sk_chan_view *v = &w->v;
    if (__builtin_expect(v->kind != SHMKIT_KIND_LATEST && !is_multi(v) &&
                             w->res_pos != UINT64_MAX && len <= w->res_bytes,
                         1)) {
        uint64_t size = sk_rec_size(v->hdr, len);
        if (size != w->res_len) /* shorter: the next record starts sooner */
            guard_next(v, w->res_pos + size);
        return commit_sp(w, w->res_pos, len, size, more, 1);
    }
    if (v->kind == SHMKIT_KIND_LATEST)
        return sk_latest_commit(w, len);
    return sk_ring_commit(w, len, more);
}

SK_HOT int shmkit_writer_commit(shmkit_writer_t *w, size_t len)
{
    return commit(w, len, 0);
}

SK_HOT int shmkit_writer_commit_more(shmkit_writer_t *w, size_t len)
{
    return commit(w, len, 1);
}

/*
 * The copy into the ring of a small message, 8 bytes at a time.  A sender
 * that has just stored a field of its message (a sequence number, say)
 * still has that store in its store buffer, and a wider load over it (the
 * 64-byte vector load of memcpy) cannot take its bytes from there: it waits
 * until every older store has reached the cache.  Those older stores are
 * the previous messages' stores into the ring, which wait for lines the
 * reader holds, so one message's copy waited for the last one's transfers.
 * An 8-byte load over an 8-byte (or wider) store is served from the store
 * buffer.  (64 B sent one by one, the sequence number written into the
 * message before each send: 35-39 M msg/s with memcpy, 50-55 M with this;
 * 54-66 M with the message left as it was, either way.)  memcpy already
 * copies up to 8 bytes with 8-byte loads at most, and for large messages
 * one stall is a small part of the copy.
 *
 * On x86-64 two 8-byte loads fill one 16-byte register, stored at once:
 * half the stores.  Stores to ring lines a reader still holds wait in the
 * store buffer, in order, and so does everything stored after them; a 64 B
 * message in four stores rather than eight leaves room for more messages
 * to be in flight before the writer stalls (64 B one by one, paired: the
 * queue 0.67-0.77x -> 0.87-1.06x the reference ring, a reliable bus
 * 0.73-0.79x -> 0.83-0.91x; 8 B, 1 KiB and round trips unchanged).
 */
#define SK_COPY_WORDS 256u

static inline void copy_in(unsigned char *d, const unsigned char *s, size_t len)
{
    if (len <= 8 || len > SK_COPY_WORDS) {
        memcpy(d, s, len);
        return;
    }
    size_t i = 0;
#if defined(__x86_64__) && defined(__SSE2__)
    for (; i + 16 <= len; i += 16) {
        __m128i x = _mm_loadl_epi64((const __m128i *)(const void *)(s + i));
        __asm__("" : "+x"(x)); /* two 8-byte loads: never merged into wider */
        __m128d y = _mm_loadh_pd(_mm_castsi128_pd(x),
                                 (const double *)(const void *)(s + i + 8));
        _mm_storeu_pd((double *)(void *)(d + i), y);
    }
#endif
    for (; i + 8 <= len; i += 8) {
        uint64_t x;
        memcpy(&x, s + i, 8);
        __asm__("" : "+r"(x)); /* one 8-byte load: never merged into wider */
        memcpy(d + i, &x, 8);
    }
    if (i < len)
        memcpy(d + i, s + i, len - i);
}

/* Copying send: the fast path is one copy into the ring and the commit,
 * all inlined; everything else goes the general way. */
static inline int send_msg(shmkit_writer_t *w, const void *buf, size_t len,
                       int64_t timeout_ns, int more)
{
    struct sk_chan_view *v = &w->v;
    uint64_t off, size;
    if (__builtin_expect(reserve_fast(w, len, &off, &size), 1)) {
        copy_in(v->ring + off + v->hdr, buf, len);
        return commit_sp(w, w->pos, len, size, more, 0);
    }
    void *p;
    int r = shmkit_writer_reserve(w, len, &p, timeout_ns);
    if (r < 0)
        return r;
    memcpy(p, buf, len);
    return commit(w, len, more);
}

SK_HOT int shmkit_writer_send(shmkit_writer_t *w, const void *buf, size_t len,
                              int64_t timeout_ns)
{
    return send_msg(w, buf, len, timeout_ns, 0);
}

SK_HOT int shmkit_writer_send_more(shmkit_writer_t *w, const void *buf,
                                   size_t len, int64_t timeout_ns)
{
    return send_msg(w, buf, len, timeout_ns, 1);
}

int shmkit_writer_flush(shmkit_writer_t *w)
{
    if (!w)
        return sk_err(-EINVAL, "flush", NULL, "writer must not be NULL");
    sk_flush_batch(w); /* latest and multi-producer never hold a batch */
    if (w->v.kind != SHMKIT_KIND_LATEST && !is_multi(&w->v))
        sk_writer_publish(w); /* stat and a new writer see all of it */
    return 0;
}

/* ---- reader ---------------------------------------------------------------- */

void sk_read_tail(struct sk_chan *ch, uint64_t *tail, uint64_t *seq)
{
    for (int tries = 0;; tries++) {
        /* pairs with the writer's release store of tailv */
        uint64_t a = atomic_load_explicit(&ch->tailv, memory_order_acquire);
        *tail = atomic_load_explicit(&ch->pair[a & 1].tail, memory_order_relaxed);
        *seq = atomic_load_explicit(&ch->pair[a & 1].seq, memory_order_relaxed);
        /* the slot is rewritten only two versions later: re-check */
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&ch->tailv, memory_order_relaxed) == a ||
            tries > 1000)
            break;
    }
    *tail &= ~(uint64_t)7; /* records are 8-byte aligned; a stranger wrote it */
}

void sk_ring_reader_join(shmkit_reader_t *r)
{
    struct sk_chan_view *v = &r->v;
    struct sk_chan *ch = v->ch;
    uint64_t t, seq;
    sk_read_tail(ch, &t, &seq);
    atomic_store_explicit(&v->ep->head, t, memory_order_relaxed);
    atomic_store_explicit(&v->ep->active, (uint32_t)getpid() | 1u,
                          memory_order_relaxed);
    /* Dekker with the writer's space check (sk_min_head): either it sees us
     * active, or we see a tail at least as new as its last check, and
     * everything from there on is kept for us. */
    atomic_thread_fence(memory_order_seq_cst);
    sk_read_tail(ch, &t, &seq);
    /* start after what was committed before we came, published or not */
    sk_ring_walk(v, &t, &seq, NULL);
    atomic_store_explicit(&v->ep->head, t, memory_order_release);
    r->pos = t;
    r->ack_pos = t;
    r->next_seq = seq; /* the sequence number of the record at t */
    r->have_seq = 1;
}

static inline void publish_head_at(shmkit_reader_t *r, uint64_t pos,
                                   uint64_t msgs)
{
    struct sk_chan_view *v = &r->v;
    /* release: pairs with the writer's acquire in sk_min_head() */
    if (v->kind == SHMKIT_KIND_QUEUE)
        atomic_store_explicit(&v->ch->qhead, pos, memory_order_release);
    else
        atomic_store_explicit(&v->ep->head, pos, memory_order_release);
    atomic_store_explicit(&v->ep->r_msgs, msgs, memory_order_relaxed);
    sk_event_notify(&v->ch->space_ev, &v->ch->space_posted, 1);
}

/* manual_ack: up to what was acknowledged, not what was released (and the
 * messages counted as read with it) */
static inline void publish_head(shmkit_reader_t *r)
{
    if (__builtin_expect(r->manual_ack, 0))
        publish_head_at(r, r->ack_pos, r->ack_msgs);
    else
        publish_head_at(r, r->pos, r->msgs);
}

/* Resynchronise a lapped lossy reader at the writer's tail. */
static void resync(shmkit_reader_t *r)
{
    struct sk_chan_view *v = &r->v;
    uint64_t t, seq;
    sk_read_tail(v->ch, &t, &seq);
    sk_ring_walk(v, &t, &seq, NULL); /* to the writer's position */
    r->pos = t;
    atomic_store_explicit(&v->ep->head, r->pos, memory_order_release);
    /* everything from where we were to the writer's tail is lost */
    if (r->have_seq && seq > r->next_seq && seq - r->next_seq < (1ull << 48)) {
        r->lost += seq - r->next_seq;
        r->lost_pending = 1;
        atomic_store_explicit(&v->ep->r_lost, r->lost, memory_order_relaxed);
    }
    r->next_seq = seq;
    r->have_seq = 1;
}

/* Turns the uncommitted claim [pos, end) of a dead producer into padding,
 * split at the ring's end.  The CAS on the first word loses against a
 * commit that raced us (then the record stands: returns 1). */
int sk_pad_claim(struct sk_chan_view *v, uint64_t pos, uint64_t end)
{
    guard_multi(v, end, end); /* the pad leads the consumer there */
    _Atomic uint64_t *wp = word_at(v, pos);
    uint64_t old = atomic_load_explicit(wp, memory_order_acquire);
    while (sk_word_tag_ok(old, pos) && (old & SK_W_PAD) && end > pos) {
        /* the claim began with the producer's own wrap pad: keep it */
        uint32_t l = (uint32_t)(old & SK_W_LEN);
        if (l < 8 || (l & 7) || l > end - pos)
            break;
        pos += l;
        wp = word_at(v, pos);
        old = atomic_load_explicit(wp, memory_order_acquire);
    }
    if (pos >= end || sk_word_tag_ok(old, pos))
        return 1;
    uint64_t off = pos & v->mask;
    uint64_t first = v->cap - off < end - pos ? v->cap - off : end - pos;
    if (!atomic_compare_exchange_strong(wp, &old,
                                        sk_word(pos, SK_W_PAD, (uint32_t)first)))
        return 1;
    if (first < end - pos)
        atomic_store_explicit(word_at(v, pos + first),
                              sk_word(pos + first, SK_W_PAD,
                                      (uint32_t)(end - pos - first)),
                              memory_order_release);
    return 0;
}

/* A producer died between claim and commit?  Turn its claim into padding. */
static int unblock(shmkit_reader_t *r)
{
    struct sk_chan_view *v = &r->v;
    uint64_t pos = r->pos;
    uint64_t tail = atomic_load_explicit(&v->ch->tail, memory_order_acquire);
    if (tail <= pos)
        return 0; /* nothing claimed here */
    int dead = -1;
    uint64_t dead_end = 0, dead_cp = 0;
    for (int i = 0; i < SHMKIT_MAX_ATTACH; i++) {
        struct sk_ep *ep = &v->eps[i];
        /* acquire: pairs with the producer's release of claim_pos */
        uint64_t cp = atomic_load_explicit(&ep->claim_pos, memory_order_acquire);
        uint64_t ce = atomic_load_explicit(&ep->claim_end, memory_order_relaxed);
        if (cp == SK_CLAIM_IDLE || cp > pos || ce <= pos || ((cp | ce) & 7))
            continue;
        int alive = sk_seg_slot_alive(v->seg, i);
        if (alive != 0)
            return 0; /* its owner may still commit */
        /* A claim not yet behind the tail was never won (its owner died
         * between announcing it and the CAS, or lost the CAS and died
         * before withdrawing it): that space is not its to give away. */
        if (ce > tail)
            continue;
        /* Two dead claims over pos (one lost its CAS): the shorter first;
         * if the other was the real one, the next call pads the rest. */
        if (dead < 0 || ce < dead_end) {
            dead = i;
            dead_end = ce;
            dead_cp = cp;
        }
    }
    if (dead < 0 || dead_end - pos > v->cap)
        return 0;
    if (sk_pad_claim(v, pos, dead_end) == 0)
        atomic_fetch_add_explicit(&v->ch->producer_deaths, 1, memory_order_relaxed);
    /* Only the claim we padded: a process may have taken the dead one's
     * slot meanwhile and announced a claim of its own, which a plain store
     * would erase (were that one to die too, nothing would pad it). */
    atomic_compare_exchange_strong_explicit(&v->eps[dead].claim_pos, &dead_cp,
                                            SK_CLAIM_IDLE, memory_order_relaxed,
                                            memory_order_relaxed);
    return 1;
}

#define SK_LAPPED 2

/*
 * The hold.  A reader faster than its writer catches up, and from then on
 * it looks for the next record at the word the writer will store last, on
 * the line the writer is storing the record into.  Each look takes that
 * line away from the writer, whose next store into it then waits for the
 * line to come back: the reader's looks slow down the very writer it
 * waits for (docs/BENCHMARKS.md, "What limits").  So a reader that has
 * taken two or more messages since it last had to wait (it is in a
 * stream), and finds no next record, waits hold_ns before it looks again,
 * and then takes what the writer wrote meanwhile in one go.  A reader
 * that waits for every message (a round trip, a sparse stream) never
 * holds, nor does one taking records of over 4 KiB on average: those span
 * many lines, and a look costs their writer little, while a hold could let
 * it fill the ring.  The cost: a message the writer commits during the
 * hold is seen at its end, up to hold_ns later.  Not in block or yield
 * mode (they give the CPU away instead), nor for a poll (timeout 0) or a
 * timeout shorter than the hold; in adaptive mode no longer than it would
 * spin.  Returns the nanoseconds it held (look again), 0 when it did not.
 */
#define SK_HOLD_MAX_REC 4096u

static uint64_t hold(shmkit_reader_t *r, int64_t timeout_ns)
{
    uint64_t streak = r->msgs - r->wait_msgs, bytes = r->pos - r->wait_pos;
    uint64_t ns = r->v.hold_ns;
    if (r->v.wait == SHMKIT_WAIT_ADAPTIVE && ns > (uint64_t)r->v.spin_us * 1000)
        ns = (uint64_t)r->v.spin_us * 1000; /* no longer than it would spin */
    r->wait_msgs = r->msgs;
    r->wait_pos = r->pos;
    if (streak < 2 || bytes > streak * (SK_HOLD_MAX_REC + r->v.hdr) || !ns ||
        (r->v.wait != SHMKIT_WAIT_SPIN && r->v.wait != SHMKIT_WAIT_ADAPTIVE) ||
        (timeout_ns >= 0 && (uint64_t)timeout_ns < ns))
        return 0;
    uint64_t t0 = sk_now_ns(CLOCK_MONOTONIC), t;
    do
        sk_cpu_relax();
    while ((t = sk_now_ns(CLOCK_MONOTONIC)) - t0 < ns);
    return t - t0;
}

/*
 * A reader waiting for a record polls its word, and a record of 64 B or
 * so lies on two lines: the word's, and the next one with the payload's
 * last bytes, which the writer stores first.  Polled alone, the second
 * line is asked for only once the word has been seen, a second transfer
 * one after the other.  So while it waits for a record that spans lines
 * (guessing it is as long as the last one), the reader also prefetches
 * the line after the word's: the writer takes it back when it writes it,
 * and the reader's next prefetch asks again, so that line arrives while
 * the word does.  Paired with the build before: 64 B round trips close
 * together 150-160 -> 140 ns (line floor 100-110), far apart the same
 * (451-471 ns); a 64 B stream far apart whose reader does not hold
 * (hold_ns 0), so that it waits here between messages, 37.7-38.3 ->
 * 46.2-48.7 M msg/s; batched streams the same far apart.  A holding
 * reader (the default) waits here only once the hold is over.
 */
static int data_cond(void *vctx)
{
    shmkit_reader_t *r = vctx;
    struct sk_chan_view *v = &r->v;
    uint64_t w = atomic_load_explicit(word_at(v, r->pos), memory_order_acquire);
    if (sk_word_tag_ok(w, r->pos))
        return 1;
    if ((r->pos & 63) + r->last_size > 64)
        __builtin_prefetch(v->ring + (((r->pos | 63) + 1) & v->mask), 0, 3);
    if (is_lossy(v) &&
        atomic_load_explicit(&v->ch->horizon, memory_order_acquire) > r->pos + v->cap)
        return SK_LAPPED;
    return 0;
}

static int data_slow(void *vctx)
{
    shmkit_reader_t *r = vctx;
    struct sk_chan_view *v = &r->v;
    int c = data_cond(r);
    if (c)
        return c;
    if (is_multi(v) && unblock(r))
        return 1;
    /* publish how far we got, so a waiting writer can go on */
    publish_head(r);
    /* the liveness check costs a syscall: at most every 10 ms (a blocked
     * reader re-runs this at least every second) */
    uint64_t now = sk_now_ns(CLOCK_MONOTONIC);
    if (now - r->last_check_ns < 10000000ull &&
        !atomic_load_explicit(&v->ch->closed, memory_order_relaxed))
        return 0;
    r->last_check_ns = now;
    int g = sk_reader_writer_gone(r);
    if (g) {
        /* the last commit may have landed just before `closed` */
        c = data_cond(r);
        if (c)
            return c;
        /* A lossy reader lapped near the end resynchronised at the tail and
         * has no later record to count its loss from: count it from the
         * writer's final sequence number (stable once it is gone). */
        uint64_t tail, last;
        sk_read_tail(v->ch, &tail, &last);
        sk_ring_walk(v, &tail, &last, NULL); /* a dead writer's last commits */
        if (is_lossy(v) && r->have_seq && last > r->next_seq &&
            last - r->next_seq < (1ull << 48)) { /* sanity, not a limit */
            r->lost += last - r->next_seq;
            r->next_seq = last;
            atomic_store_explicit(&v->ep->r_lost, r->lost, memory_order_relaxed);
            return SHMKIT_E_LOST;
        }
        return g;
    }
    return 0;
}

int sk_ring_peek(shmkit_reader_t *r, const void **buf, size_t *len,
                 int64_t timeout_ns)
{
    struct sk_chan_view *v = &r->v;
    /* pad bytes stepped over since the last resync: a multi-producer queue
     * may hold several pads in a row (a short commit's, a dead producer's
     * wrap pad and claim), but never more than a ring's worth */
    uint64_t skipped = 0, deadline = 0;
    for (int resyncs = 0;;) {
        if (r->lost_pending) {
            r->lost_pending = 0;
            return SHMKIT_E_LOST;
        }
        if (resyncs > 100000)
            return sk_err(SHMKIT_E_CORRUPT, "peek", shmkit_segment_name(v->seg),
                          "the reader cannot catch up with the writer's tail");
        uint64_t pos = r->pos;
        uint64_t w = atomic_load_explicit(word_at(v, pos), memory_order_acquire);
        if (!sk_word_tag_ok(w, pos)) {
            /* the hold, a word that changed again after the wait saw it, a
             * resync: each wait takes what is left of the timeout */
            int64_t left = sk_time_left(timeout_ns, &deadline);
            if (hold(r, left))
                continue;
            int c = sk_chan_wait(v, &v->ch->data_ev, &v->ch->data_posted,
                                 data_cond, data_slow, r, left);
            if (c == SK_LAPPED)
                goto lapped;
            if (c < 0)
                return c;
            /* Pads counted from here: a multi-producer queue's claims that
             * were given up (a producer that detached or died holding a
             * reservation) are pads with nothing after them, and a ring's
             * worth of them across waits is a healthy queue.  Only pads
             * without a wait between them are a ring going round. */
            skipped = 0;
            w = atomic_load_explicit(word_at(v, pos), memory_order_acquire);
            if (!sk_word_tag_ok(w, pos))
                continue;
        }
        uint64_t off = pos & v->mask;
        uint32_t l = (uint32_t)(w & SK_W_LEN);
        /* lossy: the word, and the sequence number read below, may be an
         * earlier lap's, half overwritten (see overtaken()); the fence in
         * overtaken() orders the check after both reads */
        uint64_t seq = 0;
        if (v->kind == SHMKIT_KIND_BUS && !(w & SK_W_PAD) &&
            off + SK_REC_HDR <= v->cap)
            memcpy(&seq, v->ring + off + 8, 8);
        if (is_lossy(v) && overtaken(v, pos))
            goto lapped;
        if (w & SK_W_PAD) {
            if (l != v->cap - off &&
                !(is_multi(v) && l >= 8 && !(l & 7) && off + l <= v->cap)) {
                if (is_lossy(v)) /* overwritten under us */
                    goto lapped;
                return sk_err(SHMKIT_E_CORRUPT, "peek",
                              shmkit_segment_name(v->seg),
                              "pad record of %u bytes at offset %llu", l,
                              (unsigned long long)off);
            }
            skipped += l;
            if (skipped > v->cap) {
                /* only a hostile ring makes us go round in circles */
                if (is_lossy(v))
                    goto lapped;
                return sk_err(SHMKIT_E_CORRUPT, "peek", shmkit_segment_name(v->seg),
                              "the ring keeps padding; it was overwritten");
            }
            r->pos = pos + l;
            continue;
        }
        if (l > v->max_msg || off + v->hdr + l > v->cap) {
            if (is_lossy(v))
                goto lapped;
            return sk_err(SHMKIT_E_CORRUPT, "peek", shmkit_segment_name(v->seg),
                          "record of %u bytes at offset %llu exceeds the limit",
                          l, (unsigned long long)off);
        }
        if (v->kind == SHMKIT_KIND_BUS) {
            if (r->have_seq && seq != r->next_seq) {
                if (is_lossy(v) && seq > r->next_seq) {
                    uint64_t lost = seq - r->next_seq;
                    r->lost += lost;
                    r->next_seq = seq;
                    atomic_store_explicit(&v->ep->r_lost, r->lost,
                                          memory_order_relaxed);
                    return SHMKIT_E_LOST;
                }
                if (is_lossy(v))
                    goto lapped;
                /* reliable: sequence numbers are never skipped */
            }
            r->next_seq = seq;
            r->have_seq = 1;
        }
        r->peek_pos = pos;
        r->peek_size = sk_rec_size(v->hdr, l);
        *buf = v->ring + off + v->hdr;
        *len = l;
        return 0;
    lapped: /* a lossy reader the writer overtook: start again at its tail */
        resync(r);
        skipped = 0;
        resyncs++;
    }
}

/* Ends the read of the record at peek_pos; inlined into recv. */
static inline int release_impl(shmkit_reader_t *r)
{
    struct sk_chan_view *v = &r->v;
    uint64_t pos = r->peek_pos, size = r->peek_size, next = pos + size;
    r->pos = next;
    r->last_size = size;
    r->peek_size = 0;
    r->next_seq++;
    r->msgs++;
    int rc = 0;
    if (is_lossy(v)) {
        /* the writer may have started overwriting what we read meanwhile */
        if (overtaken(v, pos)) {
            r->msgs--;
            r->lost++;
            atomic_store_explicit(&v->ep->r_lost, r->lost, memory_order_relaxed);
            rc = SHMKIT_E_OVERRUN;
        }
    }
    if (__builtin_expect(!r->manual_ack, 1))
        publish_head_at(r, next, r->msgs);
    return rc;
}

int shmkit_reader_ack(shmkit_reader_t *r)
{
    if (!r)
        return sk_err(-EINVAL, "reader_ack", NULL, "r must not be NULL");
    if (r->manual_ack && r->v.kind != SHMKIT_KIND_LATEST) {
        r->ack_pos = r->pos; /* a message still peeked is not released */
        r->ack_msgs = r->msgs;
        publish_head(r);
    }
    return 0;
}

int sk_ring_release(shmkit_reader_t *r)
{
    if (!r->peek_size)
        return sk_err(-EINVAL, "release", shmkit_segment_name(r->v.seg),
                      "nothing peeked");
    return release_impl(r);
}

/*
 * Read-ahead for large records.  A reader finds the next record only from
 * this one's length, so it loads one header after another, and each is a
 * miss on a line the writer wrote (records over 1 KiB start on lines no
 * hardware prefetcher guesses).  Guessing that the next two records are as
 * long as this one, fetch their headers now, so those misses overlap:
 * 64 KiB hand-offs +22-35%, no change at 2-16 KiB or for copies.  Only
 * prefetches, of lines inside the ring: a wrong guess costs a line.
 */
#define SK_RA_MIN 1024u

static inline void read_ahead(struct sk_chan_view *v, uint64_t pos,
                              uint64_t size)
{
    __builtin_prefetch(v->ring + ((pos + size) & v->mask), 0, 3);
    __builtin_prefetch(v->ring + ((pos + 2 * size) & v->mask), 0, 3);
}

/* The reader's fast path, shared by peek and recv: the next record is
 * complete, plain, within bounds and (bus) in sequence.  Returns its length
 * and leaves its offset in *off, or -1 for the general way (waiting, pads,
 * gaps, anything a stranger may have broken), which checks it all again. */
static inline int64_t peek_fast(shmkit_reader_t *r, uint64_t *off)
{
    struct sk_chan_view *v = &r->v;
    if (__builtin_expect(v->kind == SHMKIT_KIND_LATEST || r->lost_pending, 0))
        return -1;
    uint64_t pos = r->pos, o = pos & v->mask;
    /* acquire: pairs with the writer's release of the word */
    uint64_t w = atomic_load_explicit(word_at(v, pos), memory_order_acquire);
    uint32_t l = (uint32_t)(w & SK_W_LEN);
    if (!sk_word_tag_ok(w, pos) || (w & SK_W_PAD) || l > v->max_msg ||
        o + v->hdr + l > v->cap)
        return -1;
    if (v->kind == SHMKIT_KIND_BUS) {
        uint64_t seq;
        memcpy(&seq, v->ring + o + 8, 8);
        if (r->have_seq && seq != r->next_seq)
            return -1; /* a gap: let the general way account for it */
        if (is_lossy(v) && overtaken(v, pos))
            return -1; /* lapped: the general way resynchronises */
        r->next_seq = seq;
        r->have_seq = 1;
    }
    r->peek_pos = pos;
    r->peek_size = sk_rec_size(v->hdr, l);
    if (l > SK_RA_MIN)
        read_ahead(v, pos, r->peek_size);
    *off = o;
    return l;
}

SK_HOT int shmkit_reader_peek(shmkit_reader_t *r, const void **buf,
                              size_t *len, int64_t timeout_ns)
{
    uint64_t off;
    int64_t l = peek_fast(r, &off);
    if (__builtin_expect(l >= 0, 1)) {
        *buf = r->v.ring + off + r->v.hdr;
        *len = (size_t)l;
        return 0;
    }
    if (r->v.kind == SHMKIT_KIND_LATEST)
        return sk_latest_peek(r, buf, len, timeout_ns);
    return sk_ring_peek(r, buf, len, timeout_ns);
}

SK_HOT int shmkit_reader_release(shmkit_reader_t *r)
{
    if (r->v.kind == SHMKIT_KIND_LATEST)
        return 0;
    return sk_ring_release(r);
}

/* Copying receive: the fast path copies the next record out and releases
 * it, all inlined. */
SK_HOT int shmkit_reader_recv(shmkit_reader_t *r, void *buf, size_t cap,
                              size_t *len, int64_t timeout_ns)
{
    struct sk_chan_view *v = &r->v;
    const void *p;
    size_t n;
    int rc;
    if (__builtin_expect(!r->peek_size, 1)) {
        uint64_t off, next_seq = r->next_seq;
        int have_seq = r->have_seq;
        int64_t l = peek_fast(r, &off);
        if (l >= 0 && (size_t)l <= cap) {
            memcpy(buf, v->ring + off + v->hdr, (size_t)l);
            if (len)
                *len = (size_t)l;
            return release_impl(r);
        }
        if (l >= 0) { /* too big for buf: undo, the general way says so */
            r->peek_size = 0;
            r->next_seq = next_seq;
            r->have_seq = have_seq;
        }
    }
    rc = shmkit_reader_peek(r, &p, &n, timeout_ns);
    if (rc < 0)
        return rc;
    if (len)
        *len = n;
    if (n > cap) {
        /* keep the message for a larger buffer */
        r->peek_size = 0;
        if (v->kind == SHMKIT_KIND_LATEST) {
            r->latest_ver = r->latest_prev;
            r->msgs--;
        }
        return sk_err(-EMSGSIZE, "recv", shmkit_segment_name(v->seg),
                      "message of %zu bytes, buffer of %zu", n, cap);
    }
    memcpy(buf, p, n);
    return shmkit_reader_release(r);
}
