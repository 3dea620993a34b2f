#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The http source end to end: `cepd run` with an http source into a file
# sink, driven with curl.  Asserts 202 with the counts for JSON lines and a
# JSON array, alerts for what was accepted, 400 naming the bad line with
# nothing of that request taken, 413 for a body over max_body_bytes,
# 404/405, the daemon surviving it all, and a clean exit on SIGTERM.  Only
# 127.0.0.1; every wait and request bounded (CEPD_TEST_TIMEOUT scales
# them); exits 77 while `cepd run` does not run network sources.
# Tested by: tests/daemon/run.sh (make check)
set -u
: "${CEPD:?CEPD must name the cepd binary}"
command -v curl >/dev/null || { echo "skip: curl not found"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cepd-t_http.XXXXXX")
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
scale=${CEPD_TEST_TIMEOUT:-1}
limit=$((100 * scale)) # tenths of a second

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
# post PATH BODY_FILE [curl args]: prints "STATUS BODY"
post() {
    local path=$1 file=$2
    shift 2
    curl -sS --max-time $((10 * scale)) -o "$tmp/resp" -w '%{http_code}' \
        --data-binary "@$file" "$@" "http://127.0.0.1:$port$path" > "$tmp/code"
    printf '%s %s' "$(cat "$tmp/code")" "$(cat "$tmp/resp")"
}

cat > "$tmp/rules.yaml" <<'YAML'
rules:
  - id: root
    stream: api
    when: user == "root"
    message: "root ${tag}"
YAML
tries=0
while :; do
    port=$((20000 + RANDOM % 20000))
    if port_free "$port"; then
        cat > "$tmp/cepd.yaml" <<YAML
rules: [$tmp/rules.yaml]
sources:
  - {name: api, type: http, listen: "127.0.0.1:$port", stream: api, max_body_bytes: 4096}
sinks:
  - {name: out, type: file, path: $tmp/alerts.jsonl}
default_sinks: [out]
dead_letter: $tmp/dead.jsonl
YAML
        "$CEPD" run -c "$tmp/cepd.yaml" 2> "$tmp/log" &
        pid=$!
        until_ok port_open "$port" && break
        if grep -q "not supported by this release" "$tmp/log"; then
            echo "skip: cepd run does not run http sources yet"
            wait "$pid" 2>/dev/null
            pid=""
            exit 77
        fi
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        pid=""
    fi
    tries=$((tries + 1))
    if [ "$tries" -ge 5 ]; then
        cat "$tmp/log"
        echo "FAIL - cepd run did not listen"
        exit 1
    fi
done

# JSON lines (a blank line is skipped).
printf '%s\n' '{"ts":1,"user":"root","tag":"l1"}' '' '{"ts":2,"user":"bob","tag":"l2"}' \
    > "$tmp/lines"
r=$(post /events "$tmp/lines")
[ "$r" = '202 {"accepted":2,"rejected":0}' ] && ok "JSON lines: 202 with the counts" \
    || bad "JSON lines: 202 with the counts ($r)"
until_ok count_ge '"root l1"' "$tmp/alerts.jsonl" 1 && ok "an accepted line alerts" \
    || bad "an accepted line alerts"

# A JSON array.
printf '[{"ts":3,"user":"root","tag":"a1"},\n {"ts":4,"user":"root","tag":"a2"}]' > "$tmp/array"
r=$(post /events "$tmp/array" -H 'Content-Type: application/json')
[ "$r" = '202 {"accepted":2,"rejected":0}' ] && ok "JSON array: 202" || bad "JSON array: 202 ($r)"
until_ok count_ge '"root a2"' "$tmp/alerts.jsonl" 1 && ok "array elements alert" \
    || bad "array elements alert"

# A bad line: 400 naming it, and nothing of the request is taken.
printf '%s\n' '{"ts":5,"user":"root","tag":"bad-req"}' '{"ts":6,"user":' > "$tmp/bad"
r=$(post /events "$tmp/bad")
case "$r" in
    '400 {"error":"line 2: '*'"line":2}') ok "a bad line: 400 naming line 2" ;;
    *) bad "a bad line: 400 naming line 2 ($r)" ;;
esac
printf '%s\n' '{"ts":7,"user":"root","tag":"after-bad"}' > "$tmp/after"
r=$(post /events "$tmp/after")
until_ok count_ge '"root after-bad"' "$tmp/alerts.jsonl" 1 \
    && ! grep -q '"root bad-req"' "$tmp/alerts.jsonl" \
    && ok "nothing of a refused request is taken" || bad "nothing of a refused request is taken"

# Too large, wrong path, wrong method.
head -c 5000 /dev/zero | tr '\0' ' ' > "$tmp/big"
r=$(post /events "$tmp/big")
[ "${r%% *}" = 413 ] && ok "a body over max_body_bytes: 413" || bad "a body over max_body_bytes: 413 ($r)"
r=$(post /other "$tmp/after")
[ "${r%% *}" = 404 ] && ok "another path: 404" || bad "another path: 404 ($r)"
code=$(curl -sS --max-time $((10 * scale)) -o /dev/null -w '%{http_code}' \
    "http://127.0.0.1:$port/events")
[ "$code" = 405 ] && ok "GET /events: 405" || bad "GET /events: 405 ($code)"

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
