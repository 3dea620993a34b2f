/* SPDX-License-Identifier: Apache-2.0
 * The expression language (design §2.1): compile a `when`, `having`,
 * `fields`, `key` or `${...}` template into bytecode, evaluate it without
 * allocating, and dump it for golden tests.  Names are resolved at compile
 * time through struct expr_env: fields become event slots, list names
 * constants, macros are expanded inline, pattern steps and aggregate results
 * become dedicated opcodes, lookup tables are resolved to the table they
 * name.  Evaluation never fails: a missing field is null,
 * a type mismatch yields false/null and bumps a counter.
 * Tested by: tests/unit/check_expr.c, tests/golden/expr/ */
#ifndef CEPD_EXPR_H
#define CEPD_EXPR_H

#include "cepd/cep_common.h"
#include "cepd/diag.h"
#include "cepd/evt.h"
#include "cepd/val.h"

struct sbuf;
struct lookup_reg;

/* Where an expression's text came from: text[0..len) plus a function that
 * maps a byte offset in text to a file position (the rule loader maps
 * offsets through YAML quoting and block styles).  locate may be NULL, then
 * positions are base_line/base_col + offset on one line. */
struct expr_src {
    const char *text;
    size_t len;
    const char *file;
    uint32_t base_line;
    uint32_t base_col;
    void (*locate)(const void *map, size_t off, uint32_t *line, uint32_t *col);
    const void *map;
};

/* Static types known at compile time (EXPR_T_ANY when unknown, e.g. a field). */
enum expr_type {
    EXPR_T_ANY = 0,
    EXPR_T_NULL,
    EXPR_T_BOOL,
    EXPR_T_NUM, /* int or float */
    EXPR_T_STR,
    EXPR_T_LIST,
    EXPR_T_COUNT
};

/* A macro body, found by name. */
struct expr_macro {
    struct expr_src src;
};

/* Resolution of names at compile time.  Every callback may be NULL (the
 * corresponding feature is then not available in this context). */
struct expr_env {
    /* Fields of the input stream resolve to slots here (get-or-add).
     * NULL: fields are not allowed (e.g. a list literal context). */
    struct evt_schema *schema;
    void *ud;
    /* A named list from `lists:`; returns a VAL_LIST constant or NULL. */
    const struct val *(*find_list)(void *ud, const char *name, size_t len);
    /* A macro by name; false if there is none. */
    bool (*find_macro)(void *ud, const char *name, size_t len, struct expr_macro *out);
    /* Aggregate result names (having, message of an aggregate rule): the
     * result index, or -1.  Results shadow fields of the same name. */
    int (*find_result)(void *ud, const char *name, size_t len);
    /* Pattern steps: the step index, or -1 if the name is not a step. */
    int (*find_step)(void *ud, const char *name, size_t len);
    /* In a pattern step's `when`, the index of that step (its own name means
     * the events it has taken so far); steps after it may not be referenced.
     * -1 outside a step condition (then every step may be referenced). */
    int current_step;
    /* Lookup tables (config `lookups:`) for lookup("t", k) and `x in t`;
     * NULL when none are configured.  Compiled programs point into the
     * registry, which must outlive them. */
    const struct lookup_reg *lookups;
};

/* Per-rule counters bumped during evaluation. */
struct expr_counters {
    uint64_t type_mismatch;
    uint64_t regex_limit;
};

/* Pattern context for step references, provided by the NFA at run time. */
struct expr_pat_ops {
    /* Events step has taken in the current partial match. */
    uint32_t (*count)(void *ud, int step);
    /* Event i (0-based; negative counts from the end) of step, or NULL. */
    const struct evt *(*event)(void *ud, int step, int64_t i);
};

/* Reusable evaluation state (value stack and scratch bytes for strings made
 * by lower()/upper()/str()...).  One per thread; grows to the largest
 * program seen, then never allocates again. */
struct expr_rt;
struct expr_rt *expr_rt_new(void);
void expr_rt_free(struct expr_rt *rt);
/* Room for n aggregate results (a window being fired), one array per
 * thread: warm in cache, where one per window key would be a miss at every
 * close.  Valid until the next call with a larger n; its contents until
 * the next call by any window.  Allocates only to grow. */
struct val *expr_rt_results(struct expr_rt *rt, size_t n);

struct expr_ctx {
    const struct evt *ev;            /* the current event (may be NULL) */
    const struct val *results;       /* aggregate results, by index */
    const struct expr_pat_ops *pat;  /* NULL outside pattern rules */
    void *pat_ud;
    struct expr_counters *counters;  /* may be NULL */
    struct expr_rt *rt;
};

struct expr;

/* Compile src.  On error, appends positioned diagnostics to dl and returns
 * NULL; on success returns an owned program.  `lists`, macros, steps and
 * results are looked up through env. */
struct expr *expr_compile(const struct expr_src *src, const struct expr_env *env,
                          struct diag_list *dl);
void expr_free(struct expr *e);
enum expr_type expr_static_type(const struct expr *e);
/* If the expression is a bare field path, its slot; else -1. */
int expr_field_slot(const struct expr *e);
/* Whether e reads the current event only as a bare field (the whole
 * expression) whose slot is one of slots[0..n), or not at all (no field, no
 * pattern step).  Such an e renders alike (val_to_json, and val_to_text but
 * for an infinite number, whose JSON is null) on any two events whose
 * values in slots have the same JSON: what lets an aggregate alert be
 * built from the stored key instead of a held event. */
bool expr_fields_within(const struct expr *e, const int32_t *slots, size_t n);

/* Evaluate.  Values in *out may point into the event, the program, or rt's
 * scratch, and stay valid until the next evaluation with the same rt. */
void expr_eval(const struct expr *e, struct expr_ctx *ctx, struct val *out);
/* Evaluate as a condition: true only if the result is the boolean true. */
bool expr_eval_bool(const struct expr *e, struct expr_ctx *ctx);

/* Whether s can be used bare in expressions as a name: [A-Za-z_][A-Za-z0-9_]*
 * (lookup tables, aggregate results, lists and macros). */
bool expr_name_valid(const char *s);

/* Conjuncts and shared predicates, for the rule index (expr_split.c).
 * expr_split_and: the top-level conjuncts of condition e as owned programs
 * (*out, an owned array; free each with expr_free): evaluating them in
 * order with expr_eval_bool until one is not true gives e's answer and
 * bumps exactly the counters e would.  Always at least one. */
size_t expr_split_and(const struct expr *e, struct expr ***out);
/* Whether e reads only the current event (no pattern steps, no results). */
bool expr_event_only(const struct expr *e);
/* Whether a and b compute the same on every event; expr_shape_hash agrees
 * with it (equal programs hash equal). */
bool expr_same(const struct expr *a, const struct expr *b);
uint64_t expr_shape_hash(const struct expr *e);
/* If conjunct e is `field OP const` or `const OP field` for a comparison
 * OP, the field's slot, with OP as seen from the field (`1 < x` is x > 1)
 * in *op and the constant in *c; else -1. */
enum expr_cmp {
    EXPR_CMP_EQ = 0,
    EXPR_CMP_NE,
    EXPR_CMP_LT,
    EXPR_CMP_LE,
    EXPR_CMP_GT,
    EXPR_CMP_GE,
    EXPR_CMP_COUNT
};
int expr_cmp_const(const struct expr *e, enum expr_cmp *op, const struct val **c);
/* If conjunct e is `field == const` (either side) or `field in [list]`,
 * the field's slot, with the constant (a VAL_LIST for `in`) in *c; else -1. */
int expr_eq_const(const struct expr *e, const struct val **c);
/* If conjunct e is `field =~ "^literal..."` or `field =~ "^(lit|lit|...)..."`,
 * a regex that matches only strings starting with one of (at most max)
 * literals, the field's slot, with the literals (in the regex's pattern
 * text) in lits[0..*n_lits); else -1. */
struct expr_lit {
    const char *s;
    size_t len;
};
int expr_match_prefixes(const struct expr *e, struct expr_lit *lits, size_t max, size_t *n_lits);
/* Whether conjunct e can never bump a counter: exists(f), f == null,
 * f != null, f in [list], f not in [list]. */
bool expr_quiet(const struct expr *e);

/* Human-readable disassembly (one instruction per line), for goldens. */
void expr_dump(const struct expr *e, const struct evt_schema *schema, struct sbuf *sb);

/* Message templates: literal text with ${expr} parts. */
struct expr_tmpl;
struct expr_tmpl *expr_tmpl_compile(const struct expr_src *src, const struct expr_env *env,
                                    struct diag_list *dl);
void expr_tmpl_free(struct expr_tmpl *t);
/* Append the rendered template to sb (values as text; null renders as ""). */
void expr_tmpl_render(const struct expr_tmpl *t, struct expr_ctx *ctx, struct sbuf *sb);
/* expr_fields_within for every ${...} part of t. */
bool expr_tmpl_fields_within(const struct expr_tmpl *t, const int32_t *slots, size_t n);

/* Durations: parse "30s", "5m", "250ms", "2h", "1d", "100us" into
 * microseconds.  Returns CEP_ERR if s is not a duration. */
int expr_parse_duration(const char *s, size_t len, int64_t *out_us);
/* Write us (>= 0) into buf in its largest exact unit, as a rule file would
 * spell it ("10m", "1500ms", "0s"); truncated to len like snprintf. */
void expr_format_duration(int64_t us, char *buf, size_t len);

#endif
