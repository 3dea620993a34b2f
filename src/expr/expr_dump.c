/* SPDX-License-Identifier: Apache-2.0
 * Disassembly of a compiled expression, one instruction per line
 * ("0003 FIELD       slot=2 (user)"), after a header line with the result
 * type and stack depth.  The golden tests in tests/golden/expr/ pin this
 * text, so a change in code generation shows up as a reviewable diff.
 * Tested by: tests/golden/expr/ via tests/unit/check_expr.c */
#include "cepd/cep_common.h"
#include "expr_int.h"

#include "cepd/sbuf.h"

#include <arpa/inet.h>

static const char *const op_names[EXPR_OP_COUNT] = {
#define EXPR_OP_NAME(name, fmt, delta, doc) [EXPR_OP_##name] = #name,
    EXPR_OPS(EXPR_OP_NAME)
#undef EXPR_OP_NAME
};

static void put_slot(struct sbuf *sb, const struct evt_schema *schema, int32_t slot)
{
    sbuf_printf(sb, "slot=%d", slot);
    if (schema && slot >= 0 && (uint32_t)slot < schema->n_slots)
        sbuf_printf(sb, " (%s)", schema->slot_names[slot]);
}

static void put_const(struct sbuf *sb, const struct val *v)
{
    val_to_json(v, sb);
    if (v->flags & VAL_F_DURATION)
        sbuf_puts(sb, " (duration)");
}

/* Append the disassembly of e to sb; slot names come from schema when it
 * is not NULL. */
void expr_dump(const struct expr *e, const struct evt_schema *schema, struct sbuf *sb)
{
    sbuf_printf(sb, "; type %s, stack %u\n", expr_type_name(e->type), e->max_stack);
    for (uint32_t pc = 0; pc < e->n_code; pc++) {
        const struct expr_insn *in = &e->code[pc];
        if (expr_op_fmt(in->op) == EXPR_OPF_NONE)
            sbuf_printf(sb, "%04u %s", pc, op_names[in->op]);
        else
            sbuf_printf(sb, "%04u %-11s", pc, op_names[in->op]);
        switch (expr_op_fmt(in->op)) {
            case EXPR_OPF_NONE:
                break;
            case EXPR_OPF_CONST:
                sbuf_printf(sb, " #%d ", in->a);
                put_const(sb, &e->consts[in->a]);
                break;
            case EXPR_OPF_SLOT:
                sbuf_putc(sb, ' ');
                put_slot(sb, schema, in->a);
                break;
            case EXPR_OPF_RESULT:
                sbuf_printf(sb, " result=%d", in->a);
                break;
            case EXPR_OPF_STEP:
                sbuf_printf(sb, " step=%d", in->a);
                break;
            case EXPR_OPF_STEP_SEL_SLOT:
                sbuf_printf(sb, " step=%d index=%d ", in->a, in->b);
                put_slot(sb, schema, in->c);
                break;
            case EXPR_OPF_STEP_SLOT:
                sbuf_printf(sb, " step=%d ", in->a);
                put_slot(sb, schema, in->c);
                break;
            case EXPR_OPF_JUMP:
                sbuf_printf(sb, " -> %04d", in->a);
                break;
            case EXPR_OPF_REGEX: {
                size_t len;
                const char *pat = expr_re_pattern(e->res[in->a], &len);
                sbuf_printf(sb, " re=%d ", in->a);
                sbuf_json_str(sb, pat, len);
                break;
            }
            case EXPR_OPF_CIDR: {
                const struct expr_cidr *c = &e->cidrs[in->a];
                char buf[INET6_ADDRSTRLEN];
                if (!inet_ntop(c->family == 4 ? AF_INET : AF_INET6, c->addr, buf, sizeof(buf)))
                    buf[0] = '\0';
                sbuf_printf(sb, " %s/%u", buf, c->bits);
                break;
            }
            case EXPR_OPF_FUNC:
                sbuf_printf(sb, " %s/%d", expr_builtins[in->a].name, in->b);
                break;
            case EXPR_OPF_TABLE:
                sbuf_printf(sb, " table=%s", lookup_table_name(e->tables[in->a]));
                break;
            case EXPR_OPF_LOOKUP: {
                const struct lookup_table *t = e->tables[in->a];
                sbuf_printf(sb, " table=%s", lookup_table_name(t));
                if (in->b >= 0)
                    sbuf_printf(sb, " column=%d (%s)", in->b,
                                lookup_table_column_name(t, (size_t)in->b));
                if (in->c >= 0) {
                    sbuf_puts(sb, " member=");
                    put_const(sb, &e->consts[in->c]);
                }
                break;
            }
            case EXPR_OPF_COUNT:
                break;
        }
        sbuf_putc(sb, '\n');
    }
}
