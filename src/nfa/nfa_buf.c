/* SPDX-License-Identifier: Apache-2.0
 * The shared event buffer of one key: a pool of refcounted nodes, each an
 * event taken by one step plus the index of the node before it in the same
 * partial match.  Runs that fork keep pointing at the same node, so N runs
 * over the same prefix share it (a run costs O(1) beyond its events); an
 * event is referenced once per node holding it and released with the last.
 * Nodes live in one array with a free list, so steady state never calls
 * malloc.  Release walks up the parent chain iteratively.
 * Tested by: tests/unit/check_nfa.c */
#include "cepd/cep_common.h"
#include "nfa_int.h"

#include <string.h>

void nfa_buf_init(struct nfa_buf *b)
{
    memset(b, 0, sizeof(*b));
    b->free_head = NFA_NONE;
}

/* Release every node still held (their events included) and the pool. */
void nfa_buf_fini(struct nfa_buf *b)
{
    for (uint32_t i = 0; i < b->n_used; i++) {
        if (b->nodes[i].refcnt)
            evt_unref(b->nodes[i].ev);
    }
    cep_free(b->nodes);
    nfa_buf_init(b);
}

/* A new node holding ev (one new event reference) taken by step after
 * parent (one new reference on parent, NFA_NONE for a first event).  The
 * node starts with refcnt 1, owned by the caller. */
uint32_t nfa_buf_put(struct nfa_buf *b, struct evt *ev, int32_t step, uint32_t parent)
{
    uint32_t id;
    if (b->free_head != NFA_NONE) {
        id = b->free_head;
        b->free_head = b->nodes[id].parent;
    } else {
        CEP_GROW(b->nodes, b->cap, (size_t)b->n_used + 1);
        id = b->n_used++;
    }
    struct nfa_node *n = &b->nodes[id];
    n->ev = evt_ref(ev);
    n->step = step;
    n->parent = parent;
    n->refcnt = 1;
    n->depth = 1;
    if (parent != NFA_NONE) {
        b->nodes[parent].refcnt++;
        n->depth = b->nodes[parent].depth + 1;
    }
    b->n_live++;
    n->bytes = (uint32_t)evt_mem_bytes(ev);
    b->ev_bytes += n->bytes;
    return id;
}

/* Drop one reference on node id (NFA_NONE: no-op).  A node that reaches
 * zero gives back its event reference and its reference on its parent. */
void nfa_buf_release(struct nfa_buf *b, uint32_t id)
{
    while (id != NFA_NONE) {
        struct nfa_node *n = &b->nodes[id];
        CEP_ASSERT(n->refcnt > 0);
        if (--n->refcnt)
            return;
        uint32_t parent = n->parent;
        b->ev_bytes -= n->bytes;
        evt_unref(n->ev);
        n->ev = NULL;
        n->parent = b->free_head;
        b->free_head = id;
        b->n_live--;
        id = parent;
    }
}
