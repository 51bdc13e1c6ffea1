/*
 * channel.h - private: the control block, ring records and endpoint table
 * shared by queue, bus and latest.
 *
 * Data area of a channel segment:
 *
 *   0            struct sk_chan: config line, writer line, two event lines,
 *                misc counters
 *   4096         struct sk_ep[SHMKIT_MAX_ATTACH]: one 64-byte line per
 *                attach slot, written only by that slot's owner (and by a
 *                reaper once the owner is dead)
 *   ring_offset  the ring (queue, bus) or the value slots (latest)
 *
 * Ring records never straddle the end of the ring, and start 8-byte
 * aligned with a header: on a queue the 8-byte commit word alone, on a bus
 * the word and the message's sequence number (16 bytes):
 *
 *   word = (tag << 32) | VALID | [PAD] | len      tag = (uint32_t)(pos >> 3)
 *
 * stored last with release semantics, so a record is complete when a reader
 * acquire-loads a word whose tag matches the position it expects.  A word
 * from an earlier lap has another tag; zero is never a valid word.  A bus
 * reader counts its losses by the sequence numbers; a queue's reader takes
 * every record, so the payload follows the word at once (a 64 B message is
 * a 72 B record: 10% fewer lines to move than with 16 bytes).  A PAD
 * record fills the ring to its end when the next record would not fit.
 *
 * Memory-order pairing table:
 *
 *   store (release)                        load (acquire)
 *   record word      (writer commit)       record word (reader peek)
 *   chan.tailv       (writer, every        chan.tailv (reader join and
 *                     SK_PUB_EVERY bytes,   resync, writer re-open, stat:
 *                     after filling the     a consistent (tail, seq), from
 *                     other pair slot)      which they walk the records
 *                                           committed since)
 *   chan.tail        (MP producer CAS)     chan.tail (queue reaper, stat)
 *   chan.horizon     (writer, + release    chan.horizon (reader, after an
 *                     fence before it        acquire fence: seqlock check
 *                     overwrites)            that the message survived)
 *   ep.head          (reader, batched)     ep.head (writer space check)
 *   ep.claim_pos     (producer)            ep.claim_pos (queue reaper)
 *   chan.closed      (writer close)        chan.closed (reader at empty)
 *   events: see sync.h (asymmetric Dekker).
 *   bus join: reader stores ep.active, seq_cst fence, loads chan.tail;
 *             writer stores chan.tail (brought up to date first, see
 *             sk_min_head), seq_cst fence, loads ep.active.
 */
#ifndef SK_CHANNEL_H
#define SK_CHANNEL_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "segment.h"
#include "sync.h"

#define SK_CHAN_MAGIC 0x314e414843534b53ULL /* "SKSCHAN1" */
#define SK_CHAN_SIZE 4096u
#define SK_EP_OFFSET SK_CHAN_SIZE
#define SK_EP_SIZE 64u
#define SK_RING_OFFSET (SK_EP_OFFSET + SK_EP_SIZE * SHMKIT_MAX_ATTACH)

#define SK_CF_RELIABLE 0x1u
#define SK_CF_MULTI 0x2u

#define SK_REC_HDR 16u  /* a bus record's header: word, sequence number */
#define SK_QREC_HDR 8u  /* a queue record's header: the word alone        */
#define SK_W_VALID 0x40000000u
#define SK_W_PAD 0x80000000u
#define SK_W_LEN 0x3fffffffu

/* roles in the attach table (header slot role) and in ep.role */
#define SK_ROLE_WRITER 1u
#define SK_ROLE_READER 2u

#define SK_CLAIM_IDLE UINT64_MAX

/* write-ahead (ring.c) looks at a queue reader's lag once per this many
 * bytes written (a bus: four times less often) */
#define SK_WA_CHECK 65536u

/* a single writer publishes its (tail, seq) and counters once per this
 * many bytes written, or a sixteenth of the ring if that is less (ring.c,
 * sk_writer_publish) */
#define SK_PUB_EVERY 4096u

/* a send_more batch is published once it spans this many bytes, or an
 * eighth of the ring if that is less (or holds SK_BATCH_MAX messages) */
#define SK_BATCH_BYTES 16384u

/* the two limits for a ring of cap bytes: the writer keeps to them, and
 * sk_ring_walk relies on them */
static inline uint64_t sk_pub_every(uint64_t cap)
{
    return cap / 16 < SK_PUB_EVERY ? cap / 16 : SK_PUB_EVERY;
}

static inline uint64_t sk_batch_bytes(uint64_t cap)
{
    return cap / 8 < SK_BATCH_BYTES ? cap / 8 : SK_BATCH_BYTES;
}

/* a writer publishes a send_more batch once it holds this many records */
#define SK_BATCH_MAX 64u

struct sk_chan {
    /* line 0: configuration, written before ready, read-only afterwards */
    uint64_t magic;
    uint32_t kind;
    uint32_t flags;
    uint64_t capacity;     /* ring bytes, power of two; latest: slot bytes */
    uint64_t ring_offset;  /* from the start of the data area             */
    uint32_t max_msg;
    uint32_t max_readers;
    uint32_t nslots;       /* latest: value slots                         */
    uint32_t pad0;
    uint8_t pad0b[16];
    /* line 1: writer */
    _Atomic uint64_t tail;     /* MP queue: next claim position (CAS)      */
    uint64_t pad1a[2];
    _Atomic int32_t writer_slot; /* attach slot of the bus/latest/SP writer;
                                    -1 none (closed, detached), -2 died    */
    _Atomic uint32_t closed;
    _Atomic uint32_t writer_seen;
    uint32_t pad1;
    _Atomic uint64_t latest_cur; /* latest: (version << 8) | slot index     */
    uint8_t pad1b[16];
    /* line 2: readers sleep here */
    struct sk_event data_ev;
    _Atomic uint64_t data_posted;  /* when a writer last woke sleepers
                                      (CLOCK_MONOTONIC ns): a hint for
                                      adaptive waiters, range-checked     */
    uint8_t pad2[48];
    /* line 3: writers sleep here */
    struct sk_event space_ev;
    _Atomic uint64_t space_posted; /* the same, for waits for room         */
    uint8_t pad3[48];
    /* line 4: the queue's consumer: its position outlives the consumer */
    _Atomic uint64_t qhead;
    _Atomic int32_t consumer_slot;
    uint32_t pad4;
    uint8_t pad4b[48];
    /* line 5: written rarely, read often */
    _Atomic uint64_t horizon;  /* lossy bus: the writer may overwrite what
                                  lies below horizon - capacity; stored once
                                  per capacity/16 bytes, read by readers per
                                  message, so not on the busy writer line  */
    _Atomic uint64_t evictions;
    _Atomic uint64_t producer_deaths;
    uint8_t pad5[40];
    /* line 6: single writer's (tail, seq), double-buffered: the writer fills
     * pair[(v + 1) & 1], then release-stores tailv = v + 1.  A writer killed
     * in the middle leaves tailv and pair[tailv & 1] consistent. */
    _Atomic uint64_t tailv;
    struct {
        _Atomic uint64_t tail; /* next write position                     */
        _Atomic uint64_t seq;  /* sequence number of the record at tail   */
    } pair[2];
    uint8_t pad6[24];
    uint8_t tail_pad[SK_CHAN_SIZE - 7 * 64];
};
_Static_assert(sizeof(struct sk_chan) == SK_CHAN_SIZE, "chan layout");
_Static_assert(offsetof(struct sk_chan, tail) == 64, "chan layout");
_Static_assert(offsetof(struct sk_chan, data_ev) == 128, "chan layout");
_Static_assert(offsetof(struct sk_chan, space_ev) == 192, "chan layout");
_Static_assert(offsetof(struct sk_chan, data_posted) == 136, "chan layout");
_Static_assert(offsetof(struct sk_chan, space_posted) == 200, "chan layout");
_Static_assert(offsetof(struct sk_chan, tailv) == 384, "chan layout");

struct sk_ep {
    _Atomic uint64_t head;       /* reader: consumed position (batched)     */
    _Atomic uint64_t r_msgs;     /* reader: messages read                    */
    _Atomic uint64_t r_lost;     /* reader: messages lost                    */
    _Atomic uint64_t w_msgs;     /* writer/producer: messages written        */
    _Atomic uint64_t w_bytes;    /* writer/producer: payload bytes           */
    _Atomic uint64_t claim_pos;  /* MP producer: start of its open claim     */
    _Atomic uint64_t claim_end;  /* MP producer: end of its open claim       */
    _Atomic uint32_t role;
    _Atomic uint32_t active;     /* bus reader counted for space             */
};
_Static_assert(sizeof(struct sk_ep) == SK_EP_SIZE, "ep layout");

struct sk_latest_slot {
    _Atomic uint64_t seq; /* odd while being written */
    uint64_t len;
    uint64_t version;     /* the value's version (latest_cur >> 8) */
    uint8_t pad[40];
    /* value bytes follow */
};
_Static_assert(sizeof(struct sk_latest_slot) == 64, "latest slot layout");

/* hdr: the view's record header, SK_QREC_HDR or SK_REC_HDR */
static inline uint64_t sk_rec_size(uint32_t hdr, uint64_t len)
{
    return (hdr + len + 7) & ~(uint64_t)7;
}

static inline uint64_t sk_word(uint64_t pos, uint32_t flags, uint32_t len)
{
    return ((uint64_t)(uint32_t)(pos >> 3) << 32) | SK_W_VALID | flags | len;
}

static inline int sk_word_tag_ok(uint64_t word, uint64_t pos)
{
    return (uint32_t)(word >> 32) == (uint32_t)(pos >> 3) &&
           (word & SK_W_VALID);
}

/* Segment-level hook: run just before `ready` is published (segment.c). */
typedef int (*sk_create_hook_fn)(void *data, uint64_t data_size, void *ctx);
void sk_set_create_hook(sk_create_hook_fn fn, void *ctx);
int sk_run_create_hook(shmkit_segment_t *s);

/* 1 alive, 0 dead, -1 unknown; own slot is alive. */
int sk_seg_slot_alive(shmkit_segment_t *s, int slot);
void sk_seg_set_role(shmkit_segment_t *s, uint32_t role);


/* ---- endpoint handles (process-private) ---- */

struct sk_chan_view {
    shmkit_segment_t *seg;
    struct sk_chan *ch;
    struct sk_ep *eps;
    struct sk_ep *ep;       /* ours */
    unsigned char *ring;
    uint64_t cap, mask;
    uint32_t kind, flags, max_msg, nslots, max_readers;
    uint32_t hdr;           /* record header bytes (kind's, see sk_rec_size) */
    int slot;
    shmkit_wait_t wait;
    uint32_t spin_us;
    uint32_t hold_ns;       /* reader: see hold() in ring.c               */
    uint64_t spin_win_ns;   /* adaptive: how long the next wait spins
                               (spin_us, grown by sk_spin_window)          */
    uint64_t spin_max_ns;   /* adaptive: ... at most this (spin_max_us)    */
    uint64_t wake_late_ns;  /* adaptive: what a wake-up costs here, as
                               learnt (sk_wake_late); 0: not yet known    */
    uint64_t wake_first_ns; /* ... the first sample, until the second     */
};

struct shmkit_writer {
    struct sk_chan_view v;
    uint64_t pos;          /* next write position (SP); claim start (MP)   */
    uint64_t res_pos;      /* reserved record position, UINT64_MAX: none   */
    uint64_t res_len;      /* reserved record bytes                        */
    uint64_t res_bytes;    /* reserved payload bytes                       */
    uint64_t res_end;      /* MP: end of the whole claim                   */
    uint64_t head_cache;   /* slowest reader's head, as last seen          */
    uint64_t horizon_pub;  /* lossy: horizon as last published             */
    uint64_t seq;          /* bus/latest: next sequence number             */
    uint64_t msgs, bytes;  /* mirrors of our ep counters                   */
    /* single writer of a ring: (tail, seq) and the counters were last
     * published at pub_pos, and are next at pub_next (sk_writer_publish) */
    uint64_t pub_pos, pub_next;
    uint32_t latest_slot;  /* latest: slot being written                   */
    uint64_t last_evict_ns; /* bus: last look for dead readers holding us  */
    /* send_more/commit_more: records written in place, their words not yet
     * stored.  Published in order by sk_flush_batch(), so what readers can
     * see is always a prefix of what was written (a writer killed with a
     * batch open leaves no committed record beyond the published ones). */
    uint32_t nbatch;
    uint64_t batch_pos;    /* position of the first unpublished record     */
    uint64_t batch_limit;  /* publish once the batch spans this many bytes */
    uint64_t guarded;      /* MP: the word after our last claim, checked
                              before its commit (no fake there since)     */
    /* write-ahead (ring.c): lines below wa_pos were fetched for writing;
     * the readers' lag is looked at again at wa_next; nothing to do before
     * wa_mark */
    uint64_t wa_pos, wa_next, wa_mark;
    int wa_on;
    uint32_t wa_lat;       /* ns the last look at a reader's head took    */
    int wa_lead;           /* bus: the slot of the reader that led at the
                              last look, or -1 (ring.c, look_ns())       */
    uint64_t due;          /* min(pub_next, wa_mark): a commit reaching it
                              has more to do (ring.c, commit_due())      */
    uint64_t fast_end;     /* reserve_fast() takes messages shorter than
                              this (sk_writer_fast_init())              */
    uint64_t batch_word[SK_BATCH_MAX];
};

struct shmkit_reader {
    struct sk_chan_view v;
    uint64_t pos;          /* next record position                         */
    uint64_t next_seq;     /* bus: expected sequence number                */
    int have_seq;
    uint64_t msgs, lost;
    int lost_pending;      /* a resync counted losses: report them next  */
    int manual_ack;        /* releases keep their room until ack (here:
                              on the line of pos, read with each release) */
    uint64_t peek_size;    /* record bytes of the message being peeked, 0: none */
    uint64_t peek_pos;
    uint64_t last_size;    /* record bytes of the last message released    */
    uint64_t latest_ver;   /* latest: version last returned                */
    uint64_t latest_prev;  /* latest: version before the last peek          */
    unsigned char *buf;    /* latest: private copy                         */
    uint64_t last_check_ns;
    uint64_t wait_msgs;    /* msgs and pos when the reader last had to     */
    uint64_t wait_pos;     /* wait (the hold, in ring.c)                   */
    uint64_t ack_pos;      /* manual_ack: the position the head shows      */
    uint64_t ack_msgs;     /* manual_ack: msgs when it last acknowledged   */
};

/* ring.c: a consistent (tail, seq) pair of a single writer, published
 * every SK_PUB_EVERY bytes or so (sk_writer_publish); sk_ring_walk steps
 * from it over the records committed since */
void sk_read_tail(struct sk_chan *ch, uint64_t *tail, uint64_t *seq);
void sk_publish_tail(struct sk_chan *ch, uint64_t tail, uint64_t seq);
void sk_writer_publish(shmkit_writer_t *w);
uint64_t sk_ring_walk(struct sk_chan_view *v, uint64_t *pos, uint64_t *seq,
                      uint64_t *bytes);
int sk_pad_claim(struct sk_chan_view *v, uint64_t pos, uint64_t end);
void sk_writer_recover(shmkit_writer_t *w);
void sk_writer_abandon(shmkit_writer_t *w);
void sk_flush_batch(shmkit_writer_t *w);
void sk_writer_fast_init(shmkit_writer_t *w);

/* What is left of a call's timeout for its next wait: a timeout < 0 (none)
 * or 0 (a poll) as it is; otherwise the time to a deadline set at the
 * first wait (*deadline 0 until then), and at least 1 ns once it has
 * passed (a wait that looks once more and times out).  For calls that may
 * wait more than once: each wait must not start the timeout again. */
static inline int64_t sk_time_left(int64_t timeout_ns, uint64_t *deadline)
{
    if (timeout_ns <= 0)
        return timeout_ns;
    uint64_t now = sk_now_ns(CLOCK_MONOTONIC);
    if (!*deadline) {
        *deadline = now + (uint64_t)timeout_ns;
        return timeout_ns;
    }
    return now < *deadline ? (int64_t)(*deadline - now) : 1;
}

/* channel.c */
typedef int (*sk_cond_fn)(void *ctx);
int sk_chan_wait(struct sk_chan_view *v, struct sk_event *ev,
                 _Atomic uint64_t *posted, sk_cond_fn cond, sk_cond_fn slow,
                 void *ctx, int64_t timeout_ns);
uint64_t sk_wake_late(uint64_t est_ns, uint64_t *first_ns, uint64_t late_ns);
uint64_t sk_spin_window(uint64_t base_ns, uint64_t max_ns, uint64_t win_ns,
                        uint64_t late_ns, uint64_t wait_ns);
#define SK_SPIN_GROW 8u /* default spin_max_us: 8x spin_us */
int sk_writer_peer_count(struct shmkit_writer *w);
int sk_reader_writer_gone(struct shmkit_reader *r);
uint64_t sk_min_head(struct shmkit_writer *w, int evict);

/* ring.c (queue, bus) */
int sk_ring_reserve(shmkit_writer_t *w, size_t len, void **buf, int64_t timeout_ns);
int sk_ring_commit(shmkit_writer_t *w, size_t len, int more);
int sk_ring_peek(shmkit_reader_t *r, const void **buf, size_t *len, int64_t timeout_ns);
int sk_ring_release(shmkit_reader_t *r);
void sk_ring_reader_join(shmkit_reader_t *r);

/* latest.c */
int sk_latest_reserve(shmkit_writer_t *w, size_t len, void **buf);
int sk_latest_commit(shmkit_writer_t *w, size_t len);
int sk_latest_peek(shmkit_reader_t *r, const void **buf, size_t *len, int64_t timeout_ns);

#endif
