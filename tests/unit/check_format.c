/* SPDX-License-Identifier: Apache-2.0
 * Unit tests for the line formats (src/io/format.c): json passes through,
 * regex named groups become string fields, syslog RFC 3164 (with and without
 * PRI, host, tag, pid; RFC 3339 timestamps; the inferred year; local UTC
 * offsets) and RFC 5424 (nil fields, structured data and its escapes, BOM),
 * syslog with a pattern on msg, invalid UTF-8 always giving valid JSON, the
 * match limit, pattern checks, the prefilter of anchored patterns, and
 * garbage rejected with a reason.  The
 * direct decode (io_format_decode + eng_push_decoded) is checked against
 * the JSON path (the same text through eng_push_line): same verdicts,
 * alerts, field values and event times, also for events a partial match
 * keeps past their push (their text written then); and the escaper against a
 * byte-at-a-time reference on random strings. */
#include "cepd/cep_common.h"
#include "cepd/io.h"
#include "../../src/io/io_format_int.h"

#include "cepd/eng.h"
#include "cepd/rule.h"
#include "cepd/sbuf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cepd/json.h"

/* 2024-11-01T12:00:00Z */
#define NOW_2024_NOV INT64_C(1730462400)

static struct io_format *fmt_make(enum cfg_format kind, const char *pattern)
{
    struct cfg_source cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.name = (char *)"t";
    cfg.format = kind;
    cfg.pattern = (char *)pattern;
    char err[256] = "";
    struct io_format *f = io_format_new(&cfg, err, sizeof(err));
    ck_assert_msg(f != NULL, "io_format_new: %s", err);
    io_format_set_now(f, NOW_2024_NOV);
    return f;
}

/* The output must be exactly one valid JSON object in valid UTF-8. */
static void json_check(const char *out, size_t len)
{
    struct json_err err = {0};
    struct json_scan sc = {out, out + len, &err};
    ck_assert_msg(len > 0 && out[0] == '{', "not an object: %.*s", (int)len, out);
    const char *end = json_value_skip(&sc, out, 0);
    ck_assert_msg(end == out + len, "invalid JSON (%s at %zu): %.*s",
                  err.reason ? err.reason : "trailing", err.offset, (int)len, out);
    ck_assert(json_utf8_valid(out, len));
}

static void expect_ok(struct io_format *f, const char *line, size_t len, const char *want)
{
    const char *out = NULL;
    size_t out_len = 0;
    struct eng_reject rej = {0};
    int rc = io_format_apply(f, line, len, &out, &out_len, &rej);
    ck_assert_msg(rc == CEP_OK, "rejected (%s at %zu): %.*s", rej.reason, rej.offset, (int)len,
                  line);
    json_check(out, out_len);
    ck_assert_msg(out_len == strlen(want) && memcmp(out, want, out_len) == 0,
                  "\n got: %.*s\nwant: %s", (int)out_len, out, want);
}

static void expect_rej(struct io_format *f, const char *line, size_t len, const char *reason)
{
    const char *out = NULL;
    size_t out_len = 0;
    struct eng_reject rej = {0};
    int rc = io_format_apply(f, line, len, &out, &out_len, &rej);
    ck_assert_msg(rc == CEP_ERR, "accepted %.*s as %.*s", (int)len, line, (int)out_len,
                  out ? out : "");
    ck_assert_msg(rej.reason && strcmp(rej.reason, reason) == 0, "reason '%s', want '%s'",
                  rej.reason ? rej.reason : "(null)", reason);
    ck_assert_uint_le(rej.offset, len);
}

#define OK(f, line, want)      expect_ok((f), (line), sizeof(line) - 1, (want))
#define REJ(f, line, reason)   expect_rej((f), (line), sizeof(line) - 1, (reason))

/* ---- json ---------------------------------------------------------------- */

START_TEST(test_json_passthrough)
{
    struct io_format *f = fmt_make(CFG_FMT_JSON, NULL);
    const char line[] = "{\"a\":1} not even checked";
    const char *out;
    size_t len;
    struct eng_reject rej;
    ck_assert_int_eq(io_format_apply(f, line, sizeof(line) - 1, &out, &len, &rej), CEP_OK);
    ck_assert_ptr_eq(out, line);
    ck_assert_uint_eq(len, sizeof(line) - 1);
    io_format_free(f);
    io_format_free(NULL);
}
END_TEST

/* ---- regex --------------------------------------------------------------- */

START_TEST(test_regex_groups)
{
    struct io_format *f =
            fmt_make(CFG_FMT_REGEX, "^(?<user>\\w+) from (?<ip>\\S+)(?: port (?<port>\\d+))?$");
    /* Fields come in name order; an unmatched optional group is left out. */
    OK(f, "root from 1.2.3.4 port 22", "{\"ip\":\"1.2.3.4\",\"port\":\"22\",\"user\":\"root\"}");
    OK(f, "root from 1.2.3.4", "{\"ip\":\"1.2.3.4\",\"user\":\"root\"}");
    OK(f, "root from 1.2.3.4\r", "{\"ip\":\"1.2.3.4\",\"user\":\"root\"}");
    REJ(f, "root at 1.2.3.4", "line does not match the pattern");
    REJ(f, "", "line does not match the pattern");
    io_format_free(f);
}
END_TEST

START_TEST(test_regex_escaping)
{
    struct io_format *f = fmt_make(CFG_FMT_REGEX, "^(?<all>.*)$");
    OK(f, "say \"hi\" \\ now", "{\"all\":\"say \\\"hi\\\" \\\\ now\"}");
    OK(f, "tab\there\x01\x1f", "{\"all\":\"tab\\there\\u0001\\u001f\"}");
    OK(f, "caf\xc3\xa9 \xf0\x9f\x98\x80", "{\"all\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}");
    /* Invalid UTF-8: each bad byte becomes U+FFFD, the JSON stays valid. */
    OK(f, "a\xff" "b\xc3(\xed\xa0\x80z\xc0\xaf",
       "{\"all\":\"a\xef\xbf\xbd" "b\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz"
       "\xef\xbf\xbd\xef\xbf\xbd\"}");
    OK(f, "trunc\xe2\x82", "{\"all\":\"trunc\xef\xbf\xbd\xef\xbf\xbd\"}");
    const char nul[] = "a\0b";
    expect_ok(f, nul, 3, "{\"all\":\"a\\u0000b\"}");
    io_format_free(f);
}
END_TEST

/* A stray invalid byte cannot make a pattern miss the line. */
START_TEST(test_regex_bytes)
{
    struct io_format *f = fmt_make(CFG_FMT_REGEX, "^Failed password for (?<user>\\S+) from");
    OK(f, "Failed password for r\xf8ot from 1.2.3.4", "{\"user\":\"r\xef\xbf\xbdot\"}");
    io_format_free(f);
}
END_TEST

START_TEST(test_regex_dup_names)
{
    struct io_format *f = fmt_make(CFG_FMT_REGEX, "(?J)^(?:user (?<u>\\w+)|name (?<u>\\w+))$");
    OK(f, "user bob", "{\"u\":\"bob\"}");
    OK(f, "name eve", "{\"u\":\"eve\"}");
    io_format_free(f);
}
END_TEST

START_TEST(test_regex_limit)
{
    struct io_format *f = fmt_make(CFG_FMT_REGEX, "^(?<a>(a+)+)$");
    io_format_set_match_limit(f, 1000);
    REJ(f, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "pattern match limit reached");
    OK(f, "aaa", "{\"a\":\"aaa\"}");
    io_format_free(f);
}
END_TEST

START_TEST(test_regex_bad_pattern)
{
    size_t off = 99;
    char err[160];
    ck_assert_int_eq(io_format_pattern_check("^(?<x>a)", &off, err, sizeof(err)), CEP_OK);
    ck_assert_int_eq(io_format_pattern_check("ab(?<x>c", &off, err, sizeof(err)), CEP_ERR);
    ck_assert_uint_eq(off, 8);
    ck_assert_str_eq(err, "missing closing parenthesis");
    ck_assert_int_eq(io_format_pattern_check("(a+)", &off, err, sizeof(err)), CEP_ERR);
    ck_assert_uint_eq(off, 0);
    ck_assert_str_eq(err, "the pattern has no named group; write (?<field>...)");
    /* Patterns match bytes: UTF mode is refused. */
    ck_assert_int_eq(io_format_pattern_check("(*UTF)(?<a>x)", &off, err, sizeof(err)), CEP_ERR);

    struct cfg_source cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.name = (char *)"src1";
    cfg.format = CFG_FMT_REGEX;
    cfg.pattern = (char *)"x(?<y>[";
    char buf[256] = "";
    ck_assert_ptr_null(io_format_new(&cfg, buf, sizeof(buf)));
    ck_assert_msg(strstr(buf, "source src1: pattern at offset 7: ") == buf, "%s", buf);
}
END_TEST

/* ---- syslog: RFC 3164 ---------------------------------------------------- */

START_TEST(test_3164_basic)
{
    struct io_format *f = fmt_make(CFG_FMT_SYSLOG, NULL);
    OK(f, "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
       "{\"facility\":4,\"severity\":2,\"timestamp\":\"2024-10-11T22:14:15+00:00\","
       "\"host\":\"mymachine\",\"app\":\"su\",\"msg\":\"'su root' failed for lonvick on "
       "/dev/pts/8\"}");
    /* /var/log/auth.log: no PRI, a space-padded day, tag[pid]. */
    OK(f, "Mar  5 10:11:12 bastion sshd[1234]: Failed password for root from 1.2.3.4 port 22 ssh2",
       "{\"timestamp\":\"2024-03-05T10:11:12+00:00\",\"host\":\"bastion\",\"app\":\"sshd\","
       "\"pid\":1234,\"msg\":\"Failed password for root from 1.2.3.4 port 22 ssh2\"}");
    OK(f, "Mar 5 10:11:12 h app[x1]: m",
       "{\"timestamp\":\"2024-03-05T10:11:12+00:00\",\"host\":\"h\",\"app\":\"app\","
       "\"pid\":\"x1\",\"msg\":\"m\"}");
    /* rsyslog's high-precision file format: an RFC 3339 timestamp, kept. */
    OK(f, "2024-03-05T10:11:12.123456+01:00 web-1 sshd[77]: Accepted publickey for alice",
       "{\"timestamp\":\"2024-03-05T10:11:12.123456+01:00\",\"host\":\"web-1\",\"app\":"
       "\"sshd\",\"pid\":77,\"msg\":\"Accepted publickey for alice\"}");
    /* From a local socket: no host. */
    OK(f, "<13>Mar  5 10:11:12 sshd[12]: hello",
       "{\"facility\":1,\"severity\":5,\"timestamp\":\"2024-03-05T10:11:12+00:00\","
       "\"app\":\"sshd\",\"pid\":12,\"msg\":\"hello\"}");
    OK(f, "<0>Mar  5 10:11:12 kernel: oops",
       "{\"facility\":0,\"severity\":0,\"timestamp\":\"2024-03-05T10:11:12+00:00\","
       "\"app\":\"kernel\",\"msg\":\"oops\"}");
    /* No tag: everything after the host is the message. */
    OK(f, "<191>Mar  5 10:11:12 host last message repeated 3 times",
       "{\"facility\":23,\"severity\":7,\"timestamp\":\"2024-03-05T10:11:12+00:00\","
       "\"host\":\"host\",\"msg\":\"last message repeated 3 times\"}");
    OK(f, "Mar  5 10:11:12 host", "{\"timestamp\":\"2024-03-05T10:11:12+00:00\",\"host\":"
                                  "\"host\",\"msg\":\"\"}");
    OK(f, "Mar  5 10:11:12 host sshd[1]:",
       "{\"timestamp\":\"2024-03-05T10:11:12+00:00\",\"host\":\"host\",\"app\":\"sshd\","
       "\"pid\":1,\"msg\":\"\"}");
    OK(f, "Mar  5 10:11:12 host sshd[1]: x\r",
       "{\"timestamp\":\"2024-03-05T10:11:12+00:00\",\"host\":\"host\",\"app\":\"sshd\","
       "\"pid\":1,\"msg\":\"x\"}");
    io_format_free(f);
}
END_TEST

START_TEST(test_3164_year)
{
    struct io_format *f = fmt_make(CFG_FMT_SYSLOG, NULL);
    /* 2025-01-01T00:00:30Z: a December line is last year's. */
    io_format_set_now(f, INT64_C(1735689630));
    OK(f, "Dec 31 23:59:59 h a: m", "{\"timestamp\":\"2024-12-31T23:59:59+00:00\",\"host\":"
                                    "\"h\",\"app\":\"a\",\"msg\":\"m\"}");
    OK(f, "Feb  1 00:00:00 h a: m", "{\"timestamp\":\"2025-02-01T00:00:00+00:00\",\"host\":"
                                    "\"h\",\"app\":\"a\",\"msg\":\"m\"}");
    OK(f, "Mar  1 00:00:00 h a: m", "{\"timestamp\":\"2024-03-01T00:00:00+00:00\",\"host\":"
                                    "\"h\",\"app\":\"a\",\"msg\":\"m\"}");
    /* 2024-12-31T23:00:00Z: a January line is next year's. */
    io_format_set_now(f, INT64_C(1735686000));
    OK(f, "Jan  1 00:00:01 h a: m", "{\"timestamp\":\"2025-01-01T00:00:01+00:00\",\"host\":"
                                    "\"h\",\"app\":\"a\",\"msg\":\"m\"}");
    /* 2024-06-15: Feb 29 exists; in 2023 it does not. */
    io_format_set_now(f, INT64_C(1718452800));
    OK(f, "Feb 29 12:00:00 h a: m", "{\"timestamp\":\"2024-02-29T12:00:00+00:00\",\"host\":"
                                    "\"h\",\"app\":\"a\",\"msg\":\"m\"}");
    io_format_set_now(f, INT64_C(1686830400));
    REJ(f, "Feb 29 12:00:00 h a: m", "invalid syslog timestamp");
    io_format_free(f);
}
END_TEST

START_TEST(test_3164_local_offset)
{
    /* Central European time, DST from the last Sunday of March. */
    setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
    tzset();
    struct io_format *f = fmt_make(CFG_FMT_SYSLOG, NULL);
    OK(f, "Jul  1 12:00:00 h a: m", "{\"timestamp\":\"2024-07-01T12:00:00+02:00\",\"host\":"
                                    "\"h\",\"app\":\"a\",\"msg\":\"m\"}");
    OK(f, "Jan  2 12:00:00 h a: m", "{\"timestamp\":\"2024-01-02T12:00:00+01:00\",\"host\":"
                                    "\"h\",\"app\":\"a\",\"msg\":\"m\"}");
    io_format_free(f);
    setenv("TZ", "UTC", 1);
    tzset();
}
END_TEST

/* The timestamp text and event time are made once a minute and the
 * seconds patched in: lines of one minute, of the same minute another
 * day and another hour, and back, each get their own. */
START_TEST(test_3164_minute)
{
    struct io_format *f = fmt_make(CFG_FMT_SYSLOG, NULL);
    static const struct {
        const char *line, *ts;
        int64_t time;
    } cases[] = {
            {"Nov  1 11:59:58 h a: m", "2024-11-01T11:59:58+00:00", 1730462398},
            {"Nov  1 11:59:59 h a: m", "2024-11-01T11:59:59+00:00", 1730462399},
            {"Nov  1 11:59:00 h a: m", "2024-11-01T11:59:00+00:00", 1730462340},
            {"Nov  2 11:59:07 h a: m", "2024-11-02T11:59:07+00:00", 1730548747},
            {"Nov  2 12:59:07 h a: m", "2024-11-02T12:59:07+00:00", 1730552347},
            {"Nov  1 11:59:60 h a: m", "2024-11-01T11:59:60+00:00", 1730462400},
    };
    for (size_t i = 0; i < CEP_ARRAY_LEN(cases); i++) {
        struct eng_decoded d;
        struct eng_reject rej = {0};
        size_t len = strlen(cases[i].line);
        ck_assert_int_eq(io_format_decode(f, cases[i].line, len, &d, &rej), CEP_OK);
        ck_assert_int_ge(d.time_fv, 0);
        ck_assert_int_eq(d.time_us, cases[i].time * CEP_USEC_PER_SEC);
        const struct eng_fval *v = &d.fv[d.time_fv];
        ck_assert_uint_eq(v->len, strlen(cases[i].ts));
        ck_assert(memcmp(d.raw + v->off, cases[i].ts, v->len) == 0);
        size_t text_len;
        const char *text = io_format_text(f, &d, &text_len);
        ck_assert_ptr_nonnull(memmem(text, text_len, cases[i].ts, strlen(cases[i].ts)));
    }
    io_format_free(f);
}
END_TEST

/* ---- syslog: RFC 5424 ---------------------------------------------------- */

START_TEST(test_5424)
{
    struct io_format *f = fmt_make(CFG_FMT_SYSLOG, NULL);
    OK(f, "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed",
       "{\"facility\":4,\"severity\":2,\"timestamp\":\"2003-10-11T22:14:15.003Z\",\"host\":"
       "\"mymachine.example.com\",\"app\":\"su\",\"msgid\":\"ID47\",\"msg\":\"'su root' "
       "failed\"}");
    OK(f, "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time",
       "{\"facility\":20,\"severity\":5,\"timestamp\":\"2003-08-24T05:14:15.000003-07:00\","
       "\"host\":\"192.0.2.1\",\"app\":\"myproc\",\"pid\":8710,\"msg\":\"%% It's time\"}");
    OK(f, "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
          "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] "
          "\xEF\xBB\xBF" "An application event",
       "{\"facility\":20,\"severity\":5,\"timestamp\":\"2003-10-11T22:14:15.003Z\",\"host\":"
       "\"mymachine.example.com\",\"app\":\"evntslog\",\"msgid\":\"ID47\",\"sd\":{"
       "\"exampleSDID@32473\":{\"iut\":\"3\",\"eventSource\":\"Application\",\"eventID\":"
       "\"1011\"}},\"msg\":\"An application event\"}");
    /* Two elements, no MSG, all-nil header. */
    OK(f, "<165>1 - - - - - [a@1 x=\"1\"][b@2]",
       "{\"facility\":20,\"severity\":5,\"sd\":{\"a@1\":{\"x\":\"1\"},\"b@2\":{}}}");
    OK(f, "<14>1 - - - - - -", "{\"facility\":1,\"severity\":6}");
    OK(f, "<14>1 - - - - - - ", "{\"facility\":1,\"severity\":6,\"msg\":\"\"}");
    /* Escapes in PARAM-VALUE: \" \\ \] are unescaped, other backslashes stay. */
    OK(f, "<14>1 - h - - - [id k=\"q\\\"b\\]s\\\\o\\n\xff\"] m",
       "{\"facility\":1,\"severity\":6,\"host\":\"h\",\"sd\":{\"id\":{\"k\":\"q\\\"b]s\\\\o"
       "\\\\n\xef\xbf\xbd\"}},\"msg\":\"m\"}");
    io_format_free(f);
}
END_TEST

/* ---- syslog with a pattern on msg ---------------------------------------- */

START_TEST(test_syslog_pattern)
{
    struct io_format *f = fmt_make(CFG_FMT_SYSLOG,
                                   "^Failed password for (?:invalid user )?(?<user>\\S+) from "
                                   "(?<src_ip>\\S+) port (?<port>\\d+)");
    OK(f, "Mar  5 10:11:12 bastion sshd[1234]: Failed password for invalid user admin from "
          "1.2.3.4 port 2222 ssh2",
       "{\"timestamp\":\"2024-03-05T10:11:12+00:00\",\"host\":\"bastion\",\"app\":\"sshd\","
       "\"pid\":1234,\"msg\":\"Failed password for invalid user admin from 1.2.3.4 port 2222 "
       "ssh2\",\"port\":\"2222\",\"src_ip\":\"1.2.3.4\",\"user\":\"admin\"}");
    /* A message the pattern does not match keeps the syslog fields only. */
    OK(f, "Mar  5 10:11:13 bastion sshd[1234]: Accepted publickey for alice",
       "{\"timestamp\":\"2024-03-05T10:11:13+00:00\",\"host\":\"bastion\",\"app\":\"sshd\","
       "\"pid\":1234,\"msg\":\"Accepted publickey for alice\"}");
    io_format_free(f);
}
END_TEST

/* ---- garbage ------------------------------------------------------------- */

struct rej_case {
    const char *line;
    const char *reason;
};

static const struct rej_case rej_cases[] = {
    {"", "no syslog timestamp"},
    {"hello world", "no syslog timestamp"},
    {"<34>", "no syslog timestamp"},
    {"<34", "invalid syslog PRI"},
    {"<>Oct 11 22:14:15 h a: m", "invalid syslog PRI"},
    {"<192>Oct 11 22:14:15 h a: m", "invalid syslog PRI"},
    {"<1234>Oct 11 22:14:15 h a: m", "invalid syslog PRI"},
    {"<x>Oct 11 22:14:15 h a: m", "invalid syslog PRI"},
    {"Foo 11 22:14:15 h a: m", "no syslog timestamp"},
    {"Oct 32 22:14:15 h a: m", "no syslog timestamp"},
    {"Oct 11 24:14:15 h a: m", "no syslog timestamp"},
    {"Oct 11 22:14", "no syslog timestamp"},
    {"Oct 11 22:14:15x h", "invalid syslog timestamp"},
    {"Apr 31 22:14:15 h a: m", "invalid syslog timestamp"},
    {"2024-02-30T10:00:00Z h a: m", "no syslog timestamp"},
    {"2024-02-03T10:00:00 h a: m", "no syslog timestamp"},
    {"<34>1 2003-13-11T22:14:15Z h a p m -", "invalid RFC 5424 timestamp"},
    {"<34>1 yesterday h a p m -", "invalid RFC 5424 timestamp"},
    {"<34>1 2003-10-11T22:14:15Z h a", "truncated RFC 5424 header"},
    {"<34>1 2003-10-11T22:14:15Z h a p m", "truncated RFC 5424 header"},
    {"<34>1  h a p m -", "truncated RFC 5424 header"},
    {"<34>1 - h a p m [bad", "invalid structured data"},
    {"<34>1 - h a p m [id k=\"v]", "invalid structured data"},
    {"<34>1 - h a p m [id k=v]", "invalid structured data"},
    {"<34>1 - h a p m [id k=\"v\\\"]", "invalid structured data"},
    {"<34>1 - h a p m []", "invalid structured data"},
    {"<34>1 - h a p m [id]x", "invalid structured data"},
    {"<34>1 - h a p m nosd", "invalid structured data"},
    {"<34>1 - h a p m [0123456789012345678901234567890123]", "invalid structured data"},
};

START_TEST(test_syslog_garbage)
{
    struct io_format *f = fmt_make(CFG_FMT_SYSLOG, NULL);
    const struct rej_case *c = &rej_cases[_i];
    expect_rej(f, c->line, strlen(c->line), c->reason);
    io_format_free(f);
}
END_TEST

/* A line whose decoded form would outgrow an event (structured data of
 * control bytes: each is six bytes escaped) is rejected with a reason, not
 * an abort; a smaller one of the same kind is taken. */
START_TEST(test_syslog_too_large)
{
    struct io_format *f = fmt_make(CFG_FMT_SYSLOG, NULL);
    static const char head[] = "<34>1 - h a p m [id k=\"";
    static const char tail[] = "\"] x";
    size_t n_ctl = 24u << 20;
    char *line = cep_malloc(sizeof(head) + n_ctl + sizeof(tail));
    memcpy(line, head, sizeof(head) - 1);
    memset(line + sizeof(head) - 1, 0x01, n_ctl);
    memcpy(line + sizeof(head) - 1 + n_ctl, tail, sizeof(tail));
    expect_rej(f, line, strlen(line), "decoded line too large");
    size_t small = 1u << 20;
    memcpy(line + sizeof(head) - 1 + small, tail, sizeof(tail));
    const char *out;
    size_t out_len;
    struct eng_reject rej = {0};
    ck_assert_int_eq(io_format_apply(f, line, strlen(line), &out, &out_len, &rej), CEP_OK);
    ck_assert_uint_gt(out_len, 6 * small);
    cep_free(line);
    io_format_free(f);
}
END_TEST

/* Every prefix of a valid line either parses to valid JSON or is rejected
 * with a reason inside the line. */
START_TEST(test_syslog_prefixes)
{
    static const char *const lines[] = {
        "<165>1 2003-10-11T22:14:15.003Z mymachine evntslog - ID47 [ex@1 iut=\"3\" e=\"a\\]b\"]"
        "[x@2 y=\"\"] \xEF\xBB\xBFmsg",
        "<34>Oct 11 22:14:15 mymachine sshd[12]: Failed password",
        "2024-03-05T10:11:12.123456+01:00 web-1 sshd[77]: Accepted",
    };
    struct io_format *f = fmt_make(CFG_FMT_SYSLOG, "(?<w>\\w+)$");
    for (size_t i = 0; i < CEP_ARRAY_LEN(lines); i++) {
        size_t n = strlen(lines[i]);
        for (size_t k = 0; k <= n; k++) {
            const char *out;
            size_t out_len;
            struct eng_reject rej = {0};
            if (io_format_apply(f, lines[i], k, &out, &out_len, &rej) == CEP_OK) {
                json_check(out, out_len);
            } else {
                ck_assert_ptr_nonnull(rej.reason);
                ck_assert_uint_le(rej.offset, k);
            }
        }
    }
    io_format_free(f);
}
END_TEST

/* The prefilter of anchored patterns never hides a line that matches:
 * caseless first letters, alternations, classes, bytes above 0x7F,
 * patterns that match the empty string, the minimum length. */
START_TEST(test_regex_prefilter)
{
    struct io_format *f = fmt_make(CFG_FMT_REGEX, "(?i)^failed (?<u>\\w+)");
    OK(f, "FAILED bob", "{\"u\":\"bob\"}");
    OK(f, "failed bob", "{\"u\":\"bob\"}");
    REJ(f, "xfailed bob", "line does not match the pattern");
    io_format_free(f);
    f = fmt_make(CFG_FMT_REGEX, "^f(?i:ailed) (?<u>\\w+)");
    OK(f, "fAILED bob", "{\"u\":\"bob\"}");
    io_format_free(f);
    f = fmt_make(CFG_FMT_REGEX, "^(?:Failed|Accepted|[x-z]\\d) (?<u>\\w+)");
    OK(f, "Accepted al", "{\"u\":\"al\"}");
    OK(f, "y7 al", "{\"u\":\"al\"}");
    REJ(f, "Invalid al", "line does not match the pattern");
    REJ(f, "accepted al", "line does not match the pattern");
    io_format_free(f);
    f = fmt_make(CFG_FMT_REGEX, "^[\\x80-\\xff](?<u>.)");
    OK(f, "\xc3\xa9", "{\"u\":\"\xef\xbf\xbd\"}");
    io_format_free(f);
    f = fmt_make(CFG_FMT_REGEX, "^(?<u>a*)");
    OK(f, "", "{\"u\":\"\"}");
    OK(f, "b", "{\"u\":\"\"}");
    io_format_free(f);
    f = fmt_make(CFG_FMT_REGEX, "^ab(?<u>cd)");
    REJ(f, "ab", "line does not match the pattern");
    REJ(f, "abc", "line does not match the pattern");
    OK(f, "abcd", "{\"u\":\"cd\"}");
    io_format_free(f);
    f = fmt_make(CFG_FMT_SYSLOG, "^(?:Failed|Accepted) password for (?<user>\\S+)");
    OK(f, "Nov  1 11:59:58 h sshd: Accepted password for al",
       "{\"timestamp\":\"2024-11-01T11:59:58+00:00\",\"host\":\"h\",\"app\":\"sshd\","
       "\"msg\":\"Accepted password for al\",\"user\":\"al\"}");
    OK(f, "Nov  1 11:59:58 h sshd: Invalid password for al",
       "{\"timestamp\":\"2024-11-01T11:59:58+00:00\",\"host\":\"h\",\"app\":\"sshd\","
       "\"msg\":\"Invalid password for al\"}");
    io_format_free(f);
}
END_TEST

/* ---- direct decode against the JSON path ------------------------------- */

/* Rules that copy every field into the alert (`fields`), so that an alert
 * shows each slot's value and type, the event time and the raw event.
 * Stream sysd reads below sd, which makes the engine fall back to the JSON
 * decoder for lines with structured data. */
static const char direct_rules[] =
        "streams:\n"
        "  sys: {time: {field: timestamp}}\n"
        "  sysd: {time: {field: timestamp}}\n"
        "  rx: {time: {field: ts}}\n"
        "  sysp: {time: {field: timestamp, max_out_of_orderness: 60d}}\n"
        "rules:\n"
        "  - id: sys-all\n"
        "    kind: simple\n"
        "    stream: sys\n"
        "    when: \"true\"\n"
        "    message: \"m\"\n"
        "    fields: {facility: facility, severity: severity, ts: timestamp, host: host,\n"
        "             app: app, pid: pid, msgid: msgid, sd: sd, msg: msg, user: user,\n"
        "             ip: ip, len: len(msg)}\n"
        "  - id: sysd-all\n"
        "    kind: simple\n"
        "    stream: sysd\n"
        "    when: \"true\"\n"
        "    message: \"m\"\n"
        "    fields: {sd: sd, origin: sd.origin.ip, meta: sd.meta, msg: msg, host: host}\n"
        "  - id: rx-all\n"
        "    kind: simple\n"
        "    stream: rx\n"
        "    when: \"true\"\n"
        "    message: \"m\"\n"
        "    fields: {a: a, b: b, ts: ts}\n"
        "  - id: sysp-pair\n"
        "    kind: pattern\n"
        "    stream: sysp\n"
        "    key: [host]\n"
        "    pattern:\n"
        "      - {step: a, when: \"true\"}\n"
        "      - {step: b, when: \"true\"}\n"
        "    within: 60d\n"
        "    message: \"${a.msg} then ${b.msg}\"\n";

struct direct_fx {
    struct ruleset *rs;
    struct eng *json_eng, *direct_eng;
    struct sbuf json_out, direct_out;
};

/* Alerts without detected_at (wall clock), one per line. */
static void direct_on_alert(void *ud, const struct eng_alert *a)
{
    struct sbuf *o = ud;
    const char *d = strstr(a->json, "\"detected_at\":");
    const char *e = d ? strchr(d, ',') : NULL;
    if (d && e) {
        sbuf_append(o, a->json, (size_t)(d - a->json));
        sbuf_append(o, e + 1, a->len - (size_t)(e + 1 - a->json));
    } else {
        sbuf_append(o, a->json, a->len);
    }
    sbuf_putc(o, '\n');
}

static void direct_load(struct direct_fx *fx)
{
    memset(fx, 0, sizeof(*fx));
    struct diag_list dl;
    diag_list_init(&dl);
    fx->rs = rule_load_mem("direct.yaml", direct_rules, strlen(direct_rules), NULL, &dl);
    if (!fx->rs)
        diag_print(&dl, stderr);
    ck_assert_ptr_nonnull(fx->rs);
    diag_list_free(&dl);
    sbuf_init(&fx->json_out);
    sbuf_init(&fx->direct_out);
    sbuf_reserve(&fx->json_out, 1); /* memcmp before the first alert */
    sbuf_reserve(&fx->direct_out, 1);
    struct eng_output jo = {.ud = &fx->json_out, .alert = direct_on_alert};
    struct eng_output dout = {.ud = &fx->direct_out, .alert = direct_on_alert};
    fx->json_eng = eng_new(fx->rs, &jo);
    fx->direct_eng = eng_new(fx->rs, &dout);
}

static void direct_free(struct direct_fx *fx)
{
    eng_free(fx->json_eng);
    eng_free(fx->direct_eng);
    ruleset_free(fx->rs);
    sbuf_free(&fx->json_out);
    sbuf_free(&fx->direct_out);
}

/* Push line (len bytes) through f into stream both ways; the verdicts and
 * the alerts must be the same.  Returns the verdict. */
static int direct_push(struct direct_fx *fx, struct io_format *f, const char *stream,
                       const char *line, size_t len, uint64_t off)
{
    int si = ruleset_find_stream(fx->rs, stream);
    ck_assert_int_ge(si, 0);
    struct eng_decoded d;
    struct eng_reject rej = {0}, jrej = {0};
    if (io_format_decode(f, line, len, &d, &rej) != CEP_OK)
        return CEP_ERR;
    size_t jn0 = fx->json_out.len, dn0 = fx->direct_out.len;
    size_t text_len;
    const char *text = io_format_text(f, &d, &text_len);
    int jrc = eng_push_line(fx->json_eng, (uint32_t)si, text, text_len, "in", off, &jrej);
    int drc = eng_push_decoded(fx->direct_eng, (uint32_t)si, &d, "in", off, &rej);
    ck_assert_int_eq(jrc, drc);
    if (jrc != CEP_OK)
        ck_assert_str_eq(jrej.reason, rej.reason);
    ck_assert_msg(fx->json_out.len - jn0 == fx->direct_out.len - dn0 &&
                          memcmp(fx->json_out.buf + jn0, fx->direct_out.buf + dn0,
                                 fx->json_out.len - jn0) == 0,
                  "line %.*s\n json: %.*s\n direct: %.*s", (int)len, line,
                  (int)(fx->json_out.len - jn0), fx->json_out.buf + jn0,
                  (int)(fx->direct_out.len - dn0), fx->direct_out.buf + dn0);
    return drc;
}

/* Lines for the syslog streams: RFC 3164 and 5424 shapes, escapes in every
 * field, invalid UTF-8, numbers and strings as PROCID, structured data
 * with escapes, the pattern's groups (one of them named like a syslog
 * field), lines the engine rejects (no time in a 5424 line). */
static const char *const direct_syslog_lines[] = {
        "Nov  1 11:59:58 web-1 sshd[1234]: Failed password for root from 10.0.0.1 port 22 ssh2",
        "<38>Nov 22 10:00:00 web-1 sshd[99]: Accepted password for bob from 1.2.3.4",
        "Nov  1 11:59:58 su: pam_unix(su:session): session opened for user \"r\\o\"t\"",
        "Nov  1 11:59:58 web-1 cron[abc]: tab\there \x01\x1f ctrl and a \"quote\" \\ slash, "
        "long enough for two SSE blocks",
        "Nov  1 11:59:58 h\"ost app: caf\xc3\xa9 \xf0\x9f\x98\x80 and bad \xff\xc3( bytes "
        "\xed\xa0\x80 after sixteen bytes \xe2\x82",
        "2024-11-01T11:59:58.123+01:00 web-1 sshd[1]: rfc 3339 in 3164",
        "<165>1 2024-11-01T12:00:00.5Z mymachine.example.com evntslog - ID47 "
        "[exampleSDID@32473 iut=\"3\" eventSource=\"Appl\\\"ic\\]ation\" x=\"a\\\\b\\c\"]"
        "[origin ip=\"192.0.2.1\"] \xEF\xBB\xBF" "An application event log entry",
        "<165>1 2024-11-01T12:00:00Z host app 123456789012345678 - [meta seq=\"1\"] msg",
        "<165>1 2024-11-01T12:00:00Z host app 1234567890123456789 - - pid too long",
        "<165>1 - host app - - - no time at all",
        "<13>1 2024-11-01T12:00:00Z - - - - -",
        "Nov  1 11:59:58 web-1 sshd[7]: user=al\"ice ip=\"10.0.0.9 tail",
        "Nov  1 11:59:58 web-1 sshd[7]: timestamp=not-a-time",
};

START_TEST(test_direct_syslog)
{
    struct direct_fx fx;
    direct_load(&fx);
    /* The group named timestamp replaces the header's (last member wins):
     * then the event time comes from the group's text, and fails. */
    static const char *const patterns[] = {
            NULL, "user=(?<user>\\S+) ip=(?<ip>\\S+)",
            "^(?:Failed|Accepted) password for (?<user>\\S+) from (?<ip>\\S+)",
            "timestamp=(?<timestamp>\\S+)"};
    static const char *const streams[] = {"sys", "sysd"};
    size_t n_alerts = 0, n_rejected = 0;
    uint64_t off = 0;
    for (size_t p = 0; p < CEP_ARRAY_LEN(patterns); p++) {
        struct io_format *f = fmt_make(CFG_FMT_SYSLOG, patterns[p]);
        for (size_t s = 0; s < CEP_ARRAY_LEN(streams); s++) {
            for (size_t i = 0; i < CEP_ARRAY_LEN(direct_syslog_lines); i++) {
                const char *l = direct_syslog_lines[i];
                if (direct_push(&fx, f, streams[s], l, strlen(l), off++) == CEP_OK)
                    n_alerts++;
                else
                    n_rejected++;
            }
        }
        io_format_free(f);
    }
    /* Both kinds happened, and every accepted line alerted in both. */
    ck_assert_uint_gt(n_alerts, 80);
    ck_assert_uint_gt(n_rejected, 8);
    ck_assert_uint_eq(eng_stats(fx.direct_eng)->alerts, n_alerts);
    ck_assert_uint_eq(eng_stats(fx.json_eng)->alerts, n_alerts);
    /* The values really are there: a pid as a number, an unescaped sd
     * member, the header's event time. */
    ck_assert_ptr_nonnull(strstr(fx.direct_out.buf, "\"pid\":1234,"));
    ck_assert_ptr_nonnull(strstr(fx.direct_out.buf, "\"origin\":\"192.0.2.1\""));
    ck_assert_ptr_nonnull(strstr(fx.direct_out.buf, "\"time\":1730462398,"));
    direct_free(&fx);
}
END_TEST

START_TEST(test_direct_regex)
{
    struct direct_fx fx;
    direct_load(&fx);
    struct io_format *f =
            fmt_make(CFG_FMT_REGEX, "(?J)^(?<ts>\\S+) (?<a>[^|]*)(?:\\|(?<b>.*))?$|^(?<a>x)(?<b>y)$");
    static const char *const lines[] = {
            "2024-11-01T12:00:00Z plain|text",
            "2024-11-01T12:00:00.25-02:30 only a",
            "2024-11-01T12:00:00Z q\"uo\\te|tab\tctl\x02 \xff\xfe",
            "2024-11-01T12:00:00Z \xc3\xa9t\xc3\xa9 and a long value beyond 16 bytes|\"",
            "not-a-time a|b",
            "xy",
    };
    size_t ok = 0;
    for (size_t i = 0; i < CEP_ARRAY_LEN(lines); i++)
        ok += direct_push(&fx, f, "rx", lines[i], strlen(lines[i]), i) == CEP_OK;
    ck_assert_uint_eq(ok, 4);
    ck_assert_ptr_nonnull(strstr(fx.direct_out.buf, "\"a\":\"q\\\"uo\\\\te\""));
    io_format_free(f);
    direct_free(&fx);
}
END_TEST

/* Events kept past their push (a partial match holds the first step) get
 * their JSON text then: an alert later prints them as the JSON path does. */
START_TEST(test_direct_kept)
{
    struct direct_fx fx;
    direct_load(&fx);
    static const char *const patterns[] = {NULL, "user=(?<user>\\S+) ip=(?<ip>\\S+)"};
    uint64_t off = 0;
    for (size_t p = 0; p < CEP_ARRAY_LEN(patterns); p++) {
        struct io_format *f = fmt_make(CFG_FMT_SYSLOG, patterns[p]);
        for (size_t i = 0; i < CEP_ARRAY_LEN(direct_syslog_lines); i++) {
            const char *l = direct_syslog_lines[i];
            direct_push(&fx, f, "sysp", l, strlen(l), off++);
        }
        io_format_free(f);
    }
    eng_finish(fx.json_eng, ENG_EOF_FLUSH);
    eng_finish(fx.direct_eng, ENG_EOF_FLUSH);
    ck_assert_str_eq(fx.direct_out.buf, fx.json_out.buf);
    ck_assert_uint_gt(eng_stats(fx.direct_eng)->alerts, 10);
    /* An alert holds a kept event's text with escapes and U+FFFD. */
    ck_assert_ptr_nonnull(strstr(fx.direct_out.buf, "\"host\":\"h\\\"ost\""));
    ck_assert_ptr_nonnull(strstr(fx.direct_out.buf, "bad \xef\xbf\xbd"));
    direct_free(&fx);
}
END_TEST

/* The escaper against a byte-at-a-time reference (the rules of fmt_esc,
 * spelled out), on random strings mixing plain text, specials and bytes
 * of every kind at every position of the 16-byte blocks. */
static void ref_esc(struct sbuf *o, const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        if (c >= 0x80) {
            size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            if (len - i >= n && json_utf8_valid((const char *)s + i, n)) {
                sbuf_append(o, s + i, n);
                i += n;
            } else {
                sbuf_append(o, "\xEF\xBF\xBD", 3);
                i++;
            }
            continue;
        }
        if (c == '"' || c == '\\')
            sbuf_printf(o, "\\%c", c);
        else if (c == '\n')
            sbuf_puts(o, "\\n");
        else if (c == '\r')
            sbuf_puts(o, "\\r");
        else if (c == '\t')
            sbuf_puts(o, "\\t");
        else if (c < 0x20)
            sbuf_printf(o, "\\u%04x", c);
        else
            sbuf_putc(o, (char)c);
        i++;
    }
}

START_TEST(test_escape_random)
{
    struct io_format *f = fmt_make(CFG_FMT_REGEX, "(?s)^(?<v>.*)$");
    static const unsigned char alphabet[] = "abcdefgh \"\\\t\n\r\x01\x1f\x7f\xc3\xa9\xe2\x82\xac"
                                            "\xf0\x9f\x98\x80\xff\x80\xed\xa0";
    struct sbuf want;
    sbuf_init(&want);
    uint64_t x = 88172645463325252u; /* xorshift64: a fixed sequence */
    for (int round = 0; round < 3000; round++) {
        unsigned char line[80];
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t len = x % sizeof(line);
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            line[i] = x % 4 ? (unsigned char)('a' + x % 26) : alphabet[x % (sizeof(alphabet) - 1)];
        }
        if (len && line[len - 1] == '\r') /* a trailing CR is cut as a line end */
            line[len - 1] = 'z';
        sbuf_reset(&want);
        sbuf_puts(&want, "{\"v\":\"");
        ref_esc(&want, line, len);
        sbuf_puts(&want, "\"}");
        sbuf_putc(&want, '\0');
        expect_ok(f, (const char *)line, len, want.buf);
    }
    sbuf_free(&want);
    io_format_free(f);
}
END_TEST

static Suite *format_suite(void)
{
    Suite *s = suite_create("format");
    TCase *tc = tcase_create("json");
    tcase_add_test(tc, test_json_passthrough);
    suite_add_tcase(s, tc);
    tc = tcase_create("regex");
    tcase_add_test(tc, test_regex_groups);
    tcase_add_test(tc, test_regex_escaping);
    tcase_add_test(tc, test_regex_bytes);
    tcase_add_test(tc, test_regex_dup_names);
    tcase_add_test(tc, test_regex_limit);
    tcase_add_test(tc, test_regex_bad_pattern);
    tcase_add_test(tc, test_regex_prefilter);
    suite_add_tcase(s, tc);
    tc = tcase_create("rfc3164");
    tcase_add_test(tc, test_3164_basic);
    tcase_add_test(tc, test_3164_year);
    tcase_add_test(tc, test_3164_local_offset);
    tcase_add_test(tc, test_3164_minute);
    suite_add_tcase(s, tc);
    tc = tcase_create("rfc5424");
    tcase_add_test(tc, test_5424);
    suite_add_tcase(s, tc);
    tc = tcase_create("syslog_pattern");
    tcase_add_test(tc, test_syslog_pattern);
    suite_add_tcase(s, tc);
    tc = tcase_create("garbage");
    tcase_add_loop_test(tc, test_syslog_garbage, 0, (int)CEP_ARRAY_LEN(rej_cases));
    tcase_add_test(tc, test_syslog_too_large);
    tcase_add_test(tc, test_syslog_prefixes);
    suite_add_tcase(s, tc);
    tc = tcase_create("direct");
    tcase_add_test(tc, test_direct_syslog);
    tcase_add_test(tc, test_direct_regex);
    tcase_add_test(tc, test_direct_kept);
    tcase_add_test(tc, test_escape_random);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    tzset();
    SRunner *sr = srunner_create(format_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
