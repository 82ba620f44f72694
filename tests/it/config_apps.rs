//! Apps loaded the ways real uWSGI configs name them: an extensionless
//! `wsgi-file` (OpenStack's `keystone-wsgi-public`), a `.wsgi` mount
//! (Indico's `indico.wsgi`), a `module = pkg.mod:factory()` (Galaxy's
//! `buildapp:uwsgi_app()`), `import`, `pyargv` and `py-executable`.

use crate::common::*;

const HELLO: &str = r#"
import sys
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("hello from %s" % environ.get("SCRIPT_NAME", "")).encode()]
"#;

#[test]
fn an_extensionless_wsgi_file_serves() {
    let dir = TempDir::new("extless");
    dir.write("keystone-wsgi-public", HELLO);
    let s = Server::start_in(dir, &["--wsgi-file", "{dir}/keystone-wsgi-public"]);
    let r = s.get("/");
    assert_eq!((r.status, r.text()), (200, "hello from ".to_string()));
}

#[test]
fn a_wsgi_file_mount_serves() {
    let dir = TempDir::new("dotwsgi");
    dir.write("admin.wsgi", HELLO);
    dir.write("main.py", HELLO);
    let s = Server::start_in(
        dir,
        &[
            "--wsgi-file",
            "{dir}/main.py",
            "--mount",
            "/admin={dir}/admin.wsgi",
        ],
    );
    assert_eq!(s.get("/admin/x").text(), "hello from /admin");
    assert_eq!(s.get("/").text(), "hello from ");
}

#[test]
fn a_factory_module_is_called_once_for_its_app() {
    let dir = TempDir::new("factory");
    std::fs::create_dir_all(dir.path().join("pkg")).unwrap();
    dir.write("pkg/__init__.py", "");
    dir.write(
        "pkg/buildapp.py",
        r#"
CALLS = []
def uwsgi_app():
    CALLS.append(1)
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"made by the factory, called %d time(s)" % len(CALLS)]
    return app
"#,
    );
    let s = Server::start_in(
        dir,
        &["--chdir", "{dir}", "--module", "pkg.buildapp:uwsgi_app()"],
    );
    assert_eq!(s.get("/").text(), "made by the factory, called 1 time(s)");
    assert_eq!(s.get("/").text(), "made by the factory, called 1 time(s)");
}

#[test]
fn import_pyargv_and_executable_reach_the_app() {
    let dir = TempDir::new("pyopts");
    dir.write(
        "early.py",
        "import builtins\nbuiltins.EARLY = 'imported before the app'\n",
    );
    dir.write(
        "app.py",
        r#"
import sys, builtins
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("%s|%s|%s" % (builtins.EARLY, sys.argv, sys.executable)).encode()]
"#,
    );
    let ini = dir.write(
        "app.ini",
        "[uwsgi]\nwsgi-file = %dapp.py\nimport = %dearly.py\npyargv = --config-file /etc/app.conf\npy-executable = /usr/bin/python-for-app\n",
    );
    let s = Server::start_in(dir, &["--ini", &ini.to_string_lossy()]);
    assert_eq!(
        s.get("/").text(),
        "imported before the app|['rsgi', '--config-file', '/etc/app.conf']|/usr/bin/python-for-app"
    );
}
