/* SPDX-License-Identifier: Apache-2.0
 * Event time per stream (design §2.3).  Bounded out-of-orderness: the
 * watermark W is the largest time seen minus max_out_of_orderness; buffered
 * events with time < W are released in (time, arrival) order, time
 * advancing to each timestamp before its events, then to just below W.
 * Punctuated: a {"$watermark": M} line releases events with time <= M and
 * advances to M.  An event behind the watermark by more than
 * allowed_lateness is late: counted and sent to the late output, never
 * dropped silently.  Derived streams (fed by emit) follow the slowest of
 * their producers.  Only streams read by stateful rules buffer events, and
 * not in-order events of a stream that allows no reordering at all: they
 * run at once, through the same time advances.
 * Tested by: tests/flink/, tests/rules/engine/ (inorder.test.yaml: the
 * bypass), tests/unit/check_eng.c */
#include "cepd/cep_common.h"
#include "eng_int.h"

#include <string.h>

static bool eng_evt_before(const struct evt *a, const struct evt *b)
{
    return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

static void eng_buf_push(struct eng_stream *s, struct evt *ev)
{
    CEP_GROW(s->buf, s->buf_cap, s->buf_n + 1);
    size_t i = s->buf_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!eng_evt_before(ev, s->buf[parent]))
            break;
        s->buf[i] = s->buf[parent];
        i = parent;
    }
    s->buf[i] = ev;
}

void eng_stream_buffer_take(struct eng_stream *s, struct evt *ev)
{
    eng_buf_push(s, ev);
}

static struct evt *eng_buf_pop(struct eng_stream *s)
{
    struct evt *top = s->buf[0], *last = s->buf[--s->buf_n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->buf_n)
            break;
        if (c + 1 < s->buf_n && eng_evt_before(s->buf[c + 1], s->buf[c]))
            c++;
        if (!eng_evt_before(s->buf[c], last))
            break;
        s->buf[i] = s->buf[c];
        i = c;
    }
    if (s->buf_n)
        s->buf[i] = last;
    return top;
}

static void eng_add_u32(uint32_t **v, size_t *n, uint32_t x)
{
    for (size_t i = 0; i < *n; i++)
        if ((*v)[i] == x)
            return;
    *v = cep_realloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = x;
}

void eng_streams_init(struct eng *eng)
{
    const struct ruleset *rs = eng->rs;
    eng->streams = cep_calloc(rs->n_streams ? rs->n_streams : 1, sizeof(*eng->streams));
    for (size_t i = 0; i < rs->n_streams; i++) {
        struct eng_stream *s = &eng->streams[i];
        s->wm_excl = CEP_TIME_MIN;
        s->max_ts = CEP_TIME_MIN;
        s->now = CEP_TIME_MIN;
        s->last_ts = CEP_TIME_MIN;
        for (size_t k = 0; k < rs->streams[i].n_rules; k++) {
            uint32_t ri = rs->streams[i].rules[k];
            if (eng_rule_stateful(rs->rules[ri]))
                eng_add_u32(&s->stateful_rules, &s->n_stateful, ri);
            if (rs->rules[ri]->throttle.period > 0)
                eng_add_u32(&s->throttled_rules, &s->n_throttled, ri);
        }
        s->stateful = s->n_stateful > 0;
    }
    for (size_t r = 0; r < rs->n_rules; r++) {
        const struct rule *rule = rs->rules[r];
        if (!rule->enabled)
            continue;
        int32_t targets[2] = {rule->emit_stream,
                              rule->on_timeout.enabled ? rule->on_timeout.emit_stream : -1};
        for (int t = 0; t < 2; t++) {
            if (targets[t] < 0)
                continue;
            struct eng_stream *d = &eng->streams[targets[t]];
            d->derived = true;
            eng_add_u32(&d->producers, &d->n_producers, rule->stream);
            struct eng_stream *p = &eng->streams[rule->stream];
            eng_add_u32(&p->consumers, &p->n_consumers, (uint32_t)targets[t]);
        }
    }
}

void eng_streams_free(struct eng *eng)
{
    for (size_t i = 0; i < eng->rs->n_streams; i++) {
        struct eng_stream *s = &eng->streams[i];
        for (size_t k = 0; k < s->buf_n; k++)
            evt_unref(s->buf[k]);
        cep_free(s->buf);
        cep_free(s->producers);
        cep_free(s->consumers);
        cep_free(s->stateful_rules);
        cep_free(s->throttled_rules);
    }
    cep_free(eng->streams);
}

/* Advance the stateful rules of stream si to time t (never backwards). */
static void eng_stream_advance_one(struct eng *eng, uint32_t si, int64_t t)
{
    struct eng_stream *s = &eng->streams[si];
    if (t <= s->now)
        return;
    s->now = t;
    for (size_t k = 0; k < s->n_stateful; k++) {
        uint32_t ri = s->stateful_rules[k];
        if (eng->rs->rules[ri]->kind == RULE_PATTERN)
            eng_pattern_advance(eng, ri, t);
        else if (eng->rs->rules[ri]->kind == RULE_ABSENCE)
            eng_absence_advance(eng, ri, t);
        else
            eng_window_advance(eng, ri, t);
    }
    /* After the rules: alerts they made at t may fold into a period. */
    for (size_t k = 0; k < s->n_throttled; k++)
        eng_throttle_advance(eng, s->throttled_rules[k], t);
    eng_drain_queue(eng);
}

/* Advance every derived stream to the time of its slowest producer (one
 * pass in chain order suffices: chains are acyclic).  Not while derived
 * events wait in the queue: their streams must not pass them before they
 * are processed, so eng_drain_queue calls this again once it is empty. */
void eng_streams_follow(struct eng *eng)
{
    if (eng->q_len) {
        eng->follow_pending = true;
        return;
    }
    eng->follow_pending = false;
    for (size_t o = 0; o < eng->rs->n_streams; o++) {
        uint32_t d = eng->rs->stream_order[o];
        struct eng_stream *ds = &eng->streams[d];
        if (!ds->derived)
            continue;
        int64_t slowest = CEP_TIME_MAX;
        for (size_t p = 0; p < ds->n_producers; p++)
            if (eng->streams[ds->producers[p]].now < slowest)
                slowest = eng->streams[ds->producers[p]].now;
        eng_stream_advance_one(eng, d, slowest);
    }
}

/* Advance stream si to t, then the streams derived from it. */
static void eng_stream_advance(struct eng *eng, uint32_t si, int64_t t)
{
    eng_stream_advance_one(eng, si, t);
    if (eng->streams[si].n_consumers)
        eng_streams_follow(eng);
}

void eng_stream_advance_to(struct eng *eng, uint32_t si, int64_t t)
{
    eng_stream_advance(eng, si, t);
    eng_drain_queue(eng);
}

static void eng_stream_run_stateful(struct eng *eng, struct evt *ev)
{
    eng->streams[ev->stream].last_ts = ev->time;
    eng_dispatch_stateful(eng, ev);
}

void eng_stream_process_now(struct eng *eng, struct evt *ev)
{
    eng_stream_advance(eng, ev->stream, ev->time);
    if (eng->streams[ev->stream].stateful)
        eng_stream_run_stateful(eng, ev);
}

/* Release buffered events with time < excl, in order, then advance to just
 * below excl (when advance is true). */
static void eng_stream_release(struct eng *eng, uint32_t si, int64_t excl, bool advance)
{
    struct eng_stream *s = &eng->streams[si];
    if (excl > s->wm_excl)
        s->wm_excl = excl;
    while (s->buf_n && s->buf[0]->time < excl) {
        struct evt *ev = eng_buf_pop(s);
        eng_stream_advance(eng, si, ev->time);
        eng_stream_run_stateful(eng, ev);
        evt_unref(ev);
        eng_drain_queue(eng);
    }
    if (advance)
        eng_stream_advance(eng, si, excl == CEP_TIME_MAX ? CEP_TIME_MAX : excl - 1);
}

bool eng_stream_offer(struct eng *eng, struct evt *ev)
{
    struct eng_stream *s = &eng->streams[ev->stream];
    const struct rule_time *t = &eng->rs->streams[ev->stream].time;
    /* Late: behind the watermark by more than the allowed lateness.  Only
     * stateful rules wait for the watermark; stateless ones already acted. */
    if (eng_time_late(t, s->stateful, s->wm_excl, ev->time)) {
        eng->stats.late++;
        if (eng->out.late)
            eng->out.late(eng->out.ud, ev);
        return false;
    }
    if (s->stateful && !s->buf_n && t->watermark == RULE_WM_BOUNDED &&
        t->max_out_of_orderness == 0 && t->allowed_lateness == 0) {
        /* In order, no reordering allowed: the event would be released
         * by the next later one with nothing before it, and nothing that
         * arrives after it may go before it (that would be late).  So it
         * runs now, through the same advances, without the buffer: the
         * same alerts, but ahead of the next line's stateless ones
         * (buffered, it would run after them). */
        if (ev->time > s->max_ts)
            s->max_ts = ev->time;
        if (ev->time > s->wm_excl) {
            s->wm_excl = ev->time;
            eng_stream_advance(eng, ev->stream, ev->time - 1);
        }
        eng_stream_advance(eng, ev->stream, ev->time);
        eng_stream_run_stateful(eng, ev);
        eng_drain_queue(eng);
        return true;
    }
    if (s->stateful)
        eng_buf_push(s, evt_ref(ev));
    if (t->watermark == RULE_WM_BOUNDED && ev->time > s->max_ts) {
        s->max_ts = ev->time;
        int64_t w = ev->time - t->max_out_of_orderness;
        if (w > s->wm_excl)
            eng_stream_release(eng, ev->stream, w, true);
    }
    return true;
}

void eng_stream_watermark(struct eng *eng, uint32_t stream, int64_t m)
{
    int64_t excl = m == CEP_TIME_MAX ? CEP_TIME_MAX : m + 1;
    if (excl > eng->streams[stream].wm_excl)
        eng_stream_release(eng, stream, excl, true);
}

void eng_streams_tick(struct eng *eng, int64_t now)
{
    for (size_t si = 0; si < eng->rs->n_streams; si++) {
        struct eng_stream *s = &eng->streams[si];
        const struct rule_time *t = &eng->rs->streams[si].time;
        if (s->derived)
            continue;
        if (!t->has_time) {
            eng_stream_advance(eng, (uint32_t)si, now);
        } else if (eng_time_idle(t, now, s->last_arrival, s->max_ts, s->wm_excl)) {
            eng_stream_release(eng, (uint32_t)si, s->max_ts + 1, true);
        }
    }
    eng_drain_queue(eng);
}

void eng_streams_finish(struct eng *eng, enum eng_eof mode)
{
    for (size_t o = 0; o < eng->rs->n_streams; o++) {
        uint32_t si = eng->rs->stream_order[o];
        struct eng_stream *s = &eng->streams[si];
        if (s->derived)
            continue; /* follows its producers */
        if (mode == ENG_EOF_FLUSH) {
            eng_stream_release(eng, si, CEP_TIME_MAX, true);
        } else {
            /* Drain: release everything, advance only to the last event. */
            eng_stream_release(eng, si, CEP_TIME_MAX, false);
        }
    }
}
