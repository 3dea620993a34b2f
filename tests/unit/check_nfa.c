/* SPDX-License-Identifier: Apache-2.0
 * Unit tests of the pattern matcher (src/nfa/): the whole FlinkCEP
 * conformance corpus run straight against the NFA API (cases compiled from
 * tests/golden/nfa/flink_cases.inc, generated from flinkcep-cases.json),
 * plus hand-written checks of buffer sharing and event refcounts,
 * max_partial eviction, VM-free step conditions and nfa_prog_may_start,
 * deadlines, idleness and the DOT golden
 * (tests/golden/nfa/small.dot; CEPD_GOLDEN_UPDATE=1 rewrites it).
 * Tested by: itself (make check). */
#include "cepd/cep_common.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cepd/diag.h"
#include "cepd/evt.h"
#include "cepd/expr.h"
#include "cepd/nfa.h"
#include "cepd/sbuf.h"

#include "nfa_harness.h"

#include "../golden/nfa/flink_cases.inc"

/* ---- harness ------------------------------------------------------- */

#define MAX_OUT 1024

struct harness {
    struct nfa_pat pat;
    const char *ids[256]; /* event id by evt->src_off */
    char *got[MAX_OUT];
    int n_got;
    char *to[MAX_OUT];
    int64_t to_ts[MAX_OUT];
    int n_to;
    uint64_t evicted;
    struct nfa_env env;
};

static char *match_str(const struct harness *h, const struct nfa_match *m)
{
    struct sbuf sb;
    sbuf_init(&sb);
    for (size_t i = 0; i < m->n; i++) {
        if (i)
            sbuf_putc(&sb, ' ');
        sbuf_puts(&sb, h->ids[m->events[i]->src_off]);
    }
    return sbuf_steal(&sb);
}

static void on_match(void *ud, const struct nfa_match *m)
{
    struct harness *h = ud;
    ck_assert_int_lt(h->n_got, MAX_OUT);
    h->got[h->n_got++] = match_str(h, m);
}

static void on_timeout(void *ud, const struct nfa_match *m, int64_t ts)
{
    struct harness *h = ud;
    ck_assert_int_lt(h->n_to, MAX_OUT);
    h->to_ts[h->n_to] = ts;
    h->to[h->n_to++] = match_str(h, m);
}

static void harness_init(struct harness *h)
{
    memset(h, 0, sizeof(*h));
    nfa_pat_init(&h->pat);
    h->env.rt = h->pat.rt;
    h->env.work = h->pat.work;
    h->env.counters = &h->pat.cnt;
    h->env.evicted = &h->evicted;
    h->env.ud = h;
    h->env.on_match = on_match;
    h->env.on_timeout = on_timeout;
}

static void harness_fini(struct harness *h)
{
    for (int i = 0; i < h->n_got; i++)
        free(h->got[i]);
    for (int i = 0; i < h->n_to; i++)
        free(h->to[i]);
    nfa_pat_fini(&h->pat);
}

static void set_field(struct harness *h, struct evt *ev, const struct tc_field *f)
{
    int slot = evt_schema_slot_dotted(h->pat.schema, f->k);
    ck_assert_int_lt(slot, (int)ev->n_slots);
    switch (f->t) {
        case 's':
            ev->slots[slot] = val_str(f->s, strlen(f->s));
            break;
        case 'i':
            ev->slots[slot] = val_int((int64_t)f->d);
            break;
        case 'b':
            ev->slots[slot] = val_bool(f->d != 0);
            break;
        default:
            ev->slots[slot] = val_float(f->d);
            break;
    }
}

static struct evt *make_event(struct harness *h, const struct tc_event *te, uint64_t idx)
{
    struct evt *ev = evt_new();
    evt_reset(ev, te->id, strlen(te->id), h->pat.schema->n_slots);
    ev->time = te->ts;
    ev->seq = idx;
    ev->src_off = idx;
    for (int i = 0; i < te->n; i++)
        set_field(h, ev, &te->f[i]);
    return ev;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Compare a multiset of matches with the expected NULL-terminated list;
 * returns a description of the difference or NULL. */
static char *multiset_diff(char **got, int n_got, const char *const *exp)
{
    int n_exp = 0;
    while (exp[n_exp])
        n_exp++;
    const char **e = calloc((size_t)n_exp + 1, sizeof(*e));
    for (int i = 0; i < n_exp; i++)
        e[i] = exp[i];
    qsort(e, (size_t)n_exp, sizeof(*e), cmp_str);
    qsort(got, (size_t)n_got, sizeof(*got), cmp_str);
    bool same = n_exp == n_got;
    for (int i = 0; same && i < n_exp; i++)
        same = strcmp(e[i], got[i]) == 0;
    char *r = NULL;
    if (!same) {
        struct sbuf sb;
        sbuf_init(&sb);
        sbuf_puts(&sb, "expected {");
        for (int i = 0; i < n_exp; i++)
            sbuf_printf(&sb, "[%s]", e[i]);
        sbuf_puts(&sb, "} got {");
        for (int i = 0; i < n_got; i++)
            sbuf_printf(&sb, "[%s]", got[i]);
        sbuf_puts(&sb, "}");
        r = sbuf_steal(&sb);
    }
    free(e);
    return r;
}

/* One matcher per partition value (one in total without partition_by). */
struct keys {
    const char *val[64];
    double num[64];
    struct nfa_key *k[64];
    int n;
};

static struct nfa_key *key_for(struct keys *ks, const struct harness *h, const struct tc_case *c,
                               const struct tc_event *te)
{
    double d;
    const char *v = tc_partition(c, te, &d);
    for (int i = 0; i < ks->n; i++) {
        if (strcmp(ks->val[i], v) == 0 && ks->num[i] == d)
            return ks->k[i];
    }
    ck_assert_int_lt(ks->n, 64);
    ks->val[ks->n] = v;
    ks->num[ks->n] = d;
    ks->k[ks->n] = nfa_key_new(h->pat.prog);
    return ks->k[ks->n++];
}

/* Advance key k to ev and give it ev, unless skip_inert and ev is inert
 * (nfa_prog_inert: then only time moves), counting those in *skipped. */
static void feed(struct harness *h, struct nfa_key *k, struct evt *ev, bool skip_inert,
                 size_t *skipped)
{
    nfa_key_advance(k, ev->time, &h->env);
    if (skip_inert && nfa_prog_inert(h->pat.prog, ev))
        (*skipped)++;
    else
        nfa_key_process(k, ev, &h->env);
}

static void run_case(struct harness *h, const struct tc_case *c, struct evt **evs, int *n_late,
                     bool skip_inert, size_t *skipped)
{
    struct keys ks = {.n = 0};
    *n_late = 0;
    if (strcmp(c->mode, "operator_event_time") != 0) {
        for (int i = 0; i < c->n_events; i++) {
            feed(h, key_for(&ks, h, c, &c->events[i]), evs[i], skip_inert, skipped);
        }
    } else {
        struct buffered buf[64];
        int n_buf = 0;
        int64_t wm = INT64_MIN;
        bool by_price = c->same_ts_order != NULL;
        for (int si = 0; si <= c->n_stream; si++) {
            const struct tc_item *it = &c->stream[si];
            bool end = si == c->n_stream;
            int64_t w = it->wm;
            if (end) {
                if (!c->final_inf)
                    break;
                w = INT64_MAX;
            }
            if (it->id) {
                int idx = -1;
                for (int i = 0; i < c->n_events; i++) {
                    if (strcmp(c->events[i].id, it->id) == 0)
                        idx = i;
                }
                ck_assert_int_ge(idx, 0);
                if (c->events[idx].ts <= wm) {
                    (*n_late)++;
                    continue;
                }
                buf[n_buf].idx = idx;
                buf[n_buf].ts = c->events[idx].ts;
                buf[n_buf].price = by_price ? num_field(&c->events[idx], "price") : 0;
                n_buf++;
                continue;
            }
            if (w > wm) {
                wm = w;
                qsort(buf, (size_t)n_buf, sizeof(*buf), cmp_buffered);
                int j = 0, keep = 0;
                for (j = 0; j < n_buf; j++) {
                    if (buf[j].ts > w) {
                        buf[keep++] = buf[j];
                        continue;
                    }
                    struct evt *ev = evs[buf[j].idx];
                    feed(h, key_for(&ks, h, c, &c->events[buf[j].idx]), ev, skip_inert,
                         skipped);
                }
                n_buf = keep;
                for (int i = 0; i < ks.n; i++)
                    nfa_key_advance(ks.k[i], w, &h->env);
            }
            if (end)
                break;
        }
    }
    for (int i = 0; i < ks.n; i++) {
        /* a key whose runs all ended holds no events any more */
        if (nfa_key_idle(ks.k[i]))
            ck_assert_int_eq(nfa_key_n_partial(ks.k[i]), 0);
    }
    bool all_idle = true;
    for (int i = 0; i < ks.n; i++)
        all_idle = all_idle && nfa_key_idle(ks.k[i]);
    if (all_idle) {
        for (int i = 0; i < c->n_events; i++)
            ck_assert_msg(evs[i]->refcnt == 1, "%s: idle keys but %s has refcnt %u", c->id,
                          c->events[i].id, evs[i]->refcnt);
    }
    for (int i = 0; i < ks.n; i++)
        nfa_key_free(ks.k[i]);
    for (int i = 0; i < c->n_events; i++)
        ck_assert_msg(evs[i]->refcnt == 1, "%s: after free %s has refcnt %u", c->id,
                      c->events[i].id, evs[i]->refcnt);
}

/* Whether case c gives its expected matches, timeouts and late events;
 * skip_inert: with the events nfa_prog_inert rules out given to no key. */
static bool flink_case_ok(const struct tc_case *c, bool skip_inert, size_t *skipped)
{
    struct harness h;
    harness_init(&h);
    nfa_pat_build(&h.pat, c);
    struct evt *evs[256];
    ck_assert_int_le(c->n_events, 256);
    for (int i = 0; i < c->n_events; i++) {
        h.ids[i] = c->events[i].id;
        evs[i] = make_event(&h, &c->events[i], (uint64_t)i);
    }
    int n_late = 0;
    run_case(&h, c, evs, &n_late, skip_inert, skipped);
    char *d1 = c->has_expected ? multiset_diff(h.got, h.n_got, c->expected) : NULL;
    char *d2 = c->has_timeouts ? multiset_diff(h.to, h.n_to, c->timeouts) : NULL;
    bool ts_ok = true;
    if (c->has_timeouts == 2) {
        /* timeouts carry first + within (or previous + step within) */
        for (int i = 0; c->timeouts[i]; i++) {
            bool found = false;
            for (int j = 0; j < h.n_to; j++)
                found = found || (strcmp(h.to[j], c->timeouts[i]) == 0 &&
                                  h.to_ts[j] == c->timeout_ts[i]);
            ts_ok = ts_ok && found;
        }
    }
    for (int i = 0; i < c->n_events; i++)
        evt_unref(evs[i]);
    if (d1 || d2 || !ts_ok || (c->n_late >= 0 && n_late != c->n_late))
        fprintf(stderr, "FAIL %s%s: matches %s timeouts %s ts %s late %d/%d\n", c->id,
                skip_inert ? " (inert events skipped)" : "", d1 ? d1 : "ok", d2 ? d2 : "ok",
                ts_ok ? "ok" : "wrong", n_late, c->n_late);
    bool ok = !d1 && !d2 && ts_ok && (c->n_late < 0 || n_late == c->n_late);
    free(d1);
    free(d2);
    harness_fini(&h);
    return ok;
}

START_TEST(test_flink_case)
{
    size_t skipped = 0;
    ck_assert_msg(flink_case_ok(tc_all[_i], false, &skipped), "conformance case %s",
                  tc_all[_i]->id);
}
END_TEST

/* The whole corpus again, with every event nfa_prog_inert rules out kept
 * from its key (as the engine does): the same results.  Few cases have
 * such events; test_inert_random covers the shapes. */
START_TEST(test_flink_inert_skipped)
{
    size_t skipped = 0, cases = 0;
    for (size_t i = 0; i < CEP_ARRAY_LEN(tc_all); i++) {
        size_t before = skipped;
        ck_assert_msg(flink_case_ok(tc_all[i], true, &skipped), "conformance case %s",
                      tc_all[i]->id);
        cases += skipped > before;
    }
    ck_assert_uint_ge(cases, 5); /* most cases have no event every step rejects */
    ck_assert_uint_ge(skipped, cases);
}
END_TEST

/* ---- hand-written cases -------------------------------------------- */

/* A small pattern over steps named s0..: each entry "when" text. */
static void small_pattern(struct harness *h, const char *const *whens, const enum nfa_contig *after,
                          size_t n, int64_t within, enum nfa_skip skip)
{
    h->pat.n_steps = n;
    static const char *const names[] = {"a", "b", "c", "d"};
    for (size_t i = 0; i < n; i++) {
        struct nfa_step_spec *s = &h->pat.specs[i];
        memset(s, 0, sizeof(*s));
        s->name = names[i];
        s->index = (int)i;
        s->when = nfa_pat_cond(&h->pat, whens[i], (int)i);
        s->min = s->max = 1;
        s->after = after[i];
        s->loop = NFA_CONTIG_RELAXED;
    }
    struct nfa_pattern_spec ps = {.steps = h->pat.specs, .n_steps = n, .n_indexes = n,
                                  .within = within, .skip = skip, .skip_step = -1};
    h->pat.prog = nfa_compile(&ps);
}

static struct evt *named_event(struct harness *h, const char *name, int64_t ts, uint64_t seq)
{
    static const char *const ids[] = {"e0", "e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8",
                                      "e9", "e10", "e11", "e12", "e13", "e14", "e15"};
    CEP_ASSERT(seq < CEP_ARRAY_LEN(ids));
    struct tc_event te = {ids[seq], ts, 1, {{"name", 's', name, 0}}};
    h->ids[seq] = ids[seq];
    return make_event(h, &te, seq);
}

START_TEST(test_shared_prefix_refcounts)
{
    struct harness h;
    harness_init(&h);
    const char *const whens[] = {"name == 'a'", "name == 'b'", "name == 'c'"};
    const enum nfa_contig after[] = {NFA_CONTIG_RELAXED, NFA_CONTIG_ANY, NFA_CONTIG_ANY};
    small_pattern(&h, whens, after, 3, 100, NFA_SKIP_NO_SKIP);
    struct nfa_key *k = nfa_key_new(h.pat.prog);
    size_t empty_bytes = nfa_key_bytes(k);
    ck_assert(nfa_key_idle(k));
    ck_assert_int_eq(nfa_key_deadline(k), CEP_TIME_MAX);
    struct evt *ev[6];
    const char *const names[] = {"a", "b", "b", "b", "x", "c"};
    for (int i = 0; i < 6; i++) {
        ev[i] = named_event(&h, names[i], 10 + i, (uint64_t)i);
        nfa_key_advance(k, ev[i]->time, &h.env);
        nfa_key_process(k, ev[i], &h.env);
        if (i == 3) {
            /* {a}, {a b1}, {a b2}, {a b3}: four runs, one node for a */
            ck_assert_int_eq(nfa_key_n_partial(k), 4);
            ck_assert_int_eq(ev[0]->refcnt, 2);
            ck_assert_int_eq(ev[1]->refcnt, 2);
            ck_assert_int_eq(nfa_key_deadline(k), 110);
            ck_assert_uint_gt(nfa_key_bytes(k), empty_bytes);
        }
    }
    ck_assert_int_eq(h.n_got, 3);
    ck_assert_int_eq(ev[4]->refcnt, 1); /* x was never taken */
    /* time passes the window: every run expires, reported separately */
    nfa_key_advance(k, 110, &h.env);
    ck_assert_int_eq(h.n_to, 4);
    for (int i = 0; i < h.n_to; i++)
        ck_assert_int_eq(h.to_ts[i], 110);
    ck_assert(nfa_key_idle(k));
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(ev[i]->refcnt, 1);
    nfa_key_free(k);
    for (int i = 0; i < 6; i++)
        evt_unref(ev[i]);
    harness_fini(&h);
}
END_TEST

START_TEST(test_fast_conditions)
{
    /* Step conditions `field == const` / `!=` are decided without the VM
     * when the field is null or has the constant's type; the rest go
     * through the VM, which counts the type mismatch. */
    struct harness h;
    harness_init(&h);
    const char *const whens[] = {"name == 'a'", "name != 'a'", "7 == name"};
    const enum nfa_contig after[] = {NFA_CONTIG_RELAXED, NFA_CONTIG_RELAXED,
                                     NFA_CONTIG_RELAXED};
    small_pattern(&h, whens, after, 3, 0, NFA_SKIP_NO_SKIP);
    struct nfa_key *k = nfa_key_new(h.pat.prog);
    static const struct tc_event evs[] = {
            {"e0", 0, 1, {{"name", 's', "a", 0}}},
            {"e1", 1, 0, {{NULL, 0, NULL, 0}}}, /* null: neither == nor != */
            {"e2", 2, 1, {{"name", 's', "c", 0}}},
            {"e3", 3, 1, {{"name", 'i', NULL, 7}}},
            {"e4", 4, 1, {{"name", 's', "a", 0}}},
            {"e5", 5, 1, {{"name", 'i', NULL, 1}}}, /* != 'a' by the VM */
            {"e6", 6, 1, {{"name", 's', "x", 0}}},  /* 7 == 'x' by the VM */
            {"e7", 7, 1, {{"name", 'i', NULL, 7}}},
    };
    struct evt *ev[CEP_ARRAY_LEN(evs)];
    for (size_t i = 0; i < CEP_ARRAY_LEN(evs); i++) {
        h.ids[i] = evs[i].id;
        ev[i] = make_event(&h, &evs[i], i);
        nfa_key_advance(k, ev[i]->time, &h.env);
        nfa_key_process(k, ev[i], &h.env);
    }
    const char *const exp[] = {"e0 e2 e3", "e4 e5 e7", NULL};
    char *d = multiset_diff(h.got, h.n_got, exp);
    ck_assert_msg(d == NULL, "%s", d);
    /* name == 'a' on e3, e5, e7; name != 'a' on e5; 7 == name on e6 */
    ck_assert_uint_eq(h.pat.cnt.type_mismatch, 5);
    nfa_key_free(k);
    for (size_t i = 0; i < CEP_ARRAY_LEN(evs); i++)
        evt_unref(ev[i]);
    harness_fini(&h);
}
END_TEST

START_TEST(test_may_start)
{
    /* Only an event whose start-state conditions are all decided without
     * the VM, none of them taking, is ruled out. */
    struct harness h;
    harness_init(&h);
    const char *const whens[] = {"name == 'a'", "name == 'b'"};
    const enum nfa_contig after[] = {NFA_CONTIG_RELAXED, NFA_CONTIG_RELAXED};
    small_pattern(&h, whens, after, 2, 0, NFA_SKIP_NO_SKIP);
    static const struct tc_event evs[] = {
            {"e0", 0, 1, {{"name", 's', "a", 0}}},
            {"e1", 1, 1, {{"name", 's', "b", 0}}},
            {"e2", 2, 0, {{NULL, 0, NULL, 0}}},
            {"e3", 3, 1, {{"name", 'i', NULL, 7}}},
    };
    const bool want[] = {true, false, false, true};
    for (size_t i = 0; i < CEP_ARRAY_LEN(evs); i++) {
        struct evt *ev = make_event(&h, &evs[i], i);
        ck_assert_msg(nfa_prog_may_start(h.pat.prog, ev) == want[i], "%s", evs[i].id);
        evt_unref(ev);
    }
    ck_assert_uint_eq(h.pat.cnt.type_mismatch, 0);
    harness_fini(&h);

    /* A start condition the VM decides: every event may start. */
    harness_init(&h);
    const char *const whens2[] = {"name == 'a' || name == 'c'", "name == 'b'"};
    small_pattern(&h, whens2, after, 2, 0, NFA_SKIP_NO_SKIP);
    struct evt *ev = make_event(&h, &evs[1], 1);
    ck_assert(nfa_prog_may_start(h.pat.prog, ev));
    evt_unref(ev);
    harness_fini(&h);
}
END_TEST

START_TEST(test_inert)
{
    /* A relaxed sequence on VM-free conditions (the shape of
     * bench/pattern.sh): an event every condition decides false is
     * inert, one a step takes, one with a value of another type (the VM
     * decides, and counts the mismatch) or without the field decided
     * false are told apart. */
    struct harness h;
    harness_init(&h);
    const char *const whens[] = {"name == 'a'", "name == 'b'", "name == 'c'"};
    const enum nfa_contig relaxed[] = {NFA_CONTIG_RELAXED, NFA_CONTIG_RELAXED,
                                       NFA_CONTIG_RELAXED};
    small_pattern(&h, whens, relaxed, 3, 60, NFA_SKIP_PAST_LAST_EVENT);
    static const struct tc_event evs[] = {
            {"e0", 0, 1, {{"name", 's', "x", 0}}},
            {"e1", 1, 1, {{"name", 's', "b", 0}}},
            {"e2", 2, 0, {{NULL, 0, NULL, 0}}},
            {"e3", 3, 1, {{"name", 'i', NULL, 7}}},
    };
    const bool want[] = {true, false, true, false};
    for (size_t i = 0; i < CEP_ARRAY_LEN(evs); i++) {
        struct evt *ev = make_event(&h, &evs[i], i);
        ck_assert_msg(nfa_prog_inert(h.pat.prog, ev) == want[i], "%s", evs[i].id);
        evt_unref(ev);
    }
    harness_fini(&h);

    /* Shapes where a run moves on an event no condition holds for: a
     * strict step (the run dies), a step that ignores into another
     * state (`any` after it: an optional-like side state is not needed,
     * but a condition the VM decides is). */
    const enum nfa_contig strict[] = {NFA_CONTIG_RELAXED, NFA_CONTIG_STRICT};
    const char *const vm_whens[] = {"name == 'a'", "lower(name) == 'b'"};
    struct {
        const char *const *whens;
        const enum nfa_contig *after;
    } not_inert[] = {{whens, strict}, {vm_whens, relaxed}};
    for (size_t i = 0; i < CEP_ARRAY_LEN(not_inert); i++) {
        harness_init(&h);
        small_pattern(&h, not_inert[i].whens, not_inert[i].after, 2, 0, NFA_SKIP_NO_SKIP);
        struct evt *ev = make_event(&h, &evs[0], 0);
        ck_assert_msg(!nfa_prog_inert(h.pat.prog, ev), "shape %zu", i);
        evt_unref(ev);
        harness_fini(&h);
    }
}
END_TEST

/* A key's outputs for events evs, all of them given to it or (skip_inert)
 * the inert ones kept away, as one string; *skipped counts those. */
static char *feed_all(struct harness *h, struct evt **evs, size_t n, bool skip_inert,
                      size_t *skipped)
{
    struct nfa_key *k = nfa_key_new(h->pat.prog);
    for (size_t i = 0; i < n; i++)
        feed(h, k, evs[i], skip_inert, skipped);
    nfa_key_advance(k, CEP_TIME_MAX - 1, &h->env);
    nfa_key_free(k);
    struct sbuf sb;
    sbuf_init(&sb);
    for (int i = 0; i < h->n_got; i++) {
        sbuf_printf(&sb, "[%s]", h->got[i]);
        free(h->got[i]);
    }
    for (int i = 0; i < h->n_to; i++) {
        sbuf_printf(&sb, "(%s @%lld)", h->to[i], (long long)h->to_ts[i]);
        free(h->to[i]);
    }
    h->n_got = h->n_to = 0;
    return sbuf_steal(&sb);
}

/* Random valid flat patterns (every contiguity, optional steps, times and
 * loops, negations, skip strategies, within) on random events, most of
 * them noise: a key that never sees the events nfa_prog_inert rules out
 * gives exactly the outputs, in order, of one that sees them all. */
START_TEST(test_inert_random)
{
    static const char *const whens[] = {"name == 'a'", "name == 'b'", "name == 'c'",
                                        "name != 'x' && name != 'y'"};
    static const char *const names[] = {"a", "b", "c", "x", "y", "y"};
    static const uint32_t times[][2] = {{1, 1}, {1, 1}, {1, 1}, {2, 2},
                                        {1, 3}, {1, NFA_UNBOUNDED}, {2, NFA_UNBOUNDED}};
    static const char *const ids[] = {
            "e0",  "e1",  "e2",  "e3",  "e4",  "e5",  "e6",  "e7",  "e8",  "e9",
            "e10", "e11", "e12", "e13", "e14", "e15", "e16", "e17", "e18", "e19",
            "e20", "e21", "e22", "e23", "e24", "e25", "e26", "e27", "e28", "e29"};
    unsigned seed = 20261125;
    size_t inert_progs = 0, skipped_total = 0;
    for (int iter = 0; iter < 1500; iter++) {
        struct harness h;
        harness_init(&h);
        h.env.max_partial = 16;
        size_t n = 2 + (size_t)(rand_r(&seed) % 3);
        h.pat.n_steps = n;
        bool relaxed_not_last = false;
        for (size_t i = 0; i < n; i++) {
            struct nfa_step_spec *st = &h.pat.specs[i];
            memset(st, 0, sizeof(*st));
            st->name = ids[i];
            st->index = (int)i;
            /* the last `when` only for the last step: mostly equalities */
            size_t w = (size_t)rand_r(&seed) % (i + 1 == n ? 4 : 3);
            st->when = nfa_pat_cond(&h.pat, whens[w], (int)i);
            static const enum nfa_contig contigs[] = {NFA_CONTIG_STRICT, NFA_CONTIG_RELAXED,
                                                      NFA_CONTIG_RELAXED, NFA_CONTIG_ANY};
            st->after = contigs[(size_t)rand_r(&seed) % CEP_ARRAY_LEN(contigs)];
            st->loop = (enum nfa_contig)(rand_r(&seed) % 3);
            bool prev_optional = i > 0 && h.pat.specs[i - 1].optional;
            st->negated = i > 0 && !prev_optional && rand_r(&seed) % 5 == 0;
            if (st->negated) {
                st->min = st->max = 1;
                if (st->after == NFA_CONTIG_ANY)
                    st->after = NFA_CONTIG_RELAXED;
                relaxed_not_last = i + 1 == n && st->after == NFA_CONTIG_RELAXED;
                continue;
            }
            const uint32_t *t = times[(size_t)rand_r(&seed) % CEP_ARRAY_LEN(times)];
            st->min = t[0];
            st->max = t[1];
            if (st->min == 1 && st->max == 1)
                st->loop = NFA_CONTIG_RELAXED;
            st->optional = rand_r(&seed) % 4 == 0;
            if (rand_r(&seed) % 6 == 0)
                st->within = 1 + rand_r(&seed) % 8;
        }
        if (h.pat.specs[0].optional && n == 2 && h.pat.specs[1].negated)
            h.pat.specs[0].optional = false;
        int64_t within = rand_r(&seed) % 2 || relaxed_not_last ? 5 + rand_r(&seed) % 20 : 0;
        struct nfa_pattern_spec ps = {.steps = h.pat.specs, .n_steps = n, .n_indexes = n,
                                      .within = within,
                                      .skip = (enum nfa_skip)(rand_r(&seed) % 3),
                                      .skip_step = -1};
        h.pat.prog = nfa_compile(&ps);
        struct evt *evs[CEP_ARRAY_LEN(ids)];
        int64_t ts = 0;
        for (size_t i = 0; i < CEP_ARRAY_LEN(ids); i++) {
            ts += rand_r(&seed) % 3;
            struct tc_event te = {ids[i], ts, 1,
                                  {{"name", 's', names[rand_r(&seed) % CEP_ARRAY_LEN(names)],
                                    0}}};
            h.ids[i] = ids[i];
            evs[i] = make_event(&h, &te, i);
        }
        size_t skipped = 0;
        char *all = feed_all(&h, evs, CEP_ARRAY_LEN(ids), false, &skipped);
        char *some = feed_all(&h, evs, CEP_ARRAY_LEN(ids), true, &skipped);
        ck_assert_msg(strcmp(all, some) == 0, "pattern %d: all events %s, inert ones skipped %s",
                      iter, all, some);
        inert_progs += skipped > 0;
        skipped_total += skipped;
        free(all);
        free(some);
        for (size_t i = 0; i < CEP_ARRAY_LEN(ids); i++) {
            ck_assert_int_eq(evs[i]->refcnt, 1);
            evt_unref(evs[i]);
        }
        harness_fini(&h);
    }
    /* enough of the generated shapes are inert to mean something */
    ck_assert_uint_ge(inert_progs, 60);
    ck_assert_uint_ge(skipped_total, 1000);
}
END_TEST

START_TEST(test_max_partial_eviction)
{
    struct harness h;
    harness_init(&h);
    const char *const whens[] = {"name == 'a'", "name == 'b'"};
    const enum nfa_contig after[] = {NFA_CONTIG_RELAXED, NFA_CONTIG_ANY};
    small_pattern(&h, whens, after, 2, 0, NFA_SKIP_NO_SKIP);
    h.env.max_partial = 3;
    struct nfa_key *k = nfa_key_new(h.pat.prog);
    struct evt *ev[6];
    const char *const names[] = {"a", "a", "a", "a", "a", "b"};
    for (int i = 0; i < 6; i++) {
        ev[i] = named_event(&h, names[i], i, (uint64_t)i);
        nfa_key_advance(k, ev[i]->time, &h.env);
        nfa_key_process(k, ev[i], &h.env);
    }
    /* the two oldest runs were dropped; the newest three match b */
    ck_assert_uint_eq(h.evicted, 2);
    ck_assert_int_eq(nfa_key_n_partial(k), 3);
    ck_assert_int_eq(h.n_got, 3);
    const char *const exp[] = {"e2 e5", "e3 e5", "e4 e5", NULL};
    char *d = multiset_diff(h.got, h.n_got, exp);
    ck_assert_msg(d == NULL, "%s", d);
    ck_assert_int_eq(ev[0]->refcnt, 1);
    ck_assert_int_eq(ev[1]->refcnt, 1);
    ck_assert_int_eq(ev[2]->refcnt, 2);
    nfa_key_free(k);
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(ev[i]->refcnt, 1);
        evt_unref(ev[i]);
    }
    harness_fini(&h);
}
END_TEST

START_TEST(test_skip_to_next_order)
{
    /* a followedByAny b under to_next: both runs complete on b; the match
     * of the earlier start is released first and prunes only runs that
     * started at or before it, so the second match survives. */
    struct harness h;
    harness_init(&h);
    const char *const whens[] = {"name == 'a' || name == 'a2'", "name == 'b' || name == 'b2'"};
    const enum nfa_contig after[] = {NFA_CONTIG_RELAXED, NFA_CONTIG_ANY};
    small_pattern(&h, whens, after, 2, 0, NFA_SKIP_TO_NEXT);
    struct nfa_key *k = nfa_key_new(h.pat.prog);
    struct evt *ev[3];
    const char *const names[] = {"a", "a2", "b"};
    for (int i = 0; i < 3; i++) {
        ev[i] = named_event(&h, names[i], i, (uint64_t)i);
        nfa_key_process(k, ev[i], &h.env);
    }
    const char *const exp[] = {"e0 e2", "e1 e2", NULL};
    char *d = multiset_diff(h.got, h.n_got, exp);
    ck_assert_msg(d == NULL, "%s", d);
    /* each release pruned the waiting run that started with it */
    ck_assert_int_eq(nfa_key_n_partial(k), 0);
    ck_assert(nfa_key_idle(k));
    nfa_key_free(k);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(ev[i]->refcnt, 1);
        evt_unref(ev[i]);
    }
    harness_fini(&h);
}
END_TEST

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct sbuf sb;
    sbuf_init(&sb);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        sbuf_append(&sb, buf, n);
    fclose(f);
    return sbuf_steal(&sb);
}

START_TEST(test_dot_golden)
{
    struct harness h;
    harness_init(&h);
    /* a followedBy b+ (greedy, until c) notFollowedBy d within 5 */
    h.pat.n_steps = 4;
    static const char *const names[] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++) {
        memset(&h.pat.specs[i], 0, sizeof(h.pat.specs[i]));
        h.pat.specs[i].name = names[i];
        h.pat.specs[i].index = i;
        h.pat.specs[i].min = h.pat.specs[i].max = 1;
        h.pat.specs[i].after = NFA_CONTIG_RELAXED;
        h.pat.specs[i].loop = NFA_CONTIG_RELAXED;
    }
    h.pat.specs[0].when = nfa_pat_cond(&h.pat, "name == 'a'", 0);
    h.pat.specs[1].when = nfa_pat_cond(&h.pat, "name == 'b'", 1);
    h.pat.specs[1].until = nfa_pat_cond(&h.pat, "price > 10", 1);
    h.pat.specs[1].max = NFA_UNBOUNDED;
    h.pat.specs[1].greedy = true;
    h.pat.specs[2].when = nfa_pat_cond(&h.pat, "name == 'c'", 2);
    h.pat.specs[2].optional = true;
    h.pat.specs[3].when = nfa_pat_cond(&h.pat, "name == 'd'", 3);
    h.pat.specs[3].negated = true;
    struct nfa_pattern_spec ps = {.steps = h.pat.specs, .n_steps = 4, .n_indexes = 4,
                                  .within = 5, .skip = NFA_SKIP_NO_SKIP, .skip_step = -1};
    h.pat.prog = nfa_compile(&ps);
    ck_assert_str_eq(nfa_prog_step_name(h.pat.prog, 1), "b");
    ck_assert_uint_eq(nfa_prog_n_indexes(h.pat.prog), 4);
    struct sbuf sb;
    sbuf_init(&sb);
    nfa_prog_dot(h.pat.prog, "dot-small", &sb);
    ck_assert(strstr(sb.buf, "take: ") != NULL);
    ck_assert(strstr(sb.buf, "proceed: ") != NULL);
    const char *top = getenv("TOP_SRCDIR");
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/golden/nfa/small.dot", top ? top : ".");
    char *want = read_file(path);
    if (!want && !top) {
        snprintf(path, sizeof(path), "../../tests/golden/nfa/small.dot");
        want = read_file(path);
    }
    if (getenv("CEPD_GOLDEN_UPDATE")) {
        FILE *f = fopen(path, "wb");
        ck_assert(f != NULL);
        fputs(sb.buf, f);
        fclose(f);
    } else {
        ck_assert_msg(want != NULL, "missing golden %s (set TOP_SRCDIR)", path);
        ck_assert_str_eq(sb.buf, want);
    }
    free(want);
    sbuf_free(&sb);
    harness_fini(&h);
}
END_TEST

static Suite *nfa_suite(void)
{
    Suite *s = suite_create("nfa");
    TCase *tc = tcase_create("flink_corpus");
    tcase_add_loop_test(tc, test_flink_case, 0, (int)CEP_ARRAY_LEN(tc_all));
    suite_add_tcase(s, tc);
    tc = tcase_create("buffer");
    tcase_add_test(tc, test_shared_prefix_refcounts);
    tcase_add_test(tc, test_max_partial_eviction);
    tcase_add_test(tc, test_fast_conditions);
    tcase_add_test(tc, test_may_start);
    tcase_add_test(tc, test_inert);
    tcase_add_test(tc, test_inert_random);
    tcase_add_test(tc, test_flink_inert_skipped);
    tcase_add_test(tc, test_skip_to_next_order);
    suite_add_tcase(s, tc);
    tc = tcase_create("dot");
    tcase_add_test(tc, test_dot_golden);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(nfa_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
