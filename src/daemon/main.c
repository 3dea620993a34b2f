/* SPDX-License-Identifier: Apache-2.0
 * The cepd command line: dispatches to the verbs (run, check, replay, test).
 * Tested by: tests/cli/run.sh */
#include "cepd/cep_common.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("cepd %s\n", PACKAGE_VERSION);
        return 0;
    }
    fprintf(stderr, "usage: cepd COMMAND [ARGS]\n");
    return 2;
}
