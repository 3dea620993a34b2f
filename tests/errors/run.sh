#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Golden diagnostics: for each NAME.yaml (or directory NAME/) here, run
# `$CEPD check NAME.yaml` from this directory and compare its stderr with
# NAME.err byte for byte; the exit status must be 1.  `run.sh --update`
# rewrites the .err files (review the diff before committing).
# Tested by: make check (TESTS in src/rule/local.mk)
set -u
if [ -z "${CEPD:-}" ]; then
    echo "run.sh: CEPD is not set (path of the cepd binary)" >&2
    exit 99
fi
update=no
[ "${1:-}" = "--update" ] && update=yes
cd "$(dirname "$0")" || exit 99
tmp=$(mktemp) || exit 99
trap 'rm -f "$tmp"' EXIT
fail=0
n=0
for case in *.yaml */; do
    [ -e "$case" ] || continue
    arg=${case%/}
    name=${arg%.yaml}
    n=$((n + 1))
    "$CEPD" check "$arg" >/dev/null 2>"$tmp"
    rc=$?
    if [ "$update" = yes ]; then
        cp "$tmp" "$name.err"
        continue
    fi
    if [ "$rc" -ne 1 ]; then
        echo "FAIL $name: exit status $rc, want 1"
        fail=1
    fi
    if [ ! -f "$name.err" ]; then
        echo "FAIL $name: no $name.err"
        fail=1
    elif ! diff -u "$name.err" "$tmp"; then
        echo "FAIL $name: diagnostics differ"
        fail=1
    fi
done
[ "$update" = yes ] && echo "updated $n goldens" && exit 0
echo "$n error goldens checked"
exit $fail
