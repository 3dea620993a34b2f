/* SPDX-License-Identifier: Apache-2.0
 * `kind: pattern` rules (design §2.2): the `pattern:` list of steps and
 * groups, `within`, `skip`, `max_partial_matches` and `on_timeout` -> an
 * nfa_pattern_spec, checked with positioned errors, then nfa_compile().
 * Indexes are assigned depth-first in order of appearance (a group, then
 * its members), so "a later step" is simply a larger index.  Everything
 * the program borrows (spec arrays, names, expressions) lives in a
 * struct rule_pat that the ruleset frees after the program.
 * `matches: count` (emit TALLY, nfa_count.c) is accepted only where the
 * counting runtime is exact: nfa_spec_countable() holds, no step condition
 * refers to a step, and there is no on_timeout; its message and fields see
 * the count as the result `matches` (rule_pattern_find_result).
 * Tested by: tests/unit/check_rule.c, tests/errors/, tests/golden/graph/ */
#include "cepd/cep_common.h"
#include "rule_int.h"

#include <string.h>

#include "cepd/nfa.h"

#define RULE_PAT_MAX_TIMES 1000 /* each iteration of a counted loop is a state */

/* Keys of a pattern item; a step and a group each accept a subset. */
enum {
    RP_STEP = 0,
    RP_GROUP,
    RP_STEPS,
    RP_WHEN,
    RP_TIMES,
    RP_LOOP,
    RP_GREEDY,
    RP_UNTIL,
    RP_AFTER,
    RP_OPTIONAL,
    RP_NOT,
    RP_WITHIN,
    RP_COUNT
};

static const struct rule_yaml_key rule_step_keys[] = {
    {"step", RULE_YAML_WANT_STR},     {"when", RULE_YAML_WANT_STR},
    {"times", RULE_YAML_WANT_STR},    {"loop", RULE_YAML_WANT_STR},
    {"greedy", RULE_YAML_WANT_BOOL},  {"until", RULE_YAML_WANT_STR},
    {"after", RULE_YAML_WANT_STR},    {"optional", RULE_YAML_WANT_BOOL},
    {"not", RULE_YAML_WANT_BOOL},     {"within", RULE_YAML_WANT_DURATION},
};
static const int rule_step_ids[] = {RP_STEP,  RP_WHEN,  RP_TIMES,    RP_LOOP, RP_GREEDY,
                                    RP_UNTIL, RP_AFTER, RP_OPTIONAL, RP_NOT,  RP_WITHIN};

static const struct rule_yaml_key rule_group_keys[] = {
    {"group", RULE_YAML_WANT_STR},    {"steps", RULE_YAML_WANT_SEQ},
    {"times", RULE_YAML_WANT_STR},    {"loop", RULE_YAML_WANT_STR},
    {"greedy", RULE_YAML_WANT_BOOL},  {"until", RULE_YAML_WANT_STR},
    {"after", RULE_YAML_WANT_STR},    {"optional", RULE_YAML_WANT_BOOL},
    {"within", RULE_YAML_WANT_DURATION},
};
static const int rule_group_ids[] = {RP_GROUP,  RP_STEPS, RP_TIMES,    RP_LOOP,  RP_GREEDY,
                                     RP_UNTIL,  RP_AFTER, RP_OPTIONAL, RP_WITHIN};

/* One step or group while compiling; items are kept in index order. */
struct rule_pat_item {
    const struct rule_yaml_node *map;
    const struct rule_yaml_node *v[RP_COUNT];
    const struct rule_yaml_node *name;
    bool group;
    size_t subtree; /* items in this one's subtree, itself included */
};

static const char *const rule_contig_names[NFA_CONTIG_COUNT] = {
    [NFA_CONTIG_STRICT] = "strict",
    [NFA_CONTIG_RELAXED] = "relaxed",
    [NFA_CONTIG_ANY] = "any",
};

static const char *const rule_skip_names[NFA_SKIP_COUNT] = {
    [NFA_SKIP_NO_SKIP] = "no_skip",
    [NFA_SKIP_TO_NEXT] = "to_next",
    [NFA_SKIP_PAST_LAST_EVENT] = "past_last_event",
    [NFA_SKIP_TO_FIRST] = "to_first",
    [NFA_SKIP_TO_LAST] = "to_last",
};

static const char *const rule_emit_names[NFA_EMIT_COUNT] = {
    [NFA_EMIT_ALL] = "all",
    [NFA_EMIT_TALLY] = "count",
};

static const char *const rule_expr_keywords[] = {
    "true", "false", "null", "and", "or", "not", "in", "contains", "startswith", "endswith",
};

void rule_pat_free(struct rule_pat *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_arrays; i++)
        cep_free(p->arrays[i]);
    cep_free(p->arrays);
    for (size_t i = 0; i < p->n_names; i++)
        cep_free(p->names[i]);
    cep_free(p->names);
    for (size_t i = 0; i < p->n_exprs; i++)
        expr_free(p->exprs[i]);
    cep_free(p->exprs);
    cep_free(p->items);
    cep_free(p);
}

const struct nfa_pattern_spec *rule_pattern_spec(const struct ruleset *rs, const struct rule *r)
{
    for (size_t i = 0; rs->priv && i < rs->priv->n_pats; i++) {
        if (rs->priv->pats[i]->rule == r)
            return &rs->priv->pats[i]->spec;
    }
    return NULL;
}

/* The key node of value v in map (for errors about a key's presence). */
static const struct rule_yaml_node *rule_pat_key(const struct rule_yaml_node *map,
                                                 const struct rule_yaml_node *v)
{
    for (size_t i = 0; i < map->n; i++) {
        if (map->items[i] == v)
            return map->keys[i];
    }
    return v;
}

/* ---- names and indexes ---------------------------------------------------- */

static bool rule_pat_name_valid(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    for (s++; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    }
    return true;
}

/* Append the items of the sequence seq (depth-first).  Recursion follows
 * group nesting, which RULE_YAML_MAX_DEPTH bounds. */
static void rule_pat_collect(struct rule_cc *cc, struct rule_pat *pat,
                             const struct rule_yaml_node *seq)
{
    struct diag_list *dl = cc->ld->dl;
    for (size_t i = 0; i < seq->n; i++) {
        const struct rule_yaml_node *m = seq->items[i];
        if (m->kind != RULE_YAML_MAP) {
            rule_yaml_diag(dl, DIAG_ERROR, m,
                           "expected a mapping for a pattern step (step: NAME, when: ...), "
                           "not %s",
                           rule_yaml_kind_desc(m->kind));
            continue;
        }
        const struct rule_yaml_node *sk = rule_yaml_map_get(m, "step");
        const struct rule_yaml_node *gk = rule_yaml_map_get(m, "group");
        if (sk && gk) {
            rule_yaml_diag(dl, DIAG_ERROR, rule_pat_key(m, gk),
                           "a pattern item has either 'step' or 'group', not both");
            continue;
        }
        if (!sk && !gk) {
            rule_yaml_diag(dl, DIAG_ERROR, m,
                           "a pattern item needs 'step: NAME' (or 'group: NAME' with 'steps')");
            continue;
        }
        const struct rule_yaml_node *out[RULE_YAML_MAX_KEYS];
        const struct rule_yaml_key *keys = gk ? rule_group_keys : rule_step_keys;
        const int *ids = gk ? rule_group_ids : rule_step_ids;
        size_t n_keys = gk ? CEP_ARRAY_LEN(rule_group_keys) : CEP_ARRAY_LEN(rule_step_keys);
        rule_yaml_walk(m, gk ? "a pattern group" : "a pattern step", keys, n_keys, out, dl);
        CEP_GROW(pat->items, pat->cap_items, pat->n_items + 1);
        size_t at = pat->n_items++;
        struct rule_pat_item *it = &pat->items[at];
        memset(it, 0, sizeof(*it));
        it->map = m;
        it->group = gk != NULL;
        for (size_t k = 0; k < n_keys; k++)
            it->v[ids[k]] = out[k];
        it->name = it->v[it->group ? RP_GROUP : RP_STEP];
        if (it->group && it->v[RP_STEPS]) {
            const struct rule_yaml_node *steps = it->v[RP_STEPS];
            rule_pat_collect(cc, pat, steps);
        }
        pat->items[at].subtree = pat->n_items - at;
    }
}

void rule_pattern_names(struct rule_cc *cc, const struct rule_def *def)
{
    struct diag_list *dl = cc->ld->dl;
    const struct rule_yaml_node *seq = def->v[RK_PATTERN];
    struct rule_pat *pat = cep_calloc(1, sizeof(*pat));
    cc->pat = pat;
    if (def->v[RK_MATCHES]) {
        int e = rule_yaml_get_enum(def->v[RK_MATCHES], "matches", rule_emit_names,
                                   NFA_EMIT_COUNT, dl);
        if (e >= 0)
            pat->spec.emit = (enum nfa_emit)e;
    }
    if (!seq) {
        if (!rule_yaml_map_get(def->node, "pattern"))
            rule_yaml_diag(dl, DIAG_ERROR, def->v[RK_KIND],
                           "a pattern rule needs a 'pattern' (a list of steps)");
        return;
    }
    if (seq->kind != RULE_YAML_SEQ) {
        rule_yaml_diag(dl, DIAG_ERROR, seq, "expected a list of steps for 'pattern', not %s",
                       rule_yaml_kind_desc(seq->kind));
        return;
    }
    if (seq->n == 0) {
        rule_yaml_diag(dl, DIAG_ERROR, seq, "empty pattern: give at least one step");
        return;
    }
    rule_pat_collect(cc, pat, seq);
    struct rule_pat_name *names = cep_calloc(pat->n_items + 1, sizeof(*names));
    pat->names = cep_calloc(pat->n_items + 1, sizeof(*pat->names));
    pat->n_names = pat->n_items;
    for (size_t i = 0; i < pat->n_items; i++) {
        const struct rule_pat_item *it = &pat->items[i];
        const struct rule_yaml_node *n = it->name;
        const char *what = it->group ? "group" : "step";
        names[i].group = it->group;
        names[i].node = n;
        pat->names[i] = cep_strdup(n ? n->str : "");
        if (!n)
            continue; /* the walker reported its shape */
        bool keyword = false;
        for (size_t k = 0; k < CEP_ARRAY_LEN(rule_expr_keywords); k++)
            keyword = keyword || strcmp(n->str, rule_expr_keywords[k]) == 0;
        if (!rule_pat_name_valid(n->str)) {
            rule_yaml_diag(dl, DIAG_ERROR, n,
                           "invalid %s name '%s' (lowercase letters, digits and '_', not "
                           "starting with a digit)",
                           what, n->str);
            continue;
        }
        if (keyword) {
            rule_yaml_diag(dl, DIAG_ERROR, n,
                           "%s name '%s' is a keyword of the expression language", what,
                           n->str);
            continue;
        }
        for (size_t j = 0; j < i; j++) {
            if (names[j].name && strcmp(names[j].name, n->str) == 0) {
                rule_yaml_diag(dl, DIAG_ERROR, n, "duplicate %s name '%s' (first at %u:%u)",
                               what, n->str, names[j].node->line, names[j].node->col);
                names[i].dup = true;
                break;
            }
        }
        if (!names[i].dup)
            names[i].name = pat->names[i];
    }
    cc->names = names;
    cc->n_names = pat->n_items;
}

/* ---- steps ------------------------------------------------------------------ */

/* Digits only, at most 9 of them. */
static bool rule_pat_uint(const char *s, size_t len, uint32_t *out)
{
    uint32_t v = 0;
    if (len == 0 || len > 9)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

/* times: N | N..M | N+ -> min, max; 0..M and 0+ make the step optional. */
static int rule_pat_times(struct diag_list *dl, const struct rule_yaml_node *n, uint32_t *min,
                          uint32_t *max, bool *optional)
{
    const char *s = n->str, *dots = strstr(s, "..");
    uint32_t a = 0, b = 0;
    bool ok;
    if (n->len > 0 && s[n->len - 1] == '+') {
        ok = rule_pat_uint(s, n->len - 1, &a);
        b = NFA_UNBOUNDED;
    } else if (dots) {
        ok = rule_pat_uint(s, (size_t)(dots - s), &a) &&
             rule_pat_uint(dots + 2, n->len - (size_t)(dots + 2 - s), &b);
    } else {
        ok = rule_pat_uint(s, n->len, &a);
        b = a;
    }
    if (!ok) {
        rule_yaml_diag(dl, DIAG_ERROR, n,
                       "expected 'times' as N, N..M or N+ (like 3, 2..4, 1+), not '%s'", s);
        return CEP_ERR;
    }
    if (b == 0) {
        rule_yaml_diag(dl, DIAG_ERROR, n,
                       "'times: %s' matches nothing (for an optional step use 'optional: true' "
                       "or 0..M)",
                       s);
        return CEP_ERR;
    }
    if (a > b) {
        rule_yaml_diag(dl, DIAG_ERROR, n, "empty range in 'times': %u is more than %u", a, b);
        return CEP_ERR;
    }
    if (a > RULE_PAT_MAX_TIMES || (b != NFA_UNBOUNDED && b > RULE_PAT_MAX_TIMES)) {
        rule_yaml_diag(dl, DIAG_ERROR, n, "'times' counts at most %d events, not '%s'",
                       RULE_PAT_MAX_TIMES, s);
        return CEP_ERR;
    }
    if (a == 0) {
        *optional = true;
        a = 1;
    }
    *min = a;
    *max = b;
    return CEP_OK;
}

/* State shared by the steps of one rule while they compile. */
struct rule_pat_cc {
    struct rule_cc *cc;
    struct rule_pat *pat;
    struct evt_schema *schema;
    bool any_within; /* the rule or some step has a within */
};

static void rule_pat_keep(struct rule_pat *pat, struct expr *e)
{
    if (!e)
        return;
    CEP_GROW(pat->exprs, pat->cap_exprs, pat->n_exprs + 1);
    pat->exprs[pat->n_exprs++] = e;
}

static const struct expr *rule_pat_expr(struct rule_pat_cc *pc, const struct rule_yaml_node *n,
                                        int current, const char *what)
{
    struct expr *e;
    pc->cc->current_step = current;
    e = rule_cc_expr(pc->cc, pc->schema, n, what);
    pc->cc->current_step = -1;
    rule_pat_keep(pc->pat, e);
    if (e && pc->pat->spec.emit == NFA_EMIT_TALLY && !expr_event_only(e))
        rule_yaml_diag(pc->cc->ld->dl, DIAG_ERROR, n,
                       "with 'matches: count', a step's '%s' may read only the current event, "
                       "not other steps",
                       what);
    return e;
}

static void rule_pat_seq(struct rule_pat_cc *pc, size_t begin, size_t end, bool top,
                         const struct nfa_step_spec **out, size_t *n_out);

/* Read one item's keys into s and check them on their own.  The checks
 * that need neighbours are in rule_pat_seq. */
static void rule_pat_item(struct rule_pat_cc *pc, size_t idx, struct nfa_step_spec *s)
{
    struct diag_list *dl = pc->cc->ld->dl;
    const struct rule_pat_item *it = &pc->pat->items[idx];
    const struct rule_yaml_node *const *v = it->v;
    bool has_times = false;
    s->name = pc->pat->names[idx];
    s->index = (int)idx;
    s->min = 1;
    s->max = 1;
    s->after = NFA_CONTIG_RELAXED;
    s->loop = NFA_CONTIG_RELAXED;
    if (v[RP_TIMES])
        has_times = rule_pat_times(dl, v[RP_TIMES], &s->min, &s->max, &s->optional) == CEP_OK;
    if (v[RP_OPTIONAL]) {
        bool o = false;
        if (rule_yaml_get_bool(v[RP_OPTIONAL], "optional", &o, dl) == CEP_OK)
            s->optional = s->optional || o;
    }
    if (v[RP_GREEDY])
        rule_yaml_get_bool(v[RP_GREEDY], "greedy", &s->greedy, dl);
    if (v[RP_NOT])
        rule_yaml_get_bool(v[RP_NOT], "not", &s->negated, dl);
    if (v[RP_AFTER]) {
        int c = rule_yaml_get_enum(v[RP_AFTER], "contiguity", rule_contig_names, NFA_CONTIG_COUNT,
                                   dl);
        if (c >= 0)
            s->after = (enum nfa_contig)c;
    }
    if (v[RP_LOOP]) {
        int c = rule_yaml_get_enum(v[RP_LOOP], "contiguity", rule_contig_names, NFA_CONTIG_COUNT,
                                   dl);
        if (c >= 0)
            s->loop = (enum nfa_contig)c;
    }
    if (v[RP_WITHIN] && rule_yaml_get_duration(v[RP_WITHIN], "within", &s->within, dl) == CEP_OK &&
        s->within == 0)
        rule_yaml_diag(dl, DIAG_ERROR, v[RP_WITHIN], "'within' must be longer than 0");
    bool loops = has_times && s->max > 1;
    const char *name = s->name;

    if (s->negated) {
        if (v[RP_OPTIONAL] && s->optional)
            rule_yaml_diag(dl, DIAG_ERROR, rule_pat_key(it->map, v[RP_OPTIONAL]),
                           "a 'not' step cannot be optional");
        if (v[RP_TIMES])
            rule_yaml_diag(dl, DIAG_ERROR, rule_pat_key(it->map, v[RP_TIMES]),
                           "a 'not' step cannot have 'times'");
        if (v[RP_AFTER] && s->after == NFA_CONTIG_ANY)
            rule_yaml_diag(dl, DIAG_ERROR, v[RP_AFTER],
                           "a 'not' step takes 'after: strict' (notNext) or 'after: relaxed' "
                           "(notFollowedBy), not 'any'");
    }
    if (v[RP_GREEDY] && s->greedy) {
        if (it->group)
            rule_yaml_diag(dl, DIAG_ERROR, rule_pat_key(it->map, v[RP_GREEDY]),
                           "'greedy' is not allowed on a group");
        else if (!loops && !(v[RP_TIMES] && !has_times))
            rule_yaml_diag(dl, DIAG_ERROR, rule_pat_key(it->map, v[RP_GREEDY]),
                           "'greedy' applies only to a looping step (times: N..M or N+)");
        else if (s->loop == NFA_CONTIG_ANY)
            rule_yaml_diag(dl, DIAG_ERROR, rule_pat_key(it->map, v[RP_GREEDY]),
                           "'greedy' cannot be combined with 'loop: any'");
        if (it->group || !loops || s->loop == NFA_CONTIG_ANY)
            s->greedy = false; /* reported once, not again by its neighbours */
    }
    if (v[RP_LOOP] && !loops && !(v[RP_TIMES] && !has_times))
        rule_yaml_diag(dl, DIAG_ERROR, rule_pat_key(it->map, v[RP_LOOP]),
                       "'loop' applies only to a %s with 'times' (it is the contiguity between "
                       "iterations)",
                       it->group ? "group" : "step");
    if (v[RP_UNTIL] && has_times && s->max != NFA_UNBOUNDED)
        rule_yaml_diag(dl, DIAG_ERROR, rule_pat_key(it->map, v[RP_UNTIL]),
                       "'until' applies only to an unbounded loop (times: N+)");
    else if (v[RP_UNTIL] && !v[RP_TIMES])
        rule_yaml_diag(dl, DIAG_ERROR, rule_pat_key(it->map, v[RP_UNTIL]),
                       "'until' applies only to an unbounded loop (times: N+)");
    if (has_times && s->max == NFA_UNBOUNDED && !pc->any_within)
        rule_yaml_diag(dl, DIAG_WARNING, v[RP_TIMES],
                       "unbounded loop '%s' without within: partial matches grow until "
                       "max_partial_matches",
                       name);

    /* Expressions: a step's own name means the events it took so far; a
     * group's until sees its members. */
    if (v[RP_WHEN])
        s->when = rule_pat_expr(pc, v[RP_WHEN], (int)idx, "when");
    if (v[RP_UNTIL])
        s->until = rule_pat_expr(pc, v[RP_UNTIL], (int)(idx + it->subtree - 1), "until");
    if (it->group) {
        if (!v[RP_STEPS]) {
            if (!rule_yaml_map_get(it->map, "steps"))
                rule_yaml_diag(dl, DIAG_ERROR, it->map, "group '%s' needs 'steps'", name);
        } else if (v[RP_STEPS]->n == 0) {
            rule_yaml_diag(dl, DIAG_ERROR, v[RP_STEPS], "empty group: give at least one step");
        } else {
            rule_pat_seq(pc, idx + 1, idx + it->subtree, false, &s->group, &s->n_group);
        }
    }
}

/* Compile the items of [begin, end) that are direct children (one
 * sequence: the pattern or a group's steps) into a new array, and check
 * the rules that involve neighbours. */
static void rule_pat_seq(struct rule_pat_cc *pc, size_t begin, size_t end, bool top,
                         const struct nfa_step_spec **out, size_t *n_out)
{
    struct diag_list *dl = pc->cc->ld->dl;
    struct rule_pat *pat = pc->pat;
    size_t n = 0;
    for (size_t i = begin; i < end; i += pat->items[i].subtree)
        n++;
    struct nfa_step_spec *arr = cep_calloc(n ? n : 1, sizeof(*arr));
    CEP_GROW(pat->arrays, pat->cap_arrays, pat->n_arrays + 1);
    pat->arrays[pat->n_arrays++] = arr;
    size_t k = 0;
    for (size_t i = begin; i < end; i += pat->items[i].subtree)
        rule_pat_item(pc, i, &arr[k++]);
    *out = arr;
    *n_out = n;

    bool only_not = n > 0;
    for (size_t j = 0; j < n; j++)
        only_not = only_not && arr[j].negated;
    const char *where = top ? "pattern" : "group";
    k = 0;
    for (size_t i = begin; i < end; i += pat->items[i].subtree, k++) {
        const struct rule_pat_item *it = &pat->items[i];
        const struct nfa_step_spec *s = &arr[k];
        const struct rule_yaml_node *not_key =
                it->v[RP_NOT] ? rule_pat_key(it->map, it->v[RP_NOT]) : it->map;
        if (k == 0 && it->v[RP_AFTER])
            rule_yaml_diag(dl, DIAG_WARNING, rule_pat_key(it->map, it->v[RP_AFTER]),
                           "'after' has no effect on the first step of a %s%s", where,
                           top ? "" : " (the group's own 'after' and 'loop' apply)");
        if (top && k == 0 && s->within)
            rule_yaml_diag(dl, DIAG_WARNING, rule_pat_key(it->map, it->v[RP_WITHIN]),
                           "'within' on the first step has no effect (it bounds the time since "
                           "the previous step)");
        if (k > 0 && s->optional && arr[k - 1].greedy)
            rule_yaml_diag(dl, DIAG_ERROR,
                           rule_pat_key(it->map, it->v[RP_OPTIONAL] ? it->v[RP_OPTIONAL]
                                                                    : it->v[RP_TIMES]),
                           "an optional step cannot follow a greedy step");
        if (!s->negated)
            continue;
        if (only_not) {
            if (k == 0)
                rule_yaml_diag(dl, DIAG_ERROR, not_key,
                               "a %s made only of 'not' steps matches nothing", where);
            continue;
        }
        if (k == 0) {
            rule_yaml_diag(dl, DIAG_ERROR, not_key, "a %s cannot start with a 'not' step",
                           where);
            continue;
        }
        if (arr[k - 1].optional)
            rule_yaml_diag(dl, DIAG_ERROR, not_key,
                           "a 'not' step cannot follow an optional step");
        if (k + 1 == n && s->after == NFA_CONTIG_RELAXED) {
            if (!top)
                rule_yaml_diag(dl, DIAG_ERROR, not_key,
                               "a group cannot end with a 'not' step after relaxed contiguity "
                               "(notFollowedBy); move it after the group");
            else if (!pat->spec.within && !s->within)
                rule_yaml_diag(dl, DIAG_ERROR, not_key,
                               "a pattern ending in a 'not' step (notFollowedBy) needs a "
                               "'within' on the rule or on that step");
        }
    }
}

/* ---- rule-level keys --------------------------------------------------------- */

static void rule_pat_skip(struct rule_pat_cc *pc, const struct rule_yaml_node *n)
{
    struct diag_list *dl = pc->cc->ld->dl;
    struct nfa_pattern_spec *spec = &pc->pat->spec;
    if (n->kind != RULE_YAML_SCALAR) {
        rule_yaml_diag(dl, DIAG_ERROR, n, "expected a string for 'skip', not %s",
                       rule_yaml_kind_desc(n->kind));
        return;
    }
    size_t wl = strcspn(n->str, " \t");
    char *word = cep_strndup(n->str, wl);
    size_t arg = wl + strspn(n->str + wl, " \t");
    int k = -1;
    for (size_t i = 0; i < NFA_SKIP_COUNT; i++) {
        if (strcmp(word, rule_skip_names[i]) == 0)
            k = (int)i;
    }
    if (k < 0) {
        const char *sug = diag_suggest(word, rule_skip_names, NFA_SKIP_COUNT);
        if (sug)
            rule_yaml_diag(dl, DIAG_ERROR, n,
                           "unknown skip strategy '%s' (did you mean '%s'?)", word, sug);
        else
            rule_yaml_diag(dl, DIAG_ERROR, n,
                           "unknown skip strategy '%s' (no_skip, to_next, past_last_event, "
                           "to_first STEP or to_last STEP)",
                           word);
        cep_free(word);
        return;
    }
    cep_free(word);
    bool named = k == NFA_SKIP_TO_FIRST || k == NFA_SKIP_TO_LAST;
    struct diag_loc loc;
    rule_yaml_scalar_loc(n, arg, &loc);
    if (named && arg == n->len) {
        rule_yaml_diag(dl, DIAG_ERROR, n, "'skip: %s' needs a step name (skip: %s STEP)",
                       rule_skip_names[k], rule_skip_names[k]);
        return;
    }
    if (!named && arg < n->len) {
        diag_add(dl, DIAG_ERROR, &loc, "'skip: %s' takes no step name", rule_skip_names[k]);
        return;
    }
    spec->skip = (enum nfa_skip)k;
    if (!named)
        return;
    const char *step = n->str + arg;
    const char *cand[64];
    size_t n_cand = 0;
    for (size_t i = 0; i < pc->cc->n_names; i++) {
        const struct rule_pat_name *pn = &pc->cc->names[i];
        if (!pn->name || pn->group)
            continue;
        if (strcmp(pn->name, step) == 0) {
            spec->skip_step = (int)i;
            return;
        }
        if (n_cand < CEP_ARRAY_LEN(cand))
            cand[n_cand++] = pn->name;
    }
    const char *sug = diag_suggest(step, cand, n_cand);
    if (sug)
        diag_add(dl, DIAG_ERROR, &loc, "unknown step '%s' in 'skip' (did you mean '%s'?)", step,
                 sug);
    else
        diag_add(dl, DIAG_ERROR, &loc, "unknown step '%s' in 'skip'", step);
}

enum {
    RT_SEVERITY = 0,
    RT_MESSAGE,
    RT_EMIT,
    RT_COUNT
};

static const struct rule_yaml_key rule_timeout_keys[RT_COUNT] = {
    [RT_SEVERITY] = {"severity", RULE_YAML_WANT_STR},
    [RT_MESSAGE] = {"message", RULE_YAML_WANT_STR},
    [RT_EMIT] = {"emit", RULE_YAML_WANT_MAP},
};

static const struct rule_yaml_key rule_timeout_emit_keys[] = {
    {"stream", RULE_YAML_WANT_STR},
    {"fields", RULE_YAML_WANT_MAP},
};

static void rule_pat_timeout(struct rule_pat_cc *pc, const struct rule_def *def, struct rule *r)
{
    struct diag_list *dl = pc->cc->ld->dl;
    const struct rule_yaml_node *n = def->v[RK_ON_TIMEOUT], *t[RT_COUNT];
    struct rule_timeout *to = &r->on_timeout;
    if (rule_yaml_walk(n, "on_timeout", rule_timeout_keys, RT_COUNT, t, dl) > 0 &&
        n->kind != RULE_YAML_MAP)
        return;
    to->enabled = true;
    to->severity = r->severity;
    if (t[RT_SEVERITY]) {
        const char *sev[RULE_SEV_COUNT];
        for (size_t i = 0; i < RULE_SEV_COUNT; i++)
            sev[i] = rule_severity_name((enum rule_severity)i);
        int s = rule_yaml_get_enum(t[RT_SEVERITY], "severity", sev, RULE_SEV_COUNT, dl);
        if (s >= 0)
            to->severity = (enum rule_severity)s;
    }
    if (t[RT_MESSAGE])
        to->message = rule_cc_tmpl(pc->cc, pc->schema, t[RT_MESSAGE]);
    if (t[RT_EMIT]) {
        const struct rule_yaml_node *e[2];
        rule_yaml_walk(t[RT_EMIT], "on_timeout's emit", rule_timeout_emit_keys, 2, e, dl);
        if (e[0] && e[0]->len > 0)
            to->emit_stream = ruleset_find_stream(pc->cc->ld->rs, e[0]->str);
        else if (e[0])
            rule_yaml_diag(dl, DIAG_ERROR, e[0], "empty stream name");
        else if (!rule_yaml_map_get(t[RT_EMIT], "stream"))
            rule_yaml_diag(dl, DIAG_ERROR, t[RT_EMIT], "emit needs a 'stream'");
        if (e[1])
            rule_compile_fields(pc->cc, pc->schema, e[1], &to->emit_fields,
                                &to->n_emit_fields);
    }
    if (!pc->any_within)
        rule_yaml_diag(dl, DIAG_WARNING, rule_key_of(def, n),
                       "'on_timeout' never fires: the pattern has no 'within'");
}

/* `matches: count`: what the counting runtime cannot do exactly.  Step
 * conditions were checked as they compiled (rule_pat_expr). */
static void rule_pat_counting(struct rule_pat_cc *pc, const struct rule_def *def,
                              size_t errors_before)
{
    struct diag_list *dl = pc->cc->ld->dl;
    const struct rule_yaml_node *m = def->v[RK_MATCHES];
    if (def->v[RK_ON_TIMEOUT]) {
        rule_yaml_diag(dl, DIAG_ERROR, rule_key_of(def, def->v[RK_ON_TIMEOUT]),
                       "'on_timeout' cannot be combined with 'matches: count' (a counting rule "
                       "keeps no partial matches to report)");
        return;
    }
    if (dl->n_errors != errors_before || pc->pat->spec.n_steps == 0)
        return; /* the spec may be incomplete: nfa_spec_countable compiles it */
    const char *why = nfa_spec_countable(&pc->pat->spec);
    if (why)
        rule_yaml_diag(dl, DIAG_ERROR, m, "'matches: count' is not possible here: %s", why);
}

void rule_pattern_compile(struct rule_cc *cc, const struct rule_def *def, struct rule *r,
                          struct evt_schema *schema, size_t errors_before)
{
    struct diag_list *dl = cc->ld->dl;
    struct rule_pat *pat = cc->pat;
    struct rule_pat_cc pc = {.cc = cc, .pat = pat, .schema = schema};
    const struct rule_yaml_node *const *v = def->v;
    pat->rule = r;
    pat->spec.skip = NFA_SKIP_NO_SKIP;
    pat->spec.skip_step = -1;
    pat->spec.n_indexes = pat->n_items;
    if (v[RK_WITHIN] &&
        rule_yaml_get_duration(v[RK_WITHIN], "within", &pat->spec.within, dl) == CEP_OK &&
        pat->spec.within == 0)
        rule_yaml_diag(dl, DIAG_ERROR, v[RK_WITHIN], "'within' must be longer than 0");
    pc.any_within = pat->spec.within > 0;
    for (size_t i = 0; i < pat->n_items && !pc.any_within; i++) {
        const struct rule_yaml_node *w = pat->items[i].v[RP_WITHIN];
        pc.any_within = w && !(w->len == 1 && w->str[0] == '0');
    }
    if (v[RK_MAX_PARTIAL]) {
        int64_t m = 0;
        if (rule_yaml_get_int(v[RK_MAX_PARTIAL], "max_partial_matches", &m, dl) == CEP_OK) {
            if (m < 1 || m > (int64_t)UINT32_MAX)
                rule_yaml_diag(dl, DIAG_ERROR, v[RK_MAX_PARTIAL],
                               "'max_partial_matches' must be between 1 and %u", UINT32_MAX);
            else
                r->max_partial_matches = (uint32_t)m;
        }
    }
    if (pat->n_items > 0)
        rule_pat_seq(&pc, 0, pat->n_items, true, &pat->spec.steps, &pat->spec.n_steps);
    if (v[RK_SKIP])
        rule_pat_skip(&pc, v[RK_SKIP]);
    if (v[RK_ON_TIMEOUT])
        rule_pat_timeout(&pc, def, r);
    cep_free(pat->items);
    pat->items = NULL;
    pat->n_items = pat->cap_items = 0;
    if (pat->spec.emit == NFA_EMIT_TALLY)
        rule_pat_counting(&pc, def, errors_before);
    if (dl->n_errors == errors_before && pat->spec.n_steps > 0)
        r->nfa = nfa_compile(&pat->spec);
}

int rule_pattern_find_result(const struct rule_cc *cc, const char *name, size_t len)
{
    if (!cc->pat || cc->pat->spec.emit != NFA_EMIT_TALLY)
        return -1;
    static const char matches[] = "matches";
    return len == sizeof(matches) - 1 && memcmp(name, matches, len) == 0 ? RULE_PAT_RESULT_MATCHES
                                                                          : -1;
}
