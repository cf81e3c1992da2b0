#!/usr/bin/env bash
# An app that exits at once is restarted with exponentially growing
# delays: nominal 200, 400, 800, 1600, 2000, 2000 ms, less up to 20 %.
. "$(dirname "$0")/../lib.sh"
tend_conf <<EOF2
[app:crashy]
dir = $SRCDIR/tests/app
command = $NODE server.js
env = EXIT_AT_START=1
restart_delay = 200ms
restart_delay_max = 2s
start_limit = 100
EOF2
tendd_start || { not_ok "tendd starts"; done_testing; }
log=$T/log/crashy.log
count_restarts() { [ "$(grep -c ', restart in ' "$log")" -ge "$1" ]; }
check "six restarts are scheduled" wait_for "6 restarts" 20 count_restarts 6
mapfile -t delays < <(grep -o 'restart in [0-9.]*m\?s' "$log" | head -n 6 | awk '{print $3}')
nominal=(200 400 800 1600 2000 2000)
good=1
for i in 0 1 2 3 4 5; do
	d=${delays[$i]:-x}
	case $d in
	*ms) v=${d%ms} ;;
	*s) v=$(awk -v s="${d%s}" 'BEGIN { printf "%d", s * 1000 }') ;;
	*) v=-1 ;;
	esac
	lo=$(( nominal[i] * 8 / 10 - 100 )); hi=${nominal[$i]}
	# format_duration prints tenths of a second above 1 s.
	[ "$v" -ge "$lo" ] && [ "$v" -le "$hi" ] || { good=0; echo "# delay $i: $d (nominal ${nominal[$i]})"; }
done
if [ $good = 1 ]; then ok "delays follow 200,400,800,1600,2000,2000 within jitter"; else not_ok "delays follow the backoff sequence" "${delays[*]}"; fi
# The gaps between starts really are those delays.
mapfile -t starts < <(grep ' started pid ' "$log" | head -n 5 | awk '{print $1}')
gap_ok=1
for i in 1 2 3 4; do
	a=$(date -d "${starts[$((i-1))]}" +%s%3N); b=$(date -d "${starts[$i]}" +%s%3N)
	g=$((b - a)); lo=$(( nominal[i-1] * 8 / 10 - 50 ))
	[ "$g" -ge "$lo" ] || { gap_ok=0; echo "# gap $i: $g ms < $lo"; }
done
if [ $gap_ok = 1 ]; then ok "starts are spaced by at least the delay"; else not_ok "starts are spaced by the delay"; fi
check "status shows backoff or starting" bash -c "s=\$(\"$TENDCTL\" -c $T/tend.conf status --json | jq -r '.apps[0].state'); [ \$s = backoff ] || [ \$s = starting ]"
check "last_exit is code 1" test "$(json crashy last_exit.code)" = 1
done_testing
