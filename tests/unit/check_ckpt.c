/* SPDX-License-Identifier: Apache-2.0
 * Unit tests for src/state: the encoding (round trips, extreme values,
 * truncation at every byte, sticky errors, frames), the event table, CRC-32C,
 * checkpoint files (round trip, corruption, truncation, versions), checkpoint
 * directories (listing, pruning) and injected write failures. */
#include "cepd/cep_common.h"
#include "cepd/ckpt.h"
#include "cepd/evt.h"
#include "cepd/sbuf.h"
#include "cepd/val.h"
#include "../../src/state/ckpt_int.h"

#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- encoding --------------------------------------------------------- */

static const uint64_t uvs[] = {
    0, 1, 127, 128, 255, 16383, 16384, UINT32_MAX, (uint64_t)UINT32_MAX + 1,
    UINT64_C(1) << 62, (UINT64_C(1) << 63) - 1, UINT64_C(1) << 63, UINT64_MAX,
};
static const int64_t svs[] = {
    0, 1, -1, 63, -64, 64, -65, INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, INT64_MIN + 1,
};

START_TEST(test_ints)
{
    struct sbuf sb;
    sbuf_init(&sb);
    struct ckpt_w w = {&sb};
    for (size_t i = 0; i < CEP_ARRAY_LEN(uvs); i++)
        ckpt_put_uv(&w, uvs[i]);
    for (size_t i = 0; i < CEP_ARRAY_LEN(svs); i++)
        ckpt_put_sv(&w, svs[i]);
    ckpt_put_u8(&w, 0);
    ckpt_put_u8(&w, 255);
    ckpt_put_bool(&w, true);
    ckpt_put_bool(&w, false);

    struct ckpt_r r;
    ckpt_r_init(&r, sb.buf, sb.len);
    for (size_t i = 0; i < CEP_ARRAY_LEN(uvs); i++)
        ck_assert_uint_eq(ckpt_get_uv(&r), uvs[i]);
    for (size_t i = 0; i < CEP_ARRAY_LEN(svs); i++)
        ck_assert(ckpt_get_sv(&r) == svs[i]);
    ck_assert_uint_eq(ckpt_get_u8(&r), 0);
    ck_assert_uint_eq(ckpt_get_u8(&r), 255);
    ck_assert(ckpt_get_bool(&r));
    ck_assert(!ckpt_get_bool(&r));
    ck_assert_ptr_null(r.err);
    ck_assert(r.p == r.end);
    /* reading past the end fails and stays failed */
    ck_assert_uint_eq(ckpt_get_uv(&r), 0);
    ck_assert_str_eq(r.err, "truncated record");

    /* sizes: LEB128 and zigzag as documented */
    static const struct {
        int64_t v;
        bool sign;
        size_t len;
    } sizes[] = {
        {0, false, 1}, {127, false, 1}, {128, false, 2}, {16384, false, 3},
        {-1, true, 1}, {-64, true, 1},  {64, true, 2},   {INT64_MIN, true, 10},
    };
    for (size_t i = 0; i < CEP_ARRAY_LEN(sizes); i++) {
        sbuf_reset(&sb);
        if (sizes[i].sign)
            ckpt_put_sv(&w, sizes[i].v);
        else
            ckpt_put_uv(&w, (uint64_t)sizes[i].v);
        ck_assert_uint_eq(sb.len, sizes[i].len);
    }
    sbuf_reset(&sb);
    ckpt_put_uv(&w, UINT64_MAX);
    ck_assert_uint_eq(sb.len, 10);
    ck_assert_uint_eq((uint8_t)sb.buf[9], 1);
    sbuf_free(&sb);
}
END_TEST

START_TEST(test_f64)
{
    const double ds[] = {0.0,      -0.0,     1.0,       -1.5,      DBL_MIN, DBL_MAX,
                         -DBL_MAX, 4.9e-324, INFINITY,  -INFINITY, NAN,     0.1};
    struct sbuf sb;
    sbuf_init(&sb);
    struct ckpt_w w = {&sb};
    for (size_t i = 0; i < CEP_ARRAY_LEN(ds); i++)
        ckpt_put_f64(&w, ds[i]);
    ck_assert_uint_eq(sb.len, 8 * CEP_ARRAY_LEN(ds));
    /* 1.0 is 0x3ff0000000000000, little-endian */
    static const uint8_t one[8] = {0, 0, 0, 0, 0, 0, 0xf0, 0x3f};
    ck_assert(memcmp(sb.buf + 16, one, 8) == 0);
    struct ckpt_r r;
    ckpt_r_init(&r, sb.buf, sb.len);
    for (size_t i = 0; i < CEP_ARRAY_LEN(ds); i++) {
        double d = ckpt_get_f64(&r);
        ck_assert(memcmp(&d, &ds[i], sizeof(d)) == 0); /* bit for bit: -0.0, NaN */
    }
    ck_assert_ptr_null(r.err);
    ck_assert(isnan(ds[10]));
    sbuf_free(&sb);
}
END_TEST

START_TEST(test_bytes_and_vals)
{
    size_t big_len = 1 << 20;
    char *big = cep_malloc(big_len);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (char)(i * 7);
    struct val vs[] = {
        val_null(),          val_bool(true),         val_bool(false),   val_int(INT64_MIN),
        val_int(INT64_MAX),  val_float(-INFINITY),   val_str("", 0),    val_str("a\0b", 3),
        {.type = VAL_ARR, .len = 7, .u.s = "[1,2,3]"}, {.type = VAL_OBJ, .len = 2, .u.s = "{}"},
        {.type = VAL_INT, .flags = VAL_F_DURATION, .u.i = 30},
    };
    struct sbuf sb;
    sbuf_init(&sb);
    struct ckpt_w w = {&sb};
    ckpt_put_bytes(&w, "", 0);
    ckpt_put_bytes(&w, big, big_len);
    ckpt_put_bytes(&w, "xyz", 3);
    for (size_t i = 0; i < CEP_ARRAY_LEN(vs); i++)
        ckpt_put_val(&w, &vs[i]);

    struct ckpt_r r;
    ckpt_r_init(&r, sb.buf, sb.len);
    size_t len = 99;
    const char *p = ckpt_get_bytes(&r, &len);
    ck_assert_ptr_nonnull(p); /* empty is not an error */
    ck_assert_uint_eq(len, 0);
    p = ckpt_get_bytes(&r, &len);
    ck_assert_uint_eq(len, big_len);
    ck_assert(memcmp(p, big, big_len) == 0);
    p = ckpt_get_bytes(&r, &len);
    ck_assert_uint_eq(len, 3);
    ck_assert(memcmp(p, "xyz", 3) == 0);
    for (size_t i = 0; i < CEP_ARRAY_LEN(vs); i++) {
        struct val v;
        ckpt_get_val(&r, &v);
        ck_assert_uint_eq(v.type, vs[i].type);
        ck_assert_uint_eq(v.flags, vs[i].flags);
        if (v.type == VAL_FLOAT)
            ck_assert(v.u.f == vs[i].u.f);
        else if (v.type == VAL_INT)
            ck_assert(v.u.i == vs[i].u.i);
        else if (v.type == VAL_BOOL)
            ck_assert(v.u.b == vs[i].u.b);
        else if (v.type != VAL_NULL) {
            ck_assert_uint_eq(v.len, vs[i].len);
            ck_assert(memcmp(v.u.s, vs[i].u.s, v.len) == 0);
        }
    }
    ck_assert_ptr_null(r.err);
    ck_assert(r.p == r.end);
    sbuf_free(&sb);
    cep_free(big);
}
END_TEST

/* Malformed input: each record fails with the given message. */
static const struct {
    const char *name;
    const char *bytes;
    size_t len;
    int what; /* 0 uv, 1 bool, 2 val, 3 bytes, 4 frame then u8 */
    const char *err;
} bad[] = {
    {"11-byte varint", "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", 11, 0, "varint too long"},
    {"varint over 64 bits", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 10, 0, "varint too long"},
    {"bool 2", "\x02", 1, 1, "bad boolean"},
    {"val type list", "\x07\x00", 2, 2, "bad value type"},
    {"val type 200", "\xc8\x00", 2, 2, "bad value type"},
    {"bytes past end", "\x05" "abcd", 5, 3, "truncated record"},
    {"huge bytes length", "\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 9, 3, "truncated record"},
    {"frame past end", "\x03" "ab", 3, 4, "truncated record"},
};

START_TEST(test_bad_input)
{
    struct ckpt_r r, f;
    struct val v;
    size_t len;
    ckpt_r_init(&r, bad[_i].bytes, bad[_i].len);
    switch (bad[_i].what) {
        case 0:
            ck_assert_uint_eq(ckpt_get_uv(&r), 0);
            break;
        case 1:
            ck_assert(!ckpt_get_bool(&r));
            break;
        case 2:
            ckpt_get_val(&r, &v);
            ck_assert_uint_eq(v.type, VAL_NULL);
            break;
        case 3:
            ck_assert_ptr_null(ckpt_get_bytes(&r, &len));
            ck_assert_uint_eq(len, 0);
            break;
        default:
            ckpt_get_frame(&r, &f);
            ck_assert_ptr_nonnull(f.err);
            ck_assert_uint_eq(ckpt_get_u8(&f), 0);
            break;
    }
    ck_assert_msg(r.err && !strcmp(r.err, bad[_i].err), "%s: %s", bad[_i].name,
                  r.err ? r.err : "(no error)");
}
END_TEST

START_TEST(test_sticky)
{
    static const uint8_t data[] = {5, 6, 7, 8, 9, 10, 11, 12, 13};
    struct ckpt_r r;
    ckpt_r_init(&r, data, sizeof(data));
    ck_assert_uint_eq(ckpt_get_u8(&r), 5);
    ckpt_r_fail(&r, "first");
    ckpt_r_fail(&r, "second");
    ck_assert_str_eq(r.err, "first");
    ck_assert_uint_eq(ckpt_get_u8(&r), 0);
    ck_assert_uint_eq(ckpt_get_uv(&r), 0);
    ck_assert(ckpt_get_sv(&r) == 0);
    ck_assert(ckpt_get_f64(&r) == 0.0);
    ck_assert_uint_eq(ckpt_get_uv_max(&r, 10, "third"), 0);
    ck_assert_str_eq(r.err, "first");
}
END_TEST

START_TEST(test_uv_max)
{
    struct sbuf sb;
    sbuf_init(&sb);
    struct ckpt_w w = {&sb};
    ckpt_put_uv(&w, 10);
    ckpt_put_uv(&w, 11);
    struct ckpt_r r;
    ckpt_r_init(&r, sb.buf, sb.len);
    ck_assert_uint_eq(ckpt_get_uv_max(&r, 10, "too many"), 10);
    ck_assert_ptr_null(r.err);
    ck_assert_uint_eq(ckpt_get_uv_max(&r, 10, "too many"), 0);
    ck_assert_str_eq(r.err, "too many");
    sbuf_free(&sb);
}
END_TEST

/* Frames of lengths around the varint boundaries, nested, and skipped. */
static const size_t frame_lens[] = {0, 1, 127, 128, 129, 16383, 16384, 100000};

START_TEST(test_frames)
{
    size_t flen = frame_lens[_i];
    struct sbuf sb;
    sbuf_init(&sb);
    struct ckpt_w w = {&sb};
    ckpt_put_uv(&w, 42);
    size_t outer = ckpt_frame_begin(&w);
    size_t inner = ckpt_frame_begin(&w);
    for (size_t i = 0; i < flen; i++)
        ckpt_put_u8(&w, (uint8_t)i);
    ckpt_frame_end(&w, inner);
    ckpt_put_sv(&w, -5);
    ckpt_frame_end(&w, outer);
    size_t skip = ckpt_frame_begin(&w);
    for (size_t i = 0; i < flen; i++)
        ckpt_put_u8(&w, 0xee);
    ckpt_frame_end(&w, skip);
    ckpt_put_uv(&w, 43);

    struct ckpt_r r, o, in, s;
    ckpt_r_init(&r, sb.buf, sb.len);
    ck_assert_uint_eq(ckpt_get_uv(&r), 42);
    ckpt_get_frame(&r, &o);
    ckpt_get_frame(&o, &in);
    ck_assert_uint_eq((size_t)(in.end - in.p), flen);
    for (size_t i = 0; i < flen; i++)
        ck_assert_uint_eq(ckpt_get_u8(&in), (uint8_t)i);
    ck_assert(ckpt_get_sv(&o) == -5);
    ck_assert(o.p == o.end);
    ckpt_get_frame(&r, &s); /* skipped unread */
    ck_assert_uint_eq(ckpt_get_uv(&r), 43);
    ck_assert(r.p == r.end);
    ck_assert_ptr_null(r.err);
    ck_assert_ptr_null(o.err);
    ck_assert_ptr_null(in.err);
    /* reading past the end of a frame fails the frame only */
    ck_assert(ckpt_get_f64(&in) == 0.0);
    ck_assert_ptr_nonnull(in.err);
    ck_assert_ptr_null(o.err);
    /* the length is a canonical varint: 1 byte under 128 */
    ckpt_r_init(&r, sb.buf, sb.len);
    ckpt_get_uv(&r);
    size_t inner_total = flen + (flen < 128 ? 1 : flen < 16384 ? 2 : 3);
    ck_assert_uint_eq(ckpt_get_uv(&r), inner_total + 1);
    sbuf_free(&sb);
}
END_TEST

/* ---- the event table -------------------------------------------------- */

static const char *const src_names[] = {"auth", "web"};

struct make_ctx {
    int calls;
    bool fail;
};

static struct evt *make_evt(void *ud, uint32_t stream, int64_t time, uint64_t seq,
                            const char *src_name, uint64_t src_off, const char *raw,
                            size_t raw_len)
{
    struct make_ctx *c = ud;
    c->calls++;
    if (c->fail)
        return NULL;
    struct evt *e = evt_new();
    evt_reset(e, raw, raw_len, 2);
    e->stream = stream;
    e->time = time;
    e->seq = seq;
    e->src_name = NULL;
    for (size_t i = 0; i < CEP_ARRAY_LEN(src_names); i++) {
        if (!strcmp(src_name, src_names[i]))
            e->src_name = src_names[i];
    }
    if (!*src_name)
        e->src_name = "";
    e->src_off = src_off;
    return e;
}

static struct evt *test_evt(uint32_t stream, int64_t time, uint64_t seq, const char *src,
                            uint64_t off, const char *raw)
{
    struct evt *e = evt_new();
    evt_reset(e, raw, strlen(raw), 0);
    e->stream = stream;
    e->time = time;
    e->seq = seq;
    e->src_name = src;
    e->src_off = off;
    return e;
}

START_TEST(test_evtab)
{
    struct evt *ev[3] = {
        test_evt(0, INT64_MIN, 1, src_names[0], 0, "{\"a\":1}"),
        test_evt(7, 1732300000000000, UINT64_MAX, src_names[1], UINT64_C(1) << 40, ""),
        test_evt(UINT32_MAX, -1, 3, NULL, 9, "line\0with nul"),
    };
    evt_reset(ev[2], "line\0with nul", 13, 0);
    static const int order[] = {0, 1, 0, 2, 1, 0};
    struct sbuf sb;
    sbuf_init(&sb);
    struct ckpt_w w = {&sb};
    struct ckpt_evtab *wt = ckpt_evtab_writer();
    size_t first_len = 0;
    for (size_t i = 0; i < CEP_ARRAY_LEN(order); i++) {
        size_t before = sb.len;
        ckpt_put_evt(&w, wt, ev[order[i]]);
        if (i == 0)
            first_len = sb.len - before;
        if (i == 2)
            ck_assert_uint_eq(sb.len - before, 2); /* tag and number only */
    }
    ck_assert_uint_gt(first_len, 7);
    ckpt_evtab_free(wt);

    struct make_ctx mc = {0};
    struct ckpt_evtab *rt = ckpt_evtab_reader(make_evt, &mc);
    struct ckpt_r r;
    ckpt_r_init(&r, sb.buf, sb.len);
    struct evt *got[CEP_ARRAY_LEN(order)];
    for (size_t i = 0; i < CEP_ARRAY_LEN(order); i++)
        got[i] = ckpt_get_evt(&r, rt);
    ck_assert_ptr_null(r.err);
    ck_assert(r.p == r.end);
    ck_assert_int_eq(mc.calls, 3);
    ck_assert_ptr_eq(got[0], got[2]);
    ck_assert_ptr_eq(got[0], got[5]);
    ck_assert_ptr_eq(got[1], got[4]);
    ck_assert_ptr_ne(got[0], got[1]);
    ck_assert_ptr_ne(got[3], got[1]);
    for (size_t i = 0; i < 4; i++) {
        const struct evt *a = ev[order[i]], *b = got[i];
        ck_assert_uint_eq(a->stream, b->stream);
        ck_assert(a->time == b->time);
        ck_assert_uint_eq(a->seq, b->seq);
        ck_assert_uint_eq(a->src_off, b->src_off);
        ck_assert_uint_eq(a->raw_len, b->raw_len);
        ck_assert(memcmp(a->raw, b->raw, a->raw_len) == 0);
    }
    ck_assert_ptr_eq(got[0]->src_name, src_names[0]); /* mapped by make */
    ck_assert_ptr_eq(got[1]->src_name, src_names[1]);
    ck_assert_str_eq(got[3]->src_name, ""); /* NULL comes back as "" */
    /* the table holds one reference, each get handed out one more */
    ck_assert_uint_eq(got[0]->refcnt, 4);
    ck_assert_uint_eq(got[1]->refcnt, 3);
    ck_assert_uint_eq(got[3]->refcnt, 2);
    ckpt_evtab_free(rt);
    ck_assert_uint_eq(got[0]->refcnt, 3);
    for (size_t i = 0; i < CEP_ARRAY_LEN(order); i++)
        evt_unref(got[i]);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_uint_eq(ev[i]->refcnt, 1); /* the writer took none */
        evt_unref(ev[i]);
    }
    sbuf_free(&sb);
}
END_TEST

/* Many events: the writer's map grows and keeps every number. */
START_TEST(test_evtab_many)
{
    enum { N = 1000 };
    struct evt **ev = cep_calloc(N, sizeof(*ev));
    struct sbuf sb;
    sbuf_init(&sb);
    struct ckpt_w w = {&sb};
    struct ckpt_evtab *wt = ckpt_evtab_writer();
    for (int i = 0; i < N; i++) {
        char raw[32];
        snprintf(raw, sizeof(raw), "event %d", i);
        ev[i] = test_evt(0, i, (uint64_t)i, src_names[0], (uint64_t)i * 10, raw);
        ckpt_put_evt(&w, wt, ev[i]);
    }
    size_t full_len = sb.len;
    for (int i = N - 1; i >= 0; i--)
        ckpt_put_evt(&w, wt, ev[i]);
    ck_assert_uint_le(sb.len - full_len, 3 * N); /* all by number */
    ckpt_evtab_free(wt);

    struct make_ctx mc = {0};
    struct ckpt_evtab *rt = ckpt_evtab_reader(make_evt, &mc);
    struct ckpt_r r;
    ckpt_r_init(&r, sb.buf, sb.len);
    struct evt **got = cep_calloc(N, sizeof(*got));
    for (int i = 0; i < N; i++)
        got[i] = ckpt_get_evt(&r, rt);
    for (int i = N - 1; i >= 0; i--) {
        struct evt *e = ckpt_get_evt(&r, rt);
        ck_assert_ptr_eq(e, got[i]);
        ck_assert_uint_eq(e->seq, (uint64_t)i);
        evt_unref(e);
    }
    ck_assert_ptr_null(r.err);
    ck_assert_int_eq(mc.calls, N);
    ckpt_evtab_free(rt);
    for (int i = 0; i < N; i++) {
        ck_assert_uint_eq(got[i]->refcnt, 1);
        evt_unref(got[i]);
        evt_unref(ev[i]);
    }
    cep_free(got);
    cep_free(ev);
    sbuf_free(&sb);
}
END_TEST

START_TEST(test_evtab_errors)
{
    struct make_ctx mc = {.fail = true};
    struct ckpt_evtab *rt = ckpt_evtab_reader(make_evt, &mc);
    struct ckpt_r r;
    /* a reference to an event not yet read */
    ckpt_r_init(&r, "\x00\x00", 2);
    ck_assert_ptr_null(ckpt_get_evt(&r, rt));
    ck_assert_str_eq(r.err, "event number out of range");
    ckpt_r_init(&r, "\x02", 1);
    ck_assert_ptr_null(ckpt_get_evt(&r, rt));
    ck_assert_str_eq(r.err, "bad event tag");
    /* make refuses the line */
    struct evt *e = test_evt(0, 0, 0, "x", 0, "raw");
    struct sbuf sb;
    sbuf_init(&sb);
    struct ckpt_w w = {&sb};
    struct ckpt_evtab *wt = ckpt_evtab_writer();
    ckpt_put_evt(&w, wt, e);
    ckpt_evtab_free(wt);
    ckpt_r_init(&r, sb.buf, sb.len);
    ck_assert_ptr_null(ckpt_get_evt(&r, rt));
    ck_assert_str_eq(r.err, "event cannot be decoded");
    ck_assert_int_eq(mc.calls, 1);
    ckpt_evtab_free(rt);
    evt_unref(e);
    sbuf_free(&sb);
}
END_TEST

/* ---- truncation at every byte ----------------------------------------- */

/* Append to sb a record using every kind of value and an event twice. */
static void write_record(struct sbuf *sb, struct evt *e)
{
    struct ckpt_w w = {sb};
    struct ckpt_evtab *wt = ckpt_evtab_writer();
    ckpt_put_uv(&w, UINT64_MAX);
    ckpt_put_sv(&w, INT64_MIN);
    ckpt_put_f64(&w, 2.5);
    ckpt_put_bool(&w, true);
    ckpt_put_bytes(&w, "hello", 5);
    struct val v = val_str("str", 3);
    ckpt_put_val(&w, &v);
    v = val_float(-1.0);
    ckpt_put_val(&w, &v);
    size_t m = ckpt_frame_begin(&w);
    for (int i = 0; i < 200; i++)
        ckpt_put_uv(&w, (uint64_t)i);
    ckpt_frame_end(&w, m);
    ckpt_put_evt(&w, wt, e);
    ckpt_put_evt(&w, wt, e);
    ckpt_put_uv(&w, 3);
    ckpt_evtab_free(wt);
}

/* Read the record of write_record; returns the reader's error. */
static const char *read_record(const void *p, size_t len, int *n_made)
{
    struct make_ctx mc = {0};
    struct ckpt_evtab *rt = ckpt_evtab_reader(make_evt, &mc);
    struct ckpt_r r, f;
    struct val v;
    size_t n;
    ckpt_r_init(&r, p, len);
    ckpt_get_uv(&r);
    ckpt_get_sv(&r);
    ckpt_get_f64(&r);
    ckpt_get_bool(&r);
    ckpt_get_bytes(&r, &n);
    ckpt_get_val(&r, &v);
    ckpt_get_val(&r, &v);
    ckpt_get_frame(&r, &f);
    for (int i = 0; i < 200; i++)
        ckpt_get_uv(&f);
    if (f.err)
        ckpt_r_fail(&r, f.err);
    evt_unref(ckpt_get_evt(&r, rt));
    evt_unref(ckpt_get_evt(&r, rt));
    ckpt_get_uv_max(&r, 3, "too big");
    ckpt_evtab_free(rt);
    *n_made = mc.calls;
    return r.err;
}

START_TEST(test_truncate_everywhere)
{
    struct evt *e = test_evt(1, 2, 3, "auth", 4, "{\"user\":\"root\"}");
    struct sbuf sb;
    sbuf_init(&sb);
    write_record(&sb, e);
    int made;
    ck_assert_ptr_null(read_record(sb.buf, sb.len, &made));
    ck_assert_int_eq(made, 1);
    for (size_t cut = 0; cut < sb.len; cut++) {
        /* an exactly sized copy, so that ASan sees any read past the end */
        char *copy = cep_malloc(cut ? cut : 1);
        memcpy(copy, sb.buf, cut);
        const char *err = read_record(copy, cut, &made);
        ck_assert_msg(err != NULL, "cut at %zu of %zu not detected", cut, sb.len);
        cep_free(copy);
    }
    evt_unref(e);
    sbuf_free(&sb);
}
END_TEST

/* ---- CRC-32C ---------------------------------------------------------- */

START_TEST(test_crc32c)
{
    ck_assert_uint_eq(ckpt_crc32c(0, "123456789", 9), 0xe3069283u);
    ck_assert_uint_eq(ckpt_crc32c_sw(0, "123456789", 9), 0xe3069283u);
    ck_assert_uint_eq(ckpt_crc32c(0, NULL, 0), 0);
    /* 32 zero bytes: RFC 3720 B.4 */
    static const uint8_t zeros[32];
    ck_assert_uint_eq(ckpt_crc32c(0, zeros, 32), 0x8a9136aau);
    uint8_t buf[300];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 31 + 7);
    uint32_t whole = ckpt_crc32c_sw(0, buf, sizeof(buf));
    for (size_t start = 0; start < 9; start++) {
        for (size_t split = start; split <= sizeof(buf); split += 13) {
            uint32_t c = ckpt_crc32c(0, buf + start, split - start);
            c = ckpt_crc32c(c, buf + split, sizeof(buf) - split);
            uint32_t s = ckpt_crc32c_sw(0, buf + start, split - start);
            s = ckpt_crc32c_sw(s, buf + split, sizeof(buf) - split);
            ck_assert_uint_eq(c, s);
            if (start == 0)
                ck_assert_uint_eq(c, whole);
        }
    }
}
END_TEST

/* ---- files ------------------------------------------------------------ */

static char tmpdir[64];

static void tmpdir_setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_ckpt.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void tmpdir_teardown(void)
{
    char *cmd = cep_asprintf("rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
    cep_free(cmd);
}

static char *tmp_path(const char *name)
{
    return cep_asprintf("%s/%s", tmpdir, name);
}

/* A body with three sections, one of a tag no reader knows. */
static void make_body(struct sbuf *sb, uint64_t marker)
{
    struct ckpt_w w = {sb};
    size_t m = ckpt_section_begin(&w, CKPT_SEC_META);
    ckpt_put_bytes(&w, "0.1", 3);
    ckpt_put_uv(&w, marker);
    ckpt_section_end(&w, m);
    ckpt_put_uv(&w, 99);
    m = ckpt_frame_begin(&w);
    ckpt_put_bytes(&w, "future", 6);
    ckpt_frame_end(&w, m);
    m = ckpt_section_begin(&w, CKPT_SEC_ENGINE);
    for (int i = 0; i < 1000; i++)
        ckpt_put_sv(&w, -i);
    ckpt_section_end(&w, m);
}

static void write_ckpt(const char *path, uint64_t seq, enum ckpt_kind kind)
{
    struct sbuf body;
    sbuf_init(&body);
    make_body(&body, seq);
    struct ckpt_header h = {.kind = kind, .seq = seq, .wall_us = 1732300000123456};
    char err[256];
    ck_assert_int_eq(ckpt_file_write(path, &h, body.buf, body.len, err, sizeof(err)), CEP_OK);
    sbuf_free(&body);
}

/* The marker in the META section of a checkpoint file, or -1 with err. */
static int64_t read_marker(const char *path, char *err, size_t errlen)
{
    struct ckpt_header h;
    struct sbuf body;
    sbuf_init(&body);
    int64_t marker = -1;
    if (ckpt_file_read(path, &h, &body, err, errlen) == CEP_OK) {
        struct ckpt_r r;
        ck_assert(ckpt_section_find(body.buf, body.len, CKPT_SEC_META, &r));
        size_t n;
        ckpt_get_bytes(&r, &n);
        marker = (int64_t)ckpt_get_uv(&r);
        ck_assert_ptr_null(r.err);
        ck_assert_uint_eq(h.seq, (uint64_t)marker);
    }
    sbuf_free(&body);
    return marker;
}

START_TEST(test_file_round_trip)
{
    char *path = tmp_path("chk-0000000007.ckpt");
    write_ckpt(path, 7, CKPT_KIND_SAVEPOINT);
    struct ckpt_header h;
    struct sbuf body, expect;
    sbuf_init(&body);
    sbuf_init(&expect);
    make_body(&expect, 7);
    char err[256];
    ck_assert_int_eq(ckpt_file_read(path, &h, &body, err, sizeof(err)), CEP_OK);
    ck_assert_uint_eq(h.version, CKPT_FORMAT_VERSION);
    ck_assert_int_eq(h.kind, CKPT_KIND_SAVEPOINT);
    ck_assert_uint_eq(h.seq, 7);
    ck_assert(h.wall_us == 1732300000123456);
    ck_assert_uint_eq(h.body_len, expect.len);
    ck_assert_uint_eq(h.crc, ckpt_crc32c(0, expect.buf, expect.len));
    ck_assert_uint_eq(body.len, expect.len);
    ck_assert(memcmp(body.buf, expect.buf, body.len) == 0);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq((int)st.st_size, (int)(48 + expect.len));
    ck_assert_int_eq(st.st_mode & 077, 0); /* state holds event data */

    struct ckpt_r r;
    ck_assert(ckpt_section_find(body.buf, body.len, CKPT_SEC_ENGINE, &r));
    for (int i = 0; i < 1000; i++)
        ck_assert(ckpt_get_sv(&r) == -i);
    ck_assert(r.p == r.end && !r.err);
    ck_assert(!ckpt_section_find(body.buf, body.len, CKPT_SEC_OUTBOX, &r));
    ck_assert_ptr_null(r.err);
    /* a malformed body says so */
    ck_assert(!ckpt_section_find(body.buf, 10, CKPT_SEC_ENGINE, &r));
    ck_assert_str_eq(r.err, "truncated record");
    ck_assert_int_eq(read_marker(path, err, sizeof(err)), 7);
    sbuf_free(&body);
    sbuf_free(&expect);
    cep_free(path);
}
END_TEST

/* Rewrite path with its byte at off replaced (off past the end: cut). */
static void corrupt(const char *path, long off, int byte, long cut)
{
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    if (byte >= 0) {
        ck_assert_int_eq(fseek(f, off, SEEK_SET), 0);
        ck_assert_int_eq(fputc(byte, f), byte);
    }
    fclose(f);
    if (cut >= 0)
        ck_assert_int_eq(truncate(path, cut), 0);
}

START_TEST(test_file_damage)
{
    char *path = tmp_path("c.ckpt");
    char err[256], *want;
    struct stat st;
    write_ckpt(path, 3, CKPT_KIND_CHECKPOINT);
    ck_assert_int_eq(stat(path, &st), 0);
    long size = (long)st.st_size;

    /* every body byte flipped: CRC mismatch */
    want = cep_asprintf("%s: CRC mismatch", path);
    for (long off = 48; off < size; off += 97) {
        FILE *f = fopen(path, "rb");
        ck_assert_int_eq(fseek(f, off, SEEK_SET), 0);
        int c = fgetc(f);
        fclose(f);
        corrupt(path, off, c ^ 0x10, -1);
        ck_assert_int_eq(read_marker(path, err, sizeof(err)), -1);
        ck_assert_str_eq(err, want);
        corrupt(path, off, c, -1);
        ck_assert_int_eq(read_marker(path, err, sizeof(err)), 3);
    }
    cep_free(want);

    /* a header field changed: the header's own CRC catches it */
    corrupt(path, 16, 4, -1);
    ck_assert_int_eq(read_marker(path, err, sizeof(err)), -1);
    want = cep_asprintf("%s: header CRC mismatch", path);
    ck_assert_str_eq(err, want);
    cep_free(want);
    corrupt(path, 16, 3, -1);

    /* truncated body, truncated header, extra bytes */
    corrupt(path, 0, -1, size - 1);
    ck_assert_int_eq(read_marker(path, err, sizeof(err)), -1);
    want = cep_asprintf("%s: truncated: %ld of %ld bytes", path, size - 1, size);
    ck_assert_str_eq(err, want);
    cep_free(want);
    corrupt(path, 0, -1, 20);
    ck_assert_int_eq(read_marker(path, err, sizeof(err)), -1);
    want = cep_asprintf("%s: truncated: 20 of 48 header bytes", path);
    ck_assert_str_eq(err, want);
    cep_free(want);
    write_ckpt(path, 3, CKPT_KIND_CHECKPOINT);
    FILE *f = fopen(path, "ab");
    fputc('x', f);
    fclose(f);
    ck_assert_int_eq(read_marker(path, err, sizeof(err)), -1);
    want = cep_asprintf("%s: %ld bytes where %ld were expected", path, size + 1, size);
    ck_assert_str_eq(err, want);
    cep_free(want);

    /* wrong magic, empty file, a future version */
    write_ckpt(path, 3, CKPT_KIND_CHECKPOINT);
    corrupt(path, 0, 'X', -1);
    ck_assert_int_eq(read_marker(path, err, sizeof(err)), -1);
    want = cep_asprintf("%s: not a cepd checkpoint", path);
    ck_assert_str_eq(err, want);
    corrupt(path, 0, 'C', 0);
    ck_assert_int_eq(read_marker(path, err, sizeof(err)), -1);
    ck_assert_str_eq(err, want);
    cep_free(want);
    write_ckpt(path, 3, CKPT_KIND_CHECKPOINT);
    corrupt(path, 8, 2, -1);
    ck_assert_int_eq(read_marker(path, err, sizeof(err)), -1);
    want = cep_asprintf("%s: format version 2 not supported (this cepd reads 1)", path);
    ck_assert_str_eq(err, want);
    cep_free(want);

    /* no such file */
    unlink(path);
    ck_assert_int_eq(read_marker(path, err, sizeof(err)), -1);
    want = cep_asprintf("%s: open: No such file or directory", path);
    ck_assert_str_eq(err, want);
    cep_free(want);
    cep_free(path);
}
END_TEST

/* A write that cannot even open its file reports the file and the step. */
START_TEST(test_file_write_error)
{
    char *path = tmp_path("missing/chk-0000000001.ckpt");
    struct ckpt_header h = {.seq = 1};
    char err[256];
    ck_assert_int_eq(ckpt_file_write(path, &h, "x", 1, err, sizeof(err)), CEP_ERR);
    char *want = cep_asprintf("%s.tmp: open: No such file or directory", path);
    ck_assert_str_eq(err, want);
    cep_free(want);
    cep_free(path);
}
END_TEST

static void touch(const char *name)
{
    char *p = tmp_path(name);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    cep_free(p);
}

static bool exists(const char *name)
{
    char *p = tmp_path(name);
    bool ok = access(p, F_OK) == 0;
    cep_free(p);
    return ok;
}

START_TEST(test_dir_list_prune)
{
    static const uint64_t seqs[] = {9, 1, 11, 10, 2};
    for (size_t i = 0; i < CEP_ARRAY_LEN(seqs); i++) {
        char name[32];
        snprintf(name, sizeof(name), CKPT_NAME_FMT, seqs[i]);
        char *p = tmp_path(name);
        write_ckpt(p, seqs[i], CKPT_KIND_CHECKPOINT);
        cep_free(p);
    }
    touch("savepoint-before-upgrade.ckpt");
    touch("chk-0000000012.ckpt.tmp"); /* a crash mid-write */
    touch("chk-12.ckpt");             /* not ours */
    touch("notes.txt");
    char **names;
    size_t n = ckpt_dir_list(tmpdir, &names);
    static const char *const newest_first[] = {
        "chk-0000000011.ckpt", "chk-0000000010.ckpt", "chk-0000000009.ckpt",
        "chk-0000000002.ckpt", "chk-0000000001.ckpt",
    };
    ck_assert_uint_eq(n, 5);
    for (size_t i = 0; i < n; i++)
        ck_assert_str_eq(names[i], newest_first[i]);
    ckpt_names_free(names, n);

    ckpt_dir_prune(tmpdir, 2);
    n = ckpt_dir_list(tmpdir, &names);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(names[0], newest_first[0]);
    ck_assert_str_eq(names[1], newest_first[1]);
    ckpt_names_free(names, n);
    ck_assert(exists("savepoint-before-upgrade.ckpt"));
    ck_assert(!exists("chk-0000000012.ckpt.tmp"));
    ck_assert(!exists("chk-0000000009.ckpt"));
    ck_assert(exists("chk-12.ckpt"));
    ck_assert(exists("notes.txt"));

    n = ckpt_dir_list("/nonexistent/cepd", &names);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(names);
}
END_TEST

/* ---- fault injection -------------------------------------------------- */

static const struct {
    const char *fault;
    const char *step; /* as named in the message */
    bool replaced;    /* the new file is in place despite the error */
} faults[] = {
    {"open:1", ": open: ", false},          {"write:1", ": write: No space left", false},
    {"write:2", ": write: No space left", false}, {"fsync:1", ": fsync: ", false},
    {"rename:1", ": rename: ", false},      {"dirsync:1", ": fsync directory: ", true},
};

START_TEST(test_fault)
{
    char *path = tmp_path("chk-0000000001.ckpt");
    write_ckpt(path, 1, CKPT_KIND_CHECKPOINT);
    setenv("CEPD_FAULT", faults[_i].fault, 1);
    ckpt_fault_reset();
    struct sbuf body;
    sbuf_init(&body);
    make_body(&body, 2);
    struct ckpt_header h = {.seq = 2};
    char err[256] = "";
    int rc = ckpt_file_write(path, &h, body.buf, body.len, err, sizeof(err));
#ifdef CEPD_FAULT_INJECTION
    ck_assert_int_eq(rc, CEP_ERR);
    ck_assert_msg(strstr(err, faults[_i].step), "%s: %s", faults[_i].fault, err);
    ck_assert(!exists("chk-0000000001.ckpt.tmp"));
    ck_assert_int_eq(read_marker(path, err, sizeof(err)), faults[_i].replaced ? 2 : 1);
    /* only the N-th call fails: the next write goes through */
    ck_assert_int_eq(ckpt_file_write(path, &h, body.buf, body.len, err, sizeof(err)), CEP_OK);
#else
    /* not compiled in: CEPD_FAULT is ignored */
    ck_assert_int_eq(rc, CEP_OK);
    ck_assert(!ckpt_fault("write"));
    if (_i == 0)
        printf("check_ckpt: fault injection not compiled in (--enable-fault-injection); "
               "checked that CEPD_FAULT is ignored\n");
#endif
    ck_assert_int_eq(read_marker(path, err, sizeof(err)), 2);
    unsetenv("CEPD_FAULT");
    ckpt_fault_reset();
    sbuf_free(&body);
    cep_free(path);
}
END_TEST

static Suite *ckpt_suite(void)
{
    Suite *s = suite_create("ckpt");
    TCase *tc = tcase_create("encoding");
    tcase_add_test(tc, test_ints);
    tcase_add_test(tc, test_f64);
    tcase_add_test(tc, test_bytes_and_vals);
    tcase_add_loop_test(tc, test_bad_input, 0, CEP_ARRAY_LEN(bad));
    tcase_add_test(tc, test_sticky);
    tcase_add_test(tc, test_uv_max);
    tcase_add_loop_test(tc, test_frames, 0, CEP_ARRAY_LEN(frame_lens));
    tcase_add_test(tc, test_truncate_everywhere);
    suite_add_tcase(s, tc);

    tc = tcase_create("evtab");
    tcase_add_test(tc, test_evtab);
    tcase_add_test(tc, test_evtab_many);
    tcase_add_test(tc, test_evtab_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("crc");
    tcase_add_test(tc, test_crc32c);
    suite_add_tcase(s, tc);

    tc = tcase_create("files");
    tcase_add_checked_fixture(tc, tmpdir_setup, tmpdir_teardown);
    tcase_add_test(tc, test_file_round_trip);
    tcase_add_test(tc, test_file_damage);
    tcase_add_test(tc, test_file_write_error);
    tcase_add_test(tc, test_dir_list_prune);
    suite_add_tcase(s, tc);

    tc = tcase_create("faults");
    tcase_add_checked_fixture(tc, tmpdir_setup, tmpdir_teardown);
    tcase_add_loop_test(tc, test_fault, 0, CEP_ARRAY_LEN(faults));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ckpt_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
