/* SPDX-License-Identifier: Apache-2.0
 * Stable 64- and 128-bit hashing.  The mixing is a multiply-xorshift over
 * 8-byte words with two independent lanes for the 128-bit result; output
 * is identical on every platform (little-endian loads are explicit), because
 * alert ids and checkpoint hashes depend on it.
 * Tested by: tests/unit/check_core.c */
#include "cepd/cep_common.h"
#include "cepd/hash.h"

#include <string.h>

#define HASH_K1 UINT64_C(0x9e3779b97f4a7c15)
#define HASH_K2 UINT64_C(0xc2b2ae3d27d4eb4f)
#define HASH_K3 UINT64_C(0x165667b19e3779f9)

static inline uint64_t hash_load64(const unsigned char *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
           (uint64_t)p[7] << 56;
}

static inline uint64_t hash_load32(const unsigned char *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
}

static inline uint64_t hash_mix(uint64_t x)
{
    x ^= x >> 31;
    x *= HASH_K2;
    x ^= x >> 29;
    x *= HASH_K3;
    x ^= x >> 32;
    return x;
}

uint64_t cep_hash64(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = seed ^ (len * HASH_K1);
    while (len >= 8) {
        h = (h ^ hash_mix(hash_load64(p))) * HASH_K1;
        h ^= h >> 27;
        p += 8;
        len -= 8;
    }
    /* The last len < 8 bytes, little-endian: two overlapping 4-byte loads
     * (the bytes they share land on the same bits), or three bytes. */
    uint64_t tail = 0;
    if (len >= 4)
        tail = hash_load32(p) | hash_load32(p + len - 4) << (8 * (len - 4));
    else if (len)
        tail = (uint64_t)p[0] | (uint64_t)p[len >> 1] << (8 * (len >> 1)) |
               (uint64_t)p[len - 1] << (8 * (len - 1));
    h = (h ^ hash_mix(tail ^ HASH_K3)) * HASH_K1;
    return hash_mix(h);
}

void cep_hasher_init(struct cep_hasher *h)
{
    h->a = UINT64_C(0x6a09e667f3bcc908);
    h->b = UINT64_C(0xbb67ae8584caa73b);
    h->n = 0;
}

void cep_hasher_update(struct cep_hasher *h, const void *data, size_t len)
{
    uint64_t x = cep_hash64(data, len, h->a);
    uint64_t y = cep_hash64(data, len, h->b ^ HASH_K2);
    h->a = hash_mix(h->a ^ x) + HASH_K1;
    h->b = hash_mix(h->b + y) ^ HASH_K3;
    h->n += len;
}

void cep_hasher_piece(struct cep_hasher *h, const void *data, size_t len)
{
    cep_hasher_u64(h, (uint64_t)len);
    cep_hasher_update(h, data, len);
}

void cep_hasher_u64(struct cep_hasher *h, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    cep_hasher_update(h, b, sizeof(b));
}

void cep_hasher_hex(const struct cep_hasher *h, char out[33])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t a = hash_mix(h->a ^ h->n), b = hash_mix(h->b + h->n);
    for (int i = 0; i < 16; i++) {
        out[i] = hex[(a >> (60 - 4 * i)) & 15];
        out[16 + i] = hex[(b >> (60 - 4 * i)) & 15];
    }
    out[32] = '\0';
}

uint64_t cep_hasher_u64_result(const struct cep_hasher *h)
{
    return hash_mix(h->a ^ h->n) ^ h->b;
}
