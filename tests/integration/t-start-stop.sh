#!/usr/bin/env bash
# An app starts live, answers, stops (process gone), starts again.
. "$(dirname "$0")/../lib.sh"
P=$(free_port)
tend_conf <<EOF2
[app:web]
dir = $SRCDIR/tests/app
command = $NODE server.js
port = $P
min_ready = 200ms
EOF2
tendd_start || { not_ok "tendd starts"; done_testing; }
check "app becomes live" wait_for "web live" 10 state_is web live
pid=$(json web pid)
check "status shows a pid that exists" test -d "/proc/$pid"
check "the app answers on its port" wait_for "answer" 5 curl -fsS "127.0.0.1:$P/"
check "tendctl stop returns 0" tctl stop web
check "state is stopped after stop" state_is web stopped
check "pid is null after stop" test "$(json web pid)" = null
check "the process is gone" test ! -d "/proc/$pid"
check "tendctl start returns 0 once live" tctl start web
check "live again after start" state_is web live
check "new pid differs" test "$(json web pid)" != "$pid"
done_testing
