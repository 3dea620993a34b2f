/* SPDX-License-Identifier: Apache-2.0
 * Logging and assertion failure.  Log lines go to stderr with a timestamp
 * and level; the daemon issue adds syslog and file targets.  The threshold
 * is the one mutable global besides signal flags: it is set at start-up.
 * Tested by: tests/unit/check_core.c */
#include "cepd/cep_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int cep_log_threshold = CEP_LOG_NOTICE;

static const char *const cep_log_names[CEP_LOG_COUNT] = {
    [CEP_LOG_ERROR] = "error",
    [CEP_LOG_WARN] = "warn",
    [CEP_LOG_NOTICE] = "notice",
    [CEP_LOG_INFO] = "info",
    [CEP_LOG_DEBUG] = "debug",
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

void cep_log_at(int level, const char *file, int line, const char *fmt, ...)
{
    char ts[32];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    if (level < 0 || level >= CEP_LOG_COUNT)
        level = CEP_LOG_ERROR;
    flockfile(stderr);
    fprintf(stderr, "%s.%03ldZ cepd[%s] ", ts, now.tv_nsec / 1000000L, cep_log_names[level]);
    if (level == CEP_LOG_DEBUG)
        fprintf(stderr, "%s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    funlockfile(stderr);
}

void cep_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "cepd: assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}
