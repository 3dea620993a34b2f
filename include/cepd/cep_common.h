/* SPDX-License-Identifier: Apache-2.0
 * Project-wide basics included first by every .c file: config.h, feature
 * macros, return codes, the aborting allocator, assertions and logging.
 * Library code never prints except through cep_log() and never exits except
 * through CEP_ASSERT on a broken invariant (never on user input).
 * Tested by: tests/unit/check_core.c */
#ifndef CEPD_CEP_COMMON_H
#define CEPD_CEP_COMMON_H

#include "config.h"

#define PCRE2_CODE_UNIT_WIDTH 8

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <string.h>

#define CEP_OK    0
#define CEP_ERR   (-1)
#define CEP_AGAIN (-2)

/* Time is int64 microseconds since the epoch everywhere inside cepd. */
#define CEP_TIME_MIN INT64_MIN
#define CEP_TIME_MAX INT64_MAX
#define CEP_USEC_PER_SEC INT64_C(1000000)

#define CEP_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define CEP_UNUSED(x)    ((void)(x))
#define CEP_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define CEP_NORETURN     __attribute__((noreturn))
#define CEP_LIKELY(x)    __builtin_expect(!!(x), 1)
#define CEP_UNLIKELY(x)  __builtin_expect(!!(x), 0)

/* a[0..n) == b[0..n), inline: the strings compared on hot paths (keys,
 * event types, user names) are short, and a libc call costs more than the
 * compare.  Loads of 8, then 4 bytes, overlapping at the end. */
static inline bool cep_bytes_eq(const char *a, const char *b, size_t n)
{
    if (n >= 8) {
        uint64_t x, y;
        for (size_t i = 0; i + 8 < n; i += 8) {
            memcpy(&x, a + i, 8);
            memcpy(&y, b + i, 8);
            if (x != y)
                return false;
        }
        memcpy(&x, a + n - 8, 8);
        memcpy(&y, b + n - 8, 8);
        return x == y;
    }
    if (n >= 4) {
        uint32_t x0, y0, x1, y1;
        memcpy(&x0, a, 4);
        memcpy(&y0, b, 4);
        memcpy(&x1, a + n - 4, 4);
        memcpy(&y1, b + n - 4, 4);
        return ((x0 ^ y0) | (x1 ^ y1)) == 0;
    }
    return n == 0 || (a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1]);
}

/* Allocation: these abort with a log line on OOM, so callers never test
 * for NULL.  cep_free(NULL) is a no-op. */
void *cep_malloc(size_t n);
void *cep_calloc(size_t n, size_t size);
void *cep_realloc(void *p, size_t n);
char *cep_strdup(const char *s);
char *cep_strndup(const char *s, size_t n);
void cep_free(void *p);
/* Allocations (cep_malloc, cep_calloc, cep_realloc and what calls them)
 * made so far by the calling thread: tests/unit/check_alloc.c proves the
 * per-event path allocates nothing in steady state. */
uint64_t cep_alloc_count(void);
char *cep_asprintf(const char *fmt, ...) CEP_PRINTF(1, 2);

/* Grow *p (an array of elem bytes each, capacity *cap) so it holds at least
 * need elements.  Doubles; never shrinks. */
void cep_grow(void **p, size_t *cap, size_t need, size_t elem);
#define CEP_GROW(p, cap, need)                                                                 \
    do {                                                                                       \
        if ((size_t)(need) > (cap)) /* the call only when it grows (hot paths) */              \
            cep_grow((void **)&(p), &(cap), (need), sizeof(*(p)));                             \
    } while (0)

/* Logging.  Levels from most to least severe.  cep_log() checks the level
 * before evaluating anything else; debug adds file:line. */
enum cep_log_level {
    CEP_LOG_ERROR = 0,
    CEP_LOG_WARN,
    CEP_LOG_NOTICE,
    CEP_LOG_INFO,
    CEP_LOG_DEBUG,
    CEP_LOG_COUNT
};
extern int cep_log_threshold; /* set once at start-up; the only log global */
void cep_log_at(int level, const char *file, int line, const char *fmt, ...) CEP_PRINTF(4, 5);
#define cep_log(level, ...)                                                    \
    do {                                                                       \
        if ((level) <= cep_log_threshold)                                      \
            cep_log_at((level), __FILE__, __LINE__, __VA_ARGS__);              \
    } while (0)
int cep_log_level_parse(const char *name); /* -1 if unknown */

/* Assertions: CEP_ASSERT is always on; CEP_DASSERT only with --enable-debug.
 * ALWAYS/NEVER mark "impossible but handled" branches. */
CEP_NORETURN void cep_assert_fail(const char *expr, const char *file, int line);
#define CEP_ASSERT(x)                                                          \
    do {                                                                       \
        if (CEP_UNLIKELY(!(x)))                                                \
            cep_assert_fail(#x, __FILE__, __LINE__);                           \
    } while (0)
#ifdef CEP_DEBUG
#define CEP_DASSERT(x) CEP_ASSERT(x)
#define ALWAYS(x)      ((x) ? 1 : (cep_assert_fail(#x, __FILE__, __LINE__), 0))
#define NEVER(x)       ((x) ? (cep_assert_fail(#x, __FILE__, __LINE__), 1) : 0)
#else
#define CEP_DASSERT(x) ((void)0)
#define ALWAYS(x)      (x)
#define NEVER(x)       (x)
#endif

#endif
