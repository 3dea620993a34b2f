/* SPDX-License-Identifier: Apache-2.0
 * Unit tests of the pattern matcher's checkpoints (src/nfa/nfa_snap.c).
 * Every FlinkCEP conformance case (tests/golden/nfa/flink_cases.inc) and
 * a few thousand random patterns and inputs are run uninterrupted, then
 * again once per cut point between two operations (advance or process):
 * run to the cut, save every key, load into fresh keys (events rebuilt
 * from their raw bytes through the event table), continue.  The output
 * (matches, timeouts and their timestamps, in order), each key's deadline,
 * partial-match count and buffer accounting after every operation must
 * equal the uninterrupted run's; save-load-save must give the same bytes;
 * the saved record truncated at every byte, or with any byte flipped, must
 * load cleanly or fail with the key left empty (ASan/LSan clean).
 * CEPD_SNAP_BENCH=1 adds a measurement of save/load over 1M partial
 * matches (printed, never asserted).
 * Tested by: itself (make check). */
#include "cepd/cep_common.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cepd/ckpt.h"
#include "cepd/diag.h"
#include "cepd/evt.h"
#include "cepd/expr.h"
#include "cepd/nfa.h"
#include "cepd/sbuf.h"

#include "../../src/nfa/nfa_int.h"
#include "nfa_harness.h"

#include "../golden/nfa/flink_cases.inc"

/* ---- harness ------------------------------------------------------- */

#define SNAP_SEP '\x1f' /* between the fields of an event's raw bytes */
#define SNAP_MAX_EVENTS 256
#define SNAP_MAX_KEYS 64
#define SNAP_DAMAGE_MAX 2048 /* damage the largest record up to this size */

struct harness {
    struct nfa_pat pat;
    struct sbuf log; /* one line per match or timeout, in emission order */
    int cur_key;
    uint64_t evicted;
    size_t n_made;   /* events made by the event table */
    struct nfa_env env;
};

/* The event's id: its raw bytes up to the first separator. */
static void log_match(struct harness *h, const struct nfa_match *m)
{
    sbuf_printf(&h->log, "k%d", h->cur_key);
    for (size_t i = 0; i < m->n; i++) {
        const struct evt *ev = m->events[i];
        const char *sep = memchr(ev->raw, SNAP_SEP, ev->raw_len);
        size_t len = sep ? (size_t)(sep - ev->raw) : ev->raw_len;
        sbuf_putc(&h->log, ' ');
        sbuf_append(&h->log, ev->raw, len);
        sbuf_printf(&h->log, ":%d", m->steps[i]);
    }
}

static void on_match(void *ud, const struct nfa_match *m)
{
    struct harness *h = ud;
    sbuf_puts(&h->log, "match ");
    log_match(h, m);
    sbuf_putc(&h->log, '\n');
}

static void on_timeout(void *ud, const struct nfa_match *m, int64_t ts)
{
    struct harness *h = ud;
    sbuf_puts(&h->log, "timeout ");
    log_match(h, m);
    sbuf_printf(&h->log, " @%" PRId64 "\n", ts);
}

static void harness_init(struct harness *h)
{
    memset(h, 0, sizeof(*h));
    nfa_pat_init(&h->pat);
    sbuf_init(&h->log);
    h->env.rt = h->pat.rt;
    h->env.work = h->pat.work;
    h->env.counters = &h->pat.cnt;
    h->env.evicted = &h->evicted;
    h->env.ud = h;
    h->env.on_match = on_match;
    h->env.on_timeout = on_timeout;
}

static void harness_fini(struct harness *h)
{
    sbuf_free(&h->log);
    nfa_pat_fini(&h->pat);
}

/* ---- events as raw bytes ------------------------------------------- */

/* "ID<sep>KEY=Tvalue<sep>..." with T one of s i b f: the only place an
 * event's fields live, so a restored event is decoded from its raw bytes
 * exactly like the original. */
static void event_encode(const struct tc_event *te, struct sbuf *sb)
{
    sbuf_reset(sb);
    sbuf_puts(sb, te->id);
    for (int i = 0; i < te->n; i++) {
        const struct tc_field *f = &te->f[i];
        sbuf_printf(sb, "%c%s=%c", SNAP_SEP, f->k, f->t);
        if (f->t == 's')
            sbuf_puts(sb, f->s);
        else
            sbuf_printf(sb, "%.17g", f->d);
    }
}

/* Decode raw into a new event; NULL when the bytes are not an event. */
static struct evt *event_decode(struct harness *h, const char *raw, size_t len, int64_t time,
                                uint64_t seq, uint64_t src_off)
{
    struct evt *ev = evt_new();
    evt_reset(ev, raw, len, h->pat.schema->n_slots);
    ev->time = time;
    ev->seq = seq;
    ev->src_off = src_off;
    ev->src_name = "case";
    const char *p = memchr(ev->raw, SNAP_SEP, len);
    const char *end = ev->raw + len;
    while (p && p < end) {
        const char *k = p + 1;
        const char *eq = memchr(k, '=', (size_t)(end - k));
        if (!eq || eq + 1 >= end)
            goto bad;
        char t = eq[1];
        const char *v = eq + 2;
        p = memchr(v, SNAP_SEP, (size_t)(end - v));
        size_t vlen = (size_t)((p ? p : end) - v);
        char key[32], num[64];
        if ((size_t)(eq - k) >= sizeof(key))
            goto bad;
        memcpy(key, k, (size_t)(eq - k));
        key[eq - k] = '\0';
        const struct evt_schema_node *node = evt_schema_child(&h->pat.schema->root, key, strlen(key));
        if (!node || node->slot < 0)
            goto bad;
        struct val *slot = &ev->slots[node->slot];
        if (t == 's') {
            if (ev->scratch_len + vlen + 1 > ev->scratch_cap)
                goto bad;
            char *s = ev->scratch + ev->scratch_len;
            memcpy(s, v, vlen);
            s[vlen] = '\0';
            ev->scratch_len += (uint32_t)vlen + 1;
            *slot = val_str(s, vlen);
            continue;
        }
        if (vlen >= sizeof(num))
            goto bad;
        memcpy(num, v, vlen);
        num[vlen] = '\0';
        double d = strtod(num, NULL);
        if (t == 'i')
            *slot = val_int((int64_t)d);
        else if (t == 'b')
            *slot = val_bool(d != 0);
        else if (t == 'f')
            *slot = val_float(d);
        else
            goto bad;
    }
    return ev;
bad:
    evt_unref(ev);
    return NULL;
}

static struct evt *make_evt(void *ud, uint32_t stream, int64_t time, uint64_t seq,
                            const char *src_name, uint64_t src_off, const char *raw,
                            size_t raw_len)
{
    struct harness *h = ud;
    if (stream != 0 || strcmp(src_name, "case") != 0)
        return NULL;
    struct evt *ev = event_decode(h, raw, raw_len, time, seq, src_off);
    if (ev)
        h->n_made++;
    return ev;
}

/* ---- the operations of a case -------------------------------------- */

enum op_kind {
    OP_ADVANCE = 0,
    OP_PROCESS,
    OP_COUNT
};

struct op {
    enum op_kind kind;
    int key;
    int ev;    /* OP_PROCESS */
    int64_t t; /* OP_ADVANCE */
};

struct plan {
    struct op *ops;
    size_t n_ops, cap_ops;
    int n_keys;
    const char *val[SNAP_MAX_KEYS];
    double num[SNAP_MAX_KEYS];
};

static void plan_push(struct plan *pl, enum op_kind kind, int key, int ev, int64_t t)
{
    CEP_GROW(pl->ops, pl->cap_ops, pl->n_ops + 1);
    pl->ops[pl->n_ops++] = (struct op){kind, key, ev, t};
}

static int plan_key(struct plan *pl, const struct tc_case *c, const struct tc_event *te)
{
    double d;
    const char *v = tc_partition(c, te, &d);
    for (int i = 0; i < pl->n_keys; i++) {
        if (strcmp(pl->val[i], v) == 0 && pl->num[i] == d)
            return i;
    }
    ck_assert_int_lt(pl->n_keys, SNAP_MAX_KEYS);
    pl->val[pl->n_keys] = v;
    pl->num[pl->n_keys] = d;
    return pl->n_keys++;
}

/* The calls check_nfa's harness makes for case c, in order: per event
 * advance then process (nfa modes), or events buffered and released by
 * watermarks, each key advanced to the watermark (event time). */
static void plan_build(struct plan *pl, const struct tc_case *c)
{
    memset(pl, 0, sizeof(*pl));
    if (strcmp(c->mode, "operator_event_time") != 0) {
        for (int i = 0; i < c->n_events; i++) {
            int k = plan_key(pl, c, &c->events[i]);
            plan_push(pl, OP_ADVANCE, k, -1, c->events[i].ts);
            plan_push(pl, OP_PROCESS, k, i, 0);
        }
        return;
    }
    struct buffered buf[SNAP_MAX_EVENTS];
    int n_buf = 0;
    int64_t wm = INT64_MIN;
    for (int si = 0; si <= c->n_stream; si++) {
        const struct tc_item *it = &c->stream[si];
        bool end = si == c->n_stream;
        int64_t w = end ? INT64_MAX : it->wm;
        if (end && !c->final_inf)
            break;
        if (!end && it->id) {
            int idx = -1;
            for (int i = 0; i < c->n_events; i++) {
                if (strcmp(c->events[i].id, it->id) == 0)
                    idx = i;
            }
            ck_assert_int_ge(idx, 0);
            if (c->events[idx].ts <= wm)
                continue;
            ck_assert_int_lt(n_buf, SNAP_MAX_EVENTS);
            buf[n_buf].idx = idx;
            buf[n_buf].ts = c->events[idx].ts;
            buf[n_buf].price = c->same_ts_order ? num_field(&c->events[idx], "price") : 0;
            n_buf++;
            continue;
        }
        if (w <= wm)
            continue;
        wm = w;
        qsort(buf, (size_t)n_buf, sizeof(*buf), cmp_buffered);
        int keep = 0;
        for (int j = 0; j < n_buf; j++) {
            if (buf[j].ts > w) {
                buf[keep++] = buf[j];
                continue;
            }
            int k = plan_key(pl, c, &c->events[buf[j].idx]);
            plan_push(pl, OP_ADVANCE, k, -1, buf[j].ts);
            plan_push(pl, OP_PROCESS, k, buf[j].idx, 0);
        }
        n_buf = keep;
        for (int k = 0; k < pl->n_keys; k++)
            plan_push(pl, OP_ADVANCE, k, -1, w);
    }
}

/* What an uninterrupted run gives: the log and, after every operation,
 * each key's deadline and partial-match count. */
struct reference {
    char *log;
    int64_t *deadline; /* [op * n_keys + key] */
    size_t *n_partial;
    uint64_t evicted;
};

static void exec_op(struct harness *h, struct nfa_key **keys, const struct op *o,
                    struct evt **evs)
{
    h->cur_key = o->key;
    if (o->kind == OP_ADVANCE)
        nfa_key_advance(keys[o->key], o->t, &h->env);
    else
        nfa_key_process(keys[o->key], evs[o->ev], &h->env);
}

static void reference_run(struct harness *h, const struct plan *pl, struct evt **evs,
                          struct reference *ref)
{
    size_t nk = (size_t)pl->n_keys;
    struct nfa_key *keys[SNAP_MAX_KEYS];
    for (size_t k = 0; k < nk; k++)
        keys[k] = nfa_key_new(h->pat.prog);
    ref->deadline = cep_calloc(pl->n_ops * nk + 1, sizeof(*ref->deadline));
    ref->n_partial = cep_calloc(pl->n_ops * nk + 1, sizeof(*ref->n_partial));
    sbuf_reset(&h->log);
    h->evicted = 0;
    for (size_t i = 0; i < pl->n_ops; i++) {
        exec_op(h, keys, &pl->ops[i], evs);
        for (size_t k = 0; k < nk; k++) {
            ref->deadline[i * nk + k] = nfa_key_deadline(keys[k]);
            ref->n_partial[i * nk + k] = nfa_key_n_partial(keys[k]);
        }
    }
    ref->log = cep_strdup(h->log.len ? h->log.buf : "");
    ref->evicted = h->evicted;
    for (size_t k = 0; k < nk; k++)
        nfa_key_free(keys[k]);
}

static void reference_free(struct reference *ref)
{
    cep_free(ref->log);
    cep_free(ref->deadline);
    cep_free(ref->n_partial);
}

static void save_keys(struct nfa_key **keys, size_t nk, struct sbuf *out)
{
    sbuf_reset(out);
    struct ckpt_w w = {out};
    struct ckpt_evtab *t = ckpt_evtab_writer();
    for (size_t k = 0; k < nk; k++)
        nfa_key_save(keys[k], &w, t);
    ckpt_evtab_free(t);
}

struct find_ev {
    struct evt **evs;
    int n;
    int found;
};

static void find_ev(void *ud, struct evt *ev)
{
    struct find_ev *f = ud;
    for (int i = 0; i < f->n; i++)
        f->found += f->evs[i] == ev;
}

/* The distinct events the keys hold (evs[] by index into seen). */
static void mark_ev(void *ud, struct evt *ev)
{
    bool *seen = ud;
    seen[ev->src_off] = true;
}

/* What the runs covered, so a test can show its cases are not trivial. */
struct snap_stats {
    size_t cuts;
    size_t cuts_partial; /* cut points with a partial match saved */
    size_t cuts_held;    /* ... with a held-back completed match saved */
    size_t matches;
    size_t timeouts;
};

static size_t count_lines(const char *log, const char *prefix)
{
    size_t n = 0, len = strlen(prefix);
    for (const char *p = log; p; p = strchr(p, '\n')) {
        p += *p == '\n';
        n += strncmp(p, prefix, len) == 0;
    }
    return n;
}

/* Run to cut, save, load into fresh keys, check they equal the saved ones,
 * continue, and compare with the reference.  The saved record goes to rec. */
static void cut_run(struct harness *h, const struct plan *pl, struct evt **evs, int n_evs,
                    size_t cut, const struct reference *ref, struct sbuf *rec,
                    struct snap_stats *st)
{
    size_t nk = (size_t)pl->n_keys;
    struct nfa_key *old[SNAP_MAX_KEYS], *keys[SNAP_MAX_KEYS];
    for (size_t k = 0; k < nk; k++)
        old[k] = nfa_key_new(h->pat.prog);
    sbuf_reset(&h->log);
    h->evicted = 0;
    for (size_t i = 0; i < cut; i++)
        exec_op(h, old, &pl->ops[i], evs);

    save_keys(old, nk, rec);
    bool seen[SNAP_MAX_EVENTS] = {false};
    size_t n_distinct = 0;
    for (size_t k = 0; k < nk; k++)
        nfa_key_each_event(old[k], mark_ev, seen);
    for (int i = 0; i < n_evs; i++)
        n_distinct += seen[i];
    h->n_made = 0;
    struct ckpt_evtab *t = ckpt_evtab_reader(make_evt, h);
    struct ckpt_r r;
    ckpt_r_init(&r, rec->buf, rec->len);
    for (size_t k = 0; k < nk; k++) {
        keys[k] = nfa_key_new(h->pat.prog);
        int rc = nfa_key_load(keys[k], &r, t);
        ck_assert_msg(rc == CEP_OK, "cut %zu key %zu: %s", cut, k, r.err ? r.err : "?");
    }
    ck_assert_ptr_null(r.err);
    ck_assert_msg(r.p == r.end, "cut %zu: %zu bytes left", cut, (size_t)(r.end - r.p));
    ckpt_evtab_free(t);
    ck_assert_uint_eq(h->n_made, n_distinct); /* each event written and made once */

    struct sbuf again;
    sbuf_init(&again);
    save_keys(keys, nk, &again);
    bool same = again.len == rec->len && (!rec->len || !memcmp(again.buf, rec->buf, rec->len));
    ck_assert_msg(same, "cut %zu: save-load-save differs", cut);
    sbuf_free(&again);

    bool any_partial = false, any_held = false;
    for (size_t k = 0; k < nk; k++) {
        const struct nfa_key *a = old[k], *b = keys[k];
        any_partial = any_partial || a->n_runs;
        any_held = any_held || a->n_done;
        ck_assert_uint_eq(nfa_key_n_partial(b), nfa_key_n_partial(a));
        ck_assert_uint_eq(b->n_done, a->n_done);
        ck_assert_int_eq(nfa_key_deadline(b), nfa_key_deadline(a));
        ck_assert_int_eq(b->now, a->now);
        ck_assert(nfa_key_idle(b) == nfa_key_idle(a));
        ck_assert_uint_eq(b->buf.n_live, a->buf.n_live);
        ck_assert_uint_eq(b->buf.ev_bytes, a->buf.ev_bytes);
        ck_assert_uint_le(nfa_key_bytes(b), nfa_key_bytes(a));
        ck_assert_uint_ge(nfa_key_bytes(b), b->buf.ev_bytes + b->n_runs * sizeof(struct nfa_run));
        struct find_ev f = {evs, n_evs, 0};
        nfa_key_each_event(b, find_ev, &f);
        ck_assert_int_eq(f.found, 0); /* every event was rebuilt from bytes */
        nfa_key_free(old[k]);
    }
    st->cuts++;
    st->cuts_partial += any_partial;
    st->cuts_held += any_held;
    for (size_t i = cut; i < pl->n_ops; i++) {
        exec_op(h, keys, &pl->ops[i], evs);
        for (size_t k = 0; k < nk; k++) {
            ck_assert_msg(nfa_key_deadline(keys[k]) == ref->deadline[i * nk + k],
                          "cut %zu op %zu key %zu: deadline", cut, i, k);
            ck_assert_msg(nfa_key_n_partial(keys[k]) == ref->n_partial[i * nk + k],
                          "cut %zu op %zu key %zu: partial matches", cut, i, k);
        }
    }
    ck_assert_msg(strcmp(h->log.len ? h->log.buf : "", ref->log) == 0,
                  "cut %zu:\n--- restored\n%s--- uninterrupted\n%s", cut,
                  h->log.len ? h->log.buf : "", ref->log);
    ck_assert_uint_eq(h->evicted, ref->evicted);
    for (size_t k = 0; k < nk; k++) {
        if (nfa_key_idle(keys[k])) {
            ck_assert_uint_eq(keys[k]->buf.n_live, 0);
            ck_assert_uint_eq(keys[k]->buf.ev_bytes, 0);
        }
        nfa_key_free(keys[k]);
    }
    for (int i = 0; i < n_evs; i++)
        ck_assert_int_eq(evs[i]->refcnt, 1);
}

/* Load every key of rec[0..len) until one fails; true if one did (the
 * failed key must then be empty). */
static bool load_damaged(struct harness *h, const struct plan *pl, const char *rec, size_t len)
{
    struct ckpt_evtab *t = ckpt_evtab_reader(make_evt, h);
    struct ckpt_r r;
    ckpt_r_init(&r, rec, len);
    bool failed = false;
    for (int k = 0; k < pl->n_keys && !failed; k++) {
        struct nfa_key *key = nfa_key_new(h->pat.prog);
        if (nfa_key_load(key, &r, t) != CEP_OK) {
            failed = true;
            ck_assert_ptr_nonnull(r.err);
            ck_assert(nfa_key_idle(key));
            ck_assert_uint_eq(nfa_key_n_partial(key), 0);
            ck_assert_uint_eq(key->buf.n_live, 0);
            ck_assert_uint_eq(key->buf.ev_bytes, 0);
            ck_assert_int_eq(nfa_key_deadline(key), CEP_TIME_MAX);
            ck_assert_int_eq(key->now, CEP_TIME_MIN);
        }
        nfa_key_free(key);
    }
    ckpt_evtab_free(t);
    return failed;
}

/* Every truncation fails; every flipped byte loads or fails cleanly. */
static void damage_run(struct harness *h, const struct plan *pl, const struct sbuf *rec)
{
    char *copy = cep_malloc(rec->len ? rec->len : 1);
    for (size_t len = 0; len < rec->len; len++) {
        memcpy(copy, rec->buf, len); /* a fresh buffer, so ASan sees reads past len */
        ck_assert_msg(load_damaged(h, pl, copy, len), "truncated at %zu of %zu loaded", len,
                      rec->len);
    }
    static const uint8_t flips[] = {0x01, 0x02, 0x40, 0x80, 0xff};
    for (size_t i = 0; i < rec->len; i++) {
        for (size_t f = 0; f < CEP_ARRAY_LEN(flips); f++) {
            memcpy(copy, rec->buf, rec->len);
            copy[i] = (char)(copy[i] ^ flips[f]);
            load_damaged(h, pl, copy, rec->len);
        }
    }
    cep_free(copy);
}

/* Run case c at every cut point, then damage the largest record saved
 * (up to SNAP_DAMAGE_MAX bytes: damage costs its length squared). */
static void check_case(const struct tc_case *c, uint32_t max_partial, struct snap_stats *st)
{
    struct harness h;
    harness_init(&h);
    h.env.max_partial = max_partial;
    nfa_pat_build(&h.pat, c);
    struct evt *evs[SNAP_MAX_EVENTS];
    ck_assert_int_le(c->n_events, SNAP_MAX_EVENTS);
    struct sbuf raw;
    sbuf_init(&raw);
    for (int i = 0; i < c->n_events; i++) {
        event_encode(&c->events[i], &raw);
        evs[i] = event_decode(&h, raw.buf, raw.len, c->events[i].ts, (uint64_t)i, (uint64_t)i);
        ck_assert_ptr_nonnull(evs[i]);
    }
    sbuf_free(&raw);
    struct plan pl;
    plan_build(&pl, c);
    struct reference ref;
    reference_run(&h, &pl, evs, &ref);
    st->matches += count_lines(ref.log, "match ");
    st->timeouts += count_lines(ref.log, "timeout ");
    struct sbuf rec, biggest;
    sbuf_init(&rec);
    sbuf_init(&biggest);
    for (size_t cut = 0; cut <= pl.n_ops; cut++) {
        cut_run(&h, &pl, evs, c->n_events, cut, &ref, &rec, st);
        if (rec.len > biggest.len && rec.len <= SNAP_DAMAGE_MAX) {
            sbuf_reset(&biggest);
            sbuf_append(&biggest, rec.buf, rec.len);
        }
    }
    damage_run(&h, &pl, &biggest);
    sbuf_free(&rec);
    sbuf_free(&biggest);
    reference_free(&ref);
    cep_free(pl.ops);
    for (int i = 0; i < c->n_events; i++)
        evt_unref(evs[i]);
    harness_fini(&h);
}

START_TEST(test_flink_case_cuts)
{
    struct snap_stats st = {0};
    check_case(tc_all[_i], 0, &st);
}
END_TEST

/* ---- random patterns ----------------------------------------------- */

/* splitmix64 */
struct rng {
    uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint32_t below(struct rng *r, uint32_t n)
{
    return (uint32_t)(rng_next(r) % n);
}

static bool chance(struct rng *r, uint32_t percent)
{
    return below(r, 100) < percent;
}

#define GEN_MAX_STEPS 8
#define GEN_MAX_EVENTS 14

static const char *const gen_syms[] = {"a", "b", "c", "d"};
static const char *const gen_step_names[GEN_MAX_STEPS] = {"s0", "s1", "s2", "s3",
                                                          "s4", "s5", "s6", "s7"};
static const char *const gen_ids[GEN_MAX_EVENTS] = {"e1", "e2", "e3", "e4", "e5",
                                                    "e6", "e7", "e8", "e9", "e10",
                                                    "e11", "e12", "e13", "e14"};

/* Storage for one generated case. */
struct gen {
    struct tc_case c;
    struct tc_step steps[GEN_MAX_STEPS];
    char when[GEN_MAX_STEPS][160];
    struct tc_event events[GEN_MAX_EVENTS];
    struct tc_item stream[2 * GEN_MAX_EVENTS];
};

static const char *gen_when(struct rng *r, char *buf, size_t cap, int index)
{
    uint32_t mask = 0;
    while (!mask || mask == 15)
        mask = below(r, 16);
    if (chance(r, 10))
        return NULL;
    size_t len = 0;
    buf[len++] = '(';
    for (uint32_t b = 0; b < 4; b++) {
        if (!((mask >> b) & 1u))
            continue;
        len += (size_t)snprintf(buf + len, cap - len, "%sname == '%s'", len > 1 ? " or " : "",
                                gen_syms[b]);
    }
    len += (size_t)snprintf(buf + len, cap - len, ")");
    if (index > 0 && chance(r, 15))
        snprintf(buf + len, cap - len, " and price >= s0.last.price");
    return buf;
}

static enum nfa_contig gen_contig(struct rng *r)
{
    return (enum nfa_contig)below(r, NFA_CONTIG_COUNT);
}

/* A single required step: the neighbour a negation needs. */
static bool gen_single(const struct tc_step *s)
{
    return s->min == 1 && s->max == 1 && !s->optional && !s->negated;
}

static void gen_step(struct rng *r, struct gen *g, int i)
{
    struct tc_step *s = &g->steps[i];
    memset(s, 0, sizeof(*s));
    s->name = gen_step_names[i];
    s->when = gen_when(r, g->when[i], sizeof(g->when[i]), i);
    s->min = s->max = 1;
    switch (below(r, 8)) {
        case 0:
            s->min = s->max = 2 + below(r, 2);
            break;
        case 1:
            s->min = 1 + below(r, 2);
            s->max = s->min + 1 + below(r, 2);
            break;
        case 2:
        case 3:
            s->min = 1 + below(r, 2);
            s->max = NFA_UNBOUNDED;
            break;
        default:
            break;
    }
    s->optional = chance(r, 20);
    s->after = gen_contig(r);
    s->loop = s->max > 1 ? gen_contig(r) : NFA_CONTIG_RELAXED;
    s->greedy = s->max > 1 && chance(r, 25);
    if (s->max == NFA_UNBOUNDED && chance(r, 25))
        s->until = "name == 'd'";
    s->within = chance(r, 15) ? 2 + below(r, 4) : 0;
    s->gfirst = -1;
}

static void gen_negation(struct rng *r, struct gen *g, int i, bool trailing)
{
    struct tc_step *s = &g->steps[i];
    memset(s, 0, sizeof(*s));
    s->name = gen_step_names[i];
    s->when = gen_when(r, g->when[i], sizeof(g->when[i]), 0);
    s->min = s->max = 1;
    s->negated = 1;
    s->after = trailing || chance(r, 50) ? NFA_CONTIG_RELAXED : NFA_CONTIG_STRICT;
    s->loop = NFA_CONTIG_RELAXED;
    s->gfirst = -1;
}

static void gen_case(struct rng *r, struct gen *g)
{
    memset(g, 0, sizeof(*g));
    int n = 0;
    int n_main = 1 + (int)below(r, 3);
    bool required = false, trailing = false;
    for (int m = 0; m < n_main; m++) {
        gen_step(r, g, n);
        if (m + 1 < n_main && gen_single(&g->steps[n]) && chance(r, 25)) {
            n++;
            gen_negation(r, g, n, false);
            n++;
            gen_step(r, g, n);
            g->steps[n].optional = 0;
            m++;
        }
        required = required || !g->steps[n].optional;
        n++;
    }
    if (!required)
        g->steps[0].optional = 0;
    if (gen_single(&g->steps[n - 1]) && chance(r, 20)) {
        gen_negation(r, g, n, true);
        n++;
        trailing = true;
    }
    struct tc_case *c = &g->c;
    c->id = "random";
    c->mode = "operator_event_time";
    c->n_top = c->n_flat = n;
    c->steps = g->steps;
    c->within = trailing || chance(r, 30) ? 3 + below(r, 6) : 0;
    c->skip = (enum nfa_skip)below(r, NFA_SKIP_COUNT);
    c->skip_step = -1;
    if (c->skip == NFA_SKIP_TO_FIRST || c->skip == NFA_SKIP_TO_LAST) {
        do
            c->skip_step = (int)below(r, (uint32_t)n);
        while (g->steps[c->skip_step].negated);
    }
    c->n_events = 4 + (int)below(r, GEN_MAX_EVENTS - 3);
    int64_t ts = 1;
    for (int i = 0; i < c->n_events; i++) {
        struct tc_event *e = &g->events[i];
        e->id = gen_ids[i];
        ts += below(r, 3);
        e->ts = ts;
        e->n = 2;
        e->f[0] = (struct tc_field){"name", 's', gen_syms[below(r, 4)], 0};
        e->f[1] = (struct tc_field){"price", 'f', NULL, (double)(1 + below(r, 4))};
    }
    c->events = g->events;
    /* Arrival order: time order with a few neighbours swapped, watermarks
     * now and then at (or just below) the latest time seen. */
    int order[GEN_MAX_EVENTS];
    for (int i = 0; i < c->n_events; i++)
        order[i] = i;
    for (int i = 0; i + 1 < c->n_events; i++) {
        if (chance(r, 15)) {
            int t = order[i];
            order[i] = order[i + 1];
            order[i + 1] = t;
        }
    }
    int64_t seen = 0;
    for (int i = 0; i < c->n_events; i++) {
        const struct tc_event *e = &g->events[order[i]];
        g->stream[c->n_stream++] = (struct tc_item){e->id, 0};
        seen = e->ts > seen ? e->ts : seen;
        if (chance(r, 35))
            g->stream[c->n_stream++] = (struct tc_item){NULL, seen - below(r, 2)};
    }
    c->stream = g->stream;
    c->final_inf = chance(r, 50);
    c->partition_by = chance(r, 20) ? "price" : NULL;
    c->n_late = -1;
}

START_TEST(test_random_cuts)
{
    const char *s = getenv("CEPD_SNAP_TRIALS");
    uint64_t trials = s && *s ? strtoull(s, NULL, 0) : 400;
    struct rng r = {UINT64_C(0x5eed) + (uint64_t)_i * UINT64_C(1000003)};
    struct snap_stats st = {0};
    for (uint64_t t = 0; t < trials; t++) {
        struct gen g;
        gen_case(&r, &g);
        check_case(&g.c, chance(&r, 20) ? 3 : 0, &st);
    }
    printf("check_nfa_snap: %" PRIu64 " random cases, %zu cut points (%zu with partial "
           "matches, %zu with held-back matches), %zu matches, %zu timeouts\n",
           trials, st.cuts, st.cuts_partial, st.cuts_held, st.matches, st.timeouts);
    if (trials >= 100) {
        ck_assert_uint_gt(st.cuts_partial, st.cuts / 4);
        ck_assert_uint_gt(st.cuts_held, 0);
        ck_assert_uint_gt(st.matches, trials);
        ck_assert_uint_gt(st.timeouts, 0);
    }
}
END_TEST

/* ---- size and speed ------------------------------------------------ */

/* a followedBy b followedBy c within 1 h: the "typical" 3-step rule. */
static const struct tc_step three_steps[] = {
    {"s0", "name == 'a'", NULL, 1, 1, 0, 0, NFA_CONTIG_RELAXED, NFA_CONTIG_RELAXED, 0, 0, -1, 0},
    {"s1", "name == 'b'", NULL, 1, 1, 0, 0, NFA_CONTIG_RELAXED, NFA_CONTIG_RELAXED, 0, 0, -1, 0},
    {"s2", "name == 'c'", NULL, 1, 1, 0, 0, NFA_CONTIG_RELAXED, NFA_CONTIG_RELAXED, 0, 0, -1, 0},
};

/* A key fed n_events alternating a and b: n_events / 2 partial matches,
 * each holding its a and its b and waiting for c. */
static struct nfa_key *three_step_key(struct harness *h, size_t n_events, uint64_t seq0)
{
    struct tc_case c = {.id = "three", .mode = "nfa", .n_top = 3, .steps = three_steps,
                        .n_flat = 3, .within = 3600 * CEP_USEC_PER_SEC, .skip_step = -1};
    if (!h->pat.prog)
        nfa_pat_build(&h->pat, &c);
    h->env.max_partial = UINT32_MAX;
    struct nfa_key *k = nfa_key_new(h->pat.prog);
    struct sbuf raw;
    sbuf_init(&raw);
    for (size_t i = 0; i < n_events; i++) {
        char id[32];
        snprintf(id, sizeof(id), "x%zu", i);
        struct tc_event te = {id, 0, 2, {{"name", 's', i % 2 ? "b" : "a", 0},
                                          {"price", 'f', NULL, (double)i}}};
        event_encode(&te, &raw);
        int64_t ts = INT64_C(1700000000000000) + (int64_t)i * 1000;
        struct evt *ev = event_decode(h, raw.buf, raw.len, ts, seq0 + i, seq0 + i);
        nfa_key_advance(k, ts, &h->env);
        nfa_key_process(k, ev, &h->env);
        evt_unref(ev);
    }
    sbuf_free(&raw);
    return k;
}

START_TEST(test_size_three_steps)
{
    struct harness h;
    harness_init(&h);
    struct nfa_key *k = three_step_key(&h, 400, 0);
    size_t n = nfa_key_n_partial(k);
    ck_assert_uint_eq(n, 200);
    /* With events written in full, then again with every event already in
     * the table (what a partial match itself costs). */
    struct sbuf full, bare;
    sbuf_init(&full);
    sbuf_init(&bare);
    struct ckpt_w wf = {&full}, wb = {&bare};
    struct ckpt_evtab *t = ckpt_evtab_writer();
    nfa_key_save(k, &wf, t);
    nfa_key_save(k, &wb, t);
    ckpt_evtab_free(t);
    printf("check_nfa_snap: 3-step pattern, %zu partial matches: %.1f bytes each with events, "
           "%.1f without\n",
           n, (double)full.len / (double)n, (double)bare.len / (double)n);
    /* per run: 2 nodes, a state, 3 time/seq deltas, small varints */
    ck_assert_uint_le(bare.len, n * 16 + 16);
    ck_assert_uint_lt(bare.len, full.len);
    sbuf_free(&full);
    sbuf_free(&bare);
    nfa_key_free(k);
    harness_fini(&h);
}
END_TEST

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 1M partial matches in 5000 keys of 200: save all (one table), load all. */
START_TEST(test_bench_million)
{
    if (!getenv("CEPD_SNAP_BENCH"))
        return;
    enum { N_KEYS = 5000, PER_KEY = 200 };
    struct harness h;
    harness_init(&h);
    struct nfa_key *tmpl = three_step_key(&h, 2 * PER_KEY, 0);
    struct sbuf one, all;
    sbuf_init(&one);
    sbuf_init(&all);
    save_keys(&tmpl, 1, &one);
    nfa_key_free(tmpl);
    /* Fill: every key loads the template with its own table, so its
     * events are its own. */
    struct nfa_key **keys = cep_malloc(N_KEYS * sizeof(*keys));
    for (size_t i = 0; i < N_KEYS; i++) {
        keys[i] = nfa_key_new(h.pat.prog);
        struct ckpt_evtab *t = ckpt_evtab_reader(make_evt, &h);
        struct ckpt_r r;
        ckpt_r_init(&r, one.buf, one.len);
        ck_assert_int_eq(nfa_key_load(keys[i], &r, t), CEP_OK);
        ckpt_evtab_free(t);
    }
    double t0 = now_s();
    save_keys(keys, N_KEYS, &all);
    double t1 = now_s();
    for (size_t i = 0; i < N_KEYS; i++)
        nfa_key_free(keys[i]);
    struct ckpt_evtab *t = ckpt_evtab_reader(make_evt, &h);
    struct ckpt_r r;
    ckpt_r_init(&r, all.buf, all.len);
    double t2 = now_s();
    for (size_t i = 0; i < N_KEYS; i++) {
        keys[i] = nfa_key_new(h.pat.prog);
        ck_assert_int_eq(nfa_key_load(keys[i], &r, t), CEP_OK);
    }
    double t3 = now_s();
    ckpt_evtab_free(t);
    size_t n = 0;
    for (size_t i = 0; i < N_KEYS; i++) {
        n += nfa_key_n_partial(keys[i]);
        nfa_key_free(keys[i]);
    }
    printf("check_nfa_snap: %zu partial matches, %zu bytes: save %.3f s, load %.3f s "
           "(events decoded included)\n",
           n, all.len, t1 - t0, t3 - t2);
    cep_free(keys);
    sbuf_free(&one);
    sbuf_free(&all);
    harness_fini(&h);
}
END_TEST

static Suite *nfa_snap_suite(void)
{
    Suite *s = suite_create("nfa_snap");
    TCase *tc = tcase_create("flink_corpus");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_flink_case_cuts, 0, (int)CEP_ARRAY_LEN(tc_all));
    suite_add_tcase(s, tc);
    tc = tcase_create("random");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_random_cuts, 0, 2);
    suite_add_tcase(s, tc);
    tc = tcase_create("size");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_size_three_steps);
    tcase_add_test(tc, test_bench_million);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(nfa_snap_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
