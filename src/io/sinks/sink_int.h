/* SPDX-License-Identifier: Apache-2.0
 * What the sinks share beyond include/cepd/io.h: the start-up part every
 * sink runs (the dead-letter file), a deferred kick for sinks that become
 * able to deliver (connected), the back-off delay, the immediate dead
 * letter of an alert that retrying cannot help, and the descriptor writer
 * of the stdout and file sinks.
 * Tested by: tests/unit/check_sink.c */
#ifndef CEPD_SINK_INT_H
#define CEPD_SINK_INT_H

#include "cepd/cep_common.h"
#include "cepd/io.h"

/* Open the sink's dead-letter file (cfg->dead_letter) for appending.
 * CEP_ERR after logging when it cannot be opened. */
int sink_common_start(struct io_sink *s);

/* Ask for ops->kick from the loop, if the queue has alerts and the sink is
 * neither busy nor waiting. */
void sink_kick_soon(struct io_sink *s);

/* A back-off delay in µs for the n-th consecutive failure (n >= 1):
 * uniformly random ("full jitter") between IO_SINK_BACKOFF_MIN and
 * min(s->backoff_max, IO_SINK_BACKOFF_MIN * 2^(n-1)). */
int64_t sink_backoff(struct io_sink *s, uint32_t n);

/* The attempt in flight was cut off by a lost connection, not refused:
 * the alerts stay queued as they were (no attempt counted, no back-off:
 * the sink reconnects with its own back-off and kicks again). */
void sink_requeue(struct io_sink *s, const char *err);

/* The attempt on the head failed in a way retrying cannot fix (a 4xx
 * answer): dead-letter it now and go on; the peer answered, so the failure
 * streak ends. */
void sink_reject_head(struct io_sink *s, const char *err);

/* Write the queued alerts as JSON lines to fd with writev, as many as one
 * call takes, and report them delivered; on a write error report the head
 * failed.  A line cut short by an error is cut off the file again
 * (ftruncate) when fd is a regular file, so a retry never leaves half a
 * line behind.  Returns CEP_OK, or CEP_ERR after io_sink_failed. */
int sink_fd_write(struct io_sink *s, int fd);

/* Milliseconds-resolution timeval of us microseconds, for libevent. */
struct timeval;
void sink_tv(struct timeval *tv, int64_t us);

#endif
