/* SPDX-License-Identifier: Apache-2.0
 * Checkpoints of the running daemon (design §5.1): every checkpoint.interval
 * a timer takes one between two input lines (the loop is single-threaded, so
 * between two callbacks is a barrier), made of META, SOURCES (save_pos of
 * every replayable source), ENGINE (eng_snapshot; with parallelism > 1 a
 * barrier through the workers' rings, eng_par_snapshot, one frame per
 * worker, restored with any parallelism) and OUTBOX (alerts not yet
 * acknowledged: those held here plus those still queued in a sink, each
 * with the sinks that have not taken it).  With one engine a periodic
 * checkpoint's ENGINE section is encoded and the file written by a forked
 * child (copy-on-write memory as of the barrier) while the loop reads on;
 * its report on a pipe is the commit point.  delivery exactly_once holds every
 * alert here until a checkpoint that contains it is durable, then releases
 * it to its sinks and tells the sources (committed); past
 * checkpoint.outbox_size held alerts the sources pause and a checkpoint is
 * taken at once (never a drop).  Held alerts live in one reused text arena,
 * so holding one allocates nothing in steady state.  at_least_once sends at
 * once.  On start the newest valid checkpoint (or --from-savepoint) is
 * restored: positions, engine state, and the outbox sent again (the redis
 * and webhook sinks drop ids they have seen; file and stdout sinks may
 * repeat those alerts).  A failed write is logged and counted; the daemon
 * carries on from the last good checkpoint and keeps holding.
 * Tested by: tests/daemon/t_ckpt.sh, tests/daemon/t_crash.sh, tests/daemon/t_parallel_ckpt.sh */
#include "cepd/cep_common.h"
#include "dmn_int.h"

#include "cepd/cfg.h"
#include "cepd/ckpt.h"
#include "cepd/eng.h"
#include "cepd/eng_par.h"
#include "cepd/log.h"
#include "cepd/sbuf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#define DMN_CKPT_MAX_SINKS 4096  /* per outbox alert, when reading */

/* An alert in the outbox: its copy and the sinks still owed it, by their
 * interned "sink:NAME" (stable across reloads, unlike indexes); the text
 * and the names are offsets into the list's arenas. */
struct dmn_obx {
    char id[33];
    uint32_t rule_index;
    int64_t time;
    size_t json_off, len;
    size_t sinks_off, n_sinks;
};

/* Outbox alerts and their arenas, kept (not freed) when emptied. */
struct dmn_obx_list {
    struct dmn_obx *v;
    size_t n, cap;
    struct sbuf text;
    const char **sinks;
    size_t n_sinks, sinks_cap;
};

/* A periodic checkpoint being written by a child process: fork gives it
 * the loop's memory as it was at the barrier (copy on write), it encodes
 * the engine and writes the file while the loop reads on, and reports on
 * a pipe.  Alerts held before the fork are released when it succeeds. */
struct dmn_ckpt_bg {
    pid_t pid;               /* 0: none running */
    int fd;                  /* the result pipe's read end */
    struct event *ev;
    uint64_t seq;
    size_t held_mark;        /* held alerts [0, held_mark) are in it */
    size_t outbox;
    int64_t t0, wall_us;
    bool again;              /* asked for another meanwhile (timer, full outbox) */
};

/* What the child reports. */
struct dmn_ckpt_result {
    int rc;
    uint64_t bytes;
    char why[512];
};

struct dmn_ckpt {
    char *dir;               /* NULL: restore (--from-savepoint) and savepoints only */
    uint32_t retain;
    bool exactly_once;       /* with a dir */
    bool savepoint_on_stop;
    uint64_t seq;            /* the last number used (checkpoints and savepoints) */
    struct event *timer;
    struct event *early;     /* a checkpoint as soon as the loop is back: the outbox is full */
    struct sbuf body;
    struct dmn_obx_list held; /* exactly_once: alerts no durable checkpoint holds yet */
    size_t held_max;         /* past it, the sources pause: checkpoint.outbox_size */
    bool full;
    bool told_unreplayable;
    struct dmn_ckpt_bg bg;
    struct dmn_ckpt_stats st;
};

/* Append an alert without sinks (dmn_obx_add_sink adds them). */
static struct dmn_obx *dmn_obx_push(struct dmn_obx_list *l, const char *id, size_t id_len,
                                    uint32_t rule_index, int64_t time, const char *json,
                                    size_t len)
{
    CEP_GROW(l->v, l->cap, l->n + 1);
    struct dmn_obx *o = &l->v[l->n++];
    if (id_len > sizeof(o->id) - 1)
        id_len = sizeof(o->id) - 1;
    memcpy(o->id, id, id_len);
    o->id[id_len] = '\0';
    o->rule_index = rule_index;
    o->time = time;
    o->json_off = l->text.len;
    o->len = len;
    sbuf_append(&l->text, json, len); /* allocates even for len 0: text.buf is set */
    o->sinks_off = l->n_sinks;
    o->n_sinks = 0;
    return o;
}

/* The last pushed alert o is also owed to the sink interned as key. */
static void dmn_obx_add_sink(struct dmn_obx_list *l, struct dmn_obx *o, const char *key)
{
    CEP_GROW(l->sinks, l->sinks_cap, l->n_sinks + 1);
    l->sinks[l->n_sinks++] = key;
    o->n_sinks++;
}

static const char *dmn_obx_json(const struct dmn_obx_list *l, const struct dmn_obx *o)
{
    return l->text.buf + o->json_off;
}

static void dmn_obx_clear(struct dmn_obx_list *l)
{
    l->n = 0;
    l->n_sinks = 0;
    sbuf_reset(&l->text);
}

static void dmn_obx_list_free(struct dmn_obx_list *l)
{
    cep_free(l->v);
    cep_free(l->sinks);
    sbuf_free(&l->text);
}

static const char *dmn_sink_key(struct dmn *d, const char *name, size_t len)
{
    char *k = cep_asprintf("sink:%.*s", (int)len, name);
    const char *r = dmn_intern(d, k);
    cep_free(k);
    return r;
}

static struct dmn_snk *dmn_sink_by_key(struct dmn *d, const char *key)
{
    for (size_t i = 0; i < d->n_snks; i++)
        if (d->snks[i]->loop_name == key)
            return d->snks[i];
    return NULL;
}

/* Hand the first n alerts of l to the sinks they name and drop them from
 * l (the rest move to the front). */
static void dmn_obx_send_first(struct dmn *d, struct dmn_obx_list *l, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        const struct dmn_obx *o = &l->v[j];
        struct eng_alert a = {.rule_index = o->rule_index, .id = o->id, .time = o->time,
                              .json = dmn_obx_json(l, o), .len = o->len};
        const char **sinks = l->sinks + o->sinks_off;
        for (size_t i = 0; i < o->n_sinks; i++) {
            struct dmn_snk *k = dmn_sink_by_key(d, sinks[i]);
            if (k)
                dmn_snk_enqueue(k, &a);
            else
                cep_log(CEP_LOG_WARN,
                        "outbox: alert %s is for %s, which the config no longer has", o->id,
                        sinks[i] + 5);
        }
    }
    if (n == l->n) {
        dmn_obx_clear(l);
        return;
    }
    size_t text0 = l->v[n].json_off, sinks0 = l->v[n].sinks_off;
    memmove(l->text.buf, l->text.buf + text0, l->text.len - text0 + 1);
    l->text.len -= text0;
    memmove(l->sinks, l->sinks + sinks0, (l->n_sinks - sinks0) * sizeof(*l->sinks));
    l->n_sinks -= sinks0;
    memmove(l->v, l->v + n, (l->n - n) * sizeof(*l->v));
    l->n -= n;
    for (size_t j = 0; j < l->n; j++) {
        l->v[j].json_off -= text0;
        l->v[j].sinks_off -= sinks0;
    }
}

/* ---- outbox ---------------------------------------------------------------- */

bool dmn_ckpt_hold(struct dmn *d, const struct eng_alert *a, const size_t *route)
{
    struct dmn_ckpt *c = d->ckpt;
    if (!c->exactly_once)
        return false;
    struct dmn_obx *o = dmn_obx_push(&c->held, a->id, strlen(a->id),
                                     (uint32_t)a->rule_index, a->time, a->json, a->len);
    for (const size_t *i = route; *i != SIZE_MAX; i++)
        dmn_obx_add_sink(&c->held, o, d->snks[*i]->loop_name);
    if (!c->full && c->held.n >= c->held_max) {
        /* Pause the sources and take the next checkpoint now (from the
         * loop: this runs inside the engine), instead of waiting for the
         * timer with the input stopped. */
        char why[160];
        snprintf(why, sizeof(why),
                 "the outbox is full (%zu alerts held until the next checkpoint)", c->held.n);
        dmn_pipe_set_full(d, &c->full, true, why);
        event_active(c->early, 0, 0);
    }
    return true;
}

/* A checkpoint holding the first n held alerts is durable: send them. */
static void dmn_ckpt_release(struct dmn *d, size_t n)
{
    struct dmn_ckpt *c = d->ckpt;
    dmn_obx_send_first(d, &c->held, n);
    if (c->held.n < c->held_max)
        dmn_pipe_set_full(d, &c->full, false, NULL);
}

/* One (alert, sink) pair not yet acknowledged, for grouping by id. */
struct dmn_ack {
    const char *id;
    const struct io_alert *a;   /* queued in a sink */
    const struct dmn_obx *o;    /* or held */
    const char *sink;           /* the sink's name */
};

static int dmn_ack_cmp(const void *x, const void *y)
{
    const struct dmn_ack *a = x, *b = y;
    int r = strcmp(a->id, b->id);
    if (r)
        return r;
    return (a->o != NULL) - (b->o != NULL);
}

/* OUTBOX: uv n, per alert bytes id, uv rule_index, sv time, bytes json,
 * uv n sinks, per sink bytes name.  Alerts queued in a sink are owed to it
 * until it delivers or dead-letters them (both pop the queue), so the
 * queues are the acknowledgement record. */
static size_t dmn_ckpt_put_outbox(struct dmn *d, struct ckpt_w *w)
{
    struct dmn_ckpt *c = d->ckpt;
    struct dmn_ack *v = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < c->held.n; i++) {
        const struct dmn_obx *o = &c->held.v[i];
        for (size_t j = 0; j < o->n_sinks; j++) {
            CEP_GROW(v, cap, n + 1);
            v[n++] = (struct dmn_ack){
                    .id = o->id, .o = o, .sink = c->held.sinks[o->sinks_off + j] + 5};
        }
    }
    for (size_t s = 0; s < d->n_snks; s++) {
        struct io_sink *k = &d->snks[s]->io;
        for (size_t i = 0; i < k->q_len; i++) {
            const struct io_alert *a = io_sink_at(k, i);
            CEP_GROW(v, cap, n + 1);
            v[n++] = (struct dmn_ack){.id = a->id, .a = a, .sink = k->cfg->name};
        }
    }
    if (n)
        qsort(v, n, sizeof(*v), dmn_ack_cmp);
    size_t alerts = 0;
    for (size_t i = 0; i < n; i++)
        alerts += i == 0 || strcmp(v[i].id, v[i - 1].id) != 0;
    ckpt_put_uv(w, alerts);
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && strcmp(v[j].id, v[i].id) == 0; j++)
            ;
        const struct dmn_ack *x = &v[i];
        ckpt_put_bytes(w, x->id, strlen(x->id));
        ckpt_put_uv(w, x->o ? x->o->rule_index : x->a->rule_index);
        ckpt_put_sv(w, x->o ? x->o->time : x->a->time);
        if (x->o)
            ckpt_put_bytes(w, dmn_obx_json(&c->held, x->o), x->o->len);
        else
            ckpt_put_bytes(w, x->a->json, x->a->len);
        ckpt_put_uv(w, j - i);
        for (size_t k = i; k < j; k++)
            ckpt_put_bytes(w, v[k].sink, strlen(v[k].sink));
    }
    cep_free(v);
    return alerts;
}

/* Read an OUTBOX section into l (empty; the caller frees it, CEP_ERR
 * included).  CEP_ERR on a malformed one. */
static int dmn_ckpt_get_outbox(struct dmn *d, struct ckpt_r *r, struct dmn_obx_list *l)
{
    uint64_t n = ckpt_get_uv_max(r, (uint64_t)(r->end - r->p), "outbox alerts");
    for (uint64_t k = 0; k < n && !r->err; k++) {
        size_t id_len, len;
        const char *id = ckpt_get_bytes(r, &id_len);
        if (id_len >= sizeof(l->v->id))
            ckpt_r_fail(r, "alert id too long");
        uint32_t rule_index = (uint32_t)ckpt_get_uv_max(r, UINT32_MAX, "rule index");
        int64_t time = ckpt_get_sv(r);
        const char *json = ckpt_get_bytes(r, &len);
        uint64_t n_sinks = ckpt_get_uv_max(r, DMN_CKPT_MAX_SINKS, "outbox sinks");
        if (r->err)
            break;
        struct dmn_obx *o = dmn_obx_push(l, id, id_len, rule_index, time, json, len);
        for (uint64_t i = 0; i < n_sinks && !r->err; i++) {
            const char *name = ckpt_get_bytes(r, &len);
            if (!r->err)
                dmn_obx_add_sink(l, o, dmn_sink_key(d, name, len));
        }
    }
    return r->err ? CEP_ERR : CEP_OK;
}

/* ---- taking one ------------------------------------------------------------ */

static void dmn_ckpt_put_meta(struct dmn *d, struct ckpt_w *w)
{
    const struct ruleset *rs = d->g.rs;
    ckpt_put_bytes(w, PACKAGE_VERSION, strlen(PACKAGE_VERSION));
    ckpt_put_bytes(w, d->config_path, strlen(d->config_path));
    ckpt_put_uv(w, rs->n_rules);
    for (size_t i = 0; i < rs->n_rules; i++) {
        ckpt_put_bytes(w, rs->rules[i]->id, strlen(rs->rules[i]->id));
        ckpt_put_uv(w, rs->rules[i]->hash);
    }
}

static void dmn_ckpt_put_sources(struct dmn *d, uint64_t seq, struct ckpt_w *w)
{
    struct dmn_ckpt *c = d->ckpt;
    size_t n = 0;
    for (size_t i = 0; i < d->n_srcs; i++) {
        struct dmn_src *s = d->srcs[i];
        if (s->started && s->io.ops->save_pos)
            n++;
        else if (s->started && !c->told_unreplayable)
            cep_log(CEP_LOG_WARN,
                    "source %s (%s) cannot be replayed: what it delivered before a crash is "
                    "not read again",
                    s->name, s->io.ops->type);
    }
    c->told_unreplayable = true;
    ckpt_put_uv(w, n);
    for (size_t i = 0; i < d->n_srcs; i++) {
        struct dmn_src *s = d->srcs[i];
        if (!s->started || !s->io.ops->save_pos)
            continue;
        ckpt_put_bytes(w, s->name, strlen(s->name));
        ckpt_put_bytes(w, s->io.ops->type, strlen(s->io.ops->type));
        size_t m = ckpt_frame_begin(w);
        s->io.ops->save_pos(&s->io, seq, w);
        ckpt_frame_end(w, m);
    }
}

static const char *dmn_kind_word(enum ckpt_kind kind)
{
    return kind == CKPT_KIND_CHECKPOINT ? "checkpoint" : "savepoint";
}

/* META and SOURCES (save_pos: the sources remember the position for
 * committed), into c->body from its start. */
static void dmn_ckpt_put_head(struct dmn *d, uint64_t seq, struct ckpt_w *w)
{
    sbuf_reset(w->sb);
    size_t m = ckpt_section_begin(w, CKPT_SEC_META);
    dmn_ckpt_put_meta(d, w);
    ckpt_section_end(w, m);
    m = ckpt_section_begin(w, CKPT_SEC_SOURCES);
    dmn_ckpt_put_sources(d, seq, w);
    ckpt_section_end(w, m);
}

static void dmn_ckpt_put_engine(struct dmn *d, struct ckpt_w *w)
{
    size_t m = ckpt_section_begin(w, CKPT_SEC_ENGINE);
    if (d->par) { /* a barrier through the workers' rings: one frame each */
        eng_par_snapshot(d->par, w);
    } else {
        size_t f = ckpt_frame_begin(w);
        eng_snapshot(d->g.eng, w);
        ckpt_frame_end(w, f);
    }
    ckpt_section_end(w, m);
}

static size_t dmn_ckpt_put_outbox_section(struct dmn *d, struct ckpt_w *w)
{
    size_t m = ckpt_section_begin(w, CKPT_SEC_OUTBOX);
    size_t n = dmn_ckpt_put_outbox(d, w);
    ckpt_section_end(w, m);
    return n;
}

/* Write c->body as checkpoint or savepoint seq to path (NULL: its name in
 * the directory; the path used goes to out).  CEP_ERR with why filled. */
static int dmn_ckpt_write(struct dmn_ckpt *c, enum ckpt_kind kind, uint64_t seq, int64_t wall_us,
                          const char *path, char *out, size_t out_len, char *why, size_t why_len)
{
    struct ckpt_header h = {.version = CKPT_FORMAT_VERSION, .kind = kind, .seq = seq,
                            .wall_us = wall_us, .body_len = c->body.len,
                            .crc = ckpt_crc32c(0, c->body.buf, c->body.len)};
    char *own = NULL;
    if (kind == CKPT_KIND_CHECKPOINT)
        path = own = cep_asprintf("%s/" CKPT_NAME_FMT, c->dir, seq);
    else if (!path)
        path = own = cep_asprintf("%s/savepoint-%010" PRIu64 ".ckpt", c->dir, seq);
    snprintf(out, out_len, "%s", path);
    int rc = ckpt_file_write(path, &h, c->body.buf, c->body.len, why, why_len);
    cep_free(own);
    return rc;
}

static void dmn_ckpt_failed(struct dmn *d, enum ckpt_kind kind, uint64_t seq, const char *why)
{
    struct dmn_ckpt *c = d->ckpt;
    c->st.failed++;
    cep_log(CEP_LOG_ERROR, "%s %" PRIu64 " failed: %s; carrying on from the last good one%s",
            dmn_kind_word(kind), seq, why, c->held.n ? " (alerts stay held)" : "");
}

/* Checkpoint or savepoint seq is durable.  A periodic checkpoint moves the
 * sources and the outbox on (a restart restores the newest of those, never
 * a savepoint): the first `released` held alerts go to the sinks. */
static void dmn_ckpt_durable(struct dmn *d, enum ckpt_kind kind, uint64_t seq, const char *path,
                             uint64_t bytes, int64_t t0, int64_t wall_us, size_t outbox,
                             size_t released, const char *how)
{
    struct dmn_ckpt *c = d->ckpt;
    c->st.ok++;
    c->st.last_seconds = (double)(dmn_mono_us() - t0) / CEP_USEC_PER_SEC;
    c->st.last_bytes = bytes;
    c->st.last_ok_at = wall_us;
    cep_log(kind == CKPT_KIND_CHECKPOINT ? CEP_LOG_DEBUG : CEP_LOG_NOTICE,
            "%s %" PRIu64 " written to %s: %" PRIu64 " bytes, %zu outbox alerts, %.3f s%s",
            dmn_kind_word(kind), seq, path, bytes, outbox, c->st.last_seconds, how);
    if (kind != CKPT_KIND_CHECKPOINT)
        return;
    ckpt_dir_prune(c->dir, c->retain);
    dmn_ckpt_release(d, released);
    for (size_t i = 0; i < d->n_srcs; i++) {
        struct dmn_src *s = d->srcs[i];
        if (s->started && s->io.ops->committed)
            s->io.ops->committed(&s->io, seq);
    }
}

int dmn_ckpt_take(struct dmn *d, enum ckpt_kind kind, const char *path, char *out_path,
                  size_t out_len, char *err, size_t errlen)
{
    struct dmn_ckpt *c = d->ckpt;
    if (!c || (!c->dir && (kind == CKPT_KIND_CHECKPOINT || !path))) {
        snprintf(err, errlen, "checkpoints are off (no checkpoint.dir)");
        return CEP_ERR;
    }
    if (kind == CKPT_KIND_CHECKPOINT)
        dmn_ckpt_bg_wait(d); /* checkpoints are durable in order */
    int64_t t0 = dmn_mono_us();
    uint64_t seq = ++c->seq;
    struct ckpt_w w = {.sb = &c->body};
    dmn_ckpt_put_head(d, seq, &w);
    dmn_ckpt_put_engine(d, &w); /* before the outbox: the workers' alerts come back with it */
    size_t outbox = dmn_ckpt_put_outbox_section(d, &w);
    size_t held = c->held.n;
    int64_t wall_us = eng_now_us();
    char where[PATH_MAX], why[512];
    if (dmn_ckpt_write(c, kind, seq, wall_us, path, where, sizeof(where), why, sizeof(why)) !=
        CEP_OK) {
        dmn_ckpt_failed(d, kind, seq, why);
        snprintf(err, errlen, "%s", why);
        return CEP_ERR;
    }
    if (out_path)
        snprintf(out_path, out_len, "%s", where);
    dmn_ckpt_durable(d, kind, seq, where, c->body.len, t0, wall_us, outbox, held, "");
    return CEP_OK;
}

/* ---- in the background ----------------------------------------------------- */

/* Close every descriptor above stderr except keep. */
static void dmn_ckpt_close_fds_but(int keep)
{
#ifdef HAVE_CLOSE_RANGE
    if ((keep == 3 || close_range(3, (unsigned)keep - 1, 0) == 0) &&
        close_range((unsigned)keep + 1, ~0U, 0) == 0)
        return;
#endif
    long max = sysconf(_SC_OPEN_MAX); /* a libc or kernel without close_range */
    for (long i = 3; i < (max > 0 ? max : 1024); i++)
        if (i != keep)
            close((int)i);
}

/* The checkpoint process: encode the engine after the head and outbox the
 * loop wrote, write the file, report, exit.  It never returns, touches no
 * descriptor but the checkpoint's, and dies with the daemon. */
static CEP_NORETURN void dmn_ckpt_child(struct dmn *d, pid_t parent, int fd)
{
    struct dmn_ckpt *c = d->ckpt;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    /* The daemon's signals are the daemon's to act on, also when they
     * reach this process too (killall, Ctrl-C in a terminal, systemd's
     * control group): the checkpoint goes on, and stopping waits for it.
     * This process dies with the daemon (above) or by SIGKILL. */
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1};
    for (size_t i = 0; i < CEP_ARRAY_LEN(sigs); i++)
        signal(sigs[i], SIG_IGN);
    /* Keep none of the daemon's descriptors but the report pipe: a child
     * that outlives a killed daemon by a moment must not hold its ports,
     * connections or the locks of its write-ahead logs against the next
     * start.  What the child logs goes to stderr. */
    cep_log_close();
    dmn_ckpt_close_fds_but(fd);
    if (ckpt_fault("child")) /* tests: a checkpoint process that dies */
        raise(SIGKILL);
    struct ckpt_w w = {.sb = &c->body};
    dmn_ckpt_put_engine(d, &w);
    struct dmn_ckpt_result res = {.bytes = c->body.len};
    char where[PATH_MAX];
    res.rc = dmn_ckpt_write(c, CKPT_KIND_CHECKPOINT, c->bg.seq, c->bg.wall_us, NULL, where,
                            sizeof(where), res.why, sizeof(res.why));
    const char *p = (const char *)&res;
    size_t left = sizeof(res);
    while (left) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            _exit(1);
        p += n;
        left -= (size_t)n;
    }
    _exit(0);
}

/* Wait for the running checkpoint process (its report is due or it
 * died), then act on what it wrote.  True when its checkpoint is durable. */
static bool dmn_ckpt_bg_finish(struct dmn *d)
{
    struct dmn_ckpt *c = d->ckpt;
    struct dmn_ckpt_bg *bg = &c->bg;
    struct dmn_ckpt_result res;
    size_t got = 0;
    while (got < sizeof(res)) {
        ssize_t n = read(bg->fd, (char *)&res + got, sizeof(res) - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    int status = 0;
    while (waitpid(bg->pid, &status, 0) < 0 && errno == EINTR)
        ;
    event_free(bg->ev);
    close(bg->fd);
    bg->pid = 0;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/" CKPT_NAME_FMT, c->dir, bg->seq);
    if (got != sizeof(res)) {
        char why[160];
        if (WIFSIGNALED(status))
            snprintf(why, sizeof(why), "the checkpoint process was killed by signal %d",
                     WTERMSIG(status));
        else
            snprintf(why, sizeof(why), "the checkpoint process exited with status %d",
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        dmn_ckpt_failed(d, CKPT_KIND_CHECKPOINT, bg->seq, why);
        return false;
    }
    if (res.rc != CEP_OK) {
        res.why[sizeof(res.why) - 1] = '\0';
        dmn_ckpt_failed(d, CKPT_KIND_CHECKPOINT, bg->seq, res.why);
        return false;
    }
    dmn_ckpt_durable(d, CKPT_KIND_CHECKPOINT, bg->seq, path, res.bytes, bg->t0, bg->wall_us,
                     bg->outbox, bg->held_mark, " (in the background)");
    return true;
}

/* Finish the running checkpoint process, then (unless stopping) take the
 * next checkpoint at once if one was asked for meanwhile, or the outbox is
 * still full after a durable one.  After a failed one the timer retries,
 * as in the loop: not a fork after fork on a failing disk. */
static void dmn_ckpt_bg_done(struct dmn *d)
{
    struct dmn_ckpt *c = d->ckpt;
    bool durable = dmn_ckpt_bg_finish(d);
    if ((c->bg.again || (durable && c->full)) && !d->stopping) {
        c->bg.again = false;
        event_active(c->early, 0, 0);
    }
}

static void dmn_ckpt_bg_cb(evutil_socket_t fd, short what, void *ud)
{
    CEP_UNUSED(fd);
    CEP_UNUSED(what);
    dmn_ckpt_bg_done(ud);
}

void dmn_ckpt_bg_wait(struct dmn *d)
{
    if (d->ckpt && d->ckpt->bg.pid)
        dmn_ckpt_bg_done(d);
}

/* A periodic checkpoint whose engine part a child process writes.  The
 * loop pauses only for the head, the outbox and fork itself.  Falls back
 * to dmn_ckpt_take when no process can be made. */
static void dmn_ckpt_take_bg(struct dmn *d)
{
    struct dmn_ckpt *c = d->ckpt;
    struct dmn_ckpt_bg *bg = &c->bg;
    char err[512];
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        cep_log(CEP_LOG_WARN, "checkpoint: pipe: %s; writing it in the loop", strerror(errno));
        dmn_ckpt_take(d, CKPT_KIND_CHECKPOINT, NULL, NULL, 0, err, sizeof(err));
        return;
    }
    bg->t0 = dmn_mono_us();
    bg->seq = ++c->seq;
    struct ckpt_w w = {.sb = &c->body};
    dmn_ckpt_put_head(d, bg->seq, &w);
    bg->outbox = dmn_ckpt_put_outbox_section(d, &w);
    bg->held_mark = c->held.n;
    bg->wall_us = eng_now_us();
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
        dmn_ckpt_child(d, parent, pfd[1]);
    close(pfd[1]);
    if (pid < 0) { /* seq is skipped; its sources' saved positions go with the next commit */
        cep_log(CEP_LOG_WARN, "checkpoint: fork: %s; writing it in the loop", strerror(errno));
        close(pfd[0]);
        dmn_ckpt_take(d, CKPT_KIND_CHECKPOINT, NULL, NULL, 0, err, sizeof(err));
        return;
    }
    bg->pid = pid;
    bg->fd = pfd[0];
    bg->ev = event_new(d->base, pfd[0], EV_READ, dmn_ckpt_bg_cb, d);
    CEP_ASSERT(bg->ev);
    event_add(bg->ev, NULL);
    cep_log(CEP_LOG_DEBUG, "checkpoint %" PRIu64 ": process %d writes it; the loop paused %.2f ms",
            bg->seq, (int)pid, (double)(dmn_mono_us() - bg->t0) / 1000.0);
}

static void dmn_ckpt_timer_cb(evutil_socket_t fd, short what, void *ud)
{
    CEP_UNUSED(fd);
    CEP_UNUSED(what);
    struct dmn *d = ud;
    struct dmn_ckpt *c = d->ckpt;
    char err[512];
    if (d->stopping)
        return;
    if (c->bg.pid) {
        c->bg.again = true; /* taken when the running one is done */
        return;
    }
    /* With workers the engine lives in threads, which fork does not copy. */
    if (d->par)
        dmn_ckpt_take(d, CKPT_KIND_CHECKPOINT, NULL, NULL, 0, err, sizeof(err));
    else
        dmn_ckpt_take_bg(d);
}

bool dmn_ckpt_stop(struct dmn *d)
{
    struct dmn_ckpt *c = d->ckpt;
    if (!c->dir)
        return false;
    dmn_ckpt_bg_wait(d);
    event_del(c->timer);
    event_del(c->early);
    char err[512];
    if (c->held.n)
        dmn_ckpt_take(d, CKPT_KIND_CHECKPOINT, NULL, NULL, 0, err, sizeof(err));
    return true;
}

bool dmn_ckpt_final(struct dmn *d)
{
    struct dmn_ckpt *c = d->ckpt;
    if (!c->dir)
        return false;
    char err[512];
    if (c->savepoint_on_stop)
        dmn_ckpt_take(d, CKPT_KIND_SAVEPOINT, NULL, NULL, 0, err, sizeof(err));
    if (dmn_ckpt_take(d, CKPT_KIND_CHECKPOINT, NULL, NULL, 0, err, sizeof(err)) != CEP_OK)
        return false;
    size_t left = 0;
    for (size_t i = 0; i < d->n_snks; i++)
        left += d->snks[i]->io.q_len;
    if (left)
        cep_log(CEP_LOG_WARN,
                "%zu alerts undelivered at stop are kept in checkpoint %" PRIu64
                " and sent again at the next start",
                left, c->seq);
    return true;
}

bool dmn_ckpt_stats(const struct dmn *d, struct dmn_ckpt_stats *st)
{
    const struct dmn_ckpt *c = d->ckpt;
    memset(st, 0, sizeof(*st));
    if (!c || !c->dir)
        return false;
    *st = c->st;
    st->outbox = c->held.n;
    for (size_t i = 0; i < d->n_snks; i++)
        st->outbox += d->snks[i]->io.q_len;
    return true;
}

/* ---- restoring --------------------------------------------------------- */

static void dmn_ckpt_log_report(const struct eng_restore_report *rep)
{
    size_t n[ENG_RESTORE_FATE_COUNT] = {0};
    for (size_t i = 0; i < rep->n_rules; i++) {
        const struct eng_restore_rule *r = &rep->rules[i];
        n[r->fate]++;
        cep_log(r->fate == ENG_RESTORE_KEPT ? CEP_LOG_INFO : CEP_LOG_NOTICE,
                "restore: rule %s: %s (%zu keys)", r->id, eng_restore_fate_name(r->fate),
                r->keys);
    }
    cep_log(CEP_LOG_NOTICE,
            "restore: %zu rules kept, %zu reset, %zu new, %zu dropped; %zu events decoded again",
            n[ENG_RESTORE_KEPT], n[ENG_RESTORE_RESET], n[ENG_RESTORE_NEW],
            n[ENG_RESTORE_DROPPED], rep->events);
}

/* Restore d from a verified body: the outbox is read first (nothing
 * changes if it is malformed), then the engine (left as new on error),
 * then the sources.  CEP_ERR with err filled when the checkpoint cannot be
 * used; d is then as before. */
static int dmn_ckpt_restore(struct dmn *d, const struct sbuf *body, char *err, size_t errlen)
{
    struct ckpt_r r, f;
    struct dmn_obx_list obx = {0};
    if (!ckpt_section_find(body->buf, body->len, CKPT_SEC_ENGINE, &r) ||
        !ckpt_section_find(body->buf, body->len, CKPT_SEC_SOURCES, &f)) {
        snprintf(err, errlen, "no engine or sources section");
        return CEP_ERR;
    }
    struct ckpt_r ob;
    if (ckpt_section_find(body->buf, body->len, CKPT_SEC_OUTBOX, &ob) &&
        dmn_ckpt_get_outbox(d, &ob, &obx) != CEP_OK) {
        snprintf(err, errlen, "outbox: %s", ob.err);
        dmn_obx_list_free(&obx);
        return CEP_ERR;
    }
    /* Snapshots of any number of workers, rescaled to those running now. */
    struct eng_restore_report rep = {0};
    int erc = d->par ? eng_par_restore(d->par, &r, &rep, err, errlen)
                     : eng_restore_section(d->g.eng, &r, NULL, &rep, err, errlen);
    if (erc != CEP_OK) {
        eng_restore_report_free(&rep);
        dmn_obx_list_free(&obx);
        return CEP_ERR;
    }
    dmn_ckpt_log_report(&rep);
    eng_restore_report_free(&rep);

    uint64_t n = ckpt_get_uv_max(&f, (uint64_t)(f.end - f.p), "sources");
    for (uint64_t i = 0; i < n && !f.err; i++) {
        size_t name_len, type_len;
        const char *name = ckpt_get_bytes(&f, &name_len);
        const char *type = ckpt_get_bytes(&f, &type_len);
        struct ckpt_r pos;
        ckpt_get_frame(&f, &pos);
        if (f.err)
            break;
        struct dmn_src *s = NULL;
        for (size_t j = 0; j < d->n_srcs && !s; j++)
            if (strlen(d->srcs[j]->name) == name_len &&
                memcmp(d->srcs[j]->name, name, name_len) == 0)
                s = d->srcs[j];
        if (!s) {
            cep_log(CEP_LOG_NOTICE, "restore: source %.*s is no longer configured",
                    (int)name_len, name);
        } else if (!s->io.ops || !s->io.ops->load_pos || strlen(s->io.ops->type) != type_len ||
                   memcmp(s->io.ops->type, type, type_len) != 0) {
            cep_log(CEP_LOG_NOTICE,
                    "restore: source %s is now of another type; it starts as configured",
                    s->name);
        } else if (s->io.ops->load_pos(&s->io, &pos) == CEP_OK) {
            cep_log(CEP_LOG_INFO, "restore: source %s resumes from its saved position", s->name);
        }
    }
    if (f.err)
        cep_log(CEP_LOG_WARN, "restore: source positions: %s; the rest start as configured",
                f.err);
    if (obx.n)
        cep_log(CEP_LOG_NOTICE, "restore: %zu outbox alerts sent again", obx.n);
    dmn_obx_send_first(d, &obx, obx.n);
    dmn_obx_list_free(&obx);
    return CEP_OK;
}

/* Read and restore one checkpoint file.  CEP_ERR (logged) when unusable. */
static int dmn_ckpt_restore_file(struct dmn *d, const char *path)
{
    struct sbuf body;
    sbuf_init(&body);
    struct ckpt_header h;
    char err[512];
    int rc = ckpt_file_read(path, &h, &body, err, sizeof(err));
    if (rc == CEP_OK && (rc = dmn_ckpt_restore(d, &body, err, sizeof(err))) == CEP_OK)
        cep_log(CEP_LOG_NOTICE, "restored %s %" PRIu64 " from %s",
                h.kind == CKPT_KIND_SAVEPOINT ? "savepoint" : "checkpoint", h.seq, path);
    else
        cep_log(CEP_LOG_WARN, "checkpoint %s cannot be used: %s", path, err);
    sbuf_free(&body);
    return rc;
}

/* The largest number among dir's chk-N.ckpt and savepoint-N.ckpt, so new
 * ones never take the name of an old one (a corrupt newest included). */
static uint64_t dmn_ckpt_last_seq(const char *dir)
{
    uint64_t max = 0;
    DIR *dh = opendir(dir);
    if (!dh)
        return 0;
    struct dirent *e;
    while ((e = readdir(dh))) {
        const char *p = e->d_name;
        if (strncmp(p, "chk-", 4) == 0)
            p += 4;
        else if (strncmp(p, "savepoint-", 10) == 0)
            p += 10;
        else
            continue;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(p, &end, 10);
        if (end != p && errno == 0 && strncmp(end, ".ckpt", 5) == 0 && v > max)
            max = v;
    }
    closedir(dh);
    return max;
}

int dmn_ckpt_open(struct dmn *d, const char *from)
{
    const struct cfg *cfg = d->g.cfg;
    if (!cfg->checkpoint.dir && !from)
        return CEP_OK;
    struct dmn_ckpt *c = cep_calloc(1, sizeof(*c));
    d->ckpt = c;
    sbuf_init(&c->body);
    c->retain = cfg->checkpoint.retain;
    c->savepoint_on_stop = cfg->checkpoint.savepoint_on_stop;
    c->held_max = cfg->checkpoint.outbox_size;
    if (cfg->checkpoint.dir) {
        c->dir = cep_strdup(cfg->checkpoint.dir);
        c->exactly_once = cfg->checkpoint.delivery == CFG_DELIVERY_EXACTLY_ONCE;
        if (ckpt_mkdirs(c->dir, 0700) != CEP_OK) {
            cep_log(CEP_LOG_ERROR, "checkpoint.dir %s: %s", c->dir, strerror(errno));
            return CEP_ERR;
        }
        c->seq = dmn_ckpt_last_seq(c->dir);
        /* A redis sink must remember ids longer than a restore can reach
         * back, or an alert sent again would be written twice. */
        int64_t reach = (int64_t)(c->retain + 1) * cfg->checkpoint.interval;
        for (size_t i = 0; i < cfg->n_sinks; i++) {
            const struct cfg_sink *k = &cfg->sinks[i];
            if (k->type == CFG_SINK_REDIS && k->ttl > 0 && k->ttl < reach)
                cep_log(CEP_LOG_WARN,
                        "sink %s: ttl %.0fs is shorter than the checkpoints kept (%.0fs): "
                        "alerts sent again after a restore may be written twice",
                        k->name, (double)k->ttl / CEP_USEC_PER_SEC,
                        (double)reach / CEP_USEC_PER_SEC);
        }
        ckpt_fault_reset(); /* before any fork: children share the counts */
#ifdef CEPD_FAULT_INJECTION
        const char *fault = getenv("CEPD_FAULT");
        if (fault)
            cep_log(CEP_LOG_NOTICE, "checkpoint: fault injection armed: CEPD_FAULT=%s", fault);
#endif
    }
    if (from) {
        if (dmn_ckpt_restore_file(d, from) != CEP_OK) {
            cep_log(CEP_LOG_ERROR, "--from-savepoint %s cannot be used", from);
            return CEP_ERR;
        }
    } else {
        char **names;
        size_t n = ckpt_dir_list(c->dir, &names);
        size_t i = 0;
        for (; i < n; i++) {
            char *p = cep_asprintf("%s/%s", c->dir, names[i]);
            int rc = dmn_ckpt_restore_file(d, p);
            cep_free(p);
            if (rc == CEP_OK)
                break;
        }
        if (n && i == n)
            cep_log(CEP_LOG_WARN, "no usable checkpoint in %s: starting afresh", c->dir);
        else if (!n)
            cep_log(CEP_LOG_INFO, "no checkpoint in %s yet: starting afresh", c->dir);
        ckpt_names_free(names, n);
    }
    if (c->dir) {
        c->timer = event_new(d->base, -1, EV_PERSIST, dmn_ckpt_timer_cb, d);
        c->early = event_new(d->base, -1, 0, dmn_ckpt_timer_cb, d);
        CEP_ASSERT(c->timer && c->early);
        struct timeval tv = {(time_t)(cfg->checkpoint.interval / CEP_USEC_PER_SEC),
                             (suseconds_t)(cfg->checkpoint.interval % CEP_USEC_PER_SEC)};
        event_add(c->timer, &tv);
        cep_log(CEP_LOG_NOTICE, "checkpoints every %.3gs in %s (%s, %u kept)",
                (double)cfg->checkpoint.interval / CEP_USEC_PER_SEC, c->dir,
                c->exactly_once ? "exactly_once" : "at_least_once", c->retain);
    }
    return CEP_OK;
}

void dmn_ckpt_close(struct dmn *d)
{
    struct dmn_ckpt *c = d->ckpt;
    if (!c)
        return;
    if (c->bg.pid) { /* not waited for (an early exit): killed; a file it finished counts */
        kill(c->bg.pid, SIGKILL);
        dmn_ckpt_bg_finish(d);
    }
    if (c->timer)
        event_free(c->timer);
    if (c->early)
        event_free(c->early);
    dmn_obx_list_free(&c->held);
    sbuf_free(&c->body);
    cep_free(c->dir);
    cep_free(c);
    d->ckpt = NULL;
}
