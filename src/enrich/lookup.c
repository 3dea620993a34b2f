/* SPDX-License-Identifier: Apache-2.0
 * Lookup registries and keyed tables: reading a table's file (bounded by
 * LOOKUP_MAX_FILE_BYTES), the CSV (RFC 4180) and JSON parsers, the
 * open-addressing key index, and the probes expressions call per event.
 * A loaded table never changes, so probes need no locks and never allocate;
 * a reload is a new registry built beside the old one.
 * Tested by: tests/unit/check_lookup.c, tests/fuzz/fuzz_lookup_csv.c */
#include "cepd/cep_common.h"
#include "lookup_int.h"

#include "cepd/hash.h"
#include "cepd/json.h"
#include "cepd/sbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOOKUP_HASH_SEED UINT64_C(0x6c6f6f6b75702e31) /* "lookup.1" */

struct lookup_reg {
    struct lookup_table **tables;
    size_t n_tables;
    struct lookup_spec *specs; /* copies, for reload */
    size_t n_specs;
};

static const char *const lookup_type_names[LOOKUP_TYPE_COUNT] = {
    [LOOKUP_CSV] = "csv",
    [LOOKUP_JSON] = "json",
    [LOOKUP_CIDR] = "cidr",
};

const char *lookup_type_name(enum lookup_type t)
{
    return t < LOOKUP_TYPE_COUNT ? lookup_type_names[t] : "?";
}

/* ---- Positions ---- */

uint32_t lookup_src_line(const struct lookup_src *s, size_t off)
{
    uint32_t line = 1;
    for (size_t i = 0; i < off && i < s->len; i++)
        line += s->text[i] == '\n';
    return line;
}

/* Report an error at byte off of the table text.  For a file: the file's
 * line and column; for inline data: the YAML position of that byte. */
void lookup_src_error(struct lookup_src *s, size_t off, const char *fmt, ...)
{
    if (++s->errors > LOOKUP_MAX_ERRORS) {
        if (s->errors == LOOKUP_MAX_ERRORS + 1) {
            struct diag_loc loc = {s->spec->decl_file, s->spec->decl_line, s->spec->decl_col};
            diag_add(s->dl, DIAG_NOTE, &loc, "lookup '%s': too many errors, stopped reporting",
                     s->spec->name);
        }
        return;
    }
    if (off > s->len)
        off = s->len;
    size_t ls = off;
    while (ls > 0 && s->text[ls - 1] != '\n')
        ls--;
    uint32_t line = lookup_src_line(s, off);
    struct diag_loc loc = {s->spec->path, line, (uint32_t)(off - ls + 1)};
    if (!s->spec->path) {
        size_t i = line - 1 < s->spec->n_data_lines ? line - 1 : 0;
        loc.file = s->spec->decl_file;
        loc.line = s->spec->n_data_lines ? s->spec->data_line[i] : s->spec->decl_line;
        loc.col = s->spec->n_data_lines ? s->spec->data_col[i] + (uint32_t)(off - ls)
                                        : s->spec->decl_col;
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    diag_add(s->dl, DIAG_ERROR, &loc, "lookup '%s': %s", s->spec->name, msg);
}

static void lookup_decl_error(struct diag_list *dl, const struct lookup_spec *sp,
                              const char *fmt, ...) CEP_PRINTF(3, 4);
static void lookup_decl_error(struct diag_list *dl, const struct lookup_spec *sp,
                              const char *fmt, ...)
{
    struct diag_loc loc = {sp->decl_file, sp->decl_line, sp->decl_col};
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    diag_add(dl, DIAG_ERROR, &loc, "lookup '%s': %s", sp->name, buf);
}

/* ---- Reading a table file ---- */

/* Read path whole into an owned NUL-terminated buffer.  Refuses files over
 * LOOKUP_MAX_FILE_BYTES.  Reports failures at the spec's declaration. */
static char *lookup_read_file(const struct lookup_spec *sp, size_t *len, struct diag_list *dl)
{
    int fd = open(sp->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        lookup_decl_error(dl, sp, "cannot open %s: %s", sp->path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        lookup_decl_error(dl, sp, "%s is not a regular file", sp->path);
        close(fd);
        return NULL;
    }
    if ((uint64_t)st.st_size > LOOKUP_MAX_FILE_BYTES) {
        lookup_decl_error(dl, sp, "%s is larger than %u bytes", sp->path,
                          (unsigned)LOOKUP_MAX_FILE_BYTES);
        close(fd);
        return NULL;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = cep_malloc(cap);
    for (;;) {
        if (n + 1 == cap) {
            if (cap > LOOKUP_MAX_FILE_BYTES) {
                lookup_decl_error(dl, sp, "%s grew past %u bytes while read", sp->path,
                                  (unsigned)LOOKUP_MAX_FILE_BYTES);
                goto fail;
            }
            cap *= 2;
            buf = cep_realloc(buf, cap);
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            lookup_decl_error(dl, sp, "read %s: %s", sp->path, strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *len = n;
    return buf;
fail:
    close(fd);
    cep_free(buf);
    return NULL;
}

/* ---- The key index ---- */

static uint64_t lookup_hash(const char *s, size_t len)
{
    return cep_hash64(s, len, LOOKUP_HASH_SEED);
}

/* The offset of p in t's text, if p points into it (JSON keys with
 * escapes live in scratch instead). */
static bool lookup_text_off(const struct lookup_table *t, const struct lookup_src *s,
                            const char *p, size_t *off)
{
    uintptr_t a = (uintptr_t)t->text, x = (uintptr_t)p;
    if (x < a || x > a + s->len)
        return false;
    *off = (size_t)(x - a);
    return true;
}

static bool lookup_key_eq(const struct lookup_row *r, uint64_t h, const char *s, size_t len)
{
    return r->hash == h && r->key.len == len && memcmp(r->key.u.s, s, len) == 0;
}

/* Append a row; the key must be a VAL_STR. */
static struct lookup_row *lookup_row_add(struct lookup_table *t, struct val key)
{
    CEP_GROW(t->rows, t->rows_cap, t->n_rows + 1);
    struct lookup_row *r = &t->rows[t->n_rows++];
    r->key = key;
    r->value = val_null();
    r->hash = lookup_hash(key.u.s, key.len);
    return r;
}

/* Build the index over rows.  A key given twice is an error at the second
 * one, naming the line of the first. */
static int lookup_index_build(struct lookup_table *t, struct lookup_src *s)
{
    size_t cap = 8;
    while (cap < t->n_rows * 2)
        cap *= 2;
    t->index = cep_calloc(cap, sizeof(*t->index));
    t->index_mask = cap - 1;
    int rc = CEP_OK;
    for (size_t i = 0; i < t->n_rows; i++) {
        const struct lookup_row *r = &t->rows[i];
        size_t at = r->hash & t->index_mask;
        bool dup = false;
        while (t->index[at]) {
            const struct lookup_row *o = &t->rows[t->index[at] - 1];
            if (lookup_key_eq(o, r->hash, r->key.u.s, r->key.len)) {
                dup = true;
                break;
            }
            at = (at + 1) & t->index_mask;
        }
        if (dup) {
            const struct lookup_row *o = &t->rows[t->index[at] - 1];
            size_t off = 0, first = 0;
            bool in_text = lookup_text_off(t, s, r->key.u.s, &off);
            if (in_text && lookup_text_off(t, s, o->key.u.s, &first))
                lookup_src_error(s, off, "duplicate key '%.*s' (first on line %u)",
                                 (int)r->key.len, r->key.u.s, lookup_src_line(s, first));
            else
                lookup_src_error(s, off, "duplicate key '%.*s'", (int)r->key.len, r->key.u.s);
            rc = CEP_ERR;
            continue;
        }
        t->index[at] = (uint32_t)(i + 1);
    }
    return rc;
}

static const struct lookup_row *lookup_find(const struct lookup_table *t, const char *s,
                                            size_t len)
{
    uint64_t h = lookup_hash(s, len);
    size_t at = h & t->index_mask;
    uint32_t ix;
    while ((ix = t->index[at]) != 0) {
        const struct lookup_row *r = &t->rows[ix - 1];
        if (lookup_key_eq(r, h, s, len))
            return r;
        at = (at + 1) & t->index_mask;
    }
    return NULL;
}

/* ---- CSV ---- */

/* One field of the record being parsed: [start, start + len) of text. */
struct lookup_field {
    size_t start;
    size_t len;
};

/* Parse one CSV record at *pos.  Quoted fields are unescaped in place (a
 * doubled quote becomes one; unescaping only shrinks).  Returns the number
 * of fields (0 for a blank line), or -1 after reporting a syntax error (the
 * rest of the line is skipped).  *pos moves past the record's line end. */
static int lookup_csv_record(struct lookup_src *s, char *text, size_t *pos, char delim,
                             struct lookup_field *f, size_t max_fields)
{
    size_t p = *pos, len = s->len;
    size_t n = 0;
    bool blank = true;
    for (;;) {
        size_t start = p;
        if (n == max_fields) {
            lookup_src_error(s, p, "more than %zu fields", max_fields);
            goto skip;
        }
        if (p < len && text[p] == '"') {
            size_t q = p + 1, out = p + 1;
            blank = false;
            for (;;) {
                if (q >= len) {
                    lookup_src_error(s, start, "unterminated quoted field");
                    *pos = len;
                    return -1;
                }
                if (text[q] == '"') {
                    if (q + 1 < len && text[q + 1] == '"') {
                        text[out++] = '"';
                        q += 2;
                        continue;
                    }
                    q++;
                    break;
                }
                text[out++] = text[q++];
            }
            f[n].start = start + 1;
            f[n].len = out - (start + 1);
            n++;
            /* Blank the bytes the unescaping freed, so that counting line
             * breaks in the text still gives the file's line numbers. */
            memset(text + out, ' ', q - out);
            p = q;
            if (p < len && text[p] == '\r' && (p + 1 == len || text[p + 1] == '\n'))
                p++;
            if (p < len && text[p] != delim && text[p] != '\n') {
                lookup_src_error(s, p, "text after the closing quote of a field");
                goto skip;
            }
        } else {
            while (p < len && text[p] != delim && text[p] != '\n') {
                if (text[p] == '"') {
                    lookup_src_error(s, p, "a quote inside an unquoted field (quote the "
                                           "whole field and double the quote)");
                    goto skip;
                }
                p++;
            }
            size_t end = p;
            if (end > start && text[end - 1] == '\r' && (p == len || text[p] == '\n'))
                end--;
            if (end > start || (p < len && text[p] == delim))
                blank = false;
            f[n].start = start;
            f[n].len = end - start;
            n++;
        }
        if (p < len && text[p] == delim) {
            p++;
            continue;
        }
        break; /* '\n' or the end */
    }
    *pos = p < len ? p + 1 : len;
    return blank ? 0 : (int)n;
skip:
    while (p < len && text[p] != '\n')
        p++;
    *pos = p < len ? p + 1 : len;
    return -1;
}

/* A CSV table: a header row naming the columns (unique, non-empty), then
 * rows with exactly as many fields.  Cells are strings. */
int lookup_csv_parse(struct lookup_table *t, struct lookup_src *s, struct diag_list *dl)
{
    const struct lookup_spec *sp = s->spec;
    char *text = t->text;
    size_t pos = 0;
    struct lookup_field *f = cep_calloc(LOOKUP_MAX_COLUMNS, sizeof(*f));
    size_t *obj_off = NULL, obj_cap = 0;
    struct sbuf objs;
    sbuf_init(&objs);
    char delim = sp->delimiter ? sp->delimiter : ',';
    int rc = CEP_ERR;
    if (s->len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        pos = 3; /* a UTF-8 byte order mark, as spreadsheets write */
    int nf = 0;
    while (nf == 0 && pos < s->len)
        nf = lookup_csv_record(s, text, &pos, delim, f, LOOKUP_MAX_COLUMNS);
    if (nf == 0)
        lookup_src_error(s, pos, "no header row");
    if (nf <= 0)
        goto done;
    /* The header. */
    t->columns = cep_calloc((size_t)nf, sizeof(*t->columns));
    t->n_columns = (size_t)nf;
    for (size_t i = 0; i < t->n_columns; i++) {
        t->columns[i] = cep_strndup(text + f[i].start, f[i].len);
        if (f[i].len == 0)
            lookup_src_error(s, f[i].start, "column %zu has an empty name", i + 1);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(t->columns[i], t->columns[j]) == 0)
                lookup_src_error(s, f[i].start, "column '%s' is named twice", t->columns[i]);
        }
    }
    if (s->errors)
        goto done;
    int key_col = 0, val_col = LOOKUP_VALUE;
    if (sp->key && (key_col = lookup_table_column(t, sp->key, strlen(sp->key))) < 0) {
        const char *sug = diag_suggest(sp->key, (const char *const *)t->columns, t->n_columns);
        lookup_decl_error(dl, sp, "key column '%s' is not in the header%s%s%s", sp->key,
                          sug ? " (did you mean '" : "", sug ? sug : "", sug ? "'?)" : "");
        s->errors++;
    }
    if (sp->value && (val_col = lookup_table_column(t, sp->value, strlen(sp->value))) < 0) {
        const char *sug = diag_suggest(sp->value, (const char *const *)t->columns, t->n_columns);
        lookup_decl_error(dl, sp, "value column '%s' is not in the header%s%s%s", sp->value,
                          sug ? " (did you mean '" : "", sug ? sug : "", sug ? "'?)" : "");
        s->errors++;
    }
    if (s->errors)
        goto done;
    /* The rows. */
    while (pos < s->len) {
        size_t line_at = pos;
        nf = lookup_csv_record(s, text, &pos, delim, f, LOOKUP_MAX_COLUMNS);
        if (nf <= 0)
            continue;
        if ((size_t)nf != t->n_columns) {
            lookup_src_error(s, line_at, "row has %d field%s, the header has %zu", nf,
                             nf == 1 ? "" : "s", t->n_columns);
            continue;
        }
        bool bad = false;
        for (size_t i = 0; i < t->n_columns; i++) {
            if (!json_utf8_valid(text + f[i].start, f[i].len)) {
                lookup_src_error(s, f[i].start, "invalid UTF-8 in column '%s'", t->columns[i]);
                bad = true;
            }
        }
        if (f[key_col].len == 0) {
            lookup_src_error(s, f[key_col].start, "empty key");
            bad = true;
        }
        if (bad)
            continue;
        struct lookup_row *r = lookup_row_add(t, val_str(text + f[key_col].start, f[key_col].len));
        CEP_GROW(t->cells, t->cells_cap, t->n_rows * t->n_columns);
        struct val *cells = &t->cells[(t->n_rows - 1) * t->n_columns];
        for (size_t i = 0; i < t->n_columns; i++)
            cells[i] = val_str(text + f[i].start, f[i].len);
        if (val_col >= 0) {
            r->value = cells[val_col];
            continue;
        }
        /* The whole row as a JSON object; pointers are set once objs stops
         * growing. */
        CEP_GROW(obj_off, obj_cap, t->n_rows);
        obj_off[t->n_rows - 1] = objs.len;
        sbuf_putc(&objs, '{');
        for (size_t i = 0; i < t->n_columns; i++) {
            if (i)
                sbuf_putc(&objs, ',');
            sbuf_json_str(&objs, t->columns[i], strlen(t->columns[i]));
            sbuf_putc(&objs, ':');
            sbuf_json_str(&objs, cells[i].u.s, cells[i].len);
        }
        sbuf_putc(&objs, '}');
        r->value.type = VAL_OBJ;
        r->value.len = (uint32_t)(objs.len - obj_off[t->n_rows - 1]);
    }
    if (s->errors)
        goto done;
    if (val_col < 0) {
        t->objs = sbuf_steal(&objs);
        for (size_t i = 0; i < t->n_rows; i++)
            t->rows[i].value.u.s = t->objs + obj_off[i];
    }
    rc = lookup_index_build(t, s);
done:
    sbuf_free(&objs);
    cep_free(obj_off);
    cep_free(f);
    return s->errors ? CEP_ERR : rc;
}

/* ---- JSON ---- */

static size_t lookup_ws(const char *text, size_t p, size_t len)
{
    return (size_t)(json_ws_skip(text + p, text + len) - text);
}

/* A JSON table: one object whose members are the keys and whose values,
 * of any JSON type, are the values. */
int lookup_json_parse(struct lookup_table *t, struct lookup_src *s)
{
    const char *text = t->text;
    size_t len = s->len;
    struct json_err err = {0};
    struct json_scan sc = {.base = text, .end = text + len, .err = &err};
    t->scratch = cep_malloc(len + 1);
    char *scr = t->scratch;
    size_t p = 0;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        p = 3;
    p = lookup_ws(text, p, len);
    if (p >= len || text[p] != '{') {
        lookup_src_error(s, p, "a JSON lookup table must be one object (key: value, ...)");
        return CEP_ERR;
    }
    p = lookup_ws(text, p + 1, len);
    bool first = true;
    for (;;) {
        if (first && p < len && text[p] == '}')
            break;
        if (p >= len || text[p] != '"') {
            lookup_src_error(s, p, "expected a string key");
            return CEP_ERR;
        }
        bool esc;
        const char *q = json_str_scan(&sc, text + p, &esc);
        if (!q)
            goto bad;
        struct val key;
        if (esc) {
            size_t n = json_str_unescape(text + p + 1, (size_t)(q - text) - p - 2, scr);
            key = val_str(scr, n);
            scr += n;
        } else {
            key = val_str(text + p + 1, (size_t)(q - text) - p - 2);
        }
        size_t key_at = p;
        p = lookup_ws(text, (size_t)(q - text), len);
        if (p >= len || text[p] != ':') {
            lookup_src_error(s, p, "expected ':' after a key");
            return CEP_ERR;
        }
        p = lookup_ws(text, p + 1, len);
        struct val v;
        q = p < len ? json_value_take(&sc, text + p, 1, &v, &scr) : NULL;
        if (!q) {
            if (p >= len)
                err = (struct json_err){"unexpected end of input", len};
            goto bad;
        }
        if (key.len == 0) {
            lookup_src_error(s, key_at, "empty key");
            return CEP_ERR;
        }
        struct lookup_row *r = lookup_row_add(t, key);
        r->value = v;
        p = lookup_ws(text, (size_t)(q - text), len);
        first = false;
        if (p < len && text[p] == ',') {
            p = lookup_ws(text, p + 1, len);
            continue;
        }
        if (p < len && text[p] == '}')
            break;
        lookup_src_error(s, p, "expected ',' or '}'");
        return CEP_ERR;
    }
    p = lookup_ws(text, p + 1, len);
    if (p < len) {
        lookup_src_error(s, p, "text after the table's object");
        return CEP_ERR;
    }
    return lookup_index_build(t, s);
bad:
    lookup_src_error(s, err.offset, "invalid JSON: %s", err.reason ? err.reason : "?");
    return CEP_ERR;
}

/* ---- Tables and registries ---- */

static void lookup_table_free(struct lookup_table *t)
{
    if (!t)
        return;
    cep_free(t->name);
    cep_free(t->rows);
    cep_free(t->index);
    cep_free(t->cells);
    for (size_t i = 0; i < t->n_columns; i++)
        cep_free(t->columns[i]);
    cep_free(t->columns);
    cep_free(t->text);
    cep_free(t->scratch);
    cep_free(t->objs);
    cep_free(t->v4);
    cep_free(t->v6);
    cep_free(t);
}

/* Load one table from its file or inline data.  NULL after reporting. */
static struct lookup_table *lookup_table_load(const struct lookup_spec *sp, struct diag_list *dl)
{
    size_t len = 0;
    char *text;
    if (sp->path) {
        text = lookup_read_file(sp, &len, dl);
        if (!text)
            return NULL;
    } else {
        len = sp->data_len;
        text = cep_malloc(len + 1);
        memcpy(text, sp->data ? sp->data : "", len);
        text[len] = '\0';
    }
    struct lookup_table *t = cep_calloc(1, sizeof(*t));
    t->name = cep_strdup(sp->name);
    t->type = sp->type;
    t->text = text;
    struct lookup_src s = {.spec = sp, .text = text, .len = len, .dl = dl};
    int rc;
    switch (sp->type) {
        case LOOKUP_CSV:
            rc = lookup_csv_parse(t, &s, dl);
            break;
        case LOOKUP_JSON:
            rc = lookup_json_parse(t, &s);
            break;
        default:
            rc = lookup_cidr_parse(t, &s);
            break;
    }
    if (rc != CEP_OK || s.errors) {
        lookup_table_free(t);
        return NULL;
    }
    if (sp->type == LOOKUP_CIDR) {
        /* CIDR values never point into the text. */
        cep_free(t->text);
        t->text = NULL;
    }
    return t;
}

static void lookup_spec_copy(struct lookup_spec *dst, const struct lookup_spec *src)
{
    *dst = *src;
    dst->name = cep_strdup(src->name);
    dst->path = src->path ? cep_strdup(src->path) : NULL;
    dst->key = src->key ? cep_strdup(src->key) : NULL;
    dst->value = src->value ? cep_strdup(src->value) : NULL;
    dst->decl_file = src->decl_file ? cep_strdup(src->decl_file) : NULL;
    if (src->data) {
        dst->data = cep_malloc(src->data_len + 1);
        memcpy(dst->data, src->data, src->data_len);
        dst->data[src->data_len] = '\0';
    }
    if (src->n_data_lines) {
        size_t n = src->n_data_lines;
        dst->data_line = cep_malloc(n * sizeof(*dst->data_line));
        dst->data_col = cep_malloc(n * sizeof(*dst->data_col));
        memcpy(dst->data_line, src->data_line, n * sizeof(*dst->data_line));
        memcpy(dst->data_col, src->data_col, n * sizeof(*dst->data_col));
    }
}

struct lookup_reg *lookup_reg_load(const struct lookup_spec *specs, size_t n,
                                   struct diag_list *dl)
{
    struct lookup_reg *reg = cep_calloc(1, sizeof(*reg));
    reg->tables = cep_calloc(n ? n : 1, sizeof(*reg->tables));
    reg->specs = cep_calloc(n ? n : 1, sizeof(*reg->specs));
    bool failed = false;
    for (size_t i = 0; i < n; i++) {
        lookup_spec_copy(&reg->specs[reg->n_specs++], &specs[i]);
        bool dup = false;
        for (size_t j = 0; j < i; j++)
            dup = dup || strcmp(specs[i].name, specs[j].name) == 0;
        if (dup) {
            lookup_decl_error(dl, &specs[i], "a lookup table of this name is already defined");
            failed = true;
            continue;
        }
        struct lookup_table *t = lookup_table_load(&specs[i], dl);
        if (!t) {
            failed = true;
            continue;
        }
        reg->tables[reg->n_tables++] = t;
    }
    if (failed) {
        lookup_reg_free(reg);
        return NULL;
    }
    return reg;
}

struct lookup_reg *lookup_reg_reload(const struct lookup_reg *old, struct diag_list *dl)
{
    return lookup_reg_load(old->specs, old->n_specs, dl);
}

struct lookup_reg *lookup_reg_reload_swap(struct lookup_reg **reg)
{
    struct diag_list dl;
    diag_list_init(&dl);
    struct lookup_reg *fresh = lookup_reg_reload(*reg, &dl);
    if (!fresh) {
        for (size_t i = 0; i < dl.n; i++) {
            const struct diag *d = &dl.items[i];
            cep_log(CEP_LOG_ERROR, "lookups: reload failed, keeping the old tables: %s:%u: %s",
                    d->file ? d->file : "-", d->line, d->msg);
        }
        diag_list_free(&dl);
        return NULL;
    }
    diag_list_free(&dl);
    struct lookup_reg *old = *reg;
    *reg = fresh;
    cep_log(CEP_LOG_NOTICE, "lookups: reloaded %zu table%s", fresh->n_tables,
            fresh->n_tables == 1 ? "" : "s");
    return old;
}

void lookup_reg_free(struct lookup_reg *reg)
{
    if (!reg)
        return;
    for (size_t i = 0; i < reg->n_tables; i++)
        lookup_table_free(reg->tables[i]);
    cep_free(reg->tables);
    lookup_specs_free(reg->specs, reg->n_specs);
    cep_free(reg);
}

size_t lookup_reg_count(const struct lookup_reg *reg)
{
    return reg ? reg->n_tables : 0;
}

const struct lookup_table *lookup_reg_table(const struct lookup_reg *reg, size_t i)
{
    return i < reg->n_tables ? reg->tables[i] : NULL;
}

const struct lookup_table *lookup_reg_find(const struct lookup_reg *reg, const char *name,
                                           size_t len)
{
    for (size_t i = 0; reg && i < reg->n_tables; i++) {
        const struct lookup_table *t = reg->tables[i];
        if (strlen(t->name) == len && memcmp(t->name, name, len) == 0)
            return t;
    }
    return NULL;
}

const char *lookup_table_name(const struct lookup_table *t)
{
    return t->name;
}

enum lookup_type lookup_table_type(const struct lookup_table *t)
{
    return t->type;
}

size_t lookup_table_size(const struct lookup_table *t)
{
    return t->type == LOOKUP_CIDR ? t->n_entries : t->n_rows;
}

int lookup_table_column(const struct lookup_table *t, const char *name, size_t len)
{
    for (size_t i = 0; i < t->n_columns; i++) {
        if (strlen(t->columns[i]) == len && memcmp(t->columns[i], name, len) == 0)
            return (int)i;
    }
    return -1;
}

size_t lookup_table_n_columns(const struct lookup_table *t)
{
    return t->n_columns;
}

const char *lookup_table_column_name(const struct lookup_table *t, size_t i)
{
    return i < t->n_columns ? t->columns[i] : NULL;
}

/* ---- Probes (any thread, no allocation) ---- */

/* The text of a key: a string as is, an integer in decimal (into buf). */
static bool lookup_key_text(const struct val *key, char buf[24], const char **s, size_t *len)
{
    if (key->type == VAL_STR) {
        *s = key->u.s;
        *len = key->len;
        return true;
    }
    if (key->type == VAL_INT) {
        int n = snprintf(buf, 24, "%lld", (long long)key->u.i);
        *s = buf;
        *len = (size_t)n;
        return true;
    }
    return false;
}

enum lookup_res lookup_get(const struct lookup_table *t, const struct val *key, int column,
                           struct val *out)
{
    char buf[24];
    const char *s;
    size_t len;
    *out = val_null();
    if (t->type == LOOKUP_CIDR)
        return LOOKUP_BAD_KEY;
    if (!lookup_key_text(key, buf, &s, &len))
        return key->type == VAL_NULL ? LOOKUP_ABSENT : LOOKUP_BAD_KEY;
    const struct lookup_row *r = lookup_find(t, s, len);
    if (!r)
        return LOOKUP_ABSENT;
    if (column >= 0 && (size_t)column < t->n_columns)
        *out = t->cells[(size_t)(r - t->rows) * t->n_columns + (size_t)column];
    else
        *out = r->value;
    return LOOKUP_FOUND;
}

enum lookup_res lookup_has(const struct lookup_table *t, const struct val *key)
{
    if (t->type == LOOKUP_CIDR) {
        if (key->type != VAL_STR)
            return key->type == VAL_NULL ? LOOKUP_ABSENT : LOOKUP_BAD_KEY;
        return lookup_cidr_contains(t, key->u.s, key->len) ? LOOKUP_FOUND : LOOKUP_ABSENT;
    }
    char buf[24];
    const char *s;
    size_t len;
    if (!lookup_key_text(key, buf, &s, &len))
        return key->type == VAL_NULL ? LOOKUP_ABSENT : LOOKUP_BAD_KEY;
    return lookup_find(t, s, len) ? LOOKUP_FOUND : LOOKUP_ABSENT;
}
