/* SPDX-License-Identifier: Apache-2.0
 * `cepd checkpoint inspect PATH` prints what a checkpoint or savepoint file
 * holds (header, META, SOURCES, ENGINE through eng_snapshot_inspect,
 * OUTBOX) after verifying it; `cepd savepoint -c CONFIG [PATH]` asks the
 * running daemon for a savepoint over its admin HTTP API (POST /savepoint,
 * with the config's bearer token) with a small blocking HTTP/1.1 client
 * bounded by a timeout.  Neither touches the daemon's state directly.
 * Tested by: tests/daemon/t_savepoint.sh, tests/cli/run.sh */
#include "cepd/cep_common.h"
#include "dmn_int.h"

#include "cepd/cfg.h"
#include "cepd/ckpt.h"
#include "cepd/eng.h"
#include "cepd/json.h"
#include "cepd/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DMN_SAVEPOINT_TIMEOUT_MS 30000   /* a savepoint of a large state takes a while */
#define DMN_HTTP_REPLY_MAX       (64 * 1024)

static const char dmn_checkpoint_help[] =
        "usage: cepd checkpoint inspect PATH\n"
        "Verify a checkpoint or savepoint file (magic, format version, length,\n"
        "CRC-32C) and print what it holds: the header (format version, kind,\n"
        "sequence number, time, sizes), META (cepd version, config file, rules\n"
        "with their compiled-form hashes), SOURCES (name, type, saved position),\n"
        "ENGINE (per rule: keys, partial matches, windows, state bytes; per\n"
        "stream: watermark) and OUTBOX (alerts held, pending per sink).\n"
        "Exit status: 0 when the file is valid, 1 when it is corrupt, truncated\n"
        "or of an unsupported version (the reason is printed), 2 on usage errors.\n";

static const char dmn_savepoint_help[] =
        "usage: cepd savepoint -c CONFIG [PATH]\n"
        "Ask the cepd running with CONFIG for a savepoint: POST /savepoint on its\n"
        "admin API (admin.listen, with admin.token or admin.token_file when set).\n"
        "The daemon writes it between two input lines and keeps it until deleted.\n"
        "Without PATH it goes to checkpoint.dir as savepoint-<seq>.ckpt; a PATH\n"
        "(relative to the current directory) must end in .ckpt. The path written\n"
        "is printed. Restore it with cepd run -c CONFIG --from-savepoint PATH.\n"
        "Exit status: 0 when the savepoint was written; 1 when the daemon is not\n"
        "running, refuses or fails (the reason is printed), or the configuration\n"
        "has errors; 2 on usage errors.\n";

/* ---- cepd checkpoint inspect ------------------------------------------------ */

static const char *dmn_kind_name(enum ckpt_kind k)
{
    return k == CKPT_KIND_SAVEPOINT ? "savepoint" : k == CKPT_KIND_CHECKPOINT ? "checkpoint" : "?";
}

/* Print each line of text indented by two spaces. */
static void dmn_print_indented(const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        printf("  %.*s\n", (int)n, p);
        p += n + (nl != NULL);
    }
}

/* The ENGINE section: worker 0's frame, then (parallelism N > 1) uv N-1
 * and the other workers' frames; each through eng_snapshot_inspect. */
static int dmn_inspect_engines(struct ckpt_r *r, struct sbuf *out)
{
    uint64_t n = 1;
    for (uint64_t w = 0; w < n; w++) {
        struct ckpt_r eng = {0};
        ckpt_get_frame(r, &eng);
        sbuf_reset(out);
        if (r->err || eng_snapshot_inspect(&eng, out) != CEP_OK) {
            if (!r->err)
                r->err = eng.err;
            return CEP_ERR;
        }
        if (w == 0 && r->p < r->end)
            n = 1 + ckpt_get_uv_max(r, 1024, "worker count out of range");
        if (n > 1)
            printf("engine (worker %" PRIu64 " of %" PRIu64 "):\n", w, n);
        else
            printf("engine:\n");
        dmn_print_indented(out->buf, out->len);
        if (r->err)
            return CEP_ERR;
    }
    return CEP_OK;
}

static void dmn_print_time(int64_t us)
{
    time_t t = (time_t)(us / CEP_USEC_PER_SEC);
    struct tm tm;
    char buf[32];
    if (gmtime_r(&t, &tm) && strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm))
        printf("%s.%06" PRId64 "Z", buf, us % CEP_USEC_PER_SEC);
    else
        printf("%" PRId64 " us", us);
}

/* META: bytes version, bytes config path, uv n rules, per rule bytes id + uv hash. */
static int dmn_inspect_meta(struct ckpt_r *r)
{
    size_t vlen, clen;
    const char *ver = ckpt_get_bytes(r, &vlen);
    const char *cfg = ckpt_get_bytes(r, &clen);
    uint64_t n = ckpt_get_uv_max(r, (uint64_t)(r->end - r->p), "rule count");
    if (r->err)
        return CEP_ERR;
    printf("meta:\n  cepd version %.*s\n  config %.*s\n  rules %" PRIu64 ":\n", (int)vlen, ver,
           (int)clen, cfg, n);
    for (uint64_t i = 0; i < n && !r->err; i++) {
        size_t idlen;
        const char *id = ckpt_get_bytes(r, &idlen);
        uint64_t hash = ckpt_get_uv(r);
        if (!r->err)
            printf("    %-32.*s hash %016" PRIx64 "\n", (int)idlen, id, hash);
    }
    return r->err ? CEP_ERR : CEP_OK;
}

/* A source position as the source type writes it (save_pos: src_file.c,
 * src_net.c, src_redis.c); the frame size for a type this command does
 * not know or a record it cannot read. */
static void dmn_inspect_pos(const char *type, size_t tlen, struct ckpt_r *pos)
{
    size_t size = (size_t)(pos->end - pos->p);
    if (tlen == 4 && memcmp(type, "file", 4) == 0) {
        uint64_t dev = ckpt_get_uv(pos), ino = ckpt_get_uv(pos), gen = ckpt_get_uv(pos);
        uint64_t off = ckpt_get_uv(pos), line = ckpt_get_uv(pos);
        if (!pos->err) {
            if (ino)
                printf("device %" PRIu64 " inode %" PRIu64 " generation %" PRIu64
                       ", byte %" PRIu64 " (line %" PRIu64 ")\n", dev, ino, gen, off, line);
            else
                printf("not opened yet (from the beginning)\n");
            return;
        }
    } else if ((tlen == 3 && memcmp(type, "tcp", 3) == 0) ||
               (tlen == 4 && memcmp(type, "http", 4) == 0)) {
        uint64_t next = ckpt_get_uv(pos);
        if (!pos->err) {
            printf("write-ahead log offset %" PRIu64 "\n", next);
            return;
        }
    } else if (tlen == 12 && memcmp(type, "redis_stream", 12) == 0) {
        size_t klen, glen, ilen;
        const char *key = ckpt_get_bytes(pos, &klen);
        const char *group = ckpt_get_bytes(pos, &glen);
        const char *id = ckpt_get_bytes(pos, &ilen);
        if (!pos->err) {
            printf("stream %.*s group %.*s after entry %.*s\n", (int)klen, key, (int)glen, group,
                   (int)(ilen ? ilen : 6), ilen ? id : "(none)");
            return;
        }
    }
    printf("position of %zu bytes\n", size);
}

/* SOURCES: uv n, per source bytes name, bytes type, frame(save_pos). */
static int dmn_inspect_sources(struct ckpt_r *r)
{
    uint64_t n = ckpt_get_uv_max(r, (uint64_t)(r->end - r->p), "source count");
    if (r->err)
        return CEP_ERR;
    printf("sources %" PRIu64 ":\n", n);
    for (uint64_t i = 0; i < n && !r->err; i++) {
        size_t nlen, tlen;
        const char *name = ckpt_get_bytes(r, &nlen);
        const char *type = ckpt_get_bytes(r, &tlen);
        struct ckpt_r pos;
        ckpt_get_frame(r, &pos);
        if (r->err)
            break;
        printf("  %.*s (%.*s): ", (int)nlen, name, (int)tlen, type);
        dmn_inspect_pos(type, tlen, &pos);
    }
    return r->err ? CEP_ERR : CEP_OK;
}

struct dmn_outbox_sink {
    const char *name;
    size_t len;
    uint64_t pending;
};

/* OUTBOX: uv n, per alert bytes id, uv rule_index, sv time, bytes json,
 * uv n sinks, per sink bytes name (not yet acknowledged by it). */
static int dmn_inspect_outbox(struct ckpt_r *r)
{
    struct dmn_outbox_sink sinks[64];
    size_t n_sinks = 0, other = 0;
    uint64_t n = ckpt_get_uv_max(r, (uint64_t)(r->end - r->p), "alert count");
    for (uint64_t i = 0; i < n && !r->err; i++) {
        size_t len;
        ckpt_get_bytes(r, &len);
        ckpt_get_uv(r);
        ckpt_get_sv(r);
        ckpt_get_bytes(r, &len);
        uint64_t ns = ckpt_get_uv_max(r, (uint64_t)(r->end - r->p), "sink count");
        for (uint64_t j = 0; j < ns && !r->err; j++) {
            const char *name = ckpt_get_bytes(r, &len);
            size_t k = 0;
            while (k < n_sinks && !(sinks[k].len == len && memcmp(sinks[k].name, name, len) == 0))
                k++;
            if (k == n_sinks && n_sinks < CEP_ARRAY_LEN(sinks))
                sinks[n_sinks++] = (struct dmn_outbox_sink){name, len, 0};
            if (k < n_sinks)
                sinks[k].pending++;
            else
                other++;
        }
    }
    if (r->err)
        return CEP_ERR;
    printf("outbox: %" PRIu64 " alert%s\n", n, n == 1 ? "" : "s");
    for (size_t k = 0; k < n_sinks; k++)
        printf("  sink %.*s: %" PRIu64 " pending\n", (int)sinks[k].len, sinks[k].name,
               sinks[k].pending);
    if (other)
        printf("  other sinks: %zu pending\n", other);
    return CEP_OK;
}

static int dmn_inspect(const char *path)
{
    struct ckpt_header h;
    struct sbuf body, out;
    char err[256];
    sbuf_init(&body);
    sbuf_init(&out);
    int rc = DMN_EXIT_RULES;
    if (ckpt_file_read(path, &h, &body, err, sizeof(err)) != CEP_OK) {
        fprintf(stderr, "cepd checkpoint inspect: %s\n", err);
        goto done;
    }
    printf("%s %s\n  format version %" PRIu32 ", seq %" PRIu64 ", taken ", dmn_kind_name(h.kind),
           path, h.version, h.seq);
    dmn_print_time(h.wall_us);
    printf("\n  body %" PRIu64 " bytes, crc32c %08" PRIx32 "\n", h.body_len, h.crc);
    static const struct {
        enum ckpt_section tag;
        const char *name;
    } secs[] = {
        {CKPT_SEC_META, "META"},
        {CKPT_SEC_SOURCES, "SOURCES"},
        {CKPT_SEC_ENGINE, "ENGINE"},
        {CKPT_SEC_OUTBOX, "OUTBOX"},
    };
    for (size_t i = 0; i < CEP_ARRAY_LEN(secs); i++) {
        struct ckpt_r r;
        if (!ckpt_section_find(body.buf, body.len, secs[i].tag, &r)) {
            printf("%s: absent\n", secs[i].name);
            continue;
        }
        int src;
        switch (secs[i].tag) {
            case CKPT_SEC_META:
                src = dmn_inspect_meta(&r);
                break;
            case CKPT_SEC_SOURCES:
                src = dmn_inspect_sources(&r);
                break;
            case CKPT_SEC_ENGINE:
                src = dmn_inspect_engines(&r, &out);
                break;
            default:
                src = dmn_inspect_outbox(&r);
                break;
        }
        if (src != CEP_OK) {
            fflush(stdout);
            fprintf(stderr, "cepd checkpoint inspect: %s: section %s is malformed: %s\n", path,
                    secs[i].name, r.err ? r.err : "unreadable");
            goto done;
        }
    }
    rc = DMN_EXIT_OK;
done:
    sbuf_free(&body);
    sbuf_free(&out);
    return rc;
}

int dmn_cmd_checkpoint(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(dmn_checkpoint_help, stdout);
        return DMN_EXIT_OK;
    }
    if (argc != 3 || strcmp(argv[1], "inspect") != 0 || argv[2][0] == '-') {
        if (argc >= 2 && strcmp(argv[1], "inspect") != 0)
            fprintf(stderr, "cepd checkpoint: unknown subcommand '%s'\n", argv[1]);
        fputs(dmn_checkpoint_help, stderr);
        return DMN_EXIT_USAGE;
    }
    return dmn_inspect(argv[2]);
}

/* ---- cepd savepoint ---------------------------------------------------------- */

static int64_t dmn_ms_now(void)
{
    return dmn_mono_us() / 1000;
}

/* Wait for events on fd until deadline (monotonic ms).  CEP_ERR on timeout
 * (errno ETIMEDOUT) or a poll error. */
static int dmn_wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - dmn_ms_now();
        if (left <= 0) {
            errno = ETIMEDOUT;
            return CEP_ERR;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)left);
        if (n > 0)
            return CEP_OK;
        if (n < 0 && errno != EINTR)
            return CEP_ERR;
    }
}

/* A connected socket to host:port, or -1 with err filled. */
static int dmn_http_connect(const char *host, const char *port, int64_t deadline, char *err,
                            size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
    int g = getaddrinfo(host, port, &hints, &res);
    if (g != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(g));
        return -1;
    }
    int fd = -1, e = ECONNREFUSED;
    for (ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    ai->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
            (errno == EINPROGRESS && dmn_wait_fd(fd, POLLOUT, deadline) == CEP_OK &&
             getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0))
            break;
        e = soerr ? soerr : errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        snprintf(err, errlen, "cannot connect to %s:%s: %s", host, port, strerror(e));
    return fd;
}

/* POST target to host:port with an optional bearer token and no body
 * (Connection: close); the status in *status and the body in reply.
 * CEP_ERR with err filled on a connection, timeout or protocol failure. */
static int dmn_http_post(const char *host, const char *port, const char *target,
                         const char *token, int timeout_ms, int *status, struct sbuf *reply,
                         char *err, size_t errlen)
{
    int64_t deadline = dmn_ms_now() + timeout_ms;
    int fd = dmn_http_connect(host, port, deadline, err, errlen);
    if (fd < 0)
        return CEP_ERR;
    struct sbuf req;
    sbuf_init(&req);
    sbuf_printf(&req, "POST %s HTTP/1.1\r\nHost: %s:%s\r\n", target, host, port);
    if (token)
        sbuf_printf(&req, "Authorization: Bearer %s\r\n", token);
    sbuf_puts(&req, "Content-Length: 0\r\nConnection: close\r\n\r\n");
    int rc = CEP_ERR;
    size_t off = 0;
    while (off < req.len) {
        ssize_t n = send(fd, req.buf + off, req.len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
        } else if ((n < 0 && errno != EAGAIN && errno != EINTR) ||
                   dmn_wait_fd(fd, POLLOUT, deadline) != CEP_OK) {
            snprintf(err, errlen, "cannot send to %s:%s: %s", host, port, strerror(errno));
            goto done;
        }
    }
    sbuf_reset(reply);
    for (;;) {
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n > 0) {
            if (reply->len + (size_t)n > DMN_HTTP_REPLY_MAX) {
                snprintf(err, errlen, "the reply from %s:%s is too long", host, port);
                goto done;
            }
            sbuf_append(reply, buf, (size_t)n);
        } else if (n == 0) {
            break;
        } else if ((errno != EAGAIN && errno != EINTR) ||
                   dmn_wait_fd(fd, POLLIN, deadline) != CEP_OK) {
            snprintf(err, errlen, "no reply from %s:%s: %s", host, port, strerror(errno));
            goto done;
        }
    }
    sbuf_putc(reply, '\0');
    reply->len--;
    const char *hdr_end = strstr(reply->buf, "\r\n\r\n");
    if (strncmp(reply->buf, "HTTP/1.", 7) != 0 || reply->len < 12 || !hdr_end ||
        sscanf(reply->buf + 9, "%3d", status) != 1) {
        snprintf(err, errlen, "%s:%s did not answer in HTTP", host, port);
        goto done;
    }
    size_t body_off = (size_t)(hdr_end + 4 - reply->buf);
    memmove(reply->buf, reply->buf + body_off, reply->len - body_off + 1);
    reply->len -= body_off;
    rc = CEP_OK;
done:
    sbuf_free(&req);
    close(fd);
    return rc;
}

/* Append s to sb with every byte but unreserved ones percent-encoded. */
static void dmn_url_encode(struct sbuf *sb, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            strchr("-._~/", c))
            sbuf_putc(sb, (char)c);
        else
            sbuf_printf(sb, "%%%02X", c);
    }
}

/* The string member key of the JSON object in reply (NUL-terminated), or
 * NULL. */
static const char *dmn_json_str(const struct sbuf *reply, const char *key, char *scratch)
{
    struct val v;
    if (json_member_get(reply->buf, reply->len, key, strlen(key), &v, scratch, NULL) != CEP_OK ||
        v.type != VAL_STR)
        return NULL;
    memmove(scratch, v.u.s, v.len);
    scratch[v.len] = '\0';
    return scratch;
}

int dmn_cmd_savepoint(int argc, char **argv)
{
    const char *config = NULL, *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(dmn_savepoint_help, stdout);
            return DMN_EXIT_OK;
        }
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
            config = argv[++i];
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else {
            fprintf(stderr, "cepd savepoint: unknown option or missing argument '%s'\n",
                    argv[i]);
            fputs(dmn_savepoint_help, stderr);
            return DMN_EXIT_USAGE;
        }
    }
    if (!config) {
        fputs(dmn_savepoint_help, stderr);
        return DMN_EXIT_USAGE;
    }
    size_t plen = path ? strlen(path) : 0;
    if (path && (plen < 6 || strcmp(path + plen - 5, ".ckpt") != 0)) {
        fprintf(stderr, "cepd savepoint: %s: a savepoint's name must end in .ckpt\n", path);
        return DMN_EXIT_USAGE;
    }
    /* The daemon does not share our directory: send an absolute path. */
    char abs[PATH_MAX], cwd[PATH_MAX];
    if (path && path[0] != '/') {
        if (!getcwd(cwd, sizeof(cwd)) ||
            snprintf(abs, sizeof(abs), "%s/%s", cwd, path) >= (int)sizeof(abs)) {
            fprintf(stderr, "cepd savepoint: %s: path too long\n", path);
            return DMN_EXIT_USAGE;
        }
        path = abs;
    }
    struct cfg *cfg = dmn_load_cfg(config, stderr);
    if (!cfg)
        return DMN_EXIT_RULES;
    int rc = DMN_EXIT_RULES;
    char *host = NULL, *port = NULL, *token = NULL;
    struct sbuf target, reply;
    sbuf_init(&target);
    sbuf_init(&reply);
    char err[512];
    int status = 0;
    if (!cfg->admin.listen) {
        fprintf(stderr, "cepd savepoint: %s sets no admin.listen: the daemon cannot be asked\n",
                config);
        goto done;
    }
    if (dmn_admin_split(cfg->admin.listen, &host, &port) != CEP_OK) {
        fprintf(stderr, "cepd savepoint: admin.listen '%s' is not HOST:PORT or :PORT\n",
                cfg->admin.listen);
        goto done;
    }
    if (dmn_admin_token(cfg, &token) != CEP_OK)
        goto done;
    sbuf_puts(&target, "/savepoint");
    if (path) {
        sbuf_puts(&target, "?path=");
        dmn_url_encode(&target, path);
    }
    if (dmn_http_post(host, port, target.buf, token, DMN_SAVEPOINT_TIMEOUT_MS, &status, &reply,
                      err, sizeof(err)) != CEP_OK) {
        fprintf(stderr, "cepd savepoint: %s (is cepd running with %s?)\n", err, config);
        goto done;
    }
    char *scratch = cep_malloc(reply.len + 1);
    const char *written = status == 200 ? dmn_json_str(&reply, "path", scratch) : NULL;
    if (written) {
        printf("%s\n", written);
        rc = DMN_EXIT_OK;
    } else {
        const char *why = dmn_json_str(&reply, "error", scratch);
        fprintf(stderr, "cepd savepoint: the daemon answered %d: %s\n", status,
                why ? why : "(no reason given)");
    }
    cep_free(scratch);
done:
    sbuf_free(&target);
    sbuf_free(&reply);
    cep_free(host);
    cep_free(port);
    cep_free(token);
    cfg_free(cfg);
    return rc;
}
