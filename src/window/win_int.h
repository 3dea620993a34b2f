/* SPDX-License-Identifier: Apache-2.0
 * Private interface of the window module: the mergeable aggregate state, the
 * aggregate-function table (agg.c), the compiled window program and the
 * per-key windows (win.c), shared with their checkpoint codec (win_snap.c).
 * An all-zero agg_state is the empty state of every function, so zeroed
 * slices need no per-function initialisation beyond agg_state_init.
 * Tested by: tests/unit/check_win.c, tests/unit/check_win_snap.c */
#ifndef CEPD_WIN_INT_H
#define CEPD_WIN_INT_H

#include "cepd/cep_common.h"
#include "cepd/win.h"

/* A set of 64-bit value hashes (distinct_count), open addressing with
 * linear probing.  A counted set (the running state of a sliding window)
 * also counts, per hash, the slices holding it, so that a slice leaving
 * the window can be taken back out. */
struct agg_hset {
    uint64_t *slots; /* 0 = empty; the hash 0 is kept in has_zero */
    uint32_t *cnt;   /* counted sets: slices per slot (allocated with slots) */
    size_t n;
    size_t cap; /* power of two */
    uint32_t zero_cnt; /* counted sets: slices holding the hash 0 */
    bool has_zero;
    bool counted;
};

/* One histogram bucket of percentile(): values in (g^(idx-1), g^idx]. */
struct agg_bucket {
    int32_t idx;
    uint64_t n;
};

/* percentile(): sparse log-bucketed histograms for positive values and for
 * the magnitudes of negative values, plus a count of zeros. */
struct agg_hist {
    struct agg_bucket *pos;
    size_t n_pos, pos_cap;
    struct agg_bucket *neg;
    size_t n_neg, neg_cap;
    uint64_t zeros;
};

/* The partial state of one aggregate over some events (a slice, a session,
 * a merged window).  n counts the inputs the function took (count(): the
 * events); n == 0 is the empty state. */
struct agg_state {
    uint64_t n;
    union {
        struct {
            int64_t i;
            double f;
            bool is_float; /* an input was a float or the int64 sum overflowed */
        } sum;             /* sum, avg */
        struct {
            struct val v;  /* strings/raw JSON point into buf */
            char *buf;     /* state-owned copy of v's bytes */
            uint32_t cap;
            int64_t t;     /* first/last: (time, seq) of the chosen event */
            uint64_t seq;
        } pick;            /* min, max, first, last */
        struct {
            double mean;
            double m2;
        } sd;              /* stddev (Welford; Chan et al. to merge) */
        struct agg_hset *set; /* distinct_count */
        struct agg_hist *hist; /* percentile */
    } u;
};

/* One aggregate function: defined once, in agg_defs[] (agg.c).  add and
 * merge return the heap bytes the state grew by (what bytes() gains), so
 * that a window key can keep its byte count without walking its states.
 * A sliding window keeps its running result in one of two ways (win.c):
 * functions with result2 by two stacks of partial states (their states are
 * small and merge in O(1)); functions with merge_sub/unmerge by one running
 * state that slices are folded into and taken back out of (distinct_count,
 * percentile: their states grow with the values seen, so partial states
 * per slice would not stay proportional to slices). */
struct agg_def {
    const char *name;
    int n_args;
    const char *doc;
    /* Take one non-null input v of event ev; a value of the wrong type is
     * skipped and counted in c->type_mismatch (c may be NULL). */
    size_t (*add)(struct agg_state *s, const struct val *v, const struct evt *ev,
                  struct expr_counters *c);
    /* Fold src into dst; src is unchanged. */
    size_t (*merge)(struct agg_state *dst, const struct agg_state *src);
    /* The result; strings point into s and live as long as s. */
    void (*result)(const struct agg_state *s, const struct agg_spec *spec, struct val *out);
    /* Free what the state owns (the struct itself belongs to the caller). */
    void (*fini)(struct agg_state *s);
    /* Heap bytes the state owns beyond sizeof(struct agg_state). */
    size_t (*bytes)(const struct agg_state *s);
    /* The result of merge(a, b) without building it (a may be NULL: empty);
     * strings point into a or b.  NULL for functions kept by subtraction. */
    void (*result2)(const struct agg_state *a, const struct agg_state *b,
                    const struct agg_spec *spec, struct val *out);
    /* Fold a slice's state src into a running state dst, so that unmerge
     * can take it back out; NULL for functions kept by two stacks. */
    size_t (*merge_sub)(struct agg_state *dst, const struct agg_state *src);
    /* Take a slice's state src, folded in earlier, back out of dst. */
    void (*unmerge)(struct agg_state *dst, const struct agg_state *src);
    /* Checkpoints: write the state (without pointers), and read one back
     * into an empty state.  load returns CEP_ERR on a malformed record (r->err
     * set), leaving s for fini; a loaded state is the saved one down to its
     * buffer sizes where they matter (a set's capacity and slot layout). */
    void (*save)(const struct agg_state *s, struct ckpt_w *w);
    int (*load)(struct agg_state *s, struct ckpt_r *r);
    /* The leading bytes of agg_state the functions use (n and their union
     * member): a slice keeps only these, so that count() takes 8 bytes of
     * it, not 56, and a slice spans fewer cache lines. */
    size_t state_size;
};

const struct agg_def *agg_def_get(enum agg_fn fn);
void agg_state_init(struct agg_state *s);

/* percentile(): the relative accuracy alpha of the histogram (1%). */
#define AGG_PCT_ALPHA 0.01

/* ---- the window key (win.c), here so that win_snap.c can write and read
 * it ------------------------------------------------------------------- */

struct win_prog {
    struct win_spec spec;       /* aggs points at our copy */
    struct agg_spec *aggs;
    const struct agg_def **defs;
    int32_t *arg_slot;          /* per aggregate: the slot its argument loads when it
                                 * is a bare field (sum(bytes)), else -1 */
    int64_t size, slide, w;     /* sliced types: window size, slide, slice width */
    bool queued;                /* sliced, more than one slice per window: the queue */
    size_t *ts;                 /* aggregates the queue keeps by two stacks */
    size_t n_ts;
    size_t *sub;                /* aggregates the queue keeps by subtraction */
    size_t n_sub;
    size_t *st_off;             /* per aggregate: its state's offset in a slice's st */
    size_t slice_bytes;         /* a slice with its states */
};

/* A slice (tumbling, sliding, count) or a session: the partial states of
 * the events in it.  start is the slice start (sessions: first_t).  The
 * lineage fields are the session's alerts (sliced windows keep theirs in
 * win_key.marks). */
struct win_slice {
    int64_t start;
    int64_t first_t;
    int64_t last_t;
    uint64_t last_seq;
    uint64_t n_events;
    int64_t id_start, id_end;   /* sessions: bounds when it first sent an alert */
    uint32_t n_alerts;          /* sessions: alerts sent (the next revision) */
    bool standing;              /* sessions: the latest alert is not a retraction */
    bool closed;                /* sessions: evaluated at its end since it last changed */
    bool fired;                 /* sessions, on_update: fired */
    uint64_t st[];              /* the aggregates' states, each state_size bytes at
                                 * its st_off (win_slice_st) */
};

/* The state of aggregate i in slice s.  It is only agg_def.state_size
 * bytes long: the functions of its aggregate never touch the rest. */
static inline struct agg_state *win_slice_st(const struct win_prog *p, const struct win_slice *s,
                                             size_t i)
{
    return (struct agg_state *)(void *)((char *)(uintptr_t)s->st + p->st_off[i]);
}

/* A sliced window that has sent an alert (on_update: fired), kept while a
 * late event may still change it. */
struct win_mark {
    int64_t start;
    uint32_t n_alerts;
    bool standing;
};

/* The queue of a sliding window over the slices with start in [lo, hi):
 * for the two-stack aggregates, the front [lo, mid) holds suffix merges
 * (acc[i] = merge of front slices i..end), the back [mid, hi) one running
 * merge; the subtracting aggregates keep one running state over [lo, hi).
 * valid is false after a late event changed a slice in [lo, hi): the next
 * query rebuilds. */
struct win_queue {
    int64_t lo, mid, hi;
    bool valid;
    int64_t *f_start;           /* front slices' starts, oldest first */
    struct agg_state *f_acc;    /* f_cap x n_ts */
    size_t f_head, f_n, f_cap;  /* live front entries: [f_head, f_n) */
    struct agg_state *back;     /* n_ts */
    struct agg_state *run;      /* n_sub */
    uint64_t n_events;
    int64_t last_t;             /* count windows: time of the newest slice's last event */
};

/* Slices a key holds without a separate array (a tumbling window needs 1-2). */
#define WIN_SL_SMALL 2

/* The fields an event's add, the idle test and the deadline read come
 * first, so that they share two cache lines (keys outnumber the cache: each
 * line is a miss). */
struct win_key {
    const struct win_prog *p;
    struct win_slice **sl;      /* sl[head .. head + n_sl): slices or sessions by start;
                                 * sl_small until more are needed */
    size_t head, n_sl;
    struct win_slice *sl_small[WIN_SL_SMALL];
    int64_t now;                /* latest time advanced to */
    int64_t lateness;
    int64_t next_start;         /* sliced types: windows starting before this have closed */
    int64_t skip_to;            /* sliced: windows before this need no evaluation at close */
    size_t n_marks;
    size_t bytes;               /* win_key_bytes */
    struct win_slice *spare;    /* a freed slice kept for the next (counted in bytes) */
    struct val *vals;           /* one result per aggregate, for the window being fired:
                                 * the thread's (expr_rt_results), set by each call */
    size_t sl_cap;
    struct win_mark *marks;     /* by start */
    size_t marks_cap;
    uint64_t n_seen;            /* count windows: events added */
    int64_t purged_to;          /* sessions: end of the latest session freed */
    struct evt *last;           /* latest event by (time, seq), referenced */
    struct win_queue q;         /* p->queued only */
};

/* Checkpoints: rebuild a valid queue over the key's slices with start in
 * [lo, mid) (the front) and [mid, hi) (the back and running states), as
 * pushes and a flip made it; lo <= mid <= hi.  Only the slice states and
 * their order matter, so the queue itself is never written. */
void win_queue_rebuild(struct win_key *k, int64_t lo, int64_t mid, int64_t hi);

#endif
