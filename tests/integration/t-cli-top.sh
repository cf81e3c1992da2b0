#!/usr/bin/env bash
# tendctl top under tmux: every app and instance shows, c/m/n sort, q
# quits with exit 0, ^C with 130, and the terminal is given back as it was
# (echo and canonical mode on) either way; ^Z and fg in a shell; a tendd
# that goes away ends it with exit 3 and the reason readable.
. "$(dirname "$0")/../lib.sh"
command -v tmux >/dev/null || { not_ok "tmux is installed (setup test)"; done_testing; }
P=$(free_port)
tend_conf <<EOF2
[app:web]
dir = $SRCDIR/tests/app
command = $NODE server.js
port = $P
instances = 2
health = /health

[app:worker]
dir = $SRCDIR/tests/app
command = sleep 1000
min_ready = 100ms

[app:zz-idle]
dir = $SRCDIR/tests/app
command = sleep 1000
autostart = no
EOF2
tendd_start || { not_ok "tendd starts"; done_testing; }
wait_for "web and worker live" 20 bash -c "[ \"\$($TENDCTL -c $T/tend.conf status --json | jq '[.apps[] | select(.state == \"live\")] | length')\" = 2 ]" ||
	{ not_ok "apps live"; done_testing; }

# top_in N: a tmux server of its own (reusing one being killed races)
# whose pane runs top, then records its exit status and the terminal's
# settings afterwards.
top_in() {
	TM="tmux -S $T/tmux$1.sock"
	on_exit "$TM kill-server"
	rm -f "$T/top.rc" "$T/stty.after"
	$TM new-session -d -x 150 -y 30 "TERM=xterm $TENDCTL -c $T/tend.conf top; echo \$? > $T/top.rc; stty -a > $T/stty.after; sleep 60"
}
top_in 1
screen() { $TM capture-pane -p; }
shows() { screen | grep -Eq "$1"; }

check "top shows its title" wait_for "title" 10 shows '^tend top .* 3 apps, 2 live'
check "web's row" shows '^web +live'
check "a row per instance: #0 and #1" bash -c "$TM capture-pane -p | grep -Eq '^  #0 +live +[0-9]+' && $TM capture-pane -p | grep -Eq '^  #1 +live +[0-9]+'"
check "worker's row" shows '^worker +live +[0-9]+'
check "the stopped app too" shows '^zz-idle +stopped'
# It refreshes: the clock in the title moves.
t1=$(screen | head -n 1 | awk '{ print $3 }')
check "it refreshes each second (the clock moves on from $t1)" wait_for "refresh" 5 bash -c "[ \"\$($TM capture-pane -p | head -n 1 | awk '{ print \$3 }')\" != '$t1' ]"
$TM send-keys m
check "m sorts by memory" wait_for "memory" 5 shows 'sorted by memory'
check "web (two node processes) is first by memory" bash -c "$TM capture-pane -p | sed -n 4p | grep -q '^web '"
$TM send-keys n
check "n sorts by name" wait_for "name" 5 shows 'sorted by name'
order=$(screen | grep -Eo '^(web|worker|zz-idle) ' | xargs)
check "by name: web worker zz-idle ($order)" test "$order" = "web worker zz-idle"
$TM send-keys c
check "c sorts by CPU" wait_for "cpu" 5 shows 'sorted by CPU'
$TM send-keys q
check "q quits" wait_for "exit" 5 test -s "$T/top.rc"
check "with exit 0" test "$(cat "$T/top.rc" 2>/dev/null)" = 0
check "and gives the terminal back: echo and icanon on" bash -c "grep -qw icanon $T/stty.after && grep -qw echo $T/stty.after && ! grep -qw -- -icanon $T/stty.after"

# ^C: the same, exit 130.
top_in 2
check "top again" wait_for "title" 10 shows '^tend top'
$TM send-keys C-c
check "^C ends it" wait_for "exit" 5 test -s "$T/top.rc"
check "with 130 (SIGINT)" test "$(cat "$T/top.rc" 2>/dev/null)" = 130
check "the terminal is given back after ^C too" bash -c "grep -qw icanon $T/stty.after && ! grep -qw -- -echo $T/stty.after"

# ^\ (SIGQUIT, which the terminal sends as it sends ^C): the same, 131.
top_in 5
check "top once more" wait_for "title" 10 shows '^tend top'
$TM send-keys 'C-\'
check "^\\ ends it" wait_for "exit" 5 test -s "$T/top.rc"
check "with 131 (SIGQUIT)" test "$(cat "$T/top.rc" 2>/dev/null)" = 131
check "the terminal is given back after ^\\ too" bash -c "grep -qw icanon $T/stty.after && ! grep -qw -- -echo $T/stty.after"

# ^Z in an interactive shell: the shell gets its screen back ("Stopped"),
# fg brings the view back, q still ends it with 0.
TM="tmux -S $T/tmux4.sock"
on_exit "$TM kill-server"
$TM new-session -d -x 150 -y 30 "env -i PATH=$PATH TERM=xterm PS1='$ ' bash --norc --noprofile -i"
check "an interactive shell" wait_for "prompt" 10 shows '^\$'
$TM send-keys "$TENDCTL -c $T/tend.conf top" Enter
check "top in it" wait_for "title" 10 shows '^tend top'
$TM send-keys C-z
check "^Z: the shell's screen is back, top stopped" wait_for "stopped" 5 shows 'Stopped +.*tendctl'
check "and top's view is gone from it" bash -c "! $TM capture-pane -p | grep -q '^tend top'"
$TM send-keys fg Enter
check "fg: the view is back" wait_for "title again" 5 shows '^tend top'
$TM send-keys q
wait_for "the shell again" 5 bash -c "! $TM capture-pane -p | grep -q '^tend top'"
$TM send-keys 'echo "rc=$?"' Enter
check "q ends it with 0" wait_for "rc" 5 shows '^rc=0$'

# tendd goes away mid-view: exit 3, the terminal back, and the reason
# readable on it (said while the view was up, said again after).
top_in 3
check "top once more" wait_for "title" 10 shows '^tend top'
kill -TERM "$TENDD_PID"
check "tendd gone: top ends" wait_for "exit" 20 test -s "$T/top.rc"
check "with 3 (cannot reach tendd)" test "$(cat "$T/top.rc" 2>/dev/null)" = 3
check "the reason is on the terminal afterwards" shows "^tendctl: cannot reach tendd at $T/tend.sock"
check "which is in its usual mode" bash -c "grep -qw icanon $T/stty.after && ! grep -qw -- -echo $T/stty.after"

out=$("$TENDCTL" -c "$T/tend.conf" top </dev/null 2>&1); rc=$?
check "without a terminal top refuses (exit 2) and says why" bash -c "[ $rc = 2 ] && grep -q '^tendctl: top needs a terminal' <<<'$out'"
done_testing
