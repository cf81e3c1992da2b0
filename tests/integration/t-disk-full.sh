#!/usr/bin/env bash
# A full log disk: the app keeps running and being supervised, status and
# tendd's log say what is wrong, and writing resumes when space returns.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || { echo "skip - needs root to mount a tmpfs"; done_testing; }
mkdir -p "$T/log"
mount -t tmpfs -o size=256k,mode=0755 tmpfs "$T/log" || { echo "skip - cannot mount a tmpfs here"; done_testing; }
on_exit "umount -l $T/log"
P=$(free_port)
tend_conf <<EOF2
[app:web]
dir = $SRCDIR/tests/app
command = $NODE server.js
port = $P
health = /health
env = LOG_REQUESTS=1
EOF2
tendd_start || { not_ok "tendd starts"; done_testing; }
check "live" wait_for live 10 state_is web live
dd if=/dev/zero of="$T/log/filler" bs=4k 2>/dev/null	# fill the disk
long=$(printf 'x%.0s' $(seq 300))
for i in $(seq 100); do curl -s "127.0.0.1:$P/$long/$i" >/dev/null; done
log_error() { [ "$(json web log_error)" = "No space left on device" ]; }
check "status reports the write error" wait_for "log_error" 10 log_error
check "tendd's own log says so" grep -q "web: write .*No space left on device" "$T/tendd.log"
check "the app still answers" curl -fsS "127.0.0.1:$P/"
curl -s "127.0.0.1:$P/while-full" >/dev/null
check "logs -n shows what the disk refused (from memory)" wait_for "while-full in logs" 10 \
    bash -c "'$TENDCTL' -c '$T/tend.conf' logs web -n 20 | grep -q while-full"
check "and is still live" state_is web live
pid=$(json web pid)
curl -s "127.0.0.1:$P/crash" >/dev/null
newpid() { p=$(json web pid); [ "$p" != null ] && [ "$p" != "$pid" ] && state_is web live; }
check "it is still supervised (crash -> restarted)" wait_for restart 15 newpid
rm -f "$T/log/filler"
curl -s "127.0.0.1:$P/after-space-returned" >/dev/null
check "writing resumes when space returns" wait_for "resumed" 10 grep -q after-space-returned "$T/log/web.log"
check "tendd says it writes again" grep -q "writing .*web.log again" "$T/tendd.log"
check "log_error is gone from status" test "$(json web log_error)" = null
done_testing
