/* SPDX-License-Identifier: Apache-2.0
 * The part of the window test fixture shared by check_win.c and
 * check_win_snap.c: the schema (fields x and s), the compiled aggregate
 * arguments and the results fired, copied.
 * Tested by: check_win, check_win_snap (make check). */
#ifndef CEPD_TESTS_WIN_FX_H
#define CEPD_TESTS_WIN_FX_H

#include "cepd/cep_common.h"

#include "cepd/diag.h"
#include "cepd/evt.h"
#include "cepd/expr.h"
#include "cepd/win.h"

#define MAX_AGGS 16

/* One fired result, with its strings copied. */
struct rec {
    int64_t start, end, time;
    int64_t id_start, id_end;
    uint32_t rev;
    bool retracted, by_count, has_last;
    int64_t fired_at; /* the time reached when it fired (set by check_win) */
    uint64_t n;
    struct val v[MAX_AGGS];
    char *str[MAX_AGGS];
};

struct win_fx {
    struct evt_schema *schema;
    int sx, ss;
    struct expr_env env; /* finds the aggregates' results by name */
    struct diag_list dl;
    struct expr_rt *rt;
    struct expr_counters ctr;
    struct expr *exprs[MAX_AGGS + 1];
    size_t n_exprs;
    struct agg_spec aggs[MAX_AGGS];
    size_t n_aggs;
    struct rec *recs;
    size_t n_recs, recs_cap;
};

void win_fx_init(struct win_fx *w);
void win_fx_fini(struct win_fx *w);
/* Compile text (fails the test if it does not compile). */
struct expr *win_fx_compile(struct win_fx *w, const char *text);
/* Add aggregate name = fn(arg) (arg NULL: none), with parameter p. */
void win_fx_agg(struct win_fx *w, const char *name, enum agg_fn fn, const char *arg, double p);
/* Copy result r into a new record. */
struct rec *win_fx_push(struct win_fx *w, const struct win_result *r);
void win_fx_clear_recs(struct win_fx *w);

#endif
