/* SPDX-License-Identifier: Apache-2.0
 * Reload (SIGHUP, POST /reload), in two phases.  Prepare: load the config,
 * lookup tables and rules beside the running ones, start the sinks that
 * are new or changed, resolve rule routes, open a new dead-letter file,
 * read the admin token and build the new engine; any error logs every
 * diagnostic, undoes what was prepared and changes nothing.  Commit:
 * sources that are gone or changed stop (handing over what they buffered
 * to the old engine), the new engine adopts the old one's state
 * (eng_adopt: rules with the same id and compiled hash keep their partial
 * matches and windows), a changed sink's queue moves to its replacement and
 * a removed sink's queue goes to the dead-letter file, the old generation
 * is freed, and new or changed sources start.  Sources and sinks whose
 * config is unchanged (every field) keep running untouched.  A changed
 * source that reads the same input (same name and type, and the same file,
 * write-ahead log, or Redis stream and group) is stopped, its position
 * saved (save_pos), and its replacement loads it (load_pos) after the old
 * one freed its write-ahead log: it continues where the old one stopped,
 * nothing is read or replayed twice.  A redis_stream source so replaced
 * releases (XACKs) at once the entries the old one processed since the
 * last durable checkpoint: a crash before the next checkpoint would not
 * read them again.  A new source that fails to start is logged and stays down
 * (the reload still counts as done: the rules and sinks changed).
 * Tested by: tests/daemon/t_reload.sh, tests/daemon/t_lookup.sh, tests/unit/check_eng_reload.c */
#include "cepd/cep_common.h"
#include "dmn_int.h"

#include "cepd/cfg.h"
#include "cepd/ckpt.h"
#include "cepd/eng.h"
#include "cepd/sbuf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool dmn_str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Every field a running source acts on: a source whose config compares
 * equal keeps running untouched. */
static bool dmn_source_same(const struct cfg_source *a, const struct cfg_source *b)
{
    return dmn_str_eq(a->name, b->name) && a->type == b->type && a->format == b->format &&
           dmn_str_eq(a->stream, b->stream) && dmn_str_eq(a->path, b->path) &&
           dmn_str_eq(a->listen, b->listen) && dmn_str_eq(a->url, b->url) &&
           dmn_str_eq(a->key, b->key) && dmn_str_eq(a->group, b->group) &&
           dmn_str_eq(a->consumer, b->consumer) && dmn_str_eq(a->pattern, b->pattern) &&
           a->max_line_bytes == b->max_line_bytes && a->max_body_bytes == b->max_body_bytes &&
           a->ack == b->ack && dmn_str_eq(a->wal_dir, b->wal_dir) &&
           a->checkpointed == b->checkpointed;
}

/* A changed source that reads the same input as before: same name and
 * type, and the same file, write-ahead log, or Redis stream and consumer
 * group.  Its replacement continues from the old one's position. */
static bool dmn_source_same_input(const struct cfg_source *a, const struct cfg_source *b)
{
    if (!dmn_str_eq(a->name, b->name) || a->type != b->type)
        return false;
    switch (a->type) {
        case CFG_SRC_FILE:
            return dmn_str_eq(a->path, b->path);
        case CFG_SRC_TCP:
        case CFG_SRC_HTTP:
            return a->wal_dir && dmn_str_eq(a->wal_dir, b->wal_dir);
        case CFG_SRC_REDIS_STREAM:
            return dmn_str_eq(a->url, b->url) && dmn_str_eq(a->key, b->key) &&
                   dmn_str_eq(a->group, b->group) && dmn_str_eq(a->consumer, b->consumer);
        default:
            return false;
    }
}

static bool dmn_sink_same(const struct cfg_sink *a, const struct cfg_sink *b)
{
    if (!(dmn_str_eq(a->name, b->name) && a->type == b->type && dmn_str_eq(a->path, b->path) &&
          dmn_str_eq(a->url, b->url) && dmn_str_eq(a->mode, b->mode) &&
          dmn_str_eq(a->key, b->key) && dmn_str_eq(a->secret_file, b->secret_file) &&
          dmn_str_eq(a->stream, b->stream) && a->max_retries == b->max_retries &&
          a->timeout == b->timeout && a->queue_size == b->queue_size &&
          a->backoff_max == b->backoff_max && dmn_str_eq(a->dead_letter, b->dead_letter) &&
          a->maxlen == b->maxlen && a->ttl == b->ttl && a->tls_verify == b->tls_verify &&
          a->n_headers == b->n_headers))
        return false;
    for (size_t i = 0; i < 2 * a->n_headers; i++)
        if (!dmn_str_eq(a->headers[i], b->headers[i]))
            return false;
    return true;
}

/* What a reload prepares before it commits. */
struct dmn_next {
    struct dmn_gen g;
    struct dmn_snk **snks;   /* by the new config's sinks */
    bool *snk_new;           /* snks[i] was started for this reload */
    size_t n_snks;
    int dead_fd;
    bool dead_changed;
    char *token;
};

static void dmn_next_abort(struct dmn_next *n)
{
    for (size_t i = 0; i < n->n_snks; i++)
        if (n->snk_new[i])
            dmn_snk_free(n->snks[i]);
    cep_free(n->snks);
    cep_free(n->snk_new);
    if (n->dead_changed && n->dead_fd >= 0)
        close(n->dead_fd);
    cep_free(n->token);
    dmn_gen_free(&n->g);
}

/* Log what the loader printed, one log line per printed line. */
static void dmn_reload_log_diags(char *buf, int level)
{
    for (char *line = buf, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        cep_log(level, "reload: %s", line);
    }
}

static int dmn_reload_prepare(struct dmn *d, struct dmn_next *n, char *why, size_t why_len)
{
    if (d->par) {
        /* The workers' engines run the current rule set; moving their state
         * to a new one is not implemented yet. */
        snprintf(why, why_len, "reload with parallelism > 1 is not supported yet; restart cepd");
        return CEP_ERR;
    }
    char *diag = NULL;
    size_t diag_len = 0;
    FILE *mem = open_memstream(&diag, &diag_len);
    CEP_ASSERT(mem);
    int rc = dmn_gen_load(d->config_path, &n->g, mem);
    fclose(mem);
    dmn_reload_log_diags(diag, rc == DMN_EXIT_OK ? CEP_LOG_WARN : CEP_LOG_ERROR);
    free(diag); /* open_memstream's buffer comes from malloc */
    if (rc != DMN_EXIT_OK) {
        snprintf(why, why_len, "the configuration or the rules have errors (see the log)");
        return CEP_ERR;
    }
    const struct cfg *c = n->g.cfg;
    n->snks = cep_calloc(c->n_sinks + 1, sizeof(*n->snks));
    n->snk_new = cep_calloc(c->n_sinks + 1, sizeof(*n->snk_new));
    for (size_t i = 0; i < c->n_sinks; i++) {
        struct dmn_snk *keep = NULL;
        for (size_t j = 0; j < d->n_snks && !keep; j++)
            if (dmn_sink_same(d->snks[j]->io.cfg, &c->sinks[i]))
                keep = d->snks[j];
        if (!keep) {
            keep = dmn_snk_new(d, &c->sinks[i]);
            if (!keep) {
                snprintf(why, why_len, "sink %s cannot start (see the log)", c->sinks[i].name);
                return CEP_ERR;
            }
            n->snk_new[n->n_snks] = true;
        }
        n->snks[n->n_snks++] = keep;
    }
    if (dmn_routes_build(&n->g, n->snks, n->n_snks) != CEP_OK) {
        snprintf(why, why_len, "a rule names a sink the configuration lacks (see the log)");
        return CEP_ERR;
    }
    n->dead_fd = d->dead_fd;
    if (!dmn_str_eq(c->dead_letter, d->dead_path)) {
        n->dead_changed = true;
        n->dead_fd = c->dead_letter ? dmn_dead_open(c->dead_letter) : -1;
        if (c->dead_letter && n->dead_fd < 0) {
            snprintf(why, why_len, "the dead-letter file cannot be opened (see the log)");
            return CEP_ERR;
        }
    }
    if (dmn_admin_check(d, c, &n->token) != CEP_OK) {
        snprintf(why, why_len, "the admin settings are not usable (see the log)");
        return CEP_ERR;
    }
    n->g.eng = dmn_eng_new(d, n->g.rs);
    return CEP_OK;
}

/* Stop and free a source that a reload replaces or drops.  With pos, a
 * source that can save its position saves it there (true returned): after
 * stop, which hands what it buffered to the running engine, and before
 * free, which releases its write-ahead log for the replacement. */
static bool dmn_src_retire(struct dmn_src *s, struct sbuf *pos)
{
    bool saved = false;
    if (s->started)
        s->io.ops->stop(&s->io);
    s->started = false;
    if (pos && s->io.ops && s->io.ops->save_pos) {
        struct ckpt_w w = {.sb = pos};
        s->io.ops->save_pos(&s->io, 0, &w);
        saved = true;
    }
    dmn_src_free(s);
    return saved;
}

/* A new source (not started) that continues from pos, a position saved by
 * dmn_src_retire from the one it replaces: as a restart continues from a
 * checkpoint, so no line is read twice (a tcp or http source does not
 * replay its write-ahead log into the running engine). */
static struct dmn_src *dmn_src_successor(struct dmn *d, const struct cfg_source *c,
                                         const struct sbuf *pos)
{
    struct dmn_src *s = dmn_src_new(d, c);
    if (!s->io.ops || !s->io.ops->load_pos)
        return s;
    struct ckpt_r r = {
        .p = (const uint8_t *)pos->buf,
        .end = (const uint8_t *)pos->buf + pos->len,
    };
    if (s->io.ops->load_pos(&s->io, &r) == CEP_OK)
        cep_log(CEP_LOG_NOTICE, "reload: source %s continues from the position of the one it "
                "replaces", s->name);
    return s;
}

/* The sources of the new config: unchanged ones kept (their cfg pointed at
 * the new config), others created; gone and changed ones stopped and freed
 * now, before the engine changes hands.  A changed source that reads the
 * same input leaves its position in pos[i] (has_pos[i] set), i its index in
 * the new config. */
static struct dmn_src **dmn_reload_sources(struct dmn *d, const struct cfg *c, size_t *n_out,
                                           size_t *n_kept, struct sbuf *pos, bool *has_pos)
{
    struct dmn_src **v = cep_calloc(c->n_sources + 1, sizeof(*v));
    bool *kept = cep_calloc(d->n_srcs + 1, sizeof(*kept));
    for (size_t i = 0; i < c->n_sources; i++) {
        for (size_t j = 0; j < d->n_srcs && !v[i]; j++) {
            if (!kept[j] && dmn_source_same(d->srcs[j]->io.cfg, &c->sources[i])) {
                kept[j] = true;
                v[i] = d->srcs[j];
                (*n_kept)++;
            }
        }
    }
    for (size_t j = 0; j < d->n_srcs; j++) {
        if (kept[j])
            continue;
        size_t i = 0;
        while (i < c->n_sources &&
               (v[i] || has_pos[i] || !dmn_source_same_input(d->srcs[j]->io.cfg, &c->sources[i])))
            i++;
        cep_log(CEP_LOG_INFO, "reload: source %s %s", d->srcs[j]->name,
                i < c->n_sources ? "changed; it restarts" : "stops");
        if (i < c->n_sources)
            has_pos[i] = dmn_src_retire(d->srcs[j], &pos[i]);
        else
            dmn_src_retire(d->srcs[j], NULL);
    }
    cep_free(kept);
    *n_out = c->n_sources;
    return v;
}

/* Sinks the new config no longer has as they were: a replacement of the
 * same name takes over the queue; without one it goes to the dead letter. */
static void dmn_reload_sinks(struct dmn *d, struct dmn_next *n)
{
    for (size_t j = 0; j < d->n_snks; j++) {
        struct dmn_snk *old = d->snks[j];
        bool kept = false;
        struct dmn_snk *repl = NULL;
        for (size_t i = 0; i < n->n_snks; i++) {
            kept = kept || n->snks[i] == old;
            if (n->snk_new[i] && strcmp(n->snks[i]->io.cfg->name, old->io.cfg->name) == 0)
                repl = n->snks[i];
        }
        if (kept)
            continue;
        if (repl) {
            for (size_t q = 0; q < old->io.q_len; q++) {
                const struct io_alert *x = io_sink_at(&old->io, q);
                struct eng_alert a = {.rule_index = x->rule_index, .id = x->id,
                                      .time = x->time, .json = x->json, .len = x->len};
                io_sink_enqueue(&repl->io, &a);
            }
            if (old->io.q_len)
                cep_log(CEP_LOG_INFO, "reload: sink %s changed; %zu queued alerts move to the "
                        "new one", old->io.cfg->name, old->io.q_len);
        } else {
            dmn_snk_dead_letter_queue(old, "sink removed by a reload");
        }
        dmn_snk_free(old);
    }
}

int dmn_reload(struct dmn *d, char *why, size_t why_len)
{
    struct dmn_next n = {.dead_fd = -1};
    d->last_reload_at = eng_now_us();
    if (dmn_reload_prepare(d, &n, why, why_len) != CEP_OK) {
        dmn_next_abort(&n);
        d->reloads_failed++;
        d->last_reload_ok = false;
        cep_log(CEP_LOG_ERROR, "reload failed: %s; still running the previous configuration "
                "and rules", why);
        return CEP_ERR;
    }

    /* Commit.  A checkpoint being written commits the sources it saved
     * first.  Then sources, while the old engine and routes still run. */
    dmn_ckpt_bg_wait(d);
    size_t n_srcs, n_src_kept = 0;
    struct sbuf *pos = cep_calloc(n.g.cfg->n_sources + 1, sizeof(*pos));
    bool *has_pos = cep_calloc(n.g.cfg->n_sources + 1, sizeof(*has_pos));
    struct dmn_src **srcs = dmn_reload_sources(d, n.g.cfg, &n_srcs, &n_src_kept, pos, has_pos);
    struct eng_adopt_stats st;
    eng_adopt(n.g.eng, d->g.eng, &st);
    dmn_reload_sinks(d, &n);
    size_t n_snk_kept = 0;
    for (size_t i = 0; i < n.n_snks; i++) {
        n.snks[i]->io.cfg = &n.g.cfg->sinks[i];
        n_snk_kept += !n.snk_new[i];
    }
    cep_free(d->snks);
    d->snks = n.snks;
    d->n_snks = n.n_snks;
    cep_free(n.snk_new);
    if (n.dead_changed) {
        if (d->dead_fd >= 0)
            close(d->dead_fd);
        d->dead_fd = n.dead_fd;
        cep_free(d->dead_path);
        d->dead_path = n.g.cfg->dead_letter ? cep_strdup(n.g.cfg->dead_letter) : NULL;
    }
    struct dmn_gen old = d->g;
    d->g = n.g;
    for (size_t i = 0; i < n_srcs; i++) {
        if (srcs[i])
            srcs[i]->io.cfg = &n.g.cfg->sources[i];
        else if (has_pos[i])
            srcs[i] = dmn_src_successor(d, &n.g.cfg->sources[i], &pos[i]);
        else
            srcs[i] = dmn_src_new(d, &n.g.cfg->sources[i]);
        sbuf_free(&pos[i]);
    }
    cep_free(pos);
    cep_free(has_pos);
    cep_free(d->srcs);
    d->srcs = srcs;
    d->n_srcs = n_srcs;
    dmn_gen_free(&old);
    if (d->cli_log_level < 0)
        cep_log_threshold = d->g.cfg->log.level;
    dmn_admin_reconfigure(d, n.token);

    /* Back-pressure as the sinks now stand, then the sources. */
    bool was_paused = d->n_full > 0;
    d->n_full = 0;
    for (size_t i = 0; i < d->n_snks; i++) {
        d->snks[i]->full = io_sink_full(&d->snks[i]->io);
        d->n_full += d->snks[i]->full;
    }
    dmn_bind_streams(d);
    size_t started = 0;
    for (size_t i = 0; i < d->n_srcs; i++) {
        struct dmn_src *s = d->srcs[i];
        if (s->started && s->stream < 0) {
            cep_log(CEP_LOG_WARN, "source %s: no rule reads stream '%s' any more; stopping it",
                    s->name, s->io.cfg->stream);
            /* Not started; a later reload may, from where this one stopped. */
            struct sbuf p = {0};
            const struct cfg_source *c = s->io.cfg;
            if (dmn_src_retire(s, &p))
                d->srcs[i] = dmn_src_successor(d, c, &p);
            else
                d->srcs[i] = dmn_src_new(d, c);
            sbuf_free(&p);
            continue;
        } else if (!s->started && s->stream >= 0 && dmn_src_start(s) != CEP_OK) {
            cep_log(CEP_LOG_ERROR, "reload: source %s cannot start; it stays down", s->name);
        }
        started += s->started;
        if (s->started && d->n_full == 0 && s->io.paused)
            s->io.ops->resume(&s->io);
        else if (s->started && d->n_full > 0 && !s->io.paused)
            s->io.ops->pause(&s->io);
    }
    if (was_paused && d->n_full == 0)
        cep_log(CEP_LOG_INFO, "sinks have room again: resuming the sources");

    d->reloads_ok++;
    d->last_reload_ok = true;
    cep_log(CEP_LOG_NOTICE,
            "reloaded: %zu rules (%zu kept their state, %zu changed, %zu new, %zu removed; "
            "%zu held events moved), %zu sources running (%zu unchanged), %zu sinks (%zu "
            "unchanged)",
            d->g.rs->n_rules, st.rules_kept, st.rules_changed, st.rules_new, st.rules_dropped,
            st.events_moved, started, n_src_kept, d->n_snks, n_snk_kept);
    return CEP_OK;
}
