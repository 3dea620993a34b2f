/* SPDX-License-Identifier: Apache-2.0
 * Unit tests for the engine's per-key state over time: absence rules on
 * processing-time timers (eng_tick) and at the end of input (flush, drain),
 * throttle counters and summaries, state_ttl expiry, the state
 * accounting (eng_rule_state_bytes, eng_rule_keys) going up with keys and
 * back down when they expire, and pattern keys created only by events that
 * may start a partial match. */
#include "cepd/cep_common.h"
#include "cepd/eng.h"
#include "cepd/rule.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ALERTS 64

struct fixture {
    struct ruleset *rs;
    struct eng *eng;
    char *alerts[MAX_ALERTS];
    size_t n_alerts;
};

static void on_alert(void *ud, const struct eng_alert *a)
{
    struct fixture *f = ud;
    if (f->n_alerts < MAX_ALERTS) /* the first ones are kept, all are counted */
        f->alerts[f->n_alerts] = cep_strndup(a->json, a->len);
    f->n_alerts++;
}

static void fixture_load(struct fixture *f, const char *yaml)
{
    memset(f, 0, sizeof(*f));
    struct diag_list dl;
    diag_list_init(&dl);
    f->rs = rule_load_mem("state.yaml", yaml, strlen(yaml), NULL, &dl);
    if (!f->rs)
        diag_print(&dl, stderr);
    ck_assert_ptr_nonnull(f->rs);
    diag_list_free(&dl);
    struct eng_output out = {.ud = f, .alert = on_alert};
    f->eng = eng_new(f->rs, &out);
}

static void fixture_free(struct fixture *f)
{
    for (size_t i = 0; i < f->n_alerts && i < MAX_ALERTS; i++)
        cep_free(f->alerts[i]);
    eng_free(f->eng);
    ruleset_free(f->rs);
}

static void push(struct fixture *f, const char *stream, const char *line)
{
    int s = ruleset_find_stream(f->rs, stream);
    ck_assert_int_ge(s, 0);
    struct eng_reject rej;
    static uint64_t off;
    ck_assert_int_eq(eng_push_line(f->eng, (uint32_t)s, line, strlen(line), "input", off++, &rej),
                     CEP_OK);
}

static size_t rule_index(const struct fixture *f, const char *id)
{
    for (size_t i = 0; i < f->rs->n_rules; i++)
        if (strcmp(f->rs->rules[i]->id, id) == 0)
            return i;
    ck_abort_msg("no rule %s", id);
    return 0;
}

static const char absence_pt[] = "rules:\n"
                                 "  - id: node-lost\n"
                                 "    kind: absence\n"
                                 "    stream: beats\n"
                                 "    key: [node]\n"
                                 "    for: 10s\n"
                                 "    message: \"${node} lost\"\n";

/* Processing time: the daemon's ticks fire a silence; a key fires once and
 * re-arms only when it is seen again. */
START_TEST(test_absence_processing_time)
{
    struct fixture f;
    fixture_load(&f, absence_pt);
    size_t ri = rule_index(&f, "node-lost");
    int64_t t0 = eng_now_us();
    push(&f, "beats", "{\"node\":\"n1\"}");
    ck_assert_uint_eq(eng_rule_keys(f.eng, ri), 1);
    eng_tick(f.eng, t0 + 5 * CEP_USEC_PER_SEC);
    ck_assert_uint_eq(f.n_alerts, 0);
    eng_tick(f.eng, t0 + 60 * CEP_USEC_PER_SEC);
    ck_assert_uint_eq(f.n_alerts, 1);
    ck_assert_ptr_nonnull(strstr(f.alerts[0], "\"message\":\"n1 lost\""));
    ck_assert_ptr_nonnull(strstr(f.alerts[0], "\"events\":{\"last\":[{\"node\":\"n1\"}]}"));
    ck_assert_uint_eq(eng_rule_keys(f.eng, ri), 0);
    eng_tick(f.eng, t0 + 120 * CEP_USEC_PER_SEC);
    ck_assert_uint_eq(f.n_alerts, 1); /* once per silence */
    /* Seen again: its silence is measured from its arrival, which is
     * behind the ticked clock, so the next tick past it fires. */
    push(&f, "beats", "{\"node\":\"n1\"}");
    eng_tick(f.eng, t0 + 200 * CEP_USEC_PER_SEC);
    ck_assert_uint_eq(f.n_alerts, 2);
    ck_assert_uint_eq(eng_rule_stats(f.eng, ri)->alerts, 2);
    fixture_free(&f);
}
END_TEST

/* The end of input: flush fires every pending silence, drain none. */
START_TEST(test_absence_eof)
{
    struct fixture f;
    fixture_load(&f, absence_pt);
    push(&f, "beats", "{\"node\":\"n1\"}");
    push(&f, "beats", "{\"node\":\"n2\"}");
    eng_finish(f.eng, ENG_EOF_DRAIN);
    ck_assert_uint_eq(f.n_alerts, 0);
    fixture_free(&f);

    fixture_load(&f, absence_pt);
    push(&f, "beats", "{\"node\":\"n1\"}");
    push(&f, "beats", "{\"node\":\"n2\"}");
    push(&f, "beats", "{\"node\":\"n1\"}");
    eng_finish(f.eng, ENG_EOF_FLUSH);
    ck_assert_uint_eq(f.n_alerts, 2);
    fixture_free(&f);
}
END_TEST

static const char throttle_rules[] = "streams:\n"
                                     "  auth: {time: {field: ts, watermark: punctuated}}\n"
                                     "rules:\n"
                                     "  - id: login\n"
                                     "    stream: auth\n"
                                     "    key: [ip]\n"
                                     "    throttle: {period: 100s}\n"
                                     "  - id: beat\n"
                                     "    stream: pt\n"
                                     "    throttle: {period: 10s}\n";

START_TEST(test_throttle_counts)
{
    struct fixture f;
    fixture_load(&f, throttle_rules);
    size_t ri = rule_index(&f, "login");
    push(&f, "auth", "{\"ts\":0,\"ip\":\"a\"}");
    size_t one_key = eng_rule_state_bytes(f.eng, ri);
    ck_assert_uint_gt(one_key, 0);
    for (int i = 1; i <= 5; i++) {
        char line[64];
        snprintf(line, sizeof(line), "{\"ts\":%d,\"ip\":\"a\"}", i * 10);
        push(&f, "auth", line);
    }
    ck_assert_uint_eq(f.n_alerts, 1);
    ck_assert_uint_eq(eng_rule_stats(f.eng, ri)->throttled, 5);
    ck_assert_uint_eq(eng_rule_stats(f.eng, ri)->matched, 6);
    /* The folded alert kept for a summary is accounted. */
    ck_assert_uint_gt(eng_rule_state_bytes(f.eng, ri), one_key);
    push(&f, "auth", "{\"ts\":150,\"ip\":\"a\"}");
    ck_assert_uint_eq(f.n_alerts, 2);
    ck_assert_ptr_nonnull(strstr(f.alerts[1], "\"suppressed\":5,\"suppressed_first\":10,"
                                              "\"suppressed_last\":50}"));
    /* The watermark passes the new period: the table empties. */
    push(&f, "auth", "{\"$watermark\":1000}");
    ck_assert_uint_eq(f.n_alerts, 2);
    ck_assert_uint_eq(eng_rule_stats(f.eng, ri)->alerts, 2);
    eng_finish(f.eng, ENG_EOF_FLUSH);
    ck_assert_uint_eq(f.n_alerts, 2);
    fixture_free(&f);
}
END_TEST

/* Processing time: folded alerts go out as a summary once the daemon's
 * clock passes one more period. */
START_TEST(test_throttle_processing_time_summary)
{
    struct fixture f;
    fixture_load(&f, throttle_rules);
    size_t ri = rule_index(&f, "beat");
    int64_t t0 = eng_now_us();
    push(&f, "pt", "{\"n\":1}");
    push(&f, "pt", "{\"n\":2}");
    push(&f, "pt", "{\"n\":3}");
    ck_assert_uint_eq(f.n_alerts, 1);
    eng_tick(f.eng, t0 + 5 * CEP_USEC_PER_SEC);
    ck_assert_uint_eq(f.n_alerts, 1);
    eng_tick(f.eng, t0 + 60 * CEP_USEC_PER_SEC);
    ck_assert_uint_eq(f.n_alerts, 2);
    ck_assert_ptr_nonnull(strstr(f.alerts[1], "{\"n\":3}"));
    ck_assert_ptr_nonnull(strstr(f.alerts[1], "\"suppressed\":1,"));
    ck_assert_uint_eq(eng_rule_stats(f.eng, ri)->throttled, 2);
    ck_assert_uint_eq(eng_rule_stats(f.eng, ri)->alerts, 2);
    fixture_free(&f);
}
END_TEST

static const char ttl_rules[] = "streams:\n"
                                "  app: {time: {field: ts, watermark: punctuated}}\n"
                                "rules:\n"
                                "  - id: open-close\n"
                                "    kind: pattern\n"
                                "    stream: app\n"
                                "    key: [s]\n"
                                "    pattern:\n"
                                "      - {step: o, when: op == \"open\"}\n"
                                "      - {step: c, when: op == \"close\"}\n"
                                "    state_ttl: 1m\n"
                                "  - id: gone\n"
                                "    kind: absence\n"
                                "    stream: app\n"
                                "    key: [s]\n"
                                "    for: 5m\n";

/* Keys with partial matches and no within: state bytes grow with them and
 * go back down when state_ttl expires them; an absence rule's bytes go
 * down when its silences fire. */
START_TEST(test_state_bytes_expire)
{
    struct fixture f;
    fixture_load(&f, ttl_rules);
    size_t pr = rule_index(&f, "open-close"), ar = rule_index(&f, "gone");
    size_t empty_p = eng_rule_state_bytes(f.eng, pr), empty_a = eng_rule_state_bytes(f.eng, ar);
    for (int i = 0; i < 500; i++) {
        char line[256];
        snprintf(line, sizeof(line),
                 "{\"ts\":%d,\"s\":\"session-%04d\",\"op\":\"open\",\"pad\":\"%0100d\"}", i / 10,
                 i, i);
        push(&f, "app", line);
    }
    push(&f, "app", "{\"$watermark\":50}");
    ck_assert_uint_eq(eng_rule_keys(f.eng, pr), 500);
    ck_assert_uint_eq(eng_rule_partials(f.eng, pr), 500);
    ck_assert_uint_eq(eng_rule_keys(f.eng, ar), 500);
    size_t full_p = eng_rule_state_bytes(f.eng, pr), full_a = eng_rule_state_bytes(f.eng, ar);
    /* At least the events each key keeps (the line is > 150 bytes). */
    ck_assert_uint_ge(full_p, empty_p + 500 * 150);
    ck_assert_uint_ge(full_a, empty_a + 500 * 150);
    ck_assert_uint_eq(eng_rule_stats(f.eng, pr)->expired, 0);

    /* 60 s after their last event the pattern keys expire, silently. */
    push(&f, "app", "{\"$watermark\":108}");
    ck_assert_uint_eq(eng_rule_keys(f.eng, pr), 10); /* the last ten: ts 49 */
    push(&f, "app", "{\"$watermark\":109}");
    ck_assert_uint_eq(eng_rule_keys(f.eng, pr), 0);
    ck_assert_uint_eq(eng_rule_stats(f.eng, pr)->expired, 500);
    ck_assert_uint_eq(f.n_alerts, 0);
    size_t after_p = eng_rule_state_bytes(f.eng, pr);
    ck_assert_uint_lt(after_p, full_p / 4);
    /* A close after expiry does not complete the dropped partial match. */
    push(&f, "app", "{\"ts\":200,\"s\":\"session-0001\",\"op\":\"close\"}");
    push(&f, "app", "{\"$watermark\":200}");
    ck_assert_uint_eq(f.n_alerts, 0);

    /* The absence keys fire at last + 5m and are forgotten; session-0001
     * was seen again (at 200) before its silence ended. */
    push(&f, "app", "{\"$watermark\":400}");
    ck_assert_uint_eq(f.n_alerts, 499);
    ck_assert_uint_eq(eng_rule_keys(f.eng, ar), 1); /* session-0001, seen at 200 */
    ck_assert_uint_lt(eng_rule_state_bytes(f.eng, ar), full_a / 4);
    ck_assert_uint_eq(eng_rule_stats(f.eng, ar)->expired, 0);
    fixture_free(&f);
}
END_TEST

/* A pattern key is created only by an event that may start a partial
 * match; an event the VM must decide (it counts a type mismatch) still
 * goes through the key's NFA, and events of existing keys always do. */
START_TEST(test_pattern_lazy_keys)
{
    struct fixture f;
    fixture_load(&f, ttl_rules);
    size_t pr = rule_index(&f, "open-close");
    size_t empty_p = eng_rule_state_bytes(f.eng, pr);
    push(&f, "app", "{\"ts\":1,\"s\":\"a\",\"op\":\"noise\"}");
    push(&f, "app", "{\"ts\":1,\"s\":\"a2\"}");
    push(&f, "app", "{\"$watermark\":1}");
    ck_assert_uint_eq(eng_rule_keys(f.eng, pr), 0);
    ck_assert_uint_eq(eng_rule_state_bytes(f.eng, pr), empty_p);
    ck_assert_uint_eq(eng_rule_stats(f.eng, pr)->expr.type_mismatch, 0);
    push(&f, "app", "{\"ts\":2,\"s\":\"b\",\"op\":7}"); /* op == "open": by the VM */
    push(&f, "app", "{\"$watermark\":2}");
    ck_assert_uint_eq(eng_rule_keys(f.eng, pr), 0);
    ck_assert_uint_eq(eng_rule_stats(f.eng, pr)->expr.type_mismatch, 1);
    push(&f, "app", "{\"ts\":3,\"s\":\"c\",\"op\":\"open\"}");
    push(&f, "app", "{\"$watermark\":3}");
    ck_assert_uint_eq(eng_rule_keys(f.eng, pr), 1);
    push(&f, "app", "{\"ts\":4,\"s\":\"c\",\"op\":\"noise\"}");
    push(&f, "app", "{\"ts\":4,\"s\":\"c\",\"op\":8}"); /* both steps' conditions */
    push(&f, "app", "{\"$watermark\":4}");
    ck_assert_uint_eq(eng_rule_stats(f.eng, pr)->expr.type_mismatch, 3);
    ck_assert_uint_eq(eng_rule_partials(f.eng, pr), 1);
    push(&f, "app", "{\"ts\":5,\"s\":\"c\",\"op\":\"close\"}");
    push(&f, "app", "{\"$watermark\":5}");
    ck_assert_uint_eq(f.n_alerts, 1);
    ck_assert_uint_eq(eng_rule_keys(f.eng, pr), 0);
    ck_assert_uint_eq(eng_rule_stats(f.eng, pr)->evaluated, 7);
    fixture_free(&f);
}
END_TEST

/* A busy key does not push a timer per event: its state_ttl check is
 * re-armed lazily, so the timer heap stays small. */
START_TEST(test_ttl_busy_key_bounded)
{
    struct fixture f;
    fixture_load(&f, ttl_rules);
    size_t pr = rule_index(&f, "open-close");
    push(&f, "app", "{\"ts\":0,\"s\":\"x\",\"op\":\"open\"}");
    push(&f, "app", "{\"$watermark\":0}");
    size_t before = eng_rule_state_bytes(f.eng, pr);
    for (int i = 1; i <= 5000; i++) {
        char line[96];
        snprintf(line, sizeof(line), "{\"ts\":%d,\"s\":\"x\",\"op\":\"write\"}", i / 100);
        push(&f, "app", line);
    }
    push(&f, "app", "{\"$watermark\":50}");
    ck_assert_uint_eq(eng_rule_keys(f.eng, pr), 1);
    ck_assert_uint_lt(eng_rule_state_bytes(f.eng, pr), before + 4096);
    /* Still alive 60 s after the open: it kept receiving events. */
    push(&f, "app", "{\"$watermark\":100}");
    ck_assert_uint_eq(eng_rule_keys(f.eng, pr), 1);
    push(&f, "app", "{\"$watermark\":110}");
    ck_assert_uint_eq(eng_rule_keys(f.eng, pr), 0);
    fixture_free(&f);
}
END_TEST

static Suite *eng_state_suite(void)
{
    Suite *s = suite_create("engine state");
    TCase *tc = tcase_create("absence");
    tcase_add_test(tc, test_absence_processing_time);
    tcase_add_test(tc, test_absence_eof);
    suite_add_tcase(s, tc);
    tc = tcase_create("throttle");
    tcase_add_test(tc, test_throttle_counts);
    tcase_add_test(tc, test_throttle_processing_time_summary);
    suite_add_tcase(s, tc);
    tc = tcase_create("state_ttl");
    tcase_add_test(tc, test_state_bytes_expire);
    tcase_add_test(tc, test_ttl_busy_key_bounded);
    tcase_add_test(tc, test_pattern_lazy_keys);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(eng_state_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
