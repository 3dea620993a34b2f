#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Lookup tables through the CLI: `cepd check -c` loads the config's tables
# (and reports a bad table file as FILE:LINE:COL), rules naming tables
# without them fail to load, `cepd replay` takes -c and --lookup, and
# `cepd test` takes -c, --lookup and a test file's own `lookups:` with
# paths relative to it.  Prints "N passed, N failed".
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

mkdir -p "$tmp/etc/tables" "$tmp/t"
cat > "$tmp/rules.yaml" <<'YAML'
rules:
  - id: blocked
    when: src_ip in blocklist
    message: "blocked ${src_ip}, owner ${lookup('assets', host, 'owner')}"
YAML
printf 'host,owner\nweb-1,alice\n' > "$tmp/etc/tables/assets.csv"
printf '# scanners\n10.0.0.0/8\n2001:db8::/32\n' > "$tmp/etc/tables/bl.txt"
cat > "$tmp/etc/cepd.yaml" <<'YAML'
lookups:
  assets: {type: csv, path: tables/assets.csv}
  blocklist: {type: cidr, path: tables/bl.txt}
YAML
echo '{"src_ip":"10.9.8.7","host":"web-1"}' > "$tmp/events.jsonl"
echo '{"src_ip":"192.0.2.1","host":"web-1"}' >> "$tmp/events.jsonl"
want='"message":"blocked 10.9.8.7, owner alice"'

expect "check -c loads the config's tables" \
    bash -c "'$cepd' check -c '$tmp/etc/cepd.yaml' '$tmp/rules.yaml' | grep -q '^ok: 1 rules'"
"$cepd" check "$tmp/rules.yaml" > "$tmp/out" 2>&1
expect "rules naming tables fail without them" \
    bash -c "test $? = 1 && grep -q \"unknown lookup table 'assets' (no lookups are configured)\" '$tmp/out'"
expect "replay -c enriches alerts" \
    bash -c "'$cepd' replay -c '$tmp/etc/cepd.yaml' -r '$tmp/rules.yaml' '$tmp/events.jsonl' > '$tmp/out' &&
             test \$(wc -l < '$tmp/out') = 1 && grep -qF '$want' '$tmp/out'"
expect "replay --lookup enriches alerts" \
    bash -c "'$cepd' replay --lookup 'assets=csv:$tmp/etc/tables/assets.csv' \
             --lookup 'blocklist=cidr:$tmp/etc/tables/bl.txt' -r '$tmp/rules.yaml' \
             '$tmp/events.jsonl' | grep -qF '$want'"
"$cepd" replay --lookup 'blocklist=cidr' -r "$tmp/rules.yaml" "$tmp/events.jsonl" > "$tmp/out" 2>&1
expect "a malformed --lookup is a usage error" \
    bash -c "test $? = 2 && grep -q 'is not NAME=TYPE:PATH' '$tmp/out'"

cat > "$tmp/t/r.test.yaml" <<'YAML'
rules: [../rules.yaml]
cases:
  - name: blocked and enriched
    events:
      - {src_ip: "2001:db8::5", host: web-1}
      - {src_ip: 192.0.2.1, host: web-1}
    alerts:
      - {rule: blocked, message: "blocked 2001:db8::5, owner alice"}
YAML
sed 's|^rules: .*|rules: [../rules.yaml]\nlookups:\n  assets: {type: csv, path: ../etc/tables/assets.csv}\n  blocklist: {type: cidr, data: "2001:db8::/32"}|' \
    "$tmp/t/r.test.yaml" > "$tmp/t/own.test.yaml"
expect "test -c uses the config's tables" \
    bash -c "'$cepd' test -c '$tmp/etc/cepd.yaml' '$tmp/t/r.test.yaml' | grep -q '^1 passed, 0 failed'"
expect "test --lookup adds tables" \
    bash -c "'$cepd' test --lookup 'assets=csv:$tmp/etc/tables/assets.csv' \
             --lookup 'blocklist=cidr:$tmp/etc/tables/bl.txt' '$tmp/t/r.test.yaml' |
             grep -q '^1 passed, 0 failed'"
expect "a test file's own lookups, relative to it" \
    bash -c "'$cepd' test '$tmp/t/own.test.yaml' | grep -q '^1 passed, 0 failed'"

# A broken table: the error names the table file, line and column.
printf 'host,owner\nweb-1,alice\nweb-2\n' > "$tmp/etc/tables/assets.csv"
"$cepd" check -c "$tmp/etc/cepd.yaml" "$tmp/rules.yaml" > "$tmp/out" 2>&1
expect "check -c reports a bad table as FILE:LINE:COL and exits 1" \
    bash -c "test $? = 1 && grep -q \"tables/assets.csv:3:1: error: lookup 'assets': row has 1 field, the header has 2\" '$tmp/out'"
"$cepd" test -c "$tmp/etc/cepd.yaml" "$tmp/t/r.test.yaml" > "$tmp/out" 2>&1
expect "test -c fails when a table does not load" \
    bash -c "test $? = 1 && grep -q 'rules do not load' '$tmp/out'"

echo "$passed passed, $failed failed"
test "$failed" = 0
