/* SPDX-License-Identifier: Apache-2.0
 * The compiled-form hash of a rule: cep_hasher over a canonical form of the
 * rule's final YAML (after append/override; values only, so quoting style,
 * whitespace, comments and the order of a rule's keys and of a pattern
 * step's keys do not count), its resolved kind, severity, stream and
 * enabled flag, its stream's time settings, and the bodies of the macros
 * and lists its expressions used.  Reload and
 * savepoints match state by (rule id, hash).
 * Tested by: tests/unit/check_rule.c (stability and sensitivity) */
#include "cepd/cep_common.h"
#include "rule_int.h"

#include <string.h>

#include "cepd/hash.h"

/* Depth is bounded by RULE_YAML_MAX_DEPTH, enforced when the tree is built.
 * With sort_keys, mappings are hashed in key order (pattern steps: the order
 * of a step's keys means nothing, nor the order of a window's keys; the
 * order of fields in an emit does, and of aggregates, which are numbered). */
static void rule_hash_node(struct cep_hasher *h, const struct rule_yaml_node *n, bool sort_keys)
{
    switch (n->kind) {
    case RULE_YAML_SCALAR:
        cep_hasher_piece(h, "s", 1);
        cep_hasher_piece(h, n->str, n->len);
        break;
    case RULE_YAML_SEQ:
        cep_hasher_piece(h, "l", 1);
        cep_hasher_u64(h, n->n);
        for (size_t i = 0; i < n->n; i++)
            rule_hash_node(h, n->items[i], sort_keys);
        break;
    case RULE_YAML_MAP: {
        size_t *order = cep_calloc(n->n + 1, sizeof(*order));
        for (size_t i = 0; i < n->n; i++) {
            size_t j = i;
            for (; sort_keys && j > 0 && strcmp(n->keys[order[j - 1]]->str, n->keys[i]->str) > 0;
                 j--)
                order[j] = order[j - 1];
            order[j] = i;
        }
        cep_hasher_piece(h, "m", 1);
        cep_hasher_u64(h, n->n);
        for (size_t k = 0; k < n->n; k++) {
            size_t i = order[k];
            cep_hasher_piece(h, n->keys[i]->str, n->keys[i]->len);
            rule_hash_node(h, n->items[i], sort_keys);
        }
        cep_free(order);
        break;
    }
    default:
        break;
    }
}

static void rule_hash_str(struct cep_hasher *h, const char *s)
{
    cep_hasher_piece(h, s ? s : "", s ? strlen(s) : 0);
}

uint64_t rule_hash_compute(const struct rule_def *def, const struct rule *r,
                           const struct rule_stream *st, const char *time_field,
                           struct rule_macro_def *const *used_macros, size_t n_used_macros,
                           const struct rule_list_rt *const *used_lists, size_t n_used_lists)
{
    struct cep_hasher h;
    cep_hasher_init(&h);
    rule_hash_str(&h, "cepd-rule-1");
    rule_hash_str(&h, r->id);
    cep_hasher_u64(&h, (uint64_t)r->kind);
    cep_hasher_u64(&h, (uint64_t)r->severity);
    cep_hasher_u64(&h, r->enabled);
    for (size_t k = 0; k < RK_COUNT; k++) {
        if (k == RK_ID || k == RK_KIND || k == RK_SEVERITY || k == RK_STREAM || k == RK_ENABLED)
            continue; /* hashed as resolved values above and below */
        if (!def->v[k] && def->extra[k].n == 0)
            continue;
        rule_hash_str(&h, rule_keys[k].name);
        if (def->v[k])
            rule_hash_node(&h, def->v[k], k == RK_PATTERN || k == RK_WINDOW);
        for (size_t i = 0; i < def->extra[k].n; i++)
            rule_hash_node(&h, def->extra[k].v[i], false);
    }
    rule_hash_str(&h, "stream");
    rule_hash_str(&h, st->name);
    cep_hasher_u64(&h, st->time.has_time);
    if (st->time.has_time) {
        rule_hash_str(&h, time_field);
        cep_hasher_u64(&h, (uint64_t)st->time.watermark);
        cep_hasher_u64(&h, (uint64_t)st->time.unit);
        cep_hasher_u64(&h, (uint64_t)st->time.max_out_of_orderness);
        cep_hasher_u64(&h, (uint64_t)st->time.allowed_lateness);
        cep_hasher_u64(&h, (uint64_t)st->time.idle_timeout);
    }
    for (size_t i = 0; i < n_used_macros; i++) {
        rule_hash_str(&h, "macro");
        rule_hash_str(&h, used_macros[i]->name->str);
        cep_hasher_piece(&h, used_macros[i]->body.text, used_macros[i]->body.len);
    }
    for (size_t i = 0; i < n_used_lists; i++) {
        const struct rule_list_rt *l = used_lists[i];
        rule_hash_str(&h, "list");
        rule_hash_str(&h, l->name);
        cep_hasher_u64(&h, l->val.len);
        for (size_t j = 0; j < l->val.len; j++) {
            const struct val *v = &l->items[j];
            cep_hasher_u64(&h, v->type);
            if (v->type == VAL_STR)
                cep_hasher_piece(&h, v->u.s, v->len);
            else
                cep_hasher_u64(&h, (uint64_t)v->u.i);
        }
    }
    return cep_hasher_u64_result(&h);
}
