/* SPDX-License-Identifier: Apache-2.0
 * libyaml events -> a tree of nodes that keeps positions.  libyaml marks count
 * characters, so they are converted to byte offsets; each scalar's value is
 * then rebuilt from the raw bytes between its marks by re-running YAML's
 * quoting, escaping, folding and indentation rules, recording the file offset
 * of every value byte.  The rebuilt value must equal libyaml's, otherwise the
 * map is dropped and positions fall back to the scalar's start (never wrong,
 * only coarse).  Building the tree uses an explicit stack, capped at 64 levels.
 * Tested by: tests/unit/check_rule.c (position tests per scalar style) */
#include "cepd/cep_common.h"
#include "cepd/rule_yaml.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "cepd/json.h"
#include "cepd/rule.h"
#include "cepd/sbuf.h"

/* ---- value rebuilding ------------------------------------------------- */

/* Output of a rebuild: value bytes plus the file offset of each byte. */
struct ry_out {
    struct sbuf sb;
    uint32_t *map;
    size_t cap;
};

static void ry_emit(struct ry_out *o, char c, size_t src)
{
    CEP_GROW(o->map, o->cap, o->sb.len + 2);
    o->map[o->sb.len] = (uint32_t)src;
    sbuf_putc(&o->sb, c);
}

static void ry_emit_utf8(struct ry_out *o, uint32_t cp, size_t src)
{
    char buf[4];
    size_t n = json_utf8_encode(buf, cp);
    for (size_t i = 0; i < n; i++)
        ry_emit(o, buf[i], src);
}

static bool ry_blank(const char *t, size_t p, size_t e)
{
    return p < e && (t[p] == ' ' || t[p] == '\t');
}

/* Length of the line break at p (CR LF, CR or LF), 0 if none. */
static size_t ry_brk(const char *t, size_t p, size_t e)
{
    if (p >= e)
        return 0;
    if (t[p] == '\r')
        return (p + 1 < e && t[p + 1] == '\n') ? 2 : 1;
    return t[p] == '\n' ? 1 : 0;
}

/* The folding state shared by plain and quoted scalars: blanks since the
 * last content, the first line break and the empty lines after it. */
struct ry_fold {
    size_t ws_start;
    size_t ws_len;
    bool leading_blanks;
    bool has_lb;
    size_t lb;
    size_t *trail;
    size_t n_trail;
    size_t cap_trail;
};

static void ry_fold_trail(struct ry_fold *f, size_t p)
{
    CEP_GROW(f->trail, f->cap_trail, f->n_trail + 1);
    f->trail[f->n_trail++] = p;
}

/* Emit what the blanks and breaks between two runs of content become. */
static void ry_fold_join(struct ry_fold *f, const char *t, struct ry_out *o)
{
    if (f->leading_blanks) {
        if (f->has_lb && f->n_trail == 0)
            ry_emit(o, ' ', f->lb);
        for (size_t i = 0; i < f->n_trail; i++)
            ry_emit(o, '\n', f->trail[i]);
    } else {
        for (size_t i = 0; i < f->ws_len; i++)
            ry_emit(o, t[f->ws_start + i], f->ws_start + i);
    }
    f->ws_len = 0;
    f->leading_blanks = false;
    f->has_lb = false;
    f->n_trail = 0;
}

/* Consume blanks and breaks at *p, recording them in f. */
static void ry_fold_blanks(struct ry_fold *f, const char *t, size_t *p, size_t e)
{
    for (;;) {
        size_t bl;
        if (ry_blank(t, *p, e)) {
            if (!f->leading_blanks) {
                if (f->ws_len == 0)
                    f->ws_start = *p;
                f->ws_len++;
            }
            (*p)++;
        } else if ((bl = ry_brk(t, *p, e)) > 0) {
            if (!f->leading_blanks) {
                f->ws_len = 0;
                f->leading_blanks = true;
                f->has_lb = true;
                f->lb = *p;
            } else {
                ry_fold_trail(f, *p);
            }
            *p += bl;
        } else {
            return;
        }
    }
}

static void ry_rebuild_plain(const char *t, size_t s, size_t e, struct ry_out *o)
{
    struct ry_fold f = {0};
    size_t p = s;
    while (p < e) {
        if (!ry_blank(t, p, e) && !ry_brk(t, p, e)) {
            ry_fold_join(&f, t, o);
            while (p < e && !ry_blank(t, p, e) && !ry_brk(t, p, e)) {
                ry_emit(o, t[p], p);
                p++;
            }
        }
        ry_fold_blanks(&f, t, &p, e);
    }
    cep_free(f.trail);
}

/* One escape sequence at t[p] == '\\'; returns the bytes consumed or 0. */
static size_t ry_escape(const char *t, size_t p, size_t e, struct ry_out *o)
{
    if (p + 1 >= e)
        return 0;
    char c = t[p + 1];
    static const char simple_in[] = "0abt\tnvfre \"/\\'";
    static const char simple_out[] = "\0\a\b\t\t\n\v\f\r\x1b \"/\\'";
    const char *hit = c ? strchr(simple_in, c) : NULL;
    if (hit) {
        ry_emit(o, simple_out[hit - simple_in], p);
        return 2;
    }
    uint32_t cp;
    size_t n = 0;
    switch (c) {
    case 'N':
        ry_emit_utf8(o, 0x85, p);
        return 2;
    case '_':
        ry_emit_utf8(o, 0xA0, p);
        return 2;
    case 'L':
        ry_emit_utf8(o, 0x2028, p);
        return 2;
    case 'P':
        ry_emit_utf8(o, 0x2029, p);
        return 2;
    case 'x':
        n = 2;
        break;
    case 'u':
        n = 4;
        break;
    case 'U':
        n = 8;
        break;
    default:
        return 0;
    }
    if (p + 2 + n > e)
        return 0;
    cp = 0;
    for (size_t i = 0; i < n; i++) {
        int h = json_hex_digit((unsigned char)t[p + 2 + i]);
        if (h < 0)
            return 0;
        cp = cp * 16 + (uint32_t)h;
    }
    ry_emit_utf8(o, cp, p);
    return 2 + n;
}

static bool ry_rebuild_quoted(const char *t, size_t s, size_t e, bool dbl, struct ry_out *o)
{
    struct ry_fold f = {0};
    bool ok = true;
    if (e < s + 2) {
        ok = false;
        goto out;
    }
    size_t p = s + 1, end = e - 1;
    for (;;) {
        while (p < end && !ry_blank(t, p, end) && !ry_brk(t, p, end)) {
            size_t bl;
            if (!dbl && t[p] == '\'' && p + 1 < end && t[p + 1] == '\'') {
                ry_emit(o, '\'', p);
                p += 2;
            } else if (dbl && t[p] == '\\' && (bl = ry_brk(t, p + 1, end)) > 0) {
                p += 1 + bl;
                f.leading_blanks = true;
                break;
            } else if (dbl && t[p] == '\\') {
                size_t used = ry_escape(t, p, end, o);
                if (used == 0) {
                    ok = false;
                    goto out;
                }
                p += used;
            } else {
                ry_emit(o, t[p], p);
                p++;
            }
        }
        if (p >= end)
            break;
        ry_fold_blanks(&f, t, &p, end);
        ry_fold_join(&f, t, o);
    }
out:
    cep_free(f.trail);
    return ok;
}

static size_t ry_col(const char *t, size_t line_start, size_t p)
{
    CEP_UNUSED(t);
    return p - line_start;
}

/* Rebuild a block scalar assuming content indentation indent (0 = detect). */
static bool ry_rebuild_block(const char *t, size_t s, size_t e, bool folded, size_t indent,
                             struct ry_out *o)
{
    size_t p = s + 1, ls;
    int chomp = 0; /* -1 strip, 0 clip, +1 keep */
    size_t *trail = NULL, n_trail = 0, cap_trail = 0;
    while (p < e && (t[p] == '+' || t[p] == '-' || (t[p] >= '1' && t[p] <= '9'))) {
        if (t[p] == '+')
            chomp = 1;
        else if (t[p] == '-')
            chomp = -1;
        p++;
    }
    while (ry_blank(t, p, e))
        p++;
    if (p < e && t[p] == '#') {
        while (p < e && !ry_brk(t, p, e))
            p++;
    }
    p += ry_brk(t, p, e);
    ls = p;
    /* Leading empty lines; detect the indentation. */
    size_t max_indent = 0;
    for (;;) {
        while (p < e && (!indent || ry_col(t, ls, p) < indent) && t[p] == ' ')
            p++;
        if (ry_col(t, ls, p) > max_indent)
            max_indent = ry_col(t, ls, p);
        size_t bl = ry_brk(t, p, e);
        if (!bl)
            break;
        CEP_GROW(trail, cap_trail, n_trail + 1);
        trail[n_trail++] = p;
        p += bl;
        ls = p;
    }
    if (!indent)
        indent = max_indent ? max_indent : 1;
    bool has_lb = false, leading_blank = false;
    size_t lb = 0;
    while (p < e && ry_col(t, ls, p) == indent) {
        bool trailing_blank = ry_blank(t, p, e);
        if (folded && has_lb && !leading_blank && !trailing_blank) {
            if (n_trail == 0)
                ry_emit(o, ' ', lb);
            has_lb = false;
        } else if (has_lb) {
            ry_emit(o, '\n', lb);
            has_lb = false;
        }
        for (size_t i = 0; i < n_trail; i++)
            ry_emit(o, '\n', trail[i]);
        n_trail = 0;
        leading_blank = ry_blank(t, p, e);
        while (p < e && !ry_brk(t, p, e)) {
            ry_emit(o, t[p], p);
            p++;
        }
        if (p >= e)
            break;
        has_lb = true;
        lb = p;
        p += ry_brk(t, p, e);
        ls = p;
        for (;;) {
            while (p < e && ry_col(t, ls, p) < indent && t[p] == ' ')
                p++;
            size_t bl = ry_brk(t, p, e);
            if (!bl)
                break;
            CEP_GROW(trail, cap_trail, n_trail + 1);
            trail[n_trail++] = p;
            p += bl;
            ls = p;
        }
    }
    if (chomp != -1 && has_lb)
        ry_emit(o, '\n', lb);
    if (chomp == 1) {
        for (size_t i = 0; i < n_trail; i++)
            ry_emit(o, '\n', trail[i]);
    }
    cep_free(trail);
    return true;
}

static bool ry_out_matches(const struct ry_out *o, const char *value, size_t len)
{
    return o->sb.len == len && (len == 0 || memcmp(o->sb.buf, value, len) == 0);
}

static void ry_out_reset(struct ry_out *o)
{
    sbuf_reset(&o->sb);
}

/* The byte map of a scalar whose raw text is t[s..e) and whose value (per
 * libyaml) is value[0..len), or NULL when it could not be reproduced. */
static uint32_t *ry_scalar_map(const char *t, size_t s, size_t e, enum rule_yaml_style style,
                               const char *value, size_t len)
{
    struct ry_out o = {0};
    bool ok = false;
    sbuf_init(&o.sb);
    switch (style) {
    case RULE_YAML_PLAIN:
        ry_rebuild_plain(t, s, e, &o);
        ok = ry_out_matches(&o, value, len);
        break;
    case RULE_YAML_SINGLE:
    case RULE_YAML_DOUBLE:
        ok = ry_rebuild_quoted(t, s, e, style == RULE_YAML_DOUBLE, &o) &&
             ry_out_matches(&o, value, len);
        break;
    case RULE_YAML_LITERAL:
    case RULE_YAML_FOLDED:
        /* Detected indentation first; an explicit indentation indicator is
         * relative to the parent's, which the tree does not know, so try. */
        for (size_t ind = 0; ind <= 80 && !ok; ind++) {
            ry_out_reset(&o);
            ry_rebuild_block(t, s, e, style == RULE_YAML_FOLDED, ind, &o);
            ok = ry_out_matches(&o, value, len);
        }
        break;
    default:
        break;
    }
    if (ok) {
        size_t end = e;
        if (style == RULE_YAML_SINGLE || style == RULE_YAML_DOUBLE)
            end = e - 1; /* the closing quote */
        else if (len > 0 && (style == RULE_YAML_LITERAL || style == RULE_YAML_FOLDED))
            end = o.map[len - 1] + 1;
        CEP_GROW(o.map, o.cap, len + 1);
        o.map[len] = (uint32_t)end;
    }
    sbuf_free(&o.sb);
    if (!ok) {
        cep_free(o.map);
        return NULL;
    }
    return o.map;
}

/* ---- documents --------------------------------------------------------- */

static void ry_doc_lines(struct rule_yaml_doc *d)
{
    size_t cap = 0;
    CEP_GROW(d->line_starts, cap, 1);
    d->line_starts[d->n_lines++] = 0;
    for (size_t i = 0; i < d->len; i++) {
        if (d->text[i] == '\n') {
            CEP_GROW(d->line_starts, cap, d->n_lines + 1);
            d->line_starts[d->n_lines++] = (uint32_t)(i + 1);
        }
    }
}

void rule_yaml_doc_loc(const struct rule_yaml_doc *d, size_t off, uint32_t *line, uint32_t *col)
{
    size_t lo = 0, hi = d->n_lines;
    if (off > d->len)
        off = d->len;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->line_starts[mid] <= off)
            lo = mid;
        else
            hi = mid;
    }
    *line = (uint32_t)(lo + 1);
    *col = (uint32_t)(off - d->line_starts[lo] + 1);
}

void rule_yaml_node_loc(const struct rule_yaml_node *n, struct diag_loc *loc)
{
    loc->file = n->doc->file;
    loc->line = n->line;
    loc->col = n->col;
}

/* The file offset of value byte off of scalar n. */
static size_t ry_scalar_off(const struct rule_yaml_node *n, size_t off)
{
    if (!n->vmap) {
        size_t o = n->off;
        if (n->style == RULE_YAML_SINGLE || n->style == RULE_YAML_DOUBLE)
            o++;
        return o;
    }
    return n->vmap[off > n->len ? n->len : off];
}

void rule_yaml_scalar_loc(const struct rule_yaml_node *n, size_t off, struct diag_loc *loc)
{
    loc->file = n->doc->file;
    rule_yaml_doc_loc(n->doc, ry_scalar_off(n, off), &loc->line, &loc->col);
}

static void ry_locate(const void *map, size_t off, uint32_t *line, uint32_t *col)
{
    const struct rule_yaml_node *n = map;
    rule_yaml_doc_loc(n->doc, ry_scalar_off(n, off), line, col);
}

void rule_yaml_expr_src(const struct rule_yaml_node *n, struct expr_src *src)
{
    memset(src, 0, sizeof(*src));
    src->text = n->str;
    src->len = n->len;
    src->file = n->doc->file;
    src->base_line = n->line;
    src->base_col = n->col;
    src->locate = ry_locate;
    src->map = n;
}

void rule_yaml_diag(struct diag_list *dl, enum diag_sev sev, const struct rule_yaml_node *n,
                    const char *fmt, ...)
{
    struct diag_loc loc;
    va_list ap;
    rule_yaml_node_loc(n, &loc);
    va_start(ap, fmt);
    diag_addv(dl, sev, &loc, fmt, ap);
    va_end(ap);
}

const char *rule_yaml_kind_desc(enum rule_yaml_kind k)
{
    switch (k) {
    case RULE_YAML_SCALAR:
        return "a string";
    case RULE_YAML_SEQ:
        return "a list";
    case RULE_YAML_MAP:
        return "a mapping";
    default:
        return "a node";
    }
}

const struct rule_yaml_node *rule_yaml_map_get(const struct rule_yaml_node *map, const char *key)
{
    if (!map || map->kind != RULE_YAML_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++) {
        if (strcmp(map->keys[i]->str, key) == 0)
            return map->items[i];
    }
    return NULL;
}

void rule_yaml_doc_free(struct rule_yaml_doc *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n_all; i++) {
        struct rule_yaml_node *n = d->all[i];
        cep_free(n->str);
        cep_free(n->vmap);
        cep_free(n->keys);
        cep_free(n->items);
        cep_free(n);
    }
    cep_free(d->all);
    cep_free(d->line_starts);
    cep_free(d->text);
    cep_free(d->file);
    cep_free(d);
}

/* Parser state: the doc, the char-index -> byte-offset table, the stack of
 * open containers and, per open mapping, its pending key. */
struct ry_parse {
    struct rule_yaml_doc *d;
    uint32_t *c2b; /* NULL when the text is ASCII: char index == byte offset */
    size_t n_chars;
    size_t bom;
    struct rule_yaml_node *stack[RULE_YAML_MAX_DEPTH];
    struct rule_yaml_node *pending[RULE_YAML_MAX_DEPTH];
    size_t depth;
    struct diag_list *dl;
};

static size_t ry_byte(const struct ry_parse *ps, size_t char_index)
{
    if (!ps->c2b)
        return ps->bom + (char_index > ps->d->len - ps->bom ? ps->d->len - ps->bom : char_index);
    return ps->c2b[char_index > ps->n_chars ? ps->n_chars : char_index];
}

static void ry_build_c2b(struct ry_parse *ps)
{
    const unsigned char *t = (const unsigned char *)ps->d->text;
    size_t len = ps->d->len;
    bool ascii = true;
    if (len >= 3 && t[0] == 0xEF && t[1] == 0xBB && t[2] == 0xBF)
        ps->bom = 3;
    for (size_t i = ps->bom; i < len; i++) {
        if (t[i] & 0x80) {
            ascii = false;
            break;
        }
    }
    if (ascii)
        return;
    ps->c2b = cep_malloc((len + 1) * sizeof(*ps->c2b));
    size_t n = 0;
    for (size_t i = ps->bom; i < len; i++) {
        if ((t[i] & 0xC0) != 0x80)
            ps->c2b[n++] = (uint32_t)i;
    }
    ps->c2b[n] = (uint32_t)len;
    ps->n_chars = n;
}

static struct rule_yaml_node *ry_node_new(struct ry_parse *ps, enum rule_yaml_kind kind,
                                          size_t off)
{
    struct rule_yaml_doc *d = ps->d;
    struct rule_yaml_node *n = cep_calloc(1, sizeof(*n));
    n->kind = kind;
    n->doc = d;
    n->off = (uint32_t)off;
    rule_yaml_doc_loc(d, off, &n->line, &n->col);
    CEP_GROW(d->all, d->cap_all, d->n_all + 1);
    d->all[d->n_all++] = n;
    return n;
}

static void ry_push_child(struct rule_yaml_node *parent, struct rule_yaml_node *key,
                          struct rule_yaml_node *item)
{
    size_t cap = parent->cap;
    CEP_GROW(parent->items, cap, parent->n + 1);
    if (parent->kind == RULE_YAML_MAP) {
        size_t kcap = parent->cap;
        CEP_GROW(parent->keys, kcap, parent->n + 1);
    }
    parent->cap = cap;
    if (parent->kind == RULE_YAML_MAP)
        parent->keys[parent->n] = key;
    parent->items[parent->n++] = item;
}

/* Attach a new node to the open container (or make it the root).  Returns
 * CEP_ERR after reporting a non-scalar mapping key. */
static int ry_attach(struct ry_parse *ps, struct rule_yaml_node *n)
{
    if (ps->depth == 0) {
        ps->d->root = n;
        return CEP_OK;
    }
    struct rule_yaml_node *top = ps->stack[ps->depth - 1];
    if (top->kind == RULE_YAML_SEQ) {
        ry_push_child(top, NULL, n);
        return CEP_OK;
    }
    if (!ps->pending[ps->depth - 1]) {
        if (n->kind != RULE_YAML_SCALAR) {
            rule_yaml_diag(ps->dl, DIAG_ERROR, n, "mapping keys must be strings, not %s",
                           rule_yaml_kind_desc(n->kind));
            return CEP_ERR;
        }
        ps->pending[ps->depth - 1] = n;
        return CEP_OK;
    }
    ry_push_child(top, ps->pending[ps->depth - 1], n);
    ps->pending[ps->depth - 1] = NULL;
    return CEP_OK;
}

static void ry_syntax_error(struct ry_parse *ps, const yaml_parser_t *p)
{
    struct diag_loc loc = {.file = ps->d->file};
    const char *problem = p->problem ? p->problem : "cannot parse the document";
    if (p->error == YAML_READER_ERROR) {
        rule_yaml_doc_loc(ps->d, p->problem_offset, &loc.line, &loc.col);
        diag_add(ps->dl, DIAG_ERROR, &loc, "invalid YAML: %s", problem);
        return;
    }
    rule_yaml_doc_loc(ps->d, ry_byte(ps, p->problem_mark.index), &loc.line, &loc.col);
    if (p->context) {
        uint32_t cl, cc;
        rule_yaml_doc_loc(ps->d, ry_byte(ps, p->context_mark.index), &cl, &cc);
        diag_add(ps->dl, DIAG_ERROR, &loc, "invalid YAML: %s (%s at %u:%u)", problem, p->context,
                 cl, cc);
    } else {
        diag_add(ps->dl, DIAG_ERROR, &loc, "invalid YAML: %s", problem);
    }
}

static enum rule_yaml_style ry_style(yaml_scalar_style_t s)
{
    switch (s) {
    case YAML_SINGLE_QUOTED_SCALAR_STYLE:
        return RULE_YAML_SINGLE;
    case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
        return RULE_YAML_DOUBLE;
    case YAML_LITERAL_SCALAR_STYLE:
        return RULE_YAML_LITERAL;
    case YAML_FOLDED_SCALAR_STYLE:
        return RULE_YAML_FOLDED;
    default:
        return RULE_YAML_PLAIN;
    }
}

/* Handle one event; returns CEP_ERR on an error (already reported), 1 at
 * the end of the stream, CEP_OK otherwise. */
static int ry_event(struct ry_parse *ps, const yaml_event_t *ev, int *n_docs)
{
    struct rule_yaml_node *n;
    size_t s = ry_byte(ps, ev->start_mark.index);
    switch (ev->type) {
    case YAML_STREAM_END_EVENT:
        return 1;
    case YAML_DOCUMENT_START_EVENT:
        if (++*n_docs > 1) {
            struct diag_loc loc = {.file = ps->d->file};
            rule_yaml_doc_loc(ps->d, s, &loc.line, &loc.col);
            diag_add(ps->dl, DIAG_ERROR, &loc, "only one YAML document per file is allowed");
            return CEP_ERR;
        }
        return CEP_OK;
    case YAML_ALIAS_EVENT: {
        struct diag_loc loc = {.file = ps->d->file};
        rule_yaml_doc_loc(ps->d, s, &loc.line, &loc.col);
        diag_add(ps->dl, DIAG_ERROR, &loc, "YAML aliases are not supported");
        return CEP_ERR;
    }
    case YAML_SCALAR_EVENT: {
        size_t e = ry_byte(ps, ev->end_mark.index);
        n = ry_node_new(ps, RULE_YAML_SCALAR, s);
        n->style = ry_style(ev->data.scalar.style);
        n->len = ev->data.scalar.length;
        n->str = cep_strndup((const char *)ev->data.scalar.value, n->len);
        n->vmap = ry_scalar_map(ps->d->text, s, e, n->style, n->str, n->len);
        return ry_attach(ps, n);
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        n = ry_node_new(ps, ev->type == YAML_SEQUENCE_START_EVENT ? RULE_YAML_SEQ : RULE_YAML_MAP,
                        s);
        if (ry_attach(ps, n) != CEP_OK)
            return CEP_ERR;
        if (ps->depth >= RULE_YAML_MAX_DEPTH) {
            rule_yaml_diag(ps->dl, DIAG_ERROR, n, "YAML nesting deeper than %d levels",
                           RULE_YAML_MAX_DEPTH);
            return CEP_ERR;
        }
        ps->pending[ps->depth] = NULL;
        ps->stack[ps->depth++] = n;
        return CEP_OK;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        if (ps->depth > 0)
            ps->depth--;
        return CEP_OK;
    default:
        return CEP_OK;
    }
}

struct rule_yaml_doc *rule_yaml_parse_mem(const char *name, const char *text, size_t len,
                                          struct diag_list *dl)
{
    struct ry_parse ps = {.dl = dl};
    struct rule_yaml_doc *d = cep_calloc(1, sizeof(*d));
    yaml_parser_t parser;
    int n_docs = 0, rc = CEP_OK;

    d->file = cep_strdup(name);
    d->text = cep_strndup(text, len);
    d->len = len;
    ps.d = d;
    ry_doc_lines(d);
    if (len > RULE_YAML_MAX_FILE_SIZE) {
        struct diag_loc loc = {.file = d->file};
        diag_add(dl, DIAG_ERROR, &loc, "file is larger than %u bytes", RULE_YAML_MAX_FILE_SIZE);
        rule_yaml_doc_free(d);
        return NULL;
    }
    if (memchr(text, '\0', len)) {
        struct diag_loc loc = {.file = d->file};
        rule_yaml_doc_loc(d, (size_t)((const char *)memchr(text, '\0', len) - text), &loc.line,
                          &loc.col);
        diag_add(dl, DIAG_ERROR, &loc, "invalid YAML: NUL byte in file");
        rule_yaml_doc_free(d);
        return NULL;
    }
    ry_build_c2b(&ps);
    yaml_parser_initialize(&parser);
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
    yaml_parser_set_input_string(&parser, (const unsigned char *)d->text, len);
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            ry_syntax_error(&ps, &parser);
            rc = CEP_ERR;
            break;
        }
        int r = ry_event(&ps, &ev, &n_docs);
        yaml_event_delete(&ev);
        if (r != CEP_OK) {
            if (r == CEP_ERR)
                rc = CEP_ERR;
            break;
        }
    }
    yaml_parser_delete(&parser);
    cep_free(ps.c2b);
    if (rc != CEP_OK) {
        rule_yaml_doc_free(d);
        return NULL;
    }
    return d;
}

struct rule_yaml_doc *rule_yaml_parse_file(const char *path, struct diag_list *dl)
{
    struct diag_loc loc = {.file = path};
    FILE *f = fopen(path, "rb");
    struct sbuf sb;
    char buf[65536];
    size_t got;
    struct stat st;

    if (!f) {
        diag_add(dl, DIAG_ERROR, &loc, "cannot open: %s", strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        diag_add(dl, DIAG_ERROR, &loc, "cannot read: %s", strerror(EISDIR));
        return NULL;
    }
    sbuf_init(&sb);
    while ((got = fread(buf, 1, sizeof(buf), f)) > 0) {
        sbuf_append(&sb, buf, got);
        if (sb.len > RULE_YAML_MAX_FILE_SIZE)
            break;
    }
    if (ferror(f)) {
        diag_add(dl, DIAG_ERROR, &loc, "cannot read: %s", strerror(errno));
        fclose(f);
        sbuf_free(&sb);
        return NULL;
    }
    fclose(f);
    struct rule_yaml_doc *d = rule_yaml_parse_mem(path, sb.buf ? sb.buf : "", sb.len, dl);
    sbuf_free(&sb);
    return d;
}

/* ---- schema walker and scalar readers ----------------------------------- */

static const char *ry_want_desc(enum rule_yaml_want w)
{
    switch (w) {
    case RULE_YAML_WANT_STR:
        return "a string";
    case RULE_YAML_WANT_SEQ:
        return "a list";
    case RULE_YAML_WANT_MAP:
        return "a mapping";
    case RULE_YAML_WANT_STR_SEQ:
        return "a list of strings";
    case RULE_YAML_WANT_BOOL:
        return "true or false";
    case RULE_YAML_WANT_INT:
        return "an integer";
    case RULE_YAML_WANT_DURATION:
        return "a duration";
    default:
        return "a value";
    }
}

static bool ry_shape_ok(const struct rule_yaml_node *v, enum rule_yaml_want w)
{
    switch (w) {
    case RULE_YAML_WANT_STR:
    case RULE_YAML_WANT_BOOL:
    case RULE_YAML_WANT_INT:
    case RULE_YAML_WANT_DURATION:
        return v->kind == RULE_YAML_SCALAR;
    case RULE_YAML_WANT_SEQ:
    case RULE_YAML_WANT_STR_SEQ:
        return v->kind == RULE_YAML_SEQ;
    case RULE_YAML_WANT_MAP:
        return v->kind == RULE_YAML_MAP;
    default:
        return true;
    }
}

int rule_yaml_walk(const struct rule_yaml_node *map, const char *what,
                   const struct rule_yaml_key *keys, size_t n_keys,
                   const struct rule_yaml_node **out, struct diag_list *dl)
{
    const char *names[RULE_YAML_MAX_KEYS];
    const struct rule_yaml_node *seen[RULE_YAML_MAX_KEYS];
    int errors = 0;

    CEP_ASSERT(n_keys <= RULE_YAML_MAX_KEYS);
    for (size_t i = 0; i < n_keys; i++) {
        names[i] = keys[i].name;
        seen[i] = NULL;
        out[i] = NULL;
    }
    if (map->kind != RULE_YAML_MAP) {
        rule_yaml_diag(dl, DIAG_ERROR, map, "expected a mapping for %s, not %s", what,
                       rule_yaml_kind_desc(map->kind));
        return 1;
    }
    for (size_t i = 0; i < map->n; i++) {
        const struct rule_yaml_node *k = map->keys[i], *v = map->items[i];
        size_t j;
        for (j = 0; j < n_keys; j++) {
            if (strcmp(k->str, keys[j].name) == 0)
                break;
        }
        if (j == n_keys) {
            const char *sug = diag_suggest(k->str, names, n_keys);
            if (sug)
                rule_yaml_diag(dl, DIAG_ERROR, k, "unknown key '%s' in %s (did you mean '%s'?)",
                               k->str, what, sug);
            else
                rule_yaml_diag(dl, DIAG_ERROR, k, "unknown key '%s' in %s", k->str, what);
            errors++;
            continue;
        }
        if (seen[j]) {
            rule_yaml_diag(dl, DIAG_ERROR, k, "key '%s' given twice in %s (first at %u:%u)",
                           k->str, what, seen[j]->line, seen[j]->col);
            errors++;
            continue;
        }
        seen[j] = k;
        if (!ry_shape_ok(v, keys[j].want)) {
            rule_yaml_diag(dl, DIAG_ERROR, v, "expected %s for '%s', not %s",
                           ry_want_desc(keys[j].want), keys[j].name, rule_yaml_kind_desc(v->kind));
            errors++;
            continue;
        }
        if (keys[j].want == RULE_YAML_WANT_STR_SEQ) {
            bool ok = true;
            for (size_t m = 0; m < v->n; m++) {
                if (v->items[m]->kind != RULE_YAML_SCALAR) {
                    rule_yaml_diag(dl, DIAG_ERROR, v->items[m],
                                   "expected a string in '%s', not %s", keys[j].name,
                                   rule_yaml_kind_desc(v->items[m]->kind));
                    errors++;
                    ok = false;
                }
            }
            if (!ok)
                continue;
        }
        out[j] = v;
    }
    return errors;
}

static bool ry_is_scalar(const struct rule_yaml_node *n, const char *name, const char *desc,
                         struct diag_list *dl)
{
    if (n->kind == RULE_YAML_SCALAR)
        return true;
    rule_yaml_diag(dl, DIAG_ERROR, n, "expected %s for '%s', not %s", desc, name,
                   rule_yaml_kind_desc(n->kind));
    return false;
}

int rule_yaml_get_bool(const struct rule_yaml_node *n, const char *name, bool *out,
                       struct diag_list *dl)
{
    if (!ry_is_scalar(n, name, "true or false", dl))
        return CEP_ERR;
    if (strcmp(n->str, "true") == 0) {
        *out = true;
        return CEP_OK;
    }
    if (strcmp(n->str, "false") == 0) {
        *out = false;
        return CEP_OK;
    }
    rule_yaml_diag(dl, DIAG_ERROR, n, "expected true or false for '%s', not '%s'", name, n->str);
    return CEP_ERR;
}

int rule_yaml_get_int(const struct rule_yaml_node *n, const char *name, int64_t *out,
                      struct diag_list *dl)
{
    if (!ry_is_scalar(n, name, "an integer", dl))
        return CEP_ERR;
    int64_t v = 0;
    bool ok = n->len > 0 && n->len <= 18;
    for (size_t i = 0; ok && i < n->len; i++) {
        if (n->str[i] < '0' || n->str[i] > '9')
            ok = false;
        else
            v = v * 10 + (n->str[i] - '0');
    }
    if (!ok) {
        rule_yaml_diag(dl, DIAG_ERROR, n, "expected a non-negative integer for '%s', not '%s'",
                       name, n->str);
        return CEP_ERR;
    }
    *out = v;
    return CEP_OK;
}

int rule_yaml_get_duration(const struct rule_yaml_node *n, const char *name, int64_t *out_us,
                           struct diag_list *dl)
{
    if (!ry_is_scalar(n, name, "a duration", dl))
        return CEP_ERR;
    if (n->len == 1 && n->str[0] == '0') {
        *out_us = 0;
        return CEP_OK;
    }
    if (expr_parse_duration(n->str, n->len, out_us) != CEP_OK || *out_us < 0) {
        rule_yaml_diag(dl, DIAG_ERROR, n,
                       "expected a duration for '%s' (like 30s, 5m, 250ms), not '%s'", name,
                       n->str);
        return CEP_ERR;
    }
    return CEP_OK;
}

int rule_yaml_get_enum(const struct rule_yaml_node *n, const char *name,
                       const char *const *names, size_t n_names, struct diag_list *dl)
{
    if (!ry_is_scalar(n, name, "a string", dl))
        return -1;
    for (size_t i = 0; i < n_names; i++) {
        if (strcmp(n->str, names[i]) == 0)
            return (int)i;
    }
    const char *sug = diag_suggest(n->str, names, n_names);
    if (sug)
        rule_yaml_diag(dl, DIAG_ERROR, n, "unknown %s '%s' (did you mean '%s'?)", name, n->str,
                       sug);
    else
        rule_yaml_diag(dl, DIAG_ERROR, n, "unknown %s '%s'", name, n->str);
    return -1;
}

/* ---- stream settings ---------------------------------------------------- */

static const struct rule_yaml_key ry_stream_keys[] = {
    {"time", RULE_YAML_WANT_MAP},
};

enum {
    RY_T_FIELD = 0,
    RY_T_UNIT,
    RY_T_OOO,
    RY_T_LATE,
    RY_T_IDLE,
    RY_T_WM,
    RY_T_COUNT
};

static const struct rule_yaml_key ry_time_keys[RY_T_COUNT] = {
    [RY_T_FIELD] = {"field", RULE_YAML_WANT_STR},
    [RY_T_UNIT] = {"unit", RULE_YAML_WANT_STR},
    [RY_T_OOO] = {"max_out_of_orderness", RULE_YAML_WANT_DURATION},
    [RY_T_LATE] = {"allowed_lateness", RULE_YAML_WANT_DURATION},
    [RY_T_IDLE] = {"idle_timeout", RULE_YAML_WANT_DURATION},
    [RY_T_WM] = {"watermark", RULE_YAML_WANT_STR},
};

int rule_yaml_stream_parse(const struct rule_yaml_node *n, struct rule_time *t,
                           const char **time_field, struct diag_list *dl)
{
    static const char *const units[] = {"s", "ms", "us"};
    static const char *const wms[] = {"bounded", "punctuated"};
    const struct rule_yaml_node *top[1], *v[RY_T_COUNT];
    int errors;

    memset(t, 0, sizeof(*t));
    t->time_slot = -1;
    t->watermark_slot = -1;
    *time_field = NULL;
    errors = rule_yaml_walk(n, "a stream", ry_stream_keys, CEP_ARRAY_LEN(ry_stream_keys), top, dl);
    if (!top[0])
        return errors;
    errors += rule_yaml_walk(top[0], "a stream's time", ry_time_keys, RY_T_COUNT, v, dl);
    t->has_time = true;
    if (v[RY_T_FIELD]) {
        if (v[RY_T_FIELD]->len == 0) {
            rule_yaml_diag(dl, DIAG_ERROR, v[RY_T_FIELD], "the time field name is empty");
            errors++;
        } else {
            *time_field = v[RY_T_FIELD]->str;
        }
    }
    if (v[RY_T_UNIT]) {
        int u = rule_yaml_get_enum(v[RY_T_UNIT], "time unit", units, CEP_ARRAY_LEN(units), dl);
        if (u < 0)
            errors++;
        else
            t->unit = (enum rule_time_unit)u;
    }
    if (v[RY_T_WM]) {
        int w = rule_yaml_get_enum(v[RY_T_WM], "watermark kind", wms, CEP_ARRAY_LEN(wms), dl);
        if (w < 0)
            errors++;
        else
            t->watermark = (enum rule_wm_kind)w;
    }
    if (v[RY_T_OOO] && rule_yaml_get_duration(v[RY_T_OOO], "max_out_of_orderness",
                                              &t->max_out_of_orderness, dl) != CEP_OK)
        errors++;
    if (v[RY_T_LATE] && rule_yaml_get_duration(v[RY_T_LATE], "allowed_lateness",
                                               &t->allowed_lateness, dl) != CEP_OK)
        errors++;
    if (v[RY_T_IDLE] &&
        rule_yaml_get_duration(v[RY_T_IDLE], "idle_timeout", &t->idle_timeout, dl) != CEP_OK)
        errors++;
    if (!*time_field && errors == 0) {
        rule_yaml_diag(dl, DIAG_ERROR, top[0], "a stream's time needs a 'field'");
        errors++;
    }
    return errors;
}
