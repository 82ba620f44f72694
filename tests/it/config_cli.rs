//! The config loader through the real binary: `--check-config`, the
//! formats agreeing, and every error class giving a sentence and exit 1.
//! (uWSGI compatibility: `config_compat.rs`; real configs: `config_corpus.rs`.)

use crate::common::*;

fn rsgi_run(args: &[&str]) -> (i32, String, String) {
    let out = run(
        rsgi().args(args).env_remove("UWSGI_PROCESSES"),
        b"",
        PATIENCE,
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The model without origins and without the "# loaded" lines.
fn model(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split("  # ").next().unwrap_or(l).to_string())
        .collect()
}

#[test]
fn the_three_example_formats_give_the_same_model() {
    let ex = concat!(env!("CARGO_MANIFEST_DIR"), "/config-examples/hello");
    let (c1, ini, _) = rsgi_run(&["--check-config", "--ini", &format!("{ex}.ini")]);
    let (c2, toml, _) = rsgi_run(&["--check-config", "--toml", &format!("{ex}.toml")]);
    let (c3, yaml, _) = rsgi_run(&["--check-config", "--yaml", &format!("{ex}.yaml")]);
    assert_eq!((c1, c2, c3), (0, 0, 0));
    assert!(ini.contains("processes = 2  # "), "{ini}");
    assert!(ini.contains("hello.ini:5"), "origins are shown: {ini}");
    assert_eq!(model(&ini), model(&toml));
    assert_eq!(model(&ini), model(&yaml));
    assert!(
        model(&ini)
            .iter()
            .any(|l| l.ends_with("/config-examples/hello.py")),
        "%d expanded: {ini}"
    );
}

#[test]
fn a_uwsgi_python_plugin_ini_loads_unchanged() {
    let dir = TempDir::new("uwsgi-ini");
    let ini = dir.write(
        "site.ini",
        "[uwsgi]\n\
         ; a typical uWSGI deployment file\n\
         project = mysite\n\
         base = /srv/%(project)\n\
         chdir = %(base)\n\
         module = %(project).wsgi:application\n\
         home = %(base)/venv\n\
         master = true\n\
         processes = 4\n\
         threads = 2\n\
         enable-threads = true\n\
         socket = /run/uwsgi/%(project).sock\n\
         chmod-socket = 664\n\
         vacuum = true\n\
         die-on-term = true\n\
         harakiri = 30\n\
         max-requests = 5000\n\
         max-requests-delta = 100\n\
         buffer-size = 32768\n\
         post-buffering = 64k\n\
         touch-reload = %dreload\n\
         env = DJANGO_SETTINGS_MODULE=%(project).settings\n\
         pidfile = /run/uwsgi/%n.pid\n\
         disable-logging = true\n\
         stats = 127.0.0.1:9191\n\
         lazy-apps = false\n\
         need-app = true\n",
    );
    let (code, out, err) = rsgi_run(&["--check-config", &ini.to_string_lossy()]);
    assert_eq!(code, 0, "{err}");
    for want in [
        "chdir = /srv/mysite",
        "module = mysite.wsgi:application",
        "socket = /run/uwsgi/mysite.sock",
        "chmod-socket = 664",
        "buffer-size = 32768",
        "post-buffering = 65536",
        "pidfile = /run/uwsgi/site.pid",
        "env = DJANGO_SETTINGS_MODULE=mysite.settings",
        "enable-threads = true",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
}

#[test]
fn env_vars_sit_under_files_and_the_command_line() {
    let out = run(
        rsgi()
            .args(["--check-config", "--threads", "3"])
            .env("UWSGI_PROCESSES", "4")
            .env("RSGI_THREADS", "9"),
        b"",
        PATIENCE,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("processes = 4  # env UWSGI_PROCESSES"),
        "{text}"
    );
    assert!(text.contains("threads = 3  # command line"), "{text}");
}

#[test]
fn every_error_class_is_a_sentence_and_exit_1() {
    let dir = TempDir::new("errors");
    let typo = dir.write("typo.ini", "[uwsgi]\nstrict = true\nprocesess = 4\n");
    let bad = dir.write("bad.ini", "[uwsgi]\nprocesses = four\n");
    let syntax = dir.write("syntax.toml", "[uwsgi]\nprocesses = = 4\n");
    let nosec = dir.write("nosec.ini", "[app]\nprocesses = 4\n");
    let looped = dir.path().join("loop.ini");
    std::fs::write(&looped, format!("[uwsgi]\nini = {}\n", looped.display())).unwrap();
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec!["--procesess".into(), "4".into()],
            "unknown option '--procesess' (did you mean '--processes'?)".into(),
        ),
        (
            vec![typo.display().to_string()],
            format!(
                "{}:3: unknown option 'procesess' (did you mean 'processes'?)",
                typo.display()
            ),
        ),
        (
            vec![bad.display().to_string()],
            format!(
                "{}:2: processes: expected a number, got \"four\"",
                bad.display()
            ),
        ),
        (
            vec!["--toml".into(), syntax.display().to_string()],
            format!("{}:2:", syntax.display()),
        ),
        (
            vec![nosec.display().to_string()],
            "no [uwsgi] section (the sections are: app)".into(),
        ),
        (
            vec![looped.display().to_string()],
            "would loop forever".into(),
        ),
        (
            vec!["--ini".into(), "/nonexistent/app.ini".into()],
            "cannot read config file /nonexistent/app.ini".into(),
        ),
        (
            vec!["--http-socket".into(), "1.2.3.4:99999".into()],
            "http-socket: expected an address".into(),
        ),
        (
            vec!["--processes".into()],
            "option '--processes' needs a value".into(),
        ),
        (
            vec!["--socket".into(), "--processes".into(), "4".into()],
            "option '--socket' needs a value, but the option '--processes' follows it".into(),
        ),
        (
            vec!["--route-run".into(), "fixpathinfo:".into()],
            "'route-run' is not supported".into(),
        ),
    ];
    for (args, want) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = rsgi_run(&args);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(out.is_empty(), "nothing on stdout: {out}");
        assert!(err.contains(&want), "{args:?}: want {want:?}, got {err:?}");
        assert_eq!(err.lines().count(), 1, "one sentence: {err}");
        assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"));
    }
}

#[test]
fn help_and_version() {
    let (code, out, _) = rsgi_run(&["--help"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("--http-socket ADDR") && out.contains("--processes N, -p"),
        "{out}"
    );
    let (code, out, _) = rsgi_run(&["--version"]);
    assert_eq!(
        (code, out.trim()),
        (0, concat!("rsgi ", env!("CARGO_PKG_VERSION")))
    );
}
