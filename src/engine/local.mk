# Engine: dispatch of events to rules, alerts, derived-event routing.
libcepd_a_SOURCES += \
	src/engine/eng.c \
	src/engine/eng_absence.c \
	src/engine/eng_alert.c \
	src/engine/eng_keyed.c \
	src/engine/eng_par.c \
	src/engine/eng_par_ring.c \
	src/engine/eng_par_scan.c \
	src/engine/eng_pattern.c \
	src/engine/eng_reload.c \
	src/engine/eng_snap.c \
	src/engine/eng_stream.c \
	src/engine/eng_throttle.c \
	src/engine/eng_time.c \
	src/engine/eng_window.c
noinst_HEADERS += src/engine/eng_int.h src/engine/eng_par_int.h
check_PROGRAMS += tests/unit/check_eng
tests_unit_check_eng_SOURCES = tests/unit/check_eng.c
tests_unit_check_eng_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_eng_LDADD = $(UNIT_LDADD)
check_PROGRAMS += tests/unit/check_eng_state
tests_unit_check_eng_state_SOURCES = tests/unit/check_eng_state.c
tests_unit_check_eng_state_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_eng_state_LDADD = $(UNIT_LDADD)
check_PROGRAMS += tests/unit/check_eng_reload
tests_unit_check_eng_reload_SOURCES = tests/unit/check_eng_reload.c
tests_unit_check_eng_reload_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_eng_reload_LDADD = $(UNIT_LDADD)
check_PROGRAMS += tests/unit/check_eng_snap
tests_unit_check_eng_snap_SOURCES = tests/unit/check_eng_snap.c
tests_unit_check_eng_snap_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_eng_snap_LDADD = $(UNIT_LDADD)
check_PROGRAMS += tests/unit/check_par
tests_unit_check_par_SOURCES = tests/unit/check_par.c
tests_unit_check_par_CFLAGS = $(UNIT_CFLAGS) -I$(top_srcdir)/src/engine
tests_unit_check_par_LDADD = $(UNIT_LDADD)
