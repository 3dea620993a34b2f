/* SPDX-License-Identifier: Apache-2.0
 * The stream sink: alerts looped back into cepd as events of the stream
 * named by `stream:`.  Each queued alert goes to s->loopback, which the
 * pipeline runs outside the engine's call stack (kicks are deferred), and
 * counts as delivered once handed over.
 * Tested by: tests/unit/check_sink.c */
#include "cepd/cep_common.h"
#include "cepd/io.h"
#include "sink_int.h"

static int sink_stream_start(struct io_sink *s)
{
    CEP_ASSERT(s->loopback);
    if (sink_common_start(s) != CEP_OK)
        return CEP_ERR;
    s->impl = s;
    return CEP_OK;
}

static void sink_stream_kick(struct io_sink *s)
{
    size_t n = s->q_len;
    for (size_t i = 0; i < n; i++) {
        const struct io_alert *a = io_sink_at(s, i);
        s->loopback(s->ud, s, a);
    }
    io_sink_delivered(s, n);
}

static void sink_stream_stop(struct io_sink *s)
{
}

static void sink_stream_free(struct io_sink *s)
{
    s->impl = NULL;
}

const struct io_sink_ops io_sink_stream_ops = {
    .type = "stream",
    .start = sink_stream_start,
    .kick = sink_stream_kick,
    .stop = sink_stream_stop,
    .free = sink_stream_free,
};
