#!/usr/bin/env bash
# shmkit demo: exits 0 within 20 s, talks about its readers, and leaves no
# segment behind.  Runs in a private mount+IPC namespace when it can (then
# nothing at all may be left); otherwise compares /dev/shm names containing
# "demo" before and after.
. "$(dirname "$0")/cli_lib.sh"
[ "${SHMKIT_CLI_IN_NS:-}" = 1 ] || { cli_ns_available && cli_enter_ns "$@"; }
cli_init

list_demo() { find /dev/shm -mindepth 1 -maxdepth 1 -iname "*demo*" -printf "%f\n" | sort; }
list_sysv() { ipcs -m | awk '$2 ~ /^[0-9]+$/ { print $1, $2 }' | sort; }
list_demo >"$T/before"
list_sysv >"$T/sysv.before"
if [ "${SHMKIT_CLI_IN_NS:-}" = 1 ]; then
    [ -z "$(ls -A /dev/shm)" ] || fail "the fresh /dev/shm is not empty"
fi

start=$(date +%s)
timeout 20 "$SHMKIT" demo >"$T/out" 2>"$T/err"
RC=$?
elapsed=$(( $(date +%s) - start ))
[ "$RC" -ne 124 ] || fail "shmkit demo did not finish within 20 s"
[ "$RC" -eq 0 ] || fail "shmkit demo exited $RC"
cat "$T/out" "$T/err" | grep -qi reader || fail "shmkit demo says nothing about readers"
echo "# demo took ${elapsed}s" >&2

# --name of a channel that exists: refused (exit 1) before anything is
# sent, and the channel is left as it was (it once took it over, wrote 6000
# records into it and removed it).
X=$(uname_unique skt_demo_taken)
on_exit '"$SHMKIT" rm -f "$X"'
"$SHMKIT" create "$X" --kind bus --capacity 4K >/dev/null || fail "create $X"
timeout 20 "$SHMKIT" demo --seconds 0.2 --name "$X" >"$T/out2" 2>"$T/err2"
RC=$?
[ "$RC" -eq 1 ] || fail "demo --name on an existing bus exited $RC, wanted 1"
grep -q "File exists" "$T/err2" || fail "demo --name on an existing bus: $(cat "$T/err2")"
"$SHMKIT" info "$X" --json >"$T/x.json" || fail "demo removed the bus it was given"
grep -q '"messages": 0' "$T/x.json" || fail "demo wrote into the bus it was given: $(grep messages "$T/x.json")"
"$SHMKIT" rm "$X" || fail "rm $X"

# No demo process left running in the background.
sleep 0.2
pgrep -f "$SHMKIT demo" >/dev/null 2>&1 && fail "a 'shmkit demo' process is still running"

list_demo >"$T/after"
cmp -s "$T/before" "$T/after" || fail "demo left in /dev/shm: $(comm -13 "$T/before" "$T/after" | tr '\n' ' ')"
list_sysv >"$T/sysv.after"
if [ "${SHMKIT_CLI_IN_NS:-}" = 1 ]; then
    [ -z "$(ls -A /dev/shm)" ] || fail "demo left in /dev/shm: $(ls -A /dev/shm)"
    cmp -s "$T/sysv.before" "$T/sysv.after" || fail "demo left SysV segments: $(cat "$T/sysv.after")"
fi
echo "PASS"
exit 0
