/* SPDX-License-Identifier: Apache-2.0
 * Private interface of the lookup module: the table layout the probes read,
 * the positioned-error helper the table parsers share, and the per-type
 * parsers.  Nothing outside src/enrich/ includes this file except the
 * module's own tests.
 * Tested by: tests/unit/check_lookup.c */
#ifndef CEPD_LOOKUP_INT_H
#define CEPD_LOOKUP_INT_H

#include "cepd/cep_common.h"
#include "cepd/lookup.h"

#define LOOKUP_MAX_ERRORS 20 /* per table; then one "too many errors" note */

/* One key of a keyed (CSV or JSON) table. */
struct lookup_row {
    struct val key;   /* VAL_STR */
    struct val value; /* the value column, the row object (CSV), any JSON value */
    uint64_t hash;
};

struct lookup_v4 {
    uint32_t lo;
    uint32_t hi; /* inclusive */
};

struct lookup_u128 {
    uint64_t hi;
    uint64_t lo;
};

struct lookup_v6 {
    struct lookup_u128 lo;
    struct lookup_u128 hi; /* inclusive */
};

struct lookup_table {
    char *name;
    enum lookup_type type;
    /* Keyed tables: rows, an open-addressing index of row + 1 (0 = empty),
     * CSV cells (n_rows * n_columns, row-major) and column names.  Values
     * point into text (the file), scratch (unescaped JSON strings) or objs
     * (CSV rows as JSON objects). */
    struct lookup_row *rows;
    size_t n_rows;
    size_t rows_cap;
    uint32_t *index;
    size_t index_mask;
    struct val *cells;
    size_t cells_cap;
    char **columns;
    size_t n_columns;
    char *text;
    char *scratch;
    char *objs;
    /* CIDR sets: sorted, disjoint, non-adjacent ranges per family. */
    struct lookup_v4 *v4;
    size_t n_v4;
    struct lookup_v6 *v6;
    size_t n_v6;
    size_t n_entries; /* networks as listed, before merging */
};

/* A table's text and how to report a position in it: TABLE_FILE:LINE:COL
 * for a file, the YAML position for inline data. */
struct lookup_src {
    const struct lookup_spec *spec;
    const char *text;
    size_t len;
    struct diag_list *dl;
    int errors;
};

void lookup_src_error(struct lookup_src *s, size_t off, const char *fmt, ...) CEP_PRINTF(3, 4);
/* 1-based line of byte off of the source (for "first on line N"). */
uint32_t lookup_src_line(const struct lookup_src *s, size_t off);

/* Parsers: fill t from s->text (which t owns as t->text and which CSV
 * rewrites in place).  Return CEP_ERR after reporting errors. */
int lookup_csv_parse(struct lookup_table *t, struct lookup_src *s, struct diag_list *dl);
int lookup_json_parse(struct lookup_table *t, struct lookup_src *s);
int lookup_cidr_parse(struct lookup_table *t, struct lookup_src *s);
/* Whether the address text ip[0..len) is in the CIDR set t. */
bool lookup_cidr_contains(const struct lookup_table *t, const char *ip, size_t len);

#endif
