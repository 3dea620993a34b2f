/* SPDX-License-Identifier: Apache-2.0
 * The expression lexer, the module's arena and its positioned diagnostics.
 * Tokens carry byte offsets into the expression source, and every
 * diagnostic maps its offset through src->locate (or base_line/base_col), so
 * errors point at the right column even inside quoted YAML scalars.
 * Tested by: tests/unit/check_expr.c (lexer, literals, durations) */
#include "cepd/cep_common.h"
#include "expr_int.h"

#include "cepd/json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Arena ---- */

struct expr_arena_blk {
    struct expr_arena_blk *next;
    size_t used;
    size_t cap;
    max_align_t data[];
};

/* Return n bytes of zeroed, max-aligned memory owned by the arena. */
void *expr_arena_alloc(struct expr_arena *a, size_t n)
{
    size_t al = sizeof(max_align_t);
    n = (n + al - 1) / al * al;
    struct expr_arena_blk *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 4096 ? n : 4096;
        b = cep_malloc(sizeof(*b) + cap);
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    char *p = (char *)b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

/* Copy n bytes of s into the arena, NUL-terminated. */
char *expr_arena_strndup(struct expr_arena *a, const char *s, size_t n)
{
    char *p = expr_arena_alloc(a, n + 1);
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* Free every block; the arena is empty and reusable afterwards. */
void expr_arena_free(struct expr_arena *a)
{
    struct expr_arena_blk *b = a->head;
    while (b) {
        struct expr_arena_blk *next = b->next;
        cep_free(b);
        b = next;
    }
    a->head = NULL;
}

/* ---- Diagnostics ---- */

/* Append an error at byte off of src: the file position comes from
 * src->locate when there is one, else from base_line/base_col + off. */
void expr_diagv(struct diag_list *dl, const struct expr_src *src, size_t off, const char *fmt,
                va_list ap)
{
    struct diag_loc loc = {.file = src->file, .line = src->base_line, .col = src->base_col};
    if (src->locate)
        src->locate(src->map, off, &loc.line, &loc.col);
    else
        loc.col = src->base_col + (uint32_t)off;
    diag_addv(dl, DIAG_ERROR, &loc, fmt, ap);
}

/* Append an error at byte off of src (see expr_diagv). */
void expr_diag(struct diag_list *dl, const struct expr_src *src, size_t off, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    expr_diagv(dl, src, off, fmt, ap);
    va_end(ap);
}

/* ---- Lexer ---- */

static const char *const tok_names[EXPR_TOK_COUNT] = {
    [EXPR_TOK_EOF] = "end of expression",
    [EXPR_TOK_ERROR] = "invalid token",
    [EXPR_TOK_INT] = "integer",
    [EXPR_TOK_FLOAT] = "number",
    [EXPR_TOK_DURATION] = "duration",
    [EXPR_TOK_STRING] = "string",
    [EXPR_TOK_IDENT] = "name",
    [EXPR_TOK_QIDENT] = "quoted name",
    [EXPR_TOK_TRUE] = "'true'",
    [EXPR_TOK_FALSE] = "'false'",
    [EXPR_TOK_NULL] = "'null'",
    [EXPR_TOK_AND] = "'and'",
    [EXPR_TOK_OR] = "'or'",
    [EXPR_TOK_NOT] = "'not'",
    [EXPR_TOK_IN] = "'in'",
    [EXPR_TOK_NOT_IN] = "'not in'",
    [EXPR_TOK_CONTAINS] = "'contains'",
    [EXPR_TOK_STARTSWITH] = "'startswith'",
    [EXPR_TOK_ENDSWITH] = "'endswith'",
    [EXPR_TOK_EQ] = "'=='",
    [EXPR_TOK_NE] = "'!='",
    [EXPR_TOK_LT] = "'<'",
    [EXPR_TOK_LE] = "'<='",
    [EXPR_TOK_GT] = "'>'",
    [EXPR_TOK_GE] = "'>='",
    [EXPR_TOK_MATCH] = "'=~'",
    [EXPR_TOK_NMATCH] = "'!~'",
    [EXPR_TOK_PLUS] = "'+'",
    [EXPR_TOK_MINUS] = "'-'",
    [EXPR_TOK_STAR] = "'*'",
    [EXPR_TOK_SLASH] = "'/'",
    [EXPR_TOK_PERCENT] = "'%'",
    [EXPR_TOK_LPAREN] = "'('",
    [EXPR_TOK_RPAREN] = "')'",
    [EXPR_TOK_LBRACK] = "'['",
    [EXPR_TOK_RBRACK] = "']'",
    [EXPR_TOK_RBRACE] = "'}'",
    [EXPR_TOK_COMMA] = "','",
    [EXPR_TOK_DOT] = "'.'",
};

/* The token kind as quoted in diagnostics ("'('", "end of expression"). */
const char *expr_tok_name(enum expr_tok_kind k)
{
    return k < EXPR_TOK_COUNT && tok_names[k] ? tok_names[k] : "token";
}

static const struct {
    const char *word;
    enum expr_tok_kind kind;
} keywords[] = {
    {"true", EXPR_TOK_TRUE},         {"false", EXPR_TOK_FALSE},
    {"null", EXPR_TOK_NULL},         {"and", EXPR_TOK_AND},
    {"or", EXPR_TOK_OR},             {"not", EXPR_TOK_NOT},
    {"in", EXPR_TOK_IN},             {"contains", EXPR_TOK_CONTAINS},
    {"startswith", EXPR_TOK_STARTSWITH}, {"endswith", EXPR_TOK_ENDSWITH},
};

void expr_lex_init(struct expr_lex *lx, const struct expr_src *src, size_t start, size_t end,
                   struct expr_arena *arena, struct diag_list *dl)
{
    lx->src = src;
    lx->pos = start;
    lx->end = end;
    lx->arena = arena;
    lx->dl = dl;
}

/* The first character of a bare name (lookup tables, results, lists, macros). */
static bool is_name_start(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident_start(int c)
{
    return is_name_start(c) || c == '$' || c == '@';
}

static bool is_ident_char(int c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

bool expr_name_valid(const char *s)
{
    if (!is_name_start(*s))
        return false;
    for (s++; *s; s++)
        if (!is_name_start(*s) && !(*s >= '0' && *s <= '9'))
            return false;
    return true;
}

/* One step of string-literal decoding at text[*pos] (inside the quotes):
 * writes the decoded bytes to out (up to 4) and returns their count, or -1
 * on a bad \u escape.  Unknown escapes such as \d are kept verbatim, so
 * regular expressions can be written without doubling backslashes. */
static int str_step(const char *text, size_t end, size_t *pos, char *out)
{
    size_t p = *pos;
    if (text[p] != '\\' || p + 1 >= end) {
        out[0] = text[p];
        *pos = p + 1;
        return 1;
    }
    char c = text[p + 1];
    switch (c) {
        case 'n':
            out[0] = '\n';
            break;
        case 't':
            out[0] = '\t';
            break;
        case 'r':
            out[0] = '\r';
            break;
        case '\\':
        case '"':
        case '\'':
            out[0] = c;
            break;
        case 'u': {
            if (end - p < 6)
                return -1;
            int32_t cp = json_hex4(text + p + 2);
            if (cp < 0)
                return -1;
            size_t used = 6;
            if (cp >= 0xd800 && cp <= 0xdbff && end - p >= 12 && text[p + 6] == '\\' &&
                text[p + 7] == 'u') {
                int32_t lo = json_hex4(text + p + 8);
                if (lo >= 0xdc00 && lo <= 0xdfff) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    used = 12;
                }
            }
            if (cp >= 0xd800 && cp <= 0xdfff)
                return -1;
            *pos = p + used;
            return (int)json_utf8_encode(out, (uint32_t)cp);
        }
        default:
            out[0] = '\\';
            out[1] = c;
            *pos = p + 2;
            return 2;
    }
    *pos = p + 2;
    return 1;
}

/* Source offset of decoded byte dec_off in the literal opening at quote_off. */
size_t expr_lex_str_src_off(const struct expr_src *src, size_t quote_off, size_t dec_off)
{
    const char *text = src->text;
    char q = text[quote_off];
    size_t p = quote_off + 1;
    size_t dec = 0;
    char buf[4];
    while (p < src->len && text[p] != q) {
        size_t before = p;
        int n = str_step(text, src->len, &p, buf);
        if (n < 0)
            return before;
        if (dec + (size_t)n > dec_off)
            return before;
        dec += (size_t)n;
    }
    return p;
}

static void lex_error(struct expr_lex *lx, struct expr_tok *t, size_t off, const char *fmt, ...)
        CEP_PRINTF(4, 5);

/* Report a lexical error at off and turn *t into an error token. */
static void lex_error(struct expr_lex *lx, struct expr_tok *t, size_t off, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    expr_diagv(lx->dl, lx->src, off, fmt, ap);
    va_end(ap);
    t->kind = EXPR_TOK_ERROR;
    t->off = (uint32_t)off;
    t->len = 1;
}

static void lex_string(struct expr_lex *lx, struct expr_tok *t)
{
    const char *text = lx->src->text;
    size_t start = lx->pos;
    char q = text[start];
    size_t p = start + 1;
    size_t close = p;
    while (close < lx->end && text[close] != q) {
        if (text[close] == '\\' && close + 1 < lx->end)
            close++;
        close++;
    }
    if (close >= lx->end) {
        lex_error(lx, t, start, "unterminated string");
        lx->pos = lx->end;
        return;
    }
    /* Decoding never grows: \uXXXX (6 bytes) yields at most 4. */
    char *out = expr_arena_alloc(lx->arena, close - p + 1);
    size_t n = 0;
    while (p < close) {
        size_t before = p;
        int k = str_step(text, close, &p, out + n);
        if (k < 0) {
            lex_error(lx, t, before, "invalid \\u escape");
            lx->pos = close + 1;
            return;
        }
        n += (size_t)k;
    }
    out[n] = '\0';
    t->kind = EXPR_TOK_STRING;
    t->v = val_str(out, n);
    lx->pos = close + 1;
}

static void lex_number(struct expr_lex *lx, struct expr_tok *t)
{
    const char *text = lx->src->text;
    size_t start = lx->pos, p = start;
    bool is_float = false;
    while (p < lx->end && text[p] >= '0' && text[p] <= '9')
        p++;
    if (p + 1 < lx->end && text[p] == '.' && text[p + 1] >= '0' && text[p + 1] <= '9') {
        is_float = true;
        p++;
        while (p < lx->end && text[p] >= '0' && text[p] <= '9')
            p++;
    }
    if (p < lx->end && (text[p] == 'e' || text[p] == 'E')) {
        size_t q = p + 1;
        if (q < lx->end && (text[q] == '+' || text[q] == '-'))
            q++;
        if (q < lx->end && text[q] >= '0' && text[q] <= '9') {
            is_float = true;
            p = q;
            while (p < lx->end && text[p] >= '0' && text[p] <= '9')
                p++;
        }
    }
    size_t num_end = p;
    size_t suf = p;
    while (p < lx->end && is_ident_char((unsigned char)text[p]))
        p++;
    char buf[64];
    if (num_end - start >= sizeof(buf)) {
        lex_error(lx, t, start, "number too long");
        lx->pos = p;
        return;
    }
    memcpy(buf, text + start, num_end - start);
    buf[num_end - start] = '\0';
    lx->pos = p;
    t->off = (uint32_t)start;
    t->len = (uint32_t)(p - start);
    if (p > suf) {
        int64_t unit = expr_duration_unit(text + suf, p - suf);
        if (!unit) {
            lex_error(lx, t, suf, "invalid suffix on number (durations use us ms s m h d)");
            return;
        }
        int64_t us;
        if (expr_parse_duration(text + start, p - start, &us) != CEP_OK) {
            lex_error(lx, t, start, "invalid duration");
            return;
        }
        t->kind = EXPR_TOK_DURATION;
        if (us % CEP_USEC_PER_SEC == 0)
            t->v = val_int(us / CEP_USEC_PER_SEC);
        else
            t->v = val_float((double)us / (double)CEP_USEC_PER_SEC);
        t->v.flags = VAL_F_DURATION;
        return;
    }
    if (is_float) {
        t->kind = EXPR_TOK_FLOAT;
        t->v = val_float(strtod(buf, NULL));
        return;
    }
    errno = 0;
    long long ll = strtoll(buf, NULL, 10);
    if (errno == ERANGE) {
        lex_error(lx, t, start, "integer out of range");
        return;
    }
    t->kind = EXPR_TOK_INT;
    t->v = val_int((int64_t)ll);
}

/* Scan the next token into *t.  A lexical error is reported to lx->dl and
 * yields EXPR_TOK_ERROR; at the end of the range EXPR_TOK_EOF repeats. */
void expr_lex_next(struct expr_lex *lx, struct expr_tok *t)
{
    const char *text = lx->src->text;
    memset(t, 0, sizeof(*t));
    while (lx->pos < lx->end &&
           (text[lx->pos] == ' ' || text[lx->pos] == '\t' || text[lx->pos] == '\n' ||
            text[lx->pos] == '\r'))
        lx->pos++;
    size_t p = lx->pos;
    t->off = (uint32_t)p;
    if (p >= lx->end) {
        t->kind = EXPR_TOK_EOF;
        return;
    }
    int c = (unsigned char)text[p];
    int c1 = p + 1 < lx->end ? (unsigned char)text[p + 1] : 0;
    t->len = 1;
    switch (c) {
        case '"':
        case '\'':
            lex_string(lx, t);
            t->len = (uint32_t)(lx->pos - p);
            return;
        case '`': {
            size_t q = p + 1;
            while (q < lx->end && text[q] != '`')
                q++;
            if (q >= lx->end) {
                lex_error(lx, t, p, "unterminated quoted name");
                lx->pos = lx->end;
                return;
            }
            if (q == p + 1) {
                lex_error(lx, t, p, "empty quoted name");
                lx->pos = q + 1;
                return;
            }
            t->kind = EXPR_TOK_QIDENT;
            t->v = val_str(text + p + 1, q - p - 1);
            t->len = (uint32_t)(q + 1 - p);
            lx->pos = q + 1;
            return;
        }
        case '(':
            t->kind = EXPR_TOK_LPAREN;
            break;
        case ')':
            t->kind = EXPR_TOK_RPAREN;
            break;
        case '[':
            t->kind = EXPR_TOK_LBRACK;
            break;
        case ']':
            t->kind = EXPR_TOK_RBRACK;
            break;
        case '}':
            t->kind = EXPR_TOK_RBRACE;
            break;
        case ',':
            t->kind = EXPR_TOK_COMMA;
            break;
        case '.':
            t->kind = EXPR_TOK_DOT;
            break;
        case '+':
            t->kind = EXPR_TOK_PLUS;
            break;
        case '-':
            t->kind = EXPR_TOK_MINUS;
            break;
        case '*':
            t->kind = EXPR_TOK_STAR;
            break;
        case '/':
            t->kind = EXPR_TOK_SLASH;
            break;
        case '%':
            t->kind = EXPR_TOK_PERCENT;
            break;
        case '=':
            if (c1 == '=')
                t->kind = EXPR_TOK_EQ;
            else if (c1 == '~')
                t->kind = EXPR_TOK_MATCH;
            else {
                lex_error(lx, t, p, "unexpected '=' (use '==' to compare)");
                lx->pos = p + 1;
                return;
            }
            t->len = 2;
            break;
        case '!':
            if (c1 == '=') {
                t->kind = EXPR_TOK_NE;
                t->len = 2;
            } else if (c1 == '~') {
                t->kind = EXPR_TOK_NMATCH;
                t->len = 2;
            } else {
                t->kind = EXPR_TOK_NOT;
            }
            break;
        case '<':
            t->kind = c1 == '=' ? EXPR_TOK_LE : EXPR_TOK_LT;
            t->len = c1 == '=' ? 2 : 1;
            break;
        case '>':
            t->kind = c1 == '=' ? EXPR_TOK_GE : EXPR_TOK_GT;
            t->len = c1 == '=' ? 2 : 1;
            break;
        case '&':
        case '|':
            if (c1 != c) {
                if (c == '&')
                    lex_error(lx, t, p, "unexpected '&' (use '&&' or 'and')");
                else
                    lex_error(lx, t, p, "unexpected '|' (use '||' or 'or')");
                lx->pos = p + 1;
                return;
            }
            t->kind = c == '&' ? EXPR_TOK_AND : EXPR_TOK_OR;
            t->len = 2;
            break;
        default:
            if (c >= '0' && c <= '9') {
                lex_number(lx, t);
                return;
            }
            if (is_ident_start(c)) {
                size_t q = p;
                while (q < lx->end && is_ident_char((unsigned char)text[q]))
                    q++;
                t->kind = EXPR_TOK_IDENT;
                t->len = (uint32_t)(q - p);
                t->v = val_str(text + p, q - p);
                for (size_t i = 0; i < CEP_ARRAY_LEN(keywords); i++) {
                    if (strlen(keywords[i].word) == q - p &&
                        memcmp(keywords[i].word, text + p, q - p) == 0) {
                        t->kind = keywords[i].kind;
                        break;
                    }
                }
                if (t->kind == EXPR_TOK_TRUE || t->kind == EXPR_TOK_FALSE)
                    t->v = val_bool(t->kind == EXPR_TOK_TRUE);
                else if (t->kind == EXPR_TOK_NULL)
                    t->v = val_null();
                lx->pos = q;
                return;
            }
            if (c >= 0x20 && c < 0x7f)
                lex_error(lx, t, p, "unexpected character '%c'", c);
            else
                lex_error(lx, t, p, "unexpected byte 0x%02x", c);
            lx->pos = p + 1;
            return;
    }
    lx->pos = p + t->len;
}
