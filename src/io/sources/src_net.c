/* SPDX-License-Identifier: Apache-2.0
 * Listening sockets for the tcp and http sources: `listen: HOST:PORT` is
 * resolved (numeric or by name, at start only), bound with SO_REUSEADDR and
 * put in listen mode, so a port that is taken fails start() with a message
 * naming the source, the address and the reason.
 * Tested by: tests/unit/check_netsrc.c */
#include "cepd/cep_common.h"
#include "src_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>

#define SRC_NET_BACKLOG 128

/* Split "host:port" or "[v6]:port" into host and port (both NUL-terminated
 * in the caller's buffers).  false when the form is wrong. */
static bool src_net_split(const char *addr, char *host, size_t host_len, char *port,
                          size_t port_len)
{
    const char *colon, *h = addr, *h_end;
    if (addr[0] == '[') {
        h = addr + 1;
        h_end = strchr(h, ']');
        if (!h_end || h_end[1] != ':')
            return false;
        colon = h_end + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon)
            return false;
        h_end = colon;
    }
    size_t hn = (size_t)(h_end - h), pn = strlen(colon + 1);
    if (hn == 0 || hn >= host_len || pn == 0 || pn > 5 || pn >= port_len ||
        strspn(colon + 1, "0123456789") != pn || strtol(colon + 1, NULL, 10) > 65535)
        return false;
    memcpy(host, h, hn);
    host[hn] = '\0';
    memcpy(port, colon + 1, pn + 1);
    return true;
}

int src_net_listen(const struct io_source *s)
{
    const char *name = s->cfg->name ? s->cfg->name : "?";
    const char *addr = s->cfg->listen ? s->cfg->listen : "";
    char host[256], port[16];
    if (!src_net_split(addr, host, sizeof(host), port, sizeof(port))) {
        cep_log(CEP_LOG_ERROR, "source %s: cannot listen on '%s': expected HOST:PORT", name,
                addr);
        return -1;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        cep_log(CEP_LOG_ERROR, "source %s: cannot listen on %s: %s", name, addr,
                gai_strerror(gai));
        return -1;
    }
    int fd = -1, err = 0;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SRC_NET_BACKLOG) == 0)
            break;
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        cep_log(CEP_LOG_ERROR, "source %s: cannot listen on %s: %s", name, addr, strerror(err));
    return fd;
}

void src_net_peer(const struct sockaddr *sa, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
        port = ntohs(in->sin_port);
        snprintf(buf, len, "%s:%u", ip, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        port = ntohs(in6->sin6_port);
        snprintf(buf, len, "[%s]:%u", ip, port);
    } else {
        snprintf(buf, len, "?");
    }
}

int64_t src_net_now(const struct io_source *s)
{
    struct timeval tv;
    if (event_base_gettimeofday_cached(s->base, &tv) != 0)
        gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * CEP_USEC_PER_SEC + tv.tv_usec;
}
