/* SPDX-License-Identifier: Apache-2.0
 * Growable byte buffers.  A buffer is reused across events (sbuf_reset keeps
 * its capacity), so steady-state appends do not allocate.
 * Tested by: tests/unit/check_core.c */
#ifndef CEPD_SBUF_H
#define CEPD_SBUF_H

#include "cepd/cep_common.h"

struct sbuf {
    char *buf; /* always NUL-terminated when cap > 0 */
    size_t len;
    size_t cap;
};

void sbuf_init(struct sbuf *sb);
void sbuf_free(struct sbuf *sb);
static inline void sbuf_reset(struct sbuf *sb)
{
    sb->len = 0;
    if (sb->cap)
        sb->buf[0] = '\0';
}
/* Grow the capacity to at least need bytes (by doubling); for
 * sbuf_reserve. */
void sbuf_grow(struct sbuf *sb, size_t need);
/* Make room for extra more bytes and the NUL (sbuf_grow when it is short). */
static inline void sbuf_reserve(struct sbuf *sb, size_t extra)
{
    if (sb->len + extra + 1 > sb->cap)
        sbuf_grow(sb, sb->len + extra + 1);
}
void sbuf_append(struct sbuf *sb, const void *data, size_t len);
void sbuf_puts(struct sbuf *sb, const char *s);
void sbuf_putc(struct sbuf *sb, char c);
/* Append the decimal digits of x (what printf's %llu writes). */
void sbuf_put_u64(struct sbuf *sb, uint64_t x);
void sbuf_printf(struct sbuf *sb, const char *fmt, ...) CEP_PRINTF(2, 3);
/* Append s (len bytes, UTF-8) as a JSON string literal with quotes. */
void sbuf_json_str(struct sbuf *sb, const char *s, size_t len);
/* The same for an s known to need no escape (no '"', '\\' or byte below
 * 0x20, as VAL_F_PLAIN says): quoted as it is, without a scan. */
static inline void sbuf_json_plain(struct sbuf *sb, const char *s, size_t len)
{
    sbuf_reserve(sb, len + 2);
    sb->buf[sb->len++] = '"';
    if (len)
        memcpy(sb->buf + sb->len, s, len);
    sb->len += len;
    sb->buf[sb->len++] = '"';
    sb->buf[sb->len] = '\0';
}
/* Append a double the way JSON output wants it (shortest round-trip form,
 * integers without exponent, non-finite values as null). */
void sbuf_json_double(struct sbuf *sb, double d);
/* Detach the buffer: returns the owned string (never NULL), sb is empty. */
char *sbuf_steal(struct sbuf *sb);

#endif
