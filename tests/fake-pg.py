#!/usr/bin/env python3
"""tests/fake-pg.py PORT OUT: a PostgreSQL server that only listens.  On
127.0.0.1:PORT it answers SSL and GSS requests with "no", reads the
startup packet, asks for a cleartext password, and refuses it with
"password authentication failed" (SQLSTATE 28P01).  Every connection is
appended to OUT as one JSON line: {"params": {startup parameters},
"password": the password sent or null, "raw": every byte it was sent, as
hex}.  So a test sees exactly what a client told the server."""
import json
import socket
import struct
import sys
import threading

SSL_REQUEST = 80877103
GSS_REQUEST = 80877104
lock = threading.Lock()


def read_exact(conn, n, raw):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    raw.extend(buf)
    return buf


def serve(conn, out):
    raw = bytearray()
    params, password = {}, None
    try:
        conn.settimeout(10)
        while True:
            (length,) = struct.unpack("!I", read_exact(conn, 4, raw))
            body = read_exact(conn, length - 4, raw)
            (code,) = struct.unpack("!I", body[:4])
            if code in (SSL_REQUEST, GSS_REQUEST):
                conn.sendall(b"N")
                continue
            fields = body[4:].split(b"\0")
            for k, v in zip(fields[0::2], fields[1::2]):
                if k:
                    params[k.decode("utf-8", "replace")] = v.decode(
                        "utf-8", "replace")
            break
        # AuthenticationCleartextPassword
        conn.sendall(b"R" + struct.pack("!II", 8, 3))
        tag = read_exact(conn, 1, raw)
        (length,) = struct.unpack("!I", read_exact(conn, 4, raw))
        body = read_exact(conn, length - 4, raw)
        if tag == b"p":
            password = body.rstrip(b"\0").decode("utf-8", "replace")
        msg = (b"SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed "
               b"for user \"" + params.get("user", "").encode() + b"\"\0\0")
        conn.sendall(b"E" + struct.pack("!I", len(msg) + 4) + msg)
    except (EOFError, OSError, struct.error):
        pass
    finally:
        conn.close()
        with lock, open(out, "a") as f:
            f.write(json.dumps({"params": params, "password": password,
                                "raw": raw.hex()}) + "\n")


def main():
    port, out = int(sys.argv[1]), sys.argv[2]
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=serve, args=(conn, out), daemon=True).start()


main()
