/*
 * fuzz_chan.h - a real channel of each kind whose bytes a harness rewrites
 * before (fuzz_channel_read) or while (fuzz_channel_race) shmkit reads it.
 */
#ifndef SHMKIT_FUZZ_CHAN_H
#define SHMKIT_FUZZ_CHAN_H

#include <stddef.h>
#include <stdint.h>

#include "shmkit.h"

#define FZ_NCHAN 5 /* queue, MP queue, lossy bus, reliable bus, latest */

struct fz_chan {
    char name[64];
    shmkit_kind_t kind;
    shmkit_segment_t *hostile; /* the stranger's read-write handle, kept open */
    unsigned char *base;       /* its mapping: header, then data area         */
    size_t map_size;
    unsigned char *data;
    size_t data_size;
    unsigned char *snap;       /* the whole mapping after setup               */
};

/* Creates the channels on first use (persistent, capacity 4096; latest
 * 4032 so that its slots end at the mapping's end too), writes a few
 * messages into each, and snapshots them.  idx is taken modulo FZ_NCHAN. */
struct fz_chan *fz_chan_get(unsigned idx);

/* Puts the snapshot back (header and data). */
void fz_chan_restore(struct fz_chan *c);

/*
 * Opens endpoints and runs a bounded number of calls, all with timeout 0:
 * reader peek/release or recv, and (mode bit 1) a writer's reserve/commit
 * and send, before (bit 0) or after the reader joined.  Checks that every
 * message handed out lies inside the ring and within max_msg, and reads or
 * writes it to its last byte.  lens: bytes that pick message lengths.
 *   bit 0 writer first   bit 1 open a writer   bit 2 recv, not peek
 *   bit 3 small recv buffer   bit 4 writer_close, not detach
 *   bit 5 read again after the writer wrote
 */
void fz_chan_exercise(struct fz_chan *c, unsigned mode, const uint8_t *lens,
                      size_t nlens);

#endif
