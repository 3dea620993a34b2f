/* SPDX-License-Identifier: Apache-2.0
 * Pattern rules in the engine: each key's NFA (in the rule's keyed state,
 * eng_keyed.c) gets the events of its key in time order and time advances
 * at its deadlines; matches and expired partial matches come back as views
 * and become alerts.  A counting rule (`matches: count`) gets one summary
 * per completing event instead: one alert whose events are the earliest
 * first, the latest first and the completing event, with the number of
 * matches as the result `matches` of its message and fields.
 * Tested by: tests/flink/, tests/rules/engine/, tests/unit/check_eng.c */
#include "cepd/cep_common.h"
#include "eng_int.h"

#include "cepd/nfa.h"

#include <string.h>

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

static void eng_pattern_on_count(void *ud, const struct nfa_count *nc)
{
    struct eng_pat_call *c = ud;
    struct eng *eng = c->eng;
    struct evt *evs[3] = {nc->first, nc->latest, nc->last};
    /* Expressions see at most INT64_MAX; the alert's "matches" is exact. */
    struct val res[RULE_PAT_RESULT_MATCHES + 1];
    res[RULE_PAT_RESULT_MATCHES] =
            val_int(nc->n > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)nc->n);
    struct eng_view v = {.n = 3, .events = evs, .time = nc->last->time, .count = nc};
    struct expr_ctx ctx = {.ev = nc->last,
                           .results = res,
                           .counters = &eng->rule_stats[c->ri].expr,
                           .rt = eng->rt};
    eng_fire(eng, c->ri, &v, &ctx);
}

static void eng_pattern_env(struct eng *eng, size_t ri, struct eng_pat_call *call,
                            struct nfa_env *env)
{
    const struct rule *r = eng->rs->rules[ri];
    call->eng = eng;
    call->ri = ri;
    memset(env, 0, sizeof(*env));
    env->rt = eng->rt;
    env->work = eng->nfa_work;
    env->counters = &eng->rule_stats[ri].expr;
    env->max_partial = r->max_partial_matches;
    env->evicted = &eng->rule_stats[ri].evicted;
    env->ud = call;
    env->on_match = eng_pattern_on_match;
    env->on_timeout = r->on_timeout.enabled ? eng_pattern_on_timeout : NULL;
    env->on_count = eng_pattern_on_count;
}

void eng_pattern_process(struct eng *eng, size_t ri, struct evt *ev)
{
    struct eng_keyed *kd = &eng->keyed[ri];
    uint32_t slot;
    if (!eng_keyed_enter_lazy(eng, ri, ev, &slot))
        return;
    struct eng_pat_call call;
    struct nfa_env env;
    eng_pattern_env(eng, ri, &call, &env);
    /* Advancing time changes a key only at its deadline (a window ends, a
     * pending negation completes, held matches are released by an
     * expiry), so a key whose deadline is later than the event skips it. */
    if (kd->keys[slot].sdl <= ev->time)
        nfa_key_advance(kd->keys[slot].nfa, ev->time, &env);
    nfa_key_process(kd->keys[slot].nfa, ev, &env);
    struct nfa_key *nk = kd->keys[slot].nfa;
    eng_keyed_settle(kd, slot, nfa_key_idle(nk), nfa_key_deadline(nk));
}

void eng_pattern_advance(struct eng *eng, size_t ri, int64_t t)
{
    struct eng_keyed *kd = &eng->keyed[ri];
    if (!eng_keyed_pending(kd, t))
        return;
    struct eng_pat_call call;
    struct nfa_env env;
    eng_pattern_env(eng, ri, &call, &env);
    uint32_t slot;
    while (eng_keyed_due(kd, t, &slot)) {
        struct nfa_key *nk = kd->keys[slot].nfa;
        nfa_key_advance(nk, t, &env);
        eng_keyed_settle(kd, slot, nfa_key_idle(nk), nfa_key_deadline(nk));
    }
}

size_t eng_rule_partials(const struct eng *eng, size_t ri)
{
    const struct eng_keyed *kd = &eng->keyed[ri];
    size_t n = 0;
    for (size_t i = 0; i < kd->n_keys; i++)
        if (kd->keys[i].live && kd->keys[i].nfa)
            n += nfa_key_n_partial(kd->keys[i].nfa);
    return n;
}
