/* SPDX-License-Identifier: Apache-2.0
 * Values: equality and ordering as the rule language defines them, and the
 * JSON and text renderings used by alerts and message templates.
 * Tested by: tests/unit/check_core.c */
#include "cepd/cep_common.h"
#include "cepd/val.h"
#include "cepd/sbuf.h"

#include <string.h>

static const char *const val_type_names[VAL_COUNT] = {
    [VAL_NULL] = "null",   [VAL_BOOL] = "bool",  [VAL_INT] = "int",
    [VAL_FLOAT] = "float", [VAL_STR] = "string", [VAL_ARR] = "array",
    [VAL_OBJ] = "object",  [VAL_LIST] = "list",
};

const char *val_type_name(enum val_type t)
{
    return t < VAL_COUNT ? val_type_names[t] : "?";
}

static int val_bytes_cmp(const struct val *a, const struct val *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = n ? memcmp(a->u.s, b->u.s, n) : 0;
    if (c)
        return c < 0 ? -1 : 1;
    return a->len < b->len ? -1 : a->len > b->len;
}

bool val_equal(const struct val *a, const struct val *b)
{
    if (val_is_num(a) && val_is_num(b)) {
        if (a->type == VAL_INT && b->type == VAL_INT)
            return a->u.i == b->u.i;
        return val_num(a) == val_num(b);
    }
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case VAL_NULL:
        return true;
    case VAL_BOOL:
        return a->u.b == b->u.b;
    case VAL_STR:
    case VAL_ARR:
    case VAL_OBJ:
        return a->len == b->len && val_bytes_cmp(a, b) == 0;
    case VAL_LIST:
        if (a->len != b->len)
            return false;
        for (uint32_t i = 0; i < a->len; i++)
            if (!val_equal(&a->u.items[i], &b->u.items[i]))
                return false;
        return true;
    default:
        return false;
    }
}

int val_compare(const struct val *a, const struct val *b, bool *ok)
{
    *ok = true;
    if (a->type == VAL_INT && b->type == VAL_INT)
        return a->u.i < b->u.i ? -1 : a->u.i > b->u.i;
    if (val_is_num(a) && val_is_num(b)) {
        double x = val_num(a), y = val_num(b);
        if (x != x || y != y) {
            *ok = false;
            return 0;
        }
        return x < y ? -1 : x > y;
    }
    if (a->type == VAL_STR && b->type == VAL_STR)
        return val_bytes_cmp(a, b);
    *ok = false;
    return 0;
}

void val_to_json(const struct val *v, struct sbuf *sb)
{
    switch (v->type) {
    case VAL_NULL:
        sbuf_append(sb, "null", 4);
        break;
    case VAL_BOOL:
        sbuf_puts(sb, v->u.b ? "true" : "false");
        break;
    case VAL_INT:
        if (v->u.i < 0)
            sbuf_putc(sb, '-');
        sbuf_put_u64(sb, v->u.i < 0 ? -(uint64_t)v->u.i : (uint64_t)v->u.i);
        break;
    case VAL_FLOAT:
        sbuf_json_double(sb, v->u.f);
        break;
    case VAL_STR:
        if (v->flags & VAL_F_PLAIN) /* no byte to escape, no scan */
            sbuf_json_plain(sb, v->u.s, v->len);
        else
            sbuf_json_str(sb, v->u.s, v->len);
        break;
    case VAL_ARR:
    case VAL_OBJ:
        sbuf_append(sb, v->u.s, v->len);
        break;
    case VAL_LIST:
        sbuf_putc(sb, '[');
        for (uint32_t i = 0; i < v->len; i++) {
            if (i)
                sbuf_putc(sb, ',');
            val_to_json(&v->u.items[i], sb);
        }
        sbuf_putc(sb, ']');
        break;
    default:
        sbuf_append(sb, "null", 4);
        break;
    }
}

void val_to_text(const struct val *v, struct sbuf *sb)
{
    switch (v->type) {
    case VAL_NULL:
        break;
    case VAL_STR:
        sbuf_append(sb, v->u.s, v->len);
        break;
    default:
        val_to_json(v, sb);
        break;
    }
}
