/* SPDX-License-Identifier: Apache-2.0
 * The redis sink: alerts written to `key` with XADD (MAXLEN ~ maxlen when
 * set), PUBLISH or LPUSH, on hiredis's async API attached to the daemon's
 * loop.  Every write goes through one server-side Lua script that first
 * does SET cepd:seen:<key>:<alert_id> 1 NX EX ttl and writes only when that
 * SET succeeded, so an alert replayed after a crash or a retry is written
 * once to its key (the marker names the key: two sinks writing one alert to
 * two keys both write it).
 * The script is loaded with SCRIPT LOAD and called with EVALSHA; a NOSCRIPT
 * answer (the server restarted or flushed its scripts) resends with EVAL.
 * Up to SINK_REDIS_BATCH queued alerts go out per round trip (pipelined).
 * A lost or unresponsive connection (no answer within `timeout`) is dropped
 * and reopened with back-off; the alerts stay queued and count no attempt,
 * so a dead Redis never loses or dead-letters an alert: it back-pressures
 * once the queue is full.  An error answer to the script (a key of another
 * type) is a failed attempt under the usual retry policy.
 * Tested by: tests/unit/check_sink.c, tests/daemon/t_redis.sh */
#include "cepd/cep_common.h"
#include "cepd/io.h"
#include "sink_int.h"
#include "sink_redis.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/adapters/libevent.h>

#define SINK_REDIS_BATCH       64
#define SINK_REDIS_TTL_DEFAULT (24 * 3600 * CEP_USEC_PER_SEC)

enum sink_redis_mode {
    SINK_REDIS_XADD = 0,
    SINK_REDIS_PUBLISH,
    SINK_REDIS_LPUSH,
    SINK_REDIS_MODE_COUNT
};

static const char *const sink_redis_modes[SINK_REDIS_MODE_COUNT] = {
    [SINK_REDIS_XADD] = "xadd",
    [SINK_REDIS_PUBLISH] = "publish",
    [SINK_REDIS_LPUSH] = "lpush",
};

/* KEYS[1] the target, KEYS[2] the seen marker; ARGV: mode, ttl seconds,
 * alert_id, alert JSON, maxlen (0: no trimming).  Returns 1 when written,
 * 0 when the alert_id was written before.  A failed write (a key of
 * another type) removes the marker again, so the retry writes. */
static const char sink_redis_script[] =
        "if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) then return 0 end\n"
        "local r\n"
        "if ARGV[1] == 'xadd' then\n"
        "  if ARGV[5] ~= '0' then\n"
        "    r = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[5], '*', 'alert_id', ARGV[3],\n"
        "                    'alert', ARGV[4])\n"
        "  else\n"
        "    r = redis.pcall('XADD', KEYS[1], '*', 'alert_id', ARGV[3], 'alert', ARGV[4])\n"
        "  end\n"
        "elseif ARGV[1] == 'publish' then\n"
        "  r = redis.pcall('PUBLISH', KEYS[1], ARGV[4])\n"
        "else\n"
        "  r = redis.pcall('LPUSH', KEYS[1], ARGV[4])\n"
        "end\n"
        "if type(r) == 'table' and r.err then\n"
        "  redis.call('DEL', KEYS[2])\n"
        "  return r\n"
        "end\n"
        "return 1\n";

struct sink_redis {
    struct io_sink *s;
    struct sink_redis_url url;
    enum sink_redis_mode mode;
    char ttl[24];
    char maxlen[24];
    char *seen;              /* "cepd:seen:<key>:" and room for an alert_id */
    size_t seen_prefix;
    redisAsyncContext *ac;
    struct event *tm;        /* reconnect delay (no ac) or answer timeout (ac) */
    bool ready;              /* connected, authenticated, script loaded */
    bool stopping;
    bool noscript;           /* the next batch starts with EVAL */
    char sha[41];
    uint32_t conn_failures;  /* connection attempts failed in a row */
    /* The batch in flight. */
    bool in_flight;
    size_t b_sent, b_replied, b_ok;
    bool b_failed, b_noscript;
    uint64_t b_dups;         /* alerts the script had seen before, for the log */
    char b_err[128];
};

static void sink_redis_connect(struct sink_redis *r);

int sink_redis_url_parse(const char *url, struct sink_redis_url *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof(*u));
    u->port = 6379;
    const char *p = url;
    if (strncmp(p, "redis://", 8) == 0)
        p += 8;
    else if (strstr(p, "://")) {
        snprintf(err, errlen, "'%s': only redis:// URLs are supported", url);
        return CEP_ERR;
    }
    const char *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        if (colon && colon > p)
            u->user = cep_strndup(p, (size_t)(colon - p));
        u->password = cep_strndup(pw, (size_t)(at - pw));
        p = at + 1;
    }
    const char *slash = strchr(p, '/');
    const char *hend = slash ? slash : p + strlen(p);
    const char *colon = memchr(p, ':', (size_t)(hend - p));
    const char *hostend = colon ? colon : hend;
    if (hostend == p) {
        snprintf(err, errlen, "'%s': no host", url);
        goto fail;
    }
    u->host = cep_strndup(p, (size_t)(hostend - p));
    if (colon) {
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (end != hend || port < 1 || port > 65535) {
            snprintf(err, errlen, "'%s': bad port", url);
            goto fail;
        }
        u->port = (int)port;
    }
    if (slash && slash[1]) {
        char *end;
        long db = strtol(slash + 1, &end, 10);
        if (*end || db < 0 || db > 1000000) {
            snprintf(err, errlen, "'%s': bad database number", url);
            goto fail;
        }
        u->db = (int)db;
    }
    return CEP_OK;
fail:
    sink_redis_url_free(u);
    return CEP_ERR;
}

void sink_redis_url_free(struct sink_redis_url *u)
{
    cep_free(u->host);
    cep_free(u->user);
    cep_free(u->password);
    memset(u, 0, sizeof(*u));
}

int sink_redis_url_setup(redisAsyncContext *ac, const struct sink_redis_url *u,
                         redisCallbackFn *fn, void *ud)
{
    if (u->password) {
        const char *argv[3] = {"AUTH", u->user ? u->user : u->password, u->password};
        int argc = u->user ? 3 : 2;
        if (redisAsyncCommandArgv(ac, fn, ud, argc, argv, NULL) != REDIS_OK)
            return CEP_ERR;
    }
    if (u->db) {
        char db[16];
        snprintf(db, sizeof(db), "%d", u->db);
        const char *argv[2] = {"SELECT", db};
        if (redisAsyncCommandArgv(ac, fn, ud, 2, argv, NULL) != REDIS_OK)
            return CEP_ERR;
    }
    return CEP_OK;
}

/* The connection is gone (closed, failed, timed out) or being dropped: the
 * batch in flight goes back to waiting in the queue, and a reconnection is
 * scheduled with back-off. */
static void sink_redis_lost(struct sink_redis *r, const char *why)
{
    struct io_sink *s = r->s;
    r->ready = false;
    r->ac = NULL;
    evtimer_del(r->tm);
    if (r->in_flight) {
        r->in_flight = false;
        sink_requeue(s, why);
    }
    if (r->stopping)
        return;
    r->conn_failures++;
    int64_t delay = sink_backoff(s, r->conn_failures);
    cep_log(r->conn_failures == 1 ? CEP_LOG_WARN : CEP_LOG_INFO,
            "sink %s: redis %s:%d: %s; reconnecting in %.1fs", s->cfg->name, r->url.host,
            r->url.port, why, (double)delay / CEP_USEC_PER_SEC);
    snprintf(s->st.last_error, sizeof(s->st.last_error), "%s", why);
    struct timeval tv;
    sink_tv(&tv, delay);
    evtimer_add(r->tm, &tv);
}

/* Drop the connection ourselves (a timeout, a failed handshake). */
static void sink_redis_drop(struct sink_redis *r, const char *why)
{
    redisAsyncContext *ac = r->ac;
    sink_redis_lost(r, why);
    if (ac)
        redisAsyncFree(ac);
}

static void sink_redis_tm_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sink_redis *r = arg;
    if (r->ac)
        sink_redis_drop(r, "no answer within the timeout");
    else
        sink_redis_connect(r);
}

static void sink_redis_arm_timeout(struct sink_redis *r)
{
    struct timeval tv;
    sink_tv(&tv, r->s->timeout);
    evtimer_add(r->tm, &tv);
}

static void sink_redis_on_connect(const redisAsyncContext *ac, int status)
{
    struct sink_redis *r = ac->data;
    if (ac != r->ac || status == REDIS_OK)
        return;
    sink_redis_lost(r, ac->errstr[0] ? ac->errstr : "cannot connect");
}

static void sink_redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    struct sink_redis *r = ac->data;
    if (ac != r->ac)
        return;
    sink_redis_lost(r, ac->errstr[0] ? ac->errstr : "connection closed");
}

/* AUTH and SELECT answers: an error drops the connection (and is retried:
 * a password may be fixed on the server side). */
static void sink_redis_setup_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct sink_redis *r = priv;
    redisReply *rep = reply;
    if (ac != r->ac || !rep || rep->type != REDIS_REPLY_ERROR)
        return;
    char why[160];
    snprintf(why, sizeof(why), "set-up refused: %s", rep->str);
    sink_redis_drop(r, why);
}

static void sink_redis_script_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct sink_redis *r = priv;
    redisReply *rep = reply;
    if (ac != r->ac || !rep)
        return;
    if (rep->type != REDIS_REPLY_STRING || rep->len != 40) {
        char why[160];
        snprintf(why, sizeof(why), "SCRIPT LOAD failed: %s",
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected answer");
        sink_redis_drop(r, why);
        return;
    }
    memcpy(r->sha, rep->str, 40);
    r->sha[40] = '\0';
    evtimer_del(r->tm);
    r->ready = true;
    r->noscript = false;
    cep_log(r->conn_failures ? CEP_LOG_NOTICE : CEP_LOG_INFO, "sink %s: connected to redis %s:%d",
            r->s->cfg->name, r->url.host, r->url.port);
    r->conn_failures = 0;
    sink_kick_soon(r->s);
}

static void sink_redis_connect(struct sink_redis *r)
{
    struct io_sink *s = r->s;
    redisAsyncContext *ac = redisAsyncConnect(r->url.host, r->url.port);
    if (!ac) {
        sink_redis_lost(r, "out of memory");
        return;
    }
    if (ac->err) {
        char why[160];
        snprintf(why, sizeof(why), "%s", ac->errstr);
        redisAsyncFree(ac);
        sink_redis_lost(r, why);
        return;
    }
    ac->data = r;
    r->ac = ac;
    redisLibeventAttach(ac, s->base);
    redisAsyncSetConnectCallback(ac, sink_redis_on_connect);
    redisAsyncSetDisconnectCallback(ac, sink_redis_on_disconnect);
    const char *argv[3] = {"SCRIPT", "LOAD", sink_redis_script};
    size_t lens[3] = {6, 4, sizeof(sink_redis_script) - 1};
    if (sink_redis_url_setup(ac, &r->url, sink_redis_setup_reply, r) != CEP_OK ||
        redisAsyncCommandArgv(ac, sink_redis_script_reply, r, 3, argv, lens) != REDIS_OK) {
        sink_redis_drop(r, "cannot send the set-up commands");
        return;
    }
    sink_redis_arm_timeout(r);
}

/* The batch is answered: the alerts before the first failure are
 * delivered; a NOSCRIPT failure resends at once with EVAL, another
 * failure is a failed attempt on the new head. */
static void sink_redis_batch_done(struct sink_redis *r)
{
    struct io_sink *s = r->s;
    r->in_flight = false;
    evtimer_del(r->tm);
    if (r->b_dups)
        cep_log(CEP_LOG_DEBUG, "sink %s: %" PRIu64 " alerts were written before", s->cfg->name,
                r->b_dups);
    if (r->b_ok)
        io_sink_delivered(s, r->b_ok);
    if (!r->b_failed) {
        s->busy = false;
        return;
    }
    if (r->b_noscript) {
        r->noscript = true;
        s->busy = false;
        sink_kick_soon(s);
        return;
    }
    io_sink_failed(s, r->b_err);
}

static void sink_redis_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct sink_redis *r = priv;
    redisReply *rep = reply;
    if (ac != r->ac || !rep || !r->in_flight)
        return;
    bool ok = rep->type == REDIS_REPLY_INTEGER;
    if (!ok && !r->b_failed) {
        r->b_failed = true;
        if (rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0)
            r->b_noscript = true;
        snprintf(r->b_err, sizeof(r->b_err), "redis: %s",
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected answer");
    } else if (ok && !r->b_failed) {
        r->b_ok++;
        if (rep->integer == 0)
            r->b_dups++;
    }
    if (++r->b_replied == r->b_sent)
        sink_redis_batch_done(r);
}

static void sink_redis_kick(struct io_sink *s)
{
    struct sink_redis *r = s->impl;
    if (!r->ready)
        return;
    size_t n = s->failures ? 1 : s->q_len < SINK_REDIS_BATCH ? s->q_len : SINK_REDIS_BATCH;
    const char *mode = sink_redis_modes[r->mode];
    for (size_t i = 0; i < n; i++) {
        struct io_alert *a = io_sink_at(s, i);
        memcpy(r->seen + r->seen_prefix, a->id, sizeof(a->id));
        bool eval = i == 0 && r->noscript;
        const char *argv[10] = {eval ? "EVAL" : "EVALSHA", eval ? sink_redis_script : r->sha,
                                "2", s->cfg->key, r->seen, mode, r->ttl, a->id, a->json, r->maxlen};
        size_t lens[10];
        for (int k = 0; k < 10; k++)
            lens[k] = strlen(argv[k]);
        lens[8] = a->len;
        if (redisAsyncCommandArgv(r->ac, sink_redis_reply, r, 10, argv, lens) != REDIS_OK) {
            /* Only a context being freed refuses; its callbacks requeue. */
            return;
        }
    }
    r->noscript = false;
    r->in_flight = true;
    r->b_sent = n;
    r->b_replied = r->b_ok = 0;
    r->b_failed = r->b_noscript = false;
    r->b_dups = 0;
    r->b_err[0] = '\0';
    s->busy = true;
    sink_redis_arm_timeout(r);
}

static int sink_redis_start(struct io_sink *s)
{
    const struct cfg_sink *c = s->cfg;
    char err[160];
    struct sink_redis_url url;
    if (sink_redis_url_parse(c->url, &url, err, sizeof(err)) != CEP_OK) {
        cep_log(CEP_LOG_ERROR, "sink %s: bad url %s", c->name, err);
        return CEP_ERR;
    }
    int mode = SINK_REDIS_XADD;
    if (c->mode) {
        for (mode = 0; mode < SINK_REDIS_MODE_COUNT; mode++) {
            if (strcmp(c->mode, sink_redis_modes[mode]) == 0)
                break;
        }
        if (mode == SINK_REDIS_MODE_COUNT) {
            cep_log(CEP_LOG_ERROR, "sink %s: unknown mode '%s' (xadd, publish or lpush)",
                    c->name, c->mode);
            sink_redis_url_free(&url);
            return CEP_ERR;
        }
    }
    if (sink_common_start(s) != CEP_OK) {
        sink_redis_url_free(&url);
        return CEP_ERR;
    }
    struct sink_redis *r = cep_calloc(1, sizeof(*r));
    r->s = s;
    r->url = url;
    r->mode = (enum sink_redis_mode)mode;
    int64_t ttl = c->ttl > 0 ? c->ttl : SINK_REDIS_TTL_DEFAULT;
    snprintf(r->ttl, sizeof(r->ttl), "%" PRId64, ttl / CEP_USEC_PER_SEC);
    snprintf(r->maxlen, sizeof(r->maxlen), "%" PRId64, c->maxlen);
    r->seen = cep_asprintf("cepd:seen:%s:%32s", c->key, "");
    r->seen_prefix = strlen(r->seen) - 32;
    r->tm = evtimer_new(s->base, sink_redis_tm_cb, r);
    CEP_ASSERT(r->tm);
    s->impl = r;
    sink_redis_connect(r);
    return CEP_OK;
}

static void sink_redis_stop(struct io_sink *s)
{
    struct sink_redis *r = s->impl;
    if (!r || r->stopping)
        return;
    r->stopping = true;
    sink_redis_drop(r, "stopping");
}

static void sink_redis_free(struct io_sink *s)
{
    struct sink_redis *r = s->impl;
    if (!r)
        return;
    sink_redis_stop(s);
    event_free(r->tm);
    sink_redis_url_free(&r->url);
    cep_free(r->seen);
    cep_free(r);
    s->impl = NULL;
}

const struct io_sink_ops io_sink_redis_ops = {
    .type = "redis",
    .start = sink_redis_start,
    .kick = sink_redis_kick,
    .stop = sink_redis_stop,
    .free = sink_redis_free,
};
