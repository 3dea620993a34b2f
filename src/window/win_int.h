/* SPDX-License-Identifier: Apache-2.0
 * Private interface of the window module: the mergeable aggregate state, the
 * aggregate-function table (agg.c) and the compiled window program (win.c).
 * An all-zero agg_state is the empty state of every function, so zeroed
 * slices need no per-function initialisation beyond agg_state_init.
 * Tested by: tests/unit/check_win.c */
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
};

const struct agg_def *agg_def_get(enum agg_fn fn);
void agg_state_init(struct agg_state *s);

/* percentile(): the relative accuracy alpha of the histogram (1%). */
#define AGG_PCT_ALPHA 0.01

#endif
