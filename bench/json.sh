#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Build and run the JSON decoding benchmark (bench/bench_json.c): cepd's
# dec_json_line against jansson on generated event lines.  jansson is needed
# only here (apt-get install libjansson-dev), never by cepd itself.
# Usage: bench/json.sh [BUILD_DIR] [N_LINES] [cepd]   (BUILD_DIR holds config.h;
# "cepd" skips jansson, for profiling;
# without one, a temporary directory is configured.)
# Tested by: running it; it exits non-zero if the two decoders disagree.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-}
n=${2:-1000000}
if [ $# -gt 0 ]; then shift; fi
if [ $# -gt 0 ]; then shift; fi
if [ -z "$build" ]; then
    build=$(mktemp -d "${TMPDIR:-/tmp}/cepd-bench.XXXXXX")
    (cd "$build" && "$top/configure" -q)
fi
test -f "$build/config.h" || { echo "json.sh: no config.h in $build" >&2; exit 2; }
pkg-config --exists jansson || { echo "json.sh: jansson not found (apt-get install libjansson-dev)" >&2; exit 77; }
cc=${CC:-cc}
# shellcheck disable=SC2046
$cc -std=gnu11 -O2 -g -I"$top/include" -I"$build" -o "$build/bench_json" \
    "$top/bench/bench_json.c" "$top/src/io/sources/dec_json.c" "$top/src/util/json.c" \
    "$top/src/core/evt.c" "$top/src/core/val.c" "$top/src/core/cep_alloc.c" \
    "$top/src/core/cep_log.c" "$top/src/util/sbuf.c" \
    $(pkg-config --cflags --libs jansson) -lm
echo "machine: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $($cc --version | head -1)"
"$build/bench_json" "$n" "$@"
