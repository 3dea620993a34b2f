/* SPDX-License-Identifier: Apache-2.0
 * The cepd command line: `cepd COMMAND [ARGS]` dispatches to a verb (run,
 * check, replay, test, graph, savepoint, checkpoint); `cepd -c FILE` is
 * `cepd run -c FILE`.
 * Tested by: tests/cli/run.sh */
#include "cepd/cep_common.h"
#include "dmn_int.h"

#include <stdio.h>
#include <string.h>

static const struct dmn_verb {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} dmn_verbs[] = {
    {"run", dmn_cmd_run, "run the daemon with a configuration file"},
    {"check", dmn_cmd_check, "load and compile rules, print every error"},
    {"replay", dmn_cmd_replay, "run rules over JSON-lines files or stdin, print alerts"},
    {"test", dmn_cmd_test, "run rule test files (*.test.yaml)"},
    {"graph", dmn_cmd_graph, "print the NFA of pattern rules as Graphviz DOT"},
    {"savepoint", dmn_cmd_savepoint, "ask the running daemon for a savepoint"},
    {"checkpoint", dmn_cmd_checkpoint, "inspect a checkpoint or savepoint file"},
};

static void dmn_usage(FILE *out)
{
    fprintf(out, "usage: cepd COMMAND [OPTIONS] [ARGS]\n"
                 "       cepd -c FILE          (same as cepd run -c FILE)\n"
                 "       cepd --version\n\ncommands:\n");
    for (size_t i = 0; i < CEP_ARRAY_LEN(dmn_verbs); i++)
        fprintf(out, "  %-10s %s\n", dmn_verbs[i].name, dmn_verbs[i].summary);
    fprintf(out, "\n'cepd COMMAND --help' describes a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        dmn_usage(stderr);
        return DMN_EXIT_USAGE;
    }
    const char *verb = argv[1];
    if (strcmp(verb, "--version") == 0 || strcmp(verb, "-V") == 0) {
        printf("cepd %s\n", PACKAGE_VERSION);
        return DMN_EXIT_OK;
    }
    if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0 || strcmp(verb, "help") == 0) {
        dmn_usage(stdout);
        return DMN_EXIT_OK;
    }
    if (strcmp(verb, "-c") == 0 || strncmp(verb, "--config", 8) == 0)
        return dmn_cmd_run(argc, argv);
    for (size_t i = 0; i < CEP_ARRAY_LEN(dmn_verbs); i++)
        if (strcmp(verb, dmn_verbs[i].name) == 0)
            return dmn_verbs[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "cepd: unknown command '%s'\n", verb);
    dmn_usage(stderr);
    return DMN_EXIT_USAGE;
}
