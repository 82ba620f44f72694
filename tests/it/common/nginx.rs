//! Real nginx in front of rsgi, as the README's recipes run it: the
//! tests give the `server`/`upstream` blocks, this writes the rest of
//! the configuration into the test's directory (so nothing outside it is
//! touched) and starts nginx in the foreground under a [`Guard`].

use std::path::Path;
use std::process::{Command, Stdio};

use super::{Guard, PATIENCE, TempDir, wait_until};

/// nginx's stock uwsgi_params, so the test needs nothing in /etc.
pub const UWSGI_PARAMS: &str = "
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
";

/// Whether nginx is installed. CI installs it (`.ci/run`), so there a
/// missing nginx fails the test; a developer machine may skip.
pub fn nginx_available() -> bool {
    let found = Command::new("nginx")
        .arg("-v")
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "nginx is not installed but CI must run this test"
        );
        eprintln!("skipping: nginx is not installed (apt-get install nginx)");
    }
    found
}

/// nginx with `http_blocks` inside its `http {}` block, running until the
/// guard drops. Returns once every unix socket in `listening_on` accepts
/// connections (nginx binds its own listeners; unix sockets in the test's
/// directory cannot be taken by anyone else meanwhile).
pub fn start_nginx(dir: &TempDir, http_blocks: &str, listening_on: &[&Path]) -> Guard {
    let d = dir.path().display();
    // nginx's workers drop to `nobody` when started as root, and could then
    // not reach a unix socket rsgi made in the test's directory: keep them
    // the test's user (as a deployment gives rsgi's socket to nginx's user
    // with chown-socket).
    // SAFETY: geteuid has no preconditions and cannot fail.
    let user = if unsafe { libc::geteuid() } == 0 {
        "user root;\n"
    } else {
        ""
    };
    let conf = dir.write(
        "nginx.conf",
        &format!(
            "{user}worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
{http_blocks}
}}
"
        ),
    );
    let nginx = Guard::spawn(
        Command::new("nginx")
            .args([
                "-c",
                &conf.to_string_lossy(),
                "-p",
                &dir.path().to_string_lossy(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
        &[],
    )
    .expect("start nginx");
    wait_until("nginx to listen", PATIENCE, || {
        listening_on
            .iter()
            .all(|p| std::os::unix::net::UnixStream::connect(p).is_ok())
    });
    nginx
}

/// nginx's error log, for an assertion's message.
pub fn nginx_errors(dir: &TempDir) -> String {
    std::fs::read_to_string(dir.path().join("nginx-error.log")).unwrap_or_default()
}
