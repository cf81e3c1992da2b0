#!/usr/bin/env python3
"""tests/dgram-listen.py PATH OUT: bind a Unix datagram socket at PATH (as
systemd's notify socket or the journal's would be) and append each message
to OUT as one line: "<epoch ms> <message with newlines as |>".  Journal
messages in the native protocol's binary form (NAME\n, 64-bit LE length,
bytes, \n) are decoded as journald would, into NAME=value."""
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


def journal_fields(data):
    """Decode the journal's native protocol into "NAME=value" strings."""
    fields, i = [], 0
    while i < len(data):
        nl = data.find(b"\n", i)
        if nl < 0:
            break
        line = data[i:nl]
        if b"=" in line:
            fields.append(line)
            i = nl + 1
        else:
            n = int.from_bytes(data[nl + 1:nl + 9], "little")
            fields.append(line + b"=" + data[nl + 9:nl + 9 + n])
            i = nl + 9 + n + 1
    return b"\n".join(fields)


with open(out, "a", buffering=1) as f:
    f.write("%d listening\n" % int(time.time() * 1000))
    while True:
        data = s.recv(1 << 20)
        if b"\nMESSAGE\n" in data or data.startswith(b"MESSAGE\n"):
            data = journal_fields(data)
        msg = data.decode("utf-8", "replace").rstrip("\n").replace("\n", "|")
        f.write("%d %s\n" % (int(time.time() * 1000), msg))
