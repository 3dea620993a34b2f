/* SPDX-License-Identifier: Apache-2.0
 * Checkpoint form of one key's partial matches (nfa_key_save/nfa_key_load):
 * the live runs, the completed matches still held back, the key's time and
 * the shared buffer nodes they reach.  No pointer or array index of the
 * running key is written: nodes are numbered in the order the runs (then
 * the held matches) first reach them, ancestors before descendants, and
 * every reference is a distance back in that numbering.  Reference counts
 * are not stored; loading rebuilds them from the references, so a record
 * cannot describe a buffer that the runtime's invariant forbids.
 * Counting keys (emit TALLY) have their own record, in nfa_count.c.
 * Tested by: tests/unit/check_nfa_snap.c, tests/unit/check_nfa_count.c */
#include "cepd/cep_common.h"
#include "cepd/nfa.h"

#include <string.h>

#include "cepd/ckpt.h"
#include "nfa_int.h"

/* Record layout (all varints, see ckpt.h):
 *   u8 version, sv now, uv n_runs, uv n_done,
 *   n_runs + n_done entries (runs in order, then held matches in order):
 *     uv n_new, then n_new nodes, oldest first:
 *       uv parent (0 = none, else this node's number minus its parent's),
 *       sv step, event (ckpt_put_evt)
 *     uv state, uv node (0 = none, else nodes so far minus its number),
 *     sv start_ts, sv prev_ts, sv start_seq, each as the difference to its
 *     usual source (the first event's time, the last event's time, the
 *     first event's seq; 0 in practice) in wrapping arithmetic.
 */
#define NFA_SNAP_VERSION   1
#define NFA_SNAP_MIN_NODE  3 /* bytes a node takes at least */
#define NFA_SNAP_MIN_ENTRY 6 /* bytes an entry takes at least */

static int64_t wrap_sub(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a - (uint64_t)b);
}

static int64_t wrap_add(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a + (uint64_t)b);
}

/* The saver's numbering: num[node id] (NFA_NONE until reached) and, per
 * number, the id of the path's first node. */
struct snap_w {
    struct ckpt_w *w;
    struct ckpt_evtab *t;
    const struct nfa_buf *b;
    uint32_t *num;
    uint32_t *root;
    uint32_t *path;
    uint32_t n;
};

static void save_entry(struct snap_w *s, const struct nfa_run *r)
{
    const struct nfa_buf *b = s->b;
    uint32_t n_new = 0;
    for (uint32_t id = r->node; id != NFA_NONE && s->num[id] == NFA_NONE; id = b->nodes[id].parent)
        s->path[n_new++] = id;
    ckpt_put_uv(s->w, n_new);
    while (n_new) {
        uint32_t id = s->path[--n_new];
        const struct nfa_node *nd = &b->nodes[id];
        uint32_t me = s->n++;
        s->num[id] = me;
        if (nd->parent == NFA_NONE) {
            s->root[me] = id;
            ckpt_put_uv(s->w, 0);
        } else {
            uint32_t up = s->num[nd->parent];
            s->root[me] = s->root[up];
            ckpt_put_uv(s->w, me - up);
        }
        ckpt_put_sv(s->w, nd->step);
        ckpt_put_evt(s->w, s->t, nd->ev);
    }
    const struct evt *first = NULL, *last = NULL;
    ckpt_put_uv(s->w, r->state);
    if (r->node == NFA_NONE) {
        ckpt_put_uv(s->w, 0);
    } else {
        uint32_t me = s->num[r->node];
        ckpt_put_uv(s->w, s->n - me);
        last = b->nodes[r->node].ev;
        first = b->nodes[s->root[me]].ev;
    }
    ckpt_put_sv(s->w, wrap_sub(r->start_ts, first ? first->time : 0));
    ckpt_put_sv(s->w, wrap_sub(r->prev_ts, last ? last->time : 0));
    ckpt_put_sv(s->w, wrap_sub((int64_t)r->start_seq, first ? (int64_t)first->seq : 0));
}

/* Write k's state: its time, its runs and held-back matches, and the
 * buffer nodes they reach with their events (through t, so an event is
 * written in full once per table).  Runs between calls (never from an
 * on_match callback).  Cannot fail; allocates scratch only. */
void nfa_key_save(const struct nfa_key *k, struct ckpt_w *w, struct ckpt_evtab *t)
{
    if (k->cnt) {
        nfa_cnt_save(k, w, t);
        return;
    }
    size_t n_used = k->buf.n_used ? k->buf.n_used : 1;
    struct snap_w s = {
            .w = w,
            .t = t,
            .b = &k->buf,
            .num = cep_malloc(n_used * sizeof(uint32_t)),
            .root = cep_malloc(n_used * sizeof(uint32_t)),
            .path = cep_malloc(n_used * sizeof(uint32_t)),
            .n = 0,
    };
    memset(s.num, 0xff, n_used * sizeof(uint32_t));
    ckpt_put_u8(w, NFA_SNAP_VERSION);
    ckpt_put_sv(w, k->now);
    ckpt_put_uv(w, k->n_runs);
    ckpt_put_uv(w, k->n_done);
    for (size_t i = 0; i < k->n_runs; i++)
        save_entry(&s, &k->runs[i]);
    for (size_t i = 0; i < k->n_done; i++)
        save_entry(&s, &k->done[i]);
    cep_free(s.num);
    cep_free(s.root);
    cep_free(s.path);
}

/* The loader's view: nodes are numbered as written, and, since the
 * buffer started empty, a node's number is its id.  root[] as above. */
struct snap_r {
    struct ckpt_r *r;
    struct ckpt_evtab *t;
    struct nfa_key *k;
    uint32_t *root;
    size_t cap_root;
};

static bool entry_fail(struct snap_r *s, const char *why)
{
    ckpt_r_fail(s->r, why);
    return false;
}

/* Read one entry into *out; its nodes go into the buffer, each holding a
 * creation reference that nfa_key_load drops at the end. */
static bool load_entry(struct snap_r *s, struct nfa_run *out, bool live)
{
    struct nfa_key *k = s->k;
    struct nfa_buf *b = &k->buf;
    const struct nfa_prog *p = k->p;
    uint64_t n_new = ckpt_get_uv_max(s->r, (uint64_t)(s->r->end - s->r->p) / NFA_SNAP_MIN_NODE,
                                     "nfa: node count");
    if (s->r->err)
        return false;
    if (n_new >= (uint64_t)NFA_NONE - b->n_used)
        return entry_fail(s, "nfa: too many nodes");
    CEP_GROW(s->root, s->cap_root, (size_t)b->n_used + (size_t)n_new);
    for (uint64_t i = 0; i < n_new; i++) {
        uint32_t me = b->n_used;
        uint64_t back = ckpt_get_uv_max(s->r, me, "nfa: node parent");
        int64_t step = ckpt_get_sv(s->r);
        if (s->r->err)
            return false;
        if (step < -1 || step >= (int64_t)p->n_indexes)
            return entry_fail(s, "nfa: node step out of range");
        struct evt *ev = ckpt_get_evt(s->r, s->t);
        if (!ev)
            return entry_fail(s, "nfa: node event");
        uint32_t parent = back ? me - (uint32_t)back : NFA_NONE;
        uint32_t id = nfa_buf_put(b, ev, (int32_t)step, parent);
        evt_unref(ev);
        CEP_ASSERT(id == me);
        s->root[me] = parent == NFA_NONE ? me : s->root[parent];
    }
    uint64_t state = ckpt_get_uv_max(s->r, p->n_states - 1, "nfa: run state");
    uint64_t back = ckpt_get_uv_max(s->r, b->n_used, "nfa: run node");
    int64_t d_start = ckpt_get_sv(s->r);
    int64_t d_prev = ckpt_get_sv(s->r);
    int64_t d_seq = ckpt_get_sv(s->r);
    if (s->r->err)
        return false;
    uint8_t kind = p->states[state].kind;
    /* Live runs never sit in a final or stop state; held matches never in
     * a stop state (they may wait in a pending or proceed-to-final one). */
    if (kind == NFA_ST_STOP || (live && kind == NFA_ST_FINAL))
        return entry_fail(s, "nfa: run in an impossible state");
    const struct evt *first = NULL, *last = NULL;
    out->state = (uint32_t)state;
    out->node = back ? b->n_used - (uint32_t)back : NFA_NONE;
    if (out->node != NFA_NONE) {
        last = b->nodes[out->node].ev;
        first = b->nodes[s->root[out->node]].ev;
    }
    out->start_ts = wrap_add(first ? first->time : 0, d_start);
    out->prev_ts = wrap_add(last ? last->time : 0, d_prev);
    out->start_seq = (uint64_t)wrap_add(first ? (int64_t)first->seq : 0, d_seq);
    nfa_buf_lock(b, out->node);
    return true;
}

/* Runs and held matches are sorted by their first event. */
static bool in_order(const struct nfa_run *a, const struct nfa_run *b)
{
    if (a->start_ts != b->start_ts)
        return a->start_ts < b->start_ts;
    return a->start_seq <= b->start_seq;
}

/* Read a record written by nfa_key_save into k, which must be fresh from
 * nfa_key_new (or reset) for a program compiled from the same pattern.
 * Events come from t (each made once per table) and the key keeps its own
 * references.  Everything is checked against the program and against what
 * is left in r: CEP_ERR with r->err set, and k left as new, on any
 * malformed record; CEP_OK otherwise. */
int nfa_key_load(struct nfa_key *k, struct ckpt_r *r, struct ckpt_evtab *t)
{
    if (k->cnt)
        return nfa_cnt_load(k, r, t);
    CEP_ASSERT(nfa_key_idle(k) && k->buf.n_live == 0);
    struct snap_r s = {.r = r, .t = t, .k = k, .root = NULL, .cap_root = 0};
    nfa_buf_fini(&k->buf);
    uint8_t version = ckpt_get_u8(r);
    int64_t now = ckpt_get_sv(r);
    uint64_t left = (uint64_t)(r->end - r->p) / NFA_SNAP_MIN_ENTRY;
    uint64_t n_runs = ckpt_get_uv_max(r, left, "nfa: run count");
    uint64_t n_done = ckpt_get_uv_max(r, left - n_runs, "nfa: held match count");
    if (!r->err && version != NFA_SNAP_VERSION)
        ckpt_r_fail(r, "nfa: unknown record version");
    if (r->err)
        goto fail;
    nfa_runs_reserve(k, (size_t)n_runs);
    CEP_GROW(k->done, k->cap_done, (size_t)n_done);
    for (uint64_t i = 0; i < n_runs; i++) {
        if (!load_entry(&s, &k->runs[i], true))
            goto fail;
        k->n_runs++;
        if (i && !in_order(&k->runs[i - 1], &k->runs[i])) {
            ckpt_r_fail(r, "nfa: runs out of order");
            goto fail;
        }
    }
    for (uint64_t i = 0; i < n_done; i++) {
        if (!load_entry(&s, &k->done[i], false))
            goto fail;
        k->n_done++;
        if (i && !in_order(&k->done[i - 1], &k->done[i])) {
            ckpt_r_fail(r, "nfa: held matches out of order");
            goto fail;
        }
    }
    /* Drop the creation references, newest node first, so a node is
     * released only after all its children: what remains is referenced. */
    uint32_t n_nodes = k->buf.n_used;
    for (uint32_t i = n_nodes; i-- > 0;)
        nfa_buf_release(&k->buf, i);
    if (k->buf.n_live != n_nodes) {
        ckpt_r_fail(r, "nfa: unreferenced buffer node");
        goto fail;
    }
    k->now = now;
    cep_free(s.root);
    return CEP_OK;

fail:
    /* The buffer holds every event reference the record gave the key. */
    nfa_buf_fini(&k->buf);
    k->n_runs = 0;
    k->n_done = 0;
    k->now = CEP_TIME_MIN;
    cep_free(s.root);
    return CEP_ERR;
}
