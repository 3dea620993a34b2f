/* SPDX-License-Identifier: Apache-2.0
 * A YAML document as a tree that keeps positions, shared by the rule loader
 * and the config loader: every node knows its file, line and column, and a
 * scalar knows, for each byte of its value, the byte of the file it came from
 * (through quoting, escapes, folding and block indentation), so expression
 * errors point at the exact column.  Plus a schema-table walker that reports
 * unknown keys (with "did you mean"), duplicate keys and wrong types.
 * Tested by: tests/unit/check_rule.c, tests/errors/ */
#ifndef CEPD_RULE_YAML_H
#define CEPD_RULE_YAML_H

#include "cepd/cep_common.h"
#include "cepd/diag.h"
#include "cepd/expr.h"

struct rule_time;

#define RULE_YAML_MAX_DEPTH     64                  /* nesting limit, reported as an error */
#define RULE_YAML_MAX_FILE_SIZE (64u * 1024 * 1024) /* larger files are refused */

enum rule_yaml_kind {
    RULE_YAML_SCALAR = 0,
    RULE_YAML_SEQ,
    RULE_YAML_MAP,
    RULE_YAML_KIND_COUNT
};

enum rule_yaml_style {
    RULE_YAML_PLAIN = 0,
    RULE_YAML_SINGLE,  /* 'single-quoted' */
    RULE_YAML_DOUBLE,  /* "double-quoted" */
    RULE_YAML_LITERAL, /* | block */
    RULE_YAML_FOLDED,  /* > block */
    RULE_YAML_STYLE_COUNT
};

struct rule_yaml_doc;

struct rule_yaml_node {
    enum rule_yaml_kind kind;
    enum rule_yaml_style style;     /* scalars only; containers are PLAIN */
    const struct rule_yaml_doc *doc; /* the document that owns the node */
    uint32_t line;                  /* 1-based position of the node's first byte */
    uint32_t col;                   /* 1-based, in bytes */
    uint32_t off;                   /* byte offset of the node in doc->text */
    /* Scalars: the value (NUL-terminated, len bytes) and, when the loader
     * could reproduce libyaml's value from the raw bytes, the file offset of
     * each value byte (vmap[len] is the end).  vmap NULL: offsets all map to
     * the start of the node's content. */
    char *str;
    size_t len;
    uint32_t *vmap;
    /* Sequences: items[0..n).  Mappings: keys[i] -> items[i]; keys are scalars. */
    struct rule_yaml_node **keys;
    struct rule_yaml_node **items;
    size_t n;
    size_t cap;
};

struct rule_yaml_doc {
    char *file;                  /* path as given, for diagnostics */
    char *text;                  /* the raw file bytes, NUL-terminated */
    size_t len;
    struct rule_yaml_node *root; /* NULL for an empty document */
    struct rule_yaml_node **all; /* every node, for freeing without recursion */
    size_t n_all;
    size_t cap_all;
    uint32_t *line_starts;       /* byte offset of each line */
    size_t n_lines;
};

/* Parse a file (or len bytes of text, with name used for diagnostics) into a
 * tree.  Syntax errors, aliases, a second document, non-scalar keys and
 * nesting beyond RULE_YAML_MAX_DEPTH are reported to dl with positions; the
 * result is then NULL.  An empty file gives a doc with root NULL.  The caller
 * owns the doc and frees it with rule_yaml_doc_free. */
struct rule_yaml_doc *rule_yaml_parse_file(const char *path, struct diag_list *dl);
struct rule_yaml_doc *rule_yaml_parse_mem(const char *name, const char *text, size_t len,
                                          struct diag_list *dl);
void rule_yaml_doc_free(struct rule_yaml_doc *d);

/* Positions. */
void rule_yaml_doc_loc(const struct rule_yaml_doc *d, size_t off, uint32_t *line, uint32_t *col);
void rule_yaml_node_loc(const struct rule_yaml_node *n, struct diag_loc *loc);
/* Position of byte off (0..len) of a scalar's value. */
void rule_yaml_scalar_loc(const struct rule_yaml_node *n, size_t off, struct diag_loc *loc);
/* An expression source for a scalar: positions map through its YAML style.
 * The src borrows n. */
void rule_yaml_expr_src(const struct rule_yaml_node *n, struct expr_src *src);
/* Report a diagnostic at a node. */
void rule_yaml_diag(struct diag_list *dl, enum diag_sev sev, const struct rule_yaml_node *n,
                    const char *fmt, ...) CEP_PRINTF(4, 5);
/* "a string", "a list" or "a mapping". */
const char *rule_yaml_kind_desc(enum rule_yaml_kind k);
/* The value of key in a mapping, or NULL. */
const struct rule_yaml_node *rule_yaml_map_get(const struct rule_yaml_node *map, const char *key);

/* Schema tables.  A walker matches each key of a mapping against a table and
 * checks the value's shape; callers then read out[i] for keys[i]. */
enum rule_yaml_want {
    RULE_YAML_WANT_ANY = 0,
    RULE_YAML_WANT_STR,      /* a scalar */
    RULE_YAML_WANT_SEQ,      /* a list */
    RULE_YAML_WANT_MAP,      /* a mapping */
    RULE_YAML_WANT_STR_SEQ,  /* a list of scalars */
    RULE_YAML_WANT_BOOL,     /* true | false */
    RULE_YAML_WANT_INT,      /* a non-negative integer */
    RULE_YAML_WANT_DURATION, /* 30s, 5m, 250ms ... */
    RULE_YAML_WANT_COUNT
};

struct rule_yaml_key {
    const char *name;
    enum rule_yaml_want want;
};

#define RULE_YAML_MAX_KEYS 64 /* largest key table a walker accepts */

/* Walk a mapping: out[i] receives the value of keys[i] (or NULL).  Reports,
 * each at its node: a map that is not a mapping ("expected a mapping for
 * WHAT"), unknown keys (naming WHAT and suggesting the closest key), keys
 * given twice, and values of the wrong shape ("expected a string for 'id'").
 * A value of the wrong shape is left NULL in out.  Returns the number of
 * errors reported. */
int rule_yaml_walk(const struct rule_yaml_node *map, const char *what,
                   const struct rule_yaml_key *keys, size_t n_keys,
                   const struct rule_yaml_node **out, struct diag_list *dl);

/* Scalar readers: each reports a positioned error and returns CEP_ERR when
 * the node is not of the expected form. */
int rule_yaml_get_bool(const struct rule_yaml_node *n, const char *name, bool *out,
                       struct diag_list *dl);
int rule_yaml_get_int(const struct rule_yaml_node *n, const char *name, int64_t *out,
                      struct diag_list *dl);
int rule_yaml_get_duration(const struct rule_yaml_node *n, const char *name, int64_t *out_us,
                           struct diag_list *dl);
/* The index of the scalar among names[0..n_names), or -1 after reporting
 * "unknown NAME 'x'" with a suggestion. */
int rule_yaml_get_enum(const struct rule_yaml_node *n, const char *name,
                       const char *const *names, size_t n_names, struct diag_list *dl);

/* A stream's settings (`{time: {field, unit, max_out_of_orderness,
 * allowed_lateness, idle_timeout, watermark}}`), shared by rule files and the
 * config.  Fills *t (slots left at -1) and *time_field (borrowed from the
 * tree, or NULL).  Returns the number of errors reported. */
int rule_yaml_stream_parse(const struct rule_yaml_node *n, struct rule_time *t,
                           const char **time_field, struct diag_list *dl);

#endif
