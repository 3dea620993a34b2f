/* SPDX-License-Identifier: Apache-2.0
 * The redis_stream source: entries of the stream `key` read with
 * XREADGROUP as consumer `consumer` (default cepd-<hostname>) of `group`
 * (default cepd), on hiredis's async API attached to the daemon's loop.
 * A missing group is created at the end of the stream (XGROUP CREATE key
 * group $ MKSTREAM): a new group reads what is added from then on, not the
 * stream's history.  An entry's `event` field is the line; an entry
 * without one becomes a JSON object of all its fields (as strings).  The
 * line's offset is the packed entry id, ms << 22 | seq.
 * Without checkpoints, entries are acknowledged (XACK) once processed:
 * after on_line has returned for each of them (so the alerts they produced
 * are queued) and on_batch has run.  With checkpoints (cfg_source
 * .checkpointed), an entry is acknowledged only once a durable checkpoint
 * covers it: save_pos records the last processed id for the checkpoint,
 * committed releases every entry up to it.  The processed-but-unacknowledged
 * ids wait in a list, in stream order.  After a (re)connection the consumer
 * first re-reads its own pending entries (XREADGROUP ... 0), then new ones
 * (>); a pending entry at or before the last processed id (this run's, or
 * the restored checkpoint's) is not processed again, so a restart resumes
 * just after the checkpoint's position.  (A Redis that lost its data makes
 * ids go back; entries are then acknowledged as soon as they are at or
 * before the last committed position, until the next checkpoint commits:
 * exactly-once cannot outlive the stream itself.)  A lost connection is
 * reopened with back-off; pause stops issuing XREADGROUP (a read already
 * waiting on the server still delivers).
 * Tested by: tests/unit/check_sink.c, tests/daemon/t_redis_source.sh,
 * tests/daemon/t_redis_ckpt.sh */
#include "cepd/cep_common.h"
#include "cepd/io.h"
#include "cepd/ckpt.h"
#include "../sinks/sink_redis.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/adapters/libevent.h>

#include "cepd/sbuf.h"

#define SRC_REDIS_COUNT       256                      /* entries per XREADGROUP */
#define SRC_REDIS_BLOCK_MS    1000                     /* BLOCK of a read for new entries */
#define SRC_REDIS_TIMEOUT     (5 * CEP_USEC_PER_SEC)   /* answer timeout beyond BLOCK */
#define SRC_REDIS_BACKOFF_MIN (100 * 1000)
#define SRC_REDIS_BACKOFF_MAX (30 * CEP_USEC_PER_SEC)
#define SRC_REDIS_ID_MAX      48                       /* "ms-seq" with room to spare */
#define SRC_REDIS_SAVES_MAX   64                       /* checkpoints awaiting commit */

/* A stream entry id, ms-seq; {0, 0} sorts before every real entry. */
struct src_redis_id {
    uint64_t ms;
    uint64_t seq;
};

/* The position save_pos recorded for checkpoint seq. */
struct src_redis_save {
    uint64_t ckpt_seq;
    struct src_redis_id id;
};

struct src_redis {
    struct io_source *s;
    struct sink_redis_url url;
    const char *group;
    char consumer[128];
    redisAsyncContext *ac;
    struct event *tm;       /* reconnect delay (no ac) or answer timeout (ac) */
    struct event *read_ev;  /* deferred next read */
    bool ready;             /* connected, group exists */
    bool reading;           /* an XREADGROUP is in flight */
    bool pending;           /* re-reading our own pending entries */
    bool stopping;
    char cursor[SRC_REDIS_ID_MAX]; /* pending phase: last id re-read */
    uint32_t conn_failures;
    int64_t backoff;
    /* Processed, not yet acknowledged, in stream order. */
    char (*unacked)[SRC_REDIS_ID_MAX];
    size_t n_unacked, cap_unacked;
    struct src_redis_id last;    /* last entry processed (or restored position) */
    struct src_redis_id release; /* checkpointed: entries up to it may be acknowledged */
    struct src_redis_save saves[SRC_REDIS_SAVES_MAX];
    size_t n_saves;
    struct sbuf line;       /* an entry without `event`, as JSON */
};

static void src_redis_connect(struct src_redis *r);

static void src_redis_tv(struct timeval *tv, int64_t us)
{
    tv->tv_sec = (time_t)(us / CEP_USEC_PER_SEC);
    tv->tv_usec = (suseconds_t)(us % CEP_USEC_PER_SEC);
}

static void src_redis_lost(struct src_redis *r, const char *why)
{
    struct io_source *s = r->s;
    r->ready = false;
    r->reading = false;
    r->ac = NULL;
    evtimer_del(r->tm);
    if (r->stopping)
        return;
    s->st.errors++;
    r->conn_failures++;
    r->backoff = r->backoff ? r->backoff * 2 : SRC_REDIS_BACKOFF_MIN;
    if (r->backoff > SRC_REDIS_BACKOFF_MAX)
        r->backoff = SRC_REDIS_BACKOFF_MAX;
    cep_log(r->conn_failures == 1 ? CEP_LOG_WARN : CEP_LOG_INFO,
            "source %s: redis %s:%d: %s; reconnecting in %.1fs", s->cfg->name, r->url.host,
            r->url.port, why, (double)r->backoff / CEP_USEC_PER_SEC);
    struct timeval tv;
    src_redis_tv(&tv, r->backoff);
    evtimer_add(r->tm, &tv);
}

static void src_redis_drop(struct src_redis *r, const char *why)
{
    redisAsyncContext *ac = r->ac;
    src_redis_lost(r, why);
    if (ac)
        redisAsyncFree(ac);
}

static void src_redis_tm_cb(evutil_socket_t fd, short what, void *arg)
{
    struct src_redis *r = arg;
    if (r->ac)
        src_redis_drop(r, "no answer within the timeout");
    else
        src_redis_connect(r);
}

static void src_redis_read_soon(struct src_redis *r)
{
    if (r->ready && !r->reading && !r->s->paused && !r->stopping)
        event_active(r->read_ev, 0, 0);
}

/* Parse "ms-seq" (or "ms"); false on anything else. */
static bool src_redis_id_parse(const char *s, size_t len, struct src_redis_id *out)
{
    char buf[SRC_REDIS_ID_MAX], *end;
    if (len == 0 || len >= sizeof(buf) || !(s[0] >= '0' && s[0] <= '9'))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    out->ms = strtoull(buf, &end, 10);
    out->seq = 0;
    if (*end == '-') {
        if (!(end[1] >= '0' && end[1] <= '9'))
            return false;
        out->seq = strtoull(end + 1, &end, 10);
    }
    return *end == '\0';
}

static bool src_redis_id_le(const struct src_redis_id *a, const struct src_redis_id *b)
{
    return a->ms < b->ms || (a->ms == b->ms && a->seq <= b->seq);
}

/* Acknowledge (one XACK) the processed entries that may be: all of them
 * without checkpoints, those up to the last committed checkpoint's
 * position with.  The answer is not waited for: an entry whose XACK is
 * lost stays pending, is skipped when re-read (it is at or before the last
 * processed id) and acknowledged then. */
static void src_redis_ack(struct src_redis *r)
{
    if (!r->n_unacked || !r->ready)
        return;
    size_t n = r->n_unacked;
    if (r->s->cfg->checkpointed) {
        struct src_redis_id id;
        for (n = 0; n < r->n_unacked; n++)
            if (src_redis_id_parse(r->unacked[n], strlen(r->unacked[n]), &id) &&
                !src_redis_id_le(&id, &r->release))
                break;
        if (n == 0)
            return;
    }
    size_t argc = 3 + n;
    const char **argv = cep_malloc(argc * sizeof(*argv));
    argv[0] = "XACK";
    argv[1] = r->s->cfg->key;
    argv[2] = r->group;
    for (size_t i = 0; i < n; i++)
        argv[3 + i] = r->unacked[i];
    if (redisAsyncCommandArgv(r->ac, NULL, NULL, (int)argc, argv, NULL) == REDIS_OK) {
        memmove(r->unacked, r->unacked + n, (r->n_unacked - n) * sizeof(*r->unacked));
        r->n_unacked -= n;
    }
    cep_free(argv);
}

/* Remember id for acknowledgement. */
static void src_redis_unacked_add(struct src_redis *r, const char *id, size_t len)
{
    CEP_GROW(r->unacked, r->cap_unacked, r->n_unacked + 1);
    memcpy(r->unacked[r->n_unacked++], id, len + 1);
}

/* One entry [id, [field, value, ...]] handed to the pipeline. */
static void src_redis_entry(struct src_redis *r, const redisReply *e)
{
    struct io_source *s = r->s;
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING || e->element[0]->len >= SRC_REDIS_ID_MAX) {
        s->st.errors++;
        return;
    }
    const char *id = e->element[0]->str;
    size_t id_len = e->element[0]->len;
    const redisReply *f = e->element[1];
    struct src_redis_id eid;
    if (!src_redis_id_parse(id, id_len, &eid)) {
        s->st.errors++;
        return;
    }
    if (r->pending)
        snprintf(r->cursor, sizeof(r->cursor), "%s", id);
    if (r->pending && src_redis_id_le(&eid, &r->last)) {
        /* Re-read from the pending list but processed already (before the
         * restored checkpoint, or in this run before a reconnection).  It
         * is still waiting in the list unless its acknowledgement was
         * released (and then perhaps lost with the connection).  Only the
         * pending list is compared: new entries (>) were never delivered,
         * even when ids went back (a Redis restarted without its data). */
        if (!s->cfg->checkpointed || src_redis_id_le(&eid, &r->release))
            src_redis_unacked_add(r, id, id_len);
        return;
    }
    src_redis_unacked_add(r, id, id_len);
    r->last = eid;
    if (f->type != REDIS_REPLY_ARRAY) {
        /* A pending entry deleted from the stream meanwhile: nothing to
         * process; acknowledged so it is not asked for again. */
        s->st.errors++;
        return;
    }
    const char *data = NULL;
    size_t len = 0;
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        if (f->element[i]->len == 5 && memcmp(f->element[i]->str, "event", 5) == 0) {
            data = f->element[i + 1]->str;
            len = f->element[i + 1]->len;
            break;
        }
    }
    if (!data) {
        sbuf_reset(&r->line);
        sbuf_putc(&r->line, '{');
        for (size_t i = 0; i + 1 < f->elements; i += 2) {
            if (i)
                sbuf_putc(&r->line, ',');
            sbuf_json_str(&r->line, f->element[i]->str, f->element[i]->len);
            sbuf_putc(&r->line, ':');
            sbuf_json_str(&r->line, f->element[i + 1]->str, f->element[i + 1]->len);
        }
        sbuf_putc(&r->line, '}');
        data = r->line.buf;
        len = r->line.len;
    }
    bool too_long = len > s->max_line;
    struct io_line l = {
        .data = data,
        .len = too_long ? s->max_line : len,
        .offset = eid.ms << 22 | (eid.seq & ((UINT64_C(1) << 22) - 1)),
        .line_no = s->st.lines + 1,
        .too_long = too_long,
    };
    struct io_verdict v = {.accepted = true};
    s->on_line(s->ud, s, &l, &v);
    s->st.lines++;
    s->st.bytes += len;
    s->st.last_line_at = io_source_now(s);
    if (too_long)
        s->st.errors++;
    if (!v.accepted)
        s->st.rejected++;
}

static void src_redis_read_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct src_redis *r = priv;
    redisReply *rep = reply;
    if (ac != r->ac || !rep || !r->reading || r->stopping)
        return;
    r->reading = false;
    evtimer_del(r->tm);
    if (rep->type == REDIS_REPLY_ERROR) {
        char why[200];
        snprintf(why, sizeof(why), "XREADGROUP: %s", rep->str);
        /* NOGROUP: the stream or group was deleted: reconnecting creates it. */
        src_redis_drop(r, why);
        return;
    }
    size_t n = 0;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
        rep->element[0]->type == REDIS_REPLY_ARRAY && rep->element[0]->elements == 2) {
        const redisReply *entries = rep->element[0]->element[1];
        for (size_t i = 0; entries->type == REDIS_REPLY_ARRAY && i < entries->elements; i++) {
            src_redis_entry(r, entries->element[i]);
            n++;
        }
    }
    if (n && r->s->on_batch)
        r->s->on_batch(r->s->ud, r->s);
    src_redis_ack(r);
    if (r->pending && n == 0) {
        r->pending = false;
        cep_log(CEP_LOG_DEBUG, "source %s: pending entries re-read", r->s->cfg->name);
    }
    src_redis_read_soon(r);
}

static void src_redis_read(evutil_socket_t fd, short what, void *arg)
{
    struct src_redis *r = arg;
    struct io_source *s = r->s;
    if (!r->ready || r->reading || s->paused || r->stopping)
        return;
    char count[16], block[16];
    snprintf(count, sizeof(count), "%d", SRC_REDIS_COUNT);
    snprintf(block, sizeof(block), "%d", SRC_REDIS_BLOCK_MS);
    const char *argv[11] = {"XREADGROUP", "GROUP", r->group, r->consumer, "COUNT", count};
    int argc = 6;
    if (!r->pending) {
        argv[argc++] = "BLOCK";
        argv[argc++] = block;
    }
    argv[argc++] = "STREAMS";
    argv[argc++] = s->cfg->key;
    argv[argc++] = r->pending ? r->cursor : ">";
    if (redisAsyncCommandArgv(r->ac, src_redis_read_reply, r, argc, argv, NULL) != REDIS_OK)
        return;
    r->reading = true;
    struct timeval tv;
    src_redis_tv(&tv, SRC_REDIS_TIMEOUT + (r->pending ? 0 : SRC_REDIS_BLOCK_MS * 1000));
    evtimer_add(r->tm, &tv);
}

static void src_redis_group_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct src_redis *r = priv;
    redisReply *rep = reply;
    if (ac != r->ac || !rep)
        return;
    if (rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "BUSYGROUP", 9) != 0) {
        char why[200];
        snprintf(why, sizeof(why), "XGROUP CREATE: %s", rep->str);
        src_redis_drop(r, why);
        return;
    }
    if (rep->type != REDIS_REPLY_ERROR)
        cep_log(CEP_LOG_NOTICE, "source %s: created consumer group %s on %s (reading new entries)",
                r->s->cfg->name, r->group, r->s->cfg->key);
    evtimer_del(r->tm);
    r->ready = true;
    r->pending = true;
    snprintf(r->cursor, sizeof(r->cursor), "0");
    cep_log(r->conn_failures ? CEP_LOG_NOTICE : CEP_LOG_INFO,
            "source %s: connected to redis %s:%d as %s/%s", r->s->cfg->name, r->url.host,
            r->url.port, r->group, r->consumer);
    r->conn_failures = 0;
    r->backoff = 0;
    r->s->st.connections++;
    /* Entries processed before the connection was lost are acknowledged
     * first, so the pending re-read returns only unprocessed ones. */
    src_redis_ack(r);
    src_redis_read_soon(r);
}

static void src_redis_setup_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct src_redis *r = priv;
    redisReply *rep = reply;
    if (ac != r->ac || !rep || rep->type != REDIS_REPLY_ERROR)
        return;
    char why[200];
    snprintf(why, sizeof(why), "set-up refused: %s", rep->str);
    src_redis_drop(r, why);
}

static void src_redis_on_connect(const redisAsyncContext *ac, int status)
{
    struct src_redis *r = ac->data;
    if (ac != r->ac || status == REDIS_OK)
        return;
    src_redis_lost(r, ac->errstr[0] ? ac->errstr : "cannot connect");
}

static void src_redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    struct src_redis *r = ac->data;
    if (ac != r->ac)
        return;
    src_redis_lost(r, ac->errstr[0] ? ac->errstr : "connection closed");
}

static void src_redis_connect(struct src_redis *r)
{
    struct io_source *s = r->s;
    redisAsyncContext *ac = redisAsyncConnect(r->url.host, r->url.port);
    if (!ac) {
        src_redis_lost(r, "out of memory");
        return;
    }
    if (ac->err) {
        char why[160];
        snprintf(why, sizeof(why), "%s", ac->errstr);
        redisAsyncFree(ac);
        src_redis_lost(r, why);
        return;
    }
    ac->data = r;
    r->ac = ac;
    redisLibeventAttach(ac, s->base);
    redisAsyncSetConnectCallback(ac, src_redis_on_connect);
    redisAsyncSetDisconnectCallback(ac, src_redis_on_disconnect);
    const char *argv[6] = {"XGROUP", "CREATE", s->cfg->key, r->group, "$", "MKSTREAM"};
    if (sink_redis_url_setup(ac, &r->url, src_redis_setup_reply, r) != CEP_OK ||
        redisAsyncCommandArgv(ac, src_redis_group_reply, r, 6, argv, NULL) != REDIS_OK) {
        src_redis_drop(r, "cannot send the set-up commands");
        return;
    }
    struct timeval tv;
    src_redis_tv(&tv, SRC_REDIS_TIMEOUT);
    evtimer_add(r->tm, &tv);
}

/* The source's state, made by load_pos (before start) or start. */
static struct src_redis *src_redis_impl(struct io_source *s)
{
    if (!s->impl) {
        struct src_redis *r = cep_calloc(1, sizeof(*r));
        r->s = s;
        s->impl = r;
    }
    return s->impl;
}

static int src_redis_start(struct io_source *s)
{
    char err[160];
    struct sink_redis_url url;
    if (sink_redis_url_parse(s->cfg->url, &url, err, sizeof(err)) != CEP_OK) {
        cep_log(CEP_LOG_ERROR, "source %s: bad url %s", s->cfg->name, err);
        return CEP_ERR;
    }
    struct src_redis *r = src_redis_impl(s);
    r->url = url;
    r->group = s->cfg->group ? s->cfg->group : "cepd";
    if (s->cfg->consumer) {
        snprintf(r->consumer, sizeof(r->consumer), "%s", s->cfg->consumer);
    } else {
        char host[64];
        if (gethostname(host, sizeof(host)) != 0)
            snprintf(host, sizeof(host), "localhost");
        host[sizeof(host) - 1] = '\0';
        snprintf(r->consumer, sizeof(r->consumer), "cepd-%s", host);
    }
    sbuf_init(&r->line);
    r->tm = evtimer_new(s->base, src_redis_tm_cb, r);
    r->read_ev = event_new(s->base, -1, 0, src_redis_read, r);
    CEP_ASSERT(r->tm && r->read_ev);
    src_redis_connect(r);
    return CEP_OK;
}

static void src_redis_pause(struct io_source *s)
{
    s->paused = true;
}

static void src_redis_resume(struct io_source *s)
{
    s->paused = false;
    if (s->impl)
        src_redis_read_soon(s->impl);
}

static void src_redis_stop(struct io_source *s)
{
    struct src_redis *r = s->impl;
    if (!r || !r->tm || r->stopping)
        return;
    src_redis_ack(r);
    r->stopping = true;
    event_del(r->read_ev);
    evtimer_del(r->tm);
    /* The XACK above is written now (the connection may be freed before
     * the loop turns again); the answer of a read waiting on the server is
     * ignored, and what it delivered stays pending, to be re-read on the
     * next start. */
    if (r->ready)
        redisAsyncHandleWrite(r->ac);
    if (r->ac)
        redisAsyncDisconnect(r->ac);
}

static void src_redis_free(struct io_source *s)
{
    struct src_redis *r = s->impl;
    if (!r)
        return;
    if (r->tm) {
        src_redis_stop(s);
        src_redis_drop(r, "stopping");
        event_free(r->tm);
        event_free(r->read_ev);
        sink_redis_url_free(&r->url);
        sbuf_free(&r->line);
    }
    cep_free(r->unacked);
    cep_free(r);
    s->impl = NULL;
}

/* The position record: stream key, group, last processed id ("" for none).
 * `cepd checkpoint inspect` decodes it too. */
static void src_redis_save_pos(struct io_source *s, uint64_t ckpt_seq, struct ckpt_w *w)
{
    struct src_redis *r = src_redis_impl(s);
    const char *group = s->cfg->group ? s->cfg->group : "cepd";
    char id[SRC_REDIS_ID_MAX] = "";
    if (r->last.ms || r->last.seq)
        snprintf(id, sizeof(id), "%" PRIu64 "-%" PRIu64, r->last.ms, r->last.seq);
    ckpt_put_bytes(w, s->cfg->key, strlen(s->cfg->key));
    ckpt_put_bytes(w, group, strlen(group));
    ckpt_put_bytes(w, id, strlen(id));
    /* Checkpoints normally commit in order, one at a time; should many
     * fail in a row, the oldest record is forgotten (its entries are then
     * acknowledged with a later checkpoint's). */
    if (r->n_saves == SRC_REDIS_SAVES_MAX) {
        memmove(r->saves, r->saves + 1, (r->n_saves - 1) * sizeof(*r->saves));
        r->n_saves--;
    }
    r->saves[r->n_saves++] = (struct src_redis_save){.ckpt_seq = ckpt_seq, .id = r->last};
}

static int src_redis_load_pos(struct io_source *s, struct ckpt_r *rd)
{
    struct src_redis *r = src_redis_impl(s);
    const char *group = s->cfg->group ? s->cfg->group : "cepd";
    size_t key_len, group_len, id_len;
    const char *key = ckpt_get_bytes(rd, &key_len);
    const char *grp = ckpt_get_bytes(rd, &group_len);
    const char *id = ckpt_get_bytes(rd, &id_len);
    struct src_redis_id pos = {0, 0};
    if (rd->err || (id_len && !src_redis_id_parse(id, id_len, &pos))) {
        cep_log(CEP_LOG_WARN, "source %s: saved position unreadable (%s); reading as configured",
                s->cfg->name, rd->err ? rd->err : "bad entry id");
        return CEP_ERR;
    }
    if (key_len != strlen(s->cfg->key) || memcmp(key, s->cfg->key, key_len) != 0 ||
        group_len != strlen(group) || memcmp(grp, group, group_len) != 0) {
        cep_log(CEP_LOG_WARN, "source %s: saved position is for stream %.*s group %.*s, not %s "
                "group %s; reading as configured", s->cfg->name, (int)key_len, key,
                (int)group_len, grp, s->cfg->key, group);
        return CEP_ERR;
    }
    r->last = pos;
    r->release = pos;
    cep_log(CEP_LOG_INFO, "source %s: resuming after entry %.*s", s->cfg->name,
            (int)(id_len ? id_len : 6), id_len ? id : "(none)");
    return CEP_OK;
}

/* Checkpoint ckpt_seq is durable: acknowledge what its position covers. */
static void src_redis_committed(struct io_source *s, uint64_t ckpt_seq)
{
    struct src_redis *r = s->impl;
    if (!r)
        return;
    size_t n = 0;
    while (n < r->n_saves && r->saves[n].ckpt_seq <= ckpt_seq)
        r->release = r->saves[n++].id;
    memmove(r->saves, r->saves + n, (r->n_saves - n) * sizeof(*r->saves));
    r->n_saves -= n;
    if (n)
        src_redis_ack(r);
}

const struct io_source_ops io_src_redis_ops = {
    .type = "redis_stream",
    .start = src_redis_start,
    .pause = src_redis_pause,
    .resume = src_redis_resume,
    .stop = src_redis_stop,
    .free = src_redis_free,
    .save_pos = src_redis_save_pos,
    .load_pos = src_redis_load_pos,
    .committed = src_redis_committed,
};
