# Checkpoints: the snapshot encoding, the event table, checkpoint files.
libcepd_a_SOURCES += \
	src/ckpt/ckpt_codec.c \
	src/ckpt/ckpt_evtab.c \
	src/ckpt/ckpt_file.c
noinst_HEADERS += src/ckpt/ckpt_int.h
check_PROGRAMS += tests/unit/check_ckpt
tests_unit_check_ckpt_SOURCES = tests/unit/check_ckpt.c
tests_unit_check_ckpt_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_ckpt_LDADD = $(UNIT_LDADD)
EXTRA_DIST += tests/fuzz/fuzz_ckpt.c
