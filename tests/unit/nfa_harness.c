/* SPDX-License-Identifier: Apache-2.0
 * The pattern-matcher test harness shared by check_nfa.c and
 * check_nfa_snap.c (see nfa_harness.h).
 * Tested by: check_nfa, check_nfa_snap (make check). */
#include "nfa_harness.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cepd/diag.h"

static int find_step(void *ud, const char *name, size_t len)
{
    const struct nfa_pat *p = ud;
    if (len < 2 || name[0] != 's')
        return -1;
    size_t v = 0;
    for (size_t i = 1; i < len; i++) {
        if (name[i] < '0' || name[i] > '9')
            return -1;
        v = v * 10 + (size_t)(name[i] - '0');
    }
    return v < p->n_steps ? (int)v : -1;
}

struct expr *nfa_pat_cond(struct nfa_pat *p, const char *text, int step)
{
    if (!text)
        return NULL;
    struct expr_env env = {.schema = p->schema, .ud = p, .find_step = find_step,
                           .current_step = step};
    struct expr_src src = {.text = text, .len = strlen(text), .file = "case",
                           .base_line = 1, .base_col = 1};
    struct diag_list dl;
    diag_list_init(&dl);
    struct expr *e = expr_compile(&src, &env, &dl);
    if (!e)
        diag_print(&dl, stderr);
    diag_list_free(&dl);
    ck_assert_msg(e != NULL, "cannot compile %s", text);
    CEP_ASSERT(p->n_exprs < CEP_ARRAY_LEN(p->exprs));
    p->exprs[p->n_exprs++] = e;
    return e;
}

void nfa_pat_init(struct nfa_pat *p)
{
    memset(p, 0, sizeof(*p));
    p->schema = evt_schema_new();
    static const char *const fields[] = {"name", "price", "fid", "type", "volume",
                                         "f0", "f1", "value"};
    for (size_t i = 0; i < CEP_ARRAY_LEN(fields); i++)
        evt_schema_slot_dotted(p->schema, fields[i]);
    p->rt = expr_rt_new();
    p->work = nfa_work_new();
}

void nfa_pat_fini(struct nfa_pat *p)
{
    nfa_prog_free(p->prog);
    for (size_t i = 0; i < p->n_exprs; i++)
        expr_free(p->exprs[i]);
    expr_rt_free(p->rt);
    nfa_work_free(p->work);
    evt_schema_free(p->schema);
}

void nfa_pat_build(struct nfa_pat *p, const struct tc_case *c)
{
    p->n_steps = (size_t)c->n_flat;
    ck_assert_int_le(c->n_flat, (int)CEP_ARRAY_LEN(p->specs));
    for (int i = 0; i < c->n_flat; i++) {
        const struct tc_step *t = &c->steps[i];
        struct nfa_step_spec *s = &p->specs[i];
        memset(s, 0, sizeof(*s));
        s->name = t->name;
        s->index = i;
        s->when = nfa_pat_cond(p, t->when, i);
        s->until = nfa_pat_cond(p, t->until, i);
        s->min = t->min;
        s->max = t->max;
        s->optional = t->optional;
        s->greedy = t->greedy;
        s->after = t->after;
        s->loop = t->loop;
        s->negated = t->negated;
        s->within = t->within;
        s->group = t->gfirst >= 0 ? &p->specs[t->gfirst] : NULL;
        s->n_group = (size_t)t->gn;
    }
    struct nfa_pattern_spec ps = {
        .steps = p->specs,
        .n_steps = (size_t)c->n_top,
        .n_indexes = (size_t)c->n_flat,
        .within = c->within,
        .skip = c->skip,
        .skip_step = c->skip_step,
    };
    p->prog = nfa_compile(&ps);
}

const char *tc_partition(const struct tc_case *c, const struct tc_event *te, double *d)
{
    const char *v = "";
    *d = 0;
    if (c->partition_by) {
        for (int i = 0; i < te->n; i++) {
            if (strcmp(te->f[i].k, c->partition_by) == 0) {
                v = te->f[i].t == 's' ? te->f[i].s : "";
                *d = te->f[i].d;
            }
        }
    }
    return v;
}

int cmp_buffered(const void *a, const void *b)
{
    const struct buffered *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    if (x->price != y->price)
        return x->price < y->price ? -1 : 1;
    return x->idx - y->idx;
}

double num_field(const struct tc_event *te, const char *k)
{
    for (int i = 0; i < te->n; i++) {
        if (strcmp(te->f[i].k, k) == 0)
            return te->f[i].d;
    }
    return 0;
}
