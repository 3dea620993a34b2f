/* SPDX-License-Identifier: Apache-2.0
 * Checkpoints (design §5.1): the binary encoding every module writes its
 * state with, the table of events shared by that state, and the checkpoint
 * files themselves (versioned, CRC-checked, written to a temporary file,
 * fsynced, renamed, directory fsynced; the last `retain` kept; the newest
 * valid one found on start).  What goes into a checkpoint is decided by
 * its owners: the engine (eng_snapshot, eng.h), the NFA (nfa_key_save),
 * windows (win_key_save), sources (io_source_ops.save_pos) and the daemon's
 * outbox (src/daemon/dmn_ckpt.c); this module only encodes and stores.
 *
 * Encoding: unsigned integers as LEB128 varints, signed ones zigzag-encoded
 * then as varints, doubles as their 8 IEEE bytes little-endian, byte
 * strings as a varint length then the bytes.  Writers append to an sbuf
 * and cannot fail.  Readers never read past the end: the first problem
 * (truncation, a bad tag, an impossible value) is recorded in r->err and
 * every later get returns zero, so a caller may read a whole record and
 * check r->err once.
 * Tested by: tests/unit/check_ckpt.c */
#ifndef CEPD_CKPT_H
#define CEPD_CKPT_H

#include "cepd/cep_common.h"

#include <inttypes.h>

#include "cepd/evt.h"
#include "cepd/sbuf.h"
#include "cepd/val.h"

/* ---- encoding --------------------------------------------------------- */

struct ckpt_w {
    struct sbuf *sb;
};

struct ckpt_r {
    const uint8_t *p;
    const uint8_t *end;
    const char *err;    /* static text of the first problem, or NULL */
};

static inline void ckpt_r_init(struct ckpt_r *r, const void *data, size_t len)
{
    r->p = (const uint8_t *)data;
    r->end = r->p + len;
    r->err = NULL;
}

/* Record a problem (the first one wins; why is static text); later gets
 * return zero. */
void ckpt_r_fail(struct ckpt_r *r, const char *why);

void ckpt_put_u8(struct ckpt_w *w, uint8_t v);
void ckpt_put_uv(struct ckpt_w *w, uint64_t v);
void ckpt_put_sv(struct ckpt_w *w, int64_t v);
void ckpt_put_f64(struct ckpt_w *w, double v);
void ckpt_put_bytes(struct ckpt_w *w, const void *p, size_t len);
static inline void ckpt_put_bool(struct ckpt_w *w, bool b)
{
    ckpt_put_u8(w, b ? 1 : 0);
}
/* A value of type NULL, BOOL, INT, FLOAT, STR, ARR or OBJ (ARR and OBJ
 * are raw JSON bytes), with its flags.  VAL_LIST never occurs in state. */
void ckpt_put_val(struct ckpt_w *w, const struct val *v);

uint8_t ckpt_get_u8(struct ckpt_r *r);
uint64_t ckpt_get_uv(struct ckpt_r *r);
int64_t ckpt_get_sv(struct ckpt_r *r);
double ckpt_get_f64(struct ckpt_r *r);
bool ckpt_get_bool(struct ckpt_r *r);
/* The bytes point into the reader's buffer (valid as long as it is);
 * NULL with *len 0 on error. */
const char *ckpt_get_bytes(struct ckpt_r *r, size_t *len);
/* A varint that must be <= max (a count about to size an allocation, an
 * enum); otherwise fails the reader with what (static text, e.g. "too many
 * rules") as r->err and returns 0. */
uint64_t ckpt_get_uv_max(struct ckpt_r *r, uint64_t max, const char *what);
/* A value written by ckpt_put_val; strings and raw JSON point into the
 * reader's buffer (copy what is kept). */
void ckpt_get_val(struct ckpt_r *r, struct val *out);

/* Frames: a length-prefixed block (encoded exactly like bytes), so that a
 * reader can skip what it does not want (a dropped rule's state) without
 * parsing it.  ckpt_frame_begin reserves room for the length and returns a
 * mark for ckpt_frame_end; frames nest (end inner ones first). */
size_t ckpt_frame_begin(struct ckpt_w *w);
void ckpt_frame_end(struct ckpt_w *w, size_t mark);
/* A sub-reader over the next frame; r moves past it.  If r has failed (or
 * fails reading the frame's length) the sub-reader starts failed with the
 * same err; a failure inside the frame is not copied back to r. */
void ckpt_get_frame(struct ckpt_r *r, struct ckpt_r *frame);

/* ---- events shared by state ------------------------------------------- */

/* Partial matches, windows and absence rules hold references on events,
 * and one event may be held in many places.  An event table writes each
 * event once (its identity, time, stream and raw bytes) and refers to it by
 * number afterwards; on restore it makes each event once (decoding its raw
 * bytes under the stream's schema, through the engine's make callback) and
 * hands out references.  One table spans one snapshot of one engine. */
struct ckpt_evtab;

/* Writer side: events are numbered in the order first written. */
struct ckpt_evtab *ckpt_evtab_writer(void);
/* Reader side.  make returns a new event (one reference, owned by the
 * table until ckpt_evtab_free) holding raw, with the given identity, or
 * NULL if the line cannot be decoded any more (the reader then fails).
 * src_name is NUL-terminated and valid only during the call (events borrow
 * their source's own name: map it to that); raw is not NUL-terminated.  An
 * event written with a NULL src_name comes back with "". */
typedef struct evt *(*ckpt_make_evt_fn)(void *ud, uint32_t stream, int64_t time, uint64_t seq,
                                        const char *src_name, uint64_t src_off,
                                        const char *raw, size_t raw_len);
struct ckpt_evtab *ckpt_evtab_reader(ckpt_make_evt_fn make, void *ud);
/* Drops the table's own references (the state keeps its own). */
void ckpt_evtab_free(struct ckpt_evtab *t);

/* Write ev: in full the first time this table sees it, by number after. */
void ckpt_put_evt(struct ckpt_w *w, struct ckpt_evtab *t, const struct evt *ev);
/* Read an event written by ckpt_put_evt; returns it with a NEW reference
 * for the caller (evt_unref it when dropped), or NULL on error (r->err). */
struct evt *ckpt_get_evt(struct ckpt_r *r, struct ckpt_evtab *t);

/* ---- checkpoint files ------------------------------------------------- */

/* A checkpoint is a 48-byte header and a body.  Header, integers
 * little-endian: magic "CEPDCKPT" (8 bytes), format version (u32), kind
 * (u32), seq (u64), wall_us (i64), body length (u64), CRC-32C of the body
 * (u32), CRC-32C of the 44 bytes before it (u32).  The body is a sequence
 * of sections, each a uv tag and a frame; a reader skips tags it does not
 * know.  The sections the daemon writes, and their payloads (uv, sv,
 * bytes and frame as in "Encoding" above):
 *   META:    bytes cepd version (PACKAGE_VERSION), bytes config path,
 *            uv number of rules, then per rule: bytes id, uv compiled hash.
 *   SOURCES: uv n; per source: bytes name, bytes type, a frame holding
 *            that source's save_pos record.
 *   ENGINE:  a frame holding eng_snapshot's output; with parallelism N > 1,
 *            one per worker: the first frame, then uv N-1 and N-1 more
 *            frames (a reader of one frame sees worker 0's).
 *   OUTBOX:  uv n alerts; per alert: bytes alert_id (32 hex digits),
 *            uv rule_index, sv time, bytes alert JSON, uv n sinks, then per
 *            sink bytes sink name (the sinks that have not acknowledged it). */
enum ckpt_section {
    CKPT_SEC_META = 1,    /* cepd version, config path, rule ids and hashes */
    CKPT_SEC_SOURCES,     /* per source: name, type, position (save_pos) */
    CKPT_SEC_ENGINE,      /* eng_snapshot */
    CKPT_SEC_OUTBOX,      /* alerts not yet acknowledged by their sinks */
    CKPT_SEC_COUNT
};

enum ckpt_kind {
    CKPT_KIND_CHECKPOINT = 0, /* periodic: dir/chk-NNNNNNNNNN.ckpt, the last `retain` kept */
    CKPT_KIND_SAVEPOINT,      /* asked for: kept until deleted */
    CKPT_KIND_COUNT
};

#define CKPT_FORMAT_VERSION 1
/* The file name of periodic checkpoint seq (printf format, one uint64_t):
 * chk- and 10 digits, so that name order is sequence order. */
#define CKPT_NAME_FMT "chk-%010" PRIu64 ".ckpt"

struct ckpt_header {
    uint32_t version;
    enum ckpt_kind kind;
    uint64_t seq;        /* checkpoint number, increasing */
    int64_t wall_us;     /* when it was taken */
    uint64_t body_len;
    uint32_t crc;        /* CRC-32C of the body */
};

/* Append a section (tag, then the frame) to a body under construction. */
size_t ckpt_section_begin(struct ckpt_w *w, enum ckpt_section tag);
void ckpt_section_end(struct ckpt_w *w, size_t mark);
/* Find section tag in a verified body: true with out over its payload;
 * false if absent (out->err NULL) or if the body is malformed before it
 * (out->err says how). */
bool ckpt_section_find(const void *body, size_t len, enum ckpt_section tag, struct ckpt_r *out);

/* CRC-32C (Castagnoli) of p, continuing from crc (0 to start): the
 * standard check value of "123456789" is 0xe3069283.  Thread-safe. */
uint32_t ckpt_crc32c(uint32_t crc, const void *p, size_t len);

/* Write header + body to path atomically: path.tmp, write, fsync, rename,
 * fsync the directory.  From h only kind, seq and wall_us are used (the
 * version, length and CRC are the writer's).  CEP_ERR with err filled
 * ("FILE: STEP: errno text"); a failure before the rename removes path.tmp
 * and leaves whatever was under path untouched; a failure of the directory
 * fsync leaves the complete new file under path, not known to be durable. */
int ckpt_file_write(const char *path, const struct ckpt_header *h, const void *body,
                    size_t len, char *err, size_t errlen);
/* Read and verify path (magic, version, header CRC, length, body CRC)
 * into h and body (reset first).  CEP_ERR with err "PATH: what", what one
 * of "not a cepd checkpoint", "format version N not supported (this cepd
 * reads 1)", "truncated: N of M bytes", "header CRC mismatch", "CRC
 * mismatch", "N bytes where M were expected", or a system error. */
int ckpt_file_read(const char *path, struct ckpt_header *h, struct sbuf *body, char *err,
                   size_t errlen);
/* The periodic checkpoints of dir, newest first: the base names matching
 * CKPT_NAME_FMT (savepoints, savepoint-*.ckpt, are not listed).  Returns
 * how many (names owned, free with ckpt_names_free); 0 and NULL if dir
 * cannot be read. */
size_t ckpt_dir_list(const char *dir, char ***names);
void ckpt_names_free(char **names, size_t n);
/* Delete all but the newest `retain` periodic checkpoints, and stray
 * chk-*.ckpt.tmp files left by a crash (call it from the thread that
 * writes checkpoints).  Savepoints are never deleted.  Failures are logged. */
void ckpt_dir_prune(const char *dir, uint32_t retain);
/* mkdir -p dir: each missing component created with mode.  CEP_ERR with
 * errno set (ENOTDIR when dir exists and is not a directory). */
int ckpt_mkdirs(const char *dir, unsigned mode);

/* Fault injection (tests): with CEPD_FAULT=step:N[,step:N...] in the
 * environment (step one of open, write, fsync, rename, dirsync; N counts
 * calls from 1), the N-th such step of ckpt_file_write fails with EIO
 * (ENOSPC for write); steps wal_write and wal_sync fail the write-ahead
 * log's group commit (wal.c) the same way, and step thread the start of a
 * parallel worker (eng_par_new, EAGAIN).  CEPD_FAULT is read at the
 * first call, and again by ckpt_fault_reset (which also zeroes the counts;
 * the daemon calls it before its first checkpoint, so the checkpoint
 * processes it forks share the counts).  Compiled in only with
 * ./configure --enable-fault-injection; otherwise ckpt_fault is always
 * false and ckpt_fault_reset does nothing.  Not thread-safe. */
bool ckpt_fault(const char *step);
void ckpt_fault_reset(void);

#endif
