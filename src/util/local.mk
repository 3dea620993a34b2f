# Utilities: string buffers, hashing, the JSON scanner primitives.
libcepd_a_SOURCES += \
	src/util/sbuf.c \
	src/util/hash.c
libcepd_a_SOURCES += src/util/json.c
