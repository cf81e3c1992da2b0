#!/usr/bin/env bash
# Readiness is /health answering 2xx: an app that binds after 3 s is
# starting, then live, and tend sees it within 200 ms of the bind.
. "$(dirname "$0")/../lib.sh"
P=$(free_port)
tend_conf <<EOF2
[app:slow]
dir = $SRCDIR/tests/app
command = $NODE server.js
port = $P
health = /health
ready_timeout = 20s
env = BIND_DELAY_MS=3000
EOF2
tendd_start || { not_ok "tendd starts"; done_testing; }
check "starting while it has not bound" state_is slow starting
check "health shows 'starting'" bash -c "[[ \$(\"$TENDCTL\" -c $T/tend.conf status --json | jq -r '.apps[0].health') == starting* ]]"
check "still starting after 1.5 s" bash -c "sleep 1.5; [ \$(\"$TENDCTL\" -c $T/tend.conf status --json | jq -r '.apps[0].state') = starting ]"
check "live once /health answers" wait_for live 15 state_is slow live
bound=$(grep -o 'bound at [0-9]*' "$T/log/slow.log" | awk '{print $3}')
live=$(date -d "$(grep ' live (ready in' "$T/log/slow.log" | awk '{print $1}')" +%s%3N)
lat=$((live - bound))
echo "# readiness seen $lat ms after the bind"
check "readiness seen within 200 ms of the bind ($lat ms)" test "$lat" -ge 0 -a "$lat" -lt 200
rm=$(json slow ready_ms)
check "ready_ms is about the 3 s boot ($rm)" test "$rm" -ge 2900 -a "$rm" -lt 10000
check "health is ok" test "$(json slow health)" = ok
done_testing
