#!/usr/bin/env bash
# create / ls / info / rm on posix, sysv and file: segments, text and JSON.
# Runs in a private mount+IPC namespace: ls sees only this test's segments.
. "$(dirname "$0")/cli_lib.sh"
cli_enter_ns "$@"
cli_init
MYUID=$(id -u)

# ---------------------------------------------------------------- posix
N=$(uname_unique skt_seg)
on_exit "rm -f /dev/shm/$N"
expect_rc 0 "create posix" "$SHMKIT" create "$N" --size 1M --mode 0640
[ -f "/dev/shm/$N" ] || fail "create posix: /dev/shm/$N does not exist"
[ "$(stat -c %a "/dev/shm/$N")" = 640 ] || fail "/dev/shm/$N has mode $(stat -c %a "/dev/shm/$N"), wanted 640"
[ "$(stat -c %s "/dev/shm/$N")" -ge 1048576 ] || fail "/dev/shm/$N is smaller than 1 MiB"

# ls (text): one line names it; its NAME column works with info and rm.
expect_rc 0 "ls" "$SHMKIT" ls
LSNAME=$(ls_name_of "$N") || exit 1
line=$(ls_line_of "$LSNAME")
echo "$line" | grep -Eq '0640|rw-r-----' || fail "ls line does not show mode 0640: $line"
echo "$line" | grep -qw raw || fail "ls line does not show kind raw: $line"

# ls --json
expect_rc 0 "ls --json" "$SHMKIT" ls --json
cp "$T/out" "$T/ls.json"
json_check "$T/ls.json" "$CLI_PY_FIND"'
o = find(d, a[0])
ck(o.get("backend") == "posix", "backend %r" % o.get("backend"))
ck(type(o.get("size")) is int and o["size"] >= 1048576, "size %r" % o.get("size"))
ck(o.get("mode") == "0640", "mode %r (want the string \"0640\")" % o.get("mode"))
ck(type(o.get("uid")) is int and o["uid"] == int(a[1]), "uid %r" % o.get("uid"))
ck(o.get("shmkit") is True, "shmkit %r" % o.get("shmkit"))
ck(o.get("kind") == "raw", "kind %r" % o.get("kind"))
ck(o.get("stale") is False, "stale %r" % o.get("stale"))
ck(isinstance(o.get("attached"), list), "attached %r" % o.get("attached"))
for e in o["attached"]:
    ck(isinstance(e, dict) and type(e.get("pid")) is int and e.get("alive") in (True, False, None),
       "attached entry %r" % e)
# every entry has the required fields
for e in d:
    for k in ("name", "backend", "size", "mode", "uid", "shmkit", "kind", "attached", "stale"):
        ck(k in e, "entry %r lacks %s" % (e.get("name"), k))
' "$N" "$MYUID"

# info NAME --json (with the name ls printed)
expect_rc 0 "info --json ($LSNAME)" "$SHMKIT" info "$LSNAME" --json
cp "$T/out" "$T/info.json"
json_check "$T/info.json" '
for k in ("name","backend","size","mode","uid","format_version","kind","data_offset",
          "data_size","creator_pid","attached","stale"):
    ck(k in d, "info --json lacks %s" % k)
ck(d["backend"] == "posix", "backend %r" % d["backend"])
ck(d["name"].lstrip("/") == a[0], "name %r" % d["name"])
ck(d["mode"] == "0640", "mode %r" % d["mode"])
ck(d["kind"] == "raw", "kind %r" % d["kind"])
ck(type(d["uid"]) is int and d["uid"] == int(a[1]), "uid %r" % d["uid"])
ck(type(d["format_version"]) is int and d["format_version"] >= 1, "format_version %r" % d["format_version"])
ck(type(d["size"]) is int and d["size"] >= 1048576, "size %r" % d["size"])
ck(type(d["data_offset"]) is int and d["data_offset"] >= 4096 and d["data_offset"] % 4096 == 0,
   "data_offset %r (want a whole number of pages, the header)" % d["data_offset"])
ck(type(d["data_size"]) is int and d["data_size"] >= 1048576, "data_size %r (asked for 1M of data)" % d["data_size"])
ck(d["data_offset"] + d["data_size"] == d["size"], "data_offset + data_size != size")
ck(type(d["creator_pid"]) is int and d["creator_pid"] > 0, "creator_pid %r" % d["creator_pid"])
ck(isinstance(d["attached"], list), "attached %r" % d["attached"])
ck(d["stale"] is False, "a persistent segment is stale: %r" % d["stale"])
' "$N" "$MYUID"
[ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["size"])' "$T/info.json")" \
    = "$(stat -c %s "/dev/shm/$N")" ] || fail "info size differs from the size of /dev/shm/$N"

# info (text) works too, with and without the leading slash.
expect_rc 0 "info (text)" "$SHMKIT" info "$N"
out_has 'raw' "info (text)"
expect_rc 0 "info /NAME" "$SHMKIT" info "/$N"

# create is exclusive.
expect_rc 1 "create existing" "$SHMKIT" create "$N" --size 1M
err_is_standard "create existing"
err_has 'exist' "create existing"

# rm (with the ls name), then info says it does not exist.
expect_rc 0 "rm $LSNAME" "$SHMKIT" rm "$LSNAME"
[ ! -e "/dev/shm/$N" ] || fail "rm left /dev/shm/$N"
expect_rc 1 "info after rm" "$SHMKIT" info "$N"
err_is_standard "info after rm"
err_has 'ENOENT|no such|does not exist|not found' "info after rm"
expect_rc 1 "rm again" "$SHMKIT" rm "$N"
err_is_standard "rm of a missing segment"

# ---------------------------------------------------------------- sysv
command -v ipcs >/dev/null 2>&1 || fail "ipcs not found"
KEY=$(rand_sysv_key)
on_exit "ipcrm -M $KEY"
expect_rc 0 "create sysv" "$SHMKIT" create "sysv:$KEY" --size 1M --mode 0640
SHMID=$(shmid_of_key "$KEY")
[ -n "$SHMID" ] || fail "create sysv:$KEY: not in ipcs -m"
ipcs -m | awk -v id="$SHMID" '$2 == id { print $4, $5 }' >"$T/ipcs"
read -r perms bytes <"$T/ipcs"
[ "$perms" = 640 ] || fail "ipcs says perms $perms for sysv:$KEY, wanted 640"
[ "$bytes" -ge 1048576 ] || fail "ipcs says $bytes bytes for sysv:$KEY"

expect_rc 0 "ls (sysv)" "$SHMKIT" ls
SVNAME=$(ls_name_of "sysv:$KEY" "$SHMID") || exit 1
line=$(ls_line_of "$SVNAME")
echo "$line" | grep -Eq '0640|rw-r-----' || fail "ls line does not show mode 0640: $line"
echo "$line" | grep -qw raw || fail "ls line does not show kind raw: $line"

expect_rc 0 "ls --json (sysv)" "$SHMKIT" ls --json
cp "$T/out" "$T/ls.json"
json_check "$T/ls.json" "$CLI_PY_FIND"'
o = find(d, a[0], a[1])
ck(o.get("backend") == "sysv", "backend %r" % o.get("backend"))
ck(o.get("size") == int(a[2]), "size %r, ipcs says %s" % (o.get("size"), a[2]))
ck(o.get("mode") == "0640", "mode %r" % o.get("mode"))
ck(o.get("shmkit") is True and o.get("kind") == "raw", "shmkit/kind %r/%r" % (o.get("shmkit"), o.get("kind")))
ck(o.get("stale") is False, "stale %r" % o.get("stale"))
ck(sum(1 for e in d if e.get("backend") == "sysv") == 1, "ls shows other sysv segments than ours")
' "sysv:$KEY" "$SHMID" "$bytes"

expect_rc 0 "info --json $SVNAME" "$SHMKIT" info "$SVNAME" --json
cp "$T/out" "$T/info.json"
json_check "$T/info.json" '
ck(d.get("backend") == "sysv", "backend %r" % d.get("backend"))
ck(d.get("kind") == "raw" and d.get("mode") == "0640", "kind/mode %r/%r" % (d.get("kind"), d.get("mode")))
ck(type(d.get("data_offset")) is int and d["data_offset"] >= 4096 and d["data_offset"] % 4096 == 0,
   "data_offset %r" % d.get("data_offset"))
ck(d["data_size"] >= 1048576, "data_size %r (asked for 1M of data)" % d["data_size"])
ck(d["data_offset"] + d["data_size"] == d["size"], "data_offset + data_size != size")
ck(d.get("stale") is False, "stale %r" % d.get("stale"))
'
# The other spellings of the same segment work too.
expect_rc 0 "info sysv:id=$SHMID" "$SHMKIT" info "sysv:id=$SHMID"
expect_rc 0 "info sysv:$((KEY)) (decimal)" "$SHMKIT" info "sysv:$((KEY))"

expect_rc 1 "create existing sysv" "$SHMKIT" create "sysv:$KEY" --size 1M
err_is_standard "create existing sysv"

expect_rc 0 "rm $SVNAME" "$SHMKIT" rm "$SVNAME"
[ -z "$(shmid_of_key "$KEY")" ] || fail "rm $SVNAME left key $KEY in ipcs -m"
expect_rc 1 "info sysv after rm" "$SHMKIT" info "sysv:$KEY"
err_is_standard "info sysv after rm"
err_has 'ENOENT|no such|does not exist|not found' "info sysv after rm"

# rm by id form
KEY2=$(rand_sysv_key)
on_exit "ipcrm -M $KEY2"
expect_rc 0 "create sysv 2" "$SHMKIT" create "sysv:$KEY2" --size 64K
SHMID2=$(shmid_of_key "$KEY2")
[ -n "$SHMID2" ] || fail "create sysv:$KEY2: not in ipcs -m"
expect_rc 0 "rm sysv:id=$SHMID2" "$SHMKIT" rm "sysv:id=$SHMID2"
[ -z "$(shmid_of_key "$KEY2")" ] || fail "rm sysv:id=$SHMID2 left it in ipcs -m"

# ---------------------------------------------------------------- file
F="$T/$(uname_unique skt_file)"
on_exit "rm -f '$F'"
expect_rc 0 "create file:" "$SHMKIT" create "file:$F" --size 1M --mode 0640
[ -f "$F" ] || fail "create file:$F made no file"
[ "$(stat -c %a "$F")" = 640 ] || fail "file:$F has mode $(stat -c %a "$F")"
expect_rc 0 "info file: --json" "$SHMKIT" info "file:$F" --json
cp "$T/out" "$T/info.json"
json_check "$T/info.json" '
ck(d.get("backend") == "file", "backend %r" % d.get("backend"))
ck(d.get("name") == "file:" + a[0], "name %r" % d.get("name"))
ck(d.get("kind") == "raw" and d.get("mode") == "0640", "kind/mode %r/%r" % (d.get("kind"), d.get("mode")))
ck(type(d.get("data_offset")) is int and d["data_offset"] >= 4096 and d["data_offset"] % 4096 == 0,
   "data_offset %r" % d.get("data_offset"))
ck(d["data_size"] >= 1048576, "data_size %r (asked for 1M of data)" % d["data_size"])
ck(d["data_offset"] + d["data_size"] == d["size"], "data_offset + data_size != size")
ck(d["size"] >= 1048576, "size %r" % d["size"])
' "$F"
expect_rc 1 "create existing file:" "$SHMKIT" create "file:$F" --size 1M
err_is_standard "create existing file:"
expect_rc 0 "rm file:" "$SHMKIT" rm "file:$F"
[ ! -e "$F" ] || fail "rm file:$F left the file"
expect_rc 1 "info file: after rm" "$SHMKIT" info "file:$F"
err_has 'ENOENT|no such|does not exist|not found' "info file: after rm"
# rm file: of a file that is not a segment: refused, the file stays; info
# does not suggest removing it
echo "not a segment" >"$F"
expect_rc 1 "rm file: of a plain file" "$SHMKIT" rm "file:$F"
err_has 'not a shmkit segment' "rm file: of a plain file"
[ -f "$F" ] || fail "rm file: removed a file that is not a segment"
expect_rc 1 "info file: of a plain file" "$SHMKIT" info "file:$F"
grep -q "shmkit rm" "$T/err" && fail "info suggests removing a plain file: $(cat "$T/err")"
rm -f "$F"
expect_rc 1 "create file: in a missing directory" "$SHMKIT" create "file:$T/no-such-dir/x" --size 4K
err_has 'does not exist' "create file: in a missing directory"
# rm of a bad name is bad usage (2), like info
expect_rc 2 "rm of an empty name" "$SHMKIT" rm ""
expect_rc 2 "rm a/b" "$SHMKIT" rm "a/b"
# rm -f of a SysV id that is gone is not an error (it was EINVAL)
expect_rc 0 "create sysv 3" "$SHMKIT" create "sysv:$KEY2" --size 64K
SHMID3=$(shmid_of_key "$KEY2")
expect_rc 0 "rm sysv:id=$SHMID3" "$SHMKIT" rm "sysv:id=$SHMID3"
expect_rc 0 "rm -f sysv:id=$SHMID3 again" "$SHMKIT" rm -f "sysv:id=$SHMID3"

# a /dev/shm name longer than shmkit takes is listed all the same, by its
# start (it was left out of ls and ls --json)
LONG=skt_long_$$_$(printf 'x%.0s' $(seq 1 250))
LONG=${LONG:0:250} # fixed length, whatever the pid: 250 < NAME_MAX
on_exit "rm -f '/dev/shm/$LONG'"
: >"/dev/shm/$LONG" || fail "cannot make a long name in /dev/shm"
expect_rc 0 "ls with a long name" "$SHMKIT" ls
grep -q "^/${LONG:0:200}" "$T/out" || fail "ls left out a long name"
expect_rc 0 "ls --json with a long name" "$SHMKIT" ls --json
json_check "$T/out" '
ck(any(e["name"].startswith("/" + a[0][:200]) and e["name"].endswith("...") for e in d), "no entry for the long name")
' "$LONG"
rm -f "/dev/shm/$LONG"

# rm of several names at once.
A=$(uname_unique skt_rmA); B=$(uname_unique skt_rmB)
on_exit "rm -f /dev/shm/$A /dev/shm/$B"
expect_rc 0 "create A" "$SHMKIT" create "$A" --size 64K
expect_rc 0 "create B" "$SHMKIT" create "$B" --size 64K
expect_rc 0 "rm A B" "$SHMKIT" rm "$A" "/$B"
[ ! -e "/dev/shm/$A" ] && [ ! -e "/dev/shm/$B" ] || fail "rm A B left one of them"

# Nothing left behind.
[ -z "$(ls -A /dev/shm)" ] || fail "left in /dev/shm: $(ls -A /dev/shm)"
[ -z "$(ipcs -m | awk '$2 ~ /^[0-9]+$/')" ] || fail "left in ipcs -m: $(ipcs -m)"
echo "PASS"
exit 0
