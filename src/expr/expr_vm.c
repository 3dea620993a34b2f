/* SPDX-License-Identifier: Apache-2.0
 * The expression VM: runs a program over a value stack held in a reusable
 * struct expr_rt.  Evaluation never fails and never allocates once rt has
 * grown to the largest program and string sizes seen.  Null and type rules:
 * a comparison, membership or match with a null operand is false (only
 * IS_NULL/NOT_NULL see null), arithmetic with null is null, and `not x`,
 * `and`, `or` treat anything but the boolean true as false (`not x` is true
 * only when x is false, so `not null` is false).  Operands of the wrong type
 * give false/null and bump counters->type_mismatch.
 * Tested by: tests/unit/check_expr.c */
#include "cepd/cep_common.h"
#include "expr_int.h"

#include "cepd/json.h"
#include "cepd/sbuf.h"

#include <math.h>
#include <string.h>

struct expr_rt {
    struct val *stack;
    size_t stack_cap;
    /* Scratch: a bump buffer.  When it fills during an evaluation the full
     * chunk is retired (values still point into it) and a bigger one is
     * started; the next reset frees the retired chunks and sizes the
     * current one to the total, so steady state uses one chunk. */
    char *scr;
    size_t scr_len;
    size_t scr_cap;
    char **old;
    size_t n_old;
    size_t old_cap;
    size_t scr_total;
    struct sbuf tmp;
    pcre2_match_data *md;
    struct val *results; /* expr_rt_results */
    size_t results_cap;
};

static void *md_malloc(size_t n, void *ud)
{
    CEP_UNUSED(ud);
    return cep_malloc(n);
}

static void md_free(void *p, void *ud)
{
    CEP_UNUSED(ud);
    cep_free(p);
}

/* A new runtime (owned; free with expr_rt_free).  One per thread. */
struct expr_rt *expr_rt_new(void)
{
    struct expr_rt *rt = cep_calloc(1, sizeof(*rt));
    sbuf_init(&rt->tmp);
    pcre2_general_context *gc = pcre2_general_context_create(md_malloc, md_free, NULL);
    CEP_ASSERT(gc); /* md_malloc aborts rather than fail */
    /* One ovector pair is enough: matches only answer yes or no.  The match
     * data also keeps PCRE2's backtracking frames between matches. */
    rt->md = pcre2_match_data_create(1, gc);
    CEP_ASSERT(rt->md);
    pcre2_general_context_free(gc);
    return rt;
}

static void scratch_reset(struct expr_rt *rt)
{
    if (rt->n_old) {
        for (size_t i = 0; i < rt->n_old; i++)
            cep_free(rt->old[i]);
        rt->n_old = 0;
        cep_free(rt->scr);
        rt->scr_cap = rt->scr_total;
        rt->scr = cep_malloc(rt->scr_cap);
    }
    rt->scr_len = 0;
    rt->scr_total = 0;
}

void expr_rt_free(struct expr_rt *rt)
{
    if (!rt)
        return;
    scratch_reset(rt);
    cep_free(rt->old);
    cep_free(rt->scr);
    cep_free(rt->stack);
    sbuf_free(&rt->tmp);
    pcre2_match_data_free(rt->md);
    cep_free(rt->results);
    cep_free(rt);
}

struct val *expr_rt_results(struct expr_rt *rt, size_t n)
{
    if (CEP_UNLIKELY(n > rt->results_cap)) {
        cep_free(rt->results);
        rt->results = cep_calloc(n, sizeof(*rt->results));
        rt->results_cap = n;
    }
    return rt->results;
}

/* n bytes of scratch valid until the next top-level evaluation with rt. */
char *expr_rt_scratch(struct expr_rt *rt, size_t n)
{
    rt->scr_total += n;
    if (rt->scr_cap - rt->scr_len < n) {
        if (rt->scr) {
            CEP_GROW(rt->old, rt->old_cap, rt->n_old + 1);
            rt->old[rt->n_old++] = rt->scr;
        }
        rt->scr_cap = rt->scr_cap * 2 > n ? rt->scr_cap * 2 : n + 256;
        rt->scr = cep_malloc(rt->scr_cap);
        rt->scr_len = 0;
    }
    char *p = rt->scr + rt->scr_len;
    rt->scr_len += n;
    return p;
}

/* A reusable text buffer for builtins that format values (str()). */
struct sbuf *expr_rt_tmp(struct expr_rt *rt)
{
    sbuf_reset(&rt->tmp);
    return &rt->tmp;
}

pcre2_match_data *expr_rt_match_data(struct expr_rt *rt)
{
    return rt->md;
}

/* ---- Operators ---- */

static inline bool is_true(const struct val *v)
{
    return v->type == VAL_BOOL && v->u.b;
}

/* Count a non-boolean, non-null operand of not/and/or as a mismatch. */
static inline void check_bool(struct expr_ctx *ctx, const struct val *v)
{
    if (v->type != VAL_BOOL && v->type != VAL_NULL)
        expr_count_mismatch(ctx);
}

/* The type class for equality: int and float are one class, so are the
 * raw JSON kinds with strings (a raw array never equals a string anyway). */
static inline int eq_class(uint8_t t)
{
    return t == VAL_FLOAT ? VAL_INT : t;
}

static bool op_eq(struct expr_ctx *ctx, const struct val *a, const struct val *b)
{
    if (a->type == VAL_NULL || b->type == VAL_NULL)
        return false;
    if (a->type == VAL_STR && b->type == VAL_STR)
        return a->len == b->len && memcmp(a->u.s, b->u.s, a->len) == 0;
    if (a->type == VAL_INT && b->type == VAL_INT)
        return a->u.i == b->u.i;
    if (eq_class(a->type) != eq_class(b->type)) {
        expr_count_mismatch(ctx);
        return false;
    }
    return val_equal(a, b);
}

/* Three-way order of numbers or strings; false in *ok otherwise. */
static int op_order(struct expr_ctx *ctx, const struct val *a, const struct val *b, bool *ok)
{
    *ok = true;
    if (a->type == VAL_INT && b->type == VAL_INT)
        return (a->u.i > b->u.i) - (a->u.i < b->u.i);
    if (val_is_num(a) && val_is_num(b)) {
        double x = val_num(a), y = val_num(b);
        if (x != x || y != y) { /* NaN orders with nothing */
            *ok = false;
            return 0;
        }
        return (x > y) - (x < y);
    }
    if (a->type == VAL_STR && b->type == VAL_STR) {
        size_t n = a->len < b->len ? a->len : b->len;
        int r = n ? memcmp(a->u.s, b->u.s, n) : 0;
        if (r)
            return r < 0 ? -1 : 1;
        return (a->len > b->len) - (a->len < b->len);
    }
    *ok = false;
    if (a->type != VAL_NULL && b->type != VAL_NULL)
        expr_count_mismatch(ctx);
    return 0;
}

static bool op_in(const struct val *x, const struct val *list)
{
    for (uint32_t i = 0; i < list->len; i++) {
        const struct val *it = &list->u.items[i];
        if (x->type == VAL_STR && it->type == VAL_STR) {
            if (x->len == it->len && memcmp(x->u.s, it->u.s, x->len) == 0)
                return true;
        } else if (val_equal(x, it)) {
            return true;
        }
    }
    return false;
}

static bool op_strop(struct expr_ctx *ctx, enum expr_op op, const struct val *a,
                     const struct val *b)
{
    if (a->type != VAL_STR || b->type != VAL_STR) {
        if (a->type != VAL_NULL && b->type != VAL_NULL)
            expr_count_mismatch(ctx);
        return false;
    }
    if (b->len > a->len)
        return false;
    if (b->len == 0)
        return true;
    switch (op) {
        case EXPR_OP_CONTAINS:
            return memmem(a->u.s, a->len, b->u.s, b->len) != NULL;
        case EXPR_OP_STARTSWITH:
            return memcmp(a->u.s, b->u.s, b->len) == 0;
        default:
            return memcmp(a->u.s + a->len - b->len, b->u.s, b->len) == 0;
    }
}

static struct val op_arith(struct expr_ctx *ctx, enum expr_op op, const struct val *a,
                           const struct val *b)
{
    if (a->type == VAL_NULL || b->type == VAL_NULL)
        return val_null();
    if (!val_is_num(a) || !val_is_num(b)) {
        expr_count_mismatch(ctx);
        return val_null();
    }
    if (a->type == VAL_INT && b->type == VAL_INT) {
        int64_t x = a->u.i, y = b->u.i, r;
        switch (op) {
            case EXPR_OP_ADD:
                if (!__builtin_add_overflow(x, y, &r))
                    return val_int(r);
                break;
            case EXPR_OP_SUB:
                if (!__builtin_sub_overflow(x, y, &r))
                    return val_int(r);
                break;
            case EXPR_OP_MUL:
                if (!__builtin_mul_overflow(x, y, &r))
                    return val_int(r);
                break;
            case EXPR_OP_DIV:
                if (y == 0) {
                    expr_count_mismatch(ctx);
                    return val_null();
                }
                if (y != -1 && x % y == 0)
                    return val_int(x / y);
                if (y == -1 && x != INT64_MIN)
                    return val_int(-x);
                break;
            default: /* MOD */
                if (y == 0) {
                    expr_count_mismatch(ctx);
                    return val_null();
                }
                return val_int(y == -1 ? 0 : x % y);
        }
    }
    double x = val_num(a), y = val_num(b);
    switch (op) {
        case EXPR_OP_ADD:
            return val_float(x + y);
        case EXPR_OP_SUB:
            return val_float(x - y);
        case EXPR_OP_MUL:
            return val_float(x * y);
        case EXPR_OP_DIV:
            if (y == 0.0) {
                expr_count_mismatch(ctx);
                return val_null();
            }
            return val_float(x / y);
        default:
            if (y == 0.0) {
                expr_count_mismatch(ctx);
                return val_null();
            }
            return val_float(fmod(x, y));
    }
}

static struct val op_neg(struct expr_ctx *ctx, const struct val *v)
{
    if (v->type == VAL_INT)
        return v->u.i == INT64_MIN ? val_float(-(double)v->u.i) : val_int(-v->u.i);
    if (v->type == VAL_FLOAT)
        return val_float(-v->u.f);
    if (v->type != VAL_NULL)
        expr_count_mismatch(ctx);
    return val_null();
}

static inline struct val slot_of(const struct evt *ev, int32_t slot)
{
    if (ev && (uint32_t)slot < ev->n_slots)
        return ev->slots[slot];
    return val_null();
}

/* sum/avg/min/max of slot over the events step has taken. */
static struct val step_agg(struct expr_ctx *ctx, enum expr_op op, int32_t step, int32_t slot)
{
    if (!ctx->pat)
        return val_null();
    uint32_t n = ctx->pat->count(ctx->pat_ud, step);
    int64_t isum = 0;
    double fsum = 0.0;
    bool is_float = false;
    uint32_t n_num = 0;
    struct val best = val_null();
    for (uint32_t i = 0; i < n; i++) {
        struct val v = slot_of(ctx->pat->event(ctx->pat_ud, step, i), slot);
        if (v.type == VAL_NULL)
            continue;
        if (!val_is_num(&v)) {
            expr_count_mismatch(ctx);
            continue;
        }
        n_num++;
        fsum += val_num(&v);
        if (v.type == VAL_FLOAT || __builtin_add_overflow(isum, v.u.i, &isum))
            is_float = true;
        if (best.type == VAL_NULL ||
            (op == EXPR_OP_STEP_MIN ? val_num(&v) < val_num(&best) : val_num(&v) > val_num(&best)))
            best = v;
    }
    switch (op) {
        case EXPR_OP_STEP_SUM:
            return is_float ? val_float(fsum) : val_int(isum);
        case EXPR_OP_STEP_AVG:
            return n_num ? val_float(fsum / n_num) : val_null();
        default:
            best.flags = 0;
            return best;
    }
}

/* lookup(): the value of the key in table t (column, or the whole value),
 * then, with member >= 0, that member of an object value.  A key of the
 * wrong type, or a member asked of a value that is no object, counts as a
 * type mismatch and gives null. */
static struct val op_lookup(struct expr_ctx *ctx, const struct expr *e,
                            const struct expr_insn *in, const struct val *key)
{
    struct val v;
    enum lookup_res r = lookup_get(e->tables[in->a], key, in->b, &v);
    if (r == LOOKUP_BAD_KEY)
        expr_count_mismatch(ctx);
    if (r != LOOKUP_FOUND || in->c < 0)
        return v;
    if (v.type != VAL_OBJ) {
        if (v.type != VAL_NULL)
            expr_count_mismatch(ctx);
        return val_null();
    }
    const struct val *m = &e->consts[in->c];
    struct val out;
    char *scratch = expr_rt_scratch(ctx->rt, v.len ? v.len : 1);
    if (json_member_get(v.u.s, v.len, m->u.s, m->len, &out, scratch, NULL) != CEP_OK)
        return val_null();
    return out;
}

/* Evaluate e with ctx (ctx->rt required); see expr.h.  Runs on the calling
 * thread; rt must not be shared between threads. */
void expr_eval(const struct expr *e, struct expr_ctx *ctx, struct val *out)
{
    struct expr_rt *rt = ctx->rt;
    CEP_ASSERT(rt);
    if (CEP_UNLIKELY(e->max_stack > rt->stack_cap)) {
        rt->stack_cap = e->max_stack;
        rt->stack = cep_realloc(rt->stack, sizeof(*rt->stack) * rt->stack_cap);
    }
    if (rt->scr_total)
        scratch_reset(rt);
    struct val *sp = rt->stack; /* next free */
    const struct evt *ev = ctx->ev;
    const struct expr_insn *code = e->code;
    uint32_t pc = 0, end = e->n_code;
    while (pc < end) {
        const struct expr_insn *in = &code[pc++];
        struct val *top = sp - 1;
        switch ((enum expr_op)in->op) {
            case EXPR_OP_CONST:
                *sp++ = e->consts[in->a];
                break;
            case EXPR_OP_FIELD:
                *sp++ = slot_of(ev, in->a);
                break;
            case EXPR_OP_RESULT:
                *sp++ = ctx->results ? ctx->results[in->a] : val_null();
                break;
            case EXPR_OP_STEP_FIELD:
                *sp++ = ctx->pat ? slot_of(ctx->pat->event(ctx->pat_ud, in->a, in->b), in->c)
                                 : val_null();
                break;
            case EXPR_OP_STEP_COUNT:
                *sp++ = ctx->pat ? val_int(ctx->pat->count(ctx->pat_ud, in->a)) : val_null();
                break;
            case EXPR_OP_STEP_SUM:
            case EXPR_OP_STEP_AVG:
            case EXPR_OP_STEP_MIN:
            case EXPR_OP_STEP_MAX:
                *sp++ = step_agg(ctx, (enum expr_op)in->op, in->a, in->c);
                break;
            case EXPR_OP_POP:
                sp--;
                break;
            case EXPR_OP_JMP:
                pc = (uint32_t)in->a;
                break;
            case EXPR_OP_AND_JMP:
                if (is_true(top)) {
                    sp--;
                } else {
                    check_bool(ctx, top);
                    *top = val_bool(false);
                    pc = (uint32_t)in->a;
                }
                break;
            case EXPR_OP_OR_JMP:
                if (is_true(top)) {
                    pc = (uint32_t)in->a;
                } else {
                    check_bool(ctx, top);
                    sp--;
                }
                break;
            case EXPR_OP_NOTNULL_JMP:
                if (top->type != VAL_NULL)
                    pc = (uint32_t)in->a;
                else
                    sp--;
                break;
            case EXPR_OP_TO_BOOL:
                check_bool(ctx, top);
                *top = val_bool(is_true(top));
                break;
            case EXPR_OP_NOT:
                check_bool(ctx, top);
                *top = val_bool(top->type == VAL_BOOL && !top->u.b);
                break;
            case EXPR_OP_IS_NULL:
                *top = val_bool(top->type == VAL_NULL);
                break;
            case EXPR_OP_NOT_NULL:
                *top = val_bool(top->type != VAL_NULL);
                break;
            case EXPR_OP_EQ:
                sp--;
                top[-1] = val_bool(op_eq(ctx, top - 1, top));
                break;
            case EXPR_OP_NE:
                sp--;
                top[-1] = val_bool(top[-1].type != VAL_NULL && top->type != VAL_NULL &&
                                   !op_eq(ctx, top - 1, top));
                break;
            case EXPR_OP_LT:
            case EXPR_OP_LE:
            case EXPR_OP_GT:
            case EXPR_OP_GE: {
                bool ok;
                int r = op_order(ctx, top - 1, top, &ok);
                bool res = ok && (in->op == EXPR_OP_LT   ? r < 0
                                  : in->op == EXPR_OP_LE ? r <= 0
                                  : in->op == EXPR_OP_GT ? r > 0
                                                         : r >= 0);
                sp--;
                top[-1] = val_bool(res);
                break;
            }
            case EXPR_OP_IN:
            case EXPR_OP_NOT_IN:
                if (top->type == VAL_NULL)
                    *top = val_bool(false);
                else
                    *top = val_bool(op_in(top, &e->consts[in->a]) == (in->op == EXPR_OP_IN));
                break;
            case EXPR_OP_MATCH:
            case EXPR_OP_NOT_MATCH: {
                int r = -1;
                if (top->type == VAL_STR)
                    r = expr_re_match(e->res[in->a], top->u.s, top->len, ctx);
                else if (top->type != VAL_NULL)
                    expr_count_mismatch(ctx);
                *top = val_bool(r == (in->op == EXPR_OP_MATCH ? 1 : 0));
                break;
            }
            case EXPR_OP_CONTAINS:
            case EXPR_OP_STARTSWITH:
            case EXPR_OP_ENDSWITH:
                sp--;
                top[-1] = val_bool(op_strop(ctx, (enum expr_op)in->op, top - 1, top));
                break;
            case EXPR_OP_ADD:
            case EXPR_OP_SUB:
            case EXPR_OP_MUL:
            case EXPR_OP_DIV:
            case EXPR_OP_MOD:
                sp--;
                top[-1] = op_arith(ctx, (enum expr_op)in->op, top - 1, top);
                break;
            case EXPR_OP_NEG:
                *top = op_neg(ctx, top);
                break;
            case EXPR_OP_CIDR:
                if (top->type == VAL_STR) {
                    *top = val_bool(expr_cidr_contains(&e->cidrs[in->a], top->u.s, top->len));
                } else {
                    if (top->type != VAL_NULL)
                        expr_count_mismatch(ctx);
                    *top = val_bool(false);
                }
                break;
            case EXPR_OP_LOOKUP:
                *top = op_lookup(ctx, e, in, top);
                break;
            case EXPR_OP_IN_TABLE:
            case EXPR_OP_NOT_IN_TABLE: {
                enum lookup_res r = lookup_has(e->tables[in->a], top);
                if (r == LOOKUP_BAD_KEY)
                    expr_count_mismatch(ctx);
                if (top->type == VAL_NULL || r == LOOKUP_BAD_KEY)
                    *top = val_bool(false);
                else
                    *top = val_bool((r == LOOKUP_FOUND) == (in->op == EXPR_OP_IN_TABLE));
                break;
            }
            case EXPR_OP_CALL: {
                struct val res;
                sp -= in->b;
                expr_builtins[in->a].fn(ctx, sp, (uint32_t)in->b, &res);
                *sp++ = res;
                break;
            }
            case EXPR_OP_COUNT:
                CEP_ASSERT(!"bad opcode");
        }
    }
    CEP_DASSERT(sp == rt->stack + 1);
    *out = rt->stack[0];
}

/* Evaluate as a condition: true only when the result is the boolean true. */
bool expr_eval_bool(const struct expr *e, struct expr_ctx *ctx)
{
    struct val v;
    expr_eval(e, ctx, &v);
    return is_true(&v);
}
