# Sources, decoders and sinks.
libcepd_a_SOURCES += \
	src/io/sources/dec_json.c \
	src/io/sources/src_lines.c
check_PROGRAMS += tests/unit/check_io
tests_unit_check_io_SOURCES = tests/unit/check_io.c
tests_unit_check_io_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_io_LDADD = $(UNIT_LDADD)
check_PROGRAMS += tests/unit/check_json
tests_unit_check_json_SOURCES = tests/unit/check_json.c
tests_unit_check_json_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_json_LDADD = $(UNIT_LDADD)
EXTRA_DIST += tests/fuzz/build.sh tests/fuzz/fuzz_dec_json.c bench/bench_json.c bench/json.sh
