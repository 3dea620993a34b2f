/* SPDX-License-Identifier: Apache-2.0
 * The file sink: alerts appended to `path` as JSON lines (O_APPEND, one
 * writev per batch).  Start-up fails when the file cannot be opened;
 * SIGUSR1 (ops->reopen) opens the path again after logrotate moved it,
 * keeping the old descriptor when the new open fails, so no alert is lost.
 * Tested by: tests/unit/check_sink.c */
#include "cepd/cep_common.h"
#include "cepd/io.h"
#include "sink_int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

struct sink_file {
    int fd;
};

static int sink_file_open(const struct io_sink *s)
{
    int fd = open(s->cfg->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        cep_log(CEP_LOG_ERROR, "sink %s: open %s: %s", s->cfg->name, s->cfg->path,
                strerror(errno));
    return fd;
}

static int sink_file_start(struct io_sink *s)
{
    if (sink_common_start(s) != CEP_OK)
        return CEP_ERR;
    int fd = sink_file_open(s);
    if (fd < 0)
        return CEP_ERR;
    struct sink_file *f = cep_calloc(1, sizeof(*f));
    f->fd = fd;
    s->impl = f;
    return CEP_OK;
}

static void sink_file_kick(struct io_sink *s)
{
    struct sink_file *f = s->impl;
    sink_fd_write(s, f->fd);
}

static void sink_file_reopen(struct io_sink *s)
{
    struct sink_file *f = s->impl;
    if (!f)
        return;
    int fd = sink_file_open(s);
    if (fd < 0) {
        cep_log(CEP_LOG_ERROR, "sink %s: keeping the old file open", s->cfg->name);
        return;
    }
    close(f->fd);
    f->fd = fd;
    cep_log(CEP_LOG_INFO, "sink %s: reopened %s", s->cfg->name, s->cfg->path);
}

static void sink_file_stop(struct io_sink *s)
{
}

static void sink_file_free(struct io_sink *s)
{
    struct sink_file *f = s->impl;
    if (!f)
        return;
    close(f->fd);
    cep_free(f);
    s->impl = NULL;
}

const struct io_sink_ops io_sink_file_ops = {
    .type = "file",
    .start = sink_file_start,
    .kick = sink_file_kick,
    .reopen = sink_file_reopen,
    .stop = sink_file_stop,
    .free = sink_file_free,
};
