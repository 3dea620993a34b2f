/* SPDX-License-Identifier: Apache-2.0
 * Windowed aggregates (design §2.4): per-key windows in event time
 * (tumbling, sliding over shared slices, session with merging, count),
 * mergeable aggregate states (count, sum, avg, min, max, first, last,
 * distinct_count, stddev, percentile), `having` on the result, and firing
 * on close (when time passes the window end) or on update (once per window,
 * as soon as `having` first holds).  The rule loader describes a rule as a
 * win_spec, win_compile makes a program, and the engine keeps one win_key
 * per key, pushing events and time in; nothing here reads a clock.
 * Windows are [start, end): start inclusive, end exclusive.  A time window
 * is kept until time passes its end plus the allowed lateness, so that a
 * late event updates it and a corrected result is sent (win_result's
 * revision, retracted).
 * Tested by: tests/unit/check_win.c */
#ifndef CEPD_WIN_H
#define CEPD_WIN_H

#include "cepd/cep_common.h"
#include "cepd/evt.h"
#include "cepd/expr.h"

enum agg_fn {
    AGG_COUNT = 0,       /* count(): events in the window */
    AGG_SUM,             /* sum(e): numbers; non-numbers are counted as type mismatches */
    AGG_AVG,
    AGG_MIN,             /* numbers, or strings (bytewise) */
    AGG_MAX,
    AGG_FIRST,           /* value at the earliest (time, arrival) event */
    AGG_LAST,            /* value at the latest (time, arrival) event */
    AGG_DISTINCT_COUNT,  /* distinct non-null values */
    AGG_STDDEV,          /* population standard deviation */
    AGG_PERCENTILE,      /* percentile(e, p), p in [0, 100]; bounded relative error */
    AGG_FN_COUNT
};

struct agg_spec {
    const char *name;        /* result name (`aggregate: {name: fn(...)}`) */
    enum agg_fn fn;
    const struct expr *arg;  /* evaluated on each event; NULL for count() */
    double param;            /* percentile: p */
};

enum win_type {
    WIN_TUMBLING = 0, /* size */
    WIN_SLIDING,      /* size, slide */
    WIN_SESSION,      /* gap */
    WIN_COUNT,        /* size (events), slide (events; 0 = size) */
    WIN_TYPE_COUNT
};

struct win_spec {
    enum win_type type;
    int64_t size;      /* us (count windows: events) */
    int64_t slide;     /* us (count windows: events); 0 = size */
    int64_t gap;       /* session gap, us */
    const struct agg_spec *aggs;
    size_t n_aggs;
    const struct expr *having; /* NULL = every window fires; evaluated with
                                * expr_ctx.results = the aggregate values */
    bool on_update;    /* emit: on_update (else on_close) */
    bool no_event;     /* the rule's outputs read no event field beyond its
                        * key (expr_fields_within): keys hold no event and
                        * win_result.last is NULL */
};

struct win_prog;
/* Compile a validated spec (the loader has checked sizes, slide <= size,
 * percentile ranges).  Borrows the expressions; never fails. */
struct win_prog *win_compile(const struct win_spec *spec);
void win_prog_free(struct win_prog *p);
const char *agg_fn_name(enum agg_fn fn);
/* The aggregates of a program, in spec order (names for alert fields). */
size_t win_prog_n_aggs(const struct win_prog *p);
const char *win_prog_agg_name(const struct win_prog *p, size_t i);
/* The aggregate function named (s, len), or -1; with its arity. */
int agg_fn_lookup(const char *s, size_t len, int *n_args);

/* A window's result, valid during the callback.  A window sends at most
 * one alert on time; a late event (within the allowed lateness) that
 * changes a window which already sent one sends a correction: revision n
 * (1, 2, ...) of the window whose first alert was revision 0.  id_start
 * and id_end identify the window across revisions (its bounds when it
 * first fired: a session may have grown since). */
struct win_result {
    int64_t start;            /* window start (count windows: index of its first event) */
    int64_t end;              /* window end, exclusive (count windows: index after the last) */
    int64_t time;             /* event time of the result: end - 1us for time windows,
                               * the last event's time for count windows */
    const struct val *values; /* one per aggregate, in spec order */
    uint64_t n_events;
    const struct evt *last;   /* the key's latest event (for key and message fields);
                               * NULL with win_spec.no_event */
    bool by_count;            /* a count window: start/end are event indexes */
    int64_t id_start;         /* identity of the window (= start/end unless a */
    int64_t id_end;           /* session grew after it first fired) */
    uint32_t revision;        /* 0: the window's first alert; n > 0: a correction */
    bool retracted;           /* a correction after which `having` no longer holds,
                               * or a session merged into an earlier one */
};

struct win_env {
    struct expr_rt *rt;
    struct expr_counters *counters;
    int64_t now;              /* time the key's stream has reached: an event whose
                               * windows all ended more than the allowed
                               * lateness before it is late */
    void *ud;
    void (*on_fire)(void *ud, const struct win_result *r);
};

/* The windows of one key.  lateness (us, >= 0) is the allowed lateness of
 * the rule's stream: a time window's state is kept until time passes its
 * end + lateness.  Count windows ignore it. */
struct win_key;
struct win_key *win_key_new(const struct win_prog *p, int64_t lateness);
void win_key_free(struct win_key *k);
/* Empty the key (no windows, no time), keeping small buffers: a key
 * recycled for another key of the same rule allocates nothing. */
void win_key_reset(struct win_key *k);
/* Add an event (time ev->time).  Evaluates the aggregate arguments; with
 * on_update, fires a window whose `having` holds for the first time.  An
 * event behind windows that already closed (but within the lateness)
 * updates them and sends their corrections at once.  Returns false, adding
 * nothing, for an event some of whose windows are already final (time
 * passed their end + lateness; sessions: it might have joined one freed),
 * which the caller counts and sends to the late output.  An event not
 * older than env->now - lateness is never refused. */
bool win_key_add(struct win_key *k, const struct evt *ev, const struct win_env *env);
/* Time passed to now: every window whose end <= now closes (on_close:
 * fires if `having` holds); its state is freed once now >= end + lateness. */
void win_key_advance(struct win_key *k, int64_t now, const struct win_env *env);
/* Earliest time at which win_key_advance would close a window or free
 * state, or CEP_TIME_MAX. */
int64_t win_key_deadline(const struct win_key *k);
/* True when the key holds no state (no window open or awaiting late events). */
bool win_key_idle(const struct win_key *k);
/* Heap bytes the key holds (the key, its slices, sessions and aggregate
 * states, the sliding-window queue): a counter, O(1). */
size_t win_key_bytes(const struct win_key *k);
/* The same, recounted by walking every state: O(state), for tests that
 * check the counter. */
size_t win_key_bytes_walk(const struct win_key *k);
/* Reload: the key runs p from now on.  p must be compiled from the same
 * spec as the key's program (rule id and compiled hash unchanged); the old
 * program may then be freed. */
void win_key_rebind(struct win_key *k, const struct win_prog *p);
/* The one event the key holds a reference on (its latest), or NULL (always
 * with win_spec.no_event). */
struct evt *win_key_held_event(const struct win_key *k);
/* Checkpoints (win_snap.c): write the key's windows (slices, sessions,
 * count windows, the sliding-window running state, aggregate states,
 * revisions and fired marks, its held event through the table t) and read
 * them back into k, a key fresh from win_key_new (or reset) for the same
 * program.  After a load the key behaves exactly as the saved one would
 * have (same results, corrections and deadlines) and win_key_bytes
 * agrees with win_key_bytes_walk.  CEP_ERR (r->err says why, the key left
 * empty) on a malformed record. */
struct ckpt_w;
struct ckpt_r;
struct ckpt_evtab;
void win_key_save(const struct win_key *k, struct ckpt_w *w, struct ckpt_evtab *t);
int win_key_load(struct win_key *k, struct ckpt_r *r, struct ckpt_evtab *t);

#endif
