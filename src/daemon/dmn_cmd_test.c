/* SPDX-License-Identifier: Apache-2.0
 * `cepd test FILE.test.yaml...`: rule tests as data.  A test file names rule
 * files and cases; each case feeds events (YAML mappings become JSON
 * objects, strings are raw lines) into a fresh engine and compares the
 * alerts with the expected ones: every expected entry must match a distinct
 * alert by subset (mappings by the keys given, sequences element-wise,
 * scalars by value), and no alert may be left over.
 * Tested by: the rule packs' test files (rules/), tests/rules/, tests/cli/run.sh */
#include "cepd/cep_common.h"
#include "dmn_int.h"

#include "cepd/eng.h"
#include "cepd/rule_yaml.h"
#include "cepd/sbuf.h"

#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char dmn_test_help[] =
        "usage: cepd test [-v] FILE.test.yaml...\n"
        "Run rule test files. Each file has `rules: [FILES]` (relative to it) and\n"
        "`cases:`, each with `name`, `stream`, `events` and the complete list of\n"
        "expected `alerts` (subset match per alert; `only: [RULE...]` restricts the\n"
        "comparison to those rules). Prints one line per case and a summary\n"
        "'N passed, N failed'. Exit status 1 if any case fails.\n";

/* Alerts collected from one case. */
struct dmn_test_alerts {
    char **json;
    char **rule;
    size_t n;
    size_t cap;
};

static void dmn_test_on_alert(void *ud, const struct rule *rule, const char *json, size_t len)
{
    struct dmn_test_alerts *a = ud;
    CEP_GROW(a->json, a->cap, a->n + 1);
    a->rule = cep_realloc(a->rule, a->cap * sizeof(*a->rule));
    a->json[a->n] = cep_strndup(json, len);
    a->rule[a->n] = rule->id;
    a->n++;
}

static void dmn_test_alerts_free(struct dmn_test_alerts *a)
{
    for (size_t i = 0; i < a->n; i++)
        cep_free(a->json[i]);
    cep_free(a->json);
    cep_free(a->rule);
    memset(a, 0, sizeof(*a));
}

static bool dmn_scalar_is_null(const struct rule_yaml_node *n)
{
    return n->style == RULE_YAML_PLAIN &&
           (n->len == 0 || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0 ||
            strcmp(n->str, "Null") == 0 || strcmp(n->str, "NULL") == 0);
}

static bool dmn_scalar_number(const struct rule_yaml_node *n, double *out)
{
    if (n->style != RULE_YAML_PLAIN || n->len == 0)
        return false;
    char *end;
    *out = strtod(n->str, &end);
    return *end == '\0' && isfinite(*out) && n->str[0] != '+' &&
           strspn(n->str, "0123456789+-.eE") == n->len;
}

/* Append a YAML node as JSON.  Plain scalars that read as numbers, true,
 * false or null keep that type; everything else is a string.  Depth is
 * bounded by the YAML parser's nesting limit. */
static void dmn_yaml_to_json(const struct rule_yaml_node *n, struct sbuf *sb)
{
    double d;
    switch (n->kind) {
    case RULE_YAML_SCALAR:
        if (dmn_scalar_is_null(n))
            sbuf_puts(sb, "null");
        else if (n->style == RULE_YAML_PLAIN &&
                 (strcmp(n->str, "true") == 0 || strcmp(n->str, "false") == 0))
            sbuf_puts(sb, n->str);
        else if (dmn_scalar_number(n, &d))
            sbuf_append(sb, n->str, n->len);
        else
            sbuf_json_str(sb, n->str, n->len);
        break;
    case RULE_YAML_SEQ:
        sbuf_putc(sb, '[');
        for (size_t i = 0; i < n->n; i++) {
            if (i)
                sbuf_putc(sb, ',');
            dmn_yaml_to_json(n->items[i], sb);
        }
        sbuf_putc(sb, ']');
        break;
    case RULE_YAML_MAP:
        sbuf_putc(sb, '{');
        for (size_t i = 0; i < n->n; i++) {
            if (i)
                sbuf_putc(sb, ',');
            sbuf_json_str(sb, n->keys[i]->str, n->keys[i]->len);
            sbuf_putc(sb, ':');
            dmn_yaml_to_json(n->items[i], sb);
        }
        sbuf_putc(sb, '}');
        break;
    default:
        sbuf_puts(sb, "null");
        break;
    }
}

/* Does actual (an alert, read back as YAML) satisfy expected? */
static bool dmn_subset_match(const struct rule_yaml_node *exp, const struct rule_yaml_node *act)
{
    if (exp->kind == RULE_YAML_MAP) {
        if (act->kind != RULE_YAML_MAP)
            return false;
        for (size_t i = 0; i < exp->n; i++) {
            const struct rule_yaml_node *a = rule_yaml_map_get(act, exp->keys[i]->str);
            if (!a) {
                if (exp->items[i]->kind == RULE_YAML_SCALAR && dmn_scalar_is_null(exp->items[i]))
                    continue; /* expecting null matches a missing key */
                return false;
            }
            if (!dmn_subset_match(exp->items[i], a))
                return false;
        }
        return true;
    }
    if (exp->kind == RULE_YAML_SEQ) {
        if (act->kind != RULE_YAML_SEQ || act->n != exp->n)
            return false;
        for (size_t i = 0; i < exp->n; i++)
            if (!dmn_subset_match(exp->items[i], act->items[i]))
                return false;
        return true;
    }
    if (act->kind != RULE_YAML_SCALAR)
        return false;
    if (dmn_scalar_is_null(exp) || dmn_scalar_is_null(act))
        return dmn_scalar_is_null(exp) && dmn_scalar_is_null(act);
    double x, y;
    if (dmn_scalar_number(exp, &x) && dmn_scalar_number(act, &y))
        return x == y;
    return exp->len == act->len && memcmp(exp->str, act->str, exp->len) == 0;
}

/* Bipartite matching of expected entries to alerts (augmenting paths), so
 * a loose expectation cannot steal the alert a stricter one needs. */
struct dmn_matcher {
    bool *ok;          /* ok[e * n_act + a]: expected e matches alert a */
    size_t n_exp;
    size_t n_act;
    long *act_owner;   /* expected entry holding alert a, or -1 */
    bool *seen;
};

static bool dmn_match_augment(struct dmn_matcher *m, size_t e)
{
    for (size_t a = 0; a < m->n_act; a++) {
        if (!m->ok[e * m->n_act + a] || m->seen[a])
            continue;
        m->seen[a] = true;
        if (m->act_owner[a] < 0 || dmn_match_augment(m, (size_t)m->act_owner[a])) {
            m->act_owner[a] = (long)e;
            return true;
        }
    }
    return false;
}

struct dmn_test_ctx {
    const char *file;
    struct ruleset *rs;
    struct sbuf line;
    bool verbose;
};

static bool dmn_rule_in(const struct rule_yaml_node *only, const char *rule)
{
    for (size_t i = 0; i < only->n; i++)
        if (only->items[i]->kind == RULE_YAML_SCALAR && strcmp(only->items[i]->str, rule) == 0)
            return true;
    return false;
}

/* Run one case.  Returns true if it passed; prints its result line. */
static bool dmn_test_case(struct dmn_test_ctx *t, const struct rule_yaml_node *c, size_t index)
{
    static const struct rule_yaml_key case_keys[] = {
            {"name", RULE_YAML_WANT_STR},   {"stream", RULE_YAML_WANT_STR},
            {"events", RULE_YAML_WANT_SEQ}, {"alerts", RULE_YAML_WANT_SEQ},
            {"only", RULE_YAML_WANT_STR_SEQ},
    };
    const struct rule_yaml_node *v[CEP_ARRAY_LEN(case_keys)];
    struct diag_list dl;
    diag_list_init(&dl);
    rule_yaml_walk(c, "test case", case_keys, CEP_ARRAY_LEN(case_keys), v, &dl);
    const char *name = v[0] ? v[0]->str : "(unnamed)";
    const char *stream = v[1] ? v[1]->str : "default";
    int s = ruleset_find_stream(t->rs, stream);
    if (!v[2])
        diag_add(&dl, DIAG_ERROR, NULL, "case has no events");
    if (s < 0) {
        struct diag_loc loc;
        rule_yaml_node_loc(v[1] ? v[1] : c, &loc);
        diag_add(&dl, DIAG_ERROR, &loc, "no rule reads stream '%s'", stream);
    }
    if (diag_has_errors(&dl)) {
        printf("FAIL %s: case %zu (%s): invalid case\n", t->file, index + 1, name);
        fflush(stdout);
        diag_print(&dl, stdout);
        diag_list_free(&dl);
        return false;
    }
    diag_list_free(&dl);

    struct dmn_test_alerts got = {0};
    struct eng_output out = {.ud = &got, .alert = dmn_test_on_alert};
    struct eng *eng = eng_new(t->rs, &out);
    bool pass = true;
    for (size_t i = 0; i < v[2]->n; i++) {
        const struct rule_yaml_node *e = v[2]->items[i];
        sbuf_reset(&t->line);
        if (e->kind == RULE_YAML_SCALAR)
            sbuf_append(&t->line, e->str, e->len);
        else
            dmn_yaml_to_json(e, &t->line);
        struct eng_reject rej;
        if (eng_push_line(eng, (uint32_t)s, t->line.buf, t->line.len, t->file, (uint64_t)e->off,
                          &rej) != CEP_OK && t->verbose)
            printf("  note: event %zu rejected: %s\n", i + 1, rej.reason);
    }
    eng_finish(eng, ENG_EOF_FLUSH);
    eng_free(eng);

    /* Read alerts back as YAML (JSON is YAML flow syntax). */
    size_t n_act = 0;
    struct rule_yaml_doc **docs = cep_calloc(got.n ? got.n : 1, sizeof(*docs));
    size_t *act_idx = cep_calloc(got.n ? got.n : 1, sizeof(*act_idx));
    for (size_t i = 0; i < got.n; i++) {
        if (v[4] && !dmn_rule_in(v[4], got.rule[i]))
            continue;
        diag_list_init(&dl);
        docs[n_act] = rule_yaml_parse_mem("alert", got.json[i], strlen(got.json[i]), &dl);
        if (!docs[n_act] || !docs[n_act]->root) {
            printf("  internal: alert is not readable JSON: %s\n", got.json[i]);
            pass = false;
            rule_yaml_doc_free(docs[n_act]);
        } else {
            act_idx[n_act++] = i;
        }
        diag_list_free(&dl);
    }
    size_t n_exp = v[3] ? v[3]->n : 0;
    struct dmn_matcher m = {.n_exp = n_exp, .n_act = n_act};
    m.ok = cep_calloc(n_exp * n_act + 1, sizeof(bool));
    m.act_owner = cep_malloc((n_act + 1) * sizeof(long));
    m.seen = cep_calloc(n_act + 1, sizeof(bool));
    for (size_t a = 0; a < n_act; a++)
        m.act_owner[a] = -1;
    for (size_t e = 0; e < n_exp; e++)
        for (size_t a = 0; a < n_act; a++)
            m.ok[e * n_act + a] = dmn_subset_match(v[3]->items[e], docs[a]->root);
    bool *exp_done = cep_calloc(n_exp + 1, sizeof(bool));
    for (size_t e = 0; e < n_exp; e++) {
        memset(m.seen, 0, (n_act + 1) * sizeof(bool));
        exp_done[e] = dmn_match_augment(&m, e);
    }
    for (size_t e = 0; e < n_exp; e++)
        if (!exp_done[e])
            pass = false;
    for (size_t a = 0; a < n_act; a++)
        if (m.act_owner[a] < 0)
            pass = false;

    printf("%s %s: %s\n", pass ? "ok  " : "FAIL", t->file, name);
    if (!pass) {
        for (size_t e = 0; e < n_exp; e++) {
            if (exp_done[e])
                continue;
            struct diag_loc loc;
            rule_yaml_node_loc(v[3]->items[e], &loc);
            printf("  expected alert at %s:%u not produced\n", loc.file, loc.line);
        }
        for (size_t a = 0; a < n_act; a++)
            if (m.act_owner[a] < 0)
                printf("  unexpected alert: %s\n", got.json[act_idx[a]]);
    } else if (t->verbose) {
        for (size_t a = 0; a < n_act; a++)
            printf("  alert: %s\n", got.json[act_idx[a]]);
    }
    for (size_t a = 0; a < n_act; a++)
        rule_yaml_doc_free(docs[a]);
    cep_free(docs);
    cep_free(act_idx);
    cep_free(m.ok);
    cep_free(m.act_owner);
    cep_free(m.seen);
    cep_free(exp_done);
    dmn_test_alerts_free(&got);
    return pass;
}

/* Run a test file; adds to *passed / *failed. */
static void dmn_test_file(const char *path, bool verbose, size_t *passed, size_t *failed)
{
    static const struct rule_yaml_key file_keys[] = {
            {"rules", RULE_YAML_WANT_STR_SEQ},
            {"cases", RULE_YAML_WANT_SEQ},
    };
    struct diag_list dl;
    diag_list_init(&dl);
    struct rule_yaml_doc *doc = rule_yaml_parse_file(path, &dl);
    const struct rule_yaml_node *v[2] = {NULL, NULL};
    if (doc && doc->root)
        rule_yaml_walk(doc->root, "test file", file_keys, 2, v, &dl);
    else if (doc)
        diag_add(&dl, DIAG_ERROR, &(struct diag_loc){path, 0, 0}, "empty test file");
    if (!v[1] && !diag_has_errors(&dl))
        diag_add(&dl, DIAG_ERROR, &(struct diag_loc){path, 0, 0}, "test file has no cases");
    if (diag_has_errors(&dl)) {
        diag_print(&dl, stdout);
        printf("FAIL %s: cannot read test file\n", path);
        (*failed)++;
        diag_list_free(&dl);
        rule_yaml_doc_free(doc);
        return;
    }
    diag_list_free(&dl);

    /* Rule files are relative to the test file. */
    char *copy = cep_strdup(path);
    const char *dir = dirname(copy);
    struct dmn_paths files = {0};
    bool ok = true;
    if (v[0]) {
        for (size_t i = 0; i < v[0]->n; i++) {
            const char *r = v[0]->items[i]->str;
            char *p = r[0] == '/' ? cep_strdup(r) : cep_asprintf("%s/%s", dir, r);
            ok = dmn_expand_rules(p, &files) == CEP_OK && ok;
            cep_free(p);
        }
    } else {
        /* Default: NAME.yaml beside NAME.test.yaml. */
        size_t n = strlen(path);
        char *p = cep_asprintf("%.*s.yaml", (int)(n - 10), path);
        ok = dmn_expand_rules(p, &files) == CEP_OK;
        cep_free(p);
    }
    struct ruleset *rs = ok ? dmn_load_rules(&files, NULL) : NULL;
    if (!rs) {
        printf("FAIL %s: rules do not load\n", path);
        (*failed)++;
    } else {
        struct dmn_test_ctx t = {.file = path, .rs = rs, .verbose = verbose};
        sbuf_init(&t.line);
        for (size_t i = 0; i < v[1]->n; i++) {
            if (dmn_test_case(&t, v[1]->items[i], i))
                (*passed)++;
            else
                (*failed)++;
        }
        sbuf_free(&t.line);
    }
    ruleset_free(rs);
    dmn_paths_free(&files);
    cep_free(copy);
    rule_yaml_doc_free(doc);
}

int dmn_cmd_test(int argc, char **argv)
{
    bool verbose = false;
    size_t passed = 0, failed = 0, n_files = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(dmn_test_help, stdout);
            return DMN_EXIT_OK;
        }
        if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0) {
            verbose = true;
            continue;
        }
        if (argv[i][0] == '-') {
            fprintf(stderr, "cepd test: unknown option '%s'\n", argv[i]);
            return DMN_EXIT_USAGE;
        }
    }
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-')
            continue;
        dmn_test_file(argv[i], verbose, &passed, &failed);
        n_files++;
    }
    if (!n_files) {
        fputs(dmn_test_help, stderr);
        return DMN_EXIT_USAGE;
    }
    printf("%zu passed, %zu failed\n", passed, failed);
    return failed ? DMN_EXIT_RULES : DMN_EXIT_OK;
}
