/* SPDX-License-Identifier: Apache-2.0
 * `kind: aggregate` rules (design §2.4): `window`, the `aggregate:` calls,
 * `having` and the emit mode -> a win_spec, checked with positioned
 * errors, then win_compile() once the rule's outputs are compiled (whether
 * they need the key's latest event: win_spec.no_event).  Result indexes
 * are the positions of the entries of `aggregate:`, fixed before any
 * expression of the rule is compiled, so having, message, fields and emit
 * fields resolve results (expr_env.find_result) while when and key never
 * see them.  Everything the program borrows (aggs, names, expressions)
 * lives in a struct rule_agg that the ruleset frees after the program.
 * Tested by: tests/unit/check_rule.c, tests/errors/ */
#include "cepd/cep_common.h"
#include "rule_int.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cepd/win.h"

static const char *const rule_win_type_names[WIN_TYPE_COUNT] = {
    [WIN_TUMBLING] = "tumbling",
    [WIN_SLIDING] = "sliding",
    [WIN_SESSION] = "session",
    [WIN_COUNT] = "count",
};

static const char *const rule_emit_mode_names[] = {"on_close", "on_update"};

static const char *const rule_agg_keywords[] = {
    "true", "false", "null", "and", "or", "not", "in", "contains", "startswith", "endswith",
};

void rule_agg_free(struct rule_agg *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n_aggs; i++)
        cep_free(a->names[i]);
    cep_free(a->names);
    cep_free(a->name_nodes);
    cep_free(a->aggs);
    for (size_t i = 0; i < a->n_exprs; i++)
        expr_free(a->exprs[i]);
    cep_free(a->exprs);
    cep_free(a);
}

const struct win_spec *rule_aggregate_spec(const struct ruleset *rs, const struct rule *r)
{
    for (size_t i = 0; rs->priv && i < rs->priv->n_aggs; i++) {
        if (rs->priv->aggs[i]->rule == r)
            return &rs->priv->aggs[i]->spec;
    }
    return NULL;
}

static void rule_agg_keep(struct rule_agg *a, struct expr *e)
{
    if (!e)
        return;
    CEP_GROW(a->exprs, a->cap_exprs, a->n_exprs + 1);
    a->exprs[a->n_exprs++] = e;
}

/* ---- names ------------------------------------------------------------------ */

void rule_aggregate_names(struct rule_cc *cc, const struct rule_def *def)
{
    struct diag_list *dl = cc->ld->dl;
    const struct rule_yaml_node *map = def->v[RK_AGGREGATE];
    struct rule_agg *a = cep_calloc(1, sizeof(*a));
    cc->agg = a;
    a->def = def;
    if (!map) {
        rule_yaml_diag(dl, DIAG_ERROR, def->v[RK_KIND] ? def->v[RK_KIND] : def->node,
                       "an aggregate rule needs an 'aggregate' mapping (like failures: count())");
        return;
    }
    if (map->kind != RULE_YAML_MAP) {
        rule_yaml_diag(dl, DIAG_ERROR, map,
                       "expected a mapping for 'aggregate' (NAME: count(), NAME: sum(field) "
                       "...), not %s",
                       rule_yaml_kind_desc(map->kind));
        return;
    }
    if (map->n == 0) {
        rule_yaml_diag(dl, DIAG_ERROR, map,
                       "empty aggregate: give at least one (like failures: count())");
        return;
    }
    a->n_aggs = map->n;
    a->aggs = cep_calloc(map->n, sizeof(*a->aggs));
    a->names = cep_calloc(map->n, sizeof(*a->names));
    a->name_nodes = cep_calloc(map->n, sizeof(*a->name_nodes));
    for (size_t i = 0; i < map->n; i++) {
        const struct rule_yaml_node *k = map->keys[i];
        bool keyword = false, dup = false;
        a->name_nodes[i] = k;
        for (size_t j = 0; j < CEP_ARRAY_LEN(rule_agg_keywords); j++)
            keyword = keyword || strcmp(k->str, rule_agg_keywords[j]) == 0;
        if (!expr_name_valid(k->str)) {
            rule_yaml_diag(dl, DIAG_ERROR, k,
                           "invalid aggregate name '%s' (letters, digits and '_', not starting "
                           "with a digit)",
                           k->str);
            continue;
        }
        if (keyword) {
            rule_yaml_diag(dl, DIAG_ERROR, k,
                           "aggregate name '%s' is a keyword of the expression language",
                           k->str);
            continue;
        }
        for (size_t j = 0; j < i && !dup; j++) {
            if (strcmp(map->keys[j]->str, k->str) == 0) {
                rule_yaml_diag(dl, DIAG_ERROR, k, "duplicate aggregate name '%s' (first at %u:%u)",
                               k->str, map->keys[j]->line, map->keys[j]->col);
                dup = true;
            }
        }
        if (!dup)
            a->names[i] = cep_strdup(k->str);
    }
}

/* Is name (len bytes) the text of one of the rule's key expressions?  A
 * key field is a legitimate bare name in `having` (every event of the
 * window has the same value). */
static bool rule_agg_is_key(const struct rule_def *def, const char *name, size_t len)
{
    const struct rule_yaml_node *keys = def->v[RK_KEY];
    for (size_t i = 0; keys && keys->kind == RULE_YAML_SEQ && i < keys->n; i++) {
        const struct rule_yaml_node *k = keys->items[i];
        if (k->len == len && memcmp(k->str, name, len) == 0)
            return true;
    }
    for (size_t i = 0; i < def->extra[RK_KEY].n; i++) {
        const struct rule_yaml_node *k = def->extra[RK_KEY].v[i];
        if (k->len == len && memcmp(k->str, name, len) == 0)
            return true;
    }
    return false;
}

/* A bare name that is not a result is a field, and fields are allowed, so
 * the only check is the one that can be made: in `having`, a name that is
 * not a key field, list or macro but is one edit or so from a result name
 * is taken for a misspelt result. */
int rule_aggregate_find_result(struct rule_cc *cc, const char *name, size_t len)
{
    struct rule_agg *a = cc->agg;
    for (size_t i = 0; i < a->n_aggs; i++) {
        if (a->names[i] && strlen(a->names[i]) == len && memcmp(a->names[i], name, len) == 0)
            return (int)i;
    }
    const struct rule_yaml_node *h = a->having;
    if (!h || rule_ld_find_macro(cc->ld, name, len) || rule_ld_find_list(cc->ld, name, len))
        return -1;
    if (rule_agg_is_key(a->def, name, len))
        return -1;
    const char **cand = cep_calloc(a->n_aggs + 1, sizeof(*cand));
    size_t n_cand = 0;
    for (size_t i = 0; i < a->n_aggs; i++) {
        if (a->names[i])
            cand[n_cand++] = a->names[i];
    }
    char *word = cep_strndup(name, len);
    const char *sug = diag_suggest(word, cand, n_cand);
    cep_free(cand);
    if (sug) {
        struct diag_loc loc;
        if (name >= h->str && name + len <= h->str + h->len)
            rule_yaml_scalar_loc(h, (size_t)(name - h->str), &loc);
        else
            rule_yaml_node_loc(h, &loc); /* inside a macro */
        diag_add(cc->ld->dl, DIAG_ERROR, &loc,
                 "'%s' in 'having' is not an aggregate of this rule (did you mean '%s'?)", word,
                 sug);
    }
    cep_free(word);
    return -1;
}

/* The key node of value v in map (errors about a key's presence). */
static const struct rule_yaml_node *rule_agg_key(const struct rule_yaml_node *map,
                                                 const struct rule_yaml_node *v)
{
    for (size_t i = 0; i < map->n; i++) {
        if (map->items[i] == v)
            return map->keys[i];
    }
    return v;
}

/* ---- the window -------------------------------------------------------------- */

enum {
    RW_TYPE = 0,
    RW_SIZE,
    RW_SLIDE,
    RW_GAP,
    RW_COUNT
};

static const struct rule_yaml_key rule_window_keys[RW_COUNT] = {
    [RW_TYPE] = {"type", RULE_YAML_WANT_STR},
    [RW_SIZE] = {"size", RULE_YAML_WANT_STR},
    [RW_SLIDE] = {"slide", RULE_YAML_WANT_STR},
    [RW_GAP] = {"gap", RULE_YAML_WANT_STR},
};

/* A size of the window: a duration longer than 0, or for count windows a
 * positive number of events.  Returns CEP_ERR after reporting. */
static int rule_win_amount(struct diag_list *dl, const struct rule_yaml_node *n,
                           const char *name, bool events, int64_t *out)
{
    if (events) {
        if (rule_yaml_get_int(n, name, out, dl) != CEP_OK)
            return CEP_ERR;
        if (*out == 0) {
            rule_yaml_diag(dl, DIAG_ERROR, n,
                           "'%s' of a count window must be at least 1 event", name);
            return CEP_ERR;
        }
        return CEP_OK;
    }
    if (rule_yaml_get_duration(n, name, out, dl) != CEP_OK)
        return CEP_ERR;
    if (*out == 0) {
        rule_yaml_diag(dl, DIAG_ERROR, n, "'%s' must be longer than 0", name);
        return CEP_ERR;
    }
    return CEP_OK;
}

static void rule_agg_window(struct rule_cc *cc, const struct rule_def *def, struct win_spec *sp)
{
    struct diag_list *dl = cc->ld->dl;
    const struct rule_yaml_node *n = def->v[RK_WINDOW], *w[RW_COUNT];
    if (!n) {
        rule_yaml_diag(dl, DIAG_ERROR, def->v[RK_KIND] ? def->v[RK_KIND] : def->node,
                       "an aggregate rule needs a 'window' (like {type: tumbling, size: 1m})");
        return;
    }
    if (rule_yaml_walk(n, "window", rule_window_keys, RW_COUNT, w, dl) > 0 &&
        n->kind != RULE_YAML_MAP)
        return;
    if (!w[RW_TYPE]) {
        if (!rule_yaml_map_get(n, "type"))
            rule_yaml_diag(dl, DIAG_ERROR, n,
                           "a window needs a 'type' (tumbling, sliding, session or count)");
        return;
    }
    int t = rule_yaml_get_enum(w[RW_TYPE], "window type", rule_win_type_names, WIN_TYPE_COUNT,
                               dl);
    if (t < 0)
        return;
    sp->type = (enum win_type)t;
    const char *tn = rule_win_type_names[t];
    bool events = sp->type == WIN_COUNT;
    /* Which keys each type takes: size, slide, gap. */
    static const bool takes[WIN_TYPE_COUNT][3] = {
        [WIN_TUMBLING] = {true, false, false},
        [WIN_SLIDING] = {true, true, false},
        [WIN_SESSION] = {false, false, true},
        [WIN_COUNT] = {true, true, false},
    };
    bool ok = true;
    for (int k = RW_SIZE; k <= RW_GAP; k++) {
        if (w[k] && !takes[t][k - RW_SIZE]) {
            rule_yaml_diag(dl, DIAG_ERROR, rule_agg_key(n, w[k]), "a %s window has no '%s'%s", tn,
                           rule_window_keys[k].name,
                           sp->type == WIN_SESSION ? " (it closes after 'gap' without events)"
                                                   : "");
            ok = false;
        }
    }
    if (!ok)
        return;
    if (sp->type == WIN_SESSION) {
        if (!w[RW_GAP]) {
            if (!rule_yaml_map_get(n, "gap"))
                rule_yaml_diag(dl, DIAG_ERROR, n, "a session window needs a 'gap'");
            return;
        }
        rule_win_amount(dl, w[RW_GAP], "gap", false, &sp->gap);
        return;
    }
    if (!w[RW_SIZE]) {
        if (!rule_yaml_map_get(n, "size"))
            rule_yaml_diag(dl, DIAG_ERROR, n, "a %s window needs a 'size'", tn);
        ok = false;
    } else if (rule_win_amount(dl, w[RW_SIZE], "size", events, &sp->size) != CEP_OK) {
        ok = false;
    }
    if (sp->type == WIN_SLIDING && !w[RW_SLIDE]) {
        if (!rule_yaml_map_get(n, "slide"))
            rule_yaml_diag(dl, DIAG_ERROR, n,
                           "a sliding window needs a 'slide' (for non-overlapping windows use "
                           "type: tumbling)");
        return;
    }
    if (!w[RW_SLIDE] || rule_win_amount(dl, w[RW_SLIDE], "slide", events, &sp->slide) != CEP_OK)
        return;
    if (ok && sp->slide > sp->size)
        rule_yaml_diag(dl, DIAG_ERROR, w[RW_SLIDE],
                       "'slide' (%s) must not be longer than 'size' (%s): events between "
                       "windows would be missed",
                       w[RW_SLIDE]->str, w[RW_SIZE]->str);
}

/* ---- aggregate calls ----------------------------------------------------------- */

static bool rule_agg_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool rule_agg_ident(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
}

/* Offsets of an argument's bytes in its scalar, trimmed of blanks. */
struct rule_agg_arg {
    size_t off, len;
};

/* An aggregate argument as an expression source: the bytes of a scalar
 * from off on, located through the scalar's own map. */
struct rule_agg_sub {
    struct expr_src base;
    size_t off;
};

static void rule_agg_sub_locate(const void *map, size_t off, uint32_t *line, uint32_t *col)
{
    const struct rule_agg_sub *sub = map;
    sub->base.locate(sub->base.map, sub->off + off, line, col);
}

/* Split "(a, f(b, c), [d, e], 'x,y')" at top-level commas, from the byte
 * after '(' to the matching ')'.  Returns the offset of that ')' or 0 if
 * there is none; *n_args is 0 for "()" and "( )". */
static size_t rule_agg_split(const char *s, size_t len, size_t open, struct rule_agg_arg *args,
                             size_t max_args, size_t *n_args)
{
    size_t depth = 0, start = open + 1, n = 0;
    char quote = 0;
    for (size_t i = open + 1; i < len; i++) {
        char c = s[i];
        if (quote) {
            if (c == '\\' && i + 1 < len)
                i++;
            else if (c == quote)
                quote = 0;
            continue;
        }
        if (c == '"' || c == '\'' || c == '`') {
            quote = c;
        } else if (c == '(' || c == '[') {
            depth++;
        } else if ((c == ')' || c == ']') && depth > 0) {
            depth--;
        } else if (c == ')' || (c == ',' && depth == 0)) {
            size_t a = start, b = i;
            while (a < b && rule_agg_space(s[a]))
                a++;
            while (b > a && rule_agg_space(s[b - 1]))
                b--;
            if (n < max_args) {
                args[n].off = a;
                args[n].len = b - a;
            }
            n++;
            start = i + 1;
            if (c == ')') {
                if (n == 1 && b == a)
                    n = 0; /* "()" */
                *n_args = n;
                return i;
            }
        }
    }
    return 0;
}

/* percentile's p: a plain number literal (digits, one optional point). */
static bool rule_agg_percent(const char *s, size_t len, double *out)
{
    size_t digits = 0, dots = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] >= '0' && s[i] <= '9')
            digits++;
        else if (s[i] == '.')
            dots++;
        else
            return false;
    }
    if (digits == 0 || dots > 1 || len > 24)
        return false;
    char buf[32];
    memcpy(buf, s, len);
    buf[len] = '\0';
    *out = strtod(buf, NULL);
    return *out >= 0 && *out <= 100;
}

static void rule_agg_diag_at(struct diag_list *dl, const struct rule_yaml_node *n, size_t off,
                             const char *fmt, ...) CEP_PRINTF(4, 5);

/* Report an error at byte off of scalar n's value. */
static void rule_agg_diag_at(struct diag_list *dl, const struct rule_yaml_node *n, size_t off,
                             const char *fmt, ...)
{
    struct diag_loc loc;
    va_list ap;
    rule_yaml_scalar_loc(n, off, &loc);
    va_start(ap, fmt);
    diag_addv(dl, DIAG_ERROR, &loc, fmt, ap);
    va_end(ap);
}

/* One `name: fn(args)` entry into a->aggs[i]. */
static void rule_agg_call(struct rule_cc *cc, struct rule_agg *a, size_t i,
                          const struct rule_yaml_node *v, struct evt_schema *schema)
{
    struct diag_list *dl = cc->ld->dl;
    struct agg_spec *ag = &a->aggs[i];
    const char *s = v->str, *what = a->name_nodes[i]->str;
    size_t len = v->len, p = 0;
    ag->name = a->names[i] ? a->names[i] : "";
    if (v->kind != RULE_YAML_SCALAR) {
        rule_yaml_diag(dl, DIAG_ERROR, v,
                       "expected an aggregate call like count() or sum(field) for '%s', not %s",
                       what, rule_yaml_kind_desc(v->kind));
        return;
    }
    while (p < len && rule_agg_space(s[p]))
        p++;
    size_t name_off = p;
    while (p < len && rule_agg_ident(s[p], p == name_off))
        p++;
    size_t name_len = p - name_off;
    while (p < len && rule_agg_space(s[p]))
        p++;
    if (name_len == 0 || p >= len || s[p] != '(') {
        rule_yaml_diag(dl, DIAG_ERROR, v,
                       "expected an aggregate call like count() or sum(field) for '%s', not '%s'",
                       what, s);
        return;
    }
    char *fname = cep_strndup(s + name_off, name_len);
    int n_want = 0;
    int fn = agg_fn_lookup(s + name_off, name_len, &n_want);
    if (fn < 0) {
        const char *names[AGG_FN_COUNT];
        for (size_t k = 0; k < AGG_FN_COUNT; k++)
            names[k] = agg_fn_name((enum agg_fn)k);
        const char *sug = diag_suggest(fname, names, AGG_FN_COUNT);
        if (sug)
            rule_agg_diag_at(dl, v, name_off,
                             "unknown aggregate function '%s' (did you mean '%s'?)", fname, sug);
        else
            rule_agg_diag_at(dl, v, name_off,
                             "unknown aggregate function '%s' (count, sum, avg, min, max, "
                             "first, last, distinct_count, stddev or percentile)",
                             fname);
        cep_free(fname);
        return;
    }
    ag->fn = (enum agg_fn)fn;
    struct rule_agg_arg args[2];
    size_t n_args = 0;
    size_t close = rule_agg_split(s, len, p, args, CEP_ARRAY_LEN(args), &n_args);
    if (close == 0) {
        rule_agg_diag_at(dl, v, p, "missing ')' after the arguments of %s(", fname);
        cep_free(fname);
        return;
    }
    size_t q = close + 1;
    while (q < len && rule_agg_space(s[q]))
        q++;
    if (q < len) {
        rule_agg_diag_at(dl, v, q, "unexpected '%s' after %s(...)", s + q, fname);
        cep_free(fname);
        return;
    }
    if ((int)n_args != n_want) {
        struct diag_loc loc;
        rule_yaml_scalar_loc(v, name_off, &loc);
        if (ag->fn == AGG_PERCENTILE)
            diag_add(dl, DIAG_ERROR, &loc,
                     "percentile() takes 2 arguments (an expression and a percentile from 0 to "
                     "100), not %zu",
                     n_args);
        else
            diag_add(dl, DIAG_ERROR, &loc, "%s() takes %d argument%s, not %zu", fname, n_want,
                     n_want == 1 ? "" : "s", n_args);
        cep_free(fname);
        return;
    }
    for (size_t k = 0; k < n_args; k++) {
        if (args[k].len == 0) {
            rule_agg_diag_at(dl, v, args[k].off, "empty argument %zu of %s()", k + 1, fname);
            cep_free(fname);
            return;
        }
    }
    if (ag->fn == AGG_PERCENTILE) {
        const struct rule_agg_arg *pa = &args[1];
        if (!rule_agg_percent(s + pa->off, pa->len, &ag->param)) {
            char *txt = cep_strndup(s + pa->off, pa->len);
            rule_agg_diag_at(dl, v, pa->off,
                             "the percentile must be a number from 0 to 100, not '%s'", txt);
            cep_free(txt);
        }
    }
    if (n_args > 0) {
        struct rule_agg_sub sub;
        rule_yaml_expr_src(v, &sub.base);
        sub.off = args[0].off;
        struct expr_src src = sub.base;
        src.text = s + args[0].off;
        src.len = args[0].len;
        src.locate = rule_agg_sub_locate;
        src.map = &sub;
        struct expr *e = rule_cc_expr_src(cc, schema, &src);
        rule_agg_keep(a, e);
        ag->arg = e;
    }
    cep_free(fname);
}

/* ---- the rule ---------------------------------------------------------------------- */

/* The firing mode: `emit: on_close | on_update`, or `mode:` in an emit
 * mapping (whose stream and fields rule_compile_one reads). */
static void rule_agg_mode(struct rule_cc *cc, const struct rule_def *def, struct win_spec *sp)
{
    struct diag_list *dl = cc->ld->dl;
    const struct rule_yaml_node *e = def->v[RK_EMIT], *m = e;
    if (!e)
        return;
    if (e->kind == RULE_YAML_MAP)
        m = rule_yaml_map_get(e, "mode");
    else if (e->kind != RULE_YAML_SCALAR) {
        rule_yaml_diag(dl, DIAG_ERROR, e,
                       "expected on_close, on_update or a mapping {stream, fields, mode} for "
                       "'emit', not %s",
                       rule_yaml_kind_desc(e->kind));
        return;
    }
    if (!m || m->kind != RULE_YAML_SCALAR)
        return; /* no mode (or a shape the walker reported) */
    int k = rule_yaml_get_enum(m, "emit mode", rule_emit_mode_names,
                               CEP_ARRAY_LEN(rule_emit_mode_names), dl);
    sp->on_update = k == 1;
}

void rule_aggregate_compile(struct rule_cc *cc, const struct rule_def *def, struct rule *r,
                            struct evt_schema *schema)
{
    struct diag_list *dl = cc->ld->dl;
    struct rule_agg *a = cc->agg;
    struct win_spec *sp = &a->spec;
    const struct rule_yaml_node *map = def->v[RK_AGGREGATE];
    a->rule = r;
    rule_agg_window(cc, def, sp);
    if (a->n_aggs > 0) {
        for (size_t i = 0; i < map->n; i++)
            rule_agg_call(cc, a, i, map->items[i], schema);
    }
    sp->aggs = a->aggs;
    sp->n_aggs = a->n_aggs;
    const struct rule_yaml_node *h = def->v[RK_HAVING];
    if (h && h->kind != RULE_YAML_SCALAR) {
        rule_yaml_diag(dl, DIAG_ERROR, h, "expected an expression string for 'having', not %s",
                       rule_yaml_kind_desc(h->kind));
    } else if (h) {
        cc->results = true;
        a->having = h;
        struct expr *e = rule_cc_expr(cc, schema, h, "having");
        a->having = NULL;
        cc->results = false;
        rule_agg_keep(a, e);
        sp->having = e;
    }
    rule_agg_mode(cc, def, sp);
}

/* Whether every output of r but its key (message, exceptions, fields,
 * throttle key) reads the event at most as one of the bare key fields
 * slots[0..n), and `having` reads no field: the window evaluates it on
 * the held event, without which a field is null. */
static bool rule_agg_outputs_within(const struct rule *r, const struct win_spec *sp,
                                    const int32_t *slots, size_t n)
{
    if (r->message && !expr_tmpl_fields_within(r->message, slots, n))
        return false;
    if (sp->having && !expr_fields_within(sp->having, NULL, 0))
        return false;
    for (size_t i = 0; i < r->n_exceptions; i++)
        if (!expr_fields_within(r->exceptions[i], slots, n))
            return false;
    for (size_t i = 0; i < r->n_fields; i++)
        if (!expr_fields_within(r->fields[i].expr, slots, n))
            return false;
    for (size_t i = 0; i < r->throttle.n_key; i++)
        if (!expr_fields_within(r->throttle.key[i].expr, slots, n))
            return false;
    return true;
}

/* Whether every output of r (key, message, fields, exceptions, having,
 * throttle key) reads the event only as the bare key fields, and r emits
 * no derived event (which copies its last event's line or arrival order):
 * then its alerts can be built from the stored key JSON alone, the same
 * for any event of the key, and no window key need hold one. */
static bool rule_agg_no_event(const struct rule *r, const struct win_spec *sp)
{
    if (r->emit_stream >= 0)
        return false;
    int32_t *slots = cep_calloc(r->n_key ? r->n_key : 1, sizeof(*slots));
    size_t n = 0;
    bool ok = true;
    for (size_t i = 0; i < r->n_key && ok; i++) {
        int slot = expr_field_slot(r->key[i].expr);
        if (slot >= 0)
            slots[n++] = slot;
        else
            ok = expr_fields_within(r->key[i].expr, NULL, 0);
    }
    ok = ok && rule_agg_outputs_within(r, sp, slots, n);
    cep_free(slots);
    return ok;
}

void rule_aggregate_finish(struct rule_cc *cc, struct rule *r, size_t errors_before)
{
    struct win_spec *sp = &cc->agg->spec;
    if (cc->ld->dl->n_errors != errors_before || sp->n_aggs == 0)
        return;
    sp->no_event = rule_agg_no_event(r, sp);
    r->win = win_compile(sp);
}
