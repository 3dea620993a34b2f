/* SPDX-License-Identifier: Apache-2.0
 * The write-ahead log of the push sources (format and guarantees in
 * include/cepd/wal.h).  Appends go to a memory buffer; wal_sync writes it
 * to the last segment (creating the next segments where the records roll
 * over), fdatasyncs, and only then moves the durable end, so a reader never
 * sees a record that a crash could take back.  A failed sync cuts the
 * files back to the last durable end: nothing half-written survives.
 * Fault injection (ckpt_fault, include/cepd/ckpt.h) fails the steps
 * wal_write (ENOSPC) and wal_sync (EIO) of wal_sync.
 * Tested by: tests/unit/check_wal.c, tests/daemon/t_wal.sh */
#include "cepd/cep_common.h"
#include "cepd/wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cepd/ckpt.h"
#include "ckpt_int.h"

#define WAL_MAGIC       "CEPDWAL1"
#define WAL_NAME_DIGITS 20
#define WAL_READ_CHUNK  (256 * 1024)
#define WAL_TOO_LONG    (UINT32_C(1) << 31)

struct wal_seg {
    uint64_t start; /* offset of its first record */
    uint64_t len;   /* durable bytes of records */
};

struct wal {
    char *dir;
    int dir_fd;
    uint64_t seg_bytes;
    struct wal_seg *segs; /* by start; the last one is written */
    size_t n_segs, cap_segs;
    int fd;               /* the last segment, for writing */
    uint64_t durable;     /* end of what is written and synced */
    /* Appended, not yet written: records from durable on, and the offsets
     * where new segments begin among them. */
    char *pend;
    size_t pend_len, pend_cap;
    uint64_t *rolls;
    size_t n_rolls, cap_rolls;
    uint64_t tail_seg_start, tail_seg_len; /* the segment the next append goes to */
    /* Reading: one open segment and a buffer over part of it. */
    int rfd;
    uint64_t rfd_start;   /* start of the segment rfd reads */
    char *rbuf;
    size_t rbuf_cap, rbuf_len;
    uint64_t rbuf_off;    /* offset of rbuf[0] */
};

/* The CRC of a record: its length word, its line number, its bytes. */
static uint32_t wal_rec_crc(const unsigned char *hdr, const void *data, size_t len)
{
    uint32_t crc = ckpt_crc32c(0, hdr, 4);
    crc = ckpt_crc32c(crc, hdr + 8, 8);
    return ckpt_crc32c(crc, data, len);
}

static void wal_seg_path(const struct wal *w, uint64_t start, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%020" PRIu64 ".wal", w->dir, start);
}

/* Write (writing) or read exactly len bytes at at, retrying on EINTR and
 * short transfers; CEP_ERR with errno set (EIO for end of file). */
static int wal_pio(int fd, void *p, size_t len, uint64_t at, bool writing)
{
    char *c = p;
    while (len > 0) {
        ssize_t n = writing ? pwrite(fd, c, len, (off_t)at) : pread(fd, c, len, (off_t)at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return CEP_ERR;
        }
        c += n;
        len -= (size_t)n;
        at += (uint64_t)n;
    }
    return CEP_OK;
}

static int wal_pwrite(int fd, const void *p, size_t len, uint64_t at)
{
    return wal_pio(fd, (void *)p, len, at, true); /* only read from */
}

/* Write what wal_sync writes, through the wal_write fault. */
static int wal_write_at(int fd, const void *p, size_t len, uint64_t at)
{
    if (ckpt_inject("wal_write", ENOSPC))
        return CEP_ERR;
    return wal_pwrite(fd, p, len, at);
}

/* fdatasync, through the wal_sync fault; CEP_ERR with errno set. */
static int wal_datasync(int fd)
{
    if (ckpt_inject("wal_sync", EIO) || fdatasync(fd) != 0)
        return CEP_ERR;
    return CEP_OK;
}

/* Read exactly len bytes at at; CEP_ERR (errno EIO for a short file). */
static int wal_pread(int fd, void *p, size_t len, uint64_t at)
{
    return wal_pio(fd, p, len, at, false);
}

/* Create the segment starting at start (header written, not synced).
 * Returns its fd, or -1 with errno set. */
static int wal_seg_create(struct wal *w, uint64_t start)
{
    char path[4096];
    wal_seg_path(w, start, path, sizeof(path));
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    unsigned char hdr[WAL_SEG_HDR];
    memcpy(hdr, WAL_MAGIC, 8);
    ckpt_le_put(hdr + 8, start, 8);
    if (wal_pwrite(fd, hdr, sizeof(hdr), 0) != CEP_OK) {
        int e = errno;
        close(fd);
        unlink(path);
        errno = e;
        return -1;
    }
    return fd;
}

static void wal_seg_add(struct wal *w, uint64_t start, uint64_t len)
{
    CEP_GROW(w->segs, w->cap_segs, w->n_segs + 1);
    w->segs[w->n_segs++] = (struct wal_seg){start, len};
}

static int wal_seg_cmp(const void *a, const void *b)
{
    uint64_t x = ((const struct wal_seg *)a)->start, y = ((const struct wal_seg *)b)->start;
    return x < y ? -1 : x > y;
}

static void wal_rclose(struct wal *w)
{
    if (w->rfd >= 0)
        close(w->rfd);
    w->rfd = -1;
    w->rbuf_len = 0;
}

/* Index of the segment holding pos: the last one starting at or before it
 * (pos >= segs[0].start). */
static size_t wal_seg_find(const struct wal *w, uint64_t pos)
{
    size_t lo = 0, hi = w->n_segs;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->segs[mid].start <= pos)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* Make rbuf hold [pos, pos + need) of segment i (need <= what it holds
 * after pos).  CEP_ERR with errno set. */
static int wal_fill(struct wal *w, size_t i, uint64_t pos, size_t need)
{
    const struct wal_seg *sg = &w->segs[i];
    if (w->rfd >= 0 && w->rfd_start == sg->start && pos >= w->rbuf_off &&
        pos + need <= w->rbuf_off + w->rbuf_len)
        return CEP_OK;
    if (w->rfd < 0 || w->rfd_start != sg->start) {
        wal_rclose(w);
        char path[4096];
        wal_seg_path(w, sg->start, path, sizeof(path));
        w->rfd = open(path, O_RDONLY | O_CLOEXEC);
        if (w->rfd < 0)
            return CEP_ERR;
        w->rfd_start = sg->start;
    }
    uint64_t left = sg->start + sg->len - pos;
    size_t n = need > WAL_READ_CHUNK ? need : WAL_READ_CHUNK;
    if (n > left)
        n = (size_t)left;
    CEP_GROW(w->rbuf, w->rbuf_cap, n);
    w->rbuf_len = 0;
    if (wal_pread(w->rfd, w->rbuf, n, WAL_SEG_HDR + (pos - sg->start)) != CEP_OK)
        return CEP_ERR;
    w->rbuf_off = pos;
    w->rbuf_len = n;
    return CEP_OK;
}

int wal_read(struct wal *w, uint64_t *pos, struct wal_rec *out, char *err, size_t errlen)
{
    size_t i;
    for (;;) {
        if (*pos >= w->durable)
            return 0;
        if (*pos < w->segs[0].start)
            *pos = w->segs[0].start;
        i = wal_seg_find(w, *pos);
        if (*pos < w->segs[i].start + w->segs[i].len)
            break;
        if (i + 1 == w->n_segs)
            return 0;
        *pos = w->segs[i + 1].start;
    }
    const struct wal_seg *sg = &w->segs[i];
    uint64_t avail = sg->start + sg->len - *pos;
    const char *why;
    if (avail < WAL_REC_HDR) {
        why = "truncated record header";
        goto fail;
    }
    if (wal_fill(w, i, *pos, WAL_REC_HDR) != CEP_OK)
        goto fail_io;
    const unsigned char *h = (const unsigned char *)w->rbuf + (*pos - w->rbuf_off);
    uint32_t word = (uint32_t)ckpt_le_get(h, 4);
    size_t len = word & ~WAL_TOO_LONG;
    if (len > avail - WAL_REC_HDR) {
        why = "record length past the end of the segment";
        goto fail;
    }
    if (wal_fill(w, i, *pos, WAL_REC_HDR + len) != CEP_OK)
        goto fail_io;
    h = (const unsigned char *)w->rbuf + (*pos - w->rbuf_off);
    if (wal_rec_crc(h, h + WAL_REC_HDR, len) != (uint32_t)ckpt_le_get(h + 4, 4)) {
        why = "CRC mismatch";
        goto fail;
    }
    out->data = (const char *)h + WAL_REC_HDR;
    out->len = len;
    out->off = *pos;
    out->line_no = ckpt_le_get(h + 8, 8);
    out->too_long = (word & WAL_TOO_LONG) != 0;
    *pos += WAL_REC_HDR + len;
    return 1;
fail_io:
    snprintf(err, errlen, "%s: segment %020" PRIu64 ": read at offset %" PRIu64 ": %s", w->dir,
             sg->start, *pos, strerror(errno));
    wal_rclose(w);
    return CEP_ERR;
fail:
    snprintf(err, errlen, "%s: segment %020" PRIu64 ": %s at offset %" PRIu64, w->dir, sg->start,
             why, *pos);
    return CEP_ERR;
}

uint64_t wal_skip(const struct wal *w, uint64_t pos)
{
    if (pos < w->segs[0].start)
        return w->segs[0].start;
    size_t i = wal_seg_find(w, pos);
    return i + 1 < w->n_segs ? w->segs[i + 1].start : w->durable;
}

/* Check a segment's header (and fix the last segment's, when a crash left
 * it shorter than a header).  Fills the segment's length. */
static int wal_seg_check(struct wal *w, size_t i, char *err, size_t errlen)
{
    char path[4096];
    wal_seg_path(w, w->segs[i].start, path, sizeof(path));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s: open: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return CEP_ERR;
    }
    unsigned char hdr[WAL_SEG_HDR];
    bool short_hdr = st.st_size < WAL_SEG_HDR;
    int rc = short_hdr ? CEP_OK : wal_pread(fd, hdr, sizeof(hdr), 0);
    close(fd);
    if (rc != CEP_OK) {
        snprintf(err, errlen, "%s: read: %s", path, strerror(errno));
        return CEP_ERR;
    }
    if (short_hdr && i + 1 == w->n_segs) {
        cep_log(CEP_LOG_WARN, "write-ahead log %s: rewriting the torn header of the last segment",
                path);
        fd = wal_seg_create(w, w->segs[i].start);
        if (fd < 0) {
            snprintf(err, errlen, "%s: create: %s", path, strerror(errno));
            return CEP_ERR;
        }
        close(fd);
        w->segs[i].len = 0;
        return CEP_OK;
    }
    if (short_hdr || memcmp(hdr, WAL_MAGIC, 8) != 0 ||
            ckpt_le_get(hdr + 8, 8) != w->segs[i].start) {
        snprintf(err, errlen, "%s: not a cepd write-ahead log segment", path);
        return CEP_ERR;
    }
    w->segs[i].len = (uint64_t)st.st_size - WAL_SEG_HDR;
    return CEP_OK;
}

/* List the segments of w->dir, sorted. */
static int wal_scan_dir(struct wal *w, char *err, size_t errlen)
{
    DIR *d = opendir(w->dir);
    if (!d) {
        snprintf(err, errlen, "%s: opendir: %s", w->dir, strerror(errno));
        return CEP_ERR;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        if (strlen(n) != WAL_NAME_DIGITS + 4 || strcmp(n + WAL_NAME_DIGITS, ".wal") != 0 ||
            strspn(n, "0123456789") != WAL_NAME_DIGITS)
            continue;
        wal_seg_add(w, strtoull(n, NULL, 10), 0);
    }
    closedir(d);
    if (w->n_segs > 1)
        qsort(w->segs, w->n_segs, sizeof(*w->segs), wal_seg_cmp);
    for (size_t i = 0; i < w->n_segs; i++) {
        if (wal_seg_check(w, i, err, errlen) != CEP_OK)
            return CEP_ERR;
    }
    for (size_t i = 0; i + 1 < w->n_segs; i++) {
        if (w->segs[i].start + w->segs[i].len > w->segs[i + 1].start) {
            snprintf(err, errlen, "%s: segments %020" PRIu64 " and %020" PRIu64 " overlap",
                     w->dir, w->segs[i].start, w->segs[i + 1].start);
            return CEP_ERR;
        }
    }
    return CEP_OK;
}

/* Read the last segment to its end; cut it at the first record that is
 * torn or corrupt. */
static int wal_cut_tail(struct wal *w, char *err, size_t errlen)
{
    struct wal_seg *last = &w->segs[w->n_segs - 1];
    uint64_t pos = last->start, end = last->start + last->len;
    struct wal_rec rec;
    char why[512];
    int rc;
    while ((rc = wal_read(w, &pos, &rec, why, sizeof(why))) == 1)
        continue;
    if (rc == 0)
        return CEP_OK;
    wal_rclose(w);
    if (ftruncate(w->fd, (off_t)(WAL_SEG_HDR + (pos - last->start))) != 0) {
        snprintf(err, errlen, "%s: segment %020" PRIu64 ": truncate: %s", w->dir, last->start,
                 strerror(errno));
        return CEP_ERR;
    }
    cep_log(CEP_LOG_WARN,
            "write-ahead log %s: %s; dropped the last %" PRIu64
            " bytes (a record torn by a crash)",
            w->dir, why, end - pos);
    last->len = pos - last->start;
    w->durable = pos;
    return CEP_OK;
}

struct wal *wal_open(const char *dir, uint64_t seg_bytes, char *err, size_t errlen)
{
    struct wal *w = cep_calloc(1, sizeof(*w));
    w->dir = cep_strdup(dir);
    w->seg_bytes = seg_bytes ? seg_bytes : WAL_SEG_BYTES_DEFAULT;
    w->fd = w->rfd = w->dir_fd = -1;
    char path[4096];
    if (ckpt_mkdirs(dir, 0750) != CEP_OK) {
        snprintf(err, errlen, "%s: mkdir: %s", dir, strerror(errno));
        goto fail;
    }
    w->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (w->dir_fd < 0) {
        snprintf(err, errlen, "%s: open: %s", dir, strerror(errno));
        goto fail;
    }
    /* One writer per log: a second daemon, or a second source with the
     * same directory, fails here. */
    if (flock(w->dir_fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, errlen, "%s: %s", dir,
                 errno == EWOULDBLOCK ? "in use by another writer" : strerror(errno));
        goto fail;
    }
    if (wal_scan_dir(w, err, errlen) != CEP_OK)
        goto fail;
    if (w->n_segs == 0) {
        int fd = wal_seg_create(w, 0);
        if (fd < 0) {
            snprintf(err, errlen, "%s: create the first segment: %s", dir, strerror(errno));
            goto fail;
        }
        close(fd);
        wal_seg_add(w, 0, 0);
    }
    struct wal_seg *last = &w->segs[w->n_segs - 1];
    wal_seg_path(w, last->start, path, sizeof(path));
    w->fd = open(path, O_WRONLY | O_CLOEXEC);
    if (w->fd < 0) {
        snprintf(err, errlen, "%s: open: %s", path, strerror(errno));
        goto fail;
    }
    w->durable = last->start + last->len;
    if (wal_cut_tail(w, err, errlen) != CEP_OK)
        goto fail;
    /* What survived the crash may still be only in the page cache. */
    if (fdatasync(w->fd) != 0 || fsync(w->dir_fd) != 0) {
        snprintf(err, errlen, "%s: fsync: %s", dir, strerror(errno));
        goto fail;
    }
    w->tail_seg_start = last->start;
    w->tail_seg_len = last->len;
    return w;
fail:
    wal_close(w);
    return NULL;
}

void wal_close(struct wal *w)
{
    if (!w)
        return;
    wal_rclose(w);
    if (w->fd >= 0)
        close(w->fd);
    if (w->dir_fd >= 0)
        close(w->dir_fd);
    cep_free(w->dir);
    cep_free(w->segs);
    cep_free(w->pend);
    cep_free(w->rolls);
    cep_free(w->rbuf);
    cep_free(w);
}

uint64_t wal_append(struct wal *w, const void *data, size_t len, uint64_t line_no,
                    bool too_long)
{
    CEP_ASSERT(len <= WAL_REC_MAX);
    size_t n = WAL_REC_HDR + len;
    if (w->tail_seg_len > 0 && w->tail_seg_len + n > w->seg_bytes) {
        w->tail_seg_start += w->tail_seg_len;
        w->tail_seg_len = 0;
        CEP_GROW(w->rolls, w->cap_rolls, w->n_rolls + 1);
        w->rolls[w->n_rolls++] = w->tail_seg_start;
    }
    uint64_t off = w->durable + w->pend_len;
    CEP_GROW(w->pend, w->pend_cap, w->pend_len + n);
    unsigned char *h = (unsigned char *)w->pend + w->pend_len;
    ckpt_le_put(h, (uint32_t)len | (too_long ? WAL_TOO_LONG : 0), 4);
    ckpt_le_put(h + 8, line_no, 8);
    memcpy(h + WAL_REC_HDR, data, len);
    ckpt_le_put(h + 4, wal_rec_crc(h, data, len), 4);
    w->pend_len += n;
    w->tail_seg_len += n;
    return off;
}

bool wal_pending(const struct wal *w)
{
    return w->pend_len > 0;
}

/* Undo a failed sync: drop the segments it made, cut the old last one back
 * to its durable length, forget what was pending. */
static void wal_sync_undo(struct wal *w, size_t old_n, int old_fd, uint64_t old_len)
{
    if (w->fd != old_fd)
        close(w->fd);
    while (w->n_segs > old_n) {
        char path[4096];
        wal_seg_path(w, w->segs[--w->n_segs].start, path, sizeof(path));
        unlink(path);
    }
    w->fd = old_fd;
    struct wal_seg *last = &w->segs[old_n - 1];
    last->len = old_len;
    if (ftruncate(old_fd, (off_t)(WAL_SEG_HDR + old_len)) != 0)
        cep_log(CEP_LOG_ERROR, "write-ahead log %s: cannot cut back a failed write: %s", w->dir,
                strerror(errno));
    w->pend_len = 0;
    w->n_rolls = 0;
    w->tail_seg_start = last->start;
    w->tail_seg_len = old_len;
}

int wal_sync(struct wal *w, char *err, size_t errlen)
{
    if (w->pend_len == 0)
        return CEP_OK;
    size_t old_n = w->n_segs;
    int old_fd = w->fd;
    uint64_t old_len = w->segs[old_n - 1].len;
    uint64_t pos = w->durable, end = w->durable + w->pend_len;
    const char *step = "write";
    bool made = false;
    for (size_t r = 0; r <= w->n_rolls; r++) {
        uint64_t upto = r < w->n_rolls ? w->rolls[r] : end;
        struct wal_seg *last = &w->segs[w->n_segs - 1];
        if (wal_write_at(w->fd, w->pend + (pos - w->durable), (size_t)(upto - pos),
                         WAL_SEG_HDR + last->len) != CEP_OK)
            goto fail;
        last->len += upto - pos;
        pos = upto;
        if (r == w->n_rolls)
            break;
        step = "fdatasync";
        if (wal_datasync(w->fd) != CEP_OK)
            goto fail;
        step = "create a segment";
        int fd = wal_seg_create(w, upto);
        if (fd < 0)
            goto fail;
        if (w->fd != old_fd)
            close(w->fd);
        w->fd = fd;
        wal_seg_add(w, upto, 0);
        made = true;
        step = "write";
    }
    step = "fdatasync";
    if (wal_datasync(w->fd) != CEP_OK)
        goto fail;
    step = "fsync the directory";
    if (made && fsync(w->dir_fd) != 0)
        goto fail;
    if (w->fd != old_fd)
        close(old_fd);
    w->durable = end;
    w->pend_len = 0;
    w->n_rolls = 0;
    return CEP_OK;
fail:
    snprintf(err, errlen, "%s: %s at offset %" PRIu64 ": %s", w->dir, step, pos, strerror(errno));
    wal_sync_undo(w, old_n, old_fd, old_len);
    return CEP_ERR;
}

uint64_t wal_start(const struct wal *w)
{
    return w->segs[0].start;
}

uint64_t wal_end(const struct wal *w)
{
    return w->durable;
}

uint64_t wal_tail(const struct wal *w)
{
    return w->durable + w->pend_len;
}

size_t wal_trim(struct wal *w, uint64_t pos)
{
    size_t n = 0;
    while (n + 1 < w->n_segs && w->segs[n + 1].start <= pos) {
        char path[4096];
        wal_seg_path(w, w->segs[n].start, path, sizeof(path));
        if (unlink(path) != 0) {
            cep_log(CEP_LOG_WARN, "write-ahead log %s: cannot delete %s: %s", w->dir, path,
                    strerror(errno));
            break;
        }
        if (w->rfd >= 0 && w->rfd_start == w->segs[n].start)
            wal_rclose(w);
        n++;
    }
    if (n == 0)
        return 0;
    memmove(w->segs, w->segs + n, (w->n_segs - n) * sizeof(*w->segs));
    w->n_segs -= n;
    if (fsync(w->dir_fd) != 0)
        cep_log(CEP_LOG_WARN, "write-ahead log %s: fsync the directory: %s", w->dir,
                strerror(errno));
    return n;
}

size_t wal_n_segments(const struct wal *w)
{
    return w->n_segs;
}
