/* SPDX-License-Identifier: Apache-2.0
 * The rule index of a stream (issue 7): each rule's `when` is split into
 * its top-level conjuncts, identical conjuncts of different rules become
 * one predicate (evaluated once per event through a memo).  A rule with a
 * conjunct `field == const` or `field in [...]` is listed under that
 * constant (of its candidates, the one on the field with the most distinct
 * constants; the conjuncts before it must be quiet, or guarded: a field
 * compared with a constant bumps a counter only for a value of another
 * type, and such a value makes the event visit the rules it guards).  The
 * other rules are grouped by their first conjunct, visited only when it
 * holds.  An event visits, in rule order, the rules listed under its
 * values, the groups whose predicate held and the rules without a `when`,
 * less the rules whose range or regex literal pre-check fails: `field OP
 * int` conjuncts (OP <, <=, >, >=, ==) reached through quiet or guarded
 * conjuncts give a rule an interval of its field, and an int (or null)
 * value outside it means the `when` is false without a counter, unless a
 * guard before it sees a value of another class; likewise a `field =~`
 * whose matches start with one of a few literals, for a null value or a
 * string starting with none of them.
 * Per event, the lists are marked in a bitmap (the memo's, so no
 * allocation) and visited in position order; a key's rules with a range
 * pre-check are kept by low end and picked by binary search, and a string
 * key found makes its == and in predicates true in the memo.  What an
 * event reads is kept compact (short strings inline, pre-checks in the
 * rule record): with many rules, cache misses cost as much as instructions.
 * Exactness: a skipped rule's `when` would have been false and bumped no
 * counter; a visited rule's `when` is evaluated whole (conjuncts through
 * the memo, counters replayed), so lists only need to over-approximate.
 * Tested by: tests/unit/check_rule_index.c, tests/rules/ */
#include "cepd/cep_common.h"
#include "rule_int.h"

#include <string.h>

/* Constants as keys: strings by bytes; numbers by their value as a double
 * (int 1 and float 1.0 are equal under ==; two ints a double cannot tell
 * apart share a list, which over-approximates). */
enum rule_ix_cls {
    RULE_IX_NONE = 0,
    RULE_IX_STR,
    RULE_IX_NUM,
    RULE_IX_CLS_COUNT
};

#define RULE_IX_KEY_INLINE 16

/* What a probe and a found key read come first: the hash, and a short
 * string's bytes inline (the constant itself lies elsewhere, a cache miss
 * away). */
struct rule_ix_key {
    uint64_t h;
    uint32_t len;
    uint8_t cls;      /* RULE_IX_NONE: empty slot */
    char inl[RULE_IX_KEY_INLINE]; /* a string's first bytes */
    uint32_t off, n;  /* the rules' positions: pool[off..off+n) */
    /* pool[off..off+n_plain) ascending; the other n - n_plain, whose
     * pre-check is on slot r_slot, are ranges[r_off..], by the low end of
     * their range, the widest r_width wide, their pre-check guards r_mask
     * (see visit_ranged). */
    uint32_t n_plain;
    /* A string key: the predicates `field == key` and `field in [..key..]`
     * that a value equal to it makes true (pool[t_off..t_off+t_n)). */
    uint32_t t_off, t_n;
    uint32_t r_off;
    int32_t r_slot;
    uint32_t r_mask;
    uint64_t r_width;
    const char *s;    /* into a predicate's constants */
    double d;
    uint32_t fill;    /* while building */
    uint32_t last;    /* while building: last position + 1 */
};

/* One indexed field: its constants, and the lists for values of another
 * class (an == of a string constant counts a mismatch on a number, so such
 * rules are visited) and for values of no indexed class (every rule). */
struct rule_ix_field {
    int32_t slot;
    struct rule_ix_key *tab; /* open addressing, cap a power of two */
    size_t cap;
    size_t n_keys;
    uint32_t nonstr_off, nonstr_n; /* == a number: visited for string values */
    uint32_t nonnum_off, nonnum_n; /* == a string: visited for number values */
    uint32_t all_off, all_n;       /* every rule of the field: other values */
};

/* A rule's pre-checks.  Range: skipped when the value of slot is null or
 * an int outside [lo, hi], and no pre-check guard in mask (bits into
 * rule_index.pguards) sees a value of another class.  Literal: skipped
 * when the value of lslot is null or a string starting with none of
 * lits[lit_off..lit_off+n_lits) (a `=~` then false without a counter), and
 * no guard in lmask sees a value of another class. */
struct rule_ix_pre {
    int32_t slot; /* -1: none */
    uint32_t mask;
    int64_t lo, hi;
    int32_t lslot; /* -1: none */
    uint32_t lmask;
    uint32_t lit_off, n_lits;
};

/* A range pre-check in a key's list: its bounds beside the position, so
 * that picking by range reads one array. */
struct rule_ix_range {
    int64_t lo, hi;
    uint32_t pos;
};

/* A rule by position: what a visit reads, its pre-check included (one
 * place in memory). */
struct rule_ix_rule {
    uint32_t ri;
    uint32_t first, n; /* predicates: conj[first..first+n) */
    int32_t field;     /* index into fields, or -1 */
    uint32_t pick;     /* with a field: its conjunct (conj[first + pick]) */
    bool opaque;       /* `when` reads more than the event: evaluated whole */
    const struct expr *when; /* opaque: the rule's `when` */
    struct rule_ix_pre pre;
};

/* Rules indexed on a later conjunct, behind a conjunct comparing `slot`
 * with a constant of class cls: visited when the value has another class. */
struct rule_ix_guard {
    int32_t slot;
    uint8_t cls;
    uint32_t off, n;
};

/* Rules (not indexed) whose first conjunct is predicate pred. */
struct rule_ix_group {
    uint32_t pred;
    uint32_t off, n;
};

/* Predicates decided without the VM for the common values: `field OP
 * const` (OP ==, !=, <, <=, >, >=; const a string or an int) when the value
 * has the constant's type or is null; `field =~ "^lit..."` and `field =~
 * "^(lit|lit...)..."` when the value is null or a string starting with
 * none of the literals; `field in [...]` always (it never counts).  Other
 * values go through expr_eval_bool (which counts mismatches). */
enum rule_ix_fast_kind {
    RULE_IX_FAST_NONE = 0,
    RULE_IX_FAST_CMP,
    RULE_IX_FAST_PREFIX,
    RULE_IX_FAST_IN,
    RULE_IX_FAST_COUNT
};

struct rule_ix_fast {
    uint8_t kind;
    uint8_t op;       /* CMP: enum expr_cmp, as seen from the field */
    int32_t slot;
    uint32_t lit_off; /* PREFIX: rule_index.lits[lit_off..lit_off+n_lits) */
    uint32_t n_lits;
    struct val c;     /* CMP, IN: into the predicate's constants */
    char inl[RULE_IX_KEY_INLINE]; /* CMP: a short string constant's bytes */
};

#define RULE_IX_MAX_LITS 8


struct rule_index {
    struct rule_ix_rule *rules;
    size_t n_rules;
    uint32_t *conj;
    size_t n_conj, cap_conj;
    struct expr **preds;
    uint64_t *pred_hash; /* while building: by predicate */
    struct rule_ix_fast *fast;
    size_t n_preds, cap_preds;
    uint32_t *pred_tab; /* while building: predicate + 1 by hash */
    size_t pred_cap;
    struct expr_lit *lits; /* into the predicates' regex patterns */
    size_t n_lits, cap_lits;
    struct rule_ix_field fields[RULE_INDEX_MAX_FIELDS];
    size_t n_fields;
    struct rule_ix_guard guards[RULE_INDEX_MAX_GUARDS];
    size_t n_guards;
    struct rule_ix_guard pguards[RULE_INDEX_MAX_GUARDS]; /* slot, cls only */
    size_t n_pguards;
    struct rule_ix_group *groups;
    size_t n_groups;
    uint32_t *pool;
    size_t n_pool, cap_pool;
    struct rule_ix_range *ranges; /* keys' ranged parts */
    size_t n_ranges, cap_ranges;
    uint32_t always_off, always_n; /* no `when`, or an opaque one */
    bool visits_all;               /* always_n == n_rules: see rule_index_visits_all */
};

/* A predicate's answer for generation gen; what it counted, rarely
 * anything, is in the memo's cnt (ents stay small: one is read for every
 * conjunct of every rule visited). */
struct rule_index_memo_ent {
    uint32_t gen;
    bool val;
    bool counted;
};

struct rule_index_memo_cnt {
    uint32_t mismatch;
    uint32_t re_limit;
};

/* FNV-1a: keys are short (event types, user names) and only this process
 * sees the hash, so the cheapest good-enough one. */
static uint64_t key_hash_str(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

/* A number's bits, mixed (murmur3's finaliser): the table takes the low
 * bits, and ints as doubles differ only in their high ones. */
static uint64_t key_hash_num(double d)
{
    uint64_t h;
    memcpy(&h, &d, sizeof(h));
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

/* The class of a value: what a string or number constant compares with
 * without bumping a counter (besides null). */
static uint8_t val_cls(const struct val *v)
{
    if (v->type == VAL_STR)
        return RULE_IX_STR;
    if (v->type == VAL_INT || v->type == VAL_FLOAT)
        return RULE_IX_NUM;
    return RULE_IX_NONE;
}

/* A string's probe: what key_eq and field_lookup read (not inl). */
static inline void key_str(const struct val *v, struct rule_ix_key *k)
{
    k->cls = RULE_IX_STR;
    k->s = v->u.s;
    k->len = v->len;
    k->h = key_hash_str(v->u.s, v->len);
}

/* A number's probe, -0.0 as 0.0 (they are equal); false for NaN, which
 * equals nothing (k untouched). */
static inline bool key_num(double d, struct rule_ix_key *k)
{
    if (d != d)
        return false;
    k->cls = RULE_IX_NUM;
    k->d = d == 0.0 ? 0.0 : d;
    k->h = key_hash_num(k->d);
    return true;
}

/* A constant's class and key, or RULE_IX_NONE if it cannot be a key. */
static enum rule_ix_cls key_of(const struct val *v, struct rule_ix_key *k)
{
    memset(k, 0, sizeof(*k));
    if (v->type == VAL_STR) {
        key_str(v, k);
        memcpy(k->inl, v->u.s, v->len < RULE_IX_KEY_INLINE ? v->len : RULE_IX_KEY_INLINE);
    } else if (val_is_num(v)) {
        key_num(val_num(v), k);
    }
    return (enum rule_ix_cls)k->cls;
}

/* The values an indexed constant c lists a rule under: c itself (the
 * constant of `==`) or its items (the list of `in`). */
static uint32_t const_n_keys(const struct val *c)
{
    return c->type == VAL_LIST ? c->len : 1;
}

static const struct val *const_key(const struct val *c, uint32_t i)
{
    return c->type == VAL_LIST ? &c->u.items[i] : c;
}

/* Whether c (the constant of `==`, or the list of `in`) can index a rule. */
static bool indexable(const struct val *c)
{
    struct rule_ix_key k;
    uint32_t n = const_n_keys(c);
    for (uint32_t i = 0; i < n; i++)
        if (key_of(const_key(c, i), &k) == RULE_IX_NONE)
            return false;
    return n > 0;
}

/* Whether table key a equals probe b (b->inl not needed). */
static bool key_eq(const struct rule_ix_key *a, const struct rule_ix_key *b)
{
    if (a->cls != b->cls || a->h != b->h)
        return false;
    if (a->cls == RULE_IX_STR)
        return a->len == b->len &&
               cep_bytes_eq(a->len <= RULE_IX_KEY_INLINE ? a->inl : a->s, b->s, a->len);
    return a->d == b->d;
}

/* Key k in f's table, or NULL; a field whose rules all lacked room for
 * their guards has no table. */
static struct rule_ix_key *field_lookup(const struct rule_ix_field *f,
                                        const struct rule_ix_key *k)
{
    if (!f->cap)
        return NULL;
    size_t mask = f->cap - 1;
    for (size_t i = k->h & mask;; i = (i + 1) & mask) {
        struct rule_ix_key *e = &f->tab[i];
        if (e->cls == RULE_IX_NONE)
            return NULL;
        if (key_eq(e, k))
            return e;
    }
}

static struct rule_ix_key *field_get(struct rule_ix_field *f, const struct rule_ix_key *k)
{
    if ((f->n_keys + 1) * 2 > f->cap) {
        struct rule_ix_key *old = f->tab;
        size_t old_cap = f->cap;
        f->cap = old_cap ? old_cap * 2 : 16;
        f->tab = cep_calloc(f->cap, sizeof(*f->tab));
        for (size_t i = 0; i < old_cap; i++) {
            if (old[i].cls == RULE_IX_NONE)
                continue;
            size_t mask = f->cap - 1, j = old[i].h & mask;
            while (f->tab[j].cls != RULE_IX_NONE)
                j = (j + 1) & mask;
            f->tab[j] = old[i];
        }
        cep_free(old);
    }
    size_t mask = f->cap - 1;
    size_t i = k->h & mask;
    for (; f->tab[i].cls != RULE_IX_NONE; i = (i + 1) & mask)
        if (key_eq(&f->tab[i], k))
            return &f->tab[i];
    f->tab[i] = *k;
    f->n_keys++;
    return &f->tab[i];
}

/* The predicate id of conjunct e, which the index takes (freed if an equal
 * one is already there). */
static uint32_t pred_take(struct rule_index *ix, struct expr *e)
{
    uint64_t h = expr_shape_hash(e);
    if ((ix->n_preds + 1) * 2 > ix->pred_cap) {
        cep_free(ix->pred_tab);
        ix->pred_cap = ix->pred_cap ? ix->pred_cap * 2 : 64;
        ix->pred_tab = cep_calloc(ix->pred_cap, sizeof(*ix->pred_tab));
        for (uint32_t p = 0; p < ix->n_preds; p++) {
            size_t j = ix->pred_hash[p] & (ix->pred_cap - 1);
            while (ix->pred_tab[j])
                j = (j + 1) & (ix->pred_cap - 1);
            ix->pred_tab[j] = p + 1;
        }
    }
    size_t j = h & (ix->pred_cap - 1);
    for (; ix->pred_tab[j]; j = (j + 1) & (ix->pred_cap - 1)) {
        uint32_t p = ix->pred_tab[j] - 1;
        if (ix->pred_hash[p] == h && expr_same(ix->preds[p], e)) {
            expr_free(e);
            return p;
        }
    }
    ix->pred_tab[j] = (uint32_t)ix->n_preds + 1;
    size_t cap = ix->cap_preds, cap2 = ix->cap_preds;
    CEP_GROW(ix->preds, ix->cap_preds, ix->n_preds + 1);
    CEP_GROW(ix->pred_hash, cap, ix->n_preds + 1);
    CEP_GROW(ix->fast, cap2, ix->n_preds + 1);
    ix->preds[ix->n_preds] = e;
    ix->pred_hash[ix->n_preds] = h;
    struct rule_ix_fast *f = &ix->fast[ix->n_preds];
    memset(f, 0, sizeof(*f));
    enum expr_cmp op;
    const struct val *c;
    int slot = expr_cmp_const(e, &op, &c);
    struct expr_lit lits[RULE_IX_MAX_LITS];
    size_t n_lits;
    if (slot >= 0 && (c->type == VAL_STR || c->type == VAL_INT)) {
        f->kind = RULE_IX_FAST_CMP;
        f->op = (uint8_t)op;
        f->slot = slot;
        f->c = *c;
        if (c->type == VAL_STR && c->len <= RULE_IX_KEY_INLINE)
            memcpy(f->inl, c->u.s, c->len);
    } else if ((slot = expr_eq_const(e, &c)) >= 0 && c->type == VAL_LIST) {
        f->kind = RULE_IX_FAST_IN;
        f->slot = slot;
        f->c = *c;
    } else if ((slot = expr_match_prefixes(e, lits, RULE_IX_MAX_LITS, &n_lits)) >= 0) {
        f->kind = RULE_IX_FAST_PREFIX;
        f->slot = slot;
        f->lit_off = (uint32_t)ix->n_lits;
        f->n_lits = (uint32_t)n_lits;
        CEP_GROW(ix->lits, ix->cap_lits, ix->n_lits + n_lits);
        memcpy(ix->lits + ix->n_lits, lits, n_lits * sizeof(lits[0]));
        ix->n_lits += n_lits;
    }
    return (uint32_t)ix->n_preds++;
}

/* The index of guard (slot, cls) in g[0..n), or n. */
static size_t guard_find(const struct rule_ix_guard *g, size_t n, int32_t slot, uint8_t cls)
{
    size_t j = 0;
    while (j < n && !(g[j].slot == slot && g[j].cls == cls))
        j++;
    return j;
}

/* Bit of pre-check guard (slot, cls), registered if new; 0 if no room. */
static uint32_t pguard_bit(struct rule_index *ix, int32_t slot, uint8_t cls)
{
    size_t j = guard_find(ix->pguards, ix->n_pguards, slot, cls);
    if (j == RULE_INDEX_MAX_GUARDS)
        return 0;
    if (j == ix->n_pguards) {
        ix->pguards[j].slot = slot;
        ix->pguards[j].cls = cls;
        ix->n_pguards++;
    }
    return 1u << j;
}

/* Rule pos's pre-checks from its conjuncts: the range of the first `field
 * OP int` (OP not !=) reached through quiet conjuncts and comparisons of a
 * field with a string or number (guards, ranges included), narrowed by
 * later ones on the same field reached the same way; the literals of the
 * first regex with a literal prefilter reached the same way (the last
 * conjunct looked at: a match may count its limit). */
static void pre_build(struct rule_index *ix, uint32_t pos)
{
    const struct rule_ix_rule *x = &ix->rules[pos];
    struct rule_ix_pre *pre = &ix->rules[pos].pre;
    pre->slot = -1;
    pre->lslot = -1;
    uint32_t mask = 0;
    for (uint32_t k = 0; k < x->n; k++) {
        const struct expr *e = ix->preds[ix->conj[x->first + k]];
        enum expr_cmp op;
        const struct val *c;
        int s = expr_cmp_const(e, &op, &c);
        if (s >= 0 && c->type == VAL_INT && op != EXPR_CMP_NE &&
            (pre->slot < 0 || pre->slot == s)) {
            int64_t lo = INT64_MIN, hi = INT64_MAX, n = c->u.i;
            switch (op) {
                case EXPR_CMP_LT:
                    if (n == INT64_MIN)
                        return; /* never true: leave it to the VM */
                    hi = n - 1;
                    break;
                case EXPR_CMP_LE:
                    hi = n;
                    break;
                case EXPR_CMP_GT:
                    if (n == INT64_MAX)
                        return;
                    lo = n + 1;
                    break;
                case EXPR_CMP_GE:
                    lo = n;
                    break;
                default:
                    lo = hi = n;
                    break;
            }
            if (pre->slot < 0) {
                pre->slot = s;
                pre->lo = lo;
                pre->hi = hi;
            } else {
                pre->lo = lo > pre->lo ? lo : pre->lo;
                pre->hi = hi < pre->hi ? hi : pre->hi;
            }
            pre->mask = mask;
            /* It counts for a value of another class: a guard for what follows. */
            uint32_t bit = pguard_bit(ix, s, RULE_IX_NUM);
            if (!bit)
                return;
            mask |= bit;
            continue;
        }
        const struct rule_ix_fast *f = &ix->fast[ix->conj[x->first + k]];
        if (f->kind == RULE_IX_FAST_PREFIX) {
            pre->lslot = f->slot;
            pre->lmask = mask;
            pre->lit_off = f->lit_off;
            pre->n_lits = f->n_lits;
            return;
        }
        if (expr_quiet(e))
            continue;
        uint8_t cls = s >= 0 ? val_cls(c) : RULE_IX_NONE;
        uint32_t bit = cls != RULE_IX_NONE ? pguard_bit(ix, s, cls) : 0;
        if (!bit)
            return;
        mask |= bit;
    }
}

/* A conjunct a rule can be indexed on: `field == const` or `field in
 * [...]` at conjunct pick, with the guards of the conjuncts before it. */
struct rule_ix_cand {
    int32_t slot;
    uint32_t pred;
    uint32_t pick;
    uint32_t n_guards;
    struct rule_ix_guard g[RULE_INDEX_MAX_GUARDS];
};

#define RULE_IX_MAX_CANDS 4

/* What rule_split found for one rule; slot is the chosen candidate's. */
struct rule_ix_need {
    int32_t slot;
    uint32_t chosen;
    uint32_t n_cands;
    struct rule_ix_cand c[RULE_IX_MAX_CANDS];
};

/* Split rule x's `when` into predicates and collect the conjuncts it can
 * be indexed on: each `field == const` or `field in [...]` reached through
 * conjuncts that are quiet or compare a field with a string or number
 * constant (a guard each; an indexable == is one too). */
static void rule_split(struct rule_index *ix, struct rule_ix_rule *x, const struct rule *r,
                       struct rule_ix_need *need)
{
    x->first = (uint32_t)ix->n_conj;
    need->slot = -1;
    need->n_cands = 0;
    if (!r->when)
        return;
    if (!expr_event_only(r->when)) {
        x->opaque = true;
        x->when = r->when;
        return;
    }
    struct expr **parts;
    size_t n = expr_split_and(r->when, &parts);
    bool looking = true;
    struct rule_ix_guard g[RULE_INDEX_MAX_GUARDS];
    uint32_t n_g = 0;
    for (size_t k = 0; k < n; k++) {
        uint32_t p = pred_take(ix, parts[k]);
        CEP_GROW(ix->conj, ix->cap_conj, ix->n_conj + 1);
        ix->conj[ix->n_conj++] = p;
        if (!looking)
            continue;
        const struct val *c;
        int s = expr_eq_const(ix->preds[p], &c);
        if (s >= 0 && indexable(c) && need->n_cands < RULE_IX_MAX_CANDS) {
            struct rule_ix_cand *cd = &need->c[need->n_cands++];
            cd->slot = s;
            cd->pred = p;
            cd->pick = (uint32_t)k;
            cd->n_guards = n_g;
            memcpy(cd->g, g, n_g * sizeof(g[0]));
        }
        if (expr_quiet(ix->preds[p]))
            continue;
        enum expr_cmp op;
        int gs = expr_cmp_const(ix->preds[p], &op, &c);
        uint8_t cls = gs >= 0 ? val_cls(c) : RULE_IX_NONE;
        if (cls == RULE_IX_NONE) {
            looking = false;
            continue;
        }
        if (guard_find(g, n_g, gs, cls) < n_g)
            continue;
        if (n_g == RULE_INDEX_MAX_GUARDS) {
            looking = false;
            continue;
        }
        g[n_g].slot = gs;
        g[n_g].cls = cls;
        n_g++;
    }
    cep_free(parts);
    x->n = (uint32_t)(ix->n_conj - x->first);
}

/* Pick each rule's candidate: the one on the field with the most distinct
 * constants over the whole index (`user == "u1"` narrows more than
 * `event == "login"`), the earliest on ties. */
static void cands_choose(struct rule_index *ix, struct rule_ix_need *need)
{
    int32_t max_slot = -1;
    for (size_t pos = 0; pos < ix->n_rules; pos++)
        for (uint32_t i = 0; i < need[pos].n_cands; i++)
            if (need[pos].c[i].slot > max_slot)
                max_slot = need[pos].c[i].slot;
    if (max_slot < 0)
        return;
    size_t *distinct = cep_calloc((size_t)max_slot + 1, sizeof(*distinct));
    bool *seen = cep_calloc(ix->n_preds + 1, sizeof(*seen));
    for (size_t pos = 0; pos < ix->n_rules; pos++) {
        for (uint32_t i = 0; i < need[pos].n_cands; i++) {
            const struct rule_ix_cand *cd = &need[pos].c[i];
            if (!seen[cd->pred]) {
                seen[cd->pred] = true;
                distinct[cd->slot]++;
            }
        }
    }
    for (size_t pos = 0; pos < ix->n_rules; pos++) {
        struct rule_ix_need *nd = &need[pos];
        for (uint32_t i = 0; i < nd->n_cands; i++) {
            if (nd->slot < 0 || distinct[nd->c[i].slot] > distinct[nd->slot]) {
                nd->slot = nd->c[i].slot;
                nd->chosen = i;
            }
        }
        if (nd->slot >= 0)
            ix->rules[pos].pick = nd->c[nd->chosen].pick;
    }
    cep_free(seen);
    cep_free(distinct);
}

/* Register the guards of candidate cd; false (nothing registered) if the
 * index has no room for them. */
static bool guards_add(struct rule_index *ix, const struct rule_ix_cand *cd)
{
    size_t n_new = 0;
    for (uint32_t i = 0; i < cd->n_guards; i++)
        n_new += guard_find(ix->guards, ix->n_guards, cd->g[i].slot, cd->g[i].cls) ==
                 ix->n_guards;
    if (ix->n_guards + n_new > RULE_INDEX_MAX_GUARDS)
        return false;
    for (uint32_t i = 0; i < cd->n_guards; i++) {
        size_t j = guard_find(ix->guards, ix->n_guards, cd->g[i].slot, cd->g[i].cls);
        if (j == ix->n_guards) {
            ix->guards[j] = cd->g[i];
            ix->guards[j].n = 0;
            ix->n_guards++;
        }
        ix->guards[j].n++; /* counted here, filled by fields_choose */
    }
    return true;
}

static uint32_t pool_reserve(struct rule_index *ix, size_t n)
{
    uint32_t off = (uint32_t)ix->n_pool;
    CEP_GROW(ix->pool, ix->cap_pool, ix->n_pool + n + 1);
    ix->n_pool += n;
    return off;
}

/* Visit every key of rule pos's indexed constant: pass 0 counts, pass 1
 * fills. */
static void field_add_rule(struct rule_index *ix, struct rule_ix_field *f, uint32_t pos,
                           int pass)
{
    const struct rule_ix_rule *x = &ix->rules[pos];
    const struct val *c;
    expr_eq_const(ix->preds[ix->conj[x->first + x->pick]], &c);
    for (uint32_t i = 0; i < const_n_keys(c); i++) {
        struct rule_ix_key k;
        key_of(const_key(c, i), &k);
        struct rule_ix_key *e = field_get(f, &k);
        if (e->last == pos + 1)
            continue; /* the same key twice in one list */
        e->last = pos + 1;
        if (pass == 0)
            e->n++;
        else
            ix->pool[e->off + e->fill++] = pos;
    }
    if (pass == 0)
        return;
    if (c->type == VAL_STR)
        ix->pool[f->nonnum_off + f->nonnum_n++] = pos;
    else if (c->type != VAL_LIST)
        ix->pool[f->nonstr_off + f->nonstr_n++] = pos;
    ix->pool[f->all_off + f->all_n++] = pos;
}

/* Split key e's list (ascending) into the rules visited as they are and
 * the ones that visit_ranged picks by range: those with a pre-check on the
 * slot of the list's first one, sorted by low end. */
static void key_split_ranged(struct rule_index *ix, struct rule_ix_key *e)
{
    uint32_t *v = ix->pool + e->off;
    e->n_plain = e->n;
    e->r_slot = -1;
    e->r_mask = 0;
    e->r_width = 0;
    for (uint32_t i = 0; i < e->n && e->r_slot < 0; i++)
        e->r_slot = ix->rules[v[i]].pre.slot;
    if (e->r_slot < 0)
        return;
    CEP_GROW(ix->ranges, ix->cap_ranges, ix->n_ranges + e->n);
    struct rule_ix_range *ranged = ix->ranges + ix->n_ranges;
    uint32_t n_plain = 0, n_ranged = 0;
    for (uint32_t i = 0; i < e->n; i++) {
        const struct rule_ix_pre *x = &ix->rules[v[i]].pre;
        if (x->slot != e->r_slot) {
            v[n_plain++] = v[i];
            continue;
        }
        uint32_t j = n_ranged++; /* insertion by low end: lists are short */
        for (; j > 0 && ranged[j - 1].lo > x->lo; j--)
            ranged[j] = ranged[j - 1];
        ranged[j] = (struct rule_ix_range){.lo = x->lo, .hi = x->hi, .pos = v[i]};
        e->r_mask |= x->mask;
        if (x->hi >= x->lo && (uint64_t)x->hi - (uint64_t)x->lo > e->r_width)
            e->r_width = (uint64_t)x->hi - (uint64_t)x->lo;
    }
    e->n_plain = n_plain;
    e->r_off = (uint32_t)ix->n_ranges;
    ix->n_ranges += n_ranged;
}

/* Each string key's predicates on f's slot made true by a value equal to
 * it (any predicate of the index: == or in with that string); pass 0
 * counts, pass 1 fills. */
static void field_true_preds(struct rule_index *ix, struct rule_ix_field *f)
{
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < f->cap; i++) {
            if (pass == 1 && f->tab[i].t_n)
                f->tab[i].t_off = pool_reserve(ix, f->tab[i].t_n);
            f->tab[i].t_n = 0;
            f->tab[i].last = 0;
        }
        for (uint32_t p = 0; p < ix->n_preds; p++) {
            const struct val *c;
            if (expr_eq_const(ix->preds[p], &c) != f->slot)
                continue;
            for (uint32_t j = 0; j < const_n_keys(c); j++) {
                const struct val *it = const_key(c, j);
                struct rule_ix_key k;
                if (it->type != VAL_STR || key_of(it, &k) != RULE_IX_STR)
                    continue;
                struct rule_ix_key *e = field_lookup(f, &k);
                if (!e || e->last == p + 1)
                    continue; /* no rule listed there, or twice in one list */
                e->last = p + 1;
                if (pass == 1)
                    ix->pool[e->t_off + e->t_n] = p;
                e->t_n++;
            }
        }
    }
}

static void field_build(struct rule_index *ix, size_t fi)
{
    struct rule_ix_field *f = &ix->fields[fi];
    size_t n_all = 0;
    for (uint32_t pos = 0; pos < ix->n_rules; pos++) {
        if (ix->rules[pos].field == (int32_t)fi) {
            field_add_rule(ix, f, pos, 0);
            n_all++;
        }
    }
    for (size_t i = 0; i < f->cap; i++) {
        if (f->tab[i].cls != RULE_IX_NONE) {
            f->tab[i].off = pool_reserve(ix, f->tab[i].n);
            f->tab[i].last = 0;
        }
    }
    f->nonstr_off = pool_reserve(ix, n_all);
    f->nonnum_off = pool_reserve(ix, n_all);
    f->all_off = pool_reserve(ix, n_all);
    for (uint32_t pos = 0; pos < ix->n_rules; pos++)
        if (ix->rules[pos].field == (int32_t)fi)
            field_add_rule(ix, f, pos, 1);
    for (size_t i = 0; i < f->cap; i++)
        if (f->tab[i].cls != RULE_IX_NONE)
            key_split_ranged(ix, &f->tab[i]);
    field_true_preds(ix, f);
}

/* Choose the fields (the slot most rules chose, then the next, up to
 * RULE_INDEX_MAX_FIELDS) and register the guards of the rules indexed. */
static void fields_choose(struct rule_index *ix, struct rule_ix_need *need)
{
    size_t n = ix->n_rules;
    int32_t max_slot = -1;
    for (size_t pos = 0; pos < n; pos++)
        max_slot = need[pos].slot > max_slot ? need[pos].slot : max_slot;
    size_t *cnt = cep_malloc(((size_t)max_slot + 1) * sizeof(*cnt));
    while (ix->n_fields < RULE_INDEX_MAX_FIELDS) {
        memset(cnt, 0, ((size_t)max_slot + 1) * sizeof(*cnt));
        for (size_t pos = 0; pos < n; pos++)
            if (need[pos].slot >= 0)
                cnt[need[pos].slot]++;
        int32_t best = -1;
        size_t best_n = 0;
        for (int32_t slot = 0; slot <= max_slot; slot++) { /* ties: the lower slot */
            if (cnt[slot] > best_n) {
                best = slot;
                best_n = cnt[slot];
            }
        }
        if (best < 0)
            break;
        ix->fields[ix->n_fields].slot = best;
        for (size_t pos = 0; pos < n; pos++) {
            if (need[pos].slot != best)
                continue;
            need[pos].slot = -1;
            if (guards_add(ix, &need[pos].c[need[pos].chosen]))
                ix->rules[pos].field = (int32_t)ix->n_fields;
        }
        ix->n_fields++;
    }
    cep_free(cnt);
    for (size_t j = 0; j < ix->n_guards; j++) {
        ix->guards[j].off = pool_reserve(ix, ix->guards[j].n);
        ix->guards[j].n = 0;
    }
    for (uint32_t pos = 0; pos < n; pos++) {
        if (ix->rules[pos].field < 0)
            continue;
        const struct rule_ix_cand *cd = &need[pos].c[need[pos].chosen];
        for (uint32_t i = 0; i < cd->n_guards; i++) {
            struct rule_ix_guard *g =
                    &ix->guards[guard_find(ix->guards, ix->n_guards, cd->g[i].slot, cd->g[i].cls)];
            ix->pool[g->off + g->n++] = pos;
        }
    }
}

/* Group the rules not indexed by their first predicate; the rules without
 * a `when` or with an opaque one are visited always. */
static void groups_build(struct rule_index *ix)
{
    int32_t *group_of = cep_malloc((ix->n_preds + 1) * sizeof(*group_of));
    for (size_t p = 0; p < ix->n_preds; p++)
        group_of[p] = -1;
    size_t n_always = 0;
    for (size_t pos = 0; pos < ix->n_rules; pos++) {
        const struct rule_ix_rule *x = &ix->rules[pos];
        if (x->field >= 0)
            continue;
        if (x->opaque || x->n == 0) {
            n_always++;
            continue;
        }
        uint32_t p = ix->conj[x->first];
        if (group_of[p] < 0) {
            group_of[p] = (int32_t)ix->n_groups;
            ix->groups = cep_realloc(ix->groups, (ix->n_groups + 1) * sizeof(*ix->groups));
            ix->groups[ix->n_groups].pred = p;
            ix->groups[ix->n_groups].n = 0;
            ix->n_groups++;
        }
        ix->groups[group_of[p]].n++;
    }
    for (size_t g = 0; g < ix->n_groups; g++) {
        ix->groups[g].off = pool_reserve(ix, ix->groups[g].n);
        ix->groups[g].n = 0;
    }
    ix->always_off = pool_reserve(ix, n_always);
    for (uint32_t pos = 0; pos < ix->n_rules; pos++) {
        const struct rule_ix_rule *x = &ix->rules[pos];
        if (x->field >= 0)
            continue;
        if (x->opaque || x->n == 0) {
            ix->pool[ix->always_off + ix->always_n++] = pos;
            continue;
        }
        struct rule_ix_group *g = &ix->groups[group_of[ix->conj[x->first]]];
        ix->pool[g->off + g->n++] = pos;
    }
    cep_free(group_of);
}

/* Index the rules of `rules` (indexes into rs->rules, in rule order). */
static struct rule_index *rule_index_build(const struct ruleset *rs, const uint32_t *rules,
                                           size_t n)
{
    struct rule_index *ix = cep_calloc(1, sizeof(*ix));
    ix->rules = cep_calloc(n ? n : 1, sizeof(*ix->rules));
    ix->n_rules = n;
    struct rule_ix_need *need = cep_calloc(n ? n : 1, sizeof(*need));
    for (size_t pos = 0; pos < n; pos++) {
        ix->rules[pos].ri = rules[pos];
        ix->rules[pos].field = -1;
        rule_split(ix, &ix->rules[pos], rs->rules[rules[pos]], &need[pos]);
    }
    cep_free(ix->pred_tab);
    ix->pred_tab = NULL;
    cep_free(ix->pred_hash);
    ix->pred_hash = NULL;
    cands_choose(ix, need);
    fields_choose(ix, need);
    cep_free(need);
    for (uint32_t pos = 0; pos < n; pos++)
        pre_build(ix, pos);
    for (size_t fi = 0; fi < ix->n_fields; fi++)
        field_build(ix, fi);
    groups_build(ix);
    /* A rule with conjuncts is indexed or grouped, never always visited:
     * with every rule always visited, none has a pre-check either. */
    ix->visits_all = ix->always_n == n;
    return ix;
}

static bool rule_index_stateful(const struct rule *r)
{
    return r->kind == RULE_PATTERN || r->kind == RULE_AGGREGATE || r->kind == RULE_ABSENCE;
}

void rule_index_build_stream(const struct ruleset *rs, struct rule_stream *st)
{
    uint32_t *v = cep_calloc(st->n_rules + 1, sizeof(*v));
    for (int stateful = 0; stateful < 2; stateful++) {
        size_t n = 0;
        for (size_t i = 0; i < st->n_rules; i++) {
            const struct rule *r = rs->rules[st->rules[i]];
            if (rule_index_stateful(r) == (stateful != 0))
                v[n++] = st->rules[i];
        }
        if (stateful)
            st->ix_state = rule_index_build(rs, v, n);
        else
            st->ix_now = rule_index_build(rs, v, n);
    }
    cep_free(v);
}

void rule_index_free(struct rule_index *ix)
{
    if (!ix)
        return;
    for (size_t p = 0; p < ix->n_preds; p++)
        expr_free(ix->preds[p]);
    cep_free(ix->preds);
    cep_free(ix->fast);
    cep_free(ix->lits);
    for (size_t fi = 0; fi < ix->n_fields; fi++)
        cep_free(ix->fields[fi].tab);
    cep_free(ix->groups);
    cep_free(ix->rules);
    cep_free(ix->conj);
    cep_free(ix->pool);
    cep_free(ix->ranges);
    cep_free(ix);
}

size_t rule_index_n_rules(const struct rule_index *ix)
{
    return ix->n_rules;
}

bool rule_index_visits_all(const struct rule_index *ix)
{
    return ix->visits_all;
}

uint32_t rule_index_rule(const struct rule_index *ix, uint32_t pos)
{
    return ix->rules[pos].ri;
}

int rule_index_field(const struct rule_index *ix, uint32_t pos)
{
    int32_t f = ix->rules[pos].field;
    return f < 0 ? -1 : ix->fields[f].slot;
}

size_t rule_index_n_preds(const struct rule_index *ix)
{
    return ix->n_preds;
}

static const struct val ix_null_val; /* VAL_NULL: a slot the event lacks */

static inline const struct val *slot_val(const struct evt *ev, int32_t slot)
{
    return (uint32_t)slot < ev->n_slots ? &ev->slots[slot] : &ix_null_val;
}

/* `field OP const` on value v without the VM, exactly as the VM would
 * (null is false; strings bytewise; ints as ints); false when v needs the
 * VM (another type: it may count a mismatch; floats). */
static bool fast_cmp(const struct rule_ix_fast *f, const struct val *v, bool *res)
{
    const struct val *c = &f->c;
    int r;
    if (v->type == VAL_NULL) {
        *res = false;
        return true;
    }
    if (c->type == VAL_STR && v->type == VAL_STR) {
        if (f->op == EXPR_CMP_EQ || f->op == EXPR_CMP_NE) {
            const char *cs = c->len <= RULE_IX_KEY_INLINE ? f->inl : c->u.s;
            *res = (v->len == c->len && cep_bytes_eq(v->u.s, cs, c->len)) == (f->op == EXPR_CMP_EQ);
            return true;
        }
        size_t n = v->len < c->len ? v->len : c->len;
        r = n ? memcmp(v->u.s, c->u.s, n) : 0;
        r = r ? (r < 0 ? -1 : 1) : (v->len > c->len) - (v->len < c->len);
    } else if (c->type == VAL_INT && v->type == VAL_INT) {
        r = (v->u.i > c->u.i) - (v->u.i < c->u.i);
    } else {
        return false;
    }
    switch ((enum expr_cmp)f->op) {
        case EXPR_CMP_EQ:
            *res = r == 0;
            break;
        case EXPR_CMP_NE:
            *res = r != 0;
            break;
        case EXPR_CMP_LT:
            *res = r < 0;
            break;
        case EXPR_CMP_LE:
            *res = r <= 0;
            break;
        case EXPR_CMP_GT:
            *res = r > 0;
            break;
        default:
            *res = r >= 0;
            break;
    }
    return true;
}

/* `v in list` as the VM's IN computes it. */
static bool fast_in(const struct val *v, const struct val *list)
{
    if (v->type == VAL_NULL)
        return false;
    for (uint32_t i = 0; i < list->len; i++) {
        const struct val *it = &list->u.items[i];
        if (v->type == VAL_STR && it->type == VAL_STR) {
            if (v->len == it->len && cep_bytes_eq(v->u.s, it->u.s, v->len))
                return true;
        } else if (val_equal(v, it)) {
            return true;
        }
    }
    return false;
}

/* Whether string v starts with one of f's literals (never empty: the
 * first bytes tell most apart). */
static inline bool lits_prefix(const struct expr_lit *l, uint32_t n, const struct val *v)
{
    for (uint32_t i = 0; i < n; i++)
        if (v->len >= l[i].len && v->u.s[0] == l[i].s[0] && cep_bytes_eq(v->u.s, l[i].s, l[i].len))
            return true;
    return false;
}

/* Predicate p on ctx->ev, from the memo when this generation has it.
 * Inlined: it runs for every conjunct of every rule an event visits. */
static inline __attribute__((always_inline)) const struct rule_index_memo_ent *
pred_eval(const struct rule_index *ix, uint32_t p, struct expr_ctx *ctx,
          struct rule_index_memo *m, uint32_t gen)
{
    struct rule_index_memo_ent *e = &m->ents[p];
    if (e->gen == gen)
        return e;
    e->gen = gen;
    e->counted = false;
    const struct rule_ix_fast *f = &ix->fast[p];
    if (f->kind == RULE_IX_FAST_CMP) {
        const struct val *v = slot_val(ctx->ev, f->slot);
        if (fast_cmp(f, v, &e->val))
            return e;
    } else if (f->kind == RULE_IX_FAST_IN) {
        const struct val *v = slot_val(ctx->ev, f->slot);
        e->val = fast_in(v, &f->c);
        return e;
    } else if (f->kind == RULE_IX_FAST_PREFIX) {
        const struct val *v = slot_val(ctx->ev, f->slot);
        if (v->type == VAL_NULL ||
            (v->type == VAL_STR && !lits_prefix(ix->lits + f->lit_off, f->n_lits, v))) {
            e->val = false;
            return e;
        }
    }
    struct expr_counters c = {0};
    struct expr_counters *keep = ctx->counters;
    ctx->counters = &c;
    e->val = expr_eval_bool(ix->preds[p], ctx);
    ctx->counters = keep;
    if (CEP_UNLIKELY(c.type_mismatch || c.regex_limit)) {
        e->counted = true;
        m->cnt[p].mismatch = (uint32_t)c.type_mismatch;
        m->cnt[p].re_limit = (uint32_t)c.regex_limit;
    }
    return e;
}

static inline void visit_one(struct rule_index_memo *m, uint32_t pos)
{
    uint32_t w = pos >> 6;
    m->vis_lo = w < m->vis_lo ? w : m->vis_lo;
    m->vis_hi = w + 1 > m->vis_hi ? w + 1 : m->vis_hi;
    m->visit[w] |= 1ull << (pos & 63);
}

/* Mark the positions v[0..n) (ascending) for visiting. */
static inline void visit_add(struct rule_index_memo *m, const uint32_t *v, uint32_t n)
{
    if (!n)
        return;
    uint32_t lo = v[0] >> 6, hi = (v[n - 1] >> 6) + 1;
    m->vis_lo = lo < m->vis_lo ? lo : m->vis_lo;
    m->vis_hi = hi > m->vis_hi ? hi : m->vis_hi;
    for (uint32_t i = 0; i < n; i++)
        m->visit[v[i] >> 6] |= 1ull << (v[i] & 63);
}

/* Mark the rules of key e's ranged part that can pass their pre-check
 * on the event's value of their slot: none for null, those whose range
 * holds an int (a low end at least value - r_width), all for other values
 * or when a pre-check guard of theirs fails (pbad; next checks each
 * visited rule again). */
static void visit_ranged(struct rule_index_memo *m, const struct rule_index *ix,
                         const struct rule_ix_key *e, const struct evt *ev, uint32_t pbad)
{
    const struct rule_ix_range *v = ix->ranges + e->r_off;
    uint32_t n = e->n - e->n_plain, i = 0;
    const struct val *x = slot_val(ev, e->r_slot);
    bool guarded = (pbad & e->r_mask) != 0;
    if (x->type == VAL_NULL && !guarded)
        return;
    if (x->type == VAL_INT && !guarded) {
        int64_t val = x->u.i;
        int64_t from = (uint64_t)val - (uint64_t)INT64_MIN < e->r_width
                               ? INT64_MIN
                               : (int64_t)((uint64_t)val - e->r_width);
        uint32_t hi = n;
        while (i < hi) { /* the first low end >= from */
            uint32_t mid = i + (hi - i) / 2;
            if (v[mid].lo < from)
                i = mid + 1;
            else
                hi = mid;
        }
        for (; i < n && v[i].lo <= val; i++)
            if (v[i].hi >= val)
                visit_one(m, v[i].pos);
        return;
    }
    for (; i < n; i++)
        visit_one(m, v[i].pos);
}

void rule_index_begin(const struct rule_index *ix, struct expr_ctx *ctx,
                      struct rule_index_memo *m, uint32_t gen, struct rule_index_iter *it)
{
    const struct evt *ev = ctx->ev;
    const uint32_t *pool = ix->pool;
    /* An iteration left unfinished leaves bits behind. */
    if (m->vis_lo < m->vis_hi)
        memset(m->visit + m->vis_lo, 0, (m->vis_hi - m->vis_lo) * sizeof(*m->visit));
    m->vis_lo = UINT32_MAX;
    m->vis_hi = 0;
    it->m = m;
    it->word = 0;
    it->wi = 0;
    it->ix = ix;
    it->ev = ev;
    it->pbad = 0;
    for (size_t j = 0; j < ix->n_pguards; j++) {
        const struct val *v = slot_val(ev, ix->pguards[j].slot);
        if (v->type != VAL_NULL && val_cls(v) != ix->pguards[j].cls)
            it->pbad |= 1u << j;
    }
    visit_add(m, pool + ix->always_off, ix->always_n);
    for (size_t fi = 0; fi < ix->n_fields; fi++) {
        const struct rule_ix_field *f = &ix->fields[fi];
        const struct val *v = slot_val(ev, f->slot);
        struct rule_ix_key k;
        const struct rule_ix_key *e = NULL;
        switch (v->type) {
            case VAL_NULL: /* == and in are false, quietly */
                break;
            case VAL_STR:
                key_str(v, &k);
                e = field_lookup(f, &k);
                for (uint32_t i = 0; e && i < e->t_n; i++) {
                    struct rule_index_memo_ent *t = &m->ents[pool[e->t_off + i]];
                    t->gen = gen;
                    t->val = true;
                    t->counted = false;
                }
                visit_add(m, pool + f->nonstr_off, f->nonstr_n);
                break;
            case VAL_INT:
            case VAL_FLOAT:
                if (key_num(val_num(v), &k))
                    e = field_lookup(f, &k);
                visit_add(m, pool + f->nonnum_off, f->nonnum_n);
                break;
            default: /* bool, raw JSON: every rule, evaluated as before */
                visit_add(m, pool + f->all_off, f->all_n);
                break;
        }
        if (e) {
            visit_add(m, pool + e->off, e->n_plain);
            if (e->n != e->n_plain)
                visit_ranged(m, ix, e, ev, it->pbad);
        }
    }
    for (size_t j = 0; j < ix->n_guards; j++) {
        const struct rule_ix_guard *g = &ix->guards[j];
        const struct val *v = slot_val(ev, g->slot);
        if (v->type != VAL_NULL && val_cls(v) != g->cls)
            visit_add(m, pool + g->off, g->n);
    }
    /* A group is visited when its predicate held, or counted something
     * (its rules are credited when visited). */
    for (size_t g = 0; g < ix->n_groups; g++) {
        const struct rule_index_memo_ent *e = pred_eval(ix, ix->groups[g].pred, ctx, m, gen);
        if (e->val || e->counted)
            visit_add(m, pool + ix->groups[g].off, ix->groups[g].n);
    }
}

/* Whether the rule at pos fails a pre-check on it->ev. */
static inline bool pre_fails(const struct rule_index_iter *it, uint32_t pos)
{
    const struct rule_ix_pre *x = &it->ix->rules[pos].pre;
    if (x->slot >= 0 && !(x->mask & it->pbad)) {
        const struct val *v = slot_val(it->ev, x->slot);
        if (v->type == VAL_INT ? v->u.i < x->lo || v->u.i > x->hi : v->type == VAL_NULL)
            return true;
    }
    if (x->lslot >= 0 && !(x->lmask & it->pbad)) {
        const struct val *v = slot_val(it->ev, x->lslot);
        return v->type == VAL_NULL ||
               (v->type == VAL_STR && !lits_prefix(it->ix->lits + x->lit_off, x->n_lits, v));
    }
    return false;
}

bool rule_index_next(struct rule_index_iter *it, uint32_t *pos)
{
    struct rule_index_memo *m = it->m;
    for (;;) {
        while (!it->word) {
            if (m->vis_lo >= m->vis_hi)
                return false;
            it->wi = m->vis_lo++;
            it->word = m->visit[it->wi];
            m->visit[it->wi] = 0;
        }
        uint32_t p = it->wi * 64 + (uint32_t)__builtin_ctzll(it->word);
        it->word &= it->word - 1;
        if (!pre_fails(it, p)) {
            *pos = p;
            return true;
        }
    }
}

void rule_index_memo_init(struct rule_index_memo *m, const struct rule_index *ix)
{
    m->n = ix->n_preds;
    m->ents = cep_calloc(m->n ? m->n : 1, sizeof(*m->ents));
    m->cnt = cep_calloc(m->n ? m->n : 1, sizeof(*m->cnt));
    m->gen = 0;
    m->visit = cep_calloc(ix->n_rules / 64 + 1, sizeof(*m->visit));
    m->vis_lo = m->vis_hi = 0;
}

void rule_index_memo_fini(struct rule_index_memo *m)
{
    cep_free(m->ents);
    m->ents = NULL;
    cep_free(m->cnt);
    m->cnt = NULL;
    cep_free(m->visit);
    m->visit = NULL;
}

uint32_t rule_index_memo_next(struct rule_index_memo *m)
{
    if (CEP_UNLIKELY(++m->gen == 0)) {
        memset(m->ents, 0, (m->n ? m->n : 1) * sizeof(*m->ents));
        m->gen = 1;
    }
    return m->gen;
}

bool rule_index_when(const struct rule_index *ix, uint32_t pos, struct expr_ctx *ctx,
                     struct rule_index_memo *m, uint32_t gen)
{
    const struct rule_ix_rule *x = &ix->rules[pos];
    if (x->opaque)
        return expr_eval_bool(x->when, ctx);
    for (uint32_t k = 0; k < x->n; k++) {
        uint32_t p = ix->conj[x->first + k];
        const struct rule_index_memo_ent *e = pred_eval(ix, p, ctx, m, gen);
        if (CEP_UNLIKELY(e->counted) && ctx->counters) {
            ctx->counters->type_mismatch += m->cnt[p].mismatch;
            ctx->counters->regex_limit += m->cnt[p].re_limit;
        }
        if (!e->val)
            return false;
    }
    return true;
}
