/* SPDX-License-Identifier: Apache-2.0
 * A webhook receiver for tests: a small libevent HTTP(S) server on
 * 127.0.0.1 that answers every request as its mode says and logs it as one
 * JSON line (method, path, Idempotency-Key, X-Cepd-Signature,
 * Content-Type, body, every header, mode, status).  Modes: accept (200), fail500, fail400, fail429, hang (never
 * answers), close (closes the connection without answering).  The mode is
 * switched at run time with POST /_mode?m=MODE (not logged).  --port 0
 * picks a free port, written to --port-file.  Exits 0 on SIGTERM/SIGINT.
 *   http_receiver --port P [--port-file F] --mode M --log FILE
 *                 [--tls-cert PEM --tls-key PEM]
 * Used by: tests/unit/check_sink.c, tests/daemon/t_webhook.sh */
#include "cepd/cep_common.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/ssl.h>

#include "cepd/sbuf.h"

enum rcv_mode {
    RCV_ACCEPT = 0,
    RCV_FAIL500,
    RCV_FAIL400,
    RCV_FAIL429,
    RCV_HANG,
    RCV_CLOSE,
    RCV_MODE_COUNT
};

static const char *const rcv_modes[RCV_MODE_COUNT] = {
    [RCV_ACCEPT] = "accept", [RCV_FAIL500] = "fail500", [RCV_FAIL400] = "fail400",
    [RCV_FAIL429] = "fail429", [RCV_HANG] = "hang",     [RCV_CLOSE] = "close",
};

struct rcv {
    struct event_base *base;
    enum rcv_mode mode;
    FILE *log;
    SSL_CTX *ssl;
};

static int rcv_mode_parse(const char *m)
{
    for (int i = 0; i < RCV_MODE_COUNT; i++) {
        if (m && strcmp(m, rcv_modes[i]) == 0)
            return i;
    }
    return -1;
}

static void rcv_json_field(struct sbuf *sb, const char *name, const char *v, size_t len)
{
    sbuf_printf(sb, ",\"%s\":", name);
    if (v)
        sbuf_json_str(sb, v, len);
    else
        sbuf_puts(sb, "null");
}

static void rcv_set_mode(struct rcv *r, struct evhttp_request *req)
{
    struct evkeyvalq q;
    const char *uri = evhttp_request_get_uri(req);
    const char *qs = strchr(uri, '?');
    int m = -1;
    if (qs && evhttp_parse_query_str(qs + 1, &q) == 0) {
        m = rcv_mode_parse(evhttp_find_header(&q, "m"));
        evhttp_clear_headers(&q);
    }
    if (m < 0) {
        evhttp_send_reply(req, 400, "Bad Request", NULL);
        return;
    }
    r->mode = (enum rcv_mode)m;
    evhttp_send_reply(req, 200, "OK", NULL);
}

static void rcv_request(struct evhttp_request *req, void *arg)
{
    struct rcv *r = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (path && strcmp(path, "/_mode") == 0) {
        rcv_set_mode(r, req);
        return;
    }
    static const int status[RCV_MODE_COUNT] = {
        [RCV_ACCEPT] = 200, [RCV_FAIL500] = 500, [RCV_FAIL400] = 400, [RCV_FAIL429] = 429,
    };
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t blen = evbuffer_get_length(in);
    const char *body = (const char *)evbuffer_pullup(in, -1);
    const char *key = evhttp_find_header(h, "Idempotency-Key");
    const char *sig = evhttp_find_header(h, "X-Cepd-Signature");
    const char *ct = evhttp_find_header(h, "Content-Type");
    struct sbuf sb;
    sbuf_init(&sb);
    sbuf_puts(&sb, "{\"method\":");
    sbuf_puts(&sb, evhttp_request_get_command(req) == EVHTTP_REQ_POST ? "\"POST\"" : "\"other\"");
    rcv_json_field(&sb, "path", path, path ? strlen(path) : 0);
    rcv_json_field(&sb, "key", key, key ? strlen(key) : 0);
    rcv_json_field(&sb, "sig", sig, sig ? strlen(sig) : 0);
    rcv_json_field(&sb, "content_type", ct, ct ? strlen(ct) : 0);
    rcv_json_field(&sb, "body", body ? body : "", body ? blen : 0);
    sbuf_puts(&sb, ",\"headers\":{");
    for (struct evkeyval *kv = h->tqh_first; kv; kv = kv->next.tqe_next) {
        if (kv != h->tqh_first)
            sbuf_putc(&sb, ',');
        sbuf_json_str(&sb, kv->key, strlen(kv->key));
        sbuf_putc(&sb, ':');
        sbuf_json_str(&sb, kv->value, strlen(kv->value));
    }
    sbuf_putc(&sb, '}');
    rcv_json_field(&sb, "mode", rcv_modes[r->mode], strlen(rcv_modes[r->mode]));
    sbuf_printf(&sb, ",\"status\":%d}\n", status[r->mode]);
    fwrite(sb.buf, 1, sb.len, r->log);
    fflush(r->log);
    sbuf_free(&sb);
    switch (r->mode) {
        case RCV_HANG:
            break; /* never answered; the client times out */
        case RCV_CLOSE: {
            struct bufferevent *bev =
                    evhttp_connection_get_bufferevent(evhttp_request_get_connection(req));
            shutdown(bufferevent_getfd(bev), SHUT_RDWR);
            break;
        }
        default: {
            struct evbuffer *out = evbuffer_new();
            evbuffer_add_printf(out, "{\"mode\":\"%s\"}\n", rcv_modes[r->mode]);
            evhttp_send_reply(req, status[r->mode], r->mode == RCV_ACCEPT ? "OK" : "Failing",
                              out);
            evbuffer_free(out);
            break;
        }
    }
}

static struct bufferevent *rcv_tls_bev(struct event_base *base, void *arg)
{
    struct rcv *r = arg;
    return bufferevent_openssl_socket_new(base, -1, SSL_new(r->ssl), BUFFEREVENT_SSL_ACCEPTING,
                                          BEV_OPT_CLOSE_ON_FREE);
}

static void rcv_stop(evutil_socket_t sig, short what, void *arg)
{
    event_base_loopexit(arg, NULL);
}

static int rcv_usage(void)
{
    fprintf(stderr, "usage: http_receiver --port P [--port-file F] --mode "
                    "accept|fail500|fail400|fail429|hang|close --log FILE "
                    "[--tls-cert PEM --tls-key PEM]\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct rcv r = {.mode = RCV_ACCEPT};
    const char *port = NULL, *port_file = NULL, *log = NULL, *cert = NULL, *key = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0)
            port = argv[i + 1];
        else if (strcmp(argv[i], "--port-file") == 0)
            port_file = argv[i + 1];
        else if (strcmp(argv[i], "--log") == 0)
            log = argv[i + 1];
        else if (strcmp(argv[i], "--tls-cert") == 0)
            cert = argv[i + 1];
        else if (strcmp(argv[i], "--tls-key") == 0)
            key = argv[i + 1];
        else if (strcmp(argv[i], "--mode") == 0 && rcv_mode_parse(argv[i + 1]) >= 0)
            r.mode = (enum rcv_mode)rcv_mode_parse(argv[i + 1]);
        else
            return rcv_usage();
    }
    if (!port || !log || (argc % 2) != 1 || (!cert != !key))
        return rcv_usage();
    r.log = fopen(log, "a");
    if (!r.log) {
        fprintf(stderr, "http_receiver: %s: %s\n", log, strerror(errno));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    r.base = event_base_new();
    struct evhttp *http = evhttp_new(r.base);
    if (cert) {
        r.ssl = SSL_CTX_new(TLS_server_method());
        if (!r.ssl || SSL_CTX_use_certificate_chain_file(r.ssl, cert) != 1 ||
            SSL_CTX_use_PrivateKey_file(r.ssl, key, SSL_FILETYPE_PEM) != 1) {
            fprintf(stderr, "http_receiver: cannot load %s / %s\n", cert, key);
            return 1;
        }
        evhttp_set_bevcb(http, rcv_tls_bev, &r);
    }
    evhttp_set_gencb(http, rcv_request, &r);
    evhttp_set_timeout(http, 60);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(http, "127.0.0.1",
                                                                    (ev_uint16_t)atoi(port));
    if (!bs) {
        fprintf(stderr, "http_receiver: cannot listen on 127.0.0.1:%s\n", port);
        return 1;
    }
    if (port_file) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl);
        /* Written whole, then renamed: a reader never sees half of it. */
        char tmp[4096];
        snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
        FILE *pf = fopen(tmp, "w");
        if (!pf) {
            fprintf(stderr, "http_receiver: %s: %s\n", tmp, strerror(errno));
            return 1;
        }
        fprintf(pf, "%d\n", ntohs(((struct sockaddr_in *)&ss)->sin_port));
        if (fclose(pf) != 0 || rename(tmp, port_file) != 0) {
            fprintf(stderr, "http_receiver: %s: %s\n", port_file, strerror(errno));
            return 1;
        }
    }
    struct event *term = evsignal_new(r.base, SIGTERM, rcv_stop, r.base);
    struct event *intr = evsignal_new(r.base, SIGINT, rcv_stop, r.base);
    event_add(term, NULL);
    event_add(intr, NULL);
    event_base_dispatch(r.base);
    event_free(term);
    event_free(intr);
    evhttp_free(http);
    if (r.ssl)
        SSL_CTX_free(r.ssl);
    event_base_free(r.base);
    fclose(r.log);
    return 0;
}
