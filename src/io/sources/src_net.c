/* SPDX-License-Identifier: Apache-2.0
 * Listening sockets for the tcp and http sources: `listen: HOST:PORT` is
 * resolved (numeric or by name, at start only), bound with SO_REUSEADDR and
 * put in listen mode, so a port that is taken fails start() with a message
 * naming the source, the address and the reason.  Also their write-ahead
 * log glue (src_wal_*, see src_net.h): nothing is handed to the pipeline or
 * acknowledged before the group commit that made it durable.
 * Tested by: tests/unit/check_netsrc.c, tests/unit/check_wal.c, tests/daemon/t_wal.sh */
#include "cepd/cep_common.h"
#include "src_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "cepd/ckpt.h"
#include "cepd/wal.h"

#define SRC_NET_BACKLOG 128
/* Records handed over per pump callback, so a long replay shares the loop. */
#define SRC_WAL_BATCH 1024
/* Saved positions kept for committed(); older ones are forgotten (a later
 * commit trims past them anyway). */
#define SRC_WAL_MAX_MARKS 64

/* Split "host:port" or "[v6]:port" into host and port (both NUL-terminated
 * in the caller's buffers).  false when the form is wrong. */
static bool src_net_split(const char *addr, char *host, size_t host_len, char *port,
                          size_t port_len)
{
    const char *colon, *h = addr, *h_end;
    if (addr[0] == '[') {
        h = addr + 1;
        h_end = strchr(h, ']');
        if (!h_end || h_end[1] != ':')
            return false;
        colon = h_end + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon)
            return false;
        h_end = colon;
    }
    size_t hn = (size_t)(h_end - h), pn = strlen(colon + 1);
    if (hn == 0 || hn >= host_len || pn == 0 || pn > 5 || pn >= port_len ||
        strspn(colon + 1, "0123456789") != pn || strtol(colon + 1, NULL, 10) > 65535)
        return false;
    memcpy(host, h, hn);
    host[hn] = '\0';
    memcpy(port, colon + 1, pn + 1);
    return true;
}

int src_net_listen(const struct io_source *s)
{
    const char *name = s->cfg->name ? s->cfg->name : "?";
    const char *addr = s->cfg->listen ? s->cfg->listen : "";
    char host[256], port[16];
    if (!src_net_split(addr, host, sizeof(host), port, sizeof(port))) {
        cep_log(CEP_LOG_ERROR, "source %s: cannot listen on '%s': expected HOST:PORT", name,
                addr);
        return -1;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        cep_log(CEP_LOG_ERROR, "source %s: cannot listen on %s: %s", name, addr,
                gai_strerror(gai));
        return -1;
    }
    int fd = -1, err = 0;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SRC_NET_BACKLOG) == 0)
            break;
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        cep_log(CEP_LOG_ERROR, "source %s: cannot listen on %s: %s", name, addr, strerror(err));
    return fd;
}

void src_net_peer(const struct sockaddr *sa, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
        port = ntohs(in->sin_port);
        snprintf(buf, len, "%s:%u", ip, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        port = ntohs(in6->sin6_port);
        snprintf(buf, len, "[%s]:%u", ip, port);
    } else {
        snprintf(buf, len, "?");
    }
}

/* Hand durable records to the pipeline from sw->next: at most
 * SRC_WAL_BATCH unless force, and none while paused unless force.  A corrupt
 * record (a damaged disk: the tail was checked at open) is logged and the
 * rest of its segment skipped. */
static void src_wal_pump(struct src_wal *sw, bool force)
{
    struct io_source *s = sw->s;
    size_t n = 0;
    while (force || (!s->paused && n < SRC_WAL_BATCH)) {
        struct wal_rec rec;
        char err[512];
        int rc = wal_read(sw->wal, &sw->next, &rec, err, sizeof(err));
        if (rc == 0)
            break;
        if (rc < 0) {
            uint64_t to = wal_skip(sw->wal, sw->next);
            s->st.errors++;
            cep_log(CEP_LOG_ERROR, "source %s: write-ahead log %s; skipping %" PRIu64 " bytes",
                    s->cfg->name, err, to - sw->next);
            sw->next = to;
            continue;
        }
        struct io_line l = {
            .data = rec.data,
            .len = rec.len,
            .offset = rec.off,
            .line_no = rec.line_no,
            .too_long = rec.too_long,
        };
        struct io_verdict v = {.accepted = true};
        s->on_line(s->ud, s, &l, &v);
        s->st.lines++;
        if (!v.accepted)
            s->st.rejected++;
        if (sw->on_handed)
            sw->on_handed(sw->ud, &rec, v.accepted);
        n++;
    }
    if (n > 0) {
        s->st.last_line_at = io_source_now(s);
        if (s->on_batch)
            s->on_batch(s->ud, s);
    }
    s->st.lag = wal_end(sw->wal) - sw->next;
    if (!s->paused && sw->next < wal_end(sw->wal))
        event_active(sw->pump_ev, EV_TIMEOUT, 1);
}

static void src_wal_pump_cb(evutil_socket_t fd, short what, void *ud)
{
    CEP_UNUSED(fd);
    CEP_UNUSED(what);
    src_wal_pump(ud, false);
}

/* The group commit, once per loop iteration that appended. */
static void src_wal_commit(struct src_wal *sw, bool force)
{
    char err[512];
    bool ok = wal_sync(sw->wal, err, sizeof(err)) == CEP_OK;
    if (!ok) {
        sw->s->st.errors++;
        cep_log(CEP_LOG_ERROR, "source %s: write-ahead log %s; input not yet acknowledged is "
                "dropped", sw->s->cfg->name, err);
    }
    if (sw->ack_first && sw->on_sync)
        sw->on_sync(sw->ud, ok);
    src_wal_pump(sw, force);
    if (!sw->ack_first && sw->on_sync)
        sw->on_sync(sw->ud, ok);
}

static void src_wal_sync_cb(evutil_socket_t fd, short what, void *ud)
{
    CEP_UNUSED(fd);
    CEP_UNUSED(what);
    src_wal_commit(ud, false);
}

int src_wal_open(struct src_wal *sw, struct io_source *s)
{
    const char *dir = s->cfg->wal_dir, *name = s->cfg->name;
    sw->s = s;
    if (!dir || sw->wal)
        return CEP_OK;
    if (strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        cep_log(CEP_LOG_ERROR, "source %s: a source with a write-ahead log needs a name "
                "usable as a directory name", name);
        return CEP_ERR;
    }
    char err[512];
    sw->wal = wal_open(dir, WAL_SEG_BYTES_DEFAULT, err, sizeof(err));
    if (!sw->wal) {
        cep_log(CEP_LOG_ERROR, "source %s: cannot open its write-ahead log: %s", name, err);
        return CEP_ERR;
    }
    sw->sync_ev = event_new(s->base, -1, 0, src_wal_sync_cb, sw);
    sw->pump_ev = event_new(s->base, -1, 0, src_wal_pump_cb, sw);
    CEP_ASSERT(sw->sync_ev && sw->pump_ev);
    uint64_t start = wal_start(sw->wal), end = wal_end(sw->wal);
    if (!sw->pos_loaded) {
        sw->next = start;
    } else if (sw->next < start || sw->next > end) {
        cep_log(CEP_LOG_WARN, "source %s: the checkpoint's write-ahead log offset %" PRIu64
                " is outside the log (%" PRIu64 "..%" PRIu64 "): replaying from %" PRIu64,
                name, sw->next, start, end, sw->next < start ? start : end);
        sw->next = sw->next < start ? start : end;
    }
    cep_log(CEP_LOG_NOTICE, "source %s: write-ahead log %s: %zu segments, replaying %" PRIu64
            " bytes from offset %" PRIu64, name, dir, wal_n_segments(sw->wal), end - sw->next,
            sw->next);
    if (sw->next < end)
        event_active(sw->pump_ev, EV_TIMEOUT, 1);
    return CEP_OK;
}

uint64_t src_wal_append(struct src_wal *sw, const char *data, size_t len, uint64_t line_no,
                        bool too_long)
{
    if (!wal_pending(sw->wal))
        event_active(sw->sync_ev, EV_TIMEOUT, 1);
    return wal_append(sw->wal, data, len, line_no, too_long);
}

void src_wal_resume(struct src_wal *sw)
{
    if (sw->wal && sw->next < wal_end(sw->wal))
        event_active(sw->pump_ev, EV_TIMEOUT, 1);
}

void src_wal_flush(struct src_wal *sw)
{
    if (sw->wal)
        src_wal_commit(sw, true);
}

void src_wal_close(struct src_wal *sw)
{
    if (sw->sync_ev)
        event_free(sw->sync_ev);
    if (sw->pump_ev)
        event_free(sw->pump_ev);
    sw->sync_ev = sw->pump_ev = NULL;
    wal_close(sw->wal);
    sw->wal = NULL;
    cep_free(sw->marks);
    sw->marks = NULL;
    sw->n_marks = sw->cap_marks = 0;
}

void src_wal_save_pos(struct src_wal *sw, uint64_t ckpt_seq, struct ckpt_w *w)
{
    ckpt_put_uv(w, sw->next);
    if (!sw->wal)
        return;
    if (sw->n_marks == SRC_WAL_MAX_MARKS) {
        memmove(sw->marks, sw->marks + 1, (sw->n_marks - 1) * sizeof(*sw->marks));
        sw->n_marks--;
    }
    CEP_GROW(sw->marks, sw->cap_marks, sw->n_marks + 1);
    sw->marks[sw->n_marks++] = (struct src_wal_mark){ckpt_seq, sw->next};
}

int src_wal_load_pos(struct src_wal *sw, const struct io_source *s, struct ckpt_r *r)
{
    uint64_t pos = ckpt_get_uv(r);
    if (r->err) {
        cep_log(CEP_LOG_ERROR, "source %s: bad saved position: %s", s->cfg->name, r->err);
        return CEP_ERR;
    }
    sw->next = pos;
    sw->pos_loaded = true;
    return CEP_OK;
}

void src_wal_committed(struct src_wal *sw, uint64_t ckpt_seq)
{
    size_t i = 0, keep = 0;
    uint64_t pos = 0;
    bool found = false;
    for (; i < sw->n_marks; i++) {
        if (sw->marks[i].seq == ckpt_seq) {
            pos = sw->marks[i].pos;
            found = true;
        }
        if (sw->marks[i].seq > ckpt_seq)
            sw->marks[keep++] = sw->marks[i];
    }
    sw->n_marks = keep;
    if (!found || !sw->wal)
        return;
    size_t n = wal_trim(sw->wal, pos);
    if (n > 0)
        cep_log(CEP_LOG_INFO, "source %s: checkpoint %" PRIu64 " is durable: deleted %zu "
                "write-ahead log segments before offset %" PRIu64, sw->s->cfg->name, ckpt_seq,
                n, pos);
}
