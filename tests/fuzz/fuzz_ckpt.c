/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer target for the checkpoint reader.  If the first input byte is
 * odd, the rest is written to a file and read with ckpt_file_read (header,
 * lengths, CRCs); else it is taken as a verified body.  The body's sections
 * are parsed with the documented payloads (ckpt.h), and the ENGINE frame as
 * a stream of opcode-selected values, frames and events through an event
 * table.  Invariants: no read outside the input, every failure sets r->err,
 * and event references balance (LeakSanitizer).
 * Tested by: tests/fuzz/build.sh (run ./fuzz_ckpt for a while) */
#include "cepd/cep_common.h"
#include "cepd/ckpt.h"
#include "cepd/evt.h"
#include "cepd/sbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_EVTS 4096

struct fuzz_state {
    struct ckpt_evtab *tab;
    struct evt *held[FUZZ_MAX_EVTS];
    size_t n_held;
};

static struct evt *fuzz_make(void *ud, uint32_t stream, int64_t time, uint64_t seq,
                             const char *src_name, uint64_t src_off, const char *raw,
                             size_t raw_len)
{
    if (!strcmp(src_name, "bad"))
        return NULL; /* the "cannot be decoded any more" path */
    struct evt *e = evt_new();
    evt_reset(e, raw, raw_len, 1);
    e->stream = stream;
    e->time = time;
    e->seq = seq;
    e->src_name = "fuzz";
    e->src_off = src_off;
    return e;
}

static void fuzz_check(const struct ckpt_r *r)
{
    if (r->p > r->end)
        abort();
}

/* Values as the ENGINE frame's opcodes ask, one frame level deep. */
static void fuzz_values(struct ckpt_r *r, struct fuzz_state *st, int depth)
{
    while (!r->err && r->p < r->end) {
        struct val v;
        size_t len;
        struct ckpt_r f;
        struct evt *e;
        switch (ckpt_get_u8(r) % 9) {
            case 0:
                ckpt_get_uv(r);
                break;
            case 1:
                ckpt_get_sv(r);
                break;
            case 2:
                ckpt_get_f64(r);
                break;
            case 3:
                ckpt_get_bool(r);
                break;
            case 4:
                if (ckpt_get_bytes(r, &len) == NULL && !r->err)
                    abort();
                break;
            case 5:
                ckpt_get_val(r, &v);
                if (r->err && v.type != VAL_NULL)
                    abort();
                break;
            case 6:
                ckpt_get_frame(r, &f);
                if (depth < 2)
                    fuzz_values(&f, st, depth + 1);
                fuzz_check(&f);
                break;
            case 7:
                e = ckpt_get_evt(r, st->tab);
                if (!e != !!r->err)
                    abort();
                if (e && e->refcnt < 2) /* the table's and ours */
                    abort();
                if (e && st->n_held < FUZZ_MAX_EVTS)
                    st->held[st->n_held++] = e;
                else
                    evt_unref(e);
                break;
            default:
                ckpt_get_uv_max(r, 1000, "too big");
                break;
        }
        fuzz_check(r);
    }
}

static void fuzz_body(const void *body, size_t len)
{
    struct fuzz_state st = {.tab = ckpt_evtab_reader(fuzz_make, NULL)};
    struct ckpt_r r, f;
    size_t n;
    if (ckpt_section_find(body, len, CKPT_SEC_META, &r)) {
        ckpt_get_bytes(&r, &n);
        ckpt_get_bytes(&r, &n);
        for (uint64_t i = ckpt_get_uv_max(&r, 100000, "too many rules"); i > 0 && !r.err; i--) {
            ckpt_get_bytes(&r, &n);
            ckpt_get_uv(&r);
        }
        fuzz_check(&r);
    }
    if (ckpt_section_find(body, len, CKPT_SEC_SOURCES, &r)) {
        for (uint64_t i = ckpt_get_uv_max(&r, 10000, "too many sources"); i > 0 && !r.err; i--) {
            ckpt_get_bytes(&r, &n);
            ckpt_get_bytes(&r, &n);
            ckpt_get_frame(&r, &f);
            fuzz_values(&f, &st, 1);
        }
        fuzz_check(&r);
    }
    if (ckpt_section_find(body, len, CKPT_SEC_ENGINE, &r)) {
        ckpt_get_frame(&r, &f);
        fuzz_values(&f, &st, 0);
    }
    if (ckpt_section_find(body, len, CKPT_SEC_OUTBOX, &r)) {
        for (uint64_t i = ckpt_get_uv_max(&r, 1000000, "too many alerts"); i > 0 && !r.err; i--) {
            ckpt_get_bytes(&r, &n);
            ckpt_get_uv(&r);
            ckpt_get_sv(&r);
            ckpt_get_bytes(&r, &n);
            for (uint64_t k = ckpt_get_uv_max(&r, 64, "too many sinks"); k > 0 && !r.err; k--)
                ckpt_get_bytes(&r, &n);
        }
        fuzz_check(&r);
    }
    ckpt_evtab_free(st.tab);
    for (size_t i = 0; i < st.n_held; i++) {
        if (st.held[i]->refcnt < 1)
            abort();
        evt_unref(st.held[i]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (!(data[0] & 1)) {
        fuzz_body(data + 1, size - 1);
        return 0;
    }
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof(path), "/tmp/fuzz_ckpt.%ld", (long)getpid());
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(data + 1, 1, size - 1, fp) != size - 1 || fclose(fp) != 0)
        abort();
    struct ckpt_header h;
    struct sbuf body;
    sbuf_init(&body);
    char err[256];
    if (ckpt_file_read(path, &h, &body, err, sizeof(err)) == CEP_OK) {
        if (h.body_len != body.len || ckpt_crc32c(0, body.buf, body.len) != h.crc)
            abort();
        fuzz_body(body.buf, body.len);
    } else if (!err[0] || body.len != 0) {
        abort();
    }
    sbuf_free(&body);
    unlink(path);
    return 0;
}
