#!/usr/bin/env python3
"""Capture uwsgi packets exactly as real nginx sends them to `uwsgi_pass`.

Starts nginx in the foreground (config, pid and temp files in a temp dir,
loopback ports picked at runtime), points `uwsgi_pass` at a socket this
script listens on, sends a set of requests through nginx, and saves each
raw packet (4-byte header, vars, body) to tests/data/uwsgi/NAME.bin. The
files are rsgi's own test data; tests/it/uwsgi_corpus.rs replays them.

    python3 tests/support/capture_uwsgi.py      # needs nginx on PATH
"""
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "uwsgi")

PARAMS = """
uwsgi_param QUERY_STRING $query_string;
uwsgi_param REQUEST_METHOD $request_method;
uwsgi_param CONTENT_TYPE $content_type;
uwsgi_param CONTENT_LENGTH $content_length;
uwsgi_param REQUEST_URI $request_uri;
uwsgi_param PATH_INFO $document_uri;
uwsgi_param DOCUMENT_ROOT $document_root;
uwsgi_param SERVER_PROTOCOL $server_protocol;
uwsgi_param REQUEST_SCHEME $scheme;
uwsgi_param HTTPS $https if_not_empty;
uwsgi_param REMOTE_ADDR $remote_addr;
uwsgi_param REMOTE_PORT $remote_port;
uwsgi_param SERVER_PORT $server_port;
uwsgi_param SERVER_NAME $server_name;
"""

# name, method, path, headers, body, chunked
REQUESTS = [
    ("get_query", "GET", "/search/caf%C3%A9?q=rust&page=2", {"Accept": "text/html"}, None, False),
    ("post_form", "POST", "/form", {"Content-Type": "application/x-www-form-urlencoded"}, b"name=J%C3%B6rg&n=42", False),
    ("post_chunked_unbuffered", "POST", "/stream/upload", {"Content-Type": "text/plain"}, b"hello chunked world" * 50, True),
    ("many_headers", "GET", "/headers", {f"X-Header-{i}": f"value-{i}" for i in range(40)}, None, False),
    ("overrides", "GET", "/secure/app/page?x=1", {"Cookie": "a=1; b=2"}, None, False),
]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def recv_packet(conn):
    """One packet: header, vars, and the body CONTENT_LENGTH announces."""
    data = b""
    while len(data) < 4:
        data += conn.recv(65536)
    size = int.from_bytes(data[1:3], "little")
    while len(data) < 4 + size:
        data += conn.recv(65536)
    block, i, length = data[4:4 + size], 0, 0
    while i < len(block):
        klen = int.from_bytes(block[i:i + 2], "little")
        key = block[i + 2:i + 2 + klen]
        i += 2 + klen
        vlen = int.from_bytes(block[i:i + 2], "little")
        val = block[i + 2:i + 2 + vlen]
        i += 2 + vlen
        if key == b"CONTENT_LENGTH" and val:
            length = int(val)
    while len(data) < 4 + size + length:
        data += conn.recv(65536)
    return data


def main():
    os.makedirs(OUT, exist_ok=True)
    backend = socket.socket()
    backend.bind(("127.0.0.1", 0))
    backend.listen(16)
    upstream = backend.getsockname()[1]
    front = free_port()
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "uwsgi_params"), "w") as f:
            f.write(PARAMS)
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
    uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{front};
        location /stream/ {{
            include {d}/uwsgi_params;
            uwsgi_request_buffering off;
            uwsgi_pass 127.0.0.1:{upstream};
        }}
        location ~ ^/secure(/.*)$ {{
            include {d}/uwsgi_params;
            uwsgi_param HTTPS on;
            uwsgi_param SCRIPT_NAME /secure;
            uwsgi_param PATH_INFO $1;
            uwsgi_pass 127.0.0.1:{upstream};
        }}
        location / {{
            include {d}/uwsgi_params;
            uwsgi_pass 127.0.0.1:{upstream};
        }}
    }}
}}
""")
        nginx = subprocess.Popen(["nginx", "-c", conf, "-p", d], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.time() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", front)).close()
                    break
                except OSError:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.02)
            for name, method, path, headers, body, chunked in REQUESTS:
                captured = {}

                def serve():
                    conn, _ = backend.accept()
                    captured["packet"] = recv_packet(conn)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    conn.close()

                t = threading.Thread(target=serve)
                t.start()
                data = body
                if chunked:
                    data = iter([body[:300], body[300:]])  # urllib sends an iterable chunked
                req = urllib.request.Request(f"http://127.0.0.1:{front}{path}", data=data, method=method, headers=headers)
                urllib.request.urlopen(req, timeout=10).read()
                t.join(10)
                with open(os.path.join(OUT, f"{name}.bin"), "wb") as f:
                    f.write(captured["packet"])
                print(f"captured {name}: {len(captured['packet'])} bytes")
        finally:
            os.killpg(nginx.pid, signal.SIGKILL)
            nginx.wait()


if __name__ == "__main__":
    main()
