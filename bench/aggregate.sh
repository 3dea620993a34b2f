#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Aggregate benchmarks, end to end from JSON lines through `cepd replay`:
#  1. a keyed tumbling-window aggregate (1m; count, sum, max) over 10k keys:
#     events/s per core, median of 5 runs, peak RSS;
#  2. a sliding 1h window sliding by 1s over the same input and keys, the
#     last hour of closes included (--at-eof flush): events/s and peak RSS
#     (state is slices x keys, not events; a close costs O(1) merges);
#  3. the tumbling aggregate over 1M keys: 1.5 x N_LINES events over 1M
#     hosts in a 1h window (the input spans about 75 minutes), so every key
#     holds an open window for most of the run: events/s and peak RSS.
# The rules read stream s from bench/rules/stream.yaml.
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
n_big=$((n * 3 / 2))
python3 "$top/bench/gen_seq.py" seq "$n_big" 1000000 > "$tmp/big.jsonl"
# aggregate_row LABEL WINDOW INPUT N_LINES
aggregate_row() {
    cat > "$tmp/rules.yaml" <<YAML
rules:
  - id: per-host
    kind: aggregate
    stream: s
    key: [host]
    window: {type: $2}
    aggregate:
      events: count()
      volume: sum(bytes)
      biggest: max(bytes)
    having: events > 1000000
YAML
    bench_rate "aggregate {type: $2}, $1" "$4" "$tmp/alerts" \
        "$cepd" replay --rules "$top/bench/rules/stream.yaml" --rules "$tmp/rules.yaml" \
        --stream s "$3"
}
aggregate_row "10k keys" "tumbling, size: 1m" "$tmp/events.jsonl" "$n"
aggregate_row "10k keys" "sliding, size: 1h, slide: 1s" "$tmp/events.jsonl" "$n"
aggregate_row "1M keys" "tumbling, size: 1h" "$tmp/big.jsonl" "$n_big"
