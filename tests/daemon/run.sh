#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Run every tests/daemon/t_*.sh (each drives `cepd run` end to end and exits
# 0 ok, 77 skipped, anything else failed) under a hard time limit of 120 s
# each (scaled by CEPD_TEST_TIMEOUT), printing its output only when it
# fails.  Prints "N passed, N failed, N skipped"; exits 1 on any failure.
# Tested by: make check
set -u
: "${CEPD:?CEPD must name the cepd binary}"
here=$(cd "$(dirname "$0")" && pwd)
limit=$((120 * ${CEPD_TEST_TIMEOUT:-1}))
passed=0; failed=0; skipped=0
out=$(mktemp "${TMPDIR:-/tmp}/cepd-daemon-run.XXXXXX")
trap 'rm -f "$out"' EXIT
for t in "$here"/t_*.sh; do
    [ -e "$t" ] || continue
    name=$(basename "$t" .sh)
    if [ -n "${DAEMON_TESTS:-}" ] && ! [[ " $DAEMON_TESTS " == *" $name "* ]]; then
        continue
    fi
    timeout -k 5 "$limit" bash "$t" > "$out" 2>&1
    rc=$?
    case $rc in
        0) passed=$((passed + 1)); echo "ok   $name ($(grep -c '^ok' "$out") checks)" ;;
        77) skipped=$((skipped + 1)); echo "skip $name: $(grep -m1 '^skip' "$out")" ;;
        *)
            failed=$((failed + 1))
            [ "$rc" -eq 124 ] && echo "FAIL $name: timed out after ${limit}s" \
                || echo "FAIL $name (exit $rc)"
            sed 's/^/    /' "$out"
            ;;
    esac
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
