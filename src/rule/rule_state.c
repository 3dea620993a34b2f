/* SPDX-License-Identifier: Apache-2.0
 * The rule keys about per-key state over time (design §2.5): `for` of an
 * absence rule, `throttle: {key, period}` on any rule, and `state_ttl` of
 * pattern and aggregate rules, whose default is resolved here from the
 * rule's own time bound (within, window size or session gap) plus the
 * stream's allowed_lateness, so that the default never drops state the
 * rule would still use.
 * Tested by: tests/unit/check_rule.c, tests/errors/state_keys.yaml */
#include "cepd/cep_common.h"
#include "rule_int.h"

static int64_t rule_sat_add(int64_t a, int64_t b)
{
    int64_t s;
    return __builtin_add_overflow(a, b, &s) ? CEP_TIME_MAX : s;
}

void rule_absence_compile(struct rule_cc *cc, const struct rule_def *def, struct rule *r)
{
    struct diag_list *dl = cc->ld->dl;
    const struct rule_yaml_node *n = def->v[RK_FOR];
    if (!n) {
        if (!rule_yaml_map_get(def->node, "for"))
            rule_yaml_diag(dl, DIAG_ERROR, def->v[RK_KIND] ? def->v[RK_KIND] : def->node,
                           "an absence rule needs 'for': how long a key may stay silent "
                           "(like for: 5m)");
        return;
    }
    if (rule_yaml_get_duration(n, "for", &r->absence_for, dl) == CEP_OK && r->absence_for == 0)
        rule_yaml_diag(dl, DIAG_ERROR, n, "'for' must be longer than 0");
}

enum {
    RT_KEY = 0,
    RT_PERIOD,
    RT_COUNT
};

static const struct rule_yaml_key rule_throttle_keys[RT_COUNT] = {
    [RT_KEY] = {"key", RULE_YAML_WANT_STR_SEQ},
    [RT_PERIOD] = {"period", RULE_YAML_WANT_STR},
};

void rule_throttle_compile(struct rule_cc *cc, struct evt_schema *schema,
                           const struct rule_def *def, struct rule *r)
{
    struct diag_list *dl = cc->ld->dl;
    const struct rule_yaml_node *n = def->v[RK_THROTTLE], *t[RT_COUNT];
    struct rule_throttle *th = &r->throttle;
    if (rule_yaml_walk(n, "throttle", rule_throttle_keys, RT_COUNT, t, dl) > 0 &&
        n->kind != RULE_YAML_MAP)
        return;
    if (!t[RT_PERIOD]) {
        if (!rule_yaml_map_get(n, "period"))
            rule_yaml_diag(dl, DIAG_ERROR, n,
                           "throttle needs a 'period' (like {key: [src_ip], period: 10m})");
    } else if (rule_yaml_get_duration(t[RT_PERIOD], "period", &th->period, dl) == CEP_OK &&
               th->period == 0) {
        rule_yaml_diag(dl, DIAG_ERROR, t[RT_PERIOD], "'period' must be longer than 0");
    }
    if (t[RT_KEY]) {
        const struct rule_yaml_node *seq = t[RT_KEY];
        th->key = cep_calloc(seq->n ? seq->n : 1, sizeof(*th->key));
        for (size_t i = 0; i < seq->n; i++) {
            th->key[i].name = cep_strdup(seq->items[i]->str);
            th->key[i].expr = rule_cc_expr(cc, schema, seq->items[i], "throttle key");
        }
        th->n_key = seq->n;
    } else if (!rule_yaml_map_get(n, "key")) {
        th->rule_key = true;
    }
    if (r->kind == RULE_FILTER && def->v[RK_EMIT])
        rule_yaml_diag(dl, DIAG_WARNING, rule_key_of(def, n),
                       "'throttle' has no effect here: a filter with 'emit' sends no alerts, "
                       "and derived events are never throttled");
}

/* How long the rule itself may keep a key's state after the key's last
 * event, without counting lateness (0: no bound), and what bounds it. */
static int64_t rule_own_bound(const struct rule_cc *cc, const struct rule *r, const char **what)
{
    if (r->kind == RULE_PATTERN && cc->pat && cc->pat->spec.within > 0) {
        *what = "within";
        return cc->pat->spec.within;
    }
    if (r->kind == RULE_AGGREGATE && cc->agg) {
        const struct win_spec *sp = &cc->agg->spec;
        *what = sp->type == WIN_SESSION ? "session gap" : "window size";
        if (sp->type == WIN_TUMBLING || sp->type == WIN_SLIDING)
            return sp->size;
        if (sp->type == WIN_SESSION)
            return sp->gap;
    }
    return 0;
}

void rule_state_ttl_compile(struct rule_cc *cc, const struct rule_def *def, struct rule *r)
{
    struct diag_list *dl = cc->ld->dl;
    const struct rule_yaml_node *n = def->v[RK_STATE_TTL];
    int64_t lateness = cc->ld->rs->streams[r->stream].time.allowed_lateness;
    const char *what = NULL;
    int64_t own = rule_own_bound(cc, r, &what);
    bool keyed = r->kind == RULE_PATTERN || r->kind == RULE_AGGREGATE;
    if (!n) {
        r->state_ttl = keyed && own > 0 ? rule_sat_add(own, lateness) : 0;
        return;
    }
    const struct rule_yaml_node *at = rule_key_of(def, n);
    if (r->kind == RULE_ABSENCE) {
        rule_yaml_diag(dl, DIAG_ERROR, at,
                       "'state_ttl' does not apply to absence rules: a key's state ends when "
                       "its silence is reported ('for')");
        return;
    }
    if (!keyed) {
        rule_yaml_diag(dl, DIAG_ERROR, at,
                       "'state_ttl' applies to pattern and aggregate rules (a %s rule keeps no "
                       "state per key)",
                       rule_kind_name(r->kind));
        return;
    }
    if (rule_yaml_get_duration(n, "state_ttl", &r->state_ttl, dl) != CEP_OK)
        return;
    if (r->state_ttl == 0) {
        rule_yaml_diag(dl, DIAG_ERROR, n, "'state_ttl' must be longer than 0");
        return;
    }
    r->state_ttl_explicit = true;
    if (own > 0 && r->state_ttl < rule_sat_add(own, lateness)) {
        char b_own[32], b_late[32];
        expr_format_duration(own, b_own, sizeof(b_own));
        expr_format_duration(lateness, b_late, sizeof(b_late));
        rule_yaml_diag(dl, DIAG_WARNING, n,
                       "'state_ttl' (%s) is shorter than the rule's %s (%s) plus the stream's "
                       "allowed_lateness (%s): keys can expire with state the rule would "
                       "still use",
                       n->str, what, b_own, b_late);
    }
}
