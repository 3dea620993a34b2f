/* SPDX-License-Identifier: Apache-2.0
 * Unit tests for the network sources, driven with real sockets on
 * loopback from the test itself, on the test's own event_base: tcp lines
 * and offsets, oversized lines (reported once, connection kept), many
 * clients, a disconnect mid-line, pause/resume with back-pressure reaching
 * the client, pipeline rejections, bind failures; http 202 for JSON lines
 * and arrays, 400 naming the bad line or element with nothing taken, 413,
 * 404, 405, 503 with Retry-After while paused, raw lines for non-JSON
 * formats.  Every wait is bounded. */
#include "cepd/cep_common.h"
#include "cepd/io.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <event2/event.h>

#define WAIT_MS 5000 /* bound on every wait */
#define REC_KEEP 256

/* What the pipeline (this test) saw. */
struct rec {
    struct io_source *s;
    size_t n;                   /* lines seen */
    size_t batches;
    char *data[REC_KEEP];       /* the first REC_KEEP lines, copied */
    size_t len[REC_KEEP];
    uint64_t off[REC_KEEP], no[REC_KEEP];
    bool too_long[REC_KEEP];
    size_t pause_after;         /* pause the source after this many lines (0: never) */
};

static void rec_line(void *ud, struct io_source *s, const struct io_line *l, struct io_verdict *v)
{
    struct rec *r = ud;
    if (r->n < REC_KEEP) {
        r->data[r->n] = cep_strndup(l->data, l->len);
        r->len[r->n] = l->len;
        r->off[r->n] = l->offset;
        r->no[r->n] = l->line_no;
        r->too_long[r->n] = l->too_long;
    }
    r->n++;
    v->accepted = !(l->len >= 3 && memcmp(l->data, "bad", 3) == 0) &&
                  !(l->len >= 6 && memcmp(l->data, "{\"bad\"", 6) == 0);
    if (!v->accepted)
        v->rej.reason = "test rejects it";
    if (r->pause_after && r->n == r->pause_after)
        s->ops->pause(s);
}

static void rec_batch(void *ud, struct io_source *s)
{
    CEP_UNUSED(s);
    ((struct rec *)ud)->batches++;
}

static void rec_free(struct rec *r)
{
    for (size_t i = 0; i < r->n && i < REC_KEEP; i++)
        cep_free(r->data[i]);
}

/* A port that was free a moment ago (bind 0, read it back, close). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t al = sizeof(a);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    close(fd);
    return ntohs(a.sin_port);
}

struct fixture {
    struct event_base *base;
    struct event *tick;
    struct cfg_source cfg;
    struct io_source s;
    struct rec rec;
    char listen[32];
    int port;
};

static void tick_cb(evutil_socket_t fd, short what, void *ud)
{
    CEP_UNUSED(fd);
    CEP_UNUSED(what);
    CEP_UNUSED(ud);
}

static void fx_init(struct fixture *fx, enum cfg_source_type type,
                    const struct io_source_ops *ops, size_t max_line)
{
    memset(fx, 0, sizeof(*fx));
    fx->base = event_base_new();
    ck_assert_ptr_nonnull(fx->base);
    /* A periodic no-op timer, so one loop turn never blocks for long. */
    fx->tick = event_new(fx->base, -1, EV_PERSIST, tick_cb, NULL);
    struct timeval tv = {0, 5000};
    event_add(fx->tick, &tv);
    fx->port = free_port();
    snprintf(fx->listen, sizeof(fx->listen), "127.0.0.1:%d", fx->port);
    fx->cfg.name = (char *)"t";
    fx->cfg.type = type;
    fx->cfg.listen = fx->listen;
    fx->s.cfg = &fx->cfg;
    fx->s.ops = ops;
    fx->s.base = fx->base;
    fx->s.max_line = max_line;
    fx->s.on_line = rec_line;
    fx->s.on_batch = rec_batch;
    fx->s.ud = &fx->rec;
    fx->rec.s = &fx->s;
}

static void fx_start(struct fixture *fx)
{
    ck_assert_int_eq(fx->s.ops->start(&fx->s), CEP_OK);
}

/* fx_init with the default configuration, then fx_start. */
static void fx_open(struct fixture *fx, enum cfg_source_type type,
                    const struct io_source_ops *ops, size_t max_line)
{
    fx_init(fx, type, ops, max_line);
    fx_start(fx);
}

static void fx_free(struct fixture *fx)
{
    fx->s.ops->stop(&fx->s);
    fx->s.ops->free(&fx->s);
    rec_free(&fx->rec);
    event_free(fx->tick);
    event_base_free(fx->base);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void turn(struct fixture *fx)
{
    event_base_loop(fx->base, EVLOOP_ONCE);
}

/* Run the loop until *n reaches want; fails after WAIT_MS. */
#define RUN_UNTIL(fx, cond)                                                    \
    do {                                                                       \
        int64_t until_ = now_ms() + WAIT_MS;                                   \
        while (!(cond)) {                                                      \
            ck_assert_msg(now_ms() < until_, "timed out waiting for " #cond);  \
            turn(fx);                                                          \
        }                                                                      \
    } while (0)

/* Run the loop for about ms milliseconds. */
static void run_for(struct fixture *fx, int ms)
{
    int64_t until = now_ms() + ms;
    while (now_ms() < until)
        turn(fx);
}

static int client(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static void send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        ck_assert_int_gt(n, 0);
        data += n;
        len -= (size_t)n;
    }
}

#define SEND(fd, lit) send_all((fd), (lit), sizeof(lit) - 1)

static void expect_line(const struct rec *r, size_t i, const char *text)
{
    ck_assert_uint_gt(r->n, i);
    ck_assert_msg(r->len[i] == strlen(text) && memcmp(r->data[i], text, r->len[i]) == 0,
                  "line %zu is '%s', want '%s'", i, r->data[i], text);
}

/* ---- tcp ----------------------------------------------------------------- */

START_TEST(test_tcp_lines)
{
    struct fixture fx;
    fx_open(&fx, CFG_SRC_TCP, &io_src_tcp_ops, 64);
    int c = client(fx.port);
    SEND(c, "a\nbb\nc");
    RUN_UNTIL(&fx, fx.rec.n == 2);
    SEND(c, "cc\nbad line\n");
    RUN_UNTIL(&fx, fx.rec.n == 4);
    expect_line(&fx.rec, 0, "a");
    expect_line(&fx.rec, 1, "bb");
    expect_line(&fx.rec, 2, "ccc");
    expect_line(&fx.rec, 3, "bad line");
    const uint64_t conn = UINT64_C(1) << 40;
    ck_assert_uint_eq(fx.rec.off[0], conn | 0);
    ck_assert_uint_eq(fx.rec.off[1], conn | 2);
    ck_assert_uint_eq(fx.rec.off[2], conn | 5);
    ck_assert_uint_eq(fx.rec.off[3], conn | 9);
    ck_assert_uint_eq(fx.rec.no[2], 3);
    ck_assert_uint_eq(fx.s.st.lines, 4);
    ck_assert_uint_eq(fx.s.st.bytes, 18);
    ck_assert_uint_eq(fx.s.st.rejected, 1);
    ck_assert_uint_eq(fx.s.st.errors, 0);
    ck_assert_uint_eq(fx.s.st.connections, 1);
    ck_assert_uint_ge(fx.rec.batches, 2);
    ck_assert_int_gt(fx.s.st.last_line_at, 0);
    /* A second connection numbers its offsets from 0 again. */
    int c2 = client(fx.port);
    SEND(c2, "x\n");
    RUN_UNTIL(&fx, fx.rec.n == 5);
    ck_assert_uint_eq(fx.rec.off[4], UINT64_C(2) << 40);
    ck_assert_uint_eq(fx.rec.no[4], 1);
    close(c);
    close(c2);
    run_for(&fx, 20);
    ck_assert_uint_eq(fx.s.st.errors, 0);
    ck_assert_uint_eq(fx.s.st.bytes, 20);
    fx_free(&fx);
}
END_TEST

START_TEST(test_tcp_long_lines)
{
    struct fixture fx;
    fx_open(&fx, CFG_SRC_TCP, &io_src_tcp_ops, 64);
    int c = client(fx.port);
    char big[300];
    memset(big, 'x', sizeof(big));
    /* Too long, with its newline in the same read. */
    send_all(c, big, 100);
    SEND(c, "\nok\n");
    RUN_UNTIL(&fx, fx.rec.n == 2);
    ck_assert(fx.rec.too_long[0]);
    ck_assert_uint_eq(fx.rec.len[0], 64);
    expect_line(&fx.rec, 1, "ok");
    ck_assert(!fx.rec.too_long[1]);
    ck_assert_uint_eq(fx.rec.off[1], (UINT64_C(1) << 40) | 101);
    /* Too long, arriving in pieces without a newline: reported once. */
    send_all(c, big, 200);
    RUN_UNTIL(&fx, fx.rec.n == 3);
    send_all(c, big, 300);
    run_for(&fx, 50);
    ck_assert_uint_eq(fx.rec.n, 3);
    SEND(c, "tail\nafter\n");
    RUN_UNTIL(&fx, fx.rec.n == 4);
    ck_assert(fx.rec.too_long[2]);
    ck_assert_uint_eq(fx.rec.len[2], 64);
    expect_line(&fx.rec, 3, "after");
    ck_assert_uint_eq(fx.rec.off[3], (UINT64_C(1) << 40) | (104 + 500 + 5));
    ck_assert_uint_eq(fx.s.st.errors, 2);
    /* A line of exactly max_line bytes is fine. */
    send_all(c, big, 64);
    SEND(c, "\n");
    RUN_UNTIL(&fx, fx.rec.n == 5);
    ck_assert(!fx.rec.too_long[4]);
    ck_assert_uint_eq(fx.rec.len[4], 64);
    close(c);
    fx_free(&fx);
}
END_TEST

START_TEST(test_tcp_many_clients)
{
    enum { N_CLIENTS = 20, N_LINES = 50 };
    struct fixture fx;
    fx_open(&fx, CFG_SRC_TCP, &io_src_tcp_ops, 64);
    int fds[N_CLIENTS];
    for (int i = 0; i < N_CLIENTS; i++)
        fds[i] = client(fx.port);
    for (int j = 0; j < N_LINES; j++) {
        for (int i = 0; i < N_CLIENTS; i++) {
            char line[32];
            int n = snprintf(line, sizeof(line), "c%d l%d\n", i, j);
            send_all(fds[i], line, (size_t)n);
        }
    }
    RUN_UNTIL(&fx, fx.rec.n == N_CLIENTS * N_LINES);
    ck_assert_uint_eq(fx.s.st.connections, N_CLIENTS);
    for (int i = 0; i < N_CLIENTS; i++)
        close(fds[i]);
    run_for(&fx, 20);
    ck_assert_uint_eq(fx.s.st.errors, 0);
    fx_free(&fx);
}
END_TEST

/* Lines of each client arrive in order, with that client's connection
 * number in their offsets. */
START_TEST(test_tcp_order_per_client)
{
    struct fixture fx;
    fx_open(&fx, CFG_SRC_TCP, &io_src_tcp_ops, 64);
    int a = client(fx.port);
    RUN_UNTIL(&fx, fx.s.st.connections == 1);
    int b = client(fx.port);
    RUN_UNTIL(&fx, fx.s.st.connections == 2);
    for (int j = 0; j < 40; j++) {
        char line[16];
        int n = snprintf(line, sizeof(line), "%d\n", j);
        send_all(j % 2 ? b : a, line, (size_t)n);
    }
    RUN_UNTIL(&fx, fx.rec.n == 40);
    int last[3] = {-1, -1, -1};
    for (size_t i = 0; i < 40; i++) {
        uint64_t conn = fx.rec.off[i] >> 40;
        ck_assert(conn == 1 || conn == 2);
        int v = (int)strtol(fx.rec.data[i], NULL, 10);
        ck_assert_int_eq(v % 2, conn == 1 ? 0 : 1);
        ck_assert_int_gt(v, last[conn]);
        last[conn] = v;
    }
    close(a);
    close(b);
    fx_free(&fx);
}
END_TEST

START_TEST(test_tcp_disconnect_mid_line)
{
    struct fixture fx;
    fx_open(&fx, CFG_SRC_TCP, &io_src_tcp_ops, 64);
    int c = client(fx.port);
    SEND(c, "full\npart");
    RUN_UNTIL(&fx, fx.rec.n == 1);
    close(c);
    RUN_UNTIL(&fx, fx.s.st.errors == 1);
    ck_assert_uint_eq(fx.rec.n, 1);
    ck_assert_uint_eq(fx.s.st.bytes, 9);
    /* The source keeps serving. */
    c = client(fx.port);
    SEND(c, "next\n");
    RUN_UNTIL(&fx, fx.rec.n == 2);
    expect_line(&fx.rec, 1, "next");
    close(c);
    fx_free(&fx);
}
END_TEST

START_TEST(test_tcp_pause_resume)
{
    struct fixture fx;
    fx_open(&fx, CFG_SRC_TCP, &io_src_tcp_ops, 64);
    fx.rec.pause_after = 2;
    int c = client(fx.port);
    SEND(c, "1\n2\n3\n4\n");
    RUN_UNTIL(&fx, fx.rec.n == 2);
    ck_assert(fx.s.paused);
    run_for(&fx, 50);
    ck_assert_uint_eq(fx.rec.n, 2); /* 3 and 4 wait in the buffer */
    /* Back-pressure reaches the client: its writes stop being taken. */
    ck_assert_int_eq(fcntl(c, F_SETFL, O_NONBLOCK), 0);
    int sndbuf = 16384;
    ck_assert_int_eq(setsockopt(c, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
    static const char line[] = "abcdefg\n";
    size_t sent = 0;
    bool blocked = false;
    while (sent < (size_t)64 * 1024 * 1024) {
        ssize_t n = write(c, line + sent % 8, 8 - sent % 8);
        if (n < 0) {
            ck_assert_int_eq(errno, EAGAIN);
            turn(&fx);
            n = write(c, line + sent % 8, 8 - sent % 8);
            if (n < 0) {
                blocked = true;
                break;
            }
        }
        sent += (size_t)n;
    }
    ck_assert_msg(blocked, "client never blocked after %zu bytes", sent);
    ck_assert_uint_eq(fx.rec.n, 2);
    fx.rec.pause_after = 0;
    fx.s.ops->resume(&fx.s);
    while (sent % 8) { /* finish the last line */
        ssize_t n = write(c, line + sent % 8, 8 - sent % 8);
        if (n > 0)
            sent += (size_t)n;
        else
            turn(&fx);
    }
    RUN_UNTIL(&fx, fx.rec.n == 4 + sent / 8);
    expect_line(&fx.rec, 2, "3");
    expect_line(&fx.rec, 3, "4");
    expect_line(&fx.rec, 4, "abcdefg");
    ck_assert_uint_eq(fx.s.st.errors, 0);
    close(c);
    fx_free(&fx);
}
END_TEST

/* Stopping hands over the complete lines a paused source still holds;
 * the partial one is counted as dropped. */
START_TEST(test_tcp_stop_while_paused)
{
    struct fixture fx;
    fx_open(&fx, CFG_SRC_TCP, &io_src_tcp_ops, 64);
    fx.rec.pause_after = 1;
    int c = client(fx.port);
    SEND(c, "1\n2\n3");
    RUN_UNTIL(&fx, fx.rec.n == 1);
    run_for(&fx, 20);
    fx.s.ops->stop(&fx.s);
    ck_assert_uint_eq(fx.rec.n, 2);
    expect_line(&fx.rec, 1, "2");
    ck_assert_uint_eq(fx.s.st.errors, 1);
    close(c);
    fx_free(&fx);
}
END_TEST

START_TEST(test_tcp_bind_fails)
{
    struct fixture a, b;
    fx_init(&a, CFG_SRC_TCP, &io_src_tcp_ops, 64);
    fx_start(&a);
    fx_init(&b, CFG_SRC_TCP, &io_src_tcp_ops, 64);
    b.cfg.listen = a.listen; /* taken */
    ck_assert_int_eq(b.s.ops->start(&b.s), CEP_ERR);
    b.cfg.listen = (char *)"no-port-here";
    ck_assert_int_eq(b.s.ops->start(&b.s), CEP_ERR);
    b.cfg.listen = (char *)"127.0.0.1:99999";
    ck_assert_int_eq(b.s.ops->start(&b.s), CEP_ERR);
    b.cfg.listen = (char *)"[::1:80";
    ck_assert_int_eq(b.s.ops->start(&b.s), CEP_ERR);
    fx_free(&b);
    fx_free(&a);
}
END_TEST

/* ---- http ---------------------------------------------------------------- */

struct http_resp {
    int status;
    char head[1024];
    char body[1024];
};

/* Send a raw request on a new connection and read the response until the
 * server closes (requests say Connection: close), running the loop while
 * waiting. */
static void http_raw(struct fixture *fx, const char *req, size_t len, struct http_resp *out)
{
    int fd = client(fx->port);
    ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    char buf[8192];
    size_t got = 0, sent = 0;
    int64_t until = now_ms() + WAIT_MS;
    for (;;) {
        ck_assert_msg(now_ms() < until, "http request timed out");
        if (sent < len) {
            ssize_t n = write(fd, req + sent, len - sent);
            if (n > 0)
                sent += (size_t)n;
            else if (n < 0 && errno != EAGAIN)
                sent = len; /* the server answered early and closed */
        }
        ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            break;
        if (n > 0)
            got += (size_t)n;
        else
            turn(fx);
    }
    close(fd);
    buf[got] = '\0';
    memset(out, 0, sizeof(*out));
    ck_assert_msg(sscanf(buf, "HTTP/1.%*d %d", &out->status) == 1, "no status in '%s'", buf);
    char *sep = strstr(buf, "\r\n\r\n");
    ck_assert_ptr_nonnull(sep);
    snprintf(out->head, sizeof(out->head), "%.*s", (int)(sep - buf), buf);
    snprintf(out->body, sizeof(out->body), "%s", sep + 4);
}

static void http_post(struct fixture *fx, const char *path, const char *body, size_t len,
                      struct http_resp *out)
{
    char *req = cep_asprintf("POST %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                             "Content-Length: %zu\r\n\r\n",
                             path, len);
    size_t hl = strlen(req);
    req = cep_realloc(req, hl + len + 1);
    memcpy(req + hl, body, len);
    http_raw(fx, req, hl + len, out);
    cep_free(req);
}

#define POST(fx, body, out) http_post((fx), "/events", (body), sizeof(body) - 1, (out))

START_TEST(test_http_lines)
{
    struct fixture fx;
    fx_open(&fx, CFG_SRC_HTTP, &io_src_http_ops, 64);
    struct http_resp r;
    POST(&fx, "{\"a\":1}\n\n{\"a\": 2}\r\n  \n{\"bad\":3}", &r);
    ck_assert_int_eq(r.status, 202);
    ck_assert_str_eq(r.body, "{\"accepted\":2,\"rejected\":1}\n");
    ck_assert_uint_eq(fx.rec.n, 3);
    expect_line(&fx.rec, 0, "{\"a\":1}");
    expect_line(&fx.rec, 1, "{\"a\": 2}");
    ck_assert_uint_eq(fx.rec.no[1], 3);
    ck_assert_uint_eq(fx.rec.off[1], (UINT64_C(1) << 40) | 9);
    ck_assert_uint_eq(fx.rec.no[2], 5);
    ck_assert_uint_eq(fx.rec.batches, 1);
    ck_assert_uint_eq(fx.s.st.lines, 3);
    ck_assert_uint_eq(fx.s.st.rejected, 1);
    ck_assert_uint_eq(fx.s.st.errors, 0);
    /* The next request is numbered 2. */
    POST(&fx, "{}", &r);
    ck_assert_int_eq(r.status, 202);
    ck_assert_uint_eq(fx.rec.off[3], UINT64_C(2) << 40);
    POST(&fx, "", &r);
    ck_assert_int_eq(r.status, 202);
    ck_assert_str_eq(r.body, "{\"accepted\":0,\"rejected\":0}\n");
    ck_assert_uint_ge(fx.s.st.connections, 3);
    fx_free(&fx);
}
END_TEST

START_TEST(test_http_array)
{
    struct fixture fx;
    fx_open(&fx, CFG_SRC_HTTP, &io_src_http_ops, 64);
    struct http_resp r;
    POST(&fx, " [ {\"a\":1} ,\n{\"b\":[1,{\"c\":\"]\"}]}, {\"bad\":0}]\n", &r);
    ck_assert_int_eq(r.status, 202);
    ck_assert_str_eq(r.body, "{\"accepted\":2,\"rejected\":1}\n");
    expect_line(&fx.rec, 0, "{\"a\":1}");
    expect_line(&fx.rec, 1, "{\"b\":[1,{\"c\":\"]\"}]}");
    ck_assert_uint_eq(fx.rec.no[1], 2);
    ck_assert_uint_eq(fx.rec.off[0], (UINT64_C(1) << 40) | 3);
    POST(&fx, "[]", &r);
    ck_assert_int_eq(r.status, 202);
    ck_assert_str_eq(r.body, "{\"accepted\":0,\"rejected\":0}\n");
    fx_free(&fx);
}
END_TEST

struct bad_case {
    const char *body;
    const char *error;
};

static const struct bad_case bad_cases[] = {
    {"{\"a\":1}\n{\"a\":\n{}", "{\"error\":\"line 2: "},
    {"{\"a\":1}\n\n[1]", "{\"error\":\"line 3: not a JSON object\",\"line\":3}"},
    {"{\"a\":1} x", "{\"error\":\"line 1: trailing characters\",\"line\":1}"},
    {"{\"a\":\"\xff\"}", "{\"error\":\"line 1: invalid UTF-8\",\"line\":1}"},
    {"{\"a\":\"0123456789012345678901234567890123456789012345678901234567890123\"}",
     "{\"error\":\"line 1: longer than max_line_bytes\",\"line\":1}"},
    {"[{\"a\":1}, 3]", "{\"error\":\"element 2: not a JSON object\",\"element\":2}"},
    {"[{\"a\":1}", "{\"error\":\"element 1: unterminated array\",\"element\":1}"},
    {"[{\"a\":1} {}]", "{\"error\":\"element 1: expected ',' or ']'\",\"element\":1}"},
    {"[{\"a\":1},]", "{\"error\":\"element 2: not a JSON object\",\"element\":2}"},
    {"[{\"a\":1}] {}", "{\"error\":\"element 2: trailing characters after the array\","
                       "\"element\":2}"},
    {"[{\"a\":}]", "{\"error\":\"element 1: "},
};

START_TEST(test_http_bad)
{
    struct fixture fx;
    fx_open(&fx, CFG_SRC_HTTP, &io_src_http_ops, 64);
    const struct bad_case *c = &bad_cases[_i];
    struct http_resp r;
    http_post(&fx, "/events", c->body, strlen(c->body), &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_msg(strncmp(r.body, c->error, strlen(c->error)) == 0, "body '%s', want '%s'",
                  r.body, c->error);
    /* All or nothing: the good lines before the bad one were not taken. */
    ck_assert_uint_eq(fx.rec.n, 0);
    ck_assert_uint_eq(fx.s.st.errors, 1);
    fx_free(&fx);
}
END_TEST

START_TEST(test_http_too_large)
{
    struct fixture fx;
    fx_init(&fx, CFG_SRC_HTTP, &io_src_http_ops, 64);
    fx.cfg.max_body_bytes = 1000;
    fx_start(&fx);
    char *body = cep_malloc(5000);
    for (size_t i = 0; i < 5000; i += 10)
        memcpy(body + i, "{\"a\":123}\n", 10);
    struct http_resp r;
    http_post(&fx, "/events", body, 5000, &r);
    ck_assert_int_eq(r.status, 413);
    ck_assert_uint_eq(fx.rec.n, 0);
    http_post(&fx, "/events", body, 1000, &r);
    ck_assert_int_eq(r.status, 202);
    ck_assert_uint_eq(fx.rec.n, 100);
    cep_free(body);
    fx_free(&fx);
}
END_TEST

START_TEST(test_http_not_found_and_method)
{
    struct fixture fx;
    fx_open(&fx, CFG_SRC_HTTP, &io_src_http_ops, 64);
    struct http_resp r;
    static const char get_other[] = "GET /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    http_raw(&fx, get_other, sizeof(get_other) - 1, &r);
    ck_assert_int_eq(r.status, 404);
    http_post(&fx, "/event", "{}", 2, &r);
    ck_assert_int_eq(r.status, 404);
    static const char get[] = "GET /events HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    http_raw(&fx, get, sizeof(get) - 1, &r);
    ck_assert_int_eq(r.status, 405);
    ck_assert_ptr_nonnull(strstr(r.head, "\r\nAllow: POST"));
    static const char put[] = "PUT /events HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                              "Content-Length: 2\r\n\r\n{}";
    http_raw(&fx, put, sizeof(put) - 1, &r);
    ck_assert_int_eq(r.status, 405);
    ck_assert_uint_eq(fx.rec.n, 0);
    ck_assert_uint_eq(fx.s.st.errors, 4);
    fx_free(&fx);
}
END_TEST

START_TEST(test_http_paused)
{
    struct fixture fx;
    fx_open(&fx, CFG_SRC_HTTP, &io_src_http_ops, 64);
    fx.s.ops->pause(&fx.s);
    struct http_resp r;
    POST(&fx, "{\"a\":1}\n", &r);
    ck_assert_int_eq(r.status, 503);
    ck_assert_ptr_nonnull(strstr(r.head, "\r\nRetry-After: 1"));
    ck_assert_uint_eq(fx.rec.n, 0);
    fx.s.ops->resume(&fx.s);
    POST(&fx, "{\"a\":1}\n", &r);
    ck_assert_int_eq(r.status, 202);
    ck_assert_uint_eq(fx.rec.n, 1);
    /* Paused in the middle of a request: the rest of it is still taken. */
    fx.rec.pause_after = 2;
    POST(&fx, "{\"a\":2}\n{\"a\":3}\n{\"a\":4}\n", &r);
    ck_assert_int_eq(r.status, 202);
    ck_assert_str_eq(r.body, "{\"accepted\":3,\"rejected\":0}\n");
    ck_assert_uint_eq(fx.rec.n, 4);
    POST(&fx, "{\"a\":5}\n", &r);
    ck_assert_int_eq(r.status, 503);
    fx_free(&fx);
}
END_TEST

START_TEST(test_http_raw_format)
{
    struct fixture fx;
    fx_init(&fx, CFG_SRC_HTTP, &io_src_http_ops, 64);
    fx.cfg.format = CFG_FMT_SYSLOG;
    fx_start(&fx);
    struct http_resp r;
    POST(&fx, "<13>Mar  5 10:11:12 h sshd[1]: x\n[not json]\n", &r);
    ck_assert_int_eq(r.status, 202);
    ck_assert_uint_eq(fx.rec.n, 2);
    expect_line(&fx.rec, 1, "[not json]");
    fx_free(&fx);
}
END_TEST

START_TEST(test_http_bind_fails)
{
    struct fixture a, b;
    fx_init(&a, CFG_SRC_TCP, &io_src_tcp_ops, 64);
    fx_start(&a);
    fx_init(&b, CFG_SRC_HTTP, &io_src_http_ops, 64);
    b.cfg.listen = a.listen;
    ck_assert_int_eq(b.s.ops->start(&b.s), CEP_ERR);
    fx_free(&b);
    fx_free(&a);
}
END_TEST

static Suite *netsrc_suite(void)
{
    Suite *s = suite_create("netsrc");
    TCase *tc = tcase_create("tcp");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_tcp_lines);
    tcase_add_test(tc, test_tcp_long_lines);
    tcase_add_test(tc, test_tcp_many_clients);
    tcase_add_test(tc, test_tcp_order_per_client);
    tcase_add_test(tc, test_tcp_disconnect_mid_line);
    tcase_add_test(tc, test_tcp_pause_resume);
    tcase_add_test(tc, test_tcp_stop_while_paused);
    tcase_add_test(tc, test_tcp_bind_fails);
    suite_add_tcase(s, tc);
    tc = tcase_create("http");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_http_lines);
    tcase_add_test(tc, test_http_array);
    tcase_add_loop_test(tc, test_http_bad, 0, (int)CEP_ARRAY_LEN(bad_cases));
    tcase_add_test(tc, test_http_too_large);
    tcase_add_test(tc, test_http_not_found_and_method);
    tcase_add_test(tc, test_http_paused);
    tcase_add_test(tc, test_http_raw_format);
    tcase_add_test(tc, test_http_bind_fails);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(netsrc_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
