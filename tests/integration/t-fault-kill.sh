#!/usr/bin/env bash
# For FAULT_SECONDS (60), SIGKILL random apps of a 10-app config at random
# moments: every app ends live, restart counts match the kills, no zombie,
# no leaked descriptor.
. "$(dirname "$0")/../lib.sh"
secs=${FAULT_SECONDS:-60}
{
	for i in $(seq 0 9); do
		P=$(free_port)
		printf '[app:a%s]\ndir = %s/tests/app\ncommand = %s server.js\nport = %s\nhealth = /health\nrestart_delay = 50ms\nstart_limit = 0\n\n' "$i" "$SRCDIR" "$NODE" "$P"
	done
} | tend_conf
tendd_start || { not_ok "tendd starts"; done_testing; }
all_live() { [ "$(tctl status --json | jq '[.apps[] | select(.state == "live")] | length')" = 10 ]; }
check "10 apps live" wait_for "all live" 60 all_live
fd0=$(ls /proc/"$TENDD_PID"/fd | wc -l)
declare -A kills
end=$(( $(date +%s) + secs ))
total=0
while [ "$(date +%s)" -lt "$end" ]; do
	a=a$(( RANDOM % 10 ))
	s=$(tctl status "$a" --json) || continue
	if [ "$(jq -r '.apps[0].state' <<<"$s")" = live ]; then
		pid=$(jq -r '.apps[0].pid' <<<"$s")
		if kill -KILL "$pid" 2>/dev/null; then
			kills[$a]=$(( ${kills[$a]:-0} + 1 ))
			total=$((total + 1))
		fi
	fi
	sleep "0.$(( RANDOM % 5 ))"
done
echo "# $total kills in ${secs}s"
check "every app ends live" wait_for "all live again" 60 all_live
bad=
for i in $(seq 0 9); do
	r=$(json "a$i" restarts); k=${kills[a$i]:-0}
	[ "$r" = "$k" ] || bad="$bad a$i:$r/$k"
done
check "restart counts match the kills (restarts/kills)${bad:+:$bad}" test -z "$bad"
check "at least 30 kills happened ($total)" test "$total" -ge 30
check "no zombie child of tendd" test -z "$(ps --ppid "$TENDD_PID" -o stat= | grep Z)"
fd1=$(ls /proc/"$TENDD_PID"/fd | wc -l)
check "descriptors: $fd1 (were $fd0)" test "$fd1" = "$fd0"
done_testing
