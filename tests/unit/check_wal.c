/* SPDX-License-Identifier: Apache-2.0
 * Unit tests for the write-ahead log (src/state/wal.c) on a private temp
 * directory: append/sync/read round trip, nothing readable or kept before
 * a sync, reopen continues the offsets, a torn tail cut at every byte,
 * CRC corruption detected, segment roll-over (and a record larger than a
 * segment), trimming, a failed write (RLIMIT_FSIZE) cut back cleanly,
 * injected write and fdatasync failures (fault-injection builds), and
 * one writer per directory.  Then the tcp source over it, on the test's own
 * event_base and a loopback socket: lines handed over with their WAL
 * offsets and acknowledged "ok N", replayed by the next start before any
 * client, and from a saved position (save_pos/load_pos) only what follows.
 * Every wait is bounded. */
#include "cepd/cep_common.h"
#include "cepd/wal.h"

#include "cepd/cfg.h"
#include "cepd/ckpt.h"
#include "cepd/io.h"
#include "cepd/sbuf.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include <event2/event.h>

static char tdir[256];

static void setup(void)
{
    snprintf(tdir, sizeof(tdir), "%s/check_wal.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR")
                                                                         : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tdir));
    cep_log_threshold = CEP_LOG_ERROR;
}

static void teardown(void)
{
    DIR *d = opendir(tdir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            char p[512];
            if (de->d_name[0] == '.')
                continue;
            snprintf(p, sizeof(p), "%s/%s", tdir, de->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(tdir);
}

static struct wal *open_ok(uint64_t seg_bytes)
{
    char err[512] = "";
    struct wal *w = wal_open(tdir, seg_bytes, err, sizeof(err));
    ck_assert_msg(w != NULL, "wal_open: %s", err);
    return w;
}

static void sync_ok(struct wal *w)
{
    char err[512] = "";
    ck_assert_msg(wal_sync(w, err, sizeof(err)) == CEP_OK, "wal_sync: %s", err);
}

/* The line for record i: "line-<i>" padded with i % 7 x's. */
static size_t line_of(size_t i, char *buf, size_t len)
{
    int n = snprintf(buf, len, "line-%zu", i);
    size_t pad = i % 7;
    memset(buf + n, 'x', pad);
    return (size_t)n + pad;
}

/* Read records from pos, at most max; check they are lines first,
 * first+1, ... with line numbers 100+i, and return how many there were
 * (all of them to the end unless max stopped it). */
static size_t read_max(struct wal *w, uint64_t pos, size_t first, size_t max)
{
    struct wal_rec r;
    char err[512], want[64];
    size_t n = 0;
    int rc = 0;
    while (n < max && (rc = wal_read(w, &pos, &r, err, sizeof(err))) == 1) {
        size_t len = line_of(first + n, want, sizeof(want));
        ck_assert_uint_eq(r.len, len);
        ck_assert(memcmp(r.data, want, len) == 0);
        ck_assert_uint_eq(r.line_no, 100 + first + n);
        n++;
    }
    ck_assert_msg(rc == 0 || n == max, "wal_read: %s", err);
    return n;
}

static size_t read_all(struct wal *w, uint64_t pos, size_t first)
{
    return read_max(w, pos, first, SIZE_MAX);
}

static uint64_t append_line(struct wal *w, size_t i)
{
    char buf[64];
    size_t len = line_of(i, buf, sizeof(buf));
    return wal_append(w, buf, len, 100 + i, false);
}

static void seg_path(uint64_t start, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%020" PRIu64 ".wal", tdir, start);
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

START_TEST(round_trip)
{
    struct wal *w = open_ok(0);
    ck_assert_uint_eq(wal_start(w), 0);
    ck_assert_uint_eq(wal_end(w), 0);
    uint64_t off[20];
    for (size_t i = 0; i < 20; i++)
        off[i] = append_line(w, i);
    uint64_t cut = wal_append(w, "abc", 3, 7, true);
    uint64_t empty = wal_append(w, "", 0, 8, false);
    ck_assert(wal_pending(w));
    ck_assert_uint_eq(wal_end(w), 0);
    uint64_t pos = 0;
    struct wal_rec r;
    char err[256];
    ck_assert_int_eq(wal_read(w, &pos, &r, err, sizeof(err)), 0); /* nothing durable yet */
    sync_ok(w);
    ck_assert(!wal_pending(w));
    ck_assert_uint_eq(wal_end(w), wal_tail(w));
    ck_assert_uint_eq(off[0], 0);
    for (size_t i = 1; i < 20; i++) {
        char buf[64];
        ck_assert_uint_eq(off[i], off[i - 1] + WAL_REC_HDR + line_of(i - 1, buf, sizeof(buf)));
    }
    ck_assert_uint_eq(read_max(w, 0, 0, 20), 20);
    ck_assert_uint_eq(read_max(w, off[3], 3, 17), 17);
    pos = cut;
    ck_assert_int_eq(wal_read(w, &pos, &r, err, sizeof(err)), 1);
    ck_assert(r.too_long && r.len == 3 && memcmp(r.data, "abc", 3) == 0 && r.line_no == 7);
    ck_assert_uint_eq(r.off, cut);
    ck_assert_uint_eq(pos, empty);
    ck_assert_int_eq(wal_read(w, &pos, &r, err, sizeof(err)), 1);
    ck_assert(!r.too_long && r.len == 0 && r.line_no == 8);
    ck_assert_int_eq(wal_read(w, &pos, &r, err, sizeof(err)), 0);
    ck_assert_uint_eq(pos, wal_end(w));
    wal_close(w);
}
END_TEST

START_TEST(unsynced_is_dropped_and_offsets_continue)
{
    struct wal *w = open_ok(0);
    for (size_t i = 0; i < 5; i++)
        append_line(w, i);
    sync_ok(w);
    uint64_t end = wal_end(w);
    append_line(w, 5); /* never synced */
    wal_close(w);
    w = open_ok(0);
    ck_assert_uint_eq(wal_end(w), end);
    ck_assert_uint_eq(read_all(w, 0, 0), 5);
    ck_assert_uint_eq(append_line(w, 5), end);
    append_line(w, 6);
    sync_ok(w);
    wal_close(w);
    w = open_ok(0);
    ck_assert_uint_eq(read_all(w, 0, 0), 7);
    ck_assert_uint_eq(read_all(w, end, 5), 2);
    wal_close(w);
}
END_TEST

/* Cut the only segment at every byte: reopening keeps exactly the records
 * wholly before the cut (a cut header is rewritten), and appends go on at
 * the cut record's offset. */
START_TEST(torn_tail_every_byte)
{
    struct wal *w = open_ok(0);
    uint64_t ends[4];
    for (size_t i = 0; i < 4; i++) {
        append_line(w, i);
        ends[i] = wal_tail(w);
    }
    sync_ok(w);
    wal_close(w);
    char path[512];
    seg_path(0, path, sizeof(path));
    off_t full = file_size(path);
    ck_assert_int_eq(full, (off_t)(WAL_SEG_HDR + ends[3]));
    char *orig = cep_malloc((size_t)full);
    int fd = open(path, O_RDONLY);
    ck_assert_int_eq(read(fd, orig, (size_t)full), full);
    close(fd);
    for (off_t cut = 0; cut < full; cut++) {
        fd = open(path, O_WRONLY | O_TRUNC);
        ck_assert_int_eq(write(fd, orig, (size_t)cut), cut);
        close(fd);
        w = open_ok(0);
        size_t keep = 0;
        while (keep < 4 && (off_t)(WAL_SEG_HDR + ends[keep]) <= cut)
            keep++;
        uint64_t end = keep ? ends[keep - 1] : 0;
        ck_assert_uint_eq(wal_end(w), end);
        ck_assert_uint_eq(read_all(w, 0, 0), keep);
        ck_assert_int_eq(file_size(path), (off_t)(WAL_SEG_HDR + end));
        ck_assert_uint_eq(append_line(w, keep), end);
        sync_ok(w);
        ck_assert_uint_eq(read_all(w, 0, 0), keep + 1);
        wal_close(w);
    }
    cep_free(orig);
}
END_TEST

/* A damaged byte: inside the last segment it is cut at open like a torn
 * tail; inside an older one, reading reports it and wal_skip passes the
 * segment. */
START_TEST(crc_corruption)
{
    struct wal *w = open_ok(40); /* one record per segment */
    uint64_t off[6];
    for (size_t i = 0; i < 6; i++)
        off[i] = append_line(w, i);
    sync_ok(w);
    ck_assert_uint_eq(wal_n_segments(w), 6);
    wal_close(w);
    /* Flip a data byte of record 1 (an older segment). */
    char path[512];
    uint64_t seg1 = off[1];
    seg_path(seg1, path, sizeof(path));
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    char c;
    off_t at = (off_t)(WAL_SEG_HDR + off[1] - seg1 + WAL_REC_HDR + 2);
    ck_assert_int_eq(pread(fd, &c, 1, at), 1);
    c ^= 0x20;
    ck_assert_int_eq(pwrite(fd, &c, 1, at), 1);
    close(fd);
    w = open_ok(40);
    ck_assert_uint_eq(wal_end(w), wal_tail(w));
    uint64_t pos = off[1];
    struct wal_rec r;
    char err[256];
    ck_assert_int_eq(wal_read(w, &pos, &r, err, sizeof(err)), CEP_ERR);
    ck_assert_ptr_nonnull(strstr(err, "CRC mismatch"));
    ck_assert_uint_eq(pos, off[1]);
    pos = wal_skip(w, pos);
    ck_assert_uint_eq(pos, off[2]);
    ck_assert_uint_eq(read_all(w, pos, 2), 4);
    uint64_t end = wal_end(w);
    wal_close(w);
    /* Flip a byte of the last record: cut at open. */
    uint64_t last = off[5];
    seg_path(last, path, sizeof(path));
    fd = open(path, O_RDWR);
    at = (off_t)(WAL_SEG_HDR + WAL_REC_HDR);
    ck_assert_int_eq(pread(fd, &c, 1, at), 1);
    c ^= 0x01;
    ck_assert_int_eq(pwrite(fd, &c, 1, at), 1);
    close(fd);
    w = open_ok(40);
    ck_assert_uint_eq(wal_end(w), last);
    ck_assert_uint_lt(wal_end(w), end);
    ck_assert_uint_eq(read_all(w, off[2], 2), 3);
    wal_close(w);
}
END_TEST

START_TEST(segment_rollover)
{
    struct wal *w = open_ok(100);
    uint64_t off[10];
    for (size_t i = 0; i < 10; i++)
        off[i] = append_line(w, i);
    char big[300];
    memset(big, 'b', sizeof(big));
    uint64_t big_off = wal_append(w, big, sizeof(big), 1, false);
    uint64_t after = append_line(w, 10);
    sync_ok(w);
    /* Every segment holds what fits in 100 bytes; a record never spans
     * two, and the big one has its own. */
    size_t n = wal_n_segments(w);
    /* 10 lines of 22..28 bytes in 100-byte segments, the big one, the last */
    ck_assert_uint_ge(n, 5);
    char path[512];
    seg_path(big_off, path, sizeof(path));
    ck_assert_int_eq(file_size(path), (off_t)(WAL_SEG_HDR + WAL_REC_HDR + sizeof(big)));
    seg_path(after, path, sizeof(path));
    ck_assert_int_gt(file_size(path), 0);
    for (size_t i = 0; i + 1 < 10; i++) {
        seg_path(off[i], path, sizeof(path));
        if (file_size(path) > 0)
            ck_assert_int_le(file_size(path), WAL_SEG_HDR + 100);
    }
    ck_assert_uint_eq(read_max(w, 0, 0, 10), 10);
    wal_close(w);
    w = open_ok(100);
    ck_assert_uint_eq(wal_n_segments(w), n);
    char buf[64];
    ck_assert_uint_eq(wal_end(w), after + WAL_REC_HDR + line_of(10, buf, sizeof(buf)));
    ck_assert_uint_eq(read_max(w, 0, 0, 10), 10);
    wal_close(w);
}
END_TEST

START_TEST(trim)
{
    struct wal *w = open_ok(100);
    uint64_t off[10];
    for (size_t i = 0; i < 10; i++)
        off[i] = append_line(w, i);
    sync_ok(w);
    size_t n = wal_n_segments(w);
    ck_assert_uint_eq(wal_trim(w, 0), 0);
    size_t gone = wal_trim(w, off[5]);
    ck_assert_uint_gt(gone, 0);
    ck_assert_uint_eq(wal_n_segments(w), n - gone);
    ck_assert_uint_le(wal_start(w), off[5]);
    ck_assert_uint_gt(wal_start(w), off[3]);
    char path[512];
    seg_path(0, path, sizeof(path));
    ck_assert_int_eq(file_size(path), -1);
    /* Reading from before the start moves to the oldest record kept. */
    uint64_t pos = 0;
    struct wal_rec r;
    char err[256];
    ck_assert_int_eq(wal_read(w, &pos, &r, err, sizeof(err)), 1);
    ck_assert_uint_eq(r.off, wal_start(w));
    /* The last segment stays, however far the position. */
    wal_trim(w, UINT64_MAX);
    ck_assert_uint_eq(wal_n_segments(w), 1);
    size_t k = 0;
    while (k < 10 && off[k] != wal_start(w))
        k++;
    ck_assert_uint_gt(k, 5);
    ck_assert_uint_lt(k, 10);
    uint64_t end = wal_end(w);
    wal_close(w);
    w = open_ok(100);
    ck_assert_uint_eq(wal_start(w), off[k]);
    ck_assert_uint_eq(wal_end(w), end);
    ck_assert_uint_eq(read_all(w, 0, k), 10 - k);
    ck_assert_uint_eq(append_line(w, 10), end);
    wal_close(w);
}
END_TEST

/* A write that fails (file size limit): nothing of the batch stays, the
 * offsets are reused, and the log works again once writes succeed. */
START_TEST(failed_sync_cut_back)
{
    struct wal *w = open_ok(0);
    for (size_t i = 0; i < 3; i++)
        append_line(w, i);
    sync_ok(w);
    uint64_t end = wal_end(w);
    char path[512];
    seg_path(0, path, sizeof(path));
    off_t size = file_size(path);
    struct rlimit old, lim;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = (rlim_t)size + 20;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    for (size_t i = 3; i < 10; i++)
        append_line(w, i);
    char err[512] = "";
    int rc = wal_sync(w, err, sizeof(err));
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    ck_assert_int_eq(rc, CEP_ERR);
    ck_assert_ptr_nonnull(strstr(err, "write"));
    ck_assert(!wal_pending(w));
    ck_assert_uint_eq(wal_end(w), end);
    ck_assert_uint_eq(wal_tail(w), end);
    ck_assert_int_eq(file_size(path), size);
    ck_assert_uint_eq(append_line(w, 3), end);
    sync_ok(w);
    ck_assert_uint_eq(read_all(w, 0, 0), 4);
    wal_close(w);
}
END_TEST

#ifdef CEPD_FAULT_INJECTION
/* CEPD_FAULT=wal_write:2,wal_sync:3: the second group commit fails at its
 * write, the fourth at its fdatasync (the third one called); both drop
 * only their own records, and the commits around them stay readable. */
START_TEST(injected_faults)
{
    setenv("CEPD_FAULT", "wal_write:2,wal_sync:3", 1);
    ckpt_fault_reset();
    struct wal *w = open_ok(0);
    char err[512];
    int want[5] = {CEP_OK, CEP_ERR, CEP_OK, CEP_ERR, CEP_OK};
    const char *why[5] = {NULL, "write", NULL, "fdatasync", NULL};
    size_t next = 0;
    for (size_t k = 0; k < 5; k++) {
        uint64_t end = wal_end(w);
        append_line(w, next);
        append_line(w, next + 1);
        err[0] = '\0';
        ck_assert_msg(wal_sync(w, err, sizeof(err)) == want[k], "commit %zu: %s", k, err);
        if (why[k]) {
            ck_assert_msg(strstr(err, why[k]) != NULL, "commit %zu: %s", k, err);
            ck_assert_uint_eq(wal_end(w), end);
        } else {
            next += 2;
        }
    }
    unsetenv("CEPD_FAULT");
    ckpt_fault_reset();
    ck_assert_uint_eq(read_all(w, 0, 0), 6);
    wal_close(w);
    w = open_ok(0);
    ck_assert_uint_eq(read_all(w, 0, 0), 6);
    wal_close(w);
}
END_TEST
#endif

START_TEST(one_writer)
{
    struct wal *w = open_ok(0);
    char err[512] = "";
    ck_assert_ptr_null(wal_open(tdir, 0, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "in use"));
    wal_close(w);
    w = open_ok(0);
    wal_close(w);
}
END_TEST

START_TEST(foreign_file_refused)
{
    char path[512];
    seg_path(0, path, sizeof(path));
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("this is not a write-ahead log segment\n", f);
    fclose(f);
    char err[512] = "";
    ck_assert_ptr_null(wal_open(tdir, 0, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "not a cepd write-ahead log segment"));
}
END_TEST

/* ---- the tcp source over its WAL ---- */

#define SRC_LINES_MAX 16

struct seen {
    size_t n;
    uint64_t off[SRC_LINES_MAX], no[SRC_LINES_MAX];
    char data[SRC_LINES_MAX][64];
};

static void seen_line(void *ud, struct io_source *s, const struct io_line *l,
                      struct io_verdict *out)
{
    struct seen *sn = ud;
    CEP_UNUSED(s);
    CEP_UNUSED(out);
    ck_assert_uint_lt(sn->n, SRC_LINES_MAX);
    ck_assert_uint_lt(l->len, 64);
    sn->off[sn->n] = l->offset;
    sn->no[sn->n] = l->line_no;
    memcpy(sn->data[sn->n], l->data, l->len);
    sn->data[sn->n][l->len] = '\0';
    sn->n++;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* Run the loop until the source has handed over want lines (bounded). */
static void run_until(struct event_base *base, const struct seen *sn, size_t want)
{
    for (int i = 0; i < 5000 && sn->n < want; i++) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        poll(NULL, 0, 1);
    }
    ck_assert_uint_eq(sn->n, want);
}

struct tcp_fixture {
    struct cfg_source cfg;
    struct io_source s;
    struct event_base *base;
    struct seen seen;
    char name[8], listen[32], wal_dir[300];
};

/* A tcp source with ack over tdir/wal, positioned by pos when given. */
static void tcp_new(struct tcp_fixture *f, int port, const struct sbuf *pos)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->listen, sizeof(f->listen), "127.0.0.1:%d", port);
    snprintf(f->wal_dir, sizeof(f->wal_dir), "%s/wal", tdir);
    snprintf(f->name, sizeof(f->name), "in");
    f->cfg.name = f->name;
    f->cfg.type = CFG_SRC_TCP;
    f->cfg.listen = f->listen;
    f->cfg.wal_dir = f->wal_dir;
    f->cfg.ack = true;
    f->base = event_base_new();
    io_source_init(&f->s, &f->cfg, f->base, 0);
    f->s.on_line = seen_line;
    f->s.ud = &f->seen;
    if (pos) {
        struct ckpt_r r;
        ckpt_r_init(&r, pos->buf, pos->len);
        ck_assert_int_eq(f->s.ops->load_pos(&f->s, &r), CEP_OK);
    }
    ck_assert_int_eq(f->s.ops->start(&f->s), CEP_OK);
}

static void tcp_free_fixture(struct tcp_fixture *f)
{
    f->s.ops->stop(&f->s);
    f->s.ops->free(&f->s);
    event_base_free(f->base);
}

START_TEST(tcp_source_over_wal)
{
    int port = free_port();
    struct tcp_fixture f;
    tcp_new(&f, port, NULL);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    const char *msg = "{\"a\":1}\n{\"a\":22}\n{\"a\":333}\n";
    ck_assert_int_eq(write(fd, msg, strlen(msg)), (ssize_t)strlen(msg));
    run_until(f.base, &f.seen, 3);
    /* The offsets are WAL offsets: each record is a header and the line. */
    ck_assert_uint_eq(f.seen.off[0], 0);
    ck_assert_uint_eq(f.seen.off[1], WAL_REC_HDR + 7);
    ck_assert_uint_eq(f.seen.off[2], 2 * WAL_REC_HDR + 7 + 8);
    ck_assert_uint_eq(f.seen.no[2], 3);
    ck_assert_str_eq(f.seen.data[1], "{\"a\":22}");
    /* The acknowledgement came with the same group commit. */
    char ack[64] = "";
    ssize_t n = 0;
    for (int i = 0; i < 5000 && n <= 0; i++) {
        event_base_loop(f.base, EVLOOP_NONBLOCK);
        n = recv(fd, ack, sizeof(ack) - 1, MSG_DONTWAIT);
        poll(NULL, 0, 1);
    }
    ck_assert_int_gt(n, 0);
    ck_assert_str_eq(ack, "ok 3\n");
    struct sbuf pos;
    sbuf_init(&pos);
    struct ckpt_w w = {&pos};
    f.s.ops->save_pos(&f.s, 1, &w);
    f.s.ops->committed(&f.s, 1);
    close(fd);
    tcp_free_fixture(&f);

    /* The next start replays the log from its start (no position). */
    tcp_new(&f, port, NULL);
    run_until(f.base, &f.seen, 3);
    ck_assert_uint_eq(f.seen.off[2], 2 * WAL_REC_HDR + 7 + 8);
    ck_assert_str_eq(f.seen.data[2], "{\"a\":333}");
    ck_assert_uint_eq(f.seen.no[0], 1);
    tcp_free_fixture(&f);

    /* From the position saved after line 3: nothing; after line 1: 2 and 3. */
    tcp_new(&f, port, &pos);
    for (int i = 0; i < 20; i++)
        event_base_loop(f.base, EVLOOP_NONBLOCK);
    ck_assert_uint_eq(f.seen.n, 0);
    tcp_free_fixture(&f);
    sbuf_reset(&pos);
    ckpt_put_uv(&w, WAL_REC_HDR + 7);
    tcp_new(&f, port, &pos);
    run_until(f.base, &f.seen, 2);
    ck_assert_uint_eq(f.seen.off[0], WAL_REC_HDR + 7);
    ck_assert_str_eq(f.seen.data[1], "{\"a\":333}");
    tcp_free_fixture(&f);
    sbuf_free(&pos);
    char p[512];
    snprintf(p, sizeof(p), "%s/wal/00000000000000000000.wal", tdir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/wal", tdir);
    rmdir(p);
}
END_TEST

static Suite *wal_suite(void)
{
    Suite *s = suite_create("wal");
    TCase *tc = tcase_create("log");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, unsynced_is_dropped_and_offsets_continue);
    tcase_add_test(tc, torn_tail_every_byte);
    tcase_add_test(tc, crc_corruption);
    tcase_add_test(tc, segment_rollover);
    tcase_add_test(tc, trim);
    tcase_add_test(tc, failed_sync_cut_back);
#ifdef CEPD_FAULT_INJECTION
    tcase_add_test(tc, injected_faults);
#endif
    tcase_add_test(tc, one_writer);
    tcase_add_test(tc, foreign_file_refused);
    suite_add_tcase(s, tc);
    tc = tcase_create("tcp");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, tcp_source_over_wal);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(wal_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
