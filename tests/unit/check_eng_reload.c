/* SPDX-License-Identifier: Apache-2.0
 * Unit tests for eng_adopt (reload): a half-matched pattern and events in
 * the reorder buffer move to a new engine whose schema numbers slots
 * differently (a new first rule reads a new field) and complete there with
 * the right field values, after the old engine and rule set are freed; a
 * changed rule starts afresh; counters move; a derived event held by a
 * kept rule outlives the removed rule that produced it; window and absence
 * state move.  Run under ASan, a dangling pointer into the old engine or
 * rule set fails the test. */
#include "cepd/cep_common.h"
#include "cepd/eng.h"
#include "cepd/rule.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rec {
    char *alerts[32];
    size_t n;
};

static void on_alert(void *ud, const struct eng_alert *a)
{
    struct rec *r = ud;
    ck_assert_uint_lt(r->n, 32);
    r->alerts[r->n++] = cep_strndup(a->json, a->len);
}

static void rec_free(struct rec *r)
{
    for (size_t i = 0; i < r->n; i++)
        cep_free(r->alerts[i]);
    r->n = 0;
}

/* How many alerts contain needle. */
static size_t rec_count(const struct rec *r, const char *needle)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++)
        n += strstr(r->alerts[i], needle) != NULL;
    return n;
}

static struct ruleset *load(const char *yaml)
{
    struct diag_list dl;
    diag_list_init(&dl);
    struct ruleset *rs = rule_load_mem("reload.yaml", yaml, strlen(yaml), NULL, &dl);
    if (!rs)
        diag_print(&dl, stderr);
    diag_list_free(&dl);
    ck_assert_ptr_nonnull(rs);
    return rs;
}

static void push(struct eng *eng, const struct ruleset *rs, const char *stream, const char *line,
                 uint64_t off)
{
    int s = ruleset_find_stream(rs, stream);
    ck_assert_int_ge(s, 0);
    struct eng_reject rej;
    ck_assert_int_eq(eng_push_line(eng, (uint32_t)s, line, strlen(line), "in", off, &rej),
                     CEP_OK);
}

/* An engine for rs whose alerts go to r (eng_new copies the output). */
static struct eng *eng_make(const struct ruleset *rs, struct rec *r)
{
    struct eng_output out = {.ud = r, .alert = on_alert};
    return eng_new(rs, &out);
}

static void eng_done(struct eng *eng, struct ruleset *rs, struct rec *r)
{
    eng_free(eng);
    ruleset_free(rs);
    rec_free(r);
}

/* Reload from (rs, eng) to the rules of yaml: the new pair replaces it. */
static void reload(struct ruleset **rs, struct eng **eng, const char *yaml, struct rec *r,
                   struct eng_adopt_stats *st)
{
    struct ruleset *nrs = load(yaml);
    struct eng *neng = eng_make(nrs, r);
    eng_adopt(neng, *eng, st);
    eng_free(*eng);
    ruleset_free(*rs);
    *rs = nrs;
    *eng = neng;
}

#define STREAMS                                                                  \
    "streams:\n"                                                                 \
    "  s: {time: {field: ts, unit: s, max_out_of_orderness: 10s}}\n"

#define PAIR_RULE                                                                \
    "  - id: pair\n"                                                             \
    "    kind: pattern\n"                                                        \
    "    stream: s\n"                                                            \
    "    key: [user]\n"                                                          \
    "    pattern:\n"                                                             \
    "      - {step: a, when: kind == \"a\"}\n"                                   \
    "      - {step: b, when: kind == \"b\"}\n"                                   \
    "    message: \"pair ${a.user} ${a.note} ${a.ts} -> ${b.ts}\"\n"

static const char v1[] = STREAMS "rules:\n" PAIR_RULE;

/* A first rule reading two new fields: the schema's slots move. */
static const char v2[] = STREAMS "rules:\n"
                                 "  - id: by-host\n"
                                 "    stream: s\n"
                                 "    when: host == \"web1\" and zone == \"z\"\n"
                                 "    message: \"host ${user}\"\n" PAIR_RULE;

START_TEST(test_pattern_and_buffer_move)
{
    struct rec r = {0};
    struct ruleset *rs = load(v1);
    struct eng *eng = eng_make(rs, &r);
    /* u1's a is released (watermark past it) and half-matched; u2's a is
     * still in the reorder buffer. */
    push(eng, rs, "s", "{\"ts\":100,\"user\":\"u1\",\"kind\":\"a\",\"note\":\"n1\"}", 1);
    push(eng, rs, "s", "{\"ts\":115,\"user\":\"u2\",\"kind\":\"a\",\"note\":\"n2\"}", 2);
    ck_assert_uint_eq(eng_rule_partials(eng, 0), 1);
    uint64_t lines = eng_stats(eng)->lines;

    struct eng_adopt_stats st;
    reload(&rs, &eng, v2, &r, &st);
    ck_assert_uint_eq(st.rules_kept, 1);
    ck_assert_uint_eq(st.rules_new, 1);
    ck_assert_uint_eq(st.events_moved, 2);
    ck_assert_uint_eq(eng_stats(eng)->lines, lines);
    ck_assert_uint_eq(eng_rule_partials(eng, 1), 1);
    ck_assert_uint_eq(eng_rule_stats(eng, 1)->evaluated, 1);

    push(eng, rs, "s",
         "{\"ts\":116,\"user\":\"u1\",\"kind\":\"b\",\"host\":\"web1\",\"zone\":\"z\"}", 3);
    push(eng, rs, "s", "{\"ts\":117,\"user\":\"u2\",\"kind\":\"b\"}", 4);
    eng_finish(eng, ENG_EOF_FLUSH);
    ck_assert_uint_eq(rec_count(&r, "\"pair u1 n1 100 -> 116\""), 1);
    ck_assert_uint_eq(rec_count(&r, "\"pair u2 n2 115 -> 117\""), 1);
    ck_assert_uint_eq(rec_count(&r, "\"host u1\""), 1);
    eng_done(eng, rs, &r);
}
END_TEST

START_TEST(test_changed_rule_starts_afresh)
{
    struct rec r = {0};
    struct ruleset *rs = load(v1);
    struct eng *eng = eng_make(rs, &r);
    push(eng, rs, "s", "{\"ts\":100,\"user\":\"u1\",\"kind\":\"a\"}", 1);
    push(eng, rs, "s", "{\"ts\":120,\"user\":\"u9\",\"kind\":\"x\"}", 2);
    ck_assert_uint_eq(eng_rule_partials(eng, 0), 1);
    char *changed = cep_strdup(v1);
    char *m = strstr(changed, "pair ${");
    m[0] = 'P';
    struct eng_adopt_stats st;
    reload(&rs, &eng, changed, &r, &st);
    cep_free(changed);
    ck_assert_uint_eq(st.rules_kept, 0);
    ck_assert_uint_eq(st.rules_changed, 1);
    ck_assert_uint_eq(eng_rule_partials(eng, 0), 0);
    push(eng, rs, "s", "{\"ts\":121,\"user\":\"u1\",\"kind\":\"b\"}", 3);
    eng_finish(eng, ENG_EOF_FLUSH);
    ck_assert_uint_eq(r.n, 0);
    eng_done(eng, rs, &r);
}
END_TEST

/* A filter emits into d; a pattern on d holds the derived event; the
 * reload removes the filter (the event's producer) and keeps the pattern. */
#define CHAIN_PATTERN                                                            \
    "  - id: two\n"                                                              \
    "    kind: pattern\n"                                                        \
    "    stream: d\n"                                                            \
    "    pattern:\n"                                                             \
    "      - {step: x, when: n == 1}\n"                                          \
    "      - {step: y, when: n == 2}\n"                                          \
    "    message: \"two ${x.n} ${y.n}\"\n"                                       \
    "  - id: fwd2\n"                                                             \
    "    kind: filter\n"                                                         \
    "    stream: raw2\n"                                                         \
    "    emit: {stream: d}\n"

static const char chain1[] = "rules:\n"
                             "  - id: fwd\n"
                             "    kind: filter\n"
                             "    stream: raw\n"
                             "    emit: {stream: d}\n" CHAIN_PATTERN;
static const char chain2[] = "rules:\n" CHAIN_PATTERN;

START_TEST(test_derived_event_outlives_its_rule)
{
    struct rec r = {0};
    struct ruleset *rs = load(chain1);
    struct eng *eng = eng_make(rs, &r);
    push(eng, rs, "raw", "{\"n\":1}", 1);
    ck_assert_uint_eq(eng_rule_partials(eng, 1), 1);
    struct eng_adopt_stats st;
    reload(&rs, &eng, chain2, &r, &st);
    ck_assert_uint_eq(st.rules_kept, 2);
    ck_assert_uint_eq(st.rules_dropped, 1);
    push(eng, rs, "raw2", "{\"n\":2}", 2);
    ck_assert_uint_eq(rec_count(&r, "\"two 1 2\""), 1);
    /* Once more: the carried name moves again. */
    reload(&rs, &eng, chain2, &r, &st);
    eng_done(eng, rs, &r);
}
END_TEST

static const char agg[] =
        "streams:\n"
        "  s: {time: {field: ts, unit: s}}\n"
        "rules:\n"
        "  - id: many\n"
        "    kind: aggregate\n"
        "    stream: s\n"
        "    key: [user]\n"
        "    window: {type: tumbling, size: 1m}\n"
        "    aggregate: {n: count(), last_note: last(note)}\n"
        "    message: \"${user} ${n} ${last_note}\"\n"
        "  - id: quiet\n"
        "    kind: absence\n"
        "    stream: s\n"
        "    key: [user]\n"
        "    when: kind == \"hb\"\n"
        "    for: 5m\n"
        "    message: \"quiet ${user} ${note}\"\n";

START_TEST(test_window_and_absence_move)
{
    struct rec r = {0};
    struct ruleset *rs = load(agg);
    struct eng *eng = eng_make(rs, &r);
    push(eng, rs, "s", "{\"ts\":0,\"user\":\"u\",\"note\":\"a\",\"kind\":\"hb\"}", 1);
    push(eng, rs, "s", "{\"ts\":10,\"user\":\"u\",\"note\":\"b\",\"kind\":\"hb\"}", 2);
    char *v = cep_asprintf("%s  - id: extra\n    stream: s\n    when: zz == 1\n", agg);
    struct eng_adopt_stats st;
    reload(&rs, &eng, v, &r, &st);
    cep_free(v);
    ck_assert_uint_eq(st.rules_kept, 2);
    push(eng, rs, "s", "{\"ts\":20,\"user\":\"u\",\"note\":\"c\"}", 3);
    eng_finish(eng, ENG_EOF_FLUSH);
    ck_assert_uint_eq(rec_count(&r, "\"u 3 c\""), 1);
    ck_assert_uint_eq(rec_count(&r, "\"quiet u b\""), 1);
    eng_done(eng, rs, &r);
}
END_TEST

static Suite *eng_reload_suite(void)
{
    Suite *s = suite_create("eng_reload");
    TCase *tc = tcase_create("adopt");
    tcase_add_test(tc, test_pattern_and_buffer_move);
    tcase_add_test(tc, test_changed_rule_starts_afresh);
    tcase_add_test(tc, test_derived_event_outlives_its_rule);
    tcase_add_test(tc, test_window_and_absence_move);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(eng_reload_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
