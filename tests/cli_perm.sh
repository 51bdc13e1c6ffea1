#!/usr/bin/env bash
# Permissions: the default mode 0600 keeps other users out, with an error that
# says so and a hint naming --mode/--group; --mode 0660 --group G lets members
# of G in, and only them.  Needs root (to become uid 65534 with setpriv).
. "$(dirname "$0")/cli_lib.sh"
[ "$(id -u)" -eq 0 ] || skip "needs root"
command -v setpriv >/dev/null 2>&1 || skip "setpriv not found"
cli_init

NOBODY="setpriv --reuid 65534 --regid 65534"
$NOBODY --clear-groups "$SHMKIT" --version >/dev/null 2>&1 ||
    skip "uid 65534 cannot run $SHMKIT (setpriv failed or the build dir is not readable)"

# Default mode 0600: another user is refused.
N=$(uname_unique skt_perm)
on_exit "rm -f /dev/shm/$N"
expect_rc 0 "create default mode" "$SHMKIT" create "$N" --size 64K
[ "$(stat -c %a "/dev/shm/$N")" = 600 ] || fail "default mode is $(stat -c %a "/dev/shm/$N"), wanted 600"
expect_rc 0 "info --json (owner)" "$SHMKIT" info "$N" --json
json_check "$T/out" 'ck(d.get("mode") == "0600", "mode %r" % d.get("mode"))'
expect_rc 1 "info as uid 65534 on a 0600 segment" $NOBODY --clear-groups "$SHMKIT" info "$N"
err_is_standard "info as another user"
err_has 'permission|EACCES' "info as another user"
grep -i hint "$T/err" | grep -q -- '--mode' || fail "the hint does not mention --mode"
grep -i hint "$T/err" | grep -q -- '--group' || fail "the hint does not mention --group"
# Nothing was changed by the refused call.
[ "$(stat -c '%a %u' "/dev/shm/$N")" = "600 0" ] || fail "refused info changed /dev/shm/$N"
# rm by another user is refused too (sticky /dev/shm), and the segment stays.
if [ -k /dev/shm ]; then
    expect_rc 1 "rm as uid 65534" $NOBODY --clear-groups "$SHMKIT" rm "$N"
    err_is_standard "rm as another user"
    [ -e "/dev/shm/$N" ] || fail "uid 65534 removed root's 0600 segment"
    err_has 'only its owner' "rm as another user (the hint: a sticky directory)"
fi
# ls as another user: a segment it may not read is '?', not "not shmkit's"
expect_rc 0 "ls --json as uid 65534" $NOBODY --clear-groups "$SHMKIT" ls --json
json_check "$T/out" '
e = [x for x in d if x["name"] == "/" + a[0]]
ck(len(e) == 1, "ls as another user: %d entries for the segment" % len(e))
ck(e[0]["shmkit"] is None, "an unreadable segment is listed as shmkit %r" % e[0]["shmkit"])
' "$N"

# --mode 0660 --group 12345: members of 12345 get in, others do not.
N2=$(uname_unique skt_perm2)
on_exit "rm -f /dev/shm/$N2"
expect_rc 0 "create --mode 0660 --group 12345" "$SHMKIT" create "$N2" --size 64K --mode 0660 --group 12345
[ "$(stat -c '%a %g' "/dev/shm/$N2")" = "660 12345" ] ||
    fail "/dev/shm/$N2 is '$(stat -c '%a %g' "/dev/shm/$N2")', wanted '660 12345'"
expect_rc 0 "info as a member of 12345" $NOBODY --groups 12345 "$SHMKIT" info "$N2"
expect_rc 0 "info --json as a member of 12345" $NOBODY --groups 12345 "$SHMKIT" info "$N2" --json
json_check "$T/out" '
ck(d.get("mode") == "0660", "mode %r" % d.get("mode"))
ck(d.get("kind") == "raw", "kind %r" % d.get("kind"))
'
expect_rc 1 "info as a non-member" $NOBODY --clear-groups "$SHMKIT" info "$N2"
err_has 'permission|EACCES' "info as a non-member"

# The same for sysv.
KEY=$(rand_sysv_key)
on_exit "ipcrm -M $KEY"
expect_rc 0 "create sysv --mode 0660 --group 12345" "$SHMKIT" create "sysv:$KEY" --size 64K --mode 0660 --group 12345
SHMID=$(shmid_of_key "$KEY")
[ -n "$SHMID" ] || fail "sysv:$KEY not in ipcs -m"
ipcs -m -i "$SHMID" >"$T/ipcsi" 2>&1
grep -Eq 'gid=12345' "$T/ipcsi" || fail "sysv:$KEY not handed to gid 12345: $(cat "$T/ipcsi")"
grep -Eq 'access_perms=0?660' "$T/ipcsi" ||
    fail "sysv:$KEY mode is not 0660: $(cat "$T/ipcsi")"
expect_rc 0 "sysv info as a member" $NOBODY --groups 12345 "$SHMKIT" info "sysv:$KEY"
expect_rc 1 "sysv info as a non-member" $NOBODY --clear-groups "$SHMKIT" info "sysv:$KEY"
err_is_standard "sysv info as a non-member"
err_has 'permission|EACCES' "sysv info as a non-member"

# --owner-only: a channel name squatted by uid 65534 with mode 0666 is
# refused by pub and sub (the uid is named), and accepted without it.
N3=$(uname_unique skt_perm3)
on_exit "rm -f /dev/shm/$N3"
expect_rc 0 "create a squatted channel as uid 65534" $NOBODY --clear-groups "$SHMKIT" create "$N3" --kind queue --capacity 64K --mode 0666
expect_rc 1 "pub --owner-only on a squatted name" "$SHMKIT" pub "$N3" --owner-only </dev/null
err_has 'uid 65534' "pub --owner-only"
expect_rc 1 "sub --owner-only on a squatted name" "$SHMKIT" sub "$N3" --owner-only
err_has 'uid 65534' "sub --owner-only"
expect_rc 0 "pub without --owner-only" "$SHMKIT" pub "$N3" </dev/null
expect_rc 0 "rm the squatted channel" "$SHMKIT" rm "$N3"

expect_rc 0 "rm all" "$SHMKIT" rm "$N" "$N2" "sysv:$KEY"
[ ! -e "/dev/shm/$N" ] && [ ! -e "/dev/shm/$N2" ] || fail "rm left a posix segment"
[ -z "$(shmid_of_key "$KEY")" ] || fail "rm left sysv:$KEY"
echo "PASS"
exit 0
