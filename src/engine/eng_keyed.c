/* SPDX-License-Identifier: Apache-2.0
 * Keyed state of stateful rules (pattern, aggregate, absence) and of
 * throttle tables: per rule, a slab of keys with an open-addressing index
 * over the JSON of their key values (each key keeps its hash, so its key
 * group, hash % ENG_KEY_GROUPS, is known for snapshots by group), and
 * deadline timers in a min-heap invalidated lazily by generation, ordered
 * by (time, key hash) so that equal deadlines fire in the same order after
 * a restore (eng_snap.c).  A key whose state holds nothing is dropped at
 * once (a pattern rule makes one only for an event that may start a
 * match); idle NFA states are kept as spares for reuse.  state_ttl: a key
 * idle for the rule's TTL is dropped; its check is one timer per key,
 * re-armed lazily when it fires, so a busy key does not push a timer per
 * event.  Byte accounting counts every allocation the tables hold
 * (eng_keyed_bytes).
 * Tested by: tests/flink/, tests/rules/engine/, tests/unit/check_eng_state.c,
 * tests/unit/check_eng_snap.c */
#include "cepd/cep_common.h"
#include "eng_int.h"

#include "cepd/hash.h"
#include "cepd/nfa.h"
#include "cepd/win.h"

#include <string.h>

#define ENG_INDEX_EMPTY   0
#define ENG_INDEX_DELETED UINT32_MAX
#define ENG_NO_SLOT       UINT32_MAX

int64_t eng_time_add(int64_t a, int64_t b)
{
    int64_t s;
    if (__builtin_add_overflow(a, b, &s))
        return b > 0 ? CEP_TIME_MAX : CEP_TIME_MIN;
    return s;
}

void eng_keyed_init(struct eng_keyed *kd, const struct rule *r)
{
    memset(kd, 0, sizeof(*kd));
    kd->ttl = r->state_ttl;
    kd->now = CEP_TIME_MIN;
    if (r->throttle.period > 0) {
        kd->throttle = cep_calloc(1, sizeof(*kd->throttle));
        kd->throttle->now = CEP_TIME_MIN;
    }
}

void eng_keyed_free(struct eng_keyed *kd)
{
    for (size_t i = 0; i < kd->n_keys; i++) {
        struct eng_key *k = &kd->keys[i];
        nfa_key_free(k->nfa);
        win_key_free(k->win);
        evt_unref(k->last);
        if (k->thr) {
            sbuf_free(&k->thr->kept);
            cep_free(k->thr);
        }
        if (k->kcap)
            cep_free(k->kjson);
    }
    if (kd->throttle) {
        eng_keyed_free(kd->throttle); /* one level: a throttle table has none */
        cep_free(kd->throttle);
    }
    for (size_t i = 0; i < kd->n_spare; i++)
        nfa_key_free(kd->spare[i]);
    cep_free(kd->spare);
    for (size_t i = 0; i < kd->n_win_spare; i++)
        win_key_free(kd->win_spare[i]);
    cep_free(kd->win_spare);
    cep_free(kd->keys);
    cep_free(kd->free_slots);
    cep_free(kd->index);
    cep_free(kd->heap);
    memset(kd, 0, sizeof(*kd));
}

/* Timers fire in (time, key hash) order: equal deadlines of different keys
 * fire in an order that depends on the keys alone, not on the history of
 * the heap, so an engine restored from a snapshot (whose heap is built
 * afresh) fires them exactly as the engine it was taken from would have. */
static bool eng_timer_before(struct eng_timer a, struct eng_timer b)
{
    return a.at < b.at || (a.at == b.at && a.tie < b.tie);
}

static void eng_timer_push(struct eng_keyed *kd, struct eng_timer t)
{
    CEP_GROW(kd->heap, kd->heap_cap, kd->heap_n + 1);
    size_t i = kd->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!eng_timer_before(t, kd->heap[parent]))
            break;
        kd->heap[i] = kd->heap[parent];
        i = parent;
    }
    kd->heap[i] = t;
}

static struct eng_timer eng_timer_pop(struct eng_keyed *kd)
{
    struct eng_timer top = kd->heap[0], last = kd->heap[--kd->heap_n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= kd->heap_n)
            break;
        if (c + 1 < kd->heap_n && eng_timer_before(kd->heap[c + 1], kd->heap[c]))
            c++;
        if (!eng_timer_before(kd->heap[c], last))
            break;
        kd->heap[i] = kd->heap[c];
        i = c;
    }
    if (kd->heap_n)
        kd->heap[i] = last;
    return top;
}

/* An index entry: the key hash's high half above the slot + 1, so a probe
 * compares hashes without touching the key slab (a cache miss per key). */
static uint64_t eng_index_entry(uint64_t h, uint32_t slot)
{
    return (h & 0xffffffff00000000u) | ((uint64_t)slot + 1);
}

static uint32_t eng_index_mark(uint64_t e)
{
    return (uint32_t)e;
}

/* Rebuild the index at a new capacity (drops deleted marks). */
static void eng_index_resize(struct eng_keyed *kd, size_t cap)
{
    uint64_t *idx = cep_calloc(cap, sizeof(*idx));
    for (size_t i = 0; i < kd->n_keys; i++) {
        if (!kd->keys[i].live)
            continue;
        size_t p = kd->keys[i].khash & (cap - 1);
        while (idx[p] != ENG_INDEX_EMPTY)
            p = (p + 1) & (cap - 1);
        idx[p] = eng_index_entry(kd->keys[i].khash, (uint32_t)i);
    }
    cep_free(kd->index);
    kd->index = idx;
    kd->index_cap = cap;
    kd->index_used = kd->n_live;
}

/* Make room for one more key: at 70 % of live and deleted entries, rebuild
 * at twice the size if live keys alone fill 35 %, else at the same size
 * (keys that all go idle together, as aligned windows make them, leave
 * mostly deleted marks: those are dropped, not doubled). */
static void eng_index_reserve(struct eng_keyed *kd)
{
    if ((kd->index_used + 1) * 10 < kd->index_cap * 7)
        return;
    size_t cap = kd->index_cap ? kd->index_cap : 64;
    if ((kd->n_live + 1) * 20 >= cap * 7)
        cap *= 2;
    eng_index_resize(kd, cap);
}

/* The slot of key (kjson, len) with hash h, or ENG_NO_SLOT. */
static uint32_t eng_keyed_find(const struct eng_keyed *kd, uint64_t h, const char *kjson,
                               size_t len)
{
    if (kd->index_cap) {
        uint64_t tag = h & 0xffffffff00000000u;
        size_t mask = kd->index_cap - 1;
        for (size_t p = h & mask; kd->index[p] != ENG_INDEX_EMPTY; p = (p + 1) & mask) {
            uint64_t e = kd->index[p];
            uint32_t v = eng_index_mark(e);
            if ((e & 0xffffffff00000000u) != tag || v == ENG_INDEX_DELETED)
                continue;
            const struct eng_key *k = &kd->keys[v - 1];
            if (k->khash == h && k->klen == len && cep_bytes_eq(k->kjson, kjson, len))
                return v - 1;
        }
    }
    return ENG_NO_SLOT;
}

/* A slot for key (kjson, len) with hash h, which has none. */
static uint32_t eng_keyed_add(struct eng_keyed *kd, const struct rule *r, uint64_t h,
                              const char *kjson, size_t len)
{
    eng_index_reserve(kd);
    uint32_t slot;
    if (kd->n_free) {
        slot = kd->free_slots[--kd->n_free];
    } else {
        struct eng_key *old = kd->keys;
        CEP_GROW(kd->keys, kd->keys_cap, kd->n_keys + 1);
        if (kd->keys != old) /* the slab moved: inline keys with it */
            for (size_t i = 0; i < kd->n_keys; i++)
                if (!kd->keys[i].kcap && kd->keys[i].kjson)
                    kd->keys[i].kjson = kd->keys[i].kin;
        slot = (uint32_t)kd->n_keys++;
        memset(&kd->keys[slot], 0, sizeof(kd->keys[slot]));
    }
    struct eng_key *k = &kd->keys[slot];
    /* A slot keeps a heap buffer it once needed; else short keys go inline. */
    if (!k->kcap && len + 1 <= ENG_KEY_INLINE) {
        k->kjson = k->kin;
    } else if (len + 1 > k->kcap) {
        size_t cap = k->kcap;
        if (!cap)
            k->kjson = NULL; /* was kin */
        CEP_GROW(k->kjson, cap, len + 1);
        k->kcap = (uint32_t)cap;
    }
    memcpy(k->kjson, kjson, len);
    k->kjson[len] = '\0';
    k->klen = (uint32_t)len;
    k->khash = h;
    if (r && r->nfa && kd->n_spare) {
        k->nfa = kd->spare[--kd->n_spare];
        nfa_key_reset(k->nfa);
    } else if (r && r->nfa) {
        k->nfa = nfa_key_new(r->nfa);
    } else if (r && r->win && kd->n_win_spare) {
        k->win = kd->win_spare[--kd->n_win_spare];
    }
    k->deadline = CEP_TIME_MAX;
    k->sdl = CEP_TIME_MAX;
    k->ttl_at = CEP_TIME_MAX;
    k->last_seen = CEP_TIME_MIN;
    k->live = true;
    size_t p = h & (kd->index_cap - 1);
    while (kd->index[p] != ENG_INDEX_EMPTY && eng_index_mark(kd->index[p]) != ENG_INDEX_DELETED)
        p = (p + 1) & (kd->index_cap - 1);
    if (kd->index[p] == ENG_INDEX_EMPTY)
        kd->index_used++;
    kd->index[p] = eng_index_entry(h, slot);
    kd->n_live++;
    return slot;
}

uint32_t eng_keyed_get(struct eng_keyed *kd, const struct rule *r, const char *kjson, size_t len)
{
    uint64_t h = cep_hash64(kjson, len, 0);
    uint32_t slot = eng_keyed_find(kd, h, kjson, len);
    return slot != ENG_NO_SLOT ? slot : eng_keyed_add(kd, r, h, kjson, len);
}

void eng_keyed_drop(struct eng_keyed *kd, uint32_t slot)
{
    struct eng_key *k = &kd->keys[slot];
    size_t mask = kd->index_cap - 1;
    size_t p = k->khash & mask;
    while (eng_index_mark(kd->index[p]) != slot + 1)
        p = (p + 1) & mask;
    /* The end of a probe run needs no deleted mark: it and the marks
     * before it become empty again. */
    if (kd->index[(p + 1) & mask] == ENG_INDEX_EMPTY) {
        do {
            kd->index[p] = ENG_INDEX_EMPTY;
            kd->index_used--;
            p = (p - 1) & mask;
        } while (kd->index[p] == ENG_INDEX_DELETED);
    } else {
        kd->index[p] = ENG_INDEX_DELETED;
    }
    /* Only idle states are kept for reuse (a key dropped by state_ttl
     * still holds partial matches or windows: it is freed). */
    /* Spares, with the live keys, stay within the slab's high-water mark
     * (n_keys) plus ENG_SPARE_KEYS: keys that all go idle at one instant
     * (aligned windows) come back without allocating. */
    bool keep = kd->n_live + kd->n_spare + kd->n_win_spare <= kd->n_keys + ENG_SPARE_KEYS;
    if (k->nfa && keep && nfa_key_idle(k->nfa)) {
        CEP_GROW(kd->spare, kd->spare_cap, kd->n_spare + 1);
        kd->spare[kd->n_spare++] = k->nfa;
    } else {
        nfa_key_free(k->nfa);
    }
    if (k->win && keep && win_key_idle(k->win)) {
        win_key_reset(k->win);
        CEP_GROW(kd->win_spare, kd->win_spare_cap, kd->n_win_spare + 1);
        kd->win_spare[kd->n_win_spare++] = k->win;
    } else {
        win_key_free(k->win);
    }
    evt_unref(k->last);
    if (k->thr) {
        k->thr->n = 0;
        sbuf_reset(&k->thr->kept);
    }
    k->win = NULL;
    k->nfa = NULL;
    k->last = NULL;
    k->live = false;
    k->gen++;
    kd->n_live--;
    CEP_GROW(kd->free_slots, kd->free_cap, kd->n_free + 1);
    kd->free_slots[kd->n_free++] = slot;
}

void eng_keyed_settle(struct eng_keyed *kd, uint32_t slot, bool idle, int64_t deadline)
{
    struct eng_key *k = &kd->keys[slot];
    if (idle) {
        eng_keyed_drop(kd, slot);
        return;
    }
    k->sdl = deadline;
    if (kd->ttl > 0) {
        int64_t expiry = eng_time_add(k->last_seen, kd->ttl);
        if (kd->now >= expiry) {
            eng_keyed_drop(kd, slot);
            kd->n_expired++;
            return;
        }
        if (k->ttl_at == CEP_TIME_MAX)
            k->ttl_at = expiry;
        if (k->ttl_at < deadline)
            deadline = k->ttl_at;
    }
    if (deadline != k->deadline && deadline != CEP_TIME_MAX)
        eng_timer_push(kd, (struct eng_timer){deadline, k->khash, slot, k->gen});
    k->deadline = deadline;
}

void eng_keyed_arm(struct eng_keyed *kd, uint32_t slot)
{
    const struct eng_key *k = &kd->keys[slot];
    if (k->deadline != CEP_TIME_MAX)
        eng_timer_push(kd, (struct eng_timer){k->deadline, k->khash, slot, k->gen});
}

bool eng_keyed_due(struct eng_keyed *kd, int64_t t, uint32_t *slot)
{
    if (t > kd->now)
        kd->now = t;
    while (kd->heap_n && kd->heap[0].at <= t) {
        struct eng_timer tm = eng_timer_pop(kd);
        struct eng_key *k = &kd->keys[tm.slot];
        if (!k->live || k->gen != tm.gen || k->deadline != tm.at)
            continue; /* stale: the key moved on or was dropped */
        k->deadline = CEP_TIME_MAX;
        if (k->ttl_at <= t)
            k->ttl_at = CEP_TIME_MAX; /* settle re-arms it from last_seen */
        if (k->sdl <= t) {
            /* The state's own timers run first, so a key the rule cleans
             * up at this instant anyway is never counted as expired. */
            *slot = tm.slot;
            /* Keys due together (aligned windows: all of them) are cache
             * misses in hash order: start loading the next candidates'
             * slots (the root's children) while this one is handled. */
            for (size_t c = 0; c < 3 && c < kd->heap_n; c++)
                __builtin_prefetch(&kd->keys[kd->heap[c].slot]);
            return true;
        }
        eng_keyed_settle(kd, tm.slot, false, k->sdl); /* a state_ttl check alone */
    }
    return false;
}

void eng_keyed_each_event(const struct eng_keyed *kd, void (*fn)(void *ud, struct evt *ev),
                          void *ud)
{
    for (size_t i = 0; i < kd->n_keys; i++) {
        const struct eng_key *k = &kd->keys[i];
        if (!k->live)
            continue;
        if (k->nfa)
            nfa_key_each_event(k->nfa, fn, ud);
        if (k->win)
            fn(ud, win_key_held_event(k->win));
        fn(ud, k->last);
    }
}

size_t eng_keyed_bytes(const struct eng_keyed *kd)
{
    size_t b = kd->keys_cap * sizeof(*kd->keys) + kd->free_cap * sizeof(*kd->free_slots) +
               kd->index_cap * sizeof(*kd->index) + kd->heap_cap * sizeof(*kd->heap) +
               kd->spare_cap * sizeof(*kd->spare) + kd->win_spare_cap * sizeof(*kd->win_spare);
    for (size_t i = 0; i < kd->n_keys; i++) {
        const struct eng_key *k = &kd->keys[i];
        b += k->kcap;
        if (k->nfa)
            b += nfa_key_bytes(k->nfa);
        if (k->win)
            b += win_key_bytes(k->win);
        if (k->last)
            b += evt_mem_bytes(k->last);
        if (k->thr)
            b += sizeof(*k->thr) + k->thr->kept.cap;
    }
    for (size_t i = 0; i < kd->n_spare; i++)
        b += nfa_key_bytes(kd->spare[i]);
    for (size_t i = 0; i < kd->n_win_spare; i++)
        b += win_key_bytes(kd->win_spare[i]);
    if (kd->throttle)
        b += sizeof(*kd->throttle) + eng_keyed_bytes(kd->throttle);
    return b;
}

void eng_keyed_fields_json(struct sbuf *sb, const struct rule_field *f, size_t n,
                           struct expr_ctx *ctx)
{
    sbuf_reset(sb);
    sbuf_reserve(sb, 1);
    sb->buf[sb->len++] = '[';
    for (size_t i = 0; i < n; i++) {
        struct val v;
        int slot = expr_field_slot(f[i].expr);
        if (slot >= 0 && ctx->ev && (uint32_t)slot < ctx->ev->n_slots)
            v = ctx->ev->slots[slot]; /* a bare field: what expr_eval would load */
        else
            expr_eval(f[i].expr, ctx, &v);
        if (i)
            sbuf_putc(sb, ',');
        val_to_json(&v, sb);
    }
    sbuf_reserve(sb, 1);
    sb->buf[sb->len++] = ']';
    sb->buf[sb->len] = '\0';
}

void eng_keyed_key_json(struct eng *eng, const struct rule *r, struct expr_ctx *ctx)
{
    eng_keyed_fields_json(&eng->key, r->key, r->n_key, ctx);
}

/* Are a and b (n_a, n_b) the same bare fields, in the same order? */
static inline bool eng_keyed_same_fields(const struct rule_field *a, size_t n_a,
                                         const struct rule_field *b, size_t n_b)
{
    if (a == b)
        return n_a == n_b;
    if (n_a != n_b)
        return false;
    for (size_t i = 0; i < n_a; i++) {
        int slot = expr_field_slot(a[i].expr);
        if (slot < 0 || slot != expr_field_slot(b[i].expr))
            return false;
    }
    return true;
}

/* eng_keyed_enter; lazy: eng_keyed_enter_lazy.  The key is the one the
 * input's producer wrote (eng->khint) when the rule is keyed by the same
 * fields; a debug build writes it again and compares. */
static bool eng_keyed_enter_as(struct eng *eng, size_t ri, const struct evt *ev, uint32_t *slot,
                               bool lazy)
{
    const struct rule *r = eng->rs->rules[ri];
    struct eng_rule_stats *rst = &eng->rule_stats[ri];
    struct expr_ctx ctx = {.ev = ev, .counters = &rst->expr, .rt = eng->rt};
    rst->evaluated++;
    if (r->when && !expr_eval_bool(r->when, &ctx))
        return false;
    struct eng_keyed *kd = &eng->keyed[ri];
    if (ev->time > kd->now)
        kd->now = ev->time;
    /* An event every run would ignore in place: its key need not be
     * found (deadlines come from the stream's advance).  Its time would
     * matter to the key only through an explicit state_ttl, which counts
     * from the key's last event; the default one (within plus lateness)
     * outlasts every run, and inert events start and extend none. */
    if (lazy && !r->state_ttl_explicit && nfa_prog_inert(r->nfa, ev))
        return false;
    const char *kjson;
    size_t klen;
    uint64_t h;
    const struct eng_key_hint *hint = eng->khint;
    if (hint && ev == eng->input &&
        eng_keyed_same_fields(r->key, r->n_key, hint->key, hint->n_key)) {
        kjson = hint->json;
        klen = hint->len;
        h = hint->hash;
#ifdef CEP_DEBUG
        eng_keyed_key_json(eng, r, &ctx);
        CEP_ASSERT(eng->key.len == klen && !memcmp(eng->key.buf, kjson, klen) &&
                   cep_hash64(kjson, klen, 0) == h);
#endif
    } else {
        eng_keyed_key_json(eng, r, &ctx);
        kjson = eng->key.buf;
        klen = eng->key.len;
        h = cep_hash64(kjson, klen, 0);
    }
    *slot = eng_keyed_find(kd, h, kjson, klen);
    if (*slot == ENG_NO_SLOT) {
        if (lazy && !nfa_prog_may_start(r->nfa, ev))
            return false;
        *slot = eng_keyed_add(kd, r, h, kjson, klen);
    }
    struct eng_key *k = &kd->keys[*slot];
    if (ev->time > k->last_seen)
        k->last_seen = ev->time;
    return true;
}

bool eng_keyed_enter(struct eng *eng, size_t ri, const struct evt *ev, uint32_t *slot)
{
    return eng_keyed_enter_as(eng, ri, ev, slot, false);
}

bool eng_keyed_enter_lazy(struct eng *eng, size_t ri, const struct evt *ev, uint32_t *slot)
{
    return eng_keyed_enter_as(eng, ri, ev, slot, true);
}

size_t eng_rule_keys(const struct eng *eng, size_t ri)
{
    CEP_ASSERT(ri < eng->rs->n_rules);
    return eng->keyed[ri].n_live;
}

size_t eng_rule_state_bytes(const struct eng *eng, size_t ri)
{
    CEP_ASSERT(ri < eng->rs->n_rules);
    return eng_keyed_bytes(&eng->keyed[ri]);
}
