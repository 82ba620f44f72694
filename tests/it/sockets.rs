//! Sockets given by path or by descriptor: rsgi replaces only a stale
//! socket at a unix path, and never closes a descriptor it was wrongly
//! handed.
use crate::common::*;

const APP: &str = "def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n";

fn start_failing(args: &[&str]) -> (Option<i32>, String) {
    let dir = TempDir::new("sockets");
    dir.write("app.py", APP);
    let mut all = vec!["--wsgi-file", "{dir}/app.py"];
    all.extend_from_slice(args);
    let mut s = Server::spawn(dir, &all, false);
    let code = s.wait_exit(PATIENCE);
    (code, s.log_text())
}

#[test]
fn a_file_at_the_unix_socket_path_stays_and_the_error_names_it() {
    let dir = TempDir::new("notasocket");
    let path = dir.write("app.sock", "not a socket: a file someone needs");
    let (code, log) = start_failing(&["--socket", path.to_str().expect("utf-8")]);
    assert_eq!(code, Some(30), "{log}");
    assert!(
        log.contains(&format!("{} exists and is not a socket", path.display())),
        "{log}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).expect("the file is still there"),
        "not a socket: a file someone needs"
    );
}

#[test]
fn a_descriptor_that_is_not_a_listening_socket_is_refused_and_left_open() {
    // fd 2 is the log file here: had rsgi taken and closed it, the error
    // would never reach the log.
    let (code, log) = start_failing(&["--socket", "=2"]);
    assert_eq!(code, Some(30), "{log}");
    assert!(log.contains("file descriptor 2 is not a socket"), "{log}");
}
