#!/usr/bin/env bash
# A live app whose /health starts failing is restarted after exactly
# health_failures failed checks.
. "$(dirname "$0")/../lib.sh"
P=$(free_port)
tend_conf <<EOF2
[app:web]
dir = $SRCDIR/tests/app
command = $NODE server.js
port = $P
health = /health
health_interval = 300ms
health_timeout = 200ms
health_failures = 3
EOF2
tendd_start || { not_ok "tendd starts"; done_testing; }
check "live" wait_for live 10 state_is web live
pid=$(json web pid)
curl -s "127.0.0.1:$P/toggle-health" >/dev/null
failing() { [[ $(json web health) == failing* ]]; }
check "status shows failing n/3" wait_for failing 5 failing
newpid() { p=$(json web pid); [ "$p" != null ] && [ "$p" != "$pid" ]; }
check "restarted" wait_for restart 10 newpid
log=$T/log/web.log
n=$(sed -n "/started pid $pid/,/started pid/p" "$log" | grep -c 'health check failed (')
check "exactly 3 failed checks before the restart (got $n)" test "$n" = 3
check "the third says 3/3" grep -q 'health check failed (3/3)' "$log"
check "live again with a healthy new process" wait_for live 10 state_is web live
check "restarts = 1" test "$(json web restarts)" = 1
check "health_restarts = 1" test "$(json web 'instances[0].health_restarts')" = 1
check "reason names the health check" bash -c "grep -q 'restarted: health check failed 3 times' $T/log/web.log"
done_testing
