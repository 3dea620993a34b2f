/* SPDX-License-Identifier: Apache-2.0
 * JSON line decoder: one pass over the line that validates everything and
 * stores only the values whose paths the stream schema holds.  Objects on a
 * schema path are entered through an explicit frame stack (one frame per
 * open object that the schema walks into); everything else is skipped by the
 * json_* primitives.  Member names are found through the schema's pick
 * table (evt_schema_child_index); compact JSON takes short fast paths that
 * fall back to the general ones at the same byte, so errors do not change.
 * No allocation, no recursion.
 * Tested by: tests/unit/check_json.c, tests/fuzz/fuzz_dec_json.c */
#include "cepd/cep_common.h"
#include "cepd/dec.h"
#include "cepd/json.h"

#include <string.h>

/* An open object that the schema walks into.  seen has bit i set once child
 * i of node was matched in this object, so that a repeated key can clear
 * what the earlier value left below it (last key wins). */
struct dec_json_frame {
    const struct evt_schema_node *node;
    const char *start;
    uint64_t seen;
};

/* Reset every slot at or below top to null: a repeated key replaces the
 * whole earlier value.  Rare, so it may use a large stack frame; nodes
 * deeper than JSON_MAX_DEPTH below top cannot hold values and are skipped. */
static __attribute__((noinline)) void dec_json_clear(const struct evt_schema_node *top,
                                                     struct val *slots)
{
    struct {
        const struct evt_schema_node *node;
        uint32_t next;
    } stack[JSON_MAX_DEPTH];
    unsigned d = 0;
    if (top->slot >= 0)
        slots[top->slot] = val_null();
    stack[d].node = top;
    stack[d].next = 0;
    d++;
    while (d) {
        const struct evt_schema_node *n = stack[d - 1].node;
        if (stack[d - 1].next == n->n_children) {
            d--;
            continue;
        }
        const struct evt_schema_node *c = n->children[stack[d - 1].next++];
        if (c->slot >= 0)
            slots[c->slot] = val_null();
        if (c->n_children && d < JSON_MAX_DEPTH) {
            stack[d].node = c;
            stack[d].next = 0;
            d++;
        }
    }
}

int dec_json_line(const struct evt_schema *schema, struct evt *ev, struct dec_err *err)
{
    struct json_err jerr;
    struct json_scan sc = {.base = ev->raw, .end = ev->raw + ev->raw_len, .err = &jerr};
    struct dec_json_frame frames[JSON_MAX_DEPTH];
    const char *p = json_ws_skip(ev->raw, sc.end), *end = sc.end;
    char *scratch = ev->scratch + ev->scratch_len;
    struct val *slots = ev->slots;
    unsigned d = 0;

    CEP_ASSERT(ev->n_slots >= schema->n_slots);
    CEP_ASSERT(ev->scratch_cap >= ev->raw_len);
    if (p == end) {
        jerr.reason = "unexpected end of input";
        jerr.offset = (size_t)(p - ev->raw);
        goto fail;
    }
    if (*p != '{') {
        jerr.reason = "top level is not an object";
        jerr.offset = (size_t)(p - ev->raw);
        goto fail;
    }
    frames[0].node = &schema->root;
    frames[0].start = p;
    frames[0].seen = 0;
    d = 1;
    p = json_ws_skip(p + 1, end);
    if (p < end && *p == '}')
        goto close;
    if (p == end || *p != '"')
        goto bad_key;
    for (;;) {
        /* A member: "key" ws ':' ws value, the key's quote at p (every way
         * here checks it).  Where the bytes are compact JSON a test or two
         * takes the common case; anything else falls back to the general
         * path at the same byte, so every error is reported as and where
         * the general path reports it. */
        struct dec_json_frame *f = &frames[d - 1];
        const char *kp = p + 1, *ke, *q;
        bool esc = false;
        if (!(ke = json_str_fast(p, end)) && !(ke = json_str_scan(&sc, p, &esc)))
            goto fail;
        size_t klen = (size_t)(ke - kp - 1);
        if (CEP_UNLIKELY(esc)) {
            /* Unescaped keys go to the free part of scratch without
             * claiming it: scratch holds at most raw_len bytes of
             * disjoint, never-growing pieces of the line. */
            klen = json_str_unescape(kp, klen, scratch);
            kp = scratch;
        }
        if (CEP_LIKELY(end - ke >= 2 && ke[0] == ':' && (unsigned char)ke[1] > ' ')) {
            p = ke + 1;
        } else {
            p = json_ws_skip(ke, end);
            if (p == end || *p != ':') {
                jerr.reason = p == end ? "unexpected end of input" : "expected ':'";
                jerr.offset = (size_t)(p - ev->raw);
                goto fail;
            }
            p = json_ws_skip(p + 1, end);
            if (p == end) {
                jerr.reason = "unexpected end of input";
                jerr.offset = (size_t)(p - ev->raw);
                goto fail;
            }
        }
        /* A value starts at p < end. */
        int32_t idx = evt_schema_child_index(f->node, kp, klen);
        const struct evt_schema_node *c = idx < 0 ? NULL : f->node->children[idx];
        if (c && c->n_children) {
            uint64_t bit = idx < 64 ? UINT64_C(1) << idx : 0;
            if (!bit || (f->seen & bit))
                dec_json_clear(c, slots);
            f->seen |= bit;
            if (*p == '{') {
                if (d >= JSON_MAX_DEPTH) {
                    jerr.reason = "nesting too deep";
                    jerr.offset = (size_t)(p - ev->raw);
                    goto fail;
                }
                frames[d].node = c;
                frames[d].start = p;
                frames[d].seen = 0;
                d++;
                p = json_ws_skip(p + 1, end);
                if (p < end && *p == '}')
                    goto close;
                if (p == end || *p != '"')
                    goto bad_key;
                continue;
            }
        }
        /* The value: plain strings and integers inline, the rest in json.c;
         * only a slot's value is stored. */
        int32_t slot = c ? c->slot : -1;
        int64_t num;
        if (*p == '"') {
            if ((q = json_str_fast(p, end))) {
                if (slot >= 0) {
                    slots[slot] = val_str(p + 1, (size_t)(q - p - 2));
                    slots[slot].flags = VAL_F_PLAIN; /* json_str_fast's kind */
                }
                p = q;
            } else if (slot >= 0) {
                p = json_value_take(&sc, p, d, &slots[slot], &scratch);
            } else {
                p = json_str_scan(&sc, p, &esc);
            }
        } else if (*p == '-' || (*p >= '0' && *p <= '9')) {
            if ((q = json_int_fast(&sc, p, &num))) {
                if (slot >= 0)
                    slots[slot] = val_int(num);
                p = q;
            } else {
                p = json_num_scan(&sc, p, slot >= 0 ? &slots[slot] : NULL);
            }
        } else if (slot >= 0) {
            p = json_value_take(&sc, p, d, &slots[slot], &scratch);
        } else {
            p = json_value_skip(&sc, p, d);
        }
        if (!p)
            goto fail;
        if (CEP_LIKELY(end - p >= 2 && p[0] == ',' && p[1] == '"')) {
            p++;
            continue;
        }
        p = json_ws_skip(p, end);
        if (p < end && *p == ',') {
            p = json_ws_skip(p + 1, end);
            if (p == end || *p != '"')
                goto bad_key;
            continue;
        }
    close:
        /* After a member, or just inside a '{' that a '}' closes. */
        while (p < end && *p == '}') {
            const struct dec_json_frame *fc = &frames[--d];
            p++;
            if (fc->node->slot >= 0) {
                struct val *v = &slots[fc->node->slot];
                v->type = VAL_OBJ;
                v->flags = 0;
                v->len = (uint32_t)(p - fc->start);
                v->u.s = fc->start;
            }
            p = json_ws_skip(p, end);
            if (d == 0) {
                if (p != end) {
                    jerr.reason = "trailing characters";
                    jerr.offset = (size_t)(p - ev->raw);
                    goto fail;
                }
                ev->scratch_len = (uint32_t)(scratch - ev->scratch);
                return CEP_OK;
            }
        }
        if (p == end || *p != ',') {
            jerr.reason = p == end ? "unexpected end of input" : "expected ',' or '}'";
            jerr.offset = (size_t)(p - ev->raw);
            goto fail;
        }
        p = json_ws_skip(p + 1, end);
        if (p == end || *p != '"')
            goto bad_key;
    }
bad_key:
    jerr.reason = p == end ? "unexpected end of input" : "expected string key";
    jerr.offset = (size_t)(p - ev->raw);
fail:
    memset(slots, 0, ev->n_slots * sizeof(*slots));
    err->reason = jerr.reason;
    err->offset = jerr.offset;
    return CEP_ERR;
}
