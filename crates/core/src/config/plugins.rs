//! `plugins = python3`: which uWSGI plugins rsgi has built in. Packaged
//! uWSGI (Debian, Ubuntu, Fedora) loads the Python plugin by name, so most
//! distribution configs start with such a line.

/// The plugin names in a `plugins` value (`python3,http`, `python3 http`,
/// `/usr/lib/uwsgi/plugins/python3_plugin.so`), as uWSGI's names.
pub fn names(value: &str) -> Vec<String> {
    value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|n| !n.is_empty())
        .map(|n| {
            let n = n.rsplit('/').next().unwrap_or(n);
            let n = n.strip_suffix(".so").unwrap_or(n);
            n.strip_suffix("_plugin").unwrap_or(n).to_ascii_lowercase()
        })
        .collect()
}

fn is_python3(name: &str) -> bool {
    // python, python3, python3X (python311), python3.X (python3.11).
    match name.strip_prefix("python") {
        Some("") | Some("3") => true,
        Some(rest) => rest
            .strip_prefix('3')
            .map(|r| r.strip_prefix('.').unwrap_or(r))
            .is_some_and(|r| !r.is_empty() && r.chars().all(|c| c.is_ascii_digit())),
        None => false,
    }
}

/// Whether rsgi does what this plugin does without loading anything.
pub fn is_builtin(name: &str) -> bool {
    let name = names(name).pop().unwrap_or_default();
    // http and its corerouter: rsgi's workers serve HTTP themselves.
    is_python3(&name) || matches!(name.as_str(), "http" | "corerouter" | "logfile")
}

/// Why a plugin cannot be used with rsgi, or None if rsgi has it built in.
pub fn refusal(name: &str) -> Option<String> {
    if is_builtin(name) {
        return None;
    }
    Some(match name {
        n if n.starts_with("python2") => {
            format!("'{n}' is uWSGI's Python 2 plugin; rsgi runs Python 3 only")
        }
        "gevent" | "greenlet" | "asyncio" | "tornado" | "ugreen" | "stackless" | "coroae" => {
            format!(
                "'{name}' is one of uWSGI's async loop engines; rsgi serves with Python threads (--threads)"
            )
        }
        _ => format!(
            "'{name}' is not a Python plugin; rsgi serves Python WSGI apps only (its Python interpreter is built in)"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_and_http_are_built_in() {
        for ok in [
            "python",
            "python3",
            "python311",
            "python3.11",
            "python36",
            "http",
            "/usr/lib/uwsgi/plugins/python3_plugin.so",
        ] {
            assert!(is_builtin(ok), "{ok}");
            assert_eq!(refusal(&names(ok)[0]), None, "{ok}");
        }
        for refused in [
            "php", "psgi", "python27", "python2", "gevent", "python3x", "pypy",
        ] {
            assert!(!is_builtin(refused), "{refused}");
            assert!(refusal(refused).is_some(), "{refused}");
        }
        assert!(
            refusal("php")
                .unwrap()
                .contains("rsgi serves Python WSGI apps only")
        );
        assert!(refusal("gevent").unwrap().contains("--threads"));
        assert_eq!(
            names("python3,http  logfile"),
            ["python3", "http", "logfile"]
        );
    }
}
