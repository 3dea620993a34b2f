/* SPDX-License-Identifier: Apache-2.0
 * Alerts (design §3): the JSON object and its deterministic alert_id, a
 * hash of the rule id, the key values and the identities (source name and
 * offset) of the matched events, so replaying the same input yields the
 * same ids.  A pattern match lists its events grouped by step; a timed-out
 * partial match is marked.  A counting rule's summary (`matches: count`)
 * carries "matches" (the count, saturated at 2^64-1) and the events first,
 * latest and last; its id hashes those three events' identities.  Buffers are the engine's, reused.
 * Tested by: tests/unit/check_eng.c */
#include "cepd/cep_common.h"
#include "eng_int.h"

#include "cepd/hash.h"
#include "cepd/nfa.h"
#include "cepd/win.h"

#include <string.h>
#include <time.h>

int64_t eng_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * CEP_USEC_PER_SEC + ts.tv_nsec / 1000;
}

void eng_json_time(struct sbuf *sb, int64_t us)
{
    /* Seconds with up to 6 decimals, exact: avoids double rounding noise.
     * By hand, not printf: every alert writes two or four of these. */
    int64_t s = us / CEP_USEC_PER_SEC, frac = us % CEP_USEC_PER_SEC;
    if (frac < 0) {
        s -= 1;
        frac += CEP_USEC_PER_SEC;
    }
    if (s < 0) {
        sbuf_putc(sb, '-');
        sbuf_put_u64(sb, -(uint64_t)s);
    } else {
        sbuf_put_u64(sb, (uint64_t)s);
    }
    if (frac) {
        char digits[7] = {'.'};
        for (int i = 6; i > 0; i--) {
            digits[i] = (char)('0' + frac % 10);
            frac /= 10;
        }
        size_t n = 6;
        while (n > 0 && digits[n] == '0')
            n--;
        sbuf_append(sb, digits, n + 1);
    }
}

/* Append `"name":value,...` for the named expressions, evaluated on ctx. */
static void eng_json_fields(struct sbuf *sb, const struct rule_field *f, size_t n,
                            struct expr_ctx *ctx)
{
    for (size_t i = 0; i < n; i++) {
        struct val v;
        expr_eval(f[i].expr, ctx, &v);
        if (i)
            sbuf_putc(sb, ',');
        sbuf_json_str(sb, f[i].name, strlen(f[i].name));
        sbuf_putc(sb, ':');
        val_to_json(&v, sb);
    }
}

/* Pattern references over a view: count(step) and event(step, i). */
static uint32_t eng_view_count(void *ud, int step)
{
    const struct eng_view *v = ud;
    uint32_t n = 0;
    for (size_t i = 0; i < v->n; i++)
        n += v->steps && v->steps[i] == step;
    return n;
}

static const struct evt *eng_view_event(void *ud, int step, int64_t i)
{
    const struct eng_view *v = ud;
    int64_t n = eng_view_count(ud, step);
    if (i < 0)
        i += n;
    if (i < 0 || i >= n)
        return NULL;
    for (size_t k = 0; k < v->n; k++)
        if (v->steps[k] == step && i-- == 0)
            return v->events[k];
    return NULL;
}

const struct expr_pat_ops eng_view_pat_ops = {
        .count = eng_view_count,
        .event = eng_view_event,
};

/* Append the "events" object: every event grouped by step, steps in index
 * order, events in processing order within a step. */
static void eng_json_events(struct sbuf *sb, const struct rule *r, const struct eng_view *v)
{
    sbuf_putc(sb, '{');
    if (v->win) { /* a window's events are aggregated, not kept */
        sbuf_putc(sb, '}');
        return;
    }
    if (v->count) {
        static const char *const role[3] = {"first", "latest", "last"};
        for (size_t i = 0; i < 3; i++) {
            sbuf_puts(sb, i ? ",\"" : "\"");
            sbuf_puts(sb, role[i]);
            sbuf_puts(sb, "\":[");
            evt_text_append(v->events[i], sb);
            sbuf_putc(sb, ']');
        }
        sbuf_putc(sb, '}');
        return;
    }
    if (!v->steps) {
        sbuf_puts(sb, "\"event\":[");
        for (size_t i = 0; i < v->n; i++) {
            if (i)
                sbuf_putc(sb, ',');
            evt_text_append(v->events[i], sb);
        }
        sbuf_puts(sb, "]}");
        return;
    }
    bool first_step = true;
    int prev = -1;
    for (;;) {
        /* The next step index after prev that has events (views are small). */
        int step = INT32_MAX;
        for (size_t i = 0; i < v->n; i++)
            if (v->steps[i] > prev && v->steps[i] < step)
                step = v->steps[i];
        if (step == INT32_MAX)
            break;
        const char *name = r->nfa                    ? nfa_prog_step_name(r->nfa, step)
                           : r->kind == RULE_ABSENCE ? "last"
                                                     : "event";
        if (!first_step)
            sbuf_putc(sb, ',');
        first_step = false;
        sbuf_json_str(sb, name, strlen(name));
        sbuf_puts(sb, ":[");
        bool first = true;
        for (size_t i = 0; i < v->n; i++) {
            if (v->steps[i] != step)
                continue;
            if (!first)
                sbuf_putc(sb, ',');
            first = false;
            evt_text_append(v->events[i], sb);
        }
        sbuf_putc(sb, ']');
        prev = step;
    }
    sbuf_putc(sb, '}');
}

uint64_t eng_alert_build(struct eng *eng, size_t ri, const struct eng_view *v,
                         struct expr_ctx *ctx, char id_hex[33])
{
    const struct rule *r = eng->rs->rules[ri];
    struct sbuf *sb = &eng->alert;
    struct cep_hasher h;
    enum rule_severity sev = v->timed_out ? r->on_timeout.severity : r->severity;
    const struct expr_tmpl *msg = v->timed_out ? r->on_timeout.message : r->message;

    cep_hasher_init(&h);
    cep_hasher_piece(&h, r->id, strlen(r->id));
    for (size_t i = 0; i < r->n_key; i++) {
        struct val kv;
        expr_eval(r->key[i].expr, ctx, &kv);
        sbuf_reset(&eng->val_json);
        val_to_json(&kv, &eng->val_json);
        cep_hasher_piece(&h, eng->val_json.buf, eng->val_json.len);
    }
    struct cep_hasher orig = h; /* a correction: the id of the window's first alert */
    if (v->win) {
        /* A window is identified by its bounds (and the key, above); its
         * n-th correction adds n. */
        cep_hasher_u64(&h, (uint64_t)v->win->id_start);
        cep_hasher_u64(&h, (uint64_t)v->win->id_end);
        orig = h;
        if (v->win->revision)
            cep_hasher_u64(&h, v->win->revision);
    }
    for (size_t i = 0; i < v->n && !v->win; i++) {
        const struct evt *ev = v->events[i];
        const char *src = ev->src_name ? ev->src_name : "";
        cep_hasher_piece(&h, src, strlen(src));
        cep_hasher_u64(&h, ev->src_off);
    }
    if (v->timed_out)
        cep_hasher_piece(&h, "timed_out", 9);
    if (v->count)
        cep_hasher_piece(&h, "matches", 7);
    cep_hasher_hex(&h, id_hex);

    sbuf_reset(sb);
    sbuf_puts(sb, "{\"alert_id\":\"");
    sbuf_append(sb, id_hex, 32);
    sbuf_puts(sb, "\",\"rule\":");
    sbuf_json_str(sb, r->id, strlen(r->id));
    sbuf_puts(sb, ",\"severity\":\"");
    sbuf_puts(sb, rule_severity_name(sev));
    sbuf_puts(sb, "\",\"message\":");
    sbuf_reset(&eng->text);
    if (msg)
        expr_tmpl_render(msg, ctx, &eng->text);
    sbuf_json_str(sb, eng->text.buf ? eng->text.buf : "", eng->text.len);
    sbuf_puts(sb, ",\"key\":{");
    eng_json_fields(sb, r->key, r->n_key, ctx);
    sbuf_puts(sb, "},\"time\":");
    eng_json_time(sb, v->time);
    sbuf_puts(sb, ",\"detected_at\":");
    eng_json_time(sb, eng_now_us());
    if (v->timed_out)
        sbuf_puts(sb, ",\"timed_out\":true");
    if (v->count) {
        sbuf_puts(sb, ",\"matches\":");
        sbuf_put_u64(sb, v->count->n);
    }
    if (v->win) {
        sbuf_puts(sb, ",\"window\":{\"start\":");
        if (v->win->by_count) {
            sbuf_printf(sb, "%lld,\"end\":%lld", (long long)v->win->start,
                        (long long)v->win->end);
        } else {
            eng_json_time(sb, v->win->start);
            sbuf_puts(sb, ",\"end\":");
            eng_json_time(sb, v->win->end);
        }
        sbuf_printf(sb, ",\"events\":%llu}", (unsigned long long)v->win->n_events);
        if (v->win->revision) {
            char orig_hex[33];
            cep_hasher_hex(&orig, orig_hex);
            sbuf_puts(sb, ",\"corrects\":\"");
            sbuf_append(sb, orig_hex, 32);
            sbuf_printf(sb, "\",\"revision\":%u", (unsigned)v->win->revision);
        }
        if (v->win->retracted)
            sbuf_puts(sb, ",\"retracted\":true");
    }
    sbuf_puts(sb, ",\"fields\":{");
    if (v->win) {
        /* The aggregate values first, then the rule's own fields. */
        size_t n = win_prog_n_aggs(r->win);
        for (size_t i = 0; i < n; i++) {
            const char *name = win_prog_agg_name(r->win, i);
            if (i)
                sbuf_putc(sb, ',');
            sbuf_json_str(sb, name, strlen(name));
            sbuf_putc(sb, ':');
            val_to_json(&v->win->values[i], sb);
        }
        if (n && r->n_fields)
            sbuf_putc(sb, ',');
    }
    eng_json_fields(sb, r->fields, r->n_fields, ctx);
    sbuf_puts(sb, "},\"events\":");
    eng_json_events(sb, r, v);
    sbuf_putc(sb, '}');
    return cep_hasher_u64_result(&h);
}
