//! The fixture corpus: configs of our own (tests/data/configs) that use
//! every option, value form, placeholder and block the uWSGI configs of
//! public projects use (tests/data/configs/SOURCES.md lists the 36
//! surveyed). Each case runs `rsgi --check-config` on a fixture and says
//! whether it loads, with a few values of the merged model, or which
//! errors it gives. Implementing an option (issue 17's static files,
//! hooks, daemons...) changes only the expectations here.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What a fixture is expected to do.
enum Expect {
    /// Exit 0, and these lines (without their origin) in the model.
    Loads(&'static [&'static str]),
    /// Exit 1, with exactly these errors (each line, after the file name
    /// and line number it starts with), in order.
    Fails(&'static [&'static str]),
}

struct Case {
    /// A config file, or a `.env` file of `KEY=VALUE` lines to run with.
    fixture: &'static str,
    env: &'static [(&'static str, &'static str)],
    args: &'static [&'static str],
    expect: Expect,
}

use Expect::{Fails, Loads};

const NOT_YET: &str = "is not supported: not implemented in rsgi yet (planned)";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/configs")
}

fn cpus() -> String {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.to_string()
}

const CASES: &[Case] = &[
    Case {
        fixture: "packaged-python3.ini",
        env: &[],
        args: &[],
        expect: Loads(&[
            "socket = /run/uwsgi/app/shop/socket",
            "wsgi-file = /srv/shop/wsgi.py",
            "pythonpath = /srv/shop/lib",
            "home = /srv/shop/venv",
            "processes = 6",
            "threads = 4",
            "buffer-size = 65535",
            "chmod-socket = 660",
            "stats = 0.0.0.0:1717",
        ]),
    },
    Case {
        fixture: "packaged-tuning.ini",
        env: &[],
        args: &[],
        expect: Loads(&[
            "cheaper = 2",
            "cheaper-initial = 2",
            "harakiri-verbose = true",
            "memory-report = 1",
            "evil-reload-on-rss = 8192",
            "chown-socket = portal:www-data",
            "umask = 27",
            "auto-procname = true",
        ]),
    },
    Case {
        fixture: "strict.ini",
        env: &[],
        args: &[],
        expect: Loads(&[
            "strict = true",
            "module = portal.wsgi:application",
            "master-fifo = /srv/portal/control.fifo",
            "post-buffering = 4096",
            "processes = 5",
        ]),
    },
    Case {
        fixture: "strict-typo.ini",
        env: &[],
        args: &[],
        expect: Fails(&[
            "9: unknown option 'py-callos-afterfork' (did you mean 'py-call-osafterfork'?)",
        ]),
    },
    Case {
        fixture: "container-env.ini",
        env: &[
            ("APP_SRC", "/srv/app"),
            ("APP_LOGS", "/var/log/app"),
            ("APP_PREFIX", "/kpi"),
            ("BIND_ADDRESS", "[::]:8080"),
            ("APP_HARAKIRI", "120"),
            ("APP_WORKERS", "3"),
            ("APP_USER", "kobo"),
        ],
        args: &[],
        expect: Loads(&[
            "chdir = /srv/app",
            "logto = /var/log/app/uwsgi.log",
            "mount = /kpi=/srv/app/project/wsgi.py",
            "http-socket = [::]:8080",
            "processes = 3",
            "max-requests = 5000",
            "limit-post = 2147483648",
            "listen = 4096",
            "post-buffering = 0",
            "uid = kobo",
        ]),
    },
    Case {
        // Without APP_WORKERS: the if-not-env default, one per core.
        fixture: "container-env.ini",
        env: &[
            ("APP_SRC", "/srv/app"),
            ("APP_LOGS", "/var/log/app"),
            ("APP_PREFIX", "/kpi"),
            ("BIND_ADDRESS", "[::]:8080"),
            ("APP_HARAKIRI", "120"),
            ("APP_USER", "kobo"),
            ("APP_MAX_REQUESTS", "700"),
        ],
        args: &[],
        expect: Loads(&["processes = {cpus}", "max-requests = 700"]),
    },
    Case {
        fixture: "container-cheaper.ini",
        env: &[],
        args: &[],
        expect: Loads(&["processes = 8", "cheaper-rss-limit-soft = 2147483648"]),
    },
    Case {
        fixture: "container-cheaper.ini",
        env: &[("APP_CHEAPER", "2"), ("APP_CHEAPER_RSS", "1")],
        args: &[],
        expect: Loads(&[
            "cheaper-algo = busyness",
            "cheaper = 2",
            "cheaper-initial = 2",
            "cheaper-overload = 30",
            "cheaper-busyness-multiplier = 20",
        ]),
    },
    Case {
        fixture: "bare-keys-and-comments.ini",
        env: &[],
        args: &[],
        expect: Loads(&[
            "master = true",
            "die-on-term = true",
            "enable-threads = true",
            "processes = 4",
            "max-fd = 10000",
            "log-4xx = true",
            "log-5xx = true",
            "vacuum = true",
            "reload-on-rss = 4096",
            "worker-reload-mercy = 60",
            "thunder-lock = true",
        ]),
    },
    Case {
        fixture: "logic.ini",
        env: &[],
        args: &[],
        expect: Loads(&[
            "socket = /tmp/rsgi-fixture/4031.sock",
            "socket = /tmp/rsgi-fixture/4033.sock",
            "threads = 2",
            "touch-reload = {dir}/reload.txt",
            "wsgi-file = {dir}/app.py",
            "show-config = true",
        ]),
    },
    Case {
        fixture: "variables.ini",
        env: &[("PORT", "3031")],
        args: &[],
        expect: Loads(&[
            "socket = 0.0.0.0:3031",
            "module = shop.wsgi",
            "master = true",
            "processes = 4",
            "pidfile = /tmp/variables.pid",
            "mount = /admin={dir}/admin.wsgi",
            "guid = www-data",
        ]),
    },
    Case {
        fixture: "openstack-api.ini",
        env: &[],
        args: &[],
        expect: Loads(&[
            "wsgi-file = /usr/local/bin/service-wsgi-api",
            "socket = 127.0.0.1:5001",
            "http = 0.0.0.0:8041",
            "processes = 4",
            "threads = 8",
            "lazy-apps = true",
            "exit-on-reload = false",
        ]),
    },
    Case {
        fixture: "openstack-api-hooks.ini",
        env: &[],
        args: &[],
        expect: Loads(&[
            "hook-master-start = unix_signal:15 gracefully_kill_them_all",
            "memory-report = 1",
            "exit-on-reload = true",
            "add-header = Connection: close",
        ]),
    },
    Case {
        fixture: "galaxy.yml",
        env: &[],
        args: &[],
        expect: Loads(&[
            "http = 127.0.0.1:8080",
            "module = galaxy.webapps.galaxy.buildapp:uwsgi_app()",
            "home = .venv",
            "env = GALAXY_CONFIG_FILE=config/galaxy.yml",
            "env = GALAXY_ROOT=.",
            "master = false",
            "processes = 1",
            "thunder-lock = false",
            "offload-threads = 2",
        ]),
    },
    Case {
        fixture: "galaxy-static.yml",
        env: &[],
        args: &[],
        expect: Loads(&[
            "static-map = /static=static",
            "hook-master-start = unix_signal:2 gracefully_kill_them_all",
            "hook-master-start = unix_signal:15 gracefully_kill_them_all",
        ]),
    },
    Case {
        fixture: "werkzeug.yml",
        env: &[],
        args: &[],
        expect: Loads(&[
            "module = werkzeug.testapp:test_app",
            "socket = 0.0.0.0:3032",
            "master = true",
            "processes = 8",
        ]),
    },
    Case {
        fixture: "django-docs.ini",
        env: &[],
        args: &[],
        expect: Loads(&[
            "daemonize = /var/log/uwsgi/mysite.log",
            "pidfile = /tmp/mysite-master.pid",
        ]),
    },
    Case {
        // The command line of Django's guide, without --daemonize.
        fixture: "",
        env: &[],
        args: &[
            "--chdir=/srv/mysite",
            "--module=mysite.wsgi:application",
            "--env",
            "DJANGO_SETTINGS_MODULE=mysite.settings",
            "--master",
            "--pidfile=/tmp/project-master.pid",
            "--socket=127.0.0.1:49152",
            "--processes=5",
            "--uid=1000",
            "--gid=2000",
            "--harakiri=20",
            "--limit-as=128",
            "--max-requests=5000",
            "--vacuum",
            "--home=/srv/venv",
        ],
        expect: Loads(&[
            "env = DJANGO_SETTINGS_MODULE=mysite.settings",
            "socket = 127.0.0.1:49152",
            "processes = 5",
            "limit-as = 128",
            "home = /srv/venv",
        ]),
    },
    Case {
        fixture: "tiangolo.ini",
        env: &[],
        args: &[],
        expect: Loads(&[
            "cheaper = 2",
            "chown-socket = nginx:nginx",
            "hook-master-start = unix_signal:15 gracefully_kill_them_all",
        ]),
    },
    Case {
        fixture: "daemons-and-cron.ini",
        env: &[],
        args: &[],
        expect: Loads(&[
            "hook-pre-app = exec:./manage.py migrate",
            "attach-daemon = ./manage.py qcluster",
            "unique-cron = -15 -1 -1 -1 -1 ./manage.py runjobs quarter_hourly (unique)",
            "cron = -30 -1 -1 -1 -1 ./manage.py runperiodic",
            "cron2 = -1 -1 -5 -1 -1 /opt/web/analytics.sh (harakiri 10 s)",
        ]),
    },
    Case {
        fixture: "loggers.ini",
        env: &[],
        args: &[],
        expect: Loads(&[
            "req-logger = file:/var/log/web/uwsgi.log",
            "logger = cron file:/var/log/web/uwsgi-cron.log",
            "logger = file:/var/log/web/uwsgi-error.log",
            "log-route = cron uwsgi-cron",
        ]),
    },
    Case {
        fixture: "searxng.ini",
        env: &[],
        args: &[],
        expect: Loads(&[
            "static-map = /static=/usr/local/searxng/searx/static",
            "static-gzip-all = true",
            "add-header = Connection: close",
            "auto-procname = true",
        ]),
    },
    Case {
        fixture: "unsupported.ini",
        env: &[],
        args: &[],
        expect: Fails(&[
            "9: 'https' is not supported: TLS is not in rsgi; terminate it in nginx or another proxy",
            "11: 'map-socket' is not supported: not implemented in rsgi",
            "12: 'cache' is not supported: uWSGI's cache is not in rsgi; use Redis or memcached from the app",
            "13: 'cache-blocksize' is not supported: uWSGI's cache is not in rsgi; use Redis or memcached from the app",
            "14: socket-protocol: rsgi speaks uwsgi and http on --socket, not \"fastcgi\" (fastcgi, scgi and the others are not supported)",
        ]),
    },
    Case {
        fixture: "deadlocks.ini",
        env: &[],
        args: &[],
        expect: Loads(&[
            "processes = 10",
            "enable-threads = true",
            "py-call-uwsgi-fork-hooks = true",
        ]),
    },
    Case {
        fixture: "wagtail.env",
        env: &[],
        args: &[],
        expect: Loads(&[
            "home = /venv",
            "wsgi-file = bakerydemo/wsgi_production.py",
            "http = 0.0.0.0:8000",
            "master = true",
            "processes = 2",
            "threads = 8",
            "uid = 1000",
            "http-keepalive = 15",
            "lazy-apps = true",
            "http-auto-chunked = 1",
        ]),
    },
    Case {
        // Wagtail's command line adds a bare --http-keepalive and a
        // static map.
        fixture: "wagtail.env",
        env: &[],
        args: &[
            "--http-auto-chunked",
            "--http-keepalive",
            "--static-map",
            "/media/=/code/media/",
        ],
        expect: Loads(&["http-keepalive = 15", "static-map = /media/=/code/media/"]),
    },
    Case {
        fixture: "sentry-core.env",
        env: &[],
        args: &[],
        expect: Loads(&[
            "module = sentry.wsgi:application",
            "http-socket = 127.0.0.1:9000",
            "processes = 3",
            "post-buffering = 65536",
            "limit-post = 20971520",
            "reload-on-rss = 600",
            "home = /usr/local",
            "log-x-forwarded-for = false",
            "log-format = %(addr) - %(user) [%(ltime)] \"%(method) %(uri) %(proto)\" %(status) %(size) \"%(referer)\" \"%(uagent)\"",
            "http-timeout = 30",
        ]),
    },
    Case {
        fixture: "sentry.env",
        env: &[],
        args: &[],
        expect: Loads(&["memory-report = 1"]),
    },
];

/// The `KEY=VALUE` lines of an env fixture.
fn env_file(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .expect("read env fixture")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn run(case: &Case) -> (i32, String, String) {
    let dir = dir();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rsgi"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(&dir)
        .arg("--check-config")
        .args(case.args);
    if case.fixture.ends_with(".env") {
        cmd.envs(env_file(&dir.join(case.fixture)));
    } else if !case.fixture.is_empty() {
        cmd.arg(case.fixture);
    }
    cmd.envs(case.env.iter().copied());
    let out = crate::common::run(&mut cmd, b"", crate::common::PATIENCE);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_fixture_loads_or_fails_as_expected() {
    let dir = dir();
    let fill = |s: &str| {
        s.replace("{dir}", &dir.display().to_string())
            .replace("{cpus}", &cpus())
            .replace("NOT_YET", NOT_YET)
    };
    for case in CASES {
        let what = format!("{} {:?} {:?}", case.fixture, case.env, case.args);
        let (code, out, err) = run(case);
        match case.expect {
            Loads(lines) => {
                assert_eq!(code, 0, "{what} should load:\n{err}");
                let model: Vec<&str> = out
                    .lines()
                    .map(|l| l.split("  # ").next().unwrap_or(l))
                    .collect();
                for want in lines {
                    let want = fill(want);
                    assert!(
                        model.contains(&want.as_str()),
                        "{what}: no {want:?} in:\n{out}"
                    );
                }
            }
            Fails(errors) => {
                assert_eq!(code, 1, "{what} should fail:\n{out}{err}");
                let got: Vec<&str> = err.lines().collect();
                assert_eq!(got.len(), errors.len(), "{what}:\n{err}");
                for (line, want) in got.iter().zip(errors) {
                    let mut want = fill(want);
                    if want.starts_with(|c: char| c.is_ascii_digit()) {
                        want.insert(0, ':');
                    }
                    assert!(
                        line.ends_with(&want),
                        "{what}: want …{want:?}, got {line:?}"
                    );
                    if !case.fixture.ends_with(".env") && !case.fixture.is_empty() {
                        assert!(line.contains(case.fixture), "{what}: no file in {line:?}");
                    }
                }
            }
        }
    }
}

/// Every fixture file is in a case, and every fixture says which
/// projects its patterns come from.
#[test]
fn every_fixture_is_used_and_says_where_its_patterns_come_from() {
    let helpers = ["SOURCES.md", "override.ini", "somaxconn.txt"];
    for entry in std::fs::read_dir(dir()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if helpers.contains(&name.as_str()) {
            continue;
        }
        assert!(
            CASES.iter().any(|c| c.fixture == name),
            "{name} is in no case"
        );
        let text = std::fs::read_to_string(dir().join(&name)).unwrap();
        assert!(
            text.contains("Patterns from:"),
            "{name} does not say where its patterns come from"
        );
    }
}
