/* SPDX-License-Identifier: Apache-2.0
 * Windowed aggregates (design §2.4): per-key windows in event time
 * (tumbling, sliding over shared slices, session with merging, count),
 * mergeable aggregate states (count, sum, avg, min, max, first, last,
 * distinct_count, stddev, percentile), `having` on the result, and firing
 * on close (when time passes the window end) or on update (once per window,
 * as soon as `having` first holds).  The rule loader describes a rule as a
 * win_spec, win_compile makes a program, and the engine keeps one win_key
 * per key, pushing events and time in; nothing here reads a clock.
 * Windows are [start, end): start inclusive, end exclusive.
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

/* A window's result, valid during the callback. */
struct win_result {
    int64_t start;            /* window start (count windows: index of its first event) */
    int64_t end;              /* window end, exclusive (count windows: index after the last) */
    int64_t time;             /* event time of the result: end - 1us for time windows,
                               * the last event's time for count windows */
    const struct val *values; /* one per aggregate, in spec order */
    uint64_t n_events;
    const struct evt *last;   /* the window's latest event (for key and message fields) */
    bool by_count;            /* a count window: start/end are event indexes */
};

struct win_env {
    struct expr_rt *rt;
    struct expr_counters *counters;
    void *ud;
    void (*on_fire)(void *ud, const struct win_result *r);
};

/* The windows of one key. */
struct win_key;
struct win_key *win_key_new(const struct win_prog *p);
void win_key_free(struct win_key *k);
/* Add an event (time ev->time).  Evaluates the aggregate arguments; with
 * on_update, fires a window whose `having` holds for the first time. */
void win_key_add(struct win_key *k, const struct evt *ev, const struct win_env *env);
/* Time passed to now: every window whose end <= now closes (on_close:
 * fires if `having` holds) and its state is freed. */
void win_key_advance(struct win_key *k, int64_t now, const struct win_env *env);
/* Earliest time at which win_key_advance would close a window, or
 * CEP_TIME_MAX. */
int64_t win_key_deadline(const struct win_key *k);
/* True when the key holds no open window. */
bool win_key_idle(const struct win_key *k);
size_t win_key_bytes(const struct win_key *k);

#endif
