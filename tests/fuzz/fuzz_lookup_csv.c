/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer target for the lookup table parsers, CSV first: the first byte
 * picks the table type (mostly CSV), the delimiter and whether a value
 * column is named; the rest is the table.  A table that loads is probed
 * with keys cut from the input (every column, membership), and every value
 * must stay inside the table.  Errors must be reported, never crash.
 * Tested by: tests/fuzz/build.sh, then running tests/fuzz/out/fuzz_lookup_csv. */
#include "cepd/cep_common.h"
#include "cepd/diag.h"
#include "cepd/lookup.h"
#include "cepd/val.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fz_touch(const struct val *v)
{
    volatile char sink = 0;
    if (v->type == VAL_STR || v->type == VAL_OBJ || v->type == VAL_ARR) {
        for (uint32_t i = 0; i < v->len; i++)
            sink ^= v->u.s[i];
    }
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char delims[] = {',', ';', '\t', '|'};
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    char *text = cep_malloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    struct lookup_spec spec = {0};
    spec.name = (char *)"t";
    spec.type = (mode & 7) == 6 ? LOOKUP_JSON : (mode & 7) == 7 ? LOOKUP_CIDR : LOOKUP_CSV;
    spec.data = text;
    spec.data_len = size - 1;
    spec.delimiter = delims[(mode >> 3) & 3];
    spec.value = (mode & 0x20) ? (char *)"v" : NULL;
    spec.key = (mode & 0x40) ? (char *)"k" : NULL;
    spec.decl_file = (char *)"fuzz.yaml";
    struct diag_list dl;
    diag_list_init(&dl);
    struct lookup_reg *reg = lookup_reg_load(&spec, 1, &dl);
    if (reg) {
        const struct lookup_table *t = lookup_reg_table(reg, 0);
        size_t n_cols = lookup_table_n_columns(t);
        /* Keys: every run of bytes between separators of the input. */
        size_t start = 0;
        for (size_t i = 0; i <= spec.data_len; i++) {
            if (i < spec.data_len && !strchr(",;\t|\n\"{}: ", data[1 + i]))
                continue;
            struct val key = val_str((const char *)data + 1 + start, i - start), out;
            if (lookup_has(t, &key) == LOOKUP_FOUND && spec.type != LOOKUP_CIDR) {
                if (lookup_get(t, &key, LOOKUP_VALUE, &out) != LOOKUP_FOUND)
                    __builtin_trap(); /* has and get must agree */
                fz_touch(&out);
                for (size_t c = 0; c < n_cols; c++) {
                    lookup_get(t, &key, (int)c, &out);
                    fz_touch(&out);
                }
            }
            start = i + 1;
        }
        struct val k = val_int((int64_t)size);
        struct val out;
        lookup_get(t, &k, LOOKUP_VALUE, &out);
        lookup_reg_free(reg);
    } else if (!diag_has_errors(&dl)) {
        __builtin_trap(); /* a failed load always says why */
    }
    diag_list_free(&dl);
    cep_free(text);
    return 0;
}
