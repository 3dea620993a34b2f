/* SPDX-License-Identifier: Apache-2.0
 * `cepd check [-c FILE] RULES...`: load and compile rules (and the config
 * when given), print every diagnostic, exit 1 on any error (like nginx -t).
 * Tested by: tests/errors/run.sh, tests/cli/run.sh */
#include "cepd/cep_common.h"
#include "dmn_int.h"

#include "cepd/cfg.h"

#include <stdio.h>
#include <string.h>

static const char dmn_check_help[] =
        "usage: cepd check [-c CONFIG] [RULES...]\n"
        "Load and compile rule files (files, directories or globs) and, with -c,\n"
        "the configuration, its lookup tables and the rules it names. Every error\n"
        "is printed as\n"
        "FILE:LINE:COL: error: message, with the source line and a caret.\n"
        "Exit status: 0 when everything compiles, 1 on errors, 2 on usage errors.\n";

int dmn_cmd_check(int argc, char **argv)
{
    const char *config = NULL;
    struct dmn_paths files = {0};
    int rc = DMN_EXIT_OK;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(dmn_check_help, stdout);
            dmn_paths_free(&files);
            return DMN_EXIT_OK;
        }
        if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
            if (++i == argc) {
                fputs(dmn_check_help, stderr);
                dmn_paths_free(&files);
                return DMN_EXIT_USAGE;
            }
            config = argv[i];
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "cepd check: unknown option '%s'\n", argv[i]);
            fputs(dmn_check_help, stderr);
            dmn_paths_free(&files);
            return DMN_EXIT_USAGE;
        }
        if (dmn_expand_rules(argv[i], &files) != CEP_OK)
            rc = DMN_EXIT_RULES;
    }
    struct cfg *cfg = NULL;
    struct lookup_reg *lookups = NULL;
    struct rule_load_opts opts = {0};
    if (config) {
        cfg = dmn_load_cfg(config, stderr);
        if (!cfg) {
            dmn_paths_free(&files);
            return DMN_EXIT_RULES;
        }
        for (size_t i = 0; i < cfg->n_rules; i++)
            if (dmn_expand_rules(cfg->rules[i], &files) != CEP_OK)
                rc = DMN_EXIT_RULES;
        cfg_rule_load_opts(cfg, &opts);
        lookups = dmn_load_lookups(cfg->lookups, cfg->n_lookups, NULL, 0, stderr);
        if (!lookups) {
            /* Rules naming the tables would only add misleading errors. */
            cfg_free(cfg);
            dmn_paths_free(&files);
            return DMN_EXIT_RULES;
        }
        opts.lookups = lookups;
    }
    if (!files.n) {
        if (rc == DMN_EXIT_OK) {
            fputs(dmn_check_help, stderr);
            rc = DMN_EXIT_USAGE;
        }
        lookup_reg_free(lookups);
        cfg_free(cfg);
        dmn_paths_free(&files);
        return rc;
    }
    struct ruleset *rs = dmn_load_rules(&files, &opts);
    if (!rs) {
        rc = DMN_EXIT_RULES;
    } else if (rc == DMN_EXIT_OK) {
        printf("ok: %zu rules in %zu files\n", rs->n_rules, files.n);
    }
    ruleset_free(rs);
    lookup_reg_free(lookups);
    cfg_free(cfg);
    dmn_paths_free(&files);
    return rc;
}
