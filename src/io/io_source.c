/* SPDX-License-Identifier: Apache-2.0
 * The table of source types and io_source_init, which picks a source's ops
 * by its configured type and resolves its line limit.  A type whose
 * implementation is not linked in has no ops (the pipeline refuses it).
 * Tested by: tests/daemon/t_core_file.sh, tests/unit/check_netsrc.c */
#include "cepd/cep_common.h"
#include "cepd/io.h"

#include <string.h>
#include <sys/time.h>

#include <event2/event.h>

/* The source types, by cfg_source_type. */
static const struct io_source_ops *const io_source_types[CFG_SRC_TYPE_COUNT] = {
    [CFG_SRC_FILE] = &io_src_file_ops,
    [CFG_SRC_STDIN] = &io_src_stdin_ops,
    [CFG_SRC_TCP] = &io_src_tcp_ops,
    [CFG_SRC_HTTP] = &io_src_http_ops,
    [CFG_SRC_REDIS_STREAM] = &io_src_redis_ops,
};

void io_source_init(struct io_source *s, const struct cfg_source *cfg, struct event_base *base,
                    size_t global_max_line)
{
    memset(s, 0, sizeof(*s));
    s->cfg = cfg;
    s->ops = io_source_types[cfg->type];
    s->base = base;
    s->max_line = cfg->max_line_bytes   ? cfg->max_line_bytes
                  : global_max_line     ? global_max_line
                                        : CFG_MAX_LINE_BYTES_DEFAULT;
}

int64_t io_source_now(const struct io_source *s)
{
    struct timeval tv;
    if (event_base_gettimeofday_cached(s->base, &tv) != 0)
        gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * CEP_USEC_PER_SEC + tv.tv_usec;
}
