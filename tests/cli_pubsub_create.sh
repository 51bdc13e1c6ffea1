#!/usr/bin/env bash
# create --kind queue|bus|latest makes persistent channels; info --json shows
# the channel object; top --once --json lists them with their readers; ls
# shows the kind; rm removes them.  Usage errors exit 2 and create nothing.
# Runs in a private mount+IPC namespace when it can.
. "$(dirname "$0")/cli_lib.sh"
[ "${SHMKIT_CLI_IN_NS:-}" = 1 ] || { cli_ns_available && cli_enter_ns "$@"; }
cli_init

PFX=$(uname_unique skt_psc)
leftovers() { find /dev/shm -mindepth 1 -maxdepth 1 -name "${PFX}*" -printf "%f\n"; }
on_exit 'for f in $(leftovers); do "$SHMKIT" rm -f "$f"; done'
BG=()
on_exit 'for p in "${BG[@]}"; do kill -KILL "$p"; done'

Q=${PFX}_q
B=${PFX}_b
L=${PFX}_l
X=${PFX}_x

# ---- usage errors: exit 2, nothing created --------------------------------
not_created() { [ ! -e "/dev/shm/$X" ] || fail "$1: a usage error created /dev/shm/$X"; }
expect_rc 2 "--kind without --capacity" "$SHMKIT" create "$X" --kind queue
err_has 'capacity' "--kind without --capacity"
err_has 'hint' "--kind without --capacity"
not_created "--kind without --capacity"
expect_rc 2 "--capacity without --kind" "$SHMKIT" create "$X" --capacity 64K
not_created "--capacity without --kind"
expect_rc 2 "--size with --kind" "$SHMKIT" create "$X" --kind bus --capacity 64K --size 64K
not_created "--size with --kind"
expect_rc 2 "--kind bogus" "$SHMKIT" create "$X" --kind bogus --capacity 64K
not_created "--kind bogus"
expect_rc 2 "--reliable on a queue" "$SHMKIT" create "$X" --kind queue --capacity 64K --reliable
not_created "--reliable on a queue"
expect_rc 2 "--multi-producer on a bus" "$SHMKIT" create "$X" --kind bus --capacity 64K --multi-producer
not_created "--multi-producer on a bus"
expect_rc 2 "--max-msg on a raw segment" "$SHMKIT" create "$X" --size 64K --max-msg 1K
not_created "--max-msg on a raw segment"
expect_rc 2 "--capacity 0" "$SHMKIT" create "$X" --kind queue --capacity 0
not_created "--capacity 0"
expect_rc 2 "--max-msg over half the capacity" "$SHMKIT" create "$X" --kind queue --capacity 4K --max-msg 3K
not_created "--max-msg over half the capacity"
expect_rc 2 "--capacity over 1 GiB" "$SHMKIT" create "$X" --kind bus --capacity 2G
not_created "--capacity over 1 GiB"
expect_rc 2 "pub --kind without --create" "$SHMKIT" pub "$X" --kind bus </dev/null
not_created "pub --kind without --create"
expect_rc 2 "sub --wait junk" "$SHMKIT" sub "$X" --wait soon
expect_rc 2 "top --interval 0" "$SHMKIT" top --once --interval 0

# ---- create ---------------------------------------------------------------
expect_rc 0 "create a queue" "$SHMKIT" create "$Q" --kind queue --capacity 64K --mode 0640
[ -e "/dev/shm/$Q" ] || fail "create --kind queue made no /dev/shm/$Q"
grep -q "^created /$Q (queue" "$T/out" || fail "create --kind queue did not name /$Q as ls does: $(cat "$T/out")"
expect_rc 1 "create it again (exclusive)" "$SHMKIT" create "$Q" --kind queue --capacity 64K
err_is_standard "create an existing channel"
expect_rc 0 "create a reliable bus" "$SHMKIT" create "$B" --kind bus --capacity 1M \
    --reliable --max-readers 8 --max-msg 4K
expect_rc 0 "create a latest" "$SHMKIT" create "$L" --kind latest --capacity 256

expect_rc 0 "info --json queue" "$SHMKIT" info "$Q" --json
json_check "$T/out" '
ck(d["kind"] == "queue", "kind %r" % d["kind"])
ck(d["persistent"] is True, "a created channel is persistent")
ck(d["mode"] == "0640", "mode %r" % d["mode"])
c = d.get("channel")
ck(isinstance(c, dict), "no channel object")
for k in ("kind", "reliable", "capacity", "max_msg", "messages", "bytes",
          "writer_pid", "writer_alive", "closed", "evictions",
          "producer_deaths", "readers"):
    ck(k in c, "channel lacks %s" % k)
ck(c["kind"] == "queue", "channel kind %r" % c["kind"])
ck(c["capacity"] == 65536, "capacity %r" % c["capacity"])
ck(c["max_msg"] == 16384, "max_msg %r (default: capacity / 4)" % c["max_msg"])
ck(c["messages"] == 0 and c["bytes"] == 0, "a new channel has messages")
ck(c["writer_pid"] == 0 and c["writer_alive"] is False, "writer %r %r" % (c["writer_pid"], c["writer_alive"]))
ck(c["closed"] is False, "closed")
ck(c["readers"] == [], "readers %r" % c["readers"])'

expect_rc 0 "info --json bus" "$SHMKIT" info "$B" --json
json_check "$T/out" '
c = d["channel"]
ck(d["kind"] == "bus" and c["kind"] == "bus", "kind")
ck(c["reliable"] is True, "reliable %r" % c["reliable"])
ck(c["capacity"] == 1 << 20, "capacity %r" % c["capacity"])
ck(c["max_msg"] == 4096, "max_msg %r" % c["max_msg"])
ck(c["max_readers"] == 8, "max_readers %r" % c["max_readers"])'

expect_rc 0 "info (text) latest" "$SHMKIT" info "$L"
out_has '^kind: +latest' "info latest"
out_has '^messages: +0' "info latest"

expect_rc 0 "ls --json" "$SHMKIT" ls --json
json_check "$T/out" "$CLI_PY_FIND"'
ck(find(d, a[0])["kind"] == "queue", "ls kind of the queue")
ck(find(d, a[1])["kind"] == "bus", "ls kind of the bus")
ck(find(d, a[2])["kind"] == "latest", "ls kind of the latest")' "$Q" "$B" "$L"

# ---- a live reader and some traffic, seen by info and top -----------------
"$SHMKIT" sub "$B" >"$T/b.out" 2>"$T/b.err" &
SUB=$!
BG+=("$SUB")
joined=0
for _ in $(seq 1 100); do
    "$SHMKIT" info "$B" --json >"$T/b.json" 2>/dev/null &&
        python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if any(r["alive"] for r in d["channel"]["readers"]) else 1)' "$T/b.json" &&
        { joined=1; break; }
    sleep 0.05
done
[ "$joined" = 1 ] || fail "the subscriber never showed up in info: $(cat "$T/b.err")"
expect_rc 0 "pub 10 lines on the bus" sh -c 'seq 1 10 | "$0" pub "$1" --lines' "$SHMKIT" "$B"
wait "$SUB" || fail "sub exited $? after pub closed the bus: $(cat "$T/b.err")"
[ "$(cat "$T/b.out")" = "$(seq 1 10)" ] || fail "the bus subscriber got $(head -c 200 "$T/b.out")"
expect_rc 0 "info --json bus after traffic" "$SHMKIT" info "$B" --json
json_check "$T/out" '
c = d["channel"]
ck(c["messages"] == 10, "messages %r" % c["messages"])
ck(c["bytes"] == 21, "bytes %r" % c["bytes"])
ck(c["closed"] is True, "closed %r" % c["closed"])'

# top sees a live reader: one more subscriber, held open
"$SHMKIT" sub "$Q" >/dev/null 2>"$T/q.err" &
SUBQ=$!
BG+=("$SUBQ")
for _ in $(seq 1 100); do
    "$SHMKIT" info "$Q" --json 2>/dev/null | grep -q '"alive": true' && break
    sleep 0.05
done
expect_rc 0 "top --once --json" "$SHMKIT" top --once --json
json_check "$T/out" "$CLI_PY_FIND"'
for o in d:
    for k in ("name", "kind", "messages", "bytes", "msgs_per_s", "bytes_per_s",
              "readers", "max_lag", "lost", "writer_pid", "writer_alive", "closed"):
        ck(k in o, "top entry lacks %s: %r" % (k, o))
q, b, l = find(d, a[0]), find(d, a[1]), find(d, a[2])
ck(q["kind"] == "queue" and b["kind"] == "bus" and l["kind"] == "latest", "kinds")
ck(q["readers"] == 1, "queue readers %r" % q["readers"])
ck(b["readers"] == 0, "bus readers %r" % b["readers"])
ck(b["messages"] == 10 and b["closed"] is True, "bus %r" % b)
ck(b["msgs_per_s"] == 0, "an idle bus has a rate: %r" % b["msgs_per_s"])' "$Q" "$B" "$L"
expect_rc 0 "top --once" "$SHMKIT" top --once
grep -q -- "$Q" "$T/out" || fail "top --once does not list $Q"
grep -q 'MSG/S' "$T/out" || fail "top --once has no MSG/S column"
kill -TERM "$SUBQ"
wait "$SUBQ" || fail "sub on the queue exited $? on SIGTERM"

# ---- rm ---------------------------------------------------------------------
expect_rc 0 "rm the channels" "$SHMKIT" rm "$Q" "$B" "$L"
for n in "$Q" "$B" "$L"; do
    [ ! -e "/dev/shm/$n" ] || fail "rm left /dev/shm/$n"
done
expect_rc 1 "info after rm" "$SHMKIT" info "$Q"
expect_rc 0 "top --once --json after rm" "$SHMKIT" top --once --json
json_check "$T/out" 'ck(not any(o["name"].lstrip("/").startswith(a[0]) for o in d), "top still lists a removed channel")' "$PFX"

[ -z "$(leftovers)" ] || fail "left in /dev/shm: $(leftovers | tr '\n' ' ')"
if [ "${SHMKIT_CLI_IN_NS:-}" = 1 ]; then
    [ -z "$(ls -A /dev/shm)" ] || fail "left in /dev/shm: $(ls -A /dev/shm)"
fi
echo "PASS"
exit 0
