#!/usr/bin/env bash
# sd_notify: READY=1 once the socket listens, STATUS= summaries, WATCHDOG=1
# at half WATCHDOG_USEC, STOPPING=1 at shutdown; in that order.
. "$(dirname "$0")/../lib.sh"
python3 "$SRCDIR/tests/dgram-listen.py" "$T/notify.sock" "$T/notify.out" &
on_exit "kill $!"
wait_for "listener" 5 test -S "$T/notify.sock"
tend_conf <<EOF2
[app:web]
dir = $SRCDIR/tests/app
command = $NODE server.js
min_ready = 300ms
EOF2
NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=400000 tendd_start || { not_ok "tendd starts"; done_testing; }
wait_for live 10 state_is web live
sleep 2
kill -TERM "$TENDD_PID"; wait "$TENDD_PID"; TENDD_PID=
sleep 0.2
out=$T/notify.out
first=$(grep -v listening "$out" | head -n 1 | cut -d' ' -f2-)
check "first message is READY=1 (got: $first)" grep -q '^READY=1' <<<"$first"
check "a STATUS= says 1 live" grep -q 'STATUS=1 live, 0 starting, 0 failed' "$out"
check "a STATUS= said starting first" grep -q 'STATUS=0 live, 1 starting' "$out"
last=$(tail -n 1 "$out" | cut -d' ' -f2-)
check "STOPPING=1 comes last (got: $last)" grep -q 'STOPPING=1' <<<"$last"
ts=$(grep ' WATCHDOG=1' "$out" | awk '{print $1}')
n=$(wc -l <<<"$ts")
span=$(( $(tail -n1 <<<"$ts") - $(head -n1 <<<"$ts") ))
rate=$(awk -v n="$n" -v s="$span" 'BEGIN { printf "%.0f", (n - 1) * 1000 / (s ? s : 1) }')
echo "# $n watchdog pings over $span ms: $rate per second (want 5)"
check "WATCHDOG=1 at half of WATCHDOG_USEC (4-6 per s, got $rate)" test "$rate" -ge 4 -a "$rate" -le 6
ready_line=$(grep -n 'READY=1' "$out" | head -n1 | cut -d: -f1)
wd_line=$(grep -n 'WATCHDOG=1' "$out" | head -n1 | cut -d: -f1)
check "READY precedes the first WATCHDOG" test "$ready_line" -lt "$wd_line"
done_testing
