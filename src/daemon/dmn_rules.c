/* SPDX-License-Identifier: Apache-2.0
 * Helpers shared by the CLI verbs: rule arguments (directories, globs and
 * files) expanded and loaded, and lookup tables loaded, with every
 * diagnostic printed, and the dead-letter record for rejected input lines.
 * Tested by: tests/cli/run.sh */
#include "cepd/cep_common.h"
#include "dmn_int.h"

#include "cepd/cfg.h"
#include "cepd/lookup.h"
#include "cepd/sbuf.h"
#include "cepd/src_lines.h"

#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

void dmn_paths_add(struct dmn_paths *p, const char *path)
{
    CEP_GROW(p->v, p->cap, p->n + 1);
    p->v[p->n++] = cep_strdup(path);
}

void dmn_paths_free(struct dmn_paths *p)
{
    for (size_t i = 0; i < p->n; i++)
        cep_free(p->v[i]);
    cep_free(p->v);
    memset(p, 0, sizeof(*p));
}

static bool dmn_is_test_file(const char *path)
{
    size_t n = strlen(path);
    return n >= 10 && strcmp(path + n - 10, ".test.yaml") == 0;
}

int dmn_expand_rules(const char *arg, struct dmn_paths *out)
{
    struct stat st;
    bool exists = stat(arg, &st) == 0;
    if (exists && !S_ISDIR(st.st_mode)) {
        /* A glob expanded by the shell names the test files too. */
        if (dmn_is_test_file(arg))
            fprintf(stderr, "cepd: %s: a rule test file, skipped (run it with cepd test)\n", arg);
        else
            dmn_paths_add(out, arg);
        return CEP_OK;
    }
    char *pattern = exists ? cep_asprintf("%s/*.yaml", arg) : cep_strdup(arg);
    glob_t g;
    int rc = glob(pattern, 0, NULL, &g);
    size_t added = 0;
    if (rc == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) {
            if (dmn_is_test_file(g.gl_pathv[i]))
                continue;
            dmn_paths_add(out, g.gl_pathv[i]);
            added++;
        }
    }
    if (rc == 0 || rc == GLOB_NOMATCH)
        globfree(&g);
    cep_free(pattern);
    if (!added) {
        fprintf(stderr, "cepd: %s: no rule files found\n", arg);
        return CEP_ERR;
    }
    return CEP_OK;
}

struct ruleset *dmn_load_rules(const struct dmn_paths *files, const struct rule_load_opts *opts)
{
    struct diag_list dl;
    diag_list_init(&dl);
    struct ruleset *rs = rule_load((const char *const *)files->v, files->n, opts, &dl);
    diag_print(&dl, stderr);
    if (!rs && !diag_has_errors(&dl))
        fprintf(stderr, "cepd: rules failed to load\n");
    diag_list_free(&dl);
    return rs;
}

struct cfg *dmn_load_cfg(const char *path, FILE *out)
{
    struct diag_list dl;
    diag_list_init(&dl);
    struct cfg *cfg = cfg_load(path, &dl);
    diag_print(&dl, out);
    diag_list_free(&dl);
    return cfg;
}

struct lookup_reg *dmn_load_lookups(const struct lookup_spec *a, size_t n_a,
                                    const struct lookup_spec *b, size_t n_b, FILE *out)
{
    /* Borrowed: lookup_reg_load copies the specs. */
    struct lookup_spec *all = cep_calloc(n_a + n_b + 1, sizeof(*all));
    if (n_a)
        memcpy(all, a, n_a * sizeof(*all));
    if (n_b)
        memcpy(all + n_a, b, n_b * sizeof(*all));
    struct diag_list dl;
    diag_list_init(&dl);
    struct lookup_reg *reg = lookup_reg_load(all, n_a + n_b, &dl);
    diag_print(&dl, out);
    diag_list_free(&dl);
    cep_free(all);
    return reg;
}

void dmn_dead_letter_json(struct sbuf *sb, const char *src, const struct src_line *l,
                          const char *reason, size_t at)
{
    sbuf_puts(sb, "{\"source\":");
    sbuf_json_str(sb, src, strlen(src));
    sbuf_printf(sb, ",\"line\":%" PRIu64 ",\"offset\":%" PRIu64 ",\"column\":%zu,\"reason\":",
                l->line_no, l->offset, at + 1);
    sbuf_json_str(sb, reason, strlen(reason));
    /* The raw bytes may be invalid UTF-8: carry them as a JSON string with
     * anything outside printable ASCII escaped as \u00XX (one per byte). */
    sbuf_puts(sb, ",\"raw\":\"");
    size_t n = l->len > 4096 ? 4096 : l->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)l->data[i];
        if (c == '"' || c == '\\')
            sbuf_printf(sb, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            sbuf_printf(sb, "\\u%04x", c);
        else
            sbuf_putc(sb, (char)c);
    }
    sbuf_printf(sb, "\",\"truncated\":%s}\n", n < l->len || l->too_long ? "true" : "false");
}
