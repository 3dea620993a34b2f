/* SPDX-License-Identifier: Apache-2.0
 * What the tcp and http sources share: opening the listening socket named
 * by `listen: HOST:PORT` with a clear error, naming a peer address, and
 * their write-ahead log when checkpoints are on.
 * Tested by: tests/unit/check_netsrc.c, tests/unit/check_wal.c, tests/daemon/t_wal.sh */
#ifndef CEPD_SRC_NET_H
#define CEPD_SRC_NET_H

#include "cepd/cep_common.h"
#include "cepd/io.h"

#include <sys/socket.h>

/* Bits of io_line.offset below the connection (tcp) or request (http)
 * number: offset = number << SRC_NET_OFF_BITS | byte offset (mod 2^40). */
#define SRC_NET_OFF_BITS 40
#define SRC_NET_OFF_MASK ((UINT64_C(1) << SRC_NET_OFF_BITS) - 1)

/* A listening, non-blocking, close-on-exec TCP socket bound to s->cfg->listen
 * ("127.0.0.1:9751", "[::1]:9751", "localhost:9751"; the host is
 * required).  Returns the fd, or -1 after logging
 * "SOURCE: cannot listen on ADDR: why". */
int src_net_listen(const struct io_source *s);

/* "1.2.3.4:5678" or "[::1]:5678" for sa, into buf (len bytes). */
void src_net_peer(const struct sockaddr *sa, char *buf, size_t len);

/* ---- the write-ahead log of a push source ------------------------------
 * With checkpoints on (cfg wal_dir set), tcp and http append what they
 * receive to a WAL (include/cepd/wal.h) instead of handing it over.  The
 * first append of a loop iteration activates sync_ev, which runs after the
 * iteration's other callbacks: one wal_sync for all of them (group commit),
 * then the pump hands the durable records to on_line in WAL order (so
 * io_line.offset is the record's WAL offset), then on_sync lets the source
 * acknowledge (with ack_first, on_sync comes before the pump: tcp's acks
 * need no verdicts, and the sooner an ack leaves, the fewer a crash loses,
 * each a line the client will send again).  The pump stops while the
 * source is paused and goes on from resume; at start it first replays the
 * WAL from the loaded position (or the WAL's start) to its end.
 * Everything runs on the daemon's loop. */
struct event;
struct wal;
struct wal_rec;

struct src_wal_mark {
    uint64_t seq; /* checkpoint */
    uint64_t pos; /* its saved position */
};

struct src_wal {
    struct io_source *s;
    struct wal *wal;           /* NULL: no WAL, the source hands lines over itself */
    struct event *sync_ev;
    struct event *pump_ev;
    uint64_t next;             /* WAL offset of the next record to hand over */
    bool pos_loaded;           /* next came from load_pos */
    struct src_wal_mark *marks; /* saved, not yet committed */
    size_t n_marks, cap_marks;
    /* The source's part: after each group commit (ok false: the records
     * appended since the last one were dropped, wal_end says where they
     * began), and after each record handed over, with the verdict. */
    void (*on_sync)(void *ud, bool ok);
    void (*on_handed)(void *ud, const struct wal_rec *r, bool accepted);
    void *ud;
    bool ack_first;            /* on_sync before the pump, not after */
};

/* At start: open s->cfg->wal_dir (nothing when unset: CEP_OK with
 * sw->wal NULL) and schedule the replay from the loaded position.  The
 * callbacks and ud must be set before.  CEP_ERR after logging when the log
 * cannot be opened. */
int src_wal_open(struct src_wal *sw, struct io_source *s);
/* Append one line (borrowed) for the next group commit; returns its offset. */
uint64_t src_wal_append(struct src_wal *sw, const char *data, size_t len, uint64_t line_no,
                        bool too_long);
/* The source was resumed: go on handing records over. */
void src_wal_resume(struct src_wal *sw);
/* Stop: commit what is pending and hand over everything durable, paused
 * or not. */
void src_wal_flush(struct src_wal *sw);
/* Close the log and free the events (the marks too); sw can be opened
 * again. */
void src_wal_close(struct src_wal *sw);
/* io_source_ops.save_pos / load_pos / committed for a WAL source.  The
 * position is one varint: the offset of the next record to hand over. */
void src_wal_save_pos(struct src_wal *sw, uint64_t ckpt_seq, struct ckpt_w *w);
int src_wal_load_pos(struct src_wal *sw, const struct io_source *s, struct ckpt_r *r);
void src_wal_committed(struct src_wal *sw, uint64_t ckpt_seq);

#endif
