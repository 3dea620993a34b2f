/* SPDX-License-Identifier: Apache-2.0
 * Alerts (design §3): the JSON object and its deterministic alert_id, a
 * hash of the rule id, the key values and the identities (source name and
 * offset) of the matched events, so replaying the same input yields the
 * same ids.  Buffers are the engine's, reused across alerts.
 * Tested by: tests/unit/check_eng.c */
#include "cepd/cep_common.h"
#include "eng_int.h"

#include "cepd/hash.h"

#include <string.h>
#include <time.h>

int64_t eng_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * CEP_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static void eng_json_time(struct sbuf *sb, int64_t us)
{
    /* Seconds with up to 6 decimals, exact: avoids double rounding noise. */
    int64_t s = us / CEP_USEC_PER_SEC, frac = us % CEP_USEC_PER_SEC;
    if (frac < 0) {
        s -= 1;
        frac += CEP_USEC_PER_SEC;
    }
    sbuf_printf(sb, "%lld", (long long)s);
    if (frac) {
        char digits[8];
        snprintf(digits, sizeof(digits), "%06lld", (long long)frac);
        size_t n = 6;
        while (n > 0 && digits[n - 1] == '0')
            n--;
        sbuf_putc(sb, '.');
        sbuf_append(sb, digits, n);
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

uint64_t eng_alert_build(struct eng *eng, size_t rule_index, const struct evt *ev,
                         struct expr_ctx *ctx, char id_hex[33])
{
    const struct rule *r = eng->rs->rules[rule_index];
    struct sbuf *sb = &eng->alert;
    struct cep_hasher h;

    cep_hasher_init(&h);
    cep_hasher_piece(&h, r->id, strlen(r->id));
    for (size_t i = 0; i < r->n_key; i++) {
        struct val v;
        expr_eval(r->key[i].expr, ctx, &v);
        sbuf_reset(&eng->val_json);
        val_to_json(&v, &eng->val_json);
        cep_hasher_piece(&h, eng->val_json.buf, eng->val_json.len);
    }
    const char *src = ev->src_name ? ev->src_name : "";
    cep_hasher_piece(&h, src, strlen(src));
    cep_hasher_u64(&h, ev->src_off);
    cep_hasher_hex(&h, id_hex);

    sbuf_reset(sb);
    sbuf_puts(sb, "{\"alert_id\":\"");
    sbuf_append(sb, id_hex, 32);
    sbuf_puts(sb, "\",\"rule\":");
    sbuf_json_str(sb, r->id, strlen(r->id));
    sbuf_puts(sb, ",\"severity\":\"");
    sbuf_puts(sb, rule_severity_name(r->severity));
    sbuf_puts(sb, "\",\"message\":");
    sbuf_reset(&eng->text);
    if (r->message)
        expr_tmpl_render(r->message, ctx, &eng->text);
    sbuf_json_str(sb, eng->text.buf ? eng->text.buf : "", eng->text.len);
    sbuf_puts(sb, ",\"key\":{");
    eng_json_fields(sb, r->key, r->n_key, ctx);
    sbuf_puts(sb, "},\"time\":");
    eng_json_time(sb, ev->time);
    sbuf_puts(sb, ",\"detected_at\":");
    eng_json_time(sb, eng_now_us());
    sbuf_puts(sb, ",\"fields\":{");
    eng_json_fields(sb, r->fields, r->n_fields, ctx);
    sbuf_puts(sb, "},\"events\":{\"event\":[");
    sbuf_append(sb, ev->raw, ev->raw_len);
    sbuf_puts(sb, "]}}");
    return cep_hasher_u64_result(&h);
}
