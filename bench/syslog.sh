#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Build and run the line-format benchmark (bench/bench_syslog.c): syslog,
# syslog with a pattern on msg, and regex, on generated sshd auth.log lines.
# Usage: bench/syslog.sh [BUILD_DIR] [N_LINES]   (BUILD_DIR holds config.h;
# without one, a temporary directory is configured.)
# Tested by: running it; it exits non-zero if a generated line is rejected.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-}
n=${2:-1000000}
if [ -z "$build" ]; then
    build=$(mktemp -d "${TMPDIR:-/tmp}/cepd-bench.XXXXXX")
    (cd "$build" && "$top/configure" -q)
fi
test -f "$build/config.h" || { echo "syslog.sh: no config.h in $build" >&2; exit 2; }
cc=${CC:-cc}
# shellcheck disable=SC2046
$cc -std=gnu11 -O2 -g -I"$top/include" -I"$build" -o "$build/bench_syslog" \
    "$top/bench/bench_syslog.c" "$top/src/io/format.c" "$top/src/engine/eng_time.c" \
    "$top/src/util/hash.c" "$top/src/util/json.c" \
    "$top/src/util/sbuf.c" "$top/src/core/cep_alloc.c" "$top/src/core/cep_log.c" \
    $(pkg-config --cflags --libs libpcre2-8) -lm
echo "machine: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $($cc --version | head -1)"
"$build/bench_syslog" "$n"
