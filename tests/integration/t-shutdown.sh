#!/usr/bin/env bash
# SIGTERM stops every app (whole groups) and tendd exits 0.
. "$(dirname "$0")/../lib.sh"
tend_conf <<EOF2
[app:a]
dir = $SRCDIR/tests/app
command = $NODE server.js
env = GRANDCHILD=1
env = GRANDCHILD_PIDFILE=$T/gc.pid
min_ready = 100ms

[app:b]
dir = $SRCDIR/tests/app
command = $NODE server.js
env = IGNORE_TERM=1
kill_timeout = 1s
min_ready = 100ms
EOF2
tendd_start || { not_ok "tendd starts"; done_testing; }
all_live() { [ "$(tctl status --json | jq '[.apps[] | select(.state == "live")] | length')" = 2 ]; }
wait_for "all live" 10 all_live
wait_for "gc pid" 5 test -s "$T/gc.pid"
pa=$(json a pid); pb=$(json b pid); gc=$(cat "$T/gc.pid")
t0=$(now_ms)
kill -TERM "$TENDD_PID"
wait "$TENDD_PID"; rc=$?
t1=$(now_ms)
TENDD_PID=
check "tendd exits 0" test "$rc" = 0
check "within kill_timeout + slack" test $((t1 - t0)) -lt 5000
check "app a's group is gone" test -z "$(group_pids "$pa")"
check "app b (ignores SIGTERM) is gone" test -z "$(group_pids "$pb")"
check "the grandchild is gone" bash -c "! kill -0 $gc 2>/dev/null"
check "the socket is removed" test ! -e "$T/tend.sock"
check "tendd said why it stopped" grep -q "SIGTERM: stopping every app" "$T/tendd.log"
done_testing
