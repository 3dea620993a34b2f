# Script test runners: rule tests through `cepd test`, CLI behaviour, the
# examples of docs/rules.md.
TESTS += tests/rules/run.sh tests/cli/run.sh tests/docs/run.sh
EXTRA_DIST += tests/rules tests/cli tests/docs tests/summary.sh
include tests/flink/local.mk
