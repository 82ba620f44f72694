//! The Django project and the Flask app of `config-examples/`, each with
//! its rsgi.ini as shipped, behind a real nginx with the snippet of
//! `config-examples/nginx/` as shipped (`uwsgi_pass` for Django,
//! `proxy_pass` for Flask). Only the addresses change: rsgi gets the
//! sockets the test bound, nginx listens in the test's directory.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::*;

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config-examples");

/// What these tests need beyond Rust; missing, the test fails saying
/// how to get it (`.ci/run` installs all of it).
fn require(what: &str, check: &mut Command, install: &str) {
    let found = check
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(found, "{what} is not installed: {install}");
}

fn require_all(python_module: &str) {
    require(
        "nginx",
        Command::new("nginx").arg("-v"),
        "apt-get install nginx",
    );
    require(
        python_module,
        Command::new("python3").args(["-c", &format!("import {python_module}")]),
        &format!("python3 -m pip install {python_module}"),
    );
}

/// Copy an example directory into the test's, recursively.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read example dir").flatten() {
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if src.is_dir() {
            if entry.file_name() != "__pycache__" {
                copy_tree(&src, &dst);
            }
        } else {
            std::fs::copy(&src, &dst).expect("copy example file");
        }
    }
}

/// `config-examples/NAME` in the test's directory, with the rsgi.ini's
/// address `shipped` replaced by an `=FD` of `listener`; rsgi started on
/// that ini and ready.
fn start_example(name: &str, shipped: &str, listener: &Listener) -> Server {
    let dir = TempDir::new(&format!("example-{name}"));
    let here = dir.path().join(name);
    copy_tree(&Path::new(EXAMPLES).join(name), &here);
    let mut launch = Launch::new(dir).no_http();
    let address = launch.inherit(listener);
    let ini_path = here.join("rsgi.ini");
    let ini = std::fs::read_to_string(&ini_path).expect("rsgi.ini");
    assert!(
        ini.contains(shipped),
        "{name}/rsgi.ini no longer uses {shipped}"
    );
    std::fs::write(&ini_path, ini.replace(shipped, &address)).expect("write rsgi.ini");
    launch.args(&["--ini", &ini_path.to_string_lossy()]).start()
}

/// nginx running `config-examples/nginx/SNIPPET` with its `listen 80`
/// on a unix socket in `dir` and `shipped` (the upstream address) on
/// `port`. Returns the guard and the socket to send requests to.
fn start_snippet(
    dir: &TempDir,
    snippet: &str,
    shipped: &str,
    port: u16,
) -> (Guard, std::path::PathBuf) {
    let d = dir.path().display();
    let sock = dir.path().join("nginx.sock");
    dir.write("uwsgi_params", UWSGI_PARAMS);
    let server = std::fs::read_to_string(Path::new(EXAMPLES).join("nginx").join(snippet))
        .expect("nginx snippet");
    for needed in ["listen 80;", shipped] {
        assert!(
            server.contains(needed),
            "{snippet} no longer has {needed:?}"
        );
    }
    let server = server
        .replace("listen 80;", &format!("listen unix:{};", sock.display()))
        .replace(shipped, &format!("127.0.0.1:{port}"))
        .replace(
            "include uwsgi_params;",
            &format!("include {d}/uwsgi_params;"),
        );
    let nginx = start_nginx(dir, &server, &[&sock]);
    (nginx, sock)
}

fn get(to: &Path, path: &str, host: &str) -> Response {
    request(
        to,
        &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    )
}

fn json(r: &Response) -> serde_json::Value {
    serde_json::from_str(&r.text()).unwrap_or_else(|e| panic!("{e}: {}", r.text()))
}

/// The Django project behind nginx's `uwsgi_pass`: Django answers, its
/// post-fork hook ran in the worker that answers (not in the zygote that
/// imported it), its sqlite connection works, and `/static/` comes from
/// rsgi's static-map.
#[test]
fn django_example_behind_nginx_uwsgi_pass() {
    require_all("django");
    let listener = Listener::tcp();
    let s = start_example("django", "127.0.0.1:3031", &listener);
    let nginx_dir = TempDir::new("example-django-nginx");
    let (_nginx, via) = start_snippet(
        &nginx_dir,
        "uwsgi_pass.conf",
        "127.0.0.1:3031",
        listener.port(),
    );
    let workers = worker_pids(s.pid());
    for _ in 0..4 {
        let r = get(&via, "/", "localhost");
        assert_eq!(r.status, 200, "{}\n{}", r.text(), s.log_text());
        let status = json(&r);
        let pid = status["pid"].as_i64().unwrap_or(0) as i32;
        assert!(workers.contains(&pid), "{status} not from {workers:?}");
        assert_eq!(status["postfork_pid"], status["pid"], "{status}");
        assert!(
            status["sqlite"]
                .as_str()
                .is_some_and(|v| v.starts_with('3')),
            "{status}"
        );
        let worker = status["worker"].as_u64().unwrap_or(0);
        assert!(worker == 1 || worker == 2, "{status}");
    }
    let css = get(&via, "/static/site.css", "localhost");
    assert_eq!(css.status, 200, "{}", s.log_text());
    assert_eq!(
        css.text(),
        std::fs::read_to_string(Path::new(EXAMPLES).join("django/static/site.css")).unwrap()
    );
    assert!(
        css.header("content-type")
            .is_some_and(|t| t.starts_with("text/css")),
        "{:?}",
        css.header("content-type")
    );
    assert_eq!(get(&via, "/nope", "localhost").status, 404);
    // ALLOWED_HOSTS is Django's, through nginx's uwsgi_params.
    assert_eq!(get(&via, "/", "evil.test").status, 400);
}

/// The Flask app behind nginx's `proxy_pass`: each worker opened its own
/// sqlite connection after the fork (without it the app would fail), the
/// visits from both workers land in one database, and `/static/` comes
/// from rsgi's static-map (the app has no static route).
#[test]
fn flask_example_behind_nginx_proxy_pass() {
    require_all("flask");
    let listener = Listener::tcp();
    let s = start_example("flask", "127.0.0.1:9090", &listener);
    let nginx_dir = TempDir::new("example-flask-nginx");
    let (_nginx, via) = start_snippet(
        &nginx_dir,
        "proxy_pass.conf",
        "127.0.0.1:9090",
        listener.port(),
    );
    let workers = worker_pids(s.pid());
    let mut visits = Vec::new();
    for _ in 0..6 {
        let r = get(&via, "/", "example.com");
        assert_eq!(r.status, 200, "{}\n{}", r.text(), s.log_text());
        let index = json(&r);
        let pid = index["pid"].as_i64().unwrap_or(0) as i32;
        assert!(workers.contains(&pid), "{index} not from {workers:?}");
        visits.push(index["visits"].as_u64().unwrap_or(0));
    }
    assert_eq!(visits, [1, 2, 3, 4, 5, 6]);
    let css = get(&via, "/static/style.css", "example.com");
    assert_eq!(css.status, 200, "{}", s.log_text());
    assert_eq!(
        css.text(),
        std::fs::read_to_string(Path::new(EXAMPLES).join("flask/static/style.css")).unwrap()
    );
    assert!(
        css.header("content-type")
            .is_some_and(|t| t.starts_with("text/css")),
        "{:?}",
        css.header("content-type")
    );
    assert_eq!(get(&via, "/static/missing.css", "example.com").status, 404);
}
