/* SPDX-License-Identifier: Apache-2.0
 * What the redis sink and the redis_stream source share: the URL
 * (redis://[[user]:password@]host[:port][/db]) and the commands that set a
 * fresh connection up (AUTH, SELECT).
 * Tested by: tests/unit/check_sink.c */
#ifndef CEPD_SINK_REDIS_H
#define CEPD_SINK_REDIS_H

#include "cepd/cep_common.h"

#include <hiredis/async.h>

struct sink_redis_url {
    char *host;
    int port;       /* default 6379 */
    char *user;     /* NULL: AUTH with the password alone */
    char *password; /* NULL: no AUTH */
    int db;         /* 0: no SELECT */
};

/* Parse url (the redis:// scheme may be left out) into u (owned strings).
 * CEP_ERR with err (errlen bytes) saying why when it is malformed. */
int sink_redis_url_parse(const char *url, struct sink_redis_url *u, char *err, size_t errlen);
void sink_redis_url_free(struct sink_redis_url *u);
/* Queue AUTH and SELECT as u asks on ac, answered to fn(ac, reply, ud).
 * CEP_ERR when hiredis refuses the command (a context being freed). */
int sink_redis_url_setup(redisAsyncContext *ac, const struct sink_redis_url *u,
                         redisCallbackFn *fn, void *ud);

#endif
