/* SPDX-License-Identifier: Apache-2.0
 * The daemon's sources and sinks (design §4, §5, §5.2): the interfaces
 * every source and sink implements, and the parts they share.  All of them
 * run on the one libevent loop of the daemon (struct event_base); none
 * blocks it.
 *
 * Sources hand lines to the pipeline through io_source.on_line (the
 * pipeline decodes them, runs the engine and routes alerts).  When a sink's
 * queue is past its capacity the pipeline pauses every source (ops->pause)
 * and resumes them once every sink is below it again: back-pressure, never
 * a drop.
 *
 * Sinks receive owned copies of alerts in a bounded queue (io_sink_enqueue
 * always accepts: one event may produce several alerts, so the bound is
 * enforced by pausing sources, not by refusing).  A sink's ops->kick is
 * called when its queue becomes non-empty; the implementation delivers from
 * the head and reports each outcome with io_sink_delivered or
 * io_sink_failed, which apply the retry policy (exponential back-off with
 * jitter, circuit breaker, dead-letter file after max_retries).
 * Tested by: tests/unit/check_sink.c, tests/daemon/ */
#ifndef CEPD_IO_H
#define CEPD_IO_H

#include "cepd/cep_common.h"
#include "cepd/cfg.h"
#include "cepd/eng.h"

struct event_base;
struct event;
struct ckpt_w;
struct ckpt_r;
struct sbuf;

/* ---- sources ---------------------------------------------------------- */

struct io_source_stats {
    uint64_t lines;    /* lines handed to the pipeline */
    uint64_t bytes;    /* bytes received, newlines included */
    uint64_t errors;   /* read/connect/protocol errors and rejected lines */
    uint64_t rejected; /* lines the pipeline dead-lettered */
    uint64_t connections; /* tcp/http: accepted so far; redis: (re)connects */
    int64_t last_line_at; /* wall clock µs of the last line; 0 = none */
    uint64_t lag;      /* input known to wait (file: bytes behind the end); 0 = none or unknown */
};

/* One line (for http: one JSON object of the body).  offset is the line's
 * identity within the source: a byte offset for file, stdin and tcp
 * (per connection: connection number << 40 | offset), the position of the
 * request line for http, the packed stream id for redis_stream
 * (ms << 22 | seq). */
struct io_line {
    const char *data;
    size_t len;
    uint64_t offset;
    uint64_t line_no;  /* 1-based within the source (or connection) */
    bool too_long;     /* data holds only the first max_line_bytes */
};

struct io_source;

struct io_source_ops {
    const char *type;  /* "file", "tcp", ... */
    /* Open, bind or connect.  CEP_ERR only for what a restart will not fix
     * (an address that cannot be bound, a bad URL), after logging why;
     * a missing file or an unreachable peer is retried with back-off. */
    int (*start)(struct io_source *s);
    void (*pause)(struct io_source *s);   /* stop reading (back-pressure) */
    void (*resume)(struct io_source *s);
    /* Stop reading for shutdown; close listeners and connections. */
    void (*stop)(struct io_source *s);
    void (*free)(struct io_source *s);    /* frees impl, not s */
    /* Checkpoints.  NULL for a source that cannot be replayed (stdin).
     * save_pos writes the position just after the last line handed to
     * on_line (a restore resumes with the next line) and remembers it as
     * checkpoint ckpt_seq's; committed(ckpt_seq) says that checkpoint is
     * durable, so what precedes its position may be released (redis_stream:
     * XACK; tcp/http: trim the write-ahead log).  load_pos, before start,
     * makes the source resume from a saved position; CEP_ERR (logged) if
     * the position cannot be used (the file was replaced: the source then
     * starts as configured). */
    void (*save_pos)(struct io_source *s, uint64_t ckpt_seq, struct ckpt_w *w);
    int (*load_pos)(struct io_source *s, struct ckpt_r *r);
    void (*committed)(struct io_source *s, uint64_t ckpt_seq);
};

/* What the pipeline says of a line: accepted, or rejected with a reason. */
struct io_verdict {
    bool accepted;
    struct eng_reject rej;
};

struct io_source {
    const struct cfg_source *cfg;
    const struct io_source_ops *ops;
    struct event_base *base;
    size_t max_line;   /* resolved: cfg->max_line_bytes or the global one */
    /* The pipeline: one line from this source.  Sources call it for each
     * line, in order, and count what it says. */
    void (*on_line)(void *ud, struct io_source *s, const struct io_line *l,
                    struct io_verdict *out);
    /* Optional: a batch of lines has been handed over (flush point), or
     * the source has just ended (ended set). */
    void (*on_batch)(void *ud, struct io_source *s);
    void *ud;
    struct io_source_stats st;
    bool paused;
    bool ended;        /* no more input will come (stdin at EOF) */
    void *impl;
};

/* A source of cfg's type (file, stdin, tcp, http, redis_stream), not yet
 * started.  Fills s->ops and s->impl. */
void io_source_init(struct io_source *s, const struct cfg_source *cfg,
                    struct event_base *base, size_t global_max_line);
/* Wall-clock microseconds from s's loop's cached time (for last_line_at:
 * no system call per line). */
int64_t io_source_now(const struct io_source *s);

/* One source type each, in src/io/sources/src_<type>.c. */
extern const struct io_source_ops io_src_file_ops;
extern const struct io_source_ops io_src_stdin_ops;
extern const struct io_source_ops io_src_tcp_ops;
extern const struct io_source_ops io_src_http_ops;
extern const struct io_source_ops io_src_redis_ops;

/* ---- sinks ------------------------------------------------------------ */

/* An alert as a sink holds it: owned copies. */
struct io_alert {
    char id[33];       /* alert_id */
    uint32_t rule_index;
    int64_t time;      /* event time µs */
    char *json;        /* without newline; NUL-terminated */
    size_t len;
    uint32_t attempts; /* delivery attempts so far */
};

struct io_sink_stats {
    uint64_t queued;        /* alerts ever enqueued */
    uint64_t delivered;
    uint64_t retried;       /* failed attempts that were retried */
    uint64_t dead_lettered; /* given up after max_retries, written to the dead-letter file */
    uint64_t depth;         /* alerts in the queue now */
    uint64_t circuit_opens; /* times the circuit breaker opened */
    char last_error[160];   /* "" = none */
};

/* Defaults when the config says nothing. */
#define IO_SINK_QUEUE_DEFAULT     10000   /* alerts: capacity before sources pause */
#define IO_SINK_RETRIES_DEFAULT   8
#define IO_SINK_TIMEOUT_DEFAULT   (5 * CEP_USEC_PER_SEC)
#define IO_SINK_BACKOFF_MIN       (100 * 1000)          /* µs */
#define IO_SINK_BACKOFF_MAX       (30 * CEP_USEC_PER_SEC)
#define IO_SINK_BREAKER_FAILURES  5   /* consecutive failures that open the circuit */

struct io_sink;

struct io_sink_ops {
    const char *type;
    /* Open or connect.  CEP_ERR (after logging) when the sink can never
     * work (unwritable file, bad URL): the daemon refuses to start. */
    int (*start)(struct io_sink *s);
    /* The queue has alerts and the sink may deliver (not busy, not waiting
     * on a retry timer or an open circuit): deliver from the head.  Called
     * from a deferred event, never inside io_sink_enqueue's caller.  While
     * s->failures > 0 (retrying, or the one probe of a half-open circuit)
     * send the head alone.  A sink that cannot send now (not connected)
     * returns and kicks again itself once it can. */
    void (*kick)(struct io_sink *s);
    void (*reopen)(struct io_sink *s);    /* SIGUSR1; may be NULL */
    void (*stop)(struct io_sink *s);      /* close connections */
    void (*free)(struct io_sink *s);      /* frees impl, not s */
};

struct io_sink {
    const struct cfg_sink *cfg;
    const struct io_sink_ops *ops;
    struct event_base *base;
    struct io_alert *q;      /* ring buffer */
    size_t q_head, q_len, q_cap;
    size_t capacity;         /* soft bound: io_sink_full past it */
    uint32_t max_retries;
    int64_t timeout;         /* µs, for sinks that wait on a peer */
    bool busy;               /* an attempt is in flight */
    uint32_t failures;       /* consecutive */
    struct event *retry_ev;  /* back-off / circuit timer */
    bool waiting;            /* retry_ev armed */
    struct event *kick_ev;   /* deferred call of ops->kick */
    int64_t backoff_max;     /* µs: longest back-off, and the circuit's cool-down */
    uint64_t rng;            /* jitter state */
    struct io_sink_stats st;
    FILE *dead;              /* dead-letter file (cfg dead_letter), may be NULL */
    /* The pipeline: the queue went from full to below capacity. */
    void (*on_space)(void *ud, struct io_sink *s);
    /* Sink "stream": an alert to go back in as a line of the named stream,
     * delivered by the pipeline outside the engine's call stack. */
    void (*loopback)(void *ud, struct io_sink *s, const struct io_alert *a);
    void *ud;
    void *impl;
};

/* A sink of cfg's type, not yet started: fills s (ops, queue, limits from
 * cfg or the defaults) and keeps cfg borrowed.  Then the pipeline sets
 * on_space/loopback/ud and calls s->ops->start (which also opens the
 * dead-letter file), refusing to run on CEP_ERR. */
void io_sink_init(struct io_sink *s, const struct cfg_sink *cfg, struct event_base *base);
/* Copy a into the queue and kick the sink if it can deliver now. */
void io_sink_enqueue(struct io_sink *s, const struct eng_alert *a);
bool io_sink_full(const struct io_sink *s);
/* The i-th queued alert from the head (i < q_len). */
struct io_alert *io_sink_at(struct io_sink *s, size_t i);
/* Alert a of sink s as one dead-letter record (a JSON line: sink,
 * alert_id, attempts, error why, alert), into out (reset first). */
void io_sink_dead_record(const struct io_sink *s, const struct io_alert *a, const char *why,
                         struct sbuf *out);
/* The n alerts at the head were delivered: pop them, reset failures. */
void io_sink_delivered(struct io_sink *s, size_t n);
/* The attempt on the head failed (err says why): retry after a back-off
 * with jitter, open the circuit after IO_SINK_BREAKER_FAILURES in a row,
 * and after max_retries write the head to the dead-letter file (or the log
 * when there is none) and go on with the next. */
void io_sink_failed(struct io_sink *s, const char *err);
/* SIGUSR1: the sink's own files (ops->reopen) and its dead-letter file are
 * opened again at their paths (after logrotate moved them); a file that
 * cannot be opened is logged and the old one kept. */
void io_sink_reopen(struct io_sink *s);
/* Stop (ops->stop), free the implementation, the queued alerts (still in
 * the queue: the caller drains first) and the timers.  s itself is the
 * caller's. */
void io_sink_free(struct io_sink *s);

extern const struct io_sink_ops io_sink_stdout_ops;
extern const struct io_sink_ops io_sink_file_ops;
extern const struct io_sink_ops io_sink_stream_ops;
extern const struct io_sink_ops io_sink_redis_ops;
extern const struct io_sink_ops io_sink_webhook_ops;

/* ---- line formats ----------------------------------------------------- */

/* A source's format turns a received line into a JSON object for the
 * engine (json: the line as is; regex: named groups become string fields;
 * syslog: RFC 3164 / 5424 fields).  io_format_decode says where each
 * field's value lies, so that eng_push_decoded need not parse text, and
 * the JSON text is written only when read.  One per source; not
 * thread-shared. */
struct io_format;
/* NULL with *err set (static or in errbuf) when the pattern does not compile. */
struct io_format *io_format_new(const struct cfg_source *cfg, char *errbuf, size_t errlen);
/* Returns the JSON line (valid until the next call) in *out, *out_len, or
 * CEP_ERR with rej filled when the line does not match the format. */
int io_format_apply(struct io_format *f, const char *line, size_t len, const char **out,
                    size_t *out_len, struct eng_reject *rej);
/* Decode line for eng_push_decoded (json format: names NULL, the line as
 * is), or CEP_ERR with rej filled.  *out is valid until the next call on
 * f. */
int io_format_decode(struct io_format *f, const char *line, size_t len, struct eng_decoded *out,
                     struct eng_reject *rej);
/* The JSON text of d, the last line f decoded (valid until the next call
 * on f), its length in *len. */
const char *io_format_text(struct io_format *f, const struct eng_decoded *d, size_t *len);
void io_format_free(struct io_format *f);
/* Check a source's pattern as the config loader reads it (a valid PCRE2
 * pattern with at least one named group).  CEP_OK, or CEP_ERR with
 * *err_off (the byte of the pattern blamed) and err (errlen bytes) set. */
int io_format_pattern_check(const char *pattern, size_t *err_off, char *err, size_t errlen);

#endif
