#!/usr/bin/env bash
# Stop reaches the whole process group: a grandchild dies too, an app that
# ignores SIGTERM is killed after kill_timeout; no zombie is left.
. "$(dirname "$0")/../lib.sh"
P=$(free_port)
tend_conf <<EOF2
[app:tree]
dir = $SRCDIR/tests/app
command = $NODE server.js
port = $P
min_ready = 200ms
env = GRANDCHILD=1
env = GRANDCHILD_PIDFILE=$T/grandchild.pid

[app:stubborn]
dir = $SRCDIR/tests/app
command = $NODE server.js
env = IGNORE_TERM=1
min_ready = 200ms
kill_timeout = 1s
EOF2
tendd_start || { not_ok "tendd starts"; done_testing; }
check "both live" wait_for live 10 bash -c "[ \$(\"$TENDCTL\" -c $T/tend.conf status --json | jq '[.apps[] | select(.state == \"live\")] | length') = 2 ]"
wait_for "grandchild pid file" 5 test -s "$T/grandchild.pid"
gc=$(cat "$T/grandchild.pid")
tp=$(json tree pid)
check "grandchild runs in the app's process group" test "$(ps -o pgid= -p "$gc" | tr -d ' ')" = "$tp"
check "stop tree returns 0" tctl stop tree
check "grandchild is gone" bash -c "! kill -0 $gc 2>/dev/null"
check "no process of the group is left" test -z "$(group_pids "$tp")"
sp=$(json stubborn pid)
t0=$(now_ms)
check "stop stubborn returns 0" tctl stop stubborn
t1=$(now_ms)
check "stubborn is gone" test -z "$(group_pids "$sp")"
check "the stop took about kill_timeout (>= 0.9 s)" test $((t1 - t0)) -ge 900
check "log shows the SIGKILL" grep -q 'SIGKILL' "$T/log/stubborn.log"
check "last_exit is SIGKILL" test "$(json stubborn last_exit.signal)" = SIGKILL
check "no zombie child of tendd" test -z "$(ps --ppid "$TENDD_PID" -o stat= | grep Z)"
done_testing
