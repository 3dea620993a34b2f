/* SPDX-License-Identifier: Apache-2.0
 * Window assignment and per-key windows (design §2.4).  Tumbling, sliding
 * and count windows share one mechanism: the axis (event time, or the event
 * index for count windows) is cut into slices of width w = gcd(size, slide),
 * each slice holds one partial agg_state per aggregate, and the window
 * [s, s + size) is the merge of the non-empty slices it covers.  Windows
 * close in start order; when a window spans several slices its result comes
 * from a queue over the slices (two stacks of partial states, plus running
 * states for the aggregates that subtract), so a close costs O(1) merges
 * amortised instead of one per slice.  Sessions are runs of events closer
 * than gap, merged when an event bridges two.  A time window's state stays
 * until time passes its end + the allowed lateness: a late event updates the
 * windows it belongs to, and those that already sent an alert send a
 * correction (recomputed from the slices, so exact).  Events are never
 * kept, except one reference to the key's latest event (win_result.last),
 * and not that one when the rule's outputs need none (win_spec.no_event).
 * Tested by: tests/unit/check_win.c, tests/unit/check_win_snap.c,
 * tests/rules/engine/late.test.yaml */
#include "cepd/cep_common.h"
#include "win_int.h"

#include <string.h>

static int64_t win_gcd(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static int64_t win_min(int64_t a, int64_t b)
{
    return a < b ? a : b;
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

/* win_floor(s, slide) for s a multiple of the slice width (a slice start,
 * or one minus the size).  When slices are as wide as the slide (the slide
 * divides the size: tumbling windows, most sliding ones) that is s itself,
 * found without a 64-bit division: tens of cycles, several per event. */
static int64_t win_slide_floor(const struct win_prog *p, int64_t s)
{
    return p->slide == p->w ? s : win_floor(s, p->slide);
}

/* Start of the earliest window covering the slice at a (a multiple of the
 * slice width), open or not: the same shortcut. */
static int64_t win_first_cover(const struct win_prog *p, int64_t a)
{
    int64_t x = a + p->w - p->size;
    return p->slide == p->w ? x : win_ceil(x, p->slide);
}

/* Compile a validated spec into a program.  Copies the aggregate array,
 * borrows the names and expressions (which must outlive the program).
 * Never fails. */
struct win_prog *win_compile(const struct win_spec *spec)
{
    struct win_prog *p = cep_calloc(1, sizeof(*p));
    size_t na = spec->n_aggs ? spec->n_aggs : 1;
    p->spec = *spec;
    p->aggs = cep_calloc(na, sizeof(*p->aggs));
    p->defs = cep_calloc(na, sizeof(*p->defs));
    p->arg_slot = cep_calloc(na, sizeof(*p->arg_slot));
    p->ts = cep_calloc(na, sizeof(*p->ts));
    p->sub = cep_calloc(na, sizeof(*p->sub));
    for (size_t i = 0; i < spec->n_aggs; i++) {
        p->aggs[i] = spec->aggs[i];
        p->defs[i] = agg_def_get(spec->aggs[i].fn);
        p->arg_slot[i] = spec->aggs[i].arg ? expr_field_slot(spec->aggs[i].arg) : -1;
        if (p->defs[i]->unmerge)
            p->sub[p->n_sub++] = i;
        else
            p->ts[p->n_ts++] = i;
    }
    p->spec.aggs = p->aggs;
    int64_t size = spec->size > 0 ? spec->size : 1;
    int64_t slide = spec->slide > 0 ? spec->slide : size;
    if (spec->type == WIN_TUMBLING)
        slide = size;
    p->size = size;
    p->slide = slide;
    p->w = size % slide == 0 ? slide : win_gcd(size, slide);
    p->queued = spec->type != WIN_SESSION && p->size > p->w;
    if (p->spec.gap <= 0)
        p->spec.gap = 1;
    p->st_off = cep_calloc(na, sizeof(*p->st_off));
    size_t off = 0;
    for (size_t i = 0; i < spec->n_aggs; i++) {
        p->st_off[i] = off;
        off += (p->defs[i]->state_size + 7) & ~(size_t)7;
    }
    p->slice_bytes = sizeof(struct win_slice) + off;
    return p;
}

void win_prog_free(struct win_prog *p)
{
    if (!p)
        return;
    cep_free(p->aggs);
    cep_free(p->defs);
    cep_free(p->arg_slot);
    cep_free(p->ts);
    cep_free(p->sub);
    cep_free(p->st_off);
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

/* ---- slices ------------------------------------------------------------ */

/* A new empty slice; bytes (NULL for temporaries) counts it. */
static struct win_slice *win_slice_new(const struct win_prog *p, size_t *bytes, int64_t start)
{
    struct win_slice *s = cep_calloc(1, p->slice_bytes); /* zero: every state empty */
    s->start = start;
    if (bytes)
        *bytes += p->slice_bytes;
    return s;
}

static void win_slice_free(const struct win_prog *p, size_t *bytes, struct win_slice *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < p->spec.n_aggs; i++) {
        if (bytes)
            *bytes -= p->defs[i]->bytes(win_slice_st(p, s, i));
        p->defs[i]->fini(win_slice_st(p, s, i));
    }
    if (bytes)
        *bytes -= p->slice_bytes;
    cep_free(s);
}

/* Fold src's states and event bookkeeping into dst. */
static void win_slice_merge(const struct win_prog *p, size_t *bytes, struct win_slice *dst,
                            const struct win_slice *src)
{
    size_t grew = 0;
    for (size_t i = 0; i < p->spec.n_aggs; i++)
        grew += p->defs[i]->merge(win_slice_st(p, dst, i), win_slice_st(p, src, i));
    if (bytes)
        *bytes += grew;
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
static void win_slice_add(const struct win_prog *p, size_t *bytes, struct win_slice *s,
                          const struct evt *ev, const struct win_env *env)
{
    struct expr_ctx ctx = {.ev = ev, .counters = env->counters, .rt = env->rt};
    size_t grew = 0;
    for (size_t i = 0; i < p->spec.n_aggs; i++) {
        const struct agg_spec *a = &p->aggs[i];
        struct val v = val_null();
        if (a->fn == AGG_COUNT) {
            grew += p->defs[i]->add(win_slice_st(p, s, i), &v, ev, env->counters);
            continue;
        }
        if (!a->arg)
            continue;
        int32_t slot = p->arg_slot[i];
        if (slot >= 0 && (uint32_t)slot < ev->n_slots)
            v = ev->slots[slot]; /* a bare field (sum(bytes)): what expr_eval loads */
        else
            expr_eval(a->arg, &ctx, &v);
        if (v.type != VAL_NULL)
            grew += p->defs[i]->add(win_slice_st(p, s, i), &v, ev, env->counters);
    }
    *bytes += grew;
    if (!s->n_events || ev->time < s->first_t)
        s->first_t = ev->time;
    if (!s->n_events || ev->time > s->last_t || (ev->time == s->last_t && ev->seq > s->last_seq)) {
        s->last_t = ev->time;
        s->last_seq = ev->seq;
    }
    s->n_events++;
}

/* A slice of key k: the key keeps one freed slice for the next, so that a
 * tumbling window's key allocates nothing in steady state. */
static struct win_slice *win_key_slice_new(struct win_key *k, int64_t start)
{
    struct win_slice *s = k->spare;
    if (!s)
        return win_slice_new(k->p, &k->bytes, start);
    k->spare = NULL;
    s->start = start;
    return s;
}

static void win_key_slice_free(struct win_key *k, struct win_slice *s)
{
    const struct win_prog *p = k->p;
    if (k->spare) {
        win_slice_free(p, &k->bytes, s);
        return;
    }
    for (size_t i = 0; i < p->spec.n_aggs; i++) {
        k->bytes -= p->defs[i]->bytes(win_slice_st(p, s, i));
        p->defs[i]->fini(win_slice_st(p, s, i));
    }
    memset(s, 0, p->slice_bytes);
    k->spare = s;
}

/* ---- the key's slice array: sorted by start, removals at the front are
 * O(1) (head moves), appends amortised O(1) ------------------------------- */

static struct win_slice **win_slices(const struct win_key *k)
{
    return k->sl + k->head;
}

/* Index of the first slice with start >= t. */
static size_t win_lower(const struct win_key *k, int64_t t)
{
    struct win_slice **s = win_slices(k);
    size_t lo = 0, hi = k->n_sl;
    if (hi && s[hi - 1]->start < t)
        return hi; /* the common case: past the newest slice */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s[mid]->start < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void win_insert(struct win_key *k, size_t at, struct win_slice *s)
{
    if (k->head + k->n_sl == k->sl_cap) {
        if (k->head) {
            memmove(k->sl, k->sl + k->head, k->n_sl * sizeof(*k->sl));
            k->head = 0;
        } else if (k->sl == k->sl_small) {
            k->sl = cep_malloc(4 * WIN_SL_SMALL * sizeof(*k->sl));
            memcpy(k->sl, k->sl_small, sizeof(k->sl_small));
            k->sl_cap = 4 * WIN_SL_SMALL;
            k->bytes += k->sl_cap * sizeof(*k->sl);
        } else {
            size_t old = k->sl_cap;
            CEP_GROW(k->sl, k->sl_cap, k->n_sl + 1);
            k->bytes += (k->sl_cap - old) * sizeof(*k->sl);
        }
    }
    struct win_slice **v = win_slices(k);
    memmove(v + at + 1, v + at, (k->n_sl - at) * sizeof(*v));
    v[at] = s;
    k->n_sl++;
}

/* Free n slices from index at. */
static void win_remove(struct win_key *k, size_t at, size_t n)
{
    struct win_slice **v = win_slices(k);
    for (size_t i = at; i < at + n; i++)
        win_key_slice_free(k, v[i]);
    if (at == 0) {
        k->head += n;
    } else if (n) {
        memmove(v + at, v + at + n, (k->n_sl - at - n) * sizeof(*v));
    }
    k->n_sl -= n;
    if (!k->n_sl)
        k->head = 0;
}

/* ---- marks: sliced windows that sent alerts ------------------------------ */

static struct win_mark *win_mark_find(const struct win_key *k, int64_t st, size_t *at)
{
    size_t lo = 0, hi = k->n_marks;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (k->marks[mid].start < st)
            lo = mid + 1;
        else
            hi = mid;
    }
    *at = lo;
    return lo < k->n_marks && k->marks[lo].start == st ? &k->marks[lo] : NULL;
}

static struct win_mark *win_mark_insert(struct win_key *k, size_t at, int64_t st)
{
    size_t old = k->marks_cap;
    CEP_GROW(k->marks, k->marks_cap, k->n_marks + 1);
    k->bytes += (k->marks_cap - old) * sizeof(*k->marks);
    memmove(k->marks + at + 1, k->marks + at, (k->n_marks - at) * sizeof(*k->marks));
    k->n_marks++;
    k->marks[at] = (struct win_mark){.start = st};
    return &k->marks[at];
}

/* ---- evaluating and firing ------------------------------------------------ */

/* The values of the window made of slices s[0..n) into k->vals.  Returns
 * the merged temporary the values point into (free it after firing), or
 * NULL; *n_events and *last_t describe the window. */
static struct win_slice *win_values(struct win_key *k, struct win_slice *const *s, size_t n,
                                    uint64_t *n_events, int64_t *last_t)
{
    const struct win_prog *p = k->p;
    struct win_slice *tmp = NULL;
    const struct win_slice *w = n ? s[0] : NULL;
    *n_events = 0;
    *last_t = 0;
    if (!n)
        return NULL;
    if (n > 1) {
        tmp = win_slice_new(p, NULL, s[0]->start);
        for (size_t i = 0; i < n; i++)
            win_slice_merge(p, NULL, tmp, s[i]);
        w = tmp;
    }
    for (size_t i = 0; i < p->spec.n_aggs; i++)
        p->defs[i]->result(win_slice_st(p, w, i), &p->aggs[i], &k->vals[i]);
    *n_events = w->n_events;
    *last_t = w->last_t;
    return tmp;
}

/* Does `having` hold on k->vals? */
static bool win_having(struct win_key *k, const struct win_env *env)
{
    if (!k->p->spec.having)
        return true;
    struct expr_ctx ctx = {.ev = k->last, .results = k->vals, .counters = env->counters,
                           .rt = env->rt};
    return expr_eval_bool(k->p->spec.having, &ctx);
}

static void win_fire(struct win_key *k, const struct win_env *env, struct win_result *r)
{
    r->values = k->vals;
    r->last = k->last;
    if (env->on_fire)
        env->on_fire(env->ud, r);
}

/* A window that may have sent alerts before (n_alerts of them, the latest
 * a retraction unless standing) was evaluated again, `having` = h: decide
 * what to send.  While `having` holds, every evaluation sends (the first is
 * revision 0, later ones correct it); when it stops holding, one
 * retraction; nothing while it keeps failing.  Returns false when nothing
 * is sent; else fills r's revision and retracted and updates the lineage. */
static bool win_decide(bool h, uint32_t *n_alerts, bool *standing, struct win_result *r)
{
    if (!h && !(*n_alerts && *standing))
        return false;
    r->revision = *n_alerts;
    r->retracted = !h;
    (*n_alerts)++;
    *standing = h;
    return true;
}

/* ---- the sliding-window queue -------------------------------------------- */

static void win_states_clear(const struct win_prog *p, size_t *bytes, struct agg_state *st,
                             const size_t *idx, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        *bytes -= p->defs[idx[j]]->bytes(&st[j]);
        p->defs[idx[j]]->fini(&st[j]);
        agg_state_init(&st[j]);
    }
}

/* Bytes of front-stack arrays of capacity cap. */
static size_t win_front_bytes(const struct win_prog *p, size_t cap)
{
    return cap * (sizeof(int64_t) + (p->n_ts ? p->n_ts : 1) * sizeof(struct agg_state));
}

static struct agg_state *win_front_acc(const struct win_key *k, size_t e)
{
    return &k->q.f_acc[e * k->p->n_ts];
}

/* Empty the queue at position t (every state freed). */
static void win_queue_reset(struct win_key *k, int64_t t)
{
    const struct win_prog *p = k->p;
    struct win_queue *q = &k->q;
    for (size_t e = q->f_head; e < q->f_n; e++)
        win_states_clear(p, &k->bytes, win_front_acc(k, e), p->ts, p->n_ts);
    q->f_head = q->f_n = 0;
    win_states_clear(p, &k->bytes, q->back, p->ts, p->n_ts);
    win_states_clear(p, &k->bytes, q->run, p->sub, p->n_sub);
    q->n_events = 0;
    q->lo = q->mid = q->hi = t;
    q->valid = true;
}

/* Push the slices with start in [hi, to) onto the back. */
static void win_queue_push(struct win_key *k, int64_t to)
{
    const struct win_prog *p = k->p;
    struct win_queue *q = &k->q;
    if (to <= q->hi)
        return;
    struct win_slice **s = win_slices(k);
    size_t grew = 0;
    for (size_t i = win_lower(k, q->hi); i < k->n_sl && s[i]->start < to; i++) {
        for (size_t j = 0; j < p->n_ts; j++)
            grew += p->defs[p->ts[j]]->merge(&q->back[j], win_slice_st(p, s[i], p->ts[j]));
        for (size_t j = 0; j < p->n_sub; j++)
            grew += p->defs[p->sub[j]]->merge_sub(&q->run[j], win_slice_st(p, s[i], p->sub[j]));
        q->n_events += s[i]->n_events;
        q->last_t = s[i]->last_t;
    }
    k->bytes += grew;
    q->hi = to;
}

/* The front is empty: the back's slices from `from` on become the front,
 * with suffix merges built newest first; the back empties. */
static void win_queue_flip(struct win_key *k, int64_t from)
{
    const struct win_prog *p = k->p;
    struct win_queue *q = &k->q;
    struct win_slice **s = win_slices(k);
    size_t i0 = win_lower(k, from), i1 = win_lower(k, q->hi), m = i1 - i0;
    if (m > q->f_cap) {
        size_t old = q->f_cap;
        CEP_GROW(q->f_start, q->f_cap, m);
        q->f_acc = cep_realloc(q->f_acc, q->f_cap * (p->n_ts ? p->n_ts : 1) * sizeof(*q->f_acc));
        k->bytes += win_front_bytes(p, q->f_cap) - win_front_bytes(p, old);
    }
    size_t grew = 0;
    for (size_t e = m; e-- > 0;) {
        struct agg_state *acc = win_front_acc(k, e);
        const struct win_slice *sl = s[i0 + e];
        q->f_start[e] = sl->start;
        for (size_t j = 0; j < p->n_ts; j++) {
            const struct agg_def *d = p->defs[p->ts[j]];
            agg_state_init(&acc[j]);
            grew += d->merge(&acc[j], win_slice_st(p, sl, p->ts[j]));
            if (e + 1 < m)
                grew += d->merge(&acc[j], &win_front_acc(k, e + 1)[j]);
        }
    }
    k->bytes += grew;
    q->f_head = 0;
    q->f_n = m;
    win_states_clear(p, &k->bytes, q->back, p->ts, p->n_ts);
    q->mid = q->hi;
}

/* Evict the slices with start in [lo, to). */
static void win_queue_evict(struct win_key *k, int64_t to)
{
    const struct win_prog *p = k->p;
    struct win_queue *q = &k->q;
    if (to <= q->lo)
        return;
    if (to >= q->hi) {
        win_queue_reset(k, to);
        return;
    }
    struct win_slice **s = win_slices(k);
    for (size_t i = win_lower(k, q->lo); i < k->n_sl && s[i]->start < to; i++) {
        for (size_t j = 0; j < p->n_sub; j++)
            p->defs[p->sub[j]]->unmerge(&q->run[j], win_slice_st(p, s[i], p->sub[j]));
        q->n_events -= s[i]->n_events;
    }
    while (q->f_head < q->f_n && q->f_start[q->f_head] < to) {
        win_states_clear(p, &k->bytes, win_front_acc(k, q->f_head), p->ts, p->n_ts);
        q->f_head++;
    }
    if (to > q->mid)
        win_queue_flip(k, to);
    q->lo = to;
}

/* The values of the window [st, st + size) into k->vals, from the queue;
 * returns its event count. */
static uint64_t win_queue_query(struct win_key *k, int64_t st)
{
    const struct win_prog *p = k->p;
    struct win_queue *q = &k->q;
    if (!q->valid || st < q->lo)
        win_queue_reset(k, st);
    win_queue_evict(k, st);
    win_queue_push(k, st + p->size);
    const struct agg_state *front = q->f_head < q->f_n ? win_front_acc(k, q->f_head) : NULL;
    for (size_t j = 0; j < p->n_ts; j++) {
        size_t a = p->ts[j];
        p->defs[a]->result2(front ? &front[j] : NULL, &q->back[j], &p->aggs[a], &k->vals[a]);
    }
    for (size_t j = 0; j < p->n_sub; j++) {
        size_t a = p->sub[j];
        p->defs[a]->result(&q->run[j], &p->aggs[a], &k->vals[a]);
    }
    return q->n_events;
}

/* Rebuild the queue as pushes and a flip left it (win_snap.c): the front
 * over [lo, mid), the back over [mid, hi), the running states over both.
 * Exact: the front and back are merges of the same slices in the same
 * order, and the running states are counts (merge_sub/unmerge). */
void win_queue_rebuild(struct win_key *k, int64_t lo, int64_t mid, int64_t hi)
{
    win_queue_reset(k, lo);
    win_queue_push(k, mid);
    if (mid > lo)
        win_queue_flip(k, lo);
    win_queue_push(k, hi);
}

/* ---- the key ------------------------------------------------------------- */

/* The clocks of a key that has seen nothing (win_key_new, win_key_reset). */
static void win_key_clocks_init(struct win_key *k)
{
    const struct win_prog *p = k->p;
    k->now = CEP_TIME_MIN;
    k->next_start = p->spec.type == WIN_COUNT ? 0 : CEP_TIME_MIN;
    k->n_seen = 0;
    k->purged_to = CEP_TIME_MIN;
    k->skip_to = p->spec.on_update && p->spec.type != WIN_COUNT ? CEP_TIME_MAX : CEP_TIME_MIN;
}

struct win_key *win_key_new(const struct win_prog *p, int64_t lateness)
{
    struct win_key *k = cep_calloc(1, sizeof(*k));
    k->p = p;
    k->sl = k->sl_small;
    k->sl_cap = WIN_SL_SMALL;
    k->lateness = lateness > 0 && p->spec.type != WIN_COUNT ? lateness : 0;
    win_key_clocks_init(k);
    k->bytes = sizeof(*k);
    if (p->queued) {
        k->q.back = cep_calloc(p->n_ts ? p->n_ts : 1, sizeof(*k->q.back));
        k->q.run = cep_calloc(p->n_sub ? p->n_sub : 1, sizeof(*k->q.run));
        k->bytes += (p->n_ts + p->n_sub) * sizeof(struct agg_state);
        k->q.valid = false;
    }
    return k;
}

void win_key_free(struct win_key *k)
{
    if (!k)
        return;
    const struct win_prog *p = k->p;
    win_remove(k, 0, k->n_sl);
    if (p->queued) {
        win_queue_reset(k, 0);
        cep_free(k->q.f_start);
        cep_free(k->q.f_acc);
        cep_free(k->q.back);
        cep_free(k->q.run);
    }
    if (k->sl != k->sl_small)
        cep_free(k->sl);
    cep_free(k->marks);
    win_slice_free(p, NULL, k->spare);
    evt_unref(k->last);
    cep_free(k);
}

/* ---- sliced windows (tumbling, sliding, count) ---------------------------- */

/* The time the key's stream has reached. */
static int64_t win_key_now(const struct win_key *k, const struct win_env *env)
{
    return env->now > k->now ? env->now : k->now;
}

/* Is the window ending at end final (freed, or about to be) at now? */
static bool win_final(const struct win_key *k, int64_t end, int64_t now)
{
    return end + k->lateness <= now;
}

/* Start of the earliest open window covering the slice at a. */
static int64_t win_first_start(const struct win_key *k, int64_t a)
{
    int64_t st = win_first_cover(k->p, a);
    return st > k->next_start ? st : k->next_start;
}

/* The values of the window [st, st + size) into k->vals: from the queue,
 * its single slice, or (queue false) merged from its slices.  Returns the
 * temporary to free after firing, or NULL. */
static struct win_slice *win_window_values(struct win_key *k, int64_t st, bool queue,
                                           uint64_t *n_events, int64_t *last_t)
{
    const struct win_prog *p = k->p;
    if (queue && p->queued) {
        *n_events = win_queue_query(k, st);
        *last_t = k->q.last_t;
        return NULL;
    }
    size_t lo = win_lower(k, st), hi = win_lower(k, st + p->size);
    return win_values(k, win_slices(k) + lo, hi - lo, n_events, last_t);
}

static void win_result_init(const struct win_key *k, struct win_result *r, int64_t st,
                            int64_t last_t, uint64_t n_events)
{
    const struct win_prog *p = k->p;
    bool by_count = p->spec.type == WIN_COUNT;
    *r = (struct win_result){.start = st,
                             .end = st + p->size,
                             .time = by_count ? last_t : st + p->size - 1,
                             .n_events = n_events,
                             .by_count = by_count,
                             .id_start = st,
                             .id_end = st + p->size};
}

/* The first window start after st whose slices differ from those of
 * [st, st + size), which must hold one: the next start at which its oldest
 * slice leaves or the next slice enters (an event added later lowers it:
 * win_add_sliced). */
static int64_t win_next_change(const struct win_key *k, int64_t st)
{
    const struct win_prog *p = k->p;
    struct win_slice **s = win_slices(k);
    size_t i = win_lower(k, st), j = win_lower(k, st + p->size);
    int64_t nx = st + p->slide;
    if (ALWAYS(i < j))
        nx = win_slide_floor(p, s[i]->start) + p->slide;
    if (j < k->n_sl) {
        int64_t enter = win_slide_floor(p, s[j]->start - p->size) + p->slide;
        nx = win_min(nx, enter);
    }
    return nx > st + p->slide ? nx : st + p->slide;
}

/* Close the window [st, st + size): on_close, it fires if `having` holds
 * (and is marked, when late events may still correct it).  The windows
 * after it with the same slices would give the same result: when it did not
 * fire, they are not evaluated (skip_to), so that a sparse key costs a close
 * per slice change rather than per slide. */
static void win_close_sliced(struct win_key *k, const struct win_env *env, int64_t st)
{
    const struct win_prog *p = k->p;
    bool fired = false;
    if (!p->spec.on_update) {
        uint64_t n_events;
        int64_t last_t;
        struct win_slice *tmp = win_window_values(k, st, true, &n_events, &last_t);
        if (n_events && win_having(k, env)) {
            struct win_result r;
            fired = true;
            win_result_init(k, &r, st, last_t, n_events);
            win_fire(k, env, &r);
            size_t at;
            if (k->lateness && !win_mark_find(k, st, &at)) {
                struct win_mark *m = win_mark_insert(k, at, st);
                m->n_alerts = 1;
                m->standing = true;
            }
        }
        win_slice_free(p, NULL, tmp);
    }
    k->next_start = st + p->slide;
    if (p->queued && !p->spec.on_update)
        k->skip_to = fired ? CEP_TIME_MIN : win_next_change(k, st);
    if (p->queued && k->q.valid)
        win_queue_evict(k, k->next_start);
}

/* Free what no window can need any more: slices and marks of windows that
 * ended at least `lateness` before now. */
static void win_purge_sliced(struct win_key *k, int64_t now)
{
    const struct win_prog *p = k->p;
    struct win_slice **s = win_slices(k);
    size_t n = 0;
    while (n < k->n_sl && s[n]->start < k->next_start &&
           win_slide_floor(p, s[n]->start) + p->size + k->lateness <= now)
        n++;
    if (n && p->queued && s[n - 1]->start >= k->q.lo)
        k->q.valid = false; /* never expected: the queue starts at next_start */
    win_remove(k, 0, n);
    size_t m = 0;
    while (m < k->n_marks && k->marks[m].start + p->size + k->lateness <= now)
        m++;
    if (m) {
        memmove(k->marks, k->marks + m, (k->n_marks - m) * sizeof(*k->marks));
        k->n_marks -= m;
    }
}

/* Close every sliced window with end <= now, in start order (empty windows
 * are skipped), then free what is final. */
static void win_advance_sliced(struct win_key *k, int64_t now, const struct win_env *env)
{
    const struct win_prog *p = k->p;
    for (;;) {
        size_t i = win_lower(k, k->next_start);
        if (i == k->n_sl)
            break;
        int64_t st = win_first_start(k, win_slices(k)[i]->start);
        if (st > now - p->size)
            break;
        if (st < k->skip_to) {
            /* Ended windows that repeat one that did not fire (on_update:
             * closing does nothing) close unevaluated, up to the first
             * window not ended. */
            k->next_start = win_min(k->skip_to, win_floor(now - p->size, p->slide) + p->slide);
            if (p->queued && k->q.valid)
                win_queue_evict(k, k->next_start);
            continue;
        }
        win_close_sliced(k, env, st);
    }
    win_purge_sliced(k, now);
}

/* on_update: evaluate every open window covering the slice at a that has
 * not fired yet; fire those whose `having` holds, once. */
static void win_update_sliced(struct win_key *k, const struct win_env *env, int64_t a)
{
    const struct win_prog *p = k->p;
    for (int64_t st = win_first_start(k, a); st <= a; st += p->slide) {
        size_t at;
        if (win_mark_find(k, st, &at))
            continue;
        uint64_t n_events;
        int64_t last_t;
        struct win_slice *tmp = win_window_values(k, st, false, &n_events, &last_t);
        if (n_events && win_having(k, env)) {
            struct win_result r;
            win_result_init(k, &r, st, last_t, n_events);
            win_fire(k, env, &r);
            struct win_mark *m = win_mark_insert(k, at, st);
            m->n_alerts = 1;
            m->standing = true;
        }
        win_slice_free(p, NULL, tmp);
    }
}

/* A late event changed the closed window [st, st + size): recompute it
 * from its slices and send what win_decide says (on_update: only a first
 * firing; its alerts are not revised). */
static void win_revise_sliced(struct win_key *k, const struct win_env *env, int64_t st)
{
    const struct win_prog *p = k->p;
    uint64_t n_events;
    int64_t last_t;
    struct win_slice *tmp = win_window_values(k, st, false, &n_events, &last_t);
    size_t at;
    struct win_mark *m = win_mark_find(k, st, &at);
    bool h = n_events && win_having(k, env);
    struct win_result r;
    win_result_init(k, &r, st, last_t, n_events);
    uint32_t n_alerts = m ? m->n_alerts : 0;
    bool standing = m && m->standing;
    bool send = p->spec.on_update ? !m && h : true;
    if (send && win_decide(h, &n_alerts, &standing, &r)) {
        if (!m)
            m = win_mark_insert(k, at, st);
        m->n_alerts = n_alerts;
        m->standing = standing;
        win_fire(k, env, &r);
    }
    win_slice_free(p, NULL, tmp);
}

/* Add ev at position x (time, or event index) to its slice.  Returns false
 * for a time event too late for all its windows. */
static bool win_add_sliced(struct win_key *k, const struct evt *ev, int64_t x,
                           const struct win_env *env)
{
    const struct win_prog *p = k->p;
    bool by_time = p->spec.type != WIN_COUNT;
    struct win_slice **s = win_slices(k);
    /* The common case first: x falls in the newest slice (no division). */
    int64_t a = k->n_sl && x >= s[k->n_sl - 1]->start &&
                                (uint64_t)x - (uint64_t)s[k->n_sl - 1]->start < (uint64_t)p->w
                        ? s[k->n_sl - 1]->start
                        : win_floor(x, p->w);
    if (win_slide_floor(p, a) + p->size < a + p->w)
        return true; /* in no window (slide > size) */
    int64_t now = win_key_now(k, env);
    int64_t st0 = win_first_cover(p, a);
    /* Late when its earliest window is final.  The stream layer's rule (older
     * than now - lateness) implies this; an event that passed it (on a
     * derived stream, in its producer's order) belongs only to windows
     * still kept, so every window it changes is recomputed exactly. */
    if (by_time && win_final(k, st0 + p->size, now))
        return false;
    size_t at = win_lower(k, a);
    if (at == k->n_sl || s[at]->start != a)
        win_insert(k, at, win_key_slice_new(k, a));
    win_slice_add(p, &k->bytes, win_slices(k)[at], ev, env);
    if (k->skip_to > st0 && k->skip_to != CEP_TIME_MAX)
        k->skip_to = st0; /* its windows changed */
    if (by_time && p->queued && a < k->q.hi && a >= k->q.lo)
        k->q.valid = false; /* a late event in slices the queue folded */
    for (int64_t st = st0; by_time && st < k->next_start && st <= a; st += p->slide)
        win_revise_sliced(k, env, st);
    if (p->spec.on_update)
        win_update_sliced(k, env, a);
    if (by_time && x < now) /* windows of a late event that ended but never closed here */
        win_advance_sliced(k, now, env);
    return true;
}

/* ---- sessions ------------------------------------------------------------ */

static void win_session_result(const struct win_key *k, const struct win_slice *s,
                               struct win_result *r)
{
    int64_t end = s->last_t + k->p->spec.gap;
    *r = (struct win_result){.start = s->first_t,
                             .end = end,
                             .time = end - 1,
                             .n_events = s->n_events,
                             .id_start = s->n_alerts ? s->id_start : s->first_t,
                             .id_end = s->n_alerts ? s->id_end : end};
}

/* The session s reached its end (on time, or again after a late event
 * changed it): on_close, send what win_decide says. */
static void win_session_close(struct win_key *k, const struct win_env *env, struct win_slice *s)
{
    uint64_t n_events;
    int64_t last_t;
    s->closed = true;
    if (k->p->spec.on_update)
        return;
    win_values(k, &s, 1, &n_events, &last_t);
    struct win_result r;
    win_session_result(k, s, &r);
    if (win_decide(win_having(k, env), &s->n_alerts, &s->standing, &r)) {
        s->id_start = r.id_start;
        s->id_end = r.id_end;
        win_fire(k, env, &r);
    }
}

/* on_update: fire s if it has not fired and `having` holds. */
static void win_session_update(struct win_key *k, const struct win_env *env, struct win_slice *s)
{
    uint64_t n_events;
    int64_t last_t;
    if (s->fired)
        return;
    win_values(k, &s, 1, &n_events, &last_t);
    if (!win_having(k, env))
        return;
    struct win_result r;
    win_session_result(k, s, &r);
    s->fired = true;
    win_fire(k, env, &r);
}

/* An event bridged s and the next session nx: nx joins s.  If both had
 * sent alerts, s's lineage goes on and nx's standing alert is retracted,
 * with the merged session's values. */
static void win_session_merge(struct win_key *k, const struct win_env *env, size_t i)
{
    struct win_slice *s = win_slices(k)[i], *nx = win_slices(k)[i + 1];
    win_slice_merge(k->p, &k->bytes, s, nx);
    s->start = s->first_t;
    s->closed = s->closed && nx->closed;
    if (!s->n_alerts) {
        s->n_alerts = nx->n_alerts;
        s->standing = nx->standing;
        s->id_start = nx->id_start;
        s->id_end = nx->id_end;
    } else if (nx->n_alerts && nx->standing && !k->p->spec.on_update) {
        uint64_t n_events;
        int64_t last_t;
        win_values(k, &s, 1, &n_events, &last_t);
        struct win_result r;
        win_session_result(k, s, &r);
        r.id_start = nx->id_start;
        r.id_end = nx->id_end;
        r.revision = nx->n_alerts;
        r.retracted = true;
        win_fire(k, env, &r);
    }
    win_remove(k, i + 1, 1);
}

/* Add ev to the session it falls in (closer than gap to an event of it),
 * merging two sessions it bridges, or start a new one.  A late event that
 * changes a session which already reached its end re-evaluates it at once,
 * or when its new end passes. */
static bool win_add_session(struct win_key *k, const struct evt *ev, const struct win_env *env)
{
    const struct win_prog *p = k->p;
    int64_t gap = p->spec.gap, t = ev->time;
    int64_t now = win_key_now(k, env);
    /* First session whose end (last + gap) is after t. */
    size_t lo = 0, hi = k->n_sl;
    struct win_slice **v = win_slices(k);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid]->last_t + gap <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t i = lo;
    struct win_slice *s;
    /* Late when it might have joined a session already freed, or when a
     * session of its own would be final (as with sliced windows, the stream
     * layer's rule implies this, and what passes is recomputed exactly). */
    if (t < k->purged_to)
        return false;
    if (i < k->n_sl && v[i]->first_t - gap < t) {
        s = v[i];
    } else {
        if (win_final(k, t + gap, now))
            return false;
        s = win_key_slice_new(k, t);
        win_insert(k, i, s);
    }
    win_slice_add(p, &k->bytes, s, ev, env);
    s->start = s->first_t;
    /* The event may bridge s and the next session. */
    if (i + 1 < k->n_sl && win_slices(k)[i + 1]->first_t - s->last_t < gap)
        win_session_merge(k, env, i);
    if (p->spec.on_update) {
        win_session_update(k, env, s);
    } else if (s->last_t + gap <= now) {
        win_session_close(k, env, s); /* late: it ended already */
    } else {
        s->closed = false;
    }
    return true;
}

static void win_advance_session(struct win_key *k, int64_t now, const struct win_env *env)
{
    const struct win_prog *p = k->p;
    struct win_slice **v = win_slices(k);
    for (size_t i = 0; i < k->n_sl && v[i]->last_t + p->spec.gap <= now; i++)
        if (!v[i]->closed)
            win_session_close(k, env, v[i]);
    size_t n = 0;
    while (n < k->n_sl && v[n]->closed && win_final(k, v[n]->last_t + p->spec.gap, now)) {
        if (v[n]->last_t + p->spec.gap > k->purged_to)
            k->purged_to = v[n]->last_t + p->spec.gap;
        n++;
    }
    win_remove(k, 0, n);
}

/* ---- the key ------------------------------------------------------------- */

/* Arrays up to this many entries stay with an idle key (reused when it, or
 * a key recycled from it, gets events again); larger ones go. */
#define WIN_IDLE_KEEP 8

/* The key went idle: drop its latest event and the arrays sized by its
 * busiest moment. */
static void win_key_trim(struct win_key *k)
{
    const struct win_prog *p = k->p;
    evt_unref(k->last);
    k->last = NULL;
    k->head = 0;
    if (k->sl_cap > WIN_IDLE_KEEP) {
        k->bytes -= k->sl_cap * sizeof(*k->sl);
        cep_free(k->sl);
        k->sl = k->sl_small;
        k->sl_cap = WIN_SL_SMALL;
    }
    if (k->marks_cap > WIN_IDLE_KEEP) {
        k->bytes -= k->marks_cap * sizeof(*k->marks);
        cep_free(k->marks);
        k->marks = NULL;
        k->marks_cap = 0;
    }
    if (p->queued && k->q.f_cap) {
        win_queue_reset(k, 0);
        k->q.valid = false;
        k->bytes -= win_front_bytes(p, k->q.f_cap);
        cep_free(k->q.f_start);
        cep_free(k->q.f_acc);
        k->q.f_start = NULL;
        k->q.f_acc = NULL;
        k->q.f_cap = 0;
    }
}

/* Forget everything: the key is as win_key_new made it (with the same
 * lateness), keeping small arrays and a spare slice for reuse.  The
 * engine recycles the keys of dropped keys this way. */
void win_key_reset(struct win_key *k)
{
    const struct win_prog *p = k->p;
    win_remove(k, 0, k->n_sl);
    k->n_marks = 0;
    if (p->queued)
        win_queue_reset(k, 0);
    k->q.valid = false;
    win_key_clocks_init(k);
    win_key_trim(k);
}

/* Add an event: it goes into the slice, session or count slice its time
 * (count windows: its index) falls in; with on_update, windows it belongs to
 * that have not fired yet are evaluated and fire if `having` holds.  Count
 * windows that become full close here; windows that a late event changes
 * after they closed are revised.  Takes a reference to ev if it is the
 * key's latest event, unless the program holds none (no_event: a cache
 * miss per event saved, on the old event's refcount).  Returns false
 * (nothing added) for an event too late for its windows.  Runs on the
 * key's worker thread. */
bool win_key_add(struct win_key *k, const struct evt *ev, const struct win_env *env)
{
    k->vals = expr_rt_results(env->rt, k->p->spec.n_aggs);
    if (!k->p->spec.no_event &&
        (!k->last || ev->time > k->last->time ||
         (ev->time == k->last->time && ev->seq >= k->last->seq))) {
        struct evt *e = evt_ref((struct evt *)ev);
        evt_unref(k->last);
        k->last = e;
    }
    bool added;
    switch (k->p->spec.type) {
        case WIN_SESSION:
            added = win_add_session(k, ev, env);
            break;
        case WIN_COUNT: {
            int64_t x = (int64_t)k->n_seen++;
            added = win_add_sliced(k, ev, x, env);
            win_advance_sliced(k, (int64_t)k->n_seen, env);
            break;
        }
        default:
            added = win_add_sliced(k, ev, ev->time, env);
            break;
    }
    if (win_key_idle(k))
        win_key_trim(k);
    return added;
}

/* Close every time window whose end <= now (on_close windows fire if
 * `having` holds) and free the state of those that ended at least the
 * allowed lateness ago.  Count windows do not close with time. */
void win_key_advance(struct win_key *k, int64_t now, const struct win_env *env)
{
    const struct win_prog *p = k->p;
    k->vals = expr_rt_results(env->rt, p->spec.n_aggs);
    if (now > k->now)
        k->now = now;
    if (p->spec.type == WIN_SESSION)
        win_advance_session(k, now, env);
    else if (p->spec.type != WIN_COUNT)
        win_advance_sliced(k, now, env);
    if (win_key_idle(k))
        win_key_trim(k);
}

int64_t win_key_deadline(const struct win_key *k)
{
    const struct win_prog *p = k->p;
    struct win_slice **v = win_slices(k);
    int64_t d = CEP_TIME_MAX;
    if (p->spec.type == WIN_COUNT)
        return d;
    if (p->spec.type == WIN_SESSION) {
        for (size_t i = 0; i < k->n_sl; i++) {
            int64_t end = v[i]->last_t + p->spec.gap;
            d = win_min(d, v[i]->closed ? end + k->lateness : end);
        }
        return d;
    }
    size_t i = win_lower(k, k->next_start);
    if (i < k->n_sl && k->skip_to != CEP_TIME_MAX) {
        int64_t st = win_first_start(k, v[i]->start);
        d = (st > k->skip_to ? st : k->skip_to) + p->size;
    }
    if (k->n_sl) /* closing what it needs first, if next_start lags (skip_to) */
        d = win_min(d, win_slide_floor(p, v[0]->start) + p->size + k->lateness);
    if (k->n_marks)
        d = win_min(d, k->marks[0].start + p->size + k->lateness);
    return d;
}

bool win_key_idle(const struct win_key *k)
{
    return !k->n_sl && !k->n_marks;
}

size_t win_key_bytes(const struct win_key *k)
{
    return k->bytes;
}

void win_key_rebind(struct win_key *k, const struct win_prog *p)
{
    CEP_ASSERT(p->spec.n_aggs == k->p->spec.n_aggs && p->spec.type == k->p->spec.type);
    k->p = p;
}

struct evt *win_key_held_event(const struct win_key *k)
{
    return k->last;
}

/* The heap bytes of the queue's states st[0..n), of aggregates idx[0..n). */
static size_t win_states_bytes(const struct win_prog *p, const struct agg_state *st,
                               const size_t *idx, size_t n)
{
    size_t b = 0;
    for (size_t j = 0; j < n; j++)
        b += p->defs[idx[j]]->bytes(&st[j]);
    return b;
}

size_t win_key_bytes_walk(const struct win_key *k)
{
    const struct win_prog *p = k->p;
    size_t b = sizeof(*k) +
               (k->sl != k->sl_small ? k->sl_cap * sizeof(*k->sl) : 0) +
               k->marks_cap * sizeof(*k->marks);
    for (size_t i = 0; i < k->n_sl; i++) {
        b += p->slice_bytes;
        for (size_t j = 0; j < p->spec.n_aggs; j++)
            b += p->defs[j]->bytes(win_slice_st(p, win_slices(k)[i], j));
    }
    if (k->spare)
        b += p->slice_bytes;
    if (p->queued) {
        const struct win_queue *q = &k->q;
        b += (p->n_ts + p->n_sub) * sizeof(struct agg_state);
        b += win_front_bytes(p, q->f_cap);
        for (size_t e = q->f_head; e < q->f_n; e++)
            b += win_states_bytes(p, win_front_acc(k, e), p->ts, p->n_ts);
        b += win_states_bytes(p, q->back, p->ts, p->n_ts);
        b += win_states_bytes(p, q->run, p->sub, p->n_sub);
    }
    return b;
}
