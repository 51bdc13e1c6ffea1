/*
 * fuzz_channel_read - a queue, bus or latest channel whose control block,
 * endpoint table, ring or value slots hold arbitrary bytes.
 *
 * A real channel of each kind (capacity 4096, a few messages written) is
 * restored from its snapshot, overwritten with the input, and then opened
 * by a reader (and a writer) that make a bounded number of calls, all with
 * timeout 0.  None may crash, touch memory outside the mapping (guard
 * pages, see fuzz_common.h), hand out a message outside the ring, or hang.
 *
 * Input:
 *   byte 0     channel: 0 queue, 1 multi-producer queue, 2 lossy bus,
 *              3 reliable bus, 4 latest (modulo 5)
 *   byte 1     bits 0-5: calls (fuzz_chan.h);  bit 6: raw mode;
 *              bit 7: raw mode starts at the ring, else at the control block
 *   bytes 2-5  message lengths for the writer (scaled to max_msg)
 *   rest       raw mode: bytes copied over the data area from the start
 *              chosen;  else patches (fuzz_common.h) at offsets into the
 *              whole mapping (header at 0, control block at 8192, endpoint
 *              table at 12288, ring or slots at 20480)
 */
#include <string.h>

#include "../src/channel.h"
#include "fuzz_chan.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 6)
        return 0;
    struct fz_chan *c = fz_chan_get(data[0]);
    unsigned mode = data[1];
    const uint8_t *lens = data + 2, *in = data + 6, *end = data + size;
    fz_chan_restore(c);
    if (mode & 64) {
        size_t start = mode & 128 ? SK_RING_OFFSET : 0;
        size_t n = (size_t)(end - in);
        if (n > c->data_size - start)
            n = c->data_size - start;
        memcpy(c->data + start, in, n);
    } else {
        struct fz_patch p;
        while (fz_next_patch(&in, end, c->map_size, &p))
            memcpy(c->base + p.off, p.bytes, p.len);
    }
    fz_chan_exercise(c, mode, lens, 4);
    return 0;
}
