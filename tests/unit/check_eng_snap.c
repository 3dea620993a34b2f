/* SPDX-License-Identifier: Apache-2.0
 * Unit tests for eng_snapshot / eng_restore (src/engine/eng_snap.c).  The
 * decisive one replays every case of every rule test file (rules/ and
 * tests/rules/) twice: once uninterrupted, once with a snapshot, a new
 * engine on a freshly loaded rule set and a restore after every k-th input
 * line; the alerts (ids and JSON, in order) and late events must be the
 * same.  Also: fates and key counts when rules change or go; two engines
 * restoring complementary halves of the key groups together produce the
 * uninterrupted alerts; a snapshot cut short at every byte fails cleanly
 * and leaves the engine as new; inspect lists every rule with its keys. */
#include "cepd/cep_common.h"
#include "cepd/ckpt.h"
#include "cepd/eng.h"
#include "cepd/hash.h"
#include "cepd/lookup.h"
#include "cepd/rule.h"
#include "cepd/rule_yaml.h"
#include "cepd/sbuf.h"

#include "../../src/daemon/dmn_int.h"

#include <check.h>
#include <glob.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- recording outputs ------------------------------------------------- */

struct rec {
    char **items; /* "ID RULE JSON" per alert (detected_at removed), or a late event */
    size_t n;
    size_t cap;
    bool ids_only; /* processing time: times differ between runs */
};

/* The alert JSON without its wall-clock detected_at. */
static char *rec_alert_text(const struct eng_alert *a, bool ids_only)
{
    if (ids_only)
        return cep_asprintf("%s %s", a->id, a->rule->id);
    char *json = cep_strndup(a->json, a->len);
    char *d = strstr(json, ",\"detected_at\":");
    if (d) {
        char *end = d + strlen(",\"detected_at\":");
        end += strspn(end, "0123456789.-");
        memmove(d, end, strlen(end) + 1);
    }
    char *s = cep_asprintf("%s %s %s", a->id, a->rule->id, json);
    cep_free(json);
    return s;
}

struct out {
    struct rec alerts;
    struct rec late;
};

static void rec_add(struct rec *r, char *s)
{
    CEP_GROW(r->items, r->cap, r->n + 1);
    r->items[r->n++] = s;
}

static void on_alert(void *ud, const struct eng_alert *a)
{
    struct out *o = ud;
    /* The id handed out is the one in the JSON. */
    char needle[48];
    snprintf(needle, sizeof(needle), "\"alert_id\":\"%s\"", a->id);
    ck_assert_ptr_nonnull(strstr(a->json, needle));
    rec_add(&o->alerts, rec_alert_text(a, o->alerts.ids_only));
}

static void on_late(void *ud, const struct evt *ev)
{
    struct out *o = ud;
    rec_add(&o->late, cep_strndup(ev->raw, ev->raw_len));
}

static void rec_free(struct rec *r)
{
    for (size_t i = 0; i < r->n; i++)
        cep_free(r->items[i]);
    cep_free(r->items);
    memset(r, 0, sizeof(*r));
}

static void rec_assert_same(const struct rec *want, const struct rec *got, const char *what)
{
    for (size_t i = 0; i < want->n && i < got->n; i++)
        if (strcmp(want->items[i], got->items[i]) != 0)
            ck_abort_msg("%s %zu differs:\n  want %s\n  got  %s", what, i, want->items[i],
                         got->items[i]);
    ck_assert_msg(want->n == got->n, "%s: %zu, want %zu", what, got->n, want->n);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- snapshot and restore ---------------------------------------------- */

static void snap(const struct eng *eng, struct sbuf *sb)
{
    sbuf_reset(sb);
    struct ckpt_w w = {sb};
    eng_snapshot(eng, &w);
}

/* A new engine for rs restored from sb (all groups, or `groups`). */
static struct eng *restore(const struct ruleset *rs, struct out *o, const struct sbuf *sb,
                           const bool *groups, struct eng_restore_report *rep)
{
    struct eng_output out = {.ud = o, .alert = on_alert, .late = on_late};
    struct eng *eng = eng_new(rs, &out);
    struct ckpt_r r;
    ckpt_r_init(&r, sb->buf, sb->len);
    char err[256];
    struct eng_restore_report own;
    int rc = eng_restore(eng, &r, groups, rep ? rep : &own, err, sizeof(err));
    ck_assert_msg(rc == CEP_OK, "%s", err);
    if (!rep)
        eng_restore_report_free(&own);
    return eng;
}

/* ---- rule test files --------------------------------------------------- */

/* A rule test file: its rule files, loaded afresh on demand. */
struct tfile {
    const char *path;
    struct rule_yaml_doc *doc;
    const struct rule_yaml_node *cases;
    struct dmn_paths files;
    struct lookup_reg *lookups;
};

static bool tfile_open(struct tfile *t, const char *path)
{
    memset(t, 0, sizeof(*t));
    t->path = path;
    struct diag_list dl;
    diag_list_init(&dl);
    t->doc = rule_yaml_parse_file(path, &dl);
    ck_assert_msg(t->doc && t->doc->root, "%s does not parse", path);
    const struct rule_yaml_node *rules = rule_yaml_map_get(t->doc->root, "rules");
    t->cases = rule_yaml_map_get(t->doc->root, "cases");
    ck_assert_ptr_nonnull(t->cases);
    char *copy = cep_strdup(path);
    const char *dir = dirname(copy);
    if (rules) {
        for (size_t i = 0; i < rules->n; i++) {
            char *p = cep_asprintf("%s/%s", dir, rules->items[i]->str);
            ck_assert_int_eq(dmn_expand_rules(p, &t->files), CEP_OK);
            cep_free(p);
        }
    } else {
        char *p = cep_asprintf("%.*s.yaml", (int)(strlen(path) - 10), path);
        ck_assert_int_eq(dmn_expand_rules(p, &t->files), CEP_OK);
        cep_free(p);
    }
    cep_free(copy);
    t->lookups = lookup_reg_load(NULL, 0, &dl);
    diag_list_free(&dl);
    /* A file with lookup tables of its own is left to `cepd test`. */
    return rule_yaml_map_get(t->doc->root, "lookups") == NULL;
}

static struct ruleset *tfile_rules(const struct tfile *t)
{
    struct rule_load_opts opts = {.lookups = t->lookups};
    struct ruleset *rs = dmn_load_rules(&t->files, &opts);
    ck_assert_msg(rs != NULL, "%s: rules do not load", t->path);
    return rs;
}

static void tfile_close(struct tfile *t)
{
    lookup_reg_free(t->lookups);
    dmn_paths_free(&t->files);
    rule_yaml_doc_free(t->doc);
}

/* Run one case: restore from a snapshot after every k-th line when k > 0.
 * Returns the number of restores done. */
static size_t run_case(const struct tfile *t, const struct rule_yaml_node *c, size_t k,
                       struct out *o, struct sbuf *sb)
{
    const struct rule_yaml_node *events = rule_yaml_map_get(c, "events");
    const struct rule_yaml_node *sn = rule_yaml_map_get(c, "stream");
    const char *stream = sn ? sn->str : "default";
    struct ruleset *rs = tfile_rules(t);
    int s = ruleset_find_stream(rs, stream);
    ck_assert_int_ge(s, 0);
    o->alerts.ids_only = !rs->streams[s].time.has_time;
    struct eng_output out = {.ud = o, .alert = on_alert, .late = on_late};
    struct eng *eng = eng_new(rs, &out);
    struct sbuf line;
    sbuf_init(&line);
    size_t restores = 0;
    for (size_t i = 0; i < events->n; i++) {
        const struct rule_yaml_node *e = events->items[i];
        sbuf_reset(&line);
        if (e->kind == RULE_YAML_SCALAR)
            sbuf_append(&line, e->str, e->len);
        else
            dmn_yaml_to_json(e, &line);
        struct eng_reject rej;
        eng_push_line(eng, (uint32_t)s, line.buf, line.len, t->path, e->off, &rej);
        if (k && (i + 1) % k == 0) {
            snap(eng, sb);
            uint64_t lines = eng_stats(eng)->lines;
            eng_free(eng);
            ruleset_free(rs);
            rs = tfile_rules(t);
            struct eng_restore_report rep;
            eng = restore(rs, o, sb, NULL, &rep);
            for (size_t r = 0; r < rep.n_rules; r++)
                ck_assert_int_eq(rep.rules[r].fate, ENG_RESTORE_KEPT);
            eng_restore_report_free(&rep);
            ck_assert_uint_eq(eng_stats(eng)->lines, lines);
            restores++;
        }
    }
    eng_finish(eng, ENG_EOF_FLUSH);
    eng_free(eng);
    ruleset_free(rs);
    sbuf_free(&line);
    return restores;
}

START_TEST(test_rule_files_cut_everywhere)
{
    const char *top = getenv("TOP_SRCDIR");
    const char *pats[] = {"rules/*.test.yaml", "tests/rules/*/*.test.yaml"};
    struct sbuf sb;
    sbuf_init(&sb);
    size_t n_cases = 0, n_restores = 0, n_alerts = 0;
    for (size_t p = 0; p < 2; p++) {
        char *pattern = cep_asprintf("%s/%s", top ? top : ".", pats[p]);
        glob_t g;
        ck_assert_int_eq(glob(pattern, 0, NULL, &g), 0);
        for (size_t f = 0; f < g.gl_pathc; f++) {
            struct tfile t;
            if (!tfile_open(&t, g.gl_pathv[f])) {
                tfile_close(&t);
                continue;
            }
            for (size_t ci = 0; ci < t.cases->n; ci++) {
                const struct rule_yaml_node *c = t.cases->items[ci];
                size_t n_ev = rule_yaml_map_get(c, "events")->n;
                size_t k = n_ev <= 200 ? 1 : n_ev / 200;
                struct out want = {{0}}, got = {{0}};
                run_case(&t, c, 0, &want, &sb);
                n_restores += run_case(&t, c, k, &got, &sb);
                rec_assert_same(&want.alerts, &got.alerts, t.path);
                rec_assert_same(&want.late, &got.late, t.path);
                n_alerts += want.alerts.n;
                n_cases++;
                rec_free(&want.alerts);
                rec_free(&want.late);
                rec_free(&got.alerts);
                rec_free(&got.late);
            }
            tfile_close(&t);
        }
        globfree(&g);
        cep_free(pattern);
    }
    fprintf(stderr, "check_eng_snap: %zu cases, %zu restores, %zu alerts compared\n", n_cases,
            n_restores, n_alerts);
    ck_assert_uint_gt(n_cases, 20);
    ck_assert_uint_gt(n_alerts, 50);
    sbuf_free(&sb);
}
END_TEST

/* ---- rule sets in memory ----------------------------------------------- */

static struct ruleset *load(const char *yaml)
{
    struct diag_list dl;
    diag_list_init(&dl);
    struct ruleset *rs = rule_load_mem("snap.yaml", yaml, strlen(yaml), NULL, &dl);
    if (!rs)
        diag_print(&dl, stderr);
    diag_list_free(&dl);
    ck_assert_ptr_nonnull(rs);
    return rs;
}

static void push(struct eng *eng, const struct ruleset *rs, const char *line, uint64_t off)
{
    int s = ruleset_find_stream(rs, "s");
    ck_assert_int_ge(s, 0);
    struct eng_reject rej;
    ck_assert_int_eq(eng_push_line(eng, (uint32_t)s, line, strlen(line), "in", off, &rej),
                     CEP_OK);
}

#define STREAMS                                                                  \
    "streams:\n"                                                                 \
    "  s: {time: {field: ts, unit: s, max_out_of_orderness: 10s}}\n"

#define PAIR_RULE(cond)                                                          \
    "  - id: pair\n"                                                             \
    "    kind: pattern\n"                                                        \
    "    stream: s\n"                                                            \
    "    key: [user]\n"                                                          \
    "    pattern:\n"                                                             \
    "      - {step: a, when: kind == \"" cond "\"}\n"                            \
    "      - {step: b, when: kind == \"b\"}\n"                                   \
    "    message: \"pair ${a.user}\"\n"

#define SILENT_RULE                                                              \
    "  - id: silent\n"                                                           \
    "    kind: absence\n"                                                        \
    "    stream: s\n"                                                            \
    "    key: [user]\n"                                                          \
    "    for: 100s\n"                                                            \
    "    message: \"${user} silent\"\n"

#define COUNT_RULE                                                               \
    "  - id: count\n"                                                            \
    "    kind: aggregate\n"                                                      \
    "    stream: s\n"                                                            \
    "    key: [user]\n"                                                          \
    "    window: {type: tumbling, size: 60s}\n"                                  \
    "    aggregate: {n: count()}\n"                                              \
    "    message: \"${user} ${n}\"\n"

#define NEW_RULE                                                                 \
    "  - id: fresh\n"                                                            \
    "    stream: s\n"                                                            \
    "    when: kind == \"z\"\n"                                                  \
    "    message: \"z\"\n"

static const char base[] = STREAMS "rules:\n" PAIR_RULE("a") SILENT_RULE COUNT_RULE;
static const char changed[] = STREAMS "rules:\n" NEW_RULE PAIR_RULE("A") SILENT_RULE;

static const struct eng_restore_rule *find_fate(const struct eng_restore_report *rep,
                                                const char *id)
{
    for (size_t i = 0; i < rep->n_rules; i++)
        if (strcmp(rep->rules[i].id, id) == 0)
            return &rep->rules[i];
    ck_abort_msg("rule %s not in the report", id);
    return NULL;
}

/* Three users half-matched, silent-watched and counted; u3's event still
 * in the reorder buffer. */
static struct eng *base_state(const struct ruleset *rs, struct out *o)
{
    struct eng_output out = {.ud = o, .alert = on_alert, .late = on_late};
    struct eng *eng = eng_new(rs, &out);
    push(eng, rs, "{\"ts\":100,\"user\":\"u1\",\"kind\":\"a\"}", 1);
    push(eng, rs, "{\"ts\":101,\"user\":\"u2\",\"kind\":\"a\"}", 2);
    push(eng, rs, "{\"ts\":120,\"user\":\"u3\",\"kind\":\"a\"}", 3);
    ck_assert_uint_eq(eng_rule_keys(eng, 0), 2);
    ck_assert_uint_eq(eng_rule_partials(eng, 0), 2);
    return eng;
}

START_TEST(test_changed_and_dropped_rules)
{
    struct out o = {{0}};
    struct ruleset *rs = load(base);
    struct eng *eng = base_state(rs, &o);
    struct sbuf sb;
    sbuf_init(&sb);
    snap(eng, &sb);
    eng_free(eng);
    ruleset_free(rs);

    rs = load(changed);
    struct eng_restore_report rep;
    eng = restore(rs, &o, &sb, NULL, &rep);
    ck_assert_uint_eq(rep.n_rules, 4);
    const struct eng_restore_rule *f = find_fate(&rep, "pair");
    ck_assert_int_eq(f->fate, ENG_RESTORE_RESET);
    ck_assert_uint_eq(f->keys, 2);
    f = find_fate(&rep, "silent");
    ck_assert_int_eq(f->fate, ENG_RESTORE_KEPT);
    ck_assert_uint_eq(f->keys, 2);
    f = find_fate(&rep, "count");
    ck_assert_int_eq(f->fate, ENG_RESTORE_DROPPED);
    ck_assert_uint_eq(f->keys, 2);
    f = find_fate(&rep, "fresh");
    ck_assert_int_eq(f->fate, ENG_RESTORE_NEW);
    ck_assert_uint_eq(f->keys, 0);
    ck_assert_str_eq(eng_restore_fate_name(ENG_RESTORE_DROPPED), "dropped");
    ck_assert_uint_ge(rep.events, 3);
    eng_restore_report_free(&rep);
    ck_assert_ptr_null(rep.rules);

    /* The changed rule starts afresh: u1's old `a` does not pair. */
    ck_assert_uint_eq(eng_rule_keys(eng, 1), 0);
    ck_assert_uint_eq(eng_rule_keys(eng, 2), 2);
    push(eng, rs, "{\"ts\":130,\"user\":\"u1\",\"kind\":\"b\"}", 4);
    eng_finish(eng, ENG_EOF_FLUSH);
    size_t pairs = 0, silent = 0;
    for (size_t i = 0; i < o.alerts.n; i++) {
        pairs += strstr(o.alerts.items[i], " pair ") != NULL;
        silent += strstr(o.alerts.items[i], " silent ") != NULL;
    }
    ck_assert_uint_eq(pairs, 0);
    /* u1, u2 restored, u3 from the buffer: each goes silent once. */
    ck_assert_uint_eq(silent, 3);
    eng_free(eng);
    ruleset_free(rs);
    rec_free(&o.alerts);
    rec_free(&o.late);
    sbuf_free(&sb);
}
END_TEST

START_TEST(test_inspect)
{
    struct out o = {{0}};
    struct ruleset *rs = load(base);
    struct eng *eng = base_state(rs, &o);
    struct sbuf sb, text;
    sbuf_init(&sb);
    sbuf_init(&text);
    snap(eng, &sb);
    struct ckpt_r r;
    ckpt_r_init(&r, sb.buf, sb.len);
    ck_assert_int_eq(eng_snapshot_inspect(&r, &text), CEP_OK);
    ck_assert_ptr_nonnull(strstr(text.buf, "rule pair: pattern"));
    ck_assert_ptr_nonnull(strstr(text.buf, "2 keys, 2 partial matches"));
    ck_assert_ptr_nonnull(strstr(text.buf, "rule silent: absence"));
    ck_assert_ptr_nonnull(strstr(text.buf, "rule count: aggregate"));
    ck_assert_ptr_nonnull(strstr(text.buf, "2 keys, 0 partial matches, 2 windows"));
    ck_assert_ptr_nonnull(strstr(text.buf, "stream s: event time, watermark 109.999999"));
    ck_assert_ptr_nonnull(strstr(text.buf, "1 buffered"));
    /* Cut short, it fails. */
    sbuf_reset(&text);
    ckpt_r_init(&r, sb.buf, sb.len - 1);
    ck_assert_int_eq(eng_snapshot_inspect(&r, &text), CEP_ERR);
    eng_free(eng);
    ruleset_free(rs);
    rec_free(&o.alerts);
    sbuf_free(&sb);
    sbuf_free(&text);
}
END_TEST

START_TEST(test_truncated_everywhere)
{
    struct out o = {{0}};
    struct ruleset *rs = load(base);
    struct eng *eng = base_state(rs, &o);
    struct sbuf sb;
    sbuf_init(&sb);
    snap(eng, &sb);
    eng_free(eng);
    struct eng_output out = {.ud = &o, .alert = on_alert, .late = on_late};
    for (size_t len = 0; len < sb.len; len++) {
        eng = eng_new(rs, &out);
        struct ckpt_r r;
        ckpt_r_init(&r, sb.buf, len);
        char err[128] = "";
        struct eng_restore_report rep;
        ck_assert_int_eq(eng_restore(eng, &r, NULL, &rep, err, sizeof(err)), CEP_ERR);
        ck_assert_msg(strncmp(err, "engine snapshot: ", 17) == 0, "%s", err);
        ck_assert_uint_eq(rep.n_rules, 0);
        /* Left as new: no state, no counters; it runs. */
        ck_assert_uint_eq(eng_stats(eng)->lines, 0);
        for (size_t ri = 0; ri < rs->n_rules; ri++)
            ck_assert_uint_eq(eng_rule_keys(eng, ri), 0);
        ck_assert_int_eq(eng_watermark(eng, 0), CEP_TIME_MIN);
        push(eng, rs, "{\"ts\":1,\"user\":\"x\",\"kind\":\"a\"}", 9);
        eng_finish(eng, ENG_EOF_FLUSH);
        eng_free(eng);
    }
    /* Whole, it loads. */
    struct eng_restore_report rep;
    eng = restore(rs, &o, &sb, NULL, &rep);
    eng_restore_report_free(&rep);
    eng_free(eng);
    ruleset_free(rs);
    rec_free(&o.alerts);
    rec_free(&o.late);
    sbuf_free(&sb);
}
END_TEST

/* ---- rescale ------------------------------------------------------------ */

static const char keyed[] = "streams:\n"
                            "  s: {time: {field: ts, unit: s, watermark: punctuated}}\n"
                            "rules:\n" PAIR_RULE("a") SILENT_RULE COUNT_RULE;

static bool group_of_user(const char *user, size_t half)
{
    char kj[64];
    int n = snprintf(kj, sizeof(kj), "[\"%s\"]", user);
    return cep_hash64(kj, (size_t)n, 0) % 128 % 2 == half;
}

START_TEST(test_two_halves_of_the_groups)
{
    enum { USERS = 40 };
    struct sbuf sb, line;
    sbuf_init(&sb);
    sbuf_init(&line);
    struct ruleset *rs = load(keyed);
    struct out whole = {{0}}, halves = {{0}};
    struct eng_output out = {.ud = &whole, .alert = on_alert, .late = on_late};
    struct eng *eng = eng_new(rs, &out);
    struct eng *part[2] = {NULL, NULL};
    /* Phase 0 opens a pair per user; phase 1 closes half of them, and a
     * watermark between them empties the reorder buffer. */
    for (int phase = 0; phase < 3; phase++) {
        for (int u = 0; u < USERS; u++) {
            char user[16];
            snprintf(user, sizeof(user), "u%d", u);
            sbuf_reset(&line);
            sbuf_printf(&line, "{\"ts\":%d,\"user\":\"%s\",\"kind\":\"%s\"}", phase * 50 + u,
                        user, phase == 0 ? "a" : u % 2 ? "b" : "c");
            if (phase < 2) {
                push(eng, rs, line.buf, (uint64_t)(phase * USERS + u));
            } else {
                struct eng *e = part[group_of_user(user, 1)];
                push(e, rs, line.buf, (uint64_t)(phase * USERS + u));
            }
        }
        if (phase == 0)
            push(eng, rs, "{\"$watermark\": 45}", 1000);
        if (phase == 1) {
            push(eng, rs, "{\"$watermark\": 95}", 1001);
            snap(eng, &sb);
            /* What came before the cut is common to both runs. */
            for (size_t i = 0; i < whole.alerts.n; i++)
                rec_add(&halves.alerts, cep_strdup(whole.alerts.items[i]));
            bool groups[2][128];
            for (int g = 0; g < 128; g++) {
                groups[0][g] = g % 2 == 0;
                groups[1][g] = g % 2 == 1;
            }
            size_t keys = 0;
            for (int h = 0; h < 2; h++) {
                struct eng_restore_report rep;
                part[h] = restore(rs, &halves, &sb, groups[h], &rep);
                keys += find_fate(&rep, "silent")->keys;
                eng_restore_report_free(&rep);
            }
            ck_assert_uint_eq(keys, USERS);
            ck_assert_uint_eq(eng_rule_keys(part[0], 1) + eng_rule_keys(part[1], 1), USERS);
            ck_assert_uint_gt(eng_rule_keys(part[0], 1), 0);
            ck_assert_uint_gt(eng_rule_keys(part[1], 1), 0);
        }
    }
    /* The same phase-2 events, uninterrupted. */
    for (int u = 0; u < USERS; u++) {
        sbuf_reset(&line);
        sbuf_printf(&line, "{\"ts\":%d,\"user\":\"u%d\",\"kind\":\"%s\"}", 100 + u, u,
                    u % 2 ? "b" : "c");
        push(eng, rs, line.buf, (uint64_t)(2 * USERS + u));
    }
    eng_finish(eng, ENG_EOF_FLUSH);
    for (int h = 0; h < 2; h++) {
        eng_finish(part[h], ENG_EOF_FLUSH);
        eng_free(part[h]);
    }
    eng_free(eng);
    ck_assert_uint_gt(whole.alerts.n, USERS);
    qsort(whole.alerts.items, whole.alerts.n, sizeof(char *), cmp_str);
    qsort(halves.alerts.items, halves.alerts.n, sizeof(char *), cmp_str);
    rec_assert_same(&whole.alerts, &halves.alerts, "alerts of the two halves");
    ruleset_free(rs);
    rec_free(&whole.alerts);
    rec_free(&halves.alerts);
    sbuf_free(&sb);
    sbuf_free(&line);
}
END_TEST

static Suite *eng_snap_suite(void)
{
    Suite *s = suite_create("eng_snap");
    TCase *tc = tcase_create("replay");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_rule_files_cut_everywhere);
    suite_add_tcase(s, tc);
    tc = tcase_create("rules");
    tcase_add_test(tc, test_changed_and_dropped_rules);
    tcase_add_test(tc, test_inspect);
    suite_add_tcase(s, tc);
    tc = tcase_create("truncated");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_truncated_everywhere);
    suite_add_tcase(s, tc);
    tc = tcase_create("rescale");
    tcase_add_test(tc, test_two_halves_of_the_groups);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(eng_snap_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
