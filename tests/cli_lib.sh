# shellcheck shell=bash
# cli_lib.sh - shared helpers for the CLI test scripts (source it, don't run it).
#
# Every script:
#   . "$(dirname "$0")/cli_lib.sh"
#   cli_init                      # checks $SHMKIT, makes $T, traps cleanup
#   cli_enter_ns "$@"             # optional: re-exec in a private mount+IPC ns
#
# Exit codes: 0 pass, 1 fail, 77 skip.

set -u

# shellcheck disable=SC2034  # used by the scripts
CLI_SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CLI_CLEANUP=()   # commands run (in reverse) at exit, pass or fail
T=""

cli_log() { printf '# %s\n' "$*" >&2; }

fail() {
    printf 'FAIL: %s\n' "$*" >&2
    if [ -n "$T" ] && [ -f "$T/out" ]; then
        printf -- '--- last stdout:\n' >&2; head -c 4000 "$T/out" >&2
        printf -- '--- last stderr:\n' >&2; head -c 4000 "$T/err" >&2
    fi
    exit 1
}

skip() { printf 'SKIP: %s\n' "$*" >&2; exit 77; }

# Registers a cleanup command (a string evaluated at exit).
on_exit() { CLI_CLEANUP+=("$1"); }

cli_cleanup() {
    local rc=$? i
    for ((i = ${#CLI_CLEANUP[@]} - 1; i >= 0; i--)); do
        eval "${CLI_CLEANUP[$i]}" >/dev/null 2>&1 || true
    done
    [ -n "$T" ] && rm -rf "$T"
    exit $rc
}

cli_init() {
    [ -n "${SHMKIT:-}" ] || { echo "SHMKIT is not set" >&2; exit 1; }
    [ -x "$SHMKIT" ] || { echo "SHMKIT=$SHMKIT is not executable" >&2; exit 1; }
    command -v python3 >/dev/null 2>&1 || skip "python3 not found"
    T=$(mktemp -d "${TMPDIR:-/tmp}/shmkit-clitest.XXXXXX") || exit 1
    chmod 755 "$T"
    trap cli_cleanup EXIT
    trap 'exit 1' INT TERM
}

# A unique segment name: PREFIX_PID_RANDOM.
uname_unique() { printf '%s_%s_%s%s\n' "${1:-skt}" "$$" "$RANDOM" "$RANDOM"; }

# A random SysV key in [0x10000000, 0x7fffffff], as 0x%08x.
rand_sysv_key() {
    printf '0x%08x\n' $(( ((RANDOM << 16) | (RANDOM << 1) | (RANDOM & 1)) % 0x6fffffff + 0x10000000 ))
}

# Runs a command, capturing stdout in $T/out, stderr in $T/err and the exit
# status in RC.  Never fails by itself.
run() {
    "$@" >"$T/out" 2>"$T/err"
    RC=$?
    return 0
}

# expect_rc WANT DESCRIPTION CMD...: runs CMD (via run) and fails unless its
# exit status is WANT.
expect_rc() {
    local want=$1 what=$2
    shift 2
    run "$@"
    [ "$RC" -eq "$want" ] || fail "$what: '$*' exited $RC, wanted $want"
}

# err_has REGEX DESCRIPTION: last stderr matches (grep -Ei).
err_has() { grep -Eiq -- "$1" "$T/err" || fail "$2: stderr lacks /$1/"; }
out_has() { grep -Eiq -- "$1" "$T/out" || fail "$2: stdout lacks /$1/"; }

# The standard error format: "shmkit: error: ..." and a "shmkit: hint: ..." line
# (or at least a hint).
err_is_standard() {
    grep -q '^shmkit: error: ' "$T/err" || fail "$1: stderr has no 'shmkit: error:' line"
    grep -Eiq 'hint' "$T/err" || fail "$1: stderr has no hint"
}

# py CODE ARGS...: runs python3 -c CODE with ARGS; the test fails when python
# exits non-zero (assertion errors print their message).
py() {
    local code=$1
    shift
    python3 -c "$code" "$@" || fail "python check failed (see above)"
}

# json_check FILE CODE ARGS...: loads FILE as JSON into `d` and runs CODE.
# `a` is sys.argv[1:].  Helper `ck(cond, msg)` raises with msg.
json_check() {
    local file=$1 code=$2
    shift 2
    python3 - "$file" "$@" <<EOF || fail "JSON check failed on $file (see above)"
import json, sys
def ck(cond, msg):
    if not cond:
        print("assertion failed: " + msg, file=sys.stderr)
        print("json: " + json.dumps(d, indent=1)[:4000], file=sys.stderr)
        sys.exit(1)
with open(sys.argv[1]) as f:
    text = f.read()
try:
    d = json.loads(text)
except Exception as e:
    print("not valid JSON (%s): %r" % (e, text[:2000]), file=sys.stderr)
    sys.exit(1)
a = sys.argv[2:]
$code
EOF
}

# Python snippet (for json_check) defining find(d, backend, name) that finds a
# segment object in an `ls --json` array: posix names match with or without the
# leading slash; sysv names match sysv:KEY (any base) or sysv:id=SHMID.
CLI_PY_FIND='
def _norm(n):
    if n.startswith("sysv:"):
        r = n[5:]
        if r.startswith("id="):
            return ("sysvid", int(r[3:], 0))
        return ("sysvkey", int(r, 0))
    if n.startswith("file:"):
        return ("file", n[5:])
    return ("posix", n.lstrip("/"))
def matches(n, want, shmid=None):
    try:
        x = _norm(n)
    except ValueError:
        return False
    w = _norm(want)
    if x == w:
        return True
    return shmid is not None and x == ("sysvid", int(shmid))
def find(arr, want, shmid=None):
    ck(isinstance(arr, list), "ls --json is not an array")
    hits = [o for o in arr if isinstance(o, dict) and matches(str(o.get("name")), want, shmid)]
    ck(len(hits) == 1, "expected exactly one entry for %s, found %d" % (want, len(hits)))
    return hits[0]
'

# ls_name_of WANT [SHMID]: prints the NAME column (first field) of the line of
# the last `ls` output ($T/out) that names WANT; fails when none or several.
ls_name_of() {
    python3 - "$T/out" "$1" "${2:-}" <<EOF || fail "ls text output has no unique line for $1"
import sys
def ck(c, m):
    if not c:
        print(m, file=sys.stderr); sys.exit(1)
$CLI_PY_FIND
want, shmid = sys.argv[2], (sys.argv[3] or None)
hits = []
for line in open(sys.argv[1]):
    f = line.split()
    if f and matches(f[0], want, shmid):
        hits.append(f[0])
ck(len(hits) == 1, "lines naming %s: %r" % (want, hits))
print(hits[0])
EOF
}

# ls_line_of NAME: the whole line of the last ls output whose first field is NAME.
ls_line_of() { awk -v n="$1" '$1 == n { print; exit }' "$T/out"; }

# shmid_of_key KEY: the shmid `ipcs -m` shows for KEY (0x%08x), or nothing.
shmid_of_key() {
    local key
    key=$(printf '0x%08x' "$(( $1 ))")
    ipcs -m | awk -v k="$key" 'tolower($1) == k { print $2; exit }'
}

# Re-executes the calling script inside a private mount + IPC namespace with a
# fresh tmpfs on /dev/shm (so it sees only its own segments, and everything it
# makes vanishes with the namespace).  Exits 77 when that is not possible.
CLI_NS_FLAGS=""
# Returns 0 when a private mount+IPC namespace with its own /dev/shm can be
# made (as root, or else with a user namespace mapping us to root).
cli_ns_available() {
    local f
    command -v unshare >/dev/null 2>&1 || return 1
    for f in "" "--map-root-user"; do
        if unshare $f --mount --ipc --propagation private \
            sh -c 'mount -t tmpfs -o size=64m tmpfs /dev/shm' >/dev/null 2>&1; then
            CLI_NS_FLAGS=$f
            return 0
        fi
    done
    return 1
}

cli_enter_ns() {
    [ "${SHMKIT_CLI_IN_NS:-}" = 1 ] && return 0
    cli_ns_available || skip "cannot unshare a mount+IPC namespace and mount /dev/shm"
    trap - EXIT
    [ -n "$T" ] && rm -rf "$T"
    SHMKIT_CLI_IN_NS=1 exec unshare $CLI_NS_FLAGS --mount --ipc --propagation private \
        bash -c 'mount -t tmpfs -o size=64m tmpfs /dev/shm || exit 77; exec bash "$0" "$@"' \
        "$0" "$@"
}

# wait_file FILE PATTERN [SECONDS]: waits until FILE has a line matching PATTERN.
wait_file() {
    local i n=$(( ${3:-5} * 20 ))
    for ((i = 0; i < n; i++)); do
        grep -q -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

CLI_HELPER="${SHMKIT_TESTS_DIR:-}/cli_helper"
need_helper() {
    [ -x "$CLI_HELPER" ] || fail "test helper $CLI_HELPER is missing (built by tests/cli_tests.cmake)"
}
