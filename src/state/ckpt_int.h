/* SPDX-License-Identifier: Apache-2.0
 * Checkpoint module internals shared with its tests: the portable CRC-32C,
 * so that it is tested on machines where ckpt_crc32c uses SSE4.2.
 * Tested by: tests/unit/check_ckpt.c */
#ifndef CEPD_CKPT_INT_H
#define CEPD_CKPT_INT_H

#include "cepd/cep_common.h"

/* ckpt_crc32c computed with the slicing-by-8 tables only. */
uint32_t ckpt_crc32c_sw(uint32_t crc, const void *p, size_t len);

#endif
