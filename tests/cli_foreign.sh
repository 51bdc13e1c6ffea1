#!/usr/bin/env bash
# Interop with segments made by other tools (Python's SharedMemory, ipcmk):
# ls lists them as foreign, info refuses them saying why, rm removes them.
# Corrupt shmkit segments: info names the failed check.  Bytes shmkit writes
# at data_offset are what Python reads, and the other way round.
# Runs in a private mount+IPC namespace.
. "$(dirname "$0")/cli_lib.sh"
cli_enter_ns "$@"
cli_init
need_helper
command -v ipcmk >/dev/null 2>&1 || skip "ipcmk not found"
python3 -c 'from multiprocessing import shared_memory' 2>/dev/null ||
    skip "python3 has no multiprocessing.shared_memory"

# Python helper: create / open a SharedMemory without letting Python's
# resource tracker unlink it at exit.
PYSHM='
import sys
from multiprocessing import shared_memory, resource_tracker
def untrack(shm):
    try:
        resource_tracker.unregister(shm._name, "shared_memory")
    except Exception:
        pass
'

# ---------------------------------------------------------------- foreign
P=$(uname_unique skt_py)
on_exit "rm -f /dev/shm/$P"
py "$PYSHM"'
shm = shared_memory.SharedMemory(create=True, size=65536, name=sys.argv[1])
untrack(shm)
shm.buf[:5] = b"hello"
shm.close()
' "$P"
[ -f "/dev/shm/$P" ] || fail "python did not leave /dev/shm/$P"

ipcmk -M 65536 >"$T/ipcmk" 2>&1 || fail "ipcmk -M 65536 failed: $(cat "$T/ipcmk")"
SHMID=$(sed -n 's/.*Shared memory id: *\([0-9][0-9]*\).*/\1/p' "$T/ipcmk")
[ -n "$SHMID" ] || fail "cannot parse ipcmk output: $(cat "$T/ipcmk")"
on_exit "ipcrm -m $SHMID"
KEY=$(ipcs -m | awk -v id="$SHMID" '$2 == id { print $1; exit }')
[ -n "$KEY" ] || fail "ipcs -m does not show shmid $SHMID"

expect_rc 0 "ls" "$SHMKIT" ls
PYNAME=$(ls_name_of "$P") || exit 1
[ "$PYNAME" = "/$P" ] || fail "ls names the python segment '$PYNAME', wanted '/$P'"
if [ "$((KEY))" -ne 0 ]; then want="sysv:$KEY"; else want="sysv:id=$SHMID"; fi
SVNAME=$(ls_name_of "$want" "$SHMID") || exit 1

expect_rc 0 "ls --json" "$SHMKIT" ls --json
cp "$T/out" "$T/ls.json"
json_check "$T/ls.json" "$CLI_PY_FIND"'
o = find(d, "/" + a[0])
ck(o.get("name") == "/" + a[0], "name %r" % o.get("name"))
ck(o.get("backend") == "posix", "backend %r" % o.get("backend"))
ck(o.get("shmkit") is False, "python segment: shmkit %r" % o.get("shmkit"))
ck(o.get("kind") in (None, "-"), "python segment: kind %r" % o.get("kind"))
ck(o.get("size") == 65536, "python segment: size %r" % o.get("size"))
ck(o.get("mode") == "0600", "python segment: mode %r" % o.get("mode"))
ck(o.get("stale") is False, "a foreign segment is never stale: %r" % o.get("stale"))
s = find(d, a[1], a[2])
ck(s.get("backend") == "sysv", "ipcmk segment: backend %r" % s.get("backend"))
ck(s.get("shmkit") is False, "ipcmk segment: shmkit %r" % s.get("shmkit"))
ck(s.get("kind") in (None, "-"), "ipcmk segment: kind %r" % s.get("kind"))
ck(s.get("size") == 65536, "ipcmk segment: size %r" % s.get("size"))
ck(s.get("mode") == "0644", "ipcmk segment: mode %r (ipcmk default 0644)" % s.get("mode"))
ck(s.get("stale") is False, "a foreign segment is never stale: %r" % s.get("stale"))
' "$P" "$want" "$SHMID"

for n in "$PYNAME" "$SVNAME"; do
    expect_rc 1 "info on foreign $n" "$SHMKIT" info "$n"
    err_is_standard "info on foreign $n"
    err_has 'not a shmkit segment' "info on foreign $n"
done

expect_rc 0 "rm foreign" "$SHMKIT" rm "$PYNAME" "$SVNAME"
[ ! -e "/dev/shm/$P" ] || fail "rm left /dev/shm/$P"
ipcs -m | awk -v id="$SHMID" '$2 == id { f = 1 } END { exit !f }' &&
    fail "rm $SVNAME left shmid $SHMID in ipcs -m"

# A foreign object smaller than a header page.
S=$(uname_unique skt_small)
on_exit "rm -f /dev/shm/$S"
printf 'tiny' >"/dev/shm/$S"
expect_rc 1 "info on a 4-byte object" "$SHMKIT" info "$S"
err_is_standard "info on a 4-byte object"
err_has 'not a shmkit segment|truncated|too small' "info on a 4-byte object"
expect_rc 0 "ls with a 4-byte object" "$SHMKIT" ls --json
json_check "$T/out" "$CLI_PY_FIND"'
o = find(d, a[0])
ck(o.get("shmkit") is False and o.get("size") == 4, "tiny object: %r" % o)
' "$S"
rm -f "/dev/shm/$S"

# ---------------------------------------------------------------- corrupt
# Truncated: a shmkit segment whose object is cut below the header's size.
C=$(uname_unique skt_trunc)
on_exit "rm -f /dev/shm/$C"
expect_rc 0 "create (to truncate)" "$SHMKIT" create "$C" --size 64K
truncate -s 8192 "/dev/shm/$C"
expect_rc 1 "info on a truncated segment" "$SHMKIT" info "$C"
err_is_standard "info on a truncated segment"
err_has 'truncated' "info on a truncated segment"
rm -f "/dev/shm/$C"

# Version mismatch: format_version (uint32 at offset 8 of the header) = 99.
V=$(uname_unique skt_ver)
on_exit "rm -f /dev/shm/$V"
expect_rc 0 "create (to bump version)" "$SHMKIT" create "$V" --size 64K
py '
import struct, sys
with open("/dev/shm/" + sys.argv[1], "r+b") as f:
    f.seek(8); v, = struct.unpack("<I", f.read(4))
    assert v == 2, "format_version in the header is %d, expected 2" % v
    f.seek(8); f.write(struct.pack("<I", 99))
' "$V"
expect_rc 1 "info on a version-99 segment" "$SHMKIT" info "$V"
err_is_standard "info on a version-99 segment"
err_has 'version' "info on a version-99 segment"
rm -f "/dev/shm/$V"

# Bad magic on a full-size object: not a shmkit segment.
M=$(uname_unique skt_magic)
on_exit "rm -f /dev/shm/$M"
expect_rc 0 "create (to break magic)" "$SHMKIT" create "$M" --size 64K
printf 'XXXXXXXX' | dd of="/dev/shm/$M" bs=1 count=8 conv=notrunc status=none
expect_rc 1 "info on a bad-magic segment" "$SHMKIT" info "$M"
err_has 'not a shmkit segment' "info on a bad-magic segment"
rm -f "/dev/shm/$M"

# ---------------------------------------------------------------- data
D=$(uname_unique skt_data)
on_exit "rm -f /dev/shm/$D"
expect_rc 0 "create raw" "$SHMKIT" create "$D" --size 64K
expect_rc 0 "info --json raw" "$SHMKIT" info "$D" --json
OFF=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["data_offset"])' "$T/out") ||
    fail "info --json has no data_offset"
MSG="shmkit-to-python $$ $RANDOM"
expect_rc 0 "cli_helper write" "$CLI_HELPER" write "$D" "$MSG"
py "$PYSHM"'
name, off, msg = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
shm = shared_memory.SharedMemory(name=name, create=False)
untrack(shm)
got = bytes(shm.buf[off:off + len(msg)])
assert got == msg, "python read %r at data_offset %d, shmkit wrote %r" % (got, off, msg)
back = ("python-to-shmkit %s" % name).encode()
shm.buf[off + 1000:off + 1000 + len(back)] = back
shm.close()
' "$D" "$OFF" "$MSG"
expect_rc 0 "cli_helper read" "$CLI_HELPER" read "$D" $((1000 + ${#D} + 17))
got=$(tail -c +1001 "$T/out" | tr -d '\0')
[ "$got" = "python-to-shmkit $D" ] || fail "shmkit read '$got' where python wrote 'python-to-shmkit $D'"
expect_rc 0 "rm raw" "$SHMKIT" rm "$D"
[ ! -e "/dev/shm/$D" ] || fail "rm left /dev/shm/$D"

[ -z "$(ls -A /dev/shm)" ] || fail "left in /dev/shm: $(ls -A /dev/shm)"
[ -z "$(ipcs -m | awk '$2 ~ /^[0-9]+$/')" ] || fail "left in ipcs -m: $(ipcs -m)"
echo "PASS"
exit 0
