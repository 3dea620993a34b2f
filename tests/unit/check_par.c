/* SPDX-License-Identifier: Apache-2.0
 * Unit tests for the parallel engine: the SPSC ring (order, bounds, two
 * threads), stream routing, and the same multiset of alerts from N workers
 * as from one engine on generated input (pattern, aggregate with late
 * corrections, absence, throttled and simple rules, out-of-order and late
 * events, punctuation; end of input by flush and by drain), with more
 * batches than the rings hold, so the dispatcher waits (back-pressure);
 * checkpoints with rescale: a snapshot taken mid-input with N workers (or
 * one engine) restored into M, the rest fed, gives the uninterrupted run's
 * alerts and counters, with reorder buffers non-empty at the cut; the
 * dispatcher's key-only scan against the full decoder on random lines.
 * Tested by: this file (make check) */
#include "cepd/cep_common.h"
#include "cepd/ckpt.h"
#include "cepd/eng.h"
#include "cepd/eng_par.h"
#include "cepd/rule.h"
#include "eng_int.h"
#include "eng_par_int.h"

#include "cepd/dec.h"
#include "cepd/hash.h"
#include "cepd/sbuf.h"

#include <check.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- ring ---------------------------------------------------------------- */

START_TEST(test_ring_bounds)
{
    struct eng_par_ring r;
    eng_par_ring_init(&r, 4);
    int v[5];
    ck_assert_ptr_null(eng_par_ring_pop(&r));
    for (int i = 0; i < 4; i++)
        ck_assert(eng_par_ring_push(&r, &v[i]));
    ck_assert(!eng_par_ring_push(&r, &v[4]));
    ck_assert_uint_eq(eng_par_ring_count(&r), 4);
    for (int round = 0; round < 10; round++) { /* indexes wrap */
        ck_assert_ptr_eq(eng_par_ring_pop(&r), &v[round % 4]);
        ck_assert(eng_par_ring_push(&r, &v[round % 4]));
    }
    for (int i = 0; i < 4; i++)
        ck_assert_ptr_eq(eng_par_ring_pop(&r), &v[(10 + i) % 4]);
    ck_assert_ptr_null(eng_par_ring_pop(&r));
    ck_assert_uint_eq(eng_par_ring_count(&r), 0);
    eng_par_ring_fini(&r);
}
END_TEST

#define RING_N 20000

static void *ring_producer(void *arg)
{
    struct eng_par_ring *r = arg;
    for (uintptr_t i = 1; i <= RING_N; i++)
        while (!eng_par_ring_push(r, (void *)i))
            sched_yield();
    return NULL;
}

START_TEST(test_ring_threads)
{
    struct eng_par_ring r;
    eng_par_ring_init(&r, 8);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, ring_producer, &r), 0);
    uintptr_t want = 1;
    while (want <= RING_N) {
        void *x = eng_par_ring_pop(&r);
        if (x) {
            ck_assert_uint_eq((uintptr_t)x, want); /* FIFO, nothing lost or doubled */
            want++;
        } else {
            sched_yield();
        }
    }
    pthread_join(t, NULL);
    ck_assert_ptr_null(eng_par_ring_pop(&r));
    eng_par_ring_fini(&r);
}
END_TEST

/* ---- rule sets ------------------------------------------------------------ */

static const char *rules_keyed =
        "streams:\n"
        "  ev: {time: {field: ts, unit: s, max_out_of_orderness: 5s, allowed_lateness: 20s}}\n"
        "  pu: {time: {field: ts, unit: s, watermark: punctuated}}\n"
        "  free: {time: {field: ts, unit: s}}\n"
        "rules:\n"
        "  - id: seq3\n"
        "    kind: pattern\n"
        "    stream: ev\n"
        "    key: [host]\n"
        "    pattern:\n"
        "      - {step: a, when: op == \"a\"}\n"
        "      - {step: b, when: op == \"b\"}\n"
        "      - {step: c, when: op == \"c\"}\n"
        "    within: 30s\n"
        "    on_timeout: {message: \"timeout ${host}\"}\n"
        "    message: \"abc on ${host}\"\n"
        "  - id: per-min\n"
        "    kind: aggregate\n"
        "    stream: ev\n"
        "    key: [host]\n"
        "    window: {type: tumbling, size: 60s}\n"
        "    aggregate: {n: count(), s: sum(v)}\n"
        "    having: n >= 3\n"
        "    message: \"${host}: ${n} (${s})\"\n"
        "  - id: quiet\n"
        "    kind: absence\n"
        "    stream: ev\n"
        "    key: [host]\n"
        "    for: 45s\n"
        "    message: \"${host} quiet\"\n"
        "  - id: big\n"
        "    stream: ev\n"
        "    when: v > 90\n"
        "    key: [host]\n"
        "    throttle: {period: 2m}\n"
        "    message: \"big ${v} on ${host}\"\n"
        "  - id: pu-count\n"
        "    kind: aggregate\n"
        "    stream: pu\n"
        "    key: [user]\n"
        "    window: {type: tumbling, size: 30s}\n"
        "    aggregate: {n: count()}\n"
        "    message: \"${user}: ${n}\"\n"
        "  - id: free-simple\n"
        "    stream: free\n"
        "    when: v > 50\n"
        "    message: \"high ${v}\"\n";

static const char *rules_mixed =
        "streams:\n"
        "  ev: {time: {field: ts, unit: s, max_out_of_orderness: 5s}}\n"
        "rules:\n"
        "  - id: by-host\n"
        "    kind: aggregate\n"
        "    stream: ev\n"
        "    key: [host]\n"
        "    window: {type: tumbling, size: 60s}\n"
        "    aggregate: {n: count()}\n"
        "  - id: by-user\n"
        "    kind: aggregate\n"
        "    stream: ev\n"
        "    key: [user]\n"
        "    window: {type: tumbling, size: 60s}\n"
        "    aggregate: {n: count()}\n";

static struct ruleset *load(const char *yaml, char *path, size_t path_len)
{
    snprintf(path, path_len, "/tmp/cepd-par-XXXXXX.yaml");
    int fd = mkstemps(path, 5);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);
    struct diag_list dl;
    diag_list_init(&dl);
    const char *paths[] = {path};
    struct ruleset *rs = rule_load(paths, 1, NULL, &dl);
    if (!rs)
        diag_print(&dl, stderr);
    diag_list_free(&dl);
    ck_assert_ptr_nonnull(rs);
    return rs;
}

/* eng_par_new, which starts here. */
static struct eng_par *par_new(const struct ruleset *rs, uint32_t n, const struct eng_output *out)
{
    char err[256] = "";
    struct eng_par *p = eng_par_new(rs, n, out, err, sizeof(err));
    ck_assert_msg(p != NULL, "%s", err);
    return p;
}

START_TEST(test_routes)
{
    char path[64];
    struct ruleset *rs = load(rules_keyed, path, sizeof(path));
    struct eng_par *p = par_new(rs, 2, NULL);
    const char *why = "x";
    ck_assert_int_eq(eng_par_stream_route(p, (uint32_t)ruleset_find_stream(rs, "ev"), &why),
                     ENG_PAR_BY_KEY);
    ck_assert_ptr_null(why);
    ck_assert_int_eq(eng_par_stream_route(p, (uint32_t)ruleset_find_stream(rs, "free"), NULL),
                     ENG_PAR_SPREAD);
    eng_par_free(p);
    ruleset_free(rs);
    unlink(path);

    rs = load(rules_mixed, path, sizeof(path));
    p = par_new(rs, 3, NULL);
    ck_assert_int_eq(eng_par_stream_route(p, (uint32_t)ruleset_find_stream(rs, "ev"), &why),
                     ENG_PAR_WORKER0);
    ck_assert_ptr_nonnull(strstr(why, "different"));
    eng_par_free(p);
    ruleset_free(rs);
    unlink(path);
}
END_TEST

/* ---- the same alerts ------------------------------------------------------ */

struct collect {
    char **v;
    size_t n, cap;
};

/* Keeps "ID JSON" without detected_at (the wall clock). */
static void on_alert(void *ud, const struct eng_alert *a)
{
    struct collect *c = ud;
    CEP_GROW(c->v, c->cap, c->n + 1);
    char *s = cep_asprintf("%s %.*s", a->id, (int)a->len, a->json);
    char *d = strstr(s, "\"detected_at\":");
    ck_assert_ptr_nonnull(d);
    char *end = strchr(d, ',');
    ck_assert_ptr_nonnull(end);
    memmove(d, end + 1, strlen(end + 1) + 1);
    c->v[c->n++] = s;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void collect_free(struct collect *c)
{
    for (size_t i = 0; i < c->n; i++)
        cep_free(c->v[i]);
    cep_free(c->v);
}

/* The counters of a run with workers (or restores) are one engine's, and
 * its alerts the same multiset (both lists are sorted here). */
static void assert_same_run(const struct eng_stats *s1, const struct eng_stats *sn,
                            struct collect *one, struct collect *many)
{
    ck_assert_uint_eq(s1->lines, sn->lines);
    ck_assert_uint_eq(s1->events, sn->events);
    ck_assert_uint_eq(s1->rejected, sn->rejected);
    ck_assert_uint_eq(s1->late, sn->late);
    ck_assert_uint_eq(s1->alerts, sn->alerts);
    ck_assert_uint_gt(one->n, 1000);
    ck_assert_uint_eq(one->n, many->n);
    qsort(one->v, one->n, sizeof(*one->v), str_cmp);
    qsort(many->v, many->n, sizeof(*many->v), str_cmp);
    for (size_t i = 0; i < one->n; i++)
        ck_assert_str_eq(one->v[i], many->v[i]);
}

static void lines_free(char **lines, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cep_free(lines[i]);
    cep_free(lines);
}

/* Deterministic input: n lines over the three streams, times mostly rising
 * with jitter beyond the out-of-orderness bound (late events), a few
 * malformed lines, punctuation on `pu`. */
static char **gen_lines(size_t n, uint32_t *streams, struct ruleset *rs)
{
    static const char *ops[] = {"a", "b", "c", "x"};
    char **v = cep_calloc(n, sizeof(*v));
    uint64_t x = 88172645463325252ULL;
    int ev = ruleset_find_stream(rs, "ev"), pu = ruleset_find_stream(rs, "pu"),
        fr = ruleset_find_stream(rs, "free");
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t ts = 1700000000 + (int64_t)i / 4 - (int64_t)(x % 40 == 0 ? x % 60 : x % 6);
        unsigned pick = (unsigned)(x >> 20) % 20;
        if (pick < 14) {
            streams[i] = (uint32_t)ev;
            v[i] = cep_asprintf("{\"ts\":%" PRId64 ",\"host\":\"h%u\",\"op\":\"%s\",\"v\":%u}",
                                ts, (unsigned)(x >> 32) % 97, ops[(x >> 8) % 4],
                                (unsigned)(x >> 40) % 100);
        } else if (pick < 17) {
            streams[i] = (uint32_t)pu;
            if (pick == 16)
                v[i] = cep_asprintf("{\"$watermark\":%" PRId64 "}", ts - 10);
            else
                v[i] = cep_asprintf("{\"ts\":%" PRId64 ",\"user\":\"u%u\"}", ts,
                                    (unsigned)(x >> 33) % 13);
        } else if (pick < 19) {
            streams[i] = (uint32_t)fr;
            v[i] = cep_asprintf("{\"ts\":%" PRId64 ",\"v\":%u}", ts, (unsigned)(x >> 36) % 100);
        } else {
            streams[i] = (uint32_t)ev;
            v[i] = cep_strdup(i % 2 ? "{\"ts\":\"soon\"}" : "{not json");
        }
    }
    return v;
}

static void run_par_case(uint32_t workers, enum eng_eof mode)
{
    char path[64];
    struct ruleset *rs = load(rules_keyed, path, sizeof(path));
    size_t n = 40000; /* per worker, more than ENG_PAR_BATCHES * ENG_PAR_BATCH_RECS */
    uint32_t *streams = cep_calloc(n, sizeof(*streams));
    char **lines = gen_lines(n, streams, rs);

    struct collect one = {0}, many = {0};
    struct eng_output o1 = {.ud = &one, .alert = on_alert};
    struct eng *eng = eng_new(rs, &o1);
    size_t rej1 = 0, rejn = 0;
    for (size_t i = 0; i < n; i++) {
        struct eng_reject rej;
        rej1 += eng_push_line(eng, streams[i], lines[i], strlen(lines[i]), "gen", i, &rej) !=
                CEP_OK;
    }
    eng_finish(eng, mode);
    struct eng_stats s1 = *eng_stats(eng);

    struct eng_output on = {.ud = &many, .alert = on_alert};
    struct eng_par *p = par_new(rs, workers, &on);
    for (size_t i = 0; i < n; i++) {
        struct eng_reject rej;
        rejn += eng_par_push_line(p, streams[i], lines[i], strlen(lines[i]), "gen", i, &rej) !=
                CEP_OK;
        if (i % 1000 == 0)
            eng_par_flush(p); /* as the daemon's timer does */
    }
    eng_par_finish(p, mode);
    struct eng_stats sn;
    eng_par_stats(p, &sn);

    ck_assert_uint_gt(rej1, 0);
    ck_assert_uint_eq(rej1, rejn);
    ck_assert_uint_gt(s1.late, 0);
    assert_same_run(&s1, &sn, &one, &many);
    /* Every rule contributed, so each kind was compared. */
    static const char *ids[] = {"\"seq3\"", "\"per-min\"", "\"quiet\"", "\"big\"",
                                "\"pu-count\"", "\"free-simple\"", "timeout"};
    for (size_t k = 0; k < sizeof(ids) / sizeof(ids[0]); k++) {
        bool seen = false;
        for (size_t i = 0; i < one.n && !seen; i++)
            seen = strstr(one.v[i], ids[k]) != NULL;
        ck_assert_msg(seen, "no alert of %s", ids[k]);
    }

    eng_par_free(p);
    eng_free(eng);
    collect_free(&one);
    collect_free(&many);
    lines_free(lines, n);
    cep_free(streams);
    ruleset_free(rs);
    unlink(path);
}

/* 2, 3 and 4 workers; end of input flushes (0-2) or drains (3-5). */
START_TEST(test_same_alerts)
{
    run_par_case(2 + (uint32_t)_i % 3, _i < 3 ? ENG_EOF_FLUSH : ENG_EOF_DRAIN);
}
END_TEST

/* Freed without finish, with lines in flight: no hang, no leak. */
START_TEST(test_free_in_flight)
{
    char path[64];
    struct ruleset *rs = load(rules_keyed, path, sizeof(path));
    struct collect c = {0};
    struct eng_output o = {.ud = &c, .alert = on_alert};
    struct eng_par *p = par_new(rs, 2, &o);
    uint32_t ev = (uint32_t)ruleset_find_stream(rs, "ev");
    for (int i = 0; i < 5000; i++) {
        char line[128];
        int len = snprintf(line, sizeof(line), "{\"ts\":%d,\"host\":\"h%d\",\"op\":\"a\",\"v\":95}",
                           1700000000 + i, i % 50);
        struct eng_reject rej;
        ck_assert_int_eq(eng_par_push_line(p, ev, line, (size_t)len, "t", (uint64_t)i, &rej),
                         CEP_OK);
    }
    eng_par_free(p);
    ck_assert_uint_gt(c.n, 0); /* the throttled `big` rule's first alerts got through */
    collect_free(&c);
    ruleset_free(rs);
    unlink(path);
}
END_TEST

/* A worker asleep while fewer than ENG_PAR_WAKE_AT batches wait is woken
 * by a flush (the daemon's timer): a full batch and a partial one per
 * worker come back through eng_par_flush and eng_par_poll alone, with no
 * finish or sync to wait for them. */
START_TEST(test_flush_wakes)
{
    char path[64];
    struct ruleset *rs = load(rules_keyed, path, sizeof(path));
    struct collect c = {0};
    struct eng_output o = {.ud = &c, .alert = on_alert};
    struct eng_par *p = par_new(rs, 2, &o);
    uint32_t free_s = (uint32_t)ruleset_find_stream(rs, "free");
    for (int i = 0; i < 700; i++) { /* SPREAD: 350 lines to each worker */
        char line[64];
        int len = snprintf(line, sizeof(line), "{\"ts\":%d,\"v\":95}", 1700000000 + i);
        struct eng_reject rej;
        ck_assert_int_eq(eng_par_push_line(p, free_s, line, (size_t)len, "t", (uint64_t)i, &rej),
                         CEP_OK);
    }
    eng_par_flush(p);
    /* Bounded by the test case's timeout, not a measure of time. */
    while (c.n < 700) {
        eng_par_poll(p);
        sched_yield();
    }
    ck_assert_uint_eq(c.n, 700);
    eng_par_free(p);
    collect_free(&c);
    ruleset_free(rs);
    unlink(path);
}
END_TEST

/* ---- checkpoints and rescale --------------------------------------------- */

/* One engine (n == 1) or n workers, behind one set of calls. */
struct side {
    struct eng *eng;
    struct eng_par *p;
};

static void side_new(struct side *sd, struct ruleset *rs, uint32_t n, struct collect *c)
{
    struct eng_output o = {.ud = c, .alert = on_alert};
    sd->eng = n == 1 ? eng_new(rs, &o) : NULL;
    sd->p = n == 1 ? NULL : par_new(rs, n, &o);
}

static void side_free(struct side *sd)
{
    eng_par_free(sd->p);
    eng_free(sd->eng);
}

static void side_push(struct side *sd, uint32_t stream, const char *line, uint64_t off)
{
    struct eng_reject rej;
    if (sd->p)
        eng_par_push_line(sd->p, stream, line, strlen(line), "gen", off, &rej);
    else
        eng_push_line(sd->eng, stream, line, strlen(line), "gen", off, &rej);
}

/* The ENGINE section's payload, as dmn_ckpt.c writes it. */
static void side_snapshot(struct side *sd, struct sbuf *sb)
{
    struct ckpt_w w = {.sb = sb};
    if (sd->p) {
        eng_par_snapshot(sd->p, &w);
        return;
    }
    size_t m = ckpt_frame_begin(&w);
    eng_snapshot(sd->eng, &w);
    ckpt_frame_end(&w, m);
}

static int side_restore(struct side *sd, const struct sbuf *sb, struct eng_restore_report *rep)
{
    struct ckpt_r r;
    ckpt_r_init(&r, sb->buf, sb->len);
    char err[256] = "";
    int rc = sd->p ? eng_par_restore(sd->p, &r, rep, err, sizeof(err))
                   : eng_restore_section(sd->eng, &r, NULL, rep, err, sizeof(err));
    if (rc != CEP_OK)
        fprintf(stderr, "restore: %s\n", err);
    return rc;
}

static void side_stats(struct side *sd, struct eng_stats *st)
{
    if (sd->p)
        eng_par_stats(sd->p, st);
    else
        *st = *eng_stats(sd->eng);
}

/* Buffered events of stream `name` over every frame of a section. */
static uint64_t section_buffered(const struct sbuf *sb, const char *name)
{
    struct ckpt_r r, f;
    ckpt_r_init(&r, sb->buf, sb->len);
    uint64_t n = 1, total = 0;
    char pat[64];
    snprintf(pat, sizeof(pat), "stream %s: ", name);
    for (uint64_t i = 0; i < n; i++) {
        ckpt_get_frame(&r, &f);
        if (i == 0 && r.p != r.end)
            n += ckpt_get_uv(&r);
        ck_assert_ptr_null(r.err);
        struct sbuf out;
        sbuf_init(&out);
        ck_assert_int_eq(eng_snapshot_inspect(&f, &out), CEP_OK);
        sbuf_putc(&out, '\0');
        const char *line = strstr(out.buf, pat);
        ck_assert_ptr_nonnull(line);
        const char *b = strstr(line, " buffered");
        while (b > line && b[-1] >= '0' && b[-1] <= '9')
            b--;
        total += strtoull(b, NULL, 10);
        sbuf_free(&out);
    }
    ck_assert_uint_eq(r.p == r.end, 1);
    return total;
}

static const uint32_t rescale_cases[][2] = {{2, 3}, {3, 2}, {2, 1}, {1, 3}, {4, 4}};

/* Cut the input at a third and at two thirds: snapshot with `from`,
 * restore into `to`, go on; the alerts and counters are those of one
 * uninterrupted engine. */
START_TEST(test_rescale)
{
    uint32_t from = rescale_cases[_i][0], to = rescale_cases[_i][1];
    char path[64];
    struct ruleset *rs = load(rules_keyed, path, sizeof(path));
    size_t n = 24000;
    uint32_t *streams = cep_calloc(n, sizeof(*streams));
    char **lines = gen_lines(n, streams, rs);
    struct collect ref = {0}, got = {0};
    struct side one;
    side_new(&one, rs, 1, &ref);
    for (size_t i = 0; i < n; i++)
        side_push(&one, streams[i], lines[i], i);
    eng_finish(one.eng, ENG_EOF_FLUSH);
    struct eng_stats s1 = *eng_stats(one.eng);
    side_free(&one);

    struct side sd;
    side_new(&sd, rs, from, &got);
    size_t cuts[] = {n / 3, 2 * n / 3, n};
    size_t i = 0;
    for (size_t k = 0; k < 3; k++) {
        for (; i < cuts[k]; i++) {
            side_push(&sd, streams[i], lines[i], i);
            if (sd.p && i % 1000 == 0)
                eng_par_flush(sd.p);
        }
        if (k == 2)
            break;
        struct sbuf sb;
        sbuf_init(&sb);
        side_snapshot(&sd, &sb);
        ck_assert_uint_gt(section_buffered(&sb, "ev"), 0); /* events move with their keys */
        side_free(&sd);
        uint32_t m = k == 0 ? to : from; /* from -> to -> from */
        side_new(&sd, rs, m, &got);
        struct eng_restore_report rep;
        ck_assert_int_eq(side_restore(&sd, &sb, &rep), CEP_OK);
        size_t keys = 0;
        for (size_t r = 0; r < rep.n_rules; r++) {
            ck_assert_int_eq(rep.rules[r].fate, ENG_RESTORE_KEPT);
            keys += rep.rules[r].keys;
        }
        ck_assert_uint_gt(keys, 100);
        eng_restore_report_free(&rep);
        sbuf_free(&sb);
    }
    if (sd.p)
        eng_par_finish(sd.p, ENG_EOF_FLUSH);
    else
        eng_finish(sd.eng, ENG_EOF_FLUSH);
    struct eng_stats sn;
    side_stats(&sd, &sn);
    side_free(&sd);

    /* Metrics add up across the restores. */
    assert_same_run(&s1, &sn, &ref, &got);
    collect_free(&ref);
    collect_free(&got);
    lines_free(lines, n);
    cep_free(streams);
    ruleset_free(rs);
    unlink(path);
}
END_TEST

/* A malformed section leaves every worker as new. */
START_TEST(test_restore_bad)
{
    char path[64];
    struct ruleset *rs = load(rules_keyed, path, sizeof(path));
    struct collect c = {0};
    struct side sd;
    side_new(&sd, rs, 2, &c);
    for (int i = 0; i < 3000; i++) {
        char line[128];
        snprintf(line, sizeof(line), "{\"ts\":%d,\"host\":\"h%d\",\"op\":\"a\",\"v\":1}",
                 1700000000 + i, i % 50);
        side_push(&sd, (uint32_t)ruleset_find_stream(rs, "ev"), line, (uint64_t)i);
    }
    struct sbuf sb;
    sbuf_init(&sb);
    side_snapshot(&sd, &sb);
    side_free(&sd);
    side_new(&sd, rs, 3, &c);
    struct eng_restore_report rep;
    struct sbuf cut;
    sbuf_init(&cut);
    sbuf_append(&cut, sb.buf, sb.len - 3); /* the last frame truncated */
    ck_assert_int_eq(side_restore(&sd, &cut, &rep), CEP_ERR);
    eng_par_finish(sd.p, ENG_EOF_FLUSH);
    struct eng_stats st;
    side_stats(&sd, &st);
    ck_assert_uint_eq(st.lines, 0);
    ck_assert_uint_eq(st.alerts, 0);
    side_free(&sd);
    sbuf_free(&cut);
    sbuf_free(&sb);
    collect_free(&c);
    ruleset_free(rs);
    unlink(path);
}
END_TEST

/* A worker thread that cannot start (the fault-injection build fails the
 * third start): eng_par_new stops the two it started and says why. */
START_TEST(test_thread_fails)
{
#ifdef CEPD_FAULT_INJECTION
    char path[64];
    struct ruleset *rs = load(rules_keyed, path, sizeof(path));
    char err[256] = "";
    setenv("CEPD_FAULT", "thread:3", 1);
    ckpt_fault_reset();
    ck_assert_ptr_null(eng_par_new(rs, 4, NULL, err, sizeof(err)));
    ck_assert_str_eq(err, "parallelism 4: cannot start worker thread 2: "
                          "Resource temporarily unavailable");
    unsetenv("CEPD_FAULT");
    ckpt_fault_reset();
    struct eng_par *p = par_new(rs, 4, NULL); /* the next start is whole */
    eng_par_free(p);
    ruleset_free(rs);
    unlink(path);
#endif
}
END_TEST

/* ---- the key-only scan ---------------------------------------------------- */

static const char rules_scan[] =
        "streams:\n"
        "  ev: {time: {field: ts, unit: ms, watermark: punctuated}}\n"
        "rules:\n"
        "  - id: by-host-n\n"
        "    kind: aggregate\n"
        "    stream: ev\n"
        "    key: [host, n]\n"
        "    when: obj.a != 1 and host.x != 2\n"
        "    window: {type: tumbling, size: 60s}\n"
        "    aggregate: {c: count()}\n"
        "  - id: every\n"
        "    stream: ev\n"
        "    when: true\n"
        "    message: \"${host}|${n}|${ts}|${obj}|${other}|${obj.a}|${host.x}\"\n";

/* Pieces the generator glues into lines: names (some escaped spellings of
 * the wanted ones) and values of every JSON kind and form. */
static const char *const scan_names[] = {
        "host", "n", "ts", "obj", "other", "h\\u006fst", "\\u006e", "t\\u0073",
        "$watermark", "hôst", "", "hos", "hostx",
};
static const char *const scan_values[] = {
        "\"h1\"", "\"h2\"", "\"\"", "\"a\\\"b\"", "\"caf\xc3\xa9\"", "\"\\u00e9\"", "\"\\ud83d\\ude00\"",
        "\"x\\/y\"", "0", "-0", "1", "-1", "1e3", "1E+3", "1.5", "-2.50", "1732300000001",
        "9223372036854775807", "9223372036854775808", "-9223372036854775808",
        "123456789012345678901234567890", "1e400", "0.1e-2", "true", "false", "null",
        "{}", "{\"a\":1}", "{\"a\":{\"b\":[1,{\"c\":\"\\n\"}]},\"x\":2}", "[]", "[1,\"2\",[3]]",
        "123456789012345678", "-123456789012345678", "1234567890123456789", "0.0", "-0e0",
        /* invalid */
        "00", "-01", "--1", "1-", "01", "1.", "-", "1e", "\"\x01\"", "\"\xc3\"", "\"\\x\"", "tru", "{\"a\"}", "[1,]", "\"\xed\xa0\x80\"",
};

/* xorshift64: a fixed sequence. */
static size_t scan_rand(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return (size_t)(*x >> 11);
}

static void scan_line(char *buf, size_t cap, uint64_t *seed)
{
    size_t n = 0;
    size_t members = scan_rand(seed) % 6;
    const char *ws[] = {"", " ", "\t", "\r\n"};
    n += (size_t)snprintf(buf + n, cap - n, "%s{", ws[scan_rand(seed) % 4]);
    for (size_t i = 0; i < members; i++) {
        size_t nn = sizeof(scan_names) / sizeof(scan_names[0]);
        size_t nv = sizeof(scan_values) / sizeof(scan_values[0]);
        /* Mostly wanted names and valid values, so most lines are accepted. */
        const char *name = scan_names[scan_rand(seed) % 3 ? scan_rand(seed) % 3 : scan_rand(seed) % nn];
        const char *val = scan_values[scan_rand(seed) % 4 ? scan_rand(seed) % 36 : scan_rand(seed) % nv];
        n += (size_t)snprintf(buf + n, cap - n, "%s%s\"%s\"%s:%s%s", i ? "," : "",
                              ws[scan_rand(seed) % 4], name, ws[scan_rand(seed) % 4], ws[scan_rand(seed) % 4],
                              val);
    }
    n += (size_t)snprintf(buf + n, cap - n, "}%s", ws[scan_rand(seed) % 4]);
    size_t mangle = scan_rand(seed) % 20;
    if (mangle == 0 && n > 1) /* truncated */
        buf[scan_rand(seed) % n] = '\0';
    else if (mangle == 1) /* trailing characters */
        snprintf(buf + n, cap - n, " x");
    else if (mangle == 2 && n > 2) /* a byte replaced */
        buf[1 + scan_rand(seed) % (n - 2)] = "{}[],:\"\\\x80"[scan_rand(seed) % 10];
}

/* A line the key-only scan accepts is one the full decoder accepts, with
 * the same key JSON (so the same key group; also as the dispatcher writes
 * it for the worker, eng_par_key_json) and the same time fields; the
 * fields it lists make an engine do what the line does (eng_push_decoded
 * against eng_push_line: the same alerts, which show every field). */
START_TEST(test_key_scan)
{
    char path[64];
    struct ruleset *rs = load(rules_scan, path, sizeof(path));
    uint32_t s = (uint32_t)ruleset_find_stream(rs, "ev");
    const struct rule_stream *st = &rs->streams[s];
    const struct rule *r = rs->rules[0];
    int slots[] = {expr_field_slot(r->key[0].expr), expr_field_slot(r->key[1].expr),
                   st->time.time_slot, st->time.watermark_slot, st->time.time_slot};
    struct eng_par_scan ks;
    ck_assert(eng_par_scan_init(&ks, st->schema, slots, 5));
    ck_assert_uint_eq(ks.n, 4);
    int deep[] = {evt_schema_slot_dotted(st->schema, "obj.a")};
    struct eng_par_scan no;
    ck_assert(!eng_par_scan_init(&no, st->schema, deep, 1));
    /* The names table, as eng_par.c makes it. */
    const struct evt_schema_node *root = &st->schema->root;
    const char *names[16];
    size_t lens[16];
    int32_t time_field = -1;
    ck_assert_uint_le(root->n_children, 16);
    for (uint32_t i = 0; i < root->n_children; i++) {
        names[i] = root->children[i]->name;
        lens[i] = root->children[i]->name_len;
        if (root->children[i]->slot == st->time.time_slot)
            time_field = (int32_t)i;
    }
    struct eng_fnames fnames = {.names = names, .lens = lens, .n = root->n_children, .hash = 1};
    /* A full list gives up; the line is still read. */
    struct eng_par_fv few[3];
    struct val sl[16];
    const char *three = "{\"host\":\"a\",\"x\":1,\"n\":2,\"ts\":3}";
    ck_assert_uint_le(st->schema->n_slots, 16);
    size_t n_few = 2;
    ck_assert_int_eq(eng_par_scan_line(&ks, three, strlen(three), sl, few, &n_few), CEP_OK);
    ck_assert_uint_eq(n_few, SIZE_MAX);
    ck_assert_int_eq(sl[st->time.time_slot].u.i, 3);
    n_few = 3;
    ck_assert_int_eq(eng_par_scan_line(&ks, three, strlen(three), sl, few, &n_few), CEP_OK);
    ck_assert_uint_eq(n_few, 3);
    struct collect ca = {0}, cb = {0};
    struct eng *ea = eng_new(rs, &(struct eng_output){.ud = &ca, .alert = on_alert});
    struct eng *eb = eng_new(rs, &(struct eng_output){.ud = &cb, .alert = on_alert});

    struct evt *full = evt_new(), *scan = evt_new();
    struct expr_counters counters = {0};
    struct expr_rt *rt = expr_rt_new();
    struct sbuf a, b;
    sbuf_init(&a);
    sbuf_init(&b);
    uint64_t seed = 88172645463325252u;
    size_t accepted = 0, fast = 0, listed = 0, quoted = 0;
    char line[1024];
    struct eng_par_fv fv[sizeof(line) / 4 + 1];
    struct eng_fval fvx[sizeof(line) / 4 + 1];
    for (uint64_t i = 0; i < 200000; i++) {
        scan_line(line, sizeof(line), &seed);
        size_t len = strlen(line);
        evt_reset(full, line, len, st->schema->n_slots);
        struct dec_err derr;
        int rc = dec_json_line(st->schema, full, &derr);
        accepted += rc == CEP_OK;
        evt_reset(scan, "", 0, st->schema->n_slots);
        size_t n_fv = len / 4 + 1;
        if (eng_par_scan_line(&ks, line, len, scan->slots, fv, &n_fv) != CEP_OK)
            continue;
        fast++;
        ck_assert_msg(rc == CEP_OK, "scan accepts what the decoder rejects: %s", line);
        struct expr_ctx cf = {.ev = full, .counters = &counters, .rt = rt};
        struct expr_ctx cs = {.ev = scan, .counters = &counters, .rt = rt};
        eng_keyed_fields_json(&a, r->key, r->n_key, &cf);
        eng_keyed_fields_json(&b, r->key, r->n_key, &cs);
        ck_assert_msg(a.len == b.len && !memcmp(a.buf, b.buf, a.len), "%s: %s vs %s", line,
                      a.buf, b.buf);
        ck_assert_uint_eq(eng_key_group(cep_hash64(a.buf, a.len, 0)),
                          eng_key_group(cep_hash64(b.buf, b.len, 0)));
        /* The dispatcher's short way, whose key the worker takes: of both
         * key fields, and of the first alone. */
        for (size_t nk = 2; nk >= 1; nk--) {
            eng_keyed_fields_json(&a, r->key, nk, &cf);
            if (!eng_par_key_json(&b, scan->slots, slots, nk))
                continue;
            quoted++;
            ck_assert_msg(a.len == b.len && !memcmp(a.buf, b.buf, a.len), "%s: %s vs %s", line,
                          a.buf, b.buf);
        }
        for (size_t k = 2; k < 4; k++) {
            sbuf_reset(&a);
            sbuf_reset(&b);
            val_to_json(&full->slots[slots[k]], &a);
            val_to_json(&scan->slots[slots[k]], &b);
            ck_assert_msg(a.len == b.len && !memcmp(a.buf, b.buf, a.len), "%s", line);
            ck_assert_int_eq(full->slots[slots[k]].type, scan->slots[slots[k]].type);
        }
        if (n_fv == SIZE_MAX)
            continue;
        listed++;
        /* The time as the dispatcher passes it on. */
        int64_t wm = 0;
        struct eng_reject rej;
        scan->stream = s;
        int trc = eng_evt_time(&st->time, scan, NULL, &wm, &rej);
        eng_par_fv_expand(fv, n_fv, fvx);
        struct eng_decoded d = {.raw = line, .raw_len = len, .names = &fnames, .fv = fvx,
                                .n_fv = n_fv, .time_fv = -1, .time_us = scan->time};
        if (trc == CEP_OK)
            d.time_fv = eng_par_scan_time_fv(fv, n_fv, time_field);
        int ra = eng_push_line(ea, s, line, len, "in", i, &rej);
        ck_assert_int_eq(eng_push_decoded(eb, s, &d, "in", i, &rej), ra);
    }
    eng_finish(ea, ENG_EOF_FLUSH);
    eng_finish(eb, ENG_EOF_FLUSH);
    /* Both sides of each comparison were exercised. */
    ck_assert_uint_gt(fast, 50000);
    ck_assert_uint_gt(accepted - fast, 5000);
    ck_assert_uint_gt(200000 - accepted, 5000);
    ck_assert_uint_gt(listed, 20000);
    ck_assert_uint_gt(fast - listed, 5000);
    ck_assert_uint_gt(quoted, 2000);
    ck_assert_uint_gt(ca.n, 1000);
    ck_assert_uint_eq(ca.n, cb.n);
    for (size_t k = 0; k < ca.n; k++)
        ck_assert_str_eq(ca.v[k], cb.v[k]);
    collect_free(&ca);
    collect_free(&cb);
    eng_free(ea);
    eng_free(eb);
    sbuf_free(&a);
    sbuf_free(&b);
    expr_rt_free(rt);
    evt_unref(full);
    evt_unref(scan);
    ruleset_free(rs);
    unlink(path);
}
END_TEST

static Suite *par_suite(void)
{
    Suite *s = suite_create("par");
    TCase *tc = tcase_create("ring");
    /* Two threads hand 20000 items through 8 slots, yielding when full or
     * empty: on a loaded machine that outlasts check's default 4 s. */
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_ring_bounds);
    tcase_add_test(tc, test_ring_threads);
    suite_add_tcase(s, tc);
    tc = tcase_create("routes");
    tcase_add_test(tc, test_routes);
    tcase_add_test(tc, test_thread_fails);
    suite_add_tcase(s, tc);
    tc = tcase_create("key_scan");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_key_scan);
    suite_add_tcase(s, tc);
    tc = tcase_create("same_alerts");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_same_alerts, 0, 6);
    tcase_add_test(tc, test_free_in_flight);
    tcase_add_test(tc, test_flush_wakes);
    suite_add_tcase(s, tc);
    tc = tcase_create("rescale");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_rescale, 0,
                        (int)(sizeof(rescale_cases) / sizeof(rescale_cases[0])));
    tcase_add_test(tc, test_restore_bad);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(par_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
