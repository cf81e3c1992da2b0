#!/usr/bin/env bash
# No descriptor leaks: after 1,000 app restarts and 1,000 tendctl
# connections, tendd has the descriptors it had.
. "$(dirname "$0")/../lib.sh"
tend_conf <<EOF2
[app:flap]
dir = /
command = echo flap
restart_delay = 1ms
restart_delay_max = 1ms
start_limit = 0
min_ready = 1h
EOF2
tendd_start || { not_ok "tendd starts"; done_testing; }
fds() { ls /proc/"$TENDD_PID"/fd | wc -l; }
# A tendctl that just exited may still have its connection open in tendd
# until its next turn of the loop: the count once that settles (1 s at
# most), the smallest seen.
settled() {
	local n m i
	n=$(fds)
	for i in $(seq 20); do
		m=$(fds); [ "$m" -lt "$n" ] && n=$m
		sleep 0.05
	done
	echo "$n"
}
restarts() { [ "$(json flap restarts)" -ge "$1" ]; }
check "10 restarts" wait_for "10 restarts" 30 restarts 10
tctl stop flap >/dev/null
before=$(settled)
tctl start --no-wait flap >/dev/null
check "1,000 restarts" wait_for "1000 restarts" 120 restarts 1010
tctl stop flap >/dev/null
check "the app is down" state_is flap stopped
after=$(settled)
check "fds after 1,000 restarts: $after (before: $before)" test "$after" = "$before"
for i in $(seq 1000); do tctl status >/dev/null || break; done
check "1,000 tendctl connections answered" test "$i" = 1000
wait_for "clients closed" 5 bash -c "[ \$(ls /proc/$TENDD_PID/fd | wc -l) = $before ]"
after=$(settled)
check "fds after 1,000 connections: $after (before: $before)" test "$after" = "$before"
check "no zombie child of tendd" test -z "$(ps --ppid "$TENDD_PID" -o stat= | grep Z)"
done_testing
