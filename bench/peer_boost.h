/* peer_boost.h - the C face of Boost.Interprocess message_queue. */
#ifndef SHMKIT_BENCH_PEER_BOOST_H
#define SHMKIT_BENCH_PEER_BOOST_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Creates (replacing) a queue of nmsg messages of at most msgsize bytes.
 * 0, or -1 with the reason in why. */
int skb_bmq_create(const char *name, size_t nmsg, size_t msgsize, char *why,
                   size_t n);
/* Opens an existing queue; NULL with the reason in why. */
void *skb_bmq_open(const char *name, char *why, size_t n);
/* 1 sent, 0 full, -1 error. */
int skb_bmq_try_send(void *q, const void *buf, size_t len);
/* 1 received (*len set), 0 empty, -1 error. */
int skb_bmq_try_recv(void *q, void *buf, size_t cap, size_t *len);
void skb_bmq_close(void *q);
int skb_bmq_remove(const char *name);

#ifdef __cplusplus
}
#endif
#endif
