/* SPDX-License-Identifier: Apache-2.0
 * Decoders: turn one received line into an event's slot values, reading
 * only the field paths of the stream's schema.  A decoder runs on the thread
 * that owns the event, allocates nothing, and reports a malformed line as a
 * reason and byte offset for the source's counters and debug log.
 * Tested by: tests/unit/check_json.c, tests/fuzz/fuzz_dec_json.c */
#ifndef CEPD_DEC_H
#define CEPD_DEC_H

#include "cepd/cep_common.h"
#include "cepd/evt.h"

/* Why a line was rejected: reason is a static string ("invalid UTF-8",
 * "unterminated string", "expected ':'", "trailing characters", "top level
 * is not an object", "nesting too deep", ...); offset is the byte offset in
 * the line of the offending byte (the opening quote for an unterminated
 * string, the line length for a truncated line). */
struct dec_err {
    const char *reason;
    size_t offset;
};

/* Decode ev->raw (ev->raw_len bytes, prepared by evt_reset with at least
 * schema->n_slots slots) as one JSON object and fill ev->slots[slot] for
 * every schema path present in it; absent paths stay VAL_NULL.  The whole
 * line is validated (syntax, UTF-8, escapes, nesting up to JSON_MAX_DEPTH)
 * but only wanted values are materialised: strings point into ev->raw, or
 * into ev->scratch (ev->scratch_len grows) when they had escapes; objects
 * and arrays are raw slices of ev->raw; numbers are VAL_INT when written as
 * an integer that fits int64, else VAL_FLOAT.  Duplicate keys: the last one
 * wins, including for paths below it.  Returns CEP_OK, or CEP_ERR with *err
 * filled and every slot reset to VAL_NULL. */
int dec_json_line(const struct evt_schema *schema, struct evt *ev, struct dec_err *err);

#endif
