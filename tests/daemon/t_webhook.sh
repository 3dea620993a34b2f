#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The webhook sink end to end: a file source into `cepd run` with a webhook
# sink posting to tests/tools/http_receiver.  Asserts, with the receiver in
# each mode: accept: one POST per alert with Content-Type, Idempotency-Key
# equal to the body's alert_id and an X-Cepd-Signature the test recomputes
# with python3's hmac; fail500 then accept: after recovery every alert was
# accepted exactly once per Idempotency-Key; hang with a small queue: the
# full queue pauses the file source and nothing is lost after the receiver
# recovers; fail400: the alert is dead-lettered at once and the log says
# retrying cannot help; unreachable, with a dead-letter file that refuses
# writes: the alert undelivered at the stop is logged.  Only 127.0.0.1;
# every wait bounded.
# Tested by: tests/daemon/run.sh (make check)
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

rcv=${TOP_BUILDDIR:-$(dirname "$CEPD")}/tests/tools/http_receiver
[ -x "$rcv" ] || skip "http_receiver not built ($rcv)"
bg_start "$rcv" --port 0 --port-file "$T_DIR/rcv.port" --mode accept --log "$T_DIR/rcv.log"
wait_for test -s "$T_DIR/rcv.port" || { bad "http_receiver starts"; finish; }
RPORT=$(cat "$T_DIR/rcv.port")
mode() { [ "$(http POST "http://127.0.0.1:$RPORT/_mode?m=$1" | head -1)" = 200 ]; }

printf 'k3y-for-tests\n' > "$T_DIR/secret"
cat > "$T_DIR/rules.yaml" <<'YAML'
rules:
  - id: every
    when: n >= 0
    message: "event ${n}"
YAML
cat > "$T_DIR/cepd.yaml" <<YAML
rules: [$T_DIR/rules.yaml]
sources:
  - {name: in, type: file, path: $T_DIR/in.jsonl}
sinks:
  - name: hook
    type: webhook
    url: "http://127.0.0.1:$RPORT/hook"
    secret_file: $T_DIR/secret
    headers: {X-Tenant: blue}
    timeout: 1s
    max_retries: 1000
    backoff_max: 300ms
    queue_size: 5
default_sinks: [hook]
dead_letter: $T_DIR/dead.jsonl
log: {level: info}
YAML
events() { # events FROM TO
    local i
    for i in $(seq "$1" "$2"); do echo "{\"n\":$i}"; done >> "$T_DIR/in.jsonl"
}
# accepted FROM TO: the receiver accepted each of events FROM..TO exactly
# once, and every request carried the right key and signature.
accepted() {
    python3 - "$T_DIR/rcv.log" "$T_DIR/secret" "$1" "$2" <<'PY'
import hashlib, hmac, json, sys
log, secret, lo, hi = sys.argv[1], open(sys.argv[2], "rb").read().rstrip(b"\r\n"), int(sys.argv[3]), int(sys.argv[4])
ok = {}
for line in open(log):
    r = json.loads(line)
    body = r["body"].encode()
    a = json.loads(body)
    want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    if r["sig"] != want or r["key"] != a["alert_id"] or r["content_type"] != "application/json":
        sys.exit("bad request: %r" % r)
    if r["status"] == 200:
        ok[a["message"]] = ok.get(a["message"], 0) + 1
for n in range(lo, hi + 1):
    if ok.get("event %d" % n) != 1:
        sys.exit("event %d accepted %s times" % (n, ok.get("event %d" % n)))
PY
}
requests_ge() { [ -f "$T_DIR/rcv.log" ] && [ "$(grep -c "\"mode\":\"$1\"" "$T_DIR/rcv.log")" -ge "$2" ]; }

: > "$T_DIR/in.jsonl"
daemon_start "$T_DIR/cepd.yaml" || { bad "cepd run starts with a webhook sink"; finish; }
ok "cepd run starts with a webhook sink"

events 1 3
wait_for accepted 1 3 && ok "accept: one signed POST per alert, Idempotency-Key = alert_id" \
    || { accepted 1 3; bad "accept: one signed POST per alert, Idempotency-Key = alert_id"; }

# An outage: every attempt fails with 500, then the receiver recovers.
mode fail500 || bad "receiver mode fail500"
events 4 8
wait_for requests_ge fail500 6 && ok "failed deliveries are retried" || bad "failed deliveries are retried"
mode accept || bad "receiver mode accept"
wait_for accepted 1 8 && ok "after the outage every alert was accepted exactly once" \
    || { accepted 1 8; bad "after the outage every alert was accepted exactly once"; }

# The receiver hangs: requests time out, the queue (5) fills, the file
# source pauses; after recovery nothing is missing.
mode hang || bad "receiver mode hang"
events 9 40
wait_for log_has 'sink hook is full .*pausing the sources' \
    && ok "a full queue pauses the sources" || bad "a full queue pauses the sources"
wait_for log_has 'sink hook: .*timed out' && ok "a hanging receiver times out" \
    || bad "a hanging receiver times out"
mode accept || bad "receiver mode accept"
wait_for accepted 1 40 && ok "nothing is lost after the receiver recovers" \
    || { accepted 1 40; bad "nothing is lost after the receiver recovers"; }
wait_for log_has 'resuming the sources' && ok "the sources resume" || bad "the sources resume"

# A 4xx cannot get better by resending: dead-lettered at once.
mode fail400 || bad "receiver mode fail400"
events 41 41
wait_for count_ge '"sink":"hook".*"attempts":1,.*HTTP 400' "$T_DIR/dead.jsonl" 1 \
    && ok "a 4xx answer is dead-lettered at once" || bad "a 4xx answer is dead-lettered at once"
log_has 'retrying cannot help' && ok "the log says retrying cannot help" \
    || bad "the log says retrying cannot help"
[ "$(grep -c '"sink":"hook"' "$T_DIR/dead.jsonl")" -eq 1 ] && ok "only that alert is dead-lettered" \
    || bad "only that alert is dead-lettered"
daemon_stop TERM && ok "SIGTERM: exit 0" || bad "SIGTERM: exit 0"

# A receiver that never answers: at the stop (after the bounded drain) the
# alert still queued is dead-lettered; a record the sink's dead-letter file
# refuses (/dev/full) goes to the log, not nowhere.
cat > "$T_DIR/down.yaml" <<YAML
rules: [$T_DIR/rules.yaml]
sources:
  - {name: in, type: file, path: $T_DIR/down.jsonl}
sinks:
  - name: down
    type: webhook
    url: "http://127.0.0.1:$(free_port)/hook"
    max_retries: 1000
    backoff_max: 300ms
    dead_letter: /dev/full
default_sinks: [down]
log: {level: info}
YAML
echo '{"n":99}' > "$T_DIR/down.jsonl"
DAEMON_LOG=$T_DIR/down.log
daemon_start "$T_DIR/down.yaml" || bad "a run with an unreachable webhook starts"
wait_for log_has 'sink down: delivery failed' || bad "the unreachable webhook fails"
daemon_stop TERM && ok "unreachable webhook: SIGTERM, exit 0" \
    || bad "unreachable webhook: SIGTERM, exit 0"
log_has 'sink down: write to the dead-letter file /dev/full: No space left on device' \
    && log_has 'sink down: dead letter: \{"sink":"down",.*"error":"undelivered when cepd stopped",.*event 99' \
    && ok "an undelivered alert the dead-letter file refuses is logged at the stop" \
    || bad "an undelivered alert the dead-letter file refuses is logged at the stop"
finish
