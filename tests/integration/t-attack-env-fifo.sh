#!/usr/bin/env bash
# The app's user makes its env_file a FIFO that nobody writes: a blocking
# open or read would hang tendd's loop.  env_file must be a regular file,
# opened without blocking: tendd starts and answers at once, at start and
# on a reread, the app fails with the reason, the other app runs on.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || { echo "skip - needs root"; done_testing; }
app_user || { not_ok "create the app's user"; done_testing; }
victim_setup
mkdir -p "$T/srv"
A=$T/srv/web; B=$T/srv/web2
for d in "$A" "$B"; do
	app_tree "$d"
	install -o "$APP_USER" -g "$APP_USER" -m 644 "$SERVER" "$d/server.js"
	# Should tendd block on the FIFO, this lets it go at exit.
	on_exit "python3 -c 'import os,sys; os.open(sys.argv[1], os.O_WRONLY | os.O_NONBLOCK)' $d/shared/.env"
done
# The attack on web, in place before tendd starts.
as_app rm "$A/shared/.env"
as_app mkfifo "$A/shared/.env"
P=$(free_port); P2=$(free_port)
conf() {	# [extra line for web2]
	{
		cat <<EOF
[app:web]
dir = $A
user = $APP_USER
env_file = $A/shared/.env
command = $NODE server.js
port = $P
health = /health

[app:web2]
dir = $B
user = $APP_USER
env_file = $B/shared/.env
command = $NODE server.js
port = $P2
health = /health
min_ready = 200ms
${1:-}

EOF
		other_conf
	} | tend_conf
}
conf

t0=$(now_ms)
out=$(timeout 5 "$TENDD" -t -c "$T/tend.conf" 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# tendd -t: /'
check "tendd -t exits 1 at once ($(( $(now_ms) - t0 )) ms; 124 is a hang)" test "$rc" = 1
check "and names the env_file" grep -qF "$A/shared/.env" <<<"$out"

t0=$(now_ms)
"$TENDD" -f -c "$T/tend.conf" >>"$T/tendd.log" 2>&1 &
TENDD_PID=$!
if wait_for "tendd to answer" 5 tctl status; then
	ok "tendd answers within seconds of its start ($(( $(now_ms) - t0 )) ms)"
else
	not_ok "tendd answers within seconds of its start" "no answer after 5 s: blocked on the FIFO?"
	done_testing
fi
status_fast "tendd answers status within 1 s at start"
if other_up; then ok "the other app goes live"; else not_ok "the other app goes live"; fi
check "web2 goes live" wait_for "web2 live" 15 state_is web2 live
check "web is failed" wait_for "web failed" 10 state_is web failed
reason=$(json web reason)
echo "# reason: $reason"
check "its reason names the env_file" grep -qF "$A/shared/.env" <<<"$reason"
check "and says it is not a regular file" grep -qiE 'regular file|fifo' <<<"$reason"
status_fast "tendd answers status within 1 s"

# The attack on web2 while tendd runs; then its section changes and the
# operator rereads.
as_app rm "$B/shared/.env"
as_app mkfifo "$B/shared/.env"
conf "env = CHANGED=1"
t0=$(now_ms)
out=$(timeout 5 "$TENDCTL" -c "$T/tend.conf" reread 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# reread: /'
check "tendctl reread returns at once ($(( $(now_ms) - t0 )) ms, exit $rc; 124 is a hang)" test "$rc" != 124
status_fast "tendd answers status within 1 s after the reread"
check "web2 is failed" wait_for "web2 failed" 10 state_is web2 failed
reason=$(json web2 reason)
echo "# reason: $reason"
check "its reason names the env_file" grep -qF "$B/shared/.env" <<<"$reason"
out=$(timeout 5 "$TENDCTL" -c "$T/tend.conf" restart web2 2>&1); rc=$?
check "tendctl restart web2 fails at once (exit $rc; 124 is a hang)" test "$rc" = 1
status_fast "tendd answers status within 1 s after the restart"
attack_checks
done_testing
