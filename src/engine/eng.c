/* SPDX-License-Identifier: Apache-2.0
 * Event dispatch: decode an input line against its stream's schema, take
 * its event time, and hand it to the rules of the stream.  Stateless rules
 * (simple, filter) act on arrival; stateful ones (pattern, aggregate,
 * absence) see events in event-time order through eng_stream.c.  A rule
 * that fires produces an alert and/or a derived event; derived events go
 * through a FIFO and are processed before push returns, so a chain of
 * rules sees them in order.
 * Steady state allocates nothing for stateless rules: the input event,
 * derived events and output buffers are reused.
 * Tested by: tests/unit/check_eng.c, tests/rules/, tests/flink/ */
#include "cepd/cep_common.h"
#include "eng_int.h"

#include "cepd/dec.h"
#include "cepd/win.h"

#include <string.h>

/* A chain deeper than this many derived events per input line is a bug in
 * the cycle check; the excess is counted as rejected, never looped on. */
#define ENG_MAX_DERIVED_PER_LINE 100000

struct eng *eng_new(const struct ruleset *rs, const struct eng_output *out)
{
    struct eng *eng = cep_calloc(1, sizeof(*eng));
    size_t n_rules = rs->n_rules ? rs->n_rules : 1;
    eng->rs = rs;
    if (out)
        eng->out = *out;
    eng->rt = expr_rt_new();
    eng->rule_stats = cep_calloc(n_rules, sizeof(*eng->rule_stats));
    eng->rule_src_names = cep_calloc(n_rules, sizeof(char *));
    eng->keyed = cep_calloc(n_rules, sizeof(*eng->keyed));
    for (size_t i = 0; i < rs->n_rules; i++) {
        eng->rule_src_names[i] = cep_asprintf("rule:%s", rs->rules[i]->id);
        eng_keyed_init(&eng->keyed[i], rs->rules[i]);
    }
    evt_pool_init(&eng->pool);
    eng->input = evt_pool_get(&eng->pool);
    sbuf_init(&eng->alert);
    sbuf_init(&eng->text);
    sbuf_init(&eng->val_json);
    sbuf_init(&eng->key);
    eng_streams_init(eng);
    return eng;
}

void eng_free(struct eng *eng)
{
    if (!eng)
        return;
    /* Everything that holds events first: they go back to the pool. */
    eng_streams_free(eng);
    for (size_t i = 0; i < eng->rs->n_rules; i++) {
        cep_free(eng->rule_src_names[i]);
        eng_keyed_free(&eng->keyed[i]);
    }
    cep_free(eng->keyed);
    cep_free(eng->rule_src_names);
    for (size_t i = 0; i < eng->n_retired; i++)
        cep_free(eng->retired[i]);
    cep_free(eng->retired);
    cep_free(eng->rule_stats);
    for (size_t i = 0; i < eng->q_len; i++)
        evt_unref(eng->queue[(eng->q_head + i) % eng->q_cap]);
    cep_free(eng->queue);
    evt_unref(eng->input);
    evt_pool_fini(&eng->pool);
    expr_rt_free(eng->rt);
    sbuf_free(&eng->alert);
    sbuf_free(&eng->text);
    sbuf_free(&eng->val_json);
    sbuf_free(&eng->key);
    cep_free(eng);
}

const struct eng_stats *eng_stats(const struct eng *eng)
{
    return &eng->stats;
}

int64_t eng_watermark(const struct eng *eng, uint32_t stream)
{
    CEP_ASSERT(stream < eng->rs->n_streams);
    const struct eng_stream *s = &eng->streams[stream];
    if (eng->rs->streams[stream].time.has_time && !s->derived && s->stateful)
        return s->wm_excl == CEP_TIME_MIN ? CEP_TIME_MIN : s->wm_excl - 1;
    return s->now;
}

const struct eng_rule_stats *eng_rule_stats(const struct eng *eng, size_t rule_index)
{
    CEP_ASSERT(rule_index < eng->rs->n_rules);
    /* Counted with the keyed state (which moves with it on reload). */
    eng->rule_stats[rule_index].expired = eng->keyed[rule_index].n_expired;
    return &eng->rule_stats[rule_index];
}

static void eng_queue_push(struct eng *eng, struct evt *ev)
{
    if (eng->q_len == eng->q_cap) {
        size_t old_cap = eng->q_cap, new_cap = old_cap ? old_cap * 2 : 16;
        struct evt **q = cep_malloc(new_cap * sizeof(*q));
        for (size_t i = 0; i < eng->q_len; i++)
            q[i] = eng->queue[(eng->q_head + i) % old_cap];
        cep_free(eng->queue);
        eng->queue = q;
        eng->q_cap = new_cap;
        eng->q_head = 0;
    }
    eng->queue[(eng->q_head + eng->q_len) % eng->q_cap] = ev;
    eng->q_len++;
}

static struct evt *eng_queue_pop(struct eng *eng)
{
    if (!eng->q_len)
        return NULL;
    struct evt *ev = eng->queue[eng->q_head];
    eng->q_head = (eng->q_head + 1) % eng->q_cap;
    eng->q_len--;
    return ev;
}

/* Build the derived event of rule ri (emit block `fields`, or the view's
 * last event when fields is NULL and there is one) and queue it for stream `target`.  Its
 * time is the view's time; its identity is the producing rule plus the
 * alert id, so ids stay deterministic downstream. */
static void eng_emit(struct eng *eng, size_t ri, int32_t target, const struct rule_field *fields,
                     size_t n_fields, const struct eng_view *v, struct expr_ctx *ctx,
                     uint64_t id_low)
{
    const struct rule_stream *st = &eng->rs->streams[target];
    const struct evt *last = v->n ? v->events[v->n - 1] : NULL;
    struct sbuf *sb = &eng->text;
    if (!fields && !last)
        return; /* nothing to forward */
    sbuf_reset(sb);
    if (fields) {
        sbuf_putc(sb, '{');
        for (size_t i = 0; i < n_fields; i++) {
            struct val val;
            expr_eval(fields[i].expr, ctx, &val);
            if (i)
                sbuf_putc(sb, ',');
            sbuf_json_str(sb, fields[i].name, strlen(fields[i].name));
            sbuf_putc(sb, ':');
            val_to_json(&val, sb);
        }
        sbuf_putc(sb, '}');
    } else {
        sbuf_append(sb, last->raw, last->raw_len);
    }
    struct evt *d = evt_pool_get(&eng->pool);
    evt_reset(d, sb->buf, sb->len, st->schema->n_slots);
    struct dec_err derr;
    if (NEVER(dec_json_line(st->schema, d, &derr) != CEP_OK)) {
        eng->stats.rejected++;
        evt_unref(d);
        return;
    }
    d->stream = (uint32_t)target;
    d->time = v->time;
    d->seq = last ? last->seq : 0;
    d->src_name = eng->rule_src_names[ri];
    d->src_off = id_low;
    eng->rule_stats[ri].emitted++;
    eng->stats.derived++;
    eng_queue_push(eng, d);
}

void eng_alert_send(struct eng *eng, size_t ri, const char *id_hex, int64_t time,
                    const char *json, size_t len)
{
    eng->rule_stats[ri].alerts++;
    eng->stats.alerts++;
    if (eng->out.alert) {
        struct eng_alert a = {.rule_index = ri, .rule = eng->rs->rules[ri], .id = id_hex,
                              .time = time, .json = json, .len = len};
        eng->out.alert(eng->out.ud, &a);
    }
}

void eng_fire(struct eng *eng, size_t ri, const struct eng_view *v, struct expr_ctx *ctx)
{
    const struct rule *r = eng->rs->rules[ri];
    struct eng_rule_stats *rst = &eng->rule_stats[ri];
    for (size_t k = 0; k < r->n_exceptions; k++)
        if (expr_eval_bool(r->exceptions[k], ctx))
            return;
    rst->matched++;
    int32_t emit = v->timed_out ? r->on_timeout.emit_stream : r->emit_stream;
    /* A filter that emits forwards into its stream only; everything else
     * alerts (and emits, when it has an emit block). */
    bool to_sinks = !(r->kind == RULE_FILTER && emit >= 0);
    char id_hex[33];
    uint64_t id_low = eng_alert_build(eng, ri, v, ctx, id_hex);
    /* Throttling folds repeats; a window's correction always goes out
     * (it refers to an alert by id). */
    if (to_sinks && r->throttle.period > 0 && !(v->win && v->win->revision) &&
        !eng_throttle_admit(eng, ri, v, ctx, id_hex)) {
        rst->throttled++;
        to_sinks = false;
    }
    if (to_sinks)
        eng_alert_send(eng, ri, id_hex, v->time, eng->alert.buf, eng->alert.len);
    /* A window's corrections are alerts only: downstream rules already
     * counted the derived event of its first alert. */
    if (v->win && v->win->revision)
        emit = -1;
    if (emit >= 0) {
        if (v->timed_out)
            eng_emit(eng, ri, emit, r->on_timeout.emit_fields, r->on_timeout.n_emit_fields, v,
                     ctx, id_low);
        else
            eng_emit(eng, ri, emit, r->emit_fields, r->n_emit_fields, v, ctx, id_low);
    }
}

void eng_dispatch_stateless(struct eng *eng, const struct evt *ev)
{
    const struct rule_stream *st = &eng->rs->streams[ev->stream];
    for (size_t i = 0; i < st->n_rules; i++) {
        size_t ri = st->rules[i];
        const struct rule *r = eng->rs->rules[ri];
        if (r->kind != RULE_SIMPLE && r->kind != RULE_FILTER)
            continue;
        struct eng_rule_stats *rst = &eng->rule_stats[ri];
        struct expr_ctx ctx = {.ev = ev, .counters = &rst->expr, .rt = eng->rt};
        rst->evaluated++;
        if (r->when && !expr_eval_bool(r->when, &ctx))
            continue;
        struct evt *one = (struct evt *)ev;
        struct eng_view v = {.n = 1, .events = &one, .time = ev->time};
        eng_fire(eng, ri, &v, &ctx);
    }
}

/* An event enters its stream: stateless rules at once, stateful rules in
 * time order (buffered on event-time streams). */
static void eng_route(struct eng *eng, struct evt *ev)
{
    eng_dispatch_stateless(eng, ev);
    const struct eng_stream *s = &eng->streams[ev->stream];
    /* Time matters to a stream's own stateful rules, to the streams its
     * rules emit into, which follow its watermark, and to the throttle
     * tables of its rules. */
    if (!s->stateful && !s->n_consumers && !s->n_throttled)
        return;
    const struct rule_time *t = &eng->rs->streams[ev->stream].time;
    if (t->has_time && !s->derived)
        eng_stream_offer(eng, ev);
    else
        eng_stream_process_now(eng, ev);
}

void eng_drain_queue(struct eng *eng)
{
    if (eng->draining)
        return;
    eng->draining = true;
    size_t budget = ENG_MAX_DERIVED_PER_LINE;
    struct evt *d;
    for (;;) {
        while ((d = eng_queue_pop(eng)) != NULL) {
            if (budget-- > 0)
                eng_route(eng, d);
            else
                eng->stats.rejected++;
            evt_unref(d); /* back to the pool unless a partial match kept it */
        }
        if (!eng->follow_pending)
            break;
        eng_streams_follow(eng); /* may queue more derived events */
    }
    eng->draining = false;
}

int eng_evt_decode(struct eng *eng, struct evt *ev, uint32_t stream, const char *raw, size_t len)
{
    const struct evt_schema *schema = eng->rs->streams[stream].schema;
    evt_reset(ev, raw, len, schema->n_slots);
    ev->stream = stream;
    struct dec_err derr;
    return dec_json_line(schema, ev, &derr);
}

/* Decode ev (raw already set) for its stream and give it an event time.
 * Returns CEP_OK, CEP_AGAIN for a punctuation (watermark) line with the
 * watermark in *wm, or CEP_ERR. */
static int eng_decode(struct eng *eng, struct evt *ev, int64_t *wm, struct eng_reject *rej)
{
    const struct rule_stream *st = &eng->rs->streams[ev->stream];
    struct dec_err derr;
    if (dec_json_line(st->schema, ev, &derr) != CEP_OK) {
        rej->reason = derr.reason;
        rej->offset = derr.offset;
        return CEP_ERR;
    }
    const struct rule_time *t = &st->time;
    if (!t->has_time) {
        ev->time = eng_now_us();
        return CEP_OK;
    }
    rej->offset = 0;
    if (t->watermark_slot >= 0 && ev->slots[t->watermark_slot].type != VAL_NULL) {
        if (eng_time_from_val(&ev->slots[t->watermark_slot], t->unit, wm) != CEP_OK) {
            rej->reason = "invalid $watermark value";
            return CEP_ERR;
        }
        return CEP_AGAIN;
    }
    const struct val *tv = &ev->slots[t->time_slot];
    if (tv->type == VAL_NULL) {
        rej->reason = "missing event time field";
        return CEP_ERR;
    }
    if (eng_time_from_val(tv, t->unit, &ev->time) != CEP_OK) {
        rej->reason = "invalid event time";
        return CEP_ERR;
    }
    return CEP_OK;
}

int eng_push_line(struct eng *eng, uint32_t stream, const char *line, size_t len,
                  const char *src_name, uint64_t src_off, struct eng_reject *rej)
{
    CEP_ASSERT(stream < eng->rs->n_streams);
    const struct rule_stream *st = &eng->rs->streams[stream];
    struct evt *ev = eng->input;
    eng->stats.lines++;
    if (CEP_UNLIKELY(ev->refcnt > 1)) { /* kept by a partial match: take another */
        evt_unref(ev);
        ev = eng->input = evt_pool_get(&eng->pool);
    }
    evt_reset(ev, line, len, st->schema->n_slots);
    ev->stream = stream;
    ev->seq = eng->stats.lines;
    ev->src_name = src_name;
    ev->src_off = src_off;
    int64_t wm = 0;
    int rc = eng_decode(eng, ev, &wm, rej);
    if (rc == CEP_ERR) {
        eng->stats.rejected++;
        return CEP_ERR;
    }
    if (rc == CEP_AGAIN) {
        eng_stream_watermark(eng, stream, wm);
    } else {
        eng->stats.events++;
        if (st->time.idle_timeout > 0)
            eng->streams[stream].last_arrival = eng_now_us();
        eng_route(eng, ev);
    }
    eng_drain_queue(eng);
    return CEP_OK;
}

void eng_note_rejected(struct eng *eng)
{
    eng->stats.lines++;
    eng->stats.rejected++;
}

void eng_tick(struct eng *eng, int64_t now)
{
    eng_streams_tick(eng, now);
}

void eng_finish(struct eng *eng, enum eng_eof mode)
{
    eng_streams_finish(eng, mode);
    eng_drain_queue(eng);
}
