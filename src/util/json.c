/* SPDX-License-Identifier: Apache-2.0
 * JSON scanner primitives.  Every function validates what it consumes and
 * materialises only when asked, so a decoder can walk a line once and pay
 * for the values it wants.  Strings are scanned eight bytes at a time for
 * the bytes that need attention (quote, backslash, control, non-ASCII);
 * nesting is tracked in a bit stack, never by C recursion.
 * Tested by: tests/unit/check_json.c, tests/fuzz/fuzz_dec_json.c */
#include "cepd/cep_common.h"
#include "cepd/json.h"

#include <stdlib.h>
#include <string.h>

static const char *json_fail(const struct json_scan *sc, const char *at, const char *reason)
{
    sc->err->reason = reason;
    sc->err->offset = (size_t)(at - sc->base);
    return NULL;
}

/* Length of the well-formed UTF-8 sequence starting with the non-ASCII byte
 * at p, or 0 if it is malformed or truncated by end. */
static size_t json_utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0], lo = 0x80, hi = 0xBF;
    size_t n;
    if (c < 0xC2)
        return 0; /* continuation byte or overlong 2-byte lead */
    if (c < 0xE0) {
        n = 1;
    } else if (c < 0xF0) {
        n = 2;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* UTF-16 surrogates */
    } else if (c < 0xF5) {
        n = 3;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0;
    }
    if ((size_t)(end - p) <= n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i <= n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return n + 1;
}

bool json_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        while (end - p >= 8) {
            uint64_t x;
            memcpy(&x, p, 8);
            if (x & UINT64_C(0x8080808080808080))
                break;
            p += 8;
        }
        if (p == end)
            break;
        if (*p < 0x80) {
            p++;
            continue;
        }
        size_t n = json_utf8_seq(p, end);
        if (!n)
            return false;
        p += n;
    }
    return true;
}

int json_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int json_hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int d = json_hex_digit((unsigned char)p[i]);
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Check the escape whose backslash is at q; returns the address after it. */
static const char *json_esc_scan(const struct json_scan *sc, const char *open, const char *q)
{
    const char *end = sc->end;
    if (end - q < 2)
        return json_fail(sc, open, "unterminated string");
    switch (q[1]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            return q + 2;
        case 'u':
            break;
        default:
            return json_fail(sc, q, "invalid escape");
    }
    int cp = end - q >= 6 ? json_hex4(q + 2) : -1;
    if (cp < 0)
        return json_fail(sc, q, "invalid \\u escape");
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return json_fail(sc, q, "invalid surrogate");
    if (cp < 0xD800 || cp > 0xDBFF)
        return q + 6;
    if (end - q < 12 || q[6] != '\\' || q[7] != 'u')
        return json_fail(sc, q, "invalid surrogate");
    int lo = json_hex4(q + 8);
    if (lo < 0xDC00 || lo > 0xDFFF)
        return json_fail(sc, q, "invalid surrogate");
    return q + 12;
}

const char *json_str_scan(const struct json_scan *sc, const char *p, bool *has_esc)
{
    const char *end = sc->end, *q = p + 1;
    bool esc = false;
    for (;;) {
        q = json_str_stop(q, end);
        if (q == end)
            return json_fail(sc, p, "unterminated string");
        unsigned char c = (unsigned char)*q;
        if (c == '"') {
            *has_esc = esc;
            return q + 1;
        }
        if (c == '\\') {
            esc = true;
            q = json_esc_scan(sc, p, q);
            if (!q)
                return NULL;
        } else if (c < 0x20) {
            return json_fail(sc, q, "control character in string");
        } else if (c >= 0x80) {
            size_t n = json_utf8_seq((const unsigned char *)q, (const unsigned char *)end);
            if (!n)
                return json_fail(sc, q, "invalid UTF-8");
            q += n;
        } else {
            q++;
        }
    }
}

size_t json_utf8_encode(char out[4], uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t json_str_unescape(const char *s, size_t len, char *dst)
{
    const char *end = s + len;
    size_t n = 0;
    while (s < end) {
        const char *bs = memchr(s, '\\', (size_t)(end - s));
        size_t run = bs ? (size_t)(bs - s) : (size_t)(end - s);
        memmove(dst + n, s, run);
        n += run;
        if (!bs)
            break;
        char c = bs[1];
        s = bs + 2;
        switch (c) {
            case 'b':
                dst[n++] = '\b';
                break;
            case 'f':
                dst[n++] = '\f';
                break;
            case 'n':
                dst[n++] = '\n';
                break;
            case 'r':
                dst[n++] = '\r';
                break;
            case 't':
                dst[n++] = '\t';
                break;
            case 'u': {
                unsigned cp = (unsigned)json_hex4(s);
                s += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    unsigned lo = (unsigned)json_hex4(s + 2);
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    s += 6;
                }
                n += json_utf8_encode(dst + n, cp);
                break;
            }
            default: /* '"', '\\', '/' stand for themselves */
                dst[n++] = c;
                break;
        }
    }
    return n;
}

static inline bool json_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Accumulate the run of digits at p into *m (m = m * 10 + digit, wrapping)
 * and return the first non-digit.  Eight digits at a time where the bytes
 * allow (an epoch-millisecond timestamp has 13): the SWAR test and
 * conversion of simdjson, little-endian only. */
static inline const char *json_digits(const char *p, const char *end, uint64_t *m)
{
    uint64_t acc = *m;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        if (((w & 0xF0F0F0F0F0F0F0F0u) | (((w + 0x0606060606060606u) & 0xF0F0F0F0F0F0F0F0u) >> 4)) !=
            0x3333333333333333u)
            break;
        w = (w & 0x0F0F0F0F0F0F0F0Fu) * 2561 >> 8;
        w = (w & 0x00FF00FF00FF00FFu) * 6553601 >> 16;
        w = (w & 0x0000FFFF0000FFFFu) * 42949672960001u >> 32;
        acc = acc * 100000000u + (uint32_t)w;
        p += 8;
    }
#endif
    for (; p < end && json_is_digit(*p); p++)
        acc = acc * 10 + (uint64_t)(*p - '0');
    *m = acc;
    return p;
}

/* Powers of ten that doubles hold exactly: the Clinger fast path. */
static const double json_pow10[] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

const char *json_num_scan(const struct json_scan *sc, const char *p, struct val *out)
{
    const char *s = p, *end = sc->end, *ds;
    bool neg = false, is_float = false;
    uint64_t m = 0; /* the digits, wrapping; meaningful when nd <= 19 */
    size_t nd;      /* digits accumulated into m */
    long e10 = 0;   /* decimal exponent to apply to m */
    if (*p == '-') {
        neg = true;
        p++;
    }
    if (p == end)
        return json_fail(sc, p, "unexpected end of input");
    if (!json_is_digit(*p))
        return json_fail(sc, p, "invalid number");
    ds = p;
    if (*p == '0') {
        p++;
        if (p < end && json_is_digit(*p))
            return json_fail(sc, p, "invalid number");
    } else {
        p = json_digits(p, end, &m);
    }
    nd = (size_t)(p - ds);
    if (p < end && *p == '.') {
        is_float = true;
        p++;
        if (p == end || !json_is_digit(*p))
            return json_fail(sc, p, p == end ? "unexpected end of input" : "invalid number");
        const char *fs = p;
        p = json_digits(p, end, &m);
        nd += (size_t)(p - fs);
        e10 = -(long)(p - fs);
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        is_float = true;
        p++;
        bool eneg = false;
        if (p < end && (*p == '+' || *p == '-')) {
            eneg = *p == '-';
            p++;
        }
        if (p == end || !json_is_digit(*p))
            return json_fail(sc, p, p == end ? "unexpected end of input" : "invalid number");
        long ev = 0;
        for (; p < end && json_is_digit(*p); p++)
            if (ev < 100000)
                ev = ev * 10 + (*p - '0');
        e10 += eneg ? -ev : ev;
    }
    /* More than 19 digits may have wrapped m: only strtod can round. */
    bool trunc = nd > 19;
    if (!out)
        return p;
    if (!is_float && !trunc) {
        if (!neg && m <= (uint64_t)INT64_MAX) {
            *out = val_int((int64_t)m);
            return p;
        }
        if (neg && m <= (uint64_t)INT64_MAX + 1) {
            *out = val_int(m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)m);
            return p;
        }
    }
    if (!trunc && m <= (UINT64_C(1) << 53) && e10 >= -22 && e10 <= 22) {
        double d = (double)m;
        d = e10 >= 0 ? d * json_pow10[e10] : d / json_pow10[-e10];
        *out = val_float(neg ? -d : d);
        return p;
    }
    /* Rare: let strtod round.  A validated number is followed by a byte
     * strtod cannot take, so parsing in place stops exactly at p. */
    size_t n = (size_t)(p - s);
    char buf[128];
    double d;
    if (n < sizeof(buf)) {
        memcpy(buf, s, n);
        buf[n] = '\0';
        d = strtod(buf, NULL);
    } else if (p < end) {
        d = strtod(s, NULL);
    } else {
        return json_fail(sc, p, "unexpected end of input");
    }
    *out = val_float(d);
    return p;
}

static const char *json_lit_scan(const struct json_scan *sc, const char *p, struct val *out)
{
    size_t left = (size_t)(sc->end - p);
    if (left >= 4 && memcmp(p, "true", 4) == 0) {
        if (out)
            *out = val_bool(true);
        return p + 4;
    }
    if (left >= 5 && memcmp(p, "false", 5) == 0) {
        if (out)
            *out = val_bool(false);
        return p + 5;
    }
    if (left >= 4 && memcmp(p, "null", 4) == 0) {
        if (out)
            *out = val_null();
        return p + 4;
    }
    return json_fail(sc, p, "invalid literal");
}

/* The member name and colon at p; returns the start of the member value. */
static const char *json_key_skip(const struct json_scan *sc, const char *p)
{
    bool esc;
    if (p == sc->end)
        return json_fail(sc, p, "unexpected end of input");
    if (*p != '"')
        return json_fail(sc, p, "expected string key");
    p = json_str_scan(sc, p, &esc);
    if (!p)
        return NULL;
    p = json_ws_skip(p, sc->end);
    if (p == sc->end)
        return json_fail(sc, p, "unexpected end of input");
    if (*p != ':')
        return json_fail(sc, p, "expected ':'");
    return json_ws_skip(p + 1, sc->end);
}

const char *json_value_skip(const struct json_scan *sc, const char *p, unsigned depth)
{
    uint64_t is_arr[JSON_MAX_DEPTH / 64];
    unsigned d = 0; /* containers opened by this call and not yet closed */
    const char *end = sc->end;
    bool esc;
    for (;;) {
        /* A value starts at p. */
        if (p == end)
            return json_fail(sc, p, "unexpected end of input");
        switch (*p) {
            case '{':
            case '[': {
                if (depth + d + 1 > JSON_MAX_DEPTH)
                    return json_fail(sc, p, "nesting too deep");
                bool arr = *p == '[';
                if (arr)
                    is_arr[d / 64] |= UINT64_C(1) << (d % 64);
                else
                    is_arr[d / 64] &= ~(UINT64_C(1) << (d % 64));
                d++;
                p = json_ws_skip(p + 1, end);
                if (p < end && *p == (arr ? ']' : '}')) {
                    p++;
                    d--;
                    break;
                }
                if (!arr && !(p = json_key_skip(sc, p)))
                    return NULL;
                continue;
            }
            case '"':
                p = json_str_scan(sc, p, &esc);
                break;
            case 't':
            case 'f':
            case 'n':
                p = json_lit_scan(sc, p, NULL);
                break;
            case '-':
            case '0':
            case '1':
            case '2':
            case '3':
            case '4':
            case '5':
            case '6':
            case '7':
            case '8':
            case '9':
                p = json_num_scan(sc, p, NULL);
                break;
            default:
                return json_fail(sc, p, "expected value");
        }
        if (!p)
            return NULL;
        /* A value ended at p: close containers until one continues. */
        for (;;) {
            if (d == 0)
                return p;
            p = json_ws_skip(p, end);
            bool arr = (is_arr[(d - 1) / 64] >> ((d - 1) % 64)) & 1;
            if (p == end)
                return json_fail(sc, p, "unexpected end of input");
            if (*p == ',') {
                p = json_ws_skip(p + 1, end);
                if (!arr && !(p = json_key_skip(sc, p)))
                    return NULL;
                break;
            }
            if (*p != (arr ? ']' : '}'))
                return json_fail(sc, p, arr ? "expected ',' or ']'" : "expected ',' or '}'");
            p++;
            d--;
        }
    }
}

const char *json_value_take(const struct json_scan *sc, const char *p, unsigned depth,
                            struct val *out, char **scratch)
{
    const char *q;
    bool esc;
    if (p == sc->end)
        return json_fail(sc, p, "unexpected end of input");
    switch (*p) {
        case '"':
            q = json_str_scan(sc, p, &esc);
            if (!q)
                return NULL;
            if (esc) {
                size_t n = json_str_unescape(p + 1, (size_t)(q - p - 2), *scratch);
                *out = val_str(*scratch, n);
                *scratch += n;
            } else {
                *out = val_str(p + 1, (size_t)(q - p - 2));
            }
            return q;
        case '{':
        case '[':
            q = json_value_skip(sc, p, depth);
            if (!q)
                return NULL;
            out->type = *p == '{' ? VAL_OBJ : VAL_ARR;
            out->flags = 0;
            out->len = (uint32_t)(q - p);
            out->u.s = p;
            return q;
        case 't':
        case 'f':
        case 'n':
            return json_lit_scan(sc, p, out);
        default:
            if (*p == '-' || json_is_digit(*p))
                return json_num_scan(sc, p, out);
            return json_fail(sc, p, "expected value");
    }
}

size_t json_array_count(const char *raw, size_t len)
{
    const char *p = raw, *end = raw + len;
    if (len == 0 || *p != '[')
        return 0;
    p = json_ws_skip(p + 1, end);
    if (p == end || *p == ']')
        return 0;
    size_t count = 1, depth = 0;
    for (; p < end; p++) {
        switch (*p) {
            case '"':
                for (p++; p < end && *p != '"'; p++)
                    if (*p == '\\')
                        p++;
                if (p >= end)
                    return count;
                break;
            case '[':
            case '{':
                depth++;
                break;
            case ']':
            case '}':
                if (depth == 0)
                    return count;
                depth--;
                break;
            case ',':
                if (depth == 0)
                    count++;
                break;
            default:
                break;
        }
    }
    return count;
}

int json_member_get(const char *raw, size_t len, const char *key, size_t key_len, struct val *out,
                    char *scratch, struct json_err *err)
{
    struct json_err local;
    struct json_scan sc = {.base = raw, .end = raw + len, .err = err ? err : &local};
    const char *p = json_ws_skip(raw, sc.end), *end = sc.end;
    char *sp = scratch;
    *out = val_null();
    if (p == end) {
        json_fail(&sc, p, "unexpected end of input");
        goto fail;
    }
    if (*p != '{') {
        json_fail(&sc, p, "top level is not an object");
        goto fail;
    }
    p = json_ws_skip(p + 1, end);
    if (p < end && *p == '}') {
        p++;
    } else {
        for (;;) {
            bool esc, match;
            const char *ks = p;
            if (p == end) {
                json_fail(&sc, p, "unexpected end of input");
                goto fail;
            }
            if (*p != '"') {
                json_fail(&sc, p, "expected string key");
                goto fail;
            }
            if (!(p = json_str_scan(&sc, p, &esc)))
                goto fail;
            size_t klen = (size_t)(p - ks - 2);
            if (esc) {
                klen = json_str_unescape(ks + 1, klen, sp);
                match = klen == key_len && memcmp(sp, key, klen) == 0;
            } else {
                match = klen == key_len && memcmp(ks + 1, key, klen) == 0;
            }
            p = json_ws_skip(p, end);
            if (p == end || *p != ':') {
                json_fail(&sc, p, p == end ? "unexpected end of input" : "expected ':'");
                goto fail;
            }
            p = json_ws_skip(p + 1, end);
            p = match ? json_value_take(&sc, p, 1, out, &sp) : json_value_skip(&sc, p, 1);
            if (!p)
                goto fail;
            p = json_ws_skip(p, end);
            if (p < end && *p == ',') {
                p = json_ws_skip(p + 1, end);
                continue;
            }
            if (p < end && *p == '}') {
                p++;
                break;
            }
            json_fail(&sc, p, p == end ? "unexpected end of input" : "expected ',' or '}'");
            goto fail;
        }
    }
    p = json_ws_skip(p, end);
    if (p != end) {
        json_fail(&sc, p, "trailing characters");
        goto fail;
    }
    return CEP_OK;
fail:
    *out = val_null();
    return CEP_ERR;
}
