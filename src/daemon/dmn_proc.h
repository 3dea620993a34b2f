/* SPDX-License-Identifier: Apache-2.0
 * The daemon as a Unix process: detaching from the terminal, the pidfile,
 * dropping root, and systemd's readiness protocol.  These are process-wide,
 * so their state (the pidfile, the pipe to the waiting parent) lives in
 * dmn_proc.c; everything runs on the main thread, outside signal handlers.
 * Order in `cepd run` (see dmn_cmd_run.c): load and check the config and
 * rules; open the log target (cep_log_open); daemonize; pidfile; bind
 * sources and open files; drop privileges; dmn_notify("READY=1").
 * Tested by: tests/unit/check_proc.c, tests/daemon/t_proc.sh */
#ifndef CEPD_DMN_PROC_H
#define CEPD_DMN_PROC_H

#include "cepd/cep_common.h"

/* Detach: fork, setsid, fork again (so the daemon is no session leader and
 * can never regain a controlling terminal), chdir("/"), stdin and stdout
 * to /dev/null.  The process that called this waits: until readiness,
 * the daemon's stderr is a pipe whose text the waiting process copies to
 * its own stderr, so start-up errors still reach the terminal.  The
 * daemon's dmn_notify("READY=1") sends a status byte on a second pipe and
 * points stderr at /dev/null; the waiting process then exits 0.  If the
 * daemon exits before that, the waiting process prints a line saying so
 * and exits 2 (DMN_EXIT_USAGE: a system error).  Hence: returns CEP_OK
 * only in the daemon; CEP_ERR (logged) in the caller when pipe or fork
 * fails, having started nothing.  Call before creating threads or the
 * event_base, and before the pidfile (its lock is not inherited). */
int dmn_proc_daemonize(void);

/* An absolute form of path for `cepd run --daemonize`, which changes
 * directory to "/" (config and pidfile paths are resolved before): path
 * itself when it starts with '/', else the current directory joined with
 * it in buf (no symlinks resolved; the file need not exist).  NULL, logged,
 * if the current directory cannot be read or buf is too small. */
const char *dmn_proc_abspath(const char *path, char *buf, size_t size);

/* Write our pid to path and hold a write lock (fcntl F_SETLK) on it until
 * the process ends.  The lock, not the pid in the file, decides: a file
 * locked by a live process is refused ("PATH is held by pid N: another
 * cepd is running"); an unlocked one (left by a crash, its pid possibly
 * reused) is stale and replaced in place, never unlinked, so two cepds
 * starting together cannot both win.  A symlink at path is refused
 * (O_NOFOLLOW).  Returns CEP_OK, or CEP_ERR after logging why.  One
 * pidfile per process: a second call is a bug (asserted). */
int dmn_proc_pidfile(const char *path);

/* Unlink the pidfile written by dmn_proc_pidfile (a no-op if none).  If
 * privileges were dropped and the directory refuses the unlink, the file is
 * truncated instead, so it names no process.  Call at exit. */
void dmn_proc_pidfile_remove(void);

/* Switch to user (its uid, its primary group unless group is given, and
 * its supplementary groups through initgroups) and/or group.  Either may be
 * NULL; both NULL is a no-op.  When not root, succeeds only if the current
 * ids already are the named ones (as under systemd's User=), otherwise
 * refuses.  After switching, checks that root cannot be regained.  Returns
 * CEP_OK, or CEP_ERR after logging, and the caller must then not continue
 * (exit 2).  Call after every source is bound and every file opened. */
int dmn_proc_drop_privileges(const char *user, const char *group);

/* Send state to systemd through the datagram socket $NOTIFY_SOCKET (a path,
 * or "@name" for the abstract namespace), written by hand: no libsystemd.
 * A no-op without the variable.  "RELOADING=1" gets "MONOTONIC_USEC=now"
 * added, as Type=notify-reload wants.  "READY=1" also releases the process
 * waiting in dmn_proc_daemonize (only the first time).  Other states:
 * "STOPPING=1", "STATUS=free text", several joined by newlines.  Failures
 * are logged at debug level only: supervision is optional. */
void dmn_notify(const char *state);

#endif
