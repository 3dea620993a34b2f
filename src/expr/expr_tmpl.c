/* SPDX-License-Identifier: Apache-2.0
 * Message templates: literal text with ${expr} parts, e.g.
 * "admin ${user} logged in from ${src_ip}".  `$${` writes a literal `${`;
 * any other `$` is literal.  Each part is compiled from the template's own
 * source range, so diagnostics inside ${...} carry the template's file
 * positions.  Rendering appends to a caller's buffer; null renders as "".
 * Tested by: tests/unit/check_expr.c (templates) */
#include "cepd/cep_common.h"
#include "expr_int.h"

#include "cepd/sbuf.h"

#include <string.h>

struct expr_tmpl_part {
    char *lit; /* literal text before the expression, owned */
    size_t lit_len;
    struct expr *e; /* NULL for the trailing literal */
};

struct expr_tmpl {
    struct expr_tmpl_part *parts;
    size_t n_parts;
};

static void add_part(struct expr_tmpl *t, size_t *cap, struct sbuf *lit, struct expr *e)
{
    CEP_GROW(t->parts, *cap, t->n_parts + 1);
    struct expr_tmpl_part *p = &t->parts[t->n_parts++];
    p->lit_len = lit->len;
    p->lit = sbuf_steal(lit);
    p->e = e;
}

/* Compile a template.  Returns an owned template, or NULL after adding a
 * diagnostic for every bad ${...} part to dl. */
struct expr_tmpl *expr_tmpl_compile(const struct expr_src *src, const struct expr_env *env,
                                    struct diag_list *dl)
{
    struct expr_tmpl *t = cep_calloc(1, sizeof(*t));
    size_t cap = 0;
    bool failed = false;
    struct sbuf lit;
    sbuf_init(&lit);
    const char *s = src->text;
    size_t i = 0;
    while (i < src->len) {
        if (s[i] == '$' && i + 2 < src->len && s[i + 1] == '$' && s[i + 2] == '{') {
            sbuf_append(&lit, "${", 2);
            i += 3;
            continue;
        }
        if (!(s[i] == '$' && i + 1 < src->len && s[i + 1] == '{')) {
            sbuf_putc(&lit, s[i++]);
            continue;
        }
        size_t stop = src->len;
        struct expr *e = expr_compile_range(src, i + 2, src->len, true, &stop, env, dl);
        if (e && (stop >= src->len || s[stop] != '}')) {
            expr_diag(dl, src, i, "unterminated '${' in template");
            expr_free(e);
            e = NULL;
        }
        if (!e) {
            /* Resume after the next '}' to report errors in later parts. */
            failed = true;
            const char *close = memchr(s + i + 2, '}', src->len - i - 2);
            i = close ? (size_t)(close - s) + 1 : src->len;
            continue;
        }
        add_part(t, &cap, &lit, e);
        i = stop + 1;
    }
    add_part(t, &cap, &lit, NULL);
    sbuf_free(&lit);
    if (failed) {
        expr_tmpl_free(t);
        return NULL;
    }
    return t;
}

void expr_tmpl_free(struct expr_tmpl *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_parts; i++) {
        cep_free(t->parts[i].lit);
        expr_free(t->parts[i].e);
    }
    cep_free(t->parts);
    cep_free(t);
}

/* Append the rendered template to sb: literal text, then each part's value
 * as text (strings unquoted, null as nothing).  Never fails. */
void expr_tmpl_render(const struct expr_tmpl *t, struct expr_ctx *ctx, struct sbuf *sb)
{
    for (size_t i = 0; i < t->n_parts; i++) {
        const struct expr_tmpl_part *p = &t->parts[i];
        sbuf_append(sb, p->lit, p->lit_len);
        if (!p->e)
            continue;
        struct val v;
        expr_eval(p->e, ctx, &v);
        if (v.type != VAL_NULL)
            val_to_text(&v, sb);
    }
}

bool expr_tmpl_fields_within(const struct expr_tmpl *t, const int32_t *slots, size_t n)
{
    for (size_t i = 0; i < t->n_parts; i++)
        if (t->parts[i].e && !expr_fields_within(t->parts[i].e, slots, n))
            return false;
    return true;
}
