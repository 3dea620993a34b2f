/* SPDX-License-Identifier: Apache-2.0
 * Line formats (design §4): a source's received line becomes one JSON
 * object for the engine.  json passes the line through untouched; regex
 * turns the named groups of a PCRE2 pattern into string fields; syslog
 * parses RFC 3164 (with or without <PRI>, as in /var/log/auth.log, also
 * with an RFC 3339 timestamp) and RFC 5424 headers and structured data,
 * and may run a pattern over the message for more fields.
 * io_format_decode lists the fields (where each value lies in the line, or
 * in values it made after the line: an RFC 3164 timestamp as RFC 3339, the
 * structured data as JSON, a string with invalid UTF-8 as its JSON text
 * gives it back) and the event time of an RFC 3164 timestamp, so that the
 * engine fills the event's slots without parsing text
 * (eng_push_decoded).  The JSON text is written from that list only when
 * something reads it (fmt_text_ops: an alert; an event kept past its line
 * keeps a recipe); strings are always valid JSON there: a byte that is not
 * part of well-formed UTF-8 becomes U+FFFD.  Buffers are reused line after
 * line, so the steady state allocates nothing.
 * Tested by: tests/unit/check_format.c, tests/fuzz/fuzz_syslog.c,
 * tests/fuzz/fuzz_format_regex.c, bench/bench_syslog.c */
#include "cepd/cep_common.h"
#include "cepd/io.h"
#include "io_format_int.h"

#include <pcre2.h>
#include <string.h>
#include <time.h>

#include "cepd/hash.h"
#include "cepd/json.h"
#include "cepd/sbuf.h"

/* One named group of the pattern.  PCRE2 lists names sorted, so groups
 * sharing a name ((?J) or (?|...)) are adjacent: the first that matched
 * gives the field. */
struct fmt_group {
    char *name;
    uint32_t num;
    uint32_t field; /* its index in the field-name table */
    bool same_as_prev;
};

/* The fields a format can produce: the syslog ones, then one per distinct
 * group name.  Their order is the field-name table's. */
enum fmt_field {
    FMT_F_FACILITY = 0,
    FMT_F_SEVERITY,
    FMT_F_TIMESTAMP,
    FMT_F_HOST,
    FMT_F_APP,
    FMT_F_PID,
    FMT_F_MSGID,
    FMT_F_SD,
    FMT_F_MSG,
    FMT_F_COUNT
};

static const char *const fmt_syslog_names[FMT_F_COUNT] = {
        "facility", "severity", "timestamp", "host", "app", "pid", "msgid", "sd", "msg"};

/* The most bytes a decoded line may make (its JSON text, up to six times
 * that with \u escapes, must stay below EVT_RAW_MAX): about 128 MiB. */
#define FMT_RAW_MAX (EVT_RAW_MAX / 8)
/* Length of an RFC 3164 time written as RFC 3339: YYYY-MM-DDTHH:MM:SS+HH:MM. */
#define FMT_TS_LEN 25
#define FMT_TS_SEC 17 /* where the seconds are in it */

struct io_format {
    enum cfg_format kind;
    pcre2_code *re; /* regex: the line; syslog: msg (optional) */
    bool jit;       /* re is JIT-compiled */
    pcre2_match_context *mctx;
    pcre2_match_data *md;
    struct fmt_group *groups;
    size_t n_groups;
    struct sbuf raw;  /* the last line, then the values made for it */
    const char *line; /* the last line, the caller's (during decoding) */
    size_t line_len;
    bool line_high;   /* it has a byte >= 0x80 (UTF-8 to check) */
    struct sbuf out;  /* JSON text (io_format_text; escaping in fmt_clean) */
    /* The field-name table (names point into fmt_syslog_names and groups),
     * and the values of the last line (at most one per member). */
    const char **names;
    size_t *name_lens;
    struct sbuf keys; /* per field, its member start as JSON text ("name":),
                       * as fmt_keys_load lays them out */
    struct eng_fnames fnames;
    struct eng_fval *fv;
    size_t n_fv;
    int32_t time_fv; /* the fv holding an RFC 3164 time, time_us; -1: none */
    int64_t time_us;
    /* Prefilter of an anchored pattern (fmt_prefilter_load): the bytes a
     * match can start with, and the shortest subject it can match. */
    bool pre;
    uint8_t pre_first[32];
    uint32_t pre_min_len;
    /* RFC 3164 timestamps: the local date now (refreshed when the second
     * changes) and the UTC offset of the last local hour seen. */
    int64_t fixed_now; /* seconds; 0 = wall clock */
    int64_t clock_s;
    int cur_year, cur_mon, cur_mday;
    struct {
        int year, mon, mday, hour;
        long gmtoff;
    } tz;
    /* The timestamp text of the last minute seen (seconds 00) and that
     * minute's event time (unless the engine rejects the text). */
    struct {
        int64_t key; /* year, month, day, hour, minute; 0: none */
        char text[FMT_TS_LEN];
        bool time_ok;
        int64_t minute_us;
    } ts;
};

static void *fmt_pcre_malloc(size_t n, void *ud)
{
    CEP_UNUSED(ud);
    return cep_malloc(n);
}

static void fmt_pcre_free(void *p, void *ud)
{
    CEP_UNUSED(ud);
    cep_free(p);
}

/* Compile pattern.  Patterns match bytes, not characters (no UTF mode, and
 * (*UTF) is refused): a line holding invalid UTF-8 must still match, or an
 * attacker could hide a line from the rules with one stray byte.  Non-ASCII
 * text in a pattern matches as its byte sequence.  Returns the code
 * (allocated through gc) or NULL with *err_off and err (errlen bytes) set;
 * a pattern without a named group is refused, since it could give no field. */
static pcre2_code *fmt_compile(pcre2_general_context *gc, const char *pattern, size_t *err_off,
                               char *err, size_t errlen)
{
    pcre2_compile_context *cc = pcre2_compile_context_create(gc);
    CEP_ASSERT(cc);
    int code_err;
    PCRE2_SIZE off;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                     PCRE2_NEVER_UTF, &code_err, &off, cc);
    pcre2_compile_context_free(cc);
    if (!code) {
        *err_off = off;
        if (pcre2_get_error_message(code_err, (PCRE2_UCHAR *)err, errlen) < 0 && errlen)
            err[0] = '\0';
        return NULL;
    }
    uint32_t n_names = 0;
    pcre2_pattern_info(code, PCRE2_INFO_NAMECOUNT, &n_names);
    if (n_names == 0) {
        pcre2_code_free(code);
        *err_off = 0;
        snprintf(err, errlen, "the pattern has no named group; write (?<field>...)");
        return NULL;
    }
    return code;
}

int io_format_pattern_check(const char *pattern, size_t *err_off, char *err, size_t errlen)
{
    pcre2_general_context *gc =
            pcre2_general_context_create(fmt_pcre_malloc, fmt_pcre_free, NULL);
    CEP_ASSERT(gc);
    pcre2_code *code = fmt_compile(gc, pattern, err_off, err, errlen);
    pcre2_general_context_free(gc);
    pcre2_code_free(code);
    return code ? CEP_OK : CEP_ERR;
}

/* An anchored pattern (`^...`) can only match a subject whose first byte
 * PCRE2 lists as a possible start (a first code unit, or a bitmap of
 * them) and that is at least its minimum length long: most lines of a log
 * fail there, without the cost of a call into PCRE2 (JIT or not).  The
 * first code unit is reported without its caseless flag, so a letter
 * admits both cases (patterns match bytes, and only ASCII letters have
 * another case without UTF).  f->pre stays false when PCRE2 knows no
 * start set (the pattern can match an empty string, or starts with a
 * class it did not reduce). */
static void fmt_prefilter_load(struct io_format *f)
{
    uint32_t opts = 0, type = 0, min_len = 0;
    const uint8_t *bitmap = NULL;
    pcre2_pattern_info(f->re, PCRE2_INFO_ALLOPTIONS, &opts);
    pcre2_pattern_info(f->re, PCRE2_INFO_FIRSTCODETYPE, &type);
    pcre2_pattern_info(f->re, PCRE2_INFO_FIRSTBITMAP, &bitmap);
    pcre2_pattern_info(f->re, PCRE2_INFO_MINLENGTH, &min_len);
    if (!(opts & PCRE2_ANCHORED))
        return;
    if (type == 1) {
        uint32_t cu = 0;
        pcre2_pattern_info(f->re, PCRE2_INFO_FIRSTCODEUNIT, &cu);
        uint8_t c = (uint8_t)cu;
        f->pre_first[c >> 3] |= (uint8_t)(1u << (c & 7));
        if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
            c ^= 0x20;
        f->pre_first[c >> 3] |= (uint8_t)(1u << (c & 7));
    } else if (bitmap) {
        memcpy(f->pre_first, bitmap, sizeof(f->pre_first));
    } else {
        return;
    }
    f->pre = true;
    f->pre_min_len = min_len;
}

/* The named-group table of f->re. */
static void fmt_groups_load(struct io_format *f)
{
    uint32_t n = 0, entry = 0;
    PCRE2_SPTR table;
    pcre2_pattern_info(f->re, PCRE2_INFO_NAMECOUNT, &n);
    pcre2_pattern_info(f->re, PCRE2_INFO_NAMEENTRYSIZE, &entry);
    pcre2_pattern_info(f->re, PCRE2_INFO_NAMETABLE, &table);
    f->groups = cep_calloc(n ? n : 1, sizeof(*f->groups));
    f->n_groups = n;
    for (uint32_t i = 0; i < n; i++) {
        const unsigned char *e = table + (size_t)i * entry;
        struct fmt_group *g = &f->groups[i];
        g->num = (uint32_t)(e[0] << 8 | e[1]);
        g->name = cep_strdup((const char *)e + 2);
        g->same_as_prev = i > 0 && strcmp(g->name, f->groups[i - 1].name) == 0;
    }
}

static char *fmt_esc(char *w, const char *s, size_t len);

/* u32 at p (4-byte aligned or not). */
static uint32_t fmt_u32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* The keys of the n fields, each its member start as JSON text ("name":),
 * in one block that kept events copy (fmt_text_keep): u32 offset of key
 * i's text from the block's start for i in 0..n (key i ends where i + 1
 * starts), then the texts. */
static void fmt_keys_load(struct io_format *f, size_t n)
{
    struct sbuf *k = &f->keys;
    sbuf_reserve(k, 4 * (n + 1));
    k->len = 4 * (n + 1);
    for (size_t i = 0; i <= n; i++) {
        uint32_t off = (uint32_t)k->len;
        memcpy(k->buf + 4 * i, &off, sizeof(off));
        if (i == n)
            break;
        sbuf_reserve(k, 6 * f->name_lens[i] + 3);
        char *w = k->buf + k->len;
        *w++ = '"';
        w = fmt_esc(w, f->names[i], f->name_lens[i]);
        *w++ = '"';
        *w++ = ':';
        k->len = (size_t)(w - k->buf);
    }
}

/* The field-name table: the syslog fields, then each distinct group name;
 * its hash identifies it to the engine (eng_push_decoded binds names to
 * slots once per table and stream). */
static void fmt_fields_load(struct io_format *f)
{
    size_t cap = FMT_F_COUNT + f->n_groups, n = 0;
    f->names = cep_calloc(cap, sizeof(*f->names));
    f->name_lens = cep_calloc(cap, sizeof(*f->name_lens));
    f->fv = cep_calloc(cap, sizeof(*f->fv));
    for (; n < FMT_F_COUNT; n++)
        f->names[n] = fmt_syslog_names[n];
    for (size_t i = 0; i < f->n_groups; i++) {
        struct fmt_group *g = &f->groups[i];
        if (!g->same_as_prev)
            f->names[n++] = g->name;
        g->field = (uint32_t)(n - 1);
    }
    struct cep_hasher h;
    cep_hasher_init(&h);
    for (size_t i = 0; i < n; i++) {
        f->name_lens[i] = strlen(f->names[i]);
        cep_hasher_piece(&h, f->names[i], f->name_lens[i]);
    }
    fmt_keys_load(f, n);
    f->fnames.names = f->names;
    f->fnames.lens = f->name_lens;
    f->fnames.n = (uint32_t)n;
    f->fnames.hash = cep_hasher_u64_result(&h);
}

struct io_format *io_format_new(const struct cfg_source *cfg, char *errbuf, size_t errlen)
{
    struct io_format *f = cep_calloc(1, sizeof(*f));
    f->kind = cfg->format;
    sbuf_init(&f->raw);
    sbuf_init(&f->out);
    sbuf_init(&f->keys);
    if (f->kind == CFG_FMT_JSON)
        return f;
    if (!cfg->pattern) {
        fmt_fields_load(f);
        return f;
    }
    pcre2_general_context *gc =
            pcre2_general_context_create(fmt_pcre_malloc, fmt_pcre_free, NULL);
    CEP_ASSERT(gc);
    size_t off;
    char msg[160];
    f->re = fmt_compile(gc, cfg->pattern, &off, msg, sizeof(msg));
    if (!f->re) {
        pcre2_general_context_free(gc);
        snprintf(errbuf, errlen, "source %s: pattern at offset %zu: %s",
                 cfg->name ? cfg->name : "?", off, msg);
        io_format_free(f);
        return NULL;
    }
    /* Without JIT (unsupported CPU, no executable memory) the interpreter
     * runs instead, under the same limits. */
    f->jit = pcre2_jit_compile(f->re, PCRE2_JIT_COMPLETE) == 0;
    f->mctx = pcre2_match_context_create(gc);
    CEP_ASSERT(f->mctx);
    pcre2_set_match_limit(f->mctx, IO_FORMAT_MATCH_LIMIT);
    pcre2_set_depth_limit(f->mctx, IO_FORMAT_MATCH_LIMIT);
    f->md = pcre2_match_data_create_from_pattern(f->re, gc);
    CEP_ASSERT(f->md);
    pcre2_general_context_free(gc);
    fmt_groups_load(f);
    fmt_fields_load(f);
    fmt_prefilter_load(f);
    return f;
}

void io_format_free(struct io_format *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n_groups; i++)
        cep_free(f->groups[i].name);
    cep_free(f->groups);
    cep_free(f->names);
    cep_free(f->name_lens);
    sbuf_free(&f->keys);
    cep_free(f->fv);
    pcre2_match_data_free(f->md);
    pcre2_match_context_free(f->mctx);
    pcre2_code_free(f->re);
    sbuf_free(&f->raw);
    sbuf_free(&f->out);
    cep_free(f);
}

void io_format_set_now(struct io_format *f, int64_t now_s)
{
    f->fixed_now = now_s;
    f->clock_s = 0;
    f->cur_year = 0;
}

void io_format_set_match_limit(struct io_format *f, uint32_t limit)
{
    if (f->mctx)
        pcre2_set_match_limit(f->mctx, limit);
}

/* ---- JSON output ------------------------------------------------------- */

/* Bytes that go into a JSON string as they are: printable ASCII other
 * than '"' and '\\'. */
static bool fmt_plain(unsigned char c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/* Write s[0..len) as the body of a JSON string at w, which has room for
 * 6 * len bytes; returns the end.  Well-formed UTF-8 is copied, any other
 * non-ASCII byte becomes U+FFFD, controls are escaped.  Most bytes need
 * nothing: 16 at a time are copied while checked (SSE2), the copy running
 * ahead of a byte that needs care is simply overwritten. */
static char *fmt_esc(char *w, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const char *p = s, *end = s + len;
    for (;;) {
#ifdef __SSE2__
        while (end - p >= 16) {
            __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
            _mm_storeu_si128((__m128i *)(void *)w, x);
            unsigned bits = (unsigned)_mm_movemask_epi8(json_str_special16(x));
            if (bits) {
                unsigned n = (unsigned)__builtin_ctz(bits);
                p += n;
                w += n;
                goto special;
            }
            p += 16;
            w += 16;
        }
#endif
        while (p < end && fmt_plain((unsigned char)*p))
            *w++ = *p++;
        if (p == end)
            return w;
#ifdef __SSE2__
    special:;
#endif
        unsigned char c = (unsigned char)*p;
        if (c >= 0x80) {
            size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            if ((size_t)(end - p) >= n && json_utf8_valid(p, n)) {
                memcpy(w, p, n);
                w += n;
                p += n;
            } else {
                memcpy(w, "\xEF\xBF\xBD", 3);
                w += 3;
                p++;
            }
            continue;
        }
        *w++ = '\\';
        switch (c) {
            case '"':
            case '\\':
                *w++ = (char)c;
                break;
            case '\n':
                *w++ = 'n';
                break;
            case '\r':
                *w++ = 'r';
                break;
            case '\t':
                *w++ = 't';
                break;
            default:
                memcpy(w, "u00", 3);
                w[3] = hex[c >> 4];
                w[4] = hex[c & 15];
                w += 5;
                break;
        }
        p++;
    }
}

/* Start a member named key (key_len bytes, escaped as needed) with room for
 * a value of val_room bytes after it; returns where the value goes.  A
 * comma is written unless the member opens its object. */
static char *fmt_key(struct sbuf *o, const char *key, size_t key_len, size_t val_room)
{
    sbuf_reserve(o, 6 * key_len + val_room + 4);
    char *w = o->buf + o->len;
    if (o->buf[o->len - 1] != '{')
        *w++ = ',';
    *w++ = '"';
    w = fmt_esc(w, key, key_len);
    *w++ = '"';
    *w++ = ':';
    return w;
}

/* How a member's value goes into the JSON text. */
enum fmt_how {
    FMT_HOW_AS_IS = 0, /* its text as it is (a number's digits, an object) */
    FMT_HOW_PLAIN,     /* a string that needs no escape: quoted */
    FMT_HOW_ESC,       /* a string: escaped and quoted */
    FMT_HOW_COUNT
};

static bool fmt_scan(const char *s, size_t len, bool *plain);

/* Whether no byte of f's last line changes when escaped: then no string
 * value does (values made after the line are plain, or come from a line
 * with invalid UTF-8). */
static bool fmt_line_plain(const struct io_format *f)
{
    bool plain;
    fmt_scan(f->raw.buf, f->line_len, &plain);
    return plain;
}

static enum fmt_how fmt_how_of(const struct eng_fval *v, bool plain)
{
    if (v->kind != ENG_FVAL_STR)
        return FMT_HOW_AS_IS;
    return plain ? FMT_HOW_PLAIN : FMT_HOW_ESC;
}

/* Room for member `field` with a value of len bytes (fmt_member_put);
 * keys as fmt_keys_load lays them out. */
static size_t fmt_member_room(const char *keys, uint32_t field, size_t len)
{
    return fmt_u32(keys + 4 * (field + 1)) - fmt_u32(keys + 4 * field) + 6 * len + 3;
}

/* Write member `field` with value val[0..len) at w (room reserved), a
 * comma first unless it opens the object; returns the end. */
static char *fmt_member_put(char *w, bool first, const char *keys, uint32_t field,
                            enum fmt_how how, const char *val, size_t len)
{
    uint32_t k0 = fmt_u32(keys + 4 * field), k1 = fmt_u32(keys + 4 * (field + 1));
    if (!first)
        *w++ = ',';
    memcpy(w, keys + k0, k1 - k0);
    w += k1 - k0;
    if (how == FMT_HOW_AS_IS) {
        memcpy(w, val, len);
        return w + len;
    }
    *w++ = '"';
    if (how == FMT_HOW_PLAIN) {
        memcpy(w, val, len);
        w += len;
    } else {
        w = fmt_esc(w, val, len);
    }
    *w++ = '"';
    return w;
}

/* Close the object whose members were written up to w in o. */
static void fmt_object_end(struct sbuf *o, char *w)
{
    *w++ = '}';
    *w = '\0';
    o->len = (size_t)(w - o->buf);
}

/* evt_text_ops.write_now: the JSON text of the last line f (ud) decoded,
 * a member per field value, in order. */
static void fmt_text_write_now(const void *ud, struct sbuf *o)
{
    const struct io_format *f = ud;
    bool plain = fmt_line_plain(f);
    size_t room = 2;
    for (size_t i = 0; i < f->n_fv; i++)
        room += fmt_member_room(f->keys.buf, f->fv[i].field, f->fv[i].len);
    sbuf_reserve(o, room);
    char *w = o->buf + o->len;
    *w++ = '{';
    for (size_t i = 0; i < f->n_fv; i++) {
        const struct eng_fval *v = &f->fv[i];
        w = fmt_member_put(w, i == 0, f->keys.buf, v->field, fmt_how_of(v, plain),
                           f->raw.buf + v->off, v->len);
    }
    fmt_object_end(o, w);
}

/* evt_text_ops.keep: the recipe of that text, for an event that outlives
 * the line: u32 n, then per member u32 field, how, offset and length of
 * the value in raw, then the keys (fmt_keys_load). */
static void fmt_text_keep(const void *ud, struct sbuf *r)
{
    const struct io_format *f = ud;
    bool plain = fmt_line_plain(f);
    size_t need = 4 + 16 * f->n_fv + f->keys.len;
    sbuf_reserve(r, need);
    uint32_t *w = (uint32_t *)(void *)(r->buf + r->len); /* sbuf_reset: len 0, aligned */
    *w++ = (uint32_t)f->n_fv;
    for (size_t i = 0; i < f->n_fv; i++) {
        const struct eng_fval *v = &f->fv[i];
        *w++ = v->field;
        *w++ = fmt_how_of(v, plain);
        *w++ = (uint32_t)v->off;
        *w++ = (uint32_t)v->len;
    }
    memcpy(w, f->keys.buf, f->keys.len);
    r->len += need;
}

/* evt_text_ops.write_kept: the text from raw and fmt_text_keep's recipe. */
static void fmt_text_write_kept(const char *raw, const char *recipe, struct sbuf *o)
{
    uint32_t n = fmt_u32(recipe);
    const char *members = recipe + 4, *keys = members + 16 * (size_t)n, *m;
    size_t room = 2;
    for (m = members; m < keys; m += 16)
        room += fmt_member_room(keys, fmt_u32(m), fmt_u32(m + 12));
    sbuf_reserve(o, room);
    char *w = o->buf + o->len;
    *w++ = '{';
    for (m = members; m < keys; m += 16)
        w = fmt_member_put(w, m == members, keys, fmt_u32(m), (enum fmt_how)fmt_u32(m + 4),
                           raw + fmt_u32(m + 8), fmt_u32(m + 12));
    fmt_object_end(o, w);
}

static const struct evt_text_ops fmt_text_ops = {
        .write_now = fmt_text_write_now,
        .keep = fmt_text_keep,
        .write_kept = fmt_text_write_kept,
};

/* Note a value of field: kind, and where it lies in f->raw (a string, an
 * object's text) or its integer. */
static void fmt_fv_add(struct io_format *f, uint32_t field, enum eng_fval_kind kind, size_t off,
                       size_t len, int64_t i)
{
    struct eng_fval *v = &f->fv[f->n_fv++];
    v->field = field;
    v->kind = kind;
    v->off = off;
    v->len = len;
    v->i = i;
}

/* Whether s[0..len) has a byte >= 0x80, and, when plain is not NULL,
 * whether none of its bytes is one that fmt_esc changes. */
static inline bool fmt_scan(const char *s, size_t len, bool *plain)
{
    unsigned high = 0, special = 0;
    size_t i = 0;
#ifdef __SSE2__
    if (len >= 16) {
        __m128i any = _mm_setzero_si128(), spec = _mm_setzero_si128();
        for (;; i += 16) {
            if (i + 16 > len)
                i = len - 16; /* the last block overlaps, not past the end */
            __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
            any = _mm_or_si128(any, x);
            if (plain)
                spec = _mm_or_si128(spec, json_str_special16(x));
            if (i + 16 == len)
                break;
        }
        high = (unsigned)_mm_movemask_epi8(any);
        special = (unsigned)_mm_movemask_epi8(spec);
        i = len;
    }
#endif
    for (; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        high |= c >= 0x80;
        special |= !fmt_plain(c);
    }
    if (plain)
        *plain = special == 0;
    return high != 0;
}

/* Append to f->raw the string s[0..len) (not well-formed UTF-8) as its JSON
 * text gives it back: escaped as the text writes it, then unescaped.  Sets
 * *out_len; returns its offset in f->raw. */
static size_t fmt_clean(struct io_format *f, const char *s, size_t len, size_t *out_len)
{
    sbuf_reset(&f->out);
    sbuf_reserve(&f->out, 6 * len);
    size_t n = (size_t)(fmt_esc(f->out.buf, s, len) - f->out.buf);
    size_t off = f->raw.len;
    sbuf_reserve(&f->raw, n);
    *out_len = json_str_unescape(f->out.buf, n, f->raw.buf + off);
    f->raw.len += *out_len;
    return off;
}

/* field = the string s[0..len), a piece of the line. */
static inline void fmt_str(struct io_format *f, uint32_t field, const char *s, size_t len)
{
    size_t off = (size_t)(s - f->line);
    if (CEP_UNLIKELY(f->line_high) && !json_utf8_valid(s, len))
        off = fmt_clean(f, s, len, &len);
    fmt_fv_add(f, field, ENG_FVAL_STR, off, len, 0);
}

/* field = the integer v (at most 18 digits), whose decimal text is
 * digits[0..len) in the line, or, digits NULL, made after it. */
static void fmt_int(struct io_format *f, uint32_t field, uint64_t v, const char *digits,
                    size_t len)
{
    size_t off;
    if (digits) {
        off = (size_t)(digits - f->line);
    } else {
        off = f->raw.len;
        sbuf_put_u64(&f->raw, v);
        len = f->raw.len - off;
    }
    fmt_fv_add(f, field, ENG_FVAL_INT, off, len, (int64_t)v);
}

/* Start decoding line[0..len) (kept in f->raw, where values point). */
static void fmt_open(struct io_format *f, const char *line, size_t len)
{
    sbuf_reset(&f->raw);
    sbuf_append(&f->raw, line, len);
    f->line = line;
    f->line_len = len;
    f->line_high = fmt_scan(line, len, NULL);
    f->n_fv = 0;
    f->time_fv = -1;
}

/* ---- regex --------------------------------------------------------------- */

/* Match f->re on s[0..len).  1: matched; 0: no match; CEP_ERR: a limit or
 * PCRE2 error, with rej->reason set. */
static int fmt_match(struct io_format *f, const char *s, size_t len, struct eng_reject *rej)
{
    if (f->pre && (len < f->pre_min_len || len == 0 ||
                   !(f->pre_first[(unsigned char)s[0] >> 3] & (1u << (s[0] & 7)))))
        return 0;
    /* pcre2_match would run the same JIT code, after checks that cannot
     * fail here (no UTF, no options). */
    int rc = f->jit ? pcre2_jit_match(f->re, (PCRE2_SPTR)s, len, 0, 0, f->md, f->mctx)
                    : pcre2_match(f->re, (PCRE2_SPTR)s, len, 0, 0, f->md, f->mctx);
    if (rc >= 0)
        return 1;
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
        rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT)
        rej->reason = "pattern match limit reached";
    else
        rej->reason = "pattern match failed";
    rej->offset = 0;
    return CEP_ERR;
}

/* Append a string field for every named group of the last match on s. */
static void fmt_groups_emit(struct io_format *f, const char *s)
{
    const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(f->md);
    uint32_t n_ov = pcre2_get_ovector_count(f->md);
    bool emitted = false;
    for (size_t i = 0; i < f->n_groups; i++) {
        const struct fmt_group *g = &f->groups[i];
        if (!g->same_as_prev)
            emitted = false;
        if (emitted || g->num >= n_ov || ov[2 * g->num] == PCRE2_UNSET)
            continue;
        fmt_str(f, g->field, s + ov[2 * g->num], ov[2 * g->num + 1] - ov[2 * g->num]);
        emitted = true;
    }
}

static int fmt_regex(struct io_format *f, const char *line, size_t len, struct eng_reject *rej)
{
    int rc = fmt_match(f, line, len, rej);
    if (rc == 0) {
        rej->reason = "line does not match the pattern";
        rej->offset = 0;
    }
    if (rc != 1)
        return CEP_ERR;
    fmt_open(f, line, len);
    fmt_groups_emit(f, line);
    return CEP_OK;
}

/* ---- syslog -------------------------------------------------------------- */

/* The pieces of a syslog line; strings point into the line, NULL = absent. */
struct fmt_syslog {
    int pri; /* -1: none */
    const char *ts, *host, *app, *pid, *msgid, *sd, *msg;
    size_t ts_len, host_len, app_len, pid_len, msgid_len, sd_len, msg_len;
    int year, mon, mday, hour, min, sec; /* RFC 3164 timestamp; year 0 = ts holds RFC 3339 */
};

static bool fmt_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* n digits at p (the caller checked there are n bytes). */
static int fmt_num(const char *p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!fmt_digit(p[i]))
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

static int fmt_days_in_month(int year, int mon)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return mon == 2 && leap ? 29 : days[mon - 1];
}

/* Length of the RFC 3339 timestamp at p (up to end), or 0 when p does not
 * start with one: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM). */
static size_t fmt_rfc3339(const char *p, const char *end)
{
    const char *s = p;
    if (end - p < 20)
        return 0;
    int y = fmt_num(p, 4), mo = fmt_num(p + 5, 2), d = fmt_num(p + 8, 2);
    int h = fmt_num(p + 11, 2), mi = fmt_num(p + 14, 2), sec = fmt_num(p + 17, 2);
    if (y < 0 || p[4] != '-' || mo < 1 || mo > 12 || p[7] != '-' || d < 1 ||
        d > fmt_days_in_month(y, mo) || (p[10] != 'T' && p[10] != 't') || h < 0 || h > 23 ||
        p[13] != ':' || mi < 0 || mi > 59 || p[16] != ':' || sec < 0 || sec > 60)
        return 0;
    p += 19;
    if (*p == '.') {
        const char *f = ++p;
        while (p < end && fmt_digit(*p))
            p++;
        if (p == f)
            return 0;
    }
    if (p < end && (*p == 'Z' || *p == 'z'))
        return (size_t)(p + 1 - s);
    if (end - p < 6 || (*p != '+' && *p != '-'))
        return 0;
    int oh = fmt_num(p + 1, 2), om = fmt_num(p + 4, 2);
    if (oh < 0 || oh > 23 || p[3] != ':' || om < 0 || om > 59)
        return 0;
    return (size_t)(p + 6 - s);
}

/* The RFC 3164 timestamp "Mmm dd hh:mm:ss" (day space-padded or not) at *pp;
 * advances past it.  false when there is none. */
static bool fmt_bsd_time(const char **pp, const char *end, struct fmt_syslog *sl)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    const char *p = *pp;
    if (end - p < 14 || p[3] != ' ')
        return false;
    sl->mon = 0;
    for (int m = 0; m < 12; m++) {
        if (memcmp(p, months + 3 * m, 3) == 0) {
            sl->mon = m + 1;
            break;
        }
    }
    if (!sl->mon)
        return false;
    p += 4;
    if (*p == ' ')
        p++;
    if (!fmt_digit(*p))
        return false;
    sl->mday = *p++ - '0';
    if (fmt_digit(*p))
        sl->mday = sl->mday * 10 + (*p++ - '0');
    if (end - p < 9 || *p != ' ' || sl->mday < 1 || sl->mday > 31)
        return false;
    p++;
    sl->hour = fmt_num(p, 2);
    sl->min = fmt_num(p + 3, 2);
    sl->sec = fmt_num(p + 6, 2);
    if (sl->hour < 0 || sl->hour > 23 || p[2] != ':' || sl->min < 0 || sl->min > 59 ||
        p[5] != ':' || sl->sec < 0 || sl->sec > 60)
        return false;
    *pp = p + 8;
    return true;
}

/* The year of a timestamp without one: the current local year, except that
 * a month more than one ahead of now is last year's (a December line read in
 * January) and a January line read on 31 December is next year's. */
static void fmt_bsd_year(struct io_format *f, struct fmt_syslog *sl)
{
    int64_t now = f->fixed_now ? f->fixed_now : (int64_t)time(NULL);
    if (now != f->clock_s || !f->cur_year) {
        time_t t = (time_t)now;
        struct tm tm;
        localtime_r(&t, &tm);
        f->clock_s = now;
        f->cur_year = tm.tm_year + 1900;
        f->cur_mon = tm.tm_mon + 1;
        f->cur_mday = tm.tm_mday;
    }
    sl->year = f->cur_year;
    if (sl->mon > f->cur_mon + 1)
        sl->year--;
    else if (sl->mon == 1 && f->cur_mon == 12 && f->cur_mday == 31)
        sl->year++;
}

/* The local UTC offset (seconds) in force at the start of the line's hour;
 * one mktime per new hour. */
static long fmt_bsd_gmtoff(struct io_format *f, const struct fmt_syslog *sl)
{
    if (f->tz.year != sl->year || f->tz.mon != sl->mon || f->tz.mday != sl->mday ||
        f->tz.hour != sl->hour) {
        struct tm tm = {0};
        tm.tm_year = sl->year - 1900;
        tm.tm_mon = sl->mon - 1;
        tm.tm_mday = sl->mday;
        tm.tm_hour = sl->hour;
        tm.tm_isdst = -1;
        f->tz.gmtoff = mktime(&tm) == (time_t)-1 ? 0 : tm.tm_gmtoff;
        f->tz.year = sl->year;
        f->tz.mon = sl->mon;
        f->tz.mday = sl->mday;
        f->tz.hour = sl->hour;
    }
    return f->tz.gmtoff;
}

static char *fmt_2d(char *w, int v)
{
    w[0] = (char)('0' + v / 10);
    w[1] = (char)('0' + v % 10);
    return w + 2;
}

/* The text and event time of the RFC 3164 time sl at second 0 of its
 * minute into f->ts. */
static void fmt_bsd_minute(struct io_format *f, const struct fmt_syslog *sl)
{
    long off = fmt_bsd_gmtoff(f, sl);
    char *w = f->ts.text;
    w = fmt_2d(w, sl->year / 100 % 100);
    w = fmt_2d(w, sl->year % 100);
    *w++ = '-';
    w = fmt_2d(w, sl->mon);
    *w++ = '-';
    w = fmt_2d(w, sl->mday);
    *w++ = 'T';
    w = fmt_2d(w, sl->hour);
    *w++ = ':';
    w = fmt_2d(w, sl->min);
    *w++ = ':';
    w = fmt_2d(w, 0);
    int sign = off < 0 ? -1 : 1;
    *w++ = off < 0 ? '-' : '+';
    if (off < 0)
        off = -off;
    int oh = (int)(off / 3600 % 100), om = (int)(off / 60 % 60);
    w = fmt_2d(w, oh);
    *w++ = ':';
    w = fmt_2d(w, om);
    CEP_ASSERT(w == f->ts.text + FMT_TS_LEN);
    f->ts.time_ok = oh <= 23; /* else the engine rejects the text, and must */
    if (f->ts.time_ok) {
        int64_t secs = eng_days_from_civil(sl->year % 10000, sl->mon, sl->mday) * 86400 +
                       sl->hour * 3600 + sl->min * 60 - sign * (oh * 3600 + om * 60);
        f->ts.minute_us = secs * CEP_USEC_PER_SEC;
    }
}

/* "timestamp": the RFC 3164 time as local RFC 3339 with its UTC offset,
 * and its event time (what the engine would read from that text: the
 * printed year and offset) for eng_push_decoded.  Lines come in time
 * order, so the minute is mostly the last one's. */
static void fmt_bsd_ts(struct io_format *f, const struct fmt_syslog *sl)
{
    int64_t key = ((((int64_t)sl->year * 16 + sl->mon) * 32 + sl->mday) * 32 + sl->hour) * 64 +
                  sl->min;
    if (key != f->ts.key) {
        fmt_bsd_minute(f, sl);
        f->ts.key = key;
    }
    sbuf_reserve(&f->raw, FMT_TS_LEN);
    char *body = f->raw.buf + f->raw.len;
    memcpy(body, f->ts.text, FMT_TS_LEN);
    fmt_2d(body + FMT_TS_SEC, sl->sec);
    fmt_fv_add(f, FMT_F_TIMESTAMP, ENG_FVAL_STR, f->raw.len, FMT_TS_LEN, 0);
    f->raw.len += FMT_TS_LEN;
    if (f->ts.time_ok) {
        f->time_fv = (int32_t)(f->n_fv - 1);
        f->time_us = f->ts.minute_us + sl->sec * CEP_USEC_PER_SEC;
    }
}

/* The token at *pp up to the next space or end; advances to the space.
 * Header tokens are short: a plain loop beats a call to memchr. */
static size_t fmt_token(const char **pp, const char *end)
{
    const char *p = *pp, *q = p;
    while (q < end && *q != ' ')
        q++;
    *pp = q;
    return (size_t)(q - p);
}

/* RFC 3164 after the PRI: TIMESTAMP [HOST] [TAG[PID]:] MSG.  The host is
 * left out by local loggers: a first token that ends in ':' or holds '['
 * is taken as the tag. */
static int fmt_bsd(struct io_format *f, const char *p, const char *end, struct fmt_syslog *sl,
                   const char *line, struct eng_reject *rej)
{
    size_t n;
    if (p < end && fmt_digit(*p) && (n = fmt_rfc3339(p, end)) > 0) {
        sl->ts = p;
        sl->ts_len = n;
        p += n;
    } else if (fmt_bsd_time(&p, end, sl)) {
        fmt_bsd_year(f, sl);
        if (sl->mday > fmt_days_in_month(sl->year, sl->mon)) {
            rej->reason = "invalid syslog timestamp";
            rej->offset = (size_t)(p - line);
            return CEP_ERR;
        }
    } else {
        rej->reason = "no syslog timestamp";
        rej->offset = (size_t)(p - line);
        return CEP_ERR;
    }
    if (p < end && *p != ' ') {
        rej->reason = "invalid syslog timestamp";
        rej->offset = (size_t)(p - line);
        return CEP_ERR;
    }
    while (p < end && *p == ' ')
        p++;
    const char *tok = p;
    n = fmt_token(&p, end);
    bool has_bracket = false;
    for (size_t i = 0; i < n && !has_bracket; i++)
        has_bracket = tok[i] == '[';
    if (n > 0 && tok[n - 1] != ':' && !has_bracket) {
        sl->host = tok;
        sl->host_len = n;
        while (p < end && *p == ' ')
            p++;
        tok = p;
    }
    /* The tag: up to '[', ':' or a space. */
    const char *t = tok;
    while (t < end && *t != '[' && *t != ':' && *t != ' ')
        t++;
    const char *msg = tok;
    if (t > tok && t < end && *t == '[') {
        const char *close = memchr(t, ']', (size_t)(end - t));
        if (close) {
            sl->app = tok;
            sl->app_len = (size_t)(t - tok);
            sl->pid = t + 1;
            sl->pid_len = (size_t)(close - t - 1);
            msg = close + 1;
            if (msg < end && *msg == ':')
                msg++;
        }
    } else if (t > tok && t < end && *t == ':') {
        sl->app = tok;
        sl->app_len = (size_t)(t - tok);
        msg = t + 1;
    }
    if (msg != tok && msg < end && *msg == ' ')
        msg++;
    sl->msg = msg;
    sl->msg_len = (size_t)(end - msg);
    return CEP_OK;
}

/* One SD-NAME (SD-ID or PARAM-NAME) at *pp: 1..32 printable US-ASCII bytes
 * other than '=', ' ', ']' and '"'. */
static size_t fmt_sd_name(const char **pp, const char *end)
{
    const char *p = *pp;
    while (p < end && *p > ' ' && *p < 127 && *p != '=' && *p != ']' && *p != '"')
        p++;
    size_t n = (size_t)(p - *pp);
    *pp = p;
    return n <= 32 ? n : 0;
}

/* Make the value of sd from structured data [p, end) (known well formed):
 * {"ID":{"NAME":"VALUE",...},...} in f->raw; \" \\ and \] in values are
 * unescaped, any other backslash stays. */
static void fmt_sd_emit(struct io_format *f, const char *p, const char *end)
{
    struct sbuf *o = &f->raw;
    sbuf_reserve(o, 1);
    size_t start = o->len;
    char *w = o->buf + o->len;
    *w++ = '{';
    o->len = (size_t)(w - o->buf);
    while (p < end && *p == '[') {
        const char *id = ++p;
        size_t id_len = fmt_sd_name(&p, end);
        w = fmt_key(o, id, id_len, 1);
        *w++ = '{';
        o->len = (size_t)(w - o->buf);
        while (*p == ' ') {
            const char *name = ++p;
            size_t name_len = fmt_sd_name(&p, end);
            p += 2; /* =" */
            const char *v = p;
            while (*p != '"')
                p += *p == '\\' ? 2 : 1;
            w = fmt_key(o, name, name_len, 6 * (size_t)(p - v) + 2);
            *w++ = '"';
            for (const char *s = v; s < p;) {
                const char *bs = memchr(s, '\\', (size_t)(p - s));
                const char *stop = bs ? bs : p;
                w = fmt_esc(w, s, (size_t)(stop - s));
                if (!bs)
                    break;
                if (bs[1] == '"' || bs[1] == ']' || bs[1] == '\\') {
                    w = fmt_esc(w, bs + 1, 1);
                    s = bs + 2;
                } else {
                    w = fmt_esc(w, bs, 1);
                    s = bs + 1;
                }
            }
            *w++ = '"';
            o->len = (size_t)(w - o->buf);
            p++; /* closing quote */
        }
        p++; /* ] */
        sbuf_putc(o, '}');
    }
    sbuf_putc(o, '}');
    fmt_fv_add(f, FMT_F_SD, ENG_FVAL_OBJ, start, o->len - start, 0);
}

/* Check the structured data at p: "-" or one or more [ID *( NAME="VALUE")].
 * Returns its end, or NULL with rej set. */
static const char *fmt_sd_scan(const char *p, const char *end, const char *line,
                               struct eng_reject *rej)
{
    if (p < end && *p == '-')
        return p + 1;
    if (p >= end || *p != '[')
        goto bad;
    while (p < end && *p == '[') {
        p++;
        if (!fmt_sd_name(&p, end))
            goto bad;
        while (p < end && *p == ' ') {
            p++;
            if (!fmt_sd_name(&p, end) || end - p < 2 || p[0] != '=' || p[1] != '"')
                goto bad;
            p += 2;
            while (p < end && *p != '"')
                p += *p == '\\' && end - p > 1 ? 2 : 1;
            if (p >= end)
                goto bad;
            p++;
        }
        if (p >= end || *p != ']')
            goto bad;
        p++;
    }
    return p;
bad:
    rej->reason = "invalid structured data";
    rej->offset = (size_t)((p < end ? p : end) - line);
    return NULL;
}

/* RFC 5424 after "<PRI>VERSION ": TIMESTAMP HOSTNAME APP-NAME PROCID MSGID
 * SD [MSG]; "-" is a nil field. */
static int fmt_5424(const char *p, const char *end, struct fmt_syslog *sl, const char *line,
                    struct eng_reject *rej)
{
    const char **fields[5] = {&sl->ts, &sl->host, &sl->app, &sl->pid, &sl->msgid};
    size_t *lens[5] = {&sl->ts_len, &sl->host_len, &sl->app_len, &sl->pid_len, &sl->msgid_len};
    for (size_t i = 0; i < 5; i++) {
        const char *tok = p;
        size_t n = fmt_token(&p, end);
        if (n == 0 || p >= end) {
            rej->reason = "truncated RFC 5424 header";
            rej->offset = (size_t)(p - line);
            return CEP_ERR;
        }
        p++;
        if (n == 1 && *tok == '-')
            continue;
        if (i == 0 && fmt_rfc3339(tok, tok + n) != n) {
            rej->reason = "invalid RFC 5424 timestamp";
            rej->offset = (size_t)(tok - line);
            return CEP_ERR;
        }
        *fields[i] = tok;
        *lens[i] = n;
    }
    const char *sd = p;
    p = fmt_sd_scan(p, end, line, rej);
    if (!p)
        return CEP_ERR;
    if (*sd == '[') {
        sl->sd = sd;
        sl->sd_len = (size_t)(p - sd);
    }
    if (p < end) {
        if (*p != ' ') {
            rej->reason = "invalid structured data";
            rej->offset = (size_t)(p - line);
            return CEP_ERR;
        }
        p++;
        if (end - p >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
            p += 3; /* the BOM of a UTF-8 MSG */
        sl->msg = p;
        sl->msg_len = (size_t)(end - p);
    }
    return CEP_OK;
}

/* A PROCID of up to 18 digits is a number, anything else a string. */
static void fmt_pid(struct io_format *f, const char *s, size_t len)
{
    uint64_t v = 0;
    size_t i = 0;
    while (i < len && len <= 18 && fmt_digit(s[i]))
        v = v * 10 + (uint64_t)(s[i++] - '0');
    if (len > 0 && i == len)
        fmt_int(f, FMT_F_PID, v, s[0] != '0' || len == 1 ? s : NULL, len);
    else
        fmt_str(f, FMT_F_PID, s, len);
}

static int fmt_syslog(struct io_format *f, const char *line, size_t len, struct eng_reject *rej)
{
    const char *p = line, *end = line + len;
    struct fmt_syslog sl;
    memset(&sl, 0, sizeof(sl));
    sl.pri = -1;
    bool is_5424 = false;
    if (p < end && *p == '<') {
        const char *d = ++p;
        int pri = 0;
        while (p < end && fmt_digit(*p) && p - d < 3)
            pri = pri * 10 + (*p++ - '0');
        if (p == d || p >= end || *p != '>' || pri > 191) {
            rej->reason = "invalid syslog PRI";
            rej->offset = (size_t)(p - line);
            return CEP_ERR;
        }
        sl.pri = pri;
        p++;
        /* RFC 5424: VERSION (1-3 digits, not 0) and a space. */
        const char *v = p;
        while (p < end && fmt_digit(*p) && p - v < 3)
            p++;
        if (p > v && p < end && *p == ' ' && *v != '0') {
            is_5424 = true;
            p++;
        } else {
            p = v;
        }
    }
    int rc = is_5424 ? fmt_5424(p, end, &sl, line, rej) : fmt_bsd(f, p, end, &sl, line, rej);
    if (rc != CEP_OK)
        return rc;
    fmt_open(f, line, len);
    if (sl.pri >= 0) {
        fmt_int(f, FMT_F_FACILITY, (uint64_t)(sl.pri >> 3), NULL, 0);
        fmt_int(f, FMT_F_SEVERITY, (uint64_t)(sl.pri & 7), NULL, 0);
    }
    if (sl.ts)
        fmt_str(f, FMT_F_TIMESTAMP, sl.ts, sl.ts_len);
    else if (sl.year)
        fmt_bsd_ts(f, &sl);
    if (sl.host)
        fmt_str(f, FMT_F_HOST, sl.host, sl.host_len);
    if (sl.app)
        fmt_str(f, FMT_F_APP, sl.app, sl.app_len);
    if (sl.pid)
        fmt_pid(f, sl.pid, sl.pid_len);
    if (sl.msgid)
        fmt_str(f, FMT_F_MSGID, sl.msgid, sl.msgid_len);
    if (sl.sd)
        fmt_sd_emit(f, sl.sd, sl.sd + sl.sd_len);
    if (sl.msg)
        fmt_str(f, FMT_F_MSG, sl.msg, sl.msg_len);
    if (f->re && sl.msg) {
        rc = fmt_match(f, sl.msg, sl.msg_len, rej);
        if (rc == CEP_ERR) {
            rej->offset = (size_t)(sl.msg - line);
            return CEP_ERR;
        }
        if (rc == 1)
            fmt_groups_emit(f, sl.msg);
    }
    return CEP_OK;
}

/* ---- entry point --------------------------------------------------------- */

int io_format_decode(struct io_format *f, const char *line, size_t len, struct eng_decoded *out,
                     struct eng_reject *rej)
{
    memset(out, 0, sizeof(*out));
    if (f->kind == CFG_FMT_JSON) {
        out->raw = line;
        out->raw_len = len;
        out->time_fv = -1;
        return CEP_OK;
    }
    if (len > 0 && line[len - 1] == '\r')
        len--;
    int rc = f->kind == CFG_FMT_REGEX ? fmt_regex(f, line, len, rej)
                                      : fmt_syslog(f, line, len, rej);
    if (rc != CEP_OK)
        return rc;
    /* What the format made can be several times the line (escaped
     * structured data, copies of invalid UTF-8), and its JSON text up to
     * six times that: keep both within what an event holds. */
    if (f->raw.len >= FMT_RAW_MAX) {
        rej->reason = "decoded line too large";
        rej->offset = 0;
        return CEP_ERR;
    }
    out->raw = f->raw.buf;
    out->raw_len = f->raw.len;
    out->text_ops = &fmt_text_ops;
    out->text_ud = f;
    out->names = &f->fnames;
    out->fv = f->fv;
    out->n_fv = f->n_fv;
    out->time_fv = f->time_fv;
    out->time_us = f->time_us;
    return CEP_OK;
}

const char *io_format_text(struct io_format *f, const struct eng_decoded *d, size_t *len)
{
    if (!d->names) {
        *len = d->raw_len;
        return d->raw;
    }
    sbuf_reset(&f->out);
    fmt_text_write_now(f, &f->out);
    *len = f->out.len;
    return f->out.buf;
}

int io_format_apply(struct io_format *f, const char *line, size_t len, const char **out,
                    size_t *out_len, struct eng_reject *rej)
{
    struct eng_decoded d;
    int rc = io_format_decode(f, line, len, &d, rej);
    if (rc != CEP_OK)
        return rc;
    *out = io_format_text(f, &d, out_len);
    return CEP_OK;
}
