/* SPDX-License-Identifier: Apache-2.0
 * Unit tests for the JSON scanner (src/util/json.c) and the JSON line
 * decoder (src/io/sources/dec_json.c): value types, paths, escapes, UTF-8,
 * malformed lines with their reasons and offsets, raw slices, helpers. */
#include "cepd/cep_common.h"
#include "cepd/dec.h"
#include "cepd/evt.h"
#include "cepd/json.h"
#include "cepd/val.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A schema with the paths most tests read, and an event to decode into. */
struct jctx {
    struct evt_schema *schema;
    struct evt *ev;
    struct dec_err err;
};

static void jctx_init(struct jctx *c)
{
    static const char *const paths[] = {
        "a", "b", "o", "o.x", "o.y.z", "arr", "q\"q", "k\xc3\xa9", "",
    };
    c->schema = evt_schema_new();
    for (size_t i = 0; i < CEP_ARRAY_LEN(paths); i++)
        evt_schema_slot_dotted(c->schema, paths[i]);
    c->ev = evt_new();
    c->err.reason = NULL;
    c->err.offset = 0;
}

static void jctx_free(struct jctx *c)
{
    evt_unref(c->ev);
    evt_schema_free(c->schema);
}

static int jctx_decode_n(struct jctx *c, const char *line, size_t len)
{
    evt_reset(c->ev, line, len, c->schema->n_slots);
    return dec_json_line(c->schema, c->ev, &c->err);
}

static int jctx_decode(struct jctx *c, const char *line)
{
    return jctx_decode_n(c, line, strlen(line));
}

/* The value at a dotted path (which must be in the schema). */
static const struct val *jctx_get(struct jctx *c, const char *path)
{
    int slot = evt_schema_slot_dotted(c->schema, path);
    ck_assert_int_lt(slot, (int)c->ev->n_slots);
    return &c->ev->slots[slot];
}

static void assert_str(const struct val *v, const char *want, size_t want_len)
{
    ck_assert_int_eq(v->type, VAL_STR);
    ck_assert_uint_eq(v->len, want_len);
    ck_assert(memcmp(v->u.s, want, want_len) == 0);
}

/* ---- scalar types ---- */

struct scalar_case {
    const char *line;
    enum val_type type;
    int64_t i;
    double f;
    const char *s;
};

static const struct scalar_case scalar_cases[] = {
    {"{\"a\":null}", VAL_NULL, 0, 0, NULL},
    {"{\"a\":true}", VAL_BOOL, 1, 0, NULL},
    {"{\"a\":false}", VAL_BOOL, 0, 0, NULL},
    {"{\"a\":0}", VAL_INT, 0, 0, NULL},
    {"{\"a\":-0}", VAL_INT, 0, 0, NULL},
    {"{\"a\":42}", VAL_INT, 42, 0, NULL},
    {"{\"a\":-17}", VAL_INT, -17, 0, NULL},
    {"{\"a\":1732300000123}", VAL_INT, INT64_C(1732300000123), 0, NULL},
    {"{\"a\":12345678}", VAL_INT, 12345678, 0, NULL}, /* one full eight-digit step */
    {"{\"a\":123456789}", VAL_INT, 123456789, 0, NULL},
    {"{\"a\":1234567812345678}", VAL_INT, INT64_C(1234567812345678), 0, NULL},
    {"{\"a\":1234567890123456789}", VAL_INT, INT64_C(1234567890123456789), 0, NULL},
    {"{\"a\":-1234567890123456789}", VAL_INT, -INT64_C(1234567890123456789), 0, NULL},
    {"{\"a\":9223372036854775807}", VAL_INT, INT64_MAX, 0, NULL},
    {"{\"a\":-9223372036854775808}", VAL_INT, INT64_MIN, 0, NULL},
    {"{\"a\":9223372036854775808}", VAL_FLOAT, 0, 9223372036854775808.0, NULL},
    {"{\"a\":-9223372036854775809}", VAL_FLOAT, 0, -9223372036854775809.0, NULL},
    {"{\"a\":123456789012345678901234567890}", VAL_FLOAT, 0, 123456789012345678901234567890.0,
     NULL},
    {"{\"a\":9999999999999999999}", VAL_FLOAT, 0, 9999999999999999999.0, NULL},
    {"{\"a\":12345678901234567890}", VAL_FLOAT, 0, 12345678901234567890.0, NULL},
    {"{\"a\":18446744073709551616}", VAL_FLOAT, 0, 18446744073709551616.0, NULL}, /* 2^64 */
    {"{\"a\":-18446744073709551617}", VAL_FLOAT, 0, -18446744073709551617.0, NULL},
    {"{\"a\":10e2}", VAL_FLOAT, 0, 1000.0, NULL},
    {"{\"a\":0e0}", VAL_FLOAT, 0, 0.0, NULL},
    {"{\"a\":-0e0}", VAL_FLOAT, 0, -0.0, NULL},
    {"{\"a\":12345678.5}", VAL_FLOAT, 0, 12345678.5, NULL},
    {"{\"a\":12345678E-1}", VAL_FLOAT, 0, 1234567.8, NULL},
    {"{\"a\":0.1}", VAL_FLOAT, 0, 0.1, NULL},
    {"{\"a\":-2.5}", VAL_FLOAT, 0, -2.5, NULL},
    {"{\"a\":-0.0}", VAL_FLOAT, 0, -0.0, NULL},
    {"{\"a\":1e3}", VAL_FLOAT, 0, 1000.0, NULL},
    {"{\"a\":1E+3}", VAL_FLOAT, 0, 1000.0, NULL},
    {"{\"a\":25e-1}", VAL_FLOAT, 0, 2.5, NULL},
    {"{\"a\":1732300000.5}", VAL_FLOAT, 0, 1732300000.5, NULL},
    {"{\"a\":3.141592653589793}", VAL_FLOAT, 0, 3.141592653589793, NULL},
    {"{\"a\":0.30000000000000004}", VAL_FLOAT, 0, 0.30000000000000004, NULL},
    {"{\"a\":1.7976931348623157e308}", VAL_FLOAT, 0, 1.7976931348623157e308, NULL},
    {"{\"a\":5e-324}", VAL_FLOAT, 0, 5e-324, NULL},
    {"{\"a\":2.2250738585072011e-308}", VAL_FLOAT, 0, 2.2250738585072011e-308, NULL},
    {"{\"a\":0.000000000000000000000000000001}", VAL_FLOAT, 0, 1e-30, NULL},
    {"{\"a\":1e400}", VAL_FLOAT, 0, HUGE_VAL, NULL},
    {"{\"a\":\"\"}", VAL_STR, 0, 0, ""},
    {"{\"a\":\"root\"}", VAL_STR, 0, 0, "root"},
    {"{\"a\":\"a longer string that crosses several eight-byte blocks\"}", VAL_STR, 0, 0,
     "a longer string that crosses several eight-byte blocks"},
    {"{\"a\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}", VAL_STR, 0, 0,
     "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
    {"{\"a\":\"tab\\there\\n\"}", VAL_STR, 0, 0, "tab\there\n"},
    {"{\"a\":\"\\\"\\\\\\/\\b\\f\\r\"}", VAL_STR, 0, 0, "\"\\/\b\f\r"},
    {"{\"a\":\"\\u0041\\u00e9\\u20AC\"}", VAL_STR, 0, 0, "A\xc3\xa9\xe2\x82\xac"},
    {"{\"a\":\"\\ud83d\\ude00!\"}", VAL_STR, 0, 0, "\xf0\x9f\x98\x80!"},
    {"{\"a\":\"\\uDBFF\\uDFFF\"}", VAL_STR, 0, 0, "\xf4\x8f\xbf\xbf"},
    {"{\"a\":\"x\\u0000y\"}", VAL_STR, 0, 0, NULL}, /* checked by length below */
    {"{\"b\":1}", VAL_NULL, 0, 0, NULL},            /* missing is null */
};

START_TEST(test_scalar_types)
{
    const struct scalar_case *tc = &scalar_cases[_i];
    struct jctx c;
    jctx_init(&c);
    ck_assert_msg(jctx_decode(&c, tc->line) == CEP_OK, "%s: %s at %zu", tc->line,
                  c.err.reason, c.err.offset);
    const struct val *v = jctx_get(&c, "a");
    ck_assert_int_eq(v->type, tc->type);
    switch (tc->type) {
        case VAL_BOOL:
            ck_assert_int_eq(v->u.b, tc->i != 0);
            break;
        case VAL_INT:
            ck_assert_int_eq(v->u.i, tc->i);
            break;
        case VAL_FLOAT:
            ck_assert_msg(v->u.f == tc->f, "%s: got %.17g", tc->line, v->u.f);
            ck_assert_int_eq(signbit(v->u.f) != 0, signbit(tc->f) != 0);
            break;
        case VAL_STR:
            if (tc->s)
                assert_str(v, tc->s, strlen(tc->s));
            else
                assert_str(v, "x\0y", 3);
            break;
        default:
            break;
    }
    jctx_free(&c);
}
END_TEST

START_TEST(test_string_storage)
{
    struct jctx c;
    jctx_init(&c);
    /* No escapes: the value points into the raw line and scratch is unused. */
    ck_assert_int_eq(jctx_decode(&c, "{\"a\":\"plain\",\"b\":\"e\\u0073c\"}"), CEP_OK);
    const struct val *a = jctx_get(&c, "a"), *b = jctx_get(&c, "b");
    ck_assert_ptr_eq(a->u.s, c.ev->raw + 6);
    ck_assert(b->u.s >= c.ev->scratch && b->u.s < c.ev->scratch + c.ev->scratch_cap);
    assert_str(b, "esc", 3);
    ck_assert_uint_eq(c.ev->scratch_len, 3);
    /* Only the string without escapes is marked as its own JSON. */
    ck_assert_uint_eq(a->flags, VAL_F_PLAIN);
    ck_assert_uint_eq(b->flags, 0);
    ck_assert_int_eq(jctx_decode(&c, "{\"a\":\"caf\xc3\xa9\"}"), CEP_OK);
    ck_assert_uint_eq(jctx_get(&c, "a")->flags, 0); /* not ASCII */
    /* An escaped key that is not wanted does not claim scratch. */
    ck_assert_int_eq(jctx_decode(&c, "{\"\\u0061\":\"x\\ty\",\"z\\n\":1}"), CEP_OK);
    assert_str(jctx_get(&c, "a"), "x\ty", 3);
    ck_assert_uint_eq(c.ev->scratch_len, 3);
    jctx_free(&c);
}
END_TEST

/* ---- paths ---- */

START_TEST(test_nested_paths)
{
    struct jctx c;
    jctx_init(&c);
    const char *line = "{\"o\":{\"w\":[1,{\"x\":9}],\"x\":\"hi\",\"y\":{\"z\":true,\"q\":{}}},"
                       "\"a\":{\"x\":1}}";
    ck_assert_int_eq(jctx_decode(&c, line), CEP_OK);
    assert_str(jctx_get(&c, "o.x"), "hi", 2);
    ck_assert_int_eq(jctx_get(&c, "o.y.z")->type, VAL_BOOL);
    ck_assert(jctx_get(&c, "o.y.z")->u.b);
    /* "o" is both a value and a prefix: its slot holds the raw object. */
    const struct val *o = jctx_get(&c, "o");
    ck_assert_int_eq(o->type, VAL_OBJ);
    ck_assert_ptr_eq(o->u.s, strchr(c.ev->raw, ':') + 1);
    const char *want = "{\"w\":[1,{\"x\":9}],\"x\":\"hi\",\"y\":{\"z\":true,\"q\":{}}}";
    ck_assert_uint_eq(o->len, strlen(want));
    ck_assert(memcmp(o->u.s, want, o->len) == 0);
    ck_assert_int_eq(jctx_get(&c, "a")->type, VAL_OBJ);
    ck_assert_uint_eq(jctx_get(&c, "a")->len, 7);
    /* A prefix holding a scalar: the deeper path is missing. */
    ck_assert_int_eq(jctx_decode(&c, "{\"o\":5}"), CEP_OK);
    ck_assert_int_eq(jctx_get(&c, "o")->type, VAL_INT);
    ck_assert_int_eq(jctx_get(&c, "o.x")->type, VAL_NULL);
    /* Empty objects, nested and wanted. */
    ck_assert_int_eq(jctx_decode(&c, "{\"o\":{},\"a\":{ }}"), CEP_OK);
    ck_assert_int_eq(jctx_get(&c, "o")->type, VAL_OBJ);
    ck_assert_uint_eq(jctx_get(&c, "o")->len, 2);
    ck_assert_int_eq(jctx_get(&c, "o.x")->type, VAL_NULL);
    ck_assert_uint_eq(jctx_get(&c, "a")->len, 3);
    jctx_free(&c);
}
END_TEST

START_TEST(test_escaped_keys)
{
    struct jctx c;
    jctx_init(&c);
    ck_assert_int_eq(jctx_decode(&c, "{\"q\\\"q\":1,\"k\\u00e9\":2,\"\\u006f\":{\"\\u0078\":3}}"),
                     CEP_OK);
    ck_assert_int_eq(jctx_get(&c, "q\"q")->u.i, 1);
    ck_assert_int_eq(jctx_get(&c, "k\xc3\xa9")->u.i, 2);
    ck_assert_int_eq(jctx_get(&c, "o.x")->u.i, 3);
    /* The empty key is a key like any other. */
    ck_assert_int_eq(jctx_decode(&c, "{\"\":\"e\"}"), CEP_OK);
    assert_str(jctx_get(&c, ""), "e", 1);
    jctx_free(&c);
}
END_TEST

START_TEST(test_duplicate_keys)
{
    struct jctx c;
    jctx_init(&c);
    ck_assert_int_eq(jctx_decode(&c, "{\"a\":1,\"b\":2,\"a\":\"two\"}"), CEP_OK);
    assert_str(jctx_get(&c, "a"), "two", 3);
    ck_assert_int_eq(jctx_get(&c, "b")->u.i, 2);
    /* The last "o" replaces the whole earlier object. */
    ck_assert_int_eq(jctx_decode(&c, "{\"o\":{\"x\":1,\"y\":{\"z\":2}},\"o\":{\"x\":3}}"), CEP_OK);
    ck_assert_int_eq(jctx_get(&c, "o.x")->u.i, 3);
    ck_assert_int_eq(jctx_get(&c, "o.y.z")->type, VAL_NULL);
    ck_assert_uint_eq(jctx_get(&c, "o")->len, 7);
    ck_assert_int_eq(jctx_decode(&c, "{\"o\":{\"x\":1},\"o\":null}"), CEP_OK);
    ck_assert_int_eq(jctx_get(&c, "o")->type, VAL_NULL);
    ck_assert_int_eq(jctx_get(&c, "o.x")->type, VAL_NULL);
    /* Duplicates inside a nested object. */
    ck_assert_int_eq(jctx_decode(&c, "{\"o\":{\"y\":{\"z\":1},\"y\":[],\"x\":0}}"), CEP_OK);
    ck_assert_int_eq(jctx_get(&c, "o.y.z")->type, VAL_NULL);
    ck_assert_int_eq(jctx_get(&c, "o.x")->u.i, 0);
    jctx_free(&c);
}
END_TEST

START_TEST(test_raw_slices)
{
    struct jctx c;
    jctx_init(&c);
    const char *line = "{\"arr\": [1, \"]\", [2,[3]], {\"k\":\"}\"}] , \"b\":{\"x\":[]}}";
    ck_assert_int_eq(jctx_decode(&c, line), CEP_OK);
    const struct val *arr = jctx_get(&c, "arr");
    ck_assert_int_eq(arr->type, VAL_ARR);
    const char *want = "[1, \"]\", [2,[3]], {\"k\":\"}\"}]";
    ck_assert_uint_eq(arr->len, strlen(want));
    ck_assert(memcmp(arr->u.s, want, arr->len) == 0);
    ck_assert_uint_eq(json_array_count(arr->u.s, arr->len), 4);
    const struct val *b = jctx_get(&c, "b");
    ck_assert_int_eq(b->type, VAL_OBJ);
    ck_assert(memcmp(b->u.s, "{\"x\":[]}", b->len) == 0);
    jctx_free(&c);
}
END_TEST

START_TEST(test_whitespace)
{
    static const char *const lines[] = {
        "{\"a\":1,\"b\":2}",
        " \t{ \"a\" : 1 , \"b\" :2 } \r\n",
        "{\n\"a\"\n:\n1\n,\r\n\"b\"\t:\t2\t}",
        "\r\n\t {\"a\":1,     \"b\":    2}         ",
    };
    struct jctx c;
    jctx_init(&c);
    for (size_t i = 0; i < CEP_ARRAY_LEN(lines); i++) {
        ck_assert_msg(jctx_decode(&c, lines[i]) == CEP_OK, "%zu: %s", i, c.err.reason);
        ck_assert_int_eq(jctx_get(&c, "a")->u.i, 1);
        ck_assert_int_eq(jctx_get(&c, "b")->u.i, 2);
    }
    ck_assert_int_eq(jctx_decode(&c, "{}"), CEP_OK);
    ck_assert_int_eq(jctx_get(&c, "a")->type, VAL_NULL);
    ck_assert_int_eq(jctx_decode(&c, "  {  }  "), CEP_OK);
    jctx_free(&c);
}
END_TEST

/* ---- errors ---- */

struct bad_case {
    const char *line;
    size_t len; /* 0: strlen */
    const char *reason;
    size_t offset;
};

static const struct bad_case bad_cases[] = {
    {"", 0, "unexpected end of input", 0},
    {"   ", 0, "unexpected end of input", 3},
    {"[1,2]", 0, "top level is not an object", 0},
    {" \"a\"", 0, "top level is not an object", 1},
    {"42", 0, "top level is not an object", 0},
    {"{", 0, "unexpected end of input", 1},
    {"{\"a\"", 0, "unexpected end of input", 4},
    {"{\"a\" 1}", 0, "expected ':'", 5},
    {"{\"a\":}", 0, "expected value", 5},
    {"{\"a\":1", 0, "unexpected end of input", 6},
    {"{\"a\":1 \"b\":2}", 0, "expected ',' or '}'", 7},
    {"{\"a\":1,}", 0, "expected string key", 7},
    {"{,}", 0, "expected string key", 1},
    {"{a:1}", 0, "expected string key", 1},
    {"{'a':1}", 0, "expected string key", 1},
    {"{\"a\":1}}", 0, "trailing characters", 7},
    {"{\"a\":1} {}", 0, "trailing characters", 8},
    {"{\"a\":1}x", 0, "trailing characters", 7},
    {"{\"a\":\"abc}", 0, "unterminated string", 5},
    {"{\"abc", 0, "unterminated string", 1},
    {"{\"a\":\"a\\", 0, "unterminated string", 5},
    {"{\"a\":\"a\tb\"}", 0, "control character in string", 7},
    {"{\"a\":\"\x1f\"}", 0, "control character in string", 6},
    {"{\"a\":\"x\0\"}", 10, "control character in string", 7},
    {"{\"a\":\"\\x\"}", 0, "invalid escape", 6},
    {"{\"a\":\"\\'\"}", 0, "invalid escape", 6},
    {"{\"a\":\"\\u12\"}", 0, "invalid \\u escape", 6},
    {"{\"a\":\"\\u12G4\"}", 0, "invalid \\u escape", 6},
    {"{\"a\":\"\\ud800\"}", 0, "invalid surrogate", 6},
    {"{\"a\":\"\\ud800x\"}", 0, "invalid surrogate", 6},
    {"{\"a\":\"\\ud800\\u0041\"}", 0, "invalid surrogate", 6},
    {"{\"a\":\"\\udc00\\ud800\"}", 0, "invalid surrogate", 6},
    {"{\"x\":1,\"a\":\"\\uDFFF\"}", 0, "invalid surrogate", 12},
    {"{\"a\":tru}", 0, "invalid literal", 5},
    {"{\"a\":nul", 0, "invalid literal", 5},
    {"{\"a\":True}", 0, "expected value", 5},
    {"{\"a\":01}", 0, "invalid number", 6},
    {"{\"a\":00}", 0, "invalid number", 6},
    {"{\"a\":-00}", 0, "invalid number", 7},
    {"{\"a\":0123456789}", 0, "invalid number", 6},
    {"{\"a\":12345678901", 0, "unexpected end of input", 16},
    {"{\"a\":123456789012345678901", 0, "unexpected end of input", 26},
    {"{\"a\":-", 0, "unexpected end of input", 6},
    {"{\"a\":1234567812345678x}", 0, "expected ',' or '}'", 21},
    {"{\"a\":1\x01}", 0, "expected ',' or '}'", 6},
    {"{\"a\":\x01}", 0, "expected value", 5},
    {"{\"a\":\x0b1}", 0, "expected value", 5},
    {"{\"a\"\x0b:1}", 0, "expected ':'", 4},
    {"{\"a\":", 0, "unexpected end of input", 5},
    {"{\"a\": ", 0, "unexpected end of input", 6},
    {"{\"a\":1,", 0, "unexpected end of input", 7},
    {"{\"a\":1,\"", 0, "unterminated string", 7},
    {"{\"a\":1,\x01\"b\":2}", 0, "expected string key", 7},
    {"{\"a\":1,\"b\":2,\"c\"}", 0, "expected ':'", 16},
    {"{\"a\":-}", 0, "invalid number", 6},
    {"{\"a\":-a}", 0, "invalid number", 6},
    {"{\"a\":1.}", 0, "invalid number", 7},
    {"{\"a\":.5}", 0, "expected value", 5},
    {"{\"a\":1e}", 0, "invalid number", 7},
    {"{\"a\":1e+}", 0, "invalid number", 8},
    {"{\"a\":+1}", 0, "expected value", 5},
    {"{\"a\":0x10}", 0, "expected ',' or '}'", 6},
    {"{\"a\":1.5.2}", 0, "expected ',' or '}'", 8},
    {"{\"a\":NaN}", 0, "expected value", 5},
    {"{\"z\":[1,2}", 0, "expected ',' or ']'", 9},
    {"{\"z\":{\"k\":1]}", 0, "expected ',' or '}'", 11},
    {"{\"z\":[1,]}", 0, "expected value", 8},
    {"{\"z\":[1", 0, "unexpected end of input", 7},
    {"{\"o\":{\"x\":1", 0, "unexpected end of input", 11},
    {"{\"o\":{\"x\" 1}}", 0, "expected ':'", 10},
    {"{\"o\":{\"x\":1,}}", 0, "expected string key", 12},
    {"{\"a\":1}\xff", 0, "trailing characters", 7},
    {"\xef\xbb\xbf{}", 0, "top level is not an object", 0},
};

START_TEST(test_malformed)
{
    const struct bad_case *tc = &bad_cases[_i];
    size_t len = tc->len ? tc->len : strlen(tc->line);
    struct jctx c;
    jctx_init(&c);
    ck_assert_int_eq(jctx_decode_n(&c, tc->line, len), CEP_ERR);
    ck_assert_msg(strcmp(c.err.reason, tc->reason) == 0, "case %d: got '%s', want '%s'", _i,
                  c.err.reason, tc->reason);
    ck_assert_msg(c.err.offset == tc->offset, "case %d (%s): offset %zu, want %zu", _i,
                  tc->reason, c.err.offset, tc->offset);
    for (uint32_t i = 0; i < c.ev->n_slots; i++)
        ck_assert_int_eq(c.ev->slots[i].type, VAL_NULL);
    jctx_free(&c);
}
END_TEST

START_TEST(test_error_after_wanted_value)
{
    struct jctx c;
    jctx_init(&c);
    /* The wanted value comes first; the error later still rejects the line
     * and leaves every slot null. */
    ck_assert_int_eq(jctx_decode(&c, "{\"a\":1,\"zz\":[{\"k\":[1,2,{]}]}"), CEP_ERR);
    ck_assert_str_eq(c.err.reason, "expected string key");
    ck_assert_uint_eq(c.err.offset, 24);
    ck_assert_int_eq(jctx_get(&c, "a")->type, VAL_NULL);
    jctx_free(&c);
}
END_TEST

struct utf8_case {
    const char *s;
    bool valid;
};

static const struct utf8_case utf8_cases[] = {
    {"plain ascii", true},
    {"\xc2\x80", true},                 /* U+0080 */
    {"\xdf\xbf", true},                 /* U+07FF */
    {"\xe0\xa0\x80", true},             /* U+0800 */
    {"\xed\x9f\xbf", true},             /* U+D7FF */
    {"\xee\x80\x80", true},             /* U+E000 */
    {"\xef\xbf\xbf", true},             /* U+FFFF */
    {"\xf0\x90\x80\x80", true},         /* U+10000 */
    {"\xf4\x8f\xbf\xbf", true},         /* U+10FFFF */
    {"\x80", false},                    /* lone continuation */
    {"\xbf", false},
    {"\xc0\xaf", false},                /* overlong '/' */
    {"\xc1\xbf", false},                /* overlong */
    {"\xe0\x80\xaf", false},            /* overlong 3-byte */
    {"\xe0\x9f\xbf", false},            /* overlong 3-byte */
    {"\xf0\x80\x80\xaf", false},        /* overlong 4-byte */
    {"\xf0\x8f\xbf\xbf", false},        /* overlong 4-byte */
    {"\xed\xa0\x80", false},            /* U+D800 encoded */
    {"\xed\xbf\xbf", false},            /* U+DFFF encoded */
    {"\xf4\x90\x80\x80", false},        /* U+110000 */
    {"\xf5\x80\x80\x80", false},
    {"\xfe", false},
    {"\xff", false},
    {"\xc3", false},                    /* truncated */
    {"\xe2\x82", false},                /* truncated */
    {"\xf0\x9f\x98", false},            /* truncated */
    {"\xc3\x28", false},                /* bad continuation */
    {"\xe2\x28\xa1", false},
    {"\xe2\x82\x28", false},
    {"\xf0\x9f\x28\x80", false},
    {"01234567\xc3", false},            /* after a full 8-byte block */
    {"0123456789abcdef\xe2\x82\xac", true},
};

START_TEST(test_utf8)
{
    const struct utf8_case *tc = &utf8_cases[_i];
    size_t n = strlen(tc->s);
    ck_assert_int_eq(json_utf8_valid(tc->s, n), tc->valid);
    /* The same bytes inside a string value, and inside a key. */
    char line[64];
    int len = snprintf(line, sizeof(line), "{\"a\":\"%s\"}", tc->s);
    struct jctx c;
    jctx_init(&c);
    int rc = jctx_decode_n(&c, line, (size_t)len);
    if (tc->valid) {
        ck_assert_int_eq(rc, CEP_OK);
        assert_str(jctx_get(&c, "a"), tc->s, n);
    } else {
        ck_assert_int_eq(rc, CEP_ERR);
        ck_assert_str_eq(c.err.reason, "invalid UTF-8");
        ck_assert_uint_ge(c.err.offset, 6);
        ck_assert_uint_lt(c.err.offset, 6 + n);
    }
    len = snprintf(line, sizeof(line), "{\"%s\":1}", tc->s);
    rc = jctx_decode_n(&c, line, (size_t)len);
    ck_assert_int_eq(rc, tc->valid ? CEP_OK : CEP_ERR);
    jctx_free(&c);
}
END_TEST

START_TEST(test_utf8_first_bad_byte)
{
    struct jctx c;
    jctx_init(&c);
    ck_assert_int_eq(jctx_decode(&c, "{\"a\":\"okay okay \xe2\x82\xac \xed\xa0\x80\"}"),
                     CEP_ERR);
    ck_assert_str_eq(c.err.reason, "invalid UTF-8");
    ck_assert_uint_eq(c.err.offset, 20);
    ck_assert(!json_utf8_valid("\xc3\xa9\0\xff", 4));
    ck_assert(json_utf8_valid("\xc3\xa9\0", 3));
    ck_assert(json_utf8_valid("", 0));
    jctx_free(&c);
}
END_TEST

/* ---- nesting ---- */

static char *nested_line(unsigned depth, char open, char close, size_t *len)
{
    /* {"z": + depth-1 containers + 1 + closers + } */
    size_t n = 6 + 2 * depth + 8;
    char *s = cep_malloc(n);
    size_t k = 0;
    memcpy(s, "{\"z\":", 5);
    k = 5;
    for (unsigned i = 1; i < depth; i++)
        s[k++] = open;
    s[k++] = '1';
    for (unsigned i = 1; i < depth; i++)
        s[k++] = close;
    s[k++] = '}';
    *len = k;
    return s;
}

START_TEST(test_deep_nesting)
{
    struct jctx c;
    jctx_init(&c);
    size_t len;
    /* Depth counts the top-level object: 512 levels pass, 513 fail. */
    char *ok = nested_line(JSON_MAX_DEPTH, '[', ']', &len);
    ck_assert_int_eq(jctx_decode_n(&c, ok, len), CEP_OK);
    cep_free(ok);
    char *deep = nested_line(JSON_MAX_DEPTH + 1, '[', ']', &len);
    ck_assert_int_eq(jctx_decode_n(&c, deep, len), CEP_ERR);
    ck_assert_str_eq(c.err.reason, "nesting too deep");
    ck_assert_uint_eq(c.err.offset, 5 + JSON_MAX_DEPTH - 1);
    cep_free(deep);
    /* Very deep input fails fast without recursion. */
    deep = nested_line(100000, '[', ']', &len);
    ck_assert_int_eq(jctx_decode_n(&c, deep, len), CEP_ERR);
    ck_assert_str_eq(c.err.reason, "nesting too deep");
    cep_free(deep);
    /* Deep objects along a schema path. */
    struct evt_schema *s = evt_schema_new();
    size_t k;
    struct evt_path_seg segs[600];
    for (int i = 0; i < 600; i++) {
        segs[i].s = "o";
        segs[i].len = 1;
    }
    int slot = evt_schema_slot(s, segs, 600);
    size_t cap = 600 * 6 + 16;
    char *line = cep_malloc(cap);
    for (unsigned depth = JSON_MAX_DEPTH; depth <= JSON_MAX_DEPTH + 1; depth++) {
        k = 0;
        for (unsigned i = 0; i < depth; i++) {
            memcpy(line + k, i ? "\"o\":{" : "{", i ? 5 : 1);
            k += i ? 5 : 1;
        }
        for (unsigned i = 0; i < depth; i++)
            line[k++] = '}';
        evt_reset(c.ev, line, k, s->n_slots);
        int rc = dec_json_line(s, c.ev, &c.err);
        ck_assert_int_eq(rc, depth <= JSON_MAX_DEPTH ? CEP_OK : CEP_ERR);
        if (rc == CEP_ERR)
            ck_assert_str_eq(c.err.reason, "nesting too deep");
        ck_assert_int_eq(c.ev->slots[slot].type, VAL_NULL);
    }
    cep_free(line);
    evt_schema_free(s);
    jctx_free(&c);
}
END_TEST

/* ---- helpers ---- */

struct count_case {
    const char *raw;
    size_t want;
};

static const struct count_case count_cases[] = {
    {"[]", 0},
    {"[ ]", 0},
    {"[1]", 1},
    {"[1,2,3]", 3},
    {"[ \"a,b\" , \"c\\\",d\" ]", 2},
    {"[[1,2],{\"a\":1,\"b\":[3,4]},\"]\"]", 3},
    {"[\"\\\\\",1]", 2},
    {"{\"a\":1}", 0},
    {"", 0},
    {"1", 0},
};

START_TEST(test_array_count)
{
    const struct count_case *tc = &count_cases[_i];
    ck_assert_uint_eq(json_array_count(tc->raw, strlen(tc->raw)), tc->want);
}
END_TEST

START_TEST(test_object_get)
{
    const char *obj = "{\"user\":\"root\",\"n\":{\"x\":[1]},\"k\\u00e9\":\"v\\n\",\"user\":7}";
    char scratch[128];
    struct val v;
    struct json_err err;
    ck_assert_int_eq(json_member_get(obj, strlen(obj), "user", 4, &v, scratch, &err), CEP_OK);
    ck_assert_int_eq(v.type, VAL_INT); /* last wins */
    ck_assert_int_eq(v.u.i, 7);
    ck_assert_int_eq(json_member_get(obj, strlen(obj), "n", 1, &v, scratch, &err), CEP_OK);
    ck_assert_int_eq(v.type, VAL_OBJ);
    ck_assert(memcmp(v.u.s, "{\"x\":[1]}", v.len) == 0);
    ck_assert_int_eq(json_member_get(obj, strlen(obj), "k\xc3\xa9", 3, &v, scratch, &err),
                     CEP_OK);
    assert_str(&v, "v\n", 2);
    ck_assert_int_eq(json_member_get(obj, strlen(obj), "x", 1, &v, scratch, &err), CEP_OK);
    ck_assert_int_eq(v.type, VAL_NULL);
    ck_assert_int_eq(json_member_get("{}", 2, "x", 1, &v, scratch, NULL), CEP_OK);
    ck_assert_int_eq(json_member_get("[1]", 3, "x", 1, &v, scratch, &err), CEP_ERR);
    ck_assert_str_eq(err.reason, "top level is not an object");
    ck_assert_int_eq(json_member_get("{\"x\":1,\"y\":tru}", 15, "x", 1, &v, scratch, &err),
                     CEP_ERR);
    ck_assert_str_eq(err.reason, "invalid literal");
    ck_assert_uint_eq(err.offset, 11);
    ck_assert_int_eq(v.type, VAL_NULL);
    ck_assert_int_eq(json_member_get("{\"x\":1} 2", 9, "x", 1, &v, scratch, NULL), CEP_ERR);
}
END_TEST

START_TEST(test_typical_line)
{
    struct evt_schema *s = evt_schema_new();
    int event = evt_schema_slot_dotted(s, "event");
    int user = evt_schema_slot_dotted(s, "user");
    int ip = evt_schema_slot_dotted(s, "src_ip");
    int port = evt_schema_slot_dotted(s, "port");
    int ts = evt_schema_slot_dotted(s, "ts");
    struct evt *ev = evt_new();
    struct dec_err err;
    const char *line = "{\"ts\":1732300000123,\"event\":\"ssh_login\",\"outcome\":\"failure\","
                       "\"user\":\"root\",\"src_ip\":\"10.1.2.3\",\"port\":22,"
                       "\"host\":\"web-01\",\"pid\":4242}";
    evt_reset(ev, line, strlen(line), s->n_slots);
    ck_assert_int_eq(dec_json_line(s, ev, &err), CEP_OK);
    assert_str(&ev->slots[event], "ssh_login", 9);
    assert_str(&ev->slots[user], "root", 4);
    assert_str(&ev->slots[ip], "10.1.2.3", 8);
    ck_assert_int_eq(ev->slots[port].u.i, 22);
    ck_assert_int_eq(ev->slots[ts].u.i, INT64_C(1732300000123));
    evt_unref(ev);
    evt_schema_free(s);
}
END_TEST

static Suite *json_suite(void)
{
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("scalars");
    tcase_add_loop_test(tc, test_scalar_types, 0, (int)CEP_ARRAY_LEN(scalar_cases));
    tcase_add_test(tc, test_string_storage);
    tcase_add_test(tc, test_typical_line);
    suite_add_tcase(s, tc);
    tc = tcase_create("paths");
    tcase_add_test(tc, test_nested_paths);
    tcase_add_test(tc, test_escaped_keys);
    tcase_add_test(tc, test_duplicate_keys);
    tcase_add_test(tc, test_raw_slices);
    tcase_add_test(tc, test_whitespace);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_loop_test(tc, test_malformed, 0, (int)CEP_ARRAY_LEN(bad_cases));
    tcase_add_test(tc, test_error_after_wanted_value);
    suite_add_tcase(s, tc);
    tc = tcase_create("utf8");
    tcase_add_loop_test(tc, test_utf8, 0, (int)CEP_ARRAY_LEN(utf8_cases));
    tcase_add_test(tc, test_utf8_first_bad_byte);
    suite_add_tcase(s, tc);
    tc = tcase_create("nesting");
    tcase_add_test(tc, test_deep_nesting);
    suite_add_tcase(s, tc);
    tc = tcase_create("helpers");
    tcase_add_loop_test(tc, test_array_count, 0, (int)CEP_ARRAY_LEN(count_cases));
    tcase_add_test(tc, test_object_get);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(json_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
