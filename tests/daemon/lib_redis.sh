# SPDX-License-Identifier: Apache-2.0
# A real redis-server for the daemon tests, sourced after lib.sh: started
# on a free 127.0.0.1 port with no persistence, in its own directory under
# T_DIR, waited for with PING (bounded like every wait in lib.sh) and killed
# by lib.sh's cleanup.  REDIS_SERVER names the binary (default
# redis-server, from Debian's redis-server package, installed by
# contrib/dev-setup.sh); REDIS_ARGS adds server options (they override
# the defaults, e.g. "--appendonly yes").
#   redis_start [PORT]   start it (on PORT, or a free one); sets REDIS_PORT, REDIS_PID
#   redis_kill           SIGKILL it (a crash), and wait for it
#   redis_cli ARGS...    redis-cli against it
#   redis_alerts KEY     the alert JSON of every entry of stream KEY (sink mode xadd)
# Tested by: tests/daemon/t_redis.sh, tests/daemon/t_redis_source.sh

REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_CLI=${REDIS_CLI:-redis-cli}
REDIS_PORT=""
REDIS_PID=""

redis_cli() { timeout 10 "$REDIS_CLI" -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }
redis_up() { [ "$(redis_cli PING 2>/dev/null)" = PONG ]; }
redis_alerts() { redis_cli --raw XRANGE "$1" - + | awk 'prev == "alert" { print } { prev = $0 }'; }

redis_start() {
    command -v "$REDIS_SERVER" > /dev/null || skip "$REDIS_SERVER not installed (contrib/dev-setup.sh)"
    REDIS_PORT=${1:-$(free_port)}
    mkdir -p "$T_DIR/redis"
    bg_start "$REDIS_SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 --save "" \
        --appendonly no --dir "$T_DIR/redis" --daemonize no \
        --logfile "$T_DIR/redis/redis.log" ${REDIS_ARGS:-}
    REDIS_PID=$BG_PID
    wait_for redis_up
}

redis_kill() {
    [ -n "$REDIS_PID" ] || return 0
    kill -KILL "$REDIS_PID" 2>/dev/null
    wait "$REDIS_PID" 2>/dev/null
    REDIS_PID=""
}
