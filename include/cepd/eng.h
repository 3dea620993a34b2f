/* SPDX-License-Identifier: Apache-2.0
 * The engine: takes decoded-or-raw input lines for a stream, turns them into
 * events (decode, event time), runs every enabled rule of the stream on
 * them, formats alerts, and routes derived events into the streams that
 * consume them, in order, before the next input line.  Outputs leave through
 * callbacks so the same engine serves `cepd replay`, `cepd test` and the
 * daemon.  One engine runs on one thread.
 * Tested by: tests/unit/check_eng.c, tests/rules/, the rule packs' test files (rules/) */
#ifndef CEPD_ENG_H
#define CEPD_ENG_H

#include "cepd/cep_common.h"
#include "cepd/evt.h"
#include "cepd/expr.h"
#include "cepd/rule.h"

struct sbuf;

/* Why an input line was rejected (dead-lettered).  reason is static text. */
struct eng_reject {
    const char *reason;
    size_t offset; /* byte offset of the problem inside the line */
};

/* One alert, as the engine hands it out.  json is the alert object without
 * a trailing newline; it and id are valid until the callback returns. */
struct eng_alert {
    size_t rule_index;      /* the rule's place in the ruleset */
    const struct rule *rule;
    const char *id;         /* alert_id: 32 hex digits, NUL-terminated */
    int64_t time;           /* the alert's event time (µs) */
    const char *json;
    size_t len;
};

/* Where an engine's results go.  Every callback is optional. */
struct eng_output {
    void *ud;
    void (*alert)(void *ud, const struct eng_alert *a);
    /* An event that arrived behind the watermark (the `late` side output). */
    void (*late)(void *ud, const struct evt *ev);
};

struct eng_stats {
    uint64_t lines;        /* input lines offered */
    uint64_t events;       /* decoded events */
    uint64_t rejected;     /* dead-lettered lines */
    uint64_t derived;      /* derived events routed between rules */
    uint64_t alerts;       /* alerts produced */
    uint64_t late;         /* events behind the watermark */
};

/* Per-rule counters, indexed like ruleset->rules. */
struct eng_rule_stats {
    uint64_t evaluated;    /* events the rule's `when` was evaluated on */
    uint64_t matched;      /* events that satisfied when and no exception */
    uint64_t alerts;       /* alerts the rule produced */
    uint64_t emitted;      /* derived events the rule produced */
    uint64_t timed_out;    /* expired partial matches reported (on_timeout) */
    uint64_t evicted;      /* partial matches dropped at max_partial_matches */
    uint64_t throttled;    /* alerts folded by `throttle` when they were made (a
                            * folded alert later sent as a summary also counts
                            * in alerts) */
    uint64_t expired;      /* keys dropped after state_ttl without events */
    struct expr_counters expr; /* type mismatches, regex match-limit hits */
};

/* A rule's counters and the state it holds now (eng_rule_report). */
struct eng_rule_report {
    struct eng_rule_stats st;
    uint64_t partials;    /* partial matches (pattern rules) */
    uint64_t keys;        /* keys with state */
    uint64_t state_bytes; /* bytes of per-key state (approximate) */
};

struct eng;

/* A new engine running rs (borrowed: rs must outlive the engine). */
struct eng *eng_new(const struct ruleset *rs, const struct eng_output *out);
void eng_free(struct eng *eng);

/* Offer one input line (without its newline) to stream `stream`.  src_name
 * and src_off are the line's identity (source name and byte offset), used
 * for deterministic alert ids; src_name is borrowed and must outlive the
 * engine.  Returns CEP_OK when the line became an event (or a watermark),
 * CEP_ERR when it was rejected: *rej says why (the caller dead-letters it). */
int eng_push_line(struct eng *eng, uint32_t stream, const char *line, size_t len,
                  const char *src_name, uint64_t src_off, struct eng_reject *rej);

/* A line that a line format (io_format_decode) already decoded: raw,
 * the bytes the event keeps (the line, and values the format made), where
 * each field's value lies in them, so that the engine fills the event's
 * slots without parsing any text, and a writer of the event's JSON text
 * (for alerts and checkpoints), called only when something reads it.
 * Fields are named by the format's table (names), which eng_push_decoded
 * maps to the stream's slots once per table (told apart by hash) and
 * stream.  With names NULL, raw is a JSON line, the event as it is.  With
 * names and no text_ops, raw is a JSON line whose members the caller has
 * listed (the workers' dispatcher, eng_par_scan.c): the text is raw. */
struct eng_fnames {
    const char *const *names;
    const size_t *lens;
    uint32_t n;
    uint64_t hash; /* of the names, in order */
};
enum eng_fval_kind {
    ENG_FVAL_STR = 0, /* raw[off, off + len) is the string */
    ENG_FVAL_ESC,     /* the same with JSON escapes (raw a JSON line, no text_ops) */
    ENG_FVAL_INT,     /* i, whose decimal text is raw[off, off + len) */
    ENG_FVAL_OBJ,     /* raw[off, off + len) is an object's JSON text */
    ENG_FVAL_KIND_COUNT
};
struct eng_fval {
    uint32_t field; /* index into names */
    enum eng_fval_kind kind;
    size_t off, len;
    int64_t i;
};
/* A key the caller of eng_push_decoded already wrote (the parallel
 * dispatcher, which routes by it): the JSON array of the values of fields
 * key[0..n_key) (bare fields of the ruleset) as the engine writes it, len
 * bytes, and its cep_hash64.  Stateful rules keyed by the same fields take
 * it instead of writing it again. */
struct eng_key_hint {
    const struct rule_field *key;
    size_t n_key;
    const char *json;
    size_t len;
    uint64_t hash;
};
struct eng_decoded {
    const char *raw;
    size_t raw_len;
    const struct evt_text_ops *text_ops; /* its JSON text; NULL: raw is it */
    const void *text_ud;
    const struct eng_fnames *names; /* NULL: decode raw as a JSON line */
    const struct eng_fval *fv;      /* in the order of the members in the text */
    size_t n_fv;
    int32_t time_fv; /* fv[time_fv]'s event time is time_us; -1: not known */
    int64_t time_us;
    const struct eng_key_hint *key; /* NULL: none */
};

/* eng_push_line for a decoded line: the event keeps d->raw and its slots
 * are filled from d->fv (a later member of the same name wins, as in
 * JSON); the result, counters, rejections and alerts are exactly those of
 * eng_push_line(JSON text).  The text is written (d->text_ops) only when
 * read; an event kept past the push keeps the recipe of its text.
 * Falls back to the JSON decoder when a field is an object whose members
 * the rules read.  The first line of a new name table on a stream
 * allocates its binding; then nothing. */
int eng_push_decoded(struct eng *eng, uint32_t stream, const struct eng_decoded *d,
                     const char *src_name, uint64_t src_off, struct eng_reject *rej);

/* Count a line the caller rejected before offering it (too long, unreadable),
 * so the engine's counters cover every input line. */
void eng_note_rejected(struct eng *eng);

/* Time passes without input (the daemon calls this periodically, now in
 * wall-clock microseconds): processing-time streams advance to now, firing
 * `within` timers; an event-time stream that has received nothing for its
 * idle_timeout releases what it buffered, as if its watermark had reached
 * the largest time seen. */
void eng_tick(struct eng *eng, int64_t now);

/* End of input.  flush: advance every stream to an infinite watermark;
 * drain: release buffered events but advance time only to the last event. */
enum eng_eof {
    ENG_EOF_FLUSH = 0,
    ENG_EOF_DRAIN,
    ENG_EOF_COUNT
};
void eng_finish(struct eng *eng, enum eng_eof mode);

const struct eng_stats *eng_stats(const struct eng *eng);
const struct eng_rule_stats *eng_rule_stats(const struct eng *eng, size_t rule_index);
/* Partial matches a pattern rule holds over all its keys (a gauge; walks
 * the keys, so not for the per-event path). */
size_t eng_rule_partials(const struct eng *eng, size_t rule_index);
/* Keys a rule holds state for (pattern, aggregate, absence; a gauge). */
size_t eng_rule_keys(const struct eng *eng, size_t rule_index);
/* Bytes of per-key state a rule holds: the key table (slots, index, timer
 * heap), key values, NFA partial matches with their buffered events, window
 * slices and aggregate states, absence rules' last events, the throttle
 * table with the alerts it keeps, and the idle states kept for reuse.
 * Counted from the capacities of what is allocated, so approximate
 * (allocator overhead and the event pool shared by all rules are not
 * included) but never hiding what a rule keeps alive.  Walks the keys: for
 * gauges and tests, not the per-event path. */
size_t eng_rule_state_bytes(const struct eng *eng, size_t rule_index);
/* All of the above for one rule (walks the keys). */
void eng_rule_report(const struct eng *eng, size_t rule_index, struct eng_rule_report *out);
/* How far stream `stream` has got in time (µs): for an event-time input
 * stream whose events wait for the watermark, the watermark (events up to
 * it have been released to the rules); otherwise the time its stateful
 * rules have reached.  CEP_TIME_MIN while nothing has moved it. */
int64_t eng_watermark(const struct eng *eng, uint32_t stream);

/* Reload (eng_reload.c): neu, a new engine for a reloaded rule set that
 * has not run yet, takes over from old: the state and counters of every
 * rule whose id and compiled hash are unchanged (partial matches, windows,
 * absence keys, throttle tables, timers), the watermarks, times and
 * reorder buffers of streams of the same name, and the engine counters.
 * Held events are decoded again under the new schemas.  old keeps the rest
 * (changed and removed rules' state) and its rule set must stay alive until
 * this returns; then the caller frees old, then its rule set.  Runs on the
 * engine's thread, between two input lines. */
struct eng_adopt_stats {
    size_t rules_kept;      /* state moved */
    size_t rules_changed;   /* same id, another compiled form: start afresh */
    size_t rules_new;
    size_t rules_dropped;   /* no longer in the rule set */
    size_t events_moved;    /* held events that moved and were decoded again */
    size_t events_dropped;  /* buffered for stateful rules the stream no longer has */
    size_t events_undecodable; /* never expected: moved with null fields */
};
void eng_adopt(struct eng *neu, struct eng *old, struct eng_adopt_stats *st);

/* Checkpoints (eng_snap.c).  eng_snapshot writes, between two input lines
 * (the derived-event queue is empty then), everything the engine needs to
 * carry on: per stream (by name) its watermark, times and reorder buffer;
 * per rule (by id, with its compiled hash, kind and a summary: keys,
 * partial matches, windows, state bytes) a frame holding its keyed state
 * ordered by key group (hash(key) % ENG_KEY_GROUPS), each key with its
 * group, so that a restore can take any subset of groups (rescale); the
 * throttle tables, absence keys, timers; the engine and rule counters.
 * eng_restore loads that into a new engine for a rule set that has not run
 * yet: rules are matched by id and compiled hash; a matching rule takes
 * its state, a rule whose hash differs starts afresh, a saved rule that is
 * gone is dropped; groups limits the restore to the key groups g with
 * groups[g] true (NULL: all).  Events are decoded again from their raw
 * bytes under the new schemas; the reorder buffers and stream times are
 * restored whole whatever groups says.  CEP_ERR (err filled) on a
 * malformed snapshot: the engine is then left as new (no state, zero
 * counters). */
struct ckpt_w;
struct ckpt_r;
enum eng_restore_fate {
    ENG_RESTORE_KEPT = 0,   /* state restored */
    ENG_RESTORE_RESET,      /* same id, different compiled form: starts afresh */
    ENG_RESTORE_NEW,        /* not in the snapshot */
    ENG_RESTORE_DROPPED,    /* in the snapshot, not in the rule set */
    ENG_RESTORE_FATE_COUNT
};
struct eng_restore_rule {
    const char *id;         /* the rule set's; a dropped rule's is a copy the report owns */
    enum eng_restore_fate fate;
    size_t keys;            /* keys restored (kept) or dropped */
};
struct eng_restore_report {
    struct eng_restore_rule *rules; /* owned; free with eng_restore_report_free */
    size_t n_rules;
    size_t events;          /* events decoded again */
};
void eng_snapshot(const struct eng *eng, struct ckpt_w *w);
int eng_restore(struct eng *eng, struct ckpt_r *r, const bool *groups,
                struct eng_restore_report *rep, char *err, size_t errlen);
/* Rescale (eng_par.c): which part of each stream an engine takes.  ALL:
 * every key group of the stream's rules and its whole reorder buffer;
 * NONE: only its times; GROUPS: the key groups opt->groups selects, and the
 * buffered events whose group (opt->group_of) it selects. */
enum eng_restore_part {
    ENG_RESTORE_ALL = 0,
    ENG_RESTORE_NONE,
    ENG_RESTORE_GROUPS,
    ENG_RESTORE_PART_COUNT
};
struct eng_restore_opt {
    const bool *groups;  /* ENG_KEY_GROUPS entries; NULL: all */
    const uint8_t *part; /* per stream of the engine's rule set; NULL: groups for the
                          * rules' state, reorder buffers whole (eng_restore) */
    uint32_t (*group_of)(void *ud, const struct evt *ev); /* for GROUPS streams */
    void *ud;
    /* Add the saved engine and rule counters.  Otherwise only the line
     * count adds up, as it numbers events (buffered events stay ahead of
     * new ones): the caller discounts it (eng_par.c). */
    bool counters;
};
/* eng_restore with opt, into an engine that has not run but may hold
 * other snapshots of the same checkpoint (one per worker: rule state is
 * merged, keys must not repeat; stream times take the latest; counters
 * add up).  CEP_ERR leaves the engine as new (all snapshots lost). */
int eng_restore_opt(struct eng *eng, struct ckpt_r *r, const struct eng_restore_opt *opt,
                    struct eng_restore_report *rep, char *err, size_t errlen);
/* The ENGINE section of a checkpoint holds one snapshot per worker: a
 * frame, then, when there are several, uv n-1 and n-1 more frames (so a
 * checkpoint of one engine is one frame, as before).  eng_restore_section
 * restores every snapshot of section r into eng with opt (NULL: all of
 * it, with counters), reporting like eng_restore (keys summed). */
int eng_restore_section(struct eng *eng, struct ckpt_r *r, const struct eng_restore_opt *opt,
                        struct eng_restore_report *rep, char *err, size_t errlen);
/* Add src's keys and events to dst (reports of the same rule set and
 * checkpoint); kept_only: only the rules whose state was kept. */
void eng_restore_report_add(struct eng_restore_report *dst, const struct eng_restore_report *src,
                            bool kept_only);
void eng_restore_report_free(struct eng_restore_report *rep);
/* `cepd checkpoint inspect`: a human-readable summary of a snapshot (per
 * rule: id, kind, hash, keys, partial matches, windows, bytes; per stream:
 * watermark, buffered events) into out, without a rule set. */
int eng_snapshot_inspect(struct ckpt_r *r, struct sbuf *out);
const char *eng_restore_fate_name(enum eng_restore_fate f);

/* Wall-clock time in microseconds (arrival time, detected_at). */
int64_t eng_now_us(void);

/* Parse an event-time value (number in unit, or an RFC 3339 string) into
 * microseconds.  Returns CEP_ERR if v is neither. */
int eng_time_from_val(const struct val *v, enum rule_time_unit unit, int64_t *out_us);

/* Days from 1970-01-01 to the civil date y-m-d in the proleptic Gregorian
 * calendar (also used by the syslog format, io/format.c). */
int64_t eng_days_from_civil(int64_t y, int m, int d);

#endif
