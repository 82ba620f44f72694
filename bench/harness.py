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
import signal
import socket
import statistics
import subprocess
import sys
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


def server_command(name, app, port, workers, threads):
    """The command line of one server, for one app module in bench/apps."""
    addr = f"127.0.0.1:{port}"
    path = os.path.join(APPS, f"{app}.py")
    if name == "rsgi":
        return [os.path.join(ROOT, "target", "release", "rsgi"), "--http-socket", addr, "--wsgi-file", path,
                "--processes", str(workers), "--threads", str(threads), "--disable-logging", "--master"]
    if name == "uwsgi":
        return [os.path.join(VENV, "uwsgi"), "--http-socket", addr, "--wsgi-file", path, "--master",
                "--processes", str(workers), "--threads", str(threads), "--disable-logging", "--die-on-term"]
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


class Running:
    """A server started in its own process group, pinned to SERVER_CPU."""

    def __init__(self, cmd, port):
        self.port = port
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CPU] + cmd, stdout=subprocess.DEVNULL,
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
                time.sleep(0.02)
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

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


def wrk(port, conns, extra):
    cmd = ["taskset", "-c", CLIENT_CPU, "wrk", "-t", "1", "-c", str(conns), "-d", f"{DURATION}s", "--latency"] + extra
    out = subprocess.run(cmd + [f"http://127.0.0.1:{port}/"], capture_output=True, text=True, timeout=DURATION + 60).stdout
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
    return {"rps": grab(r"Requests/sec:\s+([\d.]+)"), "p50": latency("50%"), "p99": latency("99%"), "errors": errors}


LUA_POST = os.path.join(BENCH, "post_1m.lua")
# name, app, connections, wrk extra args, workers, threads, idle connections
SCENARIOS = [
    ("hello keep-alive", "hello", 32, [], 2, 1, 0),
    ("hello Connection: close", "hello", 32, ["-H", "Connection: close"], 2, 1, 0),
    ("64 KiB response", "big", 32, [], 2, 1, 0),
    ("1 MiB POST echo", "echo", 8, ["-s", LUA_POST], 2, 1, 0),
    ("Flask JSON", "flask_json", 32, [], 2, 1, 0),
    ("256 idle + 32 busy keep-alive", "hello", 32, [], 2, 1, 256),
]
if QUICK:
    SCENARIOS = SCENARIOS[:2] + SCENARIOS[4:]
if os.environ.get("ONLY"):
    SCENARIOS = [s for s in SCENARIOS if os.environ["ONLY"] in s[0]]
SERVERS = ["rsgi", "granian", "uwsgi", "gunicorn"]


class IdleConnections:
    """`count` keep-alive connections that each made one request and then
    sit idle while the load runs; at the end each asks once more, and the
    answered ones are counted (a sync server starves them)."""

    REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"

    def __init__(self, port, count):
        self.socks = []
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            self.socks.append(s)
        for s in self.socks:
            s.sendall(self.REQUEST)
        self.opened = sum(1 for s in self.socks if self._answered(s))

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


def run_one(server, app, conns, extra, workers, threads, idle=0):
    port = free_port()
    r = Running(server_command(server, app, port, workers, threads), port)
    try:
        if not r.wait_ready():
            return {"failed": True}
        holders = IdleConnections(port, idle) if idle else None
        result = wrk(port, conns, extra)
        if holders:
            result["idle_served"] = holders.answered_again()
            result["idle_total"] = idle
        result["pss_kb"] = r.pss_kb()
        result["start_ms"] = r.ready_after * 1000
        return result
    finally:
        r.stop()


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
    out["rsgi"] = subprocess.run([os.path.join(ROOT, "target", "release", "rsgi"), "--version"], capture_output=True, text=True).stdout.strip()
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


def main():
    with open(LUA_POST, "w") as f:
        f.write('wrk.method = "POST"\nwrk.body = string.rep("x", 1048576)\n'
                'wrk.headers["Content-Type"] = "application/octet-stream"\n')
    lines = [f"# rsgi benchmark — {time.strftime('%Y-%m-%d')}", "",
             f"Machine: {machine()}. Server on CPU {SERVER_CPU}, wrk on CPU {CLIENT_CPU}; "
             f"{ROUNDS} round(s) of {DURATION} s per server and scenario, interleaved.", "",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()), ""]
    for scenario, app, conns, extra, workers, threads, idle in SCENARIOS:
        runs = {s: [] for s in SERVERS + ["reference"]}
        ratios = {s: [] for s in SERVERS}
        for _ in range(ROUNDS):
            round_results = {}
            for server in SERVERS + (["reference"] if app == "hello" and not idle else []):
                res = run_one(server, app, conns, extra, workers, threads, idle)
                runs[server].append(res)
                round_results[server] = res
                print(f"{scenario} / {server}: {json.dumps(res)}", file=sys.stderr)
            base = round_results.get("rsgi", {}).get("rps")
            for server in SERVERS:
                rps = round_results[server].get("rps")
                if base and rps:
                    ratios[server].append(rps / base)
        lines += [f"## {scenario} ({workers} workers × {threads} thread, {conns} connections)", "",
                  "| server | req/s (median) | × rsgi | p50 ms | p99 ms | errors | idle answered |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for server in SERVERS + (["reference"] if app == "hello" and not idle else []):
            ok = [r for r in runs[server] if not r.get("failed") and r.get("rps")]
            if not ok:
                lines.append(f"| {server} | failed to start | | | | | |")
                continue
            med = lambda k: statistics.median(r[k] for r in ok if r.get(k) is not None) if any(r.get(k) is not None for r in ok) else None
            ratio = statistics.median(ratios[server]) if ratios.get(server) else None
            idle_cell = f"{min(r['idle_served'] for r in ok)}/{idle}" if idle else ""
            lines.append(f"| {server} | {fmt(med('rps'))} | {fmt(ratio, 2)} | {fmt(med('p50'), 2)} | {fmt(med('p99'), 2)} | {sum(r['errors'] for r in ok)} | {idle_cell} |")
        lines.append("")
    lines += ["## Memory, hello world", "", "| server | total PSS, 1 worker | total PSS, 4 workers | master RSS |", "| --- | --- | --- | --- |"]
    for server in SERVERS:
        one, four = memory_at(server, 1), memory_at(server, 4)
        cell = lambda m, i: "-" if not m or m[i] is None else f"{m[i] / 1024:.1f} MB"
        lines.append(f"| {server} | {cell(one, 0)} | {cell(four, 0)} | {cell(four, 1)} |")
    report = "\n".join(lines) + "\n"
    with open(os.path.join(BENCH, "results-latest.md"), "w") as f:
        f.write(report)
    print(report)


if __name__ == "__main__":
    main()
