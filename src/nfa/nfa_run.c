/* SPDX-License-Identifier: Apache-2.0
 * Per-key runtime with FlinkCEP's NFA semantics: a list of computation
 * states ("runs") over the key's shared buffer.  Per event every run
 * follows the decision graph of its state (proceed edges are epsilon
 * moves, explored with an explicit stack), forks on every take / ignore
 * edge whose condition holds, dies on a stop state (taking its siblings of
 * that event with it), and completes in a final state.  Completed matches
 * go through the after-match skip strategy: released in order of their
 * first event, held back behind earlier-started live runs, pruning by the
 * strategy's pruning event.  Time is pushed in through nfa_key_advance.
 * Invariant: key->runs is sorted by (first event time, first event seq);
 * the start state's run is implicit (it always exists and never expires).
 * The working arrays live in the caller's nfa_work (one per thread, lent
 * to each key for one call) and are reused: no malloc per event once they
 * have grown, and no per-key scratch to miss in cache.  Single-threaded
 * per key.
 * Tested by: tests/unit/check_nfa.c, tests/flink/, tests/ref/ */
#include "cepd/cep_common.h"
#include "cepd/nfa.h"

#include <string.h>

#include "nfa_int.h"

static const struct expr_pat_ops nfa_pat_ops;

/* ---- ordering ------------------------------------------------------ */

static int key_cmp(int64_t ta, uint64_t sa, int64_t tb, uint64_t sb)
{
    if (ta != tb)
        return ta < tb ? -1 : 1;
    if (sa != sb)
        return sa < sb ? -1 : 1;
    return 0;
}

static int run_cmp(const struct nfa_run *a, const struct nfa_run *b)
{
    return key_cmp(a->start_ts, a->start_seq, b->start_ts, b->start_seq);
}

static int ev_cmp(const struct evt *a, const struct evt *b)
{
    return key_cmp(a->time, a->seq, b->time, b->seq);
}

/* Events of the path ending at node into out[0..depth), oldest first. */
static uint32_t path_fill(const struct nfa_key *k, uint32_t node, struct evt **out, int *steps)
{
    if (node == NFA_NONE)
        return 0;
    uint32_t n = k->buf.nodes[node].depth;
    uint32_t i = n;
    while (node != NFA_NONE) {
        const struct nfa_node *nd = &k->buf.nodes[node];
        i--;
        out[i] = nd->ev;
        if (steps)
            steps[i] = nd->step;
        node = nd->parent;
    }
    return n;
}

static void grow_m(struct nfa_key *k, uint32_t node)
{
    size_t need = node == NFA_NONE ? 1 : k->buf.nodes[node].depth;
    if (k->w->cap_m < need) {
        size_t cap = k->w->cap_m;
        CEP_GROW(k->w->m_ev, k->w->cap_m, need);
        CEP_GROW(k->w->m_step, cap, need);
    }
}

/* Release order of completed matches: by first event, then (FlinkCEP
 * leaves ties to its queue; the corpus expects the match built from the
 * earliest events first) lexicographically by their events. */
static int match_cmp(struct nfa_key *k, const struct nfa_run *a, const struct nfa_run *b)
{
    int c = run_cmp(a, b);
    if (c)
        return c;
    grow_m(k, a->node);
    size_t need = b->node == NFA_NONE ? 1 : k->buf.nodes[b->node].depth;
    CEP_GROW(k->w->c_ev, k->w->cap_c, need);
    uint32_t na = path_fill(k, a->node, k->w->m_ev, NULL);
    uint32_t nb = path_fill(k, b->node, k->w->c_ev, NULL);
    for (uint32_t i = 0; i < na && i < nb; i++) {
        c = ev_cmp(k->w->m_ev[i], k->w->c_ev[i]);
        if (c)
            return c;
    }
    return na < nb ? -1 : na > nb ? 1 : 0;
}

/* ---- condition context --------------------------------------------- */

void nfa_ctx_set(struct nfa_key *k, uint32_t node)
{
    k->w->ctx_node = node;
    k->w->ctx_ready = false;
    if (++k->w->gen == 0) {
        memset(k->w->memo_gen, 0, k->w->cap_memo * sizeof(*k->w->memo_gen));
        k->w->gen = 1;
    }
}

/* Group the run's events by step (counting sort), once per run and event,
 * and only when a condition asks for them. */
static void ctx_materialize(struct nfa_key *k)
{
    size_t n_idx = k->p->n_indexes;
    CEP_GROW(k->w->ctx_off, k->w->cap_ctx_off, n_idx + 1);
    memset(k->w->ctx_off, 0, (n_idx + 1) * sizeof(*k->w->ctx_off));
    k->w->ctx_ready = true;
    if (k->w->ctx_node == NFA_NONE)
        return;
    uint32_t n = k->buf.nodes[k->w->ctx_node].depth;
    CEP_GROW(k->w->ctx_ev, k->w->cap_ctx, n);
    for (uint32_t id = k->w->ctx_node; id != NFA_NONE; id = k->buf.nodes[id].parent) {
        int32_t s = k->buf.nodes[id].step;
        if (s >= 0 && (size_t)s < n_idx)
            k->w->ctx_off[s + 1]++;
    }
    for (size_t i = 0; i < n_idx; i++)
        k->w->ctx_off[i + 1] += k->w->ctx_off[i];
    uint32_t total = k->w->ctx_off[n_idx];
    /* Fill from the newest event backwards: ctx_off[s + 1] counts down from
     * the end of slice s to its start. */
    for (uint32_t id = k->w->ctx_node; id != NFA_NONE; id = k->buf.nodes[id].parent) {
        int32_t s = k->buf.nodes[id].step;
        if (s >= 0 && (size_t)s < n_idx)
            k->w->ctx_ev[--k->w->ctx_off[s + 1]] = k->buf.nodes[id].ev;
    }
    /* Now ctx_off[s + 1] is the start of slice s: shift into place. */
    for (size_t i = 0; i < n_idx; i++)
        k->w->ctx_off[i] = k->w->ctx_off[i + 1];
    k->w->ctx_off[n_idx] = total;
}

static uint32_t pat_count(void *ud, int step)
{
    struct nfa_key *k = ud;
    if (step < 0 || (size_t)step >= k->p->n_indexes)
        return 0;
    if (!k->w->ctx_ready)
        ctx_materialize(k);
    return k->w->ctx_off[step + 1] - k->w->ctx_off[step];
}

static const struct evt *pat_event(void *ud, int step, int64_t i)
{
    struct nfa_key *k = ud;
    uint32_t n = pat_count(ud, step);
    if (i < 0)
        i += n;
    if (i < 0 || i >= (int64_t)n)
        return NULL;
    return k->w->ctx_ev[k->w->ctx_off[step] + (uint32_t)i];
}

static const struct expr_pat_ops nfa_pat_ops = {pat_count, pat_event};

/* Condition f on ev as the VM would decide it, when it can be decided
 * without the VM (see struct nfa_fast): true if *res holds the answer. */
static inline __attribute__((always_inline)) bool fast_eval(const struct nfa_fast *f,
                                                             const struct evt *ev, bool *res)
{
    if (f->slot < 0)
        return false;
    if ((uint32_t)f->slot >= ev->n_slots || ev->slots[f->slot].type == VAL_NULL) {
        *res = false; /* null compares neither equal nor unequal */
        return true;
    }
    const struct val *v = &ev->slots[f->slot], *c = &f->c;
    if (v->type != c->type)
        return false; /* the VM counts a mismatch, or compares numbers */
    bool eq;
    if (v->type == VAL_STR)
        eq = v->len == c->len && cep_bytes_eq(v->u.s, c->u.s, c->len);
    else
        eq = v->u.i == c->u.i;
    *res = eq != f->ne;
    return true;
}

bool nfa_prog_may_start(const struct nfa_prog *p, const struct evt *ev)
{
    if (!p->start_fast)
        return true;
    /* The start run's decision graph (run_step): every edge's condition
     * is evaluated, and only a take edge starts a run. */
    const struct nfa_state *st = &p->states[p->start];
    bool may = false;
    for (uint32_t i = 0; i < st->n_edges; i++) {
        const struct nfa_edge *e = &p->edges[st->first_edge + i];
        bool r = true;
        if (e->cond_len && !fast_eval(&p->fast[e->expr], ev, &r))
            return true; /* the VM would decide it (and maybe count) */
        if (e->action == NFA_ACT_TAKE && r == (e->cond_len != 2))
            may = true;
    }
    return may;
}

bool nfa_prog_inert(const struct nfa_prog *p, const struct evt *ev)
{
    if (!p->inert_fast)
        return false;
    for (uint32_t i = 0; i < p->n_exprs; i++) {
        bool r;
        if (!fast_eval(&p->fast[i], ev, &r) || r)
            return false;
    }
    return true;
}

/* nfa_expr_true by the VM, memoized. */
static bool expr_true_vm(struct nfa_key *k, uint16_t idx)
{
    bool r;
    if (k->w->memo_gen[idx] == k->w->gen)
        return k->w->memo_val[idx];
    struct expr_ctx ctx = {
        .ev = k->w->ev,
        .pat = &nfa_pat_ops,
        .pat_ud = k,
        .counters = k->w->env->counters,
        .rt = k->w->env->rt,
    };
    r = expr_eval_bool(k->p->exprs[idx], &ctx);
    k->w->memo_gen[idx] = k->w->gen;
    k->w->memo_val[idx] = r;
    return r;
}

static inline __attribute__((always_inline)) bool expr_true(struct nfa_key *k, uint16_t idx)
{
    bool r;
    if (fast_eval(&k->p->fast[idx], k->w->ev, &r))
        return r; /* cheaper than the memo */
    return expr_true_vm(k, idx);
}

bool nfa_expr_true(struct nfa_key *k, uint16_t idx)
{
    return expr_true(k, idx);
}

static inline __attribute__((always_inline)) bool expr_true_cb(void *k, uint16_t idx)
{
    return expr_true(k, idx);
}

/* Whether edge e's condition holds (inlined: every run tests its state's
 * edges on every event). */
static inline __attribute__((always_inline)) bool edge_ok(struct nfa_key *k,
                                                          const struct nfa_edge *e)
{
    if (e->cond_len == 0)
        return true;
    /* The usual shapes: a step's condition, and its negation (ignore). */
    if (e->expr >= 0)
        return expr_true(k, (uint16_t)e->expr) == (e->cond_len == 1);
    return nfa_cond_eval(&k->p->code[e->cond_off], e->cond_len, expr_true_cb, k);
}

/* ---- runs ---------------------------------------------------------- */

static void push_run(struct nfa_run **arr, size_t *n, size_t *cap, const struct nfa_run *r)
{
    CEP_GROW(*arr, *cap, *n + 1);
    (*arr)[(*n)++] = *r;
}

static void stack_push(struct nfa_key *k, size_t *n, uint32_t v)
{
    CEP_GROW(k->w->stack, k->w->cap_stack, *n + 1);
    k->w->stack[(*n)++] = v;
}

/* True if a chain of proceed edges whose conditions hold leads from state
 * to a final state (FlinkCEP findFinalStateAfterProceed).  The context is
 * still the run before the take. */
bool nfa_final_after_proceed(struct nfa_key *k, uint32_t state)
{
    const struct nfa_prog *p = k->p;
    size_t n = 0, budget = nfa_proceed_budget(p);
    stack_push(k, &n, state);
    while (n) {
        uint32_t s = k->w->stack[--n];
        const struct nfa_state *st = &p->states[s];
        for (uint32_t i = 0; i < st->n_edges; i++) {
            const struct nfa_edge *e = &p->edges[st->first_edge + i];
            if (e->action != NFA_ACT_PROCEED || !edge_ok(k, e))
                continue;
            if (p->states[e->target].kind == NFA_ST_FINAL)
                return true;
            if (budget) {
                budget--;
                stack_push(k, &n, e->target);
            }
        }
    }
    return false;
}

size_t nfa_decision_edges(struct nfa_key *k, uint32_t state, bool takes_only)
{
    const struct nfa_prog *p = k->p;
    size_t n_out = 0, n = 0, budget = nfa_proceed_budget(p);
    stack_push(k, &n, state);
    while (n) {
        const struct nfa_state *st = &p->states[k->w->stack[--n]];
        for (uint32_t i = 0; i < st->n_edges; i++) {
            uint32_t eid = st->first_edge + i;
            const struct nfa_edge *e = &p->edges[eid];
            if (!edge_ok(k, e))
                continue;
            if (e->action == NFA_ACT_PROCEED) {
                if (budget) {
                    budget--;
                    stack_push(k, &n, e->target);
                }
            } else if (e->action == NFA_ACT_TAKE || !takes_only) {
                CEP_GROW(k->w->out, k->w->cap_out, n_out + 1);
                k->w->out[n_out++] = eid;
            }
        }
    }
    return n_out;
}

/* Follow run r over event ev (FlinkCEP computeNextStates plus the stop /
 * final classification of doProcess).  Surviving runs are appended to
 * k->w->next, completed ones to k->w->pot.  Releases r's reference on its node
 * (the caller drops r). */
static void run_step(struct nfa_key *k, const struct nfa_run *r, bool is_start)
{
    const struct nfa_prog *p = k->p;
    struct evt *ev = k->w->ev;
    nfa_ctx_set(k, r->node);

    /* Decision graph: take / ignore edges reachable through proceeds. */
    size_t n_out = nfa_decision_edges(k, r->state, false);

    size_t keep_from = k->w->n_next;
    bool discard = false;
    /* r's reference on its node goes to the first run that continues it
     * (a run that ignores the event, the usual case), so its node is not
     * touched for a lock and a release that cancel out. */
    bool r_ref = !is_start;
    for (size_t i = 0; i < n_out; i++) {
        const struct nfa_edge *e = &p->edges[k->w->out[i]];
        uint8_t tkind = p->states[e->target].kind;
        if (tkind == NFA_ST_STOP) {
            discard = true;
            continue;
        }
        struct nfa_run nr;
        if (e->action == NFA_ACT_IGNORE) {
            if (is_start)
                continue;
            nr = *r;
            nr.state = e->target;
            if (r_ref)
                r_ref = false;
            else
                nfa_buf_lock(&k->buf, nr.node);
            if (tkind == NFA_ST_FINAL)
                push_run(&k->w->pot, &k->w->n_pot, &k->w->cap_pot, &nr);
            else
                push_run(&k->w->next, &k->w->n_next, &k->w->cap_next, &nr);
            continue;
        }
        uint32_t node = nfa_buf_put(&k->buf, ev, p->states[e->source].step, r->node);
        nr.state = e->target;
        nr.node = node;
        nr.prev_ts = ev->time;
        if (is_start) {
            nr.start_ts = ev->time;
            nr.start_seq = ev->seq;
        } else {
            nr.start_ts = r->start_ts;
            nr.start_seq = r->start_seq;
        }
        /* the new node's reference goes to nr */
        if (tkind == NFA_ST_FINAL)
            push_run(&k->w->pot, &k->w->n_pot, &k->w->cap_pot, &nr);
        else
            push_run(&k->w->next, &k->w->n_next, &k->w->cap_next, &nr);
        if (tkind != NFA_ST_FINAL && nfa_final_after_proceed(k, e->target)) {
            nfa_buf_lock(&k->buf, node);
            push_run(&k->w->pot, &k->w->n_pot, &k->w->cap_pot, &nr);
        }
    }
    /* A negation fired: every other branch of this run dies with it (the
     * start state itself always survives). */
    if (discard) {
        for (size_t i = keep_from; i < k->w->n_next; i++)
            nfa_buf_release(&k->buf, k->w->next[i].node);
        k->w->n_next = keep_from;
    }
    if (r_ref)
        nfa_buf_release(&k->buf, r->node);
}

/* ---- matches and skip strategies ----------------------------------- */

static void emit(struct nfa_key *k, const struct nfa_run *m, const struct nfa_env *env,
                 bool timeout, int64_t ts)
{
    grow_m(k, m->node);
    struct nfa_match out;
    out.n = path_fill(k, m->node, k->w->m_ev, k->w->m_step);
    out.events = k->w->m_ev;
    out.steps = k->w->m_step;
    if (timeout)
        env->on_timeout(env->ud, &out, ts);
    else if (env->on_match)
        env->on_match(env->ud, &out);
}

/* The pruning event of match m under the program's strategy, or NULL. */
static const struct evt *pruning_event(struct nfa_key *k, const struct nfa_run *m)
{
    const struct nfa_prog *p = k->p;
    const struct evt *best = NULL;
    for (uint32_t id = m->node; id != NFA_NONE; id = k->buf.nodes[id].parent) {
        const struct nfa_node *nd = &k->buf.nodes[id];
        switch (p->skip) {
            case NFA_SKIP_TO_NEXT:
                if (!best || ev_cmp(nd->ev, best) < 0)
                    best = nd->ev;
                break;
            case NFA_SKIP_PAST_LAST_EVENT:
                if (!best || ev_cmp(nd->ev, best) > 0)
                    best = nd->ev;
                break;
            case NFA_SKIP_TO_FIRST:
                /* walking newest to oldest: the last one seen is the first */
                if (nd->step == p->skip_step)
                    best = nd->ev;
                break;
            case NFA_SKIP_TO_LAST:
                if (nd->step == p->skip_step && !best)
                    best = nd->ev;
                break;
            default:
                return NULL;
        }
    }
    return best;
}

static bool should_prune(const struct nfa_prog *p, const struct nfa_run *r, const struct evt *pe)
{
    int c = key_cmp(r->start_ts, r->start_seq, pe->time, pe->seq);
    if (p->skip == NFA_SKIP_TO_FIRST || p->skip == NFA_SKIP_TO_LAST)
        return c < 0;
    return c <= 0;
}

static void prune(struct nfa_key *k, struct nfa_run *arr, size_t *n, const struct evt *pe)
{
    size_t j = 0;
    for (size_t i = 0; i < *n; i++) {
        if (should_prune(k->p, &arr[i], pe))
            nfa_buf_release(&k->buf, arr[i].node);
        else
            arr[j++] = arr[i];
    }
    *n = j;
}

/* FlinkCEP processMatchesAccordingToSkipStrategy: k->w->pot joins the
 * completed matches; release them in order while no earlier-started run
 * is alive (any order and no hold-back under NO_SKIP). */
static void release_matches(struct nfa_key *k, const struct nfa_env *env)
{
    const struct nfa_prog *p = k->p;
    if (p->skip == NFA_SKIP_NO_SKIP) {
        for (size_t i = 0; i < k->w->n_pot; i++) {
            emit(k, &k->w->pot[i], env, false, 0);
            nfa_buf_release(&k->buf, k->w->pot[i].node);
        }
        k->w->n_pot = 0;
        return;
    }
    for (size_t i = 0; i < k->w->n_pot; i++) {
        /* insertion into the sorted list of completed matches */
        size_t at = k->n_done;
        while (at > 0 && match_cmp(k, &k->w->pot[i], &k->done[at - 1]) < 0)
            at--;
        CEP_GROW(k->done, k->cap_done, k->n_done + 1);
        memmove(&k->done[at + 1], &k->done[at], (k->n_done - at) * sizeof(*k->done));
        k->done[at] = k->w->pot[i];
        k->n_done++;
    }
    k->w->n_pot = 0;
    while (k->n_done) {
        struct nfa_run m = k->done[0];
        if (k->n_runs && run_cmp(&m, &k->runs[0]) > 0)
            break;
        memmove(&k->done[0], &k->done[1], (k->n_done - 1) * sizeof(*k->done));
        k->n_done--;
        const struct evt *pe = pruning_event(k, &m);
        if (pe) {
            prune(k, k->runs, &k->n_runs, pe);
            prune(k, k->done, &k->n_done, pe);
        }
        emit(k, &m, env, false, 0);
        nfa_buf_release(&k->buf, m.node);
    }
}

/* ---- public API ---------------------------------------------------- */

/* A key with only its start state.  Owned; free with nfa_key_free. */
struct nfa_key *nfa_key_new(const struct nfa_prog *p)
{
    struct nfa_key *k = cep_calloc(1, sizeof(*k));
    k->p = p;
    nfa_buf_init(&k->buf);
    k->now = CEP_TIME_MIN;
    k->runs = k->run_in;
    k->cap_runs = NFA_RUNS_INLINE;
    if (p->counting)
        k->cnt = nfa_cnt_new(p);
    return k;
}

/* Free a key and drop every event reference it holds (NULL: no-op). */
void nfa_key_free(struct nfa_key *k)
{
    if (!k)
        return;
    nfa_buf_fini(&k->buf);
    if (k->runs != k->run_in)
        cep_free(k->runs);
    cep_free(k->done);
    nfa_cnt_free(k->cnt);
    cep_free(k);
}

void nfa_runs_reserve(struct nfa_key *k, size_t n)
{
    if (n <= k->cap_runs)
        return;
    if (k->runs != k->run_in) {
        CEP_GROW(k->runs, k->cap_runs, n);
        return;
    }
    struct nfa_run *r = NULL;
    size_t cap = 0;
    CEP_GROW(r, cap, n);
    memcpy(r, k->run_in, k->n_runs * sizeof(*r));
    k->runs = r;
    k->cap_runs = cap;
}

struct nfa_work *nfa_work_new(void)
{
    return cep_calloc(1, sizeof(struct nfa_work));
}

void nfa_work_free(struct nfa_work *w)
{
    if (!w)
        return;
    cep_free(w->next);
    cep_free(w->pot);
    cep_free(w->stack);
    cep_free(w->out);
    cep_free(w->ctx_ev);
    cep_free(w->ctx_off);
    cep_free(w->memo_gen);
    cep_free(w->memo_val);
    cep_free(w->m_ev);
    cep_free(w->m_step);
    cep_free(w->c_ev);
    cep_free(w);
}

/* Lend the caller's working state to k for this call, its memo grown to
 * k's program (the new entries are zero: no generation yet). */
static void work_bind(struct nfa_key *k, const struct nfa_env *env)
{
    struct nfa_work *w = env->work;
    const struct nfa_prog *p = k->p;
    k->w = w;
    w->env = env;
    if (w->cap_memo < p->n_exprs) {
        size_t cap = w->cap_memo, old = w->cap_memo;
        CEP_GROW(w->memo_gen, w->cap_memo, p->n_exprs);
        CEP_GROW(w->memo_val, cap, p->n_exprs);
        memset(w->memo_gen + old, 0, (w->cap_memo - old) * sizeof(*w->memo_gen));
    }
}

/* now - t >= w, without overflow. */
static bool elapsed(int64_t now, int64_t t, int64_t w)
{
    int64_t d;
    if (__builtin_sub_overflow(now, t, &d))
        return now > t;
    return d >= w;
}

static int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? CEP_TIME_MAX : CEP_TIME_MIN;
    return r;
}

/* FlinkCEP advanceTime: expire runs past their window (timeouts reported
 * per run), turn pending runs past their window into matches, and release
 * held-back matches.  A now smaller than the key's time is ignored. */
void nfa_key_advance(struct nfa_key *k, int64_t now, const struct nfa_env *env)
{
    const struct nfa_prog *p = k->p;
    if (k->cnt) {
        nfa_cnt_advance(k, now);
        return;
    }
    if (now < k->now)
        return;
    k->now = now;
    if (!k->n_runs && !k->n_done)
        return;
    work_bind(k, env);
    if (p->within > 0 || p->has_pc) {
        size_t j = 0;
        for (size_t i = 0; i < k->n_runs; i++) {
            struct nfa_run *r = &k->runs[i];
            const struct nfa_state *st = &p->states[r->state];
            bool by_prev = st->pc_within > 0 && elapsed(now, r->prev_ts, st->pc_within);
            bool by_first = p->within > 0 && elapsed(now, r->start_ts, p->within);
            if (!by_prev && !by_first) {
                k->runs[j++] = *r;
                continue;
            }
            if (st->kind == NFA_ST_PENDING) {
                push_run(&k->w->pot, &k->w->n_pot, &k->w->cap_pot, r);
                continue;
            }
            if (env->on_timeout) {
                int64_t ts = by_prev ? r->prev_ts + st->pc_within : r->start_ts + p->within;
                emit(k, r, env, true, ts);
            }
            nfa_buf_release(&k->buf, r->node);
        }
        k->n_runs = j;
    }
    release_matches(k, env);
}

/* Restore the start order after the start state's new runs were appended
 * (only needed when event time went backwards). */
static void resort_tail(struct nfa_key *k, size_t from)
{
    for (size_t i = from; i < k->n_runs; i++) {
        struct nfa_run r = k->runs[i];
        size_t at = i;
        while (at > 0 && run_cmp(&r, &k->runs[at - 1]) < 0)
            at--;
        if (at != i) {
            memmove(&k->runs[at + 1], &k->runs[at], (i - at) * sizeof(*k->runs));
            k->runs[at] = r;
        }
    }
}

/* FlinkCEP process: every run (and the start state) reacts to ev; the
 * runs over the max_partial cap are dropped oldest-first and counted;
 * completed matches are released through the skip strategy.  Takes
 * references on ev for every buffer node that keeps it. */
void nfa_key_process(struct nfa_key *k, struct evt *ev, const struct nfa_env *env)
{
    work_bind(k, env);
    if (k->cnt) {
        nfa_cnt_process(k, ev, env);
        return;
    }
    struct nfa_work *w = k->w;
    w->ev = ev;
    w->n_next = 0;
    for (size_t i = 0; i < k->n_runs; i++)
        run_step(k, &k->runs[i], false);
    size_t from_start = w->n_next;
    struct nfa_run start = {k->p->start, NFA_NONE, 0, 0, 0};
    run_step(k, &start, true);

    /* The new runs into the key (a copy: the working arrays are shared). */
    nfa_runs_reserve(k, w->n_next);
    if (w->n_next)
        memcpy(k->runs, w->next, w->n_next * sizeof(*k->runs));
    k->n_runs = w->n_next;
    w->n_next = 0;
    if (from_start > 0 && from_start < k->n_runs &&
        run_cmp(&k->runs[from_start], &k->runs[from_start - 1]) < 0)
        resort_tail(k, from_start);

    uint32_t cap = env->max_partial ? env->max_partial : 10000;
    if (k->n_runs > cap) {
        size_t drop = k->n_runs - cap;
        for (size_t i = 0; i < drop; i++)
            nfa_buf_release(&k->buf, k->runs[i].node);
        memmove(&k->runs[0], &k->runs[drop], cap * sizeof(*k->runs));
        k->n_runs = cap;
        if (env->evicted)
            *env->evicted += drop;
    }
    release_matches(k, env);
    w->ev = NULL;
}

/* Earliest time at which nfa_key_advance would expire or emit something. */
int64_t nfa_key_deadline(const struct nfa_key *k)
{
    const struct nfa_prog *p = k->p;
    int64_t best = CEP_TIME_MAX;
    if (k->cnt)
        return nfa_cnt_deadline(k);
    if (p->within <= 0 && !p->has_pc)
        return best;
    for (size_t i = 0; i < k->n_runs; i++) {
        const struct nfa_run *r = &k->runs[i];
        int64_t pc = p->states[r->state].pc_within;
        if (p->within > 0) {
            int64_t t = sat_add(r->start_ts, p->within);
            if (t < best)
                best = t;
        }
        if (pc > 0) {
            int64_t t = sat_add(r->prev_ts, pc);
            if (t < best)
                best = t;
        }
    }
    return best;
}

void nfa_key_reset(struct nfa_key *k)
{
    CEP_ASSERT(nfa_key_idle(k));
    CEP_DASSERT(k->buf.n_live == 0);
    k->now = CEP_TIME_MIN;
    if (k->cnt)
        nfa_cnt_reset(k->cnt);
}

bool nfa_key_idle(const struct nfa_key *k)
{
    if (k->cnt)
        return nfa_cnt_idle(k);
    return k->n_runs == 0 && k->n_done == 0;
}

size_t nfa_key_n_partial(const struct nfa_key *k)
{
    if (k->cnt)
        return nfa_cnt_n_partial(k);
    return k->n_runs;
}

void nfa_key_rebind(struct nfa_key *k, const struct nfa_prog *p)
{
    CEP_ASSERT(p->n_exprs == k->p->n_exprs && p->n_indexes == k->p->n_indexes &&
               p->n_states == k->p->n_states && p->counting == k->p->counting);
    k->p = p;
}

void nfa_key_each_event(const struct nfa_key *k, void (*fn)(void *ud, struct evt *ev), void *ud)
{
    if (k->cnt) {
        nfa_cnt_each_event(k, fn, ud);
        return;
    }
    for (uint32_t i = 0; i < k->buf.n_used; i++)
        if (k->buf.nodes[i].refcnt)
            fn(ud, k->buf.nodes[i].ev);
}

/* Bytes held: the key, its arrays, the buffer nodes, and the events they
 * reference (counted once per node, so an upper bound when several nodes
 * hold the same event). */
size_t nfa_key_bytes(const struct nfa_key *k)
{
    size_t b = sizeof(*k);
    b += ((k->runs != k->run_in ? k->cap_runs : 0) + k->cap_done) * sizeof(struct nfa_run);
    b += k->buf.cap * sizeof(struct nfa_node) + k->buf.ev_bytes;
    if (k->cnt)
        b += nfa_cnt_bytes(k);
    return b;
}
