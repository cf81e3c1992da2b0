#!/usr/bin/env bash
# max_memory: an app whose process tree stays above the limit is restarted.
. "$(dirname "$0")/../lib.sh"
P=$(free_port)
tend_conf <<EOF2
[app:fat]
dir = $SRCDIR/tests/app
command = $NODE server.js
port = $P
min_ready = 200ms
max_memory = 10M
max_memory_for = 1s
EOF2
tendd_start || { not_ok "tendd starts"; done_testing; }
check "live" wait_for live 10 state_is fat live
pid=$(json fat pid)
newpid() { p=$(json fat pid); [ "$p" != null ] && [ "$p" != "$pid" ]; }
check "restarted for memory (Node uses > 10M)" wait_for "memory restart" 15 newpid
check "the log says why" grep -q 'above max_memory 10M' "$T/log/fat.log"
check "counted as a restart" test "$(json fat restarts)" -ge 1
done_testing
