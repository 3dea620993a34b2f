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
#include "cepd/rule_yaml.h"

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
    RK_FIRST_FUTURE, /* keys of kinds not implemented yet start here */
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

struct rule_priv {
    struct rule_list_rt *lists;
    size_t n_lists;
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

/* rule_compile.c: everything after the files are read. */
void rule_compile_all(struct rule_ld *ld);

/* rule_hash.c: the compiled-form hash of one rule.  used_* are the macros
 * and lists its expressions referenced. */
uint64_t rule_hash_compute(const struct rule_def *def, const struct rule *r,
                           const struct rule_stream *st, const char *time_field,
                           struct rule_macro_def *const *used_macros, size_t n_used_macros,
                           const struct rule_list_rt *const *used_lists, size_t n_used_lists);

#endif
