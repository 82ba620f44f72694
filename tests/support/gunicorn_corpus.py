#!/usr/bin/env python3
"""Turn gunicorn's HTTP request corpus into JSON for tests/it/http_corpus.rs.

gunicorn's source distribution carries about 200 requests with the parse
gunicorn expects (tests/requests/valid/*.http + *.py) or the error it must
raise (tests/requests/invalid/*). The corpus is not ours to commit, so this
script fetches the sdist from PyPI into tests/.cache (git-ignored) and
writes tests/.cache/gunicorn-corpus.json:

    [{"name": "valid/001", "raw": "<hex of the request bytes>",
      "expect": [{"method": "PUT", "path": "/stuff/here", "query": "foo=bar",
                  "version": [1, 0], "headers": [["SERVER", "..."], ...],
                  "body": "<hex>"}, ...],   # one per pipelined request
      "error": null, "gunicorn_config": []},
     {"name": "invalid/001", "raw": "...", "expect": null,
      "error": "NoMoreData", "gunicorn_config": []}, ...]

"gunicorn_config" lists gunicorn settings a case changes (cfg.set(...));
such cases test gunicorn options rsgi does not have.
"""
import glob
import importlib.machinery
import json
import os
import subprocess
import sys
import tarfile
import types
from urllib.parse import urlsplit

VERSION = "23.0.0"
HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.path.join(HERE, "..", ".cache")
OUT = os.path.join(CACHE, "gunicorn-corpus.json")


def fetch():
    sdist = os.path.join(CACHE, f"gunicorn-{VERSION}.tar.gz")
    if not os.path.exists(sdist):
        os.makedirs(CACHE, exist_ok=True)
        subprocess.check_call([sys.executable, "-m", "pip", "download", "-q", f"gunicorn=={VERSION}",
                               "--no-binary", ":all:", "--no-deps", "-d", CACHE])
    root = os.path.join(CACHE, f"gunicorn-{VERSION}")
    if not os.path.isdir(root):
        with tarfile.open(sdist) as tar:
            tar.extractall(CACHE, filter="data")
    return os.path.join(root, "tests", "requests")


class Config:
    """Stands in for gunicorn.config.Config: records what a case sets."""

    def __init__(self):
        self.changed = []

    def set(self, name, value):
        self.changed.append(name)


def stub_gunicorn():
    errors = types.ModuleType("gunicorn.http.errors")
    errors.__getattr__ = lambda name: type(name, (Exception,), {})
    config = types.ModuleType("gunicorn.config")
    config.Config = Config
    for name, mod in [("gunicorn", types.ModuleType("gunicorn")), ("gunicorn.http", types.ModuleType("gunicorn.http")),
                      ("gunicorn.http.errors", errors), ("gunicorn.config", config)]:
        sys.modules[name] = mod


def uri(data):
    parts = urlsplit(data)
    return {"raw": data, "path": parts.path or "", "query": parts.query or ""}


def load_expectation(path):
    mod = types.ModuleType("__config__")
    mod.uri = uri
    mod.cfg = Config()
    importlib.machinery.SourceFileLoader("__config__", path).exec_module(mod)
    return vars(mod)


def load_raw(path):
    # As gunicorn's tests/treq.py: the files spell CRLF, NUL, LF and TAB as escapes.
    with open(path, "rb") as f:
        data = f.read()
    data = data.replace(b"\n", b"").replace(b"\\r\\n", b"\r\n")
    return data.replace(b"\\0", b"\000").replace(b"\\n", b"\n").replace(b"\\t", b"\t")


def hexed(data):
    return (data.encode("latin-1") if isinstance(data, str) else data).hex()


def main():
    requests = fetch()
    stub_gunicorn()
    cases = []
    for kind in ("valid", "invalid"):
        for http in sorted(glob.glob(os.path.join(requests, kind, "*.http"))):
            name = os.path.splitext(os.path.basename(http))[0]
            env = load_expectation(os.path.splitext(http)[0] + ".py")
            expected = env["request"]
            case = {"name": f"{kind}/{name}", "raw": hexed(load_raw(http)), "expect": None, "error": None,
                    "gunicorn_config": env["cfg"].changed}
            if kind == "invalid":
                case["error"] = expected.__name__
            else:
                reqs = expected if isinstance(expected, list) else [expected]
                case["expect"] = [{
                    "method": r["method"],
                    "path": r["uri"]["path"],
                    "query": r["uri"]["query"],
                    "version": list(r["version"]),
                    "headers": [list(h) for h in r["headers"]],
                    "body": hexed(r["body"]),
                } for r in reqs]
            cases.append(case)
    with open(OUT, "w") as f:
        json.dump(cases, f, indent=1)
    print(f"wrote {len(cases)} cases to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
