# Rule files: YAML tree with positions, loader, checker, compiler.
libcepd_a_SOURCES += \
	src/rule/rule_yaml.c \
	src/rule/rule_load.c \
	src/rule/rule_compile.c \
	src/rule/rule_pattern.c \
	src/rule/rule_aggregate.c \
	src/rule/rule_state.c \
	src/rule/rule_hash.c \
	src/rule/rule_index.c
noinst_HEADERS += src/rule/rule_int.h
check_PROGRAMS += tests/unit/check_rule
tests_unit_check_rule_SOURCES = tests/unit/check_rule.c
tests_unit_check_rule_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_rule_LDADD = $(UNIT_LDADD)
check_PROGRAMS += tests/unit/check_rule_index
tests_unit_check_rule_index_SOURCES = tests/unit/check_rule_index.c
tests_unit_check_rule_index_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_rule_index_LDADD = $(UNIT_LDADD)
# Golden diagnostics of `cepd check` (tests/errors/NAME.yaml -> NAME.err).
TESTS += tests/errors/run.sh
EXTRA_DIST += tests/errors
# Golden `cepd graph` output (tests/golden/graph/NAME.yaml -> NAME.dot).
TESTS += tests/golden/graph/run.sh
EXTRA_DIST += tests/golden/graph
