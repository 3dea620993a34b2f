/* SPDX-License-Identifier: Apache-2.0
 * What every sink shares: the table of sink types, the queue (a ring of
 * owned io_alert copies that grows past its capacity rather than refuse:
 * io_sink_full tells the pipeline to pause its sources), and the delivery
 * policy applied to each outcome a sink reports.  A failed attempt is
 * retried after an exponential back-off with full jitter; after
 * IO_SINK_BREAKER_FAILURES failures in a row the circuit opens: no attempt
 * for backoff_max, then one probe (the head alone), which closes it again
 * or re-opens it.  An alert that has had max_retries attempts is written to
 * the dead-letter file (or the log without one) and the sink goes on:
 * nothing vanishes; io_sink_reopen (SIGUSR1) reopens that file too.
 * Everything runs on the daemon's loop.
 * Tested by: tests/unit/check_sink.c */
#include "cepd/cep_common.h"
#include "cepd/io.h"
#include "sink_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "cepd/sbuf.h"

#define SINK_Q_INITIAL 16
#define SINK_IOV_ALERTS 256 /* alerts per writev */

/* The sink types, by cfg_sink_type. */
static const struct io_sink_ops *const sink_types[CFG_SINK_TYPE_COUNT] = {
    [CFG_SINK_STDOUT] = &io_sink_stdout_ops,
    [CFG_SINK_FILE] = &io_sink_file_ops,
    [CFG_SINK_REDIS] = &io_sink_redis_ops,
    [CFG_SINK_WEBHOOK] = &io_sink_webhook_ops,
    [CFG_SINK_STREAM] = &io_sink_stream_ops,
};

void sink_tv(struct timeval *tv, int64_t us)
{
    if (us < 0)
        us = 0;
    tv->tv_sec = (time_t)(us / CEP_USEC_PER_SEC);
    tv->tv_usec = (suseconds_t)(us % CEP_USEC_PER_SEC);
}

/* xorshift64*: jitter needs spread, not secrecy. */
static uint64_t sink_rand(struct io_sink *s)
{
    uint64_t x = s->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s->rng = x;
    return x * UINT64_C(2685821657736338717);
}

int64_t sink_backoff(struct io_sink *s, uint32_t n)
{
    int64_t cap = IO_SINK_BACKOFF_MIN;
    for (uint32_t i = 1; i < n && cap < s->backoff_max; i++)
        cap *= 2;
    if (cap > s->backoff_max)
        cap = s->backoff_max;
    if (cap <= IO_SINK_BACKOFF_MIN)
        return IO_SINK_BACKOFF_MIN;
    return IO_SINK_BACKOFF_MIN +
           (int64_t)(sink_rand(s) % (uint64_t)(cap - IO_SINK_BACKOFF_MIN + 1));
}

static void sink_kick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct io_sink *s = arg;
    if (s->q_len && !s->busy && !s->waiting)
        s->ops->kick(s);
}

void sink_kick_soon(struct io_sink *s)
{
    if (s->q_len && !s->busy && !s->waiting)
        event_active(s->kick_ev, 0, 0);
}

static void sink_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct io_sink *s = arg;
    s->waiting = false;
    if (s->failures >= IO_SINK_BREAKER_FAILURES)
        cep_log(CEP_LOG_INFO, "sink %s: circuit half-open, probing", s->cfg->name);
    sink_kick_soon(s);
}

void io_sink_init(struct io_sink *s, const struct cfg_sink *cfg, struct event_base *base)
{
    memset(s, 0, sizeof(*s));
    s->cfg = cfg;
    s->ops = sink_types[cfg->type];
    s->base = base;
    s->capacity = cfg->queue_size ? cfg->queue_size : IO_SINK_QUEUE_DEFAULT;
    s->max_retries = cfg->max_retries < 0    ? IO_SINK_RETRIES_DEFAULT
                     : cfg->max_retries == 0 ? 1
                                             : (uint32_t)cfg->max_retries;
    s->timeout = cfg->timeout > 0 ? cfg->timeout : IO_SINK_TIMEOUT_DEFAULT;
    s->backoff_max = cfg->backoff_max > 0 ? cfg->backoff_max : IO_SINK_BACKOFF_MAX;
    if (s->backoff_max < IO_SINK_BACKOFF_MIN)
        s->backoff_max = IO_SINK_BACKOFF_MIN;
    s->q_cap = SINK_Q_INITIAL;
    s->q = cep_calloc(s->q_cap, sizeof(*s->q));
    s->retry_ev = evtimer_new(base, sink_retry_cb, s);
    s->kick_ev = event_new(base, -1, 0, sink_kick_cb, s);
    CEP_ASSERT(s->retry_ev && s->kick_ev);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    s->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)s ^
             ((uint64_t)getpid() << 40);
    if (s->rng == 0)
        s->rng = 1;
}

/* The sink's dead-letter file, opened for appending; NULL after logging. */
static FILE *sink_dead_open(const struct io_sink *s)
{
    FILE *f = fopen(s->cfg->dead_letter, "ae");
    if (!f) {
        cep_log(CEP_LOG_ERROR, "sink %s: cannot open the dead-letter file %s: %s", s->cfg->name,
                s->cfg->dead_letter, strerror(errno));
        return NULL;
    }
    /* Unbuffered: each record is one write(2), so records from several
     * writers of one file (sinks, the rejected-line writer) never mix. */
    setvbuf(f, NULL, _IONBF, 0);
    return f;
}

int sink_common_start(struct io_sink *s)
{
    if (!s->cfg->dead_letter || s->dead)
        return CEP_OK;
    s->dead = sink_dead_open(s);
    return s->dead ? CEP_OK : CEP_ERR;
}

void io_sink_reopen(struct io_sink *s)
{
    if (s->ops->reopen)
        s->ops->reopen(s);
    if (!s->dead)
        return;
    FILE *f = sink_dead_open(s);
    if (!f)
        return;
    fclose(s->dead);
    s->dead = f;
}

static void sink_grow(struct io_sink *s)
{
    size_t cap = s->q_cap * 2;
    struct io_alert *q = cep_calloc(cap, sizeof(*q));
    for (size_t i = 0; i < s->q_len; i++)
        q[i] = s->q[(s->q_head + i) % s->q_cap];
    cep_free(s->q);
    s->q = q;
    s->q_cap = cap;
    s->q_head = 0;
}

void io_sink_enqueue(struct io_sink *s, const struct eng_alert *a)
{
    if (s->q_len == s->q_cap)
        sink_grow(s);
    struct io_alert *x = &s->q[(s->q_head + s->q_len) % s->q_cap];
    size_t id_len = strnlen(a->id, sizeof(x->id) - 1);
    memcpy(x->id, a->id, id_len);
    x->id[id_len] = '\0';
    x->rule_index = (uint32_t)a->rule_index;
    x->time = a->time;
    x->json = cep_malloc(a->len + 1);
    memcpy(x->json, a->json, a->len);
    x->json[a->len] = '\0';
    x->len = a->len;
    x->attempts = 0;
    s->q_len++;
    s->st.queued++;
    s->st.depth = s->q_len;
    sink_kick_soon(s);
}

bool io_sink_full(const struct io_sink *s)
{
    return s->q_len >= s->capacity;
}

struct io_alert *io_sink_at(struct io_sink *s, size_t i)
{
    CEP_ASSERT(i < s->q_len);
    return &s->q[(s->q_head + i) % s->q_cap];
}

/* Drop the head; tell the pipeline when that makes room. */
static void sink_pop(struct io_sink *s)
{
    bool was_full = io_sink_full(s);
    struct io_alert *h = &s->q[s->q_head];
    cep_free(h->json);
    h->json = NULL;
    s->q_head = (s->q_head + 1) % s->q_cap;
    s->q_len--;
    s->st.depth = s->q_len;
    if (was_full && !io_sink_full(s) && s->on_space)
        s->on_space(s->ud, s);
}

void io_sink_delivered(struct io_sink *s, size_t n)
{
    CEP_ASSERT(n <= s->q_len);
    s->busy = false;
    if (n == 0)
        return;
    if (s->failures >= IO_SINK_BREAKER_FAILURES)
        cep_log(CEP_LOG_NOTICE, "sink %s: circuit closed, delivering again after %" PRIu32
                " failed attempts", s->cfg->name, s->failures);
    else if (s->failures)
        cep_log(CEP_LOG_INFO, "sink %s: delivering again after %" PRIu32 " failed attempts",
                s->cfg->name, s->failures);
    s->failures = 0;
    s->st.delivered += n;
    while (n--)
        sink_pop(s);
    sink_kick_soon(s);
}

/* One dead-letter record for the head: a JSON line in the dead-letter file,
 * or the log when the sink has none. */
void io_sink_dead_record(const struct io_sink *s, const struct io_alert *a, const char *why,
                         struct sbuf *out)
{
    sbuf_reset(out);
    sbuf_puts(out, "{\"sink\":");
    sbuf_json_str(out, s->cfg->name, strlen(s->cfg->name));
    sbuf_puts(out, ",\"alert_id\":");
    sbuf_json_str(out, a->id, strlen(a->id));
    sbuf_printf(out, ",\"attempts\":%" PRIu32 ",\"error\":", a->attempts);
    sbuf_json_str(out, why, strlen(why));
    sbuf_puts(out, ",\"alert\":");
    sbuf_append(out, a->json, a->len);
    sbuf_puts(out, "}\n");
}

static void sink_dead_letter(struct io_sink *s, const char *err)
{
    struct sbuf sb;
    sbuf_init(&sb);
    io_sink_dead_record(s, &s->q[s->q_head], err, &sb);
    if (!s->dead || fwrite(sb.buf, 1, sb.len, s->dead) != sb.len) {
        if (s->dead)
            cep_log(CEP_LOG_ERROR, "sink %s: write to the dead-letter file %s: %s",
                    s->cfg->name, s->cfg->dead_letter, strerror(errno));
        cep_log(CEP_LOG_ERROR, "sink %s: dead letter: %.*s", s->cfg->name, (int)(sb.len - 1),
                sb.buf);
    }
    sbuf_free(&sb);
    s->st.dead_lettered++;
}

/* The delivery of the head alert ended in err: the sink is idle again, err
 * is its last error, and the head counts one more attempt.  Returns the
 * head (NULL, never expected, when the queue is empty). */
static struct io_alert *sink_attempt_failed(struct io_sink *s, const char *err)
{
    s->busy = false;
    snprintf(s->st.last_error, sizeof(s->st.last_error), "%s", err);
    if (NEVER(s->q_len == 0))
        return NULL;
    struct io_alert *h = &s->q[s->q_head];
    h->attempts++;
    return h;
}

void io_sink_failed(struct io_sink *s, const char *err)
{
    struct io_alert *h = sink_attempt_failed(s, err);
    if (!h)
        return;
    s->failures++;
    if (s->failures == 1)
        cep_log(CEP_LOG_WARN, "sink %s: delivery failed: %s; retrying with back-off",
                s->cfg->name, err);
    if (h->attempts >= s->max_retries) {
        cep_log(CEP_LOG_WARN, "sink %s: alert %s dead-lettered after %" PRIu32 " attempts: %s",
                s->cfg->name, h->id, h->attempts, err);
        sink_dead_letter(s, err);
        sink_pop(s);
    } else {
        s->st.retried++;
    }
    int64_t delay;
    if (s->failures >= IO_SINK_BREAKER_FAILURES) {
        if (s->failures == IO_SINK_BREAKER_FAILURES) {
            s->st.circuit_opens++;
            cep_log(CEP_LOG_WARN,
                    "sink %s: circuit open after %d failures in a row (last: %s); one probe "
                    "every %.1fs",
                    s->cfg->name, IO_SINK_BREAKER_FAILURES, err,
                    (double)s->backoff_max / CEP_USEC_PER_SEC);
        }
        delay = s->backoff_max;
    } else {
        delay = sink_backoff(s, s->failures);
    }
    struct timeval tv;
    sink_tv(&tv, delay);
    evtimer_add(s->retry_ev, &tv);
    s->waiting = true;
}

void sink_requeue(struct io_sink *s, const char *err)
{
    s->busy = false;
    s->st.retried++;
    snprintf(s->st.last_error, sizeof(s->st.last_error), "%s", err);
}

void sink_reject_head(struct io_sink *s, const char *err)
{
    struct io_alert *h = sink_attempt_failed(s, err);
    if (!h)
        return;
    cep_log(CEP_LOG_WARN, "sink %s: alert %s refused (%s); retrying cannot help: dead-lettered",
            s->cfg->name, h->id, err);
    s->failures = 0;
    sink_dead_letter(s, err);
    sink_pop(s);
    sink_kick_soon(s);
}

int sink_fd_write(struct io_sink *s, int fd)
{
    struct iovec iov[2 * SINK_IOV_ALERTS];
    size_t n = s->q_len < SINK_IOV_ALERTS ? s->q_len : SINK_IOV_ALERTS;
    if (s->failures)
        n = 1;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        struct io_alert *a = io_sink_at(s, i);
        iov[2 * i].iov_base = a->json;
        iov[2 * i].iov_len = a->len;
        iov[2 * i + 1].iov_base = (void *)"\n";
        iov[2 * i + 1].iov_len = 1;
        total += a->len + 1;
    }
    struct stat st;
    off_t start = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? st.st_size : -1;
    /* Write it all: a pipe may take part of it (a signal, a full pipe). */
    size_t done = 0, k = 0;
    int werr = 0;
    while (done < total) {
        ssize_t w = writev(fd, iov + k, (int)(2 * n - k));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            werr = w < 0 ? errno : EIO;
            break;
        }
        done += (size_t)w;
        for (size_t left = (size_t)w; left;) {
            if (left >= iov[k].iov_len) {
                left -= iov[k++].iov_len;
            } else {
                iov[k].iov_base = (char *)iov[k].iov_base + left;
                iov[k].iov_len -= left;
                left = 0;
            }
        }
    }
    if (done == total) {
        io_sink_delivered(s, n);
        return CEP_OK;
    }
    size_t lines = 0, at = 0;
    for (size_t i = 0; i < n && at + io_sink_at(s, i)->len + 1 <= done; i++) {
        at += io_sink_at(s, i)->len + 1;
        lines++;
    }
    char err[128];
    snprintf(err, sizeof(err), "write: %s", strerror(werr));
    /* Cut a partly written line off again, so the retry writes it whole. */
    if (done > at && start >= 0 && ftruncate(fd, start + (off_t)at) != 0)
        cep_log(CEP_LOG_WARN, "sink %s: truncate after a failed write: %s", s->cfg->name,
                strerror(errno));
    if (lines)
        io_sink_delivered(s, lines);
    io_sink_failed(s, err);
    return CEP_ERR;
}

void io_sink_free(struct io_sink *s)
{
    if (!s->ops)
        return;
    if (s->impl) {
        s->ops->stop(s);
        s->ops->free(s);
        s->impl = NULL;
    }
    while (s->q_len) {
        cep_free(s->q[s->q_head].json);
        s->q_head = (s->q_head + 1) % s->q_cap;
        s->q_len--;
    }
    cep_free(s->q);
    s->q = NULL;
    if (s->retry_ev)
        event_free(s->retry_ev);
    if (s->kick_ev)
        event_free(s->kick_ev);
    s->retry_ev = s->kick_ev = NULL;
    if (s->dead)
        fclose(s->dead);
    s->dead = NULL;
    s->ops = NULL;
}
