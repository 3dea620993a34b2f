#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Checkpoints end to end (delivery exactly_once, a file source, a file
# sink): a run stopped with SIGTERM half-way (final checkpoint) and
# restarted gives the same alerts as one uninterrupted run (alert ids and
# JSON but detected_at, none twice), a pattern three steps of which came
# before the restart completes after it, and the engine state was restored
# (the log's report); a corrupt newest checkpoint, then a truncated one,
# is skipped with a log line and the one before is restored, and the
# daemon reads on from there; a full outbox pauses the sources and takes a
# checkpoint at once (while checkpoints cannot be written, retried on the
# timer, not in a loop); a checkpoint process ignores the daemon's signals;
# with a fault-injection build
# (--enable-fault-injection, seen in the log) a failing fsync is logged,
# counted in /metrics, and the daemon keeps running and checkpointing.
# Only 127.0.0.1; every wait bounded.
# Tested by: tests/daemon/run.sh (make check)
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/lib_ckpt.sh"

ckpt_rules "$T_DIR/rules.yaml"
# config NAME [ADMIN_PORT]: a config reading NAME/in.jsonl, alerts to
# NAME/alerts.jsonl, checkpoints in NAME/ckpt every 100 ms.
config() {
    local admin=""
    [ -n "${2:-}" ] && admin="admin: {listen: \":$2\"}"
    mkdir -p "$T_DIR/$1"
    cat > "$T_DIR/$1/cepd.yaml" <<YAML
rules: [$T_DIR/rules.yaml]
sources:
  - {name: in, type: file, path: $T_DIR/$1/in.jsonl, stream: ev}
sinks:
  - {name: out, type: file, path: $T_DIR/$1/alerts.jsonl}
checkpoint: {dir: $T_DIR/$1/ckpt, interval: 100ms, retain: 3, delivery: exactly_once}
log: {level: info}
$admin
YAML
}
has_mark() { grep -qs "\"message\":\"mark $2\"" "$T_DIR/$1/alerts.jsonl"; }

# The input: part 1, three failures of host hx, a marker; then part 2
# starts with hx's success (the pattern spans the restart), a marker at
# the end.
ckpt_gen 7 1700000000 1500 > "$T_DIR/part1"
ts=$(ckpt_last_ts "$T_DIR/part1")
for k in 1 2 3; do
    printf '{"ts":%d,"host":"hx","type":"fail","i":-%d}\n' $((ts + k)) "$k"
done >> "$T_DIR/part1"
ckpt_mark half $((ts + 4)) >> "$T_DIR/part1"
printf '{"ts":%d,"host":"hx","type":"ok","i":-4}\n' $((ts + 5)) > "$T_DIR/part2"
ckpt_gen 8 $((ts + 6)) 1500 >> "$T_DIR/part2"
ckpt_mark end $(($(ckpt_last_ts "$T_DIR/part2") + 1)) >> "$T_DIR/part2"

# Reference: one uninterrupted run.
config ref
cat "$T_DIR/part1" "$T_DIR/part2" > "$T_DIR/ref/in.jsonl"
DAEMON_LOG=$T_DIR/ref/daemon.log
daemon_start "$T_DIR/ref/cepd.yaml" || { bad "reference run starts"; finish; }
wait_for has_mark ref end || bad "reference run reaches the end marker"
daemon_stop TERM && ok "reference run: SIGTERM, exit 0" || bad "reference run: SIGTERM, exit 0"
grep -q '"rule":"brute".*"key":{"host":"hx"}' "$T_DIR/ref/alerts.jsonl" \
    && ok "reference: the hx pattern alert" || bad "reference: the hx pattern alert"
for r in brute busy silent; do
    grep -q "\"rule\":\"$r\"" "$T_DIR/ref/alerts.jsonl" && ok "reference: rule $r alerts" \
        || bad "reference: rule $r alerts"
done

# Stopped half-way with SIGTERM, restarted.
config run
cp "$T_DIR/part1" "$T_DIR/run/in.jsonl"
DAEMON_LOG=$T_DIR/run/daemon1.log
daemon_start "$T_DIR/run/cepd.yaml" || { bad "run 1 starts"; finish; }
wait_for has_mark run half || bad "run 1 reaches the half-way marker"
daemon_stop TERM && ok "run 1: SIGTERM, exit 0" || bad "run 1: SIGTERM, exit 0"
ls "$T_DIR/run/ckpt"/chk-*.ckpt > /dev/null 2>&1 && ok "checkpoints written" \
    || bad "checkpoints written"
n=$(ls "$T_DIR/run/ckpt"/chk-*.ckpt | wc -l)
[ "$n" -le 3 ] && ok "at most retain (3) checkpoints kept ($n)" || bad "at most retain (3) kept ($n)"
! grep -q '"key":{"host":"hx"}' "$T_DIR/run/alerts.jsonl" \
    && ok "hx's pattern is only half matched at the stop" || bad "hx's pattern is only half matched"
cat "$T_DIR/part2" >> "$T_DIR/run/in.jsonl"
DAEMON_LOG=$T_DIR/run/daemon2.log
daemon_start "$T_DIR/run/cepd.yaml" || { bad "run 2 starts"; finish; }
log_has 'restored checkpoint [0-9]+ from' && ok "run 2 restored the newest checkpoint" \
    || bad "run 2 restored the newest checkpoint"
log_has 'restore: 4 rules kept, 0 reset, 0 new, 0 dropped' && ok "restore report: 4 rules kept" \
    || bad "restore report: 4 rules kept"
log_has 'source in: resuming .* at byte [1-9]' && ok "the file source resumes at its offset" \
    || bad "the file source resumes at its offset"
wait_for has_mark run end || bad "run 2 reaches the end marker"
daemon_stop TERM && ok "run 2: SIGTERM, exit 0" || bad "run 2: SIGTERM, exit 0"
grep -q '"rule":"brute".*"key":{"host":"hx"}' "$T_DIR/run/alerts.jsonl" \
    && ok "the pattern half matched before the restart completes after it" \
    || bad "the pattern half matched before the restart completes after it"
if out=$(ckpt_compare "$T_DIR/ref/alerts.jsonl" "$T_DIR/run/alerts.jsonl"); then
    ok "stop and restart: the alerts of one uninterrupted run ($(tail -1 <<< "$out"))"
else
    bad "stop and restart: the alerts of one uninterrupted run"
    echo "$out"
fi

# A corrupt newest checkpoint, then a truncated one: skipped, the previous
# one restored, reading goes on.
newest() { ls "$T_DIR/run/ckpt"/chk-*.ckpt | sort | tail -n 1; }
seq_of() { basename "$1" .ckpt | sed 's/^chk-0*//'; }
ts=$(ckpt_last_ts "$T_DIR/run/in.jsonl")
for damage in corrupt truncated; do
    f=$(newest)
    prev=$(ls "$T_DIR/run/ckpt"/chk-*.ckpt | sort | tail -n 2 | head -n 1)
    size=$(stat -c %s "$f")
    if [ "$damage" = corrupt ]; then
        printf '\377\000\377' | dd of="$f" bs=1 seek=$((size / 2)) conv=notrunc status=none
        why='CRC mismatch'
    else
        truncate -s $((size / 2)) "$f"
        why='truncated'
    fi
    DAEMON_LOG=$T_DIR/run/daemon-$damage.log
    daemon_start "$T_DIR/run/cepd.yaml" || { bad "starts after a $damage checkpoint"; continue; }
    log_has "checkpoint $f cannot be used: .*$why" && ok "a $damage checkpoint is skipped ($why)" \
        || bad "a $damage checkpoint is skipped ($why)"
    log_has "restored checkpoint $(seq_of "$prev") from $prev" \
        && ok "$damage: the checkpoint before it is restored" \
        || bad "$damage: the checkpoint before it is restored"
    # At the end marker's time: the watermark stays where the reference
    # run left it.
    ckpt_mark "after-$damage" "$ts" >> "$T_DIR/run/in.jsonl"
    wait_for has_mark run "after-$damage" && ok "$damage: the daemon reads on" \
        || bad "$damage: the daemon reads on"
    daemon_stop TERM || bad "$damage: SIGTERM, exit 0"
done
# Restoring an older checkpoint may send its outbox again: the file sink
# repeats those alerts (documented), nothing is missing.
grep -v '"message":"mark after-' "$T_DIR/run/alerts.jsonl" > "$T_DIR/run/alerts.base"
if out=$(ckpt_compare "$T_DIR/ref/alerts.jsonl" "$T_DIR/run/alerts.base" dups); then
    ok "after the damaged checkpoints no alert is missing or changed ($(tail -1 <<< "$out"))"
else
    bad "after the damaged checkpoints no alert is missing or changed"
    echo "$out"
fi

# A full outbox (checkpoint.outbox_size alerts held, here fewer than the
# sink's queue_size) pauses the sources and takes the checkpoint at once,
# not at the (1 h) interval.
config full
sed -i -e 's/interval: 100ms/interval: 1h, outbox_size: 10/' -e 's/level: info/level: debug/' \
    -e 's|alerts.jsonl}|alerts.jsonl, queue_size: 1000}|' "$T_DIR/full/cepd.yaml"
cp "$T_DIR/part1" "$T_DIR/full/in.jsonl"
DAEMON_LOG=$T_DIR/full/daemon.log
daemon_start "$T_DIR/full/cepd.yaml" || bad "full-outbox run starts"
wait_for log_has 'the outbox is full \(10 alerts held until the next checkpoint\): pausing' \
    && ok "a full outbox pauses the sources" || bad "a full outbox pauses the sources"
wait_for lines_ge "$T_DIR/full/alerts.jsonl" 100 \
    && ok "a full outbox takes a checkpoint at once and goes on" \
    || bad "a full outbox takes a checkpoint at once and goes on"
log_has 'checkpoint [0-9]+: process [0-9]+ writes it; the loop paused' \
    && log_has 'checkpoint [0-9]+ written to .*/chk-[0-9]+\.ckpt: .* \(in the background\)' \
    && ok "periodic checkpoints are written by a child process" \
    || bad "periodic checkpoints are written by a child process"
daemon_stop TERM || bad "full-outbox run: SIGTERM, exit 0"
has_mark full half && ok "full outbox: the rest is released at the stop" \
    || bad "full outbox: the rest is released at the stop"
head -n "$(grep -c . "$T_DIR/full/alerts.jsonl")" "$T_DIR/run/alerts.jsonl" > "$T_DIR/full/ref.jsonl"
if out=$(ckpt_compare "$T_DIR/full/ref.jsonl" "$T_DIR/full/alerts.jsonl"); then
    ok "full outbox: nothing lost or repeated ($(tail -1 <<< "$out"))"
else
    bad "full outbox: nothing lost or repeated"
    echo "$out"
fi

# A full outbox while checkpoints cannot be written (the directory is
# replaced by a file): each failure waits for the 1 s timer, no checkpoint
# process after another; once the directory is back, alerts flow again.
port=$(free_port)
config nodir "$port"
sed -i -e 's/interval: 100ms/interval: 1s, outbox_size: 10/' \
    -e 's|alerts.jsonl}|alerts.jsonl, queue_size: 1000}|' "$T_DIR/nodir/cepd.yaml"
: > "$T_DIR/nodir/in.jsonl"
DAEMON_LOG=$T_DIR/nodir/daemon.log
daemon_start "$T_DIR/nodir/cepd.yaml" || bad "unwritable-directory run starts"
url="http://127.0.0.1:$port"
rm -rf "$T_DIR/nodir/ckpt" && : > "$T_DIR/nodir/ckpt"
cat "$T_DIR/part1" >> "$T_DIR/nodir/in.jsonl"
wait_for log_has 'the outbox is full' || bad "unwritable directory: the outbox fills"
sleep 2
n=$(metric 'cepd_checkpoints_total{result="failed"}' "$url")
[ "${n:-0}" -ge 1 ] && [ "${n:-0}" -le 5 ] \
    && ok "failed checkpoints with a full outbox are retried on the timer ($n in 2 s)" \
    || bad "failed checkpoints with a full outbox are retried on the timer ($n in 2 s)"
rm -f "$T_DIR/nodir/ckpt" && mkdir "$T_DIR/nodir/ckpt"
wait_for lines_ge "$T_DIR/nodir/alerts.jsonl" 100 \
    && ok "unwritable directory: alerts flow once it is back" \
    || bad "unwritable directory: alerts flow once it is back"
daemon_stop TERM || bad "unwritable-directory run: SIGTERM, exit 0"

# The signals of the daemon are not the checkpoint process's: HUP, USR1,
# INT and TERM sent to it too (killall, Ctrl-C in a terminal, systemd's
# control group) leave it writing.  Its temporary file is made a FIFO
# after the start, so the process waits in open() until the test reads it
# (the write then fails at fsync, for another reason than a signal).
config sig
sed -i -e 's/interval: 100ms/interval: 1h, outbox_size: 10/' -e 's/level: info/level: debug/' \
    -e 's|alerts.jsonl}|alerts.jsonl, queue_size: 1000}|' "$T_DIR/sig/cepd.yaml"
: > "$T_DIR/sig/in.jsonl"
DAEMON_LOG=$T_DIR/sig/daemon.log
daemon_start "$T_DIR/sig/cepd.yaml" || bad "signals run starts"
fifo=$T_DIR/sig/ckpt/chk-0000000001.ckpt.tmp
mkfifo "$fifo"
cat "$T_DIR/part1" >> "$T_DIR/sig/in.jsonl"
wait_for log_has 'checkpoint 1: process [0-9]+ writes it' || bad "signals: checkpoint 1 starts"
child=$(grep -Eo 'checkpoint 1: process [0-9]+' "$DAEMON_LOG" | awk '{print $4}')
for sig in HUP USR1 INT TERM; do
    kill -"$sig" "$child" 2> /dev/null
done
sleep 0.3
timeout 5 cat "$fifo" > /dev/null
wait_for log_has 'checkpoint 1 failed' || bad "signals: checkpoint 1 ends"
! log_has 'checkpoint 1 failed: the checkpoint process was killed' \
    && ok "a checkpoint process is not killed by the daemon's signals" \
    || bad "a checkpoint process is not killed by the daemon's signals"
daemon_stop TERM && ok "signals run: SIGTERM, exit 0" || bad "signals run: SIGTERM, exit 0"
lines_ge "$T_DIR/sig/alerts.jsonl" 10 && ok "signals run: the held alerts are released at the stop" \
    || bad "signals run: the held alerts are released at the stop"

# Fault injection: the first fsync of a checkpoint write fails.
port=$(free_port)
config fault "$port"
cp "$T_DIR/part1" "$T_DIR/fault/in.jsonl"
DAEMON_LOG=$T_DIR/fault/daemon.log
CEPD_FAULT=fsync:1 daemon_start "$T_DIR/fault/cepd.yaml" || { bad "fault run starts"; finish; }
if ! log_has 'fault injection armed'; then
    echo "skip: fault injection (not built with --enable-fault-injection)"
else
    url="http://127.0.0.1:$port"
    wait_for metric_is 'cepd_checkpoints_total{result="failed"}' "$url" 1 \
        && ok "a failed fsync is counted in /metrics" || bad "a failed fsync is counted in /metrics"
    log_has 'checkpoint [0-9]+ failed: .*fsync' && ok "a failed fsync is logged" \
        || bad "a failed fsync is logged"
    wait_for eval '[ "$(metric "cepd_checkpoints_total{result=\"ok\"}" "$url")" -ge 2 ]' \
        && ok "later checkpoints succeed" || bad "later checkpoints succeed"
    wait_for has_mark fault half && ok "alerts are released after the failure" \
        || bad "alerts are released after the failure"
    daemon_alive && ok "the daemon keeps running" || bad "the daemon keeps running"
    [ "$(metric cepd_checkpoint_bytes "$url")" -gt 0 ] && ok "cepd_checkpoint_bytes" \
        || bad "cepd_checkpoint_bytes"
fi
daemon_stop TERM && ok "fault run: SIGTERM, exit 0" || bad "fault run: SIGTERM, exit 0"
finish
