/*
 * test_chan_threads - the scenarios of test_chan_stress with every end a
 * thread of one process, so that ThreadSanitizer can watch them (it cannot
 * see across processes).  3000*scale messages per scenario.
 *
 * In TSan builds the library lets endpoints of one process share one
 * mapping of a segment (TSan tracks addresses: with a mapping per endpoint
 * it could not pair the two ends' accesses to the ring).  The lossy bus and
 * latest scenarios are skipped there: their readers copy while the writer
 * may overwrite and detect it afterwards, which TSan reports by design.
 */
#include "chan_util.h"

int main(void)
{
    cu_init("test_chan_threads", 280);
    return cu_run_all(1, 3000ull * (uint64_t)skt_scale());
}
