/* SPDX-License-Identifier: Apache-2.0
 * The window test fixture shared by check_win.c and check_win_snap.c
 * (see win_fx.h).
 * Tested by: check_win, check_win_snap (make check). */
#include "win_fx.h"

#include <check.h>
#include <string.h>

static int find_result(void *ud, const char *name, size_t len)
{
    struct win_fx *w = ud;
    for (size_t i = 0; i < w->n_aggs; i++)
        if (strlen(w->aggs[i].name) == len && memcmp(w->aggs[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

void win_fx_init(struct win_fx *w)
{
    memset(w, 0, sizeof(*w));
    w->schema = evt_schema_new();
    w->sx = evt_schema_slot_dotted(w->schema, "x");
    w->ss = evt_schema_slot_dotted(w->schema, "s");
    w->env.schema = w->schema;
    w->env.ud = w;
    w->env.find_result = find_result;
    w->env.current_step = -1;
    diag_list_init(&w->dl);
    w->rt = expr_rt_new();
}

void win_fx_clear_recs(struct win_fx *w)
{
    for (size_t i = 0; i < w->n_recs; i++)
        for (size_t j = 0; j < MAX_AGGS; j++)
            cep_free(w->recs[i].str[j]);
    w->n_recs = 0;
}

void win_fx_fini(struct win_fx *w)
{
    for (size_t i = 0; i < w->n_exprs; i++)
        expr_free(w->exprs[i]);
    win_fx_clear_recs(w);
    cep_free(w->recs);
    expr_rt_free(w->rt);
    diag_list_free(&w->dl);
    evt_schema_free(w->schema);
}

struct expr *win_fx_compile(struct win_fx *w, const char *text)
{
    struct expr_src src = {.text = text, .len = strlen(text), .file = "t", .base_line = 1,
                           .base_col = 1};
    struct expr *e = expr_compile(&src, &w->env, &w->dl);
    ck_assert_msg(e != NULL, "compile %s", text);
    w->exprs[w->n_exprs++] = e;
    return e;
}

void win_fx_agg(struct win_fx *w, const char *name, enum agg_fn fn, const char *arg, double p)
{
    struct agg_spec *a = &w->aggs[w->n_aggs++];
    a->name = name;
    a->fn = fn;
    a->arg = arg ? win_fx_compile(w, arg) : NULL;
    a->param = p;
}

struct rec *win_fx_push(struct win_fx *w, const struct win_result *r)
{
    CEP_GROW(w->recs, w->recs_cap, w->n_recs + 1);
    struct rec *c = &w->recs[w->n_recs++];
    memset(c, 0, sizeof(*c));
    c->start = r->start;
    c->end = r->end;
    c->time = r->time;
    c->id_start = r->id_start;
    c->id_end = r->id_end;
    c->rev = r->revision;
    c->retracted = r->retracted;
    c->by_count = r->by_count;
    c->has_last = r->last != NULL;
    c->n = r->n_events;
    for (size_t i = 0; i < w->n_aggs; i++) {
        c->v[i] = r->values[i];
        if (c->v[i].type == VAL_STR) {
            c->str[i] = cep_strndup(c->v[i].u.s, c->v[i].len);
            c->v[i].u.s = c->str[i];
        }
    }
    return c;
}
