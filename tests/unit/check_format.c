/* SPDX-License-Identifier: Apache-2.0
 * Unit tests for the line formats (src/io/format.c): json passes through,
 * regex named groups become string fields, syslog RFC 3164 (with and without
 * PRI, host, tag, pid; RFC 3339 timestamps; the inferred year; local UTC
 * offsets) and RFC 5424 (nil fields, structured data and its escapes, BOM),
 * syslog with a pattern on msg, invalid UTF-8 always giving valid JSON, the
 * match limit, pattern checks, and garbage rejected with a reason. */
#include "cepd/cep_common.h"
#include "cepd/io.h"
#include "../../src/io/io_format_int.h"

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
    suite_add_tcase(s, tc);
    tc = tcase_create("rfc3164");
    tcase_add_test(tc, test_3164_basic);
    tcase_add_test(tc, test_3164_year);
    tcase_add_test(tc, test_3164_local_offset);
    suite_add_tcase(s, tc);
    tc = tcase_create("rfc5424");
    tcase_add_test(tc, test_5424);
    suite_add_tcase(s, tc);
    tc = tcase_create("syslog_pattern");
    tcase_add_test(tc, test_syslog_pattern);
    suite_add_tcase(s, tc);
    tc = tcase_create("garbage");
    tcase_add_loop_test(tc, test_syslog_garbage, 0, (int)CEP_ARRAY_LEN(rej_cases));
    tcase_add_test(tc, test_syslog_prefixes);
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
