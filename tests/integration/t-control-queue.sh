#!/usr/bin/env bash
# A client that pipelines 3,000 `logs` requests and does not read: tendd
# stops serving it at about 1 MiB of queued replies, so its memory stays
# bounded; other clients are answered at once; and when the client reads
# at last it gets every reply, whole.
. "$(dirname "$0")/../lib.sh"
cat > "$T/talk.sh" <<'SH'
pad=$(printf '%0200d' 0)
i=0
while [ $i -lt 200 ]; do echo "line $i $pad"; i=$((i + 1)); done
exec sleep 300
SH
tend_conf <<EOF2
[app:talk]
dir = $T
command = /bin/sh $T/talk.sh
restart = never
min_ready = 100ms
EOF2
# AddressSanitizer keeps freed memory in quarantine, which RSS would
# count as held: without it, RSS measures what tendd keeps.
if nm "$TENDD" 2>/dev/null | grep -q __asan_init; then
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
fi
tendd_start || { not_ok "tendd starts"; done_testing; }
wait_for "the app's 200 lines" 10 grep -q 'line 199 ' "$T/log/talk.log"
check "logs -n 200 gives 200 lines" bash -c "[ \$('$TENDCTL' -c '$T/tend.conf' logs talk -n 200 | wc -l) = 200 ]"

rss() { awk '/^VmRSS:/ {print $2}' /proc/"$TENDD_PID"/status; }
rss0=$(rss)
# 3,000 requests of about 50 KB of reply each: 150 MB if all were held.
python3 - "$T" <<'PY' &
import os, socket, sys, threading, time
T = sys.argv[1]
N = 3000
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(T + "/tend.sock")
req = b'{"cmd":"logs","app":"talk","n":200}\n' * N
def send():
    s.sendall(req)
    open(T + "/sent", "w").close()
threading.Thread(target=send, daemon=True).start()
# Do not read until told to (or for at most 60 s).
end = time.time() + 60
while not os.path.exists(T + "/read-now") and time.time() < end:
    time.sleep(0.05)
s.settimeout(30)
buf = b""
good = bad = 0
d = ""
try:
    while good + bad < N:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            import json
            r = json.loads(line)
            # A reply: its lines as "log" events, then {"ok": true}.
            if r.get("event") == "log":
                d += r.get("data", "")
                continue
            if r.get("event") is not None:
                continue
            d, whole = "", d
            if r.get("ok") is True and whole.count("\n") == 200 and \
                    " out line 199 " in whole:
                good += 1
            else:
                if bad == 0:
                    print("# bad reply:", line[:300])
                bad += 1
except OSError as e:
    print("# client:", e)
open(T + "/replies", "w").write("%d %d\n" % (good, bad))
PY
client=$!
# The requests are in; tendd serves until ~1 MiB waits, then stops.
# Watch its memory for 2 s (all 3,000 replies took a few ms before).
wait_for "the client's requests sent" 20 test -e "$T/sent"
peak=$rss0
for _ in $(seq 20); do
	r=$(rss); [ "$r" -gt "$peak" ] && peak=$r
	sleep 0.1
done
grow=$(( (peak - rss0) / 1024 ))
echo "# tendd RSS: ${rss0} kB before, ${peak} kB at peak (+${grow} MiB) with 3,000 unread requests"
check "tendd's memory stays bounded (+${grow} MiB < 4 MiB)" test "$grow" -lt 4

a=$(now_ms); tctl status >/dev/null; rc=$?; b=$(now_ms)
check "another client's status answers meanwhile ($((b - a)) ms)" test "$rc" = 0 -a $((b - a)) -lt 1000

touch "$T/read-now"
wait "$client"
read -r good bad <"$T/replies"
check "the client gets all 3,000 replies, whole ($good good, $bad bad)" test "$good" = 3000 -a "$bad" = 0
r=$(rss)
echo "# tendd RSS after the client read: ${r} kB"
check "tendd is still running" kill -0 "$TENDD_PID"
done_testing
