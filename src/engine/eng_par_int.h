/* SPDX-License-Identifier: Apache-2.0
 * Internals of the parallel engine (eng_par.c): the bounded
 * single-producer/single-consumer ring of pointers that carries batches
 * between the dispatcher and a worker (eng_par_ring.c).  Exactly one thread
 * pushes and exactly one thread pops; neither blocks nor allocates. */
#ifndef CEPD_ENG_PAR_INT_H
#define CEPD_ENG_PAR_INT_H

#include "cepd/cep_common.h"

#include <stdatomic.h>

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

#endif
