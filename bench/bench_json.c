/* SPDX-License-Identifier: Apache-2.0
 * Benchmark: decoding JSON event lines with dec_json_line (extracting a few
 * schema fields) against jansson (parse the whole line into a tree, then
 * look the same fields up).  Lines are generated, ~150 bytes, varied values.
 * Run through bench/json.sh; jansson is a benchmark-only dependency.
 * Tested by: bench/json.sh (prints a checksum that both decoders must match) */
#include "cepd/cep_common.h"
#include "cepd/dec.h"
#include "cepd/evt.h"

#include <jansson.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_REPS 5

struct bench_lines {
    char *buf;
    size_t *off; /* n + 1 offsets: line i is buf[off[i], off[i + 1]) */
    size_t n;
};

/* A deterministic xorshift generator (rand() is banned and not needed). */
static uint64_t bench_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

static void bench_lines_make(struct bench_lines *bl, size_t n)
{
    static const char *const events[] = {"ssh_login", "sudo", "http_request", "dns_query"};
    static const char *const outcomes[] = {"failure", "success"};
    static const char *const users[] = {"root", "alice", "bob", "www-data", "deploy"};
    uint64_t st = 0x9e3779b97f4a7c15u;
    size_t cap = n * 192, len = 0;
    bl->buf = cep_malloc(cap);
    bl->off = cep_malloc((n + 1) * sizeof(*bl->off));
    bl->n = n;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = bench_next(&st);
        bl->off[i] = len;
        int w = snprintf(bl->buf + len, cap - len,
                         "{\"ts\":%" PRIu64 ",\"event\":\"%s\",\"outcome\":\"%s\",\"user\":\"%s\","
                         "\"src_ip\":\"10.%u.%u.%u\",\"port\":%u,\"host\":\"web-%02u\",\"pid\":%u}",
                         UINT64_C(1732300000000) + i * 7, events[r % 4], outcomes[(r >> 3) % 2],
                         users[(r >> 5) % 5], (unsigned)(r >> 8) & 255, (unsigned)(r >> 16) & 255,
                         (unsigned)(r >> 24) & 255, 1 + (unsigned)(r >> 32) % 65535,
                         (unsigned)(r >> 48) % 100, (unsigned)(r >> 40) % 32768);
        len += (size_t)w;
    }
    bl->off[n] = len;
}

static double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A checksum over the extracted fields, so neither decoder's work can be
 * optimised away and both can be compared. */
static uint64_t bench_mix(uint64_t h, const char *s, size_t len, int64_t port)
{
    h = h * 31 + len;
    if (len)
        h = h * 31 + (unsigned char)s[len - 1];
    return h * 31 + (uint64_t)port;
}

static const char *const bench_fields[] = {"event", "user",    "src_ip", "port",
                                           "ts",    "outcome", "host",   "pid"};

static double bench_cepd(const struct bench_lines *bl, size_t n_fields, uint64_t *sum, bool decode)
{
    struct evt_schema *s = evt_schema_new();
    for (size_t i = 0; i < n_fields; i++)
        evt_schema_slot_dotted(s, bench_fields[i]);
    if (n_fields == 0)
        evt_schema_slot_dotted(s, "absent"); /* validation only; keeps slots non-empty */
    struct evt *ev = evt_new();
    struct dec_err err;
    uint64_t h = 0;
    double t0 = bench_now();
    for (size_t i = 0; i < bl->n; i++) {
        evt_reset(ev, bl->buf + bl->off[i], bl->off[i + 1] - bl->off[i], s->n_slots);
        if (!decode) {
            h += ev->raw_len;
            continue;
        }
        if (dec_json_line(s, ev, &err) != CEP_OK) {
            fprintf(stderr, "line %zu: %s at %zu\n", i, err.reason, err.offset);
            exit(1);
        }
        if (n_fields >= 4)
            h = bench_mix(h, ev->slots[0].u.s, ev->slots[0].len, 0) +
                bench_mix(h, ev->slots[1].u.s, ev->slots[1].len, 0) +
                bench_mix(h, ev->slots[2].u.s, ev->slots[2].len, ev->slots[3].u.i);
    }
    double t = bench_now() - t0;
    *sum = h;
    evt_unref(ev);
    evt_schema_free(s);
    return t;
}

static double bench_jansson(const struct bench_lines *bl, uint64_t *sum)
{
    uint64_t h = 0;
    double t0 = bench_now();
    for (size_t i = 0; i < bl->n; i++) {
        json_error_t jerr;
        json_t *root = json_loadb(bl->buf + bl->off[i], bl->off[i + 1] - bl->off[i], 0, &jerr);
        if (!root) {
            fprintf(stderr, "jansson line %zu: %s\n", i, jerr.text);
            exit(1);
        }
        json_t *ev = json_object_get(root, "event"), *user = json_object_get(root, "user");
        json_t *ip = json_object_get(root, "src_ip"), *port = json_object_get(root, "port");
        h = bench_mix(h, json_string_value(ev), json_string_length(ev), 0) +
            bench_mix(h, json_string_value(user), json_string_length(user), 0) +
            bench_mix(h, json_string_value(ip), json_string_length(ip), json_integer_value(port));
        json_decref(root);
    }
    double t = bench_now() - t0;
    *sum = h;
    return t;
}

static int bench_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void bench_report(const char *name, double *t, size_t n)
{
    qsort(t, BENCH_REPS, sizeof(*t), bench_cmp);
    double med = t[BENCH_REPS / 2];
    printf("%-34s %8.1f ns/line  %8.2f M lines/s  (best %.1f ns)\n", name, med * 1e9 / (double)n,
           (double)n / med / 1e6, t[0] * 1e9 / (double)n);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
    struct bench_lines bl;
    bench_lines_make(&bl, n);
    printf("%zu lines, %.1f bytes/line on average, median of %d runs\n", n,
           (double)bl.off[n] / (double)n, BENCH_REPS);
    uint64_t sum_c = 0, sum_j = 0, sum;
    double t[BENCH_REPS];
    for (int r = 0; r < BENCH_REPS; r++)
        t[r] = bench_cepd(&bl, 4, &sum, false);
    bench_report("cepd evt_reset only (copy)", t, n);
    for (int r = 0; r < BENCH_REPS; r++)
        t[r] = bench_cepd(&bl, 0, &sum, true);
    bench_report("cepd validate only (1 absent field)", t, n);
    for (int r = 0; r < BENCH_REPS; r++)
        t[r] = bench_cepd(&bl, 4, &sum_c, true);
    bench_report("cepd dec_json_line (4 fields)", t, n);
    for (int r = 0; r < BENCH_REPS; r++)
        t[r] = bench_cepd(&bl, 8, &sum, true);
    bench_report("cepd dec_json_line (8 fields)", t, n);
    if (argc > 2 && strcmp(argv[2], "cepd") == 0) {
        sum_j = sum_c; /* profiling run: cepd only */
    } else {
        for (int r = 0; r < BENCH_REPS; r++)
            t[r] = bench_jansson(&bl, &sum_j);
        bench_report("jansson json_loadb + 4 gets", t, n);
    }
    printf("checksums %s (%016" PRIx64 ")\n", sum_c == sum_j ? "match" : "DIFFER", sum_c);
    cep_free(bl.buf);
    cep_free(bl.off);
    return sum_c == sum_j ? 0 : 1;
}
