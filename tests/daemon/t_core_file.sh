#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The file source and the pipeline end to end: `cepd run` follows a file
# that does not exist yet into a file sink; appended lines alert; rotation
# by rename and by truncation are followed; malformed, oversized and
# invalid-UTF-8 lines are dead-lettered with their reason and counted in
# /metrics while the daemon carries on; per-rule sink routing (a rule's
# `sinks` vs default_sinks); SIGUSR1 reopens the file sink and the
# dead-letter file; SIGTERM drains
# and exits 0 with the totals logged.
# Tested by: tests/daemon/run.sh (make check)
set -u
. "$(dirname "$0")/lib.sh"
d=$T_DIR
admin=$(free_port)
cat > "$d/rules.yaml" <<'YAML'
rules:
  - id: root-login
    stream: auth
    when: event == "login" and user == "root"
    message: "root from ${src_ip}"
  - id: any-fail
    stream: auth
    when: event == "fail"
    message: "fail ${user}"
    sinks: [fails]
YAML
cat > "$d/cepd.yaml" <<YAML
rules: [$d/rules.yaml]
sources:
  - {name: auth-log, type: file, path: $d/auth.jsonl, stream: auth, max_line_bytes: 200}
sinks:
  - {name: alerts, type: file, path: $d/alerts.jsonl}
  - {name: fails, type: file, path: $d/fails.jsonl}
default_sinks: [alerts]
dead_letter: $d/dead.jsonl
admin: {listen: "127.0.0.1:$admin"}
YAML
url="http://127.0.0.1:$admin"
check "the daemon starts before its input file exists" daemon_start "$d/cepd.yaml"
check "the missing file is logged" wait_for log_has "source auth-log: open .*auth.jsonl: No such file"
printf '%s\n' '{"event":"login","user":"root","src_ip":"10.0.0.1"}' \
    '{"event":"login","user":"bob","src_ip":"10.0.0.2"}' > "$d/auth.jsonl"
check "a file that appears later is read" wait_for lines_ge "$d/alerts.jsonl" 1
echo '{"event":"fail","user":"eve"}' >> "$d/auth.jsonl"
check "a rule with its own sinks goes there" wait_for count_ge '"fail eve"' "$d/fails.jsonl" 1
check "... and not to default_sinks" bash -c "! grep -q 'fail eve' '$d/alerts.jsonl'"

# Bad lines: malformed, oversized, invalid UTF-8; good lines after them.
long=$(head -c 300 /dev/zero | tr '\0' 'x')
{
    echo '{"event":"login","user":'
    echo "{\"event\":\"login\",\"user\":\"root\",\"pad\":\"$long\"}"
    printf '{"event":"login","user":"\xff"}\n'
    echo '{"event":"login","user":"root","src_ip":"10.0.0.3"}'
} >> "$d/auth.jsonl"
check "lines after bad ones alert" wait_for count_ge '"root from 10.0.0.3"' "$d/alerts.jsonl" 1
check "3 bad lines are dead-lettered" wait_for lines_ge "$d/dead.jsonl" 3
check "the oversized line is dead-lettered as such" \
    grep -q '"source":"auth-log".*"reason":"line longer than max_line_bytes".*"truncated":true' \
    "$d/dead.jsonl"
check "the invalid UTF-8 line names its reason" grep -q 'invalid UTF-8' "$d/dead.jsonl"
check "the daemon survives bad lines" daemon_alive
check "/metrics counts the source's rejected lines" \
    test "$(metric 'cepd_source_rejected_total{source="auth-log"}' "$url")" = 3
check "/metrics counts the source's lines" \
    test "$(metric 'cepd_source_lines_total{source="auth-log"}' "$url")" = 7
check "/metrics counts the rule's alerts" \
    test "$(metric 'cepd_rule_alerts_total{rule="root-login"}' "$url")" = 2
check "/metrics counts what the sink delivered" \
    test "$(metric 'cepd_sink_delivered_total{sink="alerts"}' "$url")" = 2
check "/metrics shows no lag at the end of the file" \
    wait_for metric_is 'cepd_source_lag{source="auth-log"}' "$url" 0

# Rotation by rename: the rest of the old file, then the new one.
mv "$d/auth.jsonl" "$d/auth.jsonl.1"
echo '{"event":"login","user":"root","src_ip":"10.0.0.4"}' >> "$d/auth.jsonl.1"
echo '{"event":"login","user":"root","src_ip":"10.0.0.5"}' > "$d/auth.jsonl"
check "a line appended to the renamed file is read" \
    wait_for count_ge '"root from 10.0.0.4"' "$d/alerts.jsonl" 1
check "the new file is read after a rename" \
    wait_for count_ge '"root from 10.0.0.5"' "$d/alerts.jsonl" 1
# Truncation (copytruncate): read again from the start.
sleep 0.3
: > "$d/auth.jsonl"
check "a truncation is noticed" wait_for log_has 'auth.jsonl was truncated'
echo '{"event":"login","user":"root","src_ip":"10.0.0.6"}' >> "$d/auth.jsonl"
check "the truncated file is read from its start" \
    wait_for count_ge '"root from 10.0.0.6"' "$d/alerts.jsonl" 1
check "no alert came twice" \
    test "$(grep -o '"alert_id":"[0-9a-f]*"' "$d/alerts.jsonl" | sort | uniq -d | wc -l)" -eq 0

# SIGUSR1 reopens the file sink and the dead-letter file after logrotate
# moved them.
mv "$d/alerts.jsonl" "$d/alerts.jsonl.1"
mv "$d/dead.jsonl" "$d/dead.jsonl.1"
kill -USR1 "$DAEMON_PID"
check "SIGUSR1 is handled" wait_for log_has 'reopened file sinks and dead-letter files'
echo '{"event":"login","user":"root","src_ip":"10.0.0.7"}' >> "$d/auth.jsonl"
check "alerts go to the reopened sink" wait_for count_ge '"root from 10.0.0.7"' "$d/alerts.jsonl" 1
echo '{"event":"login","user":' >> "$d/auth.jsonl"
check "rejected lines go to the reopened dead-letter file" wait_for lines_ge "$d/dead.jsonl" 1
check "... and not to the renamed one" test "$(grep -c . "$d/dead.jsonl.1")" -eq 3

daemon_stop TERM
rc=$?
check "SIGTERM exits 0" test "$rc" -eq 0
check "the totals are logged" log_has 'stopping: 8 events, 4 rejected, 0 late, 7 alerts'
finish
