/* SPDX-License-Identifier: Apache-2.0
 * Reading rule files: paths and globs -> YAML trees -> the rule AST (lists,
 * macros, streams, rules) with later files' append/override applied, then
 * rule_compile_all() turns it into a ruleset.  Every error in every file is
 * reported; a broken item is poisoned and loading goes on.
 * Tested by: tests/unit/check_rule.c, tests/errors/
 *
 * Append and override (Falco's model, for site-local tuning of rule packs).
 * A file may carry two more top-level keys, applied after the file's own
 * definitions, to items defined by this file or an earlier one:
 *
 *   append:
 *     lists:  {admin_users: [operator]}          # items are added
 *     macros: {ssh_failure: "or event == 'x'"}   # text joined with a space
 *     rules:  {root-login: {exceptions: ['user == "ci"'], tags: [site],
 *                           sinks: [soc]}}       # list keys only
 *   override:
 *     lists:  {admin_users: [root]}               # replaces the items
 *     macros: {ssh_failure: event == "ssh_fail"}  # replaces the body
 *     rules:  {root-login: {severity: high, enabled: false}}
 *                                                 # replaces those keys
 *
 * Naming an item that is not defined (yet) is an error at the name.  Paths
 * are taken in the order given; a directory stands for its *.yaml and *.yml
 * files and a glob for its matches, each sorted bytewise; a file named twice
 * is read once. */
#include "cepd/cep_common.h"
#include "cepd/rule.h"
#include "rule_int.h"

#include <errno.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cepd/sbuf.h"

const struct rule_yaml_key rule_keys[RK_COUNT] = {
    [RK_ID] = {"id", RULE_YAML_WANT_STR},
    [RK_KIND] = {"kind", RULE_YAML_WANT_STR},
    [RK_DESCRIPTION] = {"description", RULE_YAML_WANT_STR},
    [RK_STREAM] = {"stream", RULE_YAML_WANT_STR},
    [RK_WHEN] = {"when", RULE_YAML_WANT_STR},
    [RK_SEVERITY] = {"severity", RULE_YAML_WANT_STR},
    [RK_MESSAGE] = {"message", RULE_YAML_WANT_STR},
    [RK_SINKS] = {"sinks", RULE_YAML_WANT_STR_SEQ},
    [RK_ENABLED] = {"enabled", RULE_YAML_WANT_BOOL},
    [RK_TAGS] = {"tags", RULE_YAML_WANT_STR_SEQ},
    [RK_EXCEPTIONS] = {"exceptions", RULE_YAML_WANT_STR_SEQ},
    [RK_KEY] = {"key", RULE_YAML_WANT_STR_SEQ},
    [RK_FIELDS] = {"fields", RULE_YAML_WANT_MAP},
    [RK_PROJECT] = {"project", RULE_YAML_WANT_STR_SEQ},
    [RK_EMIT] = {"emit", RULE_YAML_WANT_ANY}, /* a mapping; aggregate: or a mode */
    [RK_WINDOW] = {"window", RULE_YAML_WANT_ANY},
    [RK_AGGREGATE] = {"aggregate", RULE_YAML_WANT_ANY},
    [RK_HAVING] = {"having", RULE_YAML_WANT_ANY},
    [RK_PATTERN] = {"pattern", RULE_YAML_WANT_ANY},
    [RK_WITHIN] = {"within", RULE_YAML_WANT_ANY},
    [RK_SKIP] = {"skip", RULE_YAML_WANT_ANY},
    [RK_ON_TIMEOUT] = {"on_timeout", RULE_YAML_WANT_ANY},
    [RK_FOR] = {"for", RULE_YAML_WANT_ANY},
    [RK_THROTTLE] = {"throttle", RULE_YAML_WANT_ANY},
    [RK_MAX_PARTIAL] = {"max_partial_matches", RULE_YAML_WANT_ANY},
    [RK_STATE_TTL] = {"state_ttl", RULE_YAML_WANT_ANY},
    [RK_MATCHES] = {"matches", RULE_YAML_WANT_STR},
};

static const char *const rule_kind_names[RULE_KIND_COUNT] = {
    [RULE_SIMPLE] = "simple",
    [RULE_FILTER] = "filter",
    [RULE_AGGREGATE] = "aggregate",
    [RULE_PATTERN] = "pattern",
    [RULE_ABSENCE] = "absence",
};

static const char *const rule_severity_names[RULE_SEV_COUNT] = {
    [RULE_SEV_INFO] = "info",
    [RULE_SEV_NOTICE] = "notice",
    [RULE_SEV_WARNING] = "warning",
    [RULE_SEV_HIGH] = "high",
    [RULE_SEV_CRITICAL] = "critical",
};

const char *rule_kind_name(enum rule_kind k)
{
    return (unsigned)k < RULE_KIND_COUNT ? rule_kind_names[k] : "?";
}

const char *rule_severity_name(enum rule_severity s)
{
    return (unsigned)s < RULE_SEV_COUNT ? rule_severity_names[s] : "?";
}

void rule_nodes_push(struct rule_nodes *ns, const struct rule_yaml_node *n)
{
    CEP_GROW(ns->v, ns->cap, ns->n + 1);
    ns->v[ns->n++] = n;
}

static bool rule_name_eq(const struct rule_yaml_node *n, const char *name, size_t len)
{
    return n->len == len && memcmp(n->str, name, len) == 0;
}

struct rule_list_def *rule_ld_find_list(struct rule_ld *ld, const char *name, size_t len)
{
    for (size_t i = 0; i < ld->n_lists; i++) {
        if (rule_name_eq(ld->lists[i].name, name, len))
            return &ld->lists[i];
    }
    return NULL;
}

struct rule_macro_def *rule_ld_find_macro(struct rule_ld *ld, const char *name, size_t len)
{
    for (size_t i = 0; i < ld->n_macros; i++) {
        if (rule_name_eq(ld->macros[i].name, name, len))
            return &ld->macros[i];
    }
    return NULL;
}

static struct rule_stream_def *rule_ld_find_stream(struct rule_ld *ld, const char *name)
{
    for (size_t i = 0; i < ld->n_streams; i++) {
        if (strcmp(ld->streams[i].name->str, name) == 0)
            return &ld->streams[i];
    }
    return NULL;
}

static struct rule_def *rule_ld_find_rule(struct rule_ld *ld, const char *id)
{
    for (size_t i = 0; i < ld->n_rules; i++) {
        if (ld->rules[i].id && !ld->rules[i].duplicate && strcmp(ld->rules[i].id, id) == 0)
            return &ld->rules[i];
    }
    return NULL;
}

/* Rule ids: [a-z0-9_.-]+. */
static bool rule_id_valid(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' ||
              *s == '-'))
            return false;
    }
    return true;
}

static void rule_report_redefined(struct rule_ld *ld, const struct rule_yaml_node *k,
                                  const struct rule_yaml_node *first, const char *what)
{
    rule_yaml_diag(ld->dl, DIAG_ERROR, k,
                   "%s '%s' is already defined at %s:%u:%u (use 'override' to replace it)", what,
                   k->str, first->doc->file, first->line, first->col);
}

static void rule_ld_lists(struct rule_ld *ld, const struct rule_yaml_node *map)
{
    for (size_t i = 0; i < map->n; i++) {
        const struct rule_yaml_node *k = map->keys[i], *v = map->items[i];
        struct rule_list_def *prev = rule_ld_find_list(ld, k->str, k->len);
        bool ok = true;
        if (!expr_name_valid(k->str)) {
            rule_yaml_diag(ld->dl, DIAG_ERROR, k,
                           "invalid list name '%s' (letters, digits and _ only)", k->str);
            ok = false;
        } else if (prev) {
            rule_report_redefined(ld, k, prev->name, "list");
            ok = false;
        }
        if (v->kind != RULE_YAML_SEQ) {
            rule_yaml_diag(ld->dl, DIAG_ERROR, v, "expected a list for list '%s', not %s",
                           k->str, rule_yaml_kind_desc(v->kind));
            continue;
        }
        if (!ok)
            continue;
        CEP_GROW(ld->lists, ld->cap_lists, ld->n_lists + 1);
        struct rule_list_def *l = &ld->lists[ld->n_lists++];
        memset(l, 0, sizeof(*l));
        l->name = k;
        for (size_t j = 0; j < v->n; j++) {
            if (v->items[j]->kind != RULE_YAML_SCALAR)
                rule_yaml_diag(ld->dl, DIAG_ERROR, v->items[j],
                               "expected a string in list '%s', not %s", k->str,
                               rule_yaml_kind_desc(v->items[j]->kind));
            else
                rule_nodes_push(&l->items, v->items[j]);
        }
    }
}

static void rule_ld_macros(struct rule_ld *ld, const struct rule_yaml_node *map)
{
    for (size_t i = 0; i < map->n; i++) {
        const struct rule_yaml_node *k = map->keys[i], *v = map->items[i];
        struct rule_macro_def *prev = rule_ld_find_macro(ld, k->str, k->len);
        if (!expr_name_valid(k->str)) {
            rule_yaml_diag(ld->dl, DIAG_ERROR, k,
                           "invalid macro name '%s' (letters, digits and _ only)", k->str);
            continue;
        }
        if (prev) {
            rule_report_redefined(ld, k, prev->name, "macro");
            continue;
        }
        if (v->kind != RULE_YAML_SCALAR) {
            rule_yaml_diag(ld->dl, DIAG_ERROR, v,
                           "expected an expression string for macro '%s', not %s", k->str,
                           rule_yaml_kind_desc(v->kind));
            continue;
        }
        CEP_GROW(ld->macros, ld->cap_macros, ld->n_macros + 1);
        struct rule_macro_def *m = &ld->macros[ld->n_macros++];
        memset(m, 0, sizeof(*m));
        m->name = k;
        rule_nodes_push(&m->pieces, v);
    }
}

static void rule_ld_streams(struct rule_ld *ld, const struct rule_yaml_node *map)
{
    for (size_t i = 0; i < map->n; i++) {
        const struct rule_yaml_node *k = map->keys[i], *v = map->items[i];
        struct rule_stream_def *prev = rule_ld_find_stream(ld, k->str);
        struct rule_time t;
        const char *field;
        if (k->len == 0) {
            rule_yaml_diag(ld->dl, DIAG_ERROR, k, "empty stream name");
            continue;
        }
        if (prev) {
            rule_yaml_diag(ld->dl, DIAG_ERROR, k, "stream '%s' is already declared at %s:%u:%u",
                           k->str, prev->name->doc->file, prev->name->line, prev->name->col);
            continue;
        }
        if (rule_yaml_stream_parse(v, &t, &field, ld->dl) > 0)
            continue;
        CEP_GROW(ld->streams, ld->cap_streams, ld->n_streams + 1);
        ld->streams[ld->n_streams].name = k;
        ld->streams[ld->n_streams++].value = v;
    }
}

static void rule_ld_rule(struct rule_ld *ld, const struct rule_yaml_node *n)
{
    struct rule_def def;
    memset(&def, 0, sizeof(def));
    def.node = n;
    if (n->kind != RULE_YAML_MAP) {
        rule_yaml_diag(ld->dl, DIAG_ERROR, n, "expected a mapping for a rule, not %s",
                       rule_yaml_kind_desc(n->kind));
        return;
    }
    rule_yaml_walk(n, "a rule", rule_keys, RK_COUNT, def.v, ld->dl);
    const struct rule_yaml_node *id = def.v[RK_ID];
    if (!id) {
        if (!rule_yaml_map_get(n, "id"))
            rule_yaml_diag(ld->dl, DIAG_ERROR, n, "rule has no 'id'");
    } else if (!rule_id_valid(id->str)) {
        rule_yaml_diag(ld->dl, DIAG_ERROR, id,
                       "invalid rule id '%s' (use lowercase letters, digits, '_', '.' and '-')",
                       id->str);
    } else {
        struct rule_def *prev = rule_ld_find_rule(ld, id->str);
        def.id = id->str;
        if (prev) {
            const struct rule_yaml_node *pid = prev->v[RK_ID];
            rule_yaml_diag(ld->dl, DIAG_ERROR, id,
                           "duplicate rule id '%s' (first defined at %s:%u:%u)", id->str,
                           pid->doc->file, pid->line, pid->col);
            def.duplicate = true;
        }
    }
    CEP_GROW(ld->rules, ld->cap_rules, ld->n_rules + 1);
    ld->rules[ld->n_rules++] = def;
}

enum {
    RS_LISTS = 0,
    RS_MACROS,
    RS_RULES,
    RS_COUNT
};

static const struct rule_yaml_key rule_section_keys[RS_COUNT] = {
    [RS_LISTS] = {"lists", RULE_YAML_WANT_MAP},
    [RS_MACROS] = {"macros", RULE_YAML_WANT_MAP},
    [RS_RULES] = {"rules", RULE_YAML_WANT_MAP},
};

enum {
    RA_EXCEPTIONS = 0,
    RA_TAGS,
    RA_SINKS,
    RA_COUNT
};

static const struct rule_yaml_key rule_append_keys[RA_COUNT] = {
    [RA_EXCEPTIONS] = {"exceptions", RULE_YAML_WANT_STR_SEQ},
    [RA_TAGS] = {"tags", RULE_YAML_WANT_STR_SEQ},
    [RA_SINKS] = {"sinks", RULE_YAML_WANT_STR_SEQ},
};
static const enum rule_key rule_append_target[RA_COUNT] = {RK_EXCEPTIONS, RK_TAGS, RK_SINKS};

static void rule_missing(struct rule_ld *ld, const struct rule_yaml_node *k, const char *verb,
                         const char *what)
{
    rule_yaml_diag(ld->dl, DIAG_ERROR, k, "cannot %s %s '%s': it is not defined%s", verb, what,
                   k->str, " in this or an earlier file");
}

/* Apply one file's `append:` (override false) or `override:` (true). */
static void rule_ld_tune(struct rule_ld *ld, const struct rule_yaml_node *sec, bool override)
{
    const char *verb = override ? "override" : "append to";
    const struct rule_yaml_node *v[RS_COUNT];
    rule_yaml_walk(sec, override ? "override" : "append", rule_section_keys, RS_COUNT, v, ld->dl);
    if (v[RS_LISTS]) {
        for (size_t i = 0; i < v[RS_LISTS]->n; i++) {
            const struct rule_yaml_node *k = v[RS_LISTS]->keys[i], *val = v[RS_LISTS]->items[i];
            struct rule_list_def *l = rule_ld_find_list(ld, k->str, k->len);
            if (!l) {
                rule_missing(ld, k, verb, "list");
                continue;
            }
            if (val->kind != RULE_YAML_SEQ) {
                rule_yaml_diag(ld->dl, DIAG_ERROR, val, "expected a list for list '%s', not %s",
                               k->str, rule_yaml_kind_desc(val->kind));
                continue;
            }
            if (override)
                l->items.n = 0;
            for (size_t j = 0; j < val->n; j++) {
                if (val->items[j]->kind != RULE_YAML_SCALAR)
                    rule_yaml_diag(ld->dl, DIAG_ERROR, val->items[j],
                                   "expected a string in list '%s', not %s", k->str,
                                   rule_yaml_kind_desc(val->items[j]->kind));
                else
                    rule_nodes_push(&l->items, val->items[j]);
            }
        }
    }
    if (v[RS_MACROS]) {
        for (size_t i = 0; i < v[RS_MACROS]->n; i++) {
            const struct rule_yaml_node *k = v[RS_MACROS]->keys[i], *val = v[RS_MACROS]->items[i];
            struct rule_macro_def *m = rule_ld_find_macro(ld, k->str, k->len);
            if (!m) {
                rule_missing(ld, k, verb, "macro");
                continue;
            }
            if (val->kind != RULE_YAML_SCALAR) {
                rule_yaml_diag(ld->dl, DIAG_ERROR, val,
                               "expected an expression string for macro '%s', not %s", k->str,
                               rule_yaml_kind_desc(val->kind));
                continue;
            }
            if (override)
                m->pieces.n = 0;
            rule_nodes_push(&m->pieces, val);
        }
    }
    if (v[RS_RULES]) {
        for (size_t i = 0; i < v[RS_RULES]->n; i++) {
            const struct rule_yaml_node *k = v[RS_RULES]->keys[i], *val = v[RS_RULES]->items[i];
            struct rule_def *r = rule_ld_find_rule(ld, k->str);
            if (!r) {
                rule_missing(ld, k, verb, "rule");
                continue;
            }
            if (!override) {
                const struct rule_yaml_node *a[RA_COUNT];
                rule_yaml_walk(val, "an append to a rule", rule_append_keys, RA_COUNT, a, ld->dl);
                for (size_t j = 0; j < RA_COUNT; j++) {
                    for (size_t m = 0; a[j] && m < a[j]->n; m++)
                        rule_nodes_push(&r->extra[rule_append_target[j]], a[j]->items[m]);
                }
                continue;
            }
            const struct rule_yaml_node *o[RK_COUNT];
            rule_yaml_walk(val, "an override of a rule", rule_keys, RK_COUNT, o, ld->dl);
            if (o[RK_ID]) {
                rule_yaml_diag(ld->dl, DIAG_ERROR, o[RK_ID],
                               "a rule's 'id' cannot be overridden");
                o[RK_ID] = NULL;
            }
            for (size_t j = 0; j < RK_COUNT; j++) {
                if (!o[j])
                    continue;
                r->v[j] = o[j];
                r->extra[j].n = 0;
            }
        }
    }
}

enum {
    RT_STREAMS = 0,
    RT_LISTS,
    RT_MACROS,
    RT_RULES,
    RT_APPEND,
    RT_OVERRIDE,
    RT_COUNT
};

static const struct rule_yaml_key rule_top_keys[RT_COUNT] = {
    [RT_STREAMS] = {"streams", RULE_YAML_WANT_MAP},
    [RT_LISTS] = {"lists", RULE_YAML_WANT_MAP},
    [RT_MACROS] = {"macros", RULE_YAML_WANT_MAP},
    [RT_RULES] = {"rules", RULE_YAML_WANT_SEQ},
    [RT_APPEND] = {"append", RULE_YAML_WANT_MAP},
    [RT_OVERRIDE] = {"override", RULE_YAML_WANT_MAP},
};

static void rule_ld_doc(struct rule_ld *ld, struct rule_yaml_doc *d)
{
    const struct rule_yaml_node *v[RT_COUNT];
    CEP_GROW(ld->docs, ld->cap_docs, ld->n_docs + 1);
    ld->docs[ld->n_docs++] = d;
    if (!d->root)
        return;
    if (d->root->kind == RULE_YAML_SCALAR && d->root->len == 0)
        return; /* a file holding only comments or `---` */
    rule_yaml_walk(d->root, "a rule file", rule_top_keys, RT_COUNT, v, ld->dl);
    if (v[RT_STREAMS])
        rule_ld_streams(ld, v[RT_STREAMS]);
    if (v[RT_LISTS])
        rule_ld_lists(ld, v[RT_LISTS]);
    if (v[RT_MACROS])
        rule_ld_macros(ld, v[RT_MACROS]);
    if (v[RT_RULES]) {
        for (size_t i = 0; i < v[RT_RULES]->n; i++)
            rule_ld_rule(ld, v[RT_RULES]->items[i]);
    }
    if (v[RT_APPEND])
        rule_ld_tune(ld, v[RT_APPEND], false);
    if (v[RT_OVERRIDE])
        rule_ld_tune(ld, v[RT_OVERRIDE], true);
}

/* ---- paths ------------------------------------------------------------- */

struct rule_paths {
    char **v;
    size_t n;
    size_t cap;
};

static void rule_paths_add(struct rule_paths *p, const char *path)
{
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->v[i], path) == 0)
            return;
    }
    CEP_GROW(p->v, p->cap, p->n + 1);
    p->v[p->n++] = cep_strdup(path);
}

static int rule_path_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Append the sorted matches of pattern; returns how many matched. */
static size_t rule_glob(const char *pattern, struct rule_paths *out)
{
    glob_t g;
    size_t n = 0;
    int rc = glob(pattern, GLOB_NOSORT, NULL, &g);
    if (rc == 0) {
        qsort(g.gl_pathv, g.gl_pathc, sizeof(char *), rule_path_cmp);
        for (size_t i = 0; i < g.gl_pathc; i++) {
            struct stat st;
            if (stat(g.gl_pathv[i], &st) == 0 && S_ISDIR(st.st_mode))
                continue;
            rule_paths_add(out, g.gl_pathv[i]);
            n++;
        }
    }
    if (rc == 0 || rc == GLOB_NOMATCH)
        globfree(&g);
    return n;
}

static void rule_expand(const char *path, struct rule_paths *out, struct diag_list *dl)
{
    struct stat st;
    if (stat(path, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            rule_paths_add(out, path);
            return;
        }
        struct rule_paths dir = {0};
        char *a = cep_asprintf("%s/*.yaml", path), *b = cep_asprintf("%s/*.yml", path);
        rule_glob(a, &dir);
        rule_glob(b, &dir);
        qsort(dir.v, dir.n, sizeof(char *), rule_path_cmp);
        for (size_t i = 0; i < dir.n; i++) {
            rule_paths_add(out, dir.v[i]);
            cep_free(dir.v[i]);
        }
        cep_free(dir.v);
        cep_free(a);
        cep_free(b);
        return;
    }
    if (strpbrk(path, "*?[")) {
        if (rule_glob(path, out) == 0) {
            struct diag_loc loc = {.file = path};
            diag_add(dl, DIAG_WARNING, &loc, "no rule files match this pattern");
        }
        return;
    }
    rule_paths_add(out, path); /* reading it reports the error */
}

/* ---- entry points ------------------------------------------------------ */

static void rule_ld_free(struct rule_ld *ld)
{
    for (size_t i = 0; i < ld->n_lists; i++)
        cep_free(ld->lists[i].items.v);
    for (size_t i = 0; i < ld->n_macros; i++) {
        cep_free(ld->macros[i].pieces.v);
        cep_free(ld->macros[i].body.text);
        cep_free(ld->macros[i].body.pieces.v);
        cep_free(ld->macros[i].body.at);
    }
    for (size_t i = 0; i < ld->n_rules; i++) {
        for (size_t k = 0; k < RK_COUNT; k++)
            cep_free(ld->rules[i].extra[k].v);
    }
    for (size_t i = 0; i < ld->n_docs; i++)
        rule_yaml_doc_free(ld->docs[i]);
    cep_free(ld->docs);
    cep_free(ld->lists);
    cep_free(ld->macros);
    cep_free(ld->streams);
    cep_free(ld->rules);
    cep_free(ld->vpos.v);
}

/* Order of a diagnostic's file among the loaded docs (unknown last). */
static size_t rule_diag_rank(const struct rule_ld *ld, const struct diag *d)
{
    if (!d->file)
        return SIZE_MAX;
    for (size_t i = 0; i < ld->n_docs; i++) {
        if (strcmp(ld->docs[i]->file, d->file) == 0)
            return i;
    }
    return SIZE_MAX - 1;
}

static bool rule_diag_before(const struct rule_ld *ld, const struct diag *a, const struct diag *b)
{
    size_t ra = rule_diag_rank(ld, a), rb = rule_diag_rank(ld, b);
    if (ra != rb)
        return ra < rb;
    if (a->line != b->line)
        return a->line < b->line;
    return a->col < b->col;
}

/* Sort this load's diagnostics by file (in load order), line and column;
 * stable, so diagnostics at one position keep their order. */
static void rule_diag_sort(const struct rule_ld *ld, size_t n0)
{
    struct diag *v = ld->dl->items;
    for (size_t i = n0 + 1; i < ld->dl->n; i++) {
        struct diag d = v[i];
        size_t j = i;
        while (j > n0 && rule_diag_before(ld, &d, &v[j - 1])) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = d;
    }
}

static struct ruleset *rule_ld_finish(struct rule_ld *ld)
{
    struct ruleset *rs;
    rule_compile_all(ld);
    rule_diag_sort(ld, ld->diags_before);
    rs = ld->rs;
    ld->rs = NULL;
    if (ld->dl->n_errors > ld->errors_before) {
        ruleset_free(rs);
        rs = NULL;
    }
    rule_ld_free(ld);
    return rs;
}

struct ruleset *rule_load(const char *const *paths, size_t n_paths,
                          const struct rule_load_opts *opts, struct diag_list *dl)
{
    struct rule_ld ld;
    struct rule_paths files = {0};
    memset(&ld, 0, sizeof(ld));
    ld.dl = dl;
    ld.opts = opts;
    ld.errors_before = dl->n_errors;
    ld.diags_before = dl->n;
    for (size_t i = 0; i < n_paths; i++)
        rule_expand(paths[i], &files, dl);
    for (size_t i = 0; i < files.n; i++) {
        struct rule_yaml_doc *d = rule_yaml_parse_file(files.v[i], dl);
        if (d)
            rule_ld_doc(&ld, d);
        cep_free(files.v[i]);
    }
    cep_free(files.v);
    return rule_ld_finish(&ld);
}

struct ruleset *rule_load_mem(const char *name, const char *text, size_t len,
                              const struct rule_load_opts *opts, struct diag_list *dl)
{
    struct rule_ld ld;
    memset(&ld, 0, sizeof(ld));
    ld.dl = dl;
    ld.opts = opts;
    ld.errors_before = dl->n_errors;
    ld.diags_before = dl->n;
    struct rule_yaml_doc *d = rule_yaml_parse_mem(name, text, len, dl);
    if (d)
        rule_ld_doc(&ld, d);
    return rule_ld_finish(&ld);
}

static void rule_fields_free(struct rule_field *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cep_free(f[i].name);
        expr_free(f[i].expr);
    }
    cep_free(f);
}

void rule_free(struct rule *r)
{
    if (!r)
        return;
    cep_free(r->id);
    cep_free(r->description);
    expr_free(r->when);
    for (size_t i = 0; i < r->n_exceptions; i++)
        expr_free(r->exceptions[i]);
    cep_free(r->exceptions);
    expr_tmpl_free(r->message);
    for (size_t i = 0; i < r->n_sinks; i++)
        cep_free(r->sinks[i]);
    cep_free(r->sinks);
    for (size_t i = 0; i < r->n_tags; i++)
        cep_free(r->tags[i]);
    cep_free(r->tags);
    rule_fields_free(r->key, r->n_key);
    rule_fields_free(r->fields, r->n_fields);
    rule_fields_free(r->emit_fields, r->n_emit_fields);
    if (r->nfa)
        nfa_prog_free(r->nfa); /* before ruleset_free frees the rule_pat it borrows */
    if (r->win)
        win_prog_free(r->win); /* likewise the rule_agg */
    expr_tmpl_free(r->on_timeout.message);
    rule_fields_free(r->on_timeout.emit_fields, r->on_timeout.n_emit_fields);
    rule_fields_free(r->throttle.key, r->throttle.n_key);
    cep_free(r->file);
    cep_free(r);
}

void ruleset_free(struct ruleset *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->n_rules; i++)
        rule_free(rs->rules[i]);
    cep_free(rs->rules);
    for (size_t i = 0; i < rs->n_streams; i++) {
        cep_free(rs->streams[i].name);
        evt_schema_free(rs->streams[i].schema);
        cep_free(rs->streams[i].rules);
        rule_index_free(rs->streams[i].ix_now);
        rule_index_free(rs->streams[i].ix_state);
    }
    cep_free(rs->streams);
    cep_free(rs->stream_order);
    if (rs->priv) {
        for (size_t i = 0; i < rs->priv->n_lists; i++) {
            struct rule_list_rt *l = &rs->priv->lists[i];
            cep_free(l->name);
            cep_free(l->items);
            for (size_t j = 0; j < l->n_strs; j++)
                cep_free(l->strs[j]);
            cep_free(l->strs);
        }
        cep_free(rs->priv->lists);
        for (size_t i = 0; i < rs->priv->n_pats; i++)
            rule_pat_free(rs->priv->pats[i]);
        cep_free(rs->priv->pats);
        for (size_t i = 0; i < rs->priv->n_aggs; i++)
            rule_agg_free(rs->priv->aggs[i]);
        cep_free(rs->priv->aggs);
        cep_free(rs->priv);
    }
    cep_free(rs);
}

int ruleset_find_stream(const struct ruleset *rs, const char *name)
{
    for (size_t i = 0; i < rs->n_streams; i++) {
        if (strcmp(rs->streams[i].name, name) == 0)
            return (int)i;
    }
    return -1;
}

struct rule *ruleset_find_rule(const struct ruleset *rs, const char *id)
{
    for (size_t i = 0; i < rs->n_rules; i++) {
        if (strcmp(rs->rules[i]->id, id) == 0)
            return rs->rules[i];
    }
    return NULL;
}
