#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The tcp source end to end: `cepd run` with two tcp sources (json, and
# syslog with a pattern on msg) into a file sink.  Asserts alerts for good
# lines from one and from many clients, malformed, oversized and non-syslog
# lines dead-lettered while the connection and the daemon carry on, a
# partial line at disconnect dropped, a bad pattern reported at its column
# by `cepd check -c`, and a clean exit on SIGTERM.  Only 127.0.0.1; every
# wait bounded (CEPD_TEST_TIMEOUT scales them); exits 77 while `cepd run`
# does not run network sources.
# Tested by: tests/daemon/run.sh (make check)
set -u
: "${CEPD:?CEPD must name the cepd binary}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cepd-t_tcp.XXXXXX")
pid=""
cleanup() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
fail=0
ok() { echo "ok - $1"; }
bad() { echo "FAIL - $1"; fail=1; }
limit=$((100 * ${CEPD_TEST_TIMEOUT:-1})) # tenths of a second

# until CMD...: retry CMD every 0.1 s, for at most 10 s (scaled).
until_ok() {
    local i=0
    while [ "$i" -lt "$limit" ]; do
        "$@" 2>/dev/null && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}
count_ge() { [ -f "$2" ] && [ "$(grep -c -- "$1" "$2")" -ge "$3" ]; }
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
send() { printf '%b' "$2" > "/dev/tcp/127.0.0.1/$1"; }

# A bad pattern is a config error at its column.
cat > "$tmp/bad.yaml" <<'YAML'
sources:
  - name: logs
    type: tcp
    listen: 127.0.0.1:1
    format: regex
    pattern: '^(?<user>\w+) (from'
YAML
"$CEPD" check -c "$tmp/bad.yaml" > "$tmp/check.out" 2>&1
rc=$?
[ "$rc" -eq 1 ] && grep -q "bad.yaml:6:34: error: bad pattern: missing closing parenthesis" \
    "$tmp/check.out" && ok "check -c reports a bad pattern at its column" \
    || { cat "$tmp/check.out"; bad "check -c reports a bad pattern at its column ($rc)"; }

cat > "$tmp/rules.yaml" <<'YAML'
rules:
  - id: root-json
    stream: json
    when: user == "root"
    message: "json root ${tag}"
  - id: root-ssh
    stream: ssh
    when: app == "sshd" and user == "root"
    message: "ssh root from ${src_ip} port ${port}"
YAML

start() { # start: a config on two free ports, cepd run in the background
    local tries=0
    while [ "$tries" -lt 5 ]; do
        p1=$((20000 + RANDOM % 20000))
        p2=$((p1 + 1))
        if port_free "$p1" && port_free "$p2"; then
            cat > "$tmp/cepd.yaml" <<YAML
rules: [$tmp/rules.yaml]
sources:
  - {name: ingest, type: tcp, listen: "127.0.0.1:$p1", stream: json, format: json, max_line_bytes: 200}
  - name: sshlog
    type: tcp
    listen: "127.0.0.1:$p2"
    stream: ssh
    format: syslog
    pattern: '^Failed (?<method>\S+) for (?:invalid user )?(?<user>\S+) from (?<src_ip>\S+) port (?<port>\d+)'
sinks:
  - {name: out, type: file, path: $tmp/alerts.jsonl}
default_sinks: [out]
dead_letter: $tmp/dead.jsonl
YAML
            "$CEPD" run -c "$tmp/cepd.yaml" 2> "$tmp/log" &
            pid=$!
            if until_ok port_open "$p2"; then
                return 0
            fi
            if grep -q "not supported by this release" "$tmp/log"; then
                echo "skip: cepd run does not run tcp sources yet"
                wait "$pid" 2>/dev/null
                pid=""
                exit 77
            fi
            kill "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
            pid=""
        fi
        tries=$((tries + 1))
    done
    cat "$tmp/log"
    echo "FAIL - cepd run did not listen"
    exit 1
}
start
until_ok port_open "$p1" && ok "both tcp sources listen" || bad "both tcp sources listen"

# Good, malformed and oversized lines on one connection.
long=$(head -c 400 /dev/zero | tr '\0' 'x')
send "$p1" '{"user":"root","tag":"one"}\n{"user":\n{"user":"bob","tag":"two"}\n{"user":"root","pad":"'"$long"'"}\n{"user":"root","tag":"three"}\n'
until_ok count_ge '"json root three"' "$tmp/alerts.jsonl" 1 \
    && ok "a connection carries on after malformed and oversized lines" \
    || bad "a connection carries on after malformed and oversized lines"
count_ge '"json root one"' "$tmp/alerts.jsonl" 1 && ok "tcp json line alerts" \
    || bad "tcp json line alerts"
until_ok count_ge '"source":"ingest"' "$tmp/dead.jsonl" 2 \
    && ok "malformed and oversized lines are dead-lettered" \
    || bad "malformed and oversized lines are dead-lettered"

# A client that disconnects mid-line: the partial line is dropped.
send "$p1" '{"user":"root","tag":"partial"}'
send "$p1" '{"user":"root","tag":"after-partial"}\n'
until_ok count_ge '"json root after-partial"' "$tmp/alerts.jsonl" 1 \
    && ! grep -q '"json root partial"' "$tmp/alerts.jsonl" \
    && ok "a partial line at disconnect is dropped, the source carries on" \
    || bad "a partial line at disconnect is dropped, the source carries on"

# Many clients at once.
client_pids=""
for c in $(seq 1 10); do
    (
        lines=""
        for j in $(seq 1 20); do
            lines="$lines{\"user\":\"root\",\"tag\":\"bulk-$c-$j\"}\n"
        done
        send "$p1" "$lines"
    ) &
    client_pids="$client_pids $!"
done
wait_clients() { [ "$(grep -c '"json root bulk-' "$tmp/alerts.jsonl")" -ge 200 ]; }
until_ok wait_clients && ok "200 lines from 10 concurrent clients alert" \
    || bad "200 lines from 10 concurrent clients alert ($(grep -c '"json root bulk-' "$tmp/alerts.jsonl"))"
# shellcheck disable=SC2086
wait $client_pids

# Syslog lines with the msg pattern; a non-syslog line is dead-lettered.
send "$p2" 'Mar  5 10:11:12 bastion sshd[1234]: Failed password for root from 192.0.2.7 port 2222 ssh2\nnot syslog at all\n<38>Mar  5 10:11:13 bastion sshd[1235]: Failed password for invalid user root from 192.0.2.8 port 2223 ssh2\n'
until_ok count_ge '"ssh root from 192.0.2.8 port 2223"' "$tmp/alerts.jsonl" 1 \
    && count_ge '"ssh root from 192.0.2.7 port 2222"' "$tmp/alerts.jsonl" 1 \
    && ok "syslog lines with the msg pattern alert" || bad "syslog lines with the msg pattern alert"
until_ok count_ge '"source":"sshlog"' "$tmp/dead.jsonl" 1 \
    && grep '"source":"sshlog"' "$tmp/dead.jsonl" | grep -q 'no syslog timestamp' \
    && ok "a non-syslog line is dead-lettered with the reason" \
    || bad "a non-syslog line is dead-lettered with the reason"

kill -0 "$pid" 2>/dev/null && ok "the daemon survived" || bad "the daemon survived"
kill -TERM "$pid"
i=0
while kill -0 "$pid" 2>/dev/null && [ "$i" -lt "$limit" ]; do
    sleep 0.1
    i=$((i + 1))
done
wait "$pid"
rc=$?
pid=""
[ "$rc" -eq 0 ] && ok "SIGTERM exits 0" || bad "SIGTERM exits 0 ($rc)"
[ "$fail" -eq 0 ] || { echo "--- log"; cat "$tmp/log"; }
exit "$fail"
