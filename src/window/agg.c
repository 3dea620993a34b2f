/* SPDX-License-Identifier: Apache-2.0
 * The aggregate functions of window rules (design §2.4), defined once in
 * agg_defs[]: name, arity, doc string and the state operations add, merge,
 * result, fini and bytes, plus the operations that keep a sliding window's
 * result incrementally (result2 for two stacks; merge_sub and unmerge for
 * subtraction).  Every state is mergeable, so a window's result is the merge
 * of its slices' states, and sessions merge when an event bridges them.
 * Null inputs never reach add (the caller skips them).  save and load
 * write a state to a checkpoint and read it back.
 * Tested by: tests/unit/check_win.c, tests/unit/check_win_snap.c */
#include "cepd/cep_common.h"
#include "win_int.h"

#include <math.h>
#include <string.h>

#include "cepd/ckpt.h"
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

static size_t agg_count_add(struct agg_state *s, const struct val *v, const struct evt *ev,
                            struct expr_counters *c)
{
    s->n++;
    return 0;
}

static size_t agg_count_merge(struct agg_state *dst, const struct agg_state *src)
{
    dst->n += src->n;
    return 0;
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

/* result2 of the functions whose states own no heap (count, sum, avg,
 * stddev): merge into a temporary on the stack. */
static void agg_flat_result2(const struct agg_def *d, const struct agg_state *a,
                             const struct agg_state *b, const struct agg_spec *spec,
                             struct val *out)
{
    struct agg_state t;
    agg_state_init(&t);
    if (a)
        d->merge(&t, a);
    d->merge(&t, b);
    d->result(&t, spec, out);
}

static void agg_count_result2(const struct agg_state *a, const struct agg_state *b,
                              const struct agg_spec *spec, struct val *out)
{
    agg_flat_result2(agg_def_get(AGG_COUNT), a, b, spec, out);
}

static void agg_sum_result2(const struct agg_state *a, const struct agg_state *b,
                            const struct agg_spec *spec, struct val *out)
{
    agg_flat_result2(agg_def_get(AGG_SUM), a, b, spec, out);
}

static void agg_avg_result2(const struct agg_state *a, const struct agg_state *b,
                            const struct agg_spec *spec, struct val *out)
{
    agg_flat_result2(agg_def_get(AGG_AVG), a, b, spec, out);
}

static void agg_stddev_result2(const struct agg_state *a, const struct agg_state *b,
                               const struct agg_spec *spec, struct val *out)
{
    agg_flat_result2(agg_def_get(AGG_STDDEV), a, b, spec, out);
}

/* ---- sum, avg: int64 while every input is an int and nothing overflows --- */

static double agg_sum_double(const struct agg_state *s)
{
    return s->u.sum.is_float ? s->u.sum.f : (double)s->u.sum.i;
}

static size_t agg_sum_add(struct agg_state *s, const struct val *v, const struct evt *ev,
                          struct expr_counters *c)
{
    if (!val_is_num(v)) {
        agg_mismatch(c);
        return 0;
    }
    s->n++;
    if (!s->u.sum.is_float && v->type == VAL_INT) {
        int64_t r;
        if (!__builtin_add_overflow(s->u.sum.i, v->u.i, &r)) {
            s->u.sum.i = r;
            return 0;
        }
    }
    if (!s->u.sum.is_float) {
        s->u.sum.f = (double)s->u.sum.i;
        s->u.sum.is_float = true;
    }
    s->u.sum.f += val_num(v);
    return 0;
}

static size_t agg_sum_merge(struct agg_state *dst, const struct agg_state *src)
{
    if (!src->n)
        return 0;
    dst->n += src->n;
    if (!dst->u.sum.is_float && !src->u.sum.is_float) {
        int64_t r;
        if (!__builtin_add_overflow(dst->u.sum.i, src->u.sum.i, &r)) {
            dst->u.sum.i = r;
            return 0;
        }
    }
    dst->u.sum.f = agg_sum_double(dst) + agg_sum_double(src);
    dst->u.sum.is_float = true;
    return 0;
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
 * bytes, since the event they point into is not kept.  Returns the bytes
 * the state's buffer grew by. */
static size_t agg_pick_keep(struct agg_state *s, const struct val *v)
{
    size_t grew = 0;
    s->u.pick.v = *v;
    if (v->type == VAL_STR || v->type == VAL_ARR || v->type == VAL_OBJ) {
        if (s->u.pick.cap < v->len || !s->u.pick.buf) {
            size_t old = s->u.pick.buf ? s->u.pick.cap : 0;
            cep_free(s->u.pick.buf);
            s->u.pick.cap = v->len ? v->len : 1;
            s->u.pick.buf = cep_malloc(s->u.pick.cap);
            grew = s->u.pick.cap - old;
        }
        if (v->len)
            memcpy(s->u.pick.buf, v->u.s, v->len);
        s->u.pick.v.u.s = s->u.pick.buf;
    }
    return grew;
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
static size_t agg_minmax_take(struct agg_state *s, const struct val *v, int sign,
                              struct expr_counters *c)
{
    if (v->type == VAL_INT && s->n && s->u.pick.v.type == VAL_INT) { /* the usual case */
        s->n++;
        if (sign > 0 ? v->u.i > s->u.pick.v.u.i : v->u.i < s->u.pick.v.u.i)
            s->u.pick.v = *v;
        return 0;
    }
    int cls = agg_order_class(v);
    if (!cls) {
        agg_mismatch(c);
        return 0;
    }
    if (!s->n) {
        s->n = 1;
        return agg_pick_keep(s, v);
    }
    if (agg_order_class(&s->u.pick.v) != cls) {
        agg_mismatch(c);
        return 0;
    }
    bool ok;
    int cmp = val_compare(v, &s->u.pick.v, &ok);
    s->n++;
    return ok && cmp * sign > 0 ? agg_pick_keep(s, v) : 0;
}

static size_t agg_min_add(struct agg_state *s, const struct val *v, const struct evt *ev,
                          struct expr_counters *c)
{
    return agg_minmax_take(s, v, -1, c);
}

static size_t agg_max_add(struct agg_state *s, const struct val *v, const struct evt *ev,
                          struct expr_counters *c)
{
    return agg_minmax_take(s, v, 1, c);
}

static size_t agg_min_merge(struct agg_state *dst, const struct agg_state *src)
{
    uint64_t n = dst->n + src->n;
    size_t grew = src->n ? agg_minmax_take(dst, &src->u.pick.v, -1, NULL) : 0;
    dst->n = n;
    return grew;
}

static size_t agg_max_merge(struct agg_state *dst, const struct agg_state *src)
{
    uint64_t n = dst->n + src->n;
    size_t grew = src->n ? agg_minmax_take(dst, &src->u.pick.v, 1, NULL) : 0;
    dst->n = n;
    return grew;
}

static void agg_pick_result(const struct agg_state *s, const struct agg_spec *spec,
                            struct val *out);

/* result2 of min (sign -1) and max (sign 1): the value merge(a, b) would
 * keep.  On a tie, or when the classes differ, a's (the older part's)
 * value, as a merge into a would. */
static void agg_minmax_result2(const struct agg_state *a, const struct agg_state *b, int sign,
                               struct val *out)
{
    if (!a || !a->n) {
        agg_pick_result(b, NULL, out);
        return;
    }
    if (!b->n || agg_order_class(&a->u.pick.v) != agg_order_class(&b->u.pick.v)) {
        *out = a->u.pick.v;
        return;
    }
    bool ok;
    int cmp = val_compare(&b->u.pick.v, &a->u.pick.v, &ok);
    *out = ok && cmp * sign > 0 ? b->u.pick.v : a->u.pick.v;
}

static void agg_min_result2(const struct agg_state *a, const struct agg_state *b,
                            const struct agg_spec *spec, struct val *out)
{
    agg_minmax_result2(a, b, -1, out);
}

static void agg_max_result2(const struct agg_state *a, const struct agg_state *b,
                            const struct agg_spec *spec, struct val *out)
{
    agg_minmax_result2(a, b, 1, out);
}

/* (t1, q1) before (t2, q2)? */
static bool agg_before(int64_t t1, uint64_t q1, int64_t t2, uint64_t q2)
{
    return t1 < t2 || (t1 == t2 && q1 < q2);
}

static size_t agg_first_add(struct agg_state *s, const struct val *v, const struct evt *ev,
                            struct expr_counters *c)
{
    size_t grew = 0;
    if (!s->n || agg_before(ev->time, ev->seq, s->u.pick.t, s->u.pick.seq)) {
        grew = agg_pick_keep(s, v);
        s->u.pick.t = ev->time;
        s->u.pick.seq = ev->seq;
    }
    s->n++;
    return grew;
}

static size_t agg_last_add(struct agg_state *s, const struct val *v, const struct evt *ev,
                           struct expr_counters *c)
{
    size_t grew = 0;
    if (!s->n || agg_before(s->u.pick.t, s->u.pick.seq, ev->time, ev->seq)) {
        grew = agg_pick_keep(s, v);
        s->u.pick.t = ev->time;
        s->u.pick.seq = ev->seq;
    }
    s->n++;
    return grew;
}

static size_t agg_first_merge(struct agg_state *dst, const struct agg_state *src)
{
    size_t grew = 0;
    if (!src->n)
        return 0;
    if (!dst->n || agg_before(src->u.pick.t, src->u.pick.seq, dst->u.pick.t, dst->u.pick.seq)) {
        grew = agg_pick_keep(dst, &src->u.pick.v);
        dst->u.pick.t = src->u.pick.t;
        dst->u.pick.seq = src->u.pick.seq;
    }
    dst->n += src->n;
    return grew;
}

static size_t agg_last_merge(struct agg_state *dst, const struct agg_state *src)
{
    size_t grew = 0;
    if (!src->n)
        return 0;
    if (!dst->n || agg_before(dst->u.pick.t, dst->u.pick.seq, src->u.pick.t, src->u.pick.seq)) {
        grew = agg_pick_keep(dst, &src->u.pick.v);
        dst->u.pick.t = src->u.pick.t;
        dst->u.pick.seq = src->u.pick.seq;
    }
    dst->n += src->n;
    return grew;
}

static void agg_pick_result(const struct agg_state *s, const struct agg_spec *spec,
                            struct val *out)
{
    *out = s->n ? s->u.pick.v : val_null();
}

/* result2 of first (dir -1) and last (dir 1): the value of the earlier /
 * later (time, arrival) of the two. */
static void agg_firstlast_result2(const struct agg_state *a, const struct agg_state *b, int dir,
                                  struct val *out)
{
    if (!a || !a->n) {
        agg_pick_result(b, NULL, out);
        return;
    }
    if (!b->n) {
        *out = a->u.pick.v;
        return;
    }
    bool b_first = agg_before(b->u.pick.t, b->u.pick.seq, a->u.pick.t, a->u.pick.seq);
    *out = b_first == (dir < 0) ? b->u.pick.v : a->u.pick.v;
}

static void agg_first_result2(const struct agg_state *a, const struct agg_state *b,
                              const struct agg_spec *spec, struct val *out)
{
    agg_firstlast_result2(a, b, -1, out);
}

static void agg_last_result2(const struct agg_state *a, const struct agg_state *b,
                             const struct agg_spec *spec, struct val *out)
{
    agg_firstlast_result2(a, b, 1, out);
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

static size_t agg_hset_bytes(const struct agg_hset *h)
{
    if (!h)
        return 0;
    return sizeof(*h) + h->cap * (sizeof(*h->slots) + (h->cnt ? sizeof(*h->cnt) : 0));
}

static size_t agg_hset_home(const struct agg_hset *h, uint64_t x)
{
    return (size_t)(x ^ (x >> 29)) & (h->cap - 1);
}

static void agg_hset_put(struct agg_hset *h, uint64_t x, uint32_t cnt);

static void agg_hset_grow(struct agg_hset *h)
{
    uint64_t *old = h->slots;
    uint32_t *old_cnt = h->cnt;
    size_t old_cap = h->cap;
    h->cap = old_cap ? old_cap * 2 : 16;
    h->slots = cep_calloc(h->cap, sizeof(*h->slots));
    if (h->counted)
        h->cnt = cep_calloc(h->cap, sizeof(*h->cnt));
    h->n = 0;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i])
            agg_hset_put(h, old[i], old_cnt ? old_cnt[i] : 1);
    cep_free(old);
    cep_free(old_cnt);
}

/* Put x into h; a counted set adds cnt to x's count. */
static void agg_hset_put(struct agg_hset *h, uint64_t x, uint32_t cnt)
{
    if (!x) {
        h->has_zero = true;
        h->zero_cnt += cnt;
        return;
    }
    if ((h->n + 1) * 4 > h->cap * 3)
        agg_hset_grow(h);
    size_t mask = h->cap - 1;
    for (size_t i = agg_hset_home(h, x);; i = (i + 1) & mask) {
        if (h->slots[i] == x) {
            if (h->cnt)
                h->cnt[i] += cnt;
            return;
        }
        if (!h->slots[i]) {
            h->slots[i] = x;
            if (h->cnt)
                h->cnt[i] = cnt;
            h->n++;
            return;
        }
    }
}

/* Counted sets: one slice holding x left; x goes when no slice holds it
 * (backward-shift deletion keeps every probe chain unbroken). */
static void agg_hset_drop(struct agg_hset *h, uint64_t x)
{
    if (!x) {
        if (ALWAYS(h->zero_cnt > 0) && --h->zero_cnt == 0)
            h->has_zero = false;
        return;
    }
    if (NEVER(!h->cap))
        return;
    size_t mask = h->cap - 1, i = agg_hset_home(h, x);
    while (h->slots[i] != x) {
        if (NEVER(!h->slots[i]))
            return;
        i = (i + 1) & mask;
    }
    if (--h->cnt[i] > 0)
        return;
    h->slots[i] = 0;
    h->n--;
    for (size_t j = (i + 1) & mask; h->slots[j]; j = (j + 1) & mask) {
        size_t home = agg_hset_home(h, h->slots[j]);
        /* Move j into the hole at i unless its home lies in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays)
            continue;
        h->slots[i] = h->slots[j];
        h->cnt[i] = h->cnt[j];
        h->slots[j] = 0;
        h->cnt[j] = 0;
        i = j;
    }
}

static size_t agg_distinct_add(struct agg_state *s, const struct val *v, const struct evt *ev,
                               struct expr_counters *c)
{
    size_t before = agg_hset_bytes(s->u.set);
    if (!s->u.set)
        s->u.set = cep_calloc(1, sizeof(*s->u.set));
    agg_hset_put(s->u.set, agg_val_hash(v), 1);
    s->n++;
    return agg_hset_bytes(s->u.set) - before;
}

/* Fold src's hashes into dst (counted: each counts once more). */
static size_t agg_distinct_fold(struct agg_state *dst, const struct agg_state *src, bool counted)
{
    if (!src->u.set)
        return 0;
    size_t before = agg_hset_bytes(dst->u.set);
    if (!dst->u.set) {
        dst->u.set = cep_calloc(1, sizeof(*dst->u.set));
        dst->u.set->counted = counted;
    }
    for (size_t i = 0; i < src->u.set->cap; i++)
        if (src->u.set->slots[i])
            agg_hset_put(dst->u.set, src->u.set->slots[i], 1);
    if (src->u.set->has_zero)
        agg_hset_put(dst->u.set, 0, 1);
    dst->n += src->n;
    return agg_hset_bytes(dst->u.set) - before;
}

static size_t agg_distinct_merge(struct agg_state *dst, const struct agg_state *src)
{
    return agg_distinct_fold(dst, src, false);
}

static size_t agg_distinct_merge_sub(struct agg_state *dst, const struct agg_state *src)
{
    return agg_distinct_fold(dst, src, true);
}

static void agg_distinct_unmerge(struct agg_state *dst, const struct agg_state *src)
{
    if (!src->u.set || NEVER(!dst->u.set))
        return;
    for (size_t i = 0; i < src->u.set->cap; i++)
        if (src->u.set->slots[i])
            agg_hset_drop(dst->u.set, src->u.set->slots[i]);
    if (src->u.set->has_zero)
        agg_hset_drop(dst->u.set, 0);
    dst->n -= src->n;
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
        cep_free(s->u.set->cnt);
        cep_free(s->u.set);
        s->u.set = NULL;
    }
}

static size_t agg_distinct_bytes(const struct agg_state *s)
{
    return agg_hset_bytes(s->u.set);
}

/* ---- stddev: count, mean, M2 ---------------------------------------- */

static size_t agg_stddev_add(struct agg_state *s, const struct val *v, const struct evt *ev,
                             struct expr_counters *c)
{
    if (!val_is_num(v)) {
        agg_mismatch(c);
        return 0;
    }
    double x = val_num(v);
    s->n++;
    double d = x - s->u.sd.mean;
    s->u.sd.mean += d / (double)s->n;
    s->u.sd.m2 += d * (x - s->u.sd.mean);
    return 0;
}

/* Chan, Golub and LeVeque's pairwise update. */
static size_t agg_stddev_merge(struct agg_state *dst, const struct agg_state *src)
{
    if (!src->n)
        return 0;
    if (!dst->n) {
        dst->n = src->n;
        dst->u.sd = src->u.sd;
        return 0;
    }
    double na = (double)dst->n, nb = (double)src->n, n = na + nb;
    double d = src->u.sd.mean - dst->u.sd.mean;
    dst->u.sd.mean += d * nb / n;
    dst->u.sd.m2 += src->u.sd.m2 + d * d * na * nb / n;
    dst->n += src->n;
    return 0;
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

/* Index of the first bucket of b[0..n) with idx >= x. */
static size_t agg_bucket_lower(const struct agg_bucket *b, size_t n, int32_t idx)
{
    size_t lo = 0, hi = n;
    if (n && b[n - 1].idx < idx)
        return n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b[mid].idx < idx)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void agg_bucket_add(struct agg_bucket **b, size_t *n, size_t *cap, int32_t idx,
                           uint64_t cnt)
{
    size_t lo = agg_bucket_lower(*b, *n, idx);
    if (lo < *n && (*b)[lo].idx == idx) {
        (*b)[lo].n += cnt;
        return;
    }
    CEP_GROW(*b, *cap, *n + 1);
    memmove(*b + lo + 1, *b + lo, (*n - lo) * sizeof(**b));
    (*b)[lo].idx = idx;
    (*b)[lo].n = cnt;
    (*n)++;
}

/* Take cnt values out of bucket idx; a bucket left empty goes. */
static void agg_bucket_sub(struct agg_bucket *b, size_t *n, int32_t idx, uint64_t cnt)
{
    size_t at = agg_bucket_lower(b, *n, idx);
    if (NEVER(at == *n || b[at].idx != idx || b[at].n < cnt))
        return;
    b[at].n -= cnt;
    if (b[at].n)
        return;
    memmove(b + at, b + at + 1, (*n - at - 1) * sizeof(*b));
    (*n)--;
}

static size_t agg_hist_bytes(const struct agg_hist *h)
{
    return h ? sizeof(*h) + (h->pos_cap + h->neg_cap) * sizeof(struct agg_bucket) : 0;
}

static size_t agg_pct_add(struct agg_state *s, const struct val *v, const struct evt *ev,
                          struct expr_counters *c)
{
    double x = val_num(v);
    if (!val_is_num(v) || !isfinite(x)) {
        agg_mismatch(c);
        return 0;
    }
    size_t before = agg_hist_bytes(s->u.hist);
    if (!s->u.hist)
        s->u.hist = cep_calloc(1, sizeof(*s->u.hist));
    struct agg_hist *h = s->u.hist;
    s->n++;
    if (x == 0.0) {
        h->zeros++;
    } else {
        int32_t idx = (int32_t)ceil(log(fabs(x)) / log(agg_pct_gamma()));
        if (x > 0)
            agg_bucket_add(&h->pos, &h->n_pos, &h->pos_cap, idx, 1);
        else
            agg_bucket_add(&h->neg, &h->n_neg, &h->neg_cap, idx, 1);
    }
    return agg_hist_bytes(h) - before;
}

static size_t agg_pct_merge(struct agg_state *dst, const struct agg_state *src)
{
    const struct agg_hist *sh = src->u.hist;
    if (!sh)
        return 0;
    size_t before = agg_hist_bytes(dst->u.hist);
    if (!dst->u.hist)
        dst->u.hist = cep_calloc(1, sizeof(*dst->u.hist));
    struct agg_hist *h = dst->u.hist;
    for (size_t i = 0; i < sh->n_pos; i++)
        agg_bucket_add(&h->pos, &h->n_pos, &h->pos_cap, sh->pos[i].idx, sh->pos[i].n);
    for (size_t i = 0; i < sh->n_neg; i++)
        agg_bucket_add(&h->neg, &h->n_neg, &h->neg_cap, sh->neg[i].idx, sh->neg[i].n);
    h->zeros += sh->zeros;
    dst->n += src->n;
    return agg_hist_bytes(h) - before;
}

/* Histograms are counts, so a slice's buckets subtract exactly. */
static void agg_pct_unmerge(struct agg_state *dst, const struct agg_state *src)
{
    const struct agg_hist *sh = src->u.hist;
    struct agg_hist *h = dst->u.hist;
    if (!sh || NEVER(!h))
        return;
    for (size_t i = 0; i < sh->n_pos; i++)
        agg_bucket_sub(h->pos, &h->n_pos, sh->pos[i].idx, sh->pos[i].n);
    for (size_t i = 0; i < sh->n_neg; i++)
        agg_bucket_sub(h->neg, &h->n_neg, sh->neg[i].idx, sh->neg[i].n);
    h->zeros -= sh->zeros;
    dst->n -= src->n;
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
    return agg_hist_bytes(s->u.hist);
}

/* ---- checkpoints ---------------------------------------------------- *
 * Every state starts with n; an empty state (n == 0) is only that.  A
 * state's buffer capacities are not written (a loaded state owns what it
 * holds), except a set's capacity: its slot layout is kept so that a
 * loaded key writes the same bytes and counts the same memory. */

static int agg_load_end(struct ckpt_r *r)
{
    return r->err ? CEP_ERR : CEP_OK;
}

static void agg_count_save(const struct agg_state *s, struct ckpt_w *w)
{
    ckpt_put_uv(w, s->n);
}

static int agg_count_load(struct agg_state *s, struct ckpt_r *r)
{
    s->n = ckpt_get_uv(r);
    return agg_load_end(r);
}

/* sum, avg: int64 until is_float, then the double (the int is stale). */
static void agg_sum_save(const struct agg_state *s, struct ckpt_w *w)
{
    ckpt_put_uv(w, s->n);
    if (!s->n)
        return;
    ckpt_put_bool(w, s->u.sum.is_float);
    if (s->u.sum.is_float)
        ckpt_put_f64(w, s->u.sum.f);
    else
        ckpt_put_sv(w, s->u.sum.i);
}

static int agg_sum_load(struct agg_state *s, struct ckpt_r *r)
{
    s->n = ckpt_get_uv(r);
    if (!s->n)
        return agg_load_end(r);
    s->u.sum.is_float = ckpt_get_bool(r);
    if (s->u.sum.is_float)
        s->u.sum.f = ckpt_get_f64(r);
    else
        s->u.sum.i = ckpt_get_sv(r);
    return agg_load_end(r);
}

/* min, max: the kept value; first, last add its (time, seq). */
static void agg_pick_save(const struct agg_state *s, struct ckpt_w *w)
{
    ckpt_put_uv(w, s->n);
    if (s->n)
        ckpt_put_val(w, &s->u.pick.v);
}

static void agg_pick_ts_save(const struct agg_state *s, struct ckpt_w *w)
{
    agg_pick_save(s, w);
    if (!s->n)
        return;
    ckpt_put_sv(w, s->u.pick.t);
    ckpt_put_uv(w, s->u.pick.seq);
}

/* Read n and the kept value (copied into the state); ordered: min and max
 * keep only numbers and strings. */
static int agg_pick_load_val(struct agg_state *s, struct ckpt_r *r, bool ordered)
{
    s->n = ckpt_get_uv(r);
    if (!s->n)
        return agg_load_end(r);
    struct val v;
    ckpt_get_val(r, &v);
    if (r->err)
        return CEP_ERR;
    if (ordered ? !agg_order_class(&v) : v.type == VAL_NULL) {
        ckpt_r_fail(r, "bad aggregate value");
        return CEP_ERR;
    }
    agg_pick_keep(s, &v);
    return CEP_OK;
}

static int agg_minmax_load(struct agg_state *s, struct ckpt_r *r)
{
    return agg_pick_load_val(s, r, true);
}

static int agg_firstlast_load(struct agg_state *s, struct ckpt_r *r)
{
    if (agg_pick_load_val(s, r, false) != CEP_OK || !s->n)
        return agg_load_end(r);
    s->u.pick.t = ckpt_get_sv(r);
    s->u.pick.seq = ckpt_get_uv(r);
    return agg_load_end(r);
}

/* distinct_count: the capacity (log2) and the hashes as 8-byte little-
 * endian words in slot order, starting after an empty slot, so that
 * inserting them in that order rebuilds the same layout.  Only plain sets
 * are written: the counted ones live in a sliding window's running state,
 * which win_snap.c rebuilds from the slices. */
static void agg_distinct_save(const struct agg_state *s, struct ckpt_w *w)
{
    const struct agg_hset *h = s->u.set;
    ckpt_put_uv(w, s->n);
    if (!s->n)
        return;
    CEP_ASSERT(h && !h->counted);
    size_t e = 0;
    while (e < h->cap && h->slots[e])
        e++;
    ckpt_put_uv(w, h->cap ? (uint64_t)__builtin_ctzll(h->cap) : 0);
    ckpt_put_bool(w, h->has_zero);
    ckpt_put_uv(w, h->n * 8);
    for (size_t k = 0; k < h->cap; k++) {
        uint64_t x = h->slots[(e + k) & (h->cap - 1)];
        if (!x)
            continue;
        uint8_t b[8];
        for (int i = 0; i < 8; i++)
            b[i] = (uint8_t)(x >> (8 * i));
        sbuf_append(w->sb, b, sizeof(b));
    }
}

/* The largest set capacity (log2) a load accepts: 2^28 slots, 2 GiB. */
#define AGG_HSET_MAX_LOG2 28

static int agg_distinct_load(struct agg_state *s, struct ckpt_r *r)
{
    s->n = ckpt_get_uv(r);
    if (!s->n)
        return agg_load_end(r);
    unsigned lg = (unsigned)ckpt_get_uv_max(r, AGG_HSET_MAX_LOG2, "bad set capacity");
    bool has_zero = ckpt_get_bool(r);
    size_t len;
    const uint8_t *b = (const uint8_t *)ckpt_get_bytes(r, &len);
    if (r->err)
        return CEP_ERR;
    size_t n = len / 8, cap = lg ? (size_t)1 << lg : 0;
    /* As agg_hset_put grows: at least 16 slots once one is used, at most
     * 3/4 full, and at most twice what the fullest moment needed. */
    if (len % 8 || (cap && cap < 16) || n * 4 > cap * 3 || (cap > 16 && cap * 3 >= 8 * (n + 1)) ||
        n + has_zero == 0 || n + has_zero > s->n) {
        ckpt_r_fail(r, "bad distinct set");
        return CEP_ERR;
    }
    struct agg_hset *h = cep_calloc(1, sizeof(*h));
    s->u.set = h;
    h->has_zero = has_zero;
    h->zero_cnt = has_zero;
    h->cap = cap;
    h->slots = cap ? cep_calloc(cap, sizeof(*h->slots)) : NULL;
    for (size_t k = 0; k < n; k++) {
        uint64_t x = 0;
        for (int i = 0; i < 8; i++)
            x |= (uint64_t)b[8 * k + (size_t)i] << (8 * i);
        size_t i = agg_hset_home(h, x);
        while (x && h->slots[i] && h->slots[i] != x)
            i = (i + 1) & (cap - 1);
        if (!x || h->slots[i]) {
            ckpt_r_fail(r, "bad distinct set");
            return CEP_ERR;
        }
        h->slots[i] = x;
        h->n++;
    }
    return CEP_OK;
}

static void agg_stddev_save(const struct agg_state *s, struct ckpt_w *w)
{
    ckpt_put_uv(w, s->n);
    if (!s->n)
        return;
    ckpt_put_f64(w, s->u.sd.mean);
    ckpt_put_f64(w, s->u.sd.m2);
}

static int agg_stddev_load(struct agg_state *s, struct ckpt_r *r)
{
    s->n = ckpt_get_uv(r);
    if (!s->n)
        return agg_load_end(r);
    s->u.sd.mean = ckpt_get_f64(r);
    s->u.sd.m2 = ckpt_get_f64(r);
    return agg_load_end(r);
}

/* percentile: each histogram as a count of buckets, then (index delta,
 * count) pairs in increasing index order; then the zeros. */
static void agg_buckets_save(const struct agg_bucket *b, size_t n, struct ckpt_w *w)
{
    ckpt_put_uv(w, n);
    for (size_t i = 0; i < n; i++) {
        if (i == 0)
            ckpt_put_sv(w, b[i].idx);
        else
            ckpt_put_uv(w, (uint64_t)((int64_t)b[i].idx - b[i - 1].idx));
        ckpt_put_uv(w, b[i].n);
    }
}

/* Read buckets into *b (exactly sized); *total gains their counts. */
static void agg_buckets_load(struct agg_bucket **b, size_t *n, size_t *cap, uint64_t *total,
                             struct ckpt_r *r)
{
    /* A bucket takes at least two bytes. */
    size_t m = (size_t)ckpt_get_uv_max(r, (uint64_t)(r->end - r->p) / 2, "bad bucket count");
    if (r->err || !m)
        return;
    *b = cep_malloc(m * sizeof(**b));
    *cap = m;
    int64_t idx = 0;
    for (size_t i = 0; i < m; i++) {
        if (i == 0)
            idx = ckpt_get_sv(r);
        else
            idx += (int64_t)ckpt_get_uv_max(r, UINT32_MAX, "bad bucket index");
        uint64_t cnt = ckpt_get_uv(r);
        if (r->err)
            return;
        if (idx < INT32_MIN || idx > INT32_MAX || (i && idx == (*b)[i - 1].idx) || !cnt ||
            cnt > UINT64_MAX - *total) {
            ckpt_r_fail(r, "bad histogram bucket");
            return;
        }
        (*b)[i].idx = (int32_t)idx;
        (*b)[i].n = cnt;
        *total += cnt;
        (*n)++;
    }
}

static void agg_pct_save(const struct agg_state *s, struct ckpt_w *w)
{
    const struct agg_hist *h = s->u.hist;
    ckpt_put_uv(w, s->n);
    if (!s->n)
        return;
    CEP_ASSERT(h);
    agg_buckets_save(h->pos, h->n_pos, w);
    agg_buckets_save(h->neg, h->n_neg, w);
    ckpt_put_uv(w, h->zeros);
}

static int agg_pct_load(struct agg_state *s, struct ckpt_r *r)
{
    s->n = ckpt_get_uv(r);
    if (!s->n)
        return agg_load_end(r);
    struct agg_hist *h = cep_calloc(1, sizeof(*h));
    s->u.hist = h;
    uint64_t total = 0;
    agg_buckets_load(&h->pos, &h->n_pos, &h->pos_cap, &total, r);
    agg_buckets_load(&h->neg, &h->n_neg, &h->neg_cap, &total, r);
    h->zeros = ckpt_get_uv(r);
    if (!r->err && (h->zeros > UINT64_MAX - total || total + h->zeros != s->n))
        ckpt_r_fail(r, "histogram does not add up");
    return agg_load_end(r);
}

/* ---- the table ------------------------------------------------------ */

/* agg_def.state_size: the count alone, or the count and one member. */
#define AGG_SIZE_N    offsetof(struct agg_state, u)
#define AGG_SIZE(mem) (AGG_SIZE_N + sizeof(((struct agg_state *)0)->u.mem))

static const struct agg_def agg_defs[AGG_FN_COUNT] = {
    [AGG_COUNT] = {"count", 0, "number of events in the window", agg_count_add,
                   agg_count_merge, agg_count_result, agg_nop_fini, agg_zero_bytes,
                   agg_count_result2, NULL, NULL, agg_count_save, agg_count_load, AGG_SIZE_N},
    [AGG_SUM] = {"sum", 1, "sum of the numbers; int while all inputs are ints and it fits",
                 agg_sum_add, agg_sum_merge, agg_sum_result, agg_nop_fini, agg_zero_bytes,
                 agg_sum_result2, NULL, NULL, agg_sum_save, agg_sum_load, AGG_SIZE(sum)},
    [AGG_AVG] = {"avg", 1, "arithmetic mean of the numbers (float)", agg_sum_add,
                 agg_sum_merge, agg_avg_result, agg_nop_fini, agg_zero_bytes, agg_avg_result2,
                 NULL, NULL, agg_sum_save, agg_sum_load, AGG_SIZE(sum)},
    [AGG_MIN] = {"min", 1, "smallest number, or bytewise-smallest string", agg_min_add,
                 agg_min_merge, agg_pick_result, agg_pick_fini, agg_pick_bytes, agg_min_result2,
                 NULL, NULL, agg_pick_save, agg_minmax_load, AGG_SIZE(pick)},
    [AGG_MAX] = {"max", 1, "largest number, or bytewise-largest string", agg_max_add,
                 agg_max_merge, agg_pick_result, agg_pick_fini, agg_pick_bytes, agg_max_result2,
                 NULL, NULL, agg_pick_save, agg_minmax_load, AGG_SIZE(pick)},
    [AGG_FIRST] = {"first", 1, "value at the earliest (time, arrival) event", agg_first_add,
                   agg_first_merge, agg_pick_result, agg_pick_fini, agg_pick_bytes,
                   agg_first_result2, NULL, NULL, agg_pick_ts_save, agg_firstlast_load,
                   AGG_SIZE(pick)},
    [AGG_LAST] = {"last", 1, "value at the latest (time, arrival) event", agg_last_add,
                  agg_last_merge, agg_pick_result, agg_pick_fini, agg_pick_bytes,
                  agg_last_result2, NULL, NULL, agg_pick_ts_save, agg_firstlast_load,
                  AGG_SIZE(pick)},
    [AGG_DISTINCT_COUNT] = {"distinct_count", 1,
                            "distinct non-null values (exact up to 64-bit hash collisions)",
                            agg_distinct_add, agg_distinct_merge, agg_distinct_result,
                            agg_distinct_fini, agg_distinct_bytes, NULL,
                            agg_distinct_merge_sub, agg_distinct_unmerge,
                            agg_distinct_save, agg_distinct_load, AGG_SIZE(set)},
    [AGG_STDDEV] = {"stddev", 1, "population standard deviation of the numbers",
                    agg_stddev_add, agg_stddev_merge, agg_stddev_result, agg_nop_fini,
                    agg_zero_bytes, agg_stddev_result2, NULL, NULL, agg_stddev_save,
                    agg_stddev_load, AGG_SIZE(sd)},
    [AGG_PERCENTILE] = {"percentile", 2,
                        "percentile(e, p): nearest-rank p-th percentile, within 1% relative",
                        agg_pct_add, agg_pct_merge, agg_pct_result, agg_pct_fini,
                        agg_pct_bytes, NULL, agg_pct_merge, agg_pct_unmerge, agg_pct_save,
                        agg_pct_load, AGG_SIZE(hist)},
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
