/* SPDX-License-Identifier: Apache-2.0
 * Rule sets: the compiled form of rule files that the engine runs.
 * rule_load() reads YAML rule files (lists, macros, streams, rules, later
 * files' append/override), checks them, compiles every expression against
 * its stream's schema and returns a ruleset, or NULL with every error in dl.
 * Compiler and runtime meet here: the engine reads these structs and never
 * the YAML.  Everything a ruleset holds is freed by ruleset_free.
 * Tested by: tests/unit/check_rule.c, tests/errors/ */
#ifndef CEPD_RULE_H
#define CEPD_RULE_H

#include "cepd/cep_common.h"
#include "cepd/diag.h"
#include "cepd/evt.h"
#include "cepd/expr.h"

enum rule_kind {
    RULE_SIMPLE = 0,
    RULE_FILTER,
    RULE_AGGREGATE,
    RULE_PATTERN,
    RULE_ABSENCE,
    RULE_KIND_COUNT
};

enum rule_severity {
    RULE_SEV_INFO = 0,
    RULE_SEV_NOTICE,
    RULE_SEV_WARNING,
    RULE_SEV_HIGH,
    RULE_SEV_CRITICAL,
    RULE_SEV_COUNT
};

const char *rule_kind_name(enum rule_kind k);
const char *rule_severity_name(enum rule_severity s);

/* Event time of a stream (design §2.3).  has_time false = processing time. */
enum rule_wm_kind {
    RULE_WM_BOUNDED = 0, /* bounded out-of-orderness */
    RULE_WM_PUNCTUATED,  /* {"$watermark": M} lines */
    RULE_WM_KIND_COUNT
};

enum rule_time_unit {
    RULE_UNIT_S = 0,
    RULE_UNIT_MS,
    RULE_UNIT_US,
    RULE_UNIT_COUNT
};

struct rule_time {
    bool has_time;
    enum rule_wm_kind watermark;
    int time_slot;           /* slot of the time field in the stream schema */
    int watermark_slot;      /* slot of "$watermark" (punctuated), else -1 */
    enum rule_time_unit unit; /* for numeric timestamps */
    int64_t max_out_of_orderness; /* microseconds */
    int64_t allowed_lateness;     /* microseconds */
    int64_t idle_timeout;         /* microseconds; 0 = none */
};

struct rule_stream {
    char *name;
    struct evt_schema *schema; /* every field any rule on this stream reads */
    struct rule_time time;
    uint32_t *rules;           /* indexes of enabled rules reading this stream */
    size_t n_rules;
    struct rule_index *ix_now;   /* index of its simple and filter rules */
    struct rule_index *ix_state; /* index of its pattern, aggregate, absence rules */
};

/* A named output value: `fields: {name: expr}`, `project: [f]`, `emit.fields`. */
struct rule_field {
    char *name;
    struct expr *expr;
};

struct nfa_prog;
struct win_prog;
struct lookup_reg;

#define RULE_PAT_RESULT_MATCHES 0 /* `matches` of a counting pattern rule */

/* What a pattern rule does with a partial match that expires (on_timeout). */
struct rule_timeout {
    bool enabled;
    enum rule_severity severity;
    struct expr_tmpl *message;      /* NULL = no message */
    int32_t emit_stream;            /* -1 = none */
    struct rule_field *emit_fields; /* NULL with emit_stream >= 0: the last event */
    size_t n_emit_fields;
};

/* Noise control (`throttle:`): alerts of the rule with equal throttle-key
 * values within `period` of the alert that opened the period are folded
 * (counted, not sent); the engine's eng_throttle.c keeps the table. */
struct rule_throttle {
    int64_t period;          /* us; 0 = the rule is not throttled */
    struct rule_field *key;  /* evaluated on each alert */
    size_t n_key;
    bool rule_key;           /* no `key:` given: use the rule's own key */
};

struct rule {
    char *id;
    enum rule_kind kind;
    char *description;
    uint32_t stream;            /* input stream index */
    struct expr *when;          /* NULL = every event */
    struct expr **exceptions;   /* the rule never fires when one holds */
    size_t n_exceptions;
    enum rule_severity severity;
    struct expr_tmpl *message;  /* NULL = no message */
    char **sinks;               /* NULL = the config's default_sinks */
    size_t n_sinks;
    bool enabled;
    char **tags;
    size_t n_tags;
    struct rule_field *key;     /* partition key; n_key 0 = one global key */
    size_t n_key;
    struct rule_field *fields;  /* filter: projection; others: extra alert fields */
    size_t n_fields;
    int32_t emit_stream;        /* derived events go here; -1 = none */
    struct rule_field *emit_fields; /* NULL with emit_stream >= 0: the whole event */
    size_t n_emit_fields;
    /* kind pattern: the compiled NFA, what expired partial matches do, and
     * the per-key cap on partial matches (0 = 10000).  With `matches:
     * count` (nfa_prog_counting) message and fields see the number of
     * matches as result RULE_PAT_RESULT_MATCHES (expr_ctx.results). */
    struct nfa_prog *nfa;
    struct rule_timeout on_timeout;
    /* kind aggregate: the compiled windows and aggregates; results are
     * named in having, message and fields (expr_env.find_result). */
    struct win_prog *win;
    uint32_t max_partial_matches;
    /* kind absence: how long a key that was seen may stay silent (us). */
    int64_t absence_for;
    struct rule_throttle throttle;
    /* Keys of a pattern or aggregate rule that received no event for this
     * long (us, event time) are dropped; 0 = never.  The loader resolves
     * the default: the rule's `within` (pattern) or window size / session
     * gap (aggregate) plus the stream's allowed_lateness, none when the
     * rule has no such bound (a pattern without within, count windows). */
    int64_t state_ttl;
    bool state_ttl_explicit;    /* given in the rule file (else the default) */
    uint64_t hash;              /* hash of the compiled form (reload, savepoints) */
    char *file;                 /* where the rule is defined */
    uint32_t line;
};

struct ruleset {
    struct rule **rules;
    size_t n_rules;
    struct rule_stream *streams;
    size_t n_streams;
    /* Streams in an order where every stream comes after the streams whose
     * rules emit into it (rule chains are acyclic, checked at load). */
    uint32_t *stream_order;
    struct rule_priv *priv; /* loader-owned storage (list constants); opaque */
};

/* The rule index of a stream (rule_index.c): which rules an event can
 * match, by equality constraints on their `when`, and their conditions as
 * predicates shared between rules, evaluated once per event.  Built by the
 * loader for every stream; read-only afterwards, so one index serves every
 * engine on the ruleset.  Positions (pos) number the index's rules in rule
 * order. */
struct rule_index;
#define RULE_INDEX_MAX_FIELDS 4
#define RULE_INDEX_MAX_GUARDS 8
size_t rule_index_n_rules(const struct rule_index *ix);
/* True when rule_index_next gives every position, in order, for every
 * event (no rule has a `when` the index uses or a pre-check): a caller may
 * loop over the positions instead. */
bool rule_index_visits_all(const struct rule_index *ix);
/* The rule (index into ruleset.rules) at position pos. */
uint32_t rule_index_rule(const struct rule_index *ix, uint32_t pos);
/* The slot the rule at pos is indexed on, or -1 (visited for every event). */
int rule_index_field(const struct rule_index *ix, uint32_t pos);
/* Distinct predicates (conjuncts) of the index's rules. */
size_t rule_index_n_preds(const struct rule_index *ix);

/* Per-event memo of predicate results, one per index and thread: call
 * rule_index_memo_next for each event and pass its generation to
 * rule_index_begin and rule_index_when.  It also holds the event's visit
 * list (a bit per position), so it serves one iteration at a time:
 * dispatches of one index and thread do not nest. */
struct rule_index_memo_ent;
struct rule_index_memo_cnt;
struct rule_index_memo {
    struct rule_index_memo_ent *ents;
    struct rule_index_memo_cnt *cnt; /* by predicate: what ents[p] counted */
    size_t n;
    uint32_t gen;
    uint64_t *visit;         /* positions still to visit, a bit each */
    uint32_t vis_lo, vis_hi; /* the words of visit that may hold bits */
};
void rule_index_memo_init(struct rule_index_memo *m, const struct rule_index *ix);
void rule_index_memo_fini(struct rule_index_memo *m);
uint32_t rule_index_memo_next(struct rule_index_memo *m);

/* The positions an event (ctx->ev) visits, ascending: every rule that
 * could match it (a rule whose range or regex literal pre-check fails is
 * passed over by next).  Begin evaluates the groups' predicates into the memo
 * and marks the positions in the memo's visit list; next takes them off.
 * On the caller's stack; no allocation. */
struct rule_index_iter {
    struct rule_index_memo *m;
    uint64_t word;                    /* positions left of visit word wi */
    uint32_t wi;
    uint32_t pbad;                    /* pre-check guards the event fails */
    const struct rule_index *ix;
    const struct evt *ev;
};
void rule_index_begin(const struct rule_index *ix, struct expr_ctx *ctx,
                      struct rule_index_memo *m, uint32_t gen, struct rule_index_iter *it);
bool rule_index_next(struct rule_index_iter *it, uint32_t *pos);
/* The `when` of the rule at pos on ctx->ev (true without one): the same
 * answer and the same counters (ctx->counters) as expr_eval_bool of the
 * rule's `when`, predicates already evaluated for this generation taken
 * from the memo. */
bool rule_index_when(const struct rule_index *ix, uint32_t pos, struct expr_ctx *ctx,
                     struct rule_index_memo *m, uint32_t gen);
void rule_index_free(struct rule_index *ix);

/* Options: stream settings from the config file win over rule files. */
struct rule_load_opts {
    struct rule_stream_override {
        const char *name;
        struct rule_time time;
        const char *time_field;   /* dotted path, or NULL */
    } *stream_overrides;
    size_t n_stream_overrides;
    /* Rule selection (config `disable_rules` / `enable_rules`): each entry
     * is an id glob (fnmatch) or "tag:NAME".  Disables apply first, then
     * enables, so an enable wins over a disable.  Unmatched entries warn. */
    const char *const *disable;
    size_t n_disable;
    const char *const *enable;
    size_t n_enable;
    /* Lookup tables expressions may name (lookup(), `in`); NULL = none.
     * Compiled rules point into it: it must outlive the ruleset. */
    const struct lookup_reg *lookups;
};

/* Load, check and compile the rule files in paths (each a file or a glob;
 * sorted; later files may append/override).  Returns NULL if any error was
 * reported to dl (warnings alone do not fail). */
struct ruleset *rule_load(const char *const *paths, size_t n_paths,
                          const struct rule_load_opts *opts, struct diag_list *dl);
/* The same for one rule file held in memory (name is used in diagnostics);
 * for the fuzzer and tests. */
struct ruleset *rule_load_mem(const char *name, const char *text, size_t len,
                              const struct rule_load_opts *opts, struct diag_list *dl);
void ruleset_free(struct ruleset *rs);
int ruleset_find_stream(const struct ruleset *rs, const char *name);
struct rule *ruleset_find_rule(const struct ruleset *rs, const char *id);

#endif
