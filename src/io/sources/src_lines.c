/* SPDX-License-Identifier: Apache-2.0
 * Line splitting over read(2) with a bounded buffer: memchr for newlines,
 * compaction instead of growth, and skip-to-newline for oversized lines.
 * Tested by: tests/unit/check_io.c */
#include "cepd/cep_common.h"
#include "cepd/src_lines.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define SRC_LINES_READ_CHUNK (256 * 1024)

void src_lines_init(struct src_lines *r, int fd, size_t max_line)
{
    memset(r, 0, sizeof(*r));
    r->fd = fd;
    r->max_line = max_line ? max_line : SRC_LINES_DEFAULT_MAX;
    r->cap = r->max_line + 1 + SRC_LINES_READ_CHUNK;
    r->buf = cep_malloc(r->cap);
}

void src_lines_free(struct src_lines *r)
{
    cep_free(r->buf);
    r->buf = NULL;
}

/* Move unconsumed bytes to the front and read more.  Returns bytes read,
 * 0 at EOF, CEP_ERR on error. */
static ssize_t src_lines_fill(struct src_lines *r)
{
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->base += r->start;
        r->end -= r->start;
        r->start = 0;
    }
    ssize_t n;
    do {
        n = read(r->fd, r->buf + r->end, r->cap - r->end);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return CEP_ERR;
    if (n == 0)
        r->eof = true;
    r->end += (size_t)n;
    return n;
}

int src_lines_next(struct src_lines *r, bool final, struct src_line *out)
{
    size_t scan = r->start;
    for (;;) {
        char *nl = memchr(r->buf + scan, '\n', r->end - scan);
        if (r->skipping) {
            if (nl) {
                r->start = (size_t)(nl - r->buf) + 1;
                r->skipping = false;
                scan = r->start;
                continue;
            }
            r->start = r->end; /* drop everything up to the newline */
        } else if (nl) {
            size_t len = (size_t)(nl - (r->buf + r->start));
            out->data = r->buf + r->start;
            out->len = len > r->max_line ? r->max_line : len;
            out->too_long = len > r->max_line;
            out->offset = r->base + r->start;
            out->line_no = ++r->line_no;
            r->start += len + 1;
            return 1;
        } else if (r->end - r->start > r->max_line) {
            /* No newline within the limit: report the head, skip the rest. */
            out->data = r->buf + r->start;
            out->len = r->max_line;
            out->too_long = true;
            out->offset = r->base + r->start;
            out->line_no = ++r->line_no;
            r->start = r->end;
            r->skipping = true;
            return 1;
        }
        scan = r->end;
        size_t keep = scan - r->start;
        ssize_t n = src_lines_fill(r);
        if (n < 0)
            return CEP_ERR;
        scan = r->start + keep;
        if (n == 0) {
            if (!final || r->start == r->end || r->skipping) {
                if (final && r->skipping) {
                    r->skipping = false;
                    r->start = r->end;
                }
                return 0;
            }
            out->data = r->buf + r->start;
            out->len = r->end - r->start;
            out->too_long = false;
            out->offset = r->base + r->start;
            out->line_no = ++r->line_no;
            r->start = r->end;
            return 1;
        }
    }
}
