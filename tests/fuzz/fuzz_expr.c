/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer target for the expression compiler and VM: the input is
 * compiled as an expression (with macros, lists, results and pattern steps
 * available, one macro cyclic) and, if it compiles, evaluated against an
 * event, then dumped; it is also compiled and rendered as a template.
 * Tested by: tests/fuzz/build.sh, then running tests/fuzz/out/fuzz_expr. */
#include "cepd/cep_common.h"
#include "cepd/diag.h"
#include "cepd/evt.h"
#include "cepd/expr.h"
#include "cepd/sbuf.h"
#include "cepd/val.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fz_macros[][2] = {
    {"m1", "user == \"root\" and m2"},
    {"m2", "port > 10 or m3"},
    {"m3", "m1"},
    {"ok_macro", "lower(user) =~ '^r'"},
};

static bool fz_find_macro(void *ud, const char *name, size_t len, struct expr_macro *out)
{
    for (size_t i = 0; i < CEP_ARRAY_LEN(fz_macros); i++) {
        if (strlen(fz_macros[i][0]) == len && memcmp(fz_macros[i][0], name, len) == 0) {
            memset(out, 0, sizeof(*out));
            out->src.text = fz_macros[i][1];
            out->src.len = strlen(fz_macros[i][1]);
            out->src.file = "macros";
            out->src.base_line = 1;
            out->src.base_col = 1;
            return true;
        }
    }
    return false;
}

static const struct val *fz_find_list(void *ud, const char *name, size_t len)
{
    return len == 1 && name[0] == 'L' ? ud : NULL;
}

static int fz_find_result(void *ud, const char *name, size_t len)
{
    return len == 1 && name[0] == 'R' ? 0 : -1;
}

static int fz_find_step(void *ud, const char *name, size_t len)
{
    if (len == 1 && (name[0] == 'a' || name[0] == 'b'))
        return name[0] - 'a';
    return -1;
}

struct fz_pat {
    const struct evt *ev;
};

static uint32_t fz_count(void *ud, int step)
{
    return step == 0 ? 2 : 0;
}

static const struct evt *fz_event(void *ud, int step, int64_t i)
{
    const struct fz_pat *p = ud;
    return step == 0 && i >= -2 && i < 2 ? p->ev : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct expr_pat_ops ops = {fz_count, fz_event};
    struct val items[2] = {val_str("root", 4), val_int(3)};
    struct val list = {.type = VAL_LIST, .len = 2};
    list.u.items = items;
    struct evt_schema *schema = evt_schema_new();
    struct expr_env env = {.schema = schema, .ud = &list, .find_list = fz_find_list,
                           .find_macro = fz_find_macro, .find_result = fz_find_result,
                           .find_step = fz_find_step, .current_step = (int)(size % 3) - 1};
    struct expr_src src = {.text = (const char *)data, .len = size, .file = "fuzz",
                           .base_line = 1, .base_col = 1};
    struct diag_list dl;
    diag_list_init(&dl);
    struct expr *e = expr_compile(&src, &env, &dl);
    struct expr_tmpl *t = expr_tmpl_compile(&src, &env, &dl);

    struct evt *ev = evt_new();
    evt_reset(ev, "{}", 2, schema->n_slots);
    for (uint32_t i = 0; i < ev->n_slots; i++) {
        switch (i % 5) {
            case 0:
                ev->slots[i] = val_str("root", 4);
                break;
            case 1:
                ev->slots[i] = val_int(22 - (int64_t)i);
                break;
            case 2:
                ev->slots[i] = val_float(1.5);
                break;
            case 3:
                ev->slots[i] = val_str("10.0.0.1", 8);
                break;
            default:
                ev->slots[i].type = VAL_ARR;
                ev->slots[i].u.s = "[1,\"a\"]";
                ev->slots[i].len = 7;
                break;
        }
    }
    struct fz_pat pat = {ev};
    struct val results[1] = {val_int(5)};
    struct expr_counters cnt = {0};
    struct expr_rt *rt = expr_rt_new();
    struct expr_ctx ctx = {.ev = ev, .results = results, .pat = &ops, .pat_ud = &pat,
                           .counters = &cnt, .rt = rt};
    struct sbuf sb;
    sbuf_init(&sb);
    if (e) {
        struct val v;
        expr_eval(e, &ctx, &v);
        val_to_json(&v, &sb);
        (void)expr_eval_bool(e, &ctx);
        expr_dump(e, schema, &sb);
    }
    if (t)
        expr_tmpl_render(t, &ctx, &sb);
    sbuf_free(&sb);
    expr_rt_free(rt);
    evt_unref(ev);
    expr_tmpl_free(t);
    expr_free(e);
    diag_list_free(&dl);
    evt_schema_free(schema);
    return 0;
}
