/* SPDX-License-Identifier: Apache-2.0
 * Reload: a new engine, built for a reloaded rule set, takes over the state
 * of the running one.  Rules are matched by id and compiled hash: a matched
 * rule's keyed state (keys, partial matches, windows, absence events, its
 * throttle table, timers, idle spares) and counters move as they are, and
 * the programs its state runs are rebound to the new rule's compiled ones.
 * Streams are matched by name: watermarks and times move when the stream's
 * kind of time is unchanged, and the reorder buffer too when the new stream
 * still holds events for stateful rules.  Slot numbers may differ between
 * the two rule sets (a rule that reads a new field adds a slot anywhere in
 * the schema), so every event that moves is decoded again from its raw
 * bytes under the new stream's schema, keeping its time and identity, and
 * handed to the new engine's event pool.  The "rule:<id>" names that
 * derived events carry as identity move too, so no moved event points into
 * the old engine.
 * Tested by: tests/unit/check_eng_reload.c, tests/daemon/t_reload.sh */
#include "cepd/cep_common.h"
#include "eng_int.h"

#include "cepd/hash.h"
#include "cepd/nfa.h"
#include "cepd/win.h"

#include <string.h>

/* A set of pointers (open addressing, linear probing), so that an event
 * held in several places is moved once. */
struct eng_ptrset {
    const void **slots;
    size_t cap; /* power of two */
    size_t n;
};

static size_t eng_ptr_hash(const void *p, size_t cap)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    return (size_t)x & (cap - 1);
}

/* Add p; false when it was there already. */
static bool eng_ptrset_add(struct eng_ptrset *s, const void *p)
{
    if (2 * (s->n + 1) > s->cap) {
        struct eng_ptrset g = {.cap = s->cap ? 2 * s->cap : 64};
        g.slots = cep_calloc(g.cap, sizeof(*g.slots));
        for (size_t i = 0; i < s->cap; i++)
            if (s->slots[i])
                eng_ptrset_add(&g, s->slots[i]);
        cep_free(s->slots);
        *s = g;
    }
    size_t i = eng_ptr_hash(p, s->cap);
    while (s->slots[i]) {
        if (s->slots[i] == p)
            return false;
        i = (i + 1) & (s->cap - 1);
    }
    s->slots[i] = p;
    s->n++;
    return true;
}

/* The names "rule:<id>" of the old engine that no new rule has: moved to
 * the new engine only if a moved event carries one. */
struct eng_gone_name {
    char *name;
    bool used;
};

struct eng_adopt_ctx {
    struct eng *neu;
    struct eng *old;
    int32_t *stream_map;    /* old stream index -> new, -1: gone */
    bool *time_moved;       /* by old stream index: its time state moved */
    struct eng_ptrset seen;
    struct sbuf raw;
    struct eng_gone_name *gone;
    size_t n_gone;
    struct eng_adopt_stats *st;
};

/* One held event moves: the new pool, the new stream index and schema. */
static void eng_adopt_event(void *ud, struct evt *ev)
{
    struct eng_adopt_ctx *c = ud;
    if (!ev || !eng_ptrset_add(&c->seen, ev))
        return;
    c->st->events_moved++;
    if (ev->pool == &c->old->pool)
        ev->pool = &c->neu->pool;
    int32_t ns = ev->stream < c->old->rs->n_streams ? c->stream_map[ev->stream] : -1;
    if (NEVER(ns < 0))
        return; /* a kept rule's stream always exists in the new rule set */
    sbuf_reset(&c->raw);
    evt_text_append(ev, &c->raw);
    /* It decoded before: the same bytes, the same decoder. */
    if (NEVER(eng_evt_decode(c->neu, ev, (uint32_t)ns, c->raw.buf, c->raw.len) != CEP_OK))
        c->st->events_undecodable++;
}

/* Point the state of a moved rule at the new rule's programs. */
static void eng_adopt_rebind(struct eng_keyed *kd, const struct rule *r)
{
    for (size_t i = 0; i < kd->n_keys; i++) {
        struct eng_key *k = &kd->keys[i];
        if (k->nfa)
            nfa_key_rebind(k->nfa, r->nfa);
        if (k->win)
            win_key_rebind(k->win, r->win);
    }
    for (size_t i = 0; i < kd->n_spare; i++)
        nfa_key_rebind(kd->spare[i], r->nfa);
    for (size_t i = 0; i < kd->n_win_spare; i++)
        win_key_rebind(kd->win_spare[i], r->win);
}

void eng_id_index_build(struct eng_id_index *x, const struct ruleset *rs)
{
    x->cap = 16;
    while (x->cap < 2 * rs->n_rules)
        x->cap *= 2;
    x->slots = cep_calloc(x->cap, sizeof(*x->slots));
    for (size_t r = 0; r < rs->n_rules; r++) {
        const char *id = rs->rules[r]->id;
        size_t i = (size_t)cep_hash64(id, strlen(id), 0) & (x->cap - 1);
        while (x->slots[i])
            i = (i + 1) & (x->cap - 1);
        x->slots[i] = (uint32_t)r + 1;
    }
}

int64_t eng_id_index_find(const struct eng_id_index *x, const struct ruleset *rs, const char *id)
{
    size_t i = (size_t)cep_hash64(id, strlen(id), 0) & (x->cap - 1);
    while (x->slots[i]) {
        if (strcmp(rs->rules[x->slots[i] - 1]->id, id) == 0)
            return x->slots[i] - 1;
        i = (i + 1) & (x->cap - 1);
    }
    return -1;
}

/* Watermarks, times and (when the new stream still buffers for stateful
 * rules) the reorder buffer of each stream both rule sets have. */
static void eng_adopt_streams(struct eng_adopt_ctx *c)
{
    struct eng *neu = c->neu, *old = c->old;
    for (size_t i = 0; i < old->rs->n_streams; i++) {
        c->stream_map[i] = ruleset_find_stream(neu->rs, old->rs->streams[i].name);
        int32_t j = c->stream_map[i];
        if (j < 0)
            continue;
        struct eng_stream *os = &old->streams[i], *ns = &neu->streams[j];
        const struct rule_time *ot = &old->rs->streams[i].time, *nt = &neu->rs->streams[j].time;
        if (ot->has_time != nt->has_time || os->derived != ns->derived)
            continue; /* another kind of time: it starts afresh */
        ns->wm_excl = os->wm_excl;
        ns->max_ts = os->max_ts;
        ns->now = os->now;
        ns->last_ts = os->last_ts;
        ns->last_arrival = os->last_arrival;
        c->time_moved[i] = true;
    }
    for (size_t i = 0; i < old->rs->n_streams; i++) {
        int32_t j = c->stream_map[i];
        struct eng_stream *os = &old->streams[i];
        if (!os->buf_n)
            continue;
        struct eng_stream *ns = j >= 0 ? &neu->streams[j] : NULL;
        if (!ns || !ns->stateful || ns->derived || !c->time_moved[i]) {
            /* No stateful rule waits for these any more (stateless rules
             * saw them on arrival): they go with the old engine. */
            c->st->events_dropped += os->buf_n;
            continue;
        }
        CEP_ASSERT(ns->buf_n == 0);
        struct evt **b = ns->buf;
        size_t cap = ns->buf_cap;
        ns->buf = os->buf;
        ns->buf_n = os->buf_n;
        ns->buf_cap = os->buf_cap;
        os->buf = b;
        os->buf_n = 0;
        os->buf_cap = cap;
        for (size_t k = 0; k < ns->buf_n; k++)
            eng_adopt_event(c, ns->buf[k]);
    }
}

void eng_adopt(struct eng *neu, struct eng *old, struct eng_adopt_stats *st)
{
    memset(st, 0, sizeof(*st));
    CEP_ASSERT(old->q_len == 0 && !old->draining && neu->stats.lines == 0);
    struct eng_adopt_ctx c = {.neu = neu, .old = old, .st = st};
    c.stream_map = cep_calloc(old->rs->n_streams + 1, sizeof(*c.stream_map));
    c.time_moved = cep_calloc(old->rs->n_streams + 1, sizeof(*c.time_moved));
    sbuf_init(&c.raw);
    c.gone = cep_calloc(old->rs->n_rules + old->n_retired + 1, sizeof(*c.gone));
    eng_adopt_streams(&c);

    struct eng_id_index idx;
    eng_id_index_build(&idx, neu->rs);
    for (size_t oi = 0; oi < old->rs->n_rules; oi++) {
        const struct rule *or = old->rs->rules[oi];
        int64_t ni = eng_id_index_find(&idx, neu->rs, or->id);
        if (ni < 0) {
            st->rules_dropped++;
            c.gone[c.n_gone++].name = old->rule_src_names[oi];
            continue;
        }
        /* Same id: the same "rule:<id>" name, so held derived events of
         * the old engine keep a name that lives on. */
        char *name = neu->rule_src_names[ni];
        neu->rule_src_names[ni] = old->rule_src_names[oi];
        old->rule_src_names[oi] = name;
        const struct rule *nr = neu->rs->rules[ni];
        if (nr->hash != or->hash) {
            st->rules_changed++;
            continue;
        }
        st->rules_kept++;
        struct eng_keyed tmp = neu->keyed[ni];
        neu->keyed[ni] = old->keyed[oi];
        old->keyed[oi] = tmp;
        eng_adopt_rebind(&neu->keyed[ni], nr);
        if (neu->keyed[ni].throttle)
            eng_adopt_rebind(neu->keyed[ni].throttle, nr);
        neu->rule_stats[ni] = *eng_rule_stats(old, oi); /* brought up to date */
        eng_keyed_each_event(&neu->keyed[ni], eng_adopt_event, &c);
        if (neu->keyed[ni].throttle)
            eng_keyed_each_event(neu->keyed[ni].throttle, eng_adopt_event, &c);
    }
    st->rules_new = neu->rs->n_rules - st->rules_kept - st->rules_changed;
    cep_free(idx.slots);

    /* Names of rules gone that a moved event still carries move along. */
    for (size_t i = 0; i < old->n_retired; i++)
        c.gone[c.n_gone++].name = old->retired[i];
    if (c.n_gone) {
        /* Only the events moved above can carry them. */
        for (size_t i = 0; i < c.seen.cap; i++) {
            const struct evt *ev = c.seen.slots[i];
            for (size_t g = 0; ev && g < c.n_gone; g++)
                if (ev->src_name == c.gone[g].name)
                    c.gone[g].used = true;
        }
    }
    for (size_t g = 0; g < c.n_gone; g++) {
        if (!c.gone[g].used)
            continue;
        CEP_GROW(neu->retired, neu->retired_cap, neu->n_retired + 1);
        neu->retired[neu->n_retired++] = c.gone[g].name;
        /* Out of old's hands: find and clear the pointer it owned. */
        for (size_t oi = 0; oi < old->rs->n_rules; oi++)
            if (old->rule_src_names[oi] == c.gone[g].name)
                old->rule_src_names[oi] = NULL;
        for (size_t i = 0; i < old->n_retired; i++)
            if (old->retired[i] == c.gone[g].name)
                old->retired[i] = NULL;
    }
    neu->stats = old->stats;
    cep_free(c.gone);
    cep_free(c.seen.slots);
    cep_free(c.stream_map);
    cep_free(c.time_moved);
    sbuf_free(&c.raw);
}
