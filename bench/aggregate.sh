#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Aggregate benchmarks, end to end from JSON lines through `cepd replay`:
#  1. a keyed tumbling-window aggregate (1m; count, sum, max) over 10k keys:
#     events/s per core, median of 5 runs, peak RSS;
#  2. a sliding 1h window sliding by 1s over the same input and keys, the
#     last hour of closes included (--at-eof flush): events/s and peak RSS
#     (state is slices x keys, not events; a close costs O(1) merges).
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
for w in "tumbling, size: 1m" "sliding, size: 1h, slide: 1s"; do
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
    bench_rate "aggregate {type: $w}, 10k keys" "$n" "$tmp/alerts" \
        "$cepd" replay --rules "$tmp/rules.yaml" --stream s "$tmp/events.jsonl"
done
