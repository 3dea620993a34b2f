/* SPDX-License-Identifier: Apache-2.0
 * Reading reference-corpus cases (tests/ref/ref-corpus.txt, see
 * gen_corpus.py for the format) and printing patterns and matches, for the
 * reference matcher's tests.
 * Tested by: tests/ref/check_ref.c, tests/ref/check_diff.c */
#ifndef CEPD_TESTS_REF_IO_H
#define CEPD_TESTS_REF_IO_H

#include "ref_match.h"

#include <stdio.h>

struct ref_case {
    char id[128];
    struct ref_pattern p;
    size_t n;
    uint32_t sym[REF_MAX_EVENTS];
    int64_t ts[REF_MAX_EVENTS];
    struct ref_matches expected; /* owned: ref_matches_free */
};

/* Read the next case; false at end of file (or on a malformed file, after
 * a message on stderr). */
bool ref_case_read(FILE *f, struct ref_case *c);

/* "[e0 e1] [e0 e2]" (event indexes, with :step when with_steps), newline. */
void ref_matches_print(FILE *out, const struct ref_matches *m, bool with_steps);
/* One line per step, plus within and skip. */
void ref_pattern_print(FILE *out, const struct ref_pattern *p, const char *const *sym_names);

#endif
