/* SPDX-License-Identifier: Apache-2.0
 * Code generation: a checked AST to a flat array of VM instructions over a
 * value stack.  The maximum stack depth is tracked while emitting (every
 * opcode's effect comes from expr_ops.h), so the VM sizes its stack once.
 * Constants, list items and regexes are copied into the program, which owns
 * everything it points to; the AST is freed when compilation ends.
 * Tested by: tests/unit/check_expr.c, tests/golden/expr/ */
#include "cepd/cep_common.h"
#include "expr_int.h"

#include <string.h>

static const int8_t op_delta[EXPR_OP_COUNT] = {
#define EXPR_OP_DELTA(name, fmt, delta, doc) [EXPR_OP_##name] = (delta),
    EXPR_OPS(EXPR_OP_DELTA)
#undef EXPR_OP_DELTA
};

struct compiler {
    struct expr *prog;
    size_t code_cap;
    int32_t depth;
    struct diag_list *dl;
    bool failed;
};

static uint32_t emit(struct compiler *c, enum expr_op op, int32_t a, int32_t b, int32_t cc)
{
    struct expr *p = c->prog;
    CEP_GROW(p->code, c->code_cap, (size_t)p->n_code + 1);
    struct expr_insn *in = &p->code[p->n_code];
    in->op = (uint8_t)op;
    in->a = a;
    in->b = b;
    in->c = cc;
    c->depth += op == EXPR_OP_CALL ? 1 - b : op_delta[op];
    CEP_ASSERT(c->depth >= 0);
    if ((uint32_t)c->depth > p->max_stack)
        p->max_stack = (uint32_t)c->depth;
    return p->n_code++;
}

static void patch(struct compiler *c, uint32_t at)
{
    c->prog->code[at].a = (int32_t)c->prog->n_code;
}

/* Copy v into the program arena (strings and list items), so the program
 * does not depend on the source text, the AST or the env's lists. */
static struct val val_copy(struct expr *p, const struct val *v)
{
    struct val out = *v;
    switch (v->type) {
        case VAL_STR:
        case VAL_ARR:
        case VAL_OBJ:
            out.u.s = expr_arena_strndup(&p->arena, v->u.s, v->len);
            break;
        case VAL_LIST: {
            struct val *items = expr_arena_alloc(&p->arena, sizeof(*items) * (v->len ? v->len : 1));
            for (uint32_t i = 0; i < v->len; i++)
                items[i] = v->u.items[i].type == VAL_LIST ? val_null()
                                                           : val_copy(p, &v->u.items[i]);
            out.u.items = items;
            break;
        }
        default:
            break;
    }
    return out;
}

int32_t expr_prog_const_add(struct expr *p, const struct val *v)
{
    CEP_GROW(p->consts, p->consts_cap, (size_t)p->n_consts + 1);
    p->consts[p->n_consts] = val_copy(p, v);
    return (int32_t)p->n_consts++;
}

static int32_t add_const(struct compiler *c, const struct val *v)
{
    return expr_prog_const_add(c->prog, v);
}

static int32_t add_regex(struct compiler *c, const struct expr_node *lit)
{
    size_t err_off = 0;
    char err[256];
    struct expr_re *re = expr_re_new(lit->v.u.s, lit->v.len, &err_off, err, sizeof(err));
    if (!re) {
        size_t off = expr_lex_str_src_off(lit->src, lit->off, err_off);
        expr_diag(c->dl, lit->src, off, "invalid regex: %s", err);
        c->failed = true;
        return -1;
    }
    struct expr *p = c->prog;
    CEP_GROW(p->res, p->res_cap, (size_t)p->n_res + 1);
    p->res[p->n_res] = re;
    return (int32_t)p->n_res++;
}

int32_t expr_prog_table_add(struct expr *p, const struct lookup_table *t)
{
    for (uint32_t i = 0; i < p->n_tables; i++) {
        if (p->tables[i] == t)
            return (int32_t)i;
    }
    CEP_GROW(p->tables, p->tables_cap, (size_t)p->n_tables + 1);
    p->tables[p->n_tables] = t;
    return (int32_t)p->n_tables++;
}

static int32_t add_table(struct compiler *c, const struct lookup_table *t)
{
    return expr_prog_table_add(c->prog, t);
}

static void gen(struct compiler *c, const struct expr_node *n);

static bool is_null_lit(const struct expr_node *n)
{
    return n->kind == EXPR_NK_CONST && n->v.type == VAL_NULL;
}

static enum expr_op binop(enum expr_tok_kind k)
{
    switch (k) {
        case EXPR_TOK_EQ:
            return EXPR_OP_EQ;
        case EXPR_TOK_NE:
            return EXPR_OP_NE;
        case EXPR_TOK_LT:
            return EXPR_OP_LT;
        case EXPR_TOK_LE:
            return EXPR_OP_LE;
        case EXPR_TOK_GT:
            return EXPR_OP_GT;
        case EXPR_TOK_GE:
            return EXPR_OP_GE;
        case EXPR_TOK_CONTAINS:
            return EXPR_OP_CONTAINS;
        case EXPR_TOK_STARTSWITH:
            return EXPR_OP_STARTSWITH;
        case EXPR_TOK_ENDSWITH:
            return EXPR_OP_ENDSWITH;
        case EXPR_TOK_PLUS:
            return EXPR_OP_ADD;
        case EXPR_TOK_MINUS:
            return EXPR_OP_SUB;
        case EXPR_TOK_STAR:
            return EXPR_OP_MUL;
        case EXPR_TOK_SLASH:
            return EXPR_OP_DIV;
        default:
            return EXPR_OP_MOD;
    }
}

static void gen_binary(struct compiler *c, const struct expr_node *n)
{
    const struct expr_node *l = n->kids[0], *r = n->kids[1];
    switch (n->op) {
        case EXPR_TOK_AND:
        case EXPR_TOK_OR: {
            gen(c, l);
            uint32_t j = emit(c, n->op == EXPR_TOK_AND ? EXPR_OP_AND_JMP : EXPR_OP_OR_JMP, 0, 0, 0);
            gen(c, r);
            if (r->type != EXPR_T_BOOL)
                emit(c, EXPR_OP_TO_BOOL, 0, 0, 0);
            patch(c, j);
            return;
        }
        case EXPR_TOK_EQ:
        case EXPR_TOK_NE:
            /* x == null and x != null are the only comparisons null passes. */
            if (is_null_lit(l) || is_null_lit(r)) {
                if (is_null_lit(l) && is_null_lit(r)) {
                    struct val v = val_bool(n->op == EXPR_TOK_EQ);
                    emit(c, EXPR_OP_CONST, add_const(c, &v), 0, 0);
                    return;
                }
                gen(c, is_null_lit(l) ? r : l);
                emit(c, n->op == EXPR_TOK_EQ ? EXPR_OP_IS_NULL : EXPR_OP_NOT_NULL, 0, 0, 0);
                return;
            }
            break;
        case EXPR_TOK_IN:
        case EXPR_TOK_NOT_IN:
            gen(c, l);
            if (r->kind == EXPR_NK_TABLE)
                emit(c, n->op == EXPR_TOK_IN ? EXPR_OP_IN_TABLE : EXPR_OP_NOT_IN_TABLE,
                     add_table(c, r->table), 0, 0);
            else
                emit(c, n->op == EXPR_TOK_IN ? EXPR_OP_IN : EXPR_OP_NOT_IN, add_const(c, &r->v),
                     0, 0);
            return;
        case EXPR_TOK_MATCH:
        case EXPR_TOK_NMATCH: {
            gen(c, l);
            int32_t re = add_regex(c, r);
            emit(c, n->op == EXPR_TOK_MATCH ? EXPR_OP_MATCH : EXPR_OP_NOT_MATCH, re, 0, 0);
            return;
        }
        default:
            break;
    }
    gen(c, l);
    gen(c, r);
    emit(c, binop(n->op), 0, 0, 0);
}

static void gen_call(struct compiler *c, const struct expr_node *n)
{
    const struct expr_builtin *b = &expr_builtins[n->result];
    switch (b->kind) {
        case EXPR_BK_EXISTS:
            gen(c, n->kids[0]);
            emit(c, EXPR_OP_NOT_NULL, 0, 0, 0);
            return;
        case EXPR_BK_COALESCE: {
            uint32_t jumps[EXPR_MAX_ARGS];
            for (uint32_t i = 0; i + 1 < n->n_kids; i++) {
                gen(c, n->kids[i]);
                jumps[i] = emit(c, EXPR_OP_NOTNULL_JMP, 0, 0, 0);
            }
            gen(c, n->kids[n->n_kids - 1]);
            for (uint32_t i = 0; i + 1 < n->n_kids; i++)
                patch(c, jumps[i]);
            return;
        }
        case EXPR_BK_LOOKUP: {
            int32_t member = -1;
            if (n->member) {
                struct val m = val_str(n->member, n->member_len);
                member = add_const(c, &m);
            }
            gen(c, n->kids[1]);
            emit(c, EXPR_OP_LOOKUP, add_table(c, n->table), n->column, member);
            return;
        }
        default:
            break;
    }
    if (strcmp(b->name, "cidr_match") == 0 && n->kids[1]->kind == EXPR_NK_CONST &&
        n->kids[1]->v.type == VAL_STR) {
        /* The network is a literal: parse it once, here. */
        struct expr *p = c->prog;
        struct expr_cidr cidr;
        const struct val *v = &n->kids[1]->v;
        int rc = expr_cidr_parse(v->u.s, v->len, &cidr);
        CEP_ASSERT(rc == CEP_OK); /* the checker rejected bad literals */
        CEP_GROW(p->cidrs, p->cidrs_cap, (size_t)p->n_cidrs + 1);
        p->cidrs[p->n_cidrs] = cidr;
        gen(c, n->kids[0]);
        emit(c, EXPR_OP_CIDR, (int32_t)p->n_cidrs++, 0, 0);
        return;
    }
    for (uint32_t i = 0; i < n->n_kids; i++)
        gen(c, n->kids[i]);
    emit(c, EXPR_OP_CALL, n->result, (int32_t)n->n_kids, 0);
}

/* Emit code leaving n's value on the stack.  Recursion depth is bounded by
 * the AST depth, which the parser and checker cap at EXPR_MAX_DEPTH. */
static void gen(struct compiler *c, const struct expr_node *n)
{
    switch (n->kind) {
        case EXPR_NK_CONST:
            emit(c, EXPR_OP_CONST, add_const(c, &n->v), 0, 0);
            break;
        case EXPR_NK_FIELD:
            emit(c, EXPR_OP_FIELD, n->slot, 0, 0);
            break;
        case EXPR_NK_RESULT:
            emit(c, EXPR_OP_RESULT, n->result, 0, 0);
            break;
        case EXPR_NK_STEP_FIELD:
            emit(c, EXPR_OP_STEP_FIELD, n->step, (int32_t)n->index, n->slot);
            break;
        case EXPR_NK_STEP_COUNT:
            emit(c, EXPR_OP_STEP_COUNT, n->step, 0, 0);
            break;
        case EXPR_NK_STEP_AGG:
            emit(c, (enum expr_op)n->agg, n->step, 0, n->slot);
            break;
        case EXPR_NK_UNARY:
            gen(c, n->kids[0]);
            emit(c, n->op == EXPR_TOK_NOT ? EXPR_OP_NOT : EXPR_OP_NEG, 0, 0, 0);
            break;
        case EXPR_NK_BINARY:
            gen_binary(c, n);
            break;
        case EXPR_NK_CALL:
            gen_call(c, n);
            break;
        default:
            CEP_ASSERT(!"unresolved node reached the compiler");
    }
}

/* A short-circuit jump that lands on another jump of the same kind would
 * take it too (false stays false, true stays true), so go straight to the
 * final target: `a and b and c` then costs one jump when a is false.
 * Targets only move forward, so this terminates. */
static void thread_jumps(struct expr *p)
{
    for (uint32_t i = 0; i < p->n_code; i++) {
        struct expr_insn *in = &p->code[i];
        if (in->op != EXPR_OP_AND_JMP && in->op != EXPR_OP_OR_JMP)
            continue;
        while ((uint32_t)in->a < p->n_code && p->code[in->a].op == in->op)
            in->a = p->code[in->a].a;
    }
}

/* Compile src->text[start..end): parse, resolve and check, generate code.
 * Returns an owned program, or NULL after adding diagnostics to dl.  With
 * allow_rbrace the expression may end at a '}' (templates); *stop gets the
 * offset where parsing stopped. */
struct expr *expr_compile_range(const struct expr_src *src, size_t start, size_t end,
                                bool allow_rbrace, size_t *stop, const struct expr_env *env,
                                struct diag_list *dl)
{
    struct expr_arena ast = {0};
    struct expr *prog = NULL;
    struct expr_node *root = expr_parse(src, start, end, allow_rbrace, stop, &ast, dl);
    if (!root)
        goto fail;
    root = expr_check(root, env, &ast, dl);
    if (!root)
        goto fail;
    prog = cep_calloc(1, sizeof(*prog));
    struct compiler c = {.prog = prog, .dl = dl};
    gen(&c, root);
    if (c.failed)
        goto fail;
    CEP_ASSERT(c.depth == 1);
    thread_jumps(prog);
    prog->type = root->type;
    expr_arena_free(&ast);
    return prog;
fail:
    expr_free(prog);
    expr_arena_free(&ast);
    return NULL;
}

/* Compile a whole expression; see expr.h. */
struct expr *expr_compile(const struct expr_src *src, const struct expr_env *env,
                          struct diag_list *dl)
{
    return expr_compile_range(src, 0, src->len, false, NULL, env, dl);
}

/* Free a program and everything it owns.  NULL is a no-op. */
void expr_free(struct expr *e)
{
    if (!e)
        return;
    for (uint32_t i = 0; i < e->n_res; i++)
        expr_re_free(e->res[i]);
    cep_free(e->res);
    cep_free(e->code);
    cep_free(e->consts);
    cep_free(e->cidrs);
    cep_free(e->tables);
    expr_arena_free(&e->arena);
    cep_free(e);
}

/* The result type known at compile time (EXPR_T_ANY when it depends on
 * event data). */
enum expr_type expr_static_type(const struct expr *e)
{
    return e->type;
}

/* The slot when the whole expression is one field path, else -1 (used for
 * `key:` lists and projections). */
int expr_field_slot(const struct expr *e)
{
    if (e->n_code == 1 && e->code[0].op == EXPR_OP_FIELD)
        return e->code[0].a;
    return -1;
}

/* See expr.h.  Pattern steps read other events: they count as reads
 * outside slots. */
bool expr_fields_within(const struct expr *e, const int32_t *slots, size_t n)
{
    int bare = expr_field_slot(e);
    if (bare >= 0) {
        for (size_t i = 0; i < n; i++)
            if (slots[i] == bare)
                return true;
        return false;
    }
    for (uint32_t k = 0; k < e->n_code; k++)
        if (e->code[k].op == EXPR_OP_FIELD || expr_op_is_step(e->code[k].op))
            return false;
    return true;
}

/* The i-th compiled regex, for tests that lower its match limit. */
struct expr_re *expr_prog_regex(const struct expr *e, uint32_t i)
{
    return i < e->n_res ? e->res[i] : NULL;
}
