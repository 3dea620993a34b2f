# SPDX-License-Identifier: Apache-2.0
# Pattern matcher: compiler (steps -> state table), shared event buffer,
# per-key runtime with skip strategies, counting keys, checkpoint save/load,
# DOT output.
libcepd_a_SOURCES += \
	src/nfa/nfa_compile.c \
	src/nfa/nfa_buf.c \
	src/nfa/nfa_run.c \
	src/nfa/nfa_count.c \
	src/nfa/nfa_snap.c \
	src/nfa/nfa_dot.c
noinst_HEADERS += src/nfa/nfa_int.h
EXTRA_DIST += tests/golden/nfa
check_PROGRAMS += tests/unit/check_nfa
tests_unit_check_nfa_SOURCES = tests/unit/check_nfa.c
tests_unit_check_nfa_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_nfa_LDADD = $(UNIT_LDADD)
check_PROGRAMS += tests/unit/check_nfa_snap
tests_unit_check_nfa_snap_SOURCES = tests/unit/check_nfa_snap.c
tests_unit_check_nfa_snap_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_nfa_snap_LDADD = $(UNIT_LDADD)
check_PROGRAMS += tests/unit/check_nfa_count
tests_unit_check_nfa_count_SOURCES = tests/unit/check_nfa_count.c
tests_unit_check_nfa_count_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_nfa_count_LDADD = $(UNIT_LDADD)
