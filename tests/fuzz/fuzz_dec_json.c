/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer target for the JSON line decoder and the json_* helpers.  Each
 * input is decoded against a small fixed schema; on success the extracted
 * values are cross-checked: raw objects must re-parse with json_member_get
 * (and agree with the decoder on member "a"), strings must be valid UTF-8.
 * Tested by: tests/fuzz/build.sh (run ./fuzz_dec_json for a while) */
#include "cepd/cep_common.h"
#include "cepd/dec.h"
#include "cepd/evt.h"
#include "cepd/json.h"
#include "cepd/val.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fuzz_paths[] = {"a", "b", "o", "o.a", "o.b.c", "arr", "k\xc3\xa9", ""};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Built once per process: libFuzzer calls this function in a loop. */
    static struct evt_schema *schema;
    static struct evt *ev;
    if (!schema) {
        schema = evt_schema_new();
        for (size_t i = 0; i < CEP_ARRAY_LEN(fuzz_paths); i++)
            evt_schema_slot_dotted(schema, fuzz_paths[i]);
        ev = evt_new();
    }
    if (size > (1u << 20))
        return 0;
    evt_reset(ev, (const char *)data, size, schema->n_slots);
    struct dec_err err;
    int rc = dec_json_line(schema, ev, &err);
    if (rc != CEP_OK) {
        if (!err.reason || err.offset > size)
            abort();
        for (uint32_t i = 0; i < ev->n_slots; i++)
            if (ev->slots[i].type != VAL_NULL)
                abort();
        /* The whole line is not an object either, as json_member_get sees it. */
        char *scratch = cep_malloc(size + 1);
        struct val v;
        if (json_member_get(ev->raw, size, "a", 1, &v, scratch, NULL) == CEP_OK)
            abort();
        cep_free(scratch);
        return 0;
    }
    if (ev->scratch_len > ev->raw_len)
        abort();
    char *scratch = cep_malloc(size + 1);
    /* Differential: the decoder and json_member_get agree on "a". */
    struct val a;
    if (json_member_get(ev->raw, size, "a", 1, &a, scratch, NULL) != CEP_OK)
        abort();
    if (!val_equal(&a, &ev->slots[0]) && !(a.type == VAL_FLOAT && a.u.f != a.u.f))
        abort();
    for (uint32_t i = 0; i < ev->n_slots; i++) {
        const struct val *v = &ev->slots[i];
        struct val m;
        switch (v->type) {
            case VAL_STR:
                if (!json_utf8_valid(v->u.s, v->len))
                    abort();
                break;
            case VAL_OBJ:
                if (v->u.s < ev->raw || v->u.s + v->len > ev->raw + ev->raw_len)
                    abort();
                if (json_member_get(v->u.s, v->len, "a", 1, &m, scratch, NULL) != CEP_OK)
                    abort();
                break;
            case VAL_ARR:
                if (v->u.s[0] != '[' || v->u.s[v->len - 1] != ']')
                    abort();
                (void)json_array_count(v->u.s, v->len);
                break;
            default:
                break;
        }
    }
    cep_free(scratch);
    return 0;
}
