/* SPDX-License-Identifier: Apache-2.0
 * JSON scanner primitives: validate-and-skip for strings, numbers, literals
 * and whole values, string unescaping, UTF-8 validation, and two helpers on
 * raw values (array length, one member of an object).  Nothing allocates and
 * nothing recurses: nesting is tracked in a fixed bit stack of
 * JSON_MAX_DEPTH levels.  The line decoder (dec_json.c) is built on these.
 * Tested by: tests/unit/check_json.c, tests/fuzz/fuzz_dec_json.c */
#ifndef CEPD_JSON_H
#define CEPD_JSON_H

#include "cepd/cep_common.h"
#include "cepd/val.h"

#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Deepest container nesting accepted; the top-level object is depth 1. */
#define JSON_MAX_DEPTH 512

/* Why and where scanning failed.  reason is a static string such as
 * "invalid UTF-8"; offset counts bytes from the start of the buffer that the
 * caller passed as base. */
struct json_err {
    const char *reason;
    size_t offset;
};

/* A scan position: the buffer [base, end) and the error slot.  The
 * primitives take the current pointer separately and return the pointer
 * just past what they consumed, or NULL after filling *err. */
struct json_scan {
    const char *base;
    const char *end;
    struct json_err *err;
};

/* Skip JSON whitespace (space, tab, CR, LF) from p; returns the first other
 * byte's address or end. */
static inline const char *json_ws_skip(const char *p, const char *end)
{
    if (CEP_LIKELY(p < end && (unsigned char)*p > ' ')) /* compact JSON: one test */
        return p;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

#ifdef __SSE2__
/* Of the 16 bytes x, those a string scan must look at (json_str_stop): a
 * byte of 0xFF for each quote, backslash, byte below 0x20 or above 0x7F. */
static inline __m128i json_str_special16(__m128i x)
{
    /* Signed compare: bytes >= 0x80 are negative, so "< 0x20" flags them
     * as well as control characters. */
    __m128i q = _mm_cmpeq_epi8(x, _mm_set1_epi8('"'));
    __m128i b = _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'));
    return _mm_or_si128(_mm_or_si128(q, b), _mm_cmplt_epi8(x, _mm_set1_epi8(0x20)));
}
#endif

/* The address of the first byte in [p, end) that a string scan must look
 * at (a quote, a backslash, a byte below 0x20 or above 0x7F), or end.  The
 * hot loop of every string scan: 16 bytes per step with SSE2, 8 without. */
static inline const char *json_str_stop(const char *p, const char *end)
{
#ifdef __SSE2__
    while (end - p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
        unsigned bits = (unsigned)_mm_movemask_epi8(json_str_special16(x));
        if (bits)
            return p + __builtin_ctz(bits);
        p += 16;
    }
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (end - p >= 8) {
        const uint64_t ones = UINT64_C(0x0101010101010101);
        uint64_t x, q, b;
        memcpy(&x, p, 8);
        q = x ^ (ones * '"');
        b = x ^ (ones * '\\');
        /* Borrows can only flag bytes above the first true hit, so the
         * lowest set bit is exact. */
        uint64_t m = (x | ((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b)) &
                     (ones * 0x80);
        if (m)
            return p + __builtin_ctzll(m) / 8;
        p += 8;
    }
#endif
    for (; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80)
            break;
    }
    return p;
}

/* The common case of json_str_scan, inlined: for a string of printable
 * ASCII without escapes whose opening quote is at p, the address just past
 * its closing quote; NULL for anything else (call json_str_scan then). */
static inline const char *json_str_fast(const char *p, const char *end)
{
    const char *q = json_str_stop(p + 1, end);
    return q < end && *q == '"' ? q + 1 : NULL;
}

/* Scan the string literal whose opening quote is at p.  Validates UTF-8,
 * rejects control characters below 0x20, checks every escape including
 * \uXXXX surrogate pairing.  Sets *has_esc when the body holds a backslash
 * (so it must go through json_str_unescape).  Returns the address just past
 * the closing quote; the body is [p + 1, ret - 1). */
const char *json_str_scan(const struct json_scan *sc, const char *p, bool *has_esc);

/* Text codec helpers shared by every parser of escapes (JSON strings, the
 * expression lexer, YAML double-quoted scalars): the value of a hex digit
 * (-1 if c is not one), of 4 hex digits at p (-1 if any is not), and the
 * UTF-8 encoding of code point cp (< 0x110000) into out; returns its bytes. */
int json_hex_digit(int c);
int json_hex4(const char *p);
size_t json_utf8_encode(char out[4], uint32_t cp);

/* Unescape a string body that json_str_scan accepted into dst, which has
 * room for len bytes (unescaping never grows a string).  \u escapes become
 * UTF-8, a surrogate pair one 4-byte sequence.  Returns the bytes written. */
size_t json_str_unescape(const char *s, size_t len, char *dst);

/* Scan the number at p ('-' or a digit).  When out is not NULL, stores it:
 * VAL_INT if written without fraction or exponent and it fits int64 ("-0" is
 * the integer 0), else VAL_FLOAT, correctly rounded (values beyond the
 * double range become +-infinity).  Needs the C locale for LC_NUMERIC, which
 * cepd never changes. */
const char *json_num_scan(const struct json_scan *sc, const char *p, struct val *out);

/* Scan any value at p (whitespace already skipped) without materialising
 * it.  depth is the nesting depth of the container holding the value; a
 * container deeper than JSON_MAX_DEPTH is an error ("nesting too deep"). */
const char *json_value_skip(const struct json_scan *sc, const char *p, unsigned depth);

/* Scan the value at p and store it in *out: scalars as json_num_scan and
 * json_str_scan describe (an escaped string is unescaped to *scratch, which
 * then advances past it), objects and arrays as raw slices of the buffer
 * (VAL_OBJ, VAL_ARR).  Strings without escapes point into the buffer. */
const char *json_value_take(const struct json_scan *sc, const char *p, unsigned depth,
                            struct val *out, char **scratch);

/* True when s[0..len) is well-formed UTF-8: no overlong forms, no encoded
 * surrogates, nothing above U+10FFFF. */
bool json_utf8_valid(const char *s, size_t len);

/* The number of elements of a raw array value as the decoder produced it
 * (VAL_ARR bytes).  Input that is not such an array yields a meaningless
 * count but never reads outside raw[0..len); anything not starting with '['
 * yields 0.  Used by len(). */
size_t json_array_count(const char *raw, size_t len);

/* Look up top-level member key (key_len bytes, compared after unescaping
 * the member names) of the raw object raw[0..len), validating the whole
 * object.  scratch has room for len bytes and receives unescaped strings;
 * *out may point into raw or scratch.  A missing member gives VAL_NULL;
 * duplicates: the last one wins.  Returns CEP_OK, or CEP_ERR (with *err set
 * when err is not NULL) if raw is not exactly one valid JSON object. */
int json_member_get(const char *raw, size_t len, const char *key, size_t key_len, struct val *out,
                    char *scratch, struct json_err *err);

#endif
