#!/usr/bin/env bash
# pub/sub carry a byte stream intact:
#  - random bytes through a queue (pub reads a regular file straight into the
#    ring) come out byte-identical;
#  - the same bytes through a reliable bus (pub reads a pipe) reach three
#    subscribers, each byte-identical;
#  - --lines: one message per line, and the lines come back as they went in;
#  - pub's default chunk is 256K, or an eighth of the ring when that is less
#    (less 24 bytes, at least 4K).
# Size: 256 MiB at SHMKIT_TEST_SCALE=1 (the default), 256 MiB * SCALE above.
# Runs in a private mount+IPC namespace when it can, so that nothing at all
# may be left in /dev/shm; otherwise checks its own names.
. "$(dirname "$0")/cli_lib.sh"
[ "${SHMKIT_CLI_IN_NS:-}" = 1 ] || { cli_ns_available && cli_enter_ns "$@"; }
cli_init

SCALE=${SHMKIT_TEST_SCALE:-1}
[[ "$SCALE" =~ ^[0-9]+$ ]] && [ "$SCALE" -ge 1 ] || SCALE=1
MIB=$(( 256 * SCALE ))

PFX=$(uname_unique skt_ps)
leftovers() { find /dev/shm -mindepth 1 -maxdepth 1 -name "${PFX}*" -printf "%f\n"; }
on_exit 'for f in $(leftovers); do "$SHMKIT" rm -f "$f"; done'

now() { date +%s.%N; }
secs() { python3 -c "import sys; print('%.2f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$2"; }

# sub_cmp NAME TAG [SUB OPTIONS...]: runs `shmkit sub NAME | cmp - $T/in` and
# leaves "SUB_RC CMP_RC" in $T/TAG.rc (run it in the background).
sub_cmp() {
    local name=$1 tag=$2
    shift 2
    "$SHMKIT" sub "$name" --wait 20 "$@" 2>"$T/$tag.err" | cmp - "$T/in" >"$T/$tag.cmp" 2>&1
    echo "${PIPESTATUS[0]} ${PIPESTATUS[1]}" >"$T/$tag.rc"
}

check_sub_cmp() {
    local tag=$1 what=$2 src crc
    [ -f "$T/$tag.rc" ] || fail "$what: the subscriber did not finish"
    read -r src crc <"$T/$tag.rc"
    [ "$src" = 0 ] || fail "$what: sub exited $src: $(head -c 2000 "$T/$tag.err")"
    [ "$crc" = 0 ] || fail "$what: output differs from the input: $(head -c 500 "$T/$tag.cmp")"
}

head -c "${MIB}M" /dev/urandom >"$T/in" || fail "cannot make $MIB MiB of random input"
[ "$(stat -c %s "$T/in")" -eq $(( MIB << 20 )) ] || fail "short random input"

# Baseline, for the log only (the machine may be busy: no assertion).
t0=$(now)
cat "$T/in" | cat >/dev/null
t1=$(now)
cli_log "cat FILE | cat > /dev/null, $MIB MiB: $(secs "$t0" "$t1") s"

# ---- queue: a regular file, read straight into the ring -------------------
Q=${PFX}_q
sub_cmp "$Q" q &
SUBQ=$!
t0=$(now)
run "$SHMKIT" pub "$Q" --create --wait-readers 1 --timeout 20 <"$T/in"
[ "$RC" -eq 0 ] || fail "queue: pub exited $RC: $(cat "$T/err")"
wait "$SUBQ"
t1=$(now)
check_sub_cmp q "queue, $MIB MiB"
cli_log "queue: pub < FILE | sub | cmp, $MIB MiB: $(secs "$t0" "$t1") s"

# ---- queue to /dev/null: the speed that matters against cat | cat --------
Q2=${PFX}_q2
"$SHMKIT" sub "$Q2" --wait 20 >/dev/null 2>"$T/q2.err" &
SUBQ2=$!
t0=$(now)
run "$SHMKIT" pub "$Q2" --create --wait-readers 1 --timeout 20 <"$T/in"
[ "$RC" -eq 0 ] || fail "queue 2: pub exited $RC: $(cat "$T/err")"
wait "$SUBQ2" || fail "queue 2: sub > /dev/null exited $?: $(cat "$T/q2.err")"
t1=$(now)
cli_log "queue: pub < FILE | sub > /dev/null, $MIB MiB: $(secs "$t0" "$t1") s"

# ---- reliable bus: a pipe, three subscribers ------------------------------
B=${PFX}_b
pids=()
for i in 1 2 3; do
    sub_cmp "$B" "b$i" &
    pids+=($!)
done
t0=$(now)
cat "$T/in" | "$SHMKIT" pub "$B" --create --kind bus --reliable \
    --wait-readers 3 --timeout 20 2>"$T/pubb.err"
rc=${PIPESTATUS[1]}
[ "$rc" -eq 0 ] || fail "reliable bus: pub exited $rc: $(cat "$T/pubb.err")"
for p in "${pids[@]}"; do wait "$p"; done
t1=$(now)
for i in 1 2 3; do
    check_sub_cmp "b$i" "reliable bus, subscriber $i, $MIB MiB"
done
cli_log "reliable bus: cat FILE | pub | 3 x (sub | cmp), $MIB MiB: $(secs "$t0" "$t1") s"

# ---- --lines round trip ---------------------------------------------------
# A persistent queue holds the lines until the subscriber comes: no race.
python3 - "$T/lines.in" <<'EOF' || fail "cannot write the lines"
import random, sys
random.seed(7)
with open(sys.argv[1], "wb") as f:
    for i in range(20000):
        n = random.choice([0, 0, 1, 5, 17, 80, 300, 2000])
        f.write(bytes(random.choice(b"abcdefghij \t\x01\xff") for _ in range(n)) + b"\n")
EOF
nlines=$(wc -l <"$T/lines.in")
L=${PFX}_l
expect_rc 0 "create a queue for --lines" "$SHMKIT" create "$L" --kind queue --capacity 32M
expect_rc 0 "pub --lines" "$SHMKIT" pub "$L" --lines <"$T/lines.in"
expect_rc 0 "info --json after pub --lines" "$SHMKIT" info "$L" --json
json_check "$T/out" 'c = d["channel"]
ck(c["messages"] == int(a[0]), "messages %r, lines %s" % (c["messages"], a[0]))
ck(c["closed"] is True, "pub did not close the channel")' "$nlines"
run "$SHMKIT" sub "$L" --lines --wait 5
[ "$RC" -eq 0 ] || fail "sub --lines exited $RC: $(cat "$T/err")"
cmp -s "$T/out" "$T/lines.in" || fail "--lines: the lines came back changed"

# A last line without a newline: --lines adds one on the way out, and a line
# longer than the largest message is an error with a hint.
expect_rc 0 "pub --lines, no final newline" sh -c 'printf "one\n\ntwo" | "$0" pub "$1" --lines' "$SHMKIT" "$L"
run "$SHMKIT" sub "$L" --lines --wait 5
[ "$RC" -eq 0 ] || fail "sub --lines (2) exited $RC"
[ "$(cat "$T/out")" = "$(printf 'one\n\ntwo')" ] || fail "--lines: got $(od -c "$T/out" | head -3)"
[ "$(tail -c 1 "$T/out" | od -An -c | tr -d ' ')" = '\n' ] || fail "--lines did not end the last message with a newline"
expect_rc 0 "rm the --lines queue" "$SHMKIT" rm "$L"
python3 -c 'import sys; sys.stdout.write("short\n" + "x" * 70000 + "\n")' >"$T/long"
expect_rc 0 "create a small queue" "$SHMKIT" create "$L" --kind queue --capacity 64K --max-msg 16K
expect_rc 1 "pub --lines with a line longer than max_msg" "$SHMKIT" pub "$L" --lines <"$T/long"
err_is_standard "pub --lines with a long line"
err_has 'max-msg' "pub --lines with a long line"
expect_rc 0 "rm the small queue" "$SHMKIT" rm "$L"

# ---- the default chunk: 256K, at most an eighth of the ring ----------------
# (a 1M ring in 256K messages holds three, and pub waits for room).  An
# eighth of a 1M ring less 24 bytes is 131048: 512K is 4 of them and 96
# bytes; of a 64K ring 8168: 32K is 4 of them and 96 bytes.
head -c 512K "$T/in" >"$T/f512k"
head -c 32K "$T/in" >"$T/f32k"
C=${PFX}_c
for spec in "1M - 512k 5" "1M 256K 512k 2" "4M - 512k 2" "64K - 32k 5"; do
    read -r cap chunk file want <<<"$spec"
    expect_rc 0 "create a $cap queue" "$SHMKIT" create "$C" --kind queue --capacity "$cap"
    if [ "$chunk" = - ]; then
        expect_rc 0 "pub $file into a $cap queue" "$SHMKIT" pub "$C" <"$T/f$file"
    else
        expect_rc 0 "pub $file into a $cap queue, --chunk $chunk" "$SHMKIT" pub "$C" --chunk "$chunk" <"$T/f$file"
    fi
    expect_rc 0 "info --json, $cap queue" "$SHMKIT" info "$C" --json
    json_check "$T/out" 'c = d["channel"]
ck(c["messages"] == int(a[0]), "%s: messages %r, want %s" % (a[1], c["messages"], a[0]))
ck(c["bytes"] == int(a[2]), "bytes %r" % c["bytes"])' "$want" "$spec" "$(stat -c %s "$T/f$file")"
    expect_rc 0 "rm the $cap queue" "$SHMKIT" rm "$C"
done

# Nothing may be left behind.
sleep 0.2
[ -z "$(leftovers)" ] || fail "left in /dev/shm: $(leftovers | tr '\n' ' ')"
if [ "${SHMKIT_CLI_IN_NS:-}" = 1 ]; then
    [ -z "$(ls -A /dev/shm)" ] || fail "left in /dev/shm: $(ls -A /dev/shm)"
fi
echo "PASS"
exit 0
