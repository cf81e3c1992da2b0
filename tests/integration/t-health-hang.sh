#!/usr/bin/env bash
# Health checks that hang never stall the loop: status answers fast.
. "$(dirname "$0")/../lib.sh"
{
	for i in 1 2 3 4 5; do
		P=$(free_port)
		printf '[app:h%s]\ndir = %s/tests/app\ncommand = %s server.js\nport = %s\nhealth = /health\nhealth_timeout = 30s\nready_timeout = 60s\nenv = HEALTH_HANG=1\n\n' "$i" "$SRCDIR" "$NODE" "$P"
	done
} | tend_conf
tendd_start || { not_ok "tendd starts"; done_testing; }
# Wait until the checks are in flight (the servers accept, never answer).
check "apps bound" wait_for "bound" 10 bash -c "[ \$(cat $T/log/*.log | grep -c 'bound at') = 5 ]"
sleep 0.3
times=()
for i in 1 2 3 4 5 6 7; do
	a=$(date +%s%N); tctl status >/dev/null; b=$(date +%s%N)
	times+=($(( (b - a) / 1000000 )))
done
med=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 4p)
echo "# status wall times (ms): ${times[*]}"
check "tendctl status answers in < 50 ms while checks hang (median $med ms)" test "$med" -lt 50
check "apps are still starting (checks pending, not failed)" test "$(tctl status --json | jq '[.apps[] | select(.state == "starting")] | length')" = 5
done_testing
