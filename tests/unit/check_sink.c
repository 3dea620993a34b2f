/* SPDX-License-Identifier: Apache-2.0
 * Unit tests for the sinks and the redis_stream source, with real peers
 * on loopback and the test's own event_base: the queue ring and on_space;
 * file (append, reopen, refusal), stdout and stream sinks; back-off bounds;
 * retry, circuit breaker and dead letters driven by a failing device, a
 * real http_receiver (fail500, fail400, hang, close) and a closed port;
 * webhook headers and HMAC, HTTPS with and without verification; the
 * redis sink against a real redis-server started here (xadd with dedup,
 * publish, lpush, NOSCRIPT fallback, Redis killed and restarted); the
 * redis_stream source (group creation, ack only after processing, pending
 * entries re-read, reconnect).  Every wait is bounded. */
#include "cepd/cep_common.h"
#include "cepd/io.h"
#include "../../src/io/sinks/sink_int.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cepd/sbuf.h"

#define WAIT_US (10 * CEP_USEC_PER_SEC) /* bound on every wait */

/* ---- helpers ----------------------------------------------------------- */

static char tdir[64];

static void tdir_make(void)
{
    snprintf(tdir, sizeof(tdir), "/tmp/cepd-sink-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tdir));
}

static void tdir_remove(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tdir);
    ck_assert_int_eq(system(cmd), 0);
}

static char *tpath(const char *name)
{
    return cep_asprintf("%s/%s", tdir, name);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return cep_strdup("");
    struct sbuf sb;
    sbuf_init(&sb);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        sbuf_append(&sb, buf, n);
    fclose(f);
    return sbuf_steal(&sb);
}

static size_t count_str(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* Occurrences of needle in the file at path (0 for a missing file). */
static size_t file_count(const char *path, const char *needle)
{
    char *text = slurp(path);
    size_t n = count_str(text, needle);
    cep_free(text);
    return n;
}

/* Lines of text holding both a and b. */
static size_t count_lines_with(const char *text, const char *a, const char *b)
{
    size_t n = 0;
    for (const char *p = text; *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char *line = cep_strndup(p, len);
        n += strstr(line, a) && strstr(line, b);
        cep_free(line);
        p += len + (e != NULL);
    }
    return n;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * CEP_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

/* Run the loop until pred(arg) holds; false when WAIT_US passed first. */
static bool loop_until(struct event_base *b, bool (*pred)(void *), void *arg)
{
    struct event *tick = event_new(b, -1, EV_PERSIST, tick_cb, NULL);
    struct timeval tv = {0, 10000};
    event_add(tick, &tv);
    int64_t end = mono_us() + WAIT_US;
    bool ok;
    while (!(ok = pred(arg)) && mono_us() < end)
        event_base_loop(b, EVLOOP_ONCE);
    event_free(tick);
    return ok;
}

static void loop_for(struct event_base *b, int64_t us)
{
    struct timeval tv;
    sink_tv(&tv, us);
    event_base_loopexit(b, &tv);
    event_base_dispatch(b);
}

static bool sink_empty(void *arg)
{
    struct io_sink *s = arg;
    return s->q_len == 0 && !s->busy;
}

static void alert_make(struct eng_alert *a, char *id, char *json, int i)
{
    snprintf(id, 33, "%032x", (unsigned)i + 0xa1e00u);
    sprintf(json, "{\"alert_id\":\"%s\",\"n\":%d}", id, i);
    memset(a, 0, sizeof(*a));
    a->id = id;
    a->json = json;
    a->len = strlen(json);
    a->rule_index = (size_t)i;
}

static void enqueue_n(struct io_sink *s, int from, int n)
{
    for (int i = from; i < from + n; i++) {
        char id[33], json[96];
        struct eng_alert a;
        alert_make(&a, id, json, i);
        io_sink_enqueue(s, &a);
    }
}

static struct cfg_sink sink_cfg(enum cfg_sink_type t, const char *name)
{
    struct cfg_sink c = {.name = (char *)name, .type = t, .max_retries = -1, .tls_verify = true};
    return c;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t sl = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd);
    return ntohs(sa.sin_port);
}

static pid_t spawn(const char *const argv[])
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, STDOUT_FILENO);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static void reap(pid_t pid, int sig)
{
    if (pid <= 0)
        return;
    kill(pid, sig);
    int st;
    waitpid(pid, &st, 0);
}

/* ---- http_receiver ----------------------------------------------------- */

struct rcv {
    pid_t pid;
    int port;
    char *log;
};

static void rcv_start(struct rcv *r, const char *mode, bool tls)
{
    const char *top = getenv("TOP_BUILDDIR");
    char *bin = cep_asprintf("%s/tests/tools/http_receiver", top ? top : ".");
    char *pf = tpath("rcv.port");
    r->log = tpath("rcv.log");
    unlink(pf);
    char *cert = tpath("cert.pem"), *key = tpath("key.pem");
    if (tls) {
        char *cmd = cep_asprintf("openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s "
                                 "-days 1 -subj /CN=127.0.0.1 >/dev/null 2>&1",
                                 key, cert);
        ck_assert_int_eq(system(cmd), 0);
        cep_free(cmd);
    }
    const char *argv[] = {bin,   "--port", "0",    "--port-file", pf,   "--mode",
                          mode,  "--log",  r->log, tls ? "--tls-cert" : NULL,
                          cert,  "--tls-key", key, NULL};
    r->pid = spawn(argv);
    int64_t end = mono_us() + WAIT_US;
    FILE *f = NULL;
    while (!(f = fopen(pf, "r")) && mono_us() < end)
        usleep(10000);
    ck_assert_msg(f != NULL, "http_receiver did not start (%s)", bin);
    ck_assert_int_eq(fscanf(f, "%d", &r->port), 1);
    fclose(f);
    cep_free(pf);
    cep_free(bin);
    cep_free(cert);
    cep_free(key);
}

static void rcv_stop(struct rcv *r)
{
    reap(r->pid, SIGTERM);
    cep_free(r->log);
}

/* POST /_mode?m=MODE with a plain blocking socket. */
static void rcv_mode(const struct rcv *r, const char *mode)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)r->port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    char req[160];
    int n = snprintf(req, sizeof(req),
                     "POST /_mode?m=%s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n",
                     mode);
    ck_assert_int_eq(write(fd, req, (size_t)n), n);
    char buf[256];
    ssize_t k = read(fd, buf, sizeof(buf) - 1);
    ck_assert_int_gt(k, 12);
    buf[k] = '\0';
    ck_assert_msg(strstr(buf, " 200 ") != NULL, "mode switch refused: %s", buf);
    close(fd);
}

/* ---- config ------------------------------------------------------------ */

static struct cfg *cfg_text(const char *text, struct diag_list *dl)
{
    diag_list_init(dl);
    return cfg_load_mem("t.yaml", "/etc/cepd", text, strlen(text), dl);
}

START_TEST(test_sink_config)
{
    struct diag_list dl;
    struct cfg *c = cfg_text(
            "dead_letter: /var/lib/cepd/dead.jsonl\n"
            "sources:\n"
            "  - {name: bus, type: redis_stream, url: 'redis://h', key: ev, consumer: c7}\n"
            "sinks:\n"
            "  - {name: rd, type: redis, url: 'redis://h', key: k, maxlen: 1000, ttl: 2h,\n"
            "     queue_size: 50, backoff_max: 2s, dead_letter: rd.dead}\n"
            "  - name: hook\n"
            "    type: webhook\n"
            "    url: https://x/y\n"
            "    tls_verify: false\n"
            "    headers: {Authorization: Bearer abc, X-A: b}\n",
            &dl);
    ck_assert_msg(c != NULL && dl.n == 0, "%s", dl.n ? dl.items[0].msg : "");
    ck_assert_str_eq(c->sources[0].consumer, "c7");
    const struct cfg_sink *rd = cfg_find_sink(c, "rd"), *hook = cfg_find_sink(c, "hook");
    ck_assert_int_eq(rd->maxlen, 1000);
    ck_assert_int_eq(rd->ttl, 2 * 3600 * CEP_USEC_PER_SEC);
    ck_assert_uint_eq(rd->queue_size, 50);
    ck_assert_int_eq(rd->backoff_max, 2 * CEP_USEC_PER_SEC);
    ck_assert_str_eq(rd->dead_letter, "/etc/cepd/rd.dead");
    ck_assert(rd->tls_verify);
    ck_assert_str_eq(hook->dead_letter, "/var/lib/cepd/dead.jsonl"); /* the global one */
    ck_assert(!hook->tls_verify);
    ck_assert_uint_eq(hook->n_headers, 2);
    ck_assert_str_eq(hook->headers[0], "Authorization");
    ck_assert_str_eq(hook->headers[1], "Bearer abc");
    ck_assert_str_eq(hook->headers[3], "b");
    cfg_free(c);
    diag_list_free(&dl);

    c = cfg_text("sinks:\n"
                 "  - {name: hook, type: webhook, url: 'http://x/', maxlen: 5}\n"
                 "  - {name: rd, type: redis, url: 'redis://h', key: k, tls_verify: false,\n"
                 "     queue_size: 0}\n",
                 &dl);
    ck_assert_ptr_null(c);
    ck_assert_uint_eq(dl.n, 3);
    ck_assert_str_eq(dl.items[0].msg, "'maxlen' is for redis sinks");
    ck_assert_str_eq(dl.items[1].msg, "queue_size must be at least 1");
    ck_assert_str_eq(dl.items[2].msg, "'tls_verify' is for webhook sinks");
    diag_list_free(&dl);
}
END_TEST

/* ---- queue ------------------------------------------------------------- */

static int space_calls;

static void on_space(void *ud, struct io_sink *s)
{
    space_calls++;
}

START_TEST(test_queue_ring)
{
    struct event_base *b = event_base_new();
    struct cfg_sink c = sink_cfg(CFG_SINK_STREAM, "q");
    c.queue_size = 4;
    struct io_sink s;
    io_sink_init(&s, &c, b);
    s.on_space = on_space;
    space_calls = 0;
    ck_assert_uint_eq(s.capacity, 4);
    ck_assert_uint_eq(s.max_retries, IO_SINK_RETRIES_DEFAULT);
    enqueue_n(&s, 0, 3);
    ck_assert(!io_sink_full(&s));
    io_sink_delivered(&s, 2); /* the head moves, so the ring wraps below */
    enqueue_n(&s, 3, 40);     /* past the capacity and the ring's size: it grows */
    ck_assert(io_sink_full(&s));
    ck_assert_uint_eq(s.q_len, 41);
    ck_assert_uint_eq(s.st.depth, 41);
    ck_assert_uint_eq(s.st.queued, 43);
    for (size_t i = 0; i < s.q_len; i++) {
        char want[40];
        snprintf(want, sizeof(want), "\"n\":%zu}", i + 2);
        ck_assert_ptr_nonnull(strstr(io_sink_at(&s, i)->json, want));
    }
    ck_assert_str_eq(io_sink_at(&s, 0)->id, "000000000000000000000000000a1e02");
    io_sink_delivered(&s, 37);
    ck_assert_int_eq(space_calls, 0); /* 4 left: still at capacity */
    io_sink_delivered(&s, 1);
    ck_assert_int_eq(space_calls, 1);
    io_sink_delivered(&s, 3);
    ck_assert_int_eq(space_calls, 1);
    ck_assert_uint_eq(s.st.delivered, 43);
    ck_assert_uint_eq(s.q_len, 0);
    io_sink_free(&s);
    event_base_free(b);
}
END_TEST

START_TEST(test_backoff_bounds)
{
    struct event_base *b = event_base_new();
    struct cfg_sink c = sink_cfg(CFG_SINK_STREAM, "b");
    c.backoff_max = 2 * CEP_USEC_PER_SEC;
    struct io_sink s;
    io_sink_init(&s, &c, b);
    ck_assert_int_eq(sink_backoff(&s, 1), IO_SINK_BACKOFF_MIN);
    int64_t lo = INT64_MAX, hi = 0;
    for (uint32_t n = 2; n < 40; n++) {
        int64_t cap = n < 10 ? IO_SINK_BACKOFF_MIN << (n - 1) : INT64_MAX;
        if (cap > c.backoff_max)
            cap = c.backoff_max;
        for (int k = 0; k < 50; k++) {
            int64_t d = sink_backoff(&s, n);
            ck_assert_int_ge(d, IO_SINK_BACKOFF_MIN);
            ck_assert_int_le(d, cap);
            if (n == 30) {
                lo = d < lo ? d : lo;
                hi = d > hi ? d : hi;
            }
        }
    }
    ck_assert_msg(hi - lo > CEP_USEC_PER_SEC / 2, "no jitter: %lld..%lld", (long long)lo,
                  (long long)hi);
    io_sink_free(&s);
    event_base_free(b);
}
END_TEST

/* ---- file, stdout, stream --------------------------------------------- */

START_TEST(test_file_sink)
{
    tdir_make();
    struct event_base *b = event_base_new();
    char *path = tpath("alerts.jsonl"), *bad = tpath("no/such/dir/a.jsonl");
    struct cfg_sink c = sink_cfg(CFG_SINK_FILE, "f");
    c.path = bad;
    struct io_sink s;
    io_sink_init(&s, &c, b);
    ck_assert_int_eq(s.ops->start(&s), CEP_ERR); /* refuses to start */
    io_sink_free(&s);

    c.path = path;
    io_sink_init(&s, &c, b);
    ck_assert_int_eq(s.ops->start(&s), CEP_OK);
    enqueue_n(&s, 0, 3);
    ck_assert_uint_eq(s.st.delivered, 0); /* kicks are deferred to the loop */
    ck_assert(loop_until(b, sink_empty, &s));
    char *got = slurp(path);
    ck_assert_str_eq(got, "{\"alert_id\":\"000000000000000000000000000a1e00\",\"n\":0}\n"
                          "{\"alert_id\":\"000000000000000000000000000a1e01\",\"n\":1}\n"
                          "{\"alert_id\":\"000000000000000000000000000a1e02\",\"n\":2}\n");
    cep_free(got);

    /* logrotate: moved away, then reopened. */
    char *moved = tpath("alerts.jsonl.1");
    ck_assert_int_eq(rename(path, moved), 0);
    s.ops->reopen(&s);
    enqueue_n(&s, 3, 1);
    ck_assert(loop_until(b, sink_empty, &s));
    got = slurp(path);
    ck_assert_str_eq(got, "{\"alert_id\":\"000000000000000000000000000a1e03\",\"n\":3}\n");
    cep_free(got);
    got = slurp(moved);
    ck_assert_uint_eq(count_str(got, "\n"), 3);
    cep_free(got);

    /* A reopen that fails keeps the old file. */
    c.path = bad;
    s.ops->reopen(&s);
    c.path = path;
    enqueue_n(&s, 4, 1);
    ck_assert(loop_until(b, sink_empty, &s));
    got = slurp(path);
    ck_assert_uint_eq(count_str(got, "\n"), 2);
    cep_free(got);
    ck_assert_uint_eq(s.st.delivered, 5);
    ck_assert_uint_eq(s.st.retried, 0);
    io_sink_free(&s);
    event_base_free(b);
    cep_free(path);
    cep_free(bad);
    cep_free(moved);
    tdir_remove();
}
END_TEST

START_TEST(test_stdout_sink)
{
    tdir_make();
    struct event_base *b = event_base_new();
    char *path = tpath("stdout");
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, STDOUT_FILENO);
    close(fd);
    struct cfg_sink c = sink_cfg(CFG_SINK_STDOUT, "stdout");
    struct io_sink s;
    io_sink_init(&s, &c, b);
    ck_assert_int_eq(s.ops->start(&s), CEP_OK);
    enqueue_n(&s, 0, 300); /* more than one writev takes */
    bool ok = loop_until(b, sink_empty, &s);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    ck_assert(ok);
    char *got = slurp(path);
    ck_assert_uint_eq(count_str(got, "\n"), 300);
    ck_assert_ptr_nonnull(strstr(got, "\"n\":299}\n"));
    ck_assert_uint_eq(s.st.delivered, 300);
    cep_free(got);
    io_sink_free(&s);
    event_base_free(b);
    cep_free(path);
    tdir_remove();
}
END_TEST

static void loop_collect(void *ud, struct io_sink *s, const struct io_alert *a)
{
    sbuf_append(ud, a->json, a->len);
    sbuf_putc(ud, '\n');
}

START_TEST(test_stream_sink)
{
    struct event_base *b = event_base_new();
    struct cfg_sink c = sink_cfg(CFG_SINK_STREAM, "loop");
    c.stream = (char *)"derived";
    struct sbuf got;
    sbuf_init(&got);
    struct io_sink s;
    io_sink_init(&s, &c, b);
    s.loopback = loop_collect;
    s.ud = &got;
    ck_assert_int_eq(s.ops->start(&s), CEP_OK);
    enqueue_n(&s, 0, 2);
    ck_assert_uint_eq(got.len, 0); /* never inside the enqueueing call */
    ck_assert(loop_until(b, sink_empty, &s));
    ck_assert_str_eq(got.buf, "{\"alert_id\":\"000000000000000000000000000a1e00\",\"n\":0}\n"
                              "{\"alert_id\":\"000000000000000000000000000a1e01\",\"n\":1}\n");
    ck_assert_uint_eq(s.st.delivered, 2);
    sbuf_free(&got);
    io_sink_free(&s);
    event_base_free(b);
}
END_TEST

/* ---- retry, breaker, dead letter -------------------------------------- */

static bool sink_retried(void *arg)
{
    struct io_sink *s = arg;
    return s->st.retried >= 1;
}

static bool sink_retried_twice(void *arg)
{
    struct io_sink *s = arg;
    return s->st.retried >= 2;
}

static bool sink_failed(void *arg)
{
    struct io_sink *s = arg;
    return s->st.last_error[0] != '\0';
}

static bool sink_gave_up(void *arg)
{
    struct io_sink *s = arg;
    return s->q_len == 0;
}

START_TEST(test_dead_letter_breaker)
{
    tdir_make();
    struct event_base *b = event_base_new();
    char *dead = tpath("dead.jsonl");
    struct cfg_sink c = sink_cfg(CFG_SINK_FILE, "full");
    c.path = (char *)"/dev/full"; /* every write fails: ENOSPC */
    c.max_retries = 3;
    c.backoff_max = 200 * 1000;
    c.dead_letter = dead;
    struct io_sink s;
    io_sink_init(&s, &c, b);
    ck_assert_int_eq(s.ops->start(&s), CEP_OK);
    enqueue_n(&s, 0, 2);
    ck_assert(loop_until(b, sink_gave_up, &s));
    /* 3 attempts each; the 5th failure in a row opened the circuit, whose
     * probe was the 6th. */
    ck_assert_uint_eq(s.st.dead_lettered, 2);
    ck_assert_uint_eq(s.st.retried, 4);
    ck_assert_uint_eq(s.st.delivered, 0);
    ck_assert_uint_eq(s.st.circuit_opens, 1);
    ck_assert_ptr_nonnull(strstr(s.st.last_error, "No space left on device"));
    char *got = slurp(dead);
    ck_assert_uint_eq(count_str(got, "\n"), 2);
    ck_assert_ptr_nonnull(strstr(
            got, "{\"sink\":\"full\",\"alert_id\":\"000000000000000000000000000a1e00\","
                 "\"attempts\":3,\"error\":\"write: No space left on device\",\"alert\":"
                 "{\"alert_id\":\"000000000000000000000000000a1e00\",\"n\":0}}\n"));
    ck_assert_ptr_nonnull(strstr(got, "\"alert\":{\"alert_id\":\"000000000000000000000000000a1e01\""));
    cep_free(got);

    /* Reopened (SIGUSR1) after a rename: the next dead letter goes to a new
     * file at the path, the renamed one keeps its two. */
    char *moved = tpath("dead.jsonl.1");
    ck_assert_int_eq(rename(dead, moved), 0);
    io_sink_reopen(&s);
    enqueue_n(&s, 2, 1);
    ck_assert(loop_until(b, sink_gave_up, &s));
    ck_assert_uint_eq(s.st.dead_lettered, 3);
    got = slurp(dead);
    ck_assert_uint_eq(count_str(got, "\n"), 1);
    ck_assert_ptr_nonnull(strstr(got, "\"alert_id\":\"000000000000000000000000000a1e02\""));
    cep_free(got);
    got = slurp(moved);
    ck_assert_uint_eq(count_str(got, "\n"), 2);
    cep_free(got);
    cep_free(moved);
    io_sink_free(&s);

    /* The dead-letter file must open, or the sink does not start. */
    c.dead_letter = (char *)"/nonexistent-dir/dead.jsonl";
    io_sink_init(&s, &c, b);
    ck_assert_int_eq(s.ops->start(&s), CEP_ERR);
    io_sink_free(&s);
    event_base_free(b);
    cep_free(dead);
    tdir_remove();
}
END_TEST

/* ---- webhook ----------------------------------------------------------- */

struct wh {
    struct event_base *b;
    struct rcv r;
    struct cfg_sink c;
    struct io_sink s;
    char *url, *dead;
};

static void wh_setup(struct wh *w, const char *mode, bool tls)
{
    tdir_make();
    w->b = event_base_new();
    rcv_start(&w->r, mode, tls);
    w->url = cep_asprintf("%s://127.0.0.1:%d/hook?x=1", tls ? "https" : "http", w->r.port);
    w->dead = tpath("dead.jsonl");
    w->c = sink_cfg(CFG_SINK_WEBHOOK, "hook");
    w->c.url = w->url;
    w->c.max_retries = 3;
    w->c.backoff_max = 200 * 1000;
    w->c.timeout = 2 * CEP_USEC_PER_SEC;
    w->c.dead_letter = w->dead;
}

static void wh_start(struct wh *w)
{
    io_sink_init(&w->s, &w->c, w->b);
    ck_assert_int_eq(w->s.ops->start(&w->s), CEP_OK);
}

static void wh_teardown(struct wh *w)
{
    io_sink_free(&w->s);
    rcv_stop(&w->r);
    event_base_free(w->b);
    cep_free(w->url);
    cep_free(w->dead);
    tdir_remove();
}

START_TEST(test_webhook_accept_hmac)
{
    struct wh w;
    wh_setup(&w, "accept", false);
    char *secret = tpath("secret");
    FILE *f = fopen(secret, "w");
    fputs("s3cret\n", f); /* the trailing newline is not part of the key */
    fclose(f);
    char *hdrs[] = {(char *)"X-Tenant", (char *)"blue"};
    w.c.secret_file = secret;
    w.c.headers = hdrs;
    w.c.n_headers = 1;
    wh_start(&w);
    enqueue_n(&w.s, 0, 3);
    ck_assert(loop_until(w.b, sink_empty, &w.s));
    ck_assert_uint_eq(w.s.st.delivered, 3);
    char *log = slurp(w.r.log);
    ck_assert_uint_eq(count_str(log, "\n"), 3);
    for (int i = 0; i < 3; i++) {
        char id[33], json[96], want[512];
        struct eng_alert a;
        alert_make(&a, id, json, i);
        unsigned char md[32];
        unsigned int md_len;
        HMAC(EVP_sha256(), "s3cret", 6, (const unsigned char *)json, strlen(json), md, &md_len);
        char hex[65];
        for (int k = 0; k < 32; k++)
            snprintf(hex + 2 * k, 3, "%02x", md[k]);
        snprintf(want, sizeof(want), "\"path\":\"/hook\",\"key\":\"%s\",\"sig\":\"sha256=%s\","
                 "\"content_type\":\"application/json\",\"body\":\"{\\\"alert_id\\\":\\\"%s\\\","
                 "\\\"n\\\":%d}\",\"headers\":{",
                 id, hex, id, i);
        ck_assert_msg(strstr(log, want) != NULL, "missing %s in %s", want, log);
    }
    ck_assert_uint_eq(count_str(log, "\"X-Tenant\":\"blue\""), 3);
    ck_assert_uint_eq(count_str(log, "\"Host\":\"127.0.0.1:"), 3);
    cep_free(log);
    wh_teardown(&w);
    cep_free(secret);
}
END_TEST

START_TEST(test_webhook_fail500_dead_letter)
{
    struct wh w;
    wh_setup(&w, "fail500", false);
    wh_start(&w);
    enqueue_n(&w.s, 0, 2);
    ck_assert(loop_until(w.b, sink_gave_up, &w.s));
    ck_assert_uint_eq(w.s.st.dead_lettered, 2);
    ck_assert_uint_eq(w.s.st.retried, 4);
    ck_assert_uint_eq(w.s.st.circuit_opens, 1);
    ck_assert_uint_eq(file_count(w.r.log, "\"key\":\"000000000000000000000000000a1e00\""), 3);
    ck_assert_uint_eq(file_count(w.r.log, "\"key\":\"000000000000000000000000000a1e01\""), 3);
    ck_assert_uint_eq(file_count(w.dead, "\"attempts\":3,\"error\":\"POST 127.0.0.1:"), 2);
    ck_assert_uint_eq(file_count(w.dead, "HTTP 500 Failing"), 2);
    wh_teardown(&w);
}
END_TEST

/* After an outage the receiver sees each alert accepted exactly once. */
START_TEST(test_webhook_outage_recovers)
{
    struct wh w;
    wh_setup(&w, "fail500", false);
    w.c.max_retries = 100;
    wh_start(&w);
    enqueue_n(&w.s, 0, 5);
    ck_assert(loop_until(w.b, sink_retried_twice, &w.s));
    ck_assert_uint_gt(w.s.st.retried, 1);
    ck_assert_uint_eq(w.s.st.delivered, 0);
    rcv_mode(&w.r, "accept");
    ck_assert(loop_until(w.b, sink_empty, &w.s));
    ck_assert_uint_eq(w.s.st.delivered, 5);
    ck_assert_uint_eq(w.s.st.dead_lettered, 0);
    char *log = slurp(w.r.log);
    ck_assert_uint_eq(count_str(log, "\"status\":200"), 5);
    for (int i = 0; i < 5; i++) {
        char want[128];
        snprintf(want, sizeof(want), "\\\"n\\\":%d}\",\"headers\"", i);
        ck_assert_uint_eq(count_lines_with(log, want, "\"status\":200}"), 1);
    }
    cep_free(log);
    wh_teardown(&w);
}
END_TEST

START_TEST(test_webhook_4xx_dead_letter_at_once)
{
    struct wh w;
    wh_setup(&w, "fail400", false);
    wh_start(&w);
    enqueue_n(&w.s, 0, 2);
    ck_assert(loop_until(w.b, sink_gave_up, &w.s));
    ck_assert_uint_eq(w.s.st.dead_lettered, 2);
    ck_assert_uint_eq(w.s.st.retried, 0);
    ck_assert_uint_eq(file_count(w.r.log, "\n"), 2);
    ck_assert_uint_eq(file_count(w.dead, "\"attempts\":1,\"error\":\"POST 127.0.0.1:"), 2);
    ck_assert_uint_eq(file_count(w.dead, "HTTP 400"), 2);
    wh_teardown(&w);
}
END_TEST

/* A 429 is retried (unlike other 4xx). */
START_TEST(test_webhook_429_retried)
{
    struct wh w;
    wh_setup(&w, "fail429", false);
    w.c.max_retries = 2;
    wh_start(&w);
    enqueue_n(&w.s, 0, 1);
    ck_assert(loop_until(w.b, sink_gave_up, &w.s));
    ck_assert_uint_eq(w.s.st.retried, 1);
    ck_assert_uint_eq(w.s.st.dead_lettered, 1);
    wh_teardown(&w);
}
END_TEST

START_TEST(test_webhook_hang_timeout)
{
    struct wh w;
    wh_setup(&w, "hang", false);
    w.c.timeout = 300 * 1000;
    w.c.max_retries = 100;
    wh_start(&w);
    enqueue_n(&w.s, 0, 2);
    ck_assert(loop_until(w.b, sink_retried, &w.s));
    ck_assert_uint_ge(w.s.st.retried, 1);
    ck_assert_ptr_nonnull(strstr(w.s.st.last_error, "timed out"));
    rcv_mode(&w.r, "accept");
    ck_assert(loop_until(w.b, sink_empty, &w.s));
    ck_assert_uint_eq(w.s.st.delivered, 2);
    ck_assert_uint_eq(file_count(w.r.log, "\"status\":200"), 2);
    wh_teardown(&w);
}
END_TEST

START_TEST(test_webhook_close_and_closed_port)
{
    struct wh w;
    wh_setup(&w, "close", false);
    w.c.max_retries = 2;
    wh_start(&w);
    enqueue_n(&w.s, 0, 1);
    ck_assert(loop_until(w.b, sink_gave_up, &w.s));
    ck_assert_uint_eq(w.s.st.dead_lettered, 1);
    io_sink_free(&w.s);
    /* Nobody listens: connection refused. */
    char *url = cep_asprintf("http://127.0.0.1:%d/hook", free_port());
    w.c.url = url;
    wh_start(&w);
    enqueue_n(&w.s, 1, 1);
    ck_assert(loop_until(w.b, sink_gave_up, &w.s));
    ck_assert_uint_eq(w.s.st.dead_lettered, 1);
    ck_assert_uint_eq(w.s.st.retried, 1);
    ck_assert_uint_eq(file_count(w.dead, "\"attempts\":2"), 2);
    wh_teardown(&w);
    cep_free(url);
}
END_TEST

START_TEST(test_webhook_https)
{
    struct wh w;
    wh_setup(&w, "accept", true);
    /* Verification on (the default): a self-signed certificate fails. */
    w.c.max_retries = 1;
    wh_start(&w);
    enqueue_n(&w.s, 0, 1);
    ck_assert(loop_until(w.b, sink_gave_up, &w.s));
    ck_assert_uint_eq(w.s.st.dead_lettered, 1);
    char *dead = slurp(w.dead);
    ck_assert_msg(strstr(dead, "certificate verify failed") != NULL, "%s", dead);
    cep_free(dead);
    io_sink_free(&w.s);
    /* tls_verify: false accepts it. */
    w.c.tls_verify = false;
    wh_start(&w);
    enqueue_n(&w.s, 1, 3);
    ck_assert(loop_until(w.b, sink_empty, &w.s));
    ck_assert_uint_eq(w.s.st.delivered, 3);
    ck_assert_uint_eq(file_count(w.r.log, "\"status\":200"), 3);
    wh_teardown(&w);
}
END_TEST

START_TEST(test_webhook_bad_config)
{
    struct wh w;
    wh_setup(&w, "accept", false);
    w.c.url = (char *)"ftp://127.0.0.1/x";
    io_sink_init(&w.s, &w.c, w.b);
    ck_assert_int_eq(w.s.ops->start(&w.s), CEP_ERR);
    io_sink_free(&w.s);
    w.c.url = w.url;
    w.c.secret_file = (char *)"/nonexistent/secret";
    io_sink_init(&w.s, &w.c, w.b);
    ck_assert_int_eq(w.s.ops->start(&w.s), CEP_ERR);
    w.c.secret_file = NULL;
    wh_teardown(&w);
}
END_TEST

/* ---- redis ------------------------------------------------------------- */

struct rds {
    pid_t pid;
    int port;
    char port_s[16];
};

static redisContext *rds_conn(const struct rds *d)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", d->port, tv);
    if (c && c->err) {
        redisFree(c);
        return NULL;
    }
    if (c)
        redisSetTimeout(c, tv);
    return c;
}

static void rds_start(struct rds *d)
{
    const char *bin = getenv("REDIS_SERVER");
    const char *argv[] = {bin ? bin : "redis-server", "--port", d->port_s, "--bind", "127.0.0.1",
                          "--save", "", "--appendonly", "no", "--dir", tdir, "--daemonize", "no",
                          NULL};
    d->pid = spawn(argv);
    int64_t end = mono_us() + WAIT_US;
    for (;;) {
        redisContext *c = rds_conn(d);
        redisReply *r = c ? redisCommand(c, "PING") : NULL;
        bool up = r && r->type == REDIS_REPLY_STATUS;
        if (r)
            freeReplyObject(r);
        if (c)
            redisFree(c);
        if (up)
            return;
        ck_assert_msg(mono_us() < end, "redis-server did not answer PING on port %d", d->port);
        usleep(20000);
    }
}

static void rds_setup(struct rds *d)
{
    tdir_make();
    d->port = free_port();
    snprintf(d->port_s, sizeof(d->port_s), "%d", d->port);
    rds_start(d);
}

static void rds_teardown(struct rds *d)
{
    reap(d->pid, SIGTERM);
    tdir_remove();
}

/* One command on a fresh connection; the integer answer (or the number
 * of elements of an array answer, or -1). */
static long long rds_int(const struct rds *d, const char *fmt, ...)
{
    redisContext *c = rds_conn(d);
    ck_assert_ptr_nonnull(c);
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    ck_assert_ptr_nonnull(r);
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer
                  : r->type == REDIS_REPLY_ARRAY ? (long long)r->elements
                                                 : -1;
    freeReplyObject(r);
    redisFree(c);
    return v;
}

static char *rds_str(const struct rds *d, const char *fmt, ...)
{
    redisContext *c = rds_conn(d);
    ck_assert_ptr_nonnull(c);
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    ck_assert_ptr_nonnull(r);
    char *v = r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
                              r->type == REDIS_REPLY_ERROR
                      ? cep_strndup(r->str, r->len)
                      : cep_strdup("");
    freeReplyObject(r);
    redisFree(c);
    return v;
}

static struct cfg_sink redis_cfg(const struct rds *d, char *url, size_t len, const char *mode,
                                 const char *key)
{
    snprintf(url, len, "redis://127.0.0.1:%d", d->port);
    struct cfg_sink c = sink_cfg(CFG_SINK_REDIS, "rd");
    c.url = url;
    c.mode = (char *)mode;
    c.key = (char *)key;
    c.ttl = 60 * CEP_USEC_PER_SEC;
    c.max_retries = 2;
    c.backoff_max = 200 * 1000;
    c.timeout = 2 * CEP_USEC_PER_SEC;
    return c;
}

START_TEST(test_redis_xadd_dedup)
{
    struct rds d;
    rds_setup(&d);
    struct event_base *b = event_base_new();
    char url[64];
    struct cfg_sink c = redis_cfg(&d, url, sizeof(url), "xadd", "cepd:alerts");
    struct io_sink s;
    io_sink_init(&s, &c, b);
    ck_assert_int_eq(s.ops->start(&s), CEP_OK);
    enqueue_n(&s, 0, 3);
    enqueue_n(&s, 1, 1); /* a replayed alert */
    ck_assert(loop_until(b, sink_empty, &s));
    ck_assert_uint_eq(s.st.delivered, 4);
    ck_assert_int_eq(rds_int(&d, "XLEN cepd:alerts"), 3);
    long long ttl = rds_int(&d, "TTL cepd:seen:cepd:alerts:000000000000000000000000000a1e01");
    ck_assert(ttl > 0 && ttl <= 60);
    redisContext *rc = rds_conn(&d);
    redisReply *r = redisCommand(rc, "XRANGE cepd:alerts - + COUNT 1");
    ck_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 1);
    redisReply *f = r->element[0]->element[1];
    ck_assert_uint_eq(f->elements, 4);
    ck_assert_str_eq(f->element[0]->str, "alert_id");
    ck_assert_str_eq(f->element[1]->str, "000000000000000000000000000a1e00");
    ck_assert_str_eq(f->element[2]->str, "alert");
    ck_assert_str_eq(f->element[3]->str,
                     "{\"alert_id\":\"000000000000000000000000000a1e00\",\"n\":0}");
    freeReplyObject(r);

    /* The server forgot the script: NOSCRIPT, resent with EVAL. */
    r = redisCommand(rc, "SCRIPT FLUSH");
    freeReplyObject(r);
    redisFree(rc);
    enqueue_n(&s, 10, 2);
    ck_assert(loop_until(b, sink_empty, &s));
    ck_assert_int_eq(rds_int(&d, "XLEN cepd:alerts"), 5);
    ck_assert_uint_eq(s.st.dead_lettered, 0);
    ck_assert_uint_eq(s.st.retried, 0);
    io_sink_free(&s);

    /* MAXLEN ~ trims (approximately: whole nodes of 100 entries). */
    c.key = (char *)"cepd:trimmed";
    c.maxlen = 10;
    io_sink_init(&s, &c, b);
    ck_assert_int_eq(s.ops->start(&s), CEP_OK);
    enqueue_n(&s, 100, 500);
    ck_assert(loop_until(b, sink_empty, &s));
    long long n = rds_int(&d, "XLEN cepd:trimmed");
    ck_assert_msg(n >= 10 && n < 500, "XLEN %lld", n);
    io_sink_free(&s);
    event_base_free(b);
    rds_teardown(&d);
}
END_TEST

START_TEST(test_redis_publish_lpush_wrongtype)
{
    struct rds d;
    rds_setup(&d);
    struct event_base *b = event_base_new();
    char url[64];
    struct cfg_sink c = redis_cfg(&d, url, sizeof(url), "lpush", "cepd:list");
    struct io_sink s;
    io_sink_init(&s, &c, b);
    ck_assert_int_eq(s.ops->start(&s), CEP_OK);
    enqueue_n(&s, 0, 2);
    enqueue_n(&s, 0, 2);
    ck_assert(loop_until(b, sink_empty, &s));
    ck_assert_int_eq(rds_int(&d, "LLEN cepd:list"), 2);
    char *v = rds_str(&d, "LINDEX cepd:list 0");
    ck_assert_str_eq(v, "{\"alert_id\":\"000000000000000000000000000a1e01\",\"n\":1}");
    cep_free(v);
    io_sink_free(&s);

    c.mode = (char *)"publish";
    c.key = (char *)"cepd:chan";
    io_sink_init(&s, &c, b);
    ck_assert_int_eq(s.ops->start(&s), CEP_OK);
    enqueue_n(&s, 20, 2);
    ck_assert(loop_until(b, sink_empty, &s));
    ck_assert_uint_eq(s.st.delivered, 2);
    ck_assert_int_eq(rds_int(&d, "EXISTS cepd:seen:cepd:chan:000000000000000000000000000a1e15"), 1);
    io_sink_free(&s);

    /* The key holds another type: the script fails, the alert is retried
     * and dead-lettered. */
    char *dead = tpath("dead.jsonl");
    v = rds_str(&d, "SET cepd:str x");
    cep_free(v);
    c.mode = (char *)"xadd";
    c.key = (char *)"cepd:str";
    c.dead_letter = dead;
    io_sink_init(&s, &c, b);
    ck_assert_int_eq(s.ops->start(&s), CEP_OK);
    enqueue_n(&s, 30, 1);
    ck_assert(loop_until(b, sink_gave_up, &s));
    ck_assert_uint_eq(s.st.dead_lettered, 1);
    v = slurp(dead);
    ck_assert_msg(strstr(v, "WRONGTYPE") != NULL, "%s", v);
    cep_free(v);
    io_sink_free(&s);

    c.mode = (char *)"set";
    io_sink_init(&s, &c, b);
    ck_assert_int_eq(s.ops->start(&s), CEP_ERR);
    io_sink_free(&s);
    c.mode = NULL;
    c.url = (char *)"redis://127.0.0.1:notaport";
    io_sink_init(&s, &c, b);
    ck_assert_int_eq(s.ops->start(&s), CEP_ERR);
    io_sink_free(&s);
    cep_free(dead);
    event_base_free(b);
    rds_teardown(&d);
}
END_TEST

static bool sink_connected(void *arg)
{
    struct io_sink *s = arg;
    return s->q_len == 0 && s->st.delivered > 0;
}

/* Redis dies with alerts queued and comes back on the same port: nothing
 * is lost or dead-lettered. */
START_TEST(test_redis_restart)
{
    struct rds d;
    rds_setup(&d);
    struct event_base *b = event_base_new();
    char url[64];
    struct cfg_sink c = redis_cfg(&d, url, sizeof(url), "xadd", "cepd:alerts");
    struct io_sink s;
    io_sink_init(&s, &c, b);
    ck_assert_int_eq(s.ops->start(&s), CEP_OK);
    enqueue_n(&s, 0, 1);
    ck_assert(loop_until(b, sink_connected, &s));
    reap(d.pid, SIGKILL);
    enqueue_n(&s, 1, 50);
    ck_assert(loop_until(b, sink_failed, &s));
    ck_assert_uint_eq(s.st.delivered, 1);
    ck_assert_uint_eq(s.q_len, 50);
    ck_assert_str_ne(s.st.last_error, "");
    rds_start(&d);
    ck_assert(loop_until(b, sink_empty, &s));
    ck_assert_uint_eq(s.st.delivered, 51);
    ck_assert_uint_eq(s.st.dead_lettered, 0);
    ck_assert_int_eq(rds_int(&d, "XLEN cepd:alerts"), 50); /* no persistence: a fresh server */
    io_sink_free(&s);
    event_base_free(b);
    rds_teardown(&d);
}
END_TEST

/* ---- redis_stream source ---------------------------------------------- */

struct srec {
    struct rds *d;
    size_t n;
    char *data[16];
    uint64_t off[16];
    long long pending_seen; /* XPENDING count while on_line ran */
};

static long long rds_pending(const struct rds *d);

static void srec_line(void *ud, struct io_source *s, const struct io_line *l, struct io_verdict *v)
{
    struct srec *r = ud;
    if (r->n < 16) {
        r->data[r->n] = cep_strndup(l->data, l->len);
        r->off[r->n] = l->offset;
    }
    r->n++;
    r->pending_seen = rds_pending(r->d);
}

static void srec_free(struct srec *r)
{
    for (size_t i = 0; i < r->n && i < 16; i++)
        cep_free(r->data[i]);
    memset(r, 0, sizeof(*r));
}

static bool src_connected(void *arg)
{
    struct io_source *s = arg;
    return s->st.connections > 0;
}

static bool srec_has(void *arg)
{
    struct io_source *s = arg;
    return ((struct srec *)s->ud)->n >= 3;
}

/* Entries delivered to the group and not acknowledged. */
static long long rds_pending(const struct rds *d)
{
    redisContext *c = rds_conn(d);
    ck_assert_ptr_nonnull(c);
    redisReply *p = redisCommand(c, "XPENDING events cepd");
    ck_assert(p && p->type == REDIS_REPLY_ARRAY && p->elements == 4);
    long long n = p->element[0]->integer;
    freeReplyObject(p);
    redisFree(c);
    return n;
}

static bool src_pending_zero(void *arg)
{
    struct srec *r = arg;
    return rds_pending(r->d) == 0;
}

static void src_init(struct io_source *s, struct cfg_source *c, struct event_base *b,
                     struct srec *rec)
{
    memset(s, 0, sizeof(*s));
    s->cfg = c;
    s->ops = &io_src_redis_ops;
    s->base = b;
    s->max_line = 1024;
    s->on_line = srec_line;
    s->ud = rec;
}

START_TEST(test_redis_source)
{
    struct rds d;
    rds_setup(&d);
    struct event_base *b = event_base_new();
    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", d.port);
    struct cfg_source c = {.name = (char *)"bus", .type = CFG_SRC_REDIS_STREAM, .url = url,
                           .key = (char *)"events", .consumer = (char *)"c1"};
    /* History before the group exists is not read: the group starts at $. */
    cep_free(rds_str(&d, "XADD events * event %s", "{\"old\":1}"));
    struct srec rec = {.d = &d};
    struct io_source s;
    src_init(&s, &c, b, &rec);
    ck_assert_int_eq(s.ops->start(&s), CEP_OK);
    ck_assert(loop_until(b, src_connected, &s));
    char *id1 = rds_str(&d, "XADD events 4000000000000-5 event %s", "{\"user\":\"root\"}");
    ck_assert_str_eq(id1, "4000000000000-5");
    cep_free(id1);
    cep_free(rds_str(&d, "XADD events * user bob host h\"1"));
    cep_free(rds_str(&d, "XADD events * event %s", "{\"n\":3}"));
    ck_assert(loop_until(b, srec_has, &s));
    ck_assert_uint_eq(rec.n, 3);
    ck_assert_str_eq(rec.data[0], "{\"user\":\"root\"}");
    ck_assert_uint_eq(rec.off[0], (UINT64_C(4000000000000) << 22) | 5);
    ck_assert_str_eq(rec.data[1], "{\"user\":\"bob\",\"host\":\"h\\\"1\"}");
    ck_assert_str_eq(rec.data[2], "{\"n\":3}");
    ck_assert_int_ge(rec.pending_seen, 1); /* not acknowledged while being processed */
    ck_assert(loop_until(b, src_pending_zero, &rec)); /* acknowledged after */
    ck_assert_uint_eq(s.st.lines, 3);

    /* Paused: no new read is issued (the one waiting on the server may
     * still deliver). */
    s.ops->pause(&s);
    loop_for(b, 1300 * 1000);
    size_t before = rec.n;
    cep_free(rds_str(&d, "XADD events * event %s", "{\"n\":4}"));
    loop_for(b, 1300 * 1000);
    ck_assert_uint_eq(rec.n, before);
    s.ops->resume(&s);
    srec_free(&rec);
    rec.d = &d;
    ck_assert(loop_until(b, src_pending_zero, &rec));
    struct srec *rp = &rec;
    int64_t end = mono_us() + WAIT_US;
    while (rp->n < 1 && mono_us() < end)
        event_base_loop(b, EVLOOP_ONCE);
    ck_assert_uint_eq(rec.n, 1);
    ck_assert_str_eq(rec.data[0], "{\"n\":4}");
    s.ops->stop(&s);
    s.ops->free(&s);
    srec_free(&rec);

    /* Entries delivered to c1 but never acknowledged (a crash) are re-read
     * first on the next start. */
    rds_int(&d, "XADD events * event %s", "{\"n\":5}");
    rds_int(&d, "XADD events * event %s", "{\"n\":6}");
    ck_assert_int_eq(rds_int(&d, "XREADGROUP GROUP cepd c1 COUNT 10 STREAMS events >"), 1);
    ck_assert_int_eq(rds_pending(&d), 2);
    rec.d = &d;
    src_init(&s, &c, b, &rec);
    ck_assert_int_eq(s.ops->start(&s), CEP_OK);
    end = mono_us() + WAIT_US;
    while (rec.n < 2 && mono_us() < end)
        event_base_loop(b, EVLOOP_ONCE);
    ck_assert_uint_eq(rec.n, 2);
    ck_assert_str_eq(rec.data[0], "{\"n\":5}");
    ck_assert_str_eq(rec.data[1], "{\"n\":6}");
    ck_assert(loop_until(b, src_pending_zero, &rec));

    /* Redis restarts: the source reconnects (and recreates the group). */
    reap(d.pid, SIGKILL);
    loop_for(b, 300 * 1000);
    rds_start(&d);
    uint64_t conns = s.st.connections;
    end = mono_us() + WAIT_US;
    while (s.st.connections == conns && mono_us() < end)
        event_base_loop(b, EVLOOP_ONCE);
    ck_assert_uint_gt(s.st.connections, conns);
    ck_assert_uint_gt(s.st.errors, 0);
    rds_int(&d, "XADD events * event %s", "{\"n\":7}");
    end = mono_us() + WAIT_US;
    while (rec.n < 3 && mono_us() < end)
        event_base_loop(b, EVLOOP_ONCE);
    ck_assert_uint_eq(rec.n, 3);
    ck_assert_str_eq(rec.data[2], "{\"n\":7}");
    s.ops->stop(&s);
    s.ops->free(&s);
    srec_free(&rec);
    event_base_free(b);
    rds_teardown(&d);
}
END_TEST

/* ---- suite ------------------------------------------------------------- */


static Suite *sink_suite(void)
{
    Suite *su = suite_create("sink");
    TCase *tc = tcase_create("queue");
    tcase_add_test(tc, test_sink_config);
    tcase_add_test(tc, test_queue_ring);
    tcase_add_test(tc, test_backoff_bounds);
    suite_add_tcase(su, tc);
    tc = tcase_create("local");
    tcase_add_test(tc, test_file_sink);
    tcase_add_test(tc, test_stdout_sink);
    tcase_add_test(tc, test_stream_sink);
    tcase_add_test(tc, test_dead_letter_breaker);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(su, tc);
    tc = tcase_create("webhook");
    tcase_add_test(tc, test_webhook_accept_hmac);
    tcase_add_test(tc, test_webhook_fail500_dead_letter);
    tcase_add_test(tc, test_webhook_outage_recovers);
    tcase_add_test(tc, test_webhook_4xx_dead_letter_at_once);
    tcase_add_test(tc, test_webhook_429_retried);
    tcase_add_test(tc, test_webhook_hang_timeout);
    tcase_add_test(tc, test_webhook_close_and_closed_port);
    tcase_add_test(tc, test_webhook_https);
    tcase_add_test(tc, test_webhook_bad_config);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(su, tc);
    tc = tcase_create("redis");
    tcase_add_test(tc, test_redis_xadd_dedup);
    tcase_add_test(tc, test_redis_publish_lpush_wrongtype);
    tcase_add_test(tc, test_redis_restart);
    tcase_add_test(tc, test_redis_source);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    SRunner *sr = srunner_create(sink_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
