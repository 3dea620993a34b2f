/* SPDX-License-Identifier: Apache-2.0
 * Unit tests for the line reader: splitting, offsets and line numbers, a
 * final line without newline, oversized lines reported once and skipped,
 * CRLF, and lines straddling read boundaries. */
#include "cepd/cep_common.h"
#include "cepd/src_lines.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A pipe holding text; returns the read end. */
static int pipe_with(const char *text, size_t len)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(write(fds[1], text, len), (ssize_t)len);
    close(fds[1]);
    return fds[0];
}

START_TEST(test_lines_basic)
{
    const char text[] = "one\ntwo\n\nlast";
    int fd = pipe_with(text, sizeof(text) - 1);
    struct src_lines r;
    struct src_line l;
    src_lines_init(&r, fd, 0);
    ck_assert_int_eq(src_lines_next(&r, true, &l), 1);
    ck_assert_uint_eq(l.len, 3);
    ck_assert_int_eq(memcmp(l.data, "one", 3), 0);
    ck_assert_uint_eq(l.offset, 0);
    ck_assert_uint_eq(l.line_no, 1);
    ck_assert_int_eq(src_lines_next(&r, true, &l), 1);
    ck_assert_uint_eq(l.offset, 4);
    ck_assert_int_eq(src_lines_next(&r, true, &l), 1);
    ck_assert_uint_eq(l.len, 0);
    ck_assert_int_eq(src_lines_next(&r, true, &l), 1);
    ck_assert_uint_eq(l.len, 4);
    ck_assert_uint_eq(l.offset, 9);
    ck_assert_uint_eq(l.line_no, 4);
    ck_assert(!l.too_long);
    ck_assert_int_eq(src_lines_next(&r, true, &l), 0);
    src_lines_free(&r);
    close(fd);
}
END_TEST

START_TEST(test_lines_partial_not_final)
{
    const char text[] = "done\npartial";
    int fd = pipe_with(text, sizeof(text) - 1);
    struct src_lines r;
    struct src_line l;
    src_lines_init(&r, fd, 0);
    ck_assert_int_eq(src_lines_next(&r, false, &l), 1);
    ck_assert_int_eq(src_lines_next(&r, false, &l), 0); /* kept for a growing file */
    src_lines_free(&r);
    close(fd);
}
END_TEST

START_TEST(test_lines_too_long)
{
    /* Limit 8: a 20-byte line is reported once, truncated, then skipped. */
    const char text[] = "short\n01234567890123456789\nafter\n0123456789";
    int fd = pipe_with(text, sizeof(text) - 1);
    struct src_lines r;
    struct src_line l;
    src_lines_init(&r, fd, 8);
    ck_assert_int_eq(src_lines_next(&r, true, &l), 1);
    ck_assert(!l.too_long);
    ck_assert_int_eq(src_lines_next(&r, true, &l), 1);
    ck_assert(l.too_long);
    ck_assert_uint_eq(l.len, 8);
    ck_assert_uint_eq(l.offset, 6);
    ck_assert_int_eq(src_lines_next(&r, true, &l), 1);
    ck_assert(!l.too_long);
    ck_assert_uint_eq(l.len, 5);
    ck_assert_int_eq(memcmp(l.data, "after", 5), 0);
    ck_assert_uint_eq(l.offset, 27);
    ck_assert_uint_eq(l.line_no, 3);
    ck_assert_int_eq(src_lines_next(&r, true, &l), 1); /* final, too long, no newline */
    ck_assert(l.too_long);
    ck_assert_int_eq(src_lines_next(&r, true, &l), 0);
    src_lines_free(&r);
    close(fd);
}
END_TEST

START_TEST(test_lines_many_reads)
{
    /* 200k lines through a temp file: offsets stay exact across refills. */
    char path[] = "/tmp/cepd-lines-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    uint64_t expect_off = 0;
    for (int i = 0; i < 200000; i++)
        fprintf(f, "{\"n\":%d}\n", i);
    fclose(f);
    fd = open(path, O_RDONLY);
    struct src_lines r;
    struct src_line l;
    src_lines_init(&r, fd, 0);
    int n = 0;
    while (src_lines_next(&r, true, &l) == 1) {
        char want[32];
        int len = snprintf(want, sizeof(want), "{\"n\":%d}", n);
        ck_assert_uint_eq(l.len, (size_t)len);
        ck_assert_int_eq(memcmp(l.data, want, (size_t)len), 0);
        ck_assert_uint_eq(l.offset, expect_off);
        expect_off += (uint64_t)len + 1;
        n++;
    }
    ck_assert_int_eq(n, 200000);
    src_lines_free(&r);
    close(fd);
    unlink(path);
}
END_TEST

static Suite *io_suite(void)
{
    Suite *s = suite_create("io");
    TCase *tc = tcase_create("lines");
    tcase_add_test(tc, test_lines_basic);
    tcase_add_test(tc, test_lines_partial_not_final);
    tcase_add_test(tc, test_lines_too_long);
    tcase_add_test(tc, test_lines_many_reads);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(io_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
