/* SPDX-License-Identifier: Apache-2.0
 * IP/CIDR sets: one address or network per line (IPv4 and IPv6, `#`
 * comments, blank lines).  Each network becomes an inclusive range of
 * addresses; ranges are sorted and merged when they overlap or touch, so a
 * membership test is one binary search, O(log n), per family.  Host bits
 * below the prefix are ignored (10.1.2.3/8 is 10.0.0.0/8), and IPv4-mapped
 * IPv6 addresses (::ffff:a.b.c.d) are IPv4, in the set and in probes.
 * Tested by: tests/unit/check_lookup.c (cidr) */
#include "cepd/cep_common.h"
#include "lookup_int.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

/* Parse address text into 4 or 16 bytes.  IPv4-mapped IPv6 becomes IPv4
 * (*mapped set).  Returns the family (4 or 6), or 0 if s is no address. */
static int lookup_ip_parse(const char *s, size_t len, uint8_t addr[16], bool *mapped)
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    char buf[64];
    *mapped = false;
    if (len == 0 || len >= sizeof(buf))
        return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (inet_pton(AF_INET, buf, addr) == 1)
        return 4;
    if (inet_pton(AF_INET6, buf, addr) != 1)
        return 0;
    if (memcmp(addr, prefix, sizeof(prefix)) == 0) {
        memmove(addr, addr + 12, 4);
        *mapped = true;
        return 4;
    }
    return 6;
}

static uint32_t lookup_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t lookup_be64(const uint8_t *p)
{
    return (uint64_t)lookup_be32(p) << 32 | lookup_be32(p + 4);
}

static int lookup_u128_cmp(struct lookup_u128 a, struct lookup_u128 b)
{
    if (a.hi != b.hi)
        return a.hi < b.hi ? -1 : 1;
    return (a.lo > b.lo) - (a.lo < b.lo);
}

/* The mask of the low (128 - bits) host bits. */
static struct lookup_u128 lookup_host_mask(uint32_t bits)
{
    struct lookup_u128 m;
    m.hi = bits >= 64 ? 0 : (bits == 0 ? UINT64_MAX : UINT64_MAX >> bits);
    m.lo = bits <= 64 ? UINT64_MAX : (bits == 128 ? 0 : UINT64_MAX >> (bits - 64));
    return m;
}

static int lookup_v4_cmp(const void *a, const void *b)
{
    const struct lookup_v4 *x = a, *y = b;
    return (x->lo > y->lo) - (x->lo < y->lo);
}

static int lookup_v6_cmp(const void *a, const void *b)
{
    const struct lookup_v6 *x = a, *y = b;
    return lookup_u128_cmp(x->lo, y->lo);
}

/* Sort and merge overlapping or touching ranges in place. */
static void lookup_v4_merge(struct lookup_table *t)
{
    if (!t->n_v4)
        return;
    qsort(t->v4, t->n_v4, sizeof(*t->v4), lookup_v4_cmp);
    size_t out = 0;
    for (size_t i = 1; i < t->n_v4; i++) {
        struct lookup_v4 *cur = &t->v4[out];
        if (cur->hi == UINT32_MAX || t->v4[i].lo <= cur->hi + 1) {
            if (t->v4[i].hi > cur->hi)
                cur->hi = t->v4[i].hi;
        } else {
            t->v4[++out] = t->v4[i];
        }
    }
    t->n_v4 = out + 1;
}

static void lookup_v6_merge(struct lookup_table *t)
{
    if (!t->n_v6)
        return;
    qsort(t->v6, t->n_v6, sizeof(*t->v6), lookup_v6_cmp);
    size_t out = 0;
    for (size_t i = 1; i < t->n_v6; i++) {
        struct lookup_v6 *cur = &t->v6[out];
        struct lookup_u128 next = cur->hi; /* cur->hi + 1, unless it is the last address */
        bool at_max = next.hi == UINT64_MAX && next.lo == UINT64_MAX;
        if (!at_max) {
            next.lo++;
            next.hi += next.lo == 0;
        }
        if (at_max || lookup_u128_cmp(t->v6[i].lo, next) <= 0) {
            if (lookup_u128_cmp(t->v6[i].hi, cur->hi) > 0)
                cur->hi = t->v6[i].hi;
        } else {
            t->v6[++out] = t->v6[i];
        }
    }
    t->n_v6 = out + 1;
}

/* Add the network "addr[/bits]" in s[0..len).  False if it is not one. */
static bool lookup_cidr_add(struct lookup_table *t, const char *s, size_t len, size_t *cap4,
                            size_t *cap6)
{
    const char *slash = memchr(s, '/', len);
    size_t alen = slash ? (size_t)(slash - s) : len;
    uint8_t addr[16];
    bool mapped;
    int fam = lookup_ip_parse(s, alen, addr, &mapped);
    if (!fam)
        return false;
    uint32_t max = fam == 4 ? 32 : 128, bits = max;
    if (slash) {
        size_t k = len - alen - 1;
        if (k == 0 || k > 3)
            return false;
        bits = 0;
        for (size_t i = 0; i < k; i++) {
            char c = slash[1 + i];
            if (c < '0' || c > '9')
                return false;
            bits = bits * 10 + (uint32_t)(c - '0');
        }
        if (mapped) {
            /* ::ffff:a.b.c.d/n: n counts the 96 prefix bits too. */
            if (bits < 96 || bits > 128)
                return false;
            bits -= 96;
        } else if (bits > max) {
            return false;
        }
    }
    if (fam == 4) {
        uint32_t a = lookup_be32(addr);
        uint32_t host = bits == 0 ? UINT32_MAX : (bits == 32 ? 0 : UINT32_MAX >> bits);
        CEP_GROW(t->v4, *cap4, t->n_v4 + 1);
        t->v4[t->n_v4++] = (struct lookup_v4){a & ~host, a | host};
    } else {
        struct lookup_u128 a = {lookup_be64(addr), lookup_be64(addr + 8)};
        struct lookup_u128 m = lookup_host_mask(bits);
        CEP_GROW(t->v6, *cap6, t->n_v6 + 1);
        t->v6[t->n_v6++] = (struct lookup_v6){{a.hi & ~m.hi, a.lo & ~m.lo},
                                              {a.hi | m.hi, a.lo | m.lo}};
    }
    t->n_entries++;
    return true;
}

int lookup_cidr_parse(struct lookup_table *t, struct lookup_src *s)
{
    const char *text = s->text;
    size_t p = 0, cap4 = 0, cap6 = 0;
    while (p < s->len) {
        size_t ls = p;
        while (p < s->len && text[p] != '\n')
            p++;
        size_t le = p;
        p = p < s->len ? p + 1 : p;
        const char *hash = memchr(text + ls, '#', le - ls);
        if (hash)
            le = (size_t)(hash - text);
        while (ls < le && (text[ls] == ' ' || text[ls] == '\t'))
            ls++;
        while (le > ls && (text[le - 1] == ' ' || text[le - 1] == '\t' || text[le - 1] == '\r'))
            le--;
        if (ls == le)
            continue;
        if (!lookup_cidr_add(t, text + ls, le - ls, &cap4, &cap6))
            lookup_src_error(s, ls, "'%.*s' is not an IP address or network (a.b.c.d/n, x::y/n)",
                             (int)(le - ls > 64 ? 64 : le - ls), text + ls);
    }
    if (s->errors)
        return CEP_ERR;
    lookup_v4_merge(t);
    lookup_v6_merge(t);
    return CEP_OK;
}

bool lookup_cidr_contains(const struct lookup_table *t, const char *ip, size_t len)
{
    uint8_t addr[16];
    bool mapped;
    int fam = lookup_ip_parse(ip, len, addr, &mapped);
    if (fam == 4) {
        uint32_t a = lookup_be32(addr);
        size_t lo = 0, hi = t->n_v4; /* first range with lo > a */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (t->v4[mid].lo <= a)
                lo = mid + 1;
            else
                hi = mid;
        }
        return lo > 0 && a <= t->v4[lo - 1].hi;
    }
    if (fam == 6) {
        struct lookup_u128 a = {lookup_be64(addr), lookup_be64(addr + 8)};
        size_t lo = 0, hi = t->n_v6;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (lookup_u128_cmp(t->v6[mid].lo, a) <= 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        return lo > 0 && lookup_u128_cmp(a, t->v6[lo - 1].hi) <= 0;
    }
    return false;
}
