/* SPDX-License-Identifier: Apache-2.0
 * The aborting allocator: every allocation in cepd goes through here, so an
 * out-of-memory condition is one log line (through cep_log, so it reaches
 * the configured log even when daemonized; formatting it allocates nothing)
 * and an abort, never a NULL that a caller forgot to test.  Each thread counts its allocations (one
 * thread-local increment: no lock, no race between workers), so a test can
 * prove that a code path allocates nothing.
 * Tested by: tests/unit/check_core.c, tests/unit/check_alloc.c */
#include "cepd/cep_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static CEP_NORETURN void cep_oom(size_t n)
{
    cep_log(CEP_LOG_ERROR, "out of memory allocating %zu bytes", n);
    abort();
}

static _Thread_local uint64_t cep_n_allocs;

uint64_t cep_alloc_count(void)
{
    return cep_n_allocs;
}

void *cep_malloc(size_t n)
{
    cep_n_allocs++;
    void *p = malloc(n ? n : 1);
    if (!p)
        cep_oom(n);
    return p;
}

void *cep_calloc(size_t n, size_t size)
{
    cep_n_allocs++;
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        cep_oom(n * size);
    return p;
}

void *cep_realloc(void *p, size_t n)
{
    cep_n_allocs++;
    void *q = realloc(p, n ? n : 1);
    if (!q)
        cep_oom(n);
    return q;
}

char *cep_strdup(const char *s)
{
    return cep_strndup(s, strlen(s));
}

char *cep_strndup(const char *s, size_t n)
{
    char *p = cep_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void cep_free(void *p)
{
    free(p);
}

char *cep_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    CEP_ASSERT(n >= 0);
    char *p = cep_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void cep_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return;
    size_t n = *cap ? *cap : 8;
    while (n < need)
        n *= 2;
    *p = cep_realloc(*p, n * elem);
    *cap = n;
}
