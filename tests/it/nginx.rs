//! Real nginx in front of rsgi: `uwsgi_pass` to `--socket` and
//! `proxy_pass` to `--http-socket`, serving a Flask app.

use std::path::PathBuf;

use crate::common::*;

const FLASK_APP: &str = r#"
from flask import Flask, jsonify, redirect, request

app = Flask(__name__)

@app.route("/echo/<path:rest>", methods=["GET", "POST"])
def echo(rest):
    return jsonify(
        rest=rest,
        method=request.method,
        args=request.args.to_dict(flat=False),
        form=request.form.to_dict(),
        agent=request.headers.get("X-Agent"),
        scheme=request.scheme,
        script_root=request.script_root,
    )

@app.route("/go")
def go():
    return redirect("/echo/landed?from=go")
"#;

/// nginx listening on two unix sockets in `dir`: one passing to rsgi's
/// uwsgi socket, one to its HTTP socket.
fn start_front(dir: &TempDir, rsgi_uwsgi: u16, rsgi_http: u16) -> (Guard, PathBuf, PathBuf) {
    let d = dir.path().display();
    let (uwsgi_sock, http_sock) = (dir.path().join("uwsgi.sock"), dir.path().join("http.sock"));
    let (u, h) = (uwsgi_sock.display(), http_sock.display());
    dir.write("uwsgi_params", UWSGI_PARAMS);
    let servers = format!(
        "    server {{
        listen unix:{u};
        location ~ ^/secure(/.*)$ {{
            include {d}/uwsgi_params;
            uwsgi_param HTTPS on;
            uwsgi_param SCRIPT_NAME /secure;
            uwsgi_param PATH_INFO $1;
            uwsgi_pass 127.0.0.1:{rsgi_uwsgi};
        }}
        location / {{
            include {d}/uwsgi_params;
            uwsgi_pass 127.0.0.1:{rsgi_uwsgi};
        }}
    }}
    server {{
        listen unix:{h};
        location / {{
            proxy_pass http://127.0.0.1:{rsgi_http};
            proxy_set_header Host $host;
        }}
    }}"
    );
    let nginx = start_nginx(dir, &servers, &[&uwsgi_sock, &http_sock]);
    (nginx, uwsgi_sock, http_sock)
}

#[test]
fn flask_behind_nginx_over_uwsgi_and_http() {
    if !nginx_available() {
        return;
    }
    let dir = TempDir::new("nginx-rsgi");
    dir.write("flask_app.py", FLASK_APP);
    let rsgi_uwsgi = Listener::tcp();
    let s = Launch::new(dir)
        .args(&[
            "--wsgi-file",
            "{dir}/flask_app.py",
            "--callable",
            "app",
            "--threads",
            "2",
        ])
        .socket("--socket", &rsgi_uwsgi)
        .start();
    let nginx_dir = TempDir::new("nginx");
    let (_nginx, via_uwsgi, via_http) = start_front(&nginx_dir, rsgi_uwsgi.port(), s.port);
    for (port, how) in [(&via_uwsgi, "uwsgi_pass"), (&via_http, "proxy_pass")] {
        let r = request(
            port,
            "GET /echo/a%20b/%C3%A9?x=1&x=2&y=%2F HTTP/1.1\r\nHost: example.test\r\nX-Agent: probe\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(r.status, 200, "{how}: {}", r.text());
        let body = r.text();
        assert!(
            body.contains(r#""rest":"a b/\u00e9""#),
            "{how}: percent-decoded path: {body}"
        );
        assert!(
            body.contains(r#""args":{"x":["1","2"],"y":["/"]}"#),
            "{how}: query: {body}"
        );
        assert!(body.contains(r#""agent":"probe""#), "{how}: header: {body}");
        assert!(body.contains(r#""scheme":"http""#), "{how}: {body}");

        let form = "name=J%C3%B6rg&n=42";
        let r = request(
            port,
            &format!(
                "POST /echo/form HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
                form.len()
            ),
        );
        assert!(
            r.text().contains(r#""form":{"n":"42","name":"J\u00f6rg"}"#),
            "{how}: POST body: {}",
            r.text()
        );
        assert!(r.text().contains(r#""method":"POST""#));

        let r = request(
            port,
            "GET /go HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(r.status, 302, "{how}");
        assert!(
            r.header("location")
                .is_some_and(|l| l.ends_with("/echo/landed?from=go")),
            "{how}: {:?}",
            r.header("location")
        );

        assert_eq!(
            request(
                port,
                "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            .status,
            404,
            "{how}"
        );
    }
    // uwsgi_param overrides: HTTPS on and a SCRIPT_NAME from nginx
    let r = request(
        &via_uwsgi,
        "GET /secure/echo/s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains(r#""scheme":"https""#), "{}", r.text());
    assert!(
        r.text().contains(r#""rest":"s""#) && r.text().contains(r#""script_root":"/secure""#),
        "{}",
        r.text()
    );
}
