/*
 * fuzz_channel_race - fuzz_channel_read with a stranger who keeps writing
 * while we read: double fetches.
 *
 * Same input as fuzz_channel_read (patch mode only): patches whose offset
 * has bit 15 clear are applied before the endpoints open; those with bit 15
 * set are handed to a second thread that, for as long as the calls run,
 * writes each of them and then puts the previous bytes back, over and over.
 * A value checked once and used again later (read twice from shared memory)
 * can then differ between the check and the use; any crash, access outside
 * the mapping or message outside the ring is a finding.  Being a race, a
 * finding may not reproduce on every run; replays run each input 100 times.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "../src/channel.h"
#include "fuzz_chan.h"
#include "fuzz_common.h"

#define MAX_FLIPS 64

struct flip {
    uint32_t off, len;
    uint8_t val[16], old[16];
};

static struct flip flips[MAX_FLIPS];
static int nflips;
static unsigned char *flip_base;
static atomic_int stop, started;

static void *flipper(void *arg)
{
    (void)arg;
    volatile unsigned char *b = flip_base;
    do {
        for (int i = 0; i < nflips; i++) {
            struct flip *f = &flips[i];
            for (uint32_t k = 0; k < f->len; k++)
                b[f->off + k] = f->val[k];
            for (uint32_t k = 0; k < f->len; k++)
                b[f->off + k] = f->old[k];
        }
        atomic_store_explicit(&started, 1, memory_order_release);
    } while (!atomic_load_explicit(&stop, memory_order_acquire));
    return NULL;
}

/* Restores the channel, applies the pre-patches, collects the flips. */
static void prepare(struct fz_chan *c, const uint8_t *in, const uint8_t *end)
{
    fz_chan_restore(c);
    nflips = 0;
    struct fz_patch p;
    while (fz_next_patch(&in, end, c->map_size, &p)) {
        if (!p.race) {
            memcpy(c->base + p.off, p.bytes, p.len);
        } else if (nflips < MAX_FLIPS && p.len) {
            struct flip *f = &flips[nflips++];
            f->off = p.off;
            f->len = p.len;
            memcpy(f->val, p.bytes, p.len);
        }
    }
    for (int i = 0; i < nflips; i++)
        memcpy(flips[i].old, c->base + flips[i].off, flips[i].len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 6)
        return 0;
    struct fz_chan *c = fz_chan_get(data[0]);
    unsigned mode = data[1] & 63;
    const uint8_t *lens = data + 2;
    int reps = 1;
#ifdef FZ_REPLAY
    reps = 100; /* a race: give it more chances when replaying */
#endif
    for (int rep = 0; rep < reps; rep++) {
        pthread_t th;
        prepare(c, data + 6, data + size);
        flip_base = c->base;
        atomic_store(&stop, 0);
        atomic_store(&started, 0);
        int threaded = nflips > 0 && pthread_create(&th, NULL, flipper, NULL) == 0;
        while (threaded && !atomic_load_explicit(&started, memory_order_acquire))
            ;
        fz_chan_exercise(c, mode, lens, 4);
        atomic_store(&stop, 1);
        if (threaded)
            pthread_join(th, NULL);
    }
    return 0;
}
