#!/usr/bin/env bash
# A crash is followed by a restart; after a stable run (min_uptime) the
# restart is immediate.
. "$(dirname "$0")/../lib.sh"
P=$(free_port)
tend_conf <<EOF2
[app:web]
dir = $SRCDIR/tests/app
command = $NODE server.js
port = $P
min_ready = 200ms
min_uptime = 4s
restart_delay = 5s
EOF2
tendd_start || { not_ok "tendd starts"; done_testing; }
check "live" wait_for live 10 state_is web live
pid=$(json web pid)
sleep 4.2   # past min_uptime: the run counts as stable
curl -s "127.0.0.1:$P/crash" >/dev/null
newpid() { p=$(json web pid); [ "$p" != null ] && [ "$p" != "$pid" ]; }
t0=$(now_ms)
check "a new process runs after the crash" wait_for "new pid" 5 newpid
t1=$(now_ms)
check "restarted at once, not after restart_delay (5s)" test $((t1 - t0)) -lt 3000
check "live again" wait_for live 10 state_is web live
check "restarts = 1" test "$(json web restarts)" = 1
check "last_exit code 3" test "$(json web last_exit.code)" = 3
check "log says restart in 0ms" grep -q 'exited with code 3, restart in 0ms' "$T/log/web.log"
# A quick crash (before min_uptime) waits restart_delay.
pid=$(json web pid)
curl -s "127.0.0.1:$P/crash" >/dev/null
check "a quick second crash goes to backoff" wait_for backoff 5 state_is web backoff
d=$(json web next_restart_ms)
check "next_restart_ms within [4000, 5000]" test "$d" -ge 4000 -a "$d" -le 5000
done_testing
