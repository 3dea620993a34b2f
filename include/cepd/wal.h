/* SPDX-License-Identifier: Apache-2.0
 * The write-ahead log of a push source (design §5.1): what tcp and http
 * receive is appended here and made durable before it is acknowledged or
 * handed to the pipeline, so it can be replayed after a crash.
 *
 * A log is a directory of segment files named by the offset of their first
 * record (20 digits, "00000000000000000000.wal").  A segment is a 16-byte
 * header ("CEPDWAL1" and its start offset, u64 little-endian) and records;
 * a record never spans segments.  A record is a 16-byte header -- length
 * (u32 LE; bit 31 = the line was cut at max_line_bytes), CRC-32C (u32 LE,
 * over the length, the line number and the bytes), line number (u64 LE,
 * the source's own count) -- and the line bytes.  Offsets are logical: the
 * byte position of a record in the concatenation of all records, so a
 * record's offset never changes and is the line's identity (io_line.offset).
 *
 * Appends only buffer in memory; wal_sync writes them and fdatasyncs once
 * (group commit).  Readers see only what is durable.  At open, a torn or
 * corrupt tail of the last segment (a crash mid-append) is cut off with a
 * log line.  Not thread-safe; no event loop (src_net.c drives it).
 * Tested by: tests/unit/check_wal.c, tests/daemon/t_wal.sh */
#ifndef CEPD_WAL_H
#define CEPD_WAL_H

#include "cepd/cep_common.h"

#define WAL_SEG_BYTES_DEFAULT (UINT64_C(64) * 1024 * 1024)
#define WAL_SEG_HDR           16
#define WAL_REC_HDR           16
#define WAL_REC_MAX           ((UINT32_C(1) << 31) - 1) /* longest line a record holds */

struct wal;

/* One record as read: data points into the log's read buffer, valid until
 * the next wal_read, wal_trim or wal_close. */
struct wal_rec {
    const char *data;
    size_t len;
    uint64_t off;     /* logical offset of the record */
    uint64_t line_no;
    bool too_long;
};

/* Open (creating it and its parents if needed) the log in dir, with
 * segments of about seg_bytes (a record larger than that gets a segment of
 * its own).  Scans the last segment and truncates a torn tail (logged),
 * then makes it durable.  Returns the log, or NULL with err filled (the
 * path, the step, strerror) when the directory cannot be made or read, or
 * holds a file that is not a segment of this format. */
struct wal *wal_open(const char *dir, uint64_t seg_bytes, char *err, size_t errlen);
/* Close the log; what was appended but not synced is dropped.  NULL is a
 * no-op. */
void wal_close(struct wal *w);

/* Buffer one record (len <= WAL_REC_MAX) and return its offset.  Never
 * fails and does no I/O; nothing is durable nor readable until wal_sync. */
uint64_t wal_append(struct wal *w, const void *data, size_t len, uint64_t line_no,
                    bool too_long);
/* Write what was appended, rolling to new segments as needed, and
 * fdatasync (the directory too when a segment was made): one group commit.
 * CEP_OK, also when nothing was pending.  CEP_ERR with err filled when a
 * write, fsync or create failed: then every record appended since the last
 * good sync is dropped (the files are cut back, offsets are reused by the
 * next appends) and wal_end is unchanged.  Fault-injection builds fail
 * it on demand: CEPD_FAULT steps wal_write (ENOSPC) and wal_sync (EIO),
 * see ckpt_fault. */
int wal_sync(struct wal *w, char *err, size_t errlen);
/* True when records were appended and not yet synced. */
bool wal_pending(const struct wal *w);

/* Offset of the oldest record kept, the end of what is durable, and the
 * end including what is only appended. */
uint64_t wal_start(const struct wal *w);
uint64_t wal_end(const struct wal *w);
uint64_t wal_tail(const struct wal *w);

/* Read the durable record at *pos into out and move *pos past it.
 * Returns 1 with a record, 0 at the durable end, or CEP_ERR when the record
 * at *pos is corrupt or cannot be read (err filled; *pos unchanged: a
 * caller skips the rest of the segment with wal_skip).  A *pos before
 * wal_start, or in a gap between segments, moves to the next record kept. */
int wal_read(struct wal *w, uint64_t *pos, struct wal_rec *out, char *err, size_t errlen);
/* The start of the segment after the one holding pos (or wal_end). */
uint64_t wal_skip(const struct wal *w, uint64_t pos);

/* Delete the segments that end at or before pos (never the last one, which
 * is being written).  Returns how many were deleted; an unlink that fails
 * is logged and the segment kept. */
size_t wal_trim(struct wal *w, uint64_t pos);
/* Segments now in the log (tests, metrics). */
size_t wal_n_segments(const struct wal *w);

#endif
