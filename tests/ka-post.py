#!/usr/bin/env python3
# tests/ka-post.py: keep-alive POSTs from a client that never retries, as
# a storefront server or a webhook sender talking to the shop: Python's
# http.client on CONNS connections, each sending POSTs one after another
# on its connection until SECONDS have passed or MAX requests were sent
# (bounded in time and count).  A request that fails (reset, broken pipe,
# closed before an answer, a status other than 2xx) is counted, never
# sent again; the connection is then opened anew.
#
#   tests/ka-post.py PORT SECONDS [CONNS [MAX]]
#
# Prints one line: "ok N failed N connects N" (connects: connections
# opened, CONNS when none was ever closed), then up to 5 "# error" lines.
import http.client
import sys
import threading
import time

port = int(sys.argv[1])
seconds = float(sys.argv[2])
conns = int(sys.argv[3]) if len(sys.argv) > 3 else 8
limit = int(sys.argv[4]) if len(sys.argv) > 4 else 2_000_000
body = b'{"event":"order.placed","id":"' + b'x' * 40 + b'"}'
lock = threading.Lock()
counts = {"ok": 0, "failed": 0, "connects": 0, "sent": 0}
errors = []


def worker():
    deadline = time.monotonic() + seconds
    c = None
    while time.monotonic() < deadline:
        with lock:
            if counts["sent"] >= limit:
                break
            counts["sent"] += 1
        if c is None:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            with lock:
                counts["connects"] += 1
        try:
            c.request("POST", "/webhook", body=body,
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            good = 200 <= r.status < 300
            what = "status %d" % r.status
            if r.will_close:
                c.close()
                c = None
        except (OSError, http.client.HTTPException) as e:
            good = False
            what = "%s: %s" % (type(e).__name__, e)
            c.close()
            c = None
        with lock:
            counts["ok" if good else "failed"] += 1
            if not good and len(errors) < 5:
                errors.append(what)
    if c is not None:
        c.close()


threads = [threading.Thread(target=worker) for _ in range(conns)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("ok %d failed %d connects %d" % (counts["ok"], counts["failed"],
                                       counts["connects"]))
for e in errors:
    print("# error %s" % e)
