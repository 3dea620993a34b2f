/* SPDX-License-Identifier: Apache-2.0
 * The parallel dispatcher's key-only scan: validate a JSON line and pick up
 * only a few top-level members (a stream's key fields and time fields),
 * without building the event a worker decodes again anyway.  It accepts a
 * line only when the full decoder (dec_json_line) would and would give
 * those members the same values; anything it is unsure of (an escaped or
 * non-ASCII key, a wanted member that is not a plain string or a number, an
 * error anywhere) is left to the full decoder.
 * Tested by: tests/unit/check_par.c */
#include "cepd/cep_common.h"
#include "eng_par_int.h"

#include "cepd/json.h"

#include <string.h>

bool eng_par_scan_init(struct eng_par_scan *ks, const struct evt_schema *schema, const int *slots,
                       size_t n)
{
    const struct evt_schema_node *root = &schema->root;
    ks->n = 0;
    for (size_t i = 0; i < n; i++) {
        bool have = false;
        for (uint32_t k = 0; k < ks->n; k++)
            have = have || ks->want[k].slot == slots[i];
        if (have)
            continue;
        const struct evt_schema_node *c = NULL;
        for (uint32_t k = 0; k < root->n_children && !c; k++)
            if (root->children[k]->slot == slots[i])
                c = root->children[k];
        if (!c || ks->n == ENG_PAR_SCAN_MAX)
            return false; /* a nested path, or too many: the full decoder */
        ks->want[ks->n].name = c->name;
        ks->want[ks->n].len = c->name_len;
        ks->want[ks->n].slot = c->slot;
        ks->n++;
    }
    return true;
}

/* The slot of the wanted member named (s, len), or -1. */
static inline int eng_par_scan_slot(const struct eng_par_scan *ks, const char *s, size_t len)
{
    for (uint32_t i = 0; i < ks->n; i++)
        if (ks->want[i].len == len && !memcmp(ks->want[i].name, s, len))
            return ks->want[i].slot;
    return -1;
}

int eng_par_scan_line(const struct eng_par_scan *ks, const char *line, size_t len,
                      struct val *slots)
{
    struct json_err jerr;
    struct json_scan sc = {.base = line, .end = line + len, .err = &jerr};
    const char *end = sc.end, *p = json_ws_skip(line, end);
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
        int slot = eng_par_scan_slot(ks, p + 1, (size_t)(ke - p - 2));
        p = json_ws_skip(ke, end);
        if (p == end || *p != ':')
            return CEP_ERR;
        p = json_ws_skip(p + 1, end);
        if (p == end)
            return CEP_ERR;
        if (*p == '"') {
            bool esc = false;
            const char *q = json_str_fast(p, end);
            if (!q && !(q = json_str_scan(&sc, p, &esc)))
                return CEP_ERR;
            if (slot >= 0) {
                if (esc)
                    return CEP_ERR; /* its value is unescaped: the decoder's job */
                slots[slot] = val_str(p + 1, (size_t)(q - p - 2));
            }
            p = q;
        } else if (*p == '-' || (*p >= '0' && *p <= '9')) {
            p = json_num_scan(&sc, p, slot >= 0 ? &slots[slot] : NULL);
        } else {
            if (slot >= 0)
                return CEP_ERR;
            p = json_value_skip(&sc, p, 1);
        }
        if (!p)
            return CEP_ERR;
        p = json_ws_skip(p, end);
        if (p < end && *p == '}')
            break;
        if (p == end || *p != ',')
            return CEP_ERR;
        p = json_ws_skip(p + 1, end);
    }
close:
    p = json_ws_skip(p + 1, end);
    return p == end ? CEP_OK : CEP_ERR;
}
