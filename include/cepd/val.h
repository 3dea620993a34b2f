/* SPDX-License-Identifier: Apache-2.0
 * Values: the 16-byte tagged union that event slots, expression stacks and
 * aggregate results hold.  A value never owns memory: strings and raw JSON
 * point into an event's bytes, its scratch buffer, the compiled-rule arena or
 * an evaluation scratch buffer, and live as long as that owner.
 * Tested by: tests/unit/check_core.c */
#ifndef CEPD_VAL_H
#define CEPD_VAL_H

#include "cepd/cep_common.h"

enum val_type {
    VAL_NULL = 0, /* missing field or JSON null */
    VAL_BOOL,
    VAL_INT,   /* int64 */
    VAL_FLOAT, /* double */
    VAL_STR,   /* UTF-8 bytes (unescaped), u.s / len, not NUL-terminated */
    VAL_ARR,   /* a JSON array kept as its raw bytes, u.s / len */
    VAL_OBJ,   /* a JSON object kept as its raw bytes, u.s / len */
    VAL_LIST,  /* a constant list from the rule language: u.items / len */
    VAL_COUNT
};

struct val {
    uint8_t type;
    uint8_t flags; /* VAL_F_* */
    uint16_t reserved;
    uint32_t len;
    union {
        bool b;
        int64_t i;
        double f;
        const char *s;
        const struct val *items;
    } u;
};

/* VAL_F_DURATION: an INT/FLOAT that came from a duration literal (seconds). */
#define VAL_F_DURATION 0x01
/* VAL_F_PLAIN: a STR of printable ASCII without '"' or '\\', so that its JSON
 * form is itself in quotes (the JSON decoder's unescaped strings). */
#define VAL_F_PLAIN 0x02

static inline struct val val_null(void)
{
    struct val v = {.type = VAL_NULL};
    return v;
}
static inline struct val val_bool(bool b)
{
    struct val v = {.type = VAL_BOOL};
    v.u.b = b;
    return v;
}
static inline struct val val_int(int64_t i)
{
    struct val v = {.type = VAL_INT};
    v.u.i = i;
    return v;
}
static inline struct val val_float(double f)
{
    struct val v = {.type = VAL_FLOAT};
    v.u.f = f;
    return v;
}
static inline struct val val_str(const char *s, size_t len)
{
    struct val v = {.type = VAL_STR, .len = (uint32_t)len};
    v.u.s = s;
    return v;
}
static inline bool val_is_num(const struct val *v)
{
    return v->type == VAL_INT || v->type == VAL_FLOAT;
}
/* The value as a double (INT or FLOAT); 0 for other types. */
static inline double val_num(const struct val *v)
{
    return v->type == VAL_INT ? (double)v->u.i : v->type == VAL_FLOAT ? v->u.f : 0.0;
}

const char *val_type_name(enum val_type t);

/* Equality as the rule language defines ==: numbers compare by value across
 * int/float, strings bytewise, raw arrays/objects bytewise, null == null. */
bool val_equal(const struct val *a, const struct val *b);

/* Three-way compare for <, <=, ...: numbers with numbers, strings with
 * strings (bytewise).  Returns false in *ok for any other pair. */
int val_compare(const struct val *a, const struct val *b, bool *ok);

/* Append the value as JSON (strings escaped, raw JSON as is) to sb. */
struct sbuf;
void val_to_json(const struct val *v, struct sbuf *sb);
/* Append the value as text for a message template (strings unquoted). */
void val_to_text(const struct val *v, struct sbuf *sb);

#endif
