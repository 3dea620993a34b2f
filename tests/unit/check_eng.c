/* SPDX-License-Identifier: Apache-2.0
 * Unit tests for the engine: event-time parsing, dispatch of simple and
 * filter rules, alert JSON and the stability of alert ids, derived-event
 * chains, rejected lines, exceptions. */
#include "cepd/cep_common.h"
#include "cepd/eng.h"
#include "cepd/rule.h"
#include "cepd/sbuf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct time_case {
    const char *text; /* NULL: use num */
    double num;
    bool is_int;
    enum rule_time_unit unit;
    int rc;
    int64_t us;
};

static const struct time_case time_cases[] = {
        {NULL, 1732300000, true, RULE_UNIT_S, CEP_OK, INT64_C(1732300000000000)},
        {NULL, 1732300000123, true, RULE_UNIT_MS, CEP_OK, INT64_C(1732300000123000)},
        {NULL, 1732300000.5, false, RULE_UNIT_S, CEP_OK, INT64_C(1732300000500000)},
        {NULL, 17, true, RULE_UNIT_US, CEP_OK, 17},
        {"2024-11-22T18:26:40Z", 0, false, RULE_UNIT_S, CEP_OK, INT64_C(1732300000000000)},
        {"2024-11-22T18:26:40.25Z", 0, false, RULE_UNIT_S, CEP_OK, INT64_C(1732300000250000)},
        {"2024-11-22T20:26:40+02:00", 0, false, RULE_UNIT_S, CEP_OK, INT64_C(1732300000000000)},
        {"1970-01-01T00:00:00Z", 0, false, RULE_UNIT_S, CEP_OK, 0},
        {"2024-11-22 18:26:40z", 0, false, RULE_UNIT_S, CEP_OK, INT64_C(1732300000000000)},
        {"2024-11-22T18:26:40", 0, false, RULE_UNIT_S, CEP_ERR, 0},
        {"2024-13-22T18:26:40Z", 0, false, RULE_UNIT_S, CEP_ERR, 0},
        {"yesterday", 0, false, RULE_UNIT_S, CEP_ERR, 0},
        {"2024-11-22T18:26:40Zjunk", 0, false, RULE_UNIT_S, CEP_ERR, 0},
};

START_TEST(test_time_from_val)
{
    const struct time_case *c = &time_cases[_i];
    struct val v = c->text ? val_str(c->text, strlen(c->text))
                           : c->is_int ? val_int((int64_t)c->num) : val_float(c->num);
    int64_t us = -1;
    ck_assert_int_eq(eng_time_from_val(&v, c->unit, &us), c->rc);
    if (c->rc == CEP_OK)
        ck_assert_int_eq(us, c->us);
}
END_TEST

START_TEST(test_time_rejects_other_types)
{
    struct val v = val_bool(true);
    int64_t us;
    ck_assert_int_eq(eng_time_from_val(&v, RULE_UNIT_S, &us), CEP_ERR);
    v = val_null();
    ck_assert_int_eq(eng_time_from_val(&v, RULE_UNIT_S, &us), CEP_ERR);
    v = val_int(INT64_MAX / 10);
    ck_assert_int_eq(eng_time_from_val(&v, RULE_UNIT_S, &us), CEP_ERR);
}
END_TEST

/* A rule set written to a temp file and loaded. */
struct fixture {
    char path[64];
    struct ruleset *rs;
    struct eng *eng;
    char *alerts[16];
    size_t n_alerts;
};

static void on_alert(void *ud, const struct eng_alert *a)
{
    struct fixture *f = ud;
    ck_assert_uint_lt(f->n_alerts, 16);
    ck_assert_uint_eq(strlen(a->id), 32);
    ck_assert(strstr(a->json, a->id) != NULL);
    f->alerts[f->n_alerts++] = cep_strndup(a->json, a->len);
}

static void fixture_load(struct fixture *f, const char *yaml)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->path, sizeof(f->path), "/tmp/cepd-eng-XXXXXX.yaml");
    int fd = mkstemps(f->path, 5);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);
    struct diag_list dl;
    diag_list_init(&dl);
    const char *paths[] = {f->path};
    f->rs = rule_load(paths, 1, NULL, &dl);
    if (!f->rs)
        diag_print(&dl, stderr);
    ck_assert_ptr_nonnull(f->rs);
    diag_list_free(&dl);
    struct eng_output out = {.ud = f, .alert = on_alert};
    f->eng = eng_new(f->rs, &out);
}

static void fixture_free(struct fixture *f)
{
    for (size_t i = 0; i < f->n_alerts; i++)
        cep_free(f->alerts[i]);
    eng_free(f->eng);
    ruleset_free(f->rs);
    unlink(f->path);
}

static int push(struct fixture *f, const char *stream, const char *line, uint64_t off)
{
    int s = ruleset_find_stream(f->rs, stream);
    ck_assert_int_ge(s, 0);
    struct eng_reject rej;
    return eng_push_line(f->eng, (uint32_t)s, line, strlen(line), "input", off, &rej);
}

static const char simple_rules[] =
        "streams:\n"
        "  auth: {time: {field: ts, unit: s}}\n"
        "rules:\n"
        "  - id: root-login\n"
        "    kind: simple\n"
        "    stream: auth\n"
        "    when: event == \"login\" and user == \"root\"\n"
        "    exceptions: [src_ip == \"10.0.0.1\"]\n"
        "    key: [src_ip]\n"
        "    severity: high\n"
        "    message: \"root from ${src_ip}\"\n"
        "    fields: {port: port + 1}\n";

START_TEST(test_simple_alert_json)
{
    struct fixture f;
    fixture_load(&f, simple_rules);
    ck_assert_int_eq(push(&f, "auth",
                          "{\"ts\":1732300000.5,\"event\":\"login\",\"user\":\"root\","
                          "\"src_ip\":\"10.0.0.7\",\"port\":22}",
                          100),
                     CEP_OK);
    ck_assert_uint_eq(f.n_alerts, 1);
    const char *a = f.alerts[0];
    ck_assert_ptr_nonnull(strstr(a, "\"rule\":\"root-login\""));
    ck_assert_ptr_nonnull(strstr(a, "\"severity\":\"high\""));
    ck_assert_ptr_nonnull(strstr(a, "\"message\":\"root from 10.0.0.7\""));
    ck_assert_ptr_nonnull(strstr(a, "\"key\":{\"src_ip\":\"10.0.0.7\"}"));
    ck_assert_ptr_nonnull(strstr(a, "\"time\":1732300000.5,"));
    ck_assert_ptr_nonnull(strstr(a, "\"fields\":{\"port\":23}"));
    ck_assert_ptr_nonnull(strstr(a, "\"events\":{\"event\":[{\"ts\":1732300000.5,"));
    ck_assert_int_eq(strncmp(a, "{\"alert_id\":\"", 13), 0);
    /* Excepted, not matching, and a different user: no alert. */
    push(&f, "auth", "{\"ts\":1,\"event\":\"login\",\"user\":\"root\",\"src_ip\":\"10.0.0.1\"}", 200);
    push(&f, "auth", "{\"ts\":1,\"event\":\"logout\",\"user\":\"root\"}", 300);
    push(&f, "auth", "{\"ts\":1,\"event\":\"login\",\"user\":\"bob\"}", 400);
    ck_assert_uint_eq(f.n_alerts, 1);
    const struct eng_rule_stats *rs = eng_rule_stats(f.eng, 0);
    ck_assert_uint_eq(rs->evaluated, 4);
    ck_assert_uint_eq(rs->matched, 1);
    ck_assert_uint_eq(rs->alerts, 1);
    fixture_free(&f);
}
END_TEST

static void alert_id(const char *alert, char out[33])
{
    const char *p = strstr(alert, "\"alert_id\":\"");
    ck_assert_ptr_nonnull(p);
    memcpy(out, p + 12, 32);
    out[32] = '\0';
}

START_TEST(test_alert_id_deterministic)
{
    const char *line = "{\"ts\":5,\"event\":\"login\",\"user\":\"root\",\"src_ip\":\"10.0.0.7\"}";
    char id1[33], id2[33], id3[33];
    struct fixture f;
    fixture_load(&f, simple_rules);
    push(&f, "auth", line, 42);
    push(&f, "auth", line, 43); /* same bytes, another position: another event */
    ck_assert_uint_eq(f.n_alerts, 2);
    alert_id(f.alerts[0], id1);
    alert_id(f.alerts[1], id3);
    fixture_free(&f);
    fixture_load(&f, simple_rules); /* a second run over the same input */
    push(&f, "auth", line, 42);
    alert_id(f.alerts[0], id2);
    fixture_free(&f);
    ck_assert_str_eq(id1, id2);
    ck_assert_str_ne(id1, id3);
}
END_TEST

START_TEST(test_rejects)
{
    struct fixture f;
    fixture_load(&f, simple_rules);
    int s = ruleset_find_stream(f.rs, "auth");
    struct eng_reject rej;
    const char *bad = "{\"ts\":1,\"event\":";
    ck_assert_int_eq(eng_push_line(f.eng, (uint32_t)s, bad, strlen(bad), "in", 0, &rej), CEP_ERR);
    ck_assert_ptr_nonnull(rej.reason);
    const char *no_ts = "{\"event\":\"login\",\"user\":\"root\"}";
    ck_assert_int_eq(eng_push_line(f.eng, (uint32_t)s, no_ts, strlen(no_ts), "in", 0, &rej),
                     CEP_ERR);
    ck_assert_str_eq(rej.reason, "missing event time field");
    const char *bad_ts = "{\"ts\":\"soon\",\"event\":\"login\",\"user\":\"root\"}";
    ck_assert_int_eq(eng_push_line(f.eng, (uint32_t)s, bad_ts, strlen(bad_ts), "in", 0, &rej),
                     CEP_ERR);
    ck_assert_str_eq(rej.reason, "invalid event time");
    ck_assert_uint_eq(eng_stats(f.eng)->rejected, 3);
    ck_assert_uint_eq(f.n_alerts, 0);
    /* Processing goes on after bad lines. */
    push(&f, "auth", "{\"ts\":2,\"event\":\"login\",\"user\":\"root\",\"src_ip\":\"1.2.3.4\"}", 9);
    ck_assert_uint_eq(f.n_alerts, 1);
    fixture_free(&f);
}
END_TEST

static const char chain_rules[] =
        "rules:\n"
        "  - id: errors\n"
        "    kind: filter\n"
        "    stream: web\n"
        "    when: status >= 500\n"
        "    emit: {stream: web_errors, fields: {host: host, code: status}}\n"
        "  - id: big-errors\n"
        "    kind: filter\n"
        "    stream: web_errors\n"
        "    when: code == 503\n"
        "    emit: {stream: outages}\n"
        "  - id: outage\n"
        "    kind: simple\n"
        "    stream: outages\n"
        "    message: \"outage on ${host}\"\n";

START_TEST(test_derived_chain)
{
    struct fixture f;
    fixture_load(&f, chain_rules);
    push(&f, "web", "{\"host\":\"a\",\"status\":200}", 1);
    push(&f, "web", "{\"host\":\"b\",\"status\":500}", 2);
    push(&f, "web", "{\"host\":\"c\",\"status\":503}", 3);
    ck_assert_uint_eq(f.n_alerts, 1);
    ck_assert_ptr_nonnull(strstr(f.alerts[0], "\"message\":\"outage on c\""));
    ck_assert_ptr_nonnull(strstr(f.alerts[0], "\"events\":{\"event\":[{\"host\":\"c\",\"code\":503}]}"));
    ck_assert_uint_eq(eng_stats(f.eng)->derived, 3);
    ck_assert_uint_eq(eng_rule_stats(f.eng, 0)->emitted, 2);
    ck_assert_uint_eq(eng_rule_stats(f.eng, 0)->alerts, 0); /* a forwarding filter */
    fixture_free(&f);
}
END_TEST

/* Two name tables with the same hash but other names (a collision, or a
 * freed table's address reused) get bindings of their own: a field is
 * never read under another's name; a table with the same names shares
 * one. */
START_TEST(test_decoded_tables_by_names)
{
    struct fixture f;
    fixture_load(&f, "rules:\n"
                     "  - id: a-x\n"
                     "    stream: s\n"
                     "    when: a == \"x\"\n"
                     "    message: \"a is x\"\n"
                     "  - id: b-seen\n"
                     "    stream: s\n"
                     "    when: b != null\n"
                     "    message: \"b\"\n");
    int s = ruleset_find_stream(f.rs, "s");
    ck_assert_int_ge(s, 0);
    static const char *const name_a[] = {"a"}, *const name_b[] = {"b"};
    static const size_t one[] = {1};
    const struct eng_fnames ta = {.names = name_a, .lens = one, .n = 1, .hash = 42};
    const struct eng_fnames tb = {.names = name_b, .lens = one, .n = 1, .hash = 42};
    static const char line[] = "{\"?\":\"x\"}"; /* the value at 6 */
    const struct eng_fval fv = {.field = 0, .kind = ENG_FVAL_STR, .off = 6, .len = 1};
    struct eng_decoded d = {.raw = line, .raw_len = sizeof(line) - 1, .names = &ta, .fv = &fv,
                            .n_fv = 1, .time_fv = -1};
    struct eng_reject rej;
    ck_assert_int_eq(eng_push_decoded(f.eng, (uint32_t)s, &d, "in", 0, &rej), CEP_OK);
    ck_assert_uint_eq(f.n_alerts, 1);
    ck_assert_ptr_nonnull(strstr(f.alerts[0], "a is x"));
    d.names = &tb; /* b = "x": only b-seen may fire */
    ck_assert_int_eq(eng_push_decoded(f.eng, (uint32_t)s, &d, "in", 1, &rej), CEP_OK);
    ck_assert_uint_eq(f.n_alerts, 2);
    ck_assert_ptr_nonnull(strstr(f.alerts[1], "\"message\":\"b\""));
    /* Another table with a's names (a reload's format) takes a's binding. */
    static const char *const name_a2[] = {"a"};
    const struct eng_fnames tc = {.names = name_a2, .lens = one, .n = 1, .hash = 42};
    d.names = &tc;
    ck_assert_int_eq(eng_push_decoded(f.eng, (uint32_t)s, &d, "in", 2, &rej), CEP_OK);
    ck_assert_uint_eq(f.n_alerts, 3);
    ck_assert_ptr_nonnull(strstr(f.alerts[2], "a is x"));
    fixture_free(&f);
}
END_TEST

static Suite *eng_suite(void)
{
    Suite *s = suite_create("engine");
    TCase *tc = tcase_create("time");
    tcase_add_loop_test(tc, test_time_from_val, 0, (int)CEP_ARRAY_LEN(time_cases));
    tcase_add_test(tc, test_time_rejects_other_types);
    suite_add_tcase(s, tc);
    tc = tcase_create("dispatch");
    tcase_add_test(tc, test_simple_alert_json);
    tcase_add_test(tc, test_alert_id_deterministic);
    tcase_add_test(tc, test_rejects);
    tcase_add_test(tc, test_derived_chain);
    tcase_add_test(tc, test_decoded_tables_by_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(eng_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
