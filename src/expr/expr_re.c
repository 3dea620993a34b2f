/* SPDX-License-Identifier: Apache-2.0
 * The PCRE2 wrapper behind =~ and !~: a pattern is compiled once at load
 * (UTF, invalid UTF tolerated at match time, JIT when available) with a
 * match context that caps backtracking.  Programs are shared between worker
 * threads, so the mutable match data lives in each thread's expr_rt, not
 * here; a compiled expr_re is read-only after expr_re_new.
 * Tested by: tests/unit/check_expr.c (regex) */
#include "cepd/cep_common.h"
#include "expr_int.h"

#include <string.h>

struct expr_re {
    pcre2_code *code;
    pcre2_match_context *mctx;
    char *pattern;
    size_t len;
};

static void *re_malloc(size_t n, void *ud)
{
    CEP_UNUSED(ud);
    return cep_malloc(n);
}

static void re_free(void *p, void *ud)
{
    CEP_UNUSED(ud);
    cep_free(p);
}

/* Compile pattern (len bytes, not NUL-terminated).  Returns an owned regex,
 * or NULL with *err_off set to the offset PCRE2 blames and err to its
 * message (truncated to err_len).  PCRE2 allocates through cep_malloc, so
 * running out of memory aborts like everywhere else. */
struct expr_re *expr_re_new(const char *pattern, size_t len, size_t *err_off, char *err,
                            size_t err_len)
{
    pcre2_general_context *gc = pcre2_general_context_create(re_malloc, re_free, NULL);
    CEP_ASSERT(gc);
    pcre2_compile_context *cc = pcre2_compile_context_create(gc);
    CEP_ASSERT(cc);
    int code_err;
    PCRE2_SIZE off;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pattern, len,
                                     PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code_err, &off, cc);
    pcre2_compile_context_free(cc);
    if (!code) {
        pcre2_general_context_free(gc);
        *err_off = off;
        if (pcre2_get_error_message(code_err, (PCRE2_UCHAR *)err, err_len) < 0 && err_len)
            err[0] = '\0';
        return NULL;
    }
    /* Without JIT (unsupported CPU, no executable memory) the interpreter
     * runs instead, under the same limits. */
    (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    struct expr_re *re = cep_calloc(1, sizeof(*re));
    re->code = code;
    re->mctx = pcre2_match_context_create(gc);
    CEP_ASSERT(re->mctx);
    pcre2_general_context_free(gc);
    pcre2_set_match_limit(re->mctx, EXPR_RE_MATCH_LIMIT);
    pcre2_set_depth_limit(re->mctx, EXPR_RE_MATCH_LIMIT);
    re->pattern = cep_strndup(pattern, len);
    re->len = len;
    return re;
}

void expr_re_free(struct expr_re *re)
{
    if (!re)
        return;
    pcre2_code_free(re->code);
    pcre2_match_context_free(re->mctx);
    cep_free(re->pattern);
    cep_free(re);
}

/* The pattern text as written (after string-literal unescaping). */
const char *expr_re_pattern(const struct expr_re *re, size_t *len)
{
    *len = re->len;
    return re->pattern;
}

/* Lower (or raise) the match limit; tests use it to hit the limit cheaply.
 * Not for use while another thread matches with re. */
void expr_re_set_limit(struct expr_re *re, uint32_t limit)
{
    pcre2_set_match_limit(re->mctx, limit);
}

/* Match s against re with ctx->rt's match data (no allocation once that has
 * grown).  Returns 1 on a match, 0 on none, -1 when a resource limit was
 * hit (counted in ctx->counters->regex_limit) or PCRE2 failed. */
int expr_re_match(const struct expr_re *re, const char *s, size_t len, struct expr_ctx *ctx)
{
    int rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, 0, 0, expr_rt_match_data(ctx->rt),
                         re->mctx);
    if (rc >= 0)
        return 1; /* 0: matched, ovector too small for the groups */
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    if (ctx->counters && (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
                          rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT))
        ctx->counters->regex_limit++;
    return -1;
}
