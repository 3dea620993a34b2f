# Sources, decoders and sinks.
libcepd_a_SOURCES +=
