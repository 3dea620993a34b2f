#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Skip-till-any Kleene+ benchmark (issue 7, workload 4): `A, B+, C` with
# `after: any` / `loop: any` over windows of 100, 1k, 10k and 100k events,
# straight on the NFA API (bench/bench_kleene.c, linked with BUILD_DIR's
# libcepd.a).  For each window: the counting runtime (emit TALLY, one
# summary per completing event) and, as "before", the enumerating runtime
# (every match built; at most 10000 open partial matches, the oldest
# evicted), each 5 times: events/s median (min, max), by the process's
# CPU time (what to read on a shared machine) and by wall clock, and the
# peak RSS.
# The enumerating runs stop after MAX_SECONDS each (default 10).
# Mode e2e: the same workload end to end from JSON lines through `cepd
# replay` with a `matches: count` rule (one alert per completing event):
# per window, events/s median of 5 runs (min, max) by CPU time and by wall
# clock, and peak RSS; then the ratio of the 100 window's CPU-time rate
# to the 100k window's.
# Usage: bench/kleene.sh BUILD_DIR [N_EVENTS] [MAX_SECONDS]
#        bench/kleene.sh e2e CEPD_BINARY [N_LINES]
# Tested by: running it; it fails if a run reports no match (e2e: if a
# run writes no alert).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# median (min, max) of a list of numbers
stats() { sort -g | awk '{ v[NR] = $1 } END { printf "%9.0f (min %9.0f, max %9.0f)", v[3], v[1], v[NR] }'; }
if [ "${1:-}" = e2e ]; then
    cepd=$2
    n=${3:-2000000}
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    # bench_kleene.c's stream: event i at time i us, one key, the same
    # generator (10% a, 40% b, 10% c, 40% x).
    python3 - "$n" > "$tmp/k.jsonl" <<'PY'
import sys
n = int(sys.argv[1])
types = "abbbbcxxxx"
rng, m = 42, (1 << 64) - 1
out = sys.stdout
buf = []
for i in range(n):
    rng = (rng * 6364136223846793005 + 1442695040888963407) & m
    buf.append('{"ts":%d,"host":"h1","type":"%s","n":%d}\n' % (i, types[(rng >> 33) % 10], i))
    if len(buf) == 65536:
        out.write("".join(buf))
        buf = []
out.write("".join(buf))
PY
    echo "machine: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)," \
        "$(nproc) CPUs"
    declare -A med
    for w in 100 1000 10000 100000; do
        cat > "$tmp/k.yaml" <<YAML
streams:
  s: {time: {field: ts, unit: us, max_out_of_orderness: 0s}}
rules:
  - id: kleene-count
    kind: pattern
    stream: s
    key: [host]
    matches: count
    pattern:
      - {step: a, when: type == "a"}
      - {step: b, when: type == "b", times: 1+, loop: any, after: any}
      - {step: c, when: type == "c", after: any}
    within: ${w}us
    message: "\${matches} matches"
YAML
        wall=() cpu=()
        for _ in 1 2 3 4 5; do
            /usr/bin/time -f '%e %U %S %M' -o "$tmp/time" \
                "$cepd" replay --rules "$tmp/k.yaml" --stream s "$tmp/k.jsonl" > "$tmp/alerts"
            read -r e u sy rss < "$tmp/time"
            wall+=("$(echo "$n / $e" | bc -l)")
            cpu+=("$(echo "$n / ($u + $sy)" | bc -l)")
        done
        test -s "$tmp/alerts" || { echo "kleene.sh: window $w wrote no alert" >&2; exit 1; }
        printf 'count e2e window %6d: events/s by CPU time %s, by wall clock %s, peak RSS %6d KiB, %d alerts\n' \
            "$w" "$(printf '%s\n' "${cpu[@]}" | stats)" "$(printf '%s\n' "${wall[@]}" | stats)" \
            "$rss" "$(wc -l < "$tmp/alerts")"
        med[$w]=$(printf '%s\n' "${cpu[@]}" | sort -g | sed -n 3p)
    done
    printf 'window 100k vs window 100 (CPU time): %.2fx slower\n' "$(echo "${med[100]} / ${med[100000]}" | bc -l)"
    exit 0
fi
build=$1
n=${2:-2000000}
max_s=${3:-10}
test -f "$build/libcepd.a" || { echo "kleene.sh: no libcepd.a in $build (run make)" >&2; exit 2; }
libs=$(sed -n 's/^\(PCRE2\|YAML\|LIBEVENT\|HIREDIS\)_LIBS = //p' "$build/Makefile" | tr '\n' ' ')
cc=${CC:-cc}
# shellcheck disable=SC2086
$cc -std=gnu11 -O2 -g -I"$top/include" -I"$build" -o "$build/bench_kleene" \
    "$top/bench/bench_kleene.c" "$build/libcepd.a" $libs -lpthread -lm
echo "machine: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)," \
    "$(nproc) CPUs, $($cc --version | head -1)"
echo "load: $(uptime)"
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
for mode in count all; do
    for w in 100 1000 10000 100000; do
        wall=() cpu=() rss=0 line=
        for _ in 1 2 3 4 5; do
            line=$("$build/bench_kleene" "$mode" "$w" "$n" "$max_s")
            wall+=("$(echo "$line" | field events_per_s)")
            cpu+=("$(echo "$line" | field cpu_events_per_s)")
            r=$(echo "$line" | field peak_rss_kib)
            if [ "$r" -gt "$rss" ]; then rss=$r; fi
        done
        printf '%-5s window %6d: events/s by CPU time %s, by wall clock %s, peak RSS %6d KiB\n' \
            "$mode" "$w" "$(printf '%s\n' "${cpu[@]}" | stats)" "$(printf '%s\n' "${wall[@]}" | stats)" "$rss"
        limit=; case $line in *"(time limit)"*) limit=" (time limit)" ;; esac
        printf '      last run: events %s%s, matches %s, summaries %s, evicted %s\n' \
            "$(echo "$line" | field events)" "$limit" "$(echo "$line" | field matches)" \
            "$(echo "$line" | field summaries)" "$(echo "$line" | field evicted)"
    done
done
