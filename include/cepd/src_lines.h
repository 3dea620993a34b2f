/* SPDX-License-Identifier: Apache-2.0
 * Newline-delimited input from a file descriptor, with a hard line-length
 * limit.  A line longer than max_line_bytes is reported once (its first
 * bytes, flagged too_long) and the rest of it is skipped, so one oversized
 * line never stops the stream.  Offsets are byte positions in the input,
 * the identity that alert ids and checkpoints use.
 * Tested by: tests/unit/check_io.c */
#ifndef CEPD_SRC_LINES_H
#define CEPD_SRC_LINES_H

#include "cepd/cep_common.h"

#define SRC_LINES_DEFAULT_MAX (1024 * 1024)

struct src_lines {
    int fd;
    size_t max_line;  /* bytes, without the newline */
    char *buf;
    size_t cap;
    size_t start;     /* first unconsumed byte */
    size_t end;       /* one past the last byte read */
    uint64_t base;    /* input offset of buf[0] */
    uint64_t line_no; /* lines returned so far */
    bool skipping;    /* inside an oversized line, dropping bytes */
    bool eof;
};

struct src_line {
    const char *data; /* valid until the next call */
    size_t len;
    uint64_t offset;  /* input offset of the line's first byte */
    uint64_t line_no; /* 1-based */
    bool too_long;    /* data holds only the first max_line bytes */
};

/* fd is borrowed; max_line 0 means SRC_LINES_DEFAULT_MAX. */
void src_lines_init(struct src_lines *r, int fd, size_t max_line);
void src_lines_free(struct src_lines *r);

/* Next line.  Returns 1 with *out filled, 0 at end of input (a final line
 * without a newline is returned first when final is true; when final is
 * false it stays buffered, for following a growing file), CEP_ERR on a read
 * error (errno set). */
int src_lines_next(struct src_lines *r, bool final, struct src_line *out);

#endif
