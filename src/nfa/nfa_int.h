/* SPDX-License-Identifier: Apache-2.0
 * Private types of the pattern matcher: the flat state table the compiler
 * builds (states, edges, postfix edge conditions), the per-key shared event
 * buffer (refcounted nodes, each naming its parent, so forked runs share
 * their common prefix) and the computation states ("runs").  Invariant: a
 * buffer node's refcount is the number of runs, completed matches and child
 * nodes that point at it; it holds one reference on its event.  A key of
 * a counting program (emit TALLY) keeps its whole state in cnt instead
 * (nfa_count.c); its runs, buffer and match arrays stay empty.
 * Tested by: tests/unit/check_nfa.c, tests/unit/check_nfa_snap.c,
 * tests/unit/check_nfa_count.c */
#ifndef CEPD_NFA_INT_H
#define CEPD_NFA_INT_H

#include "cepd/cep_common.h"
#include "cepd/nfa.h"

/* Kinds of states (FlinkCEP State.StateType). */
enum nfa_state_kind {
    NFA_ST_NORMAL = 0,
    NFA_ST_START,   /* where every run begins; never expires, never ignores */
    NFA_ST_FINAL,   /* a run that gets here is a completed match */
    NFA_ST_STOP,    /* a negation fired: the run and its siblings die */
    NFA_ST_PENDING, /* trailing notFollowedBy: a match once the window passes */
    NFA_ST_COUNT
};

/* Edge actions. */
enum nfa_action {
    NFA_ACT_TAKE = 0, /* consume the event into the edge's source step */
    NFA_ACT_IGNORE,   /* drop the event, move to the target */
    NFA_ACT_PROCEED,  /* epsilon move, evaluated against the same event */
    NFA_ACT_COUNT
};

/* Opcodes of an edge condition, kept in postfix over a bool stack. */
enum nfa_cop {
    NFA_COP_TRUE = 0,
    NFA_COP_EXPR, /* push expr_eval_bool(prog->exprs[arg]) (memoized per run and event) */
    NFA_COP_NOT,
    NFA_COP_AND,
    NFA_COP_COUNT
};

#define NFA_COND_STACK 32 /* deepest condition the compiler builds is far below */
#define NFA_NONE UINT32_MAX

struct nfa_cins {
    uint16_t op;
    uint16_t arg;
};

/* Run a condition's postfix code, expr(ud, i) giving expression i's value
 * (inlined into the run's edge test and the compiler's analysis). */
static inline __attribute__((always_inline)) bool
nfa_cond_eval(const struct nfa_cins *code, uint32_t len, bool (*expr)(void *ud, uint16_t idx),
              void *ud)
{
    bool stk[NFA_COND_STACK];
    int sp = 0;
    for (uint32_t i = 0; i < len; i++) {
        switch (code[i].op) {
            case NFA_COP_TRUE:
                stk[sp++] = true;
                break;
            case NFA_COP_EXPR:
                stk[sp++] = expr(ud, code[i].arg);
                break;
            case NFA_COP_NOT:
                stk[sp - 1] = !stk[sp - 1];
                break;
            default:
                sp--;
                stk[sp - 1] = stk[sp - 1] && stk[sp];
                break;
        }
    }
    return stk[0];
}

struct nfa_edge {
    uint8_t action;
    uint32_t source;
    uint32_t target;
    uint32_t cond_off; /* postfix code in prog->code; cond_len 0 = always true */
    uint32_t cond_len;
    /* The condition's expression when the condition is that expression
     * (cond_len 1) or its negation (cond_len 2), the shapes the compiler
     * gives a step's condition and its ignore edges; -1 for no condition
     * or any other (resolved at compile time: every run tests its
     * state's edges on every event). */
    int32_t expr;
};

struct nfa_state {
    uint8_t kind;
    int32_t step;       /* index of the step whose events this state takes, -1 if none */
    uint32_t first_edge;
    uint32_t n_edges;
    int64_t pc_within;  /* PREVIOUS_AND_CURRENT bound for runs waiting here, 0 = none */
    char *name;         /* unique, for DOT */
};

/* A condition decided without the VM for the common values: `field ==
 * const` or `field != const` (either side), const a string or an int, on
 * a field that holds null or a value of the constant's type; other values
 * go through the VM (which counts a type mismatch).  slot < 0: always the
 * VM. */
struct nfa_fast {
    int32_t slot;
    bool ne;
    struct val c; /* into the expression's constants */
};

struct nfa_prog {
    struct nfa_state *states;
    uint32_t n_states;
    struct nfa_edge *edges;
    uint32_t n_edges;
    struct nfa_cins *code;
    uint32_t n_code;
    const struct expr **exprs; /* distinct conditions, by pointer */
    struct nfa_fast *fast;     /* by expression, as exprs */
    char **expr_labels;        /* "STEP" (its when) or "until(STEP)", for DOT */
    uint32_t n_exprs;
    uint32_t start;
    int64_t within;            /* FIRST_AND_LAST, 0 = none */
    bool has_pending;
    bool has_pc;
    enum nfa_skip skip;
    int skip_step;
    size_t n_indexes;
    char **step_names;         /* by step index */
    bool counting;             /* emit TALLY: keys run nfa_count.c */
    /* Counting programs: the states a run can be in (targets of take /
     * ignore edges) are the dimensions 0..cnt_n_dims-1 of a key's vectors;
     * cnt_dim by state (NFA_NONE for the others), cnt_state by dimension. */
    uint32_t cnt_n_dims;
    uint32_t *cnt_dim;
    uint32_t *cnt_state;
    /* The start state has only take and ignore edges, each on no
     * condition or on a VM-free condition (or its negation): the events
     * that cannot start a run can be told without a key (nfa_prog_may_start). */
    bool start_fast;
    /* Every condition is VM-free, and under the valuation that makes
     * each one false every state's run stays as it is (its one edge is
     * an ignore back to itself) and the start state takes nothing: an
     * event on which every condition is decided false changes no key
     * (nfa_prog_inert).  Not for counting programs. */
    bool inert_fast;
};

/* How many proceed edges one walk of a state's decision graph follows at
 * most (nfa_decision_edges, nfa_final_after_proceed, the compiler's
 * analyses): proceed chains may branch and rejoin, or loop (a looping
 * group whose steps are all optional), so the walk is cut there.  A walk
 * therefore visits at most budget + 1 states (prog_why_not_count relies
 * on it). */
static inline size_t nfa_proceed_budget(const struct nfa_prog *p)
{
    return 4 * (size_t)p->n_edges + 16;
}

/* A node of the shared buffer: one event taken by one step, and the node
 * of the event taken before it in the same partial match. */
struct nfa_node {
    struct evt *ev;
    uint32_t parent; /* NFA_NONE at the first event */
    uint32_t refcnt; /* 0 while on the free list */
    int32_t step;
    uint32_t depth;  /* events on the path up to and including this one */
    uint32_t bytes;  /* event bytes accounted to this node */
};

struct nfa_buf {
    struct nfa_node *nodes;
    size_t cap;
    uint32_t n_used;    /* high-water mark of the array */
    uint32_t free_head; /* free list threaded through parent */
    uint32_t n_live;
    size_t ev_bytes;    /* event bytes held, counted once per node */
};

void nfa_buf_init(struct nfa_buf *b);
void nfa_buf_fini(struct nfa_buf *b);
/* A new node for ev (referenced) after parent (referenced); refcnt 1. */
uint32_t nfa_buf_put(struct nfa_buf *b, struct evt *ev, int32_t step, uint32_t parent);
static inline void nfa_buf_lock(struct nfa_buf *b, uint32_t id)
{
    if (id != NFA_NONE)
        b->nodes[id].refcnt++;
}
/* Drop one reference; frees the node, and walks up while parents reach 0. */
void nfa_buf_release(struct nfa_buf *b, uint32_t id);

/* A computation state (FlinkCEP ComputationState). */
struct nfa_run {
    uint32_t state;
    uint32_t node;       /* last taken event, NFA_NONE if none */
    int64_t start_ts;    /* time of the first event */
    int64_t prev_ts;     /* time of the last taken event */
    uint64_t start_seq;  /* seq of the first event (ties in start_ts) */
};

/* Working state of one call of nfa_key_process / nfa_key_advance, shared
 * by every key its caller runs (one per thread): the keys stay small, and
 * these arrays stay in cache across keys instead of being a cache miss
 * per key.  Empty between calls; valid only during one. */
struct nfa_work {
    struct nfa_run *next; /* partial matches being built for the current event */
    size_t n_next, cap_next;
    struct nfa_run *pot;  /* matches completed by the current event or time step */
    size_t n_pot, cap_pot;
    /* decision graph scratch */
    uint32_t *stack;
    size_t cap_stack;
    uint32_t *out;
    size_t cap_out;
    /* condition context: the run being evaluated and the candidate event */
    const struct nfa_env *env;
    struct evt *ev;
    uint32_t ctx_node;
    bool ctx_ready;
    struct evt **ctx_ev;   /* the run's events grouped by step */
    size_t cap_ctx;
    uint32_t *ctx_off;     /* n_indexes + 1 offsets into ctx_ev */
    size_t cap_ctx_off;
    uint32_t *memo_gen;    /* by expression: memo_val is this generation's */
    uint8_t *memo_val;
    size_t cap_memo;
    uint32_t gen;
    /* match output and comparison scratch */
    struct evt **m_ev;
    int *m_step;
    size_t cap_m;
    struct evt **c_ev;
    size_t cap_c;
};

/* The partial matches of one key (nfa_run.c owns the logic; nfa_snap.c
 * saves and loads it).  Between calls the state is now, buf, runs and
 * done; w is the caller's working state during a call only. */
#define NFA_RUNS_INLINE 2 /* runs a key keeps in itself before it allocates */

struct nfa_key {
    /* what every call reads first, together */
    const struct nfa_prog *p;
    struct nfa_work *w;
    struct nfa_cnt *cnt;   /* counting programs: the whole state (nfa_count.c) */
    int64_t now;
    struct nfa_run *runs; /* partial matches, sorted by start; run_in or owned */
    size_t n_runs, cap_runs;
    struct nfa_run *done; /* completed matches not released yet, in release order */
    size_t n_done, cap_done;
    struct nfa_buf buf;
    /* The usual few runs, in the cache lines the key's first touch loads
     * anyway instead of an allocation of their own (a miss per event). */
    struct nfa_run run_in[NFA_RUNS_INLINE];
};

/* Room for n runs in k->runs (keeping the first n_runs). */
void nfa_runs_reserve(struct nfa_key *k, size_t n);

/* Counting keys (nfa_count.c; nfa_run.c's public functions hand over). */
void nfa_cnt_prog_init(struct nfa_prog *p);
struct nfa_cnt *nfa_cnt_new(const struct nfa_prog *p);
void nfa_cnt_free(struct nfa_cnt *c);
void nfa_cnt_reset(struct nfa_cnt *c);
bool nfa_cnt_idle(const struct nfa_key *k);
void nfa_cnt_advance(struct nfa_key *k, int64_t now);
void nfa_cnt_process(struct nfa_key *k, struct evt *ev, const struct nfa_env *env);
int64_t nfa_cnt_deadline(const struct nfa_key *k);
size_t nfa_cnt_n_partial(const struct nfa_key *k);
size_t nfa_cnt_bytes(const struct nfa_key *k);
void nfa_cnt_each_event(const struct nfa_key *k, void (*fn)(void *ud, struct evt *ev), void *ud);
void nfa_cnt_save(const struct nfa_key *k, struct ckpt_w *w, struct ckpt_evtab *t);
int nfa_cnt_load(struct nfa_key *k, struct ckpt_r *r, struct ckpt_evtab *t);
/* Conditions (nfa_run.c, shared with nfa_count.c): evaluate against
 * k->w->ev in the context of the run ending at node (NFA_NONE: an empty
 * run), memoized per expression until the next nfa_ctx_set. */
void nfa_ctx_set(struct nfa_key *k, uint32_t node);
bool nfa_expr_true(struct nfa_key *k, uint16_t idx);
bool nfa_final_after_proceed(struct nfa_key *k, uint32_t state);
/* The decision graph of state on k->w->ev: the take / ignore edges
 * (takes only, when takes_only) reachable through proceed edges whose
 * conditions hold, as edge ids in k->w->out[0..return), once per path
 * (paths past nfa_proceed_budget are cut).  Uses k->w->stack.  Shared by
 * run_step (nfa_run.c) and the counting runner (nfa_count.c). */
size_t nfa_decision_edges(struct nfa_key *k, uint32_t state, bool takes_only);

#endif
