/* SPDX-License-Identifier: Apache-2.0
 * Unit tests of counting keys (src/nfa/nfa_count.c, emit TALLY): on random
 * streams (fixed seeds) and several pattern shapes, the count, earliest
 * and latest first event and completing event reported per event equal
 * what the enumerating runtime's matches give for the same event, as do
 * the open partial matches; plus saturation past 2^64 matches, expiry
 * releasing every event, checkpoints cut at every point of a stream,
 * which specs may count, and the largest pattern that may (its edge
 * weights near the 8 bits a map keeps).
 * Tested by: itself (make check). */
#include "cepd/cep_common.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cepd/ckpt.h"
#include "cepd/diag.h"
#include "cepd/evt.h"
#include "cepd/expr.h"
#include "cepd/nfa.h"
#include "cepd/sbuf.h"

#define MAX_STEPS 6
#define MAX_EVS   64

/* A step of a shape: when, quantifier, contiguity. */
struct shape_step {
    const char *when;
    const char *until;
    uint32_t min, max;
    bool optional, greedy;
    enum nfa_contig after, loop;
};

struct shape {
    const char *name;
    struct shape_step s[MAX_STEPS];
    size_t n;
    uint64_t min_total, min_busy; /* matches, and events completing several, over all streams */
};

#define ANY NFA_CONTIG_ANY
#define REL NFA_CONTIG_RELAXED
#define STR NFA_CONTIG_STRICT
#define INF NFA_UNBOUNDED

static const struct shape shapes[] = {
    {"A, B+ any, C any",
     {{"name == 'a'", NULL, 1, 1, 0, 0, REL, REL},
      {"name in ['b', 'ab', 'bc']", NULL, 1, INF, 0, 0, ANY, ANY},
      {"name in ['c', 'bc']", NULL, 1, 1, 0, 0, ANY, REL}},
     3, 100, 10},
    {"A, B+ relaxed, C relaxed",
     {{"name in ['a', 'ab']", NULL, 1, 1, 0, 0, REL, REL},
      {"name in ['b', 'ab', 'bc']", NULL, 1, INF, 0, 0, ANY, REL},
      {"name in ['c', 'bc']", NULL, 1, 1, 0, 0, REL, REL}},
     3, 100, 10},
    {"A, B{2,3} any, C strict",
     {{"name == 'a'", NULL, 1, 1, 0, 0, REL, REL},
      {"name in ['b', 'bc']", NULL, 2, 3, 0, 0, ANY, ANY},
      {"name in ['c', 'bc']", NULL, 1, 1, 0, 0, STR, REL}},
     3, 100, 10},
    {"A, B+ optional any, C any",
     {{"name in ['a', 'ab']", NULL, 1, 1, 0, 0, REL, REL},
      {"name == 'b'", NULL, 1, INF, 1, 0, ANY, ANY},
      {"name in ['c', 'bc']", NULL, 1, 1, 0, 0, ANY, REL}},
     3, 100, 10},
    {"A+ any until x, B any",
     {{"name in ['a', 'ab']", "name == 'x'", 1, INF, 0, 0, REL, ANY},
      {"name in ['b', 'bc']", NULL, 1, 1, 0, 0, ANY, REL}},
     2, 100, 10},
    {"A, B+ any greedy, C any",
     {{"name == 'a'", NULL, 1, 1, 0, 0, REL, REL},
      {"name in ['b', 'bc']", NULL, 1, INF, 0, 1, ANY, ANY},
      {"name in ['c', 'bc']", NULL, 1, 1, 0, 0, ANY, REL}},
     3, 100, 10},
    {"A, B, C strict",
     {{"name == 'a'", NULL, 1, 1, 0, 0, REL, REL},
      {"name in ['b', 'ab']", NULL, 1, 1, 0, 0, STR, REL},
      {"name == 'c'", NULL, 1, 1, 0, 0, STR, REL}},
     3, 30, 0},
    {"A, B+ any (last)",
     {{"name == 'a'", NULL, 1, 1, 0, 0, REL, REL},
      {"name in ['b', 'ab']", NULL, 1, INF, 0, 0, ANY, ANY}},
     2, 100, 10},
};

/* What one event produced: the summary of its matches. */
struct got {
    uint64_t n;
    uint64_t first, latest; /* seq of the earliest / latest first event */
    bool last_is_ev;
};

struct harness {
    struct evt_schema *schema;
    struct expr_rt *rt;
    struct nfa_work *work;
    struct expr_counters cnt;
    struct expr *exprs[2 * MAX_STEPS];
    size_t n_exprs;
    struct nfa_step_spec specs[MAX_STEPS];
    struct nfa_pattern_spec ps;
    struct nfa_prog *all, *count;
    struct nfa_env env_all, env_count;
    uint64_t evicted;
    struct evt *cur;   /* the event being processed */
    struct got g_all, g_count;
    size_t n_made;
};

static void on_match(void *ud, const struct nfa_match *m)
{
    struct harness *h = ud;
    ck_assert_uint_gt(m->n, 0);
    uint64_t s = m->events[0]->seq;
    struct got *g = &h->g_all;
    if (!g->n || s < g->first)
        g->first = s;
    if (!g->n || s > g->latest)
        g->latest = s;
    g->last_is_ev = (g->n == 0 || g->last_is_ev) && m->events[m->n - 1] == h->cur;
    g->n++;
}

static void on_count(void *ud, const struct nfa_count *c)
{
    struct harness *h = ud;
    ck_assert_uint_gt(c->n, 0);
    ck_assert_uint_eq(h->g_count.n, 0); /* one summary per event */
    h->g_count.n = c->n;
    h->g_count.first = c->first->seq;
    h->g_count.latest = c->latest->seq;
    h->g_count.last_is_ev = c->last == h->cur;
    ck_assert_int_le(c->first->time, c->latest->time);
}

static void harness_init(struct harness *h)
{
    memset(h, 0, sizeof(*h));
    h->schema = evt_schema_new();
    evt_schema_slot_dotted(h->schema, "name");
    h->rt = expr_rt_new();
    h->work = nfa_work_new();
    struct nfa_env e = {.rt = h->rt, .work = h->work, .counters = &h->cnt, .max_partial = 1000000,
                        .evicted = &h->evicted, .ud = h};
    h->env_all = e;
    h->env_all.on_match = on_match;
    h->env_count = e;
    h->env_count.on_count = on_count;
}

static struct expr *compile_cond(struct harness *h, const char *text, int step)
{
    if (!text)
        return NULL;
    struct expr_env env = {.schema = h->schema, .current_step = step};
    struct expr_src src = {.text = text, .len = strlen(text), .file = "case",
                           .base_line = 1, .base_col = 1};
    struct diag_list dl;
    diag_list_init(&dl);
    struct expr *e = expr_compile(&src, &env, &dl);
    if (!e)
        diag_print(&dl, stderr);
    diag_list_free(&dl);
    ck_assert_msg(e != NULL, "cannot compile %s", text);
    h->exprs[h->n_exprs++] = e;
    return e;
}

/* Compile shape sh twice: enumerating and counting. */
static void build(struct harness *h, const struct shape *sh, int64_t within)
{
    for (size_t i = 0; i < sh->n; i++) {
        const struct shape_step *t = &sh->s[i];
        struct nfa_step_spec *s = &h->specs[i];
        static const char *const names[] = {"s0", "s1", "s2", "s3", "s4", "s5"};
        memset(s, 0, sizeof(*s));
        s->name = names[i];
        s->index = (int)i;
        s->when = compile_cond(h, t->when, (int)i);
        s->until = compile_cond(h, t->until, (int)i);
        s->min = t->min;
        s->max = t->max;
        s->optional = t->optional;
        s->greedy = t->greedy;
        s->after = t->after;
        s->loop = t->loop;
    }
    struct nfa_pattern_spec ps = {.steps = h->specs, .n_steps = sh->n, .n_indexes = sh->n,
                                  .within = within, .skip = NFA_SKIP_NO_SKIP, .skip_step = -1};
    h->ps = ps;
    ck_assert_ptr_null(nfa_spec_countable(&ps));
    h->all = nfa_compile(&ps);
    ps.emit = NFA_EMIT_TALLY;
    h->count = nfa_compile(&ps);
    ck_assert(!nfa_prog_counting(h->all));
    ck_assert(nfa_prog_counting(h->count));
}

static void unbuild(struct harness *h)
{
    nfa_prog_free(h->all);
    nfa_prog_free(h->count);
    h->all = h->count = NULL;
    for (size_t i = 0; i < h->n_exprs; i++)
        expr_free(h->exprs[i]);
    h->n_exprs = 0;
}

static void harness_fini(struct harness *h)
{
    unbuild(h);
    expr_rt_free(h->rt);
    nfa_work_free(h->work);
    evt_schema_free(h->schema);
}

static struct evt *make_ev(struct harness *h, const char *name, int64_t time, uint64_t seq)
{
    struct evt *ev = evt_new();
    evt_reset(ev, name, strlen(name), h->schema->n_slots);
    ev->time = time;
    ev->seq = seq;
    ev->src_off = seq;
    ev->src_name = "case";
    ev->slots[0] = val_str(ev->raw, ev->raw_len);
    return ev;
}

static struct evt *reader_make(void *ud, uint32_t stream, int64_t time, uint64_t seq,
                               const char *src_name, uint64_t src_off, const char *raw,
                               size_t raw_len)
{
    struct harness *h = ud;
    ck_assert_uint_eq(stream, 0);
    ck_assert_str_eq(src_name, "case");
    ck_assert_uint_eq(src_off, seq);
    char name[8];
    ck_assert_uint_lt(raw_len, sizeof(name));
    memcpy(name, raw, raw_len);
    name[raw_len] = '\0';
    h->n_made++;
    return make_ev(h, name, time, seq);
}

static uint64_t rng_next(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

/* A random stream: names from a small alphabet, times that repeat. */
static int random_stream(struct harness *h, uint64_t *seed, struct evt **evs, int n)
{
    static const char *const alpha[] = {"a", "b", "c", "x", "ab", "bc", "b", "a", "y"};
    int64_t t = 100;
    for (int i = 0; i < n; i++) {
        t += (int64_t)(rng_next(seed) % 3);
        evs[i] = make_ev(h, alpha[rng_next(seed) % CEP_ARRAY_LEN(alpha)], t, (uint64_t)i);
    }
    return n;
}

static void step_key(struct harness *h, struct nfa_key *k, const struct nfa_env *env,
                     struct evt *ev)
{
    h->cur = ev;
    nfa_key_advance(k, ev->time, env);
    nfa_key_process(k, ev, env);
}

static void got_eq(const struct got *a, const struct got *b, const char *what, int i)
{
    ck_assert_msg(a->n == b->n, "%s: event %d: %llu matches, counted %llu", what, i,
                  (unsigned long long)a->n, (unsigned long long)b->n);
    if (!a->n)
        return;
    ck_assert_msg(a->first == b->first && a->latest == b->latest,
                  "%s: event %d: first %llu..%llu, counted %llu..%llu", what, i,
                  (unsigned long long)a->first, (unsigned long long)a->latest,
                  (unsigned long long)b->first, (unsigned long long)b->latest);
    ck_assert(a->last_is_ev && b->last_is_ev);
}

static void count_held(void *ud, struct evt *ev)
{
    (void)ev;
    (*(int *)ud)++;
}

/* ---- tests ---------------------------------------------------------- */

/* Every shape, 150 random streams each, against the enumerating runtime. */
START_TEST(test_random_vs_enumeration)
{
    const struct shape *sh = &shapes[_i];
    struct harness h;
    harness_init(&h);
    uint64_t seed = 0x5eed0000u + (uint64_t)_i;
    uint64_t total = 0, busy = 0;
    for (int trial = 0; trial < 150; trial++) {
        int64_t within = 4 + (int64_t)(rng_next(&seed) % 12);
        build(&h, sh, within);
        struct evt *evs[MAX_EVS];
        int n = random_stream(&h, &seed, evs, 30 + (int)(rng_next(&seed) % 20));
        struct nfa_key *ka = nfa_key_new(h.all), *kc = nfa_key_new(h.count);
        for (int i = 0; i < n; i++) {
            memset(&h.g_all, 0, sizeof(h.g_all));
            memset(&h.g_count, 0, sizeof(h.g_count));
            step_key(&h, ka, &h.env_all, evs[i]);
            step_key(&h, kc, &h.env_count, evs[i]);
            got_eq(&h.g_all, &h.g_count, sh->name, i);
            ck_assert_uint_eq(nfa_key_n_partial(ka), nfa_key_n_partial(kc));
            total += h.g_all.n;
            busy += h.g_all.n > 1;
        }
        ck_assert_uint_eq(h.evicted, 0);
        /* past the window: nothing open, every event released */
        nfa_key_advance(ka, evs[n - 1]->time + within, &h.env_all);
        nfa_key_advance(kc, evs[n - 1]->time + within, &h.env_count);
        ck_assert(nfa_key_idle(kc));
        ck_assert_int_eq(nfa_key_deadline(kc), CEP_TIME_MAX);
        ck_assert_uint_eq(nfa_key_n_partial(kc), 0);
        for (int i = 0; i < n; i++) {
            ck_assert_int_eq(evs[i]->refcnt, 1);
            evt_unref(evs[i]);
        }
        nfa_key_free(ka);
        nfa_key_free(kc);
        unbuild(&h);
    }
    /* the streams made matches, and events completing several of them */
    ck_assert_uint_ge(total, sh->min_total);
    ck_assert_uint_ge(busy, sh->min_busy);
    harness_fini(&h);
}
END_TEST

/* A, 70 B, C: 2^70 - 1 matches saturate; 63 B give exactly 2^63 - 1. */
START_TEST(test_saturation)
{
    struct harness h;
    harness_init(&h);
    build(&h, &shapes[0], 1000000);
    const int n_b[] = {63, 70};
    const uint64_t want[] = {(1ULL << 63) - 1, UINT64_MAX};
    for (int c = 0; c < 2; c++) {
        struct nfa_key *k = nfa_key_new(h.count);
        struct evt *evs[80];
        int n = 0;
        evs[n] = make_ev(&h, "a", 10, (uint64_t)n);
        n++;
        for (int i = 0; i < n_b[c]; i++, n++)
            evs[n] = make_ev(&h, "b", 10 + n, (uint64_t)n);
        evs[n] = make_ev(&h, "c", 10 + n, (uint64_t)n);
        n++;
        for (int i = 0; i < n; i++) {
            memset(&h.g_count, 0, sizeof(h.g_count));
            step_key(&h, k, &h.env_count, evs[i]);
        }
        ck_assert_uint_eq(h.g_count.n, want[c]);
        ck_assert_uint_eq(h.g_count.first, 0);
        ck_assert_uint_eq(h.g_count.latest, 0);
        ck_assert(h.g_count.last_is_ev);
        /* the key holds one event, a: the b and c start nothing */
        int held = 0;
        nfa_key_each_event(k, count_held, &held);
        ck_assert_int_eq(held, 1);
        ck_assert_int_eq(evs[0]->refcnt, 2);
        nfa_key_free(k);
        for (int i = 0; i < n; i++) {
            ck_assert_int_eq(evs[i]->refcnt, 1);
            evt_unref(evs[i]);
        }
    }
    harness_fini(&h);
}
END_TEST

static void save_key(const struct nfa_key *k, struct sbuf *out)
{
    sbuf_reset(out);
    struct ckpt_w w = {out};
    struct ckpt_evtab *t = ckpt_evtab_writer();
    nfa_key_save(k, &w, t);
    ckpt_evtab_free(t);
}

/* Run evs[from..n) through k, recording what each event reported. */
static void run_rest(struct harness *h, struct nfa_key *k, struct evt **evs, int from, int n,
                     struct got *out)
{
    for (int i = from; i < n; i++) {
        memset(&h->g_count, 0, sizeof(h->g_count));
        step_key(h, k, &h->env_count, evs[i]);
        out[i] = h->g_count;
    }
}

/* Save at every point of a stream, load into a fresh key, go on: the same
 * reports as without the cut, and the loaded key saves to the same bytes. */
START_TEST(test_snapshot_every_cut)
{
    struct harness h;
    harness_init(&h);
    build(&h, &shapes[0], 12);
    uint64_t seed = 77;
    struct evt *evs[MAX_EVS];
    int n = random_stream(&h, &seed, evs, 60);
    struct got ref[MAX_EVS], got[MAX_EVS];
    struct nfa_key *k = nfa_key_new(h.count);
    run_rest(&h, k, evs, 0, n, ref);
    nfa_key_free(k);
    struct sbuf rec, again;
    sbuf_init(&rec);
    sbuf_init(&again);
    size_t cuts_open = 0, matches = 0;
    for (int cut = 0; cut <= n; cut++) {
        struct nfa_key *old = nfa_key_new(h.count);
        run_rest(&h, old, evs, 0, cut, got);
        save_key(old, &rec);
        cuts_open += !nfa_key_idle(old);
        h.n_made = 0;
        struct ckpt_evtab *t = ckpt_evtab_reader(reader_make, &h);
        struct ckpt_r r;
        ckpt_r_init(&r, rec.buf, rec.len);
        struct nfa_key *nk = nfa_key_new(h.count);
        ck_assert_int_eq(nfa_key_load(nk, &r, t), CEP_OK);
        ck_assert_ptr_null(r.err);
        ck_assert(r.p == r.end);
        ckpt_evtab_free(t);
        save_key(nk, &again);
        ck_assert_uint_eq(again.len, rec.len);
        ck_assert(memcmp(again.buf, rec.buf, rec.len) == 0);
        ck_assert_int_eq(nfa_key_deadline(nk), nfa_key_deadline(old));
        ck_assert_uint_eq(nfa_key_n_partial(nk), nfa_key_n_partial(old));
        nfa_key_free(old);
        run_rest(&h, nk, evs, cut, n, got);
        for (int i = cut; i < n; i++) {
            got_eq(&ref[i], &got[i], "after a cut", i);
            matches += got[i].n;
        }
        nfa_key_free(nk);
    }
    ck_assert_uint_gt(cuts_open, 30);
    ck_assert_uint_gt(matches, 100);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(evs[i]->refcnt, 1);
        evt_unref(evs[i]);
    }
    sbuf_free(&rec);
    sbuf_free(&again);
    harness_fini(&h);
}
END_TEST

/* A truncated record, or one of an enumerating key: an error, and the
 * key is left idle with no event held. */
START_TEST(test_snapshot_malformed)
{
    struct harness h;
    harness_init(&h);
    build(&h, &shapes[0], 100);
    const char *const names[] = {"a", "b", "a", "b"};
    struct evt *evs[4];
    struct nfa_key *kc = nfa_key_new(h.count), *ka = nfa_key_new(h.all);
    for (int i = 0; i < 4; i++) {
        evs[i] = make_ev(&h, names[i], 10 + i, (uint64_t)i);
        step_key(&h, kc, &h.env_count, evs[i]);
        step_key(&h, ka, &h.env_all, evs[i]);
    }
    struct sbuf rec;
    sbuf_init(&rec);
    save_key(kc, &rec);
    for (size_t len = 0; len < rec.len; len++) {
        struct ckpt_evtab *t = ckpt_evtab_reader(reader_make, &h);
        struct ckpt_r r;
        ckpt_r_init(&r, rec.buf, len);
        struct nfa_key *nk = nfa_key_new(h.count);
        ck_assert_int_eq(nfa_key_load(nk, &r, t), CEP_ERR);
        ck_assert_ptr_nonnull(r.err);
        ck_assert(nfa_key_idle(nk));
        ckpt_evtab_free(t);
        nfa_key_free(nk);
    }
    save_key(ka, &rec);
    struct ckpt_evtab *t = ckpt_evtab_reader(reader_make, &h);
    struct ckpt_r r;
    ckpt_r_init(&r, rec.buf, rec.len);
    struct nfa_key *nk = nfa_key_new(h.count);
    ck_assert_int_eq(nfa_key_load(nk, &r, t), CEP_ERR);
    ck_assert_str_eq(r.err, "nfa: not a counting record");
    ckpt_evtab_free(t);
    nfa_key_free(nk);
    nfa_key_free(kc);
    nfa_key_free(ka);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(evs[i]->refcnt, 1);
        evt_unref(evs[i]);
    }
    sbuf_free(&rec);
    harness_fini(&h);
}
END_TEST

/* Which specs may count, and why the others may not. */
START_TEST(test_countable)
{
    struct harness h;
    harness_init(&h);
    build(&h, &shapes[0], 100);
    struct nfa_pattern_spec ps = h.ps;
    ck_assert_ptr_null(nfa_spec_countable(&ps));
    ps.within = 0;
    ck_assert_str_eq(nfa_spec_countable(&ps), "counting matches needs a `within`");
    ps = h.ps;
    ps.skip = NFA_SKIP_PAST_LAST_EVENT;
    ck_assert_str_eq(nfa_spec_countable(&ps), "counting matches needs `skip: no_skip`");
    ps = h.ps;
    h.specs[2].within = 5;
    ck_assert_str_eq(nfa_spec_countable(&ps), "counting matches cannot use a step `within`");
    h.specs[2].within = 0;
    h.specs[1].min = h.specs[1].max = 1;
    h.specs[1].negated = true;
    h.specs[1].after = NFA_CONTIG_RELAXED;
    ck_assert_str_eq(nfa_spec_countable(&ps), "counting matches cannot use a negated step");
    h.specs[1].negated = false;
    h.specs[1].min = h.specs[1].max = NFA_COUNT_MAX_STATES;
    ck_assert_str_eq(nfa_spec_countable(&ps), "the pattern is too large to count its matches");
    harness_fini(&h);
}
END_TEST

/* The largest pattern that may count: a, b, c, d, e with b inside
 * n_b and c inside n_c optional groups.  Each group adds a parallel
 * proceed edge, so a walk of b's decision graph meets d by (n_b + 1) *
 * (n_c + 1) paths, more than nfa_proceed_budget lets it follow: with 59
 * edges (n_b + n_c = 45) an event's weight from b into e reaches 252 of
 * the 255 its 8 bits hold, and one more group makes it too large. */
#define LARGE_MAX_NEST 24

struct large {
    struct nfa_step_spec top[5];
    struct nfa_step_spec nest[2][LARGE_MAX_NEST + 1];
    char names[2][LARGE_MAX_NEST][16];
};

/* Steps a..e take the events named so: h->exprs[0..5). */
static void large_spec(struct harness *h, struct large *L, int n_b, int n_c,
                       struct nfa_pattern_spec *ps)
{
    static const char *const names[] = {"a", "b", "c", "d", "e"};
    int idx = 5;
    memset(L, 0, sizeof(*L));
    for (int i = 0; i < 5; i++) {
        struct nfa_step_spec *s = &L->top[i];
        s->name = names[i];
        s->index = i;
        s->when = h->exprs[i];
        s->min = s->max = 1;
        s->after = NFA_CONTIG_RELAXED;
        s->loop = NFA_CONTIG_RELAXED;
    }
    const int n_nest[2] = {n_b, n_c};
    for (int k = 0; k < 2; k++) {
        struct nfa_step_spec *lv = L->nest[k];
        lv[n_nest[k]] = L->top[1 + k];
        for (int l = n_nest[k] - 1; l >= 0; l--) {
            snprintf(L->names[k][l], sizeof(L->names[k][l]), "g%d_%d", k, l);
            lv[l] = (struct nfa_step_spec){.name = L->names[k][l], .index = idx++, .min = 1,
                                           .max = 1, .optional = true,
                                           .after = NFA_CONTIG_RELAXED,
                                           .loop = NFA_CONTIG_RELAXED,
                                           .group = &lv[l + 1], .n_group = 1};
        }
        L->top[1 + k] = lv[0];
    }
    *ps = (struct nfa_pattern_spec){.steps = L->top, .n_steps = 5, .n_indexes = (size_t)idx,
                                    .within = 100, .skip = NFA_SKIP_NO_SKIP, .skip_step = -1};
}

START_TEST(test_largest)
{
    struct harness h;
    harness_init(&h);
    static const char *const whens[] = {"name == 'a'", "name == 'b'", "name == 'c'",
                                        "name == 'd'", "name == 'e'"};
    for (int i = 0; i < 5; i++)
        compile_cond(&h, whens[i], i);
    struct large L;
    struct nfa_pattern_spec ps;
    large_spec(&h, &L, 22, 24, &ps);
    ck_assert_str_eq(nfa_spec_countable(&ps), "the pattern is too large to count its matches");
    large_spec(&h, &L, 21, 24, &ps);
    ck_assert_ptr_null(nfa_spec_countable(&ps));
    h.all = nfa_compile(&ps);
    ps.emit = NFA_EMIT_TALLY;
    h.count = nfa_compile(&ps);
    /* Streams where one event completes runs that one event made by
     * many paths each, against the enumerating runtime. */
    static const char *const streams[] = {"ade", "abde", "acde", "abcde", "aadee", "abxcdde"};
    uint64_t ade = 0;
    for (size_t i = 0; i < CEP_ARRAY_LEN(streams); i++) {
        const char *str = streams[i];
        int n = (int)strlen(str);
        struct evt *evs[8];
        struct nfa_key *ka = nfa_key_new(h.all), *kc = nfa_key_new(h.count);
        for (int j = 0; j < n; j++) {
            char name[2] = {str[j], '\0'};
            evs[j] = make_ev(&h, name, 10 + j, (uint64_t)j);
            memset(&h.g_all, 0, sizeof(h.g_all));
            memset(&h.g_count, 0, sizeof(h.g_count));
            step_key(&h, ka, &h.env_all, evs[j]);
            step_key(&h, kc, &h.env_count, evs[j]);
            got_eq(&h.g_all, &h.g_count, str, j);
            ck_assert_uint_eq(nfa_key_n_partial(ka), nfa_key_n_partial(kc));
            if (i == 0 && j == 2)
                ade = h.g_count.n;
        }
        ck_assert_uint_eq(h.evicted, 0);
        nfa_key_free(ka);
        nfa_key_free(kc);
        for (int j = 0; j < n; j++)
            evt_unref(evs[j]);
    }
    /* "ade": e completes the runs d made from the run in b, one per path
     * the walk followed: that event's weight from b into e (231 today). */
    ck_assert_uint_gt(ade, 200);
    harness_fini(&h);
}
END_TEST

/* A window far larger than any enumeration could hold: 20000 b between
 * each a and c, 50 rounds; the key keeps only the window's events and
 * becomes idle once time passes it. */
START_TEST(test_large_window)
{
    struct harness h;
    harness_init(&h);
    build(&h, &shapes[0], 30000);
    struct nfa_key *k = nfa_key_new(h.count);
    struct evt *a = NULL;
    uint64_t seq = 0, reports = 0;
    int64_t t = 0;
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 20002; i++) {
            const char *name = i == 0 ? "a" : i == 20001 ? "c" : "b";
            struct evt *ev = make_ev(&h, name, t++, seq++);
            memset(&h.g_count, 0, sizeof(h.g_count));
            step_key(&h, k, &h.env_count, ev);
            if (i == 20001) {
                /* the a of this round and the one before, if in the window */
                ck_assert_uint_eq(h.g_count.n, UINT64_MAX);
                ck_assert_uint_eq(h.g_count.latest, seq - 20002);
                reports++;
            }
            if (i == 0) {
                evt_unref(a);
                a = evt_ref(ev);
            }
            evt_unref(ev);
        }
        /* at most two a are held: the window is 30000 events */
        int held = 0;
        nfa_key_each_event(k, count_held, &held);
        ck_assert_int_le(held, 2);
    }
    ck_assert_uint_eq(reports, 50);
    nfa_key_advance(k, t + 30000, &h.env_count);
    ck_assert(nfa_key_idle(k));
    ck_assert_int_eq(a->refcnt, 1);
    evt_unref(a);
    nfa_key_free(k);
    harness_fini(&h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("nfa_count");
    TCase *tc = tcase_create("count");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_random_vs_enumeration, 0, (int)CEP_ARRAY_LEN(shapes));
    tcase_add_test(tc, test_saturation);
    tcase_add_test(tc, test_snapshot_every_cut);
    tcase_add_test(tc, test_snapshot_malformed);
    tcase_add_test(tc, test_countable);
    tcase_add_test(tc, test_largest);
    tcase_add_test(tc, test_large_window);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
