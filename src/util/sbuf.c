/* SPDX-License-Identifier: Apache-2.0
 * Growable byte buffers and the JSON text writers (string escaping, number
 * formatting) that alert output uses.  Buffers keep their capacity across
 * sbuf_reset, so steady-state use does not allocate.
 * Tested by: tests/unit/check_core.c */
#include "cepd/cep_common.h"
#include "cepd/sbuf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cepd/json.h"

void sbuf_init(struct sbuf *sb)
{
    sb->buf = NULL;
    sb->len = 0;
    sb->cap = 0;
}

void sbuf_free(struct sbuf *sb)
{
    cep_free(sb->buf);
    sbuf_init(sb);
}

void sbuf_grow(struct sbuf *sb, size_t need)
{
    size_t n = sb->cap ? sb->cap : 64;
    while (n < need)
        n *= 2;
    sb->buf = cep_realloc(sb->buf, n);
    sb->cap = n;
}

void sbuf_append(struct sbuf *sb, const void *data, size_t len)
{
    sbuf_reserve(sb, len);
    if (len)
        memcpy(sb->buf + sb->len, data, len);
    sb->len += len;
    sb->buf[sb->len] = '\0';
}

void sbuf_puts(struct sbuf *sb, const char *s)
{
    sbuf_append(sb, s, strlen(s));
}

void sbuf_putc(struct sbuf *sb, char c)
{
    sbuf_reserve(sb, 1);
    sb->buf[sb->len++] = c;
    sb->buf[sb->len] = '\0';
}

void sbuf_put_u64(struct sbuf *sb, uint64_t x)
{
    char d[20];
    size_t n = sizeof(d);
    do {
        d[--n] = (char)('0' + x % 10);
        x /= 10;
    } while (x);
    sbuf_append(sb, d + n, sizeof(d) - n);
}

void sbuf_printf(struct sbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    CEP_ASSERT(n >= 0);
    sbuf_reserve(sb, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
}

void sbuf_json_str(struct sbuf *sb, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    /* Most strings (hosts, addresses, users) need no escape: one copy.
     * The scan also stops at bytes above 0x7F, which the loop below
     * passes through. */
    size_t plain = (size_t)(json_str_stop(s, s + len) - s);
    if (plain == len) {
        sbuf_json_plain(sb, s, len);
        return;
    }
    sbuf_reserve(sb, len + 2);
    sb->buf[sb->len++] = '"';
    size_t run = 0; /* start of the pending run of bytes that need no escape */
    for (size_t i = plain; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        sbuf_append(sb, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"':
            sbuf_append(sb, "\\\"", 2);
            break;
        case '\\':
            sbuf_append(sb, "\\\\", 2);
            break;
        case '\n':
            sbuf_append(sb, "\\n", 2);
            break;
        case '\r':
            sbuf_append(sb, "\\r", 2);
            break;
        case '\t':
            sbuf_append(sb, "\\t", 2);
            break;
        default: {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            sbuf_append(sb, esc, sizeof(esc));
            break;
        }
        }
    }
    sbuf_append(sb, s + run, len - run);
    sbuf_putc(sb, '"');
}

void sbuf_json_double(struct sbuf *sb, double d)
{
    if (!isfinite(d)) {
        sbuf_append(sb, "null", 4);
        return;
    }
    if (d == 0) {
        sbuf_putc(sb, '0'); /* -0 too: receivers need not know about signed zero */
        return;
    }
    if (d == floor(d) && fabs(d) < 1e15) {
        sbuf_printf(sb, "%.0f", d);
        return;
    }
    /* Shortest form that reads back as the same double. */
    char tmp[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    sbuf_puts(sb, tmp);
}

char *sbuf_steal(struct sbuf *sb)
{
    char *p = sb->buf ? sb->buf : cep_strdup("");
    sbuf_init(sb);
    return p;
}
