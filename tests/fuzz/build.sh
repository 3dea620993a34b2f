#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Build every tests/fuzz/fuzz_*.c as a libFuzzer binary with ASan and UBSan.
# Each target links all of src/ except src/daemon/main.c (compiled once into
# objects).  Outside `make check`.  Needs clang and a config.h: pass a
# configured build directory, or one is configured in OUT_DIR/config.
# Usage: tests/fuzz/build.sh [OUT_DIR [BUILD_DIR]]   (default OUT_DIR: tests/fuzz/out)
# Then e.g.: tests/fuzz/out/fuzz_dec_json -max_total_time=60 corpus_dir/
# Tested by: running it; the targets themselves are the tests.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$top/tests/fuzz/out}
build=${2:-}
cc=${CC:-clang}
mkdir -p "$out/obj"
out=$(cd "$out" && pwd)
if [ -z "$build" ]; then
    build=$out/config
    if [ ! -f "$build/config.h" ]; then
        mkdir -p "$build"
        (cd "$build" && CC="$cc" "$top/configure" -q)
    fi
fi
test -f "$build/config.h" || { echo "build.sh: no config.h in $build" >&2; exit 2; }

pkgs="libpcre2-8 yaml-0.1 libevent libevent_extra libevent_pthreads libevent_openssl hiredis"
deps_cflags=$(pkg-config --cflags $pkgs)
deps_libs=$(pkg-config --libs $pkgs)
san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
cflags="-std=gnu11 -g -O1 $san -I$top/include -I$build $deps_cflags ${CFLAGS:-}"

# The library: every .c under src/ except the CLI entry point, archived so
# that a target pulls in only the objects it needs.  FUZZ_KEEP_GOING=1 skips
# sources that do not compile (useful while a module is mid-edit).
objs=""
for src in $(cd "$top" && find src -name '*.c' ! -path src/daemon/main.c | sort); do
    obj=$out/obj/$(echo "$src" | tr / _ | sed 's/\.c$/.o/')
    if $cc $cflags -fsanitize=fuzzer-no-link -c "$top/$src" -o "$obj"; then
        objs="$objs $obj"
    elif [ "${FUZZ_KEEP_GOING:-0}" = 1 ]; then
        echo "build.sh: skipping $src" >&2
    else
        exit 1
    fi
done
rm -f "$out/libcepd_fuzz.a"
ar rcs "$out/libcepd_fuzz.a" $objs

status=0
for target in "$top"/tests/fuzz/fuzz_*.c; do
    [ -f "$target" ] || continue
    name=$(basename "$target" .c)
    if $cc $cflags -fsanitize=fuzzer "$target" "$out/libcepd_fuzz.a" $deps_libs -lpthread -lm \
            -o "$out/$name"; then
        echo "built $out/$name"
    else
        echo "build.sh: $name failed to build" >&2
        status=1
    fi
done
exit $status
