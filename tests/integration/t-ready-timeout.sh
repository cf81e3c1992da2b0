#!/usr/bin/env bash
# An app that never becomes healthy is stopped after ready_timeout and
# handled as a failed start (backoff).
. "$(dirname "$0")/../lib.sh"
P=$(free_port)
tend_conf <<EOF2
[app:never]
dir = $SRCDIR/tests/app
command = $NODE server.js
port = $P
health = /health
ready_timeout = 1s
restart_delay = 2s
env = HEALTH_HANG=1
EOF2
tendd_start || { not_ok "tendd starts"; done_testing; }
pid=$(json never pid)
check "goes to backoff after ready_timeout" wait_for backoff 10 state_is never backoff
check "reason says not ready" bash -c "\"$TENDCTL\" -c $T/tend.conf status --json | jq -r '.apps[0].reason' | grep -q 'not ready after 1s'"
check "the unready process was stopped" bash -c "! kill -0 $pid 2>/dev/null"
check "it is retried" wait_for "second start" 10 bash -c "[ \$(grep -c 'started pid' $T/log/never.log) -ge 2 ]"
done_testing
