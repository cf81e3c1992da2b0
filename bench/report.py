#!/usr/bin/env python3
"""bench/report.py META RAW ERRORS OUTDIR: the tables of bench/run.

META is "key<TAB>value" lines (date, machine, versions, parameters), RAW
"figure<TAB>tool<TAB>value" lines, one per measurement, ERRORS the
scenarios that failed.  Prints the Markdown and writes OUTDIR/RESULTS.md
and OUTDIR/ratios.dat (drawn by bench/ratios.gp).
"""
import os
import statistics
import sys

NAMES = {"floor": "floor", "tend": "tend", "tendr": "tend, reload",
         "pm2": "PM2 fork",
         "pm2c": "PM2 cluster", "sup": "supervisord"}
NA = "n/a"


def load(meta_path, raw_path, err_path):
    meta = {}
    with open(meta_path) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("\t")
            meta[k] = v
    raw = {}
    with open(raw_path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3:
                continue
            try:
                raw.setdefault((parts[0], parts[1]), []).append(float(parts[2]))
            except ValueError:
                pass
    errors = []
    if os.path.exists(err_path):
        with open(err_path) as f:
            errors = [l.strip() for l in f if l.strip()]
    return meta, raw, errors


def num(v):
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 100:
        return "%.0f" % v
    if a >= 10:
        return "%.1f" % v
    if a >= 1:
        return "%.2f" % v
    return "%.3f" % v


def factor(v):
    if v >= 100:
        return "%.0f×" % v
    if v >= 10:
        return "%.1f×" % v
    return "%.2f×" % v


class Report:
    def __init__(self, meta, raw, errors):
        self.meta, self.raw, self.errors = meta, raw, errors
        self.lines = []
        self.chart = []

    def vals(self, key, tool):
        return self.raw.get((key, tool), [])

    def med(self, key, tool):
        v = self.vals(key, tool)
        return statistics.median(v) if v else None

    def cell(self, key, tool, kind):
        v = self.vals(key, tool)
        if not v:
            return None
        if kind == "flag":
            return "%d of %d" % (sum(1 for x in v if x), len(v))
        m = statistics.median(v)
        if len(v) == 1 or min(v) == max(v):
            return num(m)
        return "%s (%s–%s)" % (num(m), num(min(v)), num(max(v)))

    def ratio(self, key, tool, kind):
        """How many times better tend is than tool, or None."""
        t, p = self.med(key, "tend"), self.med(key, tool)
        if t is None or p is None or kind not in ("lower", "higher"):
            return None
        if kind == "lower":
            return p / t if t > 0 else None
        return t / p if p > 0 else None

    def table(self, title, intro, tools, rows, ratios=("pm2", "sup")):
        out = self.lines
        out.append("### " + title)
        out.append("")
        if intro:
            out.append(intro)
            out.append("")
        head = ["figure"] + [NAMES[t] for t in tools] + \
               ["tend vs %s" % NAMES[p] for p in ratios]
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "|".join(["---"] + ["--:"] * (len(head) - 1)) + "|")
        for row in rows:
            key, label, kind = row[0], row[1], row[2]
            notes = row[3] if len(row) > 3 else {}
            cells = [label]
            for t in tools:
                if t in notes:
                    cells.append(notes[t])
                    continue
                c = self.cell(key, t, kind)
                cells.append(c if c is not None else "—")
            for p in ratios:
                r = self.ratio(key, p, kind)
                cells.append(factor(r) if r is not None else "—")
            out.append("| " + " | ".join(cells) + " |")
        out.append("")

    def chart_row(self, label, key, kind):
        r = [self.ratio(key, p, kind) for p in ("pm2", "sup")]
        self.chart.append((label, r))


def build(meta, raw, errors):
    R = Report(meta, raw, errors)
    out = R.lines
    quick = meta.get("quick") == "1"
    apps, many = meta.get("apps", "20"), meta.get("many", "500")
    g = meta.get

    out.append("# tend benchmark results")
    out.append("")
    if quick:
        out.append("> **Quick mode** (`BENCH_QUICK=1`): tiny counts, a smoke test of "
                   "the harness. These numbers are not the benchmark; run `bench/run`.")
        out.append("")
    out.append("Measured by `bench/run` on %s, in %s min." %
               (g("date", "?"), "%.0f" % (int(g("elapsed", "0")) / 60)))
    out.append("")
    out.append("- Machine: %s cores (%s), %s memory, kernel %s, %s" %
               (g("cores"), g("cpu"), g("memory"), g("kernel"), g("os")))
    out.append("- Versions: %s; Node %s; PM2 %s; supervisord %s (Python %s); "
               "nginx %s; wrk %s; %s" %
               (g("tend"), g("node"), g("pm2"), g("supervisord"), g("python"),
                g("nginx"), g("wrk"), g("gnuplot")))
    out.append("- Repetitions: %s round(s), the tools alternating in every round "
               "(each figure runs every tool once per round, in a rotating order); "
               "per round %s kills per tool, %s status commands, %s readiness "
               "restarts, one %s s idle window, %s lines per flood, a wrk window "
               "of %s s per restart." %
               (g("rounds"), g("kills"), g("status_runs"), g("ready_runs"),
                g("idle_secs"), "{:,}".format(int(g("flood_lines", "0"))),
                g("wrk_secs")))
    out.append("- Cells are the median (min–max) of every sample. **tend vs X** is "
               "how many times better tend is: X ÷ tend for times, memory and CPU, "
               "tend ÷ X for throughput; above 1× favours tend.")
    out.append("")
    out.append("![tend's advantage factor per figure](ratios.svg)")
    out.append("")
    out.append("## Results")
    out.append("")

    T3 = ["tend", "pm2", "sup"]
    R.table("Supervisor memory (MiB)",
            "RSS and private memory (Private_Clean + Private_Dirty) from "
            "`/proc/PID/smaps_rollup` of the supervisor process alone: `tendd`, "
            "PM2's God daemon (pid from its `PM2_HOME/pm2.pid`), the `supervisord` "
            "Python process; %s s after every app answered `/health`. Apps are "
            "`tests/app/server.js`, each on its own loopback port; the %s trivial "
            "apps are `sleep 100000`." % (g("settle", "2"), many),
            T3, [
                ("mem_rss_1", "RSS, 1 Node app", "lower"),
                ("mem_priv_1", "private, 1 Node app", "lower"),
                ("mem_rss_%s" % apps, "RSS, %s Node apps" % apps, "lower"),
                ("mem_priv_%s" % apps, "private, %s Node apps" % apps, "lower"),
                ("mem_rss_many", "RSS, %s trivial apps" % many, "lower",
                 {"pm2": NA, "sup": NA}),
                ("mem_priv_many", "private, %s trivial apps" % many, "lower",
                 {"pm2": NA, "sup": NA}),
            ])
    R.table("Status latency (ms, whole command)",
            "Wall time from spawn to exit of the whole command (`posix_spawn`, "
            "then `waitpid`), %s live apps. The floor is `/bin/true` launched the "
            "same way." % apps,
            ["floor"] + T3, [
                ("status_%s" % apps, "`tendctl status` · `pm2 status` · "
                 "`supervisorctl status`, %s apps" % apps, "lower"),
                ("status_json_%s" % apps, "`tendctl status --json` · `pm2 jlist`, "
                 "%s apps" % apps, "lower", {"sup": NA}),
                ("status_many", "`tendctl status`, %s apps" % many, "lower",
                 {"pm2": NA, "sup": NA}),
                ("status_json_many", "`tendctl status --json`, %s apps" % many,
                 "lower", {"pm2": NA, "sup": NA}),
            ])
    R.table("Crash recovery (ms)",
            "SIGKILL to the app's Node process → the new process answers "
            "`GET /health` with 200 (polled every 5 ms once the old process is "
            "gone). Restart delay at its minimum: tend `restart_delay = 0`, "
            "`min_uptime = 0`; PM2 fork mode `restart_delay: 0`, no exponential "
            "backoff; supervisord `autorestart=true`, `startsecs=0`. The floor is "
            "a bare `node tests/app/server.js` from exec to its first 200.",
            ["floor"] + T3, [
                ("crash", "kill → 200", "lower"),
            ])
    R.table("Readiness detection (ms)",
            "From the server binding its port (its `bound at` line, `Date.now()` "
            "in the listen callback) to tend's `live (ready in …)` line in the "
            "app's log (`health = /health`). PM2 calls a fork-mode app online as "
            "soon as it is spawned (unless `wait_ready` and `process.send('ready')`); "
            "supervisord calls a program RUNNING after `startsecs`, whatever the "
            "port: neither detects readiness.",
            T3, [
                ("ready_0", "server binds at once", "lower",
                 {"pm2": NA, "sup": NA}),
                ("ready_500", "server binds after 500 ms", "lower",
                 {"pm2": NA, "sup": NA}),
            ], ratios=())
    lines = int(g("flood_lines", "0"))
    for prod, title in (("node", "a Node producer, one `write()` per line "
                         "(`server.js` `FLOOD_LINES`, honouring backpressure)"),
                        ("fast", "a fast producer (`yes | head`, 100-byte lines)")):
        rows = [
            ("flood_%s_s" % prod, "time (s)", "lower"),
            ("flood_%s_mbs" % prod, "payload MB/s", "higher"),
            ("flood_%s_vsfloor" % prod, "time ÷ floor's time", "lower"),
            ("flood_%s_cpu" % prod, "consumer CPU (s)", "lower"),
            ("flood_%s_lost" % prod, "lines lost", "count"),
            ("flood_%s_peak" % prod, "supervisor peak RSS (MiB)", "lower"),
            ("flood_%s_growth" % prod, "RSS growth over the flood (MiB)", "count"),
        ]
        fl = R.med("flood_%s_s" % prod, "floor")
        for t in ("floor", "tend", "pm2", "sup"):
            v = R.vals("flood_%s_s" % prod, t)
            if v and fl:
                raw[("flood_%s_vsfloor" % prod, t)] = [x / fl for x in v]
        R.table("Log capture: %s lines from %s" % ("{:,}".format(lines), title),
                "From the producer's start to the last write into the log file "
                "(its mtime). tend: `log_dir`, `log_max_size` large enough not to "
                "rotate; PM2: the app's out log; supervisord: `stdout_logfile`, "
                "`maxbytes=0`; floor: the producer piped into `cat > file`. MB/s "
                "counts the producer's bytes only (tend also writes a timestamp and "
                "stream name on each line). Lost: lines sent − lines in the log. "
                "Consumer CPU: user + system time of the supervisor's own "
                "process over the flood (floor: `cat`'s), which the load beside "
                "a run moves less than the times. "
                "Peak RSS: VmRSS of the supervisor sampled every 100 ms.",
                ["floor"] + T3, rows)
    reload_rows = []
    ws, at = g("wrk_secs"), g("reload_at")
    for boot, name in (("0", "instant boot"), ("2000", "2 s boot")):
        reload_rows += [
            ("reload_%s_failed" % boot, "failed requests, %s" % name, "count"),
            ("reload_%s_timeouts" % boot, "of which hung > 1 s, %s" % name, "count"),
            ("reload_%s_requests" % boot, "requests served, %s" % name, "count"),
            ("reload_%s_post_failed" % boot, "failed keep-alive POSTs (never "
             "retried), %s" % name, "count"),
            ("reload_%s_post_ok" % boot, "keep-alive POSTs served, %s" % name,
             "count"),
            ("reload_%s_cmd_ms" % boot, "command time (ms), %s" % name, "count"),
            ("reload_%s_healthy" % boot, "returned with the new process healthy, "
             "%s" % name, "flag"),
        ]
    R.table("Restart under load behind nginx",
            "One private nginx per tool on loopback; `wrk -t1 -c4 -d%ss --timeout 1s "
            "-H 'Connection: close'` through it and, at the same time, "
            "`tests/ka-post.py`: Python `http.client` keep-alive POSTs on 8 "
            "connections, a failed one never retried; %s s in, the restart: tend "
            "`tendctl reload web` (`nginx_upstream`: new instance on the idle port "
            "set, nginx switched once healthy: *tend* with `nginx_switch = lua`, "
            "the port set sent to nginx's lua balancer, no nginx reload; *tend, "
            "reload* with `nginx_switch = reload`), `pm2 reload web` in fork mode "
            "(1 instance: a restart) and in cluster mode (`-i 2`, one port), "
            "`supervisorctl restart web`. Failed: non-2xx plus socket errors "
            "(connect, read, write, timeout); hung: no answer within 1 s. *Returned "
            "with the new process healthy*: right after the command returned, the "
            "port nginx now uses answered `GET /pid` with 200 from a new process. "
            "The boot is `server.js`'s `BIND_DELAY_MS`." % (ws, at),
            ["tend", "tendr", "pm2", "pm2c", "sup"], reload_rows, ratios=())
    sw, ss, sn = g("switches"), g("switch_secs"), g("switch_samples")
    R.table("The switch path",
            "One tend app with `nginx_switch = lua`, one private nginx (1 worker) "
            "with two servers to the same port: one through the upstream tend "
            "wrote (`balancer_by_lua_block`, `keepalive 16`), one through a plain "
            "`upstream` block (`keepalive 16`). `wrk -t1 -c4 -d%ss --latency` "
            "keep-alive GETs straight to the app, through the plain upstream and "
            "through the lua one, in turn, %s times per round. Then %s `tendctl "
            "reload web` in a row (each a lua switch), and tendd's RSS after "
            "them." % (ss, sn, sw),
            ["tend"], [
                ("switch_direct_p50_us", "p50 latency, straight to the app (µs)", "lower"),
                ("switch_plain_p50_us", "p50 latency, nginx, plain upstream (µs)", "lower"),
                ("switch_lua_p50_us", "p50 latency, nginx, lua balancer (µs)", "lower"),
                ("switch_direct_p99_us", "p99 latency, straight to the app (µs)", "lower"),
                ("switch_plain_p99_us", "p99 latency, nginx, plain upstream (µs)", "lower"),
                ("switch_lua_p99_us", "p99 latency, nginx, lua balancer (µs)", "lower"),
                ("switch_plain_rps", "requests/s, nginx, plain upstream", "higher"),
                ("switch_lua_rps", "requests/s, nginx, lua balancer", "higher"),
                ("switch_rss", "tendd RSS after %s switches (MiB)" % sw, "lower"),
            ], ratios=())
    R.table("Idle cost (%s live apps, %s s)" % (apps, g("idle_secs")),
            "CPU of the supervisor process (all threads) while nobody asks it "
            "anything; tend checks every app's `/health` every 10 s meanwhile. "
            "CPU from `/proc/PID/task/*/schedstat` (ns), and from `utime + stime` "
            "of `/proc/PID/stat` (10 ms ticks); wakeups ≈ voluntary + involuntary "
            "context switches of all threads, per second.",
            T3, [
                ("idle_cpu_pct", "CPU, % of one core", "lower"),
                ("idle_tick_ms", "utime + stime (ms, 10 ms ticks)", "count"),
                ("idle_wakeups", "wakeups per second", "lower"),
            ])

    # Targets
    out.append("## Targets")
    out.append("")
    out.append("| target | measured | |")
    out.append("|---|---|---|")

    def target(desc, measured, ok):
        if not measured:
            out.append("| %s | not measured | — |" % desc)
        else:
            out.append("| %s | %s | %s |" % (desc, measured,
                                             "**met**" if ok else "**missed**"))

    def mib(k):
        return R.med(k, "tend")

    v = mib("mem_rss_%s" % apps)
    target("tend daemon RSS ≤ 3 MiB with %s apps" % apps,
           v is not None and "%s MiB" % num(v), v is not None and v <= 3)
    v = mib("mem_rss_many")
    target("tend daemon RSS ≤ 10 MiB with %s apps" % many,
           v is not None and "%s MiB" % num(v), v is not None and v <= 10)
    gr = R.vals("flood_node_growth", "tend") + R.vals("flood_fast_growth", "tend")
    target("no RSS growth under log load (tolerance 0.5 MiB)",
           gr and "at most %+.2f MiB over a flood" % max(gr),
           bool(gr) and max(gr) <= 0.5)
    v = R.med("status_%s" % apps, "tend")
    target("`tendctl status` ≤ 3 ms with %s apps" % apps,
           v is not None and "%s ms" % num(v), v is not None and v <= 3)
    v = R.med("status_many", "tend")
    target("`tendctl status` ≤ 20 ms with %s apps" % many,
           v is not None and "%s ms" % num(v), v is not None and v <= 20)
    t, f = R.med("crash", "tend"), R.med("crash", "floor")
    target("crash recovery within 10 ms of the bare-node floor",
           t is not None and f is not None and
           "%s ms vs %s ms (%+.1f ms)" % (num(t), num(f), t - f),
           t is not None and f is not None and t - f <= 10)
    r0, r5 = R.vals("ready_0", "tend"), R.vals("ready_500", "tend")
    both = r0 + r5
    target("readiness within 100 ms of binding (every sample)",
           both and "median %s ms, max %s ms" % (num(statistics.median(both)),
                                                 num(max(both))),
           bool(both) and max(both) <= 100)
    v = R.med("flood_node_vsfloor", "tend")
    target("log capture ≤ 0.75× the floor's time, Node producer",
           v is not None and "%.2f×" % v, v is not None and v <= 0.75)
    # Throughput against the floor and supervisord of the same run: an
    # absolute MB/s says more of the machine than of tend.
    t, f = R.med("flood_fast_mbs", "tend"), R.med("flood_fast_mbs", "floor")
    target("log capture ≥ 0.8× the floor's throughput, fast producer",
           t is not None and f is not None and "%s MB/s vs %s MB/s (%.2f×)" %
           (num(t), num(f), t / f), t is not None and f is not None and
           t >= 0.8 * f)
    s = R.med("flood_fast_mbs", "sup")
    target("log capture ≥ 1.4× supervisord's throughput, fast producer",
           t is not None and s is not None and "%s MB/s vs %s MB/s (%.2f×)" %
           (num(t), num(s), t / s), t is not None and s is not None and
           t >= 1.4 * s)
    lost = R.vals("flood_node_lost", "tend") + R.vals("flood_fast_lost", "tend")
    target("zero log lines lost", lost and "%d lost in %d floods" %
           (sum(lost), len(lost)), bool(lost) and sum(lost) == 0)
    for boot, name in (("0", "instant boot"), ("2000", "2 s boot")):
        fl = R.vals("reload_%s_failed" % boot, "tend")
        tm = R.vals("reload_%s_timeouts" % boot, "tend")
        target("zero failed and zero hung requests on `tendctl reload`, %s" % name,
               fl and "%d failed, %d hung in %d reloads" % (sum(fl), sum(tm), len(fl)),
               bool(fl) and sum(fl) == 0 and sum(tm) == 0)
        pf = R.vals("reload_%s_post_failed" % boot, "tend")
        target("zero failed keep-alive POSTs on `tendctl reload` (lua switch), %s"
               % name, pf and "%d failed in %d reloads" % (sum(pf), len(pf)),
               bool(pf) and sum(pf) == 0)
    v = R.med("idle_cpu_pct", "tend")
    target("idle under 0.1 %% of one core with %s apps" % apps,
           v is not None and "%.3f %%" % v, v is not None and v < 0.1)
    out.append("")

    # Chart data
    R.chart_row("RSS, %s apps" % apps, "mem_rss_%s" % apps, "lower")
    R.chart_row("private, %s apps" % apps, "mem_priv_%s" % apps, "lower")
    R.chart_row("status, %s apps" % apps, "status_%s" % apps, "lower")
    R.chart_row("crash recovery", "crash", "lower")
    R.chart_row("log capture, Node", "flood_node_s", "lower")
    R.chart_row("log capture, fast", "flood_fast_s", "lower")
    R.chart_row("peak RSS, log flood", "flood_node_peak", "lower")
    R.chart_row("idle CPU", "idle_cpu_pct", "lower")
    R.chart_row("idle wakeups", "idle_wakeups", "lower")

    out.append("## Notes")
    out.append("")
    out.append("- Loopback only. Each tool runs its own private instance in a "
               "temporary directory: tendd with its own socket, state and log "
               "directories; PM2 with its own `PM2_HOME` (`pm2 kill` at the end); "
               "supervisord with its own config and unix socket (a system "
               "supervisord service, if the Debian package started one, is not used).")
    out.append("- Every tool starts the same `tests/app/server.js` with the same "
               "Node; tend's apps have `health = /health` (checked every 10 s while "
               "live); PM2 runs them in fork mode unless marked cluster.")
    out.append("- wrk sends `Connection: close` for every tool, so its count is the "
               "backend's alone. nginx's own reload (which `tendctl reload` runs "
               "with `nginx_switch = reload`) closes idle keep-alive client "
               "connections, and a request a client sends on one at that instant is "
               "reset whatever the backend does: the keep-alive POST client counts "
               "that, and `nginx_switch = lua` is what avoids it.")
    out.append("- supervisord's `startsecs=0` and PM2's fork mode call a process "
               "started as soon as it is spawned, so their restart commands return "
               "before the server listens; `pm2 reload` in fork mode is a restart.")
    out.append("- Raw samples: [raw.tsv](raw.tsv) (figure, tool, value). Chart data: "
               "[ratios.dat](ratios.dat), drawn by `bench/ratios.gp`.")
    out.append("")
    if errors:
        out.append("## Failed measurements")
        out.append("")
        out.append("These scenarios failed; their figures are missing or based on "
                   "fewer samples:")
        out.append("")
        for e in errors:
            out.append("- " + e)
        out.append("")
    return R


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: report.py META RAW ERRORS OUTDIR")
    meta, raw, errors = load(*sys.argv[1:4])
    outdir = sys.argv[4]
    R = build(meta, raw, errors)
    text = "\n".join(R.lines).rstrip("\n") + "\n"
    with open(os.path.join(outdir, "RESULTS.md"), "w") as f:
        f.write(text)
    with open(os.path.join(outdir, "ratios.dat"), "w") as f:
        f.write("# tend's advantage factor (above 1: tend is better), from "
                "RESULTS.md\n# figure\tvs PM2 fork\tvs supervisord\n")
        for label, r in R.chart:
            f.write('"%s"\t%s\n' % (label, "\t".join(
                "%.4g" % x if x is not None else "?" for x in r)))
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
