/* SPDX-License-Identifier: Apache-2.0
 * `cepd replay`: run rules over JSON-lines files (or stdin) and print the
 * alerts, one JSON object per line; with --format regex or syslog, over raw
 * lines decoded as a source with that format would (src/io/format.c).  Bad
 * lines are dead-lettered with their reason and position and never stop
 * the replay.
 * Tested by: tests/cli/run.sh, README commands */
#include "cepd/cep_common.h"
#include "dmn_int.h"

#include "cepd/cfg.h"
#include "cepd/eng.h"
#include "cepd/io.h"
#include "cepd/lookup.h"
#include "cepd/sbuf.h"
#include "cepd/src_lines.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char dmn_replay_help[] =
        "usage: cepd replay --rules RULES [--rules RULES...] [OPTIONS] [[--stream NAME] FILE...]\n"
        "Run rules over JSON-lines (or raw) input and print alerts as JSON lines on stdout.\n"
        "  -r, --rules RULES      rule file, directory or glob (repeatable)\n"
        "  -s, --stream NAME      stream for the files that follow (default: default)\n"
        "  -c, --config FILE      use the config's stream settings, rule selection and\n"
        "                         lookup tables\n"
        "  --lookup NAME=TYPE:PATH  a lookup table (TYPE csv, json or cidr; repeatable)\n"
        "  --at-eof flush|drain   end of input: flush = infinite watermark (default);\n"
        "                         drain = release buffered events, fire nothing later\n"
        "  --late FILE            write events behind the watermark here (JSON lines)\n"
        "  --dead-letter FILE     write rejected lines here as JSON (default: stderr)\n"
        "  --max-line-bytes N     longest accepted line (default 1048576)\n"
        "  --format json|regex|syslog  how input lines are decoded, as a source's\n"
        "                         `format` (default json)\n"
        "  --pattern RE           regex: PCRE2 with named groups for the fields;\n"
        "                         syslog: optional, run on msg for more fields\n"
        "  --stats                print counters per rule to stderr at the end\n"
        "FILE '-' (or no FILE) reads stdin.\n";

struct dmn_replay_input {
    const char *path;
    const char *stream;
};

struct dmn_replay {
    FILE *out;
    FILE *dead;     /* NULL: human-readable lines on stderr */
    FILE *late;
    struct sbuf tmp;
};

static void dmn_replay_alert(void *ud, const struct eng_alert *a)
{
    struct dmn_replay *rp = ud;
    fwrite(a->json, 1, a->len, rp->out);
    fputc('\n', rp->out);
}

static void dmn_replay_late(void *ud, const struct evt *ev)
{
    struct dmn_replay *rp = ud;
    if (!rp->late)
        return;
    sbuf_reset(&rp->tmp);
    evt_text_append(ev, &rp->tmp);
    fwrite(rp->tmp.buf, 1, rp->tmp.len, rp->late);
    fputc('\n', rp->late);
}

static void dmn_replay_dead_letter(struct dmn_replay *rp, const char *src, const struct src_line *l,
                                   const char *reason, size_t at)
{
    if (!rp->dead) {
        fprintf(stderr, "cepd: %s:%" PRIu64 ": rejected line (byte %" PRIu64 "): %s\n", src,
                l->line_no, l->offset + at, reason);
        return;
    }
    sbuf_reset(&rp->tmp);
    dmn_dead_letter_json(&rp->tmp, src, l, reason, at);
    fwrite(rp->tmp.buf, 1, rp->tmp.len, rp->dead);
}

/* Feed one input, decoded by fmt, to the engine.  Returns CEP_ERR on a
 * read error. */
static int dmn_replay_input(struct eng *eng, struct io_format *fmt, struct dmn_replay *rp,
                            uint32_t stream, const char *path, int fd, size_t max_line)
{
    struct eng_decoded dec;
    struct src_lines rd;
    struct src_line l;
    struct eng_reject rej;
    int rc;
    src_lines_init(&rd, fd, max_line);
    while ((rc = src_lines_next(&rd, true, &l)) == 1) {
        if (l.too_long) {
            eng_note_rejected(eng);
            dmn_replay_dead_letter(rp, path, &l, "line longer than max_line_bytes", l.len);
            continue;
        }
        if (l.len == 0 || (l.len == 1 && l.data[0] == '\r'))
            continue; /* blank lines are separators, not events */
        if (io_format_decode(fmt, l.data, l.len, &dec, &rej) != CEP_OK) {
            eng_note_rejected(eng); /* the engine's counters cover every line */
            dmn_replay_dead_letter(rp, path, &l, rej.reason, rej.offset);
        } else if (eng_push_decoded(eng, stream, &dec, path, l.offset, &rej) != CEP_OK) {
            dmn_replay_dead_letter(rp, path, &l, rej.reason, rej.offset);
        }
    }
    if (rc < 0)
        fprintf(stderr, "cepd: read %s: %s\n", path, strerror(errno));
    src_lines_free(&rd);
    return rc < 0 ? CEP_ERR : CEP_OK;
}

static void dmn_replay_print_stats(const struct eng *eng, const struct ruleset *rs)
{
    const struct eng_stats *s = eng_stats(eng);
    fprintf(stderr,
            "lines %" PRIu64 ", events %" PRIu64 ", rejected %" PRIu64 ", late %" PRIu64
            ", derived %" PRIu64 ", alerts %" PRIu64 "\n",
            s->lines, s->events, s->rejected, s->late, s->derived, s->alerts);
    fprintf(stderr, "%-32s %10s %10s %10s %10s %10s %10s %10s %10s %10s %10s %10s %10s %12s\n",
            "rule", "evaluated", "matched", "alerts", "emitted", "type_err", "re_limit",
            "timed_out", "evicted", "partial", "throttled", "expired", "keys", "state_bytes");
    for (size_t i = 0; i < rs->n_rules; i++) {
        const struct eng_rule_stats *r = eng_rule_stats(eng, i);
        fprintf(stderr,
                "%-32s %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10" PRIu64
                " %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10zu %10" PRIu64 " %10" PRIu64
                " %10zu %12zu\n",
                rs->rules[i]->id, r->evaluated, r->matched, r->alerts, r->emitted,
                r->expr.type_mismatch, r->expr.regex_limit, r->timed_out, r->evicted,
                eng_rule_partials(eng, i), r->throttled, r->expired, eng_rule_keys(eng, i),
                eng_rule_state_bytes(eng, i));
    }
}

static FILE *dmn_open_out(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        fprintf(stderr, "cepd: open %s: %s\n", path, strerror(errno));
    return f;
}

int dmn_cmd_replay(int argc, char **argv)
{
    struct dmn_paths rules = {0};
    struct dmn_replay_input *inputs = cep_calloc((size_t)argc, sizeof(*inputs));
    size_t n_inputs = 0;
    const char *stream = "default", *late_path = NULL, *dead_path = NULL;
    enum eng_eof at_eof = ENG_EOF_FLUSH;
    bool stats = false;
    size_t max_line = SRC_LINES_DEFAULT_MAX;
    int rc = DMN_EXIT_OK;
    const char *config = NULL;
    struct cfg *cfg = NULL;
    struct lookup_spec *cli_lookups = NULL;
    size_t n_cli_lookups = 0, cli_lookups_cap = 0;
    struct lookup_reg *lookups = NULL;
    struct rule_load_opts opts = {0};
    char fmt_name[] = "replay";
    struct cfg_source fmt_cfg = {.name = fmt_name, .format = CFG_FMT_JSON};
    struct io_format *fmt = NULL;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_arg = i + 1 < argc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(dmn_replay_help, stdout);
            goto done;
        } else if ((strcmp(a, "--rules") == 0 || strcmp(a, "-r") == 0) && has_arg) {
            if (dmn_expand_rules(argv[++i], &rules) != CEP_OK)
                rc = DMN_EXIT_RULES;
        } else if ((strcmp(a, "--stream") == 0 || strcmp(a, "-s") == 0) && has_arg) {
            stream = argv[++i];
        } else if ((strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) && has_arg) {
            config = argv[++i];
        } else if (strcmp(a, "--lookup") == 0 && has_arg) {
            char err[256];
            CEP_GROW(cli_lookups, cli_lookups_cap, n_cli_lookups + 1);
            if (lookup_spec_parse_arg(argv[++i], &cli_lookups[n_cli_lookups], err,
                                      sizeof(err)) != CEP_OK) {
                fprintf(stderr, "cepd replay: --lookup: %s\n", err);
                rc = DMN_EXIT_USAGE;
                goto done;
            }
            n_cli_lookups++;
        } else if (strcmp(a, "--at-eof") == 0 && has_arg) {
            const char *m = argv[++i];
            if (strcmp(m, "flush") == 0) {
                at_eof = ENG_EOF_FLUSH;
            } else if (strcmp(m, "drain") == 0) {
                at_eof = ENG_EOF_DRAIN;
            } else {
                fprintf(stderr, "cepd replay: --at-eof takes flush or drain, not '%s'\n", m);
                rc = DMN_EXIT_USAGE;
                goto done;
            }
        } else if (strcmp(a, "--late") == 0 && has_arg) {
            late_path = argv[++i];
        } else if (strcmp(a, "--dead-letter") == 0 && has_arg) {
            dead_path = argv[++i];
        } else if (strcmp(a, "--max-line-bytes") == 0 && has_arg) {
            char *end;
            unsigned long long v = strtoull(argv[++i], &end, 10);
            if (*end || v == 0 || v > CFG_MAX_LINE_BYTES_LIMIT) {
                fprintf(stderr, "cepd replay: bad --max-line-bytes '%s'\n", argv[i]);
                rc = DMN_EXIT_USAGE;
                goto done;
            }
            max_line = (size_t)v;
        } else if (strcmp(a, "--format") == 0 && has_arg) {
            const char *m = argv[++i];
            int f = cfg_format_parse(m);
            if (f >= 0) {
                fmt_cfg.format = (enum cfg_format)f;
            } else {
                fprintf(stderr, "cepd replay: --format takes json, regex or syslog, not '%s'\n",
                        m);
                rc = DMN_EXIT_USAGE;
                goto done;
            }
        } else if (strcmp(a, "--pattern") == 0 && has_arg) {
            fmt_cfg.pattern = argv[++i];
        } else if (strcmp(a, "--stats") == 0) {
            stats = true;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "cepd replay: unknown option or missing argument '%s'\n", a);
            fputs(dmn_replay_help, stderr);
            rc = DMN_EXIT_USAGE;
            goto done;
        } else {
            inputs[n_inputs].path = a;
            inputs[n_inputs++].stream = stream;
        }
    }
    if (rc != DMN_EXIT_OK)
        goto done;
    if (!rules.n) {
        fputs(dmn_replay_help, stderr);
        rc = DMN_EXIT_USAGE;
        goto done;
    }
    if (!n_inputs) {
        inputs[0].path = "-";
        inputs[n_inputs++].stream = stream;
    }
    if (fmt_cfg.format == CFG_FMT_REGEX && !fmt_cfg.pattern) {
        fputs("cepd replay: --format regex needs --pattern\n", stderr);
        rc = DMN_EXIT_USAGE;
        goto done;
    }
    if (fmt_cfg.format == CFG_FMT_JSON && fmt_cfg.pattern) {
        fputs("cepd replay: --pattern needs --format regex or syslog\n", stderr);
        rc = DMN_EXIT_USAGE;
        goto done;
    }
    char fmt_err[256];
    size_t fmt_err_off = 0;
    if (fmt_cfg.pattern && io_format_pattern_check(fmt_cfg.pattern, &fmt_err_off, fmt_err,
                                                   sizeof(fmt_err)) != CEP_OK) {
        fprintf(stderr, "cepd replay: --pattern at offset %zu: %s\n", fmt_err_off, fmt_err);
        rc = DMN_EXIT_USAGE;
        goto done;
    }
    fmt = io_format_new(&fmt_cfg, fmt_err, sizeof(fmt_err));
    CEP_ASSERT(fmt); /* the pattern compiled above */

    if (config) {
        cfg = dmn_load_cfg(config, stderr);
        if (!cfg) {
            rc = DMN_EXIT_RULES;
            goto done;
        }
        cfg_rule_load_opts(cfg, &opts);
    }
    lookups = dmn_load_lookups(cfg ? cfg->lookups : NULL, cfg ? cfg->n_lookups : 0, cli_lookups,
                               n_cli_lookups, stderr);
    if (!lookups) {
        rc = DMN_EXIT_RULES;
        goto done;
    }
    opts.lookups = lookups;
    struct ruleset *rs = dmn_load_rules(&rules, &opts);
    if (!rs) {
        rc = DMN_EXIT_RULES;
        goto done;
    }
    struct dmn_replay rp = {.out = stdout};
    sbuf_init(&rp.tmp);
    if ((dead_path && !(rp.dead = dmn_open_out(dead_path))) ||
        (late_path && !(rp.late = dmn_open_out(late_path)))) {
        rc = DMN_EXIT_USAGE;
        goto close;
    }
    static char out_buf[1 << 20];
    setvbuf(stdout, out_buf, _IOFBF, sizeof(out_buf));
    struct eng_output out = {.ud = &rp, .alert = dmn_replay_alert, .late = dmn_replay_late};
    struct eng *eng = eng_new(rs, &out);
    for (size_t i = 0; i < n_inputs && rc == DMN_EXIT_OK; i++) {
        int s = ruleset_find_stream(rs, inputs[i].stream);
        if (s < 0) {
            fprintf(stderr, "cepd replay: no rule reads stream '%s' (input %s)\n",
                    inputs[i].stream, inputs[i].path);
            rc = DMN_EXIT_USAGE;
            break;
        }
        bool is_stdin = strcmp(inputs[i].path, "-") == 0;
        int fd = is_stdin ? STDIN_FILENO : open(inputs[i].path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            fprintf(stderr, "cepd replay: open %s: %s\n", inputs[i].path, strerror(errno));
            rc = DMN_EXIT_USAGE;
            break;
        }
        if (dmn_replay_input(eng, fmt, &rp, (uint32_t)s, is_stdin ? "stdin" : inputs[i].path,
                             fd, max_line) != CEP_OK)
            rc = DMN_EXIT_USAGE;
        if (!is_stdin)
            close(fd);
    }
    eng_finish(eng, at_eof);
    fflush(stdout);
    if (stats)
        dmn_replay_print_stats(eng, rs);
    eng_free(eng);
close:
    if (rp.dead)
        fclose(rp.dead);
    if (rp.late)
        fclose(rp.late);
    sbuf_free(&rp.tmp);
    ruleset_free(rs);
done:
    io_format_free(fmt);
    lookup_reg_free(lookups);
    lookup_specs_free(cli_lookups, n_cli_lookups);
    cfg_free(cfg);
    cep_free(inputs);
    dmn_paths_free(&rules);
    return rc;
}
