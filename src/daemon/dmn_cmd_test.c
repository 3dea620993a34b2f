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

#include "cepd/cfg.h"
#include "cepd/eng.h"
#include "cepd/lookup.h"
#include "cepd/rule_yaml.h"
#include "cepd/sbuf.h"

#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char dmn_test_help[] =
        "usage: cepd test [-v] [-c CONFIG] [--lookup NAME=TYPE:PATH]... FILE.test.yaml...\n"
        "Run rule test files. Each file has `rules: [FILES]` (relative to it),\n"
        "optional `lookups:` (as in cepd.yaml; paths relative to it) and\n"
        "`cases:`, each with `name`, `stream`, `events` and the complete list of\n"
        "expected `alerts` (subset match per alert; `only: [RULE...]` restricts the\n"
        "comparison to those rules; `late: [...]` lists the events expected on the\n"
        "late output). Prints one line per case and a summary\n"
        "'N passed, N failed'. Exit status 1 if any case fails. -c takes the\n"
        "config's lookup tables; --lookup adds one (TYPE csv, json or cidr).\n";

/* Alerts collected from one case. */
struct dmn_test_alerts {
    char **json;
    char **rule;
    size_t n;
    size_t cap;
};

/* What one case produced: alerts and events sent to the late output. */
struct dmn_test_out {
    struct dmn_test_alerts alerts;
    struct dmn_test_alerts late;
};

static void dmn_test_on_alert(void *ud, const struct eng_alert *al)
{
    struct dmn_test_alerts *a = &((struct dmn_test_out *)ud)->alerts;
    CEP_GROW(a->json, a->cap, a->n + 1);
    a->rule = cep_realloc(a->rule, a->cap * sizeof(*a->rule));
    a->json[a->n] = cep_strndup(al->json, al->len);
    a->rule[a->n] = al->rule->id;
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

/* Depth is bounded by the YAML parser's nesting limit. */
void dmn_yaml_to_json(const struct rule_yaml_node *n, struct sbuf *sb)
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

/* Compare produced JSON objects (json[0..n)) with the expected entries of
 * a sequence node (NULL: none expected): every entry must subset-match a
 * distinct object and no object may be left over.  Appends what went wrong
 * to report, naming the objects `what` ("alert", "late event"). */
static bool dmn_test_compare(const char *what, const struct rule_yaml_node *expected,
                             char *const *json, size_t n_act, struct sbuf *report)
{
    bool pass = true;
    struct diag_list dl;
    struct rule_yaml_doc **docs = cep_calloc(n_act + 1, sizeof(*docs));
    for (size_t a = 0; a < n_act; a++) {
        /* Read back as YAML: JSON is YAML flow syntax. */
        diag_list_init(&dl);
        docs[a] = rule_yaml_parse_mem(what, json[a], strlen(json[a]), &dl);
        diag_list_free(&dl);
        if (!docs[a] || !docs[a]->root) {
            sbuf_printf(report, "  internal: %s is not readable JSON: %s\n", what, json[a]);
            return false;
        }
    }
    size_t n_exp = expected ? expected->n : 0;
    struct dmn_matcher m = {.n_exp = n_exp, .n_act = n_act};
    m.ok = cep_calloc(n_exp * n_act + 1, sizeof(bool));
    m.act_owner = cep_malloc((n_act + 1) * sizeof(long));
    m.seen = cep_calloc(n_act + 1, sizeof(bool));
    for (size_t a = 0; a < n_act; a++)
        m.act_owner[a] = -1;
    for (size_t e = 0; e < n_exp; e++)
        for (size_t a = 0; a < n_act; a++)
            m.ok[e * n_act + a] = dmn_subset_match(expected->items[e], docs[a]->root);
    for (size_t e = 0; e < n_exp; e++) {
        memset(m.seen, 0, (n_act + 1) * sizeof(bool));
        if (dmn_match_augment(&m, e))
            continue;
        struct diag_loc loc;
        rule_yaml_node_loc(expected->items[e], &loc);
        sbuf_printf(report, "  expected %s at %s:%u not produced\n", what, loc.file, loc.line);
        pass = false;
    }
    for (size_t a = 0; a < n_act; a++) {
        if (m.act_owner[a] < 0) {
            sbuf_printf(report, "  unexpected %s: %s\n", what, json[a]);
            pass = false;
        }
        rule_yaml_doc_free(docs[a]);
    }
    cep_free(docs);
    cep_free(m.ok);
    cep_free(m.act_owner);
    cep_free(m.seen);
    return pass;
}

static void dmn_test_on_late(void *ud, const struct evt *ev)
{
    struct dmn_test_alerts *late = &((struct dmn_test_out *)ud)->late;
    CEP_GROW(late->json, late->cap, late->n + 1);
    struct sbuf text;
    sbuf_init(&text);
    evt_text_append(ev, &text);
    late->json[late->n++] = sbuf_steal(&text);
}

/* Run one case.  Returns true if it passed; prints its result line. */
static bool dmn_test_case(struct dmn_test_ctx *t, const struct rule_yaml_node *c, size_t index)
{
    enum { K_NAME, K_STREAM, K_EVENTS, K_ALERTS, K_ONLY, K_LATE, K_COUNT };
    static const struct rule_yaml_key case_keys[K_COUNT] = {
            [K_NAME] = {"name", RULE_YAML_WANT_STR},     [K_STREAM] = {"stream", RULE_YAML_WANT_STR},
            [K_EVENTS] = {"events", RULE_YAML_WANT_SEQ}, [K_ALERTS] = {"alerts", RULE_YAML_WANT_SEQ},
            [K_ONLY] = {"only", RULE_YAML_WANT_STR_SEQ}, [K_LATE] = {"late", RULE_YAML_WANT_SEQ},
    };
    const struct rule_yaml_node *v[K_COUNT];
    struct diag_list dl;
    diag_list_init(&dl);
    rule_yaml_walk(c, "test case", case_keys, K_COUNT, v, &dl);
    const char *name = v[K_NAME] ? v[K_NAME]->str : "(unnamed)";
    const char *stream = v[K_STREAM] ? v[K_STREAM]->str : "default";
    int s = ruleset_find_stream(t->rs, stream);
    if (!v[K_EVENTS])
        diag_add(&dl, DIAG_ERROR, NULL, "case has no events");
    if (s < 0) {
        struct diag_loc loc;
        rule_yaml_node_loc(v[K_STREAM] ? v[K_STREAM] : c, &loc);
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

    struct dmn_test_out got = {{0}};
    struct eng_output out = {.ud = &got, .alert = dmn_test_on_alert, .late = dmn_test_on_late};
    struct eng *eng = eng_new(t->rs, &out);
    for (size_t i = 0; i < v[K_EVENTS]->n; i++) {
        const struct rule_yaml_node *e = v[K_EVENTS]->items[i];
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

    /* `only` narrows the alerts compared to those of the rules it names. */
    size_t n_alerts = 0;
    for (size_t i = 0; i < got.alerts.n; i++) {
        if (v[K_ONLY] && !dmn_rule_in(v[K_ONLY], got.alerts.rule[i])) {
            cep_free(got.alerts.json[i]);
            continue;
        }
        got.alerts.json[n_alerts++] = got.alerts.json[i];
    }
    got.alerts.n = n_alerts;
    struct sbuf report;
    sbuf_init(&report);
    bool pass = dmn_test_compare("alert", v[K_ALERTS], got.alerts.json, got.alerts.n, &report);
    /* Late events are compared only when the case says what it expects. */
    if (v[K_LATE] && !dmn_test_compare("late event", v[K_LATE], got.late.json, got.late.n, &report))
        pass = false;
    printf("%s %s: %s\n", pass ? "ok  " : "FAIL", t->file, name);
    if (!pass) {
        fputs(report.buf ? report.buf : "", stdout);
    } else if (t->verbose) {
        for (size_t a = 0; a < got.alerts.n; a++)
            printf("  alert: %s\n", got.alerts.json[a]);
    }
    sbuf_free(&report);
    dmn_test_alerts_free(&got.alerts);
    dmn_test_alerts_free(&got.late);
    return pass;
}

/* Lookup tables given on the command line (-c, --lookup), for every file. */
struct dmn_test_lookups {
    struct lookup_spec *specs; /* cli specs owned; the config's borrowed */
    size_t n;
    size_t cap;
};

/* The lookup tables of one test file: the command line's plus the file's
 * own `lookups:` (relative to dir).  Prints diagnostics; NULL on errors. */
static struct lookup_reg *dmn_test_lookups_load(const struct dmn_test_lookups *cli,
                                                const struct rule_yaml_node *map,
                                                const char *dir)
{
    struct diag_list dl;
    diag_list_init(&dl);
    struct lookup_spec *own = NULL;
    size_t n_own = 0;
    struct lookup_reg *reg = NULL;
    bool ok = !map || lookup_specs_parse(map, dir, &own, &n_own, &dl) == 0;
    diag_print(&dl, stdout);
    diag_list_free(&dl);
    if (ok)
        reg = dmn_load_lookups(cli->specs, cli->n, own, n_own, stdout);
    lookup_specs_free(own, n_own);
    return reg;
}

/* Run a test file; adds to *passed / *failed. */
static void dmn_test_file(const char *path, bool verbose, const struct dmn_test_lookups *cli,
                          size_t *passed, size_t *failed)
{
    static const struct rule_yaml_key file_keys[] = {
            {"rules", RULE_YAML_WANT_STR_SEQ},
            {"cases", RULE_YAML_WANT_SEQ},
            {"lookups", RULE_YAML_WANT_MAP},
    };
    struct diag_list dl;
    diag_list_init(&dl);
    struct rule_yaml_doc *doc = rule_yaml_parse_file(path, &dl);
    const struct rule_yaml_node *v[3] = {NULL, NULL, NULL};
    if (doc && doc->root)
        rule_yaml_walk(doc->root, "test file", file_keys, 3, v, &dl);
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
    struct lookup_reg *lookups = ok ? dmn_test_lookups_load(cli, v[2], dir) : NULL;
    struct rule_load_opts opts = {.lookups = lookups};
    struct ruleset *rs = lookups ? dmn_load_rules(&files, &opts) : NULL;
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
    lookup_reg_free(lookups);
    dmn_paths_free(&files);
    cep_free(copy);
    rule_yaml_doc_free(doc);
}

int dmn_cmd_test(int argc, char **argv)
{
    bool verbose = false;
    size_t passed = 0, failed = 0, n_files = 0;
    size_t n_cli = 0; /* specs from --lookup, owned; the config's follow, borrowed */
    struct dmn_test_lookups cli = {0};
    struct cfg *cfg = NULL;
    int rc = DMN_EXIT_USAGE;
    bool *is_file = cep_calloc((size_t)argc + 1, sizeof(*is_file));
    for (int i = 1; i < argc; i++) {
        bool has_arg = i + 1 < argc;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(dmn_test_help, stdout);
            rc = DMN_EXIT_OK;
            goto done;
        }
        if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0) {
            verbose = true;
        } else if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && has_arg &&
                   !cfg) {
            cfg = dmn_load_cfg(argv[++i], stderr);
            if (!cfg) {
                rc = DMN_EXIT_RULES;
                goto done;
            }
        } else if (strcmp(argv[i], "--lookup") == 0 && has_arg) {
            char err[256];
            CEP_GROW(cli.specs, cli.cap, cli.n + 1);
            if (lookup_spec_parse_arg(argv[++i], &cli.specs[cli.n], err, sizeof(err)) !=
                CEP_OK) {
                fprintf(stderr, "cepd test: --lookup: %s\n", err);
                goto done;
            }
            n_cli = ++cli.n;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "cepd test: unknown option or missing argument '%s'\n", argv[i]);
            goto done;
        } else {
            is_file[i] = true;
        }
    }
    /* The config's tables go after the --lookup ones (borrowed). */
    for (size_t i = 0; cfg && i < cfg->n_lookups; i++) {
        CEP_GROW(cli.specs, cli.cap, cli.n + 1);
        cli.specs[cli.n++] = cfg->lookups[i];
    }
    for (int i = 1; i < argc; i++) {
        if (!is_file[i])
            continue;
        dmn_test_file(argv[i], verbose, &cli, &passed, &failed);
        n_files++;
    }
    if (!n_files) {
        fputs(dmn_test_help, stderr);
        goto done;
    }
    printf("%zu passed, %zu failed\n", passed, failed);
    rc = failed ? DMN_EXIT_RULES : DMN_EXIT_OK;
done:
    for (size_t i = 0; i < n_cli; i++)
        lookup_spec_clear(&cli.specs[i]);
    cep_free(cli.specs);
    cfg_free(cfg);
    cep_free(is_file);
    return rc;
}
