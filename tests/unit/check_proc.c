/* SPDX-License-Identifier: Apache-2.0
 * Unit tests for src/daemon/dmn_proc.c and the log targets of
 * src/core/cep_log.c: the pidfile (lock, stale, symlink, removal), sd_notify
 * datagrams on a path and an abstract socket, daemonizing with a waiting
 * parent (readiness, start-up errors forwarded), dropping privileges (in a
 * child), and the log file with reopen after rename and a failed reopen. */
#include "cepd/cep_common.h"
#include "cepd/log.h"
#include "dmn_proc.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static char t_dir[256];

static void t_setup(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(t_dir, sizeof(t_dir), "%s/cepd-check-proc.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(t_dir));
}

static void t_teardown(void)
{
    cep_log_close();
    dmn_proc_pidfile_remove();
    unsetenv("NOTIFY_SOCKET");
    char *cmd = cep_asprintf("rm -rf '%s'", t_dir);
    ck_assert_int_eq(system(cmd), 0);
    cep_free(cmd);
}

static char *t_path(const char *name)
{
    return cep_asprintf("%s/%s", t_dir, name);
}

/* The whole file, NUL-terminated; NULL when it cannot be read. */
static char *t_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = cep_calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Run fn in a child process; its exit status. */
static int t_in_child(int (*fn)(const char *), const char *arg)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(fn(arg));
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st));
    return WEXITSTATUS(st);
}

START_TEST(test_pidfile_lock)
{
    char *path = t_path("cepd.pid");
    int go[2], done[2];
    char c;
    ck_assert_int_eq(pipe(go), 0);
    ck_assert_int_eq(pipe(done), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* Another cepd: takes the pidfile, holds it until told, then ends
         * without removing it, as after a crash. */
        c = dmn_proc_pidfile(path) == CEP_OK ? 'y' : 'n';
        if (write(go[1], &c, 1) != 1 || read(done[0], &c, 1) != 1)
            _exit(1);
        _exit(0);
    }
    ck_assert_int_eq(read(go[0], &c, 1), 1);
    ck_assert_int_eq(c, 'y');
    char *got = t_slurp(path), *want = cep_asprintf("%ld\n", (long)pid);
    ck_assert_str_eq(got, want);
    /* Refused while the other holds it; the file is left alone. */
    ck_assert_int_eq(dmn_proc_pidfile(path), CEP_ERR);
    cep_free(got);
    got = t_slurp(path);
    ck_assert_str_eq(got, want);
    ck_assert_int_eq(write(done[1], &c, 1), 1);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* Its owner is gone: the file is stale and ours now. */
    ck_assert_int_eq(dmn_proc_pidfile(path), CEP_OK);
    cep_free(got);
    cep_free(want);
    got = t_slurp(path);
    want = cep_asprintf("%ld\n", (long)getpid());
    ck_assert_str_eq(got, want);
    dmn_proc_pidfile_remove();
    ck_assert_int_eq(access(path, F_OK), -1);
    for (int i = 0; i < 2; i++) {
        close(go[i]);
        close(done[i]);
    }
    cep_free(got);
    cep_free(want);
    cep_free(path);
}
END_TEST

START_TEST(test_pidfile_stale)
{
    char *path = t_path("cepd.pid"), *want = cep_asprintf("%ld\n", (long)getpid());
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("2147483000\nleftover bytes\n", f);
    fclose(f);
    ck_assert_int_eq(dmn_proc_pidfile(path), CEP_OK);
    char *got = t_slurp(path);
    ck_assert_str_eq(got, want);
    cep_free(got);
    cep_free(want);
    cep_free(path);
}
END_TEST

START_TEST(test_pidfile_refuses)
{
    char *target = t_path("target"), *link = t_path("link.pid"), *dir = t_path("d");
    ck_assert_int_eq(symlink(target, link), 0);
    ck_assert_int_eq(dmn_proc_pidfile(link), CEP_ERR);
    ck_assert_int_eq(access(target, F_OK), -1);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    ck_assert_int_eq(dmn_proc_pidfile(dir), CEP_ERR);
    char *missing = t_path("no/such/dir.pid");
    ck_assert_int_eq(dmn_proc_pidfile(missing), CEP_ERR);
    cep_free(missing);
    cep_free(dir);
    cep_free(link);
    cep_free(target);
}
END_TEST

/* A datagram socket bound at addr (abstract when name starts with '@'). */
static int t_notify_socket(const char *name)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    ck_assert_uint_lt(len, sizeof(sa.sun_path));
    memcpy(sa.sun_path, name, len);
    if (name[0] == '@')
        sa.sun_path[0] = '\0';
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa,
                          (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)),
                     0);
    ck_assert_int_eq(setenv("NOTIFY_SOCKET", name, 1), 0);
    return fd;
}

/* The next datagram, or "" if none is waiting. */
static void t_recv(int fd, char *buf, size_t size)
{
    ssize_t n = recv(fd, buf, size - 1, MSG_DONTWAIT);
    buf[n < 0 ? 0 : n] = '\0';
}

START_TEST(test_notify)
{
    char buf[256];
    char *path = t_path("notify.sock");
    int fd = t_notify_socket(path);
    dmn_notify("READY=1");
    t_recv(fd, buf, sizeof(buf));
    ck_assert_str_eq(buf, "READY=1");
    dmn_notify("STATUS=running: 3 rules");
    t_recv(fd, buf, sizeof(buf));
    ck_assert_str_eq(buf, "STATUS=running: 3 rules");
    dmn_notify("RELOADING=1");
    t_recv(fd, buf, sizeof(buf));
    ck_assert_msg(strncmp(buf, "RELOADING=1\nMONOTONIC_USEC=", 27) == 0, "got '%s'", buf);
    char *end;
    long long usec = strtoll(buf + 27, &end, 10);
    ck_assert(usec > 0 && *end == '\0');
    dmn_notify("STOPPING=1");
    t_recv(fd, buf, sizeof(buf));
    ck_assert_str_eq(buf, "STOPPING=1");
    /* Without the variable nothing is sent. */
    unsetenv("NOTIFY_SOCKET");
    dmn_notify("STOPPING=1");
    t_recv(fd, buf, sizeof(buf));
    ck_assert_str_eq(buf, "");
    close(fd);
    cep_free(path);
}
END_TEST

START_TEST(test_notify_abstract)
{
    char buf[256], name[64];
    snprintf(name, sizeof(name), "@cepd-check-proc-%ld", (long)getpid());
    int fd = t_notify_socket(name);
    dmn_notify("READY=1\nSTATUS=ok");
    t_recv(fd, buf, sizeof(buf));
    ck_assert_str_eq(buf, "READY=1\nSTATUS=ok");
    /* A socket that is gone is not an error for the caller. */
    close(fd);
    dmn_notify("STOPPING=1");
}
END_TEST

/* In a child: send stderr to "stderr" in dir, then daemonize.  0, or 10
 * when stderr could not be redirected, 11 when daemonizing failed. */
static int t_daemonize(const char *dir)
{
    char *err = cep_asprintf("%s/stderr", dir);
    int fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
        return 10;
    if (dmn_proc_daemonize() != CEP_OK)
        return 11;
    return 0;
}

/* In a child: daemonize; the daemon records its pid and session in
 * "daemon", then "marker" just before READY=1, and exits.  The child's
 * stderr goes to "stderr".  Returns the child's exit status (the waiting
 * parent's). */
static int t_daemon_ready(const char *dir)
{
    int rc = t_daemonize(dir);
    if (rc != 0)
        return rc;
    /* The daemon. */
    char *info = cep_asprintf("%s/daemon", dir), *marker = cep_asprintf("%s/marker", dir);
    fprintf(stderr, "starting up\n");
    FILE *f = fopen(info, "w");
    if (!f)
        _exit(12);
    fprintf(f, "%ld %ld %ld\n", (long)getpid(), (long)getsid(0), (long)getppid());
    fclose(f);
    char cwd[16];
    if (!getcwd(cwd, sizeof(cwd)) || strcmp(cwd, "/") != 0)
        _exit(13);
    usleep(100000);
    if ((f = fopen(marker, "w")))
        fclose(f);
    dmn_notify("READY=1");
    fprintf(stderr, "after ready: not forwarded\n");
    _exit(0);
}

static int t_daemon_fails(const char *dir)
{
    int rc = t_daemonize(dir);
    if (rc != 0)
        return rc;
    cep_log(CEP_LOG_ERROR, "source x: cannot listen on 127.0.0.1:1: boom");
    _exit(1);
}

START_TEST(test_daemonize_ready)
{
    ck_assert_int_eq(t_in_child(t_daemon_ready, t_dir), 0);
    /* The waiting parent exited only after the daemon's READY=1. */
    char *marker = t_path("marker"), *info = t_path("daemon"), *err = t_path("stderr");
    ck_assert_int_eq(access(marker, F_OK), 0);
    char *text = t_slurp(info);
    ck_assert_ptr_nonnull(text);
    long pid, sid, ppid;
    ck_assert_int_eq(sscanf(text, "%ld %ld %ld", &pid, &sid, &ppid), 3);
    ck_assert_int_ne(pid, getpid());
    ck_assert_int_ne(sid, pid); /* not a session leader: no terminal again */
    ck_assert_int_ne(sid, getsid(0));
    cep_free(text);
    text = t_slurp(err);
    ck_assert_str_eq(text, "starting up\n");
    cep_free(text);
    cep_free(err);
    cep_free(info);
    cep_free(marker);
}
END_TEST

START_TEST(test_daemonize_fails)
{
    ck_assert_int_eq(t_in_child(t_daemon_fails, t_dir), 2);
    char *err = t_path("stderr");
    char *text = t_slurp(err);
    ck_assert_ptr_nonnull(strstr(text, "cepd[error] source x: cannot listen on 127.0.0.1:1: boom\n"));
    ck_assert_ptr_nonnull(strstr(text, "cepd: the daemon exited during start-up"));
    cep_free(text);
    cep_free(err);
}
END_TEST

static int t_child_drop(const char *user)
{
    struct passwd *pw = getpwnam(user);
    if (!pw)
        return 10;
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;
    if (dmn_proc_drop_privileges(user, NULL) != CEP_OK)
        return 1;
    if (getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid)
        return 2;
    if (setuid(0) == 0)
        return 3;
    return 0;
}

START_TEST(test_drop_privileges)
{
    ck_assert_int_eq(dmn_proc_drop_privileges(NULL, NULL), CEP_OK);
    ck_assert_int_eq(dmn_proc_drop_privileges("no-such-user-cepd", NULL), CEP_ERR);
    ck_assert_int_eq(dmn_proc_drop_privileges(NULL, "no-such-group-cepd"), CEP_ERR);
    if (geteuid() == 0) {
        ck_assert_int_eq(t_in_child(t_child_drop, "nobody"), 0);
    } else {
        /* Not root: only the ids we already have are accepted. */
        struct passwd *pw = getpwuid(getuid());
        ck_assert_ptr_nonnull(pw);
        char *me = cep_strdup(pw->pw_name);
        ck_assert_int_eq(dmn_proc_drop_privileges(me, NULL), CEP_OK);
        ck_assert_int_eq(dmn_proc_drop_privileges("root", NULL), CEP_ERR);
        cep_free(me);
    }
}
END_TEST

START_TEST(test_log_file_reopen)
{
    char *path = t_path("cepd.log"), *old = t_path("cepd.log.1");
    ck_assert_int_eq(cep_log_open(CEP_LOG_TO_FILE, path), CEP_OK);
    cep_log(CEP_LOG_ERROR, "first %d", 1);
    ck_assert_int_eq(rename(path, old), 0);
    cep_log(CEP_LOG_ERROR, "second");
    ck_assert_int_eq(cep_log_reopen(), CEP_OK);
    cep_log(CEP_LOG_ERROR, "third");
    char *a = t_slurp(old), *b = t_slurp(path);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    /* 2026-11-24T14:37:44.746Z cepd[error] first 1 */
    ck_assert_uint_eq(strlen(a), strlen("2026-11-24T14:37:44.746Z cepd[error] first 1\n") +
                                         strlen("2026-11-24T14:37:44.746Z cepd[error] second\n"));
    ck_assert_int_eq(a[4], '-');
    ck_assert_int_eq(a[10], 'T');
    ck_assert_int_eq(a[19], '.');
    ck_assert(strncmp(a + 23, "Z cepd[error] first 1\n", 22) == 0);
    ck_assert_ptr_nonnull(strstr(a, "Z cepd[error] second\n"));
    ck_assert_ptr_null(strstr(a, "third"));
    ck_assert_ptr_nonnull(strstr(b, "Z cepd[error] third\n"));
    ck_assert_ptr_null(strstr(b, "second"));
    cep_free(a);
    cep_free(b);
    cep_free(old);
    cep_free(path);
}
END_TEST

START_TEST(test_log_reopen_fails)
{
    char *dir = t_path("logs"), *moved = t_path("logs.old");
    char *path = cep_asprintf("%s/cepd.log", dir), *kept = cep_asprintf("%s/cepd.log", moved);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    ck_assert_int_eq(cep_log_open(CEP_LOG_TO_FILE, path), CEP_OK);
    ck_assert_int_eq(rename(dir, moved), 0);
    /* The directory is gone: the reopen fails and the old file stays. */
    ck_assert_int_eq(cep_log_reopen(), CEP_ERR);
    cep_log(CEP_LOG_WARN, "still here");
    char *text = t_slurp(kept);
    ck_assert_ptr_nonnull(strstr(text, "cepd[error] log: cannot reopen "));
    ck_assert_ptr_nonnull(strstr(text, "(still writing to the old file)\n"));
    ck_assert_ptr_nonnull(strstr(text, "cepd[warn] still here\n"));
    cep_free(text);
    /* A file that cannot be opened at start-up is refused. */
    char *bad = t_path("no/such/dir/cepd.log");
    cep_log_close();
    ck_assert_int_eq(cep_log_open(CEP_LOG_TO_FILE, bad), CEP_ERR);
    cep_free(bad);
    cep_free(kept);
    cep_free(path);
    cep_free(moved);
    cep_free(dir);
}
END_TEST

START_TEST(test_log_long_line)
{
    char *path = t_path("cepd.log");
    ck_assert_int_eq(cep_log_open(CEP_LOG_TO_FILE, path), CEP_OK);
    char *big = cep_malloc(20000);
    memset(big, 'x', 19999);
    big[19999] = '\0';
    int saved = cep_log_threshold;
    cep_log_threshold = CEP_LOG_DEBUG;
    cep_log(CEP_LOG_NOTICE, "%s", big);
    cep_log(CEP_LOG_DEBUG, "short");
    cep_log_threshold = saved;
    char *text = t_slurp(path);
    char *nl = strchr(text, '\n');
    ck_assert_ptr_nonnull(nl);
    ck_assert_uint_eq((size_t)(nl - text), 8192 - 2);
    ck_assert(strncmp(nl - 3, "...", 3) == 0);
    /* Debug lines name their source position. */
    ck_assert_ptr_nonnull(strstr(nl, "cepd[debug] "));
    ck_assert_ptr_nonnull(strstr(nl, "check_proc.c:"));
    ck_assert_ptr_nonnull(strstr(nl, ": short\n"));
    cep_free(text);
    cep_free(big);
    cep_free(path);
}
END_TEST

static Suite *proc_suite(void)
{
    Suite *s = suite_create("proc");
    TCase *tc = tcase_create("pidfile");
    tcase_add_checked_fixture(tc, t_setup, t_teardown);
    tcase_add_test(tc, test_pidfile_lock);
    tcase_add_test(tc, test_pidfile_stale);
    tcase_add_test(tc, test_pidfile_refuses);
    suite_add_tcase(s, tc);
    tc = tcase_create("notify");
    tcase_add_checked_fixture(tc, t_setup, t_teardown);
    tcase_add_test(tc, test_notify);
    tcase_add_test(tc, test_notify_abstract);
    suite_add_tcase(s, tc);
    tc = tcase_create("daemonize");
    tcase_add_checked_fixture(tc, t_setup, t_teardown);
    tcase_add_test(tc, test_daemonize_ready);
    tcase_add_test(tc, test_daemonize_fails);
    suite_add_tcase(s, tc);
    tc = tcase_create("privileges");
    tcase_add_test(tc, test_drop_privileges);
    suite_add_tcase(s, tc);
    tc = tcase_create("log");
    tcase_add_checked_fixture(tc, t_setup, t_teardown);
    tcase_add_test(tc, test_log_file_reopen);
    tcase_add_test(tc, test_log_reopen_fails);
    tcase_add_test(tc, test_log_long_line);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(proc_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
