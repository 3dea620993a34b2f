/* SPDX-License-Identifier: Apache-2.0
 * A brute-force reference matcher with FlinkCEP's semantics, for tests only
 * (independent of src/nfa).  It enumerates every assignment of events to
 * steps that FlinkCEP allows, stated declaratively per step, then applies
 * the after-match skip strategy as a post-filter that replays FlinkCEP's
 * emission order (hold-back behind earlier-started live runs, pruning by
 * start event).  Conditions are sets of event symbols (bit masks).
 *
 * Supported (and only this): singleton, times N, N..M, N+ steps; optional;
 * contiguity strict / relaxed / any between steps and inside loops; a
 * negated step (notNext / notFollowedBy) in the middle of the pattern,
 * right after a non-optional single-event step and right before a
 * non-optional step; `within` first-and-last; every skip strategy; event
 * timestamps non-decreasing in arrival order.  Not covered: greedy, until,
 * groups, iterative conditions, a negation first or last, negation next to
 * an optional or looping step, within previous-and-current, timeouts.
 * ref_pattern_supported() says whether a pattern stays inside that set.
 * Tested by: tests/ref/check_ref.c (against the FlinkCEP corpus),
 * tests/ref/check_diff.c */
#ifndef CEPD_TESTS_REF_MATCH_H
#define CEPD_TESTS_REF_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REF_MAX_STEPS 8
#define REF_MAX_EVENTS 64
#define REF_MAX_OUTCOMES 32
#define REF_UNBOUNDED UINT32_MAX

enum ref_contig {
    REF_STRICT = 0,
    REF_RELAXED,
    REF_ANY,
    REF_CONTIG_COUNT
};

enum ref_skip {
    REF_NO_SKIP = 0,
    REF_TO_NEXT,
    REF_PAST_LAST,
    REF_TO_FIRST,
    REF_TO_LAST,
    REF_SKIP_COUNT
};

struct ref_step {
    uint32_t mask;          /* symbols (0..31) the condition accepts */
    uint32_t min;           /* 1,1 for a single event */
    uint32_t max;           /* REF_UNBOUNDED for N+ */
    bool optional;
    bool negated;           /* after strict: notNext; after relaxed: notFollowedBy */
    enum ref_contig after;  /* to the previous step (ignored on the first) */
    enum ref_contig loop;   /* between iterations */
};

struct ref_pattern {
    struct ref_step steps[REF_MAX_STEPS];
    size_t n_steps;
    int64_t within;         /* first-and-last window, same unit as ts; 0 = none */
    enum ref_skip skip;
    int skip_step;          /* step index for TO_FIRST / TO_LAST */
};

/* One match: its events in processing order and the step of each. */
struct ref_match {
    uint32_t n;
    uint8_t ev[REF_MAX_EVENTS];
    uint8_t step[REF_MAX_EVENTS];
};

struct ref_matches {
    size_t n;
    size_t cap;
    struct ref_match *v;
};

/* Every output FlinkCEP may give.  Several outcomes exist only when matches
 * that share their first event are released together under a skip
 * strategy: FlinkCEP's priority queue does not order them, and the first one
 * released prunes the others. */
struct ref_result {
    size_t n_outcomes;
    struct ref_matches outcomes[REF_MAX_OUTCOMES]; /* each sorted by ref_match_cmp */
    bool inconclusive;  /* a search limit was hit: the result is incomplete */
};

bool ref_pattern_supported(const struct ref_pattern *p, const char **why);

/* Run p over n events (sym[i] < 32, ts non-decreasing).  The result must be
 * released with ref_result_free. */
void ref_run(const struct ref_pattern *p, const uint32_t *sym, const int64_t *ts, size_t n,
             struct ref_result *out);
void ref_result_free(struct ref_result *r);

/* Order on matches (events, then steps); ref_matches_sort uses it. */
int ref_match_cmp(const struct ref_match *a, const struct ref_match *b);
void ref_matches_sort(struct ref_matches *m);
void ref_matches_push(struct ref_matches *m, const struct ref_match *x);
void ref_matches_free(struct ref_matches *m);
/* Equal as multisets; with_steps false compares only the event lists. */
bool ref_matches_equal(const struct ref_matches *a, const struct ref_matches *b, bool with_steps);

#endif
