/* SPDX-License-Identifier: Apache-2.0
 * The http source: `POST /events` on `listen: HOST:PORT` (libevent's evhttp
 * on the daemon's loop).  The body is JSON lines or, for format json, one
 * JSON array of objects, split by a scanner without building a tree.  A
 * request is all or nothing: the whole body is checked first, and a bad
 * line or element is answered 400 naming it (1-based) with nothing taken,
 * so a client can fix and resend it safely; otherwise every item goes to
 * the pipeline and the answer is 202 {"accepted": N, "rejected": M} (M:
 * items the pipeline dead-lettered).  A body over max_body_bytes gets 413
 * (from libevent, before the body is read); a paused source answers 503
 * with Retry-After and never takes a request it would have to drop.
 *
 * With checkpoints on, the items go through the source's write-ahead log
 * (src_net.h): a request waits until the group commit made its items
 * durable and the pump handed them over, then gets its 202 (same body);
 * when the log cannot be written it gets 503 with nothing taken.
 * Tested by: tests/unit/check_netsrc.c, tests/daemon/t_http.sh, tests/daemon/t_wal.sh */
#include "cepd/cep_common.h"
#include "cepd/io.h"
#include "src_net.h"

#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "cepd/json.h"
#include "cepd/wal.h"

#define SRC_HTTP_PATH          "/events"
#define SRC_HTTP_TIMEOUT_S     30           /* idle or slow client */
#define SRC_HTTP_MAX_HEADERS   (64 * 1024)
#define SRC_HTTP_RETRY_AFTER_S "1"

/* One item of a body: a line or an array element. */
struct http_item {
    size_t off, len;
    uint64_t no; /* line number (blank lines count) or element number, 1-based */
};

/* A request whose items are in the write-ahead log [start, end), waiting
 * to be answered until all of them are handed over. */
struct http_wait {
    struct evhttp_request *req;
    uint64_t start, end;
    uint64_t accepted, rejected;
};

struct http_src {
    struct io_source *s;
    struct evhttp *http;
    size_t max_body;
    uint64_t n_requests;
    struct http_item *items; /* reused from request to request */
    size_t n_items, cap_items;
    struct src_wal wal;
    struct http_wait *waits; /* FIFO in WAL order: waits[w_head .. n_waits) */
    size_t w_head, n_waits, cap_waits;
};

/* Why a body was refused: the item (1-based) and a static reason. */
struct http_bad {
    const char *what; /* "line" or "element" */
    uint64_t no;
    const char *reason;
};

static void http_item_add(struct http_src *hs, size_t off, size_t len, uint64_t no)
{
    CEP_GROW(hs->items, hs->cap_items, hs->n_items + 1);
    hs->items[hs->n_items++] = (struct http_item){off, len, no};
}

/* One JSON object in [p, end) surrounded only by whitespace, or a reason. */
static const char *http_json_object(const char *p, const char *end)
{
    struct json_err err = {0};
    struct json_scan sc = {p, end, &err};
    p = json_ws_skip(p, end);
    if (p == end || *p != '{')
        return "not a JSON object";
    p = json_value_skip(&sc, p, 0);
    if (!p)
        return err.reason;
    return json_ws_skip(p, end) == end ? NULL : "trailing characters";
}

/* Split a body of lines; blank lines are skipped.  For format json every
 * line must be one JSON object.  false with *bad filled on the first bad
 * line. */
static bool http_split_lines(struct http_src *hs, const char *body, size_t len,
                             struct http_bad *bad)
{
    const struct io_source *s = hs->s;
    bool json = s->cfg->format == CFG_FMT_JSON;
    uint64_t no = 0;
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(body + at, '\n', len - at);
        size_t n = (nl ? (size_t)(nl - body) : len) - at;
        no++;
        bad->no = no;
        if (n > s->max_line) {
            bad->reason = "longer than max_line_bytes";
            return false;
        }
        size_t n_text = n > 0 && body[at + n - 1] == '\r' ? n - 1 : n;
        if (json_ws_skip(body + at, body + at + n_text) != body + at + n_text) {
            if (json && (bad->reason = http_json_object(body + at, body + at + n_text)))
                return false;
            http_item_add(hs, at, n_text, no);
        }
        at += n + 1;
    }
    return true;
}

/* Split a JSON array of objects into its elements (format json only). */
static bool http_split_array(struct http_src *hs, const char *body, size_t len,
                             struct http_bad *bad)
{
    const char *end = body + len, *p = json_ws_skip(body, end) + 1;
    struct json_err err = {0};
    struct json_scan sc = {body, end, &err};
    uint64_t no = 0;
    bad->what = "element";
    p = json_ws_skip(p, end);
    if (p < end && *p == ']') {
        p++;
    } else {
        for (;;) {
            bad->no = ++no;
            if (p == end || *p != '{') {
                bad->reason = p == end ? "unterminated array" : "not a JSON object";
                return false;
            }
            const char *e = json_value_skip(&sc, p, 1);
            if (!e) {
                bad->reason = err.reason;
                return false;
            }
            if ((size_t)(e - p) > hs->s->max_line) {
                bad->reason = "longer than max_line_bytes";
                return false;
            }
            http_item_add(hs, (size_t)(p - body), (size_t)(e - p), no);
            p = json_ws_skip(e, end);
            if (p < end && *p == ',') {
                p = json_ws_skip(p + 1, end);
                continue;
            }
            if (p < end && *p == ']') {
                p++;
                break;
            }
            bad->reason = p == end ? "unterminated array" : "expected ',' or ']'";
            return false;
        }
    }
    if (json_ws_skip(p, end) != end) {
        bad->no = no + 1;
        bad->reason = "trailing characters after the array";
        return false;
    }
    return true;
}

static void http_reply(struct evhttp_request *req, int code, const char *reason,
                       struct evbuffer *body)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, code, reason, body);
}

static void http_error(struct http_src *hs, struct evhttp_request *req, int code,
                       const char *reason, const char *msg)
{
    struct evbuffer *b = evbuffer_new();
    CEP_ASSERT(b);
    evbuffer_add_printf(b, "{\"error\":\"%s\"}\n", msg);
    if (code != 503)
        hs->s->st.errors++;
    http_reply(req, code, reason, b);
    evbuffer_free(b);
}

static void http_accepted(struct evhttp_request *req, uint64_t accepted, uint64_t rejected)
{
    struct evbuffer *b = evbuffer_new();
    CEP_ASSERT(b);
    evbuffer_add_printf(b, "{\"accepted\":%" PRIu64 ",\"rejected\":%" PRIu64 "}\n", accepted,
                        rejected);
    http_reply(req, 202, "Accepted", b);
    evbuffer_free(b);
}

/* A record was handed over: count it for its request, and answer the
 * request once its last item is through.  Records before the first waiting
 * request are a replay. */
static void http_wal_handed(void *ud, const struct wal_rec *r, bool accepted)
{
    struct http_src *hs = ud;
    if (hs->w_head == hs->n_waits)
        return;
    struct http_wait *w = &hs->waits[hs->w_head];
    if (r->off < w->start)
        return;
    if (accepted)
        w->accepted++;
    else
        w->rejected++;
    if (r->off + WAL_REC_HDR + r->len < w->end)
        return;
    http_accepted(w->req, w->accepted, w->rejected);
    if (++hs->w_head == hs->n_waits)
        hs->w_head = hs->n_waits = 0;
}

/* Answer 503 to the waiting requests from the end back to index from. */
static void http_waits_fail(struct http_src *hs, size_t from, const char *msg)
{
    while (hs->n_waits > from) {
        struct evhttp_request *req = hs->waits[--hs->n_waits].req;
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After",
                          SRC_HTTP_RETRY_AFTER_S);
        http_error(hs, req, 503, "Service Unavailable", msg);
    }
    if (hs->w_head >= hs->n_waits)
        hs->w_head = hs->n_waits = 0;
}

/* After a group commit that failed: the requests whose items were dropped
 * (past the durable end) are answered 503, nothing taken. */
static void http_wal_synced(void *ud, bool ok)
{
    struct http_src *hs = ud;
    if (ok)
        return;
    uint64_t end = wal_end(hs->wal.wal);
    size_t from = hs->n_waits;
    while (from > hs->w_head && hs->waits[from - 1].end > end)
        from--;
    http_waits_fail(hs, from, "write-ahead log error; retry later");
}

/* With a WAL: append the items; the answer comes from http_wal_handed. */
static void http_post_wal(struct http_src *hs, struct evhttp_request *req, const char *body)
{
    uint64_t start = wal_tail(hs->wal.wal);
    for (size_t i = 0; i < hs->n_items; i++) {
        const struct http_item *it = &hs->items[i];
        src_wal_append(&hs->wal, body + it->off, it->len, it->no, false);
    }
    if (hs->w_head > 0 && hs->w_head >= hs->n_waits / 2) {
        memmove(hs->waits, hs->waits + hs->w_head, (hs->n_waits - hs->w_head) * sizeof(*hs->waits));
        hs->n_waits -= hs->w_head;
        hs->w_head = 0;
    }
    CEP_GROW(hs->waits, hs->cap_waits, hs->n_waits + 1);
    hs->waits[hs->n_waits++] = (struct http_wait){req, start, wal_tail(hs->wal.wal), 0, 0};
}

/* POST /events: check the whole body, then hand every item over. */
static void http_post(struct http_src *hs, struct evhttp_request *req)
{
    struct io_source *s = hs->s;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
    s->st.bytes += len;
    hs->n_items = 0;
    struct http_bad bad = {"line", 0, NULL};
    const char *first = json_ws_skip(body, body + len);
    bool ok = s->cfg->format == CFG_FMT_JSON && first < body + len && *first == '['
                      ? http_split_array(hs, body, len, &bad)
                      : http_split_lines(hs, body, len, &bad);
    if (!ok) {
        struct evbuffer *b = evbuffer_new();
        CEP_ASSERT(b);
        evbuffer_add_printf(b, "{\"error\":\"%s %" PRIu64 ": %s\",\"%s\":%" PRIu64 "}\n",
                            bad.what, bad.no, bad.reason, bad.what, bad.no);
        s->st.errors++;
        http_reply(req, 400, "Bad Request", b);
        evbuffer_free(b);
        return;
    }
    if (hs->wal.wal && hs->n_items > 0) {
        http_post_wal(hs, req, body);
        return;
    }
    uint64_t req_no = ++hs->n_requests, accepted = 0, rejected = 0;
    for (size_t i = 0; i < hs->n_items; i++) {
        const struct http_item *it = &hs->items[i];
        struct io_line l = {
            .data = body + it->off,
            .len = it->len,
            .offset = req_no << SRC_NET_OFF_BITS | (it->off & SRC_NET_OFF_MASK),
            .line_no = it->no,
            .too_long = false,
        };
        struct io_verdict v = {.accepted = true};
        s->on_line(s->ud, s, &l, &v);
        s->st.lines++;
        if (v.accepted) {
            accepted++;
        } else {
            rejected++;
            s->st.rejected++;
        }
    }
    if (hs->n_items) {
        s->st.last_line_at = io_source_now(s);
        if (s->on_batch)
            s->on_batch(s->ud, s);
    }
    http_accepted(req, accepted, rejected);
}

static void http_request_cb(struct evhttp_request *req, void *ud)
{
    struct http_src *hs = ud;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!path || strcmp(path, SRC_HTTP_PATH) != 0) {
        http_error(hs, req, 404, "Not Found", "not found; POST events to " SRC_HTTP_PATH);
        return;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "POST");
        http_error(hs, req, 405, "Method Not Allowed", "method not allowed; use POST");
        return;
    }
    if (hs->s->paused) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After",
                          SRC_HTTP_RETRY_AFTER_S);
        http_error(hs, req, 503, "Service Unavailable", "busy; retry later");
        return;
    }
    http_post(hs, req);
}

/* Each accepted connection gets its bufferevent here, which is where
 * connections are counted. */
static struct bufferevent *http_bev_cb(struct event_base *base, void *ud)
{
    struct http_src *hs = ud;
    hs->s->st.connections++;
    return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
}

/* s->impl, allocated on first use (the ops table is the only constructor;
 * load_pos may come before start). */
static struct http_src *http_impl(struct io_source *s)
{
    if (!s->impl) {
        struct http_src *hs = cep_calloc(1, sizeof(*hs));
        hs->s = s;
        hs->wal.on_sync = http_wal_synced;
        hs->wal.on_handed = http_wal_handed;
        hs->wal.ud = hs;
        s->impl = hs;
    }
    return s->impl;
}

/* Open the write-ahead log (its replay is scheduled first, so it comes
 * before any request's items), then bind and serve.  CEP_ERR, after
 * logging why, when the log cannot be opened or the address cannot be
 * bound. */
static int http_start(struct io_source *s)
{
    struct http_src *hs = http_impl(s);
    if (src_wal_open(&hs->wal, s) != CEP_OK)
        return CEP_ERR;
    hs->max_body = s->cfg->max_body_bytes ? s->cfg->max_body_bytes : CFG_MAX_BODY_BYTES_DEFAULT;
    int fd = src_net_listen(s);
    if (fd < 0)
        return CEP_ERR;
    hs->http = evhttp_new(s->base);
    CEP_ASSERT(hs->http);
    evhttp_set_max_body_size(hs->http, (ev_ssize_t)hs->max_body);
    evhttp_set_max_headers_size(hs->http, SRC_HTTP_MAX_HEADERS);
    evhttp_set_timeout(hs->http, SRC_HTTP_TIMEOUT_S);
    /* Every method reaches http_request_cb, which answers 405 itself. */
    evhttp_set_allowed_methods(hs->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                                 EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                                 EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    /* Read an oversized body to its end before answering 413, so the
     * client sees the answer rather than a reset connection. */
    evhttp_set_flags(hs->http, EVHTTP_SERVER_LINGERING_CLOSE);
    evhttp_set_gencb(hs->http, http_request_cb, hs);
    evhttp_set_bevcb(hs->http, http_bev_cb, hs);
    if (!evhttp_accept_socket_with_handle(hs->http, fd)) {
        cep_log(CEP_LOG_ERROR, "http source %s: cannot accept on %s", s->cfg->name,
                s->cfg->listen);
        close(fd);
        evhttp_free(hs->http);
        hs->http = NULL;
        return CEP_ERR;
    }
    cep_log(CEP_LOG_NOTICE, "http source %s: listening on %s", s->cfg->name, s->cfg->listen);
    return CEP_OK;
}

/* Paused: requests are answered 503 with Retry-After until resume. */
static void http_pause(struct io_source *s)
{
    s->paused = true;
}

static void http_resume(struct io_source *s)
{
    s->paused = false;
    if (s->impl)
        src_wal_resume(&((struct http_src *)s->impl)->wal);
}

/* Commit and hand over what the log holds, which answers the waiting
 * requests, then close the server. */
static void http_close(struct http_src *hs)
{
    http_waits_fail(hs, hs->w_head, "shutting down; retry later");
    if (hs->http) {
        evhttp_free(hs->http);
        hs->http = NULL;
    }
}

static void http_stop(struct io_source *s)
{
    struct http_src *hs = s->impl;
    if (hs) {
        src_wal_flush(&hs->wal);
        http_close(hs);
    }
}

static void http_free(struct io_source *s)
{
    struct http_src *hs = s->impl;
    if (!hs)
        return;
    http_close(hs);
    src_wal_close(&hs->wal);
    cep_free(hs->waits);
    cep_free(hs->items);
    cep_free(hs);
    s->impl = NULL;
}

static void http_save_pos(struct io_source *s, uint64_t ckpt_seq, struct ckpt_w *w)
{
    src_wal_save_pos(&http_impl(s)->wal, ckpt_seq, w);
}

static int http_load_pos(struct io_source *s, struct ckpt_r *r)
{
    return src_wal_load_pos(&http_impl(s)->wal, s, r);
}

static void http_committed(struct io_source *s, uint64_t ckpt_seq)
{
    src_wal_committed(&http_impl(s)->wal, ckpt_seq);
}

const struct io_source_ops io_src_http_ops = {
    .type = "http",
    .start = http_start,
    .pause = http_pause,
    .resume = http_resume,
    .stop = http_stop,
    .free = http_free,
    .save_pos = http_save_pos,
    .load_pos = http_load_pos,
    .committed = http_committed,
};
