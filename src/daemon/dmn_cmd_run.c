/* SPDX-License-Identifier: Apache-2.0
 * `cepd run -c FILE`: the configured pipeline in the foreground.  This
 * milestone runs file sources (followed like tail -F: rotation by rename
 * or truncation reopens from the start) and stdin, and stdout and file
 * sinks; the libevent daemon with network sources and sinks, reload,
 * checkpoints and metrics replaces this loop in the daemon milestone.
 * Signals only set flags: SIGTERM/SIGINT stop after the current batch,
 * SIGUSR1 reopens file sinks, SIGHUP is logged (reload comes with the
 * daemon milestone) and never kills the process.
 * Tested by: tests/cli/run.sh */
#include "cepd/cep_common.h"
#include "dmn_int.h"

#include "cepd/cfg.h"
#include "cepd/eng.h"
#include "cepd/sbuf.h"
#include "cepd/src_lines.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char dmn_run_help[] =
        "usage: cepd run -c CONFIG [--log-level LEVEL]\n"
        "Run the sources, rules and sinks of CONFIG in the foreground until\n"
        "SIGTERM or SIGINT (or until every source has ended, for stdin).\n"
        "  -c, --config FILE   configuration (see cepd.yaml(5))\n"
        "  --log-level LEVEL   error, warn, notice (default), info or debug\n";

#define DMN_RUN_BATCH     4096 /* lines per source per turn */
#define DMN_RUN_IDLE_NS   (100 * 1000 * 1000)
#define DMN_RUN_REOPEN_US (1000 * 1000)

static volatile sig_atomic_t dmn_stop_flag;
static volatile sig_atomic_t dmn_reopen_flag;
static volatile sig_atomic_t dmn_hup_flag;

static void dmn_on_stop(int sig)
{
    CEP_UNUSED(sig);
    dmn_stop_flag = 1;
}

static void dmn_on_reopen(int sig)
{
    CEP_UNUSED(sig);
    dmn_reopen_flag = 1;
}

static void dmn_on_hup(int sig)
{
    CEP_UNUSED(sig);
    dmn_hup_flag = 1;
}

struct dmn_sink {
    const struct cfg_sink *cfg;
    FILE *f;
    uint64_t written;
};

struct dmn_source {
    const struct cfg_source *cfg;
    uint32_t stream;
    int fd;            /* -1: not open (file missing: retried) */
    bool open;
    bool done;         /* stdin at EOF */
    dev_t dev;
    ino_t ino;
    struct src_lines rd;
    int64_t retry_at;  /* when to try opening again */
    bool warned;
};

struct dmn_run {
    struct cfg *cfg;
    struct ruleset *rs;
    struct dmn_sink *sinks;
    size_t n_sinks;
    size_t **rule_sinks;  /* per rule: sink indexes, ended by SIZE_MAX */
    FILE *dead;
    struct sbuf tmp;
    uint64_t rejected_logged;
};

static int64_t dmn_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * CEP_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static void dmn_run_alert(void *ud, const struct eng_alert *a)
{
    struct dmn_run *run = ud;
    for (const size_t *s = run->rule_sinks[a->rule_index]; *s != SIZE_MAX; s++) {
        struct dmn_sink *sk = &run->sinks[*s];
        fwrite(a->json, 1, a->len, sk->f);
        fputc('\n', sk->f);
        sk->written++;
    }
}

static FILE *dmn_sink_open(const struct cfg_sink *c)
{
    if (c->type == CFG_SINK_STDOUT)
        return stdout;
    FILE *f = fopen(c->path, "a");
    if (!f)
        cep_log(CEP_LOG_ERROR, "sink %s: open %s: %s", c->name, c->path, strerror(errno));
    return f;
}

static void dmn_sinks_flush(struct dmn_run *run)
{
    for (size_t i = 0; i < run->n_sinks; i++)
        if (run->sinks[i].f)
            fflush(run->sinks[i].f);
    if (run->dead)
        fflush(run->dead);
}

/* Reopen file sinks (after logrotate moved them).  A sink that cannot be
 * reopened keeps writing to the file it had, so no alert is lost. */
static void dmn_sinks_reopen(struct dmn_run *run)
{
    for (size_t i = 0; i < run->n_sinks; i++) {
        struct dmn_sink *sk = &run->sinks[i];
        if (sk->cfg->type != CFG_SINK_FILE)
            continue;
        FILE *f = dmn_sink_open(sk->cfg);
        if (!f) {
            cep_log(CEP_LOG_ERROR, "sink %s: keeping the old file open", sk->cfg->name);
            continue;
        }
        fclose(sk->f);
        sk->f = f;
    }
    cep_log(CEP_LOG_NOTICE, "reopened file sinks");
}

/* Resolve each rule's sinks (its own list or default_sinks) to indexes.
 * Returns CEP_ERR after logging a rule that names an unknown sink. */
static int dmn_run_route(struct dmn_run *run)
{
    int rc = CEP_OK;
    run->rule_sinks = cep_calloc(run->rs->n_rules + 1, sizeof(*run->rule_sinks));
    for (size_t r = 0; r < run->rs->n_rules; r++) {
        const struct rule *rule = run->rs->rules[r];
        char **names = rule->sinks ? rule->sinks : run->cfg->default_sinks;
        size_t n = rule->sinks ? rule->n_sinks : run->cfg->n_default_sinks;
        size_t *idx = cep_malloc((n + 1) * sizeof(*idx)), k = 0;
        for (size_t i = 0; i < n; i++) {
            size_t s = 0;
            while (s < run->n_sinks && strcmp(run->sinks[s].cfg->name, names[i]) != 0)
                s++;
            if (s == run->n_sinks) {
                cep_log(CEP_LOG_ERROR, "%s:%u: rule %s names sink '%s', which the config lacks",
                        rule->file, rule->line, rule->id, names[i]);
                rc = CEP_ERR;
                continue;
            }
            idx[k++] = s;
        }
        idx[k] = SIZE_MAX;
        run->rule_sinks[r] = idx;
    }
    return rc;
}

static void dmn_source_close(struct dmn_source *s)
{
    if (!s->open)
        return;
    src_lines_free(&s->rd);
    if (s->fd != STDIN_FILENO)
        close(s->fd);
    s->open = false;
    s->fd = -1;
}

static void dmn_source_open(struct dmn_source *s, size_t max_line)
{
    if (s->cfg->type == CFG_SRC_STDIN) {
        s->fd = STDIN_FILENO;
    } else {
        s->fd = open(s->cfg->path, O_RDONLY | O_CLOEXEC);
        if (s->fd < 0) {
            if (!s->warned)
                cep_log(CEP_LOG_WARN, "source %s: open %s: %s (retrying)", s->cfg->name,
                        s->cfg->path, strerror(errno));
            s->warned = true;
            s->retry_at = dmn_mono_us() + DMN_RUN_REOPEN_US;
            return;
        }
        struct stat st;
        if (fstat(s->fd, &st) == 0) {
            s->dev = st.st_dev;
            s->ino = st.st_ino;
        }
        if (s->warned)
            cep_log(CEP_LOG_NOTICE, "source %s: opened %s", s->cfg->name, s->cfg->path);
        s->warned = false;
    }
    src_lines_init(&s->rd, s->fd, s->cfg->max_line_bytes ? s->cfg->max_line_bytes : max_line);
    s->open = true;
}

/* At EOF of a followed file: reopen when the path now names another file
 * (rotation by rename), or rewind when the file shrank (truncation). */
static void dmn_source_check_rotation(struct dmn_source *s, size_t max_line)
{
    struct stat path_st, fd_st;
    if (stat(s->cfg->path, &path_st) != 0)
        return; /* renamed away, new one not there yet: keep reading the old */
    if (path_st.st_ino != s->ino || path_st.st_dev != s->dev) {
        cep_log(CEP_LOG_INFO, "source %s: %s rotated, reopening", s->cfg->name, s->cfg->path);
        dmn_source_close(s);
        dmn_source_open(s, max_line);
        return;
    }
    if (fstat(s->fd, &fd_st) == 0 && (uint64_t)fd_st.st_size < s->rd.base + s->rd.end) {
        cep_log(CEP_LOG_INFO, "source %s: %s truncated, reading from the start", s->cfg->name,
                s->cfg->path);
        lseek(s->fd, 0, SEEK_SET);
        dmn_source_close(s);
        dmn_source_open(s, max_line);
    }
}

static void dmn_run_reject(struct dmn_run *run, const struct dmn_source *s,
                           const struct src_line *l, const char *reason, size_t at)
{
    if (run->dead) {
        sbuf_reset(&run->tmp);
        dmn_dead_letter_json(&run->tmp, s->cfg->name, l, reason, at);
        fwrite(run->tmp.buf, 1, run->tmp.len, run->dead);
        return;
    }
    /* No dead-letter file: log the first few, then only count. */
    if (run->rejected_logged++ < 10)
        cep_log(CEP_LOG_WARN, "source %s: line %" PRIu64 " rejected: %s", s->cfg->name,
                l->line_no, reason);
}

/* Read up to a batch from one source.  Returns lines read. */
static size_t dmn_source_poll(struct dmn_run *run, struct eng *eng, struct dmn_source *s)
{
    size_t max_line = run->cfg->max_line_bytes;
    if (s->done)
        return 0;
    if (!s->open) {
        if (dmn_mono_us() < s->retry_at)
            return 0;
        dmn_source_open(s, max_line);
        if (!s->open)
            return 0;
    }
    bool final = s->cfg->type == CFG_SRC_STDIN;
    size_t n = 0;
    struct src_line l;
    struct eng_reject rej;
    int rc = 0;
    while (n < DMN_RUN_BATCH && (rc = src_lines_next(&s->rd, final, &l)) == 1) {
        n++;
        if (l.too_long) {
            eng_note_rejected(eng);
            dmn_run_reject(run, s, &l, "line longer than max_line_bytes", l.len);
            continue;
        }
        if (l.len == 0 || (l.len == 1 && l.data[0] == '\r'))
            continue;
        if (eng_push_line(eng, s->stream, l.data, l.len, s->cfg->name, l.offset, &rej) != CEP_OK)
            dmn_run_reject(run, s, &l, rej.reason, rej.offset);
    }
    if (rc < 0) {
        cep_log(CEP_LOG_ERROR, "source %s: read: %s (reopening)", s->cfg->name, strerror(errno));
        dmn_source_close(s);
        s->retry_at = dmn_mono_us() + DMN_RUN_REOPEN_US;
    } else if (rc == 0 && n < DMN_RUN_BATCH) {
        if (final) {
            s->done = true;
            dmn_source_close(s);
        } else {
            dmn_source_check_rotation(s, max_line);
        }
    }
    return n;
}

static int dmn_run_parse_args(int argc, char **argv, const char **config)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(dmn_run_help, stdout);
            return DMN_EXIT_OK + 100;
        }
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
            *config = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            *config = argv[i] + 9;
        } else if (strcmp(argv[i], "--log-level") == 0 && i + 1 < argc) {
            int level = cep_log_level_parse(argv[++i]);
            if (level < 0) {
                fprintf(stderr, "cepd run: unknown log level '%s'\n", argv[i]);
                return DMN_EXIT_USAGE;
            }
            cep_log_threshold = level;
        } else {
            fprintf(stderr, "cepd run: unknown option or missing argument '%s'\n", argv[i]);
            fputs(dmn_run_help, stderr);
            return DMN_EXIT_USAGE;
        }
    }
    if (!*config) {
        fputs(dmn_run_help, stderr);
        return DMN_EXIT_USAGE;
    }
    return DMN_EXIT_OK;
}

/* Check that this build can run every configured source and sink. */
static int dmn_run_supported(const struct cfg *c)
{
    static const char *const src_names[CFG_SRC_TYPE_COUNT] = {"file", "stdin", "tcp", "http",
                                                               "redis_stream"};
    static const char *const sink_names[CFG_SINK_TYPE_COUNT] = {"stdout", "file", "redis",
                                                                 "webhook", "stream"};
    int rc = CEP_OK;
    for (size_t i = 0; i < c->n_sources; i++) {
        const struct cfg_source *s = &c->sources[i];
        if ((s->type != CFG_SRC_FILE && s->type != CFG_SRC_STDIN) || s->format != CFG_FMT_JSON) {
            fprintf(stderr, "%s:%u: error: source '%s': type %s with this format is not "
                    "supported by this release (file and stdin sources, json format)\n",
                    c->path, s->line, s->name, src_names[s->type]);
            rc = CEP_ERR;
        }
    }
    for (size_t i = 0; i < c->n_sinks; i++) {
        const struct cfg_sink *s = &c->sinks[i];
        if (s->type != CFG_SINK_STDOUT && s->type != CFG_SINK_FILE) {
            fprintf(stderr, "%s:%u: error: sink '%s': type %s is not supported by this "
                    "release (stdout and file sinks)\n", c->path, s->line, s->name,
                    sink_names[s->type]);
            rc = CEP_ERR;
        }
    }
    return rc;
}

int dmn_cmd_run(int argc, char **argv)
{
    const char *config = NULL;
    int rc = dmn_run_parse_args(argc, argv, &config);
    if (rc != DMN_EXIT_OK)
        return rc == DMN_EXIT_OK + 100 ? DMN_EXIT_OK : rc;

    struct dmn_run run = {0};
    struct diag_list dl;
    diag_list_init(&dl);
    run.cfg = cfg_load(config, &dl);
    diag_print(&dl, stderr);
    diag_list_free(&dl);
    if (!run.cfg)
        return DMN_EXIT_RULES;
    cep_log_threshold = run.cfg->log.level;
    if (dmn_run_supported(run.cfg) != CEP_OK) {
        cfg_free(run.cfg);
        return DMN_EXIT_RULES;
    }
    struct dmn_paths files = {0};
    rc = DMN_EXIT_OK;
    for (size_t i = 0; i < run.cfg->n_rules; i++)
        if (dmn_expand_rules(run.cfg->rules[i], &files) != CEP_OK)
            rc = DMN_EXIT_RULES;
    struct rule_load_opts opts;
    cfg_rule_load_opts(run.cfg, &opts);
    if (rc == DMN_EXIT_OK && !(run.rs = dmn_load_rules(&files, &opts)))
        rc = DMN_EXIT_RULES;
    dmn_paths_free(&files);
    if (rc != DMN_EXIT_OK) {
        cfg_free(run.cfg);
        return rc;
    }

    run.n_sinks = run.cfg->n_sinks;
    run.sinks = cep_calloc(run.n_sinks + 1, sizeof(*run.sinks));
    for (size_t i = 0; i < run.n_sinks; i++) {
        run.sinks[i].cfg = &run.cfg->sinks[i];
        /* A sink that cannot be written would lose every alert routed to
         * it: refuse to start instead. */
        if (!(run.sinks[i].f = dmn_sink_open(&run.cfg->sinks[i])))
            rc = DMN_EXIT_USAGE;
    }
    struct dmn_source *srcs = cep_calloc(run.cfg->n_sources + 1, sizeof(*srcs));
    size_t n_srcs = 0;
    for (size_t i = 0; i < run.cfg->n_sources; i++) {
        const struct cfg_source *c = &run.cfg->sources[i];
        int s = ruleset_find_stream(run.rs, c->stream);
        if (s < 0) {
            cep_log(CEP_LOG_WARN, "source %s: no rule reads stream '%s'; not reading it",
                    c->name, c->stream);
            continue;
        }
        srcs[n_srcs].cfg = c;
        srcs[n_srcs].stream = (uint32_t)s;
        srcs[n_srcs].fd = -1;
        n_srcs++;
    }
    if (run.cfg->dead_letter && !(run.dead = fopen(run.cfg->dead_letter, "a"))) {
        cep_log(CEP_LOG_ERROR, "dead_letter: open %s: %s", run.cfg->dead_letter,
                strerror(errno));
        rc = DMN_EXIT_USAGE;
    }
    sbuf_init(&run.tmp);
    if (rc == DMN_EXIT_OK && dmn_run_route(&run) != CEP_OK)
        rc = DMN_EXIT_RULES;

    struct sigaction sa = {0};
    sa.sa_handler = dmn_on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = dmn_on_reopen;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = dmn_on_hup;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct eng_output out = {.ud = &run, .alert = dmn_run_alert};
    struct eng *eng = eng_new(run.rs, &out);
    if (rc == DMN_EXIT_OK)
        cep_log(CEP_LOG_NOTICE, "running: %zu rules, %zu sources, %zu sinks", run.rs->n_rules,
                n_srcs, run.n_sinks);
    while (rc == DMN_EXIT_OK && !dmn_stop_flag) {
        size_t got = 0, live = 0;
        for (size_t i = 0; i < n_srcs; i++) {
            got += dmn_source_poll(&run, eng, &srcs[i]);
            live += !srcs[i].done;
        }
        if (dmn_reopen_flag) {
            dmn_reopen_flag = 0;
            dmn_sinks_reopen(&run);
        }
        if (dmn_hup_flag) {
            dmn_hup_flag = 0;
            cep_log(CEP_LOG_WARN, "SIGHUP: reload is not in this release; restart to apply "
                    "rule changes (still running)");
        }
        if (!live)
            break;
        eng_tick(eng, eng_now_us());
        if (!got) {
            dmn_sinks_flush(&run);
            struct timespec idle = {0, DMN_RUN_IDLE_NS};
            nanosleep(&idle, NULL);
        }
    }
    eng_finish(eng, ENG_EOF_FLUSH);
    dmn_sinks_flush(&run);
    const struct eng_stats *st = eng_stats(eng);
    cep_log(CEP_LOG_NOTICE,
            "stopping: %" PRIu64 " events, %" PRIu64 " rejected, %" PRIu64 " late, %" PRIu64
            " alerts",
            st->events, st->rejected, st->late, st->alerts);

    eng_free(eng);
    for (size_t i = 0; i < n_srcs; i++)
        dmn_source_close(&srcs[i]);
    cep_free(srcs);
    for (size_t i = 0; i < run.n_sinks; i++)
        if (run.sinks[i].f && run.sinks[i].f != stdout)
            fclose(run.sinks[i].f);
    cep_free(run.sinks);
    for (size_t r = 0; run.rule_sinks && r < run.rs->n_rules; r++)
        cep_free(run.rule_sinks[r]);
    cep_free(run.rule_sinks);
    if (run.dead)
        fclose(run.dead);
    sbuf_free(&run.tmp);
    ruleset_free(run.rs);
    cfg_free(run.cfg);
    return rc;
}
