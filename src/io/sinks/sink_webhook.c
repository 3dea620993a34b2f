/* SPDX-License-Identifier: Apache-2.0
 * The webhook sink: each alert POSTed to `url` (http or https) as its JSON
 * body, one request at a time, with Content-Type: application/json,
 * Idempotency-Key: <alert_id>, the configured headers, and
 * X-Cepd-Signature: sha256=<hex HMAC-SHA256 of the body> when
 * `secret_file` is set.  libevent's HTTP client on the daemon's loop; TLS
 * through bufferevent_openssl, verifying the certificate and the host name
 * against the system CA store unless `tls_verify: false`.
 * A 2xx answer delivers the alert.  5xx, 408, 429, connection errors and
 * the per-request `timeout` are failed attempts (back-off, circuit
 * breaker, dead letter after max_retries).  Any other answer (4xx, 3xx:
 * redirects are not followed) cannot get better by resending: the alert is
 * dead-lettered at once, and the log says so.
 * Tested by: tests/unit/check_sink.c, tests/daemon/t_webhook.sh */
#include "cepd/cep_common.h"
#include "cepd/io.h"
#include "sink_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define SINK_WEBHOOK_SECRET_MAX 4096

struct sink_webhook {
    struct io_sink *s;
    char *host;
    int port;
    bool https;
    char *target;        /* path and query */
    char *host_hdr;      /* Host: host[:port] */
    SSL_CTX *ssl_ctx;    /* https only */
    struct evdns_base *dns; /* NULL for a numeric host */
    struct evhttp_connection *conn;
    struct bufferevent *bev; /* https: the connection's, for TLS errors */
    bool conn_stale;     /* free conn before the next request */
    struct evhttp_request *req; /* in flight */
    unsigned char *secret;
    size_t secret_len;
    char err[200];       /* why the request in flight failed */
};

static int sink_webhook_secret(struct io_sink *s, struct sink_webhook *w)
{
    const char *p = s->cfg->secret_file;
    FILE *f = fopen(p, "re");
    if (!f) {
        cep_log(CEP_LOG_ERROR, "sink %s: open secret_file %s: %s", s->cfg->name, p,
                strerror(errno));
        return CEP_ERR;
    }
    w->secret = cep_malloc(SINK_WEBHOOK_SECRET_MAX + 1);
    size_t n = fread(w->secret, 1, SINK_WEBHOOK_SECRET_MAX + 1, f);
    bool bad = ferror(f);
    fclose(f);
    while (n && (w->secret[n - 1] == '\n' || w->secret[n - 1] == '\r'))
        n--;
    if (bad || n == 0 || n > SINK_WEBHOOK_SECRET_MAX) {
        cep_log(CEP_LOG_ERROR, "sink %s: secret_file %s: %s", s->cfg->name, p,
                bad ? "read error" : n ? "longer than 4096 bytes" : "empty");
        return CEP_ERR;
    }
    w->secret_len = n;
    return CEP_OK;
}

static int sink_webhook_url(struct io_sink *s, struct sink_webhook *w)
{
    const char *url = s->cfg->url;
    struct evhttp_uri *u = evhttp_uri_parse_with_flags(url, 0);
    const char *scheme = u ? evhttp_uri_get_scheme(u) : NULL;
    const char *host = u ? evhttp_uri_get_host(u) : NULL;
    if (!u || !scheme || !host || !host[0] ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
        cep_log(CEP_LOG_ERROR, "sink %s: bad url '%s' (want http://HOST[:PORT]/PATH or https://...)",
                s->cfg->name, url);
        if (u)
            evhttp_uri_free(u);
        return CEP_ERR;
    }
    w->https = strcmp(scheme, "https") == 0;
    w->host = cep_strdup(host);
    int port = evhttp_uri_get_port(u);
    w->port = port > 0 ? port : w->https ? 443 : 80;
    const char *path = evhttp_uri_get_path(u), *query = evhttp_uri_get_query(u);
    w->target = cep_asprintf("%s%s%s", path && path[0] ? path : "/", query ? "?" : "",
                             query ? query : "");
    w->host_hdr = port > 0 ? cep_asprintf("%s:%d", host, port) : cep_strdup(host);
    evhttp_uri_free(u);
    return CEP_OK;
}

static int sink_webhook_tls(struct io_sink *s, struct sink_webhook *w)
{
    w->ssl_ctx = SSL_CTX_new(TLS_client_method());
    if (!w->ssl_ctx) {
        cep_log(CEP_LOG_ERROR, "sink %s: cannot create a TLS context", s->cfg->name);
        return CEP_ERR;
    }
    SSL_CTX_set_min_proto_version(w->ssl_ctx, TLS1_2_VERSION);
    if (s->cfg->tls_verify && SSL_CTX_set_default_verify_paths(w->ssl_ctx) != 1) {
        cep_log(CEP_LOG_ERROR, "sink %s: cannot load the system CA certificates", s->cfg->name);
        return CEP_ERR;
    }
    if (!s->cfg->tls_verify)
        cep_log(CEP_LOG_WARN, "sink %s: tls_verify is off: the server is not authenticated",
                s->cfg->name);
    return CEP_OK;
}

/* A connection for the next request: plain, or TLS with SNI and (unless
 * tls_verify is off) certificate and host-name verification. */
static struct evhttp_connection *sink_webhook_conn(struct io_sink *s, struct sink_webhook *w)
{
    struct evhttp_connection *c;
    w->bev = NULL;
    if (w->https) {
        SSL *ssl = SSL_new(w->ssl_ctx);
        if (!ssl)
            return NULL;
        SSL_set_tlsext_host_name(ssl, w->host);
        if (s->cfg->tls_verify) {
            SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
            SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            if (SSL_set1_host(ssl, w->host) != 1) {
                SSL_free(ssl);
                return NULL;
            }
        }
        struct bufferevent *bev = bufferevent_openssl_socket_new(
                s->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
        if (!bev) {
            SSL_free(ssl);
            return NULL;
        }
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
        c = evhttp_connection_base_bufferevent_new(s->base, w->dns, bev, w->host,
                                                   (ev_uint16_t)w->port);
        if (!c) {
            bufferevent_free(bev);
            return NULL;
        }
        w->bev = bev;
    } else {
        c = evhttp_connection_base_new(s->base, w->dns, w->host, (ev_uint16_t)w->port);
        if (!c)
            return NULL;
    }
    struct timeval tv;
    sink_tv(&tv, s->timeout);
    evhttp_connection_set_timeout_tv(c, &tv);
    evhttp_connection_set_retries(c, 0);
    return c;
}

static void sink_webhook_conn_free(struct sink_webhook *w)
{
    if (w->conn)
        evhttp_connection_free(w->conn);
    w->conn = NULL;
    w->bev = NULL;
    w->conn_stale = false;
}

static const char *sink_webhook_req_error(enum evhttp_request_error e)
{
    switch (e) {
        case EVREQ_HTTP_TIMEOUT:
            return "timed out";
        case EVREQ_HTTP_EOF:
            return "connection closed before the answer";
        case EVREQ_HTTP_INVALID_HEADER:
            return "invalid answer";
        case EVREQ_HTTP_BUFFER_ERROR:
            return "connection failed";
        case EVREQ_HTTP_DATA_TOO_LONG:
            return "answer too long";
        default:
            return "request cancelled";
    }
}

static void sink_webhook_error_cb(enum evhttp_request_error e, void *arg)
{
    struct sink_webhook *w = arg;
    unsigned long tls = w->bev ? bufferevent_get_openssl_error(w->bev) : 0;
    if (tls) {
        const char *why = ERR_reason_error_string(tls);
        snprintf(w->err, sizeof(w->err), "TLS: %s", why ? why : "handshake failed");
        while (bufferevent_get_openssl_error(w->bev))
            ;
    } else {
        snprintf(w->err, sizeof(w->err), "%s", sink_webhook_req_error(e));
    }
}

static void sink_webhook_done(struct evhttp_request *req, void *arg)
{
    struct sink_webhook *w = arg;
    struct io_sink *s = w->s;
    w->req = NULL;
    int code = req ? evhttp_request_get_response_code(req) : 0;
    if (w->https || code < 200 || code >= 300)
        w->conn_stale = true;
    char why[320];
    if (code >= 200 && code < 300) {
        io_sink_delivered(s, 1);
    } else if (code == 0) {
        snprintf(why, sizeof(why), "POST %s:%d: %s", w->host, w->port,
                 w->err[0] ? w->err : "connection failed");
        io_sink_failed(s, why);
    } else {
        const char *line = evhttp_request_get_response_code_line(req);
        snprintf(why, sizeof(why), "POST %s:%d: HTTP %d %s", w->host, w->port, code,
                 line ? line : "");
        if (code >= 500 || code == 408 || code == 429)
            io_sink_failed(s, why);
        else
            sink_reject_head(s, why);
    }
}

static void sink_webhook_sign(const struct sink_webhook *w, const struct io_alert *a,
                              char out[sizeof("sha256=") + 64])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    HMAC(EVP_sha256(), w->secret, (int)w->secret_len, (const unsigned char *)a->json, a->len,
         md, &md_len);
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "sha256=", 7);
    for (unsigned int i = 0; i < md_len && i < 32; i++) {
        out[7 + 2 * i] = hex[md[i] >> 4];
        out[7 + 2 * i + 1] = hex[md[i] & 15];
    }
    out[7 + 64] = '\0';
}

static void sink_webhook_kick(struct io_sink *s)
{
    struct sink_webhook *w = s->impl;
    if (w->req)
        return;
    if (w->conn_stale)
        sink_webhook_conn_free(w);
    if (!w->conn && !(w->conn = sink_webhook_conn(s, w))) {
        io_sink_failed(s, "cannot create a connection");
        return;
    }
    struct io_alert *a = io_sink_at(s, 0);
    struct evhttp_request *req = evhttp_request_new(sink_webhook_done, w);
    evhttp_request_set_error_cb(req, sink_webhook_error_cb);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", w->host_hdr);
    evhttp_add_header(h, "User-Agent", PACKAGE_NAME "/" PACKAGE_VERSION);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Idempotency-Key", a->id);
    for (size_t i = 0; i < s->cfg->n_headers; i++)
        evhttp_add_header(h, s->cfg->headers[2 * i], s->cfg->headers[2 * i + 1]);
    if (w->secret) {
        char sig[sizeof("sha256=") + 64];
        sink_webhook_sign(w, a, sig);
        evhttp_add_header(h, "X-Cepd-Signature", sig);
    }
    evbuffer_add(evhttp_request_get_output_buffer(req), a->json, a->len);
    w->err[0] = '\0';
    s->busy = true;
    w->req = req;
    if (evhttp_make_request(w->conn, req, EVHTTP_REQ_POST, w->target) != 0 && w->req == req) {
        /* Not answered through sink_webhook_done. */
        w->req = NULL;
        w->conn_stale = true;
        io_sink_failed(s, "cannot send the request");
    }
}

static void sink_webhook_free(struct io_sink *s);

static int sink_webhook_start(struct io_sink *s)
{
    struct sink_webhook *w = cep_calloc(1, sizeof(*w));
    w->s = s;
    s->impl = w;
    if (sink_webhook_url(s, w) != CEP_OK || sink_common_start(s) != CEP_OK ||
        (s->cfg->secret_file && sink_webhook_secret(s, w) != CEP_OK) ||
        (w->https && sink_webhook_tls(s, w) != CEP_OK))
        goto fail;
    struct in6_addr a6;
    if (evutil_inet_pton(AF_INET, w->host, &a6) != 1 &&
        evutil_inet_pton(AF_INET6, w->host, &a6) != 1) {
        w->dns = evdns_base_new(s->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
        if (!w->dns) {
            cep_log(CEP_LOG_ERROR, "sink %s: cannot set up name resolution for %s",
                    s->cfg->name, w->host);
            goto fail;
        }
    }
    return CEP_OK;
fail:
    sink_webhook_free(s);
    return CEP_ERR;
}

static void sink_webhook_stop(struct io_sink *s)
{
    struct sink_webhook *w = s->impl;
    if (!w)
        return;
    /* Freeing the connection frees the request in flight without calling
     * back: the alert stays at the head of the queue. */
    if (w->req)
        s->busy = false;
    w->req = NULL;
    sink_webhook_conn_free(w);
}

static void sink_webhook_free(struct io_sink *s)
{
    struct sink_webhook *w = s->impl;
    if (!w)
        return;
    sink_webhook_stop(s);
    if (w->dns)
        evdns_base_free(w->dns, 0);
    if (w->ssl_ctx)
        SSL_CTX_free(w->ssl_ctx);
    if (w->secret) {
        OPENSSL_cleanse(w->secret, SINK_WEBHOOK_SECRET_MAX + 1);
        cep_free(w->secret);
    }
    cep_free(w->host);
    cep_free(w->target);
    cep_free(w->host_hdr);
    cep_free(w);
    s->impl = NULL;
}

const struct io_sink_ops io_sink_webhook_ops = {
    .type = "webhook",
    .start = sink_webhook_start,
    .kick = sink_webhook_kick,
    .stop = sink_webhook_stop,
    .free = sink_webhook_free,
};
