//! Several apps in one instance: `--mount /prefix=app`, longest prefix
//! wins, SCRIPT_NAME / PATH_INFO split, per-app stats rows.

use std::io::{Read, Write};

use crate::common::*;

fn app(name: &str) -> String {
    format!(
        "import json\n\ndef application(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'application/json')])\n    return [json.dumps({{'app': {name:?}, 'script': environ['SCRIPT_NAME'], 'path': environ['PATH_INFO']}}).encode()]\n"
    )
}

fn setup(extra: &[&str]) -> (Server, u16, u16) {
    let dir = TempDir::new("mounts");
    dir.write("root.py", &app("root"));
    dir.write("a.py", &app("a"));
    dir.write("appb.py", &app("b"));
    let (uwsgi, stats) = (Listener::tcp(), Listener::tcp());
    let mut args = vec![
        "--wsgi-file",
        "{dir}/root.py",
        "--mount",
        "/a={dir}/a.py",
        "--mount",
        "/b=appb:application",
        "--pythonpath",
        "{dir}",
    ];
    args.extend_from_slice(extra);
    let s = Launch::new(dir)
        .args(&args)
        .socket("--socket", &uwsgi)
        .socket("--stats", &stats)
        .start();
    (s, uwsgi.port(), stats.port())
}

fn seen(s: &Server, path: &str) -> serde_json::Value {
    let r = s.get(path);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    serde_json::from_slice(&r.body).unwrap()
}

fn via_uwsgi(port: u16, vars: &[(&str, &str)]) -> serde_json::Value {
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(PATIENCE)).unwrap();
    c.write_all(&rsgi_core::protocol::uwsgi::encode(vars))
        .unwrap();
    let mut out = Vec::new();
    c.read_to_end(&mut out).unwrap();
    serde_json::from_slice(&parse_response(&out).unwrap().body).unwrap()
}

#[test]
fn each_request_reaches_its_app_with_the_right_split() {
    let (s, uwsgi, stats_port) = setup(&[]);
    let cases = [
        ("/", "root", "", "/"),
        ("/a/x/y", "a", "/a", "/x/y"),
        ("/a", "a", "/a", ""),
        ("/b/", "b", "/b", "/"),
        ("/ab", "root", "", "/ab"),
        ("/other", "root", "", "/other"),
    ];
    for (path, app, script, rest) in cases {
        let v = seen(&s, path);
        assert_eq!(
            (v["app"].as_str(), v["script"].as_str(), v["path"].as_str()),
            (Some(app), Some(script), Some(rest)),
            "{path}"
        );
    }
    let v = via_uwsgi(
        uwsgi,
        &[
            ("REQUEST_METHOD", "GET"),
            ("PATH_INFO", "/a/z"),
            ("QUERY_STRING", ""),
        ],
    );
    assert_eq!(
        (v["app"].as_str(), v["script"].as_str(), v["path"].as_str()),
        (Some("a"), Some("/a"), Some("/z"))
    );

    let rows = || -> Vec<(String, u64)> {
        stats_from(stats_port)["workers"][0]["apps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["mountpoint"].as_str().unwrap().to_string(),
                    a["requests"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    // A request is counted once its response is written.
    wait_until("7 requests counted", PATIENCE, || {
        rows().iter().map(|(_, n)| n).sum::<u64>() == 7
    });
    let rows = rows();
    let rows: Vec<(&str, u64)> = rows.iter().map(|(m, n)| (m.as_str(), *n)).collect();
    assert_eq!(
        rows,
        [("", 3), ("/a", 3), ("/b", 1)],
        "stats show three apps with their own counters"
    );
}

#[test]
fn manage_script_name_takes_the_app_from_nginxs_script_name() {
    let (_s, uwsgi, _) = setup(&["--manage-script-name"]);
    let v = via_uwsgi(
        uwsgi,
        &[
            ("REQUEST_METHOD", "GET"),
            ("SCRIPT_NAME", "/b"),
            ("PATH_INFO", "/y"),
            ("QUERY_STRING", ""),
        ],
    );
    assert_eq!(
        (v["app"].as_str(), v["script"].as_str(), v["path"].as_str()),
        (Some("b"), Some("/b"), Some("/y"))
    );
}

#[test]
fn a_mount_that_fails_to_load_is_named_and_need_app_decides() {
    let dir = TempDir::new("badmount");
    dir.write("root.py", &app("root"));
    let mut s = Server::spawn(
        dir,
        &[
            "--wsgi-file",
            "{dir}/root.py",
            "--mount",
            "/x=missing_module_q",
        ],
        true,
    );
    assert_eq!(s.wait_exit(PATIENCE), Some(22), "{}", s.log_text());
    assert!(s.log_text().contains("missing_module_q"));

    let dir = TempDir::new("badmount2");
    dir.write("root.py", &app("root"));
    let s = Server::start_in(
        dir,
        &[
            "--wsgi-file",
            "{dir}/root.py",
            "--mount",
            "/x=missing_module_q",
            "--need-app=false",
        ],
    );
    assert_eq!(s.get("/x/1").status, 500);
    assert_eq!(s.get("/").status, 200);
    s.wait_for_log("mountpoint=/x", PATIENCE);
    assert!(
        s.log_text().contains("missing_module_q"),
        "{}",
        s.log_text()
    );
}
