#!/usr/bin/env bash
# bench/pubsub.sh - moving a file: `shmkit pub Q < FILE` into
# `shmkit sub Q > /dev/null`, against `cat FILE | cat > /dev/null`.
#
# Both move the same bytes from one process to another and throw them away;
# both include starting their processes.  The file is read once first, so
# both read it from the page cache.  Runs alternate (cat, shmkit, cat, ...),
# and the medians are compared: a ratio within one run.
#
#   bench/pubsub.sh [--mib N] [--repeat R] [--shmkit PATH] [--dir DIR]
#
#   --mib N       file size in MiB (default 1024)
#   --repeat R    runs of each (default 7)
#   --shmkit P    the shmkit binary (default: ./build/shmkit, then PATH)
#   --dir DIR     where the file goes (default: $TMPDIR or /tmp)
#   --capacity C  the queue's capacity (default: pub's default)
#
# Exit status 0, or 1 when a run failed (nothing is left in /dev/shm).
set -euo pipefail

MIB=1024
REPEAT=7
SHMKIT=""
DIR=${TMPDIR:-/tmp}
CAP=""
while [ $# -gt 0 ]; do
    case $1 in
    --mib) MIB=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --shmkit) SHMKIT=$2; shift 2 ;;
    --dir) DIR=$2; shift 2 ;;
    --capacity) CAP=$2; shift 2 ;;
    -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "pubsub.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    esac
done
if [ -z "$SHMKIT" ]; then
    if [ -x ./build/shmkit ]; then SHMKIT=./build/shmkit
    else SHMKIT=$(command -v shmkit || true); fi
fi
[ -x "$SHMKIT" ] || { echo "pubsub.sh: no shmkit binary (build it, or --shmkit PATH)" >&2; exit 2; }

F=$(mktemp "$DIR/shmkit-pubsub.XXXXXX")
Q="/shmkit-pubsub-$$"
cleanup() {
    rm -f "$F"
    "$SHMKIT" rm -f "$Q" >/dev/null 2>&1 || true
}
trap cleanup EXIT
head -c "$((MIB * 1048576))" /dev/urandom >"$F"
cat "$F" >/dev/null # into the page cache

now() { date +%s%N; }
CAPOPT=()
[ -n "$CAP" ] && CAPOPT=(--capacity "$CAP")

run_cat() {
    local t0 t1
    t0=$(now)
    cat "$F" | cat >/dev/null
    t1=$(now)
    echo $((t1 - t0))
}
run_shmkit() {
    local t0 t1 sp
    t0=$(now)
    "$SHMKIT" sub "$Q" --wait 20 >/dev/null &
    sp=$!
    "$SHMKIT" pub "$Q" --create --wait-readers 1 --timeout 20 "${CAPOPT[@]}" ${PUBOPTS:-} <"$F"
    wait "$sp"
    t1=$(now)
    echo $((t1 - t0))
}
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

cats=() shm=()
for ((i = 0; i < REPEAT; i++)); do
    cats+=("$(run_cat)")
    shm+=("$(run_shmkit)")
done
mc=$(printf '%s\n' "${cats[@]}" | median)
ms=$(printf '%s\n' "${shm[@]}" | median)
awk -v mib="$MIB" -v mc="$mc" -v ms="$ms" -v r="$REPEAT" 'BEGIN {
    printf "file: %d MiB, %d runs each, medians\n", mib, r
    printf "cat FILE | cat > /dev/null            %8.1f ms  %6.2f GB/s\n", mc / 1e6, mib * 1048576 / mc
    printf "shmkit pub Q < FILE | sub Q > /dev/null %6.1f ms  %6.2f GB/s\n", ms / 1e6, mib * 1048576 / ms
    printf "ratio (cat time / shmkit time)        %8.2fx  (target >= 5x)\n", mc / ms
}'
if ls /dev/shm 2>/dev/null | grep -q "shmkit-pubsub-$$"; then
    echo "pubsub.sh: $Q was left in /dev/shm" >&2
    exit 1
fi
