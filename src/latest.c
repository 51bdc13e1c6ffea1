/*
 * latest.c - one value, many readers, always the newest complete value.
 *
 * nslots (8, or 4 above 64 KiB) value slots, each with its own sequence
 * word (odd while being written), and `latest_cur` = (version << 8) | slot,
 * published last with a release store.  The writer always writes a slot other than the current
 * one, so a writer killed mid-write leaves an odd slot that nobody points
 * to, and the previous value stays readable.  Readers copy the slot, then
 * check (acquire fence) that its sequence word did not move; if it did, the
 * writer lapped them and they take the newer value.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "channel.h"
#include "error.h"
#include "segment.h"

static struct sk_latest_slot *slot_at(struct sk_chan_view *v, uint32_t i)
{
    return (struct sk_latest_slot *)(void *)(v->ring +
                                             (uint64_t)i * (sizeof(struct sk_latest_slot) + v->cap));
}

int sk_latest_reserve(shmkit_writer_t *w, size_t len, void **buf)
{
    struct sk_chan_view *v = &w->v;
    if (w->res_pos != UINT64_MAX)
        return sk_err(-EINVAL, "reserve", shmkit_segment_name(v->seg),
                      "a reservation is already open; commit it first");
    uint32_t k = (w->latest_slot + 1) % v->nslots;
    struct sk_latest_slot *s = slot_at(v, k);
    /* The slot's header and first value line, last read by the readers,
     * for writing before the load of seq: a load alone would fetch the
     * header shared and the store take it again.  Latest round trips
     * (shmkit-ab's l points) against the build before: 8 B and 64 B
     * values 0.89-0.97x close together (320 -> 290 ns at a 60 ns line
     * floor) and 0.83x far apart (1,170-1,240 -> 965-1,030 ns, 4 rounds);
     * 1 KiB 0.93-1.03x. */
    sk_prefetch_w(s);
    sk_prefetch_w((unsigned char *)s + sizeof *s);
    uint64_t sq = atomic_load_explicit(&s->seq, memory_order_relaxed);
    atomic_store_explicit(&s->seq, sq | 1u, memory_order_relaxed);
    /* order the odd mark before the value stores; pairs with the reader's
     * acquire fence */
    atomic_thread_fence(memory_order_release);
    w->latest_slot = k;
    w->res_pos = k;
    w->res_len = len;
    *buf = (unsigned char *)s + sizeof *s;
    return 0;
}

int sk_latest_commit(shmkit_writer_t *w, size_t len)
{
    struct sk_chan_view *v = &w->v;
    if (w->res_pos == UINT64_MAX)
        return sk_err(-EINVAL, "commit", shmkit_segment_name(v->seg),
                      "nothing reserved");
    if (len > w->res_len)
        return sk_err(-EINVAL, "commit", shmkit_segment_name(v->seg),
                      "commit of %zu bytes is more than was reserved", len);
    uint32_t k = (uint32_t)w->res_pos;
    struct sk_latest_slot *s = slot_at(v, k);
    s->len = len;
    s->version = w->seq + 1;
    uint64_t sq = atomic_load_explicit(&s->seq, memory_order_relaxed);
    /* release: the value is complete (pairs with the reader's acquire) */
    atomic_store_explicit(&s->seq, sq + 1, memory_order_release);
    w->seq++;
    /* release: publishes the slot; pairs with the reader's acquire */
    atomic_store_explicit(&v->ch->latest_cur, (w->seq << 8) | k,
                          memory_order_release);
    w->res_pos = UINT64_MAX;
    w->msgs++;
    w->bytes += len;
    atomic_store_explicit(&v->ep->w_msgs, w->msgs, memory_order_relaxed);
    atomic_store_explicit(&v->ep->w_bytes, w->bytes, memory_order_relaxed);
    sk_event_notify(&v->ch->data_ev, &v->ch->data_posted, 1);
    return 0;
}

static int newer_cond(void *vctx)
{
    shmkit_reader_t *r = vctx;
    uint64_t cur = atomic_load_explicit(&r->v.ch->latest_cur, memory_order_acquire);
    return (cur >> 8) > r->latest_ver;
}

static int newer_slow(void *vctx)
{
    shmkit_reader_t *r = vctx;
    if (newer_cond(r))
        return 1;
    uint64_t now = sk_now_ns(CLOCK_MONOTONIC);
    if (now - r->last_check_ns < 10000000ull &&
        !atomic_load_explicit(&r->v.ch->closed, memory_order_relaxed))
        return 0;
    r->last_check_ns = now;
    return sk_reader_writer_gone(r);
}

int sk_latest_peek(shmkit_reader_t *r, const void **buf, size_t *len,
                   int64_t timeout_ns)
{
    struct sk_chan_view *v = &r->v;
    /* A writer that laps us while we copy makes us go round again.  While
     * it publishes new versions that is only a fast writer (a value of a
     * few bytes, rewritten every few tens of ns, can take many rounds to
     * catch); rounds in which no new version appeared mean a writer that
     * keeps a slot half-written: after 1000 of those, CORRUPT.  A finite
     * timeout bounds the rounds too. */
    uint64_t last_cur = UINT64_MAX, deadline = 0, wait_deadline = 0;
    for (int stuck = 0, rounds = 0;; rounds++) {
        if (stuck > 1000)
            return sk_err(SHMKIT_E_CORRUPT, "peek", shmkit_segment_name(v->seg),
                          "the value never reads consistently");
        if (rounds && timeout_ns >= 0 && !(rounds & 63)) {
            uint64_t now = sk_now_ns(CLOCK_MONOTONIC);
            if (!deadline)
                deadline = now + (uint64_t)timeout_ns;
            else if (now >= deadline)
                return timeout_ns ? -ETIMEDOUT : -EAGAIN;
        }
        /* each round's wait takes what is left of the timeout */
        int c = sk_chan_wait(v, &v->ch->data_ev, &v->ch->data_posted,
                             newer_cond, newer_slow, r,
                             sk_time_left(timeout_ns, &wait_deadline));
        if (c < 0)
            return c;
        /* acquire: pairs with the writer's release of latest_cur */
        uint64_t cur = atomic_load_explicit(&v->ch->latest_cur, memory_order_acquire);
        if (cur >> 8 != last_cur) {
            last_cur = cur >> 8;
            stuck = 0;
        } else {
            stuck++;
        }
        uint32_t k = (uint32_t)(cur & 0xff);
        if (k >= v->nslots)
            return sk_err(SHMKIT_E_CORRUPT, "peek", shmkit_segment_name(v->seg),
                          "current slot %u of %u", k, v->nslots);
        struct sk_latest_slot *s = slot_at(v, k);
        /* acquire: pairs with the release that completed the value */
        uint64_t s1 = atomic_load_explicit(&s->seq, memory_order_acquire);
        uint64_t n = s->len, ver = s->version;
        if (!(s1 & 1u) && n <= v->cap) {
            memcpy(r->buf, (unsigned char *)s + sizeof *s, n);
            /* pairs with the writer's release fence after the odd mark */
            atomic_thread_fence(memory_order_acquire);
            if (atomic_load_explicit(&s->seq, memory_order_relaxed) == s1) {
                if (ver <= r->latest_ver)
                    continue; /* read a value we already returned */
                r->latest_prev = r->latest_ver;
                r->latest_ver = ver;
                r->msgs++;
                atomic_store_explicit(&v->ep->r_msgs, r->msgs, memory_order_relaxed);
                *buf = r->buf;
                *len = (size_t)n;
                return 0;
            }
        }
    }
}
