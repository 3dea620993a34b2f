/* SPDX-License-Identifier: Apache-2.0
 * Pattern matching with FlinkCEP's semantics (design §2.2): the rule loader
 * describes a rule's `pattern:` as an nfa_pattern_spec, nfa_compile() turns
 * it into a state table with take / ignore / proceed edges, and the runtime
 * keeps, per key, the partial matches over a shared versioned buffer of
 * events (each event stored once; runs share prefixes; an event is released
 * when no run needs it), or, for a program that only counts its matches
 * (emit TALLY), a summary per event in constant work per event.  Time is
 * pushed in by the caller: advance, then process, exactly like FlinkCEP's
 * NFA; nothing here reads a clock.
 * Compiler and runtime meet the rest of cepd only through this header.
 * Tested by: tests/unit/check_nfa.c, tests/unit/check_nfa_count.c,
 * tests/flink/, tests/ref/ */
#ifndef CEPD_NFA_H
#define CEPD_NFA_H

#include "cepd/cep_common.h"
#include "cepd/evt.h"
#include "cepd/expr.h"

struct sbuf;

/* Contiguity: to the previous step (`after:`) or between loop iterations
 * (`loop:`).  FlinkCEP: next / followedBy / followedByAny, and consecutive()
 * / default / allowCombinations() inside loops. */
enum nfa_contig {
    NFA_CONTIG_STRICT = 0,
    NFA_CONTIG_RELAXED,
    NFA_CONTIG_ANY,
    NFA_CONTIG_COUNT
};

/* After-match skip strategies (`skip:`). */
enum nfa_skip {
    NFA_SKIP_NO_SKIP = 0,
    NFA_SKIP_TO_NEXT,
    NFA_SKIP_PAST_LAST_EVENT,
    NFA_SKIP_TO_FIRST, /* to_first STEP: skip_step names the step */
    NFA_SKIP_TO_LAST,  /* to_last STEP */
    NFA_SKIP_COUNT
};

#define NFA_UNBOUNDED UINT32_MAX

/* One step of a pattern, or a group of steps.  The loader has validated it
 * (see nfa_compile); expressions are borrowed and must outlive the program. */
struct nfa_step_spec {
    const char *name;         /* unique within the rule */
    int index;                /* the step's number in expression references */
    const struct expr *when;  /* NULL: every event (always NULL for a group) */
    const struct expr *until; /* stop condition of an N+ loop, or NULL */
    uint32_t min;             /* times: N -> N,N;  N..M -> N,M;  N+ -> N,NFA_UNBOUNDED */
    uint32_t max;             /* absent -> 1,1 */
    bool optional;
    bool greedy;
    enum nfa_contig after;    /* to the previous step; ignored on a first step */
    enum nfa_contig loop;     /* between iterations; default RELAXED */
    bool negated;             /* not: true (after strict = notNext, relaxed = notFollowedBy) */
    int64_t within;           /* this step's PREVIOUS_AND_CURRENT bound in us, 0 = none */
    const struct nfa_step_spec *group; /* a group's sub-steps, or NULL */
    size_t n_group;
};

/* What the runtime reports.  ALL: every match with its events (on_match,
 * FlinkCEP's output).  TALLY (`matches: count`): per event, one summary
 * of the matches it completes (on_count): their number and first / last
 * events, without building them, in constant work per event and state
 * however many partial matches are open (nfa_count.c).  TALLY is used
 * only when nfa_spec_countable() holds; the caller also promises that no
 * condition refers to a step (`count(b)`, `b.last.x`), so that a
 * condition's value depends on the event alone.  A counting key has no
 * max_partial cap and reports no timeouts. */
enum nfa_emit {
    NFA_EMIT_ALL = 0,
    NFA_EMIT_TALLY,
    NFA_EMIT_COUNT
};

struct nfa_pattern_spec {
    const struct nfa_step_spec *steps;
    size_t n_steps;
    size_t n_indexes;         /* step indexes used run 0..n_indexes-1 (group members too) */
    int64_t within;           /* rule-level FIRST_AND_LAST bound in us, 0 = none */
    enum nfa_skip skip;
    int skip_step;            /* step index for TO_FIRST / TO_LAST, else -1 */
    enum nfa_emit emit;       /* what a completed match reports */
};

struct nfa_prog;

/* Compile a validated pattern.  The loader has already rejected (with
 * positions) duplicate step names, a pattern that is only a negation, a
 * negation that is optional or quantified, a trailing notFollowedBy without
 * a `within`, greedy on a group, `until` on a non-looping step, and
 * references to later steps.  Never fails; returns an owned program. */
struct nfa_prog *nfa_compile(const struct nfa_pattern_spec *spec);
void nfa_prog_free(struct nfa_prog *p);
/* NULL if spec may run with emit TALLY, else why not: it needs a rule
 * `within` and no skip strategy, negation or step `within`, and at most
 * NFA_COUNT_MAX_STATES states. */
#define NFA_COUNT_MAX_STATES 16
const char *nfa_spec_countable(const struct nfa_pattern_spec *spec);
/* True when p was compiled with emit TALLY (its keys call on_count). */
bool nfa_prog_counting(const struct nfa_prog *p);
/* Name of the step with this index (as in nfa_step_spec.index). */
const char *nfa_prog_step_name(const struct nfa_prog *p, int index);
size_t nfa_prog_n_indexes(const struct nfa_prog *p);
/* The state table as Graphviz DOT: states, and edges labelled take / ignore
 * / proceed with their conditions.  Deterministic (goldens pin it). */
void nfa_prog_dot(const struct nfa_prog *p, const char *title, struct sbuf *sb);

/* A completed (or timed-out) match: its events in processing order and the
 * step index each was taken by.  Valid only during the callback; a caller
 * that keeps an event takes a reference. */
struct nfa_match {
    size_t n;
    struct evt *const *events;
    const int *steps;
};

/* The matches one event completed on a counting key (emit TALLY), in
 * place of the n nfa_match views the same key would report with emit
 * ALL.  Valid only during the callback. */
struct nfa_count {
    uint64_t n;          /* how many; UINT64_MAX means at least that many */
    struct evt *first;   /* the earliest first event among them */
    struct evt *latest;  /* the latest first event among them */
    struct evt *last;    /* the event that completed them */
};

/* Working memory of the runtime, lent to each key for the length of one
 * call: one per thread, shared by all its keys and programs (so a key
 * holds only its state, and the scratch stays in cache).  Not
 * reentrant: a callback (on_match, on_timeout, on_count) must not run a
 * key with the same work, whose arrays hold the views it was given.
 * Owned; nfa_work_free(NULL) is a no-op. */
struct nfa_work;
struct nfa_work *nfa_work_new(void);
void nfa_work_free(struct nfa_work *w);

/* What the runtime needs from its caller, per call. */
struct nfa_env {
    struct expr_rt *rt;             /* evaluation state of this thread */
    struct nfa_work *work;          /* working memory of this thread */
    struct expr_counters *counters; /* the rule's type-mismatch / regex counters */
    uint32_t max_partial;           /* partial matches per key; 0 = 10000 */
    uint64_t *evicted;              /* bumped per partial match dropped at the cap */
    void *ud;
    void (*on_match)(void *ud, const struct nfa_match *m);
    /* An expired partial match (within), with FlinkCEP's timeout timestamp
     * (first + within, or previous + step within).  NULL: expired runs are
     * dropped silently (the rule has no on_timeout). */
    void (*on_timeout)(void *ud, const struct nfa_match *m, int64_t timeout_ts);
    /* Counting keys only: the matches an event completed (n >= 1). */
    void (*on_count)(void *ud, const struct nfa_count *c);
};

/* False only when ev cannot start a partial match of p: a key that has
 * none would stay idle, and no condition would count a type mismatch on
 * the way (each one the start state evaluates is decided without the VM).
 * True when in doubt. */
bool nfa_prog_may_start(const struct nfa_prog *p, const struct evt *ev);

/* True only when ev changes no key of p: every condition of p is decided
 * false on ev without the VM, and no run of p reacts to such an event but
 * by ignoring it in place (nfa_prog.inert_fast).  A key's time still moves
 * at its deadlines (nfa_key_advance), so a caller may skip such an event
 * for every key.  False when in doubt. */
bool nfa_prog_inert(const struct nfa_prog *p, const struct evt *ev);

/* The partial matches of one key, with their shared event buffer. */
struct nfa_key;
struct nfa_key *nfa_key_new(const struct nfa_prog *p);
void nfa_key_free(struct nfa_key *k);
/* Make an idle key (nfa_key_idle) as good as new, keeping its allocations,
 * so a caller can recycle it for another key. */
void nfa_key_reset(struct nfa_key *k);

/* Advance the key's time to now (us): runs whose `within` has passed expire
 * (reported through on_timeout), pending trailing-negation matches whose
 * window has passed are emitted, and held-back matches that no earlier run
 * can precede any more are released.  Time never moves back: a smaller now
 * is ignored. */
void nfa_key_advance(struct nfa_key *k, int64_t now, const struct nfa_env *env);
/* Process one event (the caller advanced to ev->time first).  Takes a
 * reference on ev when a run keeps it. */
void nfa_key_process(struct nfa_key *k, struct evt *ev, const struct nfa_env *env);
/* The earliest time at which nfa_key_advance would expire or emit
 * something, or CEP_TIME_MAX when only an event can change this key. */
int64_t nfa_key_deadline(const struct nfa_key *k);
/* True when the key holds nothing but its start state (its state may be
 * dropped). */
bool nfa_key_idle(const struct nfa_key *k);
size_t nfa_key_n_partial(const struct nfa_key *k);
/* Bytes of state held (runs, buffer nodes, event bytes), for accounting. */
size_t nfa_key_bytes(const struct nfa_key *k);
/* Reload: the key runs p from now on.  p must be compiled from the same
 * pattern as the key's program (rule id and compiled hash unchanged); the
 * old program may then be freed. */
void nfa_key_rebind(struct nfa_key *k, const struct nfa_prog *p);
/* Call fn on each event the key holds, once per buffer node (an event
 * taken by several steps comes more than once). */
void nfa_key_each_event(const struct nfa_key *k, void (*fn)(void *ud, struct evt *ev), void *ud);

/* Checkpoints (nfa_snap.c): write the key's partial matches with their
 * shared buffer (events through the table t, so an event held by many
 * keys or rules is written once), and read them back into k, a key fresh
 * from nfa_key_new (or reset) for the same program.  After a load the key
 * behaves exactly as the saved one would have: the same matches, timeouts
 * and deadlines, in the same order.  Returns CEP_ERR (r->err says why,
 * the key is left empty) on a malformed record. */
struct ckpt_w;
struct ckpt_r;
struct ckpt_evtab;
void nfa_key_save(const struct nfa_key *k, struct ckpt_w *w, struct ckpt_evtab *t);
int nfa_key_load(struct nfa_key *k, struct ckpt_r *r, struct ckpt_evtab *t);
#endif
