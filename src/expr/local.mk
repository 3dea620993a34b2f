# Expression language: lexer, parser, resolver, compiler, VM, builtins.
libcepd_a_SOURCES +=
