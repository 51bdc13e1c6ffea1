#!/bin/bash
# make_seeds.sh - regenerates the seed corpus (fuzz/corpus/*) from real
# segments made by the CLI.  Usage: fuzz/make_seeds.sh PATH/TO/shmkit
# The seeds are committed; run this only to refresh them after a format
# change.  Input layouts are described at the top of each harness.
set -euo pipefail
SHMKIT=${1:?usage: $0 PATH/TO/shmkit}
here=$(cd "$(dirname "$0")" && pwd)
c=$here/corpus
n=skfzseed-$$
mkdir -p "$c"/{segment_open,channel_read,channel_race,cli_parse}
trap '"$SHMKIT" rm "$n-raw" "$n-q" "$n-b" "$n-l" 2>/dev/null || true' EXIT

seed() { # dir name: writes stdin to corpus/dir/name
    cat > "$c/$1/$2"
}
# bytes: printf-escaped string
b() { printf "$@"; }

# ---- segment_open: byte 0 = mode ----
"$SHMKIT" create "$n-raw" --size 4096 >/dev/null
"$SHMKIT" create "$n-q" --kind queue --capacity 4096 >/dev/null
{ b '\x00'; cat /dev/shm/$n-raw; } | seed segment_open raw-segment
{ b '\x01'; head -c 8192 /dev/shm/$n-raw; } | seed segment_open raw-header-only
{ b '\x00'; cat /dev/shm/$n-q; } | seed segment_open queue-segment
{ b '\x00'; head -c 100 /dev/shm/$n-raw; } | seed segment_open truncated-100
b '\x00' | seed segment_open empty
b '\x12__SHMKT1' | seed segment_open magic-only-padded
b '\x03' | seed segment_open template-raw
b '\x43' | seed segment_open template-queue
# template, max_attach (offset 48) = 256; total_size (offset 24) = 1 GiB
b '\x03\x30\x00\x04\x00\x01\x00\x00' | seed segment_open template-max-attach
b '\x13\x18\x00\x08\x00\x00\x00\x40\x00\x00\x00\x00' | seed segment_open template-total
# a slot (offset 512) with a fake pid 1
b '\x03\x00\x02\x08\x01\x00\x00\x00\x00\x00\x00\x00' | seed segment_open template-slot

# ---- channel_read / channel_race: kind, mode, 4 length bytes, patches ----
for k in 0 1 2 3 4; do
    b "\\x0$k\\x00\\x10\\x80\\xff\\x01" | seed channel_read kind$k-read
    b "\\x0$k\\x23\\x10\\x80\\xff\\x01" | seed channel_read kind$k-write-read
done
# bus: tail (mapping offset 8192+64) back to 0: the reader joins at the start
b '\x02\x00\x10\x80\xff\x01\x40\x20\x08\x00\x00\x00\x00\x00\x00\x00\x00' \
    | seed channel_read bus-tail-0
# bus, layout with the double-buffered (tail, seq) pair at 8192+392 and
# 8192+408: both tails back to 0
b '\x02\x00\x10\x80\xff\x01\x88\x21\x08\x00\x00\x00\x00\x00\x00\x00\x00\x98\x21\x08\x00\x00\x00\x00\x00\x00\x00\x00' \
    | seed channel_read bus-pair-tail-0
# queue: qhead (8192+256) = 24, past the first message
b '\x00\x00\x10\x80\xff\x01\x00\x21\x08\x18\x00\x00\x00\x00\x00\x00\x00' \
    | seed channel_read queue-qhead-24
# latest: latest_cur (8192+104) names slot 2, which holds version 2
b '\x04\x00\x10\x80\xff\x01\x68\x20\x08\x02\x02\x00\x00\x00\x00\x00\x00' \
    | seed channel_read latest-cur
# raw mode: a valid queue control block over the data area
{ b '\x00\x40\x10\x80\xff\x01'; tail -c +8193 /dev/shm/$n-q | head -c 4096; } \
    | seed channel_read raw-control-block
cp "$c"/channel_read/kind* "$c"/channel_read/bus-tail-0 "$c/channel_race/"
# race: flip the queue's capacity (8192+16) while reading
b '\x00\x00\x10\x80\xff\x01\x10\xa0\x08\x00\x00\x01\x00\x00\x00\x00\x00' \
    | seed channel_race flip-capacity
# race: flip the kind (8192+8) between queue (2) and latest (4)
b '\x00\x00\x10\x80\xff\x01\x08\xa0\x04\x04\x00\x00\x00' \
    | seed channel_race flip-kind
# race: flip the bus tail (8192+64)
b '\x02\x20\x10\x80\xff\x01\x40\xa0\x08\x00\x10\x00\x00\x00\x00\x00\x00' \
    | seed channel_race flip-tail

# ---- cli_parse: byte 0 picks the parser ----
for s in 64K 1G 0x10 99999999999999999999T 4096 1KiB 16tb 0 18014398509481983K; do
    b "\\x00$s" | seed cli_parse size-$s
done
b '\x010660' | seed cli_parse mode-0660
b '\x01777' | seed cli_parse mode-777
b '\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00120' \
    | seed cli_parse uint-120
b '\x031.5s' | seed cli_parse seconds-1.5s
b '\x03250ms' | seed cli_parse seconds-250ms
b '\x03.25' | seed cli_parse seconds-.25
b '\x04queue' | seed cli_parse kind-queue
b '\x04sysv:0x10' | seed cli_parse name-sysv
b '\x05\x00\x00\x00\x00\x00\x10\x00\x00' | seed cli_parse format-raw
b '\x0664K' | seed cli_parse all-64K
