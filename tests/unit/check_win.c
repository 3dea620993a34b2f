/* SPDX-License-Identifier: Apache-2.0
 * Unit tests of windows and aggregates (src/window/): boundaries, every
 * aggregate function, sliding windows against a naive recomputation over
 * random input, the percentile error bound, session merging with
 * out-of-order events, count windows, on_update, having, late events, and
 * idle/bytes accounting (run under ASan to check that closed windows free).
 * Tested by: itself (make check). */
#include "cepd/cep_common.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cepd/diag.h"
#include "cepd/evt.h"
#include "cepd/expr.h"
#include "cepd/win.h"

#define MAX_AGGS 16

struct rec {
    int64_t start, end, time;
    uint64_t n;
    struct val v[MAX_AGGS];
    char *str[MAX_AGGS];
    bool has_last;
};

struct fx {
    struct evt_schema *schema;
    int sx, ss;
    struct expr_env env;
    struct diag_list dl;
    struct expr_rt *rt;
    struct expr_counters ctr;
    struct expr *exprs[MAX_AGGS + 1];
    size_t n_exprs;
    struct agg_spec aggs[MAX_AGGS];
    size_t n_aggs;
    struct expr *having;
    struct win_prog *prog;
    struct win_key *key;
    struct win_env wenv;
    struct rec *recs;
    size_t n_recs, recs_cap;
    uint64_t seq;
};

static int fx_find_result(void *ud, const char *name, size_t len)
{
    struct fx *f = ud;
    for (size_t i = 0; i < f->n_aggs; i++)
        if (strlen(f->aggs[i].name) == len && memcmp(f->aggs[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

static void fx_on_fire(void *ud, const struct win_result *r)
{
    struct fx *f = ud;
    CEP_GROW(f->recs, f->recs_cap, f->n_recs + 1);
    struct rec *c = &f->recs[f->n_recs++];
    memset(c, 0, sizeof(*c));
    c->start = r->start;
    c->end = r->end;
    c->time = r->time;
    c->n = r->n_events;
    c->has_last = r->last != NULL;
    for (size_t i = 0; i < f->n_aggs; i++) {
        c->v[i] = r->values[i];
        if (c->v[i].type == VAL_STR) {
            c->str[i] = cep_strndup(c->v[i].u.s, c->v[i].len);
            c->v[i].u.s = c->str[i];
        }
    }
}

static void fx_init(struct fx *f)
{
    memset(f, 0, sizeof(*f));
    f->schema = evt_schema_new();
    f->sx = evt_schema_slot_dotted(f->schema, "x");
    f->ss = evt_schema_slot_dotted(f->schema, "s");
    f->env.schema = f->schema;
    f->env.ud = f;
    f->env.find_result = fx_find_result;
    f->env.current_step = -1;
    diag_list_init(&f->dl);
    f->rt = expr_rt_new();
    f->wenv.rt = f->rt;
    f->wenv.counters = &f->ctr;
    f->wenv.ud = f;
    f->wenv.on_fire = fx_on_fire;
}

static void fx_clear_recs(struct fx *f)
{
    for (size_t i = 0; i < f->n_recs; i++)
        for (size_t j = 0; j < MAX_AGGS; j++)
            cep_free(f->recs[i].str[j]);
    f->n_recs = 0;
}

static void fx_fini(struct fx *f)
{
    win_key_free(f->key);
    win_prog_free(f->prog);
    for (size_t i = 0; i < f->n_exprs; i++)
        expr_free(f->exprs[i]);
    fx_clear_recs(f);
    cep_free(f->recs);
    expr_rt_free(f->rt);
    diag_list_free(&f->dl);
    evt_schema_free(f->schema);
}

static struct expr *fx_compile(struct fx *f, const char *text)
{
    struct expr_src src = {.text = text, .len = strlen(text), .file = "t", .base_line = 1,
                           .base_col = 1};
    struct expr *e = expr_compile(&src, &f->env, &f->dl);
    ck_assert_msg(e != NULL, "compile %s", text);
    f->exprs[f->n_exprs++] = e;
    return e;
}

static void fx_agg(struct fx *f, const char *name, enum agg_fn fn, const char *arg, double p)
{
    struct agg_spec *a = &f->aggs[f->n_aggs++];
    a->name = name;
    a->fn = fn;
    a->arg = arg ? fx_compile(f, arg) : NULL;
    a->param = p;
}

static void fx_start(struct fx *f, enum win_type type, int64_t size, int64_t slide, int64_t gap,
                     const char *having, bool on_update)
{
    if (having)
        f->having = fx_compile(f, having);
    struct win_spec s = {.type = type,
                         .size = size,
                         .slide = slide,
                         .gap = gap,
                         .aggs = f->aggs,
                         .n_aggs = f->n_aggs,
                         .having = f->having,
                         .on_update = on_update};
    f->prog = win_compile(&s);
    f->key = win_key_new(f->prog);
}

/* Add an event at t with x (x_null: missing) and s (NULL: missing), the
 * way the engine does: close due windows first. */
static void fx_add_v(struct fx *f, int64_t t, struct val x, const char *s)
{
    struct evt *e = evt_new();
    evt_reset(e, "{}", 2, f->schema->n_slots);
    e->time = t;
    e->seq = ++f->seq;
    e->slots[f->sx] = x;
    if (s)
        e->slots[f->ss] = val_str(s, strlen(s));
    if (win_key_deadline(f->key) <= t)
        win_key_advance(f->key, t, &f->wenv);
    win_key_add(f->key, e, &f->wenv);
    evt_unref(e);
}

static void fx_add(struct fx *f, int64_t t, int64_t x)
{
    fx_add_v(f, t, val_int(x), NULL);
}

static void fx_adv(struct fx *f, int64_t now)
{
    win_key_advance(f->key, now, &f->wenv);
}

/* ---- boundaries ----------------------------------------------------- */

START_TEST(test_tumbling_boundaries)
{
    struct fx f;
    fx_init(&f);
    fx_agg(&f, "c", AGG_COUNT, NULL, 0);
    fx_start(&f, WIN_TUMBLING, 10, 0, 0, NULL, false);
    ck_assert(win_key_idle(f.key));
    ck_assert_int_eq(win_key_deadline(f.key), CEP_TIME_MAX);
    fx_add(&f, 0, 1);
    fx_add(&f, 9, 1);
    ck_assert_int_eq(win_key_deadline(f.key), 10);
    fx_add(&f, 10, 1); /* on the boundary: belongs to [10, 20) */
    ck_assert_uint_eq(f.n_recs, 1);
    ck_assert_int_eq(f.recs[0].start, 0);
    ck_assert_int_eq(f.recs[0].end, 10);
    ck_assert_int_eq(f.recs[0].time, 9);
    ck_assert_int_eq(f.recs[0].v[0].u.i, 2);
    ck_assert(f.recs[0].has_last);
    fx_add(&f, 35, 1); /* [20, 30) is empty and never fires */
    fx_adv(&f, 39);
    ck_assert_uint_eq(f.n_recs, 2);
    ck_assert_int_eq(f.recs[1].start, 10);
    ck_assert_int_eq(f.recs[1].v[0].u.i, 1);
    fx_adv(&f, 40);
    ck_assert_uint_eq(f.n_recs, 3);
    ck_assert_int_eq(f.recs[2].start, 30);
    ck_assert_int_eq(f.recs[2].n, 1);
    ck_assert(win_key_idle(f.key));
    fx_adv(&f, 1000);
    ck_assert_uint_eq(f.n_recs, 3);
    /* Negative times floor correctly. */
    fx_add(&f, -1, 1);
    ck_assert(!win_key_idle(f.key));
    fx_fini(&f);
}
END_TEST

/* ---- every aggregate ------------------------------------------------ */

START_TEST(test_aggregates)
{
    struct fx f;
    fx_init(&f);
    fx_agg(&f, "c", AGG_COUNT, NULL, 0);
    fx_agg(&f, "sum", AGG_SUM, "x", 0);
    fx_agg(&f, "avg", AGG_AVG, "x", 0);
    fx_agg(&f, "mn", AGG_MIN, "x", 0);
    fx_agg(&f, "mx", AGG_MAX, "x", 0);
    fx_agg(&f, "fs", AGG_FIRST, "s", 0);
    fx_agg(&f, "ls", AGG_LAST, "s", 0);
    fx_agg(&f, "dc", AGG_DISTINCT_COUNT, "x", 0);
    fx_agg(&f, "sd", AGG_STDDEV, "x", 0);
    fx_agg(&f, "p50", AGG_PERCENTILE, "x", 50);
    fx_agg(&f, "smin", AGG_MIN, "s", 0);
    fx_agg(&f, "smax", AGG_MAX, "s", 0);
    fx_start(&f, WIN_TUMBLING, 100, 0, 0, NULL, false);
    char b1[] = "bbb", b2[] = "a", b3[] = "zz";
    fx_add_v(&f, 10, val_int(2), b1);
    fx_add_v(&f, 5, val_float(4.0), b2); /* earlier time, later arrival: first */
    fx_add_v(&f, 20, val_null(), NULL);   /* null: only count() */
    fx_add_v(&f, 30, val_int(4), b3);
    memset(b1, 'X', 3); /* the states own copies */
    memset(b3, 'X', 2);
    fx_add_v(&f, 40, val_str("str", 3), NULL); /* mismatch for numeric aggs */
    uint64_t mism = f.ctr.type_mismatch;
    ck_assert_uint_ge(mism, 3);
    fx_adv(&f, 100);
    ck_assert_uint_eq(f.n_recs, 1);
    struct rec *r = &f.recs[0];
    ck_assert_int_eq(r->v[0].u.i, 5);
    ck_assert_int_eq(r->v[1].type, VAL_FLOAT);
    ck_assert(r->v[1].u.f == 10.0);
    ck_assert(r->v[2].u.f == 10.0 / 3);
    ck_assert(val_num(&r->v[3]) == 2);
    ck_assert(val_num(&r->v[4]) == 4);
    ck_assert_int_eq(r->v[5].type, VAL_STR);
    ck_assert_str_eq(r->str[5], "a");
    ck_assert_str_eq(r->str[6], "zz");
    ck_assert_int_eq(r->v[7].u.i, 3); /* 2, 4.0 == 4, "str" */
    double mean = 10.0 / 3;
    double sd = sqrt(((2 - mean) * (2 - mean) + 2 * (4 - mean) * (4 - mean)) / 3);
    ck_assert(fabs(r->v[8].u.f - sd) < 1e-12);
    ck_assert(fabs(r->v[9].u.f - 4) <= 0.04);
    ck_assert_str_eq(r->str[10], "a");
    ck_assert_str_eq(r->str[11], "zz");
    fx_clear_recs(&f);
    /* Int sum stays int; overflow goes to float. */
    fx_add(&f, 110, 3);
    fx_add(&f, 111, 4);
    fx_add(&f, 210, INT64_MAX);
    fx_add(&f, 211, 1);
    fx_adv(&f, 300);
    ck_assert_uint_eq(f.n_recs, 2);
    ck_assert_int_eq(f.recs[0].v[1].type, VAL_INT);
    ck_assert_int_eq(f.recs[0].v[1].u.i, 7);
    ck_assert_int_eq(f.recs[1].v[1].type, VAL_FLOAT);
    ck_assert(f.recs[1].v[1].u.f == (double)INT64_MAX + 1.0);
    ck_assert_int_eq(f.recs[0].v[5].type, VAL_NULL); /* no s at all */
    fx_fini(&f);
}
END_TEST

START_TEST(test_lookup)
{
    int n = -1;
    ck_assert_int_eq(agg_fn_lookup("percentile", 10, &n), AGG_PERCENTILE);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(agg_fn_lookup("count", 5, &n), AGG_COUNT);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(agg_fn_lookup("cnt", 3, &n), -1);
    ck_assert_int_eq(agg_fn_lookup("sum(", 3, NULL), AGG_SUM);
    for (int i = 0; i < AGG_FN_COUNT; i++)
        ck_assert_int_eq(agg_fn_lookup(agg_fn_name(i), strlen(agg_fn_name(i)), NULL), i);
}
END_TEST

/* ---- sliding windows vs a naive recomputation ------------------------ */

static uint64_t xs(uint64_t *st)
{
    *st ^= *st << 13;
    *st ^= *st >> 7;
    *st ^= *st << 17;
    return *st;
}

struct nev {
    int64_t t;
    bool null;
    int64_t x;
    const char *s;
};

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static const int64_t slide_cases[][2] = {{10, 10}, {10, 5}, {10, 3}, {12, 8}, {60, 1}, {7, 2}};

START_TEST(test_sliding_naive)
{
    static const char *const strs[] = {"a", "b", "cc", "ab", "zeta", "m"};
    int64_t size = slide_cases[_i][0], slide = slide_cases[_i][1];
    struct fx f;
    fx_init(&f);
    uint64_t rs = 0x9e3779b97f4a7c15ULL + (uint64_t)_i;
    fx_agg(&f, "c", AGG_COUNT, NULL, 0);
    fx_agg(&f, "sum", AGG_SUM, "x", 0);
    fx_agg(&f, "avg", AGG_AVG, "x", 0);
    fx_agg(&f, "mn", AGG_MIN, "x", 0);
    fx_agg(&f, "mx", AGG_MAX, "x", 0);
    fx_agg(&f, "fx", AGG_FIRST, "x", 0);
    fx_agg(&f, "lx", AGG_LAST, "x", 0);
    fx_agg(&f, "dc", AGG_DISTINCT_COUNT, "x", 0);
    fx_agg(&f, "sd", AGG_STDDEV, "x", 0);
    fx_agg(&f, "p90", AGG_PERCENTILE, "x", 90);
    fx_agg(&f, "smin", AGG_MIN, "s", 0);
    fx_agg(&f, "smax", AGG_MAX, "s", 0);
    fx_agg(&f, "fs", AGG_FIRST, "s", 0);
    fx_agg(&f, "ls", AGG_LAST, "s", 0);
    fx_start(&f, WIN_SLIDING, size, slide, 0, NULL, false);
    enum { N = 400 };
    struct nev ev[N];
    int64_t t = (int64_t)(xs(&rs) % 20) - 10;
    for (int i = 0; i < N; i++) {
        uint64_t r = xs(&rs);
        t += (r % 7 == 0) ? (int64_t)(r % 40) : (int64_t)(r % 3);
        ev[i].t = t;
        ev[i].null = r % 11 == 0;
        ev[i].x = (int64_t)((r >> 8) % 61) - 20;
        ev[i].s = (r >> 20) % 5 == 0 ? NULL : strs[(r >> 24) % 6];
        fx_add_v(&f, t, ev[i].null ? val_null() : val_int(ev[i].x), ev[i].s);
    }
    fx_adv(&f, t + size + 1);
    ck_assert(win_key_idle(f.key));
    /* Naive: every window start, every event in it. */
    size_t ri = 0;
    int64_t st0 = ev[0].t - size;
    st0 = st0 >= 0 ? st0 / slide * slide : -((-st0 + slide - 1) / slide) * slide;
    double xsv[N];
    for (int64_t st = st0; st <= t; st += slide) {
        int64_t n = 0, sum = 0, nx = 0, mn = 0, mx = 0, fxv = 0, lxv = 0, dc = 0;
        const char *smn = NULL, *smx = NULL, *fs = NULL, *ls = NULL;
        for (int i = 0; i < N; i++) {
            if (ev[i].t < st || ev[i].t >= st + size)
                continue;
            n++;
            if (ev[i].s) {
                if (!smn || strcmp(ev[i].s, smn) < 0)
                    smn = ev[i].s;
                if (!smx || strcmp(ev[i].s, smx) > 0)
                    smx = ev[i].s;
                if (!fs)
                    fs = ev[i].s;
                ls = ev[i].s;
            }
            if (ev[i].null)
                continue;
            bool seen = false;
            for (int64_t j = 0; j < nx; j++)
                seen = seen || xsv[j] == (double)ev[i].x;
            dc += !seen;
            if (!nx || ev[i].x < mn)
                mn = ev[i].x;
            if (!nx || ev[i].x > mx)
                mx = ev[i].x;
            if (!nx)
                fxv = ev[i].x;
            lxv = ev[i].x;
            sum += ev[i].x;
            xsv[nx++] = (double)ev[i].x;
        }
        if (!n)
            continue;
        ck_assert_msg(ri < f.n_recs, "missing window %lld", (long long)st);
        struct rec *r = &f.recs[ri++];
        ck_assert_int_eq(r->start, st);
        ck_assert_int_eq(r->end, st + size);
        ck_assert_int_eq(r->v[0].u.i, n);
        if (!nx) {
            for (int a = 1; a <= 9; a++)
                ck_assert_int_eq(r->v[a].type, a == 7 ? VAL_INT : VAL_NULL);
        } else {
            ck_assert_int_eq(r->v[1].type, VAL_INT);
            ck_assert_int_eq(r->v[1].u.i, sum);
            ck_assert(r->v[2].u.f == (double)sum / (double)nx);
            ck_assert_int_eq(r->v[3].u.i, mn);
            ck_assert_int_eq(r->v[4].u.i, mx);
            ck_assert_int_eq(r->v[5].u.i, fxv);
            ck_assert_int_eq(r->v[6].u.i, lxv);
            ck_assert_int_eq(r->v[7].u.i, dc);
            double mean = (double)sum / (double)nx, m2 = 0;
            for (int64_t j = 0; j < nx; j++)
                m2 += (xsv[j] - mean) * (xsv[j] - mean);
            ck_assert_msg(fabs(r->v[8].u.f - sqrt(m2 / (double)nx)) <= 1e-9,
                          "stddev %g vs %g", r->v[8].u.f, sqrt(m2 / (double)nx));
            qsort(xsv, (size_t)nx, sizeof(double), cmp_d);
            int64_t rank = (int64_t)ceil(0.9 * (double)nx);
            double exact = xsv[(rank < 1 ? 1 : rank) - 1];
            ck_assert_msg(fabs(r->v[9].u.f - exact) <= 0.01 * fabs(exact) + 1e-12,
                          "p90 %g vs %g", r->v[9].u.f, exact);
        }
        if (smn) {
            ck_assert_str_eq(r->str[10], smn);
            ck_assert_str_eq(r->str[11], smx);
            ck_assert_str_eq(r->str[12], fs);
            ck_assert_str_eq(r->str[13], ls);
        } else {
            ck_assert_int_eq(r->v[10].type, VAL_NULL);
        }
    }
    ck_assert_uint_eq(ri, f.n_recs);
    fx_fini(&f);
}
END_TEST

/* ---- percentile accuracy ---------------------------------------------- */

START_TEST(test_percentile_bound)
{
    static const double ps[] = {0, 1, 10, 25, 50, 75, 90, 99, 99.9, 100};
    struct fx f;
    fx_init(&f);
    for (size_t i = 0; i < CEP_ARRAY_LEN(ps); i++)
        fx_agg(&f, "p", AGG_PERCENTILE, "x", ps[i]);
    fx_start(&f, WIN_TUMBLING, 1000000, 0, 0, NULL, false);
    uint64_t rs = 12345;
    enum { N = 5000 };
    double *v = cep_malloc(N * sizeof(double));
    for (int i = 0; i < N; i++) {
        uint64_t r = xs(&rs);
        double mag = exp((double)(r % 100000) / 100000.0 * 30.0 - 10.0); /* 4.5e-5 .. 5e8 */
        v[i] = r % 13 == 0 ? 0.0 : (r >> 32) % 4 == 0 ? -mag : mag;
        fx_add_v(&f, i, val_float(v[i]), NULL);
    }
    fx_adv(&f, 1000000);
    ck_assert_uint_eq(f.n_recs, 1);
    qsort(v, N, sizeof(double), cmp_d);
    for (size_t i = 0; i < CEP_ARRAY_LEN(ps); i++) {
        int64_t rank = (int64_t)ceil(ps[i] / 100.0 * N);
        double exact = v[(rank < 1 ? 1 : rank) - 1];
        double got = f.recs[0].v[i].u.f;
        ck_assert_msg(fabs(got - exact) <= 0.01 * fabs(exact) * (1 + 1e-9), "p%g: %g vs %g",
                      ps[i], got, exact);
    }
    cep_free(v);
    fx_fini(&f);
}
END_TEST

/* ---- sessions ------------------------------------------------------- */

START_TEST(test_session_merge)
{
    struct fx f;
    fx_init(&f);
    fx_agg(&f, "c", AGG_COUNT, NULL, 0);
    fx_agg(&f, "f", AGG_FIRST, "x", 0);
    fx_agg(&f, "l", AGG_LAST, "x", 0);
    fx_start(&f, WIN_SESSION, 0, 0, 10, NULL, false);
    /* Added without the engine's advance, as events within lateness are. */
    struct evt *e = evt_new();
    static const int64_t ts[] = {0, 5, 22, 25, 14};
    for (size_t i = 0; i < CEP_ARRAY_LEN(ts); i++) {
        evt_reset(e, "{}", 2, f.schema->n_slots);
        e->time = ts[i];
        e->seq = i + 1;
        e->slots[f.sx] = val_int((int64_t)ts[i]);
        win_key_add(f.key, e, &f.wenv);
        if (i == 3)
            ck_assert_int_eq(win_key_deadline(f.key), 15);
    }
    evt_unref(e);
    ck_assert_int_eq(win_key_deadline(f.key), 35); /* 14 bridged [0,15) and [22,35) */
    fx_adv(&f, 34);
    ck_assert_uint_eq(f.n_recs, 0);
    fx_adv(&f, 35);
    ck_assert_uint_eq(f.n_recs, 1);
    ck_assert_int_eq(f.recs[0].start, 0);
    ck_assert_int_eq(f.recs[0].end, 35);
    ck_assert_int_eq(f.recs[0].time, 34);
    ck_assert_int_eq(f.recs[0].v[0].u.i, 5);
    ck_assert_int_eq(f.recs[0].v[1].u.i, 0);
    ck_assert_int_eq(f.recs[0].v[2].u.i, 25);
    ck_assert(win_key_idle(f.key));
    /* Two separate sessions; an event exactly gap after the last starts a new one. */
    fx_add(&f, 100, 1);
    fx_add(&f, 110, 1);
    ck_assert_uint_eq(f.n_recs, 2);
    ck_assert_int_eq(f.recs[1].end, 110);
    fx_adv(&f, 120);
    ck_assert_uint_eq(f.n_recs, 3);
    ck_assert_int_eq(f.recs[2].start, 110);
    fx_fini(&f);
}
END_TEST

/* ---- count windows ---------------------------------------------------- */

START_TEST(test_count_windows)
{
    struct fx f;
    fx_init(&f);
    fx_agg(&f, "c", AGG_COUNT, NULL, 0);
    fx_agg(&f, "s", AGG_SUM, "x", 0);
    fx_start(&f, WIN_COUNT, 3, 0, 0, NULL, false);
    for (int i = 0; i < 7; i++)
        fx_add(&f, 100 + i, i);
    ck_assert_int_eq(win_key_deadline(f.key), CEP_TIME_MAX);
    fx_adv(&f, 100000); /* time does not close count windows */
    ck_assert_uint_eq(f.n_recs, 2);
    ck_assert_int_eq(f.recs[0].start, 0);
    ck_assert_int_eq(f.recs[0].end, 3);
    ck_assert_int_eq(f.recs[0].time, 102);
    ck_assert_int_eq(f.recs[0].v[1].u.i, 0 + 1 + 2);
    ck_assert_int_eq(f.recs[1].v[1].u.i, 3 + 4 + 5);
    ck_assert(!win_key_idle(f.key));
    fx_fini(&f);

    fx_init(&f);
    fx_agg(&f, "c", AGG_COUNT, NULL, 0);
    fx_agg(&f, "s", AGG_SUM, "x", 0);
    fx_start(&f, WIN_COUNT, 4, 2, 0, NULL, false);
    for (int i = 0; i < 8; i++)
        fx_add(&f, 100 + i, i);
    ck_assert_uint_eq(f.n_recs, 3);
    for (int w = 0; w < 3; w++) {
        ck_assert_int_eq(f.recs[w].start, 2 * w);
        ck_assert_int_eq(f.recs[w].end, 2 * w + 4);
        ck_assert_int_eq(f.recs[w].v[0].u.i, 4);
        ck_assert_int_eq(f.recs[w].v[1].u.i, 4 * (2 * w) + 6);
    }
    fx_fini(&f);
}
END_TEST

/* ---- on_update, having ------------------------------------------------ */

START_TEST(test_on_update)
{
    struct fx f;
    fx_init(&f);
    fx_agg(&f, "c", AGG_COUNT, NULL, 0);
    fx_start(&f, WIN_TUMBLING, 10, 0, 0, "c >= 2", true);
    fx_add(&f, 1, 0);
    ck_assert_uint_eq(f.n_recs, 0);
    fx_add(&f, 2, 0);
    ck_assert_uint_eq(f.n_recs, 1);
    ck_assert_int_eq(f.recs[0].v[0].u.i, 2);
    fx_add(&f, 3, 0);
    fx_add(&f, 11, 0);
    fx_add(&f, 12, 0);
    fx_add(&f, 13, 0);
    fx_adv(&f, 100);
    ck_assert_uint_eq(f.n_recs, 2);
    ck_assert_int_eq(f.recs[1].start, 10);
    ck_assert_int_eq(f.recs[1].v[0].u.i, 2);
    fx_fini(&f);

    /* Sliding: each window fires at most once. */
    fx_init(&f);
    fx_agg(&f, "c", AGG_COUNT, NULL, 0);
    fx_start(&f, WIN_SLIDING, 10, 5, 0, "c >= 2", true);
    fx_add(&f, 6, 0);
    fx_add(&f, 7, 0);
    ck_assert_uint_eq(f.n_recs, 2); /* [0,10) and [5,15) */
    fx_add(&f, 12, 0);
    ck_assert_uint_eq(f.n_recs, 2);
    fx_add(&f, 13, 0);
    ck_assert_uint_eq(f.n_recs, 3);
    ck_assert_int_eq(f.recs[2].start, 10);
    fx_add(&f, 14, 0);
    fx_adv(&f, 100);
    ck_assert_uint_eq(f.n_recs, 3);
    fx_fini(&f);

    /* Sessions and count windows with on_update. */
    fx_init(&f);
    fx_agg(&f, "c", AGG_COUNT, NULL, 0);
    fx_start(&f, WIN_SESSION, 0, 0, 10, "c >= 2", true);
    fx_add(&f, 0, 0);
    fx_add(&f, 5, 0);
    fx_add(&f, 6, 0);
    ck_assert_uint_eq(f.n_recs, 1);
    fx_adv(&f, 100);
    ck_assert_uint_eq(f.n_recs, 1);
    fx_fini(&f);

    fx_init(&f);
    fx_agg(&f, "c", AGG_COUNT, NULL, 0);
    fx_start(&f, WIN_COUNT, 5, 0, 0, "c >= 2", true);
    for (int i = 0; i < 10; i++)
        fx_add(&f, i, 0);
    ck_assert_uint_eq(f.n_recs, 2);
    ck_assert_int_eq(f.recs[0].v[0].u.i, 2);
    fx_fini(&f);
}
END_TEST

START_TEST(test_having)
{
    struct fx f;
    fx_init(&f);
    fx_agg(&f, "c", AGG_COUNT, NULL, 0);
    fx_agg(&f, "total", AGG_SUM, "x", 0);
    fx_start(&f, WIN_TUMBLING, 10, 0, 0, "total > 10 and c < 3", false);
    fx_add(&f, 1, 5);
    fx_add(&f, 2, 6);  /* [0,10): 11, 2 events: fires */
    fx_add(&f, 11, 5); /* [10,20): 5: no */
    fx_add(&f, 21, 5);
    fx_add(&f, 22, 5);
    fx_add(&f, 23, 5); /* [20,30): 15 but 3 events: no */
    fx_adv(&f, 100);
    ck_assert_uint_eq(f.n_recs, 1);
    ck_assert_int_eq(f.recs[0].v[1].u.i, 11);
    ck_assert(win_key_idle(f.key));
    fx_fini(&f);
}
END_TEST

/* ---- late events, memory ------------------------------------------------ */

START_TEST(test_late_event)
{
    struct fx f;
    fx_init(&f);
    fx_agg(&f, "c", AGG_COUNT, NULL, 0);
    fx_start(&f, WIN_TUMBLING, 10, 0, 0, NULL, false);
    fx_add(&f, 15, 0);
    fx_adv(&f, 20);
    ck_assert_uint_eq(f.n_recs, 1);
    struct evt *e = evt_new();
    evt_reset(e, "{}", 2, f.schema->n_slots);
    e->time = 12;
    win_key_add(f.key, e, &f.wenv); /* its window has closed */
    evt_unref(e);
    ck_assert(!win_key_idle(f.key));
    ck_assert_int_le(win_key_deadline(f.key), 20);
    fx_adv(&f, 20);
    ck_assert_uint_eq(f.n_recs, 2);
    ck_assert_int_eq(f.recs[1].start, 12);
    ck_assert_int_eq(f.recs[1].end, 13);
    ck_assert(win_key_idle(f.key));
    fx_fini(&f);
}
END_TEST

START_TEST(test_memory)
{
    struct fx f;
    fx_init(&f);
    fx_agg(&f, "dc", AGG_DISTINCT_COUNT, "x", 0);
    fx_agg(&f, "p", AGG_PERCENTILE, "x", 50);
    fx_agg(&f, "l", AGG_LAST, "s", 0);
    fx_start(&f, WIN_SLIDING, 3600, 1, 0, NULL, false);
    size_t empty = win_key_bytes(f.key);
    for (int i = 0; i < 3600; i++)
        fx_add_v(&f, i, val_int(i), "some string value");
    size_t full = win_key_bytes(f.key);
    ck_assert_uint_gt(full, empty + 3600 * 3 * sizeof(int64_t));
    /* Windows [s, s + 3600) for s in [-3599, 0) closed along the way. */
    ck_assert_uint_eq(f.n_recs, 3599);
    fx_adv(&f, 3600);
    ck_assert_uint_eq(f.n_recs, 3600);
    ck_assert_int_eq(f.recs[3599].v[0].u.i, 3600);
    ck_assert_uint_lt(win_key_bytes(f.key), full);
    fx_adv(&f, 7200);
    ck_assert_uint_eq(f.n_recs, 7199);
    ck_assert(win_key_idle(f.key));
    ck_assert_uint_lt(win_key_bytes(f.key), full / 10);
    fx_fini(&f);
}
END_TEST

static Suite *win_suite(void)
{
    Suite *s = suite_create("win");
    TCase *tc = tcase_create("boundaries");
    tcase_add_test(tc, test_tumbling_boundaries);
    suite_add_tcase(s, tc);
    tc = tcase_create("aggregates");
    tcase_add_test(tc, test_aggregates);
    tcase_add_test(tc, test_lookup);
    suite_add_tcase(s, tc);
    tc = tcase_create("sliding");
    tcase_add_loop_test(tc, test_sliding_naive, 0, (int)CEP_ARRAY_LEN(slide_cases));
    suite_add_tcase(s, tc);
    tc = tcase_create("percentile");
    tcase_add_test(tc, test_percentile_bound);
    suite_add_tcase(s, tc);
    tc = tcase_create("session");
    tcase_add_test(tc, test_session_merge);
    suite_add_tcase(s, tc);
    tc = tcase_create("count");
    tcase_add_test(tc, test_count_windows);
    suite_add_tcase(s, tc);
    tc = tcase_create("emit");
    tcase_add_test(tc, test_on_update);
    tcase_add_test(tc, test_having);
    suite_add_tcase(s, tc);
    tc = tcase_create("memory");
    tcase_add_test(tc, test_late_event);
    tcase_add_test(tc, test_memory);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(win_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
