//! Requests an app holds until the test lets them go. Each marks its
//! start with a file, so a test counts the requests running at once (an
//! event) instead of timing how long sleeping requests took.

use std::path::Path;

/// Python defining `hold(environ)`, for an app in the test's temp dir:
/// mark the request started (a file `started-QUERY_STRING` beside the
/// app), then wait until the test releases every held request (a file
/// `release`), 60 s at most.
pub const HOLD_PY: &str = r#"
def hold(environ):
    import os, time
    here = os.path.dirname(os.path.abspath(__file__))
    open(os.path.join(here, "started-" + environ["QUERY_STRING"]), "w").close()
    release = os.path.join(here, "release")
    for _ in range(6000):
        if os.path.exists(release):
            return
        time.sleep(0.01)
"#;

/// How many held requests have started.
pub fn held(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("started-"))
                .count()
        })
        .unwrap_or(0)
}

/// Let every held request, and every one held from now on, go.
pub fn release(dir: &Path) {
    std::fs::write(dir.join("release"), "").expect("write the release file");
}
