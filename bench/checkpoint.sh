#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Checkpoint benchmarks, through the daemon (`cepd run`, a file source, a
# file sink, the admin port on 127.0.0.1):
#  1. checkpoint size and duration against state size: 10k, 100k and 1M
#     keys, one open 1h tumbling window per key (aggregate) or one partial
#     match per key (pattern); duration is cepd_checkpoint_duration_seconds
#     of 3 savepoints (POST /savepoint: written in the loop), median; "bg
#     pause ms" is how long the loop stopped for a periodic checkpoint (written
#     by a forked child) and "bg s" how long that child took, both from the
#     daemon's debug log, for the first periodic checkpoint after loading;
#  2. restore: a restart on that state's final checkpoint (taken at SIGTERM),
#     timed from exec until /healthz answers (median of 3), beside a start
#     with no checkpoint; the log must say the checkpoint was restored;
#  3. throughput cost of checkpoint.interval 10s: N_LINES (default 10M, a
#     run spans at least one interval) of a 1m tumbling aggregate and a
#     3-step sequence over 10k keys, checkpoints off, at_least_once,
#     exactly_once (outbox_size 100k, the default), and exactly_once with
#     outbox_size 10k (held alerts past outbox_size force a
#     checkpoint), runs interleaved, events/s median of 5 (min, max), timed
#     from exec until cepd_source_lines_total reaches N_LINES.
# Rules: the sequence is bench/rules/login-sudo-download.yaml; all read
# stream s from bench/rules/stream.yaml.
# Usage: bench/checkpoint.sh CEPD_BINARY [N_LINES]
# CKPT_BENCH_KEYS overrides the state sizes ("10000 100000 1000000"; empty:
# skip 1 and 2).
# Needs curl and python3; uses about 3 GB under TMPDIR; runs ~6 minutes.
set -euo pipefail
cepd=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
n=${2:-10000000}
sizes=${CKPT_BENCH_KEYS-10000 100000 1000000}
top=$(cd "$(dirname "$0")/.." && pwd)
rules=$top/bench/rules
tmp=$(mktemp -d)
pid=""
cleanup() {
    if [ -n "$pid" ]; then
        kill -KILL "$pid" 2> /dev/null || true
        wait "$pid" 2> /dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port

now() { date +%s.%N; }
# metric NAME: the value of one sample of /metrics (NAME with its labels).
metric() { curl -sf "$url/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
# wait_for SECONDS CMD...: poll CMD every 20 ms until it succeeds; fail
# (and end the script) after SECONDS.
wait_for() {
    local limit=$(($(date +%s) + $1))
    shift
    until "$@"; do
        if [ "$(date +%s)" -ge "$limit" ]; then
            echo "checkpoint.sh: timed out waiting for: $*" >&2
            exit 1
        fi
        sleep 0.02
    done
}
lines_are() { [ "$(metric "cepd_source_lines_total{source=\"in\"}")" = "$1" ]; }
healthy() { curl -sf -o /dev/null "$url/healthz"; }
start() { # CONFIG LOG
    "$cepd" run -c "$1" 2> "$2" &
    pid=$!
}
stop() {
    kill -TERM "$pid"
    wait "$pid"
    pid=""
}
median() { sort -g | sed -n "$(( ($1 + 1) / 2 ))p"; }
# config FILE RULES INPUT CHECKPOINT: a daemon config (RULES: the rule
# files after stream.yaml, comma-separated; CHECKPOINT: a YAML checkpoint
# mapping, or empty for none).
config() {
    cat > "$1" <<YAML
rules: [$rules/stream.yaml, $2]
sources:
  - {name: in, type: file, path: $3, stream: s}
sinks:
  - {name: out, type: file, path: $tmp/alerts.jsonl}
${4:+checkpoint: $4}
admin: {listen: "127.0.0.1:$port"}
log: {level: info}
YAML
}

cat > "$tmp/aggregate.yaml" <<'YAML'
rules:
  - id: state
    kind: aggregate
    stream: s
    key: [host]
    window: {type: tumbling, size: 1h}
    aggregate:
      events: count()
      volume: sum(bytes)
    having: events > 1000000
YAML
cat > "$tmp/pattern.yaml" <<'YAML'
rules:
  - id: state
    kind: pattern
    stream: s
    key: [host]
    pattern:
      - step: a
        when: event == "a"
      - step: b
        when: event == "b"
    within: 1h
YAML

echo "machine: $(nproc) vCPU, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- 1 and 2: size, duration, restore against state --------------------------
python3 "$top/bench/gen_ckpt.py" 1000 > "$tmp/empty.jsonl"
config "$tmp/cold.yaml" "$tmp/aggregate.yaml" "$tmp/empty.jsonl" \
    "{dir: $tmp/cold, interval: 1h}"
cold=()
for _ in 1 2 3; do
    rm -rf "$tmp/cold"
    t0=$(now)
    start "$tmp/cold.yaml" "$tmp/cold.log"
    wait_for 60 healthy
    cold+=("$(echo "$(now) - $t0" | bc -l)")
    stop
done
printf '\nstart with no checkpoint (to /healthz): %.3f s (median of 3)\n\n' \
    "$(printf '%s\n' "${cold[@]}" | median 3)"

[ -n "$sizes" ] && printf '%-9s %9s %9s %14s %13s %12s %8s %12s %11s\n' rule keys partials \
    "checkpoint B" "checkpoint s" "bg pause ms" "bg s" "restore s" "stop s"
# bg_done: a periodic checkpoint begun after loading (the log's line count
# then is $mark) has been written in the background.
bg_log() { tail -n +"$mark" "$tmp/state.log" | sed -n '/process [0-9]* writes it/,$p'; }
bg_done() { bg_log | grep -q 'written to .* (in the background)'; }
for k in $sizes; do
    python3 "$top/bench/gen_ckpt.py" "$k" > "$tmp/state.jsonl"
    for kind in aggregate pattern; do
        dir=$tmp/ckpt-$kind-$k
        config "$tmp/state.cfg" "$tmp/$kind.yaml" "$tmp/state.jsonl" \
            "{dir: $dir, interval: 2s, retain: 1}"
        sed -i 's/level: info/level: debug/' "$tmp/state.cfg"
        start "$tmp/state.cfg" "$tmp/state.log"
        wait_for 300 lines_are "$k"
        mark=$(($(wc -l < "$tmp/state.log") + 1))
        wait_for 300 bg_done
        bg=$(bg_log)
        pause=$(grep -m1 -o 'the loop paused [0-9.]*' <<< "$bg" | awk '{print $4}')
        bg_s=$(grep -m1 -o '[0-9.]* s (in the background)' <<< "$bg" | awk '{print $1}')
        took=()
        for _ in 1 2 3; do
            curl -sf -X POST "$url/savepoint" > /dev/null
            took+=("$(metric cepd_checkpoint_duration_seconds)")
            rm -f "$dir"/savepoint-*.ckpt
        done
        bytes=$(metric cepd_checkpoint_bytes)
        keys=$(metric "cepd_rule_keys{rule=\"state\"}")
        partials=$(metric "cepd_rule_partial_matches{rule=\"state\"}")
        t0=$(now)
        stop
        stopped=$(echo "$(now) - $t0" | bc -l)
        restore=()
        for _ in 1 2 3; do
            t0=$(now)
            start "$tmp/state.cfg" "$tmp/restore.log"
            wait_for 300 healthy
            restore+=("$(echo "$(now) - $t0" | bc -l)")
            stop
            if ! grep -q 'restored checkpoint' "$tmp/restore.log"; then
                echo "checkpoint.sh: the restart did not restore a checkpoint" >&2
                cat "$tmp/restore.log" >&2
                exit 1
            fi
        done
        rm -rf "$dir"
        printf '%-9s %9s %9s %14s %13.3f %12.2f %8.3f %12.3f %11.3f\n' "$kind" "$keys" \
            "$partials" "$bytes" "$(printf '%s\n' "${took[@]}" | median 3)" "$pause" "$bg_s" \
            "$(printf '%s\n' "${restore[@]}" | median 3)" "$stopped"
    done
done
rm -f "$tmp/state.jsonl"

# ---- 3: throughput with checkpoints every 10 s ------------------------------
cat > "$tmp/load.yaml" <<'YAML'
rules:
  - id: per-host
    kind: aggregate
    stream: s
    key: [host]
    window: {type: tumbling, size: 1m}
    aggregate:
      events: count()
      volume: sum(bytes)
    having: events > 1000000
YAML
python3 "$top/bench/gen_seq.py" seq "$n" 10000 > "$tmp/load.jsonl"
modes=(off at_least_once exactly_once exactly_once/ob10k)
declare -A rates ckpts pauses alerts
for _ in 1 2 3 4 5; do
    for mode in "${modes[@]}"; do
        rm -rf "$tmp/ckpt-load" "$tmp/alerts.jsonl"
        ck=""
        ob=""
        [ "$mode" = exactly_once/ob10k ] && ob=", outbox_size: 10000"
        [ "$mode" != off ] &&
            ck="{dir: $tmp/ckpt-load, interval: 10s, retain: 2, delivery: ${mode%/*}$ob}"
        config "$tmp/load.cfg" "$tmp/load.yaml, $rules/login-sudo-download.yaml" \
            "$tmp/load.jsonl" "$ck"
        t0=$(now)
        start "$tmp/load.cfg" "$tmp/load.log"
        wait_for 600 lines_are "$n"
        rates[$mode]+="$(echo "$n / ($(now) - $t0)" | bc -l) "
        ckpts[$mode]=$(metric 'cepd_checkpoints_total{result="ok"}')
        pauses[$mode]=$(metric cepd_backpressure_pauses_total)
        alerts[$mode]=$(metric cepd_alerts_total)
        stop
    done
done
printf '\n%d lines, 1m tumbling aggregate + 3-step sequence, 10k keys; load now: %s\n' \
    "$n" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-19s %12s %12s %12s %7s %12s %7s %8s\n' checkpoints "events/s" min max cost \
    "checkpoints" pauses alerts
base=$(tr ' ' '\n' <<< "${rates[off]}" | sed '/^$/d' | median 5)
for mode in "${modes[@]}"; do
    sorted=$(tr ' ' '\n' <<< "${rates[$mode]}" | sed '/^$/d' | sort -g)
    med=$(echo "$sorted" | median 5)
    printf '%-19s %12.0f %12.0f %12.0f %6.1f%% %12s %7s %8s\n' "$mode" "$med" \
        "$(echo "$sorted" | head -1)" "$(echo "$sorted" | tail -1)" \
        "$(echo "100 * (1 - $med / $base)" | bc -l)" "${ckpts[$mode]:-0}" \
        "${pauses[$mode]}" "${alerts[$mode]}"
done
