/* SPDX-License-Identifier: Apache-2.0
 * The tcp source: newline-delimited lines from any number of clients on
 * `listen: HOST:PORT`, one bufferevent per connection on the daemon's loop.
 * Each connection has its own line limit state, counters (logged when it
 * closes) and offsets (connection number << 40 | byte offset).  A line
 * longer than max_line_bytes is handed over once, flagged too_long, and the
 * rest of it skipped; the connection stays up.  Pausing disables reading on
 * every connection, so back-pressure reaches clients through TCP flow
 * control; lines already buffered wait for resume.  A client that
 * disconnects mid-line loses that partial line, which is counted.
 *
 * With checkpoints on, lines go through the source's write-ahead log
 * (src_net.h) and their offsets are WAL offsets.  With `ack: true` the
 * server writes acknowledgements back, one ASCII line "ok N\n" where N is
 * the number of lines of this connection (1-based, blank and oversized
 * lines included) that are now durable in the WAL: cumulative, so "ok 7"
 * covers lines 1..7, sent once per group commit for each connection that
 * had new lines.  Without a WAL, N counts lines handed to the pipeline (not
 * durable).  A partial line is never acknowledged.  A client may shut down
 * its sending side and read until the server closes: the server closes
 * after the last acknowledgement.  When the WAL cannot be written, the
 * connections with unacknowledged lines are closed: resend from the last
 * ack.  An ack leaves as soon as its group commit is done (before the
 * lines are handed over), written straight to the socket.
 *
 * The guarantee with a WAL: a line acknowledged is processed exactly once,
 * across crashes.  A client that resends from its last ack after a lost
 * connection gets at-least-once for the lines it had sent past that ack:
 * those that were already in the WAL when the daemon died (written, the
 * ack not yet out, the fdatasync being the longest part) are taken again,
 * as new lines with new offsets, so their alerts may repeat with other
 * ids.  Nothing in "ok N" tells such a resend from a new line; a client
 * that needs exactly-once end to end carries its own id in each line and
 * dedups downstream (tests/daemon/t_crash_tcp.sh asserts both halves).
 * Tested by: tests/unit/check_netsrc.c, tests/daemon/t_tcp.sh, tests/daemon/t_wal.sh */
#include "cepd/cep_common.h"
#include "cepd/io.h"
#include "src_net.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

/* Connections beyond this are closed at once (and counted as errors): each
 * may buffer up to max_line_bytes. */
#define SRC_TCP_MAX_CONNS 1024
/* After an accept error (out of file descriptors), accepting pauses this long. */
#define SRC_TCP_ACCEPT_BACKOFF_MS 1000
/* Unsent acknowledgements past this stop reading from a connection until
 * the client reads them. */
#define SRC_TCP_ACK_BACKLOG (64 * 1024)
/* With a WAL, a connection's read callback takes up to this much of what
 * the socket holds (libevent reads 4 KiB at a time), so that one group
 * commit covers thousands of lines rather than dozens. */
#define SRC_TCP_WAL_READ_MAX (256 * 1024)

struct tcp_src;

struct tcp_conn {
    struct tcp_src *ts;
    struct bufferevent *bev;
    struct tcp_conn *prev, *next;
    uint64_t no;      /* 1-based connection number */
    uint64_t off;     /* bytes of this connection consumed so far */
    uint64_t line_no; /* lines handed over so far */
    size_t scanned;   /* leading input bytes known to hold no newline */
    bool skipping;    /* inside an oversized line, dropping bytes */
    uint64_t acked;   /* ack: lines acknowledged so far */
    bool eof;         /* ack: the client is done sending; close after the last ack */
    bool ack_blocked; /* ack: reading stopped until the client reads its acks */
    uint64_t errors;
    char peer[64];
};

struct tcp_src {
    struct io_source *s;
    struct evconnlistener *lis;
    struct event *backoff_ev;
    struct tcp_conn *conns;
    size_t n_conns;
    struct src_wal wal;
};

static void tcp_conn_close(struct tcp_conn *c, const char *why);

/* ack: tell the client how many of its lines are taken (durable with a
 * WAL, handed over without). */
static void tcp_ack(struct tcp_conn *c)
{
    if (!c->ts->s->cfg->ack || c->acked == c->line_no)
        return;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    char ack[32];
    int n = snprintf(ack, sizeof(ack), "ok %" PRIu64 "\n", c->line_no);
    ssize_t sent = 0;
    if (c->ts->wal.wal && evbuffer_get_length(out) == 0) {
        /* Durable now: say so at once rather than on the next loop
         * iteration, after the records were handed over; an ack a crash
         * loses is a line the client sends again. */
        sent = send(bufferevent_getfd(c->bev), ack, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (sent < 0)
            sent = 0;
    }
    if (sent < n)
        evbuffer_add(out, ack + sent, (size_t)(n - sent));
    c->acked = c->line_no;
    if (evbuffer_get_length(out) > SRC_TCP_ACK_BACKLOG && !c->ack_blocked) {
        c->ack_blocked = true;
        bufferevent_disable(c->bev, EV_READ);
    }
}

/* ack, after the client's end of stream: close once every line it sent is
 * acknowledged and the acks are written. */
static void tcp_conn_linger(struct tcp_conn *c)
{
    if (c->line_no == c->acked &&
        evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        tcp_conn_close(c, "end of stream");
}

/* ack: the output drained. */
static void tcp_write_cb(struct bufferevent *bev, void *ud)
{
    struct tcp_conn *c = ud;
    if (c->eof) {
        tcp_conn_linger(c);
        return;
    }
    if (c->ack_blocked) {
        c->ack_blocked = false;
        if (!c->ts->s->paused)
            bufferevent_enable(bev, EV_READ);
    }
}

/* After a group commit: acknowledge (ok), or drop the connections whose
 * lines were lost with the failed write (they were never acknowledged). */
static void tcp_wal_synced(void *ud, bool ok)
{
    struct tcp_src *ts = ud;
    struct tcp_conn *next;
    for (struct tcp_conn *c = ts->conns; c; c = next) {
        next = c->next;
        if (!ok && c->line_no > c->acked) {
            ts->s->st.errors++;
            c->errors++;
            tcp_conn_close(c, "write-ahead log error");
            continue;
        }
        tcp_ack(c);
        if (c->eof)
            tcp_conn_linger(c);
    }
}

/* Hand one line (or the head of an oversized one) to the pipeline. */
static void tcp_line(struct tcp_conn *c, const char *data, size_t len, bool too_long)
{
    struct io_source *s = c->ts->s;
    if (c->ts->wal.wal) {
        src_wal_append(&c->ts->wal, data, len, ++c->line_no, too_long);
        if (too_long) {
            s->st.errors++;
            c->errors++;
        }
        return;
    }
    struct io_line l = {
        .data = data,
        .len = len,
        .offset = c->no << SRC_NET_OFF_BITS | (c->off & SRC_NET_OFF_MASK),
        .line_no = ++c->line_no,
        .too_long = too_long,
    };
    struct io_verdict v = {.accepted = true};
    s->on_line(s->ud, s, &l, &v);
    s->st.lines++;
    s->st.last_line_at = io_source_now(s);
    if (too_long) {
        s->st.errors++;
        c->errors++;
    }
    if (!v.accepted)
        s->st.rejected++;
}

static void tcp_consume(struct tcp_conn *c, struct evbuffer *in, size_t n)
{
    evbuffer_drain(in, n);
    c->off += n;
    c->ts->s->st.bytes += n;
    c->scanned = 0;
}

/* Hand over every complete line in c's input, stopping early if the
 * pipeline pauses the source (the rest waits in the buffer for resume)
 * unless force is set (stop: what was received is not left behind). */
static void tcp_drain(struct tcp_conn *c, bool force)
{
    struct io_source *s = c->ts->s;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    bool any = false;
    while (force || !s->paused) {
        size_t avail = evbuffer_get_length(in);
        if (avail == 0)
            break;
        struct evbuffer_ptr from, nl;
        evbuffer_ptr_set(in, &from, c->scanned, EVBUFFER_PTR_SET);
        nl = evbuffer_search(in, "\n", 1, &from);
        if (c->skipping) {
            tcp_consume(c, in, nl.pos < 0 ? avail : (size_t)nl.pos + 1);
            c->skipping = nl.pos < 0;
            continue;
        }
        if (nl.pos < 0 && avail <= s->max_line) {
            c->scanned = avail;
            break;
        }
        size_t len = nl.pos < 0 ? avail : (size_t)nl.pos;
        any = true;
        if (len > s->max_line) {
            tcp_line(c, (const char *)evbuffer_pullup(in, (ev_ssize_t)s->max_line), s->max_line,
                     true);
            tcp_consume(c, in, nl.pos < 0 ? avail : len + 1);
            c->skipping = nl.pos < 0;
        } else {
            tcp_line(c, (const char *)evbuffer_pullup(in, (ev_ssize_t)len + 1), len, false);
            tcp_consume(c, in, len + 1);
        }
    }
    if (any && !c->ts->wal.wal) {
        tcp_ack(c);
        if (s->on_batch)
            s->on_batch(s->ud, s);
    }
}

static void tcp_read_cb(struct bufferevent *bev, void *ud)
{
    struct tcp_conn *c = ud;
    if (c->ts->wal.wal) {
        /* End of stream and errors are left for the bufferevent to find
         * on its next read.  It keeps its input's end frozen outside its
         * own reads, as we do. */
        struct evbuffer *in = bufferevent_get_input(bev);
        evutil_socket_t fd = bufferevent_getfd(bev);
        evbuffer_unfreeze(in, 0);
        while (evbuffer_get_length(in) < SRC_TCP_WAL_READ_MAX &&
               evbuffer_read(in, fd, SRC_TCP_WAL_READ_MAX) > 0)
            continue;
        evbuffer_freeze(in, 0);
    }
    tcp_drain(c, false);
}

/* Close c, counting a partial last line, and log its counters. */
static void tcp_conn_close(struct tcp_conn *c, const char *why)
{
    struct tcp_src *ts = c->ts;
    struct io_source *s = ts->s;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t rest = evbuffer_get_length(in);
    if (rest > 0) {
        if (!c->skipping) {
            s->st.errors++;
            c->errors++;
            cep_log(CEP_LOG_INFO, "tcp source %s: connection #%" PRIu64
                    " from %s: dropped a partial line of %zu bytes", s->cfg->name, c->no,
                    c->peer, rest);
        }
        c->off += rest;
        s->st.bytes += rest;
    }
    cep_log(CEP_LOG_INFO, "tcp source %s: connection #%" PRIu64 " from %s closed (%s): %" PRIu64
            " lines, %" PRIu64 " bytes, %" PRIu64 " errors", s->cfg->name, c->no, c->peer, why,
            c->line_no, c->off, c->errors);
    if (c->prev)
        c->prev->next = c->next;
    else
        ts->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    ts->n_conns--;
    bufferevent_free(c->bev);
    cep_free(c);
}

static void tcp_event_cb(struct bufferevent *bev, short what, void *ud)
{
    CEP_UNUSED(bev);
    struct tcp_conn *c = ud;
    if ((what & BEV_EVENT_EOF) && c->ts->s->cfg->ack && !c->eof) {
        /* Take what was received, then wait for its acknowledgement. */
        c->eof = true;
        bufferevent_disable(c->bev, EV_READ);
        tcp_drain(c, true);
        tcp_conn_linger(c);
    } else if (what & BEV_EVENT_EOF) {
        tcp_conn_close(c, "end of stream");
    } else if (what & BEV_EVENT_ERROR) {
        c->ts->s->st.errors++;
        c->errors++;
        tcp_conn_close(c, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    }
}

static void tcp_accept_cb(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
                          int socklen, void *ud)
{
    CEP_UNUSED(lis);
    CEP_UNUSED(socklen);
    struct tcp_src *ts = ud;
    struct io_source *s = ts->s;
    s->st.connections++;
    char peer[64];
    src_net_peer(sa, peer, sizeof(peer));
    if (ts->n_conns >= SRC_TCP_MAX_CONNS) {
        s->st.errors++;
        cep_log(CEP_LOG_WARN, "tcp source %s: refusing %s: %d connections open", s->cfg->name,
                peer, SRC_TCP_MAX_CONNS);
        evutil_closesocket(fd);
        return;
    }
    struct tcp_conn *c = cep_calloc(1, sizeof(*c));
    c->ts = ts;
    c->no = s->st.connections;
    memcpy(c->peer, peer, sizeof(peer));
    c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    CEP_ASSERT(c->bev);
    bool ack = s->cfg->ack;
    bufferevent_setcb(c->bev, tcp_read_cb, ack ? tcp_write_cb : NULL, tcp_event_cb, c);
    if (!ack)
        bufferevent_disable(c->bev, EV_WRITE);

    if (!s->paused)
        bufferevent_enable(c->bev, EV_READ);
    c->next = ts->conns;
    if (ts->conns)
        ts->conns->prev = c;
    ts->conns = c;
    ts->n_conns++;
    cep_log(CEP_LOG_DEBUG, "tcp source %s: connection #%" PRIu64 " from %s", s->cfg->name, c->no,
            peer);
}

static void tcp_backoff_cb(evutil_socket_t fd, short what, void *ud)
{
    CEP_UNUSED(fd);
    CEP_UNUSED(what);
    struct tcp_src *ts = ud;
    if (ts->lis)
        evconnlistener_enable(ts->lis);
}

/* accept() failed (EMFILE and the like): count it, log it, and stop
 * accepting for a moment rather than spin on the listening socket. */
static void tcp_accept_error_cb(struct evconnlistener *lis, void *ud)
{
    struct tcp_src *ts = ud;
    int err = EVUTIL_SOCKET_ERROR();
    ts->s->st.errors++;
    cep_log(CEP_LOG_WARN, "tcp source %s: accept: %s; retrying in %d ms", ts->s->cfg->name,
            evutil_socket_error_to_string(err), SRC_TCP_ACCEPT_BACKOFF_MS);
    evconnlistener_disable(lis);
    struct timeval tv = {SRC_TCP_ACCEPT_BACKOFF_MS / 1000, SRC_TCP_ACCEPT_BACKOFF_MS % 1000 * 1000};
    evtimer_add(ts->backoff_ev, &tv);
}

/* s->impl, allocated on first use (the ops table is the only constructor;
 * load_pos may come before start). */
static struct tcp_src *tcp_impl(struct io_source *s)
{
    if (!s->impl) {
        struct tcp_src *ts = cep_calloc(1, sizeof(*ts));
        ts->s = s;
        ts->wal.on_sync = tcp_wal_synced;
        ts->wal.ud = ts;
        ts->wal.ack_first = true;
        s->impl = ts;
    }
    return s->impl;
}

/* Open the write-ahead log (replay is scheduled first, so it comes before
 * any client's line), then bind and listen.  CEP_ERR, after logging why,
 * when the log cannot be opened or the address cannot be bound. */
static int tcp_start(struct io_source *s)
{
    struct tcp_src *ts = tcp_impl(s);
    if (src_wal_open(&ts->wal, s) != CEP_OK)
        return CEP_ERR;
    if (s->cfg->ack && !ts->wal.wal)
        cep_log(CEP_LOG_NOTICE, "tcp source %s: without checkpoint.dir there is no write-ahead "
                "log: acknowledgements mean handed over, not durable", s->cfg->name);
    int fd = src_net_listen(s);
    if (fd < 0)
        return CEP_ERR;
    ts->lis = evconnlistener_new(s->base, tcp_accept_cb, ts,
                                 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
    if (!ts->lis) {
        cep_log(CEP_LOG_ERROR, "tcp source %s: cannot accept on %s: %s", s->cfg->name,
                s->cfg->listen, strerror(errno));
        close(fd);
        return CEP_ERR;
    }
    evconnlistener_set_error_cb(ts->lis, tcp_accept_error_cb);
    ts->backoff_ev = evtimer_new(s->base, tcp_backoff_cb, ts);
    CEP_ASSERT(ts->backoff_ev);
    cep_log(CEP_LOG_NOTICE, "tcp source %s: listening on %s", s->cfg->name, s->cfg->listen);
    return CEP_OK;
}

static void tcp_pause(struct io_source *s)
{
    struct tcp_src *ts = s->impl;
    s->paused = true;
    for (struct tcp_conn *c = ts ? ts->conns : NULL; c; c = c->next)
        bufferevent_disable(c->bev, EV_READ);
}

/* Reading restarts on every connection; lines that were already buffered
 * when the source paused are handed over from a deferred callback (no new
 * data may ever arrive to trigger a read). */
static void tcp_resume(struct io_source *s)
{
    struct tcp_src *ts = s->impl;
    s->paused = false;
    for (struct tcp_conn *c = ts ? ts->conns : NULL; c; c = c->next) {
        if (c->eof || c->ack_blocked)
            continue;
        bufferevent_enable(c->bev, EV_READ);
        if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
            bufferevent_trigger(c->bev, EV_READ,
                                BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
    }
    if (ts)
        src_wal_resume(&ts->wal);
}

/* Close the listener and every connection.  With deliver (stop), the
 * complete lines still buffered are handed over first; free only closes. */
static void tcp_close_all(struct tcp_src *ts, bool deliver)
{
    if (ts->lis) {
        evconnlistener_free(ts->lis);
        ts->lis = NULL;
    }
    if (ts->backoff_ev) {
        event_free(ts->backoff_ev);
        ts->backoff_ev = NULL;
    }
    if (deliver) {
        for (struct tcp_conn *c = ts->conns; c; c = c->next)
            tcp_drain(c, true);
        src_wal_flush(&ts->wal);
    }
    while (ts->conns)
        tcp_conn_close(ts->conns, "source stopped");
}

static void tcp_stop(struct io_source *s)
{
    if (s->impl)
        tcp_close_all(s->impl, true);
}

static void tcp_free(struct io_source *s)
{
    struct tcp_src *ts = s->impl;
    if (!ts)
        return;
    tcp_close_all(ts, false);
    src_wal_close(&ts->wal);
    cep_free(ts);
    s->impl = NULL;
}

static void tcp_save_pos(struct io_source *s, uint64_t ckpt_seq, struct ckpt_w *w)
{
    src_wal_save_pos(&tcp_impl(s)->wal, ckpt_seq, w);
}

static int tcp_load_pos(struct io_source *s, struct ckpt_r *r)
{
    return src_wal_load_pos(&tcp_impl(s)->wal, s, r);
}

static void tcp_committed(struct io_source *s, uint64_t ckpt_seq)
{
    src_wal_committed(&tcp_impl(s)->wal, ckpt_seq);
}

const struct io_source_ops io_src_tcp_ops = {
    .type = "tcp",
    .start = tcp_start,
    .pause = tcp_pause,
    .resume = tcp_resume,
    .stop = tcp_stop,
    .free = tcp_free,
    .save_pos = tcp_save_pos,
    .load_pos = tcp_load_pos,
    .committed = tcp_committed,
};
