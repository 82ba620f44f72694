#!/usr/bin/env python3
"""Side-by-side benchmark of rsgi, uWSGI, gunicorn and granian.

Every server runs the same app with the same worker and thread counts,
pinned to CPU 0 with taskset while wrk runs pinned to CPU 1; servers are
interleaved round by round (A B C D, A B C D, ...) and the report gives
medians and, per round, each server's ratio to rsgi. A tiny Rust server
without Python (examples/bench_ref.rs) shows the physical limit.

    bench/run            # full run
    QUICK=1 bench/run    # under 3 minutes

Stdlib only; bench/run prepares the venv, wrk and the release builds.
"""
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
VENV = os.path.join(BENCH, ".venv", "bin")
APPS = os.path.join(BENCH, "apps")
QUICK = os.environ.get("QUICK") == "1"
DURATION = 3 if QUICK else 10
ROUNDS = 1 if QUICK else 3
SERVER_CPU, CLIENT_CPU = "0", "1"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def server_command(name, app, port, workers, threads, proto="http", fifo=None):
    """The command line of one server, for one app module in bench/apps.
    `proto` "uwsgi" listens with the uwsgi protocol (rsgi and uWSGI only);
    `fifo` is a master FIFO path, for the reload scenario."""
    addr = f"127.0.0.1:{port}"
    path = os.path.join(APPS, f"{app}.py")
    socket_opt = "--socket" if proto == "uwsgi" else "--http-socket"
    # uWSGI's rolling ("chain") reload works only with lazy-apps.
    fifo_opts = ["--master-fifo", fifo] if fifo else []
    uwsgi_fifo_opts = fifo_opts + (["--lazy-apps"] if fifo else [])
    if name == "rsgi":
        return [os.path.join(VENV, "rsgi"), socket_opt, addr, "--wsgi-file", path,
                "--processes", str(workers), "--threads", str(threads), "--disable-logging", "--master"] + fifo_opts
    if name == "uwsgi":
        return [os.path.join(VENV, "uwsgi"), socket_opt, addr, "--wsgi-file", path, "--master",
                "--processes", str(workers), "--threads", str(threads), "--disable-logging", "--die-on-term"] + uwsgi_fifo_opts
    if name == "gunicorn":
        cls = "sync" if threads == 1 else "gthread"
        return [os.path.join(VENV, "gunicorn"), "-b", addr, "-w", str(workers), "--threads", str(threads),
                "-k", cls, "--chdir", APPS, f"{app}:application"]
    if name == "granian":
        return [os.path.join(VENV, "granian"), "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
                "--workers", str(workers), "--blocking-threads", str(threads), "--no-ws",
                "--working-dir", APPS, f"{app}:application"]
    if name == "reference":
        return [os.path.join(ROOT, "target", "release", "examples", "bench_ref"), str(port)]
    raise ValueError(name)


def kill_group(proc):
    """SIGKILL a process started with start_new_session, and its group."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


class Running:
    """A server started in its own process group, pinned to SERVER_CPU."""

    def __init__(self, cmd, port, cpu=SERVER_CPU):
        self.port = port
        self.proc = subprocess.Popen(["taskset", "-c", cpu] + cmd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        self.started = time.monotonic()
        self.ready_after = None

    def wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=1) as r:
                    if r.status == 200:
                        self.ready_after = time.monotonic() - self.started
                        return True
            except Exception:
                time.sleep(0.005)
        return False

    def tree(self):
        pids, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            try:
                for task in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{task}/children") as f:
                        todo.extend(int(c) for c in f.read().split())
            except OSError:
                pass
        return pids

    def pss_kb(self):
        total = 0
        for pid in self.tree():
            try:
                with open(f"/proc/{pid}/smaps_rollup") as f:
                    total += sum(int(l.split()[1]) for l in f if l.startswith("Pss:"))
            except OSError:
                pass
        return total

    def cpu_seconds(self):
        """User + system CPU time of every process in the tree so far."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self.tree():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
            except (OSError, IndexError, ValueError):
                pass
        return total / ticks

    def stop(self):
        kill_group(self.proc)


def start_wrk(port, conns, extra, duration=DURATION):
    cmd = ["taskset", "-c", CLIENT_CPU, "wrk", "-t", "1", "-c", str(conns), "-d", f"{duration}s", "--latency"] + extra
    return subprocess.Popen(cmd + [f"http://127.0.0.1:{port}/"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def wrk(port, conns, extra, duration=DURATION):
    return wrk_result(start_wrk(port, conns, extra, duration), duration)


def wrk_result(proc, duration):
    out = proc.communicate(timeout=duration + 60)[0]
    def grab(pattern, scale=1.0):
        m = re.search(pattern, out)
        return float(m.group(1)) * scale if m else None
    def latency(label):
        m = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out)
        if not m:
            return None
        return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)", out)
    worst = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)] if m else None
    return {"rps": grab(r"Requests/sec:\s+([\d.]+)"), "p50": latency("50%"), "p99": latency("99%"), "max": worst,
            "errors": errors, "requests": grab(r"(\d+) requests in")}


LUA_POST = os.path.join(BENCH, "post_1m.lua")
SERVERS = ["rsgi", "granian", "uwsgi", "gunicorn"]


def scenario(name, app, conns=32, extra=(), workers=2, threads=1, idle=0, nginx=False, servers=SERVERS, quick=True):
    return {"name": name, "app": app, "conns": conns, "extra": list(extra), "workers": workers, "threads": threads,
            "idle": idle, "nginx": nginx, "servers": servers, "quick": quick,
            "reference": app == "hello" and not idle and not nginx}


SCENARIOS = [
    scenario("hello keep-alive", "hello"),
    scenario("hello Connection: close", "hello", extra=["-H", "Connection: close"]),
    scenario("64 KiB response", "big", quick=False),
    scenario("1 MiB POST echo", "echo", conns=8, extra=["-s", LUA_POST], quick=False),
    scenario("Flask JSON", "flask_json"),
    scenario("256 idle + 32 busy keep-alive", "hello", idle=256),
    # nginx speaks HTTP/1.1 keep-alive to wrk and the uwsgi protocol, one
    # connection per request, to the server. It runs on wrk's core, so the
    # server has its own; nginx then bounds the throughput, and the
    # server's CPU time per request is what tells the servers apart.
    scenario("behind nginx uwsgi_pass", "hello", nginx=True, servers=["rsgi", "uwsgi"]),
]
if QUICK:
    SCENARIOS = [s for s in SCENARIOS if s["quick"]]
if os.environ.get("ONLY"):
    SCENARIOS = [s for s in SCENARIOS if os.environ["ONLY"] in s["name"]]
RUN_RELOAD = not os.environ.get("ONLY") or os.environ["ONLY"] in "rolling reload"
RUN_MEMORY = not os.environ.get("ONLY") or os.environ["ONLY"] in "memory"


class Nginx:
    """A private nginx on `port` that passes every request to a uwsgi
    socket on `backend` (the same uwsgi_params nginx ships)."""

    PARAMS = ["QUERY_STRING $query_string", "REQUEST_METHOD $request_method", "CONTENT_TYPE $content_type",
              "CONTENT_LENGTH $content_length", "REQUEST_URI $request_uri", "PATH_INFO $document_uri",
              "DOCUMENT_ROOT $document_root", "SERVER_PROTOCOL $server_protocol", "REQUEST_SCHEME $scheme",
              "REMOTE_ADDR $remote_addr", "REMOTE_PORT $remote_port", "SERVER_PORT $server_port",
              "SERVER_NAME $server_name"]

    def __init__(self, port, backend):
        self.dir = tempfile.mkdtemp(prefix="rsgi-bench-nginx-")
        params = "\n".join(f"            uwsgi_param {p};" for p in self.PARAMS)
        conf = os.path.join(self.dir, "nginx.conf")
        temps = "\n".join(f"    {t}_temp_path {self.dir}/{t};" for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        with open(conf, "w") as f:
            f.write(f"""worker_processes 1;
daemon off;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
{temps}
    server {{
        listen 127.0.0.1:{port};
        location / {{
{params}
            uwsgi_pass 127.0.0.1:{backend};
        }}
    }}
}}
""")
        self.proc = subprocess.Popen(["taskset", "-c", CLIENT_CPU, "nginx", "-c", conf, "-p", self.dir],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def stop(self):
        kill_group(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


class IdleConnections:
    """`count` keep-alive connections that each made one request and then
    sit idle while the load runs; at the end each asks once more, and the
    answered ones are counted (a sync server starves them)."""

    REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"

    def __init__(self, port, count):
        self.socks = []
        for _ in range(count):
            try:
                self.socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            except OSError:
                break  # a server with a short backlog; those not opened count as not answered
        for s in self.socks:
            s.sendall(self.REQUEST)
        deadline = time.monotonic() + 5
        self.opened = sum(1 for s in self.socks if self._answered(s, deadline))

    @staticmethod
    def _answered(s, deadline=None):
        try:
            if deadline is not None:
                s.settimeout(max(0.001, deadline - time.monotonic()))
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    return False
                data += chunk
            return data.startswith(b"HTTP/1.1 200")
        except OSError:
            return False

    def answered_again(self):
        for s in self.socks:
            try:
                s.sendall(self.REQUEST)
            except OSError:
                pass
        # One overall bound, so a server that starves idle connections costs
        # seconds, not a timeout per connection.
        deadline = time.monotonic() + 5
        n = sum(1 for s in self.socks if self._answered(s, deadline))
        for s in self.socks:
            s.close()
        return n


def run_one(server, sc):
    port = free_port()
    proxy = None
    if sc["nginx"]:
        backend = free_port()
        r = Running(server_command(server, sc["app"], backend, sc["workers"], sc["threads"], proto="uwsgi"), port)
        proxy = Nginx(port, backend)
    else:
        r = Running(server_command(server, sc["app"], port, sc["workers"], sc["threads"]), port)
    try:
        if not r.wait_ready():
            return {"failed": True}
        holders = IdleConnections(port, sc["idle"]) if sc["idle"] else None
        cpu_before = r.cpu_seconds()
        result = wrk(port, sc["conns"], sc["extra"])
        if result.get("requests"):
            result["cpu_us"] = (r.cpu_seconds() - cpu_before) / result["requests"] * 1e6
        if holders:
            result["idle_served"] = holders.answered_again()
            result["idle_total"] = sc["idle"]
        result["pss_kb"] = r.pss_kb()
        result["start_ms"] = r.ready_after * 1000
        return result
    finally:
        r.stop()
        if proxy:
            proxy.stop()


RELOAD_WORKERS = 4
RELOAD_SECONDS = 10


def reload_under_load(server):
    """Steady p99 with 4 workers, then the same load while the server
    replaces all its workers: the time until no process of the old set is
    left (and as many run as before), the worst latency and the errors."""
    port = free_port()
    fifo = os.path.join(tempfile.mkdtemp(prefix="rsgi-bench-fifo-"), "fifo")
    os.mkfifo(fifo)
    r = Running(server_command(server, "hello", port, RELOAD_WORKERS, 1, fifo=fifo), port)
    try:
        if not r.wait_ready():
            return {"failed": True}
        steady = wrk(port, 32, [])
        before = set(r.tree()) - {r.proc.pid}
        load = start_wrk(port, 32, [], RELOAD_SECONDS)
        time.sleep(1.5)
        triggered = time.monotonic()
        if server == "rsgi":
            with open(fifo, "w") as f:
                f.write("r")
        elif server == "uwsgi":
            with open(fifo, "w") as f:
                f.write("c")  # uWSGI's rolling ("chain") reload
        else:
            os.kill(r.proc.pid, signal.SIGHUP)  # gunicorn and granian: reload the workers
        took = None
        while time.monotonic() - triggered < RELOAD_SECONDS - 1.5:
            now = set(r.tree()) - {r.proc.pid}
            if not now & before and len(now) >= len(before):
                took = time.monotonic() - triggered
                break
            time.sleep(0.005)
        during = wrk_result(load, RELOAD_SECONDS)
        return {"steady_p99": steady["p99"], "max": during["max"], "errors": during["errors"], "rps": during["rps"],
                "reload_s": took}
    finally:
        r.stop()
        shutil.rmtree(os.path.dirname(fifo), ignore_errors=True)


def memory_at(server, workers):
    port = free_port()
    r = Running(server_command(server, "hello", port, workers, 1), port)
    try:
        if not r.wait_ready():
            return None
        for _ in range(50):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/").read()
        master_rss = None
        with open(f"/proc/{r.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    master_rss = int(line.split()[1])
        return r.pss_kb(), master_rss
    finally:
        r.stop()


def versions():
    out = {}
    for name in ("uwsgi", "gunicorn", "granian", "flask"):
        try:
            out[name] = subprocess.run([os.path.join(VENV, "python"), "-c", f"import importlib.metadata as m; print(m.version('{name}'))"],
                                       capture_output=True, text=True).stdout.strip()
        except OSError:
            out[name] = "?"
    out["rsgi"] = subprocess.run([os.path.join(VENV, "rsgi"), "--version"], capture_output=True, text=True).stdout.strip()
    out["wrk"] = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    return out


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}, Python {platform.python_version()}"


def fmt(x, digits=0):
    return "-" if x is None else f"{x:,.{digits}f}"


def median_of(runs, key):
    values = [r[key] for r in runs if not r.get("failed") and r.get(key) is not None]
    return statistics.median(values) if values else None


def verdict(ok):
    return "-" if ok is None else ("met" if ok else "**not met**")


def targets(results, reload_runs, memory):
    """The issue's targets, checked against this run."""
    def ratio(name, server):
        r = results.get(name, {}).get("ratios", {}).get(server)
        return 1 / r if r else None
    def p99(name, server):
        return median_of(results.get(name, {}).get("runs", {}).get(server, []), "p99")
    rows = []
    def row(what, figure, ok):
        rows.append(f"| {what} | {figure} | {verdict(ok)} |")
    if "hello keep-alive" in results:
        g, u = ratio("hello keep-alive", "granian"), ratio("hello keep-alive", "uwsgi")
        row("keep-alive ≥ 1.5× granian", fmt(g, 2) + "×", g and g >= 1.5)
        row("keep-alive ≥ 3× uWSGI --http-socket", fmt(u, 2) + "×", u and u >= 3)
        a, b = p99("hello keep-alive", "rsgi"), p99("hello keep-alive", "granian")
        row("keep-alive p99 ≤ granian's", f"{fmt(a, 2)} ms vs {fmt(b, 2)} ms", a is not None and b is not None and a <= b)
    if "hello Connection: close" in results:
        g = ratio("hello Connection: close", "granian")
        row("Connection: close ≥ 1.3× granian", fmt(g, 2) + "×", g and g >= 1.3)
    if "Flask JSON" in results:
        g = ratio("Flask JSON", "granian")
        row("Flask JSON ≥ 1.2× granian", fmt(g, 2) + "×", g and g >= 1.2)
    idle_name = "256 idle + 32 busy keep-alive"
    if idle_name in results and "hello keep-alive" in results:
        runs = [x for x in results[idle_name]["runs"]["rsgi"] if not x.get("failed")]
        served = min((x["idle_served"] for x in runs), default=None)
        busy, plain = median_of(runs, "rps"), median_of(results["hello keep-alive"]["runs"]["rsgi"], "rps")
        row("256 idle: every connection answered", f"{served}/256", served == 256)
        share = busy / plain if busy and plain else None
        row("256 idle: req/s within 10 % of 32 connections", fmt(share, 2) + "×", share and share >= 0.9)
    if memory.get("rsgi") and memory.get("uwsgi") and memory["rsgi"][1] and memory["uwsgi"][1]:
        share = memory["rsgi"][1][0] / memory["uwsgi"][1][0]
        row("PSS, 4 workers ≤ 0.75× uWSGI", fmt(share, 2) + "×", share <= 0.75)
        rss = memory["rsgi"][1][1] / 1024
        row("master RSS ≤ 8 MB", f"{rss:.1f} MB", rss <= 8)
    if "behind nginx uwsgi_pass" in results:
        u = ratio("behind nginx uwsgi_pass", "uwsgi")
        row("behind nginx ≥ 1.3× uWSGI --socket (req/s; nginx-bound)", fmt(u, 2) + "×", u and u >= 1.3)
        runs = results["behind nginx uwsgi_pass"]["runs"]
        a, b = median_of(runs["rsgi"], "cpu_us"), median_of(runs["uwsgi"], "cpu_us")
        share = b / a if a and b else None
        row("behind nginx: uWSGI's server CPU per request ÷ rsgi's", fmt(share, 2) + "×", share and share >= 1.3)
    runs = [x for x in reload_runs.get("rsgi", []) if not x.get("failed")]
    if runs:
        errors = sum(x["errors"] for x in runs)
        row("rolling reload: zero failed requests", str(errors), errors == 0)
        worst = max((x["max"] for x in runs if x["max"] is not None), default=None)
        limit = max(10 * (median_of(runs, "steady_p99") or 0), 50)
        row("rolling reload: worst ≤ max(10× steady p99, import + 50 ms)", f"{fmt(worst, 1)} ms (limit {limit:.1f} ms)",
            worst is not None and worst <= limit)
    return ["## Targets (issue 8)", "", "| target | this run | |", "| --- | --- | --- |"] + rows + [""]


def main():
    with open(LUA_POST, "w") as f:
        f.write('wrk.method = "POST"\nwrk.body = string.rep("x", 1048576)\n'
                'wrk.headers["Content-Type"] = "application/octet-stream"\n')
    lines = [f"# rsgi benchmark — {time.strftime('%Y-%m-%d')}", "",
             f"Machine: {machine()}. Server on CPU {SERVER_CPU}, wrk on CPU {CLIENT_CPU}; "
             f"{ROUNDS} round(s) of {DURATION} s per server and scenario, interleaved.", "",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()), ""]
    results = {}
    for sc in SCENARIOS:
        servers = sc["servers"] + (["reference"] if sc["reference"] else [])
        runs = {s: [] for s in servers}
        ratios = {s: [] for s in sc["servers"]}
        for _ in range(ROUNDS):
            round_results = {}
            for server in servers:
                res = run_one(server, sc)
                runs[server].append(res)
                round_results[server] = res
                print(f"{sc['name']} / {server}: {json.dumps(res)}", file=sys.stderr)
            base = round_results.get("rsgi", {}).get("rps")
            for server in sc["servers"]:
                rps = round_results[server].get("rps")
                if base and rps:
                    ratios[server].append(rps / base)
        results[sc["name"]] = {"runs": runs, "ratios": {s: statistics.median(v) for s, v in ratios.items() if v}}
        thread_word = "thread" if sc["threads"] == 1 else "threads"
        lines += [f"## {sc['name']} ({sc['workers']} workers × {sc['threads']} {thread_word}, {sc['conns']} connections)", "",
                  "| server | req/s (median) | × rsgi | p50 ms | p99 ms | errors | server CPU µs/req | idle answered |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for server in servers:
            ok = [r for r in runs[server] if not r.get("failed") and r.get("rps") is not None]
            if not ok:
                lines.append(f"| {server} | failed to start | | | | | | |")
                continue
            ratio = results[sc["name"]]["ratios"].get(server)
            idle_cell = f"{min(r['idle_served'] for r in ok)}/{sc['idle']}" if sc["idle"] else ""
            lines.append(f"| {server} | {fmt(median_of(ok, 'rps'))} | {fmt(ratio, 2)} | {fmt(median_of(ok, 'p50'), 2)} | "
                         f"{fmt(median_of(ok, 'p99'), 2)} | {sum(r['errors'] for r in ok)} | {fmt(median_of(ok, 'cpu_us'), 1)} | {idle_cell} |")
        lines.append("")
    starts = [sc["name"] for sc in SCENARIOS if not sc["nginx"] and sc["app"] in ("hello", "flask_json")]
    starts = list(dict.fromkeys(n for n in starts if n in ("hello keep-alive", "Flask JSON")))
    if starts:
        lines += ["## Cold start to first 200 (ms, median)", "",
                  "| server | " + " | ".join(starts) + " |", "| --- |" + " --- |" * len(starts)]
        for server in SERVERS:
            cells = [fmt(median_of(results[n]["runs"].get(server, []), "start_ms")) for n in starts]
            lines.append(f"| {server} | " + " | ".join(cells) + " |")
        lines.append("")
    reload_runs = {}
    if RUN_RELOAD:
        lines += [f"## Rolling reload of {RELOAD_WORKERS} workers under load (32 connections)", "",
                  "rsgi: master FIFO `r`; uWSGI: master FIFO `c` (chain reload, with `--lazy-apps`, which it needs); "
                  "gunicorn and granian: SIGHUP. "
                  "Reload time: from the trigger until no process of the old set is left.", "",
                  "| server | reload s | steady p99 ms | worst ms during reload | errors | req/s during |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for _ in range(ROUNDS):
            for server in SERVERS:
                res = reload_under_load(server)
                reload_runs.setdefault(server, []).append(res)
                print(f"rolling reload / {server}: {json.dumps(res)}", file=sys.stderr)
        for server in SERVERS:
            ok = [r for r in reload_runs[server] if not r.get("failed")]
            if not ok:
                lines.append(f"| {server} | failed to start | | | | |")
                continue
            took = [r["reload_s"] for r in ok]
            took_cell = f"not done in {RELOAD_SECONDS - 1.5:g} s" if None in took else fmt(statistics.median(took), 2)
            worst = max((r["max"] for r in ok if r["max"] is not None), default=None)
            lines.append(f"| {server} | {took_cell} | {fmt(median_of(ok, 'steady_p99'), 2)} | {fmt(worst, 1)} | "
                         f"{sum(r['errors'] for r in ok)} | {fmt(median_of(ok, 'rps'))} |")
        lines.append("")
    memory = {}
    if RUN_MEMORY:
        lines += ["## Memory, hello world", "", "| server | total PSS, 1 worker | total PSS, 4 workers | master RSS |",
                  "| --- | --- | --- | --- |"]
        for server in SERVERS:
            memory[server] = (memory_at(server, 1), memory_at(server, 4))
            one, four = memory[server]
            cell = lambda m, i: "-" if not m or m[i] is None else f"{m[i] / 1024:.1f} MB"
            lines.append(f"| {server} | {cell(one, 0)} | {cell(four, 0)} | {cell(four, 1)} |")
        lines.append("")
    lines += targets(results, reload_runs, memory)
    report = "\n".join(lines) + "\n"
    with open(os.path.join(BENCH, "results-latest.md"), "w") as f:
        f.write(report)
    print(report)


if __name__ == "__main__":
    main()
