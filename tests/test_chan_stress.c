/*
 * test_chan_stress - every kind under load, each end its own process.
 *
 * queue SP (1 producer), queue MP (3 producer processes), reliable bus
 * (3 readers, one slow), lossy bus (3 readers, one slow), latest (2 readers):
 * every message carries (producer, sequence, length 32..2072, payload
 * derived from the sequence, FNV-1a checksum); the checks are listed in
 * chan_util.h (cu_consumer).  20000*scale messages per scenario.
 */
#include "chan_util.h"

int main(void)
{
    cu_init("test_chan_stress", 280);
    return cu_run_all(0, 20000ull * (uint64_t)skt_scale());
}
