/* SPDX-License-Identifier: Apache-2.0
 * Unit tests for src/enrich: CSV quoting and layout, JSON values, CIDR sets
 * (IPv4 and IPv6 edges /0 /32 /128, mapped addresses, merging, checked
 * against a linear scan on random input with a fixed seed), error messages
 * with file:line:col for bad tables and YAML positions for bad specs and
 * inline data, and reload keeping the old tables when the new ones fail. */
#include "cepd/cep_common.h"
#include "cepd/diag.h"
#include "cepd/lookup.h"
#include "cepd/rule_yaml.h"
#include "cepd/sbuf.h"
#include "cepd/val.h"
#include "../../src/enrich/lookup_int.h"

#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- Helpers ---- */

static char tmpdir[64];

static void tmp_setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_lookup.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void tmp_teardown(void)
{
    char *cmd = cep_asprintf("rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
    cep_free(cmd);
}

/* Write text to tmpdir/name; returns the path (owned). */
static char *write_tmp(const char *name, const char *text, size_t len)
{
    char *path = cep_asprintf("%s/%s", tmpdir, name);
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(text, 1, len, fp), len);
    fclose(fp);
    return path;
}

/* A spec for inline data (strings borrowed; never freed). */
static struct lookup_spec spec_data(const char *name, enum lookup_type type, const char *data)
{
    struct lookup_spec s = {0};
    s.name = (char *)name;
    s.type = type;
    s.data = (char *)data;
    s.data_len = strlen(data);
    s.delimiter = ',';
    s.decl_file = (char *)"cepd.yaml";
    s.decl_line = 7;
    s.decl_col = 3;
    return s;
}

static struct lookup_spec spec_file(const char *name, enum lookup_type type, char *path)
{
    struct lookup_spec s = spec_data(name, type, "");
    s.data = NULL;
    s.data_len = 0;
    s.path = path;
    return s;
}

/* Diagnostics as "FILE:LINE:COL: msg" lines (FILE without tmpdir). */
static char *diag_text(const struct diag_list *dl)
{
    struct sbuf sb;
    sbuf_init(&sb);
    size_t skip = strlen(tmpdir) + 1;
    for (size_t i = 0; i < dl->n; i++) {
        const struct diag *d = &dl->items[i];
        const char *file = d->file ? d->file : "-";
        if (tmpdir[0] && strncmp(file, tmpdir, skip - 1) == 0)
            file += skip;
        sbuf_printf(&sb, "%s%s:%u:%u: %s", i ? "\n" : "", file, d->line, d->col, d->msg);
    }
    return sbuf_steal(&sb);
}

/* Load one inline table; NULL means it failed (diagnostics in dl). */
static struct lookup_reg *load1(struct lookup_spec s, struct diag_list *dl)
{
    return lookup_reg_load(&s, 1, dl);
}

static char *val_json(const struct val *v)
{
    struct sbuf sb;
    sbuf_init(&sb);
    val_to_json(v, &sb);
    return sbuf_steal(&sb);
}

/* lookup_get(t, key, column) as JSON ("<absent>" when absent). */
static char *get_json(const struct lookup_table *t, const char *key, int column)
{
    struct val out, k = val_str(key, strlen(key));
    enum lookup_res r = lookup_get(t, &k, column, &out);
    if (r == LOOKUP_ABSENT) {
        ck_assert_int_eq(out.type, VAL_NULL);
        return cep_strdup("<absent>");
    }
    ck_assert_int_eq(r, LOOKUP_FOUND);
    return val_json(&out);
}

#define ck_get(t, key, col, want)                                                                  \
    do {                                                                                           \
        char *got_ = get_json((t), (key), (col));                                                  \
        ck_assert_msg(strcmp(got_, (want)) == 0, "%s: got %s, want %s", (key), got_, (want));     \
        cep_free(got_);                                                                            \
    } while (0)

/* ---- CSV ---- */

START_TEST(test_csv_quoting)
{
    static const char data[] = "\xEF\xBB\xBFhost,owner,note\r\n"
                               "web-1,alice,plain\r\n"
                               "\r\n"
                               "\"db,1\",\"bob \"\"the\"\" dba\",\"two\nlines\"\n"
                               "empty,,\"\"\n"
                               "22,carol,port\n"
                               "last,dave,no newline at end";
    struct diag_list dl;
    diag_list_init(&dl);
    struct lookup_spec s = spec_data("assets", LOOKUP_CSV, data);
    s.key = (char *)"host";
    s.value = (char *)"owner";
    struct lookup_reg *reg = load1(s, &dl);
    char *d = diag_text(&dl);
    ck_assert_msg(reg, "load failed: %s", d);
    cep_free(d);
    const struct lookup_table *t = lookup_reg_find(reg, "assets", 6);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(lookup_table_type(t), LOOKUP_CSV);
    ck_assert_uint_eq(lookup_table_size(t), 5);
    ck_assert_uint_eq(lookup_table_n_columns(t), 3);
    ck_assert_str_eq(lookup_table_column_name(t, 0), "host"); /* the BOM is not in the name */
    ck_assert_int_eq(lookup_table_column(t, "note", 4), 2);
    ck_assert_int_eq(lookup_table_column(t, "nope", 4), -1);
    ck_get(t, "web-1", LOOKUP_VALUE, "\"alice\"");
    ck_get(t, "db,1", LOOKUP_VALUE, "\"bob \\\"the\\\" dba\"");
    ck_get(t, "db,1", 2, "\"two\\nlines\"");
    ck_get(t, "empty", LOOKUP_VALUE, "\"\"");
    ck_get(t, "last", 2, "\"no newline at end\"");
    ck_get(t, "web-2", LOOKUP_VALUE, "<absent>");
    ck_get(t, "WEB-1", LOOKUP_VALUE, "<absent>"); /* keys are exact */
    /* An integer key is looked up by its decimal text. */
    struct val out, k = val_int(22);
    ck_assert_int_eq(lookup_get(t, &k, LOOKUP_VALUE, &out), LOOKUP_FOUND);
    ck_assert_int_eq(out.len, 5);
    k = val_float(22.0);
    ck_assert_int_eq(lookup_get(t, &k, LOOKUP_VALUE, &out), LOOKUP_BAD_KEY);
    k = val_null();
    ck_assert_int_eq(lookup_get(t, &k, LOOKUP_VALUE, &out), LOOKUP_ABSENT);
    k = val_str("web-1", 5);
    ck_assert_int_eq(lookup_has(t, &k), LOOKUP_FOUND);
    lookup_reg_free(reg);
    diag_list_free(&dl);
}
END_TEST

START_TEST(test_csv_row_objects)
{
    struct diag_list dl;
    diag_list_init(&dl);
    struct lookup_spec s = spec_data("users", LOOKUP_CSV,
                                     "name;dept;quote\nann;ops;\"say \"\"hi\"\"\"\nbo;dev;x\\y\n");
    s.delimiter = ';';
    struct lookup_reg *reg = load1(s, &dl);
    ck_assert_ptr_nonnull(reg);
    const struct lookup_table *t = lookup_reg_table(reg, 0);
    /* No value column: the whole row, as a JSON object of strings. */
    ck_get(t, "ann", LOOKUP_VALUE,
           "{\"name\":\"ann\",\"dept\":\"ops\",\"quote\":\"say \\\"hi\\\"\"}");
    ck_get(t, "bo", LOOKUP_VALUE, "{\"name\":\"bo\",\"dept\":\"dev\",\"quote\":\"x\\\\y\"}");
    ck_get(t, "bo", 1, "\"dev\"");
    lookup_reg_free(reg);
    /* Tab-separated. */
    s = spec_data("tsv", LOOKUP_CSV, "k\tv\na\t1\n");
    s.delimiter = '\t';
    s.value = (char *)"v";
    reg = load1(s, &dl);
    ck_assert_ptr_nonnull(reg);
    ck_get(lookup_reg_table(reg, 0), "a", LOOKUP_VALUE, "\"1\"");
    lookup_reg_free(reg);
    ck_assert_uint_eq(dl.n, 0);
    diag_list_free(&dl);
}
END_TEST

/* Bad CSV files: each message with its file:line:col. */
static const struct {
    const char *text;
    const char *key;
    const char *want;
} csv_errors[] = {
    {"host,owner\na,1\nb,2,3\n", NULL,
     "t.csv:3:1: lookup 't': row has 3 fields, the header has 2"},
    {"host,owner\na,1\n\"b,2\n", NULL, "t.csv:3:1: lookup 't': unterminated quoted field"},
    {"host,owner\na,x\"y\n", NULL,
     "t.csv:2:4: lookup 't': a quote inside an unquoted field (quote the whole field and "
     "double the quote)"},
    {"host,owner\n\"a\"b,1\n", NULL,
     "t.csv:2:4: lookup 't': text after the closing quote of a field"},
    {"host,owner\na,1\nb,2\na,3\n", NULL,
     "t.csv:4:1: lookup 't': duplicate key 'a' (first on line 2)"},
    {"host,owner\n\"x\",\"q\"\"\n\"\n\"x\",2\n", NULL, /* lines still count after unescaping */
     "t.csv:4:2: lookup 't': duplicate key 'x' (first on line 2)"},
    {"host,host\na,1\n", NULL, "t.csv:1:6: lookup 't': column 'host' is named twice"},
    {"host,\na,1\n", NULL, "t.csv:1:6: lookup 't': column 2 has an empty name"},
    {"", NULL, "t.csv:1:1: lookup 't': no header row"},
    {"\n\n", NULL, "t.csv:3:1: lookup 't': no header row"},
    {"host,owner\n,1\n", NULL, "t.csv:2:1: lookup 't': empty key"},
    {"host,owner\na,\xff\n", NULL, "t.csv:2:3: lookup 't': invalid UTF-8 in column 'owner'"},
    {"host,owner\na,1\n", "hots",
     "cepd.yaml:7:3: lookup 't': key column 'hots' is not in the header (did you mean 'host'?)"},
};

START_TEST(test_csv_errors)
{
    tmp_setup();
    char *path = write_tmp("t.csv", csv_errors[_i].text, strlen(csv_errors[_i].text));
    struct diag_list dl;
    diag_list_init(&dl);
    struct lookup_spec s = spec_file("t", LOOKUP_CSV, path);
    s.key = (char *)csv_errors[_i].key;
    struct lookup_reg *reg = load1(s, &dl);
    ck_assert_ptr_null(reg);
    char *d = diag_text(&dl);
    ck_assert_msg(strcmp(d, csv_errors[_i].want) == 0, "got  %s\nwant %s", d, csv_errors[_i].want);
    cep_free(d);
    cep_free(path);
    diag_list_free(&dl);
    tmp_teardown();
}
END_TEST

START_TEST(test_csv_error_cap)
{
    struct sbuf text;
    sbuf_init(&text);
    sbuf_puts(&text, "a,b\n");
    for (int i = 0; i < 100; i++)
        sbuf_puts(&text, "1,2,3\n");
    struct diag_list dl;
    diag_list_init(&dl);
    struct lookup_reg *reg = load1(spec_data("t", LOOKUP_CSV, text.buf), &dl);
    ck_assert_ptr_null(reg);
    ck_assert_uint_eq(dl.n_errors, LOOKUP_MAX_ERRORS);
    ck_assert_uint_eq(dl.n, LOOKUP_MAX_ERRORS + 1); /* and a note */
    ck_assert_int_eq(dl.items[dl.n - 1].sev, DIAG_NOTE);
    sbuf_free(&text);
    diag_list_free(&dl);
}
END_TEST

START_TEST(test_missing_file)
{
    struct diag_list dl;
    diag_list_init(&dl);
    struct lookup_spec s = spec_file("t", LOOKUP_JSON, (char *)"/nonexistent/geo.json");
    ck_assert_ptr_null(load1(s, &dl));
    char *d = diag_text(&dl);
    ck_assert_str_eq(d, "cepd.yaml:7:3: lookup 't': cannot open /nonexistent/geo.json: "
                        "No such file or directory");
    cep_free(d);
    diag_list_free(&dl);
}
END_TEST

/* ---- JSON ---- */

START_TEST(test_json_values)
{
    static const char data[] = " {\"10.0.0.1\": {\"country\": \"NL\", \"asn\": 1136},\n"
                               "  \"s\": \"caf\\u00e9\", \"i\": -42, \"f\": 2.5, \"t\": true,\n"
                               "  \"n\": null, \"a\": [1, \"x\"], \"k\\\"q\": 1} \n";
    struct diag_list dl;
    diag_list_init(&dl);
    struct lookup_reg *reg = load1(spec_data("geo", LOOKUP_JSON, data), &dl);
    ck_assert_ptr_nonnull(reg);
    const struct lookup_table *t = lookup_reg_table(reg, 0);
    ck_assert_uint_eq(lookup_table_size(t), 8);
    ck_get(t, "10.0.0.1", LOOKUP_VALUE, "{\"country\": \"NL\", \"asn\": 1136}");
    ck_get(t, "s", LOOKUP_VALUE, "\"caf\xc3\xa9\"");
    ck_get(t, "i", LOOKUP_VALUE, "-42");
    ck_get(t, "f", LOOKUP_VALUE, "2.5");
    ck_get(t, "t", LOOKUP_VALUE, "true");
    ck_get(t, "n", LOOKUP_VALUE, "null"); /* present, with the value null */
    ck_get(t, "a", LOOKUP_VALUE, "[1, \"x\"]");
    ck_get(t, "k\"q", LOOKUP_VALUE, "1"); /* escaped keys are unescaped */
    ck_get(t, "missing", LOOKUP_VALUE, "<absent>");
    lookup_reg_free(reg);
    /* An empty object is an empty table. */
    reg = load1(spec_data("e", LOOKUP_JSON, "{ }"), &dl);
    ck_assert_ptr_nonnull(reg);
    ck_assert_uint_eq(lookup_table_size(lookup_reg_table(reg, 0)), 0);
    ck_get(lookup_reg_table(reg, 0), "x", LOOKUP_VALUE, "<absent>");
    lookup_reg_free(reg);
    ck_assert_uint_eq(dl.n, 0);
    diag_list_free(&dl);
}
END_TEST

static const struct {
    const char *text;
    const char *want;
} json_errors[] = {
    {"[1, 2]", "g.json:1:1: lookup 'g': a JSON lookup table must be one object (key: value, ...)"},
    {"{\"a\": 1}\n{}", "g.json:2:1: lookup 'g': text after the table's object"},
    {"{\"a\": 1,\n \"b\": tru}", "g.json:2:7: lookup 'g': invalid JSON: invalid literal"},
    {"{\"a\": 1,\n \"a\": 2}", "g.json:2:3: lookup 'g': duplicate key 'a' (first on line 1)"},
    {"{\"a\" 1}", "g.json:1:6: lookup 'g': expected ':' after a key"},
    {"{\"a\": 1 \"b\": 2}", "g.json:1:9: lookup 'g': expected ',' or '}'"},
    {"{a: 1}", "g.json:1:2: lookup 'g': expected a string key"},
    {"{\"\": 1}", "g.json:1:2: lookup 'g': empty key"},
    {"{\"a\": ", "g.json:1:7: lookup 'g': invalid JSON: unexpected end of input"},
};

START_TEST(test_json_errors)
{
    tmp_setup();
    char *path = write_tmp("g.json", json_errors[_i].text, strlen(json_errors[_i].text));
    struct diag_list dl;
    diag_list_init(&dl);
    ck_assert_ptr_null(load1(spec_file("g", LOOKUP_JSON, path), &dl));
    char *d = diag_text(&dl);
    ck_assert_msg(strcmp(d, json_errors[_i].want) == 0, "got  %s\nwant %s", d,
                  json_errors[_i].want);
    cep_free(d);
    cep_free(path);
    diag_list_free(&dl);
    tmp_teardown();
}
END_TEST

/* ---- CIDR ---- */

static bool in_set(const struct lookup_table *t, const char *ip)
{
    struct val k = val_str(ip, strlen(ip));
    return lookup_has(t, &k) == LOOKUP_FOUND;
}

START_TEST(test_cidr_edges)
{
    static const char data[] = "# blocklist\n"
                               "10.0.0.0/8        # private\n"
                               "  192.168.1.7\t\n"
                               "172.16.5.9/12\n" /* host bits ignored: 172.16.0.0/12 */
                               "2001:db8::/32\r\n"
                               "fd00::1/128\n"
                               "::ffff:198.51.100.0/120\n" /* mapped: 198.51.100.0/24 */
                               "\n";
    struct diag_list dl;
    diag_list_init(&dl);
    struct lookup_reg *reg = load1(spec_data("bl", LOOKUP_CIDR, data), &dl);
    ck_assert_ptr_nonnull(reg);
    const struct lookup_table *t = lookup_reg_table(reg, 0);
    ck_assert_uint_eq(lookup_table_size(t), 6);
    ck_assert(in_set(t, "10.0.0.0"));
    ck_assert(in_set(t, "10.255.255.255"));
    ck_assert(!in_set(t, "11.0.0.0"));
    ck_assert(!in_set(t, "9.255.255.255"));
    ck_assert(in_set(t, "192.168.1.7")); /* a host is a /32 */
    ck_assert(!in_set(t, "192.168.1.6"));
    ck_assert(!in_set(t, "192.168.1.8"));
    ck_assert(in_set(t, "172.31.255.255"));
    ck_assert(!in_set(t, "172.32.0.0"));
    ck_assert(in_set(t, "2001:db8::"));
    ck_assert(in_set(t, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
    ck_assert(!in_set(t, "2001:db9::"));
    ck_assert(in_set(t, "fd00::1")); /* a /128 */
    ck_assert(!in_set(t, "fd00::2"));
    ck_assert(!in_set(t, "fd00::"));
    ck_assert(in_set(t, "198.51.100.255"));
    ck_assert(in_set(t, "::ffff:10.1.2.3")); /* mapped probes are IPv4 */
    ck_assert(!in_set(t, "::10.1.2.3"));
    ck_assert(!in_set(t, "not-an-ip"));
    ck_assert(!in_set(t, ""));
    ck_assert(!in_set(t, "10.0.0.0/8"));
    struct val k = val_int(167772161); /* 10.0.0.1 as a number is no address */
    ck_assert_int_eq(lookup_has(t, &k), LOOKUP_BAD_KEY);
    k = val_null();
    ck_assert_int_eq(lookup_has(t, &k), LOOKUP_ABSENT);
    lookup_reg_free(reg);

    /* /0 covers a whole family, and only that family. */
    reg = load1(spec_data("all4", LOOKUP_CIDR, "0.0.0.0/0\n"), &dl);
    ck_assert_ptr_nonnull(reg);
    t = lookup_reg_table(reg, 0);
    ck_assert(in_set(t, "0.0.0.0"));
    ck_assert(in_set(t, "255.255.255.255"));
    ck_assert(!in_set(t, "::1"));
    lookup_reg_free(reg);
    reg = load1(spec_data("all6", LOOKUP_CIDR, "::/0\n255.255.255.255/32\n"), &dl);
    ck_assert_ptr_nonnull(reg);
    t = lookup_reg_table(reg, 0);
    ck_assert(in_set(t, "::"));
    ck_assert(in_set(t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    ck_assert(in_set(t, "255.255.255.255"));
    ck_assert(!in_set(t, "255.255.255.254"));
    lookup_reg_free(reg);
    /* Touching and nested networks merge; an empty set has nothing. */
    reg = load1(spec_data("m", LOOKUP_CIDR,
                          "10.0.0.0/25\n10.0.0.128/25\n10.0.0.64/26\n10.0.1.0/24\n"
                          "::/1\n8000::/1\n"),
                &dl);
    ck_assert_ptr_nonnull(reg);
    t = lookup_reg_table(reg, 0);
    ck_assert_uint_eq(t->n_v4, 1);
    ck_assert_uint_eq(t->v4[0].hi, 0x0a0001ffu);
    ck_assert_uint_eq(t->n_v6, 1);
    ck_assert(in_set(t, "10.0.1.255"));
    ck_assert(!in_set(t, "10.0.2.0"));
    lookup_reg_free(reg);
    reg = load1(spec_data("none", LOOKUP_CIDR, "# nothing yet\n"), &dl);
    ck_assert_ptr_nonnull(reg);
    ck_assert(!in_set(lookup_reg_table(reg, 0), "10.0.0.1"));
    lookup_reg_free(reg);
    ck_assert_uint_eq(dl.n, 0);
    diag_list_free(&dl);
}
END_TEST

START_TEST(test_cidr_errors)
{
    tmp_setup();
    static const char text[] = "10.0.0.0/8\n10.0.0.0/33\n  300.1.1.1 # bad\nfd00::/129\n"
                               "10.0.0.0/\n::ffff:1.2.3.4/64\nhello\n";
    char *path = write_tmp("bl.txt", text, strlen(text));
    struct diag_list dl;
    diag_list_init(&dl);
    ck_assert_ptr_null(load1(spec_file("bl", LOOKUP_CIDR, path), &dl));
    char *d = diag_text(&dl);
    ck_assert_str_eq(
            d, "bl.txt:2:1: lookup 'bl': '10.0.0.0/33' is not an IP address or network "
               "(a.b.c.d/n, x::y/n)\n"
               "bl.txt:3:3: lookup 'bl': '300.1.1.1' is not an IP address or network (a.b.c.d/n, "
               "x::y/n)\n"
               "bl.txt:4:1: lookup 'bl': 'fd00::/129' is not an IP address or network (a.b.c.d/n, "
               "x::y/n)\n"
               "bl.txt:5:1: lookup 'bl': '10.0.0.0/' is not an IP address or network (a.b.c.d/n, "
               "x::y/n)\n"
               "bl.txt:6:1: lookup 'bl': '::ffff:1.2.3.4/64' is not an IP address or network "
               "(a.b.c.d/n, x::y/n)\n"
               "bl.txt:7:1: lookup 'bl': 'hello' is not an IP address or network (a.b.c.d/n, "
               "x::y/n)");
    cep_free(d);
    cep_free(path);
    diag_list_free(&dl);
    tmp_teardown();
}
END_TEST

/* A tiny deterministic generator (xorshift64*), fixed seed. */
static uint64_t rng_state = UINT64_C(0x9e3779b97f4a7c15);
static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

/* Random IPv4 and IPv6 networks clustered in a small space (so they
 * overlap and touch), probed with random addresses near them: the binary
 * search must agree with a linear scan over the networks as written. */
START_TEST(test_cidr_random)
{
    enum { N_NETS = 100, N_PROBES = 20000 };
    struct {
        int fam;
        uint8_t a[16];
        unsigned bits;
    } nets[N_NETS];
    struct sbuf text;
    sbuf_init(&text);
    for (int i = 0; i < N_NETS; i++) {
        memset(nets[i].a, 0, 16);
        nets[i].fam = rng() % 2 ? 4 : 6;
        uint64_t r = rng();
        char buf[64];
        if (nets[i].fam == 4) {
            nets[i].a[0] = 10;
            nets[i].a[2] = (uint8_t)(r % 16);
            nets[i].a[3] = (uint8_t)(r >> 8);
            nets[i].bits = 25 + (unsigned)(r >> 16) % 8; /* /25../32 */
            inet_ntop(AF_INET, nets[i].a, buf, sizeof(buf));
        } else {
            nets[i].a[0] = 0xfd;
            nets[i].a[14] = (uint8_t)(r % 16);
            nets[i].a[15] = (uint8_t)(r >> 8);
            nets[i].bits = 121 + (unsigned)(r >> 16) % 8; /* /121../128 */
            inet_ntop(AF_INET6, nets[i].a, buf, sizeof(buf));
        }
        sbuf_printf(&text, "%s/%u\n", buf, nets[i].bits);
    }
    struct diag_list dl;
    diag_list_init(&dl);
    struct lookup_reg *reg = load1(spec_data("r", LOOKUP_CIDR, text.buf), &dl);
    ck_assert_ptr_nonnull(reg);
    const struct lookup_table *t = lookup_reg_table(reg, 0);
    int hits = 0;
    for (int p = 0; p < N_PROBES; p++) {
        uint8_t a[16] = {0};
        uint64_t r = rng();
        int fam = r % 2 ? 4 : 6;
        char buf[64];
        if (fam == 4) {
            a[0] = 10;
            a[2] = (uint8_t)((r >> 8) % 17);
            a[3] = (uint8_t)(r >> 16);
            inet_ntop(AF_INET, a, buf, sizeof(buf));
        } else {
            a[0] = 0xfd;
            a[14] = (uint8_t)((r >> 8) % 17);
            a[15] = (uint8_t)(r >> 16);
            inet_ntop(AF_INET6, a, buf, sizeof(buf));
        }
        bool want = false;
        for (int i = 0; i < N_NETS && !want; i++) {
            if (nets[i].fam != fam)
                continue;
            bool ok = true;
            for (unsigned b = 0; b < nets[i].bits && ok; b++) {
                unsigned byte = b / 8, bit = 7 - b % 8;
                ok = ((a[byte] >> bit) & 1) == ((nets[i].a[byte] >> bit) & 1);
            }
            want = ok;
        }
        hits += want;
        ck_assert_msg(in_set(t, buf) == want, "%s: got %d, want %d", buf, !want, want);
    }
    /* Both answers occur, so the comparison means something. */
    ck_assert_int_gt(hits, N_PROBES / 20);
    ck_assert_int_lt(hits, N_PROBES - N_PROBES / 20);
    lookup_reg_free(reg);
    sbuf_free(&text);
    diag_list_free(&dl);
}
END_TEST

/* ---- Specs ---- */

static struct rule_yaml_doc *yaml(const char *text, struct diag_list *dl)
{
    struct rule_yaml_doc *d = rule_yaml_parse_mem("cfg.yaml", text, strlen(text), dl);
    ck_assert_ptr_nonnull(d);
    return d;
}

START_TEST(test_specs)
{
    static const char text[] = "lookups:\n"
                               "  assets: {type: csv, path: assets.csv, key: host, value: owner}\n"
                               "  geo: {type: json, path: /etc/cepd/geo.json}\n"
                               "  bl:\n"
                               "    type: cidr\n"
                               "    data: |\n"
                               "      10.0.0.0/8\n"
                               "      nonsense\n";
    struct diag_list dl;
    diag_list_init(&dl);
    struct rule_yaml_doc *d = yaml(text, &dl);
    struct lookup_spec *specs = NULL;
    size_t n = 0;
    ck_assert_int_eq(lookup_specs_parse(rule_yaml_map_get(d->root, "lookups"), "/srv/cepd", &specs,
                                        &n, &dl),
                     0);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(specs[0].name, "assets");
    ck_assert_int_eq(specs[0].type, LOOKUP_CSV);
    ck_assert_str_eq(specs[0].path, "/srv/cepd/assets.csv");
    ck_assert_str_eq(specs[0].key, "host");
    ck_assert_str_eq(specs[0].value, "owner");
    ck_assert_int_eq(specs[0].delimiter, ',');
    ck_assert_uint_eq(specs[0].decl_line, 2);
    ck_assert_uint_eq(specs[0].decl_col, 3);
    ck_assert_str_eq(specs[1].path, "/etc/cepd/geo.json");
    ck_assert_ptr_null(specs[2].path);
    ck_assert_str_eq(specs[2].data, "10.0.0.0/8\nnonsense\n");
    /* A bad line of inline data is reported where it is in the YAML. */
    ck_assert_ptr_null(lookup_reg_load(&specs[2], 1, &dl));
    char *t = diag_text(&dl);
    ck_assert_str_eq(t, "cfg.yaml:8:7: lookup 'bl': 'nonsense' is not an IP address or network "
                        "(a.b.c.d/n, x::y/n)");
    cep_free(t);
    lookup_specs_free(specs, n);
    rule_yaml_doc_free(d);
    diag_list_free(&dl);
}
END_TEST

static const struct {
    const char *yaml;
    const char *want;
} spec_errors[] = {
    {"{t: {type: csv}}", "cfg.yaml:1:5: lookup 't' needs a 'path' or inline 'data'"},
    {"{t: {path: x.csv}}", "cfg.yaml:1:5: lookup 't' needs a 'type' (csv, json or cidr)"},
    {"{t: {type: cvs, path: x}}",
     "cfg.yaml:1:12: unknown lookup type 'cvs' (did you mean 'csv'?)"},
    {"{t: {type: csv, path: x, data: y}}",
     "cfg.yaml:1:32: lookup 't' has both 'path' and 'data'; keep one"},
    {"{t: {type: json, path: x, key: k}}",
     "cfg.yaml:1:32: 'key' applies only to csv tables, not json"},
    {"{t: {type: csv, path: x, delimiter: ';;'}}",
     "cfg.yaml:1:37: the delimiter is one character (not a quote or line break), e.g. ';' or "
     "\"\\t\""},
    {"{t-1: {type: csv, path: x}}",
     "cfg.yaml:1:2: lookup table names are identifiers (letters, digits, _), not 't-1'"},
    {"{t: {type: csv, pth: x}}", NULL}, /* the walker's unknown-key message */
    {"[a]", "cfg.yaml:1:1: expected a mapping of lookup table names"},
};

START_TEST(test_spec_errors)
{
    struct diag_list dl;
    diag_list_init(&dl);
    struct rule_yaml_doc *d = yaml(spec_errors[_i].yaml, &dl);
    struct lookup_spec *specs = NULL;
    size_t n = 0;
    ck_assert_int_gt(lookup_specs_parse(d->root, ".", &specs, &n, &dl), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_ge(dl.n_errors, 1);
    char *t = diag_text(&dl);
    if (spec_errors[_i].want)
        ck_assert_msg(strcmp(t, spec_errors[_i].want) == 0, "got  %s\nwant %s", t,
                      spec_errors[_i].want);
    else
        ck_assert_msg(strstr(t, "pth") && strstr(t, "did you mean 'path'"), "got %s", t);
    cep_free(t);
    lookup_specs_free(specs, n);
    rule_yaml_doc_free(d);
    diag_list_free(&dl);
}
END_TEST

START_TEST(test_spec_arg)
{
    struct lookup_spec s;
    char err[256];
    ck_assert_int_eq(lookup_spec_parse_arg("bl=cidr:/tmp/x y.txt", &s, err, sizeof(err)), CEP_OK);
    ck_assert_str_eq(s.name, "bl");
    ck_assert_int_eq(s.type, LOOKUP_CIDR);
    ck_assert_str_eq(s.path, "/tmp/x y.txt");
    lookup_spec_clear(&s);
    ck_assert_int_eq(lookup_spec_parse_arg("bl=cidr", &s, err, sizeof(err)), CEP_ERR);
    ck_assert_str_eq(err, "'bl=cidr' is not NAME=TYPE:PATH (TYPE csv, json or cidr)");
    ck_assert_int_eq(lookup_spec_parse_arg("bl=xml:a", &s, err, sizeof(err)), CEP_ERR);
    ck_assert_str_eq(err, "unknown lookup type 'xml' (csv, json or cidr)");
    ck_assert_int_eq(lookup_spec_parse_arg("9x=csv:a", &s, err, sizeof(err)), CEP_ERR);
    ck_assert_str_eq(err, "'9x' is not a table name (letters, digits, _)");
}
END_TEST

START_TEST(test_duplicate_names)
{
    struct diag_list dl;
    diag_list_init(&dl);
    struct lookup_spec s[2] = {spec_data("t", LOOKUP_CIDR, "10.0.0.1"),
                               spec_data("t", LOOKUP_JSON, "{}")};
    ck_assert_ptr_null(lookup_reg_load(s, 2, &dl));
    char *t = diag_text(&dl);
    ck_assert_str_eq(t,
                     "cepd.yaml:7:3: lookup 't': a lookup table of this name is already defined");
    cep_free(t);
    diag_list_free(&dl);
}
END_TEST

/* ---- Reload ---- */

START_TEST(test_reload)
{
    tmp_setup();
    char *csv = write_tmp("a.csv", "host,owner\nweb-1,alice\n", 23);
    char *cidr = write_tmp("bl.txt", "10.0.0.0/8\n", 11);
    struct lookup_spec specs[2] = {spec_file("assets", LOOKUP_CSV, csv),
                                   spec_file("bl", LOOKUP_CIDR, cidr)};
    specs[0].value = (char *)"owner";
    struct diag_list dl;
    diag_list_init(&dl);
    struct lookup_reg *reg = lookup_reg_load(specs, 2, &dl);
    ck_assert_ptr_nonnull(reg);
    ck_assert_uint_eq(lookup_reg_count(reg), 2);
    const struct lookup_table *t = lookup_reg_find(reg, "assets", 6);
    ck_get(t, "web-1", LOOKUP_VALUE, "\"alice\"");

    /* A broken file: the reload fails, says why, and the old tables stay. */
    cep_free(write_tmp("a.csv", "host,owner\nweb-1,bob\nweb-2\n", 27));
    struct lookup_reg *fresh = lookup_reg_reload(reg, &dl);
    ck_assert_ptr_null(fresh);
    char *d = diag_text(&dl);
    ck_assert_str_eq(d, "a.csv:3:1: lookup 'assets': row has 1 field, the header has 2");
    cep_free(d);
    ck_get(t, "web-1", LOOKUP_VALUE, "\"alice\"");
    struct lookup_reg *before = reg;
    ck_assert_ptr_null(lookup_reg_reload_swap(&reg));
    ck_assert_ptr_eq(reg, before);
    /* A missing file fails the same way. */
    ck_assert_int_eq(unlink(cidr), 0);
    ck_assert_ptr_null(lookup_reg_reload_swap(&reg));
    ck_assert_ptr_eq(reg, before);
    ck_assert(in_set(lookup_reg_find(reg, "bl", 2), "10.1.1.1"));

    /* Fixed files: the new registry has the new contents, the old one
     * (still valid until freed) the old. */
    cep_free(write_tmp("a.csv", "host,owner\nweb-1,bob\nweb-2,carol\n", 33));
    cep_free(write_tmp("bl.txt", "192.0.2.0/24\n", 13));
    struct lookup_reg *old = lookup_reg_reload_swap(&reg);
    ck_assert_ptr_eq(old, before);
    ck_assert_ptr_ne(reg, before);
    ck_get(t, "web-1", LOOKUP_VALUE, "\"alice\"");
    lookup_reg_free(old);
    t = lookup_reg_find(reg, "assets", 6);
    ck_get(t, "web-1", LOOKUP_VALUE, "\"bob\"");
    ck_get(t, "web-2", LOOKUP_VALUE, "\"carol\"");
    ck_assert(!in_set(lookup_reg_find(reg, "bl", 2), "10.1.1.1"));
    ck_assert(in_set(lookup_reg_find(reg, "bl", 2), "192.0.2.99"));
    lookup_reg_free(reg);
    cep_free(csv);
    cep_free(cidr);
    diag_list_free(&dl);
    tmp_teardown();
}
END_TEST

/* A table file over the size limit is refused (checked with a sparse file). */
START_TEST(test_size_limit)
{
    tmp_setup();
    char *path = cep_asprintf("%s/big.json", tmpdir);
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_int_eq(fseek(fp, (long)LOOKUP_MAX_FILE_BYTES, SEEK_SET), 0);
    ck_assert_int_eq(fputc('}', fp), '}');
    fclose(fp);
    struct diag_list dl;
    diag_list_init(&dl);
    ck_assert_ptr_null(load1(spec_file("big", LOOKUP_JSON, path), &dl));
    ck_assert_uint_eq(dl.n_errors, 1);
    ck_assert_msg(strstr(dl.items[0].msg, "is larger than 268435456 bytes"), "%s",
                  dl.items[0].msg);
    cep_free(path);
    diag_list_free(&dl);
    tmp_teardown();
}
END_TEST

static Suite *lookup_suite(void)
{
    Suite *s = suite_create("lookup");
    TCase *tc = tcase_create("csv");
    tcase_add_test(tc, test_csv_quoting);
    tcase_add_test(tc, test_csv_row_objects);
    tcase_add_loop_test(tc, test_csv_errors, 0, (int)CEP_ARRAY_LEN(csv_errors));
    tcase_add_test(tc, test_csv_error_cap);
    tcase_add_test(tc, test_missing_file);
    suite_add_tcase(s, tc);
    tc = tcase_create("json");
    tcase_add_test(tc, test_json_values);
    tcase_add_loop_test(tc, test_json_errors, 0, (int)CEP_ARRAY_LEN(json_errors));
    suite_add_tcase(s, tc);
    tc = tcase_create("cidr");
    tcase_add_test(tc, test_cidr_edges);
    tcase_add_test(tc, test_cidr_errors);
    tcase_add_test(tc, test_cidr_random);
    suite_add_tcase(s, tc);
    tc = tcase_create("specs");
    tcase_add_test(tc, test_specs);
    tcase_add_loop_test(tc, test_spec_errors, 0, (int)CEP_ARRAY_LEN(spec_errors));
    tcase_add_test(tc, test_spec_arg);
    tcase_add_test(tc, test_duplicate_names);
    suite_add_tcase(s, tc);
    tc = tcase_create("reload");
    tcase_add_test(tc, test_reload);
    tcase_add_test(tc, test_size_limit);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(lookup_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
