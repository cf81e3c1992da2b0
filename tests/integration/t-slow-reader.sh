#!/usr/bin/env bash
# A flooding app and a `logs -f` reader that does not read: tendd's
# memory stays bounded, the app is not slowed into blocking, the reader
# is told what it missed, and every line still reaches the log file.
. "$(dirname "$0")/../lib.sh"
N=1000000
tend_conf <<EOF2
[app:flood]
dir = $SRCDIR/tests/app
command = $NODE server.js
env = FLOOD_LINES=$N
env = FLOOD_EXIT=1
env = BIND_DELAY_MS=0
restart = never
min_ready = 100ms
autostart = no
EOF2
sed -i 's|^\[tend\]$|[tend]\nlog_max_size = 1G|' "$T/tend.conf"
tendd_start || { not_ok "tendd starts"; done_testing; }
rss() { awk '/^VmRSS:/ {print $2}' /proc/"$TENDD_PID"/status; }
rss0=$(rss)
python3 - "$T/tend.sock" "$T/slow.out" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(sys.argv[1])
s.sendall(b'{"cmd":"logs","app":"flood","follow":true}\n')
time.sleep(8)                 # a reader that does not read
s.settimeout(2)
data = b""
try:
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        data += chunk
except OSError:
    pass
open(sys.argv[2], "wb").write(data)
PY
reader=$!
sleep 0.5
tctl start --no-wait flood >/dev/null
peak=$rss0
while kill -0 "$reader" 2>/dev/null; do
	r=$(rss); [ "$r" -gt "$peak" ] && peak=$r
	sleep 0.1
done
wait "$reader"
grow=$(( (peak - rss0) / 1024 ))
echo "# tendd RSS: ${rss0} kB before, ${peak} kB at peak (+${grow} MiB) with a stuck reader"
check "tendd's memory stays bounded (+${grow} MiB < 16 MiB)" test "$grow" -lt 16
check "the reader is told lines were dropped" grep -q 'bytes dropped: reader too slow' "$T/slow.out"
check "the flood finished (the app was never blocked)" wait_for stopped 60 state_is flood stopped
lines=$(grep -c ' out line ' "$T/log/flood.log")
check "every line reached the log file ($lines of $N)" test "$lines" = "$N"
done_testing
