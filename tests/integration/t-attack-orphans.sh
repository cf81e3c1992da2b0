#!/usr/bin/env bash
# At start tendd stops what a killed tendd left running: processes of the
# app's own uid, started before it, carrying tend's markers.  Anyone can
# put TEND_SUPERVISOR=<socket> in an environment: a process of another
# user (nobody) or root's own with those markers, started before tendd,
# is left alone; a real orphan (the app's instance after kill -9 of
# tendd) is still stopped.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || { echo "skip - needs root"; done_testing; }
app_user || { not_ok "create the app's user"; done_testing; }
victim_setup
mkdir -p "$T/srv"
A=$T/srv/web
app_tree "$A"
install -o "$APP_USER" -g "$APP_USER" -m 644 "$SERVER" "$A/server.js"
P=$(free_port)
{
	cat <<EOF
[app:web]
dir = $A
user = $APP_USER
command = $NODE server.js
port = $P
health = /health
min_ready = 200ms

EOF
	other_conf
} | tend_conf

# foreign UID: a process of UID's, in a session of its own, with tend's
# markers for app web in its environment.  Its pid in $FPID.
foreign() {
	setpriv --reuid="$1" --regid="$(id -g "$1")" --clear-groups \
	    env TEND_SUPERVISOR="$T/tend.sock" TEND_APP=web TEND_INSTANCE=0 \
	    setsid sleep 118 &
	FPID=$!
	on_exit "kill $FPID"
	wait_for "the foreign process" 5 bash -c "[ \"\$(cat /proc/$FPID/comm)\" = sleep ]"
}
foreign nobody; NOBODY=$FPID
foreign root; ROOTP=$FPID
alive() { [ -d "/proc/$1" ] && [ "$(ps -o stat= -p "$1" | cut -c1)" != Z ]; }
check "nobody's process carries the markers" grep -qa "TEND_SUPERVISOR=$T/tend.sock" "/proc/$NOBODY/environ"

tendd_start || { not_ok "tendd starts"; done_testing; }
other_up || not_ok "the other app goes live"
check "web goes live" wait_for "web live" 15 state_is web live
check "nobody's process with tend's markers is still alive" alive "$NOBODY"
check "so is root's own" alive "$ROOTP"

# A real orphan: the app's instance that a tendd killed with -9 left.
orphan=$(json web pid)
kill -9 "$TENDD_PID"; wait "$TENDD_PID" 2>/dev/null; TENDD_PID=
check "after kill -9 of tendd its app runs on" alive "$orphan"
tendd_start || { not_ok "tendd restarts"; done_testing; }
check "the next tendd stopped the real orphan" wait_for "orphan gone" 10 bash -c "! [ -d /proc/$orphan ]"
check "and started web again" wait_for "web live" 15 state_is web live
check "nobody's process is still alive" alive "$NOBODY"
check "so is root's own" alive "$ROOTP"
other_up || not_ok "the other app goes live again"
attack_checks
done_testing
