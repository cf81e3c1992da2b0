#!/usr/bin/env bash
# tendctl status: a row per instance under its app; LAST-EXIT is the most
# recent exit across instances (a SIGKILL of instance 0 after instance 1
# exited with code 0), with its time; columns as wide as the data (a
# 26-character app name); CPU/MEM blank once stopped; colours only on a
# terminal, none with NO_COLOR or --no-color; --json keeps its names.
. "$(dirname "$0")/../lib.sh"
P=$(free_port)
LONG=abcdefghijklmnopqrstuvwxyz		# 26 characters
tend_conf <<EOF2
[app:web]
dir = $SRCDIR/tests/app
command = $NODE server.js
port = $P
instances = 2
health = /health

[app:$LONG]
dir = $SRCDIR/tests/app
command = sleep 1000
min_ready = 100ms
EOF2
tendd_start || { not_ok "tendd starts"; done_testing; }
wait_for "both apps live" 20 bash -c "[ \"\$($TENDCTL -c $T/tend.conf status --json | jq '[.apps[] | select(.state == \"live\")] | length')\" = 2 ]" ||
	{ not_ok "apps live"; done_testing; }

out=$(tctl status)
p0=$(tctl status --json | jq '.apps[] | select(.name == "web") | .instances[0].pid')
p1=$(tctl status --json | jq '.apps[] | select(.name == "web") | .instances[1].pid')
check "web's row, then a row per instance (#0, #1) under it" \
    bash -c "grep -A2 '^web ' <<<'$out' | sed -n '2p;3p' | awk '{print \$1, \$3}' | tr '\n' ' ' | grep -qx '#0 $p0 #1 $p1 '"
check "each instance row has its own pid" test "$p0" != "$p1"
check "a one-instance app has no instance rows" \
    bash -c "[ \$(grep -c '^  #' <<<'$out') = 2 ]"

# Columns as wide as the data: every state starts under STATE.
col=$(head -n 1 <<<"$out" | awk '{ print index($0, "STATE") }')
check "the header's STATE moved right for the long name (column $col)" test "$col" = 29
bad=0
while IFS= read -r l; do
	[ "${l:$((col - 2)):1}" = " " ] && [[ "${l:$((col - 1))}" == live* ]] || bad=1
done < <(sed -n '2,$p' <<<"$out")
check "every row's state sits under STATE" test "$bad" = 0

# LAST-EXIT: instance 1 exits cleanly (code 0), then instance 0 is killed.
kill -TERM "$p1"
wait_for "instance 1 back" 20 bash -c "[ \"\$($TENDCTL -c $T/tend.conf status --json | jq -r '.apps[] | select(.name == \"web\") | .instances[1] | .state + \" \" + (.last_exit.code|tostring)')\" = 'live 0' ]" ||
	not_ok "instance 1 restarted after its exit"
kill -KILL "$p0"
wait_for "instance 0 back" 20 bash -c "[ \"\$($TENDCTL -c $T/tend.conf status --json | jq -r '.apps[] | select(.name == \"web\") | .instances[0] | .state + \" \" + .last_exit.signal')\" = 'live SIGKILL' ]" ||
	not_ok "instance 0 restarted after SIGKILL"
j=$(tctl status --json | jq -c '.apps[] | select(.name == "web") | .last_exit')
check "the app's last_exit is the SIGKILL, the most recent ($j)" test "$(jq -r .signal <<<"$j")" = SIGKILL
check "with its time, ISO 8601 UTC" grep -Eq '"time":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z"' <<<"$j"
check "and how long ago" test "$(jq '.ago_ms >= 0' <<<"$j")" = true
out=$(tctl status)
check "the table's LAST-EXIT says SIGKILL ... ago on web's row" grep -Eq '^web .* SIGKILL [0-9.]+(ms|s) ago' <<<"$out"
check "and instance 1 still its own code 0" grep -Eq '^  #1 .* code 0 [0-9.hms]+ ago' <<<"$out"

# --json: every name scripts rely on is still there.
keys=$(tctl status --json | jq -r '.apps[0] | keys | join(" ")')
miss=
for k in name state pid pids restarts uptime_ms last_exit rss_bytes cpu_percent health ready_ms release reason instances; do
	grep -qw "$k" <<<"$keys" || miss="$miss $k"
done
check "status --json keeps every field name (missing:${miss:- none})" test -z "$miss"

# CPU and MEM: blank as soon as an app is stopped, never its old figures.
tctl status >/dev/null	# a fresh /proc pass, with the app running
check "the long app shows memory while it runs" grep -Eq "^$LONG +live .*%" <<<"$(tctl status)"
tctl -q stop "$LONG"
check "stopped: rss_bytes and cpu_percent are 0 at once" test "$(json "$LONG" rss_bytes) $(json "$LONG" cpu_percent)" = "0 0"
row=$(tctl status | grep "^$LONG ")
check "and the row's CPU and MEM are blank ($row)" bash -c "! grep -Eq '%|[0-9.]+[BKMG]( |\$)' <<<'$row'"

# Colours: on a terminal only, and never with NO_COLOR or --no-color.
esc=$'\e['
tty=$(script -qec "$TENDCTL -c $T/tend.conf status" /dev/null)
check "on a terminal, live is green" grep -qF "${esc}32mlive${esc}0m" <<<"$tty"
check "into a pipe, no escape at all" bash -c "! $TENDCTL -c $T/tend.conf status | grep -q \$'\\e'"
tty=$(NO_COLOR=1 script -qec "$TENDCTL -c $T/tend.conf status" /dev/null)
check "NO_COLOR=1 on a terminal: no escape" bash -c "! grep -q \$'\\e' <<<'$tty'"
tty=$(script -qec "$TENDCTL -c $T/tend.conf status --no-color" /dev/null)
check "--no-color on a terminal: no escape" bash -c "! grep -q \$'\\e' <<<'$tty'"
check "but the same table" grep -q "^$LONG  stopped" <<<"$tty"

# The pass over /proc runs at most once a second, but an instance that
# started since the last one is measured at once: a status, a start, and
# a status again as soon as the kernel shows the new process's memory.
t0=$(now_ms)
tctl status >/dev/null
tctl start "$LONG" --no-wait >/dev/null
lpid=
wait_for "$LONG's process" 5 bash -c "pgrep -P $TENDD_PID -x sleep >/dev/null" &&
	lpid=$(pgrep -P "$TENDD_PID" -x sleep | head -n 1)
wait_for "its pages" 5 bash -c "[ \$(awk '{print \$2}' /proc/$lpid/statm) -gt 0 ]"
rss=$(json "$LONG" rss_bytes)
if [ $(( $(now_ms) - t0 )) -lt 900 ]; then
	check "a status right after a start measures the new instance ($rss bytes)" test "${rss:-0}" -gt 0
else
	echo "skip - the start took over a second here; the pass was due anyway"
fi
done_testing
