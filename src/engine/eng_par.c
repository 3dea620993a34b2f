/* SPDX-License-Identifier: Apache-2.0
 * `parallelism: N` (design §5): the caller's thread dispatches, N worker
 * threads each run a full engine (eng_new on the same rule set) and own the
 * key groups g with g % N == their index.
 *
 * Routing, per stream, decided once from the rule set:
 * - BY_KEY: every stateful rule (pattern, aggregate, absence) and every
 *   throttle table of the stream is keyed by the same list of bare fields
 *   and no rule of it emits.  A line goes to worker
 *   (cep_hash64(key JSON) % ENG_KEY_GROUPS) % N, the group the engine files
 *   the key under, so a key's whole history meets one engine; stateless
 *   rules run where the line goes (each line goes to one worker).
 * - SPREAD: no stateful or throttled rule and no emit: lines go to the
 *   workers in turns, 64 at a time.
 * - WORKER0: anything else (a global key, different keys, derived events,
 *   a stream fed by emit): worker 0 sees every line of the stream, so it
 *   is exactly one engine for it.
 * Event time: a worker of a BY_KEY stream sees only some of its lines, so
 * its own bounded watermark would lag and its late check differ.  The
 * dispatcher therefore keeps the stream's watermark over ALL lines, as
 * eng_stream_offer would (late events do not move it, punctuation raises
 * it), and sends each line with the watermark before it and after it; the
 * worker raises its stream to the first (eng_stream_watermark) before the
 * line, so its late check is the single engine's, and to the second after
 * it.  Between, the worker's own bounded release can only go as far as the
 * global one.  Per key this gives the same sequence of events, releases
 * and time advances as one engine; alert ids hash the rule, key and event
 * identities (source, offset), never the worker, so the workers together
 * produce the same multiset of alerts (ids and JSON) as one engine, in an
 * order that may differ between workers.  Batches carry the current
 * watermark to every worker at each flush, so windows close without input.
 * At a `drain` (stop without end of input) every worker advances to the
 * stream's last event, as one engine does, not just to its own.  Known
 * differences: idle_timeout and processing time follow each worker's clock.
 *
 * Decoding: the dispatcher must validate each line (a rejected line
 * neither reaches a worker nor moves the watermark) and read its key and
 * time.  The key-only scan (eng_par_scan.c) does that for a stream whose
 * key and time fields are top-level members, without building an event,
 * and notes where the line's fields lie; the line goes out with that list
 * and its time, and the worker fills its event from them
 * (eng_push_decoded) instead of parsing the line again.  A line the scan
 * cannot vouch for is decoded in full (dec_json_line), as is the key of a
 * value other than a plain string (eng_keyed_fields_json); its worker
 * then decodes it too.  The key's JSON and hash, which route the line, go
 * with it, and the worker's stateful rules keyed by those fields take
 * them (eng_decoded.key) instead of writing them again.
 *
 * Transport: per worker two SPSC rings of batch pointers each way (full
 * and free), ENG_PAR_BATCHES batches allocated at start: a full input
 * ring (no free batch) makes the dispatcher wait, draining alerts, which is
 * the back-pressure; nothing on the per-line path allocates once batches
 * have grown to the longest line.  Alerts come back in batches of copies.
 * A worker sleeps on a condition variable when its ring is empty; the
 * dispatcher wakes it once ENG_PAR_WAKE_AT batches wait, or at a flush
 * (eng_par_flush: the daemon's timer every few milliseconds, ticks,
 * checkpoints, the end), which also sends a partly filled batch.
 *
 * Checkpoints (design §5.1): eng_par_snapshot flushes every batch with the
 * current watermarks, then sends a barrier through every ring; a worker
 * that reaches it sends back the alerts it has made (all of them made
 * before the barrier), writes eng_snapshot of its engine into its own
 * buffer and answers.  The dispatcher sends nothing more until every
 * worker has answered, and delivers their alerts meanwhile, so the alerts
 * before the barrier are exactly those delivered before the snapshot is
 * complete.  The snapshot is one frame per worker (eng.h, ENGINE section);
 * lines the dispatcher rejected go into worker 0's counters at the
 * barrier.  eng_par_restore (before any line) rescales: worker w takes,
 * from every saved frame, the key groups it owns now for BY_KEY streams
 * (their rules' state, and the buffered events whose key falls in them),
 * and worker 0 everything of the other streams; all take the streams'
 * times (the latest of the frames); worker 0 takes the counters, so that
 * they add up (the others only number their events past the saved ones).
 * Tested by: tests/unit/check_par.c, tests/daemon/t_parallel.sh,
 * tests/daemon/t_parallel_ckpt.sh */
#include "cepd/cep_common.h"
#include "cepd/eng_par.h"

#include "eng_int.h"
#include "eng_par_int.h"

#include "cepd/ckpt.h"
#include "cepd/dec.h"
#include "cepd/hash.h"
#include "cepd/sbuf.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Per worker and direction; a power of two.  Deep enough (8k lines a
 * worker) that a worker the scheduler leaves off the CPU for a few
 * milliseconds does not stop the dispatcher for the others: with 8, two
 * workers on a 2-CPU machine were no faster than one. */
#define ENG_PAR_BATCHES      32
#define ENG_PAR_BATCH_RECS   256
#define ENG_PAR_BATCH_BYTES  (64 * 1024)
#define ENG_PAR_BATCH_FIELDS (ENG_PAR_BATCH_RECS * 8)
#define ENG_PAR_SPREAD_RUN   64        /* SPREAD lines to one worker before the next */
#define ENG_PAR_WAIT_NS      20000     /* a waiting side sleeps this long between looks */
/* Batches that wait before the dispatcher wakes a sleeping worker (a
 * flush, every few milliseconds and at the end, wakes it for one): fewer
 * sleeps and wakes, each a system call and a switch, while the other
 * threads keep the CPUs. */
#define ENG_PAR_WAKE_AT      4

enum eng_par_kind {
    ENG_PAR_LINE = 0, /* a: watermark (exclusive) before, b: after; CEP_TIME_MIN: none */
    ENG_PAR_WM,       /* a: watermark (exclusive) */
    ENG_PAR_TICK,     /* a: now */
    ENG_PAR_FINISH,   /* a: enum eng_eof */
    ENG_PAR_ADVANCE,  /* a: time the stream advances to (after a drain) */
    ENG_PAR_SYNC,     /* a: sequence number to publish */
    ENG_PAR_BARRIER,  /* SYNC after a snapshot; b: lines the dispatcher rejected */
    ENG_PAR_KIND_COUNT
};

/* A LINE's bytes follow the previous LINE's in the batch, and so do its
 * fields: the worker finds them by counting, in order. */
struct eng_par_rec {
    uint8_t kind;             /* enum eng_par_kind */
    uint16_t klen;            /* LINE: its key's JSON, after its bytes (0: none) */
    uint32_t stream;
    uint32_t len;             /* LINE: its bytes */
    uint16_t n_fv;            /* LINE: its fields; ENG_PAR_DECODE: decode it */
    int16_t time_fv;          /* LINE: eng_decoded's */
    int64_t time;
    const char *src_name;
    uint64_t src_off;
    int64_t a, b;
    uint64_t khash;           /* LINE with klen: its key's hash */
};
#define ENG_PAR_DECODE UINT16_MAX
_Static_assert(ENG_PAR_BATCH_FIELDS < ENG_PAR_DECODE, "a line's n_fv fits a record");
_Static_assert(sizeof(struct eng_par_rec) <= 64, "a record fits a cache line");

struct eng_par_batch {
    struct eng_par_rec recs[ENG_PAR_BATCH_RECS];
    size_t n;
    char *bytes;
    size_t len, cap;
    struct eng_par_fv *fv;    /* where the lines' fields lie: ENG_PAR_BATCH_FIELDS */
    size_t n_fv;
};

struct eng_par_out {
    size_t rule_index;
    int64_t time;
    size_t off;
    size_t len;
    char id[33];
};

struct eng_par_obatch {
    struct eng_par_out recs[ENG_PAR_BATCH_RECS];
    size_t n;
    char *bytes;
    size_t len, cap;
};

struct eng_par_worker {
    struct eng_par *p;
    struct eng *eng;
    pthread_t thread;
    struct eng_par_ring in, in_free;   /* dispatcher -> worker; worker returns */
    struct eng_par_ring out, out_free; /* worker -> dispatcher; dispatcher returns */
    struct eng_par_batch *batches;     /* ENG_PAR_BATCHES */
    struct eng_par_obatch *obatches;
    struct eng_par_batch *cur;         /* dispatcher: being filled */
    struct eng_par_obatch *ocur;       /* worker: being filled */
    struct eng_fval *fvx;              /* worker: a line's fields, expanded */
    int64_t *wm_sent;                  /* dispatcher: per stream, last watermark sent */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic bool sleeping;
    _Atomic bool exited;
    _Atomic uint64_t synced;
    struct eng_stats stats;            /* copied at SYNC, before synced */
    struct eng_rule_report *rules;     /* per rule, copied at SYNC, before synced */
    struct sbuf snap;                  /* written at BARRIER, before synced */
    uint64_t base_lines;               /* restored lines another worker counts */
};

struct eng_par_stream {
    enum eng_par_route route;
    const char *why;
    const struct rule_field *key;
    size_t n_key;
    bool ext;                 /* the watermark is kept here (BY_KEY, event time) */
    bool stateful;            /* it has stateful rules (late events are dropped) */
    int64_t wm_excl, max_ts, last_arrival;
    int64_t max_ev;           /* latest time of an event that was not late */
    bool scan_ok;             /* the key-only scan can read its lines */
    struct eng_par_scan scan; /* its key fields (BY_KEY) and time fields */
    int key_slot[ENG_PAR_SCAN_MAX]; /* with scan_ok, BY_KEY: the key fields' slots */
    /* With scan_ok: its schema's top-level members, for eng_push_decoded,
     * and the index of the time field among them (-1: none). */
    struct eng_fnames fnames;
    const char **names;       /* fnames' arrays, owned */
    size_t *lens;
    int32_t time_field;
};

struct eng_par {
    const struct ruleset *rs;
    struct eng_output out;
    uint32_t n;
    uint32_t n_threads;       /* workers whose thread runs (all n once started) */
    struct eng_par_worker *w;
    struct eng_par_stream *streams;
    struct evt *ev;           /* the line being validated */
    struct eng_par_fv *fv;    /* its fields: ENG_PAR_BATCH_FIELDS */
    bool scanned;             /* the key-only scan read it (else the decoder) */
    struct expr_rt *rt;
    struct expr_counters counters;
    struct sbuf key;
    uint64_t spread;          /* SPREAD lines so far */
    uint64_t sync_seq;
    uint64_t rejected;        /* lines rejected here, since the last barrier (lines too) */
    _Atomic bool stop;
};

static void eng_par_nap(void)
{
    struct timespec ts = {0, ENG_PAR_WAIT_NS};
    nanosleep(&ts, NULL);
}

/* ---- routing ------------------------------------------------------------- */

/* Does key (f, n) agree with the stream's key so far (taken if first)? */
static bool eng_par_key_agrees(struct eng_par_stream *ps, const struct rule_field *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (expr_field_slot(f[i].expr) < 0)
            return false;
    if (!ps->key) {
        ps->key = f;
        ps->n_key = n;
        return true;
    }
    if (n != ps->n_key)
        return false;
    for (size_t i = 0; i < n; i++)
        if (expr_field_slot(f[i].expr) != expr_field_slot(ps->key[i].expr))
            return false;
    return true;
}

static void eng_par_classify(const struct ruleset *rs, uint32_t s, struct eng_par_stream *ps)
{
    const struct rule_stream *st = &rs->streams[s];
    ps->route = ENG_PAR_WORKER0;
    for (size_t r = 0; r < rs->n_rules; r++) {
        const struct rule *rule = rs->rules[r];
        if (rule->enabled && (rule->emit_stream == (int32_t)s ||
                              (rule->on_timeout.enabled && rule->on_timeout.emit_stream == (int32_t)s))) {
            ps->why = "rules emit into it";
            return;
        }
    }
    for (size_t i = 0; i < st->n_rules; i++) {
        const struct rule *r = rs->rules[st->rules[i]];
        if (r->emit_stream >= 0 || (r->on_timeout.enabled && r->on_timeout.emit_stream >= 0)) {
            ps->why = "a rule of it emits derived events";
            return;
        }
        bool stateful = eng_rule_stateful(r);
        ps->stateful = ps->stateful || stateful;
        const struct rule_field *f[2] = {NULL, NULL};
        size_t n[2] = {0, 0};
        bool want[2] = {stateful, r->throttle.period > 0};
        f[0] = r->key;
        n[0] = r->n_key;
        f[1] = r->throttle.rule_key ? r->key : r->throttle.key;
        n[1] = r->throttle.rule_key ? r->n_key : r->throttle.n_key;
        for (int k = 0; k < 2; k++) {
            if (!want[k])
                continue;
            if (n[k] == 0) {
                ps->why = "a rule of it keeps one global key";
                return;
            }
            if (!eng_par_key_agrees(ps, f[k], n[k])) {
                ps->why = "its rules are keyed by different fields (or expressions)";
                return;
            }
        }
    }
    ps->why = NULL;
    ps->route = ps->key ? ENG_PAR_BY_KEY : ENG_PAR_SPREAD;
    ps->ext = ps->route == ENG_PAR_BY_KEY && st->time.has_time;
}

/* What the dispatcher reads of a line of stream s (classified): the key
 * (BY_KEY) and the time fields, through the key-only scan if it can. */
static void eng_par_scan_setup(const struct ruleset *rs, uint32_t s, struct eng_par_stream *ps)
{
    const struct rule_time *t = &rs->streams[s].time;
    int slots[ENG_PAR_SCAN_MAX + 2];
    size_t n = 0;
    if (ps->route == ENG_PAR_BY_KEY && ps->n_key > ENG_PAR_SCAN_MAX)
        return;
    for (size_t i = 0; ps->route == ENG_PAR_BY_KEY && i < ps->n_key; i++)
        slots[n++] = ps->key_slot[i] = expr_field_slot(ps->key[i].expr);
    if (t->has_time) {
        slots[n++] = t->time_slot;
        if (t->watermark_slot >= 0)
            slots[n++] = t->watermark_slot;
    }
    ps->scan_ok = eng_par_scan_init(&ps->scan, rs->streams[s].schema, slots, n);
    if (!ps->scan_ok)
        return; /* every line is decoded in full, by the worker too */
    const struct evt_schema_node *root = &rs->streams[s].schema->root;
    const char **names = ps->names = cep_calloc(root->n_children + 1, sizeof(*names));
    size_t *lens = ps->lens = cep_calloc(root->n_children + 1, sizeof(*lens));
    uint64_t h = 0;
    ps->time_field = -1;
    for (uint32_t i = 0; i < root->n_children; i++) {
        names[i] = root->children[i]->name;
        lens[i] = root->children[i]->name_len;
        h = cep_hash64(names[i], lens[i] + 1, h); /* with the NUL: "a","bc" is not "ab","c" */
        if (t->has_time && root->children[i]->slot == t->time_slot)
            ps->time_field = (int32_t)i;
    }
    ps->fnames =
            (struct eng_fnames){.names = names, .lens = lens, .n = root->n_children, .hash = h};
}

enum eng_par_route eng_par_stream_route(const struct eng_par *p, uint32_t stream,
                                        const char **why)
{
    CEP_ASSERT(stream < p->rs->n_streams);
    if (why)
        *why = p->streams[stream].why;
    return p->streams[stream].route;
}

/* ---- the worker thread --------------------------------------------------- */

/* Worker: the batch alerts go into, waiting for the dispatcher to return
 * one when all are in flight. */
static struct eng_par_obatch *eng_par_obatch(struct eng_par_worker *w)
{
    while (!w->ocur && !(w->ocur = eng_par_ring_pop(&w->out_free)))
        eng_par_nap();
    return w->ocur;
}

static void eng_par_publish(struct eng_par_worker *w)
{
    if (w->ocur && w->ocur->n) {
        bool ok = eng_par_ring_push(&w->out, w->ocur); /* only ENG_PAR_BATCHES exist */
        CEP_ASSERT(ok);
        w->ocur = NULL;
    }
}

/* The workers' engines' alert callback (worker thread): copy it out. */
static void eng_par_on_alert(void *ud, const struct eng_alert *a)
{
    struct eng_par_worker *w = ud;
    struct eng_par_obatch *ob = eng_par_obatch(w);
    if (ob->n == ENG_PAR_BATCH_RECS || (ob->n && ob->len + a->len > ob->cap)) {
        eng_par_publish(w);
        ob = eng_par_obatch(w);
    }
    if (a->len > ob->cap) {
        ob->cap = a->len;
        ob->bytes = cep_realloc(ob->bytes, ob->cap);
    }
    struct eng_par_out *o = &ob->recs[ob->n++];
    o->rule_index = a->rule_index;
    o->time = a->time;
    o->off = ob->len;
    o->len = a->len;
    memcpy(o->id, a->id, sizeof(o->id));
    memcpy(ob->bytes + ob->len, a->json, a->len);
    ob->len += a->len;
}

/* A new engine for worker w, its alerts copied out by eng_par_on_alert. */
static struct eng *eng_par_worker_eng(struct eng_par_worker *w)
{
    return eng_new(w->p->rs, &(struct eng_output){.ud = w, .alert = eng_par_on_alert});
}

/* Raise the worker's stream to the dispatcher's watermark excl. */
static void eng_par_raise(struct eng *eng, uint32_t s, int64_t excl)
{
    if (excl == CEP_TIME_MIN || excl <= eng->streams[s].wm_excl)
        return;
    eng_stream_watermark(eng, s, excl == CEP_TIME_MAX ? CEP_TIME_MAX : excl - 1);
}

static void eng_par_run(struct eng_par_worker *w, struct eng_par_batch *b)
{
    struct eng *eng = w->eng;
    const char *bytes = b->bytes;
    const struct eng_par_fv *fv = b->fv;
    for (size_t i = 0; i < b->n; i++) {
        const struct eng_par_rec *r = &b->recs[i];
        struct eng_reject rej;
        switch ((enum eng_par_kind)r->kind) {
            case ENG_PAR_LINE: {
                const struct eng_par_stream *ps = &w->p->streams[r->stream];
                eng_par_raise(eng, r->stream, r->a);
                /* Validated by the dispatcher, which may also have said
                 * where its fields are and written its key. */
                struct eng_decoded d = {.raw = bytes, .raw_len = r->len, .names = &ps->fnames,
                                        .fv = w->fvx, .n_fv = r->n_fv,
                                        .time_fv = r->time_fv, .time_us = r->time};
                struct eng_key_hint hint;
                bytes += r->len;
                if (r->klen) {
                    hint = (struct eng_key_hint){.key = ps->key, .n_key = ps->n_key,
                                                 .json = bytes, .len = r->klen,
                                                 .hash = r->khash};
                    d.key = &hint;
                    bytes += r->klen;
                }
                if (r->n_fv == ENG_PAR_DECODE) {
                    d.names = NULL;
                } else {
                    eng_par_fv_expand(fv, r->n_fv, w->fvx);
                    fv += r->n_fv;
                }
                if (NEVER(eng_push_decoded(eng, r->stream, &d, r->src_name, r->src_off, &rej) !=
                          CEP_OK))
                    break;
                eng_par_raise(eng, r->stream, r->b);
                break;
            }
            case ENG_PAR_WM:
                eng_par_raise(eng, r->stream, r->a);
                break;
            case ENG_PAR_TICK:
                eng_tick(eng, r->a);
                break;
            case ENG_PAR_FINISH:
                eng_finish(eng, (enum eng_eof)r->a);
                break;
            case ENG_PAR_ADVANCE:
                eng_stream_advance_to(eng, r->stream, r->a);
                break;
            case ENG_PAR_BARRIER:
                for (int64_t k = 0; k < r->b; k++)
                    eng_note_rejected(eng);
                eng_par_publish(w);
                sbuf_reset(&w->snap);
                eng->stats.lines -= w->base_lines; /* counted by worker 0 */
                eng_snapshot(eng, &(struct ckpt_w){.sb = &w->snap});
                eng->stats.lines += w->base_lines;
                w->stats = *eng_stats(eng);
                atomic_store_explicit(&w->synced, (uint64_t)r->a, memory_order_release);
                break;
            case ENG_PAR_SYNC:
                eng_par_publish(w);
                w->stats = *eng_stats(eng);
                for (size_t ri = 0; ri < w->p->rs->n_rules; ri++)
                    eng_rule_report(eng, ri, &w->rules[ri]);
                atomic_store_explicit(&w->synced, (uint64_t)r->a, memory_order_release);
                break;
            case ENG_PAR_KIND_COUNT:
                CEP_ASSERT(!"record kind");
        }
    }
}

static void *eng_par_main(void *arg)
{
    struct eng_par_worker *w = arg;
    for (;;) {
        struct eng_par_batch *b = eng_par_ring_pop(&w->in);
        if (b) {
            eng_par_run(w, b);
            b->n = 0;
            b->len = 0;
            b->n_fv = 0;
            bool ok = eng_par_ring_push(&w->in_free, b);
            CEP_ASSERT(ok);
            continue;
        }
        eng_par_publish(w); /* idle: what it made goes out now */
        if (atomic_load(&w->p->stop))
            break;
        pthread_mutex_lock(&w->mu);
        atomic_store(&w->sleeping, true);
        atomic_thread_fence(memory_order_seq_cst);
        if (!eng_par_ring_count(&w->in) && !atomic_load(&w->p->stop))
            pthread_cond_wait(&w->cv, &w->mu);
        atomic_store(&w->sleeping, false);
        pthread_mutex_unlock(&w->mu);
    }
    atomic_store(&w->exited, true);
    return NULL;
}

static void eng_par_wake(struct eng_par_worker *w)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load(&w->sleeping)) {
        pthread_mutex_lock(&w->mu);
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
    }
}

/* ---- the dispatcher ------------------------------------------------------ */

size_t eng_par_poll(struct eng_par *p)
{
    size_t n = 0;
    for (uint32_t i = 0; i < p->n; i++) {
        struct eng_par_worker *w = &p->w[i];
        struct eng_par_obatch *ob;
        while ((ob = eng_par_ring_pop(&w->out)) != NULL) {
            for (size_t k = 0; k < ob->n && p->out.alert; k++) {
                const struct eng_par_out *o = &ob->recs[k];
                struct eng_alert a = {.rule_index = o->rule_index,
                                      .rule = p->rs->rules[o->rule_index], .id = o->id,
                                      .time = o->time, .json = ob->bytes + o->off,
                                      .len = o->len};
                p->out.alert(p->out.ud, &a);
            }
            n += ob->n;
            ob->n = 0;
            ob->len = 0;
            bool ok = eng_par_ring_push(&w->out_free, ob);
            CEP_ASSERT(ok);
        }
    }
    return n;
}

/* Send worker w the batch being filled.  A sleeping worker is woken when
 * ENG_PAR_WAKE_AT batches wait, or with now (a flush) when any does (an
 * idle worker is left asleep). */
static void eng_par_send(struct eng_par_worker *w, bool now)
{
    if (w->cur && w->cur->n) {
        bool ok = eng_par_ring_push(&w->in, w->cur);
        CEP_ASSERT(ok);
        w->cur = NULL;
    }
    if (eng_par_ring_count(&w->in) >= (now ? 1 : ENG_PAR_WAKE_AT))
        eng_par_wake(w);
}

/* A record slot in worker w's batch, with room for len line bytes and
 * n_fv fields, for the caller to fill: sends a full batch (delivering the
 * alerts sent back) and waits (draining alerts) for a free one. */
static struct eng_par_rec *eng_par_rec(struct eng_par *p, struct eng_par_worker *w, size_t len,
                                       size_t n_fv)
{
    if (w->cur && w->cur->n &&
        (w->cur->n == ENG_PAR_BATCH_RECS || w->cur->len + len > w->cur->cap ||
         w->cur->n_fv + n_fv > ENG_PAR_BATCH_FIELDS)) {
        eng_par_send(w, false);
        eng_par_poll(p); /* alerts come back about as often */
    }
    while (!w->cur && !(w->cur = eng_par_ring_pop(&w->in_free))) {
        eng_par_wake(w);
        eng_par_poll(p);
        eng_par_nap();
    }
    struct eng_par_batch *b = w->cur;
    if (len > b->cap) { /* a line longer than any before: an empty batch grows */
        b->cap = len;
        b->bytes = cep_realloc(b->bytes, b->cap);
    }
    CEP_ASSERT(n_fv <= ENG_PAR_BATCH_FIELDS);
    return &b->recs[b->n++];
}

/* Validate a line as eng.c's eng_decode does, leaving its key and time
 * fields in p->ev: CEP_OK with ev->time set (event-time streams), CEP_AGAIN
 * for a punctuation line (*m), CEP_ERR with *rej.  The key-only scan reads
 * just those fields when it can, and lists the line's fields in
 * p->fv[0..*n_fv) (SIZE_MAX: it did not); the full decoder decides the
 * rest. */
static int eng_par_validate(struct eng_par *p, uint32_t stream, const char *line, size_t len,
                            int64_t *m, size_t *n_fv, struct eng_reject *rej)
{
    const struct rule_stream *st = &p->rs->streams[stream];
    const struct eng_par_stream *ps = &p->streams[stream];
    struct evt *ev = p->ev;
    /* The scan sets the slots it wants, and nothing here reads others. */
    if (ev->stream == stream && ev->n_slots == st->schema->n_slots) {
        for (uint32_t i = 0; i < ps->scan.n; i++)
            ev->slots[ps->scan.want[i]] = val_null();
    } else {
        evt_reset(ev, "", 0, st->schema->n_slots);
    }
    *n_fv = ENG_PAR_BATCH_FIELDS; /* more: the worker decodes the line */
    p->scanned = ps->scan_ok &&
                 eng_par_scan_line(&ps->scan, line, len, ev->slots, p->fv, n_fv) == CEP_OK;
    if (!p->scanned) {
        struct dec_err derr;
        *n_fv = SIZE_MAX;
        evt_reset(ev, line, len, st->schema->n_slots);
        if (dec_json_line(st->schema, ev, &derr) != CEP_OK) {
            rej->reason = derr.reason;
            rej->offset = derr.offset;
            return CEP_ERR;
        }
    }
    ev->stream = stream;
    const struct rule_time *t = &st->time;
    if (!t->has_time)
        return CEP_OK;
    return eng_evt_time(t, ev, NULL, m, rej);
}

/* The stream's watermark after an event at time t, as eng_stream_offer
 * moves it (a late event does not). */
static void eng_par_offer(struct eng_par_stream *ps, const struct rule_time *t, bool stateful,
                          int64_t time)
{
    if (eng_time_late(t, stateful, ps->wm_excl, time))
        return;
    if (time > ps->max_ev)
        ps->max_ev = time;
    if (t->watermark == RULE_WM_BOUNDED && time > ps->max_ts) {
        ps->max_ts = time;
        int64_t w = time - t->max_out_of_orderness;
        if (w > ps->wm_excl)
            ps->wm_excl = w;
    }
}

/* The key of event ev of a BY_KEY stream, as the engine writes it: its
 * JSON into p->key, and its hash (the key group is eng_key_group of it). */
static uint64_t eng_par_key(struct eng_par *p, const struct evt *ev)
{
    const struct eng_par_stream *ps = &p->streams[ev->stream];
    struct expr_ctx ctx = {.ev = ev, .counters = &p->counters, .rt = p->rt};
    eng_keyed_fields_json(&p->key, ps->key, ps->n_key, &ctx);
    return cep_hash64(p->key.buf, p->key.len, 0);
}

/* eng_par_key of a line the key-only scan read (p->ev), the short way
 * when its key values are strings (eng_par_key_json). */
static uint64_t eng_par_key_scanned(struct eng_par *p, const struct eng_par_stream *ps)
{
    if (!eng_par_key_json(&p->key, p->ev->slots, ps->key_slot, ps->n_key))
        return eng_par_key(p, p->ev);
    return cep_hash64(p->key.buf, p->key.len, 0);
}

void eng_par_note_rejected(struct eng_par *p)
{
    p->rejected++;
}

int eng_par_push_line(struct eng_par *p, uint32_t stream, const char *line, size_t len,
                      const char *src_name, uint64_t src_off, struct eng_reject *rej)
{
    CEP_ASSERT(stream < p->rs->n_streams);
    const struct rule_stream *st = &p->rs->streams[stream];
    struct eng_par_stream *ps = &p->streams[stream];
    int64_t m = 0;
    size_t n_fv = 0;
    int rc = eng_par_validate(p, stream, line, len, &m, &n_fv, rej);
    if (rc == CEP_ERR) {
        eng_par_note_rejected(p);
        return CEP_ERR;
    }
    uint32_t wi = 0;
    uint64_t khash = 0;
    size_t klen = 0; /* p->key holds the key's JSON (BY_KEY) */
    if (ps->route == ENG_PAR_SPREAD) {
        wi = (uint32_t)((p->spread++ / ENG_PAR_SPREAD_RUN) % p->n);
    } else if (ps->route == ENG_PAR_BY_KEY && rc == CEP_OK) {
        khash = p->scanned ? eng_par_key_scanned(p, ps) : eng_par_key(p, p->ev);
        wi = eng_key_group(khash) % p->n;
        klen = p->key.len <= UINT16_MAX ? p->key.len : 0; /* longer: the worker writes it */
    }
    int64_t before = CEP_TIME_MIN, after = CEP_TIME_MIN;
    if (ps->ext) {
        before = ps->wm_excl;
        if (rc == CEP_AGAIN) {
            int64_t excl = m == CEP_TIME_MAX ? CEP_TIME_MAX : m + 1;
            if (excl > ps->wm_excl)
                ps->wm_excl = excl;
        } else {
            eng_par_offer(ps, &st->time, ps->stateful, p->ev->time);
            if (st->time.idle_timeout > 0)
                ps->last_arrival = eng_now_us();
        }
        after = ps->wm_excl;
    }
    struct eng_par_worker *w = &p->w[wi];
    struct eng_par_rec *r = eng_par_rec(p, w, len + klen, n_fv == SIZE_MAX ? 0 : n_fv);
    struct eng_par_batch *b = w->cur;
    r->len = (uint32_t)len;
    memcpy(b->bytes + b->len, line, len);
    b->len += len;
    r->klen = (uint16_t)klen;
    if (klen) {
        memcpy(b->bytes + b->len, p->key.buf, klen);
        b->len += klen;
        r->khash = khash;
    }
    r->n_fv = ENG_PAR_DECODE;
    r->time_fv = -1;
    if (n_fv != SIZE_MAX) {
        memcpy(b->fv + b->n_fv, p->fv, n_fv * sizeof(*p->fv));
        b->n_fv += n_fv;
        r->n_fv = (uint16_t)n_fv;
        if (rc == CEP_OK)
            r->time_fv = (int16_t)eng_par_scan_time_fv(p->fv, n_fv, ps->time_field);
        r->time = p->ev->time;
    }
    r->kind = ENG_PAR_LINE;
    r->stream = stream;
    r->src_name = src_name;
    r->src_off = src_off;
    r->a = before;
    r->b = after;
    if (ps->ext)
        w->wm_sent[stream] = after;
    return CEP_OK;
}

void eng_par_flush(struct eng_par *p)
{
    for (uint32_t i = 0; i < p->n; i++) {
        struct eng_par_worker *w = &p->w[i];
        for (uint32_t s = 0; s < p->rs->n_streams; s++) {
            if (!p->streams[s].ext || w->wm_sent[s] >= p->streams[s].wm_excl)
                continue;
            struct eng_par_rec *r = eng_par_rec(p, w, 0, 0);
            r->kind = ENG_PAR_WM;
            r->stream = s;
            r->a = p->streams[s].wm_excl;
            w->wm_sent[s] = r->a;
        }
        eng_par_send(w, true); /* and wake it for batches sent before */
    }
}

bool eng_par_congested(const struct eng_par *p)
{
    for (uint32_t i = 0; i < p->n; i++)
        if (eng_par_ring_count(&p->w[i].in_free) == 0)
            return true;
    return false;
}

/* Send a record of kind (argument a) to every worker. */
static void eng_par_broadcast(struct eng_par *p, enum eng_par_kind kind, int64_t a)
{
    for (uint32_t i = 0; i < p->n; i++) {
        struct eng_par_rec *r = eng_par_rec(p, &p->w[i], 0, 0);
        r->kind = kind;
        r->stream = 0;
        r->a = a;
        r->b = 0;
    }
}

void eng_par_tick(struct eng_par *p, int64_t now)
{
    for (uint32_t s = 0; s < p->rs->n_streams; s++) {
        struct eng_par_stream *ps = &p->streams[s];
        const struct rule_time *t = &p->rs->streams[s].time;
        if (ps->ext && eng_time_idle(t, now, ps->last_arrival, ps->max_ts, ps->wm_excl))
            ps->wm_excl = ps->max_ts + 1;
    }
    eng_par_broadcast(p, ENG_PAR_TICK, now);
    eng_par_flush(p);
}

/* Wait until every worker has processed everything sent so far (up to a
 * record of kind, SYNC or BARRIER) and sent back its alerts; deliver them. */
static void eng_par_sync_kind(struct eng_par *p, enum eng_par_kind kind)
{
    uint64_t seq = ++p->sync_seq;
    eng_par_broadcast(p, kind, (int64_t)seq);
    if (kind == ENG_PAR_BARRIER) { /* worker 0 counts the lines rejected here */
        p->w[0].cur->recs[p->w[0].cur->n - 1].b = (int64_t)p->rejected;
        p->rejected = 0;
    }
    eng_par_flush(p);
    for (uint32_t i = 0; i < p->n; i++) {
        while (atomic_load_explicit(&p->w[i].synced, memory_order_acquire) != seq) {
            if (!eng_par_poll(p))
                eng_par_nap();
        }
    }
    eng_par_poll(p);
}

static void eng_par_sync(struct eng_par *p)
{
    eng_par_sync_kind(p, ENG_PAR_SYNC);
}

void eng_par_snapshot(struct eng_par *p, struct ckpt_w *cw)
{
    eng_par_flush(p); /* every worker has the same watermarks at the barrier */
    eng_par_sync_kind(p, ENG_PAR_BARRIER);
    ckpt_put_bytes(cw, p->w[0].snap.buf, p->w[0].snap.len); /* a frame */
    ckpt_put_uv(cw, p->n - 1);
    for (uint32_t i = 1; i < p->n; i++)
        ckpt_put_bytes(cw, p->w[i].snap.buf, p->w[i].snap.len);
    for (uint32_t i = 0; i < p->n; i++)
        sbuf_reset(&p->w[i].snap);
}

static uint32_t eng_par_group_of(void *ud, const struct evt *ev)
{
    return eng_key_group(eng_par_key(ud, ev));
}

int eng_par_restore(struct eng_par *p, struct ckpt_r *sec, struct eng_restore_report *rep,
                    char *err, size_t errlen)
{
    CEP_ASSERT(p->sync_seq == 0 && p->rejected == 0);
    const struct ruleset *rs = p->rs;
    bool groups[ENG_KEY_GROUPS];
    uint8_t *part = cep_calloc(rs->n_streams + 1, sizeof(*part));
    memset(rep, 0, sizeof(*rep));
    /* The workers wait for their first batch: their engines are the
     * caller's to change until then (the ring's release/acquire orders it). */
    for (uint32_t i = 0; i < p->n; i++) {
        struct eng_par_worker *w = &p->w[i];
        for (uint32_t g = 0; g < ENG_KEY_GROUPS; g++)
            groups[g] = g % p->n == i;
        for (uint32_t s = 0; s < rs->n_streams; s++)
            part[s] = p->streams[s].route == ENG_PAR_BY_KEY ? ENG_RESTORE_GROUPS
                      : i == 0                            ? ENG_RESTORE_ALL
                                                          : ENG_RESTORE_NONE;
        struct eng_restore_opt opt = {.groups = groups, .part = part,
                                      .group_of = eng_par_group_of, .ud = p,
                                      .counters = i == 0};
        struct ckpt_r r = *sec;
        struct eng_restore_report one;
        if (eng_restore_section(w->eng, &r, &opt, &one, err, errlen) != CEP_OK) {
            for (uint32_t k = 0; k < i; k++) { /* back to new engines */
                eng_free(p->w[k].eng);
                p->w[k].eng = eng_par_worker_eng(&p->w[k]);
                p->w[k].base_lines = 0;
            }
            eng_restore_report_free(rep);
            cep_free(part);
            return CEP_ERR;
        }
        w->base_lines = i == 0 ? 0 : eng_stats(w->eng)->lines;
        if (i == 0) {
            *rep = one;
        } else {
            eng_restore_report_add(rep, &one, true);
            eng_restore_report_free(&one);
        }
    }
    cep_free(part);
    /* The dispatcher's watermarks carry on from the restored ones. */
    const struct eng *e0 = p->w[0].eng;
    for (uint32_t s = 0; s < rs->n_streams; s++) {
        struct eng_par_stream *ps = &p->streams[s];
        const struct eng_stream *es = &e0->streams[s];
        if (!ps->ext)
            continue;
        ps->wm_excl = es->wm_excl;
        ps->max_ts = es->max_ts;
        ps->max_ev = es->max_ts > es->last_ts ? es->max_ts : es->last_ts;
        ps->last_arrival = es->last_arrival;
    }
    return CEP_OK;
}

void eng_par_finish(struct eng_par *p, enum eng_eof mode)
{
    eng_par_flush(p); /* the last watermarks first */
    eng_par_broadcast(p, ENG_PAR_FINISH, (int64_t)mode);
    /* A drain takes one engine to its last event: each worker's buffer
     * ends at its own, so every worker then goes to the stream's. */
    for (uint32_t s = 0; mode == ENG_EOF_DRAIN && s < p->rs->n_streams; s++) {
        const struct eng_par_stream *ps = &p->streams[s];
        if (!ps->ext || !ps->stateful || ps->max_ev == CEP_TIME_MIN)
            continue;
        for (uint32_t i = 0; i < p->n; i++) {
            struct eng_par_rec *r = eng_par_rec(p, &p->w[i], 0, 0);
            r->kind = ENG_PAR_ADVANCE;
            r->stream = s;
            r->a = ps->max_ev;
        }
    }
    eng_par_sync(p);
}

void eng_par_stats(struct eng_par *p, struct eng_stats *out)
{
    eng_par_sync(p);
    memset(out, 0, sizeof(*out));
    out->lines = p->rejected;
    out->rejected = p->rejected;
    for (uint32_t i = 0; i < p->n; i++) {
        const struct eng_stats *s = &p->w[i].stats;
        out->lines += s->lines - p->w[i].base_lines;
        out->events += s->events;
        out->rejected += s->rejected;
        out->derived += s->derived;
        out->alerts += s->alerts;
        out->late += s->late;
    }
}

void eng_par_rule_report(const struct eng_par *p, size_t ri, struct eng_rule_report *out)
{
    CEP_ASSERT(ri < p->rs->n_rules);
    memset(out, 0, sizeof(*out));
    for (uint32_t i = 0; i < p->n; i++) {
        const struct eng_rule_report *r = &p->w[i].rules[ri];
        out->st.evaluated += r->st.evaluated;
        out->st.matched += r->st.matched;
        out->st.alerts += r->st.alerts;
        out->st.emitted += r->st.emitted;
        out->st.timed_out += r->st.timed_out;
        out->st.evicted += r->st.evicted;
        out->st.throttled += r->st.throttled;
        out->st.expired += r->st.expired;
        out->st.expr.type_mismatch += r->st.expr.type_mismatch;
        out->st.expr.regex_limit += r->st.expr.regex_limit;
        out->partials += r->partials;
        out->keys += r->keys;
        out->state_bytes += r->state_bytes;
    }
}

/* ---- life ---------------------------------------------------------------- */

struct eng_par *eng_par_new(const struct ruleset *rs, uint32_t n, const struct eng_output *out,
                            char *err, size_t errlen)
{
    CEP_ASSERT(n >= 2 && n <= ENG_KEY_GROUPS);
    struct eng_par *p = cep_calloc(1, sizeof(*p));
    p->rs = rs;
    if (out)
        p->out = *out;
    p->n = n;
    p->ev = evt_new();
    p->fv = cep_malloc(ENG_PAR_BATCH_FIELDS * sizeof(*p->fv));
    p->rt = expr_rt_new();
    sbuf_init(&p->key);
    atomic_init(&p->stop, false);
    p->streams = cep_calloc(rs->n_streams + 1, sizeof(*p->streams));
    for (uint32_t s = 0; s < rs->n_streams; s++) {
        struct eng_par_stream *ps = &p->streams[s];
        eng_par_classify(rs, s, ps);
        eng_par_scan_setup(rs, s, ps);
        ps->wm_excl = CEP_TIME_MIN;
        ps->max_ts = CEP_TIME_MIN;
        ps->max_ev = CEP_TIME_MIN;
    }
    p->w = cep_calloc(n, sizeof(*p->w));
    for (uint32_t i = 0; i < n; i++) {
        struct eng_par_worker *w = &p->w[i];
        w->p = p;
        w->eng = eng_par_worker_eng(w);
        eng_par_ring_init(&w->in, ENG_PAR_BATCHES);
        eng_par_ring_init(&w->in_free, ENG_PAR_BATCHES);
        eng_par_ring_init(&w->out, ENG_PAR_BATCHES);
        eng_par_ring_init(&w->out_free, ENG_PAR_BATCHES);
        w->batches = cep_calloc(ENG_PAR_BATCHES, sizeof(*w->batches));
        w->obatches = cep_calloc(ENG_PAR_BATCHES, sizeof(*w->obatches));
        w->fvx = cep_malloc(ENG_PAR_BATCH_FIELDS * sizeof(*w->fvx));
        w->rules = cep_calloc(rs->n_rules + 1, sizeof(*w->rules));
        for (size_t k = 0; k < ENG_PAR_BATCHES; k++) {
            w->batches[k].cap = ENG_PAR_BATCH_BYTES;
            w->batches[k].bytes = cep_malloc(ENG_PAR_BATCH_BYTES);
            w->batches[k].fv = cep_malloc(ENG_PAR_BATCH_FIELDS * sizeof(struct eng_par_fv));
            w->obatches[k].cap = ENG_PAR_BATCH_BYTES;
            w->obatches[k].bytes = cep_malloc(ENG_PAR_BATCH_BYTES);
            bool ok = eng_par_ring_push(&w->in_free, &w->batches[k]) &&
                      eng_par_ring_push(&w->out_free, &w->obatches[k]);
            CEP_ASSERT(ok);
        }
        sbuf_init(&w->snap);
        w->wm_sent = cep_calloc(rs->n_streams + 1, sizeof(*w->wm_sent));
        for (uint32_t s = 0; s < rs->n_streams; s++)
            w->wm_sent[s] = CEP_TIME_MIN;
        pthread_mutex_init(&w->mu, NULL);
        pthread_cond_init(&w->cv, NULL);
        atomic_init(&w->sleeping, false);
        atomic_init(&w->exited, false);
        atomic_init(&w->synced, 0);
    }
    /* Workers start with every signal blocked (the mask is inherited), so
     * signals reach the loop thread, which owns their handling. */
    sigset_t all, old_mask;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old_mask);
    int rc = 0;
    while (p->n_threads < n && rc == 0) {
        struct eng_par_worker *w = &p->w[p->n_threads];
        rc = ckpt_fault("thread") ? EAGAIN : pthread_create(&w->thread, NULL, eng_par_main, w);
        p->n_threads += rc == 0;
    }
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    if (rc != 0) {
        snprintf(err, errlen, "parallelism %u: cannot start worker thread %u: %s", n,
                 p->n_threads, strerror(rc));
        eng_par_free(p);
        return NULL;
    }
    return p;
}

void eng_par_free(struct eng_par *p)
{
    if (!p)
        return;
    eng_par_flush(p);
    atomic_store(&p->stop, true);
    for (uint32_t i = 0; i < p->n_threads; i++) {
        struct eng_par_worker *w = &p->w[i];
        /* A worker may wait for an alert batch: keep taking them back. */
        while (!atomic_load(&w->exited)) {
            eng_par_wake(w);
            eng_par_poll(p);
            eng_par_nap();
        }
        pthread_join(w->thread, NULL);
    }
    eng_par_poll(p);
    for (uint32_t i = 0; i < p->n; i++) {
        struct eng_par_worker *w = &p->w[i];
        eng_free(w->eng);
        for (size_t k = 0; k < ENG_PAR_BATCHES; k++) {
            cep_free(w->batches[k].bytes);
            cep_free(w->batches[k].fv);
            cep_free(w->obatches[k].bytes);
        }
        cep_free(w->batches);
        cep_free(w->obatches);
        cep_free(w->fvx);
        cep_free(w->rules);
        eng_par_ring_fini(&w->in);
        eng_par_ring_fini(&w->in_free);
        eng_par_ring_fini(&w->out);
        eng_par_ring_fini(&w->out_free);
        cep_free(w->wm_sent);
        sbuf_free(&w->snap);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
    }
    cep_free(p->w);
    for (uint32_t s = 0; s < p->rs->n_streams; s++) {
        cep_free(p->streams[s].names);
        cep_free(p->streams[s].lens);
    }
    cep_free(p->streams);
    cep_free(p->fv);
    evt_unref(p->ev);
    expr_rt_free(p->rt);
    sbuf_free(&p->key);
    cep_free(p);
}
