#!/usr/bin/env python3
"""Seed inputs for the fuzz targets, from the corpora rsgi's tests use.

    python3 fuzz/seeds.py        # writes fuzz/work/seeds/<target>/ (git-ignored)

- http_head: the requests in tests/hostile_requests.rs and in the unit
  tests of src/protocol/http.rs; gunicorn's request corpus when the tests
  have fetched it (tests/.cache/gunicorn-corpus.json, see
  tests/support/gunicorn_corpus.py).
- chunked: the bodies of those requests that are chunked, and the unit
  tests of src/protocol/chunked.rs; each behind a byte that picks how the
  stream is cut into reads.
- uwsgi_packet: the packets nginx sent, captured in tests/data/uwsgi/.
- target_path: the request-targets of all of the above, and the unit tests
  of src/protocol/target.rs.
- config: config-examples/, tests/data/configs/ and the config texts in
  the tests, each behind the byte that picks its format.
- logformat: uWSGI's default line, and the templates in the tests and docs.
- response: a few responses an app gives, written out below in the
  target's input format (fuzz/src/response.rs).

gunicorn's requests go to fuzz/work/seeds-gunicorn/<target>/ instead: they
are not ours to commit, so fuzz/fuzz.sh cmin keeps them out of the
committed corpus (what the fuzzer grew from them is ours).
"""
import glob
import hashlib
import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "work", "seeds")
OUT_GUNICORN = os.path.join(HERE, "work", "seeds-gunicorn")

# "..." and b"..." literals (not raw strings), with their escapes.
LITERAL = re.compile(r'(?<![A-Za-z0-9_#])b?"((?:[^"\\]|\\.|\\\n)*)"', re.S)
ESCAPE = re.compile(r'\\(x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]+\}|\n\s*|.)', re.S)


def unescape(body: str) -> bytes:
    def one(m):
        e = m.group(1)
        if e[0] == "x":
            return chr(int(e[1:], 16))
        if e[0] == "u":
            return chr(int(e[2:-1], 16))
        if e[0] == "\n":
            return ""  # a line continuation
        return {"r": "\r", "n": "\n", "t": "\t", "0": "\0"}.get(e, e)

    return ESCAPE.sub(one, body).encode("utf-8")


def literals(*patterns):
    for pattern in patterns:
        for path in sorted(glob.glob(os.path.join(ROOT, pattern))):
            with open(path, encoding="utf-8") as f:
                for m in LITERAL.finditer(f.read()):
                    yield unescape(m.group(1))


def write(directory, target, data: bytes):
    d = os.path.join(directory, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def body_of(request: bytes):
    head, sep, body = request.partition(b"\r\n\r\n")
    if sep and b"chunked" in head.lower():
        return body
    return None


def target_of(request: bytes):
    line = request.lstrip(b"\r\n").split(b"\n", 1)[0].rstrip(b"\r").split(b" ")
    return line[1] if len(line) == 3 else None


def http_seeds(requests, out):
    for r in requests:
        write(out, "http_head", r)
        body = body_of(r)
        if body is not None:
            for cut in (0, 1, 7):
                write(out, "chunked", bytes([cut]) + body)
        t = target_of(r)
        if t:
            write(out, "target_path", t)


def response(flags, status, headers, ops=()):
    """One input of the response target: flags (wire: 0 HTTP/1.0, 1
    HTTP/1.1, 2 uwsgi; 4 HEAD; 8 keep-alive), the headers' count, the
    status and headers as length-prefixed fields, then operations: (0,
    chunk), (1, file size) or (9, file size cut short), (2, bytes to
    write)."""
    def field(text):
        data = text.encode("utf-8") if isinstance(text, str) else text
        return bytes([len(data)]) + data

    out = bytes([flags, len(headers)]) + field(status)
    for name, value in headers:
        out += field(name) + field(value)
    for op, arg in ops:
        out += bytes([op]) + (field(arg) if op == 0 else bytes([arg]))
    return out


def response_seeds():
    text = [("Content-Type", "text/plain")]
    yield response(9, "200 OK", text + [("Content-Length", "5")], [(0, "hello")])
    yield response(9, "200 OK", text, [(0, "hel"), (2, 20), (0, "lo"), (0, "")])
    yield response(1, "200 OK", text + [("Content-Length", "10")], [(0, "short")])
    yield response(0, "200 OK", text, [(0, "until the end")])
    yield response(10, "200 OK", text, [(0, "uwsgi")])
    yield response(13, "200 OK", text + [("Content-Length", "5")], [(0, "hello")])
    yield response(9, "204 No Content", [("Content-Length", "0")])
    yield response(9, "304 Not Modified", [("Content-Length", "7"), ("ETag", '"x"')])
    yield response(9, "200", [("Connection", "close"), ("Server", "app"), ("Date", "x")])
    yield response(8, "200 OK", [("Connection", "keep-alive")], [(0, "1.0")])
    yield response(9, "200 \u00c7a va", [("X-Latin", "caf\u00e9\t!")], [(1, 40), (2, 3)])
    yield response(9, "200 OK", [("Content-Length", "5, 5")], [(1, 9)])
    yield response(9, "200 OK", [], [(0, "a"), (9, 30), (0, "b")])
    yield response(9, "200 OK", [("Transfer-Encoding", "gzip"), ("Keep-Alive", "5")], [(0, "x")])
    yield response(9, "500 Oops", [("Content-Length", "1"), ("Content-Length", "2")])
    yield response(9, "200 OK\r\nX: y", [])
    yield response(9, "200 \u010d\u010aX: y", [])
    yield response(9, "200 OK", [("X", "a\r\nb")])
    yield response(9, "200 OK", [("Bad Name", "v")])


def main():
    ours = [r for r in literals("tests/hostile_requests.rs", "src/protocol/http.rs") if b"HTTP/1" in r]
    http_seeds(ours, OUT)

    for body in literals("src/protocol/chunked.rs"):
        if b"\r\n" in body:
            for cut in (0, 1, 3):
                write(OUT, "chunked", bytes([cut]) + body)

    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "data", "uwsgi", "*.bin"))):
        with open(path, "rb") as f:
            write(OUT, "uwsgi_packet", f.read())

    # Absolute-form hosts urlsplit and RFC 3986 refuse (by hand).
    for t in (b"http://[x/", b"http://a]b/", b"http://[::1]:80/a", b"http://[::1/",
              b"http://h:x/", b'http://a"b/', b"http://a<b>/p", b"HTTP://H/./a",
              b"https://h?q#f", b"http://h%41/", b"http://h:/"):
        write(OUT, "target_path", t)
    for t in literals("src/protocol/target.rs", "tests/mounts.rs"):
        if t.startswith((b"/", b"http", b"HTTP", b"*")) and len(t) < 200:
            write(OUT, "target_path", t)

    formats = {"ini": 0, "conf": 0, "toml": 1, "yaml": 2, "yml": 2, "json": 3}
    for pattern in ("config-examples/**/*.*", "tests/data/configs/*.*"):
        for path in sorted(glob.glob(os.path.join(ROOT, pattern), recursive=True)):
            ext = path.rsplit(".", 1)[-1]
            if ext in formats:
                with open(path, "rb") as f:
                    write(OUT, "config", bytes([formats[ext]]) + f.read())
    for text in literals("tests/config_*.rs", "tests/emperor.rs", "src/config/*.rs"):
        if b"[uwsgi]" in text or b"[rsgi]" in text:
            write(OUT, "config", b"\0" + text)
        elif b"uwsgi:" in text:
            write(OUT, "config", b"\2" + text)
        elif b'"uwsgi"' in text:
            write(OUT, "config", b"\3" + text)

    for text in literals("src/logformat.rs", "tests/logging.rs", "src/config/*.rs"):
        if b"%(" in text:
            write(OUT, "logformat", text)

    for seed in response_seeds():
        write(OUT, "response", seed)

    cache = os.path.join(ROOT, "tests", ".cache", "gunicorn-corpus.json")
    if os.path.exists(cache):
        with open(cache) as f:
            http_seeds([bytes.fromhex(case["raw"]) for case in json.load(f)], OUT_GUNICORN)

    for directory in (OUT, OUT_GUNICORN):
        for target in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
            print(f"{directory}/{target}: {len(os.listdir(os.path.join(directory, target)))} seeds")


if __name__ == "__main__":
    main()
