/* SPDX-License-Identifier: Apache-2.0
 * Engine internals shared by eng.c (dispatch, derived-event routing),
 * eng_stream.c (event time: watermarks, reorder buffer, late events, time
 * advance along rule chains), eng_pattern.c (keyed NFA state with deadline
 * timers), eng_alert.c (alert JSON and deterministic ids) and eng_snap.c
 * (snapshot and restore). */
#ifndef CEPD_ENG_INT_H
#define CEPD_ENG_INT_H

#include "cepd/eng.h"
#include "cepd/expr.h"
#include "cepd/sbuf.h"

struct nfa_key;
struct win_key;
struct win_result;

/* Number of key groups: keyed state is partitioned by hash(key) % this, so
 * a later checkpoint can be split and rescaled by group (design §5). */
#define ENG_KEY_GROUPS 128
/* The key group of a key whose JSON array hashes (cep_hash64, seed 0) to h. */
static inline uint32_t eng_key_group(uint64_t h)
{
    return (uint32_t)(h % ENG_KEY_GROUPS);
}

/* Rules that keep per-key state and see their stream's events in event-time
 * order (so the stream needs the reorder buffer). */
static inline bool eng_rule_stateful(const struct rule *r)
{
    return r->kind == RULE_PATTERN || r->kind == RULE_AGGREGATE || r->kind == RULE_ABSENCE;
}

/* The events an alert stands for: one event (simple, filter) or a match
 * (pattern), with the step index of each, in processing order. */
struct eng_view {
    size_t n;
    struct evt *const *events;
    const int *steps;   /* NULL: a single-event rule (step "event") */
    int64_t time;       /* the alert's time: last event, or the timeout */
    bool timed_out;
    const struct win_result *win; /* an aggregate window, or NULL */
    /* A counting pattern rule's summary (events: first, latest, last), or
     * NULL. */
    const struct nfa_count *count;
};

/* Alerts folded under one throttle key (eng_throttle.c).  The latest
 * folded alert is kept whole: if no later alert carries the count, it is
 * sent as the summary. */
struct eng_thr {
    int64_t until;       /* end (exclusive) of the open period */
    uint64_t n;          /* alerts folded in it, the kept one included */
    int64_t first, last; /* times of the folded alerts other than the kept one */
    int64_t kept_time;   /* the kept alert's time */
    char kept_id[33];
    struct sbuf kept;    /* its JSON; capacity kept with the slot for reuse */
};

/* One key of a stateful rule (or of a rule's throttle table): its state and
 * its registered deadline, the earlier of the state's own deadline and the
 * next state_ttl check. */
#define ENG_KEY_INLINE 24 /* key JSON up to this, NUL included, is kept inline */
struct eng_key {
    char *kjson;        /* the key values as a JSON array: kin when kcap is 0
                         * (a short key, in the cache line the lookup reads
                         * anyway), else owned and kept with its capacity
                         * when the slot is freed, for reuse */
    uint32_t klen;
    uint32_t kcap;
    char kin[ENG_KEY_INLINE];
    uint32_t gen;       /* bumped when the slot is freed (stale timers) */
    uint64_t khash;
    struct nfa_key *nfa; /* pattern rules */
    struct win_key *win; /* aggregate rules */
    struct evt *last;    /* absence rules: the key's latest event (a reference) */
    struct eng_thr *thr; /* throttle tables: folded alerts; kept with the slot */
    int64_t deadline;   /* CEP_TIME_MAX: none registered */
    int64_t sdl;        /* the state's own deadline (CEP_TIME_MAX: none) */
    int64_t last_seen;  /* time of the key's latest event (state_ttl) */
    int64_t ttl_at;     /* the state_ttl check registered, or CEP_TIME_MAX */
    bool live;
};

struct eng_timer {
    int64_t at;
    uint64_t tie;       /* the key's hash: equal times fire in this order */
    uint32_t slot;
    uint32_t gen;
};

/* Keyed state of one pattern rule: a slab of keys, an open-addressing
 * index over them, and a min-heap of deadlines (lazily invalidated). */
struct eng_keyed {
    struct eng_key *keys;
    size_t n_keys;      /* slots used (live or free) */
    size_t keys_cap;
    uint32_t *free_slots;
    size_t n_free;
    size_t free_cap;
    uint64_t *index;    /* low 32 bits: slot + 1 (0 empty, UINT32_MAX deleted);
                         * high 32: the key hash's high half, so a probe
                         * rarely has to look at the key itself */
    size_t index_cap;   /* power of two */
    size_t index_used;  /* live + deleted */
    struct eng_timer *heap;
    size_t heap_n;
    size_t heap_cap;
    size_t n_live;
    struct nfa_key **spare; /* idle NFA states kept for the next new key */
    size_t n_spare;
    size_t spare_cap;
    struct win_key **win_spare; /* the same for aggregate rules' windows */
    size_t n_win_spare;
    size_t win_spare_cap;
    int64_t ttl;        /* state_ttl (us): keys idle this long are dropped; 0 never */
    int64_t now;        /* time the rule has reached (for the state_ttl check) */
    uint64_t n_expired; /* keys dropped by state_ttl */
    /* A throttled rule's table of throttle keys (eng_throttle.c), or NULL.
     * It hangs off the rule's keyed state so that all of a rule's state
     * moves (reload) and is snapshot (by key group) together. */
    struct eng_keyed *throttle;
};

/* Idle NFA states and window keys a rule keeps for reuse: a key that goes
 * idle and comes back (most keys, most of the time) then costs no
 * allocation.  Live keys and spares together stay within the most keys
 * ever live at once plus this many (aligned windows make every key idle at
 * the same instant). */
#define ENG_SPARE_KEYS 64

/* Is an event at time t late on a stream whose watermark (exclusive) is
 * wm_excl: behind it by more than the allowed lateness?  Only a stream
 * with stateful rules drops late events.  eng_stream_offer's check, and
 * the parallel dispatcher's, which keeps the stream's watermark for its
 * workers (eng_par.c). */
static inline bool eng_time_late(const struct rule_time *t, bool stateful, int64_t wm_excl,
                                 int64_t time)
{
    return stateful && wm_excl != CEP_TIME_MIN && time < wm_excl &&
           wm_excl - time > t->allowed_lateness;
}

/* Has an event-time stream been idle long enough at wall clock now (its
 * last input at last_arrival, 0: none yet) that it releases what it
 * buffered, as if its watermark had reached max_ts?  eng_streams_tick's
 * condition, and the parallel dispatcher's (eng_par_tick). */
static inline bool eng_time_idle(const struct rule_time *t, int64_t now, int64_t last_arrival,
                                 int64_t max_ts, int64_t wm_excl)
{
    return t->idle_timeout > 0 && last_arrival != 0 && now - last_arrival >= t->idle_timeout &&
           max_ts != CEP_TIME_MIN && max_ts >= wm_excl;
}

/* Event time of one stream. */
struct eng_stream {
    bool stateful;      /* pattern rules read it: events go through time order */
    bool derived;       /* fed by rules' emit blocks */
    int64_t wm_excl;    /* events with time < wm_excl have been released */
    int64_t max_ts;     /* largest event time seen (bounded watermark) */
    int64_t now;        /* time the stateful rules have advanced to */
    int64_t last_ts;    /* time of the last event released (drain) */
    int64_t last_arrival; /* wall clock of the last input event (idle_timeout) */
    struct evt **buf;   /* reorder buffer: min-heap by (time, seq) */
    size_t buf_n;
    size_t buf_cap;
    uint32_t *producers; /* streams whose rules emit into this one */
    size_t n_producers;
    uint32_t *consumers; /* streams this one's rules emit into */
    size_t n_consumers;
    uint32_t *stateful_rules; /* the stream's pattern and aggregate rules */
    size_t n_stateful;
    uint32_t *throttled_rules; /* its throttled rules: their tables follow its time */
    size_t n_throttled;
};

struct eng {
    const struct ruleset *rs;
    struct eng_output out;
    struct expr_rt *rt;
    struct nfa_work *nfa_work; /* pattern rules' working memory */
    struct eng_stats stats;
    struct eng_rule_stats *rule_stats; /* one per rule */
    char **rule_src_names;             /* "rule:<id>": identity of derived events */
    char **retired;                    /* names held events carry that no rule has: */
    size_t n_retired;                  /* rules a reload removed, sources of restored events */
    size_t retired_cap;
    struct eng_keyed *keyed;           /* one per rule (used by pattern rules) */
    struct eng_stream *streams;        /* one per stream */
    struct evt_pool pool;              /* events come from and go back here */
    struct evt *input;                 /* reused for every input line */
    struct evt **queue;                /* derived events waiting, FIFO */
    size_t q_head, q_len, q_cap;
    bool draining;                     /* inside eng_drain_queue */
    bool follow_pending;               /* derived streams wait for the queue to empty */
    struct sbuf alert;                 /* alert JSON under construction */
    struct sbuf text;                  /* message, derived event JSON */
    struct sbuf val_json;              /* one value as JSON (ids, keys) */
    struct sbuf key;                   /* key of the event being routed */
    /* Rule index (eng.c): per stream, events given to its simple/filter
     * rules and to its stateful rules, and the memo of shared predicates;
     * per rule, the event count its `evaluated` was last brought up to
     * (events the index lets a rule skip are counted lazily). */
    uint64_t *ix_now_n;
    uint64_t *ix_state_n;
    uint64_t *ix_seen;
    struct rule_index_memo *ix_memo;
    struct rule_index_memo *ix_smemo;  /* the stateful rules' (groups) */
    struct eng_fbind *fbind;           /* eng_push_decoded's bindings (eng.c) */
    size_t n_fbind;
    /* While eng_push_decoded runs: the key its caller wrote for the input
     * event (eng->input), if any (key NULL: none). */
    const struct eng_key_hint *khint;
};

/* eng.c */
/* Act on a rule that fired: alert to the sinks and/or a derived event.
 * ctx evaluates the rule's expressions (message, key, fields, emit). */
void eng_fire(struct eng *eng, size_t rule_index, const struct eng_view *v, struct expr_ctx *ctx);
/* Process queued derived events (no-op when already draining). */
void eng_drain_queue_now(struct eng *eng);
/* Route the queued derived events (and follow derived streams once the
 * queue is empty); nothing to do, the usual case, costs one test. */
static inline void eng_drain_queue(struct eng *eng)
{
    if (eng->q_len || eng->follow_pending)
        eng_drain_queue_now(eng);
}
/* Dispatch an event to the rules of its stream that act on arrival. */
void eng_dispatch_stateless(struct eng *eng, const struct evt *ev);
/* Give an event, in event-time order, to the stateful rules of its stream
 * whose `when` it can match (the others would reject it). */
void eng_dispatch_stateful(struct eng *eng, struct evt *ev);
/* Make ev hold the line (raw, len) of stream `stream`, decoded under its
 * schema (time and identity untouched): held events that move to another
 * engine (reload, restore).  raw must not point into ev.  CEP_ERR if the
 * line does not decode. */
int eng_evt_decode(struct eng *eng, struct evt *ev, uint32_t stream, const char *raw, size_t len);
/* Event time of ev (decoded) on a stream with an event-time field (t has
 * has_time): CEP_OK with ev->time set (to *known_us when not NULL, the time
 * the time field's value stands for), CEP_AGAIN for a punctuation line with
 * the watermark in *wm, or CEP_ERR with *rej.  Shared by the engine's
 * decode and eng_par.c's validation. */
int eng_evt_time(const struct rule_time *t, struct evt *ev, const int64_t *known_us, int64_t *wm,
                 struct eng_reject *rej);

/* eng_stream.c */
void eng_streams_init(struct eng *eng);
void eng_streams_free(struct eng *eng);
/* A decoded event of an event-time stream with stateful rules: late check,
 * buffer, watermark.  Returns false if the event was late. */
bool eng_stream_offer(struct eng *eng, struct evt *ev);
/* A punctuation line: no event with time <= m will follow. */
void eng_stream_watermark(struct eng *eng, uint32_t stream, int64_t m);
/* Advance stream si (and the streams derived from it) to time t, never
 * backwards: a parallel worker reaching the time one engine would have
 * reached at `drain` (eng_par.c). */
void eng_stream_advance_to(struct eng *eng, uint32_t si, int64_t t);
/* Process an event on the stateful rules of its stream now, in order. */
void eng_stream_process_now(struct eng *eng, struct evt *ev);
/* Advance derived streams to their producers' time (deferred while derived
 * events are queued). */
void eng_streams_follow(struct eng *eng);
/* Time passes without input (see eng_tick). */
void eng_streams_tick(struct eng *eng, int64_t now);
/* Put ev (a reference the buffer takes) into stream s's reorder buffer:
 * a restored buffer (eng_snap.c). */
void eng_stream_buffer_take(struct eng_stream *s, struct evt *ev);
/* End of input (flush or drain), every stream in chain order. */
void eng_streams_finish(struct eng *eng, enum eng_eof mode);

/* eng_keyed.c */
/* Empty keyed state for rule r (its state_ttl; a throttle table when the
 * rule is throttled). */
void eng_keyed_init(struct eng_keyed *kd, const struct rule *r);
void eng_keyed_free(struct eng_keyed *kd);
/* The slot of the key (kjson, len) of rule r, created if absent (with a
 * fresh or recycled NFA state for pattern rules; other kinds' callers
 * create their state when the slot has none).  r is NULL for a throttle
 * table (no per-kind state). */
uint32_t eng_keyed_get(struct eng_keyed *kd, const struct rule *r, const char *kjson, size_t len);
/* Free the slot's state and forget the key. */
void eng_keyed_drop(struct eng_keyed *kd, uint32_t slot);
/* After a key's state ran: drop it when idle, else register its deadline
 * (the state's own, or the state_ttl check if earlier).  A key that has
 * been idle for state_ttl by kd->now is dropped and counted. */
void eng_keyed_settle(struct eng_keyed *kd, uint32_t slot, bool idle, int64_t deadline);
/* Register the slot's deadline (k->deadline, if not CEP_TIME_MAX) with
 * the timer heap: for state restored from a snapshot (eng_snap.c). */
void eng_keyed_arm(struct eng_keyed *kd, uint32_t slot);
/* Pop the next key whose state deadline is <= t (cleared; the caller runs
 * the state and settles it).  Sets kd->now = t and handles state_ttl
 * checks due by t on the way: keys idle for state_ttl are dropped. */
bool eng_keyed_due(struct eng_keyed *kd, int64_t t, uint32_t *slot);
/* Whether a deadline is due by t (eng_keyed_due would pop one); when none
 * is, sets kd->now as eng_keyed_due would.  The cheap test before setting
 * up a rule's callbacks: time advances twice per event. */
static inline bool eng_keyed_pending(struct eng_keyed *kd, int64_t t)
{
    if (kd->heap_n && kd->heap[0].at <= t)
        return true;
    if (t > kd->now)
        kd->now = t;
    return false;
}
/* Call fn on every event the live keys hold (NFA buffers, windows' held
 * events, absence rules' last events); an event may come more than once,
 * and fn gets NULL for a window that holds none. */
void eng_keyed_each_event(const struct eng_keyed *kd, void (*fn)(void *ud, struct evt *ev),
                          void *ud);
/* Heap bytes of the keyed state (see eng_rule_state_bytes). */
size_t eng_keyed_bytes(const struct eng_keyed *kd);
/* The JSON array of the values of fields f[0..n) on ctx, into sb. */
void eng_keyed_fields_json(struct sbuf *sb, const struct rule_field *f, size_t n,
                           struct expr_ctx *ctx);
/* Saturating a + b for times (us). */
int64_t eng_time_add(int64_t a, int64_t b);
/* An event reaches stateful rule ri: count it, apply the rule's `when`,
 * and find (or create) its key's slot.  False when `when` rejects it. */
bool eng_keyed_enter(struct eng *eng, size_t ri, const struct evt *ev, uint32_t *slot);
/* eng_keyed_enter for pattern rule ri, except that a key without a slot
 * gets one only if ev may start a partial match (nfa_prog_may_start):
 * false, and nothing created, for an event that would leave a new key
 * idle (its state would be created and dropped at once); and false, no key
 * looked up, for an event every run would ignore in place
 * (nfa_prog_inert) when the rule sets no state_ttl of its own. */
bool eng_keyed_enter_lazy(struct eng *eng, size_t ri, const struct evt *ev, uint32_t *slot);
/* The JSON array of rule r's key values on ctx's event, into eng->key. */
void eng_keyed_key_json(struct eng *eng, const struct rule *r, struct expr_ctx *ctx);

/* eng_pattern.c */
/* Run pattern rule ri on ev (time already advanced to ev->time). */
void eng_pattern_process(struct eng *eng, size_t ri, struct evt *ev);
/* Advance pattern rule ri to time t: fire due deadlines. */
void eng_pattern_advance(struct eng *eng, size_t ri, int64_t t);

/* eng_absence.c */
/* Absence rule ri sees ev (time already advanced to ev->time): the key's
 * silence starts again from it. */
void eng_absence_process(struct eng *eng, size_t ri, struct evt *ev);
/* Advance absence rule ri to time t: every key silent for `for` fires. */
void eng_absence_advance(struct eng *eng, size_t ri, int64_t t);

/* eng_throttle.c */
/* Rule ri (throttled) made the alert in eng->alert (id id_hex, view v,
 * ctx as for the alert).  Returns true when it goes out (with the count of
 * alerts folded before it appended to eng->alert), false when it is folded
 * into its throttle key's period.  May first send a pending summary. */
bool eng_throttle_admit(struct eng *eng, size_t ri, const struct eng_view *v,
                        struct expr_ctx *ctx, const char id_hex[33]);
/* Advance rule ri's throttle table to t: periods that ended with nothing
 * folded are forgotten; folded alerts not carried by a later alert within
 * one more period are sent as a summary. */
void eng_throttle_advance(struct eng *eng, size_t ri, int64_t t);
/* The throttle entry of key k, made on first use and kept with the slot. */
struct eng_thr *eng_thr_of(struct eng_key *k);
/* Hand an alert to the output (counting it). */
void eng_alert_send(struct eng *eng, size_t ri, const char *id_hex, int64_t time,
                    const char *json, size_t len);

/* eng_reload.c */
/* Rule ids of a rule set in an index: id -> rule index + 1 (0 empty);
 * rules are matched by id on reload and restore. */
struct eng_id_index {
    uint32_t *slots;
    size_t cap;
};
void eng_id_index_build(struct eng_id_index *x, const struct ruleset *rs);
/* The index of the rule with this id, or -1. */
int64_t eng_id_index_find(const struct eng_id_index *x, const struct ruleset *rs, const char *id);

/* eng_window.c */
/* Run aggregate rule ri on ev (time already advanced to ev->time). */
void eng_window_process(struct eng *eng, size_t ri, struct evt *ev);
/* Advance aggregate rule ri to time t: close due windows. */
void eng_window_advance(struct eng *eng, size_t ri, int64_t t);

/* eng_alert.c */
/* Build the alert JSON for rule ri and view v into eng->alert; writes the
 * 128-bit alert id as hex into id_hex and returns its low 64 bits. */
uint64_t eng_alert_build(struct eng *eng, size_t ri, const struct eng_view *v,
                         struct expr_ctx *ctx, char id_hex[33]);
/* Pattern references over a view, for expression contexts. */
extern const struct expr_pat_ops eng_view_pat_ops;
/* Append an event time (us) as JSON seconds, exact to the microsecond. */
void eng_json_time(struct sbuf *sb, int64_t us);

#endif
