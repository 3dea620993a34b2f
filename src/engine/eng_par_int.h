/* SPDX-License-Identifier: Apache-2.0
 * Internals of the parallel engine (eng_par.c): the bounded
 * single-producer/single-consumer ring of pointers that carries batches
 * between the dispatcher and a worker (eng_par_ring.c).  Exactly one thread
 * pushes and exactly one thread pops; neither blocks nor allocates.  The
 * dispatcher's key-only scan (eng_par_scan.c), and the key it writes for
 * the worker. */
#ifndef CEPD_ENG_PAR_INT_H
#define CEPD_ENG_PAR_INT_H

#include "cepd/cep_common.h"
#include "cepd/eng.h"
#include "cepd/evt.h"
#include "cepd/sbuf.h"

#include <stdatomic.h>
#include <string.h>

#define ENG_PAR_CACHELINE 64

struct eng_par_ring {
    _Alignas(ENG_PAR_CACHELINE) _Atomic size_t head; /* next to pop; the consumer writes it */
    _Alignas(ENG_PAR_CACHELINE) _Atomic size_t tail; /* next to push; the producer writes it */
    _Alignas(ENG_PAR_CACHELINE) void **slots;
    size_t mask;        /* capacity - 1; capacity a power of two */
};

/* An empty ring holding up to cap (a power of two, >= 2) pointers. */
void eng_par_ring_init(struct eng_par_ring *r, size_t cap);
void eng_par_ring_fini(struct eng_par_ring *r);
/* Producer: false when full. */
bool eng_par_ring_push(struct eng_par_ring *r, void *x);
/* Consumer: the oldest pointer, or NULL when empty. */
void *eng_par_ring_pop(struct eng_par_ring *r);
/* Either side: pointers in the ring now (a snapshot). */
size_t eng_par_ring_count(const struct eng_par_ring *r);

/* A field list entry as a batch carries it (an eng_fval takes 32 bytes,
 * this 12): field << 2 | kind, then the value's offset and length in the
 * line, or an int's low and high 32 bits. */
struct eng_par_fv {
    uint32_t fk;
    uint32_t a, b;
};
#define ENG_PAR_FV_FIELDS (UINT32_C(1) << 30) /* fields it can name */

/* The top-level members a stream's dispatcher reads: its schema's, and
 * the slots of those it wants the values of. */
#define ENG_PAR_SCAN_MAX 8
#define ENG_PAR_SCAN_BUCKETS 64
#define ENG_PAR_SCAN_SEARCH UINT16_MAX /* a bucket of several members */
struct eng_par_scan {
    const struct evt_schema_node *root;
    uint32_t n;
    int want[ENG_PAR_SCAN_MAX];
    /* By the length and first byte of a name: 1 + the index of the only
     * member in the bucket, 0 for none, ENG_PAR_SCAN_SEARCH. */
    uint16_t bucket[ENG_PAR_SCAN_BUCKETS];
};

/* Want the schema slots slots[0..n) (repeats allowed): true when every one
 * is a top-level member of schema and they are at most ENG_PAR_SCAN_MAX;
 * false means the stream's lines need the full decoder. */
bool eng_par_scan_init(struct eng_par_scan *ks, const struct evt_schema *schema, const int *slots,
                       size_t n);
/* Scan line (len bytes) as one JSON object and set slots[slot] of every
 * wanted member present (the last one of a repeated member), as
 * dec_json_line would; strings point into line.  Other slots and absent
 * members are left as they are.  CEP_OK only when dec_json_line accepts the
 * line; CEP_ERR when it may not, or when a wanted member's value is not a
 * string without escapes or a number: decode the line in full then (the
 * slots hold garbage).  With CEP_OK, fv[0..*n_fv) lists the schema's
 * top-level members in line order, for eng_push_decoded after
 * eng_par_fv_expand (field: the index among the schema root's children;
 * offsets into line), or *n_fv
 * is SIZE_MAX when it cannot (more than *n_fv of them on entry, or a value
 * of a kind eng_fval has no form for: a fraction, a literal, an array).
 * Allocates nothing; any thread. */
int eng_par_scan_line(const struct eng_par_scan *ks, const char *line, size_t len,
                      struct val *slots, struct eng_par_fv *fv, size_t *n_fv);
/* The index in fv[0..n) of the member that gives the event its time (the
 * last one of field time_field; eng_decoded's time_fv), or -1. */
static inline int32_t eng_par_scan_time_fv(const struct eng_par_fv *fv, size_t n,
                                           int32_t time_field)
{
    while (n-- > 0)
        if ((int32_t)(fv[n].fk >> 2) == time_field)
            return (int32_t)n;
    return -1;
}
/* The JSON array of the key values slots[key_slot[0..n)] into sb (from
 * its start), when every one is a string the key-only scan read (no
 * escapes, no control bytes): their bytes quoted, as eng_keyed_fields_json
 * writes them.  False, sb unspecified, when a value is not a string. */
static inline bool eng_par_key_json(struct sbuf *sb, const struct val *slots,
                                    const int *key_slot, size_t n)
{
    size_t need = 2;
    for (size_t i = 0; i < n; i++) {
        const struct val *v = &slots[key_slot[i]];
        if (v->type != VAL_STR)
            return false;
        need += v->len + 3;
    }
    sbuf_reserve(sb, need);
    char *o = sb->buf;
    for (size_t i = 0; i < n; i++) {
        const struct val *v = &slots[key_slot[i]];
        *o++ = i ? ',' : '[';
        *o++ = '"';
        memcpy(o, v->u.s, v->len);
        o += v->len;
        *o++ = '"';
    }
    *o++ = ']';
    *o = '\0';
    sb->len = (size_t)(o - sb->buf);
    return true;
}
/* fv[0..n) as eng_push_decoded takes them, into out[0..n). */
void eng_par_fv_expand(const struct eng_par_fv *fv, size_t n, struct eng_fval *out);

#endif
