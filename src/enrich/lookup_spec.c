/* SPDX-License-Identifier: Apache-2.0
 * Lookup table specs: the `lookups:` mapping of cepd.yaml and of rule test
 * files, read through the positioned YAML tree (errors as FILE:LINE:COL,
 * unknown keys with "did you mean"), and the NAME=TYPE:PATH form of the
 * command line.  Inline `data:` keeps the YAML position of each of its
 * lines, so errors in it point into the YAML file.
 * Tested by: tests/unit/check_lookup.c (specs) */
#include "cepd/cep_common.h"
#include "lookup_int.h"

#include "cepd/expr.h"
#include "cepd/rule_yaml.h"

#include <stdio.h>
#include <string.h>

enum {
    LK_TYPE = 0,
    LK_PATH,
    LK_DATA,
    LK_KEY,
    LK_VALUE,
    LK_DELIM,
    LK_COUNT
};

static const struct rule_yaml_key lookup_keys[LK_COUNT] = {
    [LK_TYPE] = {"type", RULE_YAML_WANT_STR},   [LK_PATH] = {"path", RULE_YAML_WANT_STR},
    [LK_DATA] = {"data", RULE_YAML_WANT_STR},   [LK_KEY] = {"key", RULE_YAML_WANT_STR},
    [LK_VALUE] = {"value", RULE_YAML_WANT_STR}, [LK_DELIM] = {"delimiter", RULE_YAML_WANT_STR},
};

static char *lookup_path(const char *dir, const char *p)
{
    if (p[0] == '/' || !dir || !*dir || strcmp(dir, ".") == 0)
        return cep_strdup(p);
    return cep_asprintf("%s/%s", dir, p);
}

/* Record the YAML position of the first byte of each line of data. */
static void lookup_data_lines(struct lookup_spec *sp, const struct rule_yaml_node *n)
{
    size_t lines = 1;
    for (size_t i = 0; i < n->len; i++)
        lines += n->str[i] == '\n';
    sp->data_line = cep_malloc(lines * sizeof(*sp->data_line));
    sp->data_col = cep_malloc(lines * sizeof(*sp->data_col));
    size_t k = 0;
    for (size_t off = 0; k < lines; off++) {
        if (off == 0 || n->str[off - 1] == '\n') {
            struct diag_loc loc;
            rule_yaml_scalar_loc(n, off, &loc);
            sp->data_line[k] = loc.line;
            sp->data_col[k] = loc.col;
            k++;
        }
    }
    sp->n_data_lines = lines;
}

int lookup_specs_parse(const struct rule_yaml_node *map, const char *dir,
                       struct lookup_spec **specs, size_t *n_specs, struct diag_list *dl)
{
    static const char *const types[LOOKUP_TYPE_COUNT] = {"csv", "json", "cidr"};
    int errors = 0;
    size_t cap = *n_specs;
    if (map->kind != RULE_YAML_MAP) {
        rule_yaml_diag(dl, DIAG_ERROR, map, "expected a mapping of lookup table names");
        return 1;
    }
    for (size_t i = 0; i < map->n; i++) {
        const struct rule_yaml_node *name = map->keys[i], *item = map->items[i], *v[LK_COUNT];
        int e = rule_yaml_walk(item, "a lookup table", lookup_keys, LK_COUNT, v, dl);
        if (item->kind != RULE_YAML_MAP) {
            errors += e;
            continue;
        }
        if (!expr_name_valid(name->str)) {
            rule_yaml_diag(dl, DIAG_ERROR, name,
                           "lookup table names are identifiers (letters, digits, _), not '%s'",
                           name->str);
            e++;
        }
        int type = -1;
        if (!v[LK_TYPE]) {
            if (!rule_yaml_map_get(item, "type")) {
                rule_yaml_diag(dl, DIAG_ERROR, item,
                               "lookup '%s' needs a 'type' (csv, json or cidr)", name->str);
                e++;
            }
        } else if ((type = rule_yaml_get_enum(v[LK_TYPE], "lookup type", types,
                                              LOOKUP_TYPE_COUNT, dl)) < 0) {
            e++;
        }
        if (!rule_yaml_map_get(item, "path") && !rule_yaml_map_get(item, "data")) {
            rule_yaml_diag(dl, DIAG_ERROR, item, "lookup '%s' needs a 'path' or inline 'data'",
                           name->str);
            e++;
        } else if (v[LK_PATH] && v[LK_DATA]) {
            rule_yaml_diag(dl, DIAG_ERROR, v[LK_DATA],
                           "lookup '%s' has both 'path' and 'data'; keep one", name->str);
            e++;
        } else if (v[LK_PATH] && v[LK_PATH]->len == 0) {
            rule_yaml_diag(dl, DIAG_ERROR, v[LK_PATH], "empty path");
            e++;
        }
        if (type != LOOKUP_CSV) {
            for (int k = LK_KEY; k <= LK_DELIM; k++) {
                if (v[k] && type >= 0) {
                    rule_yaml_diag(dl, DIAG_ERROR, v[k],
                                   "'%s' applies only to csv tables, not %s",
                                   lookup_keys[k].name, types[type]);
                    e++;
                }
            }
        }
        if (v[LK_DELIM] && (v[LK_DELIM]->len != 1 || strchr("\"\r\n", v[LK_DELIM]->str[0]))) {
            rule_yaml_diag(dl, DIAG_ERROR, v[LK_DELIM],
                           "the delimiter is one character (not a quote or line break), "
                           "e.g. ';' or \"\\t\"");
            e++;
        }
        errors += e;
        if (e)
            continue;
        CEP_GROW(*specs, cap, *n_specs + 1);
        struct lookup_spec *sp = &(*specs)[(*n_specs)++];
        memset(sp, 0, sizeof(*sp));
        sp->name = cep_strdup(name->str);
        sp->type = (enum lookup_type)type;
        if (v[LK_PATH]) {
            sp->path = lookup_path(dir, v[LK_PATH]->str);
        } else {
            sp->data = cep_strndup(v[LK_DATA]->str, v[LK_DATA]->len);
            sp->data_len = v[LK_DATA]->len;
            lookup_data_lines(sp, v[LK_DATA]);
        }
        sp->key = v[LK_KEY] ? cep_strdup(v[LK_KEY]->str) : NULL;
        sp->value = v[LK_VALUE] ? cep_strdup(v[LK_VALUE]->str) : NULL;
        sp->delimiter = v[LK_DELIM] ? v[LK_DELIM]->str[0] : ',';
        struct diag_loc loc;
        rule_yaml_node_loc(name, &loc);
        sp->decl_file = loc.file ? cep_strdup(loc.file) : NULL;
        sp->decl_line = loc.line;
        sp->decl_col = loc.col;
    }
    return errors;
}

int lookup_spec_parse_arg(const char *arg, struct lookup_spec *out, char *err, size_t err_len)
{
    static const char *const types[LOOKUP_TYPE_COUNT] = {"csv", "json", "cidr"};
    memset(out, 0, sizeof(*out));
    const char *eq = strchr(arg, '=');
    const char *colon = eq ? strchr(eq + 1, ':') : NULL;
    if (!eq || !colon || colon[1] == '\0') {
        snprintf(err, err_len, "'%s' is not NAME=TYPE:PATH (TYPE csv, json or cidr)", arg);
        return CEP_ERR;
    }
    char *name = cep_strndup(arg, (size_t)(eq - arg));
    if (!expr_name_valid(name)) {
        snprintf(err, err_len, "'%s' is not a table name (letters, digits, _)", name);
        cep_free(name);
        return CEP_ERR;
    }
    int type = -1;
    for (int i = 0; i < LOOKUP_TYPE_COUNT; i++) {
        if (strlen(types[i]) == (size_t)(colon - eq - 1) &&
            memcmp(types[i], eq + 1, (size_t)(colon - eq - 1)) == 0)
            type = i;
    }
    if (type < 0) {
        snprintf(err, err_len, "unknown lookup type '%.*s' (csv, json or cidr)",
                 (int)(colon - eq - 1), eq + 1);
        cep_free(name);
        return CEP_ERR;
    }
    out->name = name;
    out->type = (enum lookup_type)type;
    out->path = cep_strdup(colon + 1);
    out->delimiter = ',';
    out->decl_file = cep_strdup("--lookup");
    return CEP_OK;
}

void lookup_spec_clear(struct lookup_spec *s)
{
    cep_free(s->name);
    cep_free(s->path);
    cep_free(s->data);
    cep_free(s->data_line);
    cep_free(s->data_col);
    cep_free(s->key);
    cep_free(s->value);
    cep_free(s->decl_file);
    memset(s, 0, sizeof(*s));
}

void lookup_specs_free(struct lookup_spec *specs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        lookup_spec_clear(&specs[i]);
    cep_free(specs);
}
