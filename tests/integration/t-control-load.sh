#!/usr/bin/env bash
# The control socket under load and abuse: 500 concurrent clients all get
# answers; a silent client is dropped after the idle limit; one sending
# 10 MB without a newline is refused at once; status answers throughout.
. "$(dirname "$0")/../lib.sh"
tend_conf <<EOF2
[app:web]
dir = $SRCDIR/tests/app
command = $NODE server.js
min_ready = 100ms
EOF2
tendd_start || { not_ok "tendd starts"; done_testing; }
python3 - "$T/tend.sock" "$T/slow.out" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
t0 = time.time()
s.settimeout(30)
try:
    data = s.recv(100)        # says nothing; waits to be dropped
except OSError:
    data = b"error"
open(sys.argv[2], "w").write("%.1f %r\n" % (time.time() - t0, data))
PY
slow=$!
python3 - "$T/tend.sock" "$T/big.out" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
t0 = time.time()
sent = 0
try:
    while sent < 10 * 1024 * 1024:
        sent += s.send(b"x" * 65536)
except OSError:
    pass
s.settimeout(10)
try:
    data = s.recv(200)
except OSError:
    data = b""
open(sys.argv[2], "w").write("%.1f %d %r\n" % (time.time() - t0, sent, data))
PY
big=$!
pids=()
for i in $(seq 500); do
	tctl status --json >"$T/c$i.out" 2>&1 &
	pids+=($!)
done
fails=0
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
good=$(grep -l '"ok": true' "$T"/c*.out | wc -l)
check "500 concurrent clients all answered ($good ok, $fails failed)" test "$good" = 500 -a "$fails" = 0
wait "$big"
read -r secs sent reply <"$T/big.out"
check "10 MB without newline refused after $sent bytes in ${secs}s" bash -c "[ $sent -lt 10485760 ] && grep -q 'too large' '$T/big.out'"
a=$(date +%s%N); tctl status >/dev/null; b=$(date +%s%N)
check "status answers while a silent client waits ($(( (b - a) / 1000000 )) ms)" test $(( (b - a) / 1000000 )) -lt 1000
wait "$slow"
read -r secs rest <"$T/slow.out"
check "the silent client is dropped after the 10 s idle limit (${secs}s)" awk -v s="$secs" 'BEGIN { exit !(s >= 9 && s < 20) }'
check "tendd is still running" kill -0 "$TENDD_PID"
done_testing
