# Expression language: lexer, parser, resolver, compiler, VM, builtins.
libcepd_a_SOURCES += \
	src/expr/expr_lex.c \
	src/expr/expr_parse.c \
	src/expr/expr_check.c \
	src/expr/expr_compile.c \
	src/expr/expr_vm.c \
	src/expr/expr_builtin.c \
	src/expr/expr_re.c \
	src/expr/expr_tmpl.c \
	src/expr/expr_dump.c \
	src/expr/expr_duration.c \
	src/expr/expr_split.c
noinst_HEADERS += \
	src/expr/expr_int.h \
	src/expr/expr_ops.h
EXTRA_DIST += tests/golden/expr
check_PROGRAMS += tests/unit/check_expr
tests_unit_check_expr_SOURCES = tests/unit/check_expr.c
tests_unit_check_expr_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_expr_LDADD = $(UNIT_LDADD)
