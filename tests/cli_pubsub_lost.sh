#!/usr/bin/env bash
# A subscriber of a lossy bus that is lapped is told exactly how many
# messages it missed: lines received + "N messages lost" == lines sent, both
# when it is lapped in mid-stream and when the writer finishes while it is
# still stuck (the loss at the very end of the stream counts too).
# Runs in a private mount+IPC namespace when it can.
. "$(dirname "$0")/cli_lib.sh"
[ "${SHMKIT_CLI_IN_NS:-}" = 1 ] || { cli_ns_available && cli_enter_ns "$@"; }
cli_init

PFX=$(uname_unique skt_psl)
leftovers() { find /dev/shm -mindepth 1 -maxdepth 1 -name "${PFX}*" -printf "%f\n"; }
on_exit 'for f in $(leftovers); do "$SHMKIT" rm -f "$f"; done'

N=200000
seq 1 "$N" >"$T/lines"

# slow_sub NAME TAG: sub --lines into a pipe that nobody reads for 1 s;
# leaves the exit status in $T/TAG.rc and the lines received in $T/TAG.n.
slow_sub() {
    "$SHMKIT" sub "$1" --lines --wait 10 2>"$T/$2.err" | { sleep 1; wc -l >"$T/$2.n"; }
    echo "${PIPESTATUS[0]}" >"$T/$2.rc"
}

check_count() {
    local tag=$1 what=$2 got lost
    [ "$(cat "$T/$tag.rc")" = 3 ] || fail "$what: sub exited $(cat "$T/$tag.rc"), wanted 3: $(cat "$T/$tag.err")"
    got=$(tr -d ' ' <"$T/$tag.n")
    lost=$(sed -n 's/^shmkit: warning: \([0-9]*\) messages\{0,1\} lost.*/\1/p' "$T/$tag.err")
    [ -n "$lost" ] || fail "$what: no loss count on stderr: $(cat "$T/$tag.err")"
    cli_log "$what: received $got, lost $lost, sent $N"
    [ $(( got + lost )) -eq "$N" ] || fail "$what: received $got + lost $lost != sent $N"
}

# Lapped in mid-stream: the writer goes on after the subscriber resumed.
B=${PFX}_mid
slow_sub "$B" mid &
S=$!
{ head -n $(( N / 2 )) "$T/lines"; sleep 2; tail -n +$(( N / 2 + 1 )) "$T/lines"; } |
    "$SHMKIT" pub "$B" --create --kind bus --capacity 64K --wait-readers 1 \
        --timeout 10 --lines 2>"$T/pubmid.err"
rc=${PIPESTATUS[1]}
[ "$rc" -eq 0 ] || fail "pub (mid-stream case) exited $rc: $(cat "$T/pubmid.err")"
wait "$S"
check_count mid "lossy bus, lapped mid-stream"

# Lapped at the end: the writer is done before the subscriber resumes.
for cap in 64K 4K; do
    B=${PFX}_$cap
    slow_sub "$B" "s$cap" &
    S=$!
    expect_rc 0 "pub --lines on a $cap lossy bus" "$SHMKIT" pub "$B" --create --kind bus \
        --capacity "$cap" --wait-readers 1 --timeout 10 --lines <"$T/lines"
    wait "$S"
    check_count "s$cap" "lossy bus of $cap"
done

sleep 0.2
[ -z "$(leftovers)" ] || fail "left in /dev/shm: $(leftovers | tr '\n' ' ')"
echo "PASS"
exit 0
