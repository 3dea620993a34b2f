/* SPDX-License-Identifier: Apache-2.0
 * The part of the pattern-matcher test harness shared by check_nfa.c and
 * check_nfa_snap.c: the shapes of the FlinkCEP corpus tables
 * (tests/golden/nfa/flink_cases.inc), the compilation of a case's steps
 * into a program, and the ordering of events buffered by timestamp.
 * Tested by: check_nfa, check_nfa_snap (make check). */
#ifndef CEPD_TESTS_NFA_HARNESS_H
#define CEPD_TESTS_NFA_HARNESS_H

#include "cepd/cep_common.h"

#include "cepd/evt.h"
#include "cepd/expr.h"
#include "cepd/nfa.h"

/* ---- corpus tables ------------------------------------------------- */

struct tc_step {
    const char *name;
    const char *when;
    const char *until;
    uint32_t min, max;
    int optional, greedy;
    enum nfa_contig after, loop;
    int negated;
    int64_t within;
    int gfirst, gn;
};

struct tc_field {
    const char *k;
    char t;
    const char *s;
    double d;
};

struct tc_event {
    const char *id;
    int64_t ts;
    int n;
    struct tc_field f[10];
};

struct tc_item {
    const char *id;
    int64_t wm;
};

struct tc_case {
    const char *id;
    const char *mode;
    int n_top;
    const struct tc_step *steps;
    int n_flat;
    int64_t within;
    int n_stream;
    enum nfa_skip skip;
    int skip_step;
    const struct tc_event *events;
    int n_events;
    const char *const *expected;
    int has_expected;
    const char *const *timeouts;
    int has_timeouts; /* 2: with timestamps */
    const int64_t *timeout_ts;
    const struct tc_item *stream;
    int final_inf;
    const char *partition_by;
    const char *same_ts_order;
    int n_late;
};

/* ---- a compiled pattern -------------------------------------------- */

/* The schema (the corpus's fields), the expression runtime and the
 * compiled conditions and program of one case. */
struct nfa_pat {
    struct evt_schema *schema;
    struct expr_rt *rt;
    struct nfa_work *work;
    struct expr_counters cnt;
    struct expr *exprs[128];
    size_t n_exprs;
    size_t n_steps;
    struct nfa_step_spec specs[64];
    struct nfa_prog *prog;
};

void nfa_pat_init(struct nfa_pat *p);
void nfa_pat_fini(struct nfa_pat *p);
/* Compile condition text for step (NULL for NULL); steps are named s0, s1,
 * ... (below p->n_steps).  Fails the test if it does not compile. */
struct expr *nfa_pat_cond(struct nfa_pat *p, const char *text, int step);
/* Compile case c's steps into p->specs and p->prog. */
void nfa_pat_build(struct nfa_pat *p, const struct tc_case *c);

/* Event te's partition value under case c: the string ("" if not one) and
 * in *d the number (0 without partition_by or the field). */
const char *tc_partition(const struct tc_case *c, const struct tc_event *te, double *d);

/* ---- events buffered by timestamp ---------------------------------- */

struct buffered {
    int idx;
    int64_t ts;
    double price;
};

/* qsort order: timestamp, then price, then arrival. */
int cmp_buffered(const void *a, const void *b);
/* Field k of te as a number (0 when te has none). */
double num_field(const struct tc_event *te, const char *k);

#endif
