#!/usr/bin/env python3
"""bench/probe.py: the measuring half of bench/run.

Small subcommands that read /proc, time commands and poll loopback HTTP
with tight, bounded loops.  Each prints plain numbers on stdout; bench/run
appends them to its raw results.  Every loop has a deadline.

  ports N                      a base port with N free loopback ports after it
  mem PID                      "RSS_KIB PRIVATE_KIB" from /proc/PID/smaps_rollup
  cpu PID                      "SCHED_NS TICK_MS CTXSW" summed over PID's threads
  peak PID OUTFILE [MAX_S]     sample VmRSS every 100 ms until SIGTERM, PID
                               gone or MAX_S; write the peak (KiB) to OUTFILE
  times N CMD...               run CMD N times; one wall time (ms) per line
                               (fails if CMD does)
  timeone OUT CMD...           run CMD once, output to OUT: "MS RC"
  get PORT PATH [TIMEOUT_S]    "CODE BODY" of one GET (CODE 0: no answer)
  waitready TIMEOUT_S PORT...  until every PORT answers GET /health with 200
  crash PORT PID [TIMEOUT_S]   SIGKILL PID, wait until it is gone, then poll
                               GET /health every 5 ms until 200: ms
  floor PORT TIMEOUT_S CMD...  exec CMD, poll GET /health every 5 ms until
                               200: ms (CMD is then killed)
  flooddone LOG DONE TIMEOUT_S wait for DONE to exist and LOG to stop
                               growing; print LOG's mtime in ns
  ready LOG                    tend app log: ms from each "bound at" line to
                               the next "live (ready in" line, one per line
  sweep MARKER PID...          TERM, then KILL, every process whose
                               environment mentions MARKER, and their
                               descendants, except the PIDs given
"""
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone


def die(msg):
    sys.stderr.write("probe: %s\n" % msg)
    sys.exit(1)


def http_get(port, path="/health", timeout=1.0):
    """(status code, body) of one GET on loopback; (0, '') if no answer."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Connection: close\r\n\r\n" % path).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            if len(data) > 1 << 20:
                break
    except OSError:
        return 0, ""
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    if not m:
        return 0, ""
    return int(m.group(1)), body.decode(errors="replace")


def port_free(p):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        s.close()


def cmd_ports(n):
    n = int(n)
    # Below the kernel's ephemeral range and the test suite's 20000-40000.
    for _ in range(200):
        base = random.randrange(10000, 19800 - n)
        if all(port_free(p) for p in range(base, base + n)):
            print(base)
            return
    die("no block of %d free loopback ports in 10000-19999" % n)


def read(path):
    with open(path, "rb") as f:
        return f.read().decode(errors="replace")


def cmd_mem(pid):
    rss = priv = 0
    try:
        text = read("/proc/%s/smaps_rollup" % pid)
    except OSError as e:
        die("cannot read smaps_rollup of %s: %s" % (pid, e))
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        if parts[0] == "Rss:":
            rss = int(parts[1])
        elif parts[0] in ("Private_Clean:", "Private_Dirty:"):
            priv += int(parts[1])
    print(rss, priv)


def cmd_cpu(pid):
    hz = os.sysconf("SC_CLK_TCK")
    try:
        stat = read("/proc/%s/stat" % pid)
    except OSError as e:
        die("cannot read stat of %s: %s" % (pid, e))
    fields = stat[stat.rindex(")") + 2:].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (all threads)
    sched = ctx = 0
    for tid in os.listdir("/proc/%s/task" % pid):
        try:
            sched += int(read("/proc/%s/task/%s/schedstat" % (pid, tid))
                         .split()[0])
        except (OSError, ValueError, IndexError):
            pass
        try:
            for line in read("/proc/%s/task/%s/status" % (pid, tid)).splitlines():
                if line.startswith(("voluntary_ctxt_switches:",
                                    "nonvoluntary_ctxt_switches:")):
                    ctx += int(line.split()[1])
        except OSError:
            pass
    print(sched, ticks * 1000 // hz, ctx)


def vmrss(pid):
    try:
        for line in read("/proc/%s/status" % pid).splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def cmd_peak(pid, out, max_s="900"):
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    peak = 0
    end = time.monotonic() + float(max_s)
    while not stop and time.monotonic() < end:
        v = vmrss(pid)
        if v is None:
            break
        peak = max(peak, v)
        time.sleep(0.1)
    with open(out, "w") as f:
        f.write("%d\n" % peak)


def cmd_times(n, *argv):
    # posix_spawn (vfork and exec in glibc): the least a launcher can add;
    # exec of /bin/true measures it (~0.7 ms here).
    null = os.open(os.devnull, os.O_RDWR)
    actions = [(os.POSIX_SPAWN_DUP2, null, fd) for fd in (0, 1, 2)]
    for _ in range(int(n)):
        t0 = time.perf_counter()
        pid = os.posix_spawnp(argv[0], list(argv), os.environ,
                              file_actions=actions)
        _, status = os.waitpid(pid, 0)
        ms = (time.perf_counter() - t0) * 1000
        if os.waitstatus_to_exitcode(status) != 0:
            die("%s exited with status %d" % (" ".join(argv),
                                               os.waitstatus_to_exitcode(status)))
        print("%.3f" % ms)
        sys.stdout.flush()


def cmd_timeone(out, *argv):
    with open(out, "wb") as f:
        t0 = time.perf_counter()
        try:
            rc = subprocess.run(list(argv), stdin=subprocess.DEVNULL,
                                stdout=f, stderr=subprocess.STDOUT,
                                timeout=300).returncode
        except subprocess.TimeoutExpired:
            rc = 124
        ms = (time.perf_counter() - t0) * 1000
    print("%.1f %d" % (ms, rc))


def cmd_get(port, path, timeout="1"):
    code, body = http_get(int(port), path, float(timeout))
    print(code, body.strip().replace("\n", " "))


def cmd_waitready(timeout, *ports):
    end = time.monotonic() + float(timeout)
    pending = [int(p) for p in ports]
    while pending:
        pending = [p for p in pending if http_get(p, "/health", 1.0)[0] != 200]
        if not pending:
            break
        if time.monotonic() > end:
            die("%d port(s) not answering /health after %ss, e.g. %d"
                % (len(pending), timeout, pending[0]))
        time.sleep(0.05)


def gone(pid):
    """True once pid has exited (absent or a zombie): its sockets are closed."""
    try:
        stat = read("/proc/%d/stat" % pid)
    except OSError:
        return True
    return stat[stat.rindex(")") + 2] in "ZX"


def poll_health(port, t0, end):
    while True:
        if http_get(port, "/health", 0.5)[0] == 200:
            return (time.perf_counter() - t0) * 1000
        if time.perf_counter() > end:
            return None
        time.sleep(0.005)


def cmd_crash(port, pid, timeout="10"):
    port, pid = int(port), int(pid)
    t0 = time.perf_counter()
    end = t0 + float(timeout)
    os.kill(pid, signal.SIGKILL)
    while not gone(pid):
        if time.perf_counter() > end:
            die("pid %d still there after SIGKILL" % pid)
        time.sleep(0.0002)
    ms = poll_health(port, t0, end)
    if ms is None:
        die("no new process answered on port %d within %ss" % (port, timeout))
    print("%.1f" % ms)


def cmd_floor(port, timeout, *argv):
    port = int(port)
    env = dict(os.environ, PORT=str(port))
    t0 = time.perf_counter()
    p = subprocess.Popen(list(argv), env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ms = poll_health(port, t0, t0 + float(timeout))
    finally:
        p.kill()
        p.wait(timeout=10)
    if ms is None:
        die("bare server on port %d did not answer within %ss" % (port, timeout))
    print("%.1f" % ms)


def cmd_flooddone(log, done, timeout):
    end = time.monotonic() + float(timeout)
    while not os.path.exists(done):
        if time.monotonic() > end:
            die("producer not finished after %ss" % timeout)
        time.sleep(0.05)
    last, stable_since = -1, time.monotonic()
    while True:
        try:
            st = os.stat(log)
            size = st.st_size
        except OSError:
            size = -1
        now = time.monotonic()
        if size != last:
            last, stable_since = size, now
        elif size >= 0 and now - stable_since >= 0.5:
            break
        if now > end:
            die("log %s still growing after %ss" % (log, timeout))
        time.sleep(0.05)
    print(os.stat(log).st_mtime_ns)


def iso_ms(ts):
    d = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ")
    return d.replace(tzinfo=timezone.utc).timestamp() * 1000


def cmd_ready(log):
    bound = {}  # per instance: the stream is "out" or "out.N", "tend" or "tend.N"
    with open(log, errors="replace") as f:
        for line in f:
            parts = line.split(" ", 2)
            if len(parts) < 3:
                continue
            stream, _, idx = parts[1].partition(".")
            m = re.match(r"bound at (\d+)", parts[2])
            if stream == "out" and m:
                bound[idx] = int(m.group(1))
            elif stream == "tend" and parts[2].startswith("live (ready in") \
                    and idx in bound:
                print("%.0f" % (iso_ms(parts[0]) - bound.pop(idx)))


def all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def ppid_of(pid):
    try:
        stat = read("/proc/%d/stat" % pid)
        return int(stat[stat.rindex(")") + 2:].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def cmd_sweep(marker, *keep):
    keep = {int(k) for k in keep} | {os.getpid(), os.getppid()}
    mark = marker.encode()
    roots = set()
    for pid in all_pids():
        if pid in keep:
            continue
        try:
            with open("/proc/%d/environ" % pid, "rb") as f:
                env = f.read()
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if mark in env or mark in cmd:
            roots.add(pid)
    # and everything below them (nginx workers have a cleaned environment)
    children = {}
    for pid in all_pids():
        children.setdefault(ppid_of(pid), []).append(pid)
    found, todo = set(), list(roots)
    while todo:
        p = todo.pop()
        if p in found or p in keep:
            continue
        found.add(p)
        todo.extend(children.get(p, []))
    for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 2.0)):
        alive = [p for p in found if not gone(p)]
        if not alive:
            break
        for p in alive:
            try:
                os.kill(p, sig)
            except OSError:
                pass
        end = time.monotonic() + wait
        while time.monotonic() < end and any(not gone(p) for p in alive):
            time.sleep(0.05)
    print(len(found))


CMDS = {
    "ports": cmd_ports, "mem": cmd_mem, "cpu": cmd_cpu, "peak": cmd_peak,
    "times": cmd_times, "timeone": cmd_timeone, "get": cmd_get,
    "waitready": cmd_waitready, "crash": cmd_crash, "floor": cmd_floor,
    "flooddone": cmd_flooddone, "ready": cmd_ready, "sweep": cmd_sweep,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in CMDS:
        die("usage: probe.py %s ..." % "|".join(sorted(CMDS)))
    try:
        CMDS[sys.argv[1]](*sys.argv[2:])
    except TypeError as e:
        die("%s: bad arguments (%s)" % (sys.argv[1], e))
