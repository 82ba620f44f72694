#!/usr/bin/env python3
"""An independent reading of request-targets, for tests/it/fuzz_corpus.rs.

For every file in the directories given (one request-target each, raw
bytes), print one JSON line: what Python's urllib.parse makes of it, the
path with RFC 3986 5.2.4 applied (urlsplit leaves dot segments alone; the
code below follows the RFC's rules, not rsgi's), and the first thing in
the path that rsgi must refuse. Bytes travel as hex.

The comparison, and the list of differences it expects, is
compare_with_python in fuzz/src/target_path.rs.
"""
import ipaddress
import json
import os
import re
import string
import sys
from urllib.parse import unquote_to_bytes, urlsplit


def remove_dot_segments(path: bytes) -> bytes:
    """RFC 3986 5.2.4, rules A to E, on bytes."""
    inp, out = path, b""
    while inp:
        if inp.startswith(b"../"):
            inp = inp[3:]
        elif inp.startswith(b"./"):
            inp = inp[2:]
        elif inp.startswith(b"/./"):
            inp = inp[2:]
        elif inp == b"/.":
            inp = b"/"
        elif inp.startswith(b"/../"):
            inp = inp[3:]
            out = out[: max(out.rfind(b"/"), 0)]
        elif inp == b"/..":
            inp = b"/"
            out = out[: max(out.rfind(b"/"), 0)]
        elif inp in (b".", b".."):
            inp = b""
        else:
            start = 1 if inp.startswith(b"/") else 0
            end = inp.find(b"/", start)
            end = len(inp) if end < 0 else end
            out, inp = out + inp[:end], inp[end:]
    return out


# RFC 3986 2.2-2.3: unreserved, sub-delims, and "%" for pct-encoded.
REG_NAME = set(string.ascii_letters + string.digits + "-._~%!$&'()*+,;=")


def host_valid(netloc: str) -> bool:
    """uri-host [ ":" port ] (RFC 9110 7.2, RFC 3986 3.2.2-3.2.3): an
    IP-literal (an IPv6 address, or "v" HEX "." ...: IPvFuture) in
    brackets, or a reg-name / IPv4 address; the port digits. A zone ID
    (RFC 6874, "%eth0") is not part of RFC 3986's host."""
    m = re.fullmatch(r"(\[[^\[\]]*\]|[^\[\]:]*)(:[0-9]*)?", netloc)
    if not m:
        return False
    host = m.group(1)
    if not host.startswith("["):
        return all(c in REG_NAME for c in host)
    literal = host[1:-1]
    if literal[:1] in ("v", "V"):
        return re.fullmatch(r"[vV][0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+", literal) is not None
    if "%" in literal:
        return False
    try:
        ipaddress.IPv6Address(literal)
    except ValueError:
        return False
    return True


def problem(decoded: bytes):
    """What rsgi refuses where RFC 3986 would pick an answer nginx does
    not: a NUL; a '..' above the root (nginx: 400); a '..' right after an
    empty segment (nginx merges the slashes first). The first one met."""
    if b"\0" in decoded:
        return "nul"
    depth = []  # the segments kept so far; True for an empty one
    for segment in decoded.split(b"/")[1:]:
        if segment == b"..":
            if not depth:
                return "above_root"
            if depth.pop():
                return "dotdot_after_empty"
        elif segment != b".":
            depth.append(segment == b"")
    return None


def read(target: bytes) -> dict:
    text = target.decode("latin-1")
    # An origin-form target is an absolute-path (RFC 9112 3.2.1): behind a
    # scheme and host, urlsplit cannot take "//x" for a host.
    url = "http://h" + text if text.startswith("/") else text
    try:
        parts = urlsplit(url)
    except ValueError as e:
        return {"error": str(e)}
    scheme_end = len(parts.scheme) + 1 if parts.scheme else 0
    path = parts.path.encode("latin-1")
    decoded = unquote_to_bytes(path)
    return {
        "error": None,
        "scheme": parts.scheme,
        "has_authority": url[scheme_end:].startswith("//"),
        "netloc": parts.netloc.encode("latin-1").hex(),
        "host_valid": host_valid(parts.netloc),
        "path": path.hex(),
        "query": parts.query.encode("latin-1").hex(),
        "normalized": (remove_dot_segments(decoded) if path else b"/").hex(),
        "problem": problem(decoded) if decoded.startswith(b"/") else None,
    }


def main():
    for directory in sys.argv[1:]:
        for name in sorted(os.listdir(directory)):
            with open(os.path.join(directory, name), "rb") as f:
                line = read(f.read())
            line["file"] = name
            print(json.dumps(line))


if __name__ == "__main__":
    main()
