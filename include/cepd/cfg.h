/* SPDX-License-Identifier: Apache-2.0
 * cepd.yaml (design §4): rule paths, stream overrides, sources, sinks,
 * checkpointing, admin HTTP, logging and process settings.  Read with the
 * rule loader's YAML tree and schema tables, so config errors are reported
 * like rule errors (FILE:LINE:COL, unknown keys with "did you mean").
 * cfg_load applies the defaults, so a minimal file gives a runnable config.
 * Tested by: tests/unit/check_rule.c (config cases) */
#ifndef CEPD_CFG_H
#define CEPD_CFG_H

#include "cepd/cep_common.h"
#include "cepd/diag.h"
#include "cepd/lookup.h"
#include "cepd/rule.h"

#define CFG_MAX_LINE_BYTES_DEFAULT (1024 * 1024)
/* The largest max_line_bytes accepted (config and `cepd replay`): an event
 * holds its line in 32-bit sized buffers (evt_reset). */
#define CFG_MAX_LINE_BYTES_LIMIT (256 * 1024 * 1024)
#define CFG_MAX_BODY_BYTES_DEFAULT (16 * 1024 * 1024)
/* checkpoint.outbox_size: alerts held by exactly_once before the sources
 * pause and a checkpoint is taken early. */
#define CFG_OUTBOX_SIZE_DEFAULT 100000
#define CFG_OUTBOX_SIZE_MAX 10000000

enum cfg_source_type {
    CFG_SRC_FILE = 0,
    CFG_SRC_STDIN,
    CFG_SRC_TCP,
    CFG_SRC_HTTP,
    CFG_SRC_REDIS_STREAM,
    CFG_SRC_TYPE_COUNT
};

enum cfg_format {
    CFG_FMT_JSON = 0,
    CFG_FMT_REGEX,
    CFG_FMT_SYSLOG,
    CFG_FMT_COUNT
};

struct cfg_source {
    char *name;
    enum cfg_source_type type;
    enum cfg_format format;   /* default json */
    char *stream;             /* default "default" */
    char *path;               /* file */
    char *listen;             /* tcp, http: host:port */
    char *url;                /* redis_stream */
    char *key;                /* redis_stream: stream key */
    char *group;              /* redis_stream: consumer group */
    char *consumer;           /* redis_stream: consumer name; NULL = "cepd-<hostname>" */
    char *pattern;            /* format regex: PCRE2 with named groups */
    size_t max_line_bytes;    /* default: the global max_line_bytes */
    size_t max_body_bytes;    /* http: request body limit; 0 = CFG_MAX_BODY_BYTES_DEFAULT */
    bool ack;                 /* tcp: write "ok N" back once lines are durable (src_tcp.c) */
    char *wal_dir;            /* tcp, http: write-ahead log directory, <checkpoint.dir>/wal/<name>;
                               * NULL (no checkpoints) = no WAL; set by cfg_apply_defaults */
    bool checkpointed;        /* checkpoint.dir is set (cfg_apply_defaults): redis_stream
                               * acknowledges entries only once a checkpoint covers them */
    uint32_t line;            /* where it is defined, for messages */
};

enum cfg_sink_type {
    CFG_SINK_STDOUT = 0,
    CFG_SINK_FILE,
    CFG_SINK_REDIS,
    CFG_SINK_WEBHOOK,
    CFG_SINK_STREAM,
    CFG_SINK_TYPE_COUNT
};

struct cfg_sink {
    char *name;
    enum cfg_sink_type type;
    char *path;        /* file */
    char *url;         /* redis, webhook */
    char *mode;        /* redis: e.g. xadd; NULL = sink's default */
    char *key;         /* redis key */
    char *secret_file; /* webhook HMAC secret */
    char *stream;      /* stream loopback target */
    int64_t max_retries; /* -1 = sink's default */
    int64_t timeout;     /* microseconds; 0 = sink's default */
    size_t queue_size;   /* alerts before sources pause; 0 = IO_SINK_QUEUE_DEFAULT */
    int64_t backoff_max; /* µs: longest retry delay and circuit cool-down; 0 = default */
    char *dead_letter;   /* alerts given up on; default: the global dead_letter */
    int64_t maxlen;      /* redis xadd: MAXLEN ~ N; 0 = no trimming */
    int64_t ttl;         /* redis: µs an alert_id is remembered; 0 = default */
    char **headers;      /* webhook: name, value, name, value, ... (2 * n_headers) */
    size_t n_headers;
    bool tls_verify;     /* webhook https: verify the certificate (default true) */
    uint32_t line;
};

enum cfg_delivery {
    CFG_DELIVERY_EXACTLY_ONCE = 0,
    CFG_DELIVERY_AT_LEAST_ONCE,
    CFG_DELIVERY_COUNT
};

enum cfg_log_target {
    CFG_LOG_STDERR = 0,
    CFG_LOG_SYSLOG,
    CFG_LOG_FILE,
    CFG_LOG_TARGET_COUNT
};

struct cfg {
    char *path;        /* the config file */
    char *dir;         /* its directory: relative paths below are resolved against it */
    char **rules;      /* rule files/globs/directories, resolved */
    size_t n_rules;
    struct rule_stream_override *streams; /* names and time fields owned */
    size_t n_streams;
    struct cfg_source *sources;
    size_t n_sources;
    struct cfg_sink *sinks;
    size_t n_sinks;
    char **default_sinks;
    size_t n_default_sinks;
    char **enable_rules;  /* id globs or tag:NAME (design §2.5) */
    size_t n_enable_rules;
    char **disable_rules;
    size_t n_disable_rules;
    struct {
        char *dir;       /* NULL = no checkpoints */
        int64_t interval; /* microseconds, default 10s */
        uint32_t retain;  /* default 3 */
        enum cfg_delivery delivery;
        bool savepoint_on_stop; /* SIGTERM/SIGINT also write DIR/savepoint-<seq>.ckpt */
        size_t outbox_size; /* exactly_once: alerts held before sources pause and a
                               checkpoint is taken early; default CFG_OUTBOX_SIZE_DEFAULT */
    } checkpoint;
    struct {
        char *listen;     /* NULL = no admin HTTP; "HOST:PORT", or ":PORT" for 127.0.0.1 */
        char *token;      /* bearer token required by every endpoint but /healthz */
        char *token_file; /* or: a file holding it (read at start and reload) */
        bool allow_remote; /* a non-loopback address without a token */
    } admin;
    uint32_t parallelism; /* default 1 */
    size_t max_line_bytes; /* default 1 MiB */
    struct {
        int level;        /* enum cep_log_level, default notice */
        enum cfg_log_target target;
        char *path;       /* target FILE */
    } log;
    char *user;
    char *group;
    char *dead_letter;
    struct lookup_spec *lookups; /* `lookups:`; loaded with lookup_reg_load */
    size_t n_lookups;
};

/* Read and check a config file (or text, named name, whose relative paths
 * resolve against dir).  Returns an owned cfg with defaults applied, or NULL
 * with every error in dl. */
struct cfg *cfg_load(const char *path, struct diag_list *dl);
struct cfg *cfg_load_mem(const char *name, const char *dir, const char *text, size_t len,
                         struct diag_list *dl);
/* Fill the defaults a minimal config leaves out: a stdout sink, stdin json
 * source into "default", default_sinks = [stdout] (or the first sink),
 * parallelism 1, checkpoint interval 10s / retain 3, log level notice. */
void cfg_apply_defaults(struct cfg *c);
/* Point opts at the config's stream overrides and rule selection; opts
 * borrows from c. */
void cfg_rule_load_opts(const struct cfg *c, struct rule_load_opts *opts);
const struct cfg_sink *cfg_find_sink(const struct cfg *c, const char *name);
/* The format a source's `format:` names ("json", "regex", "syslog"), or -1. */
int cfg_format_parse(const char *name);
void cfg_free(struct cfg *c);

#endif
