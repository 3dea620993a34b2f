/* SPDX-License-Identifier: Apache-2.0
 * Engine internals shared by eng.c (dispatch, derived-event routing) and
 * eng_alert.c (alert JSON and deterministic ids). */
#ifndef CEPD_ENG_INT_H
#define CEPD_ENG_INT_H

#include "cepd/eng.h"
#include "cepd/expr.h"
#include "cepd/sbuf.h"

struct eng {
    const struct ruleset *rs;
    struct eng_output out;
    struct expr_rt *rt;
    struct eng_stats stats;
    struct eng_rule_stats *rule_stats; /* one per rule */
    char **rule_src_names;             /* "rule:<id>": identity of derived events */
    struct evt *input;                 /* reused for every input line */
    struct evt **free_evts;            /* pool of derived events */
    size_t n_free, free_cap;
    struct evt **queue;                /* derived events waiting, FIFO */
    size_t q_head, q_len, q_cap;
    struct sbuf alert;                 /* alert JSON under construction */
    struct sbuf text;                  /* message, derived event JSON */
    struct sbuf val_json;              /* one value as JSON (ids) */
};

/* Build the alert JSON for rule firing on ev into eng->alert; writes the
 * 128-bit alert id as hex into id_hex and returns its low 64 bits. */
uint64_t eng_alert_build(struct eng *eng, size_t rule_index, const struct evt *ev,
                         struct expr_ctx *ctx, char id_hex[33]);

/* Wall-clock time in microseconds. */
int64_t eng_now_us(void);

#endif
