/* SPDX-License-Identifier: Apache-2.0
 * Diagnostics: rule and config errors are data.  Every load, check and
 * compile call appends to a diag_list and keeps going, so all errors in all
 * files are reported; printing (FILE:LINE:COL: error: msg, then the source
 * line and a caret) is separate and happens in the CLI.
 * Tested by: tests/unit/check_core.c, tests/errors/ */
#ifndef CEPD_DIAG_H
#define CEPD_DIAG_H

#include "cepd/cep_common.h"
#include <stdio.h>

enum diag_sev {
    DIAG_ERROR = 0,
    DIAG_WARNING,
    DIAG_NOTE,
    DIAG_SEV_COUNT
};

struct diag {
    char *file; /* owned; may be NULL for errors without a file */
    uint32_t line; /* 1-based; 0 = no position */
    uint32_t col;  /* 1-based, counted in bytes; 0 = no column */
    enum diag_sev sev;
    char *msg; /* owned */
};

/* A file position, for callers that pass locations around. */
struct diag_loc {
    const char *file;
    uint32_t line;
    uint32_t col;
};

#define DIAG_MAX_DEFAULT 200 /* further diagnostics are counted, not stored */

struct diag_list {
    struct diag *items;
    size_t n;
    size_t cap;
    size_t n_errors;
    size_t n_warnings;
    size_t n_dropped; /* past max */
    size_t max;       /* 0 = DIAG_MAX_DEFAULT */
};

void diag_list_init(struct diag_list *dl);
void diag_list_free(struct diag_list *dl);
void diag_add(struct diag_list *dl, enum diag_sev sev, const struct diag_loc *loc,
              const char *fmt, ...) CEP_PRINTF(4, 5);
void diag_addv(struct diag_list *dl, enum diag_sev sev, const struct diag_loc *loc,
               const char *fmt, va_list ap) CEP_PRINTF(4, 0);
static inline bool diag_has_errors(const struct diag_list *dl)
{
    return dl->n_errors > 0;
}
/* Print each diagnostic: "FILE:LINE:COL: error: msg", then the source line
 * (read from FILE) and a caret under COL when a position is known. */
void diag_print(const struct diag_list *dl, FILE *out);

/* The closest of n candidate words to word by edit distance, or NULL when
 * none is close enough to suggest ("did you mean ...?"). */
const char *diag_suggest(const char *word, const char *const *candidates, size_t n);

#endif
