#!/usr/bin/env bash
# SIGUSR2: tendd execs its binary anew and the new tendd takes its apps
# over: same tendd pid, same app pids, no failed request, status as it
# was; the adopted apps' output, crashes and stops are still seen.  A bad
# record is ignored (apps start as at boot); a tendd with an app still
# starting refuses.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || { echo "skip - needs root"; done_testing; }
app_user || { not_ok "create a test user"; done_testing; }
# The checkout may sit where the user cannot read (under /root).
mkdir -p "$T/app" && cp "$SERVER" "$T/app/" && chmod -R a+rX "$T/app"
P=$(free_port)
while Q=$(free_port); [ "$Q" = $((P + 1)) ]; do :; done
tend_conf <<EOF2
[app:web]
dir = $T/app
command = $NODE server.js
port = $P
instances = 2
health = /health
min_ready = 200ms

[app:worker]
dir = $T/app
command = $NODE server.js
port = $Q
user = $APP_USER
env = LOG_REQUESTS=1
min_ready = 200ms
EOF2
# What systemd would hear (sd_notify): RELOADING=1, READY=1, watchdog.
python3 "$SRCDIR/tests/dgram-listen.py" "$T/notify.sock" "$T/notify.out" &
on_exit "kill $!"
wait_for "listener" 5 test -S "$T/notify.sock"
NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=1000000 tendd_start ||
    { not_ok "tendd starts"; done_testing; }
check "web live" wait_for "web live" 10 state_is web live
check "worker live" wait_for "worker live" 10 state_is worker live

ipid() { tctl status --json | jq -r --arg a "$1" --argjson i "$2" '.apps[] | select(.name == $a) | .instances[$i].pid'; }
ifield() { tctl status --json | jq -r --arg a "$1" --argjson i "$2" --arg f "$3" '.apps[] | select(.name == $a) | .instances[$i][$f]'; }
web0=$(ipid web 0) web1=$(ipid web 1) wk=$(ipid worker 0)
check "three app processes ($web0 $web1 $wk)" test -d "/proc/$web0" -a -d "/proc/$web1" -a -d "/proc/$wk"
check "worker runs as $APP_USER" test "$(stat -c %U "/proc/$wk")" = "$APP_USER"
up_before=$(ifield web 0 uptime_ms)
restarts_before=$(tctl status --json | jq -c '[.apps[].instances[].restarts]')
fds_before=$(ls /proc/"$TENDD_PID"/fd | wc -l)

# Load on web's first instance while tendd hands over (bounded: 6 s).
wrk -t1 -c4 -d6s --timeout 2s "http://127.0.0.1:$P/" >"$T/wrk.out" 2>&1 &
WRK=$!
on_exit "kill $WRK 2>/dev/null"
sleep 1		# requests before the signal: the load runs for 6 s
kill -USR2 "$TENDD_PID"
check "the new tendd says it took both apps over" \
    wait_for "handover line" 10 grep -q "handover from commit .*: 2 apps taken over" "$T/tendd.log"
wait "$WRK"
reqs=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$T/wrk.out")
non2xx=$(sed -n 's/.*Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$T/wrk.out")
errs=$(sed -n 's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1 \2 \3 \4/p' "$T/wrk.out" | awk '{ print $1 + $2 + $3 + $4 }')
echo "# $reqs requests, non-2xx ${non2xx:-0}, socket errors ${errs:-0}"
check "requests were made during the handover ($reqs)" test "${reqs:-0}" -gt 100
check "no request failed" test "${non2xx:-0}" = 0 -a "${errs:-0}" = 0

check "tendd has the same pid" kill -0 "$TENDD_PID"
check "tendd answers after the handover" tctl status
check "web[0] kept its pid" test "$(ipid web 0)" = "$web0"
check "web[1] kept its pid" test "$(ipid web 1)" = "$web1"
check "worker kept its pid" test "$(ipid worker 0)" = "$wk"
check "both apps live" bash -c "[ \"\$(\"$TENDCTL\" -c $T/tend.conf status --json | jq -r '[.apps[].state] | unique | join(\",\")')\" = live ]"
check "restart counts unchanged" test "$(tctl status --json | jq -c '[.apps[].instances[].restarts]')" = "$restarts_before"
up_after=$(ifield web 0 uptime_ms)
check "uptime went on ($up_before ms, then $up_after ms)" test "$up_after" -gt "$up_before"
reload_line=$(grep -n 'RELOADING=1' "$T/notify.out" | head -n1 | cut -d: -f1)
ready_after() { grep -n 'READY=1' "$T/notify.out" | cut -d: -f1 | awk -v r="${reload_line:-0}" '$1 > r { f = 1 } END { exit !f }'; }
wd_after() { grep -n 'WATCHDOG=1' "$T/notify.out" | cut -d: -f1 | awk -v r="${reload_line:-0}" '$1 > r { f = 1 } END { exit !f }'; }
check "systemd was told RELOADING=1" test -n "$reload_line"
check "and READY=1 after it" wait_for "READY after RELOADING" 5 ready_after
check "the watchdog pings go on from the new tendd" wait_for "WATCHDOG after" 5 wd_after
check "no record left in state_dir" test ! -e "$T/state/handover.json"
fds_after=$(ls /proc/"$TENDD_PID"/fd | wc -l)
check "no descriptor leaked ($fds_before before, $fds_after after)" test "$fds_after" -le "$fds_before"
check "health checks go on (web[0] health ok)" \
    wait_for "health ok" 5 test "$(ifield web 0 health)" = ok

# Output of an adopted app still reaches its log.
curl -fsS "127.0.0.1:$Q/after-handover" >/dev/null
check "logs capture new output of the adopted worker" \
    wait_for "marker in logs" 5 bash -c "\"$TENDCTL\" -c $T/tend.conf logs worker -n 20 | grep -q 'GET /after-handover'"

# A crash of an adopted instance is seen (SIGCHLD, waitpid) and restarted.
curl -s "127.0.0.1:$P/crash" >/dev/null
newpid() { p=$(ipid web 0); [ "$p" != null ] && [ "$p" != "$web0" ] && [ -d "/proc/$p" ]; }
check "the adopted web[0] crashed and runs again" wait_for "web[0] new pid" 10 newpid
check "web live again" wait_for "web live" 10 state_is web live
check "the crash is in the log with its exit code" \
    bash -c "\"$TENDCTL\" -c $T/tend.conf logs web -n 50 | grep -q 'pid $web0 exited with code 3'"
check "the restart is counted" test "$(ifield web 0 restarts)" = 1

# Stopping an adopted app stops its whole group.
check "tendctl stop worker" tctl stop worker
check "worker stopped" state_is worker stopped
check "nothing left of the worker's group" test -z "$(group_pids "$wk")"
check "web[1], adopted, still runs" test -d "/proc/$web1"

# A second handover, from a tendd that was itself handed over.
kill -USR2 "$TENDD_PID"
handovers() { [ "$(grep -c 'apps\? taken over' "$T/tendd.log")" = "$1" ]; }
check "a second handover takes the apps over again" \
    wait_for "second handover" 10 handovers 2
check "web[1] kept its pid again" test "$(ipid web 1)" = "$web1"
check "worker still stopped (not autostarted)" state_is worker stopped
check "tendctl stop web stops the adopted ones" tctl stop web
check "web[1]'s group is gone" test -z "$(group_pids "$web1")"

# An app whose settings changed before the handover starts anew; the old
# process is stopped first (it holds the port).
check "worker starts again" tctl start worker
wk2=$(ipid worker 0)
sed -i "s|^command = $NODE server.js\$|&|; /^\[app:worker\]/,/^min_ready/ s|^command = .*|command = $NODE ./server.js|" "$T/tend.conf"
kill -USR2 "$TENDD_PID"
check "a changed app is not taken over" \
    wait_for "not taken over" 10 grep -q "handover: worker not taken over: its command" "$T/tendd.log"
group_gone() { [ -z "$(group_pids "$1")" ]; }
check "its old process group is gone" wait_for "old worker gone" 10 group_gone "$wk2"
newworker() { p=$(ipid worker 0); [ "$p" != null ] && [ "$p" != "$wk2" ] && state_is worker live; }
check "it runs again, with the new command" wait_for "worker anew" 10 newworker
check "its new process runs ./server.js" grep -q "./server.js" "/proc/$(ipid worker 0)/cmdline"

# A record that does not add up: ignored, inherited fds closed, apps
# started as at boot.
R=$(free_port)
mkdir -p "$T/two"
cat > "$T/two/tend.conf" <<EOF2
[tend]
socket = $T/two/tend.sock
state_dir = $T/two/state
log_dir = $T/two/log

[app:solo]
dir = $T/app
command = $NODE server.js
port = $R
min_ready = 200ms

[app:slow]
dir = $T/app
command = $NODE server.js
min_ready = 60s

[app:half]
dir = $T/app
command = $NODE half.js
min_ready = 200ms
EOF2
# Half a line before the handover, the rest after it.
cat > "$T/app/half.js" <<EOF2
const fs = require('fs');
process.stdout.write('first-half');
const i = setInterval(() => {
  if (fs.existsSync('$T/two/go')) { process.stdout.write('-second-half\n'); clearInterval(i); }
}, 50);
EOF2
chmod a+r "$T/app/half.js"
echo '{"version": 1, "pid": 1, "apps": [' > "$T/two/bad.json"
chmod 600 "$T/two/bad.json"
# This tendd runs from a copy, to be replaced below.
mkdir -p "$T/bin" && cp "$TENDD" "$T/bin/tendd"
exec 57<"$T/tend.conf"
"$T/bin/tendd" -f -c "$T/two/tend.conf" --handover "$T/two/bad.json" >>"$T/two.log" 2>&1 &
TWO=$!
exec 57<&-
on_exit "kill $TWO 2>/dev/null"
t2() { "$TENDCTL" -c "$T/two/tend.conf" "$@"; }
check "a tendd given a bad record answers" wait_for "second tendd" 10 t2 status
check "it says the record was ignored" grep -q "handover record .*bad.json: .*ignored" "$T/two.log"
check "its app starts as at boot" wait_for "solo live" 10 bash -c "[ \"\$(\"$TENDCTL\" -c $T/two/tend.conf status --json | jq -r '.apps[] | select(.name == \"solo\") | .state')\" = live ]"
check "the inherited fd 57 was closed" test "$(readlink "/proc/$TWO/fd/57")" != "$T/tend.conf"

# Not steady (slow is still starting): SIGUSR2 is refused, nothing moves.
kill -USR2 "$TWO"
check "SIGUSR2 refused while an app is starting" \
    wait_for "refusal" 5 grep -q "not handing over now: slow\[0\] is starting" "$T/two.log"
check "that tendd still answers" t2 status
check "and still runs" kill -0 "$TWO"
check "the first tendd still answers" tctl status

# An exec that fails (the file at tendd's path is no program): tendd goes
# on as it was; once the file is a program again, SIGUSR2 works.
check "slow stops" t2 stop slow
solo=$(t2 status --json | jq -r '.apps[] | select(.name == "solo") | .pid')
mv "$T/bin/tendd" "$T/bin/tendd.real"
printf 'not a program\n' > "$T/bin/tendd"; chmod 755 "$T/bin/tendd"
kill -USR2 "$TWO"
check "a failed exec is logged" wait_for "exec failed" 5 grep -q "SIGUSR2: exec .*still running as before" "$T/two.log"
check "and that tendd still answers" t2 status
check "its record is gone" test ! -e "$T/two/state/handover.json"
check "solo kept its pid" test "$(t2 status --json | jq -r '.apps[] | select(.name == "solo") | .pid')" = "$solo"
mv "$T/bin/tendd.real" "$T/bin/tendd"
kill -USR2 "$TWO"
check "then SIGUSR2 hands over" wait_for "handed over" 10 grep -q "3 apps taken over" "$T/two.log"
check "solo still has its pid" test "$(t2 status --json | jq -r '.apps[] | select(.name == "solo") | .pid')" = "$solo"
touch "$T/two/go"
check "half a line written before the handover is in the log" \
    wait_for "first half" 5 grep -q "out first-half\$" "$T/two/log/half.log"
check "and its rest after it" wait_for "second half" 5 grep -q "out -second-half\$" "$T/two/log/half.log"
check "slow is still stopped" test "$(t2 status --json | jq -r '.apps[] | select(.name == "slow") | .state')" = stopped

# Both stop cleanly (exit 0; a sanitizer build would report leaks here).
kill -TERM "$TWO"; wait "$TWO"; rc=$?
check "the tendd that ignored a record exits 0 on SIGTERM" test "$rc" = 0
kill -TERM "$TENDD_PID"; wait "$TENDD_PID"; rc=$?; TENDD_PID=
check "the handed-over tendd exits 0 on SIGTERM" test "$rc" = 0
check "no sanitizer report" sh -c "! grep -E 'runtime error|Sanitizer' $T/tendd.log $T/two.log"
done_testing
