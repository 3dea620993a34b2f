#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Run every rule test file through `cepd test`: the bundled rule packs
# (rules/*.test.yaml) and the engine behaviour tests (tests/rules/).
set -euo pipefail
top=${TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cepd=${CEPD:-cepd}
mapfile -t files < <(find "$top/rules" "$top/tests/rules" -name '*.test.yaml' | sort)
exec "$cepd" test "${files[@]}"
