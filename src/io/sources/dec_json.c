/* SPDX-License-Identifier: Apache-2.0
 * JSON line decoder: one pass over the line that validates everything and
 * stores only the values whose paths the stream schema holds.  Objects on a
 * schema path are entered through an explicit frame stack (one frame per
 * open object that the schema walks into); everything else is skipped by the
 * json_* primitives.  No allocation, no recursion.
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

/* The child of n named (s, len) and its index in *idx, or NULL. */
static inline const struct evt_schema_node *dec_json_child(const struct evt_schema_node *n,
                                                           const char *s, size_t len, uint32_t *idx)
{
    for (uint32_t i = 0; i < n->n_children; i++) {
        const struct evt_schema_node *c = n->children[i];
        if (c->name_len == len && (len == 0 || (c->name[0] == s[0] && !memcmp(c->name, s, len)))) {
            *idx = i;
            return c;
        }
    }
    return NULL;
}

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
    bool fresh = true; /* p is just inside a '{' */

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
    for (;;) {
        if (!fresh || p == end || *p != '}') {
            /* A member: "key" ws ':' ws value. */
            struct dec_json_frame *f = &frames[d - 1];
            const char *ks = p, *kp;
            bool esc;
            if (p == end || *p != '"') {
                jerr.reason = p == end ? "unexpected end of input" : "expected string key";
                jerr.offset = (size_t)(p - ev->raw);
                goto fail;
            }
            const char *ke = json_str_fast(p, end);
            esc = false;
            if (!ke && !(ke = json_str_scan(&sc, p, &esc)))
                goto fail;
            p = ke;
            size_t klen = (size_t)(p - ks - 2);
            kp = ks + 1;
            if (CEP_UNLIKELY(esc)) {
                /* Unescaped keys go to the free part of scratch without
                 * claiming it: scratch holds at most raw_len bytes of
                 * disjoint, never-growing pieces of the line. */
                klen = json_str_unescape(kp, klen, scratch);
                kp = scratch;
            }
            p = json_ws_skip(p, end);
            if (p == end || *p != ':') {
                jerr.reason = p == end ? "unexpected end of input" : "expected ':'";
                jerr.offset = (size_t)(p - ev->raw);
                goto fail;
            }
            p = json_ws_skip(p + 1, end);
            uint32_t idx = 0;
            const struct evt_schema_node *c = dec_json_child(f->node, kp, klen, &idx);
            if (!c) {
                if (p == end) {
                    p = json_value_skip(&sc, p, d);
                } else if (*p == '"') {
                    const char *q = json_str_fast(p, end);
                    p = q ? q : json_str_scan(&sc, p, &esc);
                } else if (*p == '-' || (*p >= '0' && *p <= '9')) {
                    p = json_num_scan(&sc, p, NULL);
                } else {
                    p = json_value_skip(&sc, p, d);
                }
            } else {
                if (c->n_children) {
                    uint64_t bit = idx < 64 ? UINT64_C(1) << idx : 0;
                    if (!bit || (f->seen & bit))
                        dec_json_clear(c, slots);
                    f->seen |= bit;
                    if (p < end && *p == '{') {
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
                        fresh = true;
                        continue;
                    }
                }
                /* Plain strings and numbers inline; the rest in json.c. */
                const char *q = p < end && *p == '"' ? json_str_fast(p, end) : NULL;
                if (c->slot < 0) {
                    p = json_value_skip(&sc, p, d);
                } else if (q) {
                    slots[c->slot] = val_str(p + 1, (size_t)(q - p - 2));
                    slots[c->slot].flags = VAL_F_PLAIN; /* json_str_fast's kind */
                    p = q;
                } else if (p < end && (*p == '-' || (*p >= '0' && *p <= '9'))) {
                    p = json_num_scan(&sc, p, &slots[c->slot]);
                } else {
                    p = json_value_take(&sc, p, d, &slots[c->slot], &scratch);
                }
            }
            if (!p)
                goto fail;
            p = json_ws_skip(p, end);
        }
        fresh = false;
        /* After a member or an opening '{' of an empty object. */
        while (p < end && *p == '}') {
            const struct dec_json_frame *f = &frames[--d];
            p++;
            if (f->node->slot >= 0) {
                struct val *v = &slots[f->node->slot];
                v->type = VAL_OBJ;
                v->flags = 0;
                v->len = (uint32_t)(p - f->start);
                v->u.s = f->start;
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
    }
fail:
    memset(slots, 0, ev->n_slots * sizeof(*slots));
    err->reason = jerr.reason;
    err->offset = jerr.offset;
    return CEP_ERR;
}
