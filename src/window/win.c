/* SPDX-License-Identifier: Apache-2.0
 * Window assignment and per-key windows (design §2.4).  Tumbling, sliding
 * and count windows share one mechanism: the axis (event time, or the event
 * index for count windows) is cut into slices of width w = gcd(size, slide),
 * each slice holds one partial agg_state per aggregate, and the window
 * [s, s + size) is the merge of the non-empty slices it covers; a slice is
 * freed as soon as no open window covers it.  Sessions are runs of events
 * closer than gap, merged when an event bridges two.  Events are never kept,
 * except one reference to the key's latest event (win_result.last).
 * Tested by: tests/unit/check_win.c */
#include "cepd/cep_common.h"
#include "win_int.h"

#include <string.h>

struct win_prog {
    struct win_spec spec;       /* aggs points at our copy */
    struct agg_spec *aggs;
    int64_t size, slide, w;     /* sliced types: window size, slide, slice width */
    const struct agg_def **defs;
};

/* A slice (tumbling, sliding, count), a session, or the late bin: the
 * partial states of the events in it.  start is the slice start (sessions
 * and the late bin: the earliest event time); last_t/last_seq the latest
 * event. */
struct win_slice {
    int64_t start;
    int64_t first_t;
    int64_t last_t;
    uint64_t last_seq;
    uint64_t n_events;
    bool fired; /* sessions and the late bin: on_update already fired */
    struct agg_state st[];
};

struct win_key {
    const struct win_prog *p;
    struct win_slice **sl;      /* slices or sessions, sorted by start */
    size_t n_sl, sl_cap;
    int64_t next_start;         /* sliced types: windows starting before this are closed */
    int64_t *fired;             /* on_update: starts of open windows that fired, sorted */
    size_t n_fired, fired_cap;
    struct win_slice *late;     /* time windows: events whose windows had all closed */
    uint64_t n_seen;            /* count windows: events added */
    struct evt *last;           /* latest event by (time, seq), referenced */
};

static int64_t win_gcd(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* floor(x / m) * m for m > 0, also for negative x. */
static int64_t win_floor(int64_t x, int64_t m)
{
    int64_t q = x / m;
    if (x % m && x < 0)
        q--;
    return q * m;
}

static int64_t win_ceil(int64_t x, int64_t m)
{
    return -win_floor(-x, m);
}

/* Compile a validated spec into a program.  Copies the aggregate array,
 * borrows the names and expressions (which must outlive the program).
 * Never fails. */
struct win_prog *win_compile(const struct win_spec *spec)
{
    struct win_prog *p = cep_calloc(1, sizeof(*p));
    p->spec = *spec;
    p->aggs = cep_calloc(spec->n_aggs ? spec->n_aggs : 1, sizeof(*p->aggs));
    p->defs = cep_calloc(spec->n_aggs ? spec->n_aggs : 1, sizeof(*p->defs));
    for (size_t i = 0; i < spec->n_aggs; i++) {
        p->aggs[i] = spec->aggs[i];
        p->defs[i] = agg_def_get(spec->aggs[i].fn);
    }
    p->spec.aggs = p->aggs;
    int64_t size = spec->size > 0 ? spec->size : 1;
    int64_t slide = spec->slide > 0 ? spec->slide : size;
    if (spec->type == WIN_TUMBLING)
        slide = size;
    p->size = size;
    p->slide = slide;
    p->w = size % slide == 0 ? slide : win_gcd(size, slide);
    if (p->spec.gap <= 0)
        p->spec.gap = 1;
    return p;
}

void win_prog_free(struct win_prog *p)
{
    if (!p)
        return;
    cep_free(p->aggs);
    cep_free(p->defs);
    cep_free(p);
}

size_t win_prog_n_aggs(const struct win_prog *p)
{
    return p->spec.n_aggs;
}

const char *win_prog_agg_name(const struct win_prog *p, size_t i)
{
    return i < p->spec.n_aggs ? p->aggs[i].name : NULL;
}

static struct win_slice *win_slice_new(const struct win_prog *p, int64_t start)
{
    struct win_slice *s =
            cep_calloc(1, sizeof(*s) + p->spec.n_aggs * sizeof(struct agg_state));
    for (size_t i = 0; i < p->spec.n_aggs; i++)
        agg_state_init(&s->st[i]);
    s->start = start;
    return s;
}

static void win_slice_free(const struct win_prog *p, struct win_slice *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < p->spec.n_aggs; i++)
        p->defs[i]->fini(&s->st[i]);
    cep_free(s);
}

/* Fold src's states and event bookkeeping into dst. */
static void win_slice_merge(const struct win_prog *p, struct win_slice *dst,
                            const struct win_slice *src)
{
    for (size_t i = 0; i < p->spec.n_aggs; i++)
        p->defs[i]->merge(&dst->st[i], &src->st[i]);
    if (!dst->n_events || src->first_t < dst->first_t)
        dst->first_t = src->first_t;
    if (!dst->n_events || src->last_t > dst->last_t ||
        (src->last_t == dst->last_t && src->last_seq > dst->last_seq)) {
        dst->last_t = src->last_t;
        dst->last_seq = src->last_seq;
    }
    dst->n_events += src->n_events;
    dst->fired = dst->fired || src->fired;
}

/* Add ev to slice s: evaluates every aggregate argument (null skipped,
 * except for count()). */
static void win_slice_add(const struct win_prog *p, struct win_slice *s, const struct evt *ev,
                          const struct win_env *env)
{
    struct expr_ctx ctx = {.ev = ev, .counters = env->counters, .rt = env->rt};
    for (size_t i = 0; i < p->spec.n_aggs; i++) {
        const struct agg_spec *a = &p->aggs[i];
        struct val v = val_null();
        if (a->fn == AGG_COUNT) {
            p->defs[i]->add(&s->st[i], &v, ev, env->counters);
            continue;
        }
        if (!a->arg)
            continue;
        expr_eval(a->arg, &ctx, &v);
        if (v.type != VAL_NULL)
            p->defs[i]->add(&s->st[i], &v, ev, env->counters);
    }
    if (!s->n_events || ev->time < s->first_t)
        s->first_t = ev->time;
    if (!s->n_events || ev->time > s->last_t || (ev->time == s->last_t && ev->seq > s->last_seq)) {
        s->last_t = ev->time;
        s->last_seq = ev->seq;
    }
    s->n_events++;
}

/* Evaluate the window made of slices sl[0..n) and fire it if `having`
 * holds.  start/end/time describe it.  Returns true if it fired.  Merged
 * states live only for this call. */
static bool win_eval(struct win_key *k, const struct win_env *env, struct win_slice *const *sl,
                     size_t n, int64_t start, int64_t end, int64_t time, bool by_count)
{
    const struct win_prog *p = k->p;
    uint64_t n_events = 0;
    for (size_t i = 0; i < n; i++)
        n_events += sl[i]->n_events;
    if (!n_events)
        return false; /* empty windows never fire */
    struct win_slice *tmp = NULL;
    const struct win_slice *w = sl[0];
    if (n > 1) {
        tmp = win_slice_new(p, start);
        for (size_t i = 0; i < n; i++)
            win_slice_merge(p, tmp, sl[i]);
        w = tmp;
    }
    size_t na = p->spec.n_aggs;
    struct val *vals = cep_calloc(na ? na : 1, sizeof(*vals));
    for (size_t i = 0; i < na; i++)
        p->defs[i]->result(&w->st[i], &p->aggs[i], &vals[i]);
    struct expr_ctx ctx = {.ev = k->last, .results = vals, .counters = env->counters,
                           .rt = env->rt};
    bool fire = !p->spec.having || expr_eval_bool(p->spec.having, &ctx);
    if (fire && env->on_fire) {
        struct win_result r = {.start = start,
                               .end = end,
                               .time = by_count ? w->last_t : time,
                               .values = vals,
                               .n_events = n_events,
                               .last = k->last,
                               .by_count = by_count};
        env->on_fire(env->ud, &r);
    }
    cep_free(vals);
    win_slice_free(p, tmp);
    return fire;
}

/* Index of the first slice with start >= t. */
static size_t win_lower(const struct win_key *k, int64_t t)
{
    size_t lo = 0, hi = k->n_sl;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (k->sl[mid]->start < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void win_insert(struct win_key *k, size_t at, struct win_slice *s)
{
    CEP_GROW(k->sl, k->sl_cap, k->n_sl + 1);
    memmove(k->sl + at + 1, k->sl + at, (k->n_sl - at) * sizeof(*k->sl));
    k->sl[at] = s;
    k->n_sl++;
}

static void win_remove(struct win_key *k, size_t at, size_t n)
{
    for (size_t i = at; i < at + n; i++)
        win_slice_free(k->p, k->sl[i]);
    if (n && k->n_sl > at + n)
        memmove(k->sl + at, k->sl + at + n, (k->n_sl - at - n) * sizeof(*k->sl));
    k->n_sl -= n;
}

struct win_key *win_key_new(const struct win_prog *p)
{
    struct win_key *k = cep_calloc(1, sizeof(*k));
    k->p = p;
    k->next_start = p->spec.type == WIN_COUNT ? 0 : CEP_TIME_MIN;
    return k;
}

void win_key_free(struct win_key *k)
{
    if (!k)
        return;
    win_remove(k, 0, k->n_sl);
    cep_free(k->sl);
    cep_free(k->fired);
    win_slice_free(k->p, k->late);
    evt_unref(k->last);
    cep_free(k);
}

/* ---- sliced windows (tumbling, sliding, count) ---------------------- */

/* Start of the earliest open window covering the slice at a. */
static int64_t win_first_start(const struct win_key *k, int64_t a)
{
    int64_t st = win_ceil(a + k->p->w - k->p->size, k->p->slide);
    return st > k->next_start ? st : k->next_start;
}

/* Close and fire the window [st, st + size). */
static void win_close_sliced(struct win_key *k, const struct win_env *env, int64_t st)
{
    const struct win_prog *p = k->p;
    size_t lo = win_lower(k, st), hi = win_lower(k, st + p->size);
    if (!p->spec.on_update)
        win_eval(k, env, k->sl + lo, hi - lo, st, st + p->size, st + p->size - 1,
                 p->spec.type == WIN_COUNT);
    k->next_start = st + p->slide;
    size_t drop = win_lower(k, k->next_start);
    win_remove(k, 0, drop);
    size_t f = 0;
    while (f < k->n_fired && k->fired[f] < k->next_start)
        f++;
    if (f && k->n_fired > f)
        memmove(k->fired, k->fired + f, (k->n_fired - f) * sizeof(*k->fired));
    k->n_fired -= f;
}

/* Close every sliced window with end <= now, in start order. */
static void win_advance_sliced(struct win_key *k, int64_t now, const struct win_env *env)
{
    while (k->n_sl) {
        int64_t st = win_first_start(k, k->sl[0]->start);
        if (st > now - k->p->size)
            break;
        win_close_sliced(k, env, st);
    }
}

static bool win_fired_has(const struct win_key *k, int64_t st, size_t *at)
{
    size_t lo = 0, hi = k->n_fired;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (k->fired[mid] < st)
            lo = mid + 1;
        else
            hi = mid;
    }
    *at = lo;
    return lo < k->n_fired && k->fired[lo] == st;
}

/* on_update: evaluate every open window covering the slice at a that has
 * not fired yet; fire those whose `having` holds, once. */
static void win_update_sliced(struct win_key *k, const struct win_env *env, int64_t a)
{
    const struct win_prog *p = k->p;
    for (int64_t st = win_first_start(k, a); st <= a; st += p->slide) {
        size_t at;
        if (win_fired_has(k, st, &at))
            continue;
        size_t lo = win_lower(k, st), hi = win_lower(k, st + p->size);
        if (win_eval(k, env, k->sl + lo, hi - lo, st, st + p->size, st + p->size - 1,
                     p->spec.type == WIN_COUNT)) {
            CEP_GROW(k->fired, k->fired_cap, k->n_fired + 1);
            memmove(k->fired + at + 1, k->fired + at, (k->n_fired - at) * sizeof(*k->fired));
            k->fired[at] = st;
            k->n_fired++;
        }
    }
}

/* Add ev at position x (time, or event index) to its slice. */
static void win_add_sliced(struct win_key *k, const struct evt *ev, int64_t x,
                           const struct win_env *env)
{
    const struct win_prog *p = k->p;
    int64_t a = win_floor(x, p->w);
    if (win_floor(a, p->slide) + p->size < a + p->w)
        return; /* in no window (slide > size) */
    if (a < k->next_start) {
        /* Every window of this event has closed: the engine routes late
         * events elsewhere, but if one arrives it goes to a late bin that
         * fires (on_close) at the next advance. */
        if (!k->late)
            k->late = win_slice_new(p, ev->time);
        win_slice_add(p, k->late, ev, env);
        if (ev->time < k->late->start)
            k->late->start = ev->time;
        if (p->spec.on_update && !k->late->fired)
            k->late->fired = win_eval(k, env, &k->late, 1, k->late->start,
                                      k->late->last_t + 1, k->late->last_t, false);
        return;
    }
    size_t at = win_lower(k, a);
    if (at == k->n_sl || k->sl[at]->start != a)
        win_insert(k, at, win_slice_new(p, a));
    win_slice_add(p, k->sl[at], ev, env);
    if (p->spec.on_update)
        win_update_sliced(k, env, a);
}

/* ---- sessions -------------------------------------------------------- */

/* Add ev to the session it falls in (closer than gap to an event of it),
 * merging two sessions it bridges, or start a new one. */
static void win_add_session(struct win_key *k, const struct evt *ev, const struct win_env *env)
{
    const struct win_prog *p = k->p;
    int64_t gap = p->spec.gap, t = ev->time;
    /* First session whose end (last + gap) is after t. */
    size_t i = 0;
    {
        size_t lo = 0, hi = k->n_sl;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (k->sl[mid]->last_t + gap <= t)
                lo = mid + 1;
            else
                hi = mid;
        }
        i = lo;
    }
    struct win_slice *s;
    if (i < k->n_sl && k->sl[i]->first_t - gap < t) {
        s = k->sl[i];
    } else {
        s = win_slice_new(p, t);
        win_insert(k, i, s);
    }
    win_slice_add(p, s, ev, env);
    s->start = s->first_t;
    /* The event may bridge s and the next session. */
    if (i + 1 < k->n_sl && k->sl[i + 1]->first_t - s->last_t < gap) {
        win_slice_merge(p, s, k->sl[i + 1]);
        s->start = s->first_t;
        win_remove(k, i + 1, 1);
    }
    if (p->spec.on_update && !s->fired)
        s->fired = win_eval(k, env, &s, 1, s->first_t, s->last_t + gap, s->last_t + gap - 1,
                            false);
}

static void win_advance_session(struct win_key *k, int64_t now, const struct win_env *env)
{
    const struct win_prog *p = k->p;
    size_t n = 0;
    while (n < k->n_sl && k->sl[n]->last_t + p->spec.gap <= now) {
        struct win_slice *s = k->sl[n];
        if (!p->spec.on_update)
            win_eval(k, env, &s, 1, s->first_t, s->last_t + p->spec.gap,
                     s->last_t + p->spec.gap - 1, false);
        n++;
    }
    win_remove(k, 0, n);
}

/* ---- the key ---------------------------------------------------------- */

/* Add an event: it goes into the slice, session or count slice its time
 * (count windows: its index) falls in; with on_update, windows it belongs to
 * that have not fired yet are evaluated and fire if `having` holds.  Count
 * windows that become full close here.  Takes a reference to ev if it is
 * the key's latest event.  Runs on the key's worker thread. */
void win_key_add(struct win_key *k, const struct evt *ev, const struct win_env *env)
{
    if (!k->last || ev->time > k->last->time ||
        (ev->time == k->last->time && ev->seq >= k->last->seq)) {
        struct evt *e = evt_ref((struct evt *)ev);
        evt_unref(k->last);
        k->last = e;
    }
    switch (k->p->spec.type) {
        case WIN_SESSION:
            win_add_session(k, ev, env);
            break;
        case WIN_COUNT: {
            int64_t x = (int64_t)k->n_seen++;
            win_add_sliced(k, ev, x, env);
            win_advance_sliced(k, (int64_t)k->n_seen, env);
            break;
        }
        default:
            win_add_sliced(k, ev, ev->time, env);
            break;
    }
    if (win_key_idle(k)) {
        evt_unref(k->last);
        k->last = NULL;
    }
}

/* Close every time window whose end <= now: on_close windows fire if
 * `having` holds; the state of each is freed.  The late bin, if any, closes
 * whatever now is.  Count windows do not close with time. */
void win_key_advance(struct win_key *k, int64_t now, const struct win_env *env)
{
    const struct win_prog *p = k->p;
    if (k->late) {
        if (!p->spec.on_update)
            win_eval(k, env, &k->late, 1, k->late->start, k->late->last_t + 1, k->late->last_t,
                     false);
        win_slice_free(p, k->late);
        k->late = NULL;
    }
    if (p->spec.type == WIN_SESSION)
        win_advance_session(k, now, env);
    else if (p->spec.type != WIN_COUNT)
        win_advance_sliced(k, now, env);
    if (win_key_idle(k)) {
        evt_unref(k->last);
        k->last = NULL;
    }
}

int64_t win_key_deadline(const struct win_key *k)
{
    const struct win_prog *p = k->p;
    int64_t d = CEP_TIME_MAX;
    if (k->late)
        d = k->late->last_t + 1;
    if (!k->n_sl || p->spec.type == WIN_COUNT)
        return d;
    int64_t e;
    if (p->spec.type == WIN_SESSION)
        e = k->sl[0]->last_t + p->spec.gap;
    else
        e = win_first_start(k, k->sl[0]->start) + p->size;
    return e < d ? e : d;
}

bool win_key_idle(const struct win_key *k)
{
    return !k->n_sl && !k->late;
}

/* Bytes held by the key: the key, its arrays, every slice/session with its
 * aggregate states and what they own.  Walks the slices (O(slices)). */
size_t win_key_bytes(const struct win_key *k)
{
    const struct win_prog *p = k->p;
    size_t slice = sizeof(struct win_slice) + p->spec.n_aggs * sizeof(struct agg_state);
    size_t b = sizeof(*k) + k->sl_cap * sizeof(*k->sl) + k->fired_cap * sizeof(*k->fired);
    for (size_t i = 0; i <= k->n_sl; i++) {
        const struct win_slice *s = i < k->n_sl ? k->sl[i] : k->late;
        if (!s)
            continue;
        b += slice;
        for (size_t j = 0; j < p->spec.n_aggs; j++)
            b += p->defs[j]->bytes(&s->st[j]);
    }
    return b;
}
