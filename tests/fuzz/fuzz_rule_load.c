/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer target for the rule loader: arbitrary bytes as one rule file,
 * through the YAML tree (scalar maps for every style), the schema walkers,
 * append/override, expression compilation and the stream graph.  Any crash,
 * leak, sanitizer report or assertion is a bug; diagnostics are expected.
 * Tested by: tests/fuzz/build.sh, then running the binary. */
#include "cepd/cep_common.h"

#include "cepd/diag.h"
#include "cepd/rule.h"
#include "cepd/rule_yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct diag_list dl;
    if (size > 65536)
        return 0;
    diag_list_init(&dl);
    struct ruleset *rs = rule_load_mem("fuzz.yaml", (const char *)data, size, NULL, &dl);
    CEP_ASSERT(rs || dl.n_errors > 0);
    ruleset_free(rs);
    diag_list_free(&dl);

    /* Invariant of the YAML tree: every mapped value byte lies inside the
     * file, at or after the scalar's first byte. */
    diag_list_init(&dl);
    struct rule_yaml_doc *d = rule_yaml_parse_mem("fuzz.yaml", (const char *)data, size, &dl);
    for (size_t i = 0; d && i < d->n_all; i++) {
        const struct rule_yaml_node *n = d->all[i];
        for (size_t j = 0; n->kind == RULE_YAML_SCALAR && n->vmap && j <= n->len; j++)
            CEP_ASSERT(n->vmap[j] >= n->off && n->vmap[j] <= d->len);
    }
    rule_yaml_doc_free(d);
    diag_list_free(&dl);
    return 0;
}
