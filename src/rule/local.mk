# Rule files: YAML tree with positions, loader, checker, compiler.
libcepd_a_SOURCES +=
