/* SPDX-License-Identifier: Apache-2.0
 * `parallelism: N`: N worker threads, each running a full engine on the
 * same rule set but owning only the key groups g with g % N == its index.
 * The caller's thread (the daemon's loop) is the dispatcher: it validates
 * each line, picks its worker and keeps every event-time stream's
 * watermark, which it hands to the workers with the lines, so that their
 * results are the same multiset of alerts as one engine's.  Alerts come
 * back on the caller's thread, from eng_par_poll.  Design and its limits:
 * the top comment of src/engine/eng_par.c.
 * Tested by: tests/unit/check_par.c, tests/daemon/t_parallel.sh */
#ifndef CEPD_ENG_PAR_H
#define CEPD_ENG_PAR_H

#include "cepd/cep_common.h"
#include "cepd/eng.h"

struct eng_par;

/* How the lines of a stream are spread over the workers. */
enum eng_par_route {
    ENG_PAR_BY_KEY = 0, /* by the group of the key its stateful rules share */
    ENG_PAR_SPREAD,     /* stateless, unthrottled: any worker, in turns */
    ENG_PAR_WORKER0,    /* rules with different keys, no key, or emit: worker 0 */
    ENG_PAR_ROUTE_COUNT
};

/* N (2..128) workers running rs (borrowed: it must outlive the eng_par);
 * out->alert runs on the thread that calls eng_par_poll, out->late is not
 * used (late events are counted).  Starts the threads; NULL, with the
 * system error in err (errlen bytes), when one cannot start (the others
 * are stopped again).  The fault-injection build fails the Nth start with
 * CEPD_FAULT=thread:N (see ckpt_fault). */
struct eng_par *eng_par_new(const struct ruleset *rs, uint32_t n, const struct eng_output *out,
                            char *err, size_t errlen);
/* Stops and joins the workers (after eng_par_finish or not), frees all. */
void eng_par_free(struct eng_par *p);

/* How stream `stream` is routed, and for ENG_PAR_WORKER0 why (static text). */
enum eng_par_route eng_par_stream_route(const struct eng_par *p, uint32_t stream,
                                        const char **why);

/* Offer one line, as eng_push_line: the line is validated (decoded, event
 * time) here, on the caller's thread; CEP_ERR with *rej filled when it is
 * rejected (the caller dead-letters it).  Otherwise it is copied into the
 * batch of its worker; when that batch is full it goes out and the alerts
 * the workers have sent back are delivered (out->alert); a full ring makes
 * this wait (draining alerts meanwhile) until the worker has room:
 * back-pressure, never loss.  Between batches, eng_par_flush and
 * eng_par_poll (the caller's timer) send lines and deliver alerts. */
int eng_par_push_line(struct eng_par *p, uint32_t stream, const char *line, size_t len,
                      const char *src_name, uint64_t src_off, struct eng_reject *rej);
/* A line rejected before it was offered (counted). */
void eng_par_note_rejected(struct eng_par *p);
/* Send the batches being filled (with the current watermarks) now. */
void eng_par_flush(struct eng_par *p);
/* Deliver the alerts the workers have sent back through out->alert.
 * Returns how many. */
size_t eng_par_poll(struct eng_par *p);
/* True when some worker's input ring is full: the caller should stop
 * reading until a later poll finds it false. */
bool eng_par_congested(const struct eng_par *p);
/* eng_tick for every worker (the idle_timeout of streams with external
 * watermarks is applied here first). */
void eng_par_tick(struct eng_par *p, int64_t now);
/* eng_finish on every worker; returns once each has finished and its
 * alerts have been delivered. */
void eng_par_finish(struct eng_par *p, enum eng_eof mode);
/* The workers' counters summed (plus lines rejected here).  Waits until
 * every worker has processed what was sent so far. */
void eng_par_stats(struct eng_par *p, struct eng_stats *out);
/* Rule ri's counters and state gauges summed over the workers, as of the
 * last eng_par_stats. */
void eng_par_rule_report(const struct eng_par *p, size_t ri, struct eng_rule_report *out);

/* Checkpoints (design §5.1; the top comment of eng_par.c).  A barrier
 * through every ring, between two lines: returns once every worker has
 * snapshotted its engine and every alert made before it has been
 * delivered through out->alert; writes the ENGINE section's payload (one
 * frame per worker, eng.h) to w.  On the dispatcher's thread. */
struct ckpt_w;
struct ckpt_r;
void eng_par_snapshot(struct eng_par *p, struct ckpt_w *w);
/* Restore the ENGINE section sec of a checkpoint taken with any number of
 * workers (or one engine) into p, before any line was offered: key groups
 * move to the workers that own them now.  rep as eng_restore's (keys
 * summed over the workers).  CEP_ERR (err filled) leaves every worker's
 * engine as new. */
int eng_par_restore(struct eng_par *p, struct ckpt_r *sec, struct eng_restore_report *rep,
                    char *err, size_t errlen);

#endif
