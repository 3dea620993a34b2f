/* SPDX-License-Identifier: Apache-2.0
 * Where log lines go: stderr (the default, before any call here), syslog
 * (ident "cepd", facility daemon) or a file opened for appending and
 * reopened on SIGUSR1.  cep_log() itself and the level threshold are in
 * cep_common.h; this header is for the daemon, which picks the target once
 * at start-up and reopens it from its event loop.
 * Tested by: tests/unit/check_proc.c, tests/daemon/t_proc.sh */
#ifndef CEPD_LOG_H
#define CEPD_LOG_H

#include "cepd/cep_common.h"

enum cep_log_target {
    CEP_LOG_TO_STDERR = 0,
    CEP_LOG_TO_SYSLOG,
    CEP_LOG_TO_FILE,
    CEP_LOG_TO_COUNT
};

/* Send log lines to target from now on; path names the file for
 * CEP_LOG_TO_FILE and is ignored otherwise (copied).  File and stderr
 * lines are "2026-11-24T14:37:44.746Z cepd[notice] message" (RFC 3339,
 * UTC, milliseconds), each written with one write(2); syslog gets the
 * message alone at the mapped priority (error: LOG_ERR, warn:
 * LOG_WARNING, notice, info, debug).  Returns CEP_ERR, after logging
 * "log: cannot open PATH: reason" to the target in use so far, when the
 * file cannot be opened; the previous target then stays.  Call before
 * dropping privileges: the syslog socket is connected at once. */
int cep_log_open(enum cep_log_target target, const char *path);

/* Reopen the log file after rotation (SIGUSR1; call from the event loop,
 * never from a signal handler).  When the file cannot be opened again the
 * old descriptor is kept, so nothing is lost, the failure is logged to it
 * and CEP_ERR is returned.  A no-op returning CEP_OK for stderr and syslog. */
int cep_log_reopen(void);

/* Close the file or syslog connection and log to stderr again. */
void cep_log_close(void);

#endif
