//! Preloading shares the app's memory copy-on-write: measured from
//! /proc/PID/smaps_rollup with 4 workers.

use crate::common::*;

/// A module-level structure of about 40 MB that requests never touch.
const APP: &str = r#"
DATA = [("%08d" % i) * 8 for i in range(400000)]

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
"#;

/// (Rss, Pss, Private) in kB.
fn rollup(pid: i32) -> (u64, u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).expect("smaps_rollup");
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (
        field("Rss:"),
        field("Pss:"),
        field("Private_Clean:") + field("Private_Dirty:"),
    )
}

#[test]
fn four_preloaded_workers_share_the_app() {
    let dir = TempDir::new("memory");
    dir.write("app.py", APP);
    let s = Server::start_in(dir, &["--wsgi-file", "{dir}/app.py", "--processes", "4"]);
    for _ in 0..40 {
        assert_eq!(s.get("/").status, 200);
    }
    let workers = worker_pids(s.pid());
    assert_eq!(workers.len(), 4);
    let zygote = descendants(s.pid())
        .into_iter()
        .find(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm"))
                .is_ok_and(|c| c.trim() == "rsgi zygote")
        })
        .expect("zygote");
    let (zygote_rss, _, _) = rollup(zygote);
    let (master_rss, master_pss, _) = rollup(s.pid());
    let mut total_pss = master_pss + rollup(zygote).1;
    eprintln!("master: rss {master_rss} kB; zygote (app loaded): rss {zygote_rss} kB");
    for w in &workers {
        let (rss, pss, private) = rollup(*w);
        total_pss += pss;
        eprintln!("worker {w}: rss {rss} kB, pss {pss} kB, private {private} kB");
        assert!(
            private * 4 < zygote_rss,
            "worker {w} copied {private} kB of the zygote's {zygote_rss} kB"
        );
    }
    // The master's size is a release-build figure: bench/ measures it.
    eprintln!("total PSS of all processes: {total_pss} kB");
}
