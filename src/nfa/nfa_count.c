/* SPDX-License-Identifier: Apache-2.0
 * Counting keys (emit TALLY): the matches an event completes are counted,
 * with their earliest and latest first events, instead of being built, so
 * the cost per event does not grow with the number of partial matches
 * (CORE, VLDB 2022, in spirit: a shared representation, nothing
 * enumerated).  When no condition refers to the partial match, a run's
 * future depends only on its state, and its expiry (a rule `within`, the
 * only bound nfa_spec_countable allows) only on its first event; so runs
 * are interchangeable per state and first event, and an event acts on the
 * vector "runs per state" as a linear map M_e (counted edges of the
 * decision graph that fire, the same graph nfa_run.c follows per run)
 * plus the runs it starts.  Over the window of live first events the
 * vector is the composition of those affine maps, which a two-stack
 * sliding-window aggregation keeps in amortized O(states^3) per event at
 * worst (far less in practice: an event's map has few edges per row):
 * the newest events fold into one map ("back"); when the oldest start
 * expires, the back elements are turned once into suffix vectors
 * ("front") read back in O(1).  Numbers are counts saturated at
 * UINT64_MAX (saturation is a semiring homomorphism of the naturals, so
 * every count below it is exact), plus, per state, the least and greatest
 * ordinal of the first events its runs started at (min / max semirings
 * over the same support).  An event that leaves every state as it is and
 * starts nothing is not stored; an element at the head of the window that
 * starts nothing is dropped at once (nothing older is left to map).
 * An event's map depends only on which conditions hold, so with few
 * conditions it is computed once per combination and then looked up
 * (every condition is then evaluated once per event, which the
 * type-mismatch counters see).
 * Assumes, like the engine, that a key's events come in time order.
 * Tested by: tests/unit/check_nfa_count.c */
#include "cepd/cep_common.h"
#include "cepd/nfa.h"

#include <string.h>

#include "cepd/ckpt.h"
#include "nfa_int.h"

#define CNT_NO_LO UINT64_MAX /* least ordinal of no run */
#define CNT_NO_HI 0          /* greatest ordinal of no run (ordinals start at 1) */
#define CNT_SNAP_VERSION 2   /* nfa_snap.c writes version 1 records */

#define CNT_MEMO_EXPRS 6

/* What an event does: its map (S*S edge counts, then S starts) and, per
 * dimension and for the start run (index S), the matches it completes. */
struct cnt_evmap {
    uint8_t *map;
    uint32_t *comp;
    bool known;     /* memo entries: computed */
    bool starts;    /* starts runs */
    bool identity;  /* leaves every run where it is and starts nothing */
    bool completes; /* completes some run */
};

/* One stored event of the window: its first-event role and ordinal. */
struct cnt_el {
    struct evt *ev; /* referenced when the event starts runs, else NULL */
    uint64_t ord;
};

struct nfa_cnt {
    uint32_t S;     /* dimensions, p->cnt_n_dims */
    uint32_t msz;   /* bytes of one element's map: S*S edge counts, then S starts */
    /* An event's map depends only on which of the program's conditions
     * hold: with at most CNT_MEMO_EXPRS of them, maps are kept by that
     * bit set (memo[bits], computed the first time it is seen). */
    struct cnt_evmap *memo;
    size_t n_memo;
    uint8_t *memo_map;   /* the entries' maps and completions, one block each */
    uint32_t *memo_comp;
    /* The window, oldest first: rings of cap elements, the first n_front
     * of them the front (fv: their suffix vectors c, lo, hi of S each). */
    struct cnt_el *el;
    uint8_t *map;
    uint64_t *fv;
    size_t cap, head, n, n_front;
    uint64_t next_ord;
    /* The back: the composition of the elements after the front, an
     * affine map (bm S*S, then bc, blo, bhi). */
    uint64_t *bm, *bc, *blo, *bhi;
    /* Scratch: a vector, and a map being composed (an event's map, when
     * there is no memo, goes to memo[n_memo]). */
    uint64_t *v;    /* c, lo, hi */
    uint64_t *g;    /* S*S, then c, lo, hi */
};

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    uint64_t r;
    return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
    uint64_t r;
    return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

/* Identity map, no starts. */
static void map_identity(uint32_t S, uint64_t *m, uint64_t *c, uint64_t *lo, uint64_t *hi)
{
    memset(m, 0, (size_t)S * S * sizeof(*m));
    for (uint32_t i = 0; i < S; i++) {
        m[i * S + i] = 1;
        c[i] = 0;
        lo[i] = CNT_NO_LO;
        hi[i] = CNT_NO_HI;
    }
}

/* Number the dimensions of counting program p (see nfa_prog.cnt_dim). */
void nfa_cnt_prog_init(struct nfa_prog *p)
{
    p->cnt_dim = cep_malloc(p->n_states * sizeof(*p->cnt_dim));
    p->cnt_state = cep_malloc(p->n_states * sizeof(*p->cnt_state));
    p->cnt_n_dims = 0;
    for (uint32_t i = 0; i < p->n_states; i++)
        p->cnt_dim[i] = NFA_NONE;
    for (uint32_t i = 0; i < p->n_edges; i++) {
        const struct nfa_edge *e = &p->edges[i];
        if (e->action != NFA_ACT_PROCEED && p->states[e->target].kind != NFA_ST_FINAL &&
            p->cnt_dim[e->target] == NFA_NONE) {
            p->cnt_state[p->cnt_n_dims] = e->target;
            p->cnt_dim[e->target] = p->cnt_n_dims++;
        }
    }
}

struct nfa_cnt *nfa_cnt_new(const struct nfa_prog *p)
{
    struct nfa_cnt *c = cep_calloc(1, sizeof(*c));
    c->S = p->cnt_n_dims;
    uint32_t S = c->S;
    c->msz = S * S + S;
    /* (+ 1: S is 0 when every take of the pattern completes it) */
    c->bm = cep_malloc(((size_t)S * S + 3 * S + 1) * sizeof(uint64_t));
    c->bc = c->bm + (size_t)S * S;
    c->blo = c->bc + S;
    c->bhi = c->blo + S;
    c->n_memo = p->n_exprs <= CNT_MEMO_EXPRS ? (size_t)1 << p->n_exprs : 0;
    c->memo = cep_calloc(c->n_memo + 1, sizeof(*c->memo));
    c->memo_map = cep_malloc((c->n_memo + 1) * ((size_t)c->msz + 1));
    c->memo_comp = cep_malloc((c->n_memo + 1) * (S + 1) * sizeof(*c->memo_comp));
    for (size_t i = 0; i <= c->n_memo; i++) {
        c->memo[i].map = c->memo_map + i * ((size_t)c->msz + 1);
        c->memo[i].comp = c->memo_comp + i * (S + 1);
    }
    c->v = cep_malloc((3 * (size_t)S + 1) * sizeof(uint64_t));
    c->g = cep_malloc(((size_t)S * S + 3 * S + 1) * sizeof(uint64_t));
    nfa_cnt_reset(c);
    return c;
}

/* Forget everything; the window must be empty (the key is idle). */
void nfa_cnt_reset(struct nfa_cnt *c)
{
    CEP_ASSERT(c->n == 0);
    c->head = 0;
    c->n_front = 0;
    c->next_ord = 1;
    map_identity(c->S, c->bm, c->bc, c->blo, c->bhi);
}

void nfa_cnt_free(struct nfa_cnt *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        evt_unref(c->el[(c->head + i) % c->cap].ev);
    cep_free(c->el);
    cep_free(c->map);
    cep_free(c->fv);
    cep_free(c->bm);
    cep_free(c->memo_map);
    cep_free(c->memo_comp);
    cep_free(c->memo);
    cep_free(c->v);
    cep_free(c->g);
    cep_free(c);
}

/* ---- the window ring ---------------------------------------------- */

static size_t at(const struct nfa_cnt *c, size_t i)
{
    size_t j = c->head + i;
    return j >= c->cap ? j - c->cap : j;
}

static void ring_grow(struct nfa_cnt *c)
{
    size_t cap = c->cap ? 2 * c->cap : 8; /* small: a key often holds a few */
    struct cnt_el *el = cep_malloc(cap * sizeof(*el));
    uint8_t *map = cep_malloc(cap * c->msz);
    uint64_t *fv = cep_malloc(cap * 3 * c->S * sizeof(*fv));
    for (size_t i = 0; i < c->n; i++) {
        size_t j = at(c, i);
        el[i] = c->el[j];
        memcpy(map + i * c->msz, c->map + j * c->msz, c->msz);
        if (i < c->n_front)
            memcpy(fv + i * 3 * c->S, c->fv + j * 3 * c->S, 3 * c->S * sizeof(*fv));
    }
    cep_free(c->el);
    cep_free(c->map);
    cep_free(c->fv);
    c->el = el;
    c->map = map;
    c->fv = fv;
    c->cap = cap;
    c->head = 0;
}

/* Drop the oldest element (its event reference with it). */
static void pop_head(struct nfa_cnt *c)
{
    evt_unref(c->el[c->head].ev);
    c->el[c->head].ev = NULL;
    c->head = at(c, 1);
    c->n--;
    if (c->n_front)
        c->n_front--;
}

/* An element at the head that starts nothing maps only runs started
 * before it, and there are none left: drop it (with the front empty, the
 * back map is only ever applied to zero, where it never looks at it). */
static void pop_idle_heads(struct nfa_cnt *c)
{
    while (c->n && !c->el[c->head].ev)
        pop_head(c);
}

/* Starts of an element's map: S counts after the S*S edge counts. */
static bool map_starts(const struct nfa_cnt *c, const uint8_t *m)
{
    for (uint32_t t = 0; t < c->S; t++)
        if (m[c->S * c->S + t])
            return true;
    return false;
}

/* The rows of map m that are not the identity's (runs in t stay, nothing
 * joins), as a bit set (S <= NFA_COUNT_MAX_STATES). */
static uint32_t rows_changed(const struct nfa_cnt *c, const uint8_t *m)
{
    uint32_t S = c->S, bits = 0;
    for (uint32_t t = 0; t < S; t++) {
        bool unit = !m[S * S + t];
        for (uint32_t s = 0; unit && s < S; s++)
            unit = m[t * S + s] == (s == t);
        bits |= (uint32_t)!unit << t;
    }
    return bits;
}

/* w * x, saturated; w is an edge count, almost always 1. */
static uint64_t sat_mul_w(uint8_t w, uint64_t x)
{
    return w == 1 ? x : sat_mul(w, x);
}

/* back = f ∘ back, for f the map m of an element with ordinal ord: each
 * new row t sums the old rows s with weight m[t][s] (rows f leaves as
 * they are are skipped; new rows go to g first, old ones are still read). */
static void back_push(struct nfa_cnt *c, const uint8_t *m, uint64_t ord)
{
    uint32_t S = c->S, changed = rows_changed(c, m);
    uint64_t *g = c->g, *gc = g + (size_t)S * S, *glo = gc + S, *ghi = glo + S;
    for (uint32_t t = 0; t < S; t++) {
        if (!(changed >> t & 1))
            continue;
        uint64_t *gr = g + (size_t)t * S;
        uint8_t st = m[S * S + t];
        memset(gr, 0, S * sizeof(*gr));
        gc[t] = st;
        glo[t] = st ? ord : CNT_NO_LO;
        ghi[t] = st ? ord : CNT_NO_HI;
        for (uint32_t s = 0; s < S; s++) {
            uint8_t w = m[t * S + s];
            if (!w)
                continue;
            const uint64_t *br = c->bm + (size_t)s * S;
            for (uint32_t j = 0; j < S; j++)
                gr[j] = sat_add(gr[j], sat_mul_w(w, br[j]));
            gc[t] = sat_add(gc[t], sat_mul_w(w, c->bc[s]));
            glo[t] = min_u64(glo[t], c->blo[s]);
            ghi[t] = max_u64(ghi[t], c->bhi[s]);
        }
    }
    for (uint32_t t = 0; t < S; t++) {
        if (!(changed >> t & 1))
            continue;
        memcpy(c->bm + (size_t)t * S, g + (size_t)t * S, S * sizeof(*g));
        c->bc[t] = gc[t];
        c->blo[t] = glo[t];
        c->bhi[t] = ghi[t];
    }
}

/* Turn the back into the front: walking from the newest element to the
 * oldest, G = G ∘ f_j, and element j keeps G applied to zero (the runs
 * started at j or later, as they are now).  The back becomes empty. */
static void flip(struct nfa_cnt *c)
{
    uint32_t S = c->S;
    uint64_t *g = c->g, *gc = g + (size_t)S * S, *glo = gc + S, *ghi = glo + S;
    uint64_t *row = c->v; /* one row of G being rebuilt */
    map_identity(S, g, gc, glo, ghi);
    for (size_t i = c->n; i-- > c->n_front;) {
        size_t j = at(c, i);
        const uint8_t *m = c->map + j * c->msz;
        uint64_t ord = c->el[j].ord;
        for (uint32_t r = 0; r < S; r++) {
            uint64_t *gr = g + (size_t)r * S;
            /* (G M)[r][s] = sum_t G[r][t] m[t][s]; constants via the starts */
            memset(row, 0, S * sizeof(*row));
            for (uint32_t t = 0; t < S; t++) {
                if (!gr[t])
                    continue;
                for (uint32_t s = 0; s < S; s++) {
                    uint8_t w = m[t * S + s];
                    if (w)
                        row[s] = sat_add(row[s], sat_mul_w(w, gr[t]));
                }
                uint8_t st = m[S * S + t];
                if (st) {
                    gc[r] = sat_add(gc[r], sat_mul_w(st, gr[t]));
                    glo[r] = min_u64(glo[r], ord);
                    ghi[r] = max_u64(ghi[r], ord);
                }
            }
            memcpy(gr, row, S * sizeof(*row));
        }
        uint64_t *f = c->fv + j * 3 * S;
        memcpy(f, gc, 3 * S * sizeof(*f));
    }
    c->n_front = c->n;
    map_identity(S, c->bm, c->bc, c->blo, c->bhi);
}

/* c->v = the runs of the window now: the back applied to the front's
 * suffix vector (zero when the front is empty). */
static void window_runs(struct nfa_cnt *c)
{
    uint32_t S = c->S;
    uint64_t *vc = c->v, *vlo = vc + S, *vhi = vlo + S;
    if (!c->n_front) {
        memcpy(vc, c->bc, 3 * S * sizeof(*vc));
        return;
    }
    const uint64_t *f = c->fv + c->head * 3 * S;
    const uint64_t *fc = f, *flo = f + S, *fhi = flo + S;
    for (uint32_t t = 0; t < S; t++) {
        uint64_t n = c->bc[t], lo = c->blo[t], hi = c->bhi[t];
        for (uint32_t s = 0; s < S; s++) {
            uint64_t w = c->bm[t * S + s];
            if (!w || !fc[s])
                continue;
            n = sat_add(n, sat_mul(w, fc[s]));
            lo = min_u64(lo, flo[s]);
            hi = max_u64(hi, fhi[s]);
        }
        vc[t] = n;
        vlo[t] = lo;
        vhi[t] = hi;
    }
}

/* The event of an ordinal in the window (or ev, the current one). */
static struct evt *ord_event(const struct nfa_cnt *c, uint64_t ord, struct evt *ev)
{
    if (ord == c->next_ord)
        return ev;
    CEP_ASSERT(c->n && ord >= c->el[c->head].ord && ord - c->el[c->head].ord < c->n);
    struct evt *e = c->el[at(c, (size_t)(ord - c->el[c->head].ord))].ev;
    CEP_ASSERT(e);
    return e;
}

/* ---- one event ------------------------------------------------------ */

/* The decision graph of state s (dimension d, or S for the start run) on
 * k->w->ev, as run_step in nfa_run.c follows it: edge counts into em->map
 * (from d, or as starts) and completions into em->comp[d].  The
 * take / ignore edges are collected first: nfa_final_after_proceed uses
 * the same stack. */
static void state_edges(struct nfa_key *k, struct nfa_cnt *c, struct cnt_evmap *em, uint32_t s,
                        uint32_t d, bool is_start)
{
    const struct nfa_prog *p = k->p;
    uint32_t S = c->S;
    size_t n_out = nfa_decision_edges(k, s, is_start);
    for (size_t i = 0; i < n_out; i++) {
        const struct nfa_edge *e = &p->edges[k->w->out[i]];
        bool final = p->states[e->target].kind == NFA_ST_FINAL;
        if (final || (e->action == NFA_ACT_TAKE && nfa_final_after_proceed(k, e->target)))
            em->comp[d]++;
        if (final)
            continue;
        uint32_t t = p->cnt_dim[e->target];
        uint8_t *w = is_start ? &em->map[S * S + t] : &em->map[t * S + d];
        CEP_ASSERT(*w < UINT8_MAX); /* prog_why_not_count bounds the walk */
        (*w)++;
    }
}

/* Pop the expired starts (FlinkCEP's advanceTime for a FIRST_AND_LAST
 * window; counting keys report no timeouts). */
void nfa_cnt_advance(struct nfa_key *k, int64_t now)
{
    struct nfa_cnt *c = k->cnt;
    if (now < k->now)
        return;
    k->now = now;
    int64_t w = k->p->within;
    while (c->n) {
        const struct evt *ev = c->el[c->head].ev;
        int64_t d;
        if (!__builtin_sub_overflow(now, ev->time, &d) ? d < w : now <= ev->time)
            break;
        if (!c->n_front)
            flip(c);
        pop_head(c);
        pop_idle_heads(c);
    }
}

/* What k->w->ev does: from the memo when the program's conditions are few,
 * else computed into the scratch entry memo[n_memo]. */
static const struct cnt_evmap *event_map(struct nfa_key *k, struct nfa_cnt *c)
{
    uint32_t S = c->S;
    struct cnt_evmap *em = &c->memo[c->n_memo];
    if (c->n_memo) {
        size_t bits = 0;
        for (uint32_t i = 0; i < k->p->n_exprs; i++)
            bits |= (size_t)nfa_expr_true(k, (uint16_t)i) << i;
        em = &c->memo[bits];
        if (em->known)
            return em;
    }
    memset(em->map, 0, c->msz);
    memset(em->comp, 0, (S + 1) * sizeof(*em->comp));
    for (uint32_t d = 0; d < S; d++)
        state_edges(k, c, em, k->p->cnt_state[d], d, false);
    state_edges(k, c, em, k->p->start, S, true);
    em->starts = map_starts(c, em->map);
    em->identity = rows_changed(c, em->map) == 0;
    em->completes = false;
    for (uint32_t d = 0; d <= S; d++)
        em->completes |= em->comp[d] > 0;
    em->known = c->n_memo > 0;
    return em;
}

/* The matches ev completes go to on_count, then ev joins the window. */
void nfa_cnt_process(struct nfa_key *k, struct evt *ev, const struct nfa_env *env)
{
    struct nfa_cnt *c = k->cnt;
    uint32_t S = c->S;
    k->w->ev = ev;
    nfa_ctx_set(k, NFA_NONE);
    const struct cnt_evmap *em = event_map(k, c);

    if (em->completes) {
        window_runs(c);
        const uint64_t *vc = c->v, *vlo = vc + S, *vhi = vlo + S;
        uint64_t n = em->comp[S];
        uint64_t lo = n ? c->next_ord : CNT_NO_LO, hi = n ? c->next_ord : CNT_NO_HI;
        for (uint32_t s = 0; s < S; s++) {
            if (!em->comp[s] || !vc[s])
                continue;
            n = sat_add(n, sat_mul(em->comp[s], vc[s]));
            lo = min_u64(lo, vlo[s]);
            hi = max_u64(hi, vhi[s]);
        }
        if (n && env->on_count) {
            struct nfa_count out = {n, ord_event(c, lo, ev), ord_event(c, hi, ev), ev};
            env->on_count(env->ud, &out);
        }
    }

    /* Store ev unless its map is the identity without starts. */
    if (!em->identity && (em->starts || c->n)) {
        if (c->n == c->cap)
            ring_grow(c);
        size_t j = at(c, c->n);
        c->el[j].ev = em->starts ? evt_ref(ev) : NULL;
        c->el[j].ord = c->next_ord;
        memcpy(c->map + j * c->msz, em->map, c->msz);
        c->n++;
        back_push(c, em->map, c->next_ord);
        pop_idle_heads(c);
    }
    c->next_ord++;
    k->w->ev = NULL;
}

int64_t nfa_cnt_deadline(const struct nfa_key *k)
{
    const struct nfa_cnt *c = k->cnt;
    if (!c->n)
        return CEP_TIME_MAX;
    int64_t t, w = k->p->within;
    if (__builtin_add_overflow(c->el[c->head].ev->time, w, &t))
        return CEP_TIME_MAX;
    return t;
}

bool nfa_cnt_idle(const struct nfa_key *k)
{
    return k->cnt->n == 0;
}

/* Open partial matches (saturated at SIZE_MAX). */
size_t nfa_cnt_n_partial(const struct nfa_key *k)
{
    struct nfa_cnt *c = k->cnt;
    window_runs(c);
    uint64_t n = 0;
    for (uint32_t s = 0; s < c->S; s++)
        n = sat_add(n, c->v[s]);
    return n > SIZE_MAX ? SIZE_MAX : (size_t)n;
}

size_t nfa_cnt_bytes(const struct nfa_key *k)
{
    const struct nfa_cnt *c = k->cnt;
    size_t S = c->S;
    size_t b = sizeof(*c) + c->cap * (sizeof(struct cnt_el) + c->msz + 3 * S * sizeof(uint64_t));
    b += 2 * (S * S + 3 * S) * sizeof(uint64_t) + 3 * S * sizeof(uint64_t);
    b += (c->n_memo + 1) * (sizeof(struct cnt_evmap) + c->msz + (S + 1) * sizeof(uint32_t));
    for (size_t i = 0; i < c->n; i++) {
        const struct evt *ev = c->el[at(c, i)].ev;
        if (ev)
            b += evt_mem_bytes(ev);
    }
    return b;
}

void nfa_cnt_each_event(const struct nfa_key *k, void (*fn)(void *ud, struct evt *ev), void *ud)
{
    const struct nfa_cnt *c = k->cnt;
    for (size_t i = 0; i < c->n; i++) {
        struct evt *ev = c->el[at(c, i)].ev;
        if (ev)
            fn(ud, ev);
    }
}

/* ---- checkpoints ---------------------------------------------------- */

/* Record layout: u8 version (2), sv now, uv n, then per element, oldest
 * first: bool starts, its event when it does (ckpt_put_evt), and its map
 * (S*S edge counts then S starts, as bytes).  The front / back split and
 * the ordinals are not written: loading folds every element into the
 * back, which gives the same numbers (the arithmetic is exact), and
 * ordinals only need their order. */
void nfa_cnt_save(const struct nfa_key *k, struct ckpt_w *w, struct ckpt_evtab *t)
{
    const struct nfa_cnt *c = k->cnt;
    ckpt_put_u8(w, CNT_SNAP_VERSION);
    ckpt_put_sv(w, k->now);
    ckpt_put_uv(w, c->n);
    for (size_t i = 0; i < c->n; i++) {
        size_t j = at(c, i);
        ckpt_put_bool(w, c->el[j].ev != NULL);
        if (c->el[j].ev)
            ckpt_put_evt(w, t, c->el[j].ev);
        ckpt_put_bytes(w, c->map + j * c->msz, c->msz);
    }
}

/* Read a record of nfa_cnt_save into k (idle).  CEP_ERR, with r->err set
 * and k left idle, on a malformed record. */
int nfa_cnt_load(struct nfa_key *k, struct ckpt_r *r, struct ckpt_evtab *t)
{
    struct nfa_cnt *c = k->cnt;
    CEP_ASSERT(c->n == 0);
    if (ckpt_get_u8(r) != CNT_SNAP_VERSION && !r->err)
        ckpt_r_fail(r, "nfa: not a counting record");
    int64_t now = ckpt_get_sv(r);
    uint64_t n = ckpt_get_uv_max(r, (uint64_t)(r->end - r->p) / (1 + c->msz), "nfa: window size");
    for (uint64_t i = 0; i < n && !r->err; i++) {
        bool starts = ckpt_get_bool(r);
        struct evt *ev = starts ? ckpt_get_evt(r, t) : NULL;
        size_t len = 0;
        const char *m = ckpt_get_bytes(r, &len);
        if (!r->err && (len != c->msz || map_starts(c, (const uint8_t *)m) != starts ||
                        (!i && !starts)))
            ckpt_r_fail(r, "nfa: malformed window element");
        if (r->err) {
            evt_unref(ev);
            break;
        }
        if (c->n == c->cap)
            ring_grow(c);
        size_t j = at(c, c->n);
        c->el[j].ev = ev;
        c->el[j].ord = c->next_ord;
        memcpy(c->map + j * c->msz, m, c->msz);
        c->n++;
        back_push(c, (const uint8_t *)m, c->next_ord++);
    }
    if (r->err) {
        while (c->n)
            pop_head(c);
        nfa_cnt_reset(c);
        return CEP_ERR;
    }
    k->now = now;
    return CEP_OK;
}
