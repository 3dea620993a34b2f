/* SPDX-License-Identifier: Apache-2.0
 * The daemon's pipeline on its one libevent loop: sources hand lines over
 * (on_line), each source's format turns them into JSON, the engine runs the
 * rules, and each alert is copied into the queue of every sink its rule
 * routes to (the rule's `sinks`, else `default_sinks`).  Rejected lines go
 * to the dead-letter file, counted.  Back-pressure: when any sink's queue
 * is past its capacity every source is paused; they resume once no sink is
 * full (on_space).  A `stream` sink's alerts come back as lines of its
 * stream from the sink's deferred kick, never inside the engine's alert
 * callback.  A periodic tick passes processing time to the engine
 * (within timers, idle_timeout).  With checkpoint.dir, alerts pass through
 * the outbox of dmn_ckpt.c first (held until a checkpoint holds them, with
 * delivery exactly_once).  Stopping reads no more, drains the engine (or,
 * with checkpoints, keeps its state for the next start) and waits
 * (bounded) for the sinks to deliver what they hold.  With parallelism > 1
 * the lines go to worker threads instead (eng_par.h), whose alerts come
 * back here from a short timer; the idle g.eng keeps the reload, metrics
 * and checkpoint code working on a rule set.
 * Tested by: tests/daemon/t_core_*.sh, tests/daemon/t_ckpt.sh, tests/daemon/t_crash.sh,
 * tests/cli/run.sh, tests/daemon/t_parallel.sh */
#include "cepd/cep_common.h"
#include "dmn_int.h"

#include "cepd/cfg.h"
#include "cepd/eng.h"
#include "cepd/eng_par.h"
#include "cepd/json.h"
#include "cepd/lookup.h"
#include "cepd/src_lines.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#define DMN_TICK_US       (50 * 1000)              /* processing time, idle checks */
#define DMN_DRAIN_POLL_US (20 * 1000)
#define DMN_DRAIN_MAX_US  (5 * CEP_USEC_PER_SEC)   /* bounded wait for sinks at stop */
#define DMN_REJECT_LOG    10                       /* rejected lines logged without a file */
#define DMN_PAR_POLL_US   (2 * 1000)               /* workers: flush batches, collect alerts */

int64_t dmn_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * CEP_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static void dmn_tv(struct timeval *tv, int64_t us)
{
    tv->tv_sec = (time_t)(us / CEP_USEC_PER_SEC);
    tv->tv_usec = (suseconds_t)(us % CEP_USEC_PER_SEC);
}

const char *dmn_intern(struct dmn *d, const char *s)
{
    for (size_t i = 0; i < d->n_names; i++)
        if (strcmp(d->names[i], s) == 0)
            return d->names[i];
    CEP_GROW(d->names, d->names_cap, d->n_names + 1);
    d->names[d->n_names] = cep_strdup(s);
    return d->names[d->n_names++];
}

/* ---- generations: config, lookups, rules --------------------------------- */

int dmn_gen_load(const char *path, struct dmn_gen *g, FILE *diag_out)
{
    memset(g, 0, sizeof(*g));
    g->cfg = dmn_load_cfg(path, diag_out);
    if (!g->cfg)
        return DMN_EXIT_RULES;
    struct dmn_paths files = {0};
    int rc = DMN_EXIT_OK;
    for (size_t i = 0; i < g->cfg->n_rules; i++)
        if (dmn_expand_rules(g->cfg->rules[i], &files) != CEP_OK)
            rc = DMN_EXIT_RULES;
    g->lookups = dmn_load_lookups(g->cfg->lookups, g->cfg->n_lookups, NULL, 0, diag_out);
    if (!g->lookups)
        rc = DMN_EXIT_RULES;
    if (rc == DMN_EXIT_OK) {
        struct rule_load_opts opts;
        cfg_rule_load_opts(g->cfg, &opts);
        opts.lookups = g->lookups;
        struct diag_list dl;
        diag_list_init(&dl);
        g->rs = rule_load((const char *const *)files.v, files.n, &opts, &dl);
        diag_print(&dl, diag_out);
        if (!g->rs && !diag_has_errors(&dl))
            fprintf(diag_out, "cepd: rules failed to load\n");
        diag_list_free(&dl);
        if (!g->rs)
            rc = DMN_EXIT_RULES;
    }
    dmn_paths_free(&files);
    if (rc != DMN_EXIT_OK)
        dmn_gen_free(g);
    return rc;
}

void dmn_routes_free(struct dmn_gen *g)
{
    for (size_t r = 0; g->routes && r < g->rs->n_rules; r++)
        cep_free(g->routes[r]);
    cep_free(g->routes);
    g->routes = NULL;
}

void dmn_gen_free(struct dmn_gen *g)
{
    eng_free(g->eng);
    if (g->rs)
        dmn_routes_free(g);
    ruleset_free(g->rs);
    lookup_reg_free(g->lookups);
    cfg_free(g->cfg);
    memset(g, 0, sizeof(*g));
}

int dmn_routes_build(struct dmn_gen *g, struct dmn_snk *const *snks, size_t n_snks)
{
    int rc = CEP_OK;
    const struct ruleset *rs = g->rs;
    g->routes = cep_calloc(rs->n_rules + 1, sizeof(*g->routes));
    for (size_t r = 0; r < rs->n_rules; r++) {
        const struct rule *rule = rs->rules[r];
        char **names = rule->sinks ? rule->sinks : g->cfg->default_sinks;
        size_t n = rule->sinks ? rule->n_sinks : g->cfg->n_default_sinks;
        size_t *idx = cep_malloc((n + 1) * sizeof(*idx)), k = 0;
        for (size_t i = 0; i < n; i++) {
            size_t s = 0;
            while (s < n_snks && strcmp(snks[s]->io.cfg->name, names[i]) != 0)
                s++;
            if (s == n_snks) {
                cep_log(CEP_LOG_ERROR, "%s:%u: rule %s names sink '%s', which the config lacks",
                        rule->file, rule->line, rule->id, names[i]);
                rc = CEP_ERR;
                continue;
            }
            idx[k++] = s;
        }
        idx[k] = SIZE_MAX;
        g->routes[r] = idx;
    }
    return rc;
}

/* ---- back-pressure ------------------------------------------------------- */

/* why: "<what> is full (...)", for the log. */
static void dmn_sources_pause(struct dmn *d, const char *why)
{
    d->pauses++;
    cep_log(CEP_LOG_INFO, "%s: pausing the sources", why);
    for (size_t i = 0; i < d->n_srcs; i++) {
        struct dmn_src *s = d->srcs[i];
        if (s->started && !s->io.paused)
            s->io.ops->pause(&s->io);
    }
}

static void dmn_sources_resume(struct dmn *d)
{
    cep_log(CEP_LOG_INFO, "sinks have room again: resuming the sources");
    for (size_t i = 0; i < d->n_srcs; i++) {
        struct dmn_src *s = d->srcs[i];
        if (s->started && s->io.paused)
            s->io.ops->resume(&s->io);
    }
}

static void dmn_on_space(void *ud, struct io_sink *sink)
{
    CEP_UNUSED(sink);
    struct dmn_snk *k = ud;
    struct dmn *d = k->d;
    if (!k->full)
        return;
    k->full = false;
    if (--d->n_full == 0 && !d->stopping)
        dmn_sources_resume(d);
}

void dmn_pipe_set_full(struct dmn *d, bool *flag, bool full, const char *why)
{
    if (*flag == full)
        return;
    *flag = full;
    if (full) {
        if (d->n_full++ == 0)
            dmn_sources_pause(d, why);
    } else if (--d->n_full == 0 && !d->stopping) {
        dmn_sources_resume(d);
    }
}

void dmn_snk_enqueue(struct dmn_snk *k, const struct eng_alert *a)
{
    struct dmn *d = k->d;
    io_sink_enqueue(&k->io, a);
    if (!k->full && io_sink_full(&k->io)) {
        k->full = true;
        if (d->n_full++ == 0) {
            char why[200];
            snprintf(why, sizeof(why), "sink %s is full (%zu alerts queued)", k->io.cfg->name,
                     k->io.q_len);
            dmn_sources_pause(d, why);
        }
    }
}

/* The engine's alert callback: held in the outbox (exactly_once), or a
 * copy into each routed sink's queue. */
static void dmn_on_alert(void *ud, const struct eng_alert *a)
{
    struct dmn *d = ud;
    const size_t *route = d->g.routes[a->rule_index];
    if (d->ckpt && dmn_ckpt_hold(d, a, route))
        return;
    for (const size_t *i = route; *i != SIZE_MAX; i++)
        dmn_snk_enqueue(d->snks[*i], a);
}

struct eng *dmn_eng_new(struct dmn *d, const struct ruleset *rs)
{
    struct eng_output out = {.ud = d, .alert = dmn_on_alert};
    return eng_new(rs, &out);
}

/* ---- rejected lines ------------------------------------------------------ */

int dmn_dead_open(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        cep_log(CEP_LOG_ERROR, "dead_letter: open %s: %s", path, strerror(errno));
    return fd;
}

/* One record, one write(2): sinks append to the same file. */
static void dmn_dead_write(struct dmn *d, const char *buf, size_t len)
{
    ssize_t w;
    do {
        w = write(d->dead_fd, buf, len);
    } while (w < 0 && errno == EINTR);
    if (w != (ssize_t)len && d->dead_write_errors++ == 0)
        cep_log(CEP_LOG_ERROR, "dead_letter: write %s: %s", d->dead_path,
                w < 0 ? strerror(errno) : "short write");
}

/* A rejected line: a record in the dead-letter file, or (without one) a
 * log line for the first few. */
static void dmn_reject(struct dmn *d, const char *src, const struct io_line *l,
                       const char *reason, size_t at)
{
    if (d->dead_fd < 0) {
        if (d->rejected_logged++ < DMN_REJECT_LOG)
            cep_log(CEP_LOG_WARN, "source %s: line %" PRIu64 " rejected: %s", src, l->line_no,
                    reason);
        return;
    }
    struct src_line sl = {.data = l->data, .len = l->len, .offset = l->offset,
                          .line_no = l->line_no, .too_long = l->too_long};
    sbuf_reset(&d->tmp);
    dmn_dead_letter_json(&d->tmp, src, &sl, reason, at);
    dmn_dead_write(d, d->tmp.buf, d->tmp.len);
}

/* ---- sources ------------------------------------------------------------- */

/* Count a line rejected before it reached the engine. */
static void dmn_note_rejected(struct dmn *d)
{
    if (d->par)
        eng_par_note_rejected(d->par);
    else
        eng_note_rejected(d->g.eng);
}

/* One line from a source: format, engine, verdict. */
static void dmn_on_line(void *ud, struct io_source *io, const struct io_line *l,
                        struct io_verdict *out)
{
    CEP_UNUSED(io);
    struct dmn_src *s = ud;
    struct dmn *d = s->d;
    struct eng *eng = d->g.eng;
    out->accepted = true;
    if (l->too_long) {
        dmn_note_rejected(d);
        dmn_reject(d, s->name, l, "line longer than max_line_bytes", l->len);
        out->accepted = false;
        return;
    }
    if (l->len == 0 || (l->len == 1 && l->data[0] == '\r') || s->stream < 0)
        return;
    struct eng_decoded dec;
    struct eng_reject rej;
    if (io_format_decode(s->fmt, l->data, l->len, &dec, &rej) != CEP_OK) {
        dmn_note_rejected(d); /* the engine's counters cover every line */
        dmn_reject(d, s->name, l, rej.reason, rej.offset);
        out->accepted = false;
    } else if (d->par) {
        size_t text_len;
        const char *text = io_format_text(s->fmt, &dec, &text_len);
        if (eng_par_push_line(d->par, (uint32_t)s->stream, text, text_len, s->name, l->offset,
                              &rej) != CEP_OK) {
            dmn_reject(d, s->name, l, rej.reason, rej.offset);
            out->accepted = false;
        }
    } else if (eng_push_decoded(eng, (uint32_t)s->stream, &dec, s->name, l->offset, &rej) !=
               CEP_OK) {
        dmn_reject(d, s->name, l, rej.reason, rej.offset);
        out->accepted = false;
    }
}

/* A source handed over a batch or ended: when it was the last source to
 * end, stop now rather than at the next tick (dmn_tick_cb, in the next
 * loop iteration: not from inside the source's callback). */
static void dmn_on_batch(void *ud, struct io_source *io)
{
    struct dmn_src *s = ud;
    if (io->ended && !s->d->stopping && s->d->tick_ev)
        event_active(s->d->tick_ev, EV_TIMEOUT, 0);
}

struct dmn_src *dmn_src_new(struct dmn *d, const struct cfg_source *c)
{
    struct dmn_src *s = cep_calloc(1, sizeof(*s));
    s->d = d;
    s->name = dmn_intern(d, c->name);
    s->stream = -1;
    io_source_init(&s->io, c, d->base, 0); /* the config resolved max_line_bytes */
    s->io.on_line = dmn_on_line;
    s->io.on_batch = dmn_on_batch;
    s->io.ud = s;
    return s;
}

int dmn_src_start(struct dmn_src *s)
{
    const struct cfg_source *c = s->io.cfg;
    if (!s->io.ops) {
        cep_log(CEP_LOG_ERROR, "%s:%u: source %s: this build cannot run sources of its type",
                s->d->config_path, c->line, c->name);
        return CEP_ERR;
    }
    char err[256];
    if (!s->fmt && !(s->fmt = io_format_new(c, err, sizeof(err)))) {
        cep_log(CEP_LOG_ERROR, "%s", err);
        return CEP_ERR;
    }
    if (s->io.ops->start(&s->io) != CEP_OK)
        return CEP_ERR;
    s->started = true;
    if (s->d->n_full > 0)
        s->io.ops->pause(&s->io);
    return CEP_OK;
}

void dmn_src_free(struct dmn_src *s)
{
    if (!s)
        return;
    if (s->io.ops) {
        if (s->started)
            s->io.ops->stop(&s->io);
        s->io.ops->free(&s->io);
    }
    io_format_free(s->fmt);
    cep_free(s);
}

/* ---- sinks --------------------------------------------------------------- */

/* The identity of a looped-back alert as an input line: the first 64 bits
 * of its alert id, so that the events (and alerts) it leads to get the
 * same ids after a restart, whatever else the sink carried before. */
static uint64_t dmn_loop_offset(const char *id)
{
    uint64_t off = 0;
    for (int i = 0; i < 16; i++) {
        int v = json_hex_digit((unsigned char)id[i]);
        off = (off << 4) | (uint64_t)(v < 0 ? 0 : v);
    }
    return off;
}

/* A stream sink's alert, back into the engine (from the sink's deferred
 * kick: never inside the engine). */
static void dmn_loopback(void *ud, struct io_sink *sink, const struct io_alert *a)
{
    CEP_UNUSED(sink);
    struct dmn_snk *k = ud;
    struct dmn *d = k->d;
    const char *json = a->json;
    size_t len = a->len;
    ++k->loop_lines;
    struct io_line l = {.data = json, .len = len, .offset = dmn_loop_offset(a->id),
                        .line_no = k->loop_lines};
    struct eng_reject rej;
    if (k->loop_stream < 0) {
        k->loop_rejected++;
        dmn_reject(d, k->loop_name, &l, "no rule reads the sink's stream", 0);
        return;
    }
    int rc = d->par ? eng_par_push_line(d->par, (uint32_t)k->loop_stream, json, len,
                                        k->loop_name, l.offset, &rej)
                    : eng_push_line(d->g.eng, (uint32_t)k->loop_stream, json, len, k->loop_name,
                                    l.offset, &rej);
    if (rc != CEP_OK) {
        k->loop_rejected++;
        dmn_reject(d, k->loop_name, &l, rej.reason, rej.offset);
    }
}

struct dmn_snk *dmn_snk_new(struct dmn *d, const struct cfg_sink *c)
{
    struct dmn_snk *k = cep_calloc(1, sizeof(*k));
    k->d = d;
    k->loop_stream = -1;
    char *ln = cep_asprintf("sink:%s", c->name);
    k->loop_name = dmn_intern(d, ln);
    cep_free(ln);
    io_sink_init(&k->io, c, d->base);
    k->io.on_space = dmn_on_space;
    k->io.loopback = dmn_loopback;
    k->io.ud = k;
    if (!k->io.ops || k->io.ops->start(&k->io) != CEP_OK) {
        if (!k->io.ops)
            cep_log(CEP_LOG_ERROR, "sink %s: this build cannot run this sink type", c->name);
        dmn_snk_free(k);
        return NULL;
    }
    return k;
}

void dmn_snk_free(struct dmn_snk *k)
{
    if (!k)
        return;
    io_sink_free(&k->io);
    cep_free(k);
}

void dmn_snk_dead_letter_queue(struct dmn_snk *k, const char *why)
{
    struct dmn *d = k->d;
    struct io_sink *s = &k->io;
    if (s->q_len)
        cep_log(CEP_LOG_ERROR, "sink %s: %zu alerts undelivered (%s): %s", s->cfg->name,
                s->q_len, why,
                s->dead || d->dead_fd >= 0 ? "written to the dead-letter file" : "logged");
    bool write_failed = false;
    for (size_t i = 0; i < s->q_len; i++) {
        io_sink_dead_record(s, io_sink_at(s, i), why, &d->tmp);
        /* A record the sink's file does not take goes to the log (as
         * sink_dead_letter does), never nowhere. */
        bool written = false;
        if (s->dead) {
            written = fwrite(d->tmp.buf, 1, d->tmp.len, s->dead) == d->tmp.len;
            if (!written && !write_failed) {
                write_failed = true;
                cep_log(CEP_LOG_ERROR, "sink %s: write to the dead-letter file %s: %s",
                        s->cfg->name, s->cfg->dead_letter, strerror(errno));
            }
        } else if (d->dead_fd >= 0) {
            dmn_dead_write(d, d->tmp.buf, d->tmp.len);
            written = true;
        }
        if (!written)
            cep_log(CEP_LOG_ERROR, "sink %s: dead letter: %.*s", s->cfg->name,
                    (int)(d->tmp.len - 1), d->tmp.buf);
        s->st.dead_lettered++;
    }
}

void dmn_bind_streams(struct dmn *d)
{
    for (size_t i = 0; i < d->n_srcs; i++)
        d->srcs[i]->stream = ruleset_find_stream(d->g.rs, d->srcs[i]->io.cfg->stream);
    for (size_t i = 0; i < d->n_snks; i++) {
        struct dmn_snk *k = d->snks[i];
        if (k->io.cfg->type == CFG_SINK_STREAM)
            k->loop_stream = ruleset_find_stream(d->g.rs, k->io.cfg->stream);
    }
}

void dmn_pipe_reopen(struct dmn *d)
{
    for (size_t i = 0; i < d->n_snks; i++)
        io_sink_reopen(&d->snks[i]->io);
    if (d->dead_fd >= 0) {
        int fd = dmn_dead_open(d->dead_path);
        if (fd >= 0) {
            close(d->dead_fd);
            d->dead_fd = fd;
        }
    }
    cep_log(CEP_LOG_NOTICE, "reopened file sinks and dead-letter files");
}

/* ---- time, end of input, stopping ----------------------------------------- */

static bool dmn_sources_ended(const struct dmn *d)
{
    for (size_t i = 0; i < d->n_srcs; i++)
        if (d->srcs[i]->started && !d->srcs[i]->io.ended)
            return false;
    return true;
}

static void dmn_tick_cb(evutil_socket_t fd, short what, void *ud)
{
    CEP_UNUSED(fd);
    CEP_UNUSED(what);
    struct dmn *d = ud;
    if (d->stopping)
        return;
    if (d->par)
        eng_par_tick(d->par, eng_now_us());
    else
        eng_tick(d->g.eng, eng_now_us());
    if (dmn_sources_ended(d)) {
        cep_log(CEP_LOG_NOTICE, "every source has ended");
        d->input_ended = true;
        dmn_pipe_stop(d, true);
    }
}

static bool dmn_sinks_idle(const struct dmn *d)
{
    for (size_t i = 0; i < d->n_snks; i++)
        if (d->snks[i]->io.q_len || d->snks[i]->io.busy)
            return false;
    return true;
}

/* While stopping: leave the loop once the sinks have delivered everything,
 * or at the deadline, dead-lettering what is left. */
static void dmn_drain_cb(evutil_socket_t fd, short what, void *ud)
{
    CEP_UNUSED(fd);
    CEP_UNUSED(what);
    struct dmn *d = ud;
    if (!dmn_sinks_idle(d) && dmn_mono_us() < d->drain_deadline)
        return;
    /* What is still queued is kept by the final checkpoint (sent again at
     * the next start) or, without one, dead-lettered. */
    if (!(d->ckpt && dmn_ckpt_final(d)))
        for (size_t i = 0; i < d->n_snks; i++)
            dmn_snk_dead_letter_queue(d->snks[i], "undelivered when cepd stopped");
    event_base_loopbreak(d->base);
}

void dmn_pipe_stop(struct dmn *d, bool end_of_input)
{
    if (d->stopping) {
        /* A second signal: stop waiting for the sinks. */
        d->drain_deadline = 0;
        return;
    }
    d->stopping = true;
    for (size_t i = 0; i < d->n_srcs; i++) {
        struct dmn_src *s = d->srcs[i];
        if (s->started)
            s->io.ops->stop(&s->io);
    }
    /* A daemon that stops has not reached the end of time: with
     * checkpoints the engine's state (reorder buffers, windows, timeouts)
     * goes into the checkpoint as it is and the next start carries on from
     * it; without, buffered events are released, but windows and timeouts
     * ahead of the last event stay open and are lost with the process.
     * When every source has ended, time ends as in replay. */
    struct eng_stats par_st;
    const struct eng_stats *st = &par_st;
    if (d->par) { /* as below, through the workers */
        if (end_of_input)
            eng_par_finish(d->par, ENG_EOF_FLUSH);
        if (!(d->ckpt && dmn_ckpt_stop(d)) && !end_of_input)
            eng_par_finish(d->par, ENG_EOF_DRAIN);
        eng_par_stats(d->par, &par_st);
        if (d->par_full)
            dmn_pipe_set_full(d, &d->par_full, false, NULL);
        event_del(d->par_ev);
    } else {
        if (end_of_input)
            eng_finish(d->g.eng, ENG_EOF_FLUSH);
        if (!(d->ckpt && dmn_ckpt_stop(d)) && !end_of_input)
            eng_finish(d->g.eng, ENG_EOF_DRAIN);
        st = eng_stats(d->g.eng);
    }
    cep_log(CEP_LOG_NOTICE,
            "stopping: %" PRIu64 " events, %" PRIu64 " rejected, %" PRIu64 " late, %" PRIu64
            " alerts",
            st->events, st->rejected, st->late, st->alerts);
    d->drain_deadline = dmn_mono_us() + DMN_DRAIN_MAX_US;
    struct timeval tv;
    dmn_tv(&tv, DMN_DRAIN_POLL_US);
    evtimer_del(d->tick_ev);
    event_add(d->drain_ev, &tv);
    if (dmn_sinks_idle(d)) /* nothing to wait for: leave at once */
        event_active(d->drain_ev, EV_TIMEOUT, 0);
}

/* ---- worker threads ------------------------------------------------------- */

/* With parallelism > 1, every few milliseconds: send what the batches hold
 * (lines and watermarks reach the workers without more input), hand the
 * workers' alerts to the sinks, and pause the sources while a worker's
 * ring is full. */
static void dmn_par_cb(evutil_socket_t fd, short what, void *ud)
{
    CEP_UNUSED(fd);
    CEP_UNUSED(what);
    struct dmn *d = ud;
    eng_par_flush(d->par);
    eng_par_poll(d->par);
    bool full = eng_par_congested(d->par);
    if (full != d->par_full)
        dmn_pipe_set_full(d, &d->par_full, full, "the workers' rings are full");
}

/* Start the workers of parallelism > 1 (checkpoints restore into them
 * afterwards, dmn_ckpt_open).  DMN_EXIT_OK, or DMN_EXIT_USAGE (logged)
 * when a thread cannot start. */
static int dmn_par_open(struct dmn *d)
{
    const struct cfg *c = d->g.cfg;
    if (c->parallelism <= 1)
        return DMN_EXIT_OK;
    struct eng_output out = {.ud = d, .alert = dmn_on_alert};
    char err[256];
    d->par = eng_par_new(d->g.rs, c->parallelism, &out, err, sizeof(err));
    if (!d->par) {
        cep_log(CEP_LOG_ERROR, "%s", err);
        return DMN_EXIT_USAGE;
    }
    for (uint32_t s = 0; s < d->g.rs->n_streams; s++) {
        const char *why;
        if (eng_par_stream_route(d->par, s, &why) == ENG_PAR_WORKER0)
            cep_log(CEP_LOG_NOTICE, "parallelism %u: stream %s runs on one worker: %s",
                    c->parallelism, d->g.rs->streams[s].name, why);
    }
    d->par_ev = event_new(d->base, -1, EV_PERSIST, dmn_par_cb, d);
    CEP_ASSERT(d->par_ev);
    struct timeval tv;
    dmn_tv(&tv, DMN_PAR_POLL_US);
    event_add(d->par_ev, &tv);
    return DMN_EXIT_OK;
}

/* ---- open and close ------------------------------------------------------- */

int dmn_pipe_open(struct dmn *d)
{
    const struct cfg *c = d->g.cfg;
    int rc = DMN_EXIT_OK;
    d->dead_fd = -1;
    sbuf_init(&d->tmp);
    d->snks = cep_calloc(c->n_sinks + 1, sizeof(*d->snks));
    for (size_t i = 0; i < c->n_sinks; i++) {
        /* A sink that cannot be written would lose every alert routed to
         * it: refuse to start instead. */
        struct dmn_snk *k = dmn_snk_new(d, &c->sinks[i]);
        if (!k) {
            rc = DMN_EXIT_USAGE;
            continue;
        }
        d->snks[d->n_snks++] = k;
    }
    if (c->dead_letter) {
        d->dead_path = cep_strdup(c->dead_letter);
        if ((d->dead_fd = dmn_dead_open(c->dead_letter)) < 0)
            rc = DMN_EXIT_USAGE;
    }
    if (rc != DMN_EXIT_OK)
        return rc;
    if (dmn_routes_build(&d->g, d->snks, d->n_snks) != CEP_OK)
        return DMN_EXIT_RULES;
    d->g.eng = dmn_eng_new(d, d->g.rs);
    if ((rc = dmn_par_open(d)) != DMN_EXIT_OK)
        return rc;
    d->srcs = cep_calloc(c->n_sources + 1, sizeof(*d->srcs));
    for (size_t i = 0; i < c->n_sources; i++)
        d->srcs[d->n_srcs++] = dmn_src_new(d, &c->sources[i]);
    dmn_bind_streams(d);
    /* Restore before any source reads: positions, state, the outbox. */
    if (dmn_ckpt_open(d, d->from_savepoint) != CEP_OK)
        return DMN_EXIT_USAGE;
    size_t started = 0;
    for (size_t i = 0; i < d->n_srcs; i++) {
        struct dmn_src *s = d->srcs[i];
        if (s->stream < 0) {
            cep_log(CEP_LOG_WARN, "source %s: no rule reads stream '%s'; not reading it",
                    s->io.cfg->name, s->io.cfg->stream);
            continue;
        }
        if (dmn_src_start(s) != CEP_OK)
            rc = DMN_EXIT_USAGE;
        else
            started++;
    }
    if (rc != DMN_EXIT_OK)
        return rc;
    d->tick_ev = event_new(d->base, -1, EV_PERSIST, dmn_tick_cb, d);
    d->drain_ev = event_new(d->base, -1, EV_PERSIST, dmn_drain_cb, d);
    CEP_ASSERT(d->tick_ev && d->drain_ev);
    struct timeval tv;
    dmn_tv(&tv, DMN_TICK_US);
    event_add(d->tick_ev, &tv);
    cep_log(CEP_LOG_NOTICE, "running: %zu rules, %zu sources, %zu sinks", d->g.rs->n_rules,
            started, d->n_snks);
    return DMN_EXIT_OK;
}

void dmn_pipe_close(struct dmn *d)
{
    dmn_ckpt_close(d);
    for (size_t i = 0; i < d->n_srcs; i++)
        dmn_src_free(d->srcs[i]);
    cep_free(d->srcs);
    d->srcs = NULL;
    d->n_srcs = 0;
    /* The engines before the sinks' queues go: nothing runs any more. */
    eng_par_free(d->par);
    d->par = NULL;
    if (d->par_ev)
        event_free(d->par_ev);
    d->par_ev = NULL;
    eng_free(d->g.eng);
    d->g.eng = NULL;
    for (size_t i = 0; i < d->n_snks; i++)
        dmn_snk_free(d->snks[i]);
    cep_free(d->snks);
    d->snks = NULL;
    d->n_snks = 0;
    dmn_gen_free(&d->g);
    if (d->tick_ev)
        event_free(d->tick_ev);
    if (d->drain_ev)
        event_free(d->drain_ev);
    d->tick_ev = d->drain_ev = NULL;
    if (d->dead_fd >= 0)
        close(d->dead_fd);
    d->dead_fd = -1;
    cep_free(d->dead_path);
    d->dead_path = NULL;
    sbuf_free(&d->tmp);
    for (size_t i = 0; i < d->n_names; i++)
        cep_free(d->names[i]);
    cep_free(d->names);
    d->names = NULL;
    d->n_names = 0;
}
