# Core: allocation, logging, assertions, diagnostics, values, events.
libcepd_a_SOURCES += \
	src/core/cep_alloc.c \
	src/core/cep_log.c \
	src/core/diag.c \
	src/core/val.c \
	src/core/evt.c
check_PROGRAMS += tests/unit/check_core
tests_unit_check_core_SOURCES = tests/unit/check_core.c
tests_unit_check_core_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_core_LDADD = $(UNIT_LDADD)
check_PROGRAMS += tests/unit/check_alloc
tests_unit_check_alloc_SOURCES = tests/unit/check_alloc.c
tests_unit_check_alloc_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_alloc_LDADD = $(UNIT_LDADD)
