/* SPDX-License-Identifier: Apache-2.0
 * Private to the rule module: the rule AST between loading and compiling
 * (YAML nodes per key, after later files' append/override), the load
 * context, and the helpers shared by rule_load.c, rule_compile.c and
 * rule_hash.c.  YAML docs stay alive for the whole load; nothing here
 * outlives rule_load() except struct rule_priv, owned by the ruleset.
 * Tested by: tests/unit/check_rule.c, tests/errors/ */
#ifndef CEPD_RULE_INT_H
#define CEPD_RULE_INT_H

#include "cepd/cep_common.h"
#include "cepd/rule.h"
#include "cepd/nfa.h"
#include "cepd/rule_yaml.h"
#include "cepd/win.h"

/* Keys of a rule mapping, in the order the canonical hash feeds them. */
enum rule_key {
    RK_ID = 0,
    RK_KIND,
    RK_DESCRIPTION,
    RK_STREAM,
    RK_WHEN,
    RK_SEVERITY,
    RK_MESSAGE,
    RK_SINKS,
    RK_ENABLED,
    RK_TAGS,
    RK_EXCEPTIONS,
    RK_KEY,
    RK_FIELDS,
    RK_PROJECT,
    RK_EMIT,
    RK_FIRST_FUTURE, /* keys that belong to one kind (or none yet) start here */
    RK_WINDOW = RK_FIRST_FUTURE,
    RK_AGGREGATE,
    RK_HAVING,
    RK_PATTERN,
    RK_WITHIN,
    RK_SKIP,
    RK_ON_TIMEOUT,
    RK_FOR,
    RK_THROTTLE,
    RK_MAX_PARTIAL,
    RK_STATE_TTL,
    RK_MATCHES,
    RK_COUNT
};

extern const struct rule_yaml_key rule_keys[RK_COUNT];

/* A growable array of borrowed nodes. */
struct rule_nodes {
    const struct rule_yaml_node **v;
    size_t n;
    size_t cap;
};

/* Text made of several scalars joined by spaces (a macro plus appends),
 * with positions mapped back to each piece. */
struct rule_ctext {
    char *text;
    size_t len;
    struct rule_nodes pieces;
    size_t *at; /* start of each piece in text */
    struct rule_vpos *vpos; /* positions in other files, see rule_vpos_fix */
};

struct rule_list_def {
    const struct rule_yaml_node *name; /* key node */
    struct rule_nodes items;
    size_t list_index; /* into rule_priv.lists after building */
};

struct rule_macro_def {
    const struct rule_yaml_node *name;
    struct rule_nodes pieces; /* the body, then appended text */
    struct rule_ctext body;   /* built before compiling */
};

struct rule_stream_def {
    const struct rule_yaml_node *name;
    const struct rule_yaml_node *value;
};

struct rule_def {
    const struct rule_yaml_node *node; /* the rule's mapping */
    const struct rule_yaml_node *v[RK_COUNT];
    struct rule_nodes extra[RK_COUNT]; /* appended items of list keys */
    const char *id;                    /* NULL if missing or invalid */
    bool duplicate;
};

/* Side table for positions that a composite text maps into another file
 * than its own (expr_src has one file): locate() returns a virtual line
 * RULE_VLINE_BASE + i and the loader rewrites the diagnostics afterwards. */
#define RULE_VLINE_BASE 0xF0000000u
struct rule_vpos {
    struct diag_loc *v;
    size_t n;
    size_t cap;
};

/* List constants owned by the ruleset. */
struct rule_list_rt {
    char *name;
    struct val val; /* VAL_LIST over items */
    struct val *items;
    char **strs;
    size_t n_strs;
};

struct rule_pat_item;

/* What a pattern rule owns besides its struct rule: the nfa_pattern_spec
 * (and every array it points to), the step names and the compiled step
 * expressions, all borrowed by rule->nfa.  Freed after the rule (and so
 * after its program) by ruleset_free.  rule_pattern.c builds it. */
struct rule_pat {
    const struct rule *rule;      /* the owner */
    struct nfa_pattern_spec spec;
    struct nfa_step_spec **arrays; /* the top-level array and one per group */
    size_t n_arrays, cap_arrays;
    char **names;                 /* step and group names, by index */
    size_t n_names;
    struct expr **exprs;          /* when/until of every step */
    size_t n_exprs, cap_exprs;
    struct rule_pat_item *items;  /* while compiling: the steps in index order */
    size_t n_items, cap_items;
};

/* What an aggregate rule owns besides its struct rule: the win_spec, its
 * agg_spec array, the result names and the compiled argument and `having`
 * expressions, all borrowed by rule->win.  Freed after the rule (and so
 * after its program) by ruleset_free.  rule_aggregate.c builds it. */
struct rule_agg {
    const struct rule *rule;      /* the owner */
    struct win_spec spec;
    struct agg_spec *aggs;        /* one per `aggregate:` entry, in order */
    char **names;                 /* result names by index; NULL: rejected */
    const struct rule_yaml_node **name_nodes; /* their key nodes */
    size_t n_aggs;
    struct expr **exprs;          /* arguments and having */
    size_t n_exprs, cap_exprs;
    const struct rule_def *def;   /* while compiling */
    const struct rule_yaml_node *having; /* while compiling `having` */
};

struct rule_priv {
    struct rule_list_rt *lists;
    size_t n_lists;
    struct rule_pat **pats;       /* one per pattern rule */
    size_t n_pats, cap_pats;
    struct rule_agg **aggs;       /* one per aggregate rule */
    size_t n_aggs, cap_aggs;
};

struct rule_ld {
    struct diag_list *dl;
    size_t errors_before;
    size_t diags_before; /* this load's diagnostics start here */
    const struct rule_load_opts *opts;
    struct rule_yaml_doc **docs;
    size_t n_docs;
    size_t cap_docs;
    struct rule_list_def *lists;
    size_t n_lists, cap_lists;
    struct rule_macro_def *macros;
    size_t n_macros, cap_macros;
    struct rule_stream_def *streams;
    size_t n_streams, cap_streams;
    struct rule_def *rules;
    size_t n_rules, cap_rules;
    struct rule_vpos vpos;
    struct ruleset *rs;
};

void rule_nodes_push(struct rule_nodes *ns, const struct rule_yaml_node *n);

/* rule_load.c */
struct rule_list_def *rule_ld_find_list(struct rule_ld *ld, const char *name, size_t len);
struct rule_macro_def *rule_ld_find_macro(struct rule_ld *ld, const char *name, size_t len);

/* Free one compiled rule (NULL is a no-op). */
void rule_free(struct rule *r);

/* A pattern's names while it compiles: steps and groups by index, so
 * expressions resolve step references (groups are not referenced). */
struct rule_pat_name {
    const struct rule_yaml_node *node; /* the name's value node */
    const char *name;
    bool group;
    bool dup; /* a second definition: not resolved */
};

/* Per-expression-owner context handed to expr callbacks: records which
 * macros and lists were used (they feed the rule's hash).  In a pattern
 * rule, names resolves step references; current_step is the expr_env
 * value for the expression being compiled.  With no_steps set, a step
 * reference is recorded in step_hit instead of resolved (keys). */
struct rule_cc {
    struct rule_ld *ld;
    struct rule_macro_def **macros;
    size_t n_macros, cap_macros;
    const struct rule_list_rt **lists;
    size_t n_lists, cap_lists;
    const struct rule_pat_name *names;
    size_t n_names;
    int current_step;
    bool no_steps;
    int step_hit;
    struct rule_pat *pat; /* built by rule_pattern_compile, owned until stored */
    /* In an aggregate rule: its storage (owned until stored) and whether
     * the expression being compiled sees the results (having, message,
     * fields, emit fields; not when or key). */
    struct rule_agg *agg;
    bool results;
};

/* rule_compile.c: everything after the files are read. */
void rule_compile_all(struct rule_ld *ld);
struct expr *rule_cc_expr(struct rule_cc *cc, struct evt_schema *schema,
                          const struct rule_yaml_node *n, const char *what);
/* The same for a source that is part of a scalar (an aggregate's argument). */
struct expr *rule_cc_expr_src(struct rule_cc *cc, struct evt_schema *schema,
                              const struct expr_src *src);
struct expr_tmpl *rule_cc_tmpl(struct rule_cc *cc, struct evt_schema *schema,
                               const struct rule_yaml_node *n);
void rule_compile_fields(struct rule_cc *cc, struct evt_schema *schema,
                         const struct rule_yaml_node *map, struct rule_field **out,
                         size_t *n_out);
const struct rule_yaml_node *rule_key_of(const struct rule_def *def,
                                         const struct rule_yaml_node *v);

/* rule_pattern.c: a `kind: pattern` rule.  rule_pattern_names runs first:
 * it reads the step and group names of def's `pattern:` (reporting bad and
 * duplicate names) into cc->names, so that every expression of the rule
 * can reference steps.  rule_pattern_compile then checks and compiles the
 * steps, `within`, `skip`, `max_partial_matches` and `on_timeout` into r,
 * leaving the owned storage in cc->pat, and calls nfa_compile when the
 * rule had no errors. */
void rule_pattern_names(struct rule_cc *cc, const struct rule_def *def);
void rule_pattern_compile(struct rule_cc *cc, const struct rule_def *def, struct rule *r,
                          struct evt_schema *schema, size_t errors_before);
void rule_pat_free(struct rule_pat *p);
/* With `matches: count` (read by rule_pattern_names), message and fields
 * name the count `matches`: its result index, else -1. */
int rule_pattern_find_result(const struct rule_cc *cc, const char *name, size_t len);
/* The spec a pattern rule was compiled from (tests and debugging), or NULL. */
const struct nfa_pattern_spec *rule_pattern_spec(const struct ruleset *rs, const struct rule *r);

/* rule_aggregate.c: a `kind: aggregate` rule.  rule_aggregate_names runs
 * first: it reads the result names of def's `aggregate:` (reporting bad and
 * duplicate names) into cc->agg, so that having, message, fields and emit
 * fields can name results.  rule_aggregate_compile then checks the window,
 * the aggregate calls, `having` and the emit mode into cc->agg's spec;
 * rule_aggregate_finish, after every other part of the rule compiled (the
 * throttle last), decides win_spec.no_event from what they read and calls
 * win_compile when the rule had no errors. */
void rule_aggregate_names(struct rule_cc *cc, const struct rule_def *def);
void rule_aggregate_compile(struct rule_cc *cc, const struct rule_def *def, struct rule *r,
                            struct evt_schema *schema);
void rule_aggregate_finish(struct rule_cc *cc, struct rule *r, size_t errors_before);
void rule_agg_free(struct rule_agg *a);
/* The result index of name in an aggregate rule being compiled, or -1;
 * reports a likely misspelt result while `having` compiles. */
int rule_aggregate_find_result(struct rule_cc *cc, const char *name, size_t len);
/* The spec an aggregate rule was compiled from (tests and debugging), or NULL. */
const struct win_spec *rule_aggregate_spec(const struct ruleset *rs, const struct rule *r);

/* rule_state.c: the keys about per-key state in time.  rule_absence_compile
 * reads `for` of an absence rule; rule_throttle_compile reads `throttle`
 * (its key expressions see what the rule's message sees: cc as set up by
 * the caller); rule_state_ttl_compile checks an explicit `state_ttl` or
 * resolves the default, after the kind's own compile (it reads the
 * pattern's within from cc->pat and the window from cc->agg). */
void rule_absence_compile(struct rule_cc *cc, const struct rule_def *def, struct rule *r);
void rule_throttle_compile(struct rule_cc *cc, struct evt_schema *schema,
                           const struct rule_def *def, struct rule *r);
void rule_state_ttl_compile(struct rule_cc *cc, const struct rule_def *def, struct rule *r);

/* rule_index.c: build st->ix_now and st->ix_state over st->rules. */
void rule_index_build_stream(const struct ruleset *rs, struct rule_stream *st);

/* rule_hash.c: the compiled-form hash of one rule.  used_* are the macros
 * and lists its expressions referenced. */
uint64_t rule_hash_compute(const struct rule_def *def, const struct rule *r,
                           const struct rule_stream *st, const char *time_field,
                           struct rule_macro_def *const *used_macros, size_t n_used_macros,
                           const struct rule_list_rt *const *used_lists, size_t n_used_lists);

#endif
