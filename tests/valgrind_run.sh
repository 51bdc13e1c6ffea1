#!/bin/bash
# valgrind_run.sh - how a build with -DSHMKIT_VALGRIND=ON runs a test.
#
#   valgrind_run.sh NAME PROGRAM ARGS...      a C test: PROGRAM under memcheck
#   valgrind_run.sh NAME --script CMD ARGS... a shell test: CMD as it is; the
#                                             shmkit CLI and cli_helper it
#                                             runs are wrappers that exec
#                                             themselves under memcheck
#   valgrind_run.sh --exec PROGRAM ARGS...    (used by those wrappers)
#
# Every process under memcheck writes its own log, $SHMKIT_VALGRIND_LOGDIR/
# <pid>.log.  Forked children stay under valgrind; programs they exec are
# followed too (--trace-children), except system binaries (/usr, /bin, ...).
# Errors, and definite or indirect leaks, are errors; memory a forked child
# inherits and leaves by _exit is only "still reachable", which is fine.
#
# After the test, a log whose ERROR SUMMARY is not 0 fails it, whatever the
# test's own exit status was, so an error in a child whose exit status the
# test ignores (a cleanup command) still counts; so does an error report in
# the log of a process killed before its summary.  The failing logs are
# printed.  Needs SHMKIT_VALGRIND_BIN (the valgrind program) and
# SHMKIT_VALGRIND_LOGDIR.
#
# --run-libc-freeres=no: at exit valgrind would call glibc's freeres, which
# makes system calls (futex) that a child under a seccomp filter must not
# make (test_sync_event).  What glibc keeps is only "still reachable".
# No --fair-sched: its lock is a futex too.
# --vgdb=no: the gdbserver's /tmp/vgdb-pipe-shared-mem-vgdb-PID-by-USER-on-
# HOST file, left by an earlier process with the same pid (as another
# user), made valgrind abort in cli_perm's uid 65534 runs.
set -u

VG_ERROR_RC=99
# How memcheck's error reports begin (for logs cut short by a kill).
VG_ERROR_RE='== (Invalid (read|write|free)|Mismatched free|Conditional jump|Use of uninitialised|Syscall param|Source and destination overlap|Jump to the invalid|Argument .* of function)'

vg_exec() {
    exec "$SHMKIT_VALGRIND_BIN" --tool=memcheck --error-exitcode=$VG_ERROR_RC \
        --leak-check=full --show-leak-kinds=definite,indirect \
        --errors-for-leak-kinds=definite,indirect \
        --trace-children=yes \
        '--trace-children-skip=/usr/*,/bin/*,/sbin/*,/lib/*,/lib64/*' \
        --num-callers=30 --run-libc-freeres=no --vgdb=no \
        "--log-file=$SHMKIT_VALGRIND_LOGDIR/%p.log" "$@"
}

: "${SHMKIT_VALGRIND_BIN:?SHMKIT_VALGRIND_BIN is not set}"
: "${SHMKIT_VALGRIND_LOGDIR:?SHMKIT_VALGRIND_LOGDIR is not set}"

if [ "${1:-}" = --exec ]; then
    shift
    vg_exec "$@"
fi

name=${1:?usage: valgrind_run.sh NAME PROGRAM ARGS...}
shift
# One directory per test, emptied first: only this run's logs are judged.
export SHMKIT_VALGRIND_LOGDIR="$SHMKIT_VALGRIND_LOGDIR/$name"
rm -rf "$SHMKIT_VALGRIND_LOGDIR"
mkdir -p "$SHMKIT_VALGRIND_LOGDIR" || exit 1
# Tests run the CLI as other users too (cli_perm: uid 65534).
chmod 1777 "$SHMKIT_VALGRIND_LOGDIR" || exit 1

if [ "${1:-}" = --script ]; then
    shift
    "$@"
else
    (vg_exec "$@")
fi
rc=$?

bad=()
for log in "$SHMKIT_VALGRIND_LOGDIR"/*.log; do
    [ -e "$log" ] || continue
    if grep -q 'ERROR SUMMARY: ' "$log"; then
        grep -Eq 'ERROR SUMMARY: [1-9]' "$log" && bad+=("$log")
    elif grep -Eq "$VG_ERROR_RE" "$log"; then
        # killed before its summary (on purpose, often): its errors so far
        bad+=("$log")
    fi
done
if [ ${#bad[@]} -gt 0 ]; then
    for log in "${bad[@]}"; do
        printf '=== valgrind found errors: %s\n' "$log" >&2
        cat "$log" >&2
    done
    printf 'valgrind_run: %s: %d process(es) with memcheck errors (test exit status %d)\n' \
        "$name" ${#bad[@]} "$rc" >&2
    exit 1
fi
if [ "$rc" -eq "$VG_ERROR_RC" ]; then
    printf 'valgrind_run: %s: exit status %d is valgrind'"'"'s error status, but no log shows an error\n' \
        "$name" "$rc" >&2
    exit 1
fi
exit "$rc"
