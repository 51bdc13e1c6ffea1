/*
 * peer_boost.c - Boost.Interprocess message_queue, busy-polled with
 * try_send / try_receive (its lowest-latency use: no condition-variable
 * sleep).  The queues are created by the parent (names "skb-PID-POINT-a"
 * and "-b", in /dev/shm) and removed by it afterwards.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "peer_boost.h"

struct bep {
    void *q[2]; /* [0]: A -> B, [1]: B -> A */
    int side;
};

static int b_setup(point_t *p, char *why, size_t n)
{
    int nq = p->tput ? 1 : 2;
    size_t nmsg = 1;
    if (p->tput)
        nmsg = p->size >= (1u << 20) ? 16 : p->size >= 65536 ? 64 : 256;
    for (int i = 0; i < nq; i++) {
        snprintf(p->name[i], sizeof p->name[i], "skb-%d-%d-%c", (int)getpid(), p->id,
                 'a' + i);
        register_shm_name(p->name[i]);
        if (skb_bmq_create(p->name[i], nmsg, p->size, why, n) < 0)
            return -1;
    }
    return 0;
}

static int b_open(point_t *p, int side, void **out)
{
    struct bep *e = calloc(1, sizeof *e);
    char why[256];
    if (!e)
        return -1;
    e->side = side;
    for (int i = 0; i < (p->tput ? 1 : 2); i++) {
        e->q[i] = skb_bmq_open(p->name[i], why, sizeof why);
        if (!e->q[i]) {
            child_fail("%s", why);
            return -1;
        }
    }
    *out = e;
    return 0;
}

static int b_send(void *ep, const void *buf, size_t len, int pay, uint64_t seq)
{
    (void)pay;
    (void)seq;
    struct bep *e = ep;
    void *q = e->q[e->side];
    int r;
    while ((r = skb_bmq_try_send(q, buf, len)) == 0)
        cpu_pause();
    if (r < 0)
        child_fail("message_queue::try_send failed");
    return r < 0 ? -1 : 0;
}

static int b_recv(void *ep, void *buf, size_t len, int pay, uint64_t *seq)
{
    (void)pay;
    struct bep *e = ep;
    void *q = e->q[!e->side];
    size_t got = 0;
    int r;
    while ((r = skb_bmq_try_recv(q, buf, len, &got)) == 0)
        cpu_pause();
    if (r < 0 || got != len) {
        child_fail("message_queue::try_receive failed (%zu bytes)", got);
        return -1;
    }
    *seq = load64(buf);
    return 0;
}

static void b_close(void *ep, int side)
{
    (void)side;
    struct bep *e = ep;
    for (int i = 0; i < 2; i++)
        if (e->q[i])
            skb_bmq_close(e->q[i]);
    free(e);
}

static void b_teardown(point_t *p)
{
    for (int i = 0; i < 2; i++)
        if (p->name[i][0]) {
            skb_bmq_remove(p->name[i]);
            unregister_shm_name(p->name[i]);
        }
}

const mech_t mech_boost = {"peer", "Boost message_queue", 0, 0, 0, b_setup, b_open,
                           b_send, b_recv, b_close, b_teardown};
