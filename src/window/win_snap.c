/* SPDX-License-Identifier: Apache-2.0
 * Checkpoints of a window key (win_key_save / win_key_load, win.h): its
 * clocks, slices or sessions with their aggregate states (agg_def.save /
 * load), the marks of sliced windows that sent alerts, session lineage,
 * and the held event (if any) through the snapshot's event table.  The
 * sliding-window queue is not written: it is a function of the slices it
 * covers (win_queue_rebuild), so only its bounds are.  Times are written
 * relative to the held event's time (to 0 without one), so the record
 * holds no pointers and stays small; a load validates every count, order
 * and range before it can matter, and leaves the key empty on any error.
 * Tested by: tests/unit/check_win_snap.c */
#include "cepd/cep_common.h"
#include "win_int.h"

#include "cepd/ckpt.h"

/* Times in slices, marks and the queue lie within +-2^62 us (146,000
 * years), so that the window arithmetic on them cannot overflow. */
#define WIN_SNAP_T_LIM (INT64_C(1) << 62)

/* Record flags. */
#define WIN_SNAP_HAS_LAST 0x01
#define WIN_SNAP_Q_VALID  0x02

/* Session flags. */
#define WIN_SNAP_S_CLOSED   0x01
#define WIN_SNAP_S_FIRED    0x02
#define WIN_SNAP_S_STANDING 0x04

/* The clocks of a key, each written as a 2-bit kind (a value relative to
 * the base, or one of the two sentinels) then the value. */
enum win_clock {
    WIN_CLK_NOW = 0,
    WIN_CLK_NEXT_START,
    WIN_CLK_PURGED_TO,
    WIN_CLK_SKIP_TO,
    WIN_CLK_COUNT
};

enum win_clock_kind {
    WIN_CK_VALUE = 0,
    WIN_CK_MIN,
    WIN_CK_MAX,
    WIN_CK_COUNT
};

/* Wrapping arithmetic for deltas: a malformed delta wraps instead of
 * overflowing, and the range checks after it reject the result. */
static int64_t win_wadd(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a + (uint64_t)b);
}

static int64_t win_wsub(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a - (uint64_t)b);
}

static bool win_t_ok(int64_t t)
{
    return t > -WIN_SNAP_T_LIM && t < WIN_SNAP_T_LIM;
}

static void win_clocks_get(const struct win_key *k, int64_t *c)
{
    c[WIN_CLK_NOW] = k->now;
    c[WIN_CLK_NEXT_START] = k->next_start;
    c[WIN_CLK_PURGED_TO] = k->purged_to;
    c[WIN_CLK_SKIP_TO] = k->skip_to;
}

static void win_clocks_set(struct win_key *k, const int64_t *c)
{
    k->now = c[WIN_CLK_NOW];
    k->next_start = c[WIN_CLK_NEXT_START];
    k->purged_to = c[WIN_CLK_PURGED_TO];
    k->skip_to = c[WIN_CLK_SKIP_TO];
}

static enum win_clock_kind win_clock_kind(int64_t t)
{
    return t == CEP_TIME_MIN ? WIN_CK_MIN : t == CEP_TIME_MAX ? WIN_CK_MAX : WIN_CK_VALUE;
}

/* ---- writing ------------------------------------------------------------ */

static void win_save_states(const struct win_prog *p, const struct win_slice *s,
                            struct ckpt_w *w)
{
    for (size_t i = 0; i < p->spec.n_aggs; i++)
        p->defs[i]->save(win_slice_st(p, s, i), w);
}

/* Write the windows of k (see win.h).  Runs on the key's worker thread at
 * a barrier; the key is unchanged.  Never fails. */
void win_key_save(const struct win_key *k, struct ckpt_w *w, struct ckpt_evtab *t)
{
    const struct win_prog *p = k->p;
    bool session = p->spec.type == WIN_SESSION, count = p->spec.type == WIN_COUNT;
    uint8_t flags = (k->last ? WIN_SNAP_HAS_LAST : 0) |
                    (p->queued && k->q.valid ? WIN_SNAP_Q_VALID : 0);
    ckpt_put_u8(w, flags);
    if (k->last)
        ckpt_put_evt(w, t, k->last);
    int64_t base = k->last ? k->last->time : 0;
    int64_t sbase = count ? 0 : base; /* slice starts of count windows are indexes */

    int64_t clk[WIN_CLK_COUNT];
    uint8_t kinds = 0;
    win_clocks_get(k, clk);
    for (int c = 0; c < WIN_CLK_COUNT; c++)
        kinds |= (uint8_t)(win_clock_kind(clk[c]) << (2 * c));
    ckpt_put_u8(w, kinds);
    for (int c = 0; c < WIN_CLK_COUNT; c++)
        if (win_clock_kind(clk[c]) == WIN_CK_VALUE)
            ckpt_put_sv(w, win_wsub(clk[c], c == WIN_CLK_NEXT_START ? sbase : base));
    if (count)
        ckpt_put_uv(w, k->n_seen);

    struct win_slice *const *v = k->sl + k->head;
    ckpt_put_uv(w, k->n_sl);
    for (size_t i = 0; i < k->n_sl; i++) {
        const struct win_slice *s = v[i];
        if (session) {
            ckpt_put_sv(w, win_wsub(s->first_t, i ? v[i - 1]->last_t : base));
        } else {
            if (i)
                ckpt_put_uv(w, (uint64_t)win_wsub(s->start, v[i - 1]->start));
            else
                ckpt_put_sv(w, win_wsub(s->start, sbase));
            ckpt_put_sv(w, win_wsub(s->first_t, count ? base : s->start));
        }
        ckpt_put_uv(w, (uint64_t)win_wsub(s->last_t, s->first_t));
        ckpt_put_uv(w, s->last_seq);
        ckpt_put_uv(w, s->n_events);
        if (session) {
            uint8_t sf = (s->closed ? WIN_SNAP_S_CLOSED : 0) | (s->fired ? WIN_SNAP_S_FIRED : 0) |
                         (s->standing ? WIN_SNAP_S_STANDING : 0);
            ckpt_put_u8(w, sf);
            ckpt_put_uv(w, s->n_alerts);
            if (s->n_alerts) {
                ckpt_put_sv(w, win_wsub(s->id_start, s->first_t));
                ckpt_put_sv(w, win_wsub(s->id_end, s->id_start));
            }
        }
        win_save_states(p, s, w);
    }
    if (session)
        return;

    ckpt_put_uv(w, k->n_marks);
    for (size_t i = 0; i < k->n_marks; i++) {
        const struct win_mark *m = &k->marks[i];
        if (i)
            ckpt_put_uv(w, (uint64_t)win_wsub(m->start, k->marks[i - 1].start));
        else
            ckpt_put_sv(w, win_wsub(m->start, sbase));
        ckpt_put_uv(w, m->n_alerts);
        ckpt_put_bool(w, m->standing);
    }
    if (!p->queued)
        return;
    ckpt_put_sv(w, win_wsub(k->q.last_t, base));
    if (k->q.valid) {
        ckpt_put_sv(w, win_wsub(k->q.lo, sbase));
        ckpt_put_uv(w, (uint64_t)win_wsub(k->q.mid, k->q.lo));
        ckpt_put_uv(w, (uint64_t)win_wsub(k->q.hi, k->q.mid));
    }
}

/* ---- reading ------------------------------------------------------------ */

/* Make room for n slices in k's (empty) slice array. */
static void win_load_sl_room(struct win_key *k, size_t n)
{
    k->head = 0;
    if (n <= k->sl_cap)
        return;
    if (k->sl != k->sl_small)
        cep_free(k->sl);
    k->sl = cep_malloc(n * sizeof(*k->sl));
    k->sl_cap = n;
}

/* Read the slices or sessions; each joins the key as soon as it exists, so
 * that a failure part-way frees it with the key's reset. */
static int win_load_slices(struct win_key *k, struct ckpt_r *r, int64_t base)
{
    const struct win_prog *p = k->p;
    bool session = p->spec.type == WIN_SESSION, count = p->spec.type == WIN_COUNT;
    int64_t sbase = count ? 0 : base;
    /* Every slice takes at least one byte per field. */
    size_t n = (size_t)ckpt_get_uv_max(r, (uint64_t)(r->end - r->p) / 4, "bad slice count");
    if (r->err)
        return CEP_ERR;
    win_load_sl_room(k, n);
    for (size_t i = 0; i < n; i++) {
        struct win_slice *s = cep_calloc(1, p->slice_bytes);
        struct win_slice *prev = i ? k->sl[i - 1] : NULL;
        k->sl[k->n_sl++] = s;
        if (session) {
            s->first_t = win_wadd(prev ? prev->last_t : base, ckpt_get_sv(r));
            s->start = s->first_t;
        } else {
            if (prev)
                s->start = win_wadd(prev->start, (int64_t)ckpt_get_uv(r));
            else
                s->start = win_wadd(sbase, ckpt_get_sv(r));
            s->first_t = win_wadd(count ? base : s->start, ckpt_get_sv(r));
        }
        s->last_t = win_wadd(s->first_t, (int64_t)ckpt_get_uv(r));
        s->last_seq = ckpt_get_uv(r);
        s->n_events = ckpt_get_uv(r);
        if (session) {
            uint8_t f = ckpt_get_u8(r);
            s->n_alerts = (uint32_t)ckpt_get_uv_max(r, UINT32_MAX, "bad alert count");
            if (s->n_alerts) {
                s->id_start = win_wadd(s->first_t, ckpt_get_sv(r));
                s->id_end = win_wadd(s->id_start, ckpt_get_sv(r));
            }
            s->closed = f & WIN_SNAP_S_CLOSED;
            s->fired = f & WIN_SNAP_S_FIRED;
            s->standing = f & WIN_SNAP_S_STANDING;
            if (!r->err && (f > 7 || (s->standing && !s->n_alerts) ||
                            !win_t_ok(s->id_start) || !win_t_ok(s->id_end)))
                ckpt_r_fail(r, "bad session");
        }
        if (r->err)
            return CEP_ERR;
        bool ok = win_t_ok(s->start) && win_t_ok(s->first_t) && win_t_ok(s->last_t) &&
                  s->first_t <= s->last_t && s->n_events > 0;
        if (session) {
            int64_t after;
            ok = ok && (!prev || (!__builtin_add_overflow(prev->last_t, p->spec.gap, &after) &&
                                  s->first_t >= after));
        } else {
            ok = ok && (!prev || s->start > prev->start) && s->start % p->w == 0;
            if (count)
                ok = ok && s->start >= 0 && (uint64_t)s->start < k->n_seen &&
                     s->n_events <= (uint64_t)p->w;
            else
                ok = ok && s->first_t >= s->start && s->last_t - s->start < p->w;
        }
        if (!ok) {
            ckpt_r_fail(r, "bad window slice");
            return CEP_ERR;
        }
        for (size_t j = 0; j < p->spec.n_aggs; j++)
            if (p->defs[j]->load(win_slice_st(p, s, j), r) != CEP_OK)
                return CEP_ERR;
    }
    return CEP_OK;
}

static int win_load_marks(struct win_key *k, struct ckpt_r *r, int64_t sbase)
{
    size_t n = (size_t)ckpt_get_uv_max(r, (uint64_t)(r->end - r->p) / 3, "bad mark count");
    if (r->err)
        return CEP_ERR;
    CEP_GROW(k->marks, k->marks_cap, n);
    for (size_t i = 0; i < n; i++) {
        struct win_mark *m = &k->marks[i];
        if (i)
            m->start = win_wadd(k->marks[i - 1].start, (int64_t)ckpt_get_uv(r));
        else
            m->start = win_wadd(sbase, ckpt_get_sv(r));
        m->n_alerts = (uint32_t)ckpt_get_uv_max(r, UINT32_MAX, "bad alert count");
        m->standing = ckpt_get_bool(r);
        if (r->err)
            return CEP_ERR;
        if (!win_t_ok(m->start) || (i && m->start <= k->marks[i - 1].start) || !m->n_alerts) {
            ckpt_r_fail(r, "bad window mark");
            return CEP_ERR;
        }
        k->n_marks++;
    }
    return CEP_OK;
}

/* Read the clocks; a value must be in range (next_start excepted: it
 * follows the time reached, which may be far out at end of input). */
static int win_load_clocks(struct win_key *k, struct ckpt_r *r, int64_t base, int64_t sbase)
{
    int64_t clk[WIN_CLK_COUNT];
    uint8_t kinds = ckpt_get_u8(r);
    for (int c = 0; c < WIN_CLK_COUNT && !r->err; c++) {
        unsigned kind = (kinds >> (2 * c)) & 3;
        if (kind == WIN_CK_MIN) {
            clk[c] = CEP_TIME_MIN;
        } else if (kind == WIN_CK_MAX) {
            clk[c] = CEP_TIME_MAX;
        } else if (kind == WIN_CK_VALUE) {
            clk[c] = win_wadd(c == WIN_CLK_NEXT_START ? sbase : base, ckpt_get_sv(r));
            if (c != WIN_CLK_NEXT_START && !win_t_ok(clk[c]))
                ckpt_r_fail(r, "time out of range");
        } else {
            ckpt_r_fail(r, "bad clock");
        }
    }
    if (r->err)
        return CEP_ERR;
    win_clocks_set(k, clk);
    if (k->p->spec.type == WIN_COUNT) {
        k->n_seen = ckpt_get_uv_max(r, (uint64_t)WIN_SNAP_T_LIM, "bad event count");
        if (!r->err && (k->next_start < 0 || (uint64_t)k->next_start > k->n_seen))
            ckpt_r_fail(r, "bad count window start");
    }
    return r->err ? CEP_ERR : CEP_OK;
}

/* Read the queue's bounds and rebuild it over the loaded slices. */
static int win_load_queue(struct win_key *k, struct ckpt_r *r, int64_t base, int64_t sbase,
                          bool valid)
{
    int64_t last_t = win_wadd(base, ckpt_get_sv(r));
    int64_t lo = 0, mid = 0, hi = 0;
    if (valid) {
        lo = win_wadd(sbase, ckpt_get_sv(r));
        mid = win_wadd(lo, (int64_t)ckpt_get_uv(r));
        hi = win_wadd(mid, (int64_t)ckpt_get_uv(r));
    }
    if (r->err)
        return CEP_ERR;
    if (!win_t_ok(last_t) || !win_t_ok(lo) || !win_t_ok(mid) || !win_t_ok(hi) || lo > mid ||
        mid > hi) {
        ckpt_r_fail(r, "bad window queue");
        return CEP_ERR;
    }
    if (valid)
        win_queue_rebuild(k, lo, mid, hi);
    k->q.valid = valid;
    k->q.last_t = last_t;
    return CEP_OK;
}

/* Read what win_key_save wrote into k, which must be empty (new or reset)
 * and run the same program.  CEP_ERR on a malformed record (r->err says
 * why), with k empty again.  Takes a reference on the held event. */
int win_key_load(struct win_key *k, struct ckpt_r *r, struct ckpt_evtab *t)
{
    const struct win_prog *p = k->p;
    CEP_ASSERT(win_key_idle(k) && !k->last);
    uint8_t flags = ckpt_get_u8(r);
    if (r->err)
        goto fail;
    if (flags & ~(WIN_SNAP_HAS_LAST | WIN_SNAP_Q_VALID) ||
        ((flags & WIN_SNAP_Q_VALID) && !p->queued)) {
        ckpt_r_fail(r, "bad window record flags");
        goto fail;
    }
    if (flags & WIN_SNAP_HAS_LAST) {
        k->last = ckpt_get_evt(r, t);
        if (!k->last)
            goto fail;
    }
    int64_t base = k->last ? k->last->time : 0;
    int64_t sbase = p->spec.type == WIN_COUNT ? 0 : base;
    if (win_load_clocks(k, r, base, sbase) != CEP_OK || win_load_slices(k, r, base) != CEP_OK)
        goto fail;
    if (p->spec.type != WIN_SESSION) {
        if (win_load_marks(k, r, sbase) != CEP_OK)
            goto fail;
        if (p->queued && win_load_queue(k, r, base, sbase, flags & WIN_SNAP_Q_VALID) != CEP_OK)
            goto fail;
    }
    if (!win_key_idle(k) && !k->last && !p->spec.no_event) {
        ckpt_r_fail(r, "window state without an event");
        goto fail;
    }
    if (p->spec.no_event) { /* written by a program that held one */
        evt_unref(k->last);
        k->last = NULL;
    }
    k->bytes = win_key_bytes_walk(k);
    return CEP_OK;
fail:
    if (!r->err)
        ckpt_r_fail(r, "bad window record");
    win_key_reset(k);
    k->bytes = win_key_bytes_walk(k);
    return CEP_ERR;
}
