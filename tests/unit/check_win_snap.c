/* SPDX-License-Identifier: Apache-2.0
 * Unit tests of window checkpoints (src/window/win_snap.c and the
 * aggregates' save/load in agg.c): for every window type, with every
 * aggregate function, on random input with a fixed seed (out-of-order and
 * late events within the lateness, time advancing without events, session
 * merges, count windows with slide, on_close and on_update), a run that is
 * saved and loaded into a fresh key at a cut point fires exactly what the
 * uninterrupted run fires, at many cut points; save-load-save is
 * byte-identical; the byte counter matches a walk after a load; a record
 * truncated at any byte, or with a byte changed, fails cleanly (run under
 * ASan for leaks).
 * Tested by: itself (make check). */
#include "cepd/cep_common.h"

#include <check.h>
#include <string.h>

#include "cepd/ckpt.h"
#include "cepd/diag.h"
#include "cepd/evt.h"
#include "cepd/expr.h"
#include "cepd/sbuf.h"
#include "cepd/win.h"

#include "win_fx.h"

/* One step of the input: an event at t (x, s: the fields; x_kind 0 int,
 * 1 float, 2 null, 3 string), or time advancing to t without one. */
struct op {
    bool adv;
    int64_t t;
    uint64_t seq;
    int x_kind;
    int64_t x;
    const char *s;
};

struct fx {
    struct win_fx w;
    struct win_prog *prog;
    struct win_key *key;
    struct win_env wenv;
    int64_t lateness;
    int64_t now;
};

static void fx_on_fire(void *ud, const struct win_result *r)
{
    struct fx *f = ud;
    win_fx_push(&f->w, r);
}

/* A window case: the spec (aggregates added by fx_init) and the input. */
struct wcase {
    enum win_type type;
    int64_t size, slide, gap, lateness;
    const char *having;
    bool on_update;
    const char *aggs; /* "all" or "csa" (count, sum, avg) */
    bool retracts;    /* the input makes retractions (sessions: merges) */
    bool no_event;    /* win_spec.no_event: the key holds no event */
};

static const struct wcase cases[] = {
    {WIN_TUMBLING, 100, 0, 0, 150, NULL, false, "all", false},
    {WIN_TUMBLING, 100, 0, 0, 150, "sum > 25", false, "all", true},
    {WIN_TUMBLING, 50, 0, 0, 80, "c >= 3", true, "all", false},
    {WIN_TUMBLING, 100, 0, 0, 0, NULL, false, "csa", false},
    {WIN_SLIDING, 100, 20, 0, 120, NULL, false, "all", false},
    {WIN_SLIDING, 100, 30, 0, 130, "sum > 25", false, "all", true},
    {WIN_SLIDING, 60, 20, 0, 0, "c >= 2", false, "all", false},
    {WIN_SLIDING, 80, 20, 0, 60, "c >= 5", true, "all", false},
    {WIN_SESSION, 0, 0, 25, 100, NULL, false, "all", true},
    {WIN_SESSION, 0, 0, 9, 60, "sum > 10", false, "all", true},
    {WIN_SESSION, 0, 0, 20, 80, "c >= 3", true, "all", false},
    {WIN_COUNT, 5, 2, 0, 0, NULL, false, "all", false},
    {WIN_COUNT, 6, 3, 0, 0, "sum > 0", false, "all", false},
    {WIN_COUNT, 4, 0, 0, 0, "c >= 2", true, "all", false},
    {WIN_TUMBLING, 100, 0, 0, 150, "sum > 25", false, "all", true, true},
    {WIN_SESSION, 0, 0, 9, 60, "sum > 10", false, "all", true, true},
};

static void fx_init(struct fx *f, const struct wcase *c)
{
    memset(f, 0, sizeof(*f));
    win_fx_init(&f->w);
    f->wenv.rt = f->w.rt;
    f->wenv.counters = &f->w.ctr;
    f->wenv.ud = f;
    f->wenv.on_fire = fx_on_fire;
    f->now = CEP_TIME_MIN;
    f->wenv.now = CEP_TIME_MIN;
    f->lateness = c->lateness;
    win_fx_agg(&f->w, "c", AGG_COUNT, NULL, 0);
    win_fx_agg(&f->w, "sum", AGG_SUM, "x", 0);
    win_fx_agg(&f->w, "avg", AGG_AVG, "x", 0);
    if (strcmp(c->aggs, "all") == 0) {
        win_fx_agg(&f->w, "mn", AGG_MIN, "x", 0);
        win_fx_agg(&f->w, "mx", AGG_MAX, "x", 0);
        win_fx_agg(&f->w, "fs", AGG_FIRST, "s", 0);
        win_fx_agg(&f->w, "ls", AGG_LAST, "s", 0);
        win_fx_agg(&f->w, "dc", AGG_DISTINCT_COUNT, "x", 0);
        win_fx_agg(&f->w, "sd", AGG_STDDEV, "x", 0);
        win_fx_agg(&f->w, "p90", AGG_PERCENTILE, "x", 90);
        win_fx_agg(&f->w, "smin", AGG_MIN, "s", 0);
        win_fx_agg(&f->w, "smax", AGG_MAX, "s", 0);
        win_fx_agg(&f->w, "dcs", AGG_DISTINCT_COUNT, "s", 0);
        win_fx_agg(&f->w, "fx", AGG_FIRST, "x", 0);
    }
    struct win_spec s = {.type = c->type,
                         .size = c->size,
                         .slide = c->slide,
                         .gap = c->gap,
                         .aggs = f->w.aggs,
                         .n_aggs = f->w.n_aggs,
                         .having = c->having ? win_fx_compile(&f->w, c->having) : NULL,
                         .on_update = c->on_update,
                         .no_event = c->no_event};
    f->prog = win_compile(&s);
    f->key = win_key_new(f->prog, f->lateness);
}

static void fx_fini(struct fx *f)
{
    win_key_free(f->key);
    win_prog_free(f->prog);
    win_fx_fini(&f->w);
}

static void fx_check_bytes(struct fx *f)
{
    ck_assert_uint_eq(win_key_bytes(f->key), win_key_bytes_walk(f->key));
}

/* Time reaches now, the way the engine moves a stream: the key advances
 * when its deadline is due. */
static void fx_time(struct fx *f, int64_t now)
{
    if (now > f->now)
        f->now = now;
    f->wenv.now = f->now;
    if (win_key_deadline(f->key) <= f->now)
        win_key_advance(f->key, f->now, &f->wenv);
}

static struct evt *fx_evt(struct fx *f, const struct op *o)
{
    struct evt *e = evt_new();
    evt_reset(e, "{}", 2, f->w.schema->n_slots);
    e->time = o->t;
    e->seq = o->seq;
    switch (o->x_kind) {
        case 0:
            e->slots[f->w.sx] = val_int(o->x);
            break;
        case 1:
            e->slots[f->w.sx] = val_float((double)o->x / 8.0);
            break;
        case 3:
            e->slots[f->w.sx] = val_str("str", 3);
            break;
        default:
            break;
    }
    if (o->s)
        e->slots[f->w.ss] = val_str(o->s, strlen(o->s));
    return e;
}

/* Run one step; an event older than the stream's time minus the lateness
 * is dropped by the stream layer and never reaches the key. */
static void fx_step(struct fx *f, const struct op *o)
{
    if (o->adv) {
        if (o->t > f->now)
            f->now = o->t;
        f->wenv.now = f->now;
        win_key_advance(f->key, f->now, &f->wenv);
    } else {
        if (f->now != CEP_TIME_MIN && o->t < f->now - f->lateness)
            return;
        fx_time(f, o->t);
        struct evt *e = fx_evt(f, o);
        win_key_add(f->key, e, &f->wenv);
        evt_unref(e);
    }
    fx_check_bytes(f);
}

/* ---- input ------------------------------------------------------------ */

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static const char *const words[] = {"alpha", "b", "", "delta", "zz", "mu"};

/* n random steps for case c: times advance by 0..11, one event in five
 * goes back by up to lateness + 30 (some too late, dropped), one step in
 * eight advances time without an event; x is mostly a small int (lower
 * for late events), some floats, nulls, strings and huge ints (sum
 * overflows to float). */
static struct op *gen_ops(const struct wcase *c, uint64_t seed, size_t n)
{
    struct op *ops = cep_calloc(n, sizeof(*ops));
    uint64_t r = seed * 0x9E3779B97F4A7C15ULL + 1;
    int64_t t = 1000;
    for (size_t i = 0; i < n; i++) {
        struct op *o = &ops[i];
        uint64_t x = rng_next(&r);
        t += (int64_t)(x % 12);
        o->seq = i + 1;
        if (x % 8 == 7 && c->type != WIN_COUNT) {
            o->adv = true;
            o->t = t + (int64_t)((x >> 8) % 40);
            continue;
        }
        o->t = t;
        if ((x >> 4) % 5 == 0)
            o->t = t - (int64_t)((x >> 12) % (uint64_t)(c->lateness + 30));
        uint64_t k = (x >> 20) % 20;
        o->x_kind = k < 14 ? 0 : k < 16 ? 1 : k < 18 ? 2 : k < 19 ? 3 : 0;
        o->x = (int64_t)((x >> 28) % 15) - 4;
        if (o->t < t)
            o->x -= 12; /* late events also unmake `having` */
        if (k == 19 && (x >> 50) % 4 == 0)
            o->x = INT64_MAX / 3;
        o->s = (x >> 40) % 7 == 6 ? NULL : words[(x >> 44) % CEP_ARRAY_LEN(words)];
    }
    return ops;
}

/* ---- comparing results -------------------------------------------------- */

static void rec_eq(const struct rec *a, const struct rec *b, size_t n_aggs, size_t i)
{
    ck_assert_msg(a->start == b->start && a->end == b->end && a->time == b->time,
                  "result %zu: bounds", i);
    ck_assert_msg(a->id_start == b->id_start && a->id_end == b->id_end, "result %zu: id", i);
    ck_assert_msg(a->rev == b->rev && a->retracted == b->retracted, "result %zu: revision", i);
    ck_assert_msg(a->n == b->n && a->by_count == b->by_count && a->has_last == b->has_last,
                  "result %zu: events", i);
    for (size_t j = 0; j < n_aggs; j++) {
        const struct val *x = &a->v[j], *y = &b->v[j];
        ck_assert_msg(x->type == y->type, "result %zu agg %zu: type", i, j);
        switch (x->type) {
            case VAL_INT:
                ck_assert_msg(x->u.i == y->u.i, "result %zu agg %zu: int", i, j);
                break;
            case VAL_FLOAT:
                ck_assert_msg(memcmp(&x->u.f, &y->u.f, sizeof(double)) == 0,
                              "result %zu agg %zu: float %.17g %.17g", i, j, x->u.f, y->u.f);
                break;
            case VAL_STR:
                ck_assert_msg(x->len == y->len && memcmp(x->u.s, y->u.s, x->len) == 0,
                              "result %zu agg %zu: string", i, j);
                break;
            default:
                break;
        }
    }
}

/* ---- save and load ---------------------------------------------------- */

static struct evt *mk_evt(void *ud, uint32_t stream, int64_t time, uint64_t seq,
                          const char *src_name, uint64_t src_off, const char *raw,
                          size_t raw_len)
{
    struct fx *f = ud;
    struct evt *e = evt_new();
    evt_reset(e, raw, raw_len, f->w.schema->n_slots);
    e->stream = stream;
    e->time = time;
    e->seq = seq;
    e->src_off = src_off;
    return e;
}

static void save_key(const struct win_key *k, struct sbuf *sb)
{
    struct ckpt_w w = {.sb = sb};
    struct ckpt_evtab *t = ckpt_evtab_writer();
    sbuf_reset(sb);
    win_key_save(k, &w, t);
    ckpt_evtab_free(t);
}

/* Load data[0..len) into k; on success the whole record must be read
 * (unless it was changed: it may then end early). */
static int load_key_any(struct fx *f, struct win_key *k, const void *data, size_t len,
                        bool whole)
{
    struct ckpt_r r;
    ckpt_r_init(&r, data, len);
    struct ckpt_evtab *t = ckpt_evtab_reader(mk_evt, f);
    int rc = win_key_load(k, &r, t);
    ckpt_evtab_free(t);
    if (rc != CEP_OK)
        ck_assert(r.err != NULL);
    else if (whole)
        ck_assert_msg(r.p == r.end, "record not read to its end");
    return rc;
}

static int load_key(struct fx *f, struct win_key *k, const void *data, size_t len)
{
    return load_key_any(f, k, data, len, true);
}

/* After a failed load the key is empty and its bytes agree. */
static void check_empty(struct win_key *k)
{
    ck_assert(win_key_idle(k));
    ck_assert(win_key_held_event(k) == NULL);
    ck_assert_int_eq(win_key_deadline(k), CEP_TIME_MAX);
    ck_assert_uint_eq(win_key_bytes(k), win_key_bytes_walk(k));
}

/* Every strict prefix of the record fails; then each byte changed in turn
 * either fails cleanly or loads a key that can be saved and freed. */
static void check_malformed(struct fx *f, const struct sbuf *rec)
{
    struct win_key *k = win_key_new(f->prog, f->lateness);
    for (size_t len = 0; len < rec->len; len++) {
        ck_assert_msg(load_key(f, k, rec->buf, len) == CEP_ERR, "prefix %zu of %zu loaded", len,
                      rec->len);
        check_empty(k);
    }
    uint8_t *m = cep_malloc(rec->len ? rec->len : 1);
    struct sbuf out;
    sbuf_init(&out);
    for (size_t i = 0; i < rec->len; i++) {
        memcpy(m, rec->buf, rec->len);
        m[i] ^= (uint8_t)(0x5A + i);
        if (load_key_any(f, k, m, rec->len, false) == CEP_OK) {
            ck_assert_uint_eq(win_key_bytes(k), win_key_bytes_walk(k));
            save_key(k, &out);
            win_key_reset(k);
        }
        check_empty(k);
    }
    sbuf_free(&out);
    cep_free(m);
    win_key_free(k);
}

#define N_OPS 260

/* Loop index: the case.  The uninterrupted run against runs cut at every
 * fifth step (and the last), saved and loaded into a fresh key. */
START_TEST(test_cut_and_resume)
{
    const struct wcase *c = &cases[_i];
    struct op *ops = gen_ops(c, 7 + (uint64_t)_i, N_OPS);
    struct fx a;
    fx_init(&a, c);
    for (size_t i = 0; i < N_OPS; i++)
        fx_step(&a, &ops[i]);
    struct op end = {.adv = true, .t = a.now + 100000};
    fx_step(&a, &end);
    ck_assert_msg(a.w.n_recs >= 10, "case %d fires (%zu)", _i, a.w.n_recs);
    size_t n_rev = 0, n_retracted = 0;
    for (size_t i = 0; i < a.w.n_recs; i++) {
        n_rev += a.w.recs[i].rev > 0;
        n_retracted += a.w.recs[i].retracted;
    }
    /* The input exercises what the records must carry over. */
    if (c->lateness && !c->on_update)
        ck_assert_msg(n_rev >= 5, "case %d: %zu corrections", _i, n_rev);
    if (c->retracts)
        ck_assert_msg(n_retracted >= 1, "case %d: no retraction", _i);
    ck_assert(c->type == WIN_COUNT || win_key_idle(a.key));
    for (size_t i = 0; i < a.w.n_recs; i++)
        ck_assert(a.w.recs[i].has_last == !c->no_event);

    struct sbuf rec, again, richest;
    sbuf_init(&rec);
    sbuf_init(&again);
    sbuf_init(&richest);
    size_t n_cuts = 0, n_nonidle = 0;
    for (size_t cut = 0; cut <= N_OPS; cut += cut + 5 > N_OPS && cut < N_OPS ? N_OPS - cut : 5) {
        struct fx b;
        fx_init(&b, c);
        for (size_t i = 0; i < cut; i++)
            fx_step(&b, &ops[i]);
        save_key(b.key, &rec);
        int64_t deadline = win_key_deadline(b.key);
        bool idle = win_key_idle(b.key);
        n_nonidle += !idle;
        if (rec.len > richest.len) {
            sbuf_reset(&richest);
            sbuf_append(&richest, rec.buf, rec.len);
        }
        /* Into a fresh key (the old one goes): it must go on alike. */
        win_key_free(b.key);
        b.key = win_key_new(b.prog, b.lateness);
        ck_assert_int_eq(load_key(&b, b.key, rec.buf, rec.len), CEP_OK);
        ck_assert_uint_eq(win_key_bytes(b.key), win_key_bytes_walk(b.key));
        ck_assert_int_eq(win_key_deadline(b.key), deadline);
        ck_assert(win_key_idle(b.key) == idle);
        save_key(b.key, &again);
        ck_assert_msg(again.len == rec.len && memcmp(again.buf, rec.buf, rec.len) == 0,
                      "case %d cut %zu: save-load-save differs", _i, cut);
        for (size_t i = cut; i < N_OPS; i++)
            fx_step(&b, &ops[i]);
        fx_step(&b, &end);
        ck_assert_msg(b.w.n_recs == a.w.n_recs, "case %d cut %zu: %zu results, not %zu", _i, cut,
                      b.w.n_recs, a.w.n_recs);
        for (size_t i = 0; i < a.w.n_recs; i++)
            rec_eq(&b.w.recs[i], &a.w.recs[i], a.w.n_aggs, i);
        fx_fini(&b);
        n_cuts++;
    }
    ck_assert_uint_ge(n_cuts, N_OPS / 5);
    ck_assert_uint_ge(n_nonidle, n_cuts / 2);
    check_malformed(&a, &richest);
    sbuf_free(&rec);
    sbuf_free(&again);
    sbuf_free(&richest);
    fx_fini(&a);
    cep_free(ops);
}
END_TEST

/* Loading into a recycled key (reset after use) works as into a new one,
 * and a reset key's leftovers (small arrays, a spare slice) are counted. */
START_TEST(test_load_into_reset_key)
{
    const struct wcase *c = &cases[4]; /* sliding, every aggregate */
    struct op *ops = gen_ops(c, 99, 120);
    struct fx f;
    fx_init(&f, c);
    for (size_t i = 0; i < 120; i++)
        fx_step(&f, &ops[i]);
    struct sbuf rec, again;
    sbuf_init(&rec);
    sbuf_init(&again);
    save_key(f.key, &rec);
    ck_assert(!win_key_idle(f.key));
    win_key_reset(f.key);
    check_empty(f.key);
    ck_assert_int_eq(load_key(&f, f.key, rec.buf, rec.len), CEP_OK);
    ck_assert(!win_key_idle(f.key));
    ck_assert(win_key_held_event(f.key) != NULL);
    ck_assert_uint_eq(win_key_bytes(f.key), win_key_bytes_walk(f.key));
    save_key(f.key, &again);
    ck_assert(again.len == rec.len && memcmp(again.buf, rec.buf, rec.len) == 0);
    /* A record with bytes after it: the key reads only its own. */
    sbuf_append(&rec, "\x07", 1);
    win_key_reset(f.key);
    struct ckpt_r r;
    ckpt_r_init(&r, rec.buf, rec.len);
    struct ckpt_evtab *t = ckpt_evtab_reader(mk_evt, &f);
    ck_assert_int_eq(win_key_load(f.key, &r, t), CEP_OK);
    ck_assert_uint_eq(ckpt_get_u8(&r), 7);
    ckpt_evtab_free(t);
    sbuf_free(&rec);
    sbuf_free(&again);
    fx_fini(&f);
    cep_free(ops);
}
END_TEST

/* A record written by a key that holds its latest event loads into a key
 * of a program that holds none (the same rule after an upgrade): the
 * event is read and let go, and the key goes on as the writer would. */
START_TEST(test_load_into_no_event)
{
    struct wcase c = cases[1]; /* tumbling, late corrections */
    struct op *ops = gen_ops(&c, 5, 120);
    struct fx a, b;
    fx_init(&a, &c);
    c.no_event = true;
    fx_init(&b, &c);
    for (size_t i = 0; i < 60; i++)
        fx_step(&a, &ops[i]);
    ck_assert(!win_key_idle(a.key) && win_key_held_event(a.key) != NULL);
    struct sbuf rec;
    sbuf_init(&rec);
    save_key(a.key, &rec);
    b.now = a.now;
    b.wenv.now = a.wenv.now;
    ck_assert_int_eq(load_key(&b, b.key, rec.buf, rec.len), CEP_OK);
    ck_assert(!win_key_idle(b.key) && win_key_held_event(b.key) == NULL);
    ck_assert_int_eq(win_key_deadline(b.key), win_key_deadline(a.key));
    size_t n0 = a.w.n_recs;
    for (size_t i = 60; i < 120; i++) {
        fx_step(&a, &ops[i]);
        fx_step(&b, &ops[i]);
    }
    ck_assert_uint_gt(a.w.n_recs, n0);
    ck_assert_uint_eq(b.w.n_recs, a.w.n_recs - n0);
    for (size_t i = 0; i < b.w.n_recs; i++) {
        ck_assert(!b.w.recs[i].has_last);
        b.w.recs[i].has_last = true;
        rec_eq(&b.w.recs[i], &a.w.recs[n0 + i], a.w.n_aggs, i);
    }
    sbuf_free(&rec);
    fx_fini(&a);
    fx_fini(&b);
    cep_free(ops);
}
END_TEST

/* Hand-made records, each wrong in one way: refused, the key left empty. */
enum bad_rec {
    BAD_FLAGS = 0,     /* an unknown flag */
    BAD_CLOCK_KIND,    /* clock kind 3 */
    BAD_SLICE_COUNT,   /* more slices than bytes */
    BAD_SLICE_ALIGN,   /* a slice start off the slice grid */
    BAD_SLICE_EMPTY,   /* a slice without events */
    BAD_NO_EVENT,      /* state but no held event */
    BAD_BOOL,          /* sum's float flag 2 */
    BAD_MARKS,         /* two marks at one start */
    BAD_COUNT_START,   /* count windows: next_start past the events seen */
    BAD_COUNT_SLICE,   /* count windows: a slice past the events seen */
    BAD_COUNT_QUEUE,   /* count windows: queue bounds out of order */
    BAD_REC_COUNT
};

/* A tumbling count+sum+avg slice at start with one event at 10; base is
 * the held event's time. */
static void put_tumbling_slice(struct ckpt_w *w, int64_t base, int64_t start, uint64_t n,
                               uint8_t float_flag)
{
    ckpt_put_sv(w, start - base);
    ckpt_put_sv(w, 10 - start);
    ckpt_put_uv(w, 0);
    ckpt_put_uv(w, 1);
    ckpt_put_uv(w, n);
    ckpt_put_uv(w, 1); /* count */
    ckpt_put_uv(w, 1); /* sum */
    ckpt_put_u8(w, float_flag);
    ckpt_put_sv(w, 3);
    ckpt_put_uv(w, 1); /* avg */
    ckpt_put_u8(w, 0);
    ckpt_put_sv(w, 3);
}

/* Record bad (wrong in one way), or its well-formed twin when !wrong. */
static void put_record(struct sbuf *sb, enum bad_rec bad, bool wrong, struct evt *ev,
                       size_t n_aggs)
{
    struct ckpt_w w = {.sb = sb};
    bool count = bad >= BAD_COUNT_START;
    bool has_ev = !(wrong && bad == BAD_NO_EVENT);
    sbuf_reset(sb);
    ckpt_put_u8(&w, (wrong && bad == BAD_FLAGS ? 0x80 : 0) | (has_ev ? 0x01 : 0) |
                        (bad == BAD_COUNT_QUEUE ? 0x02 : 0));
    if (has_ev) {
        struct ckpt_evtab *t = ckpt_evtab_writer();
        ckpt_put_evt(&w, t, ev);
        ckpt_evtab_free(t);
    }
    int64_t base = has_ev ? ev->time : 0;
    if (!count) {
        ckpt_put_u8(&w, wrong && bad == BAD_CLOCK_KIND ? 0xff : 0x55); /* clocks: sentinels */
        if (wrong && bad == BAD_SLICE_COUNT) {
            ckpt_put_uv(&w, UINT64_C(1) << 40);
        } else {
            ckpt_put_uv(&w, 1);
            put_tumbling_slice(&w, base, wrong && bad == BAD_SLICE_ALIGN ? 5 : 0,
                               wrong && bad == BAD_SLICE_EMPTY ? 0 : 1,
                               wrong && bad == BAD_BOOL ? 2 : 0);
        }
        ckpt_put_uv(&w, 2); /* marks */
        ckpt_put_sv(&w, -100 - base);
        ckpt_put_uv(&w, 1);
        ckpt_put_bool(&w, true);
        ckpt_put_uv(&w, wrong && bad == BAD_MARKS ? 0 : 100);
        ckpt_put_uv(&w, 2);
        ckpt_put_bool(&w, false);
        return;
    }
    ckpt_put_u8(&w, 0x51); /* next_start a value, the others sentinels */
    ckpt_put_sv(&w, wrong && bad == BAD_COUNT_START ? 4 : 2);
    ckpt_put_uv(&w, 2); /* n_seen */
    ckpt_put_uv(&w, 1);                                   /* one slice */
    ckpt_put_sv(&w, wrong && bad == BAD_COUNT_SLICE ? 2 : 0); /* index 2: not seen yet */
    for (int i = 0; i < 4; i++)
        ckpt_put_uv(&w, 1); /* times, seq, one event */
    for (size_t i = 0; i < n_aggs; i++)
        ckpt_put_uv(&w, 0); /* empty states */
    ckpt_put_uv(&w, 0); /* marks */
    ckpt_put_sv(&w, 0); /* queue: last_t, then its bounds lo, mid - lo, hi - mid */
    if (bad != BAD_COUNT_QUEUE)
        return;
    ckpt_put_sv(&w, 2);
    ckpt_put_uv(&w, wrong ? UINT64_MAX : 0);
    ckpt_put_uv(&w, 0);
}

START_TEST(test_bad_records)
{
    bool count = _i >= BAD_COUNT_START;
    struct fx f;
    fx_init(&f, &cases[count ? 11 : 3]);
    struct op o = {.t = 10, .seq = 1};
    struct evt *ev = fx_evt(&f, &o);
    struct sbuf sb;
    sbuf_init(&sb);
    put_record(&sb, _i, false, ev, f.w.n_aggs);
    ck_assert_msg(load_key(&f, f.key, sb.buf, sb.len) == CEP_OK, "twin of %d", _i);
    ck_assert_uint_eq(win_key_bytes(f.key), win_key_bytes_walk(f.key));
    win_key_reset(f.key);
    put_record(&sb, _i, true, ev, f.w.n_aggs);
    ck_assert_msg(load_key(&f, f.key, sb.buf, sb.len) == CEP_ERR, "record %d loaded", _i);
    check_empty(f.key);
    evt_unref(ev);
    sbuf_free(&sb);
    fx_fini(&f);
}
END_TEST

static Suite *win_snap_suite(void)
{
    Suite *s = suite_create("win_snap");
    TCase *tc = tcase_create("resume");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_cut_and_resume, 0, (int)CEP_ARRAY_LEN(cases));
    tcase_add_test(tc, test_load_into_reset_key);
    tcase_add_test(tc, test_load_into_no_event);
    suite_add_tcase(s, tc);
    tc = tcase_create("malformed");
    tcase_add_loop_test(tc, test_bad_records, 0, BAD_REC_COUNT);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(win_snap_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
