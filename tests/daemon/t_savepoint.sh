#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Savepoints end to end.  POST /savepoint (bearer token as for /reload;
# bad paths refused with 400) and `cepd savepoint` write savepoints while
# a pattern is half-matched; `cepd checkpoint inspect` lists the rules and
# their keys, and exits 1 naming the CRC on a corrupted copy; SIGTERM with
# checkpoint.savepoint_on_stop writes one more.  Then one rule's condition
# changes and `cepd run --from-savepoint` restores: the log names the
# changed rule as reset and counts the other as kept, the half-matched
# pattern completes, and the file source resumes at the savepoint's
# position (lines before it are not read again).
# Tested by: tests/daemon/run.sh (make check)
set -u
. "$(dirname "$0")/lib.sh"
d=$T_DIR
port=$(free_port)
url="http://127.0.0.1:$port"
tok=s3cret
rules() { # rules CONDITION-OF-root
    cat > "$d/rules.yaml" <<YAML
rules:
  - id: root
    stream: auth
    when: $1
    message: "root \${seq}"
  - id: pair
    kind: pattern
    stream: auth
    key: [user]
    pattern:
      - {step: a, when: kind == "a"}
      - {step: b, when: kind == "b"}
    message: "pair \${a.user} \${a.seq} -> \${b.seq}"
YAML
}
rules 'user == "root"'
cat > "$d/cepd.yaml" <<YAML
rules: [$d/rules.yaml]
sources: [{name: in, type: file, path: $d/in.jsonl, stream: auth}]
sinks: [{name: out, type: file, path: $d/alerts.jsonl}]
default_sinks: [out]
admin: {listen: "127.0.0.1:$port", token: $tok}
checkpoint: {dir: $d/ckpt, interval: 1h, delivery: at_least_once, savepoint_on_stop: true}
log: {level: info}
YAML
: > "$d/in.jsonl"
emit() { echo "$1" >> "$d/in.jsonl"; }
check "cepd run starts with checkpoints" daemon_start "$d/cepd.yaml"
wait_for port_open "$port"
emit '{"user":"u1","kind":"a","seq":1}'
emit '{"user":"root","seq":2}'
check "the root line alerts" wait_for count_ge '"root 2"' "$d/alerts.jsonl" 1
check "u1 is half-matched" wait_for metric_is 'cepd_rule_partial_matches{rule="pair"}' "$url" 1 $tok

# POST /savepoint: the token rules of /reload; a plain name goes to
# checkpoint.dir; anything but an absolute path or a plain .ckpt name is refused.
r=$(http POST "$url/savepoint")
[ "$(echo "$r" | head -1)" = 401 ] && ok "POST /savepoint wants the token" \
    || bad "POST /savepoint wants the token ($r)"
r=$(http POST "$url/savepoint?path=sp1.ckpt" $tok)
[ "$(echo "$r" | head -1)" = 200 ] && echo "$r" | grep -qF "\"path\":\"$d/ckpt/sp1.ckpt\"" \
    && [ -s "$d/ckpt/sp1.ckpt" ] \
    && ok "POST /savepoint?path=NAME writes DIR/NAME" || bad "POST /savepoint?path=NAME ($r)"
for p in ../up.ckpt sub/x.ckpt sp.txt; do
    r=$(http POST "$url/savepoint?path=$p" $tok)
    [ "$(echo "$r" | head -1)" = 400 ] && ok "POST /savepoint refuses path $p" \
        || bad "POST /savepoint refuses path $p ($r)"
done
[ ! -e "$d/up.ckpt" ] && ok "nothing written outside checkpoint.dir" \
    || bad "nothing written outside checkpoint.dir"

# cepd savepoint: to a path of ours, and to the default place.
out=$("$CEPD" savepoint -c "$d/cepd.yaml" "$d/sp2.ckpt" 2> "$d/sp.err")
[ $? -eq 0 ] && [ "$out" = "$d/sp2.ckpt" ] && [ -s "$d/sp2.ckpt" ] \
    && ok "cepd savepoint PATH prints the path written" \
    || bad "cepd savepoint PATH ($out; $(cat "$d/sp.err"))"
out=$("$CEPD" savepoint -c "$d/cepd.yaml" 2> "$d/sp.err")
[ $? -eq 0 ] && [[ "$out" == "$d/ckpt/savepoint-"*.ckpt ]] && [ -s "$out" ] \
    && ok "cepd savepoint without PATH writes into checkpoint.dir" \
    || bad "cepd savepoint without PATH ($out; $(cat "$d/sp.err"))"

# After the savepoints: a line the restored daemon must read again.
emit '{"user":"root","seq":3}'
check "the line after the savepoint alerts" wait_for count_ge '"root 3"' "$d/alerts.jsonl" 1

"$CEPD" checkpoint inspect "$d/sp2.ckpt" > "$d/inspect.out" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q '^savepoint ' "$d/inspect.out" && grep -qw root "$d/inspect.out" \
    && grep -qw pair "$d/inspect.out" && grep -q 'in (file)' "$d/inspect.out" \
    && ok "inspect lists the kind, the rules and the sources" \
    || bad "inspect lists the kind, the rules and the sources (rc $rc)"
grep -q 'rule pair:.* 1 keys, 1 partial matches' "$d/inspect.out" && grep -q 'rule root:.* 0 keys' "$d/inspect.out" \
    && grep -q 'in (file): device [0-9]* inode [0-9]* generation [0-9]*, byte 57 (line 2)' "$d/inspect.out" \
    && ok "inspect gives the key counts and the file position" \
    || bad "inspect gives the key counts and the file position"
cp "$d/sp2.ckpt" "$d/bad.ckpt"
python3 - "$d/bad.ckpt" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[-1] ^= 0x5a
open(p, "wb").write(b)
PY
"$CEPD" checkpoint inspect "$d/bad.ckpt" > /dev/null 2> "$d/inspect.err"
rc=$?
[ $rc -eq 1 ] && grep -q CRC "$d/inspect.err" && ok "inspect of a corrupted copy exits 1 naming the CRC" \
    || bad "inspect of a corrupted copy: rc $rc, $(cat "$d/inspect.err")"

head -c 40 "$d/sp2.ckpt" > "$d/short.ckpt"
"$CEPD" checkpoint inspect "$d/short.ckpt" > /dev/null 2> "$d/inspect.err"
rc=$?
[ $rc -eq 1 ] && grep -q short.ckpt "$d/inspect.err" && ok "inspect of a truncated copy exits 1" \
    || bad "inspect of a truncated copy: rc $rc, $(cat "$d/inspect.err")"

n_before=$(ls "$d/ckpt" | grep -c '^savepoint-')
daemon_stop TERM && ok "SIGTERM: exit 0" || bad "SIGTERM: exit 0"
n_after=$(ls "$d/ckpt" | grep -c '^savepoint-')
[ "$n_after" -eq $((n_before + 1)) ] && ok "savepoint_on_stop writes a savepoint at SIGTERM" \
    || bad "savepoint_on_stop writes a savepoint at SIGTERM ($n_before -> $n_after)"

# Change one rule, restore from the savepoint taken before line 3.
rules 'user == "admin"'
emit '{"user":"u1","kind":"b","seq":4}'
emit '{"user":"admin","seq":5}'
: > "$DAEMON_LOG"
check "cepd run --from-savepoint starts" daemon_start "$d/cepd.yaml" --from-savepoint "$d/sp2.ckpt"
check "the log names the changed rule as reset" log_has 'rule root: reset'
check "the log names the unchanged rule as kept" log_has 'rule pair: kept'
check "the summary counts one rule kept, one reset" log_has '1 rules kept, 1 reset, 0 new, 0 dropped'

check "the half-matched pattern completes after the restore" \
    wait_for count_ge '"pair u1 1 -> 4"' "$d/alerts.jsonl" 1
check "the changed rule runs as changed" wait_for count_ge '"root 5"' "$d/alerts.jsonl" 1
[ "$(grep -c '"root 2"' "$d/alerts.jsonl")" -eq 1 ] && [ "$(grep -c '"root 3"' "$d/alerts.jsonl")" -eq 1 ] \
    && ok "lines before the savepoint are not read again; line 3 is, under the new rule" \
    || bad "lines before the savepoint are not read again; line 3 is, under the new rule"
daemon_stop TERM && ok "SIGTERM: exit 0" || bad "SIGTERM: exit 0"
r=$(timeout 20 "$CEPD" run -c "$d/cepd.yaml" --from-savepoint "$d/bad.ckpt" < /dev/null 2>&1)
rc=$?
[ $rc -eq 2 ] && ok "a corrupted savepoint is refused (exit 2)" || bad "a corrupted savepoint: rc $rc: $r"
finish
