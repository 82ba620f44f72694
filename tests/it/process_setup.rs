//! What an operator sees of rsgi's processes from outside: `umask` and
//! `chown-socket` on the files the master creates (checked on disk), and
//! the names `ps` shows with `auto-procname` and the `procname*` options
//! (read from /proc/PID/cmdline, which is what `ps` prints).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;

use crate::common::*;

const APP: &str = r#"
import os
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [os.environ.get('RSGI_TEST_MARK', 'unset').encode()]
"#;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `id FLAG [USER]`, one line of output.
fn id(args: &[&str]) -> String {
    let out = run(std::process::Command::new("id").args(args), b"", PATIENCE);
    assert!(out.status.success(), "id {args:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Start with the test's own umask out of the way (0), so what the files
/// get is the option's doing.
fn launch_umask0(dir: TempDir, args: &[&str]) -> Launch {
    Launch::new(dir).args(args).configure(|cmd| {
        // SAFETY: umask between fork and exec, async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::umask(0);
                Ok(())
            });
        }
    })
}

/// The `Umask:` line of /proc/PID/status.
fn umask_of(pid: i32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .map(|u| u.trim().to_string())
        .unwrap_or_default()
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn umask_applies_to_the_socket_the_pidfile_and_every_process() {
    let dir = TempDir::new("umask");
    dir.write("app.py", APP);
    let s = launch_umask0(
        dir,
        &[
            "--wsgi-file",
            "{dir}/app.py",
            "--socket",
            "{dir}/app.sock",
            "--pidfile",
            "{dir}/app.pid",
            "--logto",
            "{dir}/app.log",
            "--umask",
            "0o027",
            "--processes",
            "2",
        ],
    )
    .start();
    let d = s.dir.path();
    // bind(2) creates a socket file 0777 & ~umask; files are 0666 & ~umask.
    assert_eq!(mode(&d.join("app.sock")), 0o750, "socket");
    assert_eq!(mode(&d.join("app.pid")), 0o640, "pidfile");
    assert_eq!(mode(&d.join("app.log")), 0o640, "logto");
    // Not a zombie: the zygote's middle child of a double fork, exiting.
    let all: Vec<i32> = descendants(s.pid())
        .into_iter()
        .filter(|&p| !is_gone(p))
        .collect();
    assert!(all.len() >= 3, "master's descendants: {all:?}");
    for pid in all.into_iter().chain([s.pid()]) {
        assert_eq!(umask_of(pid), "0027", "pid {pid}");
    }
}

#[test]
fn chown_socket_gives_the_socket_to_that_user_before_privileges_drop() {
    // As root: to nobody, by name, and the workers then run as nobody.
    // Otherwise: to the user's own uid and gid, which needs no privilege.
    let (owner, uid, gid, extra): (String, u32, u32, &[&str]) = if is_root() {
        let group = id(&["-gn", "nobody"]);
        (
            format!("nobody:{group}"),
            id(&["-u", "nobody"]).parse().expect("uid"),
            id(&["-g", "nobody"]).parse().expect("gid"),
            &["--uid", "nobody"],
        )
    } else {
        (
            format!("{}:{}", id(&["-un"]), id(&["-gn"])),
            id(&["-u"]).parse().expect("uid"),
            id(&["-g"]).parse().expect("gid"),
            &[],
        )
    };
    let dir = TempDir::new("chown-socket");
    dir.write("app.py", APP);
    // nobody must be able to read the app once privileges drop.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut args = vec![
        "--wsgi-file",
        "{dir}/app.py",
        "--http-socket",
        "{dir}/app.sock",
        "--chown-socket",
        &owner,
    ];
    args.extend_from_slice(extra);
    let s = Launch::new(dir).args(&args).start();
    let sock = s.dir.path().join("app.sock");
    let meta = std::fs::metadata(&sock).expect("socket");
    assert_eq!((meta.uid(), meta.gid()), (uid, gid), "{owner}");
    assert_eq!(ok_body(&sock).as_deref(), Some("unset"));
}

#[test]
fn chown_socket_takes_numeric_ids_and_refuses_an_unknown_user() {
    let uid = id(&["-u"]);
    let dir = TempDir::new("chown-socket-id");
    dir.write("app.py", APP);
    let s = Launch::new(dir)
        .args(&[
            "--wsgi-file",
            "{dir}/app.py",
            "--socket",
            "{dir}/app.sock",
            "--chown-socket",
            &uid,
        ])
        .start();
    let meta = std::fs::metadata(s.dir.path().join("app.sock")).expect("socket");
    assert_eq!(meta.uid().to_string(), uid);
    drop(s);

    let dir = TempDir::new("chown-socket-bad");
    dir.write("app.py", APP);
    let mut s = Server::spawn(
        dir,
        &[
            "--wsgi-file",
            "{dir}/app.py",
            "--socket",
            "{dir}/app.sock",
            "--chown-socket",
            "no-such-user-rsgi",
        ],
        false,
    );
    assert_eq!(s.wait_exit(PATIENCE), Some(1), "{}", s.log_text());
    let log = s.log_text();
    assert!(
        log.contains("chown-socket = no-such-user-rsgi") && log.contains("no such user"),
        "{log}"
    );
}

/// What `ps` shows for `pid`: its command line up to the first NUL.
fn title(pid: i32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let first = raw.split(|&b| b == 0).next().unwrap_or_default();
    String::from_utf8_lossy(first).trim_end().to_string()
}

/// The titles of the master's descendants, sorted. A zombie (the
/// zygote's short-lived middle child of a double fork, exiting) has no
/// command line and is not counted.
fn descendant_titles(master: i32) -> Vec<String> {
    let mut titles: Vec<String> = descendants(master)
        .into_iter()
        .filter(|&p| !is_gone(p))
        .map(title)
        .collect();
    titles.sort();
    titles
}

#[test]
fn auto_procname_names_processes_as_uwsgi_does() {
    let dir = TempDir::new("procname");
    dir.write("app.py", APP);
    let s = Server::start_in(
        dir,
        &[
            "--wsgi-file",
            "{dir}/app.py",
            "--processes",
            "2",
            "--auto-procname",
            "--procname-prefix-spaced",
            "shop",
            "--procname-append",
            " [prod]",
        ],
    );
    assert_eq!(title(s.pid()), "shop uWSGI master [prod]");
    assert_eq!(
        descendant_titles(s.pid()),
        [
            "shop uWSGI worker 1 [prod]",
            "shop uWSGI worker 2 [prod]",
            "shop uWSGI zygote [prod]",
        ]
    );
}

#[test]
fn without_procname_options_rsgi_keeps_its_own_names() {
    let dir = TempDir::new("procname-off");
    dir.write("app.py", APP);
    let s = Server::start_in(dir, &["--wsgi-file", "{dir}/app.py"]);
    assert!(
        title(s.pid()).ends_with("rsgi"),
        "the master keeps its command line: {}",
        title(s.pid())
    );
    assert_eq!(descendant_titles(s.pid()), ["rsgi worker 1", "rsgi zygote"]);
}

/// `procname-master` longer than the master's whole command line
/// (`rsgi app.ini`) still shows whole: the environment's space is used,
/// and the environment the app sees is intact.
#[test]
fn a_long_master_name_fits_a_short_command_line() {
    let dir = TempDir::new("procname-long");
    dir.write("app.py", APP);
    let d = dir.path().to_path_buf();
    let http = Listener::tcp();
    let port = http.port();
    let mut launch = Launch::new(dir).no_http();
    let fd = launch.inherit(&http);
    let master_name = "billing-api master process, production, eu-west-1, blue";
    std::fs::write(
        d.join("app.ini"),
        format!(
            "[uwsgi]\nhttp-socket = {fd}\nwsgi-file = app.py\n\
             procname-master = {master_name}\nprocname = billing-api\n"
        ),
    )
    .expect("ini");
    let s = launch
        .args(&["app.ini"])
        .env("RSGI_TEST_MARK", "environment intact")
        .configure(move |cmd| {
            cmd.current_dir(&d);
        })
        .start();
    let argv_len = rsgi_binary().as_os_str().len() + 1 + "app.ini".len() + 1;
    assert!(master_name.len() > argv_len);
    assert_eq!(title(s.pid()), master_name);
    assert_eq!(descendant_titles(s.pid()), ["billing-api", "billing-api"]);
    assert_eq!(
        ok_body(port).as_deref(),
        Some("environment intact"),
        "the app's environment"
    );
}

/// The Emperor is "uWSGI Emperor" with auto-procname.
#[test]
fn the_emperor_is_named_too() {
    let dir = TempDir::new("procname-emperor");
    let vassals = dir.path().join("vassals");
    std::fs::create_dir_all(&vassals).expect("vassal dir");
    let stats = Listener::tcp();
    let vd = vassals.to_string_lossy().into_owned();
    let s = Launch::new(dir)
        .args(&["--emperor", &vd, "--auto-procname"])
        .socket("--emperor-stats", &stats)
        .no_http()
        .spawn();
    // The Emperor names itself before it serves its stats.
    stats_from(stats.port());
    assert_eq!(title(s.pid()), "uWSGI Emperor");
}
