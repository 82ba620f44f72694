//! Static files (`static-map` and its kin), as a browser, curl and nginx
//! (over the uwsgi protocol) see them: the headers, conditional and range
//! requests, the gzip variant, path escapes refused, and files served
//! while every Python thread is busy. The layout follows a Django
//! project's `collectstatic` output served by `static-map /static=DIR`
//! (the pattern of the configs issue 17 surveyed).

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use crate::common::*;
use rsgi_core::static_files::httpdate;

/// The app answers every request that reaches it with its path, so a
/// test tells "served from disk" from "passed to the app"; `/hold` waits
/// for the test (gate.rs).
const APP: &str = r#"
def application(environ, start_response):
    if environ["PATH_INFO"] == "/hold":
        hold(environ)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("app " + environ["PATH_INFO"]).encode()]
"#;

const CSS: &str = "body { color: #333; }\n";

/// The app, and `static/` beside it:
/// site.css, logo.png, data.bin (no known type), app.js and app.js.gz,
/// sub/index.html, noindex/, .env, skip.py, out -> ../secret.txt,
/// outdir -> ../shared; secret.txt and shared/s.txt outside it.
fn tree() -> (TempDir, PathBuf) {
    let dir = TempDir::new("static");
    dir.write("app.py", &format!("{APP}{HOLD_PY}"));
    // Types from the built-in table only, whatever /etc/mime.types says.
    dir.write("mime.types", "# no entries\n");
    let s = dir.path().join("static");
    for d in ["sub", "noindex", "../shared"] {
        std::fs::create_dir_all(s.join(d)).unwrap();
    }
    let files: &[(&str, &[u8])] = &[
        ("site.css", CSS.as_bytes()),
        ("logo.png", b"\x89PNG\r\n"),
        ("data.bin", b"0123456789"),
        ("app.js", b"plain js"),
        ("app.js.gz", b"gzipped js"),
        ("sub/index.html", b"<p>index</p>"),
        ("noindex/x.txt", b"x"),
        (".env", b"SECRET=1"),
        ("skip.py", b"print()"),
        ("../secret.txt", b"secret"),
        ("../shared/s.txt", b"shared"),
    ];
    for (name, bytes) in files {
        std::fs::write(s.join(name), bytes).unwrap();
    }
    symlink("../secret.txt", s.join("out")).unwrap();
    symlink("../shared", s.join("outdir")).unwrap();
    (dir, s)
}

fn server(extra: &[&str]) -> (Server, PathBuf) {
    let (dir, s) = tree();
    let mut args = vec![
        "--wsgi-file",
        "{dir}/app.py",
        "--static-map",
        "/static={dir}/static",
        "--static-index",
        "index.html",
        "--static-skip-ext",
        ".py",
        "--mimefile",
        "{dir}/mime.types",
    ];
    args.extend_from_slice(extra);
    (Server::start_in(dir, &args), s)
}

fn get(s: &Server, path: &str, headers: &str) -> Response {
    request(
        s.port,
        &format!("GET {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n"),
    )
}

fn mtime(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().mtime() as u64
}

#[test]
fn a_file_comes_with_its_type_validators_length_and_expiry() {
    let (s, dir) = server(&[
        "--static-expires-type",
        "text/css=3600",
        "--static-expires-uri",
        r"\.png\?v= 60",
    ]);
    let r = s.get("/static/site.css");
    assert_eq!((r.status, r.text().as_str()), (200, CSS), "{r:?}");
    let css = dir.join("site.css");
    let modified = httpdate::format(mtime(&css));
    let etag = format!("\"{:x}-{:x}\"", mtime(&css), CSS.len());
    let len = CSS.len().to_string();
    for (name, want) in [
        ("content-type", "text/css; charset=utf-8"),
        ("content-length", len.as_str()),
        ("last-modified", modified.as_str()),
        ("etag", etag.as_str()),
        ("accept-ranges", "bytes"),
    ] {
        assert_eq!(r.header(name), Some(want), "{name}: {r:?}");
    }
    let expires = r
        .header("expires")
        .and_then(|e| httpdate::parse(e.as_bytes()));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        expires.is_some_and(|e| e + 120 > now + 3600 && e < now + 3600 + 120),
        "{r:?}"
    );
    assert!(r.header("vary").is_none() && r.header("content-encoding").is_none());
    let png = s.get("/static/logo.png");
    assert_eq!(png.header("content-type"), Some("image/png"));
    assert!(png.header("expires").is_none(), "{png:?}");
    assert!(s.get("/static/logo.png?v=2").header("expires").is_some());
    let bin = s.get("/static/data.bin");
    assert_eq!(bin.header("content-type"), Some("application/octet-stream"));
    // HEAD: the same head, no body.
    let head = request(
        s.port,
        "HEAD /static/site.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some(len.as_str()));
    assert_eq!(head.header("etag"), Some(etag.as_str()));
    assert!(head.body.is_empty(), "{head:?}");
    // Logged like an app's response.
    s.wait_for_log("GET /static/site.css => generated 22 bytes", PATIENCE);
    s.wait_for_log("HEAD /static/site.css => generated 0 bytes", PATIENCE);
}

#[test]
fn conditional_and_range_requests() {
    let (s, dir) = server(&[]);
    let css = dir.join("site.css");
    let etag = format!("\"{:x}-{:x}\"", mtime(&css), CSS.len());
    let modified = httpdate::format(mtime(&css));
    let earlier = httpdate::format(mtime(&css) - 10);
    let len = CSS.len();
    let cases: Vec<(String, u16, Option<&str>, &str)> = vec![
        (format!("If-None-Match: {etag}\r\n"), 304, None, ""),
        (format!("If-None-Match: \"x\", W/{etag}\r\n"), 304, None, ""),
        ("If-None-Match: *\r\n".into(), 304, None, ""),
        ("If-None-Match: \"x\"\r\n".into(), 200, None, CSS),
        (format!("If-Modified-Since: {modified}\r\n"), 304, None, ""),
        (format!("If-Modified-Since: {earlier}\r\n"), 200, None, CSS),
        // If-None-Match decides when both are sent (RFC 9110 13.2.2).
        (
            format!("If-None-Match: \"x\"\r\nIf-Modified-Since: {modified}\r\n"),
            200,
            None,
            CSS,
        ),
        (
            "Range: bytes=0-3\r\n".into(),
            206,
            Some(format!("bytes 0-3/{len}").leak()),
            "body",
        ),
        (
            "Range: bytes=-2\r\n".into(),
            206,
            Some(format!("bytes {}-{}/{len}", len - 2, len - 1).leak()),
            "}\n",
        ),
        (
            "Range: bytes=5-\r\n".into(),
            206,
            Some(format!("bytes 5-{}/{len}", len - 1).leak()),
            &CSS[5..],
        ),
        (
            format!("Range: bytes={len}-\r\n"),
            416,
            Some(format!("bytes */{len}").leak()),
            "",
        ),
        // Several ranges: the whole file (RFC 9110 14.2 lets a server).
        ("Range: bytes=0-1,4-5\r\n".into(), 200, None, CSS),
        (
            format!("Range: bytes=0-3\r\nIf-Range: {etag}\r\n"),
            206,
            Some(format!("bytes 0-3/{len}").leak()),
            "body",
        ),
        (
            "Range: bytes=0-3\r\nIf-Range: \"old\"\r\n".into(),
            200,
            None,
            CSS,
        ),
    ];
    for (headers, status, range, body) in cases {
        let r = get(&s, "/static/site.css", &headers);
        assert_eq!(
            (r.status, r.header("content-range"), r.text().as_str()),
            (status, range, body),
            "{headers:?}: {r:?}"
        );
        if status == 304 {
            assert_eq!(r.header("etag"), Some(etag.as_str()), "{r:?}");
            assert!(r.header("content-length").is_none(), "{r:?}");
        }
    }
}

#[test]
fn escapes_dotfiles_directories_and_other_methods_go_to_the_app() {
    let (s, dir) = server(&[]);
    let app = |path: &str| format!("app {path}");
    // (request target, status, body)
    let cases: Vec<(&str, u16, String)> = vec![
        // The path is normalized before it is mapped: this is /secret.txt.
        ("/static/../secret.txt", 200, app("/secret.txt")),
        ("/static/%2e%2e/secret.txt", 200, app("/secret.txt")),
        ("/static/%2E%2E/%2e%2e/secret.txt", 400, String::new()),
        ("/static/..%2fsecret.txt", 200, app("/secret.txt")),
        // A symlink out of the directory.
        ("/static/out", 200, app("/static/out")),
        ("/static/outdir/s.txt", 200, app("/static/outdir/s.txt")),
        // Dotfiles, by name or encoded.
        ("/static/.env", 200, app("/static/.env")),
        ("/static/%2eenv", 200, app("/static/.env")),
        // A directory: its index, or the app (never a listing).
        ("/static/sub/", 200, "<p>index</p>".into()),
        ("/static/sub", 200, "<p>index</p>".into()),
        ("/static/noindex/", 200, app("/static/noindex/")),
        ("/static/", 200, app("/static/")),
        ("/static/skip.py", 200, app("/static/skip.py")),
        ("/static/missing.css", 200, app("/static/missing.css")),
        ("/staticx/site.css", 200, app("/staticx/site.css")),
    ];
    for (target, status, body) in cases {
        let r = s.get(target);
        if status == 400 {
            assert_eq!(r.status, 400, "{target}: {r:?}");
            continue;
        }
        assert_eq!((r.status, r.text()), (status, body), "{target}");
    }
    let post = request(
        s.port,
        "POST /static/site.css HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(post.text(), "app /static/site.css");
    s.wait_for_log("leads outside its directory", PATIENCE);
    assert!(dir.join("out").exists());
}

#[test]
fn static_safe_lets_a_symlink_reach_its_target() {
    let (s, _) = server(&["--static-safe", "{dir}/shared"]);
    assert_eq!(s.get("/static/outdir/s.txt").text(), "shared");
    // Only that target: the other symlink still leads nowhere.
    assert_eq!(s.get("/static/out").text(), "app /static/out");
}

#[test]
fn the_gzip_variant_goes_only_to_clients_that_accept_it() {
    let (s, _) = server(&["--static-gzip-all"]);
    let cases: &[(&str, &str, Option<&str>)] = &[
        ("", "plain js", None),
        ("Accept-Encoding: gzip, br\r\n", "gzipped js", Some("gzip")),
        (
            "Accept-Encoding: br;q=1, gzip;q=0.5\r\n",
            "gzipped js",
            Some("gzip"),
        ),
        ("Accept-Encoding: gzip;q=0\r\n", "plain js", None),
        ("Accept-Encoding: identity\r\n", "plain js", None),
    ];
    for (headers, body, encoding) in cases {
        let r = get(&s, "/static/app.js", headers);
        assert_eq!(
            (r.text().as_str(), r.header("content-encoding")),
            (*body, *encoding),
            "{headers:?}"
        );
        assert_eq!(r.header("vary"), Some("Accept-Encoding"), "{r:?}");
        assert_eq!(
            r.header("content-type"),
            Some("text/javascript; charset=utf-8")
        );
    }
    // No .gz beside it: nothing varies.
    let r = get(&s, "/static/site.css", "Accept-Encoding: gzip\r\n");
    assert_eq!(r.text(), CSS);
    assert!(r.header("vary").is_none() && r.header("content-encoding").is_none());
    // Without a gzip option the .gz is never looked for.
    let (plain, _) = server(&[]);
    let r = get(&plain, "/static/app.js", "Accept-Encoding: gzip\r\n");
    assert_eq!(r.text(), "plain js");
    assert!(r.header("vary").is_none());
    // static-gzip-ext: only files with that suffix.
    let (by_ext, _) = server(&["--static-gzip-ext", ".css"]);
    let r = get(&by_ext, "/static/app.js", "Accept-Encoding: gzip\r\n");
    assert_eq!(r.text(), "plain js");
}

#[test]
fn files_are_served_while_every_python_thread_is_busy() {
    let (s, _) = server(&["--processes", "1", "--threads", "1"]);
    // A keep-alive connection opened before the app is busy.
    let mut kept = connect(s.port);
    kept.write_all(b"GET /static/site.css HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut kept).text(), CSS);
    let port = s.port;
    let slow = std::thread::spawn(move || {
        request(
            port,
            "GET /hold?slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
    });
    wait_until("the app to be busy", PATIENCE, || held(s.dir.path()) == 1);
    // The only Python thread is held: files still come, on the kept
    // connection and on new ones.
    kept.write_all(b"GET /static/logo.png HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut kept).status, 200);
    for _ in 0..3 {
        assert_eq!(s.get("/static/site.css").text(), CSS);
    }
    assert!(!slow.is_finished(), "the held request ended early");
    release(s.dir.path());
    assert_eq!(slow.join().unwrap().text(), "app /hold");
    assert_eq!(s.get("/other").text(), "app /other");
}

#[test]
fn over_the_uwsgi_protocol_the_answer_is_http() {
    let (dir, _) = tree();
    let uwsgi = Listener::tcp();
    // Kept until the test ends: dropping it kills rsgi.
    let _server = Launch::new(dir)
        .args(&[
            "--wsgi-file",
            "{dir}/app.py",
            "--static-map",
            "/static={dir}/static",
        ])
        .socket("--socket", &uwsgi)
        .start();
    let ask = |vars: &[(&str, &str)]| {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", uwsgi.port())).unwrap();
        c.set_read_timeout(Some(PATIENCE)).unwrap();
        c.write_all(&rsgi_core::protocol::uwsgi::encode(vars))
            .unwrap();
        let mut out = Vec::new();
        c.read_to_end(&mut out).unwrap();
        assert!(
            out.starts_with(b"HTTP/1.1 "),
            "{:?}",
            String::from_utf8_lossy(&out)
        );
        parse_response(&out).unwrap()
    };
    let base = [
        ("REQUEST_METHOD", "GET"),
        ("REQUEST_URI", "/static/site.css"),
        ("PATH_INFO", "/static/site.css"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
    ];
    let r = ask(&base);
    assert_eq!((r.status, r.text().as_str()), (200, CSS));
    assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"));
    let etag = r.header("etag").unwrap().to_string();
    let with = |extra: (&'static str, &str)| {
        let mut v: Vec<(&str, &str)> = base.to_vec();
        v.push(extra);
        ask(&v)
    };
    let r = with(("HTTP_RANGE", "bytes=0-3"));
    assert_eq!((r.status, r.text().as_str()), (206, "body"));
    let r = with(("HTTP_IF_NONE_MATCH", &etag));
    assert_eq!((r.status, r.body.len()), (304, 0));
    let r = ask(&[("REQUEST_METHOD", "GET"), ("PATH_INFO", "/static/out")]);
    assert_eq!(r.text(), "app /static/out");
}

#[test]
fn a_file_that_shrinks_mid_response_cuts_only_that_response() {
    let (s, dir) = server(&[]);
    let big = dir.join("big.bin");
    let size = 32 << 20;
    std::fs::write(&big, vec![b'x'; size]).unwrap();
    let mut c = connect(s.port);
    c.write_all(b"GET /static/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut got = vec![0u8; 64 * 1024];
    let mut read = 0;
    while read < got.len() {
        let n = c.read(&mut got[read..]).unwrap();
        assert!(n > 0, "closed early");
        read += n;
    }
    assert!(String::from_utf8_lossy(&got).contains(&format!("Content-Length: {size}")));
    // Shrink it while most of it is still to be sent.
    std::fs::File::options()
        .write(true)
        .open(&big)
        .unwrap()
        .set_len(0)
        .unwrap();
    let mut rest = Vec::new();
    let _ = c.read_to_end(&mut rest);
    assert!(read + rest.len() < size, "the whole file arrived");
    s.wait_for_log("shrank while it was sent", PATIENCE);
    // The worker serves on.
    assert_eq!(s.get("/static/site.css").text(), CSS);
    assert_eq!(s.get("/x").text(), "app /x");
}

#[test]
fn an_unreadable_file_is_a_clean_403_on_a_kept_connection() {
    // Root reads any file: as root, the whole server runs as nobody.
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let (s, dir) = server(if root { &["--uid", "nobody"] } else { &[] });
    let locked = dir.join("locked.css");
    std::fs::write(&locked, "x").unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    let mut c = connect(s.port);
    c.write_all(b"GET /static/locked.css HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let r = read_response(&mut c);
    assert_eq!((r.status, r.text().as_str()), (403, "Forbidden\n"));
    c.write_all(b"GET /static/site.css HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut c).text(), CSS);
    // A FIFO is no regular file: never opened, the app answers.
    nix::unistd::mkfifo(&dir.join("pipe.css"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    assert_eq!(s.get("/static/pipe.css").text(), "app /static/pipe.css");
}

#[test]
fn check_static_static_map2_and_a_mapped_file() {
    let (dir, _) = tree();
    std::fs::create_dir_all(dir.path().join("root2/assets")).unwrap();
    std::fs::write(dir.path().join("root2/assets/a.txt"), "from map2").unwrap();
    std::fs::write(dir.path().join("favicon.ico"), "icon").unwrap();
    dir.write("mime.types", "# ours\nimage/x-test-icon\tico\n");
    let s = Server::start_in(
        dir,
        &[
            "--wsgi-file",
            "{dir}/app.py",
            // check-static: the whole path under DIR, before the app.
            "--check-static",
            "{dir}/static",
            // static-map2: the whole path (/assets/a.txt) under DIR.
            "--static-map2",
            "/assets={dir}/root2",
            // A file mapped to one URL.
            "--static-map",
            "/favicon.ico={dir}/favicon.ico",
            "--mimefile",
            "{dir}/mime.types",
        ],
    );
    let cases: &[(&str, &str)] = &[
        ("/site.css", CSS),
        ("/assets/a.txt", "from map2"),
        ("/favicon.ico", "icon"),
        ("/favicon.ico/x", "app /favicon.ico/x"),
        ("/.env", "app /.env"),
        ("/out", "app /out"),
        ("/nothing", "app /nothing"),
    ];
    for (path, body) in cases {
        assert_eq!(s.get(path).text(), *body, "{path}");
    }
    // The mimefile's type, over the built-in one; the built-in table
    // still knows CSS.
    assert_eq!(
        s.get("/favicon.ico").header("content-type"),
        Some("image/x-test-icon")
    );
    assert_eq!(
        s.get("/site.css").header("content-type"),
        Some("text/css; charset=utf-8")
    );
}

#[test]
fn add_header_and_del_header_reach_static_answers_too() {
    let (s, _) = server(&[
        "--add-header",
        "X-Frame-Options: DENY",
        "--del-header",
        "Server",
    ]);
    let r = s.get("/static/site.css");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("X-Frame-Options"), Some("DENY"), "{r:?}");
    assert_eq!(r.header("Server"), None, "{r:?}");
    let not_modified = get(
        &s,
        "/static/site.css",
        &format!(
            "If-None-Match: {}\r\n",
            s.get("/static/site.css").header("ETag").unwrap()
        ),
    );
    assert_eq!(not_modified.status, 304);
    assert_eq!(not_modified.header("X-Frame-Options"), Some("DENY"));
}
