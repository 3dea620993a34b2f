/* SPDX-License-Identifier: Apache-2.0
 * Unit tests for src/core and src/util basics: values, schemas and events,
 * diagnostics, string buffers, hashing, and the allocator's out-of-memory
 * path. */
#include "cepd/cep_common.h"
#include "cepd/diag.h"
#include "cepd/evt.h"
#include "cepd/hash.h"
#include "cepd/log.h"
#include "cepd/sbuf.h"
#include "cepd/val.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

START_TEST(test_val_equal_compare)
{
    struct val i3 = val_int(3), f3 = val_float(3.0), f35 = val_float(3.5);
    struct val sa = val_str("abc", 3), sb = val_str("abd", 3), sab = val_str("ab", 2);
    struct val n = val_null();
    bool ok;
    ck_assert(val_equal(&i3, &f3));
    ck_assert(!val_equal(&i3, &f35));
    ck_assert(!val_equal(&i3, &sa));
    ck_assert(val_equal(&n, &n));
    ck_assert(!val_equal(&n, &i3));
    ck_assert_int_eq(val_compare(&i3, &f35, &ok), -1);
    ck_assert(ok);
    ck_assert_int_eq(val_compare(&sb, &sa, &ok), 1);
    ck_assert_int_eq(val_compare(&sab, &sa, &ok), -1);
    ck_assert(ok);
    val_compare(&sa, &i3, &ok);
    ck_assert(!ok);
    val_compare(&n, &n, &ok);
    ck_assert(!ok);
}
END_TEST

START_TEST(test_val_json)
{
    struct sbuf sb;
    sbuf_init(&sb);
    struct val items[3] = {val_int(-7), val_str("a\"b\n\x01", 5), val_bool(true)};
    struct val list = {.type = VAL_LIST, .len = 3};
    list.u.items = items;
    val_to_json(&list, &sb);
    ck_assert_str_eq(sb.buf, "[-7,\"a\\\"b\\n\\u0001\",true]");
    sbuf_reset(&sb);
    struct val ints[4] = {val_int(INT64_MIN), val_int(INT64_MAX), val_int(0), val_int(-1)};
    for (size_t i = 0; i < 4; i++)
        val_to_json(&ints[i], &sb);
    ck_assert_str_eq(sb.buf, "-9223372036854775808" "9223372036854775807" "0" "-1");
    sbuf_reset(&sb);
    struct val plain = val_str("h0\"", 2); /* marked plain: copied as is */
    plain.flags = VAL_F_PLAIN;
    val_to_json(&plain, &sb);
    ck_assert_str_eq(sb.buf, "\"h0\"");
    sbuf_reset(&sb);
    struct val f = val_float(0.1);
    val_to_json(&f, &sb);
    ck_assert_str_eq(sb.buf, "0.1");
    sbuf_reset(&sb);
    f = val_float(1732300000.5);
    val_to_json(&f, &sb);
    ck_assert_str_eq(sb.buf, "1732300000.5");
    sbuf_reset(&sb);
    f = val_float(2.0);
    val_to_json(&f, &sb);
    ck_assert_str_eq(sb.buf, "2");
    sbuf_reset(&sb);
    struct val s = val_str("plain", 5);
    val_to_text(&s, &sb);
    struct val nul = val_null();
    val_to_text(&nul, &sb);
    ck_assert_str_eq(sb.buf, "plain");
    sbuf_free(&sb);
}
END_TEST

START_TEST(test_schema_slots)
{
    struct evt_schema *s = evt_schema_new();
    int a = evt_schema_slot_dotted(s, "http.request.method");
    int b = evt_schema_slot_dotted(s, "user");
    int c = evt_schema_slot_dotted(s, "http.request.method");
    int d = evt_schema_slot_dotted(s, "http");
    ck_assert_int_eq(a, 0);
    ck_assert_int_eq(b, 1);
    ck_assert_int_eq(c, a);
    ck_assert_int_eq(d, 2);
    ck_assert_uint_eq(s->n_slots, 3);
    ck_assert_str_eq(s->slot_names[0], "http.request.method");
    const struct evt_schema_node *http = evt_schema_child(&s->root, "http", 4);
    ck_assert_ptr_nonnull(http);
    ck_assert_int_eq(http->slot, 2);
    ck_assert_ptr_nonnull(evt_schema_child(http, "request", 7));
    ck_assert_ptr_null(evt_schema_child(http, "requests", 8));
    evt_schema_free(s);
}
END_TEST

/* A deferred text (evt_text_defer): ud is the text now; the recipe is
 * ud too, and the kept text is the recipe, then raw. */
static void text_now(const void *ud, struct sbuf *out)
{
    sbuf_puts(out, ud);
}

static void text_kept(const char *raw, const char *recipe, struct sbuf *out)
{
    sbuf_puts(out, recipe);
    sbuf_puts(out, raw);
}

static const struct evt_text_ops text_ops = {
        .write_now = text_now,
        .keep = text_now,
        .write_kept = text_kept,
};

/* The JSON text: raw itself; or deferred, written through the ops during
 * the push, from the recipe the event keeps at its end when it is kept,
 * and never read again when it is not. */
START_TEST(test_evt_text)
{
    struct evt *e = evt_new();
    struct sbuf o;
    sbuf_init(&o);
    evt_reset(e, "{\"a\":1}", 7, 1);
    evt_text_append(e, &o);
    ck_assert_str_eq(o.buf, "{\"a\":1}");
    evt_reset(e, "line", 4, 1);
    evt_text_defer(e, &text_ops, "now:");
    sbuf_reset(&o);
    evt_text_append(e, &o);
    ck_assert_str_eq(o.buf, "now:");
    evt_text_settle(e); /* nobody kept it */
    ck_assert_int_eq(e->text_kind, EVT_TEXT_NONE);
    evt_reset(e, "line", 4, 1);
    evt_text_defer(e, &text_ops, "kept:");
    evt_ref(e);
    evt_text_settle(e);
    ck_assert_int_eq(e->text_kind, EVT_TEXT_KEPT);
    sbuf_reset(&o);
    evt_text_append(e, &o);
    ck_assert_str_eq(o.buf, "kept:line");
    evt_unref(e);
    evt_unref(e);
    sbuf_free(&o);
}
END_TEST

START_TEST(test_evt_reset_refcount)
{
    struct evt *e = evt_new();
    evt_reset(e, "{\"a\":1}", 7, 4);
    ck_assert_uint_eq(e->raw_len, 7);
    ck_assert_str_eq(e->raw, "{\"a\":1}");
    ck_assert(e->scratch_cap >= 7);
    ck_assert_uint_eq(e->n_slots, 4);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(e->slots[i].type, VAL_NULL);
    char *raw_before = e->raw;
    evt_reset(e, "{}", 2, 2);
    ck_assert_ptr_eq(e->raw, raw_before); /* shrinking reuses the buffer */
    evt_ref(e);
    ck_assert_uint_eq(e->refcnt, 2);
    evt_unref(e);
    ck_assert_uint_eq(e->refcnt, 1);
    evt_unref(e);
    evt_unref(NULL);
    /* A stream whose rules read no field: no slots at all. */
    struct evt *empty = evt_new();
    evt_reset(empty, "{}", 2, 0);
    ck_assert_uint_eq(empty->n_slots, 0);
    evt_unref(empty);
}
END_TEST

START_TEST(test_diag_print_caret)
{
    char path[] = "/tmp/cepd-diag-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char *text = "rules:\n  - id: x\n    when: a ==\n";
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct diag_list dl;
    diag_list_init(&dl);
    struct diag_loc loc = {path, 3, 15};
    diag_add(&dl, DIAG_ERROR, &loc, "expected an operand after '%s'", "==");
    diag_add(&dl, DIAG_WARNING, NULL, "no position");
    ck_assert(diag_has_errors(&dl));
    ck_assert_uint_eq(dl.n_warnings, 1);
    char *out = NULL;
    size_t out_len = 0;
    FILE *f = open_memstream(&out, &out_len);
    diag_print(&dl, f);
    fclose(f);
    char *expect = cep_asprintf("%s:3:15: error: expected an operand after '=='\n"
                                "     when: a ==\n"
                                "               ^\n"
                                "warning: no position\n",
                                path);
    ck_assert_str_eq(out, expect);
    free(out);
    cep_free(expect);
    diag_list_free(&dl);
    unlink(path);
}
END_TEST

START_TEST(test_diag_cap)
{
    struct diag_list dl;
    diag_list_init(&dl);
    dl.max = 2;
    for (int i = 0; i < 5; i++)
        diag_add(&dl, DIAG_ERROR, NULL, "e%d", i);
    ck_assert_uint_eq(dl.n, 2);
    ck_assert_uint_eq(dl.n_errors, 5);
    ck_assert_uint_eq(dl.n_dropped, 3);
    diag_list_free(&dl);
}
END_TEST

START_TEST(test_diag_suggest)
{
    const char *keys[] = {"id", "kind", "description", "stream", "when", "severity"};
    ck_assert_str_eq(diag_suggest("severty", keys, 6), "severity");
    ck_assert_str_eq(diag_suggest("wen", keys, 6), "when");
    ck_assert_str_eq(diag_suggest("descripton", keys, 6), "description");
    ck_assert_ptr_null(diag_suggest("zzzzzz", keys, 6));
    ck_assert_ptr_null(diag_suggest("x", keys, 6));
}
END_TEST

START_TEST(test_hash_stable)
{
    /* Alert ids depend on these exact values: a change here is a format change. */
    ck_assert_uint_eq(cep_hash64("", 0, 0), cep_hash64("", 0, 0));
    ck_assert_uint_ne(cep_hash64("a", 1, 0), cep_hash64("b", 1, 0));
    ck_assert_uint_ne(cep_hash64("a", 1, 0), cep_hash64("a", 1, 1));
    struct cep_hasher h1, h2, h3;
    cep_hasher_init(&h1);
    cep_hasher_init(&h2);
    cep_hasher_init(&h3);
    cep_hasher_piece(&h1, "ab", 2);
    cep_hasher_piece(&h1, "c", 1);
    cep_hasher_piece(&h2, "a", 1);
    cep_hasher_piece(&h2, "bc", 2);
    cep_hasher_piece(&h3, "ab", 2);
    cep_hasher_piece(&h3, "c", 1);
    char x1[33], x2[33], x3[33];
    cep_hasher_hex(&h1, x1);
    cep_hasher_hex(&h2, x2);
    cep_hasher_hex(&h3, x3);
    ck_assert_str_ne(x1, x2);
    ck_assert_str_eq(x1, x3);
    ck_assert_uint_eq(strlen(x1), 32);
    /* Pinned: alert ids of existing deployments depend on these values. */
    ck_assert_str_eq(x1, "d227494c699adeaf852b7d20acc3c82a");
    ck_assert_uint_eq(cep_hash64("hello", 5, 0), UINT64_C(0x80ebc92e0002633c));
    /* Every length of tail: the hashes of the first 0..40 bytes of a
     * buffer, from every start offset 0..7, folded and pinned. */
    unsigned char buf[48];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)(i * 37 + 11);
    uint64_t fold = 0;
    for (size_t off = 0; off < 8; off++)
        for (size_t len = 0; len <= 40; len++)
            fold = fold * 31 + cep_hash64(buf + off, len, len);
    ck_assert_uint_eq(fold, UINT64_C(736125879281235230));
}
END_TEST

START_TEST(test_sbuf)
{
    struct sbuf sb;
    sbuf_init(&sb);
    sbuf_printf(&sb, "%d-%s", 42, "x");
    sbuf_putc(&sb, '!');
    ck_assert_str_eq(sb.buf, "42-x!");
    ck_assert_uint_eq(sb.len, 5);
    size_t cap = sb.cap;
    sbuf_reset(&sb);
    ck_assert_uint_eq(sb.cap, cap);
    sbuf_json_str(&sb, "tab\there\\", 9);
    ck_assert_str_eq(sb.buf, "\"tab\\there\\\\\"");
    sbuf_reset(&sb);
    sbuf_json_str(&sb, "web-01", 6); /* no escape: copied whole */
    sbuf_json_str(&sb, "", 0);
    sbuf_json_str(&sb, "a\x01\"", 3);
    ck_assert_str_eq(sb.buf, "\"web-01\"\"\"\"a\\u0001\\\"\"");
    ck_assert_uint_eq(sb.len, strlen(sb.buf));
    sbuf_reset(&sb);
    /* Past the 16- and 8-byte steps of the scan: plain; UTF-8 passed
     * through (where the scan stops), then escapes after it. */
    sbuf_json_str(&sb, "0123456789abcdef-0123456", 24);
    sbuf_json_str(&sb, "0123456789abcdef caf\xc3\xa9 \"q\"\n", 27);
    ck_assert_str_eq(sb.buf, "\"0123456789abcdef-0123456\""
                             "\"0123456789abcdef caf\xc3\xa9 \\\"q\\\"\\n\"");
    sbuf_reset(&sb);
    sbuf_json_plain(&sb, "web-01", 6);
    sbuf_json_plain(&sb, "", 0);
    ck_assert_str_eq(sb.buf, "\"web-01\"\"\"");
    ck_assert_uint_eq(sb.len, 10);
    sbuf_reset(&sb);
    sbuf_put_u64(&sb, 0);
    sbuf_putc(&sb, ' ');
    sbuf_put_u64(&sb, 1234567890);
    sbuf_putc(&sb, ' ');
    sbuf_put_u64(&sb, UINT64_MAX);
    ck_assert_str_eq(sb.buf, "0 1234567890 18446744073709551615");
    char *s = sbuf_steal(&sb);
    ck_assert_uint_eq(sb.cap, 0);
    cep_free(s);
}
END_TEST

/* An allocation that cannot be served aborts after one line in the
 * configured log (a file here, as when daemonized), not only on stderr. */
START_TEST(test_oom_is_logged)
{
    char path[] = "/tmp/check_core_oom_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        if (cep_log_open(CEP_LOG_TO_FILE, path) != CEP_OK)
            _exit(3);
        void *volatile p = cep_malloc((size_t)1 << 62);
        (void)p;
        _exit(4); /* not reached: cep_malloc aborts */
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status));
    ck_assert_int_eq(WTERMSIG(status), SIGABRT);
    char buf[512] = {0};
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    unlink(path);
    ck_assert_uint_gt(n, 0);
    ck_assert_ptr_nonnull(
            strstr(buf, "cepd[error] out of memory allocating 4611686018427387904 bytes\n"));
}
END_TEST

static Suite *core_suite(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("val");
    tcase_add_test(tc, test_val_equal_compare);
    tcase_add_test(tc, test_val_json);
    suite_add_tcase(s, tc);
    tc = tcase_create("evt");
    tcase_add_test(tc, test_schema_slots);
    tcase_add_test(tc, test_evt_reset_refcount);
    tcase_add_test(tc, test_evt_text);
    suite_add_tcase(s, tc);
    tc = tcase_create("diag");
    tcase_add_test(tc, test_diag_print_caret);
    tcase_add_test(tc, test_diag_cap);
    tcase_add_test(tc, test_diag_suggest);
    suite_add_tcase(s, tc);
    tc = tcase_create("util");
    tcase_add_test(tc, test_hash_stable);
    tcase_add_test(tc, test_sbuf);
    tcase_add_test(tc, test_oom_is_logged);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(core_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
