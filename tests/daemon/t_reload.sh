#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Reload under traffic (SIGHUP and POST /reload).  A pattern half-matched
# before a reload completes after it, reading the held event's fields
# correctly although the reload added a rule (first in the file) reading a
# new field, which renumbers the stream's slots; the file source keeps its
# position (no line read twice); a reload whose rules fail to compile logs
# the diagnostic with its position, answers 422, changes nothing (/rules
# identical, state kept, the daemon running) and is counted; a rule whose
# compiled form changed starts afresh; a reload that adds a sink and routes
# a rule to it takes effect.
# Tested by: tests/daemon/run.sh (make check)
set -u
. "$(dirname "$0")/lib.sh"
d=$T_DIR
port=$(free_port)
url="http://127.0.0.1:$port"
rules_v1() {
    cat > "$d/rules.yaml" <<'YAML'
rules:
  - id: root
    stream: auth
    when: user == "root"
    message: "root ${seq}"
  - id: pair
    kind: pattern
    stream: auth
    key: [user]
    pattern:
      - {step: a, when: kind == "a"}
      - {step: b, when: kind == "b"}
    message: "pair ${a.user} ${a.kind} ${a.seq} -> ${b.seq}"
YAML
}
rules_v1
cat > "$d/cepd.yaml" <<YAML
rules: [$d/rules.yaml]
sources: [{name: in, type: file, path: $d/in.jsonl, stream: auth}]
sinks: [{name: out, type: file, path: $d/alerts.jsonl}]
default_sinks: [out]
admin: {listen: "127.0.0.1:$port"}
YAML
: > "$d/in.jsonl"
check "cepd run starts" daemon_start "$d/cepd.yaml"
wait_for port_open "$port"
emit() { echo "$1" >> "$d/in.jsonl"; }
emit '{"user":"u1","kind":"a","seq":1}'
emit '{"user":"root","seq":2}'
check "the root line alerts" wait_for count_ge '"root 2"' "$d/alerts.jsonl" 1
check "u1 is half-matched" \
    wait_for metric_is 'cepd_rule_partial_matches{rule="pair"}' "$url" 1

# Traffic while reloading: root lines every 10 ms.
(
    for i in $(seq 100 399); do
        echo "{\"user\":\"root\",\"seq\":$i,\"host\":\"h$i\"}" >> "$d/in.jsonl"
        sleep 0.01
    done
) &
traffic=$!
T_PIDS="$T_PIDS $traffic"
sleep 0.5
# A new first rule reads a new field (host): slots shift in the schema.
{
    echo 'rules:'
    echo '  - id: by-host'
    echo '    stream: auth'
    echo '    when: host == "web1" and kind == "b"'
    echo '    message: "b on web1 for ${user}"'
    tail -n +2 "$d/rules.yaml"
} > "$d/rules.new" && mv "$d/rules.new" "$d/rules.yaml"
http GET "$url/rules" | tail -n +2 > "$d/rules.before"
kill -HUP "$DAEMON_PID"
check "SIGHUP reloads, keeping the state of both unchanged rules" \
    wait_for log_has 'reloaded: 3 rules \(2 kept their state, 0 changed, 1 new, 0 removed; 1 held events moved\), 1 sources running \(1 unchanged\)'
wait "$traffic"
emit '{"user":"u1","kind":"b","seq":3,"host":"web1"}'
check "the half-matched pattern completes after the reload" \
    wait_for count_ge '"pair u1 a 1 -> 3"' "$d/alerts.jsonl" 1
check "the new rule reading a new field works" \
    wait_for count_ge '"b on web1 for u1"' "$d/alerts.jsonl" 1
check "every root line under traffic alerted once (the source kept its position)" \
    test "$(grep -c '"rule":"root"' "$d/alerts.jsonl")" -eq 301
check "no alert came twice" \
    test "$(grep -o '"alert_id":"[0-9a-f]*"' "$d/alerts.jsonl" | sort | uniq -d | wc -l)" -eq 0
check "/metrics counts the reload" test "$(metric 'cepd_reloads_total{result="ok"}' "$url")" = 1

# A reload that fails changes nothing.
emit '{"user":"u3","kind":"a","seq":4}'
wait_for metric_is 'cepd_rule_partial_matches{rule="pair"}' "$url" 1
http GET "$url/rules" | tail -n +2 > "$d/rules.before"
cp "$d/rules.yaml" "$d/rules.good"
printf '  - id: broken\n    stream: auth\n    when: user ==\n' >> "$d/rules.yaml"
kill -HUP "$DAEMON_PID"
check "a failed reload is logged" wait_for log_has 'reload failed: the configuration or the rules have errors'
check "... with the diagnostic at its position" log_has "reload: .*rules.yaml:[0-9]+:[0-9]+: error"
check "the daemon keeps running" daemon_alive
http GET "$url/rules" | tail -n +2 > "$d/rules.after"
check "/rules is unchanged" cmp -s "$d/rules.before" "$d/rules.after"
http POST "$url/reload" > "$d/reload.out"
check "POST /reload of broken rules answers 422" test "$(head -n 1 "$d/reload.out")" = 422
check "... with the reason" grep -q '"ok":false,"error":"the configuration or the rules have errors' \
    "$d/reload.out"
check "/metrics counts the failed reloads" \
    test "$(metric 'cepd_reloads_total{result="failed"}' "$url")" = 2
emit '{"user":"u3","kind":"b","seq":5}'
check "state survives a failed reload" wait_for count_ge '"pair u3 a 4 -> 5"' "$d/alerts.jsonl" 1

# A changed rule starts afresh; a new sink takes the rule routed to it.
emit '{"user":"u4","kind":"a","seq":6}'
wait_for metric_is 'cepd_rule_partial_matches{rule="pair"}' "$url" 1
sed -e 's/message: "pair /message: "PAIR /' -e 's/^  - id: root$/  - id: root\n    sinks: [extra]/' \
    "$d/rules.good" > "$d/rules.yaml"
sed -i -e "s|^sinks:.*|sinks: [{name: out, type: file, path: $d/alerts.jsonl}, {name: extra, type: file, path: $d/extra.jsonl}]|" \
    "$d/cepd.yaml"
http POST "$url/reload" > "$d/reload.out"
check "POST /reload answers 200 with the rule count" grep -q '"ok":true,"rules":3' "$d/reload.out"
check "changed rules (pair, and root with its new sinks) start afresh" \
    log_has 'reloaded: 3 rules \(1 kept their state, 2 changed, 0 new, 0 removed.*2 sinks \(1 unchanged\)'
emit '{"user":"u4","kind":"b","seq":7}'
emit '{"user":"root","seq":8}'
check "the new sink receives the rule routed to it" wait_for count_ge '"root 8"' "$d/extra.jsonl" 1
check "the changed rule lost its partial match" bash -c "! grep -qi 'pair u4' '$d/alerts.jsonl'"
emit '{"user":"u5","kind":"a","seq":9}'
emit '{"user":"u5","kind":"b","seq":10}'
check "the changed rule works afresh" wait_for count_ge '"PAIR u5 a 9 -> 10"' "$d/alerts.jsonl" 1
daemon_stop TERM
check "SIGTERM exits 0" test $? -eq 0
finish
