/* SPDX-License-Identifier: Apache-2.0
 * Checkpoint files: the 48-byte header (layout in include/cepd/ckpt.h),
 * CRC-32C, sections, the atomic write (tmp, fsync, rename, directory
 * fsync), the verifying read, the listing and pruning of a checkpoint
 * directory, mkdir -p (also the WAL's), and fault injection for the write
 * steps (counts shared with forked checkpoint processes).  Invariant: a name
 * chk-N.ckpt only ever denotes a complete, fsynced file; partial writes
 * exist only under chk-N.ckpt.tmp.
 * Tested by: tests/unit/check_ckpt.c, tests/fuzz/fuzz_ckpt.c */
#include "cepd/cep_common.h"
#include "cepd/ckpt.h"
#include "ckpt_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define CKPT_MAGIC     "CEPDCKPT"
#define CKPT_MAGIC_LEN 8
#define CKPT_HDR_LEN   48

/* ---- CRC-32C (Castagnoli, reflected polynomial 0x82f63b78) ------------- */

/* Slicing-by-8 tables, built once; the SSE4.2 crc32 instruction is used
 * instead where the CPU has it. */
static uint32_t ckpt_crc_tab[8][256];
static bool ckpt_crc_hw;
static pthread_once_t ckpt_crc_once = PTHREAD_ONCE_INIT;

static void ckpt_crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        ckpt_crc_tab[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = ckpt_crc_tab[0][i];
        for (int t = 1; t < 8; t++) {
            c = ckpt_crc_tab[0][c & 0xff] ^ (c >> 8);
            ckpt_crc_tab[t][i] = c;
        }
    }
#if defined(__x86_64__)
    ckpt_crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t ckpt_crc_sw(uint32_t c, const uint8_t *p, size_t len)
{
    while (len >= 8) {
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                           (uint32_t)p[3] << 24);
        c = ckpt_crc_tab[7][lo & 0xff] ^ ckpt_crc_tab[6][(lo >> 8) & 0xff] ^
            ckpt_crc_tab[5][(lo >> 16) & 0xff] ^ ckpt_crc_tab[4][lo >> 24] ^
            ckpt_crc_tab[3][p[4]] ^ ckpt_crc_tab[2][p[5]] ^ ckpt_crc_tab[1][p[6]] ^
            ckpt_crc_tab[0][p[7]];
        p += 8;
        len -= 8;
    }
    while (len--)
        c = ckpt_crc_tab[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t ckpt_crc_sse42(uint32_t c, const uint8_t *p,
                                                                 size_t len)
{
    uint64_t c64 = c;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8); /* x86 is little-endian, as the CRC wants */
        c64 = __builtin_ia32_crc32di(c64, w);
        p += 8;
        len -= 8;
    }
    c = (uint32_t)c64;
    while (len--)
        c = __builtin_ia32_crc32qi(c, *p++);
    return c;
}
#endif

uint32_t ckpt_crc32c_sw(uint32_t crc, const void *p, size_t len)
{
    pthread_once(&ckpt_crc_once, ckpt_crc_init);
    return ~ckpt_crc_sw(~crc, p, len);
}

uint32_t ckpt_crc32c(uint32_t crc, const void *p, size_t len)
{
    pthread_once(&ckpt_crc_once, ckpt_crc_init);
#if defined(__x86_64__)
    if (ckpt_crc_hw)
        return ~ckpt_crc_sse42(~crc, p, len);
#endif
    return ~ckpt_crc_sw(~crc, p, len);
}

/* ---- fault injection -------------------------------------------------- */

#ifdef CEPD_FAULT_INJECTION
/* Test-only state: CEPD_FAULT=step:N[,step:N...] parsed at first use or by
 * ckpt_fault_reset, with a call count per listed step.  The counts live in
 * a shared mapping, so the daemon's checkpoint processes (fork) count
 * their steps with the daemon's. */
#define CKPT_FAULTS_MAX 8
struct ckpt_fault_spec {
    char step[16];
    unsigned long nth;
    unsigned long calls;
};
static struct ckpt_fault_spec *ckpt_faults;
static size_t ckpt_n_faults;
static bool ckpt_fault_parsed;

void ckpt_fault_reset(void)
{
    ckpt_fault_parsed = true;
    ckpt_n_faults = 0;
    if (!ckpt_faults) {
        void *m = mmap(NULL, CKPT_FAULTS_MAX * sizeof(*ckpt_faults), PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        CEP_ASSERT(m != MAP_FAILED);
        ckpt_faults = m;
    }
    const char *env = getenv("CEPD_FAULT");
    while (env && *env && ckpt_n_faults < CKPT_FAULTS_MAX) {
        const char *colon = strchr(env, ':');
        if (!colon)
            break;
        size_t len = (size_t)(colon - env);
        char *end;
        unsigned long nth = strtoul(colon + 1, &end, 10);
        if (len > 0 && len < sizeof(ckpt_faults[0].step) && end != colon + 1) {
            memcpy(ckpt_faults[ckpt_n_faults].step, env, len);
            ckpt_faults[ckpt_n_faults].step[len] = '\0';
            ckpt_faults[ckpt_n_faults].nth = nth;
            ckpt_faults[ckpt_n_faults].calls = 0;
            ckpt_n_faults++;
        }
        env = strchr(end, ',');
        if (env)
            env++;
    }
}

bool ckpt_fault(const char *step)
{
    if (!ckpt_fault_parsed)
        ckpt_fault_reset();
    for (size_t i = 0; i < ckpt_n_faults; i++) {
        if (!strcmp(ckpt_faults[i].step, step))
            return __atomic_add_fetch(&ckpt_faults[i].calls, 1, __ATOMIC_RELAXED) ==
                   ckpt_faults[i].nth;
    }
    return false;
}
#else
void ckpt_fault_reset(void)
{
}

bool ckpt_fault(const char *step)
{
    return false;
}
#endif

/* ---- header ------------------------------------------------------------ */

static void ckpt_hdr_encode(uint8_t *b, const struct ckpt_header *h, size_t len, uint32_t crc)
{
    CEP_ASSERT((unsigned)h->kind < CKPT_KIND_COUNT);
    memcpy(b, CKPT_MAGIC, CKPT_MAGIC_LEN);
    ckpt_le_put(b + 8, CKPT_FORMAT_VERSION, 4);
    ckpt_le_put(b + 12, (uint64_t)h->kind, 4);
    ckpt_le_put(b + 16, h->seq, 8);
    ckpt_le_put(b + 24, (uint64_t)h->wall_us, 8);
    ckpt_le_put(b + 32, len, 8);
    ckpt_le_put(b + 40, crc, 4);
    ckpt_le_put(b + 44, ckpt_crc32c(0, b, 44), 4);
}

/* ---- sections ---------------------------------------------------------- */

size_t ckpt_section_begin(struct ckpt_w *w, enum ckpt_section tag)
{
    ckpt_put_uv(w, (uint64_t)tag);
    return ckpt_frame_begin(w);
}

void ckpt_section_end(struct ckpt_w *w, size_t mark)
{
    ckpt_frame_end(w, mark);
}

bool ckpt_section_find(const void *body, size_t len, enum ckpt_section tag, struct ckpt_r *out)
{
    struct ckpt_r r;
    ckpt_r_init(&r, len ? body : "", len);
    while (r.p < r.end) {
        uint64_t t = ckpt_get_uv(&r);
        ckpt_get_frame(&r, out);
        if (r.err) {
            out->err = r.err;
            return false;
        }
        if (t == (uint64_t)tag)
            return true;
    }
    ckpt_r_init(out, r.end, 0);
    return false;
}

/* ---- write ------------------------------------------------------------- */

bool ckpt_inject(const char *step, int e)
{
    if (!ckpt_fault(step))
        return false;
    errno = e;
    return true;
}

/* Write all of p to fd; false with errno set on failure. */
static bool ckpt_write_all(int fd, const void *p, size_t len)
{
    const char *s = p;
    while (len) {
        if (ckpt_inject("write", ENOSPC))
            return false;
        ssize_t n = write(fd, s, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return false;
        if (n == 0) {
            errno = ENOSPC;
            return false;
        }
        s += n;
        len -= (size_t)n;
    }
    return true;
}

int ckpt_mkdirs(const char *dir, unsigned mode)
{
    char p[4096];
    if (snprintf(p, sizeof(p), "%s", dir) >= (int)sizeof(p)) {
        errno = ENAMETOOLONG;
        return CEP_ERR;
    }
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char was = *s;
        *s = '\0';
        if (mkdir(p, (mode_t)mode) != 0 && errno != EEXIST)
            return CEP_ERR;
        *s = was;
        if (!was)
            break;
    }
    struct stat st;
    if (stat(dir, &st) != 0)
        return CEP_ERR;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return CEP_ERR;
    }
    return CEP_OK;
}

/* The directory part of path ("." when it has none), owned. */
static char *ckpt_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return cep_strdup(".");
    if (slash == path)
        return cep_strdup("/");
    return cep_strndup(path, (size_t)(slash - path));
}

static int ckpt_fsync_dir(const char *path, char *err, size_t errlen)
{
    char *dir = ckpt_dirname(path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = CEP_OK;
    if (fd < 0 || ckpt_inject("dirsync", EIO) || fsync(fd) < 0) {
        snprintf(err, errlen, "%s: fsync directory: %s", dir, strerror(errno));
        rc = CEP_ERR;
    }
    if (fd >= 0)
        close(fd);
    cep_free(dir);
    return rc;
}

int ckpt_file_write(const char *path, const struct ckpt_header *h, const void *body,
                    size_t len, char *err, size_t errlen)
{
    char *tmp = cep_asprintf("%s.tmp", path);
    const char *step = "open";
    int fd = -1, rc;
    uint8_t hdr[CKPT_HDR_LEN];
    ckpt_hdr_encode(hdr, h, len, ckpt_crc32c(0, body, len));

    if (ckpt_inject("open", EIO))
        goto fail;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        goto fail;
    step = "write";
    if (!ckpt_write_all(fd, hdr, sizeof(hdr)) || !ckpt_write_all(fd, body, len))
        goto fail;
    step = "fsync";
    if (ckpt_inject("fsync", EIO) || fsync(fd) < 0)
        goto fail;
    step = "close";
    rc = close(fd);
    fd = -1;
    if (rc < 0)
        goto fail;
    step = "rename";
    if (ckpt_inject("rename", EIO) || rename(tmp, path) < 0)
        goto fail;
    cep_free(tmp);
    /* The file is complete under its name; only its durability is in
     * doubt if the directory cannot be synced. */
    return ckpt_fsync_dir(path, err, errlen);

fail:
    snprintf(err, errlen, "%s: %s: %s", tmp, step, strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    cep_free(tmp);
    return CEP_ERR;
}

/* ---- read -------------------------------------------------------------- */

/* Read up to len bytes at the current offset; returns how many were read
 * (fewer at end of file), or -1 with errno. */
static ssize_t ckpt_read_all(int fd, void *p, size_t len)
{
    char *s = p;
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, s + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

int ckpt_file_read(const char *path, struct ckpt_header *h, struct sbuf *body, char *err,
                   size_t errlen)
{
    sbuf_reset(body);
    memset(h, 0, sizeof(*h));
    uint8_t hdr[CKPT_HDR_LEN];
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: open: %s", path, strerror(errno));
        return CEP_ERR;
    }
    if (fstat(fd, &st) < 0) {
        snprintf(err, errlen, "%s: stat: %s", path, strerror(errno));
        goto fail;
    }
    ssize_t got = ckpt_read_all(fd, hdr, sizeof(hdr));
    if (got < 0) {
        snprintf(err, errlen, "%s: read: %s", path, strerror(errno));
        goto fail;
    }
    size_t n = (size_t)got;
    if (memcmp(hdr, CKPT_MAGIC, n < CKPT_MAGIC_LEN ? n : CKPT_MAGIC_LEN) != 0 || n == 0) {
        snprintf(err, errlen, "%s: not a cepd checkpoint", path);
        goto fail;
    }
    if (n >= 12 && ckpt_le_get(hdr + 8, 4) != CKPT_FORMAT_VERSION) {
        snprintf(err, errlen, "%s: format version %" PRIu64 " not supported (this cepd reads %d)",
                 path, ckpt_le_get(hdr + 8, 4), CKPT_FORMAT_VERSION);
        goto fail;
    }
    if (n < CKPT_HDR_LEN) {
        snprintf(err, errlen, "%s: truncated: %zu of %d header bytes", path, n, CKPT_HDR_LEN);
        goto fail;
    }
    if (ckpt_le_get(hdr + 44, 4) != ckpt_crc32c(0, hdr, 44)) {
        snprintf(err, errlen, "%s: header CRC mismatch", path);
        goto fail;
    }
    h->version = CKPT_FORMAT_VERSION;
    uint64_t kind = ckpt_le_get(hdr + 12, 4);
    if (kind >= CKPT_KIND_COUNT) {
        snprintf(err, errlen, "%s: unknown checkpoint kind %" PRIu64, path, kind);
        goto fail;
    }
    h->kind = (enum ckpt_kind)kind;
    h->seq = ckpt_le_get(hdr + 16, 8);
    h->wall_us = (int64_t)ckpt_le_get(hdr + 24, 8);
    h->body_len = ckpt_le_get(hdr + 32, 8);
    h->crc = (uint32_t)ckpt_le_get(hdr + 40, 4);
    uint64_t size = (uint64_t)st.st_size;
    if (h->body_len > size - CKPT_HDR_LEN) {
        snprintf(err, errlen, "%s: truncated: %" PRIu64 " of %" PRIu64 " bytes", path, size,
                 h->body_len + CKPT_HDR_LEN);
        goto fail;
    }
    if (h->body_len < size - CKPT_HDR_LEN) {
        snprintf(err, errlen, "%s: %" PRIu64 " bytes where %" PRIu64 " were expected", path, size,
                 h->body_len + CKPT_HDR_LEN);
        goto fail;
    }
    sbuf_reserve(body, (size_t)h->body_len);
    got = ckpt_read_all(fd, body->buf, (size_t)h->body_len);
    if (got < 0) {
        snprintf(err, errlen, "%s: read: %s", path, strerror(errno));
        goto fail;
    }
    if ((uint64_t)got < h->body_len) {
        /* the file shrank since fstat */
        snprintf(err, errlen, "%s: truncated: %" PRIu64 " of %" PRIu64 " bytes", path,
                 (uint64_t)got + CKPT_HDR_LEN, h->body_len + CKPT_HDR_LEN);
        goto fail;
    }
    body->len = (size_t)h->body_len;
    body->buf[body->len] = '\0';
    if (ckpt_crc32c(0, body->buf, body->len) != h->crc) {
        snprintf(err, errlen, "%s: CRC mismatch", path);
        goto fail;
    }
    close(fd);
    return CEP_OK;

fail:
    close(fd);
    sbuf_reset(body);
    return CEP_ERR;
}

/* ---- directories ------------------------------------------------------- */

/* A periodic checkpoint's name: "chk-" 10 digits ".ckpt"; with tmp, the
 * same followed by ".tmp". */
static bool ckpt_name_is(const char *name, bool tmp)
{
    size_t len = strlen(name);
    if (len != (tmp ? 23 : 19) || strncmp(name, "chk-", 4) != 0 ||
            strncmp(name + 14, tmp ? ".ckpt.tmp" : ".ckpt", tmp ? 9 : 5) != 0)
        return false;
    for (int i = 4; i < 14; i++) {
        if (name[i] < '0' || name[i] > '9')
            return false;
    }
    return true;
}

static int ckpt_name_cmp_desc(const void *a, const void *b)
{
    return strcmp(*(char *const *)b, *(char *const *)a);
}

size_t ckpt_dir_list(const char *dir, char ***names)
{
    *names = NULL;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!ckpt_name_is(de->d_name, false))
            continue;
        CEP_GROW(*names, cap, n + 1);
        (*names)[n++] = cep_strdup(de->d_name);
    }
    closedir(d);
    /* fixed-width numbers: name order is sequence order */
    if (n)
        qsort(*names, n, sizeof(**names), ckpt_name_cmp_desc);
    return n;
}

void ckpt_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cep_free(names[i]);
    cep_free(names);
}

static void ckpt_unlink_in(const char *dir, const char *name)
{
    char *p = cep_asprintf("%s/%s", dir, name);
    if (unlink(p) < 0 && errno != ENOENT)
        cep_log(CEP_LOG_WARN, "%s: unlink: %s", p, strerror(errno));
    cep_free(p);
}

void ckpt_dir_prune(const char *dir, uint32_t retain)
{
    char **names;
    size_t n = ckpt_dir_list(dir, &names);
    for (size_t i = retain; i < n; i++)
        ckpt_unlink_in(dir, names[i]);
    ckpt_names_free(names, n);

    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (ckpt_name_is(de->d_name, true))
            ckpt_unlink_in(dir, de->d_name);
    }
    closedir(d);
}
