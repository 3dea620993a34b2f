/* SPDX-License-Identifier: Apache-2.0
 * Snapshot and restore of a whole engine (design §5.1), between two input
 * lines.  Layout: version; engine counters; the stream table (name, kind
 * of time, watermark and times, buffered count); a frame with every held
 * event, written in full once through one ckpt_evtab (so frames a restore
 * skips, a dropped rule's or an unselected key group's, never hold the
 * first copy of an event another frame refers to); a frame with the
 * reorder buffers; then per rule its id, compiled hash, kind, a summary
 * (keys, partial matches, windows, bytes), counters, and a frame with its
 * keyed state and throttle table, each as one frame per key group.
 * A restore matches streams by name and rules by id and hash, decodes
 * held events again under the new schemas (every event, whatever key
 * groups are selected; stream times and reorder buffers are restored
 * whole), and registers each key's deadline afresh; timers fire in (time, key hash) order (eng_keyed.c), so
 * a restored engine produces the alerts, in the order and with the ids, of
 * the engine it was taken from.
 * Rescale (eng_restore_opt, eng_restore_section): one engine may take
 * several snapshots of one checkpoint (one per worker), each stream's
 * part of them (all, none, or by key group, buffered events by the group
 * of their key); stream times take the latest, counters add up.
 * Tested by: tests/unit/check_eng_snap.c, tests/unit/check_par.c */
#include "cepd/cep_common.h"
#include "eng_int.h"

#include "cepd/ckpt.h"
#include "cepd/hash.h"
#include "cepd/nfa.h"
#include "cepd/win.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define ENG_SNAP_VERSION 1

/* What a key record holds besides its key and times. */
enum {
    ENG_SNAP_NFA = 1,
    ENG_SNAP_WIN = 2,
    ENG_SNAP_LAST = 4,
    ENG_SNAP_THR = 8,
};

/* Bounds on counts read before they size an allocation. */
#define ENG_SNAP_MAX_STREAMS (1u << 20)
#define ENG_SNAP_MAX_RULES   (1u << 24)

/* ---- writing ---------------------------------------------------------- */

/* Counters, each a uv, in this order (defined once for both directions). */
#define ENG_SNAP_STATS(X) X(lines) X(events) X(rejected) X(derived) X(alerts) X(late)
#define ENG_SNAP_RULE_STATS(X)                                                           \
    X(evaluated) X(matched) X(alerts) X(emitted) X(timed_out) X(evicted) X(throttled)    \
    X(expired) X(expr.type_mismatch) X(expr.regex_limit)
#define ENG_SNAP_PUT(f) ckpt_put_uv(w, s->f);
#define ENG_SNAP_GET(f) s->f = ckpt_get_uv(r);
#define ENG_SNAP_ADD(f) d->f += s->f;

static void eng_snap_put_stats(struct ckpt_w *w, const struct eng_stats *s)
{
    ENG_SNAP_STATS(ENG_SNAP_PUT)
}

static void eng_snap_get_stats(struct ckpt_r *r, struct eng_stats *s)
{
    ENG_SNAP_STATS(ENG_SNAP_GET)
}

static void eng_snap_put_rule_stats(struct ckpt_w *w, const struct eng_rule_stats *s)
{
    ENG_SNAP_RULE_STATS(ENG_SNAP_PUT)
}

static void eng_snap_get_rule_stats(struct ckpt_r *r, struct eng_rule_stats *s)
{
    ENG_SNAP_RULE_STATS(ENG_SNAP_GET)
}

static void eng_snap_add_stats(struct eng_stats *d, const struct eng_stats *s)
{
    ENG_SNAP_STATS(ENG_SNAP_ADD)
}

static void eng_snap_add_rule_stats(struct eng_rule_stats *d, const struct eng_rule_stats *s)
{
    ENG_SNAP_RULE_STATS(ENG_SNAP_ADD)
}

struct eng_snap_wr {
    struct ckpt_w *w;
    struct ckpt_evtab *t;
};

static void eng_snap_put_held(void *ud, struct evt *ev)
{
    struct eng_snap_wr *c = ud;
    if (ev)
        ckpt_put_evt(c->w, c->t, ev);
}

static void eng_snap_put_key(struct eng_snap_wr *c, const struct eng_key *k)
{
    struct ckpt_w *w = c->w;
    ckpt_put_bytes(w, k->kjson, k->klen);
    ckpt_put_sv(w, k->last_seen);
    ckpt_put_sv(w, k->deadline);
    ckpt_put_sv(w, k->sdl);
    ckpt_put_sv(w, k->ttl_at);
    uint8_t flags = (k->nfa ? ENG_SNAP_NFA : 0) | (k->win ? ENG_SNAP_WIN : 0) |
                    (k->last ? ENG_SNAP_LAST : 0) | (k->thr ? ENG_SNAP_THR : 0);
    ckpt_put_u8(w, flags);
    if (k->nfa)
        nfa_key_save(k->nfa, w, c->t);
    if (k->win)
        win_key_save(k->win, w, c->t);
    if (k->last)
        ckpt_put_evt(w, c->t, k->last);
    if (k->thr) {
        const struct eng_thr *e = k->thr;
        ckpt_put_sv(w, e->until);
        ckpt_put_uv(w, e->n);
        ckpt_put_sv(w, e->first);
        ckpt_put_sv(w, e->last);
        ckpt_put_sv(w, e->kept_time);
        ckpt_put_bytes(w, e->kept_id, 32);
        ckpt_put_bytes(w, e->kept.buf, e->kept.len);
    }
}

/* A keyed table: its time, then its live keys by key group (a counting
 * sort: one frame per non-empty group). */
static void eng_snap_put_keyed(struct eng_snap_wr *c, const struct eng_keyed *kd)
{
    size_t start[ENG_KEY_GROUPS + 1] = {0};
    uint32_t *order = cep_malloc((kd->n_live + 1) * sizeof(*order));
    for (size_t i = 0; i < kd->n_keys; i++)
        if (kd->keys[i].live)
            start[eng_key_group(kd->keys[i].khash) + 1]++;
    size_t n_groups = 0;
    for (size_t g = 0; g < ENG_KEY_GROUPS; g++) {
        n_groups += start[g + 1] != 0;
        start[g + 1] += start[g];
    }
    size_t fill[ENG_KEY_GROUPS];
    memcpy(fill, start, sizeof(fill));
    for (size_t i = 0; i < kd->n_keys; i++)
        if (kd->keys[i].live)
            order[fill[eng_key_group(kd->keys[i].khash)]++] = (uint32_t)i;
    ckpt_put_sv(c->w, kd->now);
    ckpt_put_uv(c->w, kd->n_expired);
    ckpt_put_uv(c->w, n_groups);
    for (size_t g = 0; g < ENG_KEY_GROUPS; g++) {
        if (start[g + 1] == start[g])
            continue;
        ckpt_put_uv(c->w, g);
        size_t m = ckpt_frame_begin(c->w);
        ckpt_put_uv(c->w, start[g + 1] - start[g]);
        for (size_t i = start[g]; i < start[g + 1]; i++)
            eng_snap_put_key(c, &kd->keys[order[i]]);
        ckpt_frame_end(c->w, m);
    }
    cep_free(order);
}

/* Keys of a rule that hold open windows (for the summary). */
static size_t eng_snap_windows(const struct eng_keyed *kd)
{
    size_t n = 0;
    for (size_t i = 0; i < kd->n_keys; i++)
        n += kd->keys[i].live && kd->keys[i].win && !win_key_idle(kd->keys[i].win);
    return n;
}

void eng_snapshot(const struct eng *eng, struct ckpt_w *w)
{
    const struct ruleset *rs = eng->rs;
    /* Between two input lines: no derived event waits. */
    CEP_ASSERT(eng->q_len == 0 && !eng->draining);
    ckpt_put_uv(w, ENG_SNAP_VERSION);
    eng_snap_put_stats(w, &eng->stats);
    ckpt_put_uv(w, rs->n_streams);
    for (size_t i = 0; i < rs->n_streams; i++) {
        const struct eng_stream *s = &eng->streams[i];
        const char *name = rs->streams[i].name;
        ckpt_put_bytes(w, name, strlen(name));
        ckpt_put_bool(w, rs->streams[i].time.has_time);
        ckpt_put_bool(w, s->derived);
        ckpt_put_sv(w, s->wm_excl);
        ckpt_put_sv(w, s->max_ts);
        ckpt_put_sv(w, s->now);
        ckpt_put_sv(w, s->last_ts);
        ckpt_put_sv(w, s->last_arrival);
        ckpt_put_uv(w, s->buf_n);
    }

    struct eng_snap_wr c = {.w = w, .t = ckpt_evtab_writer()};
    size_t m = ckpt_frame_begin(w);
    for (size_t i = 0; i < rs->n_streams; i++)
        for (size_t k = 0; k < eng->streams[i].buf_n; k++)
            ckpt_put_evt(w, c.t, eng->streams[i].buf[k]);
    for (size_t ri = 0; ri < rs->n_rules; ri++) {
        eng_keyed_each_event(&eng->keyed[ri], eng_snap_put_held, &c);
        if (eng->keyed[ri].throttle)
            eng_keyed_each_event(eng->keyed[ri].throttle, eng_snap_put_held, &c);
    }
    ckpt_frame_end(w, m);

    /* Reorder buffers in heap order (by reference: written above). */
    m = ckpt_frame_begin(w);
    for (size_t i = 0; i < rs->n_streams; i++)
        for (size_t k = 0; k < eng->streams[i].buf_n; k++)
            ckpt_put_evt(w, c.t, eng->streams[i].buf[k]);
    ckpt_frame_end(w, m);

    ckpt_put_uv(w, rs->n_rules);
    for (size_t ri = 0; ri < rs->n_rules; ri++) {
        const struct rule *r = rs->rules[ri];
        const struct eng_keyed *kd = &eng->keyed[ri];
        ckpt_put_bytes(w, r->id, strlen(r->id));
        ckpt_put_uv(w, r->hash);
        ckpt_put_u8(w, (uint8_t)r->kind);
        ckpt_put_uv(w, kd->n_live);
        ckpt_put_uv(w, eng_rule_partials(eng, ri));
        ckpt_put_uv(w, eng_snap_windows(kd));
        ckpt_put_uv(w, eng_keyed_bytes(kd));
        eng_snap_put_rule_stats(w, eng_rule_stats(eng, ri));
        m = ckpt_frame_begin(w);
        eng_snap_put_keyed(&c, kd);
        ckpt_put_bool(w, kd->throttle != NULL);
        if (kd->throttle)
            eng_snap_put_keyed(&c, kd->throttle);
        ckpt_frame_end(w, m);
    }
    ckpt_evtab_free(c.t);
}

/* ---- reading ---------------------------------------------------------- */

/* A saved stream, as the stream table has it. */
struct eng_snap_stream {
    const char *name;
    size_t name_len;
    bool has_time;
    bool derived;
    int64_t wm_excl, max_ts, now, last_ts, last_arrival;
    uint64_t buf_n;
};

static void eng_snap_get_stream(struct ckpt_r *r, struct eng_snap_stream *s)
{
    s->name = ckpt_get_bytes(r, &s->name_len);
    s->has_time = ckpt_get_bool(r);
    s->derived = ckpt_get_bool(r);
    s->wm_excl = ckpt_get_sv(r);
    s->max_ts = ckpt_get_sv(r);
    s->now = ckpt_get_sv(r);
    s->last_ts = ckpt_get_sv(r);
    s->last_arrival = ckpt_get_sv(r);
    /* Every buffered event takes at least one byte. */
    s->buf_n = ckpt_get_uv_max(r, (uint64_t)(r->end - r->p), "too many buffered events");
}

/* A saved rule's header. */
struct eng_snap_rule {
    const char *id;
    size_t id_len;
    uint64_t hash;
    uint8_t kind;
    uint64_t keys, partials, windows, bytes;
    struct eng_rule_stats stats;
    struct ckpt_r frame;
};

static void eng_snap_get_rule(struct ckpt_r *r, struct eng_snap_rule *s)
{
    s->id = ckpt_get_bytes(r, &s->id_len);
    s->hash = ckpt_get_uv(r);
    s->kind = ckpt_get_u8(r);
    if (s->kind >= RULE_KIND_COUNT)
        ckpt_r_fail(r, "bad rule kind");
    s->keys = ckpt_get_uv(r);
    s->partials = ckpt_get_uv(r);
    s->windows = ckpt_get_uv(r);
    s->bytes = ckpt_get_uv(r);
    eng_snap_get_rule_stats(r, &s->stats);
    ckpt_get_frame(r, &s->frame);
}

/* Restore in progress. */
struct eng_snap_rd {
    struct eng *eng;
    const struct eng_restore_opt *opt;
    const bool *groups;    /* of the rule being read; NULL: all */
    struct ckpt_evtab *t;
    int32_t *stream_map;   /* saved stream index -> new, -1: gone */
    size_t n_streams;      /* saved */
    const char *last_name; /* the name the previous event carried */
    size_t n_made;
};

/* The engine's copy of an event's source name: a rule's "rule:<id>", or
 * one the engine keeps among its retired names (freed with it). */
static const char *eng_snap_name(struct eng_snap_rd *c, const char *name)
{
    struct eng *eng = c->eng;
    if (!name)
        return NULL;
    if (c->last_name && strcmp(c->last_name, name) == 0)
        return c->last_name;
    for (size_t i = 0; i < eng->rs->n_rules; i++)
        if (strcmp(eng->rule_src_names[i], name) == 0)
            return c->last_name = eng->rule_src_names[i];
    for (size_t i = 0; i < eng->n_retired; i++)
        if (strcmp(eng->retired[i], name) == 0)
            return c->last_name = eng->retired[i];
    CEP_GROW(eng->retired, eng->retired_cap, eng->n_retired + 1);
    eng->retired[eng->n_retired] = cep_strdup(name);
    return c->last_name = eng->retired[eng->n_retired++];
}

/* ckpt_make_evt_fn: a held event, decoded again under its stream's new
 * schema.  An event of a stream the rule set no longer has keeps only its
 * raw bytes: only state a restore skips (dropped rules, buffers of streams
 * gone) can hold it. */
static struct evt *eng_snap_make(void *ud, uint32_t stream, int64_t time, uint64_t seq,
                                 const char *src_name, uint64_t src_off, const char *raw,
                                 size_t raw_len)
{
    struct eng_snap_rd *c = ud;
    struct eng *eng = c->eng;
    if (stream >= c->n_streams || raw_len > UINT32_MAX)
        return NULL;
    struct evt *ev = evt_pool_get(&eng->pool);
    int32_t ns = c->stream_map[stream];
    if (ns < 0) {
        evt_reset(ev, raw, raw_len, 0);
        ev->stream = UINT32_MAX;
    } else if (eng_evt_decode(eng, ev, (uint32_t)ns, raw, raw_len) != CEP_OK) {
        evt_unref(ev);
        return NULL;
    }
    ev->time = time;
    ev->seq = seq;
    ev->src_name = eng_snap_name(c, src_name);
    ev->src_off = src_off;
    c->n_made++;
    return ev;
}

/* One key record into kd (rule r; NULL for a throttle table).  The key's
 * state is loaded into a fresh slot and its deadline registered. */
static void eng_snap_get_key(struct eng_snap_rd *c, struct ckpt_r *f, struct eng_keyed *kd,
                             const struct rule *r, uint64_t group)
{
    size_t len;
    const char *kj = ckpt_get_bytes(f, &len);
    int64_t last_seen = ckpt_get_sv(f);
    int64_t deadline = ckpt_get_sv(f);
    int64_t sdl = ckpt_get_sv(f);
    int64_t ttl_at = ckpt_get_sv(f);
    uint8_t flags = ckpt_get_u8(f);
    if (f->err)
        return;
    uint8_t want = !r                          ? ENG_SNAP_THR
                   : r->kind == RULE_PATTERN   ? ENG_SNAP_NFA
                   : r->kind == RULE_AGGREGATE ? ENG_SNAP_WIN
                                               : ENG_SNAP_LAST;
    if (len == 0 || len >= UINT32_MAX || flags != want) {
        ckpt_r_fail(f, "bad key record");
        return;
    }
    if (eng_key_group(cep_hash64(kj, len, 0)) != group) {
        ckpt_r_fail(f, "key in the wrong key group");
        return;
    }
    size_t live = kd->n_live;
    uint32_t slot = eng_keyed_get(kd, r, kj, len);
    struct eng_key *k = &kd->keys[slot];
    if (kd->n_live == live) {
        ckpt_r_fail(f, "key saved twice");
        return;
    }
    if (flags & ENG_SNAP_NFA) {
        if (nfa_key_load(k->nfa, f, c->t) != CEP_OK)
            return;
    } else if (flags & ENG_SNAP_WIN) {
        const struct eng *eng = c->eng;
        if (!k->win)
            k->win = win_key_new(r->win, eng->rs->streams[r->stream].time.allowed_lateness);
        if (win_key_load(k->win, f, c->t) != CEP_OK)
            return;
    } else if (flags & ENG_SNAP_LAST) {
        k->last = ckpt_get_evt(f, c->t);
        if (k->last && k->last->stream != r->stream) {
            ckpt_r_fail(f, "absence event of another stream");
            return;
        }
    }
    if (flags & ENG_SNAP_THR) {
        struct eng_thr *e = eng_thr_of(k); /* a reused slot keeps its entry */
        sbuf_reset(&e->kept);
        e->until = ckpt_get_sv(f);
        e->n = ckpt_get_uv(f);
        e->first = ckpt_get_sv(f);
        e->last = ckpt_get_sv(f);
        e->kept_time = ckpt_get_sv(f);
        size_t id_len, kept_len;
        const char *id = ckpt_get_bytes(f, &id_len);
        const char *kept = ckpt_get_bytes(f, &kept_len);
        if (f->err)
            return;
        if (id_len != 32 || (e->n && kept_len == 0)) {
            ckpt_r_fail(f, "bad throttle entry");
            return;
        }
        memcpy(e->kept_id, id, 32);
        e->kept_id[32] = '\0';
        if (kept_len)
            sbuf_append(&e->kept, kept, kept_len);
    }
    if (f->err)
        return;
    k->last_seen = last_seen;
    k->deadline = deadline;
    k->sdl = sdl;
    k->ttl_at = ttl_at;
    eng_keyed_arm(kd, slot);
}

/* A keyed table (see eng_snap_put_keyed): the selected key groups into
 * kd; *n_keys counts the keys restored. */
static void eng_snap_get_keyed(struct eng_snap_rd *c, struct ckpt_r *r, struct eng_keyed *kd,
                               const struct rule *rule, size_t *n_keys)
{
    int64_t now = ckpt_get_sv(r);
    uint64_t n_expired = ckpt_get_uv(r);
    if (now > kd->now) /* the latest of the snapshots restored */
        kd->now = now;
    if (c->opt->counters)
        kd->n_expired += n_expired;
    uint64_t n_groups = ckpt_get_uv_max(r, ENG_KEY_GROUPS, "too many key groups");
    for (uint64_t i = 0; i < n_groups && !r->err; i++) {
        uint64_t g = ckpt_get_uv_max(r, ENG_KEY_GROUPS - 1, "key group out of range");
        struct ckpt_r f;
        ckpt_get_frame(r, &f);
        if (r->err || (c->groups && !c->groups[g]))
            continue;
        uint64_t n = ckpt_get_uv_max(&f, (uint64_t)(f.end - f.p), "too many keys");
        for (uint64_t k = 0; k < n && !f.err; k++)
            eng_snap_get_key(c, &f, kd, rule, g);
        if (!f.err && f.p != f.end)
            ckpt_r_fail(&f, "trailing bytes in a key group");
        if (f.err)
            ckpt_r_fail(r, f.err);
        *n_keys += (size_t)n;
    }
}

/* Back to an engine as new (a failed restore).  The engine had not run. */
static void eng_snap_reset(struct eng *eng)
{
    eng_streams_free(eng);
    eng_streams_init(eng);
    for (size_t i = 0; i < eng->rs->n_rules; i++) {
        eng_keyed_free(&eng->keyed[i]);
        eng_keyed_init(&eng->keyed[i], eng->rs->rules[i]);
    }
    memset(&eng->stats, 0, sizeof(eng->stats));
    memset(eng->rule_stats, 0, eng->rs->n_rules * sizeof(*eng->rule_stats));
    for (size_t i = 0; i < eng->n_retired; i++)
        cep_free(eng->retired[i]);
    eng->n_retired = 0;
}

/* The report: one entry per rule of the rule set, then the dropped ones,
 * whose ids are copied after the entries (one allocation). */
static void eng_snap_report(struct eng *eng, struct eng_restore_report *rep,
                            const enum eng_restore_fate *fate, const size_t *keys,
                            const struct eng_snap_rule *dropped, size_t n_dropped, size_t events)
{
    size_t n = eng->rs->n_rules + n_dropped, names = 0;
    for (size_t i = 0; i < n_dropped; i++)
        names += dropped[i].id_len + 1;
    rep->rules = cep_calloc(1, n * sizeof(*rep->rules) + names + 1);
    char *p = (char *)(rep->rules + n);
    for (size_t i = 0; i < eng->rs->n_rules; i++)
        rep->rules[i] = (struct eng_restore_rule){eng->rs->rules[i]->id, fate[i], keys[i]};
    for (size_t i = 0; i < n_dropped; i++) {
        memcpy(p, dropped[i].id, dropped[i].id_len);
        p[dropped[i].id_len] = '\0';
        rep->rules[eng->rs->n_rules + i] =
                (struct eng_restore_rule){p, ENG_RESTORE_DROPPED, (size_t)dropped[i].keys};
        p += dropped[i].id_len + 1;
    }
    rep->n_rules = n;
    rep->events = events;
}

/* The stream table: times of the streams both have, the map of indexes;
 * saved[] receives the table. */
static void eng_snap_get_streams(struct eng_snap_rd *c, struct ckpt_r *r,
                                 struct eng_snap_stream *saved, bool *time_moved)
{
    struct eng *eng = c->eng;
    for (size_t i = 0; i < c->n_streams && !r->err; i++) {
        struct eng_snap_stream *s = &saved[i];
        eng_snap_get_stream(r, s);
        c->stream_map[i] = -1;
        if (r->err)
            break;
        char *name = cep_strndup(s->name, s->name_len);
        int32_t j = ruleset_find_stream(eng->rs, name);
        cep_free(name);
        c->stream_map[i] = j;
        if (j < 0)
            continue;
        struct eng_stream *ns = &eng->streams[j];
        if (s->has_time != eng->rs->streams[j].time.has_time || s->derived != ns->derived)
            continue; /* another kind of time: it starts afresh */
        /* Several snapshots (workers): the latest of each time. */
        ns->wm_excl = s->wm_excl > ns->wm_excl ? s->wm_excl : ns->wm_excl;
        ns->max_ts = s->max_ts > ns->max_ts ? s->max_ts : ns->max_ts;
        ns->now = s->now > ns->now ? s->now : ns->now;
        ns->last_ts = s->last_ts > ns->last_ts ? s->last_ts : ns->last_ts;
        ns->last_arrival = s->last_arrival > ns->last_arrival ? s->last_arrival
                                                              : ns->last_arrival;
        time_moved[i] = true;
    }
}

/* What stream j (of the engine's rule set) takes under opt. */
static enum eng_restore_part eng_snap_part(const struct eng_restore_opt *opt, uint32_t j)
{
    if (!opt->part)
        return opt->groups ? ENG_RESTORE_GROUPS : ENG_RESTORE_ALL;
    return (enum eng_restore_part)opt->part[j];
}

/* Does the engine take buffered event ev of its stream j? */
static bool eng_snap_take_buffered(const struct eng_restore_opt *opt, uint32_t j,
                                   const struct evt *ev)
{
    if (!opt->part) /* eng_restore: reorder buffers whole */
        return true;
    switch (eng_snap_part(opt, j)) {
        case ENG_RESTORE_ALL:
            return true;
        case ENG_RESTORE_GROUPS:
            return !opt->groups || opt->groups[opt->group_of(opt->ud, ev) % ENG_KEY_GROUPS];
        case ENG_RESTORE_NONE:
        case ENG_RESTORE_PART_COUNT:
            break;
    }
    return false;
}

int eng_restore(struct eng *eng, struct ckpt_r *r, const bool *groups,
                struct eng_restore_report *rep, char *err, size_t errlen)
{
    struct eng_restore_opt opt = {.groups = groups, .counters = true};
    return eng_restore_opt(eng, r, &opt, rep, err, errlen);
}

int eng_restore_opt(struct eng *eng, struct ckpt_r *r, const struct eng_restore_opt *opt,
                    struct eng_restore_report *rep, char *err, size_t errlen)
{
    const struct ruleset *rs = eng->rs;
    CEP_ASSERT(eng->q_len == 0 && !eng->draining);
    memset(rep, 0, sizeof(*rep));
    int rc = CEP_ERR;
    struct eng_snap_rd c = {.eng = eng, .opt = opt};
    struct eng_snap_stream *saved = NULL;
    bool *time_moved = NULL;
    struct eng_snap_rule *dropped = NULL;
    size_t n_dropped = 0, dropped_cap = 0;
    enum eng_restore_fate *fate = cep_calloc(rs->n_rules + 1, sizeof(*fate));
    size_t *keys = cep_calloc(rs->n_rules + 1, sizeof(*keys));
    struct eng_id_index idx;
    eng_id_index_build(&idx, rs);
    for (size_t i = 0; i < rs->n_rules; i++)
        fate[i] = ENG_RESTORE_NEW;

    if (ckpt_get_uv(r) != ENG_SNAP_VERSION && !r->err)
        ckpt_r_fail(r, "engine snapshot version not supported");
    struct eng_stats stats;
    eng_snap_get_stats(r, &stats);
    c.n_streams = (size_t)ckpt_get_uv_max(r, ENG_SNAP_MAX_STREAMS, "too many streams");
    if (r->err)
        goto fail;
    saved = cep_calloc(c.n_streams + 1, sizeof(*saved));
    time_moved = cep_calloc(c.n_streams + 1, sizeof(*time_moved));
    c.stream_map = cep_calloc(c.n_streams + 1, sizeof(*c.stream_map));
    eng_snap_get_streams(&c, r, saved, time_moved);

    /* Every held event, made once; the table keeps a reference on each. */
    c.t = ckpt_evtab_reader(eng_snap_make, &c);
    struct ckpt_r f;
    ckpt_get_frame(r, &f);
    while (!r->err && !f.err && f.p < f.end) {
        struct evt *ev = ckpt_get_evt(&f, c.t);
        evt_unref(ev);
        if (!ev && !f.err)
            ckpt_r_fail(&f, "undecodable event");
    }
    if (f.err)
        ckpt_r_fail(r, f.err);

    ckpt_get_frame(r, &f);
    for (size_t i = 0; i < c.n_streams && !r->err; i++) {
        int32_t j = c.stream_map[i];
        struct eng_stream *ns = j >= 0 ? &eng->streams[j] : NULL;
        /* Only stateful rules wait for buffered events (stateless ones saw
         * them on arrival). */
        bool keep = ns && ns->stateful && !ns->derived && time_moved[i];
        for (uint64_t k = 0; k < saved[i].buf_n && !f.err; k++) {
            struct evt *ev = ckpt_get_evt(&f, c.t);
            if (ev && keep && eng_snap_take_buffered(opt, (uint32_t)j, ev))
                eng_stream_buffer_take(ns, ev);
            else
                evt_unref(ev);
        }
    }
    if (!f.err && !r->err && f.p != f.end)
        ckpt_r_fail(&f, "trailing bytes in the reorder buffers");
    if (f.err)
        ckpt_r_fail(r, f.err);

    uint64_t n_rules = ckpt_get_uv_max(r, ENG_SNAP_MAX_RULES, "too many rules");
    for (uint64_t i = 0; i < n_rules && !r->err; i++) {
        struct eng_snap_rule s;
        eng_snap_get_rule(r, &s);
        if (r->err)
            break;
        char *id = cep_strndup(s.id, s.id_len);
        int64_t ni = eng_id_index_find(&idx, rs, id);
        cep_free(id);
        if (ni < 0) {
            CEP_GROW(dropped, dropped_cap, n_dropped + 1);
            dropped[n_dropped++] = s;
            continue;
        }
        const struct rule *nr = rs->rules[ni];
        if (fate[ni] != ENG_RESTORE_NEW) {
            ckpt_r_fail(r, "rule saved twice");
            break;
        }
        if (nr->hash != s.hash || (uint8_t)nr->kind != s.kind) {
            fate[ni] = ENG_RESTORE_RESET;
            keys[ni] = (size_t)s.keys;
            continue;
        }
        fate[ni] = ENG_RESTORE_KEPT;
        if (opt->counters)
            eng_snap_add_rule_stats(&eng->rule_stats[ni], &s.stats);
        enum eng_restore_part part = eng_snap_part(opt, nr->stream);
        if (part == ENG_RESTORE_NONE)
            continue; /* another engine takes this rule's state */
        c.groups = part == ENG_RESTORE_GROUPS ? opt->groups : NULL;
        struct eng_keyed *kd = &eng->keyed[ni];
        eng_snap_get_keyed(&c, &s.frame, kd, nr, &keys[ni]);
        bool thr = ckpt_get_bool(&s.frame);
        size_t n_thr = 0;
        if (!s.frame.err && thr != (kd->throttle != NULL))
            ckpt_r_fail(&s.frame, "throttle table mismatch");
        if (thr && kd->throttle)
            eng_snap_get_keyed(&c, &s.frame, kd->throttle, NULL, &n_thr);
        if (!s.frame.err && s.frame.p != s.frame.end)
            ckpt_r_fail(&s.frame, "trailing bytes in a rule");
        if (s.frame.err)
            ckpt_r_fail(r, s.frame.err);
    }
    if (!r->err && r->p != r->end)
        ckpt_r_fail(r, "trailing bytes after the rules");
    if (r->err)
        goto fail;
    if (opt->counters)
        eng_snap_add_stats(&eng->stats, &stats);
    else /* lines number events (seq): restored ones stay ahead of new ones */
        eng->stats.lines += stats.lines;
    eng_snap_report(eng, rep, fate, keys, dropped, n_dropped, c.n_made);
    rc = CEP_OK;

fail: /* success falls through here too */
    if (rc != CEP_OK)
        snprintf(err, errlen, "engine snapshot: %s", r->err ? r->err : "malformed");
    ckpt_evtab_free(c.t);
    if (rc != CEP_OK)
        eng_snap_reset(eng);
    cep_free(idx.slots);
    cep_free(fate);
    cep_free(keys);
    cep_free(dropped);
    cep_free(saved);
    cep_free(time_moved);
    cep_free(c.stream_map);
    return rc;
}

void eng_restore_report_free(struct eng_restore_report *rep)
{
    if (!rep)
        return;
    cep_free(rep->rules);
    memset(rep, 0, sizeof(*rep));
}

void eng_restore_report_add(struct eng_restore_report *dst, const struct eng_restore_report *src,
                            bool kept_only)
{
    size_t n = dst->n_rules < src->n_rules ? dst->n_rules : src->n_rules;
    for (size_t i = 0; i < n; i++)
        if (!kept_only || src->rules[i].fate == ENG_RESTORE_KEPT)
            dst->rules[i].keys += src->rules[i].keys;
    dst->events += src->events;
}

int eng_restore_section(struct eng *eng, struct ckpt_r *r, const struct eng_restore_opt *opt,
                        struct eng_restore_report *rep, char *err, size_t errlen)
{
    struct eng_restore_opt all = {.counters = true};
    memset(rep, 0, sizeof(*rep));
    uint64_t n = 1;
    for (uint64_t i = 0; i < n; i++) {
        struct ckpt_r f;
        ckpt_get_frame(r, &f);
        if (i == 0 && !r->err && r->p != r->end)
            n += ckpt_get_uv_max(r, ENG_KEY_GROUPS, "too many engine snapshots");
        if (r->err) {
            snprintf(err, errlen, "engine: %s", r->err);
            goto fail;
        }
        struct eng_restore_report one;
        if (eng_restore_opt(eng, &f, opt ? opt : &all, &one, err, errlen) != CEP_OK)
            goto fail; /* err set */
        if (i == 0) {
            *rep = one;
        } else {
            eng_restore_report_add(rep, &one, false);
            eng_restore_report_free(&one);
        }
    }
    if (r->p != r->end) {
        snprintf(err, errlen, "engine: trailing bytes after the snapshots");
        goto fail;
    }
    return CEP_OK;

fail: /* the engine as new: eng_restore_opt's contract */
    eng_snap_reset(eng);
    eng_restore_report_free(rep);
    return CEP_ERR;
}

const char *eng_restore_fate_name(enum eng_restore_fate f)
{
    static const char *const names[ENG_RESTORE_FATE_COUNT] = {
            [ENG_RESTORE_KEPT] = "kept",
            [ENG_RESTORE_RESET] = "reset",
            [ENG_RESTORE_NEW] = "new",
            [ENG_RESTORE_DROPPED] = "dropped",
    };
    return (unsigned)f < ENG_RESTORE_FATE_COUNT ? names[f] : "?";
}

/* ---- inspect ---------------------------------------------------------- */

static void eng_snap_put_time(struct sbuf *out, int64_t t)
{
    if (t == CEP_TIME_MIN)
        sbuf_puts(out, "none");
    else if (t == CEP_TIME_MAX)
        sbuf_puts(out, "end");
    else
        eng_json_time(out, t);
}

int eng_snapshot_inspect(struct ckpt_r *r, struct sbuf *out)
{
    if (ckpt_get_uv(r) != ENG_SNAP_VERSION && !r->err)
        ckpt_r_fail(r, "engine snapshot version not supported");
    struct eng_stats st;
    eng_snap_get_stats(r, &st);
    if (r->err)
        return CEP_ERR;
    sbuf_printf(out,
                "engine: %" PRIu64 " lines, %" PRIu64 " events, %" PRIu64 " rejected, %" PRIu64
                " derived, %" PRIu64 " alerts, %" PRIu64 " late\n",
                st.lines, st.events, st.rejected, st.derived, st.alerts, st.late);
    uint64_t n = ckpt_get_uv_max(r, ENG_SNAP_MAX_STREAMS, "too many streams");
    for (uint64_t i = 0; i < n && !r->err; i++) {
        struct eng_snap_stream s;
        eng_snap_get_stream(r, &s);
        if (r->err)
            break;
        sbuf_printf(out, "stream %.*s: %s time, ", (int)s.name_len, s.name,
                    s.derived ? "derived" : s.has_time ? "event" : "processing");
        sbuf_puts(out, "watermark ");
        eng_snap_put_time(out, s.wm_excl == CEP_TIME_MIN || s.wm_excl == CEP_TIME_MAX
                                       ? s.wm_excl
                                       : s.wm_excl - 1);
        sbuf_puts(out, ", now ");
        eng_snap_put_time(out, s.now);
        sbuf_printf(out, ", %" PRIu64 " buffered\n", s.buf_n);
    }
    struct ckpt_r f;
    ckpt_get_frame(r, &f); /* events */
    ckpt_get_frame(r, &f); /* reorder buffers */
    n = ckpt_get_uv_max(r, ENG_SNAP_MAX_RULES, "too many rules");
    for (uint64_t i = 0; i < n && !r->err; i++) {
        struct eng_snap_rule s;
        eng_snap_get_rule(r, &s);
        if (r->err)
            break;
        sbuf_printf(out,
                    "rule %.*s: %s, hash %016" PRIx64 ", %" PRIu64 " keys, %" PRIu64
                    " partial matches, %" PRIu64 " windows, %" PRIu64 " bytes\n",
                    (int)s.id_len, s.id, rule_kind_name((enum rule_kind)s.kind), s.hash, s.keys,
                    s.partials, s.windows, s.bytes);
    }
    if (!r->err && r->p != r->end)
        ckpt_r_fail(r, "trailing bytes after the rules");
    return r->err ? CEP_ERR : CEP_OK;
}
