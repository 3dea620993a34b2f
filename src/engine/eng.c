/* SPDX-License-Identifier: Apache-2.0
 * Event dispatch: decode an input line against its stream's schema, take
 * its event time, evaluate every enabled rule of the stream (when, then the
 * exceptions), and act: an alert, a derived event, or both.  Derived events
 * go through a FIFO and are processed before push returns, so a chain of
 * rules sees them in order.  Steady state allocates nothing: the input
 * event, derived events and output buffers are reused.
 * Tested by: tests/unit/check_eng.c, the rule packs' test files (rules/) */
#include "cepd/cep_common.h"
#include "eng_int.h"

#include "cepd/dec.h"

#include <string.h>

/* A chain deeper than this many derived events per input line is a bug in
 * the cycle check; the excess is counted as rejected, never looped on. */
#define ENG_MAX_DERIVED_PER_LINE 100000

struct eng *eng_new(const struct ruleset *rs, const struct eng_output *out)
{
    struct eng *eng = cep_calloc(1, sizeof(*eng));
    eng->rs = rs;
    if (out)
        eng->out = *out;
    eng->rt = expr_rt_new();
    eng->rule_stats = cep_calloc(rs->n_rules ? rs->n_rules : 1, sizeof(*eng->rule_stats));
    eng->rule_src_names = cep_calloc(rs->n_rules ? rs->n_rules : 1, sizeof(char *));
    for (size_t i = 0; i < rs->n_rules; i++)
        eng->rule_src_names[i] = cep_asprintf("rule:%s", rs->rules[i]->id);
    eng->input = evt_new();
    sbuf_init(&eng->alert);
    sbuf_init(&eng->text);
    sbuf_init(&eng->val_json);
    return eng;
}

void eng_free(struct eng *eng)
{
    if (!eng)
        return;
    for (size_t i = 0; i < eng->rs->n_rules; i++)
        cep_free(eng->rule_src_names[i]);
    cep_free(eng->rule_src_names);
    cep_free(eng->rule_stats);
    for (size_t i = 0; i < eng->n_free; i++)
        evt_unref(eng->free_evts[i]);
    cep_free(eng->free_evts);
    for (size_t i = 0; i < eng->q_len; i++)
        evt_unref(eng->queue[(eng->q_head + i) % eng->q_cap]);
    cep_free(eng->queue);
    evt_unref(eng->input);
    expr_rt_free(eng->rt);
    sbuf_free(&eng->alert);
    sbuf_free(&eng->text);
    sbuf_free(&eng->val_json);
    cep_free(eng);
}

const struct eng_stats *eng_stats(const struct eng *eng)
{
    return &eng->stats;
}

const struct eng_rule_stats *eng_rule_stats(const struct eng *eng, size_t rule_index)
{
    CEP_ASSERT(rule_index < eng->rs->n_rules);
    return &eng->rule_stats[rule_index];
}

static struct evt *eng_evt_get(struct eng *eng)
{
    if (eng->n_free)
        return eng->free_evts[--eng->n_free];
    return evt_new();
}

static void eng_evt_put(struct eng *eng, struct evt *ev)
{
    if (ev->refcnt > 1) { /* someone kept it: let them own it */
        evt_unref(ev);
        return;
    }
    CEP_GROW(eng->free_evts, eng->free_cap, eng->n_free + 1);
    eng->free_evts[eng->n_free++] = ev;
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

/* Build the derived event of rule r fired on ev and queue it for its
 * stream.  Its time is the producer's event time; its identity is the
 * producing rule plus the alert id, so ids stay deterministic downstream. */
static void eng_emit(struct eng *eng, size_t rule_index, const struct evt *ev,
                     struct expr_ctx *ctx, uint64_t id_low)
{
    const struct rule *r = eng->rs->rules[rule_index];
    const struct rule_stream *target = &eng->rs->streams[r->emit_stream];
    struct sbuf *sb = &eng->text;
    sbuf_reset(sb);
    if (r->emit_fields) {
        sbuf_putc(sb, '{');
        for (size_t i = 0; i < r->n_emit_fields; i++) {
            struct val v;
            expr_eval(r->emit_fields[i].expr, ctx, &v);
            if (i)
                sbuf_putc(sb, ',');
            sbuf_json_str(sb, r->emit_fields[i].name, strlen(r->emit_fields[i].name));
            sbuf_putc(sb, ':');
            val_to_json(&v, sb);
        }
        sbuf_putc(sb, '}');
    } else {
        sbuf_append(sb, ev->raw, ev->raw_len);
    }
    struct evt *d = eng_evt_get(eng);
    evt_reset(d, sb->buf, sb->len, target->schema->n_slots);
    struct dec_err derr;
    if (NEVER(dec_json_line(target->schema, d, &derr) != CEP_OK)) {
        eng->stats.rejected++;
        eng_evt_put(eng, d);
        return;
    }
    d->stream = (uint32_t)r->emit_stream;
    d->time = ev->time;
    d->seq = ev->seq;
    d->src_name = eng->rule_src_names[rule_index];
    d->src_off = id_low;
    eng->rule_stats[rule_index].emitted++;
    eng->stats.derived++;
    eng_queue_push(eng, d);
}

/* Run every enabled rule of ev's stream on ev. */
static void eng_dispatch(struct eng *eng, const struct evt *ev)
{
    const struct rule_stream *st = &eng->rs->streams[ev->stream];
    for (size_t i = 0; i < st->n_rules; i++) {
        size_t ri = st->rules[i];
        const struct rule *r = eng->rs->rules[ri];
        struct eng_rule_stats *rst = &eng->rule_stats[ri];
        struct expr_ctx ctx = {.ev = ev, .counters = &rst->expr, .rt = eng->rt};
        rst->evaluated++;
        if (r->when && !expr_eval_bool(r->when, &ctx))
            continue;
        bool excepted = false;
        for (size_t k = 0; k < r->n_exceptions && !excepted; k++)
            excepted = expr_eval_bool(r->exceptions[k], &ctx);
        if (excepted)
            continue;
        rst->matched++;
        /* A filter that emits forwards into its stream only; everything
         * else alerts (and emits, when it has an emit block). */
        bool to_sinks = !(r->kind == RULE_FILTER && r->emit_stream >= 0);
        char id_hex[33];
        uint64_t id_low = eng_alert_build(eng, ri, ev, &ctx, id_hex);
        if (to_sinks) {
            rst->alerts++;
            eng->stats.alerts++;
            if (eng->out.alert)
                eng->out.alert(eng->out.ud, r, eng->alert.buf, eng->alert.len);
        }
        if (r->emit_stream >= 0)
            eng_emit(eng, ri, ev, &ctx, id_low);
    }
}

/* Decode ev (raw already set) for its stream and give it an event time.
 * Returns CEP_OK, CEP_AGAIN for a punctuation (watermark) line, or CEP_ERR. */
static int eng_decode(struct eng *eng, struct evt *ev, struct eng_reject *rej)
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
    if (t->watermark_slot >= 0 && ev->slots[t->watermark_slot].type != VAL_NULL) {
        int64_t wm;
        if (eng_time_from_val(&ev->slots[t->watermark_slot], t->unit, &wm) != CEP_OK) {
            rej->reason = "invalid $watermark value";
            rej->offset = 0;
            return CEP_ERR;
        }
        /* Punctuation: time-driven rules (patterns, windows) consume it;
         * stateless rules have nothing to release. */
        return CEP_AGAIN;
    }
    const struct val *tv = &ev->slots[t->time_slot];
    if (tv->type == VAL_NULL) {
        rej->reason = "missing event time field";
        rej->offset = 0;
        return CEP_ERR;
    }
    if (eng_time_from_val(tv, t->unit, &ev->time) != CEP_OK) {
        rej->reason = "invalid event time";
        rej->offset = 0;
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
    if (CEP_UNLIKELY(ev->refcnt > 1)) { /* kept by a rule: start a fresh one */
        evt_unref(ev);
        ev = eng->input = evt_new();
    }
    evt_reset(ev, line, len, st->schema->n_slots);
    ev->stream = stream;
    ev->seq = eng->stats.lines;
    ev->src_name = src_name;
    ev->src_off = src_off;
    int rc = eng_decode(eng, ev, rej);
    if (rc == CEP_ERR) {
        eng->stats.rejected++;
        return CEP_ERR;
    }
    if (rc == CEP_AGAIN)
        return CEP_OK;
    eng->stats.events++;
    eng_dispatch(eng, ev);
    size_t budget = ENG_MAX_DERIVED_PER_LINE;
    struct evt *d;
    while ((d = eng_queue_pop(eng)) != NULL) {
        if (budget-- > 0)
            eng_dispatch(eng, d);
        else
            eng->stats.rejected++;
        eng_evt_put(eng, d);
    }
    return CEP_OK;
}

void eng_note_rejected(struct eng *eng)
{
    eng->stats.lines++;
    eng->stats.rejected++;
}

void eng_finish(struct eng *eng, enum eng_eof mode)
{
    /* Stateless rules hold nothing at end of input; stateful rule kinds
     * release buffered events and fire timers here (flush or drain). */
    CEP_UNUSED(eng);
    CEP_UNUSED(mode);
}
