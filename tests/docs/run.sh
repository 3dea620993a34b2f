#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Run every example of docs/rules.md under `cepd test`.  A fenced block whose
# first line is `# example: NAME` is a rule file (NAME.yaml); one whose first
# line is `# example-test: NAME` is its test file (NAME.test.yaml, with
# `rules: [NAME.yaml]`).  Every example must have a test, names must be
# unique, and every test must belong to an example.
# Environment: CEPD (default: cepd on PATH), TOP_SRCDIR (default: ../..
# from this script).  Exit status: 0 all pass, 1 a failure, 77 skipped.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP_SRCDIR=${TOP_SRCDIR:-$here/../..}
CEPD=${CEPD:-cepd}
doc=${1:-$TOP_SRCDIR/docs/rules.md}

if ! command -v "$CEPD" >/dev/null 2>&1; then
    echo "tests/docs: cepd binary '$CEPD' not found; skipping" >&2
    exit 77
fi
if [[ ! -r $doc ]]; then
    echo "tests/docs: cannot read $doc" >&2
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cepd-docs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Extract the blocks.  awk prints one "KIND NAME LINE" record per block to
# stdout and writes the block (fences excluded) to $tmp/NAME[.test].yaml.
awk -v dir="$tmp" '
    function fail(msg) { printf "%s:%d: %s\n", FILENAME, FNR, msg > "/dev/stderr"; bad = 1 }
    /^[ \t]*(```|~~~)/ {
        if (in_block) {
            if (out != "") close(out)
            in_block = 0; out = ""; next
        }
        in_block = 1; first = 1; out = ""; next
    }
    in_block && first {
        first = 0
        if (match($0, /^# example(-test)?: */)) {
            kind = ($0 ~ /^# example-test:/) ? "test" : "example"
            name = substr($0, RLENGTH + 1)
            sub(/[ \t\r]+$/, "", name)
            if (name !~ /^[A-Za-z0-9_.-]+$/) { fail("bad example name \"" name "\""); next }
            if ((kind, name) in seen) { fail(kind " \"" name "\" defined twice"); next }
            seen[kind, name] = 1
            out = dir "/" name (kind == "test" ? ".test.yaml" : ".yaml")
            printf "%s %s %d\n", kind, name, FNR
        }
    }
    in_block && out != "" { print > out }
    END {
        if (in_block) fail("unterminated code block")
        exit bad
    }
' "$doc" >"$tmp/index" || { echo "tests/docs: cannot extract examples from $doc" >&2; exit 1; }

status=0
examples=()
tests=()
while read -r kind name line; do
    if [[ $kind == example ]]; then
        examples+=("$name")
    else
        tests+=("$name")
    fi
done <"$tmp/index"

if ((${#examples[@]} == 0)); then
    echo "tests/docs: no examples found in $doc" >&2
    exit 1
fi
for name in "${examples[@]}"; do
    if [[ ! -f $tmp/$name.test.yaml ]]; then
        echo "tests/docs: example '$name' has no '# example-test: $name' block" >&2
        status=1
    fi
done
for name in "${tests[@]}"; do
    if [[ ! -f $tmp/$name.yaml ]]; then
        echo "tests/docs: test '$name' has no '# example: $name' block" >&2
        status=1
    elif ! grep -Eq "^rules:[[:space:]]*\[[[:space:]]*$name\.yaml[[:space:]]*\]" "$tmp/$name.test.yaml"; then
        echo "tests/docs: test '$name' must say 'rules: [$name.yaml]'" >&2
        status=1
    fi
done

echo "tests/docs: ${#examples[@]} examples, ${#tests[@]} tests from $doc"
if ((${#tests[@]} > 0)); then
    files=()
    for name in "${tests[@]}"; do
        files+=("$tmp/$name.test.yaml")
    done
    if ! "$CEPD" test "${files[@]}"; then
        status=1
    fi
fi
exit "$status"
