//! uWSGI's config rules through the real binary: unknown keys kept and
//! warned about (errors under `strict`, all in one run), the three kinds
//! of options, `UWSGI_<alias>` variables, repeated YAML keys, blocks and
//! magic variables, and the startup lines that say what was loaded.

use std::process::Command;

use crate::common::*;

fn rsgi_output(cmd: &mut Command) -> (i32, String, String) {
    let out = run(cmd, b"", PATIENCE);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const APP: &str = "def application(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [b'ok']\n";

/// An unknown key in a file is kept, warned about at startup with its
/// file:line and the closest name, and the server serves.
#[test]
fn unknown_keys_warn_at_startup_and_the_server_serves() {
    let dir = TempDir::new("custom");
    dir.write("app.py", APP);
    let ini = dir.write(
        "app.ini",
        "[uwsgi]\nwsgi-file = %dapp.py\nprocess = 2\nguid = www-data\n",
    );
    let ini_path = ini.display().to_string();
    let s = Server::start_in(dir, &["--ini", &ini_path]);
    assert_eq!(s.get("/").status, 200);
    let log = s.log_text();
    for want in [
        format!(
            "{ini_path}:3: unknown option 'process' kept as a custom option (did you mean 'processes'?)"
        ),
        format!(
            "{ini_path}:4: unknown option 'guid' kept as a custom option (did you mean 'uid'?)"
        ),
    ] {
        assert!(log.contains(&want), "want {want:?} in:\n{log}");
    }
    assert_eq!(
        log.matches("unknown option 'process'").count(),
        1,
        "once per key:\n{log}"
    );
}

/// `strict = true` (NetBox's, Zulip's and Nautobot's configs set it):
/// every unknown key is an error, all of them in one run, exit 1.
#[test]
fn strict_lists_every_unknown_key_in_one_run() {
    let dir = TempDir::new("strict");
    let ini = dir.write(
        "app.ini",
        "[uwsgi]\nstrict = true\nprocesess = 2\nmaster = true\nthreds = 4\nhttp-socket = :0\nenabel-threads = true\n",
    );
    let (code, out, err) = rsgi_output(rsgi().args(["--check-config", &ini.to_string_lossy()]));
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty());
    let p = ini.display();
    assert_eq!(
        err,
        format!(
            "rsgi: {p}:3: unknown option 'procesess' (did you mean 'processes'?)\nrsgi: {p}:5: unknown option 'threds' (did you mean 'threads'?)\nrsgi: {p}:7: unknown option 'enabel-threads' (did you mean 'enable-threads'?)\n"
        )
    );
}

/// `--check-config` shows each option's kind: implemented values as they
/// are, no-effect options with their reason, custom options marked, and
/// the warnings; options rsgi does not support are all listed at once.
#[test]
fn check_config_shows_kinds_reasons_and_custom_options() {
    let dir = TempDir::new("kinds");
    let ini = dir.write(
        "app.ini",
        "[uwsgi]\nplugins = python3\nprocesses = 2\nthunder-lock = true\nsingle-interpreter = true\napp-color = blue\n",
    );
    let (code, out, err) = rsgi_output(rsgi().args(["--check-config", &ini.to_string_lossy()]));
    assert_eq!(code, 0, "{err}");
    let p = ini.display();
    for want in [
        format!("processes = 2  # {p}:3\n"),
        format!(
            "thunder-lock = true  # {p}:4; no effect: rsgi's workers share no accept lock; each accepts only while it has a free Python thread\n"
        ),
        format!(
            "plugins = python3  # {p}:2; no effect: the Python interpreter is built into rsgi\n"
        ),
        format!("app-color = blue  # {p}:6; custom option\n"),
        format!("# warning: {p}:6: unknown option 'app-color' kept as a custom option\n"),
    ] {
        assert!(out.contains(&want), "want {want:?} in:\n{out}");
    }
    let bad = dir.write(
        "bad.ini",
        "[uwsgi]\nplugins = php\nroute = ^/old redirect:/new\nfastrouter = :3017\ncache2 = name=x,items=10\n",
    );
    let (code, _, err) = rsgi_output(rsgi().args(["--check-config", &bad.to_string_lossy()]));
    assert_eq!(code, 1);
    let b = bad.display();
    assert_eq!(err.lines().count(), 4, "{err}");
    for want in [
        format!(
            "rsgi: {b}:2: plugins: 'php' is not a Python plugin; rsgi serves Python WSGI apps only"
        ),
        format!(
            "rsgi: {b}:3: 'route' is not supported: uWSGI's internal routing is not in rsgi; route in nginx or in the app"
        ),
        format!(
            "rsgi: {b}:4: 'fastrouter' is not supported: uWSGI's router processes are not in rsgi"
        ),
        format!("rsgi: {b}:5: 'cache2' is not supported: uWSGI's cache is not in rsgi"),
    ] {
        assert!(err.contains(&want), "want {want:?} in:\n{err}");
    }
}

/// `UWSGI_<any alias>` sets the option (Sentry's and Wagtail's images set
/// UWSGI_WORKERS and UWSGI_VIRTUALENV); other UWSGI_ variables are custom
/// options.
#[test]
fn uwsgi_env_variables_by_every_name() {
    let (code, out, err) = rsgi_output(
        rsgi()
            .args(["--check-config"])
            .env("UWSGI_WORKERS", "3")
            .env("UWSGI_VIRTUALENV", "/venv")
            .env("UWSGI_PYTHON_PATH", "/srv/lib")
            .env("UWSGI_HTTP_KEEPALIVE", "1")
            .env("UWSGI_MASTER", "1")
            .env("UWSGI_SOME_APP_SETTING", "x"),
    );
    assert_eq!(code, 0, "{err}");
    for want in [
        "processes = 3  # env UWSGI_WORKERS\n",
        "home = /venv  # env UWSGI_VIRTUALENV\n",
        "pythonpath = /srv/lib  # env UWSGI_PYTHON_PATH\n",
        "http-keepalive = 15  # env UWSGI_HTTP_KEEPALIVE\n",
        "some-app-setting = x  # env UWSGI_SOME_APP_SETTING; custom option\n",
    ] {
        assert!(out.contains(want), "want {want:?} in:\n{out}");
    }
}

/// A key repeated in the `uwsgi:` mapping is a list, each value with its
/// line; an error points at its line.
#[test]
fn yaml_repeated_keys_are_lists() {
    let dir = TempDir::new("yaml");
    let yaml = dir.write(
        "app.yml",
        "# Galaxy-style sample\nuwsgi:\n  touch-reload: /srv/a\n  master: false\n\n  touch-reload: /srv/b\n  processes: 2\n",
    );
    let (code, out, err) =
        rsgi_output(rsgi().args(["--check-config", "--yaml", &yaml.to_string_lossy()]));
    assert_eq!(code, 0, "{err}");
    let y = yaml.display();
    assert!(
        out.contains(&format!(
            "touch-reload = /srv/a  # {y}:3\ntouch-reload = /srv/b  # {y}:6\n"
        )),
        "{out}"
    );
    let bad = dir.write("bad.yml", "uwsgi:\n  processes: 2\n  threads: many\n");
    let (code, _, err) =
        rsgi_output(rsgi().args(["--check-config", "--yaml", &bad.to_string_lossy()]));
    assert_eq!(code, 1);
    assert_eq!(
        err.trim(),
        format!(
            "rsgi: {}:3: threads: expected a number, got \"many\"",
            bad.display()
        )
    );
}

/// KoboToolbox's config: if-env / if-not-env blocks with %(_),
/// arithmetic, @(file), and Kiwi TCMS's if-file include.
#[test]
fn blocks_arithmetic_and_file_contents() {
    let dir = TempDir::new("blocks");
    let somaxconn = dir.write("somaxconn", "4096\n");
    dir.write("override.ini", "[uwsgi]\nthreads = 3\n");
    let ini = dir.write(
        "app.ini",
        &format!(
            "[uwsgi]\nif-env = RSGI_TEST_WORKERS\nworkers = %(_)\nendif =\nif-not-env = RSGI_TEST_WORKERS\nworkers = 2\nendif =\nlimit-post = %(2 * 1024 * 1024)\nlisten = @({})\nif-file = %doverride.ini\nini = %(_)\nendif =\nif-file = %dmissing.ini\nini = %(_)\nendif =\n",
            somaxconn.display()
        ),
    );
    let (code, out, err) = rsgi_output(
        rsgi()
            .args(["--check-config", &ini.to_string_lossy()])
            .env("RSGI_TEST_WORKERS", "5"),
    );
    assert_eq!(code, 0, "{err}");
    for want in [
        "processes = 5  #",
        "limit-post = 2097152  #",
        "listen = 4096  #",
        "threads = 3  #",
    ] {
        assert!(out.contains(want), "want {want:?} in:\n{out}");
    }
    let (_, out, _) = rsgi_output(rsgi().args(["--check-config", &ini.to_string_lossy()]));
    assert!(out.contains("processes = 2  #"), "{out}");
}

/// The startup lines say the version, the config files read, the
/// interpreter and virtualenv, the sockets, workers × threads and the
/// stats address; each option with no effect is named once with its
/// reason. They go where `logto` sends the log, and a reload (SIGHUP)
/// does not repeat them.
#[test]
fn startup_lines_say_what_was_loaded() {
    let dir = TempDir::new("startup");
    dir.write("app.py", APP);
    // Sockets rsgi binds itself, in this test's own directory.
    let (http, stats) = (dir.path().join("http.sock"), dir.path().join("stats.sock"));
    let logto = dir.path().join("app.log");
    let ini = dir.write(
        "app.ini",
        &format!(
            "[uwsgi]\nwsgi-file = %dapp.py\nprocesses = 2\nthreads = 3\nstats = {}\nthunder-lock = true\nsingle-interpreter = true\nlogto = {}\nhttp-socket = {}\n",
            stats.display(),
            logto.display(),
            http.display()
        ),
    );
    let ini_path = ini.display().to_string();
    let s = Launch::new(dir)
        .args(&["--ini", &ini_path])
        .no_http()
        .start();
    let log = || std::fs::read_to_string(&logto).unwrap_or_default();
    let once = [
        format!("rsgi {} starting", env!("CARGO_PKG_VERSION")),
        "config file read".to_string(),
        "2 workers × 3 threads".to_string(),
        format!("stats server address={}", stats.display()),
        format!("{ini_path}:6: 'thunder-lock' has no effect: rsgi's workers share no accept lock"),
        format!(
            "{ini_path}:7: 'single-interpreter' has no effect: each rsgi worker runs one interpreter"
        ),
    ];
    let text = log();
    for want in once.iter().cloned().chain([
        ini_path.clone(),
        format!("listening address={}", http.display()),
        "interpreter ready python=3.".to_string(),
        "the app runs in ".to_string(),
    ]) {
        assert!(text.contains(&want), "want {want:?} in:\n{text}");
    }
    s.reloaded(|| s.signal(libc::SIGHUP));
    let text = log();
    for want in &once {
        assert_eq!(
            text.matches(want.as_str()).count(),
            1,
            "{want:?} in:\n{text}"
        );
    }
}
