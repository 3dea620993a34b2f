/* SPDX-License-Identifier: Apache-2.0
 * Events and stream schemas.  A schema is the trie of field paths that the
 * loaded rules read from one stream; compiling a rule turns each path into a
 * slot, so a decoder extracts only those paths.  An event keeps its raw bytes
 * for output, an arrival identity for alert ids, its event time, and one
 * value per schema slot, and its JSON text (what alerts print and
 * checkpoints save), which a line format may write only when it is read.
 * Events are refcounted: whoever keeps one past the
 * call that handed it over (a partial match, a window) takes a reference.
 * Tested by: tests/unit/check_core.c */
#ifndef CEPD_EVT_H
#define CEPD_EVT_H

#include "cepd/cep_common.h"
#include "cepd/sbuf.h"
#include "cepd/val.h"

/* One segment of a field path (http.request.method has three). */
struct evt_path_seg {
    const char *s;
    size_t len;
};

/* A trie node: a child per next segment; slot >= 0 when rules read the
 * value at this path (a node can be both read and walked into). */
struct evt_schema_node {
    char *name;
    uint32_t name_len;
    int32_t slot;
    uint32_t n_children;
    uint32_t children_cap;
    struct evt_schema_node **children;
};

struct evt_schema {
    struct evt_schema_node root; /* the top-level object; root.slot is -1 */
    uint32_t n_slots;
    uint32_t slot_names_cap;
    char **slot_names; /* dotted path per slot, for dumps and diagnostics */
};

struct evt_schema *evt_schema_new(void);
void evt_schema_free(struct evt_schema *s);
/* The slot of a path of n (>= 1) segments, added if new.  Never fails. */
int evt_schema_slot(struct evt_schema *s, const struct evt_path_seg *segs, size_t n);
/* Same for a dotted path without quoting ("a.b.c"); a convenience for tests
 * and for configuration keys such as time.field. */
int evt_schema_slot_dotted(struct evt_schema *s, const char *path);
/* Child of node named (s, len), or NULL. */
const struct evt_schema_node *evt_schema_child(const struct evt_schema_node *n, const char *s,
                                               size_t len);

struct evt_pool;

/* Where an event's JSON text is (evt_text_append). */
enum evt_text_kind {
    EVT_TEXT_RAW = 0, /* raw is the text (a JSON line) */
    EVT_TEXT_DEFER,   /* text_ops->write_now writes it (only during the push) */
    EVT_TEXT_KEPT,    /* text_ops->write_kept writes it from raw and text */
    EVT_TEXT_NONE,    /* gone: the push ended and nobody kept the event */
    EVT_TEXT_KIND_COUNT
};

/* How a line format writes the JSON text of an event it decoded (the
 * event's raw holds the line and the values the format made). */
struct evt_text_ops {
    /* Append the text of the line being pushed; ud is the format's state
     * for its last line. */
    void (*write_now)(const void *ud, struct sbuf *out);
    /* Append to recipe what write_kept needs besides raw (the event
     * outlives the push, and ud). */
    void (*keep)(const void *ud, struct sbuf *recipe);
    /* Append the text of an event from its raw bytes and recipe. */
    void (*write_kept)(const char *raw, const char *recipe, struct sbuf *out);
};

struct evt {
    uint32_t refcnt;
    struct evt_pool *pool; /* where the event goes back at refcnt 0, or NULL */
    uint32_t stream;    /* index of the stream in the ruleset */
    int64_t time;       /* event time, microseconds since the epoch */
    uint64_t seq;       /* arrival order in this process (ties in time) */
    const char *src_name; /* identity: source name, borrowed (sources outlive events) */
    uint64_t src_off;   /* identity: byte offset of the line in its source */
    char *raw;          /* what the slots point into, NUL-terminated: the line
                         * as received (a JSON line), or what a line format
                         * decoded; raw, scratch and slots share one block,
                         * owned, at slots */
    uint32_t raw_len;
    uint32_t raw_cap;
    char *scratch;      /* unescaped strings; cap >= raw_len before decoding */
    uint32_t scratch_len;
    uint32_t scratch_cap;
    uint32_t n_slots;
    uint32_t slots_cap;
    struct val *slots;
    enum evt_text_kind text_kind;
    const struct evt_text_ops *text_ops; /* EVT_TEXT_DEFER, EVT_TEXT_KEPT */
    const void *text_ud;                 /* EVT_TEXT_DEFER */
    struct sbuf text;   /* EVT_TEXT_KEPT: the recipe; kept across resets */
};

/* A new event with refcnt 1 and empty buffers. */
struct evt *evt_new(void);

/* A free list of events, so that an event whose last reference drops keeps
 * its buffers for the next line instead of going back to malloc.  One per
 * engine (single thread).  evt_pool_fini may run only once every event
 * taken from the pool has been released.
 * Bound: the pool keeps as many free events as were out at once at the
 * peak of the current or the previous epoch (EVT_POOL_EPOCH gets), and at
 * least EVT_POOL_MIN.  State that holds many events and lets them all go
 * at one instant (10k keys' aligned windows closing together) takes them
 * back without malloc; after a spike, two quiet epochs free the surplus,
 * one event per get. */
#define EVT_POOL_MIN   4096
#define EVT_POOL_EPOCH (1u << 20)
struct evt_pool {
    struct evt **free;
    size_t n;
    size_t cap;
    size_t out;       /* events handed out and not back (approximate after
                       * a reload moved events between pools) */
    size_t peak;      /* most out at once, this epoch */
    size_t peak_prev; /* the same, previous epoch */
    uint32_t gets;    /* gets this epoch */
};
void evt_pool_init(struct evt_pool *p);
void evt_pool_fini(struct evt_pool *p);
/* An event with refcnt 1 that returns to p when released. */
struct evt *evt_pool_get(struct evt_pool *p);
static inline struct evt *evt_ref(struct evt *e)
{
    e->refcnt++;
    return e;
}
/* Drop a reference; at zero the event goes back to its pool (keeping its
 * buffers) or is freed.  NULL is a no-op. */
void evt_unref(struct evt *e);
/* The bytes e holds: the struct, its block (line, scratch, slots) and the
 * recipe of its text, by capacity (for state accounting). */
size_t evt_mem_bytes(const struct evt *e);
/* The longest line an event holds (its buffers are sized in 32 bits, with
 * room for the scratch and the slots). */
#define EVT_RAW_MAX (UINT32_MAX / 4)
/* Make e ready to receive a line of len bytes (< EVT_RAW_MAX) decoded into n_slots slots:
 * copies the bytes into e->raw, sizes scratch to at least len, sets every
 * slot to null.  Reuses e's buffers; allocates only to grow them. */
void evt_reset(struct evt *e, const char *line, size_t len, uint32_t n_slots);

/* After evt_reset: raw is not the JSON text; ops->write_now(ud) writes it
 * for as long as the caller pushing e keeps ud valid, which must end with
 * evt_text_settle(e).  A line format decodes into raw (its line and the
 * values it made) and writes the JSON only if something reads it. */
void evt_text_defer(struct evt *e, const struct evt_text_ops *ops, const void *ud);
/* The end of the push of a deferred e: if someone kept a reference (a
 * partial match, a buffer), e keeps the recipe of its text (ops->keep);
 * if not, the text is gone (e is reset before it is read again).
 * Allocates only to grow e->text. */
void evt_text_settle(struct evt *e);
/* Append e's JSON text to out.  Not for an event whose push ended with
 * nobody keeping it. */
void evt_text_append(const struct evt *e, struct sbuf *out);

#endif
