/* SPDX-License-Identifier: Apache-2.0
 * Bounded SPSC ring of pointers (Lamport's queue with C11 acquire/release):
 * the producer publishes a slot by storing tail with release after writing
 * it, the consumer frees one by storing head with release after reading
 * it; each side reads the other's index with acquire.  Indexes run freely
 * and are masked, so full is tail - head == capacity.
 * Tested by: tests/unit/check_par.c */
#include "cepd/cep_common.h"
#include "eng_par_int.h"

void eng_par_ring_init(struct eng_par_ring *r, size_t cap)
{
    CEP_ASSERT(cap >= 2 && (cap & (cap - 1)) == 0);
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    r->slots = cep_calloc(cap, sizeof(*r->slots));
    r->mask = cap - 1;
}

void eng_par_ring_fini(struct eng_par_ring *r)
{
    cep_free(r->slots);
    r->slots = NULL;
}

bool eng_par_ring_push(struct eng_par_ring *r, void *x)
{
    size_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    size_t h = atomic_load_explicit(&r->head, memory_order_acquire);
    if (t - h > r->mask)
        return false;
    r->slots[t & r->mask] = x;
    atomic_store_explicit(&r->tail, t + 1, memory_order_release);
    return true;
}

void *eng_par_ring_pop(struct eng_par_ring *r)
{
    size_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    size_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
    if (h == t)
        return NULL;
    void *x = r->slots[h & r->mask];
    atomic_store_explicit(&r->head, h + 1, memory_order_release);
    return x;
}

size_t eng_par_ring_count(const struct eng_par_ring *r)
{
    size_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
    size_t h = atomic_load_explicit(&r->head, memory_order_acquire);
    return t - h;
}
