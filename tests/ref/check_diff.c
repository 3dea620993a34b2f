/* SPDX-License-Identifier: Apache-2.0
 * Randomized differential test: random patterns x random event sequences,
 * under every skip strategy, through the real NFA (include/cepd/nfa.h) and
 * through the brute-force reference matcher (tests/ref/ref_match.c); the
 * multisets of matches (events and the step of each) must be equal -- or,
 * where matches sharing their first event are released together under a
 * skip strategy, equal to one of the outcomes FlinkCEP allows.
 *
 * Feature set (the reference's, see ref_match.h): conditions on `name` over
 * the alphabet a b c d (`name == 'a' or name == 'c'`, or none); single,
 * N, N..M and N+ steps; optional (at least one step is not); after and loop
 * contiguity strict / relaxed / any; notNext / notFollowedBy between a
 * single non-optional step and a non-optional step; rule-level `within`;
 * all five skip strategies.  Left out: greedy, until, groups, iterative
 * conditions, negation first / last / next to loops or optional steps,
 * step-level within, timeouts.
 *
 * Time follows FlinkCEP's NFA harness: advance to each event's time, then
 * process it; nothing is flushed at the end.  Timestamps are
 * non-decreasing, in ms (the NFA gets microseconds).
 *
 * CEPD_DIFF_TRIALS (default 500) and CEPD_DIFF_SEED (default fixed) set the
 * run; a mismatch prints the seed and trial, the pattern as a cepd rule,
 * the events and both results.
 * Tested by: itself (make check) */
#include "cepd/cep_common.h"
#include "cepd/diag.h"
#include "cepd/evt.h"
#include "cepd/expr.h"
#include "cepd/nfa.h"
#include "cepd/val.h"
#include "ref_io.h"
#include "ref_match.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIFF_N_SYMS 4
#define DIFF_MAX_EVENTS 10
#define DIFF_SHOW_MISMATCHES 3

static const char *const diff_names[DIFF_N_SYMS] = {"a", "b", "c", "d"};

/* splitmix64: small, seedable, good enough for test generation. */
struct diff_rng {
    uint64_t s;
};

static uint64_t diff_next(struct diff_rng *r)
{
    uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static uint32_t diff_below(struct diff_rng *r, uint32_t n)
{
    return (uint32_t)(diff_next(r) % n);
}

static bool diff_chance(struct diff_rng *r, uint32_t percent)
{
    return diff_below(r, 100) < percent;
}

static uint64_t diff_env_u64(const char *name, uint64_t dflt)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return dflt;
    char *end;
    unsigned long long v = strtoull(s, &end, 0);
    return *end ? dflt : (uint64_t)v;
}

static uint32_t diff_mask(struct diff_rng *r)
{
    uint32_t all = (1u << DIFF_N_SYMS) - 1;
    uint32_t roll = diff_below(r, 10);
    if (roll < 6)
        return 1u << diff_below(r, DIFF_N_SYMS);
    if (roll < 9) {
        uint32_t m = 0;
        while (m == 0 || m == all)
            m = (1u << diff_below(r, DIFF_N_SYMS)) | (1u << diff_below(r, DIFF_N_SYMS));
        return m;
    }
    return all;
}

static void diff_quantifier(struct diff_rng *r, struct ref_step *s)
{
    switch (diff_below(r, 8)) {
    case 0:
        s->min = s->max = 2 + diff_below(r, 2); /* times: 2 | 3 */
        break;
    case 1:
        s->min = 1 + diff_below(r, 2);
        s->max = s->min + 1 + diff_below(r, 2); /* 1..2 .. 2..4 */
        break;
    case 2:
    case 3:
        s->min = 1 + diff_below(r, 2);
        s->max = REF_UNBOUNDED; /* 1+ | 2+ */
        break;
    default:
        s->min = s->max = 1;
        break;
    }
}

static void diff_gen_pattern(struct diff_rng *r, struct ref_pattern *p)
{
    for (;;) {
        memset(p, 0, sizeof(*p));
        size_t n = 1 + diff_below(r, 4);
        bool any_required = false;
        for (size_t k = 0; k < n; k++) {
            struct ref_step *s = &p->steps[p->n_steps++];
            s->mask = diff_mask(r);
            diff_quantifier(r, s);
            s->optional = diff_chance(r, 25);
            s->after = (enum ref_contig)diff_below(r, REF_CONTIG_COUNT);
            s->loop = (enum ref_contig)diff_below(r, REF_CONTIG_COUNT);
            if (s->min == s->max && s->min == 1)
                s->loop = REF_RELAXED;
            any_required |= !s->optional;
            /* A negation after a single required step, before a required one. */
            if (k + 1 < n && !s->optional && s->min == 1 && s->max == 1 &&
                p->n_steps + 2 <= REF_MAX_STEPS && diff_chance(r, 20)) {
                struct ref_step *g = &p->steps[p->n_steps++];
                g->mask = diff_mask(r);
                g->min = g->max = 1;
                g->negated = true;
                g->after = diff_chance(r, 50) ? REF_STRICT : REF_RELAXED;
                g->loop = REF_RELAXED;
                struct ref_step *t = &p->steps[p->n_steps++];
                t->mask = diff_mask(r);
                diff_quantifier(r, t);
                t->after = (enum ref_contig)diff_below(r, REF_CONTIG_COUNT);
                t->loop = (enum ref_contig)diff_below(r, REF_CONTIG_COUNT);
                if (t->min == t->max && t->min == 1)
                    t->loop = REF_RELAXED;
                any_required = true;
                k++;
            }
        }
        if (!any_required)
            continue;
        p->within = diff_chance(r, 30) ? 2 + diff_below(r, 5) : 0;
        p->skip = (enum ref_skip)diff_below(r, REF_SKIP_COUNT);
        p->skip_step = -1;
        if (p->skip == REF_TO_FIRST || p->skip == REF_TO_LAST) {
            do
                p->skip_step = (int)diff_below(r, (uint32_t)p->n_steps);
            while (p->steps[p->skip_step].negated);
        }
        if (ref_pattern_supported(p, NULL))
            return;
    }
}

/* ------------------------------------------------------------- the NFA */

struct diff_nfa {
    struct evt_schema *schema;
    int name_slot;
    struct expr *when[REF_MAX_STEPS];
    struct nfa_step_spec steps[REF_MAX_STEPS];
    char names[REF_MAX_STEPS][24]; /* "s" and a size_t */
    struct nfa_prog *prog;
    struct ref_matches got;
};

static struct expr *diff_compile(struct diff_nfa *d, uint32_t mask)
{
    char text[256];
    size_t len = 0;
    if (mask == (1u << DIFF_N_SYMS) - 1)
        return NULL; /* no condition */
    for (uint32_t b = 0; b < DIFF_N_SYMS; b++) {
        if (!((mask >> b) & 1u))
            continue;
        int w = snprintf(text + len, sizeof(text) - len, "%sname == '%s'", len ? " or " : "",
                         diff_names[b]);
        ck_assert(w > 0 && (size_t)w < sizeof(text) - len);
        len += (size_t)w;
    }
    struct expr_env env;
    memset(&env, 0, sizeof(env));
    env.schema = d->schema;
    env.current_step = -1;
    struct expr_src src = {.text = text, .len = len, .file = "check_diff", .base_line = 1,
                           .base_col = 1};
    struct diag_list dl;
    diag_list_init(&dl);
    struct expr *e = expr_compile(&src, &env, &dl);
    if (!e)
        diag_print(&dl, stderr);
    diag_list_free(&dl);
    ck_assert_msg(e != NULL, "cannot compile %s", text);
    return e;
}

static void diff_on_match(void *ud, const struct nfa_match *m)
{
    struct diff_nfa *d = ud;
    struct ref_match x;
    memset(&x, 0, sizeof(x));
    for (size_t i = 0; i < m->n && i < REF_MAX_EVENTS; i++) {
        x.ev[x.n] = (uint8_t)m->events[i]->seq;
        x.step[x.n++] = (uint8_t)m->steps[i];
    }
    ref_matches_push(&d->got, &x);
}

static void diff_nfa_build(struct diff_nfa *d, const struct ref_pattern *p)
{
    static const enum nfa_contig contig[] = {NFA_CONTIG_STRICT, NFA_CONTIG_RELAXED,
                                             NFA_CONTIG_ANY};
    static const enum nfa_skip skip[] = {NFA_SKIP_NO_SKIP, NFA_SKIP_TO_NEXT,
                                         NFA_SKIP_PAST_LAST_EVENT, NFA_SKIP_TO_FIRST,
                                         NFA_SKIP_TO_LAST};
    memset(d, 0, sizeof(*d));
    d->schema = evt_schema_new();
    d->name_slot = evt_schema_slot_dotted(d->schema, "name");
    for (size_t k = 0; k < p->n_steps; k++) {
        const struct ref_step *s = &p->steps[k];
        struct nfa_step_spec *n = &d->steps[k];
        snprintf(d->names[k], sizeof(d->names[k]), "s%zu", k);
        d->when[k] = diff_compile(d, s->mask);
        n->name = d->names[k];
        n->index = (int)k;
        n->when = d->when[k];
        n->min = s->min;
        n->max = s->max == REF_UNBOUNDED ? NFA_UNBOUNDED : s->max;
        n->optional = s->optional;
        n->after = contig[s->after];
        n->loop = contig[s->loop];
        n->negated = s->negated;
    }
    struct nfa_pattern_spec spec = {
            .steps = d->steps,
            .n_steps = p->n_steps,
            .n_indexes = p->n_steps,
            .within = p->within * 1000,
            .skip = skip[p->skip],
            .skip_step = p->skip_step,
    };
    d->prog = nfa_compile(&spec);
}

static void diff_nfa_free(struct diff_nfa *d)
{
    nfa_prog_free(d->prog);
    for (size_t k = 0; k < REF_MAX_STEPS; k++)
        expr_free(d->when[k]);
    evt_schema_free(d->schema);
    ref_matches_free(&d->got);
}

static void diff_nfa_run(struct diff_nfa *d, const uint32_t *sym, const int64_t *ts, size_t n)
{
    struct expr_rt *rt = expr_rt_new();
    struct nfa_work *work = nfa_work_new();
    struct expr_counters counters;
    uint64_t evicted = 0;
    memset(&counters, 0, sizeof(counters));
    struct nfa_env env = {.rt = rt, .work = work, .counters = &counters, .evicted = &evicted,
                          .ud = d, .on_match = diff_on_match};
    struct nfa_key *k = nfa_key_new(d->prog);
    for (size_t i = 0; i < n; i++) {
        char raw[64];
        int len = snprintf(raw, sizeof(raw), "{\"id\":\"e%zu\",\"name\":\"%s\",\"ts\":%" PRId64 "}",
                           i + 1, diff_names[sym[i]], ts[i]);
        struct evt *ev = evt_new();
        evt_reset(ev, raw, (size_t)len, d->schema->n_slots);
        ev->slots[d->name_slot] = val_str(diff_names[sym[i]], 1);
        ev->time = ts[i] * 1000;
        ev->seq = i;
        ev->src_name = "check_diff";
        ev->src_off = i;
        nfa_key_advance(k, ev->time, &env);
        nfa_key_process(k, ev, &env);
        evt_unref(ev);
    }
    ck_assert_uint_eq(evicted, 0);
    nfa_key_free(k);
    expr_rt_free(rt);
    nfa_work_free(work);
    ref_matches_sort(&d->got);
}

/* ------------------------------------------------------------ the test */

static void diff_print_case(uint64_t seed, uint64_t trial, const struct ref_pattern *p,
                            const uint32_t *sym, const int64_t *ts, size_t n,
                            const struct ref_result *ref, const struct ref_matches *got)
{
    printf("MISMATCH: CEPD_DIFF_SEED=%" PRIu64 ", trial %" PRIu64 "\n", seed, trial);
    printf("rules:\n  - id: diff\n    kind: pattern\n    pattern:\n");
    ref_pattern_print(stdout, p, diff_names);
    printf("events:");
    for (size_t i = 0; i < n; i++)
        printf(" e%zu=%s@%" PRId64, i + 1, diff_names[sym[i]], ts[i]);
    printf("\nNFA (event:step):       ");
    ref_matches_print(stdout, got, true);
    for (size_t i = 0; i < ref->n_outcomes; i++) {
        printf("reference %s%zu: ", ref->n_outcomes > 1 ? "outcome " : "", i);
        ref_matches_print(stdout, &ref->outcomes[i], true);
    }
    fflush(stdout);
}

START_TEST(test_random_diff)
{
    uint64_t trials = diff_env_u64("CEPD_DIFF_TRIALS", 500);
    uint64_t seed = diff_env_u64("CEPD_DIFF_SEED", UINT64_C(20240611));
    struct diff_rng rng = {seed};
    uint64_t mismatches = 0, inconclusive = 0, matches = 0, per_skip[REF_SKIP_COUNT] = {0};
    for (uint64_t t = 0; t < trials; t++) {
        struct ref_pattern p;
        uint32_t sym[DIFF_MAX_EVENTS];
        int64_t ts[DIFF_MAX_EVENTS];
        diff_gen_pattern(&rng, &p);
        size_t n = 3 + diff_below(&rng, DIFF_MAX_EVENTS - 2);
        int64_t now = 1;
        for (size_t i = 0; i < n; i++) {
            sym[i] = diff_below(&rng, DIFF_N_SYMS);
            now += diff_below(&rng, 3);
            ts[i] = now;
        }
        struct ref_result ref;
        ref_run(&p, sym, ts, n, &ref);
        if (ref.inconclusive) {
            inconclusive++;
            ref_result_free(&ref);
            continue;
        }
        struct diff_nfa d;
        diff_nfa_build(&d, &p);
        diff_nfa_run(&d, sym, ts, n);
        bool ok = false;
        for (size_t i = 0; i < ref.n_outcomes && !ok; i++)
            ok = ref_matches_equal(&ref.outcomes[i], &d.got, true);
        per_skip[p.skip]++;
        matches += d.got.n;
        if (!ok && mismatches++ < DIFF_SHOW_MISMATCHES)
            diff_print_case(seed, t, &p, sym, ts, n, &ref, &d.got);
        diff_nfa_free(&d);
        ref_result_free(&ref);
    }
    printf("check_diff: %" PRIu64 " trials (seed %" PRIu64 "), %" PRIu64 " mismatches, %" PRIu64
           " skipped as inconclusive, %" PRIu64 " NFA matches; per skip:",
           trials, seed, mismatches, inconclusive, matches);
    for (int s = 0; s < REF_SKIP_COUNT; s++)
        printf(" %" PRIu64, per_skip[s]);
    printf("\n");
    ck_assert_msg(mismatches == 0, "%" PRIu64 " of %" PRIu64 " trials disagree", mismatches,
                  trials);
    ck_assert_msg(inconclusive * 10 <= trials, "too many inconclusive trials");
}
END_TEST

static Suite *diff_suite(void)
{
    Suite *s = suite_create("diff");
    TCase *tc = tcase_create("random");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_random_diff);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(diff_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
