/* SPDX-License-Identifier: Apache-2.0
 * What the tcp and http sources share: opening the listening socket named
 * by `listen: HOST:PORT` with a clear error, and naming a peer address.
 * Tested by: tests/unit/check_netsrc.c */
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

/* Wall-clock microseconds from the loop's cached time (for last_line_at). */
int64_t src_net_now(const struct io_source *s);

#endif
