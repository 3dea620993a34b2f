# Engine: dispatch of events to rules, alerts, derived-event routing.
libcepd_a_SOURCES += \
	src/engine/eng.c \
	src/engine/eng_alert.c \
	src/engine/eng_keyed.c \
	src/engine/eng_pattern.c \
	src/engine/eng_stream.c \
	src/engine/eng_time.c \
	src/engine/eng_window.c
noinst_HEADERS += src/engine/eng_int.h
check_PROGRAMS += tests/unit/check_eng
tests_unit_check_eng_SOURCES = tests/unit/check_eng.c
tests_unit_check_eng_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_eng_LDADD = $(UNIT_LDADD)
