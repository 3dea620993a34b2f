#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Aggregate benchmarks, end to end from JSON lines through `cepd replay`:
#  1. a keyed tumbling-window aggregate (1m; count, sum, max) over 10k keys:
#     events/s per core, median of 5 runs, peak RSS;
#  2. a sliding 1h window sliding by 1s over the same 10k keys, on a tenth
#     of the input (it is slow: docs/performance.md), ended with drain so
#     the last hour of per-second closes is not timed: events/s and peak RSS
#     (state is slices x keys, not events).
# Usage: bench/aggregate.sh CEPD_BINARY [N_LINES]
set -euo pipefail
cepd=$1
n=${2:-2000000}
top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"
python3 "$top/bench/gen_seq.py" seq "$n" 10000 > "$tmp/events.jsonl"
head -n $((n / 10)) "$tmp/events.jsonl" > "$tmp/tenth.jsonl"
for w in "tumbling, size: 1m" "sliding, size: 1h, slide: 1s"; do
    input=$tmp/events.jsonl lines=$n eof=flush
    case $w in sliding*) input=$tmp/tenth.jsonl lines=$((n / 10)) eof=drain ;; esac
    cat > "$tmp/rules.yaml" <<YAML
streams:
  s: {time: {field: ts, unit: ms, max_out_of_orderness: 0s}}
rules:
  - id: per-host
    kind: aggregate
    stream: s
    key: [host]
    window: {type: $w}
    aggregate:
      events: count()
      volume: sum(bytes)
      biggest: max(bytes)
    having: events > 1000000
YAML
    bench_rate "aggregate {type: $w}, 10k keys, --at-eof $eof" "$lines" "$tmp/alerts" \
        "$cepd" replay --rules "$tmp/rules.yaml" --stream s --at-eof "$eof" "$input"
done
