//! `uid` / `gid`: the master and the workers run as exactly that user,
//! group and supplementary groups; nothing of the starting user's groups
//! survives. Needs root (skipped with a note otherwise).

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;

use crate::common::*;

const APP: &str = "def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n";

/// Groups a root-started rsgi has before it drops privileges: ones no
/// system user normally belongs to.
const STARTING_GROUPS: [libc::gid_t; 3] = [4, 27, 100];

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("SKIPPED: dropping privileges needs root");
    }
    root
}

struct Ids {
    uid: u32,
    gid: u32,
    groups: BTreeSet<u32>,
}

/// The real uid, gid and supplementary groups of `pid`.
fn ids(pid: i32) -> Ids {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let field = |name: &str| -> Vec<u32> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or("")
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect()
    };
    Ids {
        uid: field("Uid:")[0],
        gid: field("Gid:")[0],
        groups: field("Groups:").into_iter().collect(),
    }
}

/// `id -G USER`: the groups `initgroups` gives that user.
fn groups_of(user: &str) -> BTreeSet<u32> {
    let out = run(
        std::process::Command::new("id").args(["-G", user]),
        b"",
        PATIENCE,
    );
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect()
}

fn id_of(flag: &str, user: &str) -> u32 {
    let out = run(
        std::process::Command::new("id").args([flag, user]),
        b"",
        PATIENCE,
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a number")
}

/// rsgi started as root with STARTING_GROUPS, serving until dropped.
struct Started(Server);

impl Started {
    fn new(extra: &[&str]) -> Started {
        let dir = TempDir::new("privileges");
        dir.write("app.py", APP);
        let mut args = vec!["--wsgi-file", "{dir}/app.py"];
        args.extend_from_slice(extra);
        let server = Launch::new(dir)
            .args(&args)
            .configure(|cmd| {
                // SAFETY: setgroups between fork and exec, async-signal-safe.
                unsafe {
                    cmd.pre_exec(|| {
                        if libc::setgroups(STARTING_GROUPS.len(), STARTING_GROUPS.as_ptr()) != 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                        Ok(())
                    });
                }
            })
            .start();
        Started(server)
    }

    /// The master and its workers.
    fn processes(&self) -> Vec<i32> {
        let master = self.0.pid();
        let mut all = worker_pids(master);
        assert!(!all.is_empty(), "no worker: {}", self.0.log_text());
        all.push(master);
        all
    }
}

#[test]
fn uid_alone_takes_the_users_group_and_only_its_groups() {
    if !is_root() {
        return;
    }
    let s = Started::new(&["--uid", "nobody"]);
    let (uid, gid) = (id_of("-u", "nobody"), id_of("-g", "nobody"));
    for pid in s.processes() {
        let ids = ids(pid);
        assert_eq!((ids.uid, ids.gid), (uid, gid), "pid {pid}");
        assert_eq!(ids.groups, groups_of("nobody"), "pid {pid}");
    }
}

#[test]
fn uid_and_gid_give_that_group_plus_the_users_groups() {
    if !is_root() {
        return;
    }
    let s = Started::new(&["--uid", "nobody", "--gid", "adm"]);
    let adm = 4;
    for pid in s.processes() {
        let ids = ids(pid);
        assert_eq!(
            (ids.uid, ids.gid),
            (id_of("-u", "nobody"), adm),
            "pid {pid}"
        );
        // initgroups(nobody, adm): adm and nobody's memberships in /etc/group.
        assert!(ids.groups.contains(&adm), "pid {pid}: {:?}", ids.groups);
        for g in STARTING_GROUPS {
            assert!(
                g == adm || !ids.groups.contains(&g),
                "pid {pid} kept group {g}: {:?}",
                ids.groups
            );
        }
    }
}

#[test]
fn gid_alone_clears_the_supplementary_groups() {
    if !is_root() {
        return;
    }
    let s = Started::new(&["--gid", "nogroup"]);
    let nogroup = id_of("-g", "nobody");
    for pid in s.processes() {
        let ids = ids(pid);
        assert_eq!((ids.uid, ids.gid), (0, nogroup), "pid {pid}");
        assert!(ids.groups.is_empty(), "pid {pid}: {:?}", ids.groups);
    }
}

#[test]
fn a_numeric_uid_without_a_user_needs_a_gid() {
    if !is_root() {
        return;
    }
    let dir = TempDir::new("privileges-bad");
    dir.write("app.py", APP);
    let mut s = Server::spawn(
        dir,
        &["--wsgi-file", "{dir}/app.py", "--uid", "54321"],
        true,
    );
    assert_eq!(s.wait_exit(PATIENCE), Some(1), "{}", s.log_text());
    assert!(s.log_text().contains("give gid too"), "{}", s.log_text());
}
