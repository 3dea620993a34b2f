#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The admin HTTP API (python3 urllib as the client): /healthz without a
# token; /metrics, /rules, /reload and /savepoint answer 401 without the
# bearer token or with a wrong one and work with it; /metrics is valid
# Prometheus text with the per-rule, per-source and per-sink families;
# /rules lists id, kind, stream, hash and enabled; /savepoint without
# checkpoint.dir is 409 with a JSON error (t_savepoint.sh has the rest); wrong methods 405, unknown paths 404; a token from
# token_file; a non-loopback address without a token, and a malformed
# listen address, are refused at start (exit 2).  Only 127.0.0.1 is bound.
# Tested by: tests/daemon/run.sh (make check)
set -u
. "$(dirname "$0")/lib.sh"
d=$T_DIR
cat > "$d/rules.yaml" <<'YAML'
rules:
  - id: root
    stream: auth
    when: user == "root"
    message: "root"
  - id: brute
    kind: pattern
    stream: auth
    key: [src]
    pattern:
      - {step: f, when: event == "fail", times: 3}
    message: "brute force from ${src}"
YAML
printf '%s\n' '{"user":"root","src":"a"}' '{"event":"fail","src":"b"}' > "$d/in.jsonl"
port=$(free_port)
cat > "$d/cepd.yaml" <<YAML
rules: [$d/rules.yaml]
sources: [{name: auth-log, type: file, path: $d/in.jsonl, stream: auth}]
sinks: [{name: out, type: file, path: $d/alerts.jsonl}]
default_sinks: [out]
admin: {listen: "127.0.0.1:$port", token: s3cret}
YAML
url="http://127.0.0.1:$port"
check "cepd run starts with an admin server" daemon_start "$d/cepd.yaml"
check "the admin server listens" wait_for port_open "$port"
wait_for lines_ge "$d/alerts.jsonl" 1
code() { http "$@" | sed -n 1p; }
check "/healthz needs no token" test "$(code GET "$url/healthz")" = 200
healthz_ok() { http GET "$url/healthz" | grep -q '"status":"ok"'; }
check "/healthz says ok" healthz_ok
check "/metrics without a token is 401" test "$(code GET "$url/metrics")" = 401
check "/metrics with a wrong token is 401" test "$(code GET "$url/metrics" wrong)" = 401
check "/rules without a token is 401" test "$(code GET "$url/rules")" = 401
check "/reload without a token is 401" test "$(code POST "$url/reload")" = 401
check "/metrics with the token is 200" test "$(code GET "$url/metrics" s3cret)" = 200

http GET "$url/metrics" s3cret | tail -n +2 > "$d/metrics.txt"
check "/metrics is Prometheus text with a TYPE for every family" python3 - "$d/metrics.txt" <<'PY'
import re, sys
types, ok = {}, True
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if line.startswith("# TYPE "):
        _, _, name, kind = line.split(" ")
        types[name] = kind
    elif line.startswith("#") or not line:
        continue
    else:
        m = re.match(r'^([a-z_]+)(\{([a-z_]+="([^"\\]|\\.)*",?)+\})? (NaN|-?[0-9]+(\.[0-9]+)?)$', line)
        if not m or m.group(1) not in types:
            print("bad line:", line); ok = False
sys.exit(0 if ok and len(types) > 30 else 1)
PY
for m in 'cepd_rule_events_evaluated_total{rule="root"}' 'cepd_rule_matches_total{rule="root"}' \
    'cepd_rule_alerts_total{rule="root"}' 'cepd_rule_partial_matches{rule="brute"}' \
    'cepd_rule_state_bytes{rule="brute"}' 'cepd_rule_type_mismatches_total{rule="root"}' \
    'cepd_rule_regex_limit_hits_total{rule="root"}' 'cepd_source_lines_total{source="auth-log"}' \
    'cepd_source_bytes_total{source="auth-log"}' 'cepd_source_errors_total{source="auth-log"}' \
    'cepd_source_lag{source="auth-log"}' 'cepd_source_watermark_seconds{source="auth-log"}' \
    'cepd_sink_queued_total{sink="out"}' 'cepd_sink_delivered_total{sink="out"}' \
    'cepd_sink_retried_total{sink="out"}' 'cepd_sink_dead_lettered_total{sink="out"}' \
    'cepd_sink_queue_depth{sink="out"}' 'cepd_uptime_seconds' 'cepd_reloads_total{result="ok"}' \
    'cepd_reloads_total{result="failed"}'; do
    grep -qF "$m " "$d/metrics.txt" && ok "metric $m" || bad "metric $m"
done
check "partial matches are counted" grep -qx 'cepd_rule_partial_matches{rule="brute"} 1' "$d/metrics.txt"
check "a rule holding state has state bytes" \
    awk '$1 == "cepd_rule_state_bytes{rule=\"brute\"}" && $2 > 0 { f = 1 } END { exit !f }' \
    "$d/metrics.txt"
check "alerts are counted" grep -qx 'cepd_rule_alerts_total{rule="root"} 1' "$d/metrics.txt"
check "the source's lines are counted" grep -qx 'cepd_source_lines_total{source="auth-log"} 2' \
    "$d/metrics.txt"

http GET "$url/rules" s3cret > "$d/rules.out"
check "/rules is 200" test "$(head -n 1 "$d/rules.out")" = 200
check "/rules lists id, kind, stream, hash and enabled" python3 - "$d/rules.out" <<'PY'
import json, sys
rules = json.loads("".join(open(sys.argv[1]).read().split("\n", 1)[1]))
ids = {r["id"]: r for r in rules}
assert set(ids) == {"root", "brute"}, ids
assert ids["brute"]["kind"] == "pattern" and ids["root"]["kind"] == "simple"
assert all(r["stream"] == "auth" and r["enabled"] is True for r in rules)
assert all(len(r["hash"]) == 16 and int(r["hash"], 16) >= 0 for r in rules)
PY
http POST "$url/savepoint" s3cret > "$d/sp.out"
check "/savepoint is 409 without checkpoint.dir" test "$(head -n 1 "$d/sp.out")" = 409
check "/savepoint says why in JSON" grep -q '"error":"savepoints need checkpoint.dir' "$d/sp.out"
"$CEPD" savepoint -c "$d/cepd.yaml" > /dev/null 2> "$d/sp.err"
check "cepd savepoint exits 1 with the daemon's reason" test $? -eq 1
check "  (the refusal is printed)" grep -q 'answered 409: savepoints need checkpoint.dir' "$d/sp.err"
check "GET /reload is 405" test "$(code GET "$url/reload" s3cret)" = 405
check "POST /rules is 405" test "$(code POST "$url/rules" s3cret)" = 405
check "an unknown path is 404" test "$(code GET "$url/nope" s3cret)" = 404
check "the daemon survives it all" daemon_alive
daemon_stop TERM
check "SIGTERM exits 0" test $? -eq 0

# token_file
printf 'from-file\n' > "$d/token"
port=$(free_port)
url="http://127.0.0.1:$port"
sed -e "s|^admin:.*|admin: {listen: \"127.0.0.1:$port\", token_file: token}|" "$d/cepd.yaml" \
    > "$d/cepd2.yaml"
check "cepd run starts with token_file" daemon_start "$d/cepd2.yaml"
wait_for port_open "$port"
check "the token from token_file is accepted" test "$(code GET "$url/rules" from-file)" = 200
check "another token is refused" test "$(code GET "$url/rules" s3cret)" = 401
daemon_stop TERM

# Refusals at start.
sed -e 's|^admin:.*|admin: {listen: "0.0.0.0:1"}|' "$d/cepd.yaml" > "$d/remote.yaml"
"$CEPD" run -c "$d/remote.yaml" < /dev/null > "$d/remote.out" 2>&1
check "a non-loopback address without a token is refused (exit 2)" test $? -eq 2
check "... saying why" grep -q 'admin: refusing to listen on 0.0.0.0:1 without a token' \
    "$d/remote.out"
sed -e 's|^admin:.*|admin: {listen: "nonsense"}|' "$d/cepd.yaml" > "$d/bad.yaml"
"$CEPD" run -c "$d/bad.yaml" < /dev/null > "$d/bad.out" 2>&1
check "a malformed listen address is refused (exit 2)" test $? -eq 2
check "... saying why" grep -q "admin: listen 'nonsense' is not HOST:PORT or :PORT" "$d/bad.out"
sed -e 's|^admin:.*|admin: {listen: ":1", token: x, token_file: y}|' "$d/cepd.yaml" > "$d/both.yaml"
"$CEPD" check -c "$d/both.yaml" > "$d/both.out" 2>&1
check "token and token_file together are a config error" grep -q "give either 'token' or 'token_file'" \
    "$d/both.out"
finish
