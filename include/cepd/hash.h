/* SPDX-License-Identifier: Apache-2.0
 * Non-cryptographic hashing for key groups, compiled-form hashes and alert
 * ids.  Stable across runs, builds and machines (alert ids depend on it).
 * Tested by: tests/unit/check_core.c */
#ifndef CEPD_HASH_H
#define CEPD_HASH_H

#include "cepd/cep_common.h"

/* 64-bit hash of len bytes with a seed. */
uint64_t cep_hash64(const void *data, size_t len, uint64_t seed);

/* Incremental 128-bit hasher: feed pieces, then finish.  Used for alert ids
 * (rule id, key, event identities) and compiled-form hashes. */
struct cep_hasher {
    uint64_t a;
    uint64_t b;
    uint64_t n;
};
void cep_hasher_init(struct cep_hasher *h);
void cep_hasher_update(struct cep_hasher *h, const void *data, size_t len);
/* Feed a length-prefixed piece, so ("ab","c") and ("a","bc") differ. */
void cep_hasher_piece(struct cep_hasher *h, const void *data, size_t len);
void cep_hasher_u64(struct cep_hasher *h, uint64_t v);
/* Write the 128-bit result as 32 lowercase hex digits plus NUL. */
void cep_hasher_hex(const struct cep_hasher *h, char out[33]);
uint64_t cep_hasher_u64_result(const struct cep_hasher *h);

#endif
