#!/usr/bin/env bash
# The app's user writes an escape sequence where tendd quotes it back: a
# key of its env_file that is not a key ends up in the app's reason.
# tendctl status (the table), tendctl top and the error of a command
# (restart) show the reason with the control characters as '?', never as
# an escape sequence to the admin's terminal; status --json keeps the
# text as it is, for programs.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || { echo "skip - needs root"; done_testing; }
app_user || { not_ok "create the app's user"; done_testing; }
A=$T/srv/web
mkdir -p "$T/srv"
app_tree "$A"
install -o "$APP_USER" -g "$APP_USER" -m 644 "$SERVER" "$A/server.js"
# The attack: a window title and a screen clear in a key.
as_app sh -c "printf '\033]0;pwned\007\033[2J=x\n' > '$A/shared/.env'"
P=$(free_port)
tend_conf <<CONF
[app:web]
dir = $A
user = $APP_USER
env_file = $A/shared/.env
command = $NODE server.js
port = $P
CONF
tendd_start || { not_ok "tendd starts"; done_testing; }
check "web's reason quotes the bad key" wait_for "invalid key in the reason" 15 \
    bash -c "$(declare -f tctl json); T=$T TENDCTL=$TENDCTL; json web reason | grep -q 'invalid key'"
check "status --json keeps the text as it is" \
    bash -c "$(declare -f tctl json); T=$T TENDCTL=$TENDCTL; json web reason | grep -q \$'\\e\\\\]0;pwned'"
tctl status >"$T/status.out" 2>&1
check "tendctl status shows the reason" grep -q "invalid key '?\]0;pwned??\[2J'" "$T/status.out"
check "with no escape character" bash -c "! grep -q \$'\\e' $T/status.out"
timeout 10 "$TENDCTL" -c "$T/tend.conf" restart web >/dev/null 2>"$T/restart.err"
check "tendctl restart web fails, saying why" grep -q "invalid key" "$T/restart.err"
check "with no escape character either" bash -c "! grep -q \$'\\e' $T/restart.err"
# top under a terminal of its own; its own sequences are there, the
# app's must not be.
# script -f writes the typescript as it comes: the test waits for the
# frame, then quits top with SIGINT (as ^C would).
script -qfec "stty cols 400 rows 40; exec timeout -s INT 60 $TENDCTL -c $T/tend.conf top" \
    "$T/top.out" >/dev/null 2>&1 &
spid=$!
check "tendctl top drew the reason" wait_for "top's frame with the reason" 20 \
    grep -q "invalid key" "$T/top.out"
pkill -INT -f "^$TENDCTL -c $T/tend.conf top" 2>/dev/null
wait "$spid"
grep -q "invalid key" "$T/top.out" ||
	cat -v "$T/top.out" | head -n 12 | sed 's/^/# top: /'
check "without the app's escape sequences" \
    bash -c "! grep -q \$'\\e\\\\]0;pwned' $T/top.out && ! grep -q \$'\\e\\\\[2J' $T/top.out"
done_testing
