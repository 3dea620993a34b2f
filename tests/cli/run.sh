#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# CLI behaviour of cepd: --version/--help, exit codes of check, replay over
# files and stdin with dead-lettered bad lines (malformed, oversized,
# invalid UTF-8), alert ids stable across runs, unknown streams, replay
# --format syslog/regex on raw lines, and
# `cepd test` reporting a failing case.  Prints "N passed, N failed".
set -uo pipefail
cepd=${CEPD:-cepd}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0; failed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; }
expect() { # expect NAME COMMAND... : command must succeed
    local name=$1; shift
    if "$@"; then ok "$name"; else bad "$name"; fi
}

cat > "$tmp/rules.yaml" <<'YAML'
streams:
  auth: {time: {field: ts, unit: s}}
rules:
  - id: root-login
    stream: auth
    when: event == "login" and user == "root"
    key: [src_ip]
    message: "root from ${src_ip}"
YAML
printf '%s\n' \
  '{"ts":1,"event":"login","user":"root","src_ip":"10.0.0.1"}' \
  '{"ts":2,"event":"login","user":"bob","src_ip":"10.0.0.2"}' \
  '{"ts":3,"event":' \
  '{"ts":4,"event":"login","user":"root","src_ip":"10.0.0.3"}' > "$tmp/events.jsonl"
printf '{"ts":5,"user":"\xff"}\n' >> "$tmp/events.jsonl"
printf '{"ts":6,"pad":"%s"}\n' "$(head -c 3000 /dev/zero | tr '\0' 'x')" >> "$tmp/events.jsonl"
echo '{"ts":7,"event":"login","user":"root","src_ip":"10.0.0.9"}' >> "$tmp/events.jsonl"

expect "--version prints the version" bash -c "'$cepd' --version | grep -q '^cepd [0-9]'"
expect "--help lists the commands" bash -c "'$cepd' --help | grep -q replay"
for verb in check replay test run graph savepoint checkpoint; do
    expect "$verb --help" bash -c "'$cepd' $verb --help | grep -q '^usage: cepd $verb'"
done
"$cepd" bogus >/dev/null 2>&1; [ $? -eq 2 ] && ok "unknown command exits 2" || bad "unknown command exits 2"

"$cepd" check "$tmp/rules.yaml" > "$tmp/check.out" 2>&1
[ $? -eq 0 ] && grep -q '^ok: 1 rules in 1 files$' "$tmp/check.out" \
    && ok "check accepts a valid file" || bad "check accepts a valid file"
printf 'rules:\n  - id: Bad Id\n    when: user ==\n' > "$tmp/broken.yaml"
"$cepd" check "$tmp/broken.yaml" > "$tmp/check.out" 2>&1
[ $? -eq 1 ] && [ "$(grep -c ': error: ' "$tmp/check.out")" -ge 2 ] \
    && ok "check reports every error and exits 1" || bad "check reports every error and exits 1"
"$cepd" check "$tmp/missing.yaml" >/dev/null 2>&1
[ $? -eq 1 ] && ok "check of a missing file fails" || bad "check of a missing file fails"

"$cepd" replay --rules "$tmp/rules.yaml" --stream auth --max-line-bytes 1024 \
    --dead-letter "$tmp/dead.jsonl" --stats "$tmp/events.jsonl" > "$tmp/alerts1" 2> "$tmp/stats"
rc=$?
[ $rc -eq 0 ] && ok "replay exits 0 despite bad lines" || bad "replay exits 0 despite bad lines ($rc)"
[ "$(wc -l < "$tmp/alerts1")" -eq 3 ] && ok "replay prints 3 alerts" || bad "replay prints 3 alerts"
grep -q '"message":"root from 10.0.0.9"' "$tmp/alerts1" \
    && ok "events after bad lines are processed" || bad "events after bad lines are processed"
[ "$(wc -l < "$tmp/dead.jsonl")" -eq 3 ] && ok "3 lines dead-lettered" || bad "3 lines dead-lettered"
grep -q '"line":3,.*"reason":"' "$tmp/dead.jsonl" && ok "malformed line has its position" \
    || bad "malformed line has its position"
grep -q '"line":5,.*invalid UTF-8' "$tmp/dead.jsonl" && ok "invalid UTF-8 is rejected" \
    || bad "invalid UTF-8 is rejected"
grep -q '"line":6,.*"reason":"line longer than max_line_bytes".*"truncated":true' "$tmp/dead.jsonl" \
    && ok "oversized line is rejected" || bad "oversized line is rejected"
grep -Eq '^lines 7, events 4, rejected 3' "$tmp/stats" && ok "--stats counts lines" \
    || bad "--stats counts lines: $(head -1 "$tmp/stats")"
grep -Eq '^root-login +4 +3 +3 ' "$tmp/stats" && ok "--stats counts per rule" \
    || bad "--stats counts per rule"

"$cepd" replay --rules "$tmp/rules.yaml" --stream auth --max-line-bytes 1024 \
    "$tmp/events.jsonl" > "$tmp/alerts2" 2>/dev/null
ids() { grep -o '"alert_id":"[0-9a-f]*"' "$1"; }
[ "$(ids "$tmp/alerts1")" = "$(ids "$tmp/alerts2")" ] && [ -n "$(ids "$tmp/alerts1")" ] \
    && ok "alert ids are stable across runs" || bad "alert ids are stable across runs"
[ "$(ids "$tmp/alerts1" | sort -u | wc -l)" -eq 3 ] && ok "alert ids are distinct" \
    || bad "alert ids are distinct"

head -n 1 "$tmp/events.jsonl" | "$cepd" replay --rules "$tmp/rules.yaml" --stream auth - \
    > "$tmp/alerts3" 2>/dev/null
grep -q '"rule":"root-login"' "$tmp/alerts3" && ok "replay reads stdin" || bad "replay reads stdin"
"$cepd" replay --rules "$tmp/rules.yaml" --stream nope "$tmp/events.jsonl" >/dev/null 2>&1
[ $? -eq 2 ] && ok "unknown stream is a usage error" || bad "unknown stream is a usage error"

# replay --format: raw lines decoded as a source with that format would.
cat > "$tmp/sys.yaml" <<'YAML'
streams:
  auth: {time: {field: timestamp}}
rules:
  - id: root-login
    stream: auth
    when: user == "root"
    key: [src_ip]
    message: "root from ${src_ip} on ${host}"
YAML
printf '%s\n' \
  'Nov  1 11:59:58 web-1 sshd[7]: Accepted password for root from 10.0.0.1 port 22 ssh2' \
  'Nov  1 11:59:59 web-1 sshd[8]: Accepted password for bob from 10.0.0.2 port 22 ssh2' \
  'not syslog at all' \
  '<38>1 2024-11-01T12:00:00Z web-2 sshd 9 - - Accepted password for root from 10.0.0.3 port 22' \
  > "$tmp/auth.log"
pat='^Accepted \S+ for (?<user>\S+) from (?<src_ip>\S+)'
TZ=UTC "$cepd" replay --rules "$tmp/sys.yaml" --stream auth --format syslog --pattern "$pat" \
    --dead-letter "$tmp/sys-dead.jsonl" --stats "$tmp/auth.log" > "$tmp/sys-alerts" 2> "$tmp/sys-stats"
rc=$?
[ $rc -eq 0 ] && [ "$(wc -l < "$tmp/sys-alerts")" -eq 2 ] \
    && grep -q '"message":"root from 10.0.0.1 on web-1"' "$tmp/sys-alerts" \
    && grep -q '"message":"root from 10.0.0.3 on web-2".*"time":1730462400' "$tmp/sys-alerts" \
    && ok "replay --format syslog --pattern decodes raw lines" \
    || bad "replay --format syslog --pattern decodes raw lines ($rc)"
grep -q '"line":3,.*"reason":"no syslog timestamp"' "$tmp/sys-dead.jsonl" \
    && grep -Eq '^lines 4, events 3, rejected 1' "$tmp/sys-stats" \
    && ok "replay --format dead-letters lines the format rejects" \
    || bad "replay --format dead-letters lines the format rejects"
# The same events through a regex on stdin give the same alerts (ids
# aside: the inputs' names differ; times aside: an RFC 3164 year is today's).
TZ=UTC "$cepd" replay --rules "$tmp/sys.yaml" --stream auth --format regex \
    --pattern '^(?<timestamp>\S+) (?<host>\S+) (?<user>\S+) (?<src_ip>\S+)$' - \
    > "$tmp/rx-alerts" 2>/dev/null <<'LINES'
2024-11-01T11:59:58+00:00 web-1 root 10.0.0.1
2024-11-01T12:00:00Z web-2 root 10.0.0.3
LINES
[ "$(grep -o '"message":"[^"]*","key":[^}]*}' "$tmp/rx-alerts")" = \
  "$(grep -o '"message":"[^"]*","key":[^}]*}' "$tmp/sys-alerts")" ] \
    && [ "$(wc -l < "$tmp/rx-alerts")" -eq 2 ] \
    && ok "replay --format regex reads stdin" || bad "replay --format regex reads stdin"
"$cepd" replay --rules "$tmp/sys.yaml" --format regex "$tmp/auth.log" >/dev/null 2>&1
[ $? -eq 2 ] && ok "--format regex without --pattern is a usage error" \
    || bad "--format regex without --pattern is a usage error"
"$cepd" replay --rules "$tmp/sys.yaml" --format syslog --pattern '(?<x>' "$tmp/auth.log" \
    > /dev/null 2> "$tmp/pat.err"
[ $? -eq 2 ] && grep -q 'pattern at offset 5' "$tmp/pat.err" \
    && ok "a bad --pattern is a usage error" || bad "a bad --pattern is a usage error"
"$cepd" replay --rules "$tmp/sys.yaml" --format xml "$tmp/auth.log" >/dev/null 2>&1
[ $? -eq 2 ] && ok "an unknown --format is a usage error" || bad "an unknown --format is a usage error"

cat > "$tmp/rules.test.yaml" <<'YAML'
rules: [rules.yaml]
cases:
  - name: fires
    stream: auth
    events: [{ts: 1, event: login, user: root, src_ip: 10.0.0.1}]
    alerts: [{rule: root-login, key: {src_ip: 10.0.0.1}, time: 1}]
  - name: wrong expectation
    stream: auth
    events: [{ts: 1, event: login, user: root, src_ip: 10.0.0.1}]
    alerts: []
YAML
"$cepd" test "$tmp/rules.test.yaml" > "$tmp/test.out" 2>&1
rc=$?
[ $rc -eq 1 ] && grep -q '^1 passed, 1 failed$' "$tmp/test.out" \
    && grep -q 'unexpected alert' "$tmp/test.out" \
    && ok "cepd test reports a failing case" || bad "cepd test reports a failing case"

# Pattern rules in replay: late events to --late, drain vs flush at EOF.
cat > "$tmp/pat.yaml" <<'YAML'
streams:
  s: {time: {field: ts, unit: s, watermark: punctuated}}
rules:
  - id: a-no-b
    kind: pattern
    stream: s
    pattern:
      - step: a
        when: kind == "a"
      - step: b
        not: true
        when: kind == "b"
    within: 10s
YAML
printf '%s\n' '{"ts":1,"kind":"a"}' '{"$watermark":5}' '{"ts":4,"kind":"b"}' '{"ts":6,"kind":"c"}' \
    > "$tmp/pat.jsonl"
"$cepd" replay --rules "$tmp/pat.yaml" --stream s --late "$tmp/late.jsonl" --stats \
    "$tmp/pat.jsonl" > "$tmp/pat.flush" 2> "$tmp/pat.stats"
[ "$(cat "$tmp/late.jsonl")" = '{"ts":4,"kind":"b"}' ] && ok "replay --late writes late events" \
    || bad "replay --late writes late events"
grep -Eq '^lines 4, events 3, rejected 0, late 1' "$tmp/pat.stats" && ok "--stats counts late events" \
    || bad "--stats counts late events"
[ "$(grep -c '"rule":"a-no-b"' "$tmp/pat.flush")" -eq 1 ] \
    && ok "--at-eof flush fires a trailing negation" || bad "--at-eof flush fires a trailing negation"
"$cepd" replay --rules "$tmp/pat.yaml" --stream s --at-eof drain "$tmp/pat.jsonl" \
    > "$tmp/pat.drain" 2>/dev/null
[ ! -s "$tmp/pat.drain" ] && ok "--at-eof drain fires nothing past the last event" \
    || bad "--at-eof drain fires nothing past the last event"

# A derived stream follows its producer's watermark even when the producer
# has only stateless rules: a timeout downstream fires as producer time
# passes, without another derived event (drain advances no further).
cat > "$tmp/chain-time.yaml" <<'YAML'
streams:
  raw: {time: {field: ts, unit: s, max_out_of_orderness: 0s}}
rules:
  - id: forward-a-b
    kind: filter
    stream: raw
    when: kind == "a" or kind == "b"
    emit: {stream: ab}
  - id: a-then-b
    kind: pattern
    stream: ab
    pattern:
      - step: a
        when: kind == "a"
      - step: b
        when: kind == "b"
    within: 10s
    on_timeout: {message: "a without b"}
YAML
printf '%s\n' '{"ts":0,"kind":"a"}' '{"ts":100,"kind":"x"}' '{"ts":101,"kind":"x"}' > "$tmp/chain-time.jsonl"
"$cepd" replay --rules "$tmp/chain-time.yaml" --stream raw --at-eof drain "$tmp/chain-time.jsonl" \
    > "$tmp/chain-time.out" 2>/dev/null
grep -q '"message":"a without b"' "$tmp/chain-time.out" \
    && ok "a derived stream follows its producer's watermark" \
    || bad "a derived stream follows its producer's watermark"

# cepd run: a followed file source into a file sink; rotation by rename;
# SIGUSR1 reopens the sink; SIGTERM stops with status 0.
wait_lines() { # wait_lines FILE N: up to 10 s (scaled by CEPD_TEST_TIMEOUT)
    local limit=$((100 * ${CEPD_TEST_TIMEOUT:-1})) i=0
    while [ "$i" -lt "$limit" ]; do
        [ -f "$1" ] && [ "$(wc -l < "$1")" -ge "$2" ] && return 0
        sleep 0.1; i=$((i + 1))
    done
    return 1
}
wait_grep() { # wait_grep PATTERN FILE: up to 10 s (scaled)
    local limit=$((100 * ${CEPD_TEST_TIMEOUT:-1})) i=0
    while [ "$i" -lt "$limit" ]; do
        grep -q "$1" "$2" 2>/dev/null && return 0
        sleep 0.1; i=$((i + 1))
    done
    return 1
}
mkdir -p "$tmp/run"
cat > "$tmp/run/cepd.yaml" <<YAML
rules: [$tmp/rules.yaml]
sources:
  - {name: auth-log, type: file, path: $tmp/run/auth.jsonl, stream: auth, format: json}
sinks:
  - {name: alerts, type: file, path: $tmp/run/alerts.jsonl}
default_sinks: [alerts]
dead_letter: $tmp/run/dead.jsonl
YAML
"$cepd" check -c "$tmp/run/cepd.yaml" >/dev/null 2>&1 && ok "check -c accepts the run config" \
    || bad "check -c accepts the run config"
# max_line_bytes outside 64..256 MiB is a config error (an event holds
# its line in 32-bit sized buffers), for a source as for the top level.
sed 's/format: json}/format: json, max_line_bytes: 10}/' "$tmp/run/cepd.yaml" > "$tmp/run/bad-line.yaml"
echo "max_line_bytes: 4294967296" >> "$tmp/run/bad-line.yaml"
"$cepd" check -c "$tmp/run/bad-line.yaml" > "$tmp/run/bad-line.out" 2>&1
[ $? -eq 1 ] && [ "$(grep -c 'max_line_bytes must be from 64 to 268435456' "$tmp/run/bad-line.out")" -eq 2 ] \
    && ok "check -c refuses max_line_bytes out of range, with the range" \
    || bad "check -c refuses max_line_bytes out of range, with the range"
head -n 2 "$tmp/events.jsonl" > "$tmp/run/auth.jsonl"
"$cepd" run -c "$tmp/run/cepd.yaml" 2> "$tmp/run/log" &
pid=$!
wait_lines "$tmp/run/alerts.jsonl" 1 && ok "run alerts on existing lines" || bad "run alerts on existing lines"
echo '{"ts":10,"event":"login","user":"root","src_ip":"10.9.9.1"}' >> "$tmp/run/auth.jsonl"
echo '{"ts":11,"event":' >> "$tmp/run/auth.jsonl"
wait_lines "$tmp/run/alerts.jsonl" 2 && ok "run follows appended lines" || bad "run follows appended lines"
wait_lines "$tmp/run/dead.jsonl" 1 && ok "run dead-letters bad lines" || bad "run dead-letters bad lines"
mv "$tmp/run/auth.jsonl" "$tmp/run/auth.jsonl.1"
echo '{"ts":12,"event":"login","user":"root","src_ip":"10.9.9.2"}' > "$tmp/run/auth.jsonl"
wait_lines "$tmp/run/alerts.jsonl" 3 && ok "run reopens a rotated file" || bad "run reopens a rotated file"
mv "$tmp/run/alerts.jsonl" "$tmp/run/alerts.jsonl.1"
kill -USR1 "$pid"
wait_grep 'reopened file sinks' "$tmp/run/log"
echo '{"ts":13,"event":"login","user":"root","src_ip":"10.9.9.3"}' >> "$tmp/run/auth.jsonl"
wait_lines "$tmp/run/alerts.jsonl" 1 && ok "SIGUSR1 reopens the file sink" || bad "SIGUSR1 reopens the file sink"
kill -HUP "$pid"
wait_grep 'reloaded: 1 rules (1 kept their state' "$tmp/run/log" && kill -0 "$pid" 2>/dev/null \
    && ok "SIGHUP reloads and does not kill run" || bad "SIGHUP reloads and does not kill run"
kill -TERM "$pid"
wait "$pid"; rc=$?
[ $rc -eq 0 ] && ok "SIGTERM stops run with status 0" || bad "SIGTERM stops run with status 0 ($rc)"
grep -q 'stopping: 5 events, 1 rejected, 0 late, 4 alerts' "$tmp/run/log" && ok "run logs its totals" \
    || bad "run logs its totals: $(tail -1 "$tmp/run/log")"
# cepd run with pattern rules: an idle source releases its buffered events
# (idle_timeout), and processing-time within timers fire without input.
cat > "$tmp/run/pat.yaml" <<'YAML'
streams:
  slow: {time: {field: ts, unit: s, max_out_of_orderness: 1h, idle_timeout: 200ms}}
rules:
  - id: held-pair
    kind: pattern
    stream: slow
    pattern:
      - step: a
        when: kind == "a"
      - step: b
        when: kind == "b"
    message: "pair at ${b.ts}"
  - id: no-ack
    kind: pattern
    stream: wall
    pattern:
      - step: req
        when: kind == "req"
      - step: ack
        when: kind == "ack"
    within: 300ms
    on_timeout: {message: "request ${id} not acknowledged"}
YAML
cat > "$tmp/run/pat-cepd.yaml" <<YAML
rules: [$tmp/run/pat.yaml]
sources:
  - {name: slow-in, type: file, path: $tmp/run/slow.jsonl, stream: slow}
  - {name: wall-in, type: file, path: $tmp/run/wall.jsonl, stream: wall}
sinks: [{name: out, type: file, path: $tmp/run/pat-alerts.jsonl}]
default_sinks: [out]
YAML
printf '%s\n' '{"ts":10,"kind":"a"}' '{"ts":11,"kind":"b"}' > "$tmp/run/slow.jsonl"
echo '{"id":"r1","kind":"req"}' > "$tmp/run/wall.jsonl"
"$cepd" run -c "$tmp/run/pat-cepd.yaml" 2> "$tmp/run/pat-log" &
pid=$!
wait_grep '"message":"pair at 11"' "$tmp/run/pat-alerts.jsonl" \
    && ok "idle_timeout releases buffered events" || bad "idle_timeout releases buffered events"
wait_grep '"message":"request r1 not acknowledged"' "$tmp/run/pat-alerts.jsonl" \
    && ok "processing-time within fires without input" \
    || bad "processing-time within fires without input"
kill -TERM "$pid"
wait "$pid" && ok "run with pattern rules stops cleanly" || bad "run with pattern rules stops cleanly"

# A file sink or dead-letter file that cannot be opened would lose data:
# run refuses to start, naming it.
printf 'rules: [%s]\nsources: [{name: in, type: stdin, stream: auth}]\nsinks: [{name: out, type: file, path: %s/no/such/dir/a.jsonl}]\ndefault_sinks: [out]\n' \
    "$tmp/rules.yaml" "$tmp" > "$tmp/run/badsink.yaml"
"$cepd" run -c "$tmp/run/badsink.yaml" < /dev/null > "$tmp/run/badsink.out" 2>&1
[ $? -eq 2 ] && grep -q "sink out: open" "$tmp/run/badsink.out" \
    && ok "run refuses a file sink it cannot open" || bad "run refuses a file sink it cannot open"
printf 'rules: [%s]\nsources: [{name: in, type: stdin, stream: auth}]\ndead_letter: %s/no/such/dir/dead.jsonl\n' \
    "$tmp/rules.yaml" "$tmp" > "$tmp/run/baddead.yaml"
"$cepd" run -c "$tmp/run/baddead.yaml" < /dev/null > "$tmp/run/baddead.out" 2>&1
[ $? -eq 2 ] && grep -q "dead_letter: open" "$tmp/run/baddead.out" \
    && ok "run refuses a dead-letter file it cannot open" \
    || bad "run refuses a dead-letter file it cannot open"

# A source that cannot start (an address this host does not have) would
# lose its input: run refuses to start, naming it.
printf 'sources: [{name: net, type: tcp, listen: "192.0.2.1:9751", stream: auth}]\nrules: [%s]\n' \
    "$tmp/rules.yaml" > "$tmp/run/tcp.yaml"
"$cepd" run -c "$tmp/run/tcp.yaml" > "$tmp/run/tcp.out" 2>&1
[ $? -eq 2 ] && grep -q "net: cannot listen on 192.0.2.1:9751" "$tmp/run/tcp.out" \
    && ok "run refuses a source it cannot start" || bad "run refuses a source it cannot start"

# Savepoints and checkpoint inspection: usage errors exit 2, a daemon that
# cannot be asked or a file that cannot be read exit 1, each with a reason.
"$cepd" checkpoint > /dev/null 2>&1
[ $? -eq 2 ] && ok "checkpoint without a subcommand exits 2" \
    || bad "checkpoint without a subcommand exits 2"
"$cepd" checkpoint frob x > "$tmp/run/ck.out" 2>&1
[ $? -eq 2 ] && grep -q "unknown subcommand 'frob'" "$tmp/run/ck.out" \
    && ok "checkpoint rejects an unknown subcommand" || bad "checkpoint rejects an unknown subcommand"
"$cepd" checkpoint inspect "$tmp/run/none.ckpt" > "$tmp/run/ck.out" 2>&1
[ $? -eq 1 ] && grep -q "none.ckpt" "$tmp/run/ck.out" \
    && ok "inspect of a missing file exits 1 naming it" || bad "inspect of a missing file exits 1 naming it"
echo "not a checkpoint" > "$tmp/run/junk.ckpt"
"$cepd" checkpoint inspect "$tmp/run/junk.ckpt" > /dev/null 2> "$tmp/run/ck.out"
[ $? -eq 1 ] && [ -s "$tmp/run/ck.out" ] \
    && ok "inspect of a non-checkpoint exits 1 with a reason" \
    || bad "inspect of a non-checkpoint exits 1 with a reason"
"$cepd" savepoint > /dev/null 2>&1
[ $? -eq 2 ] && ok "savepoint without -c exits 2" || bad "savepoint without -c exits 2"
printf 'rules: [%s]\nsources: [{name: in, type: stdin, stream: auth}]\n' "$tmp/rules.yaml" \
    > "$tmp/run/noadmin.yaml"
"$cepd" savepoint -c "$tmp/run/noadmin.yaml" sp.txt > "$tmp/run/sp.out" 2>&1
[ $? -eq 2 ] && grep -q "must end in .ckpt" "$tmp/run/sp.out" \
    && ok "savepoint wants a .ckpt name" || bad "savepoint wants a .ckpt name"
"$cepd" savepoint -c "$tmp/run/noadmin.yaml" > "$tmp/run/sp.out" 2>&1
[ $? -eq 1 ] && grep -q "sets no admin.listen" "$tmp/run/sp.out" \
    && ok "savepoint without admin.listen exits 1" || bad "savepoint without admin.listen exits 1"
# A port nothing listens on: the kernel's pick, closed again at once.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'rules: [%s]\nsources: [{name: in, type: stdin, stream: auth}]\nadmin: {listen: "127.0.0.1:%s"}\n' \
    "$tmp/rules.yaml" "$port" > "$tmp/run/admin.yaml"
"$cepd" savepoint -c "$tmp/run/admin.yaml" > "$tmp/run/sp.out" 2>&1
[ $? -eq 1 ] && grep -q "cannot connect to 127.0.0.1:$port" "$tmp/run/sp.out" \
    && ok "savepoint with no daemon running exits 1" || bad "savepoint with no daemon running exits 1"
"$cepd" run -c "$tmp/run/noadmin.yaml" --from-savepoint "$tmp/run/x.ckpt" < /dev/null \
    > "$tmp/run/sp.out" 2>&1
[ $? -eq 2 ] && grep -q "from-savepoint needs checkpoint.dir" "$tmp/run/sp.out" \
    && ok "run --from-savepoint needs checkpoint.dir" || bad "run --from-savepoint needs checkpoint.dir"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
