/* SPDX-License-Identifier: Apache-2.0
 * Internals of the line formats (src/io/format.c) that tests and the
 * benchmark need beyond include/cepd/io.h: a fixed clock for the year that
 * RFC 3164 timestamps leave out, and the match limit.
 * Tested by: tests/unit/check_format.c */
#ifndef CEPD_IO_FORMAT_INT_H
#define CEPD_IO_FORMAT_INT_H

#include "cepd/cep_common.h"
#include "cepd/io.h"

/* PCRE2 match and depth limit of a format's pattern (per line). */
#define IO_FORMAT_MATCH_LIMIT 100000

/* Use now_s (seconds since the epoch) instead of the wall clock when
 * choosing the year of an RFC 3164 timestamp; 0 goes back to the clock. */
void io_format_set_now(struct io_format *f, int64_t now_s);

/* Lower the match limit of f's pattern (tests hit the limit cheaply). */
void io_format_set_match_limit(struct io_format *f, uint32_t limit);

#endif
