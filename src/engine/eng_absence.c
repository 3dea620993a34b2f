/* SPDX-License-Identifier: Apache-2.0
 * Absence rules (design §2.5): per key, the latest event that satisfied
 * `when`; the key's deadline is that event's time + `for`.  When time
 * reaches it (the watermark, processing time, or the infinite watermark of
 * a flush) with no newer event, the rule fires once: the alert carries the
 * last event (step `last`) and time = last + for, and the key is forgotten,
 * so it fires again only after it is seen again and goes silent again.
 * An event at exactly last + for comes too late to prevent the alert: time
 * advances to an event's timestamp before the event is processed.
 * Tested by: tests/rules/engine/absence.test.yaml, tests/unit/check_eng_state.c */
#include "cepd/cep_common.h"
#include "eng_int.h"

void eng_absence_process(struct eng *eng, size_t ri, struct evt *ev)
{
    const struct rule *r = eng->rs->rules[ri];
    struct eng_keyed *kd = &eng->keyed[ri];
    uint32_t slot;
    if (!eng_keyed_enter(eng, ri, ev, &slot))
        return;
    struct eng_key *k = &kd->keys[slot];
    /* Silence is measured from the latest event in event time (an event
     * behind the watermark, within the lateness, does not move it back). */
    if (!k->last || ev->time >= k->last->time) {
        evt_unref(k->last);
        k->last = evt_ref(ev);
    }
    eng_keyed_settle(kd, slot, false, eng_time_add(k->last->time, r->absence_for));
}

void eng_absence_advance(struct eng *eng, size_t ri, int64_t t)
{
    const struct rule *r = eng->rs->rules[ri];
    struct eng_keyed *kd = &eng->keyed[ri];
    static const int step_last = 0;
    uint32_t slot;
    while (eng_keyed_due(kd, t, &slot)) {
        struct evt *last = kd->keys[slot].last;
        struct eng_view v = {.n = 1,
                             .events = &last,
                             .steps = &step_last,
                             .time = eng_time_add(last->time, r->absence_for)};
        struct expr_ctx ctx = {.ev = last, .counters = &eng->rule_stats[ri].expr, .rt = eng->rt};
        eng_fire(eng, ri, &v, &ctx);
        eng_keyed_drop(kd, slot); /* releases last */
    }
}
