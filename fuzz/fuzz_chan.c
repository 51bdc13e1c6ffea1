/*
 * fuzz_chan.c - channel setup and the calls the channel harnesses make.
 * White-box on purpose: it looks inside the reader and writer handles
 * (src/channel.h) to check that what the library hands out lies in the ring.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/channel.h"
#include "fuzz_chan.h"
#include "fuzz_common.h"

static struct fz_chan chans[FZ_NCHAN];
static volatile uint64_t sink;

static void die(const char *what, int rc)
{
    fprintf(stderr, "fuzz_chan: setup: %s: %d %s\n", what, rc,
            shmkit_last_error());
    abort();
}

static void setup_one(struct fz_chan *c, int i)
{
    static const struct { shmkit_kind_t k; int rel, multi; } kinds[FZ_NCHAN] = {
        {SHMKIT_KIND_QUEUE, 0, 0}, {SHMKIT_KIND_QUEUE, 0, 1},
        {SHMKIT_KIND_BUS, 0, 0},   {SHMKIT_KIND_BUS, 1, 0},
        {SHMKIT_KIND_LATEST, 0, 0},
    };
    int rc;
    c->kind = kinds[i].k;
    fz_name(c->name, sizeof c->name, "chan", i);
    shmkit_segment_unlink(c->name);
    fz_cleanup_add(c->name);
    shmkit_channel_opts_t o;
    shmkit_channel_opts_init(&o, c->kind);
    o.capacity = c->kind == SHMKIT_KIND_LATEST ? 4032 : 4096;
    o.reliable = kinds[i].rel;
    o.multi_producer = kinds[i].multi;
    o.seg.persistent = 1;
    if ((rc = shmkit_channel_create(c->name, &o)) < 0)
        die("channel_create", rc);
    shmkit_endpoint_opts_t eo;
    shmkit_endpoint_opts_init(&eo);
    shmkit_writer_t *w;
    if ((rc = shmkit_writer_open(c->name, &eo, &w)) < 0)
        die("writer_open", rc);
    static const size_t lens[] = {1, 100, 7, 1000};
    unsigned char msg[1000];
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        memset(msg, 'a' + (int)k, sizeof msg);
        if ((rc = shmkit_writer_send(w, msg, lens[k], 0)) < 0)
            die("send", rc);
    }
    shmkit_writer_detach(w);
    shmkit_segment_opts_t so;
    shmkit_segment_opts_init(&so);
    if ((rc = shmkit_segment_open(c->name, &so, &c->hostile)) < 0)
        die("segment_open", rc);
    c->data = shmkit_segment_data(c->hostile);
    c->data_size = (size_t)shmkit_segment_data_size(c->hostile);
    c->base = c->data - SK_HEADER_SIZE;
    c->map_size = c->data_size + SK_HEADER_SIZE;
    c->snap = malloc(c->map_size);
    if (!c->snap)
        die("malloc", -ENOMEM);
    memcpy(c->snap, c->base, c->map_size);
}

struct fz_chan *fz_chan_get(unsigned idx)
{
    static int ready;
    if (!ready) {
        fz_init_once();
        for (int i = 0; i < FZ_NCHAN; i++)
            setup_one(&chans[i], i);
        ready = 1;
    }
    return &chans[idx % FZ_NCHAN];
}

void fz_chan_restore(struct fz_chan *c)
{
    memcpy(c->base, c->snap, c->map_size);
}

static void check_rc(int rc)
{
    if (rc > 0) {
        fprintf(stderr, "fuzz_chan: a call returned %d\n", rc);
        abort();
    }
}

/* What a peek handed out must lie inside the ring (or, for latest, the
 * reader's own buffer of cap bytes) and within max_msg. */
static void check_msg(shmkit_reader_t *r, const void *p, size_t len)
{
    const unsigned char *b = p;
    if (len > r->v.max_msg && r->v.kind != SHMKIT_KIND_LATEST) {
        fprintf(stderr, "fuzz_chan: message of %zu bytes > max_msg %u\n", len,
                r->v.max_msg);
        abort();
    }
    if (r->v.kind == SHMKIT_KIND_LATEST) {
        if (b != r->buf || len > r->v.cap) {
            fprintf(stderr, "fuzz_chan: latest value of %zu bytes at %p\n",
                    len, p);
            abort();
        }
    } else if (b < r->v.ring || b + len > r->v.ring + r->v.cap) {
        fprintf(stderr, "fuzz_chan: message [%p, +%zu) outside the ring "
                "[%p, +%llu)\n", p, len, (void *)r->v.ring,
                (unsigned long long)r->v.cap);
        abort();
    }
    sink += fz_touch(p, len);
}

static void read_some(shmkit_reader_t *r, unsigned mode)
{
    static unsigned char buf[1 << 16];
    int errors = 0;
    for (int i = 0; i < 16 && errors < 3; i++) {
        const void *p;
        size_t len = 0;
        int rc;
        if (mode & 4) {
            size_t cap = mode & 8 ? 64 : sizeof buf;
            rc = shmkit_reader_recv(r, buf, cap, &len, 0);
            check_rc(rc);
            if (rc == 0 && len > cap)
                abort();
            if (rc == 0)
                sink += fz_touch(buf, len);
        } else {
            rc = shmkit_reader_peek(r, &p, &len, 0);
            check_rc(rc);
            if (rc == 0) {
                check_msg(r, p, len);
                check_rc(shmkit_reader_release(r));
            }
        }
        if (rc < 0 && rc != SHMKIT_E_LOST)
            errors++;
        (void)shmkit_reader_lost(r);
    }
}

static void write_some(shmkit_writer_t *w, const uint8_t *lens, size_t nlens)
{
    static unsigned char msg[1 << 16];
    size_t max = shmkit_writer_max_msg(w);
    if (max > sizeof msg)
        max = sizeof msg;
    for (size_t i = 0; i < 4; i++) {
        size_t len = nlens ? (size_t)lens[i % nlens] * max / 255 : i;
        if (i & 1) {
            check_rc(shmkit_writer_send(w, msg, len, 0));
            continue;
        }
        void *p;
        int rc = shmkit_writer_reserve(w, len, &p, 0);
        check_rc(rc);
        if (rc == 0) {
            unsigned char *b = p;
            if (w->v.kind != SHMKIT_KIND_LATEST &&
                (b < w->v.ring || b + len > w->v.ring + w->v.cap)) {
                fprintf(stderr, "fuzz_chan: reservation [%p, +%zu) outside "
                        "the ring\n", p, len);
                abort();
            }
            memset(p, 0x5a, len);
            check_rc(shmkit_writer_commit(w, len));
        }
    }
    int nr = shmkit_writer_readers(w);
    if (nr > SHMKIT_MAX_ATTACH)
        abort();
    check_rc(nr < 0 ? nr : 0);
}

void fz_chan_exercise(struct fz_chan *c, unsigned mode, const uint8_t *lens,
                      size_t nlens)
{
    static shmkit_channel_stat_t st;
    shmkit_endpoint_opts_t eo;
    shmkit_endpoint_opts_init(&eo);
    eo.open_timeout_ms = 0;
    eo.wait = SHMKIT_WAIT_SPIN;
    shmkit_writer_t *w = NULL;
    shmkit_reader_t *r = NULL;
    if ((mode & 3) == 3 && shmkit_writer_open(c->name, &eo, &w) == 0)
        write_some(w, lens, nlens);
    if (shmkit_reader_open(c->name, &eo, &r) == 0)
        read_some(r, mode);
    if ((mode & 3) == 2 && shmkit_writer_open(c->name, &eo, &w) == 0)
        write_some(w, lens, nlens);
    if (r && (mode & 32))
        read_some(r, mode);
    shmkit_channel_stat(c->name, &st);
    if (st.nreaders > SHMKIT_MAX_READERS)
        abort();
    if (w) {
        if (mode & 16)
            shmkit_writer_close(w);
        else
            shmkit_writer_detach(w);
    }
    shmkit_reader_close(r);
}
