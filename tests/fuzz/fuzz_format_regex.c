/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer target for the regex format and pattern checking.  An input
 * whose first byte is odd is "PATTERN\nLINE": the pattern is checked as the
 * config loader does and, if valid, compiled and applied to the line; other
 * inputs are lines for a fixed set of patterns (escaping, optional and
 * duplicate groups, invalid UTF-8 in captures).  Accepted lines must give
 * one valid JSON object in valid UTF-8; rejections a reason.
 * Tested by: tests/fuzz/build.sh (run ./fuzz_format_regex for a while) */
#include "cepd/cep_common.h"
#include "cepd/io.h"
#include "cepd/json.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fuzz_patterns[] = {
    "^(?<all>.*)$",
    "(?<user>\\S+) from (?<ip>[0-9.]+)(?: port (?<port>\\d+))?",
    "(?J)^(?:a(?<x>.)|b(?<x>..)|(?<y>.{3}))",
    "(?<a>(a|b)+)+c",
};

static struct io_format *fuzz_format(const char *pattern)
{
    struct cfg_source cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.name = (char *)"fuzz";
    cfg.format = CFG_FMT_REGEX;
    cfg.pattern = (char *)pattern;
    char err[256];
    return io_format_new(&cfg, err, sizeof(err));
}

static void fuzz_apply(struct io_format *f, const char *line, size_t len)
{
    const char *out;
    size_t out_len;
    struct eng_reject rej = {0};
    if (io_format_apply(f, line, len, &out, &out_len, &rej) == CEP_OK) {
        struct json_err err = {0};
        struct json_scan sc = {out, out + out_len, &err};
        if (out_len < 2 || out[0] != '{' || json_value_skip(&sc, out, 0) != out + out_len ||
            !json_utf8_valid(out, out_len))
            abort();
    } else if (!rej.reason) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct io_format *fixed[CEP_ARRAY_LEN(fuzz_patterns)];
    if (!fixed[0]) {
        for (size_t i = 0; i < CEP_ARRAY_LEN(fuzz_patterns); i++)
            if (!(fixed[i] = fuzz_format(fuzz_patterns[i])))
                abort();
    }
    if (size < 1 || size > (1u << 16))
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    if (data[0] & 1) {
        const char *nl = memchr(text, '\n', len);
        size_t plen = nl ? (size_t)(nl - text) : len;
        if (plen > 256)
            return 0;
        char *pattern = cep_strndup(text, plen);
        size_t off;
        char msg[160];
        int rc = io_format_pattern_check(pattern, &off, msg, sizeof(msg));
        struct io_format *f = fuzz_format(pattern);
        if ((rc == CEP_OK) != (f != NULL) || (rc != CEP_OK && off > plen))
            abort();
        if (f) {
            size_t rest = nl ? len - plen - 1 : 0;
            char *line = cep_malloc(rest ? rest : 1);
            memcpy(line, nl ? nl + 1 : text, rest);
            fuzz_apply(f, line, rest);
            cep_free(line);
            io_format_free(f);
        }
        cep_free(pattern);
        return 0;
    }
    char *line = cep_malloc(len ? len : 1);
    memcpy(line, text, len);
    fuzz_apply(fixed[(data[0] >> 1) % CEP_ARRAY_LEN(fuzz_patterns)], line, len);
    cep_free(line);
    return 0;
}
