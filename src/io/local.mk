# Sources, decoders and sinks.
libcepd_a_SOURCES += \
	src/io/sources/dec_json.c \
	src/io/sources/src_lines.c
libcepd_a_SOURCES += src/io/io_source.c src/io/sources/src_file.c
libcepd_a_SOURCES += src/io/format.c \
	src/io/sources/src_net.c \
	src/io/sources/src_tcp.c \
	src/io/sources/src_http.c
noinst_HEADERS += src/io/io_format_int.h src/io/sources/src_net.h
check_PROGRAMS += tests/unit/check_netsrc
tests_unit_check_netsrc_SOURCES = tests/unit/check_netsrc.c
tests_unit_check_netsrc_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_netsrc_LDADD = $(UNIT_LDADD)
check_PROGRAMS += tests/unit/check_format
tests_unit_check_format_SOURCES = tests/unit/check_format.c
tests_unit_check_format_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_format_LDADD = $(UNIT_LDADD)
check_PROGRAMS += tests/unit/check_io
tests_unit_check_io_SOURCES = tests/unit/check_io.c
tests_unit_check_io_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_io_LDADD = $(UNIT_LDADD)
check_PROGRAMS += tests/unit/check_json
tests_unit_check_json_SOURCES = tests/unit/check_json.c
tests_unit_check_json_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_json_LDADD = $(UNIT_LDADD)
EXTRA_DIST += tests/fuzz/build.sh tests/fuzz/fuzz_dec_json.c bench/bench_json.c bench/json.sh
EXTRA_DIST += tests/fuzz/fuzz_syslog.c tests/fuzz/fuzz_format_regex.c bench/bench_syslog.c \
	bench/syslog.sh
# Sinks: the shared queue and delivery policy, then one file per type.
libcepd_a_SOURCES += src/io/sinks/sink.c \
	src/io/sinks/sink_stdout.c \
	src/io/sinks/sink_file.c \
	src/io/sinks/sink_stream.c \
	src/io/sinks/sink_redis.c \
	src/io/sinks/sink_webhook.c
noinst_HEADERS += src/io/sinks/sink_int.h src/io/sinks/sink_redis.h
libcepd_a_SOURCES += src/io/sources/src_redis.c
