/* SPDX-License-Identifier: Apache-2.0
 * The parallel dispatcher's key-only scan: validate a JSON line and pick up
 * only a few top-level members (a stream's key fields and time fields),
 * without building an event (the worker builds that).  It accepts a
 * line only when the full decoder (dec_json_line) would and would give
 * those members the same values; anything it is unsure of (an escaped or
 * non-ASCII key, a wanted member that is not a plain string or a number, an
 * error anywhere) is left to the full decoder.  On the way it lists where
 * the values of the schema's top-level members lie, so that the worker
 * fills its event from the list (eng_push_decoded) instead of parsing the
 * line again.
 * Tested by: tests/unit/check_par.c */
#include "cepd/cep_common.h"
#include "eng_par_int.h"

#include "cepd/json.h"

#include <string.h>

static inline uint32_t eng_par_scan_bucket(const char *s, size_t len)
{
    return (uint32_t)(len * 7 + (len ? (unsigned char)s[0] : 0)) % ENG_PAR_SCAN_BUCKETS;
}

bool eng_par_scan_init(struct eng_par_scan *ks, const struct evt_schema *schema, const int *slots,
                       size_t n)
{
    const struct evt_schema_node *root = &schema->root;
    ks->root = root;
    ks->n = 0;
    if (root->n_children >= ENG_PAR_FV_FIELDS)
        return false;
    memset(ks->bucket, 0, sizeof(ks->bucket));
    for (uint32_t k = 0; k < root->n_children; k++) {
        uint16_t *b = &ks->bucket[eng_par_scan_bucket(root->children[k]->name,
                                                      root->children[k]->name_len)];
        *b = *b || k + 1 >= ENG_PAR_SCAN_SEARCH ? ENG_PAR_SCAN_SEARCH : (uint16_t)(k + 1);
    }
    for (size_t i = 0; i < n; i++) {
        bool have = false;
        for (uint32_t k = 0; k < ks->n; k++)
            have = have || ks->want[k] == slots[i];
        if (have)
            continue;
        bool top = false;
        for (uint32_t k = 0; k < root->n_children; k++)
            top = top || root->children[k]->slot == slots[i];
        if (!top || ks->n == ENG_PAR_SCAN_MAX)
            return false; /* a nested path, or too many: the full decoder */
        ks->want[ks->n++] = slots[i];
    }
    return true;
}

/* The index of the schema's top-level member named (s, len), or -1. */
static inline int eng_par_scan_child(const struct eng_par_scan *ks, const char *s, size_t len)
{
    const struct evt_schema_node *root = ks->root;
    uint32_t b = ks->bucket[eng_par_scan_bucket(s, len)];
    if (b == 0)
        return -1;
    if (b != ENG_PAR_SCAN_SEARCH) {
        const struct evt_schema_node *c = root->children[b - 1];
        if (c->name_len != len)
            return -1;
        for (size_t i = 0; i < len; i++) /* short: a call to memcmp costs more */
            if (c->name[i] != s[i])
                return -1;
        return (int)b - 1;
    }
    for (uint32_t i = 0; i < root->n_children; i++) {
        const struct evt_schema_node *c = root->children[i];
        if (c->name_len == len && !memcmp(c->name, s, len))
            return (int)i;
    }
    return -1;
}

/* The common number, inline: an integer of at most 18 digits (so it fits
 * int64 and is exact) with no fraction or exponent; NULL for anything else,
 * which json_num_scan then reads (and judges). */
static inline const char *eng_par_scan_int(const char *p, const char *end, int64_t *out)
{
    bool neg = *p == '-';
    const char *s = p + neg, *q = s, *lim = end - s > 19 ? s + 19 : end;
    uint64_t m = 0;
    unsigned d;
    while (q < lim && (d = (unsigned char)*q - (unsigned)'0') < 10) {
        m = m * 10 + d;
        q++;
    }
    size_t nd = (size_t)(q - s);
    if (nd == 0 || nd > 18 || (*s == '0' && nd > 1) ||
        (q < end && (*q == '.' || *q == 'e' || *q == 'E')))
        return NULL;
    *out = neg ? -(int64_t)m : (int64_t)m;
    return q;
}

static inline bool eng_par_scan_wants(const struct eng_par_scan *ks, int slot)
{
    for (uint32_t i = 0; i < ks->n; i++)
        if (ks->want[i] == slot)
            return true;
    return false;
}

int eng_par_scan_line(const struct eng_par_scan *ks, const char *line, size_t len,
                      struct val *slots, struct eng_par_fv *fv, size_t *n_fv)
{
    struct json_err jerr;
    struct json_scan sc = {.base = line, .end = line + len, .err = &jerr};
    const char *end = sc.end, *p = json_ws_skip(line, end);
    size_t nf = 0;
    bool fv_ok = true;
    if (p == end || *p != '{')
        return CEP_ERR;
    p = json_ws_skip(p + 1, end);
    if (p < end && *p == '}')
        goto close;
    for (;;) {
        /* A member: "key" ws ':' ws value, as dec_json_line reads it. */
        if (p == end || *p != '"')
            return CEP_ERR;
        const char *ke = json_str_fast(p, end);
        if (!ke)
            return CEP_ERR;
        int ci = eng_par_scan_child(ks, p + 1, (size_t)(ke - p - 2));
        int slot = ci >= 0 ? ks->root->children[ci]->slot : -1;
        bool want = slot >= 0 && eng_par_scan_wants(ks, slot);
        p = json_ws_skip(ke, end);
        if (p == end || *p != ':')
            return CEP_ERR;
        p = json_ws_skip(p + 1, end);
        if (p == end)
            return CEP_ERR;
        struct eng_par_fv *f = ci >= 0 && nf < *n_fv ? &fv[nf] : NULL;
        uint32_t kind = ENG_FVAL_OBJ;
        fv_ok = fv_ok && (ci < 0 || f);
        const char *v = p;
        if (*p == '"') {
            bool esc = false;
            const char *q = json_str_fast(p, end);
            if (!q && !(q = json_str_scan(&sc, p, &esc)))
                return CEP_ERR;
            if (want) {
                if (esc)
                    return CEP_ERR; /* its value is unescaped: the decoder's job */
                slots[slot] = val_str(p + 1, (size_t)(q - p - 2));
            }
            if (f) {
                kind = esc ? ENG_FVAL_ESC : ENG_FVAL_STR;
                f->a = (uint32_t)(p + 1 - line);
                f->b = (uint32_t)(q - p - 2);
            }
            p = q;
        } else if (*p == '-' || (*p >= '0' && *p <= '9')) {
            struct val num = val_null();
            const char *q = eng_par_scan_int(p, end, &num.u.i);
            if (q) {
                num.type = VAL_INT;
                p = q;
            } else {
                p = json_num_scan(&sc, p, ci >= 0 ? &num : NULL);
            }
            if (p && want)
                slots[slot] = num;
            if (p && f) {
                kind = ENG_FVAL_INT;
                f->a = (uint32_t)(uint64_t)num.u.i;
                f->b = (uint32_t)((uint64_t)num.u.i >> 32);
                fv_ok = fv_ok && num.type == VAL_INT;
            }
        } else {
            if (want)
                return CEP_ERR;
            p = json_value_skip(&sc, p, 1);
            if (p && f) {
                f->a = (uint32_t)(v - line);
                f->b = (uint32_t)(p - v);
                fv_ok = fv_ok && *v == '{';
            }
        }
        if (!p)
            return CEP_ERR;
        if (f) {
            f->fk = (uint32_t)ci << 2 | kind;
            nf++;
        }
        p = json_ws_skip(p, end);
        if (p < end && *p == '}')
            break;
        if (p == end || *p != ',')
            return CEP_ERR;
        p = json_ws_skip(p + 1, end);
    }
close:
    p = json_ws_skip(p + 1, end);
    *n_fv = fv_ok ? nf : SIZE_MAX;
    return p == end ? CEP_OK : CEP_ERR;
}

void eng_par_fv_expand(const struct eng_par_fv *fv, size_t n, struct eng_fval *out)
{
    _Static_assert(ENG_FVAL_KIND_COUNT <= 4, "an eng_fval kind fits in 2 bits");
    for (size_t i = 0; i < n; i++) {
        out[i].field = fv[i].fk >> 2;
        out[i].kind = (enum eng_fval_kind)(fv[i].fk & 3);
        if (out[i].kind == ENG_FVAL_INT) {
            out[i].off = 0; /* eng_push_decoded forms raw + off for every kind */
            out[i].len = 0;
            out[i].i = (int64_t)((uint64_t)fv[i].b << 32 | fv[i].a);
        } else {
            out[i].off = fv[i].a;
            out[i].len = fv[i].b;
        }
    }
}
