# CLI verbs and configuration.
libcepd_a_SOURCES +=
