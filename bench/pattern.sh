#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Pattern benchmarks, end to end from JSON lines through `cepd replay`:
#  1. a 3-step sequence (login, sudo, download within 1m) over 10k keys:
#     events/s per core, median of 5 runs (min, max), peak RSS;
#  2. memory: 10k keys x 100 open partial matches each (peak RSS, and the
#     RSS of the same input through a rule that keeps nothing).
# Rules: bench/rules/login-sudo-download.yaml (1); every rule file but the
# baseline's reads stream s from bench/rules/stream.yaml.
# Usage: bench/pattern.sh CEPD_BINARY [N_LINES]
set -euo pipefail
cepd=$1
n=${2:-2000000}
top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 "$top/bench/gen_seq.py" seq "$n" 10000 > "$tmp/seq.jsonl"
python3 "$top/bench/gen_seq.py" partial 10000 100 > "$tmp/partial.jsonl"
rules=$top/bench/rules
cat > "$tmp/partial.yaml" <<'YAML'
rules:
  - id: a-then-b
    kind: pattern
    stream: s
    key: [host]
    max_partial_matches: 1000
    pattern:
      - step: a
        when: event == "a"
      - step: b
        when: event == "b"
YAML
cat > "$tmp/none.yaml" <<'YAML'
streams:
  s: {time: {field: ts, unit: ms}}
rules:
  - {id: never, stream: s, when: event == "b"}
YAML
# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"
bench_rate "3-step sequence, 10k keys" "$n" "$tmp/alerts" \
    "$cepd" replay --rules "$rules/stream.yaml" --rules "$rules/login-sudo-download.yaml" \
    --stream s "$tmp/seq.jsonl"
/usr/bin/time -f '%M' -o "$tmp/rss" "$cepd" replay --rules "$rules/stream.yaml" \
    --rules "$tmp/partial.yaml" --stream s --at-eof drain --stats "$tmp/partial.jsonl" \
    > /dev/null 2> "$tmp/stats"
# The --stats column named "partial" (columns have been added after it).
partial=$(awk '$1 == "rule" { for (i = 1; i <= NF; i++) if ($i == "partial") c = i }
               $1 == "a-then-b" { print $c }' "$tmp/stats")
/usr/bin/time -f '%M' -o "$tmp/rss0" "$cepd" replay --rules "$tmp/none.yaml" --stream s \
    "$tmp/partial.jsonl" > /dev/null
printf '10k keys x 100 partial matches: %s partial matches held, peak RSS %s KiB (baseline %s KiB)\n' \
    "$partial" "$(cat "$tmp/rss")" "$(cat "$tmp/rss0")"
