/* SPDX-License-Identifier: Apache-2.0
 * Benchmark: the syslog and regex line formats on generated sshd lines in
 * /var/log/auth.log form (RFC 3164 without PRI, ~90-130 bytes): `syslog`
 * alone, `syslog` with a pattern on msg (the auth-log workload of issue 7),
 * and `regex` with one pattern over the whole line.  Prints ns per line and
 * MB/s per format; a checksum of the outputs keeps the work from being
 * optimised away.  Run through bench/syslog.sh.
 * Tested by: bench/syslog.sh (exits non-zero if a generated line is rejected) */
#include "cepd/cep_common.h"
#include "cepd/io.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_REPS 5

static const char bench_msg_re[] =
        "(?J)^(?:Failed|Accepted) (?<method>\\S+) for (?:invalid user )?(?<user>\\S+) from "
        "(?<src_ip>\\S+) port (?<port>\\d+)|^Invalid user (?<user>\\S*) from (?<src_ip>\\S+)";
static const char bench_line_re[] =
        "^(?<ts>\\w{3} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d) (?<host>\\S+) (?<app>[^\\[: ]+)"
        "(?:\\[(?<pid>\\d+)\\])?: (?:(?:Failed|Accepted) (?<method>\\S+) for "
        "(?:invalid user )?(?<user>\\S+) from (?<src_ip>\\S+) port (?<port>\\d+)|(?<msg>.*))$";

struct bench_lines {
    char *buf;
    size_t *off; /* n + 1 offsets */
    size_t n;
};

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
    static const char *const users[] = {"root", "admin", "alice", "bob", "deploy", "postgres"};
    static const char *const hosts[] = {"bastion-1", "web-1", "web-2", "db-1"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    uint64_t st = 0x9e3779b97f4a7c15u, t = 0;
    size_t cap = n * 160, len = 0;
    bl->buf = cep_malloc(cap);
    bl->off = cep_malloc((n + 1) * sizeof(*bl->off));
    bl->n = n;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = bench_next(&st);
        bl->off[i] = len;
        /* Time moves forward 0-3 s a line, as in a real auth.log. */
        t += (r >> 8) % 4;
        char head[64];
        snprintf(head, sizeof(head), "%s %2u %02u:%02u:%02u %s sshd[%u]: ",
                 months[t / (28 * 86400) % 12], 1 + (unsigned)(t / 86400 % 28),
                 (unsigned)(t / 3600 % 24), (unsigned)(t / 60 % 60), (unsigned)(t % 60),
                 hosts[(r >> 28) % 4], 1000 + (unsigned)(r >> 32) % 60000);
        const char *user = users[(r >> 48) % 6];
        unsigned a = (unsigned)(r >> 52) & 255, b = (unsigned)(r >> 40) & 255;
        unsigned port = 1024 + (unsigned)(r >> 20) % 60000;
        int w;
        switch ((r >> 56) % 5) {
            case 0:
            case 1:
                w = snprintf(bl->buf + len, cap - len,
                             "%sFailed password for %s%s from 10.%u.%u.7 port %u ssh2", head,
                             (r >> 61) & 1 ? "invalid user " : "", user, a, b, port);
                break;
            case 2:
                w = snprintf(bl->buf + len, cap - len,
                             "%sAccepted publickey for %s from 10.%u.%u.9 port %u ssh2: "
                             "ED25519 SHA256:Xk3", head, user, a, b, port);
                break;
            case 3:
                w = snprintf(bl->buf + len, cap - len, "%sInvalid user %s from 192.0.2.%u port %u",
                             head, user, a, port);
                break;
            default:
                w = snprintf(bl->buf + len, cap - len,
                             "%spam_unix(sshd:session): session opened for user %s(uid=0) by "
                             "(uid=0)", head, user);
                break;
        }
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

/* Best of BENCH_REPS passes; exits 1 if any line is rejected. */
static void bench_run(const char *name, enum cfg_format kind, const char *pattern,
                      const struct bench_lines *bl)
{
    struct cfg_source cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.name = (char *)name;
    cfg.format = kind;
    cfg.pattern = (char *)pattern;
    char err[256];
    struct io_format *f = io_format_new(&cfg, err, sizeof(err));
    if (!f) {
        fprintf(stderr, "bench_syslog: %s\n", err);
        exit(2);
    }
    double best = 1e30;
    uint64_t sum = 0, out_bytes = 0;
    for (int rep = 0; rep < BENCH_REPS; rep++) {
        sum = 0;
        out_bytes = 0;
        double t0 = bench_now();
        for (size_t i = 0; i < bl->n; i++) {
            const char *out;
            size_t out_len;
            struct eng_reject rej;
            if (io_format_apply(f, bl->buf + bl->off[i], bl->off[i + 1] - bl->off[i], &out,
                                &out_len, &rej) != CEP_OK) {
                fprintf(stderr, "bench_syslog: %s rejected line %zu: %s\n", name, i + 1,
                        rej.reason);
                exit(1);
            }
            sum = sum * 31 + out_len + (unsigned char)out[out_len / 2];
            out_bytes += out_len;
        }
        double dt = bench_now() - t0;
        if (dt < best)
            best = dt;
    }
    double in_mb = (double)bl->off[bl->n] / 1e6;
    printf("%-18s %7.1f ns/line  %7.1f MB/s in  out %5.1f B/line  checksum %016" PRIx64 "\n",
           name, best * 1e9 / (double)bl->n, in_mb / best, (double)out_bytes / (double)bl->n,
           sum);
    io_format_free(f);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 1000000;
    struct bench_lines bl;
    bench_lines_make(&bl, n);
    printf("%zu lines, %.1f bytes/line average\n", n, (double)bl.off[n] / (double)n);
    bench_run("syslog", CFG_FMT_SYSLOG, NULL, &bl);
    bench_run("syslog+pattern", CFG_FMT_SYSLOG, bench_msg_re, &bl);
    bench_run("regex", CFG_FMT_REGEX, bench_line_re, &bl);
    cep_free(bl.buf);
    cep_free(bl.off);
    return 0;
}
