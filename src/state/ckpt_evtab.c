/* SPDX-License-Identifier: Apache-2.0
 * Event tables: each event held by snapshot state is written once and
 * referred to by number afterwards.  The writer maps event pointers to
 * numbers (open addressing, no references taken: a snapshot runs at a
 * barrier, when no event is freed); the reader keeps the events it made,
 * in number order, with one reference each.
 * Record: u8 tag; tag 0 is uv number (an event already written); tag 1 is
 * uv stream, sv time, uv seq, bytes src_name, uv src_off, bytes text (a
 * new event, numbered in order from 0; text is its JSON text, evt_text_append).
 * Tested by: tests/unit/check_ckpt.c, tests/fuzz/fuzz_ckpt.c */
#include "cepd/cep_common.h"
#include "cepd/ckpt.h"

#include <string.h>

#define CKPT_EVT_REF  0
#define CKPT_EVT_FULL 1

struct ckpt_evtab {
    bool writer;
    /* writer: pointer -> number, capacity a power of two, at most half full */
    const struct evt **keys;
    uint32_t *nums;
    size_t cap;
    size_t n;
    /* reader */
    ckpt_make_evt_fn make;
    void *ud;
    struct evt **evs;
    size_t n_evs;
    size_t evs_cap;
    struct sbuf name; /* the source name, NUL-terminated for make */
    struct sbuf text; /* writer: an event's JSON text */
};

struct ckpt_evtab *ckpt_evtab_writer(void)
{
    struct ckpt_evtab *t = cep_calloc(1, sizeof(*t));
    t->writer = true;
    t->cap = 64;
    t->keys = cep_calloc(t->cap, sizeof(*t->keys));
    t->nums = cep_calloc(t->cap, sizeof(*t->nums));
    return t;
}

struct ckpt_evtab *ckpt_evtab_reader(ckpt_make_evt_fn make, void *ud)
{
    struct ckpt_evtab *t = cep_calloc(1, sizeof(*t));
    t->make = make;
    t->ud = ud;
    sbuf_init(&t->name);
    return t;
}

void ckpt_evtab_free(struct ckpt_evtab *t)
{
    if (!t)
        return;
    cep_free(t->keys);
    cep_free(t->nums);
    for (size_t i = 0; i < t->n_evs; i++)
        evt_unref(t->evs[i]);
    cep_free(t->evs);
    sbuf_free(&t->name);
    sbuf_free(&t->text);
    cep_free(t);
}

static size_t ckpt_evtab_slot(const struct ckpt_evtab *t, const struct evt *ev)
{
    uint64_t h = (uint64_t)(uintptr_t)ev * UINT64_C(0x9e3779b97f4a7c15);
    size_t mask = t->cap - 1;
    size_t i = (size_t)(h >> 32) & mask;
    while (t->keys[i] && t->keys[i] != ev)
        i = (i + 1) & mask;
    return i;
}

static void ckpt_evtab_grow(struct ckpt_evtab *t)
{
    const struct evt **keys = t->keys;
    uint32_t *nums = t->nums;
    size_t cap = t->cap;
    t->cap *= 2;
    t->keys = cep_calloc(t->cap, sizeof(*t->keys));
    t->nums = cep_calloc(t->cap, sizeof(*t->nums));
    for (size_t i = 0; i < cap; i++) {
        if (keys[i]) {
            size_t j = ckpt_evtab_slot(t, keys[i]);
            t->keys[j] = keys[i];
            t->nums[j] = nums[i];
        }
    }
    cep_free(keys);
    cep_free(nums);
}

void ckpt_put_evt(struct ckpt_w *w, struct ckpt_evtab *t, const struct evt *ev)
{
    CEP_ASSERT(t->writer && ev);
    size_t i = ckpt_evtab_slot(t, ev);
    if (t->keys[i]) {
        ckpt_put_u8(w, CKPT_EVT_REF);
        ckpt_put_uv(w, t->nums[i]);
        return;
    }
    CEP_ASSERT(t->n < UINT32_MAX);
    t->keys[i] = ev;
    t->nums[i] = (uint32_t)t->n++;
    if (2 * t->n > t->cap)
        ckpt_evtab_grow(t);
    const char *name = ev->src_name ? ev->src_name : "";
    ckpt_put_u8(w, CKPT_EVT_FULL);
    ckpt_put_uv(w, ev->stream);
    ckpt_put_sv(w, ev->time);
    ckpt_put_uv(w, ev->seq);
    ckpt_put_bytes(w, name, strlen(name));
    ckpt_put_uv(w, ev->src_off);
    sbuf_reset(&t->text);
    evt_text_append(ev, &t->text);
    ckpt_put_bytes(w, t->text.buf, t->text.len);
}

struct evt *ckpt_get_evt(struct ckpt_r *r, struct ckpt_evtab *t)
{
    CEP_ASSERT(!t->writer);
    uint8_t tag = ckpt_get_u8(r);
    if (r->err)
        return NULL;
    if (tag == CKPT_EVT_REF) {
        uint64_t num = ckpt_get_uv(r);
        if (r->err)
            return NULL;
        if (num >= t->n_evs) {
            ckpt_r_fail(r, "event number out of range");
            return NULL;
        }
        return evt_ref(t->evs[num]);
    }
    if (tag != CKPT_EVT_FULL) {
        ckpt_r_fail(r, "bad event tag");
        return NULL;
    }
    uint32_t stream = (uint32_t)ckpt_get_uv_max(r, UINT32_MAX, "stream number out of range");
    int64_t time = ckpt_get_sv(r);
    uint64_t seq = ckpt_get_uv(r);
    size_t name_len, raw_len;
    const char *name = ckpt_get_bytes(r, &name_len);
    uint64_t src_off = ckpt_get_uv(r);
    const char *raw = ckpt_get_bytes(r, &raw_len);
    if (!r->err && raw_len >= UINT32_MAX)
        ckpt_r_fail(r, "event too long");
    if (r->err)
        return NULL;
    sbuf_reset(&t->name);
    sbuf_append(&t->name, name, name_len);
    struct evt *ev = t->make(t->ud, stream, time, seq, t->name.buf, src_off, raw, raw_len);
    if (!ev) {
        ckpt_r_fail(r, "event cannot be decoded");
        return NULL;
    }
    CEP_GROW(t->evs, t->evs_cap, t->n_evs + 1);
    t->evs[t->n_evs++] = ev;
    return evt_ref(ev);
}
