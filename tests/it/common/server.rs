//! A running rsgi master: started on sockets the test bound, known to be
//! ready when it tells systemd so, its log in a file, and killed with all
//! its processes when the [`Server`] drops.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::dir::TempDir;
use super::http::{Response, request};
use super::notify::{Notifications, is_periodic};
use super::process::Guard;
use super::sockets::Listener;
use super::wait::PATIENCE;

pub fn rsgi() -> Command {
    Command::new(rsgi_binary())
}

/// The master binary, with rsgi's Python extension built beside it, where
/// the master looks for it. `cargo test` builds only the binary: the
/// extension is another package, and a dependency on it would make
/// maturin tag the wheel for one Python version. So build it here, once
/// (a no-op when it is up to date).
pub fn rsgi_binary() -> &'static Path {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let mut cargo = Command::new(env!("CARGO"));
        cargo.args(["build", "--quiet", "-p", "rsgi-native"]);
        if !cfg!(debug_assertions) {
            cargo.arg("--release");
        }
        let status = cargo.status().expect("run cargo to build the extension");
        assert!(status.success(), "cargo build -p rsgi-native: {status}");
    });
    Path::new(env!("CARGO_BIN_EXE_rsgi"))
}

/// A change to the command before it starts.
type Configure = Box<dyn FnOnce(&mut Command)>;

/// How to start rsgi: its arguments (`{dir}` stands for the temp dir),
/// the sockets it inherits, its environment.
pub struct Launch {
    dir: TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// Descriptors rsgi inherits: (ours, the number it has in rsgi).
    fds: Vec<(OwnedFd, RawFd)>,
    /// The `--http-socket` the server gets and [`Server::port`] names:
    /// a fresh TCP socket unless the test gives one or none.
    http: Option<Listener>,
    systemd_activation: bool,
    /// Changes to the command a test makes itself.
    configure: Vec<Configure>,
    /// The binary (this build's rsgi unless a test runs a copy).
    program: PathBuf,
}

impl Launch {
    pub fn new(dir: TempDir) -> Launch {
        Launch {
            dir,
            args: Vec::new(),
            env: Vec::new(),
            fds: Vec::new(),
            http: Some(Listener::tcp()),
            systemd_activation: false,
            configure: Vec::new(),
            program: rsgi_binary().to_path_buf(),
        }
    }

    pub fn args(mut self, args: &[&str]) -> Launch {
        let d = self.dir.path().to_string_lossy().into_owned();
        self.args
            .extend(args.iter().map(|a| a.replace("{dir}", &d)));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Launch {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Hand `listener` to rsgi; returns the address that names it
    /// (`=FD`), for an option or a config file.
    pub fn inherit(&mut self, listener: &Listener) -> String {
        let fd = listener.dup();
        let n = fd.as_raw_fd();
        self.fds.push((fd, n));
        format!("={n}")
    }

    /// `option =FD` for `listener`.
    pub fn socket(mut self, option: &str, listener: &Listener) -> Launch {
        let address = self.inherit(listener);
        self.args.extend([option.to_string(), address]);
        self
    }

    /// Serve HTTP on `listener` (one the test keeps, to start rsgi again
    /// on the same address) instead of a fresh socket.
    pub fn http(mut self, listener: &Listener) -> Launch {
        self.http = Some(match listener {
            Listener::Tcp(l) => Listener::Tcp(l.try_clone().expect("dup a listener")),
            Listener::Unix(l, p) => {
                Listener::Unix(l.try_clone().expect("dup a listener"), p.clone())
            }
        });
        self
    }

    /// No `--http-socket` from the launch: the arguments name the sockets.
    pub fn no_http(mut self) -> Launch {
        self.http = None;
        self
    }

    /// Pass the HTTP socket as systemd's socket activation does: as fd 3,
    /// with LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID (set by a shell that
    /// then execs rsgi, since only the child knows its pid).
    pub fn systemd_activation(mut self) -> Launch {
        self.systemd_activation = true;
        self
    }

    /// Run `program` (a copy of rsgi) instead of this build's binary.
    pub fn program(mut self, program: &std::path::Path) -> Launch {
        self.program = program.to_path_buf();
        self
    }

    /// Change the command before it starts (what rsgi inherits from its
    /// starter beyond sockets, environment and arguments).
    pub fn configure(mut self, f: impl FnOnce(&mut Command) + 'static) -> Launch {
        self.configure.push(Box::new(f));
        self
    }

    /// Start rsgi; do not wait for it (for starts that fail).
    pub fn spawn(mut self) -> Server {
        let mut port = 0;
        if let Some(http) = self.http.take() {
            if let Listener::Tcp(_) = http {
                port = http.port();
            }
            if self.systemd_activation {
                // dup2 onto 3 would replace another inherited socket there.
                assert!(
                    self.fds.iter().all(|(_, n)| *n != 3),
                    "socket activation passes fd 3, which another socket has"
                );
                self.fds.push((http.dup(), 3));
            } else {
                let address = self.inherit(&http);
                self.args.extend(["--http-socket".to_string(), address]);
            }
        }
        let log = self.dir.path().join("rsgi.log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let notify = Notifications::bind(&self.dir.path().join("notify.sock"));
        let mut cmd = if self.systemd_activation {
            let mut sh = Command::new("sh");
            sh.args([
                "-c",
                "LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=http exec \"$0\" \"$@\"",
            ])
            .arg(&self.program);
            sh
        } else {
            Command::new(&self.program)
        };
        cmd.args(&self.args);
        // Nothing from the environment the tests run in reaches rsgi but
        // what a test sets.
        for var in [
            "NOTIFY_SOCKET",
            "WATCHDOG_USEC",
            "WATCHDOG_PID",
            "LISTEN_FDS",
            "LISTEN_PID",
            "LISTEN_FDNAMES",
            "RUST_LOG",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("NOTIFY_SOCKET", notify.path());
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd.stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("dup log"))
            .stderr(log_file);
        for f in self.configure.drain(..) {
            f(&mut cmd);
        }
        let inherit: Vec<(RawFd, RawFd)> = self
            .fds
            .iter()
            .map(|(fd, n)| (fd.as_raw_fd(), *n))
            .collect();
        let process = Guard::spawn(&mut cmd, &inherit).expect("start rsgi");
        Server {
            process,
            port,
            log,
            notify,
            _sockets: self.fds.into_iter().map(|(fd, _)| fd).collect(),
            dir: self.dir,
        }
    }

    /// Start rsgi and wait until every worker accepts (READY=1).
    pub fn start(self) -> Server {
        let server = self.spawn();
        server.notified("READY=1");
        server
    }
}

/// A running rsgi master with its log captured to a file.
pub struct Server {
    /// First, so the processes are gone before the rest is cleaned up.
    process: Guard,
    /// The port of the HTTP socket the launch gave it (0 if none).
    pub port: u16,
    pub log: PathBuf,
    pub notify: Notifications,
    /// Our copies of the sockets it inherited: the addresses stay ours
    /// until the test ends.
    _sockets: Vec<OwnedFd>,
    pub dir: TempDir,
}

impl Server {
    /// `rsgi ARGS` in `dir` with a fresh HTTP socket, once every worker
    /// accepts.
    pub fn start_in(dir: TempDir, args: &[&str]) -> Server {
        Launch::new(dir).args(args).start()
    }

    /// Start without waiting (for tests of failing starts); `with_socket`
    /// adds the fresh HTTP socket.
    pub fn spawn(dir: TempDir, args: &[&str], with_socket: bool) -> Server {
        let launch = Launch::new(dir).args(args);
        if with_socket {
            launch.spawn()
        } else {
            launch.no_http().spawn()
        }
    }

    pub fn pid(&self) -> i32 {
        self.process.pid()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until the log contains `needle` (for tests about what rsgi
    /// logs); panics with the log on timeout.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) {
        let start = Instant::now();
        while !self.log_text().contains(needle) {
            if start.elapsed() >= timeout {
                panic!(
                    "no {needle:?} in the log within {timeout:?}:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The next notification that is not a periodic one (the watchdog's),
    /// which must start with `prefix`; panics with the log if another
    /// comes first, if none comes, or if rsgi exits meanwhile.
    pub fn notified(&self, prefix: &str) -> String {
        let start = Instant::now();
        loop {
            match self.notify.next(Duration::from_millis(50)) {
                Some(m) if is_periodic(&m) => continue,
                Some(m) if m.starts_with(prefix) => return m,
                Some(m) => panic!(
                    "waiting for {prefix:?}, rsgi said {m:?}:\n{}",
                    self.log_text()
                ),
                None => {}
            }
            if !is_alive(self.pid()) {
                panic!(
                    "rsgi exited while the test waited for {prefix:?}:\n{}",
                    self.log_text()
                );
            }
            if start.elapsed() >= PATIENCE {
                panic!(
                    "no {prefix:?} from rsgi within {PATIENCE:?}:\n{}",
                    self.log_text()
                );
            }
        }
    }

    /// Ask for a reload with `signal` (or anything else in `trigger`) and
    /// wait until it is done: RELOADING=1, then READY=1 once every new
    /// worker accepts (or the new code failed and the old one serves on).
    pub fn reloaded(&self, trigger: impl FnOnce()) {
        trigger();
        self.notified("RELOADING=1");
        self.notified("READY=1");
    }

    /// Whether the master still runs.
    pub fn running(&mut self) -> bool {
        self.process.exited().is_none()
    }

    /// Wait up to `timeout` for the master to exit; its status code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        self.process.wait_exit(timeout).and_then(|s| s.code())
    }

    pub fn get(&self, path: &str) -> Response {
        request(
            self.port,
            &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
        )
    }

    pub fn signal(&self, sig: i32) {
        self.process.signal(sig);
    }
}

/// Whether `pid` (our unreaped child) has not exited: not gone, not a zombie.
fn is_alive(pid: i32) -> bool {
    !super::process::is_gone(pid)
}
