/* SPDX-License-Identifier: Apache-2.0
 * Diagnostics: collecting positioned errors and warnings, printing them
 * with the source line and a caret, and "did you mean" suggestions.
 * Collection never prints; printing is done by the CLI once loading ends.
 * Tested by: tests/unit/check_core.c, tests/errors/ */
#include "cepd/cep_common.h"
#include "cepd/diag.h"

#include <stdlib.h>
#include <string.h>

static const char *const diag_sev_names[DIAG_SEV_COUNT] = {
    [DIAG_ERROR] = "error",
    [DIAG_WARNING] = "warning",
    [DIAG_NOTE] = "note",
};

void diag_list_init(struct diag_list *dl)
{
    memset(dl, 0, sizeof(*dl));
}

void diag_list_free(struct diag_list *dl)
{
    for (size_t i = 0; i < dl->n; i++) {
        cep_free(dl->items[i].file);
        cep_free(dl->items[i].msg);
    }
    cep_free(dl->items);
    diag_list_init(dl);
}

void diag_addv(struct diag_list *dl, enum diag_sev sev, const struct diag_loc *loc,
               const char *fmt, va_list ap)
{
    if (sev == DIAG_ERROR)
        dl->n_errors++;
    else if (sev == DIAG_WARNING)
        dl->n_warnings++;
    size_t max = dl->max ? dl->max : DIAG_MAX_DEFAULT;
    if (dl->n >= max) {
        dl->n_dropped++;
        return;
    }
    CEP_GROW(dl->items, dl->cap, dl->n + 1);
    struct diag *d = &dl->items[dl->n++];
    d->file = loc && loc->file ? cep_strdup(loc->file) : NULL;
    d->line = loc ? loc->line : 0;
    d->col = loc ? loc->col : 0;
    d->sev = sev;
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    CEP_ASSERT(n >= 0);
    d->msg = cep_malloc((size_t)n + 1);
    vsnprintf(d->msg, (size_t)n + 1, fmt, ap);
}

void diag_add(struct diag_list *dl, enum diag_sev sev, const struct diag_loc *loc,
              const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_addv(dl, sev, loc, fmt, ap);
    va_end(ap);
}

/* Copy line number `line` (1-based) of file into buf (without newline).
 * Returns false when the file or line cannot be read. */
static bool diag_read_line(const char *file, uint32_t line, char *buf, size_t buf_len)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return false;
    uint32_t cur = 1;
    size_t n = 0;
    int c;
    bool found = false;
    while ((c = getc(f)) != EOF) {
        if (cur == line) {
            found = true;
            if (c == '\n')
                break;
            if (n + 1 < buf_len)
                buf[n++] = (char)c;
        } else if (c == '\n' && ++cur > line) {
            break;
        }
    }
    fclose(f);
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    return found || (cur == line && n > 0);
}

void diag_print(const struct diag_list *dl, FILE *out)
{
    char line[1024];
    for (size_t i = 0; i < dl->n; i++) {
        const struct diag *d = &dl->items[i];
        if (d->file && d->line && d->col)
            fprintf(out, "%s:%u:%u: ", d->file, d->line, d->col);
        else if (d->file && d->line)
            fprintf(out, "%s:%u: ", d->file, d->line);
        else if (d->file)
            fprintf(out, "%s: ", d->file);
        fprintf(out, "%s: %s\n", diag_sev_names[d->sev], d->msg);
        if (!d->file || !d->line || !diag_read_line(d->file, d->line, line, sizeof(line)))
            continue;
        fprintf(out, " %s\n", line);
        if (!d->col)
            continue;
        /* Keep tabs so the caret lines up under tab-indented source. */
        fputc(' ', out);
        size_t len = strlen(line);
        for (uint32_t c = 1; c < d->col; c++)
            fputc(c - 1 < len && line[c - 1] == '\t' ? '\t' : ' ', out);
        fputs("^\n", out);
    }
    if (dl->n_dropped)
        fprintf(out, "(%zu more diagnostics not shown)\n", dl->n_dropped);
}

/* Levenshtein distance, bounded by the sizes we compare (names < 64). */
static size_t diag_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return SIZE_MAX;
    size_t prev[64], cur[64];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof(size_t));
    }
    return prev[lb];
}

const char *diag_suggest(const char *word, const char *const *candidates, size_t n)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    size_t wl = strlen(word);
    for (size_t i = 0; i < n; i++) {
        size_t d = diag_edit_distance(word, candidates[i]);
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    /* Close enough: at most a third of the word, and at most 3 edits. */
    size_t limit = wl / 3 + 1;
    if (limit > 3)
        limit = 3;
    return best && best_d <= limit && best_d < wl ? best : NULL;
}
