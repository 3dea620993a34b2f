/* SPDX-License-Identifier: Apache-2.0
 * The builtin function table (name, arity, argument and result types, doc)
 * and the functions the VM calls through CALL.  exists, coalesce and the
 * pattern-step aggregates are compiled to dedicated opcodes instead and
 * have no function pointer.  Builtins never fail: bad operands give null
 * (and count a type mismatch); new strings go to rt scratch.
 * Tested by: tests/unit/check_expr.c (builtins) */
#include "cepd/cep_common.h"
#include "expr_int.h"

#include "cepd/json.h"
#include "cepd/sbuf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- Helpers shared in the module ---- */

/* Code points in s: every byte that is not a UTF-8 continuation byte starts
 * one (so an invalid byte counts as one code point). */
size_t expr_utf8_count(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xc0) != 0x80;
    return n;
}

/* Byte offset where code point cp starts (len when cp is past the end). */
size_t expr_utf8_offset(const char *s, size_t len, size_t cp)
{
    size_t i = 0;
    while (i < len) {
        if (((unsigned char)s[i] & 0xc0) != 0x80) {
            if (cp == 0)
                return i;
            cp--;
        }
        i++;
    }
    return len;
}

/* Top-level members of a raw JSON object (or elements of an array): one
 * more than the commas at depth 1 outside strings, 0 when empty.  An
 * iterative scan, so nesting depth costs nothing. */
size_t expr_json_count(const char *raw, size_t len)
{
    size_t i = 0, n = 0;
    int64_t depth = 0;
    bool any = false;
    while (i < len) {
        char ch = raw[i++];
        if (ch == '"') {
            if (depth == 1)
                any = true;
            while (i < len && raw[i] != '"')
                i += raw[i] == '\\' ? 2 : 1;
            i++;
        } else if (ch == '[' || ch == '{') {
            if (depth == 1)
                any = true;
            depth++;
        } else if (ch == ']' || ch == '}') {
            depth--;
            if (depth == 0)
                break;
        } else if (ch == ',' && depth == 1) {
            n++;
        } else if (depth == 1 && ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') {
            any = true;
        }
    }
    return any ? n + 1 : 0;
}

static bool ip_parse(const char *s, size_t len, int *family, uint8_t addr[16])
{
    char buf[64];
    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (inet_pton(AF_INET, buf, addr) == 1) {
        *family = 4;
        return true;
    }
    if (inet_pton(AF_INET6, buf, addr) == 1) {
        *family = 6;
        return true;
    }
    return false;
}

/* Parse a network "10.0.0.0/8" or "fd00::/8"; without "/n" it is one host.
 * Host bits need not be zero.  Returns CEP_ERR when s is not a network. */
int expr_cidr_parse(const char *s, size_t len, struct expr_cidr *out)
{
    memset(out, 0, sizeof(*out));
    const char *slash = memchr(s, '/', len);
    size_t alen = slash ? (size_t)(slash - s) : len;
    if (!ip_parse(s, alen, &out->family, out->addr))
        return CEP_ERR;
    uint32_t max = out->family == 4 ? 32 : 128;
    out->bits = max;
    if (slash) {
        size_t k = len - alen - 1;
        if (k == 0 || k > 3)
            return CEP_ERR;
        uint32_t bits = 0;
        for (size_t i = 0; i < k; i++) {
            char c = slash[1 + i];
            if (c < '0' || c > '9')
                return CEP_ERR;
            bits = bits * 10 + (uint32_t)(c - '0');
        }
        if (bits > max)
            return CEP_ERR;
        out->bits = bits;
    }
    return CEP_OK;
}

/* Whether IP text s lies in network c (same address family only). */
bool expr_cidr_contains(const struct expr_cidr *c, const char *s, size_t len)
{
    int family;
    uint8_t addr[16];
    if (!ip_parse(s, len, &family, addr) || family != c->family)
        return false;
    uint32_t full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(addr, c->addr, full) != 0)
        return false;
    if (rest) {
        uint8_t mask = (uint8_t)(0xff << (8 - rest));
        if ((addr[full] & mask) != (c->addr[full] & mask))
            return false;
    }
    return true;
}

/* ---- Functions ---- */

static void fn_case(struct expr_ctx *ctx, const struct val *a, struct val *out, bool upper)
{
    if (a->type != VAL_STR) {
        if (a->type != VAL_NULL)
            expr_count_mismatch(ctx);
        *out = val_null();
        return;
    }
    char *p = expr_rt_scratch(ctx->rt, a->len ? a->len : 1);
    for (uint32_t i = 0; i < a->len; i++) {
        char c = a->u.s[i];
        if (upper && c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        else if (!upper && c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        p[i] = c;
    }
    *out = val_str(p, a->len);
}

static void fn_lower(struct expr_ctx *ctx, struct val *args, uint32_t n, struct val *out)
{
    fn_case(ctx, &args[0], out, false);
}

static void fn_upper(struct expr_ctx *ctx, struct val *args, uint32_t n, struct val *out)
{
    fn_case(ctx, &args[0], out, true);
}

static void fn_len(struct expr_ctx *ctx, struct val *args, uint32_t n, struct val *out)
{
    const struct val *a = &args[0];
    switch (a->type) {
        case VAL_STR:
            *out = val_int((int64_t)expr_utf8_count(a->u.s, a->len));
            return;
        case VAL_ARR:
            *out = val_int((int64_t)json_array_count(a->u.s, a->len));
            return;
        case VAL_OBJ:
            *out = val_int((int64_t)expr_json_count(a->u.s, a->len));
            return;
        case VAL_LIST:
            *out = val_int(a->len);
            return;
        case VAL_NULL:
            break;
        default:
            expr_count_mismatch(ctx);
            break;
    }
    *out = val_null();
}

static void fn_abs(struct expr_ctx *ctx, struct val *args, uint32_t n, struct val *out)
{
    const struct val *a = &args[0];
    if (a->type == VAL_INT)
        *out = a->u.i == INT64_MIN ? val_float(-(double)a->u.i)
                                   : val_int(a->u.i < 0 ? -a->u.i : a->u.i);
    else if (a->type == VAL_FLOAT)
        *out = val_float(fabs(a->u.f));
    else {
        if (a->type != VAL_NULL)
            expr_count_mismatch(ctx);
        *out = val_null();
    }
}

/* Parse a whole string as a number (int when it is one); false if it is
 * not exactly a number. */
static bool str_number(const struct val *a, struct val *out)
{
    char buf[64];
    if (a->len == 0 || a->len >= sizeof(buf))
        return false;
    memcpy(buf, a->u.s, a->len);
    buf[a->len] = '\0';
    char *end;
    errno = 0;
    long long ll = strtoll(buf, &end, 10);
    if (*end == '\0' && errno == 0 && end != buf) {
        *out = val_int(ll);
        return true;
    }
    errno = 0;
    double d = strtod(buf, &end);
    if (*end != '\0' || end == buf || errno == ERANGE || buf[0] == ' ' || buf[0] == '\t')
        return false;
    *out = val_float(d);
    return true;
}

static void fn_int(struct expr_ctx *ctx, struct val *args, uint32_t n, struct val *out)
{
    struct val a = args[0];
    *out = val_null();
    if (a.type == VAL_STR && !str_number(&a, &a)) {
        expr_count_mismatch(ctx);
        return;
    }
    switch (a.type) {
        case VAL_INT:
            *out = val_int(a.u.i);
            return;
        case VAL_FLOAT:
            if (a.u.f > -9223372036854775808.0 && a.u.f < 9223372036854775808.0)
                *out = val_int((int64_t)a.u.f);
            else
                expr_count_mismatch(ctx);
            return;
        case VAL_BOOL:
            *out = val_int(a.u.b);
            return;
        case VAL_NULL:
            return;
        default:
            expr_count_mismatch(ctx);
            return;
    }
}

static void fn_float(struct expr_ctx *ctx, struct val *args, uint32_t n, struct val *out)
{
    struct val a = args[0];
    *out = val_null();
    if (a.type == VAL_STR && !str_number(&a, &a)) {
        expr_count_mismatch(ctx);
        return;
    }
    switch (a.type) {
        case VAL_INT:
        case VAL_FLOAT:
            *out = val_float(val_num(&a));
            return;
        case VAL_BOOL:
            *out = val_float(a.u.b ? 1.0 : 0.0);
            return;
        case VAL_NULL:
            return;
        default:
            expr_count_mismatch(ctx);
            return;
    }
}

static void fn_str(struct expr_ctx *ctx, struct val *args, uint32_t n, struct val *out)
{
    const struct val *a = &args[0];
    if (a->type == VAL_STR || a->type == VAL_NULL) {
        *out = *a;
        out->flags = 0;
        return;
    }
    struct sbuf *sb = expr_rt_tmp(ctx->rt);
    val_to_text(a, sb);
    char *p = expr_rt_scratch(ctx->rt, sb->len ? sb->len : 1);
    memcpy(p, sb->buf, sb->len);
    *out = val_str(p, sb->len);
}

static bool int_arg(struct expr_ctx *ctx, const struct val *v, int64_t *out)
{
    if (v->type == VAL_INT) {
        *out = v->u.i;
        return true;
    }
    if (v->type == VAL_FLOAT && v->u.f > -9.2e18 && v->u.f < 9.2e18) {
        *out = (int64_t)v->u.f;
        return true;
    }
    if (v->type != VAL_NULL)
        expr_count_mismatch(ctx);
    return false;
}

/* substr(s, i, n): n code points from code point i (negative i counts from
 * the end); clamped to the string, so it never fails on a valid string. */
static void fn_substr(struct expr_ctx *ctx, struct val *args, uint32_t n, struct val *out)
{
    const struct val *s = &args[0];
    int64_t i, k;
    *out = val_null();
    if (s->type != VAL_STR) {
        if (s->type != VAL_NULL)
            expr_count_mismatch(ctx);
        return;
    }
    if (!int_arg(ctx, &args[1], &i) || !int_arg(ctx, &args[2], &k))
        return;
    int64_t cps = (int64_t)expr_utf8_count(s->u.s, s->len);
    if (i < 0)
        i = i < -cps ? 0 : cps + i;
    if (i > cps)
        i = cps;
    if (k < 0)
        k = 0;
    if (k > cps - i)
        k = cps - i;
    size_t from = expr_utf8_offset(s->u.s, s->len, (size_t)i);
    size_t to = expr_utf8_offset(s->u.s, s->len, (size_t)(i + k));
    *out = val_str(s->u.s + from, to - from);
}

static void fn_cidr_match(struct expr_ctx *ctx, struct val *args, uint32_t n, struct val *out)
{
    struct expr_cidr c;
    *out = val_bool(false);
    if (args[0].type != VAL_STR || args[1].type != VAL_STR) {
        if (args[0].type != VAL_NULL && args[1].type != VAL_NULL)
            expr_count_mismatch(ctx);
        return;
    }
    if (expr_cidr_parse(args[1].u.s, args[1].len, &c) != CEP_OK) {
        expr_count_mismatch(ctx);
        return;
    }
    *out = val_bool(expr_cidr_contains(&c, args[0].u.s, args[0].len));
}

#define T(t)     EXPR_TM(EXPR_T_##t)
#define SCALAR   (T(NULL) | T(BOOL) | T(NUM) | T(STR))
#define STEPARG  EXPR_TM_ANY

/* The table: each builtin once, with its documentation. */
const struct expr_builtin expr_builtins[] = {
    {"exists", 1, 1, EXPR_BK_EXISTS, {EXPR_TM_ANY}, EXPR_T_BOOL, NULL,
     "exists(f): whether field f is present (not null)"},
    {"lower", 1, 1, EXPR_BK_PLAIN, {T(STR) | T(NULL)}, EXPR_T_STR, fn_lower,
     "lower(s): s with ASCII letters in lower case"},
    {"upper", 1, 1, EXPR_BK_PLAIN, {T(STR) | T(NULL)}, EXPR_T_STR, fn_upper,
     "upper(s): s with ASCII letters in upper case"},
    {"len", 1, 1, EXPR_BK_PLAIN, {T(STR) | T(LIST) | T(NULL)}, EXPR_T_NUM, fn_len,
     "len(x): code points of a string, elements of a list or JSON array, members of an object"},
    {"abs", 1, 1, EXPR_BK_PLAIN, {T(NUM) | T(NULL)}, EXPR_T_NUM, fn_abs,
     "abs(n): absolute value"},
    {"int", 1, 1, EXPR_BK_PLAIN, {SCALAR}, EXPR_T_NUM, fn_int,
     "int(x): x as an integer (floats truncate toward zero, strings are parsed)"},
    {"float", 1, 1, EXPR_BK_PLAIN, {SCALAR}, EXPR_T_NUM, fn_float,
     "float(x): x as a floating-point number (strings are parsed)"},
    {"str", 1, 1, EXPR_BK_PLAIN, {EXPR_TM_ANY}, EXPR_T_STR, fn_str,
     "str(x): x as text, as message templates render it; str(null) is null"},
    {"coalesce", 1, EXPR_VARARGS, EXPR_BK_COALESCE, {EXPR_TM_ANY}, EXPR_T_ANY, NULL,
     "coalesce(a, b, ...): the first argument that is not null (later ones are not evaluated)"},
    {"cidr_match", 2, 2, EXPR_BK_PLAIN, {T(STR) | T(NULL), T(STR) | T(NULL)}, EXPR_T_BOOL,
     fn_cidr_match, "cidr_match(ip, net): whether IPv4/IPv6 text ip is in network net (a/n)"},
    {"substr", 3, 3, EXPR_BK_PLAIN, {T(STR) | T(NULL), T(NUM), T(NUM)}, EXPR_T_STR, fn_substr,
     "substr(s, i, n): n code points of s from code point i (negative i: from the end)"},
    {"lookup", 2, 3, EXPR_BK_LOOKUP, {T(STR), T(STR) | T(NUM) | T(NULL), T(STR)}, EXPR_T_ANY, NULL,
     "lookup(table, key[, column]): key's value in a lookup table (a CSV column or a member of "
     "a JSON object value with column); null when the key is absent"},
    {"count", 1, 1, EXPR_BK_STEP, {STEPARG}, EXPR_T_NUM, NULL,
     "count(STEP): events the pattern step has taken"},
    {"sum", 1, 1, EXPR_BK_STEP, {STEPARG}, EXPR_T_NUM, NULL,
     "sum(STEP.f): sum of f over the step's events (non-numbers skipped)"},
    {"avg", 1, 1, EXPR_BK_STEP, {STEPARG}, EXPR_T_NUM, NULL,
     "avg(STEP.f): mean of f over the step's events; null if none is a number"},
    {"min", 1, 1, EXPR_BK_STEP, {STEPARG}, EXPR_T_NUM, NULL,
     "min(STEP.f): least f over the step's events"},
    {"max", 1, 1, EXPR_BK_STEP, {STEPARG}, EXPR_T_NUM, NULL,
     "max(STEP.f): greatest f over the step's events"},
};
const size_t expr_n_builtins = CEP_ARRAY_LEN(expr_builtins);

/* Index of the builtin named (name, len), or -1. */
int expr_builtin_find(const char *name, size_t len)
{
    for (size_t i = 0; i < expr_n_builtins; i++) {
        if (strlen(expr_builtins[i].name) == len && memcmp(expr_builtins[i].name, name, len) == 0)
            return (int)i;
    }
    return -1;
}
