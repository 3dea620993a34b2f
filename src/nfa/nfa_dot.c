/* SPDX-License-Identifier: Apache-2.0
 * The state table as Graphviz DOT for `cepd graph` and goldens: one node
 * per state (start bold, final double circle, stop octagon, pending
 * dashed), one edge per transition labelled with its action and its
 * condition written infix over step names ("until(s)" for a stop
 * condition).  Output depends only on the program, so goldens pin it.
 * Tested by: tests/unit/check_nfa.c, tests/golden/nfa/ */
#include "cepd/cep_common.h"
#include "cepd/nfa.h"

#include <string.h>

#include "cepd/sbuf.h"
#include "nfa_int.h"

/* A duration (> 0) as written in rule files (600000000 -> 10m). */
static void nfa_dot_duration(struct sbuf *sb, int64_t us)
{
    char buf[32];
    expr_format_duration(us, buf, sizeof(buf));
    sbuf_puts(sb, buf);
}

static const char *const action_names[NFA_ACT_COUNT] = {"take", "ignore", "proceed"};

/* Append the condition of e, infix, to sb (a postfix walk with a stack of
 * partial strings, as deep as the compiler's condition stack). */
static void cond_text(const struct nfa_prog *p, const struct nfa_edge *e, struct sbuf *sb)
{
    if (e->cond_len == 0) {
        sbuf_puts(sb, "true");
        return;
    }
    struct sbuf stk[NFA_COND_STACK];
    for (int i = 0; i < NFA_COND_STACK; i++)
        sbuf_init(&stk[i]);
    int sp = 0;
    const struct nfa_cins *code = &p->code[e->cond_off];
    for (uint32_t i = 0; i < e->cond_len; i++) {
        switch (code[i].op) {
            case NFA_COP_TRUE:
                sbuf_puts(&stk[sp++], "true");
                break;
            case NFA_COP_EXPR: {
                const char *l = p->expr_labels[code[i].arg];
                sbuf_puts(&stk[sp++], l ? l : "?");
                break;
            }
            case NFA_COP_NOT: {
                struct sbuf t;
                sbuf_init(&t);
                sbuf_printf(&t, "!%s", stk[sp - 1].buf);
                sbuf_free(&stk[sp - 1]);
                stk[sp - 1] = t;
                break;
            }
            default: {
                struct sbuf t;
                sbuf_init(&t);
                sbuf_printf(&t, "(%s && %s)", stk[sp - 2].buf, stk[sp - 1].buf);
                sbuf_free(&stk[sp - 2]);
                sbuf_free(&stk[sp - 1]);
                sbuf_init(&stk[sp - 1]);
                stk[sp - 2] = t;
                sp--;
                break;
            }
        }
    }
    if (sp > 0 && stk[0].len)
        sbuf_append(sb, stk[0].buf, stk[0].len);
    for (int i = 0; i < NFA_COND_STACK; i++)
        sbuf_free(&stk[i]);
}

/* Append the program as a DOT digraph named title to sb. */
void nfa_prog_dot(const struct nfa_prog *p, const char *title, struct sbuf *sb)
{
    sbuf_puts(sb, "digraph ");
    sbuf_json_str(sb, title, strlen(title));
    sbuf_puts(sb, " {\n  rankdir=LR;\n  node [shape=circle, fontsize=10];\n"
                  "  edge [fontsize=9];\n");
    for (uint32_t i = 0; i < p->n_states; i++) {
        const struct nfa_state *s = &p->states[i];
        sbuf_printf(sb, "  s%u [label=", i);
        struct sbuf l;
        sbuf_init(&l);
        sbuf_puts(&l, s->name);
        if (s->pc_within > 0) {
            sbuf_puts(&l, "\\nwithin ");
            nfa_dot_duration(&l, s->pc_within);
        }
        sbuf_json_str(sb, l.buf, l.len);
        sbuf_free(&l);
        switch (s->kind) {
            case NFA_ST_START:
                sbuf_puts(sb, ", style=bold");
                break;
            case NFA_ST_FINAL:
                sbuf_puts(sb, ", shape=doublecircle");
                break;
            case NFA_ST_STOP:
                sbuf_puts(sb, ", shape=octagon");
                break;
            case NFA_ST_PENDING:
                sbuf_puts(sb, ", style=dashed");
                break;
            default:
                break;
        }
        sbuf_puts(sb, "];\n");
    }
    for (uint32_t i = 0; i < p->n_edges; i++) {
        const struct nfa_edge *e = &p->edges[i];
        struct sbuf l;
        sbuf_init(&l);
        sbuf_printf(&l, "%s: ", action_names[e->action]);
        cond_text(p, e, &l);
        sbuf_printf(sb, "  s%u -> s%u [label=", e->source, e->target);
        sbuf_json_str(sb, l.buf, l.len);
        if (e->action == NFA_ACT_PROCEED)
            sbuf_puts(sb, ", style=dotted");
        else if (e->action == NFA_ACT_IGNORE)
            sbuf_puts(sb, ", style=dashed");
        sbuf_puts(sb, "];\n");
        sbuf_free(&l);
    }
    if (p->within > 0) {
        sbuf_puts(sb, "  label=\"within ");
        nfa_dot_duration(sb, p->within);
        sbuf_puts(sb, "\";\n");
    }
    sbuf_puts(sb, "}\n");
}
