/* SPDX-License-Identifier: Apache-2.0
 * Unit tests of the rule index and shared predicates: which conjunct
 * indexes a rule (==, in, and/or mixes, negations, quiet and noisy
 * prefixes), conjunct splitting, predicate sharing, and a differential
 * check against evaluating every rule's `when` whole: an event visits
 * every rule that matches, in order, a skipped rule would have been false
 * without bumping a counter, and the memoized answer and counters equal
 * expr_eval_bool's, across value types (the `x == "1"` vs 1 mismatch
 * included), range pre-checks, regex literal prefilters and generated
 * rule sets included; visit lists over many bitmap words.  Then the
 * engine: alerts and `evaluated` as without an index.
 * Tested by: itself (make check) */
#include "cepd/cep_common.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cepd/dec.h"
#include "cepd/eng.h"
#include "cepd/evt.h"
#include "cepd/expr.h"
#include "cepd/rule.h"
#include "cepd/sbuf.h"

static struct ruleset *load(const char *text)
{
    struct diag_list dl;
    diag_list_init(&dl);
    struct ruleset *rs = rule_load_mem("t.yaml", text, strlen(text), NULL, &dl);
    if (!rs)
        diag_print(&dl, stderr);
    ck_assert_ptr_nonnull(rs);
    diag_list_free(&dl);
    return rs;
}

static int slot_of(struct ruleset *rs, const char *path)
{
    return evt_schema_slot_dotted(rs->streams[0].schema, path);
}

/* Decode JSON line into ev against the schema of rs's first stream. */
static void decode(const struct ruleset *rs, struct evt *ev, const char *line)
{
    struct dec_err derr;
    evt_reset(ev, line, strlen(line), rs->streams[0].schema->n_slots);
    ck_assert_int_eq(dec_json_line(rs->streams[0].schema, ev, &derr), CEP_OK);
}

static const char *const shape_yaml =
        "streams:\n"
        "  s: {}\n"
        "rules:\n"
        "  - {id: r0, stream: s, when: 'event == \"login\" and user == \"root\"'}\n"
        "  - {id: r1, stream: s, when: '\"logout\" == event'}\n"
        "  - {id: r2, stream: s, when: 'event in [\"a\", \"b\"] and n > 1'}\n"
        "  - {id: r3, stream: s, when: 'event == \"login\" or user == \"root\"'}\n"
        "  - {id: r4, stream: s, when: 'not (event == \"login\")'}\n"
        "  - {id: r5, stream: s, when: 'event != \"login\"'}\n"
        "  - {id: r6, stream: s, when: 'exists(user) and event == \"x\"'}\n"
        "  - {id: r7, stream: s, when: 'n > 1 and event == \"x\"'}\n"
        "  - {id: r8, stream: s}\n"
        "  - {id: r9, stream: s, when: 'user == \"root\" and n > 2'}\n"
        "  - {id: r10, stream: s, when: 'n == 1'}\n"
        "  - {id: r11, stream: s, when: 'event not in [\"a\"] and event == \"b\"'}\n"
        "  - {id: r12, stream: s, when: 'event == \"a\" and (n > 1 or user == \"x\")'}\n"
        "  - {id: r13, stream: s, when: 'event =~ \"^l\" and event == \"login\"'}\n"
        "  - {id: r14, stream: s, when: 'event in [\"a\", true]'}\n"
        "  - {id: r15, stream: s, when: 'event == null and n == 3'}\n";

/* The slot each rule is indexed on ("" = none, visited for every event). */
static const char *const shape_field[] = {
        "event", "event", "event", "", "", "", "event", "event", "", "user", "n", "event",
        "event", "", "", "n",
};

START_TEST(test_index_shape)
{
    struct ruleset *rs = load(shape_yaml);
    const struct rule_index *ix = rs->streams[0].ix_now;
    ck_assert_uint_eq(rule_index_n_rules(ix), 16);
    ck_assert_ptr_nonnull(rs->streams[0].ix_state);
    ck_assert_uint_eq(rule_index_n_rules(rs->streams[0].ix_state), 0);
    for (uint32_t pos = 0; pos < 16; pos++) {
        ck_assert_uint_eq(rule_index_rule(ix, pos), pos);
        int want = shape_field[pos][0] ? slot_of(rs, shape_field[pos]) : -1;
        ck_assert_msg(rule_index_field(ix, pos) == want, "rule r%u: field %d, want %d", pos,
                      rule_index_field(ix, pos), want);
    }
    ruleset_free(rs);
}
END_TEST

/* A rule is indexed on its most selective field: the one with the most
 * distinct constants, behind a guard on the others. */
START_TEST(test_index_selective)
{
    struct ruleset *rs = load("streams:\n  s: {}\nrules:\n"
                              "  - {id: a, stream: s, when: 'event == \"a\" and user == \"u1\"'}\n"
                              "  - {id: b, stream: s, when: 'event == \"a\" and user == \"u2\"'}\n"
                              "  - {id: c, stream: s, when: 'event == \"b\" and user == \"u3\"'}\n"
                              "  - {id: d, stream: s, when: 'event == \"b\"'}\n");
    const struct rule_index *ix = rs->streams[0].ix_now;
    for (uint32_t pos = 0; pos < 3; pos++)
        ck_assert_int_eq(rule_index_field(ix, pos), slot_of(rs, "user"));
    ck_assert_int_eq(rule_index_field(ix, 3), slot_of(rs, "event"));
    ruleset_free(rs);
}
END_TEST

/* visits_all: only when no rule has a `when` the index splits (an empty
 * index included); one grouped or indexed rule is enough to lose it. */
static const struct {
    const char *rules;
    bool now, state;
} visits_all_cases[] = {
        {"  - {id: a, stream: s}\n  - {id: b, stream: s}\n", true, true},
        {"  - {id: a, stream: s}\n  - {id: b, stream: s, when: 'n > 1'}\n", false, true},
        {"  - {id: a, stream: s, when: 'ev == \"x\"'}\n", false, true},
        {"  - {id: a, stream: s, kind: pattern, within: 1m, pattern: [{step: x, when: 'n > 1'}]}\n",
         true, true},
        {"  - {id: a, stream: s, kind: aggregate, window: {type: tumbling, size: 1m},\n"
         "     aggregate: {c: count()}, when: 'n > 1'}\n",
         true, false},
};

START_TEST(test_index_visits_all)
{
    char yaml[512];
    snprintf(yaml, sizeof(yaml), "streams:\n  s: {}\nrules:\n%s", visits_all_cases[_i].rules);
    struct ruleset *rs = load(yaml);
    ck_assert_int_eq(rule_index_visits_all(rs->streams[0].ix_now), visits_all_cases[_i].now);
    ck_assert_int_eq(rule_index_visits_all(rs->streams[0].ix_state), visits_all_cases[_i].state);
    ruleset_free(rs);
}
END_TEST

START_TEST(test_split_and_share)
{
    struct ruleset *rs = load(
            "streams:\n  s: {}\nrules:\n"
            "  - {id: a, stream: s, when: 'event == \"login\" and user == \"root\"'}\n"
            "  - {id: b, stream: s, when: 'event == \"login\" and user == \"bob\"'}\n"
            "  - {id: c, stream: s, when: 'user =~ \"^r\" and event == \"login\"'}\n"
            "  - {id: d, stream: s, when: 'user =~ \"^r\" or event == \"x\"'}\n");
    /* event == "login", user == "root", user == "bob", user =~ "^r", and d whole. */
    ck_assert_uint_eq(rule_index_n_preds(rs->streams[0].ix_now), 5);
    struct expr **parts;
    size_t n = expr_split_and(rs->rules[0]->when, &parts);
    ck_assert_uint_eq(n, 2);
    const struct val *c;
    ck_assert_int_eq(expr_eq_const(parts[0], &c), slot_of(rs, "event"));
    ck_assert_uint_eq(c->type, VAL_STR);
    ck_assert_int_eq(expr_eq_const(parts[1], &c), slot_of(rs, "user"));
    ck_assert(!expr_quiet(parts[0]));
    for (size_t i = 0; i < n; i++)
        expr_free(parts[i]);
    cep_free(parts);
    n = expr_split_and(rs->rules[3]->when, &parts);
    ck_assert_uint_eq(n, 1); /* an or stays whole */
    ck_assert_int_eq(expr_eq_const(parts[0], &c), -1);
    expr_free(parts[0]);
    cep_free(parts);
    ruleset_free(rs);
}
END_TEST

/* Rules over every shape of condition the index treats differently, and
 * events with every type of value in the indexed fields. */
static const char *const diff_yaml =
        "streams:\n"
        "  s: {}\n"
        "rules:\n"
        "  - {id: r0, stream: s, when: 'event == \"login\" and user == \"root\"'}\n"
        "  - {id: r1, stream: s, when: 'event == \"1\"'}\n"
        "  - {id: r2, stream: s, when: 'event == 1'}\n"
        "  - {id: r3, stream: s, when: 'event in [\"a\", 2, 1.5] and user != \"x\"'}\n"
        "  - {id: r4, stream: s, when: 'event == \"login\" or n > 0'}\n"
        "  - {id: r5, stream: s, when: 'exists(user) and event == 2.0'}\n"
        "  - {id: r6, stream: s, when: 'user and event == \"a\"'}\n"
        "  - {id: r7, stream: s, when: 'event == \"login\" and user =~ \"^r\"'}\n"
        "  - {id: r8, stream: s, when: 'n == 3 and event == \"a\"'}\n"
        "  - {id: r9, stream: s, when: 'n in [3, \"3\"] and user == \"root\"'}\n"
        "  - {id: r10, stream: s, when: 'user == \"root\" and n + 1 > 2'}\n"
        "  - {id: r11, stream: s, when: 'event == \"a\" and event == \"b\"'}\n"
        "  - {id: r12, stream: s}\n"
        "  - {id: r13, stream: s, when: 'not (event == \"login\") and n == 3'}\n"
        "  - {id: r14, stream: s, when: 'lower(user) == \"root\" and event == \"login\"'}\n"
        "  - {id: r15, stream: s, when: 'n > 1 and event == \"b\"'}\n"
        "  - {id: r16, stream: s, when: 'n >= 1 and user < \"m\" and event == \"login\"'}\n"
        "  - {id: r17, stream: s, when: 'user =~ \"^r\" and n > 1'}\n"
        "  - {id: r18, stream: s, when: 'user =~ \"^r\" and event == \"x\"'}\n"
        "  - {id: r19, stream: s, when: 'n != 3 and user != \"root\"'}\n"
        "  - {id: r20, stream: s, when: '2 < n and n <= 3.5'}\n"
        "  - {id: r21, stream: s, when: 'user >= \"r\" and user < \"s\"'}\n"
        "  - {id: r22, stream: s, when: 'user'}\n"
        "  - {id: r23, stream: s, when: 'n and user'}\n";

static const char *const diff_events[] = {
        "{\"event\":\"login\",\"user\":\"root\",\"n\":3}",
        "{\"event\":\"login\",\"user\":\"bob\"}",
        "{\"event\":\"1\",\"user\":5}",
        "{\"event\":1,\"user\":\"root\",\"n\":\"3\"}",
        "{\"event\":1.0,\"n\":3.0}",
        "{\"event\":2,\"user\":\"x\"}",
        "{\"event\":2.0,\"user\":true}",
        "{\"event\":1.5,\"user\":\"y\",\"n\":-0.0}",
        "{\"event\":\"a\",\"user\":true,\"n\":3}",
        "{\"event\":\"b\",\"user\":false}",
        "{\"event\":true,\"user\":\"root\",\"n\":1}",
        "{\"event\":null,\"user\":\"root\"}",
        "{\"user\":\"ROOT\",\"n\":2}",
        "{\"event\":[\"login\"],\"user\":{\"a\":1},\"n\":[3]}",
        "{\"event\":{},\"n\":true}",
        "{\"event\":\"\",\"user\":\"\"}",
        "{}",
        "{\"event\":\"b\",\"n\":\"x\"}",
        "{\"event\":\"login\",\"n\":true,\"user\":\"a\"}",
        "{\"event\":\"login\",\"n\":2,\"user\":1}",
        "{\"event\":\"login\",\"n\":2.5,\"user\":\"rz\"}",
        "{\"event\":\"x\",\"n\":3,\"user\":\"root\"}",
        "{\"event\":\"b\",\"n\":2,\"user\":\"r\"}",
};

/* Every event of events against every rule of yaml (at most 512): the
 * index's answers equal the plain evaluator's; the rules skipped. */
static size_t differential(const char *yaml, const char *const *events, size_t n_events,
                           size_t n_want)
{
    struct ruleset *rs = load(yaml);
    const struct rule_index *ix = rs->streams[0].ix_now;
    size_t n_rules = rule_index_n_rules(ix);
    ck_assert_uint_eq(n_rules, n_want);
    ck_assert_uint_le(n_rules, 512);
    struct expr_rt *rt = expr_rt_new();
    struct rule_index_memo memo;
    rule_index_memo_init(&memo, ix);
    struct evt *ev = evt_new();
    size_t n_skipped = 0;
    for (size_t e = 0; e < n_events; e++) {
        const char *line = events[e];
        decode(rs, ev, line);
        bool visited[512] = {false};
        struct rule_index_iter it;
        uint32_t pos;
        int64_t prev = -1;
        uint32_t gen = rule_index_memo_next(&memo);
        struct expr_ctx ictx = {.ev = ev, .rt = rt};
        rule_index_begin(ix, &ictx, &memo, gen, &it);
        while (rule_index_next(&it, &pos)) {
            ck_assert_int_gt((int64_t)pos, prev); /* rule order, each once */
            prev = pos;
            visited[pos] = true;
            const struct rule *r = rs->rules[rule_index_rule(ix, pos)];
            struct expr_counters want = {0}, got = {0};
            struct expr_ctx c1 = {.ev = ev, .counters = &want, .rt = rt};
            struct expr_ctx c2 = {.ev = ev, .counters = &got, .rt = rt};
            bool w = !r->when || expr_eval_bool(r->when, &c1);
            bool g = !r->when || rule_index_when(ix, pos, &c2, &memo, gen);
            ck_assert_msg(w == g, "event %zu rule %s: %d vs %d", e, r->id, w, g);
            ck_assert_msg(want.type_mismatch == got.type_mismatch,
                          "event %zu rule %s: mismatches %llu vs %llu", e, r->id,
                          (unsigned long long)want.type_mismatch,
                          (unsigned long long)got.type_mismatch);
            ck_assert_uint_eq(want.regex_limit, got.regex_limit);
        }
        for (uint32_t p = 0; p < n_rules; p++) {
            if (visited[p])
                continue;
            n_skipped++;
            const struct rule *r = rs->rules[rule_index_rule(ix, p)];
            struct expr_counters want = {0};
            struct expr_ctx c1 = {.ev = ev, .counters = &want, .rt = rt};
            ck_assert_ptr_nonnull(r->when);
            ck_assert_msg(!expr_eval_bool(r->when, &c1), "event %zu: %s skipped", e, r->id);
            ck_assert_msg(want.type_mismatch == 0, "event %zu: %s skipped, counted", e, r->id);
        }
    }
    evt_unref(ev);
    rule_index_memo_fini(&memo);
    expr_rt_free(rt);
    ruleset_free(rs);
    return n_skipped;
}

/* Range pre-checks: `f OP int` conjuncts behind quiet or guarded ones,
 * intersected on one field, across ints, floats, strings, nulls and
 * guards that see another class. */
static const char *const range_yaml =
        "streams:\n  s: {}\n"
        "rules:\n"
        "  - {id: q0, stream: s, when: 'b > 10'}\n"
        "  - {id: q1, stream: s, when: 'b >= 10 and b < 20 and st == 503'}\n"
        "  - {id: q2, stream: s, when: 'ev == \"a\" and b > 100 and st >= 500'}\n"
        "  - {id: q3, stream: s, when: 'ev == \"b\" and b <= 5'}\n"
        "  - {id: q4, stream: s, when: 'st == 200 and b == 7'}\n"
        "  - {id: q5, stream: s, when: 'b != 3 and b < 0'}\n"
        "  - {id: q6, stream: s, when: 'u =~ \"^x\" and b > 1'}\n"
        "  - {id: q7, stream: s, when: 'ev == \"a\" and st > 1 and b < 50 and b > 40'}\n"
        "  - {id: q8, stream: s, when: 'b > 9223372036854775807'}\n"
        "  - {id: q9, stream: s, when: 'b < 5 and b > 10'}\n"
        "  - {id: q10, stream: s, when: 'st == \"x\" and b >= 1'}\n"
        "  - {id: q11, stream: s, when: 'b > 1.5'}\n";

static const char *const range_events[] = {
        "{\"ev\":\"a\",\"b\":150,\"st\":503}",
        "{\"ev\":\"a\",\"b\":15,\"st\":503}",
        "{\"ev\":\"a\",\"b\":5,\"st\":503}",
        "{\"ev\":\"a\",\"b\":45,\"st\":2}",
        "{\"ev\":\"b\",\"b\":4,\"st\":200}",
        "{\"ev\":\"b\",\"b\":7,\"st\":200}",
        "{\"ev\":1,\"b\":7,\"st\":\"x\"}",
        "{\"ev\":\"a\",\"b\":\"150\",\"st\":503}",
        "{\"ev\":\"a\",\"b\":150.5,\"st\":503}",
        "{\"ev\":\"a\",\"b\":null,\"st\":\"503\"}",
        "{\"ev\":\"a\",\"st\":503}",
        "{\"ev\":2,\"b\":-1,\"st\":true}",
        "{\"ev\":\"a\",\"b\":-5,\"u\":\"xy\"}",
        "{\"ev\":\"a\",\"b\":0,\"u\":5}",
        "{\"ev\":true,\"b\":1,\"st\":[1]}",
        "{\"b\":9223372036854775807}",
        "{\"b\":2}",
        "{}",
};

/* Regexes a literal prefilter decides: `^lit` and `^(lit|lit)` shapes,
 * and the ones it must leave to PCRE2 (optional or quantified literals,
 * top-level alternation, inline options, empty alternatives). */
static const struct {
    const char *pattern;
    int n_lits; /* -1: refused */
    const char *first;
} prefix_cases[] = {
        {"^admin[0-4]$", 1, "admin"},
        {"^(admin|svc)", 2, "admin"},
        {"^(?:ab|c)x$", 2, "ab"},
        {"^(a|b|cd)[0-9]+", 3, "a"},
        {"^ab*", 1, "a"},
        {"^(a|b)?x", -1, NULL},
        {"^(a|b)*", -1, NULL},
        {"^(a|b){2}", -1, NULL},
        {"^(a|b)c|d", -1, NULL},
        {"^(a|b)[|]", -1, NULL},
        {"^(a|)", -1, NULL},
        {"^(|a)", -1, NULL},
        {"^(?i:a|b)", -1, NULL},
        {"^(?i)ab", -1, NULL},
        {"^(a|b*)", -1, NULL},
        {"^(a|(b))", -1, NULL},
        {"^a|b", -1, NULL},
        {"a|b", -1, NULL},
        {"^(a|b|c|d|e|f|g|h|i)", -1, NULL}, /* more than max */
};

START_TEST(test_match_prefixes)
{
    char yaml[256];
    snprintf(yaml, sizeof(yaml),
             "streams:\n  s: {}\nrules:\n  - {id: r, stream: s, when: 'u =~ \"%s\"'}\n",
             prefix_cases[_i].pattern);
    struct ruleset *rs = load(yaml);
    struct expr_lit lits[8];
    size_t n = 0;
    int slot = expr_match_prefixes(rs->rules[0]->when, lits, 8, &n);
    if (prefix_cases[_i].n_lits < 0) {
        ck_assert_msg(slot < 0, "%s: not refused", prefix_cases[_i].pattern);
    } else {
        ck_assert_int_eq(slot, slot_of(rs, "u"));
        ck_assert_uint_eq(n, (size_t)prefix_cases[_i].n_lits);
        ck_assert_uint_eq(lits[0].len, strlen(prefix_cases[_i].first));
        ck_assert(memcmp(lits[0].s, prefix_cases[_i].first, lits[0].len) == 0);
    }
    ruleset_free(rs);
}
END_TEST

/* The prefilter's answers against PCRE2's on strings that start with a
 * literal, contain it later, are shorter, differ in case, end in a
 * newline, or are not strings. */
static const char *const regex_yaml =
        "streams:\n  s: {}\nrules:\n"
        "  - {id: x0, stream: s, when: 'u =~ \"^(admin|svc)\"'}\n"
        "  - {id: x1, stream: s, when: 'u =~ \"^(?:admin|svc)-[0-9]$\" and n > 1'}\n"
        "  - {id: x2, stream: s, when: 'u =~ \"^(a|bc|def)x\"'}\n"
        "  - {id: x3, stream: s, when: 'u =~ \"^(a|b)?x\"'}\n"
        "  - {id: x4, stream: s, when: 'u =~ \"^(a|b)c|d\"'}\n"
        "  - {id: x5, stream: s, when: 'u =~ \"^admin[0-4]$\"'}\n"
        "  - {id: x6, stream: s, when: 'e == \"t\" and u =~ \"^(svc|root)\"'}\n";

static const char *const regex_events[] = {
        "{\"u\":\"admin3\",\"n\":2,\"e\":\"t\"}",
        "{\"u\":\"svc-1\",\"n\":2,\"e\":\"t\"}",
        "{\"u\":\"svc-1\\n\",\"n\":2}",
        "{\"u\":\"admin\\n\"}",
        "{\"u\":\"Admin3\"}",
        "{\"u\":\"adm\"}",
        "{\"u\":\"xadmin\"}",
        "{\"u\":\"u123\",\"e\":\"t\"}",
        "{\"u\":\"ax\"}",
        "{\"u\":\"bcx\"}",
        "{\"u\":\"defx\"}",
        "{\"u\":\"dex\"}",
        "{\"u\":\"x\"}",
        "{\"u\":\"zzd\"}",
        "{\"u\":\"root\",\"e\":\"t\"}",
        "{\"u\":\"\"}",
        "{\"u\":5}",
        "{\"u\":null}",
        "{}",
};

/* Many range rules listed under one key (k == "a"), picked by range from
 * the key's list: narrow, wide, open-ended, empty and extreme ranges, one
 * behind a guard and one on another field, against ints at and beyond
 * their ends, floats, strings, null and missing values; a guard after
 * the key (g13) that sees another class makes its rule visit. */
static const char *const ranged_yaml =
        "streams:\n  s: {}\n"
        "rules:\n"
        "  - {id: g0, stream: s, when: 'k == \"a\" and b >= 10 and b < 20'}\n"
        "  - {id: g1, stream: s, when: 'k == \"a\" and b > 995'}\n"
        "  - {id: g2, stream: s, when: 'k == \"a\" and b >= 15 and b <= 15'}\n"
        "  - {id: g3, stream: s, when: 'k == \"a\" and b < -5'}\n"
        "  - {id: g4, stream: s, when: 'k == \"a\" and b > 30 and b < 10'}\n"
        "  - {id: g5, stream: s, when: 'k == \"a\"'}\n"
        "  - {id: g6, stream: s, when: 'k == \"a\" and b >= -9223372036854775807 and b < 0'}\n"
        "  - {id: g7, stream: s, when: 'k == \"a\" and c > 3'}\n"
        "  - {id: g8, stream: s, when: 's == \"x\" and k == \"a\" and b > 12'}\n"
        "  - {id: g9, stream: s, when: 'k == \"a\" and b == 18 and c == 1'}\n"
        "  - {id: g10, stream: s, when: 'k == \"a\" and b <= 9223372036854775807'}\n"
        "  - {id: g11, stream: s, when: 'k == \"a\" and b >= 500 and b < 1000'}\n"
        "  - {id: g12, stream: s, when: 'k == \"b\" and b >= 5'}\n"
        "  - {id: g13, stream: s, when: 'k == \"a\" and s == \"y\" and b > 12'}\n";

static const char *const ranged_events[] = {
        "{\"k\":\"a\",\"b\":15,\"c\":4}",
        "{\"k\":\"a\",\"b\":10}",
        "{\"k\":\"a\",\"b\":19,\"c\":1}",
        "{\"k\":\"a\",\"b\":18,\"c\":1}",
        "{\"k\":\"a\",\"b\":20}",
        "{\"k\":\"a\",\"b\":996}",
        "{\"k\":\"a\",\"b\":995}",
        "{\"k\":\"a\",\"b\":-6}",
        "{\"k\":\"a\",\"b\":-9223372036854775807}",
        "{\"k\":\"a\",\"b\":-9223372036854775808}",
        "{\"k\":\"a\",\"b\":9223372036854775807}",
        "{\"k\":\"a\",\"b\":700,\"s\":\"x\"}",
        "{\"k\":\"a\",\"b\":13,\"s\":5}",
        "{\"k\":\"a\",\"b\":5,\"s\":5}",
        "{\"k\":\"a\",\"b\":15.5}",
        "{\"k\":\"a\",\"b\":\"15\"}",
        "{\"k\":\"a\",\"b\":null,\"c\":9}",
        "{\"k\":\"a\",\"b\":true}",
        "{\"k\":\"a\"}",
        "{\"k\":\"b\",\"b\":6}",
        "{\"k\":\"b\",\"b\":4}",
};

/* Guards beyond the index's room: u is chosen as a field, but its only
 * rule's eight guards do not fit beside k's, so u's table stays empty. */
static const char *const full_yaml =
        "streams:\n  s: {}\n"
        "rules:\n"
        "  - {id: f0, stream: s, when: 'h1 > 1 and h2 > 1 and h3 > 1 and h4 > 1 and h5 > 1 and "
        "h6 > 1 and h7 > 1 and h8 > 1 and k == \"a\"'}\n"
        "  - {id: f1, stream: s, when: 'h1 > 1 and h2 > 1 and h3 > 1 and h4 > 1 and h5 > 1 and "
        "h6 > 1 and h7 > 1 and h8 > 1 and k == \"b\"'}\n"
        "  - {id: f2, stream: s, when: 'g1 > 1 and g2 > 1 and g3 > 1 and g4 > 1 and g5 > 1 and "
        "g6 > 1 and g7 > 1 and g8 > 1 and u == \"x\"'}\n";

static const char *const full_events[] = {
        "{\"h1\":2,\"h2\":2,\"h3\":2,\"h4\":2,\"h5\":2,\"h6\":2,\"h7\":2,\"h8\":2,\"k\":\"a\"}",
        "{\"g1\":2,\"g2\":2,\"g3\":2,\"g4\":2,\"g5\":2,\"g6\":2,\"g7\":2,\"g8\":2,\"u\":\"x\"}",
        "{\"u\":\"y\",\"k\":\"b\",\"h1\":\"s\"}",
        "{\"u\":3}",
        "{}",
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* The differential runs: rules, events, how many rules the index holds
 * and the fewest (rule, event) pairs it must skip. */
static const struct {
    const char *yaml;
    const char *const *events;
    size_t n_events, n_rules, min_skipped;
} diff_cases[] = {
        {diff_yaml, diff_events, N_OF(diff_events), 24, 50}, /* the index does skip rules */
        {range_yaml, range_events, N_OF(range_events), 12, 100},
        {regex_yaml, regex_events, N_OF(regex_events), 7, 50},
        {ranged_yaml, ranged_events, N_OF(ranged_events), 14, 100},
        {full_yaml, full_events, N_OF(full_events), 3, 5},
};

START_TEST(test_differential)
{
    size_t n = differential(diff_cases[_i].yaml, diff_cases[_i].events, diff_cases[_i].n_events,
                            diff_cases[_i].n_rules);
    ck_assert_uint_gt(n, diff_cases[_i].min_skipped);
}
END_TEST

/* A deterministic pseudo-random sequence (xorshift64), for generated
 * rule sets and events. */
static uint64_t rnd_next(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static unsigned rnd_below(uint64_t *x, unsigned n)
{
    return (unsigned)(rnd_next(x) % n);
}

/* Generated rule sets in the benchmark's mix (types, users, ranges,
 * literal-set regexes, == and in, guards and an `or`) against generated
 * events whose values are often of another type, null or missing. */
START_TEST(test_differential_random)
{
    enum { N_RULES = 400, N_EVENTS = 300 };
    static const char *const pats[] = {"^(admin|svc)", "^u1", "^(?:u2|u3)[0-9]$", "^admin[0-4]$",
                                       "^(a|u)1"};
    static const char *const sts[] = {"200", "500", "503", "\"503\"", "null", "5.5e2"};
    uint64_t x = 0x9e3779b97f4a7c15ull + (uint64_t)_i;
    struct sbuf sb;
    sbuf_init(&sb);
    sbuf_puts(&sb, "streams:\n  s: {}\nrules:\n");
    for (int i = 0; i < N_RULES; i++) {
        unsigned t = rnd_below(&x, 10), t2 = rnd_below(&x, 10), u = rnd_below(&x, 40);
        unsigned k = rnd_below(&x, 1000);
        const char *pat = pats[rnd_below(&x, 5)];
        sbuf_printf(&sb, "  - {id: r%d, stream: s, when: '", i);
        switch (rnd_below(&x, 10)) {
            case 0:
                sbuf_printf(&sb, "ev == \"t%u\" and u == \"u%u\"", t, u);
                break;
            case 1:
                sbuf_printf(&sb, "ev == \"t%u\" and b > %u and st >= 500", t, k);
                break;
            case 2:
                sbuf_printf(&sb, "ev in [\"t%u\", \"t%u\"] and u =~ \"%s\" and st == 500", t, t2,
                            pat);
                break;
            case 3:
                sbuf_printf(&sb, "u =~ \"%s\" and b > %u", pat, k);
                break;
            case 4:
                sbuf_printf(&sb, "b >= %u and b < %u and st == 503", k, k + 50);
                break;
            case 5:
                sbuf_printf(&sb, "ev == \"t%u\" and st == \"503\" and b <= %u", t, k);
                break;
            case 6:
                sbuf_printf(&sb, "st == 503 and ev == \"t%u\" and b != %u", t, k);
                break;
            case 7:
                sbuf_printf(&sb, "ev == \"t%u\" or b < %u", t, k / 10);
                break;
            case 8:
                sbuf_printf(&sb, "b > %u and st != 200 and u =~ \"%s\"", k, pat);
                break;
            default:
                sbuf_printf(&sb, "u in [\"u%u\", \"admin1\", %u] and b == %u", u, k, k % 7);
                break;
        }
        sbuf_puts(&sb, "'}\n");
    }
    static char lines[N_EVENTS][160];
    static const char *events[N_EVENTS];
    for (int e = 0; e < N_EVENTS; e++) {
        struct sbuf ev;
        sbuf_init(&ev);
        sbuf_putc(&ev, '{');
        unsigned r = rnd_below(&x, 20);
        if (r == 0)
            sbuf_puts(&ev, "\"ev\":5,");
        else if (r != 1)
            sbuf_printf(&ev, "\"ev\":\"t%u\",", rnd_below(&x, 11));
        r = rnd_below(&x, 20);
        if (r == 0)
            sbuf_puts(&ev, "\"u\":7,");
        else if (r == 1)
            sbuf_puts(&ev, "\"u\":null,");
        else if (r < 4)
            sbuf_printf(&ev, "\"u\":\"%s\",", r == 2 ? "admin1" : "svc-2");
        else
            sbuf_printf(&ev, "\"u\":\"u%u\",", rnd_below(&x, 45));
        r = rnd_below(&x, 20);
        if (r == 0)
            sbuf_puts(&ev, "\"b\":\"7\",");
        else if (r == 1)
            sbuf_printf(&ev, "\"b\":%u.5,", rnd_below(&x, 1000));
        else if (r != 2)
            sbuf_printf(&ev, "\"b\":%u,", rnd_below(&x, 1100));
        sbuf_printf(&ev, "\"st\":%s}", sts[rnd_below(&x, 6)]);
        ck_assert_uint_lt(ev.len, sizeof(lines[e]));
        memcpy(lines[e], ev.buf, ev.len + 1);
        events[e] = lines[e];
        sbuf_free(&ev);
    }
    size_t n = differential(sb.buf, events, N_EVENTS, N_RULES);
    ck_assert_uint_gt(n, (size_t)N_RULES * N_EVENTS / 2);
    sbuf_free(&sb);
}
END_TEST

/* An event whose b is outside every range visits none of the range rules
 * its equalities list it under (q1 under st == 503). */
START_TEST(test_range_skips)
{
    struct ruleset *rs = load(range_yaml);
    const struct rule_index *ix = rs->streams[0].ix_now;
    struct expr_rt *rt = expr_rt_new();
    struct rule_index_memo memo;
    rule_index_memo_init(&memo, ix);
    struct evt *ev = evt_new();
    const char *line = "{\"ev\":\"a\",\"b\":30,\"st\":503}";
    decode(rs, ev, line);
    struct rule_index_iter it;
    uint32_t pos, gen = rule_index_memo_next(&memo);
    struct expr_ctx ictx = {.ev = ev, .rt = rt};
    rule_index_begin(ix, &ictx, &memo, gen, &it);
    size_t n = 0;
    while (rule_index_next(&it, &pos)) {
        const char *id = rs->rules[rule_index_rule(ix, pos)]->id;
        ck_assert_msg(strcmp(id, "q1") && strcmp(id, "q2") && strcmp(id, "q4") &&
                              strcmp(id, "q9"),
                      "%s visited", id);
        n++;
    }
    ck_assert_uint_ge(n, 1); /* q0 holds */
    evt_unref(ev);
    rule_index_memo_fini(&memo);
    expr_rt_free(rt);
    ruleset_free(rs);
}
END_TEST

/* A shared predicate's counters go to every rule that uses it, as if each
 * had evaluated it: x == "1" on an int counts one mismatch per rule. */
START_TEST(test_memo_counters)
{
    struct ruleset *rs = load("streams:\n  s: {}\nrules:\n"
                              "  - {id: a, stream: s, when: 'x == \"1\" or y'}\n"
                              "  - {id: b, stream: s, when: 'x == \"1\" or y'}\n");
    const struct rule_index *ix = rs->streams[0].ix_now;
    ck_assert_uint_eq(rule_index_n_preds(ix), 1);
    struct expr_rt *rt = expr_rt_new();
    struct rule_index_memo memo;
    rule_index_memo_init(&memo, ix);
    struct evt *ev = evt_new();
    const char *line = "{\"x\":1,\"y\":\"s\"}";
    decode(rs, ev, line);
    uint32_t gen = rule_index_memo_next(&memo);
    for (uint32_t pos = 0; pos < 2; pos++) {
        struct expr_counters c = {0};
        struct expr_ctx ctx = {.ev = ev, .counters = &c, .rt = rt};
        ck_assert(!rule_index_when(ix, pos, &ctx, &memo, gen));
        ck_assert_uint_eq(c.type_mismatch, 2); /* x == "1", then y not a bool */
    }
    evt_unref(ev);
    rule_index_memo_fini(&memo);
    expr_rt_free(rt);
    ruleset_free(rs);
}
END_TEST

/* The positions ev visits (at most max), stopping after stop of them. */
static size_t visits(const struct rule_index *ix, struct rule_index_memo *memo,
                     struct expr_rt *rt, const struct evt *ev, uint32_t *out, size_t max,
                     size_t stop)
{
    struct rule_index_iter it;
    uint32_t pos, gen = rule_index_memo_next(memo);
    struct expr_ctx ictx = {.ev = ev, .rt = rt};
    size_t n = 0;
    rule_index_begin(ix, &ictx, memo, gen, &it);
    while (n < stop && rule_index_next(&it, &pos)) {
        ck_assert_uint_lt(n, max);
        ck_assert(n == 0 || pos > out[n - 1]);
        out[n++] = pos;
    }
    return n;
}

/* Visit lists over many bitmap words: every matching rule visited once,
 * in order, and an iteration left unfinished does not leak into the next
 * event's (the memo's visit bits are cleared). */
START_TEST(test_visit_words)
{
    enum { N = 300 };
    struct sbuf sb;
    sbuf_init(&sb);
    sbuf_append(&sb, "streams:\n  s: {}\nrules:\n", 24);
    for (int i = 0; i < N; i++) {
        char line[160];
        int len;
        if (i % 7 == 3)
            len = snprintf(line, sizeof(line), "  - {id: r%d, stream: s, when: 'b > %d'}\n", i,
                           i * 10);
        else if (i % 11 == 5)
            len = snprintf(line, sizeof(line), "  - {id: r%d, stream: s}\n", i);
        else
            len = snprintf(line, sizeof(line),
                           "  - {id: r%d, stream: s, when: 'ev == \"t%d\" and b >= %d'}\n", i,
                           i % 13, i % 5);
        sbuf_append(&sb, line, (size_t)len);
    }
    struct ruleset *rs = load(sb.buf);
    sbuf_free(&sb);
    const struct rule_index *ix = rs->streams[0].ix_now;
    ck_assert_uint_eq(rule_index_n_rules(ix), N);
    struct expr_rt *rt = expr_rt_new();
    struct rule_index_memo fresh, reused;
    rule_index_memo_init(&fresh, ix);
    rule_index_memo_init(&reused, ix);
    struct evt *ev = evt_new();
    static uint32_t a[N], b[N];
    for (int e = 0; e < 40; e++) {
        char line[80];
        snprintf(line, sizeof(line), "{\"ev\":\"t%d\",\"b\":%d}", e % 14, e * 97 % 3100);
        decode(rs, ev, line);
        rule_index_memo_fini(&fresh);
        rule_index_memo_init(&fresh, ix);
        size_t na = visits(ix, &fresh, rt, ev, a, N, N);
        size_t nb = visits(ix, &reused, rt, ev, b, N, N);
        ck_assert_uint_eq(na, nb);
        ck_assert(memcmp(a, b, na * sizeof(a[0])) == 0);
        size_t k = 0;
        for (uint32_t pos = 0; pos < N; pos++) {
            const struct rule *r = rs->rules[rule_index_rule(ix, pos)];
            struct expr_ctx c = {.ev = ev, .rt = rt};
            bool want = !r->when || expr_eval_bool(r->when, &c);
            while (k < na && a[k] < pos)
                k++;
            ck_assert_msg(!want || (k < na && a[k] == pos), "event %d: %s not visited", e,
                          r->id);
        }
        ck_assert_uint_gt(na, 20);
        visits(ix, &reused, rt, ev, b, N, (size_t)e % 3); /* left unfinished */
    }
    evt_unref(ev);
    rule_index_memo_fini(&fresh);
    rule_index_memo_fini(&reused);
    expr_rt_free(rt);
    ruleset_free(rs);
}
END_TEST

struct sink {
    char buf[4096];
    size_t len;
};

static void on_alert(void *ud, const struct eng_alert *a)
{
    struct sink *s = ud;
    int n = snprintf(s->buf + s->len, sizeof(s->buf) - s->len, "%s;", a->rule->id);
    ck_assert_int_gt(n, 0);
    s->len += (size_t)n;
}

/* Through the engine: alerts in rule order whatever list a rule came from,
 * and every rule's `evaluated` counts every event of its kind, skipped or
 * not (stateless and stateful). */
START_TEST(test_engine)
{
    struct ruleset *rs = load("streams:\n  s: {}\nrules:\n"
                              "  - {id: any, stream: s, when: 'n > 0'}\n"
                              "  - {id: in, stream: s, when: 'event in [\"a\", \"b\"]'}\n"
                              "  - {id: eqa, stream: s, when: 'event == \"a\"'}\n"
                              "  - {id: eq1, stream: s, when: 'event == 1'}\n"
                              "  - {id: agg, kind: aggregate, stream: s, when: 'event == \"b\"',\n"
                              "     window: {type: count, size: 2},\n"
                              "     aggregate: {c: count()}, having: 'c >= 2'}\n");
    struct sink s = {{0}, 0};
    struct eng_output out = {.ud = &s, .alert = on_alert};
    struct eng *eng = eng_new(rs, &out);
    const char *lines[] = {
            "{\"event\":\"a\",\"n\":1}", "{\"event\":\"b\"}", "{\"event\":1}",
            "{\"event\":\"c\",\"n\":2}", "{\"event\":\"b\"}",
    };
    struct eng_reject rej;
    for (size_t i = 0; i < 5; i++)
        ck_assert_int_eq(eng_push_line(eng, 0, lines[i], strlen(lines[i]), "t", i, &rej), CEP_OK);
    eng_finish(eng, ENG_EOF_FLUSH);
    ck_assert_str_eq(s.buf, "any;in;eqa;in;eq1;any;in;agg;");
    for (size_t ri = 0; ri < rs->n_rules; ri++)
        ck_assert_msg(eng_rule_stats(eng, ri)->evaluated == 5, "%s: %llu", rs->rules[ri]->id,
                      (unsigned long long)eng_rule_stats(eng, ri)->evaluated);
    ck_assert_uint_eq(eng_rule_stats(eng, 3)->expr.type_mismatch, 4);
    eng_free(eng);
    ruleset_free(rs);
}
END_TEST

static Suite *rule_index_suite(void)
{
    Suite *s = suite_create("rule_index");
    TCase *tc = tcase_create("shape");
    tcase_add_test(tc, test_index_shape);
    tcase_add_test(tc, test_index_selective);
    tcase_add_loop_test(tc, test_index_visits_all, 0, (int)N_OF(visits_all_cases));
    tcase_add_test(tc, test_split_and_share);
    tcase_add_loop_test(tc, test_match_prefixes, 0,
                        (int)(sizeof(prefix_cases) / sizeof(prefix_cases[0])));
    suite_add_tcase(s, tc);
    tc = tcase_create("exact");
    tcase_add_loop_test(tc, test_differential, 0, (int)N_OF(diff_cases));
    tcase_add_loop_test(tc, test_differential_random, 0, 4);
    tcase_add_test(tc, test_range_skips);
    tcase_add_test(tc, test_memo_counters);
    tcase_add_test(tc, test_visit_words);
    suite_add_tcase(s, tc);
    tc = tcase_create("engine");
    tcase_add_test(tc, test_engine);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(rule_index_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
