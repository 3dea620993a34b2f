# SPDX-License-Identifier: Apache-2.0
# Windows and aggregates: the aggregate-function table (mergeable states)
# and per-key windows (tumbling, sliding over shared slices, session, count).
libcepd_a_SOURCES += \
	src/window/agg.c \
	src/window/win.c \
	src/window/win_snap.c
noinst_HEADERS += src/window/win_int.h
check_PROGRAMS += tests/unit/check_win
tests_unit_check_win_SOURCES = tests/unit/check_win.c
tests_unit_check_win_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_win_LDADD = $(UNIT_LDADD)
check_PROGRAMS += tests/unit/check_win_snap
tests_unit_check_win_snap_SOURCES = tests/unit/check_win_snap.c
tests_unit_check_win_snap_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_win_snap_LDADD = $(UNIT_LDADD)
