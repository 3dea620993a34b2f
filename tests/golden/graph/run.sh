#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Golden `cepd graph` output: for each NAME.yaml here, `$CEPD graph NAME.yaml`
# must exit 0 and print NAME.dot byte for byte (the NFA state table of each
# pattern rule as DOT).  Also checks the exit status of `--rule` with an
# unknown id and with a rule that is not a pattern.  `run.sh --update`
# rewrites the .dot files (read the diff before committing: they must look
# right).  Uses $CEPD (the binary) and $TOP_SRCDIR (the source tree).
# Tested by: make check (TESTS in src/rule/local.mk)
set -u
if [ -z "${CEPD:-}" ]; then
    echo "run.sh: CEPD is not set (path of the cepd binary)" >&2
    exit 99
fi
dir=${TOP_SRCDIR:+$TOP_SRCDIR/tests/golden/graph}
[ -n "$dir" ] || dir=$(dirname "$0")
cd "$dir" || exit 99
update=no
[ "${1:-}" = "--update" ] && update=yes
tmp=$(mktemp) || exit 99
trap 'rm -f "$tmp"' EXIT
pass=0
fail=0
for case in *.yaml; do
    [ -e "$case" ] || continue
    name=${case%.yaml}
    "$CEPD" graph "$case" >"$tmp" 2>/dev/null
    rc=$?
    if [ "$update" = yes ]; then
        cp "$tmp" "$name.dot"
        continue
    fi
    if [ "$rc" -ne 0 ]; then
        echo "FAIL $name: exit status $rc, want 0"
        fail=$((fail + 1))
    elif [ ! -f "$name.dot" ]; then
        echo "FAIL $name: no $name.dot"
        fail=$((fail + 1))
    elif ! diff -u "$name.dot" "$tmp"; then
        echo "FAIL $name: DOT differs"
        fail=$((fail + 1))
    else
        pass=$((pass + 1))
    fi
done
[ "$update" = yes ] && echo "updated the .dot goldens" && exit 0

# expect NAME STATUS ARGS...: cepd graph ARGS exits with STATUS.
expect() {
    what=$1
    want=$2
    shift 2
    "$CEPD" graph "$@" >/dev/null 2>&1
    rc=$?
    if [ "$rc" -eq "$want" ]; then
        pass=$((pass + 1))
    else
        echo "FAIL $what: exit status $rc, want $want"
        fail=$((fail + 1))
    fi
}
expect "--rule one of several" 0 sequence.yaml group.yaml --rule group-loop
expect "--rule unknown id" 1 sequence.yaml --rule no-such-rule
expect "--rule on a simple rule" 1 not_pattern.yml --rule plain
expect "rules that do not load" 1 broken.yml
expect "--help" 0 --help
expect "no arguments" 2

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
