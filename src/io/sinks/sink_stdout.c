/* SPDX-License-Identifier: Apache-2.0
 * The stdout sink: alerts as JSON lines on standard output, written with
 * writev as they are queued.  A write error (a closed pipe) is retried like
 * any delivery failure and ends in the dead-letter file.
 * Tested by: tests/unit/check_sink.c */
#include "cepd/cep_common.h"
#include "cepd/io.h"
#include "sink_int.h"

#include <unistd.h>

/* The sink has no state of its own; impl marks it started. */
static int sink_stdout_start(struct io_sink *s)
{
    if (sink_common_start(s) != CEP_OK)
        return CEP_ERR;
    s->impl = s;
    return CEP_OK;
}

static void sink_stdout_kick(struct io_sink *s)
{
    sink_fd_write(s, STDOUT_FILENO);
}

static void sink_stdout_stop(struct io_sink *s)
{
}

static void sink_stdout_free(struct io_sink *s)
{
    s->impl = NULL;
}

const struct io_sink_ops io_sink_stdout_ops = {
    .type = "stdout",
    .start = sink_stdout_start,
    .kick = sink_stdout_kick,
    .stop = sink_stdout_stop,
    .free = sink_stdout_free,
};
