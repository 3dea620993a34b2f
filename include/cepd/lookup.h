/* SPDX-License-Identifier: Apache-2.0
 * Lookup tables for enrichment (design §2.5): named key→value tables read
 * from CSV or JSON files, and IP/CIDR sets, declared under `lookups:` in
 * cepd.yaml or in a rule test file.  A registry of loaded tables never
 * changes: expressions resolve a table by name when they are compiled
 * (lookup("t", k), `ip in t`) and probe it per event without allocating.
 * Reloading builds a new registry beside the old one from the same specs;
 * the caller compiles rules against the new one and frees the old one after
 * the last ruleset compiled against it, so a failed reload changes nothing.
 * Tested by: tests/unit/check_lookup.c, tests/fuzz/fuzz_lookup_csv.c */
#ifndef CEPD_LOOKUP_H
#define CEPD_LOOKUP_H

#include "cepd/cep_common.h"
#include "cepd/diag.h"
#include "cepd/val.h"

struct rule_yaml_node;

/* Limits on input-driven growth. */
#define LOOKUP_MAX_FILE_BYTES (256u * 1024 * 1024) /* larger table files are refused */
#define LOOKUP_MAX_COLUMNS    1024                 /* CSV fields per row */

enum lookup_type {
    LOOKUP_CSV = 0, /* a header row, then one row per key */
    LOOKUP_JSON,    /* one JSON object: key -> any JSON value */
    LOOKUP_CIDR,    /* one IPv4/IPv6 address or network per line, # comments */
    LOOKUP_TYPE_COUNT
};

/* Where a table comes from: one entry of `lookups:`.  Every string is
 * owned; free with lookup_specs_free. */
struct lookup_spec {
    char *name;
    enum lookup_type type;
    char *path;        /* the table file (resolved); NULL when data is inline */
    char *data;        /* inline table text (`data:`), NUL-terminated; NULL with path */
    size_t data_len;
    uint32_t *data_line; /* file position of the first byte of each line of data */
    uint32_t *data_col;
    size_t n_data_lines;
    char *key;         /* csv: the key column; NULL = the first column */
    char *value;       /* csv: the value column; NULL = the whole row as an object */
    char delimiter;    /* csv: the field separator (default ',') */
    char *decl_file;   /* where the spec is declared, for diagnostics */
    uint32_t decl_line;
    uint32_t decl_col;
};

const char *lookup_type_name(enum lookup_type t);

/* Read a `lookups:` mapping (name -> {type, path | data, key, value,
 * delimiter}) and append a spec per entry to *specs / *n_specs (a growable
 * array).  Relative paths resolve against dir.  Reports every error with
 * its position and returns the number reported; entries with errors are
 * not appended. */
int lookup_specs_parse(const struct rule_yaml_node *map, const char *dir,
                       struct lookup_spec **specs, size_t *n_specs, struct diag_list *dl);
/* Parse a command-line table, NAME=TYPE:PATH (a CSV keyed by its first
 * column, values whole rows).  Returns CEP_ERR with a message in err. */
int lookup_spec_parse_arg(const char *arg, struct lookup_spec *out, char *err, size_t err_len);
void lookup_spec_clear(struct lookup_spec *s);
void lookup_specs_free(struct lookup_spec *specs, size_t n);

/* ---- Registries ---- */
struct lookup_reg;
struct lookup_table;

/* Load every table of specs (copied).  Returns an owned registry, or NULL
 * after reporting every error to dl: config-side errors at the spec's
 * declaration, data errors as TABLE_FILE:LINE:COL.  Names must be unique.
 * Runs on the caller's thread; reads files. */
struct lookup_reg *lookup_reg_load(const struct lookup_spec *specs, size_t n,
                                   struct diag_list *dl);
/* Load old's specs again, from the files as they are now, beside old (which
 * is not touched).  NULL with the reasons in dl if any table fails. */
struct lookup_reg *lookup_reg_reload(const struct lookup_reg *old, struct diag_list *dl);
/* SIGHUP helper: reload *reg; on success store the new registry in *reg and
 * return the old one (the caller frees it once nothing compiled against it
 * runs); on failure log why through cep_log, keep *reg and return NULL. */
struct lookup_reg *lookup_reg_reload_swap(struct lookup_reg **reg);
void lookup_reg_free(struct lookup_reg *reg);
size_t lookup_reg_count(const struct lookup_reg *reg);
const struct lookup_table *lookup_reg_table(const struct lookup_reg *reg, size_t i);
/* The table named name[0..len), or NULL. */
const struct lookup_table *lookup_reg_find(const struct lookup_reg *reg, const char *name,
                                           size_t len);

/* ---- Tables ---- */
const char *lookup_table_name(const struct lookup_table *t);
enum lookup_type lookup_table_type(const struct lookup_table *t);
/* Keys of a CSV/JSON table; networks of a CIDR set (as listed). */
size_t lookup_table_size(const struct lookup_table *t);
/* CSV columns: the index of the column named name[0..len), or -1. */
int lookup_table_column(const struct lookup_table *t, const char *name, size_t len);
size_t lookup_table_n_columns(const struct lookup_table *t);
const char *lookup_table_column_name(const struct lookup_table *t, size_t i);

/* Probe results. */
enum lookup_res {
    LOOKUP_ABSENT = 0,
    LOOKUP_FOUND,
    LOOKUP_BAD_KEY, /* the key is not a string (or, keyed tables, an integer) */
    LOOKUP_RES_COUNT
};

#define LOOKUP_VALUE (-1) /* column argument: the table's value */

/* Look key up in a CSV or JSON table.  Keys are strings; an integer key is
 * looked up by its decimal text.  column is LOOKUP_VALUE or a CSV column.
 * On LOOKUP_FOUND, *out points into the table (valid while it lives); else
 * *out is null.  Never allocates; safe from any thread. */
enum lookup_res lookup_get(const struct lookup_table *t, const struct val *key, int column,
                           struct val *out);
/* Membership: a key of a CSV/JSON table, or an IP address (string) in a
 * CIDR set.  IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) count as IPv4. */
enum lookup_res lookup_has(const struct lookup_table *t, const struct val *key);

#endif
