/* SPDX-License-Identifier: Apache-2.0
 * The aggregate functions of window rules (design §2.4), defined once in
 * agg_defs[]: name, arity, doc string and the state operations add, merge,
 * result, fini and bytes.  Every state is mergeable, so a sliding window's
 * result is the merge of its slices' states, and sessions merge when an
 * event bridges them.  Null inputs never reach add (the caller skips them).
 * Tested by: tests/unit/check_win.c */
#include "cepd/cep_common.h"
#include "win_int.h"

#include <math.h>
#include <string.h>

#include "cepd/hash.h"

void agg_state_init(struct agg_state *s)
{
    memset(s, 0, sizeof(*s));
}

static void agg_mismatch(struct expr_counters *c)
{
    if (c)
        c->type_mismatch++;
}

/* ---- count --------------------------------------------------------- */

static void agg_count_add(struct agg_state *s, const struct val *v, const struct evt *ev,
                          struct expr_counters *c)
{
    s->n++;
}

static void agg_count_merge(struct agg_state *dst, const struct agg_state *src)
{
    dst->n += src->n;
}

static void agg_count_result(const struct agg_state *s, const struct agg_spec *spec,
                             struct val *out)
{
    *out = val_int((int64_t)s->n);
}

static void agg_nop_fini(struct agg_state *s)
{
}

static size_t agg_zero_bytes(const struct agg_state *s)
{
    return 0;
}

/* ---- sum, avg: int64 while every input is an int and nothing overflows --- */

static double agg_sum_double(const struct agg_state *s)
{
    return s->u.sum.is_float ? s->u.sum.f : (double)s->u.sum.i;
}

static void agg_sum_add(struct agg_state *s, const struct val *v, const struct evt *ev,
                        struct expr_counters *c)
{
    if (!val_is_num(v)) {
        agg_mismatch(c);
        return;
    }
    s->n++;
    if (!s->u.sum.is_float && v->type == VAL_INT) {
        int64_t r;
        if (!__builtin_add_overflow(s->u.sum.i, v->u.i, &r)) {
            s->u.sum.i = r;
            return;
        }
    }
    if (!s->u.sum.is_float) {
        s->u.sum.f = (double)s->u.sum.i;
        s->u.sum.is_float = true;
    }
    s->u.sum.f += val_num(v);
}

static void agg_sum_merge(struct agg_state *dst, const struct agg_state *src)
{
    if (!src->n)
        return;
    dst->n += src->n;
    if (!dst->u.sum.is_float && !src->u.sum.is_float) {
        int64_t r;
        if (!__builtin_add_overflow(dst->u.sum.i, src->u.sum.i, &r)) {
            dst->u.sum.i = r;
            return;
        }
    }
    dst->u.sum.f = agg_sum_double(dst) + agg_sum_double(src);
    dst->u.sum.is_float = true;
}

static void agg_sum_result(const struct agg_state *s, const struct agg_spec *spec,
                           struct val *out)
{
    if (!s->n)
        *out = val_null();
    else if (s->u.sum.is_float)
        *out = val_float(s->u.sum.f);
    else
        *out = val_int(s->u.sum.i);
}

static void agg_avg_result(const struct agg_state *s, const struct agg_spec *spec,
                           struct val *out)
{
    *out = s->n ? val_float(agg_sum_double(s) / (double)s->n) : val_null();
}

/* ---- min, max, first, last: one kept value ------------------------- */

/* Keep a copy of v in s: strings and raw JSON are copied into state-owned
 * bytes, since the event they point into is not kept. */
static void agg_pick_keep(struct agg_state *s, const struct val *v)
{
    s->u.pick.v = *v;
    if (v->type == VAL_STR || v->type == VAL_ARR || v->type == VAL_OBJ) {
        if (s->u.pick.cap < v->len || !s->u.pick.buf) {
            cep_free(s->u.pick.buf);
            s->u.pick.cap = v->len ? v->len : 1;
            s->u.pick.buf = cep_malloc(s->u.pick.cap);
        }
        if (v->len)
            memcpy(s->u.pick.buf, v->u.s, v->len);
        s->u.pick.v.u.s = s->u.pick.buf;
    }
}

/* The type class min/max order within: 1 numbers, 2 strings, 0 neither. */
static int agg_order_class(const struct val *v)
{
    return val_is_num(v) ? 1 : v->type == VAL_STR ? 2 : 0;
}

/* Fold v into a min (sign -1) or max (sign 1) state.  A value of another
 * class than the state's is a type mismatch when c is given (adds); merges
 * of states of different classes keep dst's, since the mismatch was not
 * visible when the parts were built. */
static void agg_minmax_take(struct agg_state *s, const struct val *v, int sign,
                            struct expr_counters *c)
{
    int cls = agg_order_class(v);
    if (!cls) {
        agg_mismatch(c);
        return;
    }
    if (!s->n) {
        agg_pick_keep(s, v);
        s->n = 1;
        return;
    }
    if (agg_order_class(&s->u.pick.v) != cls) {
        agg_mismatch(c);
        return;
    }
    bool ok;
    int cmp = val_compare(v, &s->u.pick.v, &ok);
    s->n++;
    if (ok && cmp * sign > 0)
        agg_pick_keep(s, v);
}

static void agg_min_add(struct agg_state *s, const struct val *v, const struct evt *ev,
                        struct expr_counters *c)
{
    agg_minmax_take(s, v, -1, c);
}

static void agg_max_add(struct agg_state *s, const struct val *v, const struct evt *ev,
                        struct expr_counters *c)
{
    agg_minmax_take(s, v, 1, c);
}

static void agg_min_merge(struct agg_state *dst, const struct agg_state *src)
{
    uint64_t n = dst->n + src->n;
    if (src->n)
        agg_minmax_take(dst, &src->u.pick.v, -1, NULL);
    dst->n = n;
}

static void agg_max_merge(struct agg_state *dst, const struct agg_state *src)
{
    uint64_t n = dst->n + src->n;
    if (src->n)
        agg_minmax_take(dst, &src->u.pick.v, 1, NULL);
    dst->n = n;
}

/* (t1, q1) before (t2, q2)? */
static bool agg_before(int64_t t1, uint64_t q1, int64_t t2, uint64_t q2)
{
    return t1 < t2 || (t1 == t2 && q1 < q2);
}

static void agg_first_add(struct agg_state *s, const struct val *v, const struct evt *ev,
                          struct expr_counters *c)
{
    if (!s->n || agg_before(ev->time, ev->seq, s->u.pick.t, s->u.pick.seq)) {
        agg_pick_keep(s, v);
        s->u.pick.t = ev->time;
        s->u.pick.seq = ev->seq;
    }
    s->n++;
}

static void agg_last_add(struct agg_state *s, const struct val *v, const struct evt *ev,
                         struct expr_counters *c)
{
    if (!s->n || agg_before(s->u.pick.t, s->u.pick.seq, ev->time, ev->seq)) {
        agg_pick_keep(s, v);
        s->u.pick.t = ev->time;
        s->u.pick.seq = ev->seq;
    }
    s->n++;
}

static void agg_first_merge(struct agg_state *dst, const struct agg_state *src)
{
    if (!src->n)
        return;
    if (!dst->n || agg_before(src->u.pick.t, src->u.pick.seq, dst->u.pick.t, dst->u.pick.seq)) {
        agg_pick_keep(dst, &src->u.pick.v);
        dst->u.pick.t = src->u.pick.t;
        dst->u.pick.seq = src->u.pick.seq;
    }
    dst->n += src->n;
}

static void agg_last_merge(struct agg_state *dst, const struct agg_state *src)
{
    if (!src->n)
        return;
    if (!dst->n || agg_before(dst->u.pick.t, dst->u.pick.seq, src->u.pick.t, src->u.pick.seq)) {
        agg_pick_keep(dst, &src->u.pick.v);
        dst->u.pick.t = src->u.pick.t;
        dst->u.pick.seq = src->u.pick.seq;
    }
    dst->n += src->n;
}

static void agg_pick_result(const struct agg_state *s, const struct agg_spec *spec,
                            struct val *out)
{
    *out = s->n ? s->u.pick.v : val_null();
}

static void agg_pick_fini(struct agg_state *s)
{
    cep_free(s->u.pick.buf);
    s->u.pick.buf = NULL;
}

static size_t agg_pick_bytes(const struct agg_state *s)
{
    return s->u.pick.buf ? s->u.pick.cap : 0;
}

/* ---- distinct_count: an exact set of 64-bit value hashes ----------- */

/* The hash of a value's canonical bytes, so that values equal under ==
 * hash alike: an integral float within int64 hashes as that int; strings
 * and raw JSON hash their bytes under distinct seeds.  Two distinct values
 * with the same 64-bit hash count once (probability about n^2 / 2^65 for
 * n distinct values: 3e-8 for a million). */
static uint64_t agg_val_hash(const struct val *v)
{
    switch (v->type) {
        case VAL_BOOL: {
            uint8_t b = v->u.b;
            return cep_hash64(&b, 1, 4);
        }
        case VAL_INT:
            return cep_hash64(&v->u.i, sizeof(v->u.i), 2);
        case VAL_FLOAT: {
            double f = v->u.f;
            if (f >= -9.2e18 && f <= 9.2e18 && f == (double)(int64_t)f) {
                int64_t i = (int64_t)f;
                return cep_hash64(&i, sizeof(i), 2);
            }
            if (f == 0.0)
                f = 0.0; /* -0.0 == 0.0 */
            return cep_hash64(&f, sizeof(f), 3);
        }
        case VAL_STR:
            return cep_hash64(v->u.s, v->len, 1);
        case VAL_ARR:
        case VAL_OBJ:
            return cep_hash64(v->u.s, v->len, 5);
        default:
            return cep_hash64(&v->type, 1, 6);
    }
}

static void agg_hset_put(struct agg_hset *h, uint64_t x);

static void agg_hset_grow(struct agg_hset *h)
{
    uint64_t *old = h->slots;
    size_t old_cap = h->cap;
    h->cap = old_cap ? old_cap * 2 : 16;
    h->slots = cep_calloc(h->cap, sizeof(*h->slots));
    h->n = 0;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i])
            agg_hset_put(h, old[i]);
    cep_free(old);
}

static void agg_hset_put(struct agg_hset *h, uint64_t x)
{
    if (!x) {
        h->has_zero = true;
        return;
    }
    if ((h->n + 1) * 4 > h->cap * 3)
        agg_hset_grow(h);
    size_t mask = h->cap - 1;
    for (size_t i = (size_t)(x ^ (x >> 29)) & mask;; i = (i + 1) & mask) {
        if (h->slots[i] == x)
            return;
        if (!h->slots[i]) {
            h->slots[i] = x;
            h->n++;
            return;
        }
    }
}

static void agg_distinct_add(struct agg_state *s, const struct val *v, const struct evt *ev,
                             struct expr_counters *c)
{
    if (!s->u.set)
        s->u.set = cep_calloc(1, sizeof(*s->u.set));
    agg_hset_put(s->u.set, agg_val_hash(v));
    s->n++;
}

static void agg_distinct_merge(struct agg_state *dst, const struct agg_state *src)
{
    if (!src->u.set)
        return;
    if (!dst->u.set)
        dst->u.set = cep_calloc(1, sizeof(*dst->u.set));
    for (size_t i = 0; i < src->u.set->cap; i++)
        if (src->u.set->slots[i])
            agg_hset_put(dst->u.set, src->u.set->slots[i]);
    if (src->u.set->has_zero)
        dst->u.set->has_zero = true;
    dst->n += src->n;
}

static void agg_distinct_result(const struct agg_state *s, const struct agg_spec *spec,
                                struct val *out)
{
    const struct agg_hset *h = s->u.set;
    *out = val_int(h ? (int64_t)(h->n + h->has_zero) : 0);
}

static void agg_distinct_fini(struct agg_state *s)
{
    if (s->u.set) {
        cep_free(s->u.set->slots);
        cep_free(s->u.set);
        s->u.set = NULL;
    }
}

static size_t agg_distinct_bytes(const struct agg_state *s)
{
    return s->u.set ? sizeof(*s->u.set) + s->u.set->cap * sizeof(uint64_t) : 0;
}

/* ---- stddev: count, mean, M2 ---------------------------------------- */

static void agg_stddev_add(struct agg_state *s, const struct val *v, const struct evt *ev,
                           struct expr_counters *c)
{
    if (!val_is_num(v)) {
        agg_mismatch(c);
        return;
    }
    double x = val_num(v);
    s->n++;
    double d = x - s->u.sd.mean;
    s->u.sd.mean += d / (double)s->n;
    s->u.sd.m2 += d * (x - s->u.sd.mean);
}

/* Chan, Golub and LeVeque's pairwise update. */
static void agg_stddev_merge(struct agg_state *dst, const struct agg_state *src)
{
    if (!src->n)
        return;
    if (!dst->n) {
        dst->n = src->n;
        dst->u.sd = src->u.sd;
        return;
    }
    double na = (double)dst->n, nb = (double)src->n, n = na + nb;
    double d = src->u.sd.mean - dst->u.sd.mean;
    dst->u.sd.mean += d * nb / n;
    dst->u.sd.m2 += src->u.sd.m2 + d * d * na * nb / n;
    dst->n += src->n;
}

static void agg_stddev_result(const struct agg_state *s, const struct agg_spec *spec,
                              struct val *out)
{
    double m2 = s->u.sd.m2 > 0 ? s->u.sd.m2 : 0.0;
    *out = s->n ? val_float(sqrt(m2 / (double)s->n)) : val_null();
}

/* ---- percentile: log-bucketed histogram ----------------------------- *
 * With gamma = (1 + a) / (1 - a), a = AGG_PCT_ALPHA = 1%, bucket i holds
 * magnitudes in (gamma^(i-1), gamma^i] and reports 2 gamma^i / (gamma + 1),
 * which is within a relative a of every value in the bucket (DDSketch).
 * Negative values go to a mirrored histogram of magnitudes, zeros to a
 * counter (reported exactly).  The result is the estimate for the
 * nearest-rank percentile: the value of rank max(1, ceil(p/100 * n)) in
 * sorted order, so |estimate - exact| <= 1% of |exact| (plus double
 * rounding).  Buckets are sparse: at most one per distinct bucket seen. */

static double agg_pct_gamma(void)
{
    return (1.0 + AGG_PCT_ALPHA) / (1.0 - AGG_PCT_ALPHA);
}

static void agg_bucket_add(struct agg_bucket **b, size_t *n, size_t *cap, int32_t idx,
                           uint64_t cnt)
{
    size_t lo = 0, hi = *n;
    if (*n && (*b)[*n - 1].idx < idx) {
        lo = *n;
    } else {
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if ((*b)[mid].idx < idx)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < *n && (*b)[lo].idx == idx) {
            (*b)[lo].n += cnt;
            return;
        }
    }
    CEP_GROW(*b, *cap, *n + 1);
    memmove(*b + lo + 1, *b + lo, (*n - lo) * sizeof(**b));
    (*b)[lo].idx = idx;
    (*b)[lo].n = cnt;
    (*n)++;
}

static void agg_pct_add(struct agg_state *s, const struct val *v, const struct evt *ev,
                        struct expr_counters *c)
{
    double x = val_num(v);
    if (!val_is_num(v) || !isfinite(x)) {
        agg_mismatch(c);
        return;
    }
    if (!s->u.hist)
        s->u.hist = cep_calloc(1, sizeof(*s->u.hist));
    struct agg_hist *h = s->u.hist;
    s->n++;
    if (x == 0.0) {
        h->zeros++;
        return;
    }
    int32_t idx = (int32_t)ceil(log(fabs(x)) / log(agg_pct_gamma()));
    if (x > 0)
        agg_bucket_add(&h->pos, &h->n_pos, &h->pos_cap, idx, 1);
    else
        agg_bucket_add(&h->neg, &h->n_neg, &h->neg_cap, idx, 1);
}

static void agg_pct_merge(struct agg_state *dst, const struct agg_state *src)
{
    const struct agg_hist *sh = src->u.hist;
    if (!sh)
        return;
    if (!dst->u.hist)
        dst->u.hist = cep_calloc(1, sizeof(*dst->u.hist));
    struct agg_hist *h = dst->u.hist;
    for (size_t i = 0; i < sh->n_pos; i++)
        agg_bucket_add(&h->pos, &h->n_pos, &h->pos_cap, sh->pos[i].idx, sh->pos[i].n);
    for (size_t i = 0; i < sh->n_neg; i++)
        agg_bucket_add(&h->neg, &h->n_neg, &h->neg_cap, sh->neg[i].idx, sh->neg[i].n);
    h->zeros += sh->zeros;
    dst->n += src->n;
}

static void agg_pct_result(const struct agg_state *s, const struct agg_spec *spec,
                           struct val *out)
{
    const struct agg_hist *h = s->u.hist;
    if (!s->n || !h) {
        *out = val_null();
        return;
    }
    double g = agg_pct_gamma();
    double p = spec->param < 0 ? 0 : spec->param > 100 ? 100 : spec->param;
    uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)s->n);
    if (rank < 1)
        rank = 1;
    if (rank > s->n)
        rank = s->n;
    uint64_t seen = 0;
    /* Negatives, most negative (largest magnitude) first. */
    for (size_t i = h->n_neg; i-- > 0;) {
        seen += h->neg[i].n;
        if (seen >= rank) {
            *out = val_float(-2.0 * pow(g, h->neg[i].idx) / (g + 1.0));
            return;
        }
    }
    seen += h->zeros;
    if (seen >= rank) {
        *out = val_float(0.0);
        return;
    }
    for (size_t i = 0; i < h->n_pos; i++) {
        seen += h->pos[i].n;
        if (seen >= rank) {
            *out = val_float(2.0 * pow(g, h->pos[i].idx) / (g + 1.0));
            return;
        }
    }
    *out = val_null(); /* unreachable: the buckets hold n values */
}

static void agg_pct_fini(struct agg_state *s)
{
    if (s->u.hist) {
        cep_free(s->u.hist->pos);
        cep_free(s->u.hist->neg);
        cep_free(s->u.hist);
        s->u.hist = NULL;
    }
}

static size_t agg_pct_bytes(const struct agg_state *s)
{
    const struct agg_hist *h = s->u.hist;
    return h ? sizeof(*h) + (h->pos_cap + h->neg_cap) * sizeof(struct agg_bucket) : 0;
}

/* ---- the table ------------------------------------------------------ */

static const struct agg_def agg_defs[AGG_FN_COUNT] = {
    [AGG_COUNT] = {"count", 0, "number of events in the window", agg_count_add,
                   agg_count_merge, agg_count_result, agg_nop_fini, agg_zero_bytes},
    [AGG_SUM] = {"sum", 1, "sum of the numbers; int while all inputs are ints and it fits",
                 agg_sum_add, agg_sum_merge, agg_sum_result, agg_nop_fini, agg_zero_bytes},
    [AGG_AVG] = {"avg", 1, "arithmetic mean of the numbers (float)", agg_sum_add,
                 agg_sum_merge, agg_avg_result, agg_nop_fini, agg_zero_bytes},
    [AGG_MIN] = {"min", 1, "smallest number, or bytewise-smallest string", agg_min_add,
                 agg_min_merge, agg_pick_result, agg_pick_fini, agg_pick_bytes},
    [AGG_MAX] = {"max", 1, "largest number, or bytewise-largest string", agg_max_add,
                 agg_max_merge, agg_pick_result, agg_pick_fini, agg_pick_bytes},
    [AGG_FIRST] = {"first", 1, "value at the earliest (time, arrival) event", agg_first_add,
                   agg_first_merge, agg_pick_result, agg_pick_fini, agg_pick_bytes},
    [AGG_LAST] = {"last", 1, "value at the latest (time, arrival) event", agg_last_add,
                  agg_last_merge, agg_pick_result, agg_pick_fini, agg_pick_bytes},
    [AGG_DISTINCT_COUNT] = {"distinct_count", 1,
                            "distinct non-null values (exact up to 64-bit hash collisions)",
                            agg_distinct_add, agg_distinct_merge, agg_distinct_result,
                            agg_distinct_fini, agg_distinct_bytes},
    [AGG_STDDEV] = {"stddev", 1, "population standard deviation of the numbers",
                    agg_stddev_add, agg_stddev_merge, agg_stddev_result, agg_nop_fini,
                    agg_zero_bytes},
    [AGG_PERCENTILE] = {"percentile", 2,
                        "percentile(e, p): nearest-rank p-th percentile, within 1% relative",
                        agg_pct_add, agg_pct_merge, agg_pct_result, agg_pct_fini,
                        agg_pct_bytes},
};

/* The table entry of fn; fn must be a valid enum value. */
const struct agg_def *agg_def_get(enum agg_fn fn)
{
    CEP_ASSERT((unsigned)fn < AGG_FN_COUNT);
    return &agg_defs[fn];
}

/* The name of fn for messages and alert fields, or "?" if out of range. */
const char *agg_fn_name(enum agg_fn fn)
{
    return (unsigned)fn < AGG_FN_COUNT ? agg_defs[fn].name : "?";
}

/* The aggregate function named s[0..len), or -1; its arity in *n_args
 * (which may be NULL). */
int agg_fn_lookup(const char *s, size_t len, int *n_args)
{
    for (int i = 0; i < AGG_FN_COUNT; i++) {
        if (strlen(agg_defs[i].name) == len && memcmp(agg_defs[i].name, s, len) == 0) {
            if (n_args)
                *n_args = agg_defs[i].n_args;
            return i;
        }
    }
    return -1;
}
