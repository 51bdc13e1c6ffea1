#!/usr/bin/env bash
# pub/sub exit codes (DESIGN.md): 5 timed out, 4 the writer died without
# closing, 3 messages were lost; clean exits on --count and SIGTERM; and 2
# for a closed stdin (pub) or stdout (sub), with the channel untouched.
# Runs in a private mount+IPC namespace when it can.
. "$(dirname "$0")/cli_lib.sh"
[ "${SHMKIT_CLI_IN_NS:-}" = 1 ] || { cli_ns_available && cli_enter_ns "$@"; }
cli_init

PFX=$(uname_unique skt_pse)
leftovers() { find /dev/shm -mindepth 1 -maxdepth 1 -name "${PFX}*" -printf "%f\n"; }
on_exit 'for f in $(leftovers); do "$SHMKIT" rm -f "$f"; done'
# Background processes this script started, killed at exit (by pid).
BG=()
on_exit 'for p in "${BG[@]}"; do kill -KILL "$p"; done'

# ---- 5: sub on a channel that never appears -------------------------------
t0=$(date +%s%N)
expect_rc 5 "sub --wait 0.5 on a missing channel" "$SHMKIT" sub "${PFX}_missing" --wait 0.5
t1=$(date +%s%N)
err_is_standard "sub on a missing channel"
ms=$(( (t1 - t0) / 1000000 ))
[ "$ms" -ge 400 ] || fail "sub --wait 0.5 gave up after $ms ms"
[ "$ms" -lt 5000 ] || fail "sub --wait 0.5 took $ms ms"
[ ! -e "/dev/shm/${PFX}_missing" ] || fail "sub created the channel it waited for"

# ---- 5: pub --wait-readers with nobody coming ----------------------------
expect_rc 5 "pub --wait-readers 1 --timeout 0.5 without readers" \
    "$SHMKIT" pub "${PFX}_lonely" --create --wait-readers 1 --timeout 0.5 </dev/null
err_is_standard "pub --wait-readers timeout"
[ ! -e "/dev/shm/${PFX}_lonely" ] || fail "pub left its owned channel behind after the timeout"
# without --create the channel must exist
expect_rc 5 "pub on a missing channel" "$SHMKIT" pub "${PFX}_missing" --timeout 0.3 </dev/null
err_is_standard "pub on a missing channel"

# ---- 4: the writer is SIGKILLed; sub prints what was committed ------------
K=${PFX}_k
mkfifo "$T/fifo" || fail "mkfifo"
"$SHMKIT" pub "$K" --create --lines <"$T/fifo" 2>"$T/pubk.err" &
PUB=$!
BG+=("$PUB")
exec 3>"$T/fifo"
printf 'line one\nline two\n' >&3
"$SHMKIT" sub "$K" --wait 5 >"$T/k.out" 2>"$T/k.err" &
SUB=$!
BG+=("$SUB")
wait_file "$T/k.out" 'line two' 5 || fail "sub did not print what pub committed: $(cat "$T/k.out" "$T/k.err")"
{ kill -KILL "$PUB"; wait "$PUB"; } 2>/dev/null
exec 3>&-
wait "$SUB"
rc=$?
[ "$rc" -eq 4 ] || fail "sub whose writer was SIGKILLed exited $rc, wanted 4: $(cat "$T/k.err")"
[ "$(cat "$T/k.out")" = "$(printf 'line one\nline two')" ] || fail "sub printed $(od -c "$T/k.out" | head -3)"
grep -qi 'died' "$T/k.err" || fail "sub did not say the writer died: $(cat "$T/k.err")"
sleep 0.1
[ ! -e "/dev/shm/$K" ] || fail "the killed writer's owned channel was left behind after the last reader left"

# ---- 4: pub gives up part way (a line too long): not a clean end ----------
# (sub used to exit 0 on the cut-short stream, as if it were complete)
A=${PFX}_a
mkfifo "$T/afifo" || fail "mkfifo"
"$SHMKIT" pub "$A" --create --capacity 64K --max-msg 1K --lines <"$T/afifo" 2>"$T/puba.err" &
PUBA=$!
BG+=("$PUBA")
exec 4>"$T/afifo"
printf 'short one\nshort two\n' >&4
"$SHMKIT" sub "$A" --wait 5 >"$T/a.out" 2>"$T/a.err" &
SUBA=$!
BG+=("$SUBA")
wait_file "$T/a.out" 'short two' 5 || fail "sub did not print what pub sent: $(cat "$T/a.out" "$T/a.err")"
# pub gives up before it has read all of it: that write may meet a closed
# pipe, in a subshell of its own
( trap '' PIPE; head -c 4000 /dev/zero | tr '\0' x; printf '\n' ) >&4 2>/dev/null || true
exec 4>&-
wait "$PUBA"
rc=$?
[ "$rc" -eq 1 ] || fail "pub with a line over --max-msg exited $rc, wanted 1: $(cat "$T/puba.err")"
wait "$SUBA"
rc=$?
[ "$rc" -eq 4 ] || fail "sub of a pub that gave up part way exited $rc, wanted 4: $(cat "$T/a.err")"
[ "$(cat "$T/a.out")" = "$(printf 'short one\nshort two')" ] || fail "sub printed $(od -c "$T/a.out" | head -3)"
sleep 0.1
[ ! -e "/dev/shm/$A" ] || fail "the owned channel of a pub that gave up was left behind"

# ---- 3: a lossy bus, a subscriber stuck behind a slow pipe ---------------
B=${PFX}_b
head -c 32M /dev/urandom >"$T/in" || fail "cannot make random input"
slow_sub() {
    "$SHMKIT" sub "$B" --wait 10 2>"$T/b.err" | { sleep 2; cat >/dev/null; }
    echo "${PIPESTATUS[0]}" >"$T/b.rc"
}
slow_sub &
SLOW=$!
expect_rc 0 "pub on a lossy bus" "$SHMKIT" pub "$B" --create --kind bus --capacity 64K \
    --wait-readers 1 --timeout 10 <"$T/in"
wait "$SLOW"
[ "$(cat "$T/b.rc")" = 3 ] || fail "a lapped sub exited $(cat "$T/b.rc"), wanted 3: $(cat "$T/b.err")"
grep -Eq '^shmkit: warning: [1-9][0-9]* messages? lost' "$T/b.err" ||
    fail "a lapped sub did not say how many messages it lost: $(cat "$T/b.err")"

# ---- 0: --count, and SIGTERM -----------------------------------------------
C=${PFX}_c
expect_rc 0 "create a queue" "$SHMKIT" create "$C" --kind queue --capacity 64K
expect_rc 0 "pub 100 lines" sh -c 'seq 1 100 | "$0" pub "$1" --lines' "$SHMKIT" "$C"
run "$SHMKIT" sub "$C" --lines --count 3
[ "$RC" -eq 0 ] || fail "sub --count 3 exited $RC: $(cat "$T/err")"
[ "$(cat "$T/out")" = "$(seq 1 3)" ] || fail "sub --count 3 printed $(head -c 200 "$T/out")"
# the queue keeps the rest for the next reader
run "$SHMKIT" sub "$C" --lines
[ "$RC" -eq 0 ] || fail "second sub exited $RC: $(cat "$T/err")"
[ "$(cat "$T/out")" = "$(seq 4 100)" ] || fail "second sub printed $(head -c 200 "$T/out")"

S=${PFX}_s
expect_rc 0 "create a bus" "$SHMKIT" create "$S" --kind bus --capacity 64K
"$SHMKIT" sub "$S" >"$T/s.out" 2>"$T/s.err" &
SUB=$!
BG+=("$SUB")
for _ in $(seq 1 100); do
    "$SHMKIT" info "$S" --json >"$T/s.json" 2>/dev/null &&
        grep -q '"alive": true' "$T/s.json" && break
    sleep 0.05
done
kill -TERM "$SUB"
wait "$SUB"
rc=$?
[ "$rc" -eq 0 ] || fail "sub exited $rc on SIGTERM, wanted 0: $(cat "$T/s.err")"
expect_rc 0 "info after the reader left" "$SHMKIT" info "$S" --json
json_check "$T/out" 'ck(all(r["alive"] is not True for r in d["channel"]["readers"]), "a reader is still alive")'
expect_rc 0 "rm" "$SHMKIT" rm "$C" "$S"

# ---- 2: closed stdio ------------------------------------------------------
# Started with stdout closed, sub would take messages and lose them, and
# the segment could get fd 1 and its header our output: sub refuses, and
# the queue and its message are as they were.  pub with stdin closed
# refuses too (it read its own segment as input and hung).
# Not under valgrind: its log file takes the lowest free fd before shmkit
# starts, so shmkit never sees a closed stdin or stdout there.
if [ -z "${SHMKIT_VALGRIND_LOGDIR:-}" ]; then
Z=${PFX}_z
expect_rc 0 "create a queue" "$SHMKIT" create "$Z" --kind queue --capacity 4K
echo KEEP-ME | "$SHMKIT" pub "$Z" >/dev/null 2>&1 || fail "pub into $Z"
"$SHMKIT" sub "$Z" --wait 0 >&- 2>"$T/z.err"
rc=$?
[ "$rc" -eq 2 ] || fail "sub with stdout closed exited $rc, wanted 2"
grep -q "stdout is closed" "$T/z.err" || fail "sub >&-: $(cat "$T/z.err")"
"$SHMKIT" pub "$Z" <&- 2>"$T/z.err"
rc=$?
[ "$rc" -eq 2 ] || fail "pub with stdin closed exited $rc, wanted 2"
grep -q "stdin is closed" "$T/z.err" || fail "pub <&-: $(cat "$T/z.err")"
# stderr closed: an error of info goes nowhere, not into a segment
"$SHMKIT" info "$Z" --bogus 2>&-
expect_rc 0 "info after the closed-stdio runs" "$SHMKIT" info "$Z"
expect_rc 0 "sub after the closed-stdio runs" "$SHMKIT" sub "$Z" --wait 0
[ "$(cat "$T/out")" = KEEP-ME ] || fail "the queue lost its message: '$(cat "$T/out")'"
expect_rc 0 "rm" "$SHMKIT" rm "$Z"
fi

# ---- 1: a value too large for a latest ----------------------------------
# Each read is a value; one over the largest was cut into pieces that
# overwrote each other, and only the last piece was left, exit 0.
L=${PFX}_l
expect_rc 0 "create a latest" "$SHMKIT" create "$L" --kind latest --capacity 64
python3 -c 'import sys; sys.stdout.write("A" * 68)' >"$T/v68"
expect_rc 1 "pub of a 68-byte value into a 64-byte latest" "$SHMKIT" pub "$L" <"$T/v68"
grep -q "a value of more than 64 bytes" "$T/err" || fail "pub of a value too large: $(cat "$T/err")"
python3 -c 'import sys; sys.stdout.write("B" * 64)' >"$T/v64"
expect_rc 0 "pub of a 64-byte value" "$SHMKIT" pub "$L" <"$T/v64"
expect_rc 0 "sub of the value" "$SHMKIT" sub "$L" --count 1 --wait 0
cmp -s "$T/out" "$T/v64" || fail "the latest holds '$(head -c 80 "$T/out")', not the 64-byte value"
expect_rc 0 "rm" "$SHMKIT" rm "$L"

# ---- 1: stdout refuses the messages: a queue keeps them ----------------
# sub acknowledges only what stdout took (it once released 1000 small
# messages into its buffer, failed to write them, and they were gone).
if [ -w /dev/full ]; then
    F=${PFX}_f
    expect_rc 0 "create a queue" "$SHMKIT" create "$F" --kind queue --capacity 64K
    seq 1 1000 | "$SHMKIT" pub "$F" --lines --chunk 4K >/dev/null 2>&1 || fail "pub into $F"
    "$SHMKIT" sub "$F" --wait 0 --lines >/dev/full 2>"$T/f.err"
    rc=$?
    [ "$rc" -eq 1 ] || fail "sub > /dev/full exited $rc, wanted 1"
    grep -q "No space left" "$T/f.err" || fail "sub > /dev/full: $(cat "$T/f.err")"
    expect_rc 0 "sub after the failed one" "$SHMKIT" sub "$F" --wait 0 --lines
    seq 1 1000 | cmp - "$T/out" || fail "the queue lost messages stdout refused"
    expect_rc 0 "rm" "$SHMKIT" rm "$F"
fi

sleep 0.2
[ -z "$(leftovers)" ] || fail "left in /dev/shm: $(leftovers | tr '\n' ' ')"
if [ "${SHMKIT_CLI_IN_NS:-}" = 1 ]; then
    [ -z "$(ls -A /dev/shm)" ] || fail "left in /dev/shm: $(ls -A /dev/shm)"
fi
echo "PASS"
exit 0
