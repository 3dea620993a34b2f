/* SPDX-License-Identifier: Apache-2.0
 * Pattern rules in the engine: the per-key NFA state of each rule (a slab
 * of keys with an open-addressing index; each key remembers its key group,
 * hash % ENG_KEY_GROUPS, for snapshots by group), deadline timers (a
 * min-heap invalidated lazily by generation), and the glue that turns
 * matches and expired partial matches into alerts.  A key whose NFA holds
 * nothing is dropped at once, so idle keys cost no memory.
 * Tested by: tests/flink/, tests/rules/engine/, tests/unit/check_eng.c */
#include "cepd/cep_common.h"
#include "eng_int.h"

#include "cepd/hash.h"
#include "cepd/nfa.h"

#include <string.h>

#define ENG_INDEX_EMPTY   0
#define ENG_INDEX_DELETED UINT32_MAX

void eng_keyed_free(struct eng_keyed *kd)
{
    for (size_t i = 0; i < kd->n_keys; i++) {
        nfa_key_free(kd->keys[i].nfa);
        cep_free(kd->keys[i].kjson);
    }
    for (size_t i = 0; i < kd->n_spare; i++)
        nfa_key_free(kd->spare[i]);
    cep_free(kd->spare);
    cep_free(kd->keys);
    cep_free(kd->free_slots);
    cep_free(kd->index);
    cep_free(kd->heap);
    memset(kd, 0, sizeof(*kd));
}

static void eng_timer_push(struct eng_keyed *kd, struct eng_timer t)
{
    CEP_GROW(kd->heap, kd->heap_cap, kd->heap_n + 1);
    size_t i = kd->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (kd->heap[parent].at <= t.at)
            break;
        kd->heap[i] = kd->heap[parent];
        i = parent;
    }
    kd->heap[i] = t;
}

static struct eng_timer eng_timer_pop(struct eng_keyed *kd)
{
    struct eng_timer top = kd->heap[0], last = kd->heap[--kd->heap_n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= kd->heap_n)
            break;
        if (c + 1 < kd->heap_n && kd->heap[c + 1].at < kd->heap[c].at)
            c++;
        if (kd->heap[c].at >= last.at)
            break;
        kd->heap[i] = kd->heap[c];
        i = c;
    }
    if (kd->heap_n)
        kd->heap[i] = last;
    return top;
}

/* Rebuild the index at a new capacity (drops deleted marks). */
static void eng_index_resize(struct eng_keyed *kd, size_t cap)
{
    uint32_t *idx = cep_calloc(cap, sizeof(*idx));
    for (size_t i = 0; i < kd->n_keys; i++) {
        if (!kd->keys[i].live)
            continue;
        size_t p = kd->keys[i].khash & (cap - 1);
        while (idx[p] != ENG_INDEX_EMPTY)
            p = (p + 1) & (cap - 1);
        idx[p] = (uint32_t)i + 1;
    }
    cep_free(kd->index);
    kd->index = idx;
    kd->index_cap = cap;
    kd->index_used = kd->n_live;
}

/* The slot of key (kjson, len), created with a fresh NFA state if absent. */
static uint32_t eng_key_get(struct eng_keyed *kd, const struct nfa_prog *prog, const char *kjson,
                            size_t len)
{
    uint64_t h = cep_hash64(kjson, len, 0);
    if (kd->index_cap) {
        size_t p = h & (kd->index_cap - 1);
        for (; kd->index[p] != ENG_INDEX_EMPTY; p = (p + 1) & (kd->index_cap - 1)) {
            uint32_t v = kd->index[p];
            if (v == ENG_INDEX_DELETED)
                continue;
            const struct eng_key *k = &kd->keys[v - 1];
            if (k->khash == h && k->klen == len && memcmp(k->kjson, kjson, len) == 0)
                return v - 1;
        }
    }
    if ((kd->index_used + 1) * 10 >= kd->index_cap * 7)
        eng_index_resize(kd, kd->index_cap ? kd->index_cap * 2 : 64);
    uint32_t slot;
    if (kd->n_free) {
        slot = kd->free_slots[--kd->n_free];
    } else {
        CEP_GROW(kd->keys, kd->keys_cap, kd->n_keys + 1);
        slot = (uint32_t)kd->n_keys++;
        memset(&kd->keys[slot], 0, sizeof(kd->keys[slot]));
    }
    struct eng_key *k = &kd->keys[slot];
    if (len + 1 > k->kcap) {
        size_t cap = k->kcap;
        CEP_GROW(k->kjson, cap, len + 1);
        k->kcap = (uint32_t)cap;
    }
    memcpy(k->kjson, kjson, len);
    k->kjson[len] = '\0';
    k->klen = (uint32_t)len;
    k->khash = h;
    if (kd->n_spare) {
        k->nfa = kd->spare[--kd->n_spare];
        nfa_key_reset(k->nfa);
    } else {
        k->nfa = nfa_key_new(prog);
    }
    k->deadline = CEP_TIME_MAX;
    k->live = true;
    size_t p = h & (kd->index_cap - 1);
    while (kd->index[p] != ENG_INDEX_EMPTY && kd->index[p] != ENG_INDEX_DELETED)
        p = (p + 1) & (kd->index_cap - 1);
    if (kd->index[p] == ENG_INDEX_EMPTY)
        kd->index_used++;
    kd->index[p] = slot + 1;
    kd->n_live++;
    return slot;
}

static void eng_key_drop(struct eng_keyed *kd, uint32_t slot)
{
    struct eng_key *k = &kd->keys[slot];
    size_t p = k->khash & (kd->index_cap - 1);
    while (kd->index[p] != slot + 1)
        p = (p + 1) & (kd->index_cap - 1);
    kd->index[p] = ENG_INDEX_DELETED;
    if (kd->n_spare < ENG_SPARE_KEYS) {
        CEP_GROW(kd->spare, kd->spare_cap, kd->n_spare + 1);
        kd->spare[kd->n_spare++] = k->nfa;
    } else {
        nfa_key_free(k->nfa);
    }
    k->nfa = NULL;
    k->live = false;
    k->gen++;
    kd->n_live--;
    CEP_GROW(kd->free_slots, kd->free_cap, kd->n_free + 1);
    kd->free_slots[kd->n_free++] = slot;
}

/* Callback state while the NFA of one key runs. */
struct eng_pat_call {
    struct eng *eng;
    size_t ri;
};

static void eng_pattern_emit(struct eng_pat_call *c, const struct nfa_match *m, int64_t time,
                             bool timed_out)
{
    struct eng *eng = c->eng;
    if (!m->n)
        return;
    struct eng_view v = {.n = m->n, .events = m->events, .steps = m->steps, .time = time,
                         .timed_out = timed_out};
    struct expr_ctx ctx = {.ev = m->events[m->n - 1],
                           .pat = &eng_view_pat_ops,
                           .pat_ud = &v,
                           .counters = &eng->rule_stats[c->ri].expr,
                           .rt = eng->rt};
    if (timed_out)
        eng->rule_stats[c->ri].timed_out++;
    eng_fire(eng, c->ri, &v, &ctx);
}

static void eng_pattern_on_match(void *ud, const struct nfa_match *m)
{
    eng_pattern_emit(ud, m, m->n ? m->events[m->n - 1]->time : 0, false);
}

static void eng_pattern_on_timeout(void *ud, const struct nfa_match *m, int64_t timeout_ts)
{
    eng_pattern_emit(ud, m, timeout_ts, true);
}

static void eng_pattern_env(struct eng *eng, size_t ri, struct eng_pat_call *call,
                            struct nfa_env *env)
{
    const struct rule *r = eng->rs->rules[ri];
    call->eng = eng;
    call->ri = ri;
    memset(env, 0, sizeof(*env));
    env->rt = eng->rt;
    env->counters = &eng->rule_stats[ri].expr;
    env->max_partial = r->max_partial_matches;
    env->evicted = &eng->rule_stats[ri].evicted;
    env->ud = call;
    env->on_match = eng_pattern_on_match;
    env->on_timeout = r->on_timeout.enabled ? eng_pattern_on_timeout : NULL;
}

/* After the NFA of a key ran: register its new deadline, or drop the key
 * when it holds nothing. */
static void eng_key_settle(struct eng_keyed *kd, uint32_t slot)
{
    struct eng_key *k = &kd->keys[slot];
    if (nfa_key_idle(k->nfa)) {
        eng_key_drop(kd, slot);
        return;
    }
    int64_t d = nfa_key_deadline(k->nfa);
    if (d != k->deadline && d != CEP_TIME_MAX)
        eng_timer_push(kd, (struct eng_timer){d, slot, k->gen});
    k->deadline = d;
}

void eng_pattern_process(struct eng *eng, size_t ri, struct evt *ev)
{
    const struct rule *r = eng->rs->rules[ri];
    struct eng_keyed *kd = &eng->keyed[ri];
    struct eng_rule_stats *rst = &eng->rule_stats[ri];
    struct expr_ctx ctx = {.ev = ev, .counters = &rst->expr, .rt = eng->rt};
    rst->evaluated++;
    if (r->when && !expr_eval_bool(r->when, &ctx))
        return;
    struct sbuf *kb = &eng->key;
    sbuf_reset(kb);
    sbuf_putc(kb, '[');
    for (size_t i = 0; i < r->n_key; i++) {
        struct val v;
        expr_eval(r->key[i].expr, &ctx, &v);
        if (i)
            sbuf_putc(kb, ',');
        val_to_json(&v, kb);
    }
    sbuf_putc(kb, ']');
    uint32_t slot = eng_key_get(kd, r->nfa, kb->buf, kb->len);
    struct eng_pat_call call;
    struct nfa_env env;
    eng_pattern_env(eng, ri, &call, &env);
    /* Advancing time changes a key only at its deadline (a window ends, a
     * pending negation completes, held matches are released by an
     * expiry), so a key whose deadline is later than the event skips it. */
    if (kd->keys[slot].deadline <= ev->time)
        nfa_key_advance(kd->keys[slot].nfa, ev->time, &env);
    nfa_key_process(kd->keys[slot].nfa, ev, &env);
    eng_key_settle(kd, slot);
}

void eng_pattern_advance(struct eng *eng, size_t ri, int64_t t)
{
    struct eng_keyed *kd = &eng->keyed[ri];
    struct eng_pat_call call;
    struct nfa_env env;
    eng_pattern_env(eng, ri, &call, &env);
    while (kd->heap_n && kd->heap[0].at <= t) {
        struct eng_timer tm = eng_timer_pop(kd);
        struct eng_key *k = &kd->keys[tm.slot];
        if (!k->live || k->gen != tm.gen || k->deadline != tm.at)
            continue; /* stale: the key moved on or was dropped */
        k->deadline = CEP_TIME_MAX;
        nfa_key_advance(k->nfa, t, &env);
        eng_key_settle(kd, tm.slot);
    }
}

size_t eng_rule_partials(const struct eng *eng, size_t ri)
{
    const struct eng_keyed *kd = &eng->keyed[ri];
    size_t n = 0;
    for (size_t i = 0; i < kd->n_keys; i++)
        if (kd->keys[i].live)
            n += nfa_key_n_partial(kd->keys[i].nfa);
    return n;
}
