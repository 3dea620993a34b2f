# FlinkCEP conformance (tests/flink/run.sh translates flinkcep-cases.json
# into rules and events for `cepd replay`), the reference matcher checked
# against that corpus (tests/ref/check_ref), and the randomized differential
# test of the NFA against the reference (tests/ref/check_diff).
TESTS += tests/flink/run.sh
EXTRA_DIST += tests/flink tests/ref

check_PROGRAMS += tests/ref/check_ref
tests_ref_check_ref_SOURCES = tests/ref/check_ref.c tests/ref/ref_match.c tests/ref/ref_io.c \
	tests/ref/ref_match.h tests/ref/ref_io.h
tests_ref_check_ref_CFLAGS = $(UNIT_CFLAGS)
tests_ref_check_ref_LDADD = $(UNIT_LDADD)

check_PROGRAMS += tests/ref/check_diff
tests_ref_check_diff_SOURCES = tests/ref/check_diff.c tests/ref/ref_match.c tests/ref/ref_io.c \
	tests/ref/ref_match.h tests/ref/ref_io.h
tests_ref_check_diff_CFLAGS = $(UNIT_CFLAGS)
tests_ref_check_diff_LDADD = $(UNIT_LDADD)
