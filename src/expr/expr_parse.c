/* SPDX-License-Identifier: Apache-2.0
 * The Pratt parser: tokens to an AST of unresolved names, literals,
 * operators and calls.  Both the parser's own recursion and the depth of
 * the tree it builds are capped at EXPR_MAX_DEPTH, so the resolver and the
 * compiler, which walk the tree recursively, are bounded too.  The first
 * syntax error stops the parse of that expression.
 * Tested by: tests/unit/check_expr.c (parser, precedence, errors) */
#include "cepd/cep_common.h"
#include "expr_int.h"

#include <string.h>

struct parser {
    struct expr_lex lx;
    struct expr_tok cur;
    struct expr_tok nxt;
    const struct expr_src *src;
    struct expr_arena *arena;
    struct diag_list *dl;
    uint32_t depth;
    bool failed;
    bool allow_rbrace;
};

/* Binding powers, lowest first.  `not` (prefix) binds its operand at
 * BP_NOT, so `not a == b` is `not (a == b)` and `not a and b` is
 * `(not a) and b`. */
enum {
    BP_NONE = 0,
    BP_OR,
    BP_AND,
    BP_NOT,
    BP_CMP,
    BP_ADD,
    BP_MUL,
    BP_UNARY,
};

static void advance(struct parser *p)
{
    p->cur = p->nxt;
    if (p->cur.kind == EXPR_TOK_ERROR)
        p->failed = true;
    /* Nothing after a template part's closing '}' belongs to the expression,
     * so do not lex it. */
    if (p->cur.kind == EXPR_TOK_EOF || p->cur.kind == EXPR_TOK_ERROR ||
        (p->cur.kind == EXPR_TOK_RBRACE && p->allow_rbrace))
        p->nxt.kind = EXPR_TOK_EOF;
    else
        expr_lex_next(&p->lx, &p->nxt);
}

static void perr_tok(struct parser *p, const char *what)
{
    if (p->failed)
        return;
    if (p->cur.kind == EXPR_TOK_EOF)
        expr_diag(p->dl, p->src, p->cur.off, "%s at end of expression", what);
    else
        expr_diag(p->dl, p->src, p->cur.off, "%s before %s", what, expr_tok_name(p->cur.kind));
    p->failed = true;
}

static struct expr_node *node_new(struct parser *p, enum expr_nk kind, uint32_t off)
{
    struct expr_node *n = expr_arena_alloc(p->arena, sizeof(*n));
    n->kind = kind;
    n->src = p->src;
    n->off = off;
    n->depth = 1;
    n->slot = n->step = n->result = -1;
    return n;
}

/* Attach kids and compute the depth; a tree deeper than EXPR_MAX_DEPTH is an
 * error (left-deep chains such as a+b+c+... are built without recursion). */
static void node_kids(struct parser *p, struct expr_node *n, struct expr_node **kids, uint32_t k)
{
    n->kids = expr_arena_alloc(p->arena, sizeof(*kids) * (k ? k : 1));
    n->n_kids = k;
    for (uint32_t i = 0; i < k; i++) {
        n->kids[i] = kids[i];
        if (kids[i]->depth + 1 > n->depth)
            n->depth = kids[i]->depth + 1;
    }
    if (n->depth > EXPR_MAX_DEPTH && !p->failed) {
        expr_diag(p->dl, p->src, n->off, "expression nested too deeply (limit %d)",
                  EXPR_MAX_DEPTH);
        p->failed = true;
    }
}

static int infix_bp(enum expr_tok_kind k)
{
    switch (k) {
        case EXPR_TOK_OR:
            return BP_OR;
        case EXPR_TOK_AND:
            return BP_AND;
        case EXPR_TOK_EQ:
        case EXPR_TOK_NE:
        case EXPR_TOK_LT:
        case EXPR_TOK_LE:
        case EXPR_TOK_GT:
        case EXPR_TOK_GE:
        case EXPR_TOK_IN:
        case EXPR_TOK_NOT_IN:
        case EXPR_TOK_MATCH:
        case EXPR_TOK_NMATCH:
        case EXPR_TOK_CONTAINS:
        case EXPR_TOK_STARTSWITH:
        case EXPR_TOK_ENDSWITH:
            return BP_CMP;
        case EXPR_TOK_PLUS:
        case EXPR_TOK_MINUS:
            return BP_ADD;
        case EXPR_TOK_STAR:
        case EXPR_TOK_SLASH:
        case EXPR_TOK_PERCENT:
            return BP_MUL;
        default:
            return BP_NONE;
    }
}

static struct expr_node *parse_expr(struct parser *p, int min_bp);

/* A keyword token spelled like a name can still be a path segment after a
 * dot (`a.in`); its text comes from the source. */
static bool tok_as_name(const struct parser *p, const struct expr_tok *t, struct expr_seg *seg)
{
    switch (t->kind) {
        case EXPR_TOK_IDENT:
        case EXPR_TOK_QIDENT:
            seg->s = t->v.u.s;
            seg->len = t->v.len;
            seg->off = t->off;
            seg->quoted = t->kind == EXPR_TOK_QIDENT;
            return true;
        case EXPR_TOK_TRUE:
        case EXPR_TOK_FALSE:
        case EXPR_TOK_NULL:
        case EXPR_TOK_AND:
        case EXPR_TOK_OR:
        case EXPR_TOK_NOT:
        case EXPR_TOK_IN:
        case EXPR_TOK_CONTAINS:
        case EXPR_TOK_STARTSWITH:
        case EXPR_TOK_ENDSWITH:
            if (p->src->text[t->off] < 'a')
                return false; /* && || ! */
            seg->s = p->src->text + t->off;
            seg->len = t->len;
            seg->off = t->off;
            seg->quoted = false;
            return true;
        default:
            return false;
    }
}

static struct expr_node *parse_path(struct parser *p)
{
    struct expr_seg segs[EXPR_MAX_PATH_SEGS];
    uint32_t n = 0;
    struct expr_node *node = node_new(p, EXPR_NK_PATH, p->cur.off);
    tok_as_name(p, &p->cur, &segs[n++]);
    advance(p);
    if (p->cur.kind == EXPR_TOK_LBRACK) {
        /* STEP[i]: i is an integer literal, negative from the end. */
        advance(p);
        bool neg = false;
        if (p->cur.kind == EXPR_TOK_MINUS) {
            neg = true;
            advance(p);
        }
        if (p->cur.kind != EXPR_TOK_INT) {
            perr_tok(p, "expected an integer index");
            return NULL;
        }
        node->has_index = true;
        node->index = neg ? -p->cur.v.u.i : p->cur.v.u.i;
        advance(p);
        if (p->cur.kind != EXPR_TOK_RBRACK) {
            perr_tok(p, "expected ']'");
            return NULL;
        }
        advance(p);
        if (p->cur.kind != EXPR_TOK_DOT) {
            perr_tok(p, "expected '.FIELD' after the step index");
            return NULL;
        }
    }
    while (p->cur.kind == EXPR_TOK_DOT) {
        advance(p);
        if (n == EXPR_MAX_PATH_SEGS) {
            expr_diag(p->dl, p->src, p->cur.off, "field path too long (limit %d)",
                      EXPR_MAX_PATH_SEGS);
            p->failed = true;
            return NULL;
        }
        if (!tok_as_name(p, &p->cur, &segs[n])) {
            perr_tok(p, "expected a name after '.'");
            return NULL;
        }
        n++;
        advance(p);
    }
    node->segs = expr_arena_alloc(p->arena, sizeof(segs[0]) * n);
    memcpy(node->segs, segs, sizeof(segs[0]) * n);
    node->n_segs = n;
    return node;
}

/* Parse a comma-separated sequence up to `close` (list items, call args). */
static struct expr_node *parse_seq(struct parser *p, struct expr_node *node,
                                   enum expr_tok_kind close, uint32_t limit)
{
    struct expr_node **items = NULL;
    size_t n = 0, cap = 0;
    advance(p); /* the opening bracket */
    while (p->cur.kind != close) {
        if (n == limit) {
            expr_diag(p->dl, p->src, p->cur.off, "too many items (limit %u)", limit);
            p->failed = true;
            goto fail;
        }
        struct expr_node *item = parse_expr(p, BP_NONE);
        if (!item)
            goto fail;
        CEP_GROW(items, cap, n + 1);
        items[n++] = item;
        if (p->cur.kind == EXPR_TOK_COMMA) {
            advance(p);
            continue;
        }
        if (p->cur.kind != close) {
            perr_tok(p, close == EXPR_TOK_RPAREN ? "expected ',' or ')'" : "expected ',' or ']'");
            goto fail;
        }
    }
    advance(p);
    node_kids(p, node, items, (uint32_t)n);
    cep_free(items);
    return p->failed ? NULL : node;
fail:
    cep_free(items);
    return NULL;
}

static struct expr_node *parse_prefix(struct parser *p)
{
    struct expr_tok t = p->cur;
    struct expr_node *n;
    switch (t.kind) {
        case EXPR_TOK_INT:
        case EXPR_TOK_FLOAT:
        case EXPR_TOK_DURATION:
        case EXPR_TOK_STRING:
        case EXPR_TOK_TRUE:
        case EXPR_TOK_FALSE:
        case EXPR_TOK_NULL:
            n = node_new(p, EXPR_NK_CONST, t.off);
            n->v = t.v;
            advance(p);
            return n;
        case EXPR_TOK_MINUS:
        case EXPR_TOK_NOT: {
            advance(p);
            struct expr_node *operand =
                    parse_expr(p, t.kind == EXPR_TOK_MINUS ? BP_UNARY : BP_NOT);
            if (!operand)
                return NULL;
            if (t.kind == EXPR_TOK_MINUS && operand->kind == EXPR_NK_CONST &&
                val_is_num(&operand->v) && !(operand->v.type == VAL_INT &&
                                             operand->v.u.i == INT64_MIN)) {
                /* Fold -literal so list items and indexes can be negative. */
                if (operand->v.type == VAL_INT)
                    operand->v.u.i = -operand->v.u.i;
                else
                    operand->v.u.f = -operand->v.u.f;
                operand->off = t.off;
                return operand;
            }
            n = node_new(p, EXPR_NK_UNARY, t.off);
            n->op = t.kind;
            node_kids(p, n, &operand, 1);
            return p->failed ? NULL : n;
        }
        case EXPR_TOK_LPAREN:
            advance(p);
            n = parse_expr(p, BP_NONE);
            if (!n)
                return NULL;
            if (p->cur.kind != EXPR_TOK_RPAREN) {
                perr_tok(p, "expected ')'");
                return NULL;
            }
            advance(p);
            return n;
        case EXPR_TOK_LBRACK:
            n = node_new(p, EXPR_NK_LIST, t.off);
            return parse_seq(p, n, EXPR_TOK_RBRACK, EXPR_MAX_LIST_ITEMS);
        case EXPR_TOK_IDENT:
            if (p->nxt.kind == EXPR_TOK_LPAREN) {
                n = node_new(p, EXPR_NK_CALL, t.off);
                n->name = t.v.u.s;
                n->name_len = t.v.len;
                advance(p);
                return parse_seq(p, n, EXPR_TOK_RPAREN, EXPR_MAX_ARGS);
            }
            return parse_path(p);
        case EXPR_TOK_QIDENT:
            return parse_path(p);
        default:
            perr_tok(p, "expected an expression");
            return NULL;
    }
}

static bool is_cmp(enum expr_tok_kind k)
{
    return infix_bp(k) == BP_CMP;
}

/* Parse operators binding at least min_bp.  Recursion depth is bounded by
 * EXPR_MAX_DEPTH (parentheses, prefix operators and right operands). */
static struct expr_node *parse_expr(struct parser *p, int min_bp)
{
    if (p->failed)
        return NULL;
    if (++p->depth > EXPR_MAX_DEPTH) {
        expr_diag(p->dl, p->src, p->cur.off, "expression nested too deeply (limit %d)",
                  EXPR_MAX_DEPTH);
        p->failed = true;
        return NULL;
    }
    struct expr_node *left = parse_prefix(p);
    while (left && !p->failed) {
        struct expr_tok op = p->cur;
        if (op.kind == EXPR_TOK_NOT && p->nxt.kind == EXPR_TOK_IN)
            op.kind = EXPR_TOK_NOT_IN;
        int bp = infix_bp(op.kind);
        if (bp == BP_NONE || bp < min_bp)
            break;
        advance(p);
        if (op.kind == EXPR_TOK_NOT_IN)
            advance(p);
        struct expr_node *right = parse_expr(p, bp + 1);
        if (!right) {
            left = NULL;
            break;
        }
        struct expr_node *n = node_new(p, EXPR_NK_BINARY, op.off);
        n->op = op.kind;
        struct expr_node *kids[2] = {left, right};
        node_kids(p, n, kids, 2);
        left = p->failed ? NULL : n;
        if (left && bp == BP_CMP && is_cmp(p->cur.kind)) {
            expr_diag(p->dl, p->src, p->cur.off,
                      "comparisons cannot be chained; use parentheses or 'and'");
            p->failed = true;
            left = NULL;
        }
    }
    p->depth--;
    return p->failed ? NULL : left;
}

/* Parse src->text[start..end).  Returns the AST (arena-owned) or NULL
 * after one syntax error was added to dl.  With allow_rbrace, a '}' at the
 * top level ends the expression; *stop (if not NULL) gets the offset of the
 * token that ended it. */
struct expr_node *expr_parse(const struct expr_src *src, size_t start, size_t end,
                             bool allow_rbrace, size_t *stop, struct expr_arena *arena,
                             struct diag_list *dl)
{
    struct parser p = {.src = src, .arena = arena, .dl = dl, .allow_rbrace = allow_rbrace};
    expr_lex_init(&p.lx, src, start, end, arena, dl);
    expr_lex_next(&p.lx, &p.nxt);
    advance(&p);
    struct expr_node *root = parse_expr(&p, BP_NONE);
    if (root && !p.failed) {
        bool ok = p.cur.kind == EXPR_TOK_EOF ||
                  (allow_rbrace && p.cur.kind == EXPR_TOK_RBRACE);
        if (!ok) {
            if (p.cur.kind == EXPR_TOK_RPAREN)
                expr_diag(dl, src, p.cur.off, "unmatched ')'");
            else if (p.cur.kind == EXPR_TOK_NOT)
                expr_diag(dl, src, p.cur.off, "unexpected 'not' (did you mean 'not in'?)");
            else
                expr_diag(dl, src, p.cur.off, "unexpected %s after expression",
                          expr_tok_name(p.cur.kind));
            p.failed = true;
        }
    }
    if (stop)
        *stop = p.cur.off;
    return p.failed ? NULL : root;
}
