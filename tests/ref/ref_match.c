/* SPDX-License-Identifier: Apache-2.0
 * Brute-force FlinkCEP matcher for tests (see ref_match.h for the feature
 * set).  Two parts, both written from the semantics, not from an NFA:
 *
 * 1. Enumeration.  A match assigns events e[p] to steps.  Every event of a
 *    step satisfies its condition; the step takes min..max events (0 if it
 *    is optional and bypassed).  Each take is constrained only by the
 *    previous taken event q and one contiguity c with condition set m:
 *      strict   p == q + 1
 *      relaxed  p is the first event after q in m (a run cannot pass over
 *               an event that satisfies the step it waits for)
 *      any      every later event in m
 *    Between iterations of a step c is the step's `loop`; for the first
 *    event of a step it is the step's `after`, measured from the last event
 *    of the previous non-empty step (bypassed optional steps don't count).
 *    notNext X between A and B: e[q+1] is not in X.  notFollowedBy X between
 *    A and B: no event in (q, first event of B) is in X; the first X event
 *    itself may still be taken by B, but only when that take completes the
 *    match (FlinkCEP's doProcess collects final states before it looks for
 *    a stop state; the run's other branches die there).  The first event
 *    of a match is any event satisfying the first step that can be
 *    non-empty.  With `within` W: ts(last) - ts(first) < W.  A match is
 *    emitted when its last event is processed.
 *
 * 2. Skip strategies.  Every prefix of an assignment is a partial run; it
 *    stays alive after event t while some way to take its next event is
 *    still open (strict: no event since q; relaxed: no event of the next
 *    step's set since q; any: always; a negation closes it when X occurs)
 *    and, at time ts(t), while ts(t) - ts(first) < W.  FlinkCEP releases a
 *    completed match only when no live run started before it, releases in
 *    order of first event, and after each release discards every run and
 *    held match whose first event is at or before (to_next, past_last) or
 *    strictly before (to_first, to_last) the pruning event.  This is
 *    replayed after each time advance and each event; when several held
 *    matches share the first event, every release order is explored.
 * Tested by: tests/ref/check_ref.c, tests/ref/check_diff.c */
#include "cepd/cep_common.h"
#include "ref_match.h"

#include <stdlib.h>
#include <string.h>

#define REF_MAX_NODES 400000u
#define REF_MAX_REPLAYS 4096u
#define REF_MAX_CHOICES 256u

void ref_matches_push(struct ref_matches *m, const struct ref_match *x)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 16;
        m->v = cep_realloc(m->v, m->cap * sizeof(*m->v));
    }
    m->v[m->n++] = *x;
}

void ref_matches_free(struct ref_matches *m)
{
    cep_free(m->v);
    memset(m, 0, sizeof(*m));
}

int ref_match_cmp(const struct ref_match *a, const struct ref_match *b)
{
    uint32_t n = a->n < b->n ? a->n : b->n;
    for (uint32_t i = 0; i < n; i++)
        if (a->ev[i] != b->ev[i])
            return a->ev[i] < b->ev[i] ? -1 : 1;
    if (a->n != b->n)
        return a->n < b->n ? -1 : 1;
    for (uint32_t i = 0; i < n; i++)
        if (a->step[i] != b->step[i])
            return a->step[i] < b->step[i] ? -1 : 1;
    return 0;
}

static int ref_match_qcmp(const void *a, const void *b)
{
    return ref_match_cmp(a, b);
}

void ref_matches_sort(struct ref_matches *m)
{
    if (m->n > 1)
        qsort(m->v, m->n, sizeof(*m->v), ref_match_qcmp);
}

static bool ref_events_equal(const struct ref_match *a, const struct ref_match *b)
{
    return a->n == b->n && memcmp(a->ev, b->ev, a->n) == 0;
}

static int ref_events_qcmp(const void *pa, const void *pb)
{
    const struct ref_match *a = pa, *b = pb;
    uint32_t n = a->n < b->n ? a->n : b->n;
    int c = memcmp(a->ev, b->ev, n);
    if (c)
        return c;
    return a->n < b->n ? -1 : a->n > b->n;
}

bool ref_matches_equal(const struct ref_matches *a, const struct ref_matches *b, bool with_steps)
{
    if (a->n != b->n)
        return false;
    if (with_steps) {
        for (size_t i = 0; i < a->n; i++)
            if (ref_match_cmp(&a->v[i], &b->v[i]) != 0)
                return false;
        return true;
    }
    /* Compare event lists only: sort copies by events. */
    struct ref_match *x = cep_malloc((a->n + 1) * sizeof(*x));
    struct ref_match *y = cep_malloc((b->n + 1) * sizeof(*y));
    if (a->n) {
        memcpy(x, a->v, a->n * sizeof(*x));
        memcpy(y, b->v, b->n * sizeof(*y));
    }
    qsort(x, a->n, sizeof(*x), ref_events_qcmp);
    qsort(y, b->n, sizeof(*y), ref_events_qcmp);
    bool eq = true;
    for (size_t i = 0; i < a->n && eq; i++)
        eq = ref_events_equal(&x[i], &y[i]);
    cep_free(x);
    cep_free(y);
    return eq;
}

void ref_result_free(struct ref_result *r)
{
    for (size_t i = 0; i < r->n_outcomes; i++)
        ref_matches_free(&r->outcomes[i]);
    r->n_outcomes = 0;
}

bool ref_pattern_supported(const struct ref_pattern *p, const char **why)
{
    const char *w = NULL;
    if (p->n_steps == 0 || p->n_steps > REF_MAX_STEPS)
        w = "step count";
    for (size_t k = 0; k < p->n_steps && !w; k++) {
        const struct ref_step *s = &p->steps[k];
        if (s->min < 1 || s->max < s->min)
            w = "quantifier";
        else if (s->negated) {
            const struct ref_step *prev = k ? &p->steps[k - 1] : NULL;
            const struct ref_step *next = k + 1 < p->n_steps ? &p->steps[k + 1] : NULL;
            if (!prev || !next)
                w = "negation first or last";
            else if (s->optional || s->min != 1 || s->max != 1 || s->after == REF_ANY)
                w = "negation with a quantifier, optional or any";
            else if (prev->negated || prev->optional || prev->min != 1 || prev->max != 1)
                w = "negation after a negation, an optional step or a loop";
            else if (next->negated || next->optional)
                w = "negation before a negation or an optional step";
        }
    }
    if (!w && p->skip >= REF_SKIP_COUNT)
        w = "skip";
    if (!w && (p->skip == REF_TO_FIRST || p->skip == REF_TO_LAST) &&
        (p->skip_step < 0 || (size_t)p->skip_step >= p->n_steps ||
         p->steps[p->skip_step].negated))
        w = "skip step";
    if (why)
        *why = w;
    return w == NULL;
}

/* ------------------------------------------------------------ enumeration */

struct ref_ctx {
    const struct ref_pattern *p;
    const uint32_t *sym;
    const int64_t *ts;
    size_t n;
    struct ref_match cur;
    uint64_t alive[REF_MAX_EVENTS]; /* per first event: bit t = a run lives after event t */
    struct ref_matches done;        /* every complete match */
    size_t nodes;
    bool overflow;
};

static bool ref_in(const struct ref_ctx *x, uint32_t mask, size_t i)
{
    return (mask >> x->sym[i]) & 1u;
}

/* The first event after q in mask, or n. */
static size_t ref_next_in(const struct ref_ctx *x, uint32_t mask, size_t q)
{
    size_t i = q + 1;
    while (i < x->n && !ref_in(x, mask, i))
        i++;
    return i;
}

/* A way to take the next event: into step j with contiguity c; neg_kind 0
 * none, 1 notNext, 2 notFollowedBy, with set neg. */
struct ref_way {
    int j;
    enum ref_contig c;
    int neg_kind;
    uint32_t neg;
};

/* The ways open after taking the c-th event of step k (c >= 1). */
static size_t ref_ways(const struct ref_pattern *p, int k, uint32_t c, struct ref_way *out)
{
    size_t n = 0;
    const struct ref_step *st = &p->steps[k];
    if (c < st->max)
        out[n++] = (struct ref_way){k, st->loop, 0, 0};
    if (c < st->min)
        return n;
    int neg_kind = 0;
    uint32_t neg = 0;
    for (size_t j = (size_t)k + 1; j < p->n_steps; j++) {
        const struct ref_step *sj = &p->steps[j];
        if (sj->negated) {
            neg_kind = sj->after == REF_STRICT ? 1 : 2;
            neg = sj->mask;
            continue;
        }
        out[n++] = (struct ref_way){(int)j, sj->after, neg_kind, neg};
        if (!sj->optional)
            break;
    }
    return n;
}

/* Can the match end after step k (all later steps optional)? */
static bool ref_rest_optional(const struct ref_pattern *p, int k)
{
    for (size_t j = (size_t)k + 1; j < p->n_steps; j++)
        if (!p->steps[j].optional)
            return false;
    return true;
}

/* The last event t >= q after which this way is still open (q - 1 when it
 * cannot be taken at all, as a signed value). */
static int64_t ref_way_open_until(const struct ref_ctx *x, const struct ref_way *w, size_t q)
{
    int64_t until = (int64_t)x->n - 1;
    const struct ref_step *sj = &x->p->steps[w->j];
    if (w->neg_kind == 1 && q + 1 < x->n && ref_in(x, w->neg, q + 1))
        return (int64_t)q;
    if (w->neg_kind == 2) {
        size_t f = ref_next_in(x, w->neg, q);
        if ((int64_t)f - 1 < until)
            until = (int64_t)f - 1;
    }
    if (w->c == REF_STRICT)
        return (int64_t)q;
    if (w->c == REF_RELAXED) {
        size_t f = ref_next_in(x, sj->mask, q);
        if ((int64_t)f - 1 < until)
            until = (int64_t)f - 1;
    }
    return until;
}

static bool ref_in_window(const struct ref_ctx *x, size_t first, size_t p)
{
    return x->p->within <= 0 || x->ts[p] - x->ts[first] < x->p->within;
}

static void ref_visit(struct ref_ctx *x, int k, uint32_t c, size_t q);

static void ref_take(struct ref_ctx *x, int j, uint32_t c, size_t p)
{
    uint32_t i = x->cur.n++;
    x->cur.ev[i] = (uint8_t)p;
    x->cur.step[i] = (uint8_t)j;
    ref_visit(x, j, c, p);
    x->cur.n--;
}

/* Take event p into step j as the last event of a match, or not at all:
 * the event also fired a negation, so nothing can continue from it. */
static void ref_take_final(struct ref_ctx *x, int j, uint32_t c, size_t p)
{
    if (c < x->p->steps[j].min || !ref_rest_optional(x->p, j))
        return;
    uint32_t i = x->cur.n++;
    x->cur.ev[i] = (uint8_t)p;
    x->cur.step[i] = (uint8_t)j;
    ref_matches_push(&x->done, &x->cur);
    x->cur.n--;
}

static void ref_visit(struct ref_ctx *x, int k, uint32_t c, size_t q)
{
    if (++x->nodes > REF_MAX_NODES) {
        x->overflow = true;
        return;
    }
    const struct ref_pattern *p = x->p;
    size_t first = x->cur.ev[0];
    if (c >= p->steps[k].min && ref_rest_optional(p, k))
        ref_matches_push(&x->done, &x->cur);

    struct ref_way ways[REF_MAX_STEPS + 1];
    size_t n_ways = ref_ways(p, k, c, ways);
    int64_t open = (int64_t)q - 1;
    for (size_t w = 0; w < n_ways; w++) {
        int64_t u = ref_way_open_until(x, &ways[w], q);
        if (u > open)
            open = u;
    }
    for (int64_t t = (int64_t)q; t <= open; t++)
        x->alive[first] |= UINT64_C(1) << t;

    for (size_t w = 0; w < n_ways && !x->overflow; w++) {
        const struct ref_way *wy = &ways[w];
        uint32_t mask = p->steps[wy->j].mask;
        uint32_t nc = wy->j == k ? c + 1 : 1;
        size_t limit = x->n; /* candidates must be < limit */
        if (wy->neg_kind == 1 && (q + 1 >= x->n || ref_in(x, wy->neg, q + 1)))
            continue;
        if (wy->neg_kind == 2)
            limit = ref_next_in(x, wy->neg, q);
        if (wy->c == REF_STRICT) {
            size_t f = q + 1;
            if (f <= limit && f < x->n && ref_in(x, mask, f) && ref_in_window(x, first, f)) {
                if (f < limit)
                    ref_take(x, wy->j, nc, f);
                else
                    ref_take_final(x, wy->j, nc, f);
            }
        } else if (wy->c == REF_RELAXED) {
            size_t f = ref_next_in(x, mask, q);
            if (f < limit && ref_in_window(x, first, f))
                ref_take(x, wy->j, nc, f);
            else if (f == limit && f < x->n && ref_in_window(x, first, f))
                ref_take_final(x, wy->j, nc, f);
        } else {
            for (size_t f = q + 1; f < limit && !x->overflow; f++)
                if (ref_in(x, mask, f) && ref_in_window(x, first, f))
                    ref_take(x, wy->j, nc, f);
            if (limit < x->n && ref_in(x, mask, limit) && ref_in_window(x, first, limit))
                ref_take_final(x, wy->j, nc, limit);
        }
    }
}

static void ref_enumerate(struct ref_ctx *x)
{
    const struct ref_pattern *p = x->p;
    for (size_t s = 0; s < x->n && !x->overflow; s++) {
        for (size_t j = 0; j < p->n_steps; j++) {
            if (ref_in(x, p->steps[j].mask, s)) {
                x->cur.n = 0;
                ref_take(x, (int)j, 1, s);
            }
            if (!p->steps[j].optional)
                break;
        }
    }
}

/* ------------------------------------------------------- skip strategies */

struct ref_sim {
    const struct ref_ctx *x;
    /* the replayed choice sequence: taken[i] of n_alts[i] at tie point i */
    uint32_t taken[REF_MAX_CHOICES];
    uint32_t n_alts[REF_MAX_CHOICES];
    size_t n_choices;
    size_t depth;
    bool too_deep;
    uint64_t pruned;  /* first events whose runs were discarded */
    bool *held;       /* per match in x->done */
    struct ref_matches out;
};

static size_t ref_first_of_step(const struct ref_match *m, int step, bool last)
{
    size_t r = SIZE_MAX;
    for (uint32_t i = 0; i < m->n; i++)
        if (m->step[i] == step && (last || r == SIZE_MAX))
            r = m->ev[i];
    return r;
}

static bool ref_start_alive(const struct ref_sim *sm, size_t s, size_t after, size_t now)
{
    const struct ref_ctx *x = sm->x;
    if ((sm->pruned >> s) & 1u)
        return false;
    if (!((x->alive[s] >> after) & 1u))
        return false;
    return x->p->within <= 0 || x->ts[now] - x->ts[s] < x->p->within;
}

/* Release held matches (FlinkCEP processMatchesAccordingToSkipStrategy):
 * runs alive after event `after`, time at event `now`. */
static void ref_release(struct ref_sim *sm, size_t after, size_t now)
{
    const struct ref_ctx *x = sm->x;
    const struct ref_pattern *p = x->p;
    for (;;) {
        size_t min_start = SIZE_MAX, n_cand = 0;
        for (size_t i = 0; i < x->done.n; i++) {
            if (!sm->held[i])
                continue;
            size_t s = x->done.v[i].ev[0];
            if (s < min_start) {
                min_start = s;
                n_cand = 0;
            }
            if (s == min_start)
                n_cand++;
        }
        if (min_start == SIZE_MAX)
            return;
        for (size_t s = 0; s <= after && s < min_start; s++)
            if (ref_start_alive(sm, s, after, now))
                return; /* an earlier-started run could still precede it */
        /* Pick one of the tied candidates (a choice point). */
        uint32_t pick = 0;
        if (n_cand > 1) {
            if (sm->depth >= REF_MAX_CHOICES) {
                sm->too_deep = true;
            } else {
                if (sm->depth == sm->n_choices) {
                    sm->taken[sm->n_choices] = 0;
                    sm->n_alts[sm->n_choices++] = (uint32_t)n_cand;
                }
                pick = sm->taken[sm->depth++];
            }
        }
        size_t mi = SIZE_MAX;
        for (size_t i = 0; i < x->done.n; i++) {
            if (sm->held[i] && x->done.v[i].ev[0] == min_start && pick-- == 0) {
                mi = i;
                break;
            }
        }
        const struct ref_match *m = &x->done.v[mi];
        sm->held[mi] = false;
        ref_matches_push(&sm->out, m);
        size_t pid = SIZE_MAX;
        bool strict = false;
        switch (p->skip) {
        case REF_TO_NEXT:
            pid = m->ev[0];
            break;
        case REF_PAST_LAST:
            pid = m->ev[m->n - 1];
            break;
        case REF_TO_FIRST:
            pid = ref_first_of_step(m, p->skip_step, false);
            strict = true;
            break;
        case REF_TO_LAST:
            pid = ref_first_of_step(m, p->skip_step, true);
            strict = true;
            break;
        default:
            break;
        }
        if (pid == SIZE_MAX)
            continue;
        for (size_t s = 0; s < x->n; s++)
            if (strict ? s < pid : s <= pid)
                sm->pruned |= UINT64_C(1) << s;
        for (size_t i = 0; i < x->done.n; i++)
            if (sm->held[i] && ((sm->pruned >> x->done.v[i].ev[0]) & 1u))
                sm->held[i] = false;
    }
}

static void ref_simulate(struct ref_sim *sm)
{
    const struct ref_ctx *x = sm->x;
    bool no_skip = x->p->skip == REF_NO_SKIP;
    sm->pruned = 0;
    sm->depth = 0;
    sm->out.n = 0;
    memset(sm->held, 0, (x->done.n + 1) * sizeof(*sm->held));
    for (size_t t = 0; t < x->n; t++) {
        if (t > 0 && !no_skip)
            ref_release(sm, t - 1, t); /* advanceTime(ts[t]) */
        for (size_t i = 0; i < x->done.n; i++) {
            const struct ref_match *m = &x->done.v[i];
            if (m->ev[m->n - 1] != t || ((sm->pruned >> m->ev[0]) & 1u))
                continue;
            if (no_skip)
                ref_matches_push(&sm->out, m);
            else
                sm->held[i] = true;
        }
        if (!no_skip)
            ref_release(sm, t, t);
    }
}

/* Next choice sequence in odometer order; false when all were tried. */
static bool ref_next_choices(struct ref_sim *sm)
{
    while (sm->n_choices > 0) {
        size_t i = sm->n_choices - 1;
        if (sm->taken[i] + 1 < sm->n_alts[i]) {
            sm->taken[i]++;
            return true;
        }
        sm->n_choices--;
    }
    return false;
}

static void ref_add_outcome(struct ref_result *r, struct ref_matches *m)
{
    ref_matches_sort(m);
    for (size_t i = 0; i < r->n_outcomes; i++)
        if (ref_matches_equal(&r->outcomes[i], m, true))
            return;
    if (r->n_outcomes == REF_MAX_OUTCOMES) {
        r->inconclusive = true;
        return;
    }
    struct ref_matches *o = &r->outcomes[r->n_outcomes++];
    memset(o, 0, sizeof(*o));
    for (size_t i = 0; i < m->n; i++)
        ref_matches_push(o, &m->v[i]);
}

void ref_run(const struct ref_pattern *p, const uint32_t *sym, const int64_t *ts, size_t n,
             struct ref_result *out)
{
    struct ref_ctx *x = cep_calloc(1, sizeof(*x));
    memset(out, 0, sizeof(*out));
    x->p = p;
    x->sym = sym;
    x->ts = ts;
    x->n = n > REF_MAX_EVENTS ? REF_MAX_EVENTS : n;
    if (n > REF_MAX_EVENTS || !ref_pattern_supported(p, NULL)) {
        out->inconclusive = true;
        cep_free(x);
        return;
    }
    ref_enumerate(x);
    if (x->overflow) {
        out->inconclusive = true;
        ref_matches_free(&x->done);
        cep_free(x);
        return;
    }
    struct ref_sim sm;
    memset(&sm, 0, sizeof(sm));
    sm.x = x;
    sm.held = cep_calloc(x->done.n + 1, sizeof(*sm.held));
    size_t replays = 0;
    do {
        ref_simulate(&sm);
        if (sm.too_deep)
            out->inconclusive = true;
        ref_add_outcome(out, &sm.out);
        if (++replays >= REF_MAX_REPLAYS) {
            out->inconclusive = true;
            break;
        }
    } while (ref_next_choices(&sm));
    ref_matches_free(&sm.out);
    cep_free(sm.held);
    ref_matches_free(&x->done);
    cep_free(x);
}
