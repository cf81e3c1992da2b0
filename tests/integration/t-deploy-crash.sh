#!/usr/bin/env bash
# kill -9 of tendd at random moments of deploys (fetch, clone, build,
# start, switch): after each restart the history is readable, no deploy is
# left in progress, exactly the live instance of the app runs (no orphan),
# and nginx's upstream names the port that answers.
. "$(dirname "$0")/../lib.sh"
SRC=$T/src
APPDIR=$T/srv/web
git_repo "$SRC"
printf 'sleep 0.3\ncp version.txt built.txt\n' > "$SRC/build.sh"
git_commit "$SRC" build
P=$(free_port)
RESERVED_PORTS="$P $((P + 100))"
tend_conf <<EOF
[app:web]
dir = $APPDIR
repo = $SRC
build = sh build.sh
command = $NODE server.js
port = $P
health = /health
nginx_upstream = $T/upstream.conf
nginx_test = true
nginx_reload = true
drain_timeout = 200ms
kill_timeout = 2s
EOF
tendd_start || { not_ok "tendd starts"; done_testing; }
tctl deploy web >/dev/null 2>&1 || not_ok "first deploy"
ours() { grep -l "TEND_SUPERVISOR=$T/tend.sock" /proc/[0-9]*/environ 2>/dev/null | wc -l; }
upport() { sed -n 's/.*server 127.0.0.1:\([0-9]*\);.*/\1/p' "$T/upstream.conf"; }
bad=0
for i in 1 2 3 4 5 6; do
	echo "v$((i + 1))" > "$SRC/version.txt"; git_commit "$SRC" "v$((i + 1))"
	tctl deploy web >/dev/null 2>&1 &
	# somewhere between the fetch and the switch
	sleep "0.$((RANDOM % 9 + 1))"
	kill -9 "$TENDD_PID"; wait "$TENDD_PID" 2>/dev/null
	wait 2>/dev/null
	if ! jq -e 'type == "array"' "$T/state/web.deploys.json" >/dev/null; then
		not_ok "kill $i: history readable"; bad=1
	fi
	tendd_start || { not_ok "tendd restarts after kill $i"; done_testing; }
	if ! wait_for "web live after kill $i" 20 state_is web live; then
		not_ok "kill $i: web live again"; bad=1; continue
	fi
	inprogress=$(tctl releases web --json | jq '[.releases[] | select(.status == "building" or .status == "awaiting" or .status == "deploying")] | length')
	live=$(tctl releases web --json | jq '[.releases[] | select(.status == "live")] | length')
	wait_for "one process" 10 bash -c "[ \$(grep -l 'TEND_SUPERVISOR=$T/tend.sock' /proc/[0-9]*/environ 2>/dev/null | wc -l) = 1 ]"
	n=$(ours)
	p=$(upport)
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$p/health")
	echo "# kill $i: in progress $inprogress, live records $live, processes $n, upstream port $p answers $code"
	if [ "$inprogress" != 0 ] || [ "$live" != 1 ] || [ "$n" != 1 ] || [ "$code" != 200 ]; then
		not_ok "kill $i left things inconsistent"; bad=1
	fi
done
check "after 6 kills at random moments: history readable, nothing left in progress, one live release, no orphan, upstream answers" test "$bad" = 0
done_testing
