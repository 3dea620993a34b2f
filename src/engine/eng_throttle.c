/* SPDX-License-Identifier: Apache-2.0
 * Throttling (design §2.5, `throttle: {key, period}`): per throttled rule, a
 * table of throttle keys (eng_keyed.c, hanging off the rule's keyed state).
 * The first alert of a key goes out and opens a period [t, t + period);
 * alerts of the key inside it are folded: counted, the latest kept whole.
 * The first alert at or after the period's end goes out carrying
 * "suppressed": N with "suppressed_first"/"suppressed_last" (the times of
 * the folded alerts) and opens the next period.  Nothing is lost: when no
 * alert comes within one more period (or time ends, with a flush), the
 * kept alert itself is sent as the summary, carrying the others.  Times
 * are the alerts' times (event time; arrival time on streams without
 * `time:`); the table's timers follow the rule's stream.
 * Tested by: tests/rules/engine/throttle.test.yaml, tests/unit/check_eng_state.c */
#include "cepd/cep_common.h"
#include "eng_int.h"

#include <string.h>

struct eng_thr *eng_thr_of(struct eng_key *k)
{
    if (!k->thr) { /* once per slot: kept with it when the key is dropped */
        k->thr = cep_calloc(1, sizeof(*k->thr));
        sbuf_init(&k->thr->kept);
    }
    return k->thr;
}

/* Append the count and time span of n folded alerts to an alert's JSON
 * (which ends with its closing brace). */
static void eng_thr_carry(struct sbuf *sb, uint64_t n, int64_t first, int64_t last)
{
    if (!n)
        return;
    sb->len--;
    sbuf_printf(sb, ",\"suppressed\":%llu,\"suppressed_first\":", (unsigned long long)n);
    eng_json_time(sb, first);
    sbuf_puts(sb, ",\"suppressed_last\":");
    eng_json_time(sb, last);
    sbuf_putc(sb, '}');
}

/* Send the kept alert, which stands for itself and the n - 1 before it. */
static void eng_thr_summary(struct eng *eng, size_t ri, struct eng_thr *e)
{
    eng_thr_carry(&e->kept, e->n - 1, e->first, e->last);
    eng_alert_send(eng, ri, e->kept_id, e->kept_time, e->kept.buf, e->kept.len);
    e->n = 0;
}

bool eng_throttle_admit(struct eng *eng, size_t ri, const struct eng_view *v,
                        struct expr_ctx *ctx, const char id_hex[33])
{
    const struct rule *r = eng->rs->rules[ri];
    const struct rule_throttle *th = &r->throttle;
    struct eng_keyed *tk = eng->keyed[ri].throttle;
    int64_t t = v->time;
    /* eng->key is free here: the rule's own key was looked up before the
     * rule ran, and nothing reads it until the next event. */
    if (th->rule_key)
        eng_keyed_fields_json(&eng->key, r->key, r->n_key, ctx);
    else
        eng_keyed_fields_json(&eng->key, th->key, th->n_key, ctx);
    size_t live = tk->n_live;
    uint32_t slot = eng_keyed_get(tk, NULL, eng->key.buf, eng->key.len);
    struct eng_thr *e = eng_thr_of(&tk->keys[slot]);
    if (tk->n_live == live && t < e->until) {
        /* Fold.  The alert kept before this one joins the others. */
        if (e->n == 1) {
            e->first = e->last = e->kept_time;
        } else if (e->n > 1) {
            e->first = e->kept_time < e->first ? e->kept_time : e->first;
            e->last = e->kept_time > e->last ? e->kept_time : e->last;
        }
        e->n++;
        e->kept_time = t;
        memcpy(e->kept_id, id_hex, 33);
        sbuf_reset(&e->kept);
        sbuf_append(&e->kept, eng->alert.buf, eng->alert.len);
        eng_keyed_settle(tk, slot, false, eng_time_add(e->until, th->period));
        return false;
    }
    if (tk->n_live == live && e->n) {
        if (t >= eng_time_add(e->until, th->period)) {
            eng_thr_summary(eng, ri, e); /* its time to be carried has passed */
        } else {
            int64_t first = e->n == 1 || e->kept_time < e->first ? e->kept_time : e->first;
            int64_t last = e->n == 1 || e->kept_time > e->last ? e->kept_time : e->last;
            eng_thr_carry(&eng->alert, e->n, first, last);
        }
    }
    e->n = 0;
    sbuf_reset(&e->kept);
    e->until = eng_time_add(t, th->period);
    eng_keyed_settle(tk, slot, false, e->until);
    return true;
}

void eng_throttle_advance(struct eng *eng, size_t ri, int64_t t)
{
    struct eng_keyed *tk = eng->keyed[ri].throttle;
    uint32_t slot;
    while (eng_keyed_due(tk, t, &slot)) {
        struct eng_thr *e = tk->keys[slot].thr;
        if (e->n)
            eng_thr_summary(eng, ri, e);
        eng_keyed_drop(tk, slot);
    }
}
