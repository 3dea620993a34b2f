/* SPDX-License-Identifier: Apache-2.0
 * The checkpoint encoding (format in include/cepd/ckpt.h): LEB128 varints,
 * zigzag signed integers, little-endian doubles, length-prefixed bytes,
 * values and frames.  Writers append to an sbuf and cannot fail; readers
 * check every length against the end of their buffer before touching a
 * byte, and after the first problem (r->err) return only zeros.
 * Tested by: tests/unit/check_ckpt.c, tests/fuzz/fuzz_ckpt.c */
#include "cepd/cep_common.h"
#include "cepd/ckpt.h"

#include <string.h>

#define CKPT_UV_MAX_LEN 10 /* bytes of a 64-bit LEB128 varint */

void ckpt_r_fail(struct ckpt_r *r, const char *why)
{
    if (!r->err)
        r->err = why;
    r->p = r->end;
}

/* ---- writers ---------------------------------------------------------- */

/* Encode v as LEB128 into out (at least CKPT_UV_MAX_LEN bytes); returns
 * the number of bytes written. */
static size_t ckpt_uv_encode(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

void ckpt_put_u8(struct ckpt_w *w, uint8_t v)
{
    sbuf_putc(w->sb, (char)v);
}

void ckpt_put_uv(struct ckpt_w *w, uint64_t v)
{
    struct sbuf *sb = w->sb;
    sbuf_reserve(sb, CKPT_UV_MAX_LEN);
    sb->len += ckpt_uv_encode((uint8_t *)sb->buf + sb->len, v);
    sb->buf[sb->len] = '\0';
}

void ckpt_put_sv(struct ckpt_w *w, int64_t v)
{
    /* zigzag: 0, -1, 1, -2 ... -> 0, 1, 2, 3 ...; the shift is done on the
     * unsigned value so INT64_MIN is well defined */
    uint64_t u = (uint64_t)v << 1;
    ckpt_put_uv(w, v < 0 ? ~u : u);
}

void ckpt_put_f64(struct ckpt_w *w, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(bits >> (8 * i));
    sbuf_append(w->sb, b, sizeof(b));
}

void ckpt_put_bytes(struct ckpt_w *w, const void *p, size_t len)
{
    ckpt_put_uv(w, len);
    sbuf_append(w->sb, p, len);
}

void ckpt_put_val(struct ckpt_w *w, const struct val *v)
{
    CEP_ASSERT(v->type < VAL_LIST);
    ckpt_put_u8(w, v->type);
    ckpt_put_u8(w, v->flags);
    switch ((enum val_type)v->type) {
        case VAL_NULL:
            break;
        case VAL_BOOL:
            ckpt_put_bool(w, v->u.b);
            break;
        case VAL_INT:
            ckpt_put_sv(w, v->u.i);
            break;
        case VAL_FLOAT:
            ckpt_put_f64(w, v->u.f);
            break;
        case VAL_STR:
        case VAL_ARR:
        case VAL_OBJ:
            ckpt_put_bytes(w, v->u.s, v->len);
            break;
        case VAL_LIST:
        case VAL_COUNT:
            break; /* excluded by the assertion above */
    }
}

/* A frame's length is written in front of its body once the body is
 * known.  One byte is reserved (enough for bodies under 128 bytes, the
 * common case for per-key state); a longer body is moved up to make room
 * for its varint.  The mark is the offset of the reserved byte. */
size_t ckpt_frame_begin(struct ckpt_w *w)
{
    size_t mark = w->sb->len;
    ckpt_put_u8(w, 0);
    return mark;
}

void ckpt_frame_end(struct ckpt_w *w, size_t mark)
{
    struct sbuf *sb = w->sb;
    CEP_ASSERT(mark < sb->len);
    size_t body = mark + 1;
    size_t len = sb->len - body;
    uint8_t v[CKPT_UV_MAX_LEN];
    size_t n = ckpt_uv_encode(v, len);
    if (n > 1) {
        sbuf_reserve(sb, n - 1);
        memmove(sb->buf + body + n - 1, sb->buf + body, len);
        sb->len += n - 1;
        sb->buf[sb->len] = '\0';
    }
    memcpy(sb->buf + mark, v, n);
}

/* ---- readers ---------------------------------------------------------- */

uint8_t ckpt_get_u8(struct ckpt_r *r)
{
    if (r->err || r->p >= r->end) {
        ckpt_r_fail(r, "truncated record");
        return 0;
    }
    return *r->p++;
}

uint64_t ckpt_get_uv(struct ckpt_r *r)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 7 * CKPT_UV_MAX_LEN; shift += 7) {
        if (r->err || r->p >= r->end) {
            ckpt_r_fail(r, "truncated record");
            return 0;
        }
        uint8_t b = *r->p++;
        /* the tenth byte holds bit 63 only */
        if (shift == 63 && b > 1)
            break;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    ckpt_r_fail(r, "varint too long");
    return 0;
}

int64_t ckpt_get_sv(struct ckpt_r *r)
{
    uint64_t u = ckpt_get_uv(r);
    return (int64_t)((u >> 1) ^ (0 - (u & 1)));
}

double ckpt_get_f64(struct ckpt_r *r)
{
    if (r->err || r->end - r->p < 8) {
        ckpt_r_fail(r, "truncated record");
        return 0.0;
    }
    uint64_t bits = 0;
    for (int i = 0; i < 8; i++)
        bits |= (uint64_t)r->p[i] << (8 * i);
    r->p += 8;
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

bool ckpt_get_bool(struct ckpt_r *r)
{
    uint8_t b = ckpt_get_u8(r);
    if (b > 1) {
        ckpt_r_fail(r, "bad boolean");
        return false;
    }
    return b == 1;
}

const char *ckpt_get_bytes(struct ckpt_r *r, size_t *len)
{
    uint64_t n = ckpt_get_uv(r);
    if (!r->err && n > (uint64_t)(r->end - r->p))
        ckpt_r_fail(r, "truncated record");
    if (r->err) {
        *len = 0;
        return NULL;
    }
    const char *s = (const char *)r->p;
    r->p += n;
    *len = (size_t)n;
    return s;
}

uint64_t ckpt_get_uv_max(struct ckpt_r *r, uint64_t max, const char *what)
{
    uint64_t v = ckpt_get_uv(r);
    if (v > max) {
        ckpt_r_fail(r, what);
        return 0;
    }
    return v;
}

void ckpt_get_val(struct ckpt_r *r, struct val *out)
{
    *out = val_null();
    uint8_t type = ckpt_get_u8(r);
    uint8_t flags = ckpt_get_u8(r);
    if (r->err)
        return;
    switch ((enum val_type)type) {
        case VAL_NULL:
            break;
        case VAL_BOOL:
            out->u.b = ckpt_get_bool(r);
            break;
        case VAL_INT:
            out->u.i = ckpt_get_sv(r);
            break;
        case VAL_FLOAT:
            out->u.f = ckpt_get_f64(r);
            break;
        case VAL_STR:
        case VAL_ARR:
        case VAL_OBJ: {
            size_t len;
            out->u.s = ckpt_get_bytes(r, &len);
            if (len > UINT32_MAX)
                ckpt_r_fail(r, "value too long");
            out->len = (uint32_t)len;
            break;
        }
        case VAL_LIST:
        case VAL_COUNT:
        default:
            ckpt_r_fail(r, "bad value type");
            break;
    }
    if (r->err) {
        *out = val_null();
        return;
    }
    out->type = type;
    /* A string is never taken as needing no escape on a file's word. */
    out->flags = flags & (uint8_t)~VAL_F_PLAIN;
}

void ckpt_get_frame(struct ckpt_r *r, struct ckpt_r *frame)
{
    static const uint8_t empty[1]; /* a failed frame reads from here */
    size_t len;
    const char *body = ckpt_get_bytes(r, &len);
    ckpt_r_init(frame, body ? (const void *)body : empty, len);
    frame->err = r->err;
}
