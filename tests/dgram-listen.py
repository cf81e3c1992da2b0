#!/usr/bin/env python3
"""tests/dgram-listen.py PATH OUT: bind a Unix datagram socket at PATH (as
systemd's notify socket or the journal's would be) and append each message
to OUT as one line: "<epoch ms> <message with newlines as |>"."""
import os
import socket
import sys
import time

path, out = sys.argv[1], sys.argv[2]
try:
    os.unlink(path)
except FileNotFoundError:
    pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)
with open(out, "a", buffering=1) as f:
    f.write("%d listening\n" % int(time.time() * 1000))
    while True:
        data = s.recv(1 << 20)
        msg = data.decode("utf-8", "replace").rstrip("\n").replace("\n", "|")
        f.write("%d %s\n" % (int(time.time() * 1000), msg))
