/* SPDX-License-Identifier: Apache-2.0
 * Unit tests of windows and aggregates (src/window/): boundaries, every
 * aggregate function, sliding windows (the incremental queue) against a
 * naive recomputation over random input, the percentile error bound,
 * session merging with out-of-order events, count windows, on_update,
 * having, late events within the allowed lateness (corrections, retractions,
 * session merges, random input against a recomputation) and beyond it, and
 * idle/bytes accounting (run under ASan to check that closed windows free).
 * Tested by: itself (make check). */
#include "cepd/cep_common.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "cepd/diag.h"
#include "cepd/evt.h"
#include "cepd/expr.h"
#include "cepd/win.h"

#include "win_fx.h"

struct fx {
    struct win_fx w;
    struct expr *having;
    struct win_prog *prog;
    struct win_key *key;
    struct win_env wenv;
    uint64_t seq;
    int64_t lateness;
    int64_t now;       /* the stream's time: the largest time pushed */
    bool check_bytes;  /* compare win_key_bytes with a walk after each step */
};

static void fx_on_fire(void *ud, const struct win_result *r)
{
    struct fx *f = ud;
    win_fx_push(&f->w, r)->fired_at = f->now;
}

static void fx_init(struct fx *f)
{
    memset(f, 0, sizeof(*f));
    win_fx_init(&f->w);
    f->wenv.rt = f->w.rt;
    f->wenv.counters = &f->w.ctr;
    f->now = CEP_TIME_MIN;
    f->wenv.now = CEP_TIME_MIN;
    f->wenv.ud = f;
    f->wenv.on_fire = fx_on_fire;
}

static void fx_fini(struct fx *f)
{
    win_key_free(f->key);
    win_prog_free(f->prog);
    win_fx_fini(&f->w);
}

static void fx_start(struct fx *f, enum win_type type, int64_t size, int64_t slide, int64_t gap,
                     const char *having, bool on_update)
{
    if (having)
        f->having = win_fx_compile(&f->w, having);
    struct win_spec s = {.type = type,
                         .size = size,
                         .slide = slide,
                         .gap = gap,
                         .aggs = f->w.aggs,
                         .n_aggs = f->w.n_aggs,
                         .having = f->having,
                         .on_update = on_update};
    f->prog = win_compile(&s);
    f->key = win_key_new(f->prog, f->lateness);
}

static void fx_check_bytes(struct fx *f)
{
    if (f->check_bytes)
        ck_assert_uint_eq(win_key_bytes(f->key), win_key_bytes_walk(f->key));
}

/* Time reaches now (never backwards), the way the engine moves a stream:
 * keys whose deadline is due advance. */
static void fx_time(struct fx *f, int64_t now)
{
    if (now > f->now)
        f->now = now;
    f->wenv.now = f->now;
    if (win_key_deadline(f->key) <= f->now)
        win_key_advance(f->key, f->now, &f->wenv);
    ck_assert_int_gt(win_key_deadline(f->key), f->now); /* the engine would loop */
}

/* Add an event at t with x (x_null: missing) and s (NULL: missing), the
 * way the engine does: time moves to t first (an event behind the time
 * reached is late).  Returns what win_key_add returned. */
static bool fx_add_v(struct fx *f, int64_t t, struct val x, const char *s)
{
    struct evt *e = evt_new();
    evt_reset(e, "{}", 2, f->w.schema->n_slots);
    e->time = t;
    e->seq = ++f->seq;
    e->slots[f->w.sx] = x;
    if (s)
        e->slots[f->w.ss] = val_str(s, strlen(s));
    fx_time(f, t);
    bool added = win_key_add(f->key, e, &f->wenv);
    evt_unref(e);
    fx_check_bytes(f);
    return added;
}

static bool fx_add(struct fx *f, int64_t t, int64_t x)
{
    return fx_add_v(f, t, val_int(x), NULL);
}

static void fx_adv(struct fx *f, int64_t now)
{
    if (now > f->now)
        f->now = now;
    f->wenv.now = f->now;
    win_key_advance(f->key, now, &f->wenv);
    fx_check_bytes(f);
}

/* ---- boundaries ----------------------------------------------------- */

START_TEST(test_tumbling_boundaries)
{
    struct fx f;
    fx_init(&f);
    win_fx_agg(&f.w, "c", AGG_COUNT, NULL, 0);
    fx_start(&f, WIN_TUMBLING, 10, 0, 0, NULL, false);
    ck_assert(win_key_idle(f.key));
    ck_assert_int_eq(win_key_deadline(f.key), CEP_TIME_MAX);
    fx_add(&f, 0, 1);
    fx_add(&f, 9, 1);
    ck_assert_int_eq(win_key_deadline(f.key), 10);
    fx_add(&f, 10, 1); /* on the boundary: belongs to [10, 20) */
    ck_assert_uint_eq(f.w.n_recs, 1);
    ck_assert_int_eq(f.w.recs[0].start, 0);
    ck_assert_int_eq(f.w.recs[0].end, 10);
    ck_assert_int_eq(f.w.recs[0].time, 9);
    ck_assert_int_eq(f.w.recs[0].v[0].u.i, 2);
    ck_assert(f.w.recs[0].has_last);
    fx_add(&f, 35, 1); /* [20, 30) is empty and never fires */
    fx_adv(&f, 39);
    ck_assert_uint_eq(f.w.n_recs, 2);
    ck_assert_int_eq(f.w.recs[1].start, 10);
    ck_assert_int_eq(f.w.recs[1].v[0].u.i, 1);
    fx_adv(&f, 40);
    ck_assert_uint_eq(f.w.n_recs, 3);
    ck_assert_int_eq(f.w.recs[2].start, 30);
    ck_assert_int_eq(f.w.recs[2].n, 1);
    ck_assert(win_key_idle(f.key));
    fx_adv(&f, 1000);
    ck_assert_uint_eq(f.w.n_recs, 3);
    fx_fini(&f);
    /* Negative times floor correctly. */
    fx_init(&f);
    win_fx_agg(&f.w, "c", AGG_COUNT, NULL, 0);
    fx_start(&f, WIN_TUMBLING, 10, 0, 0, NULL, false);
    fx_add(&f, -11, 1);
    fx_add(&f, -10, 1);
    fx_add(&f, -1, 1);
    ck_assert_int_eq(win_key_deadline(f.key), 0);
    fx_adv(&f, 0);
    ck_assert_uint_eq(f.w.n_recs, 2);
    ck_assert_int_eq(f.w.recs[0].start, -20);
    ck_assert_int_eq(f.w.recs[1].start, -10);
    ck_assert_int_eq(f.w.recs[1].v[0].u.i, 2);
    fx_fini(&f);
}
END_TEST

/* ---- every aggregate ------------------------------------------------ */

START_TEST(test_aggregates)
{
    struct fx f;
    fx_init(&f);
    win_fx_agg(&f.w, "c", AGG_COUNT, NULL, 0);
    win_fx_agg(&f.w, "sum", AGG_SUM, "x", 0);
    win_fx_agg(&f.w, "avg", AGG_AVG, "x", 0);
    win_fx_agg(&f.w, "mn", AGG_MIN, "x", 0);
    win_fx_agg(&f.w, "mx", AGG_MAX, "x", 0);
    win_fx_agg(&f.w, "fs", AGG_FIRST, "s", 0);
    win_fx_agg(&f.w, "ls", AGG_LAST, "s", 0);
    win_fx_agg(&f.w, "dc", AGG_DISTINCT_COUNT, "x", 0);
    win_fx_agg(&f.w, "sd", AGG_STDDEV, "x", 0);
    win_fx_agg(&f.w, "p50", AGG_PERCENTILE, "x", 50);
    win_fx_agg(&f.w, "smin", AGG_MIN, "s", 0);
    win_fx_agg(&f.w, "smax", AGG_MAX, "s", 0);
    f.lateness = 1000; /* events out of order */
    fx_start(&f, WIN_TUMBLING, 100, 0, 0, NULL, false);
    char b1[] = "bbb", b2[] = "a", b3[] = "zz";
    fx_add_v(&f, 10, val_int(2), b1);
    fx_add_v(&f, 5, val_float(4.0), b2); /* earlier time, later arrival: first */
    fx_add_v(&f, 20, val_null(), NULL);   /* null: only count() */
    fx_add_v(&f, 30, val_int(4), b3);
    memset(b1, 'X', 3); /* the states own copies */
    memset(b3, 'X', 2);
    fx_add_v(&f, 40, val_str("str", 3), NULL); /* mismatch for numeric aggs */
    uint64_t mism = f.w.ctr.type_mismatch;
    ck_assert_uint_ge(mism, 3);
    fx_adv(&f, 100);
    ck_assert_uint_eq(f.w.n_recs, 1);
    struct rec *r = &f.w.recs[0];
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
    win_fx_clear_recs(&f.w);
    /* Int sum stays int; overflow goes to float. */
    fx_add(&f, 110, 3);
    fx_add(&f, 111, 4);
    fx_add(&f, 210, INT64_MAX);
    fx_add(&f, 211, 1);
    fx_adv(&f, 300);
    ck_assert_uint_eq(f.w.n_recs, 2);
    ck_assert_int_eq(f.w.recs[0].v[1].type, VAL_INT);
    ck_assert_int_eq(f.w.recs[0].v[1].u.i, 7);
    ck_assert_int_eq(f.w.recs[1].v[1].type, VAL_FLOAT);
    ck_assert(f.w.recs[1].v[1].u.f == (double)INT64_MAX + 1.0);
    ck_assert_int_eq(f.w.recs[0].v[5].type, VAL_NULL); /* no s at all */
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

/* The recomputation of one window over the accepted events, and the
 * assertion that a fired result matches it. */
static void naive_check(const struct rec *r, const struct nev *ev, const bool *in, int n_ev,
                        int64_t st, int64_t size)
{
    int64_t n = 0, sum = 0, nx = 0, mn = 0, mx = 0, dc = 0;
    const char *smn = NULL, *smx = NULL;
    const struct nev *fx = NULL, *lx = NULL, *fs = NULL, *ls = NULL;
    double xsv[1000];
    for (int i = 0; i < n_ev; i++) {
        const struct nev *e = &ev[i];
        if (!in[i] || e->t < st || e->t >= st + size)
            continue;
        n++;
        /* first/last by (time, arrival): i is the arrival order */
        if (e->s) {
            if (!smn || strcmp(e->s, smn) < 0)
                smn = e->s;
            if (!smx || strcmp(e->s, smx) > 0)
                smx = e->s;
            if (!fs || e->t < fs->t)
                fs = e;
            if (!ls || e->t >= ls->t)
                ls = e;
        }
        if (e->null)
            continue;
        bool seen = false;
        for (int64_t j = 0; j < nx; j++)
            seen = seen || xsv[j] == (double)e->x;
        dc += !seen;
        if (!nx || e->x < mn)
            mn = e->x;
        if (!nx || e->x > mx)
            mx = e->x;
        if (!fx || e->t < fx->t)
            fx = e;
        if (!lx || e->t >= lx->t)
            lx = e;
        sum += e->x;
        xsv[nx++] = (double)e->x;
    }
    ck_assert_int_eq(r->start, st);
    ck_assert_int_eq(r->end, st + size);
    ck_assert_int_eq(r->v[0].u.i, n);
    ck_assert_uint_eq(r->n, (uint64_t)n);
    if (!nx) {
        for (int a = 1; a <= 9; a++)
            ck_assert_int_eq(r->v[a].type, a == 7 ? VAL_INT : VAL_NULL);
    } else {
        ck_assert_int_eq(r->v[1].type, VAL_INT);
        ck_assert_int_eq(r->v[1].u.i, sum);
        ck_assert(r->v[2].u.f == (double)sum / (double)nx);
        ck_assert_int_eq(r->v[3].u.i, mn);
        ck_assert_int_eq(r->v[4].u.i, mx);
        ck_assert_int_eq(r->v[5].u.i, fx->x);
        ck_assert_int_eq(r->v[6].u.i, lx->x);
        ck_assert_int_eq(r->v[7].u.i, dc);
        double mean = (double)sum / (double)nx, m2 = 0;
        for (int64_t j = 0; j < nx; j++)
            m2 += (xsv[j] - mean) * (xsv[j] - mean);
        ck_assert_msg(fabs(r->v[8].u.f - sqrt(m2 / (double)nx)) <= 1e-9, "stddev %g vs %g",
                      r->v[8].u.f, sqrt(m2 / (double)nx));
        qsort(xsv, (size_t)nx, sizeof(double), cmp_d);
        int64_t rank = (int64_t)ceil(0.9 * (double)nx);
        double exact = xsv[(rank < 1 ? 1 : rank) - 1];
        ck_assert_msg(fabs(r->v[9].u.f - exact) <= 0.01 * fabs(exact) + 1e-12, "p90 %g vs %g",
                      r->v[9].u.f, exact);
    }
    if (smn) {
        ck_assert_str_eq(r->str[10], smn);
        ck_assert_str_eq(r->str[11], smx);
        ck_assert_str_eq(r->str[12], fs->s);
        ck_assert_str_eq(r->str[13], ls->s);
    } else {
        ck_assert_int_eq(r->v[10].type, VAL_NULL);
    }
}

/* Loop index: slide case _i / 2; odd: late events within a lateness of
 * size + slide and a `having` that late events make and unmake. */
START_TEST(test_sliding_naive)
{
    static const char *const strs[] = {"a", "b", "cc", "ab", "zeta", "m"};
    int64_t size = slide_cases[_i / 2][0], slide = slide_cases[_i / 2][1];
    bool late = _i % 2;
    struct fx f;
    fx_init(&f);
    f.check_bytes = true;
    f.lateness = late ? size + slide : 0;
    uint64_t rs = 0x9e3779b97f4a7c15ULL + (uint64_t)_i;
    win_fx_agg(&f.w, "c", AGG_COUNT, NULL, 0);
    win_fx_agg(&f.w, "sum", AGG_SUM, "x", 0);
    win_fx_agg(&f.w, "avg", AGG_AVG, "x", 0);
    win_fx_agg(&f.w, "mn", AGG_MIN, "x", 0);
    win_fx_agg(&f.w, "mx", AGG_MAX, "x", 0);
    win_fx_agg(&f.w, "fx", AGG_FIRST, "x", 0);
    win_fx_agg(&f.w, "lx", AGG_LAST, "x", 0);
    win_fx_agg(&f.w, "dc", AGG_DISTINCT_COUNT, "x", 0);
    win_fx_agg(&f.w, "sd", AGG_STDDEV, "x", 0);
    win_fx_agg(&f.w, "p90", AGG_PERCENTILE, "x", 90);
    win_fx_agg(&f.w, "smin", AGG_MIN, "s", 0);
    win_fx_agg(&f.w, "smax", AGG_MAX, "s", 0);
    win_fx_agg(&f.w, "fs", AGG_FIRST, "s", 0);
    win_fx_agg(&f.w, "ls", AGG_LAST, "s", 0);
    fx_start(&f, WIN_SLIDING, size, slide, 0, late ? "sum > 10" : NULL, false);
    enum { N = 400 };
    struct nev ev[N];
    bool in[N];
    int64_t t = (int64_t)(xs(&rs) % 20) - 10, t0 = t;
    for (int i = 0; i < N; i++) {
        uint64_t r = xs(&rs);
        ev[i].x = (int64_t)((r >> 8) % 61) - 20;
        if (late && r % 5 == 0 && i > 0) {
            ev[i].t = f.now - (int64_t)((r >> 40) % (uint64_t)(f.lateness + 4));
            ev[i].x -= 25; /* mostly negative: late events also unmake `having` */
        } else {
            t += (r % 7 == 0) ? (int64_t)(r % 40) : (int64_t)(r % 3);
            ev[i].t = t;
        }
        ev[i].null = r % 11 == 0;
        ev[i].s = (r >> 20) % 5 == 0 ? NULL : strs[(r >> 24) % 6];
        /* Taken iff its earliest window is not final (which holds for every
         * event the stream layer lets through: not older than now - lateness). */
        int64_t first_end = ev[i].t - (ev[i].t % slide + slide) % slide;
        while (first_end - slide + size > ev[i].t)
            first_end -= slide;
        first_end += size; /* end of the earliest window holding t */
        bool stream_ok = f.now == CEP_TIME_MIN || ev[i].t >= f.now - f.lateness;
        bool must = f.now == CEP_TIME_MIN || first_end + f.lateness > f.now;
        in[i] = fx_add_v(&f, ev[i].t, ev[i].null ? val_null() : val_int(ev[i].x), ev[i].s);
        ck_assert_msg(in[i] == must, "event %d at %lld (now %lld): %d", i, (long long)ev[i].t,
                      (long long)f.now, in[i]);
        ck_assert(!stream_ok || in[i]);
    }
    fx_adv(&f, t + size + f.lateness + 1);
    ck_assert(win_key_idle(f.key));
    /* Every window: its alerts are revisions 0, 1, ... of it; the last one
     * stands iff `having` holds on the recomputation, and then matches it. */
    int64_t st0 = t0 - size - f.lateness - 10;
    st0 = st0 >= 0 ? st0 / slide * slide : -((-st0 + slide - 1) / slide) * slide;
    size_t n_seen = 0;
    for (int64_t st = st0; st <= t; st += slide) {
        const struct rec *last = NULL;
        uint32_t rev = 0;
        for (size_t i = 0; i < f.w.n_recs; i++) {
            if (f.w.recs[i].start != st)
                continue;
            ck_assert_int_le(f.w.recs[i].end, f.w.recs[i].fired_at); /* never before its end */
            ck_assert_uint_eq(f.w.recs[i].rev, rev++);
            ck_assert_int_eq(f.w.recs[i].id_start, st);
            last = &f.w.recs[i];
            n_seen++;
        }
        int64_t n = 0, sum = 0;
        for (int i = 0; i < N; i++)
            if (in[i] && ev[i].t >= st && ev[i].t < st + size) {
                n++;
                sum += ev[i].null ? 0 : ev[i].x;
            }
        bool holds = n && (!late || sum > 10);
        if (holds) {
            ck_assert_msg(last && !last->retracted, "window %lld", (long long)st);
            naive_check(last, ev, in, N, st, size);
        } else {
            ck_assert_msg(!last || last->retracted, "window %lld stands", (long long)st);
        }
        if (!late)
            ck_assert_uint_eq(rev, holds ? 1 : 0);
    }
    ck_assert_uint_eq(n_seen, f.w.n_recs);
    size_t n_rev = 0, n_retracted = 0;
    for (size_t i = 0; i < f.w.n_recs; i++) {
        n_rev += f.w.recs[i].rev > 0;
        n_retracted += f.w.recs[i].retracted;
    }
    if (getenv("WIN_DEBUG"))
        fprintf(stderr, "case %d: %zu alerts, %zu corrections, %zu retracted\n", _i, f.w.n_recs,
                n_rev, n_retracted);
    if (late) /* the input does exercise corrections and retractions */
        ck_assert(n_rev > 10 && n_retracted > 0);
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
        win_fx_agg(&f.w, "p", AGG_PERCENTILE, "x", ps[i]);
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
    ck_assert_uint_eq(f.w.n_recs, 1);
    qsort(v, N, sizeof(double), cmp_d);
    for (size_t i = 0; i < CEP_ARRAY_LEN(ps); i++) {
        int64_t rank = (int64_t)ceil(ps[i] / 100.0 * N);
        double exact = v[(rank < 1 ? 1 : rank) - 1];
        double got = f.w.recs[0].v[i].u.f;
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
    win_fx_agg(&f.w, "c", AGG_COUNT, NULL, 0);
    win_fx_agg(&f.w, "f", AGG_FIRST, "x", 0);
    win_fx_agg(&f.w, "l", AGG_LAST, "x", 0);
    fx_start(&f, WIN_SESSION, 0, 0, 10, NULL, false);
    /* Added without the engine's advance, as events within lateness are. */
    struct evt *e = evt_new();
    static const int64_t ts[] = {0, 5, 22, 25, 14};
    for (size_t i = 0; i < CEP_ARRAY_LEN(ts); i++) {
        evt_reset(e, "{}", 2, f.w.schema->n_slots);
        e->time = ts[i];
        e->seq = i + 1;
        e->slots[f.w.sx] = val_int((int64_t)ts[i]);
        win_key_add(f.key, e, &f.wenv);
        if (i == 3)
            ck_assert_int_eq(win_key_deadline(f.key), 15);
    }
    evt_unref(e);
    ck_assert_int_eq(win_key_deadline(f.key), 35); /* 14 bridged [0,15) and [22,35) */
    fx_adv(&f, 34);
    ck_assert_uint_eq(f.w.n_recs, 0);
    fx_adv(&f, 35);
    ck_assert_uint_eq(f.w.n_recs, 1);
    ck_assert_int_eq(f.w.recs[0].start, 0);
    ck_assert_int_eq(f.w.recs[0].end, 35);
    ck_assert_int_eq(f.w.recs[0].time, 34);
    ck_assert_int_eq(f.w.recs[0].v[0].u.i, 5);
    ck_assert_int_eq(f.w.recs[0].v[1].u.i, 0);
    ck_assert_int_eq(f.w.recs[0].v[2].u.i, 25);
    ck_assert(win_key_idle(f.key));
    /* Two separate sessions; an event exactly gap after the last starts a new one. */
    fx_add(&f, 100, 1);
    fx_add(&f, 110, 1);
    ck_assert_uint_eq(f.w.n_recs, 2);
    ck_assert_int_eq(f.w.recs[1].end, 110);
    fx_adv(&f, 120);
    ck_assert_uint_eq(f.w.n_recs, 3);
    ck_assert_int_eq(f.w.recs[2].start, 110);
    fx_fini(&f);
}
END_TEST

/* ---- count windows ---------------------------------------------------- */

START_TEST(test_count_windows)
{
    struct fx f;
    fx_init(&f);
    win_fx_agg(&f.w, "c", AGG_COUNT, NULL, 0);
    win_fx_agg(&f.w, "s", AGG_SUM, "x", 0);
    fx_start(&f, WIN_COUNT, 3, 0, 0, NULL, false);
    for (int i = 0; i < 7; i++)
        fx_add(&f, 100 + i, i);
    ck_assert_int_eq(win_key_deadline(f.key), CEP_TIME_MAX);
    fx_adv(&f, 100000); /* time does not close count windows */
    ck_assert_uint_eq(f.w.n_recs, 2);
    ck_assert_int_eq(f.w.recs[0].start, 0);
    ck_assert_int_eq(f.w.recs[0].end, 3);
    ck_assert_int_eq(f.w.recs[0].time, 102);
    ck_assert_int_eq(f.w.recs[0].v[1].u.i, 0 + 1 + 2);
    ck_assert_int_eq(f.w.recs[1].v[1].u.i, 3 + 4 + 5);
    ck_assert(!win_key_idle(f.key));
    fx_fini(&f);

    fx_init(&f);
    win_fx_agg(&f.w, "c", AGG_COUNT, NULL, 0);
    win_fx_agg(&f.w, "s", AGG_SUM, "x", 0);
    fx_start(&f, WIN_COUNT, 4, 2, 0, NULL, false);
    for (int i = 0; i < 8; i++)
        fx_add(&f, 100 + i, i);
    ck_assert_uint_eq(f.w.n_recs, 3);
    for (int w = 0; w < 3; w++) {
        ck_assert_int_eq(f.w.recs[w].start, 2 * w);
        ck_assert_int_eq(f.w.recs[w].end, 2 * w + 4);
        ck_assert_int_eq(f.w.recs[w].v[0].u.i, 4);
        ck_assert_int_eq(f.w.recs[w].v[1].u.i, 4 * (2 * w) + 6);
    }
    fx_fini(&f);
}
END_TEST

/* ---- on_update, having ------------------------------------------------ */

START_TEST(test_on_update)
{
    struct fx f;
    fx_init(&f);
    win_fx_agg(&f.w, "c", AGG_COUNT, NULL, 0);
    fx_start(&f, WIN_TUMBLING, 10, 0, 0, "c >= 2", true);
    fx_add(&f, 1, 0);
    ck_assert_uint_eq(f.w.n_recs, 0);
    fx_add(&f, 2, 0);
    ck_assert_uint_eq(f.w.n_recs, 1);
    ck_assert_int_eq(f.w.recs[0].v[0].u.i, 2);
    fx_add(&f, 3, 0);
    fx_add(&f, 11, 0);
    fx_add(&f, 12, 0);
    fx_add(&f, 13, 0);
    fx_adv(&f, 100);
    ck_assert_uint_eq(f.w.n_recs, 2);
    ck_assert_int_eq(f.w.recs[1].start, 10);
    ck_assert_int_eq(f.w.recs[1].v[0].u.i, 2);
    fx_fini(&f);

    /* Sliding: each window fires at most once. */
    fx_init(&f);
    win_fx_agg(&f.w, "c", AGG_COUNT, NULL, 0);
    fx_start(&f, WIN_SLIDING, 10, 5, 0, "c >= 2", true);
    fx_add(&f, 6, 0);
    fx_add(&f, 7, 0);
    ck_assert_uint_eq(f.w.n_recs, 2); /* [0,10) and [5,15) */
    fx_add(&f, 12, 0);
    ck_assert_uint_eq(f.w.n_recs, 2);
    fx_add(&f, 13, 0);
    ck_assert_uint_eq(f.w.n_recs, 3);
    ck_assert_int_eq(f.w.recs[2].start, 10);
    fx_add(&f, 14, 0);
    fx_adv(&f, 100);
    ck_assert_uint_eq(f.w.n_recs, 3);
    fx_fini(&f);

    /* Sessions and count windows with on_update. */
    fx_init(&f);
    win_fx_agg(&f.w, "c", AGG_COUNT, NULL, 0);
    fx_start(&f, WIN_SESSION, 0, 0, 10, "c >= 2", true);
    fx_add(&f, 0, 0);
    fx_add(&f, 5, 0);
    fx_add(&f, 6, 0);
    ck_assert_uint_eq(f.w.n_recs, 1);
    fx_adv(&f, 100);
    ck_assert_uint_eq(f.w.n_recs, 1);
    fx_fini(&f);

    fx_init(&f);
    win_fx_agg(&f.w, "c", AGG_COUNT, NULL, 0);
    fx_start(&f, WIN_COUNT, 5, 0, 0, "c >= 2", true);
    for (int i = 0; i < 10; i++)
        fx_add(&f, i, 0);
    ck_assert_uint_eq(f.w.n_recs, 2);
    ck_assert_int_eq(f.w.recs[0].v[0].u.i, 2);
    fx_fini(&f);
}
END_TEST

START_TEST(test_having)
{
    struct fx f;
    fx_init(&f);
    win_fx_agg(&f.w, "c", AGG_COUNT, NULL, 0);
    win_fx_agg(&f.w, "total", AGG_SUM, "x", 0);
    fx_start(&f, WIN_TUMBLING, 10, 0, 0, "total > 10 and c < 3", false);
    fx_add(&f, 1, 5);
    fx_add(&f, 2, 6);  /* [0,10): 11, 2 events: fires */
    fx_add(&f, 11, 5); /* [10,20): 5: no */
    fx_add(&f, 21, 5);
    fx_add(&f, 22, 5);
    fx_add(&f, 23, 5); /* [20,30): 15 but 3 events: no */
    fx_adv(&f, 100);
    ck_assert_uint_eq(f.w.n_recs, 1);
    ck_assert_int_eq(f.w.recs[0].v[1].u.i, 11);
    ck_assert(win_key_idle(f.key));
    fx_fini(&f);
}
END_TEST

/* ---- late events, memory ------------------------------------------------ */

START_TEST(test_late_event)
{
    struct fx f;
    fx_init(&f);
    f.check_bytes = true;
    win_fx_agg(&f.w, "c", AGG_COUNT, NULL, 0);
    fx_start(&f, WIN_TUMBLING, 10, 0, 0, NULL, false);
    fx_add(&f, 15, 0);
    fx_adv(&f, 20);
    ck_assert_uint_eq(f.w.n_recs, 1);
    /* Without lateness, an event of a window that closed is refused and
     * changes nothing. */
    ck_assert(!fx_add(&f, 12, 0));
    ck_assert(win_key_idle(f.key));
    ck_assert_uint_eq(f.w.n_recs, 1);
    /* Behind the time reached, but its window is open: taken (derived
     * streams see events in their producer's order). */
    ck_assert(fx_add(&f, 25, 0));
    ck_assert(fx_add(&f, 21, 0));
    fx_adv(&f, 30);
    ck_assert_uint_eq(f.w.n_recs, 2);
    ck_assert_int_eq(f.w.recs[1].v[0].u.i, 2);
    ck_assert_uint_eq(f.w.recs[1].rev, 0);
    fx_fini(&f);
}
END_TEST

/* Within the allowed lateness, a closed window is corrected, retracted when
 * `having` stops holding, corrected again when it holds again; a window that
 * never fired fires late; past end + lateness the event is refused. */
START_TEST(test_corrections)
{
    struct fx f;
    fx_init(&f);
    f.check_bytes = true;
    f.lateness = 10;
    win_fx_agg(&f.w, "c", AGG_COUNT, NULL, 0);
    win_fx_agg(&f.w, "total", AGG_SUM, "x", 0);
    fx_start(&f, WIN_TUMBLING, 10, 0, 0, "total > 10", false);
    fx_add(&f, 1, 5);
    fx_add(&f, 2, 7);
    fx_add(&f, 12, 1); /* [0, 10) closes: 12 */
    ck_assert_uint_eq(f.w.n_recs, 1);
    ck_assert_uint_eq(f.w.recs[0].rev, 0);
    ck_assert_int_eq(f.w.recs[0].v[1].u.i, 12);
    ck_assert_int_eq(win_key_deadline(f.key), 20);
    ck_assert(fx_add(&f, 3, 4));
    ck_assert_uint_eq(f.w.n_recs, 2);
    struct rec *r = &f.w.recs[1];
    ck_assert_uint_eq(r->rev, 1);
    ck_assert(!r->retracted);
    ck_assert_int_eq(r->start, 0);
    ck_assert_int_eq(r->end, 10);
    ck_assert_int_eq(r->id_start, 0);
    ck_assert_int_eq(r->id_end, 10);
    ck_assert_int_eq(r->time, 9);
    ck_assert_uint_eq(r->n, 3);
    ck_assert_int_eq(r->v[0].u.i, 3);
    ck_assert_int_eq(r->v[1].u.i, 16);
    ck_assert(fx_add(&f, 4, -10)); /* 6: having fails */
    ck_assert_uint_eq(f.w.n_recs, 3);
    ck_assert_uint_eq(f.w.recs[2].rev, 2);
    ck_assert(f.w.recs[2].retracted);
    ck_assert_int_eq(f.w.recs[2].v[1].u.i, 6);
    ck_assert(fx_add(&f, 5, -1)); /* still failing: nothing */
    ck_assert_uint_eq(f.w.n_recs, 3);
    ck_assert(fx_add(&f, 6, 20)); /* 25: holds again */
    ck_assert_uint_eq(f.w.n_recs, 4);
    ck_assert_uint_eq(f.w.recs[3].rev, 3);
    ck_assert(!f.w.recs[3].retracted);
    ck_assert_int_eq(f.w.recs[3].v[0].u.i, 6);
    ck_assert_int_eq(f.w.recs[3].v[1].u.i, 25);
    fx_add(&f, 20, 0); /* [10, 20) closes with 1: no; [0, 10) is final */
    ck_assert_uint_eq(f.w.n_recs, 4);
    ck_assert(!fx_add(&f, 7, 1));
    ck_assert_uint_eq(f.w.n_recs, 4);
    ck_assert(fx_add(&f, 15, 100)); /* [10, 20) never fired: fires now */
    ck_assert_uint_eq(f.w.n_recs, 5);
    ck_assert_uint_eq(f.w.recs[4].rev, 0);
    ck_assert_int_eq(f.w.recs[4].start, 10);
    ck_assert_int_eq(f.w.recs[4].v[1].u.i, 101);
    ck_assert(!win_key_idle(f.key));
    fx_adv(&f, 39);
    ck_assert(!win_key_idle(f.key)); /* [20, 30) holds the event at 20 until 40 */
    fx_adv(&f, 40);
    ck_assert(win_key_idle(f.key));
    ck_assert_uint_eq(f.w.n_recs, 5);
    fx_fini(&f);
}
END_TEST

START_TEST(test_late_on_update)
{
    struct fx f;
    fx_init(&f);
    f.check_bytes = true;
    f.lateness = 10;
    win_fx_agg(&f.w, "c", AGG_COUNT, NULL, 0);
    fx_start(&f, WIN_TUMBLING, 10, 0, 0, "c >= 2", true);
    fx_add(&f, 1, 0);
    fx_add(&f, 11, 0); /* [0, 10) closed without firing */
    ck_assert_uint_eq(f.w.n_recs, 0);
    ck_assert(fx_add(&f, 2, 0)); /* now it holds: fires, late */
    ck_assert_uint_eq(f.w.n_recs, 1);
    ck_assert_int_eq(f.w.recs[0].start, 0);
    ck_assert_uint_eq(f.w.recs[0].rev, 0);
    ck_assert(fx_add(&f, 3, 0)); /* on_update alerts are not revised */
    ck_assert_uint_eq(f.w.n_recs, 1);
    fx_add(&f, 12, 0);
    ck_assert_uint_eq(f.w.n_recs, 2);
    ck_assert_int_eq(f.w.recs[1].start, 10);
    fx_adv(&f, 100);
    ck_assert(win_key_idle(f.key));
    fx_fini(&f);
}
END_TEST

/* A late event extends a closed session (corrected at once, or when its
 * new end passes) and merges sessions (the later one's alert is
 * retracted, the earlier one's corrected). */
START_TEST(test_late_sessions)
{
    struct fx f;
    fx_init(&f);
    f.check_bytes = true;
    f.lateness = 100;
    win_fx_agg(&f.w, "c", AGG_COUNT, NULL, 0);
    fx_start(&f, WIN_SESSION, 0, 0, 10, NULL, false);
    fx_add(&f, 0, 0);
    fx_add(&f, 5, 0);
    fx_add(&f, 22, 0); /* [0, 15) closes */
    fx_add(&f, 25, 0);
    fx_add(&f, 50, 0); /* [22, 35) closes */
    ck_assert_uint_eq(f.w.n_recs, 2);
    ck_assert(fx_add(&f, 14, 0)); /* joins [0, 15) and bridges to [22, 35) */
    ck_assert_uint_eq(f.w.n_recs, 4);
    struct rec *r = &f.w.recs[2];
    ck_assert(r->retracted);
    ck_assert_int_eq(r->id_start, 22);
    ck_assert_int_eq(r->id_end, 35);
    ck_assert_uint_eq(r->rev, 1);
    ck_assert_int_eq(r->start, 0);
    ck_assert_int_eq(r->end, 35);
    r = &f.w.recs[3];
    ck_assert(!r->retracted);
    ck_assert_int_eq(r->id_start, 0);
    ck_assert_int_eq(r->id_end, 15);
    ck_assert_uint_eq(r->rev, 1);
    ck_assert_int_eq(r->end, 35);
    ck_assert_int_eq(r->v[0].u.i, 5);
    fx_fini(&f);

    fx_init(&f);
    f.check_bytes = true;
    f.lateness = 100;
    win_fx_agg(&f.w, "c", AGG_COUNT, NULL, 0);
    fx_start(&f, WIN_SESSION, 0, 0, 10, NULL, false);
    fx_add(&f, 0, 0);
    fx_add(&f, 25, 0); /* [0, 10) closes */
    ck_assert_uint_eq(f.w.n_recs, 1);
    ck_assert(fx_add(&f, 9, 0)); /* [0, 19) ended already: corrected now */
    ck_assert_uint_eq(f.w.n_recs, 2);
    ck_assert_int_eq(f.w.recs[1].end, 19);
    ck_assert_uint_eq(f.w.recs[1].rev, 1);
    ck_assert(fx_add(&f, 18, 0)); /* bridges to the open [25, 35): reopened */
    ck_assert_uint_eq(f.w.n_recs, 2);
    ck_assert_int_eq(win_key_deadline(f.key), 35);
    fx_adv(&f, 35);
    ck_assert_uint_eq(f.w.n_recs, 3);
    r = &f.w.recs[2];
    ck_assert_uint_eq(r->rev, 2);
    ck_assert_int_eq(r->id_start, 0);
    ck_assert_int_eq(r->id_end, 10);
    ck_assert_int_eq(r->start, 0);
    ck_assert_int_eq(r->end, 35);
    ck_assert_int_eq(r->v[0].u.i, 4);
    /* A session of its own, ended more than the lateness ago: refused. */
    ck_assert(!fx_add(&f, -80, 0));
    fx_adv(&f, 135);
    ck_assert(win_key_idle(f.key));
    fx_fini(&f);
}
END_TEST

/* Sessions with random late events: the last alert of every window lineage
 * matches a recomputation over every accepted event (sessions split where
 * consecutive events are gap or more apart); lineages that no longer stand
 * for a session end retracted. */
static const int64_t sess_cases[][2] = {{10, 0}, {10, 30}, {5, 100}, {20, 15}};

START_TEST(test_late_sessions_random)
{
    int64_t gap = sess_cases[_i][0], late = sess_cases[_i][1];
    struct fx f;
    fx_init(&f);
    f.check_bytes = true;
    f.lateness = late;
    win_fx_agg(&f.w, "c", AGG_COUNT, NULL, 0);
    win_fx_agg(&f.w, "sum", AGG_SUM, "x", 0);
    win_fx_agg(&f.w, "mn", AGG_MIN, "x", 0);
    fx_start(&f, WIN_SESSION, 0, 0, gap, _i % 2 ? "sum > 30" : NULL, false);
    uint64_t rs = 777 + (uint64_t)_i;
    enum { N = 300 };
    int64_t ts[N], xv[N];
    int n_ok = 0;
    int64_t t = 0;
    for (int i = 0; i < N; i++) {
        uint64_t r = xs(&rs);
        int64_t et;
        if (r % 4 == 0 && f.now != CEP_TIME_MIN) {
            et = f.now - (int64_t)((r >> 8) % (uint64_t)(late + gap + 10));
        } else {
            t += (int64_t)((r >> 16) % (uint64_t)(gap * 2));
            et = t;
        }
        int64_t x = (int64_t)((r >> 24) % 41) - 15;
        bool must = f.now == CEP_TIME_MIN || et >= f.now - late; /* not late */
        bool ok = fx_add(&f, et, x);
        if (must) /* others may be taken too, when their sessions are kept */
            ck_assert_msg(ok, "event at %lld (now %lld) refused", (long long)et,
                          (long long)f.now);
        if (ok) {
            ts[n_ok] = et;
            xv[n_ok++] = x;
        }
    }
    fx_adv(&f, t + gap + late + 1);
    ck_assert(win_key_idle(f.key));
    /* Naive sessions over the accepted events, by time (stable: arrival). */
    int idx[N];
    for (int i = 0; i < n_ok; i++)
        idx[i] = i;
    for (int i = 1; i < n_ok; i++)
        for (int j = i; j > 0 && ts[idx[j - 1]] > ts[idx[j]]; j--) {
            int tmp = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = tmp;
        }
    size_t n_standing = 0;
    for (size_t i = 0; i < f.w.n_recs; i++) {
        /* The last alert of its lineage? */
        bool later = false;
        for (size_t j = i + 1; j < f.w.n_recs; j++)
            later = later || (f.w.recs[j].id_start == f.w.recs[i].id_start &&
                              f.w.recs[j].id_end == f.w.recs[i].id_end);
        if (!later && !f.w.recs[i].retracted)
            n_standing++;
    }
    size_t n_expect = 0;
    for (int a = 0; a < n_ok;) {
        int b = a + 1;
        while (b < n_ok && ts[idx[b]] - ts[idx[b - 1]] < gap)
            b++;
        int64_t sum = 0, mn = 0;
        for (int k = a; k < b; k++) {
            sum += xv[idx[k]];
            mn = k == a || xv[idx[k]] < mn ? xv[idx[k]] : mn;
        }
        int64_t st = ts[idx[a]], end = ts[idx[b - 1]] + gap;
        if (_i % 2 == 0 || sum > 30) {
            n_expect++;
            /* The standing alert of this session: the latest one with its bounds. */
            const struct rec *got = NULL;
            for (size_t i = 0; i < f.w.n_recs; i++)
                if (f.w.recs[i].start == st && f.w.recs[i].end == end)
                    got = &f.w.recs[i];
            ck_assert_msg(got != NULL, "session [%lld, %lld) missing", (long long)st,
                          (long long)end);
            ck_assert(!got->retracted);
            ck_assert_int_eq(got->v[0].u.i, b - a);
            ck_assert_int_eq(got->v[1].u.i, sum);
            ck_assert_int_eq(got->v[2].u.i, mn);
            for (size_t j = 0; j < f.w.n_recs; j++) /* and nothing after it in its lineage */
                if (&f.w.recs[j] > got && f.w.recs[j].id_start == got->id_start &&
                    f.w.recs[j].id_end == got->id_end)
                    ck_abort_msg("lineage of [%lld, %lld) goes on", (long long)st,
                                 (long long)end);
        }
        a = b;
    }
    ck_assert_uint_eq(n_standing, n_expect);
    size_t n_rev = 0, n_retracted = 0;
    for (size_t i = 0; i < f.w.n_recs; i++) {
        n_rev += f.w.recs[i].rev > 0;
        n_retracted += f.w.recs[i].retracted;
    }
    if (getenv("WIN_DEBUG"))
        fprintf(stderr, "sessions %d: %zu alerts, %zu corrections, %zu retracted\n", _i,
                f.w.n_recs, n_rev, n_retracted);
    if (late >= 30) /* the input does exercise corrections and merges */
        ck_assert(n_rev > 2 && n_retracted > 0);
    fx_fini(&f);
}
END_TEST

START_TEST(test_memory)
{
    struct fx f;
    fx_init(&f);
    win_fx_agg(&f.w, "dc", AGG_DISTINCT_COUNT, "x", 0);
    win_fx_agg(&f.w, "p", AGG_PERCENTILE, "x", 50);
    win_fx_agg(&f.w, "l", AGG_LAST, "s", 0);
    fx_start(&f, WIN_SLIDING, 3600, 1, 0, NULL, false);
    size_t empty = win_key_bytes(f.key);
    for (int i = 0; i < 3600; i++)
        fx_add_v(&f, i, val_int(i), "some string value");
    size_t full = win_key_bytes(f.key);
    ck_assert_uint_gt(full, empty + 3600 * 3 * sizeof(int64_t));
    /* Windows [s, s + 3600) for s in [-3599, 0) closed along the way. */
    ck_assert_uint_eq(f.w.n_recs, 3599);
    fx_adv(&f, 3600);
    ck_assert_uint_eq(f.w.n_recs, 3600);
    ck_assert_int_eq(f.w.recs[3599].v[0].u.i, 3600);
    ck_assert_uint_lt(win_key_bytes(f.key), full);
    fx_adv(&f, 7200);
    ck_assert_uint_eq(f.w.n_recs, 7199);
    ck_assert(win_key_idle(f.key));
    ck_assert_uint_lt(win_key_bytes(f.key), full / 10);
    fx_fini(&f);
}
END_TEST

/* The bytes one tumbling slice costs with the aggregates fns[0..n). */
static size_t slice_cost(const enum agg_fn *fns, size_t n)
{
    struct fx f;
    fx_init(&f);
    for (size_t i = 0; i < n; i++)
        win_fx_agg(&f.w, "a", fns[i], fns[i] == AGG_COUNT ? NULL : "x", 0);
    fx_start(&f, WIN_TUMBLING, 60, 0, 0, NULL, false);
    size_t empty = win_key_bytes(f.key);
    fx_add(&f, 1, 7);
    size_t one = win_key_bytes(f.key) - empty;
    fx_fini(&f);
    return one;
}

/* A slice holds each aggregate's state in the bytes its function uses:
 * count() its count alone, max() a value with its buffer, time and
 * sequence. */
START_TEST(test_slice_size)
{
    static const enum agg_fn c[] = {AGG_COUNT}, cc[] = {AGG_COUNT, AGG_COUNT},
                             cm[] = {AGG_COUNT, AGG_MAX}, cs[] = {AGG_COUNT, AGG_SUM};
    size_t base = slice_cost(c, 1);
    ck_assert_uint_eq(slice_cost(cc, 2) - base, sizeof(uint64_t));
    ck_assert_uint_eq(slice_cost(cs, 2) - base, 4 * sizeof(uint64_t));
    ck_assert_uint_ge(slice_cost(cm, 2) - base, sizeof(uint64_t) + sizeof(struct val) + 24);
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
    tcase_add_loop_test(tc, test_sliding_naive, 0, 2 * (int)CEP_ARRAY_LEN(slide_cases));
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
    tc = tcase_create("late");
    tcase_add_test(tc, test_late_event);
    tcase_add_test(tc, test_corrections);
    tcase_add_test(tc, test_late_on_update);
    tcase_add_test(tc, test_late_sessions);
    tcase_add_loop_test(tc, test_late_sessions_random, 0, (int)CEP_ARRAY_LEN(sess_cases));
    suite_add_tcase(s, tc);
    tc = tcase_create("memory");
    tcase_add_test(tc, test_memory);
    tcase_add_test(tc, test_slice_size);
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
