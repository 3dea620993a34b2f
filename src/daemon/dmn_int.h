/* SPDX-License-Identifier: Apache-2.0
 * The CLI verbs and the helpers they share (rule path expansion, loading a
 * rule set with printed diagnostics). */
#ifndef CEPD_DMN_INT_H
#define CEPD_DMN_INT_H

#include "cepd/cep_common.h"
#include "cepd/rule.h"

/* Exit codes (style §5). */
#define DMN_EXIT_OK    0
#define DMN_EXIT_RULES 1 /* rule or config errors, failed tests */
#define DMN_EXIT_USAGE 2 /* usage or system error */

int dmn_cmd_check(int argc, char **argv);
int dmn_cmd_replay(int argc, char **argv);
int dmn_cmd_test(int argc, char **argv);
int dmn_cmd_run(int argc, char **argv);
int dmn_cmd_graph(int argc, char **argv);

/* A growable list of owned strings. */
struct dmn_paths {
    char **v;
    size_t n;
    size_t cap;
};
void dmn_paths_add(struct dmn_paths *p, const char *path);
void dmn_paths_free(struct dmn_paths *p);

/* Expand a rule argument into files: a directory gives its *.yaml files, a
 * glob its matches, a file itself; rule test files (*.test.yaml) are left
 * out of directories and globs.  Sorted within the argument.  Returns
 * CEP_ERR (after printing why) when nothing matches. */
int dmn_expand_rules(const char *arg, struct dmn_paths *out);

/* Append a dead-letter record for a rejected line as one JSON line:
 * source, line number, offset, 1-based column, reason, the raw bytes (at
 * most 4 KiB, non-ASCII escaped so any input stays valid JSON) and whether
 * they were truncated. */
struct sbuf;
struct src_line;
void dmn_dead_letter_json(struct sbuf *sb, const char *src, const struct src_line *l,
                          const char *reason, size_t at);

/* Load rule files, printing every diagnostic to stderr.  NULL on errors. */
struct ruleset *dmn_load_rules(const struct dmn_paths *files, const struct rule_load_opts *opts);

#endif
