/* SPDX-License-Identifier: Apache-2.0
 * `cepd run -c FILE`: the daemon.  Loads the config, its lookup tables and
 * rules (any error: exit 1, every diagnostic printed), opens the sinks and
 * the dead-letter file (any failure: exit 2, since alerts would be lost),
 * starts the sources and the admin HTTP server, and runs everything on one
 * libevent loop (dmn_pipe.c) until SIGTERM/SIGINT or, when every source
 * ends (stdin at EOF), the end of input.  Signals are libevent events, so
 * their work runs in the loop: SIGTERM/SIGINT stop reading, drain and
 * exit 0; SIGUSR1 reopens file sinks, dead-letter files and the log file;
 * SIGHUP reloads
 * (dmn_reload.c).  --daemonize, --pidfile, user:/group: and systemd
 * notifications are dmn_proc.c's.
 * Tested by: tests/daemon/t_core_*.sh, tests/daemon/t_reload*.sh, tests/daemon/t_proc.sh,
 * tests/cli/run.sh */
#include "cepd/cep_common.h"
#include "dmn_int.h"
#include "dmn_proc.h"

#include "cepd/cfg.h"
#include "cepd/eng.h"
#include "cepd/log.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

static const char dmn_run_help[] =
        "usage: cepd run -c CONFIG [--log-level LEVEL] [--daemonize] [--pidfile FILE]\n"
        "                [--from-savepoint PATH]\n"
        "Run the sources, rules and sinks of CONFIG in the foreground until\n"
        "SIGTERM or SIGINT (or until every source has ended, for stdin).\n"
        "SIGHUP reloads the configuration and rules, SIGUSR1 reopens file sinks,\n"
        "dead-letter files and the log file.\n"
        "  -c, --config FILE   configuration (see cepd.yaml(5))\n"
        "  --log-level LEVEL   error, warn, notice (default), info or debug;\n"
        "                      overrides log.level of the configuration\n"
        "  --daemonize         detach from the terminal; returns once the daemon is\n"
        "                      ready (start-up errors still reach this terminal)\n"
        "  --pidfile FILE      write the pid to FILE, locked; refused while another\n"
        "                      cepd holds it\n"
        "  --from-savepoint PATH\n"
        "                      start from the savepoint PATH (cepd savepoint) instead\n"
        "                      of the newest checkpoint of checkpoint.dir; the rules\n"
        "                      may have changed: a rule keeps its state when its id\n"
        "                      and compiled form are unchanged, starts afresh when\n"
        "                      its id is the same but it changed, and the state of a\n"
        "                      rule no longer configured is dropped (the log reports\n"
        "                      each rule not kept). Needs checkpoint.dir; a savepoint\n"
        "                      that cannot be read is an error (exit 2)\n";

static int dmn_run_parse_args(int argc, char **argv, const char **config, int *level,
                              bool *daemonize, const char **pidfile, const char **from)
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
        } else if (strcmp(argv[i], "--daemonize") == 0) {
            *daemonize = true;
        } else if (strcmp(argv[i], "--pidfile") == 0 && i + 1 < argc) {
            *pidfile = argv[++i];
        } else if (strcmp(argv[i], "--from-savepoint") == 0 && i + 1 < argc) {
            *from = argv[++i];
        } else if (strcmp(argv[i], "--log-level") == 0 && i + 1 < argc) {
            *level = cep_log_level_parse(argv[++i]);
            if (*level < 0) {
                fprintf(stderr, "cepd run: unknown log level '%s'\n", argv[i]);
                return DMN_EXIT_USAGE;
            }
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

static void dmn_sig_cb(evutil_socket_t sig, short what, void *ud)
{
    CEP_UNUSED(what);
    struct dmn *d = ud;
    char why[256];
    switch (sig) {
    case SIGTERM:
    case SIGINT:
        cep_log(CEP_LOG_NOTICE, "%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        dmn_notify("STOPPING=1");
        dmn_pipe_stop(d, false);
        break;
    case SIGUSR1:
        dmn_pipe_reopen(d);
        cep_log_reopen();
        break;
    case SIGHUP:
        if (d->stopping)
            break;
        cep_log(CEP_LOG_NOTICE, "SIGHUP: reloading %s", d->config_path);
        dmn_notify("RELOADING=1");
        dmn_reload(d, why, sizeof(why));
        dmn_notify("READY=1");
        break;
    default:
        break;
    }
}

static const int dmn_signals[] = {SIGTERM, SIGINT, SIGUSR1, SIGHUP};

static int dmn_log_target(const struct cfg *c)
{
    switch (c->log.target) {
    case CFG_LOG_SYSLOG:
        return cep_log_open(CEP_LOG_TO_SYSLOG, NULL);
    case CFG_LOG_FILE:
        return cep_log_open(CEP_LOG_TO_FILE, c->log.path);
    default:
        return CEP_OK;
    }
}

int dmn_cmd_run(int argc, char **argv)
{
    const char *config = NULL, *pidfile = NULL, *from = NULL;
    int level = -1;
    bool daemonize = false;
    int rc = dmn_run_parse_args(argc, argv, &config, &level, &daemonize, &pidfile, &from);
    if (rc != DMN_EXIT_OK)
        return rc == DMN_EXIT_OK + 100 ? DMN_EXIT_OK : rc;
    /* The daemon runs in "/" (dmn_proc.h): resolve relative paths first. */
    char config_abs[PATH_MAX], pidfile_abs[PATH_MAX], from_abs[PATH_MAX];
    if (daemonize && (!(config = dmn_proc_abspath(config, config_abs, sizeof(config_abs))) ||
                      (pidfile && !(pidfile = dmn_proc_abspath(pidfile, pidfile_abs,
                                                               sizeof(pidfile_abs)))) ||
                      (from && !(from = dmn_proc_abspath(from, from_abs, sizeof(from_abs))))))
        return DMN_EXIT_USAGE;

    struct dmn d = {0};
    d.config_path = config;
    d.cli_log_level = level;
    d.from_savepoint = from;
    d.dead_fd = -1;
    if ((rc = dmn_gen_load(config, &d.g, stderr)) != DMN_EXIT_OK)
        return rc;
    if (from && !d.g.cfg->checkpoint.dir) {
        fprintf(stderr, "cepd run: --from-savepoint needs checkpoint.dir in %s\n", config);
        dmn_gen_free(&d.g);
        return DMN_EXIT_USAGE;
    }
    cep_log_threshold = level >= 0 ? level : d.g.cfg->log.level;
    /* Detach once the config and rules are known good, so their errors
     * reach the terminal; the pidfile's lock must be taken by the daemon. */
    if (dmn_log_target(d.g.cfg) != CEP_OK || (daemonize && dmn_proc_daemonize() != CEP_OK) ||
        (pidfile && dmn_proc_pidfile(pidfile) != CEP_OK)) {
        dmn_gen_free(&d.g);
        return DMN_EXIT_USAGE;
    }
    signal(SIGPIPE, SIG_IGN);
    d.base = event_base_new();
    CEP_ASSERT(d.base);
    d.started_at = eng_now_us();
    rc = dmn_pipe_open(&d);
    if (rc == DMN_EXIT_OK && dmn_admin_start(&d) != CEP_OK)
        rc = DMN_EXIT_USAGE;
    /* Sources are bound and files open: root is no longer needed. */
    if (rc == DMN_EXIT_OK && dmn_proc_drop_privileges(d.g.cfg->user, d.g.cfg->group) != CEP_OK)
        rc = DMN_EXIT_USAGE;
    if (rc == DMN_EXIT_OK) {
        for (size_t i = 0; i < CEP_ARRAY_LEN(dmn_signals); i++) {
            d.sig_ev[i] = evsignal_new(d.base, dmn_signals[i], dmn_sig_cb, &d);
            CEP_ASSERT(d.sig_ev[i]);
            event_add(d.sig_ev[i], NULL);
        }
        dmn_notify("READY=1");
        event_base_dispatch(d.base);
        dmn_notify("STOPPING=1");
        cep_log(CEP_LOG_NOTICE, "stopped");
    }
    dmn_admin_free(&d);
    /* From here on the daemon is exiting anyway: a late SIGTERM (say, one
     * sent as the input ended) must not kill it with 143 once libevent has
     * put the default handlers back.  Block, free, ignore, unblock. */
    sigset_t stop_sigs, old_mask;
    sigemptyset(&stop_sigs);
    for (size_t i = 0; i < CEP_ARRAY_LEN(dmn_signals); i++)
        sigaddset(&stop_sigs, dmn_signals[i]);
    sigprocmask(SIG_BLOCK, &stop_sigs, &old_mask);
    for (size_t i = 0; i < CEP_ARRAY_LEN(dmn_signals); i++) {
        if (d.sig_ev[i])
            event_free(d.sig_ev[i]);
        signal(dmn_signals[i], SIG_IGN);
    }
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    dmn_pipe_close(&d);
    event_base_free(d.base);
    dmn_proc_pidfile_remove();
    cep_log_close();
    return rc;
}
