/* SPDX-License-Identifier: Apache-2.0
 * `cepd graph RULES... [--rule ID]`: load rule files and print the NFA of
 * each pattern rule (or of the one named) as Graphviz DOT, one digraph per
 * rule in load order, from nfa_prog_dot (deterministic, so goldens pin it).
 * Tested by: tests/golden/graph/run.sh */
#include "cepd/cep_common.h"
#include "dmn_int.h"

#include <stdio.h>
#include <string.h>

#include "cepd/nfa.h"
#include "cepd/sbuf.h"

static const char dmn_graph_help[] =
        "usage: cepd graph RULES... [--rule ID]\n"
        "Load rule files (files, directories or globs) and print the state table of\n"
        "each pattern rule as a Graphviz DOT digraph (render with `dot -Tsvg`):\n"
        "states, and edges labelled take / ignore / proceed with their conditions.\n"
        "  --rule ID   print only this rule\n"
        "Exit status: 0 on success, 1 when the rules do not load or ID is not a\n"
        "pattern rule, 2 on usage errors.\n";

static void dmn_graph_one(const struct rule *r, struct sbuf *sb)
{
    sbuf_reset(sb);
    nfa_prog_dot(r->nfa, r->id, sb);
    fwrite(sb->buf, 1, sb->len, stdout);
}

/* Runs on the main thread; prints diagnostics to stderr, DOT to stdout. */
int dmn_cmd_graph(int argc, char **argv)
{
    const char *only = NULL;
    struct dmn_paths files = {0};
    int rc = DMN_EXIT_OK;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(dmn_graph_help, stdout);
            dmn_paths_free(&files);
            return DMN_EXIT_OK;
        }
        if (strcmp(argv[i], "--rule") == 0 || strcmp(argv[i], "-r") == 0) {
            if (++i == argc) {
                fputs(dmn_graph_help, stderr);
                dmn_paths_free(&files);
                return DMN_EXIT_USAGE;
            }
            only = argv[i];
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "cepd graph: unknown option '%s'\n", argv[i]);
            fputs(dmn_graph_help, stderr);
            dmn_paths_free(&files);
            return DMN_EXIT_USAGE;
        }
        if (dmn_expand_rules(argv[i], &files) != CEP_OK)
            rc = DMN_EXIT_RULES;
    }
    if (!files.n) {
        if (rc == DMN_EXIT_OK) {
            fputs(dmn_graph_help, stderr);
            rc = DMN_EXIT_USAGE;
        }
        dmn_paths_free(&files);
        return rc;
    }
    struct ruleset *rs = dmn_load_rules(&files, NULL);
    dmn_paths_free(&files);
    if (!rs)
        return DMN_EXIT_RULES;
    struct sbuf sb;
    sbuf_init(&sb);
    if (only) {
        const struct rule *r = ruleset_find_rule(rs, only);
        if (!r) {
            fprintf(stderr, "cepd graph: no rule '%s'\n", only);
            rc = DMN_EXIT_RULES;
        } else if (r->kind != RULE_PATTERN || !r->nfa) {
            fprintf(stderr, "cepd graph: rule '%s' is kind %s, not a pattern rule\n", only,
                    rule_kind_name(r->kind));
            rc = DMN_EXIT_RULES;
        } else {
            dmn_graph_one(r, &sb);
        }
    } else {
        size_t n = 0;
        for (size_t i = 0; i < rs->n_rules; i++) {
            const struct rule *r = rs->rules[i];
            if (r->kind != RULE_PATTERN || !r->nfa)
                continue;
            dmn_graph_one(r, &sb);
            n++;
        }
        if (n == 0)
            fprintf(stderr, "cepd graph: no pattern rules in these files\n");
    }
    sbuf_free(&sb);
    ruleset_free(rs);
    return rc;
}
