/* SPDX-License-Identifier: Apache-2.0
 * The file and stdin sources, on the daemon's loop.  `file` follows its
 * path like `tail -F`: it reads from the start of the file to its end, then
 * polls every SRC_FILE_POLL_US for growth, a rotation by rename (the path
 * names another inode: the old file is read to its end, an unterminated
 * last line included, then the new one from its start) and a truncation
 * (the size fell below the read position: read again from the start).  A
 * path that is missing or unreadable is retried with back-off, up to
 * SRC_FILE_BACKOFF_MAX_US.  The position (device, inode, generation,
 * offset of the next unconsumed byte) is kept explicit for checkpoints
 * (save_pos/load_pos): a restore resumes in the same file (same device and
 * inode) at the saved offset; if the path names another file by then, that
 * one is read from its start, as a new generation (logged).  `stdin` reads fd 0 on
 * a read event (a regular file or /dev/null, which epoll refuses, is read
 * like a file) and ends at EOF.  Both hand over at most SRC_FILE_BATCH
 * lines per turn of the loop (then yield through a zero timer), so one
 * source never starves the others, and stop at once when paused.
 * Tested by: tests/daemon/t_core_file.sh, tests/daemon/t_core_stdin.sh,
 * tests/daemon/t_ckpt.sh, tests/daemon/t_crash.sh, tests/cli/run.sh */
#include "cepd/cep_common.h"
#include "cepd/io.h"

#include "cepd/ckpt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>

#include "cepd/src_lines.h"

#define SRC_FILE_BATCH          1024              /* lines per turn of the loop */
#define SRC_FILE_POLL_US        (100 * 1000)      /* EOF: look for growth/rotation */
#define SRC_FILE_BACKOFF_MIN_US (100 * 1000)      /* first reopen delay */
#define SRC_FILE_BACKOFF_MAX_US (5 * 1000 * 1000) /* longest reopen delay */
/* A line's identity (io_line.offset, hence its alert ids): the generation
 * of the file (0 for the first one read, +1 at each rotation or
 * truncation) above its byte offset, so that lines of a rotated file never
 * take the ids of the lines before them. */
#define SRC_FILE_OFF_BITS 40
#define SRC_FILE_OFF_MASK ((UINT64_C(1) << SRC_FILE_OFF_BITS) - 1)

struct file_src {
    struct io_source *s;
    bool is_stdin;
    bool open;
    int fd;
    /* Position: the file (dev, ino), its generation and, in rd, the
     * offset of the next unconsumed byte (rd.base + rd.start). */
    dev_t dev;
    ino_t ino;
    uint64_t gen;         /* files read before this one (rotations, truncations) */
    bool opened_once;
    struct src_lines rd;
    bool rotated;         /* the path names another file: finish the old one */
    struct event *tick;   /* next batch (0), EOF poll, reopen back-off */
    struct event *rd_ev;  /* stdin on a pipe, socket or terminal: fd 0 readable */
    bool rd_ev_added;
    int stdin_flags;      /* fd 0's flags before O_NONBLOCK, restored at stop */
    int64_t backoff;      /* µs before the next reopen attempt */
    bool warned;          /* the open failure was logged */
    bool stopped;
    /* A restored position for the first open (load_pos): resume there if
     * the path still names that file. */
    bool resume;
    uint64_t resume_off;
    uint64_t resume_line;
    /* Where the file was left when it was closed (stop, read error), so a
     * checkpoint taken then (the final one) still has the position. */
    bool closed_pos;
    uint64_t closed_off;
    uint64_t closed_line;
};

static void file_arm(struct file_src *f, int64_t us)
{
    struct timeval tv = {(time_t)(us / 1000000), (suseconds_t)(us % 1000000)};
    if (!f->stopped && !f->s->paused)
        evtimer_add(f->tick, &tv);
}

static uint64_t file_pos(const struct file_src *f)
{
    return f->rd.base + f->rd.start;
}

static void file_close(struct file_src *f)
{
    if (!f->open)
        return;
    f->closed_pos = !f->is_stdin;
    f->closed_off = file_pos(f);
    f->closed_line = f->rd.line_no;
    src_lines_free(&f->rd);
    if (!f->is_stdin)
        close(f->fd);
    f->open = false;
    f->fd = -1;
}

/* Open the path (file) from its start.  On failure log once, count it and
 * retry with back-off. */
static void file_open(struct file_src *f)
{
    struct io_source *s = f->s;
    int fd = open(s->cfg->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        fd = -1;
        errno = EISDIR;
    }
    if (fd < 0) {
        if (!f->warned) {
            cep_log(CEP_LOG_WARN, "source %s: open %s: %s (retrying)", s->cfg->name,
                    s->cfg->path, strerror(errno));
            s->st.errors++;
        }
        f->warned = true;
        f->backoff = f->backoff ? f->backoff * 2 : SRC_FILE_BACKOFF_MIN_US;
        if (f->backoff > SRC_FILE_BACKOFF_MAX_US)
            f->backoff = SRC_FILE_BACKOFF_MAX_US;
        file_arm(f, f->backoff);
        return;
    }
    bool same = f->resume && st.st_dev == f->dev && st.st_ino == f->ino &&
                (uint64_t)st.st_size >= f->resume_off;
    if (f->resume && !same)
        cep_log(CEP_LOG_NOTICE,
                "source %s: %s is no longer the file of the checkpoint (inode %ju, now %ju): "
                "reading it from the start",
                s->cfg->name, s->cfg->path, (uintmax_t)f->ino, (uintmax_t)st.st_ino);
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    f->gen += f->opened_once && !same;
    f->opened_once = true;
    f->fd = fd;
    f->open = true;
    f->rotated = false;
    f->backoff = 0;
    src_lines_init(&f->rd, fd, s->max_line);
    if (same && lseek(fd, (off_t)f->resume_off, SEEK_SET) == (off_t)f->resume_off) {
        f->rd.base = f->resume_off;
        f->rd.line_no = f->resume_line;
        cep_log(CEP_LOG_INFO, "source %s: resuming %s at byte %" PRIu64 " (line %" PRIu64 ")",
                s->cfg->name, s->cfg->path, f->resume_off, f->resume_line);
    } else if (same) {
        cep_log(CEP_LOG_WARN, "source %s: seek %s to %" PRIu64 ": %s; reading from the start",
                s->cfg->name, s->cfg->path, f->resume_off, strerror(errno));
        lseek(fd, 0, SEEK_SET);
        f->gen++;
    }
    f->resume = false;
    cep_log(f->warned ? CEP_LOG_NOTICE : CEP_LOG_INFO, "source %s: reading %s (inode %ju)",
            s->cfg->name, s->cfg->path, (uintmax_t)f->ino);
    f->warned = false;
    file_arm(f, 0);
}

/* Hand one line over and count it. */
static void file_line(struct file_src *f, const struct src_line *sl)
{
    struct io_source *s = f->s;
    struct io_line l = {.data = sl->data, .len = sl->len,
                        .offset = f->gen << SRC_FILE_OFF_BITS | (sl->offset & SRC_FILE_OFF_MASK),
                        .line_no = sl->line_no, .too_long = sl->too_long};
    struct io_verdict v = {.accepted = true};
    s->on_line(s->ud, s, &l, &v);
    s->st.lines++;
    if (sl->too_long)
        s->st.errors++;
    if (!v.accepted)
        s->st.rejected++;
}

/* At the end of a followed file: a rotation by rename, a truncation, or
 * nothing new yet (poll again).  Also refreshes the lag gauge. */
static void file_at_eof(struct file_src *f)
{
    struct io_source *s = f->s;
    struct stat path_st, fd_st;
    bool have_fd_st = fstat(f->fd, &fd_st) == 0;
    if (have_fd_st)
        s->st.lag = fd_st.st_size > (off_t)file_pos(f) ? (uint64_t)fd_st.st_size - file_pos(f)
                                                          : 0;
    if (stat(s->cfg->path, &path_st) == 0 &&
        (path_st.st_ino != f->ino || path_st.st_dev != f->dev)) {
        cep_log(CEP_LOG_INFO, "source %s: %s was rotated; finishing the old file (%" PRIu64
                " bytes read)", s->cfg->name, s->cfg->path, file_pos(f));
        f->rotated = true; /* the next batch reads the rest with final set */
        file_arm(f, 0);
        return;
    }
    /* A missing path (renamed away, the new file not there yet): keep
     * reading the old one, which writers may still append to. */
    if (have_fd_st && (uint64_t)fd_st.st_size < f->rd.base + f->rd.end) {
        cep_log(CEP_LOG_NOTICE, "source %s: %s was truncated; reading it from the start",
                s->cfg->name, s->cfg->path);
        src_lines_free(&f->rd);
        lseek(f->fd, 0, SEEK_SET);
        src_lines_init(&f->rd, f->fd, s->max_line);
        f->gen++;
        file_arm(f, 0);
        return;
    }
    file_arm(f, SRC_FILE_POLL_US);
}

/* Read one batch.  Runs from the tick timer and (stdin) the read event. */
static void file_batch(struct file_src *f)
{
    struct io_source *s = f->s;
    if (f->stopped || s->paused || s->ended)
        return;
    if (!f->open) {
        file_open(f);
        return;
    }
    bool final = f->is_stdin || f->rotated;
    uint64_t pos0 = file_pos(f);
    size_t n = 0;
    struct src_line l;
    int rc = 0;
    while (n < SRC_FILE_BATCH && !s->paused && (rc = src_lines_next(&f->rd, final, &l)) == 1) {
        n++;
        file_line(f, &l);
    }
    int err = errno; /* of the src_lines_next that stopped the loop */
    s->st.bytes += file_pos(f) - pos0;
    if (n)
        s->st.last_line_at = io_source_now(s);
    if (rc == 1 || s->paused) {
        /* More may be buffered: yield to the loop, then go on (resume
         * re-arms a paused source). */
        file_arm(f, 0);
    } else if (rc < 0 && (err == EAGAIN || err == EWOULDBLOCK)) {
        /* stdin drained: the read event brings more. */
    } else if (rc < 0) {
        s->st.errors++;
        if (f->is_stdin) {
            cep_log(CEP_LOG_ERROR, "source %s: read stdin: %s; the source ends", s->cfg->name,
                    strerror(err));
            s->ended = true;
        } else {
            cep_log(CEP_LOG_ERROR, "source %s: read %s: %s (reopening)", s->cfg->name,
                    s->cfg->path, strerror(err));
            file_close(f);
            f->warned = true;
            f->backoff = SRC_FILE_BACKOFF_MIN_US;
            file_arm(f, f->backoff);
        }
    } else if (f->is_stdin) {
        s->ended = true;
        cep_log(CEP_LOG_INFO, "source %s: end of stdin after %" PRIu64 " lines", s->cfg->name,
                s->st.lines);
    } else if (f->rotated) {
        file_close(f);
        file_open(f);
    } else {
        file_at_eof(f);
    }
    if (s->ended && f->rd_ev_added) {
        event_del(f->rd_ev);
        f->rd_ev_added = false;
    }
    if ((n || s->ended) && s->on_batch)
        s->on_batch(s->ud, s);
}

static void file_tick_cb(evutil_socket_t fd, short what, void *ud)
{
    CEP_UNUSED(fd);
    CEP_UNUSED(what);
    file_batch(ud);
}

static struct file_src *file_new(struct io_source *s, bool is_stdin)
{
    struct file_src *f = cep_calloc(1, sizeof(*f));
    f->s = s;
    f->is_stdin = is_stdin;
    f->fd = -1;
    f->stdin_flags = -1;
    f->tick = evtimer_new(s->base, file_tick_cb, f);
    CEP_ASSERT(f->tick);
    s->impl = f;
    return f;
}

/* The position: device, inode, generation, offset of the next unconsumed
 * byte, lines consumed.  Before the first open (the path missing so far)
 * the inode is 0: a restore starts from the beginning. */
static void file_save_pos(struct io_source *s, uint64_t ckpt_seq, struct ckpt_w *w)
{
    CEP_UNUSED(ckpt_seq);
    const struct file_src *f = s->impl;
    uint64_t dev = 0, ino = 0, off = 0, line = 0;
    if (f && (f->open || f->resume || f->closed_pos)) {
        dev = (uint64_t)f->dev;
        ino = (uint64_t)f->ino;
        off = f->open ? file_pos(f) : f->resume ? f->resume_off : f->closed_off;
        line = f->open ? f->rd.line_no : f->resume ? f->resume_line : f->closed_line;
    }
    ckpt_put_uv(w, dev);
    ckpt_put_uv(w, ino);
    ckpt_put_uv(w, f ? f->gen : 0);
    ckpt_put_uv(w, off);
    ckpt_put_uv(w, line);
}

static int file_load_pos(struct io_source *s, struct ckpt_r *r)
{
    struct file_src *f = s->impl ? s->impl : file_new(s, false);
    uint64_t dev = ckpt_get_uv(r), ino = ckpt_get_uv(r);
    uint64_t gen = ckpt_get_uv_max(r, SRC_FILE_OFF_MASK, "file generation");
    uint64_t off = ckpt_get_uv_max(r, SRC_FILE_OFF_MASK, "file offset");
    uint64_t line = ckpt_get_uv(r);
    if (r->err) {
        cep_log(CEP_LOG_WARN, "source %s: saved position unreadable (%s); starting as configured",
                s->cfg->name, r->err);
        return CEP_ERR;
    }
    /* Lines of a file read afresh take the next generation, so their
     * alert ids never repeat those of the file before. */
    f->gen = gen;
    f->opened_once = ino != 0;
    struct stat st;
    if (ino == 0)
        return CEP_OK;
    if (stat(s->cfg->path, &st) != 0 || (uint64_t)st.st_dev != dev ||
        (uint64_t)st.st_ino != ino) {
        cep_log(CEP_LOG_NOTICE,
                "source %s: %s is not the file of the checkpoint (inode %" PRIu64
                "): reading it from the start",
                s->cfg->name, s->cfg->path, ino);
        return CEP_ERR;
    }
    f->dev = (dev_t)dev;
    f->ino = (ino_t)ino;
    f->resume = true;
    f->resume_off = off;
    f->resume_line = line;
    return CEP_OK;
}

static int file_start(struct io_source *s)
{
    struct file_src *f = s->impl ? s->impl : file_new(s, false);
    file_open(f);
    return CEP_OK;
}

static void file_pause(struct io_source *s)
{
    struct file_src *f = s->impl;
    s->paused = true;
    if (!f)
        return;
    evtimer_del(f->tick);
    if (f->rd_ev_added) {
        event_del(f->rd_ev);
        f->rd_ev_added = false;
    }
}

/* Go on where the source stopped: lines may be buffered already, so read
 * from a timer rather than wait for the descriptor. */
static void file_resume(struct io_source *s)
{
    struct file_src *f = s->impl;
    s->paused = false;
    if (!f || f->stopped || s->ended)
        return;
    if (f->rd_ev && !f->rd_ev_added) {
        event_add(f->rd_ev, NULL);
        f->rd_ev_added = true;
    }
    file_arm(f, 0);
}

static void file_stop(struct io_source *s)
{
    struct file_src *f = s->impl;
    if (!f || f->stopped)
        return;
    f->stopped = true;
    evtimer_del(f->tick);
    if (f->rd_ev_added) {
        event_del(f->rd_ev);
        f->rd_ev_added = false;
    }
    if (f->is_stdin && f->stdin_flags >= 0)
        fcntl(STDIN_FILENO, F_SETFL, f->stdin_flags);
    file_close(f);
}

static void file_free(struct io_source *s)
{
    struct file_src *f = s->impl;
    if (!f)
        return;
    file_stop(s);
    if (f->rd_ev)
        event_free(f->rd_ev);
    event_free(f->tick);
    cep_free(f);
    s->impl = NULL;
}

static void stdin_read_cb(evutil_socket_t fd, short what, void *ud)
{
    CEP_UNUSED(fd);
    CEP_UNUSED(what);
    file_batch(ud);
}

/* stdin: a pipe, socket or terminal is read on a read event, non-blocking;
 * anything else (a regular file, /dev/null) like a file, from timers. */
static int stdin_start(struct io_source *s)
{
    struct file_src *f = s->impl ? s->impl : file_new(s, true);
    struct stat st;
    if (fstat(STDIN_FILENO, &st) != 0) {
        cep_log(CEP_LOG_ERROR, "source %s: stdin: %s", s->cfg->name, strerror(errno));
        return CEP_ERR;
    }
    f->fd = STDIN_FILENO;
    f->open = true;
    src_lines_init(&f->rd, STDIN_FILENO, s->max_line);
    if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || isatty(STDIN_FILENO)) {
        f->stdin_flags = fcntl(STDIN_FILENO, F_GETFL);
        if (f->stdin_flags >= 0)
            fcntl(STDIN_FILENO, F_SETFL, f->stdin_flags | O_NONBLOCK);
        f->rd_ev = event_new(s->base, STDIN_FILENO, EV_READ | EV_PERSIST, stdin_read_cb, f);
        CEP_ASSERT(f->rd_ev);
        if (!s->paused) {
            event_add(f->rd_ev, NULL);
            f->rd_ev_added = true;
        }
    }
    file_arm(f, 0);
    return CEP_OK;
}

const struct io_source_ops io_src_file_ops = {
    .type = "file",
    .start = file_start,
    .pause = file_pause,
    .resume = file_resume,
    .stop = file_stop,
    .free = file_free,
    .save_pos = file_save_pos,
    .load_pos = file_load_pos,
};

const struct io_source_ops io_src_stdin_ops = {
    .type = "stdin",
    .start = stdin_start,
    .pause = file_pause,
    .resume = file_resume,
    .stop = file_stop,
    .free = file_free,
};
