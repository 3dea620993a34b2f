# Enrichment: lookup tables (CSV, JSON, CIDR sets) and their registry.
libcepd_a_SOURCES += \
	src/enrich/lookup.c \
	src/enrich/lookup_cidr.c \
	src/enrich/lookup_spec.c
noinst_HEADERS += src/enrich/lookup_int.h
check_PROGRAMS += tests/unit/check_lookup
tests_unit_check_lookup_SOURCES = tests/unit/check_lookup.c
tests_unit_check_lookup_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_lookup_LDADD = $(UNIT_LDADD)
# The tables through the CLI (check/replay/test with -c, --lookup, lookups:).
TESTS += tests/enrich/run.sh
EXTRA_DIST += tests/enrich
