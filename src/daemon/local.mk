# CLI verbs and configuration.
libcepd_a_SOURCES += \
	src/daemon/dmn_rules.c \
	src/daemon/dmn_cmd_check.c \
	src/daemon/dmn_cmd_replay.c \
	src/daemon/dmn_cmd_test.c \
	src/daemon/dmn_cmd_run.c \
	src/daemon/dmn_pipe.c \
	src/daemon/dmn_reload.c \
	src/daemon/dmn_admin.c \
	src/daemon/dmn_cmd_graph.c \
	src/daemon/dmn_cmd_checkpoint.c \
	src/daemon/dmn_ckpt.c
noinst_HEADERS += src/daemon/dmn_int.h
libcepd_a_SOURCES += src/daemon/cfg.c
# The process: daemonize, pidfile, privileges, sd_notify, log target.
libcepd_a_SOURCES += src/daemon/dmn_proc.c
noinst_HEADERS += src/daemon/dmn_proc.h
check_PROGRAMS += tests/unit/check_proc
tests_unit_check_proc_SOURCES = tests/unit/check_proc.c
tests_unit_check_proc_CFLAGS = $(UNIT_CFLAGS) -I$(top_srcdir)/src/daemon
tests_unit_check_proc_LDADD = $(UNIT_LDADD)
