/* SPDX-License-Identifier: Apache-2.0
 * The per-event hot path allocates nothing in steady state: an engine with
 * a filter rule, a keyed tumbling aggregate and a 3-step pattern is warmed
 * up (every key seen, windows rolled over, partial matches opened, matched
 * and expired), then fed the same traffic again while cep_alloc_count()
 * may move only by the bounded growth described below.  The alerts each phase produced are counted, so the test fails if
 * the paths it claims to cover did not run.
 * Tested by: this file (make check). */
#include "cepd/cep_common.h"
#include "cepd/eng.h"
#include "cepd/rule.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_KEYS 100
#define WARM_FEEDS 2
#define FEED 50000

static const char rules_yaml[] =
        "streams:\n"
        "  s: {time: {field: ts, unit: ms, max_out_of_orderness: 0s}}\n"
        "rules:\n"
        "  - id: big\n"
        "    kind: filter\n"
        "    stream: s\n"
        "    when: bytes > 99000\n"
        "    key: [host]\n"
        "    message: \"${host} sent ${bytes}\"\n"
        "  - id: per-host\n"
        "    kind: aggregate\n"
        "    stream: s\n"
        "    key: [host]\n"
        "    window: {type: tumbling, size: 1s}\n"
        "    aggregate:\n"
        "      events: count()\n"
        "      volume: sum(bytes)\n"
        "      biggest: max(bytes)\n"
        "    having: events >= 3\n"
        "  - id: login-sudo-download\n"
        "    kind: pattern\n"
        "    stream: s\n"
        "    key: [host]\n"
        "    pattern:\n"
        "      - step: login\n"
        "        when: event == \"login\"\n"
        "      - step: sudo\n"
        "        when: event == \"sudo\"\n"
        "      - step: download\n"
        "        when: event == \"download\"\n"
        "    within: 2s\n"
        "    skip: past_last_event\n"
        "    message: \"${host}: login, sudo, download\"\n";

struct fixture {
    struct ruleset *rs;
    struct eng *eng;
    uint64_t alerts[3]; /* by rule index */
    uint64_t rng;
    int64_t ts;
    uint64_t off;
    char line[256];
};

/* Counts only: the callback itself must not allocate. */
static void on_alert(void *ud, const struct eng_alert *a)
{
    struct fixture *f = ud;
    ck_assert_uint_lt(a->rule_index, 3);
    f->alerts[a->rule_index]++;
}

static uint64_t next_rand(struct fixture *f)
{
    f->rng ^= f->rng << 13;
    f->rng ^= f->rng >> 7;
    f->rng ^= f->rng << 17;
    return f->rng;
}

static void fixture_load(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    struct diag_list dl;
    diag_list_init(&dl);
    f->rs = rule_load_mem("alloc.yaml", rules_yaml, strlen(rules_yaml), NULL, &dl);
    if (!f->rs)
        diag_print(&dl, stderr);
    ck_assert_ptr_nonnull(f->rs);
    diag_list_free(&dl);
    struct eng_output out = {.ud = f, .alert = on_alert};
    f->eng = eng_new(f->rs, &out);
    f->ts = 1732300000000;
}

static void fixture_free(struct fixture *f)
{
    eng_free(f->eng);
    ruleset_free(f->rs);
}

/* Feed n generated events from the generator's fixed seed: random keys and
 * event kinds, time rising by 0-3 ms a line (about 20 events per key per
 * 1 s window), starting 10-20 s after the previous feed at the same offset
 * into a window, so that every window
 * has closed and every partial match has expired in between and each feed
 * starts from the same state: idle keys, spares, pools. */
static void feed(struct fixture *f, size_t n)
{
    static const char *const kinds[] = {"login", "sudo", "download", "noise", "noise"};
    int s = ruleset_find_stream(f->rs, "s");
    ck_assert_int_ge(s, 0);
    f->rng = 0x9e3779b97f4a7c15u;
    f->ts = (f->ts / 10000 + 2) * 10000; /* same alignment to the windows */
    for (size_t i = 0; i < n; i++) {
        f->ts += (int64_t)(next_rand(f) % 4);
        int len = snprintf(f->line, sizeof(f->line),
                           "{\"ts\":%lld,\"host\":\"h%03u\",\"event\":\"%s\",\"bytes\":%u}",
                           (long long)f->ts, (unsigned)(next_rand(f) % N_KEYS),
                           kinds[next_rand(f) % 5], (unsigned)(next_rand(f) % 100000));
        struct eng_reject rej;
        ck_assert_int_eq(eng_push_line(f->eng, (uint32_t)s, f->line, (size_t)len, "input", f->off,
                                       &rej),
                         CEP_OK);
        f->off += (uint64_t)len + 1;
    }
}

/* Steady state is the same traffic again.  The warm-up feeds reach the
 * high-water marks this traffic has (keys, events held at once, partial
 * matches per key, buffer capacities).  What may still allocate after them
 * is bounded and not per event: idle NFA states go back to a shared spare
 * list and come back to other keys, so a key can get a spare whose buffers
 * are smaller than it needs and grow them once (toward the largest
 * capacity any key needed: at most keys x buffers x log2(capacity) in
 * all).  So: fewer than one allocation per 1000 events, and no more in a
 * second measured feed than in the first.  Any allocation per event, per
 * alert or per window would give thousands. */
START_TEST(test_steady_state_allocates_nothing)
{
    struct fixture f;
    fixture_load(&f);
    ck_assert_uint_eq(f.rs->n_rules, 3);
    for (int i = 0; i < WARM_FEEDS; i++)
        feed(&f, FEED);
    memset(f.alerts, 0, sizeof(f.alerts));
    feed(&f, FEED);
    ck_assert_uint_gt(f.alerts[0], 0);
    ck_assert_uint_gt(f.alerts[1], 0);
    ck_assert_uint_gt(f.alerts[2], 0);
    uint64_t warm[3];
    memcpy(warm, f.alerts, sizeof(warm));
    uint64_t c0 = cep_alloc_count();
    feed(&f, FEED);
    uint64_t c1 = cep_alloc_count();
    feed(&f, FEED);
    uint64_t c2 = cep_alloc_count();
    /* Each measured feed ran every rule to the same alerts (windows closed,
     * partial matches completed, the filter fired); the aggregate adds the
     * previous feed's last windows, which closed when it began. */
    for (size_t i = 0; i < 3; i++) {
        uint64_t extra = i == 1 ? N_KEYS : 0;
        uint64_t got = (f.alerts[i] - warm[i]) / 2;
        ck_assert_msg(got >= warm[i] && got <= warm[i] + extra,
                      "rule %zu: %llu alerts, then %llu a feed", i, (unsigned long long)warm[i],
                      (unsigned long long)got);
    }
    ck_assert_msg((c1 - c0) * 1000 < FEED && c2 - c1 <= c1 - c0,
                  "allocations in two feeds of %d steady-state events: %llu, then %llu", FEED,
                  (unsigned long long)(c1 - c0), (unsigned long long)(c2 - c1));
    fixture_free(&f);
}
END_TEST

/* The counter itself: it moves with every allocation call of this thread. */
START_TEST(test_alloc_count_counts)
{
    uint64_t c0 = cep_alloc_count();
    void *p = cep_malloc(16);
    p = cep_realloc(p, 32);
    char *s = cep_strdup("x");
    void *z = cep_calloc(2, 8);
    ck_assert_uint_eq(cep_alloc_count() - c0, 4);
    cep_free(p);
    cep_free(s);
    cep_free(z);
    ck_assert_uint_eq(cep_alloc_count() - c0, 4);
}
END_TEST

static Suite *alloc_suite(void)
{
    Suite *s = suite_create("alloc");
    TCase *tc = tcase_create("steady_state");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_alloc_count_counts);
    tcase_add_test(tc, test_steady_state_allocates_nothing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(alloc_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
