/* SPDX-License-Identifier: Apache-2.0
 * cepd.yaml: schema tables for every section, read through the rule
 * loader's positioned YAML tree, so every config error is reported with
 * FILE:LINE:COL and unknown keys get a suggestion.  Cheap checks only (enum
 * values, required per-type keys, unique names, default_sinks exist); what
 * needs the network or the rules is checked by whoever uses the value.
 * Tested by: tests/unit/check_rule.c (config cases) */
#include "cepd/cep_common.h"
#include "cepd/cfg.h"

#include <inttypes.h>
#include <string.h>

#include "cepd/io.h"
#include "cepd/rule_yaml.h"

enum {
    CK_RULES = 0,
    CK_STREAMS,
    CK_SOURCES,
    CK_SINKS,
    CK_DEFAULT_SINKS,
    CK_CHECKPOINT,
    CK_ADMIN,
    CK_PARALLELISM,
    CK_MAX_LINE,
    CK_LOG,
    CK_USER,
    CK_GROUP,
    CK_DEAD_LETTER,
    CK_ENABLE,
    CK_DISABLE,
    CK_LOOKUPS,
    CK_COUNT
};

static const struct rule_yaml_key cfg_keys[CK_COUNT] = {
    [CK_RULES] = {"rules", RULE_YAML_WANT_STR_SEQ},
    [CK_STREAMS] = {"streams", RULE_YAML_WANT_MAP},
    [CK_SOURCES] = {"sources", RULE_YAML_WANT_SEQ},
    [CK_SINKS] = {"sinks", RULE_YAML_WANT_SEQ},
    [CK_DEFAULT_SINKS] = {"default_sinks", RULE_YAML_WANT_STR_SEQ},
    [CK_CHECKPOINT] = {"checkpoint", RULE_YAML_WANT_MAP},
    [CK_ADMIN] = {"admin", RULE_YAML_WANT_MAP},
    [CK_PARALLELISM] = {"parallelism", RULE_YAML_WANT_INT},
    [CK_MAX_LINE] = {"max_line_bytes", RULE_YAML_WANT_INT},
    [CK_LOG] = {"log", RULE_YAML_WANT_MAP},
    [CK_USER] = {"user", RULE_YAML_WANT_STR},
    [CK_GROUP] = {"group", RULE_YAML_WANT_STR},
    [CK_DEAD_LETTER] = {"dead_letter", RULE_YAML_WANT_STR},
    [CK_ENABLE] = {"enable_rules", RULE_YAML_WANT_STR_SEQ},
    [CK_DISABLE] = {"disable_rules", RULE_YAML_WANT_STR_SEQ},
    [CK_LOOKUPS] = {"lookups", RULE_YAML_WANT_MAP},
};

enum {
    CS_NAME = 0,
    CS_TYPE,
    CS_PATH,
    CS_STREAM,
    CS_FORMAT,
    CS_LISTEN,
    CS_URL,
    CS_KEY,
    CS_GROUP,
    CS_PATTERN,
    CS_MAX_LINE,
    CS_MAX_BODY,
    CS_CONSUMER,
    CS_ACK,
    CS_COUNT
};

static const struct rule_yaml_key cfg_source_keys[CS_COUNT] = {
    [CS_NAME] = {"name", RULE_YAML_WANT_STR},
    [CS_TYPE] = {"type", RULE_YAML_WANT_STR},
    [CS_PATH] = {"path", RULE_YAML_WANT_STR},
    [CS_STREAM] = {"stream", RULE_YAML_WANT_STR},
    [CS_FORMAT] = {"format", RULE_YAML_WANT_STR},
    [CS_LISTEN] = {"listen", RULE_YAML_WANT_STR},
    [CS_URL] = {"url", RULE_YAML_WANT_STR},
    [CS_KEY] = {"key", RULE_YAML_WANT_STR},
    [CS_GROUP] = {"group", RULE_YAML_WANT_STR},
    [CS_PATTERN] = {"pattern", RULE_YAML_WANT_STR},
    [CS_MAX_LINE] = {"max_line_bytes", RULE_YAML_WANT_INT},
    [CS_MAX_BODY] = {"max_body_bytes", RULE_YAML_WANT_INT},
    [CS_CONSUMER] = {"consumer", RULE_YAML_WANT_STR},
    [CS_ACK] = {"ack", RULE_YAML_WANT_BOOL},
};

static const char *const cfg_source_types[CFG_SRC_TYPE_COUNT] = {
    [CFG_SRC_FILE] = "file",
    [CFG_SRC_STDIN] = "stdin",
    [CFG_SRC_TCP] = "tcp",
    [CFG_SRC_HTTP] = "http",
    [CFG_SRC_REDIS_STREAM] = "redis_stream",
};

static const char *const cfg_formats[CFG_FMT_COUNT] = {
    [CFG_FMT_JSON] = "json",
    [CFG_FMT_REGEX] = "regex",
    [CFG_FMT_SYSLOG] = "syslog",
};

enum {
    CN_NAME = 0,
    CN_TYPE,
    CN_PATH,
    CN_URL,
    CN_MODE,
    CN_KEY,
    CN_SECRET,
    CN_STREAM,
    CN_RETRIES,
    CN_TIMEOUT,
    CN_QUEUE,
    CN_BACKOFF_MAX,
    CN_DEAD_LETTER,
    CN_MAXLEN,
    CN_TTL,
    CN_HEADERS,
    CN_TLS_VERIFY,
    CN_COUNT
};

static const struct rule_yaml_key cfg_sink_keys[CN_COUNT] = {
    [CN_NAME] = {"name", RULE_YAML_WANT_STR},
    [CN_TYPE] = {"type", RULE_YAML_WANT_STR},
    [CN_PATH] = {"path", RULE_YAML_WANT_STR},
    [CN_URL] = {"url", RULE_YAML_WANT_STR},
    [CN_MODE] = {"mode", RULE_YAML_WANT_STR},
    [CN_KEY] = {"key", RULE_YAML_WANT_STR},
    [CN_SECRET] = {"secret_file", RULE_YAML_WANT_STR},
    [CN_STREAM] = {"stream", RULE_YAML_WANT_STR},
    [CN_RETRIES] = {"max_retries", RULE_YAML_WANT_INT},
    [CN_TIMEOUT] = {"timeout", RULE_YAML_WANT_DURATION},
    [CN_QUEUE] = {"queue_size", RULE_YAML_WANT_INT},
    [CN_BACKOFF_MAX] = {"backoff_max", RULE_YAML_WANT_DURATION},
    [CN_DEAD_LETTER] = {"dead_letter", RULE_YAML_WANT_STR},
    [CN_MAXLEN] = {"maxlen", RULE_YAML_WANT_INT},
    [CN_TTL] = {"ttl", RULE_YAML_WANT_DURATION},
    [CN_HEADERS] = {"headers", RULE_YAML_WANT_MAP},
    [CN_TLS_VERIFY] = {"tls_verify", RULE_YAML_WANT_BOOL},
};

static const char *const cfg_sink_types[CFG_SINK_TYPE_COUNT] = {
    [CFG_SINK_STDOUT] = "stdout",
    [CFG_SINK_FILE] = "file",
    [CFG_SINK_REDIS] = "redis",
    [CFG_SINK_WEBHOOK] = "webhook",
    [CFG_SINK_STREAM] = "stream",
};

enum {
    CC_DIR = 0,
    CC_INTERVAL,
    CC_RETAIN,
    CC_DELIVERY,
    CC_SAVEPOINT_ON_STOP,
    CC_OUTBOX_SIZE,
    CC_COUNT
};

static const struct rule_yaml_key cfg_ckpt_keys[CC_COUNT] = {
    [CC_DIR] = {"dir", RULE_YAML_WANT_STR},
    [CC_INTERVAL] = {"interval", RULE_YAML_WANT_DURATION},
    [CC_RETAIN] = {"retain", RULE_YAML_WANT_INT},
    [CC_DELIVERY] = {"delivery", RULE_YAML_WANT_STR},
    [CC_SAVEPOINT_ON_STOP] = {"savepoint_on_stop", RULE_YAML_WANT_BOOL},
    [CC_OUTBOX_SIZE] = {"outbox_size", RULE_YAML_WANT_INT},
};

static const char *const cfg_deliveries[CFG_DELIVERY_COUNT] = {
    [CFG_DELIVERY_EXACTLY_ONCE] = "exactly_once",
    [CFG_DELIVERY_AT_LEAST_ONCE] = "at_least_once",
};

enum {
    CA_LISTEN = 0,
    CA_TOKEN,
    CA_TOKEN_FILE,
    CA_REMOTE,
    CA_COUNT
};

static const struct rule_yaml_key cfg_admin_keys[CA_COUNT] = {
    [CA_LISTEN] = {"listen", RULE_YAML_WANT_STR},
    [CA_TOKEN] = {"token", RULE_YAML_WANT_STR},
    [CA_TOKEN_FILE] = {"token_file", RULE_YAML_WANT_STR},
    [CA_REMOTE] = {"allow_remote", RULE_YAML_WANT_BOOL},
};

enum {
    CL_LEVEL = 0,
    CL_TARGET,
    CL_COUNT
};

static const struct rule_yaml_key cfg_log_keys[CL_COUNT] = {
    [CL_LEVEL] = {"level", RULE_YAML_WANT_STR},
    [CL_TARGET] = {"target", RULE_YAML_WANT_STR},
};

static const char *const cfg_log_levels[] = {"error", "warn", "notice", "info", "debug"};

/* Load state: the config under construction plus the error count. */
struct cfg_ld {
    struct cfg *c;
    struct diag_list *dl;
    int errors;
};

static char *cfg_str(const struct rule_yaml_node *n)
{
    return n ? cep_strdup(n->str) : NULL;
}

/* A path relative to the config file's directory. */
static char *cfg_path(const struct cfg *c, const struct rule_yaml_node *n)
{
    if (!n)
        return NULL;
    if (n->str[0] == '/' || !c->dir || strcmp(c->dir, ".") == 0)
        return cep_strdup(n->str);
    return cep_asprintf("%s/%s", c->dir, n->str);
}

static char **cfg_strs(const struct rule_yaml_node *seq, size_t *n_out)
{
    char **v = cep_calloc(seq->n ? seq->n : 1, sizeof(*v));
    for (size_t i = 0; i < seq->n; i++)
        v[i] = cep_strdup(seq->items[i]->str);
    *n_out = seq->n;
    return v;
}

static void cfg_error(struct cfg_ld *ld, const struct rule_yaml_node *n, const char *fmt, ...)
        CEP_PRINTF(3, 4);
static void cfg_error(struct cfg_ld *ld, const struct rule_yaml_node *n, const char *fmt, ...)
{
    struct diag_loc loc;
    va_list ap;
    rule_yaml_node_loc(n, &loc);
    va_start(ap, fmt);
    diag_addv(ld->dl, DIAG_ERROR, &loc, fmt, ap);
    va_end(ap);
    ld->errors++;
}

/* An integer from lo to hi at n (name for messages) into *out; false
 * after reporting anything else. */
static bool cfg_int_in(struct cfg_ld *ld, const struct rule_yaml_node *n, const char *name,
                       int64_t lo, int64_t hi, int64_t *out)
{
    if (rule_yaml_get_int(n, name, out, ld->dl) != CEP_OK) {
        ld->errors++;
        return false;
    }
    if (*out < lo || *out > hi) {
        cfg_error(ld, n, "%s must be from %" PRId64 " to %" PRId64 ", not %s", name, lo, hi,
                  n->str);
        return false;
    }
    return true;
}

static int cfg_enum(struct cfg_ld *ld, const struct rule_yaml_node *n, const char *what,
                    const char *const *names, size_t n_names, int dflt)
{
    if (!n)
        return dflt;
    int v = rule_yaml_get_enum(n, what, names, n_names, ld->dl);
    if (v < 0) {
        ld->errors++;
        return dflt;
    }
    return v;
}

static void cfg_require(struct cfg_ld *ld, const struct rule_yaml_node *item,
                        const struct rule_yaml_node *v, const char *key, const char *what,
                        const char *type)
{
    if (!v) {
        rule_yaml_diag(ld->dl, DIAG_ERROR, item, "a %s %s needs '%s'", type, what, key);
        ld->errors++;
    }
}

/* The keys of network sources and line formats: max_body_bytes (http),
 * and the pattern, compiled here so that a bad one is reported at its
 * exact column. */
static void cfg_source_net(struct cfg_ld *ld, struct cfg_source *s,
                           const struct rule_yaml_node *const *v)
{
    if (v[CS_MAX_BODY]) {
        int64_t m;
        if (rule_yaml_get_int(v[CS_MAX_BODY], "max_body_bytes", &m, ld->dl) != CEP_OK)
            ld->errors++;
        else if (s->type != CFG_SRC_HTTP)
            cfg_error(ld, v[CS_MAX_BODY], "max_body_bytes is for http sources");
        else if (m < 1)
            cfg_error(ld, v[CS_MAX_BODY], "max_body_bytes must be at least 1");
        else
            s->max_body_bytes = (size_t)m;
    }
    if (v[CS_ACK]) {
        if (rule_yaml_get_bool(v[CS_ACK], "ack", &s->ack, ld->dl) != CEP_OK)
            ld->errors++;
        else if (s->type != CFG_SRC_TCP)
            cfg_error(ld, v[CS_ACK], "ack is for tcp sources");
    }
    if (!v[CS_PATTERN])
        return;
    if (s->format == CFG_FMT_JSON) {
        cfg_error(ld, v[CS_PATTERN], "'pattern' needs format regex or syslog");
        return;
    }
    size_t off;
    char msg[160];
    if (io_format_pattern_check(s->pattern, &off, msg, sizeof(msg)) != CEP_OK) {
        struct diag_loc loc;
        rule_yaml_scalar_loc(v[CS_PATTERN], off, &loc);
        diag_add(ld->dl, DIAG_ERROR, &loc, "bad pattern: %s", msg);
        ld->errors++;
    }
}

static void cfg_sources(struct cfg_ld *ld, const struct rule_yaml_node *seq)
{
    struct cfg *c = ld->c;
    c->sources = cep_calloc(seq->n ? seq->n : 1, sizeof(*c->sources));
    for (size_t i = 0; i < seq->n; i++) {
        const struct rule_yaml_node *item = seq->items[i], *v[CS_COUNT];
        ld->errors += rule_yaml_walk(item, "a source", cfg_source_keys, CS_COUNT, v, ld->dl);
        if (item->kind != RULE_YAML_MAP)
            continue;
        struct cfg_source *s = &c->sources[c->n_sources++];
        s->line = item->line;
        s->max_line_bytes = 0;
        if (!v[CS_NAME] && !rule_yaml_map_get(item, "name"))
            cfg_error(ld, item, "a source needs a 'name'");
        s->name = cfg_str(v[CS_NAME]);
        for (size_t j = 0; s->name && j + 1 < c->n_sources; j++) {
            if (c->sources[j].name && strcmp(c->sources[j].name, s->name) == 0)
                cfg_error(ld, v[CS_NAME], "source name '%s' is used twice", s->name);
        }
        if (!v[CS_TYPE] && !rule_yaml_map_get(item, "type"))
            cfg_error(ld, item, "a source needs a 'type'");
        s->type = (enum cfg_source_type)cfg_enum(ld, v[CS_TYPE], "source type", cfg_source_types,
                                                 CFG_SRC_TYPE_COUNT, CFG_SRC_STDIN);
        s->format = (enum cfg_format)cfg_enum(ld, v[CS_FORMAT], "format", cfg_formats,
                                              CFG_FMT_COUNT, CFG_FMT_JSON);
        s->path = cfg_path(c, v[CS_PATH]);
        s->stream = cep_strdup(v[CS_STREAM] ? v[CS_STREAM]->str : "default");
        s->listen = cfg_str(v[CS_LISTEN]);
        s->url = cfg_str(v[CS_URL]);
        s->key = cfg_str(v[CS_KEY]);
        s->group = cfg_str(v[CS_GROUP]);
        s->consumer = cfg_str(v[CS_CONSUMER]);
        s->pattern = cfg_str(v[CS_PATTERN]);
        int64_t m;
        if (v[CS_MAX_LINE] &&
            cfg_int_in(ld, v[CS_MAX_LINE], "max_line_bytes", 64, CFG_MAX_LINE_BYTES_LIMIT, &m))
            s->max_line_bytes = (size_t)m;
        if (!v[CS_TYPE])
            continue;
        const char *tn = cfg_source_types[s->type];
        switch (s->type) {
        case CFG_SRC_FILE:
            cfg_require(ld, item, v[CS_PATH], "path", "source", tn);
            break;
        case CFG_SRC_TCP:
        case CFG_SRC_HTTP:
            cfg_require(ld, item, v[CS_LISTEN], "listen", "source", tn);
            break;
        case CFG_SRC_REDIS_STREAM:
            cfg_require(ld, item, v[CS_URL], "url", "source", tn);
            cfg_require(ld, item, v[CS_KEY], "key", "source", tn);
            break;
        default:
            break;
        }
        if (s->format == CFG_FMT_REGEX)
            cfg_require(ld, item, v[CS_PATTERN], "pattern", "source", "regex-format");
        cfg_source_net(ld, s, v);
    }
}

/* The delivery keys of sinks: queue, back-off, dead letter, and the
 * redis and webhook settings (each refused on another sink type). */
static void cfg_sink_delivery(struct cfg_ld *ld, struct cfg_sink *s,
                              const struct rule_yaml_node *const *v)
{
    int64_t n;
    if (v[CN_QUEUE]) {
        if (rule_yaml_get_int(v[CN_QUEUE], "queue_size", &n, ld->dl) != CEP_OK)
            ld->errors++;
        else if (n < 1)
            cfg_error(ld, v[CN_QUEUE], "queue_size must be at least 1");
        else
            s->queue_size = (size_t)n;
    }
    if (v[CN_BACKOFF_MAX] &&
        rule_yaml_get_duration(v[CN_BACKOFF_MAX], "backoff_max", &s->backoff_max, ld->dl) !=
                CEP_OK)
        ld->errors++;
    s->dead_letter = cfg_path(ld->c, v[CN_DEAD_LETTER]);
    if (v[CN_MAXLEN] && rule_yaml_get_int(v[CN_MAXLEN], "maxlen", &s->maxlen, ld->dl) != CEP_OK)
        ld->errors++;
    if (v[CN_TTL] && rule_yaml_get_duration(v[CN_TTL], "ttl", &s->ttl, ld->dl) != CEP_OK)
        ld->errors++;
    else if (v[CN_TTL] && s->ttl < CEP_USEC_PER_SEC)
        cfg_error(ld, v[CN_TTL], "ttl must be at least 1s");
    s->tls_verify = true;
    if (v[CN_TLS_VERIFY] &&
        rule_yaml_get_bool(v[CN_TLS_VERIFY], "tls_verify", &s->tls_verify, ld->dl) != CEP_OK)
        ld->errors++;
    if (v[CN_HEADERS]) {
        const struct rule_yaml_node *h = v[CN_HEADERS];
        s->headers = cep_calloc(2 * h->n + 1, sizeof(*s->headers));
        for (size_t i = 0; i < h->n; i++) {
            if (h->items[i]->kind != RULE_YAML_SCALAR) {
                cfg_error(ld, h->items[i], "a header value must be a string");
                continue;
            }
            s->headers[2 * s->n_headers] = cep_strdup(h->keys[i]->str);
            s->headers[2 * s->n_headers + 1] = cep_strdup(h->items[i]->str);
            s->n_headers++;
        }
    }
    if (!v[CN_TYPE])
        return;
    for (int k = CN_MAXLEN; k <= CN_TTL; k++) {
        if (v[k] && s->type != CFG_SINK_REDIS)
            cfg_error(ld, v[k], "'%s' is for redis sinks", cfg_sink_keys[k].name);
    }
    for (int k = CN_HEADERS; k <= CN_TLS_VERIFY; k++) {
        if (v[k] && s->type != CFG_SINK_WEBHOOK)
            cfg_error(ld, v[k], "'%s' is for webhook sinks", cfg_sink_keys[k].name);
    }
}

static void cfg_sinks(struct cfg_ld *ld, const struct rule_yaml_node *seq)
{
    struct cfg *c = ld->c;
    c->sinks = cep_calloc(seq->n ? seq->n : 1, sizeof(*c->sinks));
    for (size_t i = 0; i < seq->n; i++) {
        const struct rule_yaml_node *item = seq->items[i], *v[CN_COUNT];
        ld->errors += rule_yaml_walk(item, "a sink", cfg_sink_keys, CN_COUNT, v, ld->dl);
        if (item->kind != RULE_YAML_MAP)
            continue;
        struct cfg_sink *s = &c->sinks[c->n_sinks++];
        s->line = item->line;
        s->max_retries = -1;
        if (!v[CN_NAME] && !rule_yaml_map_get(item, "name"))
            cfg_error(ld, item, "a sink needs a 'name'");
        s->name = cfg_str(v[CN_NAME]);
        for (size_t j = 0; s->name && j + 1 < c->n_sinks; j++) {
            if (c->sinks[j].name && strcmp(c->sinks[j].name, s->name) == 0)
                cfg_error(ld, v[CN_NAME], "sink name '%s' is used twice", s->name);
        }
        if (!v[CN_TYPE] && !rule_yaml_map_get(item, "type"))
            cfg_error(ld, item, "a sink needs a 'type'");
        s->type = (enum cfg_sink_type)cfg_enum(ld, v[CN_TYPE], "sink type", cfg_sink_types,
                                               CFG_SINK_TYPE_COUNT, CFG_SINK_STDOUT);
        s->path = cfg_path(c, v[CN_PATH]);
        s->url = cfg_str(v[CN_URL]);
        s->mode = cfg_str(v[CN_MODE]);
        s->key = cfg_str(v[CN_KEY]);
        s->secret_file = cfg_path(c, v[CN_SECRET]);
        s->stream = cfg_str(v[CN_STREAM]);
        if (v[CN_RETRIES] &&
            rule_yaml_get_int(v[CN_RETRIES], "max_retries", &s->max_retries, ld->dl) != CEP_OK)
            ld->errors++;
        if (v[CN_TIMEOUT] &&
            rule_yaml_get_duration(v[CN_TIMEOUT], "timeout", &s->timeout, ld->dl) != CEP_OK)
            ld->errors++;
        cfg_sink_delivery(ld, s, v);
        if (!v[CN_TYPE])
            continue;
        const char *tn = cfg_sink_types[s->type];
        switch (s->type) {
        case CFG_SINK_FILE:
            cfg_require(ld, item, v[CN_PATH], "path", "sink", tn);
            break;
        case CFG_SINK_REDIS:
            cfg_require(ld, item, v[CN_URL], "url", "sink", tn);
            cfg_require(ld, item, v[CN_KEY], "key", "sink", tn);
            break;
        case CFG_SINK_WEBHOOK:
            cfg_require(ld, item, v[CN_URL], "url", "sink", tn);
            break;
        case CFG_SINK_STREAM:
            cfg_require(ld, item, v[CN_STREAM], "stream", "sink", tn);
            break;
        default:
            break;
        }
    }
}

static void cfg_streams(struct cfg_ld *ld, const struct rule_yaml_node *map)
{
    struct cfg *c = ld->c;
    c->streams = cep_calloc(map->n ? map->n : 1, sizeof(*c->streams));
    for (size_t i = 0; i < map->n; i++) {
        struct rule_stream_override *o = &c->streams[c->n_streams];
        const char *field;
        int e = rule_yaml_stream_parse(map->items[i], &o->time, &field, ld->dl);
        ld->errors += e;
        if (e)
            continue;
        o->name = cep_strdup(map->keys[i]->str);
        o->time_field = field ? cep_strdup(field) : NULL;
        c->n_streams++;
    }
}

static void cfg_read(struct cfg_ld *ld, const struct rule_yaml_node *root)
{
    struct cfg *c = ld->c;
    const struct rule_yaml_node *v[CK_COUNT];
    ld->errors += rule_yaml_walk(root, "the configuration", cfg_keys, CK_COUNT, v, ld->dl);
    if (v[CK_RULES]) {
        c->rules = cep_calloc(v[CK_RULES]->n ? v[CK_RULES]->n : 1, sizeof(*c->rules));
        for (size_t i = 0; i < v[CK_RULES]->n; i++)
            c->rules[c->n_rules++] = cfg_path(c, v[CK_RULES]->items[i]);
    }
    if (v[CK_STREAMS])
        cfg_streams(ld, v[CK_STREAMS]);
    if (v[CK_SOURCES])
        cfg_sources(ld, v[CK_SOURCES]);
    if (v[CK_SINKS])
        cfg_sinks(ld, v[CK_SINKS]);
    if (v[CK_DEFAULT_SINKS]) {
        const struct rule_yaml_node *ds = v[CK_DEFAULT_SINKS];
        c->default_sinks = cfg_strs(ds, &c->n_default_sinks);
        for (size_t i = 0; i < ds->n; i++) {
            bool builtin = strcmp(ds->items[i]->str, "stdout") == 0 && !v[CK_SINKS];
            if (!builtin && !cfg_find_sink(c, ds->items[i]->str))
                cfg_error(ld, ds->items[i], "default sink '%s' is not defined in 'sinks'",
                          ds->items[i]->str);
        }
    }
    if (v[CK_ENABLE])
        c->enable_rules = cfg_strs(v[CK_ENABLE], &c->n_enable_rules);
    if (v[CK_DISABLE])
        c->disable_rules = cfg_strs(v[CK_DISABLE], &c->n_disable_rules);
    if (v[CK_CHECKPOINT]) {
        const struct rule_yaml_node *k[CC_COUNT];
        ld->errors += rule_yaml_walk(v[CK_CHECKPOINT], "checkpoint", cfg_ckpt_keys, CC_COUNT, k,
                                     ld->dl);
        c->checkpoint.dir = cfg_path(c, k[CC_DIR]);
        if (k[CC_INTERVAL] && rule_yaml_get_duration(k[CC_INTERVAL], "interval",
                                                     &c->checkpoint.interval, ld->dl) != CEP_OK)
            ld->errors++;
        else if (k[CC_INTERVAL] && c->checkpoint.interval == 0)
            cfg_error(ld, k[CC_INTERVAL], "the checkpoint interval must be positive");
        int64_t n;
        if (k[CC_RETAIN] && cfg_int_in(ld, k[CC_RETAIN], "retain", 1, 1000, &n))
            c->checkpoint.retain = (uint32_t)n;
        c->checkpoint.delivery = (enum cfg_delivery)cfg_enum(
                ld, k[CC_DELIVERY], "delivery", cfg_deliveries, CFG_DELIVERY_COUNT, 0);
        if (k[CC_SAVEPOINT_ON_STOP] &&
            rule_yaml_get_bool(k[CC_SAVEPOINT_ON_STOP], "savepoint_on_stop",
                               &c->checkpoint.savepoint_on_stop, ld->dl) != CEP_OK)
            ld->errors++;
        if (k[CC_OUTBOX_SIZE] &&
            cfg_int_in(ld, k[CC_OUTBOX_SIZE], "outbox_size", 1, CFG_OUTBOX_SIZE_MAX, &n))
            c->checkpoint.outbox_size = (size_t)n;
    }
    if (v[CK_ADMIN]) {
        const struct rule_yaml_node *k[CA_COUNT];
        ld->errors += rule_yaml_walk(v[CK_ADMIN], "admin", cfg_admin_keys, CA_COUNT, k, ld->dl);
        c->admin.listen = cfg_str(k[CA_LISTEN]);
        c->admin.token = cfg_str(k[CA_TOKEN]);
        c->admin.token_file = cfg_path(c, k[CA_TOKEN_FILE]);
        if (k[CA_TOKEN] && k[CA_TOKEN_FILE])
            cfg_error(ld, k[CA_TOKEN_FILE], "give either 'token' or 'token_file', not both");
        else if (k[CA_TOKEN] && k[CA_TOKEN]->len == 0)
            cfg_error(ld, k[CA_TOKEN], "an empty admin token");
        if (k[CA_REMOTE] &&
            rule_yaml_get_bool(k[CA_REMOTE], "allow_remote", &c->admin.allow_remote, ld->dl) !=
                    CEP_OK)
            ld->errors++;
    }
    int64_t n;
    if (v[CK_PARALLELISM] && cfg_int_in(ld, v[CK_PARALLELISM], "parallelism", 1, 128, &n))
        c->parallelism = (uint32_t)n;
    if (v[CK_MAX_LINE] &&
        cfg_int_in(ld, v[CK_MAX_LINE], "max_line_bytes", 64, CFG_MAX_LINE_BYTES_LIMIT, &n))
        c->max_line_bytes = (size_t)n;
    if (v[CK_LOG]) {
        const struct rule_yaml_node *k[CL_COUNT];
        ld->errors += rule_yaml_walk(v[CK_LOG], "log", cfg_log_keys, CL_COUNT, k, ld->dl);
        c->log.level = cfg_enum(ld, k[CL_LEVEL], "log level", cfg_log_levels,
                                CEP_ARRAY_LEN(cfg_log_levels), CEP_LOG_NOTICE);
        if (k[CL_TARGET]) {
            if (strcmp(k[CL_TARGET]->str, "stderr") == 0) {
                c->log.target = CFG_LOG_STDERR;
            } else if (strcmp(k[CL_TARGET]->str, "syslog") == 0) {
                c->log.target = CFG_LOG_SYSLOG;
            } else if (k[CL_TARGET]->len == 0) {
                cfg_error(ld, k[CL_TARGET], "empty log target");
            } else {
                c->log.target = CFG_LOG_FILE;
                c->log.path = cfg_path(c, k[CL_TARGET]);
            }
        }
    }
    c->user = cfg_str(v[CK_USER]);
    c->group = cfg_str(v[CK_GROUP]);
    c->dead_letter = cfg_path(c, v[CK_DEAD_LETTER]);
    if (v[CK_LOOKUPS])
        ld->errors += lookup_specs_parse(v[CK_LOOKUPS], c->dir, &c->lookups, &c->n_lookups,
                                         ld->dl);
}

void cfg_apply_defaults(struct cfg *c)
{
    if (c->n_sinks == 0) {
        cep_free(c->sinks);
        c->sinks = cep_calloc(1, sizeof(*c->sinks));
        c->sinks[0].name = cep_strdup("stdout");
        c->sinks[0].type = CFG_SINK_STDOUT;
        c->sinks[0].max_retries = -1;
        c->sinks[0].tls_verify = true;
        c->n_sinks = 1;
    }
    for (size_t i = 0; i < c->n_sinks; i++) {
        if (!c->sinks[i].dead_letter && c->dead_letter)
            c->sinks[i].dead_letter = cep_strdup(c->dead_letter);
    }
    if (c->n_default_sinks == 0) {
        const struct cfg_sink *s = cfg_find_sink(c, "stdout");
        cep_free(c->default_sinks);
        c->default_sinks = cep_calloc(1, sizeof(*c->default_sinks));
        c->default_sinks[0] = cep_strdup(s ? s->name : c->sinks[0].name);
        c->n_default_sinks = 1;
    }
    if (c->n_sources == 0) {
        cep_free(c->sources);
        c->sources = cep_calloc(1, sizeof(*c->sources));
        c->sources[0].name = cep_strdup("stdin");
        c->sources[0].type = CFG_SRC_STDIN;
        c->sources[0].format = CFG_FMT_JSON;
        c->sources[0].stream = cep_strdup("default");
        c->n_sources = 1;
    }
    if (c->max_line_bytes == 0)
        c->max_line_bytes = CFG_MAX_LINE_BYTES_DEFAULT;
    for (size_t i = 0; i < c->n_sources; i++) {
        if (c->sources[i].max_line_bytes == 0)
            c->sources[i].max_line_bytes = c->max_line_bytes;
    }
    if (c->parallelism == 0)
        c->parallelism = 1;
    if (c->checkpoint.interval == 0)
        c->checkpoint.interval = 10 * CEP_USEC_PER_SEC;
    if (c->checkpoint.retain == 0)
        c->checkpoint.retain = 3;
    if (c->checkpoint.outbox_size == 0)
        c->checkpoint.outbox_size = CFG_OUTBOX_SIZE_DEFAULT;
    /* With checkpoints, sources know it, and push sources replay through a WAL. */
    for (size_t i = 0; i < c->n_sources && c->checkpoint.dir; i++) {
        struct cfg_source *s = &c->sources[i];
        if ((s->type == CFG_SRC_TCP || s->type == CFG_SRC_HTTP) && !s->wal_dir && s->name)
            s->wal_dir = cep_asprintf("%s/wal/%s", c->checkpoint.dir, s->name);
        s->checkpointed = true;
    }
}

static struct cfg *cfg_new(const char *path, const char *dir)
{
    struct cfg *c = cep_calloc(1, sizeof(*c));
    c->path = cep_strdup(path);
    c->dir = cep_strdup(dir);
    c->log.level = CEP_LOG_NOTICE;
    return c;
}

static struct cfg *cfg_from_doc(struct cfg *c, struct rule_yaml_doc *d, struct diag_list *dl)
{
    struct cfg_ld ld = {.c = c, .dl = dl};
    if (!d) {
        cfg_free(c);
        return NULL;
    }
    if (d->root && !(d->root->kind == RULE_YAML_SCALAR && d->root->len == 0))
        cfg_read(&ld, d->root);
    rule_yaml_doc_free(d);
    if (ld.errors > 0) {
        cfg_free(c);
        return NULL;
    }
    cfg_apply_defaults(c);
    return c;
}

struct cfg *cfg_load(const char *path, struct diag_list *dl)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? cep_strndup(path, (size_t)(slash - path) + (slash == path))
                      : cep_strdup(".");
    struct cfg *c = cfg_new(path, dir);
    cep_free(dir);
    return cfg_from_doc(c, rule_yaml_parse_file(path, dl), dl);
}

struct cfg *cfg_load_mem(const char *name, const char *dir, const char *text, size_t len,
                         struct diag_list *dl)
{
    struct cfg *c = cfg_new(name, dir ? dir : ".");
    return cfg_from_doc(c, rule_yaml_parse_mem(name, text, len, dl), dl);
}

void cfg_rule_load_opts(const struct cfg *c, struct rule_load_opts *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->stream_overrides = c->streams;
    opts->n_stream_overrides = c->n_streams;
    opts->enable = (const char *const *)c->enable_rules;
    opts->n_enable = c->n_enable_rules;
    opts->disable = (const char *const *)c->disable_rules;
    opts->n_disable = c->n_disable_rules;
}

int cfg_format_parse(const char *name)
{
    for (int i = 0; i < CFG_FMT_COUNT; i++)
        if (strcmp(name, cfg_formats[i]) == 0)
            return i;
    return -1;
}

const struct cfg_sink *cfg_find_sink(const struct cfg *c, const char *name)
{
    for (size_t i = 0; i < c->n_sinks; i++) {
        if (c->sinks[i].name && strcmp(c->sinks[i].name, name) == 0)
            return &c->sinks[i];
    }
    return NULL;
}

static void cfg_strs_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cep_free(v[i]);
    cep_free(v);
}

void cfg_free(struct cfg *c)
{
    if (!c)
        return;
    cep_free(c->path);
    cep_free(c->dir);
    cfg_strs_free(c->rules, c->n_rules);
    for (size_t i = 0; i < c->n_streams; i++) {
        cep_free((char *)c->streams[i].name);
        cep_free((char *)c->streams[i].time_field);
    }
    cep_free(c->streams);
    for (size_t i = 0; i < c->n_sources; i++) {
        struct cfg_source *s = &c->sources[i];
        cep_free(s->name);
        cep_free(s->stream);
        cep_free(s->path);
        cep_free(s->listen);
        cep_free(s->url);
        cep_free(s->key);
        cep_free(s->group);
        cep_free(s->consumer);
        cep_free(s->pattern);
        cep_free(s->wal_dir);
    }
    cep_free(c->sources);
    for (size_t i = 0; i < c->n_sinks; i++) {
        struct cfg_sink *s = &c->sinks[i];
        cep_free(s->name);
        cep_free(s->path);
        cep_free(s->url);
        cep_free(s->mode);
        cep_free(s->key);
        cep_free(s->secret_file);
        cep_free(s->stream);
        cep_free(s->dead_letter);
        for (size_t j = 0; j < 2 * s->n_headers; j++)
            cep_free(s->headers[j]);
        cep_free(s->headers);
    }
    cep_free(c->sinks);
    cfg_strs_free(c->default_sinks, c->n_default_sinks);
    cfg_strs_free(c->enable_rules, c->n_enable_rules);
    cfg_strs_free(c->disable_rules, c->n_disable_rules);
    cep_free(c->checkpoint.dir);
    cep_free(c->admin.listen);
    cep_free(c->admin.token);
    cep_free(c->admin.token_file);
    cep_free(c->log.path);
    cep_free(c->user);
    cep_free(c->group);
    cep_free(c->dead_letter);
    lookup_specs_free(c->lookups, c->n_lookups);
    cep_free(c);
}
