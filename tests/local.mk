# Script test runners: rule tests through `cepd test`, CLI behaviour, the
# examples of docs/rules.md.
TESTS += tests/rules/run.sh tests/cli/run.sh tests/docs/run.sh
EXTRA_DIST += tests/rules tests/cli tests/docs tests/summary.sh
# The daemon end to end: tests/daemon/t_*.sh run by tests/daemon/run.sh.
TESTS += tests/daemon/run.sh
EXTRA_DIST += tests/daemon
include tests/flink/local.mk
# Test tools (peers for the sink tests; built with the daemon so the
# daemon test scripts find them).
noinst_PROGRAMS = tests/tools/http_receiver
tests_tools_http_receiver_SOURCES = tests/tools/http_receiver.c
tests_tools_http_receiver_LDADD = $(CEP_LIBS)
check_PROGRAMS += tests/unit/check_sink
tests_unit_check_sink_SOURCES = tests/unit/check_sink.c
tests_unit_check_sink_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_sink_LDADD = $(UNIT_LDADD)
# The pattern-matcher test harness shared by check_nfa and check_nfa_snap
# (their programs are declared in src/nfa/local.mk).
tests_unit_check_nfa_SOURCES += tests/unit/nfa_harness.c tests/unit/nfa_harness.h
tests_unit_check_nfa_snap_SOURCES += tests/unit/nfa_harness.c tests/unit/nfa_harness.h
# The window test fixture shared by check_win and check_win_snap (their
# programs are declared in src/window/local.mk).
tests_unit_check_win_SOURCES += tests/unit/win_fx.c tests/unit/win_fx.h
tests_unit_check_win_snap_SOURCES += tests/unit/win_fx.c tests/unit/win_fx.h
