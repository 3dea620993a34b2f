/* SPDX-License-Identifier: Apache-2.0
 * Logging and assertion failure.  A line goes to one target: stderr (the
 * default), syslog, or a file opened for appending.  Each stderr or file
 * line is formatted into a buffer and written with one write(2), so lines
 * from several threads never interleave, and a reopen after rotation
 * dup2()s the new file over the old descriptor, which is atomic for
 * threads logging at that moment.  The threshold and the target are the
 * only mutable globals besides signal flags: they are set at start-up.
 * Tested by: tests/unit/check_core.c, tests/unit/check_proc.c,
 * tests/daemon/t_proc.sh */
#include "cepd/cep_common.h"
#include "cepd/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define CEP_LOG_LINE_MAX 8192 /* longer messages are cut, ending in "..." */

int cep_log_threshold = CEP_LOG_NOTICE;

static enum cep_log_target cep_log_target = CEP_LOG_TO_STDERR;
static int cep_log_fd = STDERR_FILENO; /* stderr or the log file */
static char *cep_log_path;             /* the log file, for reopening */

static const char *const cep_log_names[CEP_LOG_COUNT] = {
    [CEP_LOG_ERROR] = "error",
    [CEP_LOG_WARN] = "warn",
    [CEP_LOG_NOTICE] = "notice",
    [CEP_LOG_INFO] = "info",
    [CEP_LOG_DEBUG] = "debug",
};

static const int cep_log_syslog_prio[CEP_LOG_COUNT] = {
    [CEP_LOG_ERROR] = LOG_ERR,
    [CEP_LOG_WARN] = LOG_WARNING,
    [CEP_LOG_NOTICE] = LOG_NOTICE,
    [CEP_LOG_INFO] = LOG_INFO,
    [CEP_LOG_DEBUG] = LOG_DEBUG,
};

int cep_log_level_parse(const char *name)
{
    for (int i = 0; i < CEP_LOG_COUNT; i++)
        if (strcmp(name, cep_log_names[i]) == 0)
            return i;
    if (strcmp(name, "warning") == 0)
        return CEP_LOG_WARN;
    return -1;
}

/* Write all of buf to fd, retrying short writes and EINTR.  A log line
 * that cannot be written has nowhere else to go, so errors are dropped. */
static void cep_log_write(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

/* Append "FMT..." to line at *len (capacity CEP_LOG_LINE_MAX - 1, leaving
 * room for the newline), marking a cut with "...". */
static void cep_log_vappend(char *line, size_t *len, const char *fmt, va_list ap)
{
    size_t room = CEP_LOG_LINE_MAX - 1 - *len;
    int n = vsnprintf(line + *len, room, fmt, ap);
    if (n < 0)
        return;
    if ((size_t)n >= room) {
        /* vsnprintf kept room - 1 bytes; end them with "...". */
        *len = CEP_LOG_LINE_MAX - 2;
        memcpy(line + *len - 3, "...", 3);
        return;
    }
    *len += (size_t)n;
}

static void cep_log_append(char *line, size_t *len, const char *fmt, ...) CEP_PRINTF(3, 4);
static void cep_log_append(char *line, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cep_log_vappend(line, len, fmt, ap);
    va_end(ap);
}

void cep_log_at(int level, const char *file, int line, const char *fmt, ...)
{
    char buf[CEP_LOG_LINE_MAX];
    size_t len = 0;
    if (level < 0 || level >= CEP_LOG_COUNT)
        level = CEP_LOG_ERROR;
    if (cep_log_target != CEP_LOG_TO_SYSLOG) {
        struct timespec now;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &now);
        gmtime_r(&now.tv_sec, &tm);
        len = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
        cep_log_append(buf, &len, ".%03ldZ cepd[%s] ", now.tv_nsec / 1000000L,
                       cep_log_names[level]);
    }
    if (level == CEP_LOG_DEBUG)
        cep_log_append(buf, &len, "%s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    cep_log_vappend(buf, &len, fmt, ap);
    va_end(ap);
    if (cep_log_target == CEP_LOG_TO_SYSLOG) {
        buf[len] = '\0';
        syslog(cep_log_syslog_prio[level], "%s", buf);
        return;
    }
    buf[len++] = '\n';
    cep_log_write(cep_log_fd, buf, len);
}

/* Open path for appending log lines: created 0640 if missing, close on
 * exec.  Returns the descriptor or -1 with errno set. */
static int cep_log_file_open(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
}

int cep_log_open(enum cep_log_target target, const char *path)
{
    int fd = -1;
    if (target == CEP_LOG_TO_FILE) {
        CEP_ASSERT(path != NULL);
        if ((fd = cep_log_file_open(path)) < 0) {
            cep_log(CEP_LOG_ERROR, "log: cannot open %s: %s", path, strerror(errno));
            return CEP_ERR;
        }
    }
    cep_log_close();
    cep_log_target = target;
    if (target == CEP_LOG_TO_FILE) {
        cep_log_fd = fd;
        cep_log_path = cep_strdup(path);
    } else if (target == CEP_LOG_TO_SYSLOG) {
        /* LOG_NDELAY connects now, before privileges are dropped. */
        openlog("cepd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    }
    return CEP_OK;
}

int cep_log_reopen(void)
{
    if (cep_log_target != CEP_LOG_TO_FILE)
        return CEP_OK;
    int fd = cep_log_file_open(cep_log_path);
    if (fd < 0) {
        cep_log(CEP_LOG_ERROR, "log: cannot reopen %s: %s (still writing to the old file)",
                cep_log_path, strerror(errno));
        return CEP_ERR;
    }
    if (dup2(fd, cep_log_fd) < 0) {
        int err = errno;
        close(fd);
        cep_log(CEP_LOG_ERROR, "log: reopen %s: dup2: %s (still writing to the old file)",
                cep_log_path, strerror(err));
        return CEP_ERR;
    }
    close(fd);
    cep_log(CEP_LOG_INFO, "log: reopened %s", cep_log_path);
    return CEP_OK;
}

void cep_log_close(void)
{
    if (cep_log_target == CEP_LOG_TO_FILE)
        close(cep_log_fd);
    else if (cep_log_target == CEP_LOG_TO_SYSLOG)
        closelog();
    cep_free(cep_log_path);
    cep_log_path = NULL;
    cep_log_fd = STDERR_FILENO;
    cep_log_target = CEP_LOG_TO_STDERR;
}

void cep_assert_fail(const char *expr, const char *file, int line)
{
    /* Also to the log target, so a daemon's assertion is not lost with
     * its stderr on /dev/null. */
    if (cep_log_target != CEP_LOG_TO_STDERR)
        cep_log_at(CEP_LOG_ERROR, file, line, "assertion failed: %s (%s:%d)", expr, file, line);
    fprintf(stderr, "cepd: assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}
