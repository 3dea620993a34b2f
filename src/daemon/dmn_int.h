/* SPDX-License-Identifier: Apache-2.0
 * The CLI verbs and the helpers they share (rule path expansion, loading a
 * rule set with printed diagnostics), and the parts of `cepd run`: the
 * pipeline (dmn_pipe.c), reload (dmn_reload.c) and admin HTTP
 * (dmn_admin.c), which share struct dmn. */
#ifndef CEPD_DMN_INT_H
#define CEPD_DMN_INT_H

#include "cepd/cep_common.h"
#include "cepd/ckpt.h"
#include "cepd/io.h"
#include "cepd/rule.h"
#include "cepd/sbuf.h"

#include <stdio.h>

/* Exit codes (style §5). */
#define DMN_EXIT_OK    0
#define DMN_EXIT_RULES 1 /* rule or config errors, failed tests */
#define DMN_EXIT_USAGE 2 /* usage or system error */

int dmn_cmd_check(int argc, char **argv);
int dmn_cmd_replay(int argc, char **argv);
int dmn_cmd_test(int argc, char **argv);
int dmn_cmd_run(int argc, char **argv);
int dmn_cmd_graph(int argc, char **argv);
int dmn_cmd_checkpoint(int argc, char **argv);
int dmn_cmd_savepoint(int argc, char **argv);

/* A growable list of owned strings. */
struct dmn_paths {
    char **v;
    size_t n;
    size_t cap;
};
void dmn_paths_add(struct dmn_paths *p, const char *path);
void dmn_paths_free(struct dmn_paths *p);

/* Expand a rule argument into files: a directory gives its *.yaml files, a
 * glob its matches, a file itself; rule test files (*.test.yaml) are left
 * out of directories and globs.  Sorted within the argument.  Returns
 * CEP_ERR (after printing why) when nothing matches. */
int dmn_expand_rules(const char *arg, struct dmn_paths *out);

/* Append a dead-letter record for a rejected line as one JSON line:
 * source, line number, offset, 1-based column, reason, the raw bytes (at
 * most 4 KiB, non-ASCII escaped so any input stays valid JSON) and whether
 * they were truncated. */
struct sbuf;
struct src_line;
void dmn_dead_letter_json(struct sbuf *sb, const char *src, const struct src_line *l,
                          const char *reason, size_t at);

/* Append a YAML node (a `cepd test` event) as JSON: plain scalars that
 * read as numbers, true, false or null keep that type; everything else is
 * a string. */
struct rule_yaml_node;
void dmn_yaml_to_json(const struct rule_yaml_node *n, struct sbuf *sb);

/* Load rule files, printing every diagnostic to stderr.  NULL on errors. */
struct ruleset *dmn_load_rules(const struct dmn_paths *files, const struct rule_load_opts *opts);

/* Load the config file at path, printing every diagnostic to out.  NULL on
 * errors. */
struct cfg;
struct cfg *dmn_load_cfg(const char *path, FILE *out);

/* Load the lookup tables of a (n_a specs) then b (n_b specs; either may be
 * NULL when empty), printing every diagnostic to out.  NULL if any table
 * fails to load. */
struct lookup_spec;
struct lookup_reg;
struct lookup_reg *dmn_load_lookups(const struct lookup_spec *a, size_t n_a,
                                    const struct lookup_spec *b, size_t n_b, FILE *out);

/* ---- `cepd run`: the daemon (dmn_pipe.c, dmn_reload.c, dmn_admin.c) ---- */

struct lookup_reg;
struct dmn;
struct dmn_admin;

/* One generation of what the config file says: the config, its lookup
 * tables, the rules compiled against them and the engine running them.  A
 * reload builds a new one beside the running one and swaps only on success. */
struct dmn_gen {
    struct cfg *cfg;
    struct lookup_reg *lookups;
    struct ruleset *rs;
    struct eng *eng;
    size_t **routes;      /* per rule: indexes into dmn.snks, ended by SIZE_MAX */
};

/* A configured source with its line format.  Allocated alone: the source
 * implementation keeps a pointer to io. */
struct dmn_src {
    struct io_source io;
    struct io_format *fmt;
    const char *name;     /* interned: outlives every event that names it */
    int32_t stream;       /* its stream in the running rules; -1: none reads it */
    bool started;
    struct dmn *d;
};

/* A configured sink.  A stream sink pushes its alerts back into the engine
 * as lines of loop_stream, named loop_name, each identified by its alert id
 * (loop_lines counts them, for line numbers in dead letters). */
struct dmn_snk {
    struct io_sink io;
    int32_t loop_stream;  /* stream sinks: target stream; -1: none reads it */
    const char *loop_name;
    uint64_t loop_lines;
    uint64_t loop_rejected;
    bool full;            /* counted in dmn.n_full */
    struct dmn *d;
};

struct dmn {
    struct event_base *base;
    const char *config_path;
    int cli_log_level;    /* --log-level, or -1: the config's log.level */
    struct dmn_gen g;
    struct dmn_src **srcs;
    size_t n_srcs;
    struct dmn_snk **snks;
    size_t n_snks;
    size_t n_full;        /* sinks past capacity: every source is paused while > 0 */
    uint64_t pauses;      /* times back-pressure paused the sources */
    int dead_fd;          /* dead-letter file for rejected lines, or -1 */
    char *dead_path;
    struct sbuf tmp;
    uint64_t rejected_logged;
    uint64_t dead_write_errors;
    char **names;         /* interned source names (freed last) */
    size_t n_names;
    size_t names_cap;
    struct event *tick_ev;
    struct event *drain_ev;
    struct event *sig_ev[4];
    struct dmn_admin *admin;
    int64_t started_at;   /* wall clock µs */
    uint64_t reloads_ok;
    uint64_t reloads_failed;
    int64_t last_reload_at;
    bool last_reload_ok;
    bool stopping;        /* reading stopped; draining the sinks */
    bool input_ended;     /* every source ended (stdin at EOF) */
    int64_t drain_deadline; /* monotonic µs */
    struct dmn_ckpt *ckpt; /* checkpointing (dmn_ckpt.c), NULL when off */
    struct eng_par *par;  /* parallelism > 1: the workers run the rules (g.eng idles) */
    struct event *par_ev; /* with par: flushes batches, delivers alerts */
    bool par_full;        /* with par: the workers' rings are full (counted in n_full) */
    const char *from_savepoint; /* --from-savepoint PATH (borrowed), or NULL */
};

/* dmn_pipe.c */
/* Load the config at path, its lookup tables and rules into g (no
 * engine).  Every diagnostic goes to diag_out (stderr at start-up; the log
 * on reload).  DMN_EXIT_OK, or DMN_EXIT_RULES with g cleared. */
int dmn_gen_load(const char *path, struct dmn_gen *g, FILE *diag_out);
/* Free what g holds (engine first) and clear it. */
void dmn_gen_free(struct dmn_gen *g);
/* Resolve each rule's sinks (its own list or default_sinks) to indexes
 * into snks.  CEP_ERR after logging a rule that names a sink snks lacks. */
int dmn_routes_build(struct dmn_gen *g, struct dmn_snk *const *snks, size_t n_snks);
void dmn_routes_free(struct dmn_gen *g);
/* The engine of g, delivering alerts to d's sinks (routes of g). */
struct eng *dmn_eng_new(struct dmn *d, const struct ruleset *rs);
/* Open the dead-letter file for rejected lines: an fd, -1 after logging. */
int dmn_dead_open(const char *path);
/* A source or sink of cfg c, owned by d's lists once added.  dmn_snk_new
 * starts the sink and returns NULL (after logging) when it cannot start. */
struct dmn_src *dmn_src_new(struct dmn *d, const struct cfg_source *c);
int dmn_src_start(struct dmn_src *s);
void dmn_src_free(struct dmn_src *s);
struct dmn_snk *dmn_snk_new(struct dmn *d, const struct cfg_sink *c);
void dmn_snk_free(struct dmn_snk *k);
/* Copy a into k's queue; past its capacity, pause the sources. */
void dmn_snk_enqueue(struct dmn_snk *k, const struct eng_alert *a);
/* Write every alert still queued in k to the dead-letter file (k's own,
 * else d's; the log without either) with reason why, before k is freed. */
void dmn_snk_dead_letter_queue(struct dmn_snk *k, const char *why);
/* Point sources and stream sinks at the streams of the running rules. */
void dmn_bind_streams(struct dmn *d);
const char *dmn_intern(struct dmn *d, const char *s);
/* CLOCK_MONOTONIC in microseconds. */
int64_t dmn_mono_us(void);
/* Build sources and sinks from d->g, start them, start the tick timer.
 * DMN_EXIT_OK, or DMN_EXIT_USAGE when a sink or the dead-letter file
 * cannot be opened or a source cannot start. */
int dmn_pipe_open(struct dmn *d);
/* Stop reading (every source), drain the engine, then wait for the sinks'
 * queues to empty (bounded) and leave the loop.  end_of_input: every
 * source ended, so time ends too (windows flush as in replay); else (a
 * signal) time stops where it is. */
void dmn_pipe_stop(struct dmn *d, bool end_of_input);
/* SIGUSR1: reopen file sinks. */
void dmn_pipe_reopen(struct dmn *d);
/* Free sources, sinks, the generation and the timers. */
void dmn_pipe_close(struct dmn *d);
/* Back-pressure from something other than a sink (the exactly_once
 * outbox): *flag counts in d->n_full like a full sink, pausing every
 * source while it is set; why ("the outbox is full (...)") is logged. */
void dmn_pipe_set_full(struct dmn *d, bool *flag, bool full, const char *why);

/* dmn_reload.c */
/* SIGHUP / POST /reload: load the config and rules again beside the running
 * ones; on any error log every diagnostic and change nothing (CEP_ERR with
 * a one-line reason in why); on success swap them in, keeping the state of
 * unchanged rules and the sources and sinks whose config is unchanged. */
int dmn_reload(struct dmn *d, char *why, size_t why_len);

/* dmn_ckpt.c: checkpoints of the running daemon (design §5.1). */
struct dmn_ckpt;
struct eng_restore_report;
/* Set up checkpointing for d (d->g.cfg->checkpoint; nothing when no dir):
 * the directory, the interval timer, the outbox of `delivery`.  Before the
 * sources start: restore from `from` (a savepoint path, --from-savepoint)
 * or else from the newest valid checkpoint of the directory, skipping
 * corrupt ones with a log line; sources get their saved positions, the
 * engine its state, the outbox its alerts (sent again: sinks dedup by id).
 * The restore report goes to the log.  CEP_ERR after logging only when
 * `from` was given and cannot be used, or the directory cannot be made. */
int dmn_ckpt_open(struct dmn *d, const char *from);
/* Take a checkpoint now, between two input lines.  kind SAVEPOINT writes
 * to path (NULL: DIR/savepoint-<seq>.ckpt), kept until deleted; the path
 * written goes to out_path.  CEP_ERR with err filled when writing failed
 * (the daemon carries on from the last good checkpoint; counted). */
int dmn_ckpt_take(struct dmn *d, enum ckpt_kind kind, const char *path, char *out_path,
                  size_t out_len, char *err, size_t errlen);
/* An alert leaves the engine for the sinks of its route: exactly_once holds
 * it in the outbox until the next checkpoint is durable; at_least_once (or
 * no checkpoints) passes it on at once.  Returns true when it was held. */
bool dmn_ckpt_hold(struct dmn *d, const struct eng_alert *a, const size_t *route);
/* Wait for a periodic checkpoint that a child process is writing, and act
 * on its outcome (release the alerts it holds, commit the sources; one
 * asked for meanwhile, or a still full outbox, brings the next at once).
 * A no-op when none is running. */
void dmn_ckpt_bg_wait(struct dmn *d);
/* Stopping, once the sources have stopped: a checkpoint that releases the
 * held alerts for the drain.  Returns true when checkpoints are on (the
 * engine's state then stays as it is, for the next start). */
bool dmn_ckpt_stop(struct dmn *d);
/* At the end of the drain: the final checkpoint (and a savepoint with
 * checkpoint.savepoint_on_stop), which keeps what the sinks still hold
 * for the next start.  true when it was written. */
bool dmn_ckpt_final(struct dmn *d);
/* For /metrics. */
struct dmn_ckpt_stats {
    uint64_t ok;            /* checkpoints written */
    uint64_t failed;        /* checkpoint writes that failed */
    double last_seconds;    /* duration of the last successful one */
    uint64_t last_bytes;    /* its size */
    int64_t last_ok_at;     /* wall clock µs, 0 = none yet */
    uint64_t outbox;        /* alerts held (exactly_once) or unacknowledged by a sink */
};
/* false (st zeroed) when checkpoints are off. */
bool dmn_ckpt_stats(const struct dmn *d, struct dmn_ckpt_stats *st);
void dmn_ckpt_close(struct dmn *d);

/* dmn_admin.c */
/* Start the admin HTTP server of d->g.cfg->admin (none when listen is
 * unset).  CEP_ERR after logging: bad address, bind failure, a non-loopback
 * address without a token and without allow_remote, unreadable token_file. */
int dmn_admin_start(struct dmn *d);
/* Before a reload commits: the token of config c (admin.token or the
 * token_file read now) into *token (owned, NULL for none).  CEP_ERR after
 * logging when the file cannot be read or the running server listens on a
 * non-loopback address that c leaves without a token or allow_remote. */
int dmn_admin_check(const struct dmn *d, const struct cfg *c, char **token);
/* After it committed: use token (taken).  The listener stays; a new
 * address takes a restart, which is logged. */
void dmn_admin_reconfigure(struct dmn *d, char *token);
void dmn_admin_free(struct dmn *d);
/* Split admin.listen ("HOST:PORT", "[V6]:PORT", ":PORT" = 127.0.0.1) into
 * owned strings; CEP_ERR on anything else. */
int dmn_admin_split(const char *listen, char **host, char **port);
/* The bearer token of config c: admin.token, or the first line of
 * admin.token_file read now; *out owned, NULL for none.  CEP_ERR after
 * logging when the file cannot be read or is empty. */
int dmn_admin_token(const struct cfg *c, char **out);

#endif
