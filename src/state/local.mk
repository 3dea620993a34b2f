# Durable state: the snapshot encoding, the event table, checkpoint files,
# and the write-ahead log of push sources.
libcepd_a_SOURCES += \
	src/state/ckpt_codec.c \
	src/state/ckpt_evtab.c \
	src/state/ckpt_file.c \
	src/state/wal.c
noinst_HEADERS += src/state/ckpt_int.h
check_PROGRAMS += tests/unit/check_ckpt
tests_unit_check_ckpt_SOURCES = tests/unit/check_ckpt.c
tests_unit_check_ckpt_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_ckpt_LDADD = $(UNIT_LDADD)
EXTRA_DIST += tests/fuzz/fuzz_ckpt.c
check_PROGRAMS += tests/unit/check_wal
tests_unit_check_wal_SOURCES = tests/unit/check_wal.c
tests_unit_check_wal_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_wal_LDADD = $(UNIT_LDADD)
