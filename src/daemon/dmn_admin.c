/* SPDX-License-Identifier: Apache-2.0
 * The admin HTTP server (evhttp on the daemon's loop): GET /healthz,
 * GET /metrics (Prometheus text exposition 0.0.4), GET /rules (JSON),
 * POST /reload and POST /savepoint (dmn_admin_savepoint).  It
 * listens on admin.listen (":PORT" means 127.0.0.1).  With a token
 * (admin.token or admin.token_file) every endpoint but /healthz wants
 * "Authorization: Bearer TOKEN" (401 otherwise).  A non-loopback address
 * without a token is refused at start unless admin.allow_remote is true.
 * Metric names are listed in docs/operations.md; label values are escaped.
 * Tested by: tests/daemon/t_admin.sh, tests/daemon/t_reload.sh */
#include "cepd/cep_common.h"
#include "dmn_int.h"
#include "dmn_proc.h"

#include "cepd/cfg.h"
#include "cepd/eng.h"
#include "cepd/eng_par.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#define DMN_ADMIN_TOKEN_MAX 4096 /* bytes of a token file */
#define DMN_ADMIN_BODY_MAX  4096 /* requests carry no body worth reading */

struct dmn_admin {
    struct dmn *d;
    struct evhttp *http;
    char *host;
    char *port;
    char *token;       /* NULL: no token */
    uint64_t requests;
    uint64_t unauthorized;
};

/* Split "HOST:PORT", "[V6]:PORT" or ":PORT" (host 127.0.0.1).  CEP_ERR on
 * anything else. */
int dmn_admin_split(const char *listen, char **host, char **port)
{
    const char *colon;
    if (listen[0] == '[') {
        const char *end = strchr(listen, ']');
        if (!end || end[1] != ':')
            return CEP_ERR;
        *host = cep_strndup(listen + 1, (size_t)(end - listen - 1));
        colon = end + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon)
            return CEP_ERR;
        *host = colon == listen ? cep_strdup("127.0.0.1")
                                : cep_strndup(listen, (size_t)(colon - listen));
    }
    *port = cep_strdup(colon + 1);
    size_t n = strlen(*port);
    if (n == 0 || n > 5 || strspn(*port, "0123456789") != n) {
        cep_free(*host);
        cep_free(*port);
        return CEP_ERR;
    }
    return CEP_OK;
}

/* Every address host resolves to is a loopback address. */
static bool dmn_admin_loopback(const char *host)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
    if (getaddrinfo(host, NULL, &hints, &res) != 0)
        return false;
    bool all = res != NULL;
    for (ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET) {
            const struct sockaddr_in *a = (const struct sockaddr_in *)ai->ai_addr;
            all = all && (ntohl(a->sin_addr.s_addr) >> 24) == 127;
        } else if (ai->ai_family == AF_INET6) {
            const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ai->ai_addr;
            all = all && IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
        } else {
            all = false;
        }
    }
    freeaddrinfo(res);
    return all;
}

/* The token of the config: admin.token, or the first line of token_file.
 * CEP_ERR after logging when the file cannot be read or is empty. */
int dmn_admin_token(const struct cfg *c, char **out)
{
    *out = NULL;
    if (c->admin.token) {
        *out = cep_strdup(c->admin.token);
        return CEP_OK;
    }
    if (!c->admin.token_file)
        return CEP_OK;
    FILE *f = fopen(c->admin.token_file, "re");
    if (!f) {
        cep_log(CEP_LOG_ERROR, "admin: cannot read token_file %s: %s", c->admin.token_file,
                strerror(errno));
        return CEP_ERR;
    }
    char buf[DMN_ADMIN_TOKEN_MAX + 1];
    size_t n = fread(buf, 1, DMN_ADMIN_TOKEN_MAX, f);
    fclose(f);
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    if (buf[0] == '\0') {
        cep_log(CEP_LOG_ERROR, "admin: token_file %s holds no token", c->admin.token_file);
        return CEP_ERR;
    }
    *out = cep_strdup(buf);
    return CEP_OK;
}

/* Compare without stopping at the first difference. */
static bool dmn_admin_token_eq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;
    for (size_t i = 0; i < la; i++)
        diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return diff == 0;
}

static void dmn_admin_reply(struct evhttp_request *req, int code, const char *reason,
                            const char *type, struct evbuffer *body)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
    evhttp_send_reply(req, code, reason, body);
}

static void dmn_admin_json(struct evhttp_request *req, int code, const char *reason,
                           const struct sbuf *sb)
{
    struct evbuffer *b = evbuffer_new();
    CEP_ASSERT(b);
    evbuffer_add(b, sb->buf, sb->len);
    dmn_admin_reply(req, code, reason, "application/json", b);
    evbuffer_free(b);
}

/* {"error": msg} with the status. */
static void dmn_admin_error(struct evhttp_request *req, int code, const char *reason,
                            const char *msg)
{
    struct sbuf sb;
    sbuf_init(&sb);
    sbuf_puts(&sb, "{\"error\":");
    sbuf_json_str(&sb, msg, strlen(msg));
    sbuf_puts(&sb, "}\n");
    dmn_admin_json(req, code, reason, &sb);
    sbuf_free(&sb);
}

/* ---- /metrics ------------------------------------------------------------- */

/* A label value: backslash, double quote and newline escaped. */
static void dmn_metric_label(struct sbuf *sb, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            sbuf_printf(sb, "\\%c", *v);
        else if (*v == '\n')
            sbuf_puts(sb, "\\n");
        else
            sbuf_putc(sb, *v);
    }
}

static void dmn_metric_head(struct sbuf *sb, const char *name, const char *type,
                            const char *help)
{
    sbuf_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void dmn_metric_u64(struct sbuf *sb, const char *name, const char *label,
                           const char *value, uint64_t v)
{
    sbuf_puts(sb, name);
    if (label) {
        sbuf_printf(sb, "{%s=\"", label);
        dmn_metric_label(sb, value);
        sbuf_puts(sb, "\"}");
    }
    sbuf_printf(sb, " %" PRIu64 "\n", v);
}

/* A time in µs as seconds with microseconds; NaN when unknown. */
static void dmn_metric_time(struct sbuf *sb, const char *name, const char *label,
                            const char *value, int64_t us)
{
    sbuf_printf(sb, "%s{%s=\"", name, label);
    dmn_metric_label(sb, value);
    if (us == CEP_TIME_MIN || us == CEP_TIME_MAX)
        sbuf_puts(sb, "\"} NaN\n");
    else
        sbuf_printf(sb, "\"} %" PRId64 ".%06" PRId64 "\n", us / CEP_USEC_PER_SEC,
                    (us < 0 ? -us : us) % CEP_USEC_PER_SEC);
}

/* Per-rule counters, one metric family at a time. */
enum {
    DMN_RM_EVALUATED = 0,
    DMN_RM_MATCHED,
    DMN_RM_ALERTS,
    DMN_RM_EMITTED,
    DMN_RM_TIMED_OUT,
    DMN_RM_EVICTED,
    DMN_RM_THROTTLED,
    DMN_RM_EXPIRED,
    DMN_RM_TYPE_MISMATCH,
    DMN_RM_REGEX_LIMIT,
    DMN_RM_PARTIALS,
    DMN_RM_KEYS,
    DMN_RM_STATE_BYTES,
    DMN_RM_COUNT
};

static const struct {
    const char *name;
    const char *type;
    const char *help;
} dmn_rule_metrics[DMN_RM_COUNT] = {
    [DMN_RM_EVALUATED] = {"cepd_rule_events_evaluated_total", "counter",
                          "Events a rule's condition was evaluated on."},
    [DMN_RM_MATCHED] = {"cepd_rule_matches_total", "counter",
                        "Events or matches that satisfied the rule (before throttling)."},
    [DMN_RM_ALERTS] = {"cepd_rule_alerts_total", "counter", "Alerts the rule produced."},
    [DMN_RM_EMITTED] = {"cepd_rule_emitted_total", "counter",
                        "Derived events the rule emitted."},
    [DMN_RM_TIMED_OUT] = {"cepd_rule_timed_out_total", "counter",
                          "Expired partial matches reported (on_timeout)."},
    [DMN_RM_EVICTED] = {"cepd_rule_evicted_total", "counter",
                        "Partial matches dropped at max_partial_matches."},
    [DMN_RM_THROTTLED] = {"cepd_rule_throttled_total", "counter",
                          "Alerts folded by throttle."},
    [DMN_RM_EXPIRED] = {"cepd_rule_keys_expired_total", "counter",
                        "Keys dropped after state_ttl without events."},
    [DMN_RM_TYPE_MISMATCH] = {"cepd_rule_type_mismatches_total", "counter",
                              "Expression operands of the wrong type (evaluated as false)."},
    [DMN_RM_REGEX_LIMIT] = {"cepd_rule_regex_limit_hits_total", "counter",
                            "Regular expression matches stopped by the match limit."},
    [DMN_RM_PARTIALS] = {"cepd_rule_partial_matches", "gauge",
                         "Partial matches a pattern rule holds."},
    [DMN_RM_KEYS] = {"cepd_rule_keys", "gauge", "Keys a rule holds state for."},
    [DMN_RM_STATE_BYTES] = {"cepd_rule_state_bytes", "gauge",
                            "Bytes of per-key state a rule holds (approximate)."},
};

static uint64_t dmn_rule_metric(const struct eng_rule_report *r, int m)
{
    switch (m) {
    case DMN_RM_EVALUATED:
        return r->st.evaluated;
    case DMN_RM_MATCHED:
        return r->st.matched;
    case DMN_RM_ALERTS:
        return r->st.alerts;
    case DMN_RM_EMITTED:
        return r->st.emitted;
    case DMN_RM_TIMED_OUT:
        return r->st.timed_out;
    case DMN_RM_EVICTED:
        return r->st.evicted;
    case DMN_RM_THROTTLED:
        return r->st.throttled;
    case DMN_RM_EXPIRED:
        return r->st.expired;
    case DMN_RM_TYPE_MISMATCH:
        return r->st.expr.type_mismatch;
    case DMN_RM_REGEX_LIMIT:
        return r->st.expr.regex_limit;
    case DMN_RM_PARTIALS:
        return r->partials;
    case DMN_RM_KEYS:
        return r->keys;
    default:
        return r->state_bytes;
    }
}

/* Per rule: the engine's, or with workers theirs summed (eng_par_stats,
 * called first by dmn_metrics, brought them up to date). */
static void dmn_metrics_rules(struct sbuf *sb, const struct dmn *d)
{
    const struct ruleset *rs = d->g.rs;
    struct eng_rule_report *rep = cep_calloc(rs->n_rules + 1, sizeof(*rep));
    for (size_t ri = 0; ri < rs->n_rules; ri++) {
        if (d->par)
            eng_par_rule_report(d->par, ri, &rep[ri]);
        else
            eng_rule_report(d->g.eng, ri, &rep[ri]);
    }
    for (int m = 0; m < DMN_RM_COUNT; m++) {
        dmn_metric_head(sb, dmn_rule_metrics[m].name, dmn_rule_metrics[m].type,
                        dmn_rule_metrics[m].help);
        for (size_t ri = 0; ri < rs->n_rules; ri++)
            dmn_metric_u64(sb, dmn_rule_metrics[m].name, "rule", rs->rules[ri]->id,
                           dmn_rule_metric(&rep[ri], m));
    }
    cep_free(rep);
}

static void dmn_metrics_sources(struct sbuf *sb, const struct dmn *d)
{
    static const struct {
        const char *name;
        const char *help;
        size_t off;
    } counters[] = {
        {"cepd_source_lines_total", "Lines the source handed over.",
         offsetof(struct io_source_stats, lines)},
        {"cepd_source_bytes_total", "Bytes the source received.",
         offsetof(struct io_source_stats, bytes)},
        {"cepd_source_errors_total", "Read, connection and protocol errors, oversized lines.",
         offsetof(struct io_source_stats, errors)},
        {"cepd_source_rejected_total", "Lines dead-lettered (malformed, oversized, no match).",
         offsetof(struct io_source_stats, rejected)},
        {"cepd_source_connections_total", "Connections accepted (tcp, http) or made (redis).",
         offsetof(struct io_source_stats, connections)},
        {"cepd_source_lag", "Input waiting to be read (file: bytes behind the end).",
         offsetof(struct io_source_stats, lag)},
    };
    for (size_t m = 0; m < CEP_ARRAY_LEN(counters); m++) {
        bool gauge = strcmp(counters[m].name, "cepd_source_lag") == 0;
        dmn_metric_head(sb, counters[m].name, gauge ? "gauge" : "counter", counters[m].help);
        for (size_t i = 0; i < d->n_srcs; i++) {
            const struct dmn_src *s = d->srcs[i];
            uint64_t v;
            memcpy(&v, (const char *)&s->io.st + counters[m].off, sizeof(v));
            dmn_metric_u64(sb, counters[m].name, "source", s->name, v);
        }
    }
    dmn_metric_head(sb, "cepd_source_watermark_seconds", "gauge",
                    "Event time the source's stream has reached (NaN: none yet).");
    for (size_t i = 0; i < d->n_srcs; i++) {
        const struct dmn_src *s = d->srcs[i];
        int64_t wm = s->stream >= 0 ? eng_watermark(d->g.eng, (uint32_t)s->stream) : CEP_TIME_MIN;
        dmn_metric_time(sb, "cepd_source_watermark_seconds", "source", s->name, wm);
    }
    dmn_metric_head(sb, "cepd_source_last_line_timestamp_seconds", "gauge",
                    "Wall-clock time of the source's last line (NaN: none yet).");
    for (size_t i = 0; i < d->n_srcs; i++) {
        const struct dmn_src *s = d->srcs[i];
        dmn_metric_time(sb, "cepd_source_last_line_timestamp_seconds", "source", s->name,
                        s->io.st.last_line_at ? s->io.st.last_line_at : CEP_TIME_MIN);
    }
    dmn_metric_head(sb, "cepd_source_up", "gauge",
                    "1 when the source is reading, 0 when it is not running or has ended.");
    for (size_t i = 0; i < d->n_srcs; i++) {
        const struct dmn_src *s = d->srcs[i];
        dmn_metric_u64(sb, "cepd_source_up", "source", s->name, s->started && !s->io.ended);
    }
}

static void dmn_metrics_sinks(struct sbuf *sb, const struct dmn *d)
{
    static const struct {
        const char *name;
        const char *help;
        size_t off;
    } counters[] = {
        {"cepd_sink_queued_total", "Alerts put in the sink's queue.",
         offsetof(struct io_sink_stats, queued)},
        {"cepd_sink_delivered_total", "Alerts the sink delivered.",
         offsetof(struct io_sink_stats, delivered)},
        {"cepd_sink_retried_total", "Failed attempts that were retried.",
         offsetof(struct io_sink_stats, retried)},
        {"cepd_sink_dead_lettered_total", "Alerts given up on and written to the dead letter.",
         offsetof(struct io_sink_stats, dead_lettered)},
        {"cepd_sink_circuit_opens_total", "Times the circuit breaker opened.",
         offsetof(struct io_sink_stats, circuit_opens)},
        {"cepd_sink_queue_depth", "Alerts in the queue now.",
         offsetof(struct io_sink_stats, depth)},
    };
    for (size_t m = 0; m < CEP_ARRAY_LEN(counters); m++) {
        bool gauge = strcmp(counters[m].name, "cepd_sink_queue_depth") == 0;
        dmn_metric_head(sb, counters[m].name, gauge ? "gauge" : "counter", counters[m].help);
        for (size_t i = 0; i < d->n_snks; i++) {
            const struct io_sink *s = &d->snks[i]->io;
            uint64_t v;
            memcpy(&v, (const char *)&s->st + counters[m].off, sizeof(v));
            dmn_metric_u64(sb, counters[m].name, "sink", s->cfg->name, v);
        }
    }
    dmn_metric_head(sb, "cepd_sink_queue_capacity", "gauge",
                    "Queue depth at which the sources pause (back-pressure).");
    for (size_t i = 0; i < d->n_snks; i++)
        dmn_metric_u64(sb, "cepd_sink_queue_capacity", "sink", d->snks[i]->io.cfg->name,
                       d->snks[i]->io.capacity);
    dmn_metric_head(sb, "cepd_sink_last_error_info", "gauge",
                    "The sink's last delivery error (sinks that had one).");
    for (size_t i = 0; i < d->n_snks; i++) {
        const struct io_sink *s = &d->snks[i]->io;
        if (!s->st.last_error[0])
            continue;
        sbuf_puts(sb, "cepd_sink_last_error_info{sink=\"");
        dmn_metric_label(sb, s->cfg->name);
        sbuf_puts(sb, "\",error=\"");
        dmn_metric_label(sb, s->st.last_error);
        sbuf_puts(sb, "\"} 1\n");
    }
}

/* Checkpoints (dmn_ckpt.c), when checkpoint.dir is set. */
static void dmn_metrics_ckpt(struct sbuf *sb, const struct dmn *d)
{
    struct dmn_ckpt_stats st;
    if (!dmn_ckpt_stats(d, &st))
        return;
    dmn_metric_head(sb, "cepd_checkpoints_total", "counter",
                    "Checkpoints and savepoints written (ok) or failed.");
    sbuf_printf(sb, "cepd_checkpoints_total{result=\"ok\"} %" PRIu64 "\n", st.ok);
    sbuf_printf(sb, "cepd_checkpoints_total{result=\"failed\"} %" PRIu64 "\n", st.failed);
    dmn_metric_head(sb, "cepd_checkpoint_duration_seconds", "gauge",
                    "How long the last successful checkpoint took.");
    sbuf_printf(sb, "cepd_checkpoint_duration_seconds %.6f\n", st.last_seconds);
    dmn_metric_head(sb, "cepd_checkpoint_bytes", "gauge", "Size of the last successful checkpoint.");
    sbuf_printf(sb, "cepd_checkpoint_bytes %" PRIu64 "\n", st.last_bytes);
    dmn_metric_head(sb, "cepd_checkpoint_last_success_timestamp_seconds", "gauge",
                    "When the last successful checkpoint was taken (0: none yet).");
    sbuf_printf(sb, "cepd_checkpoint_last_success_timestamp_seconds %.3f\n",
                (double)st.last_ok_at / CEP_USEC_PER_SEC);
    dmn_metric_head(sb, "cepd_outbox_alerts", "gauge",
                    "Alerts not yet acknowledged by their sinks (held or queued).");
    sbuf_printf(sb, "cepd_outbox_alerts %" PRIu64 "\n", st.outbox);
}

static void dmn_metrics(struct sbuf *sb, const struct dmn *d)
{
    /* With workers the engine and per-rule counters are theirs, summed. */
    struct eng_stats par_st;
    const struct eng_stats *st = eng_stats(d->g.eng);
    if (d->par) {
        eng_par_stats(d->par, &par_st);
        st = &par_st;
    }
    int64_t now = eng_now_us();
    dmn_metric_head(sb, "cepd_uptime_seconds", "gauge", "Seconds since cepd started.");
    sbuf_printf(sb, "cepd_uptime_seconds %" PRId64 "\n", (now - d->started_at) / CEP_USEC_PER_SEC);
    dmn_metric_head(sb, "cepd_reloads_total", "counter", "Reloads (SIGHUP, POST /reload).");
    dmn_metric_u64(sb, "cepd_reloads_total", "result", "ok", d->reloads_ok);
    dmn_metric_u64(sb, "cepd_reloads_total", "result", "failed", d->reloads_failed);
    dmn_metric_head(sb, "cepd_last_reload_success", "gauge",
                    "1 when the last reload succeeded (or none was tried), else 0.");
    sbuf_printf(sb, "cepd_last_reload_success %d\n",
                d->reloads_ok + d->reloads_failed == 0 || d->last_reload_ok);
    dmn_metric_head(sb, "cepd_rules", "gauge", "Rules loaded.");
    sbuf_printf(sb, "cepd_rules %zu\n", d->g.rs->n_rules);
    static const struct {
        const char *name;
        const char *help;
        size_t off;
    } eng_counters[] = {
        {"cepd_lines_total", "Input lines offered to the engine.",
         offsetof(struct eng_stats, lines)},
        {"cepd_events_total", "Decoded events.", offsetof(struct eng_stats, events)},
        {"cepd_rejected_total", "Input lines rejected (dead-lettered).",
         offsetof(struct eng_stats, rejected)},
        {"cepd_late_events_total", "Events behind the watermark beyond the allowed lateness.",
         offsetof(struct eng_stats, late)},
        {"cepd_derived_events_total", "Derived events routed between rules.",
         offsetof(struct eng_stats, derived)},
        {"cepd_alerts_total", "Alerts produced.", offsetof(struct eng_stats, alerts)},
    };
    for (size_t m = 0; m < CEP_ARRAY_LEN(eng_counters); m++) {
        uint64_t v;
        memcpy(&v, (const char *)st + eng_counters[m].off, sizeof(v));
        dmn_metric_head(sb, eng_counters[m].name, "counter", eng_counters[m].help);
        sbuf_printf(sb, "%s %" PRIu64 "\n", eng_counters[m].name, v);
    }
    dmn_metric_head(sb, "cepd_backpressure_pauses_total", "counter",
                    "Times a full sink paused every source.");
    sbuf_printf(sb, "cepd_backpressure_pauses_total %" PRIu64 "\n", d->pauses);
    dmn_metric_head(sb, "cepd_sources_paused", "gauge",
                    "1 while the sources are paused by back-pressure.");
    sbuf_printf(sb, "cepd_sources_paused %d\n", d->n_full > 0);
    dmn_metrics_rules(sb, d);
    dmn_metrics_sources(sb, d);
    dmn_metrics_sinks(sb, d);
    dmn_metrics_ckpt(sb, d);
}

/* ---- /rules --------------------------------------------------------------- */

static void dmn_rules_json(struct sbuf *sb, const struct dmn *d)
{
    const struct ruleset *rs = d->g.rs;
    sbuf_putc(sb, '[');
    for (size_t i = 0; i < rs->n_rules; i++) {
        const struct rule *r = rs->rules[i];
        const char *stream = rs->streams[r->stream].name;
        sbuf_puts(sb, i ? ",\n{\"id\":" : "\n{\"id\":");
        sbuf_json_str(sb, r->id, strlen(r->id));
        sbuf_printf(sb, ",\"kind\":\"%s\",\"stream\":", rule_kind_name(r->kind));
        sbuf_json_str(sb, stream, strlen(stream));
        sbuf_printf(sb, ",\"hash\":\"%016" PRIx64 "\",\"enabled\":%s,\"file\":", r->hash,
                    r->enabled ? "true" : "false");
        sbuf_json_str(sb, r->file ? r->file : "", r->file ? strlen(r->file) : 0);
        sbuf_printf(sb, ",\"line\":%u}", r->line);
    }
    sbuf_puts(sb, "\n]\n");
}

/* ---- dispatch ------------------------------------------------------------- */

/* POST /reload: 200 with the rule count, 422 with the reason it failed
 * (the diagnostics are in the log), 503 while stopping. */
static void dmn_admin_reload(struct dmn *d, struct evhttp_request *req, struct sbuf *sb)
{
    char why[256];
    if (d->stopping) {
        dmn_admin_error(req, 503, "Stopping", "cepd is stopping");
        return;
    }
    cep_log(CEP_LOG_NOTICE, "POST /reload: reloading %s", d->config_path);
    dmn_notify("RELOADING=1");
    int rc = dmn_reload(d, why, sizeof(why));
    dmn_notify("READY=1");
    if (rc == CEP_OK) {
        sbuf_printf(sb, "{\"ok\":true,\"rules\":%zu}\n", d->g.rs->n_rules);
        dmn_admin_json(req, 200, "OK", sb);
        return;
    }
    sbuf_puts(sb, "{\"ok\":false,\"error\":");
    sbuf_json_str(sb, why, strlen(why));
    sbuf_puts(sb, "}\n");
    dmn_admin_json(req, 422, "Unprocessable Entity", sb);
}

/* POST /savepoint[?path=P]: a savepoint now, between two input lines.  P
 * absolute: written there; a plain file name: into checkpoint.dir; none:
 * DIR/savepoint-<seq>.ckpt.  P must end in .ckpt (so a mistyped path never
 * replaces a file of another kind).  200 {"ok":true,"path":...}; 400 for a
 * bad P; 409 without checkpoint.dir; 500 with the reason writing failed;
 * 503 while stopping. */
static void dmn_admin_savepoint(struct dmn *d, struct evhttp_request *req, struct sbuf *sb)
{
    if (d->stopping) {
        dmn_admin_error(req, 503, "Stopping", "cepd is stopping");
        return;
    }
    if (!d->ckpt || !d->g.cfg->checkpoint.dir) {
        dmn_admin_error(req, 409, "Conflict", "savepoints need checkpoint.dir in the config");
        return;
    }
    struct evkeyvalq q = {0}; /* empty (evhttp_parse_query_str initialises it) */
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    if (query && evhttp_parse_query_str(query, &q) != 0) {
        dmn_admin_error(req, 400, "Bad Request", "malformed query");
        return;
    }
    const char *p = evhttp_find_header(&q, "path");
    char path[4096], out[4096], err[512];
    const char *why = NULL;
    size_t plen = p ? strlen(p) : 0;
    if (p && (plen < 6 || strcmp(p + plen - 5, ".ckpt") != 0))
        why = "path must end in .ckpt";
    else if (p && p[0] != '/' && (strchr(p, '/') || p[0] == '.'))
        why = "path must be absolute or a plain file name (put in checkpoint.dir)";
    else if (p && snprintf(path, sizeof(path), "%s%s%s", p[0] == '/' ? "" : d->g.cfg->checkpoint.dir,
                           p[0] == '/' ? "" : "/", p) >= (int)sizeof(path))
        why = "path too long";
    evhttp_clear_headers(&q);
    if (why) {
        dmn_admin_error(req, 400, "Bad Request", why);
        return;
    }
    cep_log(CEP_LOG_NOTICE, "POST /savepoint: taking a savepoint");
    if (dmn_ckpt_take(d, CKPT_KIND_SAVEPOINT, p ? path : NULL, out, sizeof(out), err,
                      sizeof(err)) != CEP_OK) {
        dmn_admin_error(req, 500, "Internal Server Error", err);
        return;
    }
    sbuf_puts(sb, "{\"ok\":true,\"path\":");
    sbuf_json_str(sb, out, strlen(out));
    sbuf_puts(sb, "}\n");
    dmn_admin_json(req, 200, "OK", sb);
}

static bool dmn_admin_authorized(struct dmn_admin *a, struct evhttp_request *req)
{
    if (!a->token)
        return true;
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (h && strncmp(h, "Bearer ", 7) == 0 && dmn_admin_token_eq(h + 7, a->token))
        return true;
    a->unauthorized++;
    evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                      "Bearer realm=\"cepd\"");
    dmn_admin_error(req, 401, "Unauthorized", "a bearer token is required");
    return false;
}

/* The method is wrong for the path: 405 naming the allowed one. */
static bool dmn_admin_method(struct evhttp_request *req, enum evhttp_cmd_type want,
                             const char *allow)
{
    if (evhttp_request_get_command(req) == want)
        return true;
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
    dmn_admin_error(req, 405, "Method Not Allowed", "method not allowed");
    return false;
}

static void dmn_admin_cb(struct evhttp_request *req, void *ud)
{
    struct dmn_admin *a = ud;
    struct dmn *d = a->d;
    a->requests++;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    struct sbuf sb;
    sbuf_init(&sb);
    if (!path)
        path = "/";
    if (strcmp(path, "/healthz") == 0) {
        if (dmn_admin_method(req, EVHTTP_REQ_GET, "GET")) {
            sbuf_puts(&sb, d->stopping ? "{\"status\":\"stopping\"}\n" : "{\"status\":\"ok\"}\n");
            dmn_admin_json(req, d->stopping ? 503 : 200, d->stopping ? "Stopping" : "OK", &sb);
        }
    } else if (!dmn_admin_authorized(a, req)) {
        /* answered */
    } else if (strcmp(path, "/metrics") == 0) {
        if (dmn_admin_method(req, EVHTTP_REQ_GET, "GET")) {
            dmn_metrics(&sb, d);
            struct evbuffer *b = evbuffer_new();
            CEP_ASSERT(b);
            evbuffer_add(b, sb.buf, sb.len);
            dmn_admin_reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", b);
            evbuffer_free(b);
        }
    } else if (strcmp(path, "/rules") == 0) {
        if (dmn_admin_method(req, EVHTTP_REQ_GET, "GET")) {
            dmn_rules_json(&sb, d);
            dmn_admin_json(req, 200, "OK", &sb);
        }
    } else if (strcmp(path, "/reload") == 0) {
        if (dmn_admin_method(req, EVHTTP_REQ_POST, "POST")) {
            dmn_admin_reload(d, req, &sb);
        }
    } else if (strcmp(path, "/savepoint") == 0) {
        if (dmn_admin_method(req, EVHTTP_REQ_POST, "POST"))
            dmn_admin_savepoint(d, req, &sb);
    } else {
        dmn_admin_error(req, 404, "Not Found",
                        "unknown path (try /healthz, /metrics, /rules, /reload, /savepoint)");
    }
    sbuf_free(&sb);
}

int dmn_admin_start(struct dmn *d)
{
    const struct cfg *c = d->g.cfg;
    if (!c->admin.listen)
        return CEP_OK;
    struct dmn_admin *a = cep_calloc(1, sizeof(*a));
    a->d = d;
    d->admin = a;
    if (dmn_admin_split(c->admin.listen, &a->host, &a->port) != CEP_OK) {
        cep_log(CEP_LOG_ERROR, "admin: listen '%s' is not HOST:PORT or :PORT", c->admin.listen);
        return CEP_ERR;
    }
    if (dmn_admin_token(c, &a->token) != CEP_OK)
        return CEP_ERR;
    if (!a->token && !c->admin.allow_remote && !dmn_admin_loopback(a->host)) {
        cep_log(CEP_LOG_ERROR, "admin: refusing to listen on %s without a token: set "
                "admin.token or admin.token_file, or admin.allow_remote: true", c->admin.listen);
        return CEP_ERR;
    }
    a->http = evhttp_new(d->base);
    CEP_ASSERT(a->http);
    evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                                EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
    evhttp_set_max_body_size(a->http, DMN_ADMIN_BODY_MAX);
    evhttp_set_timeout(a->http, 10);
    evhttp_set_gencb(a->http, dmn_admin_cb, a);
    long port = strtol(a->port, NULL, 10);
    if (port > 65535 || evhttp_bind_socket(a->http, a->host, (uint16_t)port) != 0) {
        cep_log(CEP_LOG_ERROR, "admin: cannot listen on %s: %s", c->admin.listen,
                port > 65535 ? "bad port" : strerror(errno));
        return CEP_ERR;
    }
    cep_log(CEP_LOG_NOTICE, "admin: listening on %s%s", c->admin.listen,
            a->token ? " (bearer token required)" : "");
    return CEP_OK;
}

int dmn_admin_check(const struct dmn *d, const struct cfg *c, char **token)
{
    *token = NULL;
    const struct dmn_admin *a = d->admin;
    if (!a || !c->admin.listen)
        return CEP_OK;
    if (dmn_admin_token(c, token) != CEP_OK)
        return CEP_ERR;
    if (!*token && !c->admin.allow_remote && !dmn_admin_loopback(a->host)) {
        cep_log(CEP_LOG_ERROR, "admin: listening on %s:%s, which is not a loopback address: "
                "a token or admin.allow_remote: true is required", a->host, a->port);
        return CEP_ERR;
    }
    return CEP_OK;
}

void dmn_admin_reconfigure(struct dmn *d, char *token)
{
    struct dmn_admin *a = d->admin;
    const struct cfg *c = d->g.cfg;
    if (!a) {
        if (c->admin.listen)
            cep_log(CEP_LOG_WARN, "admin: the admin server starts with the next restart");
        cep_free(token);
        return;
    }
    if (!c->admin.listen) {
        cep_log(CEP_LOG_WARN, "admin: the admin server stops with the next restart");
        cep_free(token);
        return;
    }
    cep_free(a->token);
    a->token = token;
    char *host, *port;
    if (dmn_admin_split(c->admin.listen, &host, &port) == CEP_OK) {
        if (strcmp(host, a->host) != 0 || strcmp(port, a->port) != 0)
            cep_log(CEP_LOG_WARN, "admin: still listening on %s:%s; a new address takes a "
                    "restart", a->host, a->port);
        cep_free(host);
        cep_free(port);
    }
}

void dmn_admin_free(struct dmn *d)
{
    struct dmn_admin *a = d->admin;
    if (!a)
        return;
    if (a->http)
        evhttp_free(a->http);
    cep_free(a->host);
    cep_free(a->port);
    cep_free(a->token);
    cep_free(a);
    d->admin = NULL;
}
