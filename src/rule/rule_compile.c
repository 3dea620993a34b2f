/* SPDX-License-Identifier: Apache-2.0
 * The rule AST -> a ruleset: list constants, macro bodies, streams (declared,
 * overridden by the config, or created on first use with processing time),
 * every expression compiled against its input stream's schema with positions
 * mapped through YAML, rule selection, per-stream rule lists, the check that
 * rules do not feed back into their own streams, stream order and hashes.
 * Pattern steps are read by rule_pattern.c and aggregates by
 * rule_aggregate.c; expressions compiled here see steps through
 * rule_cc.names and aggregate results through rule_cc.agg.
 * Tested by: tests/unit/check_rule.c, tests/errors/ */
#include "cepd/cep_common.h"
#include "rule_int.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "cepd/sbuf.h"

static const struct val *rule_cc_find_list(void *ud, const char *name, size_t len)
{
    struct rule_cc *cc = ud;
    struct rule_list_def *l = rule_ld_find_list(cc->ld, name, len);
    if (!l)
        return NULL;
    const struct rule_list_rt *rt = &cc->ld->rs->priv->lists[l->list_index];
    for (size_t i = 0; i < cc->n_lists; i++) {
        if (cc->lists[i] == rt)
            return &rt->val;
    }
    CEP_GROW(cc->lists, cc->cap_lists, cc->n_lists + 1);
    cc->lists[cc->n_lists++] = rt;
    return &rt->val;
}

/* Map an offset of a macro's composed body to the piece it came from. */
static void rule_ctext_locate(const void *map, size_t off, uint32_t *line, uint32_t *col)
{
    const struct rule_ctext *ct = map;
    size_t i = 0;
    struct diag_loc loc;
    while (i + 1 < ct->pieces.n && ct->at[i + 1] <= off)
        i++;
    const struct rule_yaml_node *n = ct->pieces.v[i];
    size_t rel = off - ct->at[i];
    rule_yaml_scalar_loc(n, rel > n->len ? n->len : rel, &loc);
    if (n->doc == ct->pieces.v[0]->doc) {
        *line = loc.line;
        *col = loc.col;
        return;
    }
    CEP_GROW(ct->vpos->v, ct->vpos->cap, ct->vpos->n + 1);
    ct->vpos->v[ct->vpos->n] = loc;
    *line = RULE_VLINE_BASE + (uint32_t)ct->vpos->n++;
    *col = 1;
}

static void rule_ctext_src(const struct rule_ctext *ct, struct expr_src *src)
{
    const struct rule_yaml_node *first = ct->pieces.v[0];
    memset(src, 0, sizeof(*src));
    src->text = ct->text;
    src->len = ct->len;
    src->file = first->doc->file;
    src->base_line = first->line;
    src->base_col = first->col;
    src->locate = rule_ctext_locate;
    src->map = ct;
}

static bool rule_cc_find_macro(void *ud, const char *name, size_t len, struct expr_macro *out)
{
    struct rule_cc *cc = ud;
    struct rule_macro_def *m = rule_ld_find_macro(cc->ld, name, len);
    if (!m)
        return false;
    rule_ctext_src(&m->body, &out->src);
    for (size_t i = 0; i < cc->n_macros; i++) {
        if (cc->macros[i] == m)
            return true;
    }
    CEP_GROW(cc->macros, cc->cap_macros, cc->n_macros + 1);
    cc->macros[cc->n_macros++] = m;
    return true;
}

static void rule_diag_remove(struct diag_list *dl, size_t i)
{
    struct diag *d = &dl->items[i];
    if (d->sev == DIAG_ERROR)
        dl->n_errors--;
    else if (d->sev == DIAG_WARNING)
        dl->n_warnings--;
    cep_free(d->file);
    cep_free(d->msg);
    memmove(d, d + 1, (dl->n - i - 1) * sizeof(*d));
    dl->n--;
}

static bool rule_diag_same(const struct diag *a, const struct diag *b)
{
    return a->line == b->line && a->col == b->col && a->sev == b->sev &&
           strcmp(a->msg, b->msg) == 0 &&
           ((!a->file && !b->file) || (a->file && b->file && strcmp(a->file, b->file) == 0));
}

#define RULE_CYCLE_PREFIX "macro cycle: "

/* The names of a "macro cycle: a -> b -> a" message, sorted and joined,
 * so that the same cycle seen from each of its macros compares equal. */
static char *rule_cycle_key(const char *msg)
{
    size_t plen = strlen(RULE_CYCLE_PREFIX);
    if (strncmp(msg, RULE_CYCLE_PREFIX, plen) != 0)
        return NULL;
    char *copy = cep_strdup(msg + plen);
    char *names[64];
    size_t n = 0;
    for (char *p = copy; n < CEP_ARRAY_LEN(names);) {
        char *arrow = strstr(p, " -> ");
        if (arrow)
            *arrow = '\0';
        bool seen = false;
        for (size_t i = 0; i < n && !seen; i++)
            seen = strcmp(names[i], p) == 0;
        if (!seen)
            names[n++] = p;
        if (!arrow)
            break;
        p = arrow + 4;
    }
    for (size_t i = 1; i < n; i++) { /* insertion sort: a handful of names */
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    }
    struct sbuf sb;
    sbuf_init(&sb);
    for (size_t i = 0; i < n; i++) {
        sbuf_puts(&sb, names[i]);
        sbuf_putc(&sb, ' ');
    }
    cep_free(copy);
    return sbuf_steal(&sb);
}

static bool rule_same_cycle(const char *a, const char *b)
{
    char *ka = rule_cycle_key(a), *kb = ka ? rule_cycle_key(b) : NULL;
    bool same = ka && kb && strcmp(ka, kb) == 0;
    cep_free(ka);
    cep_free(kb);
    return same;
}

/* After an expression compile: resolve virtual positions (text appended
 * from another file) and drop diagnostics already reported (a broken macro
 * is reported once, not once per rule that uses it). */
static void rule_diag_post(struct rule_ld *ld, size_t n0)
{
    struct diag_list *dl = ld->dl;
    for (size_t i = n0; i < dl->n; i++) {
        struct diag *d = &dl->items[i];
        if (d->line >= RULE_VLINE_BASE && d->line - RULE_VLINE_BASE < ld->vpos.n) {
            const struct diag_loc *l = &ld->vpos.v[d->line - RULE_VLINE_BASE];
            cep_free(d->file);
            d->file = cep_strdup(l->file);
            d->line = l->line;
            d->col = l->col;
        }
    }
    for (size_t i = n0; i < dl->n;) {
        bool dup = false;
        for (size_t j = 0; j < i && !dup; j++)
            dup = rule_diag_same(&dl->items[j], &dl->items[i]) ||
                  rule_same_cycle(dl->items[j].msg, dl->items[i].msg);
        if (dup)
            rule_diag_remove(dl, i);
        else
            i++;
    }
}

/* A pattern step by name (not a group); see struct rule_cc for no_steps. */
static int rule_cc_find_step(void *ud, const char *name, size_t len)
{
    struct rule_cc *cc = ud;
    for (size_t i = 0; i < cc->n_names; i++) {
        const struct rule_pat_name *pn = &cc->names[i];
        if (pn->group || pn->dup || !pn->name || strlen(pn->name) != len ||
            memcmp(pn->name, name, len) != 0)
            continue;
        if (cc->no_steps) {
            if (cc->step_hit < 0)
                cc->step_hit = (int)i;
            return -1;
        }
        return (int)i;
    }
    return -1;
}

static int rule_cc_find_result(void *ud, const char *name, size_t len)
{
    const struct rule_cc *cc = ud;
    return cc->agg ? rule_aggregate_find_result(ud, name, len)
                   : rule_pattern_find_result(cc, name, len);
}

static void rule_cc_env(struct rule_cc *cc, struct evt_schema *schema, struct expr_env *env)
{
    memset(env, 0, sizeof(*env));
    env->schema = schema;
    env->ud = cc;
    env->find_list = rule_cc_find_list;
    env->find_macro = rule_cc_find_macro;
    env->current_step = -1;
    env->lookups = cc->ld->opts ? cc->ld->opts->lookups : NULL;
    if (cc->names) {
        env->find_step = rule_cc_find_step;
        env->current_step = cc->current_step;
    }
    if (cc->results)
        env->find_result = rule_cc_find_result;
}

static bool rule_expr_nonempty(struct rule_ld *ld, const struct rule_yaml_node *n,
                               const char *what)
{
    for (size_t i = 0; i < n->len; i++) {
        if (n->str[i] != ' ' && n->str[i] != '\t' && n->str[i] != '\n' && n->str[i] != '\r')
            return true;
    }
    rule_yaml_diag(ld->dl, DIAG_ERROR, n, "empty expression for '%s'", what);
    return false;
}

struct expr *rule_cc_expr(struct rule_cc *cc, struct evt_schema *schema,
                          const struct rule_yaml_node *n, const char *what)
{
    struct expr_src src;
    if (!rule_expr_nonempty(cc->ld, n, what))
        return NULL;
    rule_yaml_expr_src(n, &src);
    return rule_cc_expr_src(cc, schema, &src);
}

struct expr *rule_cc_expr_src(struct rule_cc *cc, struct evt_schema *schema,
                              const struct expr_src *src)
{
    struct expr_env env;
    size_t n0 = cc->ld->dl->n;
    rule_cc_env(cc, schema, &env);
    struct expr *e = expr_compile(src, &env, cc->ld->dl);
    rule_diag_post(cc->ld, n0);
    return e;
}

struct expr_tmpl *rule_cc_tmpl(struct rule_cc *cc, struct evt_schema *schema,
                               const struct rule_yaml_node *n)
{
    struct expr_src src;
    struct expr_env env;
    size_t n0 = cc->ld->dl->n;
    rule_yaml_expr_src(n, &src);
    rule_cc_env(cc, schema, &env);
    struct expr_tmpl *t = expr_tmpl_compile(&src, &env, cc->ld->dl);
    rule_diag_post(cc->ld, n0);
    return t;
}

static void rule_cc_free(struct rule_cc *cc)
{
    cep_free(cc->macros);
    cep_free(cc->lists);
    cep_free((void *)cc->names);
    rule_pat_free(cc->pat);
    rule_agg_free(cc->agg);
}

/* ---- lists and macros --------------------------------------------------- */

/* A list item: plain integers and decimals become numbers, the rest strings. */
static struct val rule_list_item(const struct rule_yaml_node *n, struct rule_list_rt *l)
{
    if (n->style == RULE_YAML_PLAIN && n->len > 0 && n->len < 32) {
        const char *s = n->str;
        size_t i = (s[0] == '-') ? 1 : 0, digits = 0, dots = 0;
        for (; i < n->len; i++) {
            if (s[i] >= '0' && s[i] <= '9')
                digits++;
            else if (s[i] == '.')
                dots++;
            else
                break;
        }
        if (i == n->len && digits > 0 && dots <= 1 && s[n->len - 1] != '.' && s[0] != '.' &&
            !(s[0] == '-' && s[1] == '.')) {
            char *end;
            if (dots == 0 && n->len < 19)
                return val_int(strtoll(s, &end, 10));
            if (dots == 1)
                return val_float(strtod(s, &end));
        }
    }
    char *copy = cep_strndup(n->str, n->len);
    l->strs[l->n_strs++] = copy;
    return val_str(copy, n->len);
}

static void rule_build_lists(struct rule_ld *ld)
{
    struct rule_priv *p = ld->rs->priv;
    p->lists = cep_calloc(ld->n_lists ? ld->n_lists : 1, sizeof(*p->lists));
    p->n_lists = ld->n_lists;
    for (size_t i = 0; i < ld->n_lists; i++) {
        struct rule_list_def *def = &ld->lists[i];
        struct rule_list_rt *l = &p->lists[i];
        size_t n = def->items.n;
        def->list_index = i;
        l->name = cep_strdup(def->name->str);
        l->items = cep_calloc(n ? n : 1, sizeof(*l->items));
        l->strs = cep_calloc(n ? n : 1, sizeof(*l->strs));
        for (size_t j = 0; j < n; j++)
            l->items[j] = rule_list_item(def->items.v[j], l);
        l->val.type = VAL_LIST;
        l->val.len = (uint32_t)n;
        l->val.u.items = l->items;
    }
}

static void rule_build_macros(struct rule_ld *ld)
{
    for (size_t i = 0; i < ld->n_macros; i++) {
        struct rule_macro_def *m = &ld->macros[i];
        struct rule_ctext *ct = &m->body;
        struct sbuf sb;
        sbuf_init(&sb);
        ct->at = cep_calloc(m->pieces.n, sizeof(*ct->at));
        for (size_t j = 0; j < m->pieces.n; j++) {
            if (j > 0)
                sbuf_putc(&sb, ' ');
            ct->at[j] = sb.len;
            sbuf_append(&sb, m->pieces.v[j]->str, m->pieces.v[j]->len);
            rule_nodes_push(&ct->pieces, m->pieces.v[j]);
        }
        ct->len = sb.len;
        ct->text = sbuf_steal(&sb);
        ct->vpos = &ld->vpos;
    }
}

/* Compile each macro once on its own, so its errors are reported even when
 * no rule uses it (and, deduplicated, only once when several do). */
static void rule_check_macros(struct rule_ld *ld)
{
    for (size_t i = 0; i < ld->n_macros; i++) {
        struct rule_macro_def *m = &ld->macros[i];
        struct rule_cc cc = {.ld = ld, .current_step = -1};
        struct evt_schema *scratch = evt_schema_new();
        struct expr_src src;
        struct expr_env env;
        size_t n0 = ld->dl->n;
        if (!rule_expr_nonempty(ld, m->pieces.v[0], m->name->str)) {
            evt_schema_free(scratch);
            continue;
        }
        rule_ctext_src(&m->body, &src);
        rule_cc_env(&cc, scratch, &env);
        expr_free(expr_compile(&src, &env, ld->dl));
        rule_diag_post(ld, n0);
        rule_cc_free(&cc);
        evt_schema_free(scratch);
    }
}

/* ---- streams ------------------------------------------------------------ */

struct rule_streams_tmp {
    const char **time_field; /* per stream, borrowed */
    size_t cap;
};

static int rule_stream_get(struct ruleset *rs, struct rule_streams_tmp *tmp, const char *name)
{
    int i = ruleset_find_stream(rs, name);
    if (i >= 0)
        return i;
    size_t cap = rs->n_streams;
    CEP_GROW(rs->streams, cap, rs->n_streams + 1);
    CEP_GROW(tmp->time_field, tmp->cap, rs->n_streams + 1);
    struct rule_stream *st = &rs->streams[rs->n_streams];
    memset(st, 0, sizeof(*st));
    st->name = cep_strdup(name);
    st->schema = evt_schema_new();
    st->time.time_slot = -1;
    st->time.watermark_slot = -1;
    tmp->time_field[rs->n_streams] = NULL;
    return (int)rs->n_streams++;
}

static const char *rule_def_stream_name(const struct rule_def *def)
{
    const struct rule_yaml_node *s = def->v[RK_STREAM];
    return s && s->len > 0 ? s->str : "default";
}

static const struct rule_yaml_node *rule_def_emit_stream(const struct rule_def *def)
{
    const struct rule_yaml_node *s = rule_yaml_map_get(def->v[RK_EMIT], "stream");
    return s && s->kind == RULE_YAML_SCALAR && s->len > 0 ? s : NULL;
}

/* on_timeout.emit.stream of a pattern rule, or NULL. */
static const struct rule_yaml_node *rule_def_timeout_stream(const struct rule_def *def)
{
    const struct rule_yaml_node *e = rule_yaml_map_get(def->v[RK_ON_TIMEOUT], "emit");
    const struct rule_yaml_node *s = rule_yaml_map_get(e, "stream");
    return s && s->kind == RULE_YAML_SCALAR && s->len > 0 ? s : NULL;
}

static void rule_build_streams(struct rule_ld *ld, struct rule_streams_tmp *tmp)
{
    struct ruleset *rs = ld->rs;
    for (size_t i = 0; i < ld->n_streams; i++) {
        int s = rule_stream_get(rs, tmp, ld->streams[i].name->str);
        struct diag_list quiet;
        diag_list_init(&quiet); /* already checked when the file was read */
        rule_yaml_stream_parse(ld->streams[i].value, &rs->streams[s].time, &tmp->time_field[s],
                               &quiet);
        diag_list_free(&quiet);
    }
    for (size_t i = 0; ld->opts && i < ld->opts->n_stream_overrides; i++) {
        const struct rule_stream_override *o = &ld->opts->stream_overrides[i];
        int s = rule_stream_get(rs, tmp, o->name);
        rs->streams[s].time = o->time;
        tmp->time_field[s] = o->time_field;
    }
    for (size_t i = 0; i < ld->n_rules; i++) {
        const struct rule_yaml_node *e = rule_def_emit_stream(&ld->rules[i]);
        const struct rule_yaml_node *te = rule_def_timeout_stream(&ld->rules[i]);
        rule_stream_get(rs, tmp, rule_def_stream_name(&ld->rules[i]));
        if (e)
            rule_stream_get(rs, tmp, e->str);
        if (te)
            rule_stream_get(rs, tmp, te->str);
    }
    if (rs->n_streams == 0)
        rule_stream_get(rs, tmp, "default");
    for (size_t i = 0; i < rs->n_streams; i++) {
        struct rule_time *t = &rs->streams[i].time;
        t->time_slot = -1;
        t->watermark_slot = -1;
        if (!t->has_time)
            continue;
        if (tmp->time_field[i])
            t->time_slot = evt_schema_slot_dotted(rs->streams[i].schema, tmp->time_field[i]);
        if (t->watermark == RULE_WM_PUNCTUATED)
            t->watermark_slot = evt_schema_slot_dotted(rs->streams[i].schema, "$watermark");
    }
}

/* ---- rules ---------------------------------------------------------------- */

const struct rule_yaml_node *rule_key_of(const struct rule_def *def,
                                         const struct rule_yaml_node *v)
{
    for (size_t i = 0; i < def->node->n; i++) {
        if (def->node->items[i] == v)
            return def->node->keys[i];
    }
    return v;
}

/* Items of a list key: the file's list, then appended items. */
static size_t rule_def_items(const struct rule_def *def, enum rule_key k,
                             const struct rule_yaml_node ***out)
{
    const struct rule_yaml_node *base = def->v[k];
    size_t nb = base ? base->n : 0, n = nb + def->extra[k].n;
    const struct rule_yaml_node **v = cep_calloc(n ? n : 1, sizeof(*v));
    for (size_t i = 0; i < nb; i++)
        v[i] = base->items[i];
    for (size_t i = 0; i < def->extra[k].n; i++)
        v[nb + i] = def->extra[k].v[i];
    *out = v;
    return n;
}

static char **rule_strs(const struct rule_def *def, enum rule_key k, size_t *n_out)
{
    const struct rule_yaml_node **v;
    size_t n = rule_def_items(def, k, &v);
    char **s = NULL;
    if (n || def->v[k]) {
        s = cep_calloc(n ? n : 1, sizeof(*s));
        for (size_t i = 0; i < n; i++)
            s[i] = cep_strdup(v[i]->str);
    }
    cep_free(v);
    *n_out = n;
    return s;
}

void rule_compile_fields(struct rule_cc *cc, struct evt_schema *schema,
                         const struct rule_yaml_node *map, struct rule_field **out, size_t *n_out)
{
    struct rule_field *f = cep_calloc(map->n ? map->n : 1, sizeof(*f));
    size_t n = 0;
    for (size_t i = 0; i < map->n; i++) {
        const struct rule_yaml_node *k = map->keys[i], *v = map->items[i];
        bool dup = false;
        for (size_t j = 0; j < i && !dup; j++) {
            if (strcmp(map->keys[j]->str, k->str) == 0) {
                rule_yaml_diag(cc->ld->dl, DIAG_ERROR, k, "field '%s' given twice (first at %u:%u)",
                               k->str, map->keys[j]->line, map->keys[j]->col);
                dup = true;
            }
        }
        if (dup)
            continue;
        if (k->len == 0) {
            rule_yaml_diag(cc->ld->dl, DIAG_ERROR, k, "empty field name");
            continue;
        }
        if (v->kind != RULE_YAML_SCALAR) {
            rule_yaml_diag(cc->ld->dl, DIAG_ERROR, v,
                           "expected an expression string for field '%s', not %s", k->str,
                           rule_yaml_kind_desc(v->kind));
            continue;
        }
        f[n].name = cep_strdup(k->str);
        f[n].expr = rule_cc_expr(cc, schema, v, k->str);
        n++;
    }
    *out = f;
    *n_out = n;
}

static void rule_compile_exprs(struct rule_cc *cc, struct evt_schema *schema,
                               const struct rule_def *def, enum rule_key k,
                               struct rule_field **out, size_t *n_out)
{
    const struct rule_yaml_node **v;
    size_t n = rule_def_items(def, k, &v);
    struct rule_field *f = cep_calloc(n ? n : 1, sizeof(*f));
    for (size_t i = 0; i < n; i++) {
        f[i].name = cep_strdup(v[i]->str);
        cc->step_hit = -1;
        f[i].expr = rule_cc_expr(cc, schema, v[i], rule_keys[k].name);
        if (cc->no_steps && cc->step_hit >= 0)
            rule_yaml_diag(cc->ld->dl, DIAG_ERROR, v[i],
                           "'%s' cannot reference pattern step '%s': the key is computed from "
                           "each event before it is matched",
                           rule_keys[k].name, cc->names[cc->step_hit].name);
    }
    cep_free(v);
    *out = f;
    *n_out = n;
}

/* `emit:` is a mapping {stream, fields} (a derived event).  Aggregate
 * rules also take `mode` in it, or a bare scalar `emit: on_close |
 * on_update` for the firing mode alone; rule_aggregate.c reads the mode. */
enum {
    RE_STREAM = 0,
    RE_FIELDS,
    RE_MODE, /* aggregate rules only: the last entry */
    RE_COUNT
};

static const struct rule_yaml_key rule_emit_keys[RE_COUNT] = {
    [RE_STREAM] = {"stream", RULE_YAML_WANT_STR},
    [RE_FIELDS] = {"fields", RULE_YAML_WANT_MAP},
    [RE_MODE] = {"mode", RULE_YAML_WANT_STR},
};

/* The kind a rule-level key belongs to, or RULE_KIND_COUNT for keys that
 * several kinds take (throttle, state_ttl: rule_state.c checks them). */
static enum rule_kind rule_key_kind(size_t k)
{
    switch (k) {
    case RK_PATTERN:
    case RK_WITHIN:
    case RK_SKIP:
    case RK_ON_TIMEOUT:
    case RK_MAX_PARTIAL:
    case RK_MATCHES:
        return RULE_PATTERN;
    case RK_WINDOW:
    case RK_AGGREGATE:
    case RK_HAVING:
        return RULE_AGGREGATE;
    case RK_FOR:
        return RULE_ABSENCE;
    default:
        return RULE_KIND_COUNT;
    }
}

static struct rule *rule_compile_one(struct rule_ld *ld, const struct rule_def *def,
                                     struct rule_cc *cc)
{
    static const char *const sev_names[RULE_SEV_COUNT] = {"info", "notice", "warning", "high",
                                                         "critical"};
    static const char *const kind_names[RULE_KIND_COUNT] = {"simple", "filter", "aggregate",
                                                           "pattern", "absence"};
    struct ruleset *rs = ld->rs;
    struct rule *r = cep_calloc(1, sizeof(*r));
    const struct rule_yaml_node *const *v = def->v;
    size_t errors_before = ld->dl->n_errors;
    bool supported = true;

    r->id = cep_strdup(def->id ? def->id : "");
    r->file = cep_strdup(def->node->doc->file);
    r->line = def->node->line;
    r->severity = RULE_SEV_WARNING;
    r->enabled = true;
    r->emit_stream = -1;
    r->on_timeout.emit_stream = -1;
    if (v[RK_KIND]) {
        int k = rule_yaml_get_enum(v[RK_KIND], "rule kind", kind_names, RULE_KIND_COUNT, ld->dl);
        if (k >= 0) {
            r->kind = (enum rule_kind)k;
        } else {
            supported = false; /* its keys cannot be judged against an unknown kind */
        }
    }
    for (size_t k = RK_FIRST_FUTURE; supported && k < RK_COUNT; k++) {
        enum rule_kind owner = rule_key_kind(k);
        if (!v[k] || owner == r->kind || owner == RULE_KIND_COUNT)
            continue;
        rule_yaml_diag(ld->dl, DIAG_ERROR, rule_key_of(def, v[k]),
                       "key '%s' belongs to %s rules (this rule is kind '%s')",
                       rule_keys[k].name, rule_kind_name(owner), rule_kind_name(r->kind));
    }
    bool aggregate = supported && r->kind == RULE_AGGREGATE;
    if (supported && r->kind == RULE_PATTERN)
        rule_pattern_names(cc, def);
    /* message, fields, emit fields and the throttle key of an aggregate
     * rule name its results (a bare other name is a field of the window's
     * last event), those of a counting pattern rule its `matches`. */
    bool results = aggregate || (cc->pat && cc->pat->spec.emit == NFA_EMIT_TALLY);
    if (aggregate)
        rule_aggregate_names(cc, def);
    if (v[RK_DESCRIPTION])
        r->description = cep_strdup(v[RK_DESCRIPTION]->str);
    if (v[RK_STREAM] && v[RK_STREAM]->len == 0)
        rule_yaml_diag(ld->dl, DIAG_ERROR, v[RK_STREAM], "empty stream name");
    r->stream = (uint32_t)ruleset_find_stream(rs, rule_def_stream_name(def));
    struct evt_schema *schema = rs->streams[r->stream].schema;
    if (v[RK_SEVERITY]) {
        int s = rule_yaml_get_enum(v[RK_SEVERITY], "severity", sev_names, RULE_SEV_COUNT, ld->dl);
        if (s >= 0)
            r->severity = (enum rule_severity)s;
    }
    if (v[RK_ENABLED])
        rule_yaml_get_bool(v[RK_ENABLED], "enabled", &r->enabled, ld->dl);
    if (v[RK_WHEN] && r->kind == RULE_PATTERN && supported)
        rule_yaml_diag(ld->dl, DIAG_ERROR, rule_key_of(def, v[RK_WHEN]),
                       "a pattern rule has no rule-level 'when' (put conditions on its steps)");
    else if (v[RK_WHEN])
        r->when = rule_cc_expr(cc, schema, v[RK_WHEN], "when");
    {
        const struct rule_yaml_node **ex;
        size_t n = rule_def_items(def, RK_EXCEPTIONS, &ex);
        r->exceptions = cep_calloc(n ? n : 1, sizeof(*r->exceptions));
        for (size_t i = 0; i < n; i++)
            r->exceptions[r->n_exceptions++] = rule_cc_expr(cc, schema, ex[i], "exceptions");
        cep_free(ex);
    }
    cc->results = results;
    if (v[RK_MESSAGE])
        r->message = rule_cc_tmpl(cc, schema, v[RK_MESSAGE]);
    cc->results = false;
    r->sinks = rule_strs(def, RK_SINKS, &r->n_sinks);
    r->tags = rule_strs(def, RK_TAGS, &r->n_tags);
    if (v[RK_KEY]) {
        /* Keys are computed from each event before it reaches the matcher:
         * a step reference has nothing to refer to. */
        cc->no_steps = true;
        rule_compile_exprs(cc, schema, def, RK_KEY, &r->key, &r->n_key);
        cc->no_steps = false;
    }
    if (v[RK_FIELDS] && v[RK_PROJECT]) {
        rule_yaml_diag(ld->dl, DIAG_ERROR, rule_key_of(def, v[RK_PROJECT]),
                       "use either 'fields' or 'project', not both");
    } else if (v[RK_FIELDS]) {
        cc->results = results;
        rule_compile_fields(cc, schema, v[RK_FIELDS], &r->fields, &r->n_fields);
        cc->results = false;
    } else if (v[RK_PROJECT]) {
        rule_compile_exprs(cc, schema, def, RK_PROJECT, &r->fields, &r->n_fields);
    }
    const struct rule_yaml_node *emit = v[RK_EMIT];
    if (emit && emit->kind != RULE_YAML_MAP && !aggregate) {
        rule_yaml_diag(ld->dl, DIAG_ERROR, emit, "expected a mapping for 'emit', not %s",
                       rule_yaml_kind_desc(emit->kind));
    } else if (emit && emit->kind == RULE_YAML_MAP) {
        const struct rule_yaml_node *e[RE_COUNT] = {NULL};
        rule_yaml_walk(emit, "emit", rule_emit_keys, aggregate ? RE_COUNT : RE_MODE, e, ld->dl);
        bool mode_only = aggregate && emit->n == 1 && rule_yaml_map_get(emit, "mode");
        if (e[RE_STREAM] && e[RE_STREAM]->len > 0)
            r->emit_stream = ruleset_find_stream(rs, e[RE_STREAM]->str);
        else if (e[RE_STREAM])
            rule_yaml_diag(ld->dl, DIAG_ERROR, e[RE_STREAM], "empty stream name");
        else if (!rule_yaml_map_get(emit, "stream") && !mode_only)
            rule_yaml_diag(ld->dl, DIAG_ERROR, emit, "emit needs a 'stream'");
        cc->results = results;
        if (e[RE_FIELDS])
            rule_compile_fields(cc, schema, e[RE_FIELDS], &r->emit_fields, &r->n_emit_fields);
        cc->results = false;
    }
    if (supported && r->kind == RULE_PATTERN)
        rule_pattern_compile(cc, def, r, schema, errors_before);
    if (aggregate)
        rule_aggregate_compile(cc, def, r, schema);
    if (supported && r->kind == RULE_ABSENCE)
        rule_absence_compile(cc, def, r);
    if (supported && v[RK_THROTTLE]) {
        cc->results = results;
        rule_throttle_compile(cc, schema, def, r);
        cc->results = false;
    }
    if (aggregate)
        rule_aggregate_finish(cc, r, errors_before);
    if (supported)
        rule_state_ttl_compile(cc, def, r);
    return r;
}

/* ---- selection, stream graph ---------------------------------------------- */

static bool rule_matches(const struct rule *r, const char *pat)
{
    if (strncmp(pat, "tag:", 4) == 0) {
        for (size_t i = 0; i < r->n_tags; i++) {
            if (strcmp(r->tags[i], pat + 4) == 0)
                return true;
        }
        return false;
    }
    return fnmatch(pat, r->id, 0) == 0;
}

static void rule_select(struct rule_ld *ld, const char *const *pats, size_t n, bool enable)
{
    for (size_t i = 0; i < n; i++) {
        size_t hits = 0;
        for (size_t j = 0; j < ld->rs->n_rules; j++) {
            if (rule_matches(ld->rs->rules[j], pats[i])) {
                ld->rs->rules[j]->enabled = enable;
                hits++;
            }
        }
        if (!hits)
            diag_add(ld->dl, DIAG_WARNING, NULL, "%s '%s' matches no rule",
                     enable ? "enable_rules" : "disable_rules", pats[i]);
    }
}

struct rule_edge {
    uint32_t from, to;
};

/* Is there a path from -> to over edges?  On success parent[] holds, for
 * each stream on the path, the stream it was reached from. */
static bool rule_reaches(const struct rule_edge *edges, size_t n_edges, size_t n_streams,
                         uint32_t from, uint32_t to, uint32_t *parent)
{
    uint32_t *queue = cep_calloc(n_streams + 1, sizeof(*queue));
    bool *seen = cep_calloc(n_streams + 1, sizeof(*seen));
    size_t head = 0, tail = 0;
    bool found = from == to;
    queue[tail++] = from;
    seen[from] = true;
    while (!found && head < tail) {
        uint32_t s = queue[head++];
        for (size_t i = 0; i < n_edges && !found; i++) {
            if (edges[i].from != s || seen[edges[i].to])
                continue;
            seen[edges[i].to] = true;
            parent[edges[i].to] = s;
            queue[tail++] = edges[i].to;
            found = edges[i].to == to;
        }
    }
    cep_free(queue);
    cep_free(seen);
    return found;
}

/* Add each emit edge in rule order; an edge that closes a loop is reported
 * at the emit's stream and left out, so each loop is reported once. */
static void rule_check_cycles(struct rule_ld *ld, const struct rule_def *const *defs)
{
    struct ruleset *rs = ld->rs;
    struct rule_edge *edges = cep_calloc(2 * rs->n_rules + 1, sizeof(*edges));
    uint32_t *parent = cep_calloc(rs->n_streams + 1, sizeof(*parent));
    size_t n_edges = 0;
    for (size_t e = 0; e < 2 * rs->n_rules; e++) {
        size_t i = e / 2;
        const struct rule *r = rs->rules[i];
        bool timeout = e % 2 == 1; /* a pattern's on_timeout.emit is an edge too */
        int32_t emit = timeout ? r->on_timeout.emit_stream : r->emit_stream;
        if (emit < 0 || (timeout && !r->on_timeout.enabled))
            continue;
        uint32_t from = r->stream, to = (uint32_t)emit;
        if (rule_reaches(edges, n_edges, rs->n_streams, to, from, parent)) {
            struct sbuf path;
            sbuf_init(&path);
            /* Walk back from `from` to `to`, then print forwards. */
            uint32_t chain[64];
            size_t n_chain = 0;
            for (uint32_t s = from; n_chain < CEP_ARRAY_LEN(chain); s = parent[s]) {
                chain[n_chain++] = s;
                if (s == to)
                    break;
            }
            sbuf_puts(&path, rs->streams[from].name);
            for (size_t k = n_chain; k-- > 0;) {
                sbuf_puts(&path, " -> ");
                sbuf_puts(&path, rs->streams[chain[k]].name);
            }
            const struct rule_yaml_node *at =
                    timeout ? rule_def_timeout_stream(defs[i])
                            : rule_yaml_map_get(defs[i]->v[RK_EMIT], "stream");
            rule_yaml_diag(ld->dl, DIAG_ERROR, at ? at : defs[i]->node,
                           "rule '%s' emits into stream '%s', which feeds back into its own "
                           "input: %s",
                           r->id, rs->streams[to].name, path.buf);
            sbuf_free(&path);
            continue;
        }
        edges[n_edges].from = from;
        edges[n_edges++].to = to;
    }
    /* Kahn's algorithm over the acyclic edges; ties by stream index. */
    uint32_t *indeg = cep_calloc(rs->n_streams + 1, sizeof(*indeg));
    bool *done = cep_calloc(rs->n_streams + 1, sizeof(*done));
    rs->stream_order = cep_calloc(rs->n_streams + 1, sizeof(*rs->stream_order));
    for (size_t i = 0; i < n_edges; i++)
        indeg[edges[i].to]++;
    for (size_t k = 0; k < rs->n_streams; k++) {
        size_t pick = rs->n_streams;
        for (size_t s = 0; s < rs->n_streams && pick == rs->n_streams; s++) {
            if (!done[s] && indeg[s] == 0)
                pick = s;
        }
        if (pick == rs->n_streams)
            break; /* cannot happen: the loop edges were left out */
        done[pick] = true;
        rs->stream_order[k] = (uint32_t)pick;
        for (size_t i = 0; i < n_edges; i++) {
            if (edges[i].from == pick)
                indeg[edges[i].to]--;
        }
    }
    cep_free(indeg);
    cep_free(done);
    cep_free(edges);
    cep_free(parent);
}

void rule_compile_all(struct rule_ld *ld)
{
    struct ruleset *rs = cep_calloc(1, sizeof(*rs));
    struct rule_streams_tmp tmp = {0};
    const struct rule_def **defs = cep_calloc(ld->n_rules + 1, sizeof(*defs));
    rs->priv = cep_calloc(1, sizeof(*rs->priv));
    ld->rs = rs;
    rule_build_lists(ld);
    rule_build_macros(ld);
    rule_build_streams(ld, &tmp);
    rule_check_macros(ld);
    rs->rules = cep_calloc(ld->n_rules + 1, sizeof(*rs->rules));
    for (size_t i = 0; i < ld->n_rules; i++) {
        const struct rule_def *def = &ld->rules[i];
        struct rule_cc cc = {.ld = ld, .current_step = -1, .step_hit = -1};
        struct rule *r = rule_compile_one(ld, def, &cc);
        if (!def->id || def->duplicate) {
            rule_free(r);
            rule_cc_free(&cc);
            continue;
        }
        r->hash = rule_hash_compute(def, r, &rs->streams[r->stream], tmp.time_field[r->stream],
                                    cc.macros, cc.n_macros, cc.lists, cc.n_lists);
        if (cc.pat) {
            CEP_GROW(rs->priv->pats, rs->priv->cap_pats, rs->priv->n_pats + 1);
            rs->priv->pats[rs->priv->n_pats++] = cc.pat;
            cc.pat = NULL;
        }
        if (cc.agg) {
            CEP_GROW(rs->priv->aggs, rs->priv->cap_aggs, rs->priv->n_aggs + 1);
            rs->priv->aggs[rs->priv->n_aggs++] = cc.agg;
            cc.agg = NULL;
        }
        rule_cc_free(&cc);
        defs[rs->n_rules] = def;
        rs->rules[rs->n_rules++] = r;
    }
    if (ld->opts) {
        rule_select(ld, ld->opts->disable, ld->opts->n_disable, false);
        rule_select(ld, ld->opts->enable, ld->opts->n_enable, true);
    }
    for (size_t i = 0; i < rs->n_rules; i++) {
        struct rule_stream *st = &rs->streams[rs->rules[i]->stream];
        if (!rs->rules[i]->enabled)
            continue;
        size_t cap = st->n_rules;
        CEP_GROW(st->rules, cap, st->n_rules + 1);
        st->rules[st->n_rules++] = (uint32_t)i;
    }
    for (size_t s = 0; s < rs->n_streams; s++)
        rule_index_build_stream(rs, &rs->streams[s]);
    rule_check_cycles(ld, defs);
    cep_free(defs);
    cep_free(tmp.time_field);
}
