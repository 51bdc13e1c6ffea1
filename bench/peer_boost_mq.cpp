// peer_boost_mq.cpp - Boost.Interprocess message_queue behind a small C
// interface (peer_boost.h), so the rest of the bench stays C.  No exception
// crosses into C: every call catches and reports.
#include <boost/interprocess/ipc/message_queue.hpp>

#include <cstdio>
#include <cstring>
#include <new>

#include "peer_boost.h"

namespace bip = boost::interprocess;

extern "C" int skb_bmq_create(const char *name, size_t nmsg, size_t msgsize,
                              char *why, size_t n)
{
    try {
        bip::message_queue::remove(name);
        bip::message_queue q(bip::create_only, name, nmsg, msgsize);
        return 0;
    } catch (const std::exception &e) {
        std::snprintf(why, n, "message_queue(create_only, %s): %s", name, e.what());
        return -1;
    }
}

extern "C" void *skb_bmq_open(const char *name, char *why, size_t n)
{
    try {
        return new bip::message_queue(bip::open_only, name);
    } catch (const std::exception &e) {
        std::snprintf(why, n, "message_queue(open_only, %s): %s", name, e.what());
        return nullptr;
    }
}

extern "C" int skb_bmq_try_send(void *q, const void *buf, size_t len)
{
    try {
        return static_cast<bip::message_queue *>(q)->try_send(buf, len, 0) ? 1 : 0;
    } catch (...) {
        return -1;
    }
}

extern "C" int skb_bmq_try_recv(void *q, void *buf, size_t cap, size_t *len)
{
    try {
        bip::message_queue::size_type got = 0;
        unsigned int prio = 0;
        if (!static_cast<bip::message_queue *>(q)->try_receive(buf, cap, got, prio))
            return 0;
        *len = got;
        return 1;
    } catch (...) {
        return -1;
    }
}

extern "C" void skb_bmq_close(void *q)
{
    delete static_cast<bip::message_queue *>(q);
}

extern "C" int skb_bmq_remove(const char *name)
{
    try {
        return bip::message_queue::remove(name) ? 0 : -1;
    } catch (...) {
        return -1;
    }
}
