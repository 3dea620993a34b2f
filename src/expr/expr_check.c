/* SPDX-License-Identifier: Apache-2.0
 * The resolver and type checker.  It rewrites PATH nodes into fields,
 * aggregate results, pattern-step references or expanded macros, folds
 * list literals into constants, and reports the type errors visible at
 * compile time.  An erroneous node is poisoned (EXPR_NK_ERROR, type any) and
 * checking continues, so one pass reports every error.  Macro expansion
 * keeps an explicit bounded stack of the macros being expanded, which is
 * also how cycles are found.
 * Tested by: tests/unit/check_expr.c (types, macros, steps, lists) */
#include "cepd/cep_common.h"
#include "expr_int.h"

#include "cepd/sbuf.h"

#include <string.h>

struct checker {
    const struct expr_env *env;
    struct expr_arena *arena;
    struct diag_list *dl;
    bool failed;
    uint32_t n_macros;
    struct expr_seg macros[EXPR_MAX_MACRO_NEST]; /* names being expanded */
};

static const char *const type_names[EXPR_T_COUNT] = {
    [EXPR_T_ANY] = "any",      [EXPR_T_NULL] = "null",  [EXPR_T_BOOL] = "boolean",
    [EXPR_T_NUM] = "number",   [EXPR_T_STR] = "string", [EXPR_T_LIST] = "list",
};

/* The type as diagnostics name it ("string", "number"...). */
const char *expr_type_name(enum expr_type t)
{
    return t < EXPR_T_COUNT ? type_names[t] : "?";
}

static struct expr_node *check(struct checker *c, struct expr_node *n, uint32_t depth);

static struct expr_node *poison(struct checker *c, struct expr_node *n)
{
    c->failed = true;
    n->kind = EXPR_NK_ERROR;
    n->type = EXPR_T_ANY;
    return n;
}

static enum expr_type const_type(const struct val *v)
{
    switch (v->type) {
        case VAL_NULL:
            return EXPR_T_NULL;
        case VAL_BOOL:
            return EXPR_T_BOOL;
        case VAL_INT:
        case VAL_FLOAT:
            return EXPR_T_NUM;
        case VAL_STR:
            return EXPR_T_STR;
        case VAL_LIST:
            return EXPR_T_LIST;
        default:
            return EXPR_T_ANY;
    }
}

/* Known: a type the checker can hold an operand to (not any, not null). */
static bool known(enum expr_type t)
{
    return t != EXPR_T_ANY && t != EXPR_T_NULL;
}

static bool seg_is(const struct expr_seg *s, const char *word)
{
    return !s->quoted && strlen(word) == s->len && memcmp(s->s, word, s->len) == 0;
}

static int field_slot(struct checker *c, struct expr_node *n, const struct expr_seg *segs,
                      uint32_t k)
{
    if (!c->env->schema) {
        expr_diag(c->dl, n->src, n->off, "event fields cannot be used here");
        c->failed = true;
        return -1;
    }
    struct evt_path_seg ps[EXPR_MAX_PATH_SEGS];
    for (uint32_t i = 0; i < k; i++) {
        ps[i].s = segs[i].s;
        ps[i].len = segs[i].len;
    }
    return evt_schema_slot(c->env->schema, ps, k);
}

static bool step_visible(struct checker *c, struct expr_node *n, int step,
                         const struct expr_seg *name)
{
    if (c->env->current_step >= 0 && step > c->env->current_step) {
        expr_diag(c->dl, n->src, n->off, "step '%.*s' is referenced before it can match",
                  (int)name->len, name->s);
        c->failed = true;
        return false;
    }
    return true;
}

/* STEP.first.F, STEP.last.F, STEP[i].F, STEP.F (= STEP.last.F). */
static struct expr_node *resolve_step(struct checker *c, struct expr_node *n, int step)
{
    const struct expr_seg *name = &n->segs[0];
    if (!step_visible(c, n, step, name))
        return poison(c, n);
    int64_t sel = -1;
    uint32_t first_field = 1;
    if (n->has_index) {
        sel = n->index;
    } else if (n->n_segs >= 2 && seg_is(&n->segs[1], "first")) {
        sel = 0;
        first_field = 2;
    } else if (n->n_segs >= 2 && seg_is(&n->segs[1], "last")) {
        first_field = 2;
    }
    if (sel < INT32_MIN || sel > INT32_MAX) {
        expr_diag(c->dl, n->src, n->off, "step index out of range");
        return poison(c, n);
    }
    if (first_field >= n->n_segs) {
        if (n->n_segs == 1 && !n->has_index)
            expr_diag(c->dl, n->src, n->off,
                      "step '%.*s' needs a field (%.*s.last.FIELD, %.*s[i].FIELD) or count(%.*s)",
                      (int)name->len, name->s, (int)name->len, name->s, (int)name->len,
                      name->s, (int)name->len, name->s);
        else
            expr_diag(c->dl, n->src, n->off, "expected a field after the step reference");
        return poison(c, n);
    }
    int slot = field_slot(c, n, n->segs + first_field, n->n_segs - first_field);
    if (slot < 0)
        return poison(c, n);
    n->kind = EXPR_NK_STEP_FIELD;
    n->step = step;
    n->index = sel;
    n->slot = slot;
    n->type = EXPR_T_ANY;
    return n;
}

static struct expr_node *expand_macro(struct checker *c, struct expr_node *n,
                                      const struct expr_macro *m, uint32_t depth)
{
    const struct expr_seg *name = &n->segs[0];
    for (uint32_t i = 0; i < c->n_macros; i++) {
        if (c->macros[i].len != name->len || memcmp(c->macros[i].s, name->s, name->len) != 0)
            continue;
        struct sbuf sb;
        sbuf_init(&sb);
        for (uint32_t j = i; j < c->n_macros; j++)
            sbuf_printf(&sb, "%.*s -> ", (int)c->macros[j].len, c->macros[j].s);
        sbuf_printf(&sb, "%.*s", (int)name->len, name->s);
        expr_diag(c->dl, n->src, n->off, "macro cycle: %s", sb.buf);
        sbuf_free(&sb);
        return poison(c, n);
    }
    if (c->n_macros == EXPR_MAX_MACRO_NEST) {
        expr_diag(c->dl, n->src, n->off, "macros nested too deeply (limit %d)",
                  EXPR_MAX_MACRO_NEST);
        return poison(c, n);
    }
    /* The body keeps its own source, so errors in it point into the macro's
     * definition; the copy lives as long as the AST. */
    struct expr_src *ms = expr_arena_alloc(c->arena, sizeof(*ms));
    *ms = m->src;
    struct expr_node *body = expr_parse(ms, 0, ms->len, false, NULL, c->arena, c->dl);
    if (!body)
        return poison(c, n);
    if (depth + body->depth > EXPR_MAX_DEPTH) {
        expr_diag(c->dl, n->src, n->off,
                  "expression nested too deeply through macro '%.*s' (limit %d)",
                  (int)name->len, name->s, EXPR_MAX_DEPTH);
        return poison(c, n);
    }
    c->macros[c->n_macros++] = *name;
    body = check(c, body, depth);
    c->n_macros--;
    return body;
}

static struct expr_node *resolve_path(struct checker *c, struct expr_node *n, uint32_t depth)
{
    const struct expr_env *env = c->env;
    const struct expr_seg *s0 = &n->segs[0];
    bool single = n->n_segs == 1 && !n->has_index;
    int step = env->find_step ? env->find_step(env->ud, s0->s, s0->len) : -1;
    if (step >= 0)
        return resolve_step(c, n, step);
    if (n->has_index) {
        expr_diag(c->dl, n->src, n->off, "'%.*s' is not a pattern step; only steps take [i]",
                  (int)s0->len, s0->s);
        return poison(c, n);
    }
    if (single && env->find_result) {
        int r = env->find_result(env->ud, s0->s, s0->len);
        if (r >= 0) {
            n->kind = EXPR_NK_RESULT;
            n->result = r;
            n->type = EXPR_T_ANY;
            return n;
        }
    }
    struct expr_macro m;
    if (single && !s0->quoted && env->find_macro && env->find_macro(env->ud, s0->s, s0->len, &m))
        return expand_macro(c, n, &m, depth);
    int slot = field_slot(c, n, n->segs, n->n_segs);
    if (slot < 0)
        return poison(c, n);
    n->kind = EXPR_NK_FIELD;
    n->slot = slot;
    n->type = EXPR_T_ANY;
    return n;
}

static struct expr_node *fold_list(struct checker *c, struct expr_node *n, uint32_t depth)
{
    struct val *items = expr_arena_alloc(c->arena, sizeof(*items) * (n->n_kids ? n->n_kids : 1));
    bool ok = true;
    for (uint32_t i = 0; i < n->n_kids; i++) {
        struct expr_node *k = check(c, n->kids[i], depth + 1);
        if (k->kind == EXPR_NK_ERROR) {
            ok = false;
            continue;
        }
        if (k->kind != EXPR_NK_CONST || k->v.type == VAL_LIST) {
            expr_diag(c->dl, k->src, k->off, "list items must be literals");
            c->failed = true;
            ok = false;
            continue;
        }
        items[i] = k->v;
    }
    if (!ok)
        return poison(c, n);
    n->kind = EXPR_NK_CONST;
    n->v.type = VAL_LIST;
    n->v.len = n->n_kids;
    n->v.u.items = items;
    n->type = EXPR_T_LIST;
    return n;
}

/* Suggest a close name among the registry's tables (or a table's CSV
 * columns) for an unknown one; NULL if none is close. */
static const char *lookup_suggest(const struct lookup_reg *reg, const struct lookup_table *t,
                                  const char *name)
{
    const char *names[64];
    size_t k = 0;
    size_t n = t ? lookup_table_n_columns(t) : lookup_reg_count(reg);
    for (size_t i = 0; i < n && k < CEP_ARRAY_LEN(names); i++) {
        names[k++] = t ? lookup_table_column_name(t, i)
                       : lookup_table_name(lookup_reg_table(reg, i));
    }
    return diag_suggest(name, names, k);
}

/* The right operand of `in`: a list literal, a list name, or a macro whose
 * body is one of those. */
static struct expr_node *check_list_operand(struct checker *c, struct expr_node *r,
                                            uint32_t depth)
{
    const struct expr_env *env = c->env;
    if (r->kind == EXPR_NK_PATH && r->n_segs == 1 && !r->has_index) {
        const struct expr_seg *s = &r->segs[0];
        const struct val *l = env->find_list ? env->find_list(env->ud, s->s, s->len) : NULL;
        const struct lookup_table *t = lookup_reg_find(env->lookups, s->s, s->len);
        if (t) {
            struct expr_macro m;
            bool macro = env->find_macro && env->find_macro(env->ud, s->s, s->len, &m);
            if (l || macro) {
                expr_diag(c->dl, r->src, r->off,
                          "'%.*s' names both a lookup table and a %s; rename one", (int)s->len,
                          s->s, l ? "list" : "macro");
                return poison(c, r);
            }
            r->kind = EXPR_NK_TABLE;
            r->table = t;
            r->type = EXPR_T_ANY;
            return r;
        }
        if (l) {
            r->kind = EXPR_NK_CONST;
            r->v = *l;
            r->type = EXPR_T_LIST;
            return r;
        }
        struct expr_macro m;
        if (!(env->find_macro && !s->quoted && env->find_macro(env->ud, s->s, s->len, &m))) {
            if (!lookup_reg_count(env->lookups)) {
                expr_diag(c->dl, r->src, r->off, "unknown list '%.*s'", (int)s->len, s->s);
                return poison(c, r);
            }
            char *name = cep_strndup(s->s, s->len);
            const char *sug = lookup_suggest(env->lookups, NULL, name);
            expr_diag(c->dl, r->src, r->off, "unknown list or lookup table '%s'%s%s%s", name,
                      sug ? " (did you mean '" : "", sug ? sug : "", sug ? "'?)" : "");
            cep_free(name);
            return poison(c, r);
        }
    }
    r = check(c, r, depth);
    if (r->kind == EXPR_NK_ERROR)
        return r;
    if (r->kind != EXPR_NK_CONST || r->v.type != VAL_LIST) {
        expr_diag(c->dl, r->src, r->off, "'in' needs a list literal or a list name");
        return poison(c, r);
    }
    return r;
}

static void want_bool(struct checker *c, const struct expr_node *k, const char *op)
{
    if (known(k->type) && k->type != EXPR_T_BOOL) {
        expr_diag(c->dl, k->src, k->off, "'%s' needs a boolean, not %s", op,
                  expr_type_name(k->type));
        c->failed = true;
    }
}

static const char *op_text(enum expr_tok_kind k)
{
    switch (k) {
        case EXPR_TOK_OR:
            return "or";
        case EXPR_TOK_AND:
            return "and";
        case EXPR_TOK_NOT:
            return "not";
        case EXPR_TOK_EQ:
            return "==";
        case EXPR_TOK_NE:
            return "!=";
        case EXPR_TOK_LT:
            return "<";
        case EXPR_TOK_LE:
            return "<=";
        case EXPR_TOK_GT:
            return ">";
        case EXPR_TOK_GE:
            return ">=";
        case EXPR_TOK_MATCH:
            return "=~";
        case EXPR_TOK_NMATCH:
            return "!~";
        case EXPR_TOK_CONTAINS:
            return "contains";
        case EXPR_TOK_STARTSWITH:
            return "startswith";
        case EXPR_TOK_ENDSWITH:
            return "endswith";
        case EXPR_TOK_PLUS:
            return "+";
        case EXPR_TOK_MINUS:
            return "-";
        case EXPR_TOK_STAR:
            return "*";
        case EXPR_TOK_SLASH:
            return "/";
        case EXPR_TOK_PERCENT:
            return "%";
        default:
            return expr_tok_name(k);
    }
}

static struct expr_node *check_binary(struct checker *c, struct expr_node *n, uint32_t depth)
{
    enum expr_tok_kind op = n->op;
    n->kids[0] = check(c, n->kids[0], depth + 1);
    if (op == EXPR_TOK_IN || op == EXPR_TOK_NOT_IN)
        n->kids[1] = check_list_operand(c, n->kids[1], depth + 1);
    else
        n->kids[1] = check(c, n->kids[1], depth + 1);
    struct expr_node *l = n->kids[0], *r = n->kids[1];
    enum expr_type lt = l->type, rt = r->type;
    n->type = EXPR_T_BOOL;
    switch (op) {
        case EXPR_TOK_AND:
        case EXPR_TOK_OR:
            want_bool(c, l, op_text(op));
            want_bool(c, r, op_text(op));
            break;
        case EXPR_TOK_EQ:
        case EXPR_TOK_NE:
            if (known(lt) && known(rt) && lt != rt) {
                expr_diag(c->dl, n->src, n->off, "cannot compare %s with %s", expr_type_name(lt),
                          expr_type_name(rt));
                return poison(c, n);
            }
            break;
        case EXPR_TOK_LT:
        case EXPR_TOK_LE:
        case EXPR_TOK_GT:
        case EXPR_TOK_GE:
            if (lt == EXPR_T_NULL || rt == EXPR_T_NULL) {
                expr_diag(c->dl, n->src, n->off,
                          "ordering with null is always false; use == null or != null");
                return poison(c, n);
            }
            if (known(lt) && known(rt) && lt != rt) {
                expr_diag(c->dl, n->src, n->off, "cannot compare %s with %s", expr_type_name(lt),
                          expr_type_name(rt));
                return poison(c, n);
            }
            if ((known(lt) && lt != EXPR_T_NUM && lt != EXPR_T_STR) ||
                (known(rt) && rt != EXPR_T_NUM && rt != EXPR_T_STR)) {
                expr_diag(c->dl, n->src, n->off, "cannot order %s values",
                          expr_type_name(known(lt) ? lt : rt));
                return poison(c, n);
            }
            break;
        case EXPR_TOK_IN:
        case EXPR_TOK_NOT_IN:
            if (lt == EXPR_T_LIST) {
                expr_diag(c->dl, l->src, l->off, "the left side of '%s' cannot be a list",
                          op == EXPR_TOK_IN ? "in" : "not in");
                return poison(c, n);
            }
            if (r->kind == EXPR_NK_TABLE && known(lt) && lt != EXPR_T_STR &&
                (lt != EXPR_T_NUM || lookup_table_type(r->table) == LOOKUP_CIDR)) {
                bool cidr = lookup_table_type(r->table) == LOOKUP_CIDR;
                expr_diag(c->dl, l->src, l->off, "'%s %s' needs %s, not %s",
                          op == EXPR_TOK_IN ? "in" : "not in", lookup_table_name(r->table),
                          cidr ? "an IP address string" : "a string or integer key",
                          expr_type_name(lt));
                return poison(c, n);
            }
            break;
        case EXPR_TOK_MATCH:
        case EXPR_TOK_NMATCH:
            if (known(lt) && lt != EXPR_T_STR) {
                expr_diag(c->dl, n->src, n->off, "'%s' needs a string on the left, not %s",
                          op_text(op), expr_type_name(lt));
                return poison(c, n);
            }
            if (r->kind != EXPR_NK_ERROR && (r->kind != EXPR_NK_CONST || r->v.type != VAL_STR)) {
                expr_diag(c->dl, r->src, r->off, "the right side of '%s' must be a string literal",
                          op_text(op));
                return poison(c, n);
            }
            break;
        case EXPR_TOK_CONTAINS:
        case EXPR_TOK_STARTSWITH:
        case EXPR_TOK_ENDSWITH:
            if ((known(lt) && lt != EXPR_T_STR) || (known(rt) && rt != EXPR_T_STR)) {
                expr_diag(c->dl, n->src, n->off, "'%s' needs strings, not %s", op_text(op),
                          expr_type_name(known(lt) && lt != EXPR_T_STR ? lt : rt));
                return poison(c, n);
            }
            break;
        default: /* arithmetic */
            n->type = EXPR_T_NUM;
            if ((known(lt) && lt != EXPR_T_NUM) || (known(rt) && rt != EXPR_T_NUM)) {
                expr_diag(c->dl, n->src, n->off, "cannot apply '%s' to %s", op_text(op),
                          expr_type_name(known(lt) && lt != EXPR_T_NUM ? lt : rt));
                return poison(c, n);
            }
            break;
    }
    if (l->kind == EXPR_NK_ERROR || r->kind == EXPR_NK_ERROR)
        return poison(c, n);
    return n;
}

static const char *mask_text(unsigned mask)
{
    bool str = mask & EXPR_TM(EXPR_T_STR), num = mask & EXPR_TM(EXPR_T_NUM);
    bool list = mask & EXPR_TM(EXPR_T_LIST);
    if (str && list)
        return "a string or a list";
    if (str && num)
        return "a string, number or boolean";
    return str ? "a string" : num ? "a number" : "something else";
}

/* The single argument of count/sum/avg/min/max: a step name (count) or
 * STEP.FIELD (the others). */
static struct expr_node *check_step_call(struct checker *c, struct expr_node *n,
                                         const struct expr_builtin *b)
{
    bool is_count = strcmp(b->name, "count") == 0;
    struct expr_node *a = n->kids[0];
    const struct expr_env *env = c->env;
    int step = -1;
    if (a->kind == EXPR_NK_PATH && !a->has_index && env->find_step)
        step = env->find_step(env->ud, a->segs[0].s, a->segs[0].len);
    bool shape = is_count ? a->n_segs == 1 : a->n_segs >= 2 && !seg_is(&a->segs[1], "first") &&
                                                      !seg_is(&a->segs[1], "last");
    if (step < 0 || !shape) {
        if (is_count)
            expr_diag(c->dl, a->src, a->off, "count() takes a pattern step name");
        else
            expr_diag(c->dl, a->src, a->off, "%s() takes STEP.FIELD of a pattern step", b->name);
        return poison(c, n);
    }
    if (!step_visible(c, a, step, &a->segs[0]))
        return poison(c, n);
    n->step = step;
    n->type = EXPR_T_NUM;
    if (is_count) {
        n->kind = EXPR_NK_STEP_COUNT;
        return n;
    }
    int slot = field_slot(c, a, a->segs + 1, a->n_segs - 1);
    if (slot < 0)
        return poison(c, n);
    n->kind = EXPR_NK_STEP_AGG;
    n->slot = slot;
    n->agg = b->name[1] == 'u' ? EXPR_OP_STEP_SUM
             : b->name[1] == 'v' ? EXPR_OP_STEP_AVG
             : b->name[1] == 'i' ? EXPR_OP_STEP_MIN
                                 : EXPR_OP_STEP_MAX;
    return n;
}

/* lookup("table", key[, "column"]): the table and column are resolved
 * here, so the VM only probes. */
static struct expr_node *check_lookup_call(struct checker *c, struct expr_node *n,
                                           uint32_t depth)
{
    const struct lookup_reg *reg = c->env->lookups;
    bool bad = false;
    for (uint32_t i = 0; i < n->n_kids; i++) {
        n->kids[i] = check(c, n->kids[i], depth + 1);
        bad = bad || n->kids[i]->kind == EXPR_NK_ERROR;
    }
    if (bad)
        return poison(c, n);
    const struct expr_node *tn = n->kids[0], *key = n->kids[1];
    if (tn->kind != EXPR_NK_CONST || tn->v.type != VAL_STR) {
        expr_diag(c->dl, tn->src, tn->off, "lookup() takes the table name as a string literal");
        return poison(c, n);
    }
    char *name = cep_strndup(tn->v.u.s, tn->v.len);
    const struct lookup_table *t = lookup_reg_find(reg, name, tn->v.len);
    if (!t) {
        const char *sug = lookup_suggest(reg, NULL, name);
        if (!lookup_reg_count(reg))
            expr_diag(c->dl, tn->src, tn->off,
                      "unknown lookup table '%s' (no lookups are configured)", name);
        else if (sug)
            expr_diag(c->dl, tn->src, tn->off, "unknown lookup table '%s' (did you mean '%s'?)",
                      name, sug);
        else
            expr_diag(c->dl, tn->src, tn->off, "unknown lookup table '%s'", name);
        cep_free(name);
        return poison(c, n);
    }
    cep_free(name);
    if (lookup_table_type(t) == LOOKUP_CIDR) {
        expr_diag(c->dl, tn->src, tn->off,
                  "'%s' is a CIDR set, which has no values; test membership with 'ip in %s'",
                  lookup_table_name(t), lookup_table_name(t));
        return poison(c, n);
    }
    if (known(key->type) && key->type != EXPR_T_STR && key->type != EXPR_T_NUM &&
        key->type != EXPR_T_NULL) {
        expr_diag(c->dl, key->src, key->off, "lookup() keys are strings or integers, not %s",
                  expr_type_name(key->type));
        return poison(c, n);
    }
    n->table = t;
    n->column = LOOKUP_VALUE;
    n->member = NULL;
    n->type = EXPR_T_ANY;
    if (n->n_kids < 3)
        return n;
    const struct expr_node *col = n->kids[2];
    if (col->kind != EXPR_NK_CONST || col->v.type != VAL_STR) {
        expr_diag(c->dl, col->src, col->off, "lookup() takes the column as a string literal");
        return poison(c, n);
    }
    if (lookup_table_type(t) == LOOKUP_JSON) {
        n->member = col->v.u.s;
        n->member_len = col->v.len;
        return n;
    }
    int ci = lookup_table_column(t, col->v.u.s, col->v.len);
    if (ci < 0) {
        char *cn = cep_strndup(col->v.u.s, col->v.len);
        const char *sug = lookup_suggest(reg, t, cn);
        if (sug)
            expr_diag(c->dl, col->src, col->off,
                      "lookup table '%s' has no column '%s' (did you mean '%s'?)",
                      lookup_table_name(t), cn, sug);
        else
            expr_diag(c->dl, col->src, col->off, "lookup table '%s' has no column '%s'",
                      lookup_table_name(t), cn);
        cep_free(cn);
        return poison(c, n);
    }
    n->column = ci;
    n->type = EXPR_T_STR;
    return n;
}

static struct expr_node *check_call(struct checker *c, struct expr_node *n, uint32_t depth)
{
    int id = expr_builtin_find(n->name, n->name_len);
    if (id < 0) {
        char *name = cep_strndup(n->name, n->name_len);
        const char *names[64];
        size_t k = 0;
        for (size_t i = 0; i < expr_n_builtins && k < CEP_ARRAY_LEN(names); i++)
            names[k++] = expr_builtins[i].name;
        const char *sug = diag_suggest(name, names, k);
        if (sug)
            expr_diag(c->dl, n->src, n->off, "unknown function '%s' (did you mean '%s'?)", name,
                      sug);
        else
            expr_diag(c->dl, n->src, n->off, "unknown function '%s'", name);
        cep_free(name);
        for (uint32_t i = 0; i < n->n_kids; i++)
            n->kids[i] = check(c, n->kids[i], depth + 1);
        return poison(c, n);
    }
    const struct expr_builtin *b = &expr_builtins[id];
    n->result = id;
    if (n->n_kids < b->min_args || (b->max_args != EXPR_VARARGS && n->n_kids > b->max_args)) {
        if (b->min_args == b->max_args)
            expr_diag(c->dl, n->src, n->off, "%s() takes %u argument%s, got %u", b->name,
                      b->min_args, b->min_args == 1 ? "" : "s", n->n_kids);
        else
            expr_diag(c->dl, n->src, n->off, "%s() takes at least %u arguments, got %u", b->name,
                      b->min_args, n->n_kids);
        return poison(c, n);
    }
    if (b->kind == EXPR_BK_STEP)
        return check_step_call(c, n, b);
    if (b->kind == EXPR_BK_LOOKUP)
        return check_lookup_call(c, n, depth);
    bool bad = false;
    enum expr_type common = EXPR_T_COUNT;
    for (uint32_t i = 0; i < n->n_kids; i++) {
        struct expr_node *a = check(c, n->kids[i], depth + 1);
        n->kids[i] = a;
        if (a->kind == EXPR_NK_ERROR) {
            bad = true;
            continue;
        }
        unsigned mask = i < 3 ? b->arg_types[i] : 0;
        if (!mask)
            mask = EXPR_TM_ANY; /* unspecified arguments take anything */
        if (known(a->type) && !(mask & EXPR_TM(a->type))) {
            expr_diag(c->dl, a->src, a->off, "%s() argument %u must be %s, not %s", b->name,
                      i + 1, mask_text(mask), expr_type_name(a->type));
            bad = true;
        }
        if (b->kind == EXPR_BK_EXISTS && a->kind != EXPR_NK_FIELD &&
            a->kind != EXPR_NK_STEP_FIELD && a->kind != EXPR_NK_RESULT) {
            expr_diag(c->dl, a->src, a->off, "exists() takes a field");
            bad = true;
        }
        if (a->type != EXPR_T_NULL)
            common = common == EXPR_T_COUNT || common == a->type ? a->type : EXPR_T_ANY;
    }
    if (!bad && strcmp(b->name, "cidr_match") == 0 && n->kids[1]->kind == EXPR_NK_CONST &&
        n->kids[1]->v.type == VAL_STR) {
        struct expr_cidr cidr;
        const struct val *v = &n->kids[1]->v;
        if (expr_cidr_parse(v->u.s, v->len, &cidr) != CEP_OK) {
            expr_diag(c->dl, n->kids[1]->src, n->kids[1]->off, "invalid network '%.*s'",
                      (int)v->len, v->u.s);
            bad = true;
        }
    }
    if (bad)
        return poison(c, n);
    n->type = b->kind == EXPR_BK_COALESCE ? (common == EXPR_T_COUNT ? EXPR_T_NULL : common)
                                          : b->ret;
    return n;
}

static struct expr_node *check(struct checker *c, struct expr_node *n, uint32_t depth)
{
    if (depth > EXPR_MAX_DEPTH) {
        expr_diag(c->dl, n->src, n->off, "expression nested too deeply (limit %d)",
                  EXPR_MAX_DEPTH);
        return poison(c, n);
    }
    switch (n->kind) {
        case EXPR_NK_CONST:
            n->type = const_type(&n->v);
            return n;
        case EXPR_NK_LIST:
            return fold_list(c, n, depth);
        case EXPR_NK_PATH:
            return resolve_path(c, n, depth);
        case EXPR_NK_UNARY:
            n->kids[0] = check(c, n->kids[0], depth + 1);
            if (n->op == EXPR_TOK_NOT) {
                want_bool(c, n->kids[0], "not");
                n->type = EXPR_T_BOOL;
            } else {
                enum expr_type t = n->kids[0]->type;
                n->type = EXPR_T_NUM;
                if (known(t) && t != EXPR_T_NUM) {
                    expr_diag(c->dl, n->src, n->off, "cannot negate %s", expr_type_name(t));
                    return poison(c, n);
                }
            }
            if (n->kids[0]->kind == EXPR_NK_ERROR)
                return poison(c, n);
            return n;
        case EXPR_NK_BINARY:
            return check_binary(c, n, depth);
        case EXPR_NK_CALL:
            return check_call(c, n, depth);
        default:
            return n; /* already resolved */
    }
}

/* Resolve every name in the tree rooted at root through env and check the
 * types known at compile time.  Returns the (possibly replaced) root, or
 * NULL when at least one error was added to dl.  AST nodes and macro
 * bodies are allocated in arena. */
struct expr_node *expr_check(struct expr_node *root, const struct expr_env *env,
                             struct expr_arena *arena, struct diag_list *dl)
{
    struct checker c = {.env = env, .arena = arena, .dl = dl};
    root = check(&c, root, 1);
    return c.failed ? NULL : root;
}
