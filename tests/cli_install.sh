#!/usr/bin/env bash
# cmake --install lays out headers, libraries, CMake package, pkg-config file,
# the CLI and its man page; a consumer project builds against the installed
# package (find_package and pkg-config) and runs; the shared library exports
# only shmkit_* symbols, and every function of the public header.
. "$(dirname "$0")/cli_lib.sh"

# A sanitizer build's libraries need the sanitizer runtime in every consumer:
# installing them for outside use is not what such a build is for.
if [ "${SHMKIT_SANITIZED:-0}" = 1 ]; then
    echo "skip: sanitizer build"
    exit 77
fi
cli_init
[ -n "${SHMKIT_BUILD_DIR:-}" ] || fail "SHMKIT_BUILD_DIR is not set"
[ -n "${SHMKIT_SOURCE_DIR:-}" ] || fail "SHMKIT_SOURCE_DIR is not set"
CMAKE=${CMAKE_COMMAND:-cmake}
PREFIX="$T/prefix"

"$CMAKE" --install "$SHMKIT_BUILD_DIR" --prefix "$PREFIX" >"$T/install.log" 2>&1 ||
    fail "cmake --install failed: $(tail -20 "$T/install.log")"

# one_of GLOB...: the first existing path of the globs, or fail.
one_of() {
    local g
    for g in "$@"; do
        [ -e "$g" ] && { echo "$g"; return 0; }
    done
    return 1
}
shopt -s nullglob
[ -f "$PREFIX/include/shmkit.h" ] || fail "no include/shmkit.h"
cmp -s "$PREFIX/include/shmkit.h" "$SHMKIT_SOURCE_DIR/include/shmkit.h" ||
    fail "installed shmkit.h differs from include/shmkit.h"
SO=$(one_of "$PREFIX"/lib*/libshmkit.so.0 "$PREFIX"/lib/*/libshmkit.so.0) || fail "no lib*/libshmkit.so.0"
LIBDIR=$(dirname "$SO")
ls "$LIBDIR"/libshmkit.so.0.* >/dev/null 2>&1 || fail "no $LIBDIR/libshmkit.so.0.*"
[ -e "$LIBDIR/libshmkit.so" ] || fail "no $LIBDIR/libshmkit.so (dev symlink)"
[ -f "$LIBDIR/libshmkit.a" ] || fail "no $LIBDIR/libshmkit.a"
[ -f "$LIBDIR/pkgconfig/shmkit.pc" ] || fail "no $LIBDIR/pkgconfig/shmkit.pc"
[ -f "$LIBDIR/cmake/shmkit/shmkitConfig.cmake" ] || fail "no $LIBDIR/cmake/shmkit/shmkitConfig.cmake"
[ -f "$LIBDIR/cmake/shmkit/shmkitConfigVersion.cmake" ] || fail "no shmkitConfigVersion.cmake"
[ -x "$PREFIX/bin/shmkit" ] || fail "no bin/shmkit"
[ -f "$PREFIX/share/man/man1/shmkit.1" ] || fail "no share/man/man1/shmkit.1"
readelf -d "$SO" 2>/dev/null | grep -q 'SONAME.*libshmkit.so.0' || fail "libshmkit's SONAME is not libshmkit.so.0"

# The installed CLI runs.
"$PREFIX/bin/shmkit" --version >"$T/out" 2>"$T/err" || fail "installed bin/shmkit --version failed"
grep -q '0\.1\.0' "$T/out" || fail "installed bin/shmkit --version: $(cat "$T/out")"

# Exports: only shmkit_* (and the version node), and every SHMKIT_API function.
if command -v nm >/dev/null 2>&1; then
    nm -D --defined-only "$SO" | awk '{ print $NF }' | sed 's/@.*//' | sort -u >"$T/syms"
    bad=$(grep -v -e '^shmkit_' -e '^SHMKIT_[0-9_]*$' "$T/syms")
    [ -z "$bad" ] || fail "libshmkit.so exports non-shmkit_ symbols: $(echo $bad)"
    sed -n 's/^SHMKIT_API[^(]*[ *]\(shmkit_[a-z0-9_]*\)(.*/\1/p' "$PREFIX/include/shmkit.h" | sort -u >"$T/api"
    [ "$(wc -l <"$T/api")" -ge 20 ] || fail "could not read the API list from shmkit.h"
    missing=$(comm -23 "$T/api" "$T/syms")
    [ -z "$missing" ] || fail "libshmkit.so does not export: $(echo $missing)"
else
    echo "# nm not found: export check skipped" >&2
fi

# find_package(shmkit) consumer, shared and static.
"$CMAKE" -S "$SHMKIT_SOURCE_DIR/tests/install" -B "$T/consumer" \
    -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_BUILD_TYPE=Release >"$T/cfg.log" 2>&1 ||
    fail "configuring tests/install failed: $(tail -30 "$T/cfg.log")"
"$CMAKE" --build "$T/consumer" >"$T/build.log" 2>&1 ||
    fail "building tests/install failed: $(tail -30 "$T/build.log")"
check_consumer() {
    local exe=$1 out
    out=$(LD_LIBRARY_PATH="$LIBDIR" "$exe" 2>&1) || fail "$exe failed: $out"
    echo "$out" | grep -q '^consumer ok with shmkit 0\.1\.0 (0\.1\.0)$' || fail "$exe printed: $out"
}
check_consumer "$T/consumer/consumer"
check_consumer "$T/consumer/consumer_static"
LD_LIBRARY_PATH="$LIBDIR" ldd "$T/consumer/consumer" | grep -q "$LIBDIR/libshmkit.so.0" ||
    fail "consumer is not linked against the installed libshmkit.so.0"
ldd "$T/consumer/consumer_static" | grep -q libshmkit && fail "consumer_static links libshmkit.so"

# pkg-config consumer.
if command -v pkg-config >/dev/null 2>&1; then
    export PKG_CONFIG_PATH="$LIBDIR/pkgconfig"
    for v in includedir libdir; do
        val=$(pkg-config --variable=$v shmkit)
        case "$val" in
        "$PREFIX"/*) ;;
        *) fail "shmkit.pc installed under $PREFIX has $v=$val (not relocatable: the prefix given to cmake --install is ignored)" ;;
        esac
    done
    [ "$(pkg-config --modversion shmkit)" = 0.1.0 ] || fail "pkg-config --modversion shmkit: $(pkg-config --modversion shmkit 2>&1)"
    flags=$(pkg-config --cflags --libs shmkit) || fail "pkg-config --cflags --libs shmkit failed"
    # shellcheck disable=SC2086
    ${CC:-cc} -std=c11 -o "$T/consumer_pc" "$SHMKIT_SOURCE_DIR/tests/install/main.c" $flags \
        >"$T/cc.log" 2>&1 || fail "cc with pkg-config flags ($flags) failed: $(cat "$T/cc.log")"
    check_consumer "$T/consumer_pc"
    sflags=$(pkg-config --static --cflags --libs shmkit) || fail "pkg-config --static failed"
    # shellcheck disable=SC2086
    ${CC:-cc} -std=c11 -o "$T/consumer_pcs" "$SHMKIT_SOURCE_DIR/tests/install/main.c" \
        "$LIBDIR/libshmkit.a" $sflags >"$T/cc.log" 2>&1 ||
        fail "static cc with pkg-config flags ($sflags) failed: $(cat "$T/cc.log")"
    check_consumer "$T/consumer_pcs"
else
    echo "# pkg-config not found: pkg-config consumer skipped" >&2
fi

echo "PASS"
exit 0
