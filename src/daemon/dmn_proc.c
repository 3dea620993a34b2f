/* SPDX-License-Identifier: Apache-2.0
 * The daemon as a Unix process: daemonizing with a parent that waits for
 * readiness, a locked pidfile, dropping root and systemd's notification
 * protocol (sd_notify, written by hand).  The process-wide state (pidfile,
 * readiness pipe) is here and only touched from the main thread.
 * Tested by: tests/unit/check_proc.c, tests/daemon/t_proc.sh */
#include "cepd/cep_common.h"
#include "dmn_proc.h"

#include "dmn_int.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define DMN_PIDFILE_TRIES 5 /* a racing remover replaced the file under us */

static struct {
    int ready_fd;   /* daemon: pipe to the waiting parent until READY=1 */
    int pid_fd;     /* the locked pidfile */
    char *pid_path;
    dev_t pid_dev;
    ino_t pid_ino;
} dmn_proc = {.ready_fd = -1, .pid_fd = -1};

const char *dmn_proc_abspath(const char *path, char *buf, size_t size)
{
    if (path[0] == '/')
        return path;
    if (!getcwd(buf, size)) {
        cep_log(CEP_LOG_ERROR, "%s: getcwd: %s", path, strerror(errno));
        return NULL;
    }
    size_t len = strlen(buf);
    if ((size_t)snprintf(buf + len, size - len, "/%s", path) >= size - len) {
        cep_log(CEP_LOG_ERROR, "%s: path too long", path);
        return NULL;
    }
    return buf;
}

/* The waiting side of dmn_proc_daemonize: copy the daemon's start-up
 * stderr to ours until it closes, then read the status byte.  Never
 * returns. */
CEP_NORETURN static void dmn_proc_wait_ready(int err_fd, int status_fd)
{
    char buf[4096];
    for (;;) {
        ssize_t n = read(err_fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(STDERR_FILENO, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;
            off += w;
        }
    }
    unsigned char status;
    ssize_t n;
    while ((n = read(status_fd, &status, 1)) < 0 && errno == EINTR)
        ;
    if (n == 1)
        _exit(status);
    fputs("cepd: the daemon exited during start-up (see the messages above or the log)\n",
          stderr);
    _exit(DMN_EXIT_USAGE);
}

int dmn_proc_daemonize(void)
{
    int err_pipe[2], status_pipe[2];
    if (pipe2(err_pipe, O_CLOEXEC) < 0) {
        cep_log(CEP_LOG_ERROR, "daemonize: pipe: %s", strerror(errno));
        return CEP_ERR;
    }
    if (pipe2(status_pipe, O_CLOEXEC) < 0) {
        cep_log(CEP_LOG_ERROR, "daemonize: pipe: %s", strerror(errno));
        goto fail_err_pipe;
    }
    fflush(NULL);
    pid_t child = fork();
    if (child < 0) {
        cep_log(CEP_LOG_ERROR, "daemonize: fork: %s", strerror(errno));
        goto fail;
    }
    if (child > 0) {
        close(err_pipe[1]);
        close(status_pipe[1]);
        while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
            ;
        dmn_proc_wait_ready(err_pipe[0], status_pipe[0]);
    }
    /* The first child: a new session without a terminal, then a second
     * fork so the daemon is not the session leader. */
    close(err_pipe[0]);
    close(status_pipe[0]);
    if (setsid() < 0) {
        cep_log(CEP_LOG_ERROR, "daemonize: setsid: %s", strerror(errno));
        _exit(DMN_EXIT_USAGE);
    }
    pid_t daemon = fork();
    if (daemon < 0) {
        cep_log(CEP_LOG_ERROR, "daemonize: fork: %s", strerror(errno));
        _exit(DMN_EXIT_USAGE);
    }
    if (daemon > 0)
        _exit(DMN_EXIT_OK);

    /* The daemon.  A parent interrupted while waiting must not kill us
     * through our stderr pipe. */
    signal(SIGPIPE, SIG_IGN);
    if (chdir("/") < 0) {
        cep_log(CEP_LOG_ERROR, "daemonize: chdir /: %s", strerror(errno));
        _exit(DMN_EXIT_USAGE);
    }
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(null_fd, STDOUT_FILENO) < 0 ||
        dup2(err_pipe[1], STDERR_FILENO) < 0) {
        cep_log(CEP_LOG_ERROR, "daemonize: /dev/null: %s", strerror(errno));
        _exit(DMN_EXIT_USAGE);
    }
    close(null_fd);
    close(err_pipe[1]);
    dmn_proc.ready_fd = status_pipe[1];
    return CEP_OK;

fail:
    close(status_pipe[0]);
    close(status_pipe[1]);
fail_err_pipe:
    close(err_pipe[0]);
    close(err_pipe[1]);
    return CEP_ERR;
}

/* READY=1 in a daemonized process: stderr to /dev/null (closing the pipe
 * the parent copies), then the status byte that lets it exit 0. */
static void dmn_proc_release_parent(void)
{
    if (dmn_proc.ready_fd < 0)
        return;
    int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null_fd >= 0) {
        dup2(null_fd, STDERR_FILENO);
        close(null_fd);
    }
    unsigned char ok = DMN_EXIT_OK;
    while (write(dmn_proc.ready_fd, &ok, 1) < 0 && errno == EINTR)
        ;
    close(dmn_proc.ready_fd);
    dmn_proc.ready_fd = -1;
}

/* Read the pid a pidfile names, for messages; 0 if none. */
static long dmn_proc_pidfile_read(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *end;
    long pid = strtol(buf, &end, 10);
    return end > buf && pid > 0 ? pid : 0;
}

int dmn_proc_pidfile(const char *path)
{
    CEP_ASSERT(dmn_proc.pid_fd < 0);
    for (int tries = 0; tries < DMN_PIDFILE_TRIES; tries++) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0644);
        if (fd < 0) {
            cep_log(CEP_LOG_ERROR, "pidfile: open %s: %s", path, strerror(errno));
            return CEP_ERR;
        }
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        if (fcntl(fd, F_SETLK, &fl) < 0) {
            int err = errno;
            if (err == EACCES || err == EAGAIN) {
                struct flock who = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
                long pid = fcntl(fd, F_GETLK, &who) == 0 && who.l_type != F_UNLCK
                                   ? (long)who.l_pid
                                   : dmn_proc_pidfile_read(fd);
                cep_log(CEP_LOG_ERROR, "pidfile: %s is held by pid %ld: another cepd is running",
                        path, pid);
            } else {
                cep_log(CEP_LOG_ERROR, "pidfile: lock %s: %s", path, strerror(err));
            }
            close(fd);
            return CEP_ERR;
        }
        /* Locked.  If the path was unlinked or replaced between our open
         * and our lock (its owner exiting), we hold a lock on a file nobody
         * sees: try again with what the path names now. */
        struct stat fd_st, path_st;
        if (fstat(fd, &fd_st) < 0) {
            cep_log(CEP_LOG_ERROR, "pidfile: stat %s: %s", path, strerror(errno));
            close(fd);
            return CEP_ERR;
        }
        if (lstat(path, &path_st) < 0 || path_st.st_ino != fd_st.st_ino ||
            path_st.st_dev != fd_st.st_dev) {
            close(fd);
            continue;
        }
        if (!S_ISREG(fd_st.st_mode)) {
            cep_log(CEP_LOG_ERROR, "pidfile: %s is not a regular file", path);
            close(fd);
            return CEP_ERR;
        }
        long stale = dmn_proc_pidfile_read(fd);
        if (stale)
            cep_log(CEP_LOG_NOTICE, "pidfile: replacing stale %s (pid %ld is gone)", path,
                    stale);
        char buf[32];
        int len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
        if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)len, 0) != len) {
            cep_log(CEP_LOG_ERROR, "pidfile: write %s: %s", path, strerror(errno));
            close(fd);
            return CEP_ERR;
        }
        dmn_proc.pid_fd = fd;
        dmn_proc.pid_path = cep_strdup(path);
        dmn_proc.pid_dev = fd_st.st_dev;
        dmn_proc.pid_ino = fd_st.st_ino;
        return CEP_OK;
    }
    cep_log(CEP_LOG_ERROR, "pidfile: %s keeps being replaced by another process", path);
    return CEP_ERR;
}

void dmn_proc_pidfile_remove(void)
{
    if (dmn_proc.pid_fd < 0)
        return;
    /* Unlink only our own file, never one someone put in its place; when
     * we may not (privileges dropped), empty it so it names nobody. */
    struct stat st;
    bool gone;
    if (lstat(dmn_proc.pid_path, &st) < 0)
        gone = errno == ENOENT;
    else if (st.st_ino != dmn_proc.pid_ino || st.st_dev != dmn_proc.pid_dev)
        gone = true; /* no longer ours: leave it alone */
    else
        gone = unlink(dmn_proc.pid_path) == 0;
    if (!gone) {
        cep_log(CEP_LOG_INFO, "pidfile: cannot remove %s: %s (emptying it instead)",
                dmn_proc.pid_path, strerror(errno));
        if (ftruncate(dmn_proc.pid_fd, 0) < 0)
            cep_log(CEP_LOG_WARN, "pidfile: truncate %s: %s", dmn_proc.pid_path,
                    strerror(errno));
    }
    close(dmn_proc.pid_fd);
    dmn_proc.pid_fd = -1;
    cep_free(dmn_proc.pid_path);
    dmn_proc.pid_path = NULL;
}

/* Look up the target ids.  Returns CEP_ERR after logging an unknown name. */
static int dmn_proc_lookup_ids(const char *user, const char *group, uid_t *uid, gid_t *gid)
{
    *uid = getuid();
    *gid = getgid();
    if (user) {
        errno = 0;
        struct passwd *pw = getpwnam(user);
        if (!pw) {
            cep_log(CEP_LOG_ERROR, "user '%s': %s", user,
                    errno ? strerror(errno) : "no such user");
            return CEP_ERR;
        }
        *uid = pw->pw_uid;
        *gid = pw->pw_gid;
    }
    if (group) {
        errno = 0;
        struct group *gr = getgrnam(group);
        if (!gr) {
            cep_log(CEP_LOG_ERROR, "group '%s': %s", group,
                    errno ? strerror(errno) : "no such group");
            return CEP_ERR;
        }
        *gid = gr->gr_gid;
    }
    return CEP_OK;
}

int dmn_proc_drop_privileges(const char *user, const char *group)
{
    if (!user && !group)
        return CEP_OK;
    uid_t uid;
    gid_t gid;
    if (dmn_proc_lookup_ids(user, group, &uid, &gid) != CEP_OK)
        return CEP_ERR;
    if (geteuid() != 0) {
        /* Started unprivileged (systemd's User=): fine if we already are
         * who the config names. */
        if ((user && (getuid() != uid || geteuid() != uid)) ||
            (group && (getgid() != gid || getegid() != gid))) {
            cep_log(CEP_LOG_ERROR,
                    "cannot switch to user %s, group %s: not running as root (uid %ld, gid %ld)",
                    user ? user : "-", group ? group : "-", (long)getuid(), (long)getgid());
            return CEP_ERR;
        }
        return CEP_OK;
    }
    int rc = user ? initgroups(user, gid) : setgroups(1, &gid);
    if (rc < 0) {
        cep_log(CEP_LOG_ERROR, "%s: %s", user ? "initgroups" : "setgroups", strerror(errno));
        return CEP_ERR;
    }
    if (setgid(gid) < 0) {
        cep_log(CEP_LOG_ERROR, "setgid %ld: %s", (long)gid, strerror(errno));
        return CEP_ERR;
    }
    if (user && setuid(uid) < 0) {
        cep_log(CEP_LOG_ERROR, "setuid %ld: %s", (long)uid, strerror(errno));
        return CEP_ERR;
    }
    if (getgid() != gid || getegid() != gid || (user && (getuid() != uid || geteuid() != uid))) {
        cep_log(CEP_LOG_ERROR, "dropping privileges: the ids did not change");
        return CEP_ERR;
    }
    if (user && uid != 0 && setuid(0) == 0) {
        cep_log(CEP_LOG_ERROR, "dropping privileges: root could be regained");
        return CEP_ERR;
    }
    cep_log(CEP_LOG_INFO, "running as uid %ld, gid %ld", (long)getuid(), (long)getgid());
    return CEP_OK;
}

/* Does the notification state hold the line "READY=1"? */
static bool dmn_notify_is_ready(const char *state)
{
    for (const char *p = state;; p++) {
        if (strncmp(p, "READY=1", 7) == 0 && (p[7] == '\0' || p[7] == '\n'))
            return true;
        if (!(p = strchr(p, '\n')))
            return false;
    }
}

void dmn_notify(const char *state)
{
    if (dmn_notify_is_ready(state))
        dmn_proc_release_parent();
    const char *sock = getenv("NOTIFY_SOCKET");
    if (!sock || !*sock)
        return;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(sock);
    if ((sock[0] != '/' && sock[0] != '@') || len >= sizeof(sa.sun_path)) {
        cep_log(CEP_LOG_DEBUG, "notify: unsupported NOTIFY_SOCKET '%s'", sock);
        return;
    }
    memcpy(sa.sun_path, sock, len);
    socklen_t sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    if (sock[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract: the name is exactly len bytes */
    else
        sa_len++;              /* a path: with its terminating NUL */

    char *msg = NULL;
    if (strncmp(state, "RELOADING=1", 11) == 0) {
        msg = cep_asprintf("%s\nMONOTONIC_USEC=%" PRId64, state, dmn_mono_us());
    }
    const char *out = msg ? msg : state;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        cep_log(CEP_LOG_DEBUG, "notify: socket: %s", strerror(errno));
    } else {
        if (sendto(fd, out, strlen(out), MSG_NOSIGNAL, (struct sockaddr *)&sa, sa_len) < 0)
            cep_log(CEP_LOG_DEBUG, "notify: send to %s: %s", sock, strerror(errno));
        close(fd);
    }
    cep_free(msg);
}
