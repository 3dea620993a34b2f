/* SPDX-License-Identifier: Apache-2.0
 * Private interface of the expression module: tokens, the AST the Pratt
 * parser builds and the resolver rewrites, the compiled program layout the
 * VM runs, the builtin table, the PCRE2 wrapper and a small arena.  Nothing
 * outside src/expr/ includes this file except the module's own tests.
 * Tested by: tests/unit/check_expr.c */
#ifndef CEPD_EXPR_INT_H
#define CEPD_EXPR_INT_H

#include "cepd/cep_common.h"
#include "cepd/expr.h"
#include "cepd/lookup.h"
#include "expr_ops.h"

#include <pcre2.h>

/* Limits on input-driven growth. */
#define EXPR_MAX_DEPTH       256 /* AST depth, macros included */
#define EXPR_MAX_MACRO_NEST  64  /* macros being expanded at once */
#define EXPR_MAX_PATH_SEGS   32
#define EXPR_MAX_ARGS        32
#define EXPR_MAX_LIST_ITEMS  65536
#define EXPR_RE_MATCH_LIMIT  100000

/* ---- Arena: bump allocation in chained blocks, freed all at once. ---- */
struct expr_arena_blk;
struct expr_arena {
    struct expr_arena_blk *head;
};
void *expr_arena_alloc(struct expr_arena *a, size_t n);
char *expr_arena_strndup(struct expr_arena *a, const char *s, size_t n);
void expr_arena_free(struct expr_arena *a);

/* ---- Tokens ---- */
enum expr_tok_kind {
    EXPR_TOK_EOF = 0,
    EXPR_TOK_ERROR,
    EXPR_TOK_INT,
    EXPR_TOK_FLOAT,
    EXPR_TOK_DURATION,
    EXPR_TOK_STRING,
    EXPR_TOK_IDENT,
    EXPR_TOK_QIDENT, /* `backquoted` */
    EXPR_TOK_TRUE,
    EXPR_TOK_FALSE,
    EXPR_TOK_NULL,
    EXPR_TOK_AND,
    EXPR_TOK_OR,
    EXPR_TOK_NOT,
    EXPR_TOK_IN,
    EXPR_TOK_NOT_IN, /* made by the parser from NOT IN */
    EXPR_TOK_CONTAINS,
    EXPR_TOK_STARTSWITH,
    EXPR_TOK_ENDSWITH,
    EXPR_TOK_EQ,
    EXPR_TOK_NE,
    EXPR_TOK_LT,
    EXPR_TOK_LE,
    EXPR_TOK_GT,
    EXPR_TOK_GE,
    EXPR_TOK_MATCH,
    EXPR_TOK_NMATCH,
    EXPR_TOK_PLUS,
    EXPR_TOK_MINUS,
    EXPR_TOK_STAR,
    EXPR_TOK_SLASH,
    EXPR_TOK_PERCENT,
    EXPR_TOK_LPAREN,
    EXPR_TOK_RPAREN,
    EXPR_TOK_LBRACK,
    EXPR_TOK_RBRACK,
    EXPR_TOK_RBRACE, /* ends a ${...} template part */
    EXPR_TOK_COMMA,
    EXPR_TOK_DOT,
    EXPR_TOK_COUNT
};

struct expr_tok {
    enum expr_tok_kind kind;
    uint32_t off; /* byte offset in src->text */
    uint32_t len; /* bytes of source text */
    struct val v; /* literals; IDENT/QIDENT: the name as VAL_STR */
};

/* The lexer scans src->text[pos..end).  Strings are unescaped into arena. */
struct expr_lex {
    const struct expr_src *src;
    size_t pos;
    size_t end;
    struct expr_arena *arena;
    struct diag_list *dl;
};
void expr_lex_init(struct expr_lex *lx, const struct expr_src *src, size_t start, size_t end,
                   struct expr_arena *arena, struct diag_list *dl);
void expr_lex_next(struct expr_lex *lx, struct expr_tok *t);
const char *expr_tok_name(enum expr_tok_kind k);
/* Source offset (into src->text) of byte dec_off of the string literal
 * whose opening quote is at quote_off, so PCRE2 error offsets point at the
 * right column even when the literal contains escapes. */
size_t expr_lex_str_src_off(const struct expr_src *src, size_t quote_off, size_t dec_off);

/* Report an error at byte off of src. */
void expr_diagv(struct diag_list *dl, const struct expr_src *src, size_t off, const char *fmt,
                va_list ap) CEP_PRINTF(4, 0);
void expr_diag(struct diag_list *dl, const struct expr_src *src, size_t off, const char *fmt, ...)
        CEP_PRINTF(4, 5);

/* ---- AST ---- */
enum expr_nk {
    EXPR_NK_CONST = 0,
    EXPR_NK_LIST,  /* list literal before folding */
    EXPR_NK_PATH,  /* a name or dotted path, unresolved */
    EXPR_NK_UNARY, /* op: NOT or MINUS */
    EXPR_NK_BINARY,
    EXPR_NK_CALL,
    /* made by the resolver */
    EXPR_NK_FIELD,
    EXPR_NK_RESULT,
    EXPR_NK_STEP_FIELD,
    EXPR_NK_STEP_COUNT,
    EXPR_NK_STEP_AGG,
    EXPR_NK_TABLE, /* a lookup table named on the right of `in` */
    EXPR_NK_ERROR, /* poisoned: an error was reported */
    EXPR_NK_COUNT
};

struct expr_seg {
    const char *s;
    uint32_t len;
    uint32_t off;
    bool quoted;
};

struct expr_node {
    enum expr_nk kind;
    enum expr_tok_kind op;     /* UNARY/BINARY operator */
    enum expr_type type;       /* static type, set by the resolver */
    uint32_t depth;            /* 1 + deepest child */
    const struct expr_src *src;
    uint32_t off;              /* where diagnostics about this node point */
    struct val v;              /* CONST */
    struct expr_node **kids;
    uint32_t n_kids;
    /* PATH */
    struct expr_seg *segs;
    uint32_t n_segs;
    bool has_index;
    int64_t index;
    /* CALL */
    const char *name;
    uint32_t name_len;
    /* resolved */
    int32_t slot;
    int32_t step;
    int32_t result;
    int32_t agg; /* EXPR_OP_STEP_SUM.. */
    /* lookup(): the table, its CSV column (or LOOKUP_VALUE) and the member
     * to take from a JSON object value (NULL: the whole value); TABLE */
    const struct lookup_table *table;
    int32_t column;
    const char *member;
    uint32_t member_len;
};

/* Parse src->text[start..end) into an AST allocated in arena.  Returns NULL
 * after reporting a syntax error.  *stop receives the offset where parsing
 * stopped; with allow_rbrace a '}' ends the expression (templates). */
struct expr_node *expr_parse(const struct expr_src *src, size_t start, size_t end,
                             bool allow_rbrace, size_t *stop, struct expr_arena *arena,
                             struct diag_list *dl);

/* Resolve names and check types in place; returns the root to compile, or
 * NULL if an error was reported. */
struct expr_node *expr_check(struct expr_node *root, const struct expr_env *env,
                             struct expr_arena *arena, struct diag_list *dl);
const char *expr_type_name(enum expr_type t);

/* ---- Builtins ---- */
typedef void expr_builtin_fn(struct expr_ctx *ctx, struct val *args, uint32_t n,
                             struct val *out);

enum expr_builtin_kind {
    EXPR_BK_PLAIN = 0, /* compiled to CALL */
    EXPR_BK_EXISTS,    /* compiled to NOT_NULL */
    EXPR_BK_COALESCE,  /* compiled to NOTNULL_JMP chains */
    EXPR_BK_STEP,      /* count/sum/avg/min/max over a pattern step */
    EXPR_BK_LOOKUP,    /* lookup(table, key[, column]): compiled to LOOKUP */
    EXPR_BK_COUNT
};

#define EXPR_TM(t)   (1u << (t))
#define EXPR_TM_ANY  0xffu
#define EXPR_VARARGS 255

struct expr_builtin {
    const char *name;
    uint8_t min_args;
    uint8_t max_args; /* EXPR_VARARGS: no limit (up to EXPR_MAX_ARGS) */
    uint8_t kind;     /* enum expr_builtin_kind */
    uint8_t arg_types[3]; /* masks of EXPR_TM(type); the last repeats */
    enum expr_type ret;
    expr_builtin_fn *fn;
    const char *doc;
};
extern const struct expr_builtin expr_builtins[];
extern const size_t expr_n_builtins;
int expr_builtin_find(const char *name, size_t len);

/* Scratch bytes for strings made during one evaluation. */
char *expr_rt_scratch(struct expr_rt *rt, size_t n);
struct sbuf *expr_rt_tmp(struct expr_rt *rt);
pcre2_match_data *expr_rt_match_data(struct expr_rt *rt);

static inline void expr_count_mismatch(struct expr_ctx *ctx)
{
    if (ctx->counters)
        ctx->counters->type_mismatch++;
}

/* The operand format of op (expr_ops.h): what its a, b and c refer to. */
static inline enum expr_opf expr_op_fmt(uint8_t op)
{
    static const uint8_t fmts[EXPR_OP_COUNT] = {
#define EXPR_OP_FMT(name, fmt, delta, doc) [EXPR_OP_##name] = (fmt),
            EXPR_OPS(EXPR_OP_FMT)
#undef EXPR_OP_FMT
    };
    return (enum expr_opf)fmts[op];
}

/* Whether op reads a pattern step (its events or their count). */
static inline bool expr_op_is_step(uint8_t op)
{
    enum expr_opf f = expr_op_fmt(op);
    return f == EXPR_OPF_STEP || f == EXPR_OPF_STEP_SEL_SLOT || f == EXPR_OPF_STEP_SLOT;
}

/* Number of code points in UTF-8 bytes (invalid bytes count as one each). */
size_t expr_utf8_count(const char *s, size_t len);
/* Byte offset of code point cp in s (len if past the end). */
size_t expr_utf8_offset(const char *s, size_t len, size_t cp);
/* Elements of a raw JSON array, members of a raw JSON object. */
size_t expr_json_count(const char *raw, size_t len);

/* ---- CIDR ---- */
struct expr_cidr {
    int family; /* 4 or 6 */
    uint8_t addr[16];
    uint32_t bits;
};
/* Parse "a.b.c.d/n" or "x::y/n" (no prefix: a host).  CEP_ERR if invalid. */
int expr_cidr_parse(const char *s, size_t len, struct expr_cidr *out);
/* Whether the textual IP s is in c; false if s is not an IP. */
bool expr_cidr_contains(const struct expr_cidr *c, const char *s, size_t len);

/* ---- Regular expressions (expr_re.c) ---- */
struct expr_re;
/* Compile pattern with JIT and a match limit.  On error returns NULL and
 * sets *err_off (into pattern) and err[] to PCRE2's message. */
struct expr_re *expr_re_new(const char *pattern, size_t len, size_t *err_off, char *err,
                            size_t err_len);
void expr_re_free(struct expr_re *re);
const char *expr_re_pattern(const struct expr_re *re, size_t *len);
/* 1 if s matches, 0 if not, -1 when the match limit was hit (counted in
 * ctx->counters->regex_limit) or matching failed otherwise. */
int expr_re_match(const struct expr_re *re, const char *s, size_t len, struct expr_ctx *ctx);
/* For tests: lower the match limit. */
void expr_re_set_limit(struct expr_re *re, uint32_t limit);

/* Durations: microseconds per unit for a suffix, 0 if s is not a unit. */
int64_t expr_duration_unit(const char *s, size_t len);

/* ---- Program ---- */
struct expr_insn {
    uint8_t op; /* enum expr_op */
    int32_t a;
    int32_t b;
    int32_t c;
};

struct expr {
    struct expr_insn *code;
    uint32_t n_code;
    uint32_t max_stack;
    struct val *consts;
    uint32_t n_consts;
    size_t consts_cap;
    struct expr_re **res;
    uint32_t n_res;
    size_t res_cap;
    struct expr_cidr *cidrs;
    uint32_t n_cidrs;
    size_t cidrs_cap;
    const struct lookup_table **tables; /* borrowed from the env's registry */
    uint32_t n_tables;
    size_t tables_cap;
    enum expr_type type;
    struct expr_arena arena; /* constant strings and list items */
};

/* Compile src->text[start..end) (expr_compile covers the whole text). */
struct expr *expr_compile_range(const struct expr_src *src, size_t start, size_t end,
                                bool allow_rbrace, size_t *stop, const struct expr_env *env,
                                struct diag_list *dl);

/* Append a copy of v (strings and list items in p's arena; a list inside
 * a list becomes null) to p's constants; returns its index.  Shared by the
 * compiler and the conjunct splitter (expr_split.c). */
int32_t expr_prog_const_add(struct expr *p, const struct val *v);
/* p's index for lookup table t, added if new (each table listed once);
 * shared likewise. */
int32_t expr_prog_table_add(struct expr *p, const struct lookup_table *t);

/* Test hook: the program's i-th regex. */
struct expr_re *expr_prog_regex(const struct expr *e, uint32_t i);

#endif
