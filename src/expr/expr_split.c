/* SPDX-License-Identifier: Apache-2.0
 * Conjuncts of a compiled condition, for the rule index (rule_index.c):
 * split `c1 and c2 and ... and cn` into programs that, evaluated in order
 * with expr_eval_bool until one is not true, give the answer of the whole
 * and bump exactly the counters the whole would; compare programs
 * (identical predicates of different rules are evaluated once per event);
 * recognise `field == const`, `field in [...]`, regexes whose matches
 * start with one of a few literals, and conditions that never bump a
 * counter.  Works on bytecode only: the AST is gone by now.
 * Tested by: tests/unit/check_rule_index.c */
#include "cepd/cep_common.h"
#include "expr_int.h"

#include "cepd/hash.h"

#include <string.h>

static bool is_jump(uint8_t op)
{
    return expr_op_fmt(op) == EXPR_OPF_JUMP;
}

/* Does code[start..end) only jump inside itself (to a target in
 * (start, end])?  Then it is a program of its own: the compiler emits
 * structured code, so it starts and ends at stack depth 0 and 1. */
static bool self_contained(const struct expr *e, uint32_t start, uint32_t end)
{
    for (uint32_t k = start; k < end; k++) {
        const struct expr_insn *in = &e->code[k];
        if (is_jump(in->op) && ((uint32_t)in->a <= start || (uint32_t)in->a > end))
            return false;
    }
    return true;
}

/* Whether code[start..end) always leaves a boolean (or null): it ends in
 * an operator that makes one, and no coalesce jumps past that. */
static bool ends_bool(const struct expr *e, uint32_t start, uint32_t end)
{
    for (uint32_t k = start; k < end; k++)
        if (e->code[k].op == EXPR_OP_NOTNULL_JMP)
            return false;
    switch ((enum expr_op)e->code[end - 1].op) {
        case EXPR_OP_TO_BOOL:
        case EXPR_OP_NOT:
        case EXPR_OP_IS_NULL:
        case EXPR_OP_NOT_NULL:
        case EXPR_OP_EQ:
        case EXPR_OP_NE:
        case EXPR_OP_LT:
        case EXPR_OP_LE:
        case EXPR_OP_GT:
        case EXPR_OP_GE:
        case EXPR_OP_IN:
        case EXPR_OP_NOT_IN:
        case EXPR_OP_MATCH:
        case EXPR_OP_NOT_MATCH:
        case EXPR_OP_CONTAINS:
        case EXPR_OP_STARTSWITH:
        case EXPR_OP_ENDSWITH:
        case EXPR_OP_CIDR:
        case EXPR_OP_IN_TABLE:
        case EXPR_OP_NOT_IN_TABLE:
            return true;
        default:
            return false;
    }
}

/* A program of its own for e->code[start..end), followed by TO_BOOL when
 * to_bool, with the constants, regexes, networks and tables it uses copied
 * (regexes are compiled again from their pattern): what each operand
 * refers to is its opcode's operand format (expr_ops.h). */
static struct expr *split_segment(const struct expr *e, uint32_t start, uint32_t end,
                                  bool to_bool)
{
    struct expr *p = cep_calloc(1, sizeof(*p));
    size_t code_cap = 0;
    CEP_GROW(p->code, code_cap, (size_t)(end - start) + 1);
    for (uint32_t k = start; k < end; k++) {
        struct expr_insn in = e->code[k];
        switch (expr_op_fmt(in.op)) {
            case EXPR_OPF_JUMP:
                in.a -= (int32_t)start;
                break;
            case EXPR_OPF_CONST:
                in.a = expr_prog_const_add(p, &e->consts[in.a]);
                break;
            case EXPR_OPF_REGEX: {
                size_t len, err_off;
                char err[128];
                const char *pat = expr_re_pattern(e->res[in.a], &len);
                struct expr_re *re = expr_re_new(pat, len, &err_off, err, sizeof(err));
                CEP_ASSERT(re); /* it compiled once already */
                CEP_GROW(p->res, p->res_cap, (size_t)p->n_res + 1);
                p->res[p->n_res] = re;
                in.a = (int32_t)p->n_res++;
                break;
            }
            case EXPR_OPF_CIDR:
                CEP_GROW(p->cidrs, p->cidrs_cap, (size_t)p->n_cidrs + 1);
                p->cidrs[p->n_cidrs] = e->cidrs[in.a];
                in.a = (int32_t)p->n_cidrs++;
                break;
            case EXPR_OPF_LOOKUP:
                in.a = expr_prog_table_add(p, e->tables[in.a]);
                if (in.c >= 0)
                    in.c = expr_prog_const_add(p, &e->consts[in.c]);
                break;
            case EXPR_OPF_TABLE:
                in.a = expr_prog_table_add(p, e->tables[in.a]);
                break;
            default:
                break;
        }
        p->code[p->n_code++] = in;
    }
    if (to_bool) {
        struct expr_insn tb = {.op = EXPR_OP_TO_BOOL};
        p->code[p->n_code++] = tb;
    }
    p->max_stack = e->max_stack; /* an upper bound: the segment is part of e */
    p->type = EXPR_T_BOOL;
    return p;
}

/* Split condition e into its top-level conjuncts (see expr.h).  A jump of
 * `and` to the end of the program (jumps are threaded, so every `and` of a
 * chain jumps there) separates two conjuncts when the code before it, back
 * to the previous separator, jumps only inside itself; `a or (b and c)`
 * has such a jump too, but its `or` jumps past it, so it stays whole.
 * A conjunct but the last that may leave a non-boolean gets a TO_BOOL:
 * what AND_JMP counted for such an operand, TO_BOOL counts the same way.
 * The last is e's own end: the right operand of `and` already has its
 * TO_BOOL, and a `when` with no `and` has none (expr_eval_bool does not
 * count).  So `x == 1` is the same program wherever it stands. */
size_t expr_split_and(const struct expr *e, struct expr ***out)
{
    struct expr **v = NULL;
    size_t n = 0, cap = 0;
    uint32_t start = 0;
    for (uint32_t j = 0; j < e->n_code; j++) {
        const struct expr_insn *in = &e->code[j];
        if (in->op != EXPR_OP_AND_JMP || (uint32_t)in->a != e->n_code ||
            !self_contained(e, start, j))
            continue;
        CEP_GROW(v, cap, n + 1);
        v[n++] = split_segment(e, start, j, !ends_bool(e, start, j));
        start = j + 1;
    }
    CEP_GROW(v, cap, n + 1);
    v[n++] = split_segment(e, start, e->n_code, false);
    *out = v;
    return n;
}

/* Whether e reads nothing but the current event (and constants, tables):
 * no pattern steps, no aggregate results.  Its value is then the same for
 * every rule that evaluates it on one event. */
bool expr_event_only(const struct expr *e)
{
    for (uint32_t k = 0; k < e->n_code; k++)
        if (e->code[k].op == EXPR_OP_RESULT || expr_op_is_step(e->code[k].op))
            return false;
    return true;
}

/* Equal as constants of the language and in how they print: same type and
 * flags, so 1 and 1.0 (equal under ==, not under str()) differ. */
static bool val_same(const struct val *a, const struct val *b)
{
    if (a->type != b->type || a->flags != b->flags || a->len != b->len)
        return false;
    switch (a->type) {
        case VAL_BOOL:
            return a->u.b == b->u.b;
        case VAL_INT:
            return a->u.i == b->u.i;
        case VAL_FLOAT:
            return memcmp(&a->u.f, &b->u.f, sizeof(a->u.f)) == 0;
        case VAL_STR:
        case VAL_ARR:
        case VAL_OBJ:
            return a->len == 0 || memcmp(a->u.s, b->u.s, a->len) == 0;
        case VAL_LIST:
            for (uint32_t i = 0; i < a->len; i++)
                if (!val_same(&a->u.items[i], &b->u.items[i]))
                    return false;
            return true;
        default:
            return true;
    }
}

static bool cidr_same(const struct expr_cidr *a, const struct expr_cidr *b)
{
    return a->family == b->family && a->bits == b->bits &&
           memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

/* Whether a and b compute the same thing on every event: the same code,
 * with the constants, regex patterns, networks and tables they refer to
 * equal (not their indexes in each program). */
bool expr_same(const struct expr *a, const struct expr *b)
{
    if (a->n_code != b->n_code)
        return false;
    for (uint32_t k = 0; k < a->n_code; k++) {
        const struct expr_insn *x = &a->code[k], *y = &b->code[k];
        if (x->op != y->op)
            return false;
        switch (expr_op_fmt(x->op)) {
            case EXPR_OPF_CONST:
                if (!val_same(&a->consts[x->a], &b->consts[y->a]))
                    return false;
                break;
            case EXPR_OPF_REGEX: {
                size_t lx, ly;
                const char *px = expr_re_pattern(a->res[x->a], &lx);
                const char *py = expr_re_pattern(b->res[y->a], &ly);
                if (lx != ly || memcmp(px, py, lx) != 0)
                    return false;
                break;
            }
            case EXPR_OPF_CIDR:
                if (!cidr_same(&a->cidrs[x->a], &b->cidrs[y->a]))
                    return false;
                break;
            case EXPR_OPF_LOOKUP:
                if (a->tables[x->a] != b->tables[y->a] || x->b != y->b ||
                    (x->c < 0) != (y->c < 0) ||
                    (x->c >= 0 && !val_same(&a->consts[x->c], &b->consts[y->c])))
                    return false;
                break;
            case EXPR_OPF_TABLE:
                if (a->tables[x->a] != b->tables[y->a])
                    return false;
                break;
            default:
                if (x->a != y->a || x->b != y->b || x->c != y->c)
                    return false;
        }
    }
    return true;
}

/* A constant's hash, equal for constants val_same finds the same: type,
 * length and scalar content (a list's items by type and length only, so
 * no recursion on nested lists). */
static uint64_t val_hash(const struct val *v, uint64_t h)
{
    uint64_t w[2] = {v->type | (uint64_t)v->flags << 8 | (uint64_t)v->len << 32, 0};
    switch (v->type) {
        case VAL_BOOL:
            w[1] = v->u.b;
            break;
        case VAL_INT:
            w[1] = (uint64_t)v->u.i;
            break;
        case VAL_FLOAT:
            memcpy(&w[1], &v->u.f, sizeof(w[1]));
            break;
        case VAL_STR:
        case VAL_ARR:
        case VAL_OBJ:
            h = cep_hash64(v->u.s, v->len, h);
            break;
        case VAL_LIST:
            for (uint32_t i = 0; i < v->len; i++) {
                const struct val *it = &v->u.items[i];
                h = it->type == VAL_LIST ? cep_hash64(&it->len, sizeof(it->len), h)
                                         : val_hash(it, h);
            }
            break;
        default:
            break;
    }
    return cep_hash64(w, sizeof(w), h);
}

/* A hash that agrees with expr_same (equal programs hash equal): the
 * opcodes, the plain operands and the constants' content. */
uint64_t expr_shape_hash(const struct expr *e)
{
    uint64_t h = cep_hash64(&e->n_code, sizeof(e->n_code), 0);
    for (uint32_t k = 0; k < e->n_code; k++) {
        const struct expr_insn *in = &e->code[k];
        int32_t w[2] = {in->op, 0};
        if (in->op == EXPR_OP_FIELD || is_jump(in->op))
            w[1] = in->a;
        h = cep_hash64(w, sizeof(w), h);
        if (expr_op_fmt(in->op) == EXPR_OPF_CONST)
            h = val_hash(&e->consts[in->a], h);
    }
    return h;
}

/* e without the TO_BOOLs at its end (conjuncts may end in one). */
static uint32_t core_len(const struct expr *e)
{
    uint32_t n = e->n_code;
    while (n > 1 && e->code[n - 1].op == EXPR_OP_TO_BOOL)
        n--;
    return n;
}

static bool cmp_of(uint8_t op, enum expr_cmp *out)
{
    switch ((enum expr_op)op) {
        case EXPR_OP_EQ:
            *out = EXPR_CMP_EQ;
            return true;
        case EXPR_OP_NE:
            *out = EXPR_CMP_NE;
            return true;
        case EXPR_OP_LT:
            *out = EXPR_CMP_LT;
            return true;
        case EXPR_OP_LE:
            *out = EXPR_CMP_LE;
            return true;
        case EXPR_OP_GT:
            *out = EXPR_CMP_GT;
            return true;
        case EXPR_OP_GE:
            *out = EXPR_CMP_GE;
            return true;
        default:
            return false;
    }
}

/* See expr.h: `field OP const` or `const OP field`. */
int expr_cmp_const(const struct expr *e, enum expr_cmp *op, const struct val **c)
{
    const struct expr_insn *in = e->code;
    if (core_len(e) != 3 || !cmp_of(in[2].op, op))
        return -1;
    if (in[0].op == EXPR_OP_FIELD && in[1].op == EXPR_OP_CONST) {
        *c = &e->consts[in[1].a];
        return in[0].a;
    }
    if (in[0].op == EXPR_OP_CONST && in[1].op == EXPR_OP_FIELD) {
        static const enum expr_cmp mirror[EXPR_CMP_COUNT] = {
                [EXPR_CMP_EQ] = EXPR_CMP_EQ, [EXPR_CMP_NE] = EXPR_CMP_NE,
                [EXPR_CMP_LT] = EXPR_CMP_GT, [EXPR_CMP_LE] = EXPR_CMP_GE,
                [EXPR_CMP_GT] = EXPR_CMP_LT, [EXPR_CMP_GE] = EXPR_CMP_LE,
        };
        *op = mirror[*op];
        *c = &e->consts[in[0].a];
        return in[1].a;
    }
    return -1;
}

/* See expr.h: `field == const`, `const == field`, `field in [...]`. */
int expr_eq_const(const struct expr *e, const struct val **c)
{
    const struct expr_insn *in = e->code;
    enum expr_cmp op;
    int slot = expr_cmp_const(e, &op, c);
    if (slot >= 0)
        return op == EXPR_CMP_EQ ? slot : -1;
    if (core_len(e) == 2 && in[0].op == EXPR_OP_FIELD && in[1].op == EXPR_OP_IN) {
        *c = &e->consts[in[1].a];
        return in[0].a;
    }
    return -1;
}

/* The length of the run of literal bytes at p[0..n): ASCII, no
 * metacharacter.  The regex compiles with PCRE2_UTF only, so these match
 * themselves, case-sensitively. */
static size_t lit_run(const char *p, size_t n)
{
    size_t k = 0;
    while (k < n && strchr("\\^$.[]()*+?{}|#", p[k]) == NULL && (unsigned char)p[k] < 0x80)
        k++;
    return k;
}

static bool is_quantifier(char c)
{
    return strchr("*?{+", c) != NULL;
}

/* See expr.h.  Two shapes qualify.  `^lit...` with no alternation
 * anywhere (a literal followed by a quantifier is optional, so it is left
 * out).  `^(a|b|...)...` or `^(?:a|b|...)...`: a group of non-empty
 * literal alternatives, not quantified, and no `|` after it (a top-level
 * alternative could match anywhere).  `^` is the start of the subject:
 * nothing before it can set multiline mode. */
int expr_match_prefixes(const struct expr *e, struct expr_lit *lits, size_t max, size_t *n_lits)
{
    const struct expr_insn *in = e->code;
    if (core_len(e) != 2 || in[0].op != EXPR_OP_FIELD || in[1].op != EXPR_OP_MATCH || !max)
        return -1;
    size_t n;
    const char *p = expr_re_pattern(e->res[in[1].a], &n);
    if (n < 2 || p[0] != '^')
        return -1;
    if (p[1] != '(') {
        if (memchr(p, '|', n))
            return -1;
        size_t k = 1 + lit_run(p + 1, n - 1);
        if (k < n && is_quantifier(p[k]))
            k--; /* the last literal is quantified */
        if (k <= 1)
            return -1;
        lits[0].s = p + 1;
        lits[0].len = k - 1;
        *n_lits = 1;
        return in[0].a;
    }
    size_t k = n > 3 && p[2] == '?' && p[3] == ':' ? 4 : 2;
    size_t m = 0;
    for (;;) {
        size_t len = lit_run(p + k, n - k);
        if (!len || m == max || k + len == n)
            return -1;
        lits[m].s = p + k;
        lits[m].len = len;
        m++;
        k += len;
        if (p[k] == ')')
            break;
        if (p[k] != '|')
            return -1;
        k++;
    }
    k++;
    if ((k < n && is_quantifier(p[k])) || memchr(p + k, '|', n - k))
        return -1;
    *n_lits = m;
    return in[0].a;
}

/* See expr.h: exists(f), f == null, f != null, f in [...], f not in [...]. */
bool expr_quiet(const struct expr *e)
{
    const struct expr_insn *in = e->code;
    if (core_len(e) != 2 || in[0].op != EXPR_OP_FIELD)
        return false;
    return in[1].op == EXPR_OP_IS_NULL || in[1].op == EXPR_OP_NOT_NULL ||
           in[1].op == EXPR_OP_IN || in[1].op == EXPR_OP_NOT_IN;
}
