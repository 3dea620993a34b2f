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

bool eng_par_scan_init(struct eng_par_scan *ks, const struct evt_schema *schema, const int *slots,
                       size_t n)
{
    const struct evt_schema_node *root = &schema->root;
    ks->root = root;
    ks->n = 0;
    if (root->n_children >= ENG_PAR_FV_FIELDS)
        return false;
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
        int ci = evt_schema_child_index(ks->root, p + 1, (size_t)(ke - p - 2));
        int slot = ci >= 0 ? ks->root->children[ci]->slot : -1;
        bool want = slot >= 0 && eng_par_scan_wants(ks, slot);
        if (end - ke >= 2 && ke[0] == ':' && (unsigned char)ke[1] > ' ') {
            p = ke + 1; /* compact JSON */
        } else {
            p = json_ws_skip(ke, end);
            if (p == end || *p != ':')
                return CEP_ERR;
            p = json_ws_skip(p + 1, end);
            if (p == end)
                return CEP_ERR;
        }
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
            const char *q = json_int_fast(&sc, p, &num.u.i);
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
        if (end - p >= 2 && p[0] == ',' && p[1] == '"') {
            p++; /* compact JSON */
            continue;
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
