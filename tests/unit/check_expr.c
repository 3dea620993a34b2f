/* SPDX-License-Identifier: Apache-2.0
 * Unit tests for src/expr: lexer, parser and precedence, every operator and
 * builtin with the null and type-mismatch rules, lists, regexes and their
 * limits, compile-time diagnostics with exact positions, macros, pattern
 * step references, templates, durations, and the golden disassemblies in
 * tests/golden/expr/ (set CEPD_GOLDEN_UPDATE=1 to rewrite them). */
#include "cepd/cep_common.h"
#include "cepd/diag.h"
#include "cepd/evt.h"
#include "cepd/expr.h"
#include "cepd/lookup.h"
#include "cepd/sbuf.h"
#include "cepd/val.h"
#include "../../src/expr/expr_int.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Fixture: an environment, a test event and a pattern context ---- */

#define N_STEPS  3
#define MAX_TAKE 4

struct tpat {
    struct evt *ev[N_STEPS][MAX_TAKE];
    uint32_t n[N_STEPS];
};

struct fx {
    struct evt_schema *schema;
    struct expr_env env;
    struct diag_list dl;
    struct evt *ev;
    struct expr_rt *rt;
    struct expr_counters cnt;
    struct expr_ctx ctx;
    struct tpat pat;
    struct val results[2];
    struct val admin_items[3];
    struct val admin_list;
    struct val port_items[2];
    struct val port_list;
};

static const struct {
    const char *name;
    const char *body;
} macro_table[] = {
    {"ssh_failure", "event == \"ssh_login\" and outcome == \"failure\""},
    {"is_admin", "user in admin_users"},
    {"ma", "mb and true"},
    {"mb", "port > 1 or ma"},
    {"bad_macro", "port =="},
    {"listy", "[\"root\", \"x\"]"},
};

static const char *const step_names[N_STEPS] = {"fail", "ok", "late"};

static const struct val *env_find_list(void *ud, const char *name, size_t len)
{
    struct fx *f = ud;
    if (len == 11 && memcmp(name, "admin_users", len) == 0)
        return &f->admin_list;
    if (len == 5 && memcmp(name, "ports", len) == 0)
        return &f->port_list;
    return NULL;
}

static void macro_locate(const void *map, size_t off, uint32_t *line, uint32_t *col)
{
    /* Macro bodies "live" in macros.yaml at line 7 + index, column 5. */
    *line = 7 + (uint32_t)(uintptr_t)map;
    *col = 5 + (uint32_t)off;
}

static bool env_find_macro(void *ud, const char *name, size_t len, struct expr_macro *out)
{
    for (size_t i = 0; i < CEP_ARRAY_LEN(macro_table); i++) {
        if (strlen(macro_table[i].name) == len && memcmp(macro_table[i].name, name, len) == 0) {
            memset(out, 0, sizeof(*out));
            out->src.text = macro_table[i].body;
            out->src.len = strlen(macro_table[i].body);
            out->src.file = "macros.yaml";
            out->src.locate = macro_locate;
            out->src.map = (const void *)(uintptr_t)i;
            return true;
        }
    }
    return false;
}

static int env_find_result(void *ud, const char *name, size_t len)
{
    if (len == 8 && memcmp(name, "failures", len) == 0)
        return 0;
    if (len == 5 && memcmp(name, "users", len) == 0)
        return 1;
    return -1;
}

static int env_find_step(void *ud, const char *name, size_t len)
{
    for (int i = 0; i < N_STEPS; i++) {
        if (strlen(step_names[i]) == len && memcmp(step_names[i], name, len) == 0)
            return i;
    }
    return -1;
}

static uint32_t pat_count(void *ud, int step)
{
    struct tpat *p = ud;
    return p->n[step];
}

static const struct evt *pat_event(void *ud, int step, int64_t i)
{
    struct tpat *p = ud;
    if (i < 0)
        i += p->n[step];
    if (i < 0 || i >= p->n[step])
        return NULL;
    return p->ev[step][i];
}

static const struct expr_pat_ops tpat_ops = {pat_count, pat_event};

static void fx_init(struct fx *f)
{
    memset(f, 0, sizeof(*f));
    f->schema = evt_schema_new();
    f->env.schema = f->schema;
    f->env.ud = f;
    f->env.find_list = env_find_list;
    f->env.find_macro = env_find_macro;
    f->env.find_result = env_find_result;
    f->env.find_step = env_find_step;
    f->env.current_step = -1;
    diag_list_init(&f->dl);
    f->ev = evt_new();
    f->rt = expr_rt_new();
    f->admin_items[0] = val_str("root", 4);
    f->admin_items[1] = val_str("admin", 5);
    f->admin_items[2] = val_str("administrator", 13);
    f->admin_list.type = VAL_LIST;
    f->admin_list.len = 3;
    f->admin_list.u.items = f->admin_items;
    f->port_items[0] = val_int(22);
    f->port_items[1] = val_int(80);
    f->port_list.type = VAL_LIST;
    f->port_list.len = 2;
    f->port_list.u.items = f->port_items;
    f->results[0] = val_int(6);
    f->results[1] = val_str("bob", 3);
    f->ctx.ev = f->ev;
    f->ctx.results = f->results;
    f->ctx.pat = &tpat_ops;
    f->ctx.pat_ud = &f->pat;
    f->ctx.counters = &f->cnt;
    f->ctx.rt = f->rt;
}

static void fx_free(struct fx *f)
{
    for (int s = 0; s < N_STEPS; s++) {
        for (uint32_t i = 0; i < f->pat.n[s]; i++)
            evt_unref(f->pat.ev[s][i]);
    }
    evt_unref(f->ev);
    expr_rt_free(f->rt);
    diag_list_free(&f->dl);
    evt_schema_free(f->schema);
}

static struct val raw_val(uint8_t type, const char *s)
{
    struct val v = val_str(s, strlen(s));
    v.type = type;
    return v;
}

static const char *const std_fields[] = {
    "event", "outcome", "user", "src_ip", "port", "bytes", "n", "name", "empty", "flag",
    "tags", "obj", "http.request.method", "odd-name", "s5", "big", "ip6", "zero", "fzero",
};

static struct val std_value(size_t i)
{
    switch (i) {
        case 0:
            return val_str("ssh_login", 9);
        case 1:
            return val_str("failure", 7);
        case 2:
            return val_str("root", 4);
        case 3:
            return val_str("10.1.2.3", 8);
        case 4:
            return val_int(22);
        case 5:
            return val_float(1.5);
        case 6:
            return val_int(-7);
        case 7:
            return val_str("\xc3\x9c" "n\xc3\xaf" "code", 9); /* Ünïcode: 7 code points */
        case 8:
            return val_str("", 0);
        case 9:
            return val_bool(true);
        case 10:
            return raw_val(VAL_ARR, "[\"a\", \"b,c\", [1, 2]]");
        case 11:
            return raw_val(VAL_OBJ, "{\"a\": 1, \"b\": [2, 3]}");
        case 12:
            return val_str("GET", 3);
        case 13:
            return val_str("odd", 3);
        case 14:
            return val_str("5", 1);
        case 15:
            return val_int(INT64_MAX);
        case 16:
            return val_str("fd00::1", 7);
        case 17:
            return val_int(0);
        default:
            return val_float(0.0);
    }
}

/* Fill the current event with the standard fields (after compiling, so
 * every slot the expression added exists in the event). */
static void fx_event(struct fx *f)
{
    int slots[CEP_ARRAY_LEN(std_fields)];
    for (size_t i = 0; i < CEP_ARRAY_LEN(std_fields); i++)
        slots[i] = evt_schema_slot_dotted(f->schema, std_fields[i]);
    evt_reset(f->ev, "{}", 2, f->schema->n_slots);
    for (size_t i = 0; i < CEP_ARRAY_LEN(std_fields); i++)
        f->ev->slots[slots[i]] = std_value(i);
}

/* A pattern-step event with fields user and bytes. */
static void fx_take(struct fx *f, int step, const char *user, struct val bytes)
{
    int su = evt_schema_slot_dotted(f->schema, "user");
    int sb = evt_schema_slot_dotted(f->schema, "bytes");
    struct evt *e = evt_new();
    evt_reset(e, "{}", 2, f->schema->n_slots);
    e->slots[su] = user ? val_str(user, strlen(user)) : val_null();
    e->slots[sb] = bytes;
    f->pat.ev[step][f->pat.n[step]++] = e;
}

static struct expr *fx_compile(struct fx *f, const char *text)
{
    struct expr_src src = {.text = text, .len = strlen(text), .file = "t.yaml", .base_line = 1,
                           .base_col = 1};
    return expr_compile(&src, &f->env, &f->dl);
}

static char *val_json(const struct val *v)
{
    struct sbuf sb;
    sbuf_init(&sb);
    val_to_json(v, &sb);
    return sbuf_steal(&sb);
}

/* The diagnostics as "FILE:LINE:COL: msg" lines. */
static char *diag_text(const struct diag_list *dl)
{
    struct sbuf sb;
    sbuf_init(&sb);
    for (size_t i = 0; i < dl->n; i++)
        sbuf_printf(&sb, "%s%s:%u:%u: %s", i ? "\n" : "", dl->items[i].file, dl->items[i].line,
                    dl->items[i].col, dl->items[i].msg);
    return sbuf_steal(&sb);
}

/* Compile text, fill the event, evaluate; returns the result as JSON. */
static char *eval_json(struct fx *f, const char *text)
{
    struct expr *e = fx_compile(f, text);
    if (!e) {
        char *d = diag_text(&f->dl);
        ck_abort_msg("compile failed for %s: %s", text, d);
    }
    fx_event(f);
    struct val v;
    expr_eval(e, &f->ctx, &v);
    char *out = val_json(&v);
    expr_free(e);
    return out;
}

/* ---- Lexer ---- */

START_TEST(test_lex_tokens)
{
    static const char text[] = "a.`b-c` >= 1.5e2 != 'x\\n' =~ [30s, -2] && || ! not in 250ms";
    static const enum expr_tok_kind want[] = {
        EXPR_TOK_IDENT,   EXPR_TOK_DOT,    EXPR_TOK_QIDENT, EXPR_TOK_GE,    EXPR_TOK_FLOAT,
        EXPR_TOK_NE,      EXPR_TOK_STRING, EXPR_TOK_MATCH,  EXPR_TOK_LBRACK, EXPR_TOK_DURATION,
        EXPR_TOK_COMMA,   EXPR_TOK_MINUS,  EXPR_TOK_INT,    EXPR_TOK_RBRACK, EXPR_TOK_AND,
        EXPR_TOK_OR,      EXPR_TOK_NOT,    EXPR_TOK_NOT,    EXPR_TOK_IN,    EXPR_TOK_DURATION,
        EXPR_TOK_EOF,
    };
    struct expr_src src = {.text = text, .len = strlen(text), .file = "t", .base_line = 1,
                           .base_col = 1};
    struct expr_arena arena = {0};
    struct diag_list dl;
    diag_list_init(&dl);
    struct expr_lex lx;
    expr_lex_init(&lx, &src, 0, src.len, &arena, &dl);
    struct expr_tok t;
    for (size_t i = 0; i < CEP_ARRAY_LEN(want); i++) {
        expr_lex_next(&lx, &t);
        ck_assert_msg(t.kind == want[i], "token %zu: got %s", i, expr_tok_name(t.kind));
        if (i == 2)
            ck_assert_int_eq(t.v.len, 3);
        if (i == 4)
            ck_assert(t.v.u.f == 150.0);
        if (i == 6) {
            ck_assert_int_eq(t.v.len, 2);
            ck_assert_int_eq(t.v.u.s[1], '\n');
        }
        if (i == 9) {
            ck_assert_int_eq(t.v.type, VAL_INT);
            ck_assert_int_eq(t.v.u.i, 30);
            ck_assert_int_eq(t.v.flags, VAL_F_DURATION);
        }
        if (i == 19) {
            ck_assert_int_eq(t.v.type, VAL_FLOAT);
            ck_assert(t.v.u.f == 0.25);
        }
    }
    ck_assert_int_eq(dl.n, 0);
    expr_arena_free(&arena);
    diag_list_free(&dl);
}
END_TEST

START_TEST(test_lex_strings)
{
    struct fx f;
    fx_init(&f);
    char *s = eval_json(&f, "\"a\\tb\\\"c\\u00e9\\ud83d\\ude00\\d\"");
    ck_assert_str_eq(s, "\"a\\tb\\\"c\xc3\xa9\xf0\x9f\x98\x80\\\\d\"");
    free(s);
    s = eval_json(&f, "'it\\'s'");
    ck_assert_str_eq(s, "\"it's\"");
    free(s);
    fx_free(&f);
}
END_TEST

/* ---- Evaluation table: precedence, operators, null rules, builtins ---- */

struct eval_case {
    const char *expr;
    const char *want;      /* the result as JSON */
    uint64_t mismatches;   /* type_mismatch increments expected */
};

static const struct eval_case eval_cases[] = {
    /* precedence and associativity */
    {"1 + 2 * 3", "7", 0},
    {"(1 + 2) * 3", "9", 0},
    {"10 - 4 - 3", "3", 0},
    {"2 * 3 % 4", "2", 0},
    {"-2 * 3", "-6", 0},
    {"- - 2", "2", 0},
    {"-port + 1", "-21", 0},
    {"true or false and false", "true", 0},
    {"(true or false) and false", "false", 0},
    {"not false and false", "false", 0},
    {"not (false and false)", "true", 0},
    {"not port == 23", "true", 0},
    {"! flag || flag && false", "false", 0},
    {"1 + 1 == 2 and 3 > 2", "true", 0},
    {"port in ports and not user in ['bob']", "true", 0},
    /* literals */
    {"30s", "30", 0},
    {"250ms", "0.25", 0},
    {"2h", "7200", 0},
    {"1d", "86400", 0},
    {"100us * 10000", "1", 0},
    {"5m + 30s", "330", 0},
    {"[1, 'a', null, -2.5]", "[1,\"a\",null,-2.5]", 0},
    {"[]", "[]", 0},
    {"null", "null", 0},
    {"1.25", "1.25", 0},
    /* fields */
    {"user", "\"root\"", 0},
    {"http.request.method", "\"GET\"", 0},
    {"`odd-name`", "\"odd\"", 0},
    {"http.`request`.method", "\"GET\"", 0},
    {"missing", "null", 0},
    {"a.b.missing", "null", 0},
    {"failures", "6", 0},
    {"users", "\"bob\"", 0},
    /* equality */
    {"user == 'root'", "true", 0},
    {"user != 'root'", "false", 0},
    {"port == 22.0", "true", 0},
    {"port == 23", "false", 0},
    {"port != 23", "true", 0},
    {"s5 == 5", "false", 1},
    {"s5 != 5", "true", 1},
    {"flag == true", "true", 0},
    /* null semantics */
    {"missing == null", "true", 0},
    {"null == missing", "true", 0},
    {"missing != null", "false", 0},
    {"user != null", "true", 0},
    {"null == null", "true", 0},
    {"missing == 'x'", "false", 0},
    {"missing != 'x'", "false", 0},
    {"missing == missing", "false", 0},
    {"missing < 5", "false", 0},
    {"missing >= 5", "false", 0},
    {"missing + 1", "null", 0},
    {"-missing", "null", 0},
    {"not missing", "false", 0},
    {"not null", "false", 0},
    {"not (missing == 1)", "true", 0},
    {"missing and true", "false", 0},
    {"missing or true", "true", 0},
    {"missing in ['a']", "false", 0},
    {"missing not in ['a']", "false", 0},
    {"missing =~ 'a'", "false", 0},
    {"missing !~ 'a'", "false", 0},
    {"missing contains 'a'", "false", 0},
    /* ordering */
    {"port < 23", "true", 0},
    {"port <= 22", "true", 0},
    {"port > 22", "false", 0},
    {"port >= 22.5", "false", 0},
    {"bytes > 1", "true", 0},
    {"user < 'rooz'", "true", 0},
    {"user > 'roo'", "true", 0},
    {"'' < user", "true", 0},
    {"user < 5", "false", 1},
    {"s5 > 4", "false", 1},
    {"flag < flag", "false", 1},
    {"big > 9223372036854775806", "true", 0},
    /* arithmetic */
    {"7 / 2", "3.5", 0},
    {"8 / 2", "4", 0},
    {"7 % 3", "1", 0},
    {"-7 % 3", "-1", 0},
    {"7.5 % 2", "1.5", 0},
    {"port / zero", "null", 1},
    {"port % zero", "null", 1},
    {"bytes / fzero", "null", 1},
    {"big + 1", "9.223372036854776e+18", 0},
    {"big * 2 > big", "true", 0},
    {"user + 1", "null", 1},
    {"-user", "null", 1},
    {"n - 3", "-10", 0},
    {"bytes * 2", "3", 0},
    /* boolean operators on non-booleans count a mismatch */
    {"user and true", "false", 1},
    {"true and user", "false", 1},
    {"user or false", "false", 1},
    {"user or user", "false", 2},
    {"not user", "false", 1},
    {"false and user", "false", 0},
    {"true or user", "true", 0},
    /* in */
    {"user in ['root', 'admin']", "true", 0},
    {"user in admin_users", "true", 0},
    {"user not in admin_users", "false", 0},
    {"'bob' not in admin_users", "true", 0},
    {"port in [22, 80]", "true", 0},
    {"port in ports", "true", 0},
    {"22.0 in ports", "true", 0},
    {"s5 in [5]", "false", 0},
    {"user in []", "false", 0},
    {"user in listy", "true", 0},
    /* string operators */
    {"user contains 'oo'", "true", 0},
    {"user contains ''", "true", 0},
    {"user contains 'rooot'", "false", 0},
    {"user startswith 'ro'", "true", 0},
    {"user endswith 'ot'", "true", 0},
    {"user endswith 'ro'", "false", 0},
    {"port contains 'x'", "false", 1},
    /* regex */
    {"user =~ '^ro+t$'", "true", 0},
    {"user =~ '^admin'", "false", 0},
    {"user !~ '^admin'", "true", 0},
    {"src_ip =~ '^10\\.\\d+\\.'", "true", 0},
    {"name =~ '^.n.code$'", "true", 0},
    {"user =~ '(?i)ROOT'", "true", 0},
    {"port =~ '22'", "false", 1},
    /* builtins */
    {"exists(user)", "true", 0},
    {"exists(missing)", "false", 0},
    {"exists(http.request.method)", "true", 0},
    {"lower('AbC')", "\"abc\"", 0},
    {"upper(user)", "\"ROOT\"", 0},
    {"upper(missing)", "null", 0},
    {"lower(port)", "null", 1},
    {"len(user)", "4", 0},
    {"len(name)", "7", 0},
    {"len(empty)", "0", 0},
    {"len(tags)", "3", 0},
    {"len(obj)", "2", 0},
    {"len(admin_users)", "null", 0},
    {"len(['a', 'b'])", "2", 0},
    {"len(port)", "null", 1},
    {"abs(n)", "7", 0},
    {"abs(-2.5)", "2.5", 0},
    {"abs(user)", "null", 1},
    {"int(bytes)", "1", 0},
    {"int(-2.7)", "-2", 0},
    {"int(s5) + 1", "6", 0},
    {"int('2.5')", "2", 0},
    {"int(user)", "null", 1},
    {"int(flag)", "1", 0},
    {"float(port)", "22", 0},
    {"float(s5) / 2", "2.5", 0},
    {"float('x')", "null", 1},
    {"str(port)", "\"22\"", 0},
    {"str(bytes)", "\"1.5\"", 0},
    {"str(flag)", "\"true\"", 0},
    {"str(user)", "\"root\"", 0},
    {"str(missing)", "null", 0},
    {"str(port) == '22'", "true", 0},
    {"len(str(big))", "19", 0},
    {"coalesce(missing, user)", "\"root\"", 0},
    {"coalesce(missing, a.b, 'dflt')", "\"dflt\"", 0},
    {"coalesce(missing)", "null", 0},
    {"coalesce(port, missing)", "22", 0},
    {"cidr_match(src_ip, '10.0.0.0/8')", "true", 0},
    {"cidr_match(src_ip, '10.1.2.0/24')", "true", 0},
    {"cidr_match(src_ip, '10.1.3.0/24')", "false", 0},
    {"cidr_match(src_ip, '10.1.2.3')", "true", 0},
    {"cidr_match(src_ip, '0.0.0.0/0')", "true", 0},
    {"cidr_match(src_ip, '10.1.2.2/31')", "true", 0},
    {"cidr_match(src_ip, '10.1.2.0/31')", "false", 0},
    {"cidr_match(ip6, 'fd00::/8')", "true", 0},
    {"cidr_match(ip6, 'fe80::/10')", "false", 0},
    {"cidr_match(src_ip, 'fd00::/8')", "false", 0},
    {"cidr_match(user, '10.0.0.0/8')", "false", 0},
    {"cidr_match(src_ip, user)", "false", 1},
    {"cidr_match(ip6, lower('FD00::/16'))", "true", 0},
    {"cidr_match(port, '10.0.0.0/8')", "false", 1},
    {"substr(user, 1, 2)", "\"oo\"", 0},
    {"substr(user, -2, 5)", "\"ot\"", 0},
    {"substr(user, 10, 5)", "\"\"", 0},
    {"substr(name, 0, 2)", "\"\xc3\x9cn\"", 0},
    {"substr(name, 2, 1)", "\"\xc3\xaf\"", 0},
    {"substr(user, 0, -1)", "\"\"", 0},
    {"substr(port, 0, 1)", "null", 1},
    {"lower(upper(user)) == user", "true", 0},
};

START_TEST(test_eval_table)
{
    const struct eval_case *c = &eval_cases[_i];
    struct fx f;
    fx_init(&f);
    char *got = eval_json(&f, c->expr);
    ck_assert_msg(strcmp(got, c->want) == 0, "%s: got %s, want %s", c->expr, got, c->want);
    ck_assert_msg(f.cnt.type_mismatch == c->mismatches, "%s: %llu mismatches, want %llu",
                  c->expr, (unsigned long long)f.cnt.type_mismatch,
                  (unsigned long long)c->mismatches);
    free(got);
    fx_free(&f);
}
END_TEST

START_TEST(test_eval_no_event)
{
    /* No event, no results, no pattern, no counters: everything is null. */
    struct fx f;
    fx_init(&f);
    struct expr *e = fx_compile(&f, "coalesce(user, failures, fail.user, count(fail), 'none')");
    ck_assert_ptr_nonnull(e);
    f.ctx.ev = NULL;
    f.ctx.results = NULL;
    f.ctx.pat = NULL;
    f.ctx.counters = NULL;
    struct val v;
    expr_eval(e, &f.ctx, &v);
    ck_assert_int_eq(v.type, VAL_STR);
    ck_assert_int_eq(v.len, 4);
    expr_free(e);
    e = fx_compile(&f, "user + 1 < 3 or lower(user) == 'x'");
    ck_assert_ptr_nonnull(e);
    ck_assert(!expr_eval_bool(e, &f.ctx));
    expr_free(e);
    fx_free(&f);
}
END_TEST

START_TEST(test_eval_bool_and_types)
{
    struct fx f;
    fx_init(&f);
    struct expr *e = fx_compile(&f, "port");
    ck_assert_ptr_nonnull(e);
    fx_event(&f);
    ck_assert(!expr_eval_bool(e, &f.ctx)); /* 22 is not the boolean true */
    ck_assert_int_eq(expr_static_type(e), EXPR_T_ANY);
    ck_assert_int_eq(expr_field_slot(e), evt_schema_slot_dotted(f.schema, "port"));
    expr_free(e);
    static const struct {
        const char *text;
        enum expr_type t;
    } types[] = {
        {"flag", EXPR_T_ANY},        {"a == 1", EXPR_T_BOOL},     {"1 + x", EXPR_T_NUM},
        {"lower(x)", EXPR_T_STR},    {"[1]", EXPR_T_LIST},        {"null", EXPR_T_NULL},
        {"count(fail)", EXPR_T_NUM}, {"coalesce('a', 'b')", EXPR_T_STR},
        {"coalesce('a', 1)", EXPR_T_ANY},
    };
    for (size_t i = 0; i < CEP_ARRAY_LEN(types); i++) {
        e = fx_compile(&f, types[i].text);
        ck_assert_ptr_nonnull(e);
        ck_assert_msg(expr_static_type(e) == types[i].t, "%s", types[i].text);
        ck_assert_int_eq(expr_field_slot(e), -1 + (i == 0) * (1 + evt_schema_slot_dotted(
                                                                   f.schema, "flag")));
        expr_free(e);
    }
    fx_free(&f);
}
END_TEST

/* ---- Diagnostics with exact positions ---- */

struct diag_case {
    const char *expr;
    const char *want; /* all diagnostics, "FILE:LINE:COL: msg", newline-separated */
};

static const struct diag_case diag_cases[] = {
    {"\"a\" > 1", "t.yaml:1:5: cannot compare string with number"},
    {"user == 1 and 'a' == 1", "t.yaml:1:19: cannot compare string with number"},
    {"lower(5)", "t.yaml:1:7: lower() argument 1 must be a string, not number"},
    {"5 =~ \"x\"", "t.yaml:1:3: '=~' needs a string on the left, not number"},
    {"-\"s\"", "t.yaml:1:1: cannot negate string"},
    {"'a' + 1", "t.yaml:1:5: cannot apply '+' to string"},
    {"lower(a, b)", "t.yaml:1:1: lower() takes 1 argument, got 2"},
    {"substr(a)", "t.yaml:1:1: substr() takes 3 arguments, got 1"},
    {"coalesce()", "t.yaml:1:1: coalesce() takes at least 1 arguments, got 0"},
    {"x == 1 and lowr(user) == 'a'",
     "t.yaml:1:12: unknown function 'lowr' (did you mean 'lower'?)"},
    {"frobnicate(1)", "t.yaml:1:1: unknown function 'frobnicate'"},
    {"user in admins", "t.yaml:1:9: unknown list 'admins'"},
    {"user in user", "t.yaml:1:9: unknown list 'user'"},
    {"user in 'abc'", "t.yaml:1:9: 'in' needs a list literal or a list name"},
    {"[1, user]", "t.yaml:1:5: list items must be literals"},
    {"user =~ user", "t.yaml:1:9: the right side of '=~' must be a string literal"},
    {"x =~ \"a(b\"", "t.yaml:1:10: invalid regex: missing closing parenthesis"},
    {"x =~ \"\\\\d+)\"", "t.yaml:1:11: invalid regex: unmatched closing parenthesis"},
    {"x =~ '\\u00e9+)'", "t.yaml:1:14: invalid regex: unmatched closing parenthesis"},
    {"not 5", "t.yaml:1:5: 'not' needs a boolean, not number"},
    {"1 and x", "t.yaml:1:1: 'and' needs a boolean, not number"},
    {"x < null", "t.yaml:1:3: ordering with null is always false; use == null or != null"},
    {"true < false", "t.yaml:1:6: cannot order boolean values"},
    {"'a' contains 1", "t.yaml:1:5: 'contains' needs strings, not number"},
    {"cidr_match(ip, '10.0.0.0/33')", "t.yaml:1:16: invalid network '10.0.0.0/33'"},
    {"exists(1)", "t.yaml:1:8: exists() takes a field"},
    {"a == 1 == 2", "t.yaml:1:8: comparisons cannot be chained; use parentheses or 'and'"},
    {"(a == 1", "t.yaml:1:8: expected ')' at end of expression"},
    {"a ==", "t.yaml:1:5: expected an expression at end of expression"},
    {"a b", "t.yaml:1:3: unexpected name after expression"},
    {"a)", "t.yaml:1:2: unmatched ')'"},
    {"a = 1", "t.yaml:1:3: unexpected '=' (use '==' to compare)"},
    {"a & b", "t.yaml:1:3: unexpected '&' (use '&&' or 'and')"},
    {"'abc", "t.yaml:1:1: unterminated string"},
    {"`abc", "t.yaml:1:1: unterminated quoted name"},
    {"a # b", "t.yaml:1:3: unexpected character '#'"},
    {"5x", "t.yaml:1:2: invalid suffix on number (durations use us ms s m h d)"},
    {"99999999999999999999", "t.yaml:1:1: integer out of range"},
    {"'\\uZZZZ'", "t.yaml:1:2: invalid \\u escape"},
    {"a.", "t.yaml:1:3: expected a name after '.' at end of expression"},
    {"f(1,", "t.yaml:1:5: expected an expression at end of expression"},
    {"[1 2]", "t.yaml:1:4: expected ',' or ']' before integer"},
    {"a not b", "t.yaml:1:3: unexpected 'not' (did you mean 'not in'?)"},
    {"user[0].x", "t.yaml:1:1: 'user' is not a pattern step; only steps take [i]"},
    {"fail", "t.yaml:1:1: step 'fail' needs a field (fail.last.FIELD, fail[i].FIELD) or "
             "count(fail)"},
    {"fail.last", "t.yaml:1:1: expected a field after the step reference"},
    {"fail[x].y", "t.yaml:1:6: expected an integer index before name"},
    {"count(user)", "t.yaml:1:7: count() takes a pattern step name"},
    {"sum(fail.last.bytes)", "t.yaml:1:5: sum() takes STEP.FIELD of a pattern step"},
    {"bad_macro and x", "macros.yaml:11:12: expected an expression at end of expression"},
    {"ma", "macros.yaml:10:17: macro cycle: ma -> mb -> ma"},
    /* several errors are all reported */
    {"lower(1) == upper(2) or 'a' > 1",
     "t.yaml:1:7: lower() argument 1 must be a string, not number\n"
     "t.yaml:1:19: upper() argument 1 must be a string, not number\n"
     "t.yaml:1:29: cannot compare string with number"},
};

START_TEST(test_diag_table)
{
    const struct diag_case *c = &diag_cases[_i];
    struct fx f;
    fx_init(&f);
    struct expr *e = fx_compile(&f, c->expr);
    ck_assert_msg(e == NULL, "%s compiled", c->expr);
    char *got = diag_text(&f.dl);
    ck_assert_msg(strcmp(got, c->want) == 0, "%s:\n got: %s\nwant: %s", c->expr, got, c->want);
    ck_assert_int_eq(f.dl.n_errors, f.dl.n);
    free(got);
    fx_free(&f);
}
END_TEST

static void map_locate(const void *map, size_t off, uint32_t *line, uint32_t *col)
{
    /* A block scalar: each '\n' starts a new line indented by 4. */
    const char *text = map;
    uint32_t l = 20, c = 5;
    for (size_t i = 0; i < off; i++) {
        if (text[i] == '\n') {
            l++;
            c = 5;
        } else {
            c++;
        }
    }
    *line = l;
    *col = c;
}

START_TEST(test_diag_locate)
{
    struct fx f;
    fx_init(&f);
    static const char text[] = "user == 'x' and\nlowr(user) == 1";
    struct expr_src src = {.text = text, .len = strlen(text), .file = "r.yaml",
                           .locate = map_locate, .map = text};
    ck_assert_ptr_null(expr_compile(&src, &f.env, &f.dl));
    char *got = diag_text(&f.dl);
    ck_assert_str_eq(got, "r.yaml:21:5: unknown function 'lowr' (did you mean 'lower'?)");
    free(got);
    /* base_line/base_col without locate */
    diag_list_free(&f.dl);
    diag_list_init(&f.dl);
    struct expr_src src2 = {.text = "a +", .len = 3, .file = "b.yaml", .base_line = 4,
                            .base_col = 12};
    ck_assert_ptr_null(expr_compile(&src2, &f.env, &f.dl));
    got = diag_text(&f.dl);
    ck_assert_str_eq(got, "b.yaml:4:15: expected an expression at end of expression");
    free(got);
    fx_free(&f);
}
END_TEST

START_TEST(test_depth_limit)
{
    struct fx f;
    fx_init(&f);
    size_t n = 10000;
    char *text = malloc(2 * n + 2);
    /* deep parentheses, deep prefix operators, and a long left-deep chain */
    for (int kind = 0; kind < 3; kind++) {
        size_t k = 0;
        if (kind == 2) {
            text[k++] = 'a';
            for (size_t i = 0; i < n; i++) {
                text[k++] = '+';
                text[k++] = 'a';
            }
        } else {
            for (size_t i = 0; i < n; i++)
                text[k++] = kind == 0 ? '(' : '!';
            text[k++] = 'a';
            for (size_t i = 0; kind == 0 && i < n; i++)
                text[k++] = ')';
        }
        text[k] = '\0';
        ck_assert_ptr_null(fx_compile(&f, text));
        ck_assert_int_eq(f.dl.n, 1);
        ck_assert_msg(strstr(f.dl.items[0].msg, "nested too deeply") != NULL, "%s",
                      f.dl.items[0].msg);
        diag_list_free(&f.dl);
        diag_list_init(&f.dl);
    }
    /* 200 levels are fine */
    size_t k = 0;
    for (size_t i = 0; i < 200; i++)
        text[k++] = '(';
    text[k++] = '1';
    for (size_t i = 0; i < 200; i++)
        text[k++] = ')';
    text[k] = '\0';
    struct expr *e = fx_compile(&f, text);
    ck_assert_ptr_nonnull(e);
    expr_free(e);
    free(text);
    fx_free(&f);
}
END_TEST

/* ---- Macros ---- */

START_TEST(test_macros)
{
    struct fx f;
    fx_init(&f);
    char *s = eval_json(&f, "ssh_failure and is_admin");
    ck_assert_str_eq(s, "true");
    free(s);
    s = eval_json(&f, "not ssh_failure");
    ck_assert_str_eq(s, "false");
    free(s);
    /* A macro body's fields are fields of the stream. */
    struct expr *e = fx_compile(&f, "ssh_failure");
    ck_assert_ptr_nonnull(e);
    ck_assert_int_ge(evt_schema_slot_dotted(f.schema, "outcome"), 0);
    expr_free(e);
    /* A backquoted name is never a macro. */
    s = eval_json(&f, "`ssh_failure`");
    ck_assert_str_eq(s, "null");
    free(s);
    fx_free(&f);
}
END_TEST

/* ---- Regex limits ---- */

START_TEST(test_regex_limit)
{
    struct fx f;
    fx_init(&f);
    struct expr *e = fx_compile(&f, "s =~ '(a+)+$' or s !~ '(a+)+$'");
    ck_assert_ptr_nonnull(e);
    expr_re_set_limit(expr_prog_regex(e, 0), 1000);
    expr_re_set_limit(expr_prog_regex(e, 1), 1000);
    int slot = evt_schema_slot_dotted(f.schema, "s");
    evt_reset(f.ev, "{}", 2, f.schema->n_slots);
    static const char subject[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab";
    f.ev->slots[slot] = val_str(subject, strlen(subject));
    ck_assert(!expr_eval_bool(e, &f.ctx));
    ck_assert_int_eq(f.cnt.regex_limit, 2);
    /* The default limit lets ordinary matches through. */
    expr_re_set_limit(expr_prog_regex(e, 0), EXPR_RE_MATCH_LIMIT);
    f.ev->slots[slot] = val_str("aaa", 3);
    ck_assert(expr_eval_bool(e, &f.ctx));
    ck_assert_int_eq(f.cnt.regex_limit, 2);
    /* Invalid UTF-8 in the subject is not an error. */
    f.ev->slots[slot] = val_str("\xff\xfe", 2);
    ck_assert(expr_eval_bool(e, &f.ctx)); /* !~ matches */
    expr_free(e);
    fx_free(&f);
}
END_TEST

/* ---- Pattern references ---- */

struct pat_case {
    const char *expr;
    const char *want;
};

static const struct pat_case pat_cases[] = {
    {"fail.first.user", "\"u0\""},
    {"fail.last.user", "\"u2\""},
    {"fail.user", "\"u2\""},
    {"fail[0].user", "\"u0\""},
    {"fail[1].user", "\"u1\""},
    {"fail[-1].user", "\"u2\""},
    {"fail[-3].user", "\"u0\""},
    {"fail[3].user", "null"},
    {"fail[-4].user", "null"},
    {"ok.user", "null"},
    {"ok.first.bytes", "null"},
    {"count(fail)", "3"},
    {"count(ok)", "0"},
    {"sum(fail.bytes)", "60"},
    {"avg(fail.bytes)", "20"},
    {"min(fail.bytes)", "10"},
    {"max(fail.bytes)", "30"},
    {"sum(ok.bytes)", "0"},
    {"avg(ok.bytes)", "null"},
    {"max(ok.bytes)", "null"},
    {"sum(late.bytes)", "3.5"},
    {"avg(late.bytes)", "1.75"},
    {"max(late.bytes)", "2.5"},
    {"count(late)", "3"},
    {"user == fail.last.user", "false"},
    {"fail.`last`.user", "null"},
    {"count(fail) >= 3 and fail.first.user != fail.last.user", "true"},
};

START_TEST(test_pattern_refs)
{
    const struct pat_case *c = &pat_cases[_i];
    struct fx f;
    fx_init(&f);
    fx_take(&f, 0, "u0", val_int(10));
    fx_take(&f, 0, "u1", val_int(30));
    fx_take(&f, 0, "u2", val_int(20));
    fx_take(&f, 2, "v0", val_float(1.0));
    fx_take(&f, 2, "v1", val_str("x", 1));
    fx_take(&f, 2, "v2", val_float(2.5));
    char *got = eval_json(&f, c->expr);
    ck_assert_msg(strcmp(got, c->want) == 0, "%s: got %s, want %s", c->expr, got, c->want);
    free(got);
    fx_free(&f);
}
END_TEST

START_TEST(test_pattern_scope)
{
    struct fx f;
    fx_init(&f);
    f.env.current_step = 1;
    /* own name (events taken so far) and earlier steps are fine */
    struct expr *e = fx_compile(&f, "ok.last.user == fail.first.user and count(ok) < 3");
    ck_assert_ptr_nonnull(e);
    expr_free(e);
    ck_assert_ptr_null(fx_compile(&f, "late.user == 'x' or count(late) > 1"));
    char *got = diag_text(&f.dl);
    ck_assert_str_eq(got, "t.yaml:1:1: step 'late' is referenced before it can match\n"
                          "t.yaml:1:27: step 'late' is referenced before it can match");
    free(got);
    /* Outside a pattern context step references are null. */
    e = fx_compile(&f, "fail.user");
    ck_assert_ptr_nonnull(e);
    f.ctx.pat = NULL;
    struct val v;
    expr_eval(e, &f.ctx, &v);
    ck_assert_int_eq(v.type, VAL_NULL);
    expr_free(e);
    fx_free(&f);
}
END_TEST

/* ---- Templates ---- */

struct tmpl_case {
    const char *text;
    const char *want; /* rendered, or the diagnostics when it starts with '!' */
};

static const struct tmpl_case tmpl_cases[] = {
    {"admin ${user} logged in from ${src_ip}", "admin root logged in from 10.1.2.3"},
    {"${port}/${bytes}/${flag}/${missing}/${failures}", "22/1.5/true//6"},
    {"no parts", "no parts"},
    {"", ""},
    {"$${user} costs $5 and ${ 'a}b' }", "${user} costs $5 and a}b"},
    {"${upper(user)}${lower('X')}", "ROOTx"},
    {"${user}'s login", "root's login"},
    {"${count(fail)} failures", "0 failures"},
    {"x ${lowr(user)} y", "!t.yaml:1:5: unknown function 'lowr' (did you mean 'lower'?)"},
    {"${a +} and ${b ==}",
     "!t.yaml:1:6: expected an expression before '}'\n"
     "t.yaml:1:18: expected an expression before '}'"},
    {"x ${user", "!t.yaml:1:3: unterminated '${' in template"},
    {"x ${}", "!t.yaml:1:5: expected an expression before '}'"},
};

START_TEST(test_templates)
{
    const struct tmpl_case *c = &tmpl_cases[_i];
    struct fx f;
    fx_init(&f);
    struct expr_src src = {.text = c->text, .len = strlen(c->text), .file = "t.yaml",
                           .base_line = 1, .base_col = 1};
    struct expr_tmpl *t = expr_tmpl_compile(&src, &f.env, &f.dl);
    if (c->want[0] == '!') {
        ck_assert_ptr_null(t);
        char *got = diag_text(&f.dl);
        ck_assert_msg(strcmp(got, c->want + 1) == 0, "%s:\n got: %s\nwant: %s", c->text, got,
                      c->want + 1);
        free(got);
    } else {
        ck_assert_msg(t != NULL, "%s did not compile", c->text);
        fx_event(&f);
        struct sbuf sb;
        sbuf_init(&sb);
        sbuf_puts(&sb, ">");
        expr_tmpl_render(t, &f.ctx, &sb);
        ck_assert_str_eq(sb.buf + 1, c->want);
        sbuf_free(&sb);
        expr_tmpl_free(t);
    }
    fx_free(&f);
}
END_TEST

/* ---- Durations ---- */

static const struct {
    const char *text;
    int rc;
    int64_t us;
} dur_cases[] = {
    {"30s", CEP_OK, 30000000},
    {"5m", CEP_OK, 300000000},
    {"2h", CEP_OK, INT64_C(7200000000)},
    {"1d", CEP_OK, INT64_C(86400000000)},
    {"250ms", CEP_OK, 250000},
    {"100us", CEP_OK, 100},
    {"0s", CEP_OK, 0},
    {"1.5s", CEP_OK, 1500000},
    {"0.001ms", CEP_OK, 1},
    {"0.0001ms", CEP_OK, 0},
    {"30", CEP_ERR, 0},
    {"s", CEP_ERR, 0},
    {"30x", CEP_ERR, 0},
    {"30 s", CEP_ERR, 0},
    {"-5s", CEP_ERR, 0},
    {"1.s", CEP_ERR, 0},
    {"", CEP_ERR, 0},
    {"99999999999d", CEP_ERR, 0},
    {"9223372036854775808us", CEP_ERR, 0},
};

START_TEST(test_durations)
{
    int64_t us = -1;
    int rc = expr_parse_duration(dur_cases[_i].text, strlen(dur_cases[_i].text), &us);
    ck_assert_msg(rc == dur_cases[_i].rc, "%s", dur_cases[_i].text);
    if (rc == CEP_OK)
        ck_assert_msg(us == dur_cases[_i].us, "%s: %lld", dur_cases[_i].text, (long long)us);
    else
        ck_assert_int_eq(us, -1);
}
END_TEST

/* expr_format_duration: the largest exact unit, and it parses back. */
static const struct {
    int64_t us;
    const char *text;
} fmt_dur_cases[] = {
    {0, "0s"},
    {1, "1us"},
    {1500, "1500us"},
    {250000, "250ms"},
    {1500000, "1500ms"},
    {30000000, "30s"},
    {90000000, "90s"},
    {300000000, "5m"},
    {INT64_C(7200000000), "2h"},
    {INT64_C(86400000000), "1d"},
    {INT64_C(90000000000), "25h"},
};

START_TEST(test_format_duration)
{
    char buf[32];
    int64_t us = -1;
    expr_format_duration(fmt_dur_cases[_i].us, buf, sizeof(buf));
    ck_assert_str_eq(buf, fmt_dur_cases[_i].text);
    ck_assert_int_eq(expr_parse_duration(buf, strlen(buf), &us), CEP_OK);
    ck_assert_int_eq(us, fmt_dur_cases[_i].us);
}
END_TEST

/* expr_name_valid: [A-Za-z_][A-Za-z0-9_]*, without the lexer's $ and @. */
static const struct {
    const char *name;
    bool ok;
} name_cases[] = {
    {"a", true},   {"_x1", true},  {"A_b9", true}, {"", false},    {"1a", false},
    {"a-b", false}, {"$x", false}, {"@x", false},  {"a.b", false}, {"a$", false},
};

START_TEST(test_name_valid)
{
    ck_assert_msg(expr_name_valid(name_cases[_i].name) == name_cases[_i].ok, "'%s'",
                  name_cases[_i].name);
}
END_TEST

/* expr_cmp_const and expr_eq_const on conjuncts: the field's slot, the
 * comparison as seen from the field, the constant. */
static const struct {
    const char *text;
    int cmp;  /* enum expr_cmp, or -1: not `field OP const` */
    bool eq;  /* `field == const` or `field in [...]` */
    uint8_t type; /* the constant's type */
} cmp_cases[] = {
    {"port == 22", EXPR_CMP_EQ, true, VAL_INT},
    {"\"root\" == user", EXPR_CMP_EQ, true, VAL_STR},
    {"port != 22", EXPR_CMP_NE, false, VAL_INT},
    {"port < 22", EXPR_CMP_LT, false, VAL_INT},
    {"22 < port", EXPR_CMP_GT, false, VAL_INT},
    {"22 >= port", EXPR_CMP_LE, false, VAL_INT},
    {"port in [22, 80]", -1, true, VAL_LIST},
    {"port > n", -1, false, VAL_NULL},
    {"port + 1 == 23", -1, false, VAL_NULL},
};

START_TEST(test_cmp_const)
{
    struct fx f;
    fx_init(&f);
    struct expr *e = fx_compile(&f, cmp_cases[_i].text);
    ck_assert_ptr_nonnull(e);
    int port = evt_schema_slot_dotted(f.schema, "port");
    int want = cmp_cases[_i].text[0] == '"' ? evt_schema_slot_dotted(f.schema, "user") : port;
    enum expr_cmp op;
    const struct val *c = NULL;
    int slot = expr_cmp_const(e, &op, &c);
    if (cmp_cases[_i].cmp < 0) {
        ck_assert_int_eq(slot, -1);
    } else {
        ck_assert_int_eq(slot, want);
        ck_assert_int_eq(op, cmp_cases[_i].cmp);
        ck_assert_uint_eq(c->type, cmp_cases[_i].type);
    }
    c = NULL;
    slot = expr_eq_const(e, &c);
    ck_assert_int_eq(slot, cmp_cases[_i].eq ? want : -1);
    if (cmp_cases[_i].eq)
        ck_assert_uint_eq(c->type, cmp_cases[_i].type);
    expr_free(e);
    fx_free(&f);
}
END_TEST

/* ---- Runtime reuse: scratch survives within one evaluation only ---- */

/* expr_rt_results: one array per runtime, grown to the largest n asked,
 * the same array for smaller ones (a window key keeps no results of its
 * own). */
START_TEST(test_rt_results)
{
    struct expr_rt *rt = expr_rt_new();
    struct val *a = expr_rt_results(rt, 3);
    for (int i = 0; i < 3; i++)
        a[i] = val_int(i);
    ck_assert_ptr_eq(expr_rt_results(rt, 1), a);
    ck_assert_int_eq(a[2].u.i, 2);
    struct val *b = expr_rt_results(rt, 40);
    for (int i = 0; i < 40; i++)
        b[i] = val_null();
    ck_assert_ptr_eq(expr_rt_results(rt, 40), b);
    expr_rt_free(rt);
}
END_TEST

START_TEST(test_rt_scratch)
{
    struct fx f;
    fx_init(&f);
    /* Many scratch strings in one evaluation force new chunks; values made
     * earlier in the evaluation must stay intact. */
    struct sbuf sb;
    sbuf_init(&sb);
    sbuf_puts(&sb, "upper(user) == ");
    for (int i = 0; i < 60; i++)
        sbuf_puts(&sb, "upper(lower(");
    sbuf_puts(&sb, "user");
    for (int i = 0; i < 60; i++)
        sbuf_puts(&sb, "))");
    struct expr *e = fx_compile(&f, sb.buf);
    ck_assert_ptr_nonnull(e);
    fx_event(&f);
    for (int i = 0; i < 3; i++)
        ck_assert(expr_eval_bool(e, &f.ctx));
    expr_free(e);
    e = fx_compile(&f, "coalesce(missing, upper(user)) == 'ROOT' and lower(upper(name)) == "
                       "lower(name) and str(big) == '9223372036854775807'");
    ck_assert_ptr_nonnull(e);
    fx_event(&f);
    for (int i = 0; i < 1000; i++)
        ck_assert(expr_eval_bool(e, &f.ctx));
    expr_free(e);
    sbuf_free(&sb);
    fx_free(&f);
}
END_TEST

/* ---- Goldens: tests/golden/expr/NAME.expr -> NAME.dump ---- */

static char *read_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    struct sbuf sb;
    sbuf_init(&sb);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
        sbuf_append(&sb, buf, n);
    fclose(fp);
    return sbuf_steal(&sb);
}

START_TEST(test_goldens)
{
    const char *top = getenv("TOP_SRCDIR");
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/tests/golden/expr", top ? top : ".");
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(dir, sizeof(dir), "../../tests/golden/expr");
        d = opendir(dir);
    }
    ck_assert_msg(d != NULL, "cannot open tests/golden/expr (set TOP_SRCDIR)");
    bool update = getenv("CEPD_GOLDEN_UPDATE") != NULL;
    int n_checked = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".expr") != 0)
            continue;
        char path[8192], dump_path[8192];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        snprintf(dump_path, sizeof(dump_path), "%s/%.*s.dump", dir, (int)(len - 5), de->d_name);
        char *text = read_file(path);
        ck_assert_ptr_nonnull(text);
        size_t tl = strlen(text);
        while (tl && (text[tl - 1] == '\n' || text[tl - 1] == '\r'))
            text[--tl] = '\0';
        struct fx f;
        fx_init(&f);
        f.env.current_step = 1;
        struct expr *e = fx_compile(&f, text);
        ck_assert_msg(e != NULL, "%s does not compile", path);
        struct sbuf sb;
        sbuf_init(&sb);
        expr_dump(e, f.schema, &sb);
        if (update) {
            FILE *fp = fopen(dump_path, "wb");
            ck_assert_ptr_nonnull(fp);
            fwrite(sb.buf, 1, sb.len, fp);
            fclose(fp);
        }
        char *want = read_file(dump_path);
        ck_assert_msg(want != NULL, "missing %s", dump_path);
        ck_assert_msg(strcmp(sb.buf, want) == 0, "%s:\n--- got\n%s--- want\n%s", path, sb.buf,
                      want);
        free(want);
        sbuf_free(&sb);
        expr_free(e);
        free(text);
        fx_free(&f);
        n_checked++;
    }
    closedir(d);
    ck_assert_int_ge(n_checked, 6);
}
END_TEST

/* ---- Lookup tables ---- */

/* A registry of inline tables: assets (CSV, value column owner), people
 * (CSV, whole rows), geo (JSON), bl (CIDR), admin_users (a CIDR set named
 * like a list, for the ambiguity error). */
static struct lookup_reg *fx_lookups(bool with_clash)
{
    static const struct {
        const char *name;
        enum lookup_type type;
        const char *data;
        const char *value;
    } tabs[] = {
        {"assets", LOOKUP_CSV, "host,owner,dept\nroot,alice,ops\n22,ssh-team,net\n", "owner"},
        {"people", LOOKUP_CSV, "name,team\nroot,sre\n", NULL},
        {"geo", LOOKUP_JSON,
         "{\"10.1.2.3\": {\"country\": \"NL\", \"asn\": 1136}, \"fd00::1\": \"lab\"}", NULL},
        {"bl", LOOKUP_CIDR, "10.0.0.0/8\nfd00::/8\n", NULL},
        {"admin_users", LOOKUP_CIDR, "192.0.2.0/24\n", NULL},
    };
    struct lookup_spec specs[CEP_ARRAY_LEN(tabs)];
    size_t n = with_clash ? CEP_ARRAY_LEN(tabs) : CEP_ARRAY_LEN(tabs) - 1;
    for (size_t i = 0; i < n; i++) {
        memset(&specs[i], 0, sizeof(specs[i]));
        specs[i].name = (char *)tabs[i].name;
        specs[i].type = tabs[i].type;
        specs[i].data = (char *)tabs[i].data;
        specs[i].data_len = strlen(tabs[i].data);
        specs[i].value = (char *)tabs[i].value;
        specs[i].delimiter = ',';
        specs[i].decl_file = (char *)"cepd.yaml";
    }
    struct diag_list dl;
    diag_list_init(&dl);
    struct lookup_reg *reg = lookup_reg_load(specs, n, &dl);
    ck_assert_msg(reg != NULL, "tables failed to load");
    diag_list_free(&dl);
    return reg;
}

static const struct {
    const char *text;
    const char *want;
    uint64_t mismatches;
} lookup_cases[] = {
    {"lookup(\"assets\", user)", "\"alice\"", 0},
    {"lookup(\"assets\", user, \"dept\")", "\"ops\"", 0},
    {"lookup(\"assets\", port)", "\"ssh-team\"", 0}, /* an integer key: its decimal text */
    {"lookup(\"assets\", \"nobody\")", "null", 0},
    {"lookup(\"assets\", missing)", "null", 0},
    {"lookup(\"assets\", bytes)", "null", 1}, /* a float key */
    {"lookup(\"people\", user)", "{\"name\":\"root\",\"team\":\"sre\"}", 0},
    {"lookup(\"people\", user, \"team\") == \"sre\"", "true", 0},
    {"lookup(\"geo\", src_ip, \"country\")", "\"NL\"", 0},
    {"lookup(\"geo\", src_ip, \"asn\") > 1000", "true", 0},
    {"lookup(\"geo\", src_ip, \"city\")", "null", 0},
    {"lookup(\"geo\", ip6)", "\"lab\"", 0},
    {"lookup(\"geo\", ip6, \"country\")", "null", 1}, /* a member of a string */
    {"coalesce(lookup(\"assets\", \"x\"), \"unowned\")", "\"unowned\"", 0},
    {"src_ip in bl", "true", 0},
    {"ip6 in bl and not (user in bl)", "true", 0},
    {"src_ip not in bl", "false", 0},
    {"missing in bl", "false", 0},
    {"missing not in bl", "false", 0}, /* null is in nothing and not in nothing */
    {"port in bl", "false", 1},
    {"port not in bl", "false", 1},
    {"user in assets and port in assets and \"x\" not in assets", "true", 0},
    {"user in geo", "false", 0},
};

START_TEST(test_lookup_eval)
{
    struct fx f;
    fx_init(&f);
    struct lookup_reg *reg = fx_lookups(false);
    f.env.lookups = reg;
    char *got = eval_json(&f, lookup_cases[_i].text);
    ck_assert_msg(strcmp(got, lookup_cases[_i].want) == 0, "%s: got %s, want %s",
                  lookup_cases[_i].text, got, lookup_cases[_i].want);
    ck_assert_msg(f.cnt.type_mismatch == lookup_cases[_i].mismatches, "%s: %llu mismatches",
                  lookup_cases[_i].text, (unsigned long long)f.cnt.type_mismatch);
    free(got);
    fx_free(&f);
    lookup_reg_free(reg);
}
END_TEST

static const struct {
    const char *text;
    const char *want;
} lookup_diags[] = {
    {"lookup(\"asets\", user) == \"x\"",
     "t.yaml:1:8: unknown lookup table 'asets' (did you mean 'assets'?)"},
    {"lookup(\"zzzzzz\", user)", "t.yaml:1:8: unknown lookup table 'zzzzzz'"},
    {"lookup(\"bl\", src_ip)",
     "t.yaml:1:8: 'bl' is a CIDR set, which has no values; test membership with 'ip in bl'"},
    {"lookup(\"assets\", user, \"dpt\")",
     "t.yaml:1:24: lookup table 'assets' has no column 'dpt' (did you mean 'dept'?)"},
    {"lookup(\"assets\", user, dept)",
     "t.yaml:1:24: lookup() takes the column as a string literal"},
    {"lookup(name, user)", "t.yaml:1:8: lookup() takes the table name as a string literal"},
    {"lookup(\"assets\", [1, 2])", "t.yaml:1:18: lookup() keys are strings or integers, not list"},
    {"lookup(\"assets\")", "t.yaml:1:1: lookup() takes at least 2 arguments, got 1"},
    {"lookup(\"assets\", user, \"dept\") > 3", "t.yaml:1:32: cannot compare string with number"},
    {"1 in bl", "t.yaml:1:1: 'in bl' needs an IP address string, not number"},
    {"true not in assets",
     "t.yaml:1:1: 'not in assets' needs a string or integer key, not boolean"},
    {"src_ip in admin_users", "t.yaml:1:11: 'admin_users' names both a lookup table and a list; "
                              "rename one"},
    {"src_ip in bk", "t.yaml:1:11: unknown list or lookup table 'bk' (did you mean 'bl'?)"},
};

START_TEST(test_lookup_diags)
{
    struct fx f;
    fx_init(&f);
    struct lookup_reg *reg = fx_lookups(true);
    f.env.lookups = reg;
    struct expr *e = fx_compile(&f, lookup_diags[_i].text);
    ck_assert_msg(e == NULL, "%s compiled", lookup_diags[_i].text);
    char *d = diag_text(&f.dl);
    ck_assert_msg(strcmp(d, lookup_diags[_i].want) == 0, "got  %s\nwant %s", d,
                  lookup_diags[_i].want);
    free(d);
    fx_free(&f);
    lookup_reg_free(reg);
}
END_TEST

/* Without a registry, the error says so; the disassembly names tables. */
START_TEST(test_lookup_misc)
{
    struct fx f;
    fx_init(&f);
    ck_assert_ptr_null(fx_compile(&f, "lookup(\"assets\", user)"));
    char *d = diag_text(&f.dl);
    ck_assert_str_eq(d, "t.yaml:1:8: unknown lookup table 'assets' (no lookups are configured)");
    free(d);
    fx_free(&f);

    fx_init(&f);
    struct lookup_reg *reg = fx_lookups(false);
    f.env.lookups = reg;
    struct expr *e = fx_compile(&f, "lookup(\"assets\", user, \"dept\") == \"ops\" and "
                                    "src_ip not in bl and "
                                    "lookup(\"geo\", src_ip, \"asn\") != null");
    ck_assert_ptr_nonnull(e);
    struct sbuf sb;
    sbuf_init(&sb);
    expr_dump(e, f.schema, &sb);
    ck_assert_msg(strstr(sb.buf, "LOOKUP      table=assets column=2 (dept)\n"), "%s", sb.buf);
    ck_assert_msg(strstr(sb.buf, "NOT_IN_TABLE table=bl\n"), "%s", sb.buf);
    ck_assert_msg(strstr(sb.buf, "LOOKUP      table=geo member=\"asn\"\n"), "%s", sb.buf);
    sbuf_free(&sb);
    expr_free(e);
    /* Templates see the tables too. */
    static const char text[] = "${user} is owned by ${lookup('assets', user)}";
    struct expr_src src = {.text = text, .len = strlen(text), .file = "t.yaml", .base_line = 1,
                           .base_col = 1};
    struct expr_tmpl *t = expr_tmpl_compile(&src, &f.env, &f.dl);
    ck_assert_ptr_nonnull(t);
    fx_event(&f);
    sbuf_init(&sb);
    expr_tmpl_render(t, &f.ctx, &sb);
    ck_assert_str_eq(sb.buf, "root is owned by alice");
    sbuf_free(&sb);
    expr_tmpl_free(t);
    fx_free(&f);
    lookup_reg_free(reg);
}
END_TEST

static Suite *expr_suite(void)
{
    Suite *s = suite_create("expr");
    TCase *tc = tcase_create("lexer");
    tcase_add_test(tc, test_lex_tokens);
    tcase_add_test(tc, test_lex_strings);
    suite_add_tcase(s, tc);
    tc = tcase_create("eval");
    tcase_add_loop_test(tc, test_eval_table, 0, (int)CEP_ARRAY_LEN(eval_cases));
    tcase_add_test(tc, test_eval_no_event);
    tcase_add_test(tc, test_eval_bool_and_types);
    suite_add_tcase(s, tc);
    tc = tcase_create("diagnostics");
    tcase_add_loop_test(tc, test_diag_table, 0, (int)CEP_ARRAY_LEN(diag_cases));
    tcase_add_test(tc, test_diag_locate);
    tcase_add_test(tc, test_depth_limit);
    suite_add_tcase(s, tc);
    tc = tcase_create("macros");
    tcase_add_test(tc, test_macros);
    suite_add_tcase(s, tc);
    tc = tcase_create("regex");
    tcase_add_test(tc, test_regex_limit);
    suite_add_tcase(s, tc);
    tc = tcase_create("pattern");
    tcase_add_loop_test(tc, test_pattern_refs, 0, (int)CEP_ARRAY_LEN(pat_cases));
    tcase_add_test(tc, test_pattern_scope);
    suite_add_tcase(s, tc);
    tc = tcase_create("templates");
    tcase_add_loop_test(tc, test_templates, 0, (int)CEP_ARRAY_LEN(tmpl_cases));
    suite_add_tcase(s, tc);
    tc = tcase_create("durations");
    tcase_add_loop_test(tc, test_durations, 0, (int)CEP_ARRAY_LEN(dur_cases));
    tcase_add_loop_test(tc, test_format_duration, 0, (int)CEP_ARRAY_LEN(fmt_dur_cases));
    suite_add_tcase(s, tc);
    tc = tcase_create("names and conjuncts");
    tcase_add_loop_test(tc, test_name_valid, 0, (int)CEP_ARRAY_LEN(name_cases));
    tcase_add_loop_test(tc, test_cmp_const, 0, (int)CEP_ARRAY_LEN(cmp_cases));
    suite_add_tcase(s, tc);
    tc = tcase_create("runtime");
    tcase_add_test(tc, test_rt_scratch);
    tcase_add_test(tc, test_rt_results);
    suite_add_tcase(s, tc);
    tc = tcase_create("lookups");
    tcase_add_loop_test(tc, test_lookup_eval, 0, (int)CEP_ARRAY_LEN(lookup_cases));
    tcase_add_loop_test(tc, test_lookup_diags, 0, (int)CEP_ARRAY_LEN(lookup_diags));
    tcase_add_test(tc, test_lookup_misc);
    suite_add_tcase(s, tc);
    tc = tcase_create("goldens");
    tcase_add_test(tc, test_goldens);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(expr_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
