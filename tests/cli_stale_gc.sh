#!/usr/bin/env bash
# Stale detection and gc: an owned segment whose creator was SIGKILLed is
# stale and gc removes it (posix and sysv); persistent segments and live owned
# segments are never touched; a helper that closes on SIGTERM removes its own
# segment.  doctor reports its checks.  Runs in a private mount+IPC namespace.
. "$(dirname "$0")/cli_lib.sh"
cli_enter_ns "$@"
cli_init
need_helper

# start_hold MODE NAME [SIZE]: starts the helper in the background; sets HPID.
start_hold() {
    local out="$T/hold.$RANDOM"
    "$CLI_HELPER" "$@" >"$out" 2>&1 &
    HPID=$!
    on_exit "kill -9 $HPID"
    wait_file "$out" '^ready' 5 || fail "helper '$*' did not get ready: $(cat "$out")"
}

# 1. A stale posix segment: owned, creator SIGKILLed.
S=$(uname_unique skt_stale)
on_exit "rm -f /dev/shm/$S"
start_hold hold "$S" 65536
DEADPID=$HPID
kill -9 "$DEADPID"; wait "$DEADPID" 2>/dev/null
[ -e "/dev/shm/$S" ] || fail "a SIGKILLed creator's segment vanished by itself"

# 2. A stale sysv segment.
KEY=$(rand_sysv_key)
on_exit "ipcrm -M $KEY"
start_hold hold "sysv:$KEY" 65536
DEADPID2=$HPID
kill -9 "$DEADPID2"; wait "$DEADPID2" 2>/dev/null
SHMID=$(shmid_of_key "$KEY")
[ -n "$SHMID" ] || fail "sysv:$KEY vanished when its creator was killed"

# 3. A persistent segment, with nobody attached.
P=$(uname_unique skt_pers)
on_exit "rm -f /dev/shm/$P"
expect_rc 0 "create persistent" "$SHMKIT" create "$P" --size 64K

# 4. A live owned segment, plus a second live attachee on the persistent one.
L=$(uname_unique skt_live)
on_exit "rm -f /dev/shm/$L"
start_hold hold "$L" 65536
LIVEPID=$HPID
start_hold attach "$P"
ATTPID=$HPID

# ls --json: stale flags and attached lists.
expect_rc 0 "ls --json" "$SHMKIT" ls --json
cp "$T/out" "$T/ls.json"
json_check "$T/ls.json" "$CLI_PY_FIND"'
def pids(o, alive):
    return [e.get("pid") for e in o.get("attached", []) if e.get("alive") is alive]
s = find(d, a[0])
ck(s.get("stale") is True, "killed creator: stale %r" % s.get("stale"))
ck(int(a[4]) in pids(s, False), "killed creator %s not listed with alive false: %r" % (a[4], s.get("attached")))
ck(not pids(s, True), "stale segment lists a live attachee: %r" % s.get("attached"))
k = find(d, a[1], a[5])
ck(k.get("stale") is True, "sysv, killed creator: stale %r" % k.get("stale"))
ck(not pids(k, True), "stale sysv segment lists a live attachee: %r" % k.get("attached"))
p = find(d, a[2])
ck(p.get("stale") is False, "persistent: stale %r" % p.get("stale"))
ck(int(a[7]) in pids(p, True), "attached helper %s not listed alive on persistent: %r" % (a[7], p.get("attached")))
l = find(d, a[3])
ck(l.get("stale") is False, "live owned: stale %r" % l.get("stale"))
ck(int(a[6]) in pids(l, True), "live creator %s not listed with alive true: %r" % (a[6], l.get("attached")))
ck(sum(1 for e in d if e.get("stale")) == 2, "stale entries: %r" % [e.get("name") for e in d if e.get("stale")])
' "$S" "sysv:$KEY" "$P" "$L" "$DEADPID" "$SHMID" "$LIVEPID" "$ATTPID"

# ls (text) flags the stale ones, and only them.
expect_rc 0 "ls" "$SHMKIT" ls
SNAME=$(ls_name_of "$S") || exit 1
KNAME=$(ls_name_of "sysv:$KEY" "$SHMID") || exit 1
PNAME=$(ls_name_of "$P") || exit 1
LNAME=$(ls_name_of "$L") || exit 1
ls_line_of "$SNAME" | grep -qi stale || fail "ls does not flag $SNAME as stale: $(ls_line_of "$SNAME")"
ls_line_of "$KNAME" | grep -qi stale || fail "ls does not flag $KNAME as stale: $(ls_line_of "$KNAME")"
ls_line_of "$PNAME" | grep -qi stale && fail "ls flags persistent $PNAME as stale"
ls_line_of "$LNAME" | grep -qi stale && fail "ls flags live $LNAME as stale"

# info --json agrees.
expect_rc 0 "info stale --json" "$SHMKIT" info "$SNAME" --json
json_check "$T/out" '
ck(d.get("stale") is True, "info: stale %r" % d.get("stale"))
ck(d.get("creator_pid") == int(a[0]), "info: creator_pid %r, wanted %s" % (d.get("creator_pid"), a[0]))
' "$DEADPID"

# gc --dry-run lists both stale segments and removes nothing.
expect_rc 0 "gc --dry-run" "$SHMKIT" gc --dry-run
grep -Fq -- "$S" "$T/out" || fail "gc --dry-run does not list $S"
grep -Fq -- "$KNAME" "$T/out" || grep -Fq -- "$((KEY))" "$T/out" ||
    fail "gc --dry-run does not list $KNAME"
grep -Fq -- "$P" "$T/out" && fail "gc --dry-run lists persistent $P"
grep -Fq -- "$L" "$T/out" && fail "gc --dry-run lists live $L"
[ -e "/dev/shm/$S" ] || fail "gc --dry-run removed $S"
[ -n "$(shmid_of_key "$KEY")" ] || fail "gc --dry-run removed sysv:$KEY"

# gc removes exactly the stale ones and names them.
expect_rc 0 "gc" "$SHMKIT" gc
grep -Fq -- "$S" "$T/out" || fail "gc does not print $S"
grep -Fq -- "$KNAME" "$T/out" || grep -Fq -- "$((KEY))" "$T/out" || fail "gc does not print $KNAME"
grep -Fq -- "$P" "$T/out" && fail "gc prints persistent $P"
grep -Fq -- "$L" "$T/out" && fail "gc prints live $L"
[ ! -e "/dev/shm/$S" ] || fail "gc left stale $S"
[ -z "$(shmid_of_key "$KEY")" ] || fail "gc left stale sysv:$KEY"
[ -e "/dev/shm/$P" ] || fail "gc removed persistent $P"
[ -e "/dev/shm/$L" ] || fail "gc removed live owned $L"

# A second gc finds nothing.
expect_rc 0 "gc again" "$SHMKIT" gc
grep -Fq -- "$P" "$T/out" && fail "second gc prints $P"
grep -Fq -- "$L" "$T/out" && fail "second gc prints $L"

# The live helpers close on SIGTERM: the owned segment goes with its last
# closer, the persistent one stays.
kill -TERM "$LIVEPID" "$ATTPID"
wait "$LIVEPID"; rc1=$?
wait "$ATTPID"; rc2=$?
[ "$rc1" -eq 0 ] || fail "hold helper exited $rc1 after SIGTERM"
[ "$rc2" -eq 0 ] || fail "attach helper exited $rc2 after SIGTERM"
[ ! -e "/dev/shm/$L" ] || fail "owned $L survived its last closer"
[ -e "/dev/shm/$P" ] || fail "persistent $P vanished when its attachee closed"
expect_rc 0 "info persistent after detach" "$SHMKIT" info "$P" --json
json_check "$T/out" '
ck(d.get("stale") is False, "persistent after detach: stale %r" % d.get("stale"))
ck(not [e for e in d.get("attached", []) if e.get("alive") is True],
   "persistent after detach lists a live attachee: %r" % d.get("attached"))
'
expect_rc 0 "gc with only a persistent segment" "$SHMKIT" gc
[ -e "/dev/shm/$P" ] || fail "gc removed persistent $P"

# doctor: exit 0 (all fine) or 1 (problems found); a line for each check.
run "$SHMKIT" doctor
[ "$RC" -eq 0 ] || [ "$RC" -eq 1 ] || fail "doctor exited $RC"
cat "$T/out" "$T/err" >"$T/doctor"
for pat in '/dev/shm' 'memlock' 'huge' 'shmmax' 'stale'; do
    grep -qi -- "$pat" "$T/doctor" || fail "doctor prints nothing about $pat: $(cat "$T/doctor")"
done

expect_rc 0 "rm persistent" "$SHMKIT" rm "$P"
[ -z "$(ls -A /dev/shm)" ] || fail "left in /dev/shm: $(ls -A /dev/shm)"
[ -z "$(ipcs -m | awk '$2 ~ /^[0-9]+$/')" ] || fail "left in ipcs -m: $(ipcs -m)"
echo "PASS"
exit 0
