#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Many rules on one stream (issue 7, workload 5): `cepd replay` of generated
# JSON lines (50 event types) through 1, 10, 100 and 1000 simple rules of a
# realistic mix (bench/gen_rules.py: most test the event type first, the
# rest regexes or ranges), alerts to a file.  Reports events/s per core as
# the median of 5 runs, with min and max, and peak RSS, for each rule
# count, then the cost of 1000 rules relative to 1 (target: <= 3x).
# Usage: bench/rules1000.sh CEPD_BINARY [N_LINES]
set -euo pipefail
cepd=$1
n=${2:-1000000}
top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 "$top/bench/gen_rules.py" events "$n" > "$tmp/events.jsonl"
# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"
declare -A median
for r in 1 10 100 1000; do
    python3 "$top/bench/gen_rules.py" rules "$r" > "$tmp/rules$r.yaml"
    res=$(bench_rate "$r rules" "$n" "$tmp/alerts" \
        "$cepd" replay --rules "$tmp/rules$r.yaml" --stream app "$tmp/events.jsonl")
    echo "$res"
    median[$r]=$(echo "$res" | sed -n 's/.*median \([0-9]*\).*/\1/p')
done
printf 'cost of 1000 rules vs 1: %.2fx (target <= 3x)\n' \
    "$(echo "${median[1]} / ${median[1000]}" | bc -l)"
