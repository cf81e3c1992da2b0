#!/usr/bin/env bash
# The control protocol is bounded: an oversized request, invalid JSON and
# an unknown command get an error; status still answers meanwhile.
. "$(dirname "$0")/../lib.sh"
tend_conf <<EOF2
[app:web]
dir = $SRCDIR/tests/app
command = $NODE server.js
min_ready = 100ms
EOF2
tendd_start || { not_ok "tendd starts"; done_testing; }
send() {	# PYTHON-EXPR for the bytes to send: prints the reply
	python3 - "$T/tend.sock" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(15)
s.connect(sys.argv[1])
try:
    s.sendall(eval(sys.argv[2]))
except OSError:
    pass
data = b""
try:
    while not data.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except OSError:
    pass
print(data.decode("utf-8", "replace").strip())
PY
}
out=$(send 'b"x" * (200 * 1024)')
check "a 200 KiB request without newline is refused" grep -q '"request too large' <<<"$out"
out=$(send 'b"{not json}\n"')
check "invalid JSON gets an error" grep -q '"ok":false.*not valid JSON' <<<"$out"
out=$(send 'b"{\"cmd\":\"st\xff\"}\n"')
check "invalid UTF-8 gets an error" grep -q '"ok":false' <<<"$out"
out=$(send 'b"{\"cmd\":\"frobnicate\"}\n"')
check "an unknown command gets an error" grep -q '"error":"unknown command"' <<<"$out"
out=$(send 'b"{\"cmd\":\"status\",\"app\":\"../../etc\"}\n"')
check "a path-like app name is refused" grep -q '"error":"invalid app name"' <<<"$out"
out=$(send 'b"{\"cmd\":\"status\"}\n{\"cmd\":\"status\",\"app\":\"web\"}\n"')
check "a reply is one JSON line with ok" grep -q '^{"ok":true' <<<"$out"
check "tendd still answers" tctl status
check "tendd is still running" kill -0 "$TENDD_PID"
done_testing
