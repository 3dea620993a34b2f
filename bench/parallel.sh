#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `parallelism: N` on keyed workloads (issue 7 target: >= 1.7x one worker,
# identical results), end to end through `cepd run` (stdin source, file
# sink; startup included): a keyed tumbling aggregate and a 3-step pattern,
# each over 10k keys, with parallelism 1 and 2.  Events/s: median of 5 runs
# (min, max) and peak RSS (bench_rate); then the speed-up of the medians,
# the load average (the numbers are only as good as the machine is idle)
# and a check that both give the same alerts (sorted, detected_at aside).
# Rules: the pattern is bench/rules/login-sudo-download.yaml; both read
# stream s from bench/rules/stream.yaml.
# Usage: bench/parallel.sh CEPD_BINARY [N_LINES [WORKERS]]
#   N_LINES default 2000000; WORKERS (the parallel run) default 2.
#   Exits 1 if the alerts differ.
# Tested by: running it (make bench).
set -euo pipefail
cepd=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
n=${2:-2000000}
workers=${3:-2}
top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cepd-parallel.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"
python3 "$top/bench/gen_seq.py" seq "$n" 10000 > "$tmp/events.jsonl"
rules=$top/bench/rules
cat > "$tmp/aggregate.yaml" <<'YAML'
rules:
  - id: per-host
    kind: aggregate
    stream: s
    key: [host]
    window: {type: tumbling, size: 1m}
    aggregate: {events: count(), volume: sum(bytes), biggest: max(bytes)}
    having: events >= 8
YAML
declare -A rule_file=([aggregate]=$tmp/aggregate.yaml [pattern]=$rules/login-sudo-download.yaml)
status=0
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
for w in aggregate pattern; do
    declare -A med=()
    for p in 1 "$workers"; do
        cat > "$tmp/cepd-$w-$p.yaml" <<YAML
rules: [$rules/stream.yaml, ${rule_file[$w]}]
parallelism: $p
sources: [{name: in, type: stdin, stream: s}]
sinks: [{name: out, type: file, path: $tmp/alerts-$w-$p.jsonl}]
log: {level: warn}
YAML
        echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
        res=$(bench_rate "$w, 10k keys, parallelism $p" "$n" "$tmp/stdout" \
            bash -c "rm -f '$tmp/alerts-$w-$p.jsonl'; exec '$cepd' run -c '$tmp/cepd-$w-$p.yaml' < '$tmp/events.jsonl'")
        echo "$res"
        med[$p]=$(echo "$res" | sed -n 's/.*median \([0-9]*\).*/\1/p')
        sed -E 's/"detected_at":[0-9.]+,//' "$tmp/alerts-$w-$p.jsonl" | sort > "$tmp/sorted-$w-$p"
    done
    printf '%s: parallelism %s / 1 = %.2fx; %d alerts' "$w" "$workers" \
        "$(echo "${med[$workers]} / ${med[1]}" | bc -l)" "$(wc -l < "$tmp/sorted-$w-1")"
    if cmp -s "$tmp/sorted-$w-1" "$tmp/sorted-$w-$workers"; then
        echo ", identical"
    else
        echo ", DIFFERENT"
        status=1
    fi
    unset med
done
exit $status
