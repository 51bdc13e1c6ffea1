#!/usr/bin/env bash
# shmkit --version, --help on every command, and usage errors (exit 2) that
# must never create anything.
. "$(dirname "$0")/cli_lib.sh"
cli_init

# --version: exit 0, prints the version of the header.
want_ver=$(sed -n 's/^#define SHMKIT_VERSION_STRING "\(.*\)"/\1/p' \
    "${SHMKIT_SOURCE_DIR:-$CLI_SRC_DIR/..}/include/shmkit.h")
[ -n "$want_ver" ] || fail "cannot read SHMKIT_VERSION_STRING from include/shmkit.h"
expect_rc 0 "--version" "$SHMKIT" --version
grep -Fq -- "$want_ver" "$T/out" || fail "--version does not print $want_ver"

# Top-level --help lists every command.
expect_rc 0 "--help" "$SHMKIT" --help
for cmd in ls info create rm gc doctor demo; do
    grep -qw -- "$cmd" "$T/out" || fail "shmkit --help does not mention '$cmd'"
done

# --help on each command: exit 0, stdout mentions the command.
for cmd in ls info create rm gc doctor demo; do
    expect_rc 0 "$cmd --help" "$SHMKIT" "$cmd" --help
    grep -qw -- "$cmd" "$T/out" || fail "shmkit $cmd --help does not mention '$cmd'"
done
# create --help documents its options.
expect_rc 0 "create --help" "$SHMKIT" create --help
for opt in --size --mode --group --huge --lock; do
    grep -q -- "$opt" "$T/out" || fail "create --help does not mention $opt"
done

# Unknown command / unknown options: exit 2, something on stderr.
expect_rc 2 "unknown command" "$SHMKIT" frobnicate
[ -s "$T/err" ] || fail "unknown command: nothing on stderr"
expect_rc 2 "unknown global option" "$SHMKIT" --frobnicate
expect_rc 2 "unknown ls option" "$SHMKIT" ls --frobnicate
[ -s "$T/err" ] || fail "unknown ls option: nothing on stderr"
expect_rc 2 "unknown gc option" "$SHMKIT" gc --frobnicate
expect_rc 2 "info without NAME" "$SHMKIT" info
expect_rc 2 "rm without NAME" "$SHMKIT" rm

# create usage errors.  None of them may create the segment.
X=$(uname_unique skt_help)
on_exit "rm -f /dev/shm/$X"
check_not_created() {
    [ ! -e "/dev/shm/$X" ] || fail "$1: a usage error created /dev/shm/$X"
}
expect_rc 2 "create without --size" "$SHMKIT" create "$X"
check_not_created "create without --size"
[ -s "$T/err" ] || fail "create without --size: nothing on stderr"
for bad in 0 -5 12Q ""; do
    expect_rc 2 "create --size '$bad'" "$SHMKIT" create "$X" --size "$bad"
    check_not_created "create --size '$bad'"
done
expect_rc 2 "create --mode abc" "$SHMKIT" create "$X" --size 64K --mode abc
check_not_created "create --mode abc"
expect_rc 2 "create --mode 9" "$SHMKIT" create "$X" --size 64K --mode 9
check_not_created "create --mode 9"

# --huge is not for plain posix names: usage error with a hint.
expect_rc 2 "create --huge on a posix name" "$SHMKIT" create "$X" --size 2M --huge
check_not_created "create --huge"
err_has 'hint' "create --huge on a posix name"
# --lock only for sysv: names.
expect_rc 2 "create --lock on a posix name" "$SHMKIT" create "$X" --size 64K --lock
check_not_created "create --lock"
expect_rc 2 "create --lock on a file: name" "$SHMKIT" create "file:$T/$X" --size 64K --lock
expect_rc 2 "pub on a name no one can open" "$SHMKIT" pub sysv:private --create --kind queue </dev/null
err_has "bad segment name" "pub sysv:private"
expect_rc 2 "info on a name that cannot be parsed" "$SHMKIT" info sysv:notakey
[ ! -e "$T/$X" ] || fail "create --lock on file: created $T/$X"

# What a CLI review found (each failed before its fix):
# --help and --version whose output cannot be written fail, as commands do.
if [ -w /dev/full ]; then
    "$SHMKIT" --version >/dev/full 2>"$T/err"; RC=$?
    [ "$RC" -eq 1 ] || fail "--version >/dev/full exited $RC, wanted 1"
    err_has "writing to stdout failed" "--version >/dev/full"
    "$SHMKIT" --help >/dev/full 2>"$T/err"; RC=$?
    [ "$RC" -eq 1 ] || fail "--help >/dev/full exited $RC, wanted 1"
fi
# an unknown short option inside a group is named, not the option before it
expect_rc 2 "unknown short option in a group" "$SHMKIT" sub --lines -xl "$X"
err_has "unknown option '-x'" "sub --lines -xl"
# channel options the library refuses are bad usage (2), as for create
expect_rc 2 "pub --create with a capacity over 1 GiB" "$SHMKIT" pub "$X" --create --capacity 2G </dev/null
check_not_created "pub --create --capacity 2G"
expect_rc 2 "pub --create with max-msg half the capacity" "$SHMKIT" pub "$X" --create --capacity 128K --max-msg 64K </dev/null
check_not_created "pub --create --max-msg 64K"
expect_rc 2 "pub --capacity 0" "$SHMKIT" pub "$X" --create --capacity 0 </dev/null
err_has "out of range" "pub --capacity 0"

echo "PASS"
exit 0
