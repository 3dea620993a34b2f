/* SPDX-License-Identifier: Apache-2.0
 * Checkpoint module internals shared by ckpt_file.c and wal.c (fixed-width
 * little-endian fields, fault injection) and with its tests (the portable
 * CRC-32C, so that it is tested on machines where ckpt_crc32c uses SSE4.2).
 * Tested by: tests/unit/check_ckpt.c, tests/unit/check_wal.c */
#ifndef CEPD_CKPT_INT_H
#define CEPD_CKPT_INT_H

#include "cepd/cep_common.h"

/* ckpt_crc32c computed with the slicing-by-8 tables only. */
uint32_t ckpt_crc32c_sw(uint32_t crc, const void *p, size_t len);

/* Store / load the n low bytes of v at p, little-endian. */
static inline void ckpt_le_put(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t ckpt_le_get(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* True (with errno set to e) when the injected fault of step is due
 * (ckpt_fault, include/cepd/ckpt.h). */
bool ckpt_inject(const char *step, int e);

#endif
