# CLI verbs and configuration.
libcepd_a_SOURCES += \
	src/daemon/dmn_rules.c \
	src/daemon/dmn_cmd_check.c \
	src/daemon/dmn_cmd_replay.c \
	src/daemon/dmn_cmd_test.c \
	src/daemon/dmn_cmd_run.c \
	src/daemon/dmn_cmd_graph.c
noinst_HEADERS += src/daemon/dmn_int.h
libcepd_a_SOURCES += src/daemon/cfg.c
