/* SPDX-License-Identifier: Apache-2.0
 * Pattern spec -> state table, following the structure of FlinkCEP's
 * NFACompiler so that the same patterns produce the same automaton: the
 * steps are walked from the last to the first, every step becomes one or
 * more states with take / ignore / proceed edges (times copies, a looping
 * state with its ignore side state, optional bypass edges, stop states for
 * negations, a pending state for a trailing notFollowedBy), groups are
 * compiled in place with their own quantifier.  Edge conditions are small
 * postfix programs over the steps' `when`/`until` expressions.
 * Group nesting is compiled by recursion whose depth is the nesting depth of
 * the rule's groups (bounded by the loader's YAML depth limit); everything
 * that follows chains of states uses explicit worklists.
 * Tested by: tests/unit/check_nfa.c */
#include "cepd/cep_common.h"
#include "nfa_int.h"

#include <string.h>

#include "cepd/sbuf.h"

/* A condition under construction: code[off..off+len) in the pool; present
 * false is FlinkCEP's null condition (no edge for an ignore). */
struct ccond {
    uint32_t off;
    uint32_t len;
    bool present;
};

struct cedge {
    uint8_t action;
    uint32_t target;
    struct ccond cond;
};

struct cstate {
    uint8_t kind;
    int32_t step;
    int32_t not_step; /* stop states: index of the negated step */
    int64_t pc_within;
    char *name;
    struct cedge *edges;
    size_t n_edges;
    size_t cap_edges;
};

/* A position in a step sequence (FlinkCEP walks Pattern.getPrevious()). */
struct cpat {
    const struct nfa_step_spec *base;
    size_t i;
};

struct loopflag {
    const struct nfa_step_spec *group;
    bool first;
};

struct namecount {
    const char *name;
    uint32_t n;
};

struct comp {
    const struct nfa_pattern_spec *spec;
    struct cstate *st;
    size_t n_st;
    size_t cap_st;
    uint32_t *orig_map; /* greedy+until: sink state -> its unmodified copy */
    size_t cap_orig;
    struct nfa_cins *code;
    size_t n_code;
    size_t cap_code;
    const struct expr **exprs;
    size_t n_exprs;
    size_t cap_exprs;
    uint32_t *stop_of; /* by negated step index: its stop state, or NFA_NONE */
    struct loopflag *flags;
    size_t n_flags;
    size_t cap_flags;
    struct namecount *names;
    size_t n_names;
    size_t cap_names;
    struct cpat cur;
    struct cpat following; /* base NULL: none */
    const struct nfa_step_spec *group;
};

static const struct nfa_step_spec *pat_step(struct cpat p)
{
    return &p.base[p.i];
}

static bool pat_has_prev(struct cpat p)
{
    return p.i > 0;
}

static struct cpat pat_prev(struct cpat p)
{
    p.i--;
    return p;
}

static bool step_looping(const struct nfa_step_spec *s)
{
    return s->max == NFA_UNBOUNDED;
}

static uint32_t step_from(const struct nfa_step_spec *s)
{
    return s->min == 0 ? 1 : s->min;
}

static bool step_optional(const struct nfa_step_spec *s)
{
    return s->optional || s->min == 0;
}

static bool step_not_next(const struct nfa_step_spec *s)
{
    return s->negated && s->after == NFA_CONTIG_STRICT;
}

static bool step_not_follow(const struct nfa_step_spec *s)
{
    return s->negated && s->after != NFA_CONTIG_STRICT;
}

/* The contiguity of a step to its predecessor; FlinkCEP's begin() is
 * skip-till-next, whatever the spec says about a first step. */
static enum nfa_contig pat_outer(struct cpat p)
{
    return p.i == 0 ? NFA_CONTIG_RELAXED : pat_step(p)->after;
}

/* ---- conditions ---------------------------------------------------- */

static uint32_t code_emit(struct comp *c, uint16_t op, uint16_t arg)
{
    CEP_GROW(c->code, c->cap_code, c->n_code + 1);
    c->code[c->n_code].op = op;
    c->code[c->n_code].arg = arg;
    return (uint32_t)c->n_code++;
}

static struct ccond cond_null(void)
{
    struct ccond r = {0, 0, false};
    return r;
}

static struct ccond cond_true(void)
{
    struct ccond r = {0, 1, true};
    return r; /* off is fixed up: the pool starts with a TRUE instruction */
}

static bool cond_is_true(struct ccond a)
{
    return a.present && a.off == 0 && a.len == 1;
}

/* Condition of an expression (NULL: accept every event). */
static struct ccond cond_expr(struct comp *c, const struct expr *e)
{
    if (!e)
        return cond_true();
    size_t i;
    for (i = 0; i < c->n_exprs; i++) {
        if (c->exprs[i] == e)
            break;
    }
    if (i == c->n_exprs) {
        CEP_GROW(c->exprs, c->cap_exprs, c->n_exprs + 1);
        c->exprs[c->n_exprs++] = e;
    }
    struct ccond r = {code_emit(c, NFA_COP_EXPR, (uint16_t)i), 1, true};
    return r;
}

/* The VM-free form of condition e, if it has the shape (nfa_int.h). */
static void fast_init(struct nfa_fast *f, const struct expr *e)
{
    enum expr_cmp op;
    const struct val *c;
    int slot = expr_cmp_const(e, &op, &c);
    f->slot = -1;
    if (slot < 0 || (op != EXPR_CMP_EQ && op != EXPR_CMP_NE) ||
        (c->type != VAL_STR && c->type != VAL_INT))
        return;
    f->slot = slot;
    f->ne = op == EXPR_CMP_NE;
    f->c = *c;
}

/* See nfa_edge.expr: the condition code[0..len). */
static int32_t edge_expr(const struct nfa_cins *code, uint32_t len)
{
    if (len == 0 || len > 2 || code[0].op != NFA_COP_EXPR ||
        (len == 2 && code[1].op != NFA_COP_NOT))
        return -1;
    return code[0].arg;
}

/* See nfa_prog.start_fast. */
static bool start_is_fast(const struct nfa_prog *p)
{
    const struct nfa_state *st = &p->states[p->start];
    for (uint32_t i = 0; i < st->n_edges; i++) {
        const struct nfa_edge *e = &p->edges[st->first_edge + i];
        if (e->action == NFA_ACT_PROCEED)
            return false;
        if (e->cond_len == 0)
            continue;
        if (e->expr < 0 || p->fast[e->expr].slot < 0)
            return false;
    }
    return true;
}

static bool expr_false(void *ud, uint16_t idx)
{
    (void)ud;
    (void)idx;
    return false;
}

/* Whether a run in state s stays as it is on an event that makes every
 * condition false (for the start state: takes nothing).  The decision
 * graph of run_step (nfa_run.c) under that valuation: the edges reachable
 * through proceeds whose conditions hold. */
static bool state_inert(const struct nfa_prog *p, uint32_t s, uint32_t *stack)
{
    size_t budget = nfa_proceed_budget(p), n = 0, n_ignore = 0;
    bool inert = true;
    stack[n++] = s;
    while (n && inert) {
        const struct nfa_state *st = &p->states[stack[--n]];
        for (uint32_t i = 0; i < st->n_edges && inert; i++) {
            const struct nfa_edge *e = &p->edges[st->first_edge + i];
            if (e->cond_len &&
                !nfa_cond_eval(&p->code[e->cond_off], e->cond_len, expr_false, NULL))
                continue;
            if (e->action == NFA_ACT_PROCEED) {
                if (!budget)
                    inert = false; /* too deep to tell */
                else {
                    budget--;
                    stack[n++] = e->target;
                }
            } else if (e->action == NFA_ACT_TAKE || p->states[e->target].kind == NFA_ST_STOP) {
                inert = false;
            } else if (s != p->start) {
                n_ignore++;
                inert = e->target == s;
            }
        }
    }
    return inert && (s == p->start || n_ignore == 1);
}

/* See nfa_prog.inert_fast. */
static bool prog_is_inert(const struct nfa_prog *p)
{
    if (p->counting)
        return false;
    for (uint32_t i = 0; i < p->n_exprs; i++)
        if (p->fast[i].slot < 0)
            return false;
    /* a walk's stack: at most budget + 1 states */
    uint32_t *stack = cep_malloc((nfa_proceed_budget(p) + 1) * sizeof(*stack));
    bool inert = true;
    for (uint32_t s = 0; s < p->n_states && inert; s++) {
        uint8_t kind = p->states[s].kind;
        inert = kind == NFA_ST_FINAL || kind == NFA_ST_STOP || state_inert(p, s, stack);
    }
    cep_free(stack);
    return inert;
}

/* Append a copy of a's code to the pool (a may point into the pool, so
 * copy by index after growing). */
static void cond_copy(struct comp *c, struct ccond a)
{
    CEP_GROW(c->code, c->cap_code, c->n_code + a.len);
    for (uint32_t i = 0; i < a.len; i++)
        c->code[c->n_code++] = c->code[a.off + i];
}

static struct ccond cond_not(struct comp *c, struct ccond a)
{
    struct ccond r = {(uint32_t)c->n_code, a.len + 1, true};
    cond_copy(c, a);
    code_emit(c, NFA_COP_NOT, 0);
    return r;
}

static struct ccond cond_and(struct comp *c, struct ccond a, struct ccond b)
{
    if (!a.present || cond_is_true(a))
        return b;
    if (!b.present || cond_is_true(b))
        return a;
    struct ccond r = {(uint32_t)c->n_code, a.len + b.len + 1, true};
    cond_copy(c, a);
    cond_copy(c, b);
    code_emit(c, NFA_COP_AND, 0);
    return r;
}

/* FlinkCEP extendWithUntilCondition. */
static struct ccond cond_until(struct comp *c, struct ccond cond, const struct expr *until,
                               bool is_take)
{
    if (until && cond.present)
        return cond_and(c, cond_not(c, cond_expr(c, until)), cond);
    if (until && is_take)
        return cond_not(c, cond_expr(c, until));
    return cond;
}

static const struct expr *group_until(const struct comp *c)
{
    return c->group ? c->group->until : NULL;
}

static struct ccond take_cond(struct comp *c, struct cpat p)
{
    struct ccond t = cond_expr(c, pat_step(p)->when);
    return cond_until(c, t, group_until(c), true);
}

static struct ccond true_cond(struct comp *c)
{
    return cond_until(c, cond_true(), group_until(c), true);
}

static bool head_of_group(const struct comp *c, struct cpat p)
{
    return c->group != NULL && p.i == 0;
}

static bool first_of_loop(const struct comp *c)
{
    for (size_t i = 0; i < c->n_flags; i++) {
        if (c->flags[i].group == c->group)
            return c->flags[i].first;
    }
    return true;
}

static void set_first_of_loop(struct comp *c, bool v)
{
    const struct nfa_step_spec *s = pat_step(c->cur);
    if (!s->group)
        return;
    for (size_t i = 0; i < c->n_flags; i++) {
        if (c->flags[i].group == s) {
            c->flags[i].first = v;
            return;
        }
    }
    CEP_GROW(c->flags, c->cap_flags, c->n_flags + 1);
    c->flags[c->n_flags].group = s;
    c->flags[c->n_flags].first = v;
    c->n_flags++;
}

static struct ccond contig_ignore(struct comp *c, struct cpat p, enum nfa_contig k)
{
    struct ccond r = cond_null();
    switch (k) {
        case NFA_CONTIG_STRICT:
            break;
        case NFA_CONTIG_RELAXED:
            r = cond_not(c, cond_expr(c, pat_step(p)->when));
            break;
        default:
            r = cond_true();
            break;
    }
    return cond_until(c, r, group_until(c), false);
}

/* Ignore condition between iterations (FlinkCEP getInnerIgnoreCondition). */
static struct ccond inner_ignore_cond(struct comp *c, struct cpat p)
{
    enum nfa_contig k = pat_step(p)->loop;
    if (head_of_group(c, p))
        k = c->group->loop;
    return contig_ignore(c, p, k);
}

/* Ignore condition to the previous step (FlinkCEP getIgnoreCondition). */
static struct ccond ignore_cond(struct comp *c, struct cpat p)
{
    enum nfa_contig k = pat_outer(p);
    if (head_of_group(c, p))
        k = first_of_loop(c) ? c->group->after : c->group->loop;
    return contig_ignore(c, p, k);
}

/* ---- states -------------------------------------------------------- */

static char *unique_name(struct comp *c, const char *base)
{
    for (size_t i = 0; i < c->n_names; i++) {
        if (strcmp(c->names[i].name, base) == 0)
            return cep_asprintf("%s:%u", base, c->names[i].n++);
    }
    CEP_GROW(c->names, c->cap_names, c->n_names + 1);
    c->names[c->n_names].name = base;
    c->names[c->n_names].n = 1;
    c->n_names++;
    return cep_strdup(base);
}

static uint32_t state_add(struct comp *c, const char *name, uint8_t kind, int32_t step)
{
    CEP_GROW(c->st, c->cap_st, c->n_st + 1);
    CEP_GROW(c->orig_map, c->cap_orig, c->n_st + 1);
    struct cstate *s = &c->st[c->n_st];
    memset(s, 0, sizeof(*s));
    s->kind = kind;
    s->step = step;
    s->not_step = -1;
    s->name = unique_name(c, name);
    c->orig_map[c->n_st] = NFA_NONE;
    return (uint32_t)c->n_st++;
}

/* FlinkCEP createState(type, isTake): a state of the current step; a take
 * state inherits the step's PREVIOUS_AND_CURRENT bound. */
static uint32_t state_new(struct comp *c, uint8_t kind, bool is_take)
{
    const struct nfa_step_spec *s = pat_step(c->cur);
    uint32_t id = state_add(c, s->name, kind, s->index);
    if (is_take && s->within > 0)
        c->st[id].pc_within = s->within;
    return id;
}

static void edge_add(struct comp *c, uint32_t from, uint8_t action, uint32_t to,
                     struct ccond cond)
{
    struct cstate *s = &c->st[from];
    CEP_GROW(s->edges, s->cap_edges, s->n_edges + 1);
    s->edges[s->n_edges].action = action;
    s->edges[s->n_edges].target = to;
    s->edges[s->n_edges].cond = cond;
    s->n_edges++;
}

static uint32_t stop_state(struct comp *c, const struct nfa_step_spec *neg, struct ccond cond)
{
    if (c->stop_of[neg->index] != NFA_NONE)
        return c->stop_of[neg->index];
    uint32_t id = state_add(c, neg->name, NFA_ST_STOP, neg->index);
    c->st[id].not_step = neg->index;
    edge_add(c, id, NFA_ACT_TAKE, id, cond);
    c->stop_of[neg->index] = id;
    return id;
}

/* notFollowedBy steps that still apply before the current step: walking
 * back over optional steps and negations (FlinkCEP getCurrentNotCondition).
 * Fills out (capacity: the length of the current sequence); returns the
 * number found. */
static size_t current_nots(struct comp *c, const struct nfa_step_spec **out)
{
    size_t n = 0;
    struct cpat p = c->cur;
    while (pat_has_prev(p)) {
        const struct nfa_step_spec *prev = pat_step(pat_prev(p));
        if (!step_optional(prev) && !step_not_follow(prev))
            break;
        p = pat_prev(p);
        if (step_not_follow(prev))
            out[n++] = prev;
    }
    return n;
}

static void add_stop_states(struct comp *c, uint32_t state)
{
    const struct nfa_step_spec **nots = cep_calloc(c->cur.i + 1, sizeof(*nots));
    size_t n = current_nots(c, nots);
    for (size_t i = 0; i < n; i++) {
        struct cpat np = {nots[i], 0};
        struct ccond nc = take_cond(c, np);
        edge_add(c, state, NFA_ACT_PROCEED, stop_state(c, nots[i], nc), nc);
    }
    cep_free(nots);
}

static void add_stop_to_looping(struct comp *c, uint32_t state)
{
    if (!c->following.base || !step_not_follow(pat_step(c->following)))
        return;
    struct ccond nc = take_cond(c, c->following);
    edge_add(c, state, NFA_ACT_PROCEED, stop_state(c, pat_step(c->following), nc), nc);
}

/* A plain copy of a state and its edges (FlinkCEP copy()). */
static uint32_t state_copy(struct comp *c, uint32_t from)
{
    const char *base = c->st[from].name;
    char *tmp = cep_strdup(base);
    char *colon = strchr(tmp, ':');
    if (colon)
        *colon = '\0';
    uint32_t id = state_add(c, tmp, c->st[from].kind, c->st[from].step);
    cep_free(tmp);
    for (size_t i = 0; i < c->st[from].n_edges; i++) {
        struct cedge e = c->st[from].edges[i];
        edge_add(c, id, e.action, e.target == from ? id : e.target, e.cond);
    }
    return id;
}

/* FlinkCEP copyWithoutTransitiveNots: when the current step is optional and
 * negations precede it, taking an event here ends those negations, so the
 * take goes to a copy of the sink whose proceed chains no longer reach
 * their stop states.  Follows proceed chains with an explicit worklist. */
static uint32_t copy_without_nots(struct comp *c, uint32_t sink)
{
    if (!step_optional(pat_step(c->cur)))
        return sink;
    const struct nfa_step_spec **nots = cep_calloc(c->cur.i + 1, sizeof(*nots));
    size_t n_nots = current_nots(c, nots);
    if (n_nots == 0) {
        cep_free(nots);
        return sink;
    }
    uint32_t *work = NULL;
    size_t n_work = 0, cap_work = 0;
    uint32_t top = state_add(c, c->st[sink].name, c->st[sink].kind, c->st[sink].step);
    CEP_GROW(work, cap_work, 2);
    work[n_work++] = sink;
    work[n_work++] = top;
    while (n_work) {
        uint32_t copy = work[--n_work];
        uint32_t orig = work[--n_work];
        for (size_t i = 0; i < c->st[orig].n_edges; i++) {
            struct cedge e = c->st[orig].edges[i];
            if (e.action != NFA_ACT_PROCEED) {
                edge_add(c, copy, e.action, e.target == orig ? copy : e.target, e.cond);
                continue;
            }
            if (c->st[e.target].kind == NFA_ST_STOP) {
                bool remove = false;
                for (size_t k = 0; k < n_nots; k++) {
                    if (c->st[e.target].not_step == nots[k]->index)
                        remove = true;
                }
                if (!remove)
                    edge_add(c, copy, e.action, e.target, e.cond);
                continue;
            }
            uint32_t t = state_add(c, c->st[e.target].name, c->st[e.target].kind,
                                   c->st[e.target].step);
            edge_add(c, copy, e.action, t, e.cond);
            CEP_GROW(work, cap_work, n_work + 2);
            work[n_work++] = e.target;
            work[n_work++] = t;
        }
    }
    cep_free(work);
    cep_free(nots);
    return top;
}

/* AND NOT(take) into every edge of state (greedy loops). */
static void greedy_update(struct comp *c, uint32_t state, struct ccond take)
{
    for (size_t i = 0; i < c->st[state].n_edges; i++) {
        struct ccond nt = cond_not(c, take);
        struct ccond old = c->st[state].edges[i].cond;
        c->st[state].edges[i].cond = old.present ? cond_and(c, old, nt) : nt;
    }
}

static uint32_t convert_step(struct comp *c, uint32_t sink);
static uint32_t middle_states(struct comp *c, uint32_t sink);

static uint32_t group_states(struct comp *c, const struct nfa_step_spec *g, uint32_t sink,
                             uint32_t proceed, bool optional)
{
    struct ccond pc = true_cond(c);
    struct cpat old_cur = c->cur, old_fol = c->following;
    const struct nfa_step_spec *old_group = c->group;
    c->group = g;
    c->cur.base = g->group;
    c->cur.i = g->n_group - 1;
    uint32_t last = middle_states(c, sink);
    last = convert_step(c, last);
    if (optional && proceed != NFA_NONE)
        edge_add(c, last, NFA_ACT_PROCEED, proceed, pc);
    c->cur = old_cur;
    c->following = old_fol;
    c->group = old_group;
    return last;
}

static uint32_t looping_group_states(struct comp *c, const struct nfa_step_spec *g,
                                     uint32_t sink)
{
    struct ccond pc = true_cond(c);
    struct cpat old_cur = c->cur, old_fol = c->following;
    const struct nfa_step_spec *old_group = c->group;
    uint32_t dummy = state_new(c, NFA_ST_NORMAL, true);
    c->group = g;
    c->cur.base = g->group;
    c->cur.i = g->n_group - 1;
    uint32_t last = middle_states(c, dummy);
    last = convert_step(c, last);
    edge_add(c, last, NFA_ACT_PROCEED, sink, pc);
    edge_add(c, dummy, NFA_ACT_PROCEED, last, pc);
    c->cur = old_cur;
    c->following = old_fol;
    c->group = old_group;
    return last;
}

/* FlinkCEP createSingletonState: a state taking one event of the current
 * step into sink; optional states also proceed (bypass) to proceed, and
 * an optional state's ignore goes to a side state that may only take. */
static uint32_t singleton(struct comp *c, uint32_t sink, uint32_t proceed, struct ccond take,
                          struct ccond ignore, bool optional)
{
    const struct nfa_step_spec *s = pat_step(c->cur);
    if (s->group)
        return group_states(c, s, sink, proceed, optional);
    uint32_t st = state_new(c, NFA_ST_NORMAL, true);
    uint32_t to = copy_without_nots(c, sink);
    edge_add(c, st, NFA_ACT_TAKE, to, take);
    struct ccond pc = true_cond(c);
    if (optional && proceed != NFA_NONE) {
        if (s->greedy) {
            if (s->until) {
                uint32_t orig = c->orig_map[proceed];
                if (orig != NFA_NONE)
                    edge_add(c, st, NFA_ACT_PROCEED, orig,
                             cond_and(c, pc, cond_expr(c, s->until)));
                edge_add(c, st, NFA_ACT_PROCEED, proceed,
                         cond_and(c, pc, cond_not(c, cond_expr(c, s->until))));
            } else {
                edge_add(c, st, NFA_ACT_PROCEED, proceed, pc);
            }
        } else {
            edge_add(c, st, NFA_ACT_PROCEED, proceed, pc);
        }
    }
    if (ignore.present) {
        uint32_t ig = st;
        bool head_opt = head_of_group(c, c->cur) && first_of_loop(c) && step_optional(c->group);
        if (optional || head_opt) {
            ig = state_new(c, NFA_ST_NORMAL, false);
            edge_add(c, ig, NFA_ACT_TAKE, to, take);
            edge_add(c, ig, NFA_ACT_IGNORE, ig, ignore);
            add_stop_states(c, ig);
        }
        edge_add(c, st, NFA_ACT_IGNORE, ig, ignore);
    }
    return st;
}

/* FlinkCEP createLooping: the state that takes the 2nd and later events of
 * an N+ step; proceeds to sink whenever it holds an acceptable count. */
static uint32_t looping(struct comp *c, uint32_t sink)
{
    const struct nfa_step_spec *s = pat_step(c->cur);
    if (s->group)
        return looping_group_states(c, s, sink);
    struct ccond ignore = cond_until(c, inner_ignore_cond(c, c->cur), s->until, false);
    struct ccond take = cond_until(c, take_cond(c, c->cur), s->until, true);
    struct ccond pc = true_cond(c);
    uint32_t lp = state_new(c, NFA_ST_NORMAL, true);
    if (s->greedy) {
        if (s->until) {
            uint32_t cp = state_copy(c, sink);
            edge_add(c, lp, NFA_ACT_PROCEED, cp, cond_and(c, pc, cond_expr(c, s->until)));
            c->orig_map[sink] = cp;
        }
        edge_add(c, lp, NFA_ACT_PROCEED, sink,
                 s->until ? cond_and(c, pc, cond_not(c, cond_expr(c, s->until))) : pc);
        greedy_update(c, sink, take_cond(c, c->cur));
    } else {
        edge_add(c, lp, NFA_ACT_PROCEED, sink, pc);
    }
    edge_add(c, lp, NFA_ACT_TAKE, lp, take);
    add_stop_to_looping(c, lp);
    if (ignore.present) {
        uint32_t ig = state_new(c, NFA_ST_NORMAL, false);
        edge_add(c, ig, NFA_ACT_TAKE, lp, take);
        edge_add(c, ig, NFA_ACT_IGNORE, ig, ignore);
        edge_add(c, lp, NFA_ACT_IGNORE, ig, ignore);
        add_stop_to_looping(c, ig);
    }
    return lp;
}

/* FlinkCEP createTimesState: from..to copies (the ones past `from` can
 * bypass to proceed), the first one attached with the outer contiguity. */
static uint32_t times_states(struct comp *c, uint32_t sink, uint32_t proceed, uint32_t from,
                             uint32_t to)
{
    const struct nfa_step_spec *s = pat_step(c->cur);
    uint32_t last = sink;
    set_first_of_loop(c, false);
    struct ccond inner = cond_until(c, inner_ignore_cond(c, c->cur), s->until, false);
    struct ccond take = cond_until(c, take_cond(c, c->cur), s->until, true);
    if (s->greedy && from != to) {
        if (s->until)
            c->orig_map[sink] = state_copy(c, sink);
        greedy_update(c, sink, take);
    }
    for (uint32_t i = from; i < to; i++) {
        last = singleton(c, last, proceed, take, inner, true);
        add_stop_to_looping(c, last);
    }
    for (uint32_t i = 1; i < from; i++) {
        last = singleton(c, last, NFA_NONE, take, inner, false);
        add_stop_to_looping(c, last);
    }
    set_first_of_loop(c, true);
    return singleton(c, last, proceed, take, ignore_cond(c, c->cur), step_optional(s));
}

/* FlinkCEP convertPattern: the states of the current (non-negated) step. */
static uint32_t convert_step(struct comp *c, uint32_t sink)
{
    const struct nfa_step_spec *s = pat_step(c->cur);
    uint32_t last;
    uint32_t from = step_from(s);
    if (step_looping(s)) {
        set_first_of_loop(c, false);
        uint32_t to = copy_without_nots(c, sink);
        uint32_t lp = looping(c, to);
        set_first_of_loop(c, true);
        last = times_states(c, lp, sink, from, from);
    } else if (!(from == 1 && s->max <= 1)) {
        last = times_states(c, sink, sink, from, s->max < from ? from : s->max);
    } else {
        last = singleton(c, sink, sink, take_cond(c, c->cur), ignore_cond(c, c->cur),
                         step_optional(s));
    }
    add_stop_states(c, last);
    return last;
}

/* FlinkCEP createMiddleStates: every step but the first of the current
 * sequence, from the last backwards. */
static uint32_t middle_states(struct comp *c, uint32_t sink)
{
    uint32_t last = sink;
    while (pat_has_prev(c->cur)) {
        const struct nfa_step_spec *s = pat_step(c->cur);
        if (step_not_follow(s)) {
            bool windowed = s->within > 0 || c->spec->within > 0;
            if (windowed && c->st[last].kind == NFA_ST_FINAL) {
                uint32_t pend = state_new(c, NFA_ST_PENDING, true);
                struct ccond nc = take_cond(c, c->cur);
                uint32_t stop = stop_state(c, s, nc);
                edge_add(c, pend, NFA_ACT_PROCEED, stop, nc);
                edge_add(c, pend, NFA_ACT_IGNORE, pend, cond_not(c, nc));
                last = pend;
            }
        } else if (step_not_next(s)) {
            uint32_t nn = state_new(c, NFA_ST_NORMAL, true);
            struct ccond nc = take_cond(c, c->cur);
            uint32_t stop = stop_state(c, s, nc);
            if (c->st[last].kind == NFA_ST_FINAL)
                edge_add(c, nn, NFA_ACT_IGNORE, last, cond_not(c, nc));
            else
                edge_add(c, nn, NFA_ACT_PROCEED, last, cond_not(c, nc));
            edge_add(c, nn, NFA_ACT_PROCEED, stop, nc);
            last = nn;
        } else {
            last = convert_step(c, last);
        }
        c->following = c->cur;
        c->cur = pat_prev(c->cur);
    }
    return last;
}

static void collect_names(struct nfa_prog *p, const struct nfa_step_spec *steps, size_t n)
{
    /* Iterative walk over nested groups with an explicit stack. */
    struct frame {
        const struct nfa_step_spec *s;
        size_t n, i;
    };
    struct frame *stk = NULL;
    size_t n_stk = 0, cap = 0;
    CEP_GROW(stk, cap, 1);
    stk[n_stk++] = (struct frame){steps, n, 0};
    while (n_stk) {
        struct frame *f = &stk[n_stk - 1];
        if (f->i == f->n) {
            n_stk--;
            continue;
        }
        const struct nfa_step_spec *s = &f->s[f->i++];
        if (s->index >= 0 && (size_t)s->index < p->n_indexes && !p->step_names[s->index])
            p->step_names[s->index] = cep_strdup(s->name);
        for (uint32_t e = 0; e < p->n_exprs; e++) {
            if (p->expr_labels[e])
                continue;
            if (p->exprs[e] == s->when)
                p->expr_labels[e] = cep_strdup(s->name);
            else if (p->exprs[e] == s->until)
                p->expr_labels[e] = cep_asprintf("until(%s)", s->name);
        }
        if (s->group) {
            CEP_GROW(stk, cap, n_stk + 1);
            stk[n_stk++] = (struct frame){s->group, s->n_group, 0};
        }
    }
    cep_free(stk);
}

/* The most take / ignore edges one state of p has into one target (1 for
 * every state the compiler builds: a take and an ignore, to different
 * states; computed rather than assumed, for prog_why_not_count). */
static uint32_t max_edges_into_one(const struct nfa_prog *p)
{
    uint32_t most = 0;
    for (uint32_t i = 0; i < p->n_edges; i++) {
        const struct nfa_edge *a = &p->edges[i];
        if (a->action == NFA_ACT_PROCEED)
            continue;
        const struct nfa_state *st = &p->states[a->source];
        uint32_t n = 0;
        for (uint32_t j = st->first_edge; j < st->first_edge + st->n_edges; j++)
            n += p->edges[j].action != NFA_ACT_PROCEED && p->edges[j].target == a->target;
        if (n > most)
            most = n;
    }
    return most;
}

/* Why keys of p cannot count their matches instead of building them
 * (nfa_count.c), or NULL.  Counting treats runs as interchangeable apart
 * from their first event: that holds without per-run decisions (skip
 * strategies prune by a match's events, negations kill sibling runs, a
 * step `within` expires runs by their last event), and it needs a window
 * to bound what is kept. */
static const char *prog_why_not_count(const struct nfa_prog *p)
{
    if (p->within <= 0)
        return "counting matches needs a `within`";
    if (p->skip != NFA_SKIP_NO_SKIP)
        return "counting matches needs `skip: no_skip`";
    if (p->has_pc)
        return "counting matches cannot use a step `within`";
    /* An event's map keeps edge weights in 8 bits (nfa_count.c): the
     * weight from state s into state t is the number of take / ignore
     * edges into t met by one walk of s's decision graph, once per path.
     * Proceed chains that branch and rejoin multiply the paths (every
     * optional group around a step adds a parallel proceed), so the
     * budget's cut is what bounds them: a walk visits at most budget + 1
     * states, each adding its edges into t.  With one edge into t per
     * state that is n_edges <= 59 and a weight <= 253 (check_nfa_count's
     * largest pattern, a step in 21 optional groups and one in 24, has
     * weights up to 252). */
    if (p->n_states > NFA_COUNT_MAX_STATES ||
        (nfa_proceed_budget(p) + 1) * max_edges_into_one(p) > UINT8_MAX)
        return "the pattern is too large to count its matches";
    for (uint32_t i = 0; i < p->n_states; i++) {
        if (p->states[i].kind == NFA_ST_STOP || p->states[i].kind == NFA_ST_PENDING)
            return "counting matches cannot use a negated step";
    }
    return NULL;
}

/* Compile a validated pattern into an owned program (see nfa.h).  Never
 * fails.  Runs on the loading thread; the result is immutable and may be
 * shared by every worker. */
struct nfa_prog *nfa_compile(const struct nfa_pattern_spec *spec)
{
    struct comp c;
    CEP_ASSERT(spec->emit < NFA_EMIT_COUNT); /* NFA_EMIT_COUNT ends the enum, it is no mode */
    memset(&c, 0, sizeof(c));
    c.spec = spec;
    size_t n_idx = spec->n_indexes ? spec->n_indexes : 1;
    c.stop_of = cep_malloc(n_idx * sizeof(*c.stop_of));
    for (size_t i = 0; i < n_idx; i++)
        c.stop_of[i] = NFA_NONE;
    code_emit(&c, NFA_COP_TRUE, 0); /* cond_true() refers to pool[0] */

    uint32_t final = state_add(&c, "$end", NFA_ST_FINAL, -1);
    uint32_t start = final;
    if (spec->n_steps) {
        c.cur.base = spec->steps;
        c.cur.i = spec->n_steps - 1;
        uint32_t sink = middle_states(&c, final);
        start = convert_step(&c, sink);
        c.st[start].kind = NFA_ST_START;
    }

    struct nfa_prog *p = cep_calloc(1, sizeof(*p));
    p->n_states = (uint32_t)c.n_st;
    p->states = cep_calloc(c.n_st, sizeof(*p->states));
    size_t n_edges = 0;
    for (size_t i = 0; i < c.n_st; i++)
        n_edges += c.st[i].n_edges;
    p->edges = cep_calloc(n_edges ? n_edges : 1, sizeof(*p->edges));
    p->code = cep_malloc(c.n_code * sizeof(*p->code));
    memcpy(p->code, c.code, c.n_code * sizeof(*p->code));
    p->n_code = (uint32_t)c.n_code;
    for (size_t i = 0; i < c.n_st; i++) {
        struct nfa_state *s = &p->states[i];
        s->kind = c.st[i].kind;
        s->step = c.st[i].step;
        s->pc_within = c.st[i].pc_within;
        s->name = c.st[i].name;
        s->first_edge = p->n_edges;
        s->n_edges = (uint32_t)c.st[i].n_edges;
        if (s->pc_within > 0)
            p->has_pc = true;
        if (s->kind == NFA_ST_PENDING)
            p->has_pending = true;
        for (size_t j = 0; j < c.st[i].n_edges; j++) {
            struct nfa_edge *e = &p->edges[p->n_edges++];
            struct ccond cc = c.st[i].edges[j].cond;
            e->action = c.st[i].edges[j].action;
            e->source = (uint32_t)i;
            e->target = c.st[i].edges[j].target;
            e->cond_off = cc.off;
            e->cond_len = (!cc.present || cond_is_true(cc)) ? 0 : cc.len;
            e->expr = edge_expr(&p->code[e->cond_off], e->cond_len);
        }
        cep_free(c.st[i].edges);
    }
    p->exprs = cep_calloc(c.n_exprs ? c.n_exprs : 1, sizeof(*p->exprs));
    if (c.n_exprs)
        memcpy(p->exprs, c.exprs, c.n_exprs * sizeof(*p->exprs));
    p->n_exprs = (uint32_t)c.n_exprs;
    p->fast = cep_calloc(c.n_exprs ? c.n_exprs : 1, sizeof(*p->fast));
    for (size_t i = 0; i < c.n_exprs; i++)
        fast_init(&p->fast[i], c.exprs[i]);
    p->expr_labels = cep_calloc(c.n_exprs ? c.n_exprs : 1, sizeof(*p->expr_labels));
    p->start = start;
    p->within = spec->within;
    p->skip = spec->skip;
    p->skip_step = spec->skip_step;
    p->n_indexes = spec->n_indexes;
    p->step_names = cep_calloc(n_idx, sizeof(*p->step_names));
    collect_names(p, spec->steps, spec->n_steps);
    if (spec->emit == NFA_EMIT_TALLY) {
        CEP_ASSERT(prog_why_not_count(p) == NULL);
        p->counting = true;
        nfa_cnt_prog_init(p);
    }
    p->start_fast = !p->counting && start_is_fast(p);
    p->inert_fast = prog_is_inert(p);

    cep_free(c.st);
    cep_free(c.orig_map);
    cep_free(c.code);
    cep_free(c.exprs);
    cep_free(c.stop_of);
    cep_free(c.flags);
    cep_free(c.names);
    return p;
}

/* Free a program (NULL is a no-op).  No key of it may remain. */
void nfa_prog_free(struct nfa_prog *p)
{
    if (!p)
        return;
    for (uint32_t i = 0; i < p->n_states; i++)
        cep_free(p->states[i].name);
    for (size_t i = 0; i < (p->n_indexes ? p->n_indexes : 1); i++)
        cep_free(p->step_names[i]);
    cep_free(p->step_names);
    cep_free(p->states);
    cep_free(p->edges);
    cep_free(p->code);
    for (uint32_t i = 0; i < p->n_exprs; i++)
        cep_free(p->expr_labels[i]);
    cep_free(p->expr_labels);
    cep_free(p->exprs);
    cep_free(p->fast);
    cep_free(p->cnt_dim);
    cep_free(p->cnt_state);
    cep_free(p);
}

/* NULL if spec may be compiled with emit TALLY, else the reason (a
 * static string).  Compiles the pattern once to look at its states. */
const char *nfa_spec_countable(const struct nfa_pattern_spec *spec)
{
    struct nfa_pattern_spec all = *spec;
    all.emit = NFA_EMIT_ALL;
    struct nfa_prog *p = nfa_compile(&all);
    const char *why = prog_why_not_count(p);
    nfa_prog_free(p);
    return why;
}

bool nfa_prog_counting(const struct nfa_prog *p)
{
    return p->counting;
}

/* Name of the step with this index, or NULL for an unknown index. */
const char *nfa_prog_step_name(const struct nfa_prog *p, int index)
{
    if (index < 0 || (size_t)index >= p->n_indexes)
        return NULL;
    return p->step_names[index];
}

size_t nfa_prog_n_indexes(const struct nfa_prog *p)
{
    return p->n_indexes;
}
