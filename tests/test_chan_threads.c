/*
 * test_chan_threads - the scenarios of test_chan_stress with every end a
 * thread of one process, so that ThreadSanitizer can watch them (it cannot
 * see across processes).  3000*scale messages per scenario.
 *
 * Caveat: each endpoint maps the channel on its own, so two endpoints see
 * the same ring at two different addresses, and TSan (which tracks
 * addresses) cannot pair their accesses: it checks each endpoint's own
 * state and the library's process-local data, not the ring protocol.  It
 * would see the ring only if endpoints of one process shared a mapping.
 */
#include "chan_util.h"

int main(void)
{
    cu_init("test_chan_threads", 280);
    return cu_run_all(1, 3000ull * (uint64_t)skt_scale());
}
