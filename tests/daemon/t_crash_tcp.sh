#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The crash test of issue 6 through the TCP source's write-ahead log.  A
# client (python3, below) sends TCP_EVENTS generated events (30000; 8000
# under ASan) and an end marker to a tcp source with `ack: true`, reading
# the "ok N" acknowledgements; when the connection drops it reconnects
# (bounded) and resends from the first unacknowledged line.  The daemon
# (pattern, aggregate and absence rules of lib_ckpt.sh, delivery
# exactly_once, checkpoints every 200 ms, a real redis-server) is killed
# with SIGKILL at TCP_KILLS (24) pseudo-random moments (fixed seed) and
# restarted each time.  What is guaranteed, and asserted:
#  - at least once into the WAL: every line the client sent is in the WAL;
#    a line is there twice only when it was durable but its "ok" was lost
#    with the connection and the client resent it (it lies in a window
#    between the last ack a connection received and the last line it sent;
#    the client logs those windows).  The ack protocol cannot tell such a
#    resend from a new line (src_tcp.c);
#  - exactly once from the WAL to Redis: the alerts equal those of a run
#    without kills over the same WAL (the crash run's WAL copied to a fresh
#    daemon, same offsets, so the same alert ids), none missing, none twice.
# Only 127.0.0.1; every wait bounded.
# Tested by: tests/daemon/run.sh (make check)
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/lib_redis.sh"
. "$here/lib_ckpt.sh"

TCP_EVENTS=${TCP_EVENTS:-$(ckpt_asan && echo 8000 || echo 30000)}
TCP_KILLS=${TCP_KILLS:-24}
RANDOM=20261125 # fixed seed: the same kill moments every run

redis_start || { bad "redis-server answers PING"; finish; }
ckpt_rules "$T_DIR/rules.yaml"
ckpt_gen 7 1700000000 "$TCP_EVENTS" > "$T_DIR/in.jsonl"
ckpt_mark end $(($(ckpt_last_ts "$T_DIR/in.jsonl") + 1)) >> "$T_DIR/in.jsonl"

# The client: resender.py PORT FILE WINDOWS_LOG RATE.  Sends FILE's lines
# (at most RATE lines/s, at most 2000 unacknowledged), reads "ok N"; on a
# dropped connection logs "A S" (the lines A..S-1, 0-based, were sent but
# not acknowledged: resent, perhaps twice in the WAL) and reconnects every
# 20 ms, for at most 120 s (scaled) in all.  Exit 0 once every line is
# acknowledged and the server closed after the last ack.
cat > "$T_DIR/resender.py" <<'PY'
import os, select, socket, sys, time
port, path, wlog, rate = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
lines = open(path, "rb").read().splitlines(keepends=True)
deadline = time.monotonic() + 120 * int(os.environ.get("CEPD_TEST_TIMEOUT", "1"))
acked, conns, t0, sent_total = 0, 0, time.monotonic(), 0
windows = open(wlog, "w")
while acked < len(lines):
    if time.monotonic() > deadline:
        sys.exit("gave up: %d of %d lines acknowledged" % (acked, len(lines)))
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=1)
    except OSError:
        time.sleep(0.02)
        continue
    conns += 1
    s.setblocking(False)
    base = sent = acked
    buf, out, shut = b"", b"", False
    try:
        while True:
            if time.monotonic() > deadline:
                break
            allowed = int(rate * (time.monotonic() - t0)) - sent_total
            while not out and sent < len(lines) and sent - acked < 2000 and allowed > 0:
                out = b"".join(lines[sent:sent + min(200, allowed)])
                n = min(200, allowed, len(lines) - sent)
                sent += n
                sent_total += n
                allowed -= n
            if not out and sent == len(lines) and not shut:
                s.shutdown(socket.SHUT_WR)
                shut = True
            r, w, _ = select.select([s], [s] if out else [], [], 0.01)
            if w:
                out = out[s.send(out):]
            if r:
                d = s.recv(65536)
                if not d:
                    break
                buf += d
                *done, buf = buf.split(b"\n")
                for l in done:
                    f = l.split()
                    if len(f) != 2 or f[0] != b"ok" or base + int(f[1]) > sent:
                        sys.exit("bad acknowledgement %r" % l)
                    acked = max(acked, base + int(f[1]))
    except OSError:
        pass
    s.close()
    if acked < sent:
        windows.write("%d %d\n" % (acked, sent))
        windows.flush()
print("%d lines acknowledged over %d connections" % (acked, conns))
PY

# config NAME PORT: a tcp source "in" on PORT into redis key cepd:NAME.
config() {
    ckpt_config "$1" "{name: in, type: tcp, listen: \"127.0.0.1:$2\", ack: true, stream: ev}" \
        "{name: out, type: redis, url: \"redis://127.0.0.1:$REDIS_PORT\", mode: xadd, key: \"cepd:$1\", ttl: 1h}"
}

# ---- the crash run ----
port=$(free_port)
config crash "$port"
rate=$((TCP_EVENTS * 10 / TCP_KILLS / 2)) # spread over about TCP_KILLS * 0.2 s
python3 "$T_DIR/resender.py" "$port" "$T_DIR/in.jsonl" "$T_DIR/windows" "$rate" \
    > "$T_DIR/client.out" 2>&1 &
client=$!
T_PIDS="$T_PIDS $client"
for k in $(seq 1 "$TCP_KILLS"); do
    ckpt_kill crash
done
ok "$TCP_KILLS kills with SIGKILL ($(grep -c . "$T_DIR/windows") connections dropped with lines unacknowledged)"
DAEMON_LOG=$T_DIR/crash/daemon.log
daemon_start "$T_DIR/crash/cepd.yaml" || { bad "starts after the kills"; finish; }
T_LIMIT=$((T_LIMIT * 6)) wait_for eval '! kill -0 $client' # bounded: 60 s (scaled)
wait "$client" && ok "the client: $(cat "$T_DIR/client.out")" \
    || bad "the client has every line acknowledged: $(cat "$T_DIR/client.out")"
wait_for ckpt_has_mark crash end || bad "reaches the end marker after the kills"
daemon_stop TERM && ok "SIGTERM, exit 0" || bad "SIGTERM, exit 0"
n=$(ckpt_restores crash)
[ "$n" -ge $((TCP_KILLS / 2)) ] && ok "restored from a checkpoint $n times" \
    || bad "restored from a checkpoint $n times"
[ ! -s "$T_DIR/crash/dead.jsonl" ] && ok "nothing dead-lettered" || bad "nothing dead-lettered"

# ---- what the WAL holds: every line, twice only within a resent window ----
wal=$T_DIR/crash/ckpt/wal/in
if out=$(python3 - "$wal" "$T_DIR/in.jsonl" "$T_DIR/windows" <<'PY'
import collections, os, struct, sys
wal, inp, wlog = sys.argv[1:4]
segs = sorted(f for f in os.listdir(wal) if f.endswith(".wal"))
if not segs or segs[0] != "%020d.wal" % 0:
    sys.exit("the log was trimmed (segments %s): cannot check it whole" % segs)
recs = []
for f in segs:
    b = open(os.path.join(wal, f), "rb").read()
    assert b[:8] == b"CEPDWAL1"
    p = 16
    while p < len(b):
        n, _, _ = struct.unpack_from("<IIQ", b, p)
        recs.append(b[p + 16:p + 16 + (n & 0x7fffffff)])
        p += 16 + (n & 0x7fffffff)
lines = [l.rstrip(b"\n") for l in open(inp, "rb")]
index = {l: i for i, l in enumerate(lines)}
wins = [tuple(map(int, l.split())) for l in open(wlog)]
count = collections.Counter(recs)
bad = [r for r in count if r not in index]
if bad:
    sys.exit("a record that was never sent: %r" % bad[0])
missing = [l for l in lines if l not in count]
if missing:
    sys.exit("%d lines missing, the first %r" % (len(missing), missing[0]))
twice = [index[r] for r, c in count.items() if c > 1]
outside = [i for i in twice if not any(a <= i < s for a, s in wins)]
if outside:
    sys.exit("line %d is in the WAL twice but was never resent" % outside[0])
print("%d records: each of the %d lines, %d twice (resent after a lost ack)"
      % (len(recs), len(lines), len(twice)))
PY
); then
    ok "the WAL: $out"
else
    bad "the WAL holds every line, twice only when resent: $out"
fi

# ---- the reference: the same WAL, no kills ----
port=$(free_port)
config ref "$port"
mkdir -p "$T_DIR/ref/ckpt/wal/in"
cp "$wal"/*.wal "$T_DIR/ref/ckpt/wal/in/"
DAEMON_LOG=$T_DIR/ref/daemon.log
daemon_start "$T_DIR/ref/cepd.yaml" || { bad "the reference starts"; finish; }
wait_for ckpt_has_mark ref end || bad "the reference reaches the end marker"
daemon_stop TERM && ok "the reference: SIGTERM, exit 0" || bad "the reference: SIGTERM, exit 0"
redis_alerts cepd:ref > "$T_DIR/ref.alerts"
redis_alerts cepd:crash > "$T_DIR/crash.alerts"
[ "$(wc -l < "$T_DIR/ref.alerts")" -gt 100 ] \
    && ok "the reference has alerts ($(wc -l < "$T_DIR/ref.alerts"))" || bad "the reference has alerts"
ckpt_compare_ok "redis holds the alerts of the run without kills" "$T_DIR/ref.alerts" "$T_DIR/crash.alerts"
finish
