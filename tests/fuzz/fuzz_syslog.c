/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer target for the syslog format (RFC 3164 and 5424 parsing,
 * structured data, the inferred year, the pattern on msg).  The first input
 * byte picks the clock (so year and February 29 logic is reached) and
 * whether a msg pattern is set; the rest is the line.  Every accepted line
 * must give exactly one valid JSON object in valid UTF-8; every rejected
 * one a reason and an offset inside the line.
 * Tested by: tests/fuzz/build.sh (run ./fuzz_syslog for a while) */
#include "cepd/cep_common.h"
#include "cepd/io.h"
#include "cepd/json.h"
#include "../../src/io/io_format_int.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 2023-06-15, 2024-02-29, 2024-12-31T23:00Z, 2025-01-01T00:00:30Z */
static const int64_t fuzz_clocks[] = {1686830400, 1709208000, 1735686000, 1735689630};

static struct io_format *fuzz_format(const char *pattern)
{
    struct cfg_source cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.name = (char *)"fuzz";
    cfg.format = CFG_FMT_SYSLOG;
    cfg.pattern = (char *)pattern;
    char err[256];
    struct io_format *f = io_format_new(&cfg, err, sizeof(err));
    if (!f)
        abort();
    return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct io_format *plain, *with_re;
    if (!plain) {
        plain = fuzz_format(NULL);
        with_re = fuzz_format("^Failed (?<method>\\S+) for (?:invalid user )?(?<user>\\S+) from "
                              "(?<src_ip>\\S+) port (?<port>\\d+)|(?<word>\\w+)$");
    }
    if (size < 1 || size > (1u << 20))
        return 0;
    struct io_format *f = data[0] & 4 ? with_re : plain;
    io_format_set_now(f, fuzz_clocks[data[0] & 3]);
    /* A copy of exactly the line's bytes, so ASan sees any overread. */
    size_t len = size - 1;
    char *line = cep_malloc(len ? len : 1);
    memcpy(line, data + 1, len);
    const char *out;
    size_t out_len;
    struct eng_reject rej = {0};
    if (io_format_apply(f, line, len, &out, &out_len, &rej) == CEP_OK) {
        struct json_err err = {0};
        struct json_scan sc = {out, out + out_len, &err};
        if (out_len < 2 || out[0] != '{' || json_value_skip(&sc, out, 0) != out + out_len ||
            !json_utf8_valid(out, out_len))
            abort();
    } else if (!rej.reason || rej.offset > len) {
        abort();
    }
    cep_free(line);
    return 0;
}
