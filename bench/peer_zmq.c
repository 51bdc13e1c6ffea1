/*
 * peer_zmq.c - ZeroMQ over ipc:// with a PAIR socket pair, used as its guide
 * shows: one zmq_send() per message, one blocking zmq_recv() into the
 * application's buffer.  A binds (ipc:///tmp/skb-PID-POINT.zmq), B
 * connects; ZeroMQ's own I/O thread moves the bytes over a UNIX socket.
 * That thread is started while the process may run on every CPU (it would
 * otherwise inherit the pin of the benchmark side and compete with it on
 * one CPU); the calling thread is pinned again right after.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "bench.h"

struct zep {
    void *ctx, *sock;
};

static int z_setup(point_t *p, char *why, size_t n)
{
    (void)why;
    (void)n;
    snprintf(p->name[0], sizeof p->name[0], "/tmp/skb-%d-%d.zmq", (int)getpid(), p->id);
    register_shm_name(p->name[0]);
    return 0;
}

static int z_open(point_t *p, int side, void **out)
{
    char ep[128];
    struct zep *e = calloc(1, sizeof *e);
    if (!e)
        return -1;
    snprintf(ep, sizeof ep, "ipc://%s", p->name[0]);
    cpu_set_t all;
    CPU_ZERO(&all);
    for (int i = 0; i < cfg.ncpu; i++)
        CPU_SET(cfg.cpus[i], &all);
    sched_setaffinity(0, sizeof all, &all);
    e->ctx = zmq_ctx_new();
    e->sock = e->ctx ? zmq_socket(e->ctx, ZMQ_PAIR) : NULL;
    pin_cpu(cfg.cpu[side ? 1 : 0]);
    int linger = -1; /* close waits until every queued message went out */
    if (e->sock)
        zmq_setsockopt(e->sock, ZMQ_LINGER, &linger, sizeof linger);
    if (!e->sock) {
        child_fail("zmq_socket: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    /* B connects only once A is bound: a PAIR that connects first and
     * retries can stall its first messages for good */
    if (side == 1)
        for (int i = 0; i < 10000 && !atomic_load(&ctl->go); i++)
            usleep(1000);
    int r = side == 0 ? zmq_bind(e->sock, ep) : zmq_connect(e->sock, ep);
    if (side == 0 && r == 0)
        atomic_store(&ctl->go, 1);
    if (r < 0) {
        child_fail("zmq_%s(%s): %s", side ? "connect" : "bind", ep,
                   zmq_strerror(zmq_errno()));
        return -1;
    }
    *out = e;
    return 0;
}

static int z_send(void *ep, const void *buf, size_t len, int pay, uint64_t seq)
{
    (void)pay;
    (void)seq;
    struct zep *e = ep;
    for (;;) {
        int n = zmq_send(e->sock, buf, len, 0);
        if (n == (int)len)
            return 0;
        if (n < 0 && zmq_errno() == EINTR)
            continue;
        child_fail("zmq_send: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
}

static int z_recv(void *ep, void *buf, size_t len, int pay, uint64_t *seq)
{
    (void)pay;
    struct zep *e = ep;
    for (;;) {
        int n = zmq_recv(e->sock, buf, len, 0);
        if (n == (int)len) {
            *seq = load64(buf);
            return 0;
        }
        if (n < 0 && zmq_errno() == EINTR)
            continue;
        child_fail("zmq_recv: %d bytes, %s", n, zmq_strerror(zmq_errno()));
        return -1;
    }
}

static void z_close(void *ep, int side)
{
    (void)side;
    struct zep *e = ep;
    /* Even with an infinite linger, a PAIR closed right after a burst can
     * drop what its I/O thread still buffers: both sides finish first. */
    atomic_fetch_add(&ctl->stop, 1);
    for (int i = 0; i < 20000 && atomic_load(&ctl->stop) < 2; i++)
        usleep(500);
    zmq_close(e->sock);
    zmq_ctx_term(e->ctx);
    free(e);
}

static void z_teardown(point_t *p)
{
    unregister_shm_name(p->name[0]);
}

const mech_t mech_zmq = {"peer", "ZeroMQ ipc PAIR", 0, 0, 0, z_setup, z_open, z_send,
                         z_recv, z_close, z_teardown};
