#!/usr/bin/env python3
"""Static files: rsgi's `static-map` against nginx serving the same files.

Both run one worker pinned to CPU 0 while wrk (one thread, 32 keep-alive
connections) runs on CPU 1, as in bench/harness.py; uWSGI's static-map
joins when bench/.venv has uwsgi (bench/run installs it). Reported per
file size: requests/s, p99, and the server's CPU time per request (user +
system of its whole process tree over the run, divided by the requests).

    bench/static              # 10 s per run, 3 rounds
    QUICK=1 bench/static      # 3 s, 1 round

Expects target/release/rsgi and its extension (bench/static builds them).
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (APPS, CLIENT_CPU, DURATION, ROOT, ROUNDS, VENV, Running, fmt, free_port,  # noqa: E402
                     machine, median_of, wrk_result)

FILES = [("1 KiB CSS", "site.css", 1024), ("64 KiB JS", "app.js", 64 * 1024)]
CONNS = 32


def nginx_conf(tmp, port, docroot):
    temps = "\n".join(f"    {t}_temp_path {tmp}/{t};" for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    include /etc/nginx/mime.types;
{temps}
    server {{
        listen 127.0.0.1:{port};
        location /static/ {{ alias {docroot}/; }}
    }}
}}
"""


def command(server, port, docroot, tmp):
    addr = f"127.0.0.1:{port}"
    hello = os.path.join(APPS, "hello.py")
    if server == "rsgi":
        return [os.path.join(ROOT, "target", "release", "rsgi"), "--http-socket", addr, "--wsgi-file", hello,
                "--static-map", f"/static={docroot}", "--processes", "1", "--threads", "1",
                "--disable-logging", "--master"]
    if server == "uwsgi":
        return [os.path.join(VENV, "uwsgi"), "--http-socket", addr, "--wsgi-file", hello,
                "--static-map", f"/static={docroot}", "--processes", "1", "--threads", "1",
                "--disable-logging", "--master", "--die-on-term"]
    if server == "nginx":
        conf = os.path.join(tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(nginx_conf(tmp, port, docroot))
        return ["nginx", "-c", conf, "-p", tmp]
    raise ValueError(server)


def ready(port, path, proc, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as r:
                if r.status == 200:
                    return True
        except Exception:
            time.sleep(0.01)
    return False


def run_one(server, path, docroot):
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="rsgi-bench-static-")
    r = Running(command(server, port, docroot, tmp), port)
    try:
        if not ready(port, path, r.proc):
            return {"failed": True}
        before = r.cpu_seconds()
        cmd = ["taskset", "-c", CLIENT_CPU, "wrk", "-t", "1", "-c", str(CONNS), "-d", f"{DURATION}s", "--latency",
               f"http://127.0.0.1:{port}{path}"]
        result = wrk_result(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True),
                            DURATION)
        if result.get("requests"):
            result["cpu_us"] = (r.cpu_seconds() - before) / result["requests"] * 1e6
        return result
    finally:
        r.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    servers = ["rsgi", "nginx"] + (["uwsgi"] if os.path.exists(os.path.join(VENV, "uwsgi")) else [])
    docroot = tempfile.mkdtemp(prefix="rsgi-bench-docroot-")
    os.chmod(docroot, 0o755)  # nginx's worker runs as nobody
    for _, name, size in FILES:
        with open(os.path.join(docroot, name), "wb") as f:
            f.write(b"x" * size)
    runs = {}
    try:
        for _ in range(ROUNDS):
            for label, name, _ in FILES:
                for server in servers:
                    res = run_one(server, f"/static/{name}", docroot)
                    runs.setdefault((label, server), []).append(res)
                    print(f"{label} / {server}: {res}", file=sys.stderr)
    finally:
        shutil.rmtree(docroot, ignore_errors=True)
    lines = [f"# Static files, {time.strftime('%Y-%m-%d')}", "", f"Machine: {machine()}", "",
             f"One worker on CPU 0, wrk -t1 -c{CONNS} on CPU 1, {DURATION} s x {ROUNDS} round(s), medians.", "",
             "| file | server | req/s | p99 ms | server CPU µs/req | errors |", "| --- | --- | --- | --- | --- | --- |"]
    for label, _, _ in FILES:
        for server in servers:
            ok = [r for r in runs[(label, server)] if not r.get("failed")]
            if not ok:
                lines.append(f"| {label} | {server} | failed to start | | | |")
                continue
            lines.append(f"| {label} | {server} | {fmt(median_of(ok, 'rps'))} | {fmt(median_of(ok, 'p99'), 2)} | "
                         f"{fmt(median_of(ok, 'cpu_us'), 1)} | "
                         f"{sum(r['errors'] for r in ok)} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
