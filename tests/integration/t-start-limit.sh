#!/usr/bin/env bash
# More than start_limit restarts inside start_limit_interval: failed,
# with the reason and the last exit; tendctl start tries again.
. "$(dirname "$0")/../lib.sh"
tend_conf <<EOF2
[app:bad]
dir = $SRCDIR/tests/app
command = $NODE server.js
env = EXIT_AT_START=1
restart_delay = 50ms
restart_delay_max = 100ms
start_limit = 3
start_limit_interval = 1m
EOF2
tendd_start || { not_ok "tendd starts"; done_testing; }
check "app ends failed" wait_for "failed" 15 state_is bad failed
check "reason names the start limit" bash -c "tctl() { \"$TENDCTL\" -c $T/tend.conf \"\$@\"; }; tctl status --json | jq -r '.apps[0].reason' | grep -q 'start limit'"
check "last_exit is code 1" test "$(json bad last_exit.code)" = 1
check "restarts counted: 3" test "$(json bad restarts)" = 3
check "it stays failed (no more starts)" bash -c "n=\$(grep -c 'started pid' $T/log/bad.log); sleep 1; [ \$(grep -c 'started pid' $T/log/bad.log) = \$n ]"
out=$(tctl start bad 2>&1); rc=$?
check "tendctl start of a failing app exits 1" test "$rc" = 1
check "and says why" grep -q "exited with code 1" <<<"$out"
done_testing
