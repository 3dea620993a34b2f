/* SPDX-License-Identifier: Apache-2.0
 * Events and stream schemas.  The schema trie is built while rules compile
 * and is read-only afterwards; events reuse their buffers across lines so a
 * pooled event costs no allocation once warmed up.  An event's JSON text
 * is its raw line, or, for a line format, written on demand from raw
 * (during the push through the format, later from a recipe the event keeps
 * if it outlives the push).
 * Tested by: tests/unit/check_core.c, tests/unit/check_format.c */
#include "cepd/cep_common.h"
#include "cepd/evt.h"

#include <string.h>

struct evt_schema *evt_schema_new(void)
{
    struct evt_schema *s = cep_calloc(1, sizeof(*s));
    s->root.slot = -1;
    return s;
}

/* Free the children of n, iteratively (depth is bounded by rule paths, but
 * an explicit stack keeps the no-input-driven-recursion rule simple). */
static void evt_schema_node_clear(struct evt_schema_node *root)
{
    size_t n = 0, cap = 0;
    struct evt_schema_node **stack = NULL;
    CEP_GROW(stack, cap, 1);
    stack[n++] = root;
    while (n) {
        struct evt_schema_node *node = stack[--n];
        for (uint32_t i = 0; i < node->n_children; i++) {
            CEP_GROW(stack, cap, n + 1);
            stack[n++] = node->children[i];
        }
        cep_free(node->children);
        cep_free(node->name);
        if (node != root)
            cep_free(node);
    }
    cep_free(stack);
}

void evt_schema_free(struct evt_schema *s)
{
    if (!s)
        return;
    evt_schema_node_clear(&s->root);
    for (uint32_t i = 0; i < s->n_slots; i++)
        cep_free(s->slot_names[i]);
    cep_free(s->slot_names);
    cep_free(s);
}

const struct evt_schema_node *evt_schema_child(const struct evt_schema_node *n, const char *s,
                                               size_t len)
{
    for (uint32_t i = 0; i < n->n_children; i++) {
        const struct evt_schema_node *c = n->children[i];
        if (c->name_len == len && memcmp(c->name, s, len) == 0)
            return c;
    }
    return NULL;
}

int evt_schema_slot(struct evt_schema *s, const struct evt_path_seg *segs, size_t n)
{
    CEP_ASSERT(n >= 1);
    struct evt_schema_node *node = &s->root;
    for (size_t i = 0; i < n; i++) {
        struct evt_schema_node *child =
                (struct evt_schema_node *)evt_schema_child(node, segs[i].s, segs[i].len);
        if (!child) {
            child = cep_calloc(1, sizeof(*child));
            child->name = cep_strndup(segs[i].s, segs[i].len);
            child->name_len = (uint32_t)segs[i].len;
            child->slot = -1;
            size_t cap = node->children_cap;
            CEP_GROW(node->children, cap, node->n_children + 1);
            node->children_cap = (uint32_t)cap;
            node->children[node->n_children++] = child;
        }
        node = child;
    }
    if (node->slot < 0) {
        size_t cap = s->slot_names_cap;
        CEP_GROW(s->slot_names, cap, s->n_slots + 1);
        s->slot_names_cap = (uint32_t)cap;
        size_t total = 0;
        for (size_t i = 0; i < n; i++)
            total += segs[i].len + 1;
        char *name = cep_malloc(total);
        size_t off = 0;
        for (size_t i = 0; i < n; i++) {
            if (i)
                name[off++] = '.';
            memcpy(name + off, segs[i].s, segs[i].len);
            off += segs[i].len;
        }
        name[off] = '\0';
        s->slot_names[s->n_slots] = name;
        node->slot = (int32_t)s->n_slots++;
    }
    return node->slot;
}

int evt_schema_slot_dotted(struct evt_schema *s, const char *path)
{
    struct evt_path_seg segs[32];
    size_t n = 0;
    const char *p = path;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        CEP_ASSERT(n < CEP_ARRAY_LEN(segs));
        segs[n].s = p;
        segs[n].len = len;
        n++;
        if (!dot)
            break;
        p = dot + 1;
    }
    return evt_schema_slot(s, segs, n);
}

struct evt *evt_new(void)
{
    struct evt *e = cep_calloc(1, sizeof(*e));
    e->refcnt = 1;
    return e;
}

static void evt_free(struct evt *e)
{
    cep_free(e->slots); /* the block: slots, raw and scratch (evt_reset) */
    sbuf_free(&e->text);
    cep_free(e);
}

/* Free events the pool keeps at most (see struct evt_pool). */
static size_t evt_pool_keep(const struct evt_pool *p)
{
    size_t k = p->peak > p->peak_prev ? p->peak : p->peak_prev;
    return k > EVT_POOL_MIN ? k : EVT_POOL_MIN;
}

void evt_unref(struct evt *e)
{
    if (!e)
        return;
    CEP_ASSERT(e->refcnt > 0);
    if (--e->refcnt)
        return;
    struct evt_pool *p = e->pool;
    if (p) {
        if (p->out)
            p->out--;
        if (p->n < evt_pool_keep(p)) {
            CEP_GROW(p->free, p->cap, p->n + 1);
            p->free[p->n++] = e;
            return;
        }
    }
    evt_free(e);
}

void evt_pool_init(struct evt_pool *p)
{
    memset(p, 0, sizeof(*p));
}

void evt_pool_fini(struct evt_pool *p)
{
    for (size_t i = 0; i < p->n; i++)
        evt_free(p->free[i]);
    cep_free(p->free);
    memset(p, 0, sizeof(*p));
}

struct evt *evt_pool_get(struct evt_pool *p)
{
    if (++p->gets == EVT_POOL_EPOCH) {
        p->peak_prev = p->peak;
        p->peak = p->out;
        p->gets = 0;
    }
    if (p->n > evt_pool_keep(p)) /* after a spike: shrink gradually */
        evt_free(p->free[--p->n]);
    struct evt *e = p->n ? p->free[--p->n] : evt_new();
    e->refcnt = 1;
    e->pool = p;
    if (++p->out > p->peak)
        p->peak = p->out;
    return e;
}

/* The smallest power of two >= n, at least 8. */
static uint32_t evt_cap(size_t n)
{
    uint32_t c = 8;
    while (c < n)
        c *= 2;
    return c;
}

size_t evt_mem_bytes(const struct evt *e)
{
    return sizeof(*e) + e->raw_cap + e->scratch_cap + e->slots_cap * sizeof(struct val) +
           e->text.cap;
}

void evt_reset(struct evt *e, const char *line, size_t len, uint32_t n_slots)
{
    CEP_ASSERT(len < EVT_RAW_MAX);
    void *old = NULL;
    if (len + 1 > e->raw_cap || n_slots > e->slots_cap) {
        /* One block holds the slots, then the line, then the scratch
         * space (used only by strings with escapes): what decoding and the
         * rules touch is contiguous, and an event is two allocations. */
        uint32_t raw_cap = e->raw_cap > evt_cap(len + 1) ? e->raw_cap : evt_cap(len + 1);
        uint32_t slots_cap = n_slots > e->slots_cap ? n_slots : e->slots_cap;
        char *block = cep_malloc(slots_cap * sizeof(struct val) + 2 * (size_t)raw_cap);
        old = e->slots; /* freed after the copy, in case line pointed into it */
        e->slots = (struct val *)(void *)block;
        e->slots_cap = slots_cap;
        e->raw = block + slots_cap * sizeof(struct val);
        e->raw_cap = raw_cap;
        e->scratch = e->raw + raw_cap;
        e->scratch_cap = raw_cap;
    }
    memcpy(e->raw, line, len);
    e->raw[len] = '\0';
    e->raw_len = (uint32_t)len;
    cep_free(old);
    e->scratch_len = 0;
    e->text_kind = EVT_TEXT_RAW;
    e->n_slots = n_slots;
    if (n_slots) /* a stream no rule reads a field of has no slot array */
        memset(e->slots, 0, n_slots * sizeof(*e->slots));
}

void evt_text_defer(struct evt *e, const struct evt_text_ops *ops, const void *ud)
{
    e->text_kind = EVT_TEXT_DEFER;
    e->text_ops = ops;
    e->text_ud = ud;
}

void evt_text_settle(struct evt *e)
{
    CEP_ASSERT(e->text_kind == EVT_TEXT_DEFER);
    if (e->refcnt > 1) {
        sbuf_reset(&e->text);
        e->text_ops->keep(e->text_ud, &e->text);
        e->text_kind = EVT_TEXT_KEPT;
    } else {
        e->text_kind = EVT_TEXT_NONE;
    }
    e->text_ud = NULL;
}

void evt_text_append(const struct evt *e, struct sbuf *out)
{
    switch (e->text_kind) {
        case EVT_TEXT_RAW:
            sbuf_append(out, e->raw, e->raw_len);
            break;
        case EVT_TEXT_DEFER:
            e->text_ops->write_now(e->text_ud, out);
            break;
        case EVT_TEXT_KEPT:
            e->text_ops->write_kept(e->raw, e->text.buf, out);
            break;
        default:
            CEP_ASSERT(!"the text of an event nobody kept");
    }
}
