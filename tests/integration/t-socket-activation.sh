#!/usr/bin/env bash
# With socket activation, tendd serves on the socket systemd passes.
. "$(dirname "$0")/../lib.sh"
command -v systemd-socket-activate >/dev/null || { echo "skip - systemd-socket-activate is not installed"; done_testing; }
tend_conf <<EOF2
[app:web]
dir = $SRCDIR/tests/app
command = $NODE server.js
min_ready = 200ms
EOF2
systemd-socket-activate -l "$T/act.sock" "$TENDD" -f -c "$T/tend.conf" >>"$T/tendd.log" 2>&1 &
TENDD_PID=$!
check "tendctl gets an answer on the passed socket" wait_for "answer" 10 "$TENDCTL" -s "$T/act.sock" status
check "tendd says it uses the passed socket" grep -q "socket activation" "$T/tendd.log"
check "it did not create its own socket" test ! -e "$T/tend.sock"
check "the app runs" wait_for live 10 bash -c "\"$TENDCTL\" -s $T/act.sock status --json | jq -e '.apps[0].state == \"live\"'"
# SIGUSR2 (tendd(8), Handover): the passed socket goes on to the new tendd.
pid=$("$TENDCTL" -s "$T/act.sock" status --json | jq -r '.apps[0].pid')
kill -USR2 "$TENDD_PID"
check "after SIGUSR2 the new tendd took the app over" wait_for "taken over" 10 grep -q "1 app taken over" "$T/tendd.log"
check "it answers on the passed socket" "$TENDCTL" -s "$T/act.sock" status
check "it still did not create its own socket" test ! -e "$T/tend.sock"
check "the app kept its pid" test "$("$TENDCTL" -s "$T/act.sock" status --json | jq -r '.apps[0].pid')" = "$pid"
done_testing
