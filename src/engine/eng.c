/* SPDX-License-Identifier: Apache-2.0
 * Event dispatch: decode an input line against its stream's schema, take
 * its event time, and hand it to the rules of the stream.  Stateless rules
 * (simple, filter) act on arrival; stateful ones (pattern, aggregate,
 * absence) see events in event-time order through eng_stream.c.  A rule
 * that fires produces an alert and/or a derived event; derived events go
 * through a FIFO and are processed before push returns, so a chain of
 * rules sees them in order.
 * Each stream's rule index (rule_index.c) picks the rules an event can
 * match, in rule order, and evaluates simple and filter rules' conditions
 * with predicates shared between rules computed once per event; alerts,
 * derived events and counters are the same as visiting every rule.
 * Steady state allocates nothing for stateless rules: the input event,
 * derived events and output buffers are reused.  Lines a syslog or regex
 * format decoded come in through eng_push_decoded, which fills the slots
 * from the format's field list instead of parsing the JSON text again.
 * Tested by: tests/unit/check_eng.c, tests/unit/check_rule_index.c, tests/rules/,
 * tests/flink/ */
#include "cepd/cep_common.h"
#include "eng_int.h"

#include "cepd/dec.h"
#include "cepd/json.h"
#include "cepd/nfa.h"
#include "cepd/win.h"

#include <string.h>

/* A chain deeper than this many derived events per input line is a bug in
 * the cycle check; the excess is counted as rejected, never looped on. */
#define ENG_MAX_DERIVED_PER_LINE 100000

/* A format's field-name table bound to a stream's schema: per field its
 * top-level slot (-1: no rule reads it) and whether rules read paths below
 * it (an object value then needs the JSON decoder).  Found by the table's
 * address (the format's, stable while it lives) and hash, else by its
 * names: a new table with the same names (a reload's format) takes over
 * the binding, and a table is never bound by its hash alone. */
struct eng_fbind {
    const struct eng_fnames *names; /* the table last seen with these names */
    uint64_t hash;
    uint32_t stream;
    uint32_t n;
    struct sbuf all;   /* the names, each length-prefixed */
    int32_t *slots;
    bool *deep;
    bool any_deep; /* some deep[i]: object values must be looked at */
};

/* The names of t as eng_fbind.all keeps them. */
static void eng_fnames_put(struct sbuf *sb, const struct eng_fnames *t)
{
    for (uint32_t i = 0; i < t->n; i++) {
        uint32_t len = (uint32_t)t->lens[i];
        sbuf_append(sb, &len, sizeof(len));
        sbuf_append(sb, t->names[i], t->lens[i]);
    }
}

/* Is b the binding of t's names on stream `stream`? */
static bool eng_fbind_is(const struct eng_fbind *b, uint32_t stream, const struct eng_fnames *t)
{
    if (b->stream != stream || b->hash != t->hash || b->n != t->n)
        return false;
    const char *p = b->all.buf; /* b->n entries, as many as t has */
    for (uint32_t i = 0; i < t->n; i++) {
        uint32_t len;
        memcpy(&len, p, sizeof(len));
        p += sizeof(len);
        if (len != t->lens[i] || memcmp(p, t->names[i], len) != 0)
            return false;
        p += len;
    }
    return true;
}

struct eng *eng_new(const struct ruleset *rs, const struct eng_output *out)
{
    struct eng *eng = cep_calloc(1, sizeof(*eng));
    size_t n_rules = rs->n_rules ? rs->n_rules : 1;
    eng->rs = rs;
    if (out)
        eng->out = *out;
    eng->rt = expr_rt_new();
    eng->nfa_work = nfa_work_new();
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
    size_t n_streams = rs->n_streams ? rs->n_streams : 1;
    eng->ix_now_n = cep_calloc(n_streams, sizeof(*eng->ix_now_n));
    eng->ix_state_n = cep_calloc(n_streams, sizeof(*eng->ix_state_n));
    eng->ix_seen = cep_calloc(n_rules, sizeof(*eng->ix_seen));
    eng->ix_memo = cep_calloc(n_streams, sizeof(*eng->ix_memo));
    eng->ix_smemo = cep_calloc(n_streams, sizeof(*eng->ix_smemo));
    for (size_t i = 0; i < rs->n_streams; i++) {
        rule_index_memo_init(&eng->ix_memo[i], rs->streams[i].ix_now);
        rule_index_memo_init(&eng->ix_smemo[i], rs->streams[i].ix_state);
    }
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
    nfa_work_free(eng->nfa_work);
    sbuf_free(&eng->alert);
    sbuf_free(&eng->text);
    sbuf_free(&eng->val_json);
    sbuf_free(&eng->key);
    for (size_t i = 0; i < eng->rs->n_streams; i++) {
        rule_index_memo_fini(&eng->ix_memo[i]);
        rule_index_memo_fini(&eng->ix_smemo[i]);
    }
    cep_free(eng->ix_memo);
    cep_free(eng->ix_smemo);
    cep_free(eng->ix_seen);
    cep_free(eng->ix_now_n);
    cep_free(eng->ix_state_n);
    for (size_t i = 0; i < eng->n_fbind; i++) {
        cep_free(eng->fbind[i].slots);
        cep_free(eng->fbind[i].deep);
        sbuf_free(&eng->fbind[i].all);
    }
    cep_free(eng->fbind);
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

static bool eng_rule_on_arrival(const struct rule *r)
{
    return r->kind == RULE_SIMPLE || r->kind == RULE_FILTER;
}

/* Bring rule ri's `evaluated` up to date: every event its stream gave to
 * its kind of rules counts, visited or skipped by the index (a stateful
 * rule's visits are counted by eng_keyed_enter, see eng_dispatch_stateful). */
static void eng_ix_sync(const struct eng *eng, size_t ri)
{
    const struct rule *r = eng->rs->rules[ri];
    if (!r->enabled)
        return;
    uint64_t d = eng_rule_on_arrival(r) ? eng->ix_now_n[r->stream] : eng->ix_state_n[r->stream];
    eng->rule_stats[ri].evaluated += d - eng->ix_seen[ri];
    eng->ix_seen[ri] = d;
}

const struct eng_rule_stats *eng_rule_stats(const struct eng *eng, size_t rule_index)
{
    CEP_ASSERT(rule_index < eng->rs->n_rules);
    eng_ix_sync(eng, rule_index);
    /* Counted with the keyed state (which moves with it on reload). */
    eng->rule_stats[rule_index].expired = eng->keyed[rule_index].n_expired;
    return &eng->rule_stats[rule_index];
}

void eng_rule_report(const struct eng *eng, size_t rule_index, struct eng_rule_report *out)
{
    out->st = *eng_rule_stats(eng, rule_index);
    out->partials = eng_rule_partials(eng, rule_index);
    out->keys = eng_rule_keys(eng, rule_index);
    out->state_bytes = eng_rule_state_bytes(eng, rule_index);
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
        evt_text_append(last, sb);
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

/* The simple and filter rules the index picks for ev, in rule order.  The
 * memo holds the event's visit list, so dispatches do not nest: alerts go
 * to the sinks and derived events to the queue, drained afterwards.  Every
 * event counts in every rule's `evaluated`, visited or not: eng_ix_sync
 * adds them up when the stats are read. */
void eng_dispatch_stateless(struct eng *eng, const struct evt *ev)
{
    const struct rule_index *ix = eng->rs->streams[ev->stream].ix_now;
    if (!rule_index_n_rules(ix))
        return;
    eng->ix_now_n[ev->stream]++;
    struct rule_index_memo *memo = &eng->ix_memo[ev->stream];
    uint32_t gen = rule_index_memo_next(memo);
    struct rule_index_iter it;
    uint32_t pos;
    struct expr_ctx ctx = {.ev = ev, .rt = eng->rt};
    rule_index_begin(ix, &ctx, memo, gen, &it);
    while (rule_index_next(&it, &pos)) {
        size_t ri = rule_index_rule(ix, pos);
        ctx.counters = &eng->rule_stats[ri].expr; /* nothing else in ctx changes */
        if (!rule_index_when(ix, pos, &ctx, memo, gen))
            continue;
        struct evt *one = (struct evt *)ev;
        struct eng_view v = {.n = 1, .events = &one, .time = ev->time};
        eng_fire(eng, ri, &v, &ctx);
    }
}

/* A stateful rule does nothing with an event its `when` rejects
 * (eng_keyed_enter evaluates it first, whole), so rules the index skips
 * would have done nothing; their `evaluated` is counted lazily
 * (eng_ix_sync), the visited ones' by eng_keyed_enter.  The memo serves
 * only the index's groups here. */
static inline void eng_dispatch_rule(struct eng *eng, uint32_t ri, struct evt *ev, uint64_t d)
{
    eng->rule_stats[ri].evaluated += d - 1 - eng->ix_seen[ri];
    eng->ix_seen[ri] = d;
    switch (eng->rs->rules[ri]->kind) {
        case RULE_PATTERN:
            eng_pattern_process(eng, ri, ev);
            break;
        case RULE_ABSENCE:
            eng_absence_process(eng, ri, ev);
            break;
        default:
            eng_window_process(eng, ri, ev);
            break;
    }
}

void eng_dispatch_stateful(struct eng *eng, struct evt *ev)
{
    const struct rule_index *ix = eng->rs->streams[ev->stream].ix_state;
    uint64_t d = ++eng->ix_state_n[ev->stream];
    if (rule_index_visits_all(ix)) { /* no `when` to index: no iteration */
        for (uint32_t pos = 0; pos < rule_index_n_rules(ix); pos++)
            eng_dispatch_rule(eng, rule_index_rule(ix, pos), ev, d);
        return;
    }
    struct rule_index_memo *memo = &eng->ix_smemo[ev->stream];
    uint32_t gen = rule_index_memo_next(memo);
    struct rule_index_iter it;
    uint32_t pos;
    struct expr_ctx ictx = {.ev = ev, .rt = eng->rt};
    rule_index_begin(ix, &ictx, memo, gen, &it);
    while (rule_index_next(&it, &pos))
        eng_dispatch_rule(eng, rule_index_rule(ix, pos), ev, d);
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

void eng_drain_queue_now(struct eng *eng)
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

/* Give ev (decoded) an event time.  Returns CEP_OK, CEP_AGAIN for a
 * punctuation (watermark) line with the watermark in *wm, or CEP_ERR.
 * known_us, when not NULL, is the time the time field's value stands for. */
static int eng_decode_time(struct eng *eng, struct evt *ev, const int64_t *known_us, int64_t *wm,
                           struct eng_reject *rej)
{
    const struct rule_time *t = &eng->rs->streams[ev->stream].time;
    if (!t->has_time) {
        ev->time = eng_now_us();
        return CEP_OK;
    }
    return eng_evt_time(t, ev, known_us, wm, rej);
}

int eng_evt_time(const struct rule_time *t, struct evt *ev, const int64_t *known_us, int64_t *wm,
                 struct eng_reject *rej)
{
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
    if (known_us) {
        ev->time = *known_us;
        return CEP_OK;
    }
    if (eng_time_from_val(tv, t->unit, &ev->time) != CEP_OK) {
        rej->reason = "invalid event time";
        return CEP_ERR;
    }
    return CEP_OK;
}

/* The input event, holding line, for stream `stream`, slots null. */
static struct evt *eng_input_take(struct eng *eng, uint32_t stream, const char *line, size_t len,
                                  const char *src_name, uint64_t src_off)
{
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
    return ev;
}

/* The input event ev is decoded (rc CEP_OK, or CEP_ERR with rej set): its
 * time, then the rules. */
static int eng_input_run(struct eng *eng, struct evt *ev, int rc, const int64_t *known_us,
                         struct eng_reject *rej)
{
    uint32_t stream = ev->stream;
    int64_t wm = 0;
    if (rc == CEP_OK)
        rc = eng_decode_time(eng, ev, known_us, &wm, rej);
    if (rc == CEP_ERR) {
        eng->stats.rejected++;
        return CEP_ERR;
    }
    if (rc == CEP_AGAIN) {
        eng_stream_watermark(eng, stream, wm);
    } else {
        eng->stats.events++;
        if (eng->rs->streams[stream].time.idle_timeout > 0)
            eng->streams[stream].last_arrival = eng_now_us();
        eng_route(eng, ev);
    }
    eng_drain_queue(eng);
    return CEP_OK;
}

int eng_push_line(struct eng *eng, uint32_t stream, const char *line, size_t len,
                  const char *src_name, uint64_t src_off, struct eng_reject *rej)
{
    CEP_ASSERT(stream < eng->rs->n_streams);
    struct evt *ev = eng_input_take(eng, stream, line, len, src_name, src_off);
    struct dec_err derr;
    int rc = dec_json_line(eng->rs->streams[stream].schema, ev, &derr);
    if (rc != CEP_OK) {
        rej->reason = derr.reason;
        rej->offset = derr.offset;
    }
    return eng_input_run(eng, ev, rc, NULL, rej);
}

/* The binding of names on stream `stream`, made on first use. */
static const struct eng_fbind *eng_fbind_get(struct eng *eng, uint32_t stream,
                                             const struct eng_fnames *names)
{
    for (size_t i = 0; i < eng->n_fbind; i++)
        if (eng->fbind[i].names == names && eng->fbind[i].stream == stream &&
            eng->fbind[i].hash == names->hash) /* not a freed table's address reused */
            return &eng->fbind[i];
    for (size_t i = 0; i < eng->n_fbind; i++) {
        if (eng_fbind_is(&eng->fbind[i], stream, names)) {
            eng->fbind[i].names = names;
            return &eng->fbind[i];
        }
    }
    const struct evt_schema *schema = eng->rs->streams[stream].schema;
    eng->fbind = cep_realloc(eng->fbind, (eng->n_fbind + 1) * sizeof(*eng->fbind));
    struct eng_fbind *b = &eng->fbind[eng->n_fbind++];
    b->names = names;
    sbuf_init(&b->all);
    eng_fnames_put(&b->all, names);
    b->hash = names->hash;
    b->stream = stream;
    b->n = names->n;
    b->any_deep = false;
    b->slots = cep_calloc(names->n ? names->n : 1, sizeof(*b->slots));
    b->deep = cep_calloc(names->n ? names->n : 1, sizeof(*b->deep));
    for (uint32_t i = 0; i < names->n; i++) {
        const struct evt_schema_node *c =
                evt_schema_child(&schema->root, names->names[i], names->lens[i]);
        b->slots[i] = c ? c->slot : -1;
        b->deep[i] = c && c->n_children > 0;
        b->any_deep |= b->deep[i];
    }
    return b;
}

/* eng_push_decoded, its key hint set. */
static int eng_push_fields(struct eng *eng, uint32_t stream, const struct eng_decoded *d,
                           const char *src_name, uint64_t src_off, struct eng_reject *rej)
{
    if (!d->names)
        return eng_push_line(eng, stream, d->raw, d->raw_len, src_name, src_off, rej);
    const struct eng_fbind *b = eng_fbind_get(eng, stream, d->names);
    for (size_t i = 0; b->any_deep && i < d->n_fv; i++) {
        if (CEP_UNLIKELY(d->fv[i].kind == ENG_FVAL_OBJ && b->deep[d->fv[i].field])) {
            if (!d->text_ops)
                return eng_push_line(eng, stream, d->raw, d->raw_len, src_name, src_off, rej);
            sbuf_reset(&eng->text);
            d->text_ops->write_now(d->text_ud, &eng->text);
            return eng_push_line(eng, stream, eng->text.buf, eng->text.len, src_name, src_off,
                                 rej);
        }
    }
    struct evt *ev = eng_input_take(eng, stream, d->raw, d->raw_len, src_name, src_off);
    if (d->text_ops)
        evt_text_defer(ev, d->text_ops, d->text_ud);
    struct val *slots = ev->slots;
    const int32_t time_slot = eng->rs->streams[stream].time.time_slot;
    bool time_known = false;
    for (size_t i = 0; i < d->n_fv; i++) {
        const struct eng_fval *v = &d->fv[i];
        int32_t slot = b->slots[v->field];
        if (slot < 0)
            continue;
        const char *s = ev->raw + v->off;
        switch (v->kind) {
            case ENG_FVAL_STR:
                slots[slot] = val_str(s, v->len);
                break;
            case ENG_FVAL_ESC: {
                /* Members do not overlap and unescaping only shrinks:
                 * scratch (>= raw_len) holds them all. */
                CEP_DASSERT(ev->scratch_len + v->len <= ev->scratch_cap);
                char *dst = ev->scratch + ev->scratch_len;
                size_t n = json_str_unescape(s, v->len, dst);
                ev->scratch_len += (uint32_t)n;
                slots[slot] = val_str(dst, n);
                break;
            }
            case ENG_FVAL_INT:
                slots[slot] = val_int(v->i);
                break;
            default:
                slots[slot].type = VAL_OBJ;
                slots[slot].flags = 0;
                slots[slot].len = (uint32_t)v->len;
                slots[slot].u.s = s;
                break;
        }
        /* A later member of the same name replaces the time's value. */
        if (slot == time_slot)
            time_known = (int32_t)i == d->time_fv;
    }
    int rc = eng_input_run(eng, ev, CEP_OK, time_known ? &d->time_us : NULL, rej);
    if (d->text_ops)
        evt_text_settle(ev);
    return rc;
}

int eng_push_decoded(struct eng *eng, uint32_t stream, const struct eng_decoded *d,
                     const char *src_name, uint64_t src_off, struct eng_reject *rej)
{
    CEP_ASSERT(stream < eng->rs->n_streams);
    eng->khint = d->key;
    int rc = eng_push_fields(eng, stream, d, src_name, src_off, rej);
    eng->khint = NULL;
    return rc;
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
