/* SPDX-License-Identifier: Apache-2.0
 * Aggregate rules in the engine: each key's windows (src/window, in the
 * rule's keyed state, eng_keyed.c) get the events of the key that pass the
 * rule's `when`, in time order, and close as time passes their ends; a
 * window that fires becomes an alert whose fields are the aggregate values.
 * Windows are kept for the stream's allowed_lateness after they close: an
 * event behind the watermark within it updates them and their corrections
 * are alerts carrying `corrects`; an event too late even for that goes to
 * the late output like one the stream rejected.  A rule whose alerts read
 * no event field beyond its bare key fields holds no event per key
 * (win_spec.no_event): its alerts read those from the key's JSON.
 * Tested by: tests/rules/engine/aggregate.test.yaml, late.test.yaml, chain3.test.yaml,
 * agg_key.test.yaml */
#include "cepd/cep_common.h"
#include "eng_int.h"

#include "cepd/json.h"
#include "cepd/win.h"

struct eng_win_call {
    struct eng *eng;
    size_t ri;
    uint32_t slot;              /* the key whose windows are running */
};

/* A stand-in for the latest event of a key that holds none (no_event: the
 * rule's outputs read only its bare key fields): an event from the pool
 * whose key-field slots hold the key's values, read back from its JSON
 * (eng_keyed_fields_json wrote it: json_value_take gives each value the
 * same JSON under val_to_json; an integral float may come back an int,
 * which prints alike).  The caller releases it. */
static struct evt *eng_window_key_event(struct eng *eng, size_t ri, uint32_t slot)
{
    const struct rule *r = eng->rs->rules[ri];
    const struct eng_key *k = &eng->keyed[ri].keys[slot];
    struct evt *ev = evt_pool_get(&eng->pool);
    evt_reset(ev, k->kjson, k->klen, eng->rs->streams[r->stream].schema->n_slots);
    ev->stream = r->stream;
    char *scratch = ev->scratch;
    struct json_err err;
    struct json_scan sc = {.base = ev->raw, .end = ev->raw + ev->raw_len, .err = &err};
    const char *p = ev->raw + 1; /* past the '[' */
    for (size_t i = 0; i < r->n_key; i++) {
        struct val v;
        p = json_value_take(&sc, p, 1, &v, &scratch);
        if (NEVER(!p))
            break; /* the rest stay null */
        int fs = expr_field_slot(r->key[i].expr);
        if (fs >= 0)
            ev->slots[fs] = v;
        p++; /* past the ',' */
    }
    return ev;
}

static void eng_window_on_fire(void *ud, const struct win_result *res)
{
    struct eng_win_call *c = ud;
    struct eng *eng = c->eng;
    struct evt *last = (struct evt *)res->last;
    struct evt *kev = last ? NULL : eng_window_key_event(eng, c->ri, c->slot);
    /* The result's time is the window's last instant (end - 1us), so a
     * derived event stays inside its own window downstream. */
    struct eng_view v = {.n = last ? 1 : 0, .events = &last, .win = res, .time = res->time};
    struct expr_ctx ctx = {.ev = last ? last : kev,
                           .results = res->values,
                           .counters = &eng->rule_stats[c->ri].expr,
                           .rt = eng->rt};
    eng_fire(eng, c->ri, &v, &ctx);
    evt_unref(kev);
}

static void eng_window_env(struct eng *eng, size_t ri, struct eng_win_call *call,
                           struct win_env *env)
{
    call->eng = eng;
    call->ri = ri;
    env->rt = eng->rt;
    env->counters = &eng->rule_stats[ri].expr;
    env->now = eng->streams[eng->rs->rules[ri]->stream].now;
    env->ud = call;
    env->on_fire = eng_window_on_fire;
}

void eng_window_process(struct eng *eng, size_t ri, struct evt *ev)
{
    const struct rule *r = eng->rs->rules[ri];
    struct eng_keyed *kd = &eng->keyed[ri];
    uint32_t slot;
    if (!eng_keyed_enter(eng, ri, ev, &slot))
        return;
    struct eng_key *k = &kd->keys[slot];
    if (!k->win)
        k->win = win_key_new(r->win, eng->rs->streams[r->stream].time.allowed_lateness);
    struct eng_win_call call;
    struct win_env env;
    eng_window_env(eng, ri, &call, &env);
    call.slot = slot;
    /* Windows that end at or before this event close first (the state's
     * own deadline: an earlier state_ttl check changes nothing here). */
    if (k->sdl <= ev->time)
        win_key_advance(k->win, ev->time, &env);
    if (!win_key_add(k->win, ev, &env)) {
        /* Too late for every window it belongs to (a derived event behind
         * its stream; the stream layer keeps other late events out). */
        eng->stats.late++;
        if (eng->out.late)
            eng->out.late(eng->out.ud, ev);
    }
    eng_keyed_settle(kd, slot, win_key_idle(k->win), win_key_deadline(k->win));
}

void eng_window_advance(struct eng *eng, size_t ri, int64_t t)
{
    struct eng_keyed *kd = &eng->keyed[ri];
    if (!eng_keyed_pending(kd, t))
        return;
    struct eng_win_call call;
    struct win_env env;
    eng_window_env(eng, ri, &call, &env);
    uint32_t slot;
    while (eng_keyed_due(kd, t, &slot)) {
        struct win_key *wk = kd->keys[slot].win;
        call.slot = slot;
        /* The next key due: its slot was prefetched a key ago, its
         * windows are the next miss. */
        if (kd->heap_n && kd->heap[0].at <= t)
            __builtin_prefetch(kd->keys[kd->heap[0].slot].win);
        win_key_advance(wk, t, &env);
        eng_keyed_settle(kd, slot, win_key_idle(wk), win_key_deadline(wk));
    }
}
