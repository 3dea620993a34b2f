/* SPDX-License-Identifier: Apache-2.0
 * Validates the reference matcher (tests/ref/ref_match.c) against the
 * FlinkCEP conformance cases it covers: tests/ref/ref-corpus.txt, written
 * by tests/ref/gen_corpus.py from tests/flink/flinkcep-cases.json.  Every
 * covered case must give exactly FlinkCEP's expected matches (one of the
 * reference's outcomes, compared as multisets of event lists).  Cases
 * outside the reference's feature set are counted and listed.  Also has a
 * few hand-written cases from the FlinkCEP docs.
 * Tested by: itself (make check) */
#include "cepd/cep_common.h"
#include "ref_match.h"
#include "ref_io.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_corpus)
{
    const char *top = getenv("TOP_SRCDIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/tests/ref/ref-corpus.txt", top ? top : ".");
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s (set TOP_SRCDIR)", path);
    struct ref_case c;
    size_t n_ok = 0, n_bad = 0, n_unsup = 0;
    while (ref_case_read(f, &c)) {
        const char *why = NULL;
        if (!ref_pattern_supported(&c.p, &why)) {
            printf("ref corpus: %s not covered (%s)\n", c.id, why);
            n_unsup++;
            ref_matches_free(&c.expected);
            continue;
        }
        struct ref_result r;
        ref_run(&c.p, c.sym, c.ts, c.n, &r);
        bool ok = false;
        for (size_t i = 0; i < r.n_outcomes && !ok; i++)
            ok = ref_matches_equal(&r.outcomes[i], &c.expected, false);
        if (ok && !r.inconclusive) {
            n_ok++;
        } else {
            n_bad++;
            printf("ref corpus: %s DISAGREES%s\n  expected: ", c.id,
                   r.inconclusive ? " (inconclusive)" : "");
            ref_matches_print(stdout, &c.expected, false);
            for (size_t i = 0; i < r.n_outcomes; i++) {
                printf("  ref outcome %zu: ", i);
                ref_matches_print(stdout, &r.outcomes[i], false);
            }
        }
        ref_result_free(&r);
        ref_matches_free(&c.expected);
    }
    fclose(f);
    printf("ref corpus: %zu agree, %zu disagree, %zu not covered\n", n_ok, n_bad, n_unsup);
    ck_assert_uint_eq(n_bad, 0);
    ck_assert_uint_ge(n_ok, 50);
}
END_TEST

/* FlinkCEP docs, "Contiguity within looping patterns": c followedBy a+
 * followedBy b over C D A1 A2 A3 D A4 B. */
START_TEST(test_docs_loop_contiguity)
{
    static const uint32_t sym[] = {2, 3, 0, 0, 0, 3, 0, 1}; /* a=0 b=1 c=2 d=3 */
    static const int64_t ts[] = {1, 2, 3, 4, 5, 6, 7, 8};
    static const size_t want[] = {3, 4, 8}; /* strict, relaxed, any */
    for (int loop = REF_STRICT; loop < REF_CONTIG_COUNT; loop++) {
        struct ref_pattern p = {.n_steps = 3, .skip = REF_NO_SKIP, .skip_step = -1};
        p.steps[0] = (struct ref_step){.mask = 4, .min = 1, .max = 1};
        p.steps[1] = (struct ref_step){.mask = 1, .min = 1, .max = REF_UNBOUNDED,
                                       .after = REF_RELAXED, .loop = (enum ref_contig)loop};
        p.steps[2] = (struct ref_step){.mask = 2, .min = 1, .max = 1, .after = REF_RELAXED};
        struct ref_result r;
        ref_run(&p, sym, ts, 8, &r);
        ck_assert_uint_eq(r.n_outcomes, 1);
        ck_assert_uint_eq(r.outcomes[0].n, want[loop]);
        ref_result_free(&r);
    }
}
END_TEST

/* Docs skip example b+ c over b1 b2 b3 c: SKIP_TO_LAST(b) gives b1b2b3c and
 * b3c; SKIP_PAST_LAST_EVENT only b1b2b3c.  The docs use a greedy loop; `c`
 * strictly after a consecutive loop gives the same matches without it. */
START_TEST(test_docs_skip)
{
    static const uint32_t sym[] = {1, 1, 1, 2};
    static const int64_t ts[] = {1, 2, 3, 4};
    static const struct {
        enum ref_skip skip;
        size_t n;
    } want[] = {{REF_NO_SKIP, 3}, {REF_TO_NEXT, 3}, {REF_PAST_LAST, 1},
                {REF_TO_FIRST, 3}, {REF_TO_LAST, 2}};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        struct ref_pattern p = {.n_steps = 2, .skip = want[i].skip, .skip_step = 0};
        p.steps[0] = (struct ref_step){.mask = 2, .min = 1, .max = REF_UNBOUNDED,
                                       .loop = REF_STRICT};
        p.steps[1] = (struct ref_step){.mask = 4, .min = 1, .max = 1, .after = REF_STRICT};
        struct ref_result r;
        ref_run(&p, sym, ts, 4, &r);
        ck_assert_uint_eq(r.n_outcomes, 1);
        ck_assert_msg(r.outcomes[0].n == want[i].n, "skip %d: %zu matches", (int)want[i].skip,
                      r.outcomes[0].n);
        ref_result_free(&r);
    }
}
END_TEST

static Suite *ref_suite(void)
{
    Suite *s = suite_create("ref");
    TCase *tc = tcase_create("corpus");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_corpus);
    suite_add_tcase(s, tc);
    tc = tcase_create("docs");
    tcase_add_test(tc, test_docs_loop_contiguity);
    tcase_add_test(tc, test_docs_skip);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ref_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
