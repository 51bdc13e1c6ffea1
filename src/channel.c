/*
 * channel.c - what queue, bus and latest share: creating a channel segment,
 * opening endpoints (one live writer, one queue consumer), waiting, closing,
 * and the counters anyone can read.
 *
 * Waiting.  Every wait is a loop over a condition.  spin polls it with a
 * pause; yield polls with sched_yield(); block prepares the eventcount,
 * re-checks, and sleeps on the futex; adaptive spins for a while (spin_us,
 * or longer where sleeping proved costly: see sk_spin_window), then
 * blocks.  Sleeps are sliced (at most 1 s) and a "slow" check runs between
 * slices and every millisecond of spinning: it notices a dead peer, a
 * closed stream or a dead producer's claim, so no wait outlives the
 * process it waits for by more than a second.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "channel.h"
#include "error.h"
#include "segment.h"
#include "sync.h"

#define SK_SLICE_NS 1000000000ll /* longest single futex sleep: liveness of
                                   the peer is re-checked at least this often */
#define SK_SLOW_EVERY_NS 1000000ull

void shmkit_channel_opts_init(shmkit_channel_opts_t *o, shmkit_kind_t kind)
{
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->capacity = kind == SHMKIT_KIND_LATEST ? 4096 : 1u << 20;
    o->max_readers = 64;
    shmkit_segment_opts_init(&o->seg);
    o->seg.prefault = 1;
}

void shmkit_endpoint_opts_init(shmkit_endpoint_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->wait = SHMKIT_WAIT_ADAPTIVE;
    o->spin_us = 50;
    o->hold_ns = SHMKIT_HOLD_NS_DEFAULT;
    o->open_timeout_ms = 1000;
    o->prefault = 1;
}

static uint64_t pow2_ceil(uint64_t v)
{
    uint64_t p = 4096;
    while (p < v && p < (1ull << 40))
        p <<= 1;
    return p;
}

static uint64_t latest_slot_bytes(uint64_t cap)
{
    return sizeof(struct sk_latest_slot) + sk_round_up(cap, 64);
}

struct create_ctx {
    shmkit_channel_opts_t o;
    uint64_t cap;
    uint32_t nslots;
};

static int chan_init(void *data, uint64_t data_size, void *vctx)
{
    struct create_ctx *c = vctx;
    struct sk_chan *ch = data;
    uint64_t need = SK_RING_OFFSET +
                    (c->o.kind == SHMKIT_KIND_LATEST
                         ? c->nslots * latest_slot_bytes(c->cap)
                         : c->cap);
    if (need > data_size)
        return sk_err(-EINVAL, "create channel", NULL, "segment too small");
    memset(ch, 0, SK_RING_OFFSET);
    ch->magic = SK_CHAN_MAGIC;
    ch->kind = c->o.kind;
    ch->flags = (c->o.reliable ? SK_CF_RELIABLE : 0) |
                (c->o.multi_producer ? SK_CF_MULTI : 0);
    ch->capacity = c->cap;
    ch->ring_offset = SK_RING_OFFSET;
    ch->max_msg = c->o.max_msg;
    ch->max_readers = c->o.max_readers;
    ch->nslots = c->nslots;
    atomic_store_explicit(&ch->writer_slot, -1, memory_order_relaxed);
    atomic_store_explicit(&ch->consumer_slot, -1, memory_order_relaxed);
    struct sk_ep *eps = (struct sk_ep *)((char *)data + SK_EP_OFFSET);
    for (int i = 0; i < SHMKIT_MAX_ATTACH; i++)
        atomic_store_explicit(&eps[i].claim_pos, SK_CLAIM_IDLE,
                              memory_order_relaxed);
    /* the ring's words are zero (fresh memory): no record is valid */
    return 0;
}

static int chan_create_seg(const char *name, const shmkit_channel_opts_t *in,
                           int exclusive, shmkit_segment_t **out)
{
    struct create_ctx c;
    c.o = *in;
    shmkit_channel_opts_t *o = &c.o;
    if (o->kind != SHMKIT_KIND_QUEUE && o->kind != SHMKIT_KIND_BUS &&
        o->kind != SHMKIT_KIND_LATEST)
        return sk_err(-EINVAL, "create channel", name,
                      "kind must be queue, bus or latest");
    if (o->capacity == 0 || o->capacity > (1ull << 30))
        return sk_err(-EINVAL, "create channel", name,
                      "capacity must be between 1 byte and 1 GiB");
    if (o->kind == SHMKIT_KIND_LATEST) {
        /* a slot holds the largest value: a smaller max_msg makes the
         * slots smaller (capacity 1 GiB with max_msg 1 KiB reserved 4 GiB
         * for values of 1 KiB) */
        c.cap = sk_round_up(o->max_msg && o->max_msg < o->capacity
                                ? o->max_msg
                                : o->capacity,
                            64);
        /* More slots give a reader more time to copy a value before a fast
         * writer comes round to its slot again (nslots - 1 commits): 8 for
         * values up to 64 KiB, 4 above. */
        c.nslots = c.cap <= 65536 ? 8 : 4;
        if (!o->max_msg || o->max_msg > c.cap)
            o->max_msg = (uint32_t)(c.cap > SK_W_LEN ? SK_W_LEN : c.cap);
    } else {
        c.cap = pow2_ceil(o->capacity);
        c.nslots = 0;
        uint64_t limit = c.cap / 2 - SK_REC_HDR;
        if (limit > SK_W_LEN)
            limit = SK_W_LEN;
        if (!o->max_msg)
            o->max_msg = (uint32_t)(c.cap / 4 > limit ? limit : c.cap / 4);
        if (o->max_msg > limit)
            return sk_err(-EINVAL, "create channel", name,
                          "max message %u is larger than %llu (half the "
                          "capacity of %llu minus 16 bytes for a record's "
                          "header); raise --capacity",
                          o->max_msg, (unsigned long long)limit,
                          (unsigned long long)c.cap);
    }
    if (o->kind != SHMKIT_KIND_BUS &&
        (!o->max_readers || o->max_readers > SHMKIT_MAX_READERS))
        o->max_readers = 64; /* not a bus's: ignored, but a value above the
                                limit made every open say "corrupt" */
    if (o->kind == SHMKIT_KIND_BUS) {
        if (!o->max_readers)
            o->max_readers = 64;
        if (o->max_readers > SHMKIT_MAX_READERS)
            return sk_err(-EINVAL, "create channel", name,
                          "at most %d readers", SHMKIT_MAX_READERS);
    }
    shmkit_segment_opts_t so = o->seg;
    so.kind = o->kind;
    so.exclusive = exclusive;
    so.size = SK_RING_OFFSET + (o->kind == SHMKIT_KIND_LATEST
                                    ? c.nslots * latest_slot_bytes(c.cap)
                                    : c.cap);
    sk_set_create_hook(chan_init, &c);
    int r = shmkit_segment_create(name, &so, out);
    sk_set_create_hook(NULL, NULL);
    return r;
}

int shmkit_channel_create(const char *name, const shmkit_channel_opts_t *o)
{
    shmkit_segment_t *s;
    if (!o)
        return sk_err(-EINVAL, "create channel", name, "opts must not be NULL");
    int r = chan_create_seg(name, o, 1, &s);
    if (r < 0)
        return r;
    return shmkit_segment_close(s);
}

/*
 * How much of a dead producer's stale claim [cp, ce) its slot's new owner
 * may pad: 0 for nothing, else 1 with the end in *end.  Claims that were
 * won never overlap, and each starts where the tail once was, so another
 * claim (live or dead) that starts inside (cp, ce), or a live one over cp,
 * means ours was never won: its space is other producers' (padding it
 * would hide their records from the consumer, or make it jump into the
 * middle of one).  A live claim at cp too: its owner may still commit.
 * Dead claims at cp as well (one lost the race and died before it
 * withdrew its claim): the shortest first, as the consumer's unblock()
 * does.
 */
static int settle_limit(struct sk_chan_view *v, uint64_t cp, uint64_t ce,
                        uint64_t *end)
{
    *end = ce;
    for (int i = 0; i < SHMKIT_MAX_ATTACH; i++) {
        if (i == v->slot)
            continue;
        struct sk_ep *ep = &v->eps[i];
        uint64_t c2 = atomic_load_explicit(&ep->claim_pos, memory_order_acquire);
        uint64_t e2 = atomic_load_explicit(&ep->claim_end, memory_order_relaxed);
        if (c2 == SK_CLAIM_IDLE || e2 <= c2 || ((c2 | e2) & 7))
            continue;
        if (c2 > cp && c2 < ce)
            return 0;
        if (c2 <= cp && cp < e2) {
            if (sk_seg_slot_alive(v->seg, i) != 0)
                return 0;
            if (c2 == cp && e2 < *end)
                *end = e2;
        }
    }
    return 1;
}

/*
 * Our attach slot may have belonged to a process that died holding a role:
 * the slot number is how roles and claims name their owner, so settle the
 * dead owner's business before we look alive in its place.  A dead writer
 * becomes "died" (-2: readers learn SHMKIT_E_PEER_GONE), a dead consumer
 * frees its role, a dead producer's open claim becomes padding (what of it
 * was its own: settle_limit()), and a dead bus reader stops counting for
 * space.
 */
static void settle_reused_slot(struct sk_chan_view *v)
{
    struct sk_chan *ch = v->ch;
    int32_t me = v->slot;
    atomic_compare_exchange_strong(&ch->writer_slot, &me, -2);
    me = v->slot;
    atomic_compare_exchange_strong(&ch->consumer_slot, &me, -1);
    struct sk_ep *ep = v->ep;
    uint64_t cp = atomic_load_explicit(&ep->claim_pos, memory_order_acquire);
    uint64_t ce = atomic_load_explicit(&ep->claim_end, memory_order_relaxed);
    uint64_t pad_end;
    if (cp != SK_CLAIM_IDLE && v->kind == SHMKIT_KIND_QUEUE && ce > cp &&
        !((cp | ce) & 7) &&
        ce - cp <= v->cap &&
        cp >= atomic_load_explicit(&ch->qhead, memory_order_acquire) &&
        ce <= atomic_load_explicit(&ch->tail, memory_order_acquire) &&
        settle_limit(v, cp, ce, &pad_end)) {
        int padded = sk_pad_claim(v, cp, pad_end) == 0;
        /* Then the rest, from cp again (stepping over the pad just laid
         * and a wrap pad the claim began with): if the shorter dead claim
         * won, a record or a pad lies at its end and this stops there
         * (one still announced after it made settle_limit() refuse); if
         * ours won, the rest of it is padded, which nobody else would do
         * once our claim is cleared below. */
        if (pad_end < ce && sk_pad_claim(v, cp, ce) == 0)
            padded = 1;
        if (padded)
            atomic_fetch_add_explicit(&ch->producer_deaths, 1,
                                      memory_order_relaxed);
    }
    atomic_store_explicit(&ep->claim_pos, SK_CLAIM_IDLE, memory_order_release);
    atomic_store_explicit(&ep->active, 0, memory_order_release);
    atomic_store_explicit(&ep->role, 0, memory_order_release);
}

/* Checks the control block against the mapped size and fills the view's
 * geometry (no attach slot: stat uses it too).  0, or a negative error. */
static int view_geometry(struct sk_chan_view *v, shmkit_segment_t *seg)
{
    const char *name = shmkit_segment_name(seg);
    uint64_t dsz = shmkit_segment_data_size(seg);
    struct sk_chan *ch = shmkit_segment_data(seg);
    memset(v, 0, sizeof *v);
    v->seg = seg;
    v->ch = ch;
    shmkit_kind_t k = shmkit_segment_kind(seg);
    if (k != SHMKIT_KIND_QUEUE && k != SHMKIT_KIND_BUS && k != SHMKIT_KIND_LATEST)
        return sk_err(SHMKIT_E_KIND, "open channel", name,
                      "it is a %s segment, not a channel; create channels with "
                      "'shmkit create NAME --kind queue|bus|latest'",
                      shmkit_kind_name(k));
    if (dsz < SK_RING_OFFSET)
        return sk_err(SHMKIT_E_CORRUPT, "open channel", name,
                      "the segment is too small for a channel");
    /* Read the configuration once (volatile: no second read by the
     * compiler either) and use only these copies from here on. */
    const volatile struct sk_chan *vc = ch;
    uint64_t magic = vc->magic;
    uint32_t ckind = vc->kind, cflags = vc->flags;
    uint64_t cap = vc->capacity, off = vc->ring_offset;
    uint32_t max_msg = vc->max_msg, nslots = vc->nslots;
    uint32_t max_readers = vc->max_readers;
    if (magic != SK_CHAN_MAGIC || ckind != (uint32_t)k)
        return sk_err(SHMKIT_E_CORRUPT, "open channel", name,
                      "the channel control block is missing or overwritten");
    if (off != SK_RING_OFFSET)
        return sk_err(SHMKIT_E_CORRUPT, "open channel", name, "bad ring offset");
    if (ckind == SHMKIT_KIND_LATEST) {
        if (nslots < 2 || nslots > 8 || cap == 0 || cap % 64 || cap > dsz ||
            off + nslots * latest_slot_bytes(cap) > dsz || max_msg > cap)
            return sk_err(SHMKIT_E_CORRUPT, "open channel", name,
                          "latest slots do not fit the segment");
    } else {
        if (cap < 4096 || (cap & (cap - 1)) || cap > dsz - off ||
            cap > (1ull << 30) ||
            max_msg > cap / 2 - SK_REC_HDR || max_readers > SHMKIT_MAX_READERS)
            return sk_err(SHMKIT_E_CORRUPT, "open channel", name,
                          "ring capacity %llu / max message %u do not fit "
                          "the segment",
                          (unsigned long long)cap, max_msg);
    }
    v->eps = (struct sk_ep *)((char *)ch + SK_EP_OFFSET);
    v->ring = (unsigned char *)ch + off;
    v->cap = cap;
    v->mask = cap - 1;
    v->kind = ckind;
    v->flags = cflags;
    v->max_readers = max_readers;
    v->max_msg = max_msg;
    v->hdr = ckind == SHMKIT_KIND_QUEUE ? SK_QREC_HDR : SK_REC_HDR;
    v->nslots = nslots;
    return 0;
}

/* view_geometry, then our attach slot and wait options. */
static int view_init(struct sk_chan_view *v, shmkit_segment_t *seg,
                     const shmkit_endpoint_opts_t *eo)
{
    int r = view_geometry(v, seg);
    if (r < 0)
        return r;
    const char *name = shmkit_segment_name(seg);
    struct sk_chan *ch = v->ch;
    v->slot = seg->slot;
    if (v->slot < 0)
        return sk_err(SHMKIT_E_TABLE_FULL, "open channel", name,
                      "no attach slot (opened read-only?)");
    v->ep = &v->eps[v->slot];
    settle_reused_slot(v);
    v->wait = eo->wait;
    v->spin_us = eo->spin_us;
    v->spin_win_ns = (uint64_t)eo->spin_us * 1000;
    v->spin_max_ns = eo->spin_max_us ? (uint64_t)eo->spin_max_us * 1000
                                     : v->spin_win_ns * SK_SPIN_GROW;
    if (v->spin_max_ns < v->spin_win_ns || !eo->spin_us)
        v->spin_max_ns = v->spin_win_ns; /* spin_us 0: no spinning at all */
    v->hold_ns = eo->hold_ns;
    if (!sk_membarrier_init()) {
        /* we cannot do the heavy half of the barrier: notifiers must fence */
        atomic_fetch_or(&ch->data_ev.waiters, SK_EV_FENCE);
        atomic_fetch_or(&ch->space_ev.waiters, SK_EV_FENCE);
    }
    return 0;
}

static int open_seg(const char *name, const shmkit_endpoint_opts_t *eo,
                    int may_create, shmkit_segment_t **seg)
{
    shmkit_segment_opts_t so;
    shmkit_segment_opts_init(&so);
    so.timeout_ms = eo->open_timeout_ms;
    so.prefault = eo->prefault;
    so.owner_only = eo->owner_only;
    uint64_t deadline = sk_now_ns(CLOCK_MONOTONIC) +
                        (uint64_t)(eo->open_timeout_ms > 0 ? eo->open_timeout_ms : 0) *
                            1000000ull;
    /* create->seg.exclusive: a channel of our own or nothing (-EEXIST) */
    if (may_create && eo->create && eo->create->seg.exclusive)
        return chan_create_seg(name, eo->create, 1, seg);
    for (;;) {
        int r = shmkit_segment_open(name, &so, seg);
        if (r == -ENOENT && may_create && eo->create)
            r = chan_create_seg(name, eo->create, 0, seg);
        if (r != -ENOENT || sk_now_ns(CLOCK_MONOTONIC) >= deadline)
            return r;
        sk_sleep_ns(2000000);
    }
}

/* Takes a single-holder role word (writer_slot, consumer_slot); *prev
 * (prev may be NULL): what the word held before. */
static int take_role(struct sk_chan_view *v, _Atomic int32_t *word,
                     const char *what, int32_t *prev)
{
    for (;;) {
        int32_t cur = atomic_load_explicit(word, memory_order_acquire);
        if (cur >= 0 && cur != v->slot &&
            sk_seg_slot_alive(v->seg, cur) != 0)
            return sk_err(SHMKIT_E_BUSY, "open", shmkit_segment_name(v->seg),
                          "a live %s (pid %lld) holds this channel; there is "
                          "one at a time", what,
                          (long long)atomic_load(&sk_hdr(v->seg)->slots[cur].pid));
        if (prev)
            *prev = cur;
        if (atomic_compare_exchange_strong(word, &cur, v->slot))
            return 0;
    }
}

/* Undoes take_role() and our endpoint's role when an open fails after it.
 * The word gets back what it meant: "died" (-2, or a dead writer's slot)
 * must still tell readers that their writer died, and "none" (-1) that it
 * went away cleanly; never our slot, which nobody will use. */
static void drop_role(struct sk_chan_view *v, _Atomic int32_t *word,
                      int32_t prev)
{
    int32_t me = v->slot;
    /* A dead holder's slot as "died": by now another process may have
     * taken that slot, and readers must not take it for the holder. */
    atomic_compare_exchange_strong(word, &me, prev >= 0 ? -2 : prev);
    atomic_store_explicit(&v->ep->role, 0, memory_order_release);
}

int shmkit_writer_open(const char *name, const shmkit_endpoint_opts_t *o,
                       shmkit_writer_t **out)
{
    shmkit_endpoint_opts_t eo;
    shmkit_segment_t *seg;
    if (!out)
        return sk_err(-EINVAL, "writer_open", name, "out must not be NULL");
    *out = NULL;
    if (o)
        eo = *o;
    else
        shmkit_endpoint_opts_init(&eo);
    int r = open_seg(name, &eo, 1, &seg);
    if (r < 0)
        return r;
    shmkit_writer_t *w = calloc(1, sizeof *w);
    if (!w) {
        shmkit_segment_close(seg);
        return sk_err(-ENOMEM, "writer_open", name, NULL);
    }
    if ((r = view_init(&w->v, seg, &eo)) < 0)
        goto fail;
    struct sk_chan *ch = w->v.ch;
    int multi = w->v.kind == SHMKIT_KIND_QUEUE && (w->v.flags & SK_CF_MULTI);
    int32_t prev_writer = -1;
    if (!multi &&
        (r = take_role(&w->v, &ch->writer_slot, "writer", &prev_writer)) < 0)
        goto fail;
    struct sk_ep *ep = w->v.ep;
    atomic_store_explicit(&ep->claim_pos, SK_CLAIM_IDLE, memory_order_relaxed);
    atomic_store_explicit(&ep->active, 0, memory_order_relaxed);
    atomic_store_explicit(&ep->role, SK_ROLE_WRITER, memory_order_release);
    sk_seg_set_role(seg, SK_ROLE_WRITER);
    w->msgs = atomic_load(&ep->w_msgs);
    w->bytes = atomic_load(&ep->w_bytes);
    /* a consistent (tail, seq) left by the previous writer, and anything it
     * committed after it */
    sk_read_tail(ch, &w->pos, &w->seq);
    /* a lossy bus: never lower a dead writer's horizon (it may have written
     * past what it committed; a reader of those bytes must still see it) */
    uint64_t hz = atomic_load_explicit(&ch->horizon, memory_order_relaxed);
    /* a stranger wrote it: one beyond a lap past the tail is not a
     * predecessor's (that would stop us from ever publishing ours) */
    w->horizon_pub = hz >= w->pos && hz - w->pos <= w->v.cap ? hz : 0;
    /* positions no writer can work with, a lap or more apart: refused
     * before the recovery below writes anything.  (The consumer may be
     * ahead of the published tail: a writer killed before it published
     * its last commits.  The recovery steps over those, and the check
     * after it is exact.) */
    if (w->v.kind == SHMKIT_KIND_QUEUE && !multi) {
        uint64_t qh = atomic_load_explicit(&ch->qhead, memory_order_acquire);
        if ((w->pos < qh ? qh - w->pos : w->pos - qh) > w->v.cap) {
            r = sk_err(SHMKIT_E_CORRUPT, "writer_open", name,
                       "queue positions are inconsistent");
            drop_role(&w->v, &ch->writer_slot, prev_writer);
            goto fail;
        }
    }
    if (!multi && w->v.kind != SHMKIT_KIND_LATEST)
        sk_writer_recover(w);
    w->head_cache = w->pos; /* refreshed before the first wait */
    w->res_pos = UINT64_MAX;
    w->guarded = UINT64_MAX;
    w->wa_lead = -1;
    /* a batch is published before it spans an eighth of the ring or
     * 16 KiB: the reader works on one part while the writer fills the
     * next, and larger messages gain nothing from waiting for each other
     * (a message of a few KiB crosses in its own lines anyway) */
    w->batch_limit = sk_batch_bytes(w->v.cap);
    sk_writer_fast_init(w);
    if (w->v.kind == SHMKIT_KIND_QUEUE) {
        uint64_t qh = atomic_load_explicit(&ch->qhead, memory_order_acquire);
        if (!multi && (w->pos < qh || w->pos - qh > w->v.cap)) {
            r = sk_err(SHMKIT_E_CORRUPT, "writer_open", name,
                       "queue positions are inconsistent");
            drop_role(&w->v, &ch->writer_slot, prev_writer);
            goto fail;
        }
        w->head_cache = qh;
    } else if (w->v.kind == SHMKIT_KIND_BUS) {
        w->head_cache = sk_min_head(w, 0); /* readers may still be behind */
    }
    if (w->v.kind == SHMKIT_KIND_LATEST) {
        uint64_t cur = atomic_load_explicit(&ch->latest_cur, memory_order_acquire);
        w->seq = cur >> 8;
        w->latest_slot = (uint32_t)(cur & 0xff) % w->v.nslots;
    }
    /* Dekker with a producer that closes (writer_free): our role is
     * stored; after this fence either it sees us and leaves the stream
     * open, or its `closed` comes before ours */
    atomic_thread_fence(memory_order_seq_cst);
    atomic_store_explicit(&ch->closed, 0, memory_order_relaxed);
    atomic_store_explicit(&ch->writer_seen, 1, memory_order_release);
    *out = w;
    return 0;
fail:
    free(w);
    shmkit_segment_close(seg);
    return r;
}

int shmkit_reader_open(const char *name, const shmkit_endpoint_opts_t *o,
                       shmkit_reader_t **out)
{
    shmkit_endpoint_opts_t eo;
    shmkit_segment_t *seg;
    if (!out)
        return sk_err(-EINVAL, "reader_open", name, "out must not be NULL");
    *out = NULL;
    if (o)
        eo = *o;
    else
        shmkit_endpoint_opts_init(&eo);
    int r = open_seg(name, &eo, 0, &seg);
    if (r < 0)
        return r;
    shmkit_reader_t *rd = calloc(1, sizeof *rd);
    if (!rd) {
        shmkit_segment_close(seg);
        return sk_err(-ENOMEM, "reader_open", name, NULL);
    }
    if ((r = view_init(&rd->v, seg, &eo)) < 0)
        goto fail;
    struct sk_chan *ch = rd->v.ch;
    struct sk_ep *ep = rd->v.ep;
    if (rd->v.kind == SHMKIT_KIND_QUEUE &&
        (r = take_role(&rd->v, &ch->consumer_slot, "consumer", NULL)) < 0)
        goto fail;
    if (rd->v.kind == SHMKIT_KIND_BUS) {
        int n = 0;
        for (int i = 0; i < SHMKIT_MAX_ATTACH; i++)
            if (i != rd->v.slot &&
                atomic_load_explicit(&rd->v.eps[i].role, memory_order_relaxed) ==
                    SK_ROLE_READER &&
                sk_seg_slot_alive(seg, i) != 0)
                n++;
        if (n >= (int)rd->v.max_readers) {
            r = sk_err(SHMKIT_E_TABLE_FULL, "reader_open", name,
                       "the bus already has its %u readers; create it with "
                       "a larger --max-readers", rd->v.max_readers);
            goto fail;
        }
    }
    /* a lossy bus and a latest keep nothing for their readers */
    rd->manual_ack = eo.manual_ack &&
                     (rd->v.kind == SHMKIT_KIND_QUEUE ||
                      (rd->v.kind == SHMKIT_KIND_BUS &&
                       (rd->v.flags & SK_CF_RELIABLE)));
    /* our own counts: the slot's last owner's are not ours */
    rd->msgs = 0;
    rd->lost = 0;
    atomic_store_explicit(&ep->r_msgs, 0, memory_order_relaxed);
    atomic_store_explicit(&ep->r_lost, 0, memory_order_relaxed);
    atomic_store_explicit(&ep->claim_pos, SK_CLAIM_IDLE, memory_order_relaxed);
    if (rd->v.kind == SHMKIT_KIND_LATEST) {
        rd->buf = malloc(rd->v.cap ? rd->v.cap : 1);
        if (!rd->buf) {
            r = sk_err(-ENOMEM, "reader_open", name, NULL);
            goto fail;
        }
    } else if (rd->v.kind == SHMKIT_KIND_QUEUE) {
        rd->pos = atomic_load_explicit(&ch->qhead, memory_order_acquire) &
                  ~(uint64_t)7; /* records are 8-byte aligned */
        rd->ack_pos = rd->pos;
        atomic_store_explicit(&ep->head, rd->pos, memory_order_release);
    } else {
        sk_ring_reader_join(rd);
    }
    /* Counted as a reader (shmkit_writer_readers, --wait-readers) only once
     * joined: a writer that waited for us sends nothing we would miss.
     * release: pairs with the acquire loads of role. */
    atomic_store_explicit(&ep->role, SK_ROLE_READER, memory_order_release);
    sk_seg_set_role(seg, SK_ROLE_READER);
    *out = rd;
    return 0;
fail:
    free(rd->buf);
    free(rd);
    shmkit_segment_close(seg);
    return r;
}

/* ---- waiting ---------------------------------------------------------- */

/*
 * Adaptive waiting learns how long to spin.
 *
 * A side that sleeps pays a wake-up on each message: from the notifier's
 * futex call to the sleeper running again.  On a VM that is 40-60 us (an
 * idle vCPU halts), on bare metal a few.  Where that is a large share of
 * the waits, sleeping makes every message late by it, and spinning
 * through such waits is what adaptive should do; where it is a small
 * share, or the waits are long, sleeping costs little and saves a CPU.
 *
 * So a notifier that wakes sleepers stamps the time first (`posted`, next
 * to the eventcount), and a waiter that slept and got what it waited for
 * learns how late the wake-up made it (t_ret - posted), which feeds an
 * estimate of this machine's wake-up cost (sk_wake_late).  After each wait
 * longer than spin_us, slept through or spun through, the window for the
 * next (sk_spin_window) is:
 *
 *  - 1.5x that wait, if the wake-up cost is over 30% of it (the adaptive
 *    target: within 1.3x of spinning) and that is at most spin_max_us
 *    (default 8x spin_us); never less than the window already is;
 *  - spin_us otherwise: sparse messages, an idle channel, or a timeout
 *    cost no more CPU than with a fixed window.
 *
 * A wait slept through counts from its start to its return, the wake-up
 * included, so that it measures what one spun through would: in a paced
 * stream a late wake-up shortens the next wait by as much, and a rule that
 * counted only up to `posted` would see short waits while sleeping and
 * long ones while spinning, and flip between the two.
 *
 * Round trips of large messages (each side waits for the other's copies,
 * just over 50 us at 1 MiB) and streams at over 7 kHz on a VM are thus
 * spun through; a 5 kHz stream, or any stream on a machine with cheap
 * wake-ups, sleeps as before.  spin_us 0 never spins; spin_max_us =
 * spin_us keeps the window fixed.  `posted` comes from another process:
 * outside [t_sleep, t_ret] it is not about this wake-up (an old stamp, an
 * older writer that stamps nothing, a hostile one), and the window goes
 * back to spin_us.  The estimate starts as the smaller of the first two
 * samples, then is a moving average of samples held within half and twice
 * it, so that one slow wake-up (a host stall) or one fast one (a vCPU that
 * had not halted yet) moves it little; no sample counts as more than
 * spin_max (a hostile stamp).  A wait cut short by its timeout, in the
 * spin or in a sleep, sets the window back to spin_us; one ended by an
 * error leaves it as it is.
 */
uint64_t sk_wake_late(uint64_t est_ns, uint64_t *first_ns, uint64_t late_ns)
{
    uint64_t step;
    if (!late_ns)
        late_ns = 1; /* 0 means "not known" */
    if (!est_ns) {
        /* the smaller of the first two: one stall is not the estimate */
        if (!*first_ns) {
            *first_ns = late_ns;
            return 0;
        }
        return late_ns < *first_ns ? late_ns : *first_ns;
    }
    /* a moving average of samples held within [est / 2, 2 est] */
    if (late_ns > 2 * est_ns)
        late_ns = 2 * est_ns;
    if (late_ns < est_ns / 2)
        late_ns = est_ns / 2;
    /* an eighth of the way, at least 1 ns: a small estimate still moves */
    if (late_ns >= est_ns) {
        step = (late_ns - est_ns + 7) / 8;
        return est_ns + step;
    }
    step = (est_ns - late_ns + 7) / 8;
    return est_ns - step > 0 ? est_ns - step : 1;
}

uint64_t sk_spin_window(uint64_t base_ns, uint64_t max_ns, uint64_t win_ns,
                        uint64_t late_ns, uint64_t wait_ns)
{
    if (wait_ns <= base_ns)
        return win_ns; /* spin_us covers it: nothing to learn */
    uint64_t want = wait_ns + wait_ns / 2;
    if (late_ns * 10 > wait_ns * 3 && want <= max_ns)
        return want > win_ns ? want : win_ns;
    return base_ns;
}

/* An adaptive wait that began at t0 and slept at t_sleep got what it waited
 * for at t_ret: learn from the wake-up's stamp (see above). */
static void learn_sleep(struct sk_chan_view *v, _Atomic uint64_t *posted,
                        uint64_t t0, uint64_t t_sleep)
{
    uint64_t base = (uint64_t)v->spin_us * 1000;
    /* the stamp first: a later notify (the sleepers flag stays after a
     * wait) may stamp again, and must not look like one from the future.
     * The acquire of the eventcount's seq in sk_event_prepare() made this
     * wake-up's stamp visible. */
    uint64_t p = atomic_load_explicit(posted, memory_order_relaxed);
    uint64_t t_ret = sk_now_ns(CLOCK_MONOTONIC);
    if (p < t_sleep || p > t_ret) {
        v->spin_win_ns = base;
        return;
    }
    uint64_t late = t_ret - p;
    if (late > v->spin_max_ns)
        late = v->spin_max_ns;
    v->wake_late_ns = sk_wake_late(v->wake_late_ns, &v->wake_first_ns, late);
    v->spin_win_ns = sk_spin_window(base, v->spin_max_ns, v->spin_win_ns,
                                    v->wake_late_ns, t_ret - t0);
}

int sk_chan_wait(struct sk_chan_view *v, struct sk_event *ev,
                 _Atomic uint64_t *posted, sk_cond_fn cond, sk_cond_fn slow,
                 void *ctx, int64_t timeout_ns)
{
    int r;
    if ((r = cond(ctx)) != 0)
        return r;
    if (timeout_ns == 0) {
        if ((r = slow(ctx)) != 0)
            return r;
        return -EAGAIN;
    }
    uint64_t t0 = sk_now_ns(CLOCK_MONOTONIC), now = t0;
    uint64_t deadline = timeout_ns < 0 ? UINT64_MAX : now + (uint64_t)timeout_ns;
    uint64_t spin_end = now;
    int adaptive = v->wait == SHMKIT_WAIT_ADAPTIVE;
    if (adaptive)
        spin_end = v->spin_win_ns < deadline - now ? now + v->spin_win_ns
                                                   : deadline;
    else if (v->wait == SHMKIT_WAIT_SPIN || v->wait == SHMKIT_WAIT_YIELD)
        spin_end = deadline;
    uint64_t next_slow = now + SK_SLOW_EVERY_NS;
    /* polling phase */
    while (now < spin_end) {
        for (int i = 0; i < 64; i++) {
            if ((r = cond(ctx)) != 0) {
                /* a wait that lasted a clock read or more: its length */
                if (adaptive && now != t0 && r > 0)
                    v->spin_win_ns = sk_spin_window(
                        (uint64_t)v->spin_us * 1000, v->spin_max_ns,
                        v->spin_win_ns, v->wake_late_ns,
                        sk_now_ns(CLOCK_MONOTONIC) - t0);
                return r;
            }
            if (v->wait == SHMKIT_WAIT_YIELD)
                sched_yield();
            else
                sk_cpu_relax();
        }
        now = sk_now_ns(CLOCK_MONOTONIC);
        if (now >= next_slow) {
            if ((r = slow(ctx)) != 0)
                return r;
            next_slow = now + SK_SLOW_EVERY_NS;
        }
    }
    if (now >= deadline) {
        if ((r = slow(ctx)) != 0)
            return r;
        if (adaptive) /* nothing came: idle */
            v->spin_win_ns = (uint64_t)v->spin_us * 1000;
        return -ETIMEDOUT;
    }
    /* blocking phase */
    uint64_t t_sleep = now;
    for (int slept = 0;;) {
        uint32_t key = sk_event_prepare(ev, v->wait == SHMKIT_WAIT_BLOCK);
        if ((r = cond(ctx)) != 0) {
            sk_event_cancel(ev);
            if (adaptive && slept && r > 0)
                learn_sleep(v, posted, t0, t_sleep);
            return r;
        }
        if ((r = slow(ctx)) != 0) {
            sk_event_cancel(ev);
            return r;
        }
        now = sk_now_ns(CLOCK_MONOTONIC);
        if (now >= deadline) {
            sk_event_cancel(ev);
            if (adaptive) /* nothing came: idle */
                v->spin_win_ns = (uint64_t)v->spin_us * 1000;
            return -ETIMEDOUT;
        }
        uint64_t left = deadline - now;
        /* a writer waiting for room must evict dead readers within 1 s */
        uint64_t slice = ev == &v->ch->space_ev ? SK_SLICE_NS / 5 : SK_SLICE_NS;
        if (sk_event_wait(ev, key, left > slice ? (int64_t)slice
                                                : (int64_t)left) != -EAGAIN)
            slept = 1; /* a wake-up that cost nothing teaches nothing */
    }
}

/* ---- liveness of the other ends ------------------------------------------ */

/* Live readers as the writer counts them (for --wait-readers). */
int sk_writer_peer_count(shmkit_writer_t *w)
{
    int n = 0;
    struct sk_chan_view *v = &w->v;
    if (v->kind == SHMKIT_KIND_QUEUE) {
        int32_t c = atomic_load_explicit(&v->ch->consumer_slot, memory_order_acquire);
        return c >= 0 && sk_seg_slot_alive(v->seg, c) != 0;
    }
    for (int i = 0; i < SHMKIT_MAX_ATTACH; i++)
        if (i != v->slot &&
            atomic_load_explicit(&v->eps[i].role, memory_order_acquire) ==
                SK_ROLE_READER &&
            sk_seg_slot_alive(v->seg, i) != 0)
            n++;
    return n;
}

int shmkit_writer_readers(shmkit_writer_t *w)
{
    return w ? sk_writer_peer_count(w) : sk_err(-EINVAL, "writer_readers", NULL, NULL);
}

size_t shmkit_writer_max_msg(const shmkit_writer_t *w)
{
    return w ? w->v.max_msg : 0;
}

/* Tests only: called between a closing producer's look for other
 * producers and its store of `closed` (test_chan_regress part 9). */
void (*sk_test_close_window)(void);

/* Another live producer of a multi-producer queue? */
static int other_producers(struct sk_chan_view *v)
{
    for (int i = 0; i < SHMKIT_MAX_ATTACH; i++)
        if (i != v->slot &&
            atomic_load_explicit(&v->eps[i].role, memory_order_acquire) ==
                SK_ROLE_WRITER &&
            sk_seg_slot_alive(v->seg, i) != 0)
            return 1;
    return 0;
}

/* A writer found dead: unless it closed the stream first.  A writer that
 * closes stores `closed` before it lets go of its slot, so a reader that
 * loaded `closed` too early (0), then the slot, and found the slot empty
 * because the writer had closed and exited meanwhile, finds `closed` set
 * now: the stream ended, nobody died. */
static int gone_unless_closed(struct sk_chan *ch)
{
    atomic_thread_fence(memory_order_seq_cst); /* after the liveness look */
    /* acquire: pairs with the release store in writer close */
    return atomic_load_explicit(&ch->closed, memory_order_acquire)
               ? SHMKIT_E_CLOSED
               : SHMKIT_E_PEER_GONE;
}

/* SHMKIT_E_CLOSED, SHMKIT_E_PEER_GONE, or 0 while a writer may still come. */
int sk_reader_writer_gone(shmkit_reader_t *r)
{
    struct sk_chan_view *v = &r->v;
    struct sk_chan *ch = v->ch;
    int multi = v->kind == SHMKIT_KIND_QUEUE && (v->flags & SK_CF_MULTI);
    /* acquire: pairs with the release store in writer close */
    if (atomic_load_explicit(&ch->closed, memory_order_acquire)) {
        /* a producer that closed while another opened takes its `closed`
         * back (writer_free): not ended while a producer is live */
        atomic_thread_fence(memory_order_seq_cst);
        return multi && other_producers(v) ? 0 : SHMKIT_E_CLOSED;
    }
    if (!atomic_load_explicit(&ch->writer_seen, memory_order_acquire))
        return 0;
    if (multi) {
        int dead = 0;
        for (int i = 0; i < SHMKIT_MAX_ATTACH; i++) {
            if (atomic_load_explicit(&v->eps[i].role, memory_order_acquire) !=
                SK_ROLE_WRITER)
                continue;
            if (sk_seg_slot_alive(v->seg, i) != 0)
                return 0;
            dead = 1;
        }
        return dead ? gone_unless_closed(ch) : 0;
    }
    int32_t ws = atomic_load_explicit(&ch->writer_slot, memory_order_acquire);
    if (ws == -2)
        return SHMKIT_E_PEER_GONE; /* died; its slot was taken since */
    if (ws < 0 || ws >= SHMKIT_MAX_ATTACH)
        return 0; /* detached: another writer may take over */
    return sk_seg_slot_alive(v->seg, ws) == 0 ? gone_unless_closed(ch) : 0;
}

/* Slowest live reader's head (bus) or the consumer's (queue).  With evict,
 * dead bus readers are dropped from the count. */
uint64_t sk_min_head(shmkit_writer_t *w, int evict)
{
    struct sk_chan_view *v = &w->v;
    if (v->kind == SHMKIT_KIND_QUEUE)
        /* acquire: pairs with the consumer's release of qhead */
        return atomic_load_explicit(&v->ch->qhead, memory_order_acquire);
    /* Dekker with the reader's join: our tail store is ordered before the
     * loads of `active` (see channel.h); the tail is published only now and
     * then, so bring it up to date first */
    sk_writer_publish(w);
    atomic_thread_fence(memory_order_seq_cst);
    uint64_t min = w->pos;
    for (int i = 0; i < SHMKIT_MAX_ATTACH; i++) {
        struct sk_ep *ep = &v->eps[i];
        uint32_t act = atomic_load_explicit(&ep->active, memory_order_acquire);
        if (!act)
            continue;
        uint64_t h = atomic_load_explicit(&ep->head, memory_order_acquire);
        if (evict && sk_seg_slot_alive(v->seg, i) == 0) {
            if (atomic_compare_exchange_strong(&ep->active, &act, 0))
                atomic_fetch_add_explicit(&v->ch->evictions, 1,
                                          memory_order_relaxed);
            continue;
        }
        /* a head ahead of the writer or a full lap behind is garbage */
        if (h > w->pos || w->pos - h > v->cap)
            continue;
        if (h < min)
            min = h;
    }
    return min;
}

/* ---- public endpoint calls --------------------------------------------- */

/* how a writer leaves (writer_free) */
enum { SK_LEAVE_DETACH, SK_LEAVE_CLOSE, SK_LEAVE_ABORT };

static int writer_free(shmkit_writer_t *w, int how)
{
    int end_stream = how == SK_LEAVE_CLOSE;
    struct sk_chan_view *v = &w->v;
    struct sk_chan *ch = v->ch;
    int multi = v->kind == SHMKIT_KIND_QUEUE && (v->flags & SK_CF_MULTI);
    if (w->res_pos != UINT64_MAX)
        sk_writer_abandon(w); /* never leave a claim open, never publish it */
    sk_flush_batch(w); /* what was sent with send_more was sent */
    if (!multi && v->kind != SHMKIT_KIND_LATEST)
        sk_writer_publish(w); /* the next writer, stat and readers see it all */
    atomic_store_explicit(&v->ep->claim_pos, SK_CLAIM_IDLE, memory_order_release);
    atomic_store_explicit(&v->ep->role, 0, memory_order_release);
    /* Dekker with the other producers closing: each stores its role, then
     * looks at the others'; without a full fence both may still see the
     * other as a writer, and nobody would mark the stream closed. */
    atomic_thread_fence(memory_order_seq_cst);
    if (end_stream) {
        if (!multi || !other_producers(v)) {
            if (sk_test_close_window)
                sk_test_close_window();
            /* release: everything committed is visible to a reader that
             * sees closed */
            atomic_store_explicit(&ch->closed, 1, memory_order_release);
            /* A producer that opened meanwhile (its role came after our
             * look) stores closed = 0 after a fence of its own, unless it
             * stored it before our 1 (found by review: the stream ended
             * under a live producer that opened while another closed).
             * So look again after each store, and store what the look
             * says: 0 while a producer lives, 1 once none does (one that
             * closed in between stored a 1 that our 0 may have
             * overwritten).  Every store is followed by a look, so the
             * last one agrees with the roles. */
            for (int live = 0; multi;) {
                atomic_thread_fence(memory_order_seq_cst);
                int now = other_producers(v);
                if (now == live)
                    break;
                live = now;
                atomic_store_explicit(&ch->closed, live ? 0 : 1,
                                      memory_order_release);
            }
        }
    }
    if (!multi) {
        /* -2: "died", what readers of an aborted stream must learn */
        int32_t me = v->slot;
        atomic_compare_exchange_strong(&ch->writer_slot, &me,
                                       how == SK_LEAVE_ABORT ? -2 : -1);
    }
    sk_event_notify(&ch->data_ev, &ch->data_posted, 1);
    sk_event_notify(&ch->space_ev, &ch->space_posted, 1);
    int r = shmkit_segment_close(v->seg);
    free(w);
    return r;
}

int shmkit_writer_close(shmkit_writer_t *w)
{
    return w ? writer_free(w, SK_LEAVE_CLOSE) : 0;
}

int shmkit_writer_detach(shmkit_writer_t *w)
{
    return w ? writer_free(w, SK_LEAVE_DETACH) : 0;
}

int shmkit_writer_abort(shmkit_writer_t *w)
{
    return w ? writer_free(w, SK_LEAVE_ABORT) : 0;
}

uint64_t shmkit_reader_lost(const shmkit_reader_t *r)
{
    return r ? r->lost : 0;
}

int shmkit_reader_close(shmkit_reader_t *r)
{
    if (!r)
        return 0;
    struct sk_chan_view *v = &r->v;
    atomic_store_explicit(&v->ep->active, 0, memory_order_release);
    atomic_store_explicit(&v->ep->role, 0, memory_order_release);
    if (v->kind == SHMKIT_KIND_QUEUE) {
        int32_t me = v->slot;
        atomic_compare_exchange_strong(&v->ch->consumer_slot, &me, -1);
    }
    sk_event_notify(&v->ch->space_ev, &v->ch->space_posted, 1);
    int rc = shmkit_segment_close(v->seg);
    free(r->buf);
    free(r);
    return rc;
}

/* ---- counters ------------------------------------------------------------ */

int shmkit_channel_stat(const char *name, shmkit_channel_stat_t *st)
{
    shmkit_segment_t *seg;
    if (!st)
        return sk_err(-EINVAL, "channel_stat", name, "st must not be NULL");
    memset(st, 0, sizeof *st);
    int r = sk_segment_observe(name, &seg);
    if (r < 0)
        return r;
    struct sk_chan *ch = shmkit_segment_data(seg);
    uint64_t dsz = shmkit_segment_data_size(seg);
    shmkit_kind_t k = shmkit_segment_kind(seg);
    if (k == SHMKIT_KIND_RAW) {
        shmkit_segment_close(seg);
        return sk_err(SHMKIT_E_KIND, "channel_stat", name,
                      "a raw segment has no channel counters");
    }
    if (dsz < SK_RING_OFFSET || ch->magic != SK_CHAN_MAGIC || ch->kind != k) {
        shmkit_segment_close(seg);
        return sk_err(SHMKIT_E_CORRUPT, "channel_stat", name,
                      "the channel control block is missing or overwritten");
    }
    struct sk_ep *eps = (struct sk_ep *)((char *)ch + SK_EP_OFFSET);
    struct sk_header *h = sk_hdr(seg);
    st->kind = k;
    st->reliable = (ch->flags & SK_CF_RELIABLE) != 0;
    st->multi_producer = (ch->flags & SK_CF_MULTI) != 0;
    st->capacity = ch->capacity;
    st->max_msg = ch->max_msg;
    st->max_readers = ch->max_readers;
    /* a single writer's records committed since it last published its
     * tail (sk_writer_publish): not yet in its counters */
    uint64_t walked = 0, walked_bytes = 0;
    if (st->multi_producer) {
        st->position = atomic_load(&ch->tail);
    } else {
        uint64_t seq;
        sk_read_tail(ch, &st->position, &seq);
        struct sk_chan_view gv;
        if (k != SHMKIT_KIND_LATEST && view_geometry(&gv, seg) == 0)
            walked = sk_ring_walk(&gv, &st->position, &seq, &walked_bytes);
    }
    st->closed = (int)atomic_load(&ch->closed);
    st->evictions = atomic_load(&ch->evictions);
    st->producer_deaths = atomic_load(&ch->producer_deaths);
    int32_t ws = atomic_load(&ch->writer_slot);
    if (ws >= 0 && ws < SHMKIT_MAX_ATTACH) {
        st->writer_pid = sk_slot_pid(atomic_load(&h->slots[ws].pid));
        st->writer_alive = sk_seg_slot_alive(seg, ws);
    }
    uint64_t qhead = atomic_load(&ch->qhead);
    st->messages = walked;
    st->bytes = walked_bytes;
    for (int i = 0; i < SHMKIT_MAX_ATTACH; i++) {
        struct sk_ep *ep = &eps[i];
        st->messages += atomic_load(&ep->w_msgs);
        st->bytes += atomic_load(&ep->w_bytes);
        uint32_t role = atomic_load(&ep->role);
        int64_t pid = atomic_load(&h->slots[i].pid);
        if (role == SK_ROLE_WRITER && ws < 0) {
            int alive = sk_seg_slot_alive(seg, i);
            if (!st->writer_pid || alive > 0) {
                st->writer_pid = sk_slot_pid(pid);
                st->writer_alive = alive;
            }
        }
        if (role != SK_ROLE_READER || st->nreaders >= SHMKIT_MAX_READERS)
            continue;
        shmkit_reader_stat_t *rs = &st->readers[st->nreaders++];
        rs->pid = sk_slot_pid(pid);
        rs->alive = sk_seg_slot_alive(seg, i);
        rs->position = k == SHMKIT_KIND_QUEUE ? qhead : atomic_load(&ep->head);
        rs->lag = st->position > rs->position ? st->position - rs->position : 0;
        rs->messages = atomic_load(&ep->r_msgs);
        rs->lost = atomic_load(&ep->r_lost);
    }
    if (k == SHMKIT_KIND_LATEST) {
        st->position = atomic_load(&ch->latest_cur) >> 8;
        st->messages = st->position;
    }
    shmkit_segment_close(seg);
    return 0;
}
