//! Errors found after the config was read still name the line that set
//! the value, and a reload says which of its changes wait for a restart.

use crate::common::*;

const APP: &str = "def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n";

/// rsgi started with only `app.ini` (written into its directory), until
/// it exits; its status and log.
fn run_ini(ini: &str) -> (Option<i32>, String, String) {
    let dir = TempDir::new("origins");
    dir.write("app.py", APP);
    let ini_path = dir.write(
        "app.ini",
        &ini.replace("{dir}", &dir.path().to_string_lossy()),
    );
    let ini_path = ini_path.to_string_lossy().into_owned();
    let mut s = Server::spawn(dir, &["--ini", &ini_path], false);
    let code = s.wait_exit(PATIENCE);
    (code, s.log_text(), ini_path)
}

#[test]
fn a_socket_that_cannot_be_bound_names_its_line() {
    let taken = Listener::tcp();
    let (code, log, ini) = run_ini(&format!(
        "[uwsgi]\nwsgi-file = {{dir}}/app.py\n\nhttp-socket = 127.0.0.1:{}\n",
        taken.port()
    ));
    assert_eq!(code, Some(30), "{log}");
    assert!(log.contains(&format!("(http-socket at {ini}:4)")), "{log}");
}

#[test]
fn a_log_file_that_cannot_be_opened_names_its_line() {
    let (code, log, ini) = run_ini(
        "[uwsgi]\nwsgi-file = {dir}/app.py\nhttp-socket = 127.0.0.1:0\nlogto = {dir}/no/such/dir/app.log\n",
    );
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains(&format!("(logto at {ini}:4)")), "{log}");
}

#[test]
fn a_virtualenv_without_python_names_its_line() {
    let (code, log, ini) = run_ini(
        "[uwsgi]\nwsgi-file = {dir}/app.py\nhttp-socket = 127.0.0.1:0\nvirtualenv = {dir}\n",
    );
    assert_eq!(code, Some(22), "{log}");
    assert!(log.contains(&format!("(home at {ini}:4)")), "{log}");
}

#[test]
fn the_zygote_names_the_line_of_a_chdir_or_an_app_it_cannot_load() {
    let (code, log, ini) = run_ini(
        "[uwsgi]\nhttp-socket = 127.0.0.1:0\nchdir = {dir}/no/such/dir\nwsgi-file = {dir}/app.py\n",
    );
    assert_eq!(code, Some(22), "{log}");
    assert!(log.contains(&format!("(chdir at {ini}:3)")), "{log}");

    let (code, log, ini) =
        run_ini("[uwsgi]\nhttp-socket = 127.0.0.1:0\n\nwsgi-file = {dir}/missing.py\n");
    assert_eq!(code, Some(22), "{log}");
    assert!(log.contains(&format!("(wsgi-file at {ini}:4)")), "{log}");
}

#[test]
fn a_reload_names_the_changes_that_wait_for_a_restart() {
    let dir = TempDir::new("origins-reload");
    dir.write("app.py", APP);
    let d = dir.path().to_string_lossy().into_owned();
    let ini = dir.write(
        "app.ini",
        &format!("[uwsgi]\nwsgi-file = {d}/app.py\nprocesses = 1\n"),
    );
    let ini_text = ini.to_string_lossy().into_owned();
    let s = Launch::new(dir).args(&["--ini", &ini_text]).start();
    std::fs::write(
        &ini,
        format!(
            "[uwsgi]\nwsgi-file = {d}/app.py\nprocesses = 2\nmaster-fifo = {d}/fifo\npidfile = {d}/app.pid\n"
        ),
    )
    .expect("rewrite the ini");
    s.reloaded(|| s.signal(libc::SIGHUP));
    let log = s.log_text();
    assert!(
        log.contains(&format!(
            "master-fifo (master-fifo at {ini_text}:4) changed"
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!("pidfile (pidfile at {ini_text}:5) changed")),
        "{log}"
    );
    // processes applies on reload: not named.
    assert!(!log.contains("processes (processes"), "{log}");
    assert!(!s.dir.path().join("app.pid").exists());
}
