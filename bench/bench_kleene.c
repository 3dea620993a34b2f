/* SPDX-License-Identifier: Apache-2.0
 * Microbenchmark of skip-till-any Kleene+ (issue 7, workload 4), straight
 * on the NFA API: `A, B+, C` with `after: any` and `loop: any`, a rule
 * `within` of W events (event i has time i us), one key, a deterministic
 * stream (10% a, 40% b, 10% c, 40% other).  Mode `count` runs a counting
 * key (emit TALLY: one summary per completing event); mode `all` the
 * enumerating runtime (every match built, at most max_partial = 10000 open
 * partial matches, oldest evicted beyond).  Prints events/s, matches and
 * summaries seen, the evictions, and the peak RSS of the process.
 * events/s is by wall clock; cpu_events_per_s by the process's CPU time,
 * which is what to read on a machine shared with other work.
 * Usage: bench_kleene count|all WINDOW_EVENTS N_EVENTS [MAX_SECONDS]
 * (stops early, and says so, after MAX_SECONDS, default 20).
 * Tested by: bench/kleene.sh (it checks every run reported matches). */
#include "cepd/cep_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cepd/diag.h"
#include "cepd/evt.h"
#include "cepd/expr.h"
#include "cepd/nfa.h"

struct bench {
    uint64_t matches;   /* matches (all) or matches counted (count, saturating) */
    uint64_t summaries; /* on_count calls */
};

static void on_match(void *ud, const struct nfa_match *m)
{
    struct bench *b = ud;
    b->matches += m->n > 0;
}

static void on_count(void *ud, const struct nfa_count *c)
{
    struct bench *b = ud;
    b->summaries++;
    b->matches = b->matches + c->n < b->matches ? UINT64_MAX : b->matches + c->n;
}

static struct expr *cond(struct evt_schema *schema, const char *text, int step)
{
    struct expr_env env = {.schema = schema, .current_step = step};
    struct expr_src src = {.text = text, .len = strlen(text), .file = "bench",
                           .base_line = 1, .base_col = 1};
    struct diag_list dl;
    diag_list_init(&dl);
    struct expr *e = expr_compile(&src, &env, &dl);
    if (!e) {
        diag_print(&dl, stderr);
        exit(2);
    }
    diag_list_free(&dl);
    return e;
}

static double now_s(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 4 || (strcmp(argv[1], "count") && strcmp(argv[1], "all"))) {
        fprintf(stderr, "usage: bench_kleene count|all WINDOW_EVENTS N_EVENTS [MAX_SECONDS]\n");
        return 2;
    }
    bool counting = strcmp(argv[1], "count") == 0;
    int64_t window = strtoll(argv[2], NULL, 10);
    uint64_t n = strtoull(argv[3], NULL, 10);
    double max_s = argc > 4 ? strtod(argv[4], NULL) : 20;

    struct evt_schema *schema = evt_schema_new();
    evt_schema_slot_dotted(schema, "type");
    struct expr *ea = cond(schema, "type == 'a'", 0);
    struct expr *eb = cond(schema, "type == 'b'", 1);
    struct expr *ec = cond(schema, "type == 'c'", 2);
    struct nfa_step_spec steps[3] = {
        {.name = "a", .index = 0, .when = ea, .min = 1, .max = 1,
         .after = NFA_CONTIG_RELAXED, .loop = NFA_CONTIG_RELAXED},
        {.name = "b", .index = 1, .when = eb, .min = 1, .max = NFA_UNBOUNDED,
         .after = NFA_CONTIG_ANY, .loop = NFA_CONTIG_ANY},
        {.name = "c", .index = 2, .when = ec, .min = 1, .max = 1,
         .after = NFA_CONTIG_ANY, .loop = NFA_CONTIG_RELAXED},
    };
    struct nfa_pattern_spec ps = {.steps = steps, .n_steps = 3, .n_indexes = 3,
                                  .within = window, .skip = NFA_SKIP_NO_SKIP, .skip_step = -1,
                                  .emit = counting ? NFA_EMIT_TALLY : NFA_EMIT_ALL};
    struct nfa_prog *prog = nfa_compile(&ps);
    struct expr_rt *rt = expr_rt_new();
    struct nfa_work *work = nfa_work_new();
    struct expr_counters counters;
    memset(&counters, 0, sizeof(counters));
    uint64_t evicted = 0;
    struct bench b = {0, 0};
    struct nfa_env env = {.rt = rt, .work = work, .counters = &counters, .evicted = &evicted,
                          .ud = &b, .on_match = on_match, .on_count = on_count};
    struct nfa_key *k = nfa_key_new(prog);
    struct evt_pool pool;
    evt_pool_init(&pool);

    static const char *const types[10] = {"a", "b", "b", "b", "b", "c", "x", "x", "x", "x"};
    uint64_t rng = 42, done = 0;
    double t0 = now_s(CLOCK_MONOTONIC), t1 = t0, c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
    for (uint64_t i = 0; i < n; i++) {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        const char *t = types[(rng >> 33) % 10];
        struct evt *ev = evt_pool_get(&pool);
        evt_reset(ev, t, 1, schema->n_slots);
        ev->time = (int64_t)i;
        ev->seq = i;
        ev->slots[0] = val_str(ev->raw, 1);
        nfa_key_advance(k, ev->time, &env);
        nfa_key_process(k, ev, &env);
        evt_unref(ev);
        done++;
        if ((i & 1023) == 1023) {
            t1 = now_s(CLOCK_MONOTONIC);
            if (t1 - t0 > max_s)
                break;
        }
    }
    t1 = now_s(CLOCK_MONOTONIC);
    double c1 = now_s(CLOCK_PROCESS_CPUTIME_ID);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("mode=%s window=%lld events=%llu%s seconds=%.3f events_per_s=%.0f "
           "cpu_events_per_s=%.0f matches=%llu%s summaries=%llu evicted=%llu peak_rss_kib=%ld\n",
           argv[1], (long long)window, (unsigned long long)done, done < n ? " (time limit)" : "",
           t1 - t0, (double)done / (t1 - t0), (double)done / (c1 - c0), (unsigned long long)b.matches,
           b.matches == UINT64_MAX ? "(saturated)" : "", (unsigned long long)b.summaries,
           (unsigned long long)evicted, ru.ru_maxrss);
    nfa_key_free(k);
    evt_pool_fini(&pool);
    nfa_prog_free(prog);
    expr_rt_free(rt);
    nfa_work_free(work);
    expr_free(ea);
    expr_free(eb);
    expr_free(ec);
    evt_schema_free(schema);
    return b.matches ? 0 : 1;
}
